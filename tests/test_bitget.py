"""Bitget (``bitget``): the adapter, the decoder on the real recordings, the simulator venue and
the live path (``tw.Feed`` against the simulator replaying the packaged recordings).

The recordings (tests/fixtures/bitget, see SOURCES.md) are two 2022 v1 connections: spot (7
symbols) and mix (DASHUSDT), each with ``books`` (snapshot + updates with checksums),
``ticker``, ``trade`` and ``candle1m``. Every expected value is derived here from those files
(parsed with the stdlib), or from the v2 docs-tier examples in tests/fixtures/bitget/docs_tier.
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
from tickwire.events import GapDetected, Resynced
from tickwire.exchanges import Keepalive, get_adapter
from tickwire.exchanges.bitget import Bitget, contract_dicts, spot_dicts, unified_symbol
from tickwire.feed import Feed
from tickwire.simulator import Simulator
from tickwire.simulator.faults import BadChecksum, Drop, ForceSnapshot
from venue_helpers import (
    assert_book_equal,
    feed_books,
    feed_start_error,
    replay_stats,
    replay_through_feed,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bitget"
SPOT = FIXTURES / "spot_v1_books_ticker_trade_candle_checksum_7sym_20220407.jsonl"
MIX = FIXTURES / "mix_v1_books_ticker_trade_candle_checksum_dashusdt_20220407.jsonl"
RECS = {"spot": SPOT, "linear": MIX}
SIM = {"spot": "bitget", "linear": "bitget-linear"}
DOCS = FIXTURES / "docs_tier" / "jkorf_v2_examples.jsonl"

Books = dict[str, tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]]


def frames(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def inst_ids(path: Path) -> list[str]:
    return list(dict.fromkeys(f["arg"]["instId"] for f in frames(path)))


def final_books(path: Path) -> Books:
    """instId -> (bids high to low, asks low to high) after the whole recording, by Bitget's
    rules (snapshot replaces, absolute sizes, 0 deletes)."""
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
    for f in frames(path):
        if f["arg"]["channel"] != "books" or "data" not in f:
            continue
        inst = f["arg"]["instId"]
        for item in f["data"]:
            if f["action"] == "snapshot":
                books[inst] = ({}, {})
            for side, key in zip(books[inst], ("bids", "asks"), strict=True):
                for price, size in item[key]:
                    if Decimal(size) == 0:
                        side.pop(Decimal(price), None)
                    else:
                        side[Decimal(price)] = Decimal(size)
    return {i: (sorted(b.items(), reverse=True), sorted(a.items())) for i, (b, a) in books.items()}


def checksums_sent(path: Path) -> int:
    return sum(
        1
        for f in frames(path)
        for i in f.get("data", [])
        if isinstance(i, dict) and i.get("checksum", 0) != 0
    )


def items_of(path: Path, channel: str) -> int:
    return sum(
        len(f["data"]) for f in frames(path) if "data" in f and f["arg"]["channel"] == channel
    )


# --- adapter ---------------------------------------------------------------------------------
@pytest.mark.parametrize("market", ["spot", "linear"])
def test_symbols_both_ways_on_every_recorded_instrument(market: str) -> None:
    a = Bitget()
    for inst in inst_ids(RECS[market]):
        symbol = unified_symbol(inst, market)
        assert symbol is not None
        assert (a.market_id(symbol), a.market_of(symbol)) == (inst, market)
        # The Rust venue names it the same way.
        assert core.unified_symbol("bitget", inst, market) == symbol
        assert core.market_id("bitget", symbol, market) == inst
    for bad in ("BTCUSDT", "BTC/USD:BTC", "BTC/USDC:USDC", "btc/usdt", "BTC/"):
        with pytest.raises(ValueError, match="unknown symbol"):
            a.market_id(bad)


def test_subscriptions_requests_and_keepalive() -> None:
    a = get_adapter("bitget")
    subs = a.subscriptions(["EOS/USDT", "DASH/USDT:USDT"], ["book", "trades", "bbo", "candles"])
    assert [(s.route, s.stream) for s in subs[:4]] == [
        ("spot", "books:EOSUSDT"),
        ("spot", "trade:EOSUSDT"),
        ("spot", "ticker:EOSUSDT"),
        ("spot", "candle1m:EOSUSDT"),
    ]
    assert {s.route for s in subs[4:]} == {"linear"}
    assert a.ws_url("spot") == a.ws_url("linear") == "wss://ws.bitget.com/v2/ws/public"
    linear = [s for s in subs if s.route == "linear"]
    (req,) = a.subscribe_requests(linear, iter(range(1, 100)).__next__)
    body = json.loads(req.payload)
    assert body["op"] == "subscribe"
    assert body["args"][0] == {"instType": "USDT-FUTURES", "channel": "books", "instId": "DASHUSDT"}
    assert req.acks == frozenset(s.stream for s in linear) == frozenset(req.streams)
    (unsub,) = a.unsubscribe_requests(linear[:1], iter(range(1, 100)).__next__)
    assert json.loads(unsub.payload) == {"op": "unsubscribe", "args": body["args"][:1]}
    assert a.keepalive() == Keepalive(25.0, b"ping")
    # Per-request limits: 4096 bytes of payload, streams_per_message args; 50 per connection.
    many = a.subscriptions([f"C{n}/USDT" for n in range(300)], ["book", "trades"])
    reqs = a.subscribe_requests(many, iter(range(1, 10_000)).__next__)
    assert sum(len(r.acks) for r in reqs) == len(many)
    assert all(len(r.payload) <= 4096 for r in reqs)
    assert max(len(json.loads(r.payload)["args"]) for r in reqs) <= a.limits.streams_per_message
    assert max(len(shard) for shard in a.shards(many)) == 50


def test_bad_channel_symbol_option_and_market_before_connecting() -> None:
    with pytest.raises(ValueError, match="'orderbook'"):
        Feed("bitget", ["BTC/USDT"], ["orderbook"])
    with pytest.raises(ValueError, match="BTC/USD:BTC"):
        Feed("bitget", ["BTC/USD:BTC"], ["book"])
    with pytest.raises(ValueError, match="books50"):
        Bitget(options={"book_channel": "books50"})
    with pytest.raises(ValueError, match="candle_interval"):
        Bitget(options={"candle_interval": "1h"})
    with pytest.raises(ValueError, match="inverse"):
        core.Decoder("bitget", market="inverse")


def test_instruments_from_the_simulator_and_error_replies(run: Any) -> None:
    import aiohttp

    async def scenario() -> None:
        for market in ("spot", "linear"):
            async with (
                Simulator(SIM[market], speed="max", autostart=False) as sim,
                aiohttp.ClientSession() as http,
            ):
                got = await Bitget(base_url=sim.rest_url).fetch_instruments(http, market)
                assert [i["market_id"] for i in got] == inst_ids(RECS[market])
                for i in got:
                    assert i["symbol"] == unified_symbol(i["market_id"], market)
                    assert i["active"] is True
                    # The tick is one unit of the most price decimals the recording's book has.
                    prices = [
                        row[0]
                        for f in frames(RECS[market])
                        if f["arg"]["channel"] == "books"
                        and f["arg"]["instId"] == i["market_id"]
                        and "data" in f
                        for row in (*f["data"][0]["bids"], *f["data"][0]["asks"])
                    ]
                    places = max(len(p.partition(".")[2]) for p in prices)
                    assert Decimal(i["tick_size"]) == Decimal(1).scaleb(-places)

    run(scenario())
    for parse in (spot_dicts, contract_dicts):
        with pytest.raises(Exception, match="40019"):
            parse(json.dumps({"code": "40019", "msg": "Parameter productType error", "data": None}))


# --- decoder on the recordings -------------------------------------------------------------------
@pytest.mark.parametrize("market", ["spot", "linear"])
def test_decoder_replays_the_recording_with_every_checksum_verified(market: str) -> None:
    path = RECS[market]
    dec = core.Decoder("bitget", market=market)
    events: list[Any] = []
    for line in path.read_bytes().splitlines():
        events.extend(dec.feed(line))
    st = dec.stats()
    assert st["checksums_verified"] == checksums_sent(path) > 0
    assert (st["checksum_mismatches"], st["gaps"], st["bad_frames"]) == (0, 0, 0)
    assert not [e for e in events if isinstance(e, core.SyncLost)]
    assert sum(isinstance(e, core.Trade) for e in events) == items_of(path, "trade")
    assert sum(isinstance(e, core.Candle) for e in events) == items_of(path, "candle1m")
    assert sum(isinstance(e, core.BBO) for e in events) == items_of(path, "ticker")
    for inst, (bids, asks) in final_books(path).items():
        book = dec.book(unified_symbol(inst, market) or "")
        assert [tuple(x) for x in book.bids(10_000)] == [(float(p), float(s)) for p, s in bids]
        assert [tuple(x) for x in book.asks(10_000)] == [(float(p), float(s)) for p, s in asks]
        (bid, ask) = book.exact_top()
        top = tuple(Decimal(x) for x in (*bid, *ask))
        assert top == (*bids[0], *asks[0])


def test_frames_of_another_venue_market_or_version_are_frame_errors() -> None:
    """A Binance frame, a mix frame on the spot decoder, a UTA ("v3") frame and a cut frame are
    each a ``FrameError`` naming the field, and change nothing."""
    binance = sorted((FIXTURES.parent / "binance").glob("*.jsonl"))[0].read_bytes().splitlines()[0]
    mix = MIX.read_bytes().splitlines()[10]
    uta = next(
        x for x in DOCS.read_bytes().splitlines() if b'"topic":"books1"' in x and b'"data"' in x
    )
    cut = SPOT.read_bytes().splitlines()[40][:-2]
    dec = core.Decoder("bitget")
    for frame, field in (
        (binance, "stream"),
        (mix, "arg.instType"),
        (uta, "arg"),
        (cut, "truncated"),
    ):
        with pytest.raises(FrameError, match=field):
            dec.feed(frame)
    assert dec.stats()["bad_frames"] == 4 and dec.symbols() == []


def test_replay_cli_gives_no_bad_frame_and_no_gap_on_every_recording() -> None:
    for market, path in RECS.items():
        stats = replay_stats(path, "bitget", "--market", market)
        assert (stats["frames"], stats["gaps"], stats["bad_lines"]) == (len(frames(path)), 0, [])
        assert (stats["checksums_verified"], stats["checksum_mismatches"]) == (
            checksums_sent(path),
            0,
        )
        assert sorted(stats["books"]) == sorted(
            unified_symbol(i, market) for i in final_books(path)
        )


# --- live path on the simulator -----------------------------------------------------------------
async def _run_feed(
    market: str, faults: Sequence[object] = (), speed: float | str = "max"
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """Replay the packaged recording of ``market`` through a Feed of every recorded book
    (subscribed before the replay starts); returns the events, the stats and the final books."""
    symbols = [unified_symbol(i, market) or "" for i in final_books(RECS[market])]
    async with Simulator(SIM[market], speed=speed, autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "bitget",
            symbols,
            ["book", "trades", "bbo"],
            base_url=sim.rest_url,
            on_event=events.append,
        )
        await replay_through_feed(sim, feed, faults)
        books = feed_books(feed, symbols)
        stats = feed.stats()
        await feed.close()
        return events, stats, books


def _assert_books_equal_recording(market: str, books: dict[str, Any]) -> None:
    for inst, (bids, asks) in final_books(RECS[market]).items():
        assert_book_equal(books[unified_symbol(inst, market)], (bids, asks))


@pytest.mark.parametrize("market", ["spot", "linear"])
def test_feed_books_equal_the_recording(run: Any, market: str) -> None:
    events, stats, books = run(_run_feed(market))
    _assert_books_equal_recording(market, books)
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["decoder_checksums_verified"] == checksums_sent(RECS[market])
    assert sum(isinstance(e, core.Trade) for e in events) == items_of(RECS[market], "trade")


@pytest.mark.parametrize("fault", ["drop", "checksum"])
def test_feed_recovers_from_a_dropped_update_and_a_checksum_fault(run: Any, fault: str) -> None:
    # Bitget has no previous-sequence field: a dropped update shows as a checksum mismatch at
    # the book's next update. At 10x the recording's pace, the resubscribe round trip happens
    # while that book's updates keep coming, as live.
    f = (
        Drop(stream="books:EOSUSDT", skip=20)
        if fault == "drop"
        else BadChecksum(stream="books:EOSUSDT", skip=20)
    )
    events, stats, books = run(_run_feed("spot", [f], speed=10.0))
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert [(g.symbol, g.reason) for g in gaps] == [("EOS/USDT", "checksum")]
    resynced = [e for e in events if isinstance(e, Resynced)]
    assert [(r.symbol, r.reason) for r in resynced] == [("EOS/USDT", "checksum")]
    assert events.index(gaps[0]) < events.index(resynced[0])
    assert stats["resubscribes"] == 1 and stats["checksum_mismatches"] == 1
    _assert_books_equal_recording("spot", books)


def test_a_snapshot_sent_again_mid_stream_resets_the_book_without_a_gap(run: Any) -> None:
    events, stats, books = run(
        _run_feed("spot", [ForceSnapshot(after=200, stream="books:EOSUSDT")])
    )
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["decoder_snapshots"] == len(final_books(SPOT)) + 1
    assert stats["decoder_checksum_mismatches"] == 0
    _assert_books_equal_recording("spot", books)


def test_subscription_error_with_bitget_code(run: Any) -> None:
    err, _ = run(
        feed_start_error(
            "bitget", "bitget", ["ETH/USDT"], SubscriptionError, validate_symbols=False
        )
    )
    assert err.code == 30001
    assert "ETHUSDT" in str(err)


def test_unlisted_symbol_is_a_value_error_before_subscribing(run: Any) -> None:
    _, connections = run(
        feed_start_error(
            "bitget-linear", "bitget", ["ETH/USDT:USDT"], ValueError, match="ETH/USDT:USDT"
        )
    )
    assert connections == 0


# --- the simulator venue --------------------------------------------------------------------------
def test_simulator_snapshot_on_subscribe_is_the_recorded_book_at_every_position(run: Any) -> None:
    """The snapshot the simulated venue sends on subscribe, right after each recorded book
    frame, carries the checksum Bitget sent with that frame (so it is Bitget's book)."""

    async def scenario() -> None:
        async with Simulator("bitget", speed="max", autostart=False) as sim:
            venue = sim.venue
            checked = 0
            for line, stream in enumerate(sim.recording.line_stream):
                if not stream.startswith("books:"):
                    continue
                recorded = sim.recording.parsed(line)
                (payload,) = venue.on_subscribe(None, stream, line + 1)
                snap = json.loads(payload)
                assert snap["arg"] == recorded["arg"] and snap["action"] == "snapshot"
                assert snap["data"][0]["checksum"] == recorded["data"][0]["checksum"]
                checked += 1
            assert checked == checksums_sent(SPOT)
            assert venue.on_subscribe(None, "books:EOSUSDT", 0) == []

    run(scenario())


def test_simulator_speaks_bitget_on_the_socket(run: Any) -> None:
    import aiohttp

    async def scenario() -> None:
        async with (
            Simulator("bitget-linear", speed="max", autostart=False) as sim,
            aiohttp.ClientSession() as http,
        ):
            ws = await http.ws_connect(sim.ws_url + "/v2/ws/public")
            await ws.send_str("ping")
            assert (await ws.receive()).data == "pong"
            args = [
                {"instType": "USDT-FUTURES", "channel": "books", "instId": "DASHUSDT"},
                {"instType": "USDT-FUTURES", "channel": "trade", "instId": "DASHUSDT"},
            ]
            await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
            for arg in args:
                ack = json.loads((await ws.receive()).data)
                assert ack == {"event": "subscribe", "arg": arg}
            spot_arg = {"instType": "SPOT", "channel": "books", "instId": "DASHUSDT"}
            await ws.send_str(json.dumps({"op": "subscribe", "args": [spot_arg]}))
            err = json.loads((await ws.receive()).data)  # a spot arg on the futures simulator
            assert (err["event"], err["code"], err["arg"]) == ("error", 30001, spot_arg)
            # The decoder reads the error reply with its code and topic.
            (reply,) = core.Decoder("bitget", market="spot").feed(json.dumps(err).encode())
            assert (reply.kind, reply.code, reply.topic) == ("error", 30001, "books:DASHUSDT")
            await ws.send_str("{")
            assert json.loads((await ws.receive()).data)["code"] == 30016
            await ws.close()

    run(scenario())
