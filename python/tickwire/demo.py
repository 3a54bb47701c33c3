"""``tickwire demo``: the live code path on a local exchange, no network, no keys.

Starts the simulator on loopback for Binance spot and USD-M with the packaged real ETHUSDT
recordings (``tickwire/data``), connects ``Feed`` to it exactly as to Binance (only the base URL
differs), and shows a live view: best bid/ask and spread from the Rust-owned book, recent trades,
messages per second, receive->callback latency, reconnects and gaps. The replay carries one
injected disconnect (spot) and one dropped depth message (USD-M) so recovery is visible. At the
end the final books are checked against an offline replay of the recordings. Takes about 30 s.
When stdout is not a terminal, plain status lines are printed instead of the live view.
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

import click

from ._interrupt import INTERRUPTED_EXIT_CODE, run_interruptible
from .events import BadFrame, Connected, Disconnected, GapDetected, Resynced, TradesMissed
from .feed import Feed
from .metrics import LatencyRecorder, RateMeter

if TYPE_CHECKING:  # pragma: no cover
    from ._core import Trade
    from .simulator import Simulator

__all__ = ["run_demo"]

REPLAY_SECONDS = 25.0  # wall time each recording is squeezed into
HARD_LIMIT_S = 55.0
SYMBOLS = {"binance": "ETH/USDT", "binanceusdm": "ETH/USDT:USDT"}
TITLES = {"binance": "Binance spot", "binanceusdm": "Binance USD-M"}


@dataclass
class _State:
    """What the view shows for one feed; updated from the feed's callbacks."""

    exchange: str
    symbol: str
    sim: Simulator
    feed: Feed = field(init=False)  # made once the simulator listens (it needs its URL)
    messages: int = 0
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    meter: RateMeter = field(default_factory=lambda: RateMeter(1.0))
    trades: deque[Trade] = field(default_factory=lambda: deque(maxlen=6))
    # (seconds since start, text) of health events
    history: list[tuple[float, str]] = field(default_factory=list)
    connected: bool = False
    started: float = 0.0
    rate: float = 0.0

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
        return f"connected /{ev.url.split('/', 3)[-1]}"
    if isinstance(ev, Disconnected):
        return f"disconnected: {ev.reason}"
    if isinstance(ev, GapDetected):
        return f"gap on {ev.symbol}: expected {ev.expected}, got {ev.received}"
    if isinstance(ev, Resynced):
        return f"resynced {ev.symbol} from snapshot at {ev.sequence}"
    if isinstance(ev, TradesMissed):
        return f"{ev.count} trades of {ev.symbol} published while disconnected (ids {ev.first_id}..{ev.last_id})"
    return f"bad frame skipped: {ev.error[:50]}"


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
    b = f"{bid[0]:.2f}x{bid[1]:g}" if bid else "-"
    a = f"{ask[0]:.2f}x{ask[1]:g}" if ask else "-"
    return (
        f"{st.exchange:<12} {st.symbol:<14} bid {b:<20} ask {a:<20} "
        f"spread {spread if spread is not None else '-':<6.4} msg/s {st.rate:>8,.0f} "
        f"p50 {_fmt_us(st.latency.percentile(50)):>10} p99 {_fmt_us(st.latency.percentile(99)):>10} "
        f"reconnects {s.get('reconnects', 0)} gaps {s.get('gaps', 0)} resyncs {s.get('resyncs', 0)}"
    )


def _render(states: list[_State], elapsed: float) -> Any:
    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    panels = []
    for st in states:
        bid, ask, spread, seq = _top(st)
        s = st.feed.stats()
        head = Table.grid(padding=(0, 3))
        for _ in range(4):
            head.add_column()
        head.add_row(
            Text(f"bid {bid[0]:,.2f} × {bid[1]:g}" if bid else "bid -", style="bold green"),
            Text(f"ask {ask[0]:,.2f} × {ask[1]:g}" if ask else "ask -", style="bold red"),
            Text(f"spread {spread:.2f}" if spread is not None else "spread -"),
            Text(f"book seq {seq}" if seq else "", style="dim"),
        )
        head.add_row(
            Text(f"{st.rate:,.0f} msg/s", style="cyan"),
            Text(f"latency p50 {_fmt_us(st.latency.percentile(50))}"),
            Text(f"p99 {_fmt_us(st.latency.percentile(99))}"),
            Text(
                f"reconnects {s.get('reconnects', 0)}  gaps {s.get('gaps', 0)}  "
                f"resyncs {s.get('resyncs', 0)}  bad frames {s.get('bad_frames', 0)}",
                style="yellow" if s.get("reconnects") or s.get("gaps") else "",
            ),
        )
        trades = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, expand=False)
        trades.add_column("trade id", justify="right", style="dim")
        trades.add_column("price", justify="right")
        trades.add_column("size", justify="right")
        trades.add_column("side")
        for t in list(st.trades):
            trades.add_row(
                str(t.trade_id),
                f"{t.price:,.2f}",
                f"{t.size:g}",
                Text(t.side, style="green" if t.side == "buy" else "red"),
            )
        log = Text()
        for at, msg in st.history[-4:]:
            style = "red" if "disconnected" in msg or "gap" in msg else "green"
            log.append(f"{at:6.1f}s  {msg}\n", style=style)
        status = Text(
            " live " if st.connected else " reconnecting ",
            style="black on green" if st.connected else "black on yellow",
        )
        title = Text.assemble((f"{TITLES[st.exchange]}  {st.symbol}  ", "bold"), status)
        panels.append(Panel(Group(head, trades, log), title=title, title_align="left"))
    footer = Text(
        f"local simulator replaying real Binance data · {elapsed:4.1f}s · "
        "one disconnect (spot) and one dropped message (USD-M) are injected",
        style="dim",
    )
    return Group(*panels, footer)


def _verify_book(st: _State) -> str:
    """Compare the live book with an offline replay of the whole recording (top 10 levels)."""
    import numpy as np

    from . import _core

    rec = st.sim.recording
    (snap,) = rec.snapshots.values()
    dec = _core.Decoder(st.exchange)
    dec.register(st.symbol)
    for i, line in enumerate(rec.lines):
        if i == snap.after_line:
            dec.apply_snapshot(st.symbol, snap.body)
        dec.feed(line)
    want = dec.book(st.symbol)
    got = st.feed.book(st.symbol)
    same = np.array_equal(want.bids(10), got.bids(10)) and np.array_equal(
        want.asks(10), got.asks(10)
    )
    return "matches the recording" if same else "DIFFERS from the recording"


async def _demo(interactive: bool) -> int:
    from .simulator import CloseAfter, Drop, Simulator, packaged_recording

    states = []
    for exchange, symbol in SYMBOLS.items():
        rec = packaged_recording(exchange)
        span = (rec.ts[-1] - rec.ts[0]) / 1e9
        sim = Simulator(exchange, recording=rec, speed=span / REPLAY_SECONDS, autostart=False)
        states.append(_State(exchange, symbol, sim))
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
                ["book", "trades", "bbo"],
                base_url=st.sim.rest_url,
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
        spot, usdm = states
        spot.sim.inject(CloseAfter(len(spot.sim.recording) * 2 // 5))
        usdm.sim.inject(Drop(stream="ethusdt@depth@0ms", skip=1800))
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

    with Live(
        _render(states, 0.0), console=Console(), refresh_per_second=4, transient=False
    ) as live:
        while not done.done() and time.monotonic() - t0 < HARD_LIMIT_S:
            await asyncio.sleep(0.25)
            for st in states:
                st.rate = st.meter.rate(st.messages)
            live.update(_render(states, time.monotonic() - t0))


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
        f"tickwire demo: {elapsed:.1f} s, real Binance recordings replayed through the live "
        "code path"
    )
    ok = True
    for st in states:
        s = st.feed.stats()
        verdict = _verify_book(st)
        ok &= verdict.startswith("matches")
        click.echo(
            f"  {TITLES[st.exchange]} {st.symbol}: {st.messages:,} events "
            f"({st.messages / elapsed:,.0f}/s), receive->callback latency p50 "
            f"{_fmt_us(st.latency.percentile(50))}, p99 {_fmt_us(st.latency.percentile(99))}"
        )
        click.echo(
            f"    reconnects {s['reconnects']}, gaps {s['gaps']}, resyncs {s['resyncs']}, "
            f"trades published while disconnected: {s['trades_filled']} fetched, "
            f"{s['trades_missed']} missed; "
            f"bad frames {s['bad_frames']}; final book {verdict}"
        )
    return 0 if ok else 1


def run_demo() -> int:
    """Run the demo (about 30 s, no network) and return the process exit code: 0 when both final
    books match the offline replay of the recordings, 1 otherwise, 130 on Ctrl-C."""
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
