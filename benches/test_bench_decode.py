"""Decode + book throughput on real Binance recordings (pytest-benchmark).

Every benchmark times one *round* = replaying all frames of a recording
(33,617 spot frames / 40,000 USD-M frames: bookTicker, trade, depth diffs)
through a fresh decoder/book, REST snapshot applied where it arrived live.
pytest-benchmark reports seconds per round; ``extra_info["msg_per_s"]``
holds frames / median seconds, i.e. messages per second.  Paths:

* ``tickwire``   -- ``tw.Decoder``; ``feed(frame)`` per frame (skipped until
  ``tickwire._core`` is built);
* ``orjson_bot`` -- baseline (a), orjson + dict book (``tickwire.bench.baselines.OrjsonBot``);
* ``cryptofeed`` -- baseline (b), cryptofeed's Binance handler without a
  socket (``baselines.CryptofeedReplay``; skipped if cryptofeed is missing).

``test_compare_table`` measures all paths in the same run with interleaved
rounds and prints the msg/s / ratio table at the end of the session.

Run: ``pytest benches/ --benchmark-only`` (``TICKWIRE_BENCH_ROUNDS=N``).
"""

from __future__ import annotations

import os

import pytest

from tickwire.bench import baselines as bl
from tickwire.bench import decode as run_compare

RECORDINGS = ["spot", "usdm"]


def bench_rounds() -> int:
    """Timed rounds per benchmark (env ``TICKWIRE_BENCH_ROUNDS``, default 5)."""
    return max(1, int(os.environ.get("TICKWIRE_BENCH_ROUNDS", "5")))


@pytest.fixture(scope="module", params=RECORDINGS)
def rec(request):
    return bl.load_recording(request.param)


@pytest.fixture(scope="module")
def reference_tops():
    """Final (best_bid, best_ask, last u) per recording, from the orjson bot."""
    cache = {}

    def get(rec):
        if rec.name not in cache:
            b = bl.run_orjson_bot(rec).books[rec.raw_symbol]
            cache[rec.name] = (b.best_bid(), b.best_ask(), b.last_id)
        return cache[rec.name]

    return get


@pytest.fixture(scope="module")
def tw():
    pytest.importorskip("tickwire._core", reason="tickwire._core is not built yet")
    import tickwire

    return tickwire


def _record_rate(benchmark, rec):
    benchmark.extra_info["recording"] = rec.name
    benchmark.extra_info["frames"] = len(rec.frames)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["msg_per_s"] = round(len(rec.frames) / stats.stats.median)


def _pedantic(benchmark, rec, setup, run):
    """Time ``run(state)`` for fresh ``state = setup()`` each round; return last state."""
    benchmark.group = f"decode {rec.name}: seconds per full replay of {len(rec.frames):,} frames"
    holder = {}

    def _setup():
        prev = holder.get("state")
        if prev is not None and hasattr(prev, "close"):
            prev.close()  # CryptofeedReplay owns an event loop
        holder["state"] = setup()
        return (holder["state"],), {}

    benchmark.pedantic(run, setup=_setup, rounds=bench_rounds(), warmup_rounds=1, iterations=1)
    return holder["state"]


def test_tickwire(benchmark, rec, tw, reference_tops):
    """tickwire: Decoder.feed per frame + apply_snapshot; seconds per full replay."""
    head, tail = rec.frames[: rec.snapshot_after], rec.frames[rec.snapshot_after :]
    symbol, snapshot = rec.symbol, rec.snapshot

    def run(dec):
        feed = dec.feed
        for f in head:
            feed(f)
        dec.apply_snapshot(symbol, snapshot)
        for f in tail:
            feed(f)

    dec = _pedantic(benchmark, rec, lambda: tw.Decoder(rec.exchange_id), run)
    _record_rate(benchmark, rec)
    book = dec.book(symbol)
    bid, ask, seq = reference_tops(rec)
    assert book.synced
    assert tuple(book.best_bid) == bid
    assert tuple(book.best_ask) == ask
    assert book.sequence == seq


def test_orjson_bot(benchmark, rec, reference_tops):
    """Baseline (a): orjson + dict book + documented sync rule; seconds per full replay."""
    head, tail = rec.frames[: rec.snapshot_after], rec.frames[rec.snapshot_after :]

    def run(bot):
        feed = bot.feed
        for f in head:
            feed(f)
        bot.apply_snapshot(rec.raw_symbol, rec.snapshot)
        for f in tail:
            feed(f)

    bot = _pedantic(benchmark, rec, lambda: bl.OrjsonBot(rec.market), run)
    _record_rate(benchmark, rec)
    b = bot.books[rec.raw_symbol]
    assert (b.best_bid(), b.best_ask(), b.last_id) == reference_tops(rec)


def test_cryptofeed(benchmark, rec, reference_tops):
    """Baseline (b): cryptofeed's Binance/BinanceFutures message_handler, no socket; seconds per full replay."""
    if not bl.cryptofeed_available():
        pytest.skip("cryptofeed is not installed")

    def setup():
        r = bl.CryptofeedReplay(rec.market, rec.raw_symbol)
        r.set_snapshot(rec.snapshot)
        return r

    r = _pedantic(benchmark, rec, setup, lambda r: r.run(rec.frames))
    _record_rate(benchmark, rec)
    benchmark.extra_info["cryptofeed"] = bl.cryptofeed_version()
    bid, ask, _ = reference_tops(rec)
    try:
        assert r.snapshot_requests == 1
        assert r.best_bid() == bid, "cryptofeed's book top differs from the documented-rule replay"
        assert r.best_ask() == ask
    finally:
        r.close()


@pytest.mark.parametrize("recording", RECORDINGS)
def test_compare_table(benchmark, recording, compare_tables):
    """All paths in one run, interleaved rounds; prints msg/s and tickwire ratios.

    The pytest-benchmark row of this test is the duration of the whole
    comparison and is not itself meaningful; the table printed at the end of
    the session is the result.
    """
    benchmark.group = "compare (duration of the whole side-by-side run)"
    rows = benchmark.pedantic(
        run_compare.compare,
        kwargs={"recording": recording, "rounds": bench_rounds()},
        rounds=1,
        iterations=1,
    )
    if rows is None:  # --benchmark-disable still calls the target once and returns its result
        pytest.skip("no rows")
    compare_tables.append((f"recording: {recording}", run_compare.format_table(rows)))
    for r in rows:
        if r["msg_per_s"] is not None:
            benchmark.extra_info[r["path"]] = round(r["msg_per_s"])
    assert not [r["path"] for r in rows if r["top_ok"] is False], rows
