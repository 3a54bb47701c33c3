"""Write-path cost of ``tw.Cache`` (pytest-benchmark).

One round = the packaged real Binance spot ETHUSDT recording (bookTicker, trade, depth diffs;
REST snapshot applied where it arrived live) through ``Decoder.dispatch`` with per-kind
handlers, which is what a live feed's fast path runs per frame. Paths, measured in the same
run:

* ``no_cache``   -- the baseline: a feed with plain callbacks (a no-op per kind);
* ``symbol_cb``  -- a second baseline: callbacks that read ``ev.symbol`` and nothing else, as
  any real callback does (it measured faster than the no-op one on the development machine:
  the cache's writers read the symbol too, so this is the fair baseline);
* ``cache``      -- the cache's writers in their place (a feed whose only consumer is the
  cache: one dict store per BBO / trade; every BBO and trade a new object, as the cache holds
  the last one and the decoder recycles only events nobody holds);
* ``cache_chained`` -- the cache's writer, then the user's no-op callback (a feed with both).

``test_cache_write_cost_table`` interleaves rounds of all four and prints the extra CPU ns per
event against ``symbol_cb``. Run: ``pytest benches/test_bench_cache.py --benchmark-only``.
"""

from __future__ import annotations

import os
import time

import pytest

from tickwire.bench import baselines as bl

pytest.importorskip("tickwire._core", reason="tickwire._core is not built yet")
import tickwire as tw
from tickwire.cache import _chain


def _noop(ev):
    pass


def _symbol(ev):
    return ev.symbol


def _rounds() -> int:
    return max(1, int(os.environ.get("TICKWIRE_BENCH_ROUNDS", "5")))


@pytest.fixture(scope="module")
def rec():
    return bl.load_recording("spot")


def _handlers(path: str) -> tuple[dict, tw.Cache | None]:
    if path == "no_cache":
        return {"bbo": _noop, "trade": _noop, "book": _noop, "candle": _noop}, None
    if path == "symbol_cb":
        return {"bbo": _symbol, "trade": _symbol, "book": _noop, "candle": _symbol}, None
    cache = tw.Cache()
    w = {"bbo": cache._write_bbo, "trade": cache._write_trade, "candle": cache._write_candle}
    if path == "cache_chained":
        w = {k: _chain(f, _noop) for k, f in w.items()}
    return {**w, "book": _noop}, cache


def _round(rec, path: str, clock=time.perf_counter) -> tuple[float, int, tw.Cache | None]:
    """Seconds (of ``clock``) for one replay through a fresh decoder, events, the cache."""
    handlers, cache = _handlers(path)
    dec = tw.Decoder(rec.exchange_id)
    dec.set_handlers(**handlers)
    dispatch = dec.dispatch
    frames = rec.frames
    n = rec.snapshot_after
    t0 = clock()
    for f in frames[:n]:
        dispatch(f, 0)
    dec.apply_snapshot(rec.symbol, rec.snapshot)
    for f in frames[n:]:
        dispatch(f, 0)
    dt = clock() - t0
    return dt, sum(dec.stats().get(k, 0) for k in ("events",)), cache


@pytest.mark.parametrize("path", ["no_cache", "symbol_cb", "cache", "cache_chained"])
def test_cache_write(benchmark, rec, path):
    benchmark.group = f"cache write path: seconds per replay of {len(rec.frames):,} frames"
    benchmark.extra_info["path"] = path
    result = benchmark.pedantic(lambda: _round(rec, path), rounds=_rounds(), iterations=1)
    _, _, cache = result
    if cache is not None:  # the cache holds the recording's last BBO and trade
        assert cache.bbo(rec.symbol) is not None
        assert cache.last_trade(rec.symbol) is not None


def test_cache_write_cost_table(rec):
    """Interleaved rounds of the three paths after two warm-up rounds each; the extra ns per
    event of the cache paths over the baseline, medians of the same run. Timed in CPU time of
    this thread (``time.thread_time``): on a machine shared with other jobs wall time mostly
    measures who else ran."""
    times: dict[str, list[float]] = {
        "no_cache": [],
        "symbol_cb": [],
        "cache": [],
        "cache_chained": [],
    }
    events = 0
    for _ in range(2):  # warm-up: the first rounds of a process run slower whatever the path
        for path in times:
            _round(rec, path)
    paths = list(times)
    for r in range(_rounds()):
        k = r % len(paths)
        for path in paths[k:] + paths[:k]:  # each path first in turn
            dt, events, _ = _round(rec, path, time.thread_time)
            times[path].append(dt)
    med = {p: sorted(ts)[len(ts) // 2] for p, ts in times.items()}
    base = med["symbol_cb"]
    print(f"\ncache write path, {len(rec.frames):,} frames, {events:,} events, CPU medians:")
    for p, t in med.items():
        extra = (t - base) / events * 1e9
        print(
            f"  {p:14s} {t * 1e3:8.2f} ms  {len(rec.frames) / t / 1e6:5.2f} M msg/s  "
            f"{extra:+7.1f} ns/event vs symbol_cb"
        )
    assert events > 0
