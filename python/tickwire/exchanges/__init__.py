"""Registry of exchange adapters (the Python half of an exchange; the Rust half is the decoder).

An adapter holds every exchange-specific fact the connection layer needs: URLs, symbol mapping,
stream names, subscribe request shapes and their ack keys, client keepalives, limits, snapshot
requests, the instruments list and how to order events for de-duplication. Generic code
(``connection/``, ``feed.py``) only calls the hooks of :class:`Adapter` and never branches on an
exchange's name.

Adding an exchange: write ``exchanges/<name>.py`` with an :class:`Adapter` subclass and add one
line to ``_registry`` below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl

from ..auth import Credentials, ServerClock
from ..exceptions import ExchangeError
from ..redact import redact_url

if TYPE_CHECKING:
    import aiohttp

_T = TypeVar("_T")

__all__ = [
    "ACCOUNT_CHANNELS",
    "INSTRUMENT_KEYS",
    "Adapter",
    "ConnectTarget",
    "Keepalive",
    "Limits",
    "NextId",
    "Request",
    "RestCall",
    "RestCandle",
    "RestPoll",
    "RestQuote",
    "Subscription",
    "batches",
    "clear_instruments_cache",
    "exchange_ids",
    "get_adapter",
    "swap_scheme",
]

#: The keys of an instrument dict as ``tw.Decoder(instruments=...)`` takes it (values: strings
#: or None). An adapter's :meth:`Adapter.fetch_instruments` may add ``"active"`` (bool, default
#: True: False = listed but not trading now), which the generic code reads and strips.
INSTRUMENT_KEYS = ("market_id", "symbol", "tick_size", "lot_size")

#: The account (private) channels, as ``Feed(channels=...)`` names them: order updates
#: (``OrderUpdate``), fills (``Fill``), positions (``Position``) and balances (``Balance``).
#: Their subscriptions have no symbol (``Subscription.symbol == ""``): they cover the account.
ACCOUNT_CHANNELS = ("orders", "fills", "positions", "balances")

#: A source of fresh control-request ids (unique per logical connection).
NextId = Callable[[], int]


@dataclass(frozen=True, slots=True)
class Limits:
    """Connection facts of one exchange endpoint.

    - ``streams_per_connection``: most topics one WebSocket may carry (a feed needing more opens
      more connections: sharding).
    - ``streams_per_message``: most topics put in one subscribe request (the adapter applies it
      when it builds requests, see :func:`batches`).
    - ``control_msgs_per_s``: client->server messages allowed per second, pongs and text pings
      included where the exchange counts them.
    - ``lifetime_s``: the server drops a connection after this many seconds (rotation happens
      before).
    - ``server_ping_interval_s``: how often the server pings (informational; used for the default
      stale-data timeout).
    - ``stale_after_s``: default for the stale-data watchdog (no frame at all for this long ->
      reconnect).
    - ``max_request_bytes``: most bytes one request payload may have where the venue caps its
      length (Bybit: args of 21,000 characters, OKX: 64 KB); None = no cap but
      ``streams_per_message``. Applied by the adapter like ``streams_per_message``.
    - ``books_per_connection``: most book topics one connection may carry where the venue caps
      them apart from the others (OKX: fewer than 30 depth channels); None = no such cap.
      Sharding honours it.
    """

    streams_per_connection: int
    streams_per_message: int
    control_msgs_per_s: float
    lifetime_s: float
    server_ping_interval_s: float
    stale_after_s: float
    max_request_bytes: int | None = None
    books_per_connection: int | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """One exchange stream: unified ``symbol``, tickwire ``channel``, the adapter's ``route`` (which
    WebSocket endpoint carries it) and the exchange's ``stream`` name (the venue's topic text,
    e.g. ``"ethusdt@depth@100ms"``, ``"orderbook.200.BTCUSDT"``, ``"books:BTC-USDT"``; unique
    per route)."""

    symbol: str
    channel: str
    route: str
    stream: str


@dataclass(frozen=True, slots=True)
class Request:
    """One control request (subscribe, unsubscribe) as the adapter builds it.

    ``payload``: the text frame to send (UTF-8). ``acks``: the keys of the ``ControlReply``
    (``kind == "ack"``) that must all arrive before the request is done: an ``int`` is a request
    id the venue echoes, a ``str`` is a topic the Rust venue puts in its ``ControlItem`` (equal to
    the subscription's ``stream``). An empty set means "done once sent" (a venue without acks).
    ``streams``: the stream names the request covers (named by ``SubscriptionError``).

    An ``"error"`` reply whose request id or topic is one of ``acks`` fails the request with
    ``SubscriptionError(streams, code, message)``; an error reply with neither id nor topic fails
    the oldest pending request."""

    payload: bytes
    acks: frozenset[int | str]
    streams: tuple[str, ...] = ()
    #: A login/auth request (see :meth:`Adapter.login_requests`): its error reply is an
    #: ``AuthError`` (fatal, never retried in a loop), not a ``SubscriptionError``.
    login: bool = False


@dataclass(frozen=True, slots=True)
class RestCall:
    """One authenticated REST request as the adapter signed it: ``method`` ("GET", "POST",
    "PUT", "DELETE"), full ``url``, query ``params``, ``headers`` (signature and key headers:
    secrets, never logged) and ``body`` (bytes or None). Built just before it is sent: its
    signature carries the time of :attr:`Adapter.clock`."""

    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes | None = None


class RestCandle(NamedTuple):
    """One candle of a REST candles reply (:meth:`Adapter.parse_candles`): ``interval`` as the
    venue's candle events name it (``"1m"``), ``start_ts`` (int ns since the Unix epoch, the
    candle's open time), ``open``/``high``/``low``/``close`` (float, quote per base unit),
    ``volume`` (float, base units) and ``closed`` (True once final, None where the reply does
    not say: the newest row of a reply is usually the candle still open)."""

    interval: str
    start_ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool | None


@dataclass(frozen=True, slots=True)
class RestPoll:
    """One public REST request of the REST fallback (see :class:`Adapter`, "REST fallback"):
    full ``url``, query ``params``, the request ``weight`` the venue charges for it against
    :attr:`Adapter.rest_weight_per_minute` and, for a venue whose public data is POSTed,
    the ``json`` body (a GET where None)."""

    url: str
    params: dict[str, str]
    weight: int
    #: a JSON body to POST instead of a GET (Hyperliquid's ``POST /info``); None: GET
    json: Any = None


@dataclass(frozen=True, slots=True)
class RestQuote:
    """A best bid and ask read from a REST ticker: prices and sizes as the exchange's decimal
    strings, ``sequence`` (the venue's book update id, None where the reply has none) and
    ``exchange_ts`` (ns since the Unix epoch, None where the reply has none)."""

    bid_price: str
    bid_size: str
    ask_price: str
    ask_size: str
    sequence: int | None = None
    exchange_ts: int | None = None


@dataclass(frozen=True, slots=True)
class Keepalive:
    """A client text ping the session sends every ``interval_s`` seconds (``payload``: the frame,
    e.g. ``b"ping"`` or ``b'{"op":"ping"}'``, or a function called at each send that returns it,
    for pings that carry the current time: Gate, BitUnix), rate-limited like every client
    message. Its replies (``ControlReply(kind="pong")`` or a heartbeat) only feed the stale-data
    watchdog."""

    interval_s: float
    payload: bytes | Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class ConnectTarget:
    """Where one WebSocket connect of a route goes, as :meth:`Adapter.connect_target` resolved
    it for that connect: ``url``, the full URL (secrets included: tickwire connects to it and
    shows it only through :func:`tickwire.redact.redact_url`), and ``keepalive``, the client ping
    of that connection (None: the venue pings and the session answers its WebSocket PINGs)."""

    url: str
    keepalive: Keepalive | None = None


def batches(
    items: Sequence[Any],
    max_count: int,
    max_bytes: int | None = None,
    size: Callable[[Any], int] = lambda _: 0,
    overhead: int = 0,
) -> list[list[Any]]:
    """``items`` cut in order into batches of at most ``max_count`` items and, with
    ``max_bytes``, at most ``max_bytes`` by ``overhead + sum(size(item))`` (``size``: the bytes
    one item adds to a request, separator included). An item too big on its own is a batch of
    its own. Raises ``ValueError`` if ``max_count < 1``."""
    if max_count < 1:
        raise ValueError(f"max_count must be >= 1, got {max_count}")
    out: list[list[Any]] = []
    cur: list[Any] = []
    used = overhead
    for item in items:
        n = size(item) if max_bytes is not None else 0
        if cur and (len(cur) >= max_count or (max_bytes is not None and used + n > max_bytes)):
            out.append(cur)
            cur, used = [], overhead
        cur.append(item)
        used += n
    if cur:
        out.append(cur)
    return out


def swap_scheme(url: str, to_ws: bool) -> str:
    """Turn ``http(s)://`` into ``ws(s)://`` (``to_ws=True``) or back; other URLs are unchanged."""
    pairs = (("https://", "wss://"), ("http://", "ws://"))
    for http, ws in pairs:
        src, dst = (http, ws) if to_ws else (ws, http)
        if url.startswith(src):
            return dst + url[len(src) :]
    return url


# (exchange id, market, REST base) -> (monotonic time fetched, instrument dicts)
_instruments_cache: dict[tuple[str, str, str], tuple[float, list[dict[str, Any]]]] = {}


def clear_instruments_cache() -> None:
    """Forget every instruments list fetched by this process (the next lookup asks again)."""
    _instruments_cache.clear()


class Adapter:
    """Base class of exchange adapters. Subclasses set the class attributes and implement the hooks.

    Class attributes:
      ``exchange_id`` (tickwire id, lowercase, ccxt's), ``decoder_id`` (id passed to
      ``tw.Decoder``; default ``exchange_id``), ``markets`` (the venue's endpoints by tickwire
      market name, ``"spot"``, ``"linear"``, ``"inverse"``; the first is the default),
      ``channels`` (tickwire channel names supported), ``limits`` (:class:`Limits`),
      ``ws_base``/``rest_base`` (live base URLs; a simulator differs only by these),
      ``rotate_on_notices`` (``Notice`` names that mean "this connection closes soon": the
      connection moves to a new one at once, as it does before the lifetime limit),
      ``consecutive_trade_ids`` (True if the exchange numbers each symbol's trades 1, 2, 3...:
      after a reconnect the trades published while disconnected are then counted and reported
      as ``TradesMissed``), ``instruments_ttl_s`` (how long this process keeps an instruments
      list, default 1 h), ``option_keys`` (the ``options`` keys the adapter understands).

    Hooks a venue implements: :meth:`market_id`, :meth:`subscriptions`, :meth:`ws_url`,
    :meth:`subscribe_requests`, :meth:`unsubscribe_requests`; where the venue has them:
    :meth:`market_of` (several markets), :meth:`decoder_market` (routes that are not market
    names), :meth:`keepalive` (client text pings), :meth:`connect_target` (a URL or keepalive
    resolved per connect, e.g. from a REST token request), :meth:`resubscribe_requests`,
    :meth:`snapshot_request` (REST-recovered books), :meth:`fetch_instruments`,
    :meth:`trades_request`, :meth:`candles_request` with :meth:`parse_candles` (REST
    candles, for ``tw.Cache``'s backfill), :meth:`dedup_keys`.
    """

    exchange_id: str = ""
    decoder_id: str = ""
    markets: tuple[str, ...] = ("spot",)
    channels: tuple[str, ...] = ()
    rotate_on_notices: frozenset[str] = frozenset()
    consecutive_trade_ids: bool = False
    option_keys: frozenset[str] = frozenset()  # the ``options`` keys this adapter understands
    instruments_ttl_s: float = 3600.0
    private_channels: tuple[str, ...] = ()  # the ACCOUNT_CHANNELS this venue serves
    token_refresh_s: float | None = None  # keepalive period of a listen key / token, if any
    # Error codes of a login reply that mean "busy, try again" (a server-side failure, not a
    # refusal of the keys): the connect is retried with backoff instead of an AuthError.
    transient_login_codes: frozenset[int] = frozenset()
    # Error codes of a login reply that mean "your timestamp is outside the window": the
    # server clock is measured again and the login retried once before it is an AuthError.
    clock_login_codes: frozenset[int] = frozenset()
    limits: Limits
    ws_base: str = ""
    rest_base: str = ""

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """``base_url``: one base for both WebSocket and REST (e.g. a simulator
        ``"http://127.0.0.1:8765"``; the scheme is swapped to ``ws://`` for WebSockets).
        ``urls``: finer override, keys ``"ws"`` and/or ``"rest"`` (bases, not full paths).
        A query string on a base (``"wss://gateway/?token=..."``) is kept and added to every
        URL built on it (:meth:`ws_endpoint`, :attr:`rest_params`); wherever tickwire shows
        such a URL, secrets in it are hidden (:func:`tickwire.redact.redact_url`).
        ``options``: adapter-specific choices (see the subclass docstring); unknown keys raise
        ``ValueError``. ``credentials``: the account's keys, for private channels (kept as
        :attr:`credentials`; signed requests read :attr:`clock`)."""
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
        self.decoder_id = self.decoder_id or self.exchange_id
        self.credentials = credentials
        #: the exchange's clock (offset measured through :meth:`server_time_request`)
        self.clock = ServerClock()
        self.options = dict(options or {})
        unknown = set(self.options) - self.option_keys
        if unknown:
            raise ValueError(
                f"unknown {self.exchange_id} option(s) {sorted(unknown)}; "
                f"known: {sorted(self.option_keys)}"
            )

    def option_choice(self, name: str, default: _T, choices: Collection[_T]) -> _T:
        """The venue option ``name`` (``default`` when not given). Raises ``ValueError`` naming
        the value, the exchange and ``choices`` when the value is not one of ``choices``."""
        value: _T = self.options.get(name, default)
        if value not in choices:
            raise ValueError(
                f"{name} {value!r} not valid for {self.exchange_id}; choose one of {list(choices)}"
            )
        return value

    # --- validation and naming ----------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """Exchange market id for a unified symbol; raises ``ValueError`` naming the symbol."""
        raise NotImplementedError

    def market_of(self, symbol: str) -> str:
        """The market (one of :attr:`markets`) whose endpoint serves unified ``symbol``
        (``"BTC/USDT"`` -> ``"spot"``, ``"BTC/USDT:USDT"`` -> ``"linear"``). Raises
        ``ValueError`` naming the symbol (or the market it would need) when no endpoint of this
        venue serves it. The default, for a one-market venue: :meth:`market_id` accepts it."""
        self.market_id(symbol)
        return self.markets[0]

    def decoder_market(self, route: str) -> str:
        """The ``market`` passed to ``tw.Decoder`` for a connection on ``route``. The default:
        ``route`` itself when it is a market name, else the venue's default market."""
        return route if route in self.markets else self.markets[0]

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

    # --- instruments ------------------------------------------------------------------------------
    async def fetch_instruments(
        self,
        http: aiohttp.ClientSession,  # noqa: ARG002 - the hook's signature; this default asks nothing
        market: str,  # noqa: ARG002 - (idem)
    ) -> list[dict[str, Any]]:
        """The venue's public instruments endpoint for ``market``, parsed to instrument dicts
        (:data:`INSTRUMENT_KEYS`: ``market_id``, ``symbol`` (unified), ``tick_size``,
        ``lot_size`` as decimal strings or None; optionally ``"active": False`` for an
        instrument listed but not trading). Use :attr:`rest_base_url` and :attr:`rest_params`.
        Raises what the request raises (``aiohttp.ClientError``, ``asyncio.TimeoutError``) or
        ``tickwire.ExchangeError`` (error reply, unreadable body); no timeout of its own.
        The default, for a venue without such an endpoint: ``[]`` (no check beyond
        :meth:`market_id`)."""
        return []

    async def get_parsed(
        self,
        http: aiohttp.ClientSession,
        url: str,
        params: dict[str, str],
        parse: Callable[[bytes], _T],
    ) -> _T:
        """``GET url?params`` read whole and passed to ``parse`` (the venue's reader of that
        endpoint's body, raising ``tickwire.ExchangeError`` for an error reply). A status
        other than 200 raises ``ExchangeError`` naming the URL (redacted) and the status, with
        the code and reason ``parse`` found in the body if it found one. Also raises what the
        request raises (``aiohttp.ClientError``, ``asyncio.TimeoutError``); no timeout of its
        own."""
        async with http.get(url, params=params) as resp:
            status, body = resp.status, await resp.read()
        if status != 200:
            try:
                parse(body)
            except ExchangeError as exc:
                raise ExchangeError(
                    f"GET {redact_url(url)}: HTTP {status}: {exc.reason}",
                    code=exc.code,
                    reason=exc.reason,
                ) from None
            raise ExchangeError(f"GET {redact_url(url)}: HTTP {status}")
        return parse(body)

    async def instruments(
        self, http: aiohttp.ClientSession, market: str | None = None
    ) -> list[dict[str, Any]]:
        """:meth:`fetch_instruments` of ``market`` (default: the first of :attr:`markets`),
        cached per process by (exchange, market, REST base) for :attr:`instruments_ttl_s`.
        Raises as :meth:`fetch_instruments`; a failed lookup is not cached."""
        m = market or self.markets[0]
        key = (self.exchange_id, m, f"{self.rest_base_url}?{self.rest_query}")
        hit = _instruments_cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.instruments_ttl_s:
            return hit[1]
        found = await self.fetch_instruments(http, m)
        _instruments_cache[key] = (now, found)
        return found

    async def unavailable_symbols(
        self, http: aiohttp.ClientSession, symbols: Sequence[str]
    ) -> dict[str, str]:
        """Ask the exchange's own symbol list which of ``symbols`` (unified, already accepted by
        :meth:`market_id`) it does not list or does not trade now.

        Returns ``{unified symbol: reason}`` (empty when every symbol is fine), e.g.
        ``{"FOO/USDT": "FOOUSDT is not listed in /api/v3/exchangeInfo"}``. Raises what the
        request raises (``aiohttp.ClientError``, ``asyncio.TimeoutError``) or
        ``tickwire.ExchangeError`` (error reply, unreadable body): the caller decides what a
        failed lookup means. No timeout of its own (the caller bounds it). The default looks
        each symbol's market up in :meth:`instruments` (a market whose list is empty is not
        checked)."""
        by_market: dict[str, list[str]] = {}
        for sym in symbols:
            by_market.setdefault(self.market_of(sym), []).append(sym)
        out: dict[str, str] = {}
        for market, syms in by_market.items():
            listed = {i.get("market_id"): i for i in await self.instruments(http, market)}
            if not listed:
                continue
            for sym in syms:
                mid = self.market_id(sym)
                info = listed.get(mid)
                where = f"{self.exchange_id} {market} instruments"
                if info is None:
                    out[sym] = f"{mid} is not listed in the {where}"
                elif info.get("symbol") not in (None, sym):
                    out[sym] = f"{mid} is {info['symbol']!r} in the {where}"
                elif info.get("active", True) is False:
                    out[sym] = f"{mid} is listed but not trading now"
        return out

    def decoder_instruments(self, market: str) -> list[dict[str, Any]]:
        """The instrument dicts of ``market`` this process already fetched (within their
        TTL), in the shape ``tw.Decoder(instruments=...)`` takes (:data:`INSTRUMENT_KEYS`
        only); ``[]`` when none were fetched. Never asks the network."""
        key = (self.exchange_id, market, f"{self.rest_base_url}?{self.rest_query}")
        hit = _instruments_cache.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.instruments_ttl_s:
            return []
        return [{k: i.get(k) for k in INSTRUMENT_KEYS} for i in hit[1]]

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

    async def connect_target(self, http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        """Where the next connect of ``route`` goes: the URL and the client keepalive of that
        connection. Awaited before every connect, reconnect and rotation of a connection (within
        its ``connect_timeout``), so a venue whose WebSocket URL holds a short-lived token gets
        a fresh one each time (KuCoin: ``POST /api/v1/bullet-public`` gives the server, a token
        and the ``pingInterval`` of the connection). ``http``: the feed's shared aiohttp
        session (use :attr:`rest_base_url` and :attr:`rest_params`). Raises what the request
        raises (``aiohttp.ClientError``, ``asyncio.TimeoutError``, ``tickwire.ExchangeError``
        for an error reply): the connect attempt fails and is retried with backoff. The
        default asks nothing: :meth:`ws_endpoint` of ``route`` and :meth:`keepalive`."""
        del http  # the hook's signature; this default asks nothing
        return ConnectTarget(self.ws_endpoint(route), self.keepalive())

    def subscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """The requests subscribing ``subs`` (all of one route), cut by the venue's
        per-request limits (:attr:`Limits.streams_per_message`, :attr:`Limits.max_request_bytes`,
        see :func:`batches`); ``next_id()`` gives a fresh request id per request that needs
        one. Each :class:`Request` says which ack keys complete it."""
        raise NotImplementedError

    def unsubscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """The requests unsubscribing ``subs`` (acknowledged like :meth:`subscribe_requests`)."""
        raise NotImplementedError

    def resubscribe_requests(self, sub: Subscription, next_id: NextId) -> list[Request]:
        """The requests that make the venue send ``sub``'s book again from a fresh snapshot
        (books whose decoder ``recovery`` is ``"resubscribe"``), sent one after the other, each
        awaiting its acks. The default: unsubscribe, then subscribe ``sub``."""
        return [
            *self.unsubscribe_requests([sub], next_id),
            *self.subscribe_requests([sub], next_id),
        ]

    def keepalive(self) -> Keepalive | None:
        """The client text ping the session sends on a timer, or None (the default: the venue
        pings and the session answers its WebSocket PINGs). Used through the default
        :meth:`connect_target`; a venue whose ping interval comes with each connect's answer
        returns it from its :meth:`connect_target` instead."""
        return None

    def snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """(URL, query params) of the REST depth snapshot for ``symbol`` (books whose decoder
        ``recovery`` is ``"rest"``)."""
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

    def candles_request(
        self,
        symbol: str,  # noqa: ARG002 - the hook's signature; this default has no such request
        limit: int,  # noqa: ARG002 - (idem)
    ) -> tuple[str, dict[str, str]] | None:
        """(URL, query params) of the public REST request for the last ``limit`` candles of
        ``symbol`` at the interval the adapter's candle stream uses (``limit`` at most
        :attr:`candles_max`), whose body :meth:`parse_candles` reads: how ``tw.Cache`` backfills
        its candle rings at start. None (the default) where the venue has no such request."""
        return None

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """The candles of a reply to :meth:`candles_request`, oldest first. Raises
        ``tickwire.ExchangeError`` for an error reply or an unreadable body."""
        raise NotImplementedError

    def parse_candles_of(self, symbol: str, body: bytes) -> list[RestCandle]:
        """:meth:`parse_candles` of a reply to ``candles_request(symbol, ...)``: what
        ``tw.Cache`` calls. The default ignores ``symbol``; a venue whose reply reads
        differently per market (OKX: the volume column of spot vs. contracts) overrides it."""
        del symbol  # the default reads every market's reply alike
        return self.parse_candles(body)

    candles_max: int = 1000
    # --- REST fallback (connection/fallback.py) ------------------------------------------------
    # While a connection is down longer than ConnectionOptions.rest_fallback_after, its symbols
    # are polled over these public requests, within rest_weight_per_minute. A venue without
    # them (the defaults) has no fallback.

    #: the venue's REST request-weight limit per minute and IP (0: no REST fallback)
    rest_weight_per_minute: int = 0

    def bbo_request(self, symbol: str) -> RestPoll | None:  # noqa: ARG002 - hook
        """The public REST request of ``symbol``'s best bid and ask (read by
        :meth:`parse_bbo`), or None where the venue has none."""
        return None

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """The :class:`RestQuote` in a reply to :meth:`bbo_request` for ``symbol``; raises
        ``tickwire.ExchangeError`` for an unreadable body."""
        raise NotImplementedError

    def recent_trades_request(self, symbol: str, limit: int) -> RestPoll | None:  # noqa: ARG002
        """The public REST request of ``symbol``'s latest ``limit`` trades (at most
        :attr:`past_trades_max`), whose body ``Decoder.apply_trades`` reads; None where the
        venue has none."""
        return None

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:  # noqa: ARG002
        """The public REST request of ``symbol``'s top ``levels`` book levels per side, whose
        body ``Decoder.apply_snapshot`` reads; None where the venue has none."""
        return None

    # --- private (account) side -----------------------------------------------------------------
    # The connection runs: connect_target (may create a listen key / token over REST) -> open ->
    # login_requests (each awaited for its acks; an error is an AuthError) -> subscribe. A
    # reconnect does all of it again. While a private connection is up, refresh_token runs every
    # token_refresh_s. After a reconnect, account_requests fetch what happened meanwhile.

    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        """The streams of account ``channels`` (each one of :attr:`private_channels`): symbol
        ``""`` (account-wide), a private route of this venue, the venue's topic as ``stream``.
        Several channels may share one stream (Binance's user data stream carries orders,
        fills and balances): return it once. Raises ``ValueError`` naming a channel this venue
        does not serve privately, or saying that credentials are needed. The default: the venue
        has no private side."""
        if channels:
            raise ValueError(
                f"{self.exchange_id} has no private (account) channels in tickwire yet; "
                f"asked for {list(channels)}"
            )
        return []

    def check_credentials(self) -> Credentials:
        """:attr:`credentials`, or ``ValueError`` saying which environment variables or
        argument give them."""
        if self.credentials is None:
            from ..auth import env_prefix

            raise ValueError(
                f"{self.exchange_id} private channels need credentials: "
                f"Feed(..., credentials=tw.Credentials(...)) or {env_prefix(self.exchange_id)}API_KEY "
                "and friends with Credentials.from_env()"
            )
        return self.credentials

    def login_requests(self, route: str, next_id: NextId) -> list[Request]:  # noqa: ARG002 - hook
        """The requests sent on a new connection of ``route`` after it opens and before it
        subscribes (OKX/Bitget ``login``, Bybit ``auth``, BitUnix ``login``, Binance WS API
        ``session.logon``), signed with :attr:`credentials` at :attr:`clock`'s time, each
        with ``login=True`` and awaited for its acks. The default: none (public routes, and
        venues whose URL or subscription carries the authorization)."""
        return []

    async def refresh_token(self, http: aiohttp.ClientSession, route: str) -> None:  # noqa: ARG002
        """Keep ``route``'s listen key / token alive (Binance USD-M ``PUT /fapi/v1/listenKey``):
        called every :attr:`token_refresh_s` while a connection of ``route`` is up. Raises
        ``AuthError`` when the venue refuses (the connection then rotates to a fresh key made
        by :meth:`connect_target`); any other exception is transient (logged, tried again next
        period). The default: nothing to keep alive."""
        return

    def server_time_request(self) -> tuple[str, dict[str, str]] | None:
        """(URL, params) of the venue's public server-time request, used to measure
        :attr:`clock` before signing; None where the venue has none (the local clock is
        used)."""
        return None

    def parse_server_time(self, body: bytes) -> int:
        """The server time (ms since the Unix epoch) in a reply to :meth:`server_time_request`;
        raises ``tickwire.ExchangeError`` for an unreadable body."""
        raise NotImplementedError

    def account_requests(self, what: str, since_ms: int) -> list[RestCall]:  # noqa: ARG002
        """Signed REST requests for the account's ``what`` (``"fills"`` or ``"orders"``) since
        ``since_ms`` (ms since the Unix epoch), whose bodies ``Decoder.apply_account(what,
        body)`` reads: how fills and order changes made while disconnected are recovered after
        a reconnect. ``[]`` where the venue has no such list (what was missed is then only
        reported). Raises ``ValueError`` without credentials."""
        return []

    def account_next_page(self, call: RestCall, body: bytes) -> RestCall | None:  # noqa: ARG002
        """The signed request of the page after ``call``'s (one of :meth:`account_requests`,
        or a page this returned), whose answer was ``body``; None when ``body`` was the last
        page (the default: venues whose list fits one page). Raises ``ValueError`` for a body
        it cannot read."""
        return None

    def book_symbol(self, sub: Subscription) -> str | None:
        """Unified symbol whose L2 book ``sub`` feeds (needs a snapshot), else None."""
        return sub.symbol if sub.channel == "book" else None

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Map event type -> function giving a key that grows strictly along the exchange's stream.

        Used to merge two connections (rotation) and to drop replays across reconnects: an event is
        delivered only if its key is greater than the last delivered key of the same (type, symbol).
        Events of types missing from the map are, while two sessions overlap, delivered from the
        primary session only (keys that are not comparable across sockets: leave the type out).
        """
        return {}

    def shards(self, subs: Iterable[Subscription]) -> list[list[Subscription]]:
        """``subs`` (one route) cut into the connections they need: at most
        :attr:`Limits.streams_per_connection` topics and :attr:`Limits.books_per_connection` book
        topics each, in order."""
        lim = self.limits
        out: list[list[Subscription]] = []
        cur: list[Subscription] = []
        books = 0
        for sub in subs:
            is_book = self.book_symbol(sub) is not None
            full = len(cur) >= lim.streams_per_connection or (
                is_book
                and lim.books_per_connection is not None
                and books >= lim.books_per_connection
            )
            if cur and full:
                out.append(cur)
                cur, books = [], 0
            cur.append(sub)
            books += is_book
        if cur:
            out.append(cur)
        return out

    def room(self, have: Sequence[Subscription], sub: Subscription) -> bool:
        """True if a connection carrying ``have`` can take ``sub`` too (see :meth:`shards`)."""
        lim = self.limits
        if len(have) >= lim.streams_per_connection:
            return False
        if lim.books_per_connection is None or self.book_symbol(sub) is None:
            return True
        return sum(self.book_symbol(s) is not None for s in have) < lim.books_per_connection


def _registry() -> dict[str, Callable[..., Adapter]]:
    from . import (
        binance,
        bitget,
        bitunix,
        bybit,
        coinbase,
        gateio,
        hyperliquid,
        kraken,
        kucoin,
        mexc,
        okx,
    )

    return {
        "binance": binance.BinanceSpot,
        "binanceusdm": binance.BinanceUsdm,
        "okx": okx.Okx,
        "kraken": kraken.Kraken,
        "coinbase": coinbase.CoinbaseAdvancedTrade,
        "coinbaseexchange": coinbase.CoinbaseExchange,
        "bybit": bybit.Bybit,
        "kucoin": kucoin.Kucoin,
        "gateio": gateio.Gateio,
        "bitget": bitget.Bitget,
        "mexc": mexc.Mexc,
        "hyperliquid": hyperliquid.Hyperliquid,
        "bitunix": bitunix.Bitunix,
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
