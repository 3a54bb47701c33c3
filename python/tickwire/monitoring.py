"""Prometheus metrics, a ``/metrics`` + ``/status`` HTTP server, and alerts, for feeds, pools and
sinks.

```python
import tickwire as tw
from tickwire.monitoring import Alerts, MetricsServer

async def main():
    async with tw.Feed("binance", ["ETH/USDT"]) as feed:
        async with MetricsServer(9108, feed) as server, Alerts(feed, on_alert=print):
            async for event in feed:
                ...  # Prometheus scrapes http://127.0.0.1:9108/metrics
```

Everything is read at scrape (or check) time from what feeds, pools and sinks count anyway
(``Feed.stats()``, ``Connection.stats()``, ``Pool.status()``, a sink's ``stats()``): the hot path
pays nothing for a counter. The one per-event cost is opt-in and attached by the server: the
latency sampler (:class:`tickwire.lag.LatencySampler`, one event in 64 sampled, every event
counted by kind).

Sources (what ``MetricsServer`` and ``Alerts`` read) are any of:

- a :class:`tickwire.Feed`;
- a pool: an object with ``status()`` (a JSON-able dict: ``"topics"``, ``"consumers"`` lists,
  see :func:`feed_status` for their rows) and ``feeds`` (the :class:`~tickwire.Feed` s it runs,
  a property or a method);
- a sink: an object with ``stats()`` holding ``"backlog"`` (``PostgresSink``, ``RedisSink``);
- an :class:`Alerts` (its active alerts become ``tickwire_alert_active`` and ``/status``'s
  ``"alerts"``).

Labels are the exchange id, a connection's name (``binance/spot#0``), an event kind, a consumer
name, a sink name, a topic's symbol and channel: never a URL, a key or a token; the ``/status``
JSON and the ``/metrics`` text are scrubbed of every secret tickwire knows of anyway
(:func:`tickwire.redact.scrub`).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from time import time_ns
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from .lag import LatencySampler
from .metrics import Histogram
from .redact import scrub

if TYPE_CHECKING:
    from .feed import Feed

__all__ = [
    "Alert",
    "Alerts",
    "MetricsServer",
    "TickwireCollector",
    "enable_sampling",
    "feed_connections",
    "feed_status",
    "fetch_status",
    "render_status",
    "status_tables",
]

log = logging.getLogger("tickwire.monitoring")

# Connection counters exported as ``tickwire_<name>_total`` (key in Connection.stats(), help).
_CONNECTION_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("frames", "frames", "WebSocket frames handed to the decoder"),
    ("bytes", "received_bytes", "bytes of the frames handed to the decoder"),
    ("bad_frames", "bad_frames", "malformed frames skipped"),
    ("connects", "connects", "sessions that subscribed (first connect and reconnects)"),
    ("reconnects", "reconnects", "reconnects after a lost socket"),
    ("rotations", "rotations", "make-before-break rotations to a fresh socket"),
    ("stale", "stale", "sockets dropped after no frame for stale_after"),
    ("gaps", "gaps", "books that lost sync (sequence gap, checksum, connection gap)"),
    ("checksum_mismatches", "checksum_failures", "book checksum mismatches"),
    ("resyncs", "resyncs", "books rebuilt from a snapshot after a sync loss or reconnect"),
    ("snapshots", "snapshots", "REST snapshots fetched"),
    ("duplicates", "duplicates", "events dropped as already delivered (overlapping sockets)"),
    ("trades_missed", "trades_missed", "trades published while disconnected and not fetched"),
    ("trade_gaps", "trade_gaps", "time ranges of trades that may be missing (no consecutive ids)"),
    ("rest_polls", "rest_polls", "REST fallback requests sent while the WebSocket was down"),
    ("rest_events", "rest_events", "events the REST fallback delivered (BBO, trades, book)"),
    ("rest_backoffs", "rest_backoffs", "REST fallback pauses after an HTTP 418/429 refusal"),
    ("control_errors", "control_errors", "error replies to our requests"),
)

_STALE = "stale"
_STORM = "reconnect_storm"
_BACKLOG = "sink_backlog"


def enable_sampling(feed: Feed, every: int = 64) -> LatencySampler:
    """Install the latency sampler in ``feed``'s delivery (once; see
    :class:`tickwire.lag.LatencySampler`): every event counted by kind, one in ``every`` (a
    power of two) timed receive -> callback and exchange -> receive. Returns the sampler."""
    return feed._lag.enable_sampling(every)


def feed_connections(feed: Feed) -> list[dict[str, Any]]:
    """One JSON-able row per connection of ``feed``: ``exchange``, ``connection`` (its name,
    e.g. ``binance/spot#0``), ``url`` (secrets hidden), ``connected``, ``private``,
    ``streams`` (count) and ``stats`` (``Connection.stats()`` counters, ``bytes`` too when the
    core counts them)."""
    return [
        {
            "exchange": feed.exchange,
            "connection": c.name,
            "url": scrub(c.url),
            "connected": c.connected,
            "private": c.private,
            "streams": len(c.subs),
            "stats": _conn_stats(c),
        }
        for c in feed.connections
    ]


def feed_status(feed: Feed) -> dict[str, Any]:
    """``feed`` as ``/status`` shows it (the shape a pool's ``status()`` gives too):

    - ``connections``: :func:`feed_connections`;
    - ``topics``: ``{"exchange", "symbol", "channel", "refcount"}`` per stream (refcount 1: a
      plain feed has one consumer);
    - ``consumers``: the feed's ``async for`` queue as consumer ``"feed"``: ``queue_depth``,
      ``queue_size``, ``dropped`` (oldest events dropped at the bound), ``lag_ns`` (age of the
      oldest queued event, int ns), ``policy`` (``"drop_oldest"``), ``delivered`` (events
      delivered, when the sampler counts them), ``callback_lag_ns`` (the slow-callback lag,
      see ``Feed``)."""
    st = feed.stats()
    queue: collections.deque[Any] = feed._queue
    oldest = getattr(queue[0], "receive_ts", None) if queue else None
    sampler = feed._lag.sampler
    consumer: dict[str, Any] = {
        "consumer": "feed",
        "exchange": feed.exchange,
        "queue_depth": st.get("queued", 0),
        "queue_size": feed._queue_size,
        "dropped": st.get("queue_dropped", 0),
        "lag_ns": time_ns() - oldest if isinstance(oldest, int) else 0,
        "policy": "drop_oldest",
        "callback_lag_ns": st.get("lag_ns", 0),
    }
    if sampler is not None:
        consumer["delivered"] = sum(sampler.counts.values())
    return {
        "connections": feed_connections(feed),
        "topics": [
            {"exchange": feed.exchange, "symbol": s.symbol, "channel": s.channel, "refcount": 1}
            for s in feed.subscriptions
        ],
        "consumers": [consumer],
    }


def _conn_stats(conn: Any) -> dict[str, int]:
    """``conn.stats()`` plus ``bytes`` from its live decoder when the core counts them."""
    out = dict(conn.stats())
    if "bytes" not in out:
        b = conn.decoder_stats().get("bytes")
        if isinstance(b, int):
            out["bytes"] = b
    return out


# --- sources -------------------------------------------------------------------------------------
def _is_feed(source: object) -> bool:
    from .feed import Feed

    return isinstance(source, Feed)


def _is_pool(source: object) -> bool:
    return callable(getattr(source, "status", None)) and hasattr(source, "feeds")


def _pool_feeds(pool: Any) -> list[Feed]:
    feeds = pool.feeds
    return list(feeds() if callable(feeds) else feeds)


class _Sources:
    """The feeds, pools, sinks and alerts one server or one ``Alerts`` reads (in the loop)."""

    def __init__(self, sources: Iterable[object]) -> None:
        self.items: list[tuple[object, str]] = []
        for s in sources:
            self.add(s)

    def add(self, source: object, name: str | None = None) -> None:
        if any(s is source for s, _ in self.items):
            return
        if not (
            _is_feed(source)
            or _is_pool(source)
            or isinstance(source, Alerts)
            or callable(getattr(source, "stats", None))
        ):
            raise TypeError(
                f"not a metrics source: {type(source).__name__} (a Feed, a pool with status() "
                "and feeds, a sink with stats(), or an Alerts)"
            )
        if name is None:
            base = type(source).__name__.lower().removesuffix("sink") or "sink"
            taken = {n for _, n in self.items}
            name, i = base, 1
            while name in taken:
                i += 1
                name = f"{base}#{i}"
        self.items.append((source, name))

    def remove(self, source: object) -> None:
        self.items = [(s, n) for s, n in self.items if s is not source]

    def feeds(self) -> list[tuple[Feed, str, bool]]:
        """Every feed (a pool's too) with a unique subject name (its exchange id, ``#2``... for
        a second feed of the same exchange) and whether it is a source itself (not a pool's)."""
        out: dict[Feed, bool] = {}
        for s, _ in self.items:
            if _is_feed(s):
                out[s] = True  # type: ignore[index]  # checked by _is_feed
            elif _is_pool(s):
                for f in _pool_feeds(s):
                    out.setdefault(f, False)
        seen: dict[str, int] = {}
        named = []
        for f, direct in out.items():
            n = seen[f.exchange] = seen.get(f.exchange, 0) + 1
            named.append((f, f.exchange if n == 1 else f"{f.exchange}#{n}", direct))
        return named

    def pools(self) -> list[Any]:
        return [s for s, _ in self.items if not _is_feed(s) and _is_pool(s)]

    def sinks(self) -> list[tuple[Any, str]]:
        return [
            (s, n)
            for s, n in self.items
            if not (_is_feed(s) or _is_pool(s) or isinstance(s, Alerts))
        ]

    def alerts(self) -> list[Alerts]:
        return [s for s, _ in self.items if isinstance(s, Alerts)]


# --- the collector -------------------------------------------------------------------------------
class TickwireCollector(Collector):
    """A ``prometheus_client`` collector reading tickwire sources at scrape time.

    ``collect()`` yields (``exchange`` / ``connection`` labels unless said otherwise):

    - per connection, counters ``tickwire_frames_total``, ``tickwire_received_bytes_total``
      (when the core counts bytes), ``tickwire_bad_frames_total``, ``tickwire_connects_total``,
      ``tickwire_reconnects_total``, ``tickwire_rotations_total``, ``tickwire_stale_total``,
      ``tickwire_gaps_total``, ``tickwire_checksum_failures_total``, ``tickwire_resyncs_total``,
      ``tickwire_snapshots_total``, ``tickwire_duplicates_total``,
      ``tickwire_trades_missed_total``, ``tickwire_trade_gaps_total`` (time ranges of trades
      that may be missing, venues without consecutive trade ids), the REST fallback's
      ``tickwire_rest_polls_total``, ``tickwire_rest_events_total`` and
      ``tickwire_rest_backoffs_total``,
      ``tickwire_control_errors_total`` (connections an
      unsubscribe closed are summed under ``connection="closed"``, so totals never go back),
      and the gauge ``tickwire_connected`` (1 or 0);
    - per feed (``exchange``; a second feed of the same exchange is ``exchange#2``):
      ``tickwire_events_total{kind}`` (every event delivered, by kind: ``book``, ``trade``,
      ``bbo``, ``candle``, ``gap_detected``...; needs the sampler), the histograms
      ``tickwire_callback_latency_seconds`` (receive -> callback) and
      ``tickwire_exchange_latency_seconds`` (exchange time -> receive; includes clock offset)
      from one event in 64, ``tickwire_callback_lag_seconds`` (worst arrival -> callback-end
      lag over the last second), ``tickwire_loop_delay_seconds``,
      ``tickwire_callback_errors_total``, ``tickwire_conflated_total``;
    - per consumer (``exchange``, ``consumer``): ``tickwire_consumer_queue_depth``,
      ``tickwire_consumer_queue_size``, ``tickwire_consumer_dropped_total``,
      ``tickwire_consumer_lag_seconds``, ``tickwire_consumer_delivered_total``;
    - per pool topic (``exchange``, ``symbol``, ``channel``): ``tickwire_topic_refcount``;
    - per sink (``sink``): ``tickwire_sink_backlog``, ``tickwire_sink_batches_total``,
      ``tickwire_sink_written_total`` (rows or entries), ``tickwire_sink_errors_total``,
      ``tickwire_sink_dropped_total``, ``tickwire_sink_last_batch_seconds`` (latency of the
      last batch);
    - per active alert (``kind``, ``subject``): ``tickwire_alert_active`` 1, and
      ``tickwire_alerts_total{kind}``;
    - ``tickwire_scrape_errors_total``: sources that raised while read (logged).
    """

    def __init__(self, sources: _Sources) -> None:
        self._sources = sources
        self.scrape_errors = 0

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the metric set follows the sources (no auto-describe scrape)."""
        return ()

    def collect(self) -> Iterable[Metric]:
        """Every metric family, read now (runs in the event loop's thread)."""
        b = _Families()
        for feed, subject, direct in self._sources.feeds():
            self._guard(subject, _feed_metrics, b, feed, subject, direct)
        for pool in self._sources.pools():
            self._guard("pool", _pool_metrics, b, pool)
        for sink, name in self._sources.sinks():
            self._guard(name, _sink_metrics, b, sink, name)
        for alerts in self._sources.alerts():
            self._guard("alerts", _alert_metrics, b, alerts)
        b.counter("scrape_errors", "sources that raised while read", {}, self.scrape_errors)
        return b.families()

    def _guard(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # one broken source must not break the scrape
            self.scrape_errors += 1
            log.exception("metrics: reading %s failed", what)


# (Connection.stats() key or the feed's, metric name, help) of the per-feed figures
_FEED_GAUGES = (
    ("lag_ns", "callback_lag_seconds", "worst arrival -> callback-end lag over the last second"),
    ("loop_delay_ns", "loop_delay_seconds", "worst event-loop delay over the last second"),
)
_FEED_COUNTERS = (
    ("callback_errors", "callback_errors", "exceptions raised by user callbacks"),
    ("conflated", "conflated", "book updates and BBOs merged while callbacks caught up"),
)


def _feed_metrics(b: _Families, feed: Feed, ex: str, direct: bool) -> None:
    enable_sampling(feed)  # a pool's new feeds: from now on
    live: dict[str, int] = {}
    for c in feed.connections:
        st = _conn_stats(c)
        labels = {"exchange": ex, "connection": c.name}
        for key, name, doc in _CONNECTION_COUNTERS:
            if key in st:
                b.counter(name, doc, labels, st[key])
                live[key] = live.get(key, 0) + st[key]
        b.gauge("connected", "1 while the connection has an open socket", labels, c.connected)
    total = feed.stats()
    for key, name, doc in _CONNECTION_COUNTERS:
        gone = total.get(key, 0) - live.get(key, 0)
        if gone > 0:  # connections closed by an unsubscribe: keep the totals monotonic
            b.counter(name, doc, {"exchange": ex, "connection": "closed"}, gone)
    of_feed = {"exchange": ex}
    for key, name, doc in _FEED_GAUGES:
        b.gauge(name, doc, of_feed, total.get(key, 0) / 1e9)
    for key, name, doc in _FEED_COUNTERS:
        b.counter(name, doc, of_feed, total.get(key, 0))
    sampler = feed._lag.sampler
    if sampler is not None:
        for kind, n in sampler.kinds().items():
            b.counter("events", "events delivered, by kind", {"exchange": ex, "kind": kind}, n)
        b.histogram(
            "callback_latency_seconds",
            f"receive -> callback latency (1 event in {sampler.every} sampled)",
            of_feed,
            sampler.callback,
        )
        b.histogram(
            "exchange_latency_seconds",
            "exchange time -> receive latency (sampled; includes clock offset)",
            of_feed,
            sampler.exchange,
        )
    if direct:  # a pool's feeds have the pool's consumers instead
        for row in feed_status(feed)["consumers"]:
            _consumer_metrics(b, row)


def _pool_metrics(b: _Families, pool: Any) -> None:
    st = pool.status()
    for row in st.get("consumers", ()):
        _consumer_metrics(b, row)
    for t in st.get("topics", ()):
        labels = {k: str(t.get(k, "")) for k in ("exchange", "symbol", "channel")}
        b.gauge("topic_refcount", "consumers of a topic", labels, int(t.get("refcount", 0)))


def _consumer_metrics(b: _Families, row: dict[str, Any]) -> None:
    """The figures of one consumer row (see :func:`feed_status`)."""
    labels = {"exchange": str(row.get("exchange", "")), "consumer": str(row.get("consumer", ""))}
    b.gauge("consumer_queue_depth", "events queued", labels, int(row.get("queue_depth", 0)))
    if "queue_size" in row:
        b.gauge("consumer_queue_size", "bound of the queue", labels, int(row["queue_size"]))
    b.counter("consumer_dropped", "events dropped", labels, int(row.get("dropped", 0)))
    lag = int(row.get("lag_ns", 0)) / 1e9
    b.gauge("consumer_lag_seconds", "age of the oldest queued event", labels, lag)
    if "delivered" in row:
        b.counter("consumer_delivered", "events delivered", labels, int(row["delivered"]))


_SINK_COUNTERS = (
    ("batches", "sink_batches", "batches written"),
    ("errors", "sink_errors", "failed batches or connects (retried)"),
    ("dropped", "sink_dropped", "entries dropped past the sink's buffer bound"),
)


def _sink_metrics(b: _Families, sink: Any, name: str) -> None:
    st = sink.stats()
    labels = {"sink": name}
    b.gauge("sink_backlog", "rows or entries not stored yet", labels, int(st.get("backlog", 0)))
    for key, metric, doc in _SINK_COUNTERS:
        if key in st:
            b.counter(metric, doc, labels, int(st[key]))
    written = st.get("rows_written", st.get("published"))  # PostgresSink, RedisSink
    if written is not None:
        b.counter("sink_written", "rows or entries written", labels, int(written))
    last = st.get("last_batch_s")
    if last is None and st.get("last_batch_ns") is not None:
        last = st["last_batch_ns"] / 1e9
    if last is not None:
        b.gauge("sink_last_batch_seconds", "latency of the last batch", labels, float(last))
    if "connected" in st:
        b.gauge("sink_connected", "1 while its server connection is up", labels, st["connected"])


def _alert_metrics(b: _Families, alerts: Alerts) -> None:
    for kind, subject in alerts.active:
        labels = {"kind": kind, "subject": subject}
        b.gauge("alert_active", "1 while an alert's condition lasts", labels, 1)
    for kind, n in alerts.fired.items():
        b.counter("alerts", "alerts fired (one per episode)", {"kind": kind}, n)


class _Families:
    """Metric families built during one scrape, by name; a repeated label set is summed
    (counters) or its maximum kept (gauges), so two sources naming the same thing stay valid."""

    def __init__(self) -> None:
        # name -> (type, help, label names, {label values: value})
        self._fam: dict[str, tuple[str, str, tuple[str, ...], dict[tuple[str, ...], Any]]] = {}

    def _put(self, kind: str, name: str, doc: str, labels: dict[str, str], value: Any) -> None:
        fam = self._fam.setdefault(name, (kind, doc, tuple(labels), {}))
        key = tuple(labels.values())
        rows = fam[3]
        old = rows.get(key)
        if old is None:
            rows[key] = value
        elif kind == "counter":
            rows[key] = old + value
        elif kind == "gauge":
            rows[key] = max(old, value)
        # a histogram of a repeated label set keeps the first (feed subjects are unique)

    def counter(self, name: str, doc: str, labels: dict[str, str], value: int) -> None:
        self._put("counter", name, doc, labels, value)

    def gauge(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        self._put("gauge", name, doc, labels, float(value))

    def histogram(self, name: str, doc: str, labels: dict[str, str], h: Histogram) -> None:
        self._put("histogram", name, doc, labels, h)

    def families(self) -> list[Metric]:
        out: list[Metric] = []
        for name, (kind, doc, names, rows) in self._fam.items():
            full = f"tickwire_{name}"
            fam: Metric
            if kind == "histogram":
                hist = HistogramMetricFamily(full, doc, labels=names)
                for key, h in rows.items():
                    buckets = [
                        ("+Inf" if bound is None else repr(bound / 1e9), n)
                        for bound, n in h.cumulative()
                    ]
                    hist.add_metric(list(key), buckets, sum_value=h.sum_ns / 1e9)
                fam = hist
            else:
                cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                fam = cls(full, doc, labels=names)
                for key, v in rows.items():
                    fam.add_metric(list(key), v)
            out.append(fam)
        return out


# --- the HTTP server -----------------------------------------------------------------------------
class MetricsServer:
    """``GET /metrics`` (Prometheus text format, :class:`TickwireCollector`) and ``GET /status``
    (JSON: ``connections``, ``topics``, ``consumers``, ``sinks``, ``alerts``; see
    :func:`feed_status`) for ``sources`` (see the module doc), served by aiohttp from the
    running event loop (the feed's: every value is read in the loop that writes it).

    ``port``: TCP port, 0 for a free one (:attr:`port` tells which after :meth:`start`);
    ``host``: interface, loopback by default (``"0.0.0.0"`` to be scraped from elsewhere).
    Feeds get the latency sampler when added (a pool's feeds at the next scrape). Raises
    ``OSError`` from :meth:`start` if the port is taken; ``TypeError`` from the constructor or
    :meth:`add` for an object that is no source.
    """

    def __init__(self, port: int = 0, *sources: object, host: str = "127.0.0.1") -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port!r}")
        self.host = host
        self._port = port
        self._sources = _Sources(())
        for s in sources:
            self.add(s)
        self.collector = TickwireCollector(self._sources)
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self.collector)
        self._runner: web.AppRunner | None = None

    def add(self, source: object, name: str | None = None) -> None:
        """Read ``source`` too from now on (``name``: a sink's ``sink`` label)."""
        self._sources.add(source, name)
        if _is_feed(source):
            enable_sampling(source)  # type: ignore[arg-type]  # checked by _is_feed

    def remove(self, source: object) -> None:
        """Stop reading ``source``."""
        self._sources.remove(source)

    @property
    def port(self) -> int:
        """The bound port (the one asked for before :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def render(self) -> bytes:
        """The ``/metrics`` body now."""
        return scrub(generate_latest(self._registry).decode()).encode()

    def status(self) -> dict[str, Any]:
        """The ``/status`` document now (JSON-able; see the class doc)."""
        out: dict[str, Any] = {
            "connections": [],
            "topics": [],
            "consumers": [],
            "sinks": [],
            "alerts": [],
            "ts": time_ns(),
        }
        docs = [feed_status(f) for f, _, direct in self._sources.feeds() if direct]
        docs += [p.status() for p in self._sources.pools()]
        for d in docs:
            for k, v in d.items():
                if isinstance(v, list):
                    out.setdefault(k, []).extend(v)
                else:
                    out.setdefault(k, v)
        for sink, name in self._sources.sinks():
            out["sinks"].append({"sink": name, **_jsonable(sink.stats())})
        for alerts in self._sources.alerts():
            out["alerts"].extend(asdict(a) for a in alerts.active.values())
        return out

    async def start(self) -> None:
        """Listen (in the running loop); returns once bound."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/status", self._status)
        app.router.add_get("/", self._index)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("metrics on %s/metrics", self.url)

    async def stop(self) -> None:
        """Stop listening. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = self.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _status(self, _request: web.Request) -> web.Response:
        text = scrub(json.dumps(self.status(), default=str))
        return web.Response(text=text, content_type="application/json")

    async def _index(self, _request: web.Request) -> web.Response:
        return web.Response(text="tickwire: /metrics (Prometheus), /status (JSON)\n")

    def __repr__(self) -> str:
        state = "serving" if self._runner is not None else "stopped"
        return f"<MetricsServer {self.url} {state}, {len(self._sources.items)} sources>"


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v) for k, v in d.items()
    }


# --- alerts --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Alert:
    """One alert episode's start: ``kind`` (``"stale"``, ``"reconnect_storm"``,
    ``"sink_backlog"``), ``subject`` (a connection name such as ``binance/spot#0``, an exchange
    id, or a sink name), ``value`` (seconds without a frame, reconnects in the last minute, rows
    or entries in the backlog) against ``threshold``, ``ts`` (int ns since the epoch)."""

    kind: str
    subject: str
    value: float
    threshold: float
    ts: int


class Alerts:
    """Calls ``on_alert(Alert)`` once per episode when, checked every ``interval`` seconds:

    - ``stale``: a market connection delivered no frame for ``stale_after`` seconds (its frame
      counter did not move; a disconnected connection counts), subject its name
      (``binance/stream#0``; ``binance#2:binance/stream#0`` in a second feed of the exchange);
    - ``reconnect_storm``: a feed reconnected ``reconnects_per_min`` times or more within the
      last 60 s, subject its exchange id (``exchange#2`` for a second feed of it);
    - ``sink_backlog``: a sink's ``stats()["backlog"]`` above ``sink_backlog``, subject its
      name.

    An episode ends when its condition no longer holds; the next one fires again. Sources as
    for :class:`MetricsServer` (feeds, pools, sinks; ``add()`` more later). ``on_alert`` may be
    a plain function or an ``async def`` (run as a task); its errors are logged, never raised.
    :attr:`active` maps ``(kind, subject)`` to the alert of each episode in progress,
    :attr:`fired` counts alerts by kind. ``start()`` / ``stop()`` (or ``async with``) run the
    timer in the running loop; :meth:`check` evaluates once, now, and returns what it fired.
    ``ValueError`` for a threshold or interval that is not > 0.
    """

    def __init__(
        self,
        *sources: object,
        on_alert: Callable[[Alert], Any],
        stale_after: float = 30.0,
        reconnects_per_min: float = 5,
        sink_backlog: float = 10_000,
        interval: float = 1.0,
    ) -> None:
        if not callable(on_alert):
            raise ValueError(f"on_alert must be callable, got {on_alert!r}")
        for name, v in (
            ("stale_after", stale_after),
            ("reconnects_per_min", reconnects_per_min),
            ("sink_backlog", sink_backlog),
            ("interval", interval),
        ):
            if not v > 0:
                raise ValueError(f"{name} must be > 0, got {v!r}")
        self.on_alert = on_alert
        self.stale_after = stale_after
        self.reconnects_per_min = reconnects_per_min
        self.sink_backlog = sink_backlog
        self.interval = interval
        self._sources = _Sources(sources)
        self.active: dict[tuple[str, str], Alert] = {}
        self.fired: dict[str, int] = {}
        self._frames: dict[tuple[int, str], tuple[int, float]] = {}  # (feed, conn) -> (n, since)
        self._reconnects: dict[int, collections.deque[tuple[float, int]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._callbacks: set[asyncio.Task[Any]] = set()

    def add(self, source: object, name: str | None = None) -> None:
        """Watch ``source`` too (``name``: a sink's subject)."""
        self._sources.add(source, name)

    def remove(self, source: object) -> None:
        """Stop watching ``source``."""
        self._sources.remove(source)

    def check(self) -> list[Alert]:
        """Evaluate every condition now; fire (and return) the alerts of new episodes."""
        now = time.monotonic()
        holding: dict[tuple[str, str], tuple[float, float]] = {}
        feeds = self._sources.feeds()
        for feed, subject, _ in feeds:
            self._check_feed(feed, subject, now, holding)
        # forget feeds and connections gone since (ids may be reused by new objects)
        live = {id(f) for f, _, _ in feeds}
        named = {(id(f), c.name) for f, _, _ in feeds for c in f.connections}
        self._frames = {k: v for k, v in self._frames.items() if k in named}
        self._reconnects = {k: v for k, v in self._reconnects.items() if k in live}
        for sink, name in self._sources.sinks():
            backlog = float(sink.stats().get("backlog", 0))
            if backlog > self.sink_backlog:
                holding[(_BACKLOG, name)] = (backlog, self.sink_backlog)
        for key in [k for k in self.active if k not in holding]:
            del self.active[key]  # the episode is over
        new = []
        for key, (value, threshold) in holding.items():
            if key not in self.active:
                alert = Alert(key[0], key[1], value, threshold, time_ns())
                self.active[key] = alert
                self.fired[key[0]] = self.fired.get(key[0], 0) + 1
                new.append(alert)
        for alert in new:
            self._fire(alert)
        return new

    def _check_feed(
        self,
        feed: Feed,
        subject: str,
        now: float,
        holding: dict[tuple[str, str], tuple[float, float]],
    ) -> None:
        for c in feed.connections:
            if c.private:
                continue  # a quiet account sends nothing for hours: not a stale feed
            key = (id(feed), c.name)
            n = c.stats()["frames"]
            seen = self._frames.get(key)
            if seen is None or seen[0] != n:
                self._frames[key] = (n, now)
            elif now - seen[1] >= self.stale_after:
                # a second feed of an exchange has connection names of its own
                name = c.name if subject == feed.exchange else f"{subject}:{c.name}"
                holding[(_STALE, name)] = (round(now - seen[1], 3), self.stale_after)
        total = feed.stats().get("reconnects", 0)
        hist = self._reconnects.setdefault(id(feed), collections.deque())
        hist.append((now, total))
        while len(hist) > 1 and hist[1][0] <= now - 60.0:
            hist.popleft()  # keep one sample at or before the window's start as the base
        recent = total - hist[0][1]
        if recent >= self.reconnects_per_min:
            holding[(_STORM, subject)] = (float(recent), float(self.reconnects_per_min))

    def _fire(self, alert: Alert) -> None:
        log.warning(
            "alert %s on %s: %g (threshold %g)",
            alert.kind,
            alert.subject,
            alert.value,
            alert.threshold,
        )
        try:
            result = self.on_alert(alert)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callbacks.add(task)
                task.add_done_callback(self._callback_done)
        except Exception:  # a broken hook must not stop the checks
            log.exception("on_alert raised on %r", alert)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callbacks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("async on_alert raised", exc_info=task.exception())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception:  # a source that raised: try again next time
                log.exception("alert check failed")

    async def start(self) -> None:
        """Start checking every ``interval`` seconds (in the running loop)."""
        if self._task is None:
            self.check()  # the baseline (frame counts, reconnect totals) starts now
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tickwire alerts")

    async def stop(self) -> None:
        """Stop checking. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> Alerts:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<Alerts {len(self.active)} active, fired {self.fired}>"


# --- `tickwire status` ---------------------------------------------------------------------------
async def fetch_status(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET the ``/status`` document of a :class:`MetricsServer` at ``url`` (``http://HOST:PORT``
    or the ``/status`` URL). Raises ``ValueError`` for a URL that is not http(s) or an answer
    that is not a status document, ``OSError`` (aiohttp's connection errors are ``OSError`` s)
    when it cannot be reached, ``asyncio.TimeoutError`` after ``timeout`` seconds."""
    import aiohttp

    if not url.startswith(("http://", "https://")):
        raise ValueError("expected http://HOST:PORT")
    if not url.rstrip("/").endswith("/status"):
        url = url.rstrip("/") + "/status"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.get(url) as resp,
        ):
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status} from /status")
            doc = await resp.json(content_type=None)
    except aiohttp.ClientResponseError as exc:
        raise ValueError(f"HTTP {exc.status} from /status") from None
    except aiohttp.ClientConnectionError as exc:
        raise OSError(str(exc) or type(exc).__name__) from None
    except json.JSONDecodeError:
        raise ValueError("the answer is not JSON (is this a tickwire metrics server?)") from None
    if not isinstance(doc, dict) or "connections" not in doc:
        raise ValueError("the answer is not a tickwire status document")
    return doc


def _ms(ns: Any) -> str:
    return f"{int(ns or 0) / 1e6:.1f}"


def status_tables(doc: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The ``/status`` document as ``[(title, header, rows)]`` (cells are text): connections,
    consumers, topics, sinks and alerts (empty sections left out)."""
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    conns = [
        [
            str(c.get("exchange", "")),
            str(c.get("connection", "")),
            "up" if c.get("connected") else "DOWN",
            str(c.get("streams", "")),
            *(
                str(c.get("stats", {}).get(k, 0))
                for k in ("frames", "reconnects", "gaps", "resyncs", "bad_frames")
            ),
        ]
        for c in doc.get("connections", ())
    ]
    head = ["exchange", "connection", "state", "streams", "frames", "reconnects", "gaps"]
    tables.append(("Connections", [*head, "resyncs", "bad frames"], conns))
    consumers = [
        [
            str(c.get("exchange", "")),
            str(c.get("consumer", "")),
            f"{c.get('queue_depth', 0)}/{c.get('queue_size', '?')}",
            str(c.get("dropped", 0)),
            _ms(c.get("lag_ns")),
            str(c.get("policy", "")),
            str(c.get("delivered", "")),
        ]
        for c in doc.get("consumers", ())
    ]
    head = ["exchange", "consumer", "queue", "dropped", "lag ms", "policy", "delivered"]
    tables.append(("Consumers", head, consumers))
    topics = [
        [str(t.get(k, "")) for k in ("exchange", "symbol", "channel", "refcount")]
        for t in doc.get("topics", ())
    ]
    tables.append(("Topics", ["exchange", "symbol", "channel", "refcount"], topics))
    sinks = [
        [
            str(s.get("sink", "")),
            str(s.get("backlog", 0)),
            str(s.get("batches", "")),
            str(s.get("errors", "")),
            str(s.get("connected", "")),
        ]
        for s in doc.get("sinks", ())
    ]
    tables.append(("Sinks", ["sink", "backlog", "batches", "errors", "connected"], sinks))
    alerts = [
        [str(a.get(k, "")) for k in ("kind", "subject", "value", "threshold")]
        for a in doc.get("alerts", ())
    ]
    tables.append(("Active alerts", ["kind", "subject", "value", "threshold"], alerts))
    return [t for t in tables if t[2] or t[0] == "Connections"]


def render_status(doc: dict[str, Any], *, rich: bool) -> None:
    """Print :func:`status_tables` to stdout: rich tables (``rich``) or plain aligned columns
    (a pipe, a file: one header line per section, then one line per row)."""
    tables = status_tables(doc)
    if rich:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for title, head, rows in tables:
            table = Table(title=title, title_justify="left")
            for h in head:
                table.add_column(h, justify="left" if h in _TEXT_COLUMNS else "right")
            for row in rows:
                table.add_row(*row)
            console.print(table)
        return
    out = []
    for title, head, rows in tables:
        widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=False)]
        out.append(f"{title} ({len(rows)})")
        out.extend(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in [head, *rows]
        )
        out.append("")
    print("\n".join(out).rstrip())  # noqa: T201 - the CLI's output


_TEXT_COLUMNS = frozenset(
    {"exchange", "connection", "state", "consumer", "policy", "symbol", "channel", "sink", "kind"}
    | {"subject", "queue", "connected"}
)
