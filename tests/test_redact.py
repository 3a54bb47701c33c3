"""Secrets in URLs never show: ``redact_url`` itself, then a whole feed session on the simulator
with a password and secret query parameters in its base URL, whose logs (all of them, at DEBUG),
events, errors and reprs are searched for the secrets."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tickwire.connection import ConnectionOptions
from tickwire.events import Connected, Disconnected
from tickwire.feed import Feed
from tickwire.redact import redact_url, scrub
from tickwire.simulator import CloseAfter, Simulator

pytestmark = pytest.mark.e2e  # the session test runs the simulator over loopback

PASSWORD = "pw-Hunter2-secret"  # noqa: S105 - a fake secret the test must never see again
TOKEN = "tok-5f3a9c"  # noqa: S105 - (idem)
LISTEN_KEY = "lk-pqZ8xR2"


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("wss://bot:pa55@ex.com/ws", "wss://bot:***@ex.com/ws"),
        ("http://user:SECRET@host", "http://user:***@host"),
        ("wss://ex.com/ws?listenKey=abc&limit=5", "wss://ex.com/ws?listenKey=***&limit=5"),
        (
            "https://h/x?apiKey=1&signature=2&sig=3&X-Token=4&client_secret=5&password=6&q=7",
            (
                "https://h/x?apiKey=***&signature=***&sig=***&X-Token=***&client_secret=***"
                "&password=***&q=7"
            ),
        ),
        ("https://h/x?LISTENKEY=abc#frag", "https://h/x?LISTENKEY=***#frag"),
        ("wss://stream.binance.com:9443/stream", "wss://stream.binance.com:9443/stream"),
        ("wss://user@h/ws?symbol=ETHUSDT", "wss://user@h/ws?symbol=ETHUSDT"),
        ("http://[::1:bad", "http://[::1:bad"),  # not parseable: returned scrubbed, no error
    ],
)
def test_redact_url_hides_passwords_and_secret_parameters(url, want):
    assert redact_url(url) == want


def test_scrub_removes_a_urls_secrets_from_any_text():
    url = f"ws://u:{PASSWORD}@h:1/stream?token={TOKEN}"
    text = f"Cannot connect to {url} (token {TOKEN}); other ws://a:b@c/ too"
    out = scrub(text, url)
    assert PASSWORD not in out and TOKEN not in out and "a:b@" not in out
    assert "ws://a:***@c/" in out


def test_no_secret_of_the_url_shows_in_logs_events_errors_or_reprs(caplog):
    # userinfo password, a token and a listen key as query parameters, on both the WebSocket
    # and the REST base; a cut connection makes the feed log, emit Disconnected / Connected and
    # resync over REST.
    secrets = (PASSWORD, TOKEN, LISTEN_KEY)

    async def scenario():
        async with Simulator("binance", speed=100, autostart=False) as sim:
            host = sim.rest_url.split("://", 1)[1]
            base = f"http://bot:{PASSWORD}@{host}/?token={TOKEN}&listenKey={LISTEN_KEY}"
            events: list[object] = []
            feed = Feed(
                "binance",
                "ETH/USDT",
                ["book", "trades"],
                base_url=base,
                on_event=events.append,
                connection_options=ConnectionOptions(backoff_base=0.05, first_delta_wait=0.1),
            )
            starting = asyncio.ensure_future(feed.start())
            await sim.wait_connections(1, timeout=10)
            sim.start_replay()
            await asyncio.wait_for(starting, 30)
            sim.inject(CloseAfter(500))
            for _ in range(300):  # until the reconnect is live again
                if [type(e) for e in events].count(Connected) >= 2 and feed.connected:
                    break
                await asyncio.sleep(0.05)
            shown = [repr(feed), *map(repr, feed.connections), str(feed.stats())]
            shown += [c.last_error or "" for c in feed.connections]
            await feed.close()
            return events, shown

    with caplog.at_level(logging.DEBUG):
        events, shown = asyncio.run(scenario())
    assert any(isinstance(e, Disconnected) for e in events)  # the cut happened
    connected = [e for e in events if isinstance(e, Connected)]
    assert len(connected) >= 2
    assert connected[0].url.startswith("ws://bot:***@")
    assert "token=***" in connected[0].url and "listenKey=***" in connected[0].url
    # the client's own records (the simulator is the server: its logs are not the feed's)
    records = [r for r in caplog.records if not r.name.startswith(("aiohttp", "tickwire.sim"))]
    assert any(r.name.startswith("tickwire.connection") for r in records)
    texts = [r.getMessage() for r in records]
    texts += [logging.Formatter().formatException(r.exc_info) for r in records if r.exc_info]
    texts += [repr(e) for e in events] + shown
    for secret in secrets:
        leaks = [t for t in texts if secret in t]
        assert not leaks, leaks[:3]
