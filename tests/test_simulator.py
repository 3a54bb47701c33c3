"""The local exchange simulator, tested with real WebSocket/HTTP clients (aiohttp) on loopback.

Expected frames come from the uncompressed fixture copies in tests/fixtures (not from the
simulator's own loader), so a loader or replay bug shows up as a mismatch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

import tickwire._core
import tickwire.simulator as simmod
from cli_helpers import Running, assert_fails_with_one_line, run_cli
from tickwire.feed import Feed
from tickwire.replay import line_of_frame
from tickwire.simulator import (
    BadChecksum,
    CloseAfter,
    Drop,
    ForceSnapshot,
    Garbage,
    Lifetime,
    ServerShutdown,
    Simulator,
    SlowSnapshot,
    SnapshotFailure,
    Stall,
    market_name,
    parse_fault,
    wirebook,
)
from tickwire.simulator.recording import Recording
from tickwire.simulator.venue import Outcome
from tickwire.simulator.venues import binance as binance_venue
from tickwire.simulator.venues.binance import BinanceSim, BinanceSpec
from tickwire.simulator.wirebook import BookMessage, BookReplay, WireBook

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback

ROOT = Path(__file__).resolve().parent.parent

FIX = ROOT / "tests" / "fixtures"
SPOT_FILE = FIX / "binance" / "depth_bookticker_trade_ethusdt_20240808"
USDM_FILE = FIX / "binanceusdm" / "depth_bookticker_trade_ethusdt_20240808"
SPOT_DEPTH = "ethusdt@depth@100ms"
USDM_DEPTH = "ethusdt@depth@0ms"
TIMEOUT = 10.0


def _lines(base: Path) -> list[bytes]:
    return [ln for ln in (base.with_suffix(".jsonl")).read_bytes().split(b"\n") if ln]


SPOT_LINES = _lines(SPOT_FILE)
USDM_LINES = _lines(USDM_FILE)
SPOT_TS = [int(x) for x in SPOT_FILE.with_suffix(".ts").read_text().split()]
SPOT_SNAPSHOT = Path(str(SPOT_FILE) + "_depth_snapshot.json").read_bytes()
USDM_SNAPSHOT = Path(str(USDM_FILE) + "_depth_snapshot.json").read_bytes()


def stream_of(line: bytes) -> str:
    return json.loads(line)["stream"]


def recorded(lines: list[bytes], *streams: str) -> list[bytes]:
    """Fixture lines of the given streams, in recorded order (combined-envelope bytes)."""
    want = set(streams)
    return [ln for ln in lines if stream_of(ln) in want]


async def recv_n(ws, n: int, timeout: float = TIMEOUT) -> list[bytes]:
    """Receive ``n`` text frames as bytes (fails on close or timeout)."""
    out = []
    while len(out) < n:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg, len(out))
        out.append(msg.data.encode())
    return out


async def recv_until_closed(ws, timeout: float = TIMEOUT) -> tuple[list[bytes], int]:
    """Text frames until the connection ends, and the close code the server sent (1006 if
    the connection ended without a close frame)."""
    out = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            out.append(msg.data.encode())
        elif msg.type == aiohttp.WSMsgType.CLOSE:
            return out, msg.data
        elif msg.type in (
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.ERROR,
        ):
            return out, 1006


async def recv_reply(ws, timeout: float = TIMEOUT) -> dict:
    """Next text frame that is a control reply (has "id" or "error"), skipping data frames."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        obj = json.loads(msg.data)
        if "id" in obj or "error" in obj or "code" in obj:
            return obj


async def quiet(ws, seconds: float) -> list:
    """Frames received within ``seconds`` (expecting none)."""
    got = []
    try:
        while True:
            msg = await asyncio.wait_for(ws.receive(), seconds)
            got.append(msg)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return got
    except asyncio.TimeoutError:
        return got


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


# ---- data path --------------------------------------------------------------------------------


async def test_combined_stream_delivers_exactly_the_recorded_frames_in_order(session):
    async with Simulator("binance", speed="max") as sim:
        want = recorded(SPOT_LINES, SPOT_DEPTH, "ethusdt@trade")
        async with session.ws_connect(sim.stream_url(SPOT_DEPTH, "ethusdt@trade")) as ws:
            got = await recv_n(ws, len(want))
            assert got == want
            assert await quiet(ws, 0.3) == []  # and nothing else (bookTicker not subscribed)


async def test_all_streams_byte_identical_to_recording(session):
    async with (
        Simulator("binance", speed="max") as sim,
        session.ws_connect(sim.stream_url()) as ws,
    ):
        assert await recv_n(ws, len(SPOT_LINES)) == SPOT_LINES


async def test_raw_path_sends_the_data_object_without_envelope(session):
    async with Simulator("binance", speed="max") as sim:
        want = recorded(SPOT_LINES, "ethusdt@trade")
        async with session.ws_connect(sim.raw_url("ethusdt@trade")) as ws:
            got = await recv_n(ws, len(want))
        assert len(got) == len(want)
        for raw, line in zip(got, want, strict=True):
            assert line == b'{"stream":"ethusdt@trade","data":' + raw + b"}"


async def test_usdm_routes_split_public_and_market_streams(session):
    async with Simulator("binanceusdm", speed="max", autostart=False) as sim:
        depth = recorded(USDM_LINES, USDM_DEPTH)
        trades = recorded(USDM_LINES, "ethusdt@trade")
        pub = await session.ws_connect(sim.stream_url(USDM_DEPTH, "ethusdt@trade", route="/public"))
        mkt = await session.ws_connect(sim.stream_url(USDM_DEPTH, "ethusdt@trade", route="/market"))
        unrouted = await session.ws_connect(sim.stream_url(USDM_DEPTH, "ethusdt@trade"))
        raw_mkt = await session.ws_connect(sim.raw_url("ethusdt@trade", route="/market"))
        await sim.wait_connections(4)
        sim.start_replay()
        # read all four at once: in "max" mode the replay waits for its slowest reader
        got = await asyncio.gather(
            recv_n(pub, len(depth)),
            recv_n(mkt, len(trades)),
            recv_n(unrouted, len(depth)),
            recv_n(raw_mkt, len(trades)),
        )
        assert got[0] == depth and got[1] == trades and got[2] == depth
        assert [b'{"stream":"ethusdt@trade","data":' + r + b"}" for r in got[3]] == trades
        for ws in (pub, mkt, unrouted):
            assert await quiet(ws, 0.2) == []
            await ws.close()
        await raw_mkt.close()


async def test_unknown_path_is_404_and_plain_get_is_400(session):
    async with Simulator("binance") as sim:
        async with session.get(sim.rest_url + "/stream/nonsense") as r:
            assert r.status == 404
        async with session.get(sim.rest_url + "/ws") as r:
            assert r.status == 400
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(
                sim.ws_url + "/public/stream?streams=x@trade"
            )  # spot: no routes


async def test_malformed_stream_in_url_closes_with_1008(session):
    async with (
        Simulator("binance") as sim,
        session.ws_connect(sim.ws_url + "/stream?streams=eth%20usdt@trade") as ws,
    ):
        frames, code = await recv_until_closed(ws)
        assert frames == [] and code == 1008


async def test_recorded_pace_follows_receive_timestamps(session):
    speed = 20.0
    async with (
        Simulator("binance", speed=speed) as sim,
        session.ws_connect(sim.stream_url()) as ws,
    ):
        t0 = time.monotonic()
        k = 300
        for i in range(k):
            frame = await recv_n(ws, 1)
            assert frame[0] == SPOT_LINES[i]
            if i in (100, 200, 299):
                elapsed = time.monotonic() - t0
                due = (SPOT_TS[i] - SPOT_TS[0]) / 1e9 / speed
                assert due - 0.05 <= elapsed <= due + 0.5, (i, elapsed, due)


async def test_connections_share_one_clock_late_joiner_starts_mid_recording(session):
    async with Simulator("binance", speed="max") as sim:
        sim.hold_at(1000)
        first = await session.ws_connect(sim.stream_url())
        assert await recv_n(first, 1000) == SPOT_LINES[:1000]
        assert await sim.wait_position(1000, TIMEOUT) == 1000
        second = await session.ws_connect(sim.stream_url())
        await sim.wait_connections(2)
        sim.resume()
        assert await recv_n(first, 500) == SPOT_LINES[1000:1500]
        assert await recv_n(second, 500) == SPOT_LINES[1000:1500]
        await first.close()
        await second.close()


async def test_close_at_end_and_position(session):
    async with Simulator("binance", speed="max", close_at_end=True) as sim:
        async with session.ws_connect(sim.stream_url("ethusdt@trade")) as ws:
            frames, code = await recv_until_closed(ws)
            assert frames == recorded(SPOT_LINES, "ethusdt@trade")
            assert code == 1000
        assert sim.position == len(SPOT_LINES)


# ---- control messages -------------------------------------------------------------------------


async def test_subscribe_ack_list_unsubscribe_and_properties(session):
    async with (
        Simulator("binance", speed="max", autostart=False) as sim,
        session.ws_connect(sim.raw_url()) as ws,
    ):
        await ws.send_str(
            json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade", SPOT_DEPTH], "id": 1})
        )
        assert await ws.receive_str() == '{"result":null,"id":1}'
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":"list7"}')
        assert json.loads(await ws.receive_str()) == {
            "result": ["ethusdt@trade", SPOT_DEPTH],
            "id": "list7",
        }
        await ws.send_str('{"method":"UNSUBSCRIBE","params":["ethusdt@depth@100ms"],"id":2}')
        assert await ws.receive_str() == '{"result":null,"id":2}'
        await ws.send_str('{"method":"GET_PROPERTY","params":["combined"],"id":3}')
        assert await ws.receive_str() == '{"result":false,"id":3}'
        await asyncio.sleep(1.0)  # stay under 5 messages per second
        await ws.send_str('{"method":"SET_PROPERTY","params":["combined",true],"id":4}')
        assert await ws.receive_str() == '{"result":null,"id":4}'
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":null}')
        assert await ws.receive_str() == '{"result":["ethusdt@trade"],"id":null}'
        sim.start_replay()
        want = recorded(SPOT_LINES, "ethusdt@trade")
        assert await recv_n(ws, 50) == want[:50]  # combined now: enveloped frames


async def test_a_well_formed_but_unrecorded_stream_is_acknowledged_and_silent(session):
    async with (
        Simulator("binance", speed="max") as sim,
        session.ws_connect(sim.raw_url()) as ws,
    ):
        await ws.send_str(
            '{"method":"SUBSCRIBE","params":["btcusdt@trade","ETHUSDT@trade"],"id":9}'
        )
        assert await ws.receive_str() == '{"result":null,"id":9}'
        await sim.wait_finished(TIMEOUT)
        assert await quiet(ws, 0.2) == []


@pytest.mark.parametrize(
    ("request_text", "code", "msg_part"),
    [
        ("{not json", 3, "Invalid JSON"),
        (
            '{"method":"SUBSCRIBE","params":["@@bad##"],"id":5}',
            2,
            "Invalid request: invalid stream",
        ),
        ('{"method":"SUBSCRIBE","params":["eth usdt@trade"],"id":5}', 2, "invalid stream"),
        ('{"method":"FOO","params":[],"id":5}', 2, "unknown variant `FOO`"),
        ('{"params":[],"id":5}', 2, "missing field `method`"),
        ('{"method":"SUBSCRIBE","params":["ethusdt@trade"]}', 2, "request ID"),
        ('{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":1.5}', 2, "request ID"),
        ('{"method":"SET_PROPERTY","params":["colour",true],"id":5}', 0, "Unknown property"),
        ('{"method":"SET_PROPERTY","params":["combined","yes"],"id":5}', 1, "expected Boolean"),
        ('{"method":"GET_PROPERTY","params":[7],"id":5}', 2, "property name must be a string"),
        ('{"method":"SET_PROPERTY","params":["combined",true,1],"id":5}', 2, "too many parameters"),
    ],
)
async def test_error_replies(session, request_text, code, msg_part):
    async with (
        Simulator("binance", autostart=False) as sim,
        session.ws_connect(sim.raw_url()) as ws,
    ):
        await ws.send_str(request_text)
        reply = json.loads(await ws.receive_str())
        assert reply["error"]["code"] == code
        assert msg_part in reply["error"]["msg"]
        if '"id":5' in request_text:
            assert reply["id"] == 5
        # spot keeps the connection open after an error
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":6}')
        assert json.loads(await ws.receive_str()) == {"result": [], "id": 6}


async def test_flat_error_format_as_in_the_doc_table(session):
    async with (
        Simulator("binance", autostart=False, error_format="flat") as sim,
        session.ws_connect(sim.raw_url()) as ws,
    ):
        await ws.send_str('{"method":"SET_PROPERTY","params":["colour",true],"id":5}')
        assert json.loads(await ws.receive_str()) == {
            "code": 0,
            "msg": "Unknown property",
            "id": 5,
        }


async def test_usdm_invalid_json_replies_then_disconnects(session):
    async with (
        Simulator("binanceusdm", autostart=False) as sim,
        session.ws_connect(sim.raw_url()) as ws,
    ):
        await ws.send_str("hello")
        frames, code = await recv_until_closed(ws)
        assert [json.loads(f)["error"]["code"] for f in frames] == [3]
        assert code == 1008


@pytest.mark.parametrize(("market", "limit"), [("binance", 5), ("binanceusdm", 10)])
async def test_control_message_rate_limit(session, market, limit):
    async with Simulator(market, autostart=False) as sim:
        async with session.ws_connect(sim.raw_url()) as ok:
            for i in range(limit):
                await ok.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            assert len(await recv_n(ok, limit)) == limit
            assert await quiet(ok, 0.2) == []  # at the limit: still open
        async with session.ws_connect(sim.raw_url()) as ws:
            for i in range(limit + 1):
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            frames, code = await recv_until_closed(ws)
            assert len(frames) == limit and code == 1008


async def test_client_pings_are_answered_and_count_toward_the_limit(session):
    async with (
        Simulator("binance", autostart=False) as sim,
        session.ws_connect(sim.raw_url(), autoping=False) as ws,
    ):
        await ws.ping(b"abc")
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert msg.type == aiohttp.WSMsgType.PONG and msg.data == b"abc"
        for _ in range(5):
            await ws.ping(b"x")
        _, code = await recv_until_closed(ws)
        assert code == 1008


# ---- heartbeat --------------------------------------------------------------------------------


async def test_server_pings_with_ms_timestamp_and_keeps_answering_clients(session):
    async with (
        Simulator("binance", autostart=False, ping_interval=0.2, pong_timeout=0.5) as sim,
        session.ws_connect(sim.raw_url(), autoping=False) as ws,
    ):
        for _ in range(4):  # 0.8 s > pong_timeout: answered pings keep it open
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert msg.type == aiohttp.WSMsgType.PING
            assert abs(int(msg.data) - time.time() * 1000) < 5000  # payload: epoch ms
            await ws.pong(msg.data)
        assert not ws.closed


async def test_unanswered_pings_close_the_connection(session):
    async with (
        Simulator("binance", autostart=False, ping_interval=0.1, pong_timeout=0.3) as sim,
        session.ws_connect(sim.raw_url(), autoping=False) as ws,
    ):
        t0 = time.monotonic()
        while True:
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                break
            assert msg.type == aiohttp.WSMsgType.PING
        assert msg.data == 1008 and msg.extra == "Pong timeout"
        assert 0.35 <= time.monotonic() - t0 < 2.0


async def test_spot_ignores_unsolicited_pongs_usdm_accepts_them(session):
    for market, survives in (("binance", False), ("binanceusdm", True)):
        async with (
            Simulator(market, autostart=False, ping_interval=0.15, pong_timeout=0.4) as sim,
            session.ws_connect(sim.raw_url(), autoping=False) as ws,
        ):
            deadline = time.monotonic() + 1.0
            closed = False
            while time.monotonic() < deadline:
                try:
                    msg = await asyncio.wait_for(ws.receive(), 0.1)
                except asyncio.TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.PING:
                    await ws.pong(b"not-the-payload")
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    closed = True
                    break
            assert closed is not survives, market


# ---- REST snapshot ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "path", "body", "after"),
    [
        ("binance", "/api/v3/depth", SPOT_SNAPSHOT, 5),
        ("binanceusdm", "/fapi/v1/depth", USDM_SNAPSHOT, 40),
    ],
)
async def test_snapshot_is_held_until_recorded_then_served_byte_for_byte(
    session, market, path, body, after
):
    async with Simulator(market, speed=1.0) as sim:
        depth = SPOT_DEPTH if market == "binance" else USDM_DEPTH
        async with session.ws_connect(
            sim.stream_url(depth, route="/public" if market != "binance" else "")
        ):
            assert sim.position < after  # the replay has only just started
            async with session.get(
                sim.rest_url + path, params={"symbol": "ETHUSDT", "limit": "1000"}
            ) as r:
                assert r.status == 200
                assert await r.read() == body
                assert sim.position >= after


def _depth_events(lines):
    return [
        (i, json.loads(ln)["data"])
        for i, ln in enumerate(lines)
        if json.loads(ln)["data"].get("e") == "depthUpdate"
    ]


@pytest.mark.parametrize(
    ("market", "lines"), [("binance", SPOT_LINES), ("binanceusdm", USDM_LINES)]
)
async def test_later_snapshot_is_derived_and_matches_book_ticker(session, market, lines):
    # Oracle (DESIGN §5): where a depth diff's final u equals a bookTicker's u, the book after
    # that diff has the bookTicker's best bid/ask. Pick such a diff in the second half, well
    # after the recorded snapshot, so the served snapshot must be derived.
    tickers = {}
    for ln in lines:
        obj = json.loads(ln)
        if "bookTicker" in obj["stream"]:
            tickers[obj["data"]["u"]] = obj["data"]
    point = None
    for i, d in _depth_events(lines):
        if i > len(lines) // 2 and d["u"] in tickers:
            point = (i + 1, tickers[d["u"]])
            last_u = d["u"]
            break
    assert point is not None
    i, bt = point
    async with Simulator(market, speed="max") as sim:
        sim.hold_at(i)
        route = "" if market == "binance" else "/public"
        async with session.ws_connect(sim.stream_url("ethusdt@bookTicker", route=route)):
            await sim.wait_position(i, TIMEOUT)
            path = sim.spec.depth_path
            async with session.get(
                sim.rest_url + path, params={"symbol": "ETHUSDT", "limit": "5"}
            ) as r:
                snap = json.loads(await r.read())
    assert snap["lastUpdateId"] == last_u == bt["u"]
    assert snap["bids"][0] == [bt["b"], bt["B"]]
    assert snap["asks"][0] == [bt["a"], bt["A"]]
    assert len(snap["bids"]) == len(snap["asks"]) == 5
    assert [float(p) for p, _ in snap["bids"]] == sorted(
        (float(p) for p, _ in snap["bids"]), reverse=True
    )


async def test_gap_then_resync_with_derived_snapshot(session):
    # A dropped diff makes a real gap (U != previous u + 1); the snapshot fetched after it
    # bridges with the next diffs by Binance's spot rule U <= lastUpdateId + 1 <= u.
    depth_lines = [i for i, ln in enumerate(SPOT_LINES) if stream_of(ln) == SPOT_DEPTH]
    victim = depth_lines[1000]
    async with Simulator("binance", speed="max", faults=[Drop(line=victim)]) as sim:
        sim.hold_at(depth_lines[1002] + 1)
        async with session.ws_connect(sim.stream_url(SPOT_DEPTH)) as ws:
            got = [json.loads(f)["data"] for f in await recv_n(ws, 1002)]
            gaps = [k for k in range(1, len(got)) if got[k]["U"] != got[k - 1]["u"] + 1]
            assert gaps == [1000]
            assert await quiet(ws, 0.2) == []
            async with session.get(
                sim.depth_url, params={"symbol": "ETHUSDT", "limit": "1000"}
            ) as r:
                snap = json.loads(await r.read())
            assert snap["lastUpdateId"] == got[-1]["u"]
            sim.resume()
            nxt = json.loads((await recv_n(ws, 1))[0])["data"]
            assert nxt["U"] <= snap["lastUpdateId"] + 1 <= nxt["u"]


async def test_snapshot_modes_recorded_and_limits(session):
    async with (
        Simulator("binance", speed="max", snapshot_mode="recorded") as sim,
        session.ws_connect(sim.stream_url(SPOT_DEPTH)),
    ):
        await sim.wait_finished(TIMEOUT)
        async with session.get(sim.depth_url, params={"symbol": "ETHUSDT", "limit": "5000"}) as r:
            assert await r.read() == SPOT_SNAPSHOT
        async with session.get(sim.depth_url, params={"symbol": "ETHUSDT", "limit": "3"}) as r:
            small = json.loads(await r.read())
        full = json.loads(SPOT_SNAPSHOT)
        assert small == {
            "lastUpdateId": full["lastUpdateId"],
            "bids": full["bids"][:3],
            "asks": full["asks"][:3],
        }


async def test_rest_errors_and_ping_time(session):
    async with Simulator("binanceusdm") as sim:
        url = sim.depth_url
        for params, code in (
            ({}, -1102),
            ({"symbol": "BTCUSDT"}, -1121),
            ({"symbol": "ETHUSDT", "limit": "7"}, -1130),
            ({"symbol": "ETHUSDT", "limit": "x"}, -1100),
        ):
            async with session.get(url, params=params) as r:
                assert r.status == 400 and (await r.json())["code"] == code
        async with session.get(sim.rest_url + "/fapi/v1/ping") as r:
            assert await r.json() == {}
        async with session.get(sim.rest_url + "/fapi/v1/time") as r:
            assert abs((await r.json())["serverTime"] - time.time() * 1000) < 5000


async def test_spot_exchange_info_filters_and_errors(session):
    async with Simulator("binance", symbol_status={"ETHUSDT": "BREAK"}) as sim:
        url = sim.rest_url + "/api/v3/exchangeInfo"
        for params in ({}, {"symbol": "ETHUSDT"}, {"symbols": '["ETHUSDT"]'}):
            async with session.get(url, params=params) as r:
                assert r.status == 200
                body = await r.json()
            assert body["timezone"] == "UTC" and abs(body["serverTime"] - time.time() * 1000) < 5000
            assert body["rateLimits"][0]["limit"] == 6000
            (entry,) = body["symbols"]
            assert (entry["symbol"], entry["status"], entry["baseAsset"], entry["quoteAsset"]) == (
                "ETHUSDT",
                "BREAK",
                "ETH",
                "USDT",
            )
        # one unknown symbol fails the whole request, as on Binance
        for params, code in (
            ({"symbols": '["ETHUSDT","FOOUSDT"]'}, -1121),
            ({"symbol": "FOOUSDT"}, -1121),
            ({"symbol": "ethusdt"}, -1100),
            ({"symbols": "ETHUSDT"}, -1100),
            ({"symbol": "ETHUSDT", "symbols": '["ETHUSDT"]'}, -1128),
        ):
            async with session.get(url, params=params) as r:
                assert r.status == 400 and (await r.json())["code"] == code, params
        assert sim.exchange_info_requests == 8 and sim.rest_requests == 0


async def test_usdm_exchange_info_lists_every_held_market_and_can_fail(session):
    async with Simulator("binanceusdm") as sim:
        async with session.get(sim.rest_url + "/fapi/v1/exchangeInfo") as r:
            body = await r.json()
        assert body["futuresType"] == "U_MARGINED" and body["rateLimits"][0]["limit"] == 2400
        assert body["symbols"] == [
            {
                "symbol": "ETHUSDT",
                "status": "TRADING",
                "pair": "ETHUSDT",
                "contractType": "PERPETUAL",
                "baseAsset": "ETH",
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
                "filters": [],
            }
        ]
    async with (
        Simulator("binanceusdm", exchange_info_status=503) as sim,
        session.get(sim.rest_url + "/fapi/v1/exchangeInfo") as r,
    ):
        assert r.status == 503 and (await r.json())["code"] == -1001


async def test_exchange_info_splits_assets_of_a_custom_recording(session):
    rec = simmod.Recording.load(
        FIX / "binance" / "cf_depth_bookticker_kline_aggtrade_4sym_20211012.jsonl"
    )
    async with (
        Simulator("binance", recording=rec) as sim,
        session.get(sim.rest_url + "/api/v3/exchangeInfo") as r,
    ):
        got = {e["symbol"]: (e["baseAsset"], e["quoteAsset"]) for e in (await r.json())["symbols"]}
    assert got == {
        "BLZETH": ("BLZ", "ETH"),
        "LRCBTC": ("LRC", "BTC"),
        "NKNUSDT": ("NKN", "USDT"),
        "RUNEEUR": ("RUNE", "EUR"),
    }


# ---- faults -----------------------------------------------------------------------------------


async def test_close_after_n_messages(session):
    async with (
        Simulator("binance", speed="max", faults=[CloseAfter(123, code=1001)]) as sim,
        session.ws_connect(sim.stream_url()) as ws,
    ):
        frames, code = await recv_until_closed(ws)
        assert frames == SPOT_LINES[:123] and code == 1001


async def test_abort_after_n_messages_has_no_close_frame(session):
    async with Simulator("binance", speed="max") as sim:
        sim.hold_at(10)
        async with session.ws_connect(sim.stream_url()) as ws:
            assert await recv_n(ws, 10) == SPOT_LINES[:10]
            sim.inject(CloseAfter(20, abort=True))  # counts from now
            sim.hold_at(500)
            frames, code = await recv_until_closed(ws)
            assert frames == SPOT_LINES[10:30]
            assert code == 1006  # no close frame: the TCP connection was dropped


async def test_stall_holds_data_and_pings_then_delivers(session):
    async with (
        Simulator("binance", speed="max", ping_interval=0.1, faults=[Stall(0.6, after=50)]) as sim,
        session.ws_connect(sim.stream_url(), autoping=False) as ws,
    ):
        got = await recv_n(ws, 50)
        t0 = time.monotonic()
        msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert time.monotonic() - t0 >= 0.45  # nothing at all during the stall, no ping either
        rest = []
        while len(got) + len(rest) < len(SPOT_LINES):
            if msg.type == aiohttp.WSMsgType.TEXT:
                rest.append(msg.data.encode())
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert got + rest == SPOT_LINES  # a stall delays; it loses nothing


async def test_stall_losing_data_leaves_a_gap(session):
    async with Simulator("binance", speed="max") as sim:
        sim.hold_at(200)
        async with session.ws_connect(sim.stream_url()) as ws:
            assert await recv_n(ws, 200) == SPOT_LINES[:200]
            sim.inject(Stall(0.3, lose_data=True))
            sim.hold_at(300)
            await sim.wait_position(300, TIMEOUT)
            await asyncio.sleep(0.4)
            sim.hold_at(310)
            assert await recv_n(ws, 10) == SPOT_LINES[300:310]


async def test_drop_line_removes_exactly_that_message_and_breaks_the_chain(session):
    depth_lines = [i for i, ln in enumerate(SPOT_LINES) if stream_of(ln) == SPOT_DEPTH]
    victim = depth_lines[10]
    async with (
        Simulator("binance", speed="max", faults=[Drop(line=victim)]) as sim,
        session.ws_connect(sim.stream_url()) as ws,
    ):
        got = await recv_n(ws, len(SPOT_LINES) - 1)
    assert got == SPOT_LINES[:victim] + SPOT_LINES[victim + 1 :]
    depth = [json.loads(f)["data"] for f in got if stream_of(f) == SPOT_DEPTH]
    gaps = [k for k in range(1, len(depth)) if depth[k]["U"] != depth[k - 1]["u"] + 1]
    assert gaps == [10]


async def test_drop_next_message_of_a_stream(session):
    async with Simulator("binanceusdm", speed="max") as sim:
        sim.hold_at(100)
        async with session.ws_connect(sim.stream_url(USDM_DEPTH, route="/public")) as ws:
            want = recorded(USDM_LINES[:100], USDM_DEPTH)
            assert await recv_n(ws, len(want)) == want
            sim.inject(Drop(stream=USDM_DEPTH, skip=2))
            sim.hold_at(2000)
            more = recorded(USDM_LINES[100:2000], USDM_DEPTH)
            got = await recv_n(ws, len(more) - 1)
            assert got == more[:2] + more[3:]
            d = [json.loads(f)["data"] for f in got]
            assert d[2]["pu"] != d[1]["u"]  # USD-M gap rule: pu must equal the previous u


async def test_garbage_frame_then_stream_continues(session):
    async with (
        Simulator("binance", speed="max", faults=[Garbage(after=10)]) as sim,
        session.ws_connect(sim.stream_url()) as ws,
    ):
        got = await recv_n(ws, 21)
    assert got[:10] == SPOT_LINES[:10]
    with pytest.raises(json.JSONDecodeError):
        json.loads(got[10])
    assert SPOT_LINES[10].startswith(got[10])  # a truncated copy of the next real frame
    assert got[11:] == SPOT_LINES[10:20]


async def test_slow_snapshot(session):
    async with (
        Simulator("binance", speed="max", faults=[SlowSnapshot(0.5, count=1)]) as sim,
        session.ws_connect(sim.stream_url(SPOT_DEPTH)),
    ):
        await sim.wait_position(5, TIMEOUT)
        for expect_slow in (True, False):
            t0 = time.monotonic()
            async with session.get(sim.depth_url, params={"symbol": "ETHUSDT"}) as r:
                assert r.status == 200
            assert (time.monotonic() - t0 >= 0.5) is expect_slow


@pytest.mark.parametrize("kwargs", [{"faults": [Lifetime(0.4)]}, {"lifetime": 0.4}])
async def test_lifetime_limit_closes_old_connections(session, kwargs):
    async with (
        Simulator("binance", autostart=False, **kwargs) as sim,
        session.ws_connect(sim.raw_url()) as ws,
    ):
        t0 = time.monotonic()
        _frames, code = await recv_until_closed(ws)
        assert code == 1001 and 0.35 <= time.monotonic() - t0 < 2.0


async def test_server_shutdown_notice_then_close(session):
    async with (
        Simulator("binance", autostart=False) as sim,
        session.ws_connect(sim.stream_url(SPOT_DEPTH)) as ws,
    ):
        await sim.wait_connections(1)
        sim.inject(ServerShutdown(grace=0.2))
        frames, code = await recv_until_closed(ws)
        assert len(frames) == 1
        notice = json.loads(frames[0])
        assert notice["e"] == "serverShutdown" and abs(notice["E"] - time.time() * 1000) < 5000
        assert code == 1001


async def test_inject_to_one_connection_only(session):
    async with Simulator("binance", speed="max") as sim:
        sim.hold_at(100)
        a = await session.ws_connect(sim.stream_url())
        b = await session.ws_connect(sim.stream_url())
        conns = await sim.wait_connections(2)
        sim.inject(CloseAfter(0), connection=conns[0])
        closed = [c for c in (a, b) if (await quiet(c, 0.3)) and c.closed]
        assert len(closed) == 1
        await a.close()
        await b.close()


async def test_snapshot_failures_answer_their_status_then_the_book_is_served(session):
    async with (
        Simulator("binance", speed="max", snapshot_mode="recorded") as sim,
        session.ws_connect(sim.stream_url(SPOT_DEPTH)),
    ):
        await sim.wait_finished(TIMEOUT)
        sim.inject(SnapshotFailure(429, count=2, retry_after=1))
        sim.inject(SnapshotFailure(503))
        url, params = sim.depth_url, {"symbol": "ETHUSDT", "limit": "5000"}
        got = []
        for _ in range(4):
            async with session.get(url, params=params) as resp:
                got.append((resp.status, resp.headers.get("Retry-After"), await resp.read()))
        assert [g[:2] for g in got] == [(429, "1"), (429, "1"), (503, None), (200, None)]
        assert got[3][2] == SPOT_SNAPSHOT
        # a route that is not the book snapshot is never failed
        sim.inject(SnapshotFailure(503))
        async with session.get(sim.exchange_info_url) as resp:
            assert resp.status == 200
        assert len(sim.snapshot_failures) == 1


def test_parse_fault_specs():
    assert parse_fault("close_after=5") == CloseAfter(5)
    assert parse_fault("abort_after=5") == CloseAfter(5, abort=True)
    assert parse_fault("stall=2.5,after=10,lose_data=true") == Stall(2.5, after=10, lose_data=True)
    assert parse_fault("drop_stream=ethusdt@trade,skip=3") == Drop(stream="ethusdt@trade", skip=3)
    assert parse_fault("drop_line=7") == Drop(line=7)
    assert parse_fault("snapshot_failure=429,retry_after=2") == SnapshotFailure(429, retry_after=2)
    assert parse_fault("snapshot_failure=503,count=3,hang=true") == SnapshotFailure(
        503, count=3, hang=True
    )
    with pytest.raises(ValueError, match="unknown fault 'explode'"):
        parse_fault("explode=1")


@pytest.mark.parametrize(
    "spec",
    [
        "close_after=-5",
        "abort_after=-1",
        "stall=-1",
        "stall=1,after=-2",
        "drop_line=-1",
        "drop_stream=ethusdt@trade,skip=-1",
        "garbage_after=-3",
        "lifetime=0",
        "slow_snapshot=-0.5",
        "slow_snapshot=1,count=0",
        "shutdown=-1",
        "stall=nan",
        "snapshot_failure=200",
        "snapshot_failure=503,count=0",
    ],
)
def test_fault_specs_reject_negative_counts_and_durations(spec):
    with pytest.raises(ValueError, match=re.escape(f"fault {spec!r}")):
        parse_fault(spec)


def test_faults_reject_negative_values_when_built_directly():
    with pytest.raises(ValueError, match=r"CloseAfter\.messages .* got -1"):
        CloseAfter(-1)
    with pytest.raises(ValueError, match=r"Lifetime\.seconds must be a number > 0"):
        Lifetime(0)


# ---- command line -----------------------------------------------------------------------------


async def test_simulate_command_serves_until_interrupted(session):
    """`tickwire simulate` (the installed console script) prints its URLs, serves the
    recording and exchangeInfo with the configured status, and ends on Ctrl-C with exit 130."""
    run = Running("simulate", "-m", "binance", "--speed", "max", "--symbol-status", "ethusdt=BREAK")
    try:
        info = (await asyncio.to_thread(run.wait_for, "rest info")).split()[-1]
        url = next(line for line in run.stdout if "all streams" in line).split()[-1]
        assert url.startswith("ws://127.0.0.1:")
        async with session.get(info) as resp:
            listed = {m["symbol"]: m["status"] for m in (await resp.json())["symbols"]}
        assert listed == {"ETHUSDT": "BREAK"}
        async with session.ws_connect(url) as ws:
            assert await recv_n(ws, 100, timeout=60) == SPOT_LINES[:100]
    finally:
        code, out, err = await asyncio.to_thread(run.interrupt)
    assert code == 130, err
    assert "Traceback" not in out + err
    bad = await asyncio.to_thread(run_cli, "simulate", "--symbol-status", "BREAK")
    assert_fails_with_one_line(bad, 2, "'BREAK'", "not ID=STATUS")


# ---- recordings and replay control ------------------------------------------------------------


async def test_alias_serves_recorded_frames_under_another_name(session):
    rec = simmod.Recording.load(USDM_FILE.with_suffix(".jsonl"))
    alias = "ethusdt@depth@100ms"
    async with (
        Simulator("binanceusdm", recording=rec, speed="max", aliases={alias: USDM_DEPTH}) as sim,
        session.ws_connect(sim.stream_url(alias, route="/public")) as ws,
    ):
        want = recorded(USDM_LINES, USDM_DEPTH)
        got = await recv_n(ws, len(want))
    prefix = b'{"stream":"' + alias.encode() + b'","data":'
    assert [
        prefix + json.dumps(json.loads(w)["data"], separators=(",", ":")).encode() + b"}"
        for w in want
    ] == got
    with pytest.raises(KeyError):
        rec.add_alias("x@y", "not@recorded")


async def test_rewind_replays_from_the_start_again(session):
    async with Simulator("binance", speed="max") as sim:
        async with session.ws_connect(sim.stream_url("ethusdt@trade")) as ws:
            want = recorded(SPOT_LINES, "ethusdt@trade")
            assert await recv_n(ws, len(want)) == want
            await sim.wait_finished(TIMEOUT)
            await sim.rewind()
            assert sim.position == 0
        async with session.ws_connect(sim.stream_url("ethusdt@trade")) as ws:
            assert await recv_n(ws, len(want)) == want


async def test_custom_recording_with_float_second_timestamps_and_own_snapshots(session):
    base = FIX / "binance" / "cf_depth_bookticker_kline_aggtrade_4sym_20211012"
    lines = [ln for ln in base.with_suffix(".jsonl").read_bytes().split(b"\n") if ln]
    ts = [float(x) for x in base.with_suffix(".ts").read_text().split()]
    snap_path = FIX / "binance" / "cf_depth_snapshot_blzeth_20211012.json"
    probe = simmod.Recording.load(base.with_suffix(".jsonl"))
    after = probe.line_after_ts(1633998514646289800)  # snapshot receive time (SOURCES.md)
    assert after == sum(1 for t in ts if t <= 1633998514.6462898)
    rec = simmod.Recording.load(
        base.with_suffix(".jsonl"), snapshots={"BLZETH": (snap_path, after)}
    )
    assert rec.ts[1] - rec.ts[0] == pytest.approx((ts[1] - ts[0]) * 1e9, abs=1000)
    async with Simulator("binance", recording=rec, speed="max") as sim:
        async with session.ws_connect(sim.stream_url()) as ws:
            assert await recv_n(ws, len(lines)) == lines
        async with session.get(sim.depth_url, params={"symbol": "BLZETH", "limit": "1000"}) as r:
            snap = json.loads(await r.read())
    depth = [
        json.loads(ln)["data"] for ln in lines if json.loads(ln)["stream"] == "blzeth@depth@100ms"
    ]
    applied = [d for d in depth if d["u"] > json.loads(snap_path.read_bytes())["lastUpdateId"]]
    assert len(applied) == 9  # replay finished: the served book is derived from all of them
    assert snap["lastUpdateId"] == applied[-1]["u"]
    levels = {tuple(x) for x in snap["bids"] + snap["asks"]}
    prices = {x[0] for x in snap["bids"] + snap["asks"]}
    for p, q in applied[-1]["b"] + applied[-1]["a"]:
        assert ((p, q) in levels) if float(q) else (p not in prices)


def test_threaded_simulator_for_synchronous_tests():
    import socket

    with simmod.ThreadedSimulator("binance", speed="max", autostart=False) as sim:
        assert sim.ws_url.startswith("ws://127.0.0.1:")
        sim.hold_at(50)
        # a plain blocking client: handshake by hand, read the first frames
        host, port = sim.ws_url[5:].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(
                b"GET /stream?streams=ethusdt@bookTicker HTTP/1.1\r\nHost: x\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            sim.wait_connections(1)
            sim.start_replay()
            assert sim.wait_position(50) == 50
            buf = b""
            want = recorded(SPOT_LINES[:50], "ethusdt@bookTicker")
            total = sum(len(w) for w in want)
            while buf.count(b"ethusdt@bookTicker") < len(want) or len(buf) < total:
                buf += s.recv(65536)
        body = buf.split(b"\r\n\r\n", 1)[1]
        frames, k = [], 0
        while k < len(body):  # unmasked server frames, all short text frames here
            n = body[k + 1]
            head = 2 if n < 126 else 4
            if n == 126:
                n = int.from_bytes(body[k + 2 : k + 4], "big")
            assert body[k] == 0x81
            frames.append(body[k + head : k + head + n])
            k += head + n
        assert frames == want


async def test_line_and_stream_drops_together(session):
    trades = [i for i, ln in enumerate(SPOT_LINES) if stream_of(ln) == "ethusdt@trade"]
    victim_line = trades[5]
    # stream drop: the 4th trade counted from the start -> trades[3]; line drop: trades[5]
    faults = [
        Drop(line=victim_line),
        Drop(stream="ethusdt@trade", skip=3),
        Drop(stream="ethusdt@trade", skip=0),
    ]
    async with Simulator("binance", speed="max", faults=faults) as sim:
        sim.hold_at(trades[20] + 1)
        async with session.ws_connect(sim.stream_url("ethusdt@trade")) as ws:
            got = await recv_n(ws, 21 - 3)
            assert await quiet(ws, 0.2) == []
    # after trades[3] is dropped the next stream drop (skip=0) takes the next one, trades[4];
    # trades[5] goes by line
    keep = [SPOT_LINES[t] for k, t in enumerate(trades[:21]) if k not in (3, 4, 5)]
    assert got == keep


# ---- wire books and checksums (simulator/wirebook.py), on the real recordings ------------------

KRAKEN_REC = "kraken/book1000_checksum_8pairs_20210417.jsonl"
OKX_REC = "okx/books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl"
BITGET_RECS = (
    "bitget/mix_v1_books_ticker_trade_candle_checksum_dashusdt_20220407.jsonl",
    "bitget/spot_v1_books_ticker_trade_candle_checksum_7sym_20220407.jsonl",
)


def _documented_checksums(rel: str) -> int:
    """N of "Checksum: yes (N messages carry a checksum)" in tests/fixtures/SOURCES.md."""
    sources = (FIX / "SOURCES.md").read_text()
    entry = sources[sources.index(f"#### `{rel}`") :]
    m = re.search(r"^- Checksum: yes \((\d+) messages carry a checksum\)", entry, re.M)
    assert m is not None, rel
    return int(m.group(1))


def _kraken_v1_messages(lines: list[bytes]) -> list[tuple[int, BookMessage]]:
    """Kraken WS v1 ``book-N`` frames as (line, message): ``[channelID, {"as","bs"}, "book-N",
    pair]`` snapshots and ``[channelID, {"a"|"b", "c"?}, ({"b","c"?},)? "book-N", pair]``
    updates; levels ``[price, volume, timestamp(, "r")]`` in array order; the depth from the
    channel's ``subscriptionStatus`` (kraken.md §5)."""
    depth_of: dict[int, int] = {}
    out = []
    for i, raw in enumerate(lines):
        f = json.loads(raw)
        if isinstance(f, dict):
            if f.get("event") == "subscriptionStatus":
                depth_of[f["channelID"]] = f["subscription"]["depth"]
            continue
        body = f[1:-2]
        snapshot = "as" in body[0] or "bs" in body[0]
        bids: list[list[str]] = []
        asks: list[list[str]] = []
        checksum = None
        for part in body:
            bids += part.get("bs" if snapshot else "b", [])
            asks += part.get("as" if snapshot else "a", [])
            if "c" in part:
                checksum = int(part["c"])
        out.append((i, BookMessage(f[-1], snapshot, bids, asks, depth_of[f[0]], checksum)))
    return out


def _interleaved_messages(lines: list[bytes]) -> list[tuple[int, BookMessage]]:
    """OKX v5 / Bitget v1 ``books`` frames as (line, message), one per ``data`` item:
    ``{"arg":{"channel":"books","instId"},"action":"snapshot"|"update","data":[{asks,bids,
    checksum}]}`` (okx.md §5, bitget.md §5)."""
    out = []
    for i, raw in enumerate(lines):
        f = json.loads(raw)
        if not isinstance(f, dict) or f.get("arg", {}).get("channel") != "books":
            continue
        if "data" not in f:  # the subscribe ack
            continue
        snapshot = {"snapshot": True, "update": False}[f["action"]]
        for item in f["data"]:
            msg = BookMessage(
                f["arg"]["instId"], snapshot, item["bids"], item["asks"], None, item.get("checksum")
            )
            out.append((i, msg))
    return out


CHECKSUMMED = [
    pytest.param(KRAKEN_REC, _kraken_v1_messages, "kraken", id="kraken"),
    pytest.param(OKX_REC, _interleaved_messages, "interleaved", id="okx"),
    *(
        pytest.param(rel, _interleaved_messages, "interleaved", id=rel.split("/")[1][:8])
        for rel in BITGET_RECS
    ),
]


def _checksum(book: WireBook, fmt: str) -> int:
    return book.kraken_checksum() if fmt == "kraken" else book.interleaved_checksum()


def _fixture_lines(rel: str) -> list[bytes]:
    return [ln for ln in (FIX / rel).read_bytes().split(b"\n") if ln.strip()]


@pytest.mark.parametrize(("rel", "read", "fmt"), CHECKSUMMED)
def test_wirebook_reproduces_every_recorded_checksum(rel, read, fmt):
    messages = read(_fixture_lines(rel))
    books: dict[str, WireBook] = {}
    verified = mismatched = 0
    for _, msg in messages:
        book = books.setdefault(msg.book, WireBook())
        msg.apply_to(book)
        if msg.checksum is not None:
            if _checksum(book, fmt) == msg.checksum:
                verified += 1
            else:
                mismatched += 1
    assert (verified, mismatched) == (_documented_checksums(rel), 0)
    # Every book kept its wire text: each level's strings occur verbatim in the recording.
    raw = (FIX / rel).read_text()
    for book in books.values():
        for price, size in book.bids(5) + book.asks(5):
            assert f'"{price}","{size}"' in raw


def test_wirebook_doc_examples():
    # kraken.md §5: the v1 doc's worked example, "c" = "974947235".
    asks = "0.05005 0.05010 0.05015 0.05020 0.05025 0.05030 0.05035 0.05040 0.05045 0.05050"
    bids = "0.05000 0.04995 0.04990 0.04980 0.04975 0.04970 0.04965 0.04960 0.04955 0.04950"
    book = WireBook()
    book.load_snapshot(
        [(p, "0.00000500") for p in bids.split()], [(p, "0.00000500") for p in asks.split()]
    )
    assert wirebook.kraken_text(book.asks(), book.bids()).startswith("500550050105005015")
    assert book.kraken_checksum() == 974947235
    # okx.md §5: both worked examples (signed, as sent).
    book.load_snapshot([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
    assert wirebook.interleaved_text(book.bids(), book.asks()) == "3366.1:7:3366.8:9:3366:6:3368:8"
    assert book.interleaved_checksum() == -1881014294
    book.load_snapshot([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")])
    assert book.interleaved_checksum() == 831078360
    # bitget.md §5: trailing zeros are kept ("0.5000" is not "0.5").
    book.load_snapshot([("43231.1", "4"), ("43231", "6")], [("43232.8", "9"), ("43232.9", "8")])
    assert book.interleaved_checksum() == -1504501796
    book.load_snapshot([("0.5000", "1.10")], [])
    trailing = book.interleaved_checksum()
    book.load_snapshot([("0.5", "1.1")], [])
    assert book.interleaved_checksum() != trailing


def test_wirebook_rules():
    book = WireBook()
    book.load_snapshot([("3366", "6"), ("3366.1", "7"), ("3365", "0")], [("3368", "8")])
    assert book.bids() == [("3366.1", "7"), ("3366", "6")]  # ordered by value, zero skipped
    book.apply([("3366.10", "7.0"), ("3366", "0")], [("3367", "1")])
    assert book.bids() == [("3366.10", "7.0")]  # the same price rewrites its text; 0 deletes
    assert book.asks() == [("3367", "1"), ("3368", "8")]
    book.apply([(str(p), "1") for p in range(3000, 3010)], [])
    book.truncate(3)
    assert [p for p, _ in book.bids()] == ["3366.10", "3009", "3008"]
    assert book.asks(1) == [("3367", "1")] and len(book) == 5
    copy = book.copy()
    copy.set("ask", "3367", "0")
    assert book.asks(1) == [("3367", "1")] and copy.asks(1) == [("3368", "8")]
    with pytest.raises(ValueError, match="'1e'"):
        book.set("bid", "1e", "1")
    with pytest.raises(ValueError, match="'NaN'"):
        book.set("bid", "1", "NaN")
    with pytest.raises(ValueError, match="side"):
        book.set("both", "1", "1")


@pytest.mark.parametrize(("rel", "read", "fmt"), CHECKSUMMED)
def test_wirebook_catches_a_corrupted_level_at_the_next_checksum(rel, read, fmt):
    """Change the best bid's size by one unit of its last digit after a message; the next
    checksummed delta of that book then mismatches unless it sets that level again."""
    messages = [m for _, m in read(_fixture_lines(rel))]
    books: dict[str, WireBook] = {}
    caught = repaired = 0
    for k, msg in enumerate(messages):
        book = books.setdefault(msg.book, WireBook())
        msg.apply_to(book)
        nxt = next((m for m in messages[k + 1 :] if m.book == msg.book), None)
        if nxt is None or nxt.snapshot or nxt.checksum is None or not book.bids():
            continue
        price, size = book.bids(1)[0]
        unit = Decimal(1).scaleb(Decimal(size).as_tuple().exponent)
        damaged = book.copy()
        damaged.set("bid", price, str(Decimal(size) + unit))
        nxt.apply_to(damaged)
        if any(Decimal(row[0]) == Decimal(price) for row in nxt.bids):
            repaired += 1
        else:
            caught += 1
            assert _checksum(damaged, fmt) != nxt.checksum, (rel, k)
    assert caught > 0, rel


@pytest.mark.parametrize(("rel", "read", "fmt"), CHECKSUMMED)
def test_book_replay_serves_the_book_at_any_position(rel, read, fmt):
    lines = _fixture_lines(rel)
    messages = read(lines)
    by_line: dict[int, list[BookMessage]] = {}
    for line, msg in messages:
        by_line.setdefault(line, []).append(msg)
    replay = BookReplay(lambda line: by_line[line], sorted(by_line))
    # The truth: the books after each line, built message by message.
    books: dict[str, WireBook] = {}
    truth: dict[int, dict[str, tuple[list, list]]] = {}
    probes = set(range(0, len(lines) + 1, max(1, len(lines) // 40))) | {len(lines)}
    for position in range(len(lines) + 1):
        if position in probes:
            truth[position] = {k: (b.bids(), b.asks()) for k, b in books.items()}
        for msg in by_line.get(position, ()):
            msg.apply_to(books.setdefault(msg.book, WireBook()))
    order = sorted(probes)
    for position in [*order, order[len(order) // 2], order[1]]:  # then two positions back
        got = {k: (b.bids(), b.asks()) for k, b in replay.at(position).items()}
        assert got == truth[position], (rel, position)
    # A book served right after a checksummed message carries that message's checksum, and the
    # last applied line is the one that carried it.
    for line, msg in messages[-20:]:
        if msg.checksum is not None and len(by_line[line]) == 1:
            book = replay.book(msg.book, line + 1)
            assert book is not None and _checksum(book, fmt) == msg.checksum
            assert replay.last_line(msg.book) == line and replay.last_message(msg.book) is msg
    replay.reset()
    assert replay.books == {} and replay.last_line(messages[0][1].book) is None


# ---- optional venue hooks: stamp, checksum corruption, fresh snapshots, client keepalives ------
# Binance has none of these, so a test venue adds them to Binance spot over its real recording:
# what is tested is the generic machinery that calls them (what is sent, when, to whom).

_MARK = b',"corrupted":true}'


class _HookedSim(BinanceSim):
    """Binance spot plus: a text ``ping`` answered ``pong`` and marked as a keepalive; a depth
    diff 'corrupted' by a marker field (easy to spot); a fresh snapshot = the REST depth body
    (5 levels) derived at the position."""

    def on_client_message(self, conn, text):
        if text == "ping":
            return Outcome([b"pong"], keepalive=True)
        return super().on_client_message(conn, text)

    def corrupt_checksum(self, stream, payload):
        return payload[:-1] + _MARK if stream == SPOT_DEPTH else None

    def fresh_snapshot(self, conn, stream, position):  # noqa: ARG002 - the hook's signature
        if stream != SPOT_DEPTH:
            return []
        return [self.rest.sources["ETHUSDT"].body(position, 5, prefer_recorded=False)]


class _StampingSim(_HookedSim):
    """:class:`_HookedSim` that numbers each connection's data frames (``"n"``, from 1) and
    withholds its bookTicker frames."""

    def __init__(self, spec, sim):
        super().__init__(spec, sim)
        self.counts: dict[int, int] = {}

    def stamp(self, conn, stream, payload):
        if stream.endswith("@bookTicker"):
            return None
        n = self.counts[conn.id] = self.counts.get(conn.id, 0) + 1
        return payload[:-1] + b',"n":%d}' % n


@dataclasses.dataclass(frozen=True, kw_only=True)
class _HookedSpec(BinanceSpec):
    stamping: bool = False

    def create(self, sim, options):  # noqa: ARG002 - the hook's signature
        return (_StampingSim if self.stamping else _HookedSim)(self, sim)


def _hooked(monkeypatch, stamping: bool = False, **fields) -> str:
    """Register the test venue as a market (removed after the test); returns its name."""
    name = "binance-stamping" if stamping else "binance-hooked"
    spec = _HookedSpec(
        **{**_spec_fields(binance_venue.SPOT), "name": name, **fields}, stamping=stamping
    )
    monkeypatch.setitem(simmod.MARKETS, name, spec)
    monkeypatch.setattr(simmod.recording, "_PACKAGED", {**simmod.recording._PACKAGED})
    return name


def _spec_fields(spec) -> dict:
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}


def _stamped(line: bytes, n: int) -> bytes:
    return line[:-1] + b',"n":%d}' % n


async def test_stamp_hook_sends_each_connection_its_own_fields(session, monkeypatch):
    name = _hooked(monkeypatch, stamping=True)
    streams = (SPOT_DEPTH, "ethusdt@trade", "ethusdt@bookTicker")
    async with Simulator(name, speed="max") as sim:
        assert sim.stamping and not Simulator("binance").stamping
        sim.hold_at(3000)
        first = await session.ws_connect(sim.stream_url(*streams))
        sent = [ln for ln in SPOT_LINES[:3000] if not stream_of(ln).endswith("@bookTicker")]
        assert await recv_n(first, len(sent)) == [_stamped(ln, k + 1) for k, ln in enumerate(sent)]
        await sim.wait_position(3000, TIMEOUT)
        second = await session.ws_connect(sim.stream_url(*streams))
        (c1, c2) = await sim.wait_connections(2)
        sim.hold_at(4000)
        later = [ln for ln in SPOT_LINES[3000:4000] if not stream_of(ln).endswith("@bookTicker")]
        # each connection counts its own frames: the second one starts at 1
        assert await recv_n(second, len(later)) == [
            _stamped(ln, k + 1) for k, ln in enumerate(later)
        ]
        assert await recv_n(first, len(later)) == [
            _stamped(ln, len(sent) + k + 1) for k, ln in enumerate(later)
        ]
        withheld = sum(stream_of(ln).endswith("@bookTicker") for ln in SPOT_LINES[:4000])
        assert c1.dropped == withheld and c1.sent == len(sent) + len(later)
        assert c2.dropped == sum(
            stream_of(ln).endswith("@bookTicker") for ln in SPOT_LINES[3000:4000]
        )
        await first.close()
        await second.close()


@pytest.mark.parametrize("stamping", [False, True])
async def test_bad_checksum_replaces_exactly_one_book_frame(session, monkeypatch, stamping):
    name = _hooked(monkeypatch, stamping=stamping)
    streams = (SPOT_DEPTH, "ethusdt@trade")
    want = recorded(SPOT_LINES, *streams)[:600]
    depth_at = [k for k, ln in enumerate(want) if stream_of(ln) == SPOT_DEPTH]
    async with Simulator(name, speed="max", faults=[BadChecksum(stream=SPOT_DEPTH, skip=3)]) as sim:
        sim.hold_at(SPOT_LINES.index(want[-1]) + 1)
        async with session.ws_connect(sim.stream_url(*streams)) as ws:
            got = await recv_n(ws, len(want))
            (conn,) = sim.connections
            assert conn.corrupted == 1 and conn.dropped == 0
    victim = depth_at[3]  # the 4th frame that carries a checksum
    bad = [*want]
    bad[victim] = want[victim][:-1] + _MARK  # what the venue makes of it
    if stamping:  # stamped after the corruption, like any frame
        want = [_stamped(ln, k + 1) for k, ln in enumerate(want)]
        bad = [_stamped(ln, k + 1) for k, ln in enumerate(bad)]
    assert [k for k in range(len(want)) if got[k] != want[k]] == [victim]
    assert got == bad


async def test_bad_checksum_on_a_venue_without_checksums_never_fires(session):
    async with Simulator("binance", speed="max", faults=[BadChecksum()]) as sim:
        sim.hold_at(500)
        async with session.ws_connect(sim.stream_url()) as ws:
            assert await recv_n(ws, 500) == SPOT_LINES[:500]
            assert sim.connections[0].corrupted == 0


@pytest.mark.parametrize("stamping", [False, True])
async def test_force_snapshot_sends_the_book_at_that_point_mid_stream(
    session, monkeypatch, stamping
):
    name = _hooked(monkeypatch, stamping=stamping)
    want = recorded(SPOT_LINES, SPOT_DEPTH)[:300]
    async with Simulator(name, speed="max", faults=[ForceSnapshot(after=120)]) as sim:
        sim.hold_at(SPOT_LINES.index(want[-1]) + 1)
        async with session.ws_connect(sim.stream_url(SPOT_DEPTH)) as ws:
            got = await recv_n(ws, len(want) + 1)
            assert sim.connections[0].snapshots_forced == 1
    if stamping:  # the snapshot is the venue's own payload: not stamped, not counted
        want = [_stamped(ln, k + 1) for k, ln in enumerate(want)]
    snap = json.loads(got[120])
    assert got[:120] + got[121:] == want
    # the book as of the 120th diff: Binance's lastUpdateId is that diff's final update id
    assert snap["lastUpdateId"] == json.loads(want[119])["data"]["u"]
    assert len(snap["bids"]) == len(snap["asks"]) == 5


async def test_force_snapshot_on_a_venue_with_rest_snapshots_sends_nothing(session):
    async with Simulator("binance", speed="max", faults=[ForceSnapshot(after=10)]) as sim:
        sim.hold_at(300)
        async with session.ws_connect(sim.stream_url()) as ws:
            assert await recv_n(ws, 300) == SPOT_LINES[:300]
            assert sim.connections[0].snapshots_forced == 0


async def test_client_keepalive_deadline_closes_a_silent_client(session, monkeypatch):
    name = _hooked(monkeypatch, client_ping_timeout=0.4, client_ping_close=(4000, "idle"))
    async with Simulator(name, autostart=False) as sim:
        pinging = await session.ws_connect(sim.raw_url())
        silent = await session.ws_connect(sim.raw_url())
        chatty = await session.ws_connect(sim.raw_url())  # talks, but never pings
        t0 = time.monotonic()
        await chatty.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        for _ in range(4):
            await pinging.send_str("ping")
            assert (await pinging.receive()).data == "pong"
            await asyncio.sleep(0.25)
        for ws in (silent, chatty):
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            while msg.type == aiohttp.WSMsgType.TEXT:
                msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert msg.type == aiohttp.WSMsgType.CLOSE and (msg.data, msg.extra) == (4000, "idle")
        assert not pinging.closed and time.monotonic() - t0 >= 0.9
        assert [c.keepalives for c in sim.connections] == [4]
        await pinging.close()
    # The Simulator argument overrides the market's deadline (0 disables it).
    async with (
        Simulator(name, autostart=False, client_ping_timeout=0) as sim,
        session.ws_connect(sim.raw_url()) as ws,
    ):
        assert await quiet(ws, 0.7) == []


async def test_text_pings_count_toward_the_rate_limit(session, monkeypatch):
    name = _hooked(monkeypatch)
    async with Simulator(name, autostart=False) as sim, session.ws_connect(sim.raw_url()) as ws:
        for _ in range(sim.rate_limit + 1):
            await ws.send_str("ping")
        frames, code = await recv_until_closed(ws)
    assert frames == [b"pong"] * sim.rate_limit and code == 1008


def test_parse_fault_book_faults():
    assert parse_fault("bad_checksum=2,stream=x@y") == BadChecksum(stream="x@y", skip=2)
    assert parse_fault("force_snapshot=10") == ForceSnapshot(after=10)
    with pytest.raises(ValueError, match="skip"):
        parse_fault("bad_checksum=-1")


# ---- market names ------------------------------------------------------------------------------


def test_market_names_follow_the_exchange_and_market():
    """``<exchange>`` is the exchange's default market (the decoder's first market),
    ``<exchange>-<market>`` any other; every market is one the decoder knows."""
    venues = tickwire._core.venues()
    for name, spec in simmod.MARKETS.items():
        assert spec.name == name
        assert spec.market in venues[spec.exchange], name
        assert name == market_name(spec.exchange, spec.market, venues[spec.exchange][0])
    assert market_name("bybit", "linear", "spot") == "bybit-linear"
    assert market_name("bybit", "spot", "spot") == "bybit"


def test_simulate_command_lists_every_market():
    out = run_cli("simulate", "--help")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for name in simmod.MARKETS:
        assert name in text
    bad = run_cli("simulate", "-m", "nowhere")
    assert bad.returncode == 2 and all(name in bad.stderr for name in simmod.MARKETS)


def test_every_market_with_a_recording_is_in_the_demo():
    """``tickwire demo`` shows every market that ships a recording (once its exchange has an
    adapter), each with one fault its spec builds for that market's simulator."""
    from tickwire.demo import demo_markets
    from tickwire.exchanges import exchange_ids
    from tickwire.simulator.faults import CONNECTION_FAULTS

    # Markets whose packaged recording is DOCS-DERIVED (no capture exists) are served by
    # the simulator but deliberately left out of the demo, which shows recorded markets.
    docs_derived = {"mexc-linear"}
    everything = [name for name, spec in simmod.MARKETS.items() if spec.packaged is not None]
    assert {n for n in everything if simmod.MARKETS[n].demo is None} == docs_derived
    packaged = [n for n in everything if n not in docs_derived]
    with_adapter = [n for n in packaged if simmod.MARKETS[n].exchange in exchange_ids()]
    assert [s.name for s in demo_markets()] == with_adapter
    assert {"binance", "binanceusdm"} <= set(with_adapter)
    for name in packaged:
        spec = simmod.MARKETS[name]
        assert spec.demo is not None, name
        assert isinstance(spec.demo.fault(Simulator(name)), CONNECTION_FAULTS), name
        assert spec.demo.channels and set(spec.demo.channels) <= {
            "book",
            "trades",
            "bbo",
            "candles",
        }
        assert spec.demo.title and spec.demo.fault_text


def test_demo_recovers_from_each_markets_fault():
    """``tickwire demo`` (offline, plain lines: stdout is no terminal) shows every demo market;
    in each the injected fault is seen (a reconnect or a lost sync) and recovered from (a
    resync), the final book matches the recording, and the whole run takes under a minute."""
    from tickwire.demo import demo_markets

    t0 = time.monotonic()
    proc = run_cli("demo")
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    summary = proc.stdout[proc.stdout.index("tickwire demo:") :].splitlines()
    for spec in demo_markets():
        demo = spec.demo
        head = f"  {demo.title} {demo.symbol} ({demo.fault_text} injected): "
        k = next(i for i, line in enumerate(summary) if line.startswith(head))
        counts = dict(re.findall(r"(reconnects|gaps|resyncs) (\d+)", summary[k + 1]))
        assert int(counts["reconnects"]) + int(counts["gaps"]) >= 1, summary[k : k + 2]
        assert int(counts["resyncs"]) >= 1, summary[k : k + 2]
        assert summary[k + 1].endswith("final book matches the recording"), summary[k : k + 2]
    assert elapsed < 60, elapsed


# --- binary frames: the b64: recording-line convention --------------------------------------------
class _BinaryBinanceWire(binance_venue.BinanceWire):
    """Binance's combined-stream frames, read from ``b64:`` lines too: the generic binary path
    (MEXC's protobuf pushes take it) on a venue this branch has. A ``b64:`` line's frame is
    indexed like a text line and sent as a binary WebSocket frame."""

    def read_binary(self, frame: bytes) -> tuple[str, bytes]:
        return self.read_line(frame)

    def encode_binary(self, stream: str, payload: bytes, framing: object) -> bytes:
        return self.encode(stream, payload, framing)


SPOT_TRADE = "ethusdt@trade"


def _with_binary_trades(monkeypatch) -> tuple[Recording, list[int], set[int]]:
    """The spot ETHUSDT recording with every third trade line written as a ``b64:`` line, and
    a market ``binance-b64`` (Binance spot reading those lines): the recording, the trade line
    indices, the binary ones."""
    spec = dataclasses.replace(
        simmod.MARKETS["binance"], name="binance-b64", wire=_BinaryBinanceWire(), demo=None
    )
    monkeypatch.setitem(simmod.MARKETS, "binance-b64", spec)
    trades = [i for i, ln in enumerate(SPOT_LINES) if stream_of(ln) == SPOT_TRADE]
    binary = set(trades[::3])
    lines = [line_of_frame(ln, i in binary) for i, ln in enumerate(SPOT_LINES)]
    assert all(lines[i].startswith(b"b64:") for i in binary)
    return Recording(lines, SPOT_TS), trades, binary


async def test_b64_lines_are_sent_as_binary_frames(session, monkeypatch):
    rec, trades, binary = _with_binary_trades(monkeypatch)
    async with Simulator("binance-b64", recording=rec, speed="max") as sim:
        assert rec.binary_lines == binary
        ws = await session.ws_connect(sim.stream_url(SPOT_TRADE))
        got = []
        while len(got) < len(trades):
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            text = msg.type == aiohttp.WSMsgType.TEXT
            got.append((msg.type, msg.data.encode() if text else msg.data))
        await ws.close()
    want = [
        (aiohttp.WSMsgType.BINARY if i in binary else aiohttp.WSMsgType.TEXT, SPOT_LINES[i])
        for i in trades
    ]
    assert got == want


@pytest.mark.parametrize("listener", ["FrameSink", "Session"])
async def test_binary_frames_reach_the_decoder_as_binary(monkeypatch, listener):
    # Binance sends text only, so its parser rejects a binary frame by name: each b64: trade
    # line is exactly one bad frame, every text trade is delivered, through the Rust sink and
    # through the Python fallback listener alike.
    import tickwire.connection.session

    if listener == "Session":
        monkeypatch.setattr(tickwire.connection.session, "_frame_sink", lambda *_: None)
    rec, trades, binary = _with_binary_trades(monkeypatch)
    events: list = []
    async with Simulator("binance-b64", recording=rec, speed="max", autostart=False) as sim:
        feed = Feed(
            "binance",
            "ETH/USDT",
            "trades",
            base_url=sim.rest_url,
            on_event=events.append,
            validate_symbols=False,
        )
        async with feed:
            await sim.wait_subscribed(1, timeout=TIMEOUT)
            sim.start_replay()
            await sim.wait_finished(timeout=60)
            await asyncio.sleep(0.3)
            stats = feed.stats()
    bad = [e for e in events if type(e).__name__ == "BadFrame"]
    assert len(bad) == stats["bad_frames"] == len(binary)
    assert all("binary frame" in e.error for e in bad), bad[:2]
    text_ids = [json.loads(SPOT_LINES[i])["data"]["t"] for i in trades if i not in binary]
    assert [e.trade_id for e in events if isinstance(e, tickwire._core.Trade)] == text_ids
