"""Local Binance exchange simulator: replays real recordings over real WebSockets on loopback.

It speaks Binance's market-stream protocol (spot "binance", USD-M "binanceusdm"): combined
``/stream?streams=a/b`` and raw ``/ws`` / ``/ws/<stream>`` endpoints (USD-M also ``/public``
and ``/market`` routes), SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY /
GET_PROPERTY with Binance's replies and error codes, server pings and pong timeouts, the
control-message rate limit, the REST depth snapshot (``/api/v3/depth``, ``/fapi/v1/depth``)
as of the replay position, and ``exchangeInfo`` listing the recorded markets. Faults can be
configured or injected while running.

Usage in a bot's tests::

    from tickwire.simulator import Simulator, CloseAfter, Drop

    async def test_my_bot():
        async with Simulator("binance", speed="max") as sim:
            url = sim.stream_url("ethusdt@depth@100ms", "ethusdt@bookTicker")
            # ws://127.0.0.1:PORT/stream?streams=...; REST: sim.rest_url + "/api/v3/depth"
            bot = MyBot(ws_url=url, rest_url=sim.rest_url)
            task = asyncio.create_task(bot.run())
            await sim.wait_connections(1)
            sim.inject(Drop(stream="ethusdt@depth@100ms", skip=10))  # a real sequence gap
            sim.inject(CloseAfter(500))                              # then a disconnect
            await sim.wait_finished()

For synchronous tests: ``with ThreadedSimulator("binance", speed="max") as sim:`` (same
arguments; the server runs in a background thread).

``speed``: 1.0 recorded pace (default), N = N x faster, "max" = as fast as the client reads.
Timestamps are int ns since the epoch. Command line: ``tickwire simulate`` (``cli.py``).
Send-rate benchmark: ``python -m tickwire.simulator.bench``.
"""

from .faults import (
    CloseAfter,
    Drop,
    Garbage,
    Lifetime,
    ServerShutdown,
    SlowSnapshot,
    Stall,
    parse_fault,
)
from .markets import MARKETS, MarketSpec
from .recording import Recording, Snapshot, packaged_recording
from .server import Simulator
from .threaded import ThreadedSimulator

__all__ = [
    "MARKETS",
    "CloseAfter",
    "Drop",
    "Garbage",
    "Lifetime",
    "MarketSpec",
    "Recording",
    "ServerShutdown",
    "Simulator",
    "SlowSnapshot",
    "Snapshot",
    "Stall",
    "ThreadedSimulator",
    "packaged_recording",
    "parse_fault",
]
