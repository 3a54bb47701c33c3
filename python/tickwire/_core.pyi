"""Type stub of the Rust extension module (hand-written; keep in step with rust/src/python/).

Prices and sizes are floats (the nearest double to the exchange's exact decimal; exact values via
``decimal(name)``); timestamps are int ns since the Unix epoch. Event classes are frozen and
cannot be subclassed; only ``Decoder`` makes them.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Literal, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

__all__ = [
    "BBO",
    "PRICE_DECIMALS",
    "Balance",
    "Book",
    "BookUpdate",
    "Candle",
    "ControlReply",
    "Decoder",
    "Fill",
    "FrameSink",
    "Notice",
    "OrderUpdate",
    "Position",
    "SyncLost",
    "Trade",
    "exchanges",
    "market_id",
    "unified_symbol",
    "venues",
]

PRICE_DECIMALS: int
"""Decimal places every price and size is kept at, exactly (fixed point)."""

def exchanges() -> list[str]:
    """Exchange ids the core decodes ("binance", "binanceusdm", ...)."""

def venues() -> dict[str, list[str]]:
    """``{exchange_id: [market, ...]}``, each venue's default market first."""

def market_id(exchange: str, symbol: str, market: str | None = None) -> str:
    """Exchange market id of unified ``symbol`` ("ETH/USDT" -> "ETHUSDT") on ``market`` (None: the
    default); ValueError names a bad exchange, market or a symbol not of that market."""

def unified_symbol(exchange: str, market_id: str, market: str | None = None) -> str:
    """Unified symbol of ``market_id`` ("ETHUSDT" -> "ETH/USDT"); ValueError names a bad exchange
    or market."""

@final
class Trade:
    """A public trade: aggressor ``side``, exchange ``trade_id``, ``trade_ts`` (match time),
    ``exchange_ts`` (event time), ``receive_ts`` (local)."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def side(self) -> Literal["buy", "sell"]: ...
    @property
    def trade_id(self) -> int | str: ...
    @property
    def trade_ts(self) -> int: ...
    @property
    def exchange_ts(self) -> int: ...
    @property
    def receive_ts(self) -> int: ...
    def decimal(self, name: Literal["price", "size"]) -> Decimal:
        """The exact value of ``name``; AttributeError for another name."""

@final
class BBO:
    """Best bid and ask of the exchange's book ticker, valid at book update id ``sequence`` (None
    where the venue sends none); ``exchange_ts`` is None where the exchange sends no event time."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def bid_price(self) -> float: ...
    @property
    def bid_size(self) -> float: ...
    @property
    def ask_price(self) -> float: ...
    @property
    def ask_size(self) -> float: ...
    @property
    def sequence(self) -> int | None: ...
    @property
    def exchange_ts(self) -> int | None: ...
    @property
    def receive_ts(self) -> int: ...
    def decimal(self, name: Literal["bid_price", "bid_size", "ask_price", "ask_size"]) -> Decimal:
        """The exact value of ``name``; AttributeError for another name."""

@final
class BookUpdate:
    """The book of ``symbol`` changed; ``sequence`` is the exchange's final update id applied (None
    for venues without book sequences)."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def sequence(self) -> int | None: ...
    @property
    def exchange_ts(self) -> int | None: ...
    @property
    def receive_ts(self) -> int: ...

@final
class Candle:
    """A candle of ``interval`` ("1m") covering [start_ts, end_ts]; ``closed`` once final;
    ``trades`` / ``closed`` / ``exchange_ts`` None where the venue does not say."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def interval(self) -> str: ...
    @property
    def start_ts(self) -> int: ...
    @property
    def end_ts(self) -> int: ...
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...
    @property
    def trades(self) -> int | None: ...
    @property
    def closed(self) -> bool | None: ...
    @property
    def exchange_ts(self) -> int | None: ...
    @property
    def receive_ts(self) -> int: ...
    def decimal(self, name: Literal["open", "high", "low", "close", "volume"]) -> Decimal:
        """The exact value of ``name``; AttributeError for another name."""

@final
class ControlReply:
    """The exchange's reply to a control request: ``kind`` "ack", "error", "pong", "welcome" or
    "login"; ``topic`` where the venue acknowledges per topic (the ``Subscription.stream`` text);
    ``ok`` is False for an error (``code``, ``message``)."""

    @property
    def exchange(self) -> str: ...
    @property
    def kind(self) -> Literal["ack", "error", "pong", "welcome", "login"]: ...
    @property
    def request_id(self) -> int | str | None: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def ok(self) -> bool: ...
    @property
    def code(self) -> int | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def receive_ts(self) -> int: ...

@final
class Notice:
    """A notice about the connection itself (Binance "serverShutdown")."""

    @property
    def exchange(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def exchange_ts(self) -> int | None: ...
    @property
    def receive_ts(self) -> int: ...

@final
class SyncLost:
    """The book of ``symbol`` lost sync and awaits a new snapshot: ``reason`` "gap" (sequence
    rule broken: ``expected``/``received`` ids), "checksum" (``expected`` the venue's CRC,
    ``received`` ours, unsigned 32-bit) or "connection_gap" (connection counter skipped)."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def reason(self) -> Literal["gap", "checksum", "connection_gap"]: ...
    @property
    def expected(self) -> int: ...
    @property
    def received(self) -> int: ...
    @property
    def receive_ts(self) -> int: ...

@final
class OrderUpdate:
    """A change of one of the account's orders (private streams, REST order lists).

    ``status``: "new", "pending" (a conditional order awaiting its trigger),
    "partially_filled", "filled", "canceled", "rejected" or "expired". ``order_type``:
    "limit", "market", "stop_limit", "stop_market", "take_profit_limit",
    "take_profit_market", "trailing_stop" or "limit_maker". ``time_in_force``: "gtc", "ioc",
    "fok", "post_only", "gtd" or None. Sizes in base units, or contracts where the venue
    trades contracts."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def client_order_id(self) -> str | None: ...
    @property
    def side(self) -> Literal["buy", "sell"]: ...
    @property
    def order_type(self) -> str: ...
    @property
    def time_in_force(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def is_final(self) -> bool: ...
    @property
    def price(self) -> float | None: ...
    @property
    def trigger_price(self) -> float | None: ...
    @property
    def size(self) -> float: ...
    @property
    def filled_size(self) -> float: ...
    @property
    def average_price(self) -> float | None: ...
    @property
    def reduce_only(self) -> bool | None: ...
    @property
    def created_ts(self) -> int | None: ...
    @property
    def exchange_ts(self) -> int: ...
    @property
    def receive_ts(self) -> int: ...
    def decimal(
        self,
        name: Literal["price", "trigger_price", "size", "filled_size", "average_price"],
    ) -> Decimal | None:
        """The exact value of ``name`` (None where absent); AttributeError for another name."""

@final
class Fill:
    """One execution of one of the account's orders: ``trade_id`` is the venue's execution id
    (the dedup key); ``fee`` is paid (positive) or a rebate (negative)."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def client_order_id(self) -> str | None: ...
    @property
    def side(self) -> Literal["buy", "sell"]: ...
    @property
    def price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def fee(self) -> float | None: ...
    @property
    def fee_asset(self) -> str | None: ...
    @property
    def is_maker(self) -> bool | None: ...
    @property
    def liquidation(self) -> bool | None: ...
    @property
    def exchange_ts(self) -> int: ...
    @property
    def receive_ts(self) -> int: ...
    def decimal(self, name: Literal["price", "size", "fee"]) -> Decimal | None:
        """The exact value of ``name`` (None for an absent fee); AttributeError otherwise."""

@final
class Position:
    """A derivatives position after a change: ``side`` "long", "short" or "flat", ``size`` >= 0."""

    @property
    def exchange(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Literal["long", "short", "flat"]: ...
    @property
    def size(self) -> float: ...
    @property
    def entry_price(self) -> float | None: ...
    @property
    def mark_price(self) -> float | None: ...
    @property
    def unrealized_pnl(self) -> float | None: ...
    @property
    def liquidation_price(self) -> float | None: ...
    @property
    def leverage(self) -> float | None: ...
    @property
    def margin_mode(self) -> Literal["cross", "isolated"] | None: ...
    @property
    def exchange_ts(self) -> int: ...
    @property
    def receive_ts(self) -> int: ...
    def decimal(
        self,
        name: Literal[
            "size", "entry_price", "mark_price", "unrealized_pnl", "liquidation_price", "leverage"
        ],
    ) -> Decimal | None:
        """The exact value of ``name`` (None where absent); AttributeError for another name."""

@final
class Balance:
    """One asset's balance after a change: ``free``, ``locked``, ``total`` (None where the venue
    does not say)."""

    @property
    def exchange(self) -> str: ...
    @property
    def asset(self) -> str: ...
    @property
    def free(self) -> float | None: ...
    @property
    def locked(self) -> float | None: ...
    @property
    def total(self) -> float | None: ...
    @property
    def exchange_ts(self) -> int: ...
    @property
    def receive_ts(self) -> int: ...
    def decimal(self, name: Literal["free", "locked", "total"]) -> Decimal | None:
        """The exact value of ``name`` (None where absent); AttributeError for another name."""

_Event = (
    Trade
    | BBO
    | BookUpdate
    | Candle
    | ControlReply
    | Notice
    | SyncLost
    | OrderUpdate
    | Fill
    | Position
    | Balance
)

@final
class Book:
    """A live view of one L2 book owned by its ``Decoder``."""

    @property
    def symbol(self) -> str: ...
    @property
    def best_bid(self) -> tuple[float, float] | None: ...
    @property
    def best_ask(self) -> tuple[float, float] | None: ...
    @property
    def mid(self) -> float | None: ...
    @property
    def spread(self) -> float | None: ...
    @property
    def sequence(self) -> int | None: ...
    @property
    def synced(self) -> bool: ...
    @property
    def crossed(self) -> bool: ...
    def bids(self, n: int) -> npt.NDArray[np.float64]:
        """Best ``n`` bids, shape (k, 2) [price, size], best first; ValueError if n < 0."""
    def asks(self, n: int) -> npt.NDArray[np.float64]:
        """Best ``n`` asks, shape (k, 2) [price, size], best first; ValueError if n < 0."""
    def exact_top(self) -> tuple[tuple[str, str] | None, tuple[str, str] | None]: ...
    def __len__(self) -> int: ...

_Payload = bytes | bytearray | memoryview

@final
class Decoder:
    """Decodes one connection's frames for one exchange endpoint and keeps its L2 books."""

    def __new__(
        cls,
        exchange: str,
        market: str | None = None,
        instruments: list[dict[str, str | None]] | None = None,
        *,
        max_buffered: int = 10000,
    ) -> Self: ...
    @property
    def exchange(self) -> str: ...
    @property
    def market(self) -> str: ...
    @property
    def recovery(self) -> Literal["rest", "resubscribe"]: ...
    def feed(
        self, payload: _Payload, receive_ts: int | None = None, *, binary: bool = False
    ) -> list[_Event]:
        """The events of one frame in order (a lost book is a SyncLost event); FrameError;
        ValueError if receive_ts < 0. ``binary``: a binary WebSocket frame."""
    def apply_snapshot(
        self, symbol: str, payload: _Payload, receive_ts: int | None = None
    ) -> list[BookUpdate]: ...
    def set_handlers(
        self,
        *,
        trade: Callable[[Trade], object] | None = None,
        bbo: Callable[[BBO], object] | None = None,
        book: Callable[[BookUpdate], object] | None = None,
        candle: Callable[[Candle], object] | None = None,
        control: Callable[[ControlReply], object] | None = None,
        notice: Callable[[Notice], object] | None = None,
        sync_lost: Callable[[SyncLost], object] | None = None,
        order: Callable[[OrderUpdate], object] | None = None,
        fill: Callable[[Fill], object] | None = None,
        position: Callable[[Position], object] | None = None,
        balance: Callable[[Balance], object] | None = None,
        default: Callable[[_Event], object] | None = None,
    ) -> None:
        """Handlers for ``dispatch``; TypeError names an argument that is not callable."""
    def dispatch(
        self, payload: _Payload, receive_ts: int | None = None, *, binary: bool = False
    ) -> int: ...
    def register(self, symbol: str) -> str: ...
    def reset_book(self, symbol: str) -> None: ...
    def needs_snapshot(self, symbol: str) -> bool: ...
    def book(self, symbol: str) -> Book: ...
    def symbols(self) -> list[str]: ...
    def deltas_seen(self, symbol: str) -> tuple[int, int, int] | None: ...
    def last_trade_ids(self) -> dict[str, int]: ...
    def last_trades(self) -> dict[str, tuple[int, list[int | str]]]: ...
    def apply_trades(
        self, symbol: str, payload: _Payload, after: int | None, receive_ts: int | None = None
    ) -> list[Trade]: ...
    def apply_account(
        self,
        what: Literal["fills", "orders"],
        payload: _Payload,
        receive_ts: int | None = None,
    ) -> list[Fill | OrderUpdate]:
        """A REST account list (past fills or orders) as events in the body's order;
        FrameError for a malformed body; ValueError for a bad ``what`` or a venue without it."""
    def stats(self) -> dict[str, int]: ...
    def book_stats(self, symbol: str) -> dict[str, int]: ...

@final
class FrameSink:
    """Decodes complete picows text and binary frames in place; see rust/src/python/picows.rs."""

    def __new__(
        cls,
        decoder: Decoder,
        other: Callable[[object, object], object],
        on_error: Callable[[BaseException, int, int], object],
    ) -> Self: ...
    def on_ws_frame(self, transport: object, frame: object) -> None: ...
