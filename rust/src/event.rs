//! What a decoded frame yields: a few small, plain events. Symbols are indexes into the
//! decoder's symbol table (so no string is built per event); prices and sizes are exact
//! [`crate::fixed::Dec`]s as the venue wrote them; timestamps are ns since the Unix epoch.

use crate::account::{BalanceItem, FillItem, OrderItem, PositionItem};
use crate::exchanges::{BboItem, CandleItem, ControlItem, TradeItem};

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

/// Why a book lost its synchronisation with the exchange (it now awaits a new snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncLoss {
    /// A book message broke the venue's sequence rule ([`crate::exchanges::Venue::check`]):
    /// `expected` and `received` are the ids the rule compared.
    Gap { expected: u64, received: u64 },
    /// The venue's checksum of its book after a message (`expected`) differs from the one
    /// computed over our book (`computed`); both as the 32 bits of the CRC.
    Checksum { expected: u32, computed: u32 },
    /// The connection-wide message counter skipped: `expected` was the previous + 1.
    ConnectionGap { expected: u64, received: u64 },
}

impl SyncLoss {
    /// `"gap"`, `"checksum"` or `"connection_gap"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncLoss::Gap { .. } => "gap",
            SyncLoss::Checksum { .. } => "checksum",
            SyncLoss::ConnectionGap { .. } => "connection_gap",
        }
    }

    /// The (expected, received) pair, the checksums widened to `u64`.
    pub fn values(self) -> (u64, u64) {
        match self {
            SyncLoss::Gap { expected, received } | SyncLoss::ConnectionGap { expected, received } => {
                (expected, received)
            }
            SyncLoss::Checksum { expected, computed } => (u64::from(expected), u64::from(computed)),
        }
    }
}

/// What the decoder yields, in the order of the frame's items. `symbol` is an index into the
/// decoder's symbol table; `receive_ts` the local receive time (ns since the Unix epoch) the
/// frame was fed with.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Trade {
        symbol: SymbolIndex,
        trade: TradeItem,
        receive_ts: i64,
    },
    Bbo {
        symbol: SymbolIndex,
        bbo: BboItem,
        receive_ts: i64,
    },
    /// The book of `symbol` changed; `sequence` is the final update id now applied (None for
    /// venues without book sequences).
    BookUpdate {
        symbol: SymbolIndex,
        sequence: Option<u64>,
        exchange_ts: Option<i64>,
        receive_ts: i64,
    },
    /// Boxed: candles are rare (one a minute or so), and inline they would make every event
    /// 168 bytes instead of 128 (a memcpy call per event instead of a few moves).
    Candle {
        symbol: SymbolIndex,
        candle: Box<CandleItem>,
        receive_ts: i64,
    },
    /// An exchange notice about the connection itself (Binance `serverShutdown`: the server
    /// will close it soon), so the owner can move to a new connection first.
    Notice {
        name: String,
        exchange_ts: Option<i64>,
        receive_ts: i64,
    },
    /// A reply to a control request (subscribe ack or error, pong, welcome, login).
    Control {
        control: ControlItem,
        receive_ts: i64,
    },
    /// The book of `symbol` lost sync (gap, checksum mismatch, connection gap): it is empty and
    /// awaits a new snapshot (REST venues buffer deltas meanwhile, resubscribe venues drop them).
    SyncLost {
        symbol: SymbolIndex,
        reason: SyncLoss,
        receive_ts: i64,
    },
    /// An account order changed (private streams). Boxed like [`Event::Candle`]: rare.
    Order {
        order: Box<OrderItem>,
        receive_ts: i64,
    },
    /// An account fill.
    Fill {
        fill: Box<FillItem>,
        receive_ts: i64,
    },
    /// An account position's state after a change.
    Position {
        position: Box<PositionItem>,
        receive_ts: i64,
    },
    /// An account balance's state after a change.
    Balance {
        balance: Box<BalanceItem>,
        receive_ts: i64,
    },
}
