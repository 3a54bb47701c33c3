"""Per-market protocol facts the simulator mimics (from docs/exchanges/binance.md §1-§4)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MarketSpec:
    """What differs between Binance spot and USD-M market-data servers.

    Times in seconds. ``routes`` are path prefixes that accept WebSocket connections
    (``<prefix>/ws``, ``<prefix>/ws/<stream>``, ``<prefix>/stream?streams=``); the empty prefix
    is the unrouted endpoint.
    """

    name: str
    depth_path: str  # REST depth snapshot endpoint
    rest_prefix: str  # /api/v3 or /fapi/v1 (ping/time live there too)
    ping_interval: float  # server WS ping cadence
    pong_timeout: float  # no pong for this long after a ping -> disconnect
    rate_limit: int  # incoming messages (JSON, ping, pong) per second before disconnect
    routes: tuple[str, ...]
    unsolicited_pong_counts: bool  # USD-M: any pong keeps the connection alive
    close_on_invalid_json: bool  # USD-M changelog 2023-06-22: invalid JSON disconnects
    depth_limits: tuple[int, ...] | None  # allowed REST limits (None: 1..max_depth_limit)
    default_depth_limit: int
    max_depth_limit: int
    weight_per_minute: int  # REST request-weight limit, shown in exchangeInfo's rateLimits
    historical_trades_need_key: bool  # historicalTrades is MARKET_DATA (X-MBX-APIKEY) on USD-M


SPOT = MarketSpec(
    name="binance",
    depth_path="/api/v3/depth",
    rest_prefix="/api/v3",
    ping_interval=20.0,
    pong_timeout=60.0,
    rate_limit=5,
    routes=("",),
    unsolicited_pong_counts=False,
    close_on_invalid_json=False,
    depth_limits=None,
    default_depth_limit=100,
    max_depth_limit=5000,
    weight_per_minute=6000,
    historical_trades_need_key=False,
)

USDM = MarketSpec(
    name="binanceusdm",
    depth_path="/fapi/v1/depth",
    rest_prefix="/fapi/v1",
    ping_interval=180.0,
    pong_timeout=600.0,
    rate_limit=10,
    routes=("", "/public", "/market"),
    unsolicited_pong_counts=True,
    close_on_invalid_json=True,
    depth_limits=(5, 10, 20, 50, 100, 500, 1000),
    default_depth_limit=500,
    max_depth_limit=1000,
    weight_per_minute=2400,
    historical_trades_need_key=True,
)

MARKETS = {SPOT.name: SPOT, USDM.name: USDM}


def usdm_route_of(stream: str) -> str:
    """Which USD-M route carries ``stream``: "/public" (book tickers and depth) or "/market".

    Per the USD-M endpoint split [F1, F2]: high-frequency book streams are on ``/public``,
    everything else on ``/market``; the unrouted endpoint delivers only ``/public`` streams.
    """
    if stream == "!bookTicker":
        return "/public"
    kind = stream.split("@", 2)[1] if "@" in stream else ""
    if kind == "bookTicker" or kind.startswith("depth"):
        return "/public"
    return "/market"


def split_market_id(market: str, market_id: str) -> tuple[str, str] | None:
    """``("LRC", "BTC")`` for ``"LRCBTC"`` on ``market`` ("binance", "binanceusdm"), read with the
    decoder's own market id -> unified symbol mapping (a delivery suffix ``_YYMMDD`` is ignored);
    None when the id does not end in a quote asset the decoder knows."""
    from .._core import unified_symbol

    symbol = unified_symbol(market, market_id)
    if "/" not in symbol:
        return None
    base, rest = symbol.split("/", 1)
    return base, rest.split(":", 1)[0]
