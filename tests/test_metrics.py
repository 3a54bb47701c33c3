"""Metrics, ``/status``, ``tickwire status`` and alerts (``tickwire.monitoring``), against the
local simulator over real loopback WebSockets, a real Redis server for the sink, and the real
HTTP server scraped over HTTP.

Every expected number is derived in the test: from the feed's own ``stats()``, from what the
test's callbacks counted, or from the packaged recording the simulator replays.
"""

from __future__ import annotations

import asyncio
import collections
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
from private_helpers import KEY, SECRET, KeyedSpot, KeyedVenue, wait_for
from redis_server import RedisServer, redis_binary
from tickwire.connection import ConnectionOptions
from tickwire.events import Connected, GapDetected, Resynced
from tickwire.feed import Feed
from tickwire.lag import LatencySampler
from tickwire.metrics import Histogram
from tickwire.monitoring import (
    Alert,
    Alerts,
    MetricsServer,
    feed_connections,
    fetch_status,
    render_status,
    status_tables,
)
from tickwire.simulator import BadChecksum, CloseAfter, Drop, Simulator, packaged_recording

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


async def settled(feed: Feed) -> None:
    """Until the feed's frame counter stood still for 0.3 s (the replay's tail delivered)."""
    last = -1
    while feed.stats()["frames"] != last:
        last = feed.stats()["frames"]
        await asyncio.sleep(0.3)


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


def test_a_corrupted_checksum_shows_in_the_checksum_failure_counter():
    async def scenario():
        events: list[Any] = []
        fault = BadChecksum(stream="books:BTC-USDT", skip=30)  # OKX: one book frame corrupted
        async with Simulator("okx", speed=10.0, faults=[fault]) as sim:
            feed = Feed(
                "okx",
                "BTC/USDT",
                ["book"],
                base_url=sim.rest_url,
                on_event=events.append,
                connection_options=FAST,
            )
            server = MetricsServer(0, feed)
            async with server, feed:
                await until(lambda: any(isinstance(e, Resynced) for e in events))
                got = await scrape(server)
                st = feed.stats()
                name = feed.connections[0].name
        return events, got, st, name

    events, got, st, name = asyncio.run(scenario())
    lab = {"exchange": "okx", "connection": name}
    gaps = [e.reason for e in events if isinstance(e, GapDetected)]
    assert gaps == ["checksum"]
    assert value(got, "tickwire_checksum_failures_total", **lab) == st["checksum_mismatches"] == 1
    assert value(got, "tickwire_gaps_total", **lab) == 1
    assert value(got, "tickwire_events_total", exchange="okx", kind="resynced") == 1


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
            alerts = Alerts(sink, on_alert=fired.append, sink_backlog=1000, interval=0.05)
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
    assert (alert.kind, alert.subject, alert.threshold) == ("sink_backlog", "redis", 1000)
    assert backlog_at_alert > 1000
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


# --- the README -------------------------------------------------------------------------------
def test_readme_metrics_snippet_runs_against_the_simulator(monkeypatch):
    """The README's "Metrics and alerts" block, executed as written but for three names: the
    Feed gets the simulator's URL and ends its iteration after 2,000 events, and the server
    binds a free port instead of 9108 (kept to be scraped here)."""
    from pathlib import Path

    import tickwire as tw
    import tickwire.monitoring as mon

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Metrics and alerts\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    servers: list[MetricsServer] = []
    scraped: list[str] = []

    class Server(MetricsServer):
        def __init__(self, port: int, *sources: object) -> None:
            assert port == 9108
            super().__init__(0, *sources)
            servers.append(self)

    with contextlib.ExitStack() as stack:
        from tickwire.simulator import ThreadedSimulator

        sim = stack.enter_context(ThreadedSimulator("binance", speed="max"))

        class FeedAtSimulator(tw.Feed):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, base_url=sim.rest_url, **kwargs)
                self.seen = 0

            async def __anext__(self) -> Any:
                self.seen += 1
                if self.seen > 2000:
                    scraped.append(servers[0].render().decode())
                    raise StopAsyncIteration
                return await super().__anext__()

        monkeypatch.setattr(tw, "Feed", FeedAtSimulator)
        monkeypatch.setattr(mon, "MetricsServer", Server)
        exec(compile(code.group(1), "README.md", "exec"), {"__name__": "readme"})  # noqa: S102

    (text,) = scraped
    samples = {
        (s.name, s.labels.get("kind")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    delivered = sum(v for (name, _), v in samples.items() if name == "tickwire_events_total")
    assert delivered >= 2000  # every event the loop took was counted (and more may be queued)
    assert samples[("tickwire_frames_total", None)] > 0


# --- a pool as a source -----------------------------------------------------------------------
class PoolShaped:
    """What ``MetricsServer`` reads from a pool (``status()`` and ``feeds``; see
    ``tickwire.monitoring``), over one real feed fanned out to two bounded consumer queues:
    ``fast`` keeps up, ``slow`` is never read and drops its oldest events."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.queues: dict[str, Any] = {
            "fast": collections.deque(),
            "slow": collections.deque(maxlen=50),
        }
        self.dropped = {"fast": 0, "slow": 0}
        self.delivered = {"fast": 0, "slow": 0}

    @property
    def feeds(self) -> list[Feed]:
        return [self.feed]

    def fan_out(self, ev: Any) -> None:
        for name, q in self.queues.items():
            if len(q) == q.maxlen:
                self.dropped[name] += 1
            q.append(ev)
            self.delivered[name] += 1
        self.queues["fast"].clear()  # the fast consumer reads everything at once

    def status(self) -> dict[str, Any]:
        return {
            "connections": feed_connections(self.feed),
            "topics": [
                {"exchange": "binance", "symbol": s.symbol, "channel": s.channel, "refcount": 2}
                for s in self.feed.subscriptions
            ],
            "consumers": [
                {
                    "consumer": name,
                    "exchange": "binance",
                    "queue_depth": len(q),
                    "queue_size": q.maxlen or 0,
                    "dropped": self.dropped[name],
                    "lag_ns": 0,
                    "policy": "drop_oldest",
                    "delivered": self.delivered[name],
                }
                for name, q in self.queues.items()
            ],
        }


def test_a_pool_shaped_source_reports_its_consumers_and_topics():
    async def scenario():
        async with Simulator("binance", speed="max") as sim:
            pool: PoolShaped
            feed = Feed(
                "binance",
                "ETH/USDT",
                ["trades", "bbo"],
                base_url=sim.rest_url,
                on_event=lambda ev: pool.fan_out(ev),  # noqa: PLW0108 - pool is made next
            )
            pool = PoolShaped(feed)
            server = MetricsServer(0, pool)
            async with server, feed:
                await scrape(server)  # the pool's feed gets its sampler here
                await sim.wait_finished(60)
                await settled(feed)
                got = await scrape(server)
                status = server.status()
                st = feed.stats()
                name = feed.connections[0].name
        return pool, got, status, st, name

    pool, got, status, st, name = asyncio.run(scenario())
    for consumer in ("fast", "slow"):
        lab = {"exchange": "binance", "consumer": consumer}
        assert value(got, "tickwire_consumer_dropped_total", **lab) == pool.dropped[consumer]
        assert value(got, "tickwire_consumer_delivered_total", **lab) == pool.delivered[consumer]
    assert pool.dropped["slow"] == pool.delivered["slow"] - 50 > 0
    assert value(got, "tickwire_consumer_queue_depth", exchange="binance", consumer="slow") == 50
    for ch in ("trades", "bbo"):
        lab = {"exchange": "binance", "symbol": "ETH/USDT", "channel": ch}
        assert value(got, "tickwire_topic_refcount", **lab) == 2
    # the pool's feed is read once (no "feed" consumer of its own), its counters as a feed's
    assert not any(
        k[0].startswith("tickwire_consumer") and ("consumer", "feed") in k[1] for k in got
    )
    frames = value(got, "tickwire_frames_total", exchange="binance", connection=name)
    assert frames == st["frames"]
    assert any(k[0] == "tickwire_events_total" for k in got)
    assert [c["consumer"] for c in status["consumers"]] == ["fast", "slow"]
    assert status["connections"][0]["stats"]["frames"] >= frames


def test_async_alert_hook_runs_and_a_failing_hook_is_contained():
    async def scenario():
        got: list[Alert] = []

        async def hook(alert: Alert) -> None:
            got.append(alert)

        def broken(_alert: Alert) -> None:
            raise RuntimeError("hook bug")

        async with (
            Simulator("binance", speed="max") as sim,
            Feed("binance", "ETH/USDT", ["trades"], base_url=sim.rest_url) as feed,
        ):
            await sim.wait_finished(60)  # the recording is over: no frame any more
            ok = Alerts(feed, on_alert=hook, stale_after=0.2, interval=0.05)
            bad = Alerts(feed, on_alert=broken, stale_after=0.2, interval=0.05)
            async with ok, bad:
                await until(lambda: got and bad.fired)
                await asyncio.sleep(0.2)
        return got, bad.fired

    got, fired = asyncio.run(scenario())
    assert [a.kind for a in got] == ["stale"]
    assert fired == {"stale": 1}  # it raised, was logged, and the checks went on


def test_status_renders_as_rich_tables(capsys):
    doc = {
        "connections": [
            {
                "exchange": "okx",
                "connection": "okx/public#0",
                "connected": False,
                "streams": 4,
                "stats": {"frames": 12, "reconnects": 3},
            }
        ],
        "alerts": [{"kind": "stale", "subject": "okx/public#0", "value": 31.0, "threshold": 30}],
    }
    render_status(doc, rich=True)
    out = capsys.readouterr().out
    assert "Connections" in out and "okx/public#0" in out and "DOWN" in out
    assert "Active alerts" in out and "stale" in out


# --- no secret in what the server shows -------------------------------------------------------
def test_no_secret_in_metrics_or_status_of_a_private_feed():
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue().install(sim)
            events: list[Any] = []
            feed = Feed(
                KeyedSpot(sim.rest_url),
                channels=["orders"],
                on_event=events.append,
                connection_options=FAST,
            )
            server = MetricsServer(0, feed)
            async with server, feed:
                sim.inject(CloseAfter(0))  # a reconnect: a new listen key, a new login
                await wait_for(lambda: sum(isinstance(e, Connected) for e in events) == 2)
                async with aiohttp.ClientSession() as http:
                    bodies = []
                    for path in ("/metrics", "/status"):
                        async with http.get(server.url + path) as r:
                            bodies.append(await r.text())
        signatures = [
            json.loads(text)["params"]["signature"]
            for _, text in venue.messages
            if "signature" in json.loads(text).get("params", {})
        ]
        return bodies, [KEY, SECRET, *venue.issued, *signatures]

    (metrics, status), secrets = asyncio.run(scenario())
    assert len(secrets) >= 6  # the key, the secret, two listen keys, two signatures
    leaked = [s[:4] + "…" for s in secrets if s in metrics or s in status]
    assert not leaked, leaked
    doc = json.loads(status)
    (conn,) = doc["connections"]
    assert conn["private"] is True and conn["stats"]["reconnects"] == 1
    assert f'tickwire_reconnects_total{{connection="{conn["connection"]}"' in metrics
