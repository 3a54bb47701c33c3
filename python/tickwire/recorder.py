"""Recording files: WebSocket frames as the venue sent them, with their receive times, in the
format ``tickwire replay``, :class:`tickwire.Replay` and the simulator read.

A recording part is ``<name>_<UTC start>_<part>.jsonl[.gz]``: one frame per line, a text frame
as it was sent, a binary frame (MEXC's protobuf pushes) as ``b64:`` + base64 (see
:func:`tickwire.replay.line_of_frame`); beside it ``....ts[.gz]``, the receive time of each line
as int ns since the Unix epoch. A writer starts a new part when the current one reaches
``rotate_bytes`` (uncompressed) or ``rotate_s`` seconds, so a long recording is many
self-contained files.

A REST book snapshot a session applied is saved beside the part it arrived in, as
``<part stem>.<market id>.after<N>.json`` (the body exactly as received; ``N``: lines of the
part received before it, URL-quoted market id), which is what ``tickwire replay --snapshot``
and the simulator's ``Recording.load(snapshots=...)`` take (see :func:`recorded_snapshots`).

:class:`Recorder` records a live feed (``ConnectionOptions(record=Recorder(dir))``,
``tickwire record``): each WebSocket session (socket) gets its own series of parts, named
``<exchange>-<route>-c<connection>-s<session>``. Two sessions that overlap (a rotation's
make-before-break, a reconnect racing the old socket's close) are two recordings: each part
holds exactly the frames of one socket in the order that socket received them, so replaying
it decodes exactly what that socket's decoder decoded (the feed de-duplicated the overlap;
replaying the parts one after the other shows the overlap's events twice). Frames that
decode to a control reply (subscribe acks, errors, pongs) are not recorded: they answer this
client, and a simulator serving the recording answers requests itself.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote

from .replay import line_of_frame

__all__ = ["Recorder", "RecordingWriter", "recorded_snapshots"]

_SNAPSHOT = re.compile(r"\.(?P<market>[^.]+)\.after(?P<after>\d+)\.json$")


class RecordingWriter:
    """Writes frames to rotating recording parts in ``directory`` (created if missing).

    ``name``: the parts' prefix (``"binance-spot"``); ``compress``: gzip the parts (``.gz``);
    ``rotate_bytes`` / ``rotate_s``: start a new part once the current one holds this many
    uncompressed bytes or is this many seconds old; ``flush_bytes``: bytes buffered in memory
    before a write to the file. Raises ``ValueError`` naming a bad size, age or name.

    A text frame holding a raw line break cannot be one line: JSON only allows raw line breaks
    as whitespace between tokens, so they are written as spaces (same JSON value; counted in
    :attr:`rewritten`). Not thread-safe: one writer per event loop."""

    def __init__(
        self,
        directory: str | Path,
        name: str,
        *,
        compress: bool = True,
        rotate_bytes: int = 256 * 2**20,
        rotate_s: float = 3600.0,
        flush_bytes: int = 2**20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"recording name {name!r} must be a plain file name prefix")
        if rotate_bytes < 1 or rotate_s <= 0 or flush_bytes < 1:
            raise ValueError(
                f"rotate_bytes ({rotate_bytes}) and flush_bytes ({flush_bytes}) must be >= 1 "
                f"and rotate_s ({rotate_s}) > 0"
            )
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name, self.compress = name, compress
        self.rotate_bytes, self.rotate_s, self.flush_bytes = rotate_bytes, rotate_s, flush_bytes
        self._clock = clock
        #: every part written so far (the ``.jsonl[.gz]`` paths, oldest first)
        self.parts: list[Path] = []
        self.frames = 0
        #: REST snapshots saved beside the parts (see :meth:`snapshot`)
        self.snapshots: list[Path] = []
        self._part_frames = 0  # lines in the current part
        self.rewritten = 0  # text frames whose raw line breaks were written as spaces
        self._lines: list[bytes] = []
        self._stamps: list[bytes] = []
        self._buffered = 0
        self._part_bytes = 0
        self._opened_at = 0.0
        self._files: tuple[IO[bytes] | gzip.GzipFile, IO[bytes] | gzip.GzipFile] | None = None
        self._open = contextlib.ExitStack()  # the current part's two files

    def write(
        self, frame: bytes | bytearray | memoryview, receive_ts: int, binary: bool = False
    ) -> None:
        """Append one frame received at ``receive_ts`` (int ns since the Unix epoch)."""
        data = bytes(frame)
        if not binary and (b"\n" in data or b"\r" in data):
            data = data.replace(b"\r", b" ").replace(b"\n", b" ")
            self.rewritten += 1
        line = line_of_frame(data, binary) + b"\n"
        if self._files is None or self._due():
            self._rotate()
        self._lines.append(line)
        self._stamps.append(b"%d\n" % receive_ts)
        self._buffered += len(line)
        self._part_bytes += len(line)
        self._part_frames += 1
        self.frames += 1
        if self._buffered >= self.flush_bytes:
            self.flush()

    def _due(self) -> bool:
        return (
            self._part_bytes >= self.rotate_bytes
            or self._clock() - self._opened_at >= self.rotate_s
        )

    def _rotate(self) -> None:
        self._close_part()
        ext = ".gz" if self.compress else ""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        stem = self.directory / f"{self.name}_{stamp}_{len(self.parts) + 1:04d}"
        lines, stamps = Path(f"{stem}.jsonl{ext}"), Path(f"{stem}.ts{ext}")
        enter = self._open.enter_context
        raw = enter(lines.open("wb")), enter(stamps.open("wb"))
        if self.compress:  # (closed before the raw files: the stack unwinds in reverse)
            zlines, zstamps = (enter(gzip.GzipFile(fileobj=f, mode="wb")) for f in raw)
            self._files = (zlines, zstamps)
        else:
            self._files = raw
        self.parts.append(lines)
        self._part_bytes = 0
        self._part_frames = 0
        self._opened_at = self._clock()

    def snapshot(self, market_id: str, body: bytes) -> Path:
        """Save the REST book snapshot ``body`` of ``market_id`` (the venue's id, e.g.
        ``ETHUSDT``), received now, beside the current part (opened if none is): returns the
        path ``<part stem>.<quoted market id>.after<N>.json``, ``N`` the lines of that part
        written before it."""
        if self._files is None:
            self._rotate()
        stem = _stem(self.parts[-1])
        path = stem.with_name(
            f"{stem.name}.{quote(market_id, safe='')}.after{self._part_frames}.json"
        )
        path.write_bytes(body)
        self.snapshots.append(path)
        return path

    def flush(self) -> None:
        """Write what is buffered to the current part (it stays open)."""
        if self._files is None or not self._lines:
            return
        lines, stamps = self._files
        lines.write(b"".join(self._lines))
        stamps.write(b"".join(self._stamps))
        self._lines.clear()
        self._stamps.clear()
        self._buffered = 0

    def _close_part(self) -> None:
        self.flush()
        self._open.close()
        self._files = None

    def close(self) -> None:
        """Write what is buffered and close the current part (complete, readable files)."""
        self._close_part()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stem(part: Path) -> Path:
    """``x.jsonl.gz`` / ``x.jsonl`` -> ``x``."""
    name = part.name.removesuffix(".gz").removesuffix(".jsonl")
    return part.with_name(name)


def recorded_snapshots(part: str | Path) -> dict[str, tuple[Path, int]]:
    """The REST snapshots saved beside recording ``part`` (a ``.jsonl[.gz]`` path): ``{market
    id: (json path, after_line)}``, the first one of each market (the one a replay of the part
    starts the book from; a later one, a resync after a gap, is left on disk). This is the
    ``snapshots`` argument of :meth:`tickwire.simulator.Recording.load`."""
    stem = _stem(Path(part))
    found: dict[str, tuple[Path, int]] = {}
    for path in stem.parent.glob(f"{glob.escape(stem.name)}.*.json"):
        m = _SNAPSHOT.search(path.name[len(stem.name) :])
        if m is None:
            continue
        market, after = unquote(m["market"]), int(m["after"])
        if market not in found or after < found[market][1]:
            found[market] = (path, after)
    return found


class Recorder:
    """Records the frames of a live feed: give it as ``ConnectionOptions(record=...)``.

    Every public WebSocket session of the feed gets its own :class:`RecordingWriter` (prefix
    ``<exchange>-<route>-c<connection index>-s<session serial>``, see the module docstring for
    why overlapping sessions are recorded apart) in ``directory``; ``compress``,
    ``rotate_bytes``, ``rotate_s``, ``flush_bytes`` are passed to each. A recording session's
    frames skip the Rust fast path: they are copied to the writer, then decoded as usual (a
    feed without a recorder pays nothing). ``exchange`` / ``market`` of each part are in
    :attr:`sessions` (for ``tickwire replay -x EXCHANGE -m MARKET``). Not thread-safe: one
    event loop. Raises ``ValueError`` as :class:`RecordingWriter`."""

    def __init__(
        self,
        directory: str | Path,
        *,
        compress: bool = True,
        rotate_bytes: int = 256 * 2**20,
        rotate_s: float = 3600.0,
        flush_bytes: int = 2**20,
    ) -> None:
        self.directory = Path(directory)
        #: one entry per recorded session, oldest first: (writer, exchange id, decoder market)
        self.sessions: list[tuple[RecordingWriter, str, str]] = []
        self.compress = compress
        self.rotate_bytes, self.rotate_s, self.flush_bytes = rotate_bytes, rotate_s, flush_bytes
        # bad values raise now, not at the first socket (a writer opens no file until written)
        RecordingWriter(
            directory,
            "check",
            compress=compress,
            rotate_bytes=rotate_bytes,
            rotate_s=rotate_s,
            flush_bytes=flush_bytes,
        )

    def session(self, connection: str, serial: int, exchange: str, market: str) -> RecordingWriter:
        """A new writer for session ``serial`` of the connection named ``connection``
        (``binance/spot#0``: characters unsafe in a file name become ``-``)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", connection.replace("#", "-c")).strip("-.")
        w = RecordingWriter(
            self.directory,
            f"{safe}-s{serial}",
            compress=self.compress,
            rotate_bytes=self.rotate_bytes,
            rotate_s=self.rotate_s,
            flush_bytes=self.flush_bytes,
        )
        self.sessions.append((w, exchange, market))
        return w

    @property
    def parts(self) -> list[Path]:
        """Every part written so far, session by session."""
        return [p for w, _, _ in self.sessions for p in w.parts]

    @property
    def frames(self) -> int:
        """Frames recorded so far (all sessions)."""
        return sum(w.frames for w, _, _ in self.sessions)

    def flush(self) -> None:
        """Write what every session's writer buffers."""
        for w, _, _ in self.sessions:
            w.flush()

    def close(self) -> None:
        """Close every session's current part (complete, readable files)."""
        for w, _, _ in self.sessions:
            w.close()
