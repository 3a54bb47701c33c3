"""Recordings, indexed by stream and pre-encoded as WebSocket frames.

A recording is a JSONL file (optionally gzip) with one raw frame per line as the venue sent it
(a binary frame as ``b64:`` + base64, see :func:`tickwire.replay.frame_of_line`: indexed with
:meth:`~.venue.WireFormat.read_binary` and sent as a binary WebSocket frame),
a companion file of receive timestamps (one per line: int ns since the epoch, or float
seconds), and zero or more REST book snapshots, each known to have been received after a given
line. The venue's :class:`~.venue.WireFormat` splits each line into a stream key and the
payload bytes it keeps, and encodes them back into the frame a connection receives; the lines
are indexed once a simulator (or :meth:`Recording.load` with ``wire=``) names the format.
Payloads are kept as bytes; a venue parses what it needs lazily (:meth:`Recording.parsed`).
"""

from __future__ import annotations

import bisect
import gzip
import heapq
import json
import struct
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..replay import BINARY_LINE_PREFIX, frame_of_line

if TYPE_CHECKING:  # pragma: no cover
    from .venue import WireFormat

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


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
    """One recorded REST book snapshot.

    ``symbol``: the market id it is of. ``body``: the REST response body exactly as received.
    ``after_line``: number of recording lines received before it (it arrived between line
    ``after_line`` and ``after_line + 1``, 1-based), so the simulator serves it once its replay
    position reaches ``after_line``. The venue parses the body (``VenueSim``).
    """

    symbol: str
    body: bytes
    after_line: int


Encode = Callable[[str, bytes, Hashable], bytes]


@dataclass
class StreamData:
    """All recorded messages of one stream: global line indices and the payloads the wire
    format kept (``data``); ``binary``: the global line indices of the recording's binary
    frames (shared by every stream of a recording; empty for a text-only venue)."""

    name: str
    lines: list[int]
    data: list[bytes]
    source: str | None = None  # set for an alias: the recorded stream it re-labels
    binary: set[int] = field(default_factory=set, repr=False)
    _frames: dict[Hashable, list[bytes]] = field(default_factory=dict, repr=False)

    def frames(
        self, framing: Hashable, encode: Encode, encode_binary: Encode | None = None
    ) -> list[bytes]:
        """Pre-encoded WebSocket frames for connections with ``framing`` (``encode``: the wire
        format's text encoding; ``encode_binary``: its binary one, for the lines in
        :attr:`binary`, sent with opcode 2), built once per framing."""
        got = self._frames.get(framing)
        if got is None:
            name, binary = self.name, self.binary
            if not binary or encode_binary is None:
                got = [ws_frame(encode(name, d, framing)) for d in self.data]
            else:
                got = [
                    ws_frame(encode_binary(name, d, framing), 0x2)
                    if ln in binary
                    else ws_frame(encode(name, d, framing))
                    for ln, d in zip(self.lines, self.data, strict=True)
                ]
            self._frames[framing] = got
        return got


class View:
    """The merged, pre-encoded byte stream one subscription set receives, in recorded order.

    ``lines[k]`` is the recording line of the k-th message, ``streams[k]`` its stream name and
    ``blob[offsets[k]:offsets[k+1]]`` its encoded WebSocket frame, so any line range is one
    slice of ``blob`` found by bisection: no per-message Python work on the fast path.
    """

    __slots__ = ("blob", "lines", "mv", "offsets", "streams")

    def __init__(
        self,
        parts: Sequence[StreamData],
        framing: Hashable,
        encode: Encode,
        encode_binary: Encode | None = None,
    ):
        merged = heapq.merge(
            *[
                zip(
                    sd.lines,
                    [sd.name] * len(sd.lines),
                    sd.frames(framing, encode, encode_binary),
                    strict=True,
                )
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
    ``tickwire/data``. The lines are indexed by stream once a :class:`~.venue.WireFormat` is
    bound (:meth:`bind`: done by ``Simulator``, or ``load(..., wire=...)``).

    Attributes: ``lines`` (raw line bytes), ``ts`` (int ns receive times, one per line),
    ``streams`` (stream key -> :class:`StreamData`), ``line_stream`` (stream key per line),
    ``binary_lines`` (indices of the lines that are binary frames, ``b64:`` lines),
    ``snapshots`` (market id -> :class:`Snapshot`), ``wire`` (the bound format or None).
    """

    def __init__(
        self,
        lines: list[bytes],
        ts: list[int] | None,
        snapshots: Iterable[Snapshot] = (),
        wire: WireFormat | None = None,
    ):
        if ts is not None and len(ts) != len(lines):
            raise ValueError(f"{len(ts)} timestamps for {len(lines)} lines")
        if ts is None:  # no timestamps: pretend 1 ms between frames
            ts = [i * 1_000_000 for i in range(len(lines))]
        self.lines = lines
        self.ts = ts
        self.wire: WireFormat | None = None
        self._streams: dict[str, StreamData] = {}
        self._line_stream: list[str] = []
        self.binary_lines: set[int] = set()
        self.snapshots: dict[str, Snapshot] = {s.symbol: s for s in snapshots}
        self._views: dict[tuple[tuple[str, ...], Hashable], View] = {}
        self._parsed: dict[int, Any] = {}
        if wire is not None:
            self.bind(wire)

    def bind(self, wire: WireFormat) -> None:
        """Index the lines with ``wire`` (once; binding the same format again does nothing).
        Raises ``ValueError`` if a line is not a frame of ``wire`` or the recording was already
        indexed with another format."""
        if self.wire is wire:
            return
        if self.wire is not None:
            raise ValueError(
                f"recording already read as {type(self.wire).__name__} lines, "
                f"not {type(wire).__name__}"
            )
        streams: dict[str, StreamData] = {}
        line_stream: list[str] = []
        binary: set[int] = set()
        read_line = wire.read_line
        for i, line in enumerate(self.lines):
            if line.startswith(BINARY_LINE_PREFIX):
                try:
                    frame, _ = frame_of_line(line)
                except ValueError as exc:
                    raise ValueError(f"line {i + 1}: {exc}") from None
                name, data = wire.read_binary(frame)
                binary.add(i)
            else:
                name, data = read_line(line)
            sd = streams.get(name)
            if sd is None:
                sd = streams[name] = StreamData(name, [], [], binary=binary)
            sd.lines.append(i)
            sd.data.append(data)
            line_stream.append(name)
        self._streams, self._line_stream, self.wire = streams, line_stream, wire
        self.binary_lines = binary

    def _bound(self) -> WireFormat:
        if self.wire is None:
            raise RuntimeError("recording not indexed yet: pass it to a Simulator or bind() it")
        return self.wire

    @property
    def streams(self) -> dict[str, StreamData]:
        """Stream key -> :class:`StreamData` (aliases included). ``RuntimeError`` if unbound."""
        self._bound()
        return self._streams

    @property
    def line_stream(self) -> list[str]:
        """The stream key of each line. ``RuntimeError`` if unbound."""
        self._bound()
        return self._line_stream

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | Path,
        ts_path: str | Path | None = None,
        snapshots: Mapping[str, tuple[str | Path | bytes, int]] | None = None,
        wire: WireFormat | None = None,
    ) -> Recording:
        """Load a JSONL(.gz) recording.

        ``ts_path`` defaults to the same name with ``.ts`` (or ``.ts.gz``) if it exists.
        ``snapshots`` maps a market id to ``(body path or bytes, after_line)``. ``wire``: index
        the lines now (else a ``Simulator`` does). Raises ``ValueError`` if a line is not a frame
        of ``wire``.
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
            snaps.append(Snapshot(symbol, raw, int(after_line)))
        return cls(lines, ts, snaps, wire)

    @classmethod
    def packaged(cls, market: str) -> Recording:
        """The recording shipped in ``tickwire/data`` for ``market`` (a name in
        ``venues.MARKETS``), indexed with its wire format; snapshot positions are from
        ``tickwire/data/SOURCES.md``. Raises ``ValueError`` for a market without one."""
        from .venues import MARKETS

        spec = MARKETS.get(market)
        if spec is None or spec.packaged is None:
            raise ValueError(f"no packaged recording for market {market!r}")
        p = spec.packaged
        return cls.load(
            DATA_DIR / p.lines,
            DATA_DIR / p.ts,
            {sym: (DATA_DIR / f, after) for sym, (f, after) in p.snapshots.items()},
            spec.wire,
        )

    def add_alias(self, alias: str, source: str) -> None:
        """Serve the recorded frames of ``source`` under the stream key ``alias`` too.

        The payload bytes are unchanged; only what the wire format derives from the stream key
        differs (e.g. an envelope naming the stream). Raises ``KeyError`` if ``source`` is not
        recorded, ``RuntimeError`` if the recording is not indexed yet.
        """
        src = self.streams[source]
        self._streams[alias] = StreamData(
            alias, src.lines, src.data, source=source, binary=src.binary
        )
        self._views.clear()

    # ---- queries --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.lines)

    def frames_of(self, stream: str, framing: Hashable = None) -> list[bytes]:
        """The payloads (not WS frames) a subscriber of ``stream`` with ``framing`` (default:
        the wire format's ``default_framing``) gets, in order."""
        wire = self._bound()
        if framing is None:
            framing = wire.default_framing
        sd = self.streams[stream]
        return [
            (wire.encode_binary if ln in sd.binary else wire.encode)(sd.name, d, framing)
            for ln, d in zip(sd.lines, sd.data, strict=True)
        ]

    def view(self, streams: Iterable[str], framing: Hashable) -> View:
        """Cached :class:`View` for a set of stream keys (unknown keys contribute nothing)."""
        wire = self._bound()
        known = self._streams
        key = (tuple(sorted(s for s in set(streams) if s in known)), framing)
        v = self._views.get(key)
        if v is None:
            parts = [known[s] for s in key[0]]
            v = self._views[key] = View(parts, framing, wire.encode, wire.encode_binary)
        return v

    def line_after_ts(self, ts_ns: int) -> int:
        """Number of lines received at or before ``ts_ns`` (to place a snapshot by its time)."""
        return bisect.bisect_right(self.ts, ts_ns)

    def parsed(self, line: int) -> Any:
        """The payload of recording ``line`` (as the wire format keeps it) parsed as JSON, once
        per recording: shared by every simulator replaying it. ``ValueError`` if not JSON (a
        binary line included)."""
        if line in self.binary_lines:
            raise ValueError(f"line {line + 1} is a binary frame, not JSON")
        got = self._parsed.get(line)
        if got is None:
            got = self._parsed[line] = json.loads(self._bound().read_line(self.lines[line])[1])
        return got


_PACKAGED: dict[str, Recording] = {}


def packaged_recording(market: str) -> Recording:
    """The recording shipped for ``market`` (see :meth:`Recording.packaged`), loaded once per
    process and shared. Raises ``ValueError`` for a market without one."""
    rec = _PACKAGED.get(market)
    if rec is None:
        rec = _PACKAGED[market] = Recording.packaged(market)
    return rec
