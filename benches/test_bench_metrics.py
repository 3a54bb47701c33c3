"""Cost of the metrics' latency sampler on the delivery path (pytest-benchmark).

One round = every frame of the real Binance spot recording (33,617 frames: bookTicker, trade,
depth diffs; REST snapshot applied where it arrived live) dispatched by a ``tw.Decoder`` to
per-kind callbacks, as a ``Feed`` with callbacks delivers them:

* ``plain``   -- the decoder calls the user's callback directly (no metrics);
* ``sampled`` -- the callback wrapped by ``LatencySampler.wrap`` (what ``MetricsServer`` installs:
  every event counted by kind, one in 64 timed receive -> callback and exchange -> receive).

``test_sampler_cost`` runs both in the same run with interleaved rounds and prints the extra
ns per event (the end of the session shows the table), for the whole path (decode included)
and for the delivery alone (the recording's decoded events handed to the callback in a loop,
which isolates the wrapper's cost from the decode's noise). Nothing here asserts a speed.

Run: ``pytest benches/test_bench_metrics.py --benchmark-only`` (``TICKWIRE_BENCH_ROUNDS=N``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from tickwire.bench import baselines as bl

VARIANTS = ["plain", "sampled"]


def bench_rounds() -> int:
    """Timed rounds per benchmark (env ``TICKWIRE_BENCH_ROUNDS``, default 5)."""
    return max(1, int(os.environ.get("TICKWIRE_BENCH_ROUNDS", "5")))


@pytest.fixture(scope="module")
def rec():
    pytest.importorskip("tickwire._core", reason="tickwire._core is not built yet")
    return bl.load_recording("spot")


def make_round(rec: Any, variant: str) -> Callable[[], int]:
    """A fresh decoder wired for ``variant``; the returned function replays the recording
    once and returns the events the callbacks saw."""
    import tickwire as tw
    from tickwire.lag import LatencySampler

    seen = [0]

    def on_event(_ev: Any) -> None:
        seen[0] += 1

    dec = tw.Decoder(rec.exchange_id)
    dec.register(rec.symbol)
    cb: Callable[[Any], None] = on_event
    if variant == "sampled":
        sampler = LatencySampler(64)
        kinds = {"trade": tw.Trade, "bbo": tw.BBO, "book": tw.BookUpdate}
        handlers = {k: sampler.wrap(cb, t) for k, t in kinds.items()}  # as Feed's fast path
    else:
        handlers = dict.fromkeys(("trade", "bbo", "book"), cb)
    dec.set_handlers(**handlers)
    head, tail = rec.frames[: rec.snapshot_after], rec.frames[rec.snapshot_after :]

    def replay() -> int:
        dispatch = dec.dispatch
        for f in head:
            dispatch(f)
        for ev in dec.apply_snapshot(rec.symbol, rec.snapshot):
            handlers["book"](ev)
        for f in tail:
            dispatch(f)
        return seen[0]

    return replay


@pytest.mark.parametrize("variant", VARIANTS)
def test_delivery(benchmark, rec, variant):
    """Seconds per full replay with ``variant`` delivery."""
    benchmark.group = f"delivery of {len(rec.frames):,} frames to callbacks (seconds per replay)"
    holder: dict[str, Any] = {}

    def setup():
        holder["run"] = make_round(rec, variant)
        return (), {}

    benchmark.pedantic(
        lambda: holder.__setitem__("events", holder["run"]()),
        setup=setup,
        rounds=bench_rounds(),
        warmup_rounds=1,
        iterations=1,
    )
    assert holder["events"] > len(rec.frames) // 2  # the callbacks did get the events


def test_sampler_cost(benchmark, rec, compare_tables):
    """Both variants in one run, rounds interleaved; the extra ns per event of ``sampled``.

    The pytest-benchmark row is the duration of the whole comparison; the table printed at the
    end of the session is the result."""
    benchmark.group = "sampler cost (duration of the whole side-by-side run)"

    def compare() -> dict[str, tuple[float, int]]:
        best: dict[str, tuple[float, int]] = {}
        for _ in range(bench_rounds() + 1):  # the first round of each warms up
            for variant in VARIANTS:
                replay = make_round(rec, variant)
                t0 = time.perf_counter()
                events = replay()
                dt = time.perf_counter() - t0
                if variant not in best or dt < best[variant][0]:
                    best[variant] = (dt, events)
        return best

    events = decoded_events(rec)
    by_type: dict[type, list[Any]] = {}
    for ev in events:
        by_type.setdefault(type(ev), []).append(ev)
    only = ["plain (delivery only)", "per-kind sink", "generic sink"]

    def deliver_only(variant: str) -> float:
        from tickwire.lag import LatencySampler

        seen = [0]

        def on_event(_ev: Any) -> None:
            seen[0] += 1

        sampler = LatencySampler(64)
        t0 = time.perf_counter()
        if variant == "generic sink":  # Feed's on_event / async-for sink: a type lookup more
            cb = sampler.wrap(on_event)
            for ev in events:
                cb(ev)
        else:  # Feed's per-type callbacks (the fast path), plain or wrapped
            for t, evs in by_type.items():
                cb = sampler.wrap(on_event, t) if variant == "per-kind sink" else on_event
                for ev in evs:
                    cb(ev)
        return time.perf_counter() - t0

    def compare_all() -> dict[str, tuple[float, int]]:
        best = compare()
        for _ in range(bench_rounds() * 4):
            for variant in only:
                dt = deliver_only(variant)
                if variant not in best or dt < best[variant][0]:
                    best[variant] = (dt, len(events))
        return best

    best = benchmark.pedantic(compare_all, rounds=1, iterations=1)
    if best is None:  # --benchmark-disable still calls the target once and returns its result
        pytest.skip("no result")
    (t_plain, n_plain), (t_sampled, n_sampled) = best["plain"], best["sampled"]
    assert n_plain == n_sampled  # the same events reached the callbacks
    extra_ns = (t_sampled - t_plain) / n_plain * 1e9

    def per_event(v: str) -> float:
        return best[v][0] / best[v][1] * 1e9

    rows = [
        "| path | best s / round | events/s | ns / event |",
        "|---|---:|---:|---:|",
        *(
            f"| {v} | {best[v][0]:.4f} | {best[v][1] / best[v][0]:,.0f} | {per_event(v):.0f} |"
            for v in [*VARIANTS, *only]
        ),
        f"| sampled - plain (decode + delivery) | | | {extra_ns:+.0f} |",
        *(
            f"| {v} - plain (delivery only) | | | {per_event(v) - per_event(only[0]):+.0f} |"
            for v in only[1:]
        ),
    ]
    compare_tables.append((f"latency sampler, {n_plain:,} events", "\n".join(rows)))
    benchmark.extra_info["extra_ns_per_event"] = round(extra_ns, 1)
    for v in only[1:]:
        benchmark.extra_info[f"extra_ns {v}"] = round(per_event(v) - per_event(only[0]), 1)


def decoded_events(rec: Any) -> list[Any]:
    """The recording's market events, decoded once (trades, BBOs, book updates)."""
    import tickwire as tw

    dec = tw.Decoder(rec.exchange_id)
    out: list[Any] = []
    for i, f in enumerate(rec.frames):
        if i == rec.snapshot_after:
            out += dec.apply_snapshot(rec.symbol, rec.snapshot)
        out += dec.feed(f)
    return [e for e in out if hasattr(e, "exchange_ts")]
