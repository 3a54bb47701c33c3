"""Coinbase Advanced Trade (``coinbase``) and Exchange feed (``coinbaseexchange``): the Python
decoder on the real recordings, the adapters, the simulator venues, and ``tw.Feed`` end to end
against the simulator (which replays the same recordings, tickwire/data/coinbase).

Every expected number is derived here from the recordings themselves. Neither feed has a book
checksum, so there is no checksum fault to recover from (the simulator's BadChecksum hook
returns None for Coinbase frames, tested below); the Exchange ``level2`` channel has no
sequence either, so a withheld update cannot be detected there (tested in
rust/tests/coinbase.rs), while on Advanced Trade any withheld message is a connection gap.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal
from pathlib import Path

import aiohttp
import numpy as np
import pytest

import tickwire as tw
import tickwire._core as core
from tickwire.connection.errors import SubscriptionError
from tickwire.events import GapDetected, Resynced
from tickwire.exchanges import Request, get_adapter
from tickwire.exchanges.coinbase import (
    CoinbaseAdvancedTrade,
    CoinbaseExchange,
    parse_at_products,
    parse_exchange_products,
)
from tickwire.simulator import Simulator
from tickwire.simulator.faults import Drop, ForceSnapshot

FIXTURES = Path(__file__).parent / "fixtures" / "coinbase"
AT = FIXTURES / "advanced_trade_l2data_ticker_trades_candles_heartbeats_btcusd_ethusd.jsonl"
EX = FIXTURES / "exchange_level2_ticker_matches_8products_20210417.jsonl"


def _lines(path: Path) -> list[bytes]:
    return [ln for ln in path.read_bytes().split(b"\n") if ln]


def _replay(exchange: str, lines: list[bytes]) -> tuple[tw.Decoder, list[object]]:
    d = tw.Decoder(exchange)
    events: list[object] = []
    for ln in lines:
        events.extend(d.feed(ln))
    return d, events


def _at_products(lines: list[bytes]) -> list[str]:
    return sorted(
        {e["product_id"] for ln in lines for e in json.loads(ln)["events"] if "product_id" in e}
    )


# --- the Python decoder on the recordings -------------------------------------------------------
def test_decoder_replays_advanced_trade():
    """Every frame decodes; counts of each event kind equal what the recording holds."""
    lines = _lines(AT)
    d, events = _replay("coinbase", lines)
    msgs = [json.loads(ln) for ln in lines]
    n_trades = sum(
        len(e["trades"]) for m in msgs if m["channel"] == "market_trades" for e in m["events"]
    )
    n_tickers = sum(
        len(e["tickers"]) for m in msgs if m["channel"] == "ticker" for e in m["events"]
    )
    n_candles = sum(
        len(e["candles"]) for m in msgs if m["channel"] == "candles" for e in m["events"]
    )
    n_books = sum(len(m["events"]) for m in msgs if m["channel"] == "l2_data")
    kinds = {
        k: sum(isinstance(e, k) for e in events)
        for k in (core.Trade, core.BBO, core.Candle, core.BookUpdate, core.SyncLost)
    }
    assert kinds == {
        core.Trade: n_trades,
        core.BBO: n_tickers,
        core.Candle: n_candles,
        core.BookUpdate: n_books,
        core.SyncLost: 0,
    }
    st = d.stats()
    assert (st["bad_frames"], st["gaps"], st["connection_gaps"], st["crossed_books"]) == (
        0,
        0,
        0,
        0,
    )
    assert st["heartbeats"] == sum(m["channel"] == "heartbeats" for m in msgs)
    assert d.recovery == "resubscribe"
    # trades leave oldest first, per product, with ids going up by one
    for sym in ("BTC/USD", "ETH/USD"):
        ids = [e.trade_id for e in events if isinstance(e, core.Trade) and e.symbol == sym]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
    # exact decimals: the first ticker's best bid as sent
    first = next(
        t for m in msgs if m["channel"] == "ticker" for e in m["events"] for t in e["tickers"]
    )
    bbo = next(e for e in events if isinstance(e, core.BBO))
    assert bbo.decimal("bid_price") == Decimal(first["best_bid"])


def test_decoder_replays_exchange_feed():
    lines = _lines(EX)
    d, events = _replay("coinbaseexchange", lines)
    msgs = [json.loads(ln) for ln in lines]
    st = d.stats()
    assert (st["bad_frames"], st["gaps"], st["crossed_books"]) == (0, 0, 0)
    assert st["snapshots"] == sum(m["type"] == "snapshot" for m in msgs)
    assert st["deltas_applied"] == sum(m["type"] == "l2update" for m in msgs)
    trades = [e for e in events if isinstance(e, core.Trade)]
    matches = [m for m in msgs if m["type"] in ("match", "last_match")]
    assert [t.trade_id for t in trades] == [m["trade_id"] for m in matches]
    # `side` on the wire is the maker's: the aggressor is the other one
    assert [t.side for t in trades] == ["sell" if m["side"] == "buy" else "buy" for m in matches]
    # the 2021 ticker has no sizes: no BBO is made up
    assert not any(isinstance(e, core.BBO) for e in events)


# --- adapters -----------------------------------------------------------------------------------
def test_adapters_symbols_urls_and_requests():
    at = get_adapter("coinbase")
    ex = get_adapter("coinbaseexchange")
    assert isinstance(at, CoinbaseAdvancedTrade) and isinstance(ex, CoinbaseExchange)
    assert at.ws_endpoint("ws") == "wss://advanced-trade-ws.coinbase.com/"
    assert ex.ws_endpoint("ws") == "wss://ws-feed.exchange.coinbase.com/"
    assert at.markets == ex.markets == ("spot",)
    assert at.market_id("BTC/USD") == "BTC-USD" and at.market_of("ETH/USDC") == "spot"
    for bad, needle in [
        ("BTC/USD:USD", "only spot symbols"),
        ("btc/usd", "did you mean 'BTC/USD'"),
        ("BTCUSD", "unknown symbol 'BTCUSD'"),
    ]:
        with pytest.raises(ValueError, match=needle):
            at.market_id(bad)
    with pytest.raises(ValueError, match="'candles' is not supported"):
        ex.subscriptions(["BTC/USD"], ["candles"])
    subs = at.subscriptions(["BTC/USD", "ETH/USD"], ["book", "trades"])
    assert [s.stream for s in subs] == [
        "level2:BTC-USD",
        "market_trades:BTC-USD",
        "level2:ETH-USD",
        "market_trades:ETH-USD",
    ]
    ids = iter(range(1, 100))
    reqs = at.subscribe_requests(subs, lambda: next(ids))
    payloads = [json.loads(r.payload) for r in reqs]
    # one channel per message, then heartbeats for the same products
    assert payloads == [
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "heartbeats"},
    ]
    assert [r.acks for r in reqs] == [
        frozenset({"level2:BTC-USD", "level2:ETH-USD"}),
        frozenset({"market_trades:BTC-USD", "market_trades:ETH-USD"}),
        frozenset({"heartbeats:heartbeats"}),
    ]
    # an unsubscribe is done once sent (the reply lists what remains)
    assert all(r.acks == frozenset() for r in at.unsubscribe_requests(subs, lambda: 0))
    # per-message limit
    many = at.subscriptions([f"A{i}/USD" for i in range(120)], ["book"])
    chunks = [
        json.loads(r.payload)["product_ids"] for r in at.subscribe_requests(many, lambda: 0)[:-1]
    ]
    assert [len(c) for c in chunks] == [50, 50, 20]
    assert at.keepalive() is None and ex.keepalive() is None
    # a fresh JWT per message when one is configured
    tokens = iter(["j1", "j2", "j3"])
    jat = CoinbaseAdvancedTrade(options={"jwt": lambda: next(tokens)})
    assert [json.loads(r.payload)["jwt"] for r in jat.subscribe_requests(subs[:1], lambda: 0)] == [
        "j1",
        "j2",
    ]
    # Exchange: channels list with heartbeat, acks per channel and product
    ereqs = ex.subscribe_requests(ex.subscriptions(["SKL/USD"], ["book", "bbo"]), lambda: 0)
    assert [json.loads(r.payload) for r in ereqs] == [
        {
            "type": "subscribe",
            "product_ids": ["SKL-USD"],
            "channels": ["level2_batch", "heartbeat"],
        },
        {"type": "subscribe", "product_ids": ["SKL-USD"], "channels": ["ticker", "heartbeat"]},
    ]
    assert ereqs[0] == Request(
        ereqs[0].payload,
        frozenset({"level2_batch:SKL-USD", "heartbeat:SKL-USD"}),
        ("level2_batch:SKL-USD",),
    )
    with pytest.raises(ValueError, match="book_channel"):
        CoinbaseExchange(options={"book_channel": "level3"})


def test_products_parsers_on_documented_shapes():
    """No recording of the products endpoints exists: the parsers are checked on the shapes the
    docs give (values from the docs-tier ``status`` example, moved to the REST field names)."""
    docs = [
        json.loads(ln)
        for ln in _lines(FIXTURES / "docs_tier" / "jkorf_advanced_trade_examples.jsonl")
    ]
    status = next(m for m in docs if m.get("channel") == "status")["events"][0]["products"][0]
    rest = {
        "products": [
            {
                "product_id": status["id"],
                "product_type": status["product_type"],
                "status": status["status"],
                "base_increment": status["base_increment"],
                "price_increment": status["quote_increment"],
            },
            {"product_id": "BIT-28JUN24-CDE", "product_type": "FUTURE"},
        ]
    }
    got = parse_at_products(rest)
    assert got == [
        {
            "market_id": status["id"],
            "symbol": status["id"].replace("-", "/"),
            "tick_size": status["quote_increment"],
            "lot_size": status["base_increment"],
            "active": True,
        }
    ]
    ex = parse_exchange_products(
        [
            {
                "id": status["id"],
                "quote_increment": status["quote_increment"],
                "base_increment": status["base_increment"],
                "status": "delisted",
            }
        ]
    )
    assert ex[0]["active"] is False and ex[0]["tick_size"] == status["quote_increment"]
    with pytest.raises(tw.ExchangeError):
        parse_at_products([])
    with pytest.raises(tw.ExchangeError):
        parse_exchange_products({"message": "x"})


# --- the simulator venues -----------------------------------------------------------------------
async def _ws_collect(sim: Simulator, requests: list[dict], idle: float = 1.0) -> list[dict]:
    """Send ``requests`` on a raw WebSocket and collect every message until ``idle`` s pass."""
    out: list[dict] = []
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/", max_msg_size=0) as ws:
        for r in requests:
            await ws.send_str(json.dumps(r))
        try:
            while True:
                msg = await asyncio.wait_for(ws.receive(), idle)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                out.append(json.loads(msg.data))
        except TimeoutError:
            pass
    return out


@pytest.mark.e2e
def test_simulator_numbers_each_connection_and_counts_withheld_messages():
    """sequence_num counts acks, snapshots and data per connection; a withheld message leaves
    exactly one hole (the real feed numbered it)."""
    subs = [
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": ch}
        for ch in ("level2", "ticker", "market_trades")
    ]

    async def scenario(faults):
        async with Simulator("coinbase", speed="max", faults=faults) as sim:
            got = await _ws_collect(sim, subs)
            return got, sim.connections[0].info() if sim.connections else None

    clean, _ = asyncio.run(scenario([]))
    seqs = [m["sequence_num"] for m in clean]
    assert seqs == list(range(len(seqs))) and len(seqs) > 100
    assert [m["channel"] for m in clean[:3]] == ["subscriptions"] * 3
    assert clean[2]["events"][0]["subscriptions"] == {
        "level2": ["BTC-USD", "ETH-USD"],
        "market_trades": ["BTC-USD", "ETH-USD"],
        "ticker": ["BTC-USD", "ETH-USD"],
    }
    dropped, info = asyncio.run(scenario([Drop(stream="level2:BTC-USD", skip=10)]))
    seqs = [m["sequence_num"] for m in dropped]
    holes = [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert len(holes) == 1 and holes[0][1] == holes[0][0] + 2
    assert info is not None and info["dropped"] == 1


@pytest.mark.e2e
def test_simulator_errors_in_each_venue_format():
    async def scenario(market, requests):
        async with Simulator(market, speed="max") as sim:
            return await _ws_collect(sim, requests, idle=0.5)

    bad_at = asyncio.run(
        scenario(
            "coinbase", [{"type": "subscribe", "product_ids": ["DOGE-USD"], "channel": "level2"}]
        )
    )
    assert bad_at == [{"type": "error", "message": "failure to subscribe"}]
    bad_ex = asyncio.run(
        scenario(
            "coinbaseexchange",
            [{"type": "subscribe", "product_ids": ["FOO-USD"], "channels": ["level2_batch"]}],
        )
    )
    assert bad_ex == [
        {
            "type": "error",
            "message": "Failed to subscribe",
            "reason": "FOO-USD is not a valid product",
        }
    ]
    none = asyncio.run(
        scenario("coinbaseexchange", [{"type": "subscribe", "product_ids": ["SKL-USD"]}])
    )
    assert none[0]["reason"] == "No channels provided"


@pytest.mark.e2e
def test_simulator_snapshot_on_subscribe_is_the_recorded_book():
    """A book subscribed mid-replay starts from a snapshot equal to the recording's book at
    that position (the decoder's, replaying the same lines)."""
    lines = _lines(EX)

    async def scenario():
        async with Simulator("coinbaseexchange", speed="max") as sim:
            sim.hold_at(len(lines) // 2)
            async with aiohttp.ClientSession() as s, s.ws_connect(sim.stream_url("ticker:SKL-USD")):
                # a first connection runs the replay to the middle, then a second subscribes
                await sim.wait_position(len(lines) // 2, 10)
                return await _ws_collect(
                    sim,
                    [{"type": "subscribe", "product_ids": ["SKL-USD"], "channels": ["level2"]}],
                    idle=0.5,
                )

    got = asyncio.run(scenario())
    snap = next(m for m in got if m["type"] == "snapshot")
    d, _ = _replay("coinbaseexchange", lines[: len(lines) // 2])
    mine = tw.Decoder("coinbaseexchange")
    mine.feed(json.dumps(snap).encode())
    for side in ("bids", "asks"):
        want = getattr(d.book("SKL/USD"), side)(10_000)
        assert np.array_equal(getattr(mine.book("SKL/USD"), side)(10_000), want)


# --- tw.Feed against the simulator --------------------------------------------------------------
AT_SYMBOLS = ["BTC/USD", "ETH/USD"]


async def _books_settle(
    feed: tw.Feed, ref: tw.Decoder, symbols: list[str], timeout: float = 10.0
) -> None:
    """Wait until every book of ``feed`` equals ``ref``'s (all levels); AssertionError naming
    the first that differs after ``timeout``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        diff = [
            s
            for s in symbols
            if not (
                np.array_equal(feed.book(s).bids(100_000), ref.book(s).bids(100_000))
                and np.array_equal(feed.book(s).asks(100_000), ref.book(s).asks(100_000))
            )
        ]
        if not diff:
            return
        assert loop.time() < end, f"books differ from the recording's: {diff}"
        await asyncio.sleep(0.05)


@pytest.mark.e2e
def test_feed_advanced_trade_books_equal_the_recording():
    ref, ref_events = _replay("coinbase", _lines(AT))
    n_trades = sum(isinstance(e, core.Trade) for e in ref_events)

    async def scenario():
        async with Simulator("coinbase", speed="max") as sim:
            seen: list[object] = []
            feed = tw.Feed(
                "coinbase",
                AT_SYMBOLS,
                ["book", "trades", "bbo", "candles"],
                base_url=sim.rest_url,
                on_event=seen.append,
            )
            async with feed:
                await sim.wait_finished(30)
                await _books_settle(feed, ref, AT_SYMBOLS)
                stats = feed.stats()
            return seen, stats

    seen, stats = asyncio.run(scenario())
    assert not any(isinstance(e, (GapDetected, core.SyncLost)) for e in seen)
    assert stats["control_errors"] == 0
    trades = [e for e in seen if isinstance(e, core.Trade)]
    assert trades and len(trades) <= n_trades
    assert any(isinstance(e, core.BBO) for e in seen) and any(
        isinstance(e, core.Candle) for e in seen
    )


@pytest.mark.e2e
def test_feed_advanced_trade_recovers_from_a_withheld_message():
    """A withheld ``l2_data`` update is a hole in ``sequence_num``: every book reports
    ``GapDetected(reason="connection_gap")``, resubscribes, gets a new snapshot (``Resynced``)
    and ends equal to the recording's book."""
    ref, _ = _replay("coinbase", _lines(AT))

    async def scenario():
        async with Simulator(
            "coinbase", speed="max", faults=[Drop(stream="level2:BTC-USD", skip=200)]
        ) as sim:
            seen: list[object] = []
            feed = tw.Feed(
                "coinbase", AT_SYMBOLS, ["book", "bbo"], base_url=sim.rest_url, on_event=seen.append
            )
            async with feed:
                await sim.wait_finished(30)
                await _books_settle(feed, ref, AT_SYMBOLS)
                # Resynced follows once the resync task sees the new snapshot applied
                for _ in range(200):
                    if len({e.symbol for e in seen if isinstance(e, Resynced)}) == len(AT_SYMBOLS):
                        break
                    await asyncio.sleep(0.05)
                dropped = sum(c.info()["dropped"] for c in sim.connections)
            return seen, dropped

    seen, dropped = asyncio.run(scenario())
    assert dropped == 1
    gaps = [e for e in seen if isinstance(e, GapDetected)]
    assert sorted(g.symbol for g in gaps) == AT_SYMBOLS
    assert {g.reason for g in gaps} == {"connection_gap"}
    assert all(g.received == g.expected + 1 for g in gaps)
    resynced = [e for e in seen if isinstance(e, Resynced)]
    assert sorted({r.symbol for r in resynced}) == AT_SYMBOLS


@pytest.mark.e2e
def test_feed_exchange_books_equal_the_recording():
    lines = _lines(EX)
    ref, _ = _replay("coinbaseexchange", lines)
    symbols = ["SKL/USD", "BAND/GBP"]

    async def scenario():
        async with Simulator("coinbaseexchange", speed="max") as sim:
            seen: list[object] = []
            feed = tw.Feed(
                "coinbaseexchange",
                symbols,
                ["book", "trades"],
                base_url=sim.rest_url,
                on_event=seen.append,
            )
            async with feed:
                await sim.wait_finished(30)
                await _books_settle(feed, ref, symbols)
            return seen

    seen = asyncio.run(scenario())
    assert not any(isinstance(e, GapDetected) for e in seen)
    assert any(isinstance(e, core.Trade) for e in seen)


@pytest.mark.e2e
@pytest.mark.parametrize("exchange", ["coinbase", "coinbaseexchange"])
def test_feed_takes_a_snapshot_sent_mid_stream(exchange):
    """A snapshot the venue sends unprompted (ForceSnapshot: built from the recording at that
    point) replaces the book in place: no gap, and the book still ends equal to the recording's."""
    lines = _lines(AT if exchange == "coinbase" else EX)
    ref, _ = _replay(exchange, lines)
    symbols = AT_SYMBOLS[:1] if exchange == "coinbase" else ["SKL/USD"]
    stream = "level2:" + symbols[0].replace("/", "-")

    async def scenario():
        fault = ForceSnapshot(after=50, stream=stream)  # both streams have far more
        async with Simulator(exchange, speed="max", faults=[fault]) as sim:
            seen: list[object] = []
            feed = tw.Feed(exchange, symbols, ["book"], base_url=sim.rest_url, on_event=seen.append)
            async with feed:
                await sim.wait_finished(30)
                await _books_settle(feed, ref, symbols)
                forced = sum(c.info()["snapshots_forced"] for c in sim.connections)
                snapshots = feed.stats()["decoder_snapshots"]
            return seen, forced, snapshots

    seen, forced, snapshots = asyncio.run(scenario())
    assert forced == 1 and snapshots >= 2
    assert not any(isinstance(e, GapDetected) for e in seen)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("exchange", "reason"),
    [
        ("coinbase", "failure to subscribe"),
        ("coinbaseexchange", "Failed to subscribe: DOGE-USD is not a valid product"),
    ],
)
def test_feed_bad_subscribe_is_a_subscription_error(exchange, reason):
    """A product the venue rejects (symbol checks off, so the request reaches it): the venue's
    own error text, no code (Coinbase sends none)."""

    async def scenario():
        async with Simulator(exchange, speed="max") as sim:
            feed = tw.Feed(
                exchange, ["DOGE/USD"], ["book"], base_url=sim.rest_url, validate_symbols=False
            )
            with pytest.raises(SubscriptionError) as info:
                async with feed:
                    pass
            return info.value

    err = asyncio.run(scenario())
    assert err.code is None and err.reason == reason


@pytest.mark.e2e
def test_feed_bad_symbol_channel_market_fail_before_connecting():
    async def scenario():
        async with Simulator("coinbase", speed="max") as sim:
            for args, needle in [
                (("coinbase", ["FOO/USD"], ["book"]), "FOO/USD"),  # not in the products list
                (("coinbase", ["BTC/USD:USD"], ["book"]), "only spot symbols"),
                (("coinbase", ["BTC/USD"], ["orders"]), "'orders'"),
                (("coinbaseexchange", ["BTC/USD"], ["candles"]), "channel 'candles'"),
            ]:
                with pytest.raises(ValueError, match=needle):
                    async with tw.Feed(*args, base_url=sim.rest_url):
                        pass
            return sim.total_connections

    assert asyncio.run(scenario()) == 0


def test_simulator_has_no_checksum_fault_for_coinbase():
    """Neither feed has a book checksum: the BadChecksum hook declines every frame."""
    for market, path in (("coinbase", AT), ("coinbaseexchange", EX)):
        sim = Simulator(market)
        for ln in _lines(path)[:50]:
            assert sim.venue.corrupt_checksum("level2:BTC-USD", ln) is None
