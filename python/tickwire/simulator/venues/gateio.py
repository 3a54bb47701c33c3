"""Gate v4 spot (``gateio``) and USDT futures (``gateio-linear``) in the simulator.

Sources: docs/exchanges/gateio.md §1-§6 (Gate's Spot and Futures WebSocket v4 docs, REST
order book). Markets replay the packaged recordings (``data/gateio/SOURCES.md``): spot 2021
(8 pairs) and USDT futures 2023 (9 contracts), their pushes only (the recorded subscribe replies
are left out: the simulator answers each client's own requests).

Endpoints: spot ``/ws/v4/``, futures ``/v4/ws/usdt``. A simulator-only query ``?subscribe=a,b``
subscribes streams in the URL (Gate itself has none; generic tools such as
``Simulator.stream_url`` use it).

Stream keys are ``"<channel>:<market id>"`` (``"spot.order_book_update:OMG_USDT"``,
``"futures.book_ticker:RDNT_USDT"``, ``"spot.candlesticks:DIS_USDT"``), the same text the
adapter uses as a subscription's stream; a frame is the recorded line unchanged.

Client messages, answered as Gate does (``{"time","time_ms","id"?,"channel","event",...}``,
``id`` echoed when the request had one):

- ``{"time","id","channel","event":"subscribe"|"unsubscribe","payload":[...]}``: the channel
  must be one of this endpoint's public channels (``order_book_update`` with payload
  ``[pair, "100ms"|"20ms"(, level)]``, ``book_ticker``/``trades``/``tickers`` with a list of
  pairs, ``candlesticks`` with ``[interval, pair]``) and every pair one the recording holds;
  otherwise the reply carries ``"error":{"code":2,"message":...}`` (Gate's code 2, "invalid
  argument"; the texts ``unknown currency pair X`` / ``unknown contract X`` name the pair; the
  futures text is not documented) and ``result: null``; a request that is not JSON or has no
  ``channel``/``event`` gets code 1 ("invalid request body"). Success: ``"error":null`` and
  ``"result":{"status":"success"}``.
- ``{"time","channel":"spot.ping"}`` (``futures.ping``): ``spot.pong`` with ``event`` ``""``.

REST: ``GET /api/v4/spot/order_book?currency_pair=X&limit=L&with_id=true`` and
``GET /api/v4/futures/usdt/order_book?contract=X&limit=L&with_id=true``, as of the replay
position (the method of ``venues/binance.py``): held until the replay reaches the recorded
snapshot's arrival; the recorded body while no later book message was replayed; after that a
body derived from the recorded snapshot and the recorded messages with ``u`` past its ``id``
(sizes absolute, 0 deletes, price/size values exactly as recorded), ``id`` = the last applied
``u``. Without ``with_id=true`` Gate sends no ``id``, and neither does the simulator. An unknown
pair answers HTTP 400 ``{"label":"INVALID_CURRENCY_PAIR","message":...}`` (futures
``CONTRACT_NOT_FOUND``). Instruments: ``/api/v4/spot/currency_pairs`` and
``/api/v4/futures/usdt/contracts`` list the recorded markets, with precisions derived from the
most decimals the recording writes (not Gate's values) and, for futures, no
``quanto_multiplier`` (the recording does not say it).

Gate's server sends WebSocket pings (the interval is not documented: 30 s here) and drops a
client that does not answer.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
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

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..recording import Recording, Snapshot
    from ..server import Simulator

_FRAMING = "v4"
_CANDLE_INTERVALS = ("10s", "1m", "5m", "15m", "30m", "1h", "4h", "8h", "1d", "7d", "30d")
_PAIR_LISTS = ("book_ticker", "trades", "tickers")


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def market_id_of_push(push: dict[str, Any]) -> str:
    """The market id one recorded ``update`` push is about (``result.s``, ``currency_pair``,
    ``contract`` or the candle name's tail). ``KeyError``/``TypeError``/``IndexError`` if none."""
    result = push["result"]
    name = push["channel"].partition(".")[2]
    first = result[0] if isinstance(result, list) else result
    if name == "candlesticks":
        return str(first["n"]).partition("_")[2]
    for key in ("s", "currency_pair", "contract"):
        if key in first:
            return str(first[key])
    raise KeyError("no market id in the push")


class GateWire(WireFormat):
    """Gate v4 pushes: the stream key is ``"<channel>:<market id>"``, the frame the line."""

    default_framing: Hashable = _FRAMING
    garbage_payload = b'{"time":'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(stream key, the line unchanged). Raises ``ValueError`` for a line that is no Gate
        ``update`` push."""
        try:
            push = json.loads(line)
            if push["event"] != "update":
                raise ValueError("not an update")
            return f"{push['channel']}:{market_id_of_push(push)}", line
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a Gate v4 push: {line[:80]!r}") from exc

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """``payload`` itself: Gate pushes carry their channel."""
        return payload


WIRE = GateWire()


@dataclass(frozen=True, kw_only=True)
class GateSpec(MarketSpec):
    """One Gate endpoint: ``prefix`` (``spot`` / ``futures``: its channel names), ``path`` (its
    WebSocket path), ``book_path`` and ``instruments_path`` (REST), ``pair_param`` (the REST
    order book's market parameter)."""

    prefix: str
    path: str
    book_path: str
    list_path: str
    pair_param: str

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`GateSim`; it takes no venue options (``TypeError`` for any)."""
        self.reject_unknown_options(options)
        return GateSim(self, sim)

    @property
    def futures(self) -> bool:
        """True for the futures endpoint."""
        return self.prefix == "futures"


def _demo_fault(stream: str) -> Callable[[Simulator], Drop]:
    """One book message of ``stream`` withheld halfway through (the next ``U`` skips past the
    book's id: a gap, then a REST snapshot bridges the book again)."""

    def fault(sim: Simulator) -> Drop:
        return Drop(stream=stream, skip=len(sim.recording.streams[stream].lines) // 2)

    return fault


_SPOT_SNAPSHOTS = {
    "BTC_USDC": ("gateio/spot_order_book_snapshot_btc_usdc_20210422.json", 58),
    "DIS_USDT": ("gateio/spot_order_book_snapshot_dis_usdt_20210422.json", 20),
    "FAST_USDT": ("gateio/spot_order_book_snapshot_fast_usdt_20210422.json", 3),
    "HAI_ETH": ("gateio/spot_order_book_snapshot_hai_eth_20210422.json", 1),
    "INK_USDT": ("gateio/spot_order_book_snapshot_ink_usdt_20210422.json", 5),
    "NANO_USDT": ("gateio/spot_order_book_snapshot_nano_usdt_20210422.json", 121),
    "OMG_USDT": ("gateio/spot_order_book_snapshot_omg_usdt_20210422.json", 4),
    "QTUM3S_USDT": ("gateio/spot_order_book_snapshot_qtum3s_usdt_20210422.json", 2),
}
_FUTURES_SNAPSHOTS = {
    "DIA_USDT": ("gateio/futures_order_book_snapshot_dia_usdt_20230524.json", 223),
    "FRONT_USDT": ("gateio/futures_order_book_snapshot_front_usdt_20230524.json", 5),
    "LIT_USDT": ("gateio/futures_order_book_snapshot_lit_usdt_20230524.json", 249),
    "OMG_USDT": ("gateio/futures_order_book_snapshot_omg_usdt_20230524.json", 4),
    "QUICK_USDT": ("gateio/futures_order_book_snapshot_quick_usdt_20230524.json", 19),
    "RDNT_USDT": ("gateio/futures_order_book_snapshot_rdnt_usdt_20230524.json", 1),
    "SFP_USDT": ("gateio/futures_order_book_snapshot_sfp_usdt_20230524.json", 137),
    "WOO_USDT": ("gateio/futures_order_book_snapshot_woo_usdt_20230524.json", 30),
    "ZRX_USDT": ("gateio/futures_order_book_snapshot_zrx_usdt_20230524.json", 65),
}

SPOT = GateSpec(
    name="gateio",
    exchange="gateio",
    market="spot",
    wire=WIRE,
    packaged=PackagedRecording(
        "gateio/spot_8pairs.jsonl.gz", "gateio/spot_8pairs.ts.gz", _SPOT_SNAPSHOTS
    ),
    ping_interval=30.0,
    pong_timeout=90.0,
    rate_limit=0,
    lifetime=None,
    prefix="spot",
    path="/ws/v4/",
    book_path="/api/v4/spot/order_book",
    list_path="/api/v4/spot/currency_pairs",
    pair_param="currency_pair",
    demo=DemoSpec(
        title="Gate spot",
        symbol="OMG/USDT",
        channels=("book", "trades"),
        fault=_demo_fault("spot.order_book_update:OMG_USDT"),
        fault_text="a dropped book message",
    ),
)

LINEAR = GateSpec(
    name=market_name("gateio", "linear", "spot"),
    exchange="gateio",
    market="linear",
    wire=WIRE,
    packaged=PackagedRecording(
        "gateio/linear_9contracts.jsonl.gz", "gateio/linear_9contracts.ts.gz", _FUTURES_SNAPSHOTS
    ),
    ping_interval=30.0,
    pong_timeout=90.0,
    rate_limit=0,
    lifetime=None,
    prefix="futures",
    path="/v4/ws/usdt",
    book_path="/api/v4/futures/usdt/order_book",
    list_path="/api/v4/futures/usdt/contracts",
    pair_param="contract",
    demo=DemoSpec(
        title="Gate USDT futures",
        symbol="OMG/USDT:USDT",
        channels=("book", "bbo"),
        fault=_demo_fault("futures.order_book_update:OMG_USDT"),
        fault_text="a dropped book message",
    ),
)

SPECS = (SPOT, LINEAR)


def _level(row: Any) -> tuple[str, Any]:
    """(price text, size as recorded) of a spot ``[p, s]`` or futures ``{"p","s"}`` level."""
    if isinstance(row, dict):
        return str(row["p"]), row["s"]
    return str(row[0]), row[1]


class SnapshotSource:
    """One market's REST order book at any (non-decreasing) replay position (see the module
    docstring, "REST")."""

    def __init__(self, rec: Recording, snap: Snapshot, futures: bool):
        self.rec = rec
        self.snap = snap
        self.futures = futures
        channel = "futures.order_book_update" if futures else "spot.order_book_update"
        sd = rec.streams.get(f"{channel}:{snap.symbol}")
        self.book_lines = list(sd.lines) if sd is not None else []
        self._parsed = json.loads(snap.body)
        self.snapshot_id = int(self._parsed["id"])
        self.reset()

    def reset(self) -> None:
        """Forget derived state (the replay was rewound)."""
        self._bids = dict(_level(r) for r in self._parsed["bids"])
        self._asks = dict(_level(r) for r in self._parsed["asks"])
        self._cursor = 0
        self._last: dict[str, Any] | None = None

    def recorded_is_current(self, position: int) -> bool:
        """True while no book message received after the snapshot has been replayed."""
        k = bisect.bisect_left(self.book_lines, self.snap.after_line)
        return k >= len(self.book_lines) or self.book_lines[k] >= position

    def body(self, position: int, limit: int, with_id: bool) -> bytes:
        """The order book body at replay ``position`` with ``limit`` levels per side."""
        if self.recorded_is_current(position):
            head = {k: v for k, v in self._parsed.items() if k not in ("bids", "asks")}
            bids, asks = self._parsed["bids"], self._parsed["asks"]
        else:
            last = self._advance(position)
            head = {"id": self.snapshot_id if last is None else last["u"]}
            if last is not None:
                t = last["t"]
                head["current"] = head["update"] = t / 1000 if self.futures else t
            ordered_bids = sorted(self._bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)
            ordered_asks = sorted(self._asks.items(), key=lambda kv: Decimal(kv[0]))
            bids = [self._row(p, s) for p, s in ordered_bids]
            asks = [self._row(p, s) for p, s in ordered_asks]
        if not with_id:
            head.pop("id", None)
        out = {**head, "asks": asks[:limit], "bids": bids[:limit]}
        return _dump(out)

    def _row(self, price: str, size: Any) -> Any:
        return {"p": price, "s": size} if self.futures else [price, size]

    def _advance(self, position: int) -> dict[str, Any] | None:
        """Apply the book messages on lines < ``position`` past the snapshot's id."""
        last_id = self.snapshot_id if self._last is None else self._last["u"]
        while self._cursor < len(self.book_lines) and self.book_lines[self._cursor] < position:
            ev = self.rec.parsed(self.book_lines[self._cursor])["result"]
            self._cursor += 1
            if ev["u"] <= last_id:
                continue
            for side, rows in ((self._bids, ev.get("b", [])), (self._asks, ev.get("a", []))):
                for row in rows:
                    price, size = _level(row)
                    if Decimal(str(size)) == 0:
                        side.pop(price, None)
                    else:
                        side[price] = size
            self._last, last_id = ev, ev["u"]
        return self._last


class GateSim(VenueSim):
    """Gate v4's public protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring)."""

    spec: GateSpec

    def __init__(self, spec: GateSpec, sim: Simulator):
        super().__init__(spec, sim)
        self.sources: dict[str, SnapshotSource] = {}
        #: REST market requests answered per endpoint (``order_book``, ``candlesticks``)
        self.market_requests: dict[str, int] = {}

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """The market's path (``?subscribe=a,b``: streams subscribed by the URL)."""
        if path != self.spec.path:
            return None
        streams = [s for s in query.get("subscribe", "").split(",") if s]
        return WsEndpoint(self.spec.market, _FRAMING, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``<path>?subscribe=a,b`` (simulator-only)."""
        return f"{self.spec.path}?subscribe={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """The market's path (``stream``: subscribed by the URL)."""
        return self.spec.path if stream is None else self.stream_path([stream])

    def market_id_of(self, stream: str) -> str | None:
        """``OMG_USDT`` for ``spot.order_book_update:OMG_USDT``."""
        return stream.partition(":")[2] or None

    def _reply(self, req: Mapping[str, Any], channel: str, event: str, **fields: Any) -> bytes:
        now = time.time_ns()
        body: dict[str, Any] = {"time": now // 1_000_000_000, "time_ms": now // 1_000_000}
        if "id" in req:
            body["id"] = req["id"]
        body.update(channel=channel, event=event, **fields)
        return _dump(body)

    def _error(self, req: Mapping[str, Any], code: int, message: str) -> Outcome:
        channel = req.get("channel") if isinstance(req.get("channel"), str) else ""
        event = req.get("event") if isinstance(req.get("event"), str) else ""
        error = {"code": code, "message": message}
        return Outcome([self._reply(req, str(channel), str(event), error=error, result=None)])

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: ARG002
        """Subscribe, unsubscribe and ping (see the module docstring)."""
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        if not isinstance(req, dict) or not isinstance(req.get("channel"), str):
            return self._error({}, 1, "invalid request body")
        channel: str = req["channel"]
        prefix = self.spec.prefix + "."
        if channel == prefix + "ping":
            return Outcome(
                [self._reply(req, prefix + "pong", "", error=None, result=None)], keepalive=True
            )
        event = req.get("event")
        if event not in ("subscribe", "unsubscribe"):
            return self._error(req, 1, f"invalid event {event!r}")
        streams = self._streams(channel, req.get("payload"))
        if isinstance(streams, str):
            return self._error(req, 2, streams)
        ack = self._reply(req, channel, event, error=None, result={"status": "success"})
        if event == "subscribe":
            return Outcome([ack], subscribe=streams)
        return Outcome([ack], unsubscribe=streams)

    def _streams(self, channel: str, payload: Any) -> list[str] | str:  # noqa: PLR0911 - one return per refusal
        """The stream keys ``payload`` names on ``channel``, or the error message."""
        prefix, _, name = channel.partition(".")
        if prefix != self.spec.prefix or name not in (
            "order_book_update",
            "candlesticks",
            *_PAIR_LISTS,
        ):
            return f"unknown channel {channel}"
        if not isinstance(payload, list) or not all(isinstance(p, str) for p in payload):
            return "payload must be a list of strings"
        if name == "order_book_update":
            levels_ok = len(payload) == 2 or (self.spec.futures and len(payload) == 3)
            if not levels_ok or payload[1] not in ("100ms", "20ms"):
                return f"invalid payload {payload}"
            pairs = payload[:1]
        elif name == "candlesticks":
            if len(payload) != 2 or payload[0] not in _CANDLE_INTERVALS:
                return f"invalid payload {payload}"
            pairs = payload[1:]
        else:
            pairs = payload
        if not pairs:
            return "payload must name at least one pair"
        held = set(self.sim.symbols)
        for pair in pairs:
            if pair not in held:
                what = "contract" if self.spec.futures else "currency pair"
                return f"unknown {what} {pair}"
        return [f"{channel}:{p}" for p in pairs]

    # ---- REST ------------------------------------------------------------------------------
    @property
    def snapshot_path(self) -> str:
        """The REST order book path."""
        return self.spec.book_path

    @property
    def instruments_path(self) -> str:
        """The REST instrument list path."""
        return self.spec.list_path

    def rest_handler(self, path: str) -> RestHandler | None:
        """The order book and the instrument list, else None."""
        if path == self.spec.book_path:
            return self.order_book
        if path == self.spec.book_path.replace("order_book", "candlesticks"):
            return self.candlesticks
        if path == self.spec.list_path:

            async def answer(request: web.Request) -> web.StreamResponse:  # noqa: ARG001
                return self.instruments()

            return answer
        return None

    @staticmethod
    def _rest_error(label: str, message: str, status: int = 400) -> web.Response:
        body = _dump({"label": label, "message": message})
        return web.Response(status=status, body=body, content_type="application/json")

    async def order_book(self, request: web.Request) -> web.StreamResponse:
        """The order book at the replay position (see the module docstring, "REST")."""
        sim = self.sim
        sim.rest_requests += 1
        self.market_requests["order_book"] = self.market_requests.get("order_book", 0) + 1
        q = request.query
        pair = q.get(self.spec.pair_param, "")
        src = self.sources.get(pair)
        if src is None:
            if self.spec.futures:
                return self._rest_error("CONTRACT_NOT_FOUND", f"Contract {pair} not found")
            return self._rest_error("INVALID_CURRENCY_PAIR", f"Invalid currency pair {pair}")
        try:
            limit = int(q.get("limit", "10"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= (300 if self.spec.futures else 1000):
            return self._rest_error("INVALID_PARAM_VALUE", f"Invalid limit {q.get('limit')}")
        delay = sim.snapshot_delays.take()
        clock = sim.started_replay()
        position = await clock.wait_position(src.snap.after_line)
        if not src.recorded_is_current(position):
            position = clock.position
        body = src.body(position, limit, q.get("with_id") == "true")
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=body, content_type="application/json")

    async def candlesticks(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v4/spot/candlesticks`` / ``/futures/usdt/candlesticks`` (pair or
        contract, ``interval``, ``limit`` default 100, at most 1000), oldest first: the latest
        state of each recorded ``candlesticks`` candle of that interval published so far. Spot
        rows ``[t, v, c, h, l, o]`` (strings: the 6 columns Gate sent when the packaged 2021
        recording was made, whose pushes carry no base amount), futures objects ``{"t","v",
        "c","h","l","o"}``. Counted in ``market_requests["candlesticks"]``."""
        self.market_requests["candlesticks"] = self.market_requests.get("candlesticks", 0) + 1
        q = request.query
        pair, interval = q.get(self.spec.pair_param, ""), q.get("interval", "1m")
        if pair not in self.sim.symbols:
            return self._rest_error("INVALID_CURRENCY_PAIR", f"Invalid currency pair {pair}")
        try:
            limit = max(1, min(int(q.get("limit", "100")), 1000))
        except ValueError:
            return self._rest_error("INVALID_PARAM_VALUE", f"Invalid limit {q.get('limit')}")
        rec, pos = self.sim.recording, self.sim.position
        latest: dict[int, dict[str, Any]] = {}
        sd = rec.streams.get(f"{self.spec.prefix}.candlesticks:{pair}")
        for line in sd.lines if sd is not None else []:
            if line >= pos:
                break
            result = rec.parsed(line)["result"]
            for c in result if isinstance(result, list) else [result]:
                if c.get("n") == f"{interval}_{pair}":
                    latest[int(c["t"])] = c
        picked = [latest[t] for t in sorted(latest)][-limit:]
        rows: list[Any]
        if self.spec.futures:
            rows = [{k: c[k] for k in ("t", "v", "c", "h", "l", "o")} for c in picked]
        else:
            rows = [[str(c[k]) for k in ("t", "v", "c", "h", "l", "o")] for c in picked]
        return web.Response(body=_dump(rows), content_type="application/json")

    def _widths(self, market_id: str) -> tuple[int, int]:
        """Most decimals the recording writes in ``market_id``'s book prices and sizes."""
        price = size = 0
        rec = self.sim.recording
        sd = rec.streams.get(f"{self.spec.prefix}.order_book_update:{market_id}")
        for line in sd.lines if sd is not None else []:
            result = rec.parsed(line)["result"]
            for row in [*result.get("b", []), *result.get("a", [])]:
                p, s = _level(row)
                price = max(price, len(p.partition(".")[2]))
                size = max(size, len(str(s).partition(".")[2]))
        return price, size

    def instruments(self) -> web.Response:
        """Gate's currency pair / contract list for the recorded markets (see the module
        docstring); ``exchange_info_status`` other than 200 answers that status."""
        sim = self.sim
        sim.exchange_info_requests += 1
        if sim.exchange_info_status != 200:
            return self._rest_error(
                "SERVER_ERROR", "Internal server error", sim.exchange_info_status
            )
        entries: list[dict[str, Any]] = []
        for mid in sim.symbols:
            base, _, quote = mid.partition("_")
            pw, sw = self._widths(mid)
            status = sim.symbol_status.get(mid, "tradable")
            if self.spec.futures:
                entries.append(
                    {
                        "name": mid,
                        "type": "direct",
                        "order_price_round": format(Decimal(1).scaleb(-pw), "f"),
                        "order_size_min": 1,
                        "in_delisting": status != "tradable",
                    }
                )
            else:
                entries.append(
                    {
                        "id": mid,
                        "base": base,
                        "quote": quote,
                        "precision": pw,
                        "amount_precision": sw,
                        "trade_status": status,
                    }
                )
        return web.Response(body=_dump(entries), content_type="application/json")

    def url_lines(self) -> list[str]:
        """The WebSocket endpoint, the order book and instrument URLs."""
        sim = self.sim
        out = [
            f"  websocket  {sim.ws_url}{self.spec.path}  (send a Gate subscribe request)",
            f"  all streams {sim.stream_url()}",
        ]
        out.extend(
            f"  rest book  {sim.depth_url}?{self.spec.pair_param}={mid}&limit=100&with_id=true"
            for mid in sim.recording.snapshots
        )
        out.append(f"  rest info  {sim.exchange_info_url}")
        return out

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the recorded order book snapshots."""
        rec = self.sim.recording
        self.sources = {
            mid: SnapshotSource(rec, snap, self.spec.futures) for mid, snap in rec.snapshots.items()
        }

    def rewound(self) -> None:
        """Forget derived books."""
        for src in self.sources.values():
            src.reset()
