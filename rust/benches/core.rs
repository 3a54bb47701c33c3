//! Criterion benches of the core on the real ETHUSDT recordings (tests/fixtures).
//!
//! - `feed/*`: whole-recording decode + book apply, per frame, pure Rust.
//! - `book/*`: applying the recording's depth levels to a book loaded from its REST snapshot,
//!   per level; the `btreemap` row is the obvious alternative book, measured in the same run.
//! - `fixed/parse`: one decimal string to fixed point.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tickwire::book::Level;
use tickwire::exchanges::{factory, Item, Out, RawLevel};
use tickwire::{Decoder, L2Book};

struct Recording {
    exchange: &'static str,
    symbol: &'static str,
    frames: Vec<Vec<u8>>,
    snapshot: Vec<u8>,
}

fn load(dir: &str, exchange: &'static str, symbol: &'static str) -> Recording {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let stem = "depth_bookticker_trade_ethusdt_20240808";
    let text = std::fs::read(base.join(format!("{stem}.jsonl"))).expect("recording");
    let frames = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    let snapshot = std::fs::read(base.join(format!("{stem}_depth_snapshot.json"))).expect("snapshot");
    Recording { exchange, symbol, frames, snapshot }
}

/// A level of the recording at 8 decimals (Binance writes every value with 8).
fn level(l: &RawLevel) -> Level {
    Level { price: l.price.to_scale(8).expect("8 decimals"), size: l.size.to_scale(8).expect("8 decimals") }
}

/// The recording's REST snapshot and its depth deltas, parsed by the venue, in order.
type Sides = (Vec<Level>, Vec<Level>);
fn parsed(exchange: &str, frames: &[Vec<u8>], snapshot: &[u8]) -> (Sides, Vec<Sides>) {
    let f = factory(exchange).unwrap();
    let mut v = f.create(f.markets()[0], &[]).unwrap();
    let mut out = Out::default();
    let mut deltas = Vec::new();
    for frame in frames {
        out.clear();
        v.parse(frame, false, &mut out).unwrap();
        for item in &out.items {
            if let Item::Book(b) = item {
                deltas.push((
                    out.bids[b.bids.clone()].iter().map(level).collect(),
                    out.asks[b.asks.clone()].iter().map(level).collect(),
                ));
            }
        }
    }
    out.clear();
    v.parse_snapshot(snapshot, &mut out).unwrap();
    ((out.bids.iter().map(level).collect(), out.asks.iter().map(level).collect()), deltas)
}

fn bench(c: &mut Criterion) {
    let recs = [load("binance", "binance", "ETH/USDT"), load("binanceusdm", "binanceusdm", "ETH/USDT:USDT")];
    for rec in &recs {
        let mut g = c.benchmark_group(format!("feed/{}", rec.exchange));
        g.throughput(Throughput::Elements(rec.frames.len() as u64));
        g.sample_size(20);
        g.bench_function("recording", |b| {
            b.iter_batched(
                || {
                    let mut d = Decoder::new(rec.exchange, None, &[]).unwrap();
                    d.apply_snapshot(rec.symbol, &rec.snapshot, 0).unwrap();
                    d
                },
                |mut d| {
                    for f in &rec.frames {
                        d.feed(f, 0).unwrap();
                        black_box(&d.events);
                    }
                    d
                },
                BatchSize::LargeInput,
            );
        });
        g.finish();

        let (snap_levels, deltas) = parsed(rec.exchange, &rec.frames, &rec.snapshot);
        let n_levels: usize = deltas.iter().map(|(b, a)| b.len() + a.len()).sum();
        let mut g = c.benchmark_group(format!("book/{}", rec.exchange));
        g.throughput(Throughput::Elements(n_levels as u64));
        g.sample_size(20);
        g.bench_function("l2book_apply_level", |b| {
            b.iter_batched(
                || {
                    let mut book = L2Book::new();
                    book.load_snapshot(&snap_levels.0, &snap_levels.1, 0);
                    book
                },
                |mut book| {
                    for (i, (bids, asks)) in deltas.iter().enumerate() {
                        book.apply(bids, asks, i as u64);
                        black_box(book.best_bid());
                    }
                    book
                },
                BatchSize::LargeInput,
            );
        });
        g.bench_function("btreemap_apply_level", |b| {
            b.iter_batched(
                || {
                    let bids: BTreeMap<i64, i64> = snap_levels.0.iter().map(|l| (l.price, l.size)).collect();
                    let asks: BTreeMap<i64, i64> = snap_levels.1.iter().map(|l| (l.price, l.size)).collect();
                    (bids, asks)
                },
                |(mut bids, mut asks)| {
                    for (b_lv, a_lv) in &deltas {
                        for (side, lv) in [(&mut bids, b_lv), (&mut asks, a_lv)] {
                            for l in lv {
                                if l.size == 0 {
                                    side.remove(&l.price);
                                } else {
                                    side.insert(l.price, l.size);
                                }
                            }
                        }
                        black_box(bids.last_key_value());
                    }
                    (bids, asks)
                },
                BatchSize::LargeInput,
            );
        });
        g.finish();
    }

    let mut g = c.benchmark_group("fixed");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| tickwire::fixed::parse(black_box("2683.80000000"), "p")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
