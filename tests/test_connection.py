"""The live connection layer against the local simulator, over real loopback WebSockets.

Each scenario replays the packaged real ETHUSDT recording through ``Feed`` exactly as a live feed
runs (the simulator differs from Binance only by base URL), injects one fault, and compares what
the feed delivered with the recording itself:

- trades and book tickers: by exchange id (trade ``t``, bookTicker ``u``), parsed here with the
  stdlib, independent of the Rust decoder;
- the final L2 book: against an offline replay of the whole recording from its recorded REST
  snapshot (top 20 levels per side);
- Binance's own oracle (DESIGN.md §5): when a BBO's ``sequence`` equals the book's sequence, the
  book's best bid/ask must equal it.

Every scenario runs under asyncio and under uvloop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time

import aiohttp
import pytest
from aiohttp import web

import tickwire._core as core
from conftest import (
    DEPTH_STREAM,
    MARKETS,
    SYMBOL,
    assert_book_matches_recording,
    assert_one_window_lost,
    final_book,
    recorded_ids,
    replay_through_feed,
)
from tickwire.connection import (
    Connection,
    ConnectionOptions,
    RateLimiter,
    StartTimeoutError,
    SubscriptionError,
    full_jitter,
    rest,
)
from tickwire.events import BadFrame, Connected, Disconnected, GapDetected, Resynced, TradesMissed
from tickwire.exceptions import TickwireError
from tickwire.exchanges import ConnectTarget, Keepalive, Subscription, get_adapter
from tickwire.exchanges.binance import BinanceSpot
from tickwire.feed import Feed
from tickwire.simulator import (
    CloseAfter,
    Drop,
    Garbage,
    Lifetime,
    ServerShutdown,
    Simulator,
    Stall,
)

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback


# --- scenarios ------------------------------------------------------------------------------
@pytest.mark.parametrize("market", MARKETS)
def test_clean_replay_delivers_everything_once(run, market):
    out = run(replay_through_feed(market))
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades
    assert out.bbo_ids() == bbos
    assert_book_matches_recording(out, market)
    assert out.bbo_checked > 0
    assert len(out.of(Connected)) == (2 if market == "binanceusdm" else 1)
    assert not out.of(Disconnected) and not out.of(GapDetected)
    assert out.stats["control_errors"] == 0 and out.stats["bad_frames"] == 0
    assert out.listeners == {"FrameSink"}  # frames decoded in place by Rust


def test_python_listener_survives_the_same_faults(run, monkeypatch):
    # With a picows whose WSFrame layout the Rust build does not know, sessions keep the Python
    # on_ws_frame: it must handle garbage (text and binary) and a gap exactly as well.
    import tickwire.connection.session

    monkeypatch.setattr(tickwire.connection.session, "_frame_sink", lambda *_: None)
    market = "binance"
    out = run(
        replay_through_feed(
            market,
            faults=[
                Garbage(after=8000),
                Garbage(after=12000, binary=True),
                Drop(stream=DEPTH_STREAM[market], skip=1000),
            ],
            speed=100,
        )
    )
    assert out.listeners == {"Session"}
    assert out.stats["bad_frames"] == 2 and len(out.of(BadFrame)) == 2
    assert [type(e) for e in out.events if type(e) in (GapDetected, Resynced)] == [
        GapDetected,
        Resynced,
    ]
    assert not out.of(Disconnected)
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades and out.bbo_ids() == bbos
    assert_book_matches_recording(out, market)


@pytest.mark.parametrize("market", MARKETS)
@pytest.mark.parametrize("abort", [False, True], ids=["close-frame", "tcp-abort"])
def test_server_close_reconnects_resubscribes_and_resyncs(run, abort, market):
    # Cut after 15000 messages: on USD-M only the /public connection (book + bbo) gets that far.
    # (on USD-M the /market connection keeps the replay running, so the resync may come after
    # the recording ended: do not wait long for a first delta then)
    out = run(
        replay_through_feed(
            market,
            faults=[CloseAfter(15000, abort=abort)],
            settle=0.5,
            connection_options=ConnectionOptions(backoff_base=0.05, first_delta_wait=0.1),
        )
    )
    names = [
        type(e).__name__
        for e in out.events
        if type(e).__module__ == "tickwire.events" and type(e) is not TradesMissed
    ]
    n0 = 2 if market == "binanceusdm" else 1
    assert names == ["Connected"] * n0 + ["Disconnected", "Connected", "Resynced"], names
    assert out.of(Resynced)[0].reason == "reconnect"
    assert out.stats["reconnects"] == 1 and out.stats["resyncs"] == 1
    assert out.sim_connections == n0 + 1
    trades, bbos = recorded_ids(market)
    # Only what the server published while we were away is missing; nothing repeats.
    lost_trades = assert_one_window_lost(out.trade_ids(), trades)
    lost_bbos = assert_one_window_lost(out.bbo_ids(), bbos)
    # Trades: none lost on USD-M (the /market connection was not cut), and on spot the ones
    # published while away were fetched over REST (see the test below).
    assert lost_trades == 0 and not out.of(TradesMissed)
    if market == "binance":  # the replay pauses while no connection is subscribed
        assert lost_trades + lost_bbos < 5000
    assert_book_matches_recording(out, market)


@pytest.mark.parametrize(
    ("market", "rest", "cap"),
    [
        ("binance", 200, None),
        ("binance", 200, 3),
        ("binance", 503, None),
        ("binanceusdm", 200, None),
    ],
    ids=["spot-filled", "spot-fill-capped", "spot-rest-down", "usdm-no-public-endpoint"],
)
def test_trades_published_while_disconnected_are_filled_or_reported(run, market, rest, cap):
    # Every connection is cut once after 3000 messages; on USD-M that includes /market, which
    # carries the trades while /public keeps the replay running. At 100x the recorded pace the
    # reconnect comes long before the recording ends, so trades follow it (the gap is seen from
    # the first trade after it). Spot fetches the missed ids from REST historicalTrades and
    # delivers every trade, in order; when that REST call fails, or on USD-M (whose
    # historicalTrades needs an API key), the missed ids are reported instead.
    opts = ConnectionOptions(
        backoff_base=0.05, first_delta_wait=0.1, **({"trade_fill_limit": cap} if cap else {})
    )
    out = run(
        replay_through_feed(
            market,
            faults=[CloseAfter(3000)],
            settle=0.5,
            speed=100,
            sim_kwargs={"past_trades_status": rest},
            connection_options=opts,
        )
    )
    assert out.stats["reconnects"] >= 1
    trades, _ = recorded_ids(market)
    got = out.trade_ids()
    filled = out.stats["trades_filled"]
    if market == "binance" and rest == 200 and cap is None:
        assert got == trades  # nothing lost, nothing repeated, in order
        assert filled > 0 and out.stats["trades_missed"] == 0
        assert not out.of(TradesMissed)
        return
    assert_one_window_lost(got, trades)
    missing = sorted(set(trades) - set(got))
    assert missing  # the case this test is for did happen
    reported = [(m.symbol, m.first_id, m.last_id, m.count) for m in out.of(TradesMissed)]
    assert reported == [(SYMBOL[market], missing[0], missing[-1], len(missing))]
    assert out.stats["trades_missed"] == len(missing)
    # capped: the oldest `cap` after the last trade before the disconnect were fetched and
    # delivered, the newest reported
    assert filled == (cap or 0)
    cut = out.events.index(
        next(
            d
            for d in out.of(Disconnected)  # of the trades' connection
            if market == "binance" or "/market/" in d.url
        )
    )
    before = [e.trade_id for e in out.events[:cut] if isinstance(e, core.Trade)][-1]
    assert missing[0] == before + 1 + filled
    assert set(range(before + 1, before + 1 + filled)) <= set(got)
    # reported before the first trade after the gap is delivered
    i = out.events.index(out.of(TradesMissed)[0])
    after = [e for e in out.events[i:] if isinstance(e, core.Trade)]
    assert after and after[0].trade_id == missing[-1] + 1


def test_stall_is_caught_by_the_watchdog(run):
    market = "binance"
    t0 = time.monotonic()
    out = run(
        replay_through_feed(
            market,
            faults=[Stall(seconds=5.0, after=8000)],
            speed=100,
            stale_after=0.5,
            connection_options=ConnectionOptions(backoff_base=0.05),
        )
    )
    disc = out.of(Disconnected)
    assert len(disc) == 1 and disc[0].reason.startswith("stale"), disc
    assert out.stats["stale"] == 1 and out.stats["reconnects"] == 1
    assert out.of(Resynced)
    assert_one_window_lost(out.trade_ids(), recorded_ids(market)[0])
    assert_book_matches_recording(out, market)
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize("market", MARKETS)
def test_dropped_message_is_a_gap_then_resynced(run, market):
    out = run(
        replay_through_feed(
            market, faults=[Drop(stream=DEPTH_STREAM[market], skip=1000)], speed=100
        )
    )
    kinds = [type(e) for e in out.events if type(e) in (GapDetected, Resynced)]
    assert kinds == [GapDetected, Resynced]
    gap = out.of(GapDetected)[0]
    assert gap.symbol == SYMBOL[market] and gap.expected != gap.received
    assert gap.reason == "gap" and out.of(Resynced)[0].reason == "gap"
    assert out.stats["gaps"] == 1 and out.stats["resyncs"] == 1
    assert not out.of(Disconnected)
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades and out.bbo_ids() == bbos
    assert_book_matches_recording(out, market)
    seqs = [e.sequence for e in out.of(core.BookUpdate)]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


@pytest.mark.parametrize("market", MARKETS)
def test_rotation_before_lifetime_limit_has_no_gap(run, market):
    # The server cuts every connection after 2 s; the feed must rotate before that, seamlessly.
    out = run(
        replay_through_feed(
            market,
            faults=[Lifetime(seconds=2.0)],
            future_faults=True,
            speed=100,
            max_connection_age=2.0,
            connection_options=ConnectionOptions(rotation_overlap=0.1, first_delta_wait=0.2),
        )
    )
    assert out.stats["rotations"] >= 1
    # (once the recording is over no data flows, so a rotation may then fail: not checked)
    during = [e for e in out.of(Disconnected) if e.receive_ts < out.finished_ts]
    assert not out.of(GapDetected) and not during, out.events[-5:]
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades
    assert out.bbo_ids() == bbos
    assert_book_matches_recording(out, market)
    seqs = [e.sequence for e in out.of(core.BookUpdate)]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


@pytest.mark.parametrize("market", MARKETS)
def test_server_shutdown_notice_rotates_before_the_close(run, market):
    # Binance announces maintenance with {"e":"serverShutdown"} and closes the connection a
    # little later: the feed must move to a new connection at once, losing nothing.
    out = run(
        replay_through_feed(
            market,
            later_faults=((3000, ServerShutdown(grace=1.5)),),
            speed=60,
            connection_options=ConnectionOptions(rotation_overlap=0.1, first_delta_wait=0.2),
        )
    )
    notices = out.of(core.Notice)
    assert notices and {n.name for n in notices} == {"serverShutdown"}
    assert out.stats["rotations"] >= 1 and out.stats["notices"] >= 1
    assert not out.of(Disconnected) and not out.of(GapDetected), out.events[-5:]
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades
    assert out.bbo_ids() == bbos
    assert_book_matches_recording(out, market)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_garbage_frames_are_counted_and_skipped(run, binary):
    market = "binance"
    out = run(
        replay_through_feed(
            market,
            faults=[Garbage(after=8000, binary=binary), Garbage(after=20000, payload=b"\xff\xfe{")],
        )
    )
    assert out.stats["bad_frames"] == 2
    assert len(out.of(BadFrame)) == 2
    assert not out.of(Disconnected) and not out.of(GapDetected)
    trades, bbos = recorded_ids(market)
    assert out.trade_ids() == trades and out.bbo_ids() == bbos
    assert_book_matches_recording(out, market)


def test_pings_are_answered_within_the_rate_limit(run):
    # Server pings 10 times/s but allows 5 client messages/s (pongs count, as on Binance spot):
    # pongs echo the payload and are paced, so neither the pong timeout nor the rate limit trips.
    out = run(
        replay_through_feed(
            "binance",
            speed=100,
            sim_kwargs={"ping_interval": 0.1, "pong_timeout": 1.5, "rate_limit": 5},
        )
    )
    assert out.stats["pings"] >= 20
    assert not out.of(Disconnected), out.of(Disconnected)
    assert out.trade_ids() == recorded_ids("binance")[0]


def test_rejected_subscription_is_fatal_and_names_the_streams(run):
    async def scenario():
        async with Simulator("binance", speed="max") as sim:
            adapter = get_adapter("binance", base_url=sim.rest_url)
            conn = Connection(
                name="t",
                adapter=adapter,
                route="stream",
                subs=[Subscription("ETH/USDT", "trades", "stream", "not a stream!")],
                sink=lambda _: None,
                http=lambda: None,
            )
            await conn.start()
            try:
                with pytest.raises(SubscriptionError) as ei:
                    await asyncio.wait_for(conn.ready, 10)
                assert ei.value.code == 2 and "not a stream!" in str(ei.value)
            finally:
                await conn.close()

    run(scenario())


def test_reconnect_backoff_on_refused_connection(run, caplog):
    # A refused connection is transient (the server may come back): retried with backoff until
    # the start timeout, then one TickwireError naming the connection, URL and last error.
    async def scenario():
        sim = Simulator("binance", speed="max")
        await sim.start()
        url = sim.rest_url
        await sim.stop()  # nothing listens on that port any more
        feed = Feed(
            "binance",
            "ETH/USDT",
            "trades",
            base_url=url,
            start_timeout=1.0,
            connection_options=ConnectionOptions(backoff_base=0.05, backoff_cap=0.2),
        )
        with pytest.raises(StartTimeoutError) as ei:
            await feed.start()
        return url, ei.value

    url, err = run(scenario())
    msg = str(err)
    assert isinstance(err, TickwireError) and isinstance(err, TimeoutError)
    assert "\n" not in msg and err.__cause__ is None and err.__context__ is None
    ws = url.replace("http://", "ws://") + "/stream"
    assert msg.startswith("feed not ready within 1 s: binance/stream#0 " + ws), msg
    assert "last error: ConnectionRefusedError" in msg
    retries = [r for r in caplog.records if "connect to" in r.getMessage()]
    assert len(retries) >= 3  # backed off and retried, not given up


# --- the generic contract on the Binance simulator -----------------------------------------------
class _PingingSpot(BinanceSpot):
    """Binance spot plus a client text keepalive every 0.3 s (within spot's 5 messages/s, which
    the session's rate limiter budgets at 4 per 1.1 s). Binance has none (its server pings);
    the payload is a request its simulator answers as Binance does (``LIST_SUBSCRIPTIONS``
    with a null id: a result that settles no request)."""

    def keepalive(self) -> Keepalive:
        return Keepalive(0.3, b'{"method":"LIST_SUBSCRIPTIONS","id":null}')


def test_client_keepalive_is_sent_on_its_timer_and_its_replies_settle_nothing(run):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            seen: list[tuple[float, str]] = []
            answer = sim.venue.on_client_message

            def spy(conn, text):  # what the server received, when
                seen.append((time.monotonic(), text))
                return answer(conn, text)

            sim.venue.on_client_message = spy
            events: list = []
            feed = Feed(
                _PingingSpot(base_url=sim.rest_url),
                "ETH/USDT",
                "trades",
                on_event=events.append,
                validate_symbols=False,
            )
            async with feed:
                await asyncio.sleep(1.65)
            await asyncio.sleep(0.1)  # the last ping reaches the server
            return seen, feed.stats(), events

    seen, stats, events = run(scenario())
    pings = [t for t, text in seen if "LIST_SUBSCRIPTIONS" in text]
    assert 4 <= len(pings) <= 6, pings
    assert stats["keepalives"] == len(pings)
    gaps = sorted(b - a for a, b in itertools.pairwise(pings))
    assert gaps[0] > 0.25 and 0.25 < gaps[len(gaps) // 2] < 0.4, gaps  # never early, on time
    assert stats["control_errors"] == 0 and stats["bad_frames"] == 0
    assert not [e for e in events if isinstance(e, Disconnected)]
    assert [type(e).__name__ for e in events][:1] == ["Connected"]


_BULLET = "/api/v1/bullet-public"


def _serve_bullets(sim: Simulator) -> list[str]:
    """Give the Binance simulator a connect-token route shaped like KuCoin's (docs/exchanges/
    kucoin.md: ``POST /api/v1/bullet-public`` -> ``{"code":"200000","data":{"token",
    "instanceServers":[{"endpoint","pingInterval"}]}}``), a new token per request and a
    ``pingInterval`` of 250 ms times the request's number; any other method is a 405. Returns the
    tokens issued, in order."""
    issued: list[str] = []
    base = sim.venue.rest_handler

    def rest_handler(path: str):  # type: ignore[no-untyped-def]
        if path != _BULLET:
            return base(path)

        async def bullet(request: web.Request) -> web.StreamResponse:
            if request.method != "POST":
                raise web.HTTPMethodNotAllowed(request.method, ["POST"])
            issued.append(f"tok{len(issued) + 1}")
            server = {"endpoint": f"{sim.ws_url}/stream", "pingInterval": 250 * len(issued)}
            data = {"token": issued[-1], "instanceServers": [server]}
            return web.json_response({"code": "200000", "data": data})

        return bullet

    sim.venue.rest_handler = rest_handler  # type: ignore[method-assign]
    return issued


class _BulletSpot(BinanceSpot):
    """Binance spot whose every connect first POSTs for a token, as KuCoin's does: the URL is
    the answer's endpoint with ``?token=``, the keepalive its ``pingInterval`` (Binance spot has
    no client keepalive of its own: every ping the server sees comes from a connect target)."""

    async def connect_target(self, http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        del route
        body = await rest.fetch(http, self.rest_base_url + _BULLET, {}, 5.0, method="POST")
        data = json.loads(body)["data"]
        server = data["instanceServers"][0]
        ping = b'{"method":"LIST_SUBSCRIPTIONS","id":null}'
        return ConnectTarget(
            f"{server['endpoint']}?token={data['token']}",
            Keepalive(server["pingInterval"] / 1000, ping),
        )


def test_every_connect_resolves_its_own_target(run):
    # Adapter.connect_target is awaited on the first connect and on the reconnect: each connect
    # gets a fresh token (the URL the server saw) and its own keepalive, and the URL tickwire
    # shows hides the token. The token route is a POST: REST POSTs reach the venue's route.
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            issued = _serve_bullets(sim)
            seen: list[tuple[str, float, str]] = []
            answer = sim.venue.on_client_message

            def spy(conn, text):  # which connection's URL sent what, when
                seen.append((conn.path, time.monotonic(), text))
                return answer(conn, text)

            sim.venue.on_client_message = spy
            events: list = []
            feed = Feed(
                _BulletSpot(base_url=sim.rest_url),
                "ETH/USDT",
                "trades",
                on_event=events.append,
                validate_symbols=False,
                connection_options=ConnectionOptions(backoff_base=0.05, backoff_cap=0.1),
            )
            async with feed:
                await asyncio.sleep(1.2)
                sim.inject(CloseAfter(0))  # the server closes: a reconnect
                for _ in range(200):
                    if len([e for e in events if isinstance(e, Connected)]) == 2:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.2)
            async with aiohttp.ClientSession() as http:
                async with http.get(sim.rest_url + _BULLET) as r:
                    get_status = r.status
                async with http.post(sim.ws_url.replace("ws:", "http:") + "/stream") as r:
                    post_ws_status = r.status
            return issued, seen, events, feed.stats(), (get_status, post_ws_status)

    issued, seen, events, stats, statuses = run(scenario())
    assert issued == ["tok1", "tok2"]
    paths = list(dict.fromkeys(path for path, _, _ in seen))
    assert paths == ["/stream?token=tok1", "/stream?token=tok2"]
    for path, interval in zip(paths, (0.25, 0.5), strict=True):
        pings = [t for p, t, text in seen if p == path and "LIST_SUBSCRIPTIONS" in text]
        assert len(pings) >= 2, (path, seen)
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert min(gaps) > 0.8 * interval, (path, gaps)  # this connect's interval, never early
    assert stats["keepalives"] == len([s for s in seen if "LIST_SUBSCRIPTIONS" in s[2]])
    connected = [e for e in events if isinstance(e, Connected)]
    assert len(connected) == 2 and all(e.url.endswith("/stream?token=***") for e in connected)
    assert not [e for e in events if "tok1" in repr(e) or "tok2" in repr(e)]
    assert stats["reconnects"] == 1 and stats["control_errors"] == 0
    # The venue's route checks the method; a WebSocket path answers nothing but GET.
    assert statuses == (405, 405)


class _OneTopicSpot(BinanceSpot):
    """Binance spot with room for one topic per connection: every stream gets its own."""

    limits = dataclasses.replace(BinanceSpot.limits, streams_per_connection=1)


def test_topics_beyond_one_connection_are_sharded_and_all_delivered(run):
    market = "binance"
    sym = SYMBOL[market]

    async def scenario():
        async with Simulator(market, speed="max", autostart=False) as sim:
            events: list = []
            feed = Feed(
                _OneTopicSpot(base_url=sim.rest_url),
                sym,
                ["book", "trades", "bbo"],
                on_event=events.append,
            )
            starting = asyncio.ensure_future(feed.start())
            await sim.wait_connections(3, timeout=10)
            while not all(c.subscriptions for c in sim.connections):  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            sim.start_replay()
            await asyncio.wait_for(starting, 30)
            await sim.wait_finished(timeout=60)
            await asyncio.sleep(0.3)
            book = feed.book(sym)
            out = (
                [len(c.streams) for c in feed.connections],
                {name for c in sim.connections for name in c.subscriptions},
                events,
                book.bids(20),
                book.asks(20),
            )
            await feed.close()
            return out

    per_conn, streams, events, bids, asks = run(scenario())
    assert per_conn == [1, 1, 1]
    assert streams == {"ethusdt@depth@100ms", "ethusdt@trade", "ethusdt@bookTicker"}
    trades, bbos = recorded_ids(market)
    assert [e.trade_id for e in events if isinstance(e, core.Trade)] == trades
    assert [e.sequence for e in events if isinstance(e, core.BBO)] == bbos
    want_bids, want_asks = final_book(market)
    assert (bids.tolist(), asks.tolist()) == (want_bids.tolist(), want_asks.tolist())
    assert [type(e).__name__ for e in events if type(e).__module__ == "tickwire.events"] == [
        "Connected"
    ] * 3


# --- units ----------------------------------------------------------------------------------
def test_rate_limiter_spaces_sends():
    rl = RateLimiter(5)  # budgets 4 per 1.1 s
    delays = [rl.reserve() for _ in range(10)]
    assert delays[:4] == [0.0] * 4
    assert all(1.05 < d < 1.2 for d in delays[4:8])
    assert all(2.15 < d < 2.3 for d in delays[8:])


def test_full_jitter_is_capped_and_grows():
    assert all(0 <= full_jitter(0, 0.5, 30) <= 0.5 for _ in range(200))
    assert all(0 <= full_jitter(50, 0.5, 30) <= 30 for _ in range(200))
    assert max(full_jitter(6, 0.5, 30) for _ in range(500)) > 16
