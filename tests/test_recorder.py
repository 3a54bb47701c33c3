"""Recording files written by tickwire read back exactly: the packaged recordings (text and
binary frames) written through a RecordingWriter with rotation come back frame for frame and
stamp for stamp, and each part replays through ``tickwire replay`` with no bad line."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

import tickwire as tw
from tickwire.recorder import Recorder, RecordingWriter, recorded_snapshots
from tickwire.replay import frame_of_line, read_timestamps, timestamps_path
from venue_helpers import replay_stats

DATA = Path(tw.__file__).parent / "data"


def _read(path: Path) -> list[bytes]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return raw.splitlines()


@pytest.mark.parametrize(
    ("exchange", "recording"),
    [
        ("binance", DATA / "binance" / "ethusdt_20240808.jsonl.gz"),
        ("mexc", DATA / "mexc" / "transcoded_pb_spot_solusdt_20250112.jsonl.gz"),  # binary
    ],
)
@pytest.mark.parametrize("compress", [True, False])
def test_frames_and_stamps_come_back_exactly_across_rotated_parts(
    tmp_path, exchange, recording, compress
):
    frames = [frame_of_line(line) for line in _read(recording)]
    ts_file = timestamps_path(recording)
    assert ts_file is not None
    stamps = read_timestamps(ts_file)
    size = sum(len(f) for f, _ in frames)
    with RecordingWriter(
        tmp_path, exchange, compress=compress, rotate_bytes=max(1, size // 3), flush_bytes=4096
    ) as w:
        for (frame, binary), ts in zip(frames, stamps, strict=True):
            w.write(frame, ts, binary)
    parts = w.parts
    assert len(parts) >= (3 if len(frames) > 3 else 1)
    got = [frame_of_line(line) for p in parts for line in _read(p)]
    got_stamps = [t for p in parts for t in read_timestamps(timestamps_path(p) or p)]
    assert got == frames
    assert got_stamps == stamps
    assert w.frames == len(frames) and w.rewritten == 0
    for p in parts:  # every part is a recording of its own
        stats = replay_stats(p, exchange)
        assert stats["bad_lines"] == []


def test_a_text_frame_with_line_breaks_stays_one_line_and_the_same_json(tmp_path):
    import json

    pretty = json.dumps({"e": "trade", "p": "1.5", "q": "2"}, indent=2).encode()
    with RecordingWriter(tmp_path, "x", compress=False) as w:
        w.write(pretty, 1)
        w.write(b'{"a":\r\n1}', 2)
    lines = _read(w.parts[0])
    assert len(lines) == 2 and w.rewritten == 2
    assert json.loads(lines[0]) == json.loads(pretty)
    assert json.loads(lines[1]) == {"a": 1}


def test_parts_rotate_by_age(tmp_path):
    now = [0.0]
    with RecordingWriter(tmp_path, "x", compress=False, rotate_s=10, clock=lambda: now[0]) as w:
        for i in range(30):
            now[0] = float(i)
            w.write(b"{}", i)
    assert [len(_read(p)) for p in w.parts] == [10, 10, 10]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": ""}, "recording name ''"),
        ({"name": "a/b"}, "recording name 'a/b'"),
        ({"rotate_bytes": 0}, "rotate_bytes (0)"),
        ({"rotate_s": 0}, "rotate_s (0)"),
    ],
)
def test_bad_arguments_name_the_value(tmp_path, kwargs, needle):
    args = {"name": "x", **kwargs}
    with pytest.raises(ValueError, match=re.escape(needle)):
        RecordingWriter(tmp_path, args.pop("name"), **args)


def test_snapshots_are_saved_beside_their_part_and_found_again(tmp_path):
    frames = [
        frame_of_line(line)[0] for line in _read(DATA / "binance" / "ethusdt_20240808.jsonl.gz")[:6]
    ]
    body = (DATA / "binance" / "ethusdt_20240808_depth_snapshot.json").read_bytes()
    with RecordingWriter(
        tmp_path, "x", compress=False, rotate_bytes=sum(map(len, frames[:3]))
    ) as w:
        for i, f in enumerate(frames[:2]):
            w.write(f, i)
        first = w.snapshot("ETHUSDT", body)  # after 2 lines of part 1
        w.write(frames[2], 2)
        later = w.snapshot("ETHUSDT", b"{}")  # a resync later in the same part
        odd = w.snapshot("XBT/USD", b"{}")  # a market id that is no file name
        for i, f in enumerate(frames[3:], 3):  # part 2
            w.write(f, i)
    assert len(w.parts) == 2 and w.snapshots == [first, later, odd]
    assert first.read_bytes() == body and first.parent == tmp_path
    assert "/" not in odd.name and "ethusdt" in first.name.lower()  # replay finds it by name
    assert recorded_snapshots(w.parts[0]) == {"ETHUSDT": (first, 2), "XBT/USD": (odd, 3)}
    assert recorded_snapshots(w.parts[1]) == {}


def test_a_recorder_checks_its_arguments_before_any_socket(tmp_path):
    with pytest.raises(ValueError, match=re.escape("rotate_bytes (0)")):
        Recorder(tmp_path, rotate_bytes=0)
    rec = Recorder(tmp_path / "r", compress=False)
    w = rec.session("binance/spot#0", 3, "binance", "spot")
    assert w.name == "binance-spot-c0-s3" and rec.sessions == [(w, "binance", "spot")]
    assert list((tmp_path / "r").iterdir()) == []  # no file before the first frame
