"""The REST fallback (``tickwire.connection.fallback``) against the Binance simulator.

A long outage is a real one: the feed's WebSocket goes through a TCP relay in front of the
simulator, which the test cuts (every relayed socket aborted, new connects closed at once)
while the simulator keeps replaying and serving REST. The feed must switch to REST after
``rest_fallback_after``, deliver BBO, trades and book snapshots marked ``source == "rest"``
from the recording (checked against the recording itself), never repeat a trade id nor lose
one without a ``TradesMissed``, switch back once the WebSocket is in sync, say both switches as
events, and stay within the venue's weight budget, pausing on 429 / 418.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

import tickwire._core as core
from conftest import MARKETS, SYMBOL
from tickwire.bus import encode_event
from tickwire.connection import ConnectionOptions
from tickwire.connection.fallback import (
    RestBBO,
    RestBookUpdate,
    RestFallbackChanged,
    RestTrade,
    WeightBudget,
)
from tickwire.events import Connected, Disconnected, TradesMissed
from tickwire.exceptions import ExchangeError
from tickwire.exchanges import RestQuote
from tickwire.exchanges.binance import BinanceSpot, BinanceUsdm
from tickwire.exchanges.okx import Okx
from tickwire.feed import Feed
from tickwire.replay import event_to_dict
from tickwire.simulator import Simulator, packaged_recording
from tickwire.simulator.faults import SnapshotFailure
from tickwire.sinks.postgres import PostgresSink

pytestmark = pytest.mark.e2e  # the simulator over loopback

OPTS = {
    "backoff_base": 0.05,
    "backoff_cap": 0.3,
    "first_delta_wait": 0.2,
    "rest_fallback_after": 0.5,
    "rest_fallback_every": 0.2,
}


class Relay:
    """A TCP relay in front of the simulator's port: ``cut()`` aborts every relayed socket and
    stops listening (connects are refused, as by an unreachable host) until ``restore()``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.pipes: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.listen_port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.listen_port)
        self.listen_port = int(self.server.sockets[0].getsockname()[1])
        return self.listen_port

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(self.host, self.port)
        self.pipes |= {writer, up_w}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_w), pump(up_r, writer))
        self.pipes -= {writer, up_w}

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.pipes):
            w.transport.abort()

    async def restore(self) -> None:
        await self.start()  # the same port again


def recorded(market: str, suffix: str) -> list[dict[str, Any]]:
    """The ``data`` of every recorded message of the stream ending in ``suffix``."""
    out = []
    for raw in packaged_recording(market).lines:
        msg = json.loads(raw)
        if msg["stream"].endswith(suffix):
            out.append(msg["data"])
    return out


async def outage_run(
    market: str,
    channels: list[str],
    outage: float,
    adapter: type[Any] | None = None,
    before: Any = None,
    symbol: str | None = None,
) -> tuple[list[Any], Feed, Simulator]:
    """A feed through the relay: 1.5 s live, ``outage`` s cut, then live until every fallback
    stopped (and 1 s more). ``before(sim)`` runs just before the cut; ``symbol``: default the
    market's ``SYMBOL``."""
    async with Simulator(market, speed=2) as sim:
        host, port = sim.rest_url.removeprefix("http://").split(":")
        relay = Relay(host, int(port))
        relay_port = await relay.start()
        events: list[Any] = []
        urls = {"ws": f"ws://127.0.0.1:{relay_port}", "rest": sim.rest_url}
        feed = Feed(
            adapter(urls=urls) if adapter is not None else market,
            symbol or SYMBOL[market],
            channels,
            urls=None if adapter is not None else urls,
            connection_options=ConnectionOptions(**OPTS),
            on_event=events.append,
            validate_symbols=False,
        )
        try:
            async with feed:
                await asyncio.sleep(1.5)
                if before is not None:
                    before(sim)
                await relay.cut()
                await asyncio.sleep(outage)
                await relay.restore()
                n = len(feed.connections)
                for _ in range(200):
                    stops = [e for e in events if type(e) is RestFallbackChanged and not e.active]
                    if len(stops) >= n:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
        finally:
            await relay.cut()
        return events, feed, sim


@pytest.mark.parametrize("market", MARKETS)
def test_long_outage_switches_to_rest_and_back_without_repeating_a_trade(market):
    events, feed, _sim = asyncio.run(outage_run(market, ["book", "trades", "bbo"], 3.0))
    n_conns = len(feed.connections)
    switches = [e for e in events if type(e) is RestFallbackChanged]
    # the switch both ways, per connection, in order: started then stopped
    assert [e.active for e in switches].count(True) == n_conns, switches
    assert [e.active for e in switches].count(False) == n_conns, switches
    first_on = events.index(next(e for e in switches if e.active))
    last_off = events.index([e for e in switches if not e.active][-1])
    assert any(type(e) is Disconnected for e in events[:first_on])
    assert any(type(e) is Connected for e in events[first_on:last_off])
    assert all(e.reason == "websocket back in sync" for e in switches if not e.active)

    # BBO: REST ones during the outage, each one the recording's book ticker
    rest_bbo = [e for e in events if type(e) is RestBBO]
    assert rest_bbo, "no BBO polled during the outage"
    assert all(e.source == "rest" and e.symbol == SYMBOL[market] for e in rest_bbo)
    tickers = {(d["b"], d["B"], d["a"], d["A"]) for d in recorded(market, "@bookTicker")}
    for e in rest_bbo:
        q = e.quote
        assert (q.bid_price, q.bid_size, q.ask_price, q.ask_size) in tickers
        assert e.bid_price < e.ask_price
        assert e.decimal("bid_price") == Decimal(q.bid_price)
    # continuous: no hole in BBO delivery longer than the fallback's threshold plus 2 polls
    bbo_ts = [e.receive_ts for e in events if getattr(e, "bid_price", None) is not None]
    worst = max(b - a for a, b in itertools.pairwise(bbo_ts)) / 1e9
    assert worst < OPTS["rest_fallback_after"] + 2 * OPTS["rest_fallback_every"] + 0.5, worst

    # trades: WebSocket and REST together are the recording's ids, none repeated, none lost
    # without a TradesMissed
    trades = [e for e in events if getattr(e, "trade_id", None) is not None]
    ids = [int(e.trade_id) for e in trades]
    rest_ids = [int(e.trade_id) for e in trades if type(e) is RestTrade]
    assert rest_ids, "no trade polled during the outage"
    assert len(ids) == len(set(ids)), "a trade id was delivered twice"
    assert ids == sorted(ids)
    missed = {
        i for e in events if type(e) is TradesMissed for i in range(e.first_id, e.last_id + 1)
    }
    assert set(range(ids[0], ids[-1] + 1)) - set(ids) == missed - set(ids)
    assert not missed & set(ids)
    by_id = {int(d["t"]): d for d in recorded(market, "@trade")}
    for e in trades:
        if type(e) is RestTrade:
            d = by_id[int(e.trade_id)]
            assert e.decimal("price") == Decimal(d["p"]) and e.source == "rest"
    # every REST trade came while the fallback was on
    for e in trades:
        if type(e) is RestTrade:
            assert first_on < events.index(e) < last_off

    # the book: REST snapshots meanwhile, the WebSocket's book in sync at the end
    books = [e for e in events if type(e) is RestBookUpdate]
    assert books and all(e.symbol == SYMBOL[market] and e.sequence for e in books)
    assert feed.book(SYMBOL[market]).synced
    fb = [c.fallback for c in feed.connections]
    assert sum(f.episodes for f in fb) == n_conns and not any(f.active for f in fb)

    # what `tickwire stream --output jsonl` prints: REST events as their kind, marked
    dicts = [event_to_dict(e, 5, feed) for e in events]
    json.dumps(dicts)
    marked = [d for d in dicts if d.get("source") == "rest"]
    assert {d["type"] for d in marked} == {"bbo", "trade", "book"}
    assert len(marked) == len(rest_bbo) + len(rest_ids) + len(books)
    assert [d["active"] for d in dicts if d["type"] == "rest_fallback"].count(False) == n_conns

    # the counters: in stats() (and so in the Prometheus collector)
    st = feed.stats()
    assert st["rest_events"] == len(marked)
    assert st["rest_polls"] >= len(rest_bbo) + 1
    assert st["rest_backoffs"] == 0


class _SmallBudget(BinanceSpot):
    """Binance spot with a request-weight limit of 120 per minute (the fallback may use 60)."""

    rest_weight_per_minute = 120


def test_polls_stay_within_the_weight_budget():
    # spot weights: bookTicker 2, trades 25; at most BUDGET_SHARE of 120 per minute in total
    events, feed, sim = asyncio.run(outage_run("binance", ["trades", "bbo"], 3.0, _SmallBudget))
    polls = sim.venue.rest.poll_requests
    spent = 2 * polls["bookTicker"] + 25 * polls["trades"]
    budget = feed.connections[0].fallback.budget
    assert spent == budget.spent
    assert 0 < spent <= budget.cap == 60
    # unbudgeted, the same outage polls both every 0.2 s: far more than the budget allowed
    assert polls["bookTicker"] + polls["trades"] < 2 * 3.0 / OPTS["rest_fallback_every"]
    assert [type(e) for e in events].count(RestFallbackChanged) == 2


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (418, None)])
def test_429_and_418_pause_every_poll(status, retry_after):
    def refuse(sim: Simulator) -> None:
        sim.venue.rest.poll_failures.append(SnapshotFailure(status, retry_after=retry_after))

    events, _feed, sim = asyncio.run(outage_run("binance", ["trades", "bbo"], 3.0, before=refuse))
    log = sim.venue.rest.poll_log
    k = next(i for i, (_, _, st) in enumerate(log) if st == status)
    assert k + 1 < len(log), "no poll after the refusal"
    pause = log[k + 1][0] - log[k][0]
    # Retry-After when given, else the first backoff step (1 s)
    assert pause >= (retry_after or 1.0) - 0.05, pause
    assert all(st == 200 for _, _, st in log[k + 1 :])
    assert any(type(e) is RestBBO for e in events)
    assert _feed.stats()["rest_backoffs"] >= 1


def test_weight_budget_waits_for_the_window():
    b = WeightBudget(100, share=0.5, window=60.0)
    assert b.cap == 50 and b.delay(25) == 0.0
    b.spend(25)
    b.spend(25)
    assert b.delay(1) > 59.0  # full until the first entry leaves the window
    assert b.refused(3.0) == 3.0 and b.delay(0) >= 2.9
    assert b.refused(None) == 2.0  # the second refusal in a row without Retry-After


def test_disabled_without_threshold():
    opts = ConnectionOptions(rest_fallback_after=None)
    assert opts.rest_fallback_after is None
    with pytest.raises(ValueError, match="rest_fallback_every"):
        ConnectionOptions(rest_fallback_every=0)


HELD = 3000  # recording lines published before the requests


def test_binance_rest_hooks_read_the_simulators_replies():
    # the hooks' requests against the simulator: parsed as the recording says, weights as
    # Binance documents them; a reply of another symbol or shape is an ExchangeError
    async def scenario() -> tuple[list[Any], list[Any]]:
        out = []
        async with Simulator("binanceusdm", speed="max") as sim:
            sim.hold_at(HELD)
            a = BinanceUsdm(base_url=sim.rest_url)
            polls = [a.bbo_request(SYMBOL["binanceusdm"]), a.depth_request("ETH/USDT:USDT", 20)]
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(sim.stream_url(route="/public")),
            ):  # a client: the replay runs
                await sim.wait_position(HELD, timeout=60)
                for p in polls:
                    assert p is not None
                    async with http.get(p.url, params=p.params) as r:
                        out.append(await r.read())
        return polls, out

    (bbo, depth), (bbo_body, _depth_body) = asyncio.run(scenario())
    assert (bbo.weight, depth.weight, depth.params["limit"]) == (2, 2, "20")
    a = BinanceUsdm()
    q = a.parse_bbo("ETH/USDT:USDT", bbo_body)
    lines = packaged_recording("binanceusdm").lines[:HELD]
    last = [json.loads(x)["data"] for x in lines if b"@bookTicker" in x][-1]
    assert (q.bid_price, q.ask_price, q.sequence) == (last["b"], last["a"], last["u"])
    assert q.exchange_ts == last["T"] * 1_000_000
    with pytest.raises(ExchangeError):
        a.parse_bbo("BTC/USDT:USDT", bbo_body)
    with pytest.raises(ExchangeError):
        a.parse_bbo("ETH/USDT:USDT", b"[]")


def test_sinks_take_rest_events_as_their_kind():
    # the Postgres sink stores, and the Redis bus publishes, a REST trade or BBO exactly as the
    # WebSocket event it stands for (the trades of an outage are not lost to them)
    lines = packaged_recording("binance").lines
    trade_line = next(x for x in lines if b"@trade" in x)
    ticker = next(json.loads(x)["data"] for x in lines if b"@bookTicker" in x)
    dec = core.Decoder("binance")
    (trade,) = dec.feed(trade_line)
    (bbo,) = dec.feed(next(x for x in lines if b"@bookTicker" in x))
    quote = RestQuote(ticker["b"], ticker["B"], ticker["a"], ticker["A"], int(ticker["u"]))
    rest_bbo = RestBBO(
        "binance", bbo.symbol, bbo.bid_price, bbo.bid_size, bbo.ask_price, bbo.ask_size,
        bbo.sequence, None, bbo.receive_ts, quote,
    )  # fmt: skip
    assert encode_event(RestTrade(trade)) == encode_event(trade)
    assert encode_event(rest_bbo) == encode_event(bbo)
    sink = PostgresSink("postgresql://127.0.0.1:1/none", kinds=("trades", "bbo"))
    for ev in (RestTrade(trade), rest_bbo, trade, bbo):
        sink.write(ev)
    rows = sink._buf
    assert rows["trades"][0] == rows["trades"][1] and rows["bbo"][0] == rows["bbo"][1]
    assert sink.stats()["rows_received"] == 4


class _OkxPolls(Okx):
    """OKX with a REST budget, so that its fallback polls (its recent trades: the only hook
    of the three this adapter has here)."""

    rest_weight_per_minute = 1200


def test_okx_outage_polls_trades_by_time_without_repeating_one():
    """A venue whose trade ids are not consecutive: the polls and the reconnect continue by
    trade time and id, so the delivered trades are the recording's, in order, none twice, and
    a recorded trade not delivered lies in a reported time range."""
    events, feed, _sim = asyncio.run(
        outage_run("okx", ["trades"], 3.0, adapter=_OkxPolls, symbol="BTC/USDT")
    )
    trades = [e for e in events if getattr(e, "trade_id", None) is not None]
    ids = [e.trade_id for e in trades]
    assert len(ids) == len(set(ids)), "a trade delivered twice"
    assert any(type(e) is RestTrade for e in trades), "no trade polled during the outage"
    rec = packaged_recording("okx")
    want = [
        (t["tradeId"], int(t["ts"]) * 1_000_000)
        for line in rec.lines
        if b'"channel":"trades"' in line and b'"BTC-USDT"' in line and b'"data"' in line
        for t in json.loads(line)["data"]
    ]
    order = [i for i, _ in want]
    assert [order.index(str(i)) for i in ids] == sorted(order.index(str(i)) for i in ids)
    ranges = [(e.since_ts, e.until_ts) for e in events if type(e) is TradesMissed]
    assert all(e.first_id is None for e in events if type(e) is TradesMissed)
    delivered = {str(i) for i in ids}
    last = max(order.index(str(i)) for i in ids)
    for tid, ts in want[: last + 1]:
        if tid not in delivered:
            assert any(lo <= ts <= hi for lo, hi in ranges), f"trade {tid} lost unreported"
    st = feed.stats()
    assert st["rest_polls"] > 0 and st["rest_events"] == sum(
        1 for e in trades if type(e) is RestTrade
    )
