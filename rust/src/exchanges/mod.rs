//! The per-exchange part of decoding, behind one trait, and the one registry of exchanges.
//!
//! A [`Venue`] turns one frame into 0..n [`Item`]s in an [`Out`] (numbers as exact [`Dec`]s,
//! levels appended to the `Out`'s level lists, applying nothing) and states its exchange's
//! documented book-sync rule ([`Venue::check`]), recovery and checksum format. Everything else
//! (books and their scales, buffering, gap and checksum handling, events) is generic and lives in
//! [`crate::decoder`]. A [`VenueFactory`] in [`FACTORIES`] makes a venue per decoder.

pub mod binance;
pub mod bitget;
pub mod bitunix;
pub mod bybit;
pub mod coinbase;
pub mod gateio;
pub mod hyperliquid;
pub mod kraken;
pub mod kucoin;
pub mod mexc;
pub mod okx;

use crate::error::Error;

/// How a delta relates to the book's position in the update-id chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Already contained in the book: skip it.
    Stale,
    /// Continues the chain: apply it.
    Apply,
    /// Breaks the chain: the book must be rebuilt from a new snapshot.
    Gap { expected: u64, received: u64 },
}

// ------------------------------------------------------------------------------------------
// The venue contract for every exchange (issue 10). A venue parser turns one frame into 0..n
// `Item`s in an `Out`; the generic decoder owns books, sequence state, checksums and events.
// ------------------------------------------------------------------------------------------

use std::ops::Range;

use crate::account::{AccountList, BalanceItem, FillItem, OrderItem, PositionItem};
use crate::checksum;
use crate::event::SymbolIndex;
use crate::fixed::Dec;

/// A price level exactly as received: price and size as the exchange wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawLevel {
    pub price: Dec,
    pub size: Dec,
}

/// The sequence fields a book message carries, in one shape for every venue's rule:
/// Binance `U`/`u`/`pu`, OKX `prevSeqId`/`seqId`, Bybit `u`, KuCoin `sequenceStart`/`End`,
/// Coinbase per-product `sequence`. What they mean is the venue's [`Venue::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqIds {
    /// First update id covered (Binance `U`, KuCoin `sequenceStart`); `last` where the venue
    /// sends one id only.
    pub first: u64,
    /// Final update id covered (Binance `u`, OKX `seqId`, Bybit `u`); the book's sequence once
    /// applied.
    pub last: u64,
    /// Final id of the previous message, where the venue sends it (Binance USD-M `pu`, OKX
    /// `prevSeqId`; OKX's snapshot has -1, carried as None).
    pub prev: Option<u64>,
}

/// What a book message does to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookKind {
    /// Replace the whole book with these levels (a WebSocket snapshot, a snapshot sent again
    /// mid-stream, Bybit `u == 1`, or a venue that pushes the whole book every time).
    Snapshot,
    /// Absolute sizes for the levels listed; size 0 deletes the level.
    Delta,
}

/// One book message of a frame. Its levels are `out.bids[bids]` and `out.asks[asks]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookItem {
    pub symbol: SymbolIndex,
    pub kind: BookKind,
    /// None where the venue has no sequence for books (Kraken: the checksum is the check).
    pub ids: Option<SeqIds>,
    /// The exchange's checksum of its book after this message, as the 32 bits of the CRC
    /// (OKX/Bitget signed values cast); None when absent (OKX sends 0 since mid-2026: None).
    pub checksum: Option<u32>,
    /// Levels per side the venue keeps for this subscription (Kraken `book-10`): the decoder
    /// truncates the book to it after applying (before the checksum). None: unbounded.
    pub depth: Option<u32>,
    pub exchange_ts: Option<i64>,
    pub bids: Range<usize>,
    pub asks: Range<usize>,
}

/// A public trade id: the venue's number, or its text (Bybit UUIDs, KuCoin hex ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeId {
    Int(u64),
    /// Up to [`TradeId::MAX_TEXT`] bytes of ASCII.
    Text {
        len: u8,
        bytes: [u8; TradeId::MAX_TEXT],
    },
}

impl TradeId {
    pub const MAX_TEXT: usize = 47;

    /// A text id; `Frame` error naming `field` if it is longer than [`Self::MAX_TEXT`] or not ASCII.
    pub fn text(s: &str, field: &'static str) -> Result<Self, Error> {
        if s.len() > Self::MAX_TEXT || !s.is_ascii() {
            return Err(Error::frame(field, format!("trade id {s:?} is not ASCII of at most 47 bytes")));
        }
        let mut bytes = [0u8; Self::MAX_TEXT];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        #[allow(clippy::cast_possible_truncation)] // at most MAX_TEXT, checked above
        Ok(TradeId::Text { len: s.len() as u8, bytes })
    }

    /// The number, for venues that number trades.
    pub fn as_int(&self) -> Option<u64> {
        match self {
            TradeId::Int(n) => Some(*n),
            TradeId::Text { .. } => None,
        }
    }
}

impl std::fmt::Display for TradeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TradeId::Int(n) => write!(f, "{n}"),
            TradeId::Text { len, bytes } => {
                f.write_str(std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or("?"))
            }
        }
    }
}

/// A public trade as a venue parses it. Prices/sizes exact; times ns since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeItem {
    pub price: Dec,
    pub size: Dec,
    /// The aggressor's side.
    pub side: crate::event::Side,
    pub trade_id: TradeId,
    /// Matching time.
    pub trade_ts: i64,
    /// Event time (the trade time where the venue sends no other).
    pub exchange_ts: i64,
}

/// Best bid and ask as the venue's own ticker states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BboItem {
    pub bid: RawLevel,
    pub ask: RawLevel,
    /// The book update id these are valid at, where the venue sends one (Binance `u`, Bybit `u`).
    pub sequence: Option<u64>,
    pub exchange_ts: Option<i64>,
}

/// A candle interval as the venue names it ("1m", "candle1m" -> "1m" is the venue's choice):
/// inline, so no string is allocated per candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    len: u8,
    bytes: [u8; 15],
}

impl Interval {
    /// `Frame` error naming `field` if longer than 15 bytes or not ASCII.
    pub fn new(s: &str, field: &'static str) -> Result<Self, Error> {
        if s.len() > 15 || !s.is_ascii() {
            return Err(Error::frame(field, format!("interval {s:?} is not ASCII of at most 15 bytes")));
        }
        let mut bytes = [0u8; 15];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        #[allow(clippy::cast_possible_truncation)] // at most 15, checked above
        Ok(Interval { len: s.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

/// One candle (kline) covering [`start_ts`, `end_ts`] ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandleItem {
    pub interval: Interval,
    pub start_ts: i64,
    pub end_ts: i64,
    pub open: Dec,
    pub high: Dec,
    pub low: Dec,
    pub close: Dec,
    /// Base-asset volume.
    pub volume: Dec,
    /// Trades in the candle, where the venue says.
    pub trades: Option<u64>,
    /// Whether the candle is final, where the venue says.
    pub closed: Option<bool>,
    pub exchange_ts: Option<i64>,
}

/// What a control reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// A subscribe (or unsubscribe) request succeeded.
    Ack,
    /// A request failed (`code`/`message` say why).
    Error,
    /// The venue's reply to a client keepalive (text `pong`, `{"op":"pong"}`, ...).
    Pong,
    /// A greeting sent on connect (KuCoin `welcome`, Hyperliquid's text greeting).
    Welcome,
    /// A login reply (private streams).
    Login,
}

/// A reply to a client request. `request_id` where the venue echoes the request's id; `topic`
/// where it acknowledges per topic (OKX `arg`, Kraken per pair, Coinbase per channel): a
/// canonical text the Python adapter builds identically for what it subscribed (the
/// adapter's docs say the format, e.g. OKX `"books:BTC-USDT"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlItem {
    pub kind: ControlKind,
    pub request_id: Option<crate::event::RequestId>,
    pub topic: Option<String>,
    pub code: Option<i64>,
    pub message: Option<String>,
}

/// What one frame carries, in order. Symbols are the decoder's indexes ([`Out::symbol`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Book(BookItem),
    Bbo {
        symbol: SymbolIndex,
        bbo: BboItem,
    },
    Trade {
        symbol: SymbolIndex,
        trade: TradeItem,
    },
    /// Boxed: candles are rare (about one a minute per stream), and inline (152 bytes) they
    /// made every item 160 bytes, so each push was a `memcpy` call (callgrind).
    Candle {
        symbol: SymbolIndex,
        candle: Box<CandleItem>,
    },
    /// A connection-wide message counter (Coinbase Advanced Trade `sequence_num`): the decoder
    /// checks it is the previous + 1, and on a break every book of the connection resyncs.
    ConnectionSeq(u64),
    Control(ControlItem),
    /// A venue heartbeat or keepalive reply with nothing else in it: counted, no event.
    Heartbeat,
    /// A notice about the connection (Binance `serverShutdown`).
    Notice {
        name: String,
        exchange_ts: Option<i64>,
    },
    /// An account order changed (private streams; boxed: rare and large).
    Order(Box<OrderItem>),
    /// An account fill.
    Fill(Box<FillItem>),
    /// An account position's new state.
    Position(Box<PositionItem>),
    /// An account balance's new state.
    Balance(Box<BalanceItem>),
}

/// Where a venue parser puts what it read from one frame; reused across frames (no allocation
/// once warm). On a parse error the decoder discards everything in it: a bad frame changes
/// nothing.
#[derive(Debug, Default)]
pub struct Out {
    pub items: Vec<Item>,
    pub bids: Vec<RawLevel>,
    pub asks: Vec<RawLevel>,
    /// Market ids seen, in symbol-index order (the decoder's symbol table mirrors it).
    market_ids: Vec<String>,
    last: usize,
    /// Each symbol's book position before this frame, by symbol index: filled only for a
    /// venue whose [`Venue::uses_sync_hints`] is true (see [`Out::hint`]).
    hints: Vec<SyncHint>,
    /// The caller delivers no order updates (a feed that asked for fills only): a venue parser
    /// may then leave [`Item::Order`] out and skip mapping its fields (issue 12: a cold fill
    /// spent about a fifth of its decode building the order it carries). Set by the decoder
    /// per frame ([`crate::decoder::Decoder::set_skip_orders`]); never set for REST lists.
    pub skip_orders: bool,
}

/// Where a symbol's book stood before the frame being parsed, as the decoder will judge a book
/// message of it: lets a parser skip the levels of a message the decoder is bound to drop as
/// stale (Gate's first update after a subscribe, which a REST snapshot already holds; MEXC's
/// limit-depth pushes that repeat a version). Valid for a frame's first book message of the
/// symbol only: an earlier one in the same frame may move the book.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncHint {
    /// A delta is checked by [`Venue::check`] against this id (`true`: bridging from a REST
    /// snapshot); None: not checked (awaiting a snapshot, or a book without a sequence).
    pub delta: Option<(u64, bool)>,
    /// A snapshot item is asked [`Venue::stale_snapshot`] against this id; None: not asked.
    pub snapshot: Option<u64>,
}

impl SyncHint {
    /// True if the decoder will drop a delta with `ids` as stale ([`Verdict::Stale`]).
    #[inline]
    pub fn stale_delta<V: Venue + ?Sized>(self, venue: &V, ids: &SeqIds) -> bool {
        self.delta.is_some_and(|(last, bridging)| venue.check(last, ids, bridging) == Verdict::Stale)
    }

    /// True if the decoder will drop a snapshot item with `ids` as stale.
    #[inline]
    pub fn stale_snapshot<V: Venue + ?Sized>(self, venue: &V, ids: &SeqIds) -> bool {
        self.snapshot.is_some_and(|last| venue.stale_snapshot(last, ids))
    }
}

impl Out {
    /// Clear items and levels (market ids stay: they are the symbol table).
    pub fn clear(&mut self) {
        self.items.clear();
        self.bids.clear();
        self.asks.clear();
    }

    /// The index of exchange market id `market_id` ("BTC-USDT"), added if new.
    // Always inlined, with the search out of line: as a call it cost ~44 instructions per
    // frame (callgrind), more than the compare itself.
    #[inline(always)]
    pub fn symbol(&mut self, market_id: &str) -> SymbolIndex {
        // Consecutive frames are mostly for the same symbol: compare before searching.
        if self.market_ids.get(self.last).is_some_and(|m| same_id(m.as_bytes(), market_id.as_bytes())) {
            return self.last;
        }
        self.find_symbol(market_id)
    }

    #[cold]
    #[inline(never)]
    fn find_symbol(&mut self, market_id: &str) -> SymbolIndex {
        let i = self.market_ids.iter().position(|m| m == market_id).unwrap_or_else(|| {
            self.market_ids.push(market_id.to_owned());
            self.market_ids.len() - 1
        });
        self.last = i;
        i
    }

    /// Where the book of `symbol` stood before this frame (see [`SyncHint`]); the default (no
    /// checks) for a symbol new in this frame or a venue that does not use hints.
    #[inline]
    pub fn hint(&self, symbol: SymbolIndex) -> SyncHint {
        self.hints.get(symbol).copied().unwrap_or_default()
    }

    /// Replace the hints, by symbol index (the decoder, before each frame).
    pub(crate) fn set_hints(&mut self, hints: impl Iterator<Item = SyncHint>) {
        self.hints.clear();
        self.hints.extend(hints);
    }

    /// Market ids by symbol index.
    pub fn market_ids(&self) -> &[String] {
        &self.market_ids
    }

    /// Forget market ids from index `n` on (those a frame that failed to parse added).
    pub(crate) fn forget_symbols_from(&mut self, n: usize) {
        self.market_ids.truncate(n);
        if self.last >= n {
            self.last = 0;
        }
    }

    /// Push a book item whose levels the parser appended to `bids`/`asks` since `bids_from` /
    /// `asks_from` (the lengths before it started).
    #[allow(clippy::too_many_arguments)] // one call per book message; a struct would only move the list
    pub fn book(
        &mut self,
        symbol: SymbolIndex,
        kind: BookKind,
        ids: Option<SeqIds>,
        checksum: Option<u32>,
        depth: Option<u32>,
        exchange_ts: Option<i64>,
        (bids_from, asks_from): (usize, usize),
    ) {
        let (bids, asks) = (bids_from..self.bids.len(), asks_from..self.asks.len());
        self.items.push(Item::Book(BookItem { symbol, kind, ids, checksum, depth, exchange_ts, bids, asks }));
    }
}

/// `a == b` for market ids, without a `memcmp` call for the usual 4..=16 bytes (two
/// overlapping word compares): `Out::symbol` runs once per frame.
#[inline(always)]
fn same_id(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
        word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8)
    } else if (4..8).contains(&n) {
        let word = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"));
        word(a, 0) == word(b, 0) && word(a, n - 4) == word(b, n - 4)
    } else {
        a == b
    }
}

/// How a book that lost sync is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// From a REST snapshot bridged to the buffered deltas (Binance, KuCoin, Gate, MEXC).
    RestSnapshot,
    /// By subscribing the channel again: the venue sends a new snapshot (Bybit, OKX, Kraken,
    /// Coinbase, Bitget); deltas that arrive meanwhile are dropped, not buffered.
    Resubscribe,
}

/// What a venue's REST depth snapshot carries besides its levels (left in `out.bids/asks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub sequence: u64,
    pub exchange_ts: Option<i64>,
}

/// Instrument metadata, as the venue's public instruments endpoint lists it (loaded and cached
/// by the Python side on the live path; replay works without: the venue's own symbol rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    pub market_id: String,
    /// ccxt unified symbol ("BTC/USDT", "BTC/USDT:USDT", "BTC/USD:BTC-220527").
    pub symbol: String,
    /// Price tick and size step where known; they set the book's fixed-point scales.
    pub tick_size: Option<Dec>,
    pub lot_size: Option<Dec>,
}

/// One exchange's protocol on one endpoint (market), as one decoder needs it. It may hold state
/// (Kraken v1 channel ids and subscribed depths, Bybit ticker snapshots).
pub trait Venue: Send {
    /// Lowercase ccxt exchange id ("okx").
    fn id(&self) -> &'static str;
    /// The endpoint: "spot", "linear" or "inverse".
    fn market(&self) -> &'static str;
    /// Parse one frame (`binary`: a binary WebSocket frame) into `out` (already cleared). A
    /// frame that is not what the venue documents, or belongs to another venue or version, is a
    /// `Frame` error naming the field.
    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error>;
    /// How a book of this venue is rebuilt after a gap or checksum mismatch.
    fn recovery(&self) -> Recovery;
    /// Parse a REST depth snapshot body (venues with [`Recovery::RestSnapshot`]).
    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        let _ = (body, out);
        Err(Error::invalid("snapshot", self.id(), "this venue sends its book snapshots on the WebSocket"))
    }
    /// Parse a REST list of past trades, where the venue has one without a key.
    fn parse_trades(&mut self, body: &[u8]) -> Result<Vec<TradeItem>, Error> {
        let _ = body;
        Err(Error::invalid("trades", self.id(), "this venue has no public past-trades request"))
    }
    /// Parse an authenticated REST account list (`what`: past fills or orders, the venue's
    /// endpoint named in its Python adapter's `account_requests`) into `out.items` as
    /// [`Item::Fill`] / [`Item::Order`], in the body's order. Private venues implement it; the
    /// default says the venue has none.
    fn parse_account(&mut self, what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        let _ = (body, out);
        Err(Error::invalid("account list", format!("{what:?}"), "this venue has no private REST lists"))
    }
    /// The documented rule for a delta with `ids` after a book at sequence `last` (`bridging`:
    /// the book was just loaded from a REST snapshot with id `last`, Binance's first-delta rule).
    fn check(&self, last: u64, ids: &SeqIds, bridging: bool) -> Verdict;
    /// Whether a [`BookKind::Snapshot`] item with `ids` is older than the book it would
    /// replace, whose sequence is `last`: for venues that push the whole book every time, where
    /// a push may repeat or arrive after a newer one (Hyperliquid `l2Book`, by its `time`).
    /// When true the decoder drops the item (counted in `DecoderStats::stale_snapshots`, no
    /// event) and keeps the book. Asked only when the book is synced with a sequence and the
    /// item has ids. Default: false (every snapshot replaces the book, whatever its ids).
    fn stale_snapshot(&self, last: u64, ids: &SeqIds) -> bool {
        let _ = (last, ids);
        false
    }
    /// True if `parse` reads [`Out::hint`] (to skip the levels of a book message the decoder
    /// will drop as stale, the item still pushed with its ids and no levels): the decoder then
    /// fills the hints before each frame. Default: false (no hints, no cost).
    fn uses_sync_hints(&self) -> bool {
        false
    }
    /// The checksum format of this venue's books, if it sends checksums.
    fn checksum(&self) -> Option<checksum::Format> {
        None
    }
    /// Exchange market id -> unified symbol ("BTC-USDT-SWAP" -> "BTC/USDT:USDT").
    fn unified_symbol(&self, market_id: &str) -> String;
    /// Unified symbol -> exchange market id; `InvalidArgument` naming the symbol if it does not
    /// belong to this endpoint.
    fn market_id(&self, symbol: &str) -> Result<String, Error>;
}

/// Makes a venue's parser for one endpoint: one static per exchange in [`FACTORIES`].
pub trait VenueFactory: Sync {
    /// Lowercase ccxt exchange id.
    fn id(&self) -> &'static str;
    /// Endpoints served, the default first: the venue's spot market, unless its main market
    /// is another (Hyperliquid: `linear` perps, as ccxt's default type there is `swap`).
    fn markets(&self) -> &'static [&'static str];
    /// A parser for `market` with the instruments known (may be empty: offline replay).
    /// `InvalidArgument` naming the market if this exchange has no such endpoint.
    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error>;
}

/// Every exchange on the new contract: the one list to add an exchange to (one line each).
pub static FACTORIES: &[&dyn VenueFactory] = &[
    &binance::BINANCE,
    &binance::BINANCEUSDM,
    &okx::FACTORY,
    &kraken::FACTORY,
    &coinbase::ADVANCED_TRADE,
    &coinbase::EXCHANGE,
    &bybit::FACTORY,
    &kucoin::FACTORY,
    &gateio::FACTORY,
    &bitget::FACTORY,
    &mexc::FACTORY,
    &hyperliquid::FACTORY,
    &bitunix::FACTORY,
];

/// The levels of a REST depth reply, `[[price, size, ...], ...]` with prices and sizes as strings
/// or numbers (extra columns such as order counts skipped), appended to `levels`: a price above
/// 0 and a size at least 0, else a `Frame` error naming `field`. Shared by the venues whose REST
/// books have that shape (Bitget `orderbook`/`merge-depth`, Coinbase Exchange `book`).
pub(crate) fn rest_levels(
    c: &mut crate::json::Cursor<'_>,
    levels: &mut Vec<RawLevel>,
    field: &'static str,
) -> Result<(), Error> {
    const SHAPE: &str = "a level is [price, size, ...]";
    if !c.begin_array(field)? {
        return Ok(());
    }
    loop {
        if !c.begin_array(field)? {
            return Err(Error::frame(field, SHAPE));
        }
        let price = c.dec_any(field)?;
        if !c.more_elements(field)? {
            return Err(Error::frame(field, SHAPE));
        }
        let size = c.dec_any(field)?;
        while c.more_elements(field)? {
            c.skip_value(field)?;
        }
        if price.mantissa <= 0 || size.is_negative() {
            return Err(Error::frame(field, format!("impossible level [{price}, {size}]")));
        }
        levels.push(RawLevel { price, size });
        if !c.more_elements(field)? {
            return Ok(());
        }
    }
}

/// Look up a venue factory by exchange id; `InvalidArgument` naming the id (and the known ones).
pub fn factory(id: &str) -> Result<&'static dyn VenueFactory, Error> {
    FACTORIES.iter().copied().find(|f| f.id() == id).ok_or_else(|| {
        let known: Vec<&str> = FACTORIES.iter().map(|f| f.id()).collect();
        Error::invalid("exchange", id, format!("unknown exchange; known: {}", known.join(", ")))
    })
}
