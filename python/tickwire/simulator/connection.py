"""One client WebSocket connection to the simulator: subscriptions, pings, limits, faults.

Data frames are pre-encoded (see ``recording.View``) and written straight to the TCP transport
in large slices, unless the venue stamps per-connection fields into each frame
(``VenueSim.stamp``): then each message is stamped and framed as it is sent. aiohttp's
WebSocket object is used for the handshake, for reading client frames and for the closing
handshake. Both write to the same transport from the one event-loop
thread, and every write is a whole frame, so frames never interleave.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Coroutine, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import WSMessage, WSMsgType, web

from .faults import BadChecksum, CloseAfter, Drop, ForceSnapshot, Garbage, Lifetime, Stall
from .recording import View, ws_frame

if TYPE_CHECKING:  # pragma: no cover
    from .account import SimAccount
    from .server import Simulator

_ids = itertools.count(1)
# Client frames that count toward the control-message rate limit, and those that end a read.
_COUNTED = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG)
_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class ServerConnection:
    """Server side of one client connection (see module docstring).

    Public, read-only for tests: ``id``, ``path`` (as requested, with query), ``route`` (the
    venue's route label, "" for its plain endpoint), ``subscriptions`` (stream keys in
    subscription order), ``framing`` (how its data frames are wrapped; the venue's value,
    see ``WireFormat.encode``), ``sent`` (data messages sent), ``dropped`` (data messages
    withheld by faults or by the venue's ``stamp``), ``corrupted`` (book frames sent with a bad
    checksum, :class:`~.faults.BadChecksum`), ``snapshots_forced`` (snapshot payloads sent by
    :class:`~.faults.ForceSnapshot`), ``keepalives`` (client messages that counted as
    keepalives), ``connected_ns`` (int ns since epoch), ``closed``, ``close_code``.
    Private side (``account.py``): ``account`` (the :class:`~.account.SimAccount` the venue
    authenticated this connection as, None until then; the venue sets it) and
    ``private_sent`` (account payloads sent).
    """

    def __init__(
        self,
        sim: Simulator,
        ws: web.WebSocketResponse,
        request: web.Request,
        route: str,
        framing: Hashable,
    ):
        self.id = next(_ids)
        self.sim = sim
        self.ws = ws
        transport = request.transport
        if transport is None:  # the client left during the handshake
            raise ConnectionResetError("client connection closed during the handshake")
        self.transport: asyncio.Transport = transport
        self.protocol = request.protocol
        self.path = request.path_qs
        self.route = route
        self.framing = framing
        self.subscriptions: dict[str, None] = {}  # ordered set
        self.sent = 0
        self.dropped = 0
        self.corrupted = 0
        self.snapshots_forced = 0
        self.keepalives = 0
        self.account: SimAccount | None = None
        self.private_sent = 0
        self.connected_ns = time.time_ns()
        self.closed = False
        self.close_code: int | None = None
        self._loop = asyncio.get_running_loop()
        self._t_connect = self._loop.time()
        self._last_keepalive = self._t_connect
        self._view: View | None = None
        self._triggers: list[list[Any]] = []  # [remaining messages, fault]
        self._drop_lines: set[int] = set()
        self._drop_streams: list[list[Any]] = []  # [stream or None, skip remaining]
        self._corrupts: list[list[Any]] = []  # [stream or None, skip remaining] (BadChecksum)
        self._stamp = sim.stamping  # the venue stamps each frame: per-message send path
        self._stall_until = 0.0
        self._stall_lose = False
        self._held: list[bytes] = []
        self._pings: dict[bytes, float] = {}
        self._rx: deque[float] = deque()
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()  # closing handshakes under way

    # ---- state used by the replay -----------------------------------------------------------
    def has_subscriptions(self) -> bool:
        """True while open and subscribed to at least one stream."""
        return bool(self.subscriptions) and not self.closed

    def _deliverable(self) -> list[str]:
        names = list(self.subscriptions)
        if self.sim.routing:
            names = self.sim.venue.deliverable(self.route, names)
        return names

    def view(self) -> View:
        """The pre-encoded frames of the streams this connection receives (cached until its
        subscriptions or its framing change)."""
        if self._view is None:
            self._view = self.sim.recording.view(self._deliverable(), self.framing)
        return self._view

    def publish(self, start: int, end: int) -> None:
        """Send this connection's frames of recording lines [start, end)."""
        if self.closed or not self.subscriptions or self.transport.is_closing():
            return
        v = self.view()
        i = bisect.bisect_left(v.lines, start)
        j = bisect.bisect_left(v.lines, end)
        if self._drop_lines:
            self._drop_lines = {ln for ln in self._drop_lines if ln >= start}
        if i < j:
            self._emit(v, i, j, end)
        if self._drop_lines:  # lines this connection does not receive expire once passed
            self._drop_lines = {ln for ln in self._drop_lines if ln >= end}

    def _emit(self, v: View, i: int, j: int, end: int) -> None:
        """Send messages [i, j) of ``v`` (recording lines before ``end``), applying faults."""
        while i < j and not self.closed:
            stop = j
            if self._triggers:
                stop = min(stop, i + min(t[0] for t in self._triggers))
            if self._corrupts:  # a BadChecksum is pending: look at one message at a time
                stop = min(stop, i + 1)
            drop_at = self._find_drop(v, i, stop)
            if drop_at is not None:
                stop = drop_at
            if stop > i:
                bad = self._take_corrupt(v, i) if self._corrupts else None
                if bad is not None:
                    self.corrupted += 1
                self._send(v, i, stop, bad)
                for t in self._triggers:
                    t[0] -= stop - i
                i = stop
            if drop_at is not None and i == drop_at:
                self.dropped += 1
                i += 1
            self._fire_triggers(v, i, end)

    def _find_drop(self, v: View, i: int, stop: int) -> int | None:
        """Index in [i, stop) of the first message to withhold, consuming that drop."""
        line_k = None
        for ln in self._drop_lines:
            k = bisect.bisect_left(v.lines, ln, i, stop)
            if k < stop and v.lines[k] == ln and (line_k is None or k < line_k):
                line_k = k
        stream_k = None
        if self._drop_streams:
            entry = self._drop_streams[0]
            # Messages before the first drop are sent; they count toward the skip.
            end = stop if line_k is None else line_k + 1
            skip = entry[1]
            for k in range(i, end):
                if entry[0] is None or v.streams[k] == entry[0]:
                    if skip == 0:
                        stream_k = k
                        break
                    if line_k is None or k < line_k:
                        skip -= 1
            if stream_k is None:
                entry[1] = skip
            else:
                self._drop_streams.pop(0)
        if stream_k is not None and (line_k is None or stream_k <= line_k):
            if line_k == stream_k:
                self._drop_lines.discard(v.lines[line_k])
            return stream_k
        if line_k is not None:
            self._drop_lines.discard(v.lines[line_k])
        return line_k

    def _take_corrupt(self, v: View, k: int) -> bytes | None:
        """The venue's corrupted version of message ``k`` if the first pending
        :class:`~.faults.BadChecksum` takes it (consuming the fault), else None (a message with
        a checksum that the fault skips counts toward its ``skip``)."""
        entry = self._corrupts[0]
        stream = v.streams[k]
        if entry[0] is not None and entry[0] != stream:
            return None
        bad = self.sim.venue.corrupt_checksum(stream, _payload_of(v, k))
        if bad is None:
            return None
        if entry[1] > 0:
            entry[1] -= 1
            return None
        self._corrupts.pop(0)
        return bad

    def _fire_triggers(self, v: View, i: int, end: int) -> None:
        due = [t for t in self._triggers if t[0] <= 0]
        if not due:
            return
        self._triggers = [t for t in self._triggers if t[0] > 0]
        position = v.lines[i] if i < len(v.lines) and v.lines[i] < end else end
        for _, fault in due:
            self._apply_now(fault, v, i, position)

    # ---- faults ---------------------------------------------------------------------------
    def attach(self, fault: object) -> None:
        """Attach a per-connection fault (see ``faults.py``); counts start now."""
        if isinstance(fault, (CloseAfter, Garbage, Stall, ForceSnapshot)):
            n = fault.messages if isinstance(fault, CloseAfter) else fault.after
            if n <= 0:
                self._apply_now(fault, None, 0, self.sim.position)
            else:
                self._triggers.append([n, fault])
        elif isinstance(fault, Drop):
            if fault.line is not None:
                self._drop_lines.add(fault.line)
            else:
                self._drop_streams.append([fault.stream, fault.skip])
        elif isinstance(fault, BadChecksum):
            self._corrupts.append([fault.stream, fault.skip])
        elif isinstance(fault, Lifetime):
            left = fault.seconds - (self._loop.time() - self._t_connect)
            self._timers.append(
                self._loop.call_later(max(0.0, left), self.close_soon, fault.code, fault.reason)
            )
        else:
            raise TypeError(f"not a per-connection fault: {fault!r}")

    def _apply_now(self, fault: object, v: View | None, i: int, position: int) -> None:
        """Apply a due fault before message ``i`` of ``v`` (None: not while sending), the
        replay having published the lines before ``position`` to this connection."""
        if isinstance(fault, CloseAfter):
            if fault.abort:
                self.abort()
            else:
                self.close_soon(fault.code, fault.reason)
        elif isinstance(fault, Stall):
            self._stall_until = self._loop.time() + fault.seconds
            self._stall_lose = fault.lose_data
            self._timers.append(self._loop.call_later(fault.seconds, self._end_stall))
        elif isinstance(fault, Garbage):
            payload = fault.payload
            if payload is None:
                payload = self.sim.spec.wire.garbage_payload
                if v is None:
                    v = self.view()
                    i = bisect.bisect_left(v.lines, self.sim.position)
                if i < len(v.lines):
                    frame = _payload_of(v, i)
                    payload = frame[: len(frame) // 2]
            self._write_ctrl(ws_frame(payload, 0x2 if fault.binary else 0x1))
        elif isinstance(fault, ForceSnapshot):
            streams = [fault.stream] if fault.stream is not None else self._deliverable()
            venue = self.sim.venue
            for stream in streams:
                if stream not in self.subscriptions:
                    continue
                for payload in venue.fresh_snapshot(self, stream, position):
                    self.snapshots_forced += 1
                    self.send_text(payload)

    def _end_stall(self) -> None:
        self._stall_until = 0.0
        held, self._held = self._held, []
        if held and not self.closed:
            self.transport.write(b"".join(held))

    @property
    def stalled(self) -> bool:
        """True while a :class:`~.faults.Stall` holds everything back."""
        return self._stall_until > 0.0

    # ---- writing --------------------------------------------------------------------------
    def _send(self, v: View, i: int, stop: int, replace: bytes | None = None) -> None:
        """Send messages [i, stop) of ``v``: one slice of the pre-encoded bytes, or, when the
        venue stamps frames, each message stamped and framed (``replace``: the payload to send
        instead of message ``i``, a corrupted one; then ``stop == i + 1``)."""
        binary = self.sim.recording.binary_lines
        if not self._stamp:
            if replace is None:
                self._write_data(v.mv[v.offsets[i] : v.offsets[stop]], stop - i)
            else:
                opcode = 0x2 if v.lines[i] in binary else 0x1
                self._write_data(memoryview(ws_frame(replace, opcode)), 1)
            return
        stamp = self.sim.venue.stamp
        streams = v.streams
        chunks = []
        for k in range(i, stop):
            payload = replace if replace is not None else _payload_of(v, k)
            out = stamp(self, streams[k], payload)
            if out is None:
                self.dropped += 1
            else:
                chunks.append(ws_frame(out, 0x2 if v.lines[k] in binary else 0x1))
        if chunks:
            self._write_data(memoryview(b"".join(chunks)), len(chunks))

    def _write_data(self, data: memoryview, n: int) -> None:
        self.sent += n
        if self._stall_until:
            if self._stall_lose:
                self.dropped += n
            else:
                self._held.append(bytes(data))
            return
        self.transport.write(data)

    def _write_ctrl(self, frame: bytes) -> None:
        if self.closed or self.transport.is_closing():
            return
        if self._stall_until:
            self._held.append(frame)
            return
        self.transport.write(frame)

    def send_text(self, payload: bytes) -> None:
        """Send one text frame (replies, notices) in order with the data frames."""
        self._write_ctrl(ws_frame(payload))

    def send_binary(self, payload: bytes) -> None:
        """Send one binary frame in order with the data frames (a venue that pushes binary
        snapshots or replies sends them with this from its hooks)."""
        self._write_ctrl(ws_frame(payload, 0x2))

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        if self.closed or not self.protocol.writing_paused:
            return
        # aiohttp's own writer waits on the same helper; a lost peer ends the wait
        with contextlib.suppress(ConnectionError, RuntimeError, AttributeError):
            await self.protocol._drain_helper()

    def announce_shutdown(self, grace: float) -> None:
        """Send the venue's maintenance notice now (if it has one) and close with 1001
        ``grace`` seconds later."""
        notice = self.sim.venue.shutdown_notice()
        if notice is not None:
            self.send_text(notice)
        self._timers.append(self._loop.call_later(grace, self.close_soon, 1001, "server shutdown"))

    # ---- closing --------------------------------------------------------------------------
    def close_soon(self, code: int = 1000, reason: str = "") -> None:
        """Start a WebSocket closing handshake with ``code``/``reason`` (non-blocking)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._closing.add(self._spawn(self._close(code, reason)))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closing handshake, awaited (used by the reader itself)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code=code, message=reason.encode())
        except Exception:  # noqa: BLE001 - whatever failed, the peer is gone: drop the socket
            self.transport.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closed = True
        self.close_code = 1006
        self.transport.abort()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._closing.discard)
        return task

    def cleanup(self) -> None:
        """The connection ended: mark it closed and cancel its timers."""
        self.closed = True
        for t in self._timers:
            t.cancel()
        self._timers.clear()

    # ---- reading --------------------------------------------------------------------------
    async def run(self) -> None:
        """Read client frames until the connection ends; pings run alongside."""
        self._spawn(self._pinger())
        if self.sim.client_ping_timeout:
            self._spawn(self._keepalive_deadline())
        try:
            async for msg in self.ws:
                if self.closed or await self._on_message(msg):
                    break
        finally:
            self.closed = True
            if self.close_code is None:
                self.close_code = self.ws.close_code
            for task in list(self._tasks - self._closing):
                task.cancel()
            if self._closing:  # finish a closing handshake started elsewhere before returning
                await asyncio.wait(set(self._closing), timeout=5)

    async def _on_message(self, msg: WSMessage) -> bool:
        """Handle one client frame; True once the connection is done (closed or closing)."""
        kind = msg.type
        if kind in _COUNTED and self._over_rate_limit():
            await self.close(1008, "Too many requests")
            return True
        if kind in (WSMsgType.TEXT, WSMsgType.BINARY):
            text = msg.data if kind == WSMsgType.TEXT else msg.data.decode("utf-8", "replace")
            close = self._on_request(text)
            if close is not None:
                await self.close(*close)
                return True
        elif kind == WSMsgType.PING:
            self._write_ctrl(ws_frame(bytes(msg.data), 0xA))
        elif kind == WSMsgType.PONG:
            self._on_pong(bytes(msg.data))
        return kind in _ENDED

    def _over_rate_limit(self) -> bool:
        limit = self.sim.rate_limit
        if not limit:
            return False
        now = self._loop.time()
        rx = self._rx
        rx.append(now)
        while rx and now - rx[0] >= 1.0:
            rx.popleft()
        return len(rx) > limit

    def _on_request(self, text: str) -> tuple[int, str] | None:
        """Handle one client message (the venue answers it); the close code and reason if the
        connection must now be closed."""
        out = self.sim.venue.on_client_message(self, text)
        if out.keepalive or self.sim.spec.any_message_keeps_alive:
            self.keepalives += 1
            self._last_keepalive = self._loop.time()
        added = self._add(out.subscribe or ())
        if out.unsubscribe:
            for s in out.unsubscribe:
                self.subscriptions.pop(s, None)
            self._view = None
        if out.framing is not None and out.framing != self.framing:
            self.framing = out.framing
            self._view = None
        for reply in out.replies:
            self.send_text(reply)
        if out.subscribe:
            self._subscribed(added)
        return out.close

    def subscribe(self, streams: list[str]) -> None:
        """Subscribe without a request (streams given in the connection URL)."""
        added = self._add(streams)
        self._view = None
        if streams:
            self._subscribed(added)

    def _add(self, streams: Sequence[str]) -> list[str]:
        """Add ``streams`` to the subscriptions; returns those that were not there yet."""
        added = [s for s in streams if s not in self.subscriptions]
        for s in streams:
            self.subscriptions.setdefault(s, None)
        if streams:
            self._view = None
        return added

    def _subscribed(self, added: list[str]) -> None:
        """Send what the venue pushes on subscribe (before any data of the current position)
        and wake the replay."""
        sim = self.sim
        position = sim.position
        for stream in added:
            for payload in sim.venue.on_subscribe(self, stream, position):
                self.send_text(payload)
        sim.on_subscribe()

    # ---- heartbeat ------------------------------------------------------------------------
    async def _pinger(self) -> None:
        interval = self.sim.ping_interval
        if not interval:
            return
        while not self.closed:
            await asyncio.sleep(interval)
            if self.closed or self.transport.is_closing():
                return
            if self._stall_until:
                continue  # a stalled server sends no pings either
            payload = str(time.time_ns() // 1_000_000).encode()
            self._pings[payload] = self._loop.time()
            self.transport.write(ws_frame(payload, 0x9))
            if self.sim.pong_timeout:
                self._timers.append(
                    self._loop.call_later(self.sim.pong_timeout, self._check_pong, payload)
                )

    async def _keepalive_deadline(self) -> None:
        """Close the connection (``MarketSpec.client_ping_close``) once the client has sent no
        keepalive for ``client_ping_timeout`` seconds (``MarketSpec.client_ping_timeout``)."""
        timeout = self.sim.client_ping_timeout
        while not self.closed:
            left = self._last_keepalive + timeout - self._loop.time()
            if left <= 0:
                code, reason = self.sim.spec.client_ping_close
                self.close_soon(code, reason)
                return
            await asyncio.sleep(left)

    def _on_pong(self, payload: bytes) -> None:
        if self.sim.spec.unsolicited_pong_counts:
            self._pings.clear()
            return
        sent = self._pings.get(payload)
        if sent is not None:  # spot: only an echo of a ping counts
            self._pings = {p: t for p, t in self._pings.items() if t > sent}

    def _check_pong(self, payload: bytes) -> None:
        if payload in self._pings and not self.closed:
            self.close_soon(1008, "Pong timeout")

    def info(self) -> dict[str, Any]:
        """A JSON-able summary (used by the CLI and in test failure messages)."""
        return {
            "id": self.id,
            "path": self.path,
            "subscriptions": list(self.subscriptions),
            "framing": self.framing,
            "sent": self.sent,
            "dropped": self.dropped,
            "corrupted": self.corrupted,
            "snapshots_forced": self.snapshots_forced,
            "private_sent": self.private_sent,
            "closed": self.closed,
        }

    def __repr__(self) -> str:
        return f"<ServerConnection {json.dumps(self.info(), default=str)}>"


def _payload_of(v: View, k: int) -> bytes:
    """The payload of message ``k`` of ``v`` (its pre-encoded frame without the header)."""
    frame = v.mv[v.offsets[k] : v.offsets[k + 1]]
    head = 2 if frame[1] < 126 else (4 if frame[1] == 126 else 10)
    return bytes(frame[head:])
