"""A process-wide pool of shared exchange connections: :class:`Pool`.

Several strategies in one process subscribe to what they need; the pool keeps one connection
set (a :class:`tickwire.Feed`, sharded per route by ``Adapter.shards``) per exchange and
configuration, subscribes a topic on the wire when its first consumer arrives and unsubscribes it
after a grace period when its last one leaves, and fans each event out to the consumers of its
(kind, symbol) through per-consumer bounded queues::

    import tickwire as tw

    async def main():
        async with tw.Pool() as pool:
            a = await pool.subscribe("binance", ["ETH/USDT", "BTC/USDT"], ["trades", "bbo"])
            b = await pool.subscribe("binance", "ETH/USDT", "book", policy="disconnect")
            async for event in a:
                ...

See the README section "Pool"; the design notes are VENUES.md §4 of the shared docs.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from itertools import count
from time import time_ns
from typing import Any

from ._core import BBO, BookUpdate, Candle, Trade
from .auth import Credentials
from .connection import ConnectionOptions
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
from .exceptions import TickwireError
from .exchanges import ACCOUNT_CHANNELS, Adapter, get_adapter
from .feed import Feed

__all__ = ["POLICIES", "Consumer", "Pool", "SlowConsumerError"]

log = logging.getLogger("tickwire.pool")

#: what a consumer's full queue does with the next event
POLICIES = ("drop_oldest", "disconnect", "block")

# the market channels a pool shares, and the event type each delivers
_CHANNEL_TYPES: dict[str, type] = {
    "book": BookUpdate,
    "trades": Trade,
    "bbo": BBO,
    "candles": Candle,
}
# the account channels a pool shares per key (all the venue serves, opened with the first consumer)
_ACCOUNT_ROUTES = ("orders", "fills", "positions", "balances")
_HEALTH = (AccountGap, BadFrame, Connected, Disconnected, GapDetected, Lagging, Resynced)
_HEALTH_TYPES = frozenset((*_HEALTH, TradesMissed))

Topic = tuple[str, str]  # (unified symbol, channel)
Key = tuple[str, str | None, tuple[tuple[str, str], ...], str, str]


class SlowConsumerError(TickwireError):
    """A consumer with ``policy="disconnect"`` fell ``queue_size`` events behind: the pool
    dropped it (its topics released). Raised by its iteration once the events queued before are
    consumed; ``consumer`` names it, ``queue_size`` is the bound it hit."""

    def __init__(self, consumer: str, queue_size: int) -> None:
        super().__init__(
            f"consumer {consumer!r} disconnected: its queue reached {queue_size} events"
        )
        self.consumer = consumer
        self.queue_size = queue_size


class Consumer:
    """One :meth:`Pool.subscribe` call's handle: the events of its topics, in order.

    Iterate it (``async for event in consumer``) or give ``callback`` to :meth:`Pool.subscribe`
    (then a task of its own calls it). Events: the market events of its ``symbols`` x
    ``channels`` (``tw.BookUpdate``, ``tw.Trade``, ``tw.BBO``, ``tw.Candle``), the health events
    of its books (``GapDetected``, ``Resynced``) and trades (``TradesMissed``) and those of its
    connection set (``Connected``, ``Disconnected``, ``BadFrame``, ``Lagging``). A consumer
    that joins a book already live first gets ``Resynced(reason="joined")`` at the book's
    current sequence (the shared book is already synced: no new snapshot is fetched).
    Timestamps are int ns since the Unix epoch.

    Attributes: ``name`` (stable id, a metrics label), ``exchange``, ``symbols``, ``channels``,
    ``policy``, ``queue_size``, ``dropped`` (events dropped or refused by the policy, so far),
    ``delivered`` (events taken by the consumer), ``errors`` (exceptions its callback raised:
    logged and counted, never fatal to it or to others), ``closed``.
    """

    def __init__(
        self,
        pool: Pool,
        group: _Group,
        name: str,
        symbols: list[str],
        channels: list[str],
        queue_size: int,
        policy: str,
        callback: Callable[[Any], Any] | None,
    ) -> None:
        self.name = name
        self.exchange = group.exchange
        self.symbols = symbols
        self.channels = channels
        self.queue_size = queue_size
        self.policy = policy
        self.dropped = 0
        self.delivered = 0
        self.errors = 0
        self.closed = False
        self.topics: list[Topic] = [(s, c) for s in symbols for c in channels]
        self._pool = pool
        self._group = group
        self._queue: deque[Any] = deque()
        self._size = queue_size
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._blocking = False
        self._callback = callback
        self._task: asyncio.Task[None] | None = None

    # --- producer side (the feed's frame callback) ------------------------------------------
    def _overflow(self, ev: Any) -> None:
        """The queue is full: apply the policy to ``ev``."""
        if self.closed:
            return
        q = self._queue
        if self.policy == "drop_oldest":
            if type(q[0]) in _HEALTH_TYPES:
                self._drop_behind_health()
            else:
                q.popleft()
            q.append(ev)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning(
                    "consumer %r is %d events behind; %d oldest dropped so far",
                    self.name,
                    len(q),
                    self.dropped,
                )
        elif self.policy == "block":
            q.append(ev)  # frames already read still arrive while the sockets are paused
            if not self._blocking:
                self._blocking = True
                self._group.block(self)
        else:  # disconnect
            self.dropped += 1
            log.warning(
                "consumer %r disconnected: %d events behind (queue_size)", self.name, len(q)
            )
            self._error = SlowConsumerError(self.name, self._size)
            self._detach()

    def _drop_behind_health(self) -> None:
        """Drop the oldest market event; health events are never the ones dropped (only when
        the queue holds nothing else)."""
        q = self._queue
        kept = []
        while q and type(q[0]) in _HEALTH_TYPES:
            kept.append(q.popleft())
        if q:
            q.popleft()
        else:
            kept.pop(0)
        q.extendleft(reversed(kept))

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    # --- consumer side -----------------------------------------------------------------------
    def _took(self) -> None:
        self.delivered += 1
        if self._blocking and len(self._queue) <= self._size // 2:
            self._blocking = False
            self._group.unblock(self)

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> Any:
        q = self._queue
        while True:
            if q:
                ev = q.popleft()
                self._took()
                return ev
            if self._error is not None:
                raise self._error
            if self.closed:
                raise StopAsyncIteration
            w = self._waiter = asyncio.get_running_loop().create_future()
            await w

    async def _pump(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback`` with each event, in order; yields to the loop between slices so
        a long queue never holds it."""
        is_async = inspect.iscoroutinefunction(callback)
        q = self._queue
        while True:
            if not q:
                if self._error is not None or self.closed:
                    return
                w = self._waiter = asyncio.get_running_loop().create_future()
                await w
                continue
            for _ in range(256):
                if not q:
                    break
                ev = q.popleft()
                self._took()
                try:
                    if is_async:
                        await callback(ev)
                    else:
                        res = callback(ev)
                        if inspect.isawaitable(res):
                            await res
                except Exception as exc:  # one consumer's error stays its own
                    self.errors += 1
                    if self.errors <= 10:
                        log.error("consumer %r: callback raised on %r", self.name, ev, exc_info=exc)
            await asyncio.sleep(0)

    # --- state -------------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Events queued now."""
        return len(self._queue)

    @property
    def lag(self) -> int:
        """How far behind the consumer is: now minus the ``receive_ts`` of its oldest queued
        event (int ns; 0 when its queue is empty)."""
        q = self._queue
        if not q:
            return 0
        ts = getattr(q[0], "receive_ts", None)
        return max(0, time_ns() - ts) if isinstance(ts, int) else 0

    def book(self, symbol: str) -> Any:
        """The live shared ``tw.Book`` of ``symbol`` (one Rust book, read by every consumer).

        Raises ``ValueError`` if this consumer has no ``"book"`` channel for ``symbol``,
        ``KeyError`` if no book data arrived yet, ``RuntimeError`` once the consumer is
        closed."""
        if (symbol, "book") not in self.topics:
            raise ValueError(
                f"consumer {self.name!r} has no 'book' channel for {symbol!r} "
                f"(symbols {self.symbols}, channels {self.channels})"
            )
        feed = self._group.feed
        if self.closed or feed is None:
            raise RuntimeError(f"consumer {self.name!r} is closed")
        return feed.book(symbol)

    def status(self) -> dict[str, Any]:
        """The consumer's line of :meth:`Pool.status` (JSON-able)."""
        return {
            "consumer": self.name,
            "exchange": self.exchange,
            "symbols": len(self.symbols),
            "channels": list(self.channels),
            "queue_depth": len(self._queue),
            "queue_size": self._size,
            "dropped": self.dropped,
            "lag_ns": self.lag,
            "policy": self.policy,
            "delivered": self.delivered,
            "errors": self.errors,
            "state": "disconnected"
            if self._error is not None
            else ("closed" if self.closed else "open"),
        }

    def _detach(self) -> None:
        """Stop receiving now and release the topics (the wire follows after the grace)."""
        if self.closed:
            return
        self.closed = True
        if self._blocking:
            self._blocking = False
            self._group.unblock(self)
        self._group.release(self)
        self._wake()

    async def close(self) -> None:
        """Stop this consumer: nothing more is delivered, queued events are discarded and its
        topics released (each unsubscribed on the wire after the pool's ``grace`` when no
        other consumer has it). Idempotent."""
        self._detach()
        self._queue.clear()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def __repr__(self) -> str:
        return (
            f"Consumer({self.name!r}, {self.exchange!r}, {len(self.symbols)} symbols, "
            f"channels={self.channels!r}, depth={len(self._queue)}, dropped={self.dropped})"
        )


class _Group:
    """One connection set: a Feed (or none while idle), topic refcounts and the fan-out
    tables (channel -> symbol -> consumers, copied on change so delivery iterates a
    snapshot)."""

    def __init__(
        self,
        pool: Pool,
        key: Key,
        exchange: str,
        feed_args: dict[str, Any],
        credentials: Credentials | None = None,
    ) -> None:
        self.pool = pool
        self.key = key
        self.exchange = exchange
        self.feed_args = feed_args
        #: an account connection set: one login per key, every account channel the venue
        #: serves opened with the first consumer (consumers get the channels they asked for)
        self.credentials = credentials
        self.feed: Feed | None = None
        self.running = False  # the feed started and has not failed
        self.adapter: Adapter = get_adapter(
            exchange,
            base_url=feed_args.get("base_url"),
            urls=feed_args.get("urls"),
            options=feed_args.get("options"),
        )
        self.refs: dict[Topic, int] = {}  # topics on the wire (0: in its grace period)
        self.grace: set[Topic] = set()
        self.routes: dict[str, dict[str, tuple[Consumer, ...]]] = {
            c: {} for c in (*_CHANNEL_TYPES, *_ACCOUNT_ROUTES)
        }
        self.by_symbol: dict[str, tuple[Consumer, ...]] = {}
        self.consumers: list[Consumer] = []
        self.lock = asyncio.Lock()
        self.blocked: set[Consumer] = set()
        self.pauses = 0
        self.retired: dict[str, int] = {}  # counters of closed feeds (stats stay monotonic)
        self.timers: set[asyncio.TimerHandle] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    # --- fan-out (the hot path) ------------------------------------------------------------
    def fanout(self, channel: str) -> Callable[[Any], None]:
        get = self.routes[channel].get

        def deliver(ev: Any) -> None:
            # _offer inlined: this runs for every market event
            for c in get(ev.symbol, ()):
                q = c._queue
                if len(q) < c._size:
                    q.append(ev)
                    if c._waiter is not None:
                        c._wake()
                else:
                    c._overflow(ev)

        return deliver

    def account_fanout(self, channel: str) -> Callable[[Any], None]:
        """The fan-out of an account channel: to every consumer of it (account events cover
        the whole account, whatever their symbol)."""
        table = self.routes[channel]
        return lambda ev: _offer(table.get("", ()), ev)

    def on_health(self, ev: Any) -> None:
        """A health event: a book's (``GapDetected``, ``Resynced``) to the consumers of that
        book, ``TradesMissed`` to those of the symbol's trades, one about the connection set
        (``Connected``, ``Disconnected``, ``BadFrame``, ``Lagging``) to all of them."""
        sym = getattr(ev, "symbol", None)
        if not sym:
            targets: tuple[Consumer, ...] = tuple(self.consumers)
        elif isinstance(ev, TradesMissed):
            targets = self.routes["trades"].get(sym, ())
        elif isinstance(ev, (GapDetected, Resynced)):
            targets = self.routes["book"].get(sym, ())
        else:
            targets = self.by_symbol.get(sym, ())
        _offer(targets, ev)

    # --- registration ----------------------------------------------------------------------
    def register(self, c: Consumer) -> list[Topic]:
        """Add ``c`` to the fan-out and count its topics; returns those not on the wire yet.
        A book already live gets ``c`` a synthetic ``Resynced(reason="joined")`` first."""
        new: list[Topic] = []
        for topic in c.topics:
            n = self.refs.get(topic)
            if n is None:
                new.append(topic)
                self.refs[topic] = 1
                continue
            self.refs[topic] = n + 1
            self.grace.discard(topic)  # a consumer came back within the grace period
            sym, ch = topic
            if ch == "book" and self.feed is not None:
                try:
                    book = self.feed.book(sym)
                except (KeyError, ValueError):
                    continue
                if book.synced:
                    c._queue.append(
                        Resynced(self.exchange, sym, book.sequence or 0, time_ns(), "joined")
                    )
        self.consumers.append(c)
        self._route()
        return new

    def _route(self) -> None:
        routes: dict[str, dict[str, list[Consumer]]] = {ch: {} for ch in self.routes}
        by_symbol: dict[str, list[Consumer]] = {}
        for c in self.consumers:
            for sym, ch in c.topics:
                routes[ch].setdefault(sym, []).append(c)
            for sym in c.symbols:
                by_symbol.setdefault(sym, []).append(c)
        for ch, table in routes.items():  # the same dicts: the fan-out closures hold them
            live = self.routes[ch]
            live.clear()
            live.update({s: tuple(cs) for s, cs in table.items()})
        self.by_symbol = {s: tuple(cs) for s, cs in by_symbol.items()}

    def release(self, c: Consumer) -> None:
        """Remove ``c`` from the fan-out now; topics it leaves at 0 go after the grace."""
        if c not in self.consumers:
            return
        self.consumers.remove(c)
        self._route()
        zero: list[Topic] = []
        for topic in c.topics:
            n = self.refs.get(topic, 0) - 1
            if n < 0:
                continue
            self.refs[topic] = n
            if n == 0:
                self.grace.add(topic)
                zero.append(topic)
        if zero:
            self.schedule(zero, self.pool.grace)

    def schedule(self, topics: list[Topic], delay: float) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self.timers.discard(handle)
            self.spawn(self.expire(topics))

        handle = loop.call_later(delay, fire)
        self.timers.add(handle)

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def expire(self, topics: Iterable[Topic]) -> None:
        """Unsubscribe those of ``topics`` still at refcount 0; close the feed once idle."""
        async with self.lock:
            gone = [t for t in topics if t in self.grace and self.refs.get(t) == 0]
            for t in gone:
                self.grace.discard(t)
                del self.refs[t]
            feed = self.feed
            if feed is None or not gone:
                return
            if not self.refs:  # idle: close the whole connection set
                await self.close_feed()
                return
            if self.credentials is not None:
                return  # account channels stay open while the key has a consumer
            try:
                for ch, syms in _by_channel(gone).items():
                    await feed.unsubscribe(syms, ch)
            except Exception as exc:  # noqa: BLE001 - the streams are forgotten anyway
                log.warning(
                    "%s: unsubscribe of %d topics failed: %r", self.exchange, len(gone), exc
                )

    async def close_feed(self) -> None:
        feed, self.feed = self.feed, None
        self.running = False
        self.grace.clear()
        self.refs.clear()
        if feed is not None:
            await self.retire(feed)

    async def retire(self, feed: Feed) -> None:
        await feed.close()
        for k, v in feed.stats().items():
            self.retired[k] = self.retired.get(k, 0) + v

    def on_error(self, feed: Feed, exc: BaseException) -> None:
        """``feed`` stopped for good while running (e.g. a stream rejected on a reconnect):
        each of its consumers ends with ``exc`` (raised by its iteration after its queued
        events), and the connection set is closed; the next subscribe opens a new one."""
        if feed is not self.feed or not self.running:
            return  # a failing start: join() cleans up and raises it
        log.error("%s: connection set stopped: %r", self.exchange, exc)
        self.feed = None
        self.running = False
        for h in self.timers:
            h.cancel()
        self.timers.clear()
        self.refs.clear()
        self.grace.clear()
        self.blocked.clear()
        consumers, self.consumers = self.consumers, []
        self._route()
        for c in consumers:
            c._error = exc
            c.closed = True
            c._wake()
        self.spawn(self.retire(feed))

    async def join(self, c: Consumer) -> None:
        """Register ``c`` and subscribe its new topics on the wire (start the feed if idle)."""
        async with self.lock:
            new = self.register(c)
            wired: set[Topic] = set()  # new topics on the wire already (one call per channel)
            try:
                if self.feed is None:
                    await self.start_feed(c.symbols, c.channels)
                elif new and self.credentials is None:  # (an account set opened them all)
                    for ch, syms in _by_channel(new).items():
                        await self.feed.subscribe(syms, ch)
                        wired.update((s, ch) for s in syms)
            except BaseException:
                c.closed = True
                if c in self.consumers:
                    self.consumers.remove(c)
                    self._route()
                zero: list[Topic] = []
                for t in c.topics:
                    n = self.refs.get(t, 0) - 1
                    if n < 0 or (t in new and t not in wired):
                        self.refs.pop(t, None)  # never reached the wire (the Feed rolled back)
                    else:
                        self.refs[t] = n
                        if n == 0:  # on the wire with no holder: leaves after the grace
                            self.grace.add(t)
                            zero.append(t)
                if zero:
                    self.schedule(zero, self.pool.grace)
                if not self.refs:
                    await self.close_feed()
                raise

    async def start_feed(self, symbols: list[str], channels: list[str]) -> None:
        args = self.feed_args
        streams: dict[str, Any]
        if self.credentials is not None:  # every account channel the venue serves, one login
            streams = {
                "channels": list(self.adapter.private_channels),
                "credentials": self.credentials,
                "on_order": self.account_fanout("orders"),
                "on_fill": self.account_fanout("fills"),
                "on_position": self.account_fanout("positions"),
                "on_balance": self.account_fanout("balances"),
            }
        else:
            streams = {
                "symbols": symbols,
                "channels": channels,
                "on_book": self.fanout("book"),
                "on_trade": self.fanout("trades"),
                "on_bbo": self.fanout("bbo"),
                "on_candle": self.fanout("candles"),
            }
        feed = Feed(
            self.exchange,
            **streams,
            on_health=self.on_health,
            on_error=lambda exc: self.on_error(feed, exc),
            base_url=args.get("base_url"),
            urls=args.get("urls"),
            options=args.get("options"),
            **self.pool.feed_options,
        )
        self.feed = feed
        if self.pool.metrics is not None:
            from .monitoring import enable_sampling  # only with metrics

            enable_sampling(feed)
        try:
            await feed.start()
        except BaseException:
            self.feed = None
            raise
        self.running = True

    # --- block policy ------------------------------------------------------------------------
    def block(self, c: Consumer) -> None:
        if not self.blocked and self.feed is not None:
            self.pauses += 1
            self.feed.pause_reading(True)
        self.blocked.add(c)

    def unblock(self, c: Consumer) -> None:
        self.blocked.discard(c)
        if not self.blocked and self.feed is not None:
            self.feed.pause_reading(False)

    def topics_status(self) -> list[dict[str, Any]]:
        return [
            {"exchange": self.exchange, "symbol": s, "channel": ch, "refcount": n}
            for (s, ch), n in self.refs.items()
        ]


class Pool:
    """Shared exchange connections for many consumers in one process (async context manager).

    ``async with tw.Pool() as pool:`` then ``await pool.subscribe(exchange, symbols, channels)``
    per strategy. The pool keeps one connection set (a :class:`tickwire.Feed`: one WebSocket per
    route, more when the venue's per-connection topic limit is reached) per (exchange,
    ``base_url``, ``urls``, ``options``, and for account channels the API key); a topic (symbol, channel) is subscribed on the wire
    when its first consumer arrives and unsubscribed ``grace`` seconds after its last one left
    (a consumer coming back within it cancels that); a connection set left with no topic is
    closed. Events are fanned out by (kind, symbol): a consumer that does not want a symbol costs
    nothing for it. Books are shared: one Rust book per symbol, read by all (``book()``).

    Arguments: ``grace`` (seconds, default 3.0: protects the venues' hourly request quotas
    from subscribe/unsubscribe churn), ``metrics_port`` (serve Prometheus ``/metrics`` and
    JSON ``/status`` on this port, 0 = a free one, see ``tickwire.monitoring``; None = off),
    and what every pooled Feed gets: ``connection_options``, ``stale_after``, ``start_timeout``,
    ``validate_symbols``, ``max_lag`` (see :class:`tickwire.Feed`).

    Account channels are pooled per API key: one login per (exchange, URLs, options, key),
    shared by that key's consumers (see :meth:`subscribe`).
    """

    def __init__(
        self,
        *,
        grace: float = 3.0,
        metrics_port: int | None = None,
        connection_options: ConnectionOptions | None = None,
        stale_after: float | None = None,
        start_timeout: float = 30.0,
        validate_symbols: bool = True,
        max_lag: float = 1.0,
    ) -> None:
        if grace < 0:
            raise ValueError(f"grace must be >= 0 seconds, got {grace!r}")
        self.grace = grace
        self.feed_options: dict[str, Any] = {
            "connection_options": connection_options,
            "stale_after": stale_after,
            "start_timeout": start_timeout,
            "validate_symbols": validate_symbols,
            "max_lag": max_lag,
        }
        self._metrics_port = metrics_port
        self.metrics: Any = None  # the tickwire.monitoring.MetricsServer, when serving
        self._groups: dict[Key, _Group] = {}
        self._names = count()
        self._closed = False
        self._entered = False

    async def __aenter__(self) -> Pool:
        self._entered = True
        if self._metrics_port is not None:
            from .monitoring import MetricsServer  # only with metrics

            self.metrics = MetricsServer(self._metrics_port, self)
            await self.metrics.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def subscribe(
        self,
        exchange: str,
        symbols: str | Sequence[str],
        channels: str | Sequence[str] = ("book", "trades", "bbo"),
        *,
        callback: Callable[[Any], Any] | None = None,
        queue_size: int = 100_000,
        policy: str = "drop_oldest",
        name: str | None = None,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> Consumer:
        """A new consumer of ``symbols`` x ``channels`` of ``exchange``; returns once its topics
        are subscribed (new books synced) or already live.

        ``symbols``: ccxt-unified (``"ETH/USDT"``); ``channels``: ``"book"``, ``"trades"``,
        ``"bbo"``, ``"candles"``. ``callback``: called with each event (health events too)
        from a task of the consumer's own (plain or ``async def``; an exception is logged and
        counted in ``errors``, never fatal); without it, iterate the returned
        :class:`Consumer`.
        ``queue_size``: the consumer's queue bound (events); ``policy`` when it is full:
        ``"drop_oldest"`` (the oldest market event goes, counted in ``dropped`` and logged),
        ``"disconnect"`` (the consumer is dropped, its iteration raises
        :class:`SlowConsumerError` after the queued events) or ``"block"`` (the pool stops
        reading the connection set's sockets until the queue is half empty: every consumer of
        that connection set waits, and past the connection's ``stale_after`` it is reopened).
        Account channels (``"orders"``, ``"fills"``, ``"positions"``, ``"balances"``: give
        ``symbols=()`` and ``credentials``, and no market channel in the same call) share one
        logged-in connection set per (exchange, URLs, options, API key): the first consumer
        of a key opens every account channel the venue serves, later ones join it without a
        new login, each gets only the channels it asked for, and the set closes ``grace``
        seconds after the key's last consumer left.
        ``name``: the consumer's id in ``status()`` and metrics (default
        ``"<exchange>#<n>"``; never put a secret in it). ``base_url``, ``urls``, ``options``:
        as :class:`tickwire.Feed`'s; consumers share a connection set only when these are equal.

        Raises ``ValueError`` (bad exchange, symbol, channel, option, policy or queue size;
        account channels mixed with market ones, with symbols, without credentials or not
        served by the venue; or with ``validate_symbols`` a symbol the exchange does not list),
        ``RuntimeError`` if the pool is closed or not entered, and what ``Feed.start`` /
        ``Feed.subscribe`` raise (``SubscriptionError``, ``EndpointError``, ``TimeoutError``).
        """
        if not self._entered or self._closed:
            raise RuntimeError("use the pool inside 'async with tw.Pool() as pool:'")
        chans = _as_list(channels, "channels")
        account = [ch for ch in chans if ch in ACCOUNT_CHANNELS]
        syms = _checked_symbols(symbols, chans, account, credentials)
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size!r}")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be callable, got {callback!r}")
        key: Key = (
            exchange,
            base_url,
            tuple(sorted((urls or {}).items())),
            repr(sorted((options or {}).items())),
            _key_id(credentials),
        )
        group = self._groups.get(key)
        if group is None:
            group = _Group(
                self,
                key,
                exchange,
                {"base_url": base_url, "urls": urls, "options": options},
                credentials,
            )
            self._groups[key] = group
        if account:
            served = group.adapter.private_channels
            missing = [ch for ch in account if ch not in served]
            if missing:
                raise ValueError(
                    f"{exchange} serves no account channel {missing}; it has {list(served)}"
                )
        else:
            group.adapter.subscriptions(syms, chans)  # ValueError naming a bad symbol/channel
            for sym in syms:
                group.adapter.market_of(sym)
        c = Consumer(
            self,
            group,
            name if name is not None else f"{exchange}#{next(self._names)}",
            syms,
            chans,
            queue_size,
            policy,
            callback,
        )
        await group.join(c)
        if callback is not None:
            c._task = asyncio.ensure_future(c._pump(callback))
        return c

    async def flush(self) -> None:
        """Unsubscribe now every topic waiting out its grace period (and close connection sets
        left idle), as if the grace had passed."""
        for g in list(self._groups.values()):
            for h in list(g.timers):
                h.cancel()
            g.timers.clear()
            if g.grace:
                await g.expire(list(g.grace))
            if g.tasks:
                await asyncio.gather(*list(g.tasks), return_exceptions=True)

    async def close(self) -> None:
        """Close every consumer (iteration ends) and connection set, then the metrics server.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.metrics is not None:
            await self.metrics.stop()
        for g in self._groups.values():
            for c in list(g.consumers):
                c._detach()
                task, c._task = c._task, None
                if task is not None:
                    task.cancel()
            for h in g.timers:  # after the consumers: their release scheduled some
                h.cancel()
            g.timers.clear()
            for t in list(g.tasks):
                t.cancel()
            async with g.lock:
                await g.close_feed()

    @property
    def feeds(self) -> list[Feed]:
        """The Feeds (connection sets) running now, one per exchange and configuration."""
        return [g.feed for g in self._groups.values() if g.feed is not None]

    @property
    def consumers(self) -> list[Consumer]:
        """Every open consumer."""
        return [c for g in self._groups.values() for c in g.consumers]

    def status(self) -> dict[str, Any]:
        """What the pool runs now (JSON-able; served as ``/status`` with ``metrics_port``):

        - ``connections``: per WebSocket connection ``exchange``, ``connection`` (name),
          ``url`` (secrets redacted), ``connected``, ``private``, ``streams`` (topics it
          carries) and ``stats`` (its counters, ``tickwire.metrics.Counters``; see
          ``tickwire.monitoring.feed_connections``);
        - ``topics``: ``exchange``, ``symbol``, ``channel``, ``refcount`` (consumers holding
          it; 0 while in its grace period, still on the wire);
        - ``consumers``: per open consumer ``consumer`` (name), ``exchange``, ``symbols``
          (count), ``channels``, ``queue_depth``, ``queue_size``, ``dropped``, ``lag_ns``
          (int ns), ``policy``, ``delivered``, ``errors``, ``state``;
        - ``feeds``: per connection set ``exchange``, ``blocked`` (consumers pausing it),
          ``pauses`` and the Feed's ``stats()``."""
        from .monitoring import feed_connections  # prometheus only when asked

        conns: list[dict[str, Any]] = []
        topics: list[dict[str, Any]] = []
        consumers: list[dict[str, Any]] = []
        feeds: list[dict[str, Any]] = []
        for g in self._groups.values():
            topics += g.topics_status()
            consumers += [c.status() for c in g.consumers]
            if g.feed is None:
                continue
            conns += feed_connections(g.feed)
            feeds.append(
                {
                    "exchange": g.exchange,
                    "blocked": len(g.blocked),
                    "pauses": g.pauses,
                    "stats": g.feed.stats(),
                }
            )
        return {"connections": conns, "topics": topics, "consumers": consumers, "feeds": feeds}

    def stats(self) -> dict[str, int]:
        """Counters summed over the pool: the Feeds' ``stats()`` (closed ones included),
        ``consumers``, ``topics``, ``consumer_queued``, ``consumer_dropped``, ``consumer_errors``,
        ``pauses``."""
        out: dict[str, int] = {}
        for g in self._groups.values():
            for k, v in g.retired.items():
                out[k] = out.get(k, 0) + v
            if g.feed is not None:
                for k, v in g.feed.stats().items():
                    out[k] = out.get(k, 0) + v
        cs = self.consumers
        out["consumers"] = len(cs)
        out["topics"] = sum(len(g.refs) for g in self._groups.values())
        out["consumer_queued"] = sum(c.depth for c in cs)
        out["consumer_dropped"] = sum(c.dropped for c in cs)
        out["consumer_errors"] = sum(c.errors for c in cs)
        out["pauses"] = sum(g.pauses for g in self._groups.values())
        return out

    def __repr__(self) -> str:
        return (
            f"Pool({len(self._groups)} connection sets, {len(self.consumers)} consumers, "
            f"closed={self._closed})"
        )


def _offer(targets: Iterable[Consumer], ev: Any) -> None:
    """Queue ``ev`` for each of ``targets`` (a full queue applies its consumer's policy)."""
    for c in targets:
        q = c._queue
        if len(q) < c._size:
            q.append(ev)
            if c._waiter is not None:
                c._wake()
        else:
            c._overflow(ev)


def _checked_symbols(
    symbols: str | Sequence[str],
    channels: list[str],
    account: list[str],
    credentials: Credentials | None,
) -> list[str]:
    """The symbols of a subscribe call, ``[""]`` (the whole account) for account channels,
    after checking the call: ``ValueError`` for an unknown channel, market channels beside
    account ones, account channels with symbols or without credentials, or credentials
    given for market data."""
    for ch in channels:
        if ch not in _CHANNEL_TYPES and ch not in ACCOUNT_CHANNELS:
            known = ", ".join((*_CHANNEL_TYPES, *ACCOUNT_CHANNELS))
            raise ValueError(f"unknown channel {ch!r}; known: {known}")
    if not account:
        if credentials is not None:
            raise ValueError("credentials are for account channels; market data needs none")
        return _as_list(symbols, "symbols")
    if len(account) != len(channels):
        raise ValueError(
            f"account channels {account} cannot be mixed with market channels in one "
            "subscribe: make two calls"
        )
    if symbols:
        raise ValueError(
            f"account channels {account} cover the whole account: give symbols=(), not {symbols!r}"
        )
    if not isinstance(credentials, Credentials):
        raise ValueError(f"account channels {account} need credentials=tw.Credentials(...)")
    return [""]


def _key_id(credentials: Credentials | None) -> str:
    """Which key a connection set logs in with, without holding the key itself in the pool's
    keys: a digest of the API key ("" for market data)."""
    if credentials is None:
        return ""
    return hashlib.sha256(credentials.api_key.encode()).hexdigest()[:16]


def _by_channel(topics: Iterable[Topic]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sym, ch in topics:
        out.setdefault(ch, []).append(sym)
    return out


def _as_list(value: str | Iterable[str], what: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    if not items:
        raise ValueError(f"{what} must not be empty")
    return list(dict.fromkeys(items))
