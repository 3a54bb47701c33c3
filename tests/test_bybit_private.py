"""Bybit v5's private (account) side: signers, every field of the docs examples, and full
private sessions against the simulator (auth op verified as Bybit does, account activity from
the simulator's account engine, signed REST recovery), under asyncio and uvloop.

Fixtures: tests/fixtures/bybit/private/ (see SOURCES.md there: docs-derived examples).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

import tickwire as tw
from private_helpers import wait_for
from tickwire.auth import bybit as signer
from tickwire.connection import ConnectionOptions
from tickwire.events import Connected
from tickwire.exchanges.bybit import Bybit
from tickwire.simulator import AuthServerError, ClockSkew, FillBurst, SimAccount, Simulator

PRIVATE = (
    Path(__file__).parent / "fixtures" / "bybit" / "private" / "jkorf_v5_private_examples.jsonl"
)
LINES = PRIVATE.read_text().splitlines()
KEY = "bKey3f81c0d2a7e4b95"
SECRET = "bSec9a27e4f1c06d3b58"  # noqa: S105 - the simulated account's test secret
GOOD = tw.Credentials(api_key=KEY, secret=SECRET)
FAST = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2, ack_timeout=2.0)
SYMBOL = "BTCUSDT"  # a recorded linear symbol of the simulator


def _line(topic: str) -> bytes:
    """The example whose ``topic`` is ``topic``."""
    for line in LINES:
        obj = json.loads(line)
        if obj.get("topic") == topic:
            return line.encode()
    raise AssertionError(f"no {topic} example")


def _data(topic: str) -> dict:
    return json.loads(_line(topic))["data"][0]


def _ns(ms: str | int) -> int:
    return int(ms) * 1_000_000


# --- signers -------------------------------------------------------------------------------------
def _independent(secret: str, text: str) -> str:
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def test_rest_signature_of_the_documented_examples():
    # bybit.md §7: the docs' GET and POST examples give the signed text but not the secret;
    # the texts are rebuilt exactly and signed, cross-checked by an independent HMAC.
    get = signer.rest_payload(
        1658384314791, "XXXXXXXXXX", 5000, "category=option&symbol=BTC-29JUL22-25000-C"
    )
    assert get == "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    post = signer.rest_payload(1658385579423, "XXXXXXXXXX", 5000, '{"category": "option"}')
    assert post == '1658385579423XXXXXXXXXX5000{"category": "option"}'
    h = signer.rest_headers(
        "XXXXXXXXXX", SECRET, 1658384314791, "category=option&symbol=BTC-29JUL22-25000-C"
    )
    assert h == {
        "X-BAPI-API-KEY": "XXXXXXXXXX",
        "X-BAPI-TIMESTAMP": "1658384314791",
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": _independent(SECRET, get),
    }
    assert len(h["X-BAPI-SIGN"]) == 64 and h["X-BAPI-SIGN"] == h["X-BAPI-SIGN"].lower()
    with pytest.raises(ValueError, match="recv_window"):
        signer.rest_headers("k", "s", 1, "", recv_window_ms=0)


def test_ws_auth_signature_and_op():
    expires = 1662350400000
    sig = signer.ws_signature(SECRET, expires)
    assert sig == _independent(SECRET, "GET/realtime1662350400000")
    op = signer.ws_auth_payload("7", KEY, SECRET, expires)
    assert op == {"req_id": "7", "op": "auth", "args": [KEY, expires, sig]}
    for bad in (-1, 1.5, "1662350400000", True):
        with pytest.raises(ValueError, match="expires_ms"):
            signer.ws_signature(SECRET, bad)  # type: ignore[arg-type]


def test_adapter_auth_request_uses_the_measured_clock():
    adapter = Bybit(credentials=GOOD)
    adapter.clock.offset_ns = 42_000 * 1_000_000  # the exchange runs 42 s ahead
    before = adapter.clock.now_ms()
    (req,) = adapter.login_requests("private", iter(range(5, 9)).__next__)
    op = json.loads(req.payload)
    key, expires, sig = op["args"]
    assert (op["op"], op["req_id"], key, req.acks, req.login) == (
        "auth",
        "5",
        KEY,
        frozenset({5}),
        True,
    )
    assert (
        before + adapter.auth_window_ms
        <= expires
        <= adapter.clock.now_ms() + adapter.auth_window_ms
    )
    assert sig == _independent(SECRET, f"GET/realtime{expires}")
    assert adapter.login_requests("linear", iter(range(3)).__next__) == []
    with pytest.raises(ValueError, match="credentials"):
        Bybit().login_requests("private", iter(range(3)).__next__)


def test_adapter_account_requests_are_signed_over_the_query_sent():
    adapter = Bybit(credentials=GOOD, options={"account_categories": ["linear"]})
    (fills,) = adapter.account_requests("fills", 1_700_000_000_000)
    assert (fills.method, fills.url) == ("GET", "https://api.bybit.com/v5/execution/list")
    assert fills.params == {"category": "linear", "limit": "100", "startTime": "1700000000000"}
    h = fills.headers
    text = h["X-BAPI-TIMESTAMP"] + KEY + h["X-BAPI-RECV-WINDOW"] + urlencode(fills.params)
    assert h["X-BAPI-SIGN"] == _independent(SECRET, text) and h["X-BAPI-API-KEY"] == KEY
    realtime, history = adapter.account_requests("orders", 5)
    assert realtime.url.endswith("/v5/order/realtime") and "startTime" not in realtime.params
    assert history.url.endswith("/v5/order/history") and history.params["startTime"] == "5"
    assert len(Bybit(credentials=GOOD).account_requests("fills", 0)) == 3  # spot, linear, inverse
    with pytest.raises(ValueError, match="account list"):
        adapter.account_requests("positions", 0)
    with pytest.raises(ValueError, match="account_categories"):
        Bybit(options={"account_categories": ["futures"]})


def test_private_subscriptions_and_server_time():
    adapter = Bybit()
    subs = adapter.private_subscriptions(["orders", "fills", "positions", "balances"])
    assert [(s.symbol, s.route, s.stream) for s in subs] == [
        ("", "private", "order"),
        ("", "private", "execution"),
        ("", "private", "position"),
        ("", "private", "wallet"),
    ]
    assert adapter.ws_url("private") == "wss://stream.bybit.com/v5/private"
    with pytest.raises(ValueError, match="not a bybit private channel"):
        adapter.private_subscriptions(["book"])
    body = b'{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"retExtInfo":{},"time":1688639403423}'
    assert adapter.parse_server_time(body) == 1688639403423
    with pytest.raises(tw.ExchangeError):
        adapter.parse_server_time(b'{"retCode":10016,"retMsg":"busy"}')


# --- every field of the docs examples, through the Python decoder -------------------------------
def _decode(topic: str) -> list:
    dec = tw.Decoder("bybit", "spot")  # the private stream's decoder: category decides
    return [e for e in dec.feed(_line(topic)) if not isinstance(e, tw.ControlReply)]


def test_order_example_every_field():
    d = _data("order")
    (o,) = _decode("order")
    assert isinstance(o, tw.OrderUpdate)
    assert (o.exchange, o.symbol) == ("bybit", "ETH/USDC:USDC-221230-1400-C")  # category option
    assert o.order_id == d["orderId"] and o.client_order_id is None  # orderLinkId ""
    assert (o.side, o.order_type, o.time_in_force) == ("sell", "market", "ioc")
    assert (o.status, o.is_final) == ("filled", True)
    assert o.decimal("price") is None  # a market order's "72.5" is its protective price
    assert o.decimal("trigger_price") is None  # ""
    assert o.decimal("size") == Decimal(d["qty"])
    assert o.decimal("filled_size") == Decimal(d["cumExecQty"])
    assert o.decimal("average_price") == Decimal(d["avgPrice"])
    assert o.reduce_only is d["reduceOnly"] is False
    assert o.created_ts == _ns(d["createdTime"]) and o.exchange_ts == _ns(d["updatedTime"])


def test_execution_example_every_field():
    d = _data("execution")
    (f,) = _decode("execution")
    assert isinstance(f, tw.Fill)
    assert f.symbol == "XRP/USDT:USDT"
    assert (f.trade_id, f.order_id, f.client_order_id) == (d["execId"], d["orderId"], None)
    assert f.side == "sell"
    assert f.decimal("price") == Decimal(d["execPrice"]) and f.decimal("size") == Decimal(
        d["execQty"]
    )
    assert f.decimal("fee") == Decimal(d["execFee"]) > 0  # paid
    assert f.fee_asset is None  # this push has no feeCurrency
    assert f.is_maker is d["isMaker"] is False
    assert f.liquidation is False  # execType Trade
    assert f.exchange_ts == _ns(d["execTime"])


def test_execution_fast_example_every_field():
    d = _data("execution.fast")
    (f,) = _decode("execution.fast")
    assert f.symbol == "ICP/USDT:USDT"
    assert (f.trade_id, f.order_id, f.client_order_id) == (
        d["execId"],
        d["orderId"],
        d["orderLinkId"],
    )
    assert f.side == "sell"
    assert f.decimal("price") == Decimal(d["execPrice"]) and f.decimal("size") == Decimal(
        d["execQty"]
    )
    assert (f.decimal("fee"), f.fee_asset, f.is_maker, f.liquidation) == (None, None, None, None)
    assert f.exchange_ts == _ns(d["execTime"])


def test_position_example_every_field():
    d = _data("position")
    (p,) = _decode("position")
    assert isinstance(p, tw.Position)
    assert p.symbol == "BTC/USDT:USDT"
    assert (p.side, p.decimal("size")) == ("flat", Decimal(d["size"]))  # side "", size 0
    assert p.decimal("entry_price") is None and p.decimal("liquidation_price") is None  # "0"
    assert p.decimal("mark_price") == Decimal(d["markPrice"])
    assert p.decimal("unrealized_pnl") == Decimal(d["unrealisedPnl"])
    assert p.decimal("leverage") == Decimal(d["leverage"])
    assert p.margin_mode == "cross"  # tradeMode 0
    assert p.exchange_ts == _ns(d["updatedTime"])


def test_wallet_example_every_field():
    frame = json.loads(_line("wallet"))
    (coin,) = frame["data"][0]["coin"]
    (b,) = _decode("wallet")
    assert isinstance(b, tw.Balance)
    assert b.asset == coin["coin"]
    assert b.decimal("free") == Decimal(coin["availableToWithdraw"])
    assert b.decimal("locked") == Decimal(coin["locked"])  # totalOrderIM/PositionIM ""
    assert b.decimal("total") == Decimal(coin["walletBalance"])
    assert b.exchange_ts == _ns(frame["creationTime"])


def test_auth_and_subscribe_replies():
    dec = tw.Decoder("bybit", "spot")
    auth, ack = (json.loads(x) for x in LINES[:2])
    assert auth["op"] == "auth" and ack["op"] == "subscribe"
    (login,) = dec.feed(LINES[0].encode())
    assert login.kind == "login" and login.request_id == "|5|"
    (sub,) = dec.feed(LINES[1].encode())
    assert sub.kind == "ack"


# --- full private sessions against the simulator ------------------------------------------------
def _account() -> SimAccount:
    return SimAccount(name="alice", api_key=KEY, secret=SECRET, balances={"USDT": "100000"})


def _feed(sim: Simulator, events: list, creds: tw.Credentials = GOOD, **kw) -> tw.Feed:
    adapter = Bybit(
        base_url=sim.rest_url, credentials=creds, options={"account_categories": ["linear"]}
    )
    return tw.Feed(
        adapter,
        channels=kw.pop("channels", ["orders", "fills", "positions", "balances"]),
        on_event=events.append,
        connection_options=FAST,
        start_timeout=10.0,
        **kw,
    )


def test_full_private_session(run):
    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            eng = sim.accounts.engine()
            events: list = []
            async with _feed(sim, events) as feed:
                await wait_for(lambda: sim.accounts.marks.get(SYMBOL) is not None)
                mark = sim.accounts.marks[SYMBOL]
                price = (mark * Decimal("0.5")).quantize(Decimal("0.1"))
                placed = eng.place(SYMBOL, "buy", "0.01", price, client_order_id="c1")
                eng.fill("c1", "0.004")
                eng.cancel("c1")
                await wait_for(
                    lambda: any(
                        isinstance(e, tw.OrderUpdate) and e.status == "canceled" for e in events
                    )
                )
                await wait_for(lambda: len([e for e in events if isinstance(e, tw.Balance)]) >= 3)
                stats = feed.stats()
            return eng, placed, events, stats

    eng, placed, events, stats = run(scenario())
    orders = [e for e in events if isinstance(e, tw.OrderUpdate)]
    fills = [e for e in events if isinstance(e, tw.Fill)]
    positions = [e for e in events if isinstance(e, tw.Position)]
    balances = [e for e in events if isinstance(e, tw.Balance)]
    assert stats["logins"] == 1
    # orders: new, partially filled, canceled (Bybit PartiallyFilledCanceled), exact values
    assert [o.status for o in orders] == ["new", "partially_filled", "canceled"]
    log = eng.order_log
    assert len(log) == len(orders)
    for o, s in zip(orders, log, strict=True):
        assert (o.symbol, o.order_id, o.client_order_id) == (
            "BTC/USDT:USDT",
            str(placed.order_id),
            "c1",
        )
        assert (o.side, o.order_type, o.time_in_force) == ("buy", "limit", "gtc")
        assert o.decimal("price") == placed.price and o.decimal("size") == Decimal("0.01")
        assert (
            o.decimal("filled_size") == s.filled and o.exchange_ts == s.updated_ns // 10**6 * 10**6
        )
    (fill,) = fills
    (sf,) = eng.fills
    assert (fill.trade_id, fill.order_id, fill.client_order_id) == (
        str(sf.trade_id),
        str(sf.order_id),
        "c1",
    )
    assert (fill.side, fill.decimal("price"), fill.decimal("size")) == ("buy", sf.price, sf.size)
    assert fill.decimal("fee") == sf.fee and fill.is_maker is sf.is_maker is True
    assert fill.liquidation is False and fill.fee_asset is None  # linear: no feeCurrency
    assert fill.exchange_ts == sf.ts_ns // 10**6 * 10**6
    (pos,) = positions
    sp = eng.position(SYMBOL)
    assert (pos.symbol, pos.side, pos.decimal("size")) == ("BTC/USDT:USDT", "long", sp.size)
    assert pos.decimal("entry_price") == sp.entry_price and pos.margin_mode == "cross"
    assert pos.decimal("leverage") == sp.leverage
    last = balances[-1]
    sb = eng.balance("USDT")
    assert last.asset == "USDT"
    assert (last.decimal("free"), last.decimal("locked"), last.decimal("total")) == (
        sb.free,
        sb.locked,
        sb.total,
    )


@pytest.mark.parametrize(
    ("creds", "skew_ms", "message"),
    [
        (tw.Credentials(api_key="bKeyWRONG0000000000", secret=SECRET), 0, "Invalid apikey"),
        (
            tw.Credentials(api_key=KEY, secret="x" + SECRET[1:]),
            0,
            "Error sign, origin_string[GET/realtime",
        ),
    ],
)
def test_auth_failures_are_one_auth_error_and_no_retry(run, creds, skew_ms, message):
    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            if skew_ms:
                sim.inject(ClockSkew(skew_ms))
            feed = _feed(sim, [], creds)
            with pytest.raises(tw.AuthError) as ei:
                await feed.start()
            await asyncio.sleep(1.0)  # a retry loop would have connected again by now
            return sim.total_connections, ei.value

    connections, err = run(scenario())
    assert connections == 1
    assert err.exchange == "bybit" and err.code is None and message in (err.reason or "")
    assert creds.secret not in str(err) and SECRET not in str(err)


def test_expired_auth_is_params_error(run):
    # A 10 s window the exchange clock has already passed: Bybit's "Params Error".
    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            feed = _feed(sim, [])
            feed.adapter.auth_window_ms = -60_000
            with pytest.raises(tw.AuthError) as ei:
                await feed.start()
            await asyncio.sleep(0.5)
            return sim.total_connections, ei.value

    connections, err = run(scenario())
    assert connections == 1 and err.reason == "Params Error"


def test_clock_skew_is_absorbed_by_the_measured_offset(run):
    # The exchange runs 30 s ahead: signed with our clock, a 10 s window would have expired
    # ("Params Error"); signed with the measured offset it is accepted.
    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            sim.inject(ClockSkew(30_000))
            async with _feed(sim, []) as feed:
                offset_ms = feed.adapter.clock.offset_ns / 1e6
                stats = feed.stats()
            return offset_ms, stats

    offset_ms, stats = run(scenario())
    assert abs(offset_ms - 30_000) < 1_000 and stats["logins"] == 1


def test_reconnect_re_auths_and_fetches_missed_fills_deduped(run):
    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            eng = sim.accounts.engine()
            events: list = []
            async with _feed(sim, events, channels=["orders", "fills"]) as feed:
                await wait_for(lambda: sim.accounts.marks.get(SYMBOL) is not None)
                price = (sim.accounts.marks[SYMBOL] * Decimal("0.5")).quantize(Decimal("0.1"))
                eng.place(SYMBOL, "buy", "1", price, client_order_id="burst")
                sim.inject(FillBurst(order="burst", fills=6, size="0.1", disconnect_after=2))
                await wait_for(
                    lambda: len({e.trade_id for e in events if isinstance(e, tw.Fill)}) == 6
                )
                await wait_for(lambda: len([e for e in events if isinstance(e, Connected)]) == 2)
                stats = feed.stats()
            return eng, events, stats

    eng, events, stats = run(scenario())
    fills = [e for e in events if isinstance(e, tw.Fill)]
    assert [f.trade_id for f in fills] == [str(f.trade_id) for f in eng.fills]  # in order, once
    assert [f.decimal("size") for f in fills] == [f.size for f in eng.fills]
    assert stats["logins"] == 2 and stats["reconnects"] >= 1
    assert stats["account_filled"] >= 1


def _burst_while_away(fills: int) -> tuple[Any, list, dict]:
    """A 1-lot order filled ``fills`` times by 0.001, the private socket closed after the
    second fill: (the engine, the events, the feed's stats) once every fill arrived."""

    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            eng = sim.accounts.engine()
            events: list = []
            async with _feed(sim, events, channels=["fills"]) as feed:
                await wait_for(lambda: sim.accounts.marks.get(SYMBOL) is not None)
                price = (sim.accounts.marks[SYMBOL] * Decimal("0.5")).quantize(Decimal("0.1"))
                eng.place(SYMBOL, "buy", "1", price, client_order_id="big")
                sim.inject(FillBurst(order="big", fills=fills, size="0.001", disconnect_after=2))
                await wait_for(lambda: len([e for e in events if isinstance(e, Connected)]) == 2)
                await wait_for(
                    lambda: (
                        feed.stats()["account_filled"] + 2 >= fills
                        or any(type(e).__name__ == "AccountGap" for e in events)
                    )
                )
                await asyncio.sleep(0.2)  # nothing more may come (no duplicates)
                stats = feed.stats()
            return eng, events, stats

    return scenario()


def test_recovery_follows_the_cursor_over_every_page(run):
    # 250 fills, 248 of them while away: Bybit's fill list gives 100 a page, so the recovery
    # reads three pages by nextPageCursor (the simulator's cursor has a "%3A" in it, as
    # Bybit's: signed and sent as the same query).
    eng, events, stats = run(_burst_while_away(250))
    fills = [e for e in events if isinstance(e, tw.Fill)]
    assert len(eng.fills) == 250
    assert [f.trade_id for f in fills] == [str(f.trade_id) for f in eng.fills]  # in order
    assert len({f.trade_id for f in fills}) == len(fills)  # each once
    away = len(eng.fills) - 2
    assert stats["account_filled"] >= away > 200  # more than two pages came over REST
    assert not [e for e in events if type(e).__name__ == "AccountGap"]


def test_recovery_pages_are_bounded_and_the_rest_reported(run, monkeypatch):
    from tickwire.connection import private

    monkeypatch.setattr(private, "RECOVERY_MAX_PAGES", 2)
    eng, events, stats = run(_burst_while_away(250))
    fills = [e for e in events if isinstance(e, tw.Fill)]
    (gap,) = [e for e in events if type(e).__name__ == "AccountGap"]
    assert gap.what == "fills" and "more than 2 pages" in gap.reason
    assert stats["account_filled"] == 200  # the two newest pages
    assert len({f.trade_id for f in fills}) == len(fills) == 2 + 200
    newest = {str(f.trade_id) for f in eng.fills[-200:]}
    assert {f.trade_id for f in fills if f.trade_id in newest} == newest


def test_auth_server_error_is_transient_and_retried(run):
    # The simulator's auth server fails once (socket closed with 1011): backoff, then login.
    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            sim.inject(AuthServerError(count=1, where="login"))
            async with _feed(sim, []) as feed:
                stats = feed.stats()
            return sim.total_connections, stats

    connections, stats = run(scenario())
    assert connections == 2 and stats["logins"] == 1


def test_simulator_verifies_rest_signatures_as_bybit(run):
    async def call(sim: Simulator, creds: tw.Credentials, skew_ms: int = 0) -> tuple[int, dict]:
        adapter = Bybit(
            base_url=sim.rest_url, credentials=creds, options={"account_categories": ["linear"]}
        )
        adapter.clock.offset_ns = skew_ms * 1_000_000
        (c,) = adapter.account_requests("fills", 0)
        async with (
            aiohttp.ClientSession() as http,
            http.get(c.url, params=c.params, headers=c.headers) as r,
        ):
            return r.status, json.loads(await r.read())

    async def scenario():
        async with Simulator("bybit-linear", speed=1, accounts=[_account()]) as sim:
            return [
                await call(sim, GOOD),
                await call(sim, tw.Credentials(api_key=KEY, secret="x" + SECRET[1:])),
                await call(sim, tw.Credentials(api_key="bKeyWRONG0000000000", secret=SECRET)),
                await call(sim, GOOD, skew_ms=-10_000),  # older than the 5 s receive window
                await call(sim, GOOD, skew_ms=+2_000),  # 1 s or more ahead of the server
            ]

    good, bad_sign, bad_key, old, ahead = run(scenario())
    assert good[0] == 200 and good[1]["retCode"] == 0 and good[1]["result"]["list"] == []
    assert (bad_sign[0], bad_sign[1]["retCode"]) == (401, 10004)
    assert (bad_key[0], bad_key[1]["retCode"], bad_key[1]["retMsg"]) == (
        401,
        10003,
        "API key is invalid.",
    )
    assert old[1]["retCode"] == ahead[1]["retCode"] == 10002
