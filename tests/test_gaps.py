"""Sequence gaps on real recordings: a lost depth message is detected by Binance's documented
rule (spot: U == previous u + 1; USD-M: pu == previous u), the book stops serving stale levels,
buffers what follows, and a later snapshot brings it back in sync."""

from __future__ import annotations

import json

import pytest

import tickwire as tw
from conftest import data_of
from tickwire import _core


def _depth_lines(lines):
    return [i for i, line in enumerate(lines) if data_of(line).get("e") == "depthUpdate"]


def _synced_decoder(rec, lines, upto):
    """A decoder fed the snapshot and lines[:upto]."""
    dec = tw.Decoder(rec.exchange)
    for snap in rec.snapshots:
        sym = next(
            s
            for s in _symbols(rec, lines)
            if tw.market_id(rec.exchange, s).lower() in snap.name.lower()
        )
        dec.apply_snapshot(sym, snap.read_bytes())
    for line in lines[:upto]:
        dec.feed(line)
    return dec


def _symbols(rec, lines):
    dec = tw.Decoder(rec.exchange)
    for line in lines[:200]:
        dec.feed(line)
    return dec.symbols()


def _exact_levels(book, n=100000):
    """The book as a REST snapshot body (prices/sizes printed back to 8 decimals: exact for
    these magnitudes), so a resync can be tested with data derived from the real recording."""

    def fmt(a):
        return [[f"{p:.8f}", f"{q:.8f}"] for p, q in a.tolist()]

    return {"bids": fmt(book.bids(n)), "asks": fmt(book.asks(n))}


def test_a_removed_depth_message_is_a_gap(ethusdt):
    lines = ethusdt.lines()
    depth = _depth_lines(lines)
    victim = depth[len(depth) // 2]  # well after the snapshot has been bridged
    dropped = data_of(lines[victim])
    nxt = next(i for i in depth if i > victim)
    dec = _synced_decoder(ethusdt, lines, victim)
    symbol = dec.symbols()[0]
    assert dec.book(symbol).synced
    for line in lines[victim + 1 : nxt]:
        dec.feed(line)
    events = dec.feed(lines[nxt])  # not an error: a SyncLost event, in order with the others
    (gap,) = (e for e in events if isinstance(e, _core.SyncLost))
    assert not any(isinstance(e, tw.BookUpdate) for e in events)
    following = data_of(lines[nxt])
    assert (gap.symbol, gap.reason, gap.exchange) == (symbol, "gap", ethusdt.exchange)
    if ethusdt.exchange == "binance":
        assert (gap.expected, gap.received) == (dropped["U"], following["U"])
    else:
        assert (gap.expected, gap.received) == (dropped["pu"], following["pu"])
    book = dec.book(symbol)
    assert dec.needs_snapshot(symbol) and not book.synced
    assert book.best_bid is None and book.sequence is None  # no stale levels served
    assert dec.stats()["gaps"] == 1 and dec.book_stats(symbol)["gaps"] == 1


def test_resync_after_a_gap_rejoins_the_uninterrupted_book(ethusdt):
    """After the gap, deltas are buffered; a snapshot taken (from the uninterrupted replay) at a
    later update id bridges them, and from then on the book equals the uninterrupted one."""
    lines = ethusdt.lines()
    depth = _depth_lines(lines)
    victim, later = depth[len(depth) // 2], depth[len(depth) // 2 + 20]
    clean = _synced_decoder(ethusdt, lines, later)
    symbol = clean.symbols()[0]
    snapshot = {"lastUpdateId": clean.book(symbol).sequence, **_exact_levels(clean.book(symbol))}

    dec = _synced_decoder(ethusdt, lines, victim)
    gaps = 0
    for line in lines[victim + 1 : later + 5]:
        gaps += sum(isinstance(e, _core.SyncLost) for e in dec.feed(line))
    assert gaps == 1 and dec.needs_snapshot(symbol)
    events = dec.apply_snapshot(symbol, json.dumps(snapshot).encode())
    assert all(isinstance(e, tw.BookUpdate) for e in events) and len(events) >= 1
    assert not dec.needs_snapshot(symbol)
    for line in lines[later:]:
        clean.feed(line)
    for line in lines[later + 5 :]:
        dec.feed(line)
    assert dec.book(symbol).sequence == clean.book(symbol).sequence
    assert (dec.book(symbol).bids(50) == clean.book(symbol).bids(50)).all()
    assert (dec.book(symbol).asks(50) == clean.book(symbol).asks(50)).all()


def test_a_snapshot_older_than_the_buffered_deltas_is_rejected(ethusdt):
    """Binance: if the snapshot's lastUpdateId is below the first buffered event's U, fetch again."""
    lines = ethusdt.lines()
    depth = _depth_lines(lines)
    dec = tw.Decoder(ethusdt.exchange)
    for line in lines[depth[50] : depth[60]]:
        dec.feed(line)  # no snapshot yet: all buffered
    symbol = dec.symbols()[0]
    assert dec.needs_snapshot(symbol)
    with pytest.raises(tw.SequenceGap):
        dec.apply_snapshot(symbol, ethusdt.snapshots[0].read_bytes())  # taken long before depth[50]
    assert dec.needs_snapshot(symbol)
    assert dec.book(symbol).best_ask is None


def test_deltas_before_the_snapshot_are_buffered_and_replayed(ethusdt):
    """Feeding the stream first and the snapshot later (as a live client does) gives the same
    book as loading the snapshot first."""
    lines = ethusdt.lines()
    depth = _depth_lines(lines)
    early = _synced_decoder(ethusdt, lines, depth[30])
    symbol = early.symbols()[0]
    late = tw.Decoder(ethusdt.exchange)
    for line in lines[: depth[30]]:
        late.feed(line)
    assert late.needs_snapshot(symbol) and late.stats()["buffered_deltas"] > 0
    replayed = late.apply_snapshot(symbol, ethusdt.snapshots[0].read_bytes())
    assert [e.sequence for e in replayed][1:] == sorted(e.sequence for e in replayed[1:])
    assert late.book(symbol).sequence == early.book(symbol).sequence
    assert (late.book(symbol).bids(1000) == early.book(symbol).bids(1000)).all()
    assert (late.book(symbol).asks(1000) == early.book(symbol).asks(1000)).all()
