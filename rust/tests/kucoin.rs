//! KuCoin spot on the recorded session (tests/fixtures/kucoin, see SOURCES.md there): every
//! line through the venue parser, checked against the same line read by serde; then through
//! the generic [`Decoder`] with the six recorded REST level2 snapshots bridged in, checked
//! against two oracles the recording itself provides:
//!
//! - a test-side book built from each snapshot and the raw JSON deltas by the docs' rule
//!   (drop messages whose `sequenceEnd` the book holds, rows whose own sequence it holds,
//!   price "0" rows; size "0" deletes) equals the decoder's book after every update;
//! - every `/market/ticker` push states its best bid/ask (prices and sizes) with the book
//!   `sequence` they are valid at: the decoder's book at that sequence has exactly that top.
//!
//! A removed delta and a corrupted delta are each detected (a gap; a `Frame` error, then the
//! gap it leaves).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tickwire::event::SyncLoss;
use tickwire::exchanges::{factory, BookKind, ControlKind, Item, Out, Venue};
use tickwire::fixed::{parse_dec, Dec};
use tickwire::{Decoder, Error, Event};

const SESSION: &str = "level2_ticker_match_candles_7sym_20210425.jsonl";

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kucoin")
}

fn lines() -> Vec<String> {
    std::fs::read_to_string(dir().join(SESSION)).unwrap().lines().map(str::to_owned).collect()
}

/// (market id, snapshot body, its sequence) for every recorded REST snapshot.
fn snapshots() -> Vec<(String, String, u64)> {
    let mut v: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("level2_snapshot_"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let id = name.split('_').nth(2).unwrap().to_uppercase();
            let body = std::fs::read_to_string(&p).unwrap();
            let j: serde_json::Value = serde_json::from_str(&body).unwrap();
            let seq = j["data"]["sequence"].as_str().unwrap().parse().unwrap();
            (id, body, seq)
        })
        .collect();
    v.sort();
    v
}

fn venue() -> Box<dyn Venue> {
    factory("kucoin").unwrap().create("spot", &[]).unwrap()
}

fn dec(v: &serde_json::Value) -> Dec {
    parse_dec(v.as_str().unwrap(), "test").unwrap()
}

/// Fixed point at 12 decimals (every recorded value has fewer), wide enough for any size.
fn fx(d: Dec) -> i128 {
    assert!(d.width <= 12, "{d}");
    i128::from(d.mantissa) * 10i128.pow(12 - u32::from(d.width))
}

#[test]
fn every_line_parses_and_agrees_with_serde() {
    let mut v = venue();
    let mut out = Out::default();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let text = lines();
    for (n, line) in text.iter().enumerate() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        let d = &j["data"];
        match j["subject"].as_str().unwrap_or(j["type"].as_str().unwrap()) {
            "trade.l2update" => {
                // Every recorded message carries one row at sequenceStart == sequenceEnd: one item.
                assert_eq!(out.items.len(), 1, "line {}", n + 1);
                let Item::Book(b) = &out.items[0] else { panic!() };
                assert_eq!(b.kind, BookKind::Delta);
                assert_eq!(out.market_ids()[b.symbol], d["symbol"].as_str().unwrap());
                let ids = b.ids.unwrap();
                assert_eq!(
                    (ids.first, ids.last),
                    (d["sequenceStart"].as_u64().unwrap(), d["sequenceEnd"].as_u64().unwrap())
                );
                for (side, range, levels) in [("bids", b.bids.clone(), &out.bids), ("asks", b.asks.clone(), &out.asks)]
                {
                    let want: Vec<(Dec, Dec)> = d["changes"][side]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|r| r[0] != "0")
                        .map(|r| (dec(&r[0]), dec(&r[1])))
                        .collect();
                    let got: Vec<(Dec, Dec)> = levels[range].iter().map(|l| (l.price, l.size)).collect();
                    assert_eq!(got, want, "line {}", n + 1);
                }
                *counts.entry("level2").or_default() += 1;
            }
            "trade.ticker" => {
                let Item::Bbo { bbo, .. } = out.items[0] else { panic!() };
                assert_eq!(
                    (bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size),
                    (dec(&d["bestBid"]), dec(&d["bestBidSize"]), dec(&d["bestAsk"]), dec(&d["bestAskSize"]))
                );
                assert_eq!(bbo.sequence.unwrap().to_string(), d["sequence"].as_str().unwrap());
                assert_eq!(bbo.exchange_ts, Some(d["time"].as_i64().unwrap() * 1_000_000));
                *counts.entry("ticker").or_default() += 1;
            }
            "trade.l3match" => {
                let Item::Trade { trade, .. } = out.items[0] else { panic!() };
                assert_eq!((trade.price, trade.size), (dec(&d["price"]), dec(&d["size"])));
                assert_eq!(trade.side.as_str(), d["side"].as_str().unwrap());
                assert_eq!(trade.trade_id.to_string(), d["tradeId"].as_str().unwrap());
                assert_eq!(trade.trade_ts.to_string(), d["time"].as_str().unwrap());
                *counts.entry("match").or_default() += 1;
            }
            "trade.candles.add" | "trade.candles.update" => {
                let Item::Candle { candle, .. } = &out.items[0] else { panic!() };
                let c = &d["candles"];
                assert_eq!(candle.start_ts / 1_000_000_000, c[0].as_str().unwrap().parse::<i64>().unwrap());
                assert_eq!(
                    (candle.open, candle.close, candle.high, candle.low),
                    (dec(&c[1]), dec(&c[2]), dec(&c[3]), dec(&c[4]))
                );
                assert_eq!(candle.volume, dec(&c[5]));
                *counts.entry("candles").or_default() += 1;
            }
            kind @ ("ack" | "welcome") => {
                let Item::Control(c) = &out.items[0] else { panic!() };
                assert_eq!(c.kind, if kind == "ack" { ControlKind::Ack } else { ControlKind::Welcome });
                *counts.entry("control").or_default() += 1;
            }
            other => panic!("line {}: unexpected {other}", n + 1),
        }
    }
    let count = |needle: &str| text.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(counts["level2"], count("\"trade.l2update\""));
    assert_eq!(counts["ticker"], count("\"trade.ticker\""));
    assert_eq!(counts["match"], count("\"trade.l3match\""));
    assert_eq!(counts["candles"], count("\"trade.candles."));
    assert_eq!(counts.values().sum::<usize>(), text.len());
    println!("{SESSION}: {counts:?}");
}

/// A test-side book by the docs' rule: (sequence, bids, asks) at 12 decimals.
struct Model {
    seq: u64,
    bids: BTreeMap<i128, i128>,
    asks: BTreeMap<i128, i128>,
}

impl Model {
    fn from_snapshot(body: &str) -> Self {
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        let side =
            |k: &str| j["data"][k].as_array().unwrap().iter().map(|l| (fx(dec(&l[0])), fx(dec(&l[1])))).collect();
        Model { seq: j["data"]["sequence"].as_str().unwrap().parse().unwrap(), bids: side("bids"), asks: side("asks") }
    }

    /// Apply a level2 `data` by the docs' rule; false if the message was stale.
    fn apply(&mut self, d: &serde_json::Value) -> bool {
        let (start, end) = (d["sequenceStart"].as_u64().unwrap(), d["sequenceEnd"].as_u64().unwrap());
        if end <= self.seq {
            return false;
        }
        assert!(start <= self.seq + 1, "model: gap {} -> {start}", self.seq);
        for (side, book) in [("bids", &mut self.bids), ("asks", &mut self.asks)] {
            for r in d["changes"][side].as_array().unwrap() {
                let row_seq: u64 = r[2].as_str().unwrap().parse().unwrap();
                let (p, q) = (fx(dec(&r[0])), fx(dec(&r[1])));
                if row_seq <= self.seq || p == 0 {
                    continue;
                }
                if q == 0 {
                    book.remove(&p);
                } else {
                    book.insert(p, q);
                }
            }
        }
        self.seq = end;
        true
    }
}

type Top = (i128, i128, i128, i128);
/// Bids best first, asks best first: (price, size) at 12 decimals.
type Sides = (Vec<(i128, i128)>, Vec<(i128, i128)>);

/// The decoder's book of `i` as (bids best first, asks best first), at 12 decimals.
fn levels(d: &Decoder, i: usize) -> Sides {
    use tickwire::book::BookSide;
    let side = |s| d.symbol(i).book.decimals(s, usize::MAX).iter().map(|l| (fx(l.price), fx(l.size))).collect();
    (side(BookSide::Bid), side(BookSide::Ask))
}

/// Replay the session through a decoder, bridging each REST snapshot in right after the first
/// delta beyond it was fed (so the decoder replays its buffer through the bridge). `skip`:
/// a line index not to feed; `corrupt`: (line index, replacement).
struct Replay {
    decoder: Decoder,
    /// Per market id: (sequence, top) after every `BookUpdate` of a synced book.
    tops: HashMap<String, Vec<(u64, Top)>>,
    /// (market id, ticker sequence, stated top).
    tickers: Vec<(String, u64, Top)>,
    sync_lost: Vec<(String, SyncLoss)>,
    frame_errors: Vec<Error>,
    compared_books: usize,
}

#[allow(clippy::many_single_char_names)] // d(ecoder), r(esult), j(son), m(odel), n(umber)
fn replay(skip: Option<usize>, corrupt: Option<&(usize, String)>) -> Replay {
    let mut d = Decoder::new("kucoin", None, &[]).unwrap();
    let snaps = snapshots();
    let mut models: HashMap<String, Model> = HashMap::new();
    let mut r = Replay {
        decoder: Decoder::new("kucoin", None, &[]).unwrap(),
        tops: HashMap::new(),
        tickers: Vec::new(),
        sync_lost: Vec::new(),
        frame_errors: Vec::new(),
        compared_books: 0,
    };
    let mut events: Vec<Event> = Vec::new();
    for (n, line) in lines().iter().enumerate() {
        if skip == Some(n) {
            continue;
        }
        let frame = match corrupt {
            Some((at, text)) if *at == n => text.clone(),
            _ => line.clone(),
        };
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        events.clear();
        match d.feed(frame.as_bytes(), 0) {
            Ok(()) => events.append(&mut d.events),
            Err(e) => {
                r.frame_errors.push(e);
                continue;
            }
        }
        let topic = j["topic"].as_str().unwrap_or("");
        let Some((channel, id)) = topic.split_once(':') else { continue };
        if channel == "/market/ticker" {
            let t = &j["data"];
            let top = (
                fx(dec(&t["bestBid"])),
                fx(dec(&t["bestBidSize"])),
                fx(dec(&t["bestAsk"])),
                fx(dec(&t["bestAskSize"])),
            );
            r.tickers.push((id.to_owned(), t["sequence"].as_str().unwrap().parse().unwrap(), top));
        }
        if channel != "/market/level2" {
            continue;
        }
        // The model follows the raw JSON once its snapshot is in.
        let end = j["data"]["sequenceEnd"].as_u64().unwrap();
        if let Some(m) = models.get_mut(id) {
            if skip.is_none() && corrupt.is_none() {
                m.apply(&j["data"]);
            }
        } else if let Some((_, body, seq)) = snaps.iter().find(|(s, ..)| s == id) {
            if end > *seq {
                let symbol = id.replace('-', "/");
                d.apply_snapshot(&symbol, body.as_bytes(), 0).unwrap_or_else(|e| panic!("{id}: {e}"));
                events.append(&mut d.events);
                let mut m = Model::from_snapshot(body);
                m.apply(&j["data"]);
                models.insert(id.to_owned(), m);
            }
        }
        for ev in &events {
            match ev {
                Event::BookUpdate { symbol, sequence, .. } => {
                    let book = &d.symbol(*symbol).book;
                    let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) else { continue };
                    let top = (fx(b.price), fx(b.size), fx(a.price), fx(a.size));
                    r.tops.entry(id.to_owned()).or_default().push((sequence.unwrap(), top));
                }
                Event::SyncLost { symbol, reason, .. } => {
                    r.sync_lost.push((d.symbol(*symbol).market_id.clone(), *reason));
                }
                _ => {}
            }
        }
        if let (Some(m), Some(i)) = (models.get(id), d.find(&id.replace('-', "/"))) {
            if skip.is_none() && corrupt.is_none() {
                let want: Sides = (
                    m.bids.iter().rev().map(|(p, q)| (*p, *q)).collect(),
                    m.asks.iter().map(|(p, q)| (*p, *q)).collect(),
                );
                assert_eq!(levels(&d, i), want, "{id} after line {}", n + 1);
                assert_eq!(d.symbol(i).book.sequence, Some(m.seq));
                r.compared_books += 1;
            }
        }
    }
    r.decoder = d;
    r
}

#[test]
fn decoder_books_bridge_every_snapshot_and_match_both_oracles() {
    let r = replay(None, None);
    let d = &r.decoder;
    let s = &d.stats;
    assert_eq!((s.bad_frames, s.gaps, s.crossed_books, s.dropped_deltas), (0, 0, 0, 0), "{s:?}");
    assert!(r.sync_lost.is_empty() && r.frame_errors.is_empty());
    assert_eq!(s.frames, lines().len() as u64);
    let snaps = snapshots();
    assert_eq!(s.snapshots, snaps.len() as u64);
    // Every snapshot bridged: its book is live, at a sequence past the snapshot's.
    for (id, _, seq) in &snaps {
        let i = d.find(&id.replace('-', "/")).unwrap();
        let st = d.symbol(i);
        assert!(st.synced() && st.book.sequence.unwrap() > *seq, "{id}: {:?}", st.book.sequence);
    }
    // Ticker oracle: each push within a synced book's sequence range states exactly the top
    // of the decoder's book at its sequence.
    let (mut compared, mut outside) = (0, 0);
    for (id, q, top) in &r.tickers {
        let Some(tops) = r.tops.get(id) else {
            outside += 1;
            continue;
        };
        let at = tops.iter().rposition(|(seq, _)| seq <= q);
        match at {
            Some(k) if *q <= tops.last().unwrap().0 => {
                assert_eq!(tops[k].1, *top, "{id} ticker at {q} vs book at {}", tops[k].0);
                compared += 1;
            }
            _ => outside += 1,
        }
    }
    assert!(compared > r.tickers.len() * 9 / 10, "{compared} of {}", r.tickers.len());
    assert!(r.compared_books > 1000);
    println!(
        "{SESSION}: {} frames, {} snapshots bridged, {} deltas applied, {} stale, book equal to the model {} times, \
         ticker tops equal {compared}/{compared} ({outside} outside a synced range), 0 gaps",
        s.frames, s.snapshots, s.deltas_applied, s.stale_deltas, r.compared_books
    );
}

/// The index of the 50th level2 line of BCHSV-USDT after its snapshot's sequence.
fn a_live_delta() -> (usize, u64) {
    let (_, _, seq) = snapshots().into_iter().find(|(id, ..)| id == "BCHSV-USDT").unwrap();
    lines()
        .iter()
        .enumerate()
        .filter_map(|(n, l)| {
            let j: serde_json::Value = serde_json::from_str(l).ok()?;
            (j["topic"] == "/market/level2:BCHSV-USDT" && j["data"]["sequenceStart"].as_u64()? > seq + 1)
                .then(|| (n, j["data"]["sequenceStart"].as_u64().unwrap()))
        })
        .nth(50)
        .unwrap()
}

#[test]
fn a_removed_delta_is_a_gap() {
    let (n, seq) = a_live_delta();
    let r = replay(Some(n), None);
    assert_eq!(r.sync_lost, vec![("BCHSV-USDT".to_owned(), SyncLoss::Gap { expected: seq, received: seq + 1 })]);
    assert_eq!(r.decoder.stats.gaps, 1);
}

#[test]
fn a_corrupted_delta_is_a_frame_error_then_a_gap() {
    let (n, seq) = a_live_delta();
    let line = &lines()[n];
    // A digit of the message's first price or size turned into a letter.
    let at = line.find("[[\"").unwrap() + 3;
    let mut bad = line.clone().into_bytes();
    bad[at] = b'x';
    let r = replay(None, Some(&(n, String::from_utf8(bad).unwrap())));
    assert_eq!(r.frame_errors.len(), 1);
    assert!(r.frame_errors[0].to_string().contains("changes."), "{}", r.frame_errors[0]);
    assert_eq!(r.decoder.stats.bad_frames, 1);
    assert_eq!(r.sync_lost, vec![("BCHSV-USDT".to_owned(), SyncLoss::Gap { expected: seq, received: seq + 1 })]);
}
