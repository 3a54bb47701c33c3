"""Rate limiting of client messages and reconnect backoff."""

from __future__ import annotations

import random
import time
from collections import deque

__all__ = ["RateLimiter", "full_jitter"]


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """Seconds to sleep before retry number ``attempt`` (0-based): uniform(0, min(cap, base*2^attempt))."""
    return random.uniform(0.0, min(cap, base * (2.0 ** min(attempt, 30))))


class RateLimiter:
    """Keeps client messages under an exchange limit of ``per_second`` messages per second.

    It budgets 80 % of the limit over a window of ``window`` + 0.1 s: the exchange counts on
    arrival, and network or event-loop jitter can bunch messages sent evenly (seen against the
    simulator under load). ``reserve()`` books the next free slot and returns how many seconds to
    wait before using it (0.0 = send now). Slots are booked in order, so nobody starves.
    """

    __slots__ = ("_n", "_slots", "_window")

    def __init__(self, per_second: float, window: float = 1.0) -> None:
        self._n = max(1, int(per_second * 0.8))
        self._window = window + 0.1
        self._slots: deque[float] = deque()

    def reserve(self) -> float:
        """Book the next free slot; returns seconds to wait before sending (0.0 = now)."""
        now = time.monotonic()
        slots = self._slots
        while slots and slots[0] <= now - self._window:
            slots.popleft()
        t = now if len(slots) < self._n else max(now, slots[-self._n] + self._window)
        slots.append(t)
        return t - now
