"""Hyperliquid's private (user) channels: decoding, the adapter's hooks, and whole private
sessions against the simulator's account engine (asyncio and uvloop).

Expected values come from the fixtures' own JSON (the docs-derived examples and the one real
fill in tests/fixtures/hyperliquid/private), from the recorded trades (which fill a resting
order in the simulator), or from the simulator's account engine, whose records are the
exchange's truth the wire must carry exactly.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import tickwire as tw
from tickwire import _core as core
from tickwire.connection import ConnectionOptions
from tickwire.events import Connected
from tickwire.exchanges.hyperliquid import Hyperliquid
from tickwire.simulator import (
    AuthServerError,
    CloseAfter,
    FillBurst,
    SimAccount,
    Simulator,
)
from tickwire.simulator.account import AccountEngine, FillState, OrderState

ROOT = Path(__file__).resolve().parent
PRIVATE = ROOT / "fixtures" / "hyperliquid" / "private"
RECORDING = ROOT / "fixtures" / "hyperliquid" / "l2book_trades_btc_20250126.jsonl"
ADDRESS = "0x" + "5e9ee1089755c3435139848e47e6635505d5a13a"  # the docs' example destination
CREDS = tw.Credentials(account=ADDRESS)
FAST = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2, ack_timeout=2.0)
NS = 1_000_000


def _lines(path: Path) -> list[bytes]:
    return [ln for ln in path.read_bytes().splitlines() if ln]


def _d(text: str) -> Decimal:
    return Decimal(text)


# --- decoding: the docs examples and the real fill ------------------------------------------------
SPOT_TABLE = [
    {"market_id": "@107", "symbol": "HYPE/USDC", "tick_size": "0.001", "lot_size": "0.01"}
]


def test_docs_order_update_every_field():
    ack, push, *_ = _lines(PRIVATE / "docs_order_updates_user_events.jsonl")
    dec = core.Decoder("hyperliquid", market="spot", instruments=SPOT_TABLE)
    (reply,) = dec.feed(ack)
    assert (reply.kind, reply.topic) == ("ack", "orderUpdates")
    (raw,) = json.loads(push)["data"]
    (o,) = dec.feed(push)
    assert isinstance(o, tw.OrderUpdate)
    assert o.exchange == "hyperliquid"
    assert o.symbol == "HYPE/USDC"  # coin "@107" through the spotMeta table
    assert o.order_id == str(raw["order"]["oid"])
    assert o.client_order_id is None  # no cloid
    assert o.side == "buy" and raw["order"]["side"] == "B"
    assert o.order_type == "limit"  # every Hyperliquid order is a limit order
    assert o.time_in_force is None  # the push says none
    assert o.status == "new" and raw["status"] == "open"
    assert o.is_final is False
    assert o.decimal("price") == _d(raw["order"]["limitPx"])
    assert o.price == float(raw["order"]["limitPx"])
    assert o.decimal("trigger_price") is None and o.trigger_price is None
    assert o.decimal("size") == _d(raw["order"]["origSz"])
    filled = _d(raw["order"]["origSz"]) - _d(raw["order"]["sz"])
    assert o.decimal("filled_size") == filled and o.filled_size == float(filled)
    assert o.decimal("average_price") is None
    assert o.reduce_only is None
    assert o.created_ts == raw["order"]["timestamp"] * NS
    assert o.exchange_ts == raw["statusTimestamp"] * NS


def test_docs_user_event_fill_every_field():
    *_, ack, push = _lines(PRIVATE / "docs_order_updates_user_events.jsonl")
    dec = core.Decoder("hyperliquid", market="spot", instruments=SPOT_TABLE)
    (reply,) = dec.feed(ack)
    assert (reply.kind, reply.topic) == ("ack", "userEvents")
    (raw,) = json.loads(push)["data"]["fills"]
    (f,) = dec.feed(push)
    assert isinstance(f, tw.Fill)
    assert f.exchange == "hyperliquid"
    assert f.symbol == "HYPE/USDC"
    assert f.trade_id == str(raw["tid"])
    assert f.order_id == str(raw["oid"])
    assert f.client_order_id is None
    assert f.side == "buy" and raw["side"] == "B"
    assert f.decimal("price") == _d(raw["px"]) and f.price == float(raw["px"])
    assert f.decimal("size") == _d(raw["sz"]) and f.size == float(raw["sz"])
    assert f.decimal("fee") == _d(raw["fee"]) and f.fee == float(raw["fee"])
    assert f.fee_asset == raw["feeToken"]
    assert f.is_maker is (not raw["crossed"])
    assert f.liquidation is False  # no liquidation object
    assert f.exchange_ts == raw["time"] * NS
    # what the Fill does not carry is documented: startPosition, dir, closedPnl, hash, twapId


def test_real_fill_every_field():
    """The one real Hyperliquid fill (a liquidation counterparty fill on channel ``user``)."""
    (line,) = _lines(PRIVATE / "private_user_fill_liquidation.jsonl")
    (raw,) = json.loads(line)["data"]["fills"]
    liquidated = raw["liquidation"]["liquidatedUser"]
    for user, ours in [(None, None), (ADDRESS, False), (liquidated, True)]:
        dec = core.Decoder("hyperliquid")
        if user is not None:  # the userFills snapshot names the connection's user
            snap = {"channel": "userFills", "data": {"isSnapshot": True, "user": user, "fills": []}}
            assert dec.feed(json.dumps(snap).encode()) == []
        (f,) = dec.feed(line)
        assert f.exchange == "hyperliquid"
        assert f.symbol == f"{raw['coin']}/USDC:USDC"
        assert f.trade_id == str(raw["tid"])
        assert f.order_id == str(raw["oid"])
        assert f.client_order_id == raw["cloid"]
        assert f.side == "sell" and raw["side"] == "A"
        assert f.decimal("price") == _d(raw["px"])
        assert f.decimal("size") == _d(raw["sz"])
        assert f.decimal("fee") == _d(raw["fee"])
        assert f.fee_asset == raw["feeToken"]
        assert f.is_maker is (not raw["crossed"]) is True
        assert f.liquidation is ours  # only a liquidation OF this account is one
        assert f.exchange_ts == raw["time"] * NS
        assert f.receive_ts > 0


def test_malformed_private_frames_are_frame_errors():
    (line,) = _lines(PRIVATE / "private_user_fill_liquidation.jsonl")
    dec = core.Decoder("hyperliquid")
    for bad, field in [
        (line.replace(b'"tid"', b'"tidx"'), "tidx"),
        (line.replace(b'"side":"A"', b'"side":"S"'), "side"),
        (line.replace(b'"px":"66653.0"', b'"px":"abc"'), "px"),
    ]:
        with pytest.raises(tw.FrameError, match=field):
            dec.feed(bad)


# --- the adapter's hooks ---------------------------------------------------------------------------
def test_private_subscriptions_requests_and_recovery_calls():
    a = Hyperliquid(credentials=CREDS)
    subs = a.private_subscriptions(["orders", "fills", "positions", "balances"])
    assert [(s.symbol, s.channel, s.route, s.stream) for s in subs] == [
        ("", "orders", "private", "orderUpdates"),
        ("", "fills", "private", "userFills"),
        ("", "positions", "private", "webData2"),  # balances ride the same stream
    ]
    reqs = a.subscribe_requests(subs, lambda: 0)
    assert [json.loads(r.payload) for r in reqs] == [
        {"method": "subscribe", "subscription": {"type": s.stream, "user": ADDRESS}} for s in subs
    ]
    assert [r.acks for r in reqs] == [frozenset({s.stream}) for s in subs]
    assert not any(r.login for r in reqs)
    assert a.login_requests("private", lambda: 0) == []  # no login: reads name the user
    assert a.ws_url("private") == "wss://api.hyperliquid.xyz/ws"
    (call,) = a.account_requests("fills", 1_700_000_000_000)
    assert (call.method, call.url) == ("POST", "https://api.hyperliquid.xyz/info")
    assert json.loads(call.body or b"") == {
        "type": "userFillsByTime",
        "user": ADDRESS,
        "startTime": 1_700_000_000_000,
    }
    (call,) = a.account_requests("orders", 0)
    assert json.loads(call.body or b"") == {"type": "historicalOrders", "user": ADDRESS}


def test_private_channels_need_an_address():
    with pytest.raises(ValueError, match="credentials"):
        Hyperliquid().private_subscriptions(["fills"])
    with pytest.raises(ValueError, match="0x<40 hex digits>"):
        Hyperliquid(credentials=tw.Credentials(api_key="k")).private_subscriptions(["fills"])
    with pytest.raises(ValueError, match="not a hyperliquid private channel"):
        Hyperliquid(credentials=CREDS).private_subscriptions(["book"])
    with pytest.raises(ValueError, match="credentials"):
        tw.Feed("hyperliquid", channels=["fills"])


# --- the simulator's side over a raw WebSocket --------------------------------------------------
def _recorded_trades() -> list[dict[str, Any]]:
    out = []
    for line in _lines(RECORDING):
        obj = json.loads(line)
        if obj["channel"] == "trades":
            out.extend(obj["data"])
    return out


def _expected_fills(side: str, price: Decimal, size: Decimal) -> list[Decimal]:
    """The fill sizes of a resting limit order placed before the replay: every recorded trade
    at or through its price fills it (maker, at its price) until it is done."""
    left, sizes = size, []
    for t in _recorded_trades():
        px = _d(t["px"])
        if left <= 0 or (px > price if side == "buy" else px < price):
            continue
        take = min(left, _d(t["sz"]))
        sizes.append(take)
        left -= take
    return sizes


def test_simulator_frames_decode_to_the_engine_records(run):
    """Subscribe with a raw client; a resting buy fills from the recorded trades; every frame
    decodes (tw.Decoder) to exactly the engine's orders, fills, position and balance."""
    price, size = Decimal("105053.0"), Decimal("0.3")
    expected = _expected_fills("buy", price, size)
    assert len(expected) >= 2  # the recording crosses it more than once: partial, then full

    async def scenario() -> tuple[list[Any], AccountEngine]:
        acct = SimAccount(address=ADDRESS, balances={"USDC": "10000"})
        async with Simulator("hyperliquid", speed="max", accounts=[acct], autostart=False) as sim:
            engine = sim.accounts.engine()
            dec = core.Decoder("hyperliquid")
            events: list[Any] = []
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(sim.ws_url + "/ws")
                await ws.receive_str()  # the greeting
                for kind in ("userFills", "orderUpdates", "webData2"):
                    sub = {"type": kind, "user": ADDRESS}
                    await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
                acks = 0
                while acks < 3:  # subscribed before anything happens
                    got = dec.feed((await asyncio.wait_for(ws.receive_str(), 5)).encode())
                    acks += sum(1 for e in got if isinstance(e, tw.ControlReply))
                    events.extend(e for e in got if not isinstance(e, tw.ControlReply))
                engine.place(
                    "BTC", "buy", str(size), str(price), client_order_id="0x" + "0" * 31 + "7"
                )
                sim.start_replay()
                await sim.wait_finished(10)
                # until the last batch's webData2 (its Balance comes last)
                while len(_of(events, tw.Fill)) < len(expected) or not isinstance(
                    events[-1], tw.Balance
                ):
                    msg = await asyncio.wait_for(ws.receive_str(), 5)
                    events.extend(dec.feed(msg.encode()))
                await ws.close()
            return events, engine

    events, engine = run(scenario())
    fills = [e for e in events if isinstance(e, tw.Fill)]
    assert [f.decimal("size") for f in fills] == expected
    _assert_fills_are(fills, engine.fills)
    orders = [e for e in events if isinstance(e, tw.OrderUpdate)]
    _assert_orders_are(orders, engine.order_log)
    assert [o.status for o in orders] == ["new"] + ["partially_filled"] * (len(expected) - 1) + [
        "filled"
    ]
    pos = [e for e in events if isinstance(e, tw.Position)][-1]
    assert (pos.side, pos.decimal("size")) == ("long", size)
    assert pos.decimal("entry_price") == price
    assert pos.decimal("unrealized_pnl") == engine.position("BTC").unrealized_pnl
    bal = [e for e in events if isinstance(e, tw.Balance)][-1]
    usdc = engine.balance("USDC")
    assert bal.asset == "USDC"
    assert bal.decimal("free") == usdc.free
    assert bal.decimal("locked") == usdc.locked
    assert bal.decimal("total") == usdc.total + engine.position("BTC").unrealized_pnl


def _assert_fills_are(fills: list[Any], truth: list[FillState]) -> None:
    assert [f.trade_id for f in fills] == [str(t.trade_id) for t in truth]
    for f, t in zip(fills, truth, strict=True):
        assert f.symbol == f"{t.market_id}/USDC:USDC"
        assert f.order_id == str(t.order_id)
        assert f.client_order_id == t.client_order_id
        assert f.side == t.side
        assert f.decimal("price") == t.price
        assert f.decimal("size") == t.size
        assert f.decimal("fee") == t.fee
        assert f.fee_asset == t.fee_asset
        assert f.is_maker is t.is_maker
        assert f.liquidation is t.liquidation
        assert f.exchange_ts == t.ts_ns // NS * NS


def _assert_orders_are(orders: list[Any], truth: list[OrderState]) -> None:
    assert len(orders) == len(truth)
    status = {"new": "new", "partially_filled": "partially_filled", "filled": "filled"}
    status |= {"canceled": "canceled", "rejected": "rejected"}
    for o, t in zip(orders, truth, strict=True):
        assert o.order_id == str(t.order_id)
        assert o.client_order_id == t.client_order_id
        assert o.side == t.side
        want = status[t.status]
        if t.status == "new" and t.filled:
            want = "partially_filled"
        assert o.status == want
        assert o.decimal("size") == t.size
        assert o.decimal("filled_size") == t.filled
        limit = t.price if t.price is not None else t.average_price
        assert o.decimal("price") == limit
        assert o.created_ts == t.created_ns // NS * NS
        assert o.exchange_ts == t.updated_ns // NS * NS


# --- whole private sessions through tw.Feed ------------------------------------------------------
async def _wait(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _feed(sim: Simulator, events: list[Any], channels: list[str] | None = None) -> tw.Feed:
    return tw.Feed(
        "hyperliquid",
        channels=channels or ["orders", "fills", "positions", "balances"],
        credentials=CREDS,
        base_url=sim.rest_url,
        on_event=events.append,
        connection_options=FAST,
        start_timeout=10.0,
    )


def _private_subscribed(sim: Simulator, n: int = 3) -> bool:
    return any(len(c.subscriptions) >= n and not c.closed for c in sim.connections)


def test_full_private_session(run):
    """Recorded-market fills of a resting buy, then a scripted sell: partly filled,
    canceled, then a market sell closing the rest at the mark: every Feed event equals the
    engine's record, the position goes long then flat, the balance follows."""
    price, size = Decimal("105053.0"), Decimal("0.3")
    expected = _expected_fills("buy", price, size)

    async def scenario() -> tuple[list[Any], AccountEngine, dict[str, Any]]:
        acct = SimAccount(address=ADDRESS, balances={"USDC": "10000"})
        async with Simulator("hyperliquid", speed="max", accounts=[acct], autostart=False) as sim:
            engine = sim.accounts.engine()
            events: list[Any] = []
            async with _feed(sim, events) as feed:
                await _wait(lambda: _private_subscribed(sim))
                engine.place("BTC", "buy", str(size), str(price), client_order_id="0x" + "a" * 32)
                sim.start_replay()
                await sim.wait_finished(10)
                await _wait(lambda: len(_of(events, tw.Fill)) == len(expected))
                sell = engine.place(
                    "BTC", "sell", "0.1", "105090.0", client_order_id="0x" + "b" * 32
                )
                engine.fill(sell.order_id, "0.04")
                engine.cancel(sell.order_id)
                left = engine.position("BTC").size  # what the scripted fill left: close it
                engine.place("BTC", "sell", str(left), order_type="market")
                await _wait(lambda: len(_of(events, tw.Fill)) == len(engine.fills))
                await _wait(lambda: _of(events, tw.Position)[-1].side == "flat")
                stats = feed.stats()
            return events, engine, stats

    events, engine, stats = run(scenario())
    fills = _of(events, tw.Fill)
    assert [f.decimal("size") for f in fills[: len(expected)]] == expected
    _assert_fills_are(fills, engine.fills)
    assert engine.fills[-1].realized_pnl != 0 and not engine.fills[-1].is_maker
    _assert_orders_are(_of(events, tw.OrderUpdate), engine.order_log)
    assert [o.status for o in _of(events, tw.OrderUpdate)][-4:] == [
        "partially_filled",  # the scripted 0.04 of the sell
        "canceled",
        "new",  # the market sell, accepted
        "filled",
    ]
    positions = _of(events, tw.Position)
    assert {p.side for p in positions} == {"long", "flat"}
    assert positions[-1].decimal("size") == 0
    long = [p for p in positions if p.side == "long"][-1]
    assert long.decimal("entry_price") == price and long.margin_mode == "cross"
    assert long.decimal("leverage") == Decimal(engine.account.leverage)
    bal = _of(events, tw.Balance)[-1]
    usdc = engine.balance("USDC")
    assert (bal.decimal("free"), bal.decimal("locked"), bal.decimal("total")) == (
        usdc.free,
        usdc.locked,
        usdc.total,  # flat: no unrealized PnL
    )
    # realized PnL and fees, exactly: the wallet is the deposit plus both
    realized = sum((f.realized_pnl for f in engine.fills), Decimal(0))
    fees = sum((f.fee for f in engine.fills), Decimal(0))
    assert bal.decimal("total") == Decimal(10000) + realized - fees
    assert stats["reconnects"] == 0


def _of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_fill_burst_disconnect_recovers_every_fill_once(run):
    """Six scripted fills with a disconnect after the second: the reconnect re-sends the
    userFills snapshot (fills already delivered: deduped by tid) and the feed fetches the
    fills made while away over POST /info userFillsByTime; every fill arrives exactly once,
    in order. Two 500s on the first REST attempts are retried, not fatal."""

    async def scenario() -> tuple[list[Any], AccountEngine, dict[str, Any], Simulator]:
        acct = SimAccount(address=ADDRESS, balances={"USDC": "100000"})
        async with Simulator("hyperliquid", speed="max", accounts=[acct], autostart=False) as sim:
            engine = sim.accounts.engine()
            events: list[Any] = []
            async with _feed(sim, events, ["fills", "orders"]) as feed:
                await _wait(lambda: _private_subscribed(sim, 2))
                engine.place("BTC", "buy", "0.6", "100000.0", client_order_id="0x" + "c" * 32)
                await _wait(lambda: len(_of(events, tw.OrderUpdate)) == 1)
                sim.inject(AuthServerError(count=2, where="rest"))
                sim.inject(
                    FillBurst(order="0x" + "c" * 32, fills=6, size="0.1", disconnect_after=2)
                )
                await _wait(lambda: len(_of(events, Connected)) == 2)
                await _wait(lambda: len(_of(events, tw.Fill)) >= len(engine.fills))
                await asyncio.sleep(0.3)  # anything late would show up as a duplicate
                stats = feed.stats()
            return events, engine, stats, sim

    events, engine, stats, sim = run(scenario())
    assert len(engine.fills) == 6
    _assert_fills_are(_of(events, tw.Fill), engine.fills)
    assert stats["reconnects"] == 1
    assert stats["account_duplicates"] > 0  # the snapshot's and the REST list's repeats
    requests = sim.venue.user_info_requests  # type: ignore[attr-defined]
    assert requests.get("userFillsByTime", 0) >= 1
    assert sim.accounts.auth_errors.get("rest") == 0  # both 500s were used up and retried
    orders = _of(events, tw.OrderUpdate)
    assert orders[-1].status == "filled" and orders[-1].decimal("filled_size") == Decimal("0.6")
    assert not _of(events, tw.AccountGap)


def test_reconnect_snapshot_is_not_delivered_twice(run):
    """A plain reconnect: the userFills snapshot comes again with every past fill; none is
    delivered a second time."""

    async def scenario() -> tuple[list[Any], AccountEngine, dict[str, Any]]:
        acct = SimAccount(address=ADDRESS, balances={"USDC": "100000"})
        async with Simulator("hyperliquid", speed="max", accounts=[acct], autostart=False) as sim:
            engine = sim.accounts.engine()
            events: list[Any] = []
            async with _feed(sim, events, ["fills"]) as feed:
                await _wait(lambda: _private_subscribed(sim, 1))
                order = engine.place("BTC", "buy", "0.3", "100000.0")
                for _ in range(3):
                    engine.fill(order.order_id, "0.1")
                await _wait(lambda: len(_of(events, tw.Fill)) == 3)
                sim.inject(CloseAfter(0))
                await _wait(lambda: len(_of(events, Connected)) == 2)
                await _wait(lambda: _private_subscribed(sim, 1))
                await asyncio.sleep(0.3)
                stats = feed.stats()
            return events, engine, stats

    events, engine, stats = run(scenario())
    _assert_fills_are(_of(events, tw.Fill), engine.fills)
    assert stats["account_duplicates"] >= 3  # the snapshot's three
