"""`tickwire replay` for any registered venue and market, its stats JSON (checksums per
decoder and per book), and its progress bar on a terminal; `tickwire stream -x ID`."""

from __future__ import annotations

import importlib.resources
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import TICKWIRE, assert_fails_with_one_line, run_cli
from tickwire import _core
from tickwire.replay import Replay, SnapshotFile, frame_of_line, line_of_frame

DATA = Path(str(importlib.resources.files("tickwire") / "data"))
SPOT = DATA / "binance" / "ethusdt_20240808.jsonl.gz"
SPOT_SNAPSHOT = DATA / "binance" / "ethusdt_20240808_depth_snapshot.json"


def test_stats_report_checksums_per_decoder_and_per_book():
    proc = run_cli("replay", str(SPOT), "-x", "binance", "-m", "spot", "-s", str(SPOT_SNAPSHOT))
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    # the same replay in process: the CLI reports the decoder's own counters
    rep = Replay(SPOT, "binance", [SPOT_SNAPSHOT], market="spot")
    for _ in rep:
        pass
    dec = rep.decoder
    assert stats["market"] == "spot"
    assert stats["checksums_verified"] == dec.stats().get("checksums_verified", 0)
    assert stats["checksum_mismatches"] == dec.stats().get("checksum_mismatches", 0) == 0
    assert stats["gaps"] == len(rep.stats.gaps) == 0 and stats["gaps_by_reason"] == {}
    (symbol,) = dec.symbols()
    book = stats["books"][symbol]
    assert book["synced"] and book["sequence"] == dec.book(symbol).sequence
    assert {"checksums_verified", "checksum_mismatches"} <= set(book)
    assert book["checksum_mismatches"] == 0
    assert rep.progress() == (SPOT.stat().st_size, SPOT.stat().st_size)


def test_replay_names_an_unknown_market_and_lists_the_venues():
    markets = _core.venues()["binance"]  # type: ignore[attr-defined]
    proc = run_cli("replay", str(SPOT), "-x", "binance", "--market", "inverse")
    assert_fails_with_one_line(proc, 2, "'inverse'", *markets)


def test_replay_shows_a_progress_bar_on_a_terminal():
    """stderr on a pseudo-terminal and the delay before the bar lowered to 0 s: the bar
    (description and byte counts, drawn by rich) appears on stderr, stdout stays the stats JSON
    alone."""
    code = (
        "import tickwire.cli as c; c.PROGRESS_AFTER_S = 0; c.PROGRESS_EVERY = 1000; "
        f"c.main(['replay', {str(SPOT)!r}, '-x', 'binance', '-s', {str(SPOT_SNAPSHOT)!r}])"
    )
    main, sub = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=sub, env=env
    )
    os.close(sub)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(main)
    assert proc.returncode == 0, drawn[-500:]
    assert json.loads(out)["frames"] > 0
    text = drawn.decode("utf-8", "replace")
    assert f"replay {SPOT}"[:30] in text, text[-500:]
    assert "MB" in text or "kB" in text, text[-500:]


def test_replay_without_a_terminal_draws_no_bar():
    proc = run_cli("replay", str(SPOT), "-x", "binance", "-s", str(SPOT_SNAPSHOT))
    assert proc.returncode == 0 and proc.stderr == ""


@pytest.mark.e2e
def test_stream_takes_the_exchange_as_an_option():
    from tickwire.simulator import ThreadedSimulator

    with ThreadedSimulator("binance", speed=20.0) as sim:
        proc = subprocess.run(
            [
                *TICKWIRE,
                "stream",
                "-x",
                "binance",
                "ETH/USDT",
                "-c",
                "trades",
                "--base-url",
                sim.rest_url,
                "--limit",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    kinds = [json.loads(line)["type"] for line in proc.stdout.splitlines()]
    assert kinds[0] == "connected" and kinds.count("trade") == 20


def test_stream_without_an_exchange_names_the_choices():
    proc = run_cli("stream", "ETH/USDT")
    assert_fails_with_one_line(proc, 2, "no exchange", "binance", "'ETH/USDT'")


def test_b64_lines_are_binary_frames_and_snapshots_are_the_venues(tmp_path):
    # The recording-line convention: "b64:" + base64 is a binary frame (fed with binary=True:
    # Binance's parser, text only, rejects it by name), a malformed one a bad line naming base64;
    # every other line is decoded as before. A snapshot given with its symbol is read by the
    # venue's own parser (a body it rejects is a usage error naming the field).
    import gzip

    lines = gzip.decompress(SPOT.read_bytes()).splitlines()
    trades = [i for i, ln in enumerate(lines) if b'"ethusdt@trade"' in ln]
    binary = set(trades[::5])
    out = [line_of_frame(ln, i in binary) for i, ln in enumerate(lines)]
    out[trades[1]] = b"b64:not base64!"
    rec = tmp_path / "ethusdt_b64.jsonl"
    rec.write_bytes(b"\n".join(out) + b"\n")
    proc = run_cli("replay", str(rec), "-x", "binance", "-s", f"ETH/USDT={SPOT_SNAPSHOT}")
    stats = json.loads(proc.stdout)
    assert stats["bad_lines"] == sorted(i + 1 for i in (*binary, trades[1]))
    assert proc.returncode == 1, proc.stderr[-2000:]
    rep = Replay(rec, "binance", [SnapshotFile(SPOT_SNAPSHOT, "ETH/USDT")])
    assert sum(1 for e in rep if isinstance(e, _core.Trade)) == stats["events"]["Trade"]
    bad = {b.line: b.error for b in rep.stats.bad_lines}
    assert set(bad) == {i + 1 for i in (*binary, trades[1])}
    assert all("binary frame" in bad[i + 1] for i in binary)
    assert "base64" in bad[trades[1] + 1]
    plain = Replay(SPOT, "binance", [SPOT_SNAPSHOT])
    want = sum(1 for e in plain if isinstance(e, _core.Trade)) - len(binary) - 1
    assert stats["events"]["Trade"] == want and stats["gaps"] == 0
    assert stats["books"]["ETH/USDT"]["synced"]
    # The same frames' bytes round-trip through the convention.
    assert all(frame_of_line(out[i]) == (lines[i], True) for i in binary)
    assert frame_of_line(lines[0]) == (lines[0], False)
    snap = tmp_path / "ethusdt_snapshot.json"
    snap.write_text(json.dumps({"lastUpdateId": 1, "bids": [["1", "x"]], "asks": []}))
    proc = run_cli("replay", str(SPOT), "-x", "binance", "-s", f"ETH/USDT={snap}")
    assert_fails_with_one_line(proc, 2, str(snap), "not a binance depth snapshot")
    proc = run_cli("replay", str(SPOT), "-x", "okx", "-s", f"BTC/USDT={SPOT_SNAPSHOT}")
    assert_fails_with_one_line(proc, 2, str(SPOT_SNAPSHOT), "snapshots on the WebSocket")
