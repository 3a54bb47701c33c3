"""Live ``Feed.subscribe`` / ``Feed.unsubscribe`` against the local simulator, over real
loopback WebSockets, under asyncio and uvloop.

The replay is held at an exact recording line (``Simulator.hold_at``) while a subscription
changes, so what the feed must deliver afterwards is known from the recording itself (parsed
here with the stdlib, as in ``test_connection``): a stream added at line ``n`` delivers exactly
the recording's messages of that stream from line ``n`` on, a stream removed there exactly those
before it. Books are compared with an offline replay of the whole recording and checked with
Binance's bookTicker oracle on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

import tickwire._core as core
from conftest import (
    DEPTH_STREAM,
    MARKETS,
    SYMBOL,
    Outcome,
    assert_book_matches_recording,
    assert_one_window_lost,
    recorded_ids,
)
from tickwire.connection import ConnectionOptions, SubscriptionError
from tickwire.events import Disconnected, Resynced, TradesMissed
from tickwire.feed import Feed
from tickwire.simulator import CloseAfter, Simulator, packaged_recording

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback

FAST = ConnectionOptions(backoff_base=0.05, first_delta_wait=0.2)


def messages_before(market: str, suffix: str, line: int) -> int:
    """How many messages of the stream ending in ``suffix`` the recording has before ``line``."""
    rec = packaged_recording(market)
    return sum(1 for raw in rec.lines[:line] if json.loads(raw)["stream"].endswith(suffix))


def health(events: list[Any]) -> list[str]:
    """Connection and book health, in order (trade loss is checked on its own, by id)."""
    return [
        type(e).__name__
        for e in events
        if type(e).__module__ == "tickwire.events" and type(e) is not TradesMissed
    ]


@contextlib.contextmanager
def malformed(adapter: Any, method: str) -> Iterator[None]:
    """While inside, the requests ``adapter.<method>`` builds carry one malformed stream name
    more, which the simulator rejects (code 2) as Binance does."""
    real = getattr(adapter, method)
    setattr(adapter, method, lambda rid, streams: real(rid, [*streams, "not a stream!"]))
    try:
        yield
    finally:
        setattr(adapter, method, real)


def sim_streams(sim: Simulator) -> set[str]:
    """Every stream the simulator's open connections are subscribed to (its own state)."""
    return {name for c in sim.connections if not c.closed for name in c.subscriptions}


class Watch:
    """Records what a Feed delivers and checks Binance's oracle (DESIGN.md §5): when a BBO's
    ``sequence`` equals the book's sequence, the book's top must equal that BBO."""

    def __init__(self, market: str) -> None:
        self.sym = SYMBOL[market]
        self.events: list[Any] = []
        self.feed: Feed | None = None
        self.last_bbo: Any = None
        self.checked = 0
        self.mismatch: list[Any] = []

    def make_feed(self, sim: Simulator, market: str, channels: list[str], **kw: Any) -> Feed:
        self.feed = Feed(
            market,
            self.sym,
            channels,
            base_url=sim.rest_url,
            on_event=self.events.append,
            on_bbo=self._on_bbo,
            on_book=self._check,
            connection_options=FAST,
            **kw,
        )
        return self.feed

    def _on_bbo(self, ev: Any) -> None:
        self.last_bbo = ev
        self._check(ev)

    def _check(self, _ev: Any) -> None:
        bbo = self.last_bbo
        try:
            book = self.feed.book(self.sym)
        except (KeyError, ValueError):  # no book channel (yet, or any more)
            return
        if bbo is not None and book.synced and book.sequence == bbo.sequence:
            self.checked += 1
            if book.best_bid != (bbo.bid_price, bbo.bid_size) or book.best_ask != (
                bbo.ask_price,
                bbo.ask_size,
            ):
                self.mismatch.append((bbo, book.best_bid, book.best_ask))

    def outcome(self) -> Outcome:
        book = self.feed.book(self.sym)
        return Outcome(
            list(self.events),
            self.feed.stats(),
            book.bids(20),
            book.asks(20),
            book.synced,
            self.checked,
            self.mismatch,
        )


async def hold(sim: Simulator, line: int) -> None:
    """Put the replay exactly at ``line`` (published up to it, nothing beyond)."""
    sim.hold_at(line)
    if not sim.replay.started:
        sim.start_replay()
    await sim.wait_position(line, timeout=30)


@contextlib.asynccontextmanager
async def feed_held_at(market: str, channels: list[str], line: int):
    """A simulator replaying ``market``'s recording, a Watch and its started Feed on
    ``channels``, the replay held at ``line``: yields ``(sim, watch, feed)``."""
    async with Simulator(market, speed="max", autostart=False) as sim:
        w = Watch(market)
        async with w.make_feed(sim, market, channels) as feed:
            await hold(sim, line)
            yield sim, w, feed


async def start_at(sim: Simulator, feed: Feed, line: int) -> None:
    """Start ``feed`` (books synced) with the replay held at ``line``: the replay starts once the
    feed's connections are subscribed, so its streams start together, as in test_connection."""
    starting = asyncio.ensure_future(feed.start())
    routes = len({s.route for s in feed.subscriptions})
    while not starting.done() and not (  # noqa: ASYNC110 - polls state that no event announces
        len(sim.connections) >= routes and all(c.subscriptions for c in sim.connections)
    ):
        await asyncio.sleep(0.005)
    await hold(sim, line)
    await asyncio.wait_for(starting, 30)


async def finish(sim: Simulator, settle: float = 0.3) -> None:
    sim.resume()
    await sim.wait_finished(timeout=60)
    await asyncio.sleep(settle)


# --- (a) subscribe mid-replay -------------------------------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
def test_subscribe_book_and_bbo_mid_replay(run, market):
    sym = SYMBOL[market]
    half = len(packaged_recording(market)) // 2

    async def scenario():
        async with feed_held_at(market, ["trades"], half) as (sim, w, feed):
            await feed.subscribe(sym, ["bbo", "book"])
            # acknowledged and synced from a snapshot at the held position
            assert feed.book(sym).synced
            want = {DEPTH_STREAM[market], "ethusdt@bookTicker", "ethusdt@trade"}
            assert sim_streams(sim) == want
            assert sorted(s.channel for s in feed.subscriptions) == ["bbo", "book", "trades"]
            # spot: one connection takes all; USD-M: book and bbo need the /public route
            assert len(feed.connections) == (2 if market == "binanceusdm" else 1)
            await finish(sim)
            return w.outcome()

    out = run(scenario())
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades
    # exactly the recording's bookTickers from the replay position of the subscribe on
    assert out.bbo_ids() == bbos[messages_before(market, "@bookTicker", half) :]
    assert_book_matches_recording(out, market)
    assert out.bbo_checked > 0
    seqs = [e.sequence for e in out.of(core.BookUpdate)]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    # the first sync of a new book is not a resync; nothing was lost
    assert health(out.events) == ["Connected"] * (2 if market == "binanceusdm" else 1)
    assert out.stats["control_errors"] == 0 and out.stats["gaps"] == 0


# --- (b) unsubscribe mid-replay -----------------------------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
def test_unsubscribe_trades_mid_replay(run, market):
    sym = SYMBOL[market]
    half = len(packaged_recording(market)) // 2
    rec = packaged_recording(market)
    late_trade = next(
        raw for raw in rec.lines[half:] if json.loads(raw)["stream"] == "ethusdt@trade"
    )

    async def scenario():
        # candles keep the USD-M /market connection open once trades are gone
        async with feed_held_at(market, ["trades", "bbo", "candles"], half) as (sim, w, feed):
            trade_conn = next(c for c in feed.connections if "ethusdt@trade" in c.streams)
            await feed.unsubscribe(sym, "trades")
            acked = len(w.events)
            assert "ethusdt@trade" not in sim_streams(sim)
            assert {"ethusdt@bookTicker", "ethusdt@kline_1m"} <= sim_streams(sim)
            assert "ethusdt@trade" not in trade_conn.streams  # no reconnect resubscribes it
            assert [s.channel for s in feed.subscriptions] == ["bbo", "candles"]
            assert feed.channels == ["bbo", "candles"]
            # a trade frame still in flight after the ack, through the decoder's handlers
            for s in trade_conn._sessions:
                s.decoder.dispatch(late_trade)
            await finish(sim)
            return list(w.events), acked

    events, acked = run(scenario())
    got = [e.trade_id for e in events if isinstance(e, core.Trade)]
    trades, bbos = recorded_ids(market)
    assert got == trades[: messages_before(market, "@trade", half)]  # a contiguous head
    assert not [e for e in events[acked:] if isinstance(e, core.Trade)]
    assert [e.sequence for e in events if isinstance(e, core.BBO)] == bbos  # untouched
    assert not [e for e in events if isinstance(e, Disconnected)]


# --- (c) a subscribed stream survives a reconnect -----------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
def test_reconnect_resubscribes_added_streams_and_resyncs(run, market):
    sym = SYMBOL[market]
    third = len(packaged_recording(market)) // 3
    depth = DEPTH_STREAM[market]

    async def scenario():
        async with feed_held_at(market, ["trades"], third) as (sim, w, feed):
            await feed.subscribe(sym, ["book", "bbo"])
            old = next(c for c in sim.connections if depth in c.subscriptions)
            registry = next(c.streams for c in feed.connections if depth in c.streams)
            sim.inject(CloseAfter(3000), connection=old)
            sim.resume()

            async def resubscribed():
                while True:
                    new = [c for c in sim.connections if c.id > old.id and depth in c.subscriptions]
                    if new:
                        return new[0]
                    await asyncio.sleep(0.01)

            new = await asyncio.wait_for(resubscribed(), 30)
            assert sorted(new.subscriptions) == sorted(registry)

            async def resynced():
                while not any(isinstance(e, Resynced) for e in w.events):  # noqa: ASYNC110 - polls state that no event announces
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(resynced(), 30)
            await finish(sim, settle=0.5)
            return w.outcome(), sim.total_connections

    out, total = run(scenario())
    n0 = 2 if market == "binanceusdm" else 1
    assert health(out.events) == ["Connected"] * n0 + ["Disconnected", "Connected", "Resynced"]
    assert out.of(Resynced)[0].symbol == sym
    assert total == n0 + 1
    trades, bbos = recorded_ids(market)
    assert_one_window_lost(out.bbo_ids(), bbos[messages_before(market, "@bookTicker", third) :])
    if market == "binance":  # same connection as the book
        lost = assert_one_window_lost(out.trade_ids(), trades)
        assert sum(m.count for m in out.of(TradesMissed)) == lost == out.stats["trades_missed"]
    else:  # the /market connection was not cut
        assert out.trade_ids() == trades
    assert_book_matches_recording(out, market)
    assert out.stats["reconnects"] == 1 and out.stats["resyncs"] == 1


# --- (d) bad arguments ----------------------------------------------------------------------------
def _bad_cases(market: str) -> list[tuple[Any, Any, str, bool]]:
    """(symbols, channels, error text, also bad for unsubscribe)."""
    sym = SYMBOL[market]
    other = "ETH/USDT" if market == "binanceusdm" else "ETH/USDT:USDT"
    kind = "spot" if market == "binanceusdm" else "derivatives"
    unlisted = "BTC/USDT:USDT" if market == "binanceusdm" else "BTC/USDT"
    return [
        ([sym, "eth/usdt"], "bbo", "did you mean 'ETH/USDT'", True),
        ("ETHUSDT", "bbo", "unknown symbol 'ETHUSDT'", True),
        (other, "bbo", f"{other!r} is a {kind} symbol", True),  # the other Binance market
        # account channels are chosen when the Feed is made, never by a live (un)subscribe
        (sym, ["bbo", "orders"], "channel 'orders' is not supported by a live (un)subscribe", True),
        ([], "bbo", "symbols must not be empty", True),
        (sym, [], "channels must not be empty", True),
        # well-formed but not in the exchange's list (start()'s check): removing it is a no-op
        (unlisted, "bbo", repr(unlisted), False),
    ]


@pytest.mark.parametrize("market", MARKETS)
def test_bad_arguments_raise_before_anything_is_sent(run, market):
    async def scenario():
        async with Simulator(market, speed="max", ping_interval=0) as sim:
            w = Watch(market)
            async with w.make_feed(sim, market, ["trades"]) as feed:

                def state():
                    return feed.stats()["control_sent"], sim_streams(sim), feed.subscriptions

                before = state()
                for symbols, channels, needle, both in _bad_cases(market):
                    for change in (feed.subscribe, feed.unsubscribe) if both else (feed.subscribe,):
                        with pytest.raises(ValueError, match=re.escape(needle)):
                            await change(symbols, channels)
                await asyncio.sleep(0.1)
                assert state() == before
                # no-ops: nothing to add or to remove, nothing sent either
                await feed.subscribe(SYMBOL[market], "trades")
                await feed.unsubscribe(SYMBOL[market], "bbo")
                assert state() == before

    run(scenario())


def test_changes_need_a_running_feed(run):
    async def scenario():
        feed = Feed("binance", "ETH/USDT", "trades")
        with pytest.raises(ValueError, match="'orders'"):  # arguments are checked first
            await feed.subscribe("ETH/USDT", "orders")
        with pytest.raises(RuntimeError, match="start the feed"):
            await feed.subscribe("ETH/USDT", "bbo")
        await feed.close()
        with pytest.raises(RuntimeError):
            await feed.unsubscribe("ETH/USDT", "trades")

    run(scenario())


# --- (e) unsubscribe a book -------------------------------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
def test_unsubscribe_book_forgets_it_and_resubscribe_resyncs(run, market):
    sym = SYMBOL[market]
    rec = packaged_recording(market)
    n = len(rec)
    late_delta = next(
        raw for raw in rec.lines[n // 3 :] if json.loads(raw)["stream"] == DEPTH_STREAM[market]
    )

    async def scenario():
        async with Simulator(market, speed="max", autostart=False) as sim:
            w = Watch(market)
            feed = w.make_feed(sim, market, ["book", "bbo", "trades"])
            await start_at(sim, feed, n // 3)
            try:
                assert feed.book(sym).synced
                book_conn = next(c for c in feed.connections if DEPTH_STREAM[market] in c.streams)
                await feed.unsubscribe(sym, "book")
                acked = len(w.events)
                with pytest.raises(KeyError, match=re.escape(repr(sym))):
                    feed.book(sym)
                assert DEPTH_STREAM[market] not in sim_streams(sim)
                assert DEPTH_STREAM[market] not in book_conn.streams
                assert "ethusdt@bookTicker" in sim_streams(sim)
                # the next depth delta, still in flight after the ack: it would continue the book
                for s in book_conn._sessions:
                    s.decoder.dispatch(late_delta)
                await hold(sim, 2 * n // 3)
                assert not [e for e in w.events[acked:] if isinstance(e, core.BookUpdate)]
                # back again: a fresh snapshot, since the deltas in between never came
                await feed.subscribe(sym, "book")
                assert feed.book(sym).synced
                await finish(sim)
                return w.outcome()
            finally:
                await feed.close()

    out = run(scenario())
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades and out.bbo_ids() == bbos
    assert_book_matches_recording(out, market)
    assert out.bbo_checked > 0
    seqs = [e.sequence for e in out.of(core.BookUpdate)]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert health(out.events) == ["Connected"] * (2 if market == "binanceusdm" else 1)


# --- a rejected subscribe -------------------------------------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
def test_rejected_subscribe_raises_and_leaves_the_feed_as_it_was(run, market):
    # The simulator rejects a malformed stream name (code 2) as Binance does; the request is
    # made malformed by appending one to what the adapter builds.
    sym = SYMBOL[market]
    half = len(packaged_recording(market)) // 2

    async def scenario():
        async with feed_held_at(market, ["trades"], half) as (sim, w, feed):
            with (
                malformed(feed.adapter, "subscribe_message"),
                pytest.raises(SubscriptionError) as ei,
            ):
                await feed.subscribe(sym, "bbo")
            assert ei.value.code == 2 and "ethusdt@bookTicker" in ei.value.streams
            assert [s.channel for s in feed.subscriptions] == ["trades"]
            assert sim_streams(sim) == {"ethusdt@trade"}
            assert len(feed.connections) == 1 and feed.connected
            await finish(sim)
            return list(w.events)

    events = run(scenario())
    trades, _ = recorded_ids(market)
    assert [e.trade_id for e in events if isinstance(e, core.Trade)] == trades  # not fatal
    assert not [e for e in events if isinstance(e, core.BBO)]


# --- a rejected unsubscribe -----------------------------------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
def test_rejected_unsubscribe_raises_and_still_drops_the_streams(run, market):
    # As documented on Feed.unsubscribe: the exchange's error reply surfaces as
    # SubscriptionError, and the streams are gone from the feed anyway (no event of them after
    # the request), since a bot that asked to stop them must not keep receiving them.
    sym = SYMBOL[market]
    half = len(packaged_recording(market)) // 2

    async def scenario():
        async with feed_held_at(market, ["trades", "bbo"], half) as (sim, w, feed):
            with (
                malformed(feed.adapter, "unsubscribe_message"),
                pytest.raises(SubscriptionError) as ei,
            ):
                await feed.unsubscribe(sym, "trades")
            sent = len(w.events)
            assert ei.value.code == 2 and "ethusdt@trade" in ei.value.streams
            assert [s.channel for s in feed.subscriptions] == ["bbo"]
            assert feed.connected and feed.stats()["control_errors"] == 1
            await finish(sim)
            return list(w.events), sent

    events, sent = run(scenario())
    trades, bbos = recorded_ids(market)
    got = [e.trade_id for e in events if isinstance(e, core.Trade)]
    assert got == trades[: len(got)] and len(got) < len(trades)  # a contiguous head, then none
    assert not [e for e in events[sent:] if isinstance(e, core.Trade)]
    assert [e.sequence for e in events if isinstance(e, core.BBO)] == bbos  # untouched
