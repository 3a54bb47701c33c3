//! One decoder per connection: frames in, books updated, events out.
//!
//! Generic over exchanges: the [`Venue`] parses a frame into [`Item`]s and states the sequence
//! rule, recovery and checksum format; this module owns the books (each at its own price and
//! size scale), the snapshot/delta synchronisation state machine, the REST-bridge delta buffer,
//! checksum verification and the counters. Nothing here names an exchange.
//!
//! Per frame: the venue fills the reusable [`Out`]; every book item's levels are converted to
//! the book's fixed-point scales first (rescaling a book in place when a level has more
//! decimals; a value that cannot fit is a `Frame` error and nothing of the frame applies); then
//! the items apply in order, each yielding its events. A gap, a checksum mismatch or a
//! connection-counter break is not an error: the book is emptied, awaits a new snapshot, and an
//! [`Event::SyncLost`] takes its place among the frame's other events.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;

use crate::account::AccountList;
use crate::book::{BookSide, L2Book, Level, Widths, WireBook, WireLevel};
use crate::checksum::{Format, Memo};
use crate::error::Error;
use crate::event::{Event, SymbolIndex, SyncLoss};
use crate::exchanges::{
    factory, BookItem, BookKind, Instrument, Item, Out, RawLevel, Recovery, SyncHint, TradeId, TradeItem, Venue,
    Verdict,
};
use crate::fixed::{self, Dec};

/// Deltas buffered per book while it waits for a REST snapshot; beyond this the oldest are
/// dropped (counted), which at worst makes the next snapshot fail to bridge and be fetched again.
pub const DEFAULT_MAX_BUFFERED: usize = 10_000;

/// The price and size scale (decimals) of a book whose instrument's tick or lot is not known.
pub const DEFAULT_SCALE: u8 = 8;

/// `MAX_AT[d]`: the largest mantissa that times 10^d still fits an `i64`.
const MAX_AT: [i64; 19] = {
    let mut t = [i64::MAX; 19];
    let mut d = 1;
    while d < 19 {
        t[d] = t[d - 1] / 10;
        d += 1;
    }
    t
};

/// `FITS[scale.wrapping_sub(width)]`: the largest mantissa of a value written with `width`
/// decimals that converts to a book at `scale` without overflow (`MAX_AT`), and -1 where
/// `width > scale` (no valid mantissa passes). One load and compare per value, no branch.
const FITS: [i64; 256] = {
    let mut t = [-1i64; 256];
    let mut d = 0;
    while d < 19 {
        t[d] = MAX_AT[d];
        d += 1;
    }
    t
};

/// Where a book stands in the exchange's snapshot + delta synchronisation procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BookSyncState {
    /// No usable book: deltas are buffered (REST venues) or dropped (resubscribe venues) until
    /// a snapshot arrives.
    AwaitingSnapshot,
    /// A REST snapshot with this id is loaded; the next delta must bridge it.
    Bridging(u64),
    /// The book follows the delta chain.
    Live,
}

/// A delta kept while its book awaits a REST snapshot, levels as received (the book's scale
/// may change before it applies).
#[derive(Debug, Clone)]
struct BufferedDelta {
    item: BookItem,
    receive_ts: i64,
    bids: Vec<RawLevel>,
    asks: Vec<RawLevel>,
}

/// The depth deltas with ids a symbol's stream carried: how many, the first id of the first and
/// the final id of the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaSpan {
    pub count: u64,
    pub first: u64,
    pub last: u64,
}

/// The levels of a book: the size alone, or with the decimal widths received (venues with a
/// checksum over their text).
#[derive(Debug, Clone)]
enum Store {
    Plain(L2Book),
    Wire(WireBook),
}

/// An L2 book at its own fixed-point scales: a price is an `i64` counting 10^-`price_scale`, a
/// size 10^-`size_scale`. Levels read out as exact [`Dec`]s at those widths.
#[derive(Debug, Clone)]
pub struct Book {
    store: Store,
    /// The exchange's sequence of the last change applied (None while empty, or for venues
    /// without book sequences).
    pub sequence: Option<u64>,
    pub price_scale: u8,
    pub size_scale: u8,
    /// The last checksum's text per level, reused by the next (wire books only).
    memo: Memo,
}

impl Book {
    fn new(wire: bool, price_scale: u8, size_scale: u8) -> Self {
        let store = if wire { Store::Wire(WireBook::default()) } else { Store::Plain(L2Book::new()) };
        Book { store, sequence: None, price_scale, size_scale, memo: Memo::default() }
    }

    #[inline]
    fn level(&self, price: i64, size: i64) -> RawLevel {
        RawLevel {
            price: Dec { mantissa: price, width: self.price_scale },
            size: Dec { mantissa: size, width: self.size_scale },
        }
    }

    /// Best (highest) bid.
    pub fn best_bid(&self) -> Option<RawLevel> {
        match &self.store {
            Store::Plain(b) => b.best_bid().map(|l| self.level(l.price, l.size)),
            Store::Wire(b) => b.best_bid().map(|l| self.level(l.price, l.size)),
        }
    }

    /// Best (lowest) ask.
    pub fn best_ask(&self) -> Option<RawLevel> {
        match &self.store {
            Store::Plain(b) => b.best_ask().map(|l| self.level(l.price, l.size)),
            Store::Wire(b) => b.best_ask().map(|l| self.level(l.price, l.size)),
        }
    }

    /// The best `n` levels of `side`, best first, as fixed point at the book's scales.
    pub fn levels(&self, side: BookSide, n: usize) -> Vec<Level> {
        match (&self.store, side) {
            (Store::Plain(b), BookSide::Bid) => b.bids(n).collect(),
            (Store::Plain(b), BookSide::Ask) => b.asks(n).collect(),
            (Store::Wire(b), BookSide::Bid) => b.bids(n).map(|l| Level { price: l.price, size: l.size }).collect(),
            (Store::Wire(b), BookSide::Ask) => b.asks(n).map(|l| Level { price: l.price, size: l.size }).collect(),
        }
    }

    /// The best `n` levels of `side` as exact decimals.
    pub fn decimals(&self, side: BookSide, n: usize) -> Vec<RawLevel> {
        self.levels(side, n).into_iter().map(|l| self.level(l.price, l.size)).collect()
    }

    /// True if the book has no level.
    pub fn is_empty(&self) -> bool {
        self.best_bid().is_none() && self.best_ask().is_none()
    }

    /// Number of (bid, ask) levels.
    pub fn depth(&self) -> (usize, usize) {
        match &self.store {
            Store::Plain(b) => b.depth(),
            Store::Wire(b) => b.depth(),
        }
    }

    /// True when the best bid is at or above the best ask: a book that cannot be right.
    pub fn is_crossed(&self) -> bool {
        match &self.store {
            Store::Plain(b) => b.is_crossed(),
            Store::Wire(b) => b.is_crossed(),
        }
    }

    /// Mid price as a float, if both sides exist.
    pub fn mid(&self) -> Option<f64> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        Some(
            (fixed::scaled_to_f64(bid.price.mantissa, self.price_scale)
                + fixed::scaled_to_f64(ask.price.mantissa, self.price_scale))
                / 2.0,
        )
    }

    fn clear(&mut self) {
        match &mut self.store {
            Store::Plain(b) => b.clear(),
            Store::Wire(b) => b.clear(),
        }
        self.sequence = None;
    }

    /// Replace the levels (the sequence stays; the caller sets it).
    fn load(&mut self, bids: &[WireLevel], asks: &[WireLevel]) {
        match &mut self.store {
            Store::Plain(b) => {
                let plain = |l: &WireLevel| Level { price: l.price, size: l.size };
                b.load_levels(bids.iter().map(plain), asks.iter().map(plain));
            }
            Store::Wire(b) => b.load_levels(bids.iter().copied(), asks.iter().copied()),
        }
    }

    #[inline]
    fn apply(&mut self, bids: &[WireLevel], asks: &[WireLevel]) {
        match &mut self.store {
            Store::Plain(b) => {
                let plain = |l: &WireLevel| Level { price: l.price, size: l.size };
                b.apply_levels(bids.iter().map(plain), asks.iter().map(plain));
            }
            Store::Wire(b) => b.apply_levels(bids.iter().copied(), asks.iter().copied()),
        }
    }

    /// Apply levels that `Decoder::fits_directly` accepted (mantissa times 10^(scale - width)).
    #[inline]
    fn apply_raw(&mut self, bids: &[RawLevel], asks: &[RawLevel]) {
        let (ps, ss) = (self.price_scale, self.size_scale);
        let level = move |l: &RawLevel| Level { price: at_scale(l.price, ps), size: at_scale(l.size, ss) };
        let wire = move |l: &RawLevel| {
            let Level { price, size } = level(l);
            WireLevel { price, size, widths: Widths { price: l.price.width, size: l.size.width } }
        };
        match &mut self.store {
            Store::Plain(b) => b.apply_levels(bids.iter().map(level), asks.iter().map(level)),
            Store::Wire(b) => b.apply_levels(bids.iter().map(wire), asks.iter().map(wire)),
        }
    }

    /// [`Self::load`] from levels that `Decoder::fits_directly` accepted.
    fn load_raw(&mut self, bids: &[RawLevel], asks: &[RawLevel]) {
        let (ps, ss) = (self.price_scale, self.size_scale);
        let level = move |l: &RawLevel| Level { price: at_scale(l.price, ps), size: at_scale(l.size, ss) };
        let wire = move |l: &RawLevel| {
            let Level { price, size } = level(l);
            WireLevel { price, size, widths: Widths { price: l.price.width, size: l.size.width } }
        };
        match &mut self.store {
            Store::Plain(b) => b.load_levels(bids.iter().map(level), asks.iter().map(level)),
            Store::Wire(b) => b.load_levels(bids.iter().map(wire), asks.iter().map(wire)),
        }
    }

    fn truncate(&mut self, depth: usize) {
        match &mut self.store {
            Store::Plain(b) => b.truncate(depth),
            Store::Wire(b) => b.truncate(depth),
        }
    }

    /// Every level with its widths (a plain book has none: the scales stand in).
    fn all_levels(&self) -> (Vec<WireLevel>, Vec<WireLevel>) {
        let widths = Widths { price: self.price_scale, size: self.size_scale };
        let plain = |l: Level| WireLevel { price: l.price, size: l.size, widths };
        match &self.store {
            Store::Plain(b) => (b.bids(usize::MAX).map(plain).collect(), b.asks(usize::MAX).map(plain).collect()),
            Store::Wire(b) => (b.bids(usize::MAX).collect(), b.asks(usize::MAX).collect()),
        }
    }

    /// The checksum of the book in `format` (wire books only; a plain book gives None).
    fn checksum(&mut self, format: Format) -> Option<u32> {
        match &self.store {
            Store::Wire(b) => Some(format.compute_memo(b, self.price_scale, self.size_scale, &mut self.memo)),
            Store::Plain(_) => None,
        }
    }
}

/// Counters of one book, since the decoder was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookStats {
    pub checksums_verified: u64,
    pub checksum_mismatches: u64,
    pub gaps: u64,
    pub snapshots: u64,
    pub deltas_applied: u64,
}

/// A symbol the decoder has seen, with its book.
#[derive(Debug)]
pub struct SymbolState {
    /// Exchange market id ("ETHUSDT").
    pub market_id: String,
    /// Unified ccxt symbol ("ETH/USDT").
    pub symbol: String,
    pub book: Book,
    /// Id of the last numbered trade decoded for this symbol (venues that number trades).
    pub last_trade_id: Option<u64>,
    /// Time of the newest trade decoded for this symbol (ns) and the ids of the trades decoded
    /// at that time: where a reconnect's trades must continue from on a venue whose ids are not
    /// consecutive (what the REST list of recent trades is filtered by).
    pub last_trade_ts: Option<i64>,
    pub last_trade_keys: Vec<TradeId>,
    /// Every depth delta with ids decoded for this symbol, whatever became of it: how a replay
    /// tells a book that never synced, or a snapshot that cannot belong to it, without parsing
    /// again.
    pub deltas_seen: Option<DeltaSpan>,
    pub stats: BookStats,
    sync: BookSyncState,
    buffer: VecDeque<BufferedDelta>,
}

impl SymbolState {
    /// Remember `trade` as the newest decoded if it is not older than the newest so far (see
    /// `last_trade_ts`): a newer time starts a new set of ids, the same time adds its id.
    #[inline]
    fn note_trade(&mut self, trade: &TradeItem) {
        match self.last_trade_ts {
            Some(t) if trade.trade_ts < t => {}
            Some(t) if trade.trade_ts == t => self.last_trade_keys.push(trade.trade_id),
            _ => {
                self.last_trade_ts = Some(trade.trade_ts);
                self.last_trade_keys.clear();
                self.last_trade_keys.push(trade.trade_id);
            }
        }
    }

    /// True unless the book waits for a snapshot.
    pub fn synced(&self) -> bool {
        self.sync != BookSyncState::AwaitingSnapshot
    }

    /// The checks `Decoder::on_book` and `on_snapshot_item` will make of this book's next
    /// message, for the venue's parser (see `SyncHint`): keep the three in step.
    fn hint(&self) -> SyncHint {
        let delta = match self.sync {
            BookSyncState::AwaitingSnapshot => None,
            BookSyncState::Bridging(id) => Some((id, true)),
            BookSyncState::Live => self.book.sequence.map(|last| (last, false)),
        };
        SyncHint { delta, snapshot: if self.synced() { self.book.sequence } else { None } }
    }
}

/// Counters, all since the decoder was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecoderStats {
    pub frames: u64,
    /// Payload bytes of those frames (metrics: bytes received).
    pub bytes: u64,
    pub events: u64,
    pub bad_frames: u64,
    /// Valid frames that carried nothing the decoder yields.
    pub ignored_frames: u64,
    pub control_frames: u64,
    pub heartbeats: u64,
    pub deltas_applied: u64,
    pub stale_deltas: u64,
    pub buffered_deltas: u64,
    /// Deltas thrown away: past `max_buffered`, or arriving while a resubscribe venue's book
    /// awaits its new snapshot.
    pub dropped_deltas: u64,
    pub gaps: u64,
    pub connection_gaps: u64,
    pub snapshots: u64,
    /// Snapshot items dropped because the venue says they are older than the book
    /// ([`Venue::stale_snapshot`]).
    pub stale_snapshots: u64,
    pub crossed_books: u64,
    pub checksums_verified: u64,
    pub checksum_mismatches: u64,
    /// Books whose price or size scale changed to fit a value.
    pub rescales: u64,
}

/// One book item's levels in the frame: (symbol, bids range, asks range) into the `Out`.
type Segment = (SymbolIndex, Range<usize>, Range<usize>);

/// The decoder's venue. `Venue` is only `Send`; the decoder touches it from `&mut self` methods
/// alone (it hands out no reference to it), so a shared `&Decoder` can never reach it.
struct Exclusive(Box<dyn Venue>);

// SAFETY: see above: every use of the inner venue goes through `&mut Decoder`, so no two threads
// can reach it at once through shared references.
unsafe impl Sync for Exclusive {}

impl std::ops::Deref for Exclusive {
    type Target = dyn Venue;
    fn deref(&self) -> &(dyn Venue + 'static) {
        &*self.0
    }
}

impl std::ops::DerefMut for Exclusive {
    fn deref_mut(&mut self) -> &mut (dyn Venue + 'static) {
        &mut *self.0
    }
}

pub struct Decoder {
    venue: Exclusive,
    exchange: &'static str,
    market: &'static str,
    recovery: Recovery,
    checksum: Option<Format>,
    out: Out,
    symbols: Vec<SymbolState>,
    by_symbol: HashMap<String, usize>,
    /// Instruments by market id, and unified symbol -> market id.
    instruments: HashMap<String, Instrument>,
    market_of: HashMap<String, String>,
    /// The last connection-wide message counter (`Item::ConnectionSeq`).
    conn_seq: Option<u64>,
    /// The frame's book levels at their books' scales, index-aligned with `out.bids/asks`.
    bids: Vec<WireLevel>,
    asks: Vec<WireLevel>,
    segments: Vec<Segment>,
    /// This frame's levels apply from the `Out` as they are (see `fits_directly`).
    direct: bool,
    /// The venue reads `Out::hint`: fill the hints before each frame.
    hints: bool,
    /// Events of the last call, for the caller to drain.
    pub events: Vec<Event>,
    pub stats: DecoderStats,
    pub max_buffered: usize,
}

/// A value `Decoder::fits_directly` accepted, in fixed point at `scale`.
#[inline(always)]
fn at_scale(d: Dec, scale: u8) -> i64 {
    if d.width == scale {
        d.mantissa
    } else {
        d.mantissa * fixed::pow10(scale - d.width)
    }
}

/// Why a raw level could not be converted at a book's scales.
enum Misfit {
    /// Not representable at the current scales: the book must be rescaled.
    Scale,
    /// A price not above 0 or a negative size, at this index of the side.
    Invalid(usize),
}

/// Convert `raw` onto the end of `dst` at the given scales (`dst` may hold part of them on
/// error: the caller starts over).
#[inline]
fn convert_push(raw: &[RawLevel], dst: &mut Vec<WireLevel>, price_scale: u8, size_scale: u8) -> Result<(), Misfit> {
    dst.reserve(raw.len());
    for (n, r) in raw.iter().enumerate() {
        if ((r.price.mantissa - 1) | r.size.mantissa) < 0 {
            return Err(Misfit::Invalid(n));
        }
        let price = if r.price.width == price_scale {
            r.price.mantissa
        } else {
            r.price.to_scale(price_scale).ok_or(Misfit::Scale)?
        };
        let size = if r.size.width == size_scale {
            r.size.mantissa
        } else {
            r.size.to_scale(size_scale).ok_or(Misfit::Scale)?
        };
        dst.push(WireLevel { price, size, widths: Widths { price: r.price.width, size: r.size.width } });
    }
    Ok(())
}

/// Convert `raw` into `dst` at the given scales.
#[inline]
fn convert(raw: &[RawLevel], dst: &mut [WireLevel], price_scale: u8, size_scale: u8) -> Result<(), Misfit> {
    for (n, (r, d)) in raw.iter().zip(dst).enumerate() {
        // price <= 0 or size < 0, in one test (mantissa - 1 cannot overflow: a Dec is > i64::MIN).
        if ((r.price.mantissa - 1) | r.size.mantissa) < 0 {
            return Err(Misfit::Invalid(n));
        }
        let price = if r.price.width == price_scale {
            r.price.mantissa
        } else {
            r.price.to_scale(price_scale).ok_or(Misfit::Scale)?
        };
        let size = if r.size.width == size_scale {
            r.size.mantissa
        } else {
            r.size.to_scale(size_scale).ok_or(Misfit::Scale)?
        };
        *d = WireLevel { price, size, widths: Widths { price: r.price.width, size: r.size.width } };
    }
    Ok(())
}

#[cold]
fn invalid_level(side: &str, n: usize, l: &RawLevel) -> Error {
    Error::frame(
        format!("{side}[{n}]"),
        format!("level ({}, {}): a price must be above 0 and a size at least 0", l.price, l.size),
    )
}

/// The most decimals any price and any size of a snapshot was written with (capped at
/// [`fixed::MAX_SCALE`]), or None for an empty snapshot.
fn snapshot_scales(bids: &[RawLevel], asks: &[RawLevel]) -> Option<(u8, u8)> {
    let widest = |f: fn(&RawLevel) -> u8| bids.iter().chain(asks).map(f).max().map(|w| w.min(fixed::MAX_SCALE));
    Some((widest(|l| l.price.width)?, widest(|l| l.size.width)?))
}

/// The scale in `lo..=hi` closest to `hi` at which every value fits, or the first value that
/// fits at none.
fn pick_scale(values: &[Dec], lo: u8, hi: u8) -> Result<u8, Dec> {
    let mut s = hi;
    loop {
        match values.iter().find(|v| v.to_scale(s).is_none()) {
            None => return Ok(s),
            Some(v) if s == lo => return Err(*v),
            Some(_) => s -= 1,
        }
    }
}

impl Decoder {
    /// A decoder for `exchange` ("binance", "okx") on `market` ("spot", "linear", "inverse";
    /// None: the venue's default), with the instruments known (may be empty: offline replay; when
    /// given, they name the symbols and set each book's starting scales, and `register` accepts
    /// only listed symbols). `InvalidArgument` names an unknown exchange or market.
    pub fn new(exchange: &str, market: Option<&str>, instruments: &[Instrument]) -> Result<Self, Error> {
        let f = factory(exchange)?;
        let market = match market {
            Some(m) => f.markets().iter().copied().find(|&k| k == m).ok_or_else(|| {
                Error::invalid("market", m, format!("{exchange} has markets {}", f.markets().join(", ")))
            })?,
            None => f.markets()[0],
        };
        Ok(Self::with_venue(f.create(market, instruments)?, instruments))
    }

    /// A decoder over a venue made by hand (tests, tools), with the instruments known.
    pub fn with_venue(venue: Box<dyn Venue>, instruments: &[Instrument]) -> Self {
        let checksum = venue.checksum();
        let hints = venue.uses_sync_hints();
        Self {
            exchange: venue.id(),
            market: venue.market(),
            recovery: venue.recovery(),
            checksum,
            venue: Exclusive(venue),
            out: Out::default(),
            symbols: Vec::new(),
            by_symbol: HashMap::new(),
            instruments: instruments.iter().map(|i| (i.market_id.clone(), i.clone())).collect(),
            market_of: instruments.iter().map(|i| (i.symbol.clone(), i.market_id.clone())).collect(),
            conn_seq: None,
            bids: Vec::new(),
            asks: Vec::new(),
            segments: Vec::new(),
            direct: false,
            hints,
            events: Vec::with_capacity(8),
            stats: DecoderStats::default(),
            max_buffered: DEFAULT_MAX_BUFFERED,
        }
    }

    pub fn exchange(&self) -> &'static str {
        self.exchange
    }

    pub fn market(&self) -> &'static str {
        self.market
    }

    pub fn recovery(&self) -> Recovery {
        self.recovery
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
    /// `InvalidArgument` if the symbol does not belong to this exchange/market (or, with
    /// instruments given, is not listed).
    pub fn register(&mut self, symbol: &str) -> Result<usize, Error> {
        if let Some(i) = self.find(symbol) {
            return Ok(i);
        }
        let market_id = match self.market_of.get(symbol) {
            Some(m) => m.clone(),
            None if !self.market_of.is_empty() => {
                return Err(Error::invalid(
                    "symbol",
                    symbol,
                    format!("not among the {} instruments of {} {}", self.market_of.len(), self.exchange, self.market),
                ))
            }
            None => self.venue.market_id(symbol)?,
        };
        let i = self.out.symbol(&market_id);
        self.add_symbols();
        Ok(i)
    }

    /// Mirror the symbols the `Out` table gained.
    #[cold]
    fn add_symbols(&mut self) {
        let wire = self.checksum.is_some();
        for market_id in &self.out.market_ids()[self.symbols.len()..] {
            let inst = self.instruments.get(market_id);
            let symbol = inst.map_or_else(|| self.venue.unified_symbol(market_id), |i| i.symbol.clone());
            let scale = |d: Option<Dec>| d.map_or(DEFAULT_SCALE, |d| d.needed_scale().min(fixed::MAX_SCALE));
            let (ps, ss) = (scale(inst.and_then(|i| i.tick_size)), scale(inst.and_then(|i| i.lot_size)));
            self.by_symbol.entry(symbol.clone()).or_insert(self.symbols.len());
            self.symbols.push(SymbolState {
                market_id: market_id.clone(),
                symbol,
                book: Book::new(wire, ps, ss),
                last_trade_id: None,
                last_trade_ts: None,
                last_trade_keys: Vec::new(),
                deltas_seen: None,
                stats: BookStats::default(),
                sync: BookSyncState::AwaitingSnapshot,
                buffer: VecDeque::new(),
            });
        }
    }

    /// Forget symbols a failed frame added, count it, and hand the error back.
    #[cold]
    fn bad_frame(&mut self, e: Error, known: usize) -> Error {
        self.stats.bad_frames += 1;
        if self.out.market_ids().len() > known || self.symbols.len() > known {
            self.symbols.truncate(known);
            self.by_symbol.retain(|_, &mut i| i < known);
            self.out.forget_symbols_from(known);
        }
        self.out.clear();
        e
    }

    /// Decode one text frame (`payload`, received at `receive_ts` ns). Events go to
    /// `self.events` (cleared first), in the order of the frame's items. A malformed frame (or a
    /// value that fits no fixed-point scale) is a `Frame` error and changes nothing.
    #[inline]
    pub fn feed(&mut self, payload: &[u8], receive_ts: i64) -> Result<(), Error> {
        self.feed_frame(payload, false, receive_ts)
    }

    /// [`Self::feed`] for a text (`binary` false) or binary WebSocket frame.
    pub fn feed_frame(&mut self, frame: &[u8], binary: bool, receive_ts: i64) -> Result<(), Error> {
        self.events.clear();
        self.stats.frames += 1;
        self.stats.bytes += frame.len() as u64;
        self.out.clear();
        let known = self.symbols.len();
        if self.hints {
            self.out.set_hints(self.symbols.iter().map(SymbolState::hint));
        }
        let (venue, out) = (&mut self.venue, &mut self.out);
        if let Err(e) = guarded("frame", || venue.parse(frame, binary, out)) {
            return Err(self.bad_frame(e, known));
        }
        if self.out.market_ids().len() > known {
            self.add_symbols();
        }
        // Levels that fit their book's scales (Binance: always; OKX once its snapshot set them)
        // apply straight from the `Out`, plain and wire books alike (a wire level keeps the
        // widths it was written with either way); anything else is converted (and checked) first.
        self.direct = self.fits_directly();
        if !self.direct {
            self.segments.clear();
            let mut snapshot = false;
            for item in &self.out.items {
                if let Item::Book(b) = item {
                    self.segments.push((b.symbol, b.bids.clone(), b.asks.clone()));
                    snapshot |= b.kind == BookKind::Snapshot;
                }
            }
            if snapshot {
                self.scales_from_snapshots();
            }
            let segments = std::mem::take(&mut self.segments);
            let converted = self.convert_segments(&segments, None);
            self.segments = segments;
            if let Err(e) = converted {
                return Err(self.bad_frame(e, known));
            }
        }
        self.apply_items(receive_ts);
        Ok(())
    }

    /// An empty book whose instrument is not known takes its scales from the snapshot that
    /// fills it: the most decimals its prices and its sizes were written with (Binance USD-M
    /// writes "2683.80" and "1.234": scales 2 and 3; OKX "29000.1" and "0.00264": 1 and 8), as a
    /// book with instruments starts at its tick's and lot's. Levels then convert without a
    /// multiplication, checksum texts have fewer digits to write, and a later level with more
    /// decimals rescales the book as before.
    #[cold]
    fn scales_from_snapshots(&mut self) {
        for item in &self.out.items {
            let Item::Book(b) = item else { continue };
            let s = &mut self.symbols[b.symbol];
            if b.kind != BookKind::Snapshot || !s.book.is_empty() || self.instruments.contains_key(&s.market_id) {
                continue;
            }
            if let (Some(bids), Some(asks)) = (self.out.bids.get(b.bids.clone()), self.out.asks.get(b.asks.clone())) {
                if let Some(scales) = snapshot_scales(bids, asks) {
                    (s.book.price_scale, s.book.size_scale) = scales;
                }
            }
        }
    }

    /// True if every book level of the frame is valid and written with at most its book's
    /// decimals, in range: the fixed-point values are then the mantissas times a power of ten
    /// (see `Book::apply_raw`).
    #[inline]
    fn fits_directly(&self) -> bool {
        let (bids, asks) = (&self.out.bids, &self.out.asks);
        self.out.items.iter().all(|item| {
            let Item::Book(b) = item else { return true };
            let book = &self.symbols[b.symbol].book;
            if b.kind == BookKind::Snapshot && book.is_empty() {
                return false; // converted, after `scales_from_snapshots`
            }
            let (ps, ss) = (book.price_scale, book.size_scale);
            let within =
                |d: Dec, scale: u8| d.width == scale || d.mantissa <= FITS[usize::from(scale.wrapping_sub(d.width))];
            let fits = |l: &RawLevel| {
                ((l.price.mantissa - 1) | l.size.mantissa) >= 0 && within(l.price, ps) && within(l.size, ss)
            };
            matches!((bids.get(b.bids.clone()), asks.get(b.asks.clone())), (Some(x), Some(y)) if x.iter().all(fits) && y.iter().all(fits))
        })
    }

    /// Convert the levels of `segments` (raw levels in `raw`, else in the `Out`) into the
    /// scratch at each book's scales, rescaling books that need it (then starting over).
    fn convert_segments(&mut self, segments: &[Segment], raw: Option<(&[RawLevel], &[RawLevel])>) -> Result<(), Error> {
        let mut rescaled = 0;
        loop {
            self.bids.clear();
            self.asks.clear();
            let misfit = {
                let (raw_bids, raw_asks) = raw.unwrap_or((&self.out.bids, &self.out.asks));
                let mut misfit = None;
                'segments: for (symbol, bids, asks) in segments {
                    let book = &self.symbols[*symbol].book;
                    let (ps, ss) = (book.price_scale, book.size_scale);
                    for (side, range, src, dst) in
                        [("bids", bids, raw_bids, &mut self.bids), ("asks", asks, raw_asks, &mut self.asks)]
                    {
                        if range.is_empty() {
                            continue;
                        }
                        let levels = src
                            .get(range.clone())
                            .ok_or_else(|| Error::frame(side, "the venue's level range is out of bounds"))?;
                        // Items' levels follow each other (the usual case): append them.
                        let converted = if dst.len() == range.start {
                            convert_push(levels, dst, ps, ss)
                        } else {
                            if dst.len() < range.end {
                                dst.resize(range.end, WireLevel::default());
                            }
                            convert(levels, &mut dst[range.clone()], ps, ss)
                        };
                        match converted {
                            Ok(()) => {}
                            Err(Misfit::Invalid(n)) => return Err(invalid_level(side, n, &levels[n])),
                            Err(Misfit::Scale) => {
                                misfit = Some((*symbol, side));
                                break 'segments;
                            }
                        }
                    }
                }
                misfit
            };
            let Some((symbol, side)) = misfit else { return Ok(()) };
            rescaled += 1;
            if rescaled > segments.len() {
                return Err(Error::frame(side, "the book's scales do not settle"));
            }
            self.fit_scales(symbol, segments, raw)?;
        }
    }

    /// Rescale the book of `symbol` so that its levels and every level of this frame's items
    /// for it are exact: the smallest scales that hold every value's decimals, raised toward the
    /// current ones as far as every value still fits an `i64`. A value that fits at none is a
    /// `Frame` error naming it (nothing changes).
    #[cold]
    fn fit_scales(
        &mut self,
        symbol: usize,
        segments: &[Segment],
        raw: Option<(&[RawLevel], &[RawLevel])>,
    ) -> Result<(), Error> {
        let (raw_bids, raw_asks) = raw.unwrap_or((&self.out.bids, &self.out.asks));
        let book = &self.symbols[symbol].book;
        let (ps, ss) = (book.price_scale, book.size_scale);
        let (old_bids, old_asks) = book.all_levels();
        let mut prices: Vec<Dec> = Vec::new();
        let mut sizes: Vec<Dec> = Vec::new();
        for l in old_bids.iter().chain(&old_asks) {
            prices.push(Dec { mantissa: l.price, width: ps });
            sizes.push(Dec { mantissa: l.size, width: ss });
        }
        for (s, bids, asks) in segments.iter().filter(|(s, ..)| *s == symbol) {
            debug_assert_eq!(*s, symbol);
            for l in raw_bids[bids.clone()].iter().chain(&raw_asks[asks.clone()]) {
                prices.push(l.price);
                sizes.push(l.size);
            }
        }
        let pick = |values: &[Dec], current: u8, what: &str| -> Result<u8, Error> {
            let need = values.iter().map(|v| v.needed_scale()).max().unwrap_or(0);
            if need > fixed::MAX_SCALE {
                let v = values.iter().find(|v| v.needed_scale() > fixed::MAX_SCALE).expect("one has");
                return Err(Error::frame(what, format!("{v} has more than {} decimals", fixed::MAX_SCALE)));
            }
            pick_scale(values, need, current.max(need)).map_err(|v| {
                Error::frame(what, format!("{v} does not fit a 64-bit fixed-point {what} at {need} decimals or more"))
            })
        };
        let (price_scale, size_scale) = (pick(&prices, ps, "price")?, pick(&sizes, ss, "size")?);
        if (price_scale, size_scale) == (ps, ss) {
            return Ok(());
        }
        let at = |l: &WireLevel| WireLevel {
            price: Dec { mantissa: l.price, width: ps }.to_scale(price_scale).expect("checked to fit"),
            size: Dec { mantissa: l.size, width: ss }.to_scale(size_scale).expect("checked to fit"),
            widths: l.widths,
        };
        let (bids, asks): (Vec<_>, Vec<_>) = (old_bids.iter().map(at).collect(), old_asks.iter().map(at).collect());
        let book = &mut self.symbols[symbol].book;
        let sequence = book.sequence;
        book.price_scale = price_scale;
        book.size_scale = size_scale;
        book.load(&bids, &asks);
        book.sequence = sequence;
        self.stats.rescales += 1;
        Ok(())
    }

    fn apply_items(&mut self, receive_ts: i64) {
        let mut items = std::mem::take(&mut self.out.items);
        if items.is_empty() {
            self.stats.ignored_frames += 1;
        }
        // By reference: items are up to ~120 bytes, and each move is a copy. Account items are
        // boxed: their box moves into the event (a `Heartbeat` left behind; the next frame's
        // `Out::clear` drops it) instead of a deep copy of its strings per event.
        for item in &mut items {
            match item {
                Item::Book(b) => self.on_book(b, receive_ts),
                &mut Item::Bbo { symbol, bbo } => self.push(Event::Bbo { symbol, bbo, receive_ts }),
                &mut Item::Trade { symbol, trade } => {
                    let s = &mut self.symbols[symbol];
                    if let Some(id) = trade.trade_id.as_int() {
                        s.last_trade_id = Some(id);
                    }
                    s.note_trade(&trade);
                    self.push(Event::Trade { symbol, trade, receive_ts });
                }
                Item::Candle { symbol, candle } => {
                    self.push(Event::Candle { symbol: *symbol, candle: candle.clone(), receive_ts });
                }
                &mut Item::ConnectionSeq(n) => self.on_connection_seq(n, receive_ts),
                Item::Control(control) => {
                    self.stats.control_frames += 1;
                    self.push(Event::Control { control: control.clone(), receive_ts });
                }
                Item::Heartbeat => self.stats.heartbeats += 1,
                Item::Notice { name, exchange_ts } => {
                    self.push(Event::Notice { name: name.clone(), exchange_ts: *exchange_ts, receive_ts });
                }
                Item::Order(_) | Item::Fill(_) | Item::Position(_) | Item::Balance(_) => {
                    let event = match std::mem::replace(item, Item::Heartbeat) {
                        Item::Order(order) => Event::Order { order, receive_ts },
                        Item::Fill(fill) => Event::Fill { fill, receive_ts },
                        Item::Position(position) => Event::Position { position, receive_ts },
                        Item::Balance(balance) => Event::Balance { balance, receive_ts },
                        _ => unreachable!("matched an account item above"),
                    };
                    self.push(event);
                }
            }
        }
        // Not cleared here: the next frame's `Out::clear` drops them (one pass over the items,
        // not two).
        self.out.items = items;
    }

    #[inline]
    fn push(&mut self, event: Event) {
        self.stats.events += 1;
        self.events.push(event);
    }

    #[inline]
    fn on_book(&mut self, item: &BookItem, receive_ts: i64) {
        let i = item.symbol;
        if item.kind == BookKind::Snapshot {
            return self.on_snapshot_item(item, receive_ts);
        }
        let s = &mut self.symbols[i];
        if let Some(ids) = item.ids {
            s.deltas_seen = Some(match s.deltas_seen {
                None => DeltaSpan { count: 1, first: ids.first, last: ids.last },
                Some(d) => DeltaSpan { count: d.count + 1, last: ids.last, ..d },
            });
        }
        let verdict = match (s.sync, item.ids) {
            (BookSyncState::AwaitingSnapshot, _) => return self.unsynced_delta(item, receive_ts),
            (BookSyncState::Bridging(id), Some(ids)) => self.venue.check(id, &ids, true),
            (BookSyncState::Live, Some(ids)) => match s.book.sequence {
                Some(last) => self.venue.check(last, &ids, false),
                None => Verdict::Apply,
            },
            (_, None) => Verdict::Apply,
        };
        match verdict {
            Verdict::Stale => self.stats.stale_deltas += 1,
            Verdict::Apply => {
                let s = &mut self.symbols[i];
                if self.direct {
                    s.book.apply_raw(&self.out.bids[item.bids.clone()], &self.out.asks[item.asks.clone()]);
                } else {
                    s.book.apply(&self.bids[item.bids.clone()], &self.asks[item.asks.clone()]);
                }
                self.after_delta(item, receive_ts);
            }
            Verdict::Gap { expected, received } => {
                self.lose(i, SyncLoss::Gap { expected, received }, receive_ts);
                if self.recovery == Recovery::RestSnapshot {
                    self.unsynced_delta(item, receive_ts); // buffered for the next snapshot's bridge
                }
            }
        }
    }

    /// The book of `item` applied its levels: move its sequence, count, truncate, verify the
    /// checksum, and yield the `BookUpdate` (or the `SyncLost` of a mismatch).
    #[inline]
    fn after_delta(&mut self, item: &BookItem, receive_ts: i64) {
        let s = &mut self.symbols[item.symbol];
        let sequence = item.ids.map(|ids| ids.last).or(s.book.sequence);
        // One ending at the snapshot's own id (USD-M's first event may) changes nothing visible:
        // no BookUpdate, so delivered sequences stay strictly increasing.
        let advanced = sequence.is_none() || s.book.sequence != sequence;
        s.book.sequence = sequence;
        s.sync = BookSyncState::Live;
        s.stats.deltas_applied += 1;
        self.stats.deltas_applied += 1;
        if s.book.is_crossed() {
            self.stats.crossed_books += 1;
        }
        if self.verify(item, receive_ts) && advanced {
            self.push(Event::BookUpdate { symbol: item.symbol, sequence, exchange_ts: item.exchange_ts, receive_ts });
        }
    }

    /// Truncate the book of `item` to its depth and check its checksum; false (after a
    /// `SyncLost`) on a mismatch.
    #[inline]
    fn verify(&mut self, item: &BookItem, receive_ts: i64) -> bool {
        let s = &mut self.symbols[item.symbol];
        if let Some(depth) = item.depth {
            s.book.truncate(depth as usize);
        }
        let (Some(expected), Some(format)) = (item.checksum, self.checksum) else { return true };
        let Some(computed) = s.book.checksum(format) else { return true };
        if computed == expected {
            s.stats.checksums_verified += 1;
            self.stats.checksums_verified += 1;
            true
        } else {
            s.stats.checksum_mismatches += 1;
            self.stats.checksum_mismatches += 1;
            self.lose(item.symbol, SyncLoss::Checksum { expected, computed }, receive_ts);
            false
        }
    }

    /// A snapshot item replaces the book: it is live at the item's final id (or without one).
    /// One the venue calls stale (`Venue::stale_snapshot`) is dropped instead, counted.
    fn on_snapshot_item(&mut self, item: &BookItem, receive_ts: i64) {
        let s = &mut self.symbols[item.symbol];
        if let (true, Some(last), Some(ids)) = (s.synced(), s.book.sequence, item.ids) {
            if self.venue.stale_snapshot(last, &ids) {
                self.stats.stale_snapshots += 1;
                return;
            }
        }
        let s = &mut self.symbols[item.symbol];
        if self.direct {
            s.book.load_raw(&self.out.bids[item.bids.clone()], &self.out.asks[item.asks.clone()]);
        } else {
            s.book.load(&self.bids[item.bids.clone()], &self.asks[item.asks.clone()]);
        }
        s.book.sequence = item.ids.map(|ids| ids.last);
        s.sync = BookSyncState::Live;
        s.buffer.clear();
        s.stats.snapshots += 1;
        self.stats.snapshots += 1;
        if s.book.is_crossed() {
            self.stats.crossed_books += 1;
        }
        if self.verify(item, receive_ts) {
            let sequence = self.symbols[item.symbol].book.sequence;
            self.push(Event::BookUpdate { symbol: item.symbol, sequence, exchange_ts: item.exchange_ts, receive_ts });
        }
    }

    /// A delta for a book that awaits a snapshot: REST venues buffer it for the bridge,
    /// resubscribe venues drop it (the new snapshot will contain it).
    #[cold]
    fn unsynced_delta(&mut self, item: &BookItem, receive_ts: i64) {
        if self.recovery == Recovery::Resubscribe {
            self.stats.dropped_deltas += 1;
            return;
        }
        let max = self.max_buffered;
        let (bids, asks) = (self.out.bids[item.bids.clone()].to_vec(), self.out.asks[item.asks.clone()].to_vec());
        let s = &mut self.symbols[item.symbol];
        if s.buffer.len() >= max {
            s.buffer.pop_front();
            self.stats.dropped_deltas += 1;
        }
        s.buffer.push_back(BufferedDelta { item: item.clone(), receive_ts, bids, asks });
        self.stats.buffered_deltas += 1;
    }

    /// Book `i` lost sync: empty it, await a snapshot, count, and yield `SyncLost`.
    #[cold]
    fn lose(&mut self, i: usize, reason: SyncLoss, receive_ts: i64) {
        let s = &mut self.symbols[i];
        s.book.clear();
        s.sync = BookSyncState::AwaitingSnapshot;
        match reason {
            SyncLoss::Gap { .. } => {
                s.stats.gaps += 1;
                self.stats.gaps += 1;
            }
            SyncLoss::ConnectionGap { .. } => {
                s.stats.gaps += 1;
                self.stats.connection_gaps += 1;
            }
            SyncLoss::Checksum { .. } => {}
        }
        self.push(Event::SyncLost { symbol: i, reason, receive_ts });
    }

    /// The connection-wide counter: a break marks every synced book of the decoder unsynced.
    fn on_connection_seq(&mut self, n: u64, receive_ts: i64) {
        if let Some(prev) = self.conn_seq {
            let expected = prev.wrapping_add(1);
            if n != expected {
                for i in 0..self.symbols.len() {
                    if self.symbols[i].synced() {
                        self.lose(i, SyncLoss::ConnectionGap { expected, received: n }, receive_ts);
                    }
                }
            }
        }
        self.conn_seq = Some(n);
    }

    /// Decode a REST list of past trades of unified `symbol` (see `Venue::parse_trades`) into
    /// `Trade` events, oldest first. `after`: a numbered id: keep only numbered ids after it
    /// (those a reconnect missed; the list may reach past them), in id order; None: every trade
    /// of the list, in trade-time order (a list sent newest first is reversed, so trades of one
    /// time keep the venue's order): the caller filters by time and id. Their event time is the
    /// trade time.
    pub fn apply_trades(
        &mut self,
        symbol: &str,
        payload: &[u8],
        after: Option<u64>,
        receive_ts: i64,
    ) -> Result<(), Error> {
        self.events.clear();
        let i = self.register(symbol)?;
        let venue = &mut self.venue;
        let mut trades = guarded("trades", || venue.parse_trades(payload))?;
        if let Some(after) = after {
            trades.retain(|t| t.trade_id.as_int().is_some_and(|id| id > after));
            trades.sort_by_key(|t| t.trade_id.as_int());
        } else {
            if trades.first().zip(trades.last()).is_some_and(|(a, b)| a.trade_ts > b.trade_ts) {
                trades.reverse();
            }
            trades.sort_by_key(|t| t.trade_ts); // stable: one time's trades keep their order
        }
        for trade in trades {
            let s = &mut self.symbols[i];
            if let Some(id) = trade.trade_id.as_int() {
                s.last_trade_id = Some(s.last_trade_id.map_or(id, |l| l.max(id)));
            }
            s.note_trade(&trade);
            self.push(Event::Trade { symbol: i, trade, receive_ts });
        }
        Ok(())
    }

    /// Whether the frames fed from now on may leave order updates out (`skip`: the caller
    /// delivers none, e.g. a feed that asked for fills only): a venue parser then builds no
    /// `Order` event and does not check the order-only fields of an update; fills, positions
    /// and balances are unchanged. Off by default; REST lists (`apply_account`) always build
    /// everything.
    #[inline]
    pub fn set_skip_orders(&mut self, skip: bool) {
        self.out.skip_orders = skip;
    }

    /// Decode an authenticated REST account list (`what`: past fills or orders; see
    /// `Venue::parse_account`) into `Fill` / `Order` events in the body's order (the caller
    /// dedupes against what the stream delivered). `Frame` error if the body is malformed
    /// (nothing returned); `InvalidArgument` if the venue has no such list.
    pub fn apply_account(&mut self, what: AccountList, payload: &[u8], receive_ts: i64) -> Result<(), Error> {
        self.events.clear();
        self.out.clear();
        let skip_orders = std::mem::replace(&mut self.out.skip_orders, false); // a list: all of it
        let done = self.apply_account_list(what, payload, receive_ts);
        self.out.skip_orders = skip_orders;
        done
    }

    fn apply_account_list(&mut self, what: AccountList, payload: &[u8], receive_ts: i64) -> Result<(), Error> {
        let known = self.symbols.len();
        if self.hints {
            self.out.set_hints(self.symbols.iter().map(SymbolState::hint));
        }
        let (venue, out) = (&mut self.venue, &mut self.out);
        if let Err(e) = guarded("account list", || venue.parse_account(what, payload, out)) {
            self.out.forget_symbols_from(known);
            self.out.clear();
            return Err(e);
        }
        if self.out.market_ids().len() > known {
            self.add_symbols();
        }
        if !self.out.items.is_empty() {
            self.apply_items(receive_ts); // (an empty list is not an ignored frame)
        }
        Ok(())
    }

    /// Load a REST depth snapshot for unified `symbol` and replay the deltas buffered since by
    /// the venue's bridging rule; `self.events` gets a `BookUpdate` for the snapshot and one per
    /// replayed delta. `Frame` error if the body is malformed (nothing changes); `SequenceGap`
    /// if the snapshot is too old for the buffered deltas (or they have a hole): the book then
    /// still awaits a snapshot, keeping the deltas from the break on.
    pub fn apply_snapshot(&mut self, symbol: &str, payload: &[u8], receive_ts: i64) -> Result<(), Error> {
        self.events.clear();
        let i = self.register(symbol)?;
        self.out.clear();
        let (venue, out) = (&mut self.venue, &mut self.out);
        let snap = guarded("snapshot", || venue.parse_snapshot(payload, out))?;
        let whole = [(i, 0..self.out.bids.len(), 0..self.out.asks.len())];
        // The snapshot replaces the book: without instruments it sets the scales (see
        // `scales_from_snapshots`), restored if it does not convert.
        let book = &mut self.symbols[i].book;
        let before = (book.price_scale, book.size_scale);
        if !self.instruments.contains_key(&self.symbols[i].market_id) {
            if let Some(scales) = snapshot_scales(&self.out.bids, &self.out.asks) {
                let book = &mut self.symbols[i].book;
                (book.price_scale, book.size_scale) = scales;
            }
        }
        if let Err(e) = self.convert_segments(&whole, None) {
            let book = &mut self.symbols[i].book;
            (book.price_scale, book.size_scale) = before;
            return Err(e);
        }
        self.stats.snapshots += 1;
        let s = &mut self.symbols[i];
        s.stats.snapshots += 1;
        s.book.load(&self.bids, &self.asks);
        s.book.sequence = Some(snap.sequence);
        s.sync = BookSyncState::Bridging(snap.sequence);
        self.push(Event::BookUpdate {
            symbol: i,
            sequence: Some(snap.sequence),
            exchange_ts: snap.exchange_ts,
            receive_ts,
        });
        while let Some(d) = self.symbols[i].buffer.pop_front() {
            let s = &self.symbols[i];
            let verdict = match (s.sync, d.item.ids) {
                (BookSyncState::Live, Some(ids)) => self.venue.check(s.book.sequence.unwrap_or(0), &ids, false),
                (BookSyncState::Bridging(id), Some(ids)) => self.venue.check(id, &ids, true),
                (_, None) => Verdict::Apply,
                (BookSyncState::AwaitingSnapshot, _) => unreachable!("a snapshot was just loaded"),
            };
            match verdict {
                Verdict::Stale => self.stats.stale_deltas += 1,
                Verdict::Apply => {
                    let seg = [(i, 0..d.bids.len(), 0..d.asks.len())];
                    if let Err(e) = self.convert_segments(&seg, Some((&d.bids, &d.asks))) {
                        self.events.clear();
                        let s = &mut self.symbols[i];
                        s.book.clear();
                        s.sync = BookSyncState::AwaitingSnapshot;
                        return Err(e);
                    }
                    self.symbols[i].book.apply(&self.bids, &self.asks);
                    let item = BookItem { bids: 0..d.bids.len(), asks: 0..d.asks.len(), ..d.item.clone() };
                    self.after_delta(&item, d.receive_ts);
                    if !self.symbols[i].synced() {
                        // A checksum mismatch: the SyncLost is among the events.
                        return Ok(());
                    }
                }
                Verdict::Gap { expected, received } => {
                    self.symbols[i].buffer.push_front(d);
                    self.events.clear();
                    let s = &mut self.symbols[i];
                    s.book.clear();
                    s.sync = BookSyncState::AwaitingSnapshot;
                    s.stats.gaps += 1;
                    self.stats.gaps += 1;
                    return Err(Error::SequenceGap { symbol: s.symbol.clone(), expected, received });
                }
            }
        }
        Ok(())
    }

    /// Forget the book of unified `symbol`: it awaits a snapshot (buffering deltas from now on
    /// on REST venues).
    pub fn reset_book(&mut self, symbol: &str) -> Result<(), Error> {
        let i = self.register(symbol)?;
        let s = &mut self.symbols[i];
        s.book.clear();
        s.buffer.clear();
        s.sync = BookSyncState::AwaitingSnapshot;
        Ok(())
    }
}

/// Run a venue parser so that a panic in it (a tickwire bug, never an answer to bad input) is a
/// `Frame` error naming `what` instead of unwinding into Python and killing the feed: the frame
/// is counted as bad and skipped like any malformed one. Free on the normal path (an unwind
/// landing pad, no work). Built for the fuzzer (`--cfg fuzzing`) it lets the panic through, so
/// cargo-fuzz reports it.
#[inline(always)]
fn guarded<T>(what: &'static str, parse: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    #[cfg(fuzzing)]
    {
        let _ = what;
        parse()
    }
    #[cfg(not(fuzzing))]
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)) {
        Ok(result) => result,
        Err(panic) => Err(parser_panicked(what, panic.as_ref())),
    }
}

#[cold]
#[cfg(not(fuzzing))]
fn parser_panicked(what: &'static str, panic: &(dyn std::any::Any + Send)) -> Error {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    Error::frame(what, format!("the venue's {what} parser panicked ({text}); please report this frame"))
}

#[cfg(test)]
mod tests;
