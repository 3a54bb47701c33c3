"""Run a :class:`Simulator` on a background thread, for synchronous (non-asyncio) tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .connection import ServerConnection
from .server import Simulator

T = TypeVar("T")


class ThreadedSimulator:
    """``with ThreadedSimulator(market, speed="max") as sim:`` — same arguments as
    :class:`Simulator`; the server runs on its own event loop in a daemon thread.

    URL properties and read-only attributes are forwarded (``sim.ws_url``, ``sim.rest_url``,
    ``sim.stream_url(...)``, ``sim.position``, ``sim.connections``). Control calls are run on
    the server's loop and block until done: :meth:`inject`, :meth:`hold_at`, :meth:`pause`,
    :meth:`resume`, :meth:`start_replay`, :meth:`rewind`, :meth:`wait_position`, :meth:`wait_finished`,
    :meth:`wait_connections`. Raises ``TimeoutError`` from the waits like the async API.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        self._args = args
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.sim: Simulator | None = None

    def start(self) -> ThreadedSimulator:
        """Start the server thread and return once the simulator listens. Raises whatever
        :class:`Simulator` or its ``start()`` raised (e.g. ``ValueError``, ``OSError``)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self.sim = Simulator(*self._args, **self._kwargs)
                loop.run_until_complete(self.sim.start())
            except BaseException as exc:  # noqa: BLE001 - re-raised in the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="tickwire-simulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop the simulator (connections closed with 1001) and its thread. Idempotent."""
        if self._loop is None or self.sim is None:
            return
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> ThreadedSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self.sim is None:
            raise AttributeError(name)
        return getattr(self.sim, name)

    def _running(self) -> tuple[Simulator, asyncio.AbstractEventLoop]:
        if self.sim is None or self._loop is None:
            raise RuntimeError("ThreadedSimulator not started; use 'with ThreadedSimulator(...)'")
        return self.sim, self._loop

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        _, loop = self._running()

        async def on_loop() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result(30)

    def _await(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        _, loop = self._running()
        wait = None if timeout is None else timeout + 1
        return asyncio.run_coroutine_threadsafe(coro, loop).result(wait)

    def inject(
        self, fault: object, connection: ServerConnection | None = None, future: bool = False
    ) -> None:
        """:meth:`Simulator.inject`, run on the server's loop."""
        sim, _ = self._running()
        self._call(sim.inject, fault, connection, future)

    def hold_at(self, n: int) -> None:
        """:meth:`Simulator.hold_at`, run on the server's loop."""
        self._call(self._running()[0].hold_at, n)

    def pause(self) -> None:
        """:meth:`Simulator.pause`, run on the server's loop."""
        self._call(self._running()[0].pause)

    def resume(self) -> None:
        """:meth:`Simulator.resume`, run on the server's loop."""
        self._call(self._running()[0].resume)

    def start_replay(self) -> None:
        """:meth:`Simulator.start_replay`, run on the server's loop."""
        self._call(self._running()[0].start_replay)

    def rewind(self) -> None:
        """:meth:`Simulator.rewind`, awaited on the server's loop."""
        self._await(self._running()[0].rewind(), 30.0)

    def wait_position(self, n: int, timeout: float | None = 10.0) -> int:
        """:meth:`Simulator.wait_position`; ``TimeoutError`` after ``timeout`` s."""
        return self._await(self._running()[0].wait_position(n, timeout), timeout)

    def wait_finished(self, timeout: float | None = 60.0) -> None:
        """:meth:`Simulator.wait_finished`; ``TimeoutError`` after ``timeout`` s."""
        self._await(self._running()[0].wait_finished(timeout), timeout)

    def wait_connections(self, n: int = 1, timeout: float | None = 5.0) -> list[ServerConnection]:
        """:meth:`Simulator.wait_connections`; ``TimeoutError`` after ``timeout`` s."""
        return self._await(self._running()[0].wait_connections(n, timeout), timeout)
