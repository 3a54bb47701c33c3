//! The Gate v4 parser and the generic decoder on the real recordings in `tests/fixtures/gateio/`
//! (see tests/fixtures/SOURCES.md, section gateio): a 2021 spot connection
//! (`spot.order_book_update` U/u, tickers, trades, candlesticks, acks; 8 pairs) and a 2023 USDT
//! futures connection (`futures.order_book_update` U/u, `book_ticker`, candlesticks, acks; 9
//! contracts), each with a REST `order_book?with_id=true` snapshot per symbol.
//!
//! Oracles the recordings offer (Gate sends no checksum): the `U`/`u` chain per symbol, every
//! REST snapshot bridged to the stream by Gate's rule; on futures, `book_ticker` carries the book
//! id `u` it is valid at, so the book's top at that id must equal it; on spot, the first message
//! after subscribing is in three cases a full book ending at the snapshot's own id, which must
//! equal the snapshot. Every expected number is read from the recording in the test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tickwire::book::BookSide;
use tickwire::event::SyncLoss;
use tickwire::exchanges::RawLevel;
use tickwire::fixed;
use tickwire::{Decoder, Error, Event};

const SPOT: &str = "spot_obupdate_tickers_trades_candles_8pairs_20210422";
const FUTURES: &str = "futures_usdt_obupdate_bookticker_9contracts_20230524";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gateio")
}

fn lines(stem: &str) -> Vec<String> {
    std::fs::read_to_string(dir().join(format!("{stem}.jsonl"))).unwrap().lines().map(str::to_owned).collect()
}

/// (unified symbol, snapshot body) for every snapshot file of the recording's market.
fn snapshots(market: &str) -> Vec<(String, Vec<u8>)> {
    let (prefix, date) = if market == "spot" { ("spot", "20210422") } else { ("futures", "20230524") };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&format!("{prefix}_order_book_snapshot_")) else { continue };
        let pair = rest.strip_suffix(&format!("_{date}.json")).unwrap().to_uppercase();
        let (base, quote) = pair.split_once('_').unwrap();
        let symbol = if market == "spot" { format!("{base}/{quote}") } else { format!("{base}/{quote}:{quote}") };
        out.push((symbol, std::fs::read(&path).unwrap()));
    }
    out.sort();
    out
}

fn market_of(stem: &str) -> &'static str {
    if stem == SPOT {
        "spot"
    } else {
        "linear"
    }
}

fn same(a: RawLevel, b: RawLevel) -> bool {
    a.price.same_value(b.price) && a.size.same_value(b.size)
}

fn dec(v: &Value) -> fixed::Dec {
    match v {
        Value::String(s) => fixed::parse_dec(s, "test").unwrap(),
        other => fixed::parse_dec(&other.to_string(), "test").unwrap(),
    }
}

/// A level of a snapshot/update as written: `["p","a"]` or `{"p","s"}`.
fn level(v: &Value) -> RawLevel {
    match v {
        Value::Array(a) => RawLevel { price: dec(&a[0]), size: dec(&a[1]) },
        Value::Object(o) => RawLevel { price: dec(&o["p"]), size: dec(&o["s"]) },
        _ => panic!("not a level: {v}"),
    }
}

/// Feed every line (snapshots first: applied when each symbol appears is equivalent, the
/// buffered deltas replayed by the same rule); returns the decoder.
fn replay(stem: &str, snapshots_first: bool) -> Decoder {
    let market = market_of(stem);
    let mut d = Decoder::new("gateio", Some(market), &[]).unwrap();
    let snaps = snapshots(market);
    if snapshots_first {
        for (symbol, body) in &snaps {
            d.apply_snapshot(symbol, body, 0).unwrap();
        }
    }
    for (n, line) in lines(stem).iter().enumerate() {
        d.feed(line.as_bytes(), 0).unwrap_or_else(|e| panic!("{stem}:{}: {e}", n + 1));
    }
    if !snapshots_first {
        for (symbol, body) in &snaps {
            d.apply_snapshot(symbol, body, 0).unwrap_or_else(|e| panic!("{symbol}: {e}"));
        }
    }
    d
}

/// Every line decodes; no gap; every book is synced at its stream's last `u` (or at its
/// snapshot, where every message predates it), with the decoder's counts equal to the
/// recording's.
#[test]
fn every_line_decodes_and_every_book_bridges() {
    for stem in [SPOT, FUTURES] {
        let recorded: Vec<Value> = lines(stem).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let mut last_u: HashMap<String, u64> = HashMap::new();
        let mut book_msgs = 0u64;
        for v in &recorded {
            if v["channel"].as_str().unwrap().ends_with("order_book_update") && v["event"] == "update" {
                book_msgs += 1;
                last_u.insert(v["result"]["s"].as_str().unwrap().to_owned(), v["result"]["u"].as_u64().unwrap());
            }
        }
        for snapshots_first in [true, false] {
            let d = replay(stem, snapshots_first);
            assert_eq!(d.stats.bad_frames, 0, "{stem}");
            assert_eq!(d.stats.gaps, 0, "{stem}");
            assert_eq!(d.stats.frames, recorded.len() as u64);
            assert_eq!(d.stats.deltas_applied + d.stats.stale_deltas, book_msgs, "{stem}");
            assert_eq!(d.stats.crossed_books, 0, "{stem}");
            for (symbol, body) in snapshots(market_of(stem)) {
                let i = d.find(&symbol).unwrap_or_else(|| panic!("{symbol} not in {stem}"));
                let s = d.symbol(i);
                assert!(s.synced(), "{symbol}");
                let snap_id = serde_json::from_slice::<Value>(&body).unwrap()["id"].as_u64().unwrap();
                let want = last_u[&s.market_id].max(snap_id);
                assert_eq!(s.book.sequence, Some(want), "{symbol}");
            }
        }
        // Both orders give the same books, level for level.
        let (a, b) = (replay(stem, true), replay(stem, false));
        assert_eq!(a.symbols().len(), b.symbols().len());
        for x in a.symbols() {
            let y = b.symbol(b.find(&x.symbol).unwrap());
            for side in [BookSide::Bid, BookSide::Ask] {
                assert_eq!(x.book.decimals(side, usize::MAX), y.book.decimals(side, usize::MAX), "{}", x.symbol);
            }
        }
    }
}

/// Futures: every `book_ticker` whose `u` equals the id the book had just reached states the
/// book's best bid and ask.
#[test]
fn futures_book_matches_book_ticker() {
    let mut d = Decoder::new("gateio", Some("linear"), &[]).unwrap();
    for (symbol, body) in snapshots("linear") {
        d.apply_snapshot(&symbol, &body, 0).unwrap();
    }
    let mut top_at: HashMap<(usize, u64), (Option<RawLevel>, Option<RawLevel>)> = HashMap::new();
    let mut tickers = Vec::new();
    for line in lines(FUTURES) {
        d.feed(line.as_bytes(), 0).unwrap();
        for ev in &d.events {
            match *ev {
                Event::BookUpdate { symbol, sequence: Some(seq), .. } => {
                    let book = &d.symbol(symbol).book;
                    top_at.insert((symbol, seq), (book.best_bid(), book.best_ask()));
                }
                Event::Bbo { symbol, bbo, .. } => tickers.push((symbol, bbo)),
                _ => {}
            }
        }
    }
    let mut pairs = 0;
    for (symbol, bbo) in &tickers {
        if let Some(&(bid, ask)) = top_at.get(&(*symbol, bbo.sequence.unwrap())) {
            pairs += 1;
            assert!(
                same(bid.unwrap(), bbo.bid) && same(ask.unwrap(), bbo.ask),
                "book differs from book_ticker {bbo:?}"
            );
        }
    }
    let recorded = lines(FUTURES).iter().filter(|l| l.contains("\"futures.book_ticker\",\"event\":\"update\"")).count();
    assert_eq!(tickers.len(), recorded);
    assert!(pairs > 0, "no book_ticker/book pair among {recorded} tickers");
}

/// Spot: where the first message after subscribing ends at the snapshot's id and has as many
/// levels per side as the snapshot, it is the same book, level for level.
#[test]
fn spot_first_full_message_equals_the_snapshot() {
    let mut first: HashMap<String, Value> = HashMap::new();
    for line in lines(SPOT) {
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["channel"] == "spot.order_book_update" && v["event"] == "update" {
            first.entry(v["result"]["s"].as_str().unwrap().to_owned()).or_insert(v["result"].clone());
        }
    }
    let mut compared = 0;
    for (symbol, body) in snapshots("spot") {
        let snap: Value = serde_json::from_slice(&body).unwrap();
        let market_id = symbol.replace('/', "_");
        let msg = &first[&market_id];
        let n = |v: &Value| v.as_array().unwrap().len();
        if msg["u"] != snap["id"] || n(&msg["b"]) != n(&snap["bids"]) || n(&msg["a"]) != n(&snap["asks"]) {
            continue;
        }
        // The decoder's book from the snapshot alone...
        let mut d = Decoder::new("gateio", Some("spot"), &[]).unwrap();
        d.apply_snapshot(&symbol, &body, 0).unwrap();
        let book = &d.symbol(0).book;
        // ...equals the stream's first message.
        for (side, key) in [(BookSide::Bid, "b"), (BookSide::Ask, "a")] {
            let got = book.decimals(side, usize::MAX);
            let want: Vec<RawLevel> = msg[key].as_array().unwrap().iter().map(level).collect();
            assert_eq!(got.len(), want.len(), "{symbol}");
            assert!(got.iter().zip(&want).all(|(g, w)| same(*g, *w)), "{symbol} {key}");
        }
        compared += 1;
    }
    assert!(compared >= 3, "compared {compared}");
}

/// Removing one book message is a gap (with the ids Gate's rule compared), and the book
/// recovers from a new REST snapshot: here the message removed stands in for it, applied on
/// top of the book before the loss.
#[test]
fn a_removed_message_is_a_gap_and_a_snapshot_recovers() {
    for stem in [SPOT, FUTURES] {
        let market = market_of(stem);
        let all = lines(stem);
        // The busiest symbol's 5th message after its snapshot bridge.
        let mut d = Decoder::new("gateio", Some(market), &[]).unwrap();
        for (symbol, body) in snapshots(market) {
            d.apply_snapshot(&symbol, &body, 0).unwrap();
        }
        let mut counts: HashMap<String, Vec<usize>> = HashMap::new();
        for (n, line) in all.iter().enumerate() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["channel"].as_str().unwrap().ends_with("order_book_update") && v["event"] == "update" {
                counts.entry(v["result"]["s"].as_str().unwrap().to_owned()).or_default().push(n);
            }
        }
        let (victim, at) =
            counts.iter().max_by_key(|(_, v)| v.len()).map(|(s, v)| (s.clone(), v[v.len() / 2])).unwrap();
        let removed: Value = serde_json::from_str(&all[at]).unwrap();
        let next_at = counts[&victim].iter().copied().find(|&n| n > at).unwrap();
        let next: Value = serde_json::from_str(&all[next_at]).unwrap();
        let mut lost = Vec::new();
        for (n, line) in all.iter().enumerate() {
            if n == at {
                continue;
            }
            d.feed(line.as_bytes(), 0).unwrap();
            lost.extend(d.events.iter().filter(|e| matches!(e, Event::SyncLost { .. })).cloned());
        }
        assert_eq!(d.stats.gaps, 1, "{stem}");
        let want = SyncLoss::Gap {
            expected: removed["result"]["U"].as_u64().unwrap(),
            received: next["result"]["U"].as_u64().unwrap(),
        };
        assert!(matches!(&lost[..], [Event::SyncLost { reason, .. }] if *reason == want), "{stem}: {lost:?}");
        let i = d.symbols().iter().position(|s| s.market_id == victim).unwrap();
        assert!(!d.symbol(i).synced());
        // A snapshot at the id just before the removed message does not bridge (U > id + 1 for
        // the buffered message after it); one at the removed message's u does.
        let symbol = d.symbol(i).symbol.clone();
        let good = replay_until(stem, &symbol, at + 1);
        let body = snapshot_body(&good, market, removed["result"]["u"].as_u64().unwrap());
        d.apply_snapshot(&symbol, &body, 0).unwrap();
        assert!(d.symbol(i).synced(), "{stem}");
        let full = replay(stem, true);
        let j = full.find(&symbol).unwrap();
        assert_eq!(d.symbol(i).book.sequence, full.symbol(j).book.sequence);
        for side in [BookSide::Bid, BookSide::Ask] {
            assert_eq!(d.symbol(i).book.decimals(side, usize::MAX), full.symbol(j).book.decimals(side, usize::MAX));
        }
    }
}

/// The book of `symbol` after the first `upto` lines (snapshots first).
fn replay_until(stem: &str, symbol: &str, upto: usize) -> Vec<(RawLevel, bool)> {
    let market = market_of(stem);
    let mut d = Decoder::new("gateio", Some(market), &[]).unwrap();
    for (s, body) in snapshots(market) {
        d.apply_snapshot(&s, &body, 0).unwrap();
    }
    for line in &lines(stem)[..upto] {
        d.feed(line.as_bytes(), 0).unwrap();
    }
    let book = &d.symbol(d.find(symbol).unwrap()).book;
    let bids = book.decimals(BookSide::Bid, usize::MAX).into_iter().map(|l| (l, true));
    bids.chain(book.decimals(BookSide::Ask, usize::MAX).into_iter().map(|l| (l, false))).collect()
}

/// A REST snapshot body in the market's shape for `levels` at `id` (futures sizes as numbers).
fn snapshot_body(levels: &[(RawLevel, bool)], market: &str, id: u64) -> Vec<u8> {
    let text = |d: fixed::Dec| {
        let mut out = Vec::new();
        fixed::write_dec(&mut out, d);
        String::from_utf8(out).unwrap()
    };
    let side = |bid: bool| -> String {
        let levels: Vec<String> = levels
            .iter()
            .filter(|(_, b)| *b == bid)
            .map(|(l, _)| {
                if market == "spot" {
                    format!("[\"{}\",\"{}\"]", text(l.price), text(l.size))
                } else {
                    format!("{{\"p\":\"{}\",\"s\":{}}}", text(l.price), text(l.size))
                }
            })
            .collect();
        levels.join(",")
    };
    format!("{{\"id\":{id},\"bids\":[{}],\"asks\":[{}]}}", side(true), side(false)).into_bytes()
}

/// A corrupted line (one byte changed, truncated, or another market's frame) is a counted
/// `Frame` error that changes no book.
#[test]
fn corrupted_and_foreign_frames_are_frame_errors() {
    for (stem, other) in [(SPOT, FUTURES), (FUTURES, SPOT)] {
        let market = market_of(stem);
        let all = lines(stem);
        let at = all.iter().position(|l| l.contains("order_book_update\",\"event\":\"update\"")).unwrap();
        let mut d = Decoder::new("gateio", Some(market), &[]).unwrap();
        let truncated = &all[at][..all[at].len() / 2];
        let bad_price = all[at].replacen("\"U\":", "\"U\":-", 1);
        for bad in [truncated.to_owned(), bad_price] {
            assert!(matches!(d.feed(bad.as_bytes(), 0), Err(Error::Frame { .. })), "{bad}");
        }
        assert_eq!((d.stats.bad_frames, d.stats.events, d.stats.buffered_deltas), (2, 0, 0));
        // Every line of the other market's recording is a Frame error here.
        let mut d = Decoder::new("gateio", Some(market), &[]).unwrap();
        let foreign = lines(other);
        for line in &foreign {
            let r = d.feed(line.as_bytes(), 0);
            assert!(matches!(r, Err(Error::Frame { .. })), "{line}: {r:?}");
        }
        assert_eq!(d.stats.bad_frames, foreign.len() as u64);
    }
}

/// Every docs-derived example of a public channel parses (shapes only: placeholder values).
#[test]
fn docs_examples_of_public_channels_parse() {
    let text = std::fs::read_to_string(dir().join("docs_tier/jkorf_spot_futures_examples.jsonl")).unwrap();
    let mut parsed = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let Some(channel) = v["channel"].as_str() else { continue };
        let public = ["order_book_update", "book_ticker", "trades", "candlesticks", "tickers"];
        if !public.iter().any(|p| channel.ends_with(&format!(".{p}"))) {
            continue;
        }
        let market = if channel.starts_with("spot.") { "spot" } else { "linear" };
        let mut d = Decoder::new("gateio", Some(market), &[]).unwrap();
        d.feed(line.as_bytes(), 0).unwrap_or_else(|e| panic!("{line}: {e}"));
        parsed += 1;
    }
    assert!(parsed >= 10, "{parsed}");
}
