"""Registry of exchange adapters (the Python half of an exchange; the Rust half is the decoder).

An adapter holds every exchange-specific fact the connection layer needs: URLs, symbol mapping,
stream names, subscribe message shapes, limits, snapshot requests and how to order events for
de-duplication. Generic code (``connection.py``, ``feed.py``) only calls the hooks of
:class:`Adapter` and never branches on an exchange's name.

Adding an exchange: write ``exchanges/<name>.py`` with an :class:`Adapter` subclass and add one
line to ``_REGISTRY`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "Adapter",
    "Limits",
    "Subscription",
    "exchange_ids",
    "get_adapter",
    "swap_scheme",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """Connection facts of one exchange endpoint.

    - ``streams_per_connection``: most streams one WebSocket may carry.
    - ``streams_per_message``: most stream names put in one subscribe request.
    - ``control_msgs_per_s``: client->server messages allowed per second, pongs included where the
      exchange counts them.
    - ``lifetime_s``: the server drops a connection after this many seconds (rotation happens before).
    - ``server_ping_interval_s``: how often the server pings (informational; used for the default
      stale-data timeout).
    - ``stale_after_s``: default for the stale-data watchdog (no frame at all for this long ->
      reconnect).
    """

    streams_per_connection: int
    streams_per_message: int
    control_msgs_per_s: float
    lifetime_s: float
    server_ping_interval_s: float
    stale_after_s: float


@dataclass(frozen=True, slots=True)
class Subscription:
    """One exchange stream: unified ``symbol``, tickwire ``channel``, the adapter's ``route`` (which
    WebSocket endpoint carries it) and the exchange's ``stream`` name."""

    symbol: str
    channel: str
    route: str
    stream: str


def swap_scheme(url: str, to_ws: bool) -> str:
    """Turn ``http(s)://`` into ``ws(s)://`` (``to_ws=True``) or back; other URLs are unchanged."""
    pairs = (("https://", "wss://"), ("http://", "ws://"))
    for http, ws in pairs:
        src, dst = (http, ws) if to_ws else (ws, http)
        if url.startswith(src):
            return dst + url[len(src) :]
    return url


class Adapter:
    """Base class of exchange adapters. Subclasses set the class attributes and implement the hooks.

    Class attributes:
      ``exchange_id`` (tickwire id, lowercase), ``decoder_id`` (id passed to ``tw.Decoder``),
      ``channels`` (tickwire channel names supported), ``limits`` (:class:`Limits`),
      ``ws_base``/``rest_base`` (live base URLs; a simulator differs only by these),
      ``rotate_on_notices`` (``Notice`` names that mean "this connection closes soon": the
      connection moves to a new one at once, as it does before the lifetime limit),
      ``consecutive_trade_ids`` (True if the exchange numbers each symbol's trades 1, 2, 3...:
      after a reconnect the trades published while disconnected are then counted and reported
      as ``TradesMissed``).
    """

    exchange_id: str = ""
    decoder_id: str = ""
    channels: tuple[str, ...] = ()
    rotate_on_notices: frozenset[str] = frozenset()
    consecutive_trade_ids: bool = False
    option_keys: frozenset[str] = frozenset()  # the ``options`` keys this adapter understands
    limits: Limits
    ws_base: str = ""
    rest_base: str = ""

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """``base_url``: one base for both WebSocket and REST (e.g. a simulator
        ``"http://127.0.0.1:8765"``; the scheme is swapped to ``ws://`` for WebSockets).
        ``urls``: finer override, keys ``"ws"`` and/or ``"rest"`` (bases, not full paths).
        A query string on a base (``"wss://gateway/?token=..."``) is kept and added to every
        URL built on it (:meth:`ws_endpoint`, :attr:`rest_params`); wherever tickwire shows
        such a URL, secrets in it are hidden (:func:`tickwire.redact.redact_url`).
        ``options``: adapter-specific choices (see the subclass docstring); unknown keys raise
        ``ValueError``."""
        ws, rest = self.ws_base, self.rest_base
        if base_url:
            base_url = base_url.rstrip("/")
            ws, rest = swap_scheme(base_url, True), swap_scheme(base_url, False)
        if urls:
            unknown = set(urls) - {"ws", "rest"}
            if unknown:
                raise ValueError(
                    f"unknown urls key(s) {sorted(unknown)}; expected 'ws' and/or 'rest'"
                )
            ws = urls.get("ws", ws).rstrip("/")
            rest = urls.get("rest", rest).rstrip("/")
        ws, _, self.ws_query = ws.partition("?")
        rest, _, self.rest_query = rest.partition("?")
        self.ws_base_url = ws.rstrip("/")
        self.rest_base_url = rest.rstrip("/")
        # query parameters of the REST base, sent with every REST request
        self.rest_params: dict[str, str] = dict(parse_qsl(self.rest_query, keep_blank_values=True))
        self.options = dict(options or {})
        unknown = set(self.options) - self.option_keys
        if unknown:
            raise ValueError(
                f"unknown {self.exchange_id} option(s) {sorted(unknown)}; "
                f"known: {sorted(self.option_keys)}"
            )

    # --- validation and naming ----------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """Exchange market id for a unified symbol; raises ``ValueError`` naming the symbol."""
        raise NotImplementedError

    def check_channel(self, channel: str) -> None:
        """Raise ``ValueError`` naming ``channel`` if this exchange does not serve it."""
        if channel not in self.channels:
            raise ValueError(
                f"channel {channel!r} is not supported by {self.exchange_id!r}; "
                f"supported: {', '.join(self.channels)}"
            )

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """All streams for ``symbols`` x ``channels``. Raises ``ValueError`` on a bad symbol/channel."""
        raise NotImplementedError

    async def unavailable_symbols(
        self,
        http: aiohttp.ClientSession,  # noqa: ARG002 - the hook's signature; this default asks nothing
        symbols: Sequence[str],  # noqa: ARG002 - (idem)
    ) -> dict[str, str]:
        """Ask the exchange's own symbol list which of ``symbols`` (unified, already accepted by
        :meth:`market_id`) it does not list or does not trade now.

        Returns ``{unified symbol: reason}`` (empty when every symbol is fine), e.g.
        ``{"FOO/USDT": "FOOUSDT is not listed in /api/v3/exchangeInfo"}``. Raises what the
        request raises (``aiohttp.ClientError``, ``asyncio.TimeoutError``) or
        ``tickwire.ExchangeError`` (error reply, unreadable body): the caller decides what a
        failed lookup means. No timeout of its own (the caller bounds it). The default, for an
        exchange without a symbol list, checks nothing."""
        return {}

    # --- wire ---------------------------------------------------------------------------------
    def ws_url(self, route: str) -> str:
        """Full WebSocket URL of ``route`` (without the base's query string)."""
        raise NotImplementedError

    def ws_endpoint(self, route: str) -> str:
        """The URL to connect for ``route``: :meth:`ws_url` plus the base's query string."""
        url = self.ws_url(route)
        if not self.ws_query:
            return url
        return f"{url}{'&' if '?' in url else '?'}{self.ws_query}"

    def subscribe_message(self, request_id: int, streams: Sequence[str]) -> bytes:
        """Payload of one subscribe request for ``streams`` with ``request_id``."""
        raise NotImplementedError

    def unsubscribe_message(self, request_id: int, streams: Sequence[str]) -> bytes:
        """Payload of one unsubscribe request for ``streams`` with ``request_id`` (acknowledged
        like a subscribe request)."""
        raise NotImplementedError

    def snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """(URL, query params) of the REST depth snapshot for ``symbol``."""
        raise NotImplementedError

    def trades_request(
        self,
        symbol: str,  # noqa: ARG002 - the hook's signature; this default has no such request
        from_id: int,  # noqa: ARG002 - (idem)
        limit: int,  # noqa: ARG002 - (idem)
    ) -> tuple[str, dict[str, str]] | None:
        """(URL, query params) of a public REST request for up to ``limit`` past trades of
        ``symbol`` from id ``from_id`` on, numbered as the trade stream numbers them; None when
        the exchange has no such request without an API key (missed trades are then only
        reported). ``past_trades_max`` is the most one request returns."""
        return None

    past_trades_max: int = 1000

    def book_symbol(self, sub: Subscription) -> str | None:
        """Unified symbol whose L2 book ``sub`` feeds (needs a snapshot), else None."""
        return sub.symbol if sub.channel == "book" else None

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Map event type -> function giving a key that grows strictly along the exchange's stream.

        Used to merge two connections (rotation) and to drop replays across reconnects: an event is
        delivered only if its key is greater than the last delivered key of the same (type, symbol).
        Types missing from the map are never de-duplicated.
        """
        return {}


def _registry() -> dict[str, Callable[..., Adapter]]:
    from . import binance

    return {
        "binance": binance.BinanceSpot,
        "binanceusdm": binance.BinanceUsdm,
    }


def exchange_ids() -> list[str]:
    """Exchange ids that have an adapter."""
    return sorted(_registry())


def get_adapter(exchange: str, **kwargs: Any) -> Adapter:
    """Build the adapter of ``exchange`` (see :class:`Adapter` for ``kwargs``).

    Raises ``ValueError`` naming the exchange and listing the supported ones.
    """
    reg = _registry()
    if not isinstance(exchange, str) or exchange not in reg:
        raise ValueError(f"unknown exchange {exchange!r}; supported: {', '.join(sorted(reg))}")
    return reg[exchange](**kwargs)
