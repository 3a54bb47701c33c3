//! What a decoded frame yields: a few small, plain events. Symbols are indexes into the
//! decoder's symbol table (so no string is built per event); prices and sizes are fixed point;
//! timestamps are ns since the Unix epoch.

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

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Trade {
        symbol: usize,
        price: i64,
        size: i64,
        side: Side,
        trade_id: u64,
        trade_ts: i64,
        exchange_ts: i64,
        receive_ts: i64,
    },
    Bbo {
        symbol: usize,
        bid_price: i64,
        bid_size: i64,
        ask_price: i64,
        ask_size: i64,
        sequence: u64,
        exchange_ts: Option<i64>,
        receive_ts: i64,
    },
    /// The book of `symbol` changed; `sequence` is the final update id now applied.
    BookUpdate { symbol: usize, sequence: u64, exchange_ts: Option<i64>, receive_ts: i64 },
    Candle {
        symbol: usize,
        interval: String,
        start_ts: i64,
        end_ts: i64,
        open: i64,
        high: i64,
        low: i64,
        close: i64,
        volume: i64,
        trades: u64,
        closed: bool,
        exchange_ts: i64,
        receive_ts: i64,
    },
    /// An exchange notice about the connection itself (Binance `serverShutdown`: the server
    /// will close it soon), so the owner can move to a new connection first.
    Notice { name: String, exchange_ts: Option<i64>, receive_ts: i64 },
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
