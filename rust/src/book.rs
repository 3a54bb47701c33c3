//! The L2 order book: two sorted sides of fixed-point (price, size) levels.
//!
//! Each side is sorted ascending with its best level *last*, split into chunks of at most
//! `2 * CHUNK` levels: reading the best level is O(1), a lookup is two binary searches (over
//! the chunks' top keys, kept in one array of their own, then inside one chunk), and an insert
//! or delete anywhere moves at most one chunk. (A single sorted `Vec` moved up to 40 KB
//! per deep insert once a USD-M book grew past 2,400 levels a side; a `BTreeMap` was slower at
//! the top of the book; see `cargo bench --bench core`.) Bids are keyed by price and asks by
//! -price, so one sorted-ascending implementation serves both sides.
//!
//! What a level keeps besides its price is a type parameter ([`Quantity`]): the size alone in
//! [`L2Book`] (Binance needs no more, and a 16-byte entry keeps inserts cheap), or the size with
//! the decimal widths price and size were received with in [`WireBook`], for venues whose
//! checksums are computed over the text they sent (Kraken, OKX, Bitget; see [`crate::checksum`]).

use crate::error::Error;
use crate::fixed;

/// One price level: exact fixed-point price and size (see [`crate::fixed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub price: i64,
    pub size: i64,
}

/// How many digits followed the '.' in a level's price and size as received ("13.284500" has
/// 6, "7" has 0): with the fixed-point value they give the text back (see
/// [`fixed::write_decimal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Widths {
    pub price: u8,
    pub size: u8,
}

/// A level as received: fixed-point price and size, and the widths they were written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireLevel {
    pub price: i64,
    pub size: i64,
    pub widths: Widths,
}

impl WireLevel {
    /// A level from its price and size text as received ("13.284500", "1396.00000000"), keeping
    /// the widths. Errors name `field` as [`fixed::parse`] does.
    pub fn parse(price: &str, size: &str, field: &'static str) -> Result<Self, Error> {
        let (price, price_width) = parse_whole(price, field)?;
        let (size, size_width) = parse_whole(size, field)?;
        Ok(WireLevel { price, size, widths: Widths { price: price_width, size: size_width } })
    }
}

/// A whole string as a decimal, with its fractional width.
fn parse_whole(text: &str, field: &'static str) -> Result<(i64, u8), Error> {
    match fixed::parse_prefix_with_width(text.as_bytes(), field) {
        Ok((value, len, width)) if len == text.len() => Ok((value, width)),
        // The plain parser names what is wrong with the text.
        _ => fixed::parse(text, field).and(Err(Error::frame(field, format!("{text:?} is not a decimal number")))),
    }
}

/// A size and the widths of the level that last set it: what a [`WireBook`] keeps per price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireSize {
    pub size: i64,
    pub widths: Widths,
}

/// What a book keeps per price level, and the level type it takes in and gives out.
pub trait Quantity: Copy + std::fmt::Debug {
    /// The level type of the book's inputs and outputs.
    type Level: Copy;
    /// A level's price and what the book keeps of it.
    fn split(level: &Self::Level) -> (i64, Self);
    /// The level at `price`.
    fn join(self, price: i64) -> Self::Level;
    /// The fixed-point size; 0 deletes the level.
    fn size(self) -> i64;
}

impl Quantity for i64 {
    type Level = Level;
    #[inline(always)]
    fn split(level: &Level) -> (i64, i64) {
        (level.price, level.size)
    }
    #[inline(always)]
    fn join(self, price: i64) -> Level {
        Level { price, size: self }
    }
    #[inline(always)]
    fn size(self) -> i64 {
        self
    }
}

impl Quantity for WireSize {
    type Level = WireLevel;
    #[inline(always)]
    fn split(level: &WireLevel) -> (i64, WireSize) {
        (level.price, WireSize { size: level.size, widths: level.widths })
    }
    #[inline(always)]
    fn join(self, price: i64) -> WireLevel {
        WireLevel { price, size: self.size, widths: self.widths }
    }
    #[inline(always)]
    fn size(self) -> i64 {
        self.size
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSide {
    Bid,
    Ask,
}

/// Levels per chunk after a split; a chunk splits when it exceeds twice this.
const CHUNK: usize = 16;

/// One side of the book: `(key, quantity)` ascending by key in non-empty chunks; the best is
/// last. `tops[i]` is the highest key of `chunks[i]`, kept apart so finding a chunk reads one
/// array.
/// `scratch` is where a snapshot's levels are gathered before they become chunks (kept, with
/// its allocation, for the next snapshot).
#[derive(Debug, Clone)]
struct Ladder<Q> {
    tops: Vec<i64>,
    chunks: Vec<Vec<(i64, Q)>>,
    scratch: Vec<(i64, Q)>,
}

// Not derived: the derive would require `Q: Default`, which an empty ladder does not need.
impl<Q> Default for Ladder<Q> {
    fn default() -> Self {
        Self { tops: Vec::new(), chunks: Vec::new(), scratch: Vec::new() }
    }
}

impl<Q: Quantity> Ladder<Q> {
    /// Set `key`'s quantity; size 0 deletes (deleting an unknown level is a no-op, as exchanges
    /// expect).
    #[inline]
    fn set(&mut self, key: i64, quantity: Q) {
        let mut hint = usize::MAX;
        self.set_from(key, quantity, &mut hint);
    }

    /// [`Self::set`], the chunk searched for from `hint` (the chunk of the last level set, or
    /// `usize::MAX` for none; set to this one's). An update lists a side best first, which is descending by key on both sides:
    /// each level's chunk is then at or below the last one's, found by galloping down from it
    /// (a run of nearby levels costs a comparison or two each instead of a binary search over
    /// every chunk). Any order, any hint, is still correct: a key above the hint's chunk is
    /// searched for above it.
    #[inline(always)]
    fn set_from(&mut self, key: i64, quantity: Q, hint: &mut usize) {
        let size = quantity.size();
        let n = self.chunks.len();
        if n == 0 {
            if size != 0 {
                self.tops.push(key);
                self.chunks.push(vec![(key, quantity)]);
            }
            *hint = 0;
            return;
        }
        // The chunk holding `key`: the first whose top key >= key; a new best goes to the top chunk.
        // Without a hint the top chunk is tried before searching: most updates are near the best.
        let ci = if *hint < n {
            self.chunk_from(key, *hint)
        } else if n == 1 || self.tops[n - 2] < key {
            n - 1
        } else {
            self.tops.partition_point(|&t| t < key)
        };
        *hint = ci;
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
            Ok(i) => chunk[i].1 = quantity,
            Err(i) if size != 0 => {
                chunk.insert(i, (key, quantity));
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

    /// The first chunk whose top key >= `key` (the top chunk if none), searched for from chunk
    /// `h` (< the number of chunks).
    #[inline]
    fn chunk_from(&self, key: i64, h: usize) -> usize {
        let tops = &self.tops;
        let n = tops.len();
        if tops[h] < key {
            // Above `h`: among the chunks between it and the top.
            return if h + 1 == n { h } else { h + 1 + tops[h + 1..n - 1].partition_point(|&t| t < key) };
        }
        // At or below `h`: gallop down to a chunk whose top is below `key`, then search between.
        let (mut hi, mut step) = (h, 1);
        let lo = loop {
            if hi < step {
                break 0;
            }
            let probe = hi - step;
            if tops[probe] < key {
                break probe + 1;
            }
            hi = probe;
            step *= 2;
        };
        lo + tops[lo..hi].partition_point(|&t| t < key)
    }

    #[inline]
    fn best(&self) -> Option<(i64, Q)> {
        self.chunks.last().and_then(|c| c.last().copied())
    }

    /// Replace everything with `levels` (any order; zero sizes skipped; of a repeated key the
    /// first is kept). A snapshot usually lists a side best first, which is descending by key
    /// on both sides: that order (or ascending) is detected and taken without sorting, and the
    /// chunks' and the scratch's allocations are reused.
    fn load(&mut self, levels: impl Iterator<Item = (i64, Q)>) {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        // Strictly descending / ascending so far (keys compared as they arrive).
        let (mut down, mut up) = (true, true);
        let mut last = None;
        for (key, q) in levels {
            if q.size() == 0 {
                continue;
            }
            if let Some(prev) = last {
                down &= key < prev;
                up &= key > prev;
            }
            last = Some(key);
            v.push((key, q));
        }
        if down {
            v.reverse();
        } else if !up {
            v.sort_by_key(|&(k, _)| k); // stable, so dedup keeps a repeated key's first size
            v.dedup_by_key(|&mut (k, _)| k);
        }
        let n = v.len().div_ceil(CHUNK);
        self.chunks.truncate(n);
        self.tops.clear();
        for (i, part) in v.chunks(CHUNK).enumerate() {
            match self.chunks.get_mut(i) {
                Some(chunk) => {
                    chunk.clear();
                    chunk.extend_from_slice(part);
                }
                None => self.chunks.push(part.to_vec()),
            }
            self.tops.push(part[part.len() - 1].0);
        }
        self.scratch = v;
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.tops.clear();
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// Keep the best `depth` levels, dropping the worst ones (at the front).
    fn truncate(&mut self, depth: usize) {
        let mut excess = self.len().saturating_sub(depth);
        // Whole chunks first, then the front of the one that keeps some levels.
        let mut whole = 0;
        while self.chunks.get(whole).is_some_and(|c| c.len() <= excess) {
            excess -= self.chunks[whole].len();
            whole += 1;
        }
        self.chunks.drain(..whole);
        self.tops.drain(..whole);
        if excess > 0 {
            self.chunks[0].drain(..excess); // leaves it non-empty: it held more than `excess`
        }
    }

    fn top(&self, n: usize) -> impl Iterator<Item = (i64, Q)> + '_ {
        self.chunks.iter().rev().flat_map(|c| c.iter().rev()).take(n).copied()
    }
}

/// An L2 book. Prices and sizes are fixed-point `i64` (see [`crate::fixed`]); `sequence` is the
/// exchange's update id of the last applied change. `Q` is what each level keeps besides its
/// price: the size ([`Level`] in and out), or [`WireSize`] ([`WireLevel`] in and out; see
/// [`WireBook`]).
#[derive(Debug, Clone, Default)]
pub struct L2Book<Q = i64> {
    bids: Ladder<Q>,
    asks: Ladder<Q>,
    pub sequence: Option<u64>,
}

/// A book that keeps each level's received decimal widths, so checksums over the exchange's own
/// text can be computed from it (see [`crate::checksum`]). Create it with `WireBook::default()`.
pub type WireBook = L2Book<WireSize>;

impl L2Book {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<Q: Quantity> L2Book<Q> {
    /// Empty both sides and forget the sequence.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.sequence = None;
    }

    /// Replace the whole book with a snapshot (levels in any order; zero sizes are skipped; of
    /// a repeated price the first is kept).
    pub fn load_snapshot(&mut self, bids: &[Q::Level], asks: &[Q::Level], sequence: u64) {
        self.load_levels(bids.iter().copied(), asks.iter().copied());
        self.sequence = Some(sequence);
    }

    /// [`Self::load_snapshot`] from iterators, leaving `sequence` alone: no copy of the levels
    /// is made on the way in. Sides listed best first (or worst first) are not sorted.
    pub fn load_levels(&mut self, bids: impl Iterator<Item = Q::Level>, asks: impl Iterator<Item = Q::Level>) {
        self.bids.load(bids.map(|l| Q::split(&l)));
        self.asks.load(asks.map(|l| {
            let (price, q) = Q::split(&l);
            (-price, q)
        }));
    }

    /// Set one level to an absolute size; size 0 deletes it.
    #[inline]
    pub fn set(&mut self, side: BookSide, level: Q::Level) {
        let (price, q) = Q::split(&level);
        match side {
            BookSide::Bid => self.bids.set(price, q),
            BookSide::Ask => self.asks.set(-price, q),
        }
    }

    /// Apply one delta message: absolute sizes per level, size 0 = delete.
    #[inline]
    pub fn apply(&mut self, bids: &[Q::Level], asks: &[Q::Level], sequence: u64) {
        self.apply_levels(bids.iter().copied(), asks.iter().copied());
        self.sequence = Some(sequence);
    }

    /// [`Self::apply`] from iterators, leaving `sequence` alone. Levels in any order; a side
    /// listed best first (as venues send them) is found fastest: each level's search starts
    /// where the last one's ended.
    #[inline]
    pub fn apply_levels(&mut self, bids: impl Iterator<Item = Q::Level>, asks: impl Iterator<Item = Q::Level>) {
        let mut hint = usize::MAX;
        for l in bids {
            let (price, q) = Q::split(&l);
            self.bids.set_from(price, q, &mut hint);
        }
        hint = usize::MAX;
        for l in asks {
            let (price, q) = Q::split(&l);
            self.asks.set_from(-price, q, &mut hint);
        }
    }

    /// Keep only the best `depth` levels of each side. Venues that publish a book of a fixed
    /// depth (Kraken) send no delete for a level pushed out of range: the client drops it.
    pub fn truncate(&mut self, depth: usize) {
        self.bids.truncate(depth);
        self.asks.truncate(depth);
    }

    /// Best (highest) bid.
    #[inline]
    pub fn best_bid(&self) -> Option<Q::Level> {
        self.bids.best().map(|(price, q)| q.join(price))
    }

    /// Best (lowest) ask.
    #[inline]
    pub fn best_ask(&self) -> Option<Q::Level> {
        self.asks.best().map(|(k, q)| q.join(-k))
    }

    /// True when the best bid is at or above the best ask: a book that cannot be right.
    pub fn is_crossed(&self) -> bool {
        matches!((self.bids.best(), self.asks.best()), (Some((bid, _)), Some((neg_ask, _))) if bid >= -neg_ask)
    }

    /// The best `n` bids, best first.
    pub fn bids(&self, n: usize) -> impl Iterator<Item = Q::Level> + '_ {
        self.bids.top(n).map(|(price, q)| q.join(price))
    }

    /// The best `n` asks, best first.
    pub fn asks(&self, n: usize) -> impl Iterator<Item = Q::Level> + '_ {
        self.asks.top(n).map(|(k, q)| q.join(-k))
    }

    /// Append the best `n` levels of `side`, best first, to `out`: what [`Self::bids`] and
    /// [`Self::asks`] yield, in two plain loops (the checksum reads 50 levels per update).
    #[inline]
    pub fn top_into(&self, side: BookSide, n: usize, out: &mut Vec<Q::Level>) {
        let (ladder, sign) = match side {
            BookSide::Bid => (&self.bids, 1),
            BookSide::Ask => (&self.asks, -1),
        };
        let mut left = n;
        for chunk in ladder.chunks.iter().rev() {
            let take = chunk.len().min(left);
            out.extend(chunk[chunk.len() - take..].iter().rev().map(|&(k, q)| q.join(sign * k)));
            left -= take;
            if left == 0 {
                return;
            }
        }
    }

    /// Number of (bid, ask) levels.
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Mid price as a float, if both sides exist.
    pub fn mid(&self) -> Option<f64> {
        Some((fixed::to_f64(self.bids.best()?.0) + fixed::to_f64(-self.asks.best()?.0)) / 2.0)
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
        b.set(BookSide::Bid, lv(103, 1));
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
                book.set(side, lv(p, q));
                if q == 0 { model.remove(&p); } else { model.insert(p, q); }
            }
            let want_bids: Vec<Level> = bids.iter().rev().map(|(&p, &q)| lv(p, q)).collect();
            let want_asks: Vec<Level> = asks.iter().map(|(&p, &q)| lv(p, q)).collect();
            prop_assert_eq!(book.bids(usize::MAX).collect::<Vec<_>>(), want_bids);
            prop_assert_eq!(book.asks(usize::MAX).collect::<Vec<_>>(), want_asks);
        }

        /// Snapshots and updates listed best first (as venues send them: the unsorted load and
        /// the galloping search from the last level's chunk), worst first, or in any order give
        /// the book a map model gives.
        #[test]
        fn any_level_order_matches_a_map_model(
            snap in prop::collection::vec((1i64..3000, 0i64..4), 0..700),
            updates in prop::collection::vec(prop::collection::vec((1i64..3000, 0i64..3), 0..40), 0..60),
            order in 0u8..3,
        ) {
            // order 0: best first (bids descending, asks ascending); 1: worst first; 2: as drawn.
            let arrange = |levels: &[(i64, i64)], bid: bool, dedup: bool| -> Vec<Level> {
                let mut v: Vec<Level> = levels.iter().map(|&(p, q)| lv(p, q)).collect();
                if order < 2 {
                    if dedup {
                        let mut seen = std::collections::HashSet::new();
                        v.retain(|l| seen.insert(l.price));
                    }
                    v.sort_by_key(|l| if bid == (order == 0) { -l.price } else { l.price });
                }
                v
            };
            let mut book = L2Book::new();
            let (sb, sa) = (arrange(&snap, true, true), arrange(&snap, false, true));
            book.load_snapshot(&sb, &sa, 0);
            let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
            for l in sb.iter().filter(|l| l.size != 0) { bids.entry(l.price).or_insert(l.size); }
            for l in sa.iter().filter(|l| l.size != 0) { asks.entry(l.price).or_insert(l.size); }
            for (n, update) in updates.iter().enumerate() {
                let (ub, ua) = (arrange(update, true, false), arrange(update, false, false));
                book.apply(&ub, &ua, n as u64);
                for (levels, model) in [(&ub, &mut bids), (&ua, &mut asks)] {
                    for l in levels {
                        if l.size == 0 { model.remove(&l.price); } else { model.insert(l.price, l.size); }
                    }
                }
            }
            prop_assert_eq!(book.bids(usize::MAX).collect::<Vec<_>>(), bids.iter().rev().map(|(&p, &q)| lv(p, q)).collect::<Vec<_>>());
            prop_assert_eq!(book.asks(usize::MAX).collect::<Vec<_>>(), asks.iter().map(|(&p, &q)| lv(p, q)).collect::<Vec<_>>());
        }

        /// A book keeping widths: each level has the widths of the update that last set it, and
        /// truncating to a depth keeps exactly the best `depth` levels of each side.
        #[test]
        fn wire_book_matches_a_map_model(
            snap in prop::collection::vec((1i64..500, 0i64..5, 0u8..12), 0..300),
            steps in prop::collection::vec((any::<bool>(), 1i64..500, 0i64..3, 0u8..12, 0usize..80), 0..800),
        ) {
            let wl = |price, size, w: u8| WireLevel { price, size, widths: Widths { price: w, size: w / 2 } };
            let mut book = WireBook::default();
            let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
            let s: Vec<WireLevel> = snap.iter().map(|&(p, q, w)| wl(p, q, w)).collect();
            book.load_snapshot(&s, &s, 0);
            for l in s.iter().filter(|l| l.size != 0) {
                bids.entry(l.price).or_insert(*l);
                asks.entry(l.price).or_insert(*l);
            }
            for (is_bid, p, q, w, depth) in steps {
                let (side, model) = if is_bid { (BookSide::Bid, &mut bids) } else { (BookSide::Ask, &mut asks) };
                book.set(side, wl(p, q, w));
                if q == 0 { model.remove(&p); } else { model.insert(p, wl(p, q, w)); }
                if depth < 8 {
                    book.truncate(depth * 10);
                    while bids.len() > depth * 10 { bids.pop_first(); }
                    while asks.len() > depth * 10 { asks.pop_last(); }
                }
            }
            prop_assert_eq!(book.bids(usize::MAX).collect::<Vec<_>>(), bids.values().rev().copied().collect::<Vec<_>>());
            prop_assert_eq!(book.asks(usize::MAX).collect::<Vec<_>>(), asks.values().copied().collect::<Vec<_>>());
            prop_assert_eq!(book.depth(), (bids.len(), asks.len()));
        }
    }

    #[test]
    fn a_repeated_price_in_a_sorted_snapshot_keeps_its_first_size() {
        let mut b = L2Book::new();
        // Best first but for the repeats: not taken as sorted, the first of each price kept.
        b.load_snapshot(&[lv(100, 1), lv(100, 9), lv(99, 2)], &[lv(101, 3), lv(102, 4), lv(102, 8), lv(103, 0)], 0);
        assert_eq!(b.bids(9).collect::<Vec<_>>(), vec![lv(100, 1), lv(99, 2)]);
        assert_eq!(b.asks(9).collect::<Vec<_>>(), vec![lv(101, 3), lv(102, 4)]);
        // A smaller snapshot reuses the chunks: nothing of the last one stays.
        let deep: Vec<Level> = (1..=100).rev().map(|p| lv(p, p)).collect();
        b.load_snapshot(&deep, &[], 0);
        b.load_snapshot(&[lv(5, 1)], &[lv(6, 1)], 1);
        assert_eq!((b.depth(), b.best_bid(), b.best_ask()), ((1, 1), Some(lv(5, 1)), Some(lv(6, 1))));
    }

    #[test]
    fn truncate_keeps_the_best_levels() {
        let mut b = L2Book::new();
        let levels: Vec<Level> = (1..=100).map(|p| lv(p, 1)).collect();
        b.load_snapshot(&levels, &levels, 0);
        b.truncate(10);
        assert_eq!(b.bids(usize::MAX).map(|l| l.price).collect::<Vec<_>>(), (91..=100).rev().collect::<Vec<_>>());
        assert_eq!(b.asks(usize::MAX).map(|l| l.price).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
        b.truncate(0);
        assert_eq!(b.depth(), (0, 0));
        assert_eq!(b.best_bid(), None);
    }
}
