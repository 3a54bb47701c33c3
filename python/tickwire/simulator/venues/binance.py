"""Binance spot (``binance``) and USD-M futures (``binanceusdm``) in the simulator.

Sources: docs/exchanges/binance.md §1-§4, binance-spot-api-docs web-socket-streams.md.

Endpoints: combined ``/stream?streams=a/b`` and raw ``/ws`` / ``/ws/<stream>`` (USD-M also
under the ``/public`` and ``/market`` routes, see :func:`usdm_route_of`), server pings with pong
timeouts, the control-message rate limit, a 24 h connection lifetime, and the
``{"e":"serverShutdown"}`` maintenance notice.

Recording lines are combined-stream frames, ``{"stream":"ethusdt@depth@100ms","data":{...}}``;
only the envelope is looked at when loading (the stream name and the byte span of ``data``).
A combined connection receives the envelope, a raw one ``data`` alone.

Control messages: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY.
Replies, as Binance sends them: success ``{"result":null,"id":1}`` (``result`` is the list for
LIST_SUBSCRIPTIONS and the value for GET_PROPERTY); errors carry ``code`` 0..3 and ``msg``.
On the wire Binance nests errors, ``{"error":{"code":2,"msg":"..."},"id":1}`` (seen in captured
traffic), while its doc table prints them flat, ``{"code":2,"msg":"..."}``; the simulator option
``error_format`` selects ``"nested"`` (default) or ``"flat"``. Binance acknowledges any
well-formed stream name, even one that does not exist (it then sends nothing); a malformed name
is rejected with code 2 "Invalid request: invalid stream".

REST: the depth snapshot (``/api/v3/depth``, ``/fapi/v1/depth``) as of the replay position,
``exchangeInfo`` listing the recorded markets, past trades (``historicalTrades`` /
``aggTrades``), candles (``klines``, from the recorded kline events published so far),
``ping`` and ``time``; for the REST fallback the latest trades (``trades``)
and the book ticker (``ticker/bookTicker``: the last recorded ``@bookTicker`` event published
so far in REST shape, else the top of the depth snapshot at the replay position), with
``BinanceRest.poll_failures`` to answer them 429/418 with ``Retry-After``.

Private side (:class:`BinanceAccountSide`, on the generic account engine of ``account.py``):
the spot WebSocket API ``/ws-api/v3`` (``session.logon`` for Ed25519 keys,
``userDataStream.subscribe[.signature]``), USD-M listen keys (``POST/PUT/DELETE
/fapi/v1/listenKey``, 60 min TTL, ``/private/ws?listenKey=`` and ``/ws/<key>``,
``listenKeyExpired``), user-data events as Binance shapes them, and the signed REST lists
(``myTrades`` / ``userTrades``, ``allOrders``, ``openOrders``), each request checked as Binance
does (key, ``recvWindow`` window, HMAC or Ed25519 signature) with its real error replies.

REST depth snapshots "as of the replay position", from the recording's own data: the recording
holds one real snapshot per symbol. While it is the current state of the book (the replay has
reached the line after which it was received, and no later depth diff has been replayed yet)
it is served byte-for-byte. Later, a client that lost deltas (a gap, a reconnect) could not
bridge from it any more, so the simulator *derives* a snapshot: it applies the recording's own
diffs with ``u > lastUpdateId`` (Binance's bridging rule, quantities absolute, zero deletes)
onto the recorded snapshot up to the replay position. The derived body has the same shape as
Binance's (``lastUpdateId`` = ``u`` of the last applied diff; USD-M adds ``E`` and ``T`` of
that diff), keeps price/quantity strings exactly as recorded, and is truncated to the requested
limit. Only levels the recorded snapshot or the diffs mention are known, so the deepest levels
of a derived book can miss levels Binance would have listed.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from ..faults import CloseAfter, Drop, SnapshotFailure
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
    from collections.abc import Iterable

    from ..account import AccountChange, AccountMarket, MarketTrade, SimAccount
    from ..connection import ServerConnection
    from ..recording import Recording, Snapshot
    from ..server import Simulator

_ENVELOPE_PREFIX = b'{"stream":"'


class BinanceWire(WireFormat):
    """Combined-stream recording lines; framing ``True`` = combined envelope, ``False`` = raw
    ``data`` (a connection switches with SET_PROPERTY ``combined``)."""

    default_framing: Hashable = True
    garbage_payload = _ENVELOPE_PREFIX

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(stream name, exact bytes of ``data``) of one combined-stream line. Raises
        ``ValueError`` if ``line`` is no combined-stream frame."""
        if line.startswith(_ENVELOPE_PREFIX):
            end = line.find(b'"', len(_ENVELOPE_PREFIX))
            name = line[len(_ENVELOPE_PREFIX) : end]
            head = _ENVELOPE_PREFIX + name + b'","data":'
            if line.startswith(head) and line.endswith(b"}"):
                return name.decode(), line[len(head) : -1]
        # Not in the compact form: fall back to parsing (data re-serialized compactly).
        try:
            obj = json.loads(line)
            return obj["stream"], json.dumps(obj["data"], separators=(",", ":")).encode()
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a combined-stream frame: {line[:80]!r}") from exc

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:
        """The combined envelope around ``payload`` if ``framing`` is true, else ``payload``."""
        if framing:
            return _ENVELOPE_PREFIX + stream.encode() + b'","data":' + payload + b"}"
        return payload


WIRE = BinanceWire()


@dataclass(frozen=True, kw_only=True)
class BinanceSpec(MarketSpec):
    """What differs between Binance spot and USD-M market-data servers.

    ``routes`` are path prefixes that accept WebSocket connections (``<prefix>/ws``,
    ``<prefix>/ws/<stream>``, ``<prefix>/stream?streams=``); the empty prefix is the unrouted
    endpoint. ``futures``: the USD-M shapes (REST bodies, the ``/public`` / ``/market`` split).
    """

    futures: bool
    depth_path: str  # REST depth snapshot endpoint
    rest_prefix: str  # /api/v3 or /fapi/v1 (ping/time live there too)
    routes: tuple[str, ...]
    close_on_invalid_json: bool  # USD-M changelog 2023-06-22: invalid JSON disconnects
    depth_limits: tuple[int, ...] | None  # allowed REST limits (None: 1..max_depth_limit)
    default_depth_limit: int
    max_depth_limit: int
    weight_per_minute: int  # REST request-weight limit, shown in exchangeInfo's rateLimits
    historical_trades_need_key: bool  # historicalTrades is MARKET_DATA (X-MBX-APIKEY) on USD-M

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`BinanceSim`; the one option is ``error_format`` ("nested" or "flat")."""
        self.reject_unknown_options(options, {"error_format"})
        error_format = options.get("error_format", "nested")
        if not isinstance(error_format, str):
            raise ValueError("error_format must be 'nested' or 'flat'")
        return BinanceSim(self, sim, error_format)


def _packaged(market: str, after_line: int) -> PackagedRecording:
    """The ETHUSDT 2024-08-08 recording of ``market`` (snapshot position from SOURCES.md)."""
    base = f"{market}/ethusdt_20240808"
    return PackagedRecording(
        f"{base}.jsonl.gz",
        f"{base}.ts.gz",
        {"ETHUSDT": (f"{base}_depth_snapshot.json", after_line)},
    )


def _spot_demo_fault(sim: Simulator) -> CloseAfter:
    """A disconnect after two fifths of the recording's messages (the feed reconnects, syncs
    from a fresh REST snapshot and fetches the trades it missed)."""
    return CloseAfter(len(sim.recording) * 2 // 5)


def _usdm_demo_fault(sim: Simulator) -> Drop:  # noqa: ARG001 - the fault needs no position
    """One depth diff withheld (the next one's ``pu`` no longer chains: a gap, then a resync
    from a REST snapshot)."""
    return Drop(stream="ethusdt@depth@0ms", skip=1800)


SPOT = BinanceSpec(
    name="binance",
    exchange="binance",
    market="spot",
    wire=WIRE,
    packaged=_packaged("binance", 5),
    ping_interval=20.0,
    pong_timeout=60.0,
    unsolicited_pong_counts=False,
    rate_limit=5,
    lifetime=24 * 3600.0,
    futures=False,
    depth_path="/api/v3/depth",
    rest_prefix="/api/v3",
    routes=("",),
    close_on_invalid_json=False,
    depth_limits=None,
    default_depth_limit=100,
    max_depth_limit=5000,
    weight_per_minute=6000,
    historical_trades_need_key=False,
    demo=DemoSpec(
        title="Binance spot",
        symbol="ETH/USDT",
        fault=_spot_demo_fault,
        fault_text="a disconnect",
    ),
)

USDM = BinanceSpec(
    name="binanceusdm",
    exchange="binanceusdm",
    market="linear",
    wire=WIRE,
    packaged=_packaged("binanceusdm", 40),
    ping_interval=180.0,
    pong_timeout=600.0,
    unsolicited_pong_counts=True,
    rate_limit=10,
    lifetime=24 * 3600.0,
    futures=True,
    depth_path="/fapi/v1/depth",
    rest_prefix="/fapi/v1",
    routes=("", "/public", "/market"),
    close_on_invalid_json=True,
    depth_limits=(5, 10, 20, 50, 100, 500, 1000),
    default_depth_limit=500,
    max_depth_limit=1000,
    weight_per_minute=2400,
    historical_trades_need_key=True,
    demo=DemoSpec(
        title="Binance USD-M",
        symbol="ETH/USDT:USDT",
        fault=_usdm_demo_fault,
        fault_text="a dropped depth diff",
    ),
)

SPECS = (SPOT, USDM)


def usdm_route_of(stream: str) -> str:
    """Which USD-M route carries ``stream``: "/public" (book tickers and depth) or "/market".

    Per the USD-M endpoint split [F1, F2]: high-frequency book streams are on ``/public``,
    everything else on ``/market``; the unrouted endpoint delivers only ``/public`` streams.
    """
    if stream == "!bookTicker":
        return "/public"
    kind = stream.split("@", 2)[1] if "@" in stream else ""
    if kind == "bookTicker" or kind.startswith("depth"):
        return "/public"
    return "/market"


def split_market_id(market: str, market_id: str) -> tuple[str, str] | None:
    """``("LRC", "BTC")`` for ``"LRCBTC"`` on ``market`` ("binance", "binanceusdm"), read with the
    decoder's own market id -> unified symbol mapping (a delivery suffix ``_YYMMDD`` is ignored);
    None when the id does not end in a quote asset the decoder knows."""
    from ..._core import unified_symbol

    symbol = unified_symbol(market, market_id)
    if "/" not in symbol:
        return None
    base, rest = symbol.split("/", 1)
    return base, rest.split(":", 1)[0]


# ---- control messages ------------------------------------------------------------------
_INVALID_REQUEST = (1008, "Invalid request")  # close code and reason after a fatal reply
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")

# A stream name: optional "!" then word characters, and "@"-separated parts (kline time zones
# such as "@+08:00" included). Requires an "@" unless it starts with "!" (e.g. "!bookTicker").
_STREAM_RE = re.compile(r"^(?:![A-Za-z0-9_]+|[A-Za-z0-9_]+@[A-Za-z0-9_+:]+)(?:@[A-Za-z0-9_+:]+)*$")
_ID_STR_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")  # alphanumeric; UUIDs too


def valid_stream_name(name: object) -> bool:
    """True if Binance would accept ``name`` syntactically (existence is not checked)."""
    return isinstance(name, str) and bool(_STREAM_RE.match(name))


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class ControlHandler:
    """Turns one incoming text payload into an :class:`~tickwire.simulator.venue.Outcome` for a connection
    (see the module docstring, "Control messages")."""

    def __init__(self, error_format: str = "nested", close_on_invalid_json: bool = False):
        if error_format not in ("nested", "flat"):
            raise ValueError("error_format must be 'nested' or 'flat'")
        self.error_format = error_format
        self.close_on_invalid_json = close_on_invalid_json

    def error(self, code: int, msg: str, req_id: object = ..., close: bool = False) -> Outcome:
        """An error reply (code 0..3, ``msg``) in the configured format; ``req_id`` echoed
        unless omitted (``...``); ``close``: disconnect after replying."""
        if self.error_format == "nested":
            body: dict[str, Any] = {"error": {"code": code, "msg": msg}}
        else:
            body = {"code": code, "msg": msg}
        if req_id is not ...:
            body["id"] = req_id
        return Outcome([_dump(body)], close=_INVALID_REQUEST if close else None)

    def handle(self, text: str, subscriptions: list[str], combined: bool) -> Outcome:
        """Process one request given the connection's current subscriptions and mode."""
        req = self._request(text)
        if isinstance(req, Outcome):
            return req
        req_id, method = req["id"], req["method"]
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(valid_stream_name(p) for p in params):
                return self.error(2, "Invalid request: invalid stream", req_id)
            ok = [_dump({"result": None, "id": req_id})]
            if method == "SUBSCRIBE":
                return Outcome(ok, subscribe=list(params))
            return Outcome(ok, unsubscribe=list(params))
        if method == "LIST_SUBSCRIPTIONS":
            return Outcome([_dump({"result": list(subscriptions), "id": req_id})])
        return self._property(method, params, req_id, combined)

    def _request(self, text: str) -> dict[str, Any] | Outcome:
        """The request object of ``text`` with a valid ``id`` and known ``method``, or the error
        reply Binance sends for it."""
        try:
            req = json.loads(text)
        except ValueError as exc:
            return self._invalid_json(exc)
        if not isinstance(req, dict):
            return self.error(2, "Invalid request: expected a JSON object")
        if "method" not in req:
            return self.error(2, "Invalid request: missing field `method`", req.get("id", ...))
        if not _valid_id(req.get("id", ...)):
            return self.error(2, "Invalid request: request ID must be an unsigned integer")
        if req["method"] not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            return self.error(
                2,
                f"Invalid request: unknown variant `{req['method']}`, expected one of {expected}",
                req["id"],
            )
        return req

    def _invalid_json(self, exc: ValueError) -> Outcome:
        line = getattr(exc, "lineno", 1)
        col = getattr(exc, "colno", 1)
        return self.error(
            3,
            f"Invalid JSON: expected value at line {line} column {col}",
            close=self.close_on_invalid_json,
        )

    def _property(self, method: str, params: object, req_id: object, combined: bool) -> Outcome:
        """SET_PROPERTY / GET_PROPERTY: the only property is "combined"."""
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            return self.error(2, "Invalid request: property name must be a string", req_id)
        if params[0] != "combined":
            return self.error(0, "Unknown property", req_id)
        max_params = 1 if method == "GET_PROPERTY" else 2
        if len(params) > max_params:
            return self.error(2, "Invalid request: too many parameters", req_id)
        if method == "GET_PROPERTY":
            return Outcome([_dump({"result": combined, "id": req_id})])
        if len(params) < 2 or not isinstance(params[1], bool):
            return self.error(1, "Invalid value type: expected Boolean", req_id)
        return Outcome([_dump({"result": None, "id": req_id})], framing=params[1])


def _valid_id(req_id: object) -> bool:
    """Binance's rule for a request id: null, a signed 64-bit integer, or a short
    alphanumeric string (UUIDs included)."""
    if req_id is None:
        return True
    if isinstance(req_id, int) and not isinstance(req_id, bool):
        return -(2**63) <= req_id < 2**63
    return isinstance(req_id, str) and bool(_ID_STR_RE.match(req_id))


# ---- REST --------------------------------------------------------------------------------
class SnapshotSource:
    """Serves one symbol's depth snapshot for any (non-decreasing) replay position (see the
    module docstring, "REST depth snapshots"). Raises ``ValueError`` if the recorded body is
    not JSON with ``lastUpdateId``."""

    def __init__(self, rec: Recording, snap: Snapshot, futures: bool):
        self.rec = rec
        self.snap = snap
        self.futures = futures
        low = snap.symbol.lower()
        lines: list[int] = []
        for name, sd in rec.streams.items():
            if sd.source is None and _DIFF_DEPTH.match(name) and name.split("@", 1)[0] == low:
                lines.extend(sd.lines)
        self.diff_lines = sorted(lines)
        self._parsed = json.loads(snap.body)
        try:
            self.last_update_id = int(self._parsed["lastUpdateId"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{snap.symbol} snapshot has no integer lastUpdateId") from exc
        self.reset()

    def reset(self) -> None:
        """Forget derived state (used when the replay is rewound)."""
        self._bids = dict(self._parsed["bids"])
        self._asks = dict(self._parsed["asks"])
        self._cursor = 0  # index into diff_lines of the next diff to consider
        self._last: dict[str, Any] | None = None  # last applied diff

    def recorded_is_current(self, position: int) -> bool:
        """True while no diff received after the snapshot has been replayed yet."""
        k = bisect.bisect_left(self.diff_lines, self.snap.after_line)
        return k >= len(self.diff_lines) or self.diff_lines[k] >= position

    def recorded_body(self, limit: int) -> bytes:
        """The recorded snapshot: byte-for-byte if ``limit`` covers it, else truncated."""
        n_rec = max(len(self._parsed["bids"]), len(self._parsed["asks"]))
        if limit >= n_rec:
            return self.snap.body
        return self._encode(self._parsed, self._parsed["bids"], self._parsed["asks"], limit)

    def body(self, position: int, limit: int, prefer_recorded: bool = True) -> bytes:
        """Response body at replay ``position`` (lines replayed) with ``limit`` levels per side.

        The recorded body while it is current (if ``prefer_recorded``) or when no diff beyond
        it has been replayed; otherwise the derived book. ``position`` should not be smaller
        than in an earlier call (derivation only moves forward; a smaller one gets the newer
        book).
        """
        if prefer_recorded and self.recorded_is_current(position):
            return self.recorded_body(limit)
        last = self._advance(position)
        if last is None:
            return self.recorded_body(limit)
        bids = sorted(self._bids.items(), key=lambda kv: float(kv[0]), reverse=True)
        asks = sorted(self._asks.items(), key=lambda kv: float(kv[0]))
        head = {"lastUpdateId": last["u"]}
        if self.futures:
            head["E"] = last.get("E")
            head["T"] = last.get("T")
        return self._encode(head, [list(x) for x in bids], [list(x) for x in asks], limit)

    def _advance(self, position: int) -> dict[str, Any] | None:
        """Apply diffs on lines < position; the last diff beyond the snapshot applied so far
        (None if none was)."""
        last_id = self.last_update_id
        while self._cursor < len(self.diff_lines) and self.diff_lines[self._cursor] < position:
            ev = self.rec.parsed(self.diff_lines[self._cursor])
            self._cursor += 1
            if ev["u"] <= last_id or (self._last is not None and ev["u"] <= self._last["u"]):
                continue
            for side, levels in ((self._bids, ev["b"]), (self._asks, ev["a"])):
                for p, q in levels:
                    if float(q) == 0.0:
                        side.pop(p, None)
                    else:
                        side[p] = q
            self._last = ev
        return self._last

    @staticmethod
    def _encode(
        head: dict[str, Any], bids: list[list[str]], asks: list[list[str]], limit: int
    ) -> bytes:
        out = {k: v for k, v in head.items() if k not in ("bids", "asks")}
        out["bids"] = bids[:limit]
        out["asks"] = asks[:limit]
        return json.dumps(out, separators=(",", ":")).encode()


_DIFF_DEPTH = re.compile(r"^[a-z0-9_]+@depth(@\d+ms)?$")


JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
_SYMBOL = re.compile(r"^[A-Z0-9-_.]{1,20}$")  # Binance's legal range for a symbol parameter
_INTERNAL_ERROR = "Internal error; unable to process your request. Please try again."
# Binance's kline intervals (binance.md: 1s..1M); others answer -1120.
_KLINE_INTERVALS = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d"}
    | {"1w", "1M"}
)


def rest_error(code: int, msg: str, status: int = 400) -> web.Response:
    """Binance's error reply: ``{"code": code, "msg": msg}`` with HTTP ``status``."""
    body = json.dumps({"code": code, "msg": msg}).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": JSON_CONTENT_TYPE})


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, headers={"Content-Type": JSON_CONTENT_TYPE})


class BinanceRest:
    """The REST endpoints of one Binance market on a :class:`~tickwire.simulator.Simulator` (see the
    module docstring, "REST"). Every answer is built from the simulator's recording and replay
    position; failures answer with Binance's error body ``{"code": -1121, "msg": "Invalid
    symbol."}`` and its HTTP status.

    The request counters live on the simulator (``rest_requests``, ``exchange_info_requests``,
    ``past_trades_requests``), where tests read them.
    """

    def __init__(self, sim: Simulator, spec: BinanceSpec) -> None:
        self.sim = sim
        self.spec = spec
        self.sources: dict[str, SnapshotSource] = {}  # market id -> depth snapshots
        # REST fallback polls: requests per endpoint, (monotonic time, endpoint, status) of
        # each, and failures to answer them with (status, Retry-After), one per request
        self.poll_requests: Counter[str] = Counter()
        self.poll_log: list[tuple[float, str, int]] = []
        self.poll_failures: deque[SnapshotFailure] = deque()

    def started(self) -> None:
        """Index the recorded snapshots (the recording is bound by now)."""
        rec = self.sim.recording
        self.sources = {
            sym: SnapshotSource(rec, snap, self.spec.futures) for sym, snap in rec.snapshots.items()
        }

    def rewound(self) -> None:
        """Forget the books derived from later lines."""
        for src in self.sources.values():
            src.reset()

    def route(self, path: str) -> str | None:
        """The endpoint name serving ``path`` ("depth", "exchangeInfo", "historicalTrades",
        "aggTrades", "klines", "trades", "bookTicker", "ping", "time"), or None if ``path`` is
        no REST endpoint."""
        spec = self.spec
        if path == spec.depth_path:
            return "depth"
        prefix, _, name = path.rpartition("/")
        if prefix == spec.rest_prefix and name in (
            "exchangeInfo",
            "historicalTrades",
            "aggTrades",
            "klines",
            "trades",
            "ping",
            "time",
        ):
            return name
        if path == f"{spec.rest_prefix}/ticker/bookTicker":
            return "bookTicker"
        return None

    async def handle(self, endpoint: str, request: web.Request) -> web.Response:
        """Answer ``request`` for ``endpoint`` (a name returned by :meth:`route`)."""
        if endpoint == "depth":
            return await self.depth(request)
        if endpoint == "exchangeInfo":
            return self.exchange_info(request)
        if endpoint in ("trades", "bookTicker") or (
            endpoint == "aggTrades" and "fromId" not in request.query
        ):
            return self.poll(endpoint, request)
        if endpoint in ("historicalTrades", "aggTrades"):
            return self.past_trades(request, aggregated=endpoint == "aggTrades")
        if endpoint == "klines":
            return self.klines(request)
        return self.ping_or_time(endpoint)

    def ping_or_time(self, endpoint: str) -> web.Response:
        """``ping`` (``{}``) or ``time``: the exchange clock (a ClockSkew fault shifts it)."""
        if endpoint == "ping":
            return _json(b"{}")
        return _json(json.dumps({"serverTime": self.sim.accounts.now_ms()}).encode())

    def poll(self, endpoint: str, request: web.Request) -> web.Response:
        """A request the REST fallback polls (``trades``, ``bookTicker``, ``aggTrades`` without
        ``fromId``): logged in ``poll_requests`` / ``poll_log``, answered with the next of
        ``poll_failures`` if any (its status, ``Retry-After`` when it has one)."""
        self.poll_requests[endpoint] += 1
        failure = self.poll_failures.popleft() if self.poll_failures else None
        self.poll_log.append(
            (time.monotonic(), endpoint, 200 if failure is None else failure.status)
        )
        if failure is not None:
            headers = (
                {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            )
            return web.Response(status=failure.status, text="simulated failure", headers=headers)
        if endpoint == "bookTicker":
            return self.book_ticker(request)
        if endpoint == "trades":
            return self.recent_trades(request)
        return self.past_trades(request, aggregated=True)

    async def depth(self, request: web.Request) -> web.Response:
        """``GET /api/v3/depth`` / ``/fapi/v1/depth``: the snapshot at the replay position.

        Held until the replay reaches the recorded snapshot's arrival; then the recorded body
        while it is current, else one derived from the recorded diffs (:class:`SnapshotSource`)."""
        sim = self.sim
        sim.rest_requests += 1
        q = request.query
        symbol = q.get("symbol")
        if not symbol:
            return rest_error(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        src = self.sources.get(symbol)
        if src is None:
            return rest_error(-1121, "Invalid symbol.")
        spec = self.spec
        try:
            limit = int(q.get("limit", spec.default_depth_limit))
        except ValueError:
            return rest_error(
                -1100,
                "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
            )
        if (spec.depth_limits is not None and limit not in spec.depth_limits) or limit < 1:
            return rest_error(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, spec.max_depth_limit)
        delay = sim.snapshot_delays.take()
        clock = sim.started_replay()
        # Hold the request until the replay reaches the recorded snapshot's arrival.
        position = await clock.wait_position(src.snap.after_line)
        if not (sim.snapshot_mode == "auto" and src.recorded_is_current(position)):
            position = clock.position  # the book as it is now
        if sim.snapshot_mode == "recorded":
            body = src.recorded_body(limit)
        else:
            body = src.body(position, limit, prefer_recorded=sim.snapshot_mode == "auto")
        if delay:
            await asyncio.sleep(delay)
        return _json(body)

    def past_trades(self, request: web.Request, aggregated: bool) -> web.Response:
        """``GET /api/v3/historicalTrades`` (``id,price,qty,quoteQty,time,isBuyerMaker,
        isBestMatch``) or ``/aggTrades`` (``a,p,q,f,l,T,m,M``), and their ``/fapi/v1`` twins:
        the recorded ``trade`` / ``aggTrade`` events of ``symbol`` the replay has published so
        far, from ``fromId`` on (else the latest), at most ``limit`` (default 500, max 1000).
        USD-M ``historicalTrades`` is MARKET_DATA: without ``X-MBX-APIKEY`` it answers 401
        -2014, as Binance does. ``past_trades_status`` other than 200 fails every request."""
        sim = self.sim
        sim.past_trades_requests += 1
        if sim.past_trades_status != 200:
            return rest_error(-1001, _INTERNAL_ERROR, sim.past_trades_status)
        if (
            not aggregated
            and self.spec.historical_trades_need_key
            and "X-MBX-APIKEY" not in request.headers
        ):
            return rest_error(-2014, "API-key format invalid.", 401)
        q = request.query
        symbol = q.get("symbol", "")
        stream = f"{symbol.lower()}@{'aggTrade' if aggregated else 'trade'}"
        if not symbol or stream not in sim.recording.streams:
            return rest_error(-1121, "Invalid symbol.")
        try:
            limit = min(int(q.get("limit", 500)), 1000)
            from_id = int(q["fromId"]) if "fromId" in q else None
        except ValueError:
            return rest_error(-1100, "Illegal characters found in a parameter.")
        sd = sim.recording.streams[stream]
        published = bisect.bisect_left(sd.lines, sim.position)  # lines before the position
        events = [json.loads(d) for d in sd.data[:published]]
        key = "a" if aggregated else "t"
        if from_id is None:
            events = events[-limit:]
        else:
            events = [e for e in events if e[key] >= from_id][:limit]
        if aggregated:
            out = [
                {k: e[k] for k in ("a", "p", "q", "f", "l", "T", "m")} | {"M": True} for e in events
            ]
        else:
            out = [_rest_trade(e, best_match=True) for e in events]
        return _json(json.dumps(out, separators=(",", ":")).encode())

    def klines(self, request: web.Request) -> web.Response:
        """``GET /api/v3/klines`` / ``/fapi/v1/klines`` (``symbol``, ``interval`` required;
        ``limit`` default 500, at most 1000 spot / 1500 USD-M; ``startTime``/``endTime`` ms
        filter on the open time), rows as Binance sends them: ``[openTime, open, high, low,
        close, volume, closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, "0"]``,
        oldest first. Built from the recorded ``<sym>@kline_<interval>`` events the replay has
        published so far, the latest state of each candle, so the last row is the candle still
        open when it is (as on Binance). An interval the recording does not hold answers
        ``[]`` (the simulator knows no other candles); an unknown interval -1120, an unknown
        symbol -1121."""
        sim = self.sim
        q = request.query
        symbol, interval = q.get("symbol", ""), q.get("interval", "")
        if not symbol or not interval:
            return rest_error(
                -1102, "Mandatory parameter was not sent, was empty/null, or malformed."
            )
        if interval not in _KLINE_INTERVALS:
            return rest_error(-1120, "Invalid interval.")
        if symbol not in sim.symbols:
            return rest_error(-1121, "Invalid symbol.")
        try:
            limit = min(int(q.get("limit", 500)), 1500 if self.spec.futures else 1000)
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            return rest_error(-1100, "Illegal characters found in a parameter.")
        latest: dict[int, dict[str, Any]] = {}
        sd = sim.recording.streams.get(f"{symbol.lower()}@kline_{interval}")
        if sd is not None:
            published = bisect.bisect_left(sd.lines, sim.position)
            for d in sd.data[:published]:
                k = json.loads(d)["k"]
                latest[k["t"]] = k  # a later event of the same candle is its newer state
        rows = [
            [*(k[f] for f in ("t", "o", "h", "l", "c", "v", "T", "q", "n", "V", "Q")), "0"]
            for t, k in sorted(latest.items())
            if (start is None or t >= start) and (end is None or t <= end)
        ]
        return _json(json.dumps(rows[-limit:] if limit > 0 else [], separators=(",", ":")).encode())

    def recent_trades(self, request: web.Request) -> web.Response:
        """``GET /api/v3/trades`` / ``/fapi/v1/trades``: the latest ``limit`` (default 500, max
        1000) recorded ``trade`` events of ``symbol`` published so far, oldest first, in
        Binance's shape (``id,price,qty,quoteQty,time,isBuyerMaker``, spot adds
        ``isBestMatch``)."""
        q = request.query
        symbol = q.get("symbol", "")
        stream = f"{symbol.lower()}@trade"
        if not symbol or stream not in self.sim.recording.streams:
            return rest_error(-1121, "Invalid symbol.")
        try:
            limit = max(1, min(int(q.get("limit", 500)), 1000))
        except ValueError:
            return rest_error(-1100, "Illegal characters found in a parameter.")
        sd = self.sim.recording.streams[stream]
        published = bisect.bisect_left(sd.lines, self.sim.position)
        out = [
            _rest_trade(json.loads(d), best_match=not self.spec.futures)
            for d in sd.data[max(0, published - limit) : published]
        ]
        return _json(json.dumps(out, separators=(",", ":")).encode())

    def book_ticker(self, request: web.Request) -> web.Response:
        """``GET /api/v3/ticker/bookTicker`` / ``/fapi/v1/ticker/bookTicker`` for one
        ``symbol``: ``symbol,bidPrice,bidQty,askPrice,askQty`` (USD-M adds ``time`` and
        ``lastUpdateId``) from the last recorded ``@bookTicker`` event published so far, else
        from the top of the depth snapshot at the replay position."""
        sim = self.sim
        symbol = request.query.get("symbol", "")
        sd = sim.recording.streams.get(f"{symbol.lower()}@bookTicker")
        published = bisect.bisect_left(sd.lines, sim.position) if sd is not None else 0
        if sd is not None and published:
            e = json.loads(sd.data[published - 1])
            out: dict[str, Any] = {
                "symbol": symbol,
                "bidPrice": e["b"],
                "bidQty": e["B"],
                "askPrice": e["a"],
                "askQty": e["A"],
            }
            if self.spec.futures:
                out["time"] = e.get("T", e.get("E"))
                out["lastUpdateId"] = e["u"]
        else:
            src = self.sources.get(symbol)
            if src is None:
                return rest_error(-1121, "Invalid symbol.")
            book = json.loads(src.body(sim.position, 1))
            if not book["bids"] or not book["asks"]:
                return rest_error(-1121, "Invalid symbol.")
            (bp, bq), (ap, aq) = book["bids"][0], book["asks"][0]
            out = {"symbol": symbol, "bidPrice": bp, "bidQty": bq, "askPrice": ap, "askQty": aq}
            if self.spec.futures:
                out["time"] = book.get("T")
                out["lastUpdateId"] = book["lastUpdateId"]
        return _json(json.dumps(out, separators=(",", ":")).encode())

    def exchange_info(self, request: web.Request) -> web.Response:
        """``GET /api/v3/exchangeInfo`` / ``/fapi/v1/exchangeInfo`` in Binance's documented shape:
        one entry per held market, status TRADING unless ``symbol_status`` says otherwise, assets
        split as the decoder does (:func:`split_market_id`).

        Spot takes ``symbol=X`` or ``symbols=["X","Y"]`` (not both: -1128) and answers 400 -1121
        "Invalid symbol." if any is not held, -1100 if malformed; USD-M takes no parameters."""
        sim = self.sim
        sim.exchange_info_requests += 1
        if sim.exchange_info_status != 200:
            return rest_error(-1001, _INTERNAL_ERROR, sim.exchange_info_status)
        futures = self.spec.futures
        held = sim.symbols
        ids = held
        q = request.query
        if not futures and ("symbol" in q or "symbols" in q):
            requested = _requested_ids(q)
            if isinstance(requested, web.Response):
                return requested
            ids = requested
            if any(i not in held for i in ids):
                return rest_error(-1121, "Invalid symbol.")
        entries = [self._exchange_info_entry(mid, futures) for mid in ids]
        body: dict[str, Any] = {
            "timezone": "UTC",
            "serverTime": time.time_ns() // 1_000_000,
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.spec.weight_per_minute,
                }
            ],
            "exchangeFilters": [],
        }
        if futures:
            body.update(futuresType="U_MARGINED", assets=[])
        body["symbols"] = entries
        return _json(json.dumps(body).encode())

    def _exchange_info_entry(self, market_id: str, futures: bool) -> dict[str, Any]:
        sim = self.sim
        entry: dict[str, Any] = {
            "symbol": market_id,
            "status": sim.symbol_status.get(market_id, "TRADING"),
        }
        assets = split_market_id(self.spec.name, market_id)
        if futures:
            entry["pair"] = market_id.split("_", 1)[0]
            if "_" not in market_id:  # a dated id is a delivery contract; which quarter is unknown
                entry["contractType"] = "PERPETUAL"
        if assets:
            entry.update(baseAsset=assets[0], quoteAsset=assets[1])
            if futures:
                entry["marginAsset"] = assets[1]  # linear contracts settle in the quote asset
            else:
                entry.update(baseAssetPrecision=8, quotePrecision=8, quoteAssetPrecision=8)
        entry["filters"] = []
        if not futures:
            entry.update(permissions=[], permissionSets=[["SPOT"]])
        return entry


def _requested_ids(query: Any) -> list[str] | web.Response:
    """Spot exchangeInfo's ``symbol=`` / ``symbols=[...]`` as market ids, or the error reply."""
    if "symbol" in query and "symbols" in query:
        return rest_error(-1128, "Combination of optional parameters invalid.")
    if "symbol" in query:
        one = str(query["symbol"])
        if not _SYMBOL.match(one):
            return rest_error(
                -1100,
                "Illegal characters found in parameter 'symbol'; "
                "legal range is '^[A-Z0-9-_.]{1,20}$'.",
            )
        return [one]
    try:
        ids = json.loads(query["symbols"])
    except ValueError:
        ids = None
    if not (isinstance(ids, list) and all(isinstance(i, str) and _SYMBOL.match(i) for i in ids)):
        return rest_error(-1100, "Illegal characters found in parameter 'symbols'.")
    return list(dict.fromkeys(ids))


class BinanceSim(VenueSim):
    """Binance's market-data protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring); ``error_format``: "nested" (as on the wire) or "flat" (as in the doc table)."""

    spec: BinanceSpec

    def __init__(self, spec: BinanceSpec, sim: Simulator, error_format: str = "nested"):
        super().__init__(spec, sim)
        self.control = ControlHandler(error_format, spec.close_on_invalid_json)
        self.rest = BinanceRest(sim, spec)
        self.account_side = BinanceAccountSide(self)

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``<route>/ws`` (raw), ``<route>/ws/<stream>`` (raw, one stream) and
        ``<route>/stream?streams=a/b`` (combined) for each route of the market. A malformed
        stream name in the URL is answered by closing with 1008, as Binance does. Private:
        the spot WebSocket API ``/ws-api/v3``, USD-M ``/private/ws?listenKey=`` and
        ``/ws/<listenKey>`` (see :class:`BinanceAccountSide`)."""
        private = self.account_side.ws_api_endpoint(path) or self.account_side.listen_key_endpoint(
            path, query
        )
        if private is not None:
            return private
        for route in self.spec.routes:
            if not path.startswith(route + "/"):
                continue
            rest = path[len(route) :]
            if rest == "/ws":
                return _endpoint(route, False, [])
            if rest.startswith("/ws/") and "/" not in rest[4:]:
                return _endpoint(route, False, [unquote(rest[4:])])
            if rest == "/stream":
                raw = query.get("streams", "")
                return _endpoint(route, True, [s for s in raw.split("/") if s])
        return None

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:
        """``<route>/stream?streams=a/b`` (combined)."""
        return f"{route}/stream?streams={'/'.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:
        """``<route>/ws[/<stream>]`` (no envelope)."""
        return f"{route}/ws" + (f"/{stream}" if stream else "")

    def deliverable(self, route: str, streams: list[str]) -> list[str]:
        """USD-M: ``/market`` carries market streams; ``/public`` and the unrouted endpoint
        carry the ``/public`` ones (:func:`usdm_route_of`). Spot: every stream."""
        if not self.spec.futures:
            return streams
        want = "/market" if route == "/market" else "/public"
        return [n for n in streams if usdm_route_of(n) == want]

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """One control message (see the module docstring); ``conn.framing`` is its
        ``combined`` property. On the spot WebSocket API: its requests."""
        if conn.route == _WS_API_PATH:
            return self.account_side.on_ws_api_message(conn, text)
        return self.control.handle(text, list(conn.subscriptions), bool(conn.framing))

    def shutdown_notice(self) -> bytes | None:
        """``{"e":"serverShutdown","E":<ms>}`` (docs/exchanges/binance.md §2)."""
        notice = {"e": "serverShutdown", "E": time.time_ns() // 1_000_000}
        return json.dumps(notice, separators=(",", ":")).encode()

    def market_id_of(self, stream: str) -> str | None:
        """``ETHUSDT`` for ``ethusdt@depth@100ms``; None for ``!bookTicker`` and the like."""
        if "@" not in stream or stream.startswith("!"):
            return None
        return stream.split("@", 1)[0].upper()

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """The :class:`BinanceRest` endpoint at ``path`` (depth, exchangeInfo, past trades,
        ping, time under the market's prefix), the private lists and listen keys, or None."""
        endpoint = self.rest.route(path)
        handle: Callable[[str, web.Request], Awaitable[web.Response]] = self.rest.handle
        if endpoint is None:
            endpoint = self.account_side.rest_route(path)
            handle = self.account_side.handle
        if endpoint is None:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            return await handle(endpoint, request)

        return answer

    @property
    def snapshot_path(self) -> str:
        """``/api/v3/depth`` or ``/fapi/v1/depth``."""
        return self.spec.depth_path

    @property
    def instruments_path(self) -> str:
        """``/api/v3/exchangeInfo`` or ``/fapi/v1/exchangeInfo``."""
        return self.spec.rest_prefix + "/exchangeInfo"

    def url_lines(self) -> list[str]:
        """The WebSocket endpoints (per route on USD-M), the depth and exchangeInfo URLs."""
        sim = self.sim
        out = [f"  websocket  {sim.ws_url}  (/ws, /ws/<stream>, /stream?streams=...)"]
        if self.spec.futures and sim.routing:
            for route in ("/public", "/market"):
                names = [n for n in sim.streams if usdm_route_of(n) == route]
                if names:
                    out.append(f"  {route[1:]:6s} streams {sim.stream_url(*names, route=route)}")
        else:
            out.append(f"  all streams {sim.stream_url()}")
        out.extend(
            f"  rest depth {sim.depth_url}?symbol={symbol}&limit=1000"
            for symbol in sim.recording.snapshots
        )
        out.append(f"  rest info  {sim.exchange_info_url}")
        return out

    # ---- private side (BinanceAccountSide) -----------------------------------------------------
    def account_market(self, market_id: str) -> AccountMarket | None:
        """Spot or linear perp ``market_id`` split like the decoder does; Binance's default
        fee tier (spot 0.1%, USD-M 0.02% maker / 0.05% taker)."""
        return self.account_side.account_market(market_id)  # type: ignore[no-any-return]

    def recorded_trades(self) -> Iterable[tuple[int, MarketTrade]]:
        """The recording's ``trade`` / ``aggTrade`` events (aggressor side from ``m``)."""
        return self.account_side.recorded_trades()

    def private_streams(self, account: SimAccount) -> list[str]:
        """Spot: ``userData:<account name>``; USD-M: the stream key of its live listen key."""
        return self.account_side.private_streams(account)

    def encode_account(
        self, account: SimAccount, changes: Sequence[AccountChange]
    ) -> list[tuple[str, bytes]]:
        """The executionReport + outboundAccountPosition (spot, WebSocket API envelope) or
        ORDER_TRADE_UPDATE + ACCOUNT_UPDATE (USD-M) for one batch of changes."""
        return self.account_side.encode_account(account, changes)

    def on_token_expired(self, token: str, account: SimAccount) -> None:
        """USD-M: ``listenKeyExpired`` to the key's connections; its stream ends."""
        self.account_side.on_token_expired(token, account)

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the recorded depth snapshots."""
        self.rest.started()

    def rewound(self) -> None:
        """Forget derived depth books."""
        self.rest.rewound()


def _endpoint(route: str, combined: bool, streams: list[str]) -> WsEndpoint:
    reject = None
    if not all(valid_stream_name(s) for s in streams):
        reject = (1008, b'{"code":-1,"msg":"Illegal format ws or stream"}')
    return WsEndpoint(route, combined, streams, reject)


# --- private (account) side: Binance's request authentication (binance.md §7) -------------------
#
# Checks in Binance's order: the API key is known (-2015, or -2014 for a malformed one), the
# timestamp is inside recvWindow (-1021), the signature verifies (-1022): HMAC-SHA256 hex over
# the REST query as sent / the sorted WebSocket API params, or Ed25519 base64 over the latter.
# ``session.logon`` accepts Ed25519 keys only.

#: Binance's error replies for refused credentials (code, msg), as its API sends them.
ERR_BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
ERR_BAD_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
ERR_KEY_FORMAT = (-2014, "API-key format invalid.")
ERR_TIMESTAMP = (-1021, "Timestamp for this request is outside of the recvWindow.")
ERR_TIMESTAMP_AHEAD = (-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
ERR_NO_LISTEN_KEY = (-1125, "This listenKey does not exist.")
ERR_MANDATORY = (-1102, "A mandatory parameter was not sent, was empty/null, or malformed.")

_API_KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{1,128}$")


@dataclass(frozen=True)
class ApiKey:
    """One account key the simulated venue accepts: ``secret`` (HMAC) or ``public_key`` (an
    Ed25519 public key's PEM text)."""

    api_key: str
    secret: str | None = None
    public_key: str | None = None


def check_timestamp(
    timestamp: object, recv_window: object, server_ms: int
) -> tuple[int, str] | None:
    """Binance's timing rule: accept iff ``timestamp < server + 1000`` and ``server -
    timestamp <= recvWindow`` (default 5000, at most 60000). Returns the error reply or None."""
    try:
        ts = int(str(timestamp))
        window = float(str(recv_window)) if recv_window is not None else 5000.0
    except ValueError:
        return ERR_MANDATORY
    if ts > 10**14:  # microseconds
        ts //= 1000
    if not 0 < window <= 60000:
        return ERR_MANDATORY
    if ts >= server_ms + 1000:
        return ERR_TIMESTAMP_AHEAD
    if server_ms - ts > window:
        return ERR_TIMESTAMP
    return None


def verify_ws_api_params(
    params: Mapping[str, object],
    keys: Mapping[str, ApiKey],
    server_ms: int,
    *,
    ed25519_only: bool = False,
) -> tuple[int, str] | None:
    """Check a signed WebSocket API request's ``params`` (``apiKey``, ``timestamp``,
    ``signature``, optional ``recvWindow``) as Binance does; ``ed25519_only`` for
    ``session.logon``. Returns the error reply (code, msg) or None when accepted."""
    from ...auth import binance as signer

    api_key, signature = params.get("apiKey"), params.get("signature")
    if not isinstance(signature, str) or "timestamp" not in params:
        return ERR_MANDATORY
    key = _lookup(api_key, keys)
    if not isinstance(key, ApiKey):
        return key
    late = check_timestamp(params["timestamp"], params.get("recvWindow"), server_ms)
    if late is not None:
        return late
    payload = signer.ws_api_payload({k: _param_text(v) for k, v in params.items()})
    if key.public_key is not None:
        ok = signer.verify_ed25519(key.public_key, payload, signature)
    elif ed25519_only or key.secret is None:
        ok = False
    else:
        ok = signature.lower() == signer.hmac_hex(key.secret, payload)
    return None if ok else ERR_BAD_SIGNATURE


def verify_rest_query(
    query_string: str, api_key: str | None, keys: Mapping[str, ApiKey], server_ms: int
) -> tuple[int, str] | None:
    """Check a signed REST request: ``query_string`` exactly as received (``signature`` its
    last parameter, HMAC hex of everything before it), ``api_key`` the ``X-MBX-APIKEY``
    header. Returns the error reply or None."""
    from urllib.parse import parse_qsl

    from ...auth import binance as signer

    key = _lookup(api_key, keys)
    if not isinstance(key, ApiKey):
        return key
    payload, sep, signature = query_string.rpartition("&signature=")
    if not sep or not signature:
        return ERR_MANDATORY
    params = dict(parse_qsl(payload, keep_blank_values=True))
    if "timestamp" not in params:
        return ERR_MANDATORY
    late = check_timestamp(params["timestamp"], params.get("recvWindow"), server_ms)
    if late is not None:
        return late
    if key.secret is None or signature.lower() != signer.hmac_hex(key.secret, payload):
        return ERR_BAD_SIGNATURE
    return None


def _lookup(api_key: object, keys: Mapping[str, ApiKey]) -> ApiKey | tuple[int, str]:
    """The account key ``api_key`` names, or Binance's error reply for it."""
    if not isinstance(api_key, str) or not api_key:
        return ERR_MANDATORY
    if not _API_KEY_FORMAT.match(api_key):
        return ERR_KEY_FORMAT
    return keys.get(api_key, ERR_BAD_KEY)


def _param_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# --- private (account) side: the venue's protocol (binance.md §7-8) ------------------------------
#
# Spot: the WebSocket API at ``/ws-api/v3``: ``session.logon`` (Ed25519 keys only),
# ``userDataStream.subscribe`` (after a logon), ``userDataStream.subscribe.signature`` (any
# key), ``userDataStream.unsubscribe``, ``session.logout``; replies ``{"id":..,"status":200,
# "result":..}`` or ``{"id":..,"status":4xx,"error":{"code":..,"msg":..}}``; events
# ``{"subscriptionId":N,"event":{...}}``. USD-M: listen keys over REST (``POST/PUT/DELETE
# /fapi/v1/listenKey``, 60 min from the last keepalive, POST returns the active key), the
# stream at ``/private/ws?listenKey=<key>`` or ``/ws/<key>``; a key unknown at connect is
# refused with close code 1008 (the simulator's choice: Binance's own reaction is not
# documented); an expired key sends ``listenKeyExpired`` and its stream ends. REST recovery:
# ``myTrades`` / ``userTrades``, ``allOrders``, ``openOrders``, signed as Binance checks them.

LISTEN_KEY_TTL_S = 3600.0
_WS_API_PATH = "/ws-api/v3"
_BUSY = (
    -1008,
    "Server is currently overloaded with other requests. Please try again in a few minutes.",
)

_SPOT_STATUS = {
    "new": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "rejected": "REJECTED",
}
_TIF = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "post_only": "GTX", "gtd": "GTD"}


def _num(d: Decimal | None) -> str:
    """A decimal as Binance writes it (plain notation, ``"0"`` for None)."""
    return "0" if d is None else format(d, "f")


def _ms(ns: int) -> int:
    return ns // 1_000_000


def ws_api_reply(req_id: object, result: object) -> bytes:
    """A WebSocket API success ``{"id":..,"status":200,"result":..}``."""
    return _dump({"id": req_id, "status": 200, "result": result})


def ws_api_error(req_id: object, code: int, msg: str, status: int = 400) -> bytes:
    """A WebSocket API error ``{"id":..,"status":..,"error":{"code":..,"msg":..}}`` (401 for
    refused credentials, as Binance answers them)."""
    return _dump({"id": req_id, "status": status, "error": {"code": code, "msg": msg}})


class BinanceAccountSide:
    """The private side of one :class:`BinanceSim` (see the section comment above): logins,
    listen keys, user-data events encoded from the simulator's account changes, and the
    signed REST lists."""

    def __init__(self, venue: BinanceSim) -> None:
        self.venue = venue
        self.sim = venue.sim
        self.futures = venue.spec.futures
        self.prefix = venue.spec.rest_prefix
        self._tags: dict[str, str] = {}  # live listen key -> its private stream key
        self._key_of: dict[str, str] = {}  # account name -> its live listen key
        self._tag_ids = 0
        self.logins = 0  # accepted logins / listen-key connects (tests read it)
        self.auth_failures = 0  # refused logins and signed requests
        self.listen_key_requests = 0  # POST/PUT/DELETE /fapi/v1/listenKey
        self.rest_lists = 0  # signed REST list requests answered

    # ---- what the engine needs -------------------------------------------------------------
    def account_market(self, market_id: str) -> Any:
        """See :meth:`BinanceSim.account_market`."""
        from ..account import AccountMarket

        assets = split_market_id(self.venue.spec.exchange, market_id)
        if assets is None:
            return None
        # Binance's default fee tiers: spot 0.1% both ways, USD-M 0.02% maker / 0.05% taker.
        # USD-M sends entry (`ep`) and average (`ap`) prices at the symbol's precision, not as
        # exact quotients (which the decoder refuses past 19 digits); spot sends sums only.
        if self.futures:
            base, quote = assets
            return AccountMarket(
                market_id, "perp", base, quote, "0.0002", "0.0005", round_averages=True
            )
        return AccountMarket(market_id, "spot", *assets, maker_fee="0.001", taker_fee="0.001")

    def recorded_trades(self) -> list[tuple[int, Any]]:
        """See :meth:`BinanceSim.recorded_trades`."""
        from ..account import MarketTrade

        out = []
        for name, sd in self.sim.recording.streams.items():
            if not name.endswith(("@trade", "@aggTrade")):
                continue
            for line, data in zip(sd.lines, sd.data, strict=True):
                e = json.loads(data)
                trade = MarketTrade(
                    e["s"],
                    Decimal(e["p"]),
                    Decimal(e["q"]),
                    "sell" if e["m"] else "buy",  # m: the buyer was the maker
                    e["T"] * 1_000_000,
                )
                out.append((line, trade))
        return out

    def private_streams(self, account: Any) -> list[str]:
        """See :meth:`BinanceSim.private_streams`."""
        if not self.futures:
            return [f"userData:{account.name}"]
        key = self._key_of.get(account.name)
        return [self._tags[key]] if key in self._tags else []

    # ---- events -------------------------------------------------------------------------------
    def encode_account(self, account: Any, changes: Sequence[Any]) -> list[tuple[str, bytes]]:
        """See :meth:`BinanceSim.encode_account`."""
        streams = self.private_streams(account)
        if not streams:
            return []
        events = self._futures_events(changes) if self.futures else self._spot_events(changes)
        out: list[tuple[str, bytes]] = []
        for ev in events:
            body = ev if self.futures else {"subscriptionId": 0, "event": ev}
            payload = _dump(body)
            out.extend((s, payload) for s in streams)
        return out

    @staticmethod
    def _pairs(changes: Sequence[Any]) -> list[tuple[Any, Any | None]]:
        """(order change, its fill or None) in batch order (a fill follows its order)."""
        out: list[tuple[Any, Any | None]] = []
        for c in changes:
            if c.kind == "order":
                out.append((c, None))
            elif c.kind == "fill" and out and out[-1][1] is None:
                out[-1] = (out[-1][0], c)
        return out

    def _spot_events(self, changes: Sequence[Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for change, fill_change in self._pairs(changes):
            o, f = change.state, fill_change.state if fill_change else None
            cum_quote = (o.average_price or Decimal(0)) * o.filled
            x = "TRADE" if f else {"amend": "REPLACED"}.get(change.cause, _SPOT_STATUS[o.status])
            events.append({
                "e": "executionReport", "E": _ms(change.ts_ns), "s": o.market_id,
                "c": o.client_order_id or f"sim{o.order_id}", "S": o.side.upper(),
                "o": o.order_type.upper(), "f": _TIF.get(o.time_in_force, "GTC"),
                "q": _num(o.size), "p": _num(o.price), "P": "0.00000000", "F": "0.00000000",
                "g": -1, "C": "", "x": x, "X": _SPOT_STATUS[o.status],
                "r": "INSUFFICIENT_BALANCE" if o.status == "rejected" else "NONE",
                "i": o.order_id, "l": _num(f.size if f else None),
                "z": _num(o.filled), "L": _num(f.price if f else None),
                "n": _num(f.fee if f else None), "N": f.fee_asset if f else None,
                "T": _ms(f.ts_ns if f else o.updated_ns), "t": f.trade_id if f else -1,
                "I": 0, "w": o.is_open, "m": f.is_maker if f else False, "M": False,
                "O": _ms(o.created_ns), "Z": _num(cum_quote),
                "Y": _num(f.price * f.size if f else None), "Q": "0.00000000",
                "W": _ms(o.created_ns), "V": "EXPIRE_MAKER",
            })  # fmt: skip
        balances = [c.state for c in changes if c.kind == "balance"]
        if balances:
            ts = _ms(changes[-1].ts_ns)
            events.append({
                "e": "outboundAccountPosition", "E": ts, "u": ts,
                "B": [{"a": b.asset, "f": _num(b.free), "l": _num(b.locked)} for b in balances],
            })  # fmt: skip
        return events

    def _futures_events(self, changes: Sequence[Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for change, fill_change in self._pairs(changes):
            o, f = change.state, fill_change.state if fill_change else None
            status = _SPOT_STATUS[o.status]
            x = "TRADE" if f else {"amend": "AMENDMENT"}.get(change.cause, status)
            if f is not None and f.liquidation:
                x = "CALCULATED"
            ts = _ms(f.ts_ns if f else o.updated_ns)
            client = o.client_order_id or f"sim{o.order_id}"
            if f is not None and f.liquidation:
                client = f"autoclose-{o.order_id}"
            events.append({
                "e": "ORDER_TRADE_UPDATE", "E": _ms(change.ts_ns), "T": ts,
                "o": {
                    "s": o.market_id, "c": client, "S": o.side.upper(),
                    "o": "LIQUIDATION" if f is not None and f.liquidation else o.order_type.upper(),
                    "f": _TIF.get(o.time_in_force, "GTC"), "q": _num(o.size),
                    "p": _num(o.price), "ap": _num(o.average_price), "sp": "0",
                    "x": x, "X": status, "i": o.order_id, "l": _num(f.size if f else None),
                    "z": _num(o.filled), "L": _num(f.price if f else None),
                    "N": f.fee_asset if f else "USDT", "n": _num(f.fee if f else None),
                    "T": ts, "t": f.trade_id if f else 0, "b": "0", "a": "0",
                    "m": f.is_maker if f else False, "R": o.reduce_only,
                    "wt": "CONTRACT_PRICE", "ot": o.order_type.upper(), "ps": "BOTH",
                    "cp": False, "rp": _num(f.realized_pnl if f else None),
                    "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_TAKER", "pm": "NONE", "gtd": 0,
                },
            })  # fmt: skip
        balances = [c.state for c in changes if c.kind == "balance"]
        positions = [c.state for c in changes if c.kind == "position"]
        if balances or positions:
            ts = _ms(changes[-1].ts_ns)
            events.append({
                "e": "ACCOUNT_UPDATE", "E": ts, "T": ts,
                "a": {
                    "m": "ORDER" if positions else "DEPOSIT",
                    "B": [
                        {"a": b.asset, "wb": _num(b.total), "cw": _num(b.total), "bc": "0"}
                        for b in balances
                    ],
                    "P": [
                        {
                            "s": p.market_id, "pa": _num(p.size), "ep": _num(p.entry_price),
                            "bep": _num(p.entry_price), "cr": "0",
                            "up": _num(p.unrealized_pnl), "mt": p.margin_mode,
                            "iw": "0", "ps": "BOTH",
                        }
                        for p in positions
                    ],
                },
            })  # fmt: skip
        return events

    # ---- spot: the WebSocket API -------------------------------------------------------------
    def ws_api_endpoint(self, path: str) -> WsEndpoint | None:
        """Spot: the WebSocket API endpoint at ``/ws-api/v3``, else None."""
        if self.futures or path != _WS_API_PATH:
            return None
        return WsEndpoint(_WS_API_PATH, False, ())

    def on_ws_api_message(self, conn: ServerConnection, text: str) -> Outcome:
        """One WebSocket API request (spot): logon, user-data subscribe / unsubscribe,
        logout, ping. Anything else: -1100 (unknown method, as far as the simulator goes)."""
        try:
            req = json.loads(text)
        except ValueError:
            return Outcome([ws_api_error(None, -1100, "Invalid JSON.")])
        if not isinstance(req, dict):
            return Outcome([ws_api_error(None, -1100, "Invalid request.")])
        rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
        if method == "session.logon":
            return self._logon(conn, rid, params)
        if method in ("userDataStream.subscribe", "userDataStream.subscribe.signature"):
            return self._subscribe(conn, rid, method, params)
        return self._session_request(conn, rid, method)

    def _session_request(self, conn: ServerConnection, rid: object, method: object) -> Outcome:
        """``ping``/``time``, ``session.logout``, ``userDataStream.unsubscribe``."""
        if method in ("ping", "time"):
            return Outcome([ws_api_reply(rid, {"serverTime": self.sim.accounts.now_ms()})])
        if method == "session.logout":
            conn.account = None
            return Outcome([ws_api_reply(rid, {"apiKey": None})])
        if method == "userDataStream.unsubscribe":
            keys = [k for k in conn.subscriptions if k.startswith("userData:")]
            return Outcome([ws_api_reply(rid, {})], unsubscribe=keys)
        return Outcome([ws_api_error(rid, -1100, f"Unknown method {method!r}.")])

    def _auth(self, rid: object, params: object, ed25519_only: bool) -> Any:
        """The account a signed request's params authenticate, or the Outcome refusing it."""
        accounts = self.sim.accounts
        if accounts.take_auth_error("login"):
            return Outcome([ws_api_error(rid, *_BUSY, status=503)])
        if not isinstance(params, dict):
            self.auth_failures += 1
            return Outcome([ws_api_error(rid, *ERR_MANDATORY)])
        account = accounts.by_key(str(params.get("apiKey", "")))
        keys = {} if account is None else {account.api_key: _api_key(account)}
        err = verify_ws_api_params(params, keys, accounts.now_ms(), ed25519_only=ed25519_only)
        if err is not None:
            self.auth_failures += 1
            return Outcome([ws_api_error(rid, *err)])
        return account

    def _logon(self, conn: ServerConnection, rid: object, params: object) -> Outcome:
        got = self._auth(rid, params, ed25519_only=True)
        if isinstance(got, Outcome):
            return got
        conn.account = got
        self.logins += 1
        now = self.sim.accounts.now_ms()
        result = {
            "apiKey": got.api_key,
            "authorizedSince": now,
            "connectedSince": conn.connected_ns // 1_000_000,
            "returnRateLimits": False,
            "serverTime": now,
            "userDataStream": False,
        }
        return Outcome([ws_api_reply(rid, result)])

    def _subscribe(
        self, conn: ServerConnection, rid: object, method: str, params: object
    ) -> Outcome:
        if method == "userDataStream.subscribe":
            account = conn.account
            if account is None:  # needs a session.logon first
                self.auth_failures += 1
                return Outcome([ws_api_error(rid, -2015, ERR_BAD_KEY[1], status=401)])
        else:
            got = self._auth(rid, params, ed25519_only=False)
            if isinstance(got, Outcome):
                return got
            account = got
            conn.account = got
            self.logins += 1
        key = f"userData:{account.name}"
        reply = ws_api_reply(rid, {"subscriptionId": 0})
        return Outcome([reply], subscribe=[key])

    # ---- USD-M: listen keys --------------------------------------------------------------------
    def listen_key_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """USD-M: the user-data stream of a live listen key (``/private/ws?listenKey=``,
        ``/ws/<key>``; an unknown key is closed with 1008 and -1125), else None."""
        if not self.futures:
            return None
        if path == "/private/ws":
            key = query.get("listenKey", "")
        elif path.startswith("/ws/") and "@" not in path:
            key = unquote(path[4:])
        else:
            return None
        tag = self._tags.get(key)
        if tag is None or self.sim.accounts.token_account(key) is None:
            self.auth_failures += 1
            return WsEndpoint(
                "/private",
                False,
                (),
                (1008, _dump({"code": ERR_NO_LISTEN_KEY[0], "msg": ERR_NO_LISTEN_KEY[1]})),
            )
        self.logins += 1
        return WsEndpoint("/private", False, (tag,))

    def on_token_expired(self, token: str, account: Any) -> None:
        """See :meth:`BinanceSim.on_token_expired`."""
        tag = self._tags.pop(token, None)
        if self._key_of.get(account.name) == token:
            del self._key_of[account.name]
        if tag is None:
            return
        payload = _dump(
            {"e": "listenKeyExpired", "E": self.sim.accounts.now_ms(), "listenKey": token}
        )
        for conn in list(self.sim.connections):
            if not conn.closed and tag in conn.subscriptions:
                conn.send_text(payload)
                conn.subscriptions.pop(tag, None)  # the stream ends: nothing more arrives

    async def listen_key(self, request: web.Request) -> web.Response:
        """``POST`` (the active key again, extended; else a new one), ``PUT`` (extend; -1125
        if unknown), ``DELETE`` (close) ``/fapi/v1/listenKey``, key in ``X-MBX-APIKEY``."""
        accounts = self.sim.accounts
        self.listen_key_requests += 1
        if accounts.take_auth_error("rest"):
            return rest_error(*_BUSY, 503)
        found = _lookup(request.headers.get("X-MBX-APIKEY"), _keys_of(accounts, request))
        acct = accounts.by_key(request.headers.get("X-MBX-APIKEY", ""))
        if not isinstance(found, ApiKey) or acct is None:
            self.auth_failures += 1
            err = ERR_BAD_KEY if isinstance(found, ApiKey) else found
            return rest_error(*err, 400 if err == ERR_MANDATORY else 401)
        return self._listen_key_verb(request.method, acct)

    def _listen_key_verb(self, method: str, acct: Any) -> web.Response:
        accounts = self.sim.accounts
        live = self._key_of.get(acct.name)
        if live is not None and accounts.token_account(live) is None:
            live = None
        if method == "POST":
            if live is None:
                live = accounts.issue_token(acct, LISTEN_KEY_TTL_S, token=secrets_token(64))
                self._tag_ids += 1
                self._tags[live] = f"listenKey:{acct.name}:{self._tag_ids}"
                self._key_of[acct.name] = live
            else:
                accounts.keepalive_token(live)
            return _json(_dump({"listenKey": live}))
        if method == "PUT":
            if live is None:
                return rest_error(*ERR_NO_LISTEN_KEY)
            accounts.keepalive_token(live)
            return _json(_dump({"listenKey": live}))
        if method == "DELETE":
            if live is not None:
                accounts.expire_token(live)
            return _json(b"{}")
        raise web.HTTPMethodNotAllowed(method, ["POST", "PUT", "DELETE"])

    # ---- signed REST lists ----------------------------------------------------------------------
    def rest_route(self, path: str) -> str | None:
        """The private REST endpoint at ``path`` (its last segment), else None."""
        prefix, _, name = path.rpartition("/")
        if prefix != self.prefix:
            return None
        lists = ("userTrades" if self.futures else "myTrades", "allOrders", "openOrders")
        if name in lists or (self.futures and name == "listenKey"):
            return name
        return None

    async def handle(self, name: str, request: web.Request) -> web.Response:
        """Answer a private REST request (``name`` from :meth:`rest_route`)."""
        if name == "listenKey":
            return await self.listen_key(request)
        if request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        return self.signed_list(name, request)

    def signed_list(self, name: str, request: web.Request) -> web.Response:
        """``myTrades`` / ``userTrades`` (fills since ``startTime``), ``allOrders`` (each
        order changed since ``startTime``, as of now) or ``openOrders`` of ``symbol``, after
        Binance's checks of the signed query."""
        accounts = self.sim.accounts
        if accounts.take_auth_error("rest"):
            return rest_error(*_BUSY, 503)
        keys = _keys_of(accounts, request)
        err = verify_rest_query(
            request.query_string, request.headers.get("X-MBX-APIKEY"), keys, accounts.now_ms()
        )
        if err is not None:
            self.auth_failures += 1
            status = 401 if err in (ERR_BAD_KEY, ERR_KEY_FORMAT) else 400
            return rest_error(*err, status)
        self.rest_lists += 1
        engine = accounts.engine(accounts.by_key(request.headers["X-MBX-APIKEY"]))
        q = request.query
        symbol = q.get("symbol")
        if symbol is None and name != "openOrders":
            return rest_error(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        limit = min(int(q.get("limit", 500)), 1000)
        since_ns = int(q.get("startTime", 0)) * 1_000_000
        if name == "openOrders":
            orders = [o for o in engine.open_orders() if symbol in (None, o.market_id)]
            return _json(_dump([self._rest_order(o) for o in orders]))
        if name == "allOrders":
            latest: dict[Any, Any] = {}
            for o in engine.order_changes_since(since_ns):
                if o.market_id == symbol:
                    latest[o.order_id] = o  # one entry per order, as of now
            rows = sorted(latest.values(), key=lambda o: o.created_ns)[:limit]
            return _json(_dump([self._rest_order(o) for o in rows]))
        fills = [f for f in engine.fills_since(since_ns) if f.market_id == symbol][:limit]
        return _json(_dump([self._rest_fill(f) for f in fills]))

    def _rest_order(self, o: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "symbol": o.market_id, "orderId": o.order_id,
            "clientOrderId": o.client_order_id or f"sim{o.order_id}",
            "price": _num(o.price), "origQty": _num(o.size), "executedQty": _num(o.filled),
            "status": _SPOT_STATUS[o.status], "timeInForce": _TIF.get(o.time_in_force, "GTC"),
            "type": o.order_type.upper(), "side": o.side.upper(), "stopPrice": "0",
            "time": _ms(o.created_ns), "updateTime": _ms(o.updated_ns),
        }  # fmt: skip
        if self.futures:
            row |= {"avgPrice": _num(o.average_price), "reduceOnly": o.reduce_only,
                    "cumQuote": _num((o.average_price or Decimal(0)) * o.filled),
                    "origType": o.order_type.upper(), "positionSide": "BOTH"}  # fmt: skip
        else:
            row |= {"orderListId": -1, "isWorking": o.is_open,
                    "cummulativeQuoteQty": _num((o.average_price or Decimal(0)) * o.filled)}  # fmt: skip
        return row

    def _rest_fill(self, f: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "symbol": f.market_id, "id": f.trade_id, "orderId": f.order_id,
            "price": _num(f.price), "qty": _num(f.size), "quoteQty": _num(f.price * f.size),
            "commission": _num(f.fee), "commissionAsset": f.fee_asset, "time": _ms(f.ts_ns),
        }  # fmt: skip
        if self.futures:
            row |= {"side": f.side.upper(), "maker": f.is_maker, "buyer": f.side == "buy",
                    "realizedPnl": _num(f.realized_pnl), "positionSide": "BOTH"}  # fmt: skip
        else:
            row |= {"isBuyer": f.side == "buy", "isMaker": f.is_maker, "isBestMatch": True,
                    "orderListId": -1}  # fmt: skip
        return row


def secrets_token(n: int) -> str:
    """``n`` random alphanumeric characters (Binance listen keys are 64 of them)."""
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _api_key(account: Any) -> ApiKey:
    return ApiKey(account.api_key, secret=account.secret or None, public_key=account.public_key)


def _keys_of(accounts: Any, request: web.Request) -> dict[str, ApiKey]:
    """The registered key the request's ``X-MBX-APIKEY`` names (or none)."""
    account = accounts.by_key(request.headers.get("X-MBX-APIKEY", ""))
    return {} if account is None else {account.api_key: _api_key(account)}


def _rest_trade(e: dict[str, Any], *, best_match: bool) -> dict[str, Any]:
    """A recorded ``trade`` event in the REST trade-list shape (``id,price,qty,quoteQty,time,
    isBuyerMaker``, and ``isBestMatch`` where the endpoint has it)."""
    trade = {
        "id": e["t"],
        "price": e["p"],
        "qty": e["q"],
        "quoteQty": str((Decimal(e["p"]) * Decimal(e["q"])).quantize(Decimal("1e-8"))),
        "time": e["T"],
        "isBuyerMaker": e["m"],
    }
    if best_match:
        trade["isBestMatch"] = True
    return trade
