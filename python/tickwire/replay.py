"""Replay a recording through the same decoder a live feed uses.

A recording is the format of the shared fixtures: one raw WebSocket frame per line (as the
venue sent it), optionally gzip-compressed, with receive timestamps in a sibling ``.ts`` file
(one per line: int ns, or float seconds). A text frame is the line as is; a binary frame
(MEXC's protobuf pushes) is the line ``b64:`` followed by the frame in standard base64
(:func:`frame_of_line`, :func:`line_of_frame`), fed to the decoder with ``binary=True``. REST
depth snapshots (venues whose books start from one) are separate JSON files; venues that push
snapshots over the socket need none.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import gzip
import io
import json
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Union

from . import _core
from .events import (
    AccountGap,
    BadFrame,
    Connected,
    Disconnected,
    GapDetected,
    Lagging,
    Resynced,
    TradesMissed,
)
from .exceptions import FrameError, SequenceGap, TickwireError

PathLike = Union[str, "os.PathLike[str]"]
Event = object

# What reading a damaged file raises: gzip.BadGzipFile and the other OSErrors, EOFError for a
# truncated .gz, zlib.error for corrupt compressed data.
_READ_ERRORS = (OSError, EOFError, zlib.error)


class RecordingReadError(TickwireError):
    """A recording (or its timestamp file) could not be read to its end: not gzip, truncated,
    corrupt, unreadable. Raised after every line read before the failure was delivered.

    Attributes: ``path``, ``lines_read`` (complete lines read before the failure), ``reason``.
    """

    def __init__(self, path: Path, lines_read: int, reason: str):
        where = f"after line {lines_read}" if lines_read else "at the start"
        super().__init__(f"{path}: cannot read {where}: {reason}")
        self.path = path
        self.lines_read = lines_read
        self.reason = reason


#: A recording line holding a binary WebSocket frame starts with this, followed by the frame in
#: standard base64 (RFC 4648 section 4, padded, no line breaks). Every other line is a text frame
#: exactly as sent (no venue's text frame starts with these four bytes).
BINARY_LINE_PREFIX = b"b64:"


def frame_of_line(line: bytes) -> tuple[bytes, bool]:
    """``(frame, binary)`` of one recording line (without its newline): a ``b64:`` line is a
    binary frame, decoded; any other line is a text frame, returned as it is. Raises
    ``ValueError`` for a ``b64:`` line whose rest is not standard base64."""
    if not line.startswith(BINARY_LINE_PREFIX):
        return line, False
    try:
        return base64.b64decode(line[len(BINARY_LINE_PREFIX) :], validate=True), True
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"a b64: line whose rest is not standard base64 ({exc})") from None


def line_of_frame(frame: bytes, binary: bool) -> bytes:
    """The recording line (without newline) of one WebSocket ``frame``: a binary frame as
    ``b64:`` + standard base64, a text frame as it is (the inverse of :func:`frame_of_line`)."""
    return BINARY_LINE_PREFIX + base64.b64encode(frame) if binary else frame


def _read_error_reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the file is truncated (compressed data ends early)"
    if isinstance(exc, gzip.BadGzipFile):
        return "not a gzip file" if "Not a gzipped file" in str(exc) else f"corrupt gzip ({exc})"
    if isinstance(exc, zlib.error):
        return f"corrupt compressed data ({exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _open(path: Path) -> io.BufferedIOBase:
    """``path`` opened for reading bytes, decompressed if it ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.GzipFile(path, "rb")
    return open(path, "rb")


class _Progress:
    """Bytes of a recording read so far (compressed bytes for ``.gz``) and the file's size."""

    def __init__(self, path: Path) -> None:
        self.total = path.stat().st_size
        self.raw: io.BufferedReader | None = None

    @contextlib.contextmanager
    def open(self, path: Path) -> Iterator[io.BufferedIOBase]:
        """``path`` opened for reading bytes (decompressed if it ends in ``.gz``), its position
        on disk followed by :meth:`done`."""
        with open(path, "rb") as raw:
            self.raw = raw
            if path.suffix != ".gz":
                yield raw
                return
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                yield f

    def done(self) -> int:
        raw = self.raw
        if raw is None:
            return 0
        try:
            return raw.tell()
        except (OSError, ValueError):  # closed
            return self.total


def timestamps_path(recording: PathLike) -> Path | None:
    """The sibling receive-timestamp file of ``recording`` (``x.jsonl`` -> ``x.ts``,
    ``x.jsonl.gz`` -> ``x.ts.gz``), or None if there is none."""
    p = Path(recording)
    name = p.name
    for ext, ts_ext in ((".jsonl.gz", ".ts.gz"), (".jsonl", ".ts")):
        if name.endswith(ext):
            candidate = p.with_name(name[: -len(ext)] + ts_ext)
            return candidate if candidate.exists() else None
    return None


def read_timestamps(path: PathLike) -> list[int]:
    """Receive timestamps, one per line, as int ns since the Unix epoch (lines holding float
    seconds are converted). Raises ValueError naming the line of a value that is neither, and
    :class:`RecordingReadError` if the file cannot be read to its end."""
    out: list[int] = []
    p = Path(path)
    try:
        with _open(p) as f:
            for n, raw in enumerate(f, 1):
                text = raw.strip().decode("ascii", "replace")
                try:
                    out.append(int(text) if text.isdigit() else round(float(text) * 1e9))
                except ValueError:
                    raise ValueError(f"{path}:{n}: {text!r} is not a timestamp") from None
    except _READ_ERRORS as exc:
        raise RecordingReadError(p, len(out), _read_error_reason(exc)) from None
    return out


@dataclass
class SnapshotFile:
    """A REST depth snapshot body for ``symbol`` (unified; None = infer from the file name,
    which must contain the lowercase market id, e.g. ``..._ethusdt_....json``), as the venue's
    REST depth endpoint returned it (the decoder parses it: Binance ``lastUpdateId``, KuCoin
    ``sequence``, Gate ``id``, ...)."""

    path: Path
    symbol: str | None = None

    @classmethod
    def parse(cls, spec: str) -> SnapshotFile:
        """``FILE`` or ``SYMBOL=FILE`` (``ETH/USDT=snap.json``)."""
        symbol, sep, path = spec.rpartition("=")
        if sep and "/" in symbol:
            return cls(Path(path), symbol)
        return cls(Path(spec), None)

    def read(self) -> bytes:
        """The file's bytes. Raises ``FileNotFoundError`` if it does not exist and
        ``ValueError`` naming the file if it cannot be read or is not JSON (whether it is a depth
        snapshot of the venue is the decoder's to say: see :class:`Replay`)."""
        if not self.path.exists():
            raise FileNotFoundError(f"snapshot {self.path} does not exist")
        try:
            body = self.path.read_bytes()
        except OSError as exc:
            raise ValueError(f"snapshot {self.path}: {_read_error_reason(exc)}") from None
        try:
            json.loads(body)
        except ValueError as exc:
            raise ValueError(f"snapshot {self.path}: not JSON ({exc})") from None
        return body


@dataclass
class ReplayStats:
    """What a replay saw: frames read, events per kind, gaps, bad lines, decode time (s).

    ``warnings``: what makes the replayed books doubtful without being a bad line or a gap (a
    depth stream that never synced, a snapshot whose update id cannot belong to its symbol's
    deltas, a snapshot body the decoder rejected), one sentence each."""

    frames: int = 0
    events: Counter[str] = field(default_factory=Counter)
    #: every sync loss (``GapDetected``; ``reason`` "gap", "checksum", "connection_gap")
    gaps: list[GapDetected] = field(default_factory=list)
    bad_lines: list[BadFrame] = field(default_factory=list)
    unmatched_snapshots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decode_seconds: float = 0.0

    @property
    def msgs_per_second(self) -> float:
        """Frames per second of decode time (reading the file not included)."""
        return self.frames / self.decode_seconds if self.decode_seconds > 0 else 0.0


@dataclass
class _Applied:
    """A snapshot the replay applied: to which symbol, its update id (None if unknown), whether
    the buffered deltas failed to bridge from it (a gap at once)."""

    snap: SnapshotFile
    symbol: str
    last_id: int | None
    gap: bool


class Replay:
    """Iterate the events of a recording, decoded exactly as a live feed decodes them.

    ``Replay(recording, exchange, snapshots=[...], timestamps=None, market=None,
    instruments=None)`` yields the core's events (``Trade``, ``BBO``, ``BookUpdate``,
    ``Candle``, ``ControlReply``) of every line (a ``b64:`` line is a binary frame, see
    :func:`frame_of_line`) plus ``GapDetected`` when a book loses sync (``reason``:
    ``"gap"``, ``"checksum"``, ``"connection_gap"``), ``Resynced`` when it is in sync again
    (a later snapshot in the recording, or a snapshot file: reason ``"snapshot"``) and
    ``BadFrame`` for a line that is not a valid frame (counted, skipped; a frame of another
    venue, market or version than ``exchange`` is one). ``market``: the venue's endpoint
    (``"spot"``, ``"linear"``, ``"inverse"``; default the venue's first); ``instruments``: the
    instrument dicts for the decoder (offline: default none). A snapshot file is applied when
    its symbol first appears, and the deltas buffered until then are replayed by the exchange's
    bridging rule (equivalent to applying it when it arrived). ``timestamps``: receive times
    (int ns) per line; default the sibling ``.ts`` file, else the wall clock. After iteration
    ``stats`` holds the counts and warnings (see :class:`ReplayStats`) and ``decoder`` the books;
    :meth:`progress` says how far the file was read.

    Raises ValueError for an unknown exchange or market, a symbol of another market, a snapshot
    file that is not JSON, or one given with its symbol that the venue's parser rejects (a body
    that is not the venue's REST depth snapshot, or a venue without REST snapshots);
    FileNotFoundError for a missing file;
    :class:`RecordingReadError` (from the constructor for the timestamp file, from iteration for
    the recording) when a file cannot be read to its end.
    """

    def __init__(
        self,
        recording: PathLike,
        exchange: str,
        snapshots: Iterable[SnapshotFile | PathLike] = (),
        timestamps: Sequence[int] | None = None,
        market: str | None = None,
        instruments: Sequence[dict[str, Any]] | None = None,
    ):
        self.path = Path(recording)
        if not self.path.exists():
            raise FileNotFoundError(f"recording {self.path} does not exist")
        kwargs: dict[str, Any] = {}
        if market is not None:
            kwargs["market"] = market
        if instruments:
            kwargs["instruments"] = list(instruments)
        self.decoder = _core.Decoder(exchange, **kwargs)
        self.exchange = exchange
        self.market = market
        self._progress = _Progress(self.path)
        self._lost: dict[str, str] = {}  # symbol -> reason of its sync loss, until resynced
        self.stats = ReplayStats()
        self.lines_read = 0
        self._pending: list[tuple[SnapshotFile, bytes, int | None]] = []
        self._applied: list[_Applied] = []
        for s in snapshots:
            snap = s if isinstance(s, SnapshotFile) else SnapshotFile(Path(s))
            if self.decoder.recovery != "rest":  # (its REST books are the fallback's, apart)
                raise ValueError(
                    f"snapshot {snap.path}: {exchange} sends its book snapshots on the "
                    "WebSocket; snapshot files are for venues whose books start from REST"
                )
            body = snap.read()
            last_id = None
            if snap.symbol is not None:
                self.decoder.register(snap.symbol)  # ValueError names a symbol of another market
                last_id = _probe_snapshot(exchange, kwargs, snap.path, snap.symbol, body)
            self._pending.append((snap, body, last_id))
        if timestamps is None:
            ts_file = timestamps_path(self.path)
            timestamps = read_timestamps(ts_file) if ts_file else None
        self._timestamps = timestamps

    def _apply_pending(self, line: int, receive_ts: int) -> Iterator[Event]:
        """Apply every pending snapshot whose symbol the decoder now knows."""
        market = self.decoder.market
        known = {
            _core.market_id(self.exchange, s, market).lower(): s for s in self.decoder.symbols()
        }
        for pending in list(self._pending):
            snap, body, last_id = pending
            symbol = snap.symbol or next(
                (s for m, s in known.items() if m in snap.path.name.lower()), None
            )
            if symbol is None or symbol not in known.values():
                continue
            self._pending.remove(pending)
            try:
                events = self.decoder.apply_snapshot(symbol, body, receive_ts)
            except SequenceGap as gap:
                self._applied.append(_Applied(snap, symbol, last_id, gap=True))
                yield self._gap(gap, line, receive_ts)
                continue
            except FrameError as exc:  # valid JSON, but not a body the exchange sends
                self.stats.warnings.append(f"snapshot {snap.path} was not applied: {exc}")
                continue
            if last_id is None and events:
                last_id = events[0].sequence
            self._applied.append(_Applied(snap, symbol, last_id, gap=False))
            self._lost.pop(symbol, None)
            yield from events
            yield Resynced(self.exchange, symbol, events[-1].sequence or 0, receive_ts, "snapshot")

    def _gap(self, gap: SequenceGap, line: int, ts: int) -> GapDetected:
        event = GapDetected(self.exchange, gap.symbol, gap.expected, gap.received, ts, line)
        self.stats.gaps.append(event)
        return event

    def _sync_lost(self, ev: Any, line: int) -> GapDetected:
        """A ``SyncLost`` of the decoder as the ``GapDetected`` a live feed shows."""
        event = GapDetected(
            self.exchange, ev.symbol, ev.expected, ev.received, ev.receive_ts, line, ev.reason
        )
        self.stats.gaps.append(event)
        self._lost[ev.symbol] = ev.reason
        return event

    def _resynced(self, ts: int) -> Iterator[Resynced]:
        """``Resynced`` for each book that lost sync and is in sync again (a snapshot later in
        the recording)."""
        dec = self.decoder
        for symbol, reason in list(self._lost.items()):
            if not dec.needs_snapshot(symbol):
                del self._lost[symbol]
                yield Resynced(self.exchange, symbol, dec.book(symbol).sequence or 0, ts, reason)

    def progress(self) -> tuple[int, int]:
        """(bytes of the recording file read so far, its size in bytes); for a ``.gz`` file
        both count compressed bytes."""
        return self._progress.done(), self._progress.total

    def __iter__(self) -> Iterator[Event]:
        """The events, in recording order (see the class docstring). Raises
        :class:`RecordingReadError` once the lines read before a read failure are delivered."""
        try:
            yield from self._events()
        except _READ_ERRORS as exc:
            raise RecordingReadError(self.path, self.lines_read, _read_error_reason(exc)) from None
        self.stats.unmatched_snapshots = [snap.path for snap, _, _ in self._pending]
        self._diagnose()

    def _events(self) -> Iterator[Event]:
        feed = self.decoder.feed
        stamps = self._timestamps
        known_symbols = 0
        stats = self.stats
        counts = stats.events
        clock = time.perf_counter
        sync_lost = _core.SyncLost
        with self._progress.open(self.path) as f:
            for line, raw in enumerate(f, 1):
                self.lines_read = line
                frame = raw[:-1] if raw.endswith(b"\n") else raw
                ts = stamps[line - 1] if stamps and line <= len(stamps) else time.time_ns()
                stats.frames += 1
                binary = frame.startswith(b"b64:")
                if binary:
                    try:
                        frame, _ = frame_of_line(frame)
                    except ValueError as e:
                        bad = BadFrame(self.exchange, str(e), ts, line)
                        stats.bad_lines.append(bad)
                        counts["bad_frame"] += 1
                        yield bad
                        continue
                t0 = clock()
                try:
                    events = feed(frame, ts, binary=True) if binary else feed(frame, ts)
                except FrameError as e:
                    stats.decode_seconds += clock() - t0
                    bad = BadFrame(self.exchange, str(e), ts, line)
                    stats.bad_lines.append(bad)
                    counts["bad_frame"] += 1
                    yield bad
                    continue
                stats.decode_seconds += clock() - t0
                if self._pending:
                    n = len(self.decoder.symbols())
                    if n != known_symbols:
                        known_symbols = n
                        for ev in self._apply_pending(line, ts):
                            counts[type(ev).__name__] += 1
                            yield ev
                for ev in events:
                    if type(ev) is sync_lost:
                        ev = self._sync_lost(ev, line)  # noqa: PLW2901 - shown as live shows it
                        counts["gap"] += 1
                    else:
                        counts[type(ev).__name__] += 1
                    yield ev
                if self._lost:
                    for ev in self._resynced(ts):
                        counts["Resynced"] += 1
                        yield ev

    def _diagnose(self) -> None:
        """Warn about books the replay could not make right (see :class:`ReplayStats`), from the
        update ids of the depth deltas the decoder saw per symbol."""
        dec = self.decoder
        synced_once = {a.symbol for a in self._applied if not a.gap}
        never_synced = [s for s in dec.symbols() if s not in synced_once and dec.needs_snapshot(s)]
        # A snapshot no delta was applied after (newer than all of them), or followed by a gap
        # (older than all of them), may not belong to its symbol.
        doubtful = [
            a for a in self._applied if a.gap or dec.book(a.symbol).sequence in (None, a.last_id)
        ]
        ids = {s: dec.deltas_seen(s) for s in {*never_synced, *(a.symbol for a in doubtful)}}
        for a in doubtful:
            seen = ids[a.symbol]
            if seen is None or a.last_id is None:
                continue
            _, first, last = seen
            if first - 1 <= a.last_id <= last:
                continue
            side, off = (
                ("older", first - 1 - a.last_id)
                if a.last_id < first
                else ("newer", a.last_id - last)
            )
            self.stats.warnings.append(
                f"snapshot {a.snap.path}: update id {a.last_id} is {off:,} {side} than every "
                f"{a.symbol} depth delta in the recording (update ids {first}..{last}), so "
                f"it cannot be {a.symbol}'s snapshot for this recording (another symbol's or "
                "market's?)"
            )
        for symbol in never_synced:
            seen = ids[symbol]
            if seen is None:
                continue  # no depth stream: nothing to sync
            given = [a.snap.path for a in self._applied if a.symbol == symbol]
            why = (
                f"its snapshot {given[0]} does not bridge to them"
                if given
                else "no snapshot was given for it"
            )
            self.stats.warnings.append(
                f"{symbol}: the book never synced ({seen[0]:,} depth deltas in the recording, "
                f"none applied): {why}"
            )


def _probe_snapshot(
    exchange: str, kwargs: dict[str, Any], path: Path, symbol: str, body: bytes
) -> int | None:
    """The update id of snapshot ``body`` for ``symbol``, as a fresh decoder of the replay's
    venue reads it; ``ValueError`` naming ``path`` if the venue's parser rejects it."""
    probe = _core.Decoder(exchange, **kwargs)
    try:
        events = probe.apply_snapshot(symbol, body, 0)
    except FrameError as exc:
        raise ValueError(f"snapshot {path}: not a {exchange} depth snapshot ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"snapshot {path}: {exc}") from None
    return events[0].sequence if events else None


def replay(
    recording: PathLike,
    exchange: str,
    snapshots: Iterable[SnapshotFile | PathLike] = (),
    timestamps: Sequence[int] | None = None,
    market: str | None = None,
    instruments: Sequence[dict[str, Any]] | None = None,
) -> Replay:
    """Shorthand for :class:`Replay` (iterate it for the events)."""
    return Replay(recording, exchange, snapshots, timestamps, market, instruments)


# Feed-health and replay events (dataclasses) by their "type" in jsonl output.
_HEALTH_TYPES = {
    GapDetected: "gap",
    Resynced: "resynced",
    BadFrame: "bad_frame",
    TradesMissed: "trades_missed",
    Connected: "connected",
    Disconnected: "disconnected",
    Lagging: "lagging",
    AccountGap: "account_gap",
}


class BookSource(Protocol):
    """Whatever owns live books by unified symbol: a ``Decoder`` or a ``Feed``."""

    def book(self, symbol: str) -> Any:
        """The live ``Book`` of ``symbol``."""


def bbo_to_dict(event: Any) -> dict[str, Any]:
    """The JSON-ready dict of a BBO: a ``tw.BBO`` or anything with its attributes (the REST
    fallback's ``RestBBO``)."""
    return {
        "type": "bbo",
        "exchange": event.exchange,
        "symbol": event.symbol,
        "sequence": event.sequence,
        "bid": [event.bid_price, event.bid_size],
        "ask": [event.ask_price, event.ask_size],
        "exchange_ts": event.exchange_ts,
        "receive_ts": event.receive_ts,
    }


def event_to_dict(  # noqa: PLR0911 - one return per event kind, the clearest layout here
    event: Event, book_depth: int = 5, decoder: BookSource | None = None
) -> dict[str, Any]:
    """A JSON-ready dict of one event. A ``BookUpdate`` (given the ``decoder`` or feed that owns
    the book) carries the best bid/ask ``[price, size]`` and the top ``book_depth`` levels per
    side. Prices and sizes are floats (nearest double of the exact decimal); timestamps int ns.
    Raises ``TypeError`` for an object that is not a tickwire event."""
    if isinstance(event, _core.BookUpdate):
        d: dict[str, Any] = {
            "type": "book",
            "exchange": event.exchange,
            "symbol": event.symbol,
            "sequence": event.sequence,
            "exchange_ts": event.exchange_ts,
            "receive_ts": event.receive_ts,
        }
        if decoder is not None:
            book = decoder.book(event.symbol)
            d["bid"] = list(book.best_bid) if book.best_bid else None
            d["ask"] = list(book.best_ask) if book.best_ask else None
            d["bids"] = book.bids(book_depth).tolist()
            d["asks"] = book.asks(book_depth).tolist()
        return d
    if isinstance(event, _core.BBO):
        return bbo_to_dict(event)
    if isinstance(event, _core.Trade):
        return {
            "type": "trade",
            "exchange": event.exchange,
            "symbol": event.symbol,
            "trade_id": event.trade_id,
            "price": event.price,
            "size": event.size,
            "side": event.side,
            "trade_ts": event.trade_ts,
            "exchange_ts": event.exchange_ts,
            "receive_ts": event.receive_ts,
        }
    if isinstance(event, _core.Candle):
        return {
            "type": "candle",
            "exchange": event.exchange,
            "symbol": event.symbol,
            "interval": event.interval,
            "start_ts": event.start_ts,
            "end_ts": event.end_ts,
            "open": event.open,
            "high": event.high,
            "low": event.low,
            "close": event.close,
            "volume": event.volume,
            "trades": event.trades,
            "closed": event.closed,
            "exchange_ts": event.exchange_ts,
            "receive_ts": event.receive_ts,
        }
    if isinstance(event, _core.ControlReply):
        return {
            "type": "control",
            "exchange": event.exchange,
            "kind": event.kind,
            "request_id": event.request_id,
            "ok": event.ok,
            "topic": event.topic,
            "code": event.code,
            "message": event.message,
            "receive_ts": event.receive_ts,
        }
    if isinstance(event, _core.Notice):
        return {
            "type": "notice",
            "exchange": event.exchange,
            "name": event.name,
            "exchange_ts": event.exchange_ts,
            "receive_ts": event.receive_ts,
        }
    to_dict = getattr(event, "to_dict", None)  # the REST fallback's (connection/fallback.py)
    if to_dict is not None and not isinstance(event, type):
        return dict(to_dict(book_depth, decoder))
    kind = _HEALTH_TYPES.get(type(event))
    if kind is not None and dataclasses.is_dataclass(event) and not isinstance(event, type):
        return {"type": kind, **dataclasses.asdict(event)}
    raise TypeError(f"not a tickwire event: {event!r}")
