"""The public Feed API: argument checking, subscribe/ack, callbacks, async iteration, books.

End-to-end tests run against the local simulator over real loopback WebSockets, under asyncio
and uvloop.
"""

from __future__ import annotations

import asyncio
import re

import pytest

import tickwire._core as core
from tickwire.events import Connected
from tickwire.exchanges import exchange_ids, get_adapter
from tickwire.exchanges.binance import BinanceSpot
from tickwire.feed import Feed
from tickwire.feed import run as tw_run
from tickwire.simulator import Simulator

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback

SYMBOL = {"binance": "ETH/USDT", "binanceusdm": "ETH/USDT:USDT"}


def _uvloop_run(coro):
    import uvloop

    return uvloop.run(coro)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    return asyncio.run if request.param == "asyncio" else _uvloop_run


# --- bad arguments: clear errors before any connection ----------------------------------------
@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (("deribit", ["ETH/USDT"]), {}, "unknown exchange 'deribit'"),
        (("binance", ["ETH/USDT:USDT"]), {}, "'ETH/USDT:USDT' is a derivatives symbol"),
        (("binanceusdm", ["ETH/USDT"]), {}, "'ETH/USDT' is a spot symbol"),
        (("binanceusdm", ["ETH/USDT:BTC"]), {}, "unknown symbol 'ETH/USDT:BTC'"),
        (("binance", ["eth/usdt"]), {}, "did you mean 'ETH/USDT'"),
        (("binance", ["ETHUSDT"]), {}, "unknown symbol 'ETHUSDT'"),
        (("binance", []), {}, "symbols must not be empty"),
        (("binance", ["ETH/USDT"], ["book", "orders"]), {}, "private channels need credentials"),
        (("binance", ["ETH/USDT"], ["book", "positions"]), {}, "'positions'"),
        (
            ("binance", ["ETH/USDT"]),
            {"options": {"book_stream": "depth@0ms"}},
            "book_stream 'depth@0ms'",
        ),
        (
            ("binance", ["ETH/USDT"]),
            {"options": {"colour": 1}},
            "unknown binance option(s) ['colour']",
        ),
        (("binance", ["ETH/USDT"]), {"on_trade": 42}, "on_trade must be callable"),
        (("binance", ["ETH/USDT"]), {"stale_after": 0}, "stale_after must be > 0"),
        (("binance", ["ETH/USDT"]), {"urls": {"wss": "x"}}, "unknown urls key(s) ['wss']"),
        (
            (BinanceSpot(), ["ETH/USDT"]),
            {"base_url": "http://127.0.0.1:1"},
            "base_url, urls and options belong to the adapter",
        ),
        ((BinanceSpot(), ["ETH/USDT:USDT"]), {}, "'ETH/USDT:USDT' is a derivatives symbol"),
    ],
)
def test_bad_arguments_are_rejected_by_name(args, kwargs, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        Feed(*args, **kwargs)  # no event loop needed: nothing is opened


def test_registry_and_adapter_urls():
    ids = exchange_ids()
    assert ids == sorted(ids) and {"binance", "binanceusdm"} <= set(ids)
    spot = get_adapter("binance")
    assert spot.ws_url("stream") == "wss://stream.binance.com:9443/stream"
    assert spot.snapshot_request("ETH/USDT") == (
        "https://api.binance.com/api/v3/depth",
        {"symbol": "ETHUSDT", "limit": "1000"},
    )
    usdm = get_adapter("binanceusdm")
    subs = {
        s.channel: s
        for s in usdm.subscriptions(["ETH/USDT:USDT"], ["book", "trades", "bbo", "candles"])
    }
    assert (subs["book"].route, subs["book"].stream) == ("public", "ethusdt@depth@0ms")
    assert (subs["bbo"].route, subs["bbo"].stream) == ("public", "ethusdt@bookTicker")
    assert (subs["trades"].route, subs["trades"].stream) == ("market", "ethusdt@trade")
    assert (subs["candles"].route, subs["candles"].stream) == ("market", "ethusdt@kline_1m")
    assert usdm.ws_url("public") == "wss://fstream.binance.com/public/stream"
    assert usdm.ws_url("market") == "wss://fstream.binance.com/market/stream"
    assert usdm.snapshot_request("ETH/USDT:USDT")[0] == "https://fapi.binance.com/fapi/v1/depth"
    sim = get_adapter("binanceusdm", base_url="http://127.0.0.1:9999/")
    assert sim.ws_url("public") == "ws://127.0.0.1:9999/public/stream"
    assert sim.snapshot_request("ETH/USDT:USDT")[0] == "http://127.0.0.1:9999/fapi/v1/depth"
    assert spot.subscribe_message(7, ["ethusdt@trade"]) == (
        b'{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":7}'
    )


def test_book_of_unknown_symbol_or_channel():
    feed = Feed("binance", ["ETH/USDT"], ["trades"])
    with pytest.raises(ValueError, match="no 'book' channel"):
        feed.book("ETH/USDT")
    with pytest.raises(ValueError, match="'BTC/USDT' is not in this feed"):
        feed.book("BTC/USDT")


def test_run_uses_uvloop():
    async def kind():
        return type(asyncio.get_running_loop()).__module__

    assert tw_run(kind()).startswith("uvloop")


# --- live path against the simulator ----------------------------------------------------------
async def _drain(feed):
    return [e async for e in feed]


@pytest.mark.parametrize("market", ["binance", "binanceusdm"])
def test_subscribe_ack_and_async_iteration(run, market):
    async def scenario():
        async with Simulator(market, speed="max") as sim:
            sym = SYMBOL[market]
            seen: dict[type, int] = {}
            async with Feed(market, sym, ["book", "trades", "bbo"], base_url=sim.rest_url) as feed:
                # acks received: every stream is subscribed on the server, on the right route
                routes = {c.route: list(c.subscriptions) for c in sim.connections}
                want = {("" if s.route == "stream" else "/" + s.route) for s in feed.subscriptions}
                assert set(routes) == want
                assert sorted(s for streams in routes.values() for s in streams) == sorted(
                    s.stream for s in feed.subscriptions
                )
                assert feed.connected
                async for ev in feed:
                    seen[type(ev)] = seen.get(type(ev), 0) + 1
                    if seen.get(core.BookUpdate, 0) >= 50 and seen.get(core.Trade, 0) >= 50:
                        break
                book = feed.book(sym)
                assert book.synced and book.best_bid[0] < book.best_ask[0]
                bids = book.bids(10)
                assert bids.shape == (10, 2) and (bids[:-1, 0] > bids[1:, 0]).all()
                st = feed.stats()
                assert st["control_sent"] == len(routes) and st["control_errors"] == 0
            assert seen[Connected] == len(routes)
            assert seen.get(core.BBO, 0) > 0
            assert not feed.connected
            # once closed, iteration drains what is left and ends
            leftover = await asyncio.wait_for(_drain(feed), 5)
            assert all(not isinstance(e, Connected) for e in leftover)

    run(scenario())


def test_callbacks_sync_and_async_errors_are_contained(run):
    async def scenario():
        async with Simulator("binance", speed="max") as sim:
            trades, bbos, books, async_trades = [], [], [], []

            def on_trade(ev):
                trades.append(ev)
                if len(trades) == 3:
                    raise RuntimeError("bot bug")  # logged and counted, never fatal

            async def on_trade_async(ev):
                async_trades.append(ev)

            feed = Feed(
                "binance",
                ["ETH/USDT"],
                ["book", "trades", "bbo"],
                base_url=sim.rest_url,
                on_trade=on_trade,
                on_bbo=bbos.append,
                on_book=books.append,
                on_event=None,
            )
            async with feed:
                await sim.wait_finished(30)
                await asyncio.sleep(0.2)
                assert feed.stats()["callback_errors"] == 1
                assert len(trades) == 6106 and len(bbos) == 24077 and books
                assert all(isinstance(e, core.Trade) for e in trades)
                # with callbacks, nothing is queued until iteration starts
                assert feed.stats()["queued"] == 0
                lat = [t.receive_ts for t in trades]
                assert lat == sorted(lat)
            feed2 = Feed(
                "binance", ["ETH/USDT"], ["trades"], base_url=sim.rest_url, on_trade=on_trade_async
            )
            await sim.rewind()
            async with feed2:
                await sim.wait_position(2000, timeout=30)
                await asyncio.sleep(0.2)
            assert async_trades

    run(scenario())


def test_two_feeds_one_loop(run):
    async def scenario():
        async with (
            Simulator("binance", speed="max") as spot,
            Simulator("binanceusdm", speed="max") as usdm,
        ):
            got = {"binance": 0, "binanceusdm": 0}

            def count(ev):
                if isinstance(ev, core.Trade):
                    got[ev.exchange] += 1

            async with (
                Feed("binance", "ETH/USDT", "trades", base_url=spot.rest_url, on_trade=count),
                Feed(
                    "binanceusdm", "ETH/USDT:USDT", "trades", base_url=usdm.rest_url, on_trade=count
                ),
            ):
                await asyncio.gather(spot.wait_finished(30), usdm.wait_finished(30))
                await asyncio.sleep(0.2)
            assert got["binance"] > 0 and got["binanceusdm"] > 0

    run(scenario())
