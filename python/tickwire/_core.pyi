"""Type stub of the Rust extension module (hand-written; keep in step with rust/src/python/)."""

from collections.abc import Callable
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

PRICE_DECIMALS: int

def exchanges() -> list[str]: ...
def market_id(exchange: str, symbol: str) -> str: ...
def unified_symbol(exchange: str, market_id: str) -> str: ...

class Trade:
    exchange: str
    symbol: str
    price: float
    size: float
    side: Literal["buy", "sell"]
    trade_id: int
    trade_ts: int
    exchange_ts: int
    receive_ts: int
    def decimal(self, name: Literal["price", "size"]) -> Decimal: ...

class BBO:
    exchange: str
    symbol: str
    bid_price: float
    bid_size: float
    ask_price: float
    ask_size: float
    sequence: int
    exchange_ts: int | None
    receive_ts: int
    def decimal(
        self, name: Literal["bid_price", "bid_size", "ask_price", "ask_size"]
    ) -> Decimal: ...

class BookUpdate:
    exchange: str
    symbol: str
    sequence: int
    exchange_ts: int | None
    receive_ts: int

class Candle:
    exchange: str
    symbol: str
    interval: str
    start_ts: int
    end_ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int
    closed: bool
    exchange_ts: int
    receive_ts: int
    def decimal(self, name: Literal["open", "high", "low", "close", "volume"]) -> Decimal: ...

class ControlReply:
    exchange: str
    request_id: int | str | None
    ok: bool
    code: int | None
    message: str | None
    result: str | None
    receive_ts: int

class Notice:
    exchange: str
    name: str
    exchange_ts: int | None
    receive_ts: int

Event = Trade | BBO | BookUpdate | Candle | ControlReply | Notice

class Book:
    symbol: str
    best_bid: tuple[float, float] | None
    best_ask: tuple[float, float] | None
    mid: float | None
    spread: float | None
    sequence: int | None
    synced: bool
    crossed: bool
    def bids(self, n: int) -> npt.NDArray[np.float64]: ...
    def asks(self, n: int) -> npt.NDArray[np.float64]: ...
    def exact_top(self) -> tuple[tuple[str, str] | None, tuple[str, str] | None]: ...
    def __len__(self) -> int: ...

class Decoder:
    exchange: str
    def __init__(self, exchange: str, *, max_buffered: int = 10000) -> None: ...
    def feed(
        self, payload: bytes | bytearray | memoryview, receive_ts: int | None = None
    ) -> list[Event]: ...
    def apply_snapshot(
        self, symbol: str, payload: bytes | bytearray | memoryview, receive_ts: int | None = None
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
        default: Callable[[Event], object] | None = None,
    ) -> None: ...
    def dispatch(
        self, payload: bytes | bytearray | memoryview, receive_ts: int | None = None
    ) -> int: ...
    def register(self, symbol: str) -> str: ...
    def reset_book(self, symbol: str) -> None: ...
    def needs_snapshot(self, symbol: str) -> bool: ...
    def book(self, symbol: str) -> Book: ...
    def symbols(self) -> list[str]: ...
    def last_trade_ids(self) -> dict[str, int]: ...
    def apply_trades(
        self,
        symbol: str,
        payload: bytes | bytearray | memoryview,
        after: int,
        receive_ts: int | None = None,
    ) -> list[Trade]: ...
    def stats(self) -> dict[str, int]: ...

class FrameSink:
    """Decodes complete picows text frames in place; see rust/src/python/picows.rs."""
    def __init__(
        self,
        decoder: Decoder,
        other: Callable[[object, object], None],
        on_error: Callable[[BaseException, int, int], None],
    ) -> None: ...
    def on_ws_frame(self, transport: object, frame: object) -> None: ...
