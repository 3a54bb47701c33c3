"""Fuzzing in the normal suite: real recorded frames of every venue, mutated by hypothesis (bit
flips, truncation, inserted and deleted bytes, digits turned into letters, repeated pieces),
fed to a decoder that has already read the recording's first frames.

Whatever a mutation makes, the decoder either accepts the frame or raises ``FrameError`` (never
another exception, never a crash), and a rejected frame changes no book: every book's levels,
sequence and sync state are exactly as before. (The coverage-guided targets of the same parsers
are in ``fuzz/``; CI runs them for a bounded time.)
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tickwire._core as core
from tickwire import FrameError

FIXTURES = Path(__file__).parent / "fixtures"
WARM = 40  # frames fed before the mutated one: books are built by then


def _frames(path: Path) -> list[tuple[bytes, bool]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("b64:"):
            out.append((base64.b64decode(line[4:]), True))
        elif line.strip():
            out.append((line.encode(), False))
    return out


def _fed(dec: Any, frame: bytes, binary: bool, ts: int = 1) -> bool:
    """Feed ``frame``; False if the decoder refused it (``FrameError``)."""
    try:
        dec.feed(frame, ts, binary=binary)
    except FrameError:
        return False
    return True


def _bad(exchange: str, market: str, frames: list[tuple[bytes, bool]]) -> int:
    dec = core.Decoder(exchange, market)
    return sum(not _fed(dec, frame, binary) for frame, binary in frames[:WARM])


def _cases() -> list[Any]:
    """(exchange, market, recording) for every recording of a venue's folder, on the market
    (of the exchange ids named like the folder) that decodes its first frames best."""
    cases = []
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        ids = [e for e in core.venues() if e.startswith(folder.name)]
        for rec in sorted(folder.glob("*.jsonl")):
            if ".client_sent." in rec.name or rec.name.startswith("docs_tier"):
                continue
            frames = _frames(rec)
            if len(frames) < 5:
                continue
            scored = [(_bad(e, m, frames), e, m) for e in ids for m in core.venues()[e]]
            bad, exchange, market = min(scored)
            if bad < min(len(frames), WARM):  # a recording of this venue's wire format
                cases.append(
                    pytest.param(exchange, market, rec, id=f"{exchange}-{market}-{rec.stem}")
                )
    return cases


CASES = _cases()


def _state(dec: Any) -> dict[str, Any]:
    out = {}
    for sym in dec.symbols():
        book = dec.book(sym)
        out[sym] = (
            book.bids(10_000).tolist(),
            book.asks(10_000).tolist(),
            book.sequence,
            book.synced,
        )
    return out


@st.composite
def mutated(draw: Any, frames: list[tuple[bytes, bool]]) -> tuple[bytes, bool]:
    frame, binary = (
        frames[draw(st.integers(WARM, len(frames) - 1))]
        if len(frames) > WARM
        else (frames[draw(st.integers(0, len(frames) - 1))])
    )
    b = bytearray(frame)
    for _ in range(draw(st.integers(1, 3))):
        if not b:
            break
        i = draw(st.integers(0, len(b) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete", "letter", "repeat"]))
        if op == "flip":
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del b[i:]
        elif op == "insert":
            b.insert(i, draw(st.integers(0, 255)))
        elif op == "delete":
            del b[i]
        elif op == "letter":
            digits = [k for k, c in enumerate(b) if 48 <= c <= 57]
            if digits:
                b[draw(st.sampled_from(digits))] = ord(draw(st.sampled_from("eE-x.")))
        else:
            j = draw(st.integers(i, min(len(b), i + 64)))
            b[i:i] = b[i:j]
    return bytes(b), binary


@pytest.mark.parametrize(("exchange", "market", "recording"), CASES)
def test_mutated_frames_are_accepted_or_rejected_without_touching_books(
    exchange, market, recording
):
    frames = _frames(recording)

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,  # the same examples every run: a red test is reproducible
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def check(data: Any) -> None:
        dec = core.Decoder(exchange, market)
        for frame, binary in frames[:WARM]:
            _fed(dec, frame, binary)  # the recording's own bad frames (if any) are not tested
        frame, binary = data.draw(mutated(frames))
        before, bad_before = _state(dec), dec.stats()["bad_frames"]
        if not _fed(dec, frame, binary, ts=2):
            assert _state(dec) == before  # a rejected frame changes no book
            assert dec.stats()["bad_frames"] == bad_before + 1

    check()


def test_every_venue_is_fuzzed():
    """Each exchange id with a recording folder appears among the cases above."""
    fuzzed = {p.values[0] for p in CASES}
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    expected = {e for e in core.venues() if any(e.startswith(f) for f in folders)}
    assert expected <= fuzzed, sorted(expected - fuzzed)
