"""MEXC (``mexc``): the adapter, the decoder on the recording (spot, text and protobuf) and the
docs shapes (contract), the replay CLI, and the bench bot against the decoder.

Fixtures (tests/fixtures/mexc, see SOURCES.md): the only real MEXC recording is 7 frames of the
retired spot JSON v3 stream (SOLUSDT: 10-level ``limit.depth`` snapshots and ``increase.depth``
deltas); ``transcoded_pb_spot_solusdt_20250112.jsonl`` holds the same frames re-encoded as
today's protobuf pushes (``b64:`` lines); the docs examples (protobuf pushes, REST replies,
contract pushes) are docs-derived. Every expected value is derived here from those files.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tickwire._core as core
from tickwire import FrameError, SubscriptionError
from tickwire.events import GapDetected, Resynced
from tickwire.exchanges import ConnectTarget, Keepalive, get_adapter
from tickwire.exchanges.mexc import Mexc, contract_instrument_dicts, spot_instrument_dicts
from tickwire.feed import Feed
from tickwire.simulator import Simulator
from tickwire.simulator.faults import Drop
from venue_helpers import assert_book_equal, feed_start_error, replay_stats, replay_through_feed

FIXTURES = Path(__file__).parent / "fixtures" / "mexc"
LEGACY = FIXTURES / "recorded_excerpt_spot_v3json_solusdt_20250112.jsonl"
TRANSCODED = FIXTURES / "transcoded_pb_spot_solusdt_20250112.jsonl"
DOCS_PB = FIXTURES / "docs_pb_spot_examples.jsonl"
DOCS_TIER = FIXTURES / "docs_tier" / "jkorf_spot_futures_examples.jsonl"


def legacy() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LEGACY.read_text().splitlines() if line]


def binary_frames(path: Path) -> list[tuple[bytes, bool]]:
    """(frame, binary) per line: ``b64:`` lines decoded (the recording convention)."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("b64:"):
            out.append((base64.b64decode(line[4:]), True))
        elif line:
            out.append((line.encode(), False))
    return out


def reference_book() -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """SOLUSDT after the recording by MEXC's rules (increase.depth sets absolute quantities, 0
    deletes; a limit.depth top-10 snapshot replaces the book unless the book already reached its
    version): (bids high to low, asks low to high)."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    version: int | None = None
    for f in legacy():
        r = int(f["d"]["r"])
        if ".limit.depth." in f["c"]:
            if version is not None and r <= version:
                continue  # the top 10 at a version the book has: stale, changes nothing
            bids, asks = {}, {}
        version = r if version is None else max(version, r)
        for side, key in ((bids, "bids"), (asks, "asks")):
            for lv in f["d"].get(key, []):
                p, q = Decimal(lv["p"]), Decimal(lv["v"])
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
    return sorted(bids.items(), reverse=True), sorted(asks.items())


# --- adapter ---------------------------------------------------------------------------------


def test_symbols_both_ways_match_the_rust_venue():
    a = Mexc()
    for symbol, mid, market in (
        ("SOL/USDT", "SOLUSDT", "spot"),
        ("BTC/USDC", "BTCUSDC", "spot"),
        ("BTC/USDT:USDT", "BTC_USDT", "linear"),
    ):
        assert (a.market_id(symbol), a.market_of(symbol)) == (mid, market)
        dec = core.Decoder("mexc", market=market)
        assert dec.register(symbol) == mid
        assert core.unified_symbol("mexc", mid, market=market) == symbol
    # the recorded market id maps back to the recorded pair
    assert core.unified_symbol("mexc", legacy()[0]["s"]) == "SOL/USDT"
    for bad in ("BTCUSDT", "btc/usdt", "BTC/USDT:BTC", "BTC/USD:BTC-220527", "BTC-USDT"):
        with pytest.raises(ValueError, match="unknown symbol"):
            a.market_id(bad)


def test_subscriptions_requests_acks_and_keepalive():
    a = get_adapter("mexc")
    subs = a.subscriptions(["SOL/USDT"], ["book", "trades", "bbo", "candles"])
    assert [(s.route, s.stream) for s in subs] == [
        ("spot", "spot@public.aggre.depth.v3.api.pb@100ms@SOLUSDT"),
        ("spot", "spot@public.aggre.deals.v3.api.pb@100ms@SOLUSDT"),
        ("spot", "spot@public.aggre.bookTicker.v3.api.pb@100ms@SOLUSDT"),
        ("spot", "spot@public.kline.v3.api.pb@SOLUSDT@Min1"),
    ]
    (req,) = a.subscribe_requests(subs, iter(range(1, 9)).__next__)
    assert json.loads(req.payload) == {"method": "SUBSCRIPTION", "params": [s.stream for s in subs]}
    assert req.acks == frozenset(s.stream for s in subs)
    (unsub,) = a.unsubscribe_requests(subs[:1], iter(range(1, 9)).__next__)
    assert json.loads(unsub.payload) == {"method": "UNSUBSCRIPTION", "params": [subs[0].stream]}
    # The reply to a multi-channel request echoes them joined by ','; the Rust venue acks each.
    reply = json.dumps({"id": 0, "code": 0, "msg": ",".join(s.stream for s in subs)})
    acks = core.Decoder("mexc").feed(reply.encode())
    assert [(r.kind, r.topic) for r in acks] == [("ack", s.stream) for s in subs]
    # 30 subscriptions per spot connection.
    many = a.subscriptions([f"C{i}/USDT" for i in range(40)], ["book"])
    assert [len(s) for s in a.shards(many)] == [30, 10]
    # Contract: one request per stream, acked by method name (rs.sub.depth carries no symbol).
    lin = a.subscriptions(["BTC/USDT:USDT"], ["book", "trades", "candles"])
    assert [(s.route, s.stream) for s in lin] == [
        ("linear", "sub.depth:BTC_USDT"),
        ("linear", "sub.deal:BTC_USDT"),
        ("linear", "sub.kline:BTC_USDT"),
    ]
    reqs = a.subscribe_requests(lin, iter(range(1, 9)).__next__)
    assert [json.loads(r.payload) for r in reqs] == [
        {"method": "sub.depth", "param": {"symbol": "BTC_USDT", "compress": False}},
        {"method": "sub.deal", "param": {"symbol": "BTC_USDT"}},
        {"method": "sub.kline", "param": {"symbol": "BTC_USDT", "interval": "Min1"}},
    ]
    ack_lines = [
        json.loads(x) for x in DOCS_TIER.read_text().splitlines() if '"channel":"rs.sub.' in x
    ]
    dec = core.Decoder("mexc", market="linear")
    topics = {r.topic for line in ack_lines for r in dec.feed(json.dumps(line).encode())}
    assert {"sub.depth", "sub.deal", "sub.kline"} <= topics
    assert [r.acks for r in reqs] == [
        frozenset({t}) for t in ("sub.depth", "sub.deal", "sub.kline")
    ]
    # Keepalive per route: PING (spot) and ping (contract), answered as each venue answers.
    assert a.keepalive() == Keepalive(20.0, b'{"method":"PING"}')
    targets = {r: asyncio.run(a.connect_target(None, r)) for r in ("spot", "linear")}  # type: ignore[arg-type]
    assert targets == {
        "spot": ConnectTarget("wss://wbs-api.mexc.com/ws", Keepalive(20.0, b'{"method":"PING"}')),
        "linear": ConnectTarget(
            "wss://contract.mexc.com/edge", Keepalive(20.0, b'{"method":"ping"}')
        ),
    }
    (pong,) = core.Decoder("mexc").feed(b'{"id":0,"code":0,"msg":"PONG"}')
    assert pong.kind == "pong"
    (pong,) = core.Decoder("mexc", market="linear").feed(b'{"channel":"pong","data":1}')
    assert pong.kind == "pong"
    # A simulator base serves both routes.
    sim = Mexc(base_url="http://127.0.0.1:9")
    assert (sim.ws_url("spot"), sim.ws_url("linear")) == (
        "ws://127.0.0.1:9/ws",
        "ws://127.0.0.1:9/edge",
    )
    assert a.snapshot_request("SOL/USDT") == (
        "https://api.mexc.com/api/v3/depth",
        {"symbol": "SOLUSDT", "limit": "1000"},
    )
    assert sim.snapshot_request("BTC/USDT:USDT") == (
        "http://127.0.0.1:9/api/v1/contract/depth/BTC_USDT",
        {"limit": "1000"},
    )


def test_bad_channel_symbol_option_and_market_before_connecting():
    with pytest.raises(ValueError, match="'orderbook'"):
        Feed("mexc", ["BTC/USDT"], ["orderbook"])
    with pytest.raises(ValueError, match="BTC/USD:BTC"):
        Feed("mexc", ["BTC/USD:BTC"], ["book"])
    with pytest.raises(ValueError, match="'bbo'"):
        Mexc().subscriptions(["BTC/USDT:USDT"], ["bbo"])
    with pytest.raises(ValueError, match="rate"):
        Mexc(options={"rate": "1ms"})
    with pytest.raises(ValueError, match="inverse"):
        core.Decoder("mexc", market="inverse")


def test_instruments_parsed_from_the_docs_examples():
    body = (FIXTURES / "docs_exchangeinfo_spot.json").read_text()
    (entry,) = json.loads(body)["symbols"]
    (spot,) = spot_instrument_dicts(body)
    assert spot == {
        "market_id": entry["symbol"],
        "symbol": f"{entry['baseAsset']}/{entry['quoteAsset']}",
        "tick_size": str(Decimal(1).scaleb(-entry["quotePrecision"])),
        "lot_size": str(Decimal(1).scaleb(-entry["baseAssetPrecision"])),
        "active": entry["status"] == "1",
    }
    # The contract list: the docs-tier `push.contract` entry has the contract/detail shape.
    detail = next(
        json.loads(x)["data"]
        for x in DOCS_TIER.read_text().splitlines()
        if '"channel":"push.contract"' in x
    )
    reply = json.dumps({"success": True, "code": 0, "data": [detail]})
    (lin,) = contract_instrument_dicts(reply)
    assert lin == {
        "market_id": detail["symbol"],
        "symbol": f"{detail['baseCoin']}/{detail['quoteCoin']}:{detail['settleCoin']}",
        "tick_size": str(detail["priceUnit"]),
        "lot_size": str(detail["volUnit"]),
        "contract_size": str(detail["contractSize"]),
        "active": detail["state"] == 0,
    }
    with pytest.raises(Exception, match="510"):
        contract_instrument_dicts('{"success":false,"code":510,"message":"too frequent"}')
    with pytest.raises(Exception, match="-1121"):
        spot_instrument_dicts('{"code":-1121,"msg":"Invalid symbol."}')


# --- decoder on the recording ------------------------------------------------------------------


@pytest.mark.parametrize("path", [LEGACY, TRANSCODED], ids=["json-v3", "protobuf"])
def test_decoder_replays_the_recording_into_the_recorded_book(path: Path):
    dec = core.Decoder("mexc", market="spot")
    events: list[Any] = []
    for frame, binary in binary_frames(path):
        events.extend(dec.feed(frame, binary=binary))
    st = dec.stats()
    n_snap = sum(".limit.depth." in f["c"] for f in legacy())
    assert (st["gaps"], st["bad_frames"]) == (0, 0)
    stale = n_snap - 1  # every 10-level snapshot after the first repeats a version reached
    assert (st["snapshots"], st["stale_snapshots"]) == (1, stale)
    assert st["deltas_applied"] == len(legacy()) - n_snap
    assert not [e for e in events if isinstance(e, core.SyncLost)]
    bids, asks = reference_book()
    book = dec.book("SOL/USDT")
    assert [tuple(x) for x in book.bids(100)] == [(float(p), float(s)) for p, s in bids]
    assert [tuple(x) for x in book.asks(100)] == [(float(p), float(s)) for p, s in asks]
    (bid, ask) = book.exact_top()
    assert tuple(map(Decimal, bid)) == bids[0] and tuple(map(Decimal, ask)) == asks[0]
    updates = [e.sequence for e in events if isinstance(e, core.BookUpdate)]
    assert updates[-1] == int(legacy()[-1]["d"]["r"])


def test_docs_protobuf_examples_decode_through_python():
    dec = core.Decoder("mexc")
    kinds: dict[str, int] = {}
    for frame, binary in binary_frames(DOCS_PB):
        for ev in dec.feed(frame, binary=binary):
            kinds[type(ev).__name__] = kinds.get(type(ev).__name__, 0) + 1
    assert dec.stats()["bad_frames"] == 0
    assert {"Trade", "Candle", "BBO", "ControlReply"} <= set(kinds)


def test_frames_of_another_venue_or_version_are_frame_errors():
    okx = (FIXTURES.parent / "okx").glob("*.jsonl")
    foreign = next(iter(sorted(okx))).read_bytes().splitlines()[0]
    contract = next(x for x in DOCS_TIER.read_bytes().splitlines() if b'"push.depth"' in x)
    pb, _ = binary_frames(TRANSCODED)[0]
    spot = core.Decoder("mexc")
    for frame, binary in (
        (foreign, False),
        (contract, False),
        (pb, False),
        (LEGACY.read_bytes().splitlines()[0], True),
        (pb[:-3], True),
    ):
        with pytest.raises(FrameError):
            spot.feed(frame, binary=binary)
    assert spot.stats()["bad_frames"] == 5 and spot.symbols() == []
    linear = core.Decoder("mexc", market="linear")
    with pytest.raises(FrameError, match="binary"):
        linear.feed(pb, binary=True)


def test_replay_cli_on_the_recording():
    stats = replay_stats(LEGACY, "mexc", "--market", "spot")
    n_snap = sum(".limit.depth." in f["c"] for f in legacy())
    assert (stats["frames"], stats["gaps"], stats["bad_lines"]) == (len(legacy()), 0, [])
    book = stats["books"]["SOL/USDT"]
    assert (book["synced"], book["snapshots"], book["deltas_applied"]) == (
        True,
        1,  # the later 10-level snapshots repeat a version the book reached: stale
        len(legacy()) - n_snap,
    )
    assert book["sequence"] == int(legacy()[-1]["d"]["r"])


# --- the bench bot ------------------------------------------------------------------------------


def test_bench_bot_agrees_with_the_decoder_on_the_protobuf_recording():
    pytest.importorskip("google.protobuf")
    from tickwire.bench.venue_bots import BOTS

    bot = BOTS["mexc"]()
    dec = core.Decoder("mexc")
    for frame, binary in binary_frames(TRANSCODED):
        bot.feed(frame)
        dec.feed(frame, binary=binary)
    book = dec.book("SOL/USDT")
    assert bot.tops() == {"SOL/USDT": (book.best_bid, book.best_ask)}
    assert bot.depths() == {"SOL/USDT": (len(book.bids(100)), len(book.asks(100)))}


# --- live path on the simulator ---------------------------------------------------------------

SYMBOL = "SOL/USDT"
AGGRE = "spot@public.aggre.depth.v3.api.pb@100ms@SOLUSDT"


async def _run_feed(
    faults: Sequence[Any] = (), speed: float = 4.0, options: dict[str, Any] | None = None
) -> tuple[list[Any], dict[str, Any], Any, Simulator]:
    """Replay the packaged protobuf recording through a Feed of SOL/USDT's book (subscribed
    before the replay starts); returns the events, the stats, the final book and the
    simulator."""
    async with Simulator("mexc", speed=speed, autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "mexc",
            [SYMBOL],
            ["book"],
            base_url=sim.rest_url,
            options=options,
            on_event=events.append,
        )
        await replay_through_feed(sim, feed, faults)
        book = feed.book(SYMBOL)
        result = (book.bids(10_000), book.asks(10_000))
        stats = feed.stats()
        await feed.close()
        return events, stats, result, sim


def _assert_book_is_the_recordings(book: Any) -> None:
    """The Feed's book (a REST snapshot at some replay position, then the deltas after it) is
    the recording's book (:func:`reference_book`), level for level."""
    assert_book_equal(book, reference_book())


def test_feed_book_equals_the_recording(run):
    events, stats, book, sim = run(_run_feed())
    _assert_book_is_the_recordings(book)
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["bad_frames"] == 0
    assert sim.rest_requests >= 1  # the book was bridged from a REST snapshot


def test_feed_recovers_from_a_gap_with_a_rest_snapshot(run):
    events, _stats, book, _ = run(_run_feed([Drop(stream=AGGRE, skip=1)]))
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert [(g.symbol, g.reason) for g in gaps] == [(SYMBOL, "gap")]
    resynced = [e for e in events if isinstance(e, Resynced) and e.reason == "gap"]
    assert [r.symbol for r in resynced] == [SYMBOL]
    _assert_book_is_the_recordings(book)


def test_subscription_error_with_mexc_code(run):
    # The 10 ms stream is not in the recording: the simulator refuses it as MEXC refuses a
    # channel it does not serve ("Not Subscribed successfully! [..]", code 0).
    with pytest.raises(SubscriptionError) as info:
        run(_run_feed(options={"rate": "10ms"}))
    assert info.value.code == 0
    assert "spot@public.aggre.depth.v3.api.pb@10ms@SOLUSDT" in str(info.value)


def test_replay_cli_on_the_protobuf_recording():
    stats = replay_stats(TRANSCODED, "mexc", "--market", "spot")
    n_snap = sum(".limit.depth." in f["c"] for f in legacy())
    assert (stats["frames"], stats["gaps"], stats["bad_lines"]) == (len(legacy()), 0, [])
    book = stats["books"]["SOL/USDT"]
    assert (book["snapshots"], book["deltas_applied"]) == (1, len(legacy()) - n_snap)


# --- contract (mexc-linear) on the simulator -------------------------------------------------
# The simulator's contract recording is DOCS-DERIVED (tests/fixtures/mexc/
# build_contract_fixture.py: no capture of MEXC's contract stream exists): it proves the
# protocol path (subscribe and acks, REST bridge, the version chain, gaps, errors), not books
# against MEXC's own data.

CONTRACT = FIXTURES / "docs_contract_btcusdt.jsonl"
LINEAR_SYMBOL = "BTC/USDT:USDT"


def contract_reference() -> tuple[
    list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]], int
]:
    """BTC_USDT after the contract fixture by MEXC's documented rules (a ``push.depth.full``
    replaces the book; ``push.depth`` rows set absolute contract counts, 0 deletes; each
    ``version`` the previous + 1): (bids high to low, asks low to high, last version)."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    version = 0
    for line in CONTRACT.read_text().splitlines():
        f = json.loads(line, parse_float=Decimal)
        if f["channel"] not in ("push.depth", "push.depth.full"):
            continue
        if f["channel"] == "push.depth.full":
            bids, asks = {}, {}
        else:
            assert f["data"]["version"] == version + 1
        version = f["data"]["version"]
        for side, key in ((bids, "bids"), (asks, "asks")):
            for p, q, *_ in f["data"][key]:
                if q == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
    return sorted(bids.items(), reverse=True), sorted(asks.items()), version


def test_contract_fixture_is_what_its_builder_makes():
    """The checked-in docs-derived contract session is exactly the builder's deterministic
    output (so its SOURCES.md description holds), and the packaged copy is the same bytes."""
    import gzip
    import importlib.util

    spec = importlib.util.spec_from_file_location("build", FIXTURES / "build_contract_fixture.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    lines, receive = build.build()
    assert CONTRACT.read_text().splitlines() == lines
    ts = CONTRACT.with_suffix(".ts").read_text().split()
    assert [int(t) for t in ts] == receive
    packaged = Path(core.__file__).parent / "data" / "mexc" / "docs_contract_btcusdt.jsonl.gz"
    assert gzip.decompress(packaged.read_bytes()).decode().splitlines() == lines


async def _run_contract_feed(
    faults: Sequence[Any] = (), symbols: Sequence[str] = (LINEAR_SYMBOL,), validate: bool = True
) -> tuple[list[Any], dict[str, Any], Any, Simulator]:
    async with Simulator("mexc-linear", speed=4.0, autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "mexc",
            list(symbols),
            ["book", "trades"],
            base_url=sim.rest_url,
            on_event=events.append,
            validate_symbols=validate,
        )
        await replay_through_feed(sim, feed, faults)
        book = feed.book(symbols[0])
        result = (book.bids(10_000), book.asks(10_000), book.sequence)
        stats = feed.stats()
        await feed.close()
        return events, stats, result, sim


def test_contract_feed_book_and_trades_equal_the_fixture(run):
    from tickwire import Trade

    events, stats, (bids, asks, seq), sim = run(_run_contract_feed())
    want_bids, want_asks, version = contract_reference()
    assert_book_equal((bids, asks), (want_bids, want_asks))
    assert seq == version
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["bad_frames"] == 0 and sim.rest_requests >= 1
    deals = [
        d
        for line in CONTRACT.read_text().splitlines()
        if (f := json.loads(line, parse_float=Decimal))["channel"] == "push.deal"
        for d in f["data"]
    ]
    trades = [e for e in events if isinstance(e, Trade)]
    assert [(t.decimal("price"), t.decimal("size"), t.side) for t in trades] == [
        (d["p"], Decimal(d["v"]), "buy" if d["T"] == 1 else "sell") for d in deals
    ]


def test_contract_feed_recovers_from_a_dropped_delta(run):
    events, _stats, (bids, asks, seq), _ = run(
        _run_contract_feed([Drop(stream="sub.depth:BTC_USDT", skip=5)])
    )
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert [(g.symbol, g.reason) for g in gaps] == [(LINEAR_SYMBOL, "gap")]
    assert [e.symbol for e in events if isinstance(e, Resynced) and e.reason == "gap"] == [
        LINEAR_SYMBOL
    ]
    want_bids, want_asks, version = contract_reference()
    assert_book_equal((bids, asks), (want_bids, want_asks))
    assert seq == version


def test_contract_unknown_symbol_is_refused_before_connecting_or_by_mexcs_reply(run):
    # ETH_USDT is a well-formed contract id the simulator's contract/detail does not list: the
    # Feed names it before connecting; unchecked, the subscribe gets MEXC's own refusal
    # (rs.error "Contract doesn't exist!") as a SubscriptionError.
    _exc, connections = run(
        feed_start_error(
            "mexc-linear",
            "mexc",
            ["ETH/USDT:USDT"],
            ValueError,
            match="ETH_USDT is not listed in the mexc linear instruments",
        )
    )
    assert connections == 0
    with pytest.raises(SubscriptionError, match="Contract doesn't exist"):
        run(_run_contract_feed(symbols=("ETH/USDT:USDT",), validate=False))


def test_simulate_cli_serves_the_contract_market():
    from cli_helpers import Running

    proc = Running("simulate", "-m", "mexc-linear", "--port", "0")
    line = proc.wait_for("/edge")
    code, out, _err = proc.interrupt()
    assert "/api/v1/contract/depth/BTC_USDT" in out, out
    assert code in (0, 130), out
    assert "ws://" in line
