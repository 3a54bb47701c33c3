//! The Hyperliquid parser (`tickwire::exchanges::hyperliquid`) on the real recordings in
//! `tests/fixtures/hyperliquid/` (see its SOURCES.md): `l2book_trades_btc_20250126.jsonl` (55
//! frames: 46 whole-book `l2Book` pushes and 9 `trades` pushes of the BTC perp) and
//! `recorded_excerpt_hype_20250112.jsonl` (3 frames: trades, an ack, a book of the HYPE perp),
//! plus the docs-tier examples `docs_tier/jkorf_examples.jsonl` (shapes only).
//!
//! Every expected number is derived from the recordings in the test (read a second time with
//! `serde_json`), never written down. Hyperliquid books carry no sequence and no checksum: the
//! oracle is the push itself (each is the whole book), and its `time` orders pushes.

mod common;

use serde_json::Value;
use tickwire::book::BookSide;
use tickwire::exchanges::{factory, BookKind, ControlKind, Item, Out, RawLevel, Venue};
use tickwire::fixed::{parse_dec, Dec};
use tickwire::{Decoder, Event};

use common::{fixture_lines, fixture_path};

const BTC: &str = "hyperliquid/l2book_trades_btc_20250126.jsonl";
const HYPE: &str = "hyperliquid/recorded_excerpt_hype_20250112.jsonl";
const DOCS: &str = "hyperliquid/docs_tier/jkorf_examples.jsonl";

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture_path(rel)).unwrap()
}

/// Receive times (ns, one integer a line, in the companion `.ts` file).
fn times(rel: &str) -> Vec<i64> {
    read(&rel.replace(".jsonl", ".ts")).lines().map(|l| l.trim().parse().unwrap()).collect()
}

fn venue() -> Box<dyn Venue> {
    factory("hyperliquid").unwrap().create("linear", &[]).unwrap()
}

fn dec(v: &Value) -> Dec {
    parse_dec(v.as_str().unwrap(), "test").unwrap()
}

/// A JSON side (`[{"px","sz","n"},..]`) as exact decimals.
fn json_side(v: &Value) -> Vec<(Dec, Dec)> {
    v.as_array().unwrap().iter().map(|l| (dec(&l["px"]), dec(&l["sz"]))).collect()
}

fn same(a: &[RawLevel], b: &[(Dec, Dec)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(l, (p, s))| l.price.same_value(*p) && l.size.same_value(*s))
}

#[test]
fn every_recorded_frame_parses_as_the_json_says() {
    for rel in [BTC, HYPE] {
        let mut v = venue();
        let mut out = Out::default();
        for (n, line) in fixture_lines(rel).iter().enumerate() {
            out.clear();
            v.parse(line.as_bytes(), false, &mut out).unwrap_or_else(|e| panic!("{rel}:{n}: {e}"));
            let raw: Value = serde_json::from_str(line).unwrap();
            match raw["channel"].as_str().unwrap() {
                "l2Book" => {
                    let d = &raw["data"];
                    let [Item::Book(b)] = &out.items[..] else { panic!("{rel}:{n}: {:?}", out.items) };
                    assert_eq!(b.kind, BookKind::Snapshot);
                    let time = d["time"].as_u64().unwrap();
                    assert_eq!(b.ids.map(|i| i.last), Some(time));
                    assert_eq!(b.exchange_ts, Some(i64::try_from(time).unwrap() * 1_000_000));
                    assert_eq!(out.market_ids()[b.symbol], d["coin"].as_str().unwrap());
                    assert!(same(&out.bids[b.bids.clone()], &json_side(&d["levels"][0])), "{rel}:{n} bids");
                    assert!(same(&out.asks[b.asks.clone()], &json_side(&d["levels"][1])), "{rel}:{n} asks");
                }
                "trades" => {
                    let want = raw["data"].as_array().unwrap();
                    assert_eq!(out.items.len(), want.len(), "{rel}:{n}");
                    for (item, t) in out.items.iter().zip(want) {
                        let Item::Trade { symbol, trade } = item else { panic!("{item:?}") };
                        assert_eq!(out.market_ids()[*symbol], t["coin"].as_str().unwrap());
                        assert_eq!(trade.trade_id.as_int(), t["tid"].as_u64());
                        assert!(trade.price.same_value(dec(&t["px"])) && trade.size.same_value(dec(&t["sz"])));
                        let side = if t["side"] == "B" { "buy" } else { "sell" };
                        assert_eq!(format!("{:?}", trade.side).to_lowercase(), side);
                        assert_eq!(trade.trade_ts, i64::try_from(t["time"].as_u64().unwrap()).unwrap() * 1_000_000);
                    }
                }
                "subscriptionResponse" => {
                    let [Item::Control(c)] = &out.items[..] else { panic!() };
                    let s = &raw["data"]["subscription"];
                    let topic = format!("{}:{}/USDC:USDC", s["type"].as_str().unwrap(), s["coin"].as_str().unwrap());
                    assert_eq!((c.kind, c.topic.as_deref()), (ControlKind::Ack, Some(topic.as_str())));
                }
                other => panic!("{rel}:{n}: unexpected channel {other}"),
            }
        }
    }
}

#[test]
fn docs_examples_parse_or_name_the_undecoded_channel() {
    // Every example of a channel tickwire decodes parses (the user channels `orderUpdates` and
    // `user` too, since issue 12); the aggregate one (`allMids`) is a `Frame` error naming
    // `channel` (counted, never a crash).
    let mut v = venue();
    let mut out = Out::default();
    let decoded = ["l2Book", "trades", "bbo", "candle", "subscriptionResponse", "orderUpdates", "user"];
    let (mut ok, mut refused) = (0, 0);
    for (n, line) in fixture_lines(DOCS).iter().enumerate() {
        out.clear();
        let raw: Value = serde_json::from_str(line).unwrap();
        let channel = raw["channel"].as_str().unwrap();
        match v.parse(line.as_bytes(), false, &mut out) {
            Ok(()) => {
                assert!(decoded.contains(&channel), "{n}: {channel}");
                ok += 1;
            }
            Err(tickwire::error::Error::Frame { field, .. }) => {
                assert!(!decoded.contains(&channel) && field == "channel", "{n}: {channel} {field}");
                refused += 1;
            }
            Err(e) => panic!("{n}: {e}"),
        }
    }
    let count = |f: &dyn Fn(&str) -> bool| {
        fixture_lines(DOCS)
            .iter()
            .filter(|l| f(serde_json::from_str::<Value>(l).unwrap()["channel"].as_str().unwrap()))
            .count()
    };
    assert_eq!(ok, count(&|c| decoded.contains(&c)));
    assert_eq!(refused, count(&|c| !decoded.contains(&c)));
}

/// Feed `frames`; (errors, book updates, trades) of the run.
fn run(d: &mut Decoder, frames: &[String], times: &[i64]) -> (usize, usize, usize) {
    let (mut errors, mut updates, mut trades) = (0, 0, 0);
    for (n, f) in frames.iter().enumerate() {
        if d.feed(f.as_bytes(), times[n]).is_err() {
            errors += 1;
            continue;
        }
        updates += d.events.iter().filter(|e| matches!(e, Event::BookUpdate { .. })).count();
        trades += d.events.iter().filter(|e| matches!(e, Event::Trade { .. })).count();
    }
    (errors, updates, trades)
}

/// The decoder's book of `symbol` equals the JSON book `data.levels`.
fn assert_book(d: &Decoder, symbol: &str, levels: &Value) {
    let s = &d.symbols()[d.find(symbol).unwrap()];
    assert!(same(&s.book.decimals(BookSide::Bid, usize::MAX), &json_side(&levels[0])), "bids");
    assert!(same(&s.book.decimals(BookSide::Ask, usize::MAX), &json_side(&levels[1])), "asks");
}

fn books(frames: &[String]) -> Vec<Value> {
    frames
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["channel"] == "l2Book")
        .map(|v| v["data"].clone())
        .collect()
}

#[test]
fn decoder_replaces_the_book_on_every_push() {
    let frames = fixture_lines(BTC);
    let mut d = Decoder::new("hyperliquid", None, &[]).unwrap();
    assert_eq!(d.market(), "linear");
    let (errors, updates, seen) = run(&mut d, &frames, &times(BTC));
    let pushes = books(&frames);
    let trades: usize = frames
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["channel"] == "trades")
        .map(|v| v["data"].as_array().unwrap().len())
        .sum();
    assert_eq!((errors, updates), (0, pushes.len()));
    assert_eq!((d.stats.snapshots, d.stats.gaps, d.stats.bad_frames), (pushes.len() as u64, 0, 0));
    assert_eq!(d.stats.deltas_applied, 0);
    assert_eq!(seen, trades);
    assert_book(&d, "BTC/USDC:USDC", &pushes.last().unwrap()["levels"]);
    let s = &d.symbols()[0];
    assert_eq!(s.book.sequence, pushes.last().unwrap()["time"].as_u64());
}

#[test]
fn a_lost_push_is_repaired_by_the_next_and_a_corrupt_one_is_counted() {
    let frames = fixture_lines(BTC);
    let t = times(BTC);
    let pushes = books(&frames);
    // Drop each book push in turn: there is no sequence to notice it by, and none is needed:
    // the next push replaces the book whole, so the final book is the recording's last.
    let book_lines: Vec<usize> =
        (0..frames.len()).filter(|&n| frames[n].starts_with(r#"{"channel":"l2Book""#)).collect();
    assert_eq!(book_lines.len(), pushes.len());
    for &k in &book_lines[..book_lines.len() - 1] {
        let mut d = Decoder::new("hyperliquid", None, &[]).unwrap();
        let mut cut = frames.clone();
        cut.remove(k);
        let mut tt = t.clone();
        tt.remove(k);
        assert_eq!(run(&mut d, &cut, &tt).0, 0);
        assert_eq!(d.stats.snapshots, pushes.len() as u64 - 1);
        assert_book(&d, "BTC/USDC:USDC", &pushes.last().unwrap()["levels"]);
    }
    // Corrupt one push (a size that is not a decimal): a counted bad frame, the book keeps the
    // push before it, and the next push brings it back.
    let k = book_lines[10];
    let mut bad = frames.clone();
    bad[k] = bad[k].replacen(r#""sz":""#, r#""sz":"x"#, 1);
    let mut d = Decoder::new("hyperliquid", None, &[]).unwrap();
    assert_eq!(run(&mut d, &bad[..=k], &t[..=k]).0, 1);
    assert_eq!(d.stats.bad_frames, 1);
    assert_book(&d, "BTC/USDC:USDC", &pushes[9]["levels"]);
    assert_eq!(run(&mut d, &bad[k + 1..], &t[k + 1..]).0, 0);
    assert_book(&d, "BTC/USDC:USDC", &pushes.last().unwrap()["levels"]);
}

#[test]
fn hype_excerpt_through_the_decoder() {
    let frames = fixture_lines(HYPE);
    let mut d = Decoder::new("hyperliquid", Some("linear"), &[]).unwrap();
    let (errors, updates, trades) = run(&mut d, &frames, &times(HYPE));
    let raw: Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!((errors, updates, trades), (0, 1, raw["data"].as_array().unwrap().len()));
    assert_eq!(d.stats.control_frames, 1);
    assert_book(&d, "HYPE/USDC:USDC", &books(&frames)[0]["levels"]);
}

#[test]
fn an_older_push_arriving_late_is_dropped_by_its_time() {
    // Swap two consecutive book pushes of different `time`: the older one, arriving second, is
    // stale (counted, no event, the book keeps the newer push); nothing else changes.
    let frames = fixture_lines(BTC);
    let t = times(BTC);
    let book_lines: Vec<usize> =
        (0..frames.len()).filter(|&n| frames[n].starts_with(r#"{"channel":"l2Book""#)).collect();
    let time_of = |n: usize| serde_json::from_str::<Value>(&frames[n]).unwrap()["data"]["time"].as_u64().unwrap();
    let (a, b) =
        book_lines.windows(2).map(|w| (w[0], w[1])).find(|&(a, b)| b == a + 1 && time_of(a) < time_of(b)).unwrap();
    let mut swapped = frames.clone();
    swapped.swap(a, b);
    let mut d = Decoder::new("hyperliquid", None, &[]).unwrap();
    let (errors, _, _) = run(&mut d, &swapped[..=b], &t[..=b]);
    assert_eq!((errors, d.stats.stale_snapshots, d.stats.gaps), (0, 1, 0));
    assert_eq!(d.symbols()[0].book.sequence, Some(time_of(b)));
    assert_book(&d, "BTC/USDC:USDC", &serde_json::from_str::<Value>(&frames[b]).unwrap()["data"]["levels"]);
    // The clean recording has none: its one repeated `time` (an identical push) is applied.
    let mut d = Decoder::new("hyperliquid", None, &[]).unwrap();
    run(&mut d, &frames, &t);
    let pushes = books(&frames);
    let repeats = pushes.windows(2).filter(|w| w[0]["time"] == w[1]["time"]).count();
    assert!(repeats > 0);
    assert_eq!((d.stats.stale_snapshots, d.stats.snapshots), (0, pushes.len() as u64));
}
