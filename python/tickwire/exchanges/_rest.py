"""Small helpers shared by the venues' public REST hooks (REST fallback and candle backfill):
reading a JSON body into :class:`RestQuote` / :class:`RestCandle` with one error type.

Every function raises ``tickwire.ExchangeError`` naming the venue and what was read when the
body is not what the venue documents; the adapters' hooks add the venue's own envelope checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..exceptions import ExchangeError
from . import RestCandle

__all__ = ["candles_of", "loads", "ms_ns"]


def loads(body: bytes, venue: str, what: str) -> Any:
    """``body`` as JSON; ``ExchangeError`` ("<venue> <what>: unreadable body") if it is not."""
    try:
        return json.loads(body)
    except ValueError:
        raise ExchangeError(f"{venue} {what}: unreadable body {body[:200]!r}") from None


def ms_ns(ms: Any) -> int:
    """A ms timestamp (int or decimal string) as int ns since the Unix epoch."""
    return int(ms) * 1_000_000


def candles_of(
    rows: Iterable[Any],
    row: Callable[[Any], Sequence[Any]],
    interval: str,
    venue: str,
    *,
    newest_first: bool,
    closed: Callable[[Any], bool | None] | None = None,
    scale_ns: int = 1_000_000,
) -> list[RestCandle]:
    """Candles oldest first from ``rows``: ``row(r)`` gives ``(start, open, high, low, close,
    volume)`` with ``start`` in units of ``scale_ns`` ns (ms by default) and decimal strings or
    numbers. ``closed(r)`` says whether a row is final where the venue says it; without it every
    row but the newest is closed and the newest one's ``closed`` is None (the venues list the
    candle still open last). ``ExchangeError`` for a row that does not read."""
    try:
        out = [
            RestCandle(
                interval,
                int(t) * scale_ns,
                float(o),
                float(h),
                float(lo),
                float(c),
                float(v),
                closed(r) if closed is not None else True,
            )
            for r in rows
            for t, o, h, lo, c, v in (row(r),)
        ]
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ExchangeError(f"{venue} candles: unreadable row ({exc!r})") from None
    if newest_first:
        out.reverse()
    out.sort(key=lambda k: k.start_ts)
    if out and closed is None:
        out[-1] = out[-1]._replace(closed=None)
    return out
