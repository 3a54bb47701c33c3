//! The L2 order book: two sorted sides of fixed-point (price, size) levels.
//!
//! Each side is sorted ascending with its best level *last*, split into chunks of at most
//! `2 * CHUNK` levels: reading the best level is O(1), a lookup is two binary searches (over
//! the chunks' top keys, kept in one array of their own, then inside one chunk), and an insert
//! or delete anywhere moves at most one chunk. (A single sorted `Vec` moved up to 40 KB
//! per deep insert once a USD-M book grew past 2,400 levels a side; a `BTreeMap` was slower at
//! the top of the book; see `cargo bench --bench core`.) Bids are keyed by price and asks by
//! -price, so one sorted-ascending implementation serves both sides.

use crate::fixed;

/// One price level: exact fixed-point price and size (see [`crate::fixed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: i64,
    pub size: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSide {
    Bid,
    Ask,
}

/// Levels per chunk after a split; a chunk splits when it exceeds twice this.
const CHUNK: usize = 16;

/// One side of the book: `(key, size)` ascending by key in non-empty chunks; the best is last.
/// `tops[i]` is the highest key of `chunks[i]`, kept apart so finding a chunk reads one array.
#[derive(Debug, Clone, Default)]
struct Ladder {
    tops: Vec<i64>,
    chunks: Vec<Vec<(i64, i64)>>,
}

impl Ladder {
    /// Set `key`'s size; size 0 deletes (deleting an unknown level is a no-op, as exchanges expect).
    #[inline]
    fn set(&mut self, key: i64, size: i64) {
        let n = self.chunks.len();
        if n == 0 {
            if size != 0 {
                self.tops.push(key);
                self.chunks.push(vec![(key, size)]);
            }
            return;
        }
        // The chunk holding `key`: the first whose top key >= key; a new best goes to the top chunk.
        let ci = self.tops.partition_point(|&t| t < key).min(n - 1);
        let chunk = &mut self.chunks[ci];
        match chunk.binary_search_by(|&(k, _)| k.cmp(&key)) {
            Ok(i) if size == 0 => {
                chunk.remove(i);
                match chunk.last() {
                    None => {
                        self.chunks.remove(ci);
                        self.tops.remove(ci);
                    }
                    Some(&(top, _)) => self.tops[ci] = top,
                }
            }
            Ok(i) => chunk[i].1 = size,
            Err(i) if size != 0 => {
                chunk.insert(i, (key, size));
                if i + 1 == chunk.len() {
                    self.tops[ci] = key;
                }
                if chunk.len() > 2 * CHUNK {
                    let upper = chunk.split_off(CHUNK);
                    self.tops.insert(ci, chunk[CHUNK - 1].0);
                    self.chunks.insert(ci + 1, upper);
                }
            }
            Err(_) => {}
        }
    }

    #[inline]
    fn best(&self) -> Option<(i64, i64)> {
        self.chunks.last().and_then(|c| c.last().copied())
    }

    /// Replace everything with `levels`, sorted ascending by key and without duplicates.
    fn load(&mut self, levels: &[(i64, i64)]) {
        self.chunks = levels.chunks(CHUNK).map(<[_]>::to_vec).collect();
        self.tops = self.chunks.iter().map(|c| c[c.len() - 1].0).collect();
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.tops.clear();
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    fn top(&self, n: usize) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.chunks.iter().rev().flat_map(|c| c.iter().rev()).take(n).copied()
    }
}

/// An L2 book. Prices and sizes are fixed-point `i64` (see [`crate::fixed`]); `sequence` is the
/// exchange's update id of the last applied change.
#[derive(Debug, Clone, Default)]
pub struct L2Book {
    bids: Ladder,
    asks: Ladder,
    pub sequence: Option<u64>,
}

impl L2Book {
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty both sides and forget the sequence.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.sequence = None;
    }

    /// Replace the whole book with a snapshot (levels in any order; zero sizes are skipped).
    pub fn load_snapshot(&mut self, bids: &[Level], asks: &[Level], sequence: u64) {
        let side = |levels: &[Level], key: fn(i64) -> i64| {
            let mut v: Vec<(i64, i64)> =
                levels.iter().filter(|l| l.size != 0).map(|l| (key(l.price), l.size)).collect();
            v.sort_by_key(|&(k, _)| k); // stable, so dedup keeps a repeated price's first size
            v.dedup_by_key(|&mut (k, _)| k);
            v
        };
        self.bids.load(&side(bids, |p| p));
        self.asks.load(&side(asks, |p| -p));
        self.sequence = Some(sequence);
    }

    /// Set one level to an absolute size; size 0 deletes it.
    #[inline]
    #[allow(clippy::similar_names)] // `side` and `size` are the words of every exchange's docs
    pub fn set(&mut self, side: BookSide, price: i64, size: i64) {
        match side {
            BookSide::Bid => self.bids.set(price, size),
            BookSide::Ask => self.asks.set(-price, size),
        }
    }

    /// Apply one delta message: absolute sizes per level, size 0 = delete.
    #[inline]
    pub fn apply(&mut self, bids: &[Level], asks: &[Level], sequence: u64) {
        for l in bids {
            self.bids.set(l.price, l.size);
        }
        for l in asks {
            self.asks.set(-l.price, l.size);
        }
        self.sequence = Some(sequence);
    }

    /// Best (highest) bid.
    #[inline]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best().map(|(price, size)| Level { price, size })
    }

    /// Best (lowest) ask.
    #[inline]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best().map(|(k, size)| Level { price: -k, size })
    }

    /// True when the best bid is at or above the best ask: a book that cannot be right.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// The best `n` bids, best first.
    pub fn bids(&self, n: usize) -> impl Iterator<Item = Level> + '_ {
        self.bids.top(n).map(|(price, size)| Level { price, size })
    }

    /// The best `n` asks, best first.
    pub fn asks(&self, n: usize) -> impl Iterator<Item = Level> + '_ {
        self.asks.top(n).map(|(k, size)| Level { price: -k, size })
    }

    /// Number of (bid, ask) levels.
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Mid price as a float, if both sides exist.
    pub fn mid(&self) -> Option<f64> {
        Some((fixed::to_f64(self.best_bid()?.price) + fixed::to_f64(self.best_ask()?.price)) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn lv(price: i64, size: i64) -> Level {
        Level { price, size }
    }

    #[test]
    fn best_levels_and_deletes() {
        let mut b = L2Book::new();
        b.load_snapshot(&[lv(100, 1), lv(99, 2)], &[lv(101, 3), lv(102, 4)], 7);
        assert_eq!(b.best_bid(), Some(lv(100, 1)));
        assert_eq!(b.best_ask(), Some(lv(101, 3)));
        b.apply(&[lv(100, 0), lv(98, 5)], &[lv(101, 0), lv(105, 0)], 8);
        assert_eq!(b.best_bid(), Some(lv(99, 2)));
        assert_eq!(b.best_ask(), Some(lv(102, 4)));
        assert_eq!(b.bids(10).collect::<Vec<_>>(), vec![lv(99, 2), lv(98, 5)]);
        assert_eq!(b.sequence, Some(8));
        assert!(!b.is_crossed());
        b.set(BookSide::Bid, 103, 1);
        assert!(b.is_crossed());
    }

    proptest! {
        /// The ladder agrees with a plain ordered-map model under random snapshots and deltas.
        #[test]
        fn matches_a_map_model(
            snap in prop::collection::vec((1i64..2000, 0i64..5), 0..600),
            deltas in prop::collection::vec((any::<bool>(), 1i64..2000, 0i64..3), 0..1500),
        ) {
            let mut book = L2Book::new();
            let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
            let s: Vec<Level> = snap.iter().map(|&(p, q)| lv(p, q)).collect();
            book.load_snapshot(&s, &s, 0);
            for l in &s { if l.size != 0 { bids.entry(l.price).or_insert(l.size); asks.entry(l.price).or_insert(l.size); } }
            for (is_bid, p, q) in deltas {
                let (side, model) = if is_bid { (BookSide::Bid, &mut bids) } else { (BookSide::Ask, &mut asks) };
                book.set(side, p, q);
                if q == 0 { model.remove(&p); } else { model.insert(p, q); }
            }
            let want_bids: Vec<Level> = bids.iter().rev().map(|(&p, &q)| lv(p, q)).collect();
            let want_asks: Vec<Level> = asks.iter().map(|(&p, &q)| lv(p, q)).collect();
            prop_assert_eq!(book.bids(usize::MAX).collect::<Vec<_>>(), want_bids);
            prop_assert_eq!(book.asks(usize::MAX).collect::<Vec<_>>(), want_asks);
        }
    }
}
