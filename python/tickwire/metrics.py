"""Counters and a cheap latency recorder for feeds and connections.

Everything here is plain Python and allocation-free on the hot path (a counter bump, one array
store). Durations are int nanoseconds unless a name says otherwise.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["Counters", "Histogram", "LatencyRecorder", "RateMeter"]


@dataclass(slots=True)
class Counters:
    """Health counters of one logical connection (summed by ``Feed.stats()``).

    frames: frames handed to the decoder (filled in by ``Connection.stats()`` from the decoders'
    own counts, so the hot path does no counting); bad_frames: ``FrameError``s (skipped);
    pings/pongs: server pings answered with pongs; keepalives: client text pings sent on the
    adapter's timer; control_sent: client messages sent (subscribes, pongs and keepalives, i.e.
    what the exchange rate-limits); gaps: books that lost sync (``SyncLost``: a sequence gap, a
    checksum mismatch or a connection-sequence break); checksum_mismatches: those of them that
    were checksum mismatches; resyncs: books rebuilt from a snapshot after a sync loss or a
    reconnect; snapshots: REST snapshots fetched (retries included); resubscribes: books
    re-requested over the socket (venues that recover by resubscribing);
    connects / reconnects / rotations / stale: connection lifecycle; duplicates: events dropped
    because an equal-or-older copy was already delivered (reconnect or rotation overlap);
    control_errors: error replies to our requests; notices: exchange notices about the
    connection (e.g. a shutdown announcement, which starts a rotation); trades_filled: trades
    published while disconnected, fetched over REST and delivered late (in order) after the
    reconnect; trades_missed: those that could not be, reported as ``TradesMissed``;
    trade_gaps: time ranges reported as ``TradesMissed`` (venues without consecutive trade
    ids: trades that may be missing, not counted one by one); rest_polls / rest_events /
    rest_backoffs: the REST fallback's requests sent, events it delivered (BBO, trades, book
    updates) and pauses after a 418/429 refusal.
    """

    frames: int = 0
    bad_frames: int = 0
    pings: int = 0
    keepalives: int = 0
    control_sent: int = 0
    gaps: int = 0
    checksum_mismatches: int = 0
    resyncs: int = 0
    snapshots: int = 0
    resubscribes: int = 0
    connects: int = 0
    reconnects: int = 0
    rotations: int = 0
    stale: int = 0
    duplicates: int = 0
    control_errors: int = 0
    notices: int = 0
    trades_filled: int = 0
    trades_missed: int = 0
    trade_gaps: int = 0
    rest_polls: int = 0
    rest_events: int = 0
    rest_backoffs: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)


class LatencyRecorder:
    """Keeps the last ``size`` samples (int ns) in a ring; percentiles on demand.

    ``add(ns)`` is O(1); ``percentile(p)`` sorts a copy (call it a few times per second at most).
    """

    __slots__ = ("_buf", "_n", "_size")

    def __init__(self, size: int = 65536) -> None:
        self._buf = array("q", bytes(8 * size))
        self._size = size
        self._n = 0

    def add(self, ns: int) -> None:
        """Record one sample (int ns)."""
        self._buf[self._n % self._size] = ns
        self._n += 1

    @property
    def count(self) -> int:
        """Samples recorded since creation (not only those still in the ring)."""
        return self._n

    def percentile(self, p: float) -> int | None:
        """P in [0, 100]; None when empty. Nearest-rank over the samples in the ring."""
        k = min(self._n, self._size)
        if k == 0:
            return None
        data = sorted(self._buf[:k])
        idx = min(k - 1, max(0, round(p / 100.0 * (k - 1))))
        return data[idx]


class RateMeter:
    """Events per second over a sliding window of about ``window_s`` seconds."""

    __slots__ = ("_marks", "_window")

    def __init__(self, window_s: float = 1.0) -> None:
        self._window = window_s
        self._marks: list[tuple[float, int]] = []

    def rate(self, total: int) -> float:
        """Feed the current running total; returns the rate over the window."""
        now = time.monotonic()
        self._marks.append((now, total))
        while len(self._marks) > 2 and now - self._marks[1][0] >= self._window:
            self._marks.pop(0)
        t0, n0 = self._marks[0]
        dt = now - t0
        return (total - n0) / dt if dt > 0 else 0.0


class Histogram:
    """Counts of int ns samples in fixed buckets (Prometheus' cumulative ``le`` buckets on read).

    ``bounds_ns``: the upper bounds (inclusive, int ns, sorted here); a sample above the last
    one lands in the ``+Inf`` bucket. ``add`` is one bisect and three increments: cheap enough
    for a sampled path, not meant for every event.
    """

    __slots__ = ("_counts", "bounds_ns", "count", "sum_ns")

    def __init__(self, bounds_ns: Sequence[int]) -> None:
        if not bounds_ns:
            raise ValueError("a Histogram needs at least one bucket bound")
        self.bounds_ns = tuple(sorted(int(b) for b in bounds_ns))
        self._counts = [0] * (len(self.bounds_ns) + 1)
        self.count = 0
        self.sum_ns = 0

    def add(self, ns: int) -> None:
        """Record one sample (int ns; negative values, e.g. from clock skew, count as <= the
        first bound)."""
        self._counts[bisect_left(self.bounds_ns, ns)] += 1
        self.count += 1
        self.sum_ns += ns

    def cumulative(self) -> list[tuple[int | None, int]]:
        """``[(bound_ns, samples <= bound), ..., (None, count)]`` (None: ``+Inf``)."""
        out: list[tuple[int | None, int]] = []
        total = 0
        for bound, n in zip((*self.bounds_ns, None), self._counts, strict=True):
            total += n
            out.append((bound, total))
        return out
