//! The Bitget parser (`tickwire::exchanges::bitget`) on the real v1 recordings
//! `tests/fixtures/bitget/{spot,mix}_v1_books_ticker_trade_candle_checksum_*.jsonl` (2022: `books`
//! snapshot + updates with checksums, `ticker`, `trade`, `candle1m`, subscribe acks; spot 7
//! symbols, mix DASHUSDT) and the v2 docs-tier examples (`docs_tier/jkorf_v2_examples.jsonl`;
//! see tests/fixtures/bitget/SOURCES.md).
//!
//! Every expected number is derived from the recording in the test (read a second time with
//! `serde_json`), never written down. The recordings have no `seq` (v1); the v2 `seq` rule is
//! exercised by giving recorded book frames the field.

mod common;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tickwire::book::BookSide;
use tickwire::event::SyncLoss;
use tickwire::exchanges::{factory, BookKind, ControlKind, Item, Out, RawLevel, Venue};
use tickwire::fixed::{self, Dec};
use tickwire::{Decoder, Event};

use common::{dec_text, fixture_lines, raw_side, receive_times_ns, RefBook};

/// (market, recording).
const RECS: [(&str, &str); 2] = [
    ("spot", "bitget/spot_v1_books_ticker_trade_candle_checksum_7sym_20220407.jsonl"),
    ("linear", "bitget/mix_v1_books_ticker_trade_candle_checksum_dashusdt_20220407.jsonl"),
];
const DOCS: &str = "bitget/docs_tier/jkorf_v2_examples.jsonl";

fn venue(market: &str) -> Box<dyn Venue> {
    factory("bitget").unwrap().create(market, &[]).unwrap()
}

fn ms(v: &Value) -> i64 {
    let n = match v {
        Value::String(s) => s.parse::<i64>().unwrap(),
        other => other.as_i64().unwrap(),
    };
    n * 1_000_000
}

fn signed_bits(v: &Value) -> Option<u32> {
    let c = i32::try_from(v.as_i64().unwrap()).unwrap();
    (c != 0).then(|| u32::from_ne_bytes(c.to_ne_bytes()))
}

#[test]
fn every_recorded_frame_parses_to_what_it_says() {
    for (market, rec) in RECS {
        let mut v = venue(market);
        let mut out = Out::default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let lines = fixture_lines(rec);
        for (n, line) in lines.iter().enumerate() {
            out.clear();
            v.parse(line.as_bytes(), false, &mut out).unwrap_or_else(|e| panic!("{rec} line {}: {e}", n + 1));
            let raw: Value = serde_json::from_str(line).unwrap();
            let channel = raw["arg"]["channel"].as_str().unwrap();
            let inst = raw["arg"]["instId"].as_str().unwrap();
            let ids = out.market_ids().to_vec();
            if raw.get("event").is_some() {
                assert_eq!(raw["event"], "subscribe");
                let [Item::Control(c)] = &out.items[..] else { panic!("line {}: {:?}", n + 1, out.items) };
                assert_eq!((c.kind, c.topic.clone()), (ControlKind::Ack, Some(format!("{channel}:{inst}"))));
                *seen.entry("ack").or_default() += 1;
                continue;
            }
            let data = raw["data"].as_array().unwrap();
            assert_eq!(out.items.len(), data.len(), "line {}: one item per data entry", n + 1);
            for (item, d) in out.items.iter().zip(data) {
                match (channel, item) {
                    ("books", Item::Book(b)) => {
                        assert_eq!(ids[b.symbol], inst);
                        let kind = if raw["action"] == "snapshot" { BookKind::Snapshot } else { BookKind::Delta };
                        assert_eq!((b.kind, b.ids, b.depth), (kind, None, None));
                        assert_eq!((b.exchange_ts, b.checksum), (Some(ms(&d["ts"])), signed_bits(&d["checksum"])));
                        for (side, levels) in [("bids", &out.bids[b.bids.clone()]), ("asks", &out.asks[b.asks.clone()])]
                        {
                            let parsed: Vec<_> = levels.iter().map(|l| (dec_text(l.price), dec_text(l.size))).collect();
                            assert_eq!(parsed, raw_side(d, side), "line {} {side}", n + 1);
                        }
                        *seen.entry("book").or_default() += 1;
                    }
                    ("trade", Item::Trade { symbol, trade }) => {
                        assert_eq!(ids[*symbol], inst);
                        let row: Vec<&str> = d.as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
                        assert_eq!([dec_text(trade.price), dec_text(trade.size)], [row[1], row[2]]);
                        assert_eq!((trade.side.as_str(), trade.trade_id.to_string()), (row[3], row[0].to_owned()));
                        assert_eq!((trade.trade_ts, trade.exchange_ts), (ms(&d[0]), ms(&d[0])));
                        *seen.entry("trade").or_default() += 1;
                    }
                    ("ticker", Item::Bbo { symbol, bbo }) => {
                        assert_eq!((ids[*symbol].as_str(), inst), (d["instId"].as_str().unwrap(), inst));
                        assert_eq!(
                            [dec_text(bbo.bid.price), dec_text(bbo.ask.price)],
                            [d["bestBid"].as_str().unwrap(), d["bestAsk"].as_str().unwrap()]
                        );
                        // v1 tickers carry no sizes.
                        assert_eq!((bbo.bid.size, bbo.ask.size, bbo.sequence), (Dec::ZERO, Dec::ZERO, None));
                        let ts = d.get("ts").or_else(|| d.get("systemTime")).unwrap();
                        assert_eq!(bbo.exchange_ts, Some(ms(ts)));
                        *seen.entry("ticker").or_default() += 1;
                    }
                    ("candle1m", Item::Candle { symbol, candle }) => {
                        assert_eq!(ids[*symbol], inst);
                        let row: Vec<&str> = d.as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
                        let got = [candle.open, candle.high, candle.low, candle.close, candle.volume].map(dec_text);
                        assert_eq!(got.to_vec(), row[1..6].to_vec());
                        assert_eq!(candle.interval.as_str(), "1m");
                        assert_eq!((candle.start_ts, candle.end_ts), (ms(&d[0]), ms(&d[0]) + 60_000_000_000 - 1));
                        *seen.entry("candle").or_default() += 1;
                    }
                    other => panic!("{rec} line {}: {other:?}", n + 1),
                }
            }
        }
        let items_of = |ch: &str| -> usize {
            lines
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|v| v["arg"]["channel"] == ch && v.get("data").is_some())
                .map(|v| v["data"].as_array().unwrap().len())
                .sum()
        };
        let acks = lines.iter().filter(|l| l.starts_with(r#"{"event":"subscribe""#)).count();
        assert_eq!(seen["ack"], acks);
        assert_eq!(seen["book"], items_of("books"));
        assert_eq!(seen["trade"], items_of("trade"));
        assert_eq!(seen["ticker"], items_of("ticker"));
        assert_eq!(seen["candle"], items_of("candle1m"));
        assert!(seen.len() == 5 && seen.values().all(|&n| n > 0), "{rec}: {seen:?}");
    }
}

#[test]
fn the_other_markets_frames_are_frame_errors() {
    // A spot decoder on the mix recording (and the reverse): every data frame and ack names
    // `arg.instType`; nothing is decoded.
    for ((_, rec), other) in RECS.iter().zip(["linear", "spot"]) {
        let mut v = venue(other);
        let mut out = Out::default();
        for line in fixture_lines(rec) {
            out.clear();
            match v.parse(line.as_bytes(), false, &mut out) {
                Err(tickwire::Error::Frame { field, .. }) => assert_eq!(field, "arg.instType", "{line:.80}"),
                other => panic!("{line:.80}: {other:?}"),
            }
        }
    }
}

/// Per book message of a recording: (line, market id, kind, bids, asks, checksum).
type Message = (usize, String, BookKind, Vec<RawLevel>, Vec<RawLevel>, Option<u32>);

fn book_messages(market: &str, lines: &[String]) -> Vec<Message> {
    let mut v = venue(market);
    let mut out = Out::default();
    let mut messages = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap();
        for item in &out.items {
            if let Item::Book(b) = item {
                messages.push((
                    n,
                    out.market_ids()[b.symbol].clone(),
                    b.kind,
                    out.bids[b.bids.clone()].to_vec(),
                    out.asks[b.asks.clone()].to_vec(),
                    b.checksum,
                ));
            }
        }
    }
    messages
}

fn checksums_sent(lines: &[String]) -> u64 {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("data").cloned())
        .flat_map(|d| d.as_array().unwrap().clone())
        .filter(|i| i.get("checksum").and_then(Value::as_i64).is_some_and(|c| c != 0))
        .count() as u64
}

#[test]
fn every_checksum_matches_the_reference_book_of_the_parsed_levels() {
    for (market, rec) in RECS {
        let lines = fixture_lines(rec);
        let mut books: HashMap<String, RefBook> = HashMap::new();
        let (mut carried, mut verified) = (0, 0);
        for (_, id, kind, bids, asks, crc) in book_messages(market, &lines) {
            let book = books.entry(id).or_default();
            book.apply(kind, &bids, &asks);
            carried += u64::from(crc.is_some());
            verified += u64::from(crc == Some(book.interleaved_checksum()));
        }
        let sent = checksums_sent(&lines);
        assert!(sent > 0);
        assert_eq!((carried, verified), (sent, sent), "{rec}");
    }
}

#[derive(Default, Debug)]
struct Run {
    lost: Vec<(usize, usize, SyncLoss)>,
    updates: usize,
    errors: usize,
}

fn run(d: &mut Decoder, frames: &[String], times: &[i64]) -> Run {
    let mut r = Run::default();
    for (n, frame) in frames.iter().enumerate() {
        if d.feed(frame.as_bytes(), times[n]).is_err() {
            r.errors += 1;
            continue;
        }
        for ev in &d.events {
            match ev {
                Event::SyncLost { symbol, reason, .. } => r.lost.push((n, *symbol, *reason)),
                Event::BookUpdate { .. } => r.updates += 1,
                _ => {}
            }
        }
    }
    r
}

type TextBooks = BTreeMap<String, (Vec<(String, String)>, Vec<(String, String)>)>;

fn norm(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn books_of(d: &Decoder) -> TextBooks {
    let side =
        |levels: Vec<RawLevel>| levels.into_iter().map(|l| (norm(dec_text(l.price)), norm(dec_text(l.size)))).collect();
    d.symbols()
        .iter()
        .map(|s| {
            let (b, a) = (s.book.decimals(BookSide::Bid, usize::MAX), s.book.decimals(BookSide::Ask, usize::MAX));
            (s.symbol.clone(), (side(b), side(a)))
        })
        .collect()
}

fn reference_books(market: &str, lines: &[String]) -> TextBooks {
    let mut books: BTreeMap<String, RefBook> = BTreeMap::new();
    for (_, id, kind, bids, asks, _) in book_messages(market, lines) {
        books.entry(venue(market).unified_symbol(&id)).or_default().apply(kind, &bids, &asks);
    }
    books
        .into_iter()
        .map(|(sym, b)| {
            let bids = b.bids.values().rev().map(|l| (norm(dec_text(l.price)), norm(dec_text(l.size)))).collect();
            let asks = b.asks.values().map(|l| (norm(dec_text(l.price)), norm(dec_text(l.size)))).collect();
            (sym, (bids, asks))
        })
        .collect()
}

#[test]
fn decoder_replays_each_recording_with_every_checksum_verified() {
    for (market, rec) in RECS {
        let lines = fixture_lines(rec);
        let mut d = Decoder::new("bitget", Some(market), &[]).unwrap();
        let r = run(&mut d, &lines, &receive_times_ns(rec));
        let sent = checksums_sent(&lines);
        assert_eq!((r.errors, r.lost.len(), d.stats.bad_frames), (0, 0, 0), "{rec}");
        assert_eq!((d.stats.checksums_verified, d.stats.checksum_mismatches, d.stats.gaps), (sent, 0, 0), "{rec}");
        assert_eq!(r.updates, book_messages(market, &lines).len());
        assert_eq!(books_of(&d), reference_books(market, &lines), "{rec}");
        let want: Vec<String> = reference_books(market, &lines).into_keys().collect();
        let mut got: Vec<String> = d.symbols().iter().map(|s| s.symbol.clone()).collect();
        got.sort();
        assert_eq!(got, want);
        eprintln!("{rec}: {sent} checksums verified, {} symbols", got.len());
    }
}

#[test]
fn a_removed_update_is_caught_by_a_checksum_of_its_book() {
    for (market, rec) in RECS {
        let lines = fixture_lines(rec);
        let times = receive_times_ns(rec);
        let messages = book_messages(market, &lines);
        let (mut detected, mut invisible) = (0, 0);
        for (k, (line, id, kind, ..)) in messages.iter().enumerate() {
            if *kind == BookKind::Snapshot {
                continue;
            }
            // Does dropping it change the reference checksum of the next update of its book?
            let Some(next) = messages[k + 1..].iter().find(|m| &m.1 == id) else { continue };
            let (mut with, mut without) = (RefBook::default(), RefBook::default());
            for (j, m) in messages.iter().enumerate().filter(|(_, m)| &m.1 == id && m.0 <= next.0) {
                with.apply(m.2, &m.3, &m.4);
                if j != k {
                    without.apply(m.2, &m.3, &m.4);
                }
            }
            let frames: Vec<String> =
                lines.iter().enumerate().filter(|&(j, _)| j != *line).map(|(_, l)| l.clone()).collect();
            let t: Vec<i64> = times.iter().enumerate().filter(|&(j, _)| j != *line).map(|(_, &t)| t).collect();
            let mut d = Decoder::new("bitget", Some(market), &[]).unwrap();
            let r = run(&mut d, &frames, &t);
            if with.interleaved_checksum() == without.interleaved_checksum() {
                invisible += 1;
                continue;
            }
            // Caught exactly at the next update of that book (one line earlier once removed).
            let &(at, sym, reason) = r.lost.first().unwrap_or_else(|| panic!("{rec}: removing line {line}"));
            assert_eq!((at, d.symbol(sym).market_id.as_str()), (next.0 - 1, id.as_str()), "{rec}: line {line}");
            assert!(matches!(reason, SyncLoss::Checksum { .. }));
            assert_eq!(d.stats.gaps, 0);
            detected += 1;
        }
        assert!(detected > 0, "{rec}: {detected} detected, {invisible} below the top 25");
        eprintln!(
            "{rec}: removed updates: {detected} caught at the next update, {invisible} left the top 25 as it was"
        );
    }
}

#[test]
fn a_corrupted_level_fails_the_checksum_and_the_book_waits_for_a_snapshot() {
    for (market, rec) in RECS {
        let lines = fixture_lines(rec);
        let times = receive_times_ns(rec);
        let mut checked = 0;
        for (k, line) in lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                l.contains(r#""action":"update","arg":{"instType":"sp","channel":"books""#)
                    || l.contains(r#""action":"update","arg":{"instType":"mc","channel":"books""#)
            })
            .take(8)
        {
            let raw: Value = serde_json::from_str(line).unwrap();
            let which = if raw["data"][0]["bids"].as_array().unwrap().is_empty() { "asks" } else { "bids" };
            let (price, size) =
                (raw["data"][0][which][0][0].as_str().unwrap(), raw["data"][0][which][0][1].as_str().unwrap());
            let d0 = fixed::parse_dec(size, "size").unwrap();
            let bumped = dec_text(Dec { mantissa: d0.mantissa + 1, ..d0 });
            let damaged = line.replacen(&format!(r#"["{price}","{size}""#), &format!(r#"["{price}","{bumped}""#), 1);
            assert_ne!(&damaged, line);
            let mut all = lines.clone();
            all[k] = damaged;
            let mut d = Decoder::new("bitget", Some(market), &[]).unwrap();
            let r = run(&mut d, &all, &times);
            let Some(&(at, sym, reason)) = r.lost.first() else { continue }; // below the top 25
            assert_eq!(at, k);
            assert!(matches!(reason, SyncLoss::Checksum { .. }), "{reason:?}");
            assert_eq!(r.lost.len(), 1);
            // The book's later updates are dropped until a snapshot (resubscribe) comes.
            let inst = raw["arg"]["instId"].as_str().unwrap();
            let later = lines[k + 1..]
                .iter()
                .filter(|l| {
                    l.contains(r#""action":"update""#)
                        && l.contains(r#""channel":"books""#)
                        && l.contains(&format!(r#""instId":"{inst}""#))
                })
                .count();
            assert_eq!(d.stats.dropped_deltas, later as u64);
            assert!(!d.symbol(sym).synced());
            checked += 1;
        }
        assert!(checked > 0, "{rec}");
    }
}

#[test]
fn v2_seq_drops_a_repeated_update_as_stale() {
    // v2 adds `seq` to each books item (bitget.md §5). Number the spot recording's book frames
    // (seq = line + 1) and feed one update twice: the repeat is stale, nothing else changes.
    let (market, rec) = RECS[0];
    let lines = fixture_lines(rec);
    let times = receive_times_ns(rec);
    let mut with_seq = Vec::new();
    for (n, l) in lines.iter().enumerate() {
        if l.contains(r#""channel":"books""#) && l.contains(r#""data""#) {
            assert!(l.ends_with("}]}"));
            with_seq.push(format!("{},\"seq\":{}}}]}}", &l[..l.len() - 3], n + 1));
        } else {
            with_seq.push(l.clone());
        }
    }
    let k = with_seq.iter().position(|l| l.contains(r#""action":"update""#)).unwrap();
    let mut frames = with_seq.clone();
    frames.insert(k + 1, with_seq[k].clone());
    let mut t = times.clone();
    t.insert(k + 1, times[k]);
    let mut d = Decoder::new("bitget", Some(market), &[]).unwrap();
    let r = run(&mut d, &frames, &t);
    assert_eq!((r.errors, r.lost.len(), d.stats.stale_deltas), (0, 0, 1));
    assert_eq!(d.stats.checksums_verified, checksums_sent(&lines));
    assert_eq!(books_of(&d), reference_books(market, &lines));
    // Without `seq` (v1) the repeat is applied again: sizes are absolute, so the book is the
    // same, and its checksum still verifies.
    let mut plain = lines.clone();
    plain.insert(k + 1, lines[k].clone());
    let mut d = Decoder::new("bitget", Some(market), &[]).unwrap();
    let r = run(&mut d, &plain, &t);
    assert_eq!((r.errors, r.lost.len(), d.stats.stale_deltas), (0, 0, 0));
}

#[test]
fn v2_docs_examples_public_decode_private_and_uta_are_frame_errors() {
    let lines = fixture_lines(DOCS);
    let (mut decoded, mut refused) = (0, 0);
    for line in &lines {
        let raw: Value = serde_json::from_str(line).unwrap();
        let inst_type = raw["arg"]["instType"].as_str().unwrap_or("");
        let market = if inst_type.contains("FUTURES") || inst_type.contains("futures") { "linear" } else { "spot" };
        let channel = raw["arg"]["channel"].as_str().unwrap_or("");
        let public = ["books5", "ticker", "trade"].contains(&channel) || channel.starts_with("candle");
        let mut out = Out::default();
        let result = venue(market).parse(line.as_bytes(), false, &mut out);
        if raw.get("event").is_some() && raw["arg"].get("topic").is_none() {
            // Acks (public and private channels alike) and login replies are control items.
            result.unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(matches!(&out.items[..], [Item::Control(_)]), "{line}");
            decoded += 1;
        } else if public {
            result.unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(out.items.len(), raw["data"].as_array().unwrap().len(), "{line}");
            for item in &out.items {
                match item {
                    Item::Book(b) => {
                        let d = &raw["data"][0];
                        assert_eq!((b.kind, b.checksum), (BookKind::Snapshot, None)); // checksum 0
                        let bids: Vec<_> =
                            out.bids[b.bids.clone()].iter().map(|l| (dec_text(l.price), dec_text(l.size))).collect();
                        assert_eq!(bids, raw_side(d, "bids"));
                    }
                    Item::Bbo { bbo, .. } => {
                        let d = &raw["data"][0];
                        let got = [bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size].map(dec_text);
                        let want = ["bidPr", "bidSz", "askPr", "askSz"].map(|k| d[k].as_str().unwrap().to_owned());
                        assert_eq!(got, want);
                        assert_eq!(bbo.exchange_ts, Some(ms(&d["ts"])));
                    }
                    Item::Trade { trade, .. } => {
                        let ds = raw["data"].as_array().unwrap();
                        assert!(ds.iter().any(|d| d["price"].as_str() == Some(&dec_text(trade.price))
                            && d["tradeId"].as_str() == Some(&trade.trade_id.to_string())
                            && ms(&d["ts"]) == trade.trade_ts));
                    }
                    Item::Candle { candle, .. } => {
                        let row = &raw["data"][0];
                        assert_eq!(dec_text(candle.close), row[4].as_str().unwrap());
                        assert_eq!(candle.volume.to_string(), row[5].as_str().unwrap());
                        assert_eq!(format!("candle{}", candle.interval.as_str()), channel);
                    }
                    other => panic!("{line}: {other:?}"),
                }
            }
            decoded += 1;
        } else {
            // Private channels, and the UTA ("v3") shape with `topic`: counted Frame errors.
            match result {
                Err(tickwire::Error::Frame { field, .. }) => {
                    assert!(field.starts_with("arg"), "{line:.100}: {field}");
                }
                other => panic!("{line:.100}: {other:?}"),
            }
            refused += 1;
        }
    }
    assert_eq!(decoded + refused, lines.len());
    assert!(decoded > 0 && refused > 0);
    eprintln!("docs tier: {decoded} decoded, {refused} refused (private / UTA)");
}

#[test]
fn a_books5_push_older_than_the_book_is_dropped_by_seq() {
    // The docs-tier v2 `books5` push (whole top 5, checksum 0) with `seq` added: a later push
    // replaces the book, one whose seq is not above the book's is dropped and counted.
    let line = fixture_lines(DOCS)
        .into_iter()
        .find(|l| l.contains(r#""channel":"books5""#) && l.contains("SPOT") && l.contains(r#""data""#))
        .unwrap();
    let with_seq = |seq: u64| line.replacen(r#""checksum":0"#, &format!(r#""checksum":0,"seq":{seq}"#), 1);
    let mut d = Decoder::new("bitget", Some("spot"), &[]).unwrap();
    for (seq, stale) in [(10, 0), (12, 0), (12, 1), (11, 2), (13, 2)] {
        d.feed(with_seq(seq).as_bytes(), 0).unwrap();
        assert_eq!(d.stats.stale_snapshots, stale, "seq {seq}");
    }
    assert_eq!((d.stats.snapshots, d.symbols()[0].book.sequence), (3, Some(13)));
    let raw: Value = serde_json::from_str(&line).unwrap();
    let bids: Vec<(String, String)> = d.symbols()[0]
        .book
        .decimals(BookSide::Bid, 10)
        .into_iter()
        .map(|l| (dec_text(l.price), dec_text(l.size)))
        .collect();
    assert_eq!(bids.len(), raw["data"][0]["bids"].as_array().unwrap().len());
}
