//! Criterion benches of the venue decoders (issue 10), pure Rust, on each venue's largest real
//! recording: `feed/<exchange>` = one `Decoder::feed` per frame over the whole recording, books
//! applied and checksums verified where the venue sends them, into a decoder made before the
//! clock starts (snapshots arrive over the WebSocket, so a replay starts from the first frame).
//!
//! Recordings are read from `tests/fixtures/<folder>/`, else the team's `../shared/fixtures/`
//! (see PROVENANCE.md there); a venue whose recording or decoder is missing is skipped with a
//! line on stderr, and so is one whose recording does not decode cleanly (the first error is
//! printed: a bench of a decoder that rejects its own recording would measure nothing useful).
//! The Python-API numbers with their baselines are `tickwire bench venues`.
//!
//! `VENUES_ONCE=<exchange>[:<replays>] cargo bench --bench venues` skips criterion and feeds that
//! venue's recording `<replays>` times (default 1) into fresh decoders, then exits: a fixed
//! workload to run under `valgrind --tool=callgrind` (instructions repeat exactly; wall clock on
//! the shared VM does not).

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use tickwire::Decoder;

/// (exchange id, market, folders to look in, recording stem)
const VENUES: [(&str, Option<&str>, &[&str], &str); 5] = [
    ("bybit", Some("linear"), &["bybit"], "v5_linear_orderbook200_tickers_trades_kline_4sym"),
    ("okx", None, &["okx"], "books_trades_tickers_checksum_btcusdt_uniusdswap_20220513"),
    ("kraken", None, &["kraken"], "book1000_checksum_8pairs_20210417"),
    ("coinbase", None, &["coinbase"], "advanced_trade_l2data_ticker_trades_candles_heartbeats_btcusd_ethusd"),
    ("coinbaseexchange", None, &["coinbaseexchange", "coinbase"], "exchange_level2_ticker_matches_8products_20210417"),
];

fn find(folders: &[&str], stem: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bases = [root.join("tests/fixtures"), root.join("../shared/fixtures")];
    bases
        .iter()
        .flat_map(|b| folders.iter().map(move |f| b.join(f).join(format!("{stem}.jsonl"))))
        .find(|p| p.is_file())
}

fn frames(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read(path).expect("recording");
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

fn bench(c: &mut Criterion) {
    for (exchange, market, folders, stem) in VENUES {
        let Some(path) = find(folders, stem) else {
            eprintln!("venues bench: skipping {exchange}: {stem}.jsonl not found");
            continue;
        };
        let frames = frames(&path);
        let mut probe = match Decoder::new(exchange, market, &[]) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("venues bench: skipping {exchange}: {e}");
                continue;
            }
        };
        if let Some((n, e)) = frames.iter().enumerate().find_map(|(n, f)| probe.feed(f, 0).err().map(|e| (n, e))) {
            eprintln!("venues bench: skipping {exchange}: line {} does not decode: {e}", n + 1);
            continue;
        }
        let bytes: usize = frames.iter().map(Vec::len).sum();
        let mut g = c.benchmark_group(format!("feed/{exchange}"));
        g.throughput(Throughput::Elements(frames.len() as u64));
        g.sample_size(20);
        g.bench_function(format!("recording ({} frames, {bytes} bytes)", frames.len()), |b| {
            b.iter_batched(
                || Decoder::new(exchange, market, &[]).expect("checked above"),
                |mut d| {
                    for f in &frames {
                        black_box(d.feed(f, 0).is_ok());
                        black_box(&d.events);
                    }
                    d
                },
                BatchSize::LargeInput,
            );
        });
        g.finish();
    }
}

/// The `VENUES_ONCE` mode: see the module doc.
fn once(spec: &str) {
    let (name, replays) = spec.split_once(':').map_or((spec, 1), |(n, r)| (n, r.parse().expect("replays")));
    let (exchange, market, folders, stem) =
        VENUES.into_iter().find(|v| v.0 == name).unwrap_or_else(|| panic!("unknown venue {name}"));
    let frames = frames(&find(folders, stem).expect("recording"));
    let mut errors = 0usize;
    for _ in 0..replays {
        let mut d = Decoder::new(exchange, market, &[]).expect("decoder");
        for f in &frames {
            errors += usize::from(d.feed(f, 0).is_err());
            black_box(&d.events);
        }
    }
    eprintln!("{exchange}: {replays} x {} frames, {errors} errors", frames.len());
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(spec) = std::env::var("VENUES_ONCE") {
        once(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
