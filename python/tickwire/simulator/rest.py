"""The simulator's REST endpoints, in Binance's shapes: depth snapshot, exchangeInfo, past
trades (``historicalTrades`` / ``aggTrades``), ping and time.

Every answer is built from the simulator's recording and replay position; failures answer with
Binance's error body ``{"code": -1121, "msg": "Invalid symbol."}`` and its HTTP status.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import re
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .markets import split_market_id

if TYPE_CHECKING:  # pragma: no cover
    from .server import Simulator

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
_SYMBOL = re.compile(r"^[A-Z0-9-_.]{1,20}$")  # Binance's legal range for a symbol parameter
_INTERNAL_ERROR = "Internal error; unable to process your request. Please try again."


def rest_error(code: int, msg: str, status: int = 400) -> web.Response:
    """Binance's error reply: ``{"code": code, "msg": msg}`` with HTTP ``status``."""
    body = json.dumps({"code": code, "msg": msg}).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": JSON_CONTENT_TYPE})


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, headers={"Content-Type": JSON_CONTENT_TYPE})


class SnapshotDelays:
    """Pending :class:`~.faults.SlowSnapshot` delays: each applies to the next ``count`` depth
    responses (all of them if ``count`` is None); delays that apply together add up."""

    def __init__(self) -> None:
        self._entries: list[tuple[float, int | None]] = []  # (seconds, responses left or None)

    def add(self, delay: float, count: int | None) -> None:
        """Delay the next ``count`` responses (None: every one) by ``delay`` seconds."""
        self._entries.append((delay, count))

    def take(self) -> float:
        """Seconds to delay the response being served now; uses up one response of each."""
        total = 0.0
        keep: list[tuple[float, int | None]] = []
        for delay, left in self._entries:
            total += delay
            if left is None:
                keep.append((delay, None))
            elif left > 1:
                keep.append((delay, left - 1))
        self._entries = keep
        return total


class RestApi:
    """The REST endpoints of one :class:`~.server.Simulator` (see the module docstring).

    The request counters live on the simulator (``rest_requests``, ``exchange_info_requests``,
    ``past_trades_requests``), where tests read them.
    """

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.snapshot_delays = SnapshotDelays()

    def route(self, path: str) -> str | None:
        """The endpoint name serving ``path`` ("depth", "exchangeInfo", "historicalTrades",
        "aggTrades", "ping", "time"), or None if ``path`` is no REST endpoint."""
        spec = self.sim.spec
        if path == spec.depth_path:
            return "depth"
        prefix, _, name = path.rpartition("/")
        if prefix == spec.rest_prefix and name in (
            "exchangeInfo",
            "historicalTrades",
            "aggTrades",
            "ping",
            "time",
        ):
            return name
        return None

    async def handle(self, endpoint: str, request: web.Request) -> web.Response:
        """Answer ``request`` for ``endpoint`` (a name returned by :meth:`route`)."""
        if endpoint == "depth":
            return await self.depth(request)
        if endpoint == "exchangeInfo":
            return self.exchange_info(request)
        if endpoint in ("historicalTrades", "aggTrades"):
            return self.past_trades(request, aggregated=endpoint == "aggTrades")
        if endpoint == "ping":
            return _json(b"{}")
        return _json(json.dumps({"serverTime": time.time_ns() // 1_000_000}).encode())

    async def depth(self, request: web.Request) -> web.Response:
        """``GET /api/v3/depth`` / ``/fapi/v1/depth``: the snapshot at the replay position.

        Held until the replay reaches the recorded snapshot's arrival; then the recorded body
        while it is current, else one derived from the recorded diffs (``book.py``)."""
        sim = self.sim
        sim.rest_requests += 1
        q = request.query
        symbol = q.get("symbol")
        if not symbol:
            return rest_error(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        src = sim.snapshot_sources.get(symbol)
        if src is None:
            return rest_error(-1121, "Invalid symbol.")
        spec = sim.spec
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
        delay = self.snapshot_delays.take()
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
            and sim.spec.historical_trades_need_key
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
        return _json(json.dumps(out, separators=(",", ":")).encode())

    def exchange_info(self, request: web.Request) -> web.Response:
        """``GET /api/v3/exchangeInfo`` / ``/fapi/v1/exchangeInfo`` in Binance's documented shape:
        one entry per held market, status TRADING unless ``symbol_status`` says otherwise, assets
        split as the decoder does (``markets.py``).

        Spot takes ``symbol=X`` or ``symbols=["X","Y"]`` (not both: -1128) and answers 400 -1121
        "Invalid symbol." if any is not held, -1100 if malformed; USD-M takes no parameters."""
        sim = self.sim
        sim.exchange_info_requests += 1
        if sim.exchange_info_status != 200:
            return rest_error(-1001, _INTERNAL_ERROR, sim.exchange_info_status)
        futures = sim.spec.name == "binanceusdm"
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
                    "limit": sim.spec.weight_per_minute,
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
        assets = split_market_id(sim.spec.name, market_id)
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
