"""Gate v4 (exchange id ``gateio``, markets ``spot`` and ``linear``): the adapter, the decoder
on the real recordings (tests/fixtures/gateio, see tests/fixtures/SOURCES.md), the simulator's
protocol and ``tw.Feed`` end to end, and ``tickwire replay``.

Every expected value is derived in the test from the recorded lines and REST snapshots
themselves (parsed with the stdlib, books applied with ``Decimal`` by Gate's rule), never
written down by hand.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import tickwire as tw
from tickwire import FrameError, GapDetected, Resynced, SubscriptionError
from tickwire.exchanges import get_adapter
from tickwire.exchanges.gateio import parse_contracts, parse_currency_pairs
from tickwire.simulator import Simulator
from tickwire.simulator.faults import Drop
from venue_helpers import assert_book_equal, feed_books, replay_stats, replay_through_feed

FIXTURES = Path(__file__).parent / "fixtures" / "gateio"
SPOT_REC = FIXTURES / "spot_obupdate_tickers_trades_candles_8pairs_20210422.jsonl"
FUT_REC = FIXTURES / "futures_usdt_obupdate_bookticker_9contracts_20230524.jsonl"
RECORDINGS = {"spot": SPOT_REC, "linear": FUT_REC}


def _pushes(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _snapshot_files(market: str) -> dict[str, Path]:
    """Market id -> its REST snapshot file."""
    prefix = "spot" if market == "spot" else "futures"
    out = {}
    for p in FIXTURES.glob(f"{prefix}_order_book_snapshot_*.json"):
        pair = p.stem.removeprefix(f"{prefix}_order_book_snapshot_").rsplit("_", 1)[0]
        out[pair.upper()] = p
    return out


def _unified(market: str, market_id: str) -> str:
    base, quote = market_id.split("_")
    return f"{base}/{quote}" if market == "spot" else f"{base}/{quote}:{quote}"


def _level(row: Any) -> tuple[Decimal, Decimal]:
    if isinstance(row, dict):
        return Decimal(str(row["p"])), Decimal(str(row["s"]))
    return Decimal(row[0]), Decimal(str(row[1]))


def _final_books(market: str) -> dict[str, tuple[list[tuple[Decimal, Decimal]], ...]]:
    """Each recorded book after its REST snapshot and every later message by Gate's rule
    (``u <= id`` skipped, absolute sizes, 0 deletes), independently of tickwire."""
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal], int]] = {}
    for mid, path in _snapshot_files(market).items():
        snap = json.loads(path.read_text())
        books[mid] = (
            dict(_level(r) for r in snap["bids"]),
            dict(_level(r) for r in snap["asks"]),
            snap["id"],
        )
    for push in _pushes(RECORDINGS[market]):
        if not push["channel"].endswith("order_book_update") or push["event"] != "update":
            continue
        r = push["result"]
        bids, asks, last = books[r["s"]]
        if r["u"] <= last:
            continue
        assert r["U"] <= last + 1, "the recording's chain is contiguous"
        for side, rows in ((bids, r["b"]), (asks, r["a"])):
            for row in rows:
                price, size = _level(row)
                if size == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        books[r["s"]] = (bids, asks, r["u"])
    return {
        mid: (sorted(b.items(), reverse=True), sorted(a.items()))
        for mid, (b, a, _) in books.items()
    }


# --- adapter ----------------------------------------------------------------------------------
def test_adapter_urls_symbols_and_requests() -> None:
    a = get_adapter("gateio")
    assert a.ws_url("spot") == "wss://api.gateio.ws/ws/v4/"
    assert a.ws_url("linear") == "wss://fx-ws.gateio.ws/v4/ws/usdt"
    sim = get_adapter("gateio", base_url="http://127.0.0.1:9")
    assert sim.ws_url("linear") == "ws://127.0.0.1:9/v4/ws/usdt"
    assert a.market_of("OMG/USDT") == "spot"
    assert a.market_of("OMG/USDT:USDT") == "linear"
    assert a.market_id("QTUM3S/USDT") == "QTUM3S_USDT"
    subs = a.subscriptions(
        ["OMG/USDT:USDT", "RDNT/USDT:USDT"], ["book", "bbo", "trades", "candles"]
    )
    assert {s.stream for s in subs} >= {
        "futures.order_book_update:OMG_USDT",
        "futures.book_ticker:RDNT_USDT",
        "futures.candlesticks:OMG_USDT",
    }
    ids = iter(range(1, 100))
    reqs = a.subscribe_requests(subs, lambda: next(ids))
    bodies = [json.loads(r.payload) for r in reqs]
    books = [b for b in bodies if b["channel"] == "futures.order_book_update"]
    assert [b["payload"] for b in books] == [
        ["OMG_USDT", "100ms", "100"],
        ["RDNT_USDT", "100ms", "100"],
    ]
    (ticker,) = [b for b in bodies if b["channel"] == "futures.book_ticker"]
    assert ticker["payload"] == ["OMG_USDT", "RDNT_USDT"] and ticker["event"] == "subscribe"
    assert all(r.acks == frozenset({b["id"]}) for r, b in zip(reqs, bodies, strict=True))
    url, params = a.snapshot_request("OMG/USDT")
    assert url == "https://api.gateio.ws/api/v4/spot/order_book"
    assert params == {"currency_pair": "OMG_USDT", "limit": "100", "with_id": "true"}
    url, params = a.snapshot_request("OMG/USDT:USDT")
    assert url.endswith("/api/v4/futures/usdt/order_book") and params["contract"] == "OMG_USDT"


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda a: a.market_id("omg/usdt"), "'omg/usdt'"),
        (lambda a: a.market_of("BTC/USD:BTC"), "'BTC/USD:BTC'"),
        (lambda a: a.check_channel("orders"), "'orders'"),
        (lambda _: get_adapter("gateio", options={"book_interval": "5ms"}), "'5ms'"),
    ],
)
def test_adapter_value_errors_name_the_value(call: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        call(get_adapter("gateio"))


@pytest.mark.parametrize("market", ["spot", "linear"])
def test_adapter_and_rust_venue_name_every_recorded_symbol_alike(market: str) -> None:
    a = get_adapter("gateio")
    for mid in _snapshot_files(market):
        symbol = _unified(market, mid)
        assert a.market_id(symbol) == mid
        assert a.market_of(symbol) == market
        assert tw.Decoder("gateio", market=market).register(symbol) is not None


def test_instrument_lists_parse_precision_and_contract_size() -> None:
    spot = parse_currency_pairs(
        [
            {
                "id": "ETH_USDT",
                "base": "ETH",
                "quote": "USDT",
                "precision": 2,
                "amount_precision": 4,
                "trade_status": "tradable",
            },
            {
                "id": "X_BTC",
                "base": "X",
                "quote": "BTC",
                "precision": 8,
                "amount_precision": 0,
                "trade_status": "untradable",
            },
            {"base": "NOID"},
        ]
    )
    assert spot == [
        {
            "market_id": "ETH_USDT",
            "symbol": "ETH/USDT",
            "tick_size": "0.01",
            "lot_size": "0.0001",
            "active": True,
        },
        {
            "market_id": "X_BTC",
            "symbol": "X/BTC",
            "tick_size": "0.00000001",
            "lot_size": "1",
            "active": False,
        },
    ]
    fut = parse_contracts(
        [
            {
                "name": "BTC_USDT",
                "order_price_round": "0.1",
                "quanto_multiplier": "0.0001",
                "in_delisting": False,
            },
            {"name": "BTC_USD", "order_price_round": "0.1", "quanto_multiplier": "1"},
        ]
    )
    assert fut == [
        {
            "market_id": "BTC_USDT",
            "symbol": "BTC/USDT:USDT",
            "tick_size": "0.1",
            "lot_size": "1",
            "contract_size": "0.0001",
            "active": True,
        }
    ]


# --- decoder on the recordings ------------------------------------------------------------------
@pytest.mark.parametrize("market", ["spot", "linear"])
def test_decoder_books_equal_the_recording(market: str) -> None:
    dec = tw.Decoder("gateio", market=market)
    for mid, path in _snapshot_files(market).items():
        dec.apply_snapshot(_unified(market, mid), path.read_bytes())
    for line in RECORDINGS[market].read_bytes().splitlines():
        dec.feed(line)
    stats = dec.stats()
    assert stats["bad_frames"] == 0 and stats["gaps"] == 0
    for mid, (bids, asks) in _final_books(market).items():
        book = dec.book(_unified(market, mid))
        assert [(float(p), float(s)) for p, s in book.bids(1000)] == [
            (float(p), float(s)) for p, s in bids
        ]
        assert [(float(p), float(s)) for p, s in book.asks(1000)] == [
            (float(p), float(s)) for p, s in asks
        ]


def test_decoder_rejects_the_other_market_and_other_venues() -> None:
    spot = tw.Decoder("gateio", market="spot")
    for line in FUT_REC.read_bytes().splitlines()[:20]:
        with pytest.raises(FrameError):
            spot.feed(line)
    with pytest.raises(ValueError, match="inverse"):
        tw.Decoder("gateio", market="inverse")


# --- simulator and Feed -------------------------------------------------------------------------
async def _run_feed(
    market: str,
    symbols: Sequence[str],
    channels: Sequence[str] = ("book", "bbo", "trades", "candles"),
    faults: Sequence[object] = (),
    speed: float | str = "max",
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    name = "gateio" if market == "spot" else "gateio-linear"
    async with Simulator(name, speed=speed, autostart=False) as sim:
        events: list[Any] = []
        feed = tw.Feed(
            "gateio", symbols, list(channels), base_url=sim.rest_url, on_event=events.append
        )
        # Every stream subscribed (books and candles take a request each) before the replay.
        want = len(feed.subscriptions)
        await replay_through_feed(
            sim,
            feed,
            faults,
            subscribed=lambda: sum(len(c.subscriptions) for c in sim.connections) >= want,
        )
        books = feed_books(feed, symbols)
        stats = feed.stats()
        await feed.close()
        return events, stats, books


def _assert_books(market: str, books: dict[str, Any]) -> None:
    want = _final_books(market)
    for symbol, (bids, asks) in books.items():
        assert_book_equal((bids, asks), want[symbol.split(":")[0].replace("/", "_")])


@pytest.mark.parametrize(
    ("market", "symbols"),
    [
        ("spot", ["OMG/USDT", "QTUM3S/USDT", "DIS/USDT", "BTC/USDC"]),
        ("linear", ["OMG/USDT:USDT", "RDNT/USDT:USDT", "WOO/USDT:USDT", "DIA/USDT:USDT"]),
    ],
)
def test_feed_books_equal_the_recording(market: str, symbols: list[str]) -> None:
    events, _stats, books = asyncio.run(_run_feed(market, symbols))
    assert not [e for e in events if isinstance(e, GapDetected)]
    _assert_books(market, books)
    recorded_trades = 0
    for p in _pushes(RECORDINGS[market]):
        if p["channel"].endswith(".trades") and p["event"] == "update":
            rows = p["result"] if isinstance(p["result"], list) else [p["result"]]
            for row in rows:
                mid = row.get("currency_pair") or row["contract"]
                recorded_trades += _unified(market, mid) in symbols
    assert len([e for e in events if isinstance(e, tw.Trade)]) == recorded_trades
    recorded_candles = 0
    for p in _pushes(RECORDINGS[market]):
        if p["channel"].endswith(".candlesticks") and p["event"] == "update":
            rows = p["result"] if isinstance(p["result"], list) else [p["result"]]
            recorded_candles += sum(
                _unified(market, k["n"].partition("_")[2]) in symbols for k in rows
            )
    candles = [e for e in events if isinstance(e, tw.Candle)]
    assert len(candles) == recorded_candles
    assert all(c.interval == "1m" for c in candles)


def test_feed_recovers_from_a_dropped_book_message() -> None:
    stream = "futures.order_book_update:OMG_USDT"
    n = sum(
        1
        for p in _pushes(FUT_REC)
        if p["channel"] == "futures.order_book_update"
        and p["event"] == "update"
        and p["result"]["s"] == "OMG_USDT"
    )
    events, _stats, books = asyncio.run(
        _run_feed(
            "linear", ["OMG/USDT:USDT"], ["book"], [Drop(stream=stream, skip=n // 2)], speed=20.0
        )
    )
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert [(g.symbol, g.reason) for g in gaps] == [("OMG/USDT:USDT", "gap")]
    resynced = [e for e in events if isinstance(e, Resynced)]
    assert resynced and events.index(gaps[0]) < events.index(resynced[-1])
    _assert_books("linear", books)


def test_simulator_speaks_gate_error_reply_and_pong() -> None:
    """A subscribe naming a pair the venue does not list gets Gate's error reply (code 2,
    ``result`` null, ``id`` echoed); ``spot.ping`` gets ``spot.pong``."""

    async def main() -> None:
        async with Simulator("gateio", speed="max") as sim, aiohttp.ClientSession() as http:
            ws = await http.ws_connect(sim.ws_url + "/ws/v4/")
            req = {"time": 1, "id": 7, "channel": "spot.trades", "event": "subscribe"}
            await ws.send_str(json.dumps({**req, "payload": ["NOPE_USDT"]}))
            reply = json.loads((await ws.receive(timeout=5)).data)
            assert reply["id"] == 7 and reply["error"]["code"] == 2 and reply["result"] is None
            await ws.send_str(json.dumps({"time": 1, "channel": "spot.ping"}))
            pong = json.loads((await ws.receive(timeout=5)).data)
            assert (pong["channel"], pong["event"]) == ("spot.pong", "")
            await ws.close()

    asyncio.run(main())


def test_feed_subscription_error_and_value_errors_before_connecting() -> None:
    """A pair the instruments list lacks is a ValueError naming it before any connection;
    unchecked, Gate's error reply is a ``SubscriptionError`` with its code 2."""
    from tickwire.exchanges import clear_instruments_cache

    async def main() -> None:
        async with Simulator("gateio", speed="max") as sim:
            feed = tw.Feed("gateio", ["XRP/USDT"], ["trades"], base_url=sim.rest_url)
            with pytest.raises(ValueError, match=r"XRP/USDT"):
                await feed.start()
            await feed.close()
            assert sim.total_connections == 0
        clear_instruments_cache()
        async with Simulator("gateio", speed="max") as sim:
            feed = tw.Feed(
                "gateio", ["XRP/USDT"], ["trades"], base_url=sim.rest_url, validate_symbols=False
            )
            with pytest.raises(SubscriptionError) as err:
                await feed.start()
            await feed.close()
            assert err.value.code == 2
            assert "XRP_USDT" in str(err.value)

    asyncio.run(main())
    with pytest.raises(ValueError, match="'orders'"):
        tw.Feed("gateio", ["BTC/USDT"], ["orders"])
    with pytest.raises(ValueError, match="'BTC/USD:BTC'"):
        tw.Feed("gateio", ["BTC/USD:BTC"], ["book"])


# --- replay CLI -----------------------------------------------------------------------------------
@pytest.mark.parametrize("market", ["spot", "linear"])
def test_replay_cli_zero_bad_frames_and_gaps(market: str) -> None:
    args = ["--market", market]
    for mid, path in _snapshot_files(market).items():
        args += ["--snapshot", f"{_unified(market, mid)}={path}"]
    stats = replay_stats(RECORDINGS[market], "gateio", *args)
    assert stats["frames"] == len(RECORDINGS[market].read_text().splitlines())
    assert (stats["bad_lines"], stats["gaps"], stats["warnings"]) == ([], 0, [])
    assert stats["decoder"]["bad_frames"] == 0
    books = stats["books"]
    assert set(books) == {_unified(market, m) for m in _snapshot_files(market)}
    assert all(b["synced"] and b["snapshots"] == 1 for b in books.values()), books


@pytest.mark.parametrize(("market", "symbol"), [("spot", "OMG/USDT"), ("linear", "OMG/USDT:USDT")])
def test_feed_sends_the_gate_ping_of_its_market(market: str, symbol: str) -> None:
    """Each connection sends its market's ``spot.ping`` / ``futures.ping`` on the timer
    (shortened here); the simulator counts each as a keepalive and answers the pong, which the
    feed counts."""
    from tickwire.exchanges.gateio import Gateio

    async def main() -> None:
        name = "gateio" if market == "spot" else "gateio-linear"
        async with Simulator(name, speed=1.0, autostart=False) as sim:
            adapter = Gateio(base_url=sim.rest_url)
            adapter.ping_interval_s = 0.05
            async with tw.Feed(adapter, [symbol], ["trades"]) as feed:
                (conn,) = await sim.wait_subscribed(1)
                await asyncio.sleep(0.5)
                assert conn.keepalives >= 3
                assert feed.stats()["keepalives"] >= 3

    asyncio.run(main())


def test_gate_ping_is_stamped_at_each_send(monkeypatch: pytest.MonkeyPatch) -> None:
    # Gate wants a request's ``time`` within 60 s of its clock: a connection that lives for
    # hours must not repeat the ping it was given at connect.
    from tickwire.exchanges import gateio

    clock = iter([1_700_000_000.0, 1_700_003_600.0])
    ka = gateio.Gateio().keepalive_for("linear")
    monkeypatch.setattr(gateio.time, "time", lambda: next(clock))
    assert callable(ka.payload)
    first, later = json.loads(ka.payload()), json.loads(ka.payload())
    assert first == {"time": 1_700_000_000, "channel": "futures.ping"}
    assert later["time"] - first["time"] == 3600
