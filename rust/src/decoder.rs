//! One decoder per connection: frames in, books updated, events out.
//!
//! Generic over exchanges: the [`Venue`] parses and states the sync rule; this module owns the
//! books, the snapshot/delta synchronisation state machine, the delta buffer and the counters.

use std::collections::{HashMap, VecDeque};

use crate::book::{L2Book, Level};
use crate::error::Error;
use crate::event::Event;
use crate::exchanges::{venue, DeltaIds, LegacyVenue, Levels, Message, Verdict};

/// Deltas buffered per book while it waits for a snapshot; beyond this the oldest are dropped
/// (counted), which at worst makes the next snapshot fail to bridge and be fetched again.
pub const DEFAULT_MAX_BUFFERED: usize = 10_000;

/// Where a book stands in the exchange's snapshot + delta synchronisation procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BookSyncState {
    /// No usable book: deltas are buffered until a snapshot arrives.
    AwaitingSnapshot,
    /// A snapshot with this last update id is loaded; the next delta must bridge it.
    Bridging(u64),
    /// The book follows the delta chain.
    Live,
}

#[derive(Debug, Clone)]
struct BufferedDelta {
    ids: DeltaIds,
    exchange_ts: i64,
    receive_ts: i64,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// The depth deltas a symbol's stream carried: how many, the first id of the first and the final
/// id of the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaSpan {
    pub count: u64,
    pub first: u64,
    pub last: u64,
}

/// A symbol the decoder has seen, with its book.
#[derive(Debug)]
pub struct SymbolState {
    /// Exchange market id ("ETHUSDT").
    pub market_id: String,
    /// Unified ccxt symbol ("ETH/USDT").
    pub symbol: String,
    pub book: L2Book,
    /// Id of the last trade decoded for this symbol (exchanges number them per symbol).
    pub last_trade_id: Option<u64>,
    /// Every depth delta decoded for this symbol, whatever became of it: how a replay tells a
    /// book that never synced, or a snapshot that cannot belong to it, without parsing again.
    pub deltas_seen: Option<DeltaSpan>,
    sync: BookSyncState,
    buffer: VecDeque<BufferedDelta>,
}

impl SymbolState {
    /// True unless the book waits for a snapshot.
    pub fn synced(&self) -> bool {
        self.sync != BookSyncState::AwaitingSnapshot
    }
}

/// Counters, all since the decoder was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecoderStats {
    pub frames: u64,
    pub events: u64,
    pub bad_frames: u64,
    pub ignored_frames: u64,
    pub control_frames: u64,
    pub deltas_applied: u64,
    pub stale_deltas: u64,
    pub buffered_deltas: u64,
    pub dropped_deltas: u64,
    pub gaps: u64,
    pub snapshots: u64,
    pub crossed_books: u64,
}

pub struct Decoder {
    venue: &'static dyn LegacyVenue,
    symbols: Vec<SymbolState>,
    by_market_id: HashMap<String, usize>,
    by_symbol: HashMap<String, usize>,
    /// Index of the symbol of the previous frame.
    last_symbol: usize,
    levels: Levels,
    /// Events of the last call, for the caller to drain.
    pub events: Vec<Event>,
    pub stats: DecoderStats,
    pub max_buffered: usize,
}

impl Decoder {
    /// A decoder for exchange `exchange_id` ("binance", "binanceusdm").
    pub fn new(exchange_id: &str) -> Result<Self, Error> {
        Ok(Self {
            venue: venue(exchange_id)?,
            symbols: Vec::new(),
            by_market_id: HashMap::new(),
            by_symbol: HashMap::new(),
            last_symbol: 0,
            levels: Levels::default(),
            events: Vec::with_capacity(8),
            stats: DecoderStats::default(),
            max_buffered: DEFAULT_MAX_BUFFERED,
        })
    }

    pub fn exchange(&self) -> &'static str {
        self.venue.id()
    }

    pub fn venue(&self) -> &'static dyn LegacyVenue {
        self.venue
    }

    pub fn symbols(&self) -> &[SymbolState] {
        &self.symbols
    }

    pub fn symbol(&self, index: usize) -> &SymbolState {
        &self.symbols[index]
    }

    /// Index of a unified symbol, if the decoder has seen it.
    pub fn find(&self, symbol: &str) -> Option<usize> {
        self.by_symbol.get(symbol).copied()
    }

    /// Index of a unified symbol, registering it (as awaiting a snapshot) if new.
    /// `InvalidArgument` if the symbol does not belong to this exchange/market.
    pub fn register(&mut self, symbol: &str) -> Result<usize, Error> {
        if let Some(i) = self.find(symbol) {
            return Ok(i);
        }
        let market_id = self.venue.market_id(symbol)?;
        Ok(self.index_of_market(&market_id))
    }

    #[inline]
    fn index_of_market(&mut self, market_id: &str) -> usize {
        // Consecutive frames are mostly for the same symbol: compare before hashing.
        if self.symbols.get(self.last_symbol).is_some_and(|s| s.market_id == market_id) {
            return self.last_symbol;
        }
        let i = match self.by_market_id.get(market_id) {
            Some(&i) => i,
            None => self.add_symbol(market_id),
        };
        self.last_symbol = i;
        i
    }

    #[cold]
    fn add_symbol(&mut self, market_id: &str) -> usize {
        let i = self.symbols.len();
        let symbol = self.venue.unified_symbol(market_id);
        self.by_market_id.insert(market_id.to_owned(), i);
        self.by_symbol.insert(symbol.clone(), i);
        self.symbols.push(SymbolState {
            market_id: market_id.to_owned(),
            symbol,
            book: L2Book::new(),
            last_trade_id: None,
            deltas_seen: None,
            sync: BookSyncState::AwaitingSnapshot,
            buffer: VecDeque::new(),
        });
        i
    }

    /// Decode one frame (`payload`, received at `receive_ts` ns). Events go to `self.events`
    /// (cleared first). A malformed frame is a `Frame` error and changes nothing; a delta that
    /// breaks the chain is a `SequenceGap` error after which the book awaits a snapshot (the
    /// delta itself is buffered).
    pub fn feed(&mut self, payload: &[u8], receive_ts: i64) -> Result<(), Error> {
        self.events.clear();
        self.stats.frames += 1;
        let message = match self.venue.parse(payload, &mut self.levels) {
            Ok(m) => m,
            Err(e) => {
                self.stats.bad_frames += 1;
                return Err(e);
            }
        };
        let event = match message {
            Message::Depth { market_id, ids, exchange_ts } => {
                let i = self.index_of_market(market_id);
                return self.on_delta(i, ids, exchange_ts, receive_ts);
            }
            Message::Bbo { market_id, bbo } => Event::Bbo { symbol: self.index_of_market(market_id), bbo, receive_ts },
            Message::Trade { market_id, trade } => {
                let symbol = self.index_of_market(market_id);
                self.symbols[symbol].last_trade_id = Some(trade.trade_id);
                Event::Trade { symbol, trade, receive_ts }
            }
            Message::Candle { market_id, interval, candle } => Event::Candle {
                symbol: self.index_of_market(market_id),
                interval: interval.to_owned(),
                candle,
                receive_ts,
            },
            Message::Notice { name, exchange_ts } => Event::Notice { name: name.to_owned(), exchange_ts, receive_ts },
            Message::Control { request_id, ok, code, message, result } => {
                self.stats.control_frames += 1;
                Event::Control { request_id, ok, code, message, result, receive_ts }
            }
            Message::Ignored => {
                self.stats.ignored_frames += 1;
                return Ok(());
            }
        };
        self.push(event);
        Ok(())
    }

    #[inline]
    fn push(&mut self, event: Event) {
        self.stats.events += 1;
        self.events.push(event);
    }

    fn on_delta(&mut self, i: usize, ids: DeltaIds, exchange_ts: i64, receive_ts: i64) -> Result<(), Error> {
        let state = &mut self.symbols[i];
        state.deltas_seen = Some(match state.deltas_seen {
            None => DeltaSpan { count: 1, first: ids.first, last: ids.last },
            Some(s) => DeltaSpan { count: s.count + 1, last: ids.last, ..s },
        });
        let verdict = match state.sync {
            BookSyncState::AwaitingSnapshot => {
                self.buffer(i, ids, exchange_ts, receive_ts);
                return Ok(());
            }
            BookSyncState::Bridging(snapshot_id) => self.venue.first_delta(snapshot_id, &ids),
            BookSyncState::Live => self.venue.next_delta(state.book.sequence.unwrap_or(0), &ids),
        };
        match verdict {
            Verdict::Stale => self.stats.stale_deltas += 1,
            Verdict::Apply => {
                if Self::apply_levels(
                    &mut self.symbols,
                    &mut self.stats,
                    i,
                    ids.last,
                    &self.levels.bids,
                    &self.levels.asks,
                ) {
                    self.book_updated(i, ids.last, Some(exchange_ts), receive_ts);
                }
            }
            Verdict::Gap { expected, received } => {
                self.buffer(i, ids, exchange_ts, receive_ts);
                return Err(self.gap(i, expected, received));
            }
        }
        Ok(())
    }

    /// Apply a delta to book `i` (levels passed in, since they may live in `self.levels`:
    /// only disjoint fields are borrowed) and count it. Returns whether it moved the book past
    /// its sequence: one ending at the snapshot's own id (USD-M's first event may) changes
    /// nothing, and gets no `BookUpdate`, so delivered sequences stay strictly increasing.
    fn apply_levels(
        symbols: &mut [SymbolState],
        stats: &mut DecoderStats,
        i: usize,
        last: u64,
        bids: &[Level],
        asks: &[Level],
    ) -> bool {
        let s = &mut symbols[i];
        let advanced = s.book.sequence != Some(last);
        s.book.apply(bids, asks, last);
        s.sync = BookSyncState::Live;
        stats.deltas_applied += 1;
        if s.book.is_crossed() {
            stats.crossed_books += 1;
        }
        advanced
    }

    #[inline]
    fn book_updated(&mut self, i: usize, sequence: u64, exchange_ts: Option<i64>, receive_ts: i64) {
        self.push(Event::BookUpdate { symbol: i, sequence, exchange_ts, receive_ts });
    }

    #[cold]
    fn buffer(&mut self, i: usize, ids: DeltaIds, exchange_ts: i64, receive_ts: i64) {
        let max = self.max_buffered;
        let s = &mut self.symbols[i];
        if s.buffer.len() >= max {
            s.buffer.pop_front();
            self.stats.dropped_deltas += 1;
        }
        s.buffer.push_back(BufferedDelta {
            ids,
            exchange_ts,
            receive_ts,
            bids: self.levels.bids.clone(),
            asks: self.levels.asks.clone(),
        });
        self.stats.buffered_deltas += 1;
    }

    #[cold]
    fn gap(&mut self, i: usize, expected: u64, received: u64) -> Error {
        let s = &mut self.symbols[i];
        s.book.clear();
        s.sync = BookSyncState::AwaitingSnapshot;
        self.stats.gaps += 1;
        Error::SequenceGap { symbol: s.symbol.clone(), expected, received }
    }

    /// Decode a REST list of past trades of unified `symbol` (see `Venue::parse_trades`) into
    /// `Trade` events, oldest first, keeping only ids after `after` (those a reconnect
    /// missed; the list may reach past them). Their event time is the trade time.
    pub fn apply_trades(&mut self, symbol: &str, payload: &[u8], after: u64, receive_ts: i64) -> Result<(), Error> {
        self.events.clear();
        let i = self.register(symbol)?;
        let mut trades = self.venue.parse_trades(payload)?;
        trades.sort_by_key(|t| t.trade_id);
        for trade in trades.into_iter().filter(|t| t.trade_id > after) {
            let s = &mut self.symbols[i];
            s.last_trade_id = Some(s.last_trade_id.map_or(trade.trade_id, |l| l.max(trade.trade_id)));
            self.push(Event::Trade { symbol: i, trade, receive_ts });
        }
        Ok(())
    }

    /// Load a REST depth snapshot for unified `symbol` and replay the deltas buffered since by
    /// the exchange's bridging rule; `self.events` gets a `BookUpdate` for the snapshot and one
    /// per replayed delta. `Frame` error if the body is malformed (nothing changes);
    /// `SequenceGap` if the snapshot is too old for the buffered deltas (or they have a hole):
    /// the book then still awaits a snapshot, keeping the deltas from the break on.
    pub fn apply_snapshot(&mut self, symbol: &str, payload: &[u8], receive_ts: i64) -> Result<(), Error> {
        self.events.clear();
        let i = self.register(symbol)?;
        let snap = self.venue.parse_snapshot(payload, &mut self.levels)?;
        self.stats.snapshots += 1;
        let s = &mut self.symbols[i];
        s.book.load_snapshot(&self.levels.bids, &self.levels.asks, snap.last_update_id);
        s.sync = BookSyncState::Bridging(snap.last_update_id);
        self.book_updated(i, snap.last_update_id, snap.exchange_ts, receive_ts);
        while let Some(d) = self.symbols[i].buffer.pop_front() {
            let s = &self.symbols[i];
            let verdict = match s.sync {
                BookSyncState::Live => self.venue.next_delta(s.book.sequence.unwrap_or(0), &d.ids),
                BookSyncState::Bridging(id) => self.venue.first_delta(id, &d.ids),
                BookSyncState::AwaitingSnapshot => unreachable!("a snapshot was just loaded"),
            };
            match verdict {
                Verdict::Stale => self.stats.stale_deltas += 1,
                Verdict::Apply => {
                    if Self::apply_levels(&mut self.symbols, &mut self.stats, i, d.ids.last, &d.bids, &d.asks) {
                        self.book_updated(i, d.ids.last, Some(d.exchange_ts), d.receive_ts);
                    }
                }
                Verdict::Gap { expected, received } => {
                    self.symbols[i].buffer.push_front(d);
                    self.events.clear();
                    return Err(self.gap(i, expected, received));
                }
            }
        }
        Ok(())
    }

    /// Forget the book of unified `symbol`: it awaits a snapshot, buffering deltas from now on.
    pub fn reset_book(&mut self, symbol: &str) -> Result<(), Error> {
        let i = self.register(symbol)?;
        let s = &mut self.symbols[i];
        s.book.clear();
        s.buffer.clear();
        s.sync = BookSyncState::AwaitingSnapshot;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut d = Decoder::new("binance").unwrap();
        let i = d.register("TEST/USDT").unwrap();
        if state != BookSyncState::AwaitingSnapshot {
            d.apply_snapshot("TEST/USDT", &snapshot(100), 0).unwrap();
            d.symbols[i].sync = state;
        }
        d
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Outcome {
        Buffered,
        Stale,
        Applied,
        Gap,
    }

    /// The state machine, one row per (state, delta) case: what happens to the delta, the
    /// state after it and the book's sequence after it. Spot rules (binance.md §5): from a
    /// snapshot with lastUpdateId 100 the first delta must have U <= 101 <= u; then U <= id+1.
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
            let result = d.feed(&delta(first, last), 7);
            let s = &d.symbols[0];
            let row = format!("row {n}: {state:?} + U={first} u={last}");
            assert_eq!((s.sync, s.book.sequence), (after, sequence), "{row}");
            let got = match result {
                Err(Error::SequenceGap { .. }) => Gap,
                Err(e) => panic!("{row}: {e}"),
                Ok(()) if d.stats.buffered_deltas > before.buffered_deltas => Buffered,
                Ok(()) if d.stats.stale_deltas > before.stale_deltas => Stale,
                Ok(()) => Applied,
            };
            assert_eq!(&got, outcome, "{row}");
            // An applied delta is the only case with an event: a BookUpdate at its final id.
            let updates: Vec<_> = d.events.iter().collect();
            match got {
                Applied => assert!(
                    matches!(updates[..], [Event::BookUpdate { sequence: s, receive_ts: 7, .. }] if *s == last),
                    "{row}"
                ),
                _ => assert!(updates.is_empty(), "{row}"),
            }
            // A gap keeps the delta (buffered for the next snapshot) and empties the book.
            if got == Gap {
                assert_eq!((s.buffer.len(), s.book.depth()), (1, (0, 0)), "{row}");
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
        assert!(d.feed(&delta(200, 201), 0).is_err()); // a gap
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
}
