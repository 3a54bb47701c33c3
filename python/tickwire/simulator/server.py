"""The simulator: one market served on a loopback port, its configuration, lifecycle, URLs,
replay control and fault injection.

The jobs it composes live beside it: ``app.py`` (HTTP server and routing), ``connection.py``
(one client WebSocket connection), ``clock.py`` (the replay clock and its fan-out to
connections), ``faults.py`` (fault descriptions), ``recording.py`` (recordings and their
pre-encoded frames); the market's own protocol and REST routes come from its venue
(``venue.py``, ``venues/``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from types import EllipsisType

from .account import Accounts, SimAccount
from .app import SimulatorApp
from .clock import ReplayClock, parse_speed
from .connection import ServerConnection
from .faults import (
    ACCOUNT_FAULTS,
    CONNECTION_FAULTS,
    AuthServerError,
    ClockSkew,
    ConnectionFault,
    FillBurst,
    ServerShutdown,
    SlowSnapshot,
    SnapshotDelays,
    SnapshotFailure,
    TokenExpiry,
)
from .recording import Recording, View, packaged_recording
from .venue import MarketSpec, VenueSim
from .venues import MARKETS


class Simulator:
    """A local market-data exchange replaying a recording over real WebSockets.

    ``market``: a name in ``venues.MARKETS`` (the market's venue speaks its protocol; default:
    the first one registered); raises ``ValueError`` for another. ``recording``: a :class:`Recording` (default: the one packaged
    for ``market``); ``ValueError`` if its lines are not of the market's format. ``speed``: 1.0 = recorded pace, N = N times faster, ``"max"``/``None``/``math.inf`` =
    as fast as the clients read. ``autostart``: start the shared replay clock at the first
    subscription (else call :meth:`start_replay`). ``faults``: per-connection faults applied to
    every new connection, and :class:`SlowSnapshot`. ``ping_interval``/``pong_timeout``/
    ``rate_limit`` (seconds, seconds, messages per second) and ``client_ping_timeout`` (seconds
    without a client keepalive before the venue closes the connection) override the market's
    (``MarketSpec``); 0 disables. ``snapshot_mode``: "auto" (recorded snapshot while current,
    else one derived at the replay position), "recorded" or "derived". ``routing``: serve each
    stream only on the routes the venue assigns it (``VenueSim.deliverable``). ``aliases``:
    extra stream key -> recorded stream key. ``close_at_end``: close all connections (1000)
    when the recording is exhausted. ``lifetime``: seconds after which a connection is closed
    (1001); default the venue's (``MarketSpec.lifetime``), ``None`` disables.
    ``exchange_info_status``: HTTP status of the venue's instrument-list replies; 200 serves the
    market list, another (e.g. 503) answers with the venue's internal-error body, to test a
    client's fallback. ``symbol_status``: market id -> status shown there instead of trading
    (e.g. ``{"ETHUSDT": "BREAK"}``, a halted market); the streams still replay.
    ``past_trades_status``: HTTP status of the venue's past-trades replies (200 serves the
    recorded trades published so far; another fails them, to test a client that cannot fill a
    reconnect's missed trades). ``accounts``: :class:`~.account.SimAccount` s registered on
    the venue's private side (:attr:`accounts`, ``account.py``; ``ValueError`` for a clash).
    ``faults`` may also hold :class:`~.faults.AuthServerError` and :class:`~.faults.ClockSkew`.
    ``venue_options``: options only the market's venue knows (see
    its ``MarketSpec.create``); ``TypeError`` for one it does not know.

    The instrument list names the markets the recording holds (:attr:`symbols`). REST
    snapshot requests that arrive before the replay has reached the recorded snapshot's
    arrival are held until it does.

    Use as ``async with Simulator(...) as sim:``; URLs: :attr:`ws_url`, :attr:`rest_url`,
    :meth:`stream_url`, :meth:`raw_url`, :attr:`depth_url`, :attr:`exchange_info_url`.
    """

    def __init__(
        self,
        market: str | None = None,
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
        client_ping_timeout: float | None = None,
        snapshot_mode: str = "auto",
        routing: bool = True,
        aliases: Mapping[str, str] | None = None,
        close_at_end: bool = False,
        lifetime: float | EllipsisType | None = ...,
        exchange_info_status: int = 200,
        symbol_status: Mapping[str, str] | None = None,
        past_trades_status: int = 200,
        accounts: Iterable[SimAccount] = (),
        **venue_options: object,
    ):
        if market is None:
            market = next(iter(MARKETS))
        if market not in MARKETS:
            raise ValueError(f"unknown market {market!r}; known: {', '.join(MARKETS)}")
        if snapshot_mode not in ("auto", "recorded", "derived"):
            raise ValueError("snapshot_mode must be 'auto', 'recorded' or 'derived'")
        self.spec: MarketSpec = MARKETS[market]
        self.market = market
        self.recording = recording if recording is not None else packaged_recording(market)
        self.recording.bind(self.spec.wire)
        for alias, source in (aliases or {}).items():
            self.recording.add_alias(alias, source)
        self.speed = parse_speed(speed)
        self.host = host
        self.port = port
        self.autostart = autostart
        self.ping_interval = self.spec.ping_interval if ping_interval is None else ping_interval
        self.pong_timeout = self.spec.pong_timeout if pong_timeout is None else pong_timeout
        self.rate_limit = self.spec.rate_limit if rate_limit is None else rate_limit
        self.client_ping_timeout = (
            self.spec.client_ping_timeout if client_ping_timeout is None else client_ping_timeout
        )
        self.snapshot_mode = snapshot_mode
        self.routing = routing
        self.close_at_end = close_at_end
        self.lifetime = self.spec.lifetime if lifetime is ... else lifetime
        self.exchange_info_status = exchange_info_status
        self.symbol_status = dict(symbol_status or {})
        self.past_trades_status = past_trades_status
        self.past_trades_requests = 0
        self.snapshot_delays = SnapshotDelays()  # SlowSnapshot faults, taken by REST snapshots
        #: SnapshotFailure answers still to give, one entry per failing response
        self.snapshot_failures: deque[SnapshotFailure] = deque()
        self.venue: VenueSim = self.spec.create(self, venue_options)
        # Only a venue that stamps per-connection fields pays for the per-message send path.
        self.stamping = type(self.venue).stamp is not VenueSim.stamp
        self.connections: list[ServerConnection] = []  # open ones
        self.total_connections = 0
        self.rest_requests = 0  # book snapshots
        self.exchange_info_requests = 0
        self.connection_faults: list[ConnectionFault] = []  # attached to each new connection
        #: the private (account) side: registry, engines, tokens, clock (see account.py)
        self.accounts = Accounts(self)
        self._app = SimulatorApp(self)
        self._configure_faults(faults)
        self.replay: ReplayClock | None = None  # the shared replay clock, once started
        for acct in accounts:
            self.accounts.register(acct)
        self._conn_event: asyncio.Event | None = None

    def _configure_faults(self, faults: Iterable[object]) -> None:
        """The faults given to the constructor (``ValueError`` for one that must be injected)."""
        for f in faults:
            if isinstance(f, CONNECTION_FAULTS):
                self.connection_faults.append(f)
            elif isinstance(f, SlowSnapshot):
                self.snapshot_delays.add(f.delay, f.count)
            elif isinstance(f, SnapshotFailure):
                self.snapshot_failures.extend([f] * f.count)
            elif isinstance(f, (AuthServerError, ClockSkew)):
                self._account_fault(f)
            else:
                raise ValueError(f"{f!r} cannot be configured up front; use inject()")

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> Simulator:
        """Bind and serve. Sets :attr:`port` to the bound port. Raises ``OSError`` if the
        address cannot be bound (e.g. the port is in use)."""
        stops = [s.after_line for s in self.recording.snapshots.values()]
        self.replay = ReplayClock(self.recording, self.speed, stops)
        self.replay.on_finished = self._on_finished
        self.venue.started()
        self.accounts.started()
        self._conn_event = asyncio.Event()
        self.port = await self._app.start(self.host, self.port)
        return self

    async def stop(self) -> None:
        """Close every connection (1001) and stop serving."""
        if self.replay is not None:
            await self.replay.stop()
        for c in list(self.connections):
            c.close_soon(1001, "simulator stopped")
        await self._app.stop()

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- URLs -----------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        """Base WebSocket URL, e.g. ``ws://127.0.0.1:PORT`` (append ``/ws`` or ``/stream?...``)."""
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """Base REST URL, e.g. ``http://127.0.0.1:PORT`` (append the venue's REST paths)."""
        return f"http://{self.host}:{self.port}"

    def stream_url(self, *streams: str, route: str = "") -> str:
        """URL of a connection that receives ``streams`` (all recorded streams if none are
        given) without subscribing, on the venue's ``route`` (``VenueSim.stream_path``)."""
        names = streams or tuple(self.streams)
        return self.ws_url + self.venue.stream_path(names, route)

    def raw_url(self, stream: str | None = None, route: str = "") -> str:
        """URL of the venue's plain WebSocket endpoint (``VenueSim.raw_path``)."""
        return self.ws_url + self.venue.raw_path(stream, route)

    @property
    def depth_url(self) -> str:
        """REST book snapshot endpoint URL (``VenueSim.snapshot_path``)."""
        return self.rest_url + self.venue.snapshot_path

    @property
    def exchange_info_url(self) -> str:
        """REST instrument-list endpoint URL (the markets the recording holds)."""
        return self.rest_url + self.venue.instruments_path

    @property
    def streams(self) -> list[str]:
        """Stream names present in the recording (aliases excluded)."""
        return [n for n, sd in self.recording.streams.items() if sd.source is None]

    @property
    def symbols(self) -> list[str]:
        """Market ids the recording holds streams (aliases included) or snapshots for: what
        the instrument list names (``VenueSim.market_id_of``)."""
        market_id_of = self.venue.market_id_of
        ids = {market_id_of(n) for n in self.recording.streams}
        return sorted({i for i in ids if i is not None} | set(self.recording.snapshots))

    def warm(self, streams: Iterable[str] | None = None, framing: Hashable = None) -> View:
        """Pre-build (and return) the encoded byte stream of a subscription set (default: every
        recorded stream) with ``framing`` (default: that of :meth:`stream_url` connections), so
        a benchmark's first connection does not pay for it (~20-50 ms)."""
        if framing is None:
            framing = self.spec.wire.default_framing
        return self.recording.view(self.streams if streams is None else streams, framing)

    # ---- replay control -------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Recording lines published so far (0 .. len(recording))."""
        return self.replay.position if self.replay else 0

    def start_replay(self) -> None:
        """Start the shared replay clock now (needed when ``autostart=False``)."""
        self.started_replay().start()

    def pause(self) -> None:
        """Hold the replay (connections stay open, pings continue)."""
        self.started_replay().pause()

    def hold_at(self, n: int) -> None:
        """Replay up to recording line ``n`` (exclusive, 0-based) then wait there until
        :meth:`resume`: lets a test put the replay at an exact position (use with "max")."""
        self.started_replay().hold_at(n)

    def resume(self) -> None:
        """Undo :meth:`pause` / :meth:`hold_at`."""
        self.started_replay().resume()

    async def rewind(self) -> None:
        """Restart the recording from line 0 for connections subscribing from now on."""
        rp = self.started_replay()
        await rp.rewind()
        self.venue.rewound()
        self.accounts.rewound()

    async def wait_position(self, n: int, timeout: float | None = None) -> int:
        """Wait until ``n`` lines are published; returns the position. ``asyncio.TimeoutError``."""
        return await asyncio.wait_for(self.started_replay().wait_position(n), timeout)

    async def wait_finished(self, timeout: float | None = None) -> None:
        """Wait until the whole recording is published."""
        await asyncio.wait_for(self.started_replay().finished.wait(), timeout)

    async def wait_connections(
        self, n: int = 1, timeout: float | None = 5.0
    ) -> list[ServerConnection]:
        """Wait until ``n`` connections are open; returns them. ``asyncio.TimeoutError``."""
        await asyncio.wait_for(self._until(lambda: len(self.connections) >= n), timeout)
        return list(self.connections)

    async def wait_subscribed(
        self, n: int = 1, timeout: float | None = 5.0
    ) -> list[ServerConnection]:
        """Wait until ``n`` connections are open and every open one has subscribed to a
        stream (in its URL or by a request); returns them. ``asyncio.TimeoutError``."""

        def ready() -> bool:
            conns = self.connections
            return len(conns) >= n and all(c.subscriptions for c in conns)

        await asyncio.wait_for(self._until(ready), timeout)
        return list(self.connections)

    async def _until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds, checked whenever a connection opens or
        subscribes."""
        event = self._conn_event
        if event is None:
            raise RuntimeError("simulator not started; use 'async with Simulator(...)'")
        while not condition():
            event.clear()
            await event.wait()

    def started_replay(self) -> ReplayClock:
        """The replay clock; raises ``RuntimeError`` before :meth:`start`."""
        if self.replay is None:
            raise RuntimeError("simulator not started; use 'async with Simulator(...)'")
        return self.replay

    def on_subscribe(self) -> None:
        """A connection subscribed: start the clock (``autostart``) and wake it."""
        if self._conn_event is not None:
            self._conn_event.set()
        rp = self.started_replay()
        if self.autostart and not rp.started:
            rp.start()
        rp.poke()

    def _on_finished(self) -> None:
        if self.close_at_end:
            for c in list(self.connections):
                c.close_soon(1000, "end of recording")

    # ---- faults ---------------------------------------------------------------------------
    def inject(
        self, fault: object, connection: ServerConnection | None = None, future: bool = False
    ) -> None:
        """Apply a fault now (see ``faults.py``).

        Per-connection faults go to ``connection`` or to every open connection, and with
        ``future=True`` also to each connection opened later. :class:`SlowSnapshot` affects
        REST snapshot responses from now on; :class:`ServerShutdown` notifies and closes the open
        connections; :class:`SnapshotFailure` fails the next REST snapshots. Account faults (:class:`TokenExpiry`, :class:`AuthServerError`,
        :class:`ClockSkew`, :class:`FillBurst`) act on :attr:`accounts`. Raises ``TypeError``
        for anything else (``ValueError`` from a :class:`FillBurst` on an order that is not
        open).
        """
        if isinstance(fault, CONNECTION_FAULTS):
            for c in [connection] if connection is not None else list(self.connections):
                c.attach(fault)
            if future:
                self.connection_faults.append(fault)
        elif isinstance(fault, SlowSnapshot):
            self.snapshot_delays.add(fault.delay, fault.count)
        elif isinstance(fault, SnapshotFailure):
            self.snapshot_failures.extend([fault] * fault.count)
        elif isinstance(fault, ServerShutdown):
            for c in [connection] if connection is not None else list(self.connections):
                c.announce_shutdown(fault.grace)
        elif isinstance(fault, ACCOUNT_FAULTS):
            self._account_fault(fault)
        else:
            raise TypeError(f"unknown fault {fault!r}")

    def _account_fault(self, fault: object) -> None:
        accounts = self.accounts
        if isinstance(fault, TokenExpiry):
            accounts.expire_all_tokens()
        elif isinstance(fault, AuthServerError):
            accounts.add_auth_errors(fault.count, fault.where)
        elif isinstance(fault, ClockSkew):
            accounts.skew_ms = fault.ms
        elif isinstance(fault, FillBurst):
            accounts.fill_burst(
                fault.order,
                fault.fills,
                fault.size,
                fault.disconnect_after,
                account=fault.account,
                code=fault.code,
            )

    # ---- connections (called by the app) -----------------------------------------------------
    def take_snapshot_failure(self) -> SnapshotFailure | None:
        """The :class:`SnapshotFailure` the REST snapshot being served now gets (the oldest
        pending one; uses up one of its responses), or None."""
        return self.snapshot_failures.popleft() if self.snapshot_failures else None

    def connection_opened(self, conn: ServerConnection) -> None:
        """Count ``conn`` as open and let the replay clock publish to it."""
        self.connections.append(conn)
        self.total_connections += 1
        if self._conn_event is not None:
            self._conn_event.set()
        self.started_replay().subscribers.add(conn)

    def connection_closed(self, conn: ServerConnection) -> None:
        """Forget ``conn`` (it has ended)."""
        self.started_replay().subscribers.discard(conn)
        if conn in self.connections:
            self.connections.remove(conn)
