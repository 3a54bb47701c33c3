"""The Redis Streams bus, side by side in one run (pytest-benchmark): tickwire's publisher
(msgpack arrays, pipelined ``XADD MAXLEN ~``) against a JSON-object publisher doing the same
pipelined ``XADD`` — the encoding alone and end to end into a real Redis server.

Every round publishes the trades and BBOs of the packaged Binance ETH/USDT recording (decoded
once, outside the timing). ``extra_info["events_per_s"]`` is events / median seconds; each
group's table gives the ratio. Needs the ``redis`` extra
and ``redis-server`` (skipped without them).

Run: ``pytest benches/test_bench_bus.py --benchmark-only``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import tickwire as tw
from tickwire.bus import FIELDS, encode_event, kind_of
from tickwire.replay import replay

msgpack = pytest.importorskip("msgpack")
redis_asyncio = pytest.importorskip("redis.asyncio")
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from redis_server import RedisServer  # noqa: E402 - the tests' real-server helper

SPOT = Path(tw.__file__).parent / "data" / "binance" / "ethusdt_20240808.jsonl.gz"


def _events() -> list[Any]:
    return [e for e in replay(str(SPOT), "binance") if kind_of(e) in ("trade", "bbo")]


def json_entry(event: Any) -> tuple[str, bytes]:
    """The baseline: a JSON object with every field named (decimals as strings)."""
    kind = str(kind_of(event))
    data: dict[str, Any] = {"v": 1}
    for name in FIELDS[kind]:
        if name.endswith("!"):
            d = event.decimal(name[:-1])
            data[name[:-1]] = None if d is None else str(d)
        else:
            data[name] = getattr(event, name)
    return f"tw:{event.exchange}:{event.symbol}:{kind}", json.dumps(data).encode()


def msgpack_entry(event: Any) -> tuple[str, bytes]:
    """tickwire's entry (every event here is of a kind the bus carries)."""
    item = encode_event(event)
    assert item is not None
    return item


ENCODERS = {"msgpack": msgpack_entry, "json": json_entry}


@pytest.fixture(scope="module")
def events() -> list[Any]:
    return _events()


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_encode(benchmark, events, encoding):
    encode = ENCODERS[encoding]
    benchmark.group = "bus encode"
    benchmark.pedantic(lambda: [encode(e) for e in events], rounds=5, iterations=1)
    benchmark.extra_info["events_per_s"] = len(events) / benchmark.stats.stats.median
    benchmark.extra_info["bytes_per_event"] = sum(len(encode(e)[1]) for e in events) / len(events)


@pytest.fixture(scope="module")
def server():
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    s = RedisServer(binary)
    s.start()
    yield s
    s.stop()


async def _publish(url: str, events: list[Any], encoding: str, batch: int = 512) -> float:
    encode = ENCODERS[encoding]
    r = redis_asyncio.from_url(url)
    await r.flushdb()
    t0 = time.perf_counter()
    for i in range(0, len(events), batch):
        pipe = r.pipeline(transaction=False)
        for ev in events[i : i + batch]:
            stream, entry = encode(ev)
            pipe.xadd(stream, {"e": entry}, maxlen=100_000, approximate=True)
        await pipe.execute()
    took = time.perf_counter() - t0
    await r.aclose()
    return took


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_publish(benchmark, server, events, encoding):
    """Both publishers into one real Redis (same server, same run): the group's table gives
    the ratio."""
    benchmark.group = "bus publish into Redis"
    benchmark.pedantic(
        lambda: asyncio.run(_publish(server.url, events, encoding)), rounds=5, iterations=1
    )
    benchmark.extra_info["events_per_s"] = len(events) / benchmark.stats.stats.median
