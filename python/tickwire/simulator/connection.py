"""One client WebSocket connection to the simulator: subscriptions, pings, limits, faults.

Data frames are pre-encoded (see ``recording.View``) and written straight to the TCP transport
in large slices; aiohttp's WebSocket object is used for the handshake, for reading client
frames and for the closing handshake. Both write to the same transport from the one event-loop
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

from .faults import CloseAfter, Drop, Garbage, Lifetime, Stall
from .recording import View, ws_frame

if TYPE_CHECKING:  # pragma: no cover
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
    withheld by faults), ``connected_ns`` (int ns since epoch), ``closed``, ``close_code``.
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
        self.connected_ns = time.time_ns()
        self.closed = False
        self.close_code: int | None = None
        self._loop = asyncio.get_running_loop()
        self._t_connect = self._loop.time()
        self._view: View | None = None
        self._triggers: list[list[Any]] = []  # [remaining messages, fault]
        self._drop_lines: set[int] = set()
        self._drop_streams: list[list[Any]] = []  # [stream or None, skip remaining]
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
            self._emit(v, i, j)
        if self._drop_lines:  # lines this connection does not receive expire once passed
            self._drop_lines = {ln for ln in self._drop_lines if ln >= end}

    def _emit(self, v: View, i: int, j: int) -> None:
        while i < j and not self.closed:
            stop = j
            if self._triggers:
                stop = min(stop, i + min(t[0] for t in self._triggers))
            drop_at = self._find_drop(v, i, stop)
            if drop_at is not None:
                stop = drop_at
            if stop > i:
                self._write_data(v.mv[v.offsets[i] : v.offsets[stop]], stop - i)
                for t in self._triggers:
                    t[0] -= stop - i
                i = stop
            if drop_at is not None and i == drop_at:
                self.dropped += 1
                i += 1
            self._fire_triggers(v, i)

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

    def _fire_triggers(self, v: View, i: int) -> None:
        due = [t for t in self._triggers if t[0] <= 0]
        if not due:
            return
        self._triggers = [t for t in self._triggers if t[0] > 0]
        for _, fault in due:
            self._apply_now(fault, v, i)

    # ---- faults ---------------------------------------------------------------------------
    def attach(self, fault: object) -> None:
        """Attach a per-connection fault (see ``faults.py``); counts start now."""
        if isinstance(fault, (CloseAfter, Garbage, Stall)):
            n = fault.messages if isinstance(fault, CloseAfter) else fault.after
            if n <= 0:
                self._apply_now(fault, None, 0)
            else:
                self._triggers.append([n, fault])
        elif isinstance(fault, Drop):
            if fault.line is not None:
                self._drop_lines.add(fault.line)
            else:
                self._drop_streams.append([fault.stream, fault.skip])
        elif isinstance(fault, Lifetime):
            left = fault.seconds - (self._loop.time() - self._t_connect)
            self._timers.append(
                self._loop.call_later(max(0.0, left), self.close_soon, fault.code, fault.reason)
            )
        else:
            raise TypeError(f"not a per-connection fault: {fault!r}")

    def _apply_now(self, fault: object, v: View | None, i: int) -> None:
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
                    frame = v.blob[v.offsets[i] : v.offsets[i + 1]]
                    head = 2 if frame[1] < 126 else (4 if frame[1] == 126 else 10)
                    payload = frame[head : head + (len(frame) - head) // 2]
            self._write_ctrl(ws_frame(payload, 0x2 if fault.binary else 0x1))

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
            "closed": self.closed,
        }

    def __repr__(self) -> str:
        return f"<ServerConnection {json.dumps(self.info(), default=str)}>"
