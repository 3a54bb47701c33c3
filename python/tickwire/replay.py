"""Replay a recording through the same decoder a live feed uses.

A recording is the format of the shared fixtures: one raw WebSocket text frame per line
(Binance combined-stream envelope or raw stream frame), optionally gzip-compressed, with receive
timestamps in a sibling ``.ts`` file (one per line: int ns, or float seconds). REST depth
snapshots are separate JSON files.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Union

from . import _core
from .events import BadFrame, Connected, Disconnected, GapDetected, Resynced
from .exceptions import FrameError, SequenceGap

PathLike = Union[str, "os.PathLike[str]"]
Event = object


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


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
    seconds are converted). Raises ValueError naming the line of a value that is neither."""
    out = []
    with _open(Path(path)) as f:
        for n, raw in enumerate(f, 1):
            text = raw.strip().decode("ascii", "replace")
            try:
                out.append(int(text) if text.isdigit() else round(float(text) * 1e9))
            except ValueError:
                raise ValueError(f"{path}:{n}: {text!r} is not a timestamp") from None
    return out


@dataclass
class SnapshotFile:
    """A REST depth snapshot body for ``symbol`` (unified; None = infer from the file name,
    which must contain the lowercase market id, e.g. ``..._ethusdt_....json``)."""

    path: Path
    symbol: str | None = None

    @classmethod
    def parse(cls, spec: str) -> SnapshotFile:
        """``FILE`` or ``SYMBOL=FILE`` (``ETH/USDT=snap.json``)."""
        symbol, sep, path = spec.rpartition("=")
        if sep and "/" in symbol:
            return cls(Path(path), symbol)
        return cls(Path(spec), None)


@dataclass
class ReplayStats:
    """What a replay saw: frames read, events per kind, gaps, bad lines, decode time (s)."""

    frames: int = 0
    events: Counter = field(default_factory=Counter)
    gaps: list[GapDetected] = field(default_factory=list)
    bad_lines: list[BadFrame] = field(default_factory=list)
    unmatched_snapshots: list[Path] = field(default_factory=list)
    decode_seconds: float = 0.0

    @property
    def msgs_per_second(self) -> float:
        return self.frames / self.decode_seconds if self.decode_seconds > 0 else 0.0


class Replay:
    """Iterate the events of a recording, decoded exactly as a live feed decodes them.

    ``Replay(recording, exchange, snapshots=[...], timestamps=None)`` yields the core's events
    (``Trade``, ``BBO``, ``BookUpdate``, ``Candle``, ``ControlReply``) plus ``GapDetected`` when a
    depth delta breaks the chain and ``BadFrame`` for a line that is not a valid frame (counted,
    skipped). A snapshot is applied when its symbol first appears, and the deltas buffered until
    then are replayed by the exchange's bridging rule (equivalent to applying it when it
    arrived). ``timestamps``: receive times (int ns) per line; default the sibling ``.ts`` file,
    else the wall clock. After iteration ``stats`` holds the counts and ``decoder`` the books.

    Raises ValueError for an unknown exchange; FileNotFoundError for a missing file.
    """

    def __init__(
        self,
        recording: PathLike,
        exchange: str,
        snapshots: Iterable[SnapshotFile | PathLike] = (),
        timestamps: Sequence[int] | None = None,
    ):
        self.path = Path(recording)
        if not self.path.exists():
            raise FileNotFoundError(f"recording {self.path} does not exist")
        self.decoder = _core.Decoder(exchange)
        self.exchange = exchange
        self.stats = ReplayStats()
        self._pending: list[SnapshotFile] = []
        for s in snapshots:
            snap = s if isinstance(s, SnapshotFile) else SnapshotFile(Path(s))
            if not snap.path.exists():
                raise FileNotFoundError(f"snapshot {snap.path} does not exist")
            if snap.symbol is not None:
                self.decoder.register(snap.symbol)  # ValueError names a symbol of another market
            self._pending.append(snap)
        if timestamps is None:
            ts_file = timestamps_path(self.path)
            timestamps = read_timestamps(ts_file) if ts_file else None
        self._timestamps = timestamps

    def _apply_pending(self, line: int, receive_ts: int) -> Iterator[Event]:
        """Apply every pending snapshot whose symbol the decoder now knows."""
        known = {_core.market_id(self.exchange, s).lower(): s for s in self.decoder.symbols()}
        for snap in list(self._pending):
            symbol = snap.symbol or next(
                (s for m, s in known.items() if m in snap.path.name.lower()), None
            )
            if symbol is None or symbol not in known.values():
                continue
            self._pending.remove(snap)
            try:
                events = self.decoder.apply_snapshot(symbol, snap.path.read_bytes(), receive_ts)
            except SequenceGap as gap:
                yield self._gap(gap, line, receive_ts)
                continue
            yield from events
            yield Resynced(self.exchange, symbol, events[-1].sequence, receive_ts)

    def _gap(self, gap: SequenceGap, line: int, ts: int) -> GapDetected:
        event = GapDetected(self.exchange, gap.symbol, gap.expected, gap.received, ts, line)
        self.stats.gaps.append(event)
        return event

    def __iter__(self) -> Iterator[Event]:
        feed = self.decoder.feed
        stamps = self._timestamps
        known_symbols = 0
        stats = self.stats
        counts = stats.events
        clock = time.perf_counter
        with _open(self.path) as f:
            for line, raw in enumerate(f, 1):
                frame = raw[:-1] if raw.endswith(b"\n") else raw
                ts = stamps[line - 1] if stamps and line <= len(stamps) else time.time_ns()
                stats.frames += 1
                t0 = clock()
                try:
                    events = feed(frame, ts)
                except FrameError as e:
                    stats.decode_seconds += clock() - t0
                    bad = BadFrame(self.exchange, str(e), ts, line)
                    stats.bad_lines.append(bad)
                    counts["bad_frame"] += 1
                    yield bad
                    continue
                except SequenceGap as gap:
                    stats.decode_seconds += clock() - t0
                    counts["gap"] += 1
                    yield self._gap(gap, line, ts)
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
                    counts[type(ev).__name__] += 1
                    yield ev
        stats.unmatched_snapshots = [s.path for s in self._pending]


def replay(
    recording: PathLike,
    exchange: str,
    snapshots: Iterable[SnapshotFile | PathLike] = (),
    timestamps: Sequence[int] | None = None,
) -> Replay:
    """Shorthand for :class:`Replay` (iterate it for the events)."""
    return Replay(recording, exchange, snapshots, timestamps)


# Feed-health and replay events (dataclasses) by their "type" in jsonl output.
_HEALTH_TYPES = {
    GapDetected: "gap",
    Resynced: "resynced",
    BadFrame: "bad_frame",
    Connected: "connected",
    Disconnected: "disconnected",
}


def event_to_dict(event: Event, book_depth: int = 5, decoder: _core.Decoder | None = None) -> dict:
    """A JSON-ready dict of one event. A ``BookUpdate`` (given the ``decoder`` that owns the
    book) carries the best bid/ask ``[price, size]`` and the top ``book_depth`` levels per side.
    Prices and sizes are floats (nearest double of the exact decimal); timestamps int ns."""
    if isinstance(event, _core.BookUpdate):
        d = {
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
            "request_id": event.request_id,
            "ok": event.ok,
            "code": event.code,
            "message": event.message,
            "result": event.result,
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
    kind = _HEALTH_TYPES.get(type(event))
    if kind is not None:
        return {"type": kind, **dataclasses.asdict(event)}
    raise TypeError(f"not a tickwire event: {event!r}")
