"""MEXC in the simulator: spot v3 (``mexc``: binary protobuf pushes, JSON control replies) and
the USDT-margined contracts (``mexc-linear``: JSON, see :class:`MexcContractSim`).

Sources: shared/docs/exchanges/mexc.md A.1-A.5 (MEXC spot v3 "Websocket Market Streams" and
"Market Data Endpoints" docs) and the recording shipped in ``tickwire/data/mexc`` (the only real
MEXC recording, 7 SOLUSDT frames of the retired JSON stream, re-encoded as today's protobuf
pushes with the values unchanged; see its SOURCES.md).

Endpoint: ``/ws``. A simulator-only ``?streams=a,b`` query subscribes channels in the URL.

Recording lines are ``b64:`` binary frames, each one protobuf ``PushDataV3ApiWrapper``; the
stream key is its ``channel`` (field 1: ``spot@public.aggre.depth.v3.api.pb@100ms@SOLUSDT``,
``spot@public.limit.depth.v3.api.pb@SOLUSDT@10``), the same text the adapter subscribes and the
Rust venue acknowledges. A connection receives each frame as recorded, as a binary frame.

Client messages, as MEXC answers them (JSON text):

- ``{"method":"PING"}`` -> ``{"id":0,"code":0,"msg":"PONG"}`` (a client keepalive: a connection
  whose client sent none for 60 s is closed, A.2);
- ``{"method":"SUBSCRIPTION"|"UNSUBSCRIPTION","params":[..]}`` -> ``{"id":0,"code":0,"msg":
  "<channel>,<channel>"}`` echoing the channels; a channel the simulator does not hold fails the
  request with ``{"id":0,"code":0,"msg":"Not Subscribed successfully! [<channel>].  Reason:
  Blocked! "}`` (the reply MEXC sends for a channel it does not serve, with code 0);
- anything else -> ``{"id":0,"code":0,"msg":"msg format invalid"}``.

REST: ``GET /api/v3/depth?symbol=&limit=`` is the book at the replay position, built from the
recording itself (``aggre.depth`` deltas apply; a ``limit.depth`` top-N snapshot replaces the
book unless the book already reached its version, as the Rust venue's ``stale_snapshot``; strings
kept), ``lastUpdateId`` = the version of the last book message applied; it waits until the first
book message was replayed. ``GET /api/v3/exchangeInfo`` lists the recorded symbols
(``quotePrecision``/``baseAssetPrecision``: the most decimals the recording shows). Errors:
``{"code":-1121,"msg":"Invalid symbol."}`` (HTTP 400).
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ...replay import frame_of_line
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
from ..wirebook import BookMessage, BookReplay

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..server import Simulator

_DEPTH_PATH = "/api/v3/depth"
_INFO_PATH = "/api/v3/exchangeInfo"
_LIMIT_BODY, _AGGRE_BODY = 303, 313

Fields = list[tuple[int, Any]]


def pb_fields(b: bytes) -> Fields:
    """The (field number, value) pairs of one protobuf message: varints as ints,
    length-delimited values as bytes (the only wire types of MEXC's schema). ``ValueError`` for
    anything else or a truncated message."""
    out: Fields = []
    i, n = 0, len(b)

    def varint() -> int:
        nonlocal i
        v, shift = 0, 0
        while True:
            if i >= n or shift > 63:
                raise ValueError("truncated protobuf varint")
            byte = b[i]
            i += 1
            v |= (byte & 0x7F) << shift
            if byte < 0x80:
                return v
            shift += 7

    while i < n:
        tag = varint()
        if tag & 7 == 0:
            out.append((tag >> 3, varint()))
        elif tag & 7 == 2:
            size = varint()
            if i + size > n:
                raise ValueError("truncated protobuf field")
            out.append((tag >> 3, b[i : i + size]))
            i += size
        else:
            raise ValueError(f"protobuf wire type {tag & 7} is not in MEXC's schema")
    return out


def _text(fields: Fields, number: int) -> str:
    return next((v.decode() for f, v in fields if f == number and isinstance(v, bytes)), "")


def _levels(fields: Fields, number: int) -> list[tuple[str, str]]:
    out = []
    for f, v in fields:
        if f == number and isinstance(v, bytes):
            lv = pb_fields(v)
            out.append((_text(lv, 1), _text(lv, 2)))
    return out


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class MexcWire(WireFormat):
    """MEXC spot protobuf pushes (binary); the stream key is the wrapper's ``channel``."""

    default_framing: Hashable = None
    garbage_payload = b"\x0a\xff\xff"  # a channel field whose length runs past the frame

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """MEXC's data pushes are binary: a text line is not one. Raises ``ValueError``."""
        raise ValueError(f"not a MEXC protobuf push (a text line): {line[:80]!r}")

    def read_binary(self, frame: bytes) -> tuple[str, bytes]:
        """(channel, the frame) of one recorded push. ``ValueError`` if it has no channel."""
        channel = _text(pb_fields(frame), 1)
        if not channel.startswith("spot@"):
            raise ValueError(f"not a MEXC spot push: channel {channel!r}")
        return channel, frame

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """Never called for this format (every data frame is binary)."""
        return payload


WIRE = MexcWire()


@dataclass(frozen=True, kw_only=True)
class MexcSpec(MarketSpec):
    """The MEXC spot v3 market-data server."""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`MexcSim` (no options)."""
        self.reject_unknown_options(options)
        return MexcSim(self, sim)


def _demo_fault(sim: Simulator) -> Drop:  # noqa: ARG001 - the fault needs no position
    """One SOLUSDT depth delta not sent (the book resyncs from a REST snapshot)."""
    return Drop(stream="spot@public.aggre.depth.v3.api.pb@100ms@SOLUSDT", skip=1)


SPOT = MexcSpec(
    name="mexc",
    exchange="mexc",
    market="spot",
    wire=WIRE,
    packaged=PackagedRecording(
        "mexc/transcoded_pb_spot_solusdt_20250112.jsonl.gz",
        "mexc/transcoded_pb_spot_solusdt_20250112.ts.gz",
    ),
    ping_interval=0.0,  # MEXC does not ping; the client does ({"method":"PING"})
    pong_timeout=0.0,
    rate_limit=100,  # not documented per message
    client_ping_timeout=60.0,
    lifetime=24 * 3600.0,
    demo=DemoSpec(
        title="MEXC spot (re-encoded protobuf)",
        symbol="SOL/USDT",
        channels=("book",),
        fault=_demo_fault,
        fault_text="a dropped depth delta",
    ),
)


class MexcSim(VenueSim):
    """MEXC spot's protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring)."""

    spec: MexcSpec

    def __init__(self, spec: MexcSpec, sim: Simulator):
        super().__init__(spec, sim)
        self._replay: BookReplay | None = None
        self._version: dict[int, int] = {}  # book line -> its (to)version
        #: REST depth requests answered (snapshots and REST fallback polls alike), for tests
        self.market_requests: dict[str, int] = {}
        self._first_book_line: dict[str, int] = {}
        self._symbols: list[str] = []

    # ---- lifecycle -------------------------------------------------------------------------
    def _push(self, line: int) -> tuple[str, int, Fields]:
        """(symbol, body field number, body fields) of recording line ``line``."""
        frame, _ = frame_of_line(self.sim.recording.lines[line])
        w = pb_fields(frame)
        body = next(((f, v) for f, v in w if f > 300), None)
        if body is None or not isinstance(body[1], bytes):
            return _text(w, 3), 0, []
        return _text(w, 3), body[0], pb_fields(body[1])

    def started(self) -> None:
        """Index the recording's book lines (versions, the book replay)."""
        rec = self.sim.recording
        lines = []
        symbols: dict[str, None] = {}
        reached: dict[str, int] = {}
        for line in range(len(rec.line_stream)):
            symbol, body, fields = self._push(line)
            symbols[symbol] = None
            if body == _LIMIT_BODY:
                version = int(_text(fields, 4))
                if version <= reached.get(symbol, -1):
                    continue  # the top N at a version the book has: the same state, cut
            elif body == _AGGRE_BODY:
                version = int(_text(fields, 5))
            else:
                continue
            self._version[line] = version
            reached[symbol] = max(version, reached.get(symbol, -1))
            lines.append(line)
            self._first_book_line.setdefault(symbol, line)
        self._symbols = list(symbols)
        self._replay = BookReplay(self._read_book, lines)

    def rewound(self) -> None:
        """Forget the books built from later lines."""
        if self._replay is not None:
            self._replay.reset()

    def _read_book(self, line: int) -> list[BookMessage]:
        symbol, body, fields = self._push(line)
        return [BookMessage(symbol, body == _LIMIT_BODY, _levels(fields, 2), _levels(fields, 1))]

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/ws`` (``?streams=a,b`` subscribes channels)."""
        if path != "/ws":
            return None
        streams = [s for s in query.get("streams", "").split(",") if s]
        return WsEndpoint("spot", None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/ws?streams=a,b`` (a simulator convenience; MEXC subscribes by message)."""
        return f"/ws?streams={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/ws``."""
        return "/ws"

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: ARG002
        """``PING``, ``SUBSCRIPTION`` and ``UNSUBSCRIPTION`` (see the module docstring)."""
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        method = req.get("method") if isinstance(req, dict) else None
        if method == "PING":
            return Outcome([_dump({"id": 0, "code": 0, "msg": "PONG"})], keepalive=True)
        params = req.get("params") if isinstance(req, dict) else None
        if method not in ("SUBSCRIPTION", "UNSUBSCRIPTION") or not isinstance(params, list):
            return Outcome([_dump({"id": 0, "code": 0, "msg": "msg format invalid"})])
        held = self.sim.recording.streams
        for p in params:
            if not isinstance(p, str) or p not in held:
                msg = f"Not Subscribed successfully! [{p}].  Reason: Blocked! "
                return Outcome([_dump({"id": 0, "code": 0, "msg": msg})])
        ack = [_dump({"id": 0, "code": 0, "msg": ",".join(params)})]
        if method == "SUBSCRIPTION":
            return Outcome(ack, subscribe=list(params))
        return Outcome(ack, unsubscribe=list(params))

    def market_id_of(self, stream: str) -> str | None:
        """``SOLUSDT`` for ``spot@public.aggre.depth.v3.api.pb@100ms@SOLUSDT`` (and for
        ``spot@public.limit.depth.v3.api.pb@SOLUSDT@10``)."""
        parts = stream.split("@")
        return next((p for p in reversed(parts) if p in self._symbols), None)

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``/api/v3/depth`` and ``/api/v3/exchangeInfo``, or None."""
        if path == _DEPTH_PATH:
            return self.depth
        if path == _INFO_PATH:

            async def info(request: web.Request) -> web.StreamResponse:  # noqa: ARG001
                return self.exchange_info()

            return info
        return None

    @property
    def snapshot_path(self) -> str:
        """``/api/v3/depth``."""
        return _DEPTH_PATH

    @property
    def instruments_path(self) -> str:
        """``/api/v3/exchangeInfo``."""
        return _INFO_PATH

    async def depth(self, request: web.Request) -> web.StreamResponse:
        """The book of ``symbol`` at the replay position (see the module docstring)."""
        if request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        sim = self.sim
        sim.rest_requests += 1
        self.market_requests["depth"] = self.market_requests.get("depth", 0) + 1
        symbol = request.query.get("symbol", "")
        first = self._first_book_line.get(symbol)
        if first is None or self._replay is None:
            return _error(-1121, "Invalid symbol.")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _error(-1100, "Illegal characters found in parameter 'limit'.")
        clock = sim.started_replay()
        await clock.wait_position(first + 1)
        book = self._replay.book(symbol, clock.position)
        last = self._replay.last_line(symbol)
        if book is None or last is None:  # pragma: no cover - waited for the first book line
            return _error(-1121, "Invalid symbol.")
        body = {
            "lastUpdateId": self._version[last],
            "bids": [list(lv) for lv in book.bids(limit)],
            "asks": [list(lv) for lv in book.asks(limit)],
            "timestamp": time.time_ns() // 1_000_000,
        }
        return web.Response(body=_dump(body), content_type="application/json")

    def exchange_info(self) -> web.Response:
        """The recorded symbols in ``exchangeInfo``'s shape."""
        entries = []
        for symbol in self._symbols:
            quote = next((q for q in ("USDT", "USDC", "BTC", "ETH") if symbol.endswith(q)), "")
            price_dec, size_dec = self._decimals(symbol)
            entries.append(
                {
                    "symbol": symbol,
                    "status": "1",
                    "baseAsset": symbol[: len(symbol) - len(quote)],
                    "baseAssetPrecision": size_dec,
                    "quoteAsset": quote,
                    "quotePrecision": price_dec,
                    "quoteAssetPrecision": price_dec,
                    "isSpotTradingAllowed": True,
                }
            )
        body = {"timezone": "CST", "serverTime": time.time_ns() // 1_000_000, "symbols": entries}
        return web.Response(body=_dump(body), content_type="application/json")

    def _decimals(self, symbol: str) -> tuple[int, int]:
        price, size = 0, 0
        for line in self._version:
            sym, _, fields = self._push(line)
            if sym != symbol:
                continue
            for p, q in (*_levels(fields, 1), *_levels(fields, 2)):
                price = max(price, len(p.partition(".")[2]))
                size = max(size, len(q.partition(".")[2]))
        return price, size

    def url_lines(self) -> list[str]:
        """The WebSocket URL and the REST routes."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/ws",
            f"  all streams {sim.stream_url()}",
            f"  rest depth {sim.rest_url}{_DEPTH_PATH}?symbol=SOLUSDT&limit=1000",
        ]


def _error(code: int, msg: str) -> web.Response:
    """MEXC's error reply ``{"code":..,"msg":..}`` (HTTP 400)."""
    return web.Response(
        status=400, body=_dump({"code": code, "msg": msg}), content_type="application/json"
    )


# ---------------------------------------------------------------------------------------------
# Contract (``mexc-linear``)
# ---------------------------------------------------------------------------------------------

_CONTRACT_DEPTH = "/api/v1/contract/depth/"
_CONTRACT_DETAIL = "/api/v1/contract/detail"


class MexcContractWire(WireFormat):
    """MEXC contract pushes (JSON ``{"channel":"push.<x>","data":..,"symbol":..,"ts":..}``);
    the stream key is the adapter's ``"sub.<x>:<SYMBOL>"`` (``"sub.depth:BTC_USDT"``)."""

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(``sub.<x>:<SYMBOL>``, the line). ``ValueError`` for a line that is not a push."""
        try:
            obj = json.loads(line)
        except ValueError:
            raise ValueError(f"not JSON: {line[:80]!r}") from None
        channel = obj.get("channel") if isinstance(obj, dict) else None
        symbol = obj.get("symbol") if isinstance(obj, dict) else None
        if not (
            isinstance(channel, str) and channel.startswith("push.") and isinstance(symbol, str)
        ):
            raise ValueError(f"not a MEXC contract push: {line[:80]!r}")
        return f"sub.{channel[5:]}:{symbol}", line

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """The push as recorded."""
        return payload


CONTRACT_WIRE = MexcContractWire()


@dataclass(frozen=True, kw_only=True)
class MexcContractSpec(MarketSpec):
    """The MEXC contract (futures) market-data server."""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`MexcContractSim` (no options)."""
        self.reject_unknown_options(options)
        return MexcContractSim(self, sim)


LINEAR = MexcContractSpec(
    name="mexc-linear",
    exchange="mexc",
    market="linear",
    wire=CONTRACT_WIRE,
    packaged=PackagedRecording(
        "mexc/docs_contract_btcusdt.jsonl.gz", "mexc/docs_contract_btcusdt.ts.gz"
    ),
    ping_interval=0.0,  # the client pings ({"method":"ping"}), the server does not
    pong_timeout=0.0,
    rate_limit=100,  # not documented per message
    client_ping_timeout=60.0,  # "no ping for 1 min -> disconnect" (mexc.md B.1)
    lifetime=24 * 3600.0,
    demo=None,  # docs-derived data only: the demo shows recorded markets
)

SPECS = (SPOT, LINEAR)


class MexcContractSim(VenueSim):
    """MEXC's contract protocol (shared/docs/exchanges/mexc.md B.1-B.4) for one simulator.

    The packaged recording is DOCS-DERIVED (``tests/fixtures/mexc/build_contract_fixture.py``:
    no capture of MEXC's contract stream exists in the shared set): a ``push.depth.full`` top
    of book (the REST example's levels, version 1), then ``push.depth`` deltas whose
    ``version`` grows by one and ``push.deal`` trades.

    Endpoint ``/edge`` (``?streams=a,b`` subscribes stream keys in the URL, a simulator
    convenience). Client messages, as MEXC answers them:

    - ``{"method":"ping"}`` -> ``{"channel":"pong","data":<ms>}`` (the client keepalive; a
      connection silent for 60 s is closed);
    - ``{"method":"sub.<x>","param":{"symbol":S,..}}`` -> ``{"channel":"rs.sub.<x>","data":
      "success","ts":..}`` and stream ``sub.<x>:S`` is subscribed; a symbol the recording does
      not hold -> ``{"channel":"rs.error","data":"Contract doesn't exist!","ts":..}``;
      ``unsub.<x>`` likewise (``rs.unsub.<x>``);
    - anything else -> ``rs.error`` with ``"Unknown method"`` (the docs print no reply for it).

    REST: ``GET /api/v1/contract/depth/<SYMBOL>?limit=`` is the book at the replay position
    built from the recording (``{"success":true,"code":0,"data":{"asks":[[p,v]],"bids":..,
    "version":V,"timestamp":ms}}``, V the version of the last book message applied; it waits
    for the first book message), ``GET /api/v1/contract/detail`` lists the recorded symbols
    (``priceUnit``/``volUnit`` from the most decimals the recording shows, ``contractSize`` 1:
    the recording gives none). An unknown symbol: ``{"success":false,"code":1001,"message":
    "Contract doesn't exist!"}`` (the WebSocket's text; the REST code is not documented).
    """

    spec: MexcContractSpec

    def __init__(self, spec: MexcContractSpec, sim: Simulator):
        super().__init__(spec, sim)
        self._replay: BookReplay | None = None
        self._version: dict[int, int] = {}  # book line -> its version
        #: REST depth requests answered (snapshots and REST fallback polls alike), for tests
        self.market_requests: dict[str, int] = {}
        self._first_book_line: dict[str, int] = {}
        self._symbols: list[str] = []
        self._decimals: dict[str, tuple[int, int]] = {}

    def _read(self, line: int) -> dict[str, Any]:
        # Numbers kept as the text sent: the REST book writes them back unchanged.
        raw = self.sim.recording.lines[line]
        obj: dict[str, Any] = json.loads(raw, parse_float=str, parse_int=str)
        return obj

    def started(self) -> None:
        """Index the recording's book lines (versions, decimals, the book replay)."""
        lines = []
        symbols: dict[str, None] = {}
        for line in range(len(self.sim.recording.line_stream)):
            obj = self._read(line)
            symbol, data = obj["symbol"], obj.get("data")
            symbols[symbol] = None
            if obj["channel"] not in ("push.depth", "push.depth.full") or not isinstance(
                data, dict
            ):
                continue
            self._version[line] = int(data["version"])
            lines.append(line)
            self._first_book_line.setdefault(symbol, line)
            price, size = self._decimals.get(symbol, (0, 0))
            for row in (*data.get("asks", ()), *data.get("bids", ())):
                price = max(price, len(_text_of(row[0]).partition(".")[2]))
                size = max(size, len(_text_of(row[1]).partition(".")[2]))
            self._decimals[symbol] = (price, size)
        self._symbols = list(symbols)
        self._replay = BookReplay(self._read_book, lines)

    def rewound(self) -> None:
        """Forget the books built from later lines."""
        if self._replay is not None:
            self._replay.reset()

    def _read_book(self, line: int) -> list[BookMessage]:
        obj = self._read(line)
        data = obj["data"]

        def rows(side: str) -> list[tuple[str, str]]:
            return [(_text_of(r[0]), _text_of(r[1])) for r in data.get(side, ())]

        full = obj["channel"] == "push.depth.full"
        return [BookMessage(obj["symbol"], full, rows("bids"), rows("asks"))]

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/edge`` (``?streams=a,b`` subscribes stream keys)."""
        if path != "/edge":
            return None
        streams = [s for s in query.get("streams", "").split(",") if s]
        return WsEndpoint("linear", None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/edge?streams=a,b`` (a simulator convenience; MEXC subscribes by message)."""
        return f"/edge?streams={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/edge``."""
        return "/edge"

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: ARG002
        """``ping``, ``sub.<x>`` and ``unsub.<x>`` (see the class docstring)."""
        now = time.time_ns() // 1_000_000
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        method = req.get("method") if isinstance(req, dict) else None
        if method == "ping":
            return Outcome([_dump({"channel": "pong", "data": now})], keepalive=True)
        param = req.get("param") if isinstance(req, dict) else None
        symbol = param.get("symbol") if isinstance(param, dict) else None
        if not isinstance(method, str) or not method.startswith(("sub.", "unsub.")):
            return Outcome([_dump({"channel": "rs.error", "data": "Unknown method", "ts": now})])
        if symbol not in self._symbols:
            msg = "Contract doesn't exist!"
            return Outcome([_dump({"channel": "rs.error", "data": msg, "ts": now})])
        ack = [_dump({"channel": f"rs.{method}", "data": "success", "ts": now})]
        if method.startswith("sub."):
            return Outcome(ack, subscribe=[f"{method}:{symbol}"])
        return Outcome(ack, unsubscribe=[f"{method[2:]}:{symbol}"])

    def market_id_of(self, stream: str) -> str | None:
        """``BTC_USDT`` for ``sub.depth:BTC_USDT``."""
        return stream.partition(":")[2] or None

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``/api/v1/contract/depth/<SYMBOL>`` and ``/api/v1/contract/detail``, or None."""
        if path.startswith(_CONTRACT_DEPTH):
            return self.depth
        if path == _CONTRACT_DETAIL:

            async def detail(request: web.Request) -> web.StreamResponse:  # noqa: ARG001
                return self.contract_detail()

            return detail
        return None

    @property
    def snapshot_path(self) -> str:
        """``/api/v1/contract/depth/<first recorded symbol>``."""
        return _CONTRACT_DEPTH + (self._symbols[0] if self._symbols else "BTC_USDT")

    def is_snapshot_path(self, path: str) -> bool:
        """Any ``/api/v1/contract/depth/<symbol>``."""
        return path.startswith(_CONTRACT_DEPTH)

    @property
    def instruments_path(self) -> str:
        """``/api/v1/contract/detail``."""
        return _CONTRACT_DETAIL

    async def depth(self, request: web.Request) -> web.StreamResponse:
        """The book of the path's symbol at the replay position (see the class docstring)."""
        if request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        sim = self.sim
        sim.rest_requests += 1
        self.market_requests["depth"] = self.market_requests.get("depth", 0) + 1
        symbol = request.path[len(_CONTRACT_DEPTH) :]
        first = self._first_book_line.get(symbol)
        if first is None or self._replay is None:
            return _contract_error(1001, "Contract doesn't exist!")
        try:
            limit = int(request.query.get("limit", "1000"))
        except ValueError:
            return _contract_error(1002, "Illegal limit")  # not documented: a 1xxx code
        clock = sim.started_replay()
        await clock.wait_position(first + 1)
        book = self._replay.book(symbol, clock.position)
        last = self._replay.last_line(symbol)
        if book is None or last is None:  # pragma: no cover - waited for the first book line
            return _contract_error(1001, "Contract doesn't exist!")
        # Numbers as the pushes write them (JSON numbers, not strings): the wire text as is.
        asks, bids = _number_rows(book.asks(limit)), _number_rows(book.bids(limit))
        version, now = self._version[last], time.time_ns() // 1_000_000
        body = (
            f'{{"success":true,"code":0,"data":{{"asks":{asks},"bids":{bids},'
            f'"version":{version},"timestamp":{now}}}}}'
        )
        return web.Response(body=body.encode(), content_type="application/json")

    def contract_detail(self) -> web.Response:
        """The recorded symbols in ``contract/detail``'s shape."""
        entries = []
        for symbol in self._symbols:
            base, _, quote = symbol.partition("_")
            price_dec, size_dec = self._decimals.get(symbol, (0, 0))
            entries.append(
                {
                    "symbol": symbol,
                    "baseCoin": base,
                    "quoteCoin": quote,
                    "settleCoin": quote,
                    "contractSize": 1,
                    "priceUnit": _step_number(price_dec),
                    "volUnit": _step_number(size_dec),
                    "state": 0,
                }
            )
        return web.Response(
            body=_dump({"success": True, "code": 0, "data": entries}),
            content_type="application/json",
        )

    def url_lines(self) -> list[str]:
        """The WebSocket URL and the REST routes."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/edge",
            f"  all streams {sim.stream_url()}",
            f"  rest depth {sim.rest_url}{self.snapshot_path}?limit=1000",
        ]


def _number_rows(levels: Sequence[Sequence[str]]) -> str:
    """``[[p,v],..]`` with each wire text written as a JSON number, unchanged."""
    return "[" + ",".join(f"[{lv[0]},{lv[1]}]" for lv in levels) + "]"


def _text_of(v: object) -> str:
    """A number of a contract row as the push wrote it (read with ``parse_float=str``)."""
    return str(v)


def _step_number(decimals: int) -> float | int:
    """``10^-decimals`` as MEXC writes a unit (``0.1``, ``1``)."""
    return 1 if decimals == 0 else float(f"1e-{decimals}")


def _contract_error(code: int, message: str) -> web.Response:
    """MEXC's contract REST error ``{"success":false,"code":..,"message":..}`` (HTTP 200, as the
    contract API answers errors)."""
    return web.Response(
        body=_dump({"success": False, "code": code, "message": message}),
        content_type="application/json",
    )
