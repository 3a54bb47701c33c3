"""The public streaming API: :class:`Feed` and :func:`run`.

```python
import tickwire as tw

async def main():
    async with tw.Feed("binance", ["ETH/USDT"], channels=["book", "trades", "bbo"]) as feed:
        async for event in feed:
            if isinstance(event, tw.BookUpdate):
                bids = feed.book("ETH/USDT").bids(10)   # numpy (k, 2) float64 [price, size]

tw.run(main())
```
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from time import time_ns
from typing import Any

import aiohttp

from ._core import BBO, Balance, BookUpdate, Fill, OrderUpdate, Position
from .auth import Credentials
from .cache import CacheSlot
from .connection import (
    Connection,
    ConnectionOptions,
    EndpointError,
    StartTimeoutError,
    SubscriptionError,
)
from .connection.fallback import RestBBO, RestBookUpdate, RestFallbackChanged, RestTrade
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
from .exceptions import ExchangeError
from .exchanges import ACCOUNT_CHANNELS, Adapter, Subscription, get_adapter
from .lag import LagGuard
from .redact import scrub

__all__ = [
    "AccountGap",
    "BadFrame",
    "Connected",
    "ConnectionOptions",
    "Disconnected",
    "EndpointError",
    "Feed",
    "GapDetected",
    "Lagging",
    "Resynced",
    "StartTimeoutError",
    "SubscriptionError",
    "TradesMissed",
    "run",
]

log = logging.getLogger("tickwire.feed")

# Bound on the symbol-list lookup in start(); past it the feed starts unchecked.
SYMBOL_CHECK_TIMEOUT = 10.0

Callback = Callable[[Any], Any]


class Feed:
    """Live market data for ``symbols`` x ``channels`` of one exchange.

    Arguments:
      - ``exchange``: tickwire exchange id (ccxt's: ``tickwire.exchanges.exchange_ids()``), or an
        :class:`tickwire.exchanges.Adapter` instance (then ``base_url``, ``urls`` and
        ``options`` are the adapter's own and must not be given here).
      - ``symbols``: ccxt-unified symbols (one string or a list): ``"ETH/USDT"`` (spot),
        ``"ETH/USDT:USDT"`` (linear perpetual), ``"BTC/USD:BTC-220527"`` (inverse future).
        Each symbol's market (``Adapter.market_of``) picks the venue's endpoint.
        May be empty (the default) when ``channels`` are only account channels.
      - ``channels``: any of ``"book"`` (L2 diff book kept in Rust, ``BookUpdate`` markers),
        ``"trades"`` (``Trade``), ``"bbo"`` (``BBO``), ``"candles"`` (``Candle``, 1m by default),
        and the account channels ``"orders"`` (``OrderUpdate``), ``"fills"`` (``Fill``),
        ``"positions"`` (``Position``), ``"balances"`` (``Balance``) of the venues that serve
        them (``Adapter.private_channels``). Account channels cover the whole account (no
        symbol), need ``credentials`` and run on their own authenticated connections (login
        before subscribing, listen keys / tokens kept alive, fills and order changes made
        while disconnected fetched over REST after a reconnect; see "Private channels" in
        the README).
      - ``credentials``: a :class:`tickwire.Credentials` (e.g. ``Credentials.from_env(
        exchange)``), needed by account channels; kept in memory by the adapter only, never
        shown (masked in reprs, scrubbed from logs and errors).
      - ``on_book``, ``on_trade``, ``on_bbo``, ``on_candle``, ``on_order``, ``on_fill``,
        ``on_position``, ``on_balance``: called with each event of that kind;
        ``on_event``: called with every event, health events included. Plain functions run inside
        the frame callback (lowest latency: keep them short); ``async def`` callbacks are scheduled
        as tasks (no ordering guarantee). An exception in a callback is logged and counted
        (``stats()["callback_errors"]``), never fatal. ``on_health``: called with each health
        event (``Connected``, ``Disconnected``, ``GapDetected``, ``Resynced``, ``TradesMissed``,
        ``BadFrame``, ``Lagging``, ``AccountGap``), as the typed callbacks are (``tw.Pool`` uses
        it to fan them out). ``on_error``: called once with the error that stops the feed for
        good while it runs (what iteration raises: ``SubscriptionError``, ``EndpointError``,
        ``AuthError`` on a reconnect, a ``KeyboardInterrupt`` in a callback).
      - ``base_url``: replace the live base URLs, e.g. a simulator's ``"http://127.0.0.1:PORT"``
        (WebSocket and REST paths stay the live ones); ``urls``: ``{"ws": ..., "rest": ...}`` bases.
      - ``options``: adapter choices (Binance: ``book_stream``, ``trades_stream``,
        ``candle_interval``, ``snapshot_limit``).
      - ``stale_after``: seconds without any frame before a connection is dropped and reopened;
        ``max_connection_age``: seconds after which the exchange cuts a connection (rotation
        happens before); ``connection_options``: every other tunable (:class:`ConnectionOptions`).
      - ``start_timeout``: ``start()`` / ``async with`` waits this long for every connection to be
        subscribed and every book synced (``subscribe()`` too, for what it adds).
      - ``queue_size``: bound of the async-iteration queue (oldest events dropped and counted in
        ``stats()["queue_dropped"]`` beyond it; health and account events are kept; a warning and a
        ``Lagging`` event when it is half full, again after it drained below a quarter).
      - ``max_lag`` (seconds, default 1.0): lag threshold of the slow-callback policy below.
      - ``validate_symbols`` (default True): before any connection opens, ``start()`` looks the
        symbols up in the exchange's own list (``Adapter.unavailable_symbols``: by default the
        venue's public instruments endpoint, cached per process for an hour; Binance: REST
        ``exchangeInfo``, one lookup per start) and raises ``ValueError`` naming every symbol
        the exchange does not list or does not trade now. The instruments found (tick and lot
        sizes) are handed to the decoders. If the lookup itself fails (network error, HTTP
        error such as 5xx, no answer within 10 s) a warning is logged and the feed starts
        unchecked: a metadata endpoint never keeps a feed from running. ``False`` skips it.

    Events: market events from the core (``tw.Trade``, ``tw.BBO``, ``tw.BookUpdate``,
    ``tw.Candle``; timestamps int ns since the Unix epoch) and health events from
    ``tickwire.events``: ``Connected`` (socket open and subscribed), ``Disconnected`` (with a
    reason; a reconnect follows), ``GapDetected`` (a book lost sync, ``reason`` ``"gap"``,
    ``"checksum"`` or ``"connection_gap"``; the book is resynced from a REST snapshot or by
    resubscribing, as the venue works), ``Resynced`` (book rebuilt from a snapshot after a sync
    loss or a reconnect, with the ``reason``), ``BadFrame`` (a
    malformed frame was skipped), ``TradesMissed`` (trade ids published while disconnected,
    found from the first trade after a reconnect; counted in ``stats()["trades_missed"]``),
    ``AccountGap`` (account events of a time span could not be recovered after a reconnect).
    They reach callbacks at once and the iterator in order. Without callbacks, every event is
    queued for ``async for``; with callbacks, queuing starts when iteration starts.

    Slow callbacks: a plain callback runs inside the frame callback and blocks the event loop
    while it runs (frames wait in the socket, timers and other tasks wait too). The feed
    measures the lag that matters, from a frame's arrival to the end of its callback (the event
    loop's delay included), in ``stats()`` (``lag_ns``, ``lag_max_ns``, ``loop_delay_ns``, int
    ns). Past ``max_lag`` it emits a ``Lagging`` health event (every 5 s while it lasts) and
    switches to catch-up: events are queued as they are decoded and callbacks run from a task
    for at most ~50 ms at a time, so the loop (timers, heartbeats, ``start_timeout``, your
    tasks) keeps running. While delivery is more than ``max_lag / 2`` behind, a book update or
    BBO replaces a pending one of the same symbol (counted in ``stats()["conflated"]``: the
    newest is what matters, and ``book()`` is always the live book); trades, candles and health
    events are never dropped or merged, and order is kept. Once the queue is empty and the lag
    below half the threshold for a second, callbacks run directly again. Until callbacks have
    been seen fast (16 events, under 50 µs on average) each call is timed, so one slow from the
    start is caught within the first batch of frames; then they run unwatched, costing nothing
    per event (a timer checks the loop's delay ten times a second and catches one that turns
    slow later, after the batch of frames it is in).

    While it runs, ``await feed.subscribe(symbols, channels)`` and ``await
    feed.unsubscribe(symbols, channels)`` add and remove streams (new symbols are looked up in
    the exchange's list as at start when ``validate_symbols`` is on).

    Errors: ``ValueError`` naming the bad exchange, symbol, channel or option, an account
    channel the venue does not serve or missing credentials (raised here, before any
    connection); from ``start()``: :class:`tickwire.AuthError` (``code``, ``reason``: the
    exchange refused the keys: raised once, never retried in a loop; also from iteration when
    it happens on a reconnect), ``ValueError`` for a symbol the exchange does not list or
    trade (before any connection, see ``validate_symbols``),
    :class:`tickwire.connection.SubscriptionError` if the
    exchange rejects a subscription, :class:`tickwire.connection.EndpointError` if the endpoint
    refuses for good (4xx on the WebSocket upgrade, unknown host),
    :class:`tickwire.connection.StartTimeoutError` (a ``TimeoutError``) if not ready within
    ``start_timeout``. The same ``SubscriptionError`` or ``EndpointError`` is raised from
    iteration if it happens on a reconnect.
    """

    cache = CacheSlot()  # the feed's tw.Cache (tickwire.cache), made on first use

    def __init__(
        self,
        exchange: str | Adapter,
        symbols: str | Sequence[str] = (),
        channels: str | Sequence[str] = ("book", "trades", "bbo"),
        *,
        credentials: Credentials | None = None,
        on_book: Callback | None = None,
        on_trade: Callback | None = None,
        on_bbo: Callback | None = None,
        on_candle: Callback | None = None,
        on_order: Callback | None = None,
        on_fill: Callback | None = None,
        on_position: Callback | None = None,
        on_balance: Callback | None = None,
        on_event: Callback | None = None,
        on_health: Callback | None = None,
        on_error: Callable[[BaseException], Any] | None = None,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        stale_after: float | None = None,
        max_connection_age: float | None = None,
        connection_options: ConnectionOptions | None = None,
        start_timeout: float = 30.0,
        queue_size: int = 1_000_000,
        validate_symbols: bool = True,
        max_lag: float = 1.0,
    ) -> None:
        self.adapter = _adapter(exchange, base_url, urls, options, credentials)
        self.exchange = self.adapter.exchange_id
        self.channels = _as_list(channels, "channels")
        #: the account channels asked for (their connections log in)
        self.account_channels = [c for c in self.channels if c in ACCOUNT_CHANNELS]
        self._subs: list[Subscription] = self._initial_subs(symbols)
        for name, cb in (
            ("on_book", on_book),
            ("on_trade", on_trade),
            ("on_bbo", on_bbo),
            ("on_candle", on_candle),
            ("on_order", on_order),
            ("on_fill", on_fill),
            ("on_position", on_position),
            ("on_balance", on_balance),
            ("on_event", on_event),
            ("on_health", on_health),
            ("on_error", on_error),
        ):
            if cb is not None and not callable(cb):
                raise ValueError(f"{name} must be callable, got {cb!r}")
        opts = copy.copy(connection_options) if connection_options else ConnectionOptions()
        if stale_after is not None:
            if stale_after <= 0:
                raise ValueError(f"stale_after must be > 0 seconds, got {stale_after!r}")
            opts.stale_after = stale_after
        if max_connection_age is not None:
            if max_connection_age <= 0:
                raise ValueError(
                    f"max_connection_age must be > 0 seconds, got {max_connection_age!r}"
                )
            opts.max_age = max_connection_age
        if not max_lag > 0:
            raise ValueError(f"max_lag must be > 0 seconds, got {max_lag!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size!r}")
        self._conn_options = opts
        self.start_timeout = start_timeout
        self.validate_symbols = validate_symbols
        self._user_callbacks = {
            "book": on_book,
            "trade": on_trade,
            "bbo": on_bbo,
            "candle": on_candle,
            "order": on_order,
            "fill": on_fill,
            "position": on_position,
            "balance": on_balance,
        }
        self._on_event = _wrap(on_event, self) if on_event else None
        self._on_health, self._on_error = on_health, on_error
        self._has_callbacks = (
            any(self._user_callbacks.values()) or on_event is not None or on_health is not None
        )
        self._queue: deque[Any] = deque()
        self._queue_size = queue_size
        self._queue_on = not self._has_callbacks
        self._queue_dropped = 0
        # _deliver compares the queue's length with _queue_high only: half the bound until the
        # warning is given, then the bound itself (drop-oldest), re-armed below a quarter
        self._queue_high = max(1, queue_size // 2)
        self._queue_low = queue_size // 4
        self.max_lag = max_lag
        self._lag = LagGuard(
            self.exchange,
            max_lag,
            deliver=self._deliver,
            rewire=self._rewire,
            interrupted=self._interrupted,
            queue_dropped=lambda: self._queue_dropped,
        )
        self._waiter: asyncio.Future[None] | None = None
        self.callback_errors = 0
        self._dispatch: dict[type, Callable[[Any], None]] = {}
        self._fast: dict[type, Callable[[Any], None]] = {}  # shared with the connections
        self._kinds: dict[type, str] = {}
        self._conns: list[Connection] = []
        self._retired: dict[str, int] = {}  # counters of connections closed by unsubscribe
        self._book_conn: dict[str, Connection] = {}
        self._dropped_books: set[str] = set()  # book channel unsubscribed: book() -> KeyError
        self._conn_index: dict[str, int] = {}  # route -> connections opened (for their names)
        self._changing = asyncio.Lock()  # one subscribe/unsubscribe at a time
        self._http_session: aiohttp.ClientSession | None = None
        self._fatal: BaseException | None = None
        self._started = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Feed:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def start(self) -> None:
        """Open every connection, subscribe, sync books; returns when all are ready.

        Raises ``ValueError`` (a symbol the exchange does not list or trade; checked first, before
        any connection, unless ``validate_symbols=False``), ``SubscriptionError`` (rejected
        stream), :class:`~tickwire.connection.EndpointError` (the endpoint refused for good: a
        4xx answer to the WebSocket upgrade, an unknown host; raised at once) or
        :class:`~tickwire.connection.StartTimeoutError` (a ``TimeoutError``: not ready within
        ``start_timeout`` while transient failures such as a refused connection, a 5xx or a
        timeout were retried; one line naming each connection, its URL and its last error). On
        failure everything opened is closed again."""
        if self._started:
            raise RuntimeError("Feed already started")
        self._started = True
        if self.validate_symbols and self.symbols:
            try:
                await self._check_symbols(self.symbols)
            except BaseException:
                await self.close()  # the HTTP session
                raise
        from ._core import Candle, Trade

        self._kinds = {
            RestBookUpdate: "book",  # the REST fallback's events go to the same callbacks
            RestTrade: "trade",
            RestBBO: "bbo",
            BookUpdate: "book",
            Trade: "trade",
            BBO: "bbo",
            Candle: "candle",
            OrderUpdate: "order",
            Fill: "fill",
            Position: "position",
            Balance: "balance",
        }
        for typ, kind in self._kinds.items():
            cb = self._user_callbacks[kind]
            if cb is not None:
                self._dispatch[typ] = _wrap(cb, self)
        if self._on_health is not None:
            health = _wrap(self._on_health, self)
            self._dispatch.update(dict.fromkeys(_HEALTH, health))
        self._rewire()
        self._lag.start()
        self._build_connections()
        for conn in self._conns:
            await conn.start()
        ready = [c.ready for c in self._conns]
        try:
            # the first connection that gives up (rejected stream, endpoint refusal) ends it
            done, pending = await asyncio.wait(
                ready, timeout=self.start_timeout, return_when=asyncio.FIRST_EXCEPTION
            )
            if self._fatal is not None:
                raise self._fatal
            for fut in done:
                exc = fut.exception()
                if exc is not None:
                    raise exc
            if pending:
                names = [
                    f"{c.name} {c.url} (last error: {c.last_error or 'none'})"
                    for c in self._conns
                    if c.ready in pending
                ]
                raise StartTimeoutError(
                    f"feed not ready within {self.start_timeout:g} s: {'; '.join(names)}"
                ) from None
        except BaseException:
            await self.close()
            raise
        self._lag.end_probation_if_fast()  # the usual case: fast callbacks run unwatched now

    def _build_connections(self) -> None:
        """One connection per route and shard (``Adapter.shards``: topics per connection);
        account streams never share a connection with market streams."""
        for route, subs in _by_route(self._subs).items():
            for group in ([s for s in subs if s.symbol], [s for s in subs if not s.symbol]):
                for shard in self.adapter.shards(group) if group else ():
                    self._new_connection(route, shard)

    def _new_connection(self, route: str, subs: list[Subscription]) -> Connection:
        """A (not yet started) Connection for ``subs``, all of ``route``, added to the feed."""
        index = self._conn_index[route] = self._conn_index.get(route, -1) + 1
        books = [b for b in (self.adapter.book_symbol(s) for s in subs) if b]
        conn = Connection(
            name=f"{self.exchange}/{route}#{index}",
            adapter=self.adapter,
            route=route,
            subs=subs,
            instruments=self.adapter.decoder_instruments(self.adapter.decoder_market(route)),
            sink=self._lag.sink(),
            http=self._http,
            on_fatal=self._on_fatal,
            options=self._conn_options,
            sinks=self._fast,
            on_sink_error=self._callback_failed,
            account_channels=self.account_channels if not subs[0].symbol else (),
        )
        self._conns.append(conn)
        for b in books:
            self._book_conn[b] = conn
        return conn

    def _http(self) -> aiohttp.ClientSession:
        if self._http_session is None or self._http_session.closed:
            self._http_session = aiohttp.ClientSession()
        return self._http_session

    async def _check_symbols(self, symbols: Sequence[str]) -> None:
        """Raise ``ValueError`` naming every one of ``symbols`` the exchange does not list or
        trade (``Adapter.unavailable_symbols``). A failed lookup only logs a warning: the symbols
        are well-formed, and a metadata endpoint must not keep a feed from starting."""
        try:
            bad = await asyncio.wait_for(
                self.adapter.unavailable_symbols(self._http(), symbols), SYMBOL_CHECK_TIMEOUT
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ExchangeError) as exc:
            a = self.adapter
            why = (
                f"no answer within {SYMBOL_CHECK_TIMEOUT:g} s"
                if isinstance(exc, asyncio.TimeoutError)
                else scrub(repr(exc), f"{a.rest_base_url}?{a.rest_query}")
            )
            log.warning(
                "%s: could not check symbols %s against the exchange's list (%s); "
                "starting without the check",
                self.exchange,
                ", ".join(symbols),
                why,
            )
            return
        if len(bad) == 1:
            ((sym, why),) = bad.items()
            raise ValueError(f"unknown symbol {sym!r} on {self.exchange}: {why}")
        if bad:
            raise ValueError(
                f"unknown symbols on {self.exchange}: "
                + "; ".join(f"{s!r} ({why})" for s, why in bad.items())
            )

    def _on_fatal(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
            if self._on_error is not None:
                self._on_error(exc)
        self._wake()

    async def close(self) -> None:
        """Close every connection and the HTTP session; iteration then ends. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._lag.stop()
        await asyncio.gather(*(c.close() for c in self._conns), return_exceptions=True)
        if self._http_session is not None:
            await self._http_session.close()
        self._wake()

    # --- live subscription changes -------------------------------------------------------------
    async def subscribe(self, symbols: str | Sequence[str], channels: str | Sequence[str]) -> None:
        """Add ``symbols`` x ``channels`` to the running feed: a live ``SUBSCRIBE`` request
        (Binance: ``{"method":"SUBSCRIBE","params":[...],"id":N}``, docs/exchanges/binance.md §3).

        Shapes as in the constructor: one unified symbol or a list (``"ETH/USDT"``), one channel
        or a list (``"book"``, ``"trades"``, ``"bbo"``, ``"candles"``). Streams the feed already
        has are skipped, not an error. New streams join a connection of their route while it has
        room (``adapter.limits.streams_per_connection``), else a new connection opens. Returns
        once the exchange acknowledged them and new books are synced from a REST snapshot, as
        at start (within ``start_timeout``); events flow from the ack on, and reconnects and
        rotations subscribe them too. While a connection is down the change is only recorded:
        its reconnect subscribes it.

        Raises ``ValueError`` naming a bad symbol or channel (or, with ``validate_symbols``, a
        symbol the exchange does not list) before anything is sent; ``SubscriptionError``
        (``code``, ``reason``, ``streams``) if the exchange rejects the request;
        ``TimeoutError`` without an ack or synced books in time; ``RuntimeError`` if the feed is
        not started or is closed. After an error none of this call's streams stay subscribed.
        """
        subs = self._requested(symbols, channels)
        self._check_running()
        async with self._changing:
            have = {s.stream for s in self._subs}
            new = [s for s in subs if s.stream not in have]
            if not new:
                return
            fresh = [s for s in dict.fromkeys(x.symbol for x in new) if s not in self.symbols]
            if fresh and self.validate_symbols:
                await self._check_symbols(fresh)
            added: list[Subscription] = []
            try:
                await self._add(new, added)
            except BaseException:
                await self._remove(added, quiet=True)
                raise

    async def unsubscribe(
        self, symbols: str | Sequence[str], channels: str | Sequence[str]
    ) -> None:
        """Remove ``symbols`` x ``channels`` from the running feed: a live ``UNSUBSCRIBE``
        request (Binance: ``{"method":"UNSUBSCRIBE","params":[...],"id":N}``, binance.md §3).

        Shapes and ``ValueError`` checks as :meth:`subscribe`; streams the feed does not have are
        skipped, not an error. Returns once the exchange acknowledged. No event of those streams
        is delivered after the request is sent, even one still in flight after the ack (events
        already queued for ``async for`` stay). A symbol whose ``"book"`` channel is removed
        loses its book: ``book(symbol)`` then raises ``KeyError``. A connection left without
        streams is closed. Raises ``SubscriptionError`` / ``TimeoutError`` if the exchange
        rejects or does not acknowledge the request (the streams are removed from the feed and
        their events dropped anyway), ``RuntimeError`` if the feed is not started or is closed.
        """
        subs = self._requested(symbols, channels)
        self._check_running()
        async with self._changing:
            have = {s.stream for s in self._subs}
            gone = [s for s in subs if s.stream in have]
            try:
                await self._remove(gone)
            finally:
                self._dropped_books.update(b for b in map(self.adapter.book_symbol, gone) if b)

    def _initial_subs(self, symbols: str | Sequence[str]) -> list[Subscription]:
        """The constructor's streams: ``symbols`` x market channels, then the account streams
        (sets :attr:`symbols`; ``ValueError`` as the constructor says)."""
        market = [c for c in self.channels if c not in ACCOUNT_CHANNELS]
        self._check_served(self.account_channels)
        self.symbols = _as_list(symbols, "symbols", empty_ok=not market)
        if self.symbols and not market:
            raise ValueError(
                f"symbols {self.symbols} given with only account channels "
                f"{self.account_channels} (they cover the whole account: leave symbols empty)"
            )
        subs = self._requested(self.symbols, market) if market else []
        return subs + self._private_subs(self.account_channels)

    def _check_served(self, channels: list[str]) -> None:
        """``ValueError`` naming the first of the account ``channels`` the venue does not
        serve."""
        a = self.adapter
        for c in channels:
            if c not in a.private_channels:
                served = ", ".join(a.private_channels) or "none in tickwire yet"
                raise ValueError(
                    f"channel {c!r} is not supported as an account channel of {self.exchange} "
                    f"(its account channels: {served})"
                )

    def _private_subs(self, channels: list[str]) -> list[Subscription]:
        """The account streams of ``channels`` (:meth:`Adapter.private_subscriptions`), after
        checking the venue serves them and credentials were given (``ValueError`` naming what
        is missing, never a secret)."""
        if not channels:
            return []
        self._check_served(channels)
        a = self.adapter
        a.check_credentials()
        return a.private_subscriptions(channels)

    def _requested(
        self, symbols: str | Sequence[str], channels: str | Sequence[str]
    ) -> list[Subscription]:
        """The streams of ``symbols`` x ``channels``, checked as the constructor checks them:
        ``ValueError`` naming a symbol, channel or market the venue does not serve (account
        channels are fixed when the feed is made)."""
        syms = _as_list(symbols, "symbols")
        chans = _as_list(channels, "channels")
        acct = [c for c in chans if c in ACCOUNT_CHANNELS]
        if acct:
            raise ValueError(
                f"channel {acct[0]!r} is not supported by a live (un)subscribe: account "
                "channels are chosen when the Feed is made"
            )
        subs = self.adapter.subscriptions(syms, chans)
        for sym in syms:
            self.adapter.market_of(sym)
        return subs

    def _check_running(self) -> None:
        if not self._started:
            raise RuntimeError(
                "start the feed (start() or 'async with') before changing its subscriptions"
            )
        if self._closed:
            raise RuntimeError("the feed is closed")
        if self._fatal is not None:
            raise self._fatal

    async def _add(self, subs: list[Subscription], added: list[Subscription]) -> None:
        """Subscribe ``subs`` (new to the feed) and wait until they are acknowledged and their
        books synced; ``added`` collects what was registered (for the caller's rollback)."""
        waits: list[asyncio.Future[None]] = []
        for route, of_route in _by_route(subs).items():
            group = of_route  # what no existing connection of the route has room for
            for conn in [c for c in self._conns if c.route == route and not c.private]:
                chunk: list[Subscription] = []
                rest: list[Subscription] = []
                for sub in group:
                    (chunk if self.adapter.room([*conn.subs, *chunk], sub) else rest).append(sub)
                group = rest
                if chunk:
                    waits += await conn.add(chunk)
                    self._registered(conn, chunk, added)
            for chunk in self.adapter.shards(group):
                conn = self._new_connection(route, chunk)
                self._registered(conn, chunk, added)
                await conn.start()
                waits.append(conn.ready)
        if not waits:
            return
        done, pending = await asyncio.wait(waits, timeout=self.start_timeout)
        for fut in done:
            exc = None if fut.cancelled() else fut.exception()
            if exc is not None:
                raise exc  # a new connection's SubscriptionError
        if pending:
            raise TimeoutError(
                f"subscription not ready within {self.start_timeout} s: "
                f"{', '.join(s.stream for s in subs)}"
            )

    def _registered(
        self, conn: Connection, subs: list[Subscription], added: list[Subscription]
    ) -> None:
        self._subs.extend(subs)
        added.extend(subs)
        for b in (self.adapter.book_symbol(s) for s in subs):
            if b:
                self._book_conn[b] = conn
                self._dropped_books.discard(b)
        self._names_changed()

    async def _remove(self, subs: list[Subscription], quiet: bool = False) -> None:
        """Unsubscribe ``subs`` (streams of the feed) and forget them; close connections left
        without streams. ``quiet``: swallow the exchange's errors (rollback)."""
        where = {name: c for c in self._conns for name in c.streams}
        by_conn: dict[Connection, list[Subscription]] = {}
        for s in subs:
            by_conn.setdefault(where[s.stream], []).append(s)
        gone = {s.stream for s in subs}
        self._subs = [s for s in self._subs if s.stream not in gone]
        for b in (self.adapter.book_symbol(s) for s in subs):
            if b:
                self._book_conn.pop(b, None)
        self._names_changed()
        results = await asyncio.gather(
            *(c.remove(ss) for c, ss in by_conn.items()), return_exceptions=True
        )
        for conn in by_conn:
            if not conn.streams:
                self._conns.remove(conn)
                await conn.close()
                for k, v in conn.stats().items():  # counters stay monotonic (metrics)
                    self._retired[k] = self._retired.get(k, 0) + v
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and not quiet:
            raise errors[0]

    def _names_changed(self) -> None:
        """``symbols`` and ``channels`` follow the streams the feed has now."""
        self.symbols = list(dict.fromkeys(s.symbol for s in self._subs if s.symbol))
        market = [s.channel for s in self._subs if s.symbol]
        self.channels = list(dict.fromkeys([*market, *self.account_channels]))

    # --- delivery ----------------------------------------------------------------------------
    def _deliver(self, ev: Any) -> None:
        cb = self._dispatch.get(type(ev))
        if cb is not None:
            try:
                cb(ev)
            except Exception as exc:  # noqa: BLE001 - a user callback's error is counted, never fatal
                self._callback_failed(cb, ev, exc)
        if self._on_event is not None:
            try:
                self._on_event(ev)
            except Exception as exc:  # noqa: BLE001 - (idem)
                self._callback_failed(self._on_event, ev, exc)
        if self._queue_on:
            q = self._queue
            if len(q) >= self._queue_high:
                self._queue_filling()
            q.append(ev)
            w = self._waiter
            if w is not None and not w.done():
                w.set_result(None)

    def _queue_filling(self) -> None:
        """The ``async for`` queue reached half its bound (warn, once until it drains below a
        quarter) or its bound (drop the oldest event, counted)."""
        q = self._queue
        if self._queue_high < self._queue_size:  # half full: warn now, drop at the bound
            self._queue_high = self._queue_size
            oldest = getattr(q[0], "receive_ts", None) if q else None
            lag = time_ns() - oldest if isinstance(oldest, int) else 0
            log.warning(
                "%s: async-for queue half full (%d of %d events, oldest %.3f s old); the "
                "consumer is too slow, the oldest events will be dropped at %d",
                self.exchange,
                len(q),
                self._queue_size,
                lag / 1e9,
                self._queue_size,
            )
            q.append(
                Lagging(
                    self.exchange,
                    lag,
                    0,
                    len(q),
                    self._lag.conflated,
                    self._queue_dropped,
                    time_ns(),
                )
            )
            if len(q) < self._queue_size:
                return
        kept = []  # health events are never dropped: the oldest market event is
        while q and type(q[0]) in _KEPT:
            kept.append(q.popleft())
        if q:
            q.popleft()
        else:
            kept.pop(0)  # nothing but health events: the oldest of those goes
        q.extendleft(reversed(kept))
        self._queue_dropped += 1
        if self._queue_dropped == 1 or self._queue_dropped % 10_000 == 0:
            log.warning(
                "%s: async-for queue full (%d); %d oldest events dropped so far",
                self.exchange,
                self._queue_size,
                self._queue_dropped,
            )

    def _rewire(self) -> None:
        """Point each market event type straight at the user's callback when nothing else wants
        it (no ``on_event``, no iteration): one Python call less per event on the hot path.
        While callbacks catch up (see ``Feed``), everything goes to the catch-up queue."""
        self._fast.clear()
        if self._lag.catching_up:
            for conn in self._conns:
                conn.set_sink(self._lag.enqueue)
            return
        watch = self._lag.watch if self._lag.probation else None
        sampled = self._lag.sampled  # the metrics' latency sampler, if one is installed
        if self._on_event is None and not self._queue_on:
            for typ in self._kinds:
                cb = self._dispatch.get(typ, _ignore)
                self._fast[typ] = sampled(watch(cb) if watch is not None else cb, typ)
        sink = sampled(watch(self._deliver) if watch is not None else self._deliver)
        for conn in self._conns:
            conn.set_sink(sink)  # rewires its sessions

    def _interrupted(self, exc: BaseException) -> None:
        """A callback run by the catch-up task raised KeyboardInterrupt / SystemExit: every
        connection stops at once (see ``Connection.interrupted``); the caller re-raises."""
        for conn in self._conns:
            conn.interrupted(exc)
        self._on_fatal(exc)

    def _callback_failed(self, cb: object, ev: Any, error: BaseException) -> None:
        self.callback_errors += 1
        if self.callback_errors <= 10:  # a broken callback must not flood the log
            log.error("callback %r raised on %r", cb, ev, exc_info=error)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __aiter__(self) -> Feed:
        if not self._queue_on:
            self._queue_on = True
            self._rewire()
        return self

    async def __anext__(self) -> Any:
        q = self._queue
        while True:
            if q:
                if self._queue_high == self._queue_size and len(q) < self._queue_low:
                    self._queue_high = max(1, self._queue_size // 2)  # warn again next time
                return q.popleft()
            if self._fatal is not None:
                raise self._fatal
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def pause_reading(self, paused: bool) -> None:
        """Stop (``True``) or resume (``False``) reading every open socket of the feed:
        backpressure for a consumer that asked to block (``tw.Pool``'s ``policy="block"``).
        Frames already read are still delivered; a connection paused past its ``stale_after``
        is reopened as a stalled one, and one opened while paused reads as usual."""
        for conn in self._conns:
            for session in list(conn._sessions):  # the feed owns its connections
                ws = session.transport
                raw = getattr(ws, "underlying_transport", None) if ws is not None else None
                if raw is None or raw.is_closing():
                    continue
                if paused:
                    raw.pause_reading()
                else:
                    raw.resume_reading()

    # --- state -------------------------------------------------------------------------------
    def book(self, symbol: str) -> Any:
        """The live ``tw.Book`` of ``symbol`` (Rust-owned; read ``best_bid``, ``bids(n)``, ...).

        Consistent with the last ``BookUpdate`` delivered for it. Raises ``ValueError`` if the feed
        has no ``"book"`` channel for ``symbol``, ``KeyError`` if no data arrived yet or its
        ``"book"`` channel was unsubscribed."""
        conn = self._book_conn.get(symbol)
        if conn is None:
            if symbol in self._dropped_books:
                raise KeyError(f"no book for {symbol!r}: its 'book' channel was unsubscribed")
            if symbol not in self.symbols:
                raise ValueError(
                    f"symbol {symbol!r} is not in this feed ({', '.join(self.symbols)})"
                )
            raise ValueError(
                f"this feed has no 'book' channel for {symbol!r} "
                f"(channels: {', '.join(self.channels)})"
            )
        try:
            return conn.book(symbol)
        except KeyError:
            raise KeyError(f"no book data for {symbol!r} yet") from None

    @property
    def connected(self) -> bool:
        """True when every connection has an open WebSocket."""
        return bool(self._conns) and all(c.connected for c in self._conns)

    @property
    def subscriptions(self) -> list[Subscription]:
        """Every exchange stream of the feed (symbol, channel, route, stream name)."""
        return list(self._subs)

    @property
    def connections(self) -> list[Connection]:
        """The feed's logical connections (one per route and per streams-per-connection chunk)."""
        return list(self._conns)

    def stats(self) -> dict[str, int]:
        """Counters summed over connections (see :class:`tickwire.metrics.Counters`), those an
        unsubscribe closed included, the primary decoders' ``stats()`` under ``"decoder_*"``
        keys, plus ``queued``, ``queue_dropped`` and ``callback_errors``, and the slow-callback
        measures (see ``Feed``): ``lag_ns`` / ``loop_delay_ns`` (worst over the last second,
        int ns), ``lag_max_ns``, ``pending`` (catch-up queue), ``conflated``, ``catchups``,
        ``lag_reports``."""
        out: dict[str, int] = dict(self._retired)
        for c in self._conns:
            for k, v in c.stats().items():
                out[k] = out.get(k, 0) + v
            for k, v in c.decoder_stats().items():
                if isinstance(v, int):
                    out["decoder_" + k] = out.get("decoder_" + k, 0) + v
        out["queued"] = len(self._queue)
        out["queue_dropped"] = self._queue_dropped
        out.update(self._lag.stats())
        out["callback_errors"] = self.callback_errors
        return out

    def __repr__(self) -> str:
        return (
            f"Feed({self.exchange!r}, {self.symbols!r}, channels={self.channels!r}, "
            f"connected={self.connected})"
        )


# Health events: kept when the async-for queue drops its oldest events.
_HEALTH = frozenset(
    {AccountGap, BadFrame, Connected, Disconnected, GapDetected, Lagging, Resynced, TradesMissed}
    | {RestFallbackChanged}
)
# Never dropped by the full async-for queue either: the account's own events.
_KEPT = _HEALTH | {OrderUpdate, Fill, Position, Balance}


def _adapter(
    exchange: str | Adapter,
    base_url: str | None,
    urls: dict[str, str] | None,
    options: dict[str, Any] | None,
    credentials: Credentials | None,
) -> Adapter:
    """The feed's adapter: ``exchange`` itself, or the registered one built with the URLs,
    options and credentials (``ValueError`` naming a bad exchange, URL key or option)."""
    if credentials is not None and not isinstance(credentials, Credentials):
        raise ValueError(f"credentials must be a tickwire.Credentials, got {type(credentials)}")
    if not isinstance(exchange, Adapter):
        if credentials is None:  # adapters of other branches may not take the argument yet
            return get_adapter(exchange, base_url=base_url, urls=urls, options=options)
        return get_adapter(
            exchange, base_url=base_url, urls=urls, options=options, credentials=credentials
        )
    if base_url is not None or urls is not None or options is not None:
        raise ValueError(
            "base_url, urls and options belong to the adapter when an Adapter is given"
        )
    if credentials is not None:
        raise ValueError(
            "credentials belong to the adapter when an Adapter is given "
            "(Adapter(..., credentials=...))"
        )
    return exchange


def _by_route(subs: Iterable[Subscription]) -> dict[str, list[Subscription]]:
    by_route: dict[str, list[Subscription]] = {}
    for sub in subs:
        by_route.setdefault(sub.route, []).append(sub)
    return by_route


def _as_list(value: str | Iterable[str], what: str, empty_ok: bool = False) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    if not items and not empty_ok:
        raise ValueError(f"{what} must not be empty")
    out: list[str] = []
    for v in items:
        if v not in out:
            out.append(v)
    return out


def _wrap(cb: Callback, feed: Feed) -> Callable[[Any], None]:
    """Plain functions are called as they are (``Feed._deliver`` catches their errors);
    ``async def`` callbacks are scheduled as tasks whose errors are logged and counted."""
    if inspect.iscoroutinefunction(cb):

        def call_async(ev: Any) -> None:
            task = asyncio.get_running_loop().create_task(cb(ev))
            task.add_done_callback(lambda t: _task_done(t, feed))

        return call_async
    return cb


def _ignore(ev: Any) -> None:
    pass


def _task_done(task: asyncio.Task[Any], feed: Feed) -> None:
    if not task.cancelled() and task.exception() is not None:
        feed.callback_errors += 1
        if feed.callback_errors <= 10:
            log.error("async callback raised: %r", task.exception())


def run(coro: Awaitable[Any]) -> Any:
    """Run ``coro`` to completion on a uvloop event loop (plain asyncio where uvloop is missing,
    e.g. Windows) and return its result."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]
