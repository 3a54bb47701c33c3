"""One client WebSocket connection to the simulator: subscriptions, pings, limits, faults.

Data frames are pre-encoded (see ``recording.View``) and written straight to the TCP transport
in large slices; aiohttp's WebSocket object is used for the handshake, for reading client
frames and for the closing handshake. Both write to the same transport from the one event-loop
thread, and every write is a whole frame, so frames never interleave.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import time
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from .faults import CloseAfter, Drop, Garbage, Lifetime, Stall
from .markets import usdm_route_of
from .protocol import Outcome
from .recording import View, ws_frame

if TYPE_CHECKING:  # pragma: no cover
    from .server import Simulator

_ids = itertools.count(1)


class ServerConnection:
    """Server side of one client connection (see module docstring).

    Public, read-only for tests: ``id``, ``path`` (as requested, with query), ``route``
    ("", "/public" or "/market"), ``subscriptions`` (names in subscription order),
    ``combined``, ``sent`` (data messages sent), ``dropped`` (data messages withheld by
    faults), ``connected_ns`` (int ns since epoch), ``closed``, ``close_code``.
    """

    def __init__(
        self,
        sim: Simulator,
        ws: web.WebSocketResponse,
        request: web.Request,
        route: str,
        combined: bool,
    ):
        self.id = next(_ids)
        self.sim = sim
        self.ws = ws
        self.transport = request.transport
        self.protocol = request.protocol
        self.path = request.path_qs
        self.route = route
        self.combined = combined
        self.subscriptions: dict[str, None] = {}  # ordered set
        self.sent = 0
        self.dropped = 0
        self.connected_ns = time.time_ns()
        self.closed = False
        self.close_code: int | None = None
        self._loop = asyncio.get_running_loop()
        self._t_connect = self._loop.time()
        self._view: View | None = None
        self._triggers: list[list] = []  # [remaining messages, fault]
        self._drop_lines: set[int] = set()
        self._drop_streams: list[list] = []  # [stream or None, skip remaining]
        self._stall_until = 0.0
        self._stall_lose = False
        self._held: list[bytes] = []
        self._pings: dict[bytes, float] = {}
        self._rx: deque[float] = deque()
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task] = set()

    # ---- state used by the replay -----------------------------------------------------------
    def has_subscriptions(self) -> bool:
        return bool(self.subscriptions) and not self.closed

    def _deliverable(self) -> list[str]:
        names = list(self.subscriptions)
        if self.sim.routing and self.sim.spec.name == "binanceusdm":
            # USD-M split: /market carries market streams; /public and unrouted carry /public.
            want = "/market" if self.route == "/market" else "/public"
            names = [n for n in names if usdm_route_of(n) == want]
        return names

    def view(self) -> View:
        if self._view is None:
            self._view = self.sim.recording.view(self._deliverable(), self.combined)
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
                payload = b'{"stream":"'
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
        try:
            await self.protocol._drain_helper()  # aiohttp's own writer waits on the same
        except (ConnectionError, RuntimeError, AttributeError):
            pass

    # ---- closing --------------------------------------------------------------------------
    def close_soon(self, code: int = 1000, reason: str = "") -> None:
        """Start a WebSocket closing handshake with ``code``/``reason`` (non-blocking)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._spawn(self._close(code, reason))

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
        except Exception:  # the peer may already be gone
            self.transport.abort() if self.transport else None

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closed = True
        self.close_code = 1006
        if self.transport is not None:
            self.transport.abort()

    def _spawn(self, coro) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cleanup(self) -> None:
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
                if self.closed:
                    break
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG):
                    if self._over_rate_limit():
                        await self.close(1008, "Too many requests")
                        break
                if msg.type == WSMsgType.TEXT:
                    if self._on_request(msg.data):
                        await self.close(1008, "Invalid request")
                        break
                elif msg.type == WSMsgType.BINARY:
                    if self._on_request(msg.data.decode("utf-8", "replace")):
                        await self.close(1008, "Invalid request")
                        break
                elif msg.type == WSMsgType.PING:
                    self._write_ctrl(ws_frame(bytes(msg.data), 0xA))
                elif msg.type == WSMsgType.PONG:
                    self._on_pong(bytes(msg.data))
                elif msg.type in (
                    WSMsgType.CLOSE,
                    WSMsgType.CLOSING,
                    WSMsgType.CLOSED,
                    WSMsgType.ERROR,
                ):
                    break
        finally:
            self.closed = True
            if self.close_code is None:
                self.close_code = self.ws.close_code
            closing = []
            for task in list(self._tasks):
                if task.get_coro().__name__ == "_close":
                    closing.append(task)
                else:
                    task.cancel()
            if closing:  # finish a closing handshake started elsewhere before returning
                await asyncio.wait(closing, timeout=5)

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

    def _on_request(self, text: str) -> bool:
        """Handle one request; True if the connection must now be closed."""
        out: Outcome = self.sim.control.handle(text, list(self.subscriptions), self.combined)
        if out.subscribe:
            for s in out.subscribe:
                self.subscriptions.setdefault(s, None)
            self._view = None
        if out.unsubscribe:
            for s in out.unsubscribe:
                self.subscriptions.pop(s, None)
            self._view = None
        if out.combined is not None and out.combined != self.combined:
            self.combined = out.combined
            self._view = None
        self.send_text(out.reply)
        if out.subscribe:
            self.sim.on_subscribe()
        return out.close

    def subscribe(self, streams: list[str]) -> None:
        """Subscribe without a request (streams given in the connection URL)."""
        for s in streams:
            self.subscriptions.setdefault(s, None)
        self._view = None
        if streams:
            self.sim.on_subscribe()

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

    def info(self) -> dict:
        """A JSON-able summary (used by the CLI and in test failure messages)."""
        return {
            "id": self.id,
            "path": self.path,
            "subscriptions": list(self.subscriptions),
            "combined": self.combined,
            "sent": self.sent,
            "dropped": self.dropped,
            "closed": self.closed,
        }

    def __repr__(self) -> str:
        return f"<ServerConnection {json.dumps(self.info())}>"
