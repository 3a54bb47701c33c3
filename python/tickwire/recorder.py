"""Recording files: WebSocket frames as the venue sent them, with their receive times, in the
format ``tickwire replay``, :class:`tickwire.Replay` and the simulator read.

A recording part is ``<name>_<UTC start>_<part>.jsonl[.gz]``: one frame per line, a text frame
as it was sent, a binary frame (MEXC's protobuf pushes) as ``b64:`` + base64 (see
:func:`tickwire.replay.line_of_frame`); beside it ``....ts[.gz]``, the receive time of each line
as int ns since the Unix epoch. A writer starts a new part when the current one reaches
``rotate_bytes`` (uncompressed) or ``rotate_s`` seconds, so a long recording is many
self-contained files.
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .replay import line_of_frame

__all__ = ["RecordingWriter"]


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
        self._opened_at = self._clock()

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
