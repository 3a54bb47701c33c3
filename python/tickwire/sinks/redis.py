"""Publish tickwire events to Redis Streams (the bus: see :mod:`tickwire.bus` for the layout and
the reader), with redis-py's asyncio client.

    async with RedisSink("redis://127.0.0.1:6379/0") as bus:
        async with tw.Feed("binance", ["ETH/USDT"], ["trades", "bbo"], on_event=bus.write):
            ...

``write`` only appends to a bounded buffer (the feed's frame callback never waits on Redis); a
background task sends the buffer in pipelined batches of ``XADD <stream> MAXLEN ~ <maxlen> * e
<entry>``. While Redis is unreachable the buffer keeps up to ``max_buffered`` events and then
drops the oldest, counted in ``stats()["dropped"]`` and logged (a bus is for live consumers; the
PostgreSQL sink is the one that keeps every row).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from ..bus import encode_event
from ..redact import redact_url

__all__ = ["RedisSink"]

log = logging.getLogger("tickwire.sinks.redis")


class RedisSink:
    """An event publisher to Redis Streams (an async context manager).

    ``url``: ``redis://[user:password@]host:port/db`` (shown redacted). ``prefix``: the first
    part of every stream name (default ``"tw"``). ``maxlen``: each stream is trimmed to about
    this many entries (``MAXLEN ~``: Redis trims whole nodes, so a few more may stay).
    ``batch_size``: most events per pipelined round trip; ``flush_interval``: seconds an event
    may wait for a batch to fill. ``max_buffered``: events kept while Redis is slow or down
    (the oldest are dropped past it, counted). ``retry_delay``: seconds between attempts while
    Redis is down. Raises ``ValueError`` naming a bad number; Redis errors are logged and
    retried, never raised from :meth:`write`."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tw",
        maxlen: int = 100_000,
        batch_size: int = 512,
        flush_interval: float = 0.005,
        max_buffered: int = 1_000_000,
        retry_delay: float = 0.5,
    ) -> None:
        for name, value in (
            ("maxlen", maxlen),
            ("batch_size", batch_size),
            ("max_buffered", max_buffered),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if flush_interval < 0 or retry_delay <= 0:
            raise ValueError(
                f"flush_interval must be >= 0 and retry_delay > 0, got {flush_interval}, {retry_delay}"
            )
        self.url, self.prefix, self.maxlen = url, prefix, maxlen
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.max_buffered, self.retry_delay = max_buffered, retry_delay
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None
        self._closing = False
        self._counts = {
            "published": 0,
            "batches": 0,
            "dropped": 0,
            "skipped": 0,
            "errors": 0,
        }
        self._last_batch_s = 0.0

    def __repr__(self) -> str:
        return f"RedisSink({redact_url(self.url)}, prefix={self.prefix!r}, backlog={len(self._buffer)})"

    async def __aenter__(self) -> RedisSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect (lazily: a Redis that is down now is retried in the background) and start
        the sender task."""
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self.url)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tickwire-redis-sink")

    def write(self, event: object) -> None:
        """Queue ``event`` for its stream (a callback for ``Feed(on_event=...)``; kinds the bus
        does not carry, e.g. ``BookUpdate`` and health events, are skipped and counted).
        Never blocks and never raises for Redis trouble."""
        item = encode_event(event, self.prefix)
        if item is None:
            self._counts["skipped"] += 1
            return
        buf = self._buffer
        if len(buf) >= self.max_buffered:
            buf.popleft()
            self._counts["dropped"] += 1
            if self._counts["dropped"] == 1 or self._counts["dropped"] % 10_000 == 0:
                log.warning("redis sink: buffer full, %d events dropped", self._counts["dropped"])
        buf.append(item)
        if len(buf) >= self.batch_size:
            self._wake.set()

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued event was sent; ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self._buffer:
            self._wake.set()
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis sink: {len(self._buffer)} events still queued")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Send what is queued (within 10 s while Redis answers), stop, close the client."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await self.flush()
        self._closing = True
        self._wake.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._redis.aclose()

    def stats(self) -> dict[str, float]:
        """``published`` (entries added), ``batches``, ``backlog`` (queued now), ``dropped``
        (oldest dropped past ``max_buffered``), ``skipped`` (kinds not carried), ``errors``
        (failed batches, retried) and ``last_batch_s`` (seconds the last batch took)."""
        return {**self._counts, "backlog": len(self._buffer), "last_batch_s": self._last_batch_s}

    async def _run(self) -> None:
        while not self._closing:
            if len(self._buffer) < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval or None)
            self._wake.clear()
            while self._buffer:
                n = min(len(self._buffer), self.batch_size)
                batch = [self._buffer[i] for i in range(n)]
                t0 = time.perf_counter()
                try:
                    pipe = self._redis.pipeline(transaction=False)
                    for stream, entry in batch:
                        pipe.xadd(stream, {"e": entry}, maxlen=self.maxlen, approximate=True)
                    await pipe.execute()
                except Exception as exc:  # noqa: BLE001 - any Redis failure: keep, retry later
                    self._counts["errors"] += 1
                    log.warning(
                        "redis sink %s: %s: %s; retry in %.1f s",
                        redact_url(self.url),
                        type(exc).__name__,
                        exc,
                        self.retry_delay,
                    )
                    await asyncio.sleep(self.retry_delay)
                    break
                for _ in range(n):  # sent: only now leave the buffer (a failure keeps them)
                    self._buffer.popleft()
                self._counts["published"] += n
                self._counts["batches"] += 1
                self._last_batch_s = time.perf_counter() - t0
