"""What a venue plugs into the simulator: its market specs and its :class:`VenueSim`.

The generic part (``server.py``, ``app.py``, ``connection.py``, ``clock.py``, ``recording.py``,
``faults.py``, ``threaded.py``, ``cli.py``) replays recording lines, slices pre-encoded frames
to connections, injects faults and runs heartbeats, rate limits and lifetimes. Everything that
is one exchange's wire format lives in its venue file under ``venues/``.

Adding a venue to the simulator
-------------------------------
1. Put its recording(s) under ``tickwire/data/<market>/`` (or load one with
   :meth:`~.recording.Recording.load`) and note where each REST snapshot was received.
2. Write ``venues/<family>.py`` with one :class:`MarketSpec` subclass instance per endpoint
   (``exchange`` and ``market``: ``spot``, ``linear``, ...; ``name`` from :func:`market_name`;
   heartbeat, rate limit, client keepalive deadline, lifetime, packaged recording, and the
   :class:`DemoSpec` of ``tickwire demo``) whose :meth:`MarketSpec.create` returns that venue's
   :class:`VenueSim`.
3. Implement its :class:`WireFormat` (recording line -> stream key and payload, and back to
   the frame a connection gets) and the :class:`VenueSim` hooks: :meth:`~VenueSim.ws_endpoint`,
   :meth:`~VenueSim.stream_path` and :meth:`~VenueSim.raw_path` (its WebSocket URLs) and
   :meth:`~VenueSim.on_client_message` (subscribe, acks, errors, text pings). Override where
   the venue has them: :meth:`~VenueSim.rest_handler` (GET and POST routes) with :attr:`~VenueSim.snapshot_path` and
   :attr:`~VenueSim.instruments_path` (REST routes; state built in :meth:`~VenueSim.started`,
   reset in :meth:`~VenueSim.rewound`), :meth:`~VenueSim.on_subscribe` (a snapshot pushed on
   subscribe), :meth:`~VenueSim.deliverable` (streams split by route),
   :meth:`~VenueSim.market_id_of`, :meth:`~VenueSim.shutdown_notice` and
   :meth:`~VenueSim.url_lines`. Server WebSocket pings, pong timeouts, the rate limit and the
   connection lifetime come from the spec's fields.
4. Add its specs to ``MARKETS`` in ``venues/__init__.py`` (one line) and test it against its
   recordings like ``tests/test_simulator.py`` does.

Optional per-venue hooks (all default to "the venue has none"):

- :meth:`VenueSim.stamp` (per-connection frame fields: a sequence number counted per
  connection, channel ids assigned per connection). Only a venue that overrides it gets the
  per-message send path (each frame is stamped and framed as it is sent); every other venue
  keeps the pre-encoded fast path (whole line ranges written as one slice).
- :meth:`VenueSim.corrupt_checksum` (what a :class:`~.faults.BadChecksum` fault sends instead of
  a book frame) and :meth:`VenueSim.fresh_snapshot` (what a :class:`~.faults.ForceSnapshot`
  fault sends mid-stream; by default the venue's :meth:`~VenueSim.on_subscribe` snapshot).
  :mod:`.wirebook` builds books from the recording with the exchange's strings and checksums.
- Client keepalives: :attr:`MarketSpec.client_ping_timeout` closes a connection when the client
  sent no keepalive for that long; :meth:`VenueSim.on_client_message` marks a keepalive with
  ``Outcome(keepalive=True)`` (or every message counts, :attr:`MarketSpec.any_message_keeps_alive`).
  Every text message, text pings included, counts toward :attr:`MarketSpec.rate_limit`.

Private (account) side (see ``account.py``; every hook defaults to "the venue has none", and a
venue without one pays nothing):

- Accounts are registered on the simulator (``Simulator(accounts=[SimAccount(...)])``); a
  venue's login / subscribe handlers look them up (``sim.accounts.by_key``, ``by_address``,
  ``token_account``), verify signatures exactly as the exchange does against
  ``sim.accounts.now_ms()`` (the exchange clock, which a :class:`~.faults.ClockSkew` shifts),
  answer with the exchange's real error replies, set ``conn.account`` on success and
  subscribe the connection to the account's private stream keys (``Outcome(subscribe=[...])``:
  keys the recording does not hold cost nothing on the data path). Before answering a login
  or a signed REST request they call ``sim.accounts.take_auth_error("login" | "rest")`` and
  answer the venue's 5xx / "system busy" when it is True (:class:`~.faults.AuthServerError`).
- :meth:`VenueSim.account_market` (what the engine needs of a market: spot or perp, assets,
  fees), :meth:`VenueSim.recorded_trades` (the recording's public trades, which fill resting
  orders that they cross), :meth:`VenueSim.account_order_id` / :meth:`VenueSim.account_trade_id`
  (venue-shaped unique ids), :meth:`VenueSim.private_streams` (an account's private stream
  keys), :meth:`VenueSim.encode_account` (a batch of :class:`~.account.AccountChange` -> the
  venue's real private messages, each with its stream key; the simulator sends them in order
  to the connections subscribed to the key) and :meth:`VenueSim.on_token_expired` (a listen
  key / token issued with ``sim.accounts.issue_token`` expired: send the venue's expiry event,
  close what it closes). REST history routes read ``sim.accounts.engine(...).fills_since`` /
  ``order_changes_since`` / ``open_orders``.

Market names: ``<exchange>`` for the exchange's default market, ``<exchange>-<market>`` for its
others (:func:`market_name`; ``bybit``, ``bybit-linear``, ``binanceusdm``). A spec's
:attr:`MarketSpec.demo` says what ``tickwire demo`` shows for it and which fault it injects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from aiohttp import web

    from .account import AccountChange, AccountMarket, MarketTrade, SimAccount
    from .connection import ServerConnection
    from .server import Simulator

RestHandler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


@dataclass(frozen=True)
class PackagedRecording:
    """A recording shipped in ``tickwire/data``: paths relative to that directory, and per
    market id the REST snapshot file with the number of lines received before it."""

    lines: str
    ts: str
    snapshots: Mapping[str, tuple[str, int]] = field(default_factory=dict)


class WireFormat(ABC):
    """How one venue family's recording lines map to stream keys and frames. Stateless and
    shared: a :class:`~.recording.Recording` is indexed with it once and then replayed by any
    simulator of a market with the same format (the packaged recordings are shared per
    process), so it is not a per-simulator :class:`VenueSim` hook."""

    #: the framing of a connection opened with ``Simulator.stream_url()`` (used by ``warm``).
    default_framing: Hashable = None
    #: the malformed payload a :class:`~.faults.Garbage` fault sends when no recorded frame is
    #: left to cut in half.
    garbage_payload: bytes = b"{"

    @abstractmethod
    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """Split one recording line into (stream key, payload bytes to keep). Raises
        ``ValueError`` naming the line if it is not a frame of this format."""

    @abstractmethod
    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:
        """The text payload a connection with ``framing`` receives for ``payload`` (as kept by
        :meth:`read_line`) of ``stream``; called once per message and framing, then cached."""

    def read_binary(self, frame: bytes) -> tuple[str, bytes]:
        """Split one recorded binary frame (a ``b64:`` recording line, already decoded: see
        :func:`tickwire.replay.frame_of_line`) into (stream key, payload bytes to keep). The
        simulator sends it as a binary WebSocket frame (:meth:`encode_binary`). Raises
        ``ValueError`` if it is not a frame of this format; the default: the venue sends text
        only."""
        raise ValueError(
            f"a binary frame ({len(frame)} bytes): {type(self).__name__} reads text frames only"
        )

    def encode_binary(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002 - default
        """The binary frame a connection with ``framing`` receives for binary ``payload`` (as
        kept by :meth:`read_binary`) of ``stream``. Default: the payload unchanged."""
        return payload


def market_name(exchange: str, market: str, default_market: str) -> str:
    """The simulator's name for ``exchange``'s ``market`` endpoint: ``exchange`` itself for
    its ``default_market`` (the first of the venue's markets), ``<exchange>-<market>``
    otherwise (``market_name("bybit", "linear", "spot") == "bybit-linear"``)."""
    return exchange if market == default_market else f"{exchange}-{market}"


@dataclass(frozen=True, kw_only=True)
class DemoSpec:
    """What ``tickwire demo`` shows for one market with a packaged recording: the panel
    ``title``, the unified ``symbol`` whose book is shown, the feed ``channels``, adapter
    ``feed_options`` (``tw.Feed(options=...)``, e.g. a protocol version), and the one fault it
    injects: ``fault(sim)`` builds it from the started simulator (its recording is loaded, so a
    position can be a fraction of its length); ``fault_text`` says what it is in a few words
    ("a disconnect", "a dropped book delta", "a corrupted checksum")."""

    title: str
    symbol: str
    channels: tuple[str, ...] = ("book", "trades", "bbo")
    feed_options: Mapping[str, object] = field(default_factory=dict)
    fault: Callable[[Simulator], object]
    fault_text: str


@dataclass(frozen=True, kw_only=True)
class MarketSpec(ABC):
    """The facts of one market endpoint the generic simulator acts on; a venue subclasses it
    with its own fields (REST paths, limits, routes).

    ``name``: the market name passed to ``Simulator(name)`` (:func:`market_name` of
    ``exchange`` and ``market``). ``exchange``: the tickwire exchange id a client uses for it
    (``tw.Feed(exchange)``); ``market``: the endpoint (``spot``, ``linear``, ``inverse``).
    Times in seconds; 0 disables.
    ``ping_interval``: server WebSocket ping cadence; ``pong_timeout``: no pong for this long
    after a ping closes the connection (1008); ``unsolicited_pong_counts``: any pong keeps the
    connection alive, not only the echo of a ping. ``rate_limit``: incoming frames (text, text
    pings included, WebSocket ping and pong) per second before the server disconnects.
    ``client_ping_timeout``: close (``client_ping_close``: code, reason) a connection whose
    client sent no keepalive for this long (a message the venue answered with
    ``Outcome(keepalive=True)``, or any message if ``any_message_keeps_alive``); counted from the
    connection's start. ``lifetime``: seconds after which the venue closes a connection (None:
    never). ``wire``: its recording line format. ``packaged``: the recording shipped for this
    market, if any; ``demo``: what ``tickwire demo`` shows for it (None: not shown).
    """

    name: str
    exchange: str
    market: str
    wire: WireFormat
    ping_interval: float
    pong_timeout: float
    unsolicited_pong_counts: bool = False
    rate_limit: int
    client_ping_timeout: float = 0.0
    any_message_keeps_alive: bool = False
    client_ping_close: tuple[int, str] = (1000, "no ping from the client")
    lifetime: float | None = None
    packaged: PackagedRecording | None = None
    demo: DemoSpec | None = None

    @abstractmethod
    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """This market's :class:`VenueSim` for ``sim``; ``options`` are the venue-specific
        keyword arguments given to ``Simulator``. Raises ``TypeError`` for an option the venue
        does not know, ``ValueError`` for a bad value."""

    def reject_unknown_options(
        self, options: Mapping[str, object], known: Iterable[str] = ()
    ) -> None:
        """Raise ``TypeError`` naming (sorted) every key of ``options`` not in ``known`` (the
        venue's option names; none by default): the check each :meth:`create` starts with."""
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(f"unknown option(s) for {self.name}: {', '.join(unknown)}")


@dataclass(frozen=True)
class WsEndpoint:
    """A WebSocket endpoint a request path names (see :meth:`VenueSim.ws_endpoint`).

    ``route``: the venue's route label (kept on the connection, passed to
    :meth:`VenueSim.deliverable`); ``framing``: how data frames are wrapped for this connection
    (a hashable value only the venue interprets, see :meth:`WireFormat.encode`); ``streams``:
    stream keys subscribed by the URL itself; ``reject``: ``(close code, close reason)`` to close
    the connection with right after the upgrade instead of serving it.
    """

    route: str
    framing: Hashable
    streams: Sequence[str] = ()
    reject: tuple[int, bytes] | None = None


@dataclass
class Outcome:
    """What one client message does: the replies to send (in order, before any data that
    follows), subscription changes, a new framing (None: unchanged), whether to close the
    connection after replying (``(code, reason)``), and whether the message was a client
    keepalive (a text ping: resets the :attr:`MarketSpec.client_ping_timeout` deadline)."""

    replies: list[bytes] = field(default_factory=list)
    subscribe: list[str] | None = None
    unsubscribe: list[str] | None = None
    framing: Hashable | None = None
    close: tuple[int, str] | None = None
    keepalive: bool = False


class VenueSim(ABC):
    """One venue's protocol as the simulator speaks it, for one :class:`~.server.Simulator`
    (it may keep state: snapshot books, per-connection ids). Hooks are called on the
    simulator's event loop and must not block.
    """

    def __init__(self, spec: MarketSpec, sim: Simulator):
        self.spec = spec
        self.sim = sim

    # ---- connections -----------------------------------------------------------------------
    @abstractmethod
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """The WebSocket endpoint at ``path`` with ``query``, or None (the server answers 404)."""

    @abstractmethod
    def stream_path(self, streams: Sequence[str], route: str = "") -> str:
        """Path (with query) of a connection that receives ``streams`` without subscribing."""

    @abstractmethod
    def raw_path(self, stream: str | None = None, route: str = "") -> str:
        """Path of the venue's plain WebSocket endpoint (with ``stream`` subscribed, if given
        and the venue takes one in the path)."""

    def deliverable(self, route: str, streams: list[str]) -> list[str]:  # noqa: ARG002 - default
        """Of a connection's subscribed ``streams``, those its ``route`` carries (called only
        when ``Simulator(routing=True)``). Default: all of them."""
        return streams

    def on_open(self, conn: ServerConnection) -> list[bytes]:  # noqa: ARG002 - default
        """Payloads the venue sends ``conn`` as soon as it is open, before anything else (a
        greeting: KuCoin's ``welcome``). Default: none."""
        return []

    @abstractmethod
    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """Answer one text (or UTF-8 decoded binary) message of ``conn``: subscribe and
        unsubscribe requests, property requests, text pings, errors for anything else."""

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002 - default
        """Payloads to send ``conn`` right after it subscribed to ``stream`` (e.g. a book
        snapshot built at replay ``position``, the number of lines already published), before
        any data of that position. Default: none (snapshots come over REST)."""
        return []

    # ---- per-connection frames and book faults ---------------------------------------------
    def stamp(self, conn: ServerConnection, stream: str, payload: bytes) -> bytes | None:  # noqa: ARG002 - default
        """The text ``conn`` receives for data ``payload`` of ``stream`` (already encoded for
        its framing, :meth:`WireFormat.encode`), with the fields the venue assigns per
        connection (a sequence number counted per connection, a channel id); None: nothing is
        sent for this message (counted in ``conn.dropped``). Called once per message sent, in
        order, on the event loop. Only a venue that overrides this gets the per-message send
        path; the default (never called) leaves frames as pre-encoded. Payloads the venue sends
        itself (:meth:`on_subscribe`, :meth:`fresh_snapshot`) are not passed through it: stamp
        them there."""
        return payload

    def corrupt_checksum(self, stream: str, payload: bytes) -> bytes | None:  # noqa: ARG002 - default
        """What a :class:`~.faults.BadChecksum` fault sends instead of data ``payload`` of
        ``stream`` (encoded for the connection's framing, before :meth:`stamp`): the frame with
        its checksum field changed, or with one level changed so that the client's next
        checksum fails; None if this message carries no checksum (the fault then waits for the
        next one). Must not keep state: it may be asked about messages that are then sent
        unchanged. Default: None (the venue has no checksum)."""
        return None

    def fresh_snapshot(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:
        """What a :class:`~.faults.ForceSnapshot` fault sends ``conn`` mid-stream for its
        subscribed ``stream``: a new snapshot as of replay ``position`` (lines before it
        replayed), as the venue sends one unprompted (e.g. Bybit resends a snapshot, an OKX
        maintenance reset). Default: the :meth:`on_subscribe` payloads for that position."""
        return self.on_subscribe(conn, stream, position)

    def shutdown_notice(self) -> bytes | None:
        """Payload sent before a :class:`~.faults.ServerShutdown` closes a connection (None: the
        venue sends none)."""
        return None

    def market_id_of(self, stream: str) -> str | None:  # noqa: ARG002 - default
        """The market id ``stream`` carries (None for a stream of no single market)."""
        return None

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:  # noqa: ARG002 - no REST
        """The coroutine answering a request of ``path``, or None if ``path`` is no REST route.
        Requests of every method reach it: a route checks ``request.method`` itself and answers
        a method it does not serve as the venue does (e.g. ``web.HTTPMethodNotAllowed``);
        ``await request.read()`` / ``request.json()`` give a POST's body."""
        return None

    @property
    def snapshot_path(self) -> str:
        """Path of the REST book snapshot endpoint ("" if the venue has none)."""
        return ""

    @property
    def instruments_path(self) -> str:
        """Path of the REST instrument list endpoint ("" if the venue has none)."""
        return ""

    def is_snapshot_path(self, path: str) -> bool:
        """True if a request of ``path`` asks for a REST book snapshot (what
        :class:`~.faults.SnapshotFailure` fails); a venue with one path per symbol widens it."""
        return bool(self.snapshot_path) and path == self.snapshot_path

    def url_lines(self) -> list[str]:
        """Lines describing this venue's endpoints on ``sim`` for ``tickwire simulate``."""
        return [f"  websocket  {self.sim.ws_url}", f"  all streams {self.sim.stream_url()}"]

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """The simulator started (its replay clock exists): build per-run state."""

    def rewound(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """The replay went back to line 0: forget state derived from later lines."""

    # ---- private (account) side (see account.py and the module docstring) ------------------
    def account_market(self, market_id: str) -> AccountMarket | None:  # noqa: ARG002 - default
        """What the account engine needs of ``market_id`` (spot or perp, base and quote or
        settle asset, fee rates), or None if accounts cannot trade it. Default: None (the
        venue has no private side)."""
        return None

    def published(self, stream: str) -> list[dict[str, Any]]:
        """The recorded pushes of ``stream`` the replay has published so far, parsed, oldest
        first (what a venue's REST market answers are built from); [] for an unknown stream."""
        sd = self.sim.recording.streams.get(stream)
        if sd is None:
            return []
        rec, pos = self.sim.recording, self.sim.position
        return [rec.parsed(n) for n in sd.lines if n < pos]

    def recorded_trades(self) -> Iterable[tuple[int, MarketTrade]]:
        """The recording's public trades as (recording line, trade), in line order: a resting
        account order fills when the replay publishes a trade that crosses its price. Called
        once, when the first account is registered. Default: none."""
        return ()

    def account_order_id(self, n: int) -> int | str:
        """The venue-shaped id of the ``n``-th order of this simulator (``n`` from 1, unique
        across its accounts): an int, or a string such as a UUID. Default: ``n``."""
        return n

    def account_trade_id(self, n: int) -> int | str:
        """The venue-shaped id of the ``n``-th account fill (unique across accounts).
        Default: ``n``."""
        return n

    def private_streams(self, account: SimAccount) -> list[str]:  # noqa: ARG002 - default
        """The private stream keys ``account``'s changes are sent on (what its connections
        subscribe to; used to find them, e.g. for a fill-burst disconnect). Default: none."""
        return []

    def encode_account(
        self,
        account: SimAccount,  # noqa: ARG002 - default
        changes: Sequence[AccountChange],  # noqa: ARG002 - default
    ) -> list[tuple[str, bytes]]:
        """The venue's private messages for one batch of ``changes`` of ``account`` (what one
        action did: an order change, then its fill, position and balances), as (private stream
        key, payload) in send order. Default: none (the venue has no private side)."""
        return []

    def on_token_expired(self, token: str, account: SimAccount) -> None:  # noqa: B027
        """A listen key / token issued with ``sim.accounts.issue_token`` expired (its TTL
        ran out without a keepalive, or a :class:`~.faults.TokenExpiry`): send the venue's
        expiry event to the connections using it and close them if the venue does. Default:
        nothing."""
