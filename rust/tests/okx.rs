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

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;
use tickwire::exchanges::{factory, BookKind, ControlKind, Item, Out, RawLevel, SeqIds, Venue, Verdict};
use tickwire::fixed::{self, Dec};

const REC: &str = "okx/books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl";

fn lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(REC);
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

fn venue() -> Box<dyn Venue> {
    factory("okx").unwrap().create("spot", &[]).unwrap()
}

fn text(d: Dec) -> String {
    let mut out = Vec::new();
    fixed::write_dec(&mut out, d);
    String::from_utf8(out).unwrap()
}

/// A price as a sortable exact value (all OKX prices have at most 18 decimals).
fn key(d: Dec) -> i128 {
    i128::from(d.mantissa) * 10i128.pow(18 - u32::from(d.width))
}

/// A reference book over the parser's levels: price key -> level as received.
#[derive(Default, Clone)]
struct Book {
    bids: BTreeMap<i128, RawLevel>,
    asks: BTreeMap<i128, RawLevel>,
}

impl Book {
    fn apply(&mut self, kind: BookKind, bids: &[RawLevel], asks: &[RawLevel]) {
        if kind == BookKind::Snapshot {
            *self = Book::default();
        }
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for l in levels {
                if l.size.mantissa == 0 {
                    side.remove(&key(l.price));
                } else {
                    side.insert(key(l.price), *l);
                }
            }
        }
    }

    /// OKX's checksum as the docs define it (okx.md §5), computed independently of
    /// `tickwire::checksum`: top 25 bids (desc) and asks (asc) interleaved, exact strings.
    fn okx_checksum(&self) -> u32 {
        let bids: Vec<_> = self.bids.values().rev().take(25).collect();
        let asks: Vec<_> = self.asks.values().take(25).collect();
        let mut parts = Vec::new();
        for i in 0..25 {
            for l in [bids.get(i), asks.get(i)].into_iter().flatten() {
                parts.push(format!("{}:{}", text(l.price), text(l.size)));
            }
        }
        crc32fast::hash(parts.join(":").as_bytes())
    }

    fn top(&self) -> Option<(RawLevel, RawLevel)> {
        Some((*self.bids.values().next_back()?, *self.asks.values().next()?))
    }
}

/// The recording's raw `["px","sz",..]` strings of one side of a book data item.
fn raw_side(item: &Value, side: &str) -> Vec<(String, String)> {
    item[side]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
        .collect()
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
                        let parsed: Vec<_> = levels.iter().map(|l| (text(l.price), text(l.size))).collect();
                        assert_eq!(parsed, raw_side(d, side), "line {} {side}", n + 1);
                    }
                    *seen.entry("book").or_default() += 1;
                }
                ("trades", Item::Trade { symbol, trade }) => {
                    assert_eq!(symbols[*symbol], d["instId"].as_str().unwrap());
                    assert_eq!(
                        (text(trade.price), text(trade.size)),
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
                    let got = [bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size].map(text);
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
fn replay() -> Vec<(usize, String, Book, Option<u32>)> {
    let mut v = venue();
    let mut out = Out::default();
    let mut books: HashMap<String, Book> = HashMap::new();
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
    let verified = replayed.iter().filter(|(_, _, book, crc)| Some(book.okx_checksum()) == *crc).count();
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
        let (mut with, mut without) = (Book::default(), Book::default());
        for (j, m) in messages.iter().enumerate().take(next + 1).filter(|(_, m)| &m.0 == id) {
            with.apply(m.1, &m.2, &m.3);
            if j != drop {
                without.apply(m.1, &m.2, &m.3);
            }
        }
        cases += 1;
        if without.okx_checksum() == with.okx_checksum() {
            invisible += 1; // e.g. the dropped update only touched levels below the top 25
        } else {
            assert_ne!(Some(without.okx_checksum()), messages[next].4, "dropping message {drop}");
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
        let bumped = text(Dec { mantissa: d.mantissa + 1, ..d });
        let row = format!(r#"["{price}","{size}""#);
        let damaged = line.replacen(&row, &format!(r#"["{price}","{bumped}""#), 1);
        assert_ne!(&damaged, line, "line {}", n + 1);
        let inst = raw["arg"]["instId"].as_str().unwrap();
        let (mut v, mut truth, mut book, mut sent) = (venue(), Book::default(), Book::default(), None);
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
        assert_eq!(Some(truth.okx_checksum()), sent, "line {}", n + 1);
        if book.okx_checksum() == truth.okx_checksum() {
            below_top += 1;
        } else {
            assert_ne!(Some(book.okx_checksum()), sent, "line {}", n + 1);
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
    let mut books: HashMap<String, Book> = HashMap::new();
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
                    let price = |(b, a): &(RawLevel, RawLevel)| (key(b.price), key(a.price));
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
        [bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size].map(text),
        [&d["bids"][0][0], &d["bids"][0][1], &d["asks"][0][0], &d["asks"][0][1]]
            .map(|v| v.as_str().unwrap().to_owned())
    );
    assert_eq!(bbo.sequence, Some(10));
    assert!(out.bids.is_empty() && out.asks.is_empty());
}
