"""The slow-callback policy of a :class:`tickwire.Feed`: lag measurement, catch-up delivery from a
task with a time budget, and per-symbol conflation of book updates and BBOs while behind; and the
opt-in delivery sampler behind the latency metrics (:class:`LatencySampler`).

See ``Feed`` ("slow callbacks") for the policy as users see it; ``Lagging`` is its health event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from time import time_ns
from typing import Any

from ._core import BBO, BookUpdate
from .events import Lagging
from .metrics import Histogram

__all__ = ["CALLBACK_BUCKETS_NS", "EXCHANGE_BUCKETS_NS", "LagGuard", "LatencySampler"]

log = logging.getLogger("tickwire.feed")

_STEPS = (1, 2, 5, 10, 25, 50, 100, 250, 500)
# receive -> callback: a decoded event waits microseconds while callbacks keep up, up to
# seconds while they catch up (``LagGuard``): 1 µs .. 10 s
CALLBACK_BUCKETS_NS = (*(m * 1_000 for m in _STEPS), *(m * 1_000_000 for m in _STEPS), 10**9)
CALLBACK_BUCKETS_NS += (2 * 10**9, 5 * 10**9, 10 * 10**9)
# exchange -> receive: network plus the exchange's own delay: 100 µs .. 60 s
EXCHANGE_BUCKETS_NS = (*(m * 100_000 for m in _STEPS), *(m * 100_000_000 for m in _STEPS[:4]))
EXCHANGE_BUCKETS_NS += (5 * 10**9, 10 * 10**9, 60 * 10**9)


class LatencySampler:
    """Counts the events a feed delivers, by type, and samples one in ``every`` of each type
    (a power of two) into two histograms (int ns):

    - :attr:`callback`: receive -> callback, ``time_ns() - event.receive_ts`` just before the
      event's callback runs (decode, dispatch and any catch-up queueing);
    - :attr:`exchange`: exchange -> receive, ``receive_ts - exchange_ts`` (network and the
      exchange's own delay; includes any clock offset between the exchange and this host).

    Only events that carry ``exchange_ts`` (market and account events) are sampled; every
    event is counted (:attr:`counts`, ``{event type: delivered}``). Installed by
    :meth:`LagGuard.enable_sampling`; its per-event cost (one more Python call, a counter
    bump and a mask test) is measured in ``benches/test_bench_metrics.py``.
    """

    __slots__ = ("_cells", "callback", "every", "exchange")

    def __init__(self, every: int = 64) -> None:
        if every < 1 or every & (every - 1):
            raise ValueError(f"every must be a power of two >= 1, got {every!r}")
        self.every = every
        self._cells: dict[type, list[int]] = {}  # per type: [delivered], shared by wrappers
        self.callback = Histogram(CALLBACK_BUCKETS_NS)
        self.exchange = Histogram(EXCHANGE_BUCKETS_NS)

    @property
    def counts(self) -> dict[type, int]:
        """``{event type: events delivered}`` since the sampler was installed."""
        return {t: c[0] for t, c in self._cells.items()}

    def _cell(self, t: type) -> list[int]:
        cell = self._cells.get(t)
        if cell is None:
            cell = self._cells[t] = [0]
        return cell

    def wrap(
        self, deliver: Callable[[Any], None], kind: type | None = None
    ) -> Callable[[Any], None]:
        """``deliver`` preceded by the count and, one event in ``every``, the sample. ``kind``:
        the one event type this delivery gets (a per-type sink: no type lookup per event)."""
        mask = self.every - 1
        sample = self.sample
        if kind is not None:
            cell = self._cell(kind)

            def deliver_kind(ev: Any) -> None:
                n = cell[0] = cell[0] + 1
                if not n & mask:
                    sample(ev)
                deliver(ev)

            return deliver_kind
        cells = self._cells
        new = self._cell

        def deliver_sampled(ev: Any) -> None:
            c = cells.get(type(ev)) or new(type(ev))
            n = c[0] = c[0] + 1
            if not n & mask:
                sample(ev)
            deliver(ev)

        return deliver_sampled

    def note(self, ev: Any) -> None:
        """Count (and maybe sample) ``ev`` outside a wrapped delivery (the catch-up queue)."""
        c = self._cell(type(ev))
        n = c[0] = c[0] + 1
        if not n & (self.every - 1):
            self.sample(ev)

    def sample(self, ev: Any) -> None:
        """Record ``ev``'s latencies now (events without ``exchange_ts`` are skipped)."""
        ets = getattr(ev, "exchange_ts", _NO_TS)
        if ets is _NO_TS:
            return  # a health event: made locally, nothing to measure
        rts = ev.receive_ts
        self.callback.add(time_ns() - rts)
        if ets:
            self.exchange.add(rts - ets)

    def kinds(self) -> dict[str, int]:
        """:attr:`counts` by kind name (``"trade"``, ``"book"``, ``"gap_detected"``...)."""
        return {_kind(t): c[0] for t, c in self._cells.items()}


_NO_TS = object()
_KIND_NAMES = {"BookUpdate": "book", "BBO": "bbo", "OrderUpdate": "order"}


def _kind(t: type) -> str:
    """``BookUpdate`` -> ``"book"``, ``GapDetected`` -> ``"gap_detected"``."""
    name = t.__name__
    if name in _KIND_NAMES:
        return _KIND_NAMES[name]
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


class LagGuard:
    """The slow-callback policy of one :class:`tickwire.Feed` (described there): measures the lag,
    switches delivery to a catch-up queue drained by a task with a time budget, conflates book
    updates and BBOs per symbol while delivery is behind, and switches back once caught up.
    Nothing here runs per event while callbacks keep up: only a timer, ``1 / period`` times a
    second."""

    _CONFLATED = (BBO, BookUpdate)  # the newest of these per symbol is all that matters
    REPORT_EVERY = 5.0  # seconds between Lagging events while the lag lasts
    CALM_FOR = 1.0  # seconds of low lag and an empty queue before callbacks run directly again
    PROBATION_EVENTS = 16  # events watched at least before callbacks may run unwatched
    FAST_CALLBACK_S = 50e-6  # ... if they took less than this on average

    def __init__(
        self,
        exchange: str,
        max_lag: float,
        *,
        deliver: Callable[[Any], None],
        rewire: Callable[[], None],
        interrupted: Callable[[BaseException], None],
        queue_dropped: Callable[[], int],
    ) -> None:
        self.exchange = exchange
        self._deliver = deliver  # the feed's delivery to its callbacks and queue
        self._rewire = rewire  # re-point the connections' sinks (after a mode change)
        self._interrupted = interrupted  # a callback raised KeyboardInterrupt/SystemExit
        self._queue_dropped = queue_dropped  # the async-for queue's drop count so far
        self.max_lag_ns = int(max_lag * 1e9)
        self.period = min(0.1, max_lag / 4)  # how often the loop's delay is measured
        self.budget = min(0.05, max_lag / 10)  # seconds of callbacks per loop iteration
        self.catching_up = False
        # Direct callbacks are watched until they have been seen fast (on average, over a few
        # events) while the loop kept its pace: a slow callback is caught inside a read's batch
        # of frames (which can hold thousands), not after it. Slow ones stay watched.
        self.probation = True
        self.watched_events = 0
        self.watched_s = 0.0  # time spent in watched callbacks
        self.last_tick = time.monotonic()
        self.behind = False  # delivery is more than max_lag / 2 behind: conflate
        self.pending: dict[Any, Any] = {}  # key -> event; key: a serial, or (type, symbol)
        self.order: deque[Any] = deque()  # keys in arrival order
        self.serial = 0
        self.conflated = 0
        self.catchups = 0
        self.reports = 0
        self.lag_ns = 0  # worst lag over the last second
        self.lag_max_ns = 0
        self.loop_delay_ns = 0  # worst loop delay over the last second
        self._window_lag = 0  # worst arrival -> callback end lag of catch-up deliveries
        self._wake: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: the latency sampler, once :meth:`enable_sampling` installed one (metrics)
        self.sampler: LatencySampler | None = None

    def start(self) -> None:
        """Start measuring (on the running loop)."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._monitor(), name="tickwire lag monitor"))

    async def stop(self) -> None:
        """Stop measuring and delivering; events still pending are dropped (the feed closes)."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.order:
            log.info("%s: %d pending events dropped at close", self.exchange, len(self.order))
        self.pending.clear()
        self.order.clear()

    def stats(self) -> dict[str, int]:
        """``lag_ns``, ``lag_max_ns``, ``loop_delay_ns`` (int ns), ``pending``, ``conflated``,
        ``catchups`` (times catch-up started), ``lag_reports`` (``Lagging`` events)."""
        return {
            "lag_ns": self.lag_ns,
            "lag_max_ns": self.lag_max_ns,
            "loop_delay_ns": self.loop_delay_ns,
            "pending": len(self.order),
            "conflated": self.conflated,
            "catchups": self.catchups,
            "lag_reports": self.reports,
        }

    def sink(self) -> Callable[[Any], None]:
        """What a new connection delivers to now."""
        if self.catching_up:
            return self.enqueue
        d = self._deliver
        return self.sampled(self.watch(d) if self.probation else d)

    def enable_sampling(self, every: int = 64) -> LatencySampler:
        """Install a :class:`LatencySampler` (once; later calls return it) and re-point the
        connections' sinks through it. Costs a dict update per event from now on."""
        if self.sampler is None:
            self.sampler = LatencySampler(every)
            self._rewire()
        return self.sampler

    def sampled(
        self, deliver: Callable[[Any], None], kind: type | None = None
    ) -> Callable[[Any], None]:
        """``deliver`` through the sampler, or ``deliver`` itself when none is installed (the
        feed wraps its sinks with this when it rewires them; ``kind``: a per-type sink's type)."""
        s = self.sampler
        return deliver if s is None else s.wrap(deliver, kind)

    def watch(self, deliver: Callable[[Any], None]) -> Callable[[Any], None]:
        """``deliver`` plus a check, after each event, that the loop has not been held longer
        than ``max_lag`` (probation only: it costs a call and a clock read per event)."""
        limit = self.max_lag_ns / 1e9
        clock = time.monotonic

        def watched(ev: Any) -> None:
            t0 = clock()
            deliver(ev)
            t1 = clock()
            self.watched_events += 1
            self.watched_s += t1 - t0
            if t1 - self.last_tick > limit and not self.catching_up:
                held = int((t1 - self.last_tick) * 1e9)
                self.lag_max_ns = max(self.lag_max_ns, held)
                self._begin()  # rewires now: the rest of this batch is queued
                self._report(held, held)

        return watched

    def end_probation_if_fast(self) -> None:
        """Callbacks run unwatched from now on if the watched ones were fast (rewires)."""
        if (
            self.probation
            and self.watched_events >= self.PROBATION_EVENTS
            and self.watched_s < self.watched_events * self.FAST_CALLBACK_S
        ):
            self.probation = False
            if not self.catching_up:
                self._rewire()

    # --- catch-up delivery (only while catching up) ------------------------------------------
    def enqueue(self, ev: Any) -> None:
        """Queue ``ev`` for the catch-up task; a book update or BBO replaces a pending one of
        its symbol while delivery is behind."""
        key: Any
        if self.behind and type(ev) in self._CONFLATED:
            key = (type(ev), ev.symbol)
            if key in self.pending:
                self.pending[key] = ev  # keeps its place in the order
                self.conflated += 1
                return
        else:
            self.serial += 1
            key = self.serial
        self.pending[key] = ev
        self.order.append(key)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        deliver = self._deliver
        half = self.max_lag_ns // 2
        order, pending = self.order, self.pending
        while True:
            if not order:
                self._wake = loop.create_future()
                await self._wake
                self._wake = None
                continue
            deadline = loop.time() + self.budget
            while order:
                ev = pending.pop(order.popleft())
                if self.sampler is not None:
                    self.sampler.note(ev)
                try:
                    deliver(ev)
                except BaseException as exc:  # KeyboardInterrupt, SystemExit: stop the feed
                    self._interrupted(exc)
                    raise
                lag = time_ns() - ev.receive_ts
                self._window_lag = max(self._window_lag, lag)
                if (lag > half) != self.behind:
                    self._set_behind(lag > half)
                if loop.time() >= deadline:
                    break
            await asyncio.sleep(0)  # let the loop run: sockets, timers, other tasks

    def _set_behind(self, behind: bool) -> None:
        """Start or stop conflating; on start, the queue already waiting is conflated too."""
        self.behind = behind
        if not behind:
            return
        newest: dict[Any, Any] = {}
        keys: deque[Any] = deque()
        for queued in reversed(self.order):  # newest first: keep it, drop older ones of its kind
            ev = self.pending[queued]
            key = queued
            if type(ev) in self._CONFLATED:
                key = (type(ev), ev.symbol)
                if key in newest:
                    self.conflated += 1
                    continue
            newest[key] = ev
            keys.appendleft(key)
        self.pending.clear()
        self.pending.update(newest)
        self.order.clear()
        self.order.extend(keys)

    # --- measuring ----------------------------------------------------------------------------
    def _head_lag(self) -> int:
        """Age of the oldest pending event (int ns), 0 when none."""
        if not self.order:
            return 0
        return time_ns() - int(self.pending[self.order[0]].receive_ts)

    async def _monitor(self) -> None:
        loop = asyncio.get_running_loop()
        half = self.max_lag_ns // 2
        window_end = loop.time() + 1.0
        win_lag = win_delay = 0
        last_report = -self.REPORT_EVERY
        calm_since: float | None = None
        while True:
            before = loop.time()
            self.last_tick = time.monotonic()
            await asyncio.sleep(self.period)
            now = loop.time()
            self.last_tick = time.monotonic()
            delay = max(0, int((now - before - self.period) * 1e9))
            head = self._head_lag()
            if head > half and not self.behind:
                self._set_behind(True)  # even while one callback takes longer than that
            lag = max(delay, self._window_lag, head)
            self._window_lag = 0
            win_lag, win_delay = max(win_lag, lag), max(win_delay, delay)
            self.lag_max_ns = max(self.lag_max_ns, lag)
            if now >= window_end:
                self.lag_ns, self.loop_delay_ns = win_lag, win_delay
                win_lag = win_delay = 0
                window_end = now + 1.0
            if lag < half:
                self.end_probation_if_fast()
            if lag > self.max_lag_ns:
                calm_since = None
                if not self.catching_up:
                    self._begin()
                if now - last_report >= self.REPORT_EVERY:
                    last_report = now
                    self._report(lag, delay)
            elif self.catching_up:
                if self.order or lag >= half:
                    calm_since = None
                elif calm_since is None:
                    calm_since = now
                elif now - calm_since >= self.CALM_FOR:
                    calm_since = None
                    self._end()

    def _begin(self) -> None:
        self.catching_up = True
        self.catchups += 1
        if not any(t.get_name() == "tickwire catch-up" and not t.done() for t in self._tasks):
            task = asyncio.get_running_loop().create_task(self._drain(), name="tickwire catch-up")
            self._tasks.append(task)
        self._rewire()

    def _end(self) -> None:
        self.catching_up = False
        self.behind = False
        self.probation = True  # watched again until seen fast
        self.watched_events = 0
        self.watched_s = 0.0
        log.info("%s: callbacks caught up; delivering directly again", self.exchange)
        self._rewire()

    def _report(self, lag: int, delay: int) -> None:
        self.reports += 1
        log.warning(
            "%s: callbacks lag %.3f s behind the socket (event loop delay %.3f s, %d pending, "
            "%d book/BBO updates conflated so far); callbacks now run from a catch-up queue",
            self.exchange,
            lag / 1e9,
            delay / 1e9,
            len(self.order),
            self.conflated,
        )
        ev = Lagging(
            self.exchange,
            lag,
            delay,
            len(self.order),
            self.conflated,
            self._queue_dropped(),
            time_ns(),
        )
        if self.catching_up:
            self.enqueue(ev)
        else:
            self._deliver(ev)
