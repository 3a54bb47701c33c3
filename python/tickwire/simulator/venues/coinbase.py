"""Coinbase Advanced Trade (``coinbase``) and the Coinbase Exchange feed (``coinbaseexchange``)
in the simulator.

Sources: shared/docs/exchanges/coinbase.md (Advanced Trade "WebSocket Overview / Channels",
Exchange "WebSocket Feed"), and the recordings themselves (``tickwire/data/coinbase``).

Advanced Trade (market ``coinbase``), one endpoint at ``/``:

- Client messages: ``{"type":"subscribe"|"unsubscribe","product_ids":[..],"channel":".."}``
  (one channel per message; ``jwt`` accepted and ignored). Channels ``level2``,
  ``market_trades``, ``ticker``, ``candles``, ``heartbeats`` (and ``ticker_batch``/``status``,
  which the recording does not carry). Each accepted request is answered by a
  ``subscriptions`` message listing everything the connection is now subscribed to, as Coinbase
  does; an unknown channel or product, a malformed request or an empty product list gets
  ``{"type":"error","message":"failure to subscribe"}`` (Coinbase's error shape: no code, no
  request id, no ``sequence_num``).
- Data: the recorded frames; stream keys ``"<channel>:<product_id>"`` (``l2_data`` frames are
  the ``level2`` streams, heartbeats ``"heartbeats:heartbeats"``).
- ``sequence_num`` is assigned per connection (:meth:`AdvancedTradeSim.stamp`) over everything
  the connection receives: acks, snapshots and data, in send order. A data message a fault
  withholds (:class:`~..faults.Drop`) still takes its number, as on the real feed where a lost
  message is a hole in the count: the simulator finds such holes from the recorded
  ``sequence_num`` (gap-free in the recording) and the lines each subscribed stream has between
  two sent messages.
- On subscribe to ``level2`` the connection gets an ``l2_data`` snapshot of the book as of the
  replay position, built from the recording's own snapshot and updates
  (:class:`~..wirebook.BookReplay`, strings as recorded). Before the recorded snapshot there is
  no book: the recorded snapshot then arrives in the data.
- REST: ``GET /api/v3/brokerage/market/products`` lists the recorded products (``SPOT``,
  ``online``; increments are not in the recording, so they are null).
- No server WebSocket pings (none documented); no client ping exists.

Exchange feed (market ``coinbaseexchange``), one endpoint at ``/``:

- ``{"type":"subscribe","product_ids":[..],"channels":["level2_batch",{"name":"ticker",
  "product_ids":[..]}]}``; channels ``level2``/``level2_batch`` (the recording is ``level2``;
  both serve it), ``matches``, ``ticker``, ``heartbeat`` (nothing recorded); the reply
  ``{"type":"subscriptions","channels":[{"name","product_ids"}]}`` lists the connection's
  subscriptions; errors ``{"type":"error","message":"Failed to subscribe","reason":".."}`` with
  the reasons Coinbase gives (``No channels provided``, ``<id> is not a valid product``, ...).
- On subscribe to a book: a ``snapshot`` as of the replay position (as above).
- ``level2`` has no sequence: a withheld update cannot be detected by a client (the feed says
  the server guarantees delivery), which the tests state.
- REST: ``GET /products`` lists the recorded products.
"""

from __future__ import annotations

import bisect
import json
import re
import time
import weakref
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..faults import CloseAfter, Drop
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

_SEQ = re.compile(rb'"sequence_num":(\d+)')
_AT_ERROR = b'{"type":"error","message":"failure to subscribe"}'


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as Coinbase writes times (``2026-08-09T21:05:48.228568804Z``)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


# ------------------------------------------------------------------------------------------
# Advanced Trade
# ------------------------------------------------------------------------------------------

#: recorded channel -> subscription channel
_AT_CHANNELS = {
    "l2_data": "level2",
    "market_trades": "market_trades",
    "ticker": "ticker",
    "ticker_batch": "ticker_batch",
    "candles": "candles",
    "heartbeats": "heartbeats",
    "status": "status",
}
_AT_LIST = {
    "l2_data": "updates",
    "market_trades": "trades",
    "ticker": "tickers",
    "candles": "candles",
}


class AdvancedTradeWire(WireFormat):
    """Advanced Trade frames: stream ``"<subscription channel>:<product_id>"`` from the
    envelope's ``channel`` and the products its events name (one per frame, checked); the whole
    frame is kept (its ``sequence_num`` is replaced per connection)."""

    garbage_payload = b'{"channel":"l2_data","events":[{'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(stream key, the line). ``ValueError`` naming the line if it is not an Advanced
        Trade frame of one product."""
        try:
            obj = json.loads(line)
            channel = obj["channel"]
            events = obj["events"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an Advanced Trade frame: {line[:80]!r}") from exc
        if channel == "subscriptions":
            return "subscriptions", line
        if channel == "heartbeats":
            return "heartbeats:heartbeats", line
        sub = _AT_CHANNELS.get(channel)
        if sub is None:
            raise ValueError(f"unknown Advanced Trade channel {channel!r}: {line[:80]!r}")
        products = set()
        for e in events:
            if channel == "l2_data":
                products.add(e["product_id"])
            else:
                products.update(x["product_id"] for x in e.get(_AT_LIST.get(channel, ""), ()))
        if len(products) != 1:
            raise ValueError(f"frame of {len(products)} products: {line[:80]!r}")
        return f"{sub}:{products.pop()}", line

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002 - one framing
        """The frame as recorded (stamped per connection when sent)."""
        return payload


AT_WIRE = AdvancedTradeWire()


@dataclass
class _ConnState:
    """Per-connection ``sequence_num`` state: ``next`` number to assign, ``line`` of the last
    data message stamped (-1: none), ``since`` (stream -> first line it was subscribed for)."""

    next: int = 0
    line: int = -1
    since: dict[str, int] | None = None


@dataclass(frozen=True, kw_only=True)
class CoinbaseSpec(MarketSpec):
    """A Coinbase market endpoint: ``advanced`` (Advanced Trade) or the Exchange feed;
    ``products_path``: its REST products list."""

    advanced: bool
    products_path: str

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """An :class:`AdvancedTradeSim` or :class:`ExchangeSim` (no options)."""
        self.reject_unknown_options(options)
        return AdvancedTradeSim(self, sim) if self.advanced else ExchangeSim(self, sim)


class _CoinbaseSim(VenueSim):
    """What both feeds share: one endpoint at ``/``, books replayed from the recording, the
    products list."""

    spec: CoinbaseSpec

    def __init__(self, spec: CoinbaseSpec, sim: Simulator) -> None:
        super().__init__(spec, sim)
        self.books: BookReplay | None = None

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/`` (``?streams=a,b``: subscribed without a request, a simulator convenience)."""
        if path != "/":
            return None
        raw = query.get("streams", "")
        return WsEndpoint("", None, [s for s in raw.split(",") if s])

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002 - one route
        """``/?streams=a,b`` (not Coinbase's: it has no URL subscriptions)."""
        return "/?streams=" + ",".join(streams)

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002 - one route
        """``/`` (``stream`` subscribed as by :meth:`stream_path`)."""
        return self.stream_path([stream]) if stream else "/"

    def deliverable(self, route: str, streams: list[str]) -> list[str]:  # noqa: ARG002 - one route
        """Every subscribed stream but the recorded ``subscriptions`` replies (the simulator
        answers requests itself)."""
        return [s for s in streams if s != "subscriptions"]

    def market_id_of(self, stream: str) -> str | None:
        """``BTC-USD`` for ``level2:BTC-USD``; None for ``heartbeats:heartbeats`` and the like."""
        product = stream.partition(":")[2]
        return product if "-" in product else None

    def products(self) -> list[str]:
        """The recorded product ids, sorted."""
        return sorted({p for s in self.sim.recording.streams if (p := self.market_id_of(s))})

    # ---- books -----------------------------------------------------------------------------
    def book_message(self, line: int) -> list[BookMessage]:
        """The book messages of recording ``line`` (venue-specific)."""
        raise NotImplementedError

    def started(self) -> None:
        """Index the recording's book lines."""
        rec = self.sim.recording
        lines = [i for i, s in enumerate(rec.line_stream) if s.startswith("level2:")]
        self.books = BookReplay(self.book_message, lines)

    def rewound(self) -> None:
        """Forget the books built from later lines."""
        if self.books is not None:
            self.books.reset()

    def book_at(
        self, product: str, position: int
    ) -> tuple[list[list[str]], list[list[str]]] | None:
        """(bids, asks) of ``product`` as of ``position`` (strings as recorded), or None."""
        if self.books is None:
            self.started()
        books = self.books
        if books is None:
            return None
        book = books.book(product, position)
        if book is None:
            return None
        return [list(lv) for lv in book.bids()], [list(lv) for lv in book.asks()]

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """The products list at :attr:`instruments_path`, or None."""
        if path != self.spec.products_path:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:  # noqa: ARG001 - no params
            self.sim.exchange_info_requests += 1
            return web.Response(body=self.products_body(), content_type="application/json")

        return answer

    def products_body(self) -> bytes:
        raise NotImplementedError

    @property
    def instruments_path(self) -> str:
        """The venue's public products list."""
        return self.spec.products_path

    def url_lines(self) -> list[str]:
        """The WebSocket endpoint and the products URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}  (subscribe with JSON requests)",
            f"  all streams {sim.stream_url()}",
            f"  rest products {sim.rest_url}{self.spec.products_path}",
        ]


class AdvancedTradeSim(_CoinbaseSim):
    """Advanced Trade's market-data protocol (see the module docstring)."""

    def __init__(self, spec: CoinbaseSpec, sim: Simulator) -> None:
        super().__init__(spec, sim)
        self._conns: weakref.WeakKeyDictionary[ServerConnection, _ConnState] = (
            weakref.WeakKeyDictionary()
        )
        self._seq_line: dict[int, int] = {}  # recorded sequence_num -> line

    def started(self) -> None:
        """Index the book lines and the recorded ``sequence_num`` of every line."""
        super().started()
        for i, line in enumerate(self.sim.recording.lines):
            m = _SEQ.search(line)
            if m is not None:
                self._seq_line[int(m.group(1))] = i

    def book_message(self, line: int) -> list[BookMessage]:
        """The ``l2_data`` events of ``line``: ``bid`` levels to bids, ``offer`` to asks."""
        out = []
        for e in self.sim.recording.parsed(line)["events"]:
            ups = e["updates"]
            bids = [(u["price_level"], u["new_quantity"]) for u in ups if u["side"] == "bid"]
            asks = [(u["price_level"], u["new_quantity"]) for u in ups if u["side"] == "offer"]
            out.append(BookMessage(e["product_id"], e["type"] == "snapshot", bids, asks))
        return out

    # ---- sequence_num ----------------------------------------------------------------------
    def _state(self, conn: ServerConnection) -> _ConnState:
        st = self._conns.get(conn)
        if st is None:
            st = self._conns[conn] = _ConnState(since={})
        return st

    def _number(self, conn: ServerConnection) -> int:
        st = self._state(conn)
        n = st.next
        st.next += 1
        return n

    def stamp(self, conn: ServerConnection, stream: str, payload: bytes) -> bytes | None:  # noqa: ARG002 - the line tells the stream
        """``payload`` with this connection's next ``sequence_num``, after counting the
        messages of its streams withheld since the last one it got (each took a number)."""
        st = self._state(conn)
        m = _SEQ.search(payload)
        line = self._seq_line.get(int(m.group(1)), -1) if m is not None else -1
        if line > st.line and st.since is not None:
            streams = self.sim.recording.streams
            for s, first in st.since.items():
                sd = streams.get(s)
                if sd is None or s not in conn.subscriptions:
                    continue
                lo = max(st.line + 1, first)
                if lo < line:
                    st.next += bisect.bisect_left(sd.lines, line) - bisect.bisect_left(sd.lines, lo)
        if line >= 0:
            st.line = line
        n = st.next
        st.next += 1
        if m is None:
            return payload
        return payload[: m.start(1)] + str(n).encode() + payload[m.end(1) :]

    # ---- control ---------------------------------------------------------------------------
    def _ack(self, conn: ServerConnection, subs: Sequence[str]) -> bytes:
        by: dict[str, list[str]] = {}
        for s in subs:
            ch, _, p = s.partition(":")
            by.setdefault(ch, []).append(p)
        msg = {
            "channel": "subscriptions",
            "client_id": "",
            "timestamp": _rfc3339(time.time_ns()),
            "sequence_num": self._number(conn),
            "events": [{"subscriptions": dict(sorted(by.items()))}],
        }
        return _dumps(msg)

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """``subscribe``/``unsubscribe`` of one channel (see the module docstring)."""
        try:
            req = json.loads(text)
            kind, channel = req["type"], req["channel"]
            products = req.get("product_ids", [])
        except (ValueError, KeyError, TypeError):
            return Outcome(replies=[_AT_ERROR])
        if kind not in ("subscribe", "unsubscribe") or not isinstance(products, list):
            return Outcome(replies=[_AT_ERROR])
        if channel == "heartbeats":
            streams = ["heartbeats:heartbeats"]
        else:
            known = set(self.products())
            if (
                channel not in _AT_CHANNELS.values()
                or not products
                or not all(isinstance(p, str) and p in known for p in products)
            ):
                return Outcome(replies=[_AT_ERROR])
            streams = [f"{channel}:{p}" for p in products]
        now = list(conn.subscriptions)
        if kind == "subscribe":
            after = now + [s for s in streams if s not in now]
            return Outcome(replies=[self._ack(conn, after)], subscribe=streams)
        after = [s for s in now if s not in streams]
        return Outcome(replies=[self._ack(conn, after)], unsubscribe=streams)

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:
        """Record where ``stream`` starts for ``conn``; for ``level2`` an ``l2_data`` snapshot
        as of ``position`` (none before the recorded one)."""
        st = self._state(conn)
        if st.since is not None:
            st.since[stream] = position
        channel, _, product = stream.partition(":")
        if channel != "level2":
            return []
        book = self.book_at(product, position)
        if book is None:
            return []
        bids, asks = book
        last = self.books.last_line(product) if self.books else None
        rec = self.sim.recording
        stamp = rec.parsed(last)["timestamp"] if last is not None else _rfc3339(time.time_ns())
        ups = [
            {"side": side, "event_time": stamp, "price_level": px, "new_quantity": qty}
            for side, levels in (("bid", bids), ("offer", asks))
            for px, qty in levels
        ]
        msg = {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": _rfc3339(time.time_ns()),
            "sequence_num": self._number(conn),
            "events": [{"type": "snapshot", "product_id": product, "updates": ups}],
        }
        return [_dumps(msg)]

    def products_body(self) -> bytes:
        """``{"products":[{product_id, product_type, status, ...}], "num_products"}``."""
        products = [
            {
                "product_id": p,
                "product_type": "SPOT",
                "status": "online",
                "trading_disabled": False,
                "price_increment": None,
                "base_increment": None,
            }
            for p in self.products()
        ]
        return _dumps({"products": products, "num_products": len(products)})


# ------------------------------------------------------------------------------------------
# Exchange feed
# ------------------------------------------------------------------------------------------

_EX_STREAMS = {
    "snapshot": "level2",
    "l2update": "level2",
    "match": "matches",
    "last_match": "matches",
}
#: subscription channel name -> stream key prefix
_EX_CHANNELS = {
    "level2": "level2",
    "level2_batch": "level2",
    "matches": "matches",
    "ticker": "ticker",
    "heartbeat": "heartbeat",
}


class ExchangeWire(WireFormat):
    """Exchange feed frames: stream ``"<channel>:<product_id>"`` (``level2``, ``matches``,
    ``ticker``, ``heartbeat``) from ``type`` and ``product_id``; the frame is kept whole."""

    garbage_payload = b'{"type":"l2update","product_id":'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(stream key, the line); ``subscriptions`` replies get the key ``"subscriptions"``
        (never subscribed: the simulator answers requests itself). ``ValueError`` otherwise."""
        try:
            obj = json.loads(line)
            kind = obj["type"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an Exchange feed frame: {line[:80]!r}") from exc
        if kind == "subscriptions":
            return "subscriptions", line
        channel = _EX_STREAMS.get(kind, kind)
        if channel not in ("level2", "matches", "ticker", "heartbeat") or "product_id" not in obj:
            raise ValueError(f"unknown Exchange feed message {kind!r}: {line[:80]!r}")
        return f"{channel}:{obj['product_id']}", line

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002 - one framing
        """The frame as recorded."""
        return payload


EX_WIRE = ExchangeWire()


def _ex_error(reason: str) -> bytes:
    return _dumps({"type": "error", "message": "Failed to subscribe", "reason": reason})


class ExchangeSim(_CoinbaseSim):
    """The Exchange feed's protocol (see the module docstring)."""

    def __init__(self, spec: CoinbaseSpec, sim: Simulator) -> None:
        super().__init__(spec, sim)
        # connection -> {channel name as the client wrote it: product ids}
        self._names: weakref.WeakKeyDictionary[ServerConnection, dict[str, list[str]]] = (
            weakref.WeakKeyDictionary()
        )
        #: REST market requests answered per endpoint (``book``)
        self.market_requests: dict[str, int] = {}

    # ---- REST book (the REST fallback) ---------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``GET /products/<id>/book`` (:meth:`rest_book`), else the products list."""
        product, _, rest = path.removeprefix("/products/").partition("/")
        if path.startswith("/products/") and rest == "book":

            async def book(request: web.Request) -> web.StreamResponse:
                return self.rest_book(product, request.query.get("level", "1"))

            return book
        return super().rest_handler(path)

    def rest_book(self, product: str, level: str) -> web.Response:
        """``{"bids","asks","sequence","auction_mode","auction","time"}`` of ``product``'s
        recorded book at the replay position: ``level`` 1 its best level a side, 2 every level
        (3 is refused: no orders are recorded). Rows are ``[price, size]`` as recorded (the
        ``level2`` channel carries no order counts, so none is made up); ``sequence`` is the
        last applied line's number + 1 (the channel has no sequence) and ``time`` its ``time``.
        Counted in ``market_requests["book"]``."""
        self.market_requests["book"] = self.market_requests.get("book", 0) + 1
        if product not in self.products():
            return web.Response(
                status=404, body=_dumps({"message": "NotFound"}), content_type="application/json"
            )
        if level not in ("1", "2"):
            return web.Response(
                status=400,
                body=_dumps({"message": "Invalid level"}),
                content_type="application/json",
            )
        got = self.book_at(product, self.sim.position)
        bids, asks = got if got is not None else ([], [])
        if level == "1":
            bids, asks = bids[:1], asks[:1]
        last = None if self.books is None else self.books.last_line(product)
        time_text = None if last is None else self.sim.recording.parsed(last).get("time")
        body: dict[str, Any] = {
            "bids": bids,
            "asks": asks,
            "sequence": 0 if last is None else last + 1,
            "auction_mode": False,
            "auction": None,
        }
        if time_text is not None:  # (a recorded snapshot has none)
            body["time"] = time_text
        return web.Response(body=_dumps(body), content_type="application/json")

    def book_message(self, line: int) -> list[BookMessage]:
        """A ``snapshot`` (bids/asks) or ``l2update`` (``changes``, buy -> bids)."""
        obj = self.sim.recording.parsed(line)
        if obj["type"] == "snapshot":
            return [BookMessage(obj["product_id"], True, obj["bids"], obj["asks"])]
        ch = obj["changes"]
        bids = [(c[1], c[2]) for c in ch if c[0] == "buy"]
        asks = [(c[1], c[2]) for c in ch if c[0] == "sell"]
        return [BookMessage(obj["product_id"], False, bids, asks)]

    def _request(self, text: str) -> tuple[str, list[tuple[str, list[str]]]] | bytes:
        """(type, [(channel name, product ids)]) of a request, or the error reply for it."""
        try:
            req = json.loads(text)
            kind = req["type"]
        except (ValueError, KeyError, TypeError):
            return _ex_error("Malformed JSON")
        if kind not in ("subscribe", "unsubscribe"):
            return _ex_error(f"{kind} is not a valid type")
        default = req.get("product_ids", [])
        channels = req.get("channels", [])
        if not channels:
            return _ex_error("No channels provided")
        known = set(self.products())
        wanted: list[tuple[str, list[str]]] = []
        for c in channels:
            if isinstance(c, str):
                name, products = c, default
            else:
                name, products = c.get("name"), c.get("product_ids", default)
            bad = [p for p in products if p not in known]
            reason = (
                f"{name} is not a valid channel"
                if name not in _EX_CHANNELS
                else "No product ids provided"
                if not products
                else f"{bad[0]} is not a valid product"
                if bad
                else None
            )
            if reason is not None:
                return _ex_error(reason)
            wanted.append((name, list(products)))
        return kind, wanted

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """``subscribe``/``unsubscribe`` with ``product_ids`` and ``channels`` (names or
        ``{"name","product_ids"}``); the reply lists the connection's subscriptions."""
        parsed = self._request(text)
        if isinstance(parsed, bytes):
            return Outcome(replies=[parsed])
        kind, wanted = parsed
        names = self._names.setdefault(conn, {})
        streams = []
        for name, products in wanted:
            have = names.setdefault(name, [])
            for p in products:
                streams.append(f"{_EX_CHANNELS[name]}:{p}")
                if kind == "subscribe" and p not in have:
                    have.append(p)
                elif kind == "unsubscribe" and p in have:
                    have.remove(p)
        listed = [{"name": n, "product_ids": ps} for n, ps in names.items() if ps]
        reply = _dumps({"type": "subscriptions", "channels": listed})
        if kind == "subscribe":
            return Outcome(replies=[reply], subscribe=streams)
        still = {f"{_EX_CHANNELS[n]}:{p}" for n, ps in names.items() for p in ps}
        return Outcome(replies=[reply], unsubscribe=[s for s in streams if s not in still])

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002 - no per-connection state
        """For a book stream, a ``snapshot`` as of ``position`` (none before the recorded one)."""
        channel, _, product = stream.partition(":")
        if channel != "level2":
            return []
        book = self.book_at(product, position)
        if book is None:
            return []
        bids, asks = book
        return [_dumps({"type": "snapshot", "product_id": product, "bids": bids, "asks": asks})]

    def products_body(self) -> bytes:
        """``[{id, base_currency, quote_currency, status, trading_disabled}, ...]``."""
        out = []
        for p in self.products():
            base, _, quote = p.partition("-")
            out.append(
                {
                    "id": p,
                    "base_currency": base,
                    "quote_currency": quote,
                    "status": "online",
                    "trading_disabled": False,
                }
            )
        return _dumps(out)


# ------------------------------------------------------------------------------------------
# Specs
# ------------------------------------------------------------------------------------------

_AT_STEM = "coinbase/advanced_trade_l2data_ticker_trades_candles_heartbeats_btcusd_ethusd"
_EX_STEM = "coinbase/exchange_level2_ticker_matches_8products_20210417"


def _at_demo_fault(sim: Simulator) -> Drop:  # noqa: ARG001 - the fault needs no position
    """One ``l2_data`` update withheld: ``sequence_num`` skips one, every book resubscribes."""
    return Drop(stream="level2:BTC-USD", skip=300)


def _ex_demo_fault(sim: Simulator) -> CloseAfter:
    """A disconnect after an eighth of the recording's messages (the demo's one product gets
    about a third of them): the Exchange feed's ``level2`` has no sequence to show a lost
    update, so the demo shows the other recovery, a reconnect that subscribes again and
    rebuilds the book from the snapshot sent on subscribe."""
    return CloseAfter(len(sim.recording) // 8)


ADVANCED_TRADE = CoinbaseSpec(
    name="coinbase",
    exchange="coinbase",
    market="spot",
    wire=AT_WIRE,
    packaged=PackagedRecording(f"{_AT_STEM}.jsonl.gz", f"{_AT_STEM}.ts.gz"),
    ping_interval=0.0,
    pong_timeout=0.0,
    rate_limit=8,
    advanced=True,
    products_path="/api/v3/brokerage/market/products",
    demo=DemoSpec(
        title="Coinbase Advanced Trade",
        symbol="BTC/USD",
        fault=_at_demo_fault,
        fault_text="a dropped l2_data update",
    ),
)

EXCHANGE = CoinbaseSpec(
    name="coinbaseexchange",
    exchange="coinbaseexchange",
    market="spot",
    wire=EX_WIRE,
    packaged=PackagedRecording(f"{_EX_STEM}.jsonl.gz", f"{_EX_STEM}.ts.gz"),
    ping_interval=0.0,
    pong_timeout=0.0,
    rate_limit=100,
    advanced=False,
    products_path="/products",
    demo=DemoSpec(
        title="Coinbase Exchange",
        symbol="SKL/USD",
        fault=_ex_demo_fault,
        fault_text="a disconnect",
    ),
)

SPECS = (ADVANCED_TRADE, EXCHANGE)
