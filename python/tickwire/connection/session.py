"""One physical WebSocket: the picows listener, heartbeat, frame errors and control requests.

A :class:`Session` talks to the logical connection that owns it only through the narrow
:class:`SessionOwner` interface (what to deliver to, what to report, where to fetch from); the
supervisor (:class:`tickwire.connection.Connection`) implements it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from functools import partial
from time import time_ns
from typing import TYPE_CHECKING, Any, Protocol

from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

from .._core import (
    BBO,
    Balance,
    BookUpdate,
    Candle,
    ControlReply,
    Decoder,
    Fill,
    FrameSink,
    Notice,
    OrderUpdate,
    Position,
    SyncLost,
    Trade,
)
from ..events import BadFrame, GapDetected
from ..exceptions import AuthError, CallbackError, FrameError, SequenceGap
from . import resync
from .errors import SubscriptionError
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from ..exchanges import Adapter, Keepalive, Request, Subscription
    from ..metrics import Counters
    from ..recorder import RecordingWriter
    from .options import ConnectionOptions
    from .private import AccountCounters

__all__ = ["Session", "SessionOwner"]

log = logging.getLogger("tickwire.connection")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_PING = WSMsgType.PING
_CLOSE = WSMsgType.CLOSE
_CONT = WSMsgType.CONTINUATION

Handler = Callable[[Any], None]


def _ignore(_ev: Any) -> None:
    """A handler that drops its event (a session's trade sink before it is wired)."""


# Event type of each tickwire channel whose late events a session mutes after an unsubscribe
# (a book's decoder book is reset too, so late deltas are only buffered or dropped; the filter
# catches a snapshot a venue pushed over the socket just before the unsubscribe).
_MUTED_TYPE: dict[str, type] = {
    "trades": Trade,
    "bbo": BBO,
    "candles": Candle,
    "book": BookUpdate,
}

# Control replies that settle no request: they only show the socket is alive (the decoder's
# frame count, which the watchdog reads, already saw them).
_NO_REQUEST = frozenset({"pong", "welcome"})


class SessionOwner(Protocol):
    """What a :class:`Session` needs from the logical connection that owns it.

    Attributes are read when a session is set up or wired, never per event; ``merge`` (bound
    once per wiring) is the per-event path while sessions overlap.
    """

    name: str
    route: str
    adapter: Adapter
    options: ConnectionOptions
    counters: Counters
    symbols: list[str]
    book_symbols: list[str]
    instruments: list[dict[str, Any]]
    #: an account (private) connection: login before subscribing, account events wired
    private: bool
    account_counters: AccountCounters
    #: the account event types delivered (empty on public connections)
    account_types: frozenset[type]

    def merge(self, session: Session, ev: Any) -> None:
        """Deliver ``ev`` of ``session`` unless another session already delivered it."""

    def direct_sink(self, event_type: type) -> Handler:
        """Where events of ``event_type`` go while this is the only session."""
        ...

    def private_event(self, session: Session, ev: Any) -> None:
        """Deliver an account event of ``session`` (de-duplicated; held during a recovery)."""

    def fill_handler(self, session: Session) -> Handler:
        """``private_event`` for the fills of ``session``, as one handler (the common kind)."""
        ...

    def show_book(self, symbol: str, decoder: Decoder) -> None:
        """Make ``decoder``'s book of ``symbol`` the one ``book()`` shows."""

    def emit(self, ev: Any) -> None:
        """Deliver a health event (or a notice)."""

    def deliver_safely(self, deliver: Handler, ev: Any) -> None:
        """``deliver(ev)``, a failing user callback reported instead of raised."""

    def callback_failed(self, exc: CallbackError) -> None:
        """A user callback raised inside the decoder's dispatch (``exc.event``, ``__cause__``)."""

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as a task cancelled when the connection closes."""

    def trades_missed(self, symbol: str, first_id: int, last_id: int) -> None:
        """Report trades ``first_id`` .. ``last_id`` of ``symbol`` as lost."""

    def trades_gap(self, symbol: str, since_ts: int, until_ts: int) -> None:
        """Report trades of ``symbol`` between trade times ``since_ts`` and ``until_ts`` (ns,
        inclusive) as possibly lost (venues without consecutive trade ids)."""

    def rewire(self) -> None:
        """Re-point every session's decoder handlers."""

    def session_subscribed(self, session: Session) -> None:
        """``session`` got every subscribe ack of its setup."""

    def session_gone(self, session: Session) -> None:
        """``session``'s socket is gone."""

    def next_request_id(self) -> int:
        """A fresh control-request id (unique per connection)."""
        ...

    def book_subscription(self, symbol: str) -> Subscription | None:
        """The subscription feeding ``symbol``'s book (None once it was unsubscribed)."""
        ...

    async def fetch(
        self, url: str, params: dict[str, str], timeout: float, json: object = None
    ) -> bytes:
        """GET ``url`` (REST), or POST the ``json`` body where one is given, and return the
        body; raises ``rest.HttpStatusError`` on non-200."""
        ...

    def note_error(self, text: str) -> None:
        """Remember ``text`` as the connection's last error (named if it cannot start)."""

    def scrub(self, text: str) -> str:
        """``text`` without the secrets of the connection's URLs (for logs and errors)."""
        ...


def _unless_muted(handler: Handler, muted: set[str]) -> Handler:
    """``handler`` minus events of the ``muted`` symbols (the set is shared and may change)."""

    def deliver_unmuted(ev: Any) -> None:
        if ev.symbol not in muted:
            handler(ev)

    return deliver_unmuted


_sink_failure_logged = False


def _frame_sink(
    decoder: Decoder,
    other: Callable[[object, object], None],
    on_error: Callable[[BaseException, int, int], None],
) -> FrameSink | None:
    """A Rust ``FrameSink`` for this decoder, or None (logged once) if this picows' WSFrame
    layout is not the one the extension was built against."""
    global _sink_failure_logged  # noqa: PLW0603 - log the fallback once per process, not per socket

    try:
        return FrameSink(decoder, other, on_error)
    except RuntimeError as exc:
        if not _sink_failure_logged:
            _sink_failure_logged = True
            log.warning("%s; frames are decoded through the slower Python listener", exc)
        return None


def _record_writer(owner: SessionOwner, serial: int) -> RecordingWriter | None:
    """The writer of session ``serial`` when the owner's options ask for a recording (never
    for an account connection: its frames are the account's and may carry its tokens)."""
    recorder = owner.options.record
    if recorder is None or owner.private:
        return None
    a = owner.adapter
    return recorder.session(owner.name, serial, a.exchange_id, a.decoder_market(owner.route))


def _new_decoder(owner: SessionOwner) -> Decoder:
    """The decoder of one session: the adapter's decoder id, the market of the owner's route and
    the instruments the feed loaded (may be empty)."""
    a = owner.adapter
    return Decoder(
        a.decoder_id, market=a.decoder_market(owner.route), instruments=owner.instruments
    )


class _Pending:
    """One control request in flight: the ack keys still awaited and the future settled with
    None (every ack arrived) or the error ``ControlReply``."""

    __slots__ = ("fut", "left", "request", "setup")

    def __init__(self, request: Request, fut: asyncio.Future[ControlReply | None], setup: bool):
        self.request = request
        self.left: set[int | str] = set(request.acks)
        self.fut = fut
        self.setup = setup


def _reply_keys(reply: ControlReply) -> list[int | str]:
    """The keys a reply may settle a request by: its request id (also as an int when the venue
    echoes a numeric id as text), then its topic."""
    keys: list[int | str] = []
    rid = reply.request_id
    if rid is not None:
        keys.append(rid)
        if isinstance(rid, str) and rid.isdigit():
            keys.append(int(rid))
    if reply.topic is not None:
        keys.append(reply.topic)
    return keys


class Session(WSListener):
    """One physical WebSocket with its own decoder, books and rate limiter (internal).

    Created and driven by its :class:`SessionOwner`; ``closed`` is a future resolved with the
    close reason (str) once the socket is gone.
    """

    def __init__(self, owner: SessionOwner, serial: int, role: str = "primary") -> None:
        super().__init__()
        self.owner = owner
        self.serial = serial
        self.role = role  # "primary" (connect, reconnect) or "rotation" (a quiet stand-by)
        self._setup_left = 0  # setup requests not yet acknowledged
        self._sub_failed = False
        self.subscribed = False  # the initial subscribe got its acks: live changes go here too
        self.muted: dict[type, set[str]] = {}  # event type -> symbols unsubscribed on this socket
        # symbol -> id of the last trade delivered before this session (a reconnect): its first
        # trade per symbol is checked against it, then trades go straight through again
        self.trades_from: dict[str, int] = {}
        # symbol -> (where its delivered trades stood before this session, whether to recover
        # what came after it): venues without consecutive ids (see resync.first_trades_checked)
        self.trades_after: dict[str, tuple[resync.TradeMark, bool]] = {}
        # where trades go once checked (wire() sets it; the REST fills deliver through it)
        self.trade_sink: Handler = _ignore
        # symbol -> live trades held back while the ones the reconnect missed are fetched
        self.held_trades: dict[str, list[Any]] = {}
        self.decoder = _new_decoder(owner)
        self.limiter = RateLimiter(owner.adapter.limits.control_msgs_per_s)
        self.transport: Any = None
        self.counters = owner.counters
        # ack key -> requests awaiting it (oldest first), and every request in flight in order
        self.pending: dict[int | str, list[_Pending]] = {}
        self._inflight: dict[_Pending, None] = {}
        self._keepalive: asyncio.Task[None] | None = None
        # the client ping of this connection: the owner sets the one its connect target gave
        self.keepalive: Keepalive | None = owner.adapter.keepalive()
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.opened_at = time.monotonic()
        self.last_rx_ns = time_ns()
        self.sync_tasks: dict[str, asyncio.Task[None]] = {}
        self._reason: str | None = None
        self.rotate_now = asyncio.Event()  # set by a shutdown notice: rotate without waiting
        self._frag: bytearray | None = None
        self._frag_binary = False  # the fragmented message began with a binary frame
        self._pong_payload: bytes | None = None
        for sym in owner.symbols:  # the decoder maps market ids back to these unified symbols
            self.decoder.register(sym)
        self.buffered_at_open = self.decoder.stats().get("buffered_deltas", 0)
        self._dispatch = self.decoder.dispatch
        #: the writer recording this socket's frames (None: not recording)
        self.recording = _record_writer(owner, serial)
        self._replied = False  # the frame being decoded held a control reply
        if self.recording is not None:
            # Recording needs each frame's bytes in Python: the Rust fast path is skipped for
            # this socket only (a feed that does not record keeps it).
            self.on_ws_frame = self._recorded_frame  # type: ignore[method-assign]  # see below
            return
        # The hot path in Rust: complete text and binary frames are read straight from picows'
        # WSFrame and decoded in place (see FrameSink); this instance attribute shadows the Python
        # ``on_ws_frame`` below, which stays as the path for a picows whose layout differs.
        sink = _frame_sink(self.decoder, self._other_frame, self._frame_error)
        if sink is not None:
            self.on_ws_frame = sink.on_ws_frame  # type: ignore[method-assign]  # on purpose, see above

    # --- picows callbacks (hot path) ---------------------------------------------------------
    def on_ws_connected(self, transport: Any) -> None:
        """picows: the WebSocket handshake completed. Starts the connection's client keepalive
        (:attr:`keepalive`, from the adapter's ``connect_target``)."""
        self.transport = transport
        self.last_rx_ns = time_ns()
        ka = self.keepalive
        if ka is not None and self._keepalive is None:
            self._keepalive = asyncio.get_running_loop().create_task(
                self._keep_alive(ka), name=f"{self.owner.name} keepalive"
            )

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        """picows: one frame arrived (the Python twin of ``FrameSink.on_ws_frame``)."""
        # Used only when picows' frame layout is not the one the Rust build reads: one decoder
        # call per complete text frame (binary ones go through _other_frame). The decoder hands each event to its handler itself (see
        # ``wire``), stamps receive_ts and counts the frames (the watchdog reads that count
        # instead of stamping every frame here).
        if frame.msg_type is _TEXT and frame.fin:
            try:
                self._dispatch(frame.get_payload_as_bytes())
            except (CallbackError, FrameError, SequenceGap) as exc:
                self._frame_error(exc, frame.payload_size, time_ns())
        else:
            self._other_frame(transport, frame)

    def _recorded_frame(self, transport: Any, frame: Any) -> None:
        """picows: one frame arrived, on a recording session: a complete text frame is
        decoded, then recorded with the receive time its events got (binary and reassembled
        messages likewise, in ``_decode``). A frame that decoded to a control reply (subscribe
        ack, error, pong) is not recorded: it answers this client's requests, is no market
        data, and a simulator serving the recording answers requests itself."""
        if frame.msg_type is _TEXT and frame.fin:
            data = frame.get_payload_as_bytes()
            self._decode(data, time_ns(), len(data), False)
        else:
            self._other_frame(transport, frame)

    def _frame_error(self, exc: BaseException, size: int, ts: int) -> None:
        """What the decoder raised for one frame: a handler's failure, a bad frame (counted,
        logged, skipped) or a sequence gap (resync)."""
        if isinstance(exc, CallbackError):
            self.owner.callback_failed(exc)
        elif isinstance(exc, FrameError):
            self._bad_frame(exc, size)
        elif isinstance(exc, SequenceGap):
            self._gap(exc, ts)
        else:
            raise exc

    def _decode(self, payload: bytes | memoryview, ts: int, size: int, binary: bool) -> None:
        """``on_ws_frame``'s work for the rare paths (binary and reassembled frames); ``binary``:
        the message came in binary frames (passed to the venue's parser). A recording
        session then writes the message, stamped ``ts`` like its events, unless it was a
        control reply (see ``_recorded_frame``)."""
        rec = self.recording
        if rec is not None:
            self._replied = False
        try:
            self._dispatch(payload, ts, binary=binary)
        except (CallbackError, FrameError, SequenceGap) as exc:
            self._frame_error(exc, size, ts)
        if rec is not None and not self._replied:
            rec.write(payload, ts, binary)

    def wire(self, guarded: bool) -> None:
        """Set the decoder's handlers. While this is the only session, market events (book
        updates too) go straight to the owner's sinks and ``book()`` shows this session's books;
        while another session overlaps it (reconnect, rotation) everything goes through
        ``SessionOwner.merge``, which drops what the other already delivered and tracks which
        session's book ``book()`` shows. After an unsubscribe, the types it touched get a filter
        dropping the removed symbols' late events, on this socket only (a reconnect or rotation
        subscribes without them)."""
        if self.closed.done():
            return  # handlers of a closed session would only tie it up in cycles again
        owner = self.owner
        kinds = (Trade, BBO, Candle, BookUpdate)
        direct: dict[type, Handler]
        if guarded:
            merged: Handler = partial(owner.merge, self)
            direct = dict.fromkeys(kinds, merged)
        else:
            direct = {t: owner.direct_sink(t) for t in kinds}
            for sym in owner.book_symbols:  # the only session: its books are the delivered ones
                owner.show_book(sym, self.decoder)
        self.trade_sink = direct[Trade]
        if self.trades_from or self.trades_after or self.held_trades:
            direct[Trade] = resync.first_trades_checked(self, direct[Trade])
        for t, symbols in self.muted.items():
            direct[t] = _unless_muted(direct[t], symbols)
        # Account events exist on private connections only (public ones pay nothing): they
        # always pass the owner's de-duplication, which also serves the REST recovery.
        # Kinds the feed did not ask for get no handler: Rust does not even build them.
        acct: Handler | None = partial(owner.private_event, self) if owner.private else None
        wanted = owner.account_types

        def of(t: type) -> Handler | None:
            return acct if t in wanted else None

        self.decoder.set_handlers(
            trade=direct[Trade],
            bbo=direct[BBO],
            candle=direct[Candle],
            book=direct[BookUpdate],
            control=self.on_reply,
            notice=self.on_notice,
            sync_lost=self.on_sync_lost,
            order=of(OrderUpdate),
            fill=owner.fill_handler(self) if acct is not None and Fill in wanted else None,
            position=of(Position),
            balance=of(Balance),
        )

    def deliver_trade(self, ev: Any) -> None:
        """Deliver ``ev`` (a ``Trade`` fetched over REST) where this session's checked trades
        go now (:attr:`trade_sink`, as last wired)."""
        self.trade_sink(ev)

    def mute(self, subs: Iterable[Subscription]) -> None:
        """Drop the events of ``subs``' streams from now on (see ``wire``; rewire after)."""
        for sub in subs:
            t = _MUTED_TYPE.get(sub.channel)
            if t is not None:
                self.muted.setdefault(t, set()).add(sub.symbol)
            if t is Trade:  # no first trade to wait for any more
                self.trades_from.pop(sub.symbol, None)
                self.trades_after.pop(sub.symbol, None)

    def unmute(self, subs: Iterable[Subscription]) -> None:
        """Deliver ``subs``' events again (subscribed anew); rewire after."""
        for sub in subs:
            t = _MUTED_TYPE.get(sub.channel)
            if t is not None and sub.symbol in self.muted.get(t, ()):
                self.muted[t].discard(sub.symbol)
                if not self.muted[t]:
                    del self.muted[t]  # no filter left for this type

    def on_notice(self, notice: Notice) -> None:
        """A notice about this connection: passed on to the owner, and when the adapter says it
        announces a close (Binance ``serverShutdown``), rotation to a new session starts now."""
        self.counters.notices += 1
        if notice.name in self.owner.adapter.rotate_on_notices and not self.rotate_now.is_set():
            log.info(
                "%s: %s notice on session #%d; rotating now",
                self.owner.name,
                notice.name,
                self.serial,
            )
            self.rotate_now.set()
        self.owner.emit(notice)

    def _other_frame(self, transport: Any, frame: Any) -> None:
        mt = frame.msg_type
        self.last_rx_ns = time_ns()
        if mt == _PING:
            self.counters.pings += 1
            self._on_ping(frame.get_payload_as_bytes())  # a copy: the frame dies with this callback
        elif mt == _CLOSE:
            if self._reason is None:
                code, why = frame.get_close_code(), frame.get_close_reason()
                code = getattr(code, "value", code)
                self._reason = f"server closed ({code}{' ' + why if why else ''})"
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        elif mt == _BINARY and frame.fin:  # MEXC's protobuf pushes; Binance never sends binary
            self._decode(
                frame.get_payload_as_memoryview(), self.last_rx_ns, frame.payload_size, True
            )
        elif mt in (_TEXT, _BINARY, _CONT):
            self._fragment(frame)
        # PONG and anything else: nothing to do (we do not ping).

    def frames(self) -> int:
        """Frames handed to the decoder so far (the decoder's own count)."""
        return int(self.decoder.stats().get("frames", 0))

    def on_ws_disconnected(self, _transport: Any) -> None:
        """picows: the socket is gone."""
        self._finish(self._reason or "connection lost")

    # --- rare paths --------------------------------------------------------------------------
    def _on_ping(self, payload: bytes) -> None:
        """Answer with a pong echoing ``payload``. If a pong is still waiting for a rate-limit slot,
        it is updated to echo this newer ping instead of queueing another (pongs count against the
        exchange's message rate; an echo of the latest ping acknowledges the earlier ones)."""
        if self._pong_payload is not None:
            self._pong_payload = payload
            return
        self._pong_payload = payload
        self.send_rate_limited(self._send_pong)

    def _send_pong(self) -> None:
        payload, self._pong_payload = self._pong_payload, None
        if self.transport is not None:
            self.transport.send_pong(payload)

    def _fragment(self, frame: Any) -> None:
        """Reassemble a fragmented message (exchanges rarely fragment; copying is fine here)."""
        if frame.msg_type != _CONT:
            self._frag = bytearray(frame.get_payload_as_memoryview())
            self._frag_binary = frame.msg_type == _BINARY
            return
        if self._frag is None:
            self._bad_frame(FrameError("continuation frame without a first fragment"), 0)
            return
        self._frag += frame.get_payload_as_memoryview()
        if frame.fin:
            data, self._frag = bytes(self._frag), None
            self._decode(data, time_ns(), len(data), self._frag_binary)

    def _bad_frame(self, exc: BaseException, size: int) -> None:
        self.counters.bad_frames += 1
        n = self.counters.bad_frames
        if n <= 10 or n % 1000 == 0:  # log the first few, then sparsely
            log.warning("%s: skipped bad frame #%d (%d bytes): %s", self.owner.name, n, size, exc)
        self.owner.emit(BadFrame(self.owner.adapter.exchange_id, str(exc), time_ns()))

    def _gap(self, exc: SequenceGap, ts: int) -> None:
        """A ``SequenceGap`` raised by the decoder (a core that reports gaps as exceptions):
        handled like a ``SyncLost`` with reason ``"gap"``."""
        symbol = exc.symbol or (str(exc.args[0]) if exc.args else "")
        self._lost(symbol, "gap", exc.expected, exc.received, ts)

    def on_sync_lost(self, ev: SyncLost) -> None:
        """The decoder's ``SyncLost`` event: a book lost its sequence chain, failed its checksum,
        or the connection's sequence broke. ``GapDetected`` (with the ``reason``) goes to the
        user and the book is recovered as its decoder says (REST snapshot or resubscribe);
        ``Resynced`` follows once the new snapshot applied."""
        self._lost(ev.symbol, ev.reason, ev.expected, ev.received, ev.receive_ts)

    def _lost(self, symbol: str, reason: str, expected: int, received: int, ts: int) -> None:
        self.counters.gaps += 1
        if reason == "checksum":
            self.counters.checksum_mismatches += 1
        log.warning(
            "%s: %s on %s (expected %s, received %s); resyncing",
            self.owner.name,
            reason,
            symbol,
            expected,
            received,
        )
        self.owner.emit(
            GapDetected(
                self.owner.adapter.exchange_id, symbol, expected, received, ts, reason=reason
            )
        )
        if symbol and symbol in self.owner.book_symbols:
            task = self.sync_tasks.get(symbol)
            if task is not None and self.decoder.recovery == "resubscribe":
                # a wait for a pushed snapshot that arrived and was lost before the wait saw
                # it: that snapshot will not come again, so re-request it now (a cancelled
                # task is not done() until the loop runs it: forget it, or start_sync joins it)
                task.cancel()
                del self.sync_tasks[symbol]
            self.start_sync(symbol, reason)

    def _finish(self, reason: str) -> None:
        if self.closed.done():
            return
        self._reason = reason
        self.owner.session_gone(self)
        for task in self.sync_tasks.values():
            task.cancel()
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None  # a cancelled task's error holds its frame, and so this session
        for p in self._inflight:
            if not p.fut.done():
                p.fut.set_exception(ConnectionError(f"disconnected: {reason}"))
                p.fut.exception()  # retrieved: whoever awaits it gets it too
        self._inflight.clear()
        self.pending.clear()
        self.closed.set_result(reason)
        self._unlink()

    def _unlink(self) -> None:
        """Break the cycles a live session is in (decoder handlers and the Rust frame sink
        call back into it), so a closed one is freed by reference counting at once: its decoder
        may hold a full book (a Coinbase snapshot: MiBs on the Rust side, invisible to the cycle
        collector's thresholds), and waiting for a full collection grew the soak's RSS by that
        much per reconnect."""
        self.decoder.set_handlers()
        self.__dict__.pop("on_ws_frame", None)  # the FrameSink (or recorder) shadowing it

    async def _keep_alive(self, ka: Keepalive) -> None:
        """Send the adapter's client ping every ``ka.interval_s`` seconds while the socket is
        open (rate-limited like every client message)."""
        payload = ka.payload

        def send() -> None:
            if self.transport is not None:
                self.transport.send(_TEXT, payload() if callable(payload) else payload)

        while not self.closed.done():
            await asyncio.sleep(ka.interval_s)
            if self.closed.done():
                return
            self.counters.keepalives += 1
            self.send_rate_limited(send)

    # --- control messages --------------------------------------------------------------------
    def send_rate_limited(self, send: Callable[[], None]) -> float:
        """Run ``send`` now or as soon as the rate limiter allows; returns the delay in seconds."""
        delay = self.limiter.reserve()
        self.counters.control_sent += 1
        if delay <= 0.0:
            send()
        else:
            asyncio.get_running_loop().call_later(delay, self._send_if_open, send)
        return delay

    def _send_if_open(self, send: Callable[[], None]) -> None:
        if not self.closed.done():
            send()

    async def request(self, request: Request, setup: bool = False) -> _Pending:
        """Send ``request`` (rate-limited) and return its pending state; its future resolves
        with None once every ack key arrived, or with the error reply. ``setup``: one of the
        requests :meth:`control` counted toward ``SessionOwner.session_subscribed``."""
        fut: asyncio.Future[ControlReply | None] = asyncio.get_running_loop().create_future()
        p = _Pending(request, fut, setup)
        if p.left:
            self._inflight[p] = None
            for key in p.left:
                self.pending.setdefault(key, []).append(p)
        payload = request.payload
        delay = self.send_rate_limited(lambda: self.transport.send(_TEXT, payload))
        if not p.left:  # a venue that does not acknowledge: done once sent
            self._settle(p, None)
        if delay > 0:
            await asyncio.sleep(delay)
        return p

    def _settle(self, p: _Pending, error: ControlReply | None) -> None:
        """``p`` is done (``error`` None) or failed: forget its keys and resolve its future."""
        self._inflight.pop(p, None)
        for key in p.left:
            waiting = self.pending.get(key)
            if waiting is not None:
                if p in waiting:
                    waiting.remove(p)
                if not waiting:
                    del self.pending[key]
        p.left.clear()
        if p.fut.done():
            return
        p.fut.set_result(error)
        if p.setup:
            self._setup_left -= 1
            self._sub_failed |= error is not None
            if not self._setup_left and not self._sub_failed:
                # Announce now, inside the frame callback, so Connected precedes this
                # session's data in the event stream and book syncs start at once.
                self.owner.session_subscribed(self)

    def on_reply(self, reply: ControlReply) -> None:
        """A control reply of the venue: an ack settles the key it carries (request id, else
        topic) of the oldest request awaiting it; an error fails the request it names, or, with
        neither id nor topic, the oldest request in flight (Binance documents
        ``{"code":3,"msg":..}`` for invalid JSON) rather than leaving it to time out. Pongs,
        welcomes settle nothing; a login reply acknowledges the key it carries, or, carrying
        none, the oldest login request in flight. Unmatched errors are counted and logged."""
        self._replied = True  # (read by a recording session: see _recorded_frame)
        kind = reply.kind
        if kind in _NO_REQUEST:
            return
        keys = _reply_keys(reply)
        match: tuple[int | str, _Pending] | None = None
        for key in keys:
            waiting = self.pending.get(key)
            if waiting:
                match = key, waiting[0]
                break
        if kind == "ack":
            if match is not None:
                self._acked(*match)
            return
        if kind == "login":
            if match is not None:
                self._acked(*match)
            elif not keys:
                login = next((p for p in self._inflight if p.request.login), None)
                if login is not None:
                    self._settle(login, None)
            return
        failed = match[1] if match is not None else None
        if failed is None and not keys and self._inflight:
            failed = next(iter(self._inflight))
        if failed is not None:
            self._settle(failed, reply)
            return
        self.counters.control_errors += 1
        log.warning(
            "%s: unmatched error reply id=%r topic=%r code=%r: %s",
            self.owner.name,
            reply.request_id,
            reply.topic,
            reply.code,
            reply.message,
        )

    def _acked(self, key: int | str, p: _Pending) -> None:
        """``key`` of ``p`` arrived; ``p`` is done once none is left."""
        p.left.discard(key)
        waiting = self.pending[key]
        waiting.remove(p)
        if not waiting:
            del self.pending[key]
        if not p.left:
            self._settle(p, None)

    async def control(
        self, requests: Sequence[Request], timeout: float, setup: bool = False
    ) -> None:
        """Send ``requests`` and wait for every ack. Only ``setup`` requests count toward
        ``SessionOwner.session_subscribed``.

        Raises :class:`SubscriptionError` (``streams``, ``code``, ``reason`` of the first error
        reply; for a login request, ``Request.login``, :class:`~tickwire.AuthError`, or
        ``ConnectionError`` for a code in the adapter's ``transient_login_codes``),
        ``TimeoutError`` without every ack within ``timeout`` seconds of the last send,
        ``ConnectionError`` if the socket drops meanwhile."""
        if setup:  # counted before any is sent: one without acks is done at once
            self._setup_left += len(requests)
        sent = [await self.request(r, setup) for r in requests]
        for p in sent:
            try:
                reply = await asyncio.wait_for(asyncio.shield(p.fut), timeout)
            except asyncio.TimeoutError:
                missing = ", ".join(map(repr, sorted(p.left, key=str)[:5]))
                raise TimeoutError(
                    f"{self.owner.name}: no ack within {timeout} s (awaiting {missing})"
                ) from None
            if reply is not None:
                self.counters.control_errors += 1
                if p.request.login:
                    if reply.code in self.owner.adapter.transient_login_codes:
                        raise ConnectionError(  # the venue is busy: retried with backoff
                            f"login answered code {reply.code}: "
                            f"{self.owner.scrub(str(reply.message))}"
                        )
                    raise self._auth_error(reply)
                raise SubscriptionError(
                    p.request.streams, reply.code, reply.message, reply.request_id
                )

    def _auth_error(self, reply: ControlReply) -> AuthError:
        """The ``AuthError`` of a login request's error reply: the exchange's code and message
        (secrets scrubbed, though a venue does not echo them)."""
        owner = self.owner
        why = owner.scrub(str(reply.message)) if reply.message is not None else None
        exchange = owner.adapter.exchange_id
        return AuthError(
            f"{exchange} rejected the login (code {reply.code}): {why}",
            code=reply.code,
            reason=why,
            exchange=exchange,
        )

    async def login(self, timeout: float) -> None:
        """Send the adapter's login requests for this route (built, and so signed, just
        before), one by one (rate-limited like every control message), each awaited for its
        acks before the next goes. Raises :class:`~tickwire.AuthError` on an error reply,
        otherwise as :meth:`control`."""
        owner = self.owner
        requests = owner.adapter.login_requests(owner.route, owner.next_request_id)
        for r in requests:
            await self.control([r], timeout)
            owner.account_counters.logins += 1

    # --- lifecycle ---------------------------------------------------------------------------
    async def open(self, url: str, timeout: float) -> None:
        """Connect the WebSocket (raises on failure or timeout)."""
        await asyncio.wait_for(
            ws_connect(
                lambda: self,
                url,
                enable_auto_pong=False,
                websocket_handshake_timeout=timeout,
                logger_name="tickwire",
            ),
            timeout,
        )
        self.opened_at = time.monotonic()
        self.last_rx_ns = time_ns()

    async def subscribe(self, subs: Sequence[Subscription], timeout: float) -> None:
        """Subscribe ``subs`` with the adapter's requests and wait for every ack (the session's
        setup). Raises as :meth:`control`."""
        requests = self.owner.adapter.subscribe_requests(subs, self.owner.next_request_id)
        await self.control(requests, timeout, setup=True)

    def close(self, reason: str, graceful: bool = True) -> None:
        """Close the socket (CLOSE frame then disconnect; ``graceful=False`` aborts at once)."""
        if self._reason is None:
            self._reason = reason
        t = self.transport
        if t is None:
            self._finish(reason)
            return
        if graceful:
            t.send_close(WSCloseCode.OK)
            t.disconnect()
        else:
            t.disconnect(graceful=False)

    # --- books -------------------------------------------------------------------------------
    def start_sync(self, symbol: str, reason: str, since: int | None = None) -> asyncio.Task[None]:
        """Start (or join) the sync of ``symbol``'s book; returns its task. ``reason``:
        ``"start"``, ``"reconnect"``, ``"rotation"``, ``"subscribe"`` (the book was just
        subscribed) or the ``SyncLost`` reason (``"gap"``, ``"checksum"``,
        ``"connection_gap"``). How depends on the decoder's ``recovery``: ``"rest"`` loads a
        REST snapshot (:func:`resync.sync_book`), ``"resubscribe"`` waits for the snapshot the
        venue pushes after a subscribe, re-requesting it after a sync loss
        (:func:`resync.resubscribe_book`). ``since``: the decoder's ``buffered_deltas`` count
        when the book's stream was subscribed (default: at the session's start)."""
        task = self.sync_tasks.get(symbol)
        if task is None or task.done():
            if self.decoder.recovery == "resubscribe":
                coro = resync.resubscribe_book(self, symbol, reason)
            else:
                coro = resync.sync_book(self, symbol, reason, since)
            task = asyncio.get_running_loop().create_task(coro)
            self.sync_tasks[symbol] = task
            # forgotten once done: a finished task (its error's frames) would hold this session
            task.add_done_callback(partial(self._sync_done, symbol))
        return task

    def _sync_done(self, symbol: str, task: asyncio.Task[None]) -> None:
        if self.sync_tasks.get(symbol) is task:
            del self.sync_tasks[symbol]

    def books_synced(self, symbols: Iterable[str]) -> bool:
        """True when every book in ``symbols`` has applied a snapshot and waits for none."""
        return not any(self.decoder.needs_snapshot(s) for s in symbols)
