"""Local exchange simulator: replays real recordings over real WebSockets on loopback.

Each market it serves (``venues.MARKETS``, named ``<exchange>`` for an exchange's default
market and ``<exchange>-<market>`` for its others) speaks its venue's protocol: WebSocket endpoints, subscription requests with the
venue's replies and error codes, server pings and pong timeouts, the control-message rate
limit, REST book snapshots as of the replay position and the instrument list of the recorded
markets (see ``venues/<family>.py`` for each venue, ``venue.py`` for how to add one). Faults
can be configured or injected while running: disconnects, stalls, dropped messages (gaps),
garbage frames, corrupted book checksums and snapshots forced mid-stream (``faults.py``).

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
Private (account) side: ``Simulator(..., accounts=[SimAccount(...)])``, ``sim.accounts``
(orders, fills, positions, balances driven by calls, scripted scenarios and the recorded
market; tokens; account faults): see ``account.py``.

Timestamps are int ns since the epoch. Command line: ``tickwire simulate`` (``cli.py``).
Send-rate benchmark: ``python -m tickwire.simulator.bench``.
"""

from .account import (
    AccountChange,
    AccountEngine,
    AccountMarket,
    Accounts,
    Amend,
    Cancel,
    Deposit,
    FillOrder,
    MarketTrade,
    Place,
    SimAccount,
)
from .faults import (
    AuthServerError,
    BadChecksum,
    ClockSkew,
    CloseAfter,
    Drop,
    FillBurst,
    ForceSnapshot,
    Garbage,
    Lifetime,
    ServerShutdown,
    SlowSnapshot,
    SnapshotFailure,
    Stall,
    TokenExpiry,
    parse_fault,
)
from .recording import Recording, Snapshot, packaged_recording
from .server import Simulator
from .threaded import ThreadedSimulator
from .venue import DemoSpec, MarketSpec, VenueSim, market_name
from .venues import MARKETS
from .wirebook import BookMessage, BookReplay, WireBook

__all__ = [
    "MARKETS",
    "AccountChange",
    "AccountEngine",
    "AccountMarket",
    "Accounts",
    "Amend",
    "AuthServerError",
    "BadChecksum",
    "BookMessage",
    "BookReplay",
    "Cancel",
    "ClockSkew",
    "CloseAfter",
    "DemoSpec",
    "Deposit",
    "Drop",
    "FillBurst",
    "FillOrder",
    "ForceSnapshot",
    "Garbage",
    "Lifetime",
    "MarketSpec",
    "MarketTrade",
    "Place",
    "Recording",
    "ServerShutdown",
    "SimAccount",
    "Simulator",
    "SlowSnapshot",
    "Snapshot",
    "SnapshotFailure",
    "Stall",
    "ThreadedSimulator",
    "TokenExpiry",
    "VenueSim",
    "WireBook",
    "market_name",
    "packaged_recording",
    "parse_fault",
]
