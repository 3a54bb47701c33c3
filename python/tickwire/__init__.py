"""tickwire: real-time crypto exchange market data with a Rust core.

Frames are decoded and L2 books kept in Rust (exact fixed-point prices, exchange sequence rules
enforced); Python owns connections and policy. Timestamps are int ns since the Unix epoch; prices
and sizes are floats by default and exact ``Decimal`` via ``event.decimal(name)``.

>>> import tickwire as tw
>>> dec = tw.Decoder("binance")
>>> events = dec.feed(frame_bytes)            # one call per WebSocket frame
>>> dec.book("ETH/USDT").bids(10)             # NumPy (10, 2) [price, size], best first
"""

from __future__ import annotations

from ._core import (
    BBO,
    Balance,
    Book,
    BookUpdate,
    Candle,
    ControlReply,
    Decoder,
    Fill,
    Notice,
    OrderUpdate,
    Position,
    SyncLost,
    Trade,
    market_id,
)
from .auth import Credentials
from .cache import Cache
from .connection import ConnectionOptions, EndpointError, StartTimeoutError, SubscriptionError
from .events import (
    AccountGap,
    BadFrame,
    Connected,
    Disconnected,
    GapDetected,
    Lagging,
    Resynced,
    TradesMissed,
)
from .exceptions import (
    AuthError,
    CallbackError,
    ExchangeError,
    FrameError,
    SequenceGap,
    TickwireError,
)
from .feed import Feed, run
from .pool import Pool
from .redact import redact_url
from .replay import Replay, replay

__version__ = "0.1.0"

__all__ = [
    "BBO",
    "AccountGap",
    "AuthError",
    "BadFrame",
    "Balance",
    "Book",
    "BookUpdate",
    "Cache",
    "CallbackError",
    "Candle",
    "Connected",
    "ConnectionOptions",
    "ControlReply",
    "Credentials",
    "Decoder",
    "Disconnected",
    "EndpointError",
    "ExchangeError",
    "Feed",
    "Fill",
    "FrameError",
    "GapDetected",
    "Lagging",
    "Notice",
    "OrderUpdate",
    "Pool",
    "Position",
    "Replay",
    "Resynced",
    "SequenceGap",
    "StartTimeoutError",
    "SubscriptionError",
    "SyncLost",
    "TickwireError",
    "Trade",
    "TradesMissed",
    "market_id",
    "redact_url",
    "replay",
    "run",
]
