"""Live WebSocket connections: transport, heartbeat, reconnect, resync and rotation.

This module knows no exchange by name; everything exchange-specific comes from an
:class:`tickwire.exchanges.Adapter`. Vocabulary:

- a :class:`Connection` is one *logical* connection: a fixed set of streams on one URL that must
  stay delivered. It survives reconnects and rotations.
- a :class:`Session` is one *physical* WebSocket (picows, on the running event loop) with its own
  Rust ``Decoder`` (and therefore its own books) and its own control-message rate limiter.

Per complete text frame exactly one decoder call runs inside picows' ``on_ws_frame`` (the frame
is only valid during that callback): Rust's ``FrameSink`` reads the frame in place and the decoder
hands each event to its handler. While one session is live, market events go straight to the
owner's sinks; while two overlap (reconnect, rotation) they go through ``Connection._deliver``,
which de-duplicates by the adapter's ordering keys so the two merge into one stream without loss
or repeats. Control replies settle pending requests.

Policies, each a few lines below:

- heartbeat: server PING frames are answered with a PONG echoing the payload, through the rate
  limiter because exchanges count pongs (Binance spot: 5 client messages/s).
- stale-data watchdog: no frame at all for ``stale_after`` seconds -> the socket is aborted.
- reconnect: capped exponential backoff with full jitter (sleep uniform(0, min(cap, base*2^n))),
  then resubscribe every registered stream and resync every book from a REST snapshot.
- gaps: ``tw.SequenceGap`` from the decoder -> ``GapDetected``, REST snapshot (aiohttp),
  ``decoder.apply_snapshot``, ``Resynced``.
- trades missed while disconnected (exchanges that number trades consecutively): the first trade
  of each symbol after a reconnect is checked against the last one delivered; the ids in
  between are fetched over REST (``adapter.trades_request``, ``decoder.apply_trades``) and
  delivered before that symbol's held-back live trades, or, where they cannot be fetched,
  reported as ``TradesMissed``. Only those first trades pay for the check.
- bad frames: ``tw.FrameError`` -> counted, logged (rate-limited), skipped.
- rotation: before the exchange's lifetime limit a second session is opened and subscribed; once
  its books are in sync it becomes primary; the old one is closed after a short overlap. The
  de-duplication keys make the overlap seamless.
- live (un)subscribe: ``Connection.add`` / ``remove`` change the stream registry and send the
  request on every subscribed session, under a lock that session setup takes too, so sockets
  and registry agree. A removed stream's late events are dropped by a filter installed on
  those sessions only (feeds that never unsubscribe keep the unfiltered handlers).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from time import time_ns
from typing import Any

import aiohttp
from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

from ._core import BBO, BookUpdate, Candle, Trade
from .events import BadFrame, Connected, Disconnected, GapDetected, Resynced, TradesMissed
from .exceptions import CallbackError, ExchangeError, FrameError, SequenceGap
from .exchanges import Adapter, Subscription
from .metrics import Counters

__all__ = [
    "Connection",
    "ConnectionOptions",
    "RateLimiter",
    "Session",
    "SubscriptionError",
    "full_jitter",
]

log = logging.getLogger("tickwire.connection")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_PING = WSMsgType.PING
_CLOSE = WSMsgType.CLOSE
_CONT = WSMsgType.CONTINUATION


class SubscriptionError(ExchangeError):
    """The exchange rejected a subscribe (or unsubscribe) request with an error reply.

    Attributes: ``streams`` (stream names in the rejected request), ``code`` and ``reason`` (the
    exchange's error code and text), ``request_id``. Fatal for the feed when it happens on
    connect or reconnect (the same request would fail the same way); raised by
    ``Feed.subscribe`` / ``Feed.unsubscribe`` for a live change.
    """

    def __init__(
        self, streams: Sequence[str], code: int | None, reason: str | None, request_id: Any = None
    ) -> None:
        self.streams = list(streams)
        more = " ..." if len(self.streams) > 10 else ""
        super().__init__(
            f"subscription rejected (code {code}): {reason}; streams: "
            f"{', '.join(self.streams[:10])}{more}",
            code,
            reason,
            request_id,
        )


def _log_sink_error(sink: Callable[[Any], None], ev: Any) -> None:
    log.exception("event sink %r raised on %r", sink, ev)


# Event type of each tickwire channel whose late events a session mutes after an unsubscribe
# (books need no filter: their decoder book is reset, so late deltas are only buffered).
_MUTED_TYPE = {"trades": Trade, "bbo": BBO, "candles": Candle}


def _unless_muted(handler: Callable[[Any], None], muted: set[str]) -> Callable[[Any], None]:
    """``handler`` minus events of the ``muted`` symbols (the set is shared and may change)."""

    def deliver_unmuted(ev: Any) -> None:
        if ev.symbol not in muted:
            handler(ev)

    return deliver_unmuted


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """Seconds to sleep before retry number ``attempt`` (0-based): uniform(0, min(cap, base*2^attempt))."""
    return random.uniform(0.0, min(cap, base * (2.0 ** min(attempt, 30))))


class RateLimiter:
    """Keeps client messages under an exchange limit of ``per_second`` messages per second.

    It budgets 80 % of the limit over a window of ``window`` + 0.1 s: the exchange counts on
    arrival, and network or event-loop jitter can bunch messages sent evenly (seen against the
    simulator under load). ``reserve()`` books the next free slot and returns how many seconds to
    wait before using it (0.0 = send now). Slots are booked in order, so nobody starves.
    """

    __slots__ = ("_n", "_slots", "_window")

    def __init__(self, per_second: float, window: float = 1.0) -> None:
        self._n = max(1, int(per_second * 0.8))
        self._window = window + 0.1
        self._slots: deque[float] = deque()

    def reserve(self) -> float:
        now = time.monotonic()
        slots = self._slots
        while slots and slots[0] <= now - self._window:
            slots.popleft()
        t = now if len(slots) < self._n else max(now, slots[-self._n] + self._window)
        slots.append(t)
        return t - now


class ConnectionOptions:
    """Tunables of a :class:`Connection` (seconds unless noted).

    - ``stale_after``: watchdog timeout with no frame at all (default: the adapter's
      ``limits.stale_after_s``).
    - ``max_age``: rotate the connection before this age (default: adapter ``limits.lifetime_s``);
      rotation starts at ``max_age - min(600, 0.2 * max_age)``.
    - ``backoff_base`` / ``backoff_cap``: reconnect backoff (full jitter).
    - ``connect_timeout``, ``ack_timeout``, ``snapshot_timeout``: per attempt (the last also
      for each REST page of trades fetched after a reconnect).
    - ``rotation_overlap``: how long both sessions run after the switch (events are merged).
    - ``first_delta_wait``: before the first snapshot fetch, wait up to this long for the first
      delta to be buffered (Binance: fetch the snapshot after the stream started).
    - ``trade_fill_limit``: at most this many trades (per symbol and reconnect) missed while
      disconnected are fetched over REST, the oldest first; any beyond are reported as
      ``TradesMissed`` (a long outage on a busy market would otherwise spend the REST
      request-weight budget: Binance weighs each 1,000-trade page 25 of 6,000 per minute).
    """

    def __init__(
        self,
        *,
        stale_after: float | None = None,
        max_age: float | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        connect_timeout: float = 10.0,
        ack_timeout: float = 10.0,
        snapshot_timeout: float = 10.0,
        rotation_overlap: float = 1.0,
        first_delta_wait: float = 2.0,
        trade_fill_limit: int = 10_000,
    ) -> None:
        self.stale_after = stale_after
        self.max_age = max_age
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.connect_timeout = connect_timeout
        self.ack_timeout = ack_timeout
        self.snapshot_timeout = snapshot_timeout
        self.rotation_overlap = rotation_overlap
        self.first_delta_wait = first_delta_wait
        self.trade_fill_limit = trade_fill_limit


class _HttpStatus(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


_sink_failure_logged = False


def _frame_sink(decoder: Any, other: Callable, on_error: Callable) -> Any:
    """A Rust ``FrameSink`` for this decoder, or None (logged once) if this picows' WSFrame
    layout is not the one the extension was built against."""
    global _sink_failure_logged
    from ._core import FrameSink

    try:
        return FrameSink(decoder, other, on_error)
    except RuntimeError as exc:
        if not _sink_failure_logged:
            _sink_failure_logged = True
            log.warning("%s; frames are decoded through the slower Python listener", exc)
        return None


class Session(WSListener):
    """One physical WebSocket with its own decoder, books and rate limiter (internal).

    Created and driven by :class:`Connection`; ``closed`` is a future resolved with the close
    reason (str) once the socket is gone.
    """

    def __init__(self, conn: Connection, serial: int, role: str = "primary") -> None:
        super().__init__()
        from ._core import Decoder

        self.conn = conn
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
        self.decoder = Decoder(conn.adapter.decoder_id)
        self.limiter = RateLimiter(conn.adapter.limits.control_msgs_per_s)
        self.transport: Any = None
        self.counters = conn.counters
        self.pending: dict[Any, asyncio.Future] = {}
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.opened_at = time.monotonic()
        self.last_rx_ns = time_ns()
        self.sync_tasks: dict[str, asyncio.Task] = {}
        self._reason: str | None = None
        self.rotate_now = asyncio.Event()  # set by a shutdown notice: rotate without waiting
        self._frag: bytearray | None = None
        self._pong_payload: bytes | None = None
        for sym in conn.symbols:  # the decoder maps market ids back to these unified symbols
            self.decoder.register(sym)
        self.buffered_at_open = self.decoder.stats().get("buffered_deltas", 0)
        self._dispatch = self.decoder.dispatch
        self._deliver = conn._deliver
        # The hot path in Rust: complete text frames are read straight from picows' WSFrame and
        # decoded in place (see FrameSink); this instance attribute shadows the Python
        # ``on_ws_frame`` below, which stays as the path for a picows whose layout differs.
        sink = _frame_sink(self.decoder, self._other_frame, self._frame_error)
        if sink is not None:
            self.on_ws_frame = sink.on_ws_frame

    # --- picows callbacks (hot path) ---------------------------------------------------------
    def on_ws_connected(self, transport: Any) -> None:
        self.transport = transport
        self.last_rx_ns = time_ns()

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        # The Python twin of FrameSink.on_ws_frame (used only when picows' frame layout is not
        # the one the Rust build reads): one decoder call per complete text frame. The decoder
        # hands each event to its handler itself (see ``wire``), stamps receive_ts and counts
        # the frames (the watchdog reads that count instead of stamping every frame here).
        if frame.msg_type is _TEXT and frame.fin:
            try:
                self._dispatch(frame.get_payload_as_bytes())
            except (CallbackError, FrameError, SequenceGap) as exc:
                self._frame_error(exc, frame.payload_size, time_ns())
        else:
            self._other_frame(transport, frame)

    def _frame_error(self, exc: Exception, size: int, ts: int) -> None:
        """What the decoder raised for one frame: a handler's failure, a bad frame (counted,
        logged, skipped) or a sequence gap (resync)."""
        if isinstance(exc, CallbackError):
            self.conn._on_sink_error(exc, exc.event)
        elif isinstance(exc, FrameError):
            self._bad_frame(exc, size)
        elif isinstance(exc, SequenceGap):
            self._gap(exc, ts)
        else:
            raise exc

    def _decode(self, payload: Any, ts: int, size: int) -> None:
        """``on_ws_frame``'s work for the rare paths (binary and reassembled frames)."""
        try:
            self._dispatch(payload, ts)
        except (CallbackError, FrameError, SequenceGap) as exc:
            self._frame_error(exc, size, ts)

    def wire(self, guarded: bool) -> None:
        """Set the decoder's handlers. While this is the only session, market events (book
        updates too) go straight to the owner's sinks and ``book()`` shows this session's books;
        while another session overlaps it (reconnect, rotation) everything goes through
        ``Connection._deliver``, which drops what the other already delivered and tracks which
        session's book ``book()`` shows. After an unsubscribe, the types it touched get a filter
        dropping the removed symbols' late events, on this socket only (a reconnect or rotation
        subscribes without them)."""
        conn = self.conn
        kinds = (Trade, BBO, Candle, BookUpdate)
        if guarded:
            direct = dict.fromkeys(kinds, partial(conn._deliver, self))
        else:
            direct = {t: conn._sinks.get(t, conn._sink) for t in kinds}
            for sym in conn.book_symbols:  # the only session: its books are the delivered ones
                conn._book_src[sym] = self.decoder
        if self.trades_from or self.held_trades:
            direct[Trade] = self._first_trades_checked(direct[Trade])
        for t, symbols in self.muted.items():
            direct[t] = _unless_muted(direct[t], symbols)
        self.decoder.set_handlers(
            trade=direct[Trade],
            bbo=direct[BBO],
            candle=direct[Candle],
            book=direct[BookUpdate],
            control=self.on_reply,
            notice=self.on_notice,
        )

    def _first_trades_checked(self, deliver: Callable[[Any], None]) -> Callable[[Any], None]:
        """``deliver`` behind a check of each symbol's first trade on this session. A jump past
        the last id delivered before the reconnect means trades were published while no socket
        was open: they are fetched over REST where the adapter can (live trades of that symbol
        wait meanwhile, so the order holds), else reported as ``TradesMissed``. Once every
        symbol has had its first trade and no fetch is running, the handlers are rewired
        without the check."""
        expected, held = self.trades_from, self.held_trades
        conn = self.conn

        def check(ev: Any) -> None:
            waiting = held.get(ev.symbol)
            if waiting is not None:  # its missed trades are being fetched
                waiting.append(ev)
                return
            last = expected.pop(ev.symbol, None)
            if last is not None and ev.trade_id > last + 1:
                if conn.adapter.trades_request(ev.symbol, last + 1, 1) is not None:
                    held[ev.symbol] = [ev]
                    conn._spawn(self._fill_trades(ev.symbol, last, ev.trade_id - 1, deliver))
                    return
                conn._trades_missed(ev.symbol, last + 1, ev.trade_id - 1)
            if not expected and not held:
                conn.rewire()  # the next trade goes straight to ``deliver``
            deliver(ev)

        return check

    async def _fill_trades(
        self, symbol: str, last: int, upto: int, deliver: Callable[[Any], None]
    ) -> None:
        """Fetch trades ``last + 1`` .. ``upto`` of ``symbol`` page by page and deliver them,
        then the live trades held meanwhile. What cannot be fetched is reported as
        ``TradesMissed``."""
        conn = self.conn
        done = last
        fill_to = min(upto, last + conn.options.trade_fill_limit)
        try:
            while done < fill_to:
                url, params = conn.adapter.trades_request(symbol, done + 1, fill_to - done)  # type: ignore[misc]
                body = await conn._fetch(url, params, conn.options.snapshot_timeout)
                trades = [
                    t
                    for t in self.decoder.apply_trades(symbol, body, done, time_ns())
                    if t.trade_id <= fill_to
                ]
                if not trades:
                    break
                if trades[0].trade_id != done + 1:  # the exchange no longer keeps the oldest
                    conn._trades_missed(symbol, done + 1, trades[0].trade_id - 1)
                for t in trades:
                    conn._deliver_safely(deliver, t)
                done = trades[-1].trade_id
                conn.counters.trades_filled += len(trades)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # REST down, rejected or malformed: report instead
            log.warning(
                "%s: could not fetch %s trades %d..%d (%r)", conn.name, symbol, done + 1, upto, exc
            )
        finally:
            if done < upto:
                conn._trades_missed(symbol, done + 1, upto)
            for t in self.held_trades.pop(symbol, []):
                conn._deliver_safely(deliver, t)
            conn.rewire()

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
            if sub.symbol in self.muted.get(t, ()):  # type: ignore[arg-type]
                self.muted[t].discard(sub.symbol)
                if not self.muted[t]:
                    del self.muted[t]  # no filter left for this type

    def on_notice(self, notice: Any) -> None:
        """A notice about this connection: passed on to the owner, and when the adapter says it
        announces a close (Binance ``serverShutdown``), rotation to a new session starts now."""
        self.counters.notices += 1
        if notice.name in self.conn.adapter.rotate_on_notices and not self.rotate_now.is_set():
            log.info(
                "%s: %s notice on session #%d; rotating now",
                self.conn.name,
                notice.name,
                self.serial,
            )
            self.rotate_now.set()
        self.conn._emit(notice)

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
        elif mt == _TEXT or mt == _BINARY or mt == _CONT:
            self._fragment(frame)
        # PONG and anything else: nothing to do (we do not ping).

    def frames(self) -> int:
        """Frames handed to the decoder so far (the decoder's own count)."""
        return int(self.decoder.stats().get("frames", 0))

    def on_ws_disconnected(self, transport: Any) -> None:
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
            log.warning("%s: skipped bad frame #%d (%d bytes): %s", self.conn.name, n, size, exc)
        self.conn._emit(BadFrame(self.conn.adapter.exchange_id, str(exc), time_ns()))

    def _gap(self, exc: Exception, ts: int) -> None:
        symbol = getattr(exc, "symbol", None) or (exc.args[0] if exc.args else None)
        expected = getattr(exc, "expected", None)
        received = getattr(exc, "received", None)
        self.counters.gaps += 1
        log.warning(
            "%s: sequence gap on %s (expected %s, received %s); resyncing",
            self.conn.name,
            symbol,
            expected,
            received,
        )
        self.conn._emit(GapDetected(self.conn.adapter.exchange_id, symbol, expected, received, ts))
        if symbol is not None:
            self.start_sync(symbol, "gap")

    def _finish(self, reason: str) -> None:
        if self.closed.done():
            return
        self._reason = reason
        self.conn._session_gone(self)
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

    async def request(self, payload: bytes, request_id: Any) -> asyncio.Future:
        """Send a control request (rate-limited) and return the future of its ``ControlReply``."""
        fut = asyncio.get_running_loop().create_future()
        self.pending[request_id] = fut
        delay = self.send_rate_limited(lambda: self.transport.send(_TEXT, payload))
        if delay > 0:
            await asyncio.sleep(delay)
        return fut

    def on_reply(self, reply: Any) -> None:
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
                    self.conn._subscribed(self)
        elif not reply.ok:
            self.counters.control_errors += 1
            log.warning(
                "%s: unmatched error reply id=%r code=%r: %s",
                self.conn.name,
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
            self.conn.adapter.subscribe_message, streams, per_message, timeout, setup=True
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
        (errors as :meth:`subscribe`). Only ``setup`` requests count toward ``_subscribed``."""
        waits = []
        for i in range(0, len(streams), per_message):
            chunk = list(streams[i : i + per_message])
            rid = self.conn._next_request_id()
            if setup:
                self._sub_pending.add(rid)
            fut = await self.request(message(rid, chunk), rid)
            waits.append((chunk, fut))
        for chunk, fut in waits:
            try:
                reply = await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"{self.conn.name}: no ack within {timeout} s") from None
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
    def start_sync(self, symbol: str, reason: str, since: int | None = None) -> asyncio.Task:
        """Start (or join) the snapshot sync of ``symbol``; returns its task. ``since``: the
        decoder's ``buffered_deltas`` count when the book's stream was subscribed (default: at
        the session's start)."""
        task = self.sync_tasks.get(symbol)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._sync(symbol, reason, since))
            self.sync_tasks[symbol] = task
        return task

    async def _sync(self, symbol: str, reason: str, since: int | None = None) -> None:
        conn = self.conn
        opts = conn.options
        dec = self.decoder
        if reason != "gap":
            # Binance: fetch the snapshot only once the stream has started buffering deltas.
            b0 = self.buffered_at_open if since is None else since
            deadline = time.monotonic() + opts.first_delta_wait
            while time.monotonic() < deadline and dec.stats().get("buffered_deltas", 1) <= b0:
                await asyncio.sleep(0.01)
        attempt = 0
        while True:
            url, params = conn.adapter.snapshot_request(symbol)
            wait = None
            try:
                self.counters.snapshots += 1
                body = await conn._fetch(url, params, opts.snapshot_timeout)
                if self.closed.done() or symbol not in conn.book_symbols:
                    return  # socket gone, or the book was unsubscribed meanwhile
                events = dec.apply_snapshot(symbol, body, time_ns())
            except SequenceGap:
                log.info(
                    "%s: snapshot for %s older than buffered deltas; fetching again",
                    conn.name,
                    symbol,
                )
            except _HttpStatus as exc:
                wait = exc.retry_after
                conn.last_error = f"snapshot {url}: {exc}"
                log.warning("%s: snapshot for %s: %s", conn.name, symbol, exc)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, FrameError) as exc:
                conn.last_error = f"snapshot {url}: {exc!r}"
                log.warning("%s: snapshot for %s failed: %r", conn.name, symbol, exc)
            else:
                if not dec.needs_snapshot(symbol):
                    for ev in events:
                        self._deliver(self, ev)
                    if reason in ("gap", "reconnect"):
                        self.counters.resyncs += 1
                        conn._emit(
                            Resynced(
                                conn.adapter.exchange_id,
                                symbol,
                                dec.book(symbol).sequence,
                                time_ns(),
                            )
                        )
                    return
            attempt += 1
            await asyncio.sleep(
                wait if wait is not None else full_jitter(attempt, 0.1, opts.backoff_cap)
            )

    def books_synced(self, symbols: Iterable[str]) -> bool:
        """True when every book in ``symbols`` has applied a snapshot and waits for none."""
        for s in symbols:
            if self.decoder.needs_snapshot(s):
                return False
        return True


class Connection:
    """One logical connection: ``streams`` on ``adapter.ws_url(route)``, kept alive forever.

    - ``adapter``: exchange hooks; ``route``: which endpoint of the adapter.
    - ``streams``: exchange stream names to subscribe; ``symbols``: the unified symbols they
      carry (registered with each decoder); ``book_symbols``: those whose L2 books this
      connection keeps (synced from REST snapshots).
    - ``sink(event)``: called synchronously for every delivered market or health event;
      ``sinks``: optional per-event-type overrides (a dict the owner may update at any time),
      ``on_sink_error(sink, event)``: called when a sink raises (default: log it).
    - ``http``: a callable returning the shared ``aiohttp.ClientSession``.
    - ``on_fatal(exc)``: called once when the connection gives up after ``ready`` (a rejected
      subscription on reconnect); before, ``ready`` carries the error.

    ``await start()`` launches it; ``ready`` resolves once the first session is subscribed and its
    books are synced; ``await close()`` stops it. ``book(symbol)`` returns the ``tw.Book`` that
    matches the last delivered ``BookUpdate``. ``await add(subs)`` / ``await remove(subs)``
    change the streams while it runs; ``streams`` (the registry) is what every new session
    subscribes.
    """

    def __init__(
        self,
        *,
        name: str,
        adapter: Adapter,
        route: str,
        streams: Sequence[str],
        symbols: Sequence[str],
        book_symbols: Sequence[str],
        sink: Callable[[Any], None],
        http: Callable[[], aiohttp.ClientSession],
        on_fatal: Callable[[BaseException], None] | None = None,
        options: ConnectionOptions | None = None,
        sinks: dict[type, Callable[[Any], None]] | None = None,
        on_sink_error: Callable[[Callable[[Any], None], Any], None] | None = None,
    ) -> None:
        from ._core import ControlReply

        self.name = name
        self.adapter = adapter
        self.route = route
        self.url = adapter.ws_url(route)
        self.streams = list(streams)
        self.symbols = list(symbols)
        self.book_symbols = list(book_symbols)
        self.options = options or ConnectionOptions()
        self.counters = Counters()
        self._sink = sink
        self._sinks = sinks if sinks is not None else {}
        self._on_sink_error = on_sink_error or _log_sink_error
        self._http = http
        self._on_fatal = on_fatal
        lim = adapter.limits
        self.stale_after = self.options.stale_after or lim.stale_after_s
        max_age = self.options.max_age or lim.lifetime_s
        self.rotate_after = max_age - min(600.0, 0.2 * max_age)
        self._ControlReply = ControlReply
        self._BookUpdate = BookUpdate
        # per event type: (ordering key getter, {symbol: last delivered key})
        self._order: dict[type, tuple[Callable[[Any], Any], dict[str, Any]]] = {
            t: (getter, {}) for t, getter in adapter.dedup_keys().items()
        }
        self._book_src: dict[str, Any] = {}
        self._primary: Session | None = None
        self._sessions: set[Session] = set()
        self._serial = 0
        self._request_id = 0
        # Held while a session subscribes the registry or a live change is sent, so every
        # session ends up subscribed to exactly ``streams``.
        self._control = asyncio.Lock()
        self._closing = False
        self._tasks: list[asyncio.Task] = []
        self.ready: asyncio.Future | None = None
        self.last_error: str | None = None
        self._frames_closed = 0  # frames decoded by sessions that are gone
        self._last_trade_ids: dict[str, int] = {}  # per symbol, over every session so far
        self._ever_connected = False

    # --- delivery while sessions overlap, and of every book update ---------------------------
    def _deliver(self, session: Session, ev: Any) -> None:
        t = type(ev)
        order = self._order.get(t)
        if order is not None:  # (key getter, {symbol: last delivered key})
            key = order[0](ev)
            sym = ev.symbol
            last = order[1].get(sym)
            if last is not None and key <= last:
                self.counters.duplicates += 1
                return
            order[1][sym] = key
            if t is self._BookUpdate:
                self._book_src[sym] = session.decoder
        elif t is self._ControlReply:
            session.on_reply(ev)
            return
        self._deliver_safely(self._sinks.get(t, self._sink), ev)

    def rewire(self) -> None:
        """Re-point every live session's handlers (after a session opened or closed, or the
        owner changed ``sinks``): de-duplicating only while sessions overlap."""
        guarded = len(self._sessions) > 1
        if guarded:
            self._seed_book_keys()
        for session in self._sessions:
            session.wire(guarded)

    def _seed_book_keys(self) -> None:
        """Before sessions overlap: the last delivered sequence of each book, which the direct
        path of a lone session did not record, is the sequence of the book ``book()`` shows.
        (A new session's REST snapshot may be older than what the old one delivered.)"""
        delivered = self._order.get(self._BookUpdate, (None, {}))[1]
        for sym, dec in self._book_src.items():
            try:
                seq = dec.book(sym).sequence
            except KeyError:
                continue
            if seq is not None and (delivered.get(sym) is None or seq > delivered[sym]):
                delivered[sym] = seq

    def _emit(self, ev: Any) -> None:
        self._sink(ev)

    def _deliver_safely(self, deliver: Callable[[Any], None], ev: Any) -> None:
        """``deliver(ev)``; a failing user callback is reported, never raised (inside picows'
        frame callback it would disconnect; in a task it would end the task)."""
        try:
            deliver(ev)
        except Exception:
            self._on_sink_error(deliver, ev)

    def _spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task of this connection (cancelled by ``close()``)."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name} trade fill")
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    def _trades_missed(self, symbol: str, first_id: int, last_id: int) -> None:
        self.counters.trades_missed += last_id - first_id + 1
        log.warning(
            "%s: %s trades %d..%d were published while disconnected",
            self.name,
            symbol,
            first_id,
            last_id,
        )
        self._emit(TradesMissed(self.adapter.exchange_id, symbol, first_id, last_id, time_ns()))

    def _session_gone(self, session: Session) -> None:
        self._frames_closed += session.frames()
        if self.adapter.consecutive_trade_ids:
            for sym, tid in session.decoder.last_trade_ids().items():
                if tid > self._last_trade_ids.get(sym, -1):
                    self._last_trade_ids[sym] = tid
        if self._closing:
            return  # keep the last books readable after close()
        for sym, dec in self._book_src.items():
            if dec is session.decoder:
                # Its socket is gone: no more updates. Say so (``synced`` False) rather than
                # serve it as live until the next session's book takes over.
                dec.reset_book(sym)

    def _adopt_books(self, session: Session, force: bool = False) -> None:
        """Point ``book()`` at ``session``'s synced books where they are at least as new as what
        was delivered, or unconditionally with ``force`` (rotation: before the old socket closes,
        so a quiet book does not stay behind on it)."""
        delivered = self._order.get(self._BookUpdate, (None, {}))[1]
        for sym in self.book_symbols:
            book = session.decoder.book(sym)
            last = delivered.get(sym)
            if book.synced and (force or last is None or (book.sequence or 0) >= last):
                self._book_src[sym] = session.decoder

    def _next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    # --- public ------------------------------------------------------------------------------
    def book(self, symbol: str) -> Any:
        """The ``tw.Book`` consistent with the last delivered ``BookUpdate`` of ``symbol``.

        Before the first update: the current session's book. Raises ``KeyError`` if none exists."""
        dec = self._book_src.get(symbol)
        if dec is None:
            if self._primary is None:
                raise KeyError(symbol)
            dec = self._primary.decoder
        return dec.book(symbol)

    def stats(self) -> dict[str, int]:
        """:class:`Counters` as a dict, with ``frames`` summed over every session so far."""
        out = self.counters.as_dict()
        out["frames"] = self._frames_closed + sum(
            s.frames() for s in self._sessions if not s.closed.done()
        )
        return out

    def decoder_stats(self) -> dict[str, int]:
        """``decoder.stats()`` of the primary session (empty dict when disconnected)."""
        s = self._primary
        return dict(s.decoder.stats()) if s is not None else {}

    @property
    def connected(self) -> bool:
        """True while a primary session is open."""
        return self._primary is not None and not self._primary.closed.done()

    # --- live subscription changes -----------------------------------------------------------
    async def add(self, subs: Sequence[Subscription]) -> list[asyncio.Task]:
        """Subscribe ``subs`` (new streams of this route) on every live session and add them to
        the registry, so that reconnects and rotations subscribe them too.

        New books are reset in each session's decoder before the request (their deltas are
        buffered from then on) and synced from a REST snapshot after the ack, as at start; the
        sync tasks are returned. While no session is live only the registry changes (the
        reconnect subscribes it). Raises :class:`SubscriptionError` on an error reply,
        ``TimeoutError`` without an ack (that session is dropped and reconnects); either way
        nothing of ``subs`` stays subscribed."""
        names = [s.stream for s in subs]
        books = [b for b in map(self.adapter.book_symbol, subs) if b]
        async with self._control:
            self.streams = self.streams + names
            self.symbols = list(dict.fromkeys([*self.symbols, *(s.symbol for s in subs)]))
            self.book_symbols = self.book_symbols + books
            sessions = [s for s in self._sessions if s.subscribed and not s.closed.done()]
            since: dict[Session, int] = {}
            for s in sessions:
                for sub in subs:
                    s.decoder.register(sub.symbol)
                for b in books:  # forget deltas buffered since an earlier unsubscribe
                    s.decoder.reset_book(b)
                since[s] = s.decoder.stats().get("buffered_deltas", 0)
                s.unmute(subs)
            self.rewire()
            try:
                await self._request_all(sessions, self.adapter.subscribe_message, names)
            except BaseException:
                await self._remove_locked(subs, quiet=True)
                raise
        return [
            s.start_sync(b, "subscribe", since[s])
            for s in sessions
            if not s.closed.done()
            for b in books
        ]

    async def remove(self, subs: Sequence[Subscription]) -> None:
        """Unsubscribe ``subs`` on every live session and drop them from the registry.

        From this call on their events are not delivered, including late ones still in flight
        after the ack; their books are reset and forgotten. Raises like :meth:`add`, but the
        streams are gone from the registry (and muted) either way."""
        async with self._control:
            await self._remove_locked(subs)

    async def _remove_locked(self, subs: Sequence[Subscription], quiet: bool = False) -> None:
        names = [s.stream for s in subs]
        books = {b for b in map(self.adapter.book_symbol, subs) if b}
        gone = set(names)
        self.streams = [n for n in self.streams if n not in gone]
        self.book_symbols = [b for b in self.book_symbols if b not in books]
        sessions = [s for s in self._sessions if s.subscribed and not s.closed.done()]
        for s in sessions:
            s.mute(subs)
            for b in books:  # late deltas are only buffered: no BookUpdate, no gap
                s.decoder.reset_book(b)
        for b in books:
            self._book_src.pop(b, None)
        self.rewire()
        try:
            await self._request_all(sessions, self.adapter.unsubscribe_message, names)
        except Exception:
            if not quiet:
                raise

    async def _request_all(
        self,
        sessions: Sequence[Session],
        message: Callable[[int, list[str]], bytes],
        names: list[str],
    ) -> None:
        """Send ``message`` requests for ``names`` on every session and wait for the acks. A
        session that drops meanwhile is skipped (its reconnect subscribes the registry); one that
        does not answer in time is dropped for the same reason. Then the first error is raised."""
        per = self.adapter.limits.streams_per_message
        results = await asyncio.gather(
            *(s.control(message, names, per, self.options.ack_timeout) for s in sessions),
            return_exceptions=True,
        )
        errors = []
        for s, r in zip(sessions, results):
            if isinstance(r, TimeoutError):
                s.close("no ack", graceful=False)
            if isinstance(r, BaseException) and not isinstance(r, ConnectionError):
                errors.append(r)
        if errors:
            raise errors[0]

    async def start(self) -> None:
        """Launch the supervisor and watchdog tasks (returns at once; see ``ready``)."""
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        self._tasks = [
            loop.create_task(self._supervise(), name=f"{self.name} supervisor"),
            loop.create_task(self._watchdog(), name=f"{self.name} watchdog"),
        ]
        for t in self._tasks:
            t.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: %s crashed", self.name, task.get_name(), exc_info=task.exception())
            self._fail(task.exception())

    async def close(self) -> None:
        """Stop reconnecting, close every session, wait briefly for the sockets to go."""
        if self._closing:
            return
        self._closing = True
        for t in self._tasks:
            t.cancel()
        sessions = list(self._sessions)
        for s in sessions:
            s.close("closed by client")
        if sessions:
            await asyncio.wait([asyncio.ensure_future(s.closed) for s in sessions], timeout=2.0)
            for s in sessions:  # the peer did not finish the close handshake in time
                if not s.closed.done():
                    s.close("closed by client", graceful=False)
                    s._finish("closed by client")
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ready is not None and not self.ready.done():
            self.ready.cancel()

    # --- supervision -------------------------------------------------------------------------
    async def _open_session(self, role: str = "primary") -> Session:
        self._serial += 1
        s = Session(self, self._serial, role)
        if role == "primary" and self._ever_connected:  # a reconnect (rotations overlap instead)
            s.trades_from = {
                sym: tid for sym, tid in self._last_trade_ids.items() if sym in self.symbols
            }
        self._sessions.add(s)
        self.rewire()
        s.closed.add_done_callback(lambda _f: (self._sessions.discard(s), self.rewire()))
        opts = self.options
        try:
            await s.open(self.url, opts.connect_timeout)
            async with self._control:  # the registry may have changed since Session() was made
                for sym in self.symbols:
                    s.decoder.register(sym)
                await s.subscribe(
                    self.streams, self.adapter.limits.streams_per_message, opts.ack_timeout
                )
                s.subscribed = True
        except BaseException:
            s.close("setup failed", graceful=False)
            raise
        return s

    def _subscribed(self, s: Session) -> None:
        """A session got every subscribe ack. A primary one takes over: Connected, book syncs."""
        if s.role != "primary" or self._closing:
            return
        reconnect = self._ever_connected
        self._ever_connected = True
        self._primary = s
        self.counters.connects += 1
        if reconnect:
            self.counters.reconnects += 1
        self._emit(Connected(self.adapter.exchange_id, self.url, time_ns()))
        syncs = [
            s.start_sync(sym, "reconnect" if reconnect else "start") for sym in self.book_symbols
        ]
        if not reconnect:
            asyncio.get_running_loop().create_task(self._mark_ready(syncs))

    async def _supervise(self) -> None:
        opts = self.options
        attempt = 0
        while not self._closing:
            try:
                s = await self._open_session()
            except SubscriptionError as exc:
                self._fail(exc)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = full_jitter(attempt, opts.backoff_base, opts.backoff_cap)
                attempt += 1
                self.last_error = repr(exc)
                log.warning(
                    "%s: connect to %s failed (%r); retry in %.2f s",
                    self.name,
                    self.url,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if self._primary is not s:  # closed or closing in between (see _subscribed)
                self._primary = s
            while True:  # follow the primary through rotations
                cur = self._primary
                rot = asyncio.get_running_loop().create_task(self._rotate_later(cur))
                try:
                    reason = await asyncio.shield(cur.closed)
                finally:
                    if self._primary is cur:
                        rot.cancel()
                if self._primary is not cur:
                    continue  # rotated: the new primary is already live
                break
            self._primary = None
            self._emit(Disconnected(self.adapter.exchange_id, self.url, reason, time_ns()))
            if self._closing:
                return
            lived = time.monotonic() - cur.opened_at
            attempt = 0 if lived > 30.0 else attempt + 1
            delay = full_jitter(attempt, opts.backoff_base, opts.backoff_cap)
            log.warning("%s: disconnected (%s); reconnecting in %.2f s", self.name, reason, delay)
            await asyncio.sleep(delay)

    async def _mark_ready(self, syncs: list[asyncio.Task]) -> None:
        if syncs:
            await asyncio.gather(*syncs, return_exceptions=True)
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        log.error("%s: giving up: %s", self.name, exc)
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(exc)
            self.ready.exception()  # mark retrieved; whoever awaits ``ready`` reports it
            return  # not fatal for the owner: Feed.subscribe() opens connections too
        if self._on_fatal is not None:
            self._on_fatal(exc)

    async def _rotate_later(self, old: Session) -> None:
        """Replace ``old`` by a fresh session before the exchange's lifetime limit (or as soon as
        it announces a shutdown), without a gap."""
        opts = self.options
        try:  # until the lifetime deadline, or at once on a shutdown notice
            await asyncio.wait_for(
                old.rotate_now.wait(),
                max(0.0, old.opened_at + self.rotate_after - time.monotonic()),
            )
        except asyncio.TimeoutError:
            pass
        attempt = 0
        new: Session | None = None
        try:
            while not old.closed.done():
                try:
                    new = await self._open_session("rotation")
                    syncs = [new.start_sync(sym, "rotation") for sym in self.book_symbols]
                    if syncs:
                        await asyncio.gather(*syncs)
                    if not new.books_synced(self.book_symbols) or new.closed.done():
                        raise ConnectionError("rotation session lost its books")
                    break
                except (asyncio.CancelledError, SubscriptionError):
                    raise
                except Exception as exc:
                    if new is not None:
                        new.close("rotation failed", graceful=False)
                        new = None
                    attempt += 1
                    log.warning("%s: rotation attempt failed (%r)", self.name, exc)
                    await asyncio.sleep(full_jitter(attempt, opts.backoff_base, opts.backoff_cap))
            if new is None or old.closed.done():
                if new is not None:
                    new.close("rotation aborted")
                return
            self._primary = new
            self._adopt_books(new)
            self.counters.rotations += 1
            log.info(
                "%s: rotated to session #%d (old age %.1f s)",
                self.name,
                new.serial,
                time.monotonic() - old.opened_at,
            )
            new_ref = new
            new = None
            # both sessions deliver for a moment; de-duplication merges them
            await asyncio.sleep(opts.rotation_overlap)
            if not new_ref.closed.done():
                self._adopt_books(new_ref, force=True)
            old.close("rotated")
            del new_ref
        except asyncio.CancelledError:
            if new is not None:
                new.close("rotation cancelled", graceful=False)
            raise

    async def _watchdog(self) -> None:
        # Reads each session's frame count a few times per stale period instead of stamping
        # every frame: the hot path stays free of bookkeeping.
        stale_ns = int(self.stale_after * 1e9)
        period = max(0.05, min(1.0, self.stale_after / 4))
        seen: dict[Session, int] = {}
        while True:
            await asyncio.sleep(period)
            now = time_ns()
            for s in list(self._sessions):
                if s.transport is None or s.closed.done():
                    continue
                n = s.frames()
                if seen.get(s) != n:
                    seen[s] = n
                    s.last_rx_ns = max(s.last_rx_ns, now)
                elif now - s.last_rx_ns > stale_ns:
                    self.counters.stale += 1
                    log.warning(
                        "%s: no frame for %.1f s; dropping the connection",
                        self.name,
                        (now - s.last_rx_ns) / 1e9,
                    )
                    s.close(f"stale: no frame for {self.stale_after:g} s", graceful=False)
            for s in [s for s in seen if s.closed.done()]:
                del seen[s]

    async def _fetch(self, url: str, params: dict[str, str], timeout: float) -> bytes:
        """GET ``url`` and return the raw body; raises ``_HttpStatus`` on non-200."""
        http = self._http()
        async with http.get(
            url, params=params, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                ra = resp.headers.get("Retry-After")
                raise _HttpStatus(resp.status, float(ra) if ra and ra.isdigit() else None)
            return body
