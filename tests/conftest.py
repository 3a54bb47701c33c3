"""Shared paths and helpers for tests on the real recordings in tests/fixtures (see SOURCES.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Recording:
    """A recording with the REST snapshots taken next to it."""

    exchange: str
    path: Path
    snapshots: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return f"{self.exchange}:{self.path.stem}"

    def lines(self) -> list[bytes]:
        return self.path.read_bytes().splitlines()


def _recordings() -> list[Recording]:
    b, u = FIXTURES / "binance", FIXTURES / "binanceusdm"
    eth = "depth_bookticker_trade_ethusdt_20240808"
    return [
        Recording("binance", b / f"{eth}.jsonl", (b / f"{eth}_depth_snapshot.json",)),
        Recording("binanceusdm", u / f"{eth}.jsonl", (u / f"{eth}_depth_snapshot.json",)),
        Recording(
            "binance",
            b / "cf_depth_bookticker_kline_aggtrade_4sym_20211012.jsonl",
            tuple(sorted(b.glob("cf_depth_snapshot_*.json"))),
        ),
        Recording(
            "binanceusdm",
            u / "cf_depth_bookticker_kline_aggtrade_4sym_20210722.jsonl",
            tuple(sorted(u.glob("cf_depth_snapshot_*.json"))),
        ),
    ]


RECORDINGS = _recordings()
ETHUSDT = RECORDINGS[:2]


@pytest.fixture(params=RECORDINGS, ids=lambda r: r.id)
def recording(request) -> Recording:
    return request.param


@pytest.fixture(params=ETHUSDT, ids=lambda r: r.id)
def ethusdt(request) -> Recording:
    return request.param


def data_of(line: bytes) -> dict:
    """The event object of one raw frame, parsed with the stdlib (an oracle independent of the
    Rust decoder); numbers-as-strings become Decimal when compared."""
    msg = json.loads(line)
    return msg.get("data", msg)


def dec(s: str) -> Decimal:
    return Decimal(s)
