"""The Redis Streams bus: the entry layout (exact round trip on real recordings), the sink
publishing a live Feed's events through the simulator to a real Redis server, consumer groups
with acks and resume after a restart, and an outage of the server.

Every expected count comes from the recording or from the events the Feed delivered in the same
test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tickwire as tw
from redis_server import RedisServer, redis_binary
from tickwire.bus import FIELDS, decode_entry, encode_event, kind_of, subscribe
from tickwire.feed import Feed
from tickwire.replay import replay
from tickwire.simulator import Simulator
from venue_helpers import replay_through_feed

msgpack = pytest.importorskip("msgpack")
redis_asyncio = pytest.importorskip("redis.asyncio")

DATA = Path(tw.__file__).parent / "data"
SPOT = DATA / "binance" / "ethusdt_20240808.jsonl.gz"
SYMBOL = "ETH/USDT"


def _fields(event: Any) -> dict[str, Any]:
    """What the bus must carry for ``event``, read from the event itself."""
    out = {}
    for name in FIELDS[kind_of(event) or ""]:
        if name.endswith("!"):
            out[name[:-1]] = event.decimal(name[:-1])
        else:
            out[name] = getattr(event, name)
    return out


def test_entries_round_trip_every_recorded_trade_and_bbo_exactly():
    events = [e for e in replay(str(SPOT), "binance") if kind_of(e) in ("trade", "bbo")]
    kinds = {kind_of(e) for e in events}
    assert kinds == {"trade", "bbo"}
    for ev in events:
        item = encode_event(ev, "tw")
        assert item is not None
        stream, entry = item
        kind = kind_of(ev)
        assert stream == f"tw:binance:{SYMBOL}:{kind}"
        assert decode_entry(str(kind), entry) == _fields(ev)


def test_entries_refuse_another_layout_version_and_unknown_kinds():
    ev = next(e for e in replay(str(SPOT), "binance") if kind_of(e) == "trade")
    item = encode_event(ev)
    assert item is not None
    values = msgpack.unpackb(item[1])
    with pytest.raises(ValueError, match="layout 99"):
        decode_entry("trade", msgpack.packb([99, *values[1:]]))
    with pytest.raises(ValueError, match="unknown bus kind 'book'"):
        decode_entry("book", item[1])
    with pytest.raises(ValueError, match="has 6 fields, expected 7"):
        decode_entry("trade", msgpack.packb(values[:1] + values[2:]))


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(redis_binary())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _publish_replay(url: str, **sink_kwargs: Any) -> tuple[list[Any], dict[str, float]]:
    """Replay the packaged ETH/USDT recording through a Feed (trades and BBO) into a RedisSink;
    returns the events the Feed delivered that the bus carries, and the sink's stats."""
    from tickwire.sinks.redis import RedisSink

    delivered: list[Any] = []
    async with (
        RedisSink(url, **sink_kwargs) as sink,
        Simulator("binance", speed="max", autostart=False) as sim,
    ):

        def on_event(ev: Any) -> None:
            if kind_of(ev) is not None:
                delivered.append(ev)
            sink.write(ev)

        feed = Feed(
            "binance", [SYMBOL], ["trades", "bbo"], base_url=sim.rest_url, on_event=on_event
        )
        await replay_through_feed(sim, feed)
        await feed.close()
        await sink.flush()
        stats = sink.stats()
    return delivered, stats


@pytest.mark.e2e
def test_a_live_feed_is_published_whole_and_read_back_by_a_consumer_group(run, redis_server):
    async def go() -> tuple[list[Any], dict[str, float], list[Any], dict[str, int]]:
        delivered, stats = await _publish_replay(redis_server.url)
        streams = [f"tw:binance:{SYMBOL}:trade", f"tw:binance:{SYMBOL}:bbo"]
        r = redis_asyncio.from_url(redis_server.url)
        lengths = {s: await r.xlen(s) for s in streams}
        await r.aclose()
        got = []
        async with subscribe(redis_server.url, streams, group="g", consumer="c1") as bus:
            while len(got) < len(delivered):
                msg = await bus.__anext__()
                got.append(msg)
                await bus.ack(msg)
        return delivered, stats, got, lengths

    delivered, stats, got, lengths = run(go())
    recorded_trades = sum(1 for e in replay(str(SPOT), "binance") if kind_of(e) == "trade")
    trades = [e for e in delivered if kind_of(e) == "trade"]
    assert len(trades) == recorded_trades  # the feed delivered every recorded trade...
    assert stats["published"] == len(delivered) and stats["dropped"] == 0  # ...all published
    assert lengths == {
        f"tw:binance:{SYMBOL}:{k}": sum(kind_of(e) == k for e in delivered)
        for k in ("trade", "bbo")
    }
    for kind in ("trade", "bbo"):  # per stream, in order, every field exact
        sent = [_fields(e) for e in delivered if kind_of(e) == kind]
        read = [m.data for m in got if m.kind == kind]
        assert read == sent
    assert {(m.exchange, m.symbol) for m in got} == {("binance", SYMBOL)}


@pytest.mark.e2e
def test_a_restarted_consumer_resumes_after_its_last_ack_nothing_lost_nothing_twice(
    run, redis_server
):
    async def go() -> tuple[int, list[str], list[str], list[str]]:
        delivered, _ = await _publish_replay(redis_server.url)
        stream = f"tw:binance:{SYMBOL}:trade"
        n = sum(kind_of(e) == "trade" for e in delivered)
        first: list[str] = []
        async with subscribe(redis_server.url, [stream], group="g", consumer="c1", count=7) as bus:
            for _ in range(n // 2):  # handled and acknowledged
                msg = await bus.__anext__()
                await bus.ack(msg)
                first.append(msg.id)
            for _ in range(5):  # handed out, then the consumer "crashes" before acking
                await bus.__anext__()
        again: list[str] = []
        async with subscribe(redis_server.url, [stream], group="g", consumer="c1", count=7) as bus:
            while len(first) + len(again) < n:
                msg = await bus.__anext__()
                again.append(msg.id)
                await bus.ack(msg)
        r = redis_asyncio.from_url(redis_server.url)
        all_ids = [i.decode() for i, _ in await r.xrange(stream)]
        pending = await r.xpending(stream, "g")
        await r.aclose()
        return pending["pending"], first, again, all_ids

    pending, first, again, all_ids = run(go())
    assert first + again == all_ids  # every entry once, in order: the 5 unacked came again
    assert not set(first) & set(again)
    assert pending == 0


@pytest.mark.e2e
def test_an_outage_of_redis_keeps_the_events_and_sends_them_when_it_is_back(run, redis_server):
    from tickwire.sinks.redis import RedisSink

    events = [e for e in replay(str(SPOT), "binance") if kind_of(e) == "trade"]

    async def go() -> tuple[dict[str, float], int, int]:
        redis_server.stop()
        async with RedisSink(redis_server.url, retry_delay=0.05) as sink:
            for ev in events:
                sink.write(ev)
            await asyncio.sleep(0.3)  # the sender tries and fails meanwhile
            down = sink.stats()
            redis_server.start()
            await sink.flush(timeout=20)
            stats = sink.stats()
        r = redis_asyncio.from_url(redis_server.url)
        length = await r.xlen(f"tw:binance:{SYMBOL}:trade")
        await r.aclose()
        return stats, int(down["errors"]), length

    stats, errors_while_down, length = run(go())
    assert errors_while_down >= 1
    assert length == len(events) == stats["published"]
    assert stats["dropped"] == 0 and stats["backlog"] == 0


def test_the_buffer_is_bounded_and_counts_what_it_drops(run):
    from tickwire.sinks.redis import RedisSink

    events = [e for e in replay(str(SPOT), "binance") if kind_of(e) == "trade"][:50]

    async def go() -> dict[str, float]:
        sink = RedisSink("redis://127.0.0.1:1/0", max_buffered=10)  # nothing listens on port 1
        for ev in events:
            sink.write(ev)
        return sink.stats()

    stats = run(go())
    assert (stats["backlog"], stats["dropped"]) == (10, len(events) - 10)


def test_bad_arguments_name_the_value():
    from tickwire.sinks.redis import RedisSink

    with pytest.raises(ValueError, match="maxlen must be >= 1, got 0"):
        RedisSink("redis://x", maxlen=0)
    with pytest.raises(ValueError, match="streams must name at least one"):
        subscribe("redis://x", [], group="g", consumer="c")


@pytest.mark.e2e
def test_stream_sink_publishes_what_it_printed(redis_server):
    """``tickwire stream ... --sink redis://...`` against the simulator: every trade it printed
    is on the bus, in order, with the printed price."""
    import json

    from cli_helpers import run_cli
    from tickwire.simulator import ThreadedSimulator

    with ThreadedSimulator("binance", speed=20.0) as sim:
        proc = run_cli(
            "stream", "binance", SYMBOL, "--channels", "trades", "--base-url", sim.rest_url,
            "--limit", "300", "--sink", redis_server.url,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines()]
    printed_ids = [e["trade_id"] for e in printed if e["type"] == "trade"]
    assert len(printed_ids) == 300

    async def read() -> list[Any]:
        r = redis_asyncio.from_url(redis_server.url)
        entries = await r.xrange(f"tw:binance:{SYMBOL}:trade")
        await r.aclose()
        return [decode_entry("trade", fields[b"e"]) for _, fields in entries]

    on_bus = asyncio.run(read())
    assert [e["trade_id"] for e in on_bus][: len(printed_ids)] == printed_ids
