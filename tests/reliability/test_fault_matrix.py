"""The fault matrix: every market with a packaged recording (``tickwire demo``'s) x every fault
below, each run as a feed against the simulator with the fault injected a quarter of the way in.

For each cell: the feed recovers (connected, every book in sync again), its final book equals an
offline replay of the recording, no trade is delivered twice, and on venues that number trades
consecutively every trade not delivered is reported in a ``TradesMissed`` (elsewhere the count
of trades lost is shown in the table: the venue gives no way to see them). The session prints
the table (``conftest.py``): fault x market -> recovery time / trades lost / ``n/a``.

All markets of one fault run at once in one event loop (about ``REPLAY_S`` seconds a fault).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from reliability.harness import (
    MARKETS,
    RESULTS,
    Case,
    Fault,
    Outcome,
    foreign_frame,
    has_checksums,
    has_rest_snapshots,
    run_case,
)
from tickwire.connection import ConnectionOptions
from tickwire.events import BadFrame, Disconnected, GapDetected, Resynced
from tickwire.feed import Feed
from tickwire.simulator import (
    BadChecksum,
    CloseAfter,
    Drop,
    Garbage,
    ServerShutdown,
    Simulator,
    SnapshotFailure,
    Stall,
)


def _close(code: int, abort: bool = False) -> Fault:
    name = "abrupt close (no close frame)" if abort else f"close {code}"
    return Fault(
        name,
        make=lambda c: [CloseAfter(c.fault_at, code=code, abort=abort)],
        expect=(Disconnected,),
    )


def _delta(c: Case) -> list[object] | None:
    return [Drop(line=c.delta_lines[0])] if c.delta_lines else None


def _checksum(c: Case) -> list[object] | None:
    return [BadChecksum(skip=c.fault_at // 4)] if has_checksums(c.sim) else None


def _snapshots(failure: SnapshotFailure) -> Any:
    """Fail the book's REST snapshots after a disconnect mid-way (the resync's)."""

    def make(c: Case) -> list[object] | None:
        return [CloseAfter(c.fault_at, abort=True)] if has_rest_snapshots(c.sim) else None

    def mid(c: Case) -> list[object] | None:
        return [failure] if has_rest_snapshots(c.sim) else None

    return make, mid


def _failures_used(_feed: Feed, sim: Simulator) -> str | None:
    left = len(sim.snapshot_failures)
    return f"{left} snapshot failures never requested" if left else None


def _reconnected_or_rotated(feed: Feed, _sim: Simulator) -> str | None:
    st = feed.stats()
    return None if st["reconnects"] + st["rotations"] else "neither a reconnect nor a rotation"


def _callback_errors(feed: Feed, _sim: Simulator) -> str | None:
    return None if feed.stats()["callback_errors"] > 0 else "no callback error counted"


class _Raises:
    """A book/trade callback that raises on its first call and every 7th after."""

    def __init__(self) -> None:
        self.calls = itertools.count(1)

    def __call__(self, _ev: Any) -> None:
        if next(self.calls) % 7 == 1:
            raise RuntimeError("strategy bug")


class _Slow:
    """A book/trade callback that blocks the loop for 20 ms on every 50th call."""

    def __init__(self) -> None:
        self.calls = itertools.count(1)

    def __call__(self, _ev: Any) -> None:
        if next(self.calls) % 50 == 0:
            time.sleep(0.02)


def _snapshot_fault(name: str, failure: SnapshotFailure, **kw: Any) -> Fault:
    make, mid = _snapshots(failure)
    return Fault(name, make=make, mid=mid, expect=(Disconnected,), check=_failures_used, **kw)


FAULTS = [
    _close(1000),
    _close(1001),
    _close(1011),
    _close(1012),
    _close(1006, abort=True),
    Fault(
        "half-open socket",
        make=lambda c: [Stall(10.0, after=c.fault_at, lose_data=True)],
        expect=(Disconnected,),
        silent=True,
    ),
    Fault("stall, then held frames", make=lambda c: [Stall(0.5, after=c.fault_at)]),
    Fault(
        "garbage frame",
        make=lambda c: [Garbage(after=c.fault_at, payload=b"\x00\xff}{garbage")],
        expect=(BadFrame,),
    ),
    Fault("truncated frame", make=lambda c: [Garbage(after=c.fault_at)], expect=(BadFrame,)),
    Fault(
        "wrong venue's frame",
        make=lambda c: [Garbage(after=c.fault_at, payload=foreign_frame(c.sim.spec))],
        expect=(BadFrame,),
    ),
    Fault("dropped book delta", make=_delta),
    Fault("corrupted checksum", make=_checksum, expect=(GapDetected, Resynced)),
    # a venue that announces maintenance is rotated to a new socket before the old one closes
    Fault(
        "maintenance notice",
        mid=lambda _c: [ServerShutdown(grace=0.3)],
        check=_reconnected_or_rotated,
    ),
    _snapshot_fault("snapshot 503", SnapshotFailure(503, count=2)),
    _snapshot_fault("snapshot 429 Retry-After", SnapshotFailure(429, retry_after=1)),
    _snapshot_fault(
        "snapshot timeout",
        SnapshotFailure(hang=True),
        feed_kwargs=lambda: {"connection_options": ConnectionOptions(snapshot_timeout=1.0)},
    ),
    Fault(
        "callback raises",
        feed_kwargs=lambda: {"on_trade": _Raises(), "on_book": _Raises()},
        check=_callback_errors,
    ),
    Fault("slow callback", feed_kwargs=lambda: {"on_book": _Slow(), "on_trade": _Slow()}),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_recovers_on_every_market(fault: Fault) -> None:
    async def all_markets() -> list[Outcome]:
        return list(await asyncio.gather(*(run_case(m, fault) for m in MARKETS)))

    outcomes = asyncio.run(all_markets())
    RESULTS.extend(outcomes)
    failed = [f"{o.market}: {o.status} (events {o.signs})" for o in outcomes if not o.ok]
    assert not failed, "\n".join(failed)
    applicable = [o for o in outcomes if o.status != "n/a"]
    assert applicable, f"{fault.name} applies to no market"
