"""Metrics, ``/status``, ``tickwire status`` and alerts (``tickwire.monitoring``), against the
local simulator over real loopback WebSockets, a real Redis server for the sink, and the real
HTTP server scraped over HTTP.

Every expected number is derived in the test: from the feed's own ``stats()``, from what the
test's callbacks counted, or from the packaged recording the simulator replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

import tickwire._core as core
from cli_helpers import Running, run_cli
from redis_server import RedisServer, redis_binary
from tickwire.connection import ConnectionOptions
from tickwire.events import GapDetected, Resynced
from tickwire.feed import Feed
from tickwire.lag import LatencySampler
from tickwire.metrics import Histogram
from tickwire.monitoring import (
    Alert,
    Alerts,
    MetricsServer,
    fetch_status,
    status_tables,
)
from tickwire.simulator import CloseAfter, Drop, Simulator, packaged_recording

pytestmark = pytest.mark.e2e

FAST = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2, first_delta_wait=0.2)
DEPTH = "ethusdt@depth@100ms"


async def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET /metrics over HTTP, parsed by prometheus_client's own parser:
    ``{(sample name, sorted labels): value}``."""
    async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def until(cond: Any, timeout: float = 30.0) -> None:
    """Poll ``cond()`` until true (bounded; the machine may be loaded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- scrape a real feed ------------------------------------------------------------------------
def test_scrape_agrees_with_the_feed_and_the_recording():
    rec = packaged_recording("binance")

    async def scenario():
        counts: dict[str, int] = {"trade": 0, "bbo": 0, "book": 0}
        timed = [0]  # the sampled events (every 64th of a kind) that carry an exchange time

        def on(kind):
            def cb(ev):
                counts[kind] += 1
                if counts[kind] % 64 == 0 and ev.exchange_ts is not None:
                    timed[0] += 1

            return cb

        async with Simulator("binance", speed="max") as sim:
            feed = Feed(
                "binance",
                "ETH/USDT",
                ["book", "trades", "bbo"],
                base_url=sim.rest_url,
                on_trade=on("trade"),
                on_bbo=on("bbo"),
                on_book=on("book"),
            )
            server = MetricsServer(0, feed)  # before start: every event is counted
            async with server, feed:
                await sim.wait_finished(60)
                await until(lambda: feed.stats()["frames"] > len(rec.lines))
                got = await scrape(server)
                st = feed.stats()
                (conn,) = feed.connections
                dec = conn.decoder_stats()
                async with aiohttp.ClientSession() as http:
                    async with http.get(server.url + "/status") as r:
                        status = await r.json()
                    async with http.get(server.url + "/nothing") as r:
                        assert r.status == 404
        return rec, counts, timed[0], got, st, conn.name, dec, status, sampler_counts(feed)

    rec, counts, timed, got, st, name, dec, status, by_kind = asyncio.run(scenario())
    lab = {"exchange": "binance", "connection": name}
    # the recording's every line arrived, plus the subscribe acks: the frames counter is
    # the feed's own count, the bytes those of the recording's lines plus the acks'
    frames = value(got, "tickwire_frames_total", **lab)
    assert frames == st["frames"] == len(rec.lines) + dec["control_frames"]
    extra = value(got, "tickwire_received_bytes_total", **lab) - sum(map(len, rec.lines))
    assert 0 < extra < 100 * dec["control_frames"]
    # events by kind: exactly what the callbacks saw
    for kind, n in counts.items():
        assert n > 0
        assert value(got, "tickwire_events_total", exchange="binance", kind=kind) == n
    assert value(got, "tickwire_events_total", exchange="binance", kind="connected") == 1
    # the histograms hold one event in 64 of each market kind
    sampled = sum(n // 64 for n in counts.values())
    assert sampled == sum(n // 64 for t, n in by_kind.items() if t in MARKET_TYPES)
    assert 0 < timed < sampled  # Binance's bookTicker has no event time
    for h, n in (("callback_latency", sampled), ("exchange_latency", timed)):
        count = value(got, f"tickwire_{h}_seconds_count", exchange="binance")
        assert count == n
        inf = value(got, f"tickwire_{h}_seconds_bucket", exchange="binance", le="+Inf")
        assert inf == count
    assert value(got, "tickwire_connected", **lab) == 1
    for metric, key in (("reconnects", "reconnects"), ("gaps", "gaps"), ("resyncs", "resyncs")):
        assert value(got, f"tickwire_{metric}_total", **lab) == st[key] == 0
    assert value(got, "tickwire_consumer_queue_depth", exchange="binance", consumer="feed") == 0
    # /status: the same connection, the feed's streams as topics
    (c,) = status["connections"]
    assert c["connection"] == name and c["connected"] is True
    assert c["stats"]["frames"] == frames
    assert sorted((t["symbol"], t["channel"]) for t in status["topics"]) == sorted(
        ("ETH/USDT", ch) for ch in ("book", "trades", "bbo")
    )
    assert status["consumers"][0]["delivered"] == sum(by_kind.values())


MARKET_TYPES = {core.Trade, core.BBO, core.BookUpdate, core.Candle}


def sampler_counts(feed: Feed) -> dict[type, int]:
    sampler = feed._lag.sampler
    assert sampler is not None
    return dict(sampler.counts)


def test_a_gap_from_the_simulator_shows_in_the_gap_counter():
    async def scenario():
        events: list[Any] = []
        # one depth message dropped well after the book's first snapshot: a real sequence gap
        drop = Drop(stream=DEPTH, skip=1000)
        async with Simulator("binance", speed="max", faults=[drop]) as sim:
            feed = Feed(
                "binance",
                "ETH/USDT",
                ["book"],
                base_url=sim.rest_url,
                on_event=events.append,
                connection_options=FAST,
            )
            server = MetricsServer(0, feed)
            async with server, feed:
                await sim.wait_finished(60)
                await until(lambda: any(isinstance(e, Resynced) for e in events))
                got = await scrape(server)
                st = feed.stats()
                name = feed.connections[0].name
        return events, got, st, name

    events, got, st, name = asyncio.run(scenario())
    lab = {"exchange": "binance", "connection": name}
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert len(gaps) == 1 and gaps[0].reason == "gap"  # the one dropped depth message
    assert value(got, "tickwire_gaps_total", **lab) == st["gaps"] == len(gaps)
    resynced = [e for e in events if isinstance(e, Resynced) and e.reason == "gap"]
    assert value(got, "tickwire_resyncs_total", **lab) == st["resyncs"]
    assert st["resyncs"] >= len(resynced) == 1
    assert value(got, "tickwire_events_total", exchange="binance", kind="gap_detected") == 1


# --- alerts from real conditions ---------------------------------------------------------------
def test_reconnect_storm_alert_fires_once_per_episode():
    async def scenario():
        fired: list[Alert] = []
        # every connection the simulator opens closes after 400 messages: a reconnect storm
        async with Simulator("binance", speed="max", faults=[CloseAfter(400)]) as sim:
            feed = Feed(
                "binance", "ETH/USDT", ["trades"], base_url=sim.rest_url, connection_options=FAST
            )
            alerts = Alerts(feed, on_alert=fired.append, reconnects_per_min=3, interval=0.05)
            server = MetricsServer(0, feed, alerts)
            async with server, feed, alerts:
                await until(lambda: feed.stats()["reconnects"] >= 6)
                await asyncio.sleep(0.2)  # more checks while the storm goes on
                got = await scrape(server)
                st = feed.stats()
                active = dict(alerts.active)
        return fired, got, st, active

    fired, got, st, active = asyncio.run(scenario())
    storms = [a for a in fired if a.kind == "reconnect_storm"]
    assert len(storms) == 1  # once per episode, though the reconnects went on
    (alert,) = storms
    assert alert.subject == "binance" and alert.threshold == 3
    assert 3 <= alert.value <= st["reconnects"]
    assert ("reconnect_storm", "binance") in active
    name = "binance/stream#0"
    assert (
        value(got, "tickwire_reconnects_total", exchange="binance", connection=name)
        == (st["reconnects"])
    )
    assert value(got, "tickwire_alert_active", kind="reconnect_storm", subject="binance") == 1
    assert value(got, "tickwire_alerts_total", kind="reconnect_storm") == 1


def test_stale_alert_on_a_paused_simulator_and_again_after_recovery():
    async def scenario():
        fired: list[Alert] = []
        async with Simulator("binance", speed=10) as sim:
            feed = Feed("binance", "ETH/USDT", ["trades", "bbo"], base_url=sim.rest_url)
            alerts = Alerts(feed, on_alert=fired.append, stale_after=0.4, interval=0.05)
            async with feed, alerts:
                await asyncio.sleep(0.3)
                assert not fired  # frames flow: nothing is stale
                sim.pause()
                await until(lambda: len(fired) == 1)
                frames_at_alert = feed.stats()["frames"]
                episode_1 = dict(alerts.active)
                sim.resume()
                await until(lambda: not alerts.active)  # frames again: the episode ended
                assert feed.stats()["frames"] > frames_at_alert
                sim.pause()
                await until(lambda: len(fired) == 2)
                name = feed.connections[0].name
        return fired, episode_1, name

    fired, episode_1, name = asyncio.run(scenario())
    assert [(a.kind, a.subject) for a in fired] == [("stale", name)] * 2
    assert all(a.value >= a.threshold == 0.4 for a in fired)
    assert list(episode_1) == [("stale", name)]


def test_sink_backlog_alert_when_its_server_stops():
    binary = redis_binary()
    from tickwire.sinks.redis import RedisSink

    redis = RedisServer(binary)
    redis.start()

    async def scenario():
        fired: list[Alert] = []
        sink = RedisSink(redis.url, retry_delay=0.05)
        async with Simulator("binance", speed=20) as sim:
            feed = Feed(
                "binance", "ETH/USDT", ["trades", "bbo"], base_url=sim.rest_url, on_event=sink.write
            )
            alerts = Alerts(sink, on_alert=fired.append, sink_backlog=300, interval=0.05)
            server = MetricsServer(0, feed, sink)
            await sink.start()
            try:
                async with server, feed, alerts:
                    await until(lambda: sink.stats()["published"] > 100)
                    assert not fired  # Redis keeps up
                    redis.stop()  # the sink's server is gone: the backlog grows
                    await until(lambda: len(fired) == 1)
                    backlog_at_alert = fired[0].value
                    got = await scrape(server)
                    st = sink.stats()
                    redis.start()  # back: the backlog drains, the episode ends
                    await until(lambda: not alerts.active)
            finally:
                await sink.close()
        return fired, backlog_at_alert, got, st

    try:
        fired, backlog_at_alert, got, st = asyncio.run(scenario())
    finally:
        redis.stop()
    (alert,) = fired
    assert (alert.kind, alert.subject, alert.threshold) == ("sink_backlog", "redis", 300)
    assert backlog_at_alert > 300
    assert value(got, "tickwire_sink_backlog", sink="redis") >= backlog_at_alert
    assert value(got, "tickwire_sink_written_total", sink="redis") == st["published"]


# --- the CLI -----------------------------------------------------------------------------------
def test_stream_metrics_port_and_tickwire_status():
    with contextlib.ExitStack() as stack:
        from tickwire.simulator import ThreadedSimulator

        sim = stack.enter_context(ThreadedSimulator("binance", speed=5))
        cmd = Running(
            "stream",
            "binance",
            "ETH/USDT",
            "-c",
            "trades,bbo",
            "--base-url",
            sim.rest_url,
            "--metrics-port",
            "0",
        )
        stack.callback(cmd.interrupt)
        url = metrics_url(cmd)  # stdout is read all along: the command never blocks on it
        doc = wait_for_frames(url)
        # plain columns (stdout is a pipe), from the running command's /status
        plain = run_cli("status", url)
        assert plain.returncode == 0, plain.stderr
        metrics = asyncio.run(get_text(url + "/metrics"))
    (conn,) = doc["connections"]
    lines = plain.stdout.splitlines()
    assert lines[0] == "Connections (1)"
    row = lines[2].split()
    assert row[:4] == ["binance", conn["connection"], "up", "2"]
    assert int(row[4]) >= conn["stats"]["frames"] > 0  # frames: read while the stream runs
    assert "Topics (2)" in lines
    assert f'connection="{conn["connection"]}"' in metrics
    assert "tickwire_events_total" in metrics


def metrics_url(cmd: Running) -> str:
    """The URL the command printed on stderr."""
    pattern = re.compile(r"metrics: (http://\S+)/metrics")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in list(cmd.stderr):
            m = pattern.search(line)
            if m:
                return m.group(1)
        assert cmd.proc.poll() is None, cmd.output()
        time.sleep(0.05)
    raise AssertionError(f"no metrics URL on stderr: {cmd.output()}")


def wait_for_frames(url: str) -> dict[str, Any]:
    """``tickwire status URL --json`` until the stream has counted frames."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        proc = run_cli("status", url, "--json")
        assert proc.returncode == 0, proc.stderr
        doc: dict[str, Any] = json.loads(proc.stdout)
        if doc["connections"] and doc["connections"][0]["stats"]["frames"] > 0:
            return doc
        time.sleep(0.1)
    raise AssertionError("the stream counted no frame")


async def get_text(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return await r.text()


def test_status_of_an_unreachable_server_is_one_error_line():
    from redis_server import free_port

    proc = run_cli("status", f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: http://127.0.0.1:")


# --- building blocks ---------------------------------------------------------------------------
def test_histogram_buckets_are_cumulative_and_inclusive():
    h = Histogram([10, 100])
    for ns in (-5, 10, 11, 100, 101, 5000):
        h.add(ns)
    assert h.cumulative() == [(10, 2), (100, 4), (None, 6)]
    assert (h.count, h.sum_ns) == (6, -5 + 10 + 11 + 100 + 101 + 5000)


def test_sampler_counts_every_event_and_samples_one_in_every():
    s = LatencySampler(every=4)
    seen: list[Any] = []
    deliver = s.wrap(seen.append)
    events = [GapDetected("x", "S", 1, 3, 1)] * 5
    for ev in events:
        deliver(ev)
    assert seen == events  # delivered as they came
    assert s.kinds() == {"gap_detected": 5}
    assert s.callback.count == 0  # health events carry no exchange time: never sampled
    with pytest.raises(ValueError, match="power of two"):
        LatencySampler(every=3)


def test_status_tables_from_a_pool_shaped_document():
    doc = {
        "connections": [],
        "topics": [{"exchange": "binance", "symbol": "ETH/USDT", "channel": "bbo", "refcount": 2}],
        "consumers": [
            {
                "consumer": "strategy-a",
                "exchange": "binance",
                "queue_depth": 3,
                "queue_size": 10,
                "dropped": 7,
                "lag_ns": 2_500_000,
                "policy": "drop_oldest",
            }
        ],
        "sinks": [],
        "alerts": [],
    }
    tables = {title: rows for title, _, rows in status_tables(doc)}
    assert tables["Consumers"] == [["binance", "strategy-a", "3/10", "7", "2.5", "drop_oldest", ""]]
    assert tables["Topics"] == [["binance", "ETH/USDT", "bbo", "2"]]
    assert "Sinks" not in tables


def test_fetch_status_refuses_what_is_no_status_server():
    async def scenario():
        async with Simulator("binance") as sim:  # an HTTP server that is not ours
            with pytest.raises(ValueError, match=r"HTTP 404|not a tickwire status"):
                await fetch_status(sim.rest_url)
        with pytest.raises(ValueError, match="http://"):
            await fetch_status("ftp://127.0.0.1:1")

    asyncio.run(scenario())


def test_server_rejects_what_is_no_source():
    with pytest.raises(TypeError, match="not a metrics source"):
        MetricsServer(0, object())
    with pytest.raises(ValueError, match="port"):
        MetricsServer(70000)
    with pytest.raises(ValueError, match="stale_after"):
        Alerts(on_alert=print, stale_after=0)
