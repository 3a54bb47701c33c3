"""OKX v5 public market data (``okx``) in the simulator.

Sources: shared/docs/exchanges/okx.md §1-§6 (OKX API v5 docs: WebSocket connect, subscribe,
order book channel, trades, tickers) and the recording shipped in ``tickwire/data/okx`` (a real
2022 ``/ws/v5/public`` connection: ``books`` with checksums, ``trades``, ``tickers`` for
BTC-USDT and UNI-USD-SWAP; see its SOURCES.md).

Endpoints: ``/ws/v5/public`` (books, bbo-tbt, tickers, trades) and ``/ws/v5/business``
(``candle<bar>``, ``trades-all``); one URL serves every instrument type. A simulator-only
``?streams=a,b`` query subscribes topics in the URL (for ``Simulator.stream_url``).

Recording lines are OKX data frames ``{"arg":{"channel","instId"},("action",)"data":[..]}``;
the stream key is the topic ``"<channel>:<instId>"`` (``"books:BTC-USDT"``), the same text the
adapter and the Rust venue use; a connection receives each frame as recorded.

Client messages, as OKX answers them:

- the text ``ping`` -> ``pong`` (a client keepalive: a connection whose client sent none for 30 s
  is closed, okx.md §4);
- ``{"op":"subscribe"|"unsubscribe","args":[{"channel":..,"instId":..},..](,"id":..)}`` -> one
  ack per arg ``{("id",)"event":"subscribe","arg":{..},"connId":..}``; an arg whose channel is
  not served on that URL, or whose instId the simulator does not hold, fails the whole request
  with ``{("id",)"event":"error","msg":"Wrong URL or channel:<channel>,instId:<instId> doesn't
  exist. ...","code":"60018","connId":..}`` (the reply OKX sends, as seen in client issue
  reports); anything else -> ``{"event":"error","msg":"Invalid request: ..","code":"60012",..}``.

Books: on subscribe to ``books:<instId>`` the venue sends a snapshot built at the replay
position from the recording itself (its snapshot and every update before that position, strings
kept, rows ``[px, sz, "0", numOrders]`` as last received, the interleaved top-25 CRC32 checksum
recomputed), as OKX sends a snapshot on every subscribe; before the recorded snapshot there is
no book yet and the recorded snapshot follows in the stream.

Sequence ids: the 2022 capture predates ``seqId``/``prevSeqId``. With the option ``seq_ids``
(default True) the simulator adds them as today's OKX sends them, numbered from the recording:
``seqId`` is a book frame's recording line (1-based), ``prevSeqId`` the line of the previous book
frame of that instrument (-1 on snapshots; a snapshot built on subscribe carries the line of the
last update it includes). Market data is untouched. ``seq_ids=False`` serves the frames as
recorded (checksum-only).

Faults: :class:`~..faults.BadChecksum` sends a book frame with its ``checksum`` field changed by
one; :class:`~..faults.ForceSnapshot` sends a fresh snapshot (as on subscribe).

REST: ``GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES`` lists the recorded
instruments in OKX's shape (``tickSz``/``lotSz``: one unit of the most decimals the recording
shows for that instrument's prices/sizes); a bad ``instType`` answers ``{"code":"51000",
"msg":"Parameter instType error","data":[]}``.
"""

from __future__ import annotations

import json
import re
import zlib
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
)
from ..wirebook import BookMessage, BookReplay, interleaved_checksum, off_by_one_int32

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..server import Simulator

#: Channels each URL serves (okx.md §1, §5, §6).
PUBLIC_CHANNELS = frozenset({"books", "books5", "bbo-tbt", "tickers", "trades"})
_CANDLE = re.compile(r"^candle[0-9]+(s|m|H|D|W|M)(utc)?$")
_INST_ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+){1,2}$")
_CHECKSUM = re.compile(rb'"checksum":(-?[0-9]+)')
_TS = re.compile(rb'"ts":"([0-9]+)"')
_INSTRUMENTS_PATH = "/api/v5/public/instruments"


def route_of(channel: str) -> str | None:
    """``"public"`` or ``"business"``: the URL serving ``channel``; None for neither."""
    if channel in PUBLIC_CHANNELS:
        return "public"
    if channel == "trades-all" or _CANDLE.match(channel):
        return "business"
    return None


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class OkxWire(WireFormat):
    """OKX data frames; the stream key is ``"<channel>:<instId>"`` and the payload the frame
    itself (one framing: OKX has no envelope options)."""

    default_framing: Hashable = None
    garbage_payload = b'{"arg":{"channel":"books","instId":"'

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
            raise ValueError(f"not an OKX data frame: {line[:80]!r}") from exc

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """The frame as recorded."""
        return payload


WIRE = OkxWire()


@dataclass(frozen=True, kw_only=True)
class OkxSpec(MarketSpec):
    """The OKX v5 public market-data server (one URL for every instrument type)."""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """An :class:`OkxSim`; the one option is ``seq_ids`` (bool, default True)."""
        self.reject_unknown_options(options, {"seq_ids"})
        seq_ids = options.get("seq_ids", True)
        if not isinstance(seq_ids, bool):
            raise ValueError("seq_ids must be True or False")
        return OkxSim(self, sim, seq_ids)


def _demo_fault(sim: Simulator) -> BadChecksum:  # noqa: ARG001 - the fault needs no position
    """One BTC-USDT book update sent with a wrong checksum (the book resyncs by subscribing
    again: a fresh snapshot)."""
    return BadChecksum(stream="books:BTC-USDT", skip=40)


SPOT = OkxSpec(
    name="okx",
    exchange="okx",
    market="spot",
    wire=WIRE,
    packaged=PackagedRecording(
        "okx/books_trades_tickers_btcusdt_uniusdswap_20220513.jsonl.gz",
        "okx/books_trades_tickers_btcusdt_uniusdswap_20220513.ts.gz",
    ),
    ping_interval=0.0,  # OKX does not ping; the client does (text "ping")
    pong_timeout=0.0,
    rate_limit=100,  # not documented per message; the documented cap is 480 requests/hour
    client_ping_timeout=30.0,
    lifetime=None,
    demo=DemoSpec(
        title="OKX",
        symbol="BTC/USDT",
        channels=("book", "trades", "bbo"),
        feed_options={"bbo_channel": "tickers"},
        fault=_demo_fault,
        fault_text="a corrupted checksum",
    ),
)

SPECS = (SPOT,)


class OkxSim(VenueSim):
    """OKX's public protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring)."""

    spec: OkxSpec

    def __init__(self, spec: OkxSpec, sim: Simulator, seq_ids: bool = True):
        super().__init__(spec, sim)
        self.seq_ids = seq_ids
        self._replay: BookReplay | None = None
        # (instId, ts text) of each book frame -> (prevSeqId, seqId); book lines by instId
        self._seq: dict[tuple[str, bytes], tuple[int, int]] = {}
        self._book_lines: dict[str, list[int]] = {}
        # rows as last received, per book and side: price value -> row
        self._rows: dict[str, tuple[dict[Decimal, list[str]], dict[Decimal, list[str]]]] = {}
        self._rows_line = -1
        self._last_ts: dict[str, str] = {}
        self._inst_ids: list[str] = []

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the recording's book frames (sequence numbers, the book replay)."""
        rec = self.sim.recording
        lines: list[int] = []
        last: dict[str, int] = {}
        inst_ids: dict[str, None] = {}
        for line, stream in enumerate(rec.line_stream):
            channel, _, inst = stream.partition(":")
            inst_ids[inst] = None
            if channel != "books":
                continue
            frame = rec.parsed(line)
            seq = line + 1
            prev = -1 if frame.get("action") == "snapshot" else last.get(inst, -1)
            self._seq[(inst, frame["data"][0]["ts"].encode())] = (prev, seq)
            last[inst] = seq
            lines.append(line)
            self._book_lines.setdefault(inst, []).append(line)
        self._inst_ids = list(inst_ids)
        self._replay = BookReplay(self._read_book, lines)

    def rewound(self) -> None:
        """Forget the books built from later lines."""
        if self._replay is not None:
            self._replay.reset()

    def _read_book(self, line: int) -> list[BookMessage]:
        """The book messages of ``line`` (BookReplay's reader), keeping each level's row."""
        if line <= self._rows_line:  # the replay restarted from line 0
            self._rows.clear()
            self._last_ts.clear()
        self._rows_line = line
        frame = self.sim.recording.parsed(line)
        inst = frame["arg"]["instId"]
        snapshot = frame.get("action") == "snapshot"
        out = []
        for item in frame["data"]:
            if snapshot or inst not in self._rows:
                self._rows[inst] = ({}, {})
            for rows, side in zip(self._rows[inst], ("bids", "asks"), strict=True):
                for row in item[side]:
                    key = Decimal(row[0])
                    if Decimal(row[1]) == 0:
                        rows.pop(key, None)
                    else:
                        rows[key] = row
            self._last_ts[inst] = item["ts"]
            out.append(BookMessage(inst, snapshot, item["bids"], item["asks"]))
        return out

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/ws/v5/public`` and ``/ws/v5/business`` (``?streams=a,b`` subscribes topics)."""
        route = {"/ws/v5/public": "public", "/ws/v5/business": "business"}.get(path)
        if route is None:
            return None
        streams = [s for s in query.get("streams", "").split(",") if s]
        return WsEndpoint(route, None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:
        """``/ws/v5/<route>?streams=a,b`` (a simulator convenience; OKX subscribes by message)."""
        return f"/ws/v5/{route or 'public'}?streams={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/ws/v5/public`` (or ``/ws/v5/business``)."""
        return f"/ws/v5/{route or 'public'}"

    def deliverable(self, route: str, streams: list[str]) -> list[str]:
        """The topics whose channel ``route`` serves (:func:`route_of`)."""
        return [s for s in streams if route_of(s.partition(":")[0]) == (route or "public")]

    @staticmethod
    def _conn_id(conn: ServerConnection) -> str:
        """OKX's ``connId``: 8 hex digits, fixed per connection."""
        return f"{zlib.crc32(str(conn.id).encode()):08x}"

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """``ping``, subscribe and unsubscribe (see the module docstring)."""
        if text == "ping":
            return Outcome([b"pong"], keepalive=True)
        cid = self._conn_id(conn)
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        op = req.get("op") if isinstance(req, dict) else None
        args = req.get("args") if isinstance(req, dict) else None
        head: dict[str, Any] = {}
        if isinstance(req, dict) and isinstance(req.get("id"), str):
            head["id"] = req["id"]
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            body = {**head, "event": "error", "msg": f"Invalid request: {text[:200]}"}
            return Outcome([_dump({**body, "code": "60012", "connId": cid})])
        route = conn.route or "public"
        topics = []
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if not (
                isinstance(channel, str)
                and isinstance(inst, str)
                and route_of(channel) == route
                and _INST_ID.match(inst)
                and inst in self._inst_ids
            ):
                msg = (
                    f"Wrong URL or channel:{channel},instId:{inst} doesn't exist. Please use the "
                    "correct URL, channel and parameters referring to API document."
                )
                return Outcome(
                    [_dump({**head, "event": "error", "msg": msg, "code": "60018", "connId": cid})]
                )
            topics.append((channel, inst))
        acks = [
            _dump({**head, "event": op, "arg": {"channel": c, "instId": i}, "connId": cid})
            for c, i in topics
        ]
        streams = [f"{c}:{i}" for c, i in topics]
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
        rows_bids, rows_asks = self._rows[inst]
        bids = [rows_bids[Decimal(p)] for p, _ in book.bids()]
        asks = [rows_asks[Decimal(p)] for p, _ in book.asks()]
        item: dict[str, Any] = {
            "asks": asks,
            "bids": bids,
            "ts": self._last_ts[inst],
            "checksum": interleaved_checksum(book.bids(25), book.asks(25)),
        }
        if self.seq_ids:
            last_line = self._replay.last_line(inst)
            item.update(prevSeqId=-1, seqId=(last_line or 0) + 1)
        frame = {"arg": {"channel": "books", "instId": inst}, "action": "snapshot", "data": [item]}
        return [_dump(frame)]

    # ---- per-message fields and faults -------------------------------------------------------
    def stamp(self, conn: ServerConnection, stream: str, payload: bytes) -> bytes | None:  # noqa: ARG002
        """Book frames gain ``prevSeqId``/``seqId`` (option ``seq_ids``); others go as recorded."""
        if not self.seq_ids or not stream.startswith("books:"):
            return payload
        ts = _TS.search(payload)
        ids = self._seq.get((stream[6:], ts.group(1))) if ts else None
        if ids is None or not payload.endswith(b"}]}"):
            return payload
        return payload[:-3] + b',"prevSeqId":%d,"seqId":%d}]}' % ids

    def corrupt_checksum(self, stream: str, payload: bytes) -> bytes | None:
        """The book frame with its ``checksum`` one larger (smaller at the top of the range)."""
        if not stream.startswith("books:"):
            return None
        m = _CHECKSUM.search(payload)
        if m is None:
            return None
        return off_by_one_int32(payload, m)

    def market_id_of(self, stream: str) -> str | None:
        """``BTC-USDT`` for ``books:BTC-USDT``."""
        return stream.partition(":")[2] or None

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``/api/v5/public/instruments``, or None."""
        if path != _INSTRUMENTS_PATH:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            return self.instruments(request.query.get("instType", ""))

        return answer

    @property
    def instruments_path(self) -> str:
        """``/api/v5/public/instruments``."""
        return _INSTRUMENTS_PATH

    def instruments(self, inst_type: str) -> web.Response:
        """The held instruments of ``inst_type`` in OKX's reply shape (see the module
        docstring)."""
        if inst_type not in ("SPOT", "SWAP", "FUTURES", "MARGIN", "OPTION"):
            body = {"code": "51000", "msg": "Parameter instType error", "data": []}
            return web.Response(body=_dump(body), content_type="application/json")
        data = [
            e for e in (self._instrument(i) for i in self._inst_ids) if e["instType"] == inst_type
        ]
        return web.Response(
            body=_dump({"code": "0", "msg": "", "data": data}), content_type="application/json"
        )

    def _instrument(self, inst: str) -> dict[str, str]:
        parts = inst.split("-")
        price_dec, size_dec = self._decimals(inst)
        tick = format(Decimal(1).scaleb(-price_dec), "f")
        lot = format(Decimal(1).scaleb(-size_dec), "f")
        entry = {"instId": inst, "tickSz": tick, "lotSz": lot, "state": "live"}
        if len(parts) == 2:
            return {**entry, "instType": "SPOT", "baseCcy": parts[0], "quoteCcy": parts[1]}
        base, quote, kind = parts
        inverse = quote == "USD"
        return {
            **entry,
            "instType": "SWAP" if kind == "SWAP" else "FUTURES",
            "instFamily": f"{base}-{quote}",
            "uly": f"{base}-{quote}",
            "settleCcy": base if inverse else quote,
            "ctType": "inverse" if inverse else "linear",
        }

    def _decimals(self, inst: str) -> tuple[int, int]:
        """Most decimals in the recorded prices and sizes of ``inst`` (books and trades)."""
        rec = self.sim.recording
        price, size = 0, 0

        def places(text: str) -> int:
            return len(text.partition(".")[2])

        for line, stream in enumerate(rec.line_stream):
            channel, _, who = stream.partition(":")
            if who != inst or channel not in ("books", "trades"):
                continue
            for item in rec.parsed(line)["data"]:
                if channel == "trades":
                    price, size = max(price, places(item["px"])), max(size, places(item["sz"]))
                    continue
                for row in (*item["bids"], *item["asks"]):
                    price, size = max(price, places(row[0])), max(size, places(row[1]))
        return price, size

    def url_lines(self) -> list[str]:
        """The WebSocket URLs and the instruments URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/ws/v5/public  (and /ws/v5/business)",
            f"  all streams {sim.stream_url()}",
            f"  rest instruments {sim.rest_url}{_INSTRUMENTS_PATH}?instType=SPOT",
        ]
