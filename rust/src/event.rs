//! What a decoded frame yields: a few small, plain events. Symbols are indexes into the
//! decoder's symbol table (so no string is built per event); prices and sizes are fixed point;
//! timestamps are ns since the Unix epoch.

use crate::book::Level;

/// A symbol's index in its decoder's symbol table.
pub type SymbolIndex = usize;

/// Aggressor side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// A request id as the exchange echoes it: integer, string or absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestId {
    Int(i64),
    Str(String),
}

/// A public trade, as a venue parses it and as the decoder hands it on. Prices and sizes are
/// fixed point (see [`crate::fixed`]), `price` > 0 and `size` >= 0; timestamps ns since the Unix
/// epoch: `trade_ts` the matching time, `exchange_ts` the event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    pub price: i64,
    pub size: i64,
    /// The aggressor's side.
    pub side: Side,
    pub trade_id: u64,
    pub trade_ts: i64,
    pub exchange_ts: i64,
}

/// Best bid and ask as the exchange's book ticker states them (fixed point, non-negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bbo {
    pub bid: Level,
    pub ask: Level,
    /// The book update id these are valid at (Binance `u`).
    pub sequence: u64,
    /// Event time, ns; None where the exchange sends none (Binance spot).
    pub exchange_ts: Option<i64>,
}

/// One candle (kline): OHLC and volume fixed point, covering [`start_ts`, `end_ts`] (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candle {
    pub start_ts: i64,
    pub end_ts: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: i64,
    /// Number of trades in the candle.
    pub trades: u64,
    /// True once the candle is final.
    pub closed: bool,
    pub exchange_ts: i64,
}

/// What the decoder yields. `symbol` is an index into the decoder's symbol table; `receive_ts`
/// the local receive time (ns since the Unix epoch) the frame was fed with.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Trade {
        symbol: usize,
        trade: Trade,
        receive_ts: i64,
    },
    Bbo {
        symbol: usize,
        bbo: Bbo,
        receive_ts: i64,
    },
    /// The book of `symbol` changed; `sequence` is the final update id now applied.
    BookUpdate {
        symbol: usize,
        sequence: u64,
        exchange_ts: Option<i64>,
        receive_ts: i64,
    },
    /// `interval` as the exchange names it ("1m").
    Candle {
        symbol: usize,
        interval: String,
        candle: Candle,
        receive_ts: i64,
    },
    /// An exchange notice about the connection itself (Binance `serverShutdown`: the server
    /// will close it soon), so the owner can move to a new connection first.
    Notice {
        name: String,
        exchange_ts: Option<i64>,
        receive_ts: i64,
    },
    /// A reply to a control request (subscribe ack or error).
    Control {
        request_id: Option<RequestId>,
        ok: bool,
        code: Option<i64>,
        message: Option<String>,
        /// Raw JSON of the reply's `result`, when it has one that is not null.
        result: Option<String>,
        receive_ts: i64,
    },
}
