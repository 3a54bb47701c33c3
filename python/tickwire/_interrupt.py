"""Run a command's coroutine so that Ctrl-C (SIGINT) ends it cleanly.

Python's default SIGINT handling raises ``KeyboardInterrupt`` wherever the event loop happens to
be, or (3.11+) cancels the main task while leaving other tasks running; either way a
command's own tasks can die with tracebacks and sockets can close without a closing handshake.
Here the signal cancels the main task only, so its ``finally`` blocks close feeds, simulators
and sockets as on any other exit, and ``KeyboardInterrupt`` is raised once that is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command


def run_interruptible(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop (asyncio where uvloop is missing) and return its
    result. SIGINT cancels ``main``; once it has unwound, ``KeyboardInterrupt`` is raised
    (where the loop cannot take signal handlers, e.g. Windows, Python's default SIGINT handling
    applies)."""
    from .feed import run

    interrupted = False

    async def guarded() -> T | None:
        nonlocal interrupted
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal() -> None:
            nonlocal interrupted
            interrupted = True
            if task is not None:
                task.cancel()

        installed = False
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, on_signal)
            installed = True
        try:
            return await main
        except asyncio.CancelledError:
            if interrupted:
                return None  # KeyboardInterrupt is raised once the loop is closed
            raise
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGINT)

    result: T | None = run(guarded())
    if interrupted:
        raise KeyboardInterrupt
    return cast("T", result)  # not interrupted: what main returned
