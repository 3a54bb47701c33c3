//! Account (private) data as a venue parses it: order updates, fills, positions and balances.
//!
//! One shape for every exchange (issue 12): the venue's Rust file maps its own words onto the
//! normalized enums and vocabularies here, keeps every number exact as a [`Dec`] and every id as
//! the exchange wrote it. Account messages are rare next to market data (a few per second at
//! most), so their items are boxed in [`crate::exchanges::Item`] and own their strings: the
//! market-data hot path keeps its small items.

use crate::event::{Side, SymbolIndex};
use crate::fixed::Dec;

/// An order's state, normalized across venues (each venue's file documents its mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Accepted and working on the book (Binance `NEW`, OKX `live`, Bybit `New`, Hyperliquid
    /// `open`).
    New,
    /// A conditional (stop / take-profit / trigger) order waiting for its trigger (Bybit
    /// `Untriggered`, OKX algo `live`).
    Pending,
    /// Partly filled and still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled by the user, the venue or a self-trade/margin rule (the venue's reason is not
    /// kept here).
    Canceled,
    /// Refused by the matching engine.
    Rejected,
    /// Ended by its time in force or expiry (Binance `EXPIRED`, `EXPIRED_IN_MATCH`).
    Expired,
}

impl OrderStatus {
    /// `"new"`, `"pending"`, `"partially_filled"`, `"filled"`, `"canceled"`, `"rejected"` or
    /// `"expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Pending => "pending",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Expired => "expired",
        }
    }

    /// True once the order can no longer change (filled, canceled, rejected, expired).
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Filled | OrderStatus::Canceled | OrderStatus::Rejected | OrderStatus::Expired)
    }
}

/// Order types, normalized: the venue maps its own names onto these words (an order type a
/// venue has beyond them maps onto the nearest with the venue file saying so).
pub mod order_type {
    pub const LIMIT: &str = "limit";
    pub const MARKET: &str = "market";
    pub const STOP_LIMIT: &str = "stop_limit";
    pub const STOP_MARKET: &str = "stop_market";
    pub const TAKE_PROFIT_LIMIT: &str = "take_profit_limit";
    pub const TAKE_PROFIT_MARKET: &str = "take_profit_market";
    pub const TRAILING_STOP: &str = "trailing_stop";
    /// A limit order that must rest (rejected or repriced if it would take): Binance
    /// `LIMIT_MAKER`, OKX `post_only` as a type.
    pub const LIMIT_MAKER: &str = "limit_maker";
}

/// Times in force, normalized (venue names onto these words).
pub mod time_in_force {
    pub const GTC: &str = "gtc";
    pub const IOC: &str = "ioc";
    pub const FOK: &str = "fok";
    /// Maker only (Binance `GTX`, Bybit `PostOnly`, Hyperliquid `Alo`).
    pub const POST_ONLY: &str = "post_only";
    pub const GTD: &str = "gtd";
}

/// A change of one of the account's orders. Prices in quote units, sizes as the venue counts
/// them for the instrument (base units; contracts where the venue trades contracts: its file
/// says); times ns since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub symbol: SymbolIndex,
    /// The exchange's order id, as text.
    pub order_id: String,
    /// The client's order id, where one was given or the venue assigns one.
    pub client_order_id: Option<String>,
    pub side: Side,
    /// One of [`order_type`]'s words.
    pub order_type: &'static str,
    /// One of [`time_in_force`]'s words, where the venue says.
    pub time_in_force: Option<&'static str>,
    pub status: OrderStatus,
    /// Limit price; None for market orders (or a venue's 0 meaning "none").
    pub price: Option<Dec>,
    /// Trigger price of a conditional order.
    pub trigger_price: Option<Dec>,
    /// Original size.
    pub size: Dec,
    /// Cumulative filled size.
    pub filled_size: Dec,
    /// Average fill price, where the venue gives it (None before any fill).
    pub average_price: Option<Dec>,
    pub reduce_only: Option<bool>,
    /// When the order was created, where the venue says.
    pub created_ts: Option<i64>,
    /// When this change happened (the venue's update or event time).
    pub exchange_ts: i64,
}

/// One execution of one of the account's orders (a private trade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillItem {
    pub symbol: SymbolIndex,
    /// The venue's id of this execution (Binance trade id, Bybit `execId`, OKX `tradeId`,
    /// Hyperliquid `tid`), as text: unique per venue and symbol; the dedup key.
    pub trade_id: String,
    pub order_id: String,
    pub client_order_id: Option<String>,
    /// The account's side in this fill.
    pub side: Side,
    pub price: Dec,
    pub size: Dec,
    /// The fee paid, positive; a rebate is negative (each venue's sign is normalized to this).
    pub fee: Option<Dec>,
    pub fee_asset: Option<String>,
    /// True if the account was the maker, where the venue says.
    pub is_maker: Option<bool>,
    /// True if the fill was a liquidation of the account, where the venue says.
    pub liquidation: Option<bool>,
    /// Execution time.
    pub exchange_ts: i64,
}

/// Direction of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSide {
    Long,
    Short,
    /// No position (size 0): a closed position's last update.
    Flat,
}

impl PositionSide {
    /// `"long"`, `"short"` or `"flat"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PositionSide::Long => "long",
            PositionSide::Short => "short",
            PositionSide::Flat => "flat",
        }
    }
}

/// Margin mode of a derivatives position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarginMode {
    Cross,
    Isolated,
}

impl MarginMode {
    /// `"cross"` or `"isolated"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MarginMode::Cross => "cross",
            MarginMode::Isolated => "isolated",
        }
    }
}

/// The state of one derivatives position after a change. `size` is never negative: the
/// direction is `side` (a venue's signed size is split into both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionItem {
    pub symbol: SymbolIndex,
    pub side: PositionSide,
    pub size: Dec,
    pub entry_price: Option<Dec>,
    pub mark_price: Option<Dec>,
    pub unrealized_pnl: Option<Dec>,
    pub liquidation_price: Option<Dec>,
    pub leverage: Option<Dec>,
    pub margin_mode: Option<MarginMode>,
    pub exchange_ts: i64,
}

/// One asset's balance after a change. Which of `free` / `locked` / `total` a venue gives and
/// what they include (e.g. unrealized profit in a futures wallet) is documented in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceItem {
    /// The asset as the venue names it, unified like ccxt's currency codes where they differ.
    pub asset: String,
    /// Available for new orders and withdrawals.
    pub free: Option<Dec>,
    /// Held by open orders or margin.
    pub locked: Option<Dec>,
    /// Wallet total.
    pub total: Option<Dec>,
    pub exchange_ts: i64,
}

/// Which authenticated REST list a body is (for the recovery after a reconnect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountList {
    /// Past fills (Binance `myTrades` / `userTrades`, Bybit `execution/list`, OKX
    /// `fills-history`, Hyperliquid `userFillsByTime`).
    Fills,
    /// Orders (open and recently changed).
    Orders,
}

impl AccountList {
    /// Parse `"fills"` or `"orders"`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fills" => Some(AccountList::Fills),
            "orders" => Some(AccountList::Orders),
            _ => None,
        }
    }
}
