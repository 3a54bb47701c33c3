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
    BookUpdate,
    Candle,
    ControlReply,
    Decoder,
    FrameSink,
    Notice,
    SyncLost,
    Trade,
)
from ..events import BadFrame, GapDetected
from ..exceptions import CallbackError, FrameError, SequenceGap
from . import resync
from .errors import SubscriptionError
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from ..exchanges import Adapter, Subscription
    from ..metrics import Counters
    from .options import ConnectionOptions

__all__ = ["Session", "SessionOwner"]

log = logging.getLogger("tickwire.connection")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_PING = WSMsgType.PING
_CLOSE = WSMsgType.CLOSE
_CONT = WSMsgType.CONTINUATION

Handler = Callable[[Any], None]

# Event type of each tickwire channel whose late events a session mutes after an unsubscribe
# (books need no filter: their decoder book is reset, so late deltas are only buffered).
_MUTED_TYPE: dict[str, type] = {"trades": Trade, "bbo": BBO, "candles": Candle}


class SessionOwner(Protocol):
    """What a :class:`Session` needs from the logical connection that owns it.

    Attributes are read when a session is set up or wired, never per event; ``merge`` (bound
    once per wiring) is the per-event path while sessions overlap.
    """

    name: str
    adapter: Adapter
    options: ConnectionOptions
    counters: Counters
    symbols: list[str]
    book_symbols: list[str]

    def merge(self, session: Session, ev: Any) -> None:
        """Deliver ``ev`` of ``session`` unless another session already delivered it."""

    def direct_sink(self, event_type: type) -> Handler:
        """Where events of ``event_type`` go while this is the only session."""
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

    def rewire(self) -> None:
        """Re-point every session's decoder handlers."""

    def session_subscribed(self, session: Session) -> None:
        """``session`` got every subscribe ack of its setup."""

    def session_gone(self, session: Session) -> None:
        """``session``'s socket is gone."""

    def next_request_id(self) -> int:
        """A fresh control-request id (unique per connection)."""
        ...

    async def fetch(self, url: str, params: dict[str, str], timeout: float) -> bytes:
        """GET ``url`` (REST) and return the body; raises ``rest.HttpStatusError`` on non-200."""
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
        self._sub_pending: set[Any] = set()
        self._sub_failed = False
        self.subscribed = False  # the initial subscribe got its acks: live changes go here too
        self.muted: dict[type, set[str]] = {}  # event type -> symbols unsubscribed on this socket
        # symbol -> id of the last trade delivered before this session (a reconnect): its first
        # trade per symbol is checked against it, then trades go straight through again
        self.trades_from: dict[str, int] = {}
        # symbol -> live trades held back while the ones the reconnect missed are fetched
        self.held_trades: dict[str, list[Any]] = {}
        self.decoder = Decoder(owner.adapter.decoder_id)
        self.limiter = RateLimiter(owner.adapter.limits.control_msgs_per_s)
        self.transport: Any = None
        self.counters = owner.counters
        self.pending: dict[Any, asyncio.Future[ControlReply]] = {}
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.opened_at = time.monotonic()
        self.last_rx_ns = time_ns()
        self.sync_tasks: dict[str, asyncio.Task[None]] = {}
        self._reason: str | None = None
        self.rotate_now = asyncio.Event()  # set by a shutdown notice: rotate without waiting
        self._frag: bytearray | None = None
        self._pong_payload: bytes | None = None
        for sym in owner.symbols:  # the decoder maps market ids back to these unified symbols
            self.decoder.register(sym)
        self.buffered_at_open = self.decoder.stats().get("buffered_deltas", 0)
        self._dispatch = self.decoder.dispatch
        # The hot path in Rust: complete text frames are read straight from picows' WSFrame and
        # decoded in place (see FrameSink); this instance attribute shadows the Python
        # ``on_ws_frame`` below, which stays as the path for a picows whose layout differs.
        sink = _frame_sink(self.decoder, self._other_frame, self._frame_error)
        if sink is not None:
            self.on_ws_frame = sink.on_ws_frame  # type: ignore[method-assign]  # on purpose, see above

    # --- picows callbacks (hot path) ---------------------------------------------------------
    def on_ws_connected(self, transport: Any) -> None:
        """picows: the WebSocket handshake completed."""
        self.transport = transport
        self.last_rx_ns = time_ns()

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        """picows: one frame arrived (the Python twin of ``FrameSink.on_ws_frame``)."""
        # Used only when picows' frame layout is not the one the Rust build reads: one decoder
        # call per complete text frame. The decoder hands each event to its handler itself (see
        # ``wire``), stamps receive_ts and counts the frames (the watchdog reads that count
        # instead of stamping every frame here).
        if frame.msg_type is _TEXT and frame.fin:
            try:
                self._dispatch(frame.get_payload_as_bytes())
            except (CallbackError, FrameError, SequenceGap) as exc:
                self._frame_error(exc, frame.payload_size, time_ns())
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

    def _decode(self, payload: bytes | memoryview, ts: int, size: int) -> None:
        """``on_ws_frame``'s work for the rare paths (binary and reassembled frames)."""
        try:
            self._dispatch(payload, ts)
        except (CallbackError, FrameError, SequenceGap) as exc:
            self._frame_error(exc, size, ts)

    def wire(self, guarded: bool) -> None:
        """Set the decoder's handlers. While this is the only session, market events (book
        updates too) go straight to the owner's sinks and ``book()`` shows this session's books;
        while another session overlaps it (reconnect, rotation) everything goes through
        ``SessionOwner.merge``, which drops what the other already delivered and tracks which
        session's book ``book()`` shows. After an unsubscribe, the types it touched get a filter
        dropping the removed symbols' late events, on this socket only (a reconnect or rotation
        subscribes without them)."""
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
        if self.trades_from or self.held_trades:
            direct[Trade] = resync.first_trades_checked(self, direct[Trade])
        for t, symbols in self.muted.items():
            direct[t] = _unless_muted(direct[t], symbols)
        self.decoder.set_handlers(
            trade=direct[Trade],
            bbo=direct[BBO],
            candle=direct[Candle],
            book=direct[BookUpdate],
            control=self.on_reply,
            notice=self.on_notice,
            sync_lost=self._sync_lost,
        )

    def mute(self, subs: Iterable[Subscription]) -> None:
        """Drop the events of ``subs``' streams from now on (see ``wire``; rewire after)."""
        for sub in subs:
            t = _MUTED_TYPE.get(sub.channel)
            if t is not None:
                self.muted.setdefault(t, set()).add(sub.symbol)
            if t is Trade:  # no first trade to wait for any more
                self.trades_from.pop(sub.symbol, None)

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
        elif mt == _BINARY and frame.fin:  # exchanges that compress send binary; Binance never does
            self._decode(frame.get_payload_as_memoryview(), self.last_rx_ns, frame.payload_size)
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
            return
        if self._frag is None:
            self._bad_frame(FrameError("continuation frame without a first fragment"), 0)
            return
        self._frag += frame.get_payload_as_memoryview()
        if frame.fin:
            data, self._frag = bytes(self._frag), None
            self._decode(data, time_ns(), len(data))

    def _bad_frame(self, exc: BaseException, size: int) -> None:
        self.counters.bad_frames += 1
        n = self.counters.bad_frames
        if n <= 10 or n % 1000 == 0:  # log the first few, then sparsely
            log.warning("%s: skipped bad frame #%d (%d bytes): %s", self.owner.name, n, size, exc)
        self.owner.emit(BadFrame(self.owner.adapter.exchange_id, str(exc), time_ns()))

    def _sync_lost(self, ev: SyncLost) -> None:
        """The decoder lost a book (gap, checksum mismatch, connection gap): resync it."""
        self.counters.gaps += 1
        log.warning(
            "%s: %s on %s (expected %s, received %s); resyncing",
            self.owner.name,
            ev.reason,
            ev.symbol,
            ev.expected,
            ev.received,
        )
        self.owner.emit(
            GapDetected(
                self.owner.adapter.exchange_id, ev.symbol, ev.expected, ev.received, ev.receive_ts
            )
        )
        self.start_sync(ev.symbol, "gap")

    def _gap(self, exc: SequenceGap, ts: int) -> None:
        symbol = exc.symbol or (str(exc.args[0]) if exc.args else "")
        self.counters.gaps += 1
        log.warning(
            "%s: sequence gap on %s (expected %s, received %s); resyncing",
            self.owner.name,
            symbol,
            exc.expected,
            exc.received,
        )
        self.owner.emit(
            GapDetected(self.owner.adapter.exchange_id, symbol, exc.expected, exc.received, ts)
        )
        if symbol:
            self.start_sync(symbol, "gap")

    def _finish(self, reason: str) -> None:
        if self.closed.done():
            return
        self._reason = reason
        self.owner.session_gone(self)
        for task in self.sync_tasks.values():
            task.cancel()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"disconnected: {reason}"))
        self.pending.clear()
        self.closed.set_result(reason)

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

    async def request(self, payload: bytes, request_id: Any) -> asyncio.Future[ControlReply]:
        """Send a control request (rate-limited) and return the future of its ``ControlReply``."""
        fut: asyncio.Future[ControlReply] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = fut
        delay = self.send_rate_limited(lambda: self.transport.send(_TEXT, payload))
        if delay > 0:
            await asyncio.sleep(delay)
        return fut

    def on_reply(self, reply: ControlReply) -> None:
        """Settle the pending request matching ``reply.request_id``; log unmatched errors.

        An error reply without an id (Binance's doc shows ``{"code":3,"msg":..}`` for invalid
        JSON) fails the oldest pending request rather than leaving it to time out."""
        key = reply.request_id
        if key is None and not reply.ok and self.pending:
            key = next(iter(self.pending))
        fut = self.pending.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(reply)
            if key in self._sub_pending:
                self._sub_pending.discard(key)
                self._sub_failed |= not reply.ok
                if not self._sub_pending and not self._sub_failed:
                    # Announce now, inside the frame callback, so Connected precedes this
                    # session's data in the event stream and book syncs start at once.
                    self.owner.session_subscribed(self)
        elif not reply.ok:
            self.counters.control_errors += 1
            log.warning(
                "%s: unmatched error reply id=%r code=%r: %s",
                self.owner.name,
                reply.request_id,
                reply.code,
                reply.message,
            )

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

    async def subscribe(self, streams: Sequence[str], per_message: int, timeout: float) -> None:
        """Subscribe ``streams`` in batches and wait for every ack (the session's setup).

        Raises :class:`SubscriptionError` on an error reply, ``TimeoutError`` without an ack,
        ``ConnectionError`` if the socket drops meanwhile."""
        await self.control(
            self.owner.adapter.subscribe_message, streams, per_message, timeout, setup=True
        )

    async def control(
        self,
        message: Callable[[int, list[str]], bytes],
        streams: Sequence[str],
        per_message: int,
        timeout: float,
        setup: bool = False,
    ) -> None:
        """Send ``message(request_id, batch)`` for ``streams`` in batches and wait for every ack
        (errors as :meth:`subscribe`). Only ``setup`` requests count toward
        ``SessionOwner.session_subscribed``."""
        waits = []
        for i in range(0, len(streams), per_message):
            chunk = list(streams[i : i + per_message])
            rid = self.owner.next_request_id()
            if setup:
                self._sub_pending.add(rid)
            fut = await self.request(message(rid, chunk), rid)
            waits.append((chunk, fut))
        for chunk, fut in waits:
            try:
                reply = await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"{self.owner.name}: no ack within {timeout} s") from None
            if not reply.ok:
                self.counters.control_errors += 1
                raise SubscriptionError(chunk, reply.code, reply.message, reply.request_id)

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
        """Start (or join) the snapshot sync of ``symbol``; returns its task. ``since``: the
        decoder's ``buffered_deltas`` count when the book's stream was subscribed (default: at
        the session's start)."""
        task = self.sync_tasks.get(symbol)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(
                resync.sync_book(self, symbol, reason, since)
            )
            self.sync_tasks[symbol] = task
        return task

    def books_synced(self, symbols: Iterable[str]) -> bool:
        """True when every book in ``symbols`` has applied a snapshot and waits for none."""
        return not any(self.decoder.needs_snapshot(s) for s in symbols)
