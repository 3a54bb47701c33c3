"""Kraken spot (``kraken``) in the simulator: the v1 recording, served as v1 and as v2.

Sources: docs/exchanges/kraken.md §3-§5 (v1 ``subscribe``/``subscriptionStatus``, ``book-N``
frames, heartbeat, ping, the book checksum), the v1 reference on docs.kraken.com.

The packaged recording (``data/kraken/book1000_8pairs_20210417.*``, one real v1 connection)
holds ``book-1000`` frames for 8 pairs and the server's heartbeats. The plain endpoint ``/``
replays it as recorded (v1, the adapter's ``options={"version": 1}``); ``/v2`` (the adapter's
default) sends the same messages in v2's form (:func:`v2_book`: ``{"channel":"book",...}``,
prices and sizes as JSON numbers without trailing zeros, the v1 ``"c"`` as ``checksum``, a
computed checksum on snapshots, ``{"channel":"heartbeat"}``) and answers v2 requests
(``subscribe``/``unsubscribe`` of ``book`` with one reply per symbol, ``ping``); no other v2
channel is recorded. The rest of this docstring describes v1.

- Streams: ``"book:<v2 symbol>"`` (the adapter's topic, e.g. ``"book:BTC/CHF"``) for a pair's
  book frames, ``"heartbeat"`` for the recorded ``{"event":"heartbeat"}`` lines (every
  connection with a subscription gets them, as from Kraken). The recorded ``systemStatus`` and
  ``subscriptionStatus`` lines are kept under ``"control"`` and never sent: the simulator
  answers requests itself.
- Channel ids: the ones the recording's ``subscriptionStatus`` acks assigned. Kraken v1 numbers
  a channel per (subscription, pair) and not per connection (the three recorded connections of
  that session show one id per pair and channel type), so frames are sent as recorded.
- Subscribe: ``{"event":"subscribe","reqid":N,"pair":[..],"subscription":{"name":"book",
  "depth":D}}``, answered per pair with a ``subscriptionStatus`` (``status`` ``subscribed``,
  the recorded ``channelID``, ``channelName`` ``book-D``), then the book snapshot built at
  the replay position (``[id, {"as":[..],"bs":[..]}, "book-D", pair]``, levels as recorded:
  price, volume and timestamp strings; v1 snapshots carry no checksum, the next update's
  ``"c"`` verifies it). ``unsubscribe`` likewise (``status`` ``unsubscribed``).
- Depths: the recording is at depth 1000; a connection subscribed at 10, 25, 100 or 500 gets
  each recorded update in that depth's form (:meth:`KrakenSim.stamp`): the changes to its top
  D, levels entering the top D because better ones went sent again flagged ``"r"``
  (republished), nothing for levels pushed below D (the client truncates), no frame when the
  top D did not change; the checksum (top 10) is the recorded one.
- Errors, in v1's shape ``{"errorMessage":..,"event":"subscriptionStatus","pair":..,
  "status":"error","subscription":{..}}`` (``reqid`` echoed): ``Currency pair not in ISO
  4217-A3 format`` (no ``/``), ``Currency pair not supported`` (a pair the recording lacks),
  ``Subscription name invalid``, ``Subscription depth not supported`` (not 10, 25, 100, 500 or
  1000), ``Subscription Not Found``
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
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
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
from ..wirebook import kraken_checksum

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


def _num(text: str) -> str:
    """A v1 decimal string as v2 writes the number: JSON, no trailing zeros ("0.15000000" ->
    "0.15", "56218.00000" -> "56218", "0.00000000" -> "0")."""
    return text.rstrip("0").rstrip(".") or "0" if "." in text else text


def _rfc3339(seconds: str) -> str:
    """v1 time text ("1618678117.243818") as v2's RFC 3339 ("2021-04-17T16:48:37.243818Z")."""
    whole, _, frac = seconds.partition(".")
    day = datetime.fromtimestamp(int(whole), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{day}.{(frac + '000000')[:6]}Z"


def v2_book(obj: list[Any]) -> bytes:
    """A v1 book frame ``[id, body..., "book-N", pair]`` as Kraken v2 sends the same message:
    ``{"channel":"book","type":"snapshot"|"update","data":[{"symbol","bids":[{"price","qty"}],
    "asks":[..],"checksum","timestamp"}]}``, prices and sizes as JSON numbers without trailing
    zeros (v2 checksums them written with the pair's precisions, which the v1 text has), the
    v1 ``"c"`` as ``checksum``; a snapshot gets the checksum of its top 10 (v2 sends one)."""
    body = obj[1:-2]
    snapshot = any("as" in p or "bs" in p for p in body)
    bids = [r for p in body for r in p.get("bs" if snapshot else "b", ())]
    asks = [r for p in body for r in p.get("as" if snapshot else "a", ())]
    crc = next((int(p["c"]) for p in body if "c" in p), None)
    if snapshot:
        top_bids = sorted(bids, key=lambda r: Decimal(r[0]), reverse=True)[:10]
        top_asks = sorted(asks, key=lambda r: Decimal(r[0]))[:10]
        crc = kraken_checksum([(r[0], r[1]) for r in top_asks], [(r[0], r[1]) for r in top_bids])

    def levels(rows: list[list[str]]) -> str:
        return ",".join(f'{{"price":{_num(r[0])},"qty":{_num(r[1])}}}' for r in rows)

    item = (
        f'{{"symbol":{json.dumps(v2_name(obj[-1]))},"bids":[{levels(bids)}],"asks":[{levels(asks)}]'
    )
    if crc is not None:
        item += f',"checksum":{crc}'
    if bids or asks:
        newest = max((r[2] for r in bids + asks), key=Decimal)
        item += f',"timestamp":"{_rfc3339(newest)}"'
    kind = "snapshot" if snapshot else "update"
    return f'{{"channel":"book","type":"{kind}","data":[{item}}}]}}'.encode()


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
        self.reject_unknown_options(options)
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

    def rows(self, depth: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
        """(bids highest first, asks lowest first), the best ``depth`` of each (all if None)."""
        bids = [self.bids[p] for p in sorted(self.bids, reverse=True)[:depth]]
        asks = [self.asks[p] for p in sorted(self.asks)[:depth]]
        return bids, asks

    def top(self, depth: int) -> tuple[dict[Decimal, list[str]], dict[Decimal, list[str]]]:
        """The best ``depth`` levels of each side, price -> row."""
        return (
            {p: self.bids[p] for p in sorted(self.bids, reverse=True)[:depth]},
            {p: self.asks[p] for p in sorted(self.asks)[:depth]},
        )

    def copy(self) -> _Book:
        out = _Book(self.depth)
        out.bids, out.asks = dict(self.bids), dict(self.asks)
        return out


class _DepthView:
    """What one connection subscribed at a depth below the recorded one sees of a book: the
    recorded book (``full``, None before its snapshot) and the top ``depth`` levels sent so far
    (``shown``). Kraken sends a subscriber of depth d the changes to its top d; a level that
    enters the top d because better ones went is sent again, flagged ``"r"`` (republished); a
    level pushed out by better ones is not deleted (the client truncates)."""

    __slots__ = ("depth", "full", "shown")

    def __init__(self, depth: int, full: _Book | None) -> None:
        self.depth = depth
        self.reset(full)

    def reset(self, full: _Book | None) -> None:
        """Start from ``full`` (the recorded book at the subscription; None: none yet), its top
        ``depth`` as sent in the snapshot."""
        self.full = full
        self.shown: tuple[dict[Decimal, list[str]], dict[Decimal, list[str]]] = (
            full.top(self.depth) if full is not None else ({}, {})
        )

    def frame(self, obj: list[Any], recorded_depth: int) -> list[Any] | None:
        """The depth-``depth`` form of recorded frame ``obj`` (its body without the channel
        name and pair), or None when it changes nothing in the top ``depth``."""
        body = obj[1:-2]
        if any("as" in part or "bs" in part for part in body):
            self.full = _Book(recorded_depth)
            self.full.apply(body)
            self.shown = self.full.top(self.depth)
            bids, asks = self.full.rows(self.depth)
            return [{"as": asks, "bs": bids}]
        if self.full is None:
            return None
        self.full.apply(body)
        new = self.full.top(self.depth)
        checksum = next((part["c"] for part in body if "c" in part), None)
        out: dict[str, list[list[str]]] = {}
        for n, (key, full_side) in enumerate((("a", self.full.asks), ("b", self.full.bids))):
            old_side, new_side = self.shown[1 - n], new[1 - n]
            sent = {Decimal(r[0]): r for part in body for r in part.get(key, ())}
            rows = [
                r
                for p, r in sent.items()
                if (p in new_side and old_side.get(p) != new_side[p])
                or (p in old_side and p not in full_side)
            ]
            rows += [
                [*new_side[p][:3], "r"] for p in new_side if p not in sent and p not in old_side
            ]
            if rows:
                out[key] = rows
        self.shown = new
        if not out:
            return None
        parts: list[dict[str, Any]] = [{k: v} for k, v in out.items()]
        if checksum is not None:
            parts[-1]["c"] = checksum
        return parts


class KrakenSim(VenueSim):
    """Kraken's v1 protocol for one :class:`~tickwire.simulator.Simulator` (module docstring)."""

    spec: KrakenSpec

    def __init__(self, spec: KrakenSpec, sim: Simulator):
        super().__init__(spec, sim)
        self.channels: dict[str, _Channel] = {}  # stream key -> recorded channel
        self.decimals: dict[str, tuple[int, int]] = {}  # v1 pair -> (price, volume) decimals
        self._book_lines: list[int] = []
        self._views: dict[tuple[int, str], _DepthView] = {}  # (connection id, stream)
        #: REST market requests answered per endpoint (``Ticker``, ``Depth``, ``OHLC``)
        self.market_requests: dict[str, int] = {}
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
        """``/`` (v1) and ``/v2`` (framing ``"v2"``). ``?streams=a,b`` subscribes streams
        without a request (tests)."""
        if path not in ("/", "/v2"):
            return None
        streams = [unquote(s) for s in query.get("streams", "").split(",") if s]
        return WsEndpoint("spot", "v2" if path == "/v2" else None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/?streams=<quoted keys, comma separated>``."""
        return "/?streams=" + ",".join(quote(s, safe="") for s in streams)

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/``: v1 takes no stream in the path."""
        return "/"

    def market_id_of(self, stream: str) -> str | None:
        """``"BTC/CHF"`` for ``"book:BTC/CHF"``; None for heartbeats and control lines."""
        return stream.split(":", 1)[1] if ":" in stream else None

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: PLR0911
        """ping, subscribe and unsubscribe (module docstring), in v1's or v2's form."""
        if conn.framing == "v2":
            return self._v2_message(conn, text)
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
        added: list[str] = []
        removed: list[str] = []
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
            out.replies.append(self._ack(conn, key, sub, event, reqid))
            (added if event == "subscribe" else removed).append(key)
        if event == "subscribe":
            out.subscribe = [*added, HEARTBEAT] if added else None
        else:
            still = [s for s in conn.subscriptions if s not in removed and s != HEARTBEAT]
            out.unsubscribe = [*removed, *([HEARTBEAT] if not still else [])] or None
        return out

    def _v2_message(self, conn: ServerConnection, text: str) -> Outcome:
        """v2 ``ping`` and ``subscribe``/``unsubscribe`` of ``book`` (the recorded channel):
        one reply per symbol, ``success`` true with the ``result``, or false with Kraken's
        ``error`` text and the ``symbol``; ``req_id`` echoed."""
        now = _rfc3339(f"{time.time():.6f}")
        stamp = {"time_in": now, "time_out": now}
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            return Outcome([_dump({"error": "Malformed request", "success": False, **stamp})])
        method = req["method"]
        rid = {"req_id": req["req_id"]} if "req_id" in req else {}
        if method == "ping":
            return Outcome([_dump({"method": "pong", **rid, **stamp})], keepalive=True)
        params = req.get("params")
        if method not in ("subscribe", "unsubscribe") or not isinstance(params, dict):
            err = {"error": f"Method not found: {method}", "method": method, "success": False}
            return Outcome([_dump({**err, **rid, **stamp})])
        channel, symbols = params.get("channel"), params.get("symbol")
        if channel != "book" or not isinstance(symbols, list) or not symbols:
            problem = "Channel not found" if channel != "book" else "Malformed request"
            bad = {"error": problem, "method": method, "success": False, **rid, **stamp}
            return Outcome([_dump(bad)])
        depth = params.get("depth", 10)
        sub = {"name": "book", "depth": depth}
        out = Outcome()
        added: list[str] = []
        removed: list[str] = []
        for symbol in symbols:
            pair = v1_name(symbol) if isinstance(symbol, str) else symbol
            error = self._check(sub, pair, conn, method)
            if error is not None:
                text = error.replace(str(pair), str(symbol))
                failed = {"error": text, "method": method, **rid, "success": False}
                out.replies.append(_dump({**failed, "symbol": symbol, **stamp}))
                continue
            key = f"book:{symbol}"
            self._ack(conn, key, sub, method, {})
            result = {"channel": "book", "depth": depth, "snapshot": True, "symbol": symbol}
            reply = {"method": method, "result": result, "success": True, **stamp, **rid}
            out.replies.append(_dump(reply))
            (added if method == "subscribe" else removed).append(key)
        if added:
            out.subscribe = [*added, HEARTBEAT]
        if removed:
            still = [s for s in conn.subscriptions if s not in removed and s != HEARTBEAT]
            out.unsubscribe = [*removed, *([HEARTBEAT] if not still else [])]
        return out

    def _ack(
        self,
        conn: ServerConnection,
        key: str,
        sub: dict[str, Any],
        event: str,
        reqid: dict[str, Any],
    ) -> bytes:
        """The ``subscriptionStatus`` of a (valid) subscribe or unsubscribe of stream ``key``;
        a book subscribed below the recorded depth gets a :class:`_DepthView`."""
        ch = self.channels[key]
        name, subscription = ch.name, ch.subscription
        view = self._views.get((conn.id, key))
        if event == "subscribe" and sub["name"] == "book":
            depth = sub.get("depth", 10)
            view = None
            self._views.pop((conn.id, key), None)
            if depth != ch.subscription.get("depth"):
                view = self._views[(conn.id, key)] = _DepthView(depth, None)
        if view is not None:
            name, subscription = f"book-{view.depth}", {"depth": view.depth, "name": "book"}
        if event == "unsubscribe":
            self._views.pop((conn.id, key), None)
        ack = {
            "channelID": ch.id,
            "channelName": name,
            "event": "subscriptionStatus",
            "pair": ch.pair,
            **reqid,
            "status": "subscribed" if event == "subscribe" else "unsubscribed",
            "subscription": subscription,
        }
        return _dump(ack)

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
            if depth not in (10, 25, 100, 500, 1000):
                return "Subscription depth not supported"
            if depth > channel.subscription.get("depth", 10):
                return (
                    f"Subscription depth not supported: the simulator replays a recording "
                    f"of depth {channel.subscription.get('depth')}"
                )
        subscribed = key in conn.subscriptions
        if event == "subscribe" and subscribed:
            return "Already subscribed"
        if event == "unsubscribe" and not subscribed:
            return "Subscription Not Found"
        return None

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:
        """A book's snapshot as of ``position`` (none before the recorded one: it arrives in
        the replay)."""
        channel = self.channels.get(stream)
        if channel is None or not stream.startswith("book:"):
            return []
        book = self.book_at(stream, position)
        view = self._views.get((conn.id, stream))
        name = channel.name
        if view is not None:
            view.reset(book.copy() if book is not None else None)
            name = f"book-{view.depth}"
        if book is None:
            return []
        bids, asks = book.rows(view.depth if view is not None else None)
        frame = [channel.id, {"as": asks, "bs": bids}, name, channel.pair]
        return [v2_book(frame) if conn.framing == "v2" else _dump(frame)]

    def stamp(self, conn: ServerConnection, stream: str, payload: bytes) -> bytes | None:
        """Book frames for a connection subscribed below the recorded depth, in that depth's
        form (:class:`_DepthView`); on ``/v2`` every frame in v2's form (:func:`v2_book`,
        ``{"channel":"heartbeat"}``); everything else as recorded."""
        v2 = conn.framing == "v2"
        view = self._views.get((conn.id, stream))
        if view is None and not v2:
            return payload
        if stream == HEARTBEAT:
            return b'{"channel":"heartbeat"}'
        obj = json.loads(payload)
        if view is not None:
            channel = self.channels[stream]
            body = view.frame(obj, int(channel.subscription.get("depth", 10)))
            if body is None:
                return None
            obj = [obj[0], *body, f"book-{view.depth}", obj[-1]]
        return v2_book(obj) if v2 else _dump(obj)

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
        """AssetPairs at :attr:`instruments_path`, the public Ticker, Depth and OHLC (see
        :meth:`market`), else None."""
        name = path.removeprefix("/0/public/")
        if name in ("Ticker", "Depth", "OHLC"):

            async def market(request: web.Request) -> web.StreamResponse:
                return self.market(name, request)

            return market
        if path != self.spec.instruments_path:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:  # noqa: ARG001
            return web.Response(body=self.asset_pairs(), content_type="application/json")

        return answer

    def market(self, name: str, request: web.Request) -> web.Response:
        """``GET /0/public/Ticker``, ``/Depth`` (``count``, default 100, at most 500) or
        ``/OHLC`` for one ``pair`` (altname, ``XBTUSD``), keyed by that name in ``result``;
        counted in ``market_requests``. Ticker and Depth are the recorded book at the replay
        position (Ticker: its top, ``[price, whole lot volume, lot volume]``; Depth: rows
        ``[price, volume, time s]``); OHLC lists the recording's candles, of which the packaged
        one has none (``[]``, ``last`` 0). An unknown pair answers ``EQuery:Unknown asset
        pair``."""
        self.market_requests[name] = self.market_requests.get(name, 0) + 1
        q = request.query
        alt = q.get("pair", "")
        pair = next((p for p in self.decimals if p.replace("/", "") == alt), None)
        if pair is None:
            return web.Response(
                body=_dump({"error": ["EQuery:Unknown asset pair"]}),
                content_type="application/json",
            )
        if name == "OHLC":
            result: dict[str, Any] = {alt: [], "last": 0}
            return web.Response(
                body=_dump({"error": [], "result": result}), content_type="application/json"
            )
        book = self.book_at(f"book:{v2_name(pair)}", self.sim.position)
        rows = (
            ([], [])
            if book is None
            else (
                [book.bids[p] for p in sorted(book.bids, reverse=True)],
                [book.asks[p] for p in sorted(book.asks)],
            )
        )
        bids, asks = ([[r[0], r[1], int(float(r[2]))] for r in side] for side in rows)
        if name == "Depth":
            count = int(q["count"]) if q.get("count", "").isdigit() else 100
            count = max(1, min(count, 500))
            result = {alt: {"asks": asks[:count], "bids": bids[:count]}}
        else:
            if not bids or not asks:
                return web.Response(
                    body=_dump({"error": ["EQuery:Unknown asset pair"]}),
                    content_type="application/json",
                )

            def side(row: list[Any]) -> list[str]:
                return [row[0], str(int(Decimal(row[1]))), row[1]]

            result = {alt: {"a": side(asks[0]), "b": side(bids[0])}}
        return web.Response(
            body=_dump({"error": [], "result": result}), content_type="application/json"
        )

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
        """The v2 and v1 endpoints and the AssetPairs URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/v2  (Kraken WS v2; {sim.ws_url}/ : v1 as recorded)",
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
