"""KuCoin spot (``kucoin``) in the simulator.

Sources: docs/exchanges/kucoin.md §1-§6 (KuCoin spot "Websocket Feed", "Level-2 Market Data",
"Public Channels", "Get Part Order Book", "Get Symbols List").

Connect flow, as KuCoin's: ``POST /api/v1/bullet-public`` answers ``{"code":"200000","data":
{"token":"sim-<n>","instanceServers":[{"endpoint":"ws://<host>/endpoint","encrypt":false,
"protocol":"websocket","pingInterval":<ms>,"pingTimeout":<ms>}]}}`` (option ``ping_interval_ms``,
default 18000; a GET is answered 405). A WebSocket on ``/endpoint`` (or ``/``) with a ``token``
from that answer is greeted with ``{"id":"<connectId>","type":"welcome"}``; a connection with
another token is closed (4001) after the upgrade, as KuCoin refuses it. A simulator-only query
``?subscribe=a,b`` (no token: no welcome) subscribes topics in the URL (``Simulator.stream_url``,
benchmarks).

Recording lines are KuCoin pushes exactly as received (``{"data":..,"subject":..,"topic":..,
"type":"message"}``); the stream key is the topic (``/market/level2:BCHSV-USDT``), and the frame
is the line unchanged.

Client messages (``id`` echoed as a string, as KuCoin does):

- ``{"id":N,"type":"subscribe","topic":"<prefix>:A,B",..,"response":true}``: the prefix must be
  a public spot topic this market serves (``/market/level2``, ``/market/ticker``,
  ``/market/match``, ``/market/candles`` with ``<symbol>_<type>``) and every symbol one the
  recording holds, at most 100 per request; otherwise ``{"id":"N","type":"error","code":404,
  "data":"topic <topic> is not found"}`` and nothing is subscribed. Success: ``{"id":"N",
  "type":"ack"}`` when ``response`` is true.
- ``"type":"unsubscribe"``: the same checks; acked.
- ``{"id":..,"type":"ping"}``: ``{"id":..,"type":"pong"}`` (a keepalive: a connection without
  one for ``pingInterval + pingTimeout`` is closed, as KuCoin does).
- Anything else: ``{"id":..,"type":"error","code":400,"data":"<why>"}``.

REST:

- ``/api/v1/market/orderbook/level2_20`` and ``level2_100?symbol=<ID>``: the book at the replay
  position, in KuCoin's shape ``{"code":"200000","data":{"time","sequence","bids","asks"}}``,
  held until the replay reaches the recorded snapshot's arrival. With ``snapshot_mode``
  "auto", while no level2 message past the recorded snapshot's ``sequence`` has been replayed it
  is the recorded snapshot (truncated to 20/100 levels; "recorded": always that one); later
  ("derived": always) it is *derived*: the recorded snapshot plus every replayed level2 message
  by the docs' rule (messages past the sequence, rows past it, price ``"0"`` rows skipped, size
  ``"0"`` deletes; price and size strings as recorded), ``sequence`` = the last applied
  ``sequenceEnd``. Only levels the recorded snapshot or the deltas mention are known. An unknown
  symbol: ``{"code":"400100","msg":"..."}`` (HTTP 400).
- ``/api/v3/market/orderbook/level2`` (the full book) needs an API key on KuCoin: answered
  ``{"code":"400003","msg":"KC-API-KEY not exists"}`` (HTTP 401).
- ``/api/v2/symbols``: the recorded symbols, ``priceIncrement``/``baseIncrement`` 10^-N for the
  most decimals the recording writes in that symbol's prices/sizes (derived, not KuCoin's
  values), ``enableTrading`` true.

Limits: 100 client messages per 10 s (checked per second, at 10); no server WebSocket pings
(KuCoin's clients ping); no documented connection lifetime.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

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
)
from ..wirebook import WireBook

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..recording import Recording, Snapshot
    from ..server import Simulator

_LEVEL2 = "/market/level2"
_PREFIXES = (_LEVEL2, "/market/ticker", "/market/match", "/market/candles")
_CANDLE_TYPES = (
    "1min",
    "3min",
    "5min",
    "15min",
    "30min",
    "1hour",
    "2hour",
    "4hour",
    "6hour",
    "8hour",
    "12hour",
    "1day",
    "1week",
)
_BULLET = "/api/v1/bullet-public"
_PART_BOOK = "/api/v1/market/orderbook/level2_"
_FULL_BOOK = "/api/v3/market/orderbook/level2"
_SYMBOLS = "/api/v2/symbols"
_LEVEL1 = "/api/v1/market/orderbook/level1"
_CANDLES = "/api/v1/market/candles"
_WS_PATHS = ("/endpoint", "/")
_MAX_SYMBOLS = 100


class KucoinWire(WireFormat):
    """KuCoin pushes; the stream key is the ``topic``, the frame the line itself."""

    garbage_payload = b'{"data":{"sequenceStart":'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(topic, the line unchanged). Raises ``ValueError`` if ``line`` is no KuCoin push."""
        try:
            obj = json.loads(line)
            topic = obj["topic"]
            if obj.get("type") != "message" or not isinstance(topic, str):
                raise TypeError("not a push")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a KuCoin push: {line[:80]!r}") from exc
        return topic, line

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """The push as recorded (one framing)."""
        return payload


WIRE = KucoinWire()


@dataclass(frozen=True, kw_only=True)
class KucoinSpec(MarketSpec):
    """KuCoin spot: the bullet answer's ping interval and timeout (ms)."""

    ping_interval_ms: int = 18_000
    ping_timeout_ms: int = 10_000

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`KucoinSim`; the one option is ``ping_interval_ms`` (what the bullet answer
        names, default 18000: tests shorten it)."""
        self.reject_unknown_options(options, {"ping_interval_ms"})
        ping = options.get("ping_interval_ms", self.ping_interval_ms)
        if not isinstance(ping, int) or ping < 1:
            raise ValueError("ping_interval_ms must be a positive integer")
        return KucoinSim(self, sim, ping)


def _demo_fault(sim: Simulator) -> Drop:  # noqa: ARG001 - the fault needs no position
    """One BCHSV-USDT level2 delta withheld (the next one's ``sequenceStart`` no longer
    continues the book: a gap, then a resync from a REST snapshot)."""
    return Drop(stream="/market/level2:BCHSV-USDT", skip=1200)


_SNAPSHOT_AFTER = {  # market id -> lines received before it (data/kucoin/SOURCES.md)
    "ANKR-BTC": 48,
    "BCHSV-USDT": 2,
    "CAPP-BTC": 26,
    "DAPPT-BTC": 81,
    "EQZ-BTC": 382,
    "NRG-BTC": 83,
}

SPOT = KucoinSpec(
    name="kucoin",
    exchange="kucoin",
    market="spot",
    wire=WIRE,
    packaged=PackagedRecording(
        "kucoin/spot_6sym_20210425.jsonl.gz",
        "kucoin/spot_6sym_20210425.ts.gz",
        {
            mid: (f"kucoin/level2_snapshot_{mid.lower()}_20210425.json", after)
            for mid, after in _SNAPSHOT_AFTER.items()
        },
    ),
    ping_interval=0.0,
    pong_timeout=0.0,
    rate_limit=10,
    client_ping_timeout=28.0,
    client_ping_close=(1000, "no ping from the client"),
    demo=DemoSpec(
        title="KuCoin spot",
        symbol="BCHSV/USDT",
        fault=_demo_fault,
        fault_text="a dropped level2 delta",
    ),
)

SPECS = (SPOT,)


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _ok(data: object) -> web.Response:
    return web.Response(
        body=_dump({"code": "200000", "data": data}), content_type="application/json"
    )


def _fail(code: str, msg: str, status: int) -> web.Response:
    return web.Response(
        status=status, body=_dump({"code": code, "msg": msg}), content_type="application/json"
    )


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


class SnapshotSource:
    """One symbol's REST book at any (non-decreasing) replay position (see the module
    docstring, "REST"). Raises ``ValueError`` if the recorded body has no ``data.sequence``."""

    def __init__(self, rec: Recording, snap: Snapshot) -> None:
        self.rec = rec
        self.snap = snap
        sd = rec.streams.get(f"{_LEVEL2}:{snap.symbol}")
        self.lines: list[int] = list(sd.lines) if sd is not None else []
        data = json.loads(snap.body)["data"]
        try:
            self.sequence = int(data["sequence"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{snap.symbol} snapshot has no integer data.sequence") from exc
        self._data = data
        self.reset()

    def reset(self) -> None:
        """Forget derived state (the replay was rewound)."""
        self.book = WireBook()
        self.book.load_snapshot(self._data["bids"], self._data["asks"])
        self.at = self.sequence
        self.cursor = 0
        self.derived = False
        self.time = self._data.get("time")

    def advance(self, position: int) -> None:
        """Apply the level2 messages on lines before ``position`` (the docs' rule)."""
        while self.cursor < len(self.lines) and self.lines[self.cursor] < position:
            data = self.rec.parsed(self.lines[self.cursor])["data"]
            self.cursor += 1
            if data["sequenceEnd"] <= self.at:
                continue
            for side in ("bids", "asks"):
                for price, size, seq in data["changes"][side]:
                    if int(seq) > self.at and price != "0":
                        self.book.set(side[:-1], price, size)
            self.at = data["sequenceEnd"]
            self.derived = True
            if "time" in data:
                self.time = data["time"]

    def recorded_is_current(self, position: int) -> bool:
        """True while no level2 message past the recorded snapshot was replayed before
        ``position``."""
        for line in self.lines:
            if line >= position:
                return True
            if self.rec.parsed(line)["data"]["sequenceEnd"] > self.sequence:
                return False
        return True

    def recorded(self, depth: int) -> bytes:
        """The recorded reply: byte-for-byte if ``depth`` covers it, else truncated."""
        d = self._data
        if max(len(d["bids"]), len(d["asks"])) <= depth:
            return self.snap.body
        data = {**d, "bids": d["bids"][:depth], "asks": d["asks"][:depth]}
        return _dump({"code": "200000", "data": data})

    def body(self, position: int, depth: int) -> bytes:
        """KuCoin's reply derived at replay ``position`` with ``depth`` levels per side."""
        self.advance(position)
        data = {
            "time": self.time if self.derived and self.time else self._data.get("time"),
            "sequence": str(self.at),
            "bids": [list(level) for level in self.book.bids(depth)],
            "asks": [list(level) for level in self.book.asks(depth)],
        }
        return _dump({"code": "200000", "data": data})


class KucoinSim(VenueSim):
    """KuCoin spot's public protocol for one simulator (see the module docstring)."""

    spec: KucoinSpec

    def __init__(self, spec: KucoinSpec, sim: Simulator, ping_interval_ms: int) -> None:
        super().__init__(spec, sim)
        self.ping_interval_ms = ping_interval_ms
        self.tokens: set[str] = set()
        self._token_ids = itertools.count(1)
        self.sources: dict[str, SnapshotSource] = {}
        self._widths: dict[str, tuple[int, int]] = {}
        self.bullet_requests = 0
        #: the WebSocket base a bullet answer names instead of the simulator's own (a test's
        #: relay in front of it); None: the simulator's
        self.bullet_ws_base: str | None = None
        #: REST market requests answered per endpoint (``level1``, ``candles``)
        self.market_requests: dict[str, int] = {}

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/endpoint`` (or ``/``) with a bullet ``token`` (greeted on open), or with the
        simulator-only ``subscribe=a,b`` (no greeting); another token is refused (4001)."""
        if path not in _WS_PATHS:
            return None
        if "token" not in query:
            streams = [s for s in query.get("subscribe", "").split(",") if s]
            return WsEndpoint("spot", None, streams)
        if query["token"] not in self.tokens:
            return WsEndpoint("spot", None, (), reject=(4001, b"token is invalid"))
        return WsEndpoint("spot", None, ())

    def on_open(self, conn: ServerConnection) -> list[bytes]:
        """``{"id":"<connectId>","type":"welcome"}`` for a token connection."""
        query = parse_qs(urlsplit(conn.path).query)
        if "token" not in query:
            return []
        connect_id = query.get("connectId", [f"sim{conn.id}"])[0]
        return [_dump({"id": connect_id, "type": "welcome"})]

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/endpoint?subscribe=a,b`` (simulator only)."""
        return "/endpoint?subscribe=" + ",".join(streams)

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/endpoint`` (with ``?subscribe=<stream>`` if given)."""
        return "/endpoint" + (f"?subscribe={stream}" if stream else "")

    def market_id_of(self, stream: str) -> str | None:
        """``BCHSV-USDT`` for ``/market/level2:BCHSV-USDT`` (and ``..._1min`` candles)."""
        _, sep, sym = stream.partition(":")
        if not sep:
            return None
        return sym.rsplit("_", 1)[0] if stream.startswith("/market/candles:") else sym

    def _topics(self, topic: object) -> list[str] | str:
        """The one-symbol stream keys of a request topic, or why it is refused."""
        if not isinstance(topic, str) or ":" not in topic:
            return f"topic {topic} is not found"
        prefix, _, rest = topic.partition(":")
        symbols = rest.split(",")
        if prefix not in _PREFIXES or len(symbols) > _MAX_SYMBOLS:
            return f"topic {topic} is not found"
        held = set(self.sim.symbols)
        for s in symbols:
            sym = s
            if prefix == "/market/candles":
                sym, _, kind = s.rpartition("_")
                if kind not in _CANDLE_TYPES:
                    return f"topic {topic} is not found"
            if sym not in held:
                return f"topic {topic} is not found"
        return [f"{prefix}:{s}" for s in symbols]

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: ARG002
        """Subscribe, unsubscribe, ping (see the module docstring)."""
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        if not isinstance(req, dict):
            return Outcome(
                [_dump({"type": "error", "code": 400, "data": "expected a JSON object"})]
            )
        rid = req.get("id")
        echo = {} if rid is None else {"id": str(rid)}
        kind = req.get("type")
        if kind == "ping":
            return Outcome([_dump({**echo, "type": "pong"})], keepalive=True)
        if kind not in ("subscribe", "unsubscribe"):
            why = f"type {kind!r} is not supported"
            return Outcome([_dump({**echo, "type": "error", "code": 400, "data": why})])
        topics = self._topics(req.get("topic"))
        if isinstance(topics, str):
            return Outcome([_dump({**echo, "type": "error", "code": 404, "data": topics})])
        replies = [_dump({**echo, "type": "ack"})] if req.get("response") is True else []
        if kind == "subscribe":
            return Outcome(replies, subscribe=topics)
        return Outcome(replies, unsubscribe=topics)

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """bullet-public (POST), level2_20/level2_100 and the v3 full book, level1, candles,
        symbols."""
        if path == _BULLET:
            return self._bullet
        if path in (_PART_BOOK + "20", _PART_BOOK + "100"):
            depth = int(path.rsplit("_", 1)[1])

            async def book(request: web.Request) -> web.StreamResponse:
                return await self._book(request, depth)

            return book
        simple: dict[str, RestHandler] = {
            _FULL_BOOK: self._full_book,
            _LEVEL1: self._level1,
            _CANDLES: self._candles,
            _SYMBOLS: self._symbols,
        }
        return simple.get(path)

    async def _bullet(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _fail("405000", "method not allowed: POST", 405)
        self.bullet_requests += 1
        token = f"sim-{next(self._token_ids)}"
        self.tokens.add(token)
        server = {
            "endpoint": f"{self.bullet_ws_base or self.sim.ws_url}/endpoint",
            "encrypt": False,
            "protocol": "websocket",
            "pingInterval": self.ping_interval_ms,
            "pingTimeout": self.spec.ping_timeout_ms,
        }
        return _ok({"token": token, "instanceServers": [server]})

    async def _book(self, request: web.Request, depth: int) -> web.StreamResponse:
        sim = self.sim
        sim.rest_requests += 1
        src = self.sources.get(request.query.get("symbol", ""))
        if src is None:
            return _fail("400100", "symbol not exists", 400)
        delay = sim.snapshot_delays.take()
        clock = sim.started_replay()
        position = await clock.wait_position(src.snap.after_line)
        mode = sim.snapshot_mode
        if mode == "recorded" or (mode == "auto" and src.recorded_is_current(position)):
            body = src.recorded(depth)
        else:
            body = src.body(clock.position, depth)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=body, content_type="application/json")

    async def _level1(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/market/orderbook/level1?symbol=X``: ``data`` ``{"sequence","price",
        "size","bestBid","bestBidSize","bestAsk","bestAskSize","time"}`` of the last recorded
        ``/market/ticker`` push published so far (the same fields); before it, ``data`` null
        (as KuCoin answers a symbol without a ticker)."""
        self.market_requests["level1"] = self.market_requests.get("level1", 0) + 1
        symbol = request.query.get("symbol", "")
        if symbol not in self.sim.symbols:
            return _fail("400100", "symbol not exists", 400)
        rec, pos = self.sim.recording, self.sim.position
        sd = rec.streams.get(f"/market/ticker:{symbol}")
        last = None
        for line in sd.lines if sd is not None else []:
            if line >= pos:
                break
            last = line
        return _ok(None if last is None else rec.parsed(last)["data"])

    async def _candles(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v1/market/candles?type=T&symbol=X``: rows ``[time s, open, close, high,
        low, volume, turnover]``, newest first, at most 1500: the latest state of each recorded
        ``/market/candles:X_T`` candle published so far."""
        self.market_requests["candles"] = self.market_requests.get("candles", 0) + 1
        q = request.query
        symbol, kind = q.get("symbol", ""), q.get("type", "")
        if symbol not in self.sim.symbols:
            return _fail("400100", "symbol not exists", 400)
        if kind not in _CANDLE_TYPES:
            return _fail("400100", "type invalid", 400)
        rec, pos = self.sim.recording, self.sim.position
        latest: dict[int, list[str]] = {}
        sd = rec.streams.get(f"/market/candles:{symbol}_{kind}")
        for line in sd.lines if sd is not None else []:
            if line >= pos:
                break
            row = rec.parsed(line)["data"]["candles"]
            latest[int(row[0])] = row
        return _ok([latest[t] for t in sorted(latest, reverse=True)][:1500])

    async def _full_book(self, request: web.Request) -> web.StreamResponse:  # noqa: ARG002
        return _fail("400003", "KC-API-KEY not exists", 401)

    async def _symbols(self, request: web.Request) -> web.StreamResponse:  # noqa: ARG002
        self.sim.exchange_info_requests += 1
        return _ok([self._symbol_entry(mid) for mid in self.sim.symbols])

    def _symbol_entry(self, market_id: str) -> dict[str, Any]:
        price_dp, size_dp = self._widths.get(market_id, (8, 8))
        base, _, quote = market_id.partition("-")
        return {
            "symbol": market_id,
            "name": market_id,
            "baseCurrency": base,
            "quoteCurrency": quote,
            "priceIncrement": _increment(price_dp),
            "baseIncrement": _increment(size_dp),
            "enableTrading": True,
        }

    @property
    def snapshot_path(self) -> str:
        """``/api/v1/market/orderbook/level2_100``."""
        return _PART_BOOK + "100"

    def is_snapshot_path(self, path: str) -> bool:
        """``level2_20`` and ``level2_100`` alike."""
        return path.startswith(_PART_BOOK)

    @property
    def instruments_path(self) -> str:
        """``/api/v2/symbols``."""
        return _SYMBOLS

    def url_lines(self) -> list[str]:
        """The bullet, WebSocket, snapshot and symbols URLs."""
        sim = self.sim
        out = [
            f"  bullet     POST {sim.rest_url}{_BULLET}  (then {sim.ws_url}/endpoint?token=..)",
            f"  all streams {sim.stream_url()}",
        ]
        out.extend(f"  rest book  {sim.depth_url}?symbol={m}" for m in sim.recording.snapshots)
        out.append(f"  rest info  {sim.exchange_info_url}")
        return out

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the recorded snapshots and each symbol's price/size decimals."""
        rec = self.sim.recording
        self.sources = {m: SnapshotSource(rec, s) for m, s in rec.snapshots.items()}
        widths: dict[str, tuple[int, int]] = {}
        for m, src in self.sources.items():
            d = src._data
            levels = [lv for side in ("bids", "asks") for lv in d[side]]
            widths[m] = (
                max((_decimals(p) for p, _ in levels), default=0),
                max((_decimals(q) for _, q in levels), default=0),
            )
        self._widths = widths

    def rewound(self) -> None:
        """Forget derived books."""
        for src in self.sources.values():
            src.reset()


def _increment(decimals: int) -> str:
    return "1" if decimals == 0 else "0." + "0" * (decimals - 1) + "1"
