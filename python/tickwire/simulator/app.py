"""The simulator's HTTP server: one aiohttp app per market on a loopback port, routing each
request to one of the venue's REST routes or WebSocket endpoints (``VenueSim.rest_handler``,
``VenueSim.ws_endpoint``; a connection is served by ``connection.py``).

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
from typing import TYPE_CHECKING

from aiohttp import web

from .connection import ServerConnection
from .faults import Lifetime, SnapshotFailure

if TYPE_CHECKING:  # pragma: no cover
    from .server import Simulator
    from .venue import WsEndpoint


class SimulatorApp:
    """Serves one :class:`~.server.Simulator` over HTTP: a request of any method (``GET``,
    ``POST``, ...) goes to the venue's REST route for its path if there is one (the route's
    handler checks the method: KuCoin's ``bullet-public`` and Hyperliquid's ``/info`` are
    POSTs), else a ``GET`` to its WebSocket endpoint (an upgrade); anything else is 404 (405
    for another method on a WebSocket path), a plain GET of a WebSocket endpoint 400."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` (0: an ephemeral port); returns the bound port.
        Raises ``OSError`` if the address cannot be bound (e.g. the port is in use)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound: int = runner.addresses[0][1]  # (host, port) for IPv4, 4-tuple for IPv6
        return bound

    async def stop(self) -> None:
        """Stop listening and end every request still being served."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        venue = self.sim.venue
        handler = venue.rest_handler(request.path)
        if handler is not None:
            if venue.is_snapshot_path(request.path):
                failure = self.sim.take_snapshot_failure()
                if failure is not None:
                    return await _failed_snapshot(failure)
            return await handler(request)
        endpoint = venue.ws_endpoint(request.path, request.query)
        if endpoint is None:
            raise web.HTTPNotFound()
        if request.method != "GET":
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        return await self._websocket(request, endpoint)

    async def _websocket(self, request: web.Request, endpoint: WsEndpoint) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            autoping=False, compress=False, max_msg_size=1 << 20, timeout=5.0
        )
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="expected a WebSocket upgrade")
        await ws.prepare(request)
        sim = self.sim
        conn = ServerConnection(sim, ws, request, endpoint.route, endpoint.framing)
        sim.connection_opened(conn)
        try:
            if endpoint.reject is not None:  # e.g. a malformed stream name in the URL
                code, reason = endpoint.reject
                await ws.close(code=code, message=reason)
                return ws
            for greeting in sim.venue.on_open(conn):  # e.g. KuCoin's welcome
                conn.send_text(greeting)
            if sim.lifetime:
                conn.attach(Lifetime(sim.lifetime))
            for fault in sim.connection_faults:
                conn.attach(fault)
            conn.subscribe(list(endpoint.streams))
            await conn.run()
        finally:
            conn.cleanup()
            sim.connection_closed(conn)
        return ws


async def _failed_snapshot(failure: SnapshotFailure) -> web.Response:
    """The answer of a snapshot request a :class:`SnapshotFailure` hits: its status (with
    ``Retry-After`` when it has one), or, for ``hang``, none until the client gives up."""
    if failure.hang:
        await asyncio.sleep(3600)  # ended by the client's timeout (the request is cancelled)
    headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
    return web.Response(status=failure.status, text="simulated snapshot failure", headers=headers)
