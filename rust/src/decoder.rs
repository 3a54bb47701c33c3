//! One decoder per connection: frames in, books updated, events out.
//!
//! Generic over exchanges: the [`Venue`] parses and states the sync rule; this module owns the
//! books, the snapshot/delta synchronisation state machine, the delta buffer and the counters.

use std::collections::{HashMap, VecDeque};

use crate::book::{L2Book, Level};
use crate::error::Error;
use crate::event::Event;
use crate::exchanges::{venue, DeltaIds, Levels, Message, Venue, Verdict};

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
    venue: &'static dyn Venue,
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

    pub fn venue(&self) -> &'static dyn Venue {
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
        let state = &self.symbols[i];
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
