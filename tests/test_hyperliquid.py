"""Hyperliquid (``hyperliquid``): the adapter, the decoder on the real recordings, the simulator
venue and the live path (``tw.Feed`` against the simulator replaying the packaged recording).

The recordings (tests/fixtures/hyperliquid, see SOURCES.md): a 2025-01-26 connection with 46
whole-book ``l2Book`` pushes and 9 ``trades`` pushes of the BTC perp, and a 3-frame HYPE
excerpt (trades, an ``l2Book`` ack, a book). Every expected value is derived here from those
files (parsed with the stdlib); the ``spotMeta`` reply, of which no recording exists, is the
official docs' example shape (marked where used).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tickwire._core as core
from tickwire import FrameError, SubscriptionError
from tickwire.events import GapDetected
from tickwire.exchanges import get_adapter
from tickwire.exchanges.hyperliquid import (
    Hyperliquid,
    meta_instruments,
    perp_coin,
    spot_instruments,
)
from tickwire.feed import Feed
from tickwire.simulator import Simulator
from tickwire.simulator.faults import CloseAfter, Drop
from venue_helpers import assert_book_equal, feed_start_error, replay_stats, replay_through_feed

FIXTURES = Path(__file__).parent / "fixtures" / "hyperliquid"
BTC = FIXTURES / "l2book_trades_btc_20250126.jsonl"
HYPE = FIXTURES / "recorded_excerpt_hype_20250112.jsonl"
RECORDINGS = (BTC, HYPE)
SYMBOL = "BTC/USDC:USDC"

Side = list[tuple[Decimal, Decimal]]


def frames(path: Path = BTC) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def pushes(path: Path = BTC) -> list[dict[str, Any]]:
    """The ``data`` of every ``l2Book`` push, in order."""
    return [f["data"] for f in frames(path) if f["channel"] == "l2Book"]


def sides(push: dict[str, Any]) -> tuple[Side, Side]:
    """(bids, asks) of one push as exact values, best first (as sent)."""
    bids, asks = push["levels"]
    return (
        [(Decimal(lv["px"]), Decimal(lv["sz"])) for lv in bids],
        [(Decimal(lv["px"]), Decimal(lv["sz"])) for lv in asks],
    )


def recorded_trades(path: Path = BTC) -> list[dict[str, Any]]:
    return [t for f in frames(path) if f["channel"] == "trades" for t in f["data"]]


def _floats(side: Side) -> list[tuple[float, float]]:
    return [(float(p), float(s)) for p, s in side]


# --- adapter ---------------------------------------------------------------------------------
def test_symbols_both_ways_on_every_recorded_coin():
    a = Hyperliquid()
    coins = {f["data"]["coin"] for f in frames(BTC) + frames(HYPE) if f["channel"] == "l2Book"}
    assert coins == {"BTC", "HYPE"}
    for coin in coins:
        symbol = core.unified_symbol("hyperliquid", coin)
        assert symbol == f"{coin}/USDC:USDC"
        assert a.market_id(symbol) == perp_coin(symbol) == coin
        assert a.market_of(symbol) == "linear"
        assert core.market_id("hyperliquid", symbol) == coin
    assert a.market_of("HYPE/USDC") == "spot"
    for bad in ("BTCUSDC", "BTC/USDT:USDT", "BTC/USDC:BTC", "BTC", "B-TC/USDC:USDC"):
        with pytest.raises(ValueError, match="unknown symbol"):
            a.market_id(bad)
    # A spot pair's coin (@<n>) exists only in spotMeta: none fetched, none known.
    with pytest.raises(ValueError, match="spotMeta"):
        a.market_id("HYPE/USDC")


def test_subscriptions_requests_and_keepalive():
    a = get_adapter("hyperliquid")
    assert a.markets[0] == "linear"
    subs = a.subscriptions([SYMBOL], ["book", "trades", "bbo", "candles"])
    assert [(s.route, s.stream) for s in subs] == [
        ("linear", "l2Book:BTC/USDC:USDC"),
        ("linear", "trades:BTC/USDC:USDC"),
        ("linear", "bbo:BTC/USDC:USDC"),
        ("linear", "candle:BTC/USDC:USDC:1m"),
    ]
    assert a.ws_url("linear") == a.ws_url("spot") == "wss://api.hyperliquid.xyz/ws"
    reqs = a.subscribe_requests(subs, iter(range(1, 100)).__next__)
    assert [json.loads(r.payload) for r in reqs] == [
        {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}},
        {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}},
        {"method": "subscribe", "subscription": {"type": "bbo", "coin": "BTC"}},
        {
            "method": "subscribe",
            "subscription": {"type": "candle", "coin": "BTC", "interval": "1m"},
        },
    ]
    assert [r.acks for r in reqs] == [frozenset({s.stream}) for s in subs]
    (unsub,) = a.unsubscribe_requests(subs[:1], iter(range(1, 9)).__next__)
    assert json.loads(unsub.payload)["method"] == "unsubscribe"
    ka = a.keepalive()
    assert ka is not None and json.loads(ka.payload) == {"method": "ping"}
    assert ka.interval_s < 60  # the venue's idle cut


def test_ack_topics_of_the_rust_venue_are_the_adapter_streams():
    """The recorded ``l2Book`` ack (HYPE excerpt) yields the stream the adapter subscribes."""
    (ack_line,) = [ln for ln in HYPE.read_bytes().splitlines() if b"subscriptionResponse" in ln]
    (reply,) = core.Decoder("hyperliquid").feed(ack_line)
    (sub,) = Hyperliquid().subscriptions(["HYPE/USDC:USDC"], ["book"])
    assert (reply.kind, reply.topic) == ("ack", sub.stream)


def test_bad_channel_symbol_option_and_market_before_connecting():
    with pytest.raises(ValueError, match="channel 'depth'"):
        Feed("hyperliquid", [SYMBOL], ["depth"])
    with pytest.raises(ValueError, match=r"unknown symbol 'BTC/USDT:USDT'.*BTC/USDC:USDC"):
        Feed("hyperliquid", ["BTC/USDT:USDT"], ["book"])
    with pytest.raises(ValueError, match="candle_interval"):
        Hyperliquid(options={"candle_interval": "2m"})
    with pytest.raises(ValueError, match="inverse"):
        core.Decoder("hyperliquid", market="inverse")


def test_spot_instruments_from_the_docs_example_shape():
    """The official docs' ``spotMeta`` example (docs-derived: no spotMeta recording exists):
    ``@1`` is the pair of token 2 (HFUN, szDecimals 2) and USDC; PURR/USDC names itself."""
    body = json.dumps(
        {
            "tokens": [
                {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0},
                {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1},
                {"name": "HFUN", "szDecimals": 2, "weiDecimals": 8, "index": 2},
            ],
            "universe": [
                {"name": "PURR/USDC", "tokens": [1, 0], "index": 0, "isCanonical": True},
                {"tokens": [2, 0], "name": "@1", "index": 1, "isCanonical": False},
            ],
        }
    )
    got = {i["symbol"]: i for i in spot_instruments(body)}
    assert got["HFUN/USDC"] == {
        "market_id": "@1",
        "symbol": "HFUN/USDC",
        "tick_size": "0.000001",  # 8 - szDecimals decimals
        "lot_size": "0.01",
        "active": True,
    }
    assert (got["PURR/USDC"]["market_id"], got["PURR/USDC"]["lot_size"]) == ("PURR/USDC", "1")
    # The Rust venue with that table decodes @1 as HFUN/USDC (one parser serves both markets).
    table = [
        {k: i[k] for k in ("market_id", "symbol", "tick_size", "lot_size")} for i in got.values()
    ]
    dec = core.Decoder("hyperliquid", market="spot", instruments=table)
    push = BTC.read_text().splitlines()[0].replace('"coin":"BTC"', '"coin":"@1"')
    (ev,) = dec.feed(push.encode())
    assert ev.symbol == "HFUN/USDC"


# --- decoder on the recordings ------------------------------------------------------------------
def test_decoder_replaces_the_book_on_every_push():
    dec = core.Decoder("hyperliquid")
    events: list[Any] = []
    for line in BTC.read_bytes().splitlines():
        events.extend(dec.feed(line))
    st = dec.stats()
    assert (st["snapshots"], st["gaps"], st["bad_frames"]) == (len(pushes()), 0, 0)
    updates = [e for e in events if isinstance(e, core.BookUpdate)]
    assert [u.sequence for u in updates] == [p["time"] for p in pushes()]
    trades = [e for e in events if isinstance(e, core.Trade)]
    assert [(t.trade_id, str(t.price), str(t.size)) for t in trades] == [
        (t["tid"], t["px"], t["sz"]) for t in recorded_trades()
    ]
    assert [t.side for t in trades] == [
        "buy" if t["side"] == "B" else "sell" for t in recorded_trades()
    ]
    bids, asks = sides(pushes()[-1])
    book = dec.book(SYMBOL)
    assert [tuple(x) for x in book.bids(10_000)] == _floats(bids)
    assert [tuple(x) for x in book.asks(10_000)] == _floats(asks)
    (bid, ask) = book.exact_top()  # exact values (the book keeps no trailing zeros)
    assert [tuple(map(Decimal, bid)), tuple(map(Decimal, ask))] == [bids[0], asks[0]]


def test_an_older_push_arriving_late_is_dropped_by_its_time():
    """Two consecutive pushes swapped: the older, arriving second, is counted stale and the book
    stays the newer one; the clean recording (one push repeated with the same time) has none."""
    lines = BTC.read_bytes().splitlines()
    times = [json.loads(ln)["data"]["time"] if b'"l2Book"' in ln else None for ln in lines]
    a = next(
        n
        for n in range(len(lines) - 1)
        if None not in (times[n], times[n + 1]) and times[n] < times[n + 1]
    )
    dec = core.Decoder("hyperliquid")
    for line in [*lines[:a], lines[a + 1], lines[a]]:
        dec.feed(line)
    assert (dec.stats()["stale_snapshots"], dec.stats()["gaps"]) == (1, 0)
    bids, asks = sides(json.loads(lines[a + 1])["data"])
    assert [tuple(x) for x in dec.book(SYMBOL).bids(100)] == _floats(bids)
    assert [tuple(x) for x in dec.book(SYMBOL).asks(100)] == _floats(asks)
    clean = core.Decoder("hyperliquid")
    for line in lines:
        clean.feed(line)
    assert clean.stats()["stale_snapshots"] == 0


def test_frames_of_another_venue_or_version_are_frame_errors():
    """An OKX frame, a channel tickwire does not decode and a push cut short are each a
    ``FrameError`` naming the field, and change nothing."""
    okx = (FIXTURES.parent / "okx").glob("*.jsonl")
    foreign = next(iter(sorted(okx))).read_bytes().splitlines()[0]
    mids = b'{"channel":"allMids","data":{"mids":{"BTC":"1"}}}'
    cut = BTC.read_bytes().splitlines()[0][:-2]
    dec = core.Decoder("hyperliquid")
    for frame, field in ((foreign, "expected"), (mids, "channel"), (cut, "truncated")):
        with pytest.raises(FrameError, match=field):
            dec.feed(frame)
    assert dec.stats()["bad_frames"] == 3 and dec.symbols() == []


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_replay_cli_every_recording_is_clean(path: Path) -> None:
    stats = replay_stats(path, "hyperliquid", "--market", "linear")
    assert (stats["gaps"], stats["bad_lines"], stats["decoder"]["bad_frames"]) == (0, [], 0)
    assert stats["events"]["BookUpdate"] == len(pushes(path))
    assert stats["events"]["Trade"] == len(recorded_trades(path))


# --- live path on the simulator -----------------------------------------------------------------
async def _run_feed(
    faults: Sequence[object] = (), speed: float | str = "max", **feed_kwargs: Any
) -> tuple[list[Any], dict[str, Any], tuple[Any, Any], Simulator]:
    """Replay the packaged recording through a Feed of the BTC book and trades (subscribed
    before the replay starts); returns the events, the stats, the final book, the simulator."""
    async with Simulator("hyperliquid", speed=speed, autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "hyperliquid",
            [SYMBOL],
            ["book", "trades"],
            base_url=sim.rest_url,
            on_event=events.append,
            **feed_kwargs,
        )
        await replay_through_feed(sim, feed, faults)
        book = (feed.book(SYMBOL).bids(10_000), feed.book(SYMBOL).asks(10_000))
        stats = feed.stats()
        await feed.close()
        return events, stats, book, sim


def _assert_book_is_the_last_push(book: tuple[Any, Any]) -> None:
    assert_book_equal(book, sides(pushes()[-1]))


def test_feed_book_equals_the_recording(run):
    events, stats, book, _ = run(_run_feed())
    _assert_book_is_the_last_push(book)
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert len([e for e in events if isinstance(e, core.Trade)]) == len(recorded_trades())
    assert stats["decoder_snapshots"] == len(pushes())


def test_feed_a_lost_push_is_repaired_by_the_next(run):
    """A dropped push cannot be noticed (no sequence) and needs no repair: the next push is the
    whole book. A dropped connection reconnects, subscribes again and gets the book at once."""
    n = len(pushes())
    events, stats, book, _ = run(_run_feed([Drop(stream="l2Book:BTC", skip=n // 2)]))
    _assert_book_is_the_last_push(book)
    assert stats["decoder_snapshots"] == n - 1
    assert not [e for e in events if isinstance(e, GapDetected)]


def test_feed_recovers_from_a_disconnect(run):
    _events, stats, book, _ = run(_run_feed([CloseAfter(messages=20, abort=True)], speed=10.0))
    _assert_book_is_the_last_push(book)
    assert stats["reconnects"] == 1


def test_subscription_error_with_hyperliquid_text(run):
    err, _ = run(
        feed_start_error(
            "hyperliquid",
            "hyperliquid",
            ["ETH/USDC:USDC"],
            SubscriptionError,
            validate_symbols=False,
        )
    )
    assert err.code is None  # Hyperliquid errors are text only
    assert "Invalid subscription" in str(err) and '"ETH"' in str(err)


def test_unlisted_symbol_is_a_value_error_before_subscribing(run):
    """``POST /info {"type":"meta"}`` (the simulator lists the recorded perps) has no ETH, and
    ``{"type":"spotMeta"}`` no HYPE/USDC."""

    async def scenario() -> None:
        async with Simulator("hyperliquid", speed="max") as sim:
            feed = Feed("hyperliquid", ["ETH/USDC:USDC"], ["book"], base_url=sim.rest_url)
            with pytest.raises(ValueError, match=r"ETH/USDC:USDC.*meta"):
                await feed.start()
            await feed.close()
            # A spot pair is looked up in spotMeta (which lists no pair here).
            feed = Feed("hyperliquid", ["HYPE/USDC"], ["book"], base_url=sim.rest_url)
            with pytest.raises(ValueError, match=r"HYPE/USDC.*spotMeta"):
                await feed.start()
            await feed.close()
            assert sim.total_connections == 0

    run(scenario())


def test_instruments_over_post_info_set_the_book_scales(run):
    """The feed loads ``meta`` over ``POST /info``; the decoder's book of BTC gets its lot size
    (szDecimals) and the simulator answers a GET and an unknown type as Hyperliquid does."""
    import aiohttp

    async def scenario() -> None:
        async with Simulator("hyperliquid", speed="max") as sim, aiohttp.ClientSession() as http:
            a = Hyperliquid(base_url=sim.rest_url)
            (inst,) = await a.fetch_instruments(http, "linear")
            assert (inst["market_id"], inst["symbol"]) == ("BTC", SYMBOL)
            assert await a.fetch_instruments(http, "spot") == []
            async with http.get(sim.rest_url + "/info") as resp:
                assert resp.status == 405
            async with http.post(sim.rest_url + "/info", json={"type": "nope"}) as resp:
                assert resp.status == 422
            assert await a.unavailable_symbols(http, [SYMBOL, "ETH/USDC:USDC"]) == {
                "ETH/USDC:USDC": "ETH/USDC:USDC is not listed in hyperliquid meta"
            }

    run(scenario())


# --- the simulator venue --------------------------------------------------------------------------
def test_simulator_book_on_subscribe_is_the_recorded_push_at_every_position(run):
    async def scenario() -> None:
        async with Simulator("hyperliquid", speed="max", autostart=False) as sim:
            venue = sim.venue
            assert venue.on_subscribe(None, "l2Book:BTC", 0) == []
            book_lines = [n for n, s in enumerate(sim.recording.line_stream) if s == "l2Book:BTC"]
            for line in book_lines:
                (payload,) = venue.on_subscribe(None, "l2Book:BTC", line + 1)
                assert json.loads(payload) == sim.recording.parsed(line)
            meta = venue.meta()
            # szDecimals: the most decimals of the recorded BTC sizes.
            most = max(
                len(s.partition(".")[2].rstrip("0"))
                for s in [t["sz"] for t in recorded_trades()]
                + [lv["sz"] for p in pushes() for side in p["levels"] for lv in side]
            )
            assert meta == {"universe": [{"name": "BTC", "szDecimals": most}]}
            (inst,) = meta_instruments(json.dumps(meta))
            assert inst["lot_size"] == format(Decimal(1).scaleb(-most), "f")

    run(scenario())


def test_simulator_speaks_hyperliquid_on_the_socket(run):
    import aiohttp

    async def scenario() -> None:
        async with (
            Simulator("hyperliquid", speed="max", autostart=False) as sim,
            aiohttp.ClientSession() as http,
        ):
            ws = await http.ws_connect(sim.ws_url + "/ws")
            assert (await ws.receive()).data == "Websocket connection established."  # greeting
            await ws.send_str('{"method":"ping"}')
            assert json.loads((await ws.receive()).data) == {"channel": "pong"}
            sub = {"type": "trades", "coin": "BTC"}
            await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
            ack = json.loads((await ws.receive()).data)
            assert ack == {
                "channel": "subscriptionResponse",
                "data": {"method": "subscribe", "subscription": sub},
            }
            await ws.send_str("{")
            err = json.loads((await ws.receive()).data)
            assert err["channel"] == "error" and isinstance(err["data"], str)
            await ws.close()

    run(scenario())


def test_no_dedup_keys_because_trade_ids_are_not_ordered():
    """Rotation cannot order Hyperliquid trades by id: the recorded ``tid`` run goes down as
    well as up, and trades share a ``time``."""
    tids = [t["tid"] for t in recorded_trades()]
    times = [t["time"] for t in recorded_trades()]
    assert tids != sorted(tids)
    assert len(set(times)) < len(times)
    assert Hyperliquid().dedup_keys() == {}
