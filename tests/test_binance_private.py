"""Binance private (account) side, spot (``binance``) and USD-M (``binanceusdm``).

Signers against Binance's published vectors (shared/docs/exchanges/binance.md §7); every field
of the docs-derived user-data examples (tests/fixtures/binance/private, SOURCES.md) decoded or
named as dropped; the adapter's signed requests checked by the simulator's Binance-rule
verifier; full private sessions against the simulator (see the end of the file).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

import tickwire as tw
from tickwire.auth import Credentials
from tickwire.auth import binance as signer
from tickwire.exchanges.binance import BinanceSpot, BinanceUsdm
from tickwire.simulator import ClockSkew, FillBurst, SimAccount, Simulator, TokenExpiry
from tickwire.simulator.venues import binance as simbn

PRIVATE = Path(__file__).parent / "fixtures" / "binance" / "private"
MS = 1_000_000

# --- official vectors (binance.md §7, "OFFICIAL TEST VECTORS") ---------------------------------
HMAC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
HMAC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"  # noqa: S105 - published vector
FULL_WIDTH = "１２３４５６"


def test_rest_hmac_vectors():
    """REST-1 and REST-2: the query as sent (REST-2 percent-encodes the full-width symbol)."""
    rest1 = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert (
        signer.hmac_hex(HMAC_SECRET, rest1)
        == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )
    params = dict(x.split("=") for x in rest1.split("&"))
    assert signer.rest_query(params) == rest1
    params["symbol"] = FULL_WIDTH
    signed = signer.sign_rest(HMAC_SECRET, params)
    assert signed.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=")
    assert signed.endswith(
        "&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
    )


def test_ws_api_hmac_vectors():
    """WSAPI-1 and WSAPI-2: params sorted by name, raw UTF-8 (not percent-encoded)."""
    p1 = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000000",
        "price": "52000.00",
        "recvWindow": 100,
        "timestamp": 1645423376532,
        "apiKey": HMAC_KEY,
    }
    assert signer.ws_api_payload(p1) == (
        f"apiKey={HMAC_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL"
        "&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
    )
    assert (
        signer.ws_api_signature(p1, secret=HMAC_SECRET)
        == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    )
    p2 = {
        **p1,
        "symbol": FULL_WIDTH,
        "side": "BUY",
        "quantity": "1.00000000",
        "price": "0.10000000",
        "recvWindow": 5000,
    }
    sig = signer.ws_api_signature(p2, secret=HMAC_SECRET)
    assert sig == "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
    # a signature already in the params is not signed over
    assert signer.ws_api_signature({**p2, "signature": sig}, secret=HMAC_SECRET) == sig


FIX_PRIVATE_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n"
    "-----END PRIVATE KEY-----\n"
)


def test_ed25519_published_fix_vector():
    """The only Ed25519 vector whose private key Binance publishes (fix-api.md Logon): the
    payload is MsgType, SenderCompID, TargetCompID, MsgSeqNum, SendingTime joined by SOH."""
    payload = "\x01".join(["A", "EXAMPLE", "SPOT", "1", "20240627-11:17:25.223"])  # noqa: FLY002
    sig = signer.ed25519_signature(FIX_PRIVATE_PEM, payload)
    assert sig == (
        "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM+5UdlGPrQHrgtS3CvsRURC1oj73j8gCA=="
    )
    public = (
        signer.load_ed25519_private_key(FIX_PRIVATE_PEM)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert signer.verify_ed25519(public, payload, sig)
    assert not signer.verify_ed25519(public, payload + "x", sig)


def _ed25519_pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_ed25519_ws_api_signing_with_a_generated_key():
    """The WS API Ed25519 vectors' private key is not published (binance.md §7), so signing is
    checked with a generated key: the signature of the WSAPI-1 payload verifies with its public
    key, is base64 of 64 bytes, and fails for another payload or another key."""
    private, public = _ed25519_pair()
    params = {"apiKey": "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO"}
    params |= {"symbol": "BTCUSDT", "side": "SELL", "timestamp": 1645423376532}
    sig = signer.ws_api_signature(params, private_key=private)
    assert len(sig) == 88 and sig.endswith("==")
    payload = signer.ws_api_payload(params)
    assert signer.verify_ed25519(public, payload, sig)
    assert not signer.verify_ed25519(public, payload.replace("SELL", "BUY"), sig)
    assert not signer.verify_ed25519(_ed25519_pair()[1], payload, sig)
    with pytest.raises(ValueError, match="not a readable") as err:
        signer.load_ed25519_private_key(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
    assert "AAAA" not in str(err.value)


# --- every field of the docs-derived user-data examples ---------------------------------------


def _js(obj: object) -> bytes:
    return json.dumps(obj).encode()


def _lines(name: str) -> list[bytes]:
    return [ln for ln in (PRIVATE / name).read_bytes().splitlines() if ln.strip()]


def _event(line: bytes) -> dict[str, Any]:
    obj = json.loads(line)
    return obj["event"] if "event" in obj else obj["data"]


def _by_e(name: str, e: str) -> bytes:
    (line,) = [ln for ln in _lines(name) if _event(ln)["e"] == e]
    return line


def _covered(obj: dict[str, Any], used: set[str], dropped: dict[str, str]) -> None:
    """Every key of ``obj`` is either decoded (``used``) or named as dropped with a reason."""
    assert set(obj) == used | set(dropped), set(obj) ^ (used | set(dropped))
    assert not used & set(dropped)


def test_spot_execution_report_every_field():
    line = _by_e("spot_user_data.jsonl", "executionReport")
    ev = _event(line)
    (order,) = tw.Decoder("binance").feed(line, 7)
    assert isinstance(order, tw.OrderUpdate)
    assert order.exchange == "binance"
    assert order.symbol == "ETH/BTC"  # s
    assert order.client_order_id == ev["c"]  # c (C is "": not a cancel)
    assert order.side == ev["S"].lower()
    assert (order.order_type, order.time_in_force) == ("limit", "gtc")  # o, f
    assert order.decimal("size") == Decimal(ev["q"])
    assert order.decimal("price") == Decimal(ev["p"])
    assert Decimal(ev["P"]) == 0 and order.trigger_price is None  # P: 0 means none
    assert (ev["x"], order.status, order.is_final) == ("NEW", "new", False)  # x, X
    assert order.order_id == str(ev["i"])
    assert order.decimal("filled_size") == Decimal(ev["z"])
    assert Decimal(ev["Z"]) == 0 and order.average_price is None  # Z / z before any fill
    assert order.created_ts == ev["O"] * MS
    assert order.exchange_ts == ev["T"] * MS
    assert order.reduce_only is None and order.receive_ts == 7
    # x == NEW: no fill; l, L, n, N, t, m describe the (absent) last fill
    assert (Decimal(ev["l"]), Decimal(ev["L"]), ev["t"], ev["N"]) == (0, 0, -1, None)
    _covered(
        ev,
        {"e", "s", "c", "C", "S", "o", "f", "q", "p", "P", "x", "X", "i", "z", "Z", "O", "T"}
        | {"l", "L", "n", "N", "t", "m"},
        {
            "E": "event time (T, the transaction time, is the order's time)",
            "F": "iceberg quantity",
            "g": "order list id",
            "r": "reject reason",
            "I": "ignore",
            "w": "is on the book",
            "M": "ignore",
            "Y": "last quote quantity",
            "Q": "quote order quantity",
            "W": "working time",
            "V": "self-trade prevention mode",
        },
    )
    # The same report as a trade (x TRADE) also yields the Fill, fields from l L n N t m.
    trade = dict(ev, x="TRADE", X="PARTIALLY_FILLED", l="0.4", z="0.4", L="0.1026", Z="0.04104")
    trade |= {"n": "0.0004", "N": "ETH", "t": 77, "m": True}
    order, fill = tw.Decoder("binance").feed(_js({"subscriptionId": 0, "event": trade}))
    assert order.status == "partially_filled"
    assert order.decimal("average_price") == Decimal(trade["Z"]) / Decimal(trade["z"])
    assert isinstance(fill, tw.Fill)
    assert (fill.trade_id, fill.order_id, fill.client_order_id) == ("77", str(ev["i"]), ev["c"])
    assert (fill.side, fill.is_maker, fill.liquidation, fill.fee_asset) == (
        "buy",
        True,
        None,
        "ETH",
    )
    assert fill.decimal("price") == Decimal("0.1026") and fill.decimal("size") == Decimal("0.4")
    assert fill.decimal("fee") == Decimal("0.0004") and fill.exchange_ts == ev["T"] * MS
    # a cancel names the canceled order's client id in C
    cancel = dict(ev, x="CANCELED", X="CANCELED", c="cancelreq1", C=ev["c"])
    (order,) = tw.Decoder("binance").feed(_js({"subscriptionId": 0, "event": cancel}))
    assert (order.status, order.client_order_id, order.is_final) == ("canceled", ev["c"], True)


def test_spot_balances_every_field():
    line = _by_e("spot_user_data.jsonl", "outboundAccountPosition")
    ev = _event(line)
    events = tw.Decoder("binance").feed(line)
    assert len(events) == len(ev["B"])
    for bal, b in zip(events, ev["B"], strict=True):
        assert isinstance(bal, tw.Balance)
        assert bal.asset == b["a"]
        assert bal.decimal("free") == Decimal(b["f"]) and bal.decimal("locked") == Decimal(b["l"])
        assert bal.decimal("total") == Decimal(b["f"]) + Decimal(b["l"])
        assert bal.exchange_ts == ev["u"] * MS
        _covered(b, {"a", "f", "l"}, {})
    _covered(ev, {"e", "u", "B"}, {"E": "event time (u is the account's update time)"})
    # balanceUpdate is a delta, not a state: a notice; the state follows in the event above
    line = _by_e("spot_user_data.jsonl", "balanceUpdate")
    ev = _event(line)
    (notice,) = tw.Decoder("binance").feed(line)
    assert isinstance(notice, tw.Notice)
    assert (notice.name, notice.exchange_ts) == ("balanceUpdate", ev["E"] * MS)
    _covered(ev, {"e", "E"}, {"a": "asset of the delta", "d": "delta", "T": "clear time"})
    # listStatus (OCO lists) is not decoded: valid, no event
    assert tw.Decoder("binance").feed(_by_e("spot_user_data.jsonl", "listStatus")) == []


def test_usdm_order_trade_update_every_field():
    line = _by_e("usdm_user_data.jsonl", "ORDER_TRADE_UPDATE")
    top = _event(line)
    o = top["o"]
    (order,) = tw.Decoder("binanceusdm").feed(line)
    assert isinstance(order, tw.OrderUpdate)
    assert order.symbol == "BTC/USDT:USDT" and order.order_id == str(o["i"])
    assert order.client_order_id == o["c"] and order.side == o["S"].lower()
    assert order.order_type == "trailing_stop"  # o TRAILING_STOP_MARKET
    assert order.time_in_force == "gtc"
    assert order.decimal("size") == Decimal(o["q"])
    assert Decimal(o["p"]) == 0 and order.price is None  # p 0: no limit price
    assert Decimal(o["ap"]) == 0 and order.average_price is None
    assert order.decimal("trigger_price") == Decimal(o["sp"])
    assert (o["x"], order.status) == ("NEW", "new")
    assert order.decimal("filled_size") == Decimal(o["z"])
    assert order.reduce_only is o["R"] and order.created_ts is None
    assert order.exchange_ts == o["T"] * MS
    # x NEW: no fill; l L N n t m are the (absent) last fill's
    assert (Decimal(o["l"]), o["t"]) == (0, 0)
    _covered(top, {"e", "o"}, {"E": "event time", "T": "transaction time (o.T is used)"})
    _covered(
        o,
        {"s", "c", "S", "o", "f", "q", "p", "ap", "sp", "x", "X", "i", "z", "T", "R", "ot"}
        | {"l", "L", "N", "n", "t", "m"},
        {
            "b": "bids notional",
            "a": "asks notional",
            "wt": "stop price working type",
            "ps": "position side",
            "cp": "close-all flag",
            "AP": "trailing activation price",
            "cr": "callback rate",
            "pP": "price protection",
            "si": "ignore",
            "ss": "ignore",
            "rp": "realized profit of the trade",
            "V": "self-trade prevention mode",
            "pm": "price match mode",
            "gtd": "good-till-date time",
        },
    )
    # A trade of a liquidation order: Fill with fee n/N, maker m, liquidation from the
    # documented `autoclose-` client id and LIQUIDATION type.
    fill_o = dict(o, o="LIQUIDATION", ot="LIQUIDATION", c="autoclose-1568879465", x="TRADE")
    fill_o |= {"X": "FILLED", "l": "0.001", "z": "0.001", "L": "7100.5", "ap": "7100.5"}
    fill_o |= {"n": "0.0028402", "t": 991, "m": False, "R": True}
    order, fill = tw.Decoder("binanceusdm").feed(_js({**top, "o": fill_o}))
    assert (order.status, order.order_type, order.reduce_only) == ("filled", "market", True)
    assert order.decimal("average_price") == Decimal("7100.5")
    assert (fill.trade_id, fill.side, fill.is_maker, fill.liquidation) == (
        "991",
        "sell",
        False,
        True,
    )
    assert fill.decimal("fee") == Decimal("0.0028402") and fill.fee_asset == o["N"]
    assert fill.decimal("price") == Decimal("7100.5") and fill.decimal("size") == Decimal("0.001")
    # an ordinary trade is no liquidation
    plain = dict(fill_o, o="LIMIT", ot="LIMIT", c="mine", p="7100.5")
    _, fill = tw.Decoder("binanceusdm").feed(_js({**top, "o": plain}))
    assert fill.liquidation is False and fill.client_order_id == "mine"


def test_dispatch_without_order_handler_builds_only_fills():
    """A fills-only feed (no ``order`` handler): ``dispatch`` builds no ``OrderUpdate`` (issue
    12: a fifth of a cold fill's decode), the fill is the one ``feed`` returns, an update without
    a fill yields nothing, and ``feed`` / an order handler still get every order update."""
    for name, e in (
        ("usdm_user_data.jsonl", "ORDER_TRADE_UPDATE"),
        ("spot_user_data.jsonl", "executionReport"),
    ):
        exchange = "binanceusdm" if name.startswith("usdm") else "binance"
        line = _by_e(name, e)
        obj = json.loads(line)
        ev = obj["event"] if "event" in obj else obj["data"]
        body = ev["o"] if e == "ORDER_TRADE_UPDATE" else ev
        body |= {"x": "TRADE", "X": "FILLED", "t": 991, "l": "0.001", "L": "7100.5"}
        fill_frame = _js(obj)
        for frame, fills in ((line, 0), (fill_frame, 1)):
            want = tw.Decoder(exchange).feed(frame)
            assert [type(x) for x in want] == [tw.OrderUpdate] + [tw.Fill] * fills
            got: list[Any] = []
            dec = tw.Decoder(exchange)
            dec.set_handlers(fill=got.append)
            assert dec.dispatch(frame) == fills  # the order update was not even built
            assert [(f.trade_id, f.order_id, f.client_order_id, f.side) for f in got] == [
                (f.trade_id, f.order_id, f.client_order_id, f.side) for f in want[1:]
            ]
            assert [(f.decimal("price"), f.decimal("size"), f.exchange_ts) for f in got] == [
                (f.decimal("price"), f.decimal("size"), f.exchange_ts) for f in want[1:]
            ]
            orders: list[Any] = []
            dec.set_handlers(fill=got.append, order=orders.append)
            assert dec.dispatch(frame) == 1 + fills and len(orders) == 1
            assert dec.feed(frame)[0].status == want[0].status  # feed: everything, always


def test_usdm_account_update_every_field():
    line = _by_e("usdm_user_data.jsonl", "ACCOUNT_UPDATE")
    top = _event(line)
    a = top["a"]
    events = tw.Decoder("binanceusdm").feed(line)
    balances = [e for e in events if isinstance(e, tw.Balance)]
    positions = [e for e in events if isinstance(e, tw.Position)]
    assert len(balances) == len(a["B"]) and len(positions) == len(a["P"])
    assert len(events) == len(balances) + len(positions)
    for bal, b in zip(balances, a["B"], strict=True):
        assert bal.asset == b["a"] and bal.decimal("total") == Decimal(b["wb"])
        assert bal.free is None and bal.locked is None
        assert bal.exchange_ts == top["T"] * MS
        _covered(b, {"a", "wb"}, {"cw": "cross wallet balance", "bc": "balance change (delta)"})
    for pos, p in zip(positions, a["P"], strict=True):
        amount = Decimal(p["pa"])
        assert pos.symbol == "BTC/USDT:USDT"
        assert pos.decimal("size") == abs(amount)
        want_side = "flat" if amount == 0 else p["ps"].lower()
        assert pos.side == want_side
        if Decimal(p["ep"]) == 0:
            assert pos.entry_price is None
        else:
            assert pos.decimal("entry_price") == Decimal(p["ep"])
        assert pos.decimal("unrealized_pnl") == Decimal(p["up"])
        assert pos.margin_mode == p["mt"]
        assert pos.mark_price is None and pos.leverage is None and pos.liquidation_price is None
        assert pos.exchange_ts == top["T"] * MS
        _covered(
            p,
            {"s", "pa", "ep", "up", "mt", "ps"},
            {
                "bep": "breakeven price",
                "cr": "accumulated realized",
                "iw": "isolated wallet",
            },
        )
    assert {p.side for p in positions} == {"flat", "long", "short"}
    _covered(top, {"e", "T", "a"}, {"E": "event time"})
    _covered(a, {"B", "P"}, {"m": "reason of the update"})


def test_usdm_other_user_events_are_valid_and_ignored():
    """ALGO_UPDATE, TRADE_LITE, MARGIN_CALL, ... parse as valid JSON and yield nothing."""
    d = tw.Decoder("binanceusdm")
    skipped = [
        ln
        for ln in _lines("usdm_user_data.jsonl")
        if _event(ln)["e"] not in ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE")
    ]
    assert skipped
    for line in skipped:
        assert d.feed(line) == []


@pytest.mark.parametrize("exchange", ["binance", "binanceusdm"])
def test_user_data_notices(exchange):
    for name in ("listenKeyExpired", "eventStreamTerminated"):
        raw = {"e": name, "E": 1576653824250}
        frame = {"subscriptionId": 0, "event": raw} if exchange == "binance" else raw
        (notice,) = tw.Decoder(exchange).feed(_js(frame))
        assert (notice.name, notice.exchange_ts) == (name, raw["E"] * MS)


def test_ws_api_replies_are_login_or_error_without_secrets():
    """A WS API success is a Login control (the logon result's apiKey is not kept); an error
    carries Binance's code and message."""
    d = tw.Decoder("binance")
    result = {"apiKey": HMAC_KEY, "authorizedSince": 1, "connectedSince": 1, "serverTime": 1}
    (ok,) = d.feed(_js({"id": 3, "status": 200, "result": result}))
    assert (ok.kind, ok.request_id, ok.code, ok.message) == ("login", 3, None, None)
    assert HMAC_KEY not in repr(ok)
    err = {"id": 4, "status": 400, "error": {"code": -1022, "msg": simbn.ERR_BAD_SIGNATURE[1]}}
    (bad,) = d.feed(_js(err))
    assert (bad.kind, bad.request_id, bad.code) == ("error", 4, -1022)
    assert bad.message == simbn.ERR_BAD_SIGNATURE[1]


# --- REST account lists -------------------------------------------------------------------------
# Bodies in the shape of Binance's REST docs ("Account trade list", "All orders").
SPOT_MY_TRADES = [
    {
        "symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1,
        "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
        "commission": "10.10000000", "commissionAsset": "BNB", "time": 1499865549590,
        "isBuyer": True, "isMaker": False, "isBestMatch": True,
    }
]  # fmt: skip
USDM_USER_TRADES = [
    {
        "buyer": False, "commission": "-0.07819010", "commissionAsset": "USDT", "id": 698759,
        "maker": False, "orderId": 25851813, "price": "7819.01", "qty": "0.002",
        "quoteQty": "15.63802", "realizedPnl": "-0.91539999", "side": "SELL",
        "positionSide": "SHORT", "symbol": "BTCUSDT", "time": 1569514978020,
    }
]  # fmt: skip
SPOT_ALL_ORDERS = [
    {
        "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1",
        "price": "0.1", "origQty": "1.0", "executedQty": "0.5", "cummulativeQuoteQty": "0.05",
        "status": "PARTIALLY_FILLED", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
        "stopPrice": "0.0", "icebergQty": "0.0", "time": 1499827319559,
        "updateTime": 1499827319559, "isWorking": True, "origQuoteOrderQty": "0.000000",
    }
]  # fmt: skip
USDM_ALL_ORDERS = [
    {
        "avgPrice": "0.00000", "clientOrderId": "abc", "cumQuote": "0", "executedQty": "0",
        "orderId": 1917641, "origQty": "0.40", "origType": "TRAILING_STOP_MARKET",
        "price": "0", "reduceOnly": False, "side": "BUY", "positionSide": "SHORT",
        "status": "NEW", "stopPrice": "9300", "closePosition": False, "symbol": "BTCUSDT",
        "time": 1579276756075, "timeInForce": "GTC", "type": "TRAILING_STOP_MARKET",
        "activatePrice": "9020", "priceRate": "0.3", "updateTime": 1579276756075,
        "workingType": "CONTRACT_PRICE", "priceProtect": False,
    }
]  # fmt: skip


def test_rest_account_lists():
    d = tw.Decoder("binance")
    (fill,) = d.apply_account("fills", json.dumps(SPOT_MY_TRADES).encode())
    t = SPOT_MY_TRADES[0]
    assert (fill.symbol, fill.trade_id, fill.order_id) == (
        "BNB/BTC",
        str(t["id"]),
        str(t["orderId"]),
    )
    assert (fill.side, fill.is_maker, fill.fee_asset) == ("buy", False, "BNB")
    assert fill.decimal("price") == Decimal(t["price"]) and fill.decimal("size") == Decimal(
        t["qty"]
    )
    assert fill.decimal("fee") == Decimal(t["commission"]) and fill.exchange_ts == t["time"] * MS
    (order,) = d.apply_account("orders", json.dumps(SPOT_ALL_ORDERS).encode())
    o = SPOT_ALL_ORDERS[0]
    assert (order.symbol, order.order_id, order.client_order_id) == ("LTC/BTC", "1", "myOrder1")
    assert (order.status, order.order_type, order.time_in_force) == (
        "partially_filled",
        "limit",
        "gtc",
    )
    assert order.decimal("filled_size") == Decimal(o["executedQty"])
    assert order.decimal("average_price") == Decimal(o["cummulativeQuoteQty"]) / Decimal(
        o["executedQty"]
    )
    assert order.trigger_price is None and order.created_ts == o["time"] * MS

    d = tw.Decoder("binanceusdm")
    (fill,) = d.apply_account("fills", json.dumps(USDM_USER_TRADES).encode())
    t = USDM_USER_TRADES[0]
    assert (fill.symbol, fill.side, fill.is_maker) == ("BTC/USDT:USDT", "sell", False)
    assert fill.decimal("fee") == Decimal(t["commission"])
    (order,) = d.apply_account("orders", json.dumps(USDM_ALL_ORDERS).encode())
    o = USDM_ALL_ORDERS[0]
    assert (order.order_type, order.status, order.reduce_only) == ("trailing_stop", "new", False)
    assert order.price is None and order.average_price is None
    assert order.decimal("trigger_price") == Decimal(o["stopPrice"])
    assert order.exchange_ts == o["updateTime"] * MS
    with pytest.raises(tw.FrameError):
        d.apply_account("fills", b'[{"symbol":"BTCUSDT"}]')


# --- adapter: signed requests as the simulator's Binance rules check them -------------------------


def _verify_call(call, keys, server_ms):
    query = urlencode(call.params)
    return simbn.verify_rest_query(query, call.headers.get("X-MBX-APIKEY"), keys, server_ms)


@pytest.mark.parametrize("cls", [BinanceSpot, BinanceUsdm])
def test_signed_rest_calls(cls):
    creds = Credentials(api_key=HMAC_KEY, secret=HMAC_SECRET)
    a = cls(base_url="http://127.0.0.1:1", credentials=creds, options={"account_symbols": []})
    symbol = "ETH/USDT" if cls is BinanceSpot else "ETH/USDT:USDT"
    a.subscriptions([symbol], ["trades"])
    keys = {HMAC_KEY: simbn.ApiKey(HMAC_KEY, secret=HMAC_SECRET)}
    fills, orders = a.account_requests("fills", 1000), a.account_requests("orders", 1000)
    assert [urlsplit(c.url).path for c in fills + orders] == list(a._account_paths)
    for call in fills + orders:
        assert call.method == "GET" and call.params["symbol"] == "ETHUSDT"
        assert call.params["startTime"] == "1000"
        now = a.clock.now_ms()
        assert _verify_call(call, keys, now) is None
        assert _verify_call(call, {}, now) == simbn.ERR_BAD_KEY
        assert _verify_call(call, keys, now + 6000) == simbn.ERR_TIMESTAMP
        bad = dict(call.params, startTime="999")
        assert (
            simbn.verify_rest_query(urlencode(bad), HMAC_KEY, keys, now) == simbn.ERR_BAD_SIGNATURE
        )
        assert HMAC_SECRET not in urlencode(call.params)
    url, _ = a.server_time_request()
    assert (
        url.endswith(a._time_path)
        and a.parse_server_time(b'{"serverTime":1499827319559}') == 1499827319559
    )
    with pytest.raises(tw.ExchangeError):
        a.parse_server_time(b"{}")
    with pytest.raises(ValueError, match="fills"):
        a.account_requests("positions", 0)
    with pytest.raises(ValueError, match="credentials"):
        cls().account_requests("fills", 0)


def _login_params(req) -> tuple[str, dict[str, Any]]:
    msg = json.loads(req.payload)
    assert msg["id"] in req.acks and req.login
    return msg["method"], msg.get("params", {})


def test_spot_login_hmac_and_ed25519():
    """HMAC keys: no logon (Ed25519 only), the subscribe request is signed
    (``userDataStream.subscribe.signature``). Ed25519 keys: ``session.logon``, then a plain
    ``userDataStream.subscribe``. Both are login requests (an error is an AuthError); the
    simulator's Binance rules accept them and refuse a tampered copy."""
    keys = {HMAC_KEY: simbn.ApiKey(HMAC_KEY, secret=HMAC_SECRET)}
    ids = iter(range(1, 100))
    a = BinanceSpot(credentials=Credentials(api_key=HMAC_KEY, secret=HMAC_SECRET))
    (sub,) = a.private_subscriptions(["orders"])
    assert a.ws_url("private") == "wss://ws-api.binance.com:443/ws-api/v3"
    assert a.login_requests("stream", lambda: next(ids)) == []
    assert a.login_requests("private", lambda: next(ids)) == []
    (req,) = a.subscribe_requests([sub], lambda: next(ids))
    method, params = _login_params(req)
    assert method == "userDataStream.subscribe.signature"
    assert set(params) == {"apiKey", "timestamp", "signature"}
    now = a.clock.now_ms()
    assert simbn.verify_ws_api_params(params, keys, now) is None
    assert (
        simbn.verify_ws_api_params(params, keys, now, ed25519_only=True) == simbn.ERR_BAD_SIGNATURE
    )
    assert simbn.verify_ws_api_params(dict(params, timestamp=1), keys, now) == simbn.ERR_TIMESTAMP
    tampered = dict(params, timestamp=params["timestamp"] - 1)
    assert simbn.verify_ws_api_params(tampered, keys, now) == simbn.ERR_BAD_SIGNATURE

    private, public = _ed25519_pair()
    ed_keys = {"EdKey01": simbn.ApiKey("EdKey01", public_key=public)}
    a = BinanceSpot(
        base_url="http://127.0.0.1:9",
        credentials=Credentials(api_key="EdKey01", private_key=private),
    )
    assert a.ws_url("private") == "ws://127.0.0.1:9/ws-api/v3"
    (logon,) = a.login_requests("private", lambda: next(ids))
    method, params = _login_params(logon)
    assert method == "session.logon"
    assert simbn.verify_ws_api_params(params, ed_keys, a.clock.now_ms(), ed25519_only=True) is None
    assert simbn.verify_ws_api_params(params, keys, a.clock.now_ms()) == simbn.ERR_BAD_KEY
    (subscribe,) = a.subscribe_requests(a.private_subscriptions(["fills"]), lambda: next(ids))
    assert _login_params(subscribe) == ("userDataStream.subscribe", {})
    assert subscribe.streams == ("userData",)


def test_private_subscriptions_and_channels():
    creds = Credentials(api_key=HMAC_KEY, secret=HMAC_SECRET)
    spot, usdm = BinanceSpot(credentials=creds), BinanceUsdm(credentials=creds)
    (sub,) = spot.private_subscriptions(["orders", "fills", "balances"])
    assert (sub.symbol, sub.route, sub.stream) == ("", "private", "userData")
    (req,) = spot.subscribe_requests([sub], lambda: 1)
    assert req.login and req.acks == frozenset({1})
    assert spot.unsubscribe_requests([sub], lambda: 2) == []
    (req,) = usdm.subscribe_requests(usdm.private_subscriptions(["orders"]), lambda: 3)
    assert json.loads(req.payload) == {"method": "LIST_SUBSCRIPTIONS", "id": 3}
    with pytest.raises(ValueError, match="positions"):
        spot.private_subscriptions(["positions"])
    assert usdm.private_subscriptions(["positions"])[0].route == "private"
    with pytest.raises(ValueError, match="credentials"):
        BinanceUsdm().private_subscriptions(["orders"])
    assert usdm.token_refresh_s == 1800
    assert "listenKeyExpired" in usdm.rotate_on_notices
    assert "eventStreamTerminated" in spot.rotate_on_notices
    assert HMAC_SECRET not in repr(creds) and HMAC_KEY not in repr(creds)


# --- full private sessions against the simulator -------------------------------------------------
SIM_SECRET = "hmac-secret-01"  # noqa: S105 - the simulated account's

SYM = {"binance": "ETH/USDT", "binanceusdm": "ETH/USDT:USDT"}
CHANNELS = {
    "binance": ["orders", "fills", "balances"],
    "binanceusdm": ["orders", "fills", "positions", "balances"],
}
_KINDS = {"order": tw.OrderUpdate, "fill": tw.Fill, "position": tw.Position, "balance": tw.Balance}


def _account(kind: str) -> tuple[SimAccount, Credentials]:
    balances = {"USDT": "10000", "ETH": "2"}
    if kind == "ed25519":
        private, public = _ed25519_pair()
        return (
            SimAccount(api_key="EdKey01", public_key=public, balances=balances),
            Credentials(api_key="EdKey01", private_key=private),
        )
    return (
        SimAccount(api_key="HmacKey01", secret=SIM_SECRET, balances=balances),
        Credentials(api_key="HmacKey01", secret=SIM_SECRET),
    )


def _feed(exchange: str, sim: Simulator, creds: Credentials, **kw: Any) -> tw.Feed:
    options = {"account_symbols": [SYM[exchange]]}
    return tw.Feed(
        exchange,
        channels=CHANNELS[exchange],
        credentials=creds,
        base_url=sim.rest_url,
        options=options,
        start_timeout=10,
        **kw,
    )


async def _collect(feed: tw.Feed, want: dict[type, int], timeout: float = 10.0) -> list[Any]:
    """Account events of ``feed`` until it delivered ``want[type]`` of each type."""
    import asyncio

    got: list[Any] = []

    def done() -> bool:
        return all(sum(isinstance(e, t) for e in got) >= n for t, n in want.items())

    async def take() -> None:
        async for ev in feed:
            if isinstance(ev, tuple(_KINDS.values())):
                got.append(ev)
                if done():
                    return

    if not done():
        await asyncio.wait_for(take(), timeout)
    return got


def _counts(changes: Any) -> dict[type, int]:
    out: dict[type, int] = {}
    for c in changes:
        out[_KINDS[c.kind]] = out.get(_KINDS[c.kind], 0) + 1
    return out


def _assert_matches(exchange: str, events: list[Any], changes: Any) -> None:
    """Each delivered account event equals the simulator's record of its change, in order."""
    by_kind: dict[str, list[Any]] = {k: [] for k in _KINDS}
    for c in changes:
        by_kind[c.kind].append(c.state)
    for kind, cls in _KINDS.items():
        evs = [e for e in events if isinstance(e, cls)]
        assert len(evs) == len(by_kind[kind]), kind
        for ev, st in zip(evs, by_kind[kind], strict=True):
            assert ev.exchange == exchange
            if kind == "order":
                assert (ev.order_id, ev.client_order_id) == (str(st.order_id), st.client_order_id)
                assert (ev.status, ev.side, ev.order_type) == (st.status, st.side, st.order_type)
                assert ev.decimal("size") == st.size and ev.decimal("filled_size") == st.filled
                assert ev.decimal("price") == st.price and ev.symbol == SYM[exchange]
            elif kind == "fill":
                assert (ev.trade_id, ev.order_id) == (str(st.trade_id), str(st.order_id))
                assert ev.decimal("price") == st.price and ev.decimal("size") == st.size
                assert ev.decimal("fee") == st.fee and ev.fee_asset == st.fee_asset
                assert (ev.side, ev.is_maker) == (st.side, st.is_maker)
                assert ev.exchange_ts // MS == st.ts_ns // MS
            elif kind == "balance":
                assert ev.asset == st.asset and ev.decimal("total") == st.total
                if exchange == "binance":
                    assert ev.decimal("free") == st.free and ev.decimal("locked") == st.locked
            else:
                assert (ev.side, ev.decimal("size")) == (st.side, abs(st.size))
                assert ev.decimal("entry_price") == st.entry_price
                assert ev.decimal("unrealized_pnl") == st.unrealized_pnl


SESSIONS = [("binance", "hmac"), ("binance", "ed25519"), ("binanceusdm", "hmac")]


@pytest.mark.parametrize(("exchange", "key"), SESSIONS)
def test_full_private_session(run, exchange, key):
    """Connect, log in (Ed25519 logon or HMAC-signed subscribe; USD-M listen key), then a
    placed order, a partial fill and a cancel arrive as OrderUpdate / Fill / Balance (and
    Position) events equal to the simulator's account records."""
    account, creds = _account(key)

    async def main() -> None:
        async with Simulator(exchange, accounts=[account]) as sim:
            feed = _feed(exchange, sim, creds)
            async with feed:
                eng = sim.accounts.engine()
                eng.place("ETHUSDT", "buy", "0.5", "1000", client_order_id="c1")
                eng.fill("c1", "0.2")
                eng.cancel("c1")
                events = await _collect(feed, _counts(eng.changes))
                _assert_matches(exchange, events, eng.changes)
                assert [e.status for e in events if isinstance(e, tw.OrderUpdate)] == [
                    "new",
                    "partially_filled",
                    "canceled",
                ]
                assert sim.venue.account_side.logins == 1
                assert feed.stats()["account_duplicates"] == 0

    run(main())


def _wait_quiet(sim: Simulator, seconds: float) -> Any:
    import asyncio

    return asyncio.sleep(seconds)


@pytest.mark.parametrize(
    ("exchange", "what", "code"),
    [
        ("binance", "secret", -1022),
        ("binance", "key", -2015),
        ("binance", "clock", -1021),
        ("binance", "logon", -1022),
        ("binanceusdm", "key", -2015),
    ],
)
def test_auth_failures_are_fatal_without_retries(run, exchange, what, code):
    """A refused key, a bad signature or a stale timestamp is Binance's error reply -> one
    AuthError with its code; no second attempt follows (connections / listen-key requests are
    counted after a quiet second)."""
    account, creds = _account("hmac")
    if what == "secret":
        creds = Credentials(api_key=creds.api_key, secret=SIM_SECRET[::-1])
    elif what == "key":
        creds = Credentials(api_key="UnknownKey9", secret=creds.secret)
    elif what == "logon":  # an Ed25519 logon with a key registered as HMAC
        creds = Credentials(api_key=creds.api_key, private_key=_ed25519_pair()[0])

    async def main() -> None:
        async with Simulator(exchange, accounts=[account]) as sim:
            adapter_cls = BinanceSpot if exchange == "binance" else BinanceUsdm
            adapter = adapter_cls(base_url=sim.rest_url, credentials=creds)
            if what == "clock":  # the exchange runs 10 s ahead, unnoticed by our clock
                sim.inject(ClockSkew(10_000))
                t = time.time_ns()
                adapter.clock.update(sim.accounts.now_ms() - 10_000, t, t)
                adapter.clock.measured_at = float("inf")  # not re-measured
            feed = tw.Feed(adapter, channels=["orders"], start_timeout=10)
            with pytest.raises(tw.AuthError) as err:
                async with feed:
                    pass
            assert err.value.code == code and err.value.exchange == exchange
            for secret in creds.secrets():
                assert secret not in str(err.value)
            side = sim.venue.account_side
            seen = (sim.total_connections, side.listen_key_requests, side.auth_failures)
            await _wait_quiet(sim, 1.0)
            assert (sim.total_connections, side.listen_key_requests, side.auth_failures) == seen
            if exchange == "binance":
                assert (sim.total_connections, side.auth_failures) == (1, 1)
            else:
                assert (sim.total_connections, side.listen_key_requests) == (0, 1)

    run(main())


def test_listen_key_expiry_rotates_without_losing_events(run):
    """USD-M: an expired listen key (listenKeyExpired) rotates the connection onto a fresh
    key; an order changed while no key was live is fetched over REST; every order change
    arrives exactly once."""
    import asyncio

    account, creds = _account("hmac")

    async def main() -> None:
        async with Simulator("binanceusdm", accounts=[account]) as sim:
            feed = _feed("binanceusdm", sim, creds)
            async with feed:
                eng = sim.accounts.engine()
                eng.place("ETHUSDT", "buy", "0.1", "1000", client_order_id="c1")
                first = await _collect(feed, {tw.OrderUpdate: 1})
                sim.inject(TokenExpiry())
                eng.place("ETHUSDT", "buy", "0.1", "1001", client_order_id="c2")  # no live key
                for _ in range(100):
                    if sim.venue.account_side.private_streams(account):
                        break
                    await asyncio.sleep(0.05)
                eng.place("ETHUSDT", "buy", "0.1", "1002", client_order_id="c3")
                orders = [s for s in (c.state for c in eng.changes) if hasattr(s, "status")]
                rest = await _collect(feed, {tw.OrderUpdate: len(orders) - 1})
                got = [e for e in first + rest if isinstance(e, tw.OrderUpdate)]
                assert [e.client_order_id for e in got] == ["c1", "c2", "c3"]
                assert [e.decimal("price") for e in got] == [o.price for o in orders]
                assert feed.stats()["rotations"] >= 1
                side = sim.venue.account_side
                assert side.listen_key_requests >= 2 and side.rest_lists >= 1  # c2 over REST

    run(main())


@pytest.mark.parametrize("exchange", ["binance", "binanceusdm"])
def test_reconnect_fetches_missed_fills_once(run, exchange):
    """A burst of fills with a disconnect after the second: the fills made while away come
    over REST (myTrades / userTrades) after the reconnect, none twice, in order."""
    account, creds = _account("hmac")

    async def main() -> None:
        async with Simulator(exchange, accounts=[account]) as sim:
            feed = _feed(exchange, sim, creds)
            async with feed:
                eng = sim.accounts.engine()
                eng.place("ETHUSDT", "buy", "1", "1000", client_order_id="burst")
                sim.inject(FillBurst("burst", fills=5, size="0.1", disconnect_after=2))
                events = await _collect(feed, {tw.Fill: len(eng.fills)}, timeout=20)
                fills = [e for e in events if isinstance(e, tw.Fill)]
                assert [f.trade_id for f in fills] == [str(f.trade_id) for f in eng.fills]
                assert len(eng.fills) == 5
                stats = feed.stats()
                assert stats["reconnects"] >= 1 and stats["account_filled"] >= 3
                assert sim.venue.account_side.rest_lists >= 1

    run(main())


def test_listen_key_lifecycle(run):
    """USD-M listen keys as Binance runs them: POST gives the live key again while it lives,
    PUT extends it, after expiry PUT is -1125 (an AuthError: the connection rotates) and POST
    makes a new one; the key only ever shows masked in the connect URL's repr paths."""
    import aiohttp

    from tickwire.redact import redact_url

    account, creds = _account("hmac")

    async def main() -> None:
        async with Simulator("binanceusdm", accounts=[account]) as sim:
            a = BinanceUsdm(base_url=sim.rest_url, credentials=creds)
            async with aiohttp.ClientSession() as http:
                first = await a.connect_target(http, "private")
                again = await a.connect_target(http, "private")
                assert first.url == again.url and "listenKey=" in first.url
                key = first.url.rpartition("listenKey=")[2]
                assert key not in redact_url(first.url)
                await a.refresh_token(http, "private")
                sim.inject(TokenExpiry())
                with pytest.raises(tw.AuthError) as err:
                    await a.refresh_token(http, "private")
                assert err.value.code == simbn.ERR_NO_LISTEN_KEY[0]
                fresh = await a.connect_target(http, "private")
                assert fresh.url != first.url
                assert (await a.connect_target(http, "public")).url.endswith("/public/stream")
                assert sim.venue.account_side.listen_key_requests == 5

    run(main())


def test_usdm_averages_come_at_the_price_precision(run):
    """USD-M: a position built from fills at prices of two decimals (and an order filled at
    two prices) averages to quotients that do not terminate; the simulator sends `ep` and `ap`
    at the prices' two decimals (the running average rounded half even at each fill), as
    Binance sends them at the symbol's precision, so every ACCOUNT_UPDATE and
    ORDER_TRADE_UPDATE decodes (none skipped as a bad frame) and the Position / OrderUpdate
    events equal the simulator's records."""
    account, creds = _account("hmac")
    cent = Decimal("0.01")

    def exact(a: Decimal, qa: str, b: Decimal, qb: str) -> Decimal:
        return (a * Decimal(qa) + b * Decimal(qb)) / (Decimal(qa) + Decimal(qb))

    async def main() -> None:
        async with Simulator("binanceusdm", accounts=[account]) as sim:
            feed = _feed("binanceusdm", sim, creds)
            async with feed:
                eng = sim.accounts.engine()
                p1, p2, p3 = Decimal("1000.01"), Decimal("1000.02"), Decimal("1000.04")
                eng.place("ETHUSDT", "buy", "0.001", str(p1), client_order_id="a")
                eng.fill("a")
                eng.place("ETHUSDT", "buy", "0.003", "1000.05", client_order_id="b")
                eng.fill("b", "0.002", str(p2))
                eng.fill("b", "0.001", str(p3))
                events = await _collect(feed, _counts(eng.changes))
                _assert_matches("binanceusdm", events, eng.changes)
                # Exact, these would not fit 19 digits (the decoder refused such frames).
                first = exact(p1, "0.001", p2, "0.002")
                assert len(first.as_tuple().digits) > 19
                assert len(exact(p2, "0.002", p3, "0.001").as_tuple().digits) > 19
                entry = exact(first.quantize(cent), "0.003", p3, "0.001").quantize(cent)
                positions = [e for e in events if isinstance(e, tw.Position)]
                assert positions[-1].decimal("entry_price") == entry
                orders = [e for e in events if isinstance(e, tw.OrderUpdate)]
                average = exact(p2, "0.002", p3, "0.001").quantize(cent)
                assert orders[-1].decimal("average_price") == average
                assert feed.stats()["bad_frames"] == 0

    run(main())
