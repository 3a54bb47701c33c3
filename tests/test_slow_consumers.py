"""Callbacks that interrupt or cannot keep up, against the simulator over loopback.

- A callback raising KeyboardInterrupt or SystemExit stops the feed at once: sockets closed,
  the exception out of ``run`` (``tw.run`` / ``asyncio.run``) within moments; the first SIGINT
  stops a ``tw.run`` bot even while its callback is slow.
- A sync callback slower than the stream: the feed reports the lag (``Lagging``, ``stats()``),
  keeps the event loop running (timers, ``start()``), conflates book/BBO updates and never
  loses a trade; the lag stays bounded. Lag is also measured here independently: how far the
  simulator's replay had got when each trade's callback ran.
- The ``async for`` queue warns at half its bound and counts what it drops.

The simulator runs in its own thread (``ThreadedSimulator``) where the test blocks the feed's
event loop, so the replay keeps its pace whatever the feed does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import tickwire._core as core
from conftest import recorded_ids
from tickwire.events import Lagging
from tickwire.feed import Feed
from tickwire.simulator import Simulator, ThreadedSimulator, packaged_recording

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_interrupt_in_a_callback_stops_the_feed_at_once(run, exc):
    state: dict = {"bbos": 0, "after": 0}

    with ThreadedSimulator("binance", speed="max") as sim:

        def on_bbo(_ev):
            state["bbos"] += 1
            if state["bbos"] == 2000:
                state["raised_at"] = time.monotonic()
                raise exc("stop" if exc is KeyboardInterrupt else 3)
            if "raised_at" in state:
                state["after"] += 1

        async def main():
            feed = Feed(
                "binance", "ETH/USDT", ["book", "trades", "bbo"], base_url=sim.rest_url,
                on_bbo=on_bbo,
            )  # fmt: skip
            state["feed"] = feed
            async with feed:
                await asyncio.sleep(20)  # the interrupt must end this long before

        with pytest.raises(exc):
            run(main())
        stopped = time.monotonic() - state["raised_at"]
        feed = state["feed"]
        deadline = time.monotonic() + 5
        while sim.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        server_side = len(sim.connections)
    assert stopped < 3, stopped
    assert not feed.connected
    assert server_side == 0  # the simulator saw the socket close


SIGINT_BOT = textwrap.dedent(
    """
    import asyncio, sys, time
    import tickwire as tw
    from tickwire.simulator import ThreadedSimulator

    def slow(ev):
        time.sleep(0.005)  # a 5 ms callback: the replay at 10x outpaces it

    async def main(url):
        async with tw.Feed("binance", "ETH/USDT", ["book", "trades", "bbo"], base_url=url,
                           on_book=slow, on_trade=slow, on_bbo=slow, start_timeout=60):
            print("started", flush=True)
            await asyncio.sleep(120)

    with ThreadedSimulator("binance", speed=10) as sim:
        try:
            tw.run(main(sim.rest_url))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(7)
    """
)


def test_first_sigint_stops_a_bot_with_a_slow_callback():
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_BOT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        time.sleep(2.0)  # the slow callback is well behind by now
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 7 and "interrupted" in rest
    assert took < 5, took


def test_slow_callback_lags_boundedly_is_reported_and_loses_no_trade(run):
    speed, max_lag = 5, 0.5
    rec = packaged_recording("binance")
    line_of_trade = {
        json.loads(raw)["data"]["t"]: i
        for i, raw in enumerate(rec.lines)
        if json.loads(raw)["stream"].endswith("@trade")
    }
    trades: list[int] = []
    lag_s: list[tuple[float, float]] = []  # (when, seconds the replay was ahead of this trade)
    health: list[object] = []
    loop_late: list[tuple[float, float]] = []

    with ThreadedSimulator("binance", speed=speed) as sim:

        def slow(_ev):
            time.sleep(0.005)

        def on_trade(ev):
            published = sim.position  # lines the simulator has sent so far
            behind = rec.ts[max(published - 1, 0)] - rec.ts[line_of_trade[ev.trade_id]]
            lag_s.append((time.monotonic(), behind / speed / 1e9))
            trades.append(ev.trade_id)
            slow(ev)

        def on_event(ev):
            if isinstance(ev, Lagging):
                health.append(ev)

        async def probe():  # a timer of the bot's own: it must keep running
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.05)
                loop_late.append((time.monotonic(), time.monotonic() - t - 0.05))

        async def main():
            feed = Feed(
                "binance", "ETH/USDT", ["book", "trades", "bbo"], base_url=sim.rest_url,
                on_book=slow, on_bbo=slow, on_trade=on_trade, on_event=on_event,
                max_lag=max_lag, start_timeout=30,
            )  # fmt: skip
            probing = asyncio.get_running_loop().create_task(probe())
            t0 = time.monotonic()
            async with feed:
                started = time.monotonic() - t0
                await asyncio.sleep(14)
                stats = feed.stats()
            probing.cancel()
            return started, stats

        started, stats = run(main())

    assert started < 20  # start() returned although every callback is slow
    # reported: a Lagging event, the stats
    assert health and health[0].lag_ns > max_lag * 1e9
    assert stats["lag_max_ns"] > max_lag * 1e9 and stats["catchups"] >= 1
    assert stats["conflated"] > 0
    # no trade lost: every trade delivered, in order, from the first one on
    all_trades = recorded_ids("binance")[0]
    assert len(trades) > 500
    assert trades == all_trades[: len(trades)]
    # bounded: over the last 5 s, trades ran less than 3 s behind the replay (5 ms per event
    # for every event would be ~2 s more behind every second), and timers ran on time
    end = lag_s[-1][0]
    late = [s for t, s in lag_s if t > end - 5]
    assert late and max(late) < 3.0, max(late)
    loop_end = loop_late[-1][0]
    assert max(d for t, d in loop_late if t > loop_end - 5) < 0.5


def test_async_for_queue_warns_at_half_its_bound_and_counts_drops(run, caplog):
    bound = 400

    async def main():
        async with Simulator("binance", speed="max") as sim:
            feed = Feed(
                "binance", "ETH/USDT", ["trades", "bbo"], base_url=sim.rest_url,
                queue_size=bound,
            )  # fmt: skip
            got: list[object] = []
            async with feed:
                async for ev in feed:
                    got.append(ev)
                    await asyncio.sleep(0.001)  # a consumer slower than the replay
                    warned = any(isinstance(e, Lagging) for e in got)
                    if warned and feed.stats()["queue_dropped"] > 1000:
                        break
                stats = feed.stats()
            return got, stats

    with caplog.at_level(logging.WARNING, logger="tickwire.feed"):
        got, stats = run(asyncio.wait_for(main(), 60))
    messages = [r.getMessage() for r in caplog.records if r.name == "tickwire.feed"]
    half = [i for i, m in enumerate(messages) if "half full" in m]
    full = [i for i, m in enumerate(messages) if "queue full" in m]
    assert half and full and half[0] < full[0], messages
    lagging = [e for e in got if isinstance(e, Lagging)]
    assert lagging and lagging[0].pending >= bound // 2
    assert stats["queue_dropped"] > 1000
    # drop-oldest: what arrives is still in order
    trade_ids = [e.trade_id for e in got if isinstance(e, core.Trade)]
    assert trade_ids == sorted(trade_ids) and len(set(trade_ids)) == len(trade_ids)


def test_fast_callbacks_run_unwatched_once_started(run):
    # The per-event watch of a new feed's callbacks must be gone once they proved fast: the
    # connection hands each event straight to the user's function, as before this policy.
    def on_trade(_ev):
        pass

    async def main():
        async with Simulator("binance", speed="max") as sim:
            feed = Feed("binance", "ETH/USDT", ["trades"], base_url=sim.rest_url, on_trade=on_trade)
            async with feed:
                await asyncio.sleep(0.3)
                return feed._fast[core.Trade], feed.stats()

    direct, stats = run(main())
    assert direct is on_trade
    assert stats["catchups"] == 0 and stats["lag_reports"] == 0
