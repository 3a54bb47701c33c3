"""Bybit v5 (exchange id ``bybit``): the simulator's protocol, the adapter, the decoder on the
real recordings (tests/fixtures/bybit, see SOURCES.md there) and ``tw.Feed`` end to end.

Every expected value is derived in the test from the recorded lines themselves (parsed with the
stdlib, books applied with ``Decimal``), never written down by hand.
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tickwire import FrameError
from tickwire.simulator import Simulator

FIXTURES = Path(__file__).parent / "fixtures" / "bybit"
SESSION = FIXTURES / "v5_linear_orderbook200_tickers_trades_kline_4sym.jsonl"
L1 = FIXTURES / "v5_linear_orderbook1_bbo_20250613.jsonl"
ARCHIVE = FIXTURES / "orderbook500_xrpusdt_bybit_archive_20241201_first50.jsonl"
MARKET = "bybit-linear"


def _pushes(path: Path = SESSION) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _apply(book: dict[str, dict[Decimal, Decimal]], push: dict[str, Any]) -> None:
    """Bybit's book rules, independently of tickwire: snapshot or ``u == 1`` replaces, sizes
    are absolute, ``"0"`` deletes."""
    data = push["data"]
    if push["type"] == "snapshot" or data["u"] == 1:
        book["b"], book["a"] = {}, {}
    for side in ("b", "a"):
        for price, size in data[side]:
            if Decimal(size) == 0:
                book[side].pop(Decimal(price), None)
            else:
                book[side][Decimal(price)] = Decimal(size)


def _recorded_book(topic: str, upto: int) -> tuple[dict[str, dict[Decimal, Decimal]], int]:
    """The book of ``topic`` after the packaged recording's first ``upto`` pushes, and its u."""
    book: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
    u = 0
    pushes = [p for p in _pushes() if "topic" in p]  # the packaged file holds the pushes only
    for push in pushes[:upto]:
        if push["topic"] == topic:
            _apply(book, push)
            u = push["data"]["u"]
    return book, u


async def _recv_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    out: dict[str, Any] = json.loads(msg.data)
    return out


# --- the simulator speaks Bybit ------------------------------------------------------------------
@pytest.mark.e2e
def test_simulator_acks_errors_pong_and_snapshot_at_position() -> None:
    """Acks echo ``req_id``; unknown symbols/topics and repeats are refused with Bybit's
    ``ret_msg`` shapes; ``{"op":"ping"}`` gets the pong; subscribing a book mid-replay sends a
    snapshot equal to the book the recording itself gives at that position, and the next
    recorded delta continues its ``u``."""
    topic = "orderbook.200.ETHUSDT"
    hold = 600

    async def main() -> None:
        async with Simulator(MARKET, speed="max") as sim, aiohttp.ClientSession() as http:
            sim.hold_at(hold)
            driver = await http.ws_connect(sim.stream_url("tickers.BTCUSDT"))
            drain = asyncio.create_task(driver.receive(timeout=30))
            await sim.wait_position(hold, 5)
            ws = await http.ws_connect(sim.ws_url + "/v5/public/linear")
            await ws.send_str(json.dumps({"req_id": "5", "op": "subscribe", "args": [topic]}))
            ack = await _recv_json(ws)
            assert (ack["success"], ack["req_id"], ack["op"], ack["ret_msg"]) == (
                True,
                "5",
                "subscribe",
                "",
            )
            snap = await _recv_json(ws)
            book, u = _recorded_book(topic, hold)
            assert (snap["topic"], snap["type"], snap["data"]["u"]) == (topic, "snapshot", u)
            got = {side: {Decimal(p): Decimal(q) for p, q in snap["data"][side]} for side in "ba"}
            assert got == book
            prices = [Decimal(p) for p, _ in snap["data"]["b"]]
            assert prices == sorted(prices, reverse=True)

            await ws.send_str('{"op":"ping"}')
            pong = await _recv_json(ws)
            assert (pong["success"], pong["ret_msg"], pong["op"]) == (True, "pong", "ping")
            for req_id, args, needle in (
                ("6", ["orderbook.200.XRPUSDT"], "Invalid symbol :[orderbook.200.XRPUSDT]"),
                ("7", ["books.ETHUSDT"], "handler not found"),
                ("8", [topic], "already subscribed"),
            ):
                await ws.send_str(json.dumps({"req_id": req_id, "op": "subscribe", "args": args}))
                err = await _recv_json(ws)
                assert (err["success"], err["req_id"]) == (False, req_id)
                assert needle in err["ret_msg"]

            sim.resume()
            nxt = await _recv_json(ws)
            assert (nxt["topic"], nxt["type"], nxt["data"]["u"]) == (topic, "delta", u + 1)
            drain.cancel()
            await ws.close()
            await driver.close()

    asyncio.run(main())


@pytest.mark.e2e
def test_simulator_instruments_list_the_recorded_symbols() -> None:
    """``/v5/market/instruments-info?category=linear`` lists every recorded symbol as a
    trading USDT perpetual; another category lists none."""
    recorded = sorted(
        {p["data"]["s"] for p in _pushes() if p.get("topic", "").startswith("orderbook.")}
    )

    async def main() -> None:
        async with Simulator(MARKET, speed="max") as sim, aiohttp.ClientSession() as http:
            async with http.get(sim.exchange_info_url, params={"category": "linear"}) as r:
                body = await r.json()
            assert body["retCode"] == 0
            listed = body["result"]["list"]
            assert sorted(e["symbol"] for e in listed) == recorded
            assert {e["status"] for e in listed} == {"Trading"}
            async with http.get(sim.exchange_info_url, params={"category": "spot"}) as r:
                assert (await r.json())["result"]["list"] == []

    asyncio.run(main())


# --- the decoder on the recordings (Python API) -------------------------------------------------
def _final_books(path: Path) -> dict[str, dict[str, dict[Decimal, Decimal]]]:
    """Market id -> the book the recording leaves, built with :func:`_apply`."""
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for push in _pushes(path):
        if push.get("topic", "").startswith("orderbook.") and not push["topic"].startswith(
            "orderbook.1."
        ):
            _apply(books.setdefault(push["data"]["s"], {"b": {}, "a": {}}), push)
    return books


@pytest.mark.parametrize("path", [SESSION, ARCHIVE], ids=["session", "archive"])
def test_decoder_books_equal_the_recording(path: Path) -> None:
    """Every line decodes; no gap, no bad frame; each final book equals the one the test builds
    from the recorded lines, level by level (floats of the exact decimals)."""
    import tickwire._core as core

    d = core.Decoder("bybit", market="linear")
    assert (d.exchange, d.market, d.recovery) == ("bybit", "linear", "resubscribe")
    lines = path.read_bytes().splitlines()
    for line in lines:
        d.feed(line, 0)
    stats = d.stats()
    assert (stats["frames"], stats["bad_frames"], stats["gaps"]) == (len(lines), 0, 0)
    want = _final_books(path)
    assert sorted(d.symbols()) == sorted(f"{m[: -len('USDT')]}/USDT:USDT" for m in want)
    for market_id, book in want.items():
        symbol = f"{market_id[: -len('USDT')]}/USDT:USDT"
        got = d.book(symbol)
        assert got.synced
        for side, levels in (("b", got.bids(10_000)), ("a", got.asks(10_000))):
            prices = sorted(book[side], reverse=side == "b")
            assert [tuple(row) for row in levels.tolist()] == [
                (float(p), float(book[side][p])) for p in prices
            ]
        assert d.book_stats(symbol)["gaps"] == 0


def test_decoder_level_one_is_bbo_with_u() -> None:
    """``orderbook.1`` pushes are BBO events carrying the push's ``u`` and its exact levels."""
    import tickwire._core as core

    d = core.Decoder("bybit", market="linear")
    seen = 0
    for push, line in zip(_pushes(L1), L1.read_bytes().splitlines(), strict=True):
        events = d.feed(line, 0)
        if "topic" not in push:
            assert [type(e).__name__ for e in events] == ["ControlReply"]
            assert events[0].kind == "ack"
            continue
        (bbo,) = events
        data = push["data"]
        assert bbo.sequence == data["u"]
        assert (bbo.decimal("bid_price"), bbo.decimal("ask_size")) == (
            Decimal(data["b"][0][0]),
            Decimal(data["a"][0][1]),
        )
        seen += 1
    assert seen == sum("topic" in p for p in _pushes(L1))


def test_decoder_rejects_unknown_markets_and_foreign_frames() -> None:
    """A market Bybit's public streams do not have is a ValueError naming it; a frame of
    another venue is a FrameError and changes nothing."""
    import tickwire._core as core

    with pytest.raises(ValueError, match="option"):
        core.Decoder("bybit", market="option")
    d = core.Decoder("bybit", market="linear")
    okx = b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[]}'
    with pytest.raises(FrameError):
        d.feed(okx, 0)
    assert d.stats()["bad_frames"] == 1


# --- the adapter ---------------------------------------------------------------------------------
def _adapter(**kw: Any) -> Any:
    from tickwire.exchanges import get_adapter

    return get_adapter("bybit", **kw)


def test_adapter_markets_symbols_topics_and_requests() -> None:
    """The market comes from the settle coin; market ids agree with the Rust venue both ways
    (the decoder names the symbols of the recorded market ids); topics, batches of at most 10
    topics per request with the echoed ``req_id`` as ack key, and the 20 s ``{"op":"ping"}``."""
    import tickwire._core as core

    a = _adapter()
    assert a.markets == ("spot", "linear", "inverse")
    recorded = sorted({p["data"]["s"] for p in _pushes() if "data" in p and "s" in p["data"]})
    d = core.Decoder("bybit", market="linear")
    for line in SESSION.read_bytes().splitlines():
        d.feed(line, 0)
    for symbol in d.symbols():  # the Rust venue's names for the recorded ids
        assert a.market_of(symbol) == "linear"
        assert a.market_id(symbol) in recorded
    assert a.market_of("BTC/USDT") == "spot"
    assert a.market_of("BTC/USD:BTC") == "inverse"

    symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
    subs = a.subscriptions(symbols, ["book", "trades", "bbo", "candles"])
    assert {s.route for s in subs} == {"linear"}
    assert [s.stream for s in subs[:4]] == [
        "orderbook.200.BTCUSDT",
        "publicTrade.BTCUSDT",
        "orderbook.1.BTCUSDT",
        "kline.1.BTCUSDT",
    ]
    ids = iter(range(40, 100))
    reqs = a.subscribe_requests(subs, lambda: next(ids))
    assert [len(r.streams) for r in reqs] == [10, 2]
    for r in reqs:
        body = json.loads(r.payload)
        (rid,) = r.acks
        assert body == {"req_id": str(rid), "op": "subscribe", "args": list(r.streams)}
    unsub = a.unsubscribe_requests(subs[:1], lambda: 7)
    assert json.loads(unsub[0].payload)["op"] == "unsubscribe" and unsub[0].acks == {7}
    keep = a.keepalive()
    assert (keep.interval_s, json.loads(keep.payload)) == (20.0, {"op": "ping"})
    assert _adapter(options={"book_depth": 1000}).subscriptions(symbols[:1], ["book"])[
        0
    ].stream == ("orderbook.1000.BTCUSDT")


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda a: a.market_of("BTC/EUR:USD"), "'BTC/EUR:USD'"),
        (lambda a: a.market_id("btc/usdt"), "did you mean 'BTC/USDT'"),
        (lambda a: a.market_id("BTCUSDT"), "'BTCUSDT'"),
        (lambda a: a.market_id("BTC/USD:BTC-251399"), "'BTC/USD:BTC-251399'"),
        (lambda a: a.subscriptions(["BTC/USDT"], ["orders"]), "'orders'"),
        (lambda a: a.ws_url("option"), "'option'"),
        (lambda _: _adapter(options={"book_depth": 25}), "book_depth 25"),
        (lambda _: _adapter(options={"candle_interval": "7m"}), "candle_interval '7m'"),
    ],
)
def test_adapter_rejects_with_a_named_value_error(call: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        call(_adapter())


# --- tw.Feed against the simulator -------------------------------------------------------------
def _unified(market_id: str) -> str:
    return f"{market_id[: -len('USDT')]}/USDT:USDT"


async def _run_feed(
    symbols: list[str], faults: tuple[Any, ...] = (), **feed_kwargs: Any
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """The whole packaged recording through ``tw.Feed("bybit", symbols, ["book", "trades"])``
    on the simulator (``faults`` attached once subscribed); returns the events, the final
    books (bids, asks, synced) and the feed's stats."""
    from tickwire.feed import Feed

    async with Simulator(MARKET, speed="max", autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "bybit",
            symbols,
            ["book", "trades"],
            base_url=sim.rest_url,
            on_event=events.append,
            **feed_kwargs,
        )
        starting = asyncio.ensure_future(feed.start())
        await sim.wait_subscribed(1, timeout=10)
        topics = 2 * len(symbols)  # book and trades per symbol
        subscribed = lambda: sum(len(c.subscriptions) for c in sim.connections)  # noqa: E731
        while not starting.done() and subscribed() < topics:  # noqa: ASYNC110 - no event says so
            await asyncio.sleep(0.005)
        for f in faults:
            sim.inject(f)
        sim.start_replay()
        await asyncio.wait_for(starting, 30)
        await sim.wait_finished(timeout=60)
        await asyncio.sleep(0.5)
        books = {}
        for s in symbols:
            b = feed.book(s)
            books[s] = (b.bids(10_000).tolist(), b.asks(10_000).tolist(), b.synced)
        stats = feed.stats()
        await feed.close()
        return events, books, stats


def _assert_books_equal_recording(books: dict[str, Any]) -> None:
    want = _final_books(SESSION)
    for symbol, (bids, asks, synced) in books.items():
        book = want[_market_id_of(symbol)]
        assert synced, symbol
        assert [tuple(r) for r in bids] == [
            (float(p), float(book["b"][p])) for p in sorted(book["b"], reverse=True)
        ], symbol
        assert [tuple(r) for r in asks] == [
            (float(p), float(book["a"][p])) for p in sorted(book["a"])
        ]


def _market_id_of(symbol: str) -> str:
    """``"BTC/USDT:USDT"`` -> ``"BTCUSDT"`` (the recorded USDT perpetuals)."""
    return symbol.replace("/", "").split(":")[0]


@pytest.mark.e2e
def test_feed_books_equal_the_recording() -> None:
    """``tw.Feed("bybit", ...)`` over the simulator: every book ends equal to the recording's,
    trades arrive with their UUID ids, no gap."""
    symbols = [_unified(m) for m in sorted(_final_books(SESSION))]
    events, books, _ = asyncio.run(_run_feed(symbols))
    _assert_books_equal_recording(books)
    names = [type(e).__name__ for e in events]
    assert "GapDetected" not in names
    trades = [e for e in events if type(e).__name__ == "Trade"]
    recorded = [
        t for p in _pushes() if p.get("topic", "").startswith("publicTrade.") for t in p["data"]
    ]
    assert [t.trade_id for t in trades] == [t["i"] for t in recorded]


@pytest.mark.e2e
def test_feed_recovers_from_a_dropped_delta_and_a_fresh_snapshot() -> None:
    """One BTCUSDT delta withheld: ``GapDetected(reason="gap")`` with Bybit's u, a resubscribe,
    ``Resynced``; an unprompted snapshot for ETHUSDT mid-stream resets that book. Both books end
    equal to the recording's."""
    from tickwire.simulator.faults import Drop, ForceSnapshot

    btc_deltas = [
        p for p in _pushes() if p.get("topic") == "orderbook.200.BTCUSDT" and p["type"] == "delta"
    ]
    skip = len(btc_deltas) // 2
    dropped_u = btc_deltas[skip]["data"]["u"]
    symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    faults = (
        Drop(stream="orderbook.200.BTCUSDT", skip=skip + 1),  # +1: the recorded snapshot first
        ForceSnapshot(after=800, stream="orderbook.200.ETHUSDT"),
    )
    events, books, stats = asyncio.run(_run_feed(symbols, faults))
    gaps = [e for e in events if type(e).__name__ == "GapDetected"]
    assert [(g.symbol, g.reason, g.expected, g.received) for g in gaps] == [
        ("BTC/USDT:USDT", "gap", dropped_u, dropped_u + 1)
    ]
    resynced = [e for e in events if type(e).__name__ == "Resynced"]
    assert [(r.symbol, r.reason) for r in resynced] == [("BTC/USDT:USDT", "gap")]
    # snapshots applied: one per book on subscribe, the resubscribe's, the forced one
    assert stats["decoder_snapshots"] == len(symbols) + 1 + 1
    assert (stats["resubscribes"], stats["decoder_bad_frames"]) == (1, 0)
    _assert_books_equal_recording(books)


@pytest.mark.e2e
def test_feed_subscription_error_and_value_errors_before_connecting() -> None:
    """A symbol the instruments list lacks is a ValueError naming it before any connection;
    unchecked (``validate_symbols=False``) the venue refuses it: ``SubscriptionError`` with
    Bybit's ``ret_msg`` (Bybit sends no numeric code). Bad channel / market: ValueError."""
    from tickwire import SubscriptionError
    from tickwire.exchanges import clear_instruments_cache
    from tickwire.feed import Feed

    async def main() -> None:
        async with Simulator(MARKET, speed="max") as sim:
            feed = Feed("bybit", ["XRP/USDT:USDT"], ["book"], base_url=sim.rest_url)
            with pytest.raises(ValueError, match=r"XRP/USDT:USDT"):
                await feed.start()
            await feed.close()
            assert sim.total_connections == 0
        clear_instruments_cache()  # unchecked: the decoder knows no instruments list either
        async with Simulator(MARKET, speed="max") as sim:
            feed = Feed(
                "bybit",
                ["XRP/USDT:USDT"],
                ["book"],
                base_url=sim.rest_url,
                validate_symbols=False,
            )
            with pytest.raises(SubscriptionError) as err:
                await feed.start()
            await feed.close()
            assert "Invalid symbol :[orderbook.200.XRPUSDT]" in str(err.value)
            assert err.value.code is None

    asyncio.run(main())
    with pytest.raises(ValueError, match="'liquidations'"):
        Feed("bybit", ["BTC/USDT:USDT"], ["liquidations"])
    with pytest.raises(ValueError, match="'BTC/EUR:USD'"):
        Feed("bybit", ["BTC/EUR:USD"], ["book"])


@pytest.mark.e2e
def test_feed_sends_the_bybit_keepalive() -> None:
    """The session sends the adapter's ``{"op":"ping"}`` on its timer (shortened here); the
    simulator counts each as a keepalive and answers Bybit's pong, which the feed counts."""
    from tickwire.exchanges.bybit import Bybit
    from tickwire.feed import Feed

    async def main() -> None:
        async with Simulator(MARKET, speed=1.0, autostart=False) as sim:
            adapter = Bybit(base_url=sim.rest_url)
            adapter.ping_interval_s = 0.05
            async with Feed(adapter, ["BTC/USDT:USDT"], ["trades"]) as feed:
                (conn,) = await sim.wait_subscribed(1)
                await asyncio.sleep(0.5)
                assert conn.keepalives >= 3
                assert feed.stats()["keepalives"] >= 3

    asyncio.run(main())


@pytest.mark.parametrize(
    "symbol",
    [
        "BTC/USDT",
        "ETH/BTC",
        "BTC/USDT:USDT",
        "1000PEPE/USDT:USDT",
        "BTC/USDC:USDC",
        "BTC/USDC:USDC-251226",
        "BTC/USDT:USDT-251226",
        "BTC/USD:BTC",
        "BTC/USD:BTC-250328",
    ],
)
def test_adapter_and_rust_venue_name_symbols_alike(symbol: str) -> None:
    """Python (subscriptions) and Rust (decoding) map a unified symbol to the same market id on
    the same endpoint, and the other endpoints refuse it in both."""
    import tickwire._core as core

    a = _adapter()
    market = a.market_of(symbol)
    assert core.Decoder("bybit", market=market).register(symbol) == a.market_id(symbol)
    for other in set(a.markets) - {market}:
        with pytest.raises(ValueError, match=re.escape(symbol)):
            core.Decoder("bybit", market=other).register(symbol)


@pytest.mark.parametrize("path", [SESSION, L1, ARCHIVE], ids=["session", "bbo", "archive"])
def test_replay_cli_stats_on_every_recording(path: Path) -> None:
    """``tickwire replay REC --exchange bybit --market linear --output stats``: every frame
    decoded, 0 bad lines, 0 gaps, 0 checksums (Bybit sends none), per book: synced, one snapshot
    and as many deltas applied as the recording holds for its topic; the ``orderbook.1``
    session is BBO events only."""
    from cli_helpers import run_cli

    proc = run_cli(
        "replay", str(path), "--exchange", "bybit", "--market", "linear", "--output", "stats"
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    pushes = _pushes(path)
    assert (stats["frames"], stats["gaps"], stats["bad_lines"]) == (len(pushes), 0, [])
    assert (stats["checksums_verified"], stats["checksum_mismatches"]) == (0, 0)
    books = [p for p in pushes if p.get("topic", "").startswith("orderbook.")]
    books = [p for p in books if not p["topic"].startswith("orderbook.1.")]
    by_symbol: dict[str, int] = {}
    for p in books:
        by_symbol[_unified(p["data"]["s"])] = by_symbol.get(_unified(p["data"]["s"]), 0) + 1
    with_book = {s for s, b in stats["books"].items() if b["snapshots"] or b["deltas_applied"]}
    assert sorted(with_book) == sorted(by_symbol)  # BBO-only symbols are listed, bookless
    for symbol, n in by_symbol.items():
        book = stats["books"][symbol]
        assert (book["synced"], book["snapshots"], book["gaps"]) == (True, 1, 0)
        assert book["deltas_applied"] == n - 1
    bbos = sum(p.get("topic", "").startswith("orderbook.1.") for p in pushes)
    assert stats["events"].get("BBO", 0) >= bbos
