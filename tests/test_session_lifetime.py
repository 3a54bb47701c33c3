"""A closed connection session is freed by reference counting alone.

Each session (reconnect, rotation) has its own Rust decoder with its own books: a Coinbase
``level2`` snapshot leaves the full book (~30 k levels) there. If a closed session only goes
away in a reference cycle, that memory waits for a full cycle collection, which nothing
allocated on the Rust side triggers: the soak job (``python -m tickwire.bench.soak``) saw
the feed's RSS climb by a book's worth per reconnect. Here the cycle collector is off while
the simulator drops the connection a few times; every session but the live one must be gone.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from tickwire.connection import ConnectionOptions
from tickwire.connection.session import Session
from tickwire.events import Connected, Resynced
from tickwire.feed import Feed
from tickwire.simulator import CloseAfter, Simulator, packaged_recording

pytestmark = pytest.mark.e2e  # the simulator over loopback

RECONNECTS = 3


def _sessions() -> list[Session]:
    """Every Session object alive (with the cycle collector off, garbage in cycles too)."""
    return [o for o in gc.get_objects() if type(o) is Session]


async def _reconnect_a_few_times(market: str, symbol: str) -> tuple[list[Any], int]:
    sim = Simulator(market, recording=packaged_recording(market), speed=20)
    await sim.start()
    events: list[Any] = []
    resynced = asyncio.Event()

    def on_event(ev: Any) -> None:
        events.append(ev)
        if isinstance(ev, Resynced):
            resynced.set()

    feed = Feed(
        market,
        [symbol],
        ["book", "trades"],
        base_url=sim.rest_url,
        validate_symbols=False,
        connection_options=ConnectionOptions(backoff_base=0.01, first_delta_wait=0.1),
        on_event=on_event,
    )
    seen: weakref.WeakSet[Session] = weakref.WeakSet()
    try:
        await feed.start()
        for _ in range(RECONNECTS):
            seen.update(_sessions())
            resynced.clear()
            sim.inject(CloseAfter(5, abort=True))
            await asyncio.wait_for(resynced.wait(), 30)  # reconnected, book loaded again
        await asyncio.sleep(0.2)  # the last close's callbacks run
        alive = len(seen)
    finally:
        await feed.close()
        await sim.stop()
    return events, alive


# Coinbase: the book comes again on the socket; KuCoin and OKX: a REST snapshot task and a
# client keepalive task per session (a cancelled task's error keeps its frame, and the session).
@pytest.mark.parametrize(
    ("market", "symbol"), [("coinbase", "BTC/USD"), ("kucoin", "BCHSV/USDT"), ("okx", "BTC/USDT")]
)
def test_closed_sessions_are_freed_without_the_cycle_collector(market: str, symbol: str) -> None:
    gc.collect()
    gc.disable()
    try:
        events, alive = asyncio.run(_reconnect_a_few_times(market, symbol))
    finally:
        gc.enable()
    assert sum(isinstance(e, Connected) for e in events) == RECONNECTS + 1
    # Of the sessions seen before each drop, only the one serving now may be left.
    assert alive <= 1, f"{alive} sessions kept alive (closed ones wait for the cycle collector)"
