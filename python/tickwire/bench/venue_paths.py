"""The three paths of a venue benchmark (tickwire, the venue's orjson bot, cryptofeed's handler),
as runners for :func:`tickwire.bench.decode.compare`.

A venue recording is short (299 to 7,907 frames), so one timed *round* replays it ``reps`` times,
each time into a fresh decoder / bot / cryptofeed feed built before the clock starts (one
replay = one connection's worth of frames, from its first frame: snapshots arrive over the
WebSocket, so there is nothing to apply from outside). ``reps`` is chosen so that a round covers
at least :data:`MIN_FRAMES` frames or :data:`MIN_BYTES` bytes, whichever comes first.
msg/s = ``reps x frames / seconds`` of a round.

Checks after the timed rounds (on the last round's state): each path's top of book and number
of levels per side, for every symbol the bot holds, equal the bot's (whose checksums all verified: the bot raises otherwise);
tickwire's ``stats()`` shows no frame error and no checksum mismatch, and its
``checksums_verified`` per replay equals the bot's.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from .recordings import VenueRecording
from .venue_bots import BOTS, VenueBot
from .venue_cryptofeed import CryptofeedVenueReplay

__all__ = [
    "MIN_BYTES",
    "MIN_FRAMES",
    "VenueRun",
    "bot_runner",
    "cryptofeed_runner",
    "reps_for",
    "tickwire_runner",
]

MIN_FRAMES = 20_000
MIN_BYTES = 16_000_000

# {symbol: (best bid, best ask, bid levels, ask levels)}
Tops = dict[str, tuple[Any, Any, int, int]]
# setup() -> state (untimed), run(state) (timed), check(state) -> (tops, facts) after the rounds
Runner = tuple[
    Callable[[], Any], Callable[[Any], None], Callable[[Any], tuple[Tops, dict[str, Any]]]
]


def reps_for(rec: VenueRecording) -> int:
    """Replays per timed round: enough for MIN_FRAMES frames or MIN_BYTES bytes."""
    by_frames = math.ceil(MIN_FRAMES / max(1, len(rec.frames)))
    by_bytes = math.ceil(MIN_BYTES / max(1, rec.nbytes))
    return max(1, min(by_frames, by_bytes))


class VenueRun:
    """The reference replay: the venue's orjson bot over the whole recording once (untimed),
    giving the symbols (unified -> venue id), the final tops and the checksum count."""

    def __init__(self, rec: VenueRecording):
        self.rec = rec
        bot = BOTS[rec.name]()
        for f in rec.frames:
            bot.feed(f)
        self.bot = bot
        self.tops: Tops = _with_depths(bot.tops(), bot.depths())
        self.checksums = bot.checksums_verified
        raw_to_unified: dict[str, str] = getattr(bot, "_sym", {})
        self.symbols = {u: raw for raw, u in raw_to_unified.items() if u in self.tops}


def tickwire_runner(rec: VenueRecording, reps: int, symbols: list[str]) -> Runner:
    """tickwire: ``tw.Decoder(exchange_id[, market])``; ``feed(frame)`` per frame
    (``feed(frame, binary=True)`` for a binary one)."""
    import tickwire as tw

    frames, spec = rec.frames, rec.spec
    binary = [i in rec.binary for i in range(len(frames))] if rec.binary else None

    def make() -> Any:
        if spec.market is None:
            return tw.Decoder(spec.exchange_id)
        return tw.Decoder(spec.exchange_id, market=spec.market)

    errors: list[BaseException] = []

    def setup() -> list[Any]:
        return [make() for _ in range(reps)]

    def run(decs: list[Any]) -> None:
        for dec in decs:
            feed = dec.feed
            if binary is not None:
                for f, b in zip(frames, binary, strict=True):
                    try:
                        feed(f, binary=b)
                    except tw.FrameError as exc:  # noqa: PERF203 - counted; a clean recording has none
                        errors.append(exc)
                continue
            for f in frames:
                try:
                    feed(f)
                except tw.FrameError as exc:  # noqa: PERF203 - counted; a clean recording has none
                    errors.append(exc)

    def check(decs: list[Any]) -> tuple[Tops, dict[str, Any]]:
        dec = decs[-1]
        tops: Tops = {}
        for s in symbols:
            try:
                b = dec.book(s)
            except (KeyError, ValueError):
                continue
            nb, na = len(b.bids(1 << 30)), len(b.asks(1 << 30))
            tops[s] = (_pair(b.best_bid), _pair(b.best_ask), nb, na)
        st = dec.stats()
        facts = {
            "frame_errors": len(errors) // max(1, len(decs)),
            "first_error": str(errors[0]) if errors else None,
            "checksums_verified": st.get("checksums_verified"),
            "checksum_mismatches": st.get("checksum_mismatches"),
        }
        return tops, facts

    return setup, run, check


def bot_runner(rec: VenueRecording, reps: int) -> Runner:
    """The venue's orjson + dict-book bot (:mod:`tickwire.bench.venue_bots`)."""
    cls = BOTS[rec.name]
    frames = rec.frames

    def setup() -> list[VenueBot]:
        return [cls() for _ in range(reps)]

    def run(bots: list[VenueBot]) -> None:
        for bot in bots:
            feed = bot.feed
            for f in frames:
                feed(f)

    def check(bots: list[VenueBot]) -> tuple[Tops, dict[str, Any]]:
        bot = bots[-1]
        return _with_depths(bot.tops(), bot.depths()), {
            "checksums_verified": bot.checksums_verified
        }

    return setup, run, check


class _CfBatch:
    """``reps`` cryptofeed feeds sharing one event loop (closed by ``close``)."""

    def __init__(self, venue: str, symbols: dict[str, str], reps: int):
        self.loop = asyncio.new_event_loop()
        self.replays = [CryptofeedVenueReplay(venue, symbols, loop=self.loop) for _ in range(reps)]

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()


def cryptofeed_runner(rec: VenueRecording, reps: int, symbols: dict[str, str]) -> Runner:
    """Cryptofeed's handler for the venue, no socket (:mod:`tickwire.bench.venue_cryptofeed`)."""
    frames = rec.frames

    def setup() -> _CfBatch:
        return _CfBatch(rec.name, symbols, reps)

    def run(batch: _CfBatch) -> None:
        for r in batch.replays:
            r.run(frames)

    def check(batch: _CfBatch) -> tuple[Tops, dict[str, Any]]:
        r = batch.replays[-1]
        return _with_depths(r.tops(), r.depths()), {}

    return setup, run, check


def _pair(x: Any) -> tuple[float, float] | None:
    return None if x is None else (float(x[0]), float(x[1]))


def _with_depths(tops: dict[str, tuple[Any, Any]], depths: dict[str, tuple[int, int]]) -> Tops:
    return {s: (*t, *depths.get(s, (0, 0))) for s, t in tops.items()}
