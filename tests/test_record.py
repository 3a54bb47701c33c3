"""``tickwire record`` and :class:`tickwire.recorder.Recorder` against the simulator, over real
loopback WebSockets: record -> simulate -> replay round trips.

The simulator replays a packaged recording; a Feed records what its socket receives. Every
recorded part is checked against the original recording itself: its data lines are, payload
for payload, one contiguous run of the original's lines of the subscribed streams (found
through the venue's wire format, as the simulator indexes them), and ``tickwire.Replay`` of
the part yields the same events as a replay of that run of original lines (same snapshot:
the one the recorder saved beside the part). The recording is then served by the simulator
(``Recording.load``) and recorded again: same frames.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shlex
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import tickwire as tw
from cli_helpers import Running, assert_fails_with_one_line, run_cli
from tickwire.connection import ConnectionOptions
from tickwire.feed import Feed
from tickwire.recorder import Recorder, recorded_snapshots
from tickwire.replay import Replay, event_to_dict, frame_of_line
from tickwire.simulator import (
    CloseAfter,
    Recording,
    Simulator,
    ThreadedSimulator,
    packaged_recording,
)
from tickwire.simulator.venues import MARKETS

pytestmark = pytest.mark.e2e  # the simulator over loopback

DATA = Path(tw.__file__).parent / "data"
CLOSE_AFTER = 100
MAX_AGE = 2.0  # s: rotation after 1.6 s (ConnectionOptions.max_age)
ROTATION_OVERLAP = 1.0  # s both sockets stay open after a rotation's switch (the default)
FAST = {"backoff_base": 0.05, "first_delta_wait": 0.2}

# (simulator market, exchange, symbols, channels): Binance (text frames, REST snapshot), MEXC
# (protobuf binary frames, REST snapshot), Bybit (snapshots pushed on the socket, a subset of
# the recording's streams)
VENUES = {
    "binance": ("binance", ["ETH/USDT"], ["book", "trades", "bbo"]),
    "mexc": ("mexc", ["SOL/USDT"], ["book"]),
    "bybit-linear": ("bybit", ["BTC/USDT:USDT", "ETH/USDT:USDT"], ["book", "trades"]),
}


def _lines(path: Path) -> list[bytes]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.splitlines()


def _stamps(path: Path) -> list[int]:
    ts = path.with_name(path.name.replace(".jsonl", ".ts"))
    return [int(t) for t in _lines(ts)]


async def record_sim(
    market: str,
    out: Path,
    *,
    recording: Recording | None = None,
    close_at: int | None = None,
    rotate_at: int | None = None,
    **recorder_kwargs: Any,
) -> tuple[Recorder, Feed, dict[str, int]]:
    """Record ``market``'s feed (``VENUES``) while the simulator replays ``recording``
    (default: the packaged one) from the first subscription to its end. ``close_at``: once
    the feed is ready (books synced) and the replay at that line, the simulator closes the
    connection after ``CLOSE_AFTER`` more messages (the feed reconnects). Returns the closed
    recorder, the closed feed and its stats. ``rotate_at``: connections live ``MAX_AGE``
    seconds (the feed rotates them, make-before-break); the replay holds at that line until
    the first rotation switched over, then goes on while both sockets are open."""
    exchange, symbols, channels = VENUES[market]
    rec = Recorder(out, compress=False, **recorder_kwargs)
    served = recording if recording is not None else packaged_recording(market)
    # the recorded snapshot where there is one (else one derived at the replay position)
    mode = "recorded" if served.snapshots else "auto"
    async with Simulator(
        market, recording=served, speed="max", autostart=False, snapshot_mode=mode
    ) as sim:
        feed = Feed(
            exchange,
            symbols,
            channels,
            base_url=sim.rest_url,
            connection_options=ConnectionOptions(
                record=rec,
                max_age=MAX_AGE if rotate_at is not None else None,
                rotation_overlap=ROTATION_OVERLAP,
                **FAST,
            ),
            on_event=lambda _ev: None,
        )
        starting = asyncio.ensure_future(feed.start())
        await sim.wait_connections(1, timeout=10)
        topics = len(feed.subscriptions)
        while not starting.done() and sum(len(c.subscriptions) for c in sim.connections) < topics:  # noqa: ASYNC110 - no event says so
            await asyncio.sleep(0.005)
        hold = close_at if close_at is not None else rotate_at
        if hold is not None:
            sim.hold_at(hold)
        sim.start_replay()
        await asyncio.wait_for(starting, 30)
        if close_at is not None:
            await sim.wait_position(close_at, timeout=30)
            sim.inject(CloseAfter(CLOSE_AFTER))
            sim.resume()
        if rotate_at is not None:
            await sim.wait_position(rotate_at, timeout=30)
            while not feed.stats()["rotations"]:  # noqa: ASYNC110 - no event says so
                await asyncio.sleep(0.01)
            sim.resume()  # within the overlap: both sockets receive
        await sim.wait_finished(timeout=60)
        await asyncio.sleep(0.5)
        # a recording socket decodes through the Python listener, not the Rust FrameSink
        assert {s.on_ws_frame.__name__ for c in feed.connections for s in c._sessions} <= {
            "_recorded_frame"
        }
        stats = feed.stats()
        await feed.close()
    rec.close()
    return rec, feed, stats


def original_lines(market: str, lines: list[bytes]) -> tuple[list[int], int]:
    """The original recording's line indices (0-based) of the data ``lines`` of a recorded
    part, matched payload for payload per stream through the venue's wire format, and how
    many recorded lines are not data of the original (control replies). Asserts that each
    stream's recorded payloads are one run of the original's, and that the lines together
    are one contiguous run of the original's lines of those streams, in the original order."""
    orig = packaged_recording(market)
    wire = MARKETS[market].wire
    per_stream: dict[str, list[bytes]] = {}
    order: list[str] = []
    other = 0
    for line in lines:
        frame, binary = frame_of_line(line)
        try:
            name, data = wire.read_binary(frame) if binary else wire.read_line(line)
        except ValueError:
            other += 1
            continue
        if name not in orig.streams:
            other += 1
            continue
        per_stream.setdefault(name, []).append(data)
        order.append(name)
    index: dict[str, list[int]] = {}
    for name, datas in per_stream.items():
        sd = orig.streams[name]
        k0 = sd.data.index(datas[0])
        assert sd.data[k0 : k0 + len(datas)] == datas, name  # one run of the stream
        index[name] = sd.lines[k0 : k0 + len(datas)]
    taken = {name: iter(ix) for name, ix in index.items()}
    got = [next(taken[name]) for name in order]
    assert got == sorted(got)  # received in the original's order
    wanted = {ln for name in index for ln in orig.streams[name].lines}
    assert got == sorted(ln for ln in wanted if got[0] <= ln <= got[-1])  # nothing skipped
    return got, other


def events(path: Path, exchange: str, market: str, snapshots: list[Path]) -> list[dict[str, Any]]:
    """``tickwire.Replay`` of ``path``: each event as a dict, without what is the recording's
    own (receive time, line number) and without control replies."""
    rep = Replay(path, exchange, snapshots, market=market)
    out = []
    for ev in rep:
        d = event_to_dict(ev, 20, rep.decoder)
        if d["type"] == "control":
            continue
        d.pop("receive_ts", None)
        d.pop("line", None)
        out.append(d)
    return out


def assert_replays_like_the_original(
    market: str, part_lines: list[bytes], part: Path, snapshots: list[Path], tmp: Path
) -> list[dict[str, Any]]:
    """The part's data lines are a run of the original (:func:`original_lines`) and the
    part replays to the same events as that run of original lines with the same snapshots.
    Returns the events."""
    exchange = VENUES[market][0]
    dec_market = MARKETS[market].market
    got, other = original_lines(market, part_lines)
    orig = packaged_recording(market)
    span = tmp / f"original_span_{part.name.removesuffix('.jsonl')}.jsonl"
    span.write_bytes(b"".join(orig.lines[i] + b"\n" for i in got))
    span.with_suffix(".ts").write_bytes(b"".join(b"%d\n" % orig.ts[i] for i in got))
    mine = events(part, exchange, dec_market, snapshots)
    theirs = events(span, exchange, dec_market, snapshots)
    assert mine == theirs
    assert other == 0  # control replies (acks) are not recorded: every line is market data
    rep = Replay(part, exchange, snapshots, market=dec_market)
    assert all(type(e).__name__ != "ControlReply" for e in rep)
    assert rep.stats.bad_lines == []
    return mine


@pytest.mark.parametrize("market", sorted(VENUES))
def test_record_simulate_replay_round_trip(tmp_path, market):
    rec, feed, stats = asyncio.run(record_sim(market, tmp_path / "first"))
    assert stats["reconnects"] == 0
    [(writer, exchange, dec_market)] = rec.sessions
    assert (exchange, dec_market) == (VENUES[market][0], MARKETS[market].market)
    [part] = writer.parts
    lines = _lines(part)
    assert len(lines) == writer.frames
    # every frame the socket decoded but the subscribe acks (at most one per subscription)
    assert 0 < stats["frames"] - writer.frames <= len(feed.subscriptions)
    stamps = _stamps(part)
    assert len(stamps) == len(lines) and stamps == sorted(stamps)
    snaps = recorded_snapshots(part)
    spec = MARKETS[market]
    assert spec.packaged is not None
    if spec.packaged.snapshots:  # a REST venue with a recorded snapshot: saved byte for byte
        for market_id, (path, after) in snaps.items():
            packaged = spec.packaged.snapshots[market_id][0]
            assert path.read_bytes() == (DATA / packaged).read_bytes()
            assert 0 < after <= len(lines)
    snap_paths = [p for p, _ in snaps.values()]
    first = assert_replays_like_the_original(market, lines, part, snap_paths, tmp_path)
    assert first  # the replay shows events (kinds asserted equal to the original's above)
    # binary frames (MEXC's protobuf) are recorded as b64: lines, one per original one
    orig = packaged_recording(market)
    binary = sum(1 for line in lines if line.startswith(b"b64:"))
    assert binary == sum(1 for i in original_lines(market, lines)[0] if i in orig.binary_lines)
    assert (binary > 0) == bool(orig.binary_lines)

    # simulate: the recording (with its snapshots) served by the simulator, recorded again
    served = Recording.load(part, snapshots=snaps)
    again, _, _ = asyncio.run(record_sim(market, tmp_path / "again", recording=served))
    [again_part] = again.parts
    wire = spec.wire

    def data(lines: list[bytes]) -> list[tuple[str, bytes]]:
        out = []
        for line in lines:
            frame, is_binary = frame_of_line(line)
            try:
                out.append(wire.read_binary(frame) if is_binary else wire.read_line(line))
            except ValueError:
                continue  # a control reply
        return out

    assert data(_lines(again_part)) == data(lines)
    again_snaps = recorded_snapshots(again_part)
    assert list(again_snaps) == list(snaps)
    same = all(again_snaps[m][0].read_bytes() == p.read_bytes() for m, (p, _) in snaps.items())
    if spec.packaged.snapshots:
        assert same  # the simulator served the snapshot the recording holds
    if same:  # (MEXC's simulator derives its snapshot from the streams it replays instead)
        assert (
            events(again_part, exchange, dec_market, [p for p, _ in again_snaps.values()]) == first
        )


def test_parts_rotate_by_size_and_together_replay_like_the_original(tmp_path):
    size = sum(len(line) + 1 for line in packaged_recording("binance").lines)
    rec, _, stats = asyncio.run(record_sim("binance", tmp_path / "r", rotate_bytes=size // 4))
    [(writer, _, _)] = rec.sessions
    parts = writer.parts
    assert len(parts) >= 4
    assert [len(recorded_snapshots(p)) for p in parts].count(1) == 1  # the session's one
    lines = [line for p in parts for line in _lines(p)]
    # the whole replay, all three of its streams subscribed: every original line, once
    assert len(lines) == writer.frames == len(packaged_recording("binance"))
    assert stats["reconnects"] == 0
    for p in parts[:-1]:  # each full part holds at least rotate_bytes
        assert sum(len(line) + 1 for line in _lines(p)) >= size // 4
    whole = tmp_path / "whole.jsonl"  # the parts concatenated: the session's recording
    whole.write_bytes(b"".join(line + b"\n" for line in lines))
    whole.with_suffix(".ts").write_bytes(b"".join(b"%d\n" % t for p in parts for t in _stamps(p)))
    snaps = [p for part in parts for p, _ in recorded_snapshots(part).values()]
    assert_replays_like_the_original("binance", lines, whole, snaps, tmp_path)


def test_a_reconnect_starts_a_new_recording_that_replays_on_its_own(tmp_path):
    n = len(packaged_recording("binance")) // 3
    rec, feed, stats = asyncio.run(record_sim("binance", tmp_path / "r", close_at=n))
    assert stats["reconnects"] == 1
    assert [w.name.rsplit("-", 1)[1] for w, _, _ in rec.sessions] == ["s1", "s2"]
    spans = []
    for w, _, _ in rec.sessions:
        [part] = w.parts
        lines = _lines(part)
        snaps = recorded_snapshots(part)
        assert list(snaps) == ["ETHUSDT"]  # each socket synced its book from its own snapshot
        evs = assert_replays_like_the_original(
            "binance", lines, part, [p for p, _ in snaps.values()], tmp_path
        )
        assert [e["type"] for e in evs].count("resynced") == 1  # the part's book synced
        spans.append(original_lines("binance", lines)[0])
    first, second = spans
    assert first[-1] < second[0]  # the old socket's frames end before the new one's begin
    assert len(first) + len(second) <= len(packaged_recording("binance"))
    # the first socket got every line up to the hold and the fault's messages after it
    assert first == list(range(n + CLOSE_AFTER))
    assert feed.stats()["frames"] > sum(w.frames for w, _, _ in rec.sessions)  # + the acks


def test_record_command_end_to_end(tmp_path):
    out = tmp_path / "rec"
    whole = len(packaged_recording("binance"))
    with ThreadedSimulator("binance", speed="max") as sim:
        cmd = Running(
            "record",
            "binance",
            "ETH/USDT",
            "--channels",
            "book,trades,bbo",
            "--out",
            str(out),
            "--base-url",
            sim.rest_url,
            "--no-compress",
        )
        try:
            cmd.wait_for("new part")
            sim.wait_finished(timeout=60)
            # the command flushes every second: wait until every line is on disk
            deadline = time.monotonic() + 60
            while sum(len(_lines(p)) for p in out.glob("*.ts")) < whole:
                assert time.monotonic() < deadline, cmd.output()
                time.sleep(0.2)
        except BaseException:
            cmd.kill()
            raise
        code, stdout, stderr = cmd.interrupt()
    assert code == 130, stderr
    assert "Traceback" not in stdout + stderr
    [summary] = [line for line in stdout.splitlines() if line.startswith("part ")]
    part = Path(summary.removeprefix("part "))
    assert part.parent == out and part.exists()
    [command] = [line for line in stdout.splitlines() if line.startswith("  tickwire replay ")]
    args = shlex.split(command)[1:]
    [snapshot] = recorded_snapshots(part).values()
    assert args == ["replay", str(part), "-x", "binance", "-m", "spot", "-s", str(snapshot[0])]
    proc = run_cli(*args, "--output", "stats")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    # the original replayed from the snapshot the live socket got (derived by the simulator
    # at the position of the request: the recorded one was no longer current)
    original = Replay(DATA / "binance" / "ethusdt_20240808.jsonl.gz", "binance", [snapshot[0]])
    want = Counter(type(e).__name__ for e in original)
    assert {k: v for k, v in stats["events"].items() if k != "ControlReply"} == dict(want)
    assert stats["gaps"] == 0 and stats["warnings"] == []
    assert f"recorded {stats['frames']:,} frames in 1 parts to {out}" in stdout


def test_record_command_stops_after_its_duration(tmp_path):
    with ThreadedSimulator("binance", speed=1.0) as sim:
        proc = run_cli(
            "record",
            "binance",
            "ETH/USDT",
            "-o",
            str(tmp_path),
            "--base-url",
            sim.rest_url,
            "--duration",
            "2",
        )
    assert proc.returncode == 0, proc.stderr
    [part] = sorted(tmp_path.glob("*.jsonl.gz"))
    lines = _lines(part)
    assert f"recorded {len(lines):,} frames in 1 parts" in proc.stdout
    assert len(_stamps(part)) == len(lines) > 1


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["-c", "book,orders"], ["--channels", "'orders'"]),
        (["-c", "book", "--rotate-mb", "0"], ["--rotate-mb"]),
    ],
)
def test_record_command_bad_arguments_are_one_line(tmp_path, args, needles):
    proc = run_cli("record", "binance", "ETH/USDT", "-o", str(tmp_path), *args)
    assert_fails_with_one_line(proc, 2, *needles)


def test_a_rotation_records_both_overlapping_sockets_apart(tmp_path):
    n = len(packaged_recording("binance")) // 3
    rec, _feed, stats = asyncio.run(record_sim("binance", tmp_path / "r", rotate_at=n))
    assert stats["rotations"] >= 1 and stats["reconnects"] == 0
    spans = []
    for w, _, _ in rec.sessions:
        if not w.parts:
            continue  # a rotation's socket that had not received anything
        lines = [line for p in w.parts for line in _lines(p)]
        [part] = w.parts
        snaps = [p for p, _ in recorded_snapshots(part).values()]
        assert len(snaps) == 1  # its own: the one the other socket applied is not in its part
        assert_replays_like_the_original("binance", lines, part, snaps, tmp_path)
        spans.append(original_lines("binance", lines)[0])
    assert len(spans) >= 2
    # the first rotation's two sockets both received the lines after the hold, each recorded
    first, second = spans[:2]
    assert first[0] == 0 and second[0] == n and first[-1] >= n


def test_record_command_that_cannot_start_is_one_line(tmp_path):
    with ThreadedSimulator("binance", speed="max") as sim:
        url = sim.rest_url
    # the simulator is gone: nothing listens there any more
    proc = run_cli(
        "record", "binance", "ETH/USDT", "-o", str(tmp_path), "--base-url", url,
        "--start-timeout", "1",
    )  # fmt: skip
    assert_fails_with_one_line(proc, 1, "the feed did not start")
    assert list(tmp_path.glob("*.jsonl*")) == []  # no socket, no part
