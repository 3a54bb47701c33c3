"""Recorded Binance combined-stream frames, indexed by stream and pre-encoded as WebSocket frames.

A recording is a JSONL file (optionally gzip) with one raw combined-stream frame per line,
``{"stream":"ethusdt@depth@100ms","data":{...}}``, a companion file of receive timestamps (one
per line: int ns since the epoch, or float seconds), and zero or more REST depth snapshots, each
known to have been received after a given line.

Only the envelope is looked at when loading (the stream name and the byte span of ``data``);
depth diffs are JSON-parsed lazily, and only by the snapshot synthesizer (see ``book.py``).
"""

from __future__ import annotations

import bisect
import gzip
import heapq
import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

_ENVELOPE_PREFIX = b'{"stream":"'


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """Encode one unmasked, unfragmented server-to-client WebSocket frame (RFC 6455 §5.2).

    ``opcode`` 0x1 text, 0x2 binary, 0x9 ping, 0xA pong. Server frames are never masked, so
    the encoding is a header of 2, 4 or 10 bytes followed by the payload unchanged.
    """
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _parse_ts(raw: bytes) -> list[int]:
    """Receive timestamps as int ns; accepts int ns or float seconds per line."""
    out = []
    for tok in raw.split():
        if b"." in tok or b"e" in tok.lower():
            out.append(int(Decimal(tok.decode()) * 1_000_000_000))
        else:
            out.append(int(tok))
    return out


@dataclass
class Snapshot:
    """One recorded REST depth snapshot.

    ``body``: the REST response body exactly as received. ``after_line``: number of recording
    lines received before it (it arrived between line ``after_line`` and ``after_line + 1``,
    1-based), so the simulator serves it once its replay position reaches ``after_line``.
    """

    symbol: str
    body: bytes
    after_line: int
    last_update_id: int


@dataclass
class StreamData:
    """All recorded messages of one stream: global line indices and raw ``data`` payloads."""

    name: str
    lines: list[int]
    data: list[bytes]
    source: str | None = None  # set for an alias: the recorded stream it re-labels
    _frames: dict[bool, list[bytes]] = field(default_factory=dict, repr=False)

    def frames(self, combined: bool) -> list[bytes]:
        """Pre-encoded WebSocket text frames (combined envelope or raw payload), built once."""
        got = self._frames.get(combined)
        if got is None:
            if combined:
                head = _ENVELOPE_PREFIX + self.name.encode() + b'","data":'
                got = [ws_frame(head + d + b"}") for d in self.data]
            else:
                got = [ws_frame(d) for d in self.data]
            self._frames[combined] = got
        return got


class View:
    """The merged, pre-encoded byte stream one subscription set receives, in recorded order.

    ``lines[k]`` is the recording line of the k-th message, ``streams[k]`` its stream name and
    ``blob[offsets[k]:offsets[k+1]]`` its encoded WebSocket frame, so any line range is one
    slice of ``blob`` found by bisection: no per-message Python work on the fast path.
    """

    __slots__ = ("blob", "lines", "mv", "offsets", "streams")

    def __init__(self, parts: Sequence[StreamData], combined: bool):
        merged = heapq.merge(
            *[
                zip(sd.lines, [sd.name] * len(sd.lines), sd.frames(combined), strict=True)
                for sd in parts
            ]
        )
        lines: list[int] = []
        streams: list[str] = []
        chunks: list[bytes] = []
        for line, name, frame in merged:
            lines.append(line)
            streams.append(name)
            chunks.append(frame)
        offsets = [0] * (len(chunks) + 1)
        acc = 0
        for k, c in enumerate(chunks):
            acc += len(c)
            offsets[k + 1] = acc
        self.lines = lines
        self.streams = streams
        self.offsets = offsets
        self.blob = b"".join(chunks)
        self.mv = memoryview(self.blob)


class Recording:
    """A loaded recording: lines, receive timestamps, per-stream index, snapshots.

    Use :meth:`load` for files or :meth:`packaged` for the recordings shipped in
    ``tickwire/data`` (ETHUSDT 2024-08-08, spot and USD-M).

    Attributes: ``lines`` (raw line bytes), ``ts`` (int ns receive times, one per line),
    ``streams`` (name -> :class:`StreamData`), ``snapshots`` (SYMBOL -> :class:`Snapshot`).
    """

    def __init__(
        self,
        lines: list[bytes],
        ts: list[int] | None,
        snapshots: Iterable[Snapshot] = (),
    ):
        if ts is not None and len(ts) != len(lines):
            raise ValueError(f"{len(ts)} timestamps for {len(lines)} lines")
        if ts is None:  # no timestamps: pretend 1 ms between frames
            ts = [i * 1_000_000 for i in range(len(lines))]
        self.lines = lines
        self.ts = ts
        self.streams: dict[str, StreamData] = {}
        self.line_stream: list[str] = []
        for i, line in enumerate(lines):
            name, data = _split_envelope(line)
            sd = self.streams.get(name)
            if sd is None:
                sd = self.streams[name] = StreamData(name, [], [])
            sd.lines.append(i)
            sd.data.append(data)
            self.line_stream.append(name)
        self.snapshots: dict[str, Snapshot] = {s.symbol: s for s in snapshots}
        self._views: dict[tuple[tuple[str, ...], bool], View] = {}
        self._depth_cache: dict[int, dict[str, Any]] = {}

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | Path,
        ts_path: str | Path | None = None,
        snapshots: Mapping[str, tuple[str | Path | bytes, int]] | None = None,
    ) -> Recording:
        """Load a JSONL(.gz) recording.

        ``ts_path`` defaults to the same name with ``.ts`` (or ``.ts.gz``) if it exists.
        ``snapshots`` maps an uppercase symbol to ``(body path or bytes, after_line)``.
        Raises ``ValueError`` if a line is not a combined-stream envelope.
        """
        path = Path(path)
        lines = [ln for ln in _read_bytes(path).split(b"\n") if ln.strip()]
        if ts_path is None:
            stem = path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name
            stem = stem[: -len(".jsonl")] if stem.endswith(".jsonl") else stem
            for cand in (path.with_name(stem + ".ts"), path.with_name(stem + ".ts.gz")):
                if cand.exists():
                    ts_path = cand
                    break
        ts = _parse_ts(_read_bytes(Path(ts_path))) if ts_path else None
        snaps = []
        for symbol, (body, after_line) in (snapshots or {}).items():
            raw = body if isinstance(body, bytes) else _read_bytes(Path(body))
            snaps.append(
                Snapshot(symbol, raw, int(after_line), int(json.loads(raw)["lastUpdateId"]))
            )
        return cls(lines, ts, snaps)

    @classmethod
    def packaged(cls, market: str) -> Recording:
        """The ETHUSDT 2024-08-08 recording shipped for ``market`` ("binance" or "binanceusdm").

        Snapshot positions are from ``tickwire/data/SOURCES.md``: spot after line 5,
        USD-M after line 40.
        """
        after = {"binance": 5, "binanceusdm": 40}
        if market not in after:
            raise ValueError(f"no packaged recording for market {market!r}")
        d = DATA_DIR / market
        return cls.load(
            d / "ethusdt_20240808.jsonl.gz",
            d / "ethusdt_20240808.ts.gz",
            {"ETHUSDT": (d / "ethusdt_20240808_depth_snapshot.json", after[market])},
        )

    def add_alias(self, alias: str, source: str) -> None:
        """Serve the recorded frames of ``source`` under the stream name ``alias`` too.

        The ``data`` bytes are unchanged; only the combined envelope's ``stream`` differs.
        Example (USD-M recording holds ``ethusdt@depth@0ms``): ``add_alias("ethusdt@depth@100ms",
        "ethusdt@depth@0ms")``. Raises ``KeyError`` if ``source`` is not recorded.
        """
        src = self.streams[source]
        self.streams[alias] = StreamData(alias, src.lines, src.data, source=source)
        self._views.clear()

    # ---- queries --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.lines)

    def frames_of(self, stream: str, combined: bool = True) -> list[bytes]:
        """The payloads (not WS frames) a subscriber of ``stream`` gets, in order."""
        sd = self.streams[stream]
        if not combined:
            return list(sd.data)
        head = _ENVELOPE_PREFIX + sd.name.encode() + b'","data":'
        return [head + d + b"}" for d in sd.data]

    def view(self, streams: Iterable[str], combined: bool) -> View:
        """Cached :class:`View` for a set of stream names (unknown names contribute nothing)."""
        key = (tuple(sorted(s for s in set(streams) if s in self.streams)), combined)
        v = self._views.get(key)
        if v is None:
            v = self._views[key] = View([self.streams[s] for s in key[0]], combined)
        return v

    def line_after_ts(self, ts_ns: int) -> int:
        """Number of lines received at or before ``ts_ns`` (to place a snapshot by its time)."""
        return bisect.bisect_right(self.ts, ts_ns)

    def depth_streams(self, symbol: str) -> list[str]:
        """Recorded diff-depth stream names of ``symbol`` (e.g. ``ethusdt@depth@100ms``)."""
        low = symbol.lower()
        return [
            n
            for n, sd in self.streams.items()
            if sd.source is None and _DIFF_DEPTH.match(n) and n.split("@", 1)[0] == low
        ]

    def depth_event(self, line: int) -> dict[str, Any]:
        """Parsed ``data`` of a depth diff at recording ``line`` (parsed once, then cached)."""
        ev = self._depth_cache.get(line)
        if ev is None:
            ev = self._depth_cache[line] = json.loads(_split_envelope(self.lines[line])[1])
        return ev


_DIFF_DEPTH = re.compile(r"^[a-z0-9_]+@depth(@\d+ms)?$")


def _split_envelope(line: bytes) -> tuple[str, bytes]:
    """(stream name, exact bytes of ``data``) of one combined-stream line."""
    if line.startswith(_ENVELOPE_PREFIX):
        end = line.find(b'"', len(_ENVELOPE_PREFIX))
        name = line[len(_ENVELOPE_PREFIX) : end]
        head = _ENVELOPE_PREFIX + name + b'","data":'
        if line.startswith(head) and line.endswith(b"}"):
            return name.decode(), line[len(head) : -1]
    # Not in the compact form: fall back to parsing (data re-serialized compactly).
    try:
        obj = json.loads(line)
        return obj["stream"], json.dumps(obj["data"], separators=(",", ":")).encode()
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a combined-stream frame: {line[:80]!r}") from exc


_PACKAGED: dict[str, Recording] = {}


def packaged_recording(market: str) -> Recording:
    """The shipped ETHUSDT recording of ``market`` (see :meth:`Recording.packaged`), loaded once
    per process and shared. Raises ``ValueError`` for a market without one."""
    rec = _PACKAGED.get(market)
    if rec is None:
        rec = _PACKAGED[market] = Recording.packaged(market)
    return rec
