"""The REST fallback and the candle backfill on the venues beyond Binance, against the simulator.

Per venue (``VENUES``): a long outage (the feed's WebSocket goes through a TCP relay that the
test cuts while the simulator keeps replaying and serving REST) must switch the feed to REST
after ``rest_fallback_after``: BBOs polled from the venue's ticker and top-N books polled from
its depth request, marked ``source == "rest"`` and equal to what the recording had published,
``RestFallbackChanged`` both ways, and the polls stop once the WebSocket is back in sync. The
candle backfill (``tw.Cache``) reads the venue's candles request at a held replay position and
must give the recorded candles published by then, the newest one as the live candle.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

import tickwire as tw
from test_rest_fallback import OPTS, Relay
from tickwire.connection import ConnectionOptions
from tickwire.connection.fallback import RestBBO, RestBookUpdate, RestFallbackChanged
from tickwire.events import Connected, Disconnected
from tickwire.exceptions import ExchangeError
from tickwire.exchanges import get_adapter
from tickwire.feed import Feed
from tickwire.replay import event_to_dict
from tickwire.simulator import Recording, Simulator, packaged_recording

pytestmark = pytest.mark.e2e  # the simulator over loopback

TIMEOUT = 20


def _bybit_bbos(rec: Recording, symbol: str) -> set[tuple[str, str]]:
    """(bid1Price, ask1Price) of every state of ``tickers.<symbol>`` (deltas merged)."""
    state: dict[str, Any] = {}
    out = set()
    for line in rec.streams[f"tickers.{symbol}"].lines:
        state.update(rec.parsed(line)["data"])
        if "bid1Price" in state:
            out.add((state["bid1Price"], state["ask1Price"]))
    return out


def _okx_bbos(rec: Recording, inst: str) -> set[tuple[str, str]]:
    """(bidPx, askPx) of every recorded ``tickers`` item of ``inst``."""
    return {
        (d["bidPx"], d["askPx"])
        for line in rec.streams[f"tickers:{inst}"].lines
        for d in rec.parsed(line)["data"]
    }


def _gate_prices(rec: Recording, pair: str) -> tuple[set[str], set[str]]:
    """Every bid and every ask price of ``pair``'s recorded book: its REST snapshot and the
    ``order_book_update`` pushes (spot rows ``[p, s]``, futures ``{"p","s"}``)."""
    bids: set[str] = set()
    asks: set[str] = set()

    def add(rows: list[Any], into: set[str]) -> None:
        into.update(r["p"] if isinstance(r, dict) else r[0] for r in rows)

    snap = json.loads(rec.snapshots[pair].body)
    add(snap["bids"], bids)
    add(snap["asks"], asks)
    for name, sd in rec.streams.items():
        if name.endswith(f"order_book_update:{pair}"):
            for line in sd.lines:
                result = rec.parsed(line)["result"]
                add(result.get("b", []), bids)
                add(result.get("a", []), asks)
    return bids, asks


def _gate_bbos(rec: Recording, pair: str) -> set[tuple[str, str]]:
    """Every (bid, ask) pair of prices the recorded book of ``pair`` ever held."""
    bids, asks = _gate_prices(rec, pair)
    return {(b, a) for b in bids for a in asks}


def _gate_candles(rec: Recording, stream: str, upto: int) -> dict[int, tuple[str, ...]]:
    """Start ms -> (o, h, l, c, v) of the latest state of each recorded candlestick."""
    out: dict[int, tuple[str, ...]] = {}
    for line in rec.streams[stream].lines:
        if line < upto:
            c = rec.parsed(line)["result"]
            out[int(c["t"]) * 1000] = tuple(c[f] for f in "ohlcv")
    return out


def _bitget_bbos(rec: Recording, inst: str) -> set[tuple[str, str]]:
    """Every (bid, ask) pair of prices the recorded ``books`` frames of ``inst`` ever held
    (the simulator's REST ticker is the top of that book: the v1 tickers have no sizes)."""
    bids: set[str] = set()
    asks: set[str] = set()
    for line in rec.streams[f"books:{inst}"].lines:
        for item in rec.parsed(line)["data"]:
            bids.update(r[0] for r in item["bids"])
            asks.update(r[0] for r in item["asks"])
    return {(b, a) for b in bids for a in asks}


def _bitget_candles(rec: Recording, stream: str, upto: int) -> dict[int, tuple[str, ...]]:
    """Start ms -> (o, h, l, c, base volume) of the latest state of each recorded candle."""
    out: dict[int, tuple[str, ...]] = {}
    for line in rec.streams[stream].lines:
        if line < upto:
            for row in rec.parsed(line)["data"]:
                out[int(row[0])] = tuple(row[1:6])
    return out


def _kucoin_bbos(rec: Recording, symbol: str) -> set[tuple[str, str]]:
    """(bestBid, bestAsk) of every recorded ``/market/ticker`` push of ``symbol``."""
    return {
        (d["bestBid"], d["bestAsk"])
        for line in rec.streams[f"/market/ticker:{symbol}"].lines
        for d in (rec.parsed(line)["data"],)
    }


def _kucoin_candles(rec: Recording, stream: str, upto: int) -> dict[int, tuple[str, ...]]:
    """Start ms -> (o, h, l, c, v) of each recorded candle (rows ``[t s, o, c, h, l, v, ..]``)."""
    out: dict[int, tuple[str, ...]] = {}
    for line in rec.streams[stream].lines:
        if line < upto:
            r = rec.parsed(line)["data"]["candles"]
            out[int(r[0]) * 1000] = (r[1], r[3], r[4], r[2], r[5])
    return out


def _kucoin_relay(sim: Simulator, relay_ws: str) -> None:
    """KuCoin's WebSocket server is named by the bullet answer: name the relay there."""
    sim.venue.bullet_ws_base = relay_ws


def _hyperliquid_bbos(rec: Recording, coin: str) -> set[tuple[str, str]]:
    """(best bid px, best ask px) of every recorded ``l2Book`` push of ``coin``."""
    out = set()
    for line in rec.streams[f"l2Book:{coin}"].lines:
        bids, asks = rec.parsed(line)["data"]["levels"]
        out.add((bids[0]["px"], asks[0]["px"]))
    return out


def _mexc_bbos(rec: Recording, symbol: str) -> set[tuple[str, str]]:
    """Every (bid, ask) pair of prices the recorded contract depth pushes of ``symbol`` hold
    (``push.depth.full`` and ``push.depth``; prices are JSON numbers)."""
    bids: set[str] = set()
    asks: set[str] = set()
    for name in (f"sub.depth.full:{symbol}", f"sub.depth:{symbol}"):
        for line in rec.streams[name].lines:
            data = rec.parsed(line)["data"]
            bids.update(str(r[0]) for r in data["bids"])
            asks.update(str(r[0]) for r in data["asks"])
    return {(b, a) for b in bids for a in asks}


def _kraken_bbos(rec: Recording, pair: str) -> set[tuple[str, str]]:
    """Every (bid, ask) pair of prices the recorded v1 ``book`` frames of ``pair`` hold
    (``as``/``bs`` snapshots, ``a``/``b`` updates)."""
    bids: set[str] = set()
    asks: set[str] = set()
    for line in rec.streams[f"book:{pair}"].lines:
        for part in rec.parsed(line)[1:-2]:
            for key, into in (("as", asks), ("a", asks), ("bs", bids), ("b", bids)):
                into.update(r[0] for r in part.get(key, ()))
    return {(b, a) for b in bids for a in asks}


def _coinbase_bbos(rec: Recording, product: str) -> set[tuple[str, str]]:
    """Every (bid, ask) pair of prices the recorded ``level2`` messages of ``product`` hold
    (``snapshot`` rows, ``l2update`` changes)."""
    bids: set[str] = set()
    asks: set[str] = set()
    for line in rec.streams[f"level2:{product}"].lines:
        m = rec.parsed(line)
        bids.update(r[0] for r in m.get("bids", ()))
        asks.update(r[0] for r in m.get("asks", ()))
        for side, price, _ in m.get("changes", ()):
            (bids if side == "buy" else asks).add(price)
    return {(b, a) for b in bids for a in asks}


def _bybit_candles(rec: Recording, stream: str, upto: int) -> dict[int, tuple[str, ...]]:
    """Start ms -> (o, h, l, c, volume) of the latest state of each recorded candle."""
    out: dict[int, tuple[str, ...]] = {}
    for line in rec.streams[stream].lines:
        if line < upto:
            for k in rec.parsed(line)["data"]:
                out[int(k["start"])] = tuple(
                    k[f] for f in ("open", "high", "low", "close", "volume")
                )
    return out


@dataclass(frozen=True)
class Venue:
    """One venue under test: the simulator market, the feed's exchange id, the unified symbol
    and its market id, the recorded BBOs REST may report, and (where the recording has
    candles) the candle stream and reader."""

    market: str
    exchange: str
    symbol: str
    market_id: str
    bbos: Callable[[Recording, str], set[tuple[str, str]]]
    candle_stream: str | None = None
    candles: Callable[[Recording, str, int], dict[int, tuple[str, ...]]] | None = None
    candle_symbol: str | None = None  # the candles' symbol where not ``symbol``
    speed: float = 2
    bbo_names_symbol: bool = True  # the BBO reply names its symbol (Gate's order book: no)
    relay: Callable[[Simulator, str], None] | None = None  # routes the WebSocket via the relay
    # the WebSocket channels of the outage run: BBO is polled only for a subscribed ``bbo``
    # (Hyperliquid's simulator serves no ``bbo`` stream; MEXC contracts have none)
    channels: tuple[str, ...] = ("book", "bbo")
    other_symbol: str = "ETH/USDT"  # a symbol a reply of ``symbol`` is not about
    depth_capped: bool = True  # the depth request cuts the book (Coinbase's level 2: whole)


VENUES = {
    "bybit": Venue(
        "bybit-linear",
        "bybit",
        "BTC/USDT:USDT",
        "BTCUSDT",
        _bybit_bbos,
        "kline.1.BTCUSDT",
        _bybit_candles,
        other_symbol="ETH/USDT:USDT",
    ),
    "okx": Venue("okx", "okx", "BTC/USDT", "BTC-USDT", _okx_bbos, speed=1),
    "bitget": Venue(
        "bitget",
        "bitget",
        "EOS/USDT",
        "EOSUSDT",
        _bitget_bbos,
        "candle1m:EOSUSDT",
        _bitget_candles,
    ),
    "kucoin": Venue(
        "kucoin",
        "kucoin",
        "BCHSV/USDT",
        "BCHSV-USDT",
        _kucoin_bbos,
        "/market/candles:DAPPT-BTC_1min",
        _kucoin_candles,
        candle_symbol="DAPPT/BTC",
        bbo_names_symbol=False,
        relay=_kucoin_relay,
    ),
    "hyperliquid": Venue(
        "hyperliquid",
        "hyperliquid",
        "BTC/USDC:USDC",
        "BTC",
        _hyperliquid_bbos,
        channels=("book",),
        other_symbol="ETH/USDC:USDC",
    ),
    "mexc": Venue(
        "mexc-linear",
        "mexc",
        "BTC/USDT:USDT",
        "BTC_USDT",
        _mexc_bbos,
        bbo_names_symbol=False,
        channels=("book",),
    ),
    "kraken": Venue(
        "kraken",
        "kraken",
        "OMG/USD",
        "OMG/USD",
        _kraken_bbos,
        bbo_names_symbol=False,
        channels=("book",),
    ),
    "coinbaseexchange": Venue(
        "coinbaseexchange",
        "coinbaseexchange",
        "BAND/GBP",
        "BAND-GBP",
        _coinbase_bbos,
        bbo_names_symbol=False,
        depth_capped=False,
    ),
    "gateio": Venue(
        "gateio",
        "gateio",
        "OMG/USDT",
        "OMG_USDT",
        _gate_bbos,
        "spot.candlesticks:DIS_USDT",
        _gate_candles,
        candle_symbol="DIS/USDT",
        bbo_names_symbol=False,
    ),
}


async def outage_run(v: Venue, outage: float) -> tuple[list[Any], Feed, Simulator]:
    """A ``book`` + ``bbo`` feed through the relay: 1.5 s live, ``outage`` s cut, then live
    until every fallback stopped (and 1 s more)."""
    async with Simulator(v.market, speed=v.speed) as sim:
        host, port = sim.rest_url.removeprefix("http://").split(":")
        relay = Relay(host, int(port))
        relay_port = await relay.start()
        events: list[Any] = []
        if v.relay is not None:
            v.relay(sim, f"ws://127.0.0.1:{relay_port}")
        feed = Feed(
            v.exchange,
            [v.symbol],
            list(v.channels),
            urls={"ws": f"ws://127.0.0.1:{relay_port}", "rest": sim.rest_url},
            connection_options=ConnectionOptions(**OPTS),
            on_event=events.append,
            validate_symbols=False,
        )
        try:
            async with feed:
                await asyncio.sleep(1.5)
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


@pytest.mark.parametrize("name", sorted(VENUES))
def test_long_outage_polls_bbo_and_book_over_rest_then_switches_back(name):
    v = VENUES[name]
    events, feed, sim = asyncio.run(outage_run(v, 3.0))
    n_conns = len(feed.connections)
    switches = [e for e in events if type(e) is RestFallbackChanged]
    assert [e.active for e in switches].count(True) == n_conns, switches
    assert [e.active for e in switches].count(False) == n_conns, switches
    assert all(e.exchange == v.exchange for e in switches)
    first_on = events.index(next(e for e in switches if e.active))
    last_off = events.index([e for e in switches if not e.active][-1])
    assert any(type(e) is Disconnected for e in events[:first_on])
    assert any(type(e) is Connected for e in events[first_on:last_off])
    assert all(e.reason == "websocket back in sync" for e in switches if not e.active)

    # BBO: polled during the outage only, each one a best bid and ask the recording published
    rest_bbo = [e for e in events if type(e) is RestBBO]
    assert bool(rest_bbo) == ("bbo" in v.channels), "no BBO polled during the outage"
    recorded = v.bbos(sim.recording, v.market_id)
    for e in rest_bbo:
        assert e.source == "rest" and e.symbol == v.symbol and e.exchange == v.exchange
        assert (e.quote.bid_price, e.quote.ask_price) in recorded
        assert e.bid_price < e.ask_price
        assert e.decimal("ask_price") == Decimal(e.quote.ask_price)
        assert first_on < events.index(e) < last_off
    # continuous while polling: no hole longer than a poll interval plus slack
    ts = [e.receive_ts for e in rest_bbo]
    if len(ts) > 1:
        worst = max(b - a for a, b in itertools.pairwise(ts)) / 1e9
        assert worst < 2 * OPTS["rest_fallback_every"] + 0.5, worst

    # the book: REST snapshots meanwhile (the fallback's own decoder), the WebSocket's book in
    # sync at the end
    books = [e for e in events if type(e) is RestBookUpdate]
    assert books and all(e.symbol == v.symbol and e.sequence for e in books)
    assert all(first_on < events.index(e) < last_off for e in books)
    assert feed.book(v.symbol).synced
    fb = [c.fallback for c in feed.connections]
    assert sum(f.episodes for f in fb) == n_conns and not any(f.active for f in fb)
    assert sum(f.errors for f in fb) == 0
    assert sim.venue.market_requests, "the simulator answered no market request"

    dicts = [event_to_dict(e, 5, feed) for e in events]
    json.dumps(dicts)
    marked = [d for d in dicts if d.get("source") == "rest"]
    assert {d["type"] for d in marked} == {"bbo", "book"} & set(v.channels)


@pytest.mark.parametrize("name", sorted(n for n, v in VENUES.items() if v.candles is not None))
async def test_candle_backfill_gives_the_recorded_candles(name):
    v = VENUES[name]
    assert v.candle_stream is not None and v.candles is not None
    rec = packaged_recording(v.market)
    lines = rec.streams[v.candle_stream].lines
    total = len(v.candles(rec, v.candle_stream, len(rec.lines)))
    # held once the recording's third candle opened (or its last one, if fewer): the ones
    # before it are closed, the newest one is live
    hold = next(
        n + 1 for n in lines if len(v.candles(rec, v.candle_stream, n + 1)) >= min(3, total)
    )
    want = v.candles(rec, v.candle_stream, hold)
    sym = v.candle_symbol or v.symbol
    async with Simulator(v.market, speed="max") as sim, aiohttp.ClientSession() as http:
        sim.hold_at(hold)
        ws = await http.ws_connect(sim.stream_url(v.candle_stream))
        await sim.wait_position(hold, TIMEOUT)
        feed = tw.Feed(v.exchange, [sym], ["candles"], base_url=sim.rest_url)
        cache = tw.Cache(feed)
        async with feed:
            await cache.ready()
            got = cache.candles(sym, "1m")
            *old, newest = sorted(want)
            old = old[-cache.capacity :]  # a request asks for the ring's size and the open one
            assert list(got.start_ts) == [t * 1_000_000 for t in old]
            rows = list(zip(got.open, got.high, got.low, got.close, got.volume, strict=True))
            assert rows == [tuple(float(x) for x in want[t]) for t in old]
            lv = cache.live_candle(sym)
            assert lv is not None and lv.start_ts == newest * 1_000_000
            assert lv.close == float(want[newest][3])
            assert cache.backfill_errors == 0 and cache.backfilled == len(old) + 1
        await ws.close()
        assert sum(sim.venue.market_requests.values()) >= 1


@pytest.mark.parametrize("name", sorted(VENUES))
async def test_rest_hooks_read_the_simulators_replies(name):
    # each hook's request against the simulator at a held position: the BBO equals the last
    # one the recording published, the depth body loads into a decoder, an error body or one of
    # another symbol is an ExchangeError
    v = VENUES[name]
    rec = packaged_recording(v.market)
    held = len(rec.lines) // 2
    async with Simulator(v.market, speed="max") as sim, aiohttp.ClientSession() as http:
        sim.hold_at(held)
        stream = next(k for k in rec.streams if v.market_id in k)
        ws = await http.ws_connect(sim.stream_url(stream))
        await sim.wait_position(held, TIMEOUT)
        a = get_adapter(v.exchange, base_url=sim.rest_url)
        bodies = []
        for poll in (a.bbo_request(v.symbol), a.depth_request(v.symbol, 20)):
            assert poll is not None and poll.weight >= 1
            method = "GET" if poll.json is None else "POST"
            async with http.request(method, poll.url, params=poll.params, json=poll.json) as r:
                bodies.append(await r.read())
        req = a.candles_request(v.symbol, 5)
        assert req is not None or v.candles is None  # (OKX asks though nothing is recorded)
        candles_body = b""
        if req is not None:
            async with http.get(req[0], params=req[1]) as r:
                candles_body = await r.read()
        await ws.close()
    bbo_body, depth_body = bodies
    q = a.parse_bbo(v.symbol, bbo_body)
    assert (q.bid_price, q.ask_price) in v.bbos(rec, v.market_id)
    assert a.rest_weight_per_minute > 0
    dec = tw.Decoder(a.decoder_id, market=a.decoder_market(a.market_of(v.symbol)))
    dec.register(v.symbol)
    updates = dec.apply_snapshot(v.symbol, depth_body, 1)
    assert len(updates) == 1 and updates[0].sequence
    book = dec.book(v.symbol)
    most = 20 if v.depth_capped else 10_000
    assert 0 < len(book.bids(10_000)) <= most and 0 < len(book.asks(10_000)) <= most
    assert not book.crossed
    top = book.exact_top()
    if req is not None:
        assert isinstance(a.parse_candles_of(v.symbol, candles_body), list)
        with pytest.raises(ExchangeError):
            a.parse_candles(b"{}")
    if v.bbo_names_symbol:
        with pytest.raises(ExchangeError):
            a.parse_bbo(v.other_symbol, bbo_body)
    with pytest.raises(ExchangeError):
        a.parse_bbo(v.symbol, b"[]")
    # a malformed depth body changes nothing and is a FrameError
    with pytest.raises(tw.FrameError):
        dec.apply_snapshot(v.symbol, depth_body[: len(depth_body) // 2], 2)
    assert dec.book(v.symbol).exact_top() == top
