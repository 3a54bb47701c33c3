"""End to end over a real loopback WebSocket: socket -> decode -> book -> callback.

The local exchange simulator runs in a **separate process** and sends the real Binance spot
ETHUSDT recording (33,617 frames: depth diffs, bookTicker, trades) as fast as the client reads
it. Three clients receive the same recording in the same run, rounds interleaved:

- ``floor``: a picows client that only counts text frames (the transport floor);
- ``picows+orjson bot``: picows + orjson + a dict book with Binance's sync rule (the careful
  hand-written bot of :mod:`tickwire.bench.baselines`), REST snapshot fetched with aiohttp;
- ``tickwire``: ``tw.Feed`` through exactly the live code path (connection layer, REST
  snapshot, Rust decode + book), every event delivered to a user callback.

Each round starts with a warm-up: the simulator publishes the first ``WARMUP_LINES`` lines and
holds there until the client is in sync (books loaded from their REST snapshot), then sends the
rest as fast as the client reads. Throughput is the frames after the warm-up / (time of the last
frame - time of the first after the warm-up), in messages per second: the steady state with
live books, whichever moment a client's snapshot would otherwise have landed.
Latency is measured separately with the simulator pacing the recording at ~20,000 msg/s:
``time.time_ns() - event.receive_ts`` inside the callback, i.e. from the moment the frame left
picows to the moment the user's code runs (decode, book, delivery), in microseconds, for every
event delivered once the feed is in sync (the deltas buffered during the initial sync wait for
the REST snapshot by design; that wait is the snapshot's round trip, not the hot path's).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection as PipeEnd
from typing import Any, TypeVar

from ..feed import run as _run
from .baselines import OrjsonBot, load_recording, orjson

T = TypeVar("T")

TARGET_MSG_PER_S = 1_000_000
TARGET_FLOOR_SHARE = 0.5
TARGET_P99_US = 20.0
PACED_MSG_PER_S = 20_000
WARMUP_LINES = 2_000  # published before the measured window; clients sync their books meanwhile


def _serve(market: str, speed: float | str, hold: int | None, conn: PipeEnd) -> None:
    """Simulator process: report its URLs; per round publish up to line ``hold`` and wait for
    "release", and rewind on request, until told to stop."""
    from ..simulator import Simulator

    async def main() -> None:
        # The recorded REST snapshot, not one rebuilt at the replay position: rebuilding a book
        # in Python stalls this single-threaded server for 50-90 ms, and whether that stall fell
        # inside a client's measured window (depending on when its snapshot request arrived)
        # halved or did not halve its measured rate. Every client subscribes before the replay
        # starts and buffers from the first delta, so the recorded snapshot always bridges.
        async with Simulator(
            market,
            speed=speed,
            ping_interval=0,
            rate_limit=0,
            routing=False,
            snapshot_mode="recorded",
        ) as sim:
            sim.warm()
            if hold is not None:
                sim.hold_at(hold)
            conn.send((sim.rest_url, sim.stream_url(), len(sim.recording)))
            loop = asyncio.get_running_loop()
            while (cmd := await loop.run_in_executor(None, conn.recv)) != "stop":
                if cmd == "rewind":
                    await sim.rewind()
                    if hold is not None:
                        sim.hold_at(hold)
                elif cmd == "release":
                    sim.resume()
                conn.send("ok")

    _run(main())


class ServerProcess:
    """The simulator in its own process (spawned, so it shares no interpreter with the client).

    ``rest_url``: base URL for REST and (with ws scheme) WebSockets; ``stream_url``: combined
    stream URL of every recorded stream; ``frames``: frames per replay. ``rewind()`` restarts the
    replay for the next client; with ``hold`` each replay stops after that many lines until
    ``release()``."""

    def __init__(
        self, market: str = "binance", speed: float | str = "max", hold: int | None = None
    ) -> None:
        self.hold = hold
        self._parent, child = mp.Pipe()
        self._proc = mp.get_context("spawn").Process(
            target=_serve, args=(market, speed, hold, child), daemon=True
        )

    def __enter__(self) -> ServerProcess:
        self._proc.start()
        if not self._parent.poll(60):
            raise RuntimeError("the simulator process did not start within 60 s")
        self.rest_url, self.stream_url, self.frames = self._parent.recv()
        return self

    def rewind(self) -> None:
        """Restart the replay from the first line (held again with ``hold``)."""
        self._parent.send("rewind")
        self._parent.recv()

    async def release(self) -> None:
        """End the warm-up hold: the rest of the recording follows as fast as the client reads."""
        self._parent.send("release")
        await asyncio.get_running_loop().run_in_executor(None, self._parent.recv)

    def __exit__(self, *exc: object) -> None:
        self._parent.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


@dataclass
class Run:
    """One client's measured window: frames in it and seconds from its first to its last."""

    frames: int
    seconds: float

    @property
    def msg_per_s(self) -> float:
        """Messages per second over the window (first to last frame)."""
        return (self.frames - 1) / self.seconds if self.seconds > 0 else 0.0


class _Window:
    """Frame counting for the picows clients: the warm-up (``srv.hold`` frames) ends with
    ``warmed``; the window runs from the next frame to the last of the recording."""

    def __init__(self, srv: ServerProcess) -> None:
        loop = asyncio.get_running_loop()
        self.warm, self.total = srv.hold or 0, srv.frames
        self.warmed: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[Run] = loop.create_future()
        self.n, self.t0 = 0, 0.0
        if not self.warm:
            self.warmed.set_result(None)

    def count(self) -> None:
        """One more text frame received."""
        self.n += 1
        if self.n == self.warm:
            self.warmed.set_result(None)
        elif self.n == self.warm + 1:
            self.t0 = time.perf_counter()
        elif self.n == self.total:
            self.done.set_result(Run(self.total - self.warm, time.perf_counter() - self.t0))

    async def measure(self, srv: ServerProcess) -> Run:
        """Wait out the warm-up, release the server, return the measured window."""
        await asyncio.wait_for(self.warmed, 60)
        if srv.hold:
            await srv.release()
        return await asyncio.wait_for(self.done, 60)


async def _floor(srv: ServerProcess) -> Run:
    """Picows client that only counts text frames."""
    import picows

    w = _Window(srv)
    count = w.count
    text = picows.WSMsgType.TEXT  # looked up once: enum attribute access is slow on 3.11

    class FloorClient(picows.WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:  # noqa: ARG002 - picows' signature
            if frame.msg_type is text:
                count()

    transport, _ = await picows.ws_connect(FloorClient, srv.stream_url)
    try:
        return await w.measure(srv)
    finally:
        transport.disconnect()


async def _orjson_bot(srv: ServerProcess) -> Run:
    """Picows + orjson + dict book; REST snapshot via aiohttp, applied during the warm-up."""
    import aiohttp
    import picows

    w = _Window(srv)
    count = w.count
    bot = OrjsonBot("spot")
    feed_bot = bot.feed
    text = picows.WSMsgType.TEXT

    class OrjsonBotClient(picows.WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:  # noqa: ARG002 - picows' signature
            if frame.msg_type is text:
                feed_bot(frame.get_payload_as_bytes())
                count()

    async with aiohttp.ClientSession() as http:
        transport, _ = await picows.ws_connect(OrjsonBotClient, srv.stream_url)
        try:
            url = f"{srv.rest_url}/api/v3/depth?symbol=ETHUSDT&limit=1000"
            async with http.get(url) as resp:
                bot.apply_snapshot("ETHUSDT", await resp.read())
            return await w.measure(srv)
        finally:
            transport.disconnect()


def _ticker_and_trade_lines() -> list[int]:
    """Recording line of each BBO and trade event of the spot recording, in order. Unlike book
    updates (how many a Feed emits depends on when its REST snapshot arrives), every one of
    these is always delivered, and the recording ends with one of them, so reaching the count
    means everything was processed."""
    import tickwire as tw

    rec = load_recording("spot")
    dec = tw.Decoder("binance")
    last = None
    lines = []
    for i, frame in enumerate(rec.frames):
        for last in dec.feed(frame):
            if isinstance(last, (tw.BBO, tw.Trade)):
                lines.append(i)
    if not isinstance(last, (tw.BBO, tw.Trade)):
        raise RuntimeError(f"the recording must end with a BBO or trade, not {last!r}")
    return lines


def _ticker_and_trade_events() -> int:
    """How many BBO + Trade events the spot recording gives (see :func:`_ticker_and_trade_lines`)."""
    return len(_ticker_and_trade_lines())


async def _tickwire(srv: ServerProcess, latencies: list[int] | None = None) -> Run:
    """tw.Feed on the simulator's base URL; every event to a plain callback that does what the
    other clients do per message (count, compare), plus the latency sample when measuring it.
    The window starts at the first BBO/trade after the warm-up (the feed is in sync by then)."""
    import tickwire as tw

    loop = asyncio.get_running_loop()
    done: asyncio.Future[Run] = loop.create_future()
    lines = _ticker_and_trade_lines()
    total = len(lines)
    first = next(i for i, line in enumerate(lines) if line >= (srv.hold or 0))  # its index
    frames = srv.frames - lines[first]  # recording lines from that event's to the end
    clock, now_ns = time.perf_counter, time.time_ns
    n = 0
    t0 = 0.0

    # Latency samples go to a buffer allocated up front: a growing list's reallocations would
    # add tail spikes of the harness's own to what is measured.
    samples = [0] * (2 * len(load_recording("spot").frames)) if latencies is not None else None
    k = 0
    live = False  # in sync: what arrived before waited for the REST snapshot by design

    def on_message(ev: Any) -> None:
        nonlocal n, t0, k
        if samples is not None and live:
            samples[k] = now_ns() - ev.receive_ts
            k += 1
        n += 1
        if n == first + 1:
            t0 = clock()
        elif n == total:
            done.set_result(Run(frames, clock() - t0))

    def on_book(ev: Any) -> None:
        nonlocal k
        if samples is not None and live:
            samples[k] = now_ns() - ev.receive_ts
            k += 1

    feed = tw.Feed(
        "binance",
        ["ETH/USDT"],
        ["book", "trades", "bbo"],
        base_url=srv.rest_url,
        on_book=on_book,
        on_trade=on_message,
        on_bbo=on_message,
    )
    async with feed:  # returns once the book is in sync
        live = True
        if srv.hold:
            # Wait until every warm-up event is delivered (the server holds now). Polled, so
            # that the measured callbacks do no work beyond the other clients'.
            while n < first:  # noqa: ASYNC110 - see above
                await asyncio.sleep(0.001)
            await srv.release()
        run = await asyncio.wait_for(done, 120)
        stats = feed.stats()
        if stats["decoder_frames"] - stats["decoder_control_frames"] != srv.frames:
            raise RuntimeError(
                f"the feed decoded {stats['decoder_frames']} frames, the recording has {srv.frames}"
            )
    if latencies is not None and samples is not None:
        latencies.extend(samples[:k])
    return run


def throughput(rounds: int = 5) -> dict[str, list[Run]]:
    """Each client ``rounds`` times over the whole recording, rounds interleaved, one
    simulator process; returns the runs per client."""
    clients: dict[str, Callable[[ServerProcess], Coroutine[Any, Any, Run]]] = {
        "floor": _floor,
        "tickwire": _tickwire,
    }
    if orjson is not None:
        clients["picows+orjson bot"] = _orjson_bot
    runs: dict[str, list[Run]] = {name: [] for name in clients}
    with ServerProcess("binance", "max", hold=WARMUP_LINES) as srv:
        for _ in range(rounds):
            for name, client in clients.items():
                run: Run = _run(client(srv))
                runs[name].append(run)
                srv.rewind()
    return runs


def latency(rate: int = PACED_MSG_PER_S) -> list[int]:
    """Receive -> callback latencies (ns) of every event delivered once the feed is in sync,
    the recording paced at ``rate`` msg/s."""
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
    lines = [
        "| client | msg/s (median) | msg/s (best) | share of floor | tickwire ÷ client |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rs in runs.items():
        lines.append(
            f"| {name} | {med[name]:,.0f} | {max(r.msg_per_s for r in rs):,.0f} | "
            f"{med[name] / floor:.0%} | {med['tickwire'] / med[name]:.2f}× |"
        )

    def p(q: float) -> float:  # the q-quantile in microseconds
        return lat[min(len(lat) - 1, int(q * len(lat)))] / 1000

    lines += [
        "",
        (
            f"receive -> callback latency at ~{PACED_MSG_PER_S:,} msg/s over {len(lat):,} events "
            f"after the initial sync: p50 {p(0.5):.1f} µs, p99 {p(0.99):.1f} µs, "
            f"p99.9 {p(0.999):.1f} µs, max {lat[-1] / 1000:.1f} µs"
        ),
    ]
    tw_rate = med["tickwire"]
    lines.append(
        f"targets: ≥ {TARGET_MSG_PER_S:,} msg/s ({'met' if tw_rate >= TARGET_MSG_PER_S else 'NOT met'}), "
        f"≥ {TARGET_FLOOR_SHARE:.0%} of the floor ({'met' if tw_rate >= TARGET_FLOOR_SHARE * floor else 'NOT met'}), "
        f"p99 ≤ {TARGET_P99_US:g} µs ({'met' if p(0.99) <= TARGET_P99_US else 'NOT met'}); "
        f"{rounds} interleaved rounds, simulator in a separate process, one run."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())  # noqa: T201 - the report
