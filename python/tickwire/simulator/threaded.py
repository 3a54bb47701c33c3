"""Run a :class:`Simulator` on a background thread, for synchronous (non-asyncio) tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .server import Simulator


class ThreadedSimulator:
    """``with ThreadedSimulator("binance", speed="max") as sim:`` — same arguments as
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
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self.sim = Simulator(*self._args, **self._kwargs)
                loop.run_until_complete(self.sim.start())
            except BaseException as exc:  # reported to the starting thread
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
        if self._loop is None or self.sim is None:
            return
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
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

    def _call(self, fn, *args: Any, **kwargs: Any) -> Any:
        async def wrapper():
            return fn(*args, **kwargs)

        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(30)

    def _await(self, coro, timeout: float | None) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(
            None if timeout is None else timeout + 1
        )

    def inject(self, fault: object, connection: Any = None, future: bool = False) -> None:
        self._call(self.sim.inject, fault, connection, future)

    def hold_at(self, n: int) -> None:
        self._call(self.sim.hold_at, n)

    def pause(self) -> None:
        self._call(self.sim.pause)

    def resume(self) -> None:
        self._call(self.sim.resume)

    def start_replay(self) -> None:
        self._call(self.sim.start_replay)

    def rewind(self) -> None:
        self._await(self.sim.rewind(), 30.0)

    def wait_position(self, n: int, timeout: float | None = 10.0) -> int:
        return self._await(self.sim.wait_position(n, timeout), timeout)

    def wait_finished(self, timeout: float | None = 60.0) -> None:
        self._await(self.sim.wait_finished(timeout), timeout)

    def wait_connections(self, n: int = 1, timeout: float | None = 5.0) -> list:
        return self._await(self.sim.wait_connections(n, timeout), timeout)
