"""A price-level book that keeps the text the exchange sent, for venue simulators.

Venues that push their book snapshot over the WebSocket (and those that checksum their book)
need the simulator to build a snapshot *at the replay position* from the recording itself: the
recorded snapshot, then every recorded delta up to that line. :class:`WireBook` is that book,
with prices and sizes kept as the exact strings received (``"0.05000"`` stays ``"0.05000"``), so
a snapshot it serves is byte-identical in its values to what the exchange would have sent and
its checksums are the exchange's. :class:`BookReplay` walks a recording's book messages (read by
the venue, :class:`BookMessage`) to any position and keeps one :class:`WireBook` per book.

Checksums (the exchanges' own rules, the same as ``rust/src/checksum.rs``):

- :func:`kraken_checksum`: CRC32 (IEEE, as zlib) of the top 10 asks (lowest first) then the top
  10 bids (highest first), each level's price then size with the ``.`` removed and the leading
  zeros stripped, no separators; unsigned (``docs/exchanges/kraken.md`` §5).
- :func:`interleaved_checksum`: CRC32 of ``bid1px:bid1sz:ask1px:ask1sz:bid2px:...`` over the top
  25 of each side, strings exactly as sent, one side continuing alone once the other runs out;
  signed 32-bit, as OKX and Bitget send it (``okx.md`` §5, ``bitget.md`` §5).

A venue sim uses it like this (``read`` turns a recording line into its book messages)::

    def started(self):  # the recording is bound: index its book lines
        rec = self.sim.recording
        lines = sorted(n for name, sd in rec.streams.items() if is_book(name) for n in sd.lines)
        self.books = BookReplay(lambda line: read(rec.parsed(line)), lines)

    def rewound(self):
        self.books.reset()

    def on_subscribe(self, conn, stream, position):
        book = self.books.book(market_id_of(stream), position)
        return [] if book is None else [snapshot_frame(book.bids(), book.asks(),
                                                       book.interleaved_checksum())]

Book rules (all three venues): sizes are absolute; a size that is zero deletes the level; a
price already in the book is replaced (its strings too: ``"3366.10"`` after ``"3366.1"`` keeps
the new text); prices are ordered by value (``decimal.Decimal``), bids high to low, asks low to
high. A depth truncates each side after a whole message (Kraken sends no delete for a level that
falls out of the subscribed depth).
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "INTERLEAVED_LEVELS",
    "KRAKEN_LEVELS",
    "BookMessage",
    "BookReplay",
    "Level",
    "WireBook",
    "interleaved_checksum",
    "kraken_checksum",
    "off_by_one_int32",
]

#: Levels per side in a Kraken checksum, whatever the subscribed depth.
KRAKEN_LEVELS = 10
#: Levels per side in an OKX or Bitget checksum.
INTERLEAVED_LEVELS = 25

Level = tuple[str, str]
"""One level as received: (price text, size text)."""


def _value(text: str, what: str) -> Decimal:
    """``text`` as a finite Decimal; ``ValueError`` naming ``what`` and the text otherwise."""
    try:
        v = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{what} {text!r} is not a decimal number") from None
    if not v.is_finite():
        raise ValueError(f"{what} {text!r} is not a decimal number")
    return v


class _Side:
    """One side of the book: price value -> (price text, size text), with the values kept in
    ascending order (a list maintained by bisection: a book of a few thousand levels changes a
    few levels per message)."""

    __slots__ = ("_keys", "_levels", "descending")

    def __init__(self, descending: bool) -> None:
        self.descending = descending
        self._keys: list[Decimal] = []  # ascending
        self._levels: dict[Decimal, Level] = {}

    def set(self, price: str, size: str) -> None:
        key = _value(price, "price")
        if _value(size, "size") == 0:
            if self._levels.pop(key, None) is not None:
                del self._keys[bisect.bisect_left(self._keys, key)]
            return
        if key not in self._levels:
            bisect.insort(self._keys, key)
        self._levels[key] = (price, size)

    def clear(self) -> None:
        self._keys.clear()
        self._levels.clear()

    def top(self, n: int | None) -> list[Level]:
        keys = self._keys
        if self.descending:
            picked = keys[::-1] if n is None else keys[: -n - 1 : -1] if n > 0 else []
        else:
            picked = keys if n is None else keys[:n]
        levels = self._levels
        return [levels[k] for k in picked]

    def truncate(self, depth: int) -> None:
        extra = len(self._keys) - depth
        if extra <= 0:
            return
        if self.descending:  # the worst bids are the lowest prices
            gone, self._keys = self._keys[:extra], self._keys[extra:]
        else:
            gone, self._keys = self._keys[depth:], self._keys[:depth]
        for k in gone:
            del self._levels[k]

    def copy(self) -> _Side:
        out = _Side(self.descending)
        out._keys = list(self._keys)
        out._levels = dict(self._levels)
        return out

    def __len__(self) -> int:
        return len(self._keys)


class WireBook:
    """An L2 book keeping each level's price and size text as received (see the module
    docstring for the rules). Levels are ``(price, size)`` string pairs; a string that is not a
    finite decimal number raises ``ValueError`` naming it (nothing of that call is applied from
    that level on)."""

    __slots__ = ("_asks", "_bids")

    def __init__(self) -> None:
        self._bids = _Side(descending=True)
        self._asks = _Side(descending=False)

    def load_snapshot(self, bids: Iterable[Sequence[str]], asks: Iterable[Sequence[str]]) -> None:
        """Replace the whole book with these levels (any order; zero sizes are skipped). Rows
        may carry more fields after price and size (counts, timestamps): they are ignored."""
        self._bids.clear()
        self._asks.clear()
        self.apply(bids, asks)

    def apply(self, bids: Iterable[Sequence[str]], asks: Iterable[Sequence[str]]) -> None:
        """Apply delta levels in the order given (absolute sizes, zero deletes)."""
        for row in bids:
            self._bids.set(row[0], row[1])
        for row in asks:
            self._asks.set(row[0], row[1])

    def set(self, side: str, price: str, size: str) -> None:
        """Set one level of ``side`` (``"bid"`` or ``"ask"``); ``ValueError`` for another."""
        if side == "bid":
            self._bids.set(price, size)
        elif side == "ask":
            self._asks.set(price, size)
        else:
            raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")

    def truncate(self, depth: int) -> None:
        """Keep only the best ``depth`` levels of each side (``ValueError`` if negative)."""
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self._bids.truncate(depth)
        self._asks.truncate(depth)

    def bids(self, n: int | None = None) -> list[Level]:
        """The best ``n`` bids (all if None), highest price first, as received."""
        return self._bids.top(n)

    def asks(self, n: int | None = None) -> list[Level]:
        """The best ``n`` asks (all if None), lowest price first, as received."""
        return self._asks.top(n)

    def copy(self) -> WireBook:
        """An independent copy (e.g. to corrupt one level for a fault)."""
        out = WireBook()
        out._bids = self._bids.copy()
        out._asks = self._asks.copy()
        return out

    def kraken_checksum(self) -> int:
        """Kraken's checksum of this book (unsigned 32-bit; :func:`kraken_checksum`)."""
        return kraken_checksum(self.asks(KRAKEN_LEVELS), self.bids(KRAKEN_LEVELS))

    def interleaved_checksum(self) -> int:
        """OKX's / Bitget's checksum of this book (signed 32-bit; :func:`interleaved_checksum`)."""
        return interleaved_checksum(self.bids(INTERLEAVED_LEVELS), self.asks(INTERLEAVED_LEVELS))

    def __len__(self) -> int:
        """Levels on both sides."""
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        return f"<WireBook {len(self._bids)} bids, {len(self._asks)} asks>"


def kraken_text(asks: Iterable[Level], bids: Iterable[Level]) -> str:
    """The text Kraken's checksum hashes: top 10 asks then top 10 bids (best first, as given),
    price then size of each with ``.`` removed and leading zeros stripped."""
    parts = []
    for levels in (asks, bids):
        for k, (price, size) in enumerate(levels):
            if k == KRAKEN_LEVELS:
                break
            parts.append(price.replace(".", "").lstrip("0"))
            parts.append(size.replace(".", "").lstrip("0"))
    return "".join(parts)


def kraken_checksum(asks: Iterable[Level], bids: Iterable[Level]) -> int:
    """Kraken's book checksum (unsigned 32-bit) of ``asks`` (lowest first) and ``bids``
    (highest first), the levels' text as sent; only the first 10 of each count."""
    return zlib.crc32(kraken_text(asks, bids).encode())


def interleaved_text(bids: Sequence[Level], asks: Sequence[Level]) -> str:
    """The text OKX's and Bitget's checksum hashes: the top 25 bids and asks (best first, as
    given) interleaved ``bid1px:bid1sz:ask1px:ask1sz:...``, the longer side continuing alone."""
    parts: list[str] = []
    bids, asks = bids[:INTERLEAVED_LEVELS], asks[:INTERLEAVED_LEVELS]
    for k in range(max(len(bids), len(asks))):
        for side in (bids, asks):
            if k < len(side):
                parts.extend(side[k][:2])
    return ":".join(parts)


def interleaved_checksum(bids: Sequence[Level], asks: Sequence[Level]) -> int:
    """OKX's and Bitget's book checksum of ``bids`` (highest first) and ``asks`` (lowest
    first), as the signed 32-bit integer they send; only the first 25 of each count."""
    crc = zlib.crc32(interleaved_text(bids, asks).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def off_by_one_int32(payload: bytes, match: re.Match[bytes]) -> bytes:
    """``payload`` with the signed 32-bit decimal integer that ``match`` (a match in
    ``payload``) captured as its group 1 changed by one: one larger, one smaller at the top of
    the range (2**31 - 1), so it stays a valid signed 32-bit value; what a corrupted-checksum
    fault sends in place of the checksum field."""
    value = int(match.group(1))
    bad = value + 1 if value < 2**31 - 1 else value - 1
    return payload[: match.start(1)] + str(bad).encode() + payload[match.end(1) :]


@dataclass(frozen=True)
class BookMessage:
    """One book message of a recording as a venue reads it: ``book`` (the key of the book it
    updates, e.g. the market id), ``snapshot`` (replaces the book) or a delta, the levels in the
    order sent (rows of at least ``(price, size)`` strings), ``depth`` to truncate each side to
    after the message (None: no truncation), and ``checksum`` as sent (None: none)."""

    book: str
    snapshot: bool
    bids: Sequence[Sequence[str]]
    asks: Sequence[Sequence[str]]
    depth: int | None = None
    checksum: int | None = None

    def apply_to(self, book: WireBook) -> None:
        """Apply this message to ``book`` (replace or update, then truncate)."""
        if self.snapshot:
            book.load_snapshot(self.bids, self.asks)
        else:
            book.apply(self.bids, self.asks)
        if self.depth is not None:
            book.truncate(self.depth)


ReadBook = Callable[[int], Sequence[BookMessage]]


class BookReplay:
    """The books of a recording at any replay position, built from its own messages.

    ``read(line)``: the book messages of recording line ``line`` (the venue parses it; ``[]``
    for a line without any). ``lines``: the ascending recording lines that carry book messages
    (only those are read). :meth:`at` applies the messages of every line before ``position`` to
    one :class:`WireBook` per book key, in order; a position before the last one asked rebuilds
    from line 0 (positions normally only grow: the replay clock and each connection move
    forward). The venue builds its snapshot-on-subscribe from :meth:`book` and the last applied
    message's line (:meth:`last_line`, e.g. to read its sequence fields).
    """

    def __init__(self, read: ReadBook, lines: Sequence[int]) -> None:
        self._read = read
        self.lines = list(lines)
        self.reset()

    def reset(self) -> None:
        """Forget every book (back to line 0; used when the replay is rewound)."""
        self.books: dict[str, WireBook] = {}
        self._last_line: dict[str, int] = {}
        self._last: dict[str, BookMessage] = {}
        self._cursor = 0  # index into lines of the next line to apply
        self.position = 0

    def at(self, position: int) -> dict[str, WireBook]:
        """Every book as of replay ``position`` (lines ``< position`` applied): key -> book."""
        if position < self.position:
            self.reset()
        lines, read = self.lines, self._read
        while self._cursor < len(lines) and lines[self._cursor] < position:
            line = lines[self._cursor]
            for msg in read(line):
                book = self.books.get(msg.book)
                if book is None:
                    book = self.books[msg.book] = WireBook()
                msg.apply_to(book)
                self._last_line[msg.book] = line
                self._last[msg.book] = msg
            self._cursor += 1
        self.position = position
        return self.books

    def book(self, key: str, position: int) -> WireBook | None:
        """The book ``key`` as of ``position`` (None before its first message)."""
        return self.at(position).get(key)

    def last_line(self, key: str) -> int | None:
        """The recording line of the last message applied to ``key`` (None: none yet)."""
        return self._last_line.get(key)

    def last_message(self, key: str) -> BookMessage | None:
        """The last message applied to ``key`` (None: none yet)."""
        return self._last.get(key)
