"""Feed.start checks the symbols against the exchange's own list (REST exchangeInfo) before any
WebSocket connects; against the simulator over real loopback."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest

import tickwire.feed as feedmod
from tickwire.exchanges import Adapter, clear_instruments_cache
from tickwire.exchanges.binance import BinanceUsdm
from tickwire.feed import Feed
from tickwire.simulator import Simulator, ThreadedSimulator
from tickwire.simulator.venues.binance import split_market_id

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback

KNOWN = {"binance": "ETH/USDT", "binanceusdm": "ETH/USDT:USDT"}
UNKNOWN = {"binance": "FOO/USDT", "binanceusdm": "FOO/USDT:USDT"}


@pytest.mark.parametrize("market", ["binance", "binanceusdm"])
async def test_unknown_symbol_is_rejected_before_any_connection(market):
    async with Simulator(market, speed="max") as sim:
        feed = Feed(
            market, [KNOWN[market], UNKNOWN[market]], ["book", "trades"], base_url=sim.rest_url
        )
        with pytest.raises(ValueError, match=r"^unknown symbol") as ei:
            await feed.start()
        assert str(ei.value).startswith(
            f"unknown symbol {UNKNOWN[market]!r} on {market}: FOOUSDT is not listed"
        )
        assert KNOWN[market] not in str(ei.value)
        assert sim.total_connections == 0 and sim.rest_requests == 0
        assert feed._http_session is None or feed._http_session.closed


async def test_every_unknown_symbol_is_named():
    async with Simulator("binance", speed="max") as sim:
        feed = Feed(
            "binance",
            ["FOO/USDT", "ETH/USDT", "BAR/BTC", "ETHU/SDT"],
            "trades",
            base_url=sim.rest_url,
        )
        with pytest.raises(ValueError, match=r"^unknown symbols") as ei:
            await feed.start()
        msg = str(ei.value)
        assert msg.startswith("unknown symbols on binance: ")
        assert (
            "'FOO/USDT' (FOOUSDT is not listed" in msg and "'BAR/BTC' (BARBTC is not listed" in msg
        )
        assert "'ETHU/SDT' (ETHUSDT is 'ETH/USDT')" in msg  # listed, but under other assets
        assert "'ETH/USDT' (" not in msg
        # spot fails the whole symbols= request on one unknown id: the list was split and re-asked
        assert sim.exchange_info_requests > 1 and sim.total_connections == 0


async def test_a_market_that_is_not_trading_is_rejected():
    async with Simulator("binanceusdm", speed="max", symbol_status={"ETHUSDT": "SETTLING"}) as sim:
        with pytest.raises(
            ValueError,
            match="'ETH/USDT:USDT' on binanceusdm: ETHUSDT is listed with "
            "status 'SETTLING', not 'TRADING'",
        ):
            await Feed("binanceusdm", "ETH/USDT:USDT", "trades", base_url=sim.rest_url).start()
        assert sim.total_connections == 0


@pytest.mark.parametrize("market", ["binance", "binanceusdm"])
async def test_known_symbol_starts_after_one_lookup(market):
    async with (
        Simulator(market, speed="max") as sim,
        Feed(market, KNOWN[market], ["book", "trades"], base_url=sim.rest_url) as feed,
    ):
        assert feed.connected and feed.book(KNOWN[market]).synced
        assert sim.exchange_info_requests == 1


async def test_validate_symbols_false_skips_the_lookup():
    async with Simulator("binance", speed="max") as sim:
        async with Feed(
            "binance", "FOO/USDT", "trades", base_url=sim.rest_url, validate_symbols=False
        ) as feed:
            assert feed.connected  # Binance acks a well-formed unknown stream, then sends nothing
            assert list(sim.connections[0].subscriptions) == ["foousdt@trade"]
        assert sim.exchange_info_requests == 0


async def test_unreachable_symbol_list_warns_and_starts(caplog):
    async with Simulator("binance", speed="max") as sim:
        closed = Simulator("binance")
        await closed.start()
        rest = closed.rest_url
        await closed.stop()  # nothing listens there any more
        with caplog.at_level(logging.WARNING, logger="tickwire.feed"):
            async with Feed(
                "binance", "ETH/USDT", "trades", urls={"ws": sim.ws_url, "rest": rest}
            ) as feed:
                assert feed.connected
        assert (
            "could not check symbols ETH/USDT" in caplog.text
            and "starting without the check" in caplog.text
        )


async def test_symbol_list_http_error_warns_and_starts(caplog):
    async with Simulator("binance", speed="max", exchange_info_status=503) as sim:
        with caplog.at_level(logging.WARNING, logger="tickwire.feed"):
            async with Feed(
                "binance", "ETH/USDT", ["book", "trades"], base_url=sim.rest_url
            ) as feed:
                assert feed.connected and feed.book("ETH/USDT").synced
        assert "HTTP 503" in caplog.text and sim.exchange_info_requests == 1


async def test_symbol_list_without_answer_times_out_and_starts(caplog, monkeypatch):
    held = []
    silent = await asyncio.start_server(lambda _r, w: held.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    monkeypatch.setattr(feedmod, "SYMBOL_CHECK_TIMEOUT", 0.3)
    try:
        async with Simulator("binanceusdm", speed="max") as sim:
            with caplog.at_level(logging.WARNING, logger="tickwire.feed"):
                async with Feed(
                    "binanceusdm",
                    "ETH/USDT:USDT",
                    "trades",
                    urls={"ws": sim.ws_url, "rest": f"http://127.0.0.1:{port}"},
                ) as feed:
                    assert feed.connected
            assert "no answer within 0.3 s" in caplog.text
    finally:
        for w in held:
            w.close()
        silent.close()
        await silent.wait_closed()


def test_stream_command_reports_an_unknown_symbol_in_one_line():
    with ThreadedSimulator("binance", speed="max") as sim:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tickwire.cli",
                "stream",
                "binance",
                "FOO/USDT",
                "--base-url",
                sim.rest_url,
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert sim.total_connections == 0
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.decode().splitlines() == [
        "Error: unknown symbol 'FOO/USDT' on binance: FOOUSDT is not listed in /api/v3/exchangeInfo"
    ]


def test_simulator_names_assets_with_the_decoders_mapping():
    """exchangeInfo's base/quote assets come from the decoder's market id -> symbol mapping."""
    assert split_market_id("binance", "ETHUSDT") == ("ETH", "USDT")
    assert split_market_id("binance", "LRCBTC") == ("LRC", "BTC")
    assert split_market_id("binanceusdm", "BTCUSDT_250627") == ("BTC", "USDT")
    assert split_market_id("binance", "USDT") is None


# --- the generic path: the venue's instruments list, cached per process ------------------------
class _UsdmByInstruments(BinanceUsdm):
    """USD-M checked the way a venue without its own check is: the default
    ``Adapter.unavailable_symbols`` over ``fetch_instruments``, here USD-M's exchangeInfo
    parsed to instrument dicts (the simulator lists no tick or lot sizes)."""

    unavailable_symbols = Adapter.unavailable_symbols

    async def fetch_instruments(self, http, market):  # noqa: ARG002 - one market
        async with http.get(self.rest_base_url + self._info_path) as resp:
            body = await resp.json()
        return [
            {
                "market_id": e["symbol"],
                "symbol": f"{e['baseAsset']}/{e['quoteAsset']}:{e['quoteAsset']}",
                "tick_size": None,
                "lot_size": None,
                "active": e["status"] == "TRADING",
            }
            for e in body["symbols"]
        ]


async def test_instruments_reject_unknown_and_halted_symbols_and_are_cached():
    clear_instruments_cache()
    status = {"ETHUSDT": "SETTLING"}
    async with Simulator("binanceusdm", speed="max", symbol_status=status) as sim:
        adapter = _UsdmByInstruments(base_url=sim.rest_url)
        feed = Feed(adapter, ["ETH/USDT:USDT", "FOO/USDT:USDT"], "trades")
        with pytest.raises(ValueError, match=r"^unknown symbols on binanceusdm: ") as ei:
            await feed.start()
        msg = str(ei.value)
        assert (
            "'FOO/USDT:USDT' (FOOUSDT is not listed in the binanceusdm linear instruments)" in msg
        )
        assert "'ETH/USDT:USDT' (ETHUSDT is listed but not trading now)" in msg
        assert sim.total_connections == 0 and sim.exchange_info_requests == 1
        # a second feed in the same process asks nothing: the list is cached
        feed = Feed(_UsdmByInstruments(base_url=sim.rest_url), "FOO/USDT:USDT", "trades")
        with pytest.raises(ValueError, match="FOOUSDT is not listed"):
            await feed.start()
        assert sim.exchange_info_requests == 1
        listed = adapter.decoder_instruments("linear")
        assert {"market_id": "ETHUSDT", "symbol": "ETH/USDT:USDT", "tick_size": None,
                "lot_size": None} in listed  # fmt: skip
        assert all(set(i) == {"market_id", "symbol", "tick_size", "lot_size"} for i in listed)
    clear_instruments_cache()
    assert adapter.decoder_instruments("linear") == []


async def test_instruments_list_feeds_a_running_feed():
    clear_instruments_cache()
    async with Simulator("binanceusdm", speed="max") as sim:
        adapter = _UsdmByInstruments(base_url=sim.rest_url)
        async with Feed(adapter, "ETH/USDT:USDT", ["book", "trades"]) as feed:
            assert feed.connected and feed.book("ETH/USDT:USDT").synced
            assert feed.connections[0].instruments == adapter.decoder_instruments("linear")
            assert any(i["market_id"] == "ETHUSDT" for i in feed.connections[0].instruments)
        assert sim.exchange_info_requests == 1
    clear_instruments_cache()
