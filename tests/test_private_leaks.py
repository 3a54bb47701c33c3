"""No secret anywhere: every log record (DEBUG and up, every logger, tracebacks included), the
repr and str of every event, exception, stats dict, feed, connection, adapter and credentials,
and the CLI's output, through full private sessions with faults (disconnect, rotation after a
refused key, rejected login, refused API key, transient 5xx).

The secrets looked for are the API key and secret, every listen key the venue issued and every
signature the client sent (read from what the simulator received), so a leak of any of them,
whole, is caught.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import traceback

import pytest

import tickwire as tw
from private_helpers import (
    KEY,
    SECRET,
    KeyedSpot,
    KeyedVenue,
    private_exchanges,
    venue_case,
    venue_session,
    wait_for,
)
from tickwire.connection import ConnectionOptions
from tickwire.events import Connected
from tickwire.simulator import CloseAfter, Simulator

pytestmark = pytest.mark.e2e

FAST = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2, ack_timeout=1.0)


class _Everything(logging.Handler):
    """Every record, formatted with its traceback, as the user's own handler would see it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs():
    """Capture every logger at DEBUG (the root and the libraries' own levels)."""
    handler = _Everything()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    names = ["tickwire", "picows", "aiohttp", "asyncio"]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        for n, lvl in levels.items():
            logging.getLogger(n).setLevel(lvl)


def _shown(obj: object) -> list[str]:
    out = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        out.append("".join(traceback.format_exception(obj)))
    return out


def _secrets(venue: KeyedVenue) -> list[str]:
    found = [KEY, SECRET, *venue.issued]
    for _, text in venue.messages:
        params = json.loads(text).get("params")
        if isinstance(params, dict) and "signature" in params:
            found.append(params["signature"])
    return found


def test_no_secret_in_logs_events_errors_or_reprs(run, all_logs):
    async def scenario():
        shown: list[str] = []
        async with Simulator("binance", speed=1) as sim:
            venue = KeyedVenue(post_script=[503]).install(sim)
            events: list = []
            adapter = KeyedSpot(sim.rest_url, refresh_s=0.3)
            feed = tw.Feed(
                adapter, channels=["orders"], on_event=events.append, connection_options=FAST
            )
            async with feed:
                sim.inject(CloseAfter(0))  # a disconnect: reconnect, new key, new login
                await wait_for(lambda: len([e for e in events if isinstance(e, Connected)]) == 2)
                venue.expired.add(venue.issued[-1])  # the key dies: refresh refused, rotation
                await wait_for(lambda: feed.stats()["rotations"] == 1)
                await asyncio.sleep(0.3)
                shown += _shown(feed) + _shown(feed.stats()) + _shown(adapter)
                shown += [x for c in feed.connections for x in _shown(c)]
                shown += _shown(adapter.credentials) + _shown(adapter.clock)
            for bad in (
                tw.Credentials(api_key=KEY, secret=SECRET[::-1]),  # rejected login
                tw.Credentials(api_key=KEY[::-1], secret=SECRET),  # refused key (HTTP 401)
            ):
                f = tw.Feed(
                    KeyedSpot(sim.rest_url, credentials=bad),
                    channels=["orders"],
                    connection_options=FAST,
                )
                with pytest.raises(tw.AuthError) as ei:
                    await f.start()
                shown += _shown(ei.value) + _shown(f) + _shown(f.stats())
            shown += [x for e in events for x in _shown(e)]
            return venue, shown, events

    venue, shown, _ = run(scenario())
    secrets = [*_secrets(venue), SECRET[::-1], KEY[::-1]]
    assert len(venue.issued) >= 3 and len(secrets) >= 8
    assert len(all_logs.lines) > 10  # DEBUG records were captured (picows, asyncio, tickwire)
    text = "\n".join(shown + all_logs.lines)
    leaked = [s[:4] + "…" for s in secrets if s in text]
    assert not leaked, leaked
    # what was shown still says what happened
    assert "rejected the login (code -1022)" in text and "HTTP 401" in text
    assert "listenKey=***" in text


def test_cli_never_prints_the_keys_it_reads(tmp_path):
    """`tickwire stream --private` with keys in a .env file and the environment: usage errors
    and startup failures name variables, never values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKWIRE_")}
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"TICKWIRE_BINANCE_API_KEY={KEY}\nTICKWIRE_BINANCE_API_SECRET={SECRET}\n")
    nowhere = ["--base-url", "http://127.0.0.1:9", "--start-timeout", "1"]  # never the venue
    runs = [
        ["stream", "binance", "--private", "--dotenv", str(dotenv), *nowhere],
        ["stream", "binance", "ETH/USDT", "-c", "trades,orders", "--dotenv", str(dotenv)],
        ["stream", "binance", "--private", *nowhere],
    ]
    outputs = []
    for args in runs:
        proc = subprocess.run(
            [sys.executable, "-m", "tickwire", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "TICKWIRE_BINANCE_API_SECRET": SECRET},
            check=False,
        )
        outputs.append((proc.returncode, proc.stdout + proc.stderr))
    # a usage error (no account channel there yet) or a feed that cannot start: exit 2 or 1
    assert outputs[0][0] in (1, 2) and [code for code, _ in outputs[1:]] == [2, 2]
    assert "TICKWIRE_BINANCE_API_KEY" in outputs[2][1]  # names the variable that is missing
    for _, text in outputs:
        assert KEY not in text and SECRET not in text


@pytest.mark.parametrize("exchange", private_exchanges())
def test_no_secret_in_a_venue_session_with_faults(run, all_logs, exchange):
    """Each venue's own private side, on its simulator: a session with a fill burst cut by a
    disconnect, a 5xx on the recovery, every token expired, then an unknown key. No key,
    secret, passphrase, signature or token (as the adapter made them) anywhere shown."""
    session = run(venue_session(exchange, venue_case(exchange)))
    assert len(session.errors) == 1  # the unknown key was refused: its error is shown too
    shown = session.shown + [x for e in session.errors for x in _shown(e)]
    text = "\n".join(shown + all_logs.lines)
    secrets = [s for s in session.secrets if len(s) >= 6]
    assert len(secrets) > 4  # signatures / tokens were made and are looked for
    leaked = [s[:4] + "…" for s in secrets if s in text]
    assert not leaked, leaked
    assert len(all_logs.lines) > 10
