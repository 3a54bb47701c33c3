"""Bitget public market data (``bitget``: ``spot`` and ``linear``) in the simulator.

Sources: shared/docs/exchanges/bitget.md §1-§6 (Bitget API v2 docs: WebSocket connect,
subscribe/ack/error, text ``ping``/``pong``, order book channel with checksum, trades, tickers,
candles) and the recordings shipped in ``tickwire/data/bitget`` (real 2022 v1 connections:
``books`` with checksums, ``ticker``, ``trade``, ``candle1m``; spot 7 symbols, mix DASHUSDT;
see its SOURCES.md).

Endpoint: ``/v2/ws/public`` (both markets; the market is each arg's ``instType``: ``SPOT`` or
``USDT-FUTURES``, v1's ``SP``/``MC`` accepted too). A simulator-only ``?streams=a,b`` query
subscribes topics in the URL (for ``Simulator.stream_url``).

Recording lines are Bitget data frames ``{"action","arg":{"instType","channel","instId"},
"data":[..]}``; the stream key is the topic ``"<channel>:<instId>"`` (``"books:CULTUSDT"``),
the same text the adapter and the Rust venue use. Frames go out as recorded (v1 ``instType``
``sp``/``mc``: the Rust venue decodes both versions).

Client messages, as Bitget answers them:

- the text ``ping`` -> ``pong`` (a connection whose client sent none for 120 s is closed,
  bitget.md §4);
- ``{"op":"subscribe"|"unsubscribe","args":[{"instType","channel","instId"},..]}`` -> one ack
  per arg ``{"event":"subscribe","arg":{..}}`` echoing it; an arg of another market, an unknown
  channel or an instId the simulator does not hold fails the request with
  ``{"event":"error","arg":{..},"code":30001,"msg":"instType:..,channel:..,instId:.. doesn't
  exist","op":"subscribe"}`` (code and text as Bitget sends them); anything else ->
  ``{"event":"error","code":30016,"msg":"Param error"}``.

Books: on subscribe to ``books:<instId>`` the venue sends a ``snapshot`` built at the replay
position from the recording itself (its snapshot and every update before that position, strings
kept, the top-25 interleaved CRC32 checksum recomputed), as Bitget sends a snapshot on every
subscribe; before the recorded snapshot there is no book yet and the recorded snapshot follows.

Faults: :class:`~..faults.BadChecksum` sends a book frame with its ``checksum`` changed by one;
:class:`~..faults.ForceSnapshot` sends a fresh snapshot (as on subscribe).

REST: ``GET /api/v2/spot/public/symbols`` (spot) and ``GET /api/v2/mix/market/contracts``
(linear, ``productType=USDT-FUTURES``) list the recorded instruments in Bitget's shape (price
and size decimals: the most the recording shows for that instrument); a bad ``productType``
answers ``{"code":"40019","msg":"Parameter productType error","data":null}``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..faults import BadChecksum
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
from ..wirebook import BookMessage, BookReplay, interleaved_checksum, off_by_one_int32

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..server import Simulator

_CHANNEL = re.compile(r"^(books|books1|books5|books15|ticker|trade|candle[0-9]+[mHDWM](utc)?)$")
_CHECKSUM = re.compile(rb'"checksum":(-?[0-9]+)')
_SPOT_PATH = "/api/v2/spot/public/symbols"
_CONTRACTS_PATH = "/api/v2/mix/market/contracts"
#: instType values a subscribe arg may name, per market (v2 and v1).
_INST_TYPES = {"spot": ("SPOT", "SP", "sp"), "linear": ("USDT-FUTURES", "MC", "mc")}


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class BitgetWire(WireFormat):
    """Bitget data frames; the stream key is ``"<channel>:<instId>"`` and the payload the frame
    itself."""

    default_framing: Hashable = None
    garbage_payload = b'{"action":"update","arg":{"instType":"'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(topic, the frame) of one recorded data frame. Raises ``ValueError`` naming the line
        for anything else (replies, text pongs)."""
        try:
            obj = json.loads(line)
            arg = obj["arg"]
            if "data" not in obj:
                raise KeyError("data")
            return f"{arg['channel']}:{arg['instId']}", line.strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a Bitget data frame: {line[:80]!r}") from exc

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """The frame as recorded."""
        return payload


WIRE = BitgetWire()


@dataclass(frozen=True, kw_only=True)
class BitgetSpec(MarketSpec):
    """The Bitget public market-data server of one market (one URL, ``instType`` per arg)."""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`BitgetSim`; no options."""
        self.reject_unknown_options(options)
        return BitgetSim(self, sim)


def _demo_fault(sim: Simulator) -> BadChecksum:  # noqa: ARG001 - the fault needs no position
    """One EOSUSDT book update sent with a wrong checksum (the book resyncs by subscribing
    again: a fresh snapshot)."""
    return BadChecksum(stream="books:EOSUSDT", skip=20)


def _demo_fault_linear(sim: Simulator) -> BadChecksum:  # noqa: ARG001 - (idem)
    """One DASHUSDT book update sent with a wrong checksum."""
    return BadChecksum(stream="books:DASHUSDT", skip=20)


_COMMON: dict[str, Any] = {
    "exchange": "bitget",
    "wire": WIRE,
    "ping_interval": 0.0,  # Bitget does not ping; the client does (text "ping")
    "pong_timeout": 0.0,
    "rate_limit": 10,  # 10 messages per second per connection (bitget.md §2)
    "client_ping_timeout": 120.0,  # closed after 2 min without a ping (§4)
    "lifetime": 24 * 3600.0,  # forced disconnect every 24 h (§2)
}

SPOT = BitgetSpec(
    name="bitget",
    market="spot",
    packaged=PackagedRecording(
        "bitget/spot_v1_books_ticker_trade_candle_7sym_20220407.jsonl.gz",
        "bitget/spot_v1_books_ticker_trade_candle_7sym_20220407.ts.gz",
    ),
    demo=DemoSpec(
        title="Bitget",
        symbol="EOS/USDT",
        channels=("book", "trades", "bbo"),
        fault=_demo_fault,
        fault_text="a corrupted checksum",
    ),
    **_COMMON,
)

LINEAR = BitgetSpec(
    name=market_name("bitget", "linear", "spot"),
    market="linear",
    packaged=PackagedRecording(
        "bitget/mix_v1_books_ticker_trade_candle_dashusdt_20220407.jsonl.gz",
        "bitget/mix_v1_books_ticker_trade_candle_dashusdt_20220407.ts.gz",
    ),
    demo=DemoSpec(
        title="Bitget USDT-M",
        symbol="DASH/USDT:USDT",
        channels=("book", "trades", "bbo"),
        fault=_demo_fault_linear,
        fault_text="a corrupted checksum",
    ),
    **_COMMON,
)

SPECS = (SPOT, LINEAR)


class BitgetSim(VenueSim):
    """Bitget's public protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring)."""

    spec: BitgetSpec

    def __init__(self, spec: BitgetSpec, sim: Simulator):
        super().__init__(spec, sim)
        self._replay: BookReplay | None = None
        self._inst_ids: list[str] = []
        self._arg: dict[str, dict[str, str]] = {}  # instId -> recorded books arg
        self._last_ts: dict[str, str] = {}
        self._ts_line = -1
        #: REST market requests answered per endpoint (``tickers``/``ticker``, ``orderbook``/
        #: ``merge-depth``, ``candles``)
        self.market_requests: dict[str, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the recording's book frames (the book replay)."""
        rec = self.sim.recording
        lines: list[int] = []
        inst_ids: dict[str, None] = {}
        for line, stream in enumerate(rec.line_stream):
            channel, _, inst = stream.partition(":")
            inst_ids[inst] = None
            if channel == "books":
                lines.append(line)
        self._inst_ids = list(inst_ids)
        self._replay = BookReplay(self._read_book, lines)

    def rewound(self) -> None:
        """Forget the books built from later lines."""
        if self._replay is not None:
            self._replay.reset()

    def _read_book(self, line: int) -> list[BookMessage]:
        """The book messages of ``line`` (BookReplay's reader)."""
        if line <= self._ts_line:  # the replay restarted from line 0
            self._last_ts.clear()
        self._ts_line = line
        frame = self.sim.recording.parsed(line)
        inst = frame["arg"]["instId"]
        self._arg[inst] = frame["arg"]
        snapshot = frame.get("action") == "snapshot"
        out = []
        for item in frame["data"]:
            self._last_ts[inst] = item["ts"]
            out.append(BookMessage(inst, snapshot, item["bids"], item["asks"]))
        return out

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/v2/ws/public`` (``?streams=a,b`` subscribes topics)."""
        if path != "/v2/ws/public":
            return None
        streams = [s for s in query.get("streams", "").split(",") if s]
        return WsEndpoint("public", None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/v2/ws/public?streams=a,b`` (a simulator convenience; Bitget subscribes by
        message)."""
        return f"/v2/ws/public?streams={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/v2/ws/public``."""
        return "/v2/ws/public"

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: ARG002
        """``ping``, subscribe and unsubscribe (see the module docstring)."""
        if text == "ping":
            return Outcome([b"pong"], keepalive=True)
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        op = req.get("op") if isinstance(req, dict) else None
        args = req.get("args") if isinstance(req, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            return Outcome([_dump({"event": "error", "code": 30016, "msg": "Param error"})])
        topics = []
        for arg in args:
            if not isinstance(arg, dict):
                return Outcome([_dump({"event": "error", "code": 30016, "msg": "Param error"})])
            inst_type, channel, inst = arg.get("instType"), arg.get("channel"), arg.get("instId")
            if not (
                inst_type in _INST_TYPES[self.spec.market]
                and isinstance(channel, str)
                and _CHANNEL.match(channel)
                and inst in self._inst_ids
            ):
                msg = f"instType:{inst_type},channel:{channel},instId:{inst} doesn't exist"
                body = {"event": "error", "arg": arg, "code": 30001, "msg": msg, "op": op}
                return Outcome([_dump(body)])
            topics.append((arg, f"{channel}:{inst}"))
        acks = [_dump({"event": op, "arg": a}) for a, _ in topics]
        streams = [s for _, s in topics]
        if op == "subscribe":
            return Outcome(acks, subscribe=streams)
        return Outcome(acks, unsubscribe=streams)

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002
        """A ``books`` snapshot as of ``position`` (none before the recorded snapshot)."""
        channel, _, inst = stream.partition(":")
        if channel != "books" or self._replay is None:
            return []
        book = self._replay.book(inst, position)
        if book is None:
            return []
        item = {
            "asks": [list(x) for x in book.asks()],
            "bids": [list(x) for x in book.bids()],
            "checksum": interleaved_checksum(book.bids(25), book.asks(25)),
            "ts": self._last_ts[inst],
        }
        frame = {"action": "snapshot", "arg": self._arg[inst], "data": [item]}
        return [_dump(frame)]

    # ---- faults ----------------------------------------------------------------------------
    def corrupt_checksum(self, stream: str, payload: bytes) -> bytes | None:
        """The book frame with its ``checksum`` one larger (smaller at the top of the range)."""
        if not stream.startswith("books:"):
            return None
        m = _CHECKSUM.search(payload)
        if m is None or m.group(1) == b"0":
            return None
        return off_by_one_int32(payload, m)

    def market_id_of(self, stream: str) -> str | None:
        """``CULTUSDT`` for ``books:CULTUSDT``."""
        return stream.partition(":")[2] or None

    # ---- REST ------------------------------------------------------------------------------
    @property
    def instruments_path(self) -> str:
        """``/api/v2/spot/public/symbols`` (spot) or ``/api/v2/mix/market/contracts``."""
        return _SPOT_PATH if self.spec.market == "spot" else _CONTRACTS_PATH

    def rest_handler(self, path: str) -> RestHandler | None:
        """The instruments list of this market, its ticker, depth and candles requests (see
        :meth:`market_handler`), or None."""
        market = self.market_handler(path)
        if market is not None:
            return market
        if path != self.instruments_path:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            if request.method != "GET":
                raise web.HTTPMethodNotAllowed(request.method, ["GET"])
            if self.spec.market == "linear" and request.query.get("productType") != "USDT-FUTURES":
                body: dict[str, Any] = {
                    "code": "40019",
                    "msg": "Parameter productType error",
                    "data": None,
                }
                return web.json_response(body, status=400)
            data = [self._instrument(i) for i in self._inst_ids]
            body = {"code": "00000", "msg": "success", "requestTime": 0, "data": data}
            return web.Response(body=_dump(body), content_type="application/json")

        return answer

    # ---- REST market data: ticker, depth, candles (the REST fallback, candle backfill) -------
    def market_handler(self, path: str) -> RestHandler | None:
        """Spot ``/api/v2/spot/market/{tickers,orderbook,candles}`` or futures
        ``/api/v2/mix/market/{ticker,merge-depth,candles}`` (futures want ``productType``
        ``USDT-FUTURES``), each counted in ``market_requests``; a ``symbol`` the recording
        does not hold answers Bitget's ``40034`` "Parameter does not exist"."""
        spot = self.spec.market == "spot"
        prefix = "/api/v2/spot/market/" if spot else "/api/v2/mix/market/"
        name = path.removeprefix(prefix)
        kinds = (
            ("tickers", "orderbook", "candles") if spot else ("ticker", "merge-depth", "candles")
        )
        if not path.startswith(prefix) or name not in kinds:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            self.market_requests[name] = self.market_requests.get(name, 0) + 1
            q = request.query
            inst = q.get("symbol", "")
            if not spot and q.get("productType") != "USDT-FUTURES":
                return self._market_reply("40019", "Parameter productType error", None, 400)
            if inst not in self._inst_ids:
                return self._market_reply("40034", "Parameter does not exist", None, 400)
            if name in ("tickers", "ticker"):
                return self.ticker(inst)
            if name == "candles":
                return self.candles(inst, q.get("granularity", ""), q.get("limit", "100"))
            return self.depth(inst, q.get("limit", "150" if spot else "100"))

        return answer

    @staticmethod
    def _market_reply(code: str, msg: str, data: object, status: int = 200) -> web.Response:
        body = {"code": code, "msg": msg, "requestTime": int(time.time() * 1000), "data": data}
        return web.Response(body=_dump(body), status=status, content_type="application/json")

    def _book_now(self, inst: str) -> Any:
        return None if self._replay is None else self._replay.book(inst, self.sim.position)

    def ticker(self, inst: str) -> web.Response:
        """``data`` of one ticker whose ``bidPr/bidSz/askPr/askSz`` are the top of the
        recorded book at the replay position and ``ts`` its last frame's (the recording's v1
        tickers carry no sizes, so the book is the source). No book yet: an empty list."""
        book = self._book_now(inst)
        if book is None or not book.bids(1) or not book.asks(1):
            return self._market_reply("00000", "success", [])
        (bp, bq), (ap, aq) = book.bids(1)[0], book.asks(1)[0]
        item = {"symbol": inst, "bidPr": bp, "bidSz": bq, "askPr": ap, "askSz": aq}
        return self._market_reply("00000", "success", [item | {"ts": self._last_ts[inst]}])

    def depth(self, inst: str, limit_text: str) -> web.Response:
        """``data`` ``{"asks","bids","ts"}``: the top ``limit`` levels (spot 1-150; futures 1,
        5, 15, 50 or ``max``) of the recorded book at the replay position, ``ts`` of its last
        frame; empty sides before the recorded snapshot."""
        spot = self.spec.market == "spot"
        if spot:
            limit = int(limit_text) if limit_text.isdigit() else 0
            ok = 1 <= limit <= 150
        else:
            ok = limit_text in ("1", "5", "15", "50", "max")
            limit = 150 if limit_text == "max" else int(limit_text) if ok else 0
        if not ok:
            return self._market_reply("40017", "Parameter limit error", None, 400)
        book = self._book_now(inst)
        data: dict[str, Any] = {"asks": [], "bids": [], "ts": str(int(time.time() * 1000))}
        if book is not None:
            data = {
                "asks": [list(x) for x in book.asks(limit)],
                "bids": [list(x) for x in book.bids(limit)],
                "ts": self._last_ts[inst],
            }
        return self._market_reply("00000", "success", data)

    def candles(self, inst: str, granularity: str, limit_text: str) -> web.Response:
        """``data`` rows oldest first, at most ``limit`` (1-1000): the latest state of each
        recorded ``candle<bar>`` candle published so far, ``granularity`` naming the bar as
        Bitget's spot (``1min``, ``1h``, ``1day``) or futures (``1m``, ``1H``) request does.
        Rows are the recording's ``[ts, open, high, low, close, baseVol]`` (its v1 pushes carry
        no quote volumes, so the simulator sends none)."""
        bar = _BARS_OF_GRANULARITY.get(granularity, granularity)
        try:
            limit = max(1, min(int(limit_text), 1000))
        except ValueError:
            return self._market_reply("40017", "Parameter limit error", None, 400)
        rec, pos = self.sim.recording, self.sim.position
        latest: dict[int, list[str]] = {}
        sd = rec.streams.get(f"candle{bar}:{inst}")
        for line in sd.lines if sd is not None else []:
            if line >= pos:
                break
            for row in rec.parsed(line)["data"]:
                latest[int(row[0])] = row
        rows = [latest[t] for t in sorted(latest)][-limit:]
        return self._market_reply("00000", "success", rows)

    def _instrument(self, inst: str) -> dict[str, str]:
        price_dec, size_dec = self._decimals(inst)
        base = inst.removesuffix("USDT")
        if self.spec.market == "spot":
            return {
                "symbol": inst,
                "baseCoin": base,
                "quoteCoin": "USDT",
                "pricePrecision": str(price_dec),
                "quantityPrecision": str(size_dec),
                "status": "online",
            }
        return {
            "symbol": inst,
            "baseCoin": base,
            "quoteCoin": "USDT",
            "pricePlace": str(price_dec),
            "priceEndStep": "1",
            "volumePlace": str(size_dec),
            "sizeMultiplier": format(Decimal(1).scaleb(-size_dec), "f"),
            "symbolType": "perpetual",
            "symbolStatus": "normal",
        }

    def _decimals(self, inst: str) -> tuple[int, int]:
        """Most decimals in the recorded book prices and sizes of ``inst``."""
        rec = self.sim.recording
        price, size = 0, 0

        def places(text: str) -> int:
            return len(text.partition(".")[2])

        for line, stream in enumerate(rec.line_stream):
            if stream != f"books:{inst}":
                continue
            for item in rec.parsed(line)["data"]:
                for row in (*item["bids"], *item["asks"]):
                    price, size = max(price, places(row[0])), max(size, places(row[1]))
        return price, size

    def url_lines(self) -> list[str]:
        """The WebSocket URL and the instruments URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/v2/ws/public",
            f"  all streams {sim.stream_url()}",
            f"  rest instruments {sim.rest_url}{self.instruments_path}",
        ]


#: Bitget spot candle ``granularity`` -> the bar of its ``candle<bar>`` channel
_BARS_OF_GRANULARITY = {
    "1min": "1m",
    "3min": "3m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "1h": "1H",
    "4h": "4H",
    "6h": "6H",
    "12h": "12H",
    "1day": "1D",
    "3day": "3D",
    "1week": "1W",
}
