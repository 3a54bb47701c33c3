"""The command line as a user runs it: subprocesses of the installed `tickwire` entry point."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import pytest

from cli_helpers import TICKWIRE, Running, assert_fails_with_one_line, run_cli
from conftest import ETHUSDT, data_of
from tickwire.simulator import ThreadedSimulator

pytestmark = pytest.mark.e2e  # every test here runs the simulator over loopback

CLI = TICKWIRE


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
            check=False,
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
        [*CLI, "stream", "binance", "ETH/USDT:USDT"], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 2 and b"ETH/USDT:USDT" in proc.stderr


def test_demo_runs_offline_and_recovers_from_the_injected_faults():
    """The README's main job: no network, one disconnect and one gap, both recovered, final
    books verified against the recordings; plain lines because stdout is not a terminal."""
    proc = subprocess.run([*CLI, "demo"], capture_output=True, timeout=120, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    summary = out[out.index("tickwire demo:") :]
    assert "reconnects 1" in summary and "gaps 1" in summary
    # whatever trades the spot disconnect made it miss (how many depends on how long the
    # reconnect took; the replay pauses while no socket is subscribed) were fetched over REST
    spot = summary[summary.index("Binance spot") : summary.index("Binance USD-M")]
    assert re.search(r"disconnected: \d+ fetched, 0 missed", spot), spot
    # Binance's missed trades are fetched, never only reported (a venue without a public
    # past-trades request, Coinbase Exchange, reports the ids it missed instead)
    assert not re.search(r"binance\w*: .*published while disconnected \(ids", out)
    from tickwire.demo import demo_markets

    assert summary.count("final book matches the recording") == len(demo_markets())


# ---- stream: startup failures and Ctrl-C ----------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def test_stream_that_cannot_connect_fails_in_one_line():
    """Connection refused is transient: the feed backs off until the start timeout, then one
    line and exit 1 (it was a 40-line traceback)."""
    url = f"ws://127.0.0.1:{_closed_port()}"
    proc = run_cli("stream", "binance", "ETH/USDT", "--base-url", url, "--start-timeout", "3")
    assert_fails_with_one_line(proc, 1, "did not start")
    assert proc.stderr.splitlines()[-1].startswith("Error:")
    assert proc.stdout == ""


def test_stream_refused_by_the_server_fails_in_one_line():
    """An HTTP 404 on the WebSocket upgrade (a wrong base URL) is one line naming the status
    (at once with the connection layer's permanent-refusal rule, else at the start timeout)."""
    with ThreadedSimulator("binance", speed=1.0) as sim:
        proc = run_cli(
            "stream",
            "binance",
            "ETH/USDT",
            "--base-url",
            sim.rest_url + "/no-such-route",
            "--start-timeout",
            "20",
        )
    assert_fails_with_one_line(proc, 1, "404")


def test_stream_interrupted_exits_130_and_closes_its_connection():
    """Ctrl-C: exit 130 (it was 0), no traceback, and the WebSocket is closed with a close
    frame (1000) before the process ends."""
    with ThreadedSimulator("binance", speed=1.0) as sim:
        run = Running("stream", "binance", "ETH/USDT", "--base-url", sim.rest_url)
        try:
            run.wait_for('"type":"bbo"')
            (conn,) = sim.wait_connections(1)
        finally:
            code, out, err = run.interrupt()
        assert code == 130, err
        assert "Traceback" not in out + err
        # the server thread may see the close frame after the process has ended
        deadline = time.monotonic() + 30
        while conn.close_code is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert conn.close_code == 1000, conn.info()


# ---- demo and simulate: Ctrl-C and a port in use --------------------------------------------------


def test_demo_interrupted_exits_130_quietly():
    """Ctrl-C during the demo: exit 130 and nothing on stderr (it was 44 lines of traceback
    from the demo's own waits dying unretrieved)."""
    run = Running("demo")
    run.wait_for("ETH/USDT")
    code, out, err = run.interrupt()
    assert code == 130, err
    assert "Traceback" not in out and err == ""


def test_simulate_on_a_port_in_use_is_one_error_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        proc = run_cli("simulate", "-m", "binance", "--port", port)
    assert_fails_with_one_line(proc, 1, f"127.0.0.1:{port}", "address already in use")
