"""tw.Cache: latest BBO/trade, candle rings (REST backfill + socket), book top, staleness, and
reads from other threads during a fast replay.

Data: the real Binance USD-M recording with klines (tests/fixtures/binanceusdm/cf_..._kline_...:
4 symbols, 67 kline events of which 4 closed, bookTickers, aggTrades, depth) served by the
simulator, whose ``/fapi/v1/klines`` answers from the same recorded kline events."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import aiohttp
import numpy as np
import pytest

import tickwire as tw
from tickwire.cache import Stale
from tickwire.exchanges import RestCandle, get_adapter
from tickwire.simulator import Recording, Simulator

pytestmark = pytest.mark.e2e

FIX = Path(__file__).parent / "fixtures" / "binanceusdm"
REC = FIX / "cf_depth_bookticker_kline_aggtrade_4sym_20210722.jsonl"
SYMS = {"SUSHIUSDT": "SUSHI/USDT:USDT", "CTKUSDT": "CTK/USDT:USDT", "AKROUSDT": "AKRO/USDT:USDT"}
SYMS["KEEPUSDT"] = "KEEP/USDT:USDT"
# the replay is held here for the backfill: after SUSHI's and CTK's first candles closed
# (lines 936, 973 of the recording) and SUSHI's next one opened (983), before AKRO's and
# KEEP's closed (1037, 1038); the test checks these facts on the recording itself
HOLD = 1000
TIMEOUT = 20


def recorded() -> list[tuple[int, str, dict]]:
    """(line, stream, data) of every recorded message."""
    out = []
    for i, ln in enumerate(REC.read_bytes().splitlines()):
        d = json.loads(ln)
        out.append((i, d["stream"], d["data"]))
    return out


def klines(upto: int | None = None) -> dict[str, list[tuple[int, dict]]]:
    """Market id -> (line, k) of the recorded kline events (before line ``upto``)."""
    out: dict[str, list[tuple[int, dict]]] = {}
    for i, stream, d in recorded():
        if "@kline_" in stream and (upto is None or i < upto):
            out.setdefault(d["s"], []).append((i, d["k"]))
    return out


def expected(upto: int | None = None) -> tuple[dict[str, dict[int, dict]], dict[str, dict]]:
    """Closed candles (start ms -> last k) and the live one (last k if open) per market id,
    from the recording: a candle is closed once its final event (x) or a later candle came."""
    closed: dict[str, dict[int, dict]] = {}
    live: dict[str, dict] = {}
    for mid, ks in klines(upto).items():
        last: dict[int, dict] = {}
        for _, k in ks:
            last[k["t"]] = k
        newest = max(last)
        closed[mid] = {t: k for t, k in last.items() if k["x"] or t < newest}
        if not last[newest]["x"]:
            live[mid] = last[newest]
    return closed, live


def row(k: dict) -> tuple[float, ...]:
    return tuple(float(k[f]) for f in "ohlcv")


def rec() -> Recording:
    """The recording with its REST depth snapshots (taken right after the stream opened, so
    served from line 0 on; the simulator derives later ones from the recorded diffs)."""
    snaps = {m: (FIX / f"cf_depth_snapshot_{m.lower()}_20210722.json", 0) for m in SYMS}
    return Recording.load(REC, snapshots=snaps)


def sim_for(**kw) -> Simulator:
    return Simulator("binanceusdm", recording=rec(), **({"speed": "max"} | kw))


async def test_backfill_then_socket_gives_every_recorded_candle_once():
    # at the hold, Binance's klines reply has every candle published so far; its newest row is
    # the one still open as far as the reply can tell (it carries no "closed" flag)
    at_hold = {mid: {k["t"]: k for _, k in ks} for mid, ks in klines(HOLD).items()}
    assert {m: sorted(c) for m, c in at_hold.items()} == {
        "CTKUSDT": [1626992700000],
        "AKROUSDT": [1626992700000],
        "SUSHIUSDT": [1626992700000, 1626992760000],
        "KEEPUSDT": [1626992700000],
    }
    closed, live = expected()
    async with sim_for() as sim, aiohttp.ClientSession() as http:
        sim.hold_at(HOLD)
        # a plain client drives the replay to the hold before the feed connects
        ws = await http.ws_connect(sim.stream_url("sushiusdt@bookTicker", route="/public"))
        await sim.wait_position(HOLD, TIMEOUT)
        feed = tw.Feed("binanceusdm", list(SYMS.values()), ["candles"], base_url=sim.rest_url)
        cache = tw.Cache(feed)
        assert feed.cache is cache
        async with feed:
            await cache.ready()
            # the backfill alone: what the recording had published at the hold
            for mid, sym in SYMS.items():
                got = cache.candles(sym, "1m")
                *old, newest = sorted(at_hold[mid])
                assert list(got.start_ts) == [t * 1_000_000 for t in old]
                rows = list(zip(got.open, got.high, got.low, got.close, got.volume, strict=True))
                assert rows == [row(at_hold[mid][t]) for t in old]
                lv = cache.live_candle(sym)
                assert lv.start_ts == newest * 1_000_000
                assert (lv.open, lv.high, lv.low, lv.close, lv.volume) == row(at_hold[mid][newest])
            assert cache.backfilled > 0
            assert cache.backfill_errors == 0
            sim.resume()
            await sim.wait_finished(TIMEOUT)
            await _until(lambda: _done(cache, closed, live))
        await ws.close()
        for mid, sym in SYMS.items():
            got = cache.candles(sym)
            assert got.start_ts.dtype == np.int64
            assert got.close.dtype == np.float64
            want = closed[mid]
            assert list(got.start_ts) == [t * 1_000_000 for t in sorted(want)]
            assert list(zip(*got[1:], strict=True)) == [row(want[t]) for t in sorted(want)]
            lv = cache.live_candle(sym, "1m")
            if mid in live:
                assert (lv.start_ts, lv.close) == (
                    live[mid]["t"] * 1_000_000,
                    float(live[mid]["c"]),
                )
            else:
                assert lv is None
        assert cache.intervals("SUSHI/USDT:USDT") == ["1m"]
        st = cache.stats()
        assert st["candles"] == sum(len(c) for c in closed.values())
        assert st["symbols"] == len(SYMS)
        assert st["backfill_errors"] == 0


def _done(cache: tw.Cache, closed: dict, live: dict) -> bool:
    for mid, sym in SYMS.items():
        if len(cache.candles(sym, "1m")) and len(cache.candles(sym, "1m").start_ts) != len(
            closed[mid]
        ):
            return False
        lv = cache.live_candle(sym, "1m")
        if mid in live and (lv is None or lv.volume != float(live[mid]["v"])):
            return False
    return True


async def _until(cond, timeout: float = TIMEOUT) -> None:
    async def wait() -> None:
        while not cond():  # noqa: ASYNC110 - polls cache reads that no event announces
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


def test_ring_keeps_the_newest_and_merges_out_of_order():
    # candles of the recording, written as a feed writes them, into a ring of 2
    ks = klines()["SUSHIUSDT"] + klines()["CTKUSDT"]
    dec = tw.Decoder("binanceusdm")
    events = [
        ev
        for i, stream, d in recorded()
        if "@kline_" in stream
        for ev in dec.feed(json.dumps({"stream": stream, "data": d}).encode())
    ]
    assert len(events) == sum(len(v) for v in klines().values())
    assert ks
    cache = tw.Cache(candles=1)
    for ev in events:
        cache.update(ev)
    closed, _ = expected()
    for mid, sym in SYMS.items():
        got = cache.candles(sym)
        newest = max(closed[mid])
        assert list(got.start_ts) == [newest * 1_000_000]  # only the newest of the ring of 1
    # REST rows of an older candle merge in order and never replace the socket's
    cache2 = tw.Cache(candles=3)
    for ev in events:
        cache2.update(ev)
    sym = "SUSHI/USDT:USDT"
    sock = cache2.candles(sym)
    older = RestCandle("1m", int(sock.start_ts[0]) - 60_000_000_000, 1.0, 2.0, 0.5, 1.5, 9.0, True)
    same = RestCandle("1m", int(sock.start_ts[0]), 0.0, 0.0, 0.0, 0.0, 0.0, True)
    cache2.merge_candles(sym, [older, same])
    got = cache2.candles(sym)
    assert list(got.start_ts) == [older.start_ts, *sock.start_ts]
    assert got.close[1] == sock.close[0]  # the socket's candle won
    assert cache2.candles(sym, last=1).start_ts.tolist() == [sock.start_ts[-1]]


async def test_bbo_trade_and_book_top_match_the_recording():
    lines = recorded()
    tickers = {d["s"]: d for _, s, d in lines if s.endswith("@bookTicker")}
    trades = {d["s"]: d for _, s, d in lines if s.endswith("@aggTrade")}
    seen: list[object] = []
    async with sim_for() as sim:
        feed = tw.Feed(
            "binanceusdm",
            list(SYMS.values()),
            ["bbo", "trades", "book"],
            base_url=sim.rest_url,
            options={"trades_stream": "aggTrade", "book_stream": "depth@100ms"},
            on_bbo=seen.append,  # a user callback still sees every BBO
        )
        cache = tw.Cache(feed)
        async with feed:
            await sim.wait_finished(TIMEOUT)
            await _until(lambda: all(cache.bbo(s) is not None for s in SYMS.values()))
            await _until(
                lambda: (
                    all(cache.bbo(SYMS[m]).sequence == tickers[m]["u"] for m in tickers)
                    and all(cache.last_trade(SYMS[m]).trade_id == trades[m]["a"] for m in trades)
                )
            )
            for mid, t in tickers.items():
                b = cache.bbo(SYMS[mid])
                assert (b.bid_price, b.ask_price) == (float(t["b"]), float(t["a"]))
                assert 0 <= cache.age(SYMS[mid]) < 60
                assert not cache.is_stale(SYMS[mid])  # no stale_after: never stale by age
            top = cache.top("SUSHI/USDT:USDT", 5)
            book = feed.book("SUSHI/USDT:USDT")
            assert np.array_equal(top.bids, book.bids(5))
            assert np.array_equal(top.asks, book.asks(5))
            assert top.sequence == book.sequence
        assert len(seen) == sum(1 for _, s, _ in lines if s.endswith("@bookTicker"))


async def test_readers_in_threads_never_see_a_torn_snapshot():
    """Four threads read everything in a loop while the simulator replays the recording at
    10x its pace (about 3 s): every BBO read is one recorded
    bookTicker (bid, ask, id) triple, candle columns have one length and sorted starts, book
    tops are sorted and uncrossed."""
    lines = recorded()
    tickers = {
        (d["s"], float(d["b"]), float(d["a"]), d["u"])
        for _, s, d in lines
        if s.endswith("@bookTicker")
    }
    by_sym = {v: k for k, v in SYMS.items()}
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader(cache: tw.Cache) -> None:
        while not stop.is_set():
            for sym in SYMS.values():
                b = cache.bbo(sym)
                if (
                    b is not None
                    and (by_sym[sym], b.bid_price, b.ask_price, b.sequence) not in tickers
                ):
                    problems.append(f"bbo {sym} {b.bid_price} {b.ask_price} {b.sequence}")
                c = cache.candles(sym, "1m")
                n = {len(col) for col in c}
                if len(n) != 1 or np.any(np.diff(c.start_ts) <= 0):
                    problems.append(f"candles {sym} {n} {c.start_ts}")
                try:
                    top = cache.top(sym, 20)
                except KeyError:
                    continue  # no book data yet
                if len(top.bids) and np.any(np.diff(top.bids[:, 0]) >= 0):
                    problems.append(f"bids {sym}")
                if len(top.asks) and np.any(np.diff(top.asks[:, 0]) <= 0):
                    problems.append(f"asks {sym}")
                if len(top.bids) and len(top.asks) and top.bids[0, 0] >= top.asks[0, 0]:
                    problems.append(f"crossed {sym}")
                reads[0] += 1

    async with sim_for(speed=10) as sim:
        feed = tw.Feed(
            "binanceusdm",
            list(SYMS.values()),
            ["bbo", "candles", "book"],
            base_url=sim.rest_url,
            options={"book_stream": "depth@100ms"},
        )
        cache = tw.Cache(feed, candles=2)  # small: the ring wraps
        async with feed:
            threads = [threading.Thread(target=reader, args=(cache,)) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                await sim.wait_finished(TIMEOUT)
            finally:
                stop.set()
                for t in threads:
                    t.join()
    assert problems == []
    assert reads[0] > 0


async def test_stale_after_emits_health_events_both_ways():
    async with sim_for() as sim:
        got: list[Stale] = []
        events: list[object] = []
        feed = tw.Feed(
            "binanceusdm",
            ["SUSHI/USDT:USDT"],
            ["bbo"],
            base_url=sim.rest_url,
            on_event=events.append,
        )
        cache = tw.Cache(feed, stale_after=0.2, on_stale=got.append)
        async with feed:
            await _until(lambda: cache.bbo("SUSHI/USDT:USDT") is not None)
            sim.pause()
            await _until(lambda: any(s.stale for s in got))
            assert cache.is_stale("SUSHI/USDT:USDT")
            st = next(s for s in got if s.stale)
            assert (st.symbol, st.kind, st.exchange) == ("SUSHI/USDT:USDT", "bbo", "binanceusdm")
            assert st.age_ns > 0.2e9
            await sim.rewind()
            sim.resume()
            await feed.unsubscribe("SUSHI/USDT:USDT", "bbo")
            await feed.subscribe("SUSHI/USDT:USDT", "bbo")
            await _until(lambda: any(not s.stale for s in got))
        assert [e for e in events if isinstance(e, Stale)] == got  # the feed delivered them too
        cache.close()


def test_binance_klines_rows_parse_and_errors():
    a = get_adapter("binanceusdm")
    url, params = a.candles_request("SUSHI/USDT:USDT", 5000)
    assert url.endswith("/fapi/v1/klines")
    assert params == {"symbol": "SUSHIUSDT", "interval": "1m", "limit": "1500"}
    ks = [k for _, k in klines()["SUSHIUSDT"]]
    body = json.dumps([[k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"]] for k in ks[-2:]])
    rows = a.parse_candles(body.encode())
    assert [r.closed for r in rows] == [True, None]
    assert rows[0].start_ts == ks[-2]["t"] * 1_000_000
    with pytest.raises(tw.ExchangeError, match="-1121"):
        a.parse_candles(b'{"code":-1121,"msg":"Invalid symbol."}')
    with pytest.raises(tw.ExchangeError, match="unreadable"):
        a.parse_candles(b"[[1]]")
    with pytest.raises(ValueError, match="candles must be"):
        tw.Cache(candles=0)


async def test_cache_attached_to_a_running_feed_through_feed_cache():
    lines = recorded()
    last = {d["s"]: d for _, s, d in lines if s.endswith("@bookTicker")}["CTKUSDT"]
    async with sim_for(autostart=False) as sim:
        async with tw.Feed("binanceusdm", "CTK/USDT:USDT", "bbo", base_url=sim.rest_url) as feed:
            cache = feed.cache  # made on first use, wired into the running feed
            assert feed.cache is cache
            sim.start_replay()
            await sim.wait_finished(TIMEOUT)
            await _until(lambda: getattr(cache.bbo("CTK/USDT:USDT"), "sequence", 0) == last["u"])
        b = cache.bbo("CTK/USDT:USDT")
        assert (b.bid_price, b.ask_price) == (float(last["b"]), float(last["a"]))
        with pytest.raises(ValueError, match="already has a cache"):
            tw.Cache(feed)


async def test_backfill_of_a_symbol_added_later_and_failed_requests_are_counted():
    at_hold = {mid: {k["t"] for _, k in ks} for mid, ks in klines(HOLD).items()}
    async with sim_for() as sim, aiohttp.ClientSession() as http:
        sim.hold_at(HOLD)
        ws = await http.ws_connect(sim.stream_url("sushiusdt@bookTicker", route="/public"))
        await sim.wait_position(HOLD, TIMEOUT)
        feed = tw.Feed("binanceusdm", "SUSHI/USDT:USDT", "candles", base_url=sim.rest_url)
        cache = tw.Cache(feed, kinds=["candle"])
        async with feed:
            await cache.ready()
            assert cache.backfilled == len(at_hold["SUSHIUSDT"])
            await feed.subscribe("CTK/USDT:USDT", "candles")
            assert await cache.backfill(["CTK/USDT:USDT"]) == len(at_hold["CTKUSDT"])
            assert cache.live_candle("CTK/USDT:USDT").start_ts == max(at_hold["CTKUSDT"]) * 10**6
        await ws.close()
        # a REST endpoint that refuses: the rings start empty, the failures are counted
        dead = tw.Feed(
            "binanceusdm",
            list(SYMS.values()),
            "candles",
            urls={"ws": sim.ws_url, "rest": "http://127.0.0.1:9"},
            validate_symbols=False,
        )
        cache = tw.Cache(dead)
        async with dead:
            await cache.ready()
        assert cache.backfill_errors == len(SYMS)
        assert cache.backfilled == 0
        assert cache.stats()["backfill_errors"] == len(SYMS)


def test_kinds_left_out_are_not_kept():
    dec = tw.Decoder("binanceusdm")
    cache = tw.Cache(kinds=["bbo"])
    n = 0
    for _, stream, d in recorded():
        for ev in dec.feed(json.dumps({"stream": stream, "data": d}).encode()):
            cache.update(ev)
            n += 1
    assert n > 0
    assert cache.bbo("SUSHI/USDT:USDT") is not None
    assert cache.last_trade("SUSHI/USDT:USDT") is None
    assert cache.intervals("SUSHI/USDT:USDT") == []
    with pytest.raises(ValueError, match="kinds must be"):
        tw.Cache(kinds=["book"])


def test_candle_ring_copies_never_tear_under_a_writer_thread():
    """The seqlock of the candle ring, without the event loop: a writer thread puts recorded
    candle states over and over into rings of 1, 2 and 3 rows while readers copy them with the
    GIL switching every microsecond. The states are real rows used as opaque payloads of the
    ring: every kline state of this recording (two open times) and of the Bybit linear
    recording (two later open times), so the writer appends, wraps, updates the newest in place
    and merges older rows back in order (a rewrite of every slot). Every row read must be one
    recorded state (its open time with that state's values), in sorted open times, every column
    the same length."""
    import sys

    from tickwire.cache import _Ring

    ks = sorted((i, k) for ks in klines().values() for i, k in ks)
    states = [(k["t"] * 10**6, row(k)) for _, k in ks]
    first = list(states)  # this recording's states (earlier open times than Bybit's)
    bybit = Path(__file__).parent / "fixtures" / "bybit"
    for ln in (
        (bybit / "v5_linear_orderbook200_tickers_trades_kline_4sym.jsonl").read_bytes().splitlines()
    ):
        msg = json.loads(ln)
        if str(msg.get("topic", "")).startswith("kline."):
            for k in msg["data"]:
                vals = tuple(float(k[f]) for f in ("open", "high", "low", "close", "volume"))
                states.append((k["start"] * 10**6, vals))
    valid = set(states)
    assert len({t for t, _ in states}) == 4
    assert max(t for t, _ in first) < min(t for t, _ in states[len(first) :])
    assert len(valid) > 50
    rings = [_Ring(1), _Ring(2), _Ring(3)]
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def writer() -> None:
        # fresh rings each round (published by one reference store, as the cache's dict does)
        # so each round appends, wraps, then merges the first recording's states back in
        # after the wrap: that merge moves every row to another slot
        while not stop.is_set():
            fresh = [_Ring(1), _Ring(2), _Ring(3)]
            rings[:] = fresh
            for t, r in states + first:
                for ring in fresh:
                    ring.put(t, r)

    def reader() -> None:
        while not stop.is_set():
            for ring in rings:
                c = ring.read(None)
                if len({len(col) for col in c}) != 1 or np.any(np.diff(c.start_ts) <= 0):
                    problems.append(f"shape {c}")
                for j in range(len(c.start_ts)):
                    got = (int(c.start_ts[j]), tuple(float(col[j]) for col in c[1:]))
                    if got not in valid:
                        problems.append(f"torn {got}")
                reads[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader) for _ in range(3)
        ]
        for t in threads:
            t.start()
        stop.wait(1.5)
        stop.set()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert problems[:3] == []
    assert reads[0] > 100


def test_cache_made_before_the_event_loop_backfills_at_the_first_candle():
    from tickwire.simulator import ThreadedSimulator

    with ThreadedSimulator("binanceusdm", recording=rec(), speed="max") as sim:
        feed = tw.Feed("binanceusdm", "SUSHI/USDT:USDT", "candles", base_url=sim.rest_url)
        cache = feed.cache  # no event loop yet: the backfill waits for the first candle

        async def main() -> None:
            async with feed:
                await cache.ready()

        tw.run(main())
    assert cache.backfill_errors == 0
    assert cache.backfilled > 0
    assert cache.live_candle("SUSHI/USDT:USDT") is not None


def test_stale_after_needs_a_running_loop_and_leaves_the_feed_alone():
    feed = tw.Feed("binanceusdm", "SUSHI/USDT:USDT", "bbo")
    with pytest.raises(RuntimeError, match="running event loop"):
        tw.Cache(feed, stale_after=1.0)
    assert "_tw_cache" not in feed.__dict__
    assert feed._user_callbacks["bbo"] is None
    with pytest.raises(ValueError, match="stale_after must be"):
        tw.Cache(stale_after=0)
