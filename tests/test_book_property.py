"""Property tests: the Rust book, driven through the public Decoder API, agrees with a plain
dict model under random snapshots and deltas, and the sequence rules agree with a direct
statement of Binance's documented procedure."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tickwire as tw

# Prices/sizes as exchange strings: up to 8 decimals, as Binance sends them.
price = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("99999"), places=8, allow_nan=False
)
size = st.one_of(
    st.just(Decimal(0)),
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("5000"), places=8),
)
side_levels = st.lists(st.tuples(price, size), max_size=40)


def fmt(d: Decimal) -> str:
    return f"{d:.8f}"


def depth_frame(market: str, first: int, last: int, prev: int, bids, asks) -> bytes:
    data = {
        "e": "depthUpdate",
        "E": 1,
        "s": "TESTUSDT",
        "U": first,
        "u": last,
        "b": [[fmt(p), fmt(q)] for p, q in bids],
        "a": [[fmt(p), fmt(q)] for p, q in asks],
    }
    if market == "binanceusdm":
        data["pu"] = prev
    return json.dumps({"stream": "testusdt@depth", "data": data}).encode()


def model_levels(side: dict, reverse: bool) -> list[tuple[float, float]]:
    return [(float(p), float(q)) for p, q in sorted(side.items(), reverse=reverse)]


@pytest.mark.parametrize(
    ("market", "symbol"), [("binance", "TEST/USDT"), ("binanceusdm", "TEST/USDT:USDT")]
)
@settings(max_examples=60, deadline=None)
@given(
    snap_bids=side_levels,
    snap_asks=side_levels,
    deltas=st.lists(st.tuples(side_levels, side_levels), max_size=25),
)
def test_book_matches_a_dict_model(market, symbol, snap_bids, snap_asks, deltas):
    dec = tw.Decoder(market)
    bids = {p: q for p, q in reversed(snap_bids) if q}  # first occurrence of a price wins
    asks = {p: q for p, q in reversed(snap_asks) if q}
    snapshot = {
        "lastUpdateId": 100,
        "bids": [[fmt(p), fmt(q)] for p, q in snap_bids],
        "asks": [[fmt(p), fmt(q)] for p, q in snap_asks],
    }
    dec.apply_snapshot(symbol, json.dumps(snapshot).encode())
    last = 100
    for i, (b, a) in enumerate(deltas):
        first, new_last = last + 1, last + 1 + i % 3
        events = dec.feed(depth_frame(market, first, new_last, last, b, a))
        assert [type(e) for e in events] == [tw.BookUpdate] and events[0].sequence == new_last
        for levels, model in ((b, bids), (a, asks)):
            for p, q in levels:
                if q:
                    model[p] = q
                else:
                    model.pop(p, None)
        last = new_last
    book = dec.book(symbol)
    assert [tuple(x) for x in book.bids(10_000).tolist()] == model_levels(bids, reverse=True)
    assert [tuple(x) for x in book.asks(10_000).tolist()] == model_levels(asks, reverse=False)
    assert len(book) == len(bids) + len(asks)
    assert book.sequence == last
    best_bid, best_ask = (max(bids) if bids else None), (min(asks) if asks else None)
    assert book.best_bid == ((float(best_bid), float(bids[best_bid])) if bids else None)
    assert book.best_ask == ((float(best_ask), float(asks[best_ask])) if asks else None)
    assert book.crossed == (bids != {} and asks != {} and best_bid >= best_ask)
    if bids and asks:
        assert book.spread == float(best_ask - best_bid)


def documented_verdict(
    market: str, synced_at: int | None, snapshot_id: int, first: int, last: int, prev: int
) -> str:
    """Binance's rule, stated directly from the docs (shared/docs/exchanges/binance.md §5)."""
    if synced_at is None:  # first event after the snapshot
        if market == "binance":
            return (
                "stale" if last <= snapshot_id else ("apply" if first <= snapshot_id + 1 else "gap")
            )
        if last < snapshot_id:
            return "stale"
        return "apply" if first <= snapshot_id or prev == snapshot_id else "gap"
    if market == "binance":
        return "stale" if last <= synced_at else ("apply" if first <= synced_at + 1 else "gap")
    return "apply" if prev == synced_at else ("stale" if last <= synced_at else "gap")


@pytest.mark.parametrize(
    ("market", "symbol"), [("binance", "TEST/USDT"), ("binanceusdm", "TEST/USDT:USDT")]
)
@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(-3, 4), st.integers(0, 3), st.integers(-2, 2)),
        min_size=1,
        max_size=30,
    )
)
def test_sequence_rules_match_the_documented_procedure(market, symbol, steps):
    """Random id chains (overlaps, repeats, jumps): the decoder applies, skips or reports a gap
    exactly when the documented rule says so."""
    dec = tw.Decoder(market)
    snapshot_id = 1000
    dec.apply_snapshot(
        symbol, json.dumps({"lastUpdateId": snapshot_id, "bids": [], "asks": []}).encode()
    )
    synced_at, cursor = None, snapshot_id
    for jump, span, prev_off in steps:
        first = max(1, cursor + jump)
        last = first + span
        prev = (synced_at if synced_at is not None else snapshot_id) + prev_off
        want = documented_verdict(market, synced_at, snapshot_id, first, last, prev)
        frame = depth_frame(market, first, last, prev, [], [])
        if want == "gap":
            events = dec.feed(frame)
            assert [(type(e).__name__, e.reason) for e in events] == [("SyncLost", "gap")]
            assert dec.needs_snapshot(symbol)
            return
        before = dec.book(symbol).sequence
        events = dec.feed(frame)
        # an applied delta that ends at the book's own id (USD-M's first, at the snapshot's id)
        # changes nothing and emits no BookUpdate: delivered sequences strictly increase
        assert bool(events) == (want == "apply" and last != before), (
            want,
            first,
            last,
            prev,
            synced_at,
        )
        if want == "apply":
            synced_at = last
            assert dec.book(symbol).sequence == last
        cursor = max(cursor, last)
