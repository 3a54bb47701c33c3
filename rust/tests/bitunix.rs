//! The BitUnix futures parser (`tickwire::exchanges::bitunix`) on the DOCS-DERIVED fixture
//! `tests/fixtures/bitunix/docs_derived_linear_btcusdt_ethusdt.jsonl` (no BitUnix recording
//! exists anywhere; the frames are built by `tests/fixtures/bitunix/make_fixtures.py` in the
//! shapes of the official docs, see tests/fixtures/bitunix/SOURCES.md): `depth_book15` whole
//! books, `trade`, `tickers`, `market_kline_1min`, the `connect` greeting and ping replies for
//! BTCUSDT and ETHUSDT. These tests prove the parser and the decoder against the docs' shapes,
//! not against live BitUnix output.
//!
//! Every expected number is derived from the fixture in the test (read a second time with
//! `serde_json`), never written down.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;
use tickwire::book::BookSide;
use tickwire::exchanges::{factory, BookKind, ControlKind, Item, Out, Venue};
use tickwire::{Decoder, Event};

use common::{dec_text, fixture_path};

const REC: &str = "bitunix/docs_derived_linear_btcusdt_ethusdt";

fn fixture(ext: &str) -> String {
    std::fs::read_to_string(fixture_path(&format!("{REC}{ext}"))).unwrap()
}

fn lines() -> Vec<String> {
    fixture(".jsonl").lines().map(str::to_owned).collect()
}

fn times() -> Vec<i64> {
    fixture(".ts").lines().map(|l| l.parse().unwrap()).collect()
}

fn venue() -> Box<dyn Venue> {
    factory("bitunix").unwrap().create("linear", &[]).unwrap()
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn every_frame_parses_to_what_it_says() {
    let mut v = venue();
    let mut out = Out::default();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in lines().iter().enumerate() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let raw: Value = serde_json::from_str(line).unwrap();
        let ids = out.market_ids().to_vec();
        if let Some(op) = raw["op"].as_str() {
            let want = if op == "ping" { ControlKind::Pong } else { ControlKind::Welcome };
            assert!(matches!(&out.items[..], [Item::Control(c)] if c.kind == want), "line {}", n + 1);
            *kinds.entry(op.to_owned()).or_default() += 1;
            continue;
        }
        let ch = raw["ch"].as_str().unwrap();
        *kinds.entry(ch.to_owned()).or_default() += 1;
        let ts = raw["ts"].as_i64().unwrap() * 1_000_000;
        match ch {
            "depth_book15" => {
                let [Item::Book(b)] = &out.items[..] else { panic!("line {}: {:?}", n + 1, out.items) };
                assert_eq!((b.kind, b.ids, b.checksum, b.depth), (BookKind::Snapshot, None, None, Some(15)));
                assert_eq!((ids[b.symbol].as_str(), b.exchange_ts), (raw["symbol"].as_str().unwrap(), Some(ts)));
                let got = |r: &[tickwire::exchanges::RawLevel]| -> Vec<(String, String)> {
                    r.iter().map(|l| (dec_text(l.price), dec_text(l.size))).collect()
                };
                assert_eq!(got(&out.bids[b.bids.clone()]), pairs(&raw["data"]["b"]));
                assert_eq!(got(&out.asks[b.asks.clone()]), pairs(&raw["data"]["a"]));
            }
            "trade" => {
                let data = raw["data"].as_array().unwrap();
                assert_eq!(out.items.len(), data.len());
                for (item, d) in out.items.iter().zip(data) {
                    let Item::Trade { trade, .. } = item else { panic!() };
                    assert_eq!(
                        (dec_text(trade.price), dec_text(trade.size)),
                        (d["p"].as_str().unwrap().into(), d["v"].as_str().unwrap().into())
                    );
                    assert_eq!(format!("{:?}", trade.side).to_lowercase(), d["s"].as_str().unwrap());
                    assert_eq!(trade.trade_id.to_string(), d["t"].as_str().unwrap());
                    // The push's ts is in the second the trade's time names.
                    assert_eq!(trade.trade_ts / 1_000_000_000, ts / 1_000_000_000);
                }
            }
            "tickers" => {
                let data = raw["data"].as_array().unwrap();
                assert_eq!(out.items.len(), data.len());
                for (item, d) in out.items.iter().zip(data) {
                    let Item::Bbo { symbol, bbo } = item else { panic!() };
                    assert_eq!(ids[*symbol], d["s"].as_str().unwrap());
                    let got = [
                        dec_text(bbo.bid.price),
                        dec_text(bbo.bid.size),
                        dec_text(bbo.ask.price),
                        dec_text(bbo.ask.size),
                    ];
                    let want = ["bd", "bv", "ak", "av"].map(|k| d[k].as_str().unwrap().to_owned());
                    assert_eq!(got, want);
                    assert_eq!(bbo.exchange_ts, Some(ts));
                }
            }
            "market_kline_1min" => {
                let [Item::Candle { candle, .. }] = &out.items[..] else { panic!() };
                let d = &raw["data"];
                let got = [candle.open, candle.high, candle.low, candle.close, candle.volume].map(dec_text);
                assert_eq!(got, ["o", "h", "l", "c", "b"].map(|k| d[k].as_str().unwrap().to_owned()));
                assert!(candle.start_ts <= ts && ts <= candle.end_ts);
                assert_eq!(
                    (candle.start_ts % 60_000_000_000, candle.end_ts - candle.start_ts),
                    (0, 60_000_000_000 - 1)
                );
            }
            other => panic!("line {}: unexpected channel {other}", n + 1),
        }
    }
    // Every documented frame type is in the fixture.
    for k in ["connect", "ping", "depth_book15", "trade", "tickers", "market_kline_1min"] {
        assert!(kinds.get(k).copied().unwrap_or(0) > 0, "{k}: {kinds:?}");
    }
}

#[test]
fn the_docs_tier_kline_example_parses() {
    let path = fixture_path("bitunix/docs_tier/futures_kline_push_example.jsonl");
    let line = std::fs::read_to_string(path).unwrap();
    let raw: Value = serde_json::from_str(line.trim()).unwrap();
    let mut out = Out::default();
    venue().parse(line.trim().as_bytes(), false, &mut out).unwrap();
    let [Item::Candle { candle, .. }] = &out.items[..] else { panic!("{:?}", out.items) };
    assert_eq!(candle.interval.as_str(), "mark_1min");
    assert_eq!(dec_text(candle.close), raw["data"]["c"].as_str().unwrap());
    assert_eq!(dec_text(candle.volume), raw["data"]["b"].as_str().unwrap());
}

/// Symbol -> (bids, asks) as decimal text without trailing zeros, best first.
type TextBooks = BTreeMap<String, (Vec<(String, String)>, Vec<(String, String)>)>;

fn norm(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

fn books_of(d: &Decoder) -> TextBooks {
    let side = |levels: Vec<tickwire::exchanges::RawLevel>| -> Vec<(String, String)> {
        levels.into_iter().map(|l| (norm(&dec_text(l.price)), norm(&dec_text(l.size)))).collect()
    };
    d.symbols()
        .iter()
        .filter(|s| s.synced())
        .map(|s| {
            (
                s.symbol.clone(),
                (side(s.book.decimals(BookSide::Bid, usize::MAX)), side(s.book.decimals(BookSide::Ask, usize::MAX))),
            )
        })
        .collect()
}

/// The last depth push of each symbol in `frames` (unified symbol -> its levels): the venue's
/// whole top of book, what the decoder must hold.
fn last_pushes(frames: &[String]) -> TextBooks {
    let mut out = TextBooks::new();
    for line in frames {
        let Ok(raw) = serde_json::from_str::<Value>(line) else { continue };
        if raw["ch"] != "depth_book15" {
            continue;
        }
        let side = |v: &Value| pairs(v).into_iter().map(|(p, s)| (norm(&p), norm(&s))).collect();
        let sym = tickwire::exchanges::bitunix::unified(raw["symbol"].as_str().unwrap()).unwrap();
        out.insert(sym, (side(&raw["data"]["b"]), side(&raw["data"]["a"])));
    }
    out
}

#[derive(Default)]
struct Run {
    errors: usize,
    lost: usize,
    updates: usize,
    trades: usize,
    bbos: usize,
    candles: usize,
}

fn run(d: &mut Decoder, frames: &[String], times: &[i64]) -> Run {
    let mut r = Run::default();
    for (n, f) in frames.iter().enumerate() {
        if d.feed(f.as_bytes(), times[n]).is_err() {
            r.errors += 1;
            continue;
        }
        for ev in &d.events {
            match ev {
                Event::SyncLost { .. } => r.lost += 1,
                Event::BookUpdate { sequence, .. } => {
                    assert!(sequence.is_none());
                    r.updates += 1;
                }
                Event::Trade { .. } => r.trades += 1,
                Event::Bbo { .. } => r.bbos += 1,
                Event::Candle { .. } => r.candles += 1,
                _ => {}
            }
        }
    }
    r
}

fn count(frames: &[String], ch: &str, per_entry: bool) -> usize {
    frames
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["ch"] == ch)
        .map(|v| if per_entry { v["data"].as_array().unwrap().len() } else { 1 })
        .sum()
}

#[test]
fn decoder_replays_the_fixture_with_every_book_equal_to_the_last_push() {
    let frames = lines();
    let mut d = Decoder::new("bitunix", Some("linear"), &[]).unwrap();
    let r = run(&mut d, &frames, &times());
    assert_eq!((r.errors, r.lost, d.stats.gaps, d.stats.bad_frames), (0, 0, 0, 0));
    let pushes = count(&frames, "depth_book15", false);
    assert_eq!((r.updates, usize::try_from(d.stats.snapshots).unwrap()), (pushes, pushes));
    assert_eq!(r.trades, count(&frames, "trade", true));
    assert_eq!(r.bbos, count(&frames, "tickers", true));
    assert_eq!(r.candles, count(&frames, "market_kline_1min", false));
    assert_eq!((d.stats.checksums_verified, d.stats.checksum_mismatches), (0, 0));
    assert_eq!(books_of(&d), last_pushes(&frames));
    assert_eq!(books_of(&d).len(), 2);
}

#[test]
fn a_removed_push_is_healed_by_the_next_and_a_corrupted_one_is_a_counted_frame_error() {
    let frames = lines();
    let times = times();
    let depth: Vec<usize> = (0..frames.len()).filter(|&n| frames[n].starts_with(r#"{"ch":"depth_book15""#)).collect();
    // Remove a push in the middle: with a whole book in every push nothing is lost for good;
    // the book right after it equals the next push, and at the end the last push.
    let gone = depth[depth.len() / 2];
    let kept: Vec<String> = frames.iter().enumerate().filter(|(n, _)| *n != gone).map(|(_, f)| f.clone()).collect();
    let kept_times: Vec<i64> = times.iter().enumerate().filter(|(n, _)| *n != gone).map(|(_, t)| *t).collect();
    let mut d = Decoder::new("bitunix", Some("linear"), &[]).unwrap();
    let r = run(&mut d, &kept, &kept_times);
    assert_eq!((r.errors, r.lost, d.stats.gaps), (0, 0, 0));
    assert_eq!(r.updates, depth.len() - 1);
    assert_eq!(books_of(&d), last_pushes(&kept));

    // Corrupt a push (a negative size): that frame is a counted error that changes nothing,
    // the book stays what the previous push of its symbol made it, and the next push heals it.
    let bad = depth[depth.len() / 3];
    let mut corrupted = frames.clone();
    let at = corrupted[bad].find("],[").unwrap();
    let size_at = corrupted[bad][..at].rfind(",\"").unwrap() + 2;
    corrupted[bad].insert(size_at, '-');
    let mut d = Decoder::new("bitunix", Some("linear"), &[]).unwrap();
    let r = run(&mut d, &corrupted[..=bad], &times[..=bad]);
    assert_eq!((r.errors, d.stats.bad_frames), (1, 1));
    assert_eq!(books_of(&d), last_pushes(&corrupted[..bad]));
    let r2 = run(&mut d, &corrupted[bad + 1..], &times[bad + 1..]);
    assert_eq!((r2.errors, r2.lost), (0, 0));
    assert_eq!(books_of(&d), last_pushes(&frames));

    // Truncated JSON is a frame error too.
    let mut d = Decoder::new("bitunix", Some("linear"), &[]).unwrap();
    let cut = &frames[depth[0]][..frames[depth[0]].len() - 3];
    assert!(d.feed(cut.as_bytes(), times[depth[0]]).is_err());
    assert_eq!((d.stats.bad_frames, books_of(&d).len()), (1, 0));
}

#[test]
fn frames_of_other_venues_are_counted_errors() {
    let mut d = Decoder::new("bitunix", Some("linear"), &[]).unwrap();
    for frame in [
        r#"{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":[],"bids":[],"ts":"1"}]}"#,
        r#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1,"seq":1}}"#,
        r#"{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[],[]]}}"#,
    ] {
        assert!(d.feed(frame.as_bytes(), 1).is_err(), "{frame}");
    }
    assert_eq!(d.stats.bad_frames, 3);
}
