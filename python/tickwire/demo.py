"""``tickwire demo``: the live code path on local exchanges, no network, no keys.

Starts one simulator on loopback per market that ships a recording and says what the demo shows
(``simulator.venues.MARKETS``: a spec with ``packaged`` and ``demo``), connects a ``Feed`` to each
exactly as to the exchange (only the base URL differs), and shows one live panel per market:
best bid/ask and spread from the Rust-owned book, recent trades, messages per second,
receive->callback latency, reconnects, gaps and resyncs. Each replay carries the one fault its
market's ``DemoSpec`` injects (a disconnect, a dropped book message, a corrupted checksum, ...)
so its recovery is visible. At the end each final book is checked against an offline replay of
its recording. Takes about 30 s. When stdout is not a terminal, plain status lines are printed
instead of the live view.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from time import time_ns
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from ._interrupt import INTERRUPTED_EXIT_CODE, run_interruptible
from .events import BadFrame, Connected, Disconnected, GapDetected, Resynced, TradesMissed
from .exceptions import FrameError
from .feed import Feed
from .metrics import LatencyRecorder, RateMeter
from .replay import frame_of_line

if TYPE_CHECKING:  # pragma: no cover
    from ._core import Trade
    from .simulator import Simulator
    from .simulator.venue import DemoSpec, MarketSpec

__all__ = ["run_demo"]

REPLAY_SECONDS = 25.0  # wall time each recording is squeezed into
HARD_LIMIT_S = 55.0


def demo_markets() -> list[MarketSpec]:
    """The markets the demo shows, in registry order: those with a packaged recording and a
    ``DemoSpec`` whose exchange has an adapter (``tw.Feed`` can connect to it)."""
    from .exchanges import exchange_ids
    from .simulator.venues import MARKETS

    adapters = set(exchange_ids())
    return [
        s
        for s in MARKETS.values()
        if s.packaged is not None and s.demo is not None and s.exchange in adapters
    ]


@dataclass
class _State:
    """What the view shows for one feed; updated from the feed's callbacks."""

    spec: MarketSpec
    demo: DemoSpec  # spec.demo
    sim: Simulator
    feed: Feed = field(init=False)  # made once the simulator listens (it needs its URL)
    messages: int = 0
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    meter: RateMeter = field(default_factory=lambda: RateMeter(1.0))
    trades: deque[Trade] = field(default_factory=lambda: deque(maxlen=5))
    # (seconds since start, text) of health events
    history: list[tuple[float, str]] = field(default_factory=list)
    connected: bool = False
    started: float = 0.0
    rate: float = 0.0

    @property
    def exchange(self) -> str:
        """The tickwire exchange id the feed uses."""
        return self.spec.exchange

    @property
    def symbol(self) -> str:
        """The unified symbol whose book the panel shows."""
        return self.demo.symbol

    def on_market(self, ev: Any) -> None:
        self.latency.add(time_ns() - ev.receive_ts)
        self.messages += 1

    def on_trade(self, ev: Any) -> None:
        self.latency.add(time_ns() - ev.receive_ts)
        self.messages += 1
        self.trades.appendleft(ev)

    def on_event(self, ev: Any) -> None:
        if isinstance(ev, (Connected, Disconnected, GapDetected, Resynced, BadFrame, TradesMissed)):
            if isinstance(ev, Connected):
                self.connected = True
            elif isinstance(ev, Disconnected):
                self.connected = False
            self.history.append((time.monotonic() - self.started, _describe(ev)))


def _describe(ev: Any) -> str:
    if isinstance(ev, Connected):
        parts = urlsplit(ev.url)
        return f"connected {parts.path or '/'}{'?' + parts.query if parts.query else ''}"
    if isinstance(ev, Disconnected):
        return f"disconnected: {ev.reason}"
    if isinstance(ev, GapDetected):
        return _describe_gap(ev)
    if isinstance(ev, Resynced):
        at = f" at {ev.sequence}" if ev.sequence else ""  # venues without sequences: None/0
        return f"resynced {ev.symbol} from a snapshot{at}"
    if isinstance(ev, TradesMissed):
        what = (  # a venue without consecutive ids reports a time range
            f"from {ev.since_ts} to {ev.until_ts} ns may be missing"
            if ev.count is None
            else f"published while disconnected (ids {ev.first_id}..{ev.last_id})"
        )
        return f"{ev.count or ''} trades of {ev.symbol} {what}".lstrip()
    return f"bad frame skipped: {ev.error[:50]}"


def _describe_gap(ev: GapDetected) -> str:
    """A lost book sync in words: a sequence gap, a checksum mismatch, a connection gap."""
    reason = getattr(ev, "reason", "gap")
    if reason == "checksum":
        return f"checksum mismatch on {ev.symbol}"
    what = "gap" if reason == "gap" else str(reason).replace("_", " ")
    return f"{what} on {ev.symbol}: expected {ev.expected}, got {ev.received}"


def _px(x: float | None) -> str:
    """A price or size for display: 8 significant digits, thousands separated."""
    return "-" if x is None else f"{x:,.8g}"


def _qty(x: float) -> str:
    """A size for display: up to 6 significant digits, small sizes without an exponent."""
    if 0 < abs(x) < 1e-4:
        return f"{x:.10f}".rstrip("0")
    return f"{x:g}"


def _fmt_us(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1000:,.1f} µs"


def _top(state: _State) -> tuple[Any, Any, Any, int | None]:
    try:
        book = state.feed.book(state.symbol)
    except (KeyError, ValueError, AttributeError):  # no book data yet, or no feed yet
        return None, None, None, None
    return book.best_bid, book.best_ask, book.spread, book.sequence


def _plain_line(st: _State) -> str:
    bid, ask, spread, _ = _top(st)
    s = st.feed.stats()
    b = f"{_px(bid[0])}x{_qty(bid[1])}" if bid else "-"
    a = f"{_px(ask[0])}x{_qty(ask[1])}" if ask else "-"
    return (
        f"{st.spec.name:<16} {st.symbol:<14} bid {b:<22} ask {a:<22} "
        f"spread {_px(spread):<8} msg/s {st.rate:>8,.0f} "
        f"p50 {_fmt_us(st.latency.percentile(50)):>10} p99 {_fmt_us(st.latency.percentile(99)):>10} "
        f"reconnects {s.get('reconnects', 0)} gaps {s.get('gaps', 0)} resyncs {s.get('resyncs', 0)}"
    )


# Up to this many markets each panel shows recent trades (two panels a row past two); more
# (issue 11: about 13) get dense panels of six one-line rows, several a row.
DENSE_FROM = 7
DENSE_PANEL_WIDTH = 58  # columns a dense panel needs; the terminal's width sets panels a row


def _columns(n: int, width: int) -> int:
    """Panels per row for ``n`` markets on a terminal ``width`` columns wide."""
    if n <= 2:
        return 1
    if n < DENSE_FROM:
        return 2
    return max(2, min(4, width // DENSE_PANEL_WIDTH))


def _counters(s: dict[str, int]) -> str:
    """Reconnects, gaps, resyncs and bad frames of a feed's ``stats()``."""
    return (
        f"reconnects {s.get('reconnects', 0)}  gaps {s.get('gaps', 0)}  "
        f"resyncs {s.get('resyncs', 0)}  bad frames {s.get('bad_frames', 0)}"
    )


def _dense_panel(st: _State) -> Any:
    """One market in six lines: top of book, rate and latency, counters, the last trade and
    the last two health events (each line cut to the panel's width, never wrapped)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    def line(*parts: tuple[str, str]) -> Text:
        return Text.assemble(*parts, no_wrap=True, overflow="ellipsis")

    bid, ask, spread, _ = _top(st)
    s = st.feed.stats()
    trouble = s.get("reconnects") or s.get("gaps") or s.get("resyncs")
    rows = [
        line(
            (f"bid {_px(bid[0])} × {_qty(bid[1])}" if bid else "bid -", "bold green"),
            ("  ", ""),
            (f"ask {_px(ask[0])} × {_qty(ask[1])}" if ask else "ask -", "bold red"),
        ),
        line(
            (f"spread {_px(spread)}  ", ""),
            (f"{st.rate:,.0f} msg/s", "cyan"),
            (f"  p50 {_fmt_us(st.latency.percentile(50))}", ""),
            (f"  p99 {_fmt_us(st.latency.percentile(99))}", ""),
        ),
        line((_counters(s), "yellow" if trouble else "")),
    ]
    t = st.trades[0] if st.trades else None
    rows.append(
        line(
            ("last trade ", "dim"),
            (f"{_px(t.price)} × {_qty(t.size)} ", ""),
            (t.side, "green" if t.side == "buy" else "red"),
        )
        if t is not None
        else line(("last trade -", "dim"))
    )
    events: list[tuple[float | None, str]] = [(None, "")] * (2 - len(st.history[-2:]))
    events += st.history[-2:]
    for at, msg in events:
        bad = "disconnected" in msg or "gap" in msg or "mismatch" in msg
        rows.append(
            line((f"{at:5.1f}s {msg}" if at is not None else "", "red" if bad else "green"))
        )
    status = Text(
        " live " if st.connected else " reconnecting ",
        style="black on green" if st.connected else "black on yellow",
    )
    title = Text.assemble((f"{st.demo.title}  {st.symbol} ", "bold"), status)
    return Panel(Group(*rows), title=title, title_align="left", subtitle=st.demo.fault_text)


def _render(states: list[_State], elapsed: float, width: int = 120) -> Any:
    """The live view of ``states`` for a terminal ``width`` columns wide."""
    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    columns = _columns(len(states), width)
    if len(states) >= DENSE_FROM:
        footer = Text(
            f"{elapsed:4.1f}s · {len(states)} markets on local simulators · recordings real, "
            "docs-derived where a title says so · one injected fault each, under its panel",
            style="dim",
            no_wrap=True,
            overflow="ellipsis",
        )
        return Group(_grid([_dense_panel(st) for st in states], columns), footer)
    compact = len(states) > 2  # several markets: two panels a row, fewer trades each
    panels = []
    for st in states:
        bid, ask, spread, seq = _top(st)
        s = st.feed.stats()
        head = Table.grid(padding=(0, 2))
        for _ in range(4):
            head.add_column()
        head.add_row(
            Text(f"bid {_px(bid[0])} × {_qty(bid[1])}" if bid else "bid -", style="bold green"),
            Text(f"ask {_px(ask[0])} × {_qty(ask[1])}" if ask else "ask -", style="bold red"),
            Text(f"spread {_px(spread)}"),
            Text(f"book seq {seq}" if seq and not compact else "", style="dim"),
        )
        head.add_row(
            Text(f"{st.rate:,.0f} msg/s", style="cyan"),
            Text(f"latency p50 {_fmt_us(st.latency.percentile(50))}"),
            Text(f"p99 {_fmt_us(st.latency.percentile(99))}"),
            Text(""),
        )
        trouble = s.get("reconnects") or s.get("gaps") or s.get("resyncs")
        counters = Text(
            f"reconnects {s.get('reconnects', 0)}  gaps {s.get('gaps', 0)}  "
            f"resyncs {s.get('resyncs', 0)}  bad frames {s.get('bad_frames', 0)}",
            style="yellow" if trouble else "",
        )
        trades = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, expand=False)
        trades.add_column("trade id", justify="right", style="dim")
        trades.add_column("price", justify="right")
        trades.add_column("size", justify="right")
        trades.add_column("side")
        for t in list(st.trades)[: 3 if compact else None]:
            trades.add_row(
                str(t.trade_id)[-12:],
                _px(t.price),
                _qty(t.size),
                Text(t.side, style="green" if t.side == "buy" else "red"),
            )
        log = Text()
        for at, msg in st.history[-3 if compact else -4 :]:
            style = "red" if "disconnected" in msg or "gap" in msg or "mismatch" in msg else "green"
            log.append(f"{at:6.1f}s  {msg}\n", style=style)
        log.rstrip()
        status = Text(
            " live " if st.connected else " reconnecting ",
            style="black on green" if st.connected else "black on yellow",
        )
        title = Text.assemble((f"{st.demo.title}  {st.symbol}  ", "bold"), status)
        body = Group(head, counters, trades, log)
        panels.append(Panel(body, title=title, title_align="left", subtitle=st.demo.fault_text))
    faults = "; ".join(f"{st.demo.title}: {st.demo.fault_text}" for st in states)
    if compact:
        faults = "one per market, under its panel"
    footer = Text(
        f"local simulators replaying real recordings · {elapsed:4.1f}s · injected faults: {faults}",
        style="dim",
    )
    if not compact:
        return Group(*panels, footer)
    return Group(_grid(panels, columns), footer)


def _grid(panels: list[Any], columns: int) -> Any:
    """``panels`` in rows of ``columns`` equal columns (the last row padded)."""
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(expand=True, padding=(0, 1))
    for _ in range(columns):
        grid.add_column(ratio=1)
    for k in range(0, len(panels), columns):
        row = panels[k : k + columns]
        grid.add_row(*row, *[Text("")] * (columns - len(row)))
    return grid


def _verify_book(st: _State) -> str:
    """Compare the live book with an offline replay of the whole recording (top 10 levels):
    every line fed to a fresh decoder of the market, each recorded REST snapshot of the shown
    symbol applied where it was received."""
    import numpy as np

    from . import _core

    rec = st.sim.recording
    spec = st.spec
    dec = _core.Decoder(spec.exchange, market=spec.market)
    snap = None
    if rec.snapshots:
        snaps = list(rec.snapshots.values())
        snap = snaps[0] if len(snaps) == 1 else rec.snapshots.get(_market_id(st))
    if snap is not None:
        dec.register(st.symbol)
    rejected = 0
    binary = rec.binary_lines
    for i, line in enumerate(rec.lines):
        if snap is not None and i == snap.after_line:
            dec.apply_snapshot(st.symbol, snap.body)
        try:
            if i in binary:  # a b64: line: the binary frame the simulator sent
                dec.feed(frame_of_line(line)[0], binary=True)
            else:
                dec.feed(line)
        except FrameError:  # counted and shown: the live feed skipped the same frame
            rejected += 1
    want = dec.book(st.symbol)
    got = st.feed.book(st.symbol)
    same = np.array_equal(want.bids(10), got.bids(10)) and np.array_equal(
        want.asks(10), got.asks(10)
    )
    note = f" ({rejected} recorded frames rejected)" if rejected else ""
    return ("matches the recording" if same else "DIFFERS from the recording") + note


def _market_id(st: _State) -> str:
    """The exchange's id of the shown symbol (to find its recorded REST snapshot)."""
    from . import _core

    return _core.market_id(st.exchange, st.symbol, st.spec.market)


def _states() -> list[_State]:
    """One state per demo market, each with its simulator (not started; the replay squeezed
    into :data:`REPLAY_SECONDS` of wall time, started once its feed subscribed)."""
    from .simulator import Simulator, packaged_recording

    states = []
    for spec in demo_markets():
        if spec.demo is None:  # pragma: no cover - demo_markets() returns none of these
            continue
        rec = packaged_recording(spec.name)
        span = max((rec.ts[-1] - rec.ts[0]) / 1e9, 1e-3)
        sim = Simulator(spec.name, recording=rec, speed=span / REPLAY_SECONDS, autostart=False)
        states.append(_State(spec, spec.demo, sim))
    return states


async def _demo(interactive: bool) -> int:
    states = _states()
    sims = [st.sim for st in states]
    t0 = time.monotonic()
    feeds: list[Feed] = []
    starts: list[asyncio.Future[None]] = []
    done: asyncio.Future[Any] | None = None
    try:
        for sim in sims:
            await sim.start()
        for st in states:
            st.started = t0
            st.feed = Feed(
                st.exchange,
                st.symbol,
                list(st.demo.channels),
                base_url=st.sim.rest_url,
                options=dict(st.demo.feed_options) or None,
                on_book=st.on_market,
                on_bbo=st.on_market,
                on_trade=st.on_trade,
                on_event=st.on_event,
            )
            feeds.append(st.feed)
        starts = [asyncio.ensure_future(feed.start()) for feed in feeds]
        # start each replay once its feed has subscribed every stream, so nothing is missed
        for st in states:
            routes = len({s.route for s in st.feed.subscriptions})
            await st.sim.wait_subscribed(routes, timeout=HARD_LIMIT_S)
        for st in states:  # each market's one fault (its DemoSpec), on its open connections
            st.sim.inject(st.demo.fault(st.sim))
        for sim in sims:
            sim.start_replay()
        await asyncio.gather(*starts)
        done = asyncio.ensure_future(asyncio.gather(*(s.wait_finished() for s in sims)))
        if interactive:
            await _show_live(states, done, t0)
        else:
            await _show_plain(states, done, t0)
        done.cancel()
        await asyncio.sleep(0.3)  # let the last frames land
        return _summarize(states, time.monotonic() - t0)
    finally:
        # On Ctrl-C (or any error) nothing may be left running: pending starts and waits end
        # here, then the feeds close their sockets and the simulators stop.
        unfinished = [f for f in (*starts, done) if f is not None and not f.done()]
        for fut in unfinished:
            fut.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        for feed in feeds:
            await feed.close()
        for sim in sims:
            await sim.stop()


async def _show_live(states: list[_State], done: asyncio.Future[Any], t0: float) -> None:
    """The rich live view, refreshed 4 times a second until ``done`` or the hard limit."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    # Many panels: half the redraws (each costs ~1-2 ms per panel). Drawn here, between two
    # callbacks, not by rich's refresh thread: that one would hold the GIL in the middle of
    # the feeds' frame callbacks and add its drawing time to their latency (p99 ~30 ms).
    period = 0.5 if len(states) >= DENSE_FROM else 0.25
    with Live(
        _render(states, 0.0, console.width),
        console=console,
        auto_refresh=False,
        transient=False,
    ) as live:
        while not done.done() and time.monotonic() - t0 < HARD_LIMIT_S:
            await asyncio.sleep(period)
            for st in states:
                st.rate = st.meter.rate(st.messages)
            live.update(_render(states, time.monotonic() - t0, console.width), refresh=True)


async def _show_plain(states: list[_State], done: asyncio.Future[Any], t0: float) -> None:
    """Plain status lines (stdout is not a terminal): health events as they happen and one
    line per feed each second, until ``done`` or the hard limit."""
    printed = [0] * len(states)
    while not done.done() and time.monotonic() - t0 < HARD_LIMIT_S:
        await asyncio.sleep(1.0)
        for i, st in enumerate(states):
            st.rate = st.meter.rate(st.messages)
            for at, msg in st.history[printed[i] :]:
                click.echo(f"{at:6.1f}s  {st.exchange}: {msg}")
            printed[i] = len(st.history)
            click.echo(f"{time.monotonic() - t0:6.1f}s  {_plain_line(st)}")


def _summarize(states: list[_State], elapsed: float) -> int:
    """Print the final report; 0 if every final book matches the recording, else 1."""
    click.echo()
    click.echo(
        f"tickwire demo: {elapsed:.1f} s, recordings of {len(states)} markets (real captures; "
        "docs-derived where the title says so) replayed through the live code path"
    )
    ok = True
    for st in states:
        s = st.feed.stats()
        try:
            verdict = _verify_book(st)
        except Exception as exc:  # noqa: BLE001 - report it as a failed check, never a traceback
            verdict = f"NOT VERIFIED ({type(exc).__name__}: {exc})"
        ok &= verdict.startswith("matches")
        click.echo(
            f"  {st.demo.title} {st.symbol} ({st.demo.fault_text} injected): "
            f"{st.messages:,} events "
            f"({st.messages / elapsed:,.0f}/s), receive->callback latency p50 "
            f"{_fmt_us(st.latency.percentile(50))}, p99 {_fmt_us(st.latency.percentile(99))}"
        )
        click.echo(
            f"    reconnects {s.get('reconnects', 0)}, gaps {s.get('gaps', 0)}, "
            f"resyncs {s.get('resyncs', 0)}, trades published while disconnected: "
            f"{s.get('trades_filled', 0)} fetched, {s.get('trades_missed', 0)} missed; "
            f"bad frames {s.get('bad_frames', 0)}; final book {verdict}"
        )
    return 0 if ok else 1


def run_demo() -> int:
    """Run the demo (about 30 s, no network) and return the process exit code: 0 when every
    final book matches the offline replay of its recording, 1 otherwise, 130 on Ctrl-C."""
    interactive = sys.stdout.isatty()
    # The view reports disconnects and gaps itself; keep library warnings off the terminal
    # unless the caller configured logging.
    tw_log = logging.getLogger("tickwire")
    if not logging.getLogger().handlers and not tw_log.handlers:
        tw_log.addHandler(logging.NullHandler())
    try:
        code: int = run_interruptible(_demo(interactive))
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT_CODE
    return code


if __name__ == "__main__":
    sys.exit(run_demo())
