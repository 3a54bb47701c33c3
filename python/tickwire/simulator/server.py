"""The simulator server: aiohttp HTTP + RFC 6455 WebSocket on one loopback port per market.

Why aiohttp (measured on the 2-core dev VM, server and a picows counting client in separate
processes, ETHUSDT spot recording): sending one message per library call reached ~115-160k
msg/s with aiohttp and ~150-280k msg/s with a picows server, both far below the 1M msg/s the
end-to-end benchmark needs; writing pre-encoded frames to the transport in large slices
reached ~1.5M msg/s with either (the counting client is then the limit; into a reader that
only counts bytes the server sends ~4-9M msg/s). With the send path equal, aiohttp wins on the
rest: REST and WebSocket on one port, async handlers (held and delayed snapshot responses),
handshake validation and the closing handshake. ``bench.py`` measures this server.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from urllib.parse import unquote

from aiohttp import web

from .book import SnapshotSource
from .connection import Connection
from .faults import (
    CONNECTION_FAULTS,
    Lifetime,
    ServerShutdown,
    SlowSnapshot,
)
from .markets import MARKETS, MarketSpec, split_market_id
from .protocol import ControlHandler, valid_stream_name
from .recording import Recording
from .replay import Replay

_PACKAGED: dict[str, Recording] = {}
_JSON = "application/json;charset=UTF-8"
_SYMBOL = re.compile(r"^[A-Z0-9-_.]{1,20}$")  # Binance's legal range for a symbol parameter


def packaged_recording(market: str) -> Recording:
    """The shipped ETHUSDT recording of ``market``, loaded once per process."""
    rec = _PACKAGED.get(market)
    if rec is None:
        rec = _PACKAGED[market] = Recording.packaged(market)
    return rec


def _parse_speed(speed: float | str | None) -> float:
    if speed is None or (isinstance(speed, str) and speed.lower() in ("max", "fast", "inf")):
        return math.inf
    value = float(speed)
    if not value > 0:
        raise ValueError(f"speed must be > 0, 'max' or None, got {speed!r}")
    return value


class Simulator:
    """A local Binance market-data exchange replaying a recording over real WebSockets.

    ``market``: "binance" (spot) or "binanceusdm" (USD-M futures); raises ``ValueError`` for
    another. ``recording``: a :class:`Recording` (default: the packaged ETHUSDT 2024-08-08
    one). ``speed``: 1.0 = recorded pace, N = N times faster, ``"max"``/``None``/``math.inf`` =
    as fast as the clients read. ``autostart``: start the shared replay clock at the first
    subscription (else call :meth:`start_replay`). ``faults``: per-connection faults applied to
    every new connection, and :class:`SlowSnapshot`. ``ping_interval``/``pong_timeout``/
    ``rate_limit`` (seconds, seconds, messages per second) override the market's (spot 20 s /
    60 s / 5, USD-M 180 s / 600 s / 10); 0 disables. ``snapshot_mode``: "auto" (recorded
    snapshot while current, else derived, see ``book.py``), "recorded" or "derived".
    ``error_format``: "nested" (as on the wire) or "flat" (as in Binance's doc table).
    ``routing``: USD-M ``/public`` vs ``/market`` stream split (docs/exchanges/binance.md §1).
    ``aliases``: extra stream name -> recorded stream name. ``close_at_end``: close all
    connections (1000) when the recording is exhausted. ``lifetime``: seconds after which a
    connection is closed (1001), Binance's 24 h by default; ``None`` disables.
    ``exchange_info_status``: HTTP status of ``exchangeInfo`` replies; 200 serves the symbol list,
    another (e.g. 503) answers with Binance's internal-error body, to test a client's fallback.
    ``symbol_status``: market id -> ``status`` shown there instead of ``TRADING`` (e.g.
    ``{"ETHUSDT": "BREAK"}``, a halted market); the streams still replay.
    ``past_trades_status``: HTTP status of ``historicalTrades`` / ``aggTrades`` replies (200
    serves the recorded trades published so far; another fails them, to test a client that
    cannot fill a reconnect's missed trades).

    ``GET /api/v3/exchangeInfo`` / ``/fapi/v1/exchangeInfo`` list the markets the recording holds
    (:attr:`symbols`) as TRADING; spot also takes ``symbol=`` / ``symbols=["A","B"]``.
    REST depth requests that arrive before the replay has reached the recorded snapshot's
    arrival (spot: line 5, USD-M: line 40) are held until it does.

    Use as ``async with Simulator(...) as sim:``; URLs: :attr:`ws_url`, :attr:`rest_url`,
    :meth:`stream_url`, :meth:`raw_url`, :attr:`depth_url`.
    """

    def __init__(
        self,
        market: str = "binance",
        *,
        recording: Recording | None = None,
        speed: float | str | None = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        autostart: bool = True,
        faults: Iterable[object] = (),
        ping_interval: float | None = None,
        pong_timeout: float | None = None,
        rate_limit: int | None = None,
        snapshot_mode: str = "auto",
        error_format: str = "nested",
        routing: bool = True,
        aliases: Mapping[str, str] | None = None,
        close_at_end: bool = False,
        lifetime: float | None = 24 * 3600.0,
        exchange_info_status: int = 200,
        symbol_status: Mapping[str, str] | None = None,
        past_trades_status: int = 200,
    ):
        if market not in MARKETS:
            raise ValueError(f"unknown market {market!r}; known: {', '.join(MARKETS)}")
        if snapshot_mode not in ("auto", "recorded", "derived"):
            raise ValueError("snapshot_mode must be 'auto', 'recorded' or 'derived'")
        self.spec: MarketSpec = MARKETS[market]
        self.market = market
        self.recording = recording if recording is not None else packaged_recording(market)
        for alias, source in (aliases or {}).items():
            self.recording.add_alias(alias, source)
        self.speed = _parse_speed(speed)
        self.host = host
        self.port = port
        self.autostart = autostart
        self.ping_interval = self.spec.ping_interval if ping_interval is None else ping_interval
        self.pong_timeout = self.spec.pong_timeout if pong_timeout is None else pong_timeout
        self.rate_limit = self.spec.rate_limit if rate_limit is None else rate_limit
        self.snapshot_mode = snapshot_mode
        self.routing = routing
        self.close_at_end = close_at_end
        self.lifetime = lifetime
        self.exchange_info_status = exchange_info_status
        self.symbol_status = dict(symbol_status or {})
        self.past_trades_status = past_trades_status
        self.past_trades_requests = 0
        self.control = ControlHandler(error_format, self.spec.close_on_invalid_json)
        self.connections: list[Connection] = []  # open ones
        self.total_connections = 0
        self.rest_requests = 0  # depth snapshots
        self.exchange_info_requests = 0
        self._conn_faults: list[object] = []
        self._snapshot_delays: list[list] = []  # [delay, remaining count or None]
        for f in faults:
            if isinstance(f, CONNECTION_FAULTS):
                self._conn_faults.append(f)
            elif isinstance(f, SlowSnapshot):
                self._snapshot_delays.append([f.delay, f.count])
            else:
                raise ValueError(f"{f!r} cannot be configured up front; use inject()")
        self.replay: Replay | None = None
        self._snapshots: dict[str, SnapshotSource] = {}
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task] = set()
        self._conn_event: asyncio.Event | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> Simulator:
        """Bind and serve. Sets :attr:`port` to the bound port."""
        futures = self.spec.name == "binanceusdm"
        stops = [s.after_line for s in self.recording.snapshots.values()]
        self.replay = Replay(self.recording, self.speed, stops)
        self.replay.on_finished = self._on_finished
        self._snapshots = {
            sym: SnapshotSource(self.recording, snap, futures)
            for sym, snap in self.recording.snapshots.items()
        }
        self._conn_event = asyncio.Event()
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Close every connection (1001) and stop serving."""
        if self.replay is not None:
            await self.replay.stop()
        for c in list(self.connections):
            c.close_soon(1001, "simulator stopped")
        for t in list(self._tasks):
            t.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # ---- URLs -----------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        """Base WebSocket URL, e.g. ``ws://127.0.0.1:PORT`` (append ``/ws`` or ``/stream?...``)."""
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """Base REST URL, e.g. ``http://127.0.0.1:PORT`` (``/api/v3/depth``, ``/fapi/v1/depth``)."""
        return f"http://{self.host}:{self.port}"

    def stream_url(self, *streams: str, route: str = "") -> str:
        """Combined-stream URL ``<ws_url><route>/stream?streams=a/b`` (all recorded streams if
        none are given). ``route``: "", "/public" or "/market" (USD-M)."""
        names = streams or tuple(self.streams)
        return f"{self.ws_url}{route}/stream?streams={'/'.join(names)}"

    def raw_url(self, stream: str | None = None, route: str = "") -> str:
        """Raw-stream URL ``<ws_url><route>/ws[/<stream>]`` (no envelope)."""
        return f"{self.ws_url}{route}/ws" + (f"/{stream}" if stream else "")

    @property
    def depth_url(self) -> str:
        """REST depth endpoint URL (add ``?symbol=ETHUSDT&limit=1000``)."""
        return self.rest_url + self.spec.depth_path

    @property
    def exchange_info_url(self) -> str:
        """REST ``exchangeInfo`` endpoint URL (the markets the recording holds)."""
        return self.rest_url + self.spec.rest_prefix + "/exchangeInfo"

    @property
    def streams(self) -> list[str]:
        """Stream names present in the recording (aliases excluded)."""
        return [n for n, sd in self.recording.streams.items() if sd.source is None]

    @property
    def symbols(self) -> list[str]:
        """Market ids (``ETHUSDT``) the recording holds streams (aliases included) or snapshots
        for: what exchangeInfo lists."""
        ids = {
            n.split("@", 1)[0].upper() for n in self.recording.streams if "@" in n and n[0] != "!"
        }
        return sorted(ids | set(self.recording.snapshots))

    def warm(self, streams: Iterable[str] | None = None, combined: bool = True) -> None:
        """Pre-build the encoded byte stream of a subscription set (default: every recorded
        stream), so a benchmark's first connection does not pay for it (~20-50 ms)."""
        self.recording.view(self.streams if streams is None else streams, combined)

    # ---- replay control -------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Recording lines published so far (0 .. len(recording))."""
        return self.replay.position if self.replay else 0

    def start_replay(self) -> None:
        """Start the shared replay clock now (needed when ``autostart=False``)."""
        self._require_started().start()

    def pause(self) -> None:
        """Hold the replay (connections stay open, pings continue)."""
        self._require_started().pause()

    def hold_at(self, n: int) -> None:
        """Replay up to recording line ``n`` (exclusive, 0-based) then wait there until
        :meth:`resume`: lets a test put the replay at an exact position (use with "max")."""
        self._require_started().hold_at(n)

    def resume(self) -> None:
        """Undo :meth:`pause` / :meth:`hold_at`."""
        self._require_started().resume()

    async def rewind(self) -> None:
        """Restart the recording from line 0 for connections subscribing from now on."""
        rp = self._require_started()
        await rp.rewind()
        for src in self._snapshots.values():
            src.reset()

    async def wait_position(self, n: int, timeout: float | None = None) -> int:
        """Wait until ``n`` lines are published; returns the position. ``asyncio.TimeoutError``."""
        return await asyncio.wait_for(self._require_started().wait_position(n), timeout)

    async def wait_finished(self, timeout: float | None = None) -> None:
        """Wait until the whole recording is published."""
        await asyncio.wait_for(self._require_started().finished.wait(), timeout)

    async def wait_connections(self, n: int = 1, timeout: float | None = 5.0) -> list[Connection]:
        """Wait until ``n`` connections are open; returns them. ``asyncio.TimeoutError``."""

        async def _wait() -> None:
            while len(self.connections) < n:
                assert self._conn_event is not None
                self._conn_event.clear()
                await self._conn_event.wait()

        await asyncio.wait_for(_wait(), timeout)
        return list(self.connections)

    def _require_started(self) -> Replay:
        if self.replay is None:
            raise RuntimeError("simulator not started; use 'async with Simulator(...)'")
        return self.replay

    def _on_subscribe(self) -> None:
        rp = self._require_started()
        if self.autostart and not rp.started:
            rp.start()
        rp.poke()

    def _on_finished(self) -> None:
        if self.close_at_end:
            for c in list(self.connections):
                c.close_soon(1000, "end of recording")

    # ---- faults ---------------------------------------------------------------------------
    def inject(
        self, fault: object, connection: Connection | None = None, future: bool = False
    ) -> None:
        """Apply a fault now (see ``faults.py``).

        Per-connection faults go to ``connection`` or to every open connection, and with
        ``future=True`` also to each connection opened later. :class:`SlowSnapshot` affects
        REST depth responses from now on; :class:`ServerShutdown` notifies and closes the open
        connections. Raises ``TypeError`` for anything else.
        """
        if isinstance(fault, CONNECTION_FAULTS):
            for c in [connection] if connection is not None else list(self.connections):
                c.attach(fault)
            if future:
                self._conn_faults.append(fault)
        elif isinstance(fault, SlowSnapshot):
            self._snapshot_delays.append([fault.delay, fault.count])
        elif isinstance(fault, ServerShutdown):
            targets = [connection] if connection is not None else list(self.connections)
            notice = json.dumps(
                {"e": "serverShutdown", "E": time.time_ns() // 1_000_000}, separators=(",", ":")
            ).encode()
            for c in targets:
                c.send_text(notice)
            loop = asyncio.get_running_loop()
            for c in targets:
                loop.call_later(fault.grace, c.close_soon, 1001, "server shutdown")
        else:
            raise TypeError(f"unknown fault {fault!r}")

    def _take_snapshot_delay(self) -> float:
        total = 0.0
        keep = []
        for entry in self._snapshot_delays:
            total += entry[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    continue
            keep.append(entry)
        self._snapshot_delays = keep
        return total

    # ---- HTTP -----------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        spec = self.spec
        if path == spec.depth_path:
            return await self._depth(request)
        if path == spec.rest_prefix + "/exchangeInfo":
            return self._exchange_info(request)
        if path in (spec.rest_prefix + "/historicalTrades", spec.rest_prefix + "/aggTrades"):
            return self._past_trades(request, path.endswith("/aggTrades"))
        if path == spec.rest_prefix + "/ping":
            return web.Response(body=b"{}", content_type=None, headers={"Content-Type": _JSON})
        if path == spec.rest_prefix + "/time":
            body = json.dumps({"serverTime": time.time_ns() // 1_000_000}).encode()
            return web.Response(body=body, headers={"Content-Type": _JSON})
        for route in spec.routes:
            if not path.startswith(route + "/"):
                continue
            rest = path[len(route) :]
            if rest == "/ws":
                return await self._websocket(request, route, False, [])
            if rest.startswith("/ws/") and "/" not in rest[4:]:
                return await self._websocket(request, route, False, [unquote(rest[4:])])
            if rest == "/stream":
                raw = request.query.get("streams", "")
                names = [s for s in raw.split("/") if s]
                return await self._websocket(request, route, True, names)
        raise web.HTTPNotFound()

    async def _websocket(
        self, request: web.Request, route: str, combined: bool, streams: list[str]
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            autoping=False, compress=False, max_msg_size=1 << 20, timeout=5.0
        )
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="expected a WebSocket upgrade")
        await ws.prepare(request)
        conn = Connection(self, ws, request, route, combined)
        self.connections.append(conn)
        self.total_connections += 1
        assert self._conn_event is not None
        self._conn_event.set()
        assert self.replay is not None
        self.replay.subscribers.add(conn)
        try:
            if not all(valid_stream_name(s) for s in streams):
                # Binance answers a malformed URL stream list by closing with 1008.
                await ws.close(
                    code=1008, message=b'{"code":-1,"msg":"Illegal format ws or stream"}'
                )
                return ws
            if self.lifetime:
                conn.attach(Lifetime(self.lifetime))
            for f in self._conn_faults:
                conn.attach(f)
            conn.subscribe(streams)
            await conn.run()
        finally:
            conn.cleanup()
            self.replay.subscribers.discard(conn)
            if conn in self.connections:
                self.connections.remove(conn)
        return ws

    async def _depth(self, request: web.Request) -> web.Response:
        """``GET /api/v3/depth`` / ``/fapi/v1/depth``: the snapshot at the replay position."""
        self.rest_requests += 1
        q = request.query
        symbol = q.get("symbol")
        if not symbol:
            return _rest_error(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        src = self._snapshots.get(symbol)
        if src is None:
            return _rest_error(-1121, "Invalid symbol.")
        spec = self.spec
        try:
            limit = int(q.get("limit", spec.default_depth_limit))
        except ValueError:
            return _rest_error(
                -1100,
                "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
            )
        if spec.depth_limits is not None and limit not in spec.depth_limits:
            return _rest_error(-1130, "Data sent for parameter 'limit' is not valid.")
        if limit < 1:
            return _rest_error(-1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, spec.max_depth_limit)
        delay = self._take_snapshot_delay()
        rp = self._require_started()
        # Hold the request until the replay reaches the recorded snapshot's arrival.
        position = await rp.wait_position(src.snap.after_line)
        if not (self.snapshot_mode == "auto" and src.recorded_is_current(position)):
            position = rp.position  # the book as it is now
        if self.snapshot_mode == "recorded":
            body = src.recorded_body(limit)
        else:
            body = src.body(position, limit, prefer_recorded=self.snapshot_mode == "auto")
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=body, headers={"Content-Type": _JSON})

    def _past_trades(self, request: web.Request, aggregated: bool) -> web.Response:
        """``GET /api/v3/historicalTrades`` (``id,price,qty,quoteQty,time,isBuyerMaker,
        isBestMatch``) or ``/aggTrades`` (``a,p,q,f,l,T,m,M``), and their ``/fapi/v1`` twins:
        the recorded ``trade`` / ``aggTrade`` events of ``symbol`` the replay has published so
        far, from ``fromId`` on (else the latest), at most ``limit`` (default 500, max 1000).
        USD-M ``historicalTrades`` is MARKET_DATA: without ``X-MBX-APIKEY`` it answers 401
        -2014, as Binance does. ``past_trades_status`` other than 200 fails every request."""
        self.past_trades_requests += 1
        if self.past_trades_status != 200:
            return _rest_error(
                -1001,
                "Internal error; unable to process your request. Please try again.",
                self.past_trades_status,
            )
        if (
            not aggregated
            and self.spec.historical_trades_need_key
            and "X-MBX-APIKEY" not in request.headers
        ):
            return _rest_error(-2014, "API-key format invalid.", 401)
        q = request.query
        symbol = q.get("symbol", "")
        stream = f"{symbol.lower()}@{'aggTrade' if aggregated else 'trade'}"
        if not symbol or stream not in self.recording.streams:
            return _rest_error(-1121, "Invalid symbol.")
        try:
            limit = min(int(q.get("limit", 500)), 1000)
            from_id = int(q["fromId"]) if "fromId" in q else None
        except ValueError:
            return _rest_error(-1100, "Illegal characters found in a parameter.")
        sd = self.recording.streams[stream]
        published = bisect.bisect_left(sd.lines, self.position)  # lines before the position
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
            out = [
                {
                    "id": e["t"],
                    "price": e["p"],
                    "qty": e["q"],
                    "quoteQty": str((Decimal(e["p"]) * Decimal(e["q"])).quantize(Decimal("1e-8"))),
                    "time": e["T"],
                    "isBuyerMaker": e["m"],
                    "isBestMatch": True,
                }
                for e in events
            ]
        return web.Response(
            body=json.dumps(out, separators=(",", ":")).encode(), headers={"Content-Type": _JSON}
        )

    def _exchange_info(self, request: web.Request) -> web.Response:
        """``GET /api/v3/exchangeInfo`` / ``/fapi/v1/exchangeInfo`` in Binance's documented shape:
        one entry per held market, status TRADING unless ``symbol_status`` says otherwise, assets
        split as the decoder does (``markets.py``).

        Spot takes ``symbol=X`` or ``symbols=["X","Y"]`` (not both: -1128) and answers 400 -1121
        "Invalid symbol." if any is not held, -1100 if malformed; USD-M takes no parameters."""
        self.exchange_info_requests += 1
        if self.exchange_info_status != 200:
            return _rest_error(
                -1001,
                "Internal error; unable to process your request. Please try again.",
                self.exchange_info_status,
            )
        futures = self.spec.name == "binanceusdm"
        held = self.symbols
        ids = held
        q = request.query
        if not futures and ("symbol" in q or "symbols" in q):
            if "symbol" in q and "symbols" in q:
                return _rest_error(-1128, "Combination of optional parameters invalid.")
            if "symbol" in q:
                ids = [q["symbol"]]
                if not _SYMBOL.match(ids[0]):
                    return _rest_error(
                        -1100,
                        "Illegal characters found in parameter 'symbol'; "
                        "legal range is '^[A-Z0-9-_.]{1,20}$'.",
                    )
            else:
                try:
                    ids = json.loads(q["symbols"])
                    ok = isinstance(ids, list) and all(
                        isinstance(i, str) and _SYMBOL.match(i) for i in ids
                    )
                except ValueError:
                    ok = False
                if not ok:
                    return _rest_error(-1100, "Illegal characters found in parameter 'symbols'.")
                ids = list(dict.fromkeys(ids))
            if any(i not in held for i in ids):
                return _rest_error(-1121, "Invalid symbol.")
        entries = []
        for mid in ids:
            entry: dict = {"symbol": mid, "status": self.symbol_status.get(mid, "TRADING")}
            assets = split_market_id(self.spec.name, mid)
            if futures:
                entry["pair"] = mid.split("_", 1)[0]
                if "_" not in mid:  # a dated id is a delivery contract; which quarter is unknown
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
            entries.append(entry)
        body: dict = {
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
        return web.Response(body=json.dumps(body).encode(), headers={"Content-Type": _JSON})


def _rest_error(code: int, msg: str, status: int = 400) -> web.Response:
    body = json.dumps({"code": code, "msg": msg}).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": _JSON})
