"""Account events on the hot path: receive -> callback latency of ``Fill`` next to ``Trade``.

One ``tw.Feed`` with the public ``trades`` channel and the private ``fills`` channel of
Binance USD-M ETHUSDT, against the local simulator with a registered account, paced at
about 2,000 messages per second. Before the replay starts, resting limit orders are placed on
a grid of prices inside the recording's traded range (``ORDERS_PER_LEVEL`` small orders per
0.1 step), so the recorded trades fill them as they cross: the simulator pushes each fill
(``ORDER_TRADE_UPDATE``) on the private socket right after the trade that caused it.

Latency is ``time.time_ns() - event.receive_ts`` inside the callback, as in
:mod:`tickwire.bench.e2e`: from the frame leaving picows to the user's code (decode, the
private connection's de-duplication, delivery), in microseconds. The client and the simulator
share one event loop here; a frame's callback runs without yielding, so the server's work does
not fall between a frame's receipt and its callback. Target (issue 12): Fill p99 within 2x of
Trade p99.

Run: ``python -m tickwire.bench.account [RUNS]`` (RUNS replays pooled, default 1).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

TARGET_RATIO = 2.0
ORDERS_PER_LEVEL = 5
STEP = Decimal("0.1")


async def measure(speed: float = 10.0) -> tuple[list[int], list[int]]:
    """(Trade latencies, Fill latencies), ns, every event of one replay ``speed`` times the
    recorded pace (10: ~2,000 msg/s, about 20 s)."""
    import tickwire as tw
    from tickwire.simulator import SimAccount, Simulator

    key, secret = "benchKey0000000001", "benchSecret0000000001"
    acct = SimAccount(api_key=key, secret=secret, balances={"USDT": "100000", "ETH": "100"})
    trades: list[int] = []
    fills: list[int] = []
    now = time.time_ns

    def on_trade(ev: Any) -> None:
        trades.append(now() - ev.receive_ts)

    def on_fill(ev: Any) -> None:
        fills.append(now() - ev.receive_ts)

    async with Simulator("binanceusdm", speed=speed, accounts=[acct], autostart=False) as sim:
        recorded = [t for _, t in sim.venue.recorded_trades()]
        feed = tw.Feed(
            "binanceusdm",
            "ETH/USDT:USDT",
            ["trades", "fills"],
            credentials=tw.Credentials(api_key=key, secret=secret),
            base_url=sim.rest_url,
            options={"account_symbols": ["ETH/USDT:USDT"]},
            on_trade=on_trade,
            on_fill=on_fill,
            validate_symbols=False,
        )
        async with feed:
            eng = sim.accounts.engine()
            first = recorded[0].price
            lo = min(t.price for t in recorded)
            hi = max(t.price for t in recorded)
            n = 0
            p = first - STEP
            while p > lo:  # buys below the first price fill as the market falls to them
                for _ in range(ORDERS_PER_LEVEL):
                    n += 1
                    eng.place("ETHUSDT", "buy", "0.001", str(p), client_order_id=f"b{n}")
                p -= STEP
            p = first + STEP
            while p < hi:
                for _ in range(ORDERS_PER_LEVEL):
                    n += 1
                    eng.place("ETHUSDT", "sell", "0.001", str(p), client_order_id=f"s{n}")
                p += STEP
            await asyncio.sleep(0.5)  # the order acks arrive before the replay starts
            trades.clear()
            sim.start_replay()
            await sim.wait_finished(timeout=600)
            await asyncio.sleep(0.5)
    return trades, fills


def _q(samples: list[int], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000 if s else float("nan")


def report(runs: int = 1) -> str:
    """Run :func:`measure` ``runs`` times and format Trade vs Fill percentiles (µs) over the
    samples of all runs, with the target. One run gives ~225 fills, so its p99 is the third
    slowest fill: more runs make the ratio steadier."""
    import uvloop

    trades: list[int] = []
    fills: list[int] = []
    for _ in range(runs):
        t, f = uvloop.run(measure())
        trades += t
        fills += f
    ratio = _q(fills, 0.99) / _q(trades, 0.99)
    lines = [
        "| event | samples | p50 µs | p90 µs | p99 µs | max µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in (("Trade", trades), ("Fill", fills)):
        lines.append(
            f"| {name} | {len(s):,} | {_q(s, 0.5):.1f} | {_q(s, 0.9):.1f} | {_q(s, 0.99):.1f} "
            f"| {_q(s, 1.0):.1f} |"
        )
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    lines.append(f"\nFill p99 / Trade p99 = {ratio:.2f} (target <= {TARGET_RATIO:g}: {verdict})")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(report(int(sys.argv[1]) if len(sys.argv) > 1 else 1))  # noqa: T201 - the report
