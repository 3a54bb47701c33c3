//! The MEXC parser (`tickwire::exchanges::mexc`) on the fixtures of tests/fixtures/mexc (see
//! its SOURCES.md):
//!
//! - `recorded_excerpt_spot_v3json_solusdt_20250112.jsonl`: the only real MEXC recording, 7
//!   frames of the retired spot JSON v3 stream (10-level `limit.depth` snapshots and
//!   `increase.depth` deltas with version `r`).
//! - `transcoded_pb_spot_solusdt_20250112.jsonl`: the same 7 frames in today's protobuf format
//!   (binary, `b64:` lines), built by `build_protobuf_fixtures.py`.
//! - `docs_pb_spot_examples.jsonl`: one protobuf frame per example of the spot docs page.
//! - `docs_tier/jkorf_spot_futures_examples.jsonl`: contract (futures) docs shapes.
//!
//! Expected values are read from the fixtures in the test (JSON with `serde_json`, protobuf with
//! the small generic wire reader below, independent of the parser's).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use tickwire::event::SyncLoss;
use tickwire::exchanges::{factory, BookKind, ControlKind, Item, Out, RawLevel, SeqIds, Venue, Verdict};
use tickwire::fixed;
use tickwire::{Decoder, Event};

use common::{dec_text, fixture_path};

const LEGACY: &str = "recorded_excerpt_spot_v3json_solusdt_20250112.jsonl";
const TRANSCODED: &str = "transcoded_pb_spot_solusdt_20250112.jsonl";
const DOCS_PB: &str = "docs_pb_spot_examples.jsonl";
const DOCS_TIER: &str = "docs_tier/jkorf_spot_futures_examples.jsonl";

fn dir() -> PathBuf {
    fixture_path("mexc")
}

/// Standard base64 (the recording convention for binary frames), decoded.
fn b64(s: &str) -> Vec<u8> {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes().take_while(|&c| c != b'=') {
        acc = acc << 6 | u32::try_from(ABC.iter().position(|&a| a == c).expect("base64")).unwrap();
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits & 0xff).unwrap());
        }
    }
    out
}

/// (frame bytes, binary) per line, `b64:` lines decoded.
fn frames(name: &str) -> Vec<(Vec<u8>, bool)> {
    std::fs::read_to_string(dir().join(name))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.strip_prefix("b64:") {
            Some(b) => (b64(b), true),
            None => (l.as_bytes().to_vec(), false),
        })
        .collect()
}

fn venue(market: &str) -> Box<dyn Venue> {
    factory("mexc").unwrap().create(market, &[]).unwrap()
}

fn texts(levels: &[RawLevel]) -> Vec<(String, String)> {
    levels.iter().map(|l| (dec_text(l.price), dec_text(l.size))).collect()
}

// ------------------------------------------------------------------ a generic protobuf reader

/// A protobuf field value as the wire has it.
#[derive(Debug, Clone)]
enum Wire {
    Varint(u64),
    Bytes(Vec<u8>),
}

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Every (field number, value) of a message, in order (varint and length-delimited only:
/// the MEXC schema has no other wire types).
fn fields(b: &[u8]) -> Vec<(u64, Wire)> {
    let (mut i, mut out) = (0, Vec::new());
    while i < b.len() {
        let tag = varint(b, &mut i);
        match tag & 7 {
            0 => out.push((tag >> 3, Wire::Varint(varint(b, &mut i)))),
            2 => {
                let n = usize::try_from(varint(b, &mut i)).unwrap();
                out.push((tag >> 3, Wire::Bytes(b[i..i + n].to_vec())));
                i += n;
            }
            w => panic!("wire type {w}"),
        }
    }
    out
}

fn get(msg: &[(u64, Wire)], field: u64) -> Option<&Wire> {
    msg.iter().find(|(f, _)| *f == field).map(|(_, w)| w)
}

fn string(msg: &[(u64, Wire)], field: u64) -> String {
    match get(msg, field) {
        Some(Wire::Bytes(b)) => String::from_utf8(b.clone()).unwrap(),
        _ => String::new(),
    }
}

fn int(msg: &[(u64, Wire)], field: u64) -> u64 {
    match get(msg, field) {
        Some(Wire::Varint(v)) => *v,
        _ => 0,
    }
}

fn sub(msg: &[(u64, Wire)], field: u64) -> Vec<Vec<(u64, Wire)>> {
    msg.iter()
        .filter(|(f, _)| *f == field)
        .map(|(_, w)| match w {
            Wire::Bytes(b) => fields(b),
            Wire::Varint(_) => panic!("field {field} is not a message"),
        })
        .collect()
}

/// (price, quantity) of repeated level field `field`.
fn pb_levels(body: &[(u64, Wire)], field: u64) -> Vec<(String, String)> {
    sub(body, field).iter().map(|l| (string(l, 1), string(l, 2))).collect()
}

// ------------------------------------------------------------------ the legacy recording

fn legacy_side(d: &Value, side: &str) -> Vec<(String, String)> {
    d.get(side)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|l| (l["p"].as_str().unwrap().into(), l["v"].as_str().unwrap().into())).collect())
        .unwrap_or_default()
}

#[test]
fn every_recorded_legacy_frame_parses_to_what_it_says() {
    let mut v = venue("spot");
    let mut out = Out::default();
    let (mut snapshots, mut deltas) = (0, 0);
    for (n, (frame, binary)) in frames(LEGACY).iter().enumerate() {
        assert!(!binary);
        out.clear();
        v.parse(frame, false, &mut out).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let raw: Value = serde_json::from_slice(frame).unwrap();
        let [Item::Book(b)] = &out.items[..] else { panic!("line {}: {:?}", n + 1, out.items) };
        assert_eq!(out.market_ids()[b.symbol], raw["s"].as_str().unwrap());
        let r: u64 = raw["d"]["r"].as_str().unwrap().parse().unwrap();
        assert_eq!(b.ids, Some(SeqIds { first: r, last: r, prev: None }));
        assert_eq!(b.exchange_ts, Some(raw["t"].as_i64().unwrap() * 1_000_000));
        let kind = if raw["c"].as_str().unwrap().contains(".limit.depth.") {
            snapshots += 1;
            BookKind::Snapshot
        } else {
            deltas += 1;
            BookKind::Delta
        };
        assert_eq!(b.kind, kind, "line {}", n + 1);
        assert_eq!(texts(&out.bids[b.bids.clone()]), legacy_side(&raw["d"], "bids"));
        assert_eq!(texts(&out.asks[b.asks.clone()]), legacy_side(&raw["d"], "asks"));
    }
    assert!(snapshots > 0 && deltas > 0);
}

/// A reference book: price text -> size text, by exact value.
#[derive(Default, Clone, PartialEq, Debug)]
struct RefBook {
    bids: BTreeMap<i128, (String, String)>,
    asks: BTreeMap<i128, (String, String)>,
}

fn key(p: &str) -> i128 {
    let d = fixed::parse_dec(p, "p").unwrap();
    i128::from(d.mantissa) * 10i128.pow(18 - u32::from(d.width))
}

impl RefBook {
    fn apply(&mut self, snapshot: bool, bids: &[(String, String)], asks: &[(String, String)]) {
        if snapshot {
            *self = RefBook::default();
        }
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for (p, s) in levels {
                if fixed::parse_dec(s, "s").unwrap().mantissa == 0 {
                    side.remove(&key(p));
                } else {
                    side.insert(key(p), (p.clone(), s.clone()));
                }
            }
        }
    }

    fn same_as(&self, d: &Decoder, i: usize) {
        let book = &d.symbol(i).book;
        let (nb, na) = book.depth();
        let bids = book.decimals(tickwire::book::BookSide::Bid, nb);
        let asks = book.decimals(tickwire::book::BookSide::Ask, na);
        let want_b: Vec<_> = self.bids.values().rev().map(|(p, s)| (key(p), key(s))).collect();
        let want_a: Vec<_> = self.asks.values().map(|(p, s)| (key(p), key(s))).collect();
        let got =
            |l: &[RawLevel]| l.iter().map(|l| (key(&dec_text(l.price)), key(&dec_text(l.size)))).collect::<Vec<_>>();
        assert_eq!(got(&bids), want_b);
        assert_eq!(got(&asks), want_a);
    }
}

/// Feed `frames` through a decoder, checking after each book frame that the decoder's book
/// equals the reference book built from the legacy JSON recording's levels.
fn through_decoder(frames: &[(Vec<u8>, bool)]) -> Decoder {
    let legacy = frames_of_legacy();
    let mut d = Decoder::new("mexc", Some("spot"), &[]).unwrap();
    let mut reference = RefBook::default();
    let mut seen: Option<u64> = None;
    for (n, (frame, binary)) in frames.iter().enumerate() {
        d.feed_frame(frame, *binary, 0).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let raw = &legacy[n];
        let snapshot = raw["c"].as_str().unwrap().contains(".limit.depth.");
        let r: u64 = raw["d"]["r"].as_str().unwrap().parse().unwrap();
        // A 10-level snapshot at a version the book already has changes nothing (stale).
        if !(snapshot && seen.is_some_and(|s| r <= s)) {
            reference.apply(snapshot, &legacy_side(&raw["d"], "bids"), &legacy_side(&raw["d"], "asks"));
        }
        seen = Some(seen.map_or(r, |s: u64| s.max(r)));
        reference.same_as(&d, 0);
        let seq = d.symbol(0).book.sequence;
        assert_eq!(seq, Some(raw["d"]["r"].as_str().unwrap().parse().unwrap()), "line {}", n + 1);
    }
    d
}

fn frames_of_legacy() -> Vec<Value> {
    frames(LEGACY).iter().map(|(f, _)| serde_json::from_slice(f).unwrap()).collect()
}

#[test]
fn the_recording_through_the_decoder_has_no_gap_and_equal_books() {
    for name in [LEGACY, TRANSCODED] {
        let d = through_decoder(&frames(name));
        let legacy = frames_of_legacy();
        let snapshots = legacy.iter().filter(|r| r["c"].as_str().unwrap().contains(".limit.depth.")).count() as u64;
        assert_eq!((d.stats.gaps, d.stats.bad_frames, d.stats.crossed_books), (0, 0, 0), "{name}");
        // The first 10-level snapshot loads the book; the later ones repeat a version the
        // deltas already reached (r 4474505332 after the delta r 4474505332): stale.
        assert_eq!((d.stats.snapshots, d.stats.stale_snapshots), (1, snapshots - 1), "{name}");
        assert_eq!(d.stats.deltas_applied, legacy.len() as u64 - snapshots, "{name}");
        assert_eq!(d.symbol(0).book.sequence, legacy.last().unwrap()["d"]["r"].as_str().unwrap().parse().ok());
    }
}

#[test]
fn the_transcoded_protobuf_frames_parse_exactly_as_their_json_originals() {
    let (mut json_v, mut pb_v) = (venue("spot"), venue("spot"));
    let (mut a, mut b) = (Out::default(), Out::default());
    let pb = frames(TRANSCODED);
    let json = frames(LEGACY);
    assert_eq!(pb.len(), json.len());
    for ((p, binary), (j, _)) in pb.iter().zip(&json) {
        assert!(binary);
        a.clear();
        b.clear();
        json_v.parse(j, false, &mut a).unwrap();
        pb_v.parse(p, true, &mut b).unwrap();
        assert_eq!(a.items, b.items);
        assert_eq!((&a.bids, &a.asks), (&b.bids, &b.asks));
        assert_eq!(a.market_ids(), b.market_ids());
    }
}

#[test]
fn a_removed_or_corrupted_delta_is_a_gap() {
    let all = frames(TRANSCODED);
    let legacy = frames_of_legacy();
    let deltas: Vec<usize> =
        (0..all.len()).filter(|&i| legacy[i]["c"].as_str().unwrap().contains(".increase.depth.")).collect();
    let mut cases = 0;
    for &drop in &deltas {
        // The next delta after the dropped one, with no snapshot in between, must see a gap.
        let next = drop + 1;
        if next >= all.len() || !deltas.contains(&next) {
            continue;
        }
        let mut d = Decoder::new("mexc", Some("spot"), &[]).unwrap();
        let mut lost = Vec::new();
        for (i, (frame, binary)) in all.iter().enumerate().filter(|(i, _)| *i != drop) {
            d.feed_frame(frame, *binary, 0).unwrap();
            lost.extend(d.events.iter().filter(|e| matches!(e, Event::SyncLost { .. })).cloned().map(|e| (i, e)));
        }
        let r = |i: usize| legacy[i]["d"]["r"].as_str().unwrap().parse::<u64>().unwrap();
        let [(at, Event::SyncLost { reason: SyncLoss::Gap { expected, received }, .. })] = &lost[..] else {
            panic!("dropping line {}: {lost:?}", drop + 1)
        };
        assert_eq!((*at, *expected, *received), (next, r(drop), r(next)));
        assert_eq!(d.stats.gaps, 1);
        cases += 1;
    }
    assert!(cases > 0);

    // Corrupt: a delta whose version skips one is a gap on the JSON path too.
    let json = frames(LEGACY);
    let i = deltas[0];
    let r = legacy[i]["d"]["r"].as_str().unwrap();
    let bumped = (r.parse::<u64>().unwrap() + 1).to_string();
    let damaged = String::from_utf8(json[i].0.clone())
        .unwrap()
        .replace(&format!("\"r\":\"{r}\""), &format!("\"r\":\"{bumped}\""));
    let mut d = Decoder::new("mexc", Some("spot"), &[]).unwrap();
    for (n, (frame, _)) in json.iter().enumerate().take(i + 1) {
        d.feed_frame(if n == i { damaged.as_bytes() } else { frame }, false, 0).unwrap();
    }
    assert_eq!(d.stats.gaps, 1);
}

// ------------------------------------------------------------------ docs protobuf examples

#[test]
fn every_docs_protobuf_example_parses_to_its_field_values() {
    let mut v = venue("spot");
    let mut out = Out::default();
    let mut kinds = Vec::new();
    for (n, (frame, binary)) in frames(DOCS_PB).iter().enumerate() {
        out.clear();
        v.parse(frame, *binary, &mut out).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        if !binary {
            let raw: Value = serde_json::from_slice(frame).unwrap();
            let msg = raw["msg"].as_str().unwrap();
            let [Item::Control(c)] = &out.items[..] else { panic!("{:?}", out.items) };
            if msg == "PONG" {
                assert_eq!(c.kind, ControlKind::Pong);
            } else {
                assert_eq!((c.kind, c.topic.as_deref()), (ControlKind::Ack, Some(msg)));
            }
            kinds.push(format!("{:?}", c.kind));
            continue;
        }
        let w = fields(frame);
        let ms = |f: u64| i64::try_from(int(&w, f)).unwrap() * 1_000_000;
        let ts = if int(&w, 6) != 0 { ms(6) } else { ms(5) };
        let symbol = string(&w, 3);
        let (body_field, body) = w.iter().find(|(f, _)| *f > 300).map(|(f, b)| (*f, b.clone())).unwrap();
        let Wire::Bytes(body) = body else { panic!() };
        let body = fields(&body);
        assert_eq!(out.market_ids(), [symbol]);
        match (body_field, &out.items[..]) {
            (313 | 303, [Item::Book(b)]) => {
                let (first, last) = if body_field == 313 {
                    (string(&body, 4).parse().unwrap(), string(&body, 5).parse().unwrap())
                } else {
                    let v = string(&body, 4).parse().unwrap();
                    (v, v)
                };
                let kind = if body_field == 313 { BookKind::Delta } else { BookKind::Snapshot };
                assert_eq!((b.kind, b.ids, b.exchange_ts), (kind, Some(SeqIds { first, last, prev: None }), Some(ts)));
                assert_eq!(texts(&out.asks[b.asks.clone()]), pb_levels(&body, 1));
                assert_eq!(texts(&out.bids[b.bids.clone()]), pb_levels(&body, 2));
            }
            (315 | 305, [Item::Bbo { bbo, .. }]) => {
                let got = [bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size].map(dec_text);
                assert_eq!(got.to_vec(), (1..=4).map(|f| string(&body, f)).collect::<Vec<_>>());
                assert_eq!(bbo.exchange_ts, Some(ts));
            }
            (311, items) => {
                let tickers = sub(&body, 1);
                assert_eq!(items.len(), tickers.len());
                for (item, t) in items.iter().zip(&tickers) {
                    let Item::Bbo { bbo, .. } = item else { panic!("{item:?}") };
                    let got = [bbo.bid.price, bbo.bid.size, bbo.ask.price, bbo.ask.size].map(dec_text);
                    assert_eq!(got.to_vec(), (1..=4).map(|f| string(t, f)).collect::<Vec<_>>());
                }
            }
            (314, items) => {
                let deals = sub(&body, 1);
                assert_eq!(items.len(), deals.len());
                for (item, d) in items.iter().zip(&deals) {
                    let Item::Trade { trade, .. } = item else { panic!("{item:?}") };
                    assert_eq!((dec_text(trade.price), dec_text(trade.size)), (string(d, 1), string(d, 2)));
                    assert_eq!(trade.side.as_str(), if int(d, 3) == 1 { "buy" } else { "sell" });
                    assert_eq!(trade.trade_ts, i64::try_from(int(d, 4)).unwrap() * 1_000_000);
                    assert_eq!(trade.exchange_ts, ts);
                }
            }
            (308, [Item::Candle { candle, .. }]) => {
                assert_eq!(candle.interval.as_str(), string(&body, 1));
                assert_eq!(candle.start_ts, i64::try_from(int(&body, 2)).unwrap() * 1_000_000_000);
                assert_eq!(candle.end_ts, i64::try_from(int(&body, 9)).unwrap() * 1_000_000_000);
                let got = [candle.open, candle.close, candle.high, candle.low, candle.volume].map(dec_text);
                assert_eq!(got.to_vec(), (3..=7).map(|f| string(&body, f)).collect::<Vec<_>>());
                assert_eq!(candle.exchange_ts, Some(ts));
            }
            other => panic!("line {}: body {body_field}: {other:?}", n + 1),
        }
        kinds.push(body_field.to_string());
    }
    assert_eq!(kinds.len(), frames(DOCS_PB).len());
}

#[test]
fn truncated_or_damaged_protobuf_frames_are_frame_errors_never_panics() {
    let mut v = venue("spot");
    let mut out = Out::default();
    let mut errors = 0;
    for (frame, binary) in frames(DOCS_PB).iter().chain(frames(TRANSCODED).iter()).filter(|(_, b)| *b) {
        assert!(binary);
        // Every proper prefix that cuts a field short is an error naming a field.
        for n in 0..frame.len() {
            out.clear();
            if let Err(e) = v.parse(&frame[..n], true, &mut out) {
                assert!(matches!(e, tickwire::Error::Frame { .. }), "{e:?}");
                errors += 1;
            }
        }
        // Every single-byte flip: an error or a frame that still parses, never a panic.
        for i in 0..frame.len() {
            for bit in [0x01u8, 0x80] {
                let mut damaged = frame.clone();
                damaged[i] ^= bit;
                out.clear();
                let _ = v.parse(&damaged, true, &mut out);
            }
        }
    }
    assert!(errors > 0);
    // A text JSON frame given as binary, and a protobuf frame given as text, are Frame errors.
    let (legacy, _) = &frames(LEGACY)[0];
    assert!(matches!(v.parse(legacy, true, &mut out), Err(tickwire::Error::Frame { .. })));
    let (pb, _) = &frames(TRANSCODED)[0];
    assert!(matches!(v.parse(pb, false, &mut out), Err(tickwire::Error::Frame { .. })));
}

// ------------------------------------------------------------------ contract (docs shapes)

#[test]
fn every_docs_tier_line_parses_on_its_market_and_fails_on_the_other() {
    let (mut spot, mut linear) = (venue("spot"), venue("linear"));
    let mut out = Out::default();
    let (mut books, mut trades, mut candles, mut acks, mut spot_lines) = (0, 0, 0, 0, 0);
    for (n, (frame, _)) in frames(DOCS_TIER).iter().enumerate() {
        let raw: Value = serde_json::from_slice(frame).unwrap();
        let (mine, other) = if raw.get("c").is_some() { (&mut spot, &mut linear) } else { (&mut linear, &mut spot) };
        out.clear();
        mine.parse(frame, false, &mut out).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let mut o2 = Out::default();
        assert!(matches!(other.parse(frame, false, &mut o2), Err(tickwire::Error::Frame { .. })), "line {}", n + 1);
        let Some(channel) = raw.get("channel").and_then(Value::as_str) else {
            spot_lines += 1; // legacy spot JSON shapes: their values are checked on the recording
            continue;
        };
        for item in &out.items {
            match item {
                Item::Book(b) => {
                    let d = &raw["data"];
                    let v = d["version"].as_u64().unwrap();
                    assert_eq!(b.ids, Some(SeqIds { first: v, last: v, prev: None }));
                    let kind = if channel == "push.depth" { BookKind::Delta } else { BookKind::Snapshot };
                    assert_eq!(b.kind, kind);
                    for (side, range) in [("asks", b.asks.clone()), ("bids", b.bids.clone())] {
                        let levels = if side == "asks" { &out.asks[range] } else { &out.bids[range] };
                        let want: Vec<_> =
                            d[side].as_array().unwrap().iter().map(|r| (r[0].to_string(), r[1].to_string())).collect();
                        assert_eq!(texts(levels), want);
                    }
                    books += 1;
                }
                Item::Trade { trade, .. } => {
                    let d = if raw["data"].is_array() { raw["data"][trades].clone() } else { raw["data"].clone() };
                    assert_eq!((dec_text(trade.price), dec_text(trade.size)), (d["p"].to_string(), d["v"].to_string()));
                    assert_eq!(trade.side.as_str(), if d["T"] == 1 { "buy" } else { "sell" });
                    assert_eq!(trade.trade_ts, d["t"].as_i64().unwrap() * 1_000_000);
                    trades += 1;
                }
                Item::Candle { candle, .. } if channel == "push.kline" => {
                    let d = &raw["data"];
                    assert_eq!(candle.interval.as_str(), d["interval"].as_str().unwrap());
                    assert_eq!(candle.start_ts, d["t"].as_i64().unwrap() * 1_000_000_000);
                    assert_eq!(candle.end_ts - candle.start_ts, 3_600_000_000_000); // Min60
                    let got = [candle.open, candle.high, candle.low, candle.close, candle.volume].map(dec_text);
                    let want = ["o", "h", "l", "c", "q"].map(|k| d[k].to_string());
                    assert_eq!(got, want);
                    candles += 1;
                }
                Item::Control(c) => {
                    assert!(channel.starts_with("rs."), "line {}", n + 1);
                    assert_eq!(c.topic.as_deref(), Some(&channel[3..]));
                    acks += 1;
                }
                _ => {}
            }
        }
    }
    assert!(
        books >= 2 && trades >= 1 && candles >= 1 && acks > 0 && spot_lines > 0,
        "{books} {trades} {candles} {acks}"
    );
}

#[test]
fn contract_depth_bridges_a_rest_snapshot_and_detects_a_gap() {
    // The docs' depth snapshot, at the version just before the docs-tier push.depth example.
    let push = frames(DOCS_TIER)
        .into_iter()
        .map(|(f, _)| String::from_utf8(f).unwrap())
        .find(|l| l.contains(r#""channel":"push.depth""#))
        .unwrap();
    let raw: Value = serde_json::from_str(&push).unwrap();
    let v = raw["data"]["version"].as_u64().unwrap();
    let mut rest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("docs_rest_depth_linear.json")).unwrap()).unwrap();
    rest["version"] = (v - 1).into();
    let wrapped = serde_json::json!({"success": true, "code": 0, "data": rest}).to_string();
    for body in [rest.to_string(), wrapped] {
        let mut d = Decoder::new("mexc", Some("linear"), &[]).unwrap();
        d.apply_snapshot("BTC/USDT:USDT", body.as_bytes(), 0).unwrap();
        d.feed(push.as_bytes(), 0).unwrap();
        assert_eq!((d.stats.gaps, d.stats.deltas_applied), (0, 1));
        assert_eq!(d.symbol(0).book.sequence, Some(v));
        let (nb, na) = d.symbol(0).book.depth();
        // docs snapshot: 2 asks + 2 bids; the push adds one ask level.
        assert_eq!((nb, na), (rest["bids"].as_array().unwrap().len(), rest["asks"].as_array().unwrap().len() + 1));
        // The same push again is stale; one two versions on is a gap.
        d.feed(push.as_bytes(), 0).unwrap();
        assert_eq!(d.stats.stale_deltas, 1);
        let skipped = push.replace(&format!("\"version\":{v}"), &format!("\"version\":{}", v + 2));
        d.feed(skipped.as_bytes(), 0).unwrap();
        assert_eq!(d.stats.gaps, 1);
    }
}

#[test]
fn spot_rest_snapshot_bridges_the_protobuf_deltas() {
    // The docs' /api/v3/depth example, its version set to the recording's first snapshot
    // version: the recording's deltas bridge onto it.
    let legacy = frames_of_legacy();
    let pb = frames(TRANSCODED);
    let first_r: u64 = legacy[0]["d"]["r"].as_str().unwrap().parse().unwrap();
    let mut rest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("docs_rest_depth_spot.json")).unwrap()).unwrap();
    rest["lastUpdateId"] = first_r.into();
    let mut d = Decoder::new("mexc", Some("spot"), &[]).unwrap();
    // Deltas before the snapshot are buffered, then bridged.
    d.register("SOL/USDT").unwrap();
    d.feed_frame(&pb[1].0, true, 0).unwrap();
    d.feed_frame(&pb[2].0, true, 0).unwrap();
    assert_eq!(d.stats.buffered_deltas, 2);
    d.apply_snapshot("SOL/USDT", rest.to_string().as_bytes(), 0).unwrap();
    assert_eq!(d.stats.gaps, 0);
    assert_eq!(d.symbol(0).book.sequence, legacy[2]["d"]["r"].as_str().unwrap().parse().ok());
}

// ------------------------------------------------------------------ rules and symbols

#[test]
fn sync_rules_per_market() {
    use Verdict::{Apply, Gap, Stale};
    let (spot, linear) = (venue("spot"), venue("linear"));
    let ids = |first, last| SeqIds { first, last, prev: None };
    #[rustfmt::skip]
    let spot_table = [
        // (last, ids, bridging, verdict): the docs' "maintain a local order book" steps.
        (100, ids(90, 99), true, Stale),         // toVersion < V: outdated
        (100, ids(95, 100), true, Apply),        // V within [from, to]
        (100, ids(101, 105), true, Apply),       // starts right after V
        (100, ids(102, 105), true, Gap { expected: 101, received: 102 }),
        (100, ids(101, 101), false, Apply),      // from = previous to + 1
        (100, ids(90, 100), false, Stale),
        (100, ids(102, 102), false, Gap { expected: 101, received: 102 }),
        (100, ids(100, 103), false, Gap { expected: 101, received: 100 }),
    ];
    for (last, i, bridging, want) in spot_table {
        assert_eq!(spot.check(last, &i, bridging), want, "spot {last} {i:?} {bridging}");
    }
    #[rustfmt::skip]
    let linear_table = [
        (100, ids(100, 100), true, Stale),
        (100, ids(101, 101), true, Apply),
        (100, ids(101, 101), false, Apply),
        (100, ids(99, 99), false, Stale),
        (100, ids(103, 103), false, Gap { expected: 101, received: 103 }),
    ];
    for (last, i, bridging, want) in linear_table {
        assert_eq!(linear.check(last, &i, bridging), want, "linear {last} {i:?} {bridging}");
    }
}

#[test]
fn symbols_both_ways() {
    let (spot, linear) = (venue("spot"), venue("linear"));
    for (id, symbol) in [("BTCUSDT", "BTC/USDT"), ("SOLUSDT", "SOL/USDT"), ("MXUSDC", "MX/USDC"), ("ETHBTC", "ETH/BTC")]
    {
        assert_eq!(spot.unified_symbol(id), symbol);
        assert_eq!(spot.market_id(symbol).unwrap(), id);
    }
    for (id, symbol) in [("BTC_USDT", "BTC/USDT:USDT"), ("ETH_USDC", "ETH/USDC:USDC")] {
        assert_eq!(linear.unified_symbol(id), symbol);
        assert_eq!(linear.market_id(symbol).unwrap(), id);
    }
    for bad in ["BTC/USDT:USDT", "btc/usdt", "BTCUSDT", ""] {
        assert!(spot.market_id(bad).is_err(), "{bad}");
    }
    for bad in ["BTC/USDT", "BTC/USD:BTC", "BTC-USDT"] {
        assert!(linear.market_id(bad).is_err(), "{bad}");
    }
    assert!(factory("mexc").unwrap().create("inverse", &[]).is_err());
}

#[test]
fn control_replies() {
    let mut spot = venue("spot");
    let mut out = Out::default();
    let blocked = br#"{"id":0,"code":0,"msg":"Not Subscribed successfully! [spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT].  Reason: Blocked! "}"#;
    spot.parse(blocked, false, &mut out).unwrap();
    let [Item::Control(c)] = &out.items[..] else { panic!() };
    assert_eq!(c.kind, ControlKind::Error);
    assert_eq!(c.topic.as_deref(), Some("spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"));
    // One request naming several channels is acknowledged once, the channels joined by ',':
    // one ack per channel, each with its channel as the topic.
    let channels = ["spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT", "spot@public.kline.v3.api.pb@BTCUSDT@Min1"];
    let joined = format!(r#"{{"id":0,"code":0,"msg":"{}"}}"#, channels.join(","));
    out.clear();
    spot.parse(joined.as_bytes(), false, &mut out).unwrap();
    let topics: Vec<_> = out
        .items
        .iter()
        .map(|i| match i {
            Item::Control(c) if c.kind == ControlKind::Ack => c.topic.clone().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(topics, channels);
    let mut linear = venue("linear");
    for (frame, kind) in [
        (&br#"{"channel":"pong","data":1587453241453}"#[..], ControlKind::Pong),
        (br#"{"channel":"rs.error","data":"Contract doesn't exist!"}"#, ControlKind::Error),
        (br#"{"channel":"rs.sub.depth","data":"success","ts":1587442022003}"#, ControlKind::Ack),
    ] {
        out.clear();
        linear.parse(frame, false, &mut out).unwrap();
        let [Item::Control(c)] = &out.items[..] else { panic!() };
        assert_eq!(c.kind, kind, "{}", String::from_utf8_lossy(frame));
    }
}
