//! Exchange book checksums on the real recordings (`tests/fixtures/{kraken,okx,bitget}`): the
//! books built through `tickwire::book` from every snapshot and delta reproduce every checksum
//! the exchange sent, and a corrupted level or a dropped delta is caught by the next one.
//!
//! The frames are read here with `serde_json` (the venue parsers come later); the levels go
//! through the core's decimal parser (`WireLevel::parse`) and book (`WireBook`), and the
//! checksums through `tickwire::checksum`. Book rules as the exchange docs give them
//! (`docs/exchanges/{kraken,okx,bitget}.md`): absolute sizes, 0 deletes; Kraken levels in array
//! order (republished `"r"` levels like any other), each side truncated to the subscribed depth
//! after the whole message; OKX and Bitget snapshots carry a checksum too.
//!
//! What the recordings do not exercise: no Kraken book here grows to its subscribed depth (1000;
//! the deepest snapshot side has 849 levels), so truncation never drops a level (the book's own
//! tests cover truncation), and none has a republished `"r"` level.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tickwire::book::BookSide;
use tickwire::checksum::Format;
use tickwire::{fixed, WireBook, WireLevel};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn frames(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(rel)).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{rel}: {e}: {l}"))).collect()
}

/// The count tests/fixtures/SOURCES.md (copied from the shared PROVENANCE.md) gives for `rel`:
/// "Checksum: yes (N messages carry a checksum)".
fn documented_checksums(rel: &str) -> usize {
    let sources = std::fs::read_to_string(fixture("SOURCES.md")).unwrap();
    let entry = &sources[sources.find(&format!("#### `{rel}`")).unwrap()..];
    let line = entry.lines().find(|l| l.starts_with("- Checksum: yes (")).unwrap();
    line["- Checksum: yes (".len()..].split(' ').next().unwrap().parse().unwrap()
}

/// One book message of a recording, normalized: which book, snapshot or delta, the levels in
/// the order sent, the depth to truncate to, and the checksum sent with it (the CRC's 32 bits).
#[derive(Clone)]
struct Update {
    book: String,
    snapshot: bool,
    bids: Vec<WireLevel>,
    asks: Vec<WireLevel>,
    depth: Option<usize>,
    checksum: Option<u32>,
}

/// `["price","size",...]` rows as levels, checking that each string is reproduced exactly from
/// the fixed-point value and its width (so every value fits the scale and keeps its text).
fn levels(rows: Option<&Value>) -> Vec<WireLevel> {
    let rows = rows.map_or(&[][..], |v| v.as_array().unwrap().as_slice());
    rows.iter()
        .map(|row| {
            let (price, size) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
            let level = WireLevel::parse(price, size, "level").unwrap_or_else(|e| panic!("{row}: {e}"));
            for (text, value, width) in
                [(price, level.price, level.widths.price), (size, level.size, level.widths.size)]
            {
                let mut out = Vec::new();
                fixed::write_decimal(&mut out, value, width);
                assert_eq!(out, text.as_bytes(), "{row}");
            }
            level
        })
        .collect()
}

/// Kraken WS v1 `book-N`: `[channelID, {"as","bs"}, "book-N", pair]` snapshots, and
/// `[channelID, {"a"|"b", "c"?}, ({"b","c"?},)? "book-N", pair]` updates; the depth comes from
/// the channel's `subscriptionStatus` ack.
fn kraken_updates(frames: &[Value]) -> Vec<Update> {
    let mut depth_of = HashMap::new(); // channelID -> subscribed depth
    let mut out = Vec::new();
    for f in frames {
        if f["event"] == "subscriptionStatus" {
            depth_of.insert(f["channelID"].as_u64().unwrap(), f["subscription"]["depth"].as_u64().unwrap());
            continue;
        }
        let Some(parts) = f.as_array() else { continue };
        let pair = parts[parts.len() - 1].as_str().unwrap().to_owned();
        let depth = usize::try_from(depth_of[&parts[0].as_u64().unwrap()]).unwrap();
        let body = &parts[1..parts.len() - 2];
        let (mut bids, mut asks, mut checksum) = (Vec::new(), Vec::new(), None);
        let snapshot = body[0].get("as").is_some() || body[0].get("bs").is_some();
        for part in body {
            let (b, a) = if snapshot { ("bs", "as") } else { ("b", "a") };
            bids.extend(levels(part.get(b)));
            asks.extend(levels(part.get(a)));
            if let Some(c) = part.get("c") {
                checksum = Some(c.as_str().unwrap().parse::<u32>().unwrap());
            }
        }
        out.push(Update { book: pair, snapshot, bids, asks, depth: Some(depth), checksum });
    }
    out
}

/// OKX v5 and Bitget v1 `books`: `{"arg":{"channel":"books","instId"},"action","data":[{asks,
/// bids,checksum}]}`, rows `[price, size, ...]`; the checksum is a signed 32-bit integer.
fn interleaved_updates(frames: &[Value]) -> Vec<Update> {
    let mut out = Vec::new();
    for f in frames.iter().filter(|f| f["arg"]["channel"] == "books" && f.get("data").is_some()) {
        let book = f["arg"]["instId"].as_str().unwrap().to_owned();
        let snapshot = match f["action"].as_str().unwrap() {
            "snapshot" => true,
            "update" => false,
            other => panic!("unknown action {other}"),
        };
        for item in f["data"].as_array().unwrap() {
            let checksum = item.get("checksum").map(|c| {
                let signed = i32::try_from(c.as_i64().unwrap()).unwrap();
                u32::from_ne_bytes(signed.to_ne_bytes())
            });
            let (bids, asks) = (levels(item.get("bids")), levels(item.get("asks")));
            out.push(Update { book: book.clone(), snapshot, bids, asks, depth: None, checksum });
        }
    }
    out
}

/// Frames of a recording that carry a checksum, counted on the raw JSON: Kraken's `"c"` in any
/// object of an array frame; OKX's and Bitget's `checksum` in any `data` item.
fn frames_with_checksum(frames: &[Value]) -> usize {
    let has = |v: &Value, key: &str| v.as_object().is_some_and(|o| o.contains_key(key));
    frames
        .iter()
        .filter(|f| match f {
            Value::Array(parts) => parts.iter().any(|p| has(p, "c")),
            _ => f.get("data").and_then(Value::as_array).is_some_and(|d| d.iter().any(|i| has(i, "checksum"))),
        })
        .count()
}

#[derive(Debug, Default)]
struct Tally {
    verified: usize,
    mismatches: usize,
}

/// Apply one update to its book (then truncate), as the exchange's rules say.
fn apply(book: &mut WireBook, u: &Update) {
    if u.snapshot {
        book.load_snapshot(&u.bids, &u.asks, 0);
    } else {
        for &l in &u.bids {
            book.set(BookSide::Bid, l);
        }
        for &l in &u.asks {
            book.set(BookSide::Ask, l);
        }
    }
    if let Some(depth) = u.depth {
        book.truncate(depth);
    }
}

/// Replay `updates` into one book per symbol, checking every checksum sent.
fn replay(updates: &[Update], format: Format) -> Tally {
    let mut books: HashMap<&str, WireBook> = HashMap::new();
    let mut buf = Vec::new();
    let mut tally = Tally::default();
    for u in updates {
        let book = books.entry(&u.book).or_default();
        apply(book, u);
        if let Some(sent) = u.checksum {
            if format.compute(book, &mut buf) == sent {
                tally.verified += 1;
            } else {
                tally.mismatches += 1;
            }
        }
    }
    tally
}

fn check_recording(rel: &str, format: Format, updates: fn(&[Value]) -> Vec<Update>) {
    let frames = frames(rel);
    let expected = frames_with_checksum(&frames);
    assert_eq!(expected, documented_checksums(rel), "{rel}: frames with a checksum vs SOURCES.md");
    let tally = replay(&updates(&frames), format);
    assert_eq!((tally.verified, tally.mismatches), (expected, 0), "{rel}");
}

const KRAKEN: &str = "kraken/book1000_checksum_8pairs_20210417.jsonl";
const OKX: &str = "okx/books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl";
const BITGET: [&str; 2] = [
    "bitget/mix_v1_books_ticker_trade_candle_checksum_dashusdt_20220407.jsonl",
    "bitget/spot_v1_books_ticker_trade_candle_checksum_7sym_20220407.jsonl",
];

#[test]
fn kraken_book_reproduces_every_checksum() {
    check_recording(KRAKEN, Format::Kraken, kraken_updates);
}

#[test]
fn okx_book_reproduces_every_checksum() {
    check_recording(OKX, Format::Interleaved, interleaved_updates);
}

#[test]
fn bitget_book_reproduces_every_checksum() {
    for rel in BITGET {
        check_recording(rel, Format::Interleaved, interleaved_updates);
    }
}

/// What a damaged book shows at the next checksum of its symbol.
#[derive(Debug, Default)]
struct Detection {
    /// Messages damaged (each followed by a delta of the same book with a checksum).
    cases: usize,
    /// Damage that left the checksummed text different from the true book's: the exchange's
    /// checksum must then mismatch.
    visible: usize,
    detected: usize,
    /// Damage the next message repaired (it set the damaged level again: sizes are absolute).
    repaired: usize,
    /// Damage outside what the checksum covers (below the top 10 or 25 levels).
    invisible: usize,
}

/// A damaged book, and the one level damaged in it if that is all (side, price).
type Damaged = (WireBook, Option<(BookSide, i64)>);

/// Damage each book once per message and look at the next message of the same book: `damage`
/// gets the book before message `i`, message `i` and the book after it, and returns the damaged
/// book, or None to skip. The next message `j` is applied to the damaged book and its checksum
/// computed.
fn detect(
    updates: &[Update],
    format: Format,
    damage: impl Fn(&WireBook, &Update, &WireBook) -> Option<Damaged>,
) -> Detection {
    // The true book's checksummed text after each message, and each message's successor.
    let mut truth = vec![Vec::new(); updates.len()];
    let mut next = vec![None; updates.len()];
    let mut last: HashMap<&str, usize> = HashMap::new();
    let mut books: HashMap<&str, WireBook> = HashMap::new();
    for (i, u) in updates.iter().enumerate() {
        let book = books.entry(&u.book).or_default();
        apply(book, u);
        format.compute(book, &mut truth[i]);
        if let Some(prev) = last.insert(&u.book, i) {
            next[prev] = Some(i);
        }
    }
    let mut books: HashMap<&str, WireBook> = HashMap::new();
    let mut seen = Detection::default();
    let mut buf = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let book = books.entry(&u.book).or_default();
        let before = book.clone();
        apply(book, u);
        let Some(j) = next[i].filter(|&j| !updates[j].snapshot && updates[j].checksum.is_some()) else { continue };
        let Some((mut damaged, level)) = damage(&before, u, book) else { continue };
        seen.cases += 1;
        apply(&mut damaged, &updates[j]);
        let crc = format.compute(&damaged, &mut buf);
        let set_again = |(side, price): (BookSide, i64)| {
            let levels = if side == BookSide::Bid { &updates[j].bids } else { &updates[j].asks };
            levels.iter().any(|l| l.price == price)
        };
        if level.is_some_and(set_again) {
            seen.repaired += 1;
        } else if buf != truth[j] {
            seen.visible += 1;
            seen.detected += usize::from(Some(crc) != updates[j].checksum);
        } else {
            seen.invisible += 1;
        }
        // A checksum that matches means the text matches: nothing visible was lost.
        assert!(Some(crc) != updates[j].checksum || buf == truth[j], "message {j} of {}", u.book);
    }
    seen
}

/// The best bid's size (or the best ask's, on a book without bids) one unit of its last written
/// digit larger: "2332.63400000" becomes "2332.63400001".
fn corrupt_best(book: &WireBook) -> Option<Damaged> {
    let (side, level) = match book.best_bid() {
        Some(l) => (BookSide::Bid, l),
        None => (BookSide::Ask, book.best_ask()?),
    };
    let unit = 10i64.pow(fixed::DECIMALS - u32::from(level.widths.size).min(fixed::DECIMALS));
    let mut damaged = book.clone();
    damaged.set(side, WireLevel { size: level.size + unit, ..level });
    Some((damaged, Some((side, level.price))))
}

/// Dropping message `i` of a book (a delta): the book stays as it was before it.
fn drop_delta(before: &WireBook, u: &Update, _after: &WireBook) -> Option<Damaged> {
    (!u.snapshot).then(|| (before.clone(), None))
}

fn check_detection(rel: &str, format: Format, updates: fn(&[Value]) -> Vec<Update>) {
    let updates = updates(&frames(rel));
    let corrupted = detect(&updates, format, |_, _, after| corrupt_best(after));
    // A corrupted best level is caught by the next checksum unless the next message sets it again.
    assert!(corrupted.visible > 0, "{rel}: {corrupted:?}");
    assert_eq!((corrupted.detected, corrupted.invisible), (corrupted.visible, 0), "{rel}: {corrupted:?}");
    assert_eq!(corrupted.cases, corrupted.visible + corrupted.repaired, "{rel}: {corrupted:?}");
    // A dropped delta is caught whenever it changed what the checksum covers (the top 10 or 25).
    let dropped = detect(&updates, format, drop_delta);
    assert!(dropped.visible > 0, "{rel}: {dropped:?}");
    assert_eq!(dropped.detected, dropped.visible, "{rel}: {dropped:?}");
    assert_eq!(dropped.cases, dropped.visible + dropped.invisible, "{rel}: {dropped:?}");
}

#[test]
fn kraken_detects_a_corrupted_level_or_a_dropped_delta() {
    check_detection(KRAKEN, Format::Kraken, kraken_updates);
}

#[test]
fn okx_detects_a_corrupted_level_or_a_dropped_delta() {
    check_detection(OKX, Format::Interleaved, interleaved_updates);
}

#[test]
fn bitget_detects_a_corrupted_level_or_a_dropped_delta() {
    for rel in BITGET {
        check_detection(rel, Format::Interleaved, interleaved_updates);
    }
}
