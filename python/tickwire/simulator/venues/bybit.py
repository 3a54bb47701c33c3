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
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

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
        """``/v5/public/<category>`` (``?subscribe=a,b``: topics subscribed by the URL)."""
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
        """The instruments list at :attr:`instruments_path`, else None."""
        if path != self.instruments_path:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            return self.instruments(request)

        return answer

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
