//! The OKX v5 parser (`tickwire::exchanges::okx`) on the real recording
//! `tests/fixtures/okx/books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl` (one
//! 2022 connection: `books` snapshot + updates with checksums for BTC-USDT and UNI-USD-SWAP,
//! `trades`, `tickers`, subscribe acks; see tests/fixtures/okx/SOURCES.md).
//!
//! Every expected number here is derived from the recording in the test (read a second time with
//! `serde_json`), never written down. What the recording does not have: `seqId`/`prevSeqId` (the
//! field came in 2023), `bbo-tbt`, candles, `pong`, error replies; those shapes are covered by the
//! unit tests in `rust/src/exchanges/okx.rs` (docs examples) and, for the sequence chain, below
//! by adding the docs' worked-example ids to recorded book frames.

mod common;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use tickwire::exchanges::{factory, BookKind, ControlKind, Item, Out, RawLevel, SeqIds, Venue, Verdict};
use tickwire::fixed::{self, Dec};

use common::{dec_text, fixture_lines, price_key, raw_side, receive_times_ns, RefBook};

const REC: &str = "okx/books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl";

fn lines() -> Vec<String> {
    fixture_lines(REC)
}

fn venue() -> Box<dyn Venue> {
    factory("okx").unwrap().create("spot", &[]).unwrap()
}

#[test]
fn every_recorded_frame_parses_to_what_it_says() {
    let mut v = venue();
    let mut out = Out::default();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let lines = lines();
    for (n, line) in lines.iter().enumerate() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let raw: Value = serde_json::from_str(line).unwrap();
        let channel = raw["arg"]["channel"].as_str().unwrap();
        let inst = raw["arg"]["instId"].as_str().unwrap();
        let symbols = out.market_ids().to_vec();
        if let Some(event) = raw.get("event") {
            assert_eq!(event, "subscribe");
            let [Item::Control(c)] = &out.items[..] else { panic!("line {}: {:?}", n + 1, out.items) };
            assert_eq!(c.kind, ControlKind::Ack);
            assert_eq!(c.topic.as_deref(), Some(format!("{channel}:{inst}").as_str()));
            *seen.entry("ack").or_default() += 1;
            continue;
        }
        let data = raw["data"].as_array().unwrap();
        assert_eq!(out.items.len(), data.len(), "line {}: one item per data entry", n + 1);
        for (item, d) in out.items.iter().zip(data) {
            let ts = d["ts"].as_str().unwrap().parse::<i64>().unwrap() * 1_000_000;
            match (channel, item) {
                ("books", Item::Book(b)) => {
                    assert_eq!(symbols[b.symbol], inst);
                    let kind = if raw["action"] == "snapshot" { BookKind::Snapshot } else { BookKind::Delta };
                    assert_eq!((b.kind, b.ids, b.depth, b.exchange_ts), (kind, None, None, Some(ts)));
                    let sent = i32::try_from(d["checksum"].as_i64().unwrap()).unwrap();
                    assert_eq!(b.checksum, Some(u32::from_ne_bytes(sent.to_ne_bytes())));
                    // Every price and size gives back the exact text received.
                    for (side, levels) in [("bids", &out.bids[b.bids.clone()]), ("asks", &out.asks[b.asks.clone()])] {
                        let parsed: Vec<_> = levels.iter().map(|l| (dec_text(l.price), dec_text(l.size))).collect();
                        assert_eq!(parsed, raw_side(d, side), "line {} {side}", n + 1);
                    }
                    *seen.entry("book").or_default() += 1;
                }
                ("trades", Item::Trade { symbol, trade }) => {
                    assert_eq!(symbols[*symbol], d["instId"].as_str().unwrap());
                    assert_eq!(
                        (dec_text(trade.price), dec_text(trade.size)),
                        (d["px"].as_str().unwrap().into(), d["sz"].as_str().unwrap().into())
                    );
                    assert_eq!(trade.trade_id.to_string(), d["tradeId"].as_str().unwrap());
                    assert_eq!(trade.trade_id.as_int().map(|i| i.to_string()).as_deref(), d["tradeId"].as_str());
                    assert_eq!(trade.side.as_str(), d["side"].as_str().unwrap());
                    assert_eq!((trade.trade_ts, trade.exchange_ts), (ts, ts));
                    *seen.entry("trade").or_default() += 1;
                }
                ("tickers", Item::Bbo { symbol, bbo }) => {
                    assert_eq!(symbols[*symbol], d["instId"].as_str().unwrap());
                    let got = [bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size].map(dec_text);
                    let want = ["bidPx", "bidSz", "askPx", "askSz"].map(|k| d[k].as_str().unwrap().to_owned());
                    assert_eq!(got, want);
                    assert_eq!((bbo.sequence, bbo.exchange_ts), (None, Some(ts)));
                    *seen.entry("ticker").or_default() += 1;
                }
                other => panic!("line {}: {other:?}", n + 1),
            }
        }
    }
    // Every line was one of these, and each kind occurs.
    let count = |pred: &dyn Fn(&Value) -> bool| {
        lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| pred(v)).count()
    };
    let items_of = |ch: &str| {
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["arg"]["channel"] == ch && v.get("data").is_some())
            .map(|v| v["data"].as_array().unwrap().len())
            .sum::<usize>()
    };
    assert_eq!(seen["ack"], count(&|v| v.get("event").is_some()));
    assert_eq!(seen["book"], items_of("books"));
    assert_eq!(seen["trade"], items_of("trades"));
    assert_eq!(seen["ticker"], items_of("tickers"));
    assert_eq!(
        seen.values().sum::<usize>(),
        seen["ack"] + items_of("books") + items_of("trades") + items_of("tickers")
    );
    assert!(seen.len() == 4 && seen.values().all(|&n| n > 0), "{seen:?}");
}

/// Replay the book items of the recording into reference books; returns, per book message,
/// (line, market id, book after it, the checksum sent).
fn replay() -> Vec<(usize, String, RefBook, Option<u32>)> {
    let mut v = venue();
    let mut out = Out::default();
    let mut books: HashMap<String, RefBook> = HashMap::new();
    let mut after = Vec::new();
    for (n, line) in lines().iter().enumerate() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap();
        for item in &out.items {
            if let Item::Book(b) = item {
                let id = out.market_ids()[b.symbol].clone();
                let book = books.entry(id.clone()).or_default();
                book.apply(b.kind, &out.bids[b.bids.clone()], &out.asks[b.asks.clone()]);
                after.push((n, id, book.clone(), b.checksum));
            }
        }
    }
    after
}

#[test]
fn every_checksum_matches_the_book_built_from_the_parsed_levels() {
    let sent = lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("data").cloned())
        .flat_map(|d| d.as_array().unwrap().clone())
        .filter(|i| i.get("checksum").is_some_and(|c| c.as_i64() != Some(0)))
        .count();
    let replayed = replay();
    let verified = replayed.iter().filter(|(_, _, book, crc)| Some(book.interleaved_checksum()) == *crc).count();
    let carried = replayed.iter().filter(|(_, _, _, crc)| crc.is_some()).count();
    assert_eq!((carried, verified), (sent, sent));
    assert!(sent > 0);
    // OKX keeps its `books` at 400 levels a side with explicit deletes: no book grows past it
    // (so the parser asks for no truncation), and the deepest one reaches it.
    let deepest = replayed.iter().map(|(_, _, b, _)| b.bids.len().max(b.asks.len())).max().unwrap();
    assert_eq!(deepest, 400);
}

#[test]
fn a_removed_or_corrupted_update_fails_the_next_checksum_of_its_book() {
    // Drop each update in turn: the next update of the same book, applied to the book as it was
    // before the dropped one, must fail its checksum unless the dropped update left the top 25
    // (the part the checksum covers) as it was.
    let mut v = venue();
    let mut out = Out::default();
    let mut messages = Vec::new(); // (market id, kind, bids, asks, checksum)
    for line in lines() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap();
        for item in &out.items {
            if let Item::Book(b) = item {
                let id = out.market_ids()[b.symbol].clone();
                messages.push((
                    id,
                    b.kind,
                    out.bids[b.bids.clone()].to_vec(),
                    out.asks[b.asks.clone()].to_vec(),
                    b.checksum,
                ));
            }
        }
    }
    let (mut cases, mut detected, mut invisible) = (0, 0, 0);
    for drop in 0..messages.len() {
        if messages[drop].1 == BookKind::Snapshot {
            continue;
        }
        let id = &messages[drop].0;
        let Some(next) = (drop + 1..messages.len()).find(|&j| &messages[j].0 == id) else { continue };
        let (mut with, mut without) = (RefBook::default(), RefBook::default());
        for (j, m) in messages.iter().enumerate().take(next + 1).filter(|(_, m)| &m.0 == id) {
            with.apply(m.1, &m.2, &m.3);
            if j != drop {
                without.apply(m.1, &m.2, &m.3);
            }
        }
        cases += 1;
        if without.interleaved_checksum() == with.interleaved_checksum() {
            invisible += 1; // e.g. the dropped update only touched levels below the top 25
        } else {
            assert_ne!(Some(without.interleaved_checksum()), messages[next].4, "dropping message {drop}");
            detected += 1;
        }
    }
    assert!(detected > 0 && detected + invisible == cases, "{cases} {detected} {invisible}");

    // Corrupt one recorded update's first level (its size one unit of its last digit larger):
    // the checksum sent with that very update no longer matches whenever the level is within
    // the top 25 of its book.
    let lines = lines();
    let (mut corrupted, mut below_top) = (0, 0);
    for (n, line) in lines.iter().enumerate().filter(|(_, l)| l.contains(r#""action":"update""#)).take(40) {
        let raw: Value = serde_json::from_str(line).unwrap();
        let which = if raw["data"][0]["bids"].as_array().unwrap().is_empty() { "asks" } else { "bids" };
        let (price, size) =
            (raw["data"][0][which][0][0].as_str().unwrap(), raw["data"][0][which][0][1].as_str().unwrap());
        let d = fixed::parse_dec(size, "size").unwrap();
        let bumped = dec_text(Dec { mantissa: d.mantissa + 1, ..d });
        let row = format!(r#"["{price}","{size}""#);
        let damaged = line.replacen(&row, &format!(r#"["{price}","{bumped}""#), 1);
        assert_ne!(&damaged, line, "line {}", n + 1);
        let inst = raw["arg"]["instId"].as_str().unwrap();
        let (mut v, mut truth, mut book, mut sent) = (venue(), RefBook::default(), RefBook::default(), None);
        for (m, l) in lines.iter().enumerate().take(n + 1) {
            for (frame, target) in [(l.as_str(), &mut truth), (if m == n { damaged.as_str() } else { l }, &mut book)] {
                out.clear();
                v.parse(frame.as_bytes(), false, &mut out).unwrap();
                for item in &out.items {
                    if let Item::Book(b) = item {
                        if out.market_ids()[b.symbol] == inst {
                            target.apply(b.kind, &out.bids[b.bids.clone()], &out.asks[b.asks.clone()]);
                            sent = b.checksum;
                        }
                    }
                }
            }
        }
        assert_eq!(Some(truth.interleaved_checksum()), sent, "line {}", n + 1);
        if book.interleaved_checksum() == truth.interleaved_checksum() {
            below_top += 1;
        } else {
            assert_ne!(Some(book.interleaved_checksum()), sent, "line {}", n + 1);
            corrupted += 1;
        }
    }
    assert!(corrupted > 0, "{corrupted} detected, {below_top} below the top 25");
}

#[test]
fn tickers_agree_with_the_book_when_their_bbo_changes() {
    // Rule (derived from this recording, stated exactly): OKX's 2022 `tickers` refreshed their
    // bid/ask only every few seconds (`last` moves in between), so a ticker either repeats the
    // previous ticker's bid/ask of its instrument, or its best bid and ask *prices* equal the
    // book's best prices after some earlier `books` message of that instrument (sizes may
    // differ: the book is a 100 ms aggregate, the ticker a tick). Tickers before the instrument's
    // first snapshot have nothing to compare with.
    let mut v = venue();
    let mut out = Out::default();
    let mut books: HashMap<String, RefBook> = HashMap::new();
    let mut tops: HashMap<String, Vec<(RawLevel, RawLevel)>> = HashMap::new();
    let mut previous: HashMap<String, (RawLevel, RawLevel)> = HashMap::new();
    let (mut repeats, mut fresh, mut prices_held, mut sizes_held, mut before_book) = (0, 0, 0, 0, 0);
    for line in lines() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap();
        for item in &out.items {
            match item {
                Item::Book(b) => {
                    let id = out.market_ids()[b.symbol].clone();
                    let book = books.entry(id.clone()).or_default();
                    book.apply(b.kind, &out.bids[b.bids.clone()], &out.asks[b.asks.clone()]);
                    tops.entry(id).or_default().extend(book.top());
                }
                Item::Bbo { symbol, bbo } => {
                    let id = out.market_ids()[*symbol].clone();
                    let this = (bbo.bid, bbo.ask);
                    let repeat = previous.insert(id.clone(), this) == Some(this);
                    let Some(seen) = tops.get(&id) else {
                        before_book += 1;
                        continue;
                    };
                    if repeat {
                        repeats += 1;
                        continue;
                    }
                    fresh += 1;
                    let price = |(b, a): &(RawLevel, RawLevel)| (price_key(b.price), price_key(a.price));
                    if seen.iter().any(|t| price(t) == price(&this)) {
                        prices_held += 1;
                    }
                    if seen.contains(&this) {
                        sizes_held += 1;
                    }
                }
                _ => {}
            }
        }
    }
    eprintln!(
        "tickers: {before_book} before any book, {repeats} repeats, {fresh} fresh: prices held {prices_held}, \
         prices and sizes {sizes_held}"
    );
    assert!(fresh > 0);
    assert_eq!(prices_held, fresh);
}

#[test]
fn the_docs_sequence_chain_on_recorded_book_frames() {
    // The recording predates seqId; give its book frames the docs' worked-example ids
    // (okx.md §5: snapshot prev -1 seq 10, then (10,15), keep-alive (15,15), reset (15,3),
    // (3,5)) and check what the parser reports and what the rule says.
    let lines = lines();
    let snapshot = lines.iter().find(|l| l.contains(r#""action":"snapshot""#)).unwrap();
    let inst = serde_json::from_str::<Value>(snapshot).unwrap()["arg"]["instId"].as_str().unwrap().to_owned();
    let updates: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(r#""action":"update""#) && l.contains(&format!(r#""instId":"{inst}""#)))
        .take(4)
        .collect();
    let with_ids = |line: &str, prev: i64, seq: i64| {
        line.replacen(r#","checksum":"#, &format!(r#","prevSeqId":{prev},"seqId":{seq},"checksum":"#), 1)
    };
    let mut v = venue();
    let mut out = Out::default();
    let ids_of = |v: &mut Box<dyn Venue>, out: &mut Out, frame: &str| -> SeqIds {
        out.clear();
        v.parse(frame.as_bytes(), false, out).unwrap();
        let Item::Book(b) = &out.items[0] else { panic!() };
        b.ids.unwrap()
    };
    let first = ids_of(&mut v, &mut out, &with_ids(snapshot, -1, 10));
    assert_eq!(first, SeqIds { first: 10, last: 10, prev: None });
    let mut last = first.last;
    for (line, (prev, seq)) in updates.iter().zip([(10, 15), (15, 15), (15, 3), (3, 5)]) {
        let ids = ids_of(&mut v, &mut out, &with_ids(line, prev, seq));
        assert_eq!(v.check(last, &ids, false), Verdict::Apply);
        last = ids.last;
    }
    // A removed update: the one after it names a seqId the book never reached.
    let ids = ids_of(&mut v, &mut out, &with_ids(updates[1], 15, 15));
    assert_eq!(v.check(10, &ids, false), Verdict::Gap { expected: 10, received: 15 });
    // An update with prevSeqId -1, or a snapshot with a real one, is malformed.
    for bad in [with_ids(updates[0], -1, 15), with_ids(snapshot, 4, 10), with_ids(updates[0], -2, 15)] {
        out.clear();
        assert!(v.parse(bad.as_bytes(), false, &mut out).is_err());
    }
    // Checksum 0 (sent since the 2026 deprecation) is "absent".
    let zero = snapshot.split(r#""checksum":"#).next().unwrap().to_owned() + r#""checksum":0}]}"#;
    out.clear();
    v.parse(zero.as_bytes(), false, &mut out).unwrap();
    let Item::Book(b) = &out.items[0] else { panic!() };
    assert_eq!((b.kind, b.checksum), (BookKind::Snapshot, None));
}

#[test]
fn a_bbo_tbt_frame_from_the_recorded_top_of_book() {
    // No bbo-tbt was recorded: build one in the documented shape from the recorded snapshot's
    // best levels (rows `[px, sz, "0", numOrders]`, `seqId`) and check it is read exactly.
    let lines = lines();
    let snapshot: Value =
        serde_json::from_str(lines.iter().find(|l| l.contains(r#""action":"snapshot""#)).unwrap()).unwrap();
    let d = &snapshot["data"][0];
    let frame = serde_json::json!({
        "arg": {"channel": "bbo-tbt", "instId": snapshot["arg"]["instId"]},
        "data": [{"asks": [d["asks"][0]], "bids": [d["bids"][0]], "ts": d["ts"], "seqId": 10}]
    })
    .to_string();
    let mut out = Out::default();
    venue().parse(frame.as_bytes(), false, &mut out).unwrap();
    let [Item::Bbo { bbo, .. }] = &out.items[..] else { panic!("{:?}", out.items) };
    assert_eq!(
        [bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size].map(dec_text),
        [&d["bids"][0][0], &d["bids"][0][1], &d["asks"][0][0], &d["asks"][0][1]]
            .map(|v| v.as_str().unwrap().to_owned())
    );
    assert_eq!(bbo.sequence, Some(10));
    assert!(out.bids.is_empty() && out.asks.is_empty());
}

// ------------------------------------------------------------------------------------------
// Through the decoder (`tickwire::Decoder`, exchange "okx"): books, sequence chain, checksums.
// ------------------------------------------------------------------------------------------

use tickwire::book::BookSide;
use tickwire::event::SyncLoss;
use tickwire::{Decoder, Event};

/// Receive times of the recording's lines (float seconds in the companion `.ts` file), as ns.
fn receive_times() -> Vec<i64> {
    receive_times_ns(REC)
}

/// The recording's lines with today's `prevSeqId`/`seqId` added to each book frame, numbered by
/// line (seqId = line + 1; prevSeqId = the previous book line of the instrument, -1 on a
/// snapshot), as the simulator numbers them; and per line the (prevSeqId, seqId) given.
fn with_seq_ids() -> (Vec<String>, Vec<Option<(i64, i64)>>) {
    let mut last: HashMap<String, i64> = HashMap::new();
    let (mut out, mut ids) = (Vec::new(), Vec::new());
    for (n, line) in lines().into_iter().enumerate() {
        let raw: Value = serde_json::from_str(&line).unwrap();
        if raw["arg"]["channel"] != "books" || raw.get("data").is_none() {
            out.push(line);
            ids.push(None);
            continue;
        }
        let inst = raw["arg"]["instId"].as_str().unwrap().to_owned();
        let seq = i64::try_from(n).unwrap() + 1;
        let prev = if raw["action"] == "snapshot" { -1 } else { last[&inst] };
        last.insert(inst, seq);
        assert!(line.ends_with("}]}"));
        out.push(format!("{},\"prevSeqId\":{prev},\"seqId\":{seq}}}]}}", &line[..line.len() - 3]));
        ids.push(Some((prev, seq)));
    }
    (out, ids)
}

#[derive(Default, Debug)]
struct Run {
    /// (line, symbol index, reason) of every `SyncLost`.
    lost: Vec<(usize, usize, SyncLoss)>,
    /// (line, symbol index, sequence) of every `BookUpdate`.
    updates: Vec<(usize, usize, Option<u64>)>,
    errors: usize,
}

fn run(decoder: &mut Decoder, frames: &[String], times: &[i64]) -> Run {
    let mut run = Run::default();
    for (n, frame) in frames.iter().enumerate() {
        if decoder.feed(frame.as_bytes(), times[n]).is_err() {
            run.errors += 1;
            continue;
        }
        for ev in &decoder.events {
            match ev {
                Event::SyncLost { symbol, reason, .. } => run.lost.push((n, *symbol, *reason)),
                Event::BookUpdate { symbol, sequence, .. } => run.updates.push((n, *symbol, *sequence)),
                _ => {}
            }
        }
    }
    run
}

/// Symbol -> (bids, asks) as (price, size) text, best first.
type TextBooks = BTreeMap<String, (Vec<(String, String)>, Vec<(String, String)>)>;

fn okx() -> Decoder {
    Decoder::new("okx", None, &[]).unwrap()
}

/// Every book of the decoder as exact text, best first: symbol -> (bids, asks).
fn books_of(d: &Decoder) -> TextBooks {
    let text_side = |levels: Vec<RawLevel>| -> Vec<(String, String)> {
        levels.into_iter().map(|l| (dec_text(l.price), dec_text(l.size))).collect()
    };
    d.symbols()
        .iter()
        .map(|s| {
            let bids = text_side(s.book.decimals(BookSide::Bid, usize::MAX));
            let asks = text_side(s.book.decimals(BookSide::Ask, usize::MAX));
            (s.symbol.clone(), (bids, asks))
        })
        .collect()
}

/// The recording's books by the reference model, as decimal values (trailing zeros dropped, as
/// the decoder's book keeps values at its own scales).
fn reference_books() -> TextBooks {
    let norm = |d: Dec| -> String {
        let s = dec_text(d);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    let mut books: BTreeMap<String, RefBook> = BTreeMap::new();
    for (_, id, book, _) in replay() {
        books.insert(tickwire::exchanges::okx::unified(&id).unwrap().0, book);
    }
    books
        .into_iter()
        .map(|(sym, b)| {
            let bids = b.bids.values().rev().map(|l| (norm(l.price), norm(l.size))).collect();
            let asks = b.asks.values().map(|l| (norm(l.price), norm(l.size))).collect();
            (sym, (bids, asks))
        })
        .collect()
}

fn normalized(books: TextBooks) -> TextBooks {
    let norm = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    books
        .into_iter()
        .map(|(k, (b, a))| {
            let f = |v: Vec<(String, String)>| v.into_iter().map(|(p, s)| (norm(p), norm(s))).collect();
            (k, (f(b), f(a)))
        })
        .collect()
}

fn checksums_sent(frames: &[String]) -> u64 {
    frames
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("data").cloned())
        .flat_map(|d| d.as_array().unwrap().clone())
        .filter(|i| i.get("checksum").and_then(Value::as_i64).is_some_and(|c| c != 0))
        .count() as u64
}

#[test]
fn decoder_replays_the_recording_with_every_checksum_verified() {
    let frames = lines();
    let mut d = okx();
    let r = run(&mut d, &frames, &receive_times());
    let sent = checksums_sent(&frames);
    assert_eq!((r.errors, r.lost.len()), (0, 0));
    assert_eq!((d.stats.checksums_verified, d.stats.checksum_mismatches, d.stats.gaps), (sent, 0, 0));
    assert_eq!(d.symbols().iter().map(|s| s.stats.checksums_verified).sum::<u64>(), sent);
    // One BookUpdate per book message, without a sequence (the 2022 frames have no seqId).
    assert_eq!(r.updates.len(), replay().len());
    assert!(r.updates.iter().all(|u| u.2.is_none()));
    assert_eq!(normalized(books_of(&d)), reference_books());
}

#[test]
fn decoder_checks_the_seq_id_chain_with_the_snapshot_prev_minus_one() {
    let (frames, ids) = with_seq_ids();
    let mut d = okx();
    let r = run(&mut d, &frames, &receive_times());
    assert_eq!((r.errors, r.lost.len(), d.stats.gaps), (0, 0, 0));
    assert_eq!(d.stats.checksums_verified, checksums_sent(&frames));
    // Every book frame's BookUpdate carries its seqId; the chain links checked are the updates
    // (their prevSeqId named the previous seqId), the snapshots (prevSeqId -1) start it.
    let given: Vec<(usize, u64)> =
        ids.iter().enumerate().filter_map(|(n, i)| i.map(|(_, s)| (n, u64::try_from(s).unwrap()))).collect();
    let got: Vec<(usize, u64)> = r.updates.iter().map(|&(n, _, s)| (n, s.unwrap())).collect();
    assert_eq!(got, given);
    let links = ids.iter().flatten().filter(|(p, _)| *p >= 0).count();
    let snapshots = ids.iter().flatten().filter(|(p, _)| *p == -1).count();
    assert_eq!(u64::try_from(links).unwrap(), d.stats.deltas_applied);
    assert_eq!(u64::try_from(snapshots).unwrap(), d.stats.snapshots);
    assert!(links > 0 && snapshots > 0);
    eprintln!("seqId chain: {snapshots} snapshots, {links} updates chained, 0 gaps");
}

#[test]
fn checksum_zero_is_absent() {
    // Since the 2026 deprecation OKX sends `"checksum":0`: nothing is verified, nothing fails,
    // the seqId chain still checks, and the books are the same.
    let (frames, _) = with_seq_ids();
    let zeroed: Vec<String> = frames
        .iter()
        .map(|l| match l.find("\"checksum\":") {
            Some(at) => {
                let start = at + "\"checksum\":".len();
                let end = start + l[start..].find(',').unwrap();
                format!("{}0{}", &l[..start], &l[end..])
            }
            None => l.clone(),
        })
        .collect();
    assert_eq!(checksums_sent(&zeroed), 0);
    let mut d = okx();
    let r = run(&mut d, &zeroed, &receive_times());
    assert_eq!((r.errors, r.lost.len(), d.stats.gaps), (0, 0, 0));
    assert_eq!((d.stats.checksums_verified, d.stats.checksum_mismatches), (0, 0));
    assert_eq!(normalized(books_of(&d)), reference_books());
}

#[test]
fn a_removed_update_is_a_gap_and_without_seq_ids_a_checksum_mismatch() {
    let (frames, ids) = with_seq_ids();
    let plain = lines();
    let times = receive_times();
    let updates: Vec<usize> =
        ids.iter().enumerate().filter(|(_, i)| i.is_some_and(|(p, _)| p >= 0)).map(|(n, _)| n).collect();
    let inst_of =
        |n: usize| serde_json::from_str::<Value>(&frames[n]).unwrap()["arg"]["instId"].as_str().unwrap().to_owned();
    let (mut gaps, mut mismatches, mut delayed, mut unseen) = (0, 0, 0, 0);
    for &k in &updates {
        let inst = inst_of(k);
        let Some(next) = (k + 1..frames.len()).find(|&j| ids[j].is_some() && inst_of(j) == inst) else { continue };
        let (prev_k, seq_k) = ids[k].unwrap();
        // With seq ids: the next update of the book names seq_k, the book is at prev_k.
        let without: Vec<String> = frames.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, l)| l.clone()).collect();
        let t: Vec<i64> = times.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, &t)| t).collect();
        let mut d = okx();
        let r = run(&mut d, &without, &t);
        let expected = (u64::try_from(prev_k).unwrap(), u64::try_from(seq_k).unwrap());
        assert_eq!(r.lost.len(), 1, "removing line {k}");
        let (at, _, reason) = r.lost[0];
        assert_eq!(at, next - 1, "removing line {k}");
        assert_eq!(reason, SyncLoss::Gap { expected: expected.0, received: expected.1 });
        gaps += 1;
        // Without seq ids (as recorded): a later checksum of that book fails, at its next
        // update if the removed one changed the top 25, else once the difference rises into it
        // (or never, if a later update overwrote it first).
        let without: Vec<String> = plain.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, l)| l.clone()).collect();
        let mut d = okx();
        let r = run(&mut d, &without, &t);
        match r.lost.first() {
            Some(&(at, _, SyncLoss::Checksum { .. })) => {
                assert!(at >= next - 1, "removing line {k}: lost at {at}");
                mismatches += 1;
                delayed += usize::from(at > next - 1);
            }
            None => unseen += 1,
            other => panic!("removing line {k}: {other:?}"),
        }
    }
    assert!(gaps > 0 && mismatches > 0);
    eprintln!(
        "removed updates: {gaps} gaps with seq ids; without: {mismatches} checksum mismatches \
         ({delayed} of them after the next update), {unseen} never seen"
    );
}

#[test]
fn a_corrupted_level_fails_the_checksum_and_the_book_waits_for_a_snapshot() {
    let (frames, ids) = with_seq_ids();
    let times = receive_times();
    // The first update of each book whose first level is within the top 25 (derived: the
    // reference book's checksum changes when that size is bumped).
    let mut checked = 0;
    for (k, line) in frames.iter().enumerate().filter(|(n, _)| ids[*n].is_some_and(|(p, _)| p >= 0)).take(10) {
        let raw: Value = serde_json::from_str(line).unwrap();
        let which = if raw["data"][0]["bids"].as_array().unwrap().is_empty() { "asks" } else { "bids" };
        let (price, size) =
            (raw["data"][0][which][0][0].as_str().unwrap(), raw["data"][0][which][0][1].as_str().unwrap());
        let d0 = fixed::parse_dec(size, "size").unwrap();
        let bumped = dec_text(Dec { mantissa: d0.mantissa + 1, ..d0 });
        let damaged = line.replacen(&format!(r#"["{price}","{size}""#), &format!(r#"["{price}","{bumped}""#), 1);
        let mut all = frames.clone();
        all[k] = damaged;
        let mut d = okx();
        let r = run(&mut d, &all, &times);
        let Some(&(at, sym, reason)) = r.lost.first() else { continue }; // below the top 25
        assert_eq!(at, k);
        assert!(matches!(reason, SyncLoss::Checksum { .. }), "{reason:?}");
        assert_eq!(d.symbol(sym).stats.checksum_mismatches, 1);
        // Nothing else is lost, and that book's later updates are dropped (it waits for the
        // snapshot a resubscribe brings), while the other book goes on.
        assert_eq!(r.lost.len(), 1);
        let later = ids[k + 1..]
            .iter()
            .enumerate()
            .filter(|(j, i)| {
                i.is_some_and(|(p, _)| p >= 0)
                    && serde_json::from_str::<Value>(&all[k + 1 + j]).unwrap()["arg"]["instId"] == raw["arg"]["instId"]
            })
            .count();
        assert_eq!(d.stats.dropped_deltas, u64::try_from(later).unwrap());
        assert!(!d.symbol(sym).synced());
        assert!(d.symbols().iter().enumerate().all(|(i, s)| i == sym || s.synced()));
        checked += 1;
    }
    assert!(checked > 0);
}

/// Replay the recording with the last update of the BTC-USDT book changed: the size of its first
/// row that sets one gets one more decimal than the book's size scale, `last_digit` ('0': the
/// same value written wider; else a new value), and the frame the checksum of the result (by
/// the reference model), as OKX would send it. The decoder after the replay.
fn replay_with_a_wider_size(last_digit: char) -> Decoder {
    let frames = lines();
    let last = frames
        .iter()
        .rposition(|l| l.contains(r#""instId":"BTC-USDT""#) && l.contains(r#""action":"update""#))
        .unwrap();
    let times = receive_times();
    let mut d = okx();
    let before = run(&mut d, &frames[..last], &times[..last]);
    assert_eq!((before.errors, before.lost.len(), d.stats.rescales), (0, 0, 0));
    let scale = d.symbol(d.find("BTC/USDT").unwrap()).book.size_scale;

    let raw: Value = serde_json::from_str(&frames[last]).unwrap();
    // The first row that sets a size (a delete, "0", has no digits to widen).
    let row = ["asks", "bids"]
        .iter()
        .flat_map(|side| raw["data"][0][side].as_array().unwrap())
        .find(|r| r[1] != "0")
        .unwrap();
    let (price, size) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
    let decimals = size.split_once('.').map_or(0, |(_, f)| f.len());
    let dot = if decimals == 0 { "." } else { "" };
    let wider = format!("{size}{dot}{}{last_digit}", "0".repeat(usize::from(scale) - decimals));
    let mut frame = frames[last].replacen(&format!(r#"["{price}","{size}""#), &format!(r#"["{price}","{wider}""#), 1);
    assert_ne!(frame, frames[last]);
    let (mut v, mut out, mut book) = (venue(), Out::default(), RefBook::default());
    for l in frames[..last].iter().map(String::as_str).chain([frame.as_str()]) {
        out.clear();
        v.parse(l.as_bytes(), false, &mut out).unwrap();
        for item in &out.items {
            if let Item::Book(b) = item {
                if out.market_ids()[b.symbol] == "BTC-USDT" {
                    book.apply(b.kind, &out.bids[b.bids.clone()], &out.asks[b.asks.clone()]);
                }
            }
        }
    }
    let sent = raw["data"][0]["checksum"].as_i64().unwrap();
    let crc = i32::from_ne_bytes(book.interleaved_checksum().to_ne_bytes());
    frame = frame.replacen(&format!(r#""checksum":{sent}"#), &format!(r#""checksum":{crc}"#), 1);

    let mut rest = vec![frame];
    rest.extend_from_slice(&frames[last + 1..]);
    let after = run(&mut d, &rest, &times[last..]);
    assert_eq!((after.errors, after.lost.len()), (0, 0));
    assert_eq!((d.stats.checksums_verified, d.stats.checksum_mismatches), (checksums_sent(&frames), 0));
    d
}

#[test]
fn a_level_wider_than_its_book_takes_the_converting_path_and_still_verifies() {
    // Levels that fit their book's scales apply straight from the parser's output (no copy);
    // one written with more decimals than the book keeps is converted first. The same value
    // written one zero wider fits the scale after all (no rescale) and keeps its text for the
    // checksum; a value that needs the extra decimal rescales the book. Every checksum verifies
    // either way (asserted in `replay_with_a_wider_size`).
    let same = replay_with_a_wider_size('0');
    let i = same.find("BTC/USDT").unwrap();
    assert_eq!((same.stats.rescales, same.symbol(i).book.size_scale), (0, okx_scale_after_replay()));
    let finer = replay_with_a_wider_size('7');
    assert_eq!((finer.stats.rescales, finer.symbol(i).book.size_scale), (1, okx_scale_after_replay() + 1));
}

/// The BTC-USDT book's size scale after the unchanged recording.
fn okx_scale_after_replay() -> u8 {
    let frames = lines();
    let mut d = okx();
    assert_eq!(run(&mut d, &frames, &receive_times()).errors, 0);
    d.symbol(d.find("BTC/USDT").unwrap()).book.size_scale
}
