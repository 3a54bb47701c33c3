"""Wrong or unreachable endpoints: a permanent refusal (4xx on the WebSocket upgrade, an unknown
host) fails ``Feed.start()`` at once with one ``EndpointError``; transient ones (5xx, 429) are
retried until the start timeout, then one ``StartTimeoutError``. Against the simulator (which
answers 404 on an unknown path) and a small real HTTP server answering every request with a
given status. (A refused connection: ``test_connection.test_reconnect_backoff_on_refused_connection``.)"""

from __future__ import annotations

import socket
import time

import pytest
from aiohttp import web

from tickwire.connection import ConnectionOptions, EndpointError, StartTimeoutError
from tickwire.exceptions import TickwireError
from tickwire.feed import Feed
from tickwire.simulator import Simulator

pytestmark = pytest.mark.e2e  # loopback servers

FAST = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2)


def test_404_on_the_upgrade_fails_at_once_naming_the_redacted_url(run):
    async def scenario():
        async with Simulator("binance", speed="max") as sim:
            host = sim.ws_url.split("://", 1)[1]
            ws = f"ws://bot:hunter2@{host}/wrong-market"  # the adapter appends /stream
            feed = Feed(
                "binance",
                "ETH/USDT",
                "trades",
                urls={"ws": ws, "rest": sim.rest_url},
                start_timeout=20,
                connection_options=FAST,
            )
            t0 = time.monotonic()
            with pytest.raises(EndpointError) as ei:
                await feed.start()
            return ei.value, time.monotonic() - t0, sim.total_connections, host

    err, took, sockets, host = run(scenario())
    assert took < 5  # not retried until the 20 s start timeout
    assert sockets == 0
    assert isinstance(err, TickwireError)
    assert err.status == 404 and err.url == f"ws://bot:***@{host}/wrong-market/stream"
    msg = str(err)
    assert msg.startswith(err.url + ": ") and "HTTP 404" in msg, msg
    assert "hunter2" not in msg and "\n" not in msg


async def _status_server(status: int) -> tuple[web.AppRunner, str, list[str]]:
    """A real HTTP server answering every request (upgrade or REST) with ``status``."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(status=status, text="no", headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}", seen


@pytest.mark.parametrize("status", [403, 404, 410])
def test_permanent_4xx_on_the_upgrade_is_not_retried(run, status):
    async def scenario():
        runner, url, seen = await _status_server(status)
        try:
            feed = Feed("binance", "ETH/USDT", "trades", base_url=url, start_timeout=20)
            with pytest.raises(EndpointError) as ei:
                await feed.start()
            return ei.value, [p for p in seen if p == "/stream"]
        finally:
            await runner.cleanup()

    err, upgrades = run(scenario())
    assert err.status == status and f"HTTP {status}" in str(err)
    assert len(upgrades) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_transient_status_on_the_upgrade_backs_off_until_the_start_timeout(run, status):
    async def scenario():
        runner, url, seen = await _status_server(status)
        try:
            feed = Feed(
                "binance",
                "ETH/USDT",
                "trades",
                base_url=url,
                start_timeout=1.0,
                connection_options=FAST,
            )
            with pytest.raises(StartTimeoutError) as ei:
                await feed.start()
            return ei.value, [p for p in seen if p == "/stream"]
        finally:
            await runner.cleanup()

    err, upgrades = run(scenario())
    assert len(upgrades) >= 2  # retried
    msg = str(err)
    assert "\n" not in msg and f"received {status}" in msg, msg


def _resolver_says_no_such_host(name: str) -> bool:
    try:
        socket.getaddrinfo(name, 80)
    except socket.gaierror as exc:
        return exc.errno == socket.EAI_NONAME
    return False


def test_unknown_host_fails_at_once(run):
    host = "no-such-host.invalid"  # RFC 2606: never resolves
    if not _resolver_says_no_such_host(host):
        pytest.skip("this machine's resolver does not answer NXDOMAIN for .invalid")

    async def scenario():
        feed = Feed(
            "binance",
            "ETH/USDT",
            "trades",
            base_url=f"http://{host}",
            start_timeout=20,
            validate_symbols=False,
            connection_options=FAST,
        )
        t0 = time.monotonic()
        with pytest.raises(EndpointError) as ei:
            await feed.start()
        return ei.value, time.monotonic() - t0

    err, took = run(scenario())
    assert took < 5 and err.status is None
    assert str(err).startswith(f"ws://{host}/stream: unknown host")


def test_a_dns_outage_after_connecting_is_retried_not_fatal():
    """Once the host resolved and the feed connected, "no such host" on a reconnect is a
    resolver outage (or a DNS change in flight), not a wrong URL: retried with backoff until
    the name resolves again. Runs on the asyncio loop, whose name lookups go through
    ``loop.getaddrinfo`` (the one place a test can make the resolver fail)."""
    import asyncio

    from tickwire.events import Connected
    from tickwire.simulator import CloseAfter

    async def scenario() -> tuple[list[object], int, int, dict[str, int]]:
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo
        failures = 0
        outage = False

        async def getaddrinfo(host: object, *args: object, **kw: object) -> object:
            nonlocal failures
            if outage and host == "localhost" and failures < 3:
                failures += 1
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return await real(host, *args, **kw)  # type: ignore[arg-type]

        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
        async with Simulator("binance", speed=5.0) as sim:
            events: list[object] = []
            port = sim.rest_url.rsplit(":", 1)[1]
            feed = Feed(
                "binance", "ETH/USDT", "trades", base_url=f"http://localhost:{port}",
                validate_symbols=False, connection_options=FAST, on_event=events.append,
            )  # fmt: skip
            async with feed:
                outage = True
                sim.inject(CloseAfter(0))
                deadline = loop.time() + 15
                while sum(isinstance(e, Connected) for e in events) < 2:
                    assert loop.time() < deadline, "no reconnect after the DNS outage"
                    await asyncio.sleep(0.02)
                stats = feed.stats()
            return events, failures, sim.total_connections, stats

    events, failures, connections, stats = asyncio.run(scenario())
    assert failures == 3 and connections == 2
    assert stats["reconnects"] == 1
    assert [type(e).__name__ for e in events].count("Disconnected") == 1
