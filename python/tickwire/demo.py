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
from typing import Any

from .events import BadFrame, Connected, Disconnected, GapDetected, Resynced, TradesMissed
from .feed import Feed, run
from .metrics import LatencyRecorder, RateMeter

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
    feed: Feed | None = None
    sim: Any = None
    messages: int = 0
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)
    meter: RateMeter = field(default_factory=lambda: RateMeter(1.0))
    trades: deque = field(default_factory=lambda: deque(maxlen=6))
    history: list = field(default_factory=list)  # (seconds since start, text) of health events
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
        book = state.feed.book(state.symbol) if state.feed else None
    except (KeyError, ValueError):
        book = None
    if book is None:
        return None, None, None, None
    return book.best_bid, book.best_ask, book.spread, book.sequence


def _plain_line(st: _State) -> str:
    bid, ask, spread, _ = _top(st)
    s = st.feed.stats() if st.feed else {}
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
        s = st.feed.stats() if st.feed else {}
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

    states = [_State(ex, sym) for ex, sym in SYMBOLS.items()]
    sims = []
    for st in states:
        rec = packaged_recording(st.exchange)
        span = (rec.ts[-1] - rec.ts[0]) / 1e9
        st.sim = Simulator(st.exchange, recording=rec, speed=span / REPLAY_SECONDS, autostart=False)
        sims.append(st.sim)
    t0 = time.monotonic()
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
        starts = [asyncio.ensure_future(st.feed.start()) for st in states]
        # start each replay once its feed has subscribed every stream, so nothing is missed
        for st in states:
            want = len({s.route for s in st.feed.subscriptions})
            while not (
                len(st.sim.connections) >= want and all(c.subscriptions for c in st.sim.connections)
            ):
                await asyncio.sleep(0.01)
        spot, usdm = states
        spot.sim.inject(CloseAfter(len(spot.sim.recording) * 2 // 5))
        usdm.sim.inject(Drop(stream="ethusdt@depth@0ms", skip=1800))
        for sim in sims:
            sim.start_replay()
        await asyncio.gather(*starts)
        done = asyncio.ensure_future(asyncio.gather(*(s.wait_finished() for s in sims)))
        if interactive:
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
        else:
            printed = [0] * len(states)
            while not done.done() and time.monotonic() - t0 < HARD_LIMIT_S:
                await asyncio.sleep(1.0)
                for i, st in enumerate(states):
                    st.rate = st.meter.rate(st.messages)
                    for at, msg in st.history[printed[i] :]:
                        print(f"{at:6.1f}s  {st.exchange}: {msg}", flush=True)
                    printed[i] = len(st.history)
                    print(f"{time.monotonic() - t0:6.1f}s  {_plain_line(st)}", flush=True)
        done.cancel()
        await asyncio.sleep(0.3)  # let the last frames land
        elapsed = time.monotonic() - t0
        print()
        print(
            f"tickwire demo: {elapsed:.1f} s, real Binance recordings replayed through the live code path"
        )
        ok = True
        for st in states:
            s = st.feed.stats()
            verdict = _verify_book(st)
            ok &= verdict.startswith("matches")
            print(
                f"  {TITLES[st.exchange]} {st.symbol}: {st.messages:,} events "
                f"({st.messages / elapsed:,.0f}/s), receive->callback latency p50 "
                f"{_fmt_us(st.latency.percentile(50))}, p99 {_fmt_us(st.latency.percentile(99))}"
            )
            print(
                f"    reconnects {s['reconnects']}, gaps {s['gaps']}, resyncs {s['resyncs']}, "
                f"trades published while disconnected: {s['trades_filled']} fetched, "
                f"{s['trades_missed']} missed; "
                f"bad frames {s['bad_frames']}; final book {verdict}"
            )
        return 0 if ok else 1
    finally:
        for st in states:
            if st.feed is not None:
                await st.feed.close()
        for sim in sims:
            await sim.stop()


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
        return run(_demo(interactive))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(run_demo())
