"""The reliability suite's harness: one feed per market against the simulator replaying that
market's packaged recording, one fault injected a quarter of the way in, and an account of what
the feed made of it (checked against an offline replay of the same recording).

Nothing here names an exchange: the markets are those ``tickwire demo`` shows (a packaged
recording and a ``DemoSpec`` naming the symbol, channels and options), so every venue with a
simulator spec and a recording is in the matrix.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tickwire import _core
from tickwire.connection import ConnectionOptions
from tickwire.demo import demo_markets
from tickwire.events import BadFrame, Connected, Disconnected, GapDetected, Resynced, TradesMissed
from tickwire.exceptions import FrameError
from tickwire.exchanges import get_adapter
from tickwire.feed import Feed
from tickwire.replay import frame_of_line
from tickwire.simulator import Simulator, packaged_recording
from tickwire.simulator.venue import MarketSpec, VenueSim

#: wall time each recording is squeezed into
REPLAY_S = 5.0
#: the feed's stale timeout in the rows that silence the socket: a half-open socket is dropped
#: after this long without frames (above ``ConnectionOptions.first_delta_wait``, so a quiet
#: market's new socket lives long enough to sync its book)
STALE_AFTER = 2.5
#: an outcome's ``status`` when the fault does not exist on the market (no checksum, no REST
#: snapshot, ...)
NOT_APPLICABLE = "n/a"

MARKETS: list[MarketSpec] = demo_markets()
#: every outcome of this test session, for the table ``conftest.py`` prints
RESULTS: list[Outcome] = []


@dataclass
class Case:
    """What a fault needs to know about the running market: the simulator (its recording
    loaded, the feed subscribed), the recording lines of the subscribed streams and the
    lines that carry a depth delta of the shown symbol (after the fault point)."""

    sim: Simulator
    lines: list[int]
    delta_lines: list[int]

    @property
    def fault_at(self) -> int:
        """Data messages each connection sends before the fault point (a quarter of the way
        in, which leaves the feed most of the replay to recover in)."""
        return max(1, len(self.lines) // 4)


@dataclass
class Outcome:
    """One cell of the matrix.

    ``status``: ``"recovered"``, :data:`NOT_APPLICABLE` or ``"FAILED: <why>"``;
    ``recover_s``: the longest time from a fault's first sign (``Disconnected``,
    ``GapDetected``) to the feed being whole again (``Connected``, ``Resynced``), None if there
    was no sign; ``lost``: recorded trades of the symbol neither delivered nor reported in a
    ``TradesMissed`` (by id, or by a time range covering the trade's time); ``reported``:
    trades reported missed; ``trades``: the ids delivered, in order; ``filled``: trades
    fetched over REST after a reconnect (the feed's ``trades_filled``); ``signs``: the health events seen
    (kind -> count)."""

    market: str
    fault: str
    status: str = "recovered"
    recover_s: float | None = None
    lost: int = 0
    reported: int = 0
    signs: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: trade ids of the symbol delivered, in order; trades fetched over REST after a reconnect
    trades: list[int | str] = field(default_factory=list)
    filled: int = 0

    @property
    def ok(self) -> bool:
        """True unless the feed failed the case."""
        return not self.status.startswith("FAILED")


@dataclass(frozen=True)
class Fault:
    """A row of the matrix: ``make(case)`` returns what to inject before the replay starts
    (or None when the market does not have the thing the fault breaks); ``mid(case)`` returns
    what to inject once the replay is a quarter of the way in; ``feed_kwargs`` go to the Feed;
    ``detectable``: a trade lost by this fault must be reported (a disconnect on a venue that
    numbers trades consecutively is; a dropped book delta loses no trade); ``check(feed,
    sim)`` returns a problem with what the fault should have caused, or None."""

    name: str
    make: Callable[[Case], list[object] | None] = lambda _c: []
    mid: Callable[[Case], list[object] | None] = lambda _c: []
    feed_kwargs: Callable[[], dict[str, Any]] = dict
    #: health events the fault must cause (proof it fired and was seen)
    expect: tuple[type, ...] = ()
    check: Callable[[Feed, Simulator], str | None] = lambda _f, _s: None
    #: the fault silences the socket: the feed's stale watchdog is set to :data:`STALE_AFTER`
    #: (else the adapter's default, tens of seconds, longer than the replay)
    silent: bool = False


@dataclass
class _Offline:
    """The recording replayed offline: the shown symbol's final book (top 10), its trade
    ids in order and their trade times (ns)."""

    bids: Any
    asks: Any
    trade_ids: list[int | str]
    delta_lines: list[int]
    trade_ts: list[int] = field(default_factory=list)


_OFFLINE: dict[str, _Offline] = {}


def offline(spec: MarketSpec) -> _Offline:
    """Replay ``spec``'s packaged recording through a fresh decoder (each recorded REST
    snapshot of the symbol applied where it was received); cached per market."""
    if spec.name in _OFFLINE:
        return _OFFLINE[spec.name]
    assert spec.demo is not None
    symbol = spec.demo.symbol
    rec = packaged_recording(spec.name)
    dec = _core.Decoder(spec.exchange, market=spec.market)
    dec.register(symbol)
    market_id = _core.market_id(spec.exchange, symbol, spec.market)
    snaps = list(rec.snapshots.values())
    snap = snaps[0] if len(snaps) == 1 else rec.snapshots.get(market_id)
    trade_ids: list[int | str] = []
    trade_ts: list[int] = []
    delta_lines: list[int] = []
    books = 0
    for i, line in enumerate(rec.lines):
        if snap is not None and i == snap.after_line:
            dec.apply_snapshot(symbol, snap.body)
        try:
            if i in rec.binary_lines:
                events = dec.feed(frame_of_line(line)[0], binary=True)
            else:
                events = dec.feed(line)
        except FrameError:
            continue
        for e in events:
            if isinstance(e, _core.Trade) and e.symbol == symbol:
                trade_ids.append(e.trade_id)
                trade_ts.append(e.trade_ts)
        # a book message after the symbol's first one (which may be its snapshot)
        if any(isinstance(e, _core.BookUpdate) and e.symbol == symbol for e in events):
            books += 1
            if books > 1:
                delta_lines.append(i)
    book = dec.book(symbol)
    out = _Offline(book.bids(10), book.asks(10), trade_ids, delta_lines, trade_ts)
    _OFFLINE[spec.name] = out
    return out


def has_checksums(sim: Simulator) -> bool:
    """True if the venue's simulator can corrupt a book checksum."""
    return type(sim.venue).corrupt_checksum is not VenueSim.corrupt_checksum


def has_rest_snapshots(sim: Simulator) -> bool:
    """True if the venue's books start from a REST snapshot."""
    return bool(sim.venue.snapshot_path)


def foreign_frame(spec: MarketSpec) -> bytes:
    """A text frame of another exchange's recording (a frame of the wrong venue)."""
    for other in MARKETS:
        if other.exchange != spec.exchange:
            rec = packaged_recording(other.name)
            for i, line in enumerate(rec.lines):
                if i not in rec.binary_lines:
                    return bytes(line)
    raise AssertionError("no other venue with a text recording")  # pragma: no cover


async def run_case(spec: MarketSpec, fault: Fault) -> Outcome:
    """Replay ``spec``'s recording through a Feed of its demo symbol with ``fault`` and return
    the outcome (never raises for what the feed does; only for a broken harness)."""
    assert spec.demo is not None
    demo = spec.demo
    out = Outcome(spec.name, fault.name)
    rec = packaged_recording(spec.name)
    span = max((rec.ts[-1] - rec.ts[0]) / 1e9, 1e-3)
    events: list[Any] = []
    stamps: list[float] = []

    def on_event(ev: Any) -> None:
        events.append(ev)
        stamps.append(time.monotonic())

    kwargs = {"on_event": on_event, **fault.feed_kwargs()}
    opts = kwargs.pop("connection_options", None) or ConnectionOptions()
    if fault.silent:
        opts.stale_after = STALE_AFTER
    async with Simulator(spec.name, recording=rec, speed=span / REPLAY_S, autostart=False) as sim:
        feed = Feed(
            spec.exchange,
            [demo.symbol],
            list(demo.channels),
            base_url=sim.rest_url,
            options=dict(demo.feed_options),
            connection_options=opts,
            validate_symbols=False,
            start_timeout=20.0,
            **kwargs,
        )
        starting = asyncio.ensure_future(feed.start())
        try:
            await _until(lambda: starting.done() or _all_subscribed(sim), 15.0)
            if starting.done() and starting.exception() is not None:
                out.status = f"FAILED: start: {starting.exception()!r}"
                return out
            case = _case(sim, spec)
            pre = fault.make(case)
            mid = fault.mid(case)
            if pre is None or mid is None:
                out.status = NOT_APPLICABLE
                await feed.close()
                starting.cancel()
                return out
            for f in pre:  # the connections open now; a reconnect's are left alone
                sim.inject(f)
            sim.start_replay()
            await asyncio.wait_for(starting, 30)
            if mid:
                await sim.wait_position(case.lines[case.fault_at], timeout=30)
                for f in mid:
                    sim.inject(f)
            await sim.wait_finished(timeout=60)
            await _fault_shown(feed, fault, events)
            # whole again: connected, the book in sync, no disconnect or gap left open, every
            # event delivered (a slow callback's catch-up queue drained)
            await _until(
                lambda: (
                    feed.connected
                    and feed.book(demo.symbol).synced
                    and _recovery_time(events, stamps) != float("inf")
                    and feed.stats()["pending"] == 0
                ),
                10.0,
            )
            await asyncio.sleep(0.3)  # the last frames
            await _until(lambda: feed.stats()["pending"] == 0, 10.0)
            _judge(out, spec, feed, events, stamps)
            missing = [
                k.__name__ for k in fault.expect if not any(isinstance(e, k) for e in events)
            ]
            if missing:
                out.problems.append(f"no {', '.join(missing)} event: the fault did not show")
            problem = fault.check(feed, sim)
            if problem:
                out.problems.append(problem)
            if out.problems:
                out.status = "FAILED: " + "; ".join(out.problems)
        except Exception as exc:  # noqa: BLE001 - a case that errors is a failed cell, not a crash
            out.status = f"FAILED: {exc!r}"
        finally:
            await feed.close()
            if not starting.done():
                starting.cancel()
    return out


async def _fault_shown(feed: Feed, fault: Fault, events: list[Any]) -> None:
    """Wait (a bounded time) until ``fault``'s expected events came: on a loaded machine the
    replay can end before a half-open socket's stale timeout fires, and judged then the book
    would still be the silenced one (a fault that never shows is reported by the caller). Then,
    for a silent fault, lift ``stale_after``: the replay is over, so from now on silence is the
    end of the recording, not a fault, and must not drop the recovered socket before it is
    judged."""
    with contextlib.suppress(TimeoutError):
        await _until(
            lambda: all(any(isinstance(e, k) for e in events) for k in fault.expect),
            2 * STALE_AFTER + 5.0,
        )
    if fault.silent:
        for c in feed.connections:
            c.stale_after = 3600.0


def _all_subscribed(sim: Simulator) -> bool:
    return bool(sim.connections) and all(c.subscriptions for c in sim.connections)


async def _until(cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout:g} s")
        await asyncio.sleep(0.01)


def _case(sim: Simulator, spec: MarketSpec) -> Case:
    rec = sim.recording
    subscribed = {s for c in sim.connections for s in c.subscriptions}
    lines = [i for i, s in enumerate(rec.line_stream) if s in subscribed]
    start = lines[len(lines) // 4] if lines else 0
    deltas = [i for i in offline(spec).delta_lines if i >= start]
    return Case(sim, lines, deltas)


def _judge(
    out: Outcome, spec: MarketSpec, feed: Feed, events: list[Any], stamps: list[float]
) -> None:
    assert spec.demo is not None
    symbol = spec.demo.symbol
    want = offline(spec)
    book = feed.book(symbol)
    if not (np.array_equal(book.bids(10), want.bids) and np.array_equal(book.asks(10), want.asks)):
        out.problems.append("final book differs from the offline replay")
    delivered = Counter(
        e.trade_id for e in events if isinstance(e, _core.Trade) and e.symbol == symbol
    )
    recorded = Counter(want.trade_ids)  # a venue without trade ids may repeat one (a time)
    twice = delivered - recorded
    if twice:
        out.problems.append(f"{sum(twice.values())} trades delivered twice")
    reported: set[int | str] = set()
    ranges: list[tuple[int, int]] = []
    for e in events:
        if isinstance(e, TradesMissed) and e.symbol == symbol:
            if e.first_id is not None and e.last_id is not None:
                reported.update(range(e.first_id, e.last_id + 1))
            if e.since_ts is not None and e.until_ts is not None:
                ranges.append((e.since_ts, e.until_ts))
    missing = recorded - delivered
    # a venue without consecutive ids reports a time range: the trades in it count as reported
    time_of = dict(zip(want.trade_ids, want.trade_ts, strict=True))
    reported.update(t for t in missing if any(lo <= time_of[t] <= hi for lo, hi in ranges))
    out.reported = sum(n for t, n in missing.items() if t in reported)
    out.lost = sum(n for t, n in missing.items() if t not in reported)
    if delivered:
        # a hole before the last trade delivered must have been reported (after it, the feed
        # cannot know until the next trade comes): by id where ids are consecutive, else by time
        if get_adapter(spec.exchange).consecutive_trade_ids:
            last = max(int(t) for t in delivered)
            holes = [t for t in missing if int(t) < last and t not in reported]
        else:
            last_ts = max((time_of[t] for t in delivered if t in time_of), default=0)
            holes = [t for t in missing if time_of[t] < last_ts and t not in reported]
        if holes:
            out.problems.append(f"{len(holes)} trades lost without a TradesMissed")
    for kind in (Disconnected, GapDetected, Resynced, BadFrame, Connected, TradesMissed):
        n = sum(1 for e in events if isinstance(e, kind))
        if n:
            out.signs[kind.__name__] = n
    out.recover_s = _recovery_time(events, stamps)
    out.trades = [e.trade_id for e in events if isinstance(e, _core.Trade) and e.symbol == symbol]
    out.filled = feed.stats().get("trades_filled", 0)


def _recovery_time(events: list[Any], stamps: list[float]) -> float | None:
    """Longest span from a sign of trouble to the matching all-clear."""
    longest: float | None = None
    down_at: float | None = None
    gaps: dict[str, float] = {}
    for ev, t in zip(events, stamps, strict=True):
        if isinstance(ev, Disconnected) and down_at is None:
            down_at = t
        elif isinstance(ev, Connected) and down_at is not None:
            longest = max(longest or 0.0, t - down_at)
            down_at = None
        elif isinstance(ev, GapDetected):
            gaps.setdefault(ev.symbol, t)
        elif isinstance(ev, Resynced) and ev.symbol in gaps:
            longest = max(longest or 0.0, t - gaps.pop(ev.symbol))
    if down_at is not None or gaps:
        return float("inf")
    return longest
