"""End to end over a real loopback WebSocket: socket -> decode -> book -> callback.

The local exchange simulator runs in a **separate process** and sends the real Binance spot
ETHUSDT recording (33,617 frames: depth diffs, bookTicker, trades) as fast as the client reads
it. Three clients receive the same recording in the same run, rounds interleaved:

- ``floor``: a picows client that only counts text frames (the transport floor);
- ``picows+orjson bot``: picows + orjson + a dict book with Binance's sync rule (the careful
  hand-written bot of :mod:`tickwire.bench.baselines`), REST snapshot fetched with aiohttp;
- ``tickwire``: ``tw.Feed`` through exactly the live code path (connection layer, REST
  snapshot, Rust decode + book), every event delivered to a user callback.

Throughput is frames / (time of the last frame - time of the first), in messages per second.
Latency is measured separately with the simulator pacing the recording at ~20,000 msg/s:
``time.time_ns() - event.receive_ts`` inside the callback, i.e. from the moment the frame left
picows to the moment the user's code runs (decode, book, delivery), in microseconds.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import time
from dataclasses import dataclass

from .baselines import OrjsonBot, load_recording, orjson

TARGET_MSG_PER_S = 1_000_000
TARGET_FLOOR_SHARE = 0.5
TARGET_P99_US = 20.0
PACED_MSG_PER_S = 20_000


def _serve(market: str, speed, conn) -> None:
    """Simulator process: report its URLs, then rewind on request until told to stop."""
    from ..simulator import Simulator

    async def main() -> None:
        async with Simulator(market, speed=speed, ping_interval=0, rate_limit=0, routing=False) as sim:
            sim.warm()
            conn.send((sim.rest_url, sim.stream_url(), len(sim.recording)))
            loop = asyncio.get_running_loop()
            while (cmd := await loop.run_in_executor(None, conn.recv)) == "rewind":
                await sim.rewind()
                conn.send("ok")

    _run(main())


def _run(coro):
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.run(coro)
    return uvloop.run(coro)


class ServerProcess:
    """The simulator in its own process (spawned, so it shares no interpreter with the client).

    ``rest_url``: base URL for REST and (with ws scheme) WebSockets; ``stream_url``: combined
    stream URL of every recorded stream; ``frames``: frames per replay. ``rewind()`` restarts the
    replay for the next client."""

    def __init__(self, market: str = "binance", speed: float | str = "max") -> None:
        self._parent, child = mp.Pipe()
        self._proc = mp.get_context("spawn").Process(target=_serve, args=(market, speed, child), daemon=True)

    def __enter__(self) -> "ServerProcess":
        self._proc.start()
        if not self._parent.poll(60):
            raise RuntimeError("the simulator process did not start within 60 s")
        self.rest_url, self.stream_url, self.frames = self._parent.recv()
        return self

    def rewind(self) -> None:
        self._parent.send("rewind")
        self._parent.recv()

    def __exit__(self, *exc) -> None:
        self._parent.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


@dataclass
class Run:
    """One client's pass over the recording: frames seen and seconds from first to last."""

    frames: int
    seconds: float

    @property
    def msg_per_s(self) -> float:
        return (self.frames - 1) / self.seconds if self.seconds > 0 else 0.0


async def _floor(srv: ServerProcess) -> Run:
    """picows client that only counts text frames."""
    import picows

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    total = srv.frames

    text = picows.WSMsgType.TEXT  # looked up once: enum attribute access is slow on 3.11

    class Counter(picows.WSListener):
        n = 0
        t0 = 0.0

        def on_ws_frame(self, transport, frame):
            if frame.msg_type is text:
                self.n += 1
                if self.n == 1:
                    self.t0 = time.perf_counter()
                elif self.n == total:
                    done.set_result(Run(total, time.perf_counter() - self.t0))

    transport, _ = await picows.ws_connect(Counter, srv.stream_url)
    try:
        return await asyncio.wait_for(done, 60)
    finally:
        transport.disconnect()


async def _orjson_bot(srv: ServerProcess) -> Run:
    """picows + orjson + dict book; REST snapshot via aiohttp, applied when it arrives."""
    import aiohttp
    import picows

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    total = srv.frames
    bot = OrjsonBot("spot")

    text = picows.WSMsgType.TEXT

    class Bot(picows.WSListener):
        n = 0
        t0 = 0.0

        def on_ws_frame(self, transport, frame):
            if frame.msg_type is text:
                bot.feed(frame.get_payload_as_bytes())
                self.n += 1
                if self.n == 1:
                    self.t0 = time.perf_counter()
                elif self.n == total:
                    done.set_result(Run(total, time.perf_counter() - self.t0))

    async with aiohttp.ClientSession() as http:
        transport, _ = await picows.ws_connect(Bot, srv.stream_url)
        try:
            url = f"{srv.rest_url}/api/v3/depth?symbol=ETHUSDT&limit=1000"
            async with http.get(url) as resp:
                bot.apply_snapshot("ETHUSDT", await resp.read())
            return await asyncio.wait_for(done, 60)
        finally:
            transport.disconnect()


def _ticker_and_trade_events() -> int:
    """BBO + Trade events of the spot recording. Unlike book updates (how many a Feed emits
    depends on when its REST snapshot arrives), every one of these is always delivered, and the
    recording ends with one of them, so reaching this count means everything was processed."""
    import tickwire as tw

    rec = load_recording("spot")
    dec = tw.Decoder("binance")
    last = None
    n = 0
    for frame in rec.frames:
        for last in dec.feed(frame):
            n += isinstance(last, (tw.BBO, tw.Trade))
    if not isinstance(last, (tw.BBO, tw.Trade)):
        raise RuntimeError(f"the recording must end with a BBO or trade, not {last!r}")
    return n


async def _tickwire(srv: ServerProcess, latencies: list | None = None) -> Run:
    """tw.Feed on the simulator's base URL; every event to a plain callback that does what the
    other clients do per message (count, compare), plus the latency sample when measuring it."""
    import tickwire as tw

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    total = _ticker_and_trade_events()
    clock, now_ns = time.perf_counter, time.time_ns
    n = 0
    t0 = 0.0

    # Latency samples go to a buffer allocated up front: a growing list's reallocations would
    # add tail spikes of the harness's own to what is measured.
    samples = [0] * (2 * len(load_recording("spot").frames)) if latencies is not None else None
    k = 0

    def on_message(ev) -> None:
        nonlocal n, t0, k
        if samples is not None:
            samples[k] = now_ns() - ev.receive_ts
            k += 1
        n += 1
        if n == 1:
            t0 = clock()
        elif n == total:
            stats = feed.stats()  # market-data frames: the other clients count those only
            done.set_result(Run(stats["decoder_frames"] - stats["decoder_control_frames"], clock() - t0))

    def on_book(ev) -> None:
        nonlocal k
        if samples is not None:
            samples[k] = now_ns() - ev.receive_ts
            k += 1

    feed = tw.Feed("binance", ["ETH/USDT"], ["book", "trades", "bbo"], base_url=srv.rest_url,
                   on_book=on_book, on_trade=on_message, on_bbo=on_message)
    async with feed:
        run = await asyncio.wait_for(done, 120)
    if latencies is not None:
        latencies.extend(samples[:k])
    return run


def throughput(rounds: int = 5) -> dict[str, list[Run]]:
    """Each client ``rounds`` times over the whole recording, rounds interleaved, one
    simulator process; returns the runs per client."""
    clients = {"floor": _floor, "tickwire": _tickwire}
    if orjson is not None:
        clients["picows+orjson bot"] = _orjson_bot
    runs: dict[str, list[Run]] = {name: [] for name in clients}
    with ServerProcess("binance", "max") as srv:
        for _ in range(rounds):
            for name, client in clients.items():
                runs[name].append(_run(client(srv)))
                srv.rewind()
    return runs


def latency(rate: int = PACED_MSG_PER_S) -> list[int]:
    """Receive -> callback latencies (ns) of every event, the recording paced at ``rate`` msg/s."""
    rec = load_recording("spot")
    speed = rate * _recorded_seconds() / len(rec.frames)
    lat: list[int] = []
    with ServerProcess("binance", speed) as srv:
        _run(_tickwire(srv, lat))
    return lat


def _recorded_seconds() -> float:
    import gzip

    from .baselines import _DATA

    stamps = gzip.decompress((_DATA / "binance" / "ethusdt_20240808.ts.gz").read_bytes()).split()
    return (int(stamps[-1]) - int(stamps[0])) / 1e9


def report(rounds: int = 5) -> str:
    """Run both measurements and format them as a markdown table with the targets."""
    return format_report(throughput(rounds), sorted(latency()), rounds)


def format_report(runs: dict[str, list[Run]], lat: list[int], rounds: int) -> str:
    """Markdown table of :func:`throughput`'s runs and the sorted :func:`latency` samples (ns),
    with the targets."""
    med = {name: statistics.median(r.msg_per_s for r in rs) for name, rs in runs.items()}
    floor = med["floor"]
    lines = ["| client | msg/s (median) | msg/s (best) | share of floor | tickwire ÷ client |",
             "|---|---:|---:|---:|---:|"]
    for name, rs in runs.items():
        lines.append(f"| {name} | {med[name]:,.0f} | {max(r.msg_per_s for r in rs):,.0f} | "
                     f"{med[name] / floor:.0%} | {med['tickwire'] / med[name]:.2f}× |")
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000  # noqa: E731
    lines += ["", f"receive -> callback latency at ~{PACED_MSG_PER_S:,} msg/s over {len(lat):,} events: "
                  f"p50 {p(0.5):.1f} µs, p99 {p(0.99):.1f} µs, p99.9 {p(0.999):.1f} µs, max {lat[-1] / 1000:.1f} µs"]
    tw_rate = med["tickwire"]
    lines.append(f"targets: ≥ {TARGET_MSG_PER_S:,} msg/s ({'met' if tw_rate >= TARGET_MSG_PER_S else 'NOT met'}), "
                 f"≥ {TARGET_FLOOR_SHARE:.0%} of the floor ({'met' if tw_rate >= TARGET_FLOOR_SHARE * floor else 'NOT met'}), "
                 f"p99 ≤ {TARGET_P99_US:g} µs ({'met' if p(0.99) <= TARGET_P99_US else 'NOT met'}); "
                 f"{rounds} interleaved rounds, simulator in a separate process, one run.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
