"""The command line as a user runs it: subprocesses of the installed `tickwire` entry point."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import ETHUSDT, data_of
from tickwire.simulator import ThreadedSimulator

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback

CLI = [sys.executable, "-m", "tickwire.cli"]


def test_stream_prints_the_exchange_data_as_jsonl():
    """`tickwire stream` is the live code path with another base URL: pointed at the simulator
    it prints Connected, then BBO/trade/book events whose ids and prices are the recording's."""
    recorded = {}
    for line in ETHUSDT[0].lines():
        d = data_of(line)
        if "e" not in d:  # spot bookTicker
            recorded[d["u"]] = (float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]))
    with ThreadedSimulator("binance", speed=20.0) as sim:
        proc = subprocess.run(
            [*CLI, "stream", "binance", "ETH/USDT", "--base-url", sim.rest_url, "--limit", "200"],
            capture_output=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[0]["type"] == "connected"
    bbos = [e for e in events if e["type"] == "bbo"]
    assert bbos and len([e for e in events if e["type"] in ("bbo", "trade", "book")]) == 200
    for e in bbos:
        assert (*e["bid"], *e["ask"]) == recorded[e["sequence"]]


def test_stream_rejects_a_bad_symbol_before_connecting():
    proc = subprocess.run(
        [*CLI, "stream", "binance", "ETH/USDT:USDT"], capture_output=True, timeout=60
    )
    assert proc.returncode == 2 and b"ETH/USDT:USDT" in proc.stderr


def test_demo_runs_offline_and_recovers_from_the_injected_faults():
    """The README's main job: no network, one disconnect and one gap, both recovered, final
    books verified against the recordings; plain lines because stdout is not a terminal."""
    proc = subprocess.run([*CLI, "demo"], capture_output=True, timeout=120)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    summary = out[out.index("tickwire demo:") :]
    assert "reconnects 1" in summary and "gaps 1" in summary
    # whatever trades the spot disconnect made it miss (how many depends on how long the
    # reconnect took; the replay pauses while no socket is subscribed) were fetched over REST
    spot = summary[summary.index("Binance spot") : summary.index("Binance USD-M")]
    assert re.search(r"disconnected: \d+ fetched, 0 missed", spot), spot
    assert "published while disconnected (ids" not in out
    assert summary.count("final book matches the recording") == 2
