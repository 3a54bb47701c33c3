"""Bybit v5 (exchange id ``bybit``): the simulator's protocol, the adapter, the decoder on the
real recordings (tests/fixtures/bybit, see SOURCES.md there) and ``tw.Feed`` end to end.

Every expected value is derived in the test from the recorded lines themselves (parsed with the
stdlib, books applied with ``Decimal``), never written down by hand.
"""

from __future__ import annotations

import asyncio
import json
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
