"""The replay clock one market's connections share, and its fan-out to them.

``position`` is the number of recording lines already published. Every connection receives,
when a line is published, that line's frame if it is subscribed to its stream: a connection
that subscribes later starts at the current position, as on a live exchange.

Pace: ``speed`` 1.0 follows the recorded receive timestamps; N follows them N times faster;
``math.inf`` ("max") publishes as fast as the slowest subscribed connection drains (TCP
backpressure), and only while some connection is subscribed, so nothing is replayed to nobody.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
from collections.abc import Callable, Iterable
from typing import Protocol

from .recording import Recording

FAST_BATCH = 2048  # lines per publish step in max-speed mode
# At a recorded pace, lines due within this many seconds are published together: the loop
# then sleeps at least this long between steps instead of waking (and spinning on timers
# shorter than the event loop's resolution) once per line (measured: 554k wake-ups for the
# demo's 88k lines, 7 s of its 11 s of CPU, before).
TICK_S = 0.001

log = logging.getLogger("tickwire.simulator")


def parse_speed(speed: float | str | None) -> float:
    """Replay pace as a factor of the recorded pace: ``math.inf`` for ``None``, ``"max"``,
    ``"fast"`` or ``"inf"``; else ``speed`` as a number, which must be > 0 (``math.inf``
    included). Raises ``ValueError`` naming the value and what is allowed."""
    if speed is None or (isinstance(speed, str) and speed.strip().lower() in _MAX_SPEEDS):
        return math.inf
    try:
        value = float(speed)
    except (TypeError, ValueError):
        value = math.nan
    if not value > 0:  # also rejects NaN
        raise ValueError(f"speed must be a number > 0 (1 = recorded pace) or 'max', got {speed!r}")
    return value


_MAX_SPEEDS = ("max", "fast", "inf")


class Subscriber(Protocol):
    """What the clock publishes to: a server-side connection."""

    def publish(self, start: int, end: int) -> None:
        """Send the subscriber's frames of recording lines [start, end)."""

    def has_subscriptions(self) -> bool:
        """True while the subscriber is open and subscribed to something."""

    async def drain(self) -> None:
        """Wait while the subscriber's write buffer is full."""


class ReplayClock:
    """Publishes recording lines to subscribers on one clock. See module docstring.

    ``speed``: see :func:`parse_speed` (a parsed float; ``math.inf`` = as fast as read).
    ``stops``: recording lines the clock never publishes past in one step (snapshot points).
    Raises ``ValueError`` for a speed that is not > 0.
    """

    def __init__(self, rec: Recording, speed: float, stops: Iterable[int] = ()):
        speed = parse_speed(speed)
        self.rec = rec
        self.speed = speed
        self.position = 0
        self.subscribers: set[Subscriber] = set()
        self.stops = sorted({s for s in stops if 0 < s < len(rec)})  # snapshot points
        self.on_finished: Callable[[], None] | None = None
        self._started = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._wake = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._task: asyncio.Task[None] | None = None
        self._paused_at: float | None = None
        self._rel = [t - rec.ts[0] for t in rec.ts] if len(rec) else []
        self._t0 = 0.0
        self.hold: int | None = None  # publish nothing at or beyond this position
        self.finished = asyncio.Event()

    @property
    def fast(self) -> bool:
        """True in max-speed mode (publish as fast as the subscribers read)."""
        return math.isinf(self.speed)

    @property
    def started(self) -> bool:
        """True once :meth:`start` ran (until :meth:`rewind`)."""
        return self._started.is_set()

    def start(self) -> None:
        """Start the clock (idempotent). Recorded time 0 = the first line's timestamp."""
        if not self._started.is_set():
            self._t0 = asyncio.get_running_loop().time()
            self._started.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def pause(self) -> None:
        """Stop publishing until :meth:`resume`; recorded-pace time does not run meanwhile."""
        if self._running.is_set():
            self._running.clear()
            self._paused_at = asyncio.get_running_loop().time()

    def hold_at(self, n: int) -> None:
        """Publish up to line ``n`` (exclusive) and wait there until :meth:`resume`."""
        self.hold = n
        self.poke()

    def resume(self) -> None:
        """Undo :meth:`pause` and :meth:`hold_at`."""
        if self.hold is not None:
            self.hold = None
            self.poke()
        if not self._running.is_set():
            if self._paused_at is not None:
                self._t0 += asyncio.get_running_loop().time() - self._paused_at
            self._paused_at = None
            self._running.set()

    def poke(self) -> None:
        """Wake the loop (a connection subscribed or its buffer drained)."""
        self._wake.set()

    async def wait_position(self, n: int) -> int:
        """Wait until at least ``min(n, len(recording))`` lines are published; returns position.

        Returns at once if the replay already got there. The value is the position at the
        moment of release, before later lines were published.
        """
        n = min(n, len(self.rec))
        if self.position >= n:
            return self.position
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((n, fut))
        return await fut

    async def stop(self) -> None:
        """Stop publishing (the position stays); the clock can be started again."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception:  # a crash of the clock must not stop the shutdown, only be seen
                log.exception("replay clock failed")
            self._task = None

    async def rewind(self) -> None:
        """Back to position 0, clock stopped (it starts again like at first)."""
        await self.stop()
        self.position = 0
        self._started.clear()
        self.finished.clear()

    # ---- loop -------------------------------------------------------------------------------
    async def _run(self) -> None:
        n = len(self.rec)
        while self.position < n:
            target = await self._next_target(n)
            if target is None:
                continue  # waited for something; look again
            if self.hold is not None:
                target = min(target, self.hold)
            k = bisect.bisect_right(self.stops, self.position)
            if k < len(self.stops):  # never jump over a snapshot point in one step
                target = min(target, self.stops[k])
            self._publish(target)
            if self.fast:
                for s in list(self.subscribers):
                    await s.drain()
                await asyncio.sleep(0)  # let acks, REST and pings run between batches
        self.finished.set()
        if self.on_finished is not None:
            self.on_finished()

    async def _next_target(self, n: int) -> int | None:
        """The position to publish up to now, or None after waiting (paused, held, nobody
        subscribed in max-speed mode, or the next line is not due yet)."""
        if not self._running.is_set():
            await self._running.wait()
            return None
        if self.hold is not None and self.position >= self.hold:
            await self._sleep_until_poked(None)
            return None
        if self.fast:
            if not any(s.has_subscriptions() for s in self.subscribers):
                await self._sleep_until_poked(None)
                return None
            return min(self.position + FAST_BATCH, n)
        loop = asyncio.get_running_loop()
        elapsed_ns = (loop.time() - self._t0 + TICK_S) * self.speed * 1e9
        target = bisect.bisect_right(self._rel, elapsed_ns, lo=self.position)
        if target > self.position:
            return target
        due = self._t0 + self._rel[self.position] / self.speed / 1e9
        await self._sleep_until_poked(max(TICK_S, due - TICK_S - loop.time()))
        return None

    async def _sleep_until_poked(self, timeout: float | None) -> None:
        """Wait for :meth:`poke` (or ``timeout`` seconds, None: no limit). A timer handle sets
        the event: no task per wait (``asyncio.wait_for`` made one per recorded line)."""
        wake = self._wake
        wake.clear()
        if timeout is None:
            await wake.wait()
            return
        timer = asyncio.get_running_loop().call_later(timeout, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancel()

    def _publish(self, target: int) -> None:
        start = self.position
        for s in list(self.subscribers):
            s.publish(start, target)
        self.position = target
        if self._waiters:
            keep = []
            for want, fut in self._waiters:
                if target >= want:
                    if not fut.done():
                        fut.set_result(target)
                else:
                    keep.append((want, fut))
            self._waiters = keep
