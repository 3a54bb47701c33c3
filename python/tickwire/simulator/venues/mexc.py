"""MEXC spot v3 (``mexc``) in the simulator: binary protobuf pushes, JSON control replies.

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

SPECS = (SPOT,)


class MexcSim(VenueSim):
    """MEXC spot's protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring)."""

    spec: MexcSpec

    def __init__(self, spec: MexcSpec, sim: Simulator):
        super().__init__(spec, sim)
        self._replay: BookReplay | None = None
        self._version: dict[int, int] = {}  # book line -> its (to)version
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
