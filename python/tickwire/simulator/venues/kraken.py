"""Kraken spot (``kraken``) in the simulator: WebSocket v1, replayed from the recording.

Sources: docs/exchanges/kraken.md §3-§5 (v1 ``subscribe``/``subscriptionStatus``, ``book-N``
frames, heartbeat, ping, the book checksum), the v1 reference on docs.kraken.com.

The packaged recording (``data/kraken/book1000_8pairs_20210417.*``, one real v1 connection)
holds ``book-1000`` frames for 8 pairs and the server's heartbeats, so the simulator speaks v1
on its plain endpoint ``/`` (the adapter's ``options={"version": 1}``); ``/v2`` is not served.

- Streams: ``"book:<v2 symbol>"`` (the adapter's topic, e.g. ``"book:BTC/CHF"``) for a pair's
  book frames, ``"heartbeat"`` for the recorded ``{"event":"heartbeat"}`` lines (every
  connection with a subscription gets them, as from Kraken). The recorded ``systemStatus`` and
  ``subscriptionStatus`` lines are kept under ``"control"`` and never sent: the simulator
  answers requests itself.
- Channel ids: the ones the recording's ``subscriptionStatus`` acks assigned. Kraken v1 numbers
  a channel per (subscription, pair) and not per connection (the three recorded connections of
  that session show one id per pair and channel type), so frames are sent as recorded.
- Subscribe: ``{"event":"subscribe","reqid":N,"pair":[..],"subscription":{"name":"book",
  "depth":1000}}``, answered per pair with a ``subscriptionStatus`` (``status`` ``subscribed``,
  the recorded ``channelID``, ``channelName`` ``book-1000``), then the book snapshot built at
  the replay position (``[id, {"as":[..],"bs":[..]}, "book-1000", pair]``, levels as recorded:
  price, volume and timestamp strings; v1 snapshots carry no checksum, the next update's
  ``"c"`` verifies it). ``unsubscribe`` likewise (``status`` ``unsubscribed``).
- Errors, in v1's shape ``{"errorMessage":..,"event":"subscriptionStatus","pair":..,
  "status":"error","subscription":{..}}`` (``reqid`` echoed): ``Currency pair not in ISO
  4217-A3 format`` (no ``/``), ``Currency pair not supported`` (a pair the recording lacks),
  ``Subscription name invalid``, ``Subscription depth not supported`` (the recording is at
  depth 1000: other depths cannot be replayed exactly), ``Subscription Not Found``
  (unsubscribing what is not subscribed); ``{"errorMessage":..,"event":"error"}`` for
  malformed requests and unknown events. A channel the recording does not hold (trade, ticker,
  ...) is refused with ``errorMessage`` saying so.
- Keepalive: ``{"event":"ping","reqid":N}`` -> ``{"event":"pong","reqid":N}``.
- Faults: :meth:`KrakenSim.corrupt_checksum` changes an update's ``"c"`` (the client's book is
  then right but its checksum disagrees); a forced snapshot is the on-subscribe snapshot.
- REST ``/0/public/AssetPairs``: the recorded pairs, with ``pair_decimals`` / ``lot_decimals``
  the most decimals their recorded prices / volumes have.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

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

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..server import Simulator

__all__ = ["SPEC", "SPECS", "KrakenSim", "KrakenSpec", "KrakenWire"]

_V1_TO_V2 = {"XBT": "BTC", "XDG": "DOGE"}
_V2_TO_V1 = {v: k for k, v in _V1_TO_V2.items()}
_CHECKSUM = re.compile(rb'"c":"([0-9]+)"')
HEARTBEAT = "heartbeat"
CONTROL = "control"


def v2_name(pair: str) -> str:
    """``"XBT/CHF"`` -> ``"BTC/CHF"`` (v1 pair name to v2 symbol)."""
    return "/".join(_V1_TO_V2.get(a, a) for a in pair.split("/"))


def v1_name(symbol: str) -> str:
    """``"BTC/CHF"`` -> ``"XBT/CHF"``."""
    return "/".join(_V2_TO_V1.get(a, a) for a in symbol.split("/"))


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class KrakenWire(WireFormat):
    """v1 recording lines: data arrays keyed ``"<channel>:<v2 symbol>"`` (channel ``book`` for
    ``book-N``, else the channel name before any ``-``), heartbeats ``"heartbeat"``, other
    events ``"control"``. Frames are sent exactly as recorded (no framing)."""

    default_framing: Hashable = None
    garbage_payload = b"[1,"

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(stream key, the line itself). ``ValueError`` naming the line if it is not a v1
        frame."""
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"not a Kraken v1 frame: {line[:80]!r}") from exc
        if isinstance(obj, list) and len(obj) >= 4:
            name, pair = obj[-2], obj[-1]
            if isinstance(name, str) and isinstance(pair, str):
                return f"{name.split('-', 1)[0]}:{v2_name(pair)}", line
        if isinstance(obj, dict) and isinstance(obj.get("event"), str):
            return (HEARTBEAT if obj["event"] == "heartbeat" else CONTROL), line
        raise ValueError(f"not a Kraken v1 frame: {line[:80]!r}")

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """``payload`` unchanged."""
        return payload


WIRE = KrakenWire()


@dataclass(frozen=True, kw_only=True)
class KrakenSpec(MarketSpec):
    """Kraken spot v1. ``instruments_path``: the REST AssetPairs route."""

    instruments_path: str = "/0/public/AssetPairs"

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`KrakenSim`; it takes no options (``TypeError`` for any)."""
        if options:
            raise TypeError(f"unknown option(s) for {self.name}: {', '.join(sorted(options))}")
        return KrakenSim(self, sim)


@dataclass
class _Channel:
    """A recorded v1 channel: id, name (``book-1000``), v1 pair, subscription (as acked)."""

    id: int
    name: str
    pair: str
    subscription: dict[str, Any]


class _Book:
    """One pair's book as the recording builds it: price -> the level row as recorded
    (``[price, volume, timestamp]``), truncated to the recorded depth after each message."""

    __slots__ = ("asks", "bids", "depth")

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, list[str]] = {}
        self.asks: dict[Decimal, list[str]] = {}

    def apply(self, body: Sequence[dict[str, Any]]) -> None:
        for part in body:
            if "as" in part or "bs" in part:
                self.bids.clear()
                self.asks.clear()
            for key, side in (
                ("as", self.asks),
                ("bs", self.bids),
                ("a", self.asks),
                ("b", self.bids),
            ):
                for row in part.get(key, ()):
                    price = Decimal(row[0])
                    if Decimal(row[1]) == 0:
                        side.pop(price, None)
                    else:
                        side[price] = [row[0], row[1], row[2]]
        for side, descending in ((self.bids, True), (self.asks, False)):
            if len(side) > self.depth:
                for price in sorted(side, reverse=not descending)[: len(side) - self.depth]:
                    del side[price]

    def rows(self) -> tuple[list[list[str]], list[list[str]]]:
        """(bids highest first, asks lowest first)."""
        bids = [self.bids[p] for p in sorted(self.bids, reverse=True)]
        asks = [self.asks[p] for p in sorted(self.asks)]
        return bids, asks


class KrakenSim(VenueSim):
    """Kraken's v1 protocol for one :class:`~tickwire.simulator.Simulator` (module docstring)."""

    spec: KrakenSpec

    def __init__(self, spec: KrakenSpec, sim: Simulator):
        super().__init__(spec, sim)
        self.channels: dict[str, _Channel] = {}  # stream key -> recorded channel
        self.decimals: dict[str, tuple[int, int]] = {}  # v1 pair -> (price, volume) decimals
        self._book_lines: list[int] = []
        self.reset_books()

    # ---- state from the recording -------------------------------------------------------------
    def started(self) -> None:
        """Index the recorded channels, book lines and pair precisions."""
        rec = self.sim.recording
        self.channels.clear()
        self.decimals.clear()
        self._book_lines = []
        for line, stream in enumerate(rec.line_stream):
            if stream == HEARTBEAT:
                continue
            obj = rec.parsed(line)
            if stream == CONTROL:
                if obj.get("event") == "subscriptionStatus" and obj.get("status") == "subscribed":
                    name = obj["subscription"]["name"]
                    key = f"{name}:{v2_name(obj['pair'])}"
                    self.channels[key] = _Channel(
                        obj["channelID"], obj["channelName"], obj["pair"], obj["subscription"]
                    )
                continue
            if stream.startswith("book:"):
                self._book_lines.append(line)
                price, size = self.decimals.get(obj[-1], (0, 0))
                for part in obj[1:-2]:
                    for key in ("as", "bs", "a", "b"):
                        for row in part.get(key, ()):
                            price = max(price, _decimals(row[0]))
                            size = max(size, _decimals(row[1]))
                self.decimals[obj[-1]] = (price, size)
        self.reset_books()

    def rewound(self) -> None:
        """Back to line 0: rebuild books from the start when next asked."""
        self.reset_books()

    def reset_books(self) -> None:
        """Forget every replayed book (rebuilt from line 0 when next asked)."""
        self._books: dict[str, _Book] = {}
        self._cursor = 0
        self._position = 0

    def book_at(self, stream: str, position: int) -> _Book | None:
        """The book of ``stream`` with recording lines ``< position`` applied (None before its
        first snapshot)."""
        if position < self._position:
            self.reset_books()
        rec, lines = self.sim.recording, self._book_lines
        while self._cursor < len(lines) and lines[self._cursor] < position:
            line = lines[self._cursor]
            obj = rec.parsed(line)
            key = rec.line_stream[line]
            book = self._books.get(key)
            if book is None:
                channel = self.channels.get(key)
                depth = int(channel.subscription.get("depth", 10)) if channel else 10
                book = self._books[key] = _Book(depth)
            book.apply(obj[1:-2])
            self._cursor += 1
        self._position = position
        return self._books.get(stream)

    # ---- connections ------------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/`` (v1). ``?streams=a,b`` subscribes streams without a request (tests)."""
        if path != "/":
            return None
        streams = [unquote(s) for s in query.get("streams", "").split(",") if s]
        return WsEndpoint("spot", None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/?streams=<quoted keys, comma separated>``."""
        return "/?streams=" + ",".join(quote(s, safe="") for s in streams)

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/``: v1 takes no stream in the path."""
        return "/"

    def market_id_of(self, stream: str) -> str | None:
        """``"BTC/CHF"`` for ``"book:BTC/CHF"``; None for heartbeats and control lines."""
        return stream.split(":", 1)[1] if ":" in stream else None

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """ping, subscribe and unsubscribe (module docstring)."""
        try:
            req = json.loads(text)
        except ValueError:
            return Outcome([_dump({"errorMessage": "Malformed request", "event": "error"})])
        if not isinstance(req, dict) or not isinstance(req.get("event"), str):
            return Outcome([_dump({"errorMessage": "Malformed request", "event": "error"})])
        reqid = {"reqid": req["reqid"]} if "reqid" in req else {}
        event = req["event"]
        if event == "ping":
            return Outcome([_dump({"event": "pong", **reqid})], keepalive=True)
        if event not in ("subscribe", "unsubscribe"):
            return Outcome(
                [_dump({"errorMessage": "Event(s) not found", "event": "error", **reqid})]
            )
        sub, pairs = req.get("subscription"), req.get("pair")
        if not isinstance(sub, dict) or not isinstance(pairs, list) or not pairs:
            return Outcome(
                [_dump({"errorMessage": "Malformed request", "event": "error", **reqid})]
            )
        out = Outcome(subscribe=[] if event == "subscribe" else None)
        added, removed = [], []
        for pair in pairs:
            error = self._check(sub, pair, conn, event)
            if error is not None:
                out.replies.append(
                    _dump(
                        {
                            "errorMessage": error,
                            "event": "subscriptionStatus",
                            "pair": pair,
                            "status": "error",
                            "subscription": sub,
                            **reqid,
                        }
                    )
                )
                continue
            key = f"{sub['name']}:{v2_name(pair)}"
            ch = self.channels[key]
            status = "subscribed" if event == "subscribe" else "unsubscribed"
            ack = {
                "channelID": ch.id,
                "channelName": ch.name,
                "event": "subscriptionStatus",
                "pair": ch.pair,
                **reqid,
                "status": status,
                "subscription": ch.subscription,
            }
            out.replies.append(_dump(ack))
            (added if event == "subscribe" else removed).append(key)
        if event == "subscribe":
            out.subscribe = [*added, HEARTBEAT] if added else None
        else:
            still = [s for s in conn.subscriptions if s not in removed and s != HEARTBEAT]
            out.unsubscribe = [*removed, *([HEARTBEAT] if not still else [])] or None
        return out

    def _check(  # noqa: PLR0911 - one return per documented error
        self, sub: dict[str, Any], pair: object, conn: ServerConnection, event: str
    ) -> str | None:
        """Kraken's errorMessage for subscribing ``pair`` with ``sub``, or None if fine."""
        if not isinstance(pair, str) or "/" not in pair:
            return f"Currency pair not in ISO 4217-A3 format {pair}"
        name = sub.get("name")
        if name not in ("book", "trade", "ticker", "spread", "ohlc", "*"):
            return "Subscription name invalid"
        if pair not in self.decimals:
            return f"Currency pair not supported {pair}"
        key = f"{name}:{v2_name(pair)}"
        channel = self.channels.get(key)
        if channel is None:
            return f"tickwire simulator: the recording holds no {name} data for {pair}"
        if name == "book":
            depth = sub.get("depth", 10)
            if depth != channel.subscription.get("depth"):
                if depth not in (10, 25, 100, 500, 1000):
                    return "Subscription depth not supported"
                return (
                    f"Subscription depth not supported: the simulator replays the recorded "
                    f"depth {channel.subscription.get('depth')} only"
                )
        subscribed = key in conn.subscriptions
        if event == "subscribe" and subscribed:
            return "Already subscribed"
        if event == "unsubscribe" and not subscribed:
            return "Subscription Not Found"
        return None

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002
        """A book's snapshot as of ``position`` (none before the recorded one: it arrives in
        the replay)."""
        channel = self.channels.get(stream)
        if channel is None or not stream.startswith("book:"):
            return []
        book = self.book_at(stream, position)
        if book is None:
            return []
        bids, asks = book.rows()
        return [_dump([channel.id, {"as": asks, "bs": bids}, channel.name, channel.pair])]

    def corrupt_checksum(self, stream: str, payload: bytes) -> bytes | None:  # noqa: ARG002
        """The update with its ``"c"`` one more (mod 2^32); None for a frame without one."""
        m = _CHECKSUM.search(payload)
        if m is None:
            return None
        bad = (int(m.group(1)) + 1) % (1 << 32)
        return payload[: m.start(1)] + str(bad).encode() + payload[m.end(1) :]

    # ---- REST --------------------------------------------------------------------------------
    @property
    def instruments_path(self) -> str:
        """``/0/public/AssetPairs``."""
        return self.spec.instruments_path

    def rest_handler(self, path: str) -> RestHandler | None:
        """AssetPairs at :attr:`instruments_path`, else None."""
        if path != self.spec.instruments_path:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:  # noqa: ARG001
            return web.Response(body=self.asset_pairs(), content_type="application/json")

        return answer

    def asset_pairs(self) -> bytes:
        """``{"error":[],"result":{"<v1 pair without />":{"altname","wsname","pair_decimals",
        "lot_decimals","status"}}}`` for the recorded pairs."""
        result = {
            pair.replace("/", ""): {
                "altname": pair.replace("/", ""),
                "wsname": pair,
                "pair_decimals": price,
                "lot_decimals": size,
                "status": "online",
            }
            for pair, (price, size) in sorted(self.decimals.items())
        }
        return _dump({"error": [], "result": result})

    def url_lines(self) -> list[str]:
        """The v1 endpoint and the AssetPairs URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/  (Kraken WS v1: subscribe with depth 1000)",
            f"  rest pairs {sim.exchange_info_url}",
        ]


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def _demo_fault(sim: Simulator) -> BadChecksum:  # noqa: ARG001 - the fault needs no position
    """One update's checksum corrupted (the book resubscribes and gets a fresh snapshot)."""
    return BadChecksum(stream="book:BTC/CHF", skip=50)


SPEC = KrakenSpec(
    name="kraken",
    exchange="kraken",
    market="spot",
    wire=WIRE,
    packaged=PackagedRecording(
        "kraken/book1000_8pairs_20210417.jsonl.gz", "kraken/book1000_8pairs_20210417.ts.gz"
    ),
    ping_interval=0.0,
    pong_timeout=0.0,
    rate_limit=20,
    lifetime=None,
    demo=DemoSpec(
        title="Kraken spot (WS v1)",
        symbol="BTC/CHF",
        channels=("book",),
        feed_options={"version": 1, "depth": 1000},
        fault=_demo_fault,
        fault_text="a corrupted checksum",
    ),
)

SPECS = (SPEC,)
