"""Market-data caches readable from any thread: :class:`Cache` (``tw.Cache(feed)``, ``feed.cache``).

```python
import threading
import tickwire as tw

async def main():
    feed = tw.Feed("binance", ["ETH/USDT"], ["bbo", "candles", "book"])
    cache = tw.Cache(feed, candles=500, stale_after=5.0)
    async with feed:
        await cache.ready()                       # candles backfilled over REST
        threading.Thread(target=strategy, args=(cache,)).start()
        ...

def strategy(cache):                              # any thread, no socket, no lock
    bbo = cache.bbo("ETH/USDT")                   # the last BBO event (bid/ask from one event)
    c = cache.candles("ETH/USDT", "1m")           # closed candles, NumPy columns, oldest first
    c.close[-20:].mean(), cache.live_candle("ETH/USDT", "1m"), cache.top("ETH/USDT", 10)
```

How the writes stay cheap and the reads whole (the event loop writes, other threads read):

- Latest BBO / trade / live candle: the cache keeps the event object itself, one dict store per
  event. Events are immutable to Python, and the decoder only rewrites an event nobody else
  holds (its recycling, ``rust/src/python/events.rs``), so a held event never changes: a
  reader's BBO always has the bid and the ask of one exchange message. The price: while the
  cache holds the last BBO and trade, the decoder allocates those two kinds afresh instead of
  recycling them (measured in ``benches/test_bench_cache.py``).
- Closed candles: a ring of preallocated NumPy columns per (symbol, interval) with a sequence
  counter (a seqlock): the writer bumps it to odd, writes the row, bumps it to even; a reader
  copies and retries if the counter moved or was odd. The write path takes no lock and never
  waits for a reader.
- Book top N: read from the live Rust book on demand (nothing on the write path); each side
  is one Rust call under the GIL, and the two sides are retried until the book's update id and
  best levels did not move between them.

Reads rely on the GIL (the extension requires it: ``gil_used = true``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import time_ns
from typing import TYPE_CHECKING, Any, NamedTuple, overload

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import aiohttp

    from .exchanges import Adapter, RestCandle
    from .feed import Feed

__all__ = ["DEFAULT_CANDLES", "BookTop", "Cache", "CacheSlot", "Candles", "Stale"]

log = logging.getLogger("tickwire.cache")

#: Closed candles kept per (symbol, interval) by default.
DEFAULT_CANDLES = 500
# Bound on one REST backfill request; past it the ring starts empty (a warning is logged).
BACKFILL_TIMEOUT = 10.0
# A reader retries a torn copy this many times, then waits for the writer with a short sleep.
_SPINS = 64


@dataclass(frozen=True, slots=True)
class Stale:
    """Health event of :class:`Cache`: ``symbol``'s ``kind`` (``"bbo"`` or ``"trade"``) had no
    event for longer than the cache's ``stale_after`` (``stale=True``; ``age_ns``: how long,
    int ns), or has one again (``stale=False``, ``age_ns`` of the new one). ``receive_ts``: when
    this was found (int ns since the Unix epoch). Delivered to the feed's callbacks and
    ``async for`` like the feed's own health events, and to ``Cache(on_stale=...)``."""

    exchange: str
    symbol: str
    kind: str
    stale: bool
    age_ns: int
    receive_ts: int


class Candles(NamedTuple):
    """Closed candles of one (symbol, interval), oldest first: ``start_ts`` (int64, open time,
    ns since the Unix epoch), ``open``, ``high``, ``low``, ``close`` (float64, quote per base
    unit) and ``volume`` (float64, base units), all of the same length. Copies: the caller
    owns them."""

    start_ts: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]


class BookTop(NamedTuple):
    """The best ``n`` levels of a book at one update: ``bids`` / ``asks`` float64 arrays of
    shape (k, 2) [price, size], best first (as ``tw.Book.bids``), and the book's update id
    ``sequence`` (None where the venue has none)."""

    bids: npt.NDArray[np.float64]
    asks: npt.NDArray[np.float64]
    sequence: int | None


class _Ring:
    """Closed candles of one (symbol, interval): preallocated columns, newest at ``head - 1``,
    guarded by a seqlock ``version`` (odd while a write is under way)."""

    __slots__ = ("cap", "head", "n", "ts", "vals", "version")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.ts = np.zeros(cap, np.int64)
        self.vals = np.zeros((cap, 5), np.float64)  # open, high, low, close, volume
        self.n = 0
        self.head = 0
        self.version = 0

    def last_start(self) -> int | None:
        return int(self.ts[(self.head - 1) % self.cap]) if self.n else None

    def put(self, start: int, row: tuple[float, float, float, float, float]) -> None:
        """Append a closed candle, or overwrite the newest if it has the same start; an older
        one is merged in order."""
        last = self.last_start()
        if last is not None and start < last:
            self.merge([(start, row)], replace=True)
            return
        self.version += 1
        i = (self.head - 1) % self.cap if start == last else self.head
        self.ts[i] = start
        self.vals[i] = row
        if start != last:
            self.head = (i + 1) % self.cap
            self.n = min(self.n + 1, self.cap)
        self.version += 1

    def rows(self) -> list[tuple[int, tuple[float, ...]]]:
        """Every row, oldest first (writer side: no check needed)."""
        order = [(self.head - self.n + k) % self.cap for k in range(self.n)]
        return [(int(self.ts[i]), tuple(float(x) for x in self.vals[i])) for i in order]

    def merge(self, rows: Iterable[tuple[int, tuple[float, ...]]], replace: bool) -> None:
        """Add ``rows`` (start, OHLCV), keeping one row per start (``replace``: the new one,
        else the one already held), sorted, the newest ``cap``."""
        held = dict(self.rows())
        for start, row in rows:
            if replace or start not in held:
                held[start] = row
        keep = sorted(held.items())[-self.cap :]
        self.version += 1
        for i, (start, row) in enumerate(keep):
            self.ts[i] = start
            self.vals[i] = row
        self.n = len(keep)
        self.head = self.n % self.cap
        self.version += 1

    def read(self, last: int | None) -> Candles:
        """A consistent copy of the newest ``last`` rows (all when None), oldest first."""
        spins = 0
        while True:
            v = self.version
            if not v & 1:
                n, head, cap = self.n, self.head, self.cap
                k = n if last is None else max(0, min(last, n))
                first = (head - k) % cap
                if first + k <= cap:
                    ts = self.ts[first : first + k].copy()
                    vals = self.vals[first : first + k].copy()
                else:
                    ts = np.concatenate((self.ts[first:], self.ts[: head % cap]))
                    vals = np.concatenate((self.vals[first:], self.vals[: head % cap]))
                if self.version == v:
                    return Candles(ts, *(np.ascontiguousarray(vals[:, j]) for j in range(5)))
            spins += 1
            if spins > _SPINS:
                time.sleep(0)  # the writer holds the other half of a write: let it run


def _chain(first: Callable[[Any], None], then: Callable[[Any], Any]) -> Callable[[Any], None]:
    """``first(ev)`` then ``then(ev)`` (the cache writes before the user's callback sees it)."""

    def both(ev: Any) -> None:
        first(ev)
        then(ev)

    return both


class Cache:
    """The latest market data of a feed, readable from any thread (see the module docstring).

    ``Cache(feed=None, *, kinds=("bbo", "trade", "candle"), candles=500, stale_after=None,
    on_stale=None, backfill=True)``.

    - ``feed``: a :class:`tickwire.Feed` to attach to (before or after it starts; it then
      also answers ``feed.cache``). The cache writes from the feed's own per-kind delivery, so a
      feed's fast path stays one call per event; a feed without other callbacks then queues
      events for ``async for`` only once iteration starts, as a feed with callbacks does.
      Without a feed, pass events to :meth:`update` yourself (e.g. ``on_event=cache.update``
      of a ``Feed`` or a ``Pool`` handle, or a ``Replay`` loop).
    - ``kinds``: what to keep, any of ``"bbo"``, ``"trade"`` (the last trade: the ticker's
      last price) and ``"candle"``; a kind left out costs nothing (its events keep being
      recycled by the decoder).
    - ``candles``: closed candles kept per (symbol, interval) (a ring: the oldest go).
    - ``stale_after`` (seconds): a symbol whose last BBO or trade is older than this is stale
      (:meth:`is_stale`), and a :class:`Stale` health event is emitted once when it becomes
      stale and once when data flows again (checked on a timer of the running event loop, a
      quarter of ``stale_after``, at most every second; needs a running loop when made).
    - ``on_stale``: called with each :class:`Stale` event (in the event loop).
    - ``backfill``: with a feed whose adapter has REST candles (``Adapter.candles_request``,
      Binance spot and USD-M), fill each candle ring with the last ``candles`` candles of every
      symbol of the feed's ``"candles"`` channel at start (a cache made before the event loop
      runs starts it at the first candle; :meth:`ready` waits for it; :meth:`backfill` does it for symbols added later). A failed
      request only logs a warning (counted in :attr:`backfill_errors`).

    Reads (any thread): :meth:`bbo`, :meth:`last_trade`, :meth:`age`, :meth:`is_stale`,
    :meth:`candles`, :meth:`live_candle`, :meth:`intervals`, :meth:`top`, :meth:`symbols`,
    :meth:`stats`.
    Timestamps are int ns since the Unix epoch, ages float seconds.

    Raises ``ValueError`` for ``candles < 1``, ``stale_after <= 0``, an unknown kind or a feed
    that already has a cache; ``RuntimeError`` for ``stale_after`` without a running loop.
    """

    def __init__(
        self,
        feed: Feed | None = None,
        *,
        kinds: Iterable[str] = ("bbo", "trade", "candle"),
        candles: int = DEFAULT_CANDLES,
        stale_after: float | None = None,
        on_stale: Callable[[Stale], Any] | None = None,
        backfill: bool = True,
    ) -> None:
        if candles < 1:
            raise ValueError(f"candles must be >= 1, got {candles!r}")
        if stale_after is not None and not stale_after > 0:
            raise ValueError(f"stale_after must be > 0 seconds, got {stale_after!r}")
        self.kinds = tuple(dict.fromkeys(kinds))
        bad = [k for k in self.kinds if k not in ("bbo", "trade", "candle")]
        if bad or not self.kinds:
            raise ValueError(
                f"kinds must be some of 'bbo', 'trade', 'candle'; got {list(self.kinds)!r}"
            )
        self.capacity = candles
        self.stale_after = stale_after
        self.on_stale = on_stale
        self.feed = feed
        self.exchange = feed.exchange if feed is not None else ""
        self._bbo: dict[str, Any] = {}
        self._trade: dict[str, Any] = {}
        self._live: dict[tuple[str, str], Any] = {}
        self._rings: dict[tuple[str, str], _Ring] = {}
        self._stale: set[tuple[str, str]] = set()
        self.stale_events = 0
        self._timer: asyncio.TimerHandle | None = None
        self._backfill_task: asyncio.Task[int] | None = None
        self._deferred: list[str] | None = None  # backfill waiting for the event loop
        self._deferred_started = asyncio.Event()
        self._closed = False
        #: candles backfilled over REST so far, and requests that failed
        self.backfilled = 0
        self.backfill_errors = 0
        self.update = self._make_update()
        loop = _running_loop()
        if stale_after is not None and loop is None:
            raise RuntimeError("Cache(stale_after=...) needs a running event loop")
        if feed is not None:
            self._attach(feed)
        if stale_after is not None and loop is not None:
            self._timer = loop.call_later(self._tick_s(), self._check_stale)
        if feed is not None and backfill and "candle" in self.kinds:
            syms = [s.symbol for s in feed.subscriptions if s.channel == "candles" and s.symbol]
            if syms and _has_rest_candles(feed.adapter, syms[0]):
                if loop is None:  # made before the loop runs: backfill at the first candle
                    self._deferred = syms
                else:
                    self._backfill_task = loop.create_task(self.backfill(syms))

    # --- write side (the event loop) --------------------------------------------------------
    def _write_bbo(self, ev: Any) -> None:
        self._bbo[ev.symbol] = ev

    def _write_trade(self, ev: Any) -> None:
        self._trade[ev.symbol] = ev

    def _write_candle(self, ev: Any) -> None:
        if self._deferred is not None:
            syms, self._deferred = self._deferred, None
            self._backfill_task = asyncio.get_running_loop().create_task(self.backfill(syms))
            self._deferred_started.set()
        key = (ev.symbol, ev.interval)
        live = self._live.get(key)
        if live is not None and live.start_ts < ev.start_ts:
            # the live candle's interval is over: its last state is final (a venue that never
            # says "closed", or its closing update was missed)
            ring = self._rings.get(key)
            last = ring.last_start() if ring is not None else None
            if last is None or last < live.start_ts:
                self._close(key, live)
        if ev.closed:
            self._close(key, ev)
            if live is not None and live.start_ts <= ev.start_ts:
                del self._live[key]
        elif live is None or live.start_ts <= ev.start_ts:
            self._live[key] = ev  # (an older candle's late update is not the live one)

    def _close(self, key: tuple[str, str], c: Any) -> None:
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = _Ring(self.capacity)
        ring.put(c.start_ts, (c.open, c.high, c.low, c.close, c.volume))

    def _make_update(self) -> Callable[[Any], None]:
        from ._core import BBO, Candle, Trade

        types = {"bbo": BBO, "trade": Trade, "candle": Candle}
        by_type = {types[k]: w for k, w in self._writers().items()}

        def update(ev: Any) -> None:
            """Write ``ev`` into the cache (events of its ``kinds``; others are ignored).
            Usable as any callback: ``Feed(on_event=cache.update)``."""
            w = by_type.get(type(ev))
            if w is not None:
                w(ev)

        return update

    def _writers(self) -> dict[str, Callable[[Any], None]]:
        every = {"bbo": self._write_bbo, "trade": self._write_trade, "candle": self._write_candle}
        return {k: every[k] for k in self.kinds}

    def _attach(self, feed: Feed) -> None:
        """Write from ``feed``'s per-kind delivery: chained before the user's callback of the
        kind (or alone), before start through the callbacks the feed will wire, after start
        into its dispatch, then rewired (see ``Feed._rewire``)."""
        from ._core import BBO, Candle, Trade
        from .feed import _wrap

        if feed.__dict__.get("_tw_cache") is not None:
            raise ValueError("this feed already has a cache (feed.cache)")
        feed.__dict__["_tw_cache"] = self
        writers = self._writers()
        if not feed._started:
            for kind, w in writers.items():
                cb = feed._user_callbacks[kind]
                feed._user_callbacks[kind] = w if cb is None else _chain(w, _wrap(cb, feed))
            if not feed._has_callbacks:  # never an unread async-for queue for a cache alone
                feed._has_callbacks = True
                feed._queue_on = False
            return
        types = {"bbo": BBO, "trade": Trade, "candle": Candle}
        for kind, w in writers.items():
            typ = types[kind]
            cb = feed._dispatch.get(typ)
            feed._dispatch[typ] = w if cb is None else _chain(w, cb)
        feed._rewire()

    # --- staleness ----------------------------------------------------------------------------
    def _tick_s(self) -> float:
        return min(1.0, (self.stale_after or 4.0) / 4)

    def _check_stale(self) -> None:
        self._timer = None
        feed = self.feed
        if self._closed or (feed is not None and feed._closed):
            return
        limit = int((self.stale_after or 0) * 1e9)
        now = time_ns()
        for kind, latest in (("bbo", self._bbo), ("trade", self._trade)):
            for sym, ev in list(latest.items()):
                age = now - ev.receive_ts
                key = (sym, kind)
                was = key in self._stale
                if age > limit and not was:
                    self._stale.add(key)
                    self._emit(Stale(ev.exchange, sym, kind, True, age, now))
                elif age <= limit and was:
                    self._stale.discard(key)
                    self._emit(Stale(ev.exchange, sym, kind, False, age, now))
        self._timer = asyncio.get_running_loop().call_later(self._tick_s(), self._check_stale)

    def _emit(self, ev: Stale) -> None:
        self.stale_events += 1
        log.warning(
            "%s %s %s: %s (%.3f s old)",
            ev.exchange,
            ev.symbol,
            ev.kind,
            "stale" if ev.stale else "fresh again",
            ev.age_ns / 1e9,
        )
        if self.on_stale is not None:
            try:
                self.on_stale(ev)
            except Exception:  # a user callback's error is logged, never fatal
                log.exception("on_stale callback raised on %r", ev)
        if self.feed is not None and not self.feed._closed:
            self.feed._lag.sink()(ev)  # the feed's own delivery: callbacks, async for

    # --- backfill -----------------------------------------------------------------------------
    async def backfill(self, symbols: Iterable[str]) -> int:
        """Fetch the last :attr:`capacity` candles of each of ``symbols`` (unified) over the
        feed's REST candles (``Adapter.candles_request``) and merge them with what the socket
        delivered (the socket's candles win); done at creation for the feed's ``"candles"``
        symbols, call it for symbols subscribed later. Returns the candles merged. A failed
        request (network, HTTP status, error reply, no answer within 10 s) is logged and
        counted in :attr:`backfill_errors`, never raised. ``RuntimeError`` without a feed."""
        feed = self.feed
        if feed is None:
            raise RuntimeError("Cache.backfill needs the cache to be attached to a feed")
        a = feed.adapter
        before = self.backfilled
        for sym in symbols:
            try:
                rows = await asyncio.wait_for(self._fetch(a, feed._http(), sym), BACKFILL_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - network, HTTP, ExchangeError: never fatal
                self.backfill_errors += 1
                log.warning("%s %s: candle backfill failed (%r)", a.exchange_id, sym, exc)
                continue
            self.merge_candles(sym, rows)
        return self.backfilled - before

    async def _fetch(self, a: Adapter, http: aiohttp.ClientSession, sym: str) -> list[RestCandle]:
        req = a.candles_request(sym, self.capacity + 1)  # +1: the open one
        if req is None:
            return []
        url, params = req
        return await a.get_parsed(
            http, url, {**a.rest_params, **params}, lambda body: a.parse_candles_of(sym, body)
        )

    def merge_candles(self, symbol: str, rows: Iterable[RestCandle]) -> None:
        """Merge REST candles of ``symbol`` (oldest first, :class:`RestCandle`) into the
        cache: closed ones into the ring, the newest unclosed one as the live candle unless the
        socket already gave a live or closed candle as new. Candles the socket delivered win.
        Runs in the event loop (a write)."""
        by_interval: dict[str, list[RestCandle]] = {}
        for r in rows:
            by_interval.setdefault(r.interval, []).append(r)
        for interval, rs in by_interval.items():
            key = (symbol, interval)
            closed = [r for r in rs if r.closed]
            live = rs[-1] if rs[-1].closed is not True else None
            ring = self._rings.get(key)
            if ring is None:
                ring = self._rings[key] = _Ring(self.capacity)
            ring.merge(
                ((r.start_ts, (r.open, r.high, r.low, r.close, r.volume)) for r in closed),
                replace=False,
            )
            self.backfilled += len(rs)
            last = ring.last_start()
            have = self._live.get(key)
            if (
                live is not None
                and (last is None or live.start_ts > last)
                and (have is None or have.start_ts < live.start_ts)
            ):
                if have is not None:
                    self._close(key, have)
                self._live[key] = _RestLive(symbol, self.exchange, live)

    async def ready(self, timeout: float | None = BACKFILL_TIMEOUT * 2) -> None:
        """Wait until the REST backfill started at creation (or, for a cache made before the
        loop ran, at the first candle) is done; at once without one. ``asyncio.TimeoutError``
        past ``timeout`` seconds."""

        async def done() -> None:
            if self._deferred is not None:  # no candle yet: the backfill has not started
                await self._deferred_started.wait()
            t = self._backfill_task
            if t is not None and not t.done():
                await asyncio.shield(t)

        await asyncio.wait_for(done(), timeout)

    def close(self) -> None:
        """Stop the staleness timer and a backfill still running (the data stay readable).
        Idempotent; also happens by itself once the feed is closed (at the next timer tick)."""
        self._closed = True
        self._deferred = None
        self._deferred_started.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._backfill_task is not None and not self._backfill_task.done():
            self._backfill_task.cancel()

    # --- read side (any thread) ---------------------------------------------------------------
    def bbo(self, symbol: str) -> Any:
        """The last ``tw.BBO`` event of ``symbol`` (bid and ask of one exchange message;
        the object never changes), or None before the first."""
        return self._bbo.get(symbol)

    def last_trade(self, symbol: str) -> Any:
        """The last ``tw.Trade`` of ``symbol`` (the ticker's last price), or None."""
        return self._trade.get(symbol)

    def age(self, symbol: str, kind: str = "bbo") -> float | None:
        """Seconds since the last ``kind`` (``"bbo"`` or ``"trade"``) event of ``symbol`` was
        received (its ``receive_ts``), or None before the first. ``ValueError`` for another
        kind."""
        ev = self._latest(kind).get(symbol)
        return None if ev is None else (time_ns() - ev.receive_ts) / 1e9

    def is_stale(self, symbol: str, kind: str = "bbo") -> bool:
        """True if ``symbol`` has no ``kind`` event yet or its last one is older than
        ``stale_after`` (never stale by age without ``stale_after``)."""
        age = self.age(symbol, kind)
        if age is None:
            return True
        return self.stale_after is not None and age > self.stale_after

    def _latest(self, kind: str) -> dict[str, Any]:
        if kind == "bbo":
            return self._bbo
        if kind == "trade":
            return self._trade
        raise ValueError(f"kind must be 'bbo' or 'trade', got {kind!r}")

    def intervals(self, symbol: str) -> list[str]:
        """The candle intervals held for ``symbol`` (e.g. ``["1m"]``)."""
        keys = list(self._rings) + list(self._live)
        return sorted({i for s, i in keys if s == symbol})

    def _interval(self, symbol: str, interval: str | None) -> str:
        if interval is not None:
            return interval
        held = self.intervals(symbol)
        if len(held) > 1:
            raise ValueError(f"{symbol!r} has candles of {held}: name the interval")
        return held[0] if held else ""

    def candles(self, symbol: str, interval: str | None = None, last: int | None = None) -> Candles:
        """The closed candles of ``symbol`` at ``interval`` (default: its only one), oldest
        first, the newest ``last`` of them (default all, up to ``candles``), as NumPy columns
        (:class:`Candles`; empty before any). The live candle is apart: :meth:`live_candle`.
        ``ValueError`` if ``interval`` is omitted and several are held."""
        ring = self._rings.get((symbol, self._interval(symbol, interval)))
        if ring is None:
            e = np.zeros(0, np.float64)
            return Candles(np.zeros(0, np.int64), e, e.copy(), e.copy(), e.copy(), e.copy())
        return ring.read(last)

    def live_candle(self, symbol: str, interval: str | None = None) -> Any:
        """The candle of ``symbol`` at ``interval`` still open (the last ``tw.Candle`` event,
        or a backfilled REST candle with the same fields), or None."""
        return self._live.get((symbol, self._interval(symbol, interval)))

    def top(self, symbol: str, n: int = 10) -> BookTop:
        """The best ``n`` bids and asks of ``symbol``'s live book (the feed's ``"book"``
        channel) at one update, with its update id. Raises what ``Feed.book`` raises
        (``ValueError`` without that channel, ``KeyError`` before data), ``RuntimeError``
        without a feed."""
        if self.feed is None:
            raise RuntimeError("Cache.top needs the cache to be attached to a feed")
        spins = 0
        while True:
            book = self.feed.book(symbol)
            seq, top = book.sequence, book.exact_top()
            bids, asks = book.bids(n), book.asks(n)
            if book.sequence == seq and book.exact_top() == top:
                return BookTop(bids, asks, seq)
            spins += 1
            if spins > _SPINS:
                time.sleep(0)

    def stats(self) -> dict[str, int]:
        """Counters for monitoring: ``symbols`` with data, ``candles`` (closed candles held,
        all rings), ``stale`` ((symbol, kind) pairs stale now), ``stale_events`` (emitted so
        far), ``backfilled`` (REST candles merged), ``backfill_errors`` (failed requests)."""
        return {
            "symbols": len(self.symbols()),
            "candles": sum(r.n for r in list(self._rings.values())),
            "stale": len(self._stale),
            "stale_events": self.stale_events,
            "backfilled": self.backfilled,
            "backfill_errors": self.backfill_errors,
        }

    def symbols(self) -> list[str]:
        """Symbols with any cached data."""
        keys = [*self._bbo, *self._trade, *(s for s, _ in self._rings), *(s for s, _ in self._live)]
        return list(dict.fromkeys(keys))

    def __repr__(self) -> str:
        return (
            f"Cache({self.exchange!r}, symbols={len(self.symbols())}, candles={self.capacity}, "
            f"stale_after={self.stale_after})"
        )


@dataclass(frozen=True, slots=True)
class _RestLive:
    """A live candle from the REST backfill, with the fields of a ``tw.Candle`` the cache
    and its readers use."""

    symbol: str
    exchange: str
    rest: RestCandle

    @property
    def interval(self) -> str:
        return self.rest.interval

    @property
    def start_ts(self) -> int:
        return self.rest.start_ts

    @property
    def open(self) -> float:
        return self.rest.open

    @property
    def high(self) -> float:
        return self.rest.high

    @property
    def low(self) -> float:
        return self.rest.low

    @property
    def close(self) -> float:
        return self.rest.close

    @property
    def volume(self) -> float:
        return self.rest.volume

    @property
    def closed(self) -> bool | None:
        return self.rest.closed


class CacheSlot:
    """``Feed.cache``: the feed's :class:`Cache`, made with the defaults on first use (attach
    one with options by ``tw.Cache(feed, ...)`` before)."""

    @overload
    def __get__(self, feed: None, owner: type | None = None) -> CacheSlot: ...
    @overload
    def __get__(self, feed: Feed, owner: type | None = None) -> Cache: ...
    def __get__(self, feed: Feed | None, owner: type | None = None) -> Cache | CacheSlot:
        if feed is None:
            return self
        got: Cache | None = feed.__dict__.get("_tw_cache")
        return got if got is not None else Cache(feed)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _has_rest_candles(adapter: Adapter, symbol: str) -> bool:
    try:
        return adapter.candles_request(symbol, 1) is not None
    except (ValueError, NotImplementedError):
        return False
