//! Helpers shared by the per-venue integration tests (`rust/tests/<venue>.rs`, each with
//! `mod common;`): fixture files, exact decimal text, and a reference book with the interleaved
//! top-25 checksum computed independently of `tickwire::checksum`. Nothing here names a venue.
//!
//! Each test binary uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tickwire::exchanges::{BookKind, RawLevel};
use tickwire::fixed::{self, Dec};

/// `tests/fixtures/<rel>` of this crate.
pub fn fixture_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// The lines of the fixture file `rel` (below `tests/fixtures`).
pub fn fixture_lines(rel: &str) -> Vec<String> {
    std::fs::read_to_string(fixture_path(rel)).unwrap().lines().map(str::to_owned).collect()
}

/// Receive times of a recording (float seconds a line in the companion `.ts` file of the
/// `.jsonl` fixture `rel`), as ns since the Unix epoch, exact (no float rounding).
pub fn receive_times_ns(rel: &str) -> Vec<i64> {
    fixture_lines(&rel.replace(".jsonl", ".ts"))
        .iter()
        .map(|l| {
            let (s, frac) = l.split_once('.').unwrap_or((l, "0"));
            let ns: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
            s.parse::<i64>().unwrap() * 1_000_000_000 + ns.parse::<i64>().unwrap()
        })
        .collect()
}

/// A decimal's text as `tickwire::fixed` writes it (the digits as received).
pub fn dec_text(d: Dec) -> String {
    let mut out = Vec::new();
    fixed::write_dec(&mut out, d);
    String::from_utf8(out).unwrap()
}

/// A price as a sortable exact value (prices with at most 18 decimals).
pub fn price_key(d: Dec) -> i128 {
    i128::from(d.mantissa) * 10i128.pow(18 - u32::from(d.width))
}

/// A JSON book side of `["px","sz",..]` rows: the first two strings of each row, as sent.
pub fn raw_side(item: &Value, side: &str) -> Vec<(String, String)> {
    item[side]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
        .collect()
}

/// A reference book over the parser's levels: price key -> level as received.
#[derive(Default, Clone, PartialEq)]
pub struct RefBook {
    pub bids: BTreeMap<i128, RawLevel>,
    pub asks: BTreeMap<i128, RawLevel>,
}

impl RefBook {
    /// Apply one book item: a snapshot replaces the book; a level of size 0 removes its price.
    pub fn apply(&mut self, kind: BookKind, bids: &[RawLevel], asks: &[RawLevel]) {
        if kind == BookKind::Snapshot {
            *self = RefBook::default();
        }
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for l in levels {
                if l.size.mantissa == 0 {
                    side.remove(&price_key(l.price));
                } else {
                    side.insert(price_key(l.price), *l);
                }
            }
        }
    }

    /// The interleaved checksum: top 25 bids (desc) and asks (asc) alternating, each level
    /// `price:size` in its exact strings, joined by `:`, CRC32 (a venue sending it as a signed
    /// 32-bit value is compared by its bits).
    pub fn interleaved_checksum(&self) -> u32 {
        let bids: Vec<_> = self.bids.values().rev().take(25).collect();
        let asks: Vec<_> = self.asks.values().take(25).collect();
        let mut parts = Vec::new();
        for i in 0..25 {
            for l in [bids.get(i), asks.get(i)].into_iter().flatten() {
                parts.push(format!("{}:{}", dec_text(l.price), dec_text(l.size)));
            }
        }
        crc32fast::hash(parts.join(":").as_bytes())
    }

    /// The best bid and best ask (None while a side is empty).
    pub fn top(&self) -> Option<(RawLevel, RawLevel)> {
        Some((*self.bids.values().next_back()?, *self.asks.values().next()?))
    }
}
