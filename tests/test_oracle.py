"""Books proven against Binance's own data.

Oracle: a bookTicker carrying update id u states the best bid/ask of the book at exactly that
update id; whenever a depth event's final u equals it, our book after that event must equal the
bookTicker, price and size, exactly. Also: every depth event after the snapshot is applied, none
is skipped, on every recording.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import tickwire as tw
from conftest import data_of


def _book_vs_ticker(recording):
    """Replay through the Python API; return (pairs compared, mismatches, replay)."""
    rep = tw.Replay(recording.path, recording.exchange, recording.snapshots)
    top_at: dict[tuple[str, int], tuple] = {}
    tickers: list[tw.BBO] = []
    for ev in rep:
        if isinstance(ev, tw.BookUpdate):
            top_at[(ev.symbol, ev.sequence)] = rep.decoder.book(ev.symbol).exact_top()
        elif isinstance(ev, tw.BBO):
            tickers.append(ev)
    pairs = mismatches = 0
    for t in tickers:
        top = top_at.get((t.symbol, t.sequence))
        if top is None:
            continue
        pairs += 1
        (bp, bs), (ap, as_) = top
        want = (
            t.decimal("bid_price"),
            t.decimal("bid_size"),
            t.decimal("ask_price"),
            t.decimal("ask_size"),
        )
        if tuple(map(Decimal, (bp, bs, ap, as_))) != want:
            mismatches += 1
    return pairs, mismatches, rep


def test_book_equals_book_ticker_at_the_same_sequence(recording):
    pairs, mismatches, rep = _book_vs_ticker(recording)
    assert rep.stats.gaps == [] and rep.stats.bad_lines == []
    assert pairs > 0, "the recording must hold bookTicker/depth pairs with equal update ids"
    assert mismatches == 0, f"{mismatches} of {pairs} bookTickers disagree with the book"


def test_every_depth_event_after_the_snapshot_is_applied(recording):
    """Count, with the stdlib, the depth events each snapshot's documented rule keeps; the
    decoder must have applied exactly those."""
    snapshot_ids = {}
    for snap in recording.snapshots:
        snapshot_ids[snap] = json.loads(snap.read_bytes())["lastUpdateId"]
    by_symbol: dict[str, list[dict]] = {}
    for line in recording.lines():
        d = data_of(line)
        if d.get("e") == "depthUpdate":
            by_symbol.setdefault(d["s"], []).append(d)
    expected = 0
    for snap, last_id in snapshot_ids.items():
        symbol = next(s for s in by_symbol if s.lower() in snap.name.lower())
        # spot drops u <= lastUpdateId; USD-M applies the event ending at it (binance.md §5)
        spot = recording.exchange == "binance"
        expected += sum(
            1 for d in by_symbol[symbol] if (d["u"] > last_id if spot else d["u"] >= last_id)
        )
    rep = tw.Replay(recording.path, recording.exchange, recording.snapshots)
    for _ in rep:
        pass
    assert rep.decoder.stats()["deltas_applied"] == expected
    assert rep.decoder.stats()["gaps"] == 0
    for symbol in rep.decoder.symbols():
        book = rep.decoder.book(symbol)
        assert book.synced and not book.crossed
        assert book.sequence == max(
            d["u"] for d in by_symbol[tw.market_id(recording.exchange, symbol)]
        )


def test_cli_jsonl_output_satisfies_the_oracle(ethusdt):
    """`tickwire replay --output jsonl` on the real recordings: no gap, exit 0, and every book
    line whose sequence equals a bbo line's update id has that bbo's best bid and ask."""
    args = [
        sys.executable,
        "-m",
        "tickwire.cli",
        "replay",
        str(ethusdt.path),
        "--exchange",
        ethusdt.exchange,
        "--output",
        "jsonl",
        "--depth",
        "3",
    ]
    for s in ethusdt.snapshots:
        args += ["--snapshot", str(s)]
    proc = subprocess.run(args, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    books, bbos = {}, []
    kinds = set()
    for line in proc.stdout.splitlines():
        ev = json.loads(line)
        kinds.add(ev["type"])
        if ev["type"] == "book":
            books[ev["sequence"]] = ev
            assert len(ev["bids"]) == 3 and len(ev["asks"]) == 3
            assert ev["bids"][0] == ev["bid"] and ev["asks"][0] == ev["ask"]
        elif ev["type"] == "bbo":
            bbos.append(ev)
    assert "gap" not in kinds and "bad_frame" not in kinds
    matched = [(books[b["sequence"]], b) for b in bbos if b["sequence"] in books]
    assert matched
    for book, bbo in matched:
        assert (book["bid"], book["ask"]) == (bbo["bid"], bbo["ask"]), (book, bbo)
