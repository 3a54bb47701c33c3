//! The per-exchange part of decoding, behind one trait, and the one registry of exchanges.
//!
//! A [`Venue`] turns one frame into a [`Message`] (parsing numbers to fixed point, levels into
//! the caller's scratch buffers, applying nothing) and states its exchange's documented
//! book-sync rule. Everything else (books, buffering, gap handling, events) is generic and lives
//! in [`crate::decoder`].

pub mod binance;

use crate::book::Level;
use crate::error::Error;
use crate::event::{Bbo, Candle, RequestId, Trade};

/// Update ids carried by one depth delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaIds {
    /// First update id in the delta (Binance `U`).
    pub first: u64,
    /// Final update id in the delta (Binance `u`); becomes the book's sequence once applied.
    pub last: u64,
    /// Final update id of the previous delta, where the exchange sends it (Binance USD-M `pu`).
    pub prev: Option<u64>,
}

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

/// Scratch buffers a venue parses depth levels into (reused across frames: no allocation).
#[derive(Debug, Default)]
pub struct Levels {
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

impl Levels {
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}

/// What one frame carries. Symbols are the exchange's market ids ("ETHUSDT"), borrowed from the
/// frame; prices and sizes are fixed point; timestamps ns since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// A depth delta whose levels are in the [`Levels`] scratch.
    Depth {
        market_id: &'a str,
        ids: DeltaIds,
        exchange_ts: i64,
    },
    Bbo {
        market_id: &'a str,
        bbo: Bbo,
    },
    Trade {
        market_id: &'a str,
        trade: Trade,
    },
    Candle {
        market_id: &'a str,
        interval: &'a str,
        candle: Candle,
    },
    Control {
        request_id: Option<RequestId>,
        ok: bool,
        code: Option<i64>,
        message: Option<String>,
        result: Option<String>,
    },
    /// A notice about the connection (Binance `serverShutdown`).
    Notice {
        name: &'a str,
        exchange_ts: Option<i64>,
    },
    /// Valid, but nothing tickwire decodes (a stream it does not know).
    Ignored,
}

/// A REST depth snapshot, its levels left in the [`Levels`] scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotIds {
    pub last_update_id: u64,
    pub exchange_ts: Option<i64>,
}

/// One exchange's protocol, as the decoder needs it.
pub trait Venue: Send + Sync {
    /// Lowercase exchange id ("binance").
    fn id(&self) -> &'static str;
    /// Parse one frame. Depth levels go to `levels` (cleared first). Errors leave no trace.
    fn parse<'a>(&self, payload: &'a [u8], levels: &mut Levels) -> Result<Message<'a>, Error>;
    /// Parse a REST depth snapshot body into `levels`.
    fn parse_snapshot(&self, payload: &[u8], levels: &mut Levels) -> Result<SnapshotIds, Error>;
    /// Parse a REST list of past trades (ids as the trade stream numbers them), in the order
    /// given; their event time is the trade time.
    fn parse_trades(&self, payload: &[u8]) -> Result<Vec<Trade>, Error>;
    /// The documented rule for the first delta after a snapshot with `snapshot_id`.
    fn first_delta(&self, snapshot_id: u64, ids: &DeltaIds) -> Verdict;
    /// The documented rule for a delta following one whose final id was `last`.
    fn next_delta(&self, last: u64, ids: &DeltaIds) -> Verdict;
    /// Exchange market id -> unified ccxt symbol ("ETHUSDT" -> "ETH/USDT").
    fn unified_symbol(&self, market_id: &str) -> String;
    /// Unified ccxt symbol -> exchange market id; `InvalidArgument` naming the symbol if it
    /// does not belong to this market.
    fn market_id(&self, symbol: &str) -> Result<String, Error>;
}

/// Every exchange the core decodes: the one list to add a new exchange to.
pub static VENUES: &[&dyn Venue] = &[&binance::SPOT, &binance::USDM];

/// Look up a venue by exchange id; `InvalidArgument` naming the id (and the known ones) if absent.
pub fn venue(id: &str) -> Result<&'static dyn Venue, Error> {
    VENUES.iter().copied().find(|v| v.id() == id).ok_or_else(|| {
        let known: Vec<&str> = VENUES.iter().map(|v| v.id()).collect();
        Error::invalid("exchange", id, format!("unknown exchange; known: {}", known.join(", ")))
    })
}
