"""The README's Use snippet, executed as written against the local simulator.

Only two names are pointed elsewhere: ``tw.Feed`` gets the simulator's ``base_url`` (the live
code path with another URL), and ``tw.run`` stops the bot once the simulator has replayed the
whole recording and the feed has delivered it, instead of running forever.
"""

from __future__ import annotations

import asyncio
import json
import re
import types
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

import tickwire as tw
from tickwire.simulator import ThreadedSimulator, packaged_recording

pytestmark = pytest.mark.e2e  # runs the simulator over loopback

README = Path(__file__).resolve().parent.parent / "README.md"


def use_snippet() -> str:
    """The first python code block under the README's ``## Use`` heading."""
    section = README.read_text(encoding="utf-8").split("\n## Use\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README ## Use has no python block"
    return match.group(1)


def test_use_snippet_runs_against_the_simulator():
    code = use_snippet()
    assert code.startswith("import tickwire as tw\n")
    assert code.count("tw.Feed(") == 1 and code.count("tw.run(main())") == 1
    depth = [
        json.loads(line)["data"]
        for line in packaged_recording("binance").lines
        if b"depthUpdate" in line
    ]
    feeds: list[tw.Feed] = []
    books_seen: list[int] = []

    with ThreadedSimulator("binance", speed="max") as sim:

        class FeedAtSimulator(tw.Feed):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                on_book = kwargs["on_book"]

                def counted(update: tw.BookUpdate) -> None:
                    on_book(update)  # the README's callback, which must not raise
                    books_seen.append(update.sequence)

                kwargs["on_book"] = counted
                super().__init__(*args, base_url=sim.rest_url, **kwargs)
                feeds.append(self)

        def run_until_replayed(main: Coroutine[Any, Any, None]) -> None:
            async def bounded() -> None:
                bot = asyncio.ensure_future(main)
                await asyncio.to_thread(sim.wait_finished, 120)
                await asyncio.sleep(0.5)  # the last frames are in flight
                assert not bot.done(), bot.exception() if bot.done() else None
                bot.cancel()
                await asyncio.gather(bot, return_exceptions=True)

            tw.run(bounded())

        namespace: dict[str, Any] = {"__name__": "readme_use"}
        shim = types.ModuleType("tickwire")
        shim.__dict__.update(vars(tw), Feed=FeedAtSimulator, run=run_until_replayed)
        exec(  # noqa: S102  (the point of the test: run the README as written)
            compile(code.replace("import tickwire as tw\n", "", 1), str(README), "exec"),
            {**namespace, "tw": shim},
        )

    (feed,) = feeds
    stats = feed.stats()
    assert stats["callback_errors"] == 0 and stats["bad_frames"] == 0 and stats["gaps"] == 0
    # the README's on_book saw the book move in order, through every depth event from its
    # first sync to the recording's last one
    assert books_seen == sorted(set(books_seen))
    assert {d["u"] for d in depth if d["u"] > books_seen[0]} == set(books_seen[1:])
