"""Shared steps of the per-venue tests (``tests/test_<venue>.py``): driving a :class:`Feed`
through a simulator replay, reading its books, comparing them with a recording's, and the
``tickwire replay --output stats`` call. Nothing here names an exchange."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest

from cli_helpers import run_cli
from tickwire.feed import Feed
from tickwire.simulator import Simulator


async def replay_through_feed(
    sim: Any,
    feed: Any,
    faults: Iterable[object] = (),
    *,
    connections: int = 1,
    subscribed: Callable[[], bool] | None = None,
    settle: float = 0.5,
) -> None:
    """Start ``feed`` against ``sim`` (a :class:`~tickwire.simulator.Simulator` opened with
    ``autostart=False``), wait for ``connections`` connections and for every subscription to
    reach the server (by default: every connection holds at least one subscription; pass
    ``subscribed`` for another rule), inject ``faults``, run the replay to its end, then wait
    ``settle`` seconds (s) for the last frames to reach the feed. Raises ``TimeoutError`` if the
    feed does not start within 30 s or the replay does not end within 60 s."""

    def all_subscribed() -> bool:
        return all(c.subscriptions for c in sim.connections)

    ready = subscribed or all_subscribed
    starting = asyncio.ensure_future(feed.start())
    await sim.wait_connections(connections, timeout=10)
    while not starting.done() and not ready():  # noqa: ASYNC110 - polls state no event announces
        await asyncio.sleep(0.005)
    for f in faults:
        sim.inject(f)
    sim.start_replay()
    await asyncio.wait_for(starting, 30)
    await sim.wait_finished(timeout=60)
    await asyncio.sleep(settle)


async def feed_start_error(
    market: str,
    exchange: str,
    symbols: Sequence[str],
    expected: type[BaseException],
    *,
    match: str | None = None,
    **feed_kwargs: Any,
) -> tuple[Any, int]:
    """Start a Feed of ``exchange``'s ``book`` for ``symbols`` against the simulator market
    ``market`` (``feed_kwargs`` go to the Feed) and assert that start raises ``expected``
    (matching the regex ``match`` if given). Returns the exception and how many connections
    the simulator accepted in all (0: the feed failed before connecting)."""
    async with Simulator(market, speed="max") as sim:
        feed = Feed(exchange, list(symbols), ["book"], base_url=sim.rest_url, **feed_kwargs)
        with pytest.raises(expected, match=match) as info:
            await feed.start()
        await feed.close()
        return info.value, sim.total_connections


def feed_books(feed: Any, symbols: Iterable[str], depth: int = 10_000) -> dict[str, Any]:
    """``{symbol: (bids, asks)}``: the top ``depth`` levels of each of ``feed``'s books, as the
    book's ``bids``/``asks`` return them (price, size rows)."""
    return {s: (feed.book(s).bids(depth), feed.book(s).asks(depth)) for s in symbols}


def assert_levels_equal(got: Sequence[Any], want: Sequence[Sequence[Any]]) -> None:
    """Assert the (price, size) rows ``got`` (a book side) equal ``want`` (decimal strings or
    numbers, as a recording writes them), compared as floats row by row."""
    assert [(float(p), float(s)) for p, s in got] == [(float(p), float(s)) for p, s in want]


def assert_book_equal(got: tuple[Any, Any], want: tuple[Any, Any]) -> None:
    """Assert both sides of ``got`` (bids, asks) equal ``want``'s (see
    :func:`assert_levels_equal`)."""
    assert_levels_equal(got[0], want[0])
    assert_levels_equal(got[1], want[1])


def replay_stats(path: object, exchange: str, *args: str) -> dict[str, Any]:
    """``tickwire replay PATH -x EXCHANGE ARGS... --output stats``: assert it exits 0 (its stderr
    as the message) and return the stats JSON it prints."""
    proc = run_cli("replay", str(path), "-x", exchange, *args, "--output", "stats")
    assert proc.returncode == 0, proc.stderr
    stats: dict[str, Any] = json.loads(proc.stdout)
    return stats
