"""Shared paths and helpers for tests on the real recordings in tests/fixtures (see SOURCES.md),
and for the simulator scenarios of the connection layer (``replay_through_feed`` and its
oracles: the recording's own trade and bookTicker ids parsed with the stdlib, and an offline
replay of the whole recording for the final book)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tickwire._core as core
from tickwire.feed import Feed
from tickwire.simulator import Simulator, packaged_recording

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


# --- simulator scenarios of the connection layer ----------------------------------------------
SYMBOL = {"binance": "ETH/USDT", "binanceusdm": "ETH/USDT:USDT"}
DEPTH_STREAM = {"binance": "ethusdt@depth@100ms", "binanceusdm": "ethusdt@depth@0ms"}
MARKETS = ["binance", "binanceusdm"]


def _uvloop_run(coro):
    import uvloop

    return uvloop.run(coro)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Run a coroutine to completion on a fresh loop of the parametrized kind."""
    return asyncio.run if request.param == "asyncio" else _uvloop_run


# --- oracles --------------------------------------------------------------------------------
_RECORDED: dict[str, tuple[list[int], list[int]]] = {}
_BOOKS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def recorded_ids(market: str) -> tuple[list[int], list[int]]:
    """(trade ids, bookTicker update ids) of the packaged recording, in recorded order."""
    if market not in _RECORDED:
        trades, bbos = [], []
        for line in packaged_recording(market).lines:
            msg = json.loads(line)
            if msg["stream"].endswith("@trade"):
                trades.append(msg["data"]["t"])
            elif msg["stream"].endswith("@bookTicker"):
                bbos.append(msg["data"]["u"])
        _RECORDED[market] = (trades, bbos)
    return _RECORDED[market]


def final_book(market: str, depth: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Top ``depth`` levels after an offline replay of the whole recording from its snapshot."""
    if market not in _BOOKS:
        rec = packaged_recording(market)
        (snap,) = rec.snapshots.values()
        dec = core.Decoder(market)
        dec.register(SYMBOL[market])
        for i, line in enumerate(rec.lines):
            if i == snap.after_line:
                dec.apply_snapshot(SYMBOL[market], snap.body)
            dec.feed(line)
        book = dec.book(SYMBOL[market])
        assert book.synced
        _BOOKS[market] = (book.bids(depth), book.asks(depth))
    return _BOOKS[market]


@dataclass
class Outcome:
    events: list[Any]
    stats: dict[str, int]
    bids: np.ndarray
    asks: np.ndarray
    synced: bool
    bbo_checked: int = 0
    bbo_mismatch: list[Any] = field(default_factory=list)
    sim_connections: int = 0
    finished_ts: int = 0  # when the simulator had published the whole recording (ns)
    listeners: set = field(default_factory=set)  # who ran on_ws_frame: FrameSink or Session

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def trade_ids(self) -> list[int]:
        return [e.trade_id for e in self.of(core.Trade)]

    def bbo_ids(self) -> list[int]:
        return [e.sequence for e in self.of(core.BBO)]


async def replay_through_feed(
    market: str,
    *,
    faults: list = (),
    future_faults: bool = False,
    later_faults: tuple = (),
    speed: float | str = "max",
    sim_kwargs: dict | None = None,
    settle: float = 0.3,
    **feed_kwargs: Any,
) -> Outcome:
    """Replay the packaged recording of ``market`` through a Feed on the simulator.

    The replay starts once every connection of the feed has subscribed (so the recording starts
    on all streams at once); ``faults`` are attached to those connections just before (their
    message counts start at line 0; pick counts beyond the initial book sync) and with
    ``future_faults`` to every later connection too; ``later_faults`` are ``(line, fault)``
    injected once the replay has published that many lines. Returns what the feed delivered
    and its final book."""
    sym = SYMBOL[market]
    async with Simulator(market, speed=speed, autostart=False, **(sim_kwargs or {})) as sim:
        events: list[Any] = []
        feed_ref: list[Feed] = []
        out_checks = {"n": 0, "bad": []}

        last_bbo: list[Any] = [None]

        def check(bbo: Any) -> None:  # Binance oracle: book top == bookTicker at the same id
            book = feed_ref[0].book(sym)
            if bbo is not None and book.synced and book.sequence == bbo.sequence:
                out_checks["n"] += 1
                bb, ba = book.best_bid, book.best_ask
                if bb != (bbo.bid_price, bbo.bid_size) or ba != (bbo.ask_price, bbo.ask_size):
                    out_checks["bad"].append((bbo, bb, ba))

        def on_bbo(ev: Any) -> None:
            last_bbo[0] = ev
            check(ev)

        def on_book(ev: Any) -> None:
            check(last_bbo[0])

        feed = Feed(
            market,
            [sym],
            ["book", "trades", "bbo"],
            base_url=sim.rest_url,
            on_event=events.append,
            on_bbo=on_bbo,
            on_book=on_book,
            **feed_kwargs,
        )
        feed_ref.append(feed)
        starting = asyncio.ensure_future(feed.start())
        n_conns = len({s.route for s in feed.subscriptions})
        await sim.wait_connections(n_conns, timeout=10)
        while not starting.done() and not (  # noqa: ASYNC110 - polls state that no event announces
            len(sim.connections) >= n_conns and all(c.subscriptions for c in sim.connections)
        ):
            await asyncio.sleep(0.005)
        for f in faults:
            sim.inject(f, future=future_faults)
        sim.start_replay()
        await asyncio.wait_for(starting, 30)
        for line, fault in later_faults:
            await sim.wait_position(line, timeout=30)
            sim.inject(fault)
        await sim.wait_finished(timeout=60)
        finished_ts = time.time_ns()
        await asyncio.sleep(settle)
        book = feed.book(sym)
        listeners = {
            type(s.on_ws_frame.__self__).__name__ for c in feed.connections for s in c._sessions
        }
        out = Outcome(
            list(events),
            feed.stats(),
            book.bids(20),
            book.asks(20),
            book.synced,
            out_checks["n"],
            out_checks["bad"],
            sim.total_connections,
            finished_ts,
            listeners,
        )
        await feed.close()
        return out


def assert_book_matches_recording(out: Outcome, market: str) -> None:
    bids, asks = final_book(market)
    assert out.synced
    np.testing.assert_array_equal(out.bids, bids)
    np.testing.assert_array_equal(out.asks, asks)
    assert not out.bbo_mismatch, out.bbo_mismatch[:3]


def assert_one_window_lost(got: list[int], want: list[int]) -> int:
    """``got`` is ``want`` in order with no repeats, minus at most one contiguous window (what
    the server published while no connection was subscribed). Returns the window size."""
    assert len(got) == len(set(got)), "duplicates delivered"
    assert got == sorted(got), "out of order"
    if got == want:
        return 0
    i = 0
    while i < len(got) and got[i] == want[i]:
        i += 1
    j = want.index(got[i]) if i < len(got) else len(want)
    assert got[i:] == want[j:], "more than one window missing"
    return j - i
