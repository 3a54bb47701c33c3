//! Exchange book checksums, computed over our own L2 book.
//!
//! Kraken, OKX and Bitget send a CRC32 of the top of their book with book updates; a client
//! that computes the same over its own book after applying the update knows the book is right
//! (these venues have no sequence chain, or had none: the checksum is the gap detector). Both
//! formats hash the text the exchange sent for each price and size, so the book must be a
//! [`WireBook`], which keeps each level's received decimal widths. The functions write the text
//! into a caller-owned buffer that is reused from call to call: nothing is allocated per level.
//!
//! Rules as in `docs/exchanges/kraken.md` §5 "Checksum algorithm", `okx.md` §5 "Checksum" and
//! `bitget.md` §5 "Checksum algorithm" (from the exchanges' own docs), with their worked examples
//! as tests.

use crate::book::{BookSide, WireBook, WireLevel};
use crate::fixed;

/// Levels per side in a Kraken checksum, whatever the subscribed depth.
pub const KRAKEN_LEVELS: usize = 10;
/// Levels per side in an OKX or Bitget checksum.
pub const INTERLEAVED_LEVELS: usize = 25;

/// The checksum formats exchanges use, for a decoder to pick per venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Kraken WS v1 `book-N` and v2 `book`: see [`kraken`].
    Kraken,
    /// OKX v5 `books` / `books-l2-tbt` / `books50-l2-tbt` and Bitget `books`: see [`interleaved`].
    Interleaved,
}

impl Format {
    /// The checksum of `book` in this format, as the 32 bits of the CRC: compare with Kraken's
    /// value as `u32`, with OKX's and Bitget's signed value as `i32 as u32`.
    pub fn compute(self, book: &WireBook, buf: &mut Vec<u8>) -> u32 {
        self.compute_at(book, 8, 8, buf)
    }

    /// [`Format::compute`] for a book whose prices are fixed point with `price_scale` decimals
    /// and sizes with `size_scale` (the decoder's per-book scales; `compute` is this at 8 and 8).
    pub fn compute_at(self, book: &WireBook, price_scale: u8, size_scale: u8, buf: &mut Vec<u8>) -> u32 {
        let scales = (price_scale, size_scale);
        match self {
            Format::Kraken => kraken_text(book.asks(KRAKEN_LEVELS), book.bids(KRAKEN_LEVELS), scales, buf),
            Format::Interleaved => {
                interleaved_text(book.bids(INTERLEAVED_LEVELS), book.asks(INTERLEAVED_LEVELS), scales, buf);
            }
        }
        crc32fast::hash(buf)
    }
}

/// A book's last checksum, kept per level so the next one rewrites only the levels that changed
/// (an update moves one or two levels of the top 10 or 25, often none): each level of the last
/// text with its value and widths, where its text ends, and the CRC. Nothing in it depends on
/// anything but the levels and the scales, so it never needs invalidating: a book reset or a
/// resync just finds fewer equal levels.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    /// The format and scales the text below was written for.
    key: Option<(Format, u8, u8)>,
    levels: Vec<WireLevel>,
    /// End of each level's text in `text` (index-aligned with `levels`).
    ends: Vec<usize>,
    /// The hashed text (Kraken) or it with its last ':' (interleaved), then `COPY` spare bytes.
    text: Vec<u8>,
    crc: u32,
    /// The previous generation, reused as the next one's storage.
    old_levels: Vec<WireLevel>,
    old_ends: Vec<usize>,
    old_text: Vec<u8>,
    /// The interleaved format's memo.
    interleaved: Interleaved,
}

/// The interleaved format's memo: the texts (`price:size:`) of the levels of the last
/// checksum, each in a fixed-size slot of one arena that never moves, and per side the top
/// levels with their slots. A level that stays in the top keeps its slot however far it moves;
/// a slot whose level left is reused.
#[derive(Debug, Clone, Default)]
struct Interleaved {
    /// The slots, indexed by the `u32`s below; freed ones are listed in `free`.
    arena: Vec<Slot>,
    free: Vec<u32>,
    /// Per side (bids, asks): the top levels, best first, and each one's slot.
    levels: [Vec<WireLevel>; 2],
    slots: [Vec<u32>; 2],
    /// The generation before, reused as storage.
    old_levels: [Vec<WireLevel>; 2],
    old_slots: [Vec<u32>; 2],
    /// The hashed text, joined from the slots (longer: only its start is the text).
    joined: Vec<u8>,
}

/// Bytes of a level's slot in [`Interleaved`]: a text that does not fit (a 19-digit price with
/// 20 decimals) computes that checksum without the memo.
const SLOT: usize = 48;

/// One level's text in [`Interleaved`]: `text[..len]`, its price part (`price:`) the first
/// `price_len` bytes. Text and lengths side by side: joining a slot reads one record.
#[derive(Debug, Clone, Copy)]
struct Slot {
    text: [u8; SLOT],
    len: u8,
    price_len: u8,
}

impl Interleaved {
    fn clear(&mut self) {
        self.arena.clear();
        self.free.clear();
        for s in 0..2 {
            self.levels[s].clear();
            self.slots[s].clear();
        }
    }

    /// Give one side its slots for its new levels (`BIDS`: the bids, descending by price; else
    /// the asks, ascending). Both generations are sorted, so one merge pass pairs each level
    /// with the last generation's level at its price, wherever an insert or delete above moved
    /// it: the same level keeps its slot, a new size at the same price copies the price's text
    /// into a new slot and writes the size, anything else is written; the slots of levels that
    /// left are freed. A side whose levels did not change (`unchanged`) keeps its slots as they
    /// are. False if a text did not fit its slot. The side is a const parameter and the merge
    /// runs over slices of equal length: no multiplication per comparison, no bounds checks.
    #[inline]
    fn update<const BIDS: bool>(&mut self, unchanged: bool, price_scale: u8, size_scale: u8) -> bool {
        if unchanged {
            return true;
        }
        let s = usize::from(!BIDS);
        let Interleaved { arena, free, levels, slots, old_levels, old_slots, .. } = self;
        std::mem::swap(&mut slots[s], &mut old_slots[s]);
        let (new, out) = (&levels[s], &mut slots[s]);
        out.clear();
        out.reserve(new.len());
        // The old levels and their slots, index-aligned (equal lengths by construction).
        let n_old = old_levels[s].len().min(old_slots[s].len());
        let (old, old_slot) = (&old_levels[s][..n_old], &old_slots[s][..n_old]);
        // A level's text is written here in place, then moved into its slot as one block
        // (`write_scaled_at` copies SLOT bytes: room for a size block after a full price).
        let mut text = [0u8; 2 * SLOT + 8];
        let mut j = 0;
        for l in new {
            // Old levels better than this one have gone from the top since.
            while j < n_old && if BIDS { old[j].price > l.price } else { old[j].price < l.price } {
                free.push(old_slot[j]);
                j += 1;
            }
            let p = if j < n_old && old[j].price == l.price && old[j].widths.price == l.widths.price {
                let from = old_slot[j];
                j += 1;
                if old[j - 1] == *l {
                    out.push(from);
                    continue;
                }
                free.push(from);
                let from = &arena[from as usize];
                text[..SLOT].copy_from_slice(&from.text);
                usize::from(from.price_len)
            } else {
                let Some(end) = fixed::write_scaled_at(&mut text, 0, l.price, price_scale, l.widths.price) else {
                    return false;
                };
                text[end] = b':';
                end + 1
            };
            let Some(end) = fixed::write_scaled_at(&mut text, p, l.size, size_scale, l.widths.size) else {
                return false;
            };
            let len = end + 1; // with its ':'
            if len > SLOT {
                return false;
            }
            text[end] = b':';
            let mut block = [0u8; SLOT];
            block.copy_from_slice(&text[..SLOT]);
            #[allow(clippy::cast_possible_truncation)] // both at most SLOT
            out.push(new_slot(arena, free, Slot { text: block, len: len as u8, price_len: p as u8 }));
        }
        free.extend_from_slice(&old_slot[j..]); // fell out of the top
        true
    }
}

/// Store `slot` in a free slot of `arena` (or a new one): its index.
#[inline]
fn new_slot(arena: &mut Vec<Slot>, free: &mut Vec<u32>, slot: Slot) -> u32 {
    if let Some(i) = free.pop() {
        arena[i as usize] = slot;
        return i;
    }
    arena.push(slot);
    #[allow(clippy::cast_possible_truncation)] // slots <= 2 * 25 + 2 * 25 live
    let i = (arena.len() - 1) as u32;
    i
}

/// A level's text moves from the old text to the new as one block of this many bytes.
const COPY: usize = 48;

impl Format {
    /// [`Format::compute_at`], reusing from `memo` the text of every level that is the same as
    /// in the last call with this memo: with the same levels, the last CRC itself.
    pub fn compute_memo(self, book: &WireBook, price_scale: u8, size_scale: u8, memo: &mut Memo) -> u32 {
        let key = Some((self, price_scale, size_scale));
        if self == Format::Interleaved {
            return interleaved_memo(book, price_scale, size_scale, memo);
        }
        // The levels in text order: Kraken's asks then bids, or bids and asks interleaved.
        let levels = &mut memo.old_levels;
        levels.clear();
        let shift = match self {
            Format::Kraken => {
                levels.extend(book.asks(KRAKEN_LEVELS).chain(book.bids(KRAKEN_LEVELS)));
                1
            }
            Format::Interleaved => {
                let mut bids = book.bids(INTERLEAVED_LEVELS);
                let mut asks = book.asks(INTERLEAVED_LEVELS);
                loop {
                    match (bids.next(), asks.next()) {
                        (Some(bid), Some(ask)) => levels.extend([bid, ask]),
                        (Some(bid), None) => {
                            levels.push(bid);
                            levels.extend(bids);
                            break;
                        }
                        (None, Some(ask)) => {
                            levels.push(ask);
                            levels.extend(asks);
                            break;
                        }
                        (None, None) => break,
                    }
                }
                2 // one more level on one side moves the other side's levels by two
            }
        };
        if memo.key == key && memo.levels == *levels {
            return memo.crc;
        }
        let same_key = memo.key == key;
        memo.key = key;
        std::mem::swap(&mut memo.levels, &mut memo.old_levels);
        std::mem::swap(&mut memo.ends, &mut memo.old_ends);
        std::mem::swap(&mut memo.text, &mut memo.old_text);
        let (levels, old_levels) = (&memo.levels, &memo.old_levels);
        let (ends, old_ends, text, old_text) = (&mut memo.ends, &memo.old_ends, &mut memo.text, &memo.old_text);
        ends.clear();
        text.clear();
        text.reserve(levels.len() * LEVEL_TEXT + COPY);
        let kraken = self == Format::Kraken;
        // The levels before the first change keep their text as one block.
        let same = if same_key { levels.iter().zip(old_levels).take_while(|(a, b)| a == b).count() } else { 0 };
        if same > 0 {
            text.extend_from_slice(&old_text[..old_ends[same - 1]]);
            ends.extend_from_slice(&old_ends[..same]);
        }
        for (i, &l) in levels.iter().enumerate().skip(same) {
            let found = if same_key {
                [i, i.wrapping_sub(shift), i + shift].into_iter().find(|&j| old_levels.get(j) == Some(&l))
            } else {
                None
            };
            if let Some(j) = found {
                let (from, to) = (if j == 0 { 0 } else { old_ends[j - 1] }, old_ends[j]);
                if to - from <= COPY {
                    // `old_text` has COPY spare bytes after its text: one fixed-size block.
                    let keep = text.len() + (to - from);
                    text.extend_from_slice(&old_text[from..from + COPY]);
                    text.truncate(keep);
                } else {
                    text.extend_from_slice(&old_text[from..to]);
                }
            } else if kraken {
                fixed::write_scaled(text, l.price, price_scale, l.widths.price, true);
                fixed::write_scaled(text, l.size, size_scale, l.widths.size, true);
            } else {
                fixed::write_scaled(text, l.price, price_scale, l.widths.price, false);
                text.push(b':');
                fixed::write_scaled(text, l.size, size_scale, l.widths.size, false);
                text.push(b':');
            }
            ends.push(text.len());
        }
        let len = text.len();
        let hashed = if kraken { len } else { len.saturating_sub(1) }; // without the last ':'
        memo.crc = crc32fast::hash(&text[..hashed]);
        text.resize(len + COPY, 0);
        memo.crc
    }
}

/// [`Format::compute_memo`] for the interleaved format: each side's top 25 read in two plain
/// loops and compared with the last; if either changed, the levels new to the top get their
/// text written into a slot (see [`Interleaved::update`]) and the slots are joined bid, ask,
/// bid, ... for the CRC.
fn interleaved_memo(book: &WireBook, price_scale: u8, size_scale: u8, memo: &mut Memo) -> u32 {
    let key = Some((Format::Interleaved, price_scale, size_scale));
    let m = &mut memo.interleaved;
    if memo.key != key {
        m.clear();
    }
    let mut unchanged = [memo.key == key; 2];
    for (s, side) in [BookSide::Bid, BookSide::Ask].into_iter().enumerate() {
        std::mem::swap(&mut m.levels[s], &mut m.old_levels[s]);
        m.levels[s].clear();
        book.top_into(side, INTERLEAVED_LEVELS, &mut m.levels[s]);
        unchanged[s] &= m.levels[s] == m.old_levels[s];
    }
    if unchanged == [true; 2] {
        return memo.crc;
    }
    memo.key = key;
    if !(m.update::<true>(unchanged[0], price_scale, size_scale)
        && m.update::<false>(unchanged[1], price_scale, size_scale))
    {
        m.clear();
        memo.key = None; // the next call writes every level again
        memo.crc = Format::Interleaved.compute_at(book, price_scale, size_scale, &mut memo.text);
        return memo.crc;
    }
    // Joined in a buffer kept at its largest length, so each slot is one fixed-size copy.
    let (bids, asks, text) = (&m.slots[0], &m.slots[1], &mut m.joined);
    let need = (bids.len() + asks.len()) * SLOT;
    if text.len() < need {
        text.resize(need, 0);
    }
    let mut at = 0;
    let mut put = |i: u32| {
        let slot = &m.arena[i as usize];
        text[at..at + SLOT].copy_from_slice(&slot.text);
        at += usize::from(slot.len);
    };
    for r in 0..bids.len().max(asks.len()) {
        if let Some(&i) = bids.get(r) {
            put(i);
        }
        if let Some(&i) = asks.get(r) {
            put(i);
        }
    }
    memo.crc = crc32fast::hash(&text[..at.saturating_sub(1)]); // without the last ':'
    memo.crc
}

/// Bytes a level's text can take in the usual case (two 20-digit numbers, a '.' and a ':'
/// each): reserved up front so the writes into `buf` do not grow it level by level.
const LEVEL_TEXT: usize = 2 * 22;

/// Write Kraken's checksum text of the top [`KRAKEN_LEVELS`] of `asks` then `bids` into `buf`
/// (cleared first), prices and sizes at `scales`.
#[inline]
fn kraken_text(
    asks: impl IntoIterator<Item = WireLevel>,
    bids: impl IntoIterator<Item = WireLevel>,
    (price_scale, size_scale): (u8, u8),
    buf: &mut Vec<u8>,
) {
    buf.clear();
    buf.reserve(2 * KRAKEN_LEVELS * LEVEL_TEXT);
    for l in asks.into_iter().take(KRAKEN_LEVELS).chain(bids.into_iter().take(KRAKEN_LEVELS)) {
        fixed::write_scaled(buf, l.price, price_scale, l.widths.price, true);
        fixed::write_scaled(buf, l.size, size_scale, l.widths.size, true);
    }
}

/// Write the OKX/Bitget checksum text of the top [`INTERLEAVED_LEVELS`] of `bids` and `asks`
/// into `buf` (cleared first), prices and sizes at `scales`.
#[inline]
fn interleaved_text(
    bids: impl IntoIterator<Item = WireLevel>,
    asks: impl IntoIterator<Item = WireLevel>,
    (price_scale, size_scale): (u8, u8),
    buf: &mut Vec<u8>,
) {
    buf.clear();
    buf.reserve(2 * INTERLEAVED_LEVELS * LEVEL_TEXT);
    let write = |buf: &mut Vec<u8>, l: WireLevel| {
        fixed::write_scaled(buf, l.price, price_scale, l.widths.price, false);
        buf.push(b':');
        fixed::write_scaled(buf, l.size, size_scale, l.widths.size, false);
        buf.push(b':');
    };
    let mut bids = bids.into_iter().take(INTERLEAVED_LEVELS);
    let mut asks = asks.into_iter().take(INTERLEAVED_LEVELS);
    // Pairs while both sides last, then the rest of the longer side alone.
    loop {
        match (bids.next(), asks.next()) {
            (Some(bid), Some(ask)) => {
                write(buf, bid);
                write(buf, ask);
            }
            (Some(bid), None) => {
                write(buf, bid);
                bids.for_each(|l| write(buf, l));
                break;
            }
            (None, Some(ask)) => {
                write(buf, ask);
                asks.for_each(|l| write(buf, l));
                break;
            }
            (None, None) => break,
        }
    }
    buf.pop(); // the ':' after the last size
}

/// Kraken's book checksum: CRC32 (IEEE, as zlib) of the top 10 asks, best (lowest) first, then
/// the top 10 bids, best (highest) first, each level written as its price then its size, as the
/// exchange sent them with the '.' removed and the leading zeros stripped ("0.05005" and
/// "0.00000500" give "5005" and "500"), without separators. Kraken compares it unsigned (v1 sends
/// it as the string `"c"` of an update, v2 as the integer `checksum` of snapshots and updates).
///
/// The book must already be truncated to the subscribed depth (Kraken sends no delete for a level
/// that falls out of range). Takes at most [`KRAKEN_LEVELS`] from each iterator; `buf` is cleared
/// and holds the hashed text afterwards. Levels are fixed point with 8 decimals.
pub fn kraken(
    asks: impl IntoIterator<Item = WireLevel>,
    bids: impl IntoIterator<Item = WireLevel>,
    buf: &mut Vec<u8>,
) -> u32 {
    kraken_text(asks, bids, (8, 8), buf);
    crc32fast::hash(buf)
}

/// OKX's and Bitget's book checksum: CRC32 (IEEE, as zlib) of the top 25 bids, best (highest)
/// first, and the top 25 asks, best (lowest) first, interleaved as
/// `bid1px:bid1sz:ask1px:ask1sz:bid2px:...`, each price and size exactly as sent (trailing zeros
/// kept: Bitget's "0.5000" is not "0.5"); once one side runs out, the other side's remaining
/// levels continue alone. The exchanges send it as a signed 32-bit integer, as returned here.
///
/// Takes at most [`INTERLEAVED_LEVELS`] from each iterator; `buf` is cleared and holds the hashed
/// text afterwards. Levels are fixed point with 8 decimals.
pub fn interleaved(
    bids: impl IntoIterator<Item = WireLevel>,
    asks: impl IntoIterator<Item = WireLevel>,
    buf: &mut Vec<u8>,
) -> i32 {
    interleaved_text(bids, asks, (8, 8), buf);
    i32::from_ne_bytes(crc32fast::hash(buf).to_ne_bytes()) // the same 32 bits, read signed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{BookSide, Widths};

    fn levels(pairs: &[(&str, &str)]) -> Vec<WireLevel> {
        pairs.iter().map(|&(p, s)| WireLevel::parse(p, s, "test").unwrap()).collect()
    }

    #[test]
    fn kraken_doc_example() {
        // kraken.md §5, the v1 doc's worked example: its "c" is "974947235".
        let asks = [
            "0.05005", "0.05010", "0.05015", "0.05020", "0.05025", "0.05030", "0.05035", "0.05040", "0.05045",
            "0.05050",
        ];
        let bids = [
            "0.05000", "0.04995", "0.04990", "0.04980", "0.04975", "0.04970", "0.04965", "0.04960", "0.04955",
            "0.04950",
        ];
        let side = |prices: &[&str]| levels(&prices.iter().map(|&p| (p, "0.00000500")).collect::<Vec<_>>());
        let mut buf = Vec::new();
        let crc = kraken(side(&asks), side(&bids), &mut buf);
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            "50055005010500501550050205005025500503050050355005040500504550050505005000500499550049905004980500497550049705004965500496050049555004950500"
        );
        assert_eq!(crc, 974_947_235);
    }

    #[test]
    fn okx_doc_examples() {
        // okx.md §5: both worked examples, as the old OKEx v3 docs' signed `checksum` values.
        let mut buf = Vec::new();
        let crc =
            interleaved(levels(&[("3366.1", "7"), ("3366", "6")]), levels(&[("3366.8", "9"), ("3368", "8")]), &mut buf);
        assert_eq!((buf.as_slice(), crc), (&b"3366.1:7:3366.8:9:3366:6:3368:8"[..], -1_881_014_294));
        let crc =
            interleaved(levels(&[("3366.1", "7")]), levels(&[("3366.8", "9"), ("3368", "8"), ("3372", "8")]), &mut buf);
        assert_eq!((buf.as_slice(), crc), (&b"3366.1:7:3366.8:9:3368:8:3372:8"[..], 831_078_360));
    }

    #[test]
    fn bitget_doc_example_keeps_trailing_zeros() {
        // bitget.md §5: "43231.1:4:43232.8:9:43231:6:43232.9:8" (the CRC computed with zlib).
        let mut buf = Vec::new();
        let bids = levels(&[("43231.1", "4"), ("43231", "6")]);
        let crc = interleaved(bids, levels(&[("43232.8", "9"), ("43232.9", "8")]), &mut buf);
        assert_eq!((buf.as_slice(), crc), (&b"43231.1:4:43232.8:9:43231:6:43232.9:8"[..], -1_504_501_796));
        // The same value written "0.5000" and "0.5" hashes differently: the width is kept.
        let a = interleaved(levels(&[("0.5000", "1.10")]), [], &mut buf);
        assert_eq!(buf, b"0.5000:1.10");
        assert_ne!(a, interleaved(levels(&[("0.5", "1.1")]), [], &mut buf));
    }

    #[test]
    fn the_book_gives_the_levels_as_received() {
        let mut book = WireBook::default();
        let bids = levels(&[("3366", "6"), ("3366.1", "7")]); // any order in a snapshot
        book.load_snapshot(&bids, &levels(&[("3368", "8"), ("3366.8", "9")]), 0);
        let mut buf = Vec::new();
        assert_eq!(Format::Interleaved.compute(&book, &mut buf), u32::from_ne_bytes((-1_881_014_294i32).to_ne_bytes()));
        // An update rewrites a level's widths along with its size.
        book.set(BookSide::Bid, WireLevel::parse("3366.10", "7.0", "test").unwrap());
        Format::Interleaved.compute(&book, &mut buf);
        assert_eq!(buf, b"3366.10:7.0:3366.8:9:3366:6:3368:8");
        // Only the top 10 (Kraken) or 25 (OKX, Bitget) of each side count.
        let deep: Vec<WireLevel> = (1..=40).map(|p| WireLevel::parse(&format!("{p}.0"), "1", "t").unwrap()).collect();
        book.load_snapshot(&deep, &deep, 0);
        Format::Kraken.compute(&book, &mut buf);
        assert_eq!(buf, b"10120130140150160170180190110014001390138013701360135013401330132013101");
        Format::Interleaved.compute(&book, &mut buf);
        assert_eq!(memchr::memchr_iter(b':', &buf).count(), 4 * INTERLEAVED_LEVELS - 1);
    }

    /// The scaled form gives the same text and CRC as the 8-decimal one at 8 and 8, and the
    /// same text from a book kept at other scales.
    #[test]
    fn compute_at_any_scale() {
        let mut book = WireBook::default();
        let bids = levels(&[("3366.1", "7"), ("3366", "6.50")]);
        let asks = levels(&[("3366.8", "9"), ("3368.25", "0.008")]);
        book.load_snapshot(&bids, &asks, 0);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for format in [Format::Kraken, Format::Interleaved] {
            assert_eq!(format.compute(&book, &mut a), format.compute_at(&book, 8, 8, &mut b));
            assert_eq!(a, b);
            // The same levels at price scale 2 and size scale 3.
            let rescale = |l: &WireLevel| WireLevel { price: l.price / 1_000_000, size: l.size / 100_000, ..*l };
            let mut small = WireBook::default();
            let (sb, sa): (Vec<_>, Vec<_>) = (bids.iter().map(rescale).collect(), asks.iter().map(rescale).collect());
            small.load_snapshot(&sb, &sa, 0);
            let mut c = Vec::new();
            assert_eq!(format.compute_at(&small, 2, 3, &mut c), format.compute(&book, &mut a));
            assert_eq!(c, a);
        }
    }

    /// A level whose text does not fit a memo slot (here 40 decimals) computes that checksum
    /// without the memo, and the next ones agree again.
    #[test]
    fn memo_with_a_text_longer_than_a_slot() {
        let mut book = WireBook::default();
        book.load_snapshot(&levels(&[("3366.1", "7")]), &levels(&[("3366.8", "9")]), 0);
        let (mut memo, mut buf) = (Memo::default(), Vec::new());
        let wide = WireLevel { price: 336_600_000_000, size: 100_000_000, widths: Widths { price: 8, size: 40 } };
        for (side, level) in [(BookSide::Bid, wide), (BookSide::Ask, WireLevel { price: 336_700_000_000, ..wide })] {
            book.set(side, level);
            let fresh = Format::Interleaved.compute(&book, &mut buf);
            assert!(buf.len() > SLOT + 10, "the wide level alone takes more than a slot");
            assert_eq!(Format::Interleaved.compute_memo(&book, 8, 8, &mut memo), fresh);
            book.set(side, WireLevel { size: 0, ..level });
            let fresh = Format::Interleaved.compute(&book, &mut buf);
            assert_eq!(Format::Interleaved.compute_memo(&book, 8, 8, &mut memo), fresh);
        }
    }

    /// The memo gives the fresh checksum after every change: inserts and deletes at the top and
    /// below it, size and width changes, one side emptied, other scales.
    #[test]
    fn memo_agrees_with_a_fresh_computation() {
        let mut book = WireBook::default();
        let (mut kraken, mut interleaved) = (Memo::default(), Memo::default());
        let mut buf = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let side = if x & 1 == 0 { BookSide::Bid } else { BookSide::Ask };
            let offset = i64::try_from((x >> 8) % 40).unwrap();
            let price = if side == BookSide::Bid { 1_000 - offset } else { 1_001 + offset } * 1_000_000;
            let qty = if (x >> 16) % 4 == 0 { 0 } else { i64::try_from((x >> 20) % 1_000).unwrap() * 10_000 };
            let widths = Widths {
                price: 2 + u8::try_from((x >> 32) % 7).unwrap(),
                size: 6 + u8::try_from((x >> 40) % 3).unwrap(),
            };
            book.set(side, WireLevel { price, size: qty, widths });
            if step % 500 == 499 {
                book.load_snapshot(&[], &levels(&[("1000.00", "1.000000")]), 0);
                // one side empty
            }
            // Scales 8 and 8 mostly; now and then the same book read at a wider size scale.
            let scales = if step % 97 == 0 { (8, 9) } else { (8, 8) };
            for (format, memo) in [(Format::Kraken, &mut kraken), (Format::Interleaved, &mut interleaved)] {
                let fresh = format.compute_at(&book, scales.0, scales.1, &mut buf);
                assert_eq!(format.compute_memo(&book, scales.0, scales.1, memo), fresh, "step {step} {format:?}");
            }
        }
    }
}
