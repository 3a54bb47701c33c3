"""Measure how fast the simulator sends in max-speed mode.

``python -m tickwire.simulator.bench [--market NAME] [--runs 7] [--reader picows|bytes]``
(default market: the first one registered).

The server runs in its own process (uvloop if installed). The ``picows`` reader is a trivial
picows listener that only counts text frames: the rate at which the server delivers into the
cheapest real WebSocket client over loopback, from the subscription (streams in the URL) to the
last frame of the recording. The ``bytes`` reader does the handshake by hand and only counts
received bytes (no frame parsing), to show what the server can send beyond any client's
parsing cost; its msg/s is the recording's frame count over the time to receive all its bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
from multiprocessing.connection import Connection as PipeEnd
from typing import Any

from ..feed import run
from .venues import MARKETS


def _server(market: str, conn: PipeEnd) -> None:
    """The simulator process: serve ``market`` at max speed, send (url, lines, bytes) on
    ``conn``, then rewind on each "rewind" until anything else arrives."""
    from .server import Simulator

    async def main() -> None:
        async with Simulator(
            market, speed="max", ping_interval=0, rate_limit=0, routing=False
        ) as sim:
            nbytes = len(sim.warm().blob)
            conn.send((sim.stream_url(), len(sim.recording), nbytes))
            loop = asyncio.get_running_loop()
            while True:
                cmd = await loop.run_in_executor(None, conn.recv)
                if cmd == "rewind":
                    await sim.rewind()
                    conn.send("ok")
                else:
                    return

    run(main())


async def _count_bytes(url: str, total: int, nbytes: int) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    host_port, path = url[len("ws://") :].split("/", 1)
    host, port = host_port.split(":")
    done: asyncio.Future[float] = loop.create_future()

    class ByteCounter(asyncio.Protocol):
        def __init__(self) -> None:
            self.n = -1  # -1 until the 101 response header is through

        def data_received(self, data: bytes) -> None:
            if self.n < 0:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    return
                data = data[end + 4 :]
                self.n = 0
            self.n += len(data)
            if self.n >= nbytes and not done.done():
                done.set_result(time.perf_counter())

    t0 = time.perf_counter()
    transport, _ = await loop.create_connection(ByteCounter, host, int(port))
    transport.write(
        (
            f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    end = await asyncio.wait_for(done, 60)
    transport.close()
    return end - t0, total


async def _count(url: str, total: int, clients: int) -> tuple[float, int]:
    import picows

    loop = asyncio.get_running_loop()
    dones: list[asyncio.Future[float]] = []

    class FrameCounter(picows.WSListener):
        def __init__(self, fut: asyncio.Future[float]) -> None:
            self.n = 0
            self.fut = fut

        def on_ws_frame(self, transport: Any, frame: Any) -> None:  # noqa: ARG002 - picows' signature
            if frame.msg_type == picows.WSMsgType.TEXT:
                self.n += 1
                if self.n == total and not self.fut.done():
                    self.fut.set_result(time.perf_counter())

    transports = []
    t0 = time.perf_counter()
    for _ in range(clients):
        fut: asyncio.Future[float] = loop.create_future()
        dones.append(fut)
        tr, _ = await picows.ws_connect(lambda f=fut: FrameCounter(f), url)
        transports.append(tr)
    ends = await asyncio.wait_for(asyncio.gather(*dones), 60)
    for tr in transports:
        tr.disconnect()
    return max(ends) - t0, total * clients


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--market", default=next(iter(MARKETS)), choices=sorted(MARKETS))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--reader", choices=("picows", "bytes"), default="picows")
    args = ap.parse_args(argv)
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_server, args=(args.market, child), daemon=True)
    proc.start()
    url, total, nbytes = parent.recv()
    rates = []
    for k in range(args.runs):
        if args.reader == "bytes":
            secs, msgs = run(_count_bytes(url, total, nbytes))
        else:
            secs, msgs = run(_count(url, total, 1))
        rates.append(msgs / secs)
        print(f"run {k + 1}: {msgs} msgs in {secs * 1000:.1f} ms = {msgs / secs:,.0f} msg/s")  # noqa: T201 - the report
        parent.send("rewind")
        parent.recv()
    parent.send("stop")
    proc.join(5)
    print(  # noqa: T201 - the report
        f"median {statistics.median(rates):,.0f} msg/s, best {max(rates):,.0f} msg/s "
        f"({args.market}, {args.reader} reader, {total} msgs per run)"
    )


if __name__ == "__main__":
    main()
