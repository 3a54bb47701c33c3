"""Bad input and Ctrl-C through the installed `tickwire` console script, for the commands that
need no simulator: one error line naming the file or value, what was read so far, a non-zero
exit code, never a traceback."""

from __future__ import annotations

import importlib.resources
import json
import zlib
from pathlib import Path

import pytest

from cli_helpers import Running, assert_fails_with_one_line, run_cli
from tickwire.cli import EXIT_BAD_LINES, EXIT_GAPS, EXIT_UNREADABLE

# The recordings the package ships (from the installed package: CI runs this against the wheel).
DATA = Path(str(importlib.resources.files("tickwire") / "data"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPOT = DATA / "binance" / "ethusdt_20240808.jsonl.gz"
SPOT_SNAPSHOT = DATA / "binance" / "ethusdt_20240808_depth_snapshot.json"
USDM = DATA / "binanceusdm" / "ethusdt_20240808.jsonl.gz"
USDM_SNAPSHOT = DATA / "binanceusdm" / "ethusdt_20240808_depth_snapshot.json"
BLZETH_SNAPSHOT = FIXTURES / "binance" / "cf_depth_snapshot_blzeth_20211012.json"


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


# ---- replay: unreadable files --------------------------------------------------------------------


def test_truncated_gzip_recording_prints_the_stats_read_and_one_error_line(tmp_path):
    whole = SPOT.read_bytes()
    cut = tmp_path / "cut_ethusdt.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    # the complete lines in the part that survived, decompressed independently of tickwire
    partial = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2])
    complete_lines = partial.count(b"\n")
    proc = run_cli("replay", str(cut), "-e", "binance", "-s", f"ETH/USDT={SPOT_SNAPSHOT}")
    line = assert_fails_with_one_line(proc, EXIT_UNREADABLE, str(cut), "truncated")
    assert "Aborted" not in proc.stderr, line
    stats = json.loads(proc.stdout)
    assert 0 < stats["frames"] <= complete_lines
    assert stats["books"]["ETH/USDT"]["synced"]  # what was read was replayed in full


def test_recording_that_is_not_gzip_is_one_error_line(tmp_path):
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(b'{"stream":"ethusdt@trade","data":{}}\n')
    proc = run_cli("replay", str(fake), "-e", "binance")
    assert_fails_with_one_line(proc, EXIT_UNREADABLE, str(fake), "not a gzip file")
    assert json.loads(proc.stdout)["frames"] == 0


def test_snapshot_that_is_not_json_is_a_usage_error_naming_it(tmp_path):
    snap = tmp_path / "ethusdt_snapshot.json"
    snap.write_text("lastUpdateId=1\n")
    proc = run_cli("replay", str(SPOT), "-e", "binance", "-s", f"ETH/USDT={snap}")
    assert_fails_with_one_line(proc, 2, str(snap), "not JSON")


def test_snapshot_without_last_update_id_is_a_usage_error_naming_it(tmp_path):
    snap = tmp_path / "ethusdt_snapshot.json"
    snap.write_text(json.dumps({"bids": [], "asks": []}))
    proc = run_cli("replay", str(SPOT), "-e", "binance", "-s", f"ETH/USDT={snap}")
    assert_fails_with_one_line(proc, 2, str(snap), "lastUpdateId")


def test_corrupt_timestamp_file_is_one_error_line(tmp_path):
    rec = tmp_path / "x_ethusdt.jsonl.gz"
    rec.write_bytes(SPOT.read_bytes())
    bad_ts = tmp_path / "x_ethusdt.ts.gz"  # the sibling replay reads receive times from
    bad_ts.write_bytes(b"not gzip")
    proc = run_cli("replay", str(rec), "-e", "binance")
    assert_fails_with_one_line(proc, EXIT_UNREADABLE, str(bad_ts), "not a gzip file")


# ---- replay: data of another market or symbol ------------------------------------------------


def test_usdm_recording_replayed_as_spot_is_bad_lines_not_spot_events():
    """Needs the decoder to reject frames of the other Binance market (rust branch)."""
    proc = run_cli("replay", str(USDM), "-e", "binance")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode & EXIT_BAD_LINES, proc.stderr[-2000:]
    stats = json.loads(proc.stdout)
    assert stats["events"].get("BBO", 0) == 0 and stats["events"].get("Trade", 0) == 0
    assert len(stats["bad_lines"]) == stats["frames"]
    # stderr names the first bad lines and counts the rest in one line
    assert len(proc.stderr.splitlines()) < 30, proc.stderr[-2000:]
    assert f"{stats['frames']:,} bad lines in all" in proc.stderr


def test_depth_stream_that_never_syncs_is_warned_about():
    proc = run_cli("replay", str(SPOT), "-e", "binance")
    assert proc.returncode == 0, proc.stderr
    (warning,) = warnings_of(proc.stderr)
    assert "ETH/USDT" in warning and "never synced" in warning
    assert "no snapshot was given" in warning
    assert not json.loads(proc.stdout)["books"]["ETH/USDT"]["synced"]


def test_snapshot_of_another_market_is_warned_about():
    """The USD-M snapshot's update id is far beyond every spot delta's: every delta is stale,
    the book would silently stay the USD-M snapshot."""
    proc = run_cli("replay", str(SPOT), "-e", "binance", "-s", f"ETH/USDT={USDM_SNAPSHOT}")
    assert "Traceback" not in proc.stderr
    (warning,) = warnings_of(proc.stderr)
    last_id = json.loads(USDM_SNAPSHOT.read_bytes())["lastUpdateId"]
    assert str(USDM_SNAPSHOT) in warning and str(last_id) in warning
    assert "newer than every ETH/USDT depth delta" in warning


def test_snapshot_of_another_symbol_is_warned_about_and_the_gap_reported():
    proc = run_cli("replay", str(SPOT), "-e", "binance", "-s", f"ETH/USDT={BLZETH_SNAPSHOT}")
    assert proc.returncode == EXIT_GAPS, proc.stderr
    warnings = warnings_of(proc.stderr)
    assert any(
        str(BLZETH_SNAPSHOT) in w and "older than every ETH/USDT depth delta" in w for w in warnings
    ), proc.stderr


def test_the_right_snapshot_gives_no_warning():
    proc = run_cli("replay", str(SPOT), "-e", "binance", "-s", f"ETH/USDT={SPOT_SNAPSHOT}")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


# ---- replay: Ctrl-C -------------------------------------------------------------------------------


def test_replay_interrupted_exits_130_without_traceback():
    run = Running("replay", str(SPOT), "-e", "binance", "-o", "jsonl")
    run.wait_for('"type":')  # a recording this size fills the pipe: it is still running
    code, out, err = run.interrupt()
    assert code == 130, err
    assert "Traceback" not in out + err
    assert "interrupted after line" in err


# ---- simulate: bad arguments (rejected before any server starts) ---------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--speed", "0"], ["--speed", "'0'"]),
        (["--speed", "abc"], ["--speed", "'abc'"]),
        (["--speed", "-2"], ["--speed", "'-2'"]),
        (["--fault", "close_after=-5"], ["--fault", "close_after=-5", "-5"]),
        (["--fault", "stall=-1"], ["--fault", "stall=-1"]),
        (["--fault", "close_after=abc"], ["--fault", "'abc'", "integer"]),
        (["--fault", "lifetime=0"], ["--fault", "lifetime=0", "> 0"]),
        (["--ping-interval", "-1"], ["--ping-interval", "-1"]),
    ],
)
def test_simulate_rejects_bad_values_in_one_line(args, needles):
    proc = run_cli("simulate", *args)
    assert_fails_with_one_line(proc, 2, *needles)
    assert proc.stdout == ""  # nothing was served


def test_every_health_event_has_a_jsonl_form():
    """`stream`/`replay --output jsonl` print every event a feed can emit: each health event
    class in tickwire.events maps to a distinct "type" and all its fields."""
    import dataclasses
    import inspect

    from tickwire import events
    from tickwire.replay import event_to_dict

    classes = [
        c for c in vars(events).values() if inspect.isclass(c) and dataclasses.is_dataclass(c)
    ]
    kinds = set()
    for cls in classes:
        fields = [f.name for f in dataclasses.fields(cls)]
        ev = cls(**{name: 0 if name != "exchange" else "binance" for name in fields})
        d = event_to_dict(ev)
        assert set(d) == {"type", *fields}, cls
        kinds.add(d["type"])
    assert len(kinds) == len(classes)  # each its own type
