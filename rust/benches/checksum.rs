//! Criterion benches of what exchange checksums cost, on the real ETHUSDT spot recording
//! (tests/fixtures/binance), apart from `core` so that bench's binary (and its layout) stays the
//! same:
//!
//! - `wire/*_apply_level`: the recording's depth levels applied to a book loaded from its REST
//!   snapshot, per level, by the plain book (`L2Book`) and by the book that keeps each level's
//!   received decimal widths (`WireBook`), in the same run.
//! - `wire/parse*`: one decimal string to fixed point, without and with its width.
//! - `wire/checksum_*`: Kraken's and OKX's/Bitget's checksum over the snapshot's book, per call.
//! - `wire/delta_checksum_*`: the recording's deltas applied to the wire book with the checksum
//!   after each, per delta, written afresh (`compute_at`) and from the book's last checksum
//!   (`compute_memo`, as the decoder does) in the same run.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tickwire::book::{Level, Quantity, Widths, WireLevel, WireSize};
use tickwire::checksum::{Format, Memo};
use tickwire::exchanges::{factory, Item, Out, RawLevel};
use tickwire::{L2Book, WireBook};

/// Binance sends 8 decimals; the widths' values do not change the cost of applying them.
fn wire(levels: &[Level]) -> Vec<WireLevel> {
    let widths = Widths { price: 8, size: 8 };
    levels.iter().map(|l| WireLevel { price: l.price, size: l.size, widths }).collect()
}

/// The bids and asks of a snapshot or a delta.
type SidesOf<L> = (Vec<L>, Vec<L>);

/// Per level: load the snapshot, then apply every delta in order.
fn apply_rows<Q: Quantity>(c: &mut Criterion, name: &str, snapshot: &SidesOf<Q::Level>, deltas: &[SidesOf<Q::Level>])
where
    L2Book<Q>: Default,
{
    let n_levels: usize = deltas.iter().map(|(b, a)| b.len() + a.len()).sum();
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(n_levels as u64));
    g.sample_size(20);
    g.bench_function(name, |b| {
        b.iter_batched(
            || {
                let mut book = L2Book::<Q>::default();
                book.load_snapshot(&snapshot.0, &snapshot.1, 0);
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
    g.finish();
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
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance");
    let stem = "depth_bookticker_trade_ethusdt_20240808";
    let text = std::fs::read(base.join(format!("{stem}.jsonl"))).expect("recording");
    let snapshot_body = std::fs::read(base.join(format!("{stem}_depth_snapshot.json"))).expect("snapshot");
    let frames: Vec<Vec<u8>> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    let (snapshot, deltas) = parsed("binance", &frames, &snapshot_body);
    apply_rows::<i64>(c, "l2book_apply_level", &snapshot, &deltas);
    let wire_deltas: Vec<_> = deltas.iter().map(|(b, a)| (wire(b), wire(a))).collect();
    apply_rows::<WireSize>(c, "wirebook_apply_level", &(wire(&snapshot.0), wire(&snapshot.1)), &wire_deltas);

    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| tickwire::fixed::parse(black_box("2683.80000000"), "p")));
    g.bench_function("parse_with_width", |b| {
        b.iter(|| tickwire::fixed::parse_prefix_with_width(black_box(b"2683.80000000"), "p"));
    });
    // The snapshot as the exchange wrote it (widths kept), 1000 levels a side.
    let json: serde_json::Value = serde_json::from_slice(&snapshot_body).unwrap();
    let side = |key: &str| -> Vec<WireLevel> {
        let rows = json[key].as_array().unwrap();
        rows.iter().map(|r| WireLevel::parse(r[0].as_str().unwrap(), r[1].as_str().unwrap(), "p").unwrap()).collect()
    };
    let mut book = WireBook::default();
    book.load_snapshot(&side("bids"), &side("asks"), 0);
    let mut buf = Vec::new();
    g.bench_function("checksum_kraken_top10", |b| b.iter(|| Format::Kraken.compute(black_box(&book), &mut buf)));
    g.bench_function("checksum_interleaved_top25", |b| {
        b.iter(|| Format::Interleaved.compute(black_box(&book), &mut buf));
    });
    g.finish();

    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(wire_deltas.len() as u64));
    g.sample_size(20);
    for format in [Format::Kraken, Format::Interleaved] {
        for memo in [false, true] {
            let name = format!("delta_checksum_{format:?}_{}", if memo { "memo" } else { "fresh" }).to_lowercase();
            g.bench_function(name, |b| {
                b.iter_batched(
                    || book.clone(),
                    |mut book| {
                        let (mut memo_state, mut text) = (Memo::default(), Vec::new());
                        for (i, (bids, asks)) in wire_deltas.iter().enumerate() {
                            book.apply(bids, asks, i as u64);
                            black_box(if memo {
                                format.compute_memo(&book, 8, 8, &mut memo_state)
                            } else {
                                format.compute_at(&book, 8, 8, &mut text)
                            });
                        }
                        book
                    },
                    BatchSize::LargeInput,
                );
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
