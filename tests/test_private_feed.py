"""The generic private (account) machinery of the connection layer, over real loopback sockets.

Part 1 drives the state machine on the Binance simulator with a keyed account side (see
``private_helpers``: listen key over REST, a signed LOGON the simulator verifies, key
keepalive, server time): login before subscribe, re-login on reconnect, AuthError raised once
without a retry storm (attempts counted on the server), transient failures backed off,
clock skew absorbed by the measured offset, token refresh on schedule and rotation when the
venue drops the key, and the Feed's argument checks.

Every scenario runs under asyncio and under uvloop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

import tickwire as tw
from private_helpers import GOOD, KEY, SECRET, KeyedSpot, KeyedVenue, listen_key_of, wait_for
from tickwire.connection import ConnectionOptions
from tickwire.events import Connected, Disconnected
from tickwire.simulator import CloseAfter, Simulator

pytestmark = pytest.mark.e2e

FAST = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2, ack_timeout=1.0)


def _feed(sim: Simulator, events: list, **kw) -> tw.Feed:
    adapter_kw = {k: kw.pop(k) for k in ("credentials", "refresh_s", "time_request") if k in kw}
    return tw.Feed(
        KeyedSpot(sim.rest_url, **adapter_kw),
        channels=["orders", "fills"],
        on_event=events.append,
        connection_options=kw.pop("connection_options", FAST),
        start_timeout=kw.pop("start_timeout", 10.0),
        **kw,
    )


# --- login before subscribe, again on every reconnect ------------------------------------------
def test_login_precedes_subscribe_and_every_reconnect_logs_in_again(run):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue().install(sim)
            events: list = []
            async with _feed(sim, events) as feed:
                await wait_for(lambda: len(venue.paths()) == 1)
                sim.inject(CloseAfter(0))  # the server closes: a reconnect
                await wait_for(lambda: len([e for e in events if isinstance(e, Connected)]) == 2)
                stats = feed.stats()
            return venue, events, stats

    venue, events, stats = run(scenario())
    paths = venue.paths()
    assert len(paths) == 2
    # each connection: its own fresh listen key, LOGON acknowledged, then the subscribe
    assert [listen_key_of(p) for p in paths] == venue.issued
    for p in paths:
        assert venue.methods(p)[:2] == ["LOGON", "SUBSCRIBE"], venue.methods(p)
    assert venue.logons == [(p, 0) for p in paths]
    assert stats["logins"] == 2 and stats["reconnects"] == 1 and stats["control_errors"] == 0
    assert venue.time_requests == 1  # measured once: the measure is fresh on the reconnect
    connected = [e for e in events if isinstance(e, Connected)]
    assert all(e.url.endswith("?listenKey=***") for e in connected)
    assert len([e for e in events if isinstance(e, Disconnected)]) == 1


# --- auth failures: raised once, never retried ---------------------------------------------------
@pytest.mark.parametrize(
    ("creds", "code", "message"),
    [
        (
            tw.Credentials(api_key=KEY, secret="x" + SECRET[1:]),
            -1022,
            "Signature for this request is not valid.",
        ),
    ],
)
def test_rejected_login_is_one_auth_error_and_no_retry(run, creds, code, message):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue().install(sim)
            feed = _feed(sim, [], credentials=creds)
            with pytest.raises(tw.AuthError) as ei:
                await feed.start()
            await asyncio.sleep(1.0)  # a retry loop would have tried several times by now
            return venue, sim.total_connections, ei.value

    venue, connections, err = run(scenario())
    assert connections == 1 and len(venue.logons) == 1 and len(venue.posts) == 1
    assert venue.logons[0][1] == code
    assert err.code == code and err.reason == message and err.exchange == "binance"
    assert message in str(err)
    assert SECRET not in str(err) and creds.secret not in str(err)


def test_refused_api_key_at_connect_target_is_one_auth_error(run):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue().install(sim)
            bad = tw.Credentials(api_key="tKeyWRONG00000000000", secret=SECRET)
            feed = _feed(sim, [], credentials=bad)
            with pytest.raises(tw.AuthError) as ei:
                await feed.start()
            await asyncio.sleep(1.0)
            return venue, sim.total_connections, ei.value

    venue, connections, err = run(scenario())
    # refused by the REST call before any socket: one call, no connection, no retry
    assert connections == 0 and venue.posts == [] and venue.logons == []
    assert err.code == 401 and "-2015" in (err.reason or "")
    assert "tKeyWRONG00000000000" not in str(err)


def test_expired_timestamp_without_clock_measure_is_an_auth_error(run):
    # The venue's clock runs 30 s ahead; an adapter that cannot measure it signs with ours.
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue(skew_ms=30_000).install(sim)
            feed = _feed(sim, [], time_request=False)
            with pytest.raises(tw.AuthError) as ei:
                await feed.start()
            return venue, ei.value

    venue, err = run(scenario())
    assert err.code == -1021 and venue.time_requests == 0 and len(venue.logons) == 1


def test_clock_skew_is_measured_before_signing(run):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue(skew_ms=30_000).install(sim)
            feed = _feed(sim, [])
            async with feed:
                offset_ms = feed.adapter.clock.offset_ns / 1e6
            return venue, offset_ms

    venue, offset_ms = run(scenario())
    assert venue.time_requests == 1 and [c for _, c in venue.logons] == [0]
    assert abs(offset_ms - 30_000) < 1_000, offset_ms


# --- transient failures back off and then connect --------------------------------------------
def test_listen_key_server_errors_are_retried_with_backoff(run, caplog):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue(post_script=[503, 503]).install(sim)
            with caplog.at_level(logging.WARNING, "tickwire"):
                async with _feed(sim, []) as feed:
                    stats = feed.stats()
            return venue, stats

    venue, stats = run(scenario())
    assert len(venue.posts) == 3 and len(venue.issued) == 1
    assert [c for _, c in venue.logons] == [0] and stats["logins"] == 1
    retries = [r for r in caplog.records if "HttpStatusError: HTTP 503" in r.getMessage()]
    assert len(retries) == 2
    gaps = [b - a for a, b in itertools.pairwise(venue.posts)]
    assert all(g >= 0 for g in gaps)


def test_unanswered_login_times_out_and_is_retried(run):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue(drop_logons=1).install(sim)
            opts = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2, ack_timeout=0.3)
            async with _feed(sim, [], connection_options=opts) as feed:
                stats = feed.stats()
            return venue, stats

    venue, stats = run(scenario())
    assert [c for _, c in venue.logons] == [None, 0]  # dropped, then answered on a new socket
    assert len(venue.issued) == 2 and stats["logins"] == 1


# --- token keepalive and rotation ------------------------------------------------------------
def test_token_is_refreshed_on_schedule_and_a_refusal_rotates(run):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue().install(sim)
            events: list = []
            async with _feed(sim, events, refresh_s=0.25) as feed:
                await asyncio.sleep(0.9)
                refreshed = len(venue.puts)
                venue.expired.add(venue.issued[0])  # the venue drops the key
                await wait_for(lambda: feed.stats()["rotations"] == 1)
                await asyncio.sleep(0.6)
                stats = feed.stats()
            return venue, events, stats, refreshed

    venue, events, stats, refreshed = run(scenario())
    assert 3 <= refreshed <= 4, refreshed  # every 0.25 s
    assert len(venue.issued) == 2 and [c for _, c in venue.logons] == [0, 0]
    assert [listen_key_of(p) for p in venue.paths()] == venue.issued
    # make-before-break: no Disconnected, no AuthError for the user
    assert not [e for e in events if isinstance(e, Disconnected)]
    assert stats["token_refreshes"] >= refreshed and stats["rotations"] == 1


# --- Feed arguments ------------------------------------------------------------------------
def test_account_channels_need_credentials_before_any_connection():
    with pytest.raises(ValueError, match="private channels need credentials") as ei:
        tw.Feed(KeyedSpot("http://127.0.0.1:1", credentials=None), channels=["orders"])
    assert "TICKWIRE_BINANCE_API_KEY" in str(ei.value)
    with pytest.raises(ValueError, match="'positions' is not supported as an account channel"):
        tw.Feed(KeyedSpot("http://127.0.0.1:1"), channels=["positions"])
    with pytest.raises(ValueError, match="without a market channel"):
        tw.Feed(KeyedSpot("http://127.0.0.1:1"), "ETH/USDT", channels=["orders"])
    with pytest.raises(ValueError, match="credentials belong to the adapter"):
        tw.Feed(KeyedSpot("http://127.0.0.1:1"), channels=["orders"], credentials=GOOD)
    feed = tw.Feed(KeyedSpot("http://127.0.0.1:1"), "ETH/USDT", channels=["trades", "orders"])
    assert feed.symbols == ["ETH/USDT"] and feed.account_channels == ["orders"]
    assert [(s.symbol, s.route) for s in feed.subscriptions] == [
        ("ETH/USDT", "stream"),
        ("", "private"),
    ]
    assert KEY not in repr(feed) and SECRET not in repr(feed)


def test_market_and_account_channels_run_on_separate_connections(run):
    async def scenario():
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue().install(sim)
            trades: list = []
            feed = tw.Feed(
                KeyedSpot(sim.rest_url),
                "ETH/USDT",
                channels=["trades", "orders"],
                on_trade=trades.append,
                connection_options=FAST,
            )
            async with feed:
                await wait_for(lambda: len(trades) > 0)
                privates = [c.private for c in feed.connections]
                stats = feed.stats()
            return venue, privates, stats

    venue, privates, stats = run(scenario())
    assert sorted(privates) == [False, True]
    by_path = {p: venue.methods(p) for p in venue.paths()}
    assert len(by_path) == 2
    market = [p for p in by_path if not listen_key_of(p)]
    account = [p for p in by_path if listen_key_of(p)]
    assert by_path[market[0]] == ["SUBSCRIBE"]  # the market connection never logs in
    assert by_path[account[0]] == ["LOGON", "SUBSCRIBE"]
    assert stats["logins"] == 1
