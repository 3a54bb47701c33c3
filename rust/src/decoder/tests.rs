//! The decoder's generic behaviour: the Binance state machine tables (a REST venue), and the
//! other contract paths through a small test-only venue (`Toy`) whose frames are written by hand
//! below, so each test states its input in full.

use super::*;
use crate::checksum;
use crate::exchanges::{SeqIds, TradeId, TradeItem};

// ---------------------------------------------------------------------------------------------
// Binance: the REST-bridge state machine
// ---------------------------------------------------------------------------------------------

/// A spot depth frame for TESTUSDT with update ids `first..=last` and one bid level.
fn delta(first: u64, last: u64) -> Vec<u8> {
    format!(
        r#"{{"stream":"testusdt@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"TESTUSDT","U":{first},"u":{last},"b":[["{last}","1"]],"a":[]}}}}"#
    )
    .into_bytes()
}

fn snapshot(id: u64) -> Vec<u8> {
    format!(r#"{{"lastUpdateId":{id},"bids":[["1","1"]],"asks":[]}}"#).into_bytes()
}

/// A spot decoder whose TEST/USDT book is in `state` (book sequence 100 when not awaiting).
fn decoder_in(state: BookSyncState) -> Decoder {
    let mut d = Decoder::new("binance", None, &[]).unwrap();
    let i = d.register("TEST/USDT").unwrap();
    if state != BookSyncState::AwaitingSnapshot {
        d.apply_snapshot("TEST/USDT", &snapshot(100), 0).unwrap();
        d.symbols[i].sync = state;
    }
    d
}

fn sync_lost(d: &Decoder) -> Vec<SyncLoss> {
    d.events.iter().filter_map(|e| if let Event::SyncLost { reason, .. } = e { Some(*reason) } else { None }).collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Buffered,
    Stale,
    Applied,
    Gap,
}

/// The state machine, one row per (state, delta) case: what happens to the delta, the state
/// after it and the book's sequence after it. Spot rules (binance.md §5): from a snapshot with
/// lastUpdateId 100 the first delta must have U <= 101 <= u; then U <= id+1.
#[test]
fn book_sync_state_machine() {
    use BookSyncState::{AwaitingSnapshot, Bridging, Live};
    use Outcome::{Applied, Buffered, Gap, Stale};
    // (state before, delta's (U, u), what happens, state after, book sequence after)
    type Row = (BookSyncState, (u64, u64), Outcome, BookSyncState, Option<u64>);
    #[rustfmt::skip]
    let table: &[Row] = &[
        // awaiting a snapshot: every delta is buffered, whatever its ids
        (AwaitingSnapshot, (1, 5), Buffered, AwaitingSnapshot, None),
        (AwaitingSnapshot, (101, 110), Buffered, AwaitingSnapshot, None),
        // bridging the snapshot (id 100)
        (Bridging(100), (90, 99), Stale, Bridging(100), Some(100)),
        (Bridging(100), (90, 100), Stale, Bridging(100), Some(100)),
        (Bridging(100), (90, 101), Applied, Live, Some(101)),
        (Bridging(100), (101, 101), Applied, Live, Some(101)),
        (Bridging(100), (101, 130), Applied, Live, Some(130)),
        (Bridging(100), (102, 130), Gap, AwaitingSnapshot, None),
        // live at 100
        (Live, (95, 100), Stale, Live, Some(100)),
        (Live, (1, 2), Stale, Live, Some(100)),
        (Live, (101, 105), Applied, Live, Some(105)),
        (Live, (99, 105), Applied, Live, Some(105)),
        (Live, (102, 105), Gap, AwaitingSnapshot, None),
    ];
    for (n, &(state, (first, last), ref outcome, after, sequence)) in table.iter().enumerate() {
        let mut d = decoder_in(state);
        let before = d.stats.clone();
        d.feed(&delta(first, last), 7).unwrap();
        let s = &d.symbols[0];
        let row = format!("row {n}: {state:?} + U={first} u={last}");
        assert_eq!((s.sync, s.book.sequence), (after, sequence), "{row}");
        let got = if d.stats.gaps > before.gaps {
            Gap
        } else if d.stats.buffered_deltas > before.buffered_deltas {
            Buffered
        } else if d.stats.stale_deltas > before.stale_deltas {
            Stale
        } else {
            Applied
        };
        assert_eq!(&got, outcome, "{row}");
        // An applied delta yields a BookUpdate at its final id; a gap a SyncLost; nothing else.
        match got {
            Applied => assert!(
                matches!(d.events[..], [Event::BookUpdate { sequence: Some(s), receive_ts: 7, .. }] if s == last),
                "{row}"
            ),
            Gap => {
                assert_eq!(sync_lost(&d), [SyncLoss::Gap { expected: 101, received: first }], "{row}");
                assert_eq!(d.events.len(), 1, "{row}");
            }
            _ => assert!(d.events.is_empty(), "{row}"),
        }
        // A gap keeps the delta (buffered for the next snapshot) and empties the book.
        if got == Gap {
            assert_eq!((s.buffer.len(), s.book.depth()), (1, (0, 0)), "{row}");
            assert_eq!(s.stats.gaps, 1, "{row}");
        }
    }
}

/// Every delta counts toward `deltas_seen`, whatever its verdict: buffered, applied, stale
/// or a gap.
#[test]
fn deltas_seen_spans_every_delta() {
    let mut d = decoder_in(BookSyncState::AwaitingSnapshot);
    assert_eq!(d.symbols[0].deltas_seen, None);
    d.feed(&delta(95, 99), 0).unwrap(); // buffered
    d.apply_snapshot("TEST/USDT", &snapshot(100), 0).unwrap(); // the buffered one is stale
    d.feed(&delta(101, 103), 0).unwrap(); // applied
    d.feed(&delta(90, 92), 0).unwrap(); // stale
    d.feed(&delta(200, 201), 0).unwrap(); // a gap
    assert_eq!(sync_lost(&d).len(), 1);
    assert_eq!(d.symbols[0].deltas_seen, Some(DeltaSpan { count: 4, first: 95, last: 201 }));
}

/// `apply_snapshot` replays what was buffered by the same rules, row by row: the buffered
/// deltas, the snapshot's id, then the state, sequence and events after it.
#[test]
fn snapshot_replays_the_buffer() {
    use BookSyncState::{AwaitingSnapshot, Bridging, Live};
    // (buffered (U, u), snapshot id, gap or not, state after, sequence after, BookUpdates)
    type Row = (&'static [(u64, u64)], u64, Result<(), ()>, BookSyncState, Option<u64>, usize);
    #[rustfmt::skip]
    let table: &[Row] = &[
        // nothing buffered: the snapshot alone (one BookUpdate), waiting to bridge
        (&[], 100, Ok(()), Bridging(100), Some(100), 1),
        // old deltas dropped, the bridging one and its successors applied
        (&[(90, 95), (96, 100), (101, 103), (104, 110)], 100, Ok(()), Live, Some(110), 3),
        // only stale deltas: still bridging
        (&[(90, 95), (96, 100)], 100, Ok(()), Bridging(100), Some(100), 1),
        // the snapshot is older than every buffered delta: a gap, deltas kept
        (&[(105, 110)], 100, Err(()), AwaitingSnapshot, None, 0),
        // a hole inside the buffer: a gap after the applied part
        (&[(101, 103), (105, 110)], 100, Err(()), AwaitingSnapshot, None, 0),
    ];
    for (n, &(buffered, id, ref result, state, sequence, updates)) in table.iter().enumerate() {
        let mut d = decoder_in(AwaitingSnapshot);
        for &(first, last) in buffered {
            d.feed(&delta(first, last), 1).unwrap();
        }
        let got = d
            .apply_snapshot("TEST/USDT", &snapshot(id), 2)
            .map_err(|e| assert!(matches!(e, Error::SequenceGap { .. })));
        let s = &d.symbols[0];
        assert_eq!(&got, result, "row {n}");
        assert_eq!((s.sync, s.book.sequence, d.events.len()), (state, sequence, updates), "row {n}");
    }
}

// ---------------------------------------------------------------------------------------------
// A test-only venue
// ---------------------------------------------------------------------------------------------

/// A venue with a line format made for these tests. A frame is items separated by `|`:
/// - `book SYM snap|delta IDS CRC DEPTH LEVEL...`: IDS `-` or `first,last` or
///   `first,last,prev`; CRC `-` or a u32; DEPTH `-` or a count; LEVEL `b:price:size` or
///   `a:price:size` (decimals exactly as written);
/// - `seq N`: a connection counter; `trade SYM PRICE SIZE ID`; `hb`: a heartbeat;
/// - `bad`: a parse error (after whatever the items before it pushed).
///
/// Sequence rule: `last` at or below the book's is stale; `first == book + 1` (or `prev ==
/// book`) applies; anything else is a gap expecting book + 1.
struct Toy {
    recovery: Recovery,
    checksum: Option<checksum::Format>,
    /// Whole-book pushes: a snapshot whose `last` is at or below the book's is stale.
    full_books: bool,
}

fn dec_of(text: &str) -> Result<Dec, Error> {
    fixed::parse_dec(text, "toy")
}

impl Venue for Toy {
    fn id(&self) -> &'static str {
        "toy"
    }
    fn market(&self) -> &'static str {
        "spot"
    }
    fn parse(&mut self, frame: &[u8], _binary: bool, out: &mut Out) -> Result<(), Error> {
        let text = std::str::from_utf8(frame).map_err(|_| Error::frame("toy", "not UTF-8"))?;
        for item in text.split('|').map(str::trim).filter(|s| !s.is_empty()) {
            let t: Vec<&str> = item.split_whitespace().collect();
            match t[0] {
                "book" => {
                    let symbol = out.symbol(t[1]);
                    let kind = if t[2] == "snap" { BookKind::Snapshot } else { BookKind::Delta };
                    let ids = (t[3] != "-").then(|| {
                        let n: Vec<u64> = t[3].split(',').map(|x| x.parse().unwrap()).collect();
                        SeqIds { first: n[0], last: n[1], prev: n.get(2).copied() }
                    });
                    let crc = (t[4] != "-").then(|| t[4].parse().unwrap());
                    let depth = (t[5] != "-").then(|| t[5].parse().unwrap());
                    let from = (out.bids.len(), out.asks.len());
                    for level in &t[6..] {
                        let f: Vec<&str> = level.split(':').collect();
                        let raw = RawLevel { price: dec_of(f[1])?, size: dec_of(f[2])? };
                        if f[0] == "b" {
                            out.bids.push(raw);
                        } else {
                            out.asks.push(raw);
                        }
                    }
                    out.book(symbol, kind, ids, crc, depth, Some(1), from);
                }
                "seq" => out.items.push(Item::ConnectionSeq(t[1].parse().unwrap())),
                "trade" => {
                    let symbol = out.symbol(t[1]);
                    let trade = TradeItem {
                        price: dec_of(t[2])?,
                        size: dec_of(t[3])?,
                        side: crate::event::Side::Buy,
                        trade_id: TradeId::Int(t[4].parse().unwrap()),
                        trade_ts: 1,
                        exchange_ts: 1,
                    };
                    out.items.push(Item::Trade { symbol, trade });
                }
                "hb" => out.items.push(Item::Heartbeat),
                _ => return Err(Error::frame("toy", format!("unknown item {item:?}"))),
            }
        }
        Ok(())
    }
    fn recovery(&self) -> Recovery {
        self.recovery
    }
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        if ids.last <= last {
            Verdict::Stale
        } else if ids.first == last + 1 || ids.prev == Some(last) {
            Verdict::Apply
        } else {
            Verdict::Gap { expected: last + 1, received: ids.first }
        }
    }
    fn checksum(&self) -> Option<checksum::Format> {
        self.checksum
    }
    fn stale_snapshot(&self, last: u64, ids: &SeqIds) -> bool {
        self.full_books && ids.last <= last
    }
    fn unified_symbol(&self, market_id: &str) -> String {
        format!("{market_id}/USD")
    }
    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        symbol.strip_suffix("/USD").map(str::to_owned).ok_or_else(|| Error::invalid("symbol", symbol, "not X/USD"))
    }
}

fn toy(recovery: Recovery) -> Decoder {
    Decoder::with_venue(Box::new(Toy { recovery, checksum: None, full_books: false }), &[])
}

fn feed(d: &mut Decoder, frame: &str) -> Vec<Event> {
    d.feed(frame.as_bytes(), 5).unwrap_or_else(|e| panic!("{frame}: {e}"));
    d.events.clone()
}

/// The book of `symbol` as exact decimal text, best first: (bids, asks).
fn levels(d: &Decoder, symbol: &str) -> (Vec<String>, Vec<String>) {
    let b = &d.symbol(d.find(symbol).unwrap()).book;
    let text = |side| {
        b.decimals(side, usize::MAX)
            .iter()
            .map(|l| format!("{}:{}", l.price.normalized(), l.size.normalized()))
            .collect()
    };
    (text(BookSide::Bid), text(BookSide::Ask))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A snapshot arriving again mid-stream replaces the whole book and its sequence (even a lower
/// one: a venue restart), and later deltas continue from it.
#[test]
fn a_snapshot_on_the_websocket_resets_the_book_mid_stream() {
    let mut d = toy(Recovery::Resubscribe);
    let ev = feed(&mut d, "book X snap 10,10 - - b:100:1 b:99:2 a:101:3");
    assert!(matches!(ev[..], [Event::BookUpdate { sequence: Some(10), .. }]));
    feed(&mut d, "book X delta 11,11 - - b:100:0 a:102:1");
    assert_eq!(levels(&d, "X/USD"), (strings(&["99:2"]), strings(&["101:3", "102:1"])));
    // The reset: the old levels are gone, the sequence is the snapshot's.
    let ev = feed(&mut d, "book X snap 5,5 - - b:98:4 a:103:5");
    assert!(matches!(ev[..], [Event::BookUpdate { sequence: Some(5), .. }]));
    assert_eq!(levels(&d, "X/USD"), (strings(&["98:4"]), strings(&["103:5"])));
    feed(&mut d, "book X delta 6,6 - - b:98.5:1");
    assert_eq!(levels(&d, "X/USD").0, strings(&["98.5:1", "98:4"]));
    assert_eq!((d.stats.snapshots, d.stats.deltas_applied, d.stats.gaps), (2, 2, 0));
    let s = &d.symbol(0).stats;
    assert_eq!((s.snapshots, s.deltas_applied), (2, 2));
}

/// A venue that pushes the whole book every time says which pushes are stale
/// (`Venue::stale_snapshot`): those are dropped and counted, the book stays as it was; a newer
/// one replaces it. A book awaiting a snapshot (new, or after a sync loss) takes any.
#[test]
fn a_stale_full_book_push_is_dropped_and_counted() {
    let mut d =
        Decoder::with_venue(Box::new(Toy { recovery: Recovery::Resubscribe, checksum: None, full_books: true }), &[]);
    let ev = feed(&mut d, "book X snap 10,10 - - b:100:1 a:101:1");
    assert!(matches!(ev[..], [Event::BookUpdate { sequence: Some(10), .. }]));
    // Older and equal pushes: no event, the book and its sequence unchanged.
    for old in ["book X snap 9,9 - - b:90:1 a:91:1", "book X snap 10,10 - - b:80:1 a:81:1"] {
        assert!(feed(&mut d, old).is_empty(), "{old}");
    }
    assert_eq!(levels(&d, "X/USD"), (strings(&["100:1"]), strings(&["101:1"])));
    assert_eq!(d.symbol(0).book.sequence, Some(10));
    assert_eq!((d.stats.snapshots, d.stats.stale_snapshots, d.symbol(0).stats.snapshots), (1, 2, 1));
    // A newer push replaces the book.
    let ev = feed(&mut d, "book X snap 12,12 - - b:102:2 a:103:2");
    assert!(matches!(ev[..], [Event::BookUpdate { sequence: Some(12), .. }]));
    assert_eq!(levels(&d, "X/USD"), (strings(&["102:2"]), strings(&["103:2"])));
    // After a sync loss the book awaits a snapshot: an older push is taken.
    d.reset_book("X/USD").unwrap();
    feed(&mut d, "book X snap 11,11 - - b:101:3 a:104:3");
    assert_eq!((d.symbol(0).book.sequence, d.stats.stale_snapshots, d.stats.snapshots), (Some(11), 2, 3));
    // The default (every other venue): an older snapshot still replaces the book.
    let mut plain = toy(Recovery::Resubscribe);
    feed(&mut plain, "book X snap 10,10 - - b:100:1");
    feed(&mut plain, "book X snap 9,9 - - b:90:1");
    assert_eq!((plain.symbol(0).book.sequence, plain.stats.stale_snapshots), (Some(9), 0));
}

/// A resubscribe venue drops (and counts) deltas while a book awaits its snapshot, before the
/// first one and after a gap; a REST venue would buffer them.
#[test]
fn resubscribe_venues_drop_deltas_while_unsynced() {
    let mut d = toy(Recovery::Resubscribe);
    assert!(feed(&mut d, "book X delta 1,1 - - b:1:1").is_empty());
    assert_eq!((d.stats.dropped_deltas, d.stats.buffered_deltas), (1, 0));
    assert!(!d.symbol(0).synced());
    feed(&mut d, "book X snap 10,10 - - b:100:1");
    let ev = feed(&mut d, "book X delta 12,12 - - b:100:2");
    assert_eq!(sync_lost(&d), [SyncLoss::Gap { expected: 11, received: 12 }]);
    assert_eq!(ev.len(), 1);
    assert!(!d.symbol(0).synced() && d.symbol(0).book.depth() == (0, 0));
    for n in 13..16 {
        assert!(feed(&mut d, &format!("book X delta {n},{n} - - b:100:{n}")).is_empty());
    }
    assert_eq!((d.stats.dropped_deltas, d.stats.buffered_deltas, d.stats.gaps), (4, 0, 1));
    // A REST venue keeps them for the bridge instead.
    let mut rest = toy(Recovery::RestSnapshot);
    feed(&mut rest, "book X delta 1,1 - - b:1:1");
    assert_eq!((rest.stats.dropped_deltas, rest.stats.buffered_deltas), (0, 1));
}

/// A checksum is verified after the book applied the message and was truncated to its depth; a
/// mismatch is a `SyncLost` (the book empties and awaits a snapshot), counted per decoder and
/// per book; the frame's other items still apply.
#[test]
fn checksum_mismatch_is_sync_lost_and_unsynced() {
    let format = checksum::Format::Kraken;
    let mut d = Decoder::with_venue(
        Box::new(Toy { recovery: Recovery::Resubscribe, checksum: Some(format), full_books: false }),
        &[],
    );
    // The checksum the venue would send for a 2-level book (the third bid falls out of depth 2),
    // computed here over the levels as written.
    let wl = |p: &str, s: &str| WireLevel::parse(p, s, "t").unwrap();
    let mut truth = WireBook::default();
    truth.load_snapshot(&[wl("100.50", "1.000"), wl("100.00", "2.5")], &[wl("101.25", "3"), wl("102", "0.10")], 0);
    let crc = format.compute(&truth, &mut Vec::new());
    let frame = format!("book X snap - {crc} 2 b:100.50:1.000 b:100.00:2.5 b:99:7 a:101.25:3 a:102:0.10");
    let ev = feed(&mut d, &frame);
    assert!(matches!(ev[..], [Event::BookUpdate { sequence: None, .. }]), "{ev:?}");
    assert_eq!((d.stats.checksums_verified, d.symbol(0).stats.checksums_verified), (1, 1));
    assert_eq!(d.symbol(0).book.depth(), (2, 2), "truncated to depth 2");
    // A delta that does not give the sent checksum: one more level the venue did not have.
    let ev = feed(&mut d, &format!("trade X 1 1 7 | book X delta - {crc} 2 a:101.5:1 | trade X 1 2 8"));
    let computed = {
        truth.set(crate::book::BookSide::Ask, wl("101.5", "1"));
        truth.truncate(2);
        format.compute(&truth, &mut Vec::new())
    };
    assert!(
        matches!(
            ev[..],
            [
                Event::Trade { .. },
                Event::SyncLost { reason: SyncLoss::Checksum { expected, computed: c }, .. },
                Event::Trade { .. }
            ] if expected == crc && c == computed
        ),
        "{ev:?}"
    );
    assert!(!d.symbol(0).synced() && d.symbol(0).book.depth() == (0, 0));
    assert_eq!((d.stats.checksum_mismatches, d.symbol(0).stats.checksum_mismatches), (1, 1));
    assert_eq!(d.stats.gaps, 0, "a mismatch is not a sequence gap");
}

/// A break in the connection counter marks every synced book unsynced, one `SyncLost` each, in
/// order with the frame's other events; a book already unsynced gets none.
#[test]
fn a_connection_seq_gap_unsyncs_every_book() {
    let mut d = toy(Recovery::Resubscribe);
    feed(&mut d, "seq 1 | book X snap 1,1 - - b:1:1 | book Y snap 1,1 - - b:2:1");
    feed(&mut d, "seq 2 | book Z delta 1,1 - - b:3:1"); // Z never synced
    assert!(d.symbols().iter().take(2).all(SymbolState::synced));
    let ev = feed(&mut d, "trade X 1 1 1 | seq 4 | trade Y 1 1 2");
    let want = SyncLoss::ConnectionGap { expected: 3, received: 4 };
    assert!(
        matches!(
            ev[..],
            [
                Event::Trade { symbol: 0, .. },
                Event::SyncLost { symbol: 0, reason: r0, .. },
                Event::SyncLost { symbol: 1, reason: r1, .. },
                Event::Trade { symbol: 1, .. }
            ] if r0 == want && r1 == want
        ),
        "{ev:?}"
    );
    assert!(d.symbols().iter().all(|s| !s.synced()));
    assert_eq!((d.stats.connection_gaps, d.stats.gaps), (2, 0));
    // The counter continues from the new value.
    assert!(feed(&mut d, "seq 5").is_empty());
}

/// A level with more decimals than the book's scale rescales the book in place (counted): the
/// levels already there keep their values, the new one is exact.
#[test]
fn a_value_with_more_decimals_rescales_the_book() {
    let mut d = toy(Recovery::Resubscribe);
    feed(&mut d, "book X snap 1,1 - - b:2683.8:1.5 a:2684.12345678:0.00000001");
    assert_eq!((d.symbol(0).book.price_scale, d.symbol(0).book.size_scale, d.stats.rescales), (8, 8, 0));
    feed(&mut d, "book X delta 2,2 - - b:2683.0000000001:0.000000000002");
    let book = &d.symbol(0).book;
    assert_eq!((book.price_scale, book.size_scale, d.stats.rescales), (10, 12, 1));
    assert_eq!(
        levels(&d, "X/USD"),
        (strings(&["2683.8:1.5", "2683.0000000001:0.000000000002"]), strings(&["2684.12345678:0.00000001"]))
    );
    // Trailing zeros beyond the scale need no rescale.
    feed(&mut d, "book X delta 3,3 - - a:2685.100000000000:1.0000000000000");
    assert_eq!(d.stats.rescales, 1);
}

/// A value that cannot be held at any scale the book's other values allow is a `FrameError`
/// naming it, and the frame changes nothing (not even the symbols it named first).
#[test]
fn overflow_is_a_frame_error_naming_the_value() {
    let mut d = toy(Recovery::Resubscribe);
    feed(&mut d, "book X snap 1,1 - - b:0.00000001:1");
    let before = (levels(&d, "X/USD"), d.symbol(0).book.price_scale);
    // 1e12 needs an integer part of 13 digits; at 8 decimals (what 0.00000001 needs) that is 21.
    let err = d.feed(b"book Y snap 1,1 - - b:5:1 | book X delta 2,2 - - a:1000000000000:1", 0).unwrap_err();
    assert!(
        matches!(&err, Error::Frame { field, reason } if field == "price" && reason.contains("1000000000000")),
        "{err}"
    );
    assert_eq!((levels(&d, "X/USD"), d.symbol(0).book.price_scale), before);
    assert_eq!((d.symbols().len(), d.find("Y/USD"), d.stats.bad_frames), (1, None, 1));
    assert!(d.events.is_empty());
    // A bad item after good ones: nothing of the frame applies either.
    assert!(d.feed(b"book X delta 2,2 - - b:7:1 | bad", 0).is_err());
    assert_eq!(levels(&d, "X/USD"), before.0);
    // A price not above 0 or a negative size names the level.
    let err = d.feed(b"book X delta 2,2 - - b:1:1 b:0:1", 0).unwrap_err();
    assert!(matches!(&err, Error::Frame { field, .. } if field == "bids[1]"), "{err}");
}

/// The extremes of issue 10, each kept exactly: 1e-10 prices, 1e13 sizes, a price written with
/// trailing zeros, 14-decimal values.
#[test]
fn extreme_values_are_exact() {
    for (price, size) in [
        ("0.0000000001", "1"),
        ("0.0000000002", "10000000000000"),
        ("9999999997.00000", "0.5"),
        ("0.00000000000001", "0.00000000000009"),
        ("12345.67890123456", "2"),
    ] {
        let mut d = toy(Recovery::Resubscribe);
        let ev = feed(&mut d, &format!("book X snap 1,1 - - b:{price}:{size}"));
        assert_eq!(ev.len(), 1, "{price} {size}");
        let best = d.symbol(0).book.best_bid().unwrap();
        assert!(best.price.same_value(dec_of(price).unwrap()), "{price}: {}", best.price);
        assert!(best.size.same_value(dec_of(size).unwrap()), "{size}: {}", best.size);
    }
    // 1e-10 prices and 1e13 sizes in one book: it rescales as needed and keeps both.
    let mut d = toy(Recovery::Resubscribe);
    feed(&mut d, "book X snap 1,1 - - b:0.0000000001:1");
    feed(&mut d, "book X delta 2,2 - - b:0.0000000002:10000000000000");
    assert_eq!(levels(&d, "X/USD").0, strings(&["0.0000000002:10000000000000", "0.0000000001:1"]));
    // The snapshot set the scales to its widths (10 and 0), where the 1e13 size fits as it is.
    assert_eq!((d.symbol(0).book.price_scale, d.symbol(0).book.size_scale), (10, 0));
    // A 1e10 price beside 1e-10 ones needs 21 digits: no i64 scale holds both, a FrameError.
    let err = d.feed(b"book X delta 3,3 - - a:9999999997.00000:0.5", 0).unwrap_err();
    assert!(err.to_string().contains("9999999997.00000"), "{err}");
    assert_eq!(levels(&d, "X/USD").1, Vec::<String>::new());
    // And 14 decimals beside it, likewise.
    let mut d = toy(Recovery::Resubscribe);
    feed(&mut d, "book X snap 1,1 - - a:9999999997.00000:0.5");
    assert!(d.feed(b"book X delta 2,2 - - b:0.00000000000001:1", 0).is_err());
    assert_eq!(levels(&d, "X/USD"), (vec![], strings(&["9999999997:0.5"])));
}

/// Instruments set each book's starting scales (their tick and lot decimals) and names.
#[test]
fn instruments_set_the_starting_scales() {
    let inst = Instrument {
        market_id: "X".into(),
        symbol: "X/USD".into(),
        tick_size: Some(dec_of("0.01").unwrap()),
        lot_size: Some(dec_of("1").unwrap()),
    };
    let mut d = Decoder::with_venue(
        Box::new(Toy { recovery: Recovery::Resubscribe, checksum: None, full_books: false }),
        &[inst],
    );
    feed(&mut d, "book X snap 1,1 - - b:0.50:100000000000000");
    let book = &d.symbol(0).book;
    assert_eq!((book.price_scale, book.size_scale, d.stats.rescales), (2, 0, 0));
    assert!(d.register("Y/USD").is_err(), "not a listed instrument");
}

/// Heartbeats are counted and make no event; a frame with no item is an ignored frame.
#[test]
fn heartbeats_and_empty_frames() {
    let mut d = toy(Recovery::Resubscribe);
    assert!(feed(&mut d, "hb").is_empty());
    assert!(feed(&mut d, "").is_empty());
    assert_eq!((d.stats.heartbeats, d.stats.ignored_frames, d.stats.events), (1, 1, 0));
}

/// A value with fewer decimals than the book's scale is scaled up in place; one too large for
/// that moves the scale down as far as needed (never below what the book's values need).
#[test]
fn a_large_value_moves_the_scale_down() {
    let mut d = toy(Recovery::Resubscribe);
    // i64::MAX is 92,233,720,368.54775807 at 8 decimals: the largest whole price that fits.
    // (The snapshot, written with 8 decimals, sets the price scale to 8.)
    feed(&mut d, "book X snap 1,1 - - b:92233720368.00000000:1 a:92233720368.50000000:2");
    assert_eq!((d.symbol(0).book.price_scale, d.stats.rescales), (8, 0));
    feed(&mut d, "book X delta 2,2 - - a:92233720369:3");
    assert_eq!((d.symbol(0).book.price_scale, d.stats.rescales), (7, 1));
    assert_eq!(levels(&d, "X/USD"), (strings(&["92233720368:1"]), strings(&["92233720368.5:2", "92233720369:3"])));
}

/// A book without instrument metadata takes its scales from the snapshot that fills it (the
/// widest price and size as written); a snapshot onto a book that has levels keeps them, and
/// a later level with more decimals rescales as before.
#[test]
fn an_empty_book_takes_the_snapshot_widths_as_scales() {
    let mut d = toy(Recovery::Resubscribe);
    feed(&mut d, "book X snap 1,1 - - b:2683.80:1.234 a:2684:0.5");
    let scales = |d: &Decoder| (d.symbol(0).book.price_scale, d.symbol(0).book.size_scale, d.stats.rescales);
    assert_eq!(scales(&d), (2, 3, 0));
    feed(&mut d, "book X snap 2,2 - - b:2683.8:1.23456 a:2684:0.5");
    assert_eq!(scales(&d), (2, 5, 1), "a snapshot onto a live book: the rescale rule");
    feed(&mut d, "book X delta 3,3 - - b:2683.805:1");
    assert_eq!(scales(&d), (3, 5, 2));
    assert_eq!(levels(&d, "X/USD").0, strings(&["2683.805:1", "2683.8:1.23456"]));
}

/// A venue whose parser panics on a frame starting with `!` (a stand-in for a parser bug).
struct PanickyVenue(Box<dyn Venue>);

impl Venue for PanickyVenue {
    fn id(&self) -> &'static str {
        self.0.id()
    }
    fn market(&self) -> &'static str {
        self.0.market()
    }
    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        assert!(!frame.starts_with(b"!"), "a parser bug");
        self.0.parse(frame, binary, out)
    }
    fn recovery(&self) -> Recovery {
        self.0.recovery()
    }
    fn check(&self, last: u64, ids: &SeqIds, bridging: bool) -> Verdict {
        self.0.check(last, ids, bridging)
    }
    fn unified_symbol(&self, market_id: &str) -> String {
        self.0.unified_symbol(market_id)
    }
    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        self.0.market_id(symbol)
    }
}

#[test]
fn a_parser_panic_is_a_bad_frame_and_the_decoder_goes_on() {
    let inner = factory("binance").unwrap().create("spot", &[]).unwrap();
    let mut d = Decoder::with_venue(Box::new(PanickyVenue(inner)), &[]);
    let trade = br#"{"e":"trade","E":1,"s":"ETHUSDT","t":7,"p":"2.5","q":"1","T":1,"m":true,"M":true}"#;
    d.feed(trade, 1).unwrap();
    let err = d.feed(b"!boom", 2).unwrap_err();
    assert!(
        matches!(&err, Error::Frame { field, reason } if field == "frame" && reason.contains("a parser bug")),
        "{err}"
    );
    assert_eq!(d.stats.bad_frames, 1);
    d.feed(trade, 3).unwrap(); // the decoder still works
    assert_eq!(d.stats.frames, 3);
}
