"""Soak: a multi-venue feed held open against the simulator at a sustained rate, with periodic
faults, for a configurable time; memory, descriptors, tasks, events, latency and recoveries are
sampled over time.

```
python -m tickwire.bench.soak --duration 480 --warmup 300 --check   # CI: 8 minutes
python -m tickwire.bench.soak --duration 3600                        # the documented hour
```

The simulators run in a **child process** (so the feed process's RSS is the feed's own), one per
market, each replaying its packaged recording squeezed into ``loop_s`` seconds (default 40),
over and over: at the end of each pass the simulator rewinds and closes its connections ("end
of recording", 1000), so every market reconnects and resyncs once per pass. (A pass is longer
than the 30 s a connection must live to count as healthy: shorter ones would make the feed
back off, as it does from a server that keeps dropping it.) On top of that, every
``fault_every_s`` seconds one market (round robin) gets one fault from a fixed cycle: an abrupt
close, a dropped message, a garbage frame, a stall of 1 s. One :class:`tickwire.Feed` per
market, in this process, delivers every event to a callback that records its receive ->
callback latency.

Each ``sample_s`` the report gets one row: elapsed time, RSS (MiB, from ``/proc/self/statm``),
open file descriptors, asyncio tasks, events delivered (total and per second), receive ->
callback p50/p99 (µs) over the interval, and recoveries so far (reconnects + resyncs). At the
end: the RSS slope after the warm-up (least squares, KiB per minute), and the descriptors and
tasks left once every feed is closed compared with before they opened.

``--check`` makes the run a pass/fail job: it fails (exit 1) if the RSS slope after the warm-up
exceeds ``--max-slope-kib`` KiB/min, if descriptors or tasks are left behind after the feeds
close, or if a market stopped delivering (no event in the last quarter of the run).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as PipeEnd
from typing import Any

from ..metrics import LatencyRecorder

__all__ = ["DEFAULT_MARKETS", "SoakReport", "main", "soak"]

#: markets with recordings long enough to keep a steady stream (simulator market names)
DEFAULT_MARKETS = ("binance", "binanceusdm", "okx", "bybit-linear", "coinbase", "kraken", "kucoin")
_FAULTS = ("abort", "drop", "garbage", "stall")


def _serve(markets: list[str], loop_s: float, fault_every_s: float, conn: PipeEnd) -> None:
    """Child process: one simulator per market, each looping its recording in ``loop_s`` s;
    faults injected round robin. Sends ``{market: rest_url}``, runs until "stop"."""
    from ..simulator import CloseAfter, Drop, Garbage, Simulator, Stall, packaged_recording

    async def loop_market(sim: Simulator) -> None:
        while True:
            await sim.wait_finished()
            await sim.rewind()  # for connections subscribing from now on: the reconnects
            for c in list(sim.connections):
                c.close_soon(1000, "end of recording")

    async def faults(sims: list[Simulator]) -> None:
        n = 0
        while True:
            await asyncio.sleep(fault_every_s)
            sim, kind = sims[n % len(sims)], _FAULTS[n % len(_FAULTS)]
            n += 1
            fault: object = {
                "abort": CloseAfter(5, abort=True),
                "drop": Drop(skip=5),
                "garbage": Garbage(after=5),
                "stall": Stall(1.0, after=5),
            }[kind]
            sim.inject(fault)

    async def main() -> None:
        sims = []
        for m in markets:
            rec = packaged_recording(m)
            span = max((rec.ts[-1] - rec.ts[0]) / 1e9, 1e-3)
            sims.append(Simulator(m, recording=rec, speed=span / loop_s))
        for s in sims:
            await s.start()
        conn.send({m: s.rest_url for m, s in zip(markets, sims, strict=True)})
        tasks = [asyncio.ensure_future(loop_market(s)) for s in sims]
        tasks.append(asyncio.ensure_future(faults(sims)))
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_reader(conn.fileno(), stop.set)
        await stop.wait()
        for t in tasks:
            t.cancel()
        for s in sims:
            await s.stop()

    asyncio.run(main())


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class SoakReport:
    """What a soak run measured. ``rows``: one dict per sample (see the module docstring);
    ``slope_kib_per_min``: RSS growth after the warm-up; ``fds_left`` / ``tasks_left``:
    descriptors and asyncio tasks still there after every feed closed, minus before they
    opened; ``silent``: markets with no event in the last quarter of the run; ``events``:
    events per market."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    slope_kib_per_min: float = 0.0
    fds_left: int = 0
    tasks_left: int = 0
    silent: list[str] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)

    def problems(self, max_slope_kib: float) -> list[str]:
        """What fails ``--check`` (empty: it passes)."""
        out = []
        if self.slope_kib_per_min > max_slope_kib:
            out.append(
                f"RSS grows {self.slope_kib_per_min:.0f} KiB/min after warm-up "
                f"(limit {max_slope_kib:.0f})"
            )
        if self.fds_left > 0:
            out.append(f"{self.fds_left} file descriptors left open after the feeds closed")
        if self.tasks_left > 0:
            out.append(f"{self.tasks_left} asyncio tasks left after the feeds closed")
        if self.silent:
            out.append(f"no events in the last quarter from: {', '.join(self.silent)}")
        return out


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


class _Tally:
    """What the feeds' callbacks count: events and last event time per market, receive ->
    callback latency of the current interval, recoveries (``Connected`` / ``Resynced``)."""

    def __init__(self, markets: tuple[str, ...]) -> None:
        self.counts = dict.fromkeys(markets, 0)
        self.last_seen = dict.fromkeys(markets, 0.0)
        self.latency = LatencyRecorder(1 << 16)
        self.recoveries = 0

    def callback(self, market: str) -> Any:
        """The ``on_event`` of ``market``'s feed."""
        from ..events import Connected, Resynced

        counts, last_seen = self.counts, self.last_seen

        def on_event(ev: Any) -> None:
            counts[market] += 1
            last_seen[market] = time.monotonic()
            if isinstance(ev, (Connected, Resynced)):
                self.recoveries += 1
            elif ts := getattr(ev, "receive_ts", None):
                self.latency.add(time.time_ns() - ts)

        return on_event

    def sample(self, t_s: float, per_s: float) -> dict[str, Any]:
        """One report row (and a fresh latency interval)."""
        lat, self.latency = self.latency, LatencyRecorder(1 << 16)
        return {
            "t_s": round(t_s, 1),
            "rss_mib": round(_rss_mib(), 1),
            "fds": _fds(),
            "tasks": len(asyncio.all_tasks()),
            "events": sum(self.counts.values()),
            "events_per_s": round(per_s),
            "p50_us": round((lat.percentile(50) or 0) / 1e3, 1),
            "p99_us": round((lat.percentile(99) or 0) / 1e3, 1),
            "recoveries": self.recoveries,
        }


def _feeds(markets: tuple[str, ...], urls: dict[str, str], tally: _Tally) -> list[Any]:
    """One Feed per market: its demo symbol and channels, against its simulator."""
    from ..demo import demo_markets
    from ..feed import Feed

    specs = {s.name: s for s in demo_markets()}
    feeds = []
    for m in markets:
        spec = specs[m]
        if spec.demo is None:  # pragma: no cover - demo_markets() only returns markets with one
            continue
        feeds.append(
            Feed(
                spec.exchange,
                [spec.demo.symbol],
                list(spec.demo.channels),
                base_url=urls[m],
                options=dict(spec.demo.feed_options),
                validate_symbols=False,
                on_event=tally.callback(m),
            )
        )
    return feeds


async def soak(
    duration_s: float,
    markets: tuple[str, ...] = DEFAULT_MARKETS,
    *,
    loop_s: float = 40.0,
    fault_every_s: float = 5.0,
    sample_s: float = 10.0,
    warmup_s: float | None = None,
    on_row: Any = None,
) -> SoakReport:
    """Run the soak (see the module docstring) for ``duration_s`` seconds and return its
    report; ``on_row(row)`` is called with each sample as it is taken. ``warmup_s`` (default a
    third of the run, at least two passes) is left out of the RSS slope. Raises ``ValueError``
    for an unknown market, a duration shorter than two samples, or a warm-up that leaves fewer
    than two samples for the slope."""
    from ..demo import demo_markets

    unknown = sorted(set(markets) - {s.name for s in demo_markets()})
    if unknown:
        raise ValueError(f"unknown soak markets {unknown}; known: {DEFAULT_MARKETS} and more")
    if duration_s < 2 * sample_s:
        raise ValueError(f"duration_s ({duration_s}) must cover two samples of {sample_s} s")
    # the first passes allocate what a feed keeps (books, buffers, pools): left out of the slope
    warmup = max(duration_s / 3, 2 * loop_s) if warmup_s is None else warmup_s
    if duration_s - warmup < 2 * sample_s:
        raise ValueError(
            f"warmup_s ({warmup}) leaves under two samples of {sample_s} s in {duration_s} s"
        )
    report = SoakReport()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_serve, args=(list(markets), loop_s, fault_every_s, child), daemon=True
    )
    proc.start()
    try:
        urls: dict[str, str] = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        fds0, tasks0 = _fds(), len(asyncio.all_tasks())
        tally = _Tally(markets)
        feeds = _feeds(markets, urls, tally)
        for f in feeds:
            await f.start()
        t0 = t_prev = time.monotonic()
        total_prev = 0
        points: list[tuple[float, float]] = []
        while (now := time.monotonic()) - t0 < duration_s:
            await asyncio.sleep(min(sample_s, duration_s - (now - t0)))
            now = time.monotonic()
            total = sum(tally.counts.values())
            row = tally.sample(now - t0, (total - total_prev) / max(now - t_prev, 1e-9))
            total_prev, t_prev = total, now
            report.rows.append(row)
            if row["t_s"] >= warmup:
                points.append((row["t_s"] / 60.0, row["rss_mib"] * 1024.0))
            if on_row is not None:
                on_row(row)
        end = time.monotonic()
        report.silent = [m for m in markets if end - tally.last_seen[m] > duration_s / 4]
        report.events = dict(tally.counts)
        report.slope_kib_per_min = _slope(points)
        for f in feeds:
            await f.close()
        await asyncio.sleep(0.5)  # closing handshakes and transports finish
        report.fds_left = _fds() - fds0
        report.tasks_left = len(asyncio.all_tasks()) - tasks0
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    return report


_COLUMNS = ("t_s", "rss_mib", "fds", "tasks", "events", "events_per_s", "p50_us", "p99_us",
            "recoveries")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m tickwire.bench.soak``: print the rows as they come and the summary; with
    ``--check`` exit 1 on a failed check (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m tickwire.bench.soak", description=__doc__)
    p.add_argument("--duration", type=float, default=180.0, help="seconds (default 180)")
    p.add_argument("--markets", default=",".join(DEFAULT_MARKETS), help="comma-separated")
    p.add_argument("--loop", type=float, default=40.0, help="seconds per pass of a recording")
    p.add_argument("--fault-every", type=float, default=5.0, help="seconds between faults")
    p.add_argument("--sample", type=float, default=10.0, help="seconds between rows")
    p.add_argument("--check", action="store_true", help="exit 1 on a leak or a silent market")
    p.add_argument("--max-slope-kib", type=float, default=1024.0, help="KiB/min (default 1024)")
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds left out of the RSS slope (default a third of the run, at least 2 passes)",
    )
    a = p.parse_args(argv)

    def line(text: str, out: Any = sys.stdout) -> None:
        out.write(text + "\n")
        out.flush()

    line(" ".join(f"{c:>12}" for c in _COLUMNS))
    rep = asyncio.run(
        soak(
            a.duration,
            tuple(m for m in a.markets.split(",") if m),
            loop_s=a.loop,
            fault_every_s=a.fault_every,
            sample_s=a.sample,
            warmup_s=a.warmup,
            on_row=lambda r: line(" ".join(f"{r[c]:>12}" for c in _COLUMNS)),
        )
    )
    line(
        f"RSS slope after warm-up: {rep.slope_kib_per_min:+.0f} KiB/min; left after close: "
        f"{rep.fds_left} fds, {rep.tasks_left} tasks; events: {rep.events}"
    )
    problems = rep.problems(a.max_slope_kib)
    for pr in problems:
        line(f"FAIL: {pr}", sys.stderr)
    return 1 if a.check and problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
