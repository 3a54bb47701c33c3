"""End to end over a loopback WebSocket (``pytest benches/test_bench_e2e.py --benchmark-only``).

The same measurement as ``tickwire bench --e2e`` (:mod:`tickwire.bench.e2e`): the simulator in
a separate process sends the real spot ETHUSDT recording as fast as the client reads; the
transport floor (picows counting frames), the picows + orjson + dict-book bot and ``tw.Feed``
take interleaved rounds in the same run. The table with throughput, share of the floor, ratios
and the paced-latency percentiles is printed at the end of the session.
"""

from __future__ import annotations

import os

import pytest

from tickwire.bench import e2e
from tickwire.bench.baselines import load_recording


def test_end_to_end(benchmark, compare_tables):
    """The pytest-benchmark row is the duration of the whole run; the table is the result."""
    benchmark.group = "end to end (duration of the whole side-by-side run)"
    rounds = int(os.environ.get("TICKWIRE_BENCH_ROUNDS", "5"))
    runs = benchmark.pedantic(e2e.throughput, kwargs={"rounds": rounds}, rounds=1, iterations=1)
    if runs is None:  # --benchmark-disable still calls the target once and returns its result
        pytest.skip("no runs")
    lat = sorted(e2e.latency())
    compare_tables.append(
        ("end to end over loopback (spot ETHUSDT)", e2e.format_report(runs, lat, rounds))
    )
    for name, rs in runs.items():
        benchmark.extra_info[name] = round(max(r.msg_per_s for r in rs))
    # Every round measured the frames after the warm-up (the Feed from the first BBO/trade after
    # it, at most a few lines later); the Feed itself checks it decoded every frame.
    window = len(load_recording("spot").frames) - e2e.WARMUP_LINES
    assert all(window - 10 <= r.frames <= window for rs in runs.values() for r in rs), runs
    # One latency sample per event delivered after the initial sync (the sync takes the first
    # few hundred frames at most): BBOs and trades, plus the book updates.
    assert len(lat) >= 0.9 * e2e._ticker_and_trade_events()
    assert lat[0] >= 0
