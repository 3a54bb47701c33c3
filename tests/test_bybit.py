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
