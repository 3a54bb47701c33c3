"""Bybit v5 public streams in the simulator (market ``bybit-linear``).

Sources: docs/exchanges/bybit.md §1-§5 (Bybit v5 ``ws/connect`` and ``websocket/public/*``).
Markets: ``bybit-linear`` replays the one recorded session (``data/bybit/SOURCES.md``). No
spot or inverse recording exists, so neither is registered; :class:`BybitSpec` already holds
what differs on spot (ack ``ret_msg`` ``"subscribe"``, at most 10 args per request, refused
with ``"args size >10"``) for the day a spot recording is added.

Endpoint: ``/v5/public/<category>``. A simulator-only query ``?subscribe=a,b`` subscribes topics in
the URL (Bybit itself has none; generic tools such as ``Simulator.stream_url`` use it).

Recording lines are Bybit pushes exactly as received (``{"topic":..,"type":..,"data":..}``); the
stream key is the topic and the frame is the line unchanged.

Client messages, answered the way Bybit does (``{"success":..,"ret_msg":..,"conn_id":..,
"req_id":..,"op":..}``, ``req_id`` echoed, ``""`` when absent):

- ``{"op":"subscribe","args":[topics]}``: every topic must name a channel Bybit serves on this
  endpoint (``orderbook.{1,50,200,500,1000}``, ``publicTrade``, ``kline.<interval>``,
  ``tickers``) and a listed symbol (the recording's); otherwise the whole request fails with
  ``ret_msg`` ``"Invalid symbol :[<topic>]"`` / ``"error:handler not found,topic:<topic>"``
  (shapes seen in Bybit replies; Bybit has no numeric code). A topic already subscribed fails
  with ``"error:already subscribed,topic:<topic>"``. The args of one connection may total
  21,000 characters. Success: an ack with ``ret_msg`` ``""``. An order-book topic then gets a
  ``snapshot`` at once, built from the recording at the replay position (below), before the
  recorded deltas that follow it.
- ``{"op":"unsubscribe","args":[topics]}``: acked; topics not subscribed are ignored.
- ``{"op":"ping"}``: ``{"success":true,"ret_msg":"pong",..,"op":"ping"}``.
- Anything else (not JSON, another ``op``): ``success:false`` with a ``ret_msg`` naming it.

Snapshot at the replay position: the recorded snapshot of the topic and every recorded delta
before the position, applied with Bybit's rules (sizes absolute, ``"0"`` deletes, price and size
strings kept as recorded), sent as Bybit's ``snapshot`` push whose ``u``, ``seq``, ``ts`` and
``cts`` are those of the last applied line, so the next recorded delta continues ``u`` + 1.
Before the topic's first recorded snapshot nothing is sent (the replay delivers it).

REST: ``/v5/market/instruments-info?category=linear`` lists the recorded symbols (USDT
perpetuals; ``tickSize``/``qtyStep`` are 10^-N for the most decimals the recording writes in
that symbol's prices/sizes: derived, not Bybit's values); another category lists nothing.

Timeouts: Bybit closes a connection after 10 minutes without a ping or data (not simulated: the
replay always sends data while subscribed); no server WebSocket pings, no documented message
rate limit, no connection lifetime.

Private side (bybit.md §7-§8; accounts from ``Simulator(accounts=[SimAccount(api_key=..,
secret=..)])``, activity from the generic account engine, ``simulator/account.py``; every
recorded symbol is a linear USDT perpetual there):

- ``/v5/private``: ``{"req_id":..,"op":"auth","args":[key, expires, signature]}`` is checked
  as Bybit does, in this order: three args, else ``"Params Error"``; ``expires`` (ms, number or
  string) after the exchange clock (``sim.accounts.now_ms()``, skew included), else
  ``"Params Error"`` (Bybit's reply to an expired auth, reported in pybit issues #152/#300); a
  registered key, else ``"Invalid apikey"``; the hex HMAC-SHA256 of ``"GET/realtime" +
  expires`` under its secret, else ``"Error sign, origin_string[GET/realtime<expires>]"``.
  Replies ``{"success":..,"ret_msg":..,"op":"auth","conn_id":..,"req_id":..}`` (no numeric
  code on this endpoint). A pending ``AuthServerError`` closes the socket with 1011 instead
  (Bybit's server errors are not auth verdicts). Before auth a subscribe fails with
  ``"Request not authorized"``. Topics ``order``, ``execution``, ``position``, ``wallet``;
  ``{"op":"ping"}`` is answered ``{"req_id":..,"op":"pong","args":["<ms>"],"conn_id":..}``.
- Pushes ``{"id","topic","creationTime","data":[..]}``, one per kind per engine action:
  ``order`` (``orderStatus`` New / PartiallyFilled / Filled / Cancelled, or
  PartiallyFilledCanceled once partly filled / Rejected), ``execution`` (``execType`` Trade, or
  BustTrade for a liquidation; ``execFee`` positive = paid; ``feeCurrency`` only on spot, as
  Bybit's docs say), ``position`` (``side`` Buy / Sell / ``""``, absolute ``size``,
  ``tradeMode`` 0 cross / 1 isolated) and ``wallet`` (``accountType`` UNIFIED; per coin
  ``walletBalance`` = the engine's total, ``availableToWithdraw`` = free, ``locked`` "0" and
  the engine's locked margin split into ``totalOrderIM`` (open orders) and
  ``totalPositionIM`` (the rest)).
- REST, signed by ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW`` (default
  5000), ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + key + recv window + the query
  string as sent, still URL-encoded), checked in Bybit's order and answered with its codes:
  missing headers ``10001``; ``server - recv_window <= timestamp < server + 1000`` else
  ``10002``; unknown key ``10003`` "API key is invalid." (HTTP 401); bad signature ``10004``
  "error sign!" (HTTP 401); a pending ``AuthServerError``: HTTP 503, ``10016``. Routes
  (``category`` must be the simulated ``linear``; others list nothing): ``GET
  /v5/execution/list`` (fills since ``startTime``, newest first, ``limit`` default 50, max
  100), ``GET /v5/order/realtime`` (open orders), ``GET /v5/order/history`` (final states of
  orders changed since ``startTime``), both newest first, ``limit`` default 20, max 50; pages:
  ``nextPageCursor`` (``""`` on the last page) names the page's last entry, ``cursor`` asks
  for what follows it; ``GET /v5/market/time`` (the exchange clock, public).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from ..account import (
    AccountChange,
    AccountMarket,
    BalanceState,
    FillState,
    MarketTrade,
    OrderState,
    PositionState,
    SimAccount,
)
from ..faults import Drop
from ..venue import (
    DemoSpec,
    MarketSpec,
    Outcome,
    PackagedRecording,
    RestHandler,
    VenueSim,
    WireFormat,
    WsEndpoint,
    market_name,
)
from ..wirebook import BookMessage, BookReplay

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..server import Simulator

_TOPIC_PREFIX = b'{"topic":"'
_BOOK_DEPTHS = ("1", "50", "200", "500", "1000")
_INTERVALS = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")
_ARGS_CHARS = 21_000
_FRAMING = "v5"
_PRIVATE_PATH = "/v5/private"
_PRIVATE_ROUTE = "private"
_PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
_STATUS = {
    "new": "New",
    "partially_filled": "PartiallyFilled",
    "filled": "Filled",
    "canceled": "Cancelled",
    "rejected": "Rejected",
}
_TIF = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "post_only": "PostOnly"}
_REST_PATHS = ("/v5/execution/list", "/v5/order/realtime", "/v5/order/history")
_TIME_PATH = "/v5/market/time"
_TRADES_PATH = "/v5/market/recent-trade"


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class BybitWire(WireFormat):
    """Bybit pushes: the topic is the stream key, the line is the frame (one framing)."""

    default_framing: Hashable = _FRAMING
    garbage_payload = _TOPIC_PREFIX

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(topic, the line unchanged). Raises ``ValueError`` for a line that is no push."""
        if line.startswith(_TOPIC_PREFIX):
            end = line.find(b'"', len(_TOPIC_PREFIX))
            if end > 0:
                return line[len(_TOPIC_PREFIX) : end].decode(), line
        try:
            topic = json.loads(line)["topic"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a Bybit v5 push: {line[:80]!r}") from exc
        if not isinstance(topic, str):
            raise ValueError(f"not a Bybit v5 push: {line[:80]!r}")
        return topic, line

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """``payload`` itself: Bybit pushes carry their topic."""
        return payload


WIRE = BybitWire()


@dataclass(frozen=True, kw_only=True)
class BybitSpec(MarketSpec):
    """One Bybit public endpoint: ``category`` (``spot``, ``linear``) names its path and REST
    category; ``max_args``: most topics per subscribe request (spot 10; None: no cap);
    ``ack_message``: the ``ret_msg`` of a successful subscribe (spot ``"subscribe"``, else
    ``""``, bybit.md §3)."""

    category: str
    max_args: int | None = None
    ack_message: str = ""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`BybitSim`; it takes no venue options (``TypeError`` for any)."""
        self.reject_unknown_options(options)
        return BybitSim(self, sim)


def _demo_fault(sim: Simulator) -> Drop:
    """One BTCUSDT book delta withheld halfway through (the next ``u`` skips one: a gap, then a
    resubscribe and the snapshot the venue sends)."""
    deltas = len(sim.recording.streams["orderbook.200.BTCUSDT"].lines)
    return Drop(stream="orderbook.200.BTCUSDT", skip=deltas // 2)


LINEAR = BybitSpec(
    name=market_name("bybit", "linear", "spot"),
    exchange="bybit",
    market="linear",
    wire=WIRE,
    packaged=PackagedRecording("bybit/linear_4sym.jsonl.gz", "bybit/linear_4sym.ts.gz"),
    ping_interval=0.0,
    pong_timeout=0.0,
    rate_limit=0,
    lifetime=None,
    category="linear",
    demo=DemoSpec(
        title="Bybit linear",
        symbol="BTC/USDT:USDT",
        channels=("book", "trades"),
        fault=_demo_fault,
        fault_text="a dropped book delta",
    ),
)

SPECS = (LINEAR,)


def _split(topic: str) -> tuple[str, str, str]:
    """``"orderbook.200.BTCUSDT"`` -> ("orderbook", "200", "BTCUSDT"); ``"publicTrade.X"`` ->
    ("publicTrade", "", "X"); ("", "", "") if malformed."""
    parts = topic.split(".")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], "", parts[1]
    return "", "", ""


def _is_book(topic: str) -> bool:
    """A multi-level order-book topic (``orderbook.1`` is a snapshot-only BBO)."""
    name, depth, _ = _split(topic)
    return name == "orderbook" and depth != "1"


class BybitSim(VenueSim):
    """Bybit v5's public protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring)."""

    spec: BybitSpec

    def __init__(self, spec: BybitSpec, sim: Simulator):
        super().__init__(spec, sim)
        self.books: BookReplay | None = None
        #: REST market requests answered per endpoint (``tickers``, ``orderbook``, ``kline``)
        self.market_requests: dict[str, int] = {}

    def started(self) -> None:
        """Index the recording's order-book lines (:class:`~..wirebook.BookReplay`)."""
        rec = self.sim.recording
        lines = sorted(n for name, sd in rec.streams.items() if _is_book(name) for n in sd.lines)
        self.books = BookReplay(self._read_book, lines)

    def _read_book(self, line: int) -> list[BookMessage]:
        """The book message of recording ``line``: a snapshot (``type`` snapshot or ``u == 1``)
        or a delta, keyed by topic."""
        push = self.sim.recording.parsed(line)
        data = push["data"]
        snapshot = push.get("type") == "snapshot" or data.get("u") == 1
        return [BookMessage(push["topic"], snapshot, data["b"], data["a"])]

    # ---- connections -----------------------------------------------------------------------
    @property
    def path(self) -> str:
        """``/v5/public/<category>``."""
        return f"/v5/public/{self.spec.category}"

    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/v5/public/<category>`` (``?subscribe=a,b``: topics subscribed by the URL), and
        ``/v5/private`` (route ``"private"``)."""
        if path == _PRIVATE_PATH:
            return WsEndpoint(_PRIVATE_ROUTE, _FRAMING)
        if path != self.path:
            return None
        topics = [t for t in query.get("subscribe", "").split(",") if t]
        return WsEndpoint(self.spec.category, _FRAMING, topics)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/v5/public/<category>?subscribe=a,b`` (simulator-only)."""
        return f"{self.path}?subscribe={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/v5/public/<category>`` (``stream``: subscribed by the URL)."""
        return self.path if stream is None else self.stream_path([stream])

    def market_id_of(self, stream: str) -> str | None:
        """The topic's symbol (``BTCUSDT`` for ``orderbook.200.BTCUSDT``)."""
        return _split(stream)[2] or None

    def _reply(self, conn: ServerConnection, op: str, req_id: object, ok: bool, msg: str) -> bytes:
        return _dump(
            {
                "success": ok,
                "ret_msg": msg,
                "conn_id": f"sim-{id(conn):x}",
                "req_id": req_id if isinstance(req_id, str) else "",
                "op": op,
            }
        )

    def _topic_error(self, topic: object) -> str | None:
        """Bybit's ``ret_msg`` for a topic it would refuse on this endpoint, else None."""
        if not isinstance(topic, str):
            return f"error:handler not found,topic:{topic}"
        name, arg, symbol = _split(topic)
        known = (
            (name == "orderbook" and arg in _BOOK_DEPTHS)
            or (name == "kline" and arg in _INTERVALS)
            or (name in ("publicTrade", "tickers") and arg == "")
        )
        if not known:
            return f"error:handler not found,topic:{topic}"
        if symbol not in self.sim.symbols:
            return f"Invalid symbol :[{topic}]"
        return None

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """Subscribe, unsubscribe and ping (see the module docstring)."""
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            not_json = f"error:request is not a JSON object: {text[:50]}"
            return Outcome([self._reply(conn, "", "", False, not_json)])
        op, req_id, args = msg.get("op"), msg.get("req_id", ""), msg.get("args", [])
        if conn.route == _PRIVATE_ROUTE:
            return self._private_message(conn, op, req_id, args)
        if op == "ping":
            return Outcome([self._reply(conn, "ping", req_id, True, "pong")], keepalive=True)
        error: str | None = None
        if op not in ("subscribe", "unsubscribe"):
            error = f"error:handler not found,op:{op}"
        elif not isinstance(args, list) or not args:
            error = "error:args must be a non-empty list"
        if error is not None:
            return Outcome([self._reply(conn, str(op), req_id, False, error)])
        if op == "unsubscribe":
            gone = [t for t in args if isinstance(t, str) and t in conn.subscriptions]
            return Outcome([self._reply(conn, op, req_id, True, "")], unsubscribe=gone)
        return self._subscribe(conn, req_id, args)

    def _subscribe(self, conn: ServerConnection, req_id: object, args: list[Any]) -> Outcome:
        """All of ``args`` subscribed and acked, or none and one error reply."""
        if self.spec.max_args is not None and len(args) > self.spec.max_args:
            too_many = f"args size >{self.spec.max_args}"
            return Outcome([self._reply(conn, "subscribe", req_id, False, too_many)])
        for topic in args:
            err = self._topic_error(topic)
            if err is None and topic in conn.subscriptions:
                err = f"error:already subscribed,topic:{topic}"
            if err is not None:
                return Outcome([self._reply(conn, "subscribe", req_id, False, err)])
        if sum(len(t) for t in [*conn.subscriptions, *args]) > _ARGS_CHARS:
            msg = "error:args length exceeds 21000"
            return Outcome([self._reply(conn, "subscribe", req_id, False, msg)])
        ack = self._reply(conn, "subscribe", req_id, True, self.spec.ack_message)
        return Outcome([ack], subscribe=list(args))

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002
        """An order-book topic's snapshot at replay ``position`` (see the module docstring)."""
        snap = self.snapshot_at(stream, position)
        return [] if snap is None else [snap]

    def snapshot_at(self, stream: str, position: int) -> bytes | None:
        """The ``snapshot`` push of order-book topic ``stream`` as of the first ``position``
        recording lines, or None (not a multi-level book topic, or no recorded snapshot yet)."""
        if not _is_book(stream) or self.books is None:
            return None
        book = self.books.book(stream, position)
        line = self.books.last_line(stream)
        if book is None or line is None:
            return None
        last = self.sim.recording.parsed(line)
        data = last["data"]
        body = {
            "topic": stream,
            "type": "snapshot",
            "ts": last["ts"],
            "data": {
                "s": data["s"],
                "b": [list(level) for level in book.bids()],
                "a": [list(level) for level in book.asks()],
                "u": data["u"],
                "seq": data.get("seq"),
            },
            "cts": last.get("cts"),
        }
        return _dump(body)

    # ---- REST ------------------------------------------------------------------------------
    @property
    def instruments_path(self) -> str:
        """``/v5/market/instruments-info``."""
        return "/v5/market/instruments-info"

    def rest_handler(self, path: str) -> RestHandler | None:
        """The instruments list at :attr:`instruments_path`, the server time and the signed
        account routes (see the module docstring), ``/v5/market/recent-trade``
        (:meth:`recent_trades`), else None."""
        if path == _TRADES_PATH:
            return self.recent_trades
        if path == _TIME_PATH:

            async def server_time(request: web.Request) -> web.StreamResponse:  # noqa: ARG001
                ns = self.sim.accounts.now_ns()
                result = {"timeSecond": str(ns // 10**9), "timeNano": str(ns)}
                body = {"retCode": 0, "retMsg": "OK", "result": result, "time": ns // 10**6}
                return web.Response(body=_dump(body), content_type="application/json")

            return server_time
        if path in _REST_PATHS:

            async def account(request: web.Request) -> web.StreamResponse:
                return self._account_route(path, request)

            return account
        market = self.market_handler(path)
        if market is not None:
            return market
        if path != self.instruments_path:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            return self.instruments(request)

        return answer

    # ---- REST market data: tickers, order book, klines (the REST fallback, candle backfill) ----
    def market_handler(self, path: str) -> RestHandler | None:
        """``GET /v5/market/tickers``, ``/orderbook`` and ``/kline`` (see :meth:`tickers`,
        :meth:`orderbook`, :meth:`klines`), each counted in ``market_requests``; else None."""
        name = path.removeprefix("/v5/market/")
        if name not in ("tickers", "orderbook", "kline"):
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            self.market_requests[name] = self.market_requests.get(name, 0) + 1
            q = request.query
            symbol = q.get("symbol", "")
            if q.get("category") != self.spec.category or symbol not in self.sim.symbols:
                return self._market_reply(10001, "params error: symbol invalid", {})
            if name == "tickers":
                return self.tickers(symbol)
            if name == "orderbook":
                return self.orderbook(symbol, q.get("limit", "25"))
            return self.klines(symbol, q.get("interval", ""), q.get("limit", "200"))

        return answer

    def _market_reply(self, code: int, msg: str, result: object) -> web.Response:
        body = {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}}
        body["time"] = self.sim.accounts.now_ms()
        return web.Response(body=_dump(body), content_type="application/json")

    def tickers(self, symbol: str) -> web.Response:
        """``result.list`` of one ticker: the recorded ``tickers.<symbol>`` snapshot with every
        published delta merged in (Bybit's deltas omit unchanged fields), as Bybit's REST
        ticker shows it; without a recorded ticker, the top of the book at the position."""
        state: dict[str, Any] = {}
        for push in self.published(f"tickers.{symbol}"):
            state.update(push["data"])
        if "bid1Price" not in state:
            book = self._book_now(symbol)
            if book is None or not book.bids(1) or not book.asks(1):
                return self._market_reply(10001, "params error: symbol invalid", {})
            (bp, bq), (ap, aq) = book.bids(1)[0], book.asks(1)[0]
            state = {"symbol": symbol, "bid1Price": bp, "bid1Size": bq}
            state |= {"ask1Price": ap, "ask1Size": aq}
        keep = ("symbol", "lastPrice", "bid1Price", "bid1Size", "ask1Price", "ask1Size")
        entry = {k: state[k] for k in keep if k in state}
        return self._market_reply(0, "OK", {"category": self.spec.category, "list": [entry]})

    def _book_topic(self, symbol: str) -> str | None:
        """The recording's deepest order-book topic of ``symbol`` (None: none recorded)."""
        topics = [t for t in self.sim.recording.streams if _is_book(t) and _split(t)[2] == symbol]
        return max(topics, key=lambda t: int(_split(t)[1]), default=None)

    def _book_now(self, symbol: str) -> Any:
        topic = self._book_topic(symbol)
        if topic is None or self.books is None:
            return None
        return self.books.book(topic, self.sim.position)

    def orderbook(self, symbol: str, limit_text: str) -> web.Response:
        """``result`` ``{"s","b","a","ts","u","seq","cts"}``: the top ``limit`` (1-500) levels
        of the recorded book at the replay position; ``u``/``seq``/``ts``/``cts`` of the last
        applied push. Before the first recorded snapshot: empty sides, ``u`` 0."""
        try:
            limit = int(limit_text)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 500:
            return self._market_reply(10001, "params error: limit invalid", {})
        topic = self._book_topic(symbol)
        book = self._book_now(symbol)
        line = None if topic is None or self.books is None else self.books.last_line(topic)
        result: dict[str, Any] = {"s": symbol, "b": [], "a": [], "ts": 0, "u": 0, "seq": 0}
        if book is not None and line is not None:
            last = self.sim.recording.parsed(line)
            result |= {
                "b": [list(x) for x in book.bids(limit)],
                "a": [list(x) for x in book.asks(limit)],
                "ts": last["ts"],
                "u": last["data"]["u"],
                "seq": last["data"].get("seq", 0),
                "cts": last.get("cts", last["ts"]),
            }
        return self._market_reply(0, "OK", result)

    def klines(self, symbol: str, interval: str, limit_text: str) -> web.Response:
        """``result.list`` rows ``[start, open, high, low, close, volume, turnover]``
        (strings), newest first, at most ``limit`` (1-1000): the latest state of each recorded
        ``kline.<interval>.<symbol>`` candle published so far (the simulator knows no other
        candles: an interval not recorded lists none)."""
        if interval not in _INTERVALS:
            return self._market_reply(10001, "params error: interval invalid", {})
        try:
            limit = max(1, min(int(limit_text), 1000))
        except ValueError:
            return self._market_reply(10001, "params error: limit invalid", {})
        latest: dict[int, dict[str, Any]] = {}
        for push in self.published(f"kline.{interval}.{symbol}"):
            for k in push["data"]:
                latest[int(k["start"])] = k
        fields = ("open", "high", "low", "close", "volume", "turnover")
        rows = [[str(t), *(str(k[f]) for f in fields)] for t, k in sorted(latest.items())]
        result = {"symbol": symbol, "category": self.spec.category, "list": rows[::-1][:limit]}
        return self._market_reply(0, "OK", result)

    def _widths(self, symbol: str) -> tuple[int, int]:
        """Most decimals the recording writes in ``symbol``'s prices and sizes."""
        price = size = 0
        rec = self.sim.recording
        for name, sd in rec.streams.items():
            if _split(name)[2] != symbol or not name.startswith(("orderbook.", "publicTrade.")):
                continue
            for line in sd.lines:
                data = rec.parsed(line)["data"]
                rows = (
                    [(p, q) for p, q in [*data["b"], *data["a"]]]
                    if isinstance(data, dict)
                    else [(t["p"], t["v"]) for t in data]
                )
                for p, q in rows:
                    price = max(price, len(p.partition(".")[2]))
                    size = max(size, len(q.partition(".")[2]))
        return price, size

    def instruments(self, request: web.Request) -> web.Response:
        """Bybit's ``instruments-info`` reply for ``category`` (see the module docstring);
        ``exchange_info_status`` other than 200 answers that status with retCode 10016."""
        sim = self.sim
        sim.exchange_info_requests += 1
        if sim.exchange_info_status != 200:
            body = {"retCode": 10016, "retMsg": "Internal server error", "result": {}}
            return web.Response(
                body=_dump(body), status=sim.exchange_info_status, content_type="application/json"
            )
        category = request.query.get("category", "")
        entries = []
        if category == self.spec.category:
            for mid in sim.symbols:
                base = mid[: -len("USDT")] if mid.endswith("USDT") else mid
                pw, sw = self._widths(mid)
                entries.append(
                    {
                        "symbol": mid,
                        "contractType": "LinearPerpetual",
                        "status": sim.symbol_status.get(mid, "Trading"),
                        "baseCoin": base,
                        "quoteCoin": "USDT",
                        "settleCoin": "USDT",
                        "deliveryTime": "0",
                        "priceFilter": {"tickSize": format(Decimal(1).scaleb(-pw), "f")},
                        "lotSizeFilter": {"qtyStep": format(Decimal(1).scaleb(-sw), "f")},
                    }
                )
        body = {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": category, "list": entries, "nextPageCursor": ""},
            "time": time.time_ns() // 1_000_000,
        }
        return web.Response(body=_dump(body), content_type="application/json")

    def url_lines(self) -> list[str]:
        """The WebSocket endpoint and the instruments URL."""
        sim = self.sim
        return [
            f'  websocket  {sim.ws_url}{self.path}  (send {{"op":"subscribe","args":[...]}})',
            f"  all topics {sim.stream_url()}",
            f"  rest info  {sim.exchange_info_url}?category={self.spec.category}",
        ]

    def rewound(self) -> None:
        """Forget the books built for later positions."""
        if self.books is not None:
            self.books.reset()

    # ---- private (account) side --------------------------------------------------------------
    def _private_reply(
        self, conn: ServerConnection, op: str, req_id: object, ok: bool, msg: str
    ) -> bytes:
        return _dump(
            {
                "success": ok,
                "ret_msg": msg,
                "op": op,
                "conn_id": f"sim-{id(conn):x}",
                "req_id": req_id if isinstance(req_id, str) else "",
            }
        )

    def _private_message(  # noqa: PLR0911 - one return per reply kind
        self, conn: ServerConnection, op: object, req_id: object, args: object
    ) -> Outcome:
        """``auth``, ``subscribe``/``unsubscribe`` of private topics, ``ping``."""
        if op == "ping":
            pong = {
                "req_id": req_id if isinstance(req_id, str) else "",
                "op": "pong",
                "args": [str(self.sim.accounts.now_ms())],
                "conn_id": f"sim-{id(conn):x}",
            }
            return Outcome([_dump(pong)], keepalive=True)
        if op == "auth":
            return self._auth(conn, req_id, args)
        if op not in ("subscribe", "unsubscribe"):
            return Outcome(
                [
                    self._private_reply(
                        conn, str(op), req_id, False, f"error:handler not found,op:{op}"
                    )
                ]
            )
        if conn.account is None:
            return Outcome([self._private_reply(conn, op, req_id, False, "Request not authorized")])
        if not isinstance(args, list) or not args:
            return Outcome(
                [
                    self._private_reply(
                        conn, op, req_id, False, "error:args must be a non-empty list"
                    )
                ]
            )
        for topic in args:
            if topic not in _PRIVATE_TOPICS:
                err = f"error:handler not found,topic:{topic}"
                return Outcome([self._private_reply(conn, op, req_id, False, err)])
        keys = [_private_key(t, conn.account) for t in args]
        ack = self._private_reply(conn, op, req_id, True, "")
        if op == "unsubscribe":
            return Outcome([ack], unsubscribe=[k for k in keys if k in conn.subscriptions])
        return Outcome([ack], subscribe=[k for k in keys if k not in conn.subscriptions])

    def _auth(  # noqa: PLR0911 - one return per documented refusal
        self, conn: ServerConnection, req_id: object, args: object
    ) -> Outcome:
        """Verify the ``auth`` op as Bybit does (see the module docstring)."""
        hub = self.sim.accounts

        def fail(msg: str) -> Outcome:
            return Outcome([self._private_reply(conn, "auth", req_id, False, msg)])

        if hub.take_auth_error("login"):
            return Outcome(close=(1011, "system busy"))
        if not isinstance(args, list) or len(args) != 3:
            return fail("Params Error")
        key, expires, signature = args
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            return fail("Params Error")
        if expires_ms <= hub.now_ms():
            return fail("Params Error")
        account = hub.by_key(key) if isinstance(key, str) else None
        if account is None:
            return fail("Invalid apikey")
        want = _hmac(account.secret, f"GET/realtime{expires_ms}")
        if not isinstance(signature, str) or not hmac.compare_digest(want, signature):
            return fail(f"Error sign, origin_string[GET/realtime{expires_ms}]")
        conn.account = account
        return Outcome([self._private_reply(conn, "auth", req_id, True, "")])

    def account_market(self, market_id: str) -> AccountMarket | None:
        """Every recorded symbol: a linear USDT perpetual, Bybit's base-tier fees (maker
        0.02%, taker 0.055%)."""
        if market_id not in self.sim.symbols or not market_id.endswith("USDT"):
            return None
        return AccountMarket(
            market_id, "perp", market_id[: -len("USDT")], "USDT", "0.0002", "0.00055"
        )

    def recorded_trades(self) -> Iterable[tuple[int, MarketTrade]]:
        """Every recorded ``publicTrade`` item (``S`` is the taker's side)."""
        rec = self.sim.recording
        for line, stream in enumerate(rec.line_stream):
            if not stream.startswith("publicTrade."):
                continue
            for t in rec.parsed(line)["data"]:
                side: Literal["buy", "sell"] = "buy" if t["S"] == "Buy" else "sell"
                trade = MarketTrade(t["s"], Decimal(t["p"]), Decimal(t["v"]), side, t["T"] * 10**6)
                yield line, trade

    def account_order_id(self, n: int) -> str:
        """UUID-shaped, like Bybit's derivatives ``orderId``."""
        return str(uuid.UUID(int=(0x0B0B << 112) | n))

    def account_trade_id(self, n: int) -> str:
        """UUID-shaped, like Bybit's ``execId``."""
        return str(uuid.UUID(int=(0xE0E0 << 112) | n))

    def private_streams(self, account: SimAccount) -> list[str]:
        """``"<topic>:<account name>"`` of the four private topics."""
        return [_private_key(t, account) for t in _PRIVATE_TOPICS]

    def encode_account(
        self, account: SimAccount, changes: Sequence[AccountChange]
    ) -> list[tuple[str, bytes]]:
        """One push per kind the batch has, in the engine's order: ``order``, ``execution``,
        ``position``, ``wallet``."""
        engine = self.sim.accounts.engine(account)
        groups: dict[str, list[dict[str, Any]]] = {}
        topics = {
            "order": "order",
            "fill": "execution",
            "position": "position",
            "balance": "wallet",
        }
        ts_ms = changes[-1].ts_ns // 10**6 if changes else self.sim.accounts.now_ms()
        coins: list[dict[str, Any]] = []
        for change in changes:
            state = change.state
            if isinstance(state, OrderState):
                groups.setdefault("order", []).append(self._order_entry(state, with_category=True))
            elif isinstance(state, FillState):
                groups.setdefault("execution", []).append(
                    self._exec_entry(state, with_category=True)
                )
            elif isinstance(state, PositionState):
                groups.setdefault("position", []).append(self._position_entry(state, account))
            elif isinstance(state, BalanceState):
                coins.append(self._coin_entry(state, engine.open_orders(), account))
        if coins:
            groups["wallet"] = [{"accountType": "UNIFIED", "coin": coins}]
        out = []
        for kind in topics.values():
            data = groups.get(kind)
            if data:
                push = {"id": uuid.uuid4().hex, "topic": kind, "creationTime": ts_ms, "data": data}
                out.append((_private_key(kind, account), _dump(push)))
        return out

    def _order_entry(self, o: OrderState, *, with_category: bool) -> dict[str, Any]:
        status = _STATUS[o.status]
        if o.status == "canceled" and o.filled > 0:
            status = "PartiallyFilledCanceled"
        avg = o.average_price
        entry: dict[str, Any] = {
            "symbol": o.market_id,
            "orderId": str(o.order_id),
            "orderLinkId": o.client_order_id or "",
            "side": "Buy" if o.side == "buy" else "Sell",
            "orderType": "Limit" if o.order_type == "limit" else "Market",
            "cancelType": "CancelByUser" if o.status == "canceled" else "UNKNOWN",
            "price": _num(o.price) if o.price is not None else "0",
            "qty": _num(o.size),
            "timeInForce": _TIF.get(o.time_in_force, "GTC"),
            "orderStatus": status,
            "avgPrice": _num(avg) if avg is not None else "",
            "leavesQty": _num(o.remaining if o.is_open else Decimal(0)),
            "cumExecQty": _num(o.filled),
            "cumExecValue": _num(o.filled * avg) if avg is not None else "0",
            "createdTime": str(o.created_ns // 10**6),
            "updatedTime": str(o.updated_ns // 10**6),
            "rejectReason": "EC_NoError" if o.status != "rejected" else "EC_PerCancelRequest",
            "stopOrderType": "",
            "triggerPrice": "",
            "reduceOnly": o.reduce_only,
            "positionIdx": 0,
        }
        if with_category:
            entry = {"category": self.spec.category, **entry}
        return entry

    def _exec_entry(self, f: FillState, *, with_category: bool) -> dict[str, Any]:
        mkt = self.sim.accounts.market(f.market_id)
        entry: dict[str, Any] = {
            "symbol": f.market_id,
            "execFee": _num(f.fee),
            "execId": str(f.trade_id),
            "execPrice": _num(f.price),
            "execQty": _num(f.size),
            "execType": "BustTrade" if f.liquidation else "Trade",
            "execValue": _num(f.price * f.size),
            "isMaker": f.is_maker,
            "feeRate": mkt.maker_fee if f.is_maker else mkt.taker_fee,
            "orderId": str(f.order_id),
            "orderLinkId": f.client_order_id or "",
            "side": "Buy" if f.side == "buy" else "Sell",
            "execTime": str(f.ts_ns // 10**6),
            "createType": "CreateByLiq" if f.liquidation else "CreateByUser",
            "stopOrderType": "UNKNOWN",
        }
        if mkt.kind == "spot":  # Bybit: "Spot trading fee currency"
            entry["feeCurrency"] = f.fee_asset
        if with_category:
            entry = {"category": self.spec.category, **entry}
        return entry

    def _position_entry(self, p: PositionState, account: SimAccount) -> dict[str, Any]:  # noqa: ARG002
        side = "Buy" if p.size > 0 else "Sell" if p.size < 0 else ""
        return {
            "category": self.spec.category,
            "symbol": p.market_id,
            "side": side,
            "size": _num(abs(p.size)),
            "entryPrice": _num(p.entry_price) if p.entry_price is not None else "0",
            "markPrice": _num(p.mark_price) if p.mark_price is not None else "",
            "leverage": _num(p.leverage),
            "unrealisedPnl": _num(p.unrealized_pnl),
            "liqPrice": "",
            "tradeMode": 0 if p.margin_mode == "cross" else 1,
            "positionIdx": 0,
            "positionStatus": "Normal",
            "updatedTime": str(p.ts_ns // 10**6),
        }

    def _coin_entry(
        self, b: BalanceState, open_orders: Sequence[OrderState], account: SimAccount
    ) -> dict[str, Any]:
        leverage = Decimal(account.leverage)
        order_im = sum(
            (
                o.price * o.remaining / leverage
                for o in open_orders
                if o.price is not None and self.sim.accounts.market(o.market_id).quote == b.asset
            ),
            Decimal(0),
        )
        order_im = min(order_im, b.locked)
        return {
            "coin": b.asset,
            "walletBalance": _num(b.total),
            "availableToWithdraw": _num(b.free),
            "locked": "0",
            "totalOrderIM": _num(order_im),
            "totalPositionIM": _num(b.locked - order_im),
        }

    def _account_route(  # noqa: PLR0911 - one return per documented refusal
        self, path: str, request: web.Request
    ) -> web.Response:
        """A signed REST account route (see the module docstring)."""
        hub = self.sim.accounts

        def reply(code: int, msg: str, result: object, status: int = 200) -> web.Response:
            body = {"retCode": code, "retMsg": msg, "result": result, "time": hub.now_ms()}
            return web.Response(body=_dump(body), status=status, content_type="application/json")

        if hub.take_auth_error("rest"):
            return reply(10016, "Internal server error", {}, status=503)
        h = request.headers
        key, ts, sign = h.get("X-BAPI-API-KEY"), h.get("X-BAPI-TIMESTAMP"), h.get("X-BAPI-SIGN")
        window = h.get("X-BAPI-RECV-WINDOW", "5000")
        if not key or not ts or not sign:
            return reply(10001, "missing X-BAPI-API-KEY, X-BAPI-TIMESTAMP or X-BAPI-SIGN", {})
        try:
            ts_ms, window_ms = int(ts), int(window)
        except ValueError:
            return reply(10001, "params error: X-BAPI-TIMESTAMP / X-BAPI-RECV-WINDOW", {})
        now = hub.now_ms()
        if not (now - window_ms <= ts_ms < now + 1000):
            msg = (
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{ts_ms}],server_timestamp[{now}],recv_window[{window_ms}]"
            )
            return reply(10002, msg, {})
        account = hub.by_key(key)
        if account is None:
            return reply(10003, "API key is invalid.", {}, status=401)
        # Signed over the query as sent (still URL-encoded: a cursor's "%3A" arrives as "%253A")
        query = request.rel_url.raw_query_string
        want = _hmac(account.secret, f"{ts_ms}{key}{window_ms}{query}")
        if not hmac.compare_digest(want, sign):
            return reply(10004, "error sign! origin_string[...]", {}, status=401)
        category = request.query.get("category", "")
        engine = hub.engine(account)
        ours = category == self.spec.category
        start_ns = int(request.query.get("startTime", "0") or 0) * 10**6
        entries: list[dict[str, Any]]
        if path == "/v5/execution/list":
            limit, id_key = min(int(request.query.get("limit", "50") or 50), 100), "execId"
            fills = engine.fills_since(start_ns) if ours else []
            entries = [self._exec_entry(f, with_category=False) for f in reversed(fills)]
        else:
            limit, id_key = min(int(request.query.get("limit", "20") or 20), 50), "orderId"
            if not ours:
                orders: list[OrderState] = []
            elif path == "/v5/order/realtime":
                orders = engine.open_orders()
            else:
                latest = {o.order_id: o for o in engine.order_changes_since(start_ns)}
                orders = [o for o in latest.values() if not o.is_open]
            orders.sort(key=lambda o: o.updated_ns)
            entries = [self._order_entry(o, with_category=False) for o in reversed(orders)]
        # The cursor names the last entry sent (newest first), so entries made meanwhile do
        # not shift the pages; its "%3A" is as Bybit's own cursors look (already URL-encoded).
        cursor = request.query.get("cursor", "")
        if cursor:
            last = cursor.split("%3A", 1)[0]
            ids = [str(e[id_key]) for e in entries]
            entries = entries[ids.index(last) + 1 :] if last in ids else []
        page, more = entries[:limit], len(entries) > limit
        after = f"{page[-1][id_key]}%3A{len(page)}" if more else ""
        return reply(0, "OK", {"category": category, "list": page, "nextPageCursor": after})

    # ---- REST recent trades (a reconnect's trade recovery, the REST fallback) -------------------
    async def recent_trades(self, request: web.Request) -> web.StreamResponse:
        """``GET /v5/market/recent-trade?category=&symbol=&limit=`` (limit default 500, at most
        1000; 60 on spot): the latest recorded ``publicTrade`` items of ``symbol`` published
        so far, newest first, in Bybit's row shape ``{execId, symbol, price, size, side, time,
        isBlockTrade, isRPITrade, seq}``; retCode 10001 for a symbol without recorded trades
        or a bad limit."""
        q = request.query
        symbol, category = q.get("symbol", ""), q.get("category", "")
        sd = self.sim.recording.streams.get(f"publicTrade.{symbol}")
        most = 60 if category == "spot" else 1000
        try:
            limit = max(1, min(int(q.get("limit", 60 if category == "spot" else 500)), most))
        except ValueError:
            sd = None
        if sd is None:
            body = {"retCode": 10001, "retMsg": "params error", "result": {}, "time": 0}
            return web.Response(body=_dump(body), content_type="application/json")
        published = bisect.bisect_left(sd.lines, self.sim.position)
        rows: list[dict[str, Any]] = []
        for frame in reversed(sd.data[:published]):
            rows.extend(
                {
                    "execId": t["i"],
                    "symbol": t["s"],
                    "price": t["p"],
                    "size": t["v"],
                    "side": t["S"],
                    "time": str(t["T"]),
                    "isBlockTrade": t.get("BT", False),
                    "isRPITrade": t.get("RPI", False),
                    "seq": str(t.get("seq", "")),
                }
                for t in reversed(json.loads(frame)["data"])
            )
            if len(rows) >= limit:
                break
        result = {"category": category, "list": rows[:limit]}
        body = {
            "retCode": 0,
            "retMsg": "OK",
            "result": result,
            "time": self.sim.accounts.now_ns() // 10**6,
        }
        return web.Response(body=_dump(body), content_type="application/json")


def _private_key(topic: str, account: SimAccount) -> str:
    """The simulator's stream key of ``account``'s private ``topic``."""
    return f"{topic}:{account.name}"


def _hmac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _num(d: Decimal) -> str:
    """Plain decimal text (no exponent), as Bybit writes numbers."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
