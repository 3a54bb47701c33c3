"""BitUnix futures (``bitunix``, market ``linear``): the adapter, the decoder on the fixture, the
simulator venue and the live path (``tw.Feed`` against the simulator replaying the packaged
copy).

DOCS-DERIVED: no BitUnix recording exists. The fixture (tests/fixtures/bitunix, see SOURCES.md)
is built by ``make_fixtures.py`` in the shapes of the official futures WebSocket docs:
``depth_book15`` whole books, ``trade``, ``tickers``, ``market_kline_1min`` for BTCUSDT and
ETHUSDT, the ``connect`` greeting and ping replies. These tests prove tickwire against the
documented protocol, not against live BitUnix output. Every expected value is derived here from
the fixture files (parsed with the stdlib).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tickwire._core as core
from tickwire import FrameError
from tickwire.events import GapDetected
from tickwire.exchanges import Keepalive, get_adapter
from tickwire.exchanges.bitunix import Bitunix, instrument_dicts, unified_symbol
from tickwire.feed import Feed
from tickwire.simulator import Simulator
from tickwire.simulator.faults import Drop, ForceSnapshot, Garbage
from venue_helpers import (
    assert_book_equal,
    feed_books,
    feed_start_error,
    replay_stats,
    replay_through_feed,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bitunix"
REC = FIXTURES / "docs_derived_linear_btcusdt_ethusdt.jsonl"
SENT = FIXTURES / "docs_derived_linear_btcusdt_ethusdt.client_sent.jsonl"
PAIRS = FIXTURES / "trading_pairs.json"
DOCS_TIER = FIXTURES / "docs_tier" / "futures_kline_push_example.jsonl"

Side = list[tuple[Decimal, Decimal]]


def frames() -> list[dict[str, Any]]:
    return [json.loads(line) for line in REC.read_text().splitlines()]


def subscribed_ids() -> list[str]:
    """Every symbol the fixture's client subscribed."""
    ids: dict[str, None] = {}
    for line in SENT.read_text().splitlines():
        msg = json.loads(line)
        for arg in msg.get("args", []):
            ids[arg["symbol"]] = None
    return list(ids)


def last_books(upto: int | None = None) -> dict[str, tuple[Side, Side]]:
    """Unified symbol -> (bids, asks) of the last ``depth_book15`` push of each symbol (in the
    first ``upto`` frames): each push is the venue's whole top of book."""
    out: dict[str, tuple[Side, Side]] = {}
    for f in frames()[:upto]:
        if f.get("ch") != "depth_book15":
            continue
        side = [[(Decimal(p), Decimal(s)) for p, s in f["data"][k]] for k in ("b", "a")]
        out[unified_symbol(f["symbol"]) or ""] = (side[0], side[1])
    return out


# --- adapter ---------------------------------------------------------------------------------
def test_symbols_both_ways_on_every_fixture_symbol():
    a = Bitunix()
    ids = subscribed_ids()
    assert ids == ["BTCUSDT", "ETHUSDT"]
    for mid in ids:
        symbol = unified_symbol(mid)
        assert symbol == f"{mid[:-4]}/USDT:USDT"
        assert a.market_id(symbol) == mid
        assert a.market_of(symbol) == "linear"
        assert core.unified_symbol("bitunix", mid) == symbol
        assert core.market_id("bitunix", symbol) == mid
    for bad in ("BTCUSDT", "BTC/USDT", "BTC/USD:BTC", "BTC/USDT:BTC", "btc/usdt:usdt"):
        with pytest.raises(ValueError, match="unknown symbol"):
            a.market_id(bad)


def test_subscriptions_requests_and_keepalive_match_what_the_client_sent():
    a = get_adapter("bitunix")
    symbols = [unified_symbol(i) or "" for i in subscribed_ids()]
    subs = a.subscriptions(symbols, ["book", "trades", "candles", "bbo"])
    assert {s.route for s in subs} == {"linear"}
    assert a.ws_url("linear") == "wss://fapi.bitunix.com/public/"
    (req,) = a.subscribe_requests(subs, iter(range(1, 100)).__next__)
    sent = json.loads(SENT.read_text().splitlines()[0])
    body = json.loads(req.payload)
    key = lambda arg: (arg["symbol"], arg["ch"])  # noqa: E731
    assert body["op"] == sent["op"] == "subscribe"
    assert sorted(map(key, body["args"])) == sorted(map(key, sent["args"]))
    assert req.acks == frozenset()  # the docs show no reply: done once sent
    assert req.streams == tuple(s.stream for s in subs)
    (unsub,) = a.unsubscribe_requests(subs[:1], iter(range(1, 100)).__next__)
    assert json.loads(unsub.payload) == {"op": "unsubscribe", "args": body["args"][:1]}
    ka = a.keepalive()
    assert isinstance(ka, Keepalive) and ka.interval_s == 10.0 and callable(ka.payload)
    pings = [json.loads(x) for x in SENT.read_text().splitlines()[1:]]
    # Each send is stamped with its own time (Unix seconds, as the docs' example).
    before = int(time.time())
    ping = json.loads(ka.payload())
    assert set(ping) == set(pings[0]) == {"op", "ping"}
    assert before <= ping["ping"] <= int(time.time())
    target = asyncio.run(a.connect_target(None, "linear"))  # type: ignore[arg-type]
    assert target.url == "wss://fapi.bitunix.com/public/"
    assert target.keepalive is not None and target.keepalive.interval_s == 10.0
    # Limits: 300 channels per connection; requests of at most streams_per_message args.
    many = a.subscriptions([f"C{i}/USDT:USDT" for i in range(200)], ["book", "trades"])
    assert [len(s) for s in a.shards(many)] == [300, 100]
    reqs = a.subscribe_requests(many, iter(range(1, 1000)).__next__)
    assert sum(len(json.loads(r.payload)["args"]) for r in reqs) == 400
    assert max(len(json.loads(r.payload)["args"]) for r in reqs) <= a.limits.streams_per_message
    assert a.limits.control_msgs_per_s < 5  # BitUnix allows 5 messages per second


def test_bad_channel_symbol_option_and_market_before_connecting():
    with pytest.raises(ValueError, match="'orderbook'"):
        Feed("bitunix", ["BTC/USDT:USDT"], ["orderbook"])
    with pytest.raises(ValueError, match="BTC/USDT"):
        Feed("bitunix", ["BTC/USDT"], ["book"])
    with pytest.raises(ValueError, match="depth_book20"):
        Bitunix(options={"book_channel": "depth_book20"})
    with pytest.raises(ValueError, match="1m"):
        Bitunix(options={"candle_interval": "1m"})
    with pytest.raises(ValueError, match="spot"):
        core.Decoder("bitunix", market="spot")


def test_instruments_reply_parsed():
    body = PAIRS.read_text()
    entries = json.loads(body)["data"]
    assert instrument_dicts(body) == [
        {
            "market_id": e["symbol"],
            "symbol": f"{e['base']}/{e['quote']}:{e['quote']}",
            "tick_size": str(Decimal(1).scaleb(-e["quotePrecision"])),
            "lot_size": format(Decimal(1).scaleb(-e["basePrecision"]), "f"),
            "active": e["symbolStatus"] == "OPEN",
        }
        for e in entries
    ]
    with pytest.raises(Exception, match="20001"):
        instrument_dicts(json.dumps({"code": 20001, "msg": "Market not exists", "data": None}))


# --- decoder on the fixture ---------------------------------------------------------------------
def test_decoder_replays_the_fixture_books_equal_the_last_push():
    dec = core.Decoder("bitunix", market="linear")
    events: list[Any] = []
    for line in REC.read_bytes().splitlines():
        events.extend(dec.feed(line))
    st = dec.stats()
    pushes = [f for f in frames() if f.get("ch") == "depth_book15"]
    assert (st["bad_frames"], st["gaps"], st["snapshots"]) == (0, 0, len(pushes))
    assert not [e for e in events if isinstance(e, core.SyncLost)]
    for symbol, (bids, asks) in last_books().items():
        book = dec.book(symbol)
        assert [tuple(x) for x in book.bids(100)] == [(float(p), float(s)) for p, s in bids]
        assert [tuple(x) for x in book.asks(100)] == [(float(p), float(s)) for p, s in asks]
    trades = [e for e in events if isinstance(e, core.Trade)]
    assert len(trades) == sum(len(f["data"]) for f in frames() if f.get("ch") == "trade")
    docs = DOCS_TIER.read_bytes().strip()
    (candle,) = core.Decoder("bitunix").feed(docs)
    assert isinstance(candle, core.Candle)


def test_frames_of_another_venue_are_frame_errors():
    """An OKX frame, a Binance frame and a cut BitUnix push are each a ``FrameError`` naming
    the field, and change nothing."""
    okx = (FIXTURES.parent / "okx").glob("*.jsonl")
    foreign = next(iter(sorted(okx))).read_bytes().splitlines()[0]
    binance = b'{"stream":"btcusdt@depth","data":{}}'
    cut = REC.read_bytes().splitlines()[1][:-2]
    dec = core.Decoder("bitunix")
    for frame, field in ((foreign, "event|arg"), (binance, "stream"), (cut, "truncated|json")):
        with pytest.raises(FrameError, match=field):
            dec.feed(frame)
    assert dec.stats()["bad_frames"] == 3 and dec.symbols() == []


def test_replay_cli_zero_bad_frames_and_gaps_on_every_fixture():
    for path in (REC, DOCS_TIER):
        stats = replay_stats(path, "bitunix", "--market", "linear")
        n = len(path.read_text().splitlines())
        assert (stats["frames"], stats["gaps"], stats["bad_lines"]) == (n, 0, [])
        assert stats["decoder"]["bad_frames"] == 0
    books = stats_books = replay_stats(REC, "bitunix")["books"]
    assert sorted(books) == sorted(last_books())
    assert all(b["synced"] and b["gaps"] == 0 for b in stats_books.values())


# --- live path on the simulator -----------------------------------------------------------------
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


async def _run_feed(
    faults: Sequence[object] = (), speed: float | str = "max", **feed_kwargs: Any
) -> tuple[list[Any], dict[str, Any], dict[str, Any], Simulator]:
    """Replay the packaged copy through a Feed of both books (subscribed before the replay
    starts); returns the events, the stats, the final books and the simulator."""
    async with Simulator("bitunix", speed=speed, autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "bitunix",
            SYMBOLS,
            ["book", "trades", "bbo", "candles"],
            base_url=sim.rest_url,
            on_event=events.append,
            **feed_kwargs,
        )
        await replay_through_feed(sim, feed, faults)
        books = feed_books(feed, SYMBOLS, 100)
        stats = feed.stats()
        await feed.close()
        return events, stats, books, sim


def _assert_books_equal_fixture(books: dict[str, Any]) -> None:
    for symbol, (bids, asks) in last_books().items():
        assert_book_equal(books[symbol], (bids, asks))


def test_feed_books_trades_bbos_and_candles_equal_the_fixture(run):
    events, stats, books, _ = run(_run_feed())
    _assert_books_equal_fixture(books)
    assert not [e for e in events if isinstance(e, GapDetected)]
    trades = [e for e in events if isinstance(e, core.Trade)]
    assert len(trades) == sum(len(f["data"]) for f in frames() if f.get("ch") == "trade")
    bbos = [e for e in events if isinstance(e, core.BBO)]
    assert len(bbos) == sum(len(f["data"]) for f in frames() if f.get("ch") == "tickers")
    candles = [e for e in events if isinstance(e, core.Candle)]
    assert len(candles) == sum(1 for f in frames() if f.get("ch") == "market_kline_1min")
    assert {c.interval for c in candles} == {"1min"}
    assert stats["bad_frames"] == 0


@pytest.mark.parametrize(
    "fault",
    [Drop(stream="depth_book15:BTCUSDT", skip=30), Garbage(after=200)],
    ids=["dropped-push", "garbage"],
)
def test_a_lost_or_corrupted_push_is_healed_by_the_next_without_a_gap(run, fault):
    """Every push is a whole book: a dropped push is not even noticeable, a corrupted one is a
    counted bad frame, and neither is a gap; the books end equal to the last pushes."""
    events, stats, books, _ = run(_run_feed([fault], speed=20.0))
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["bad_frames"] == isinstance(fault, Garbage)
    updates = [e for e in events if isinstance(e, core.BookUpdate) and e.symbol == SYMBOLS[0]]
    pushes = sum(1 for f in frames() if f.get("ch") == "depth_book15" and f["symbol"] == "BTCUSDT")
    if isinstance(fault, Drop):
        assert len(updates) == pushes - 1
    _assert_books_equal_fixture(books)


def test_a_push_sent_again_mid_stream_changes_nothing(run):
    events, stats, books, _ = run(
        _run_feed([ForceSnapshot(after=100, stream="depth_book15:BTCUSDT")])
    )
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["decoder_gaps"] == 0
    pushes = sum(1 for f in frames() if f.get("ch") == "depth_book15")
    assert stats["decoder_snapshots"] >= pushes + 1  # the pushes, and the one sent again
    _assert_books_equal_fixture(books)


def test_bad_subscribe_gets_bitunix_error_reply_counted(run):
    """BitUnix documents no subscribe reply, so a request is done once sent and cannot fail as
    ``SubscriptionError``; the simulator's error echo (BitUnix's code 20001 "Market not exists")
    is decoded as an error reply with that code and counted."""
    import aiohttp

    async def scenario() -> None:
        async with Simulator("bitunix", speed="max", autostart=False) as sim:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(sim.ws_url + "/public/")
                assert json.loads((await ws.receive()).data) == {
                    "op": "connect",
                    "data": {"result": True},
                }  # greeting
                arg = {"symbol": "FOOUSDT", "ch": "trade"}
                await ws.send_str(json.dumps({"op": "subscribe", "args": [arg]}))
                reply = (await ws.receive()).data
                await ws.close()
            (ev,) = core.Decoder("bitunix").feed(reply.encode())
            assert isinstance(ev, core.ControlReply)
            assert (ev.kind, ev.code, ev.topic) == ("error", 20001, "trade:FOOUSDT")
            feed = Feed(
                "bitunix",
                ["FOO/USDT:USDT"],
                ["trades"],
                base_url=sim.rest_url,
                validate_symbols=False,
            )
            async with feed:
                for _ in range(200):
                    if feed.stats()["control_errors"]:
                        break
                    await asyncio.sleep(0.01)
                assert feed.stats()["control_errors"] == 1

    run(scenario())


def test_unlisted_symbol_is_a_value_error_before_subscribing(run):
    _, connections = run(
        feed_start_error("bitunix", "bitunix", ["SOL/USDT:USDT"], ValueError, match="SOL/USDT:USDT")
    )
    assert connections == 0


def test_simulator_speaks_bitunix_on_the_socket(run):
    import aiohttp

    async def scenario() -> None:
        async with (
            Simulator("bitunix", speed="max", autostart=False) as sim,
            aiohttp.ClientSession() as http,
        ):
            ws = await http.ws_connect(sim.ws_url + "/public/")
            assert json.loads((await ws.receive()).data) == {
                "op": "connect",
                "data": {"result": True},
            }  # greeting
            await ws.send_str(json.dumps({"op": "ping", "ping": 1732519687}))
            pong = json.loads((await ws.receive()).data)
            assert (pong["op"], pong["pong"]) == ("ping", 1732519687) and "ping" in pong
            await ws.send_str(
                json.dumps(
                    {"op": "subscribe", "args": [{"symbol": "BTCUSDT", "ch": "depth_book7"}]}
                )
            )
            assert json.loads((await ws.receive()).data)["code"] == 10002
            await ws.send_str("{")
            assert json.loads((await ws.receive()).data)["code"] == 10002
            # depth_book5 is served from the recorded depth_book15 pushes, cut to 5 levels;
            # tickers only carry the symbols subscribed.
            args = [
                {"symbol": "BTCUSDT", "ch": "depth_book5"},
                {"symbol": "BTCUSDT", "ch": "tickers"},
            ]
            await ws.send_str(json.dumps({"op": "subscribe", "args": args}))
            sim.start_replay()
            seen: set[str] = set()
            while seen != {"depth_book5", "tickers"}:
                msg = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                seen.add(msg["ch"])
                if msg["ch"] == "depth_book5":
                    assert len(msg["data"]["b"]) == len(msg["data"]["a"]) == 5
                else:
                    assert [e["s"] for e in msg["data"]] == ["BTCUSDT"]
            await ws.close()
            async with http.get(sim.rest_url + "/api/v1/futures/market/trading_pairs") as r:
                pairs = await r.json()
            fixture = json.loads(PAIRS.read_text())["data"]
            got = {(e["symbol"], e["basePrecision"], e["quotePrecision"]) for e in pairs["data"]}
            assert got == {(e["symbol"], e["basePrecision"], e["quotePrecision"]) for e in fixture}

    run(scenario())
