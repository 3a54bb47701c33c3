//! The core on the real Binance recordings (tests/fixtures), without Python: every depth event
//! after the snapshot applies with no gap, and the book's top equals every bookTicker that
//! carries the same update id as the depth event just applied (Binance's own oracle).

use std::collections::HashMap;
use std::path::Path;

use tickwire::event::SyncLoss;
use tickwire::exchanges::RawLevel;
use tickwire::{Decoder, Event};

/// The same level, whatever the widths its decimals were written with.
fn same(a: RawLevel, b: RawLevel) -> bool {
    a.price.same_value(b.price) && a.size.same_value(b.size)
}

fn check(dir: &str, exchange: &str, symbol: &str) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
    let stem = "depth_bookticker_trade_ethusdt_20240808";
    let text = std::fs::read(base.join(format!("{stem}.jsonl"))).unwrap();
    let snapshot = std::fs::read(base.join(format!("{stem}_depth_snapshot.json"))).unwrap();
    let mut d = Decoder::new(exchange, None, &[]).unwrap();
    d.apply_snapshot(symbol, &snapshot, 0).unwrap();
    let mut top_at = HashMap::new(); // update id -> (best bid, best ask)
    let mut tickers = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        d.feed(line, 0).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for ev in &d.events {
            match *ev {
                Event::BookUpdate { symbol: i, sequence, .. } => {
                    let book = &d.symbol(i).book;
                    top_at.insert(sequence.unwrap(), (book.best_bid().unwrap(), book.best_ask().unwrap()));
                }
                Event::Bbo { bbo, .. } => tickers.push(bbo),
                _ => {}
            }
        }
    }
    let mut pairs = 0;
    for bbo in tickers {
        if let Some(&(b, a)) = top_at.get(&bbo.sequence.unwrap()) {
            pairs += 1;
            assert!(same(b, bbo.bid) && same(a, bbo.ask), "{dir}: book differs from bookTicker u={:?}", bbo.sequence);
        }
    }
    assert!(pairs > 0, "{dir}: no bookTicker/depth pair to compare");
    assert_eq!(d.stats.gaps, 0);
    assert_eq!(d.stats.bad_frames, 0);
    assert_eq!(d.stats.crossed_books, 0);
}

#[test]
fn spot_book_matches_book_ticker() {
    check("binance", "binance", "ETH/USDT");
}

#[test]
fn usdm_book_matches_book_ticker() {
    check("binanceusdm", "binanceusdm", "ETH/USDT:USDT");
}

#[test]
fn a_removed_depth_event_is_a_gap() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance");
    let stem = "depth_bookticker_trade_ethusdt_20240808";
    let text = std::fs::read(base.join(format!("{stem}.jsonl"))).unwrap();
    let mut d = Decoder::new("binance", None, &[]).unwrap();
    d.apply_snapshot("ETH/USDT", &std::fs::read(base.join(format!("{stem}_depth_snapshot.json"))).unwrap(), 0).unwrap();
    let mut depth_seen = 0u64;
    let mut lost = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let is_depth = line.windows(11).any(|w| w == b"depthUpdate");
        if is_depth {
            depth_seen += 1;
            if depth_seen == 100 {
                continue; // lose one message
            }
        }
        d.feed(line, 0).unwrap();
        lost.extend(d.events.iter().filter(|e| matches!(e, Event::SyncLost { .. })).cloned());
    }
    // One SyncLost, for the gap; the book then awaits a snapshot, buffering the deltas after it.
    assert!(matches!(lost[..], [Event::SyncLost { reason: SyncLoss::Gap { .. }, .. }]), "{lost:?}");
    assert_eq!(d.stats.gaps, 1);
    assert!(!d.symbol(0).synced());
    assert_eq!(d.stats.buffered_deltas, depth_seen - 100, "every later delta buffered");
}

/// A market decodes none of the other market's frames: every line of each real ETHUSDT
/// recording (depth, bookTicker, trade) is a `Frame` error on the other market's decoder, and
/// no book or trade id is touched.
#[test]
fn each_market_rejects_the_other_markets_recording() {
    for (dir, other) in [("binance", "binanceusdm"), ("binanceusdm", "binance")] {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(dir);
        let text = std::fs::read(base.join("depth_bookticker_trade_ethusdt_20240808.jsonl")).unwrap();
        let mut d = Decoder::new(other, None, &[]).unwrap();
        let mut lines = 0;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let result = d.feed(line, 0);
            assert!(matches!(result, Err(tickwire::Error::Frame { .. })), "{dir} on {other}: {result:?}");
            lines += 1;
        }
        assert_eq!(d.stats.bad_frames, lines);
        assert_eq!((d.stats.events, d.stats.buffered_deltas), (0, 0));
    }
}
