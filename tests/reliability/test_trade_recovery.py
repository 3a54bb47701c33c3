"""Trades published while the socket was down, on venues whose trade ids are not consecutive:
recovered over REST (OKX, Bybit: the simulator answers the venue's recent-trades request from
the recording up to the replay position) or reported as a time range (the others).

Each case is a feed against the simulator replaying the venue's packaged recording with a
half-open socket a quarter of the way in (frames lost until the stale watchdog drops it,
about half the replay: trades are published meanwhile), run by ``reliability.harness.run_case``
and judged against an offline replay of the same recording.
"""

from __future__ import annotations

import asyncio

import pytest

from reliability.harness import MARKETS, Fault, Outcome, offline, run_case
from tickwire.events import Disconnected
from tickwire.exchanges import get_adapter
from tickwire.simulator import Stall

#: markets whose adapter has a public recent-trades request (recovered over REST)
REST_MARKETS = ["okx", "bybit-linear"]
#: markets without consecutive ids nor such a request (a time range is reported)
RANGE_MARKETS = ["kucoin", "bitget", "bitget-linear", "hyperliquid", "bitunix", "mexc"]

HALF_OPEN = Fault(
    "half-open socket",
    make=lambda c: [Stall(10.0, after=c.fault_at, lose_data=True)],
    expect=(Disconnected,),
    silent=True,
)


def _run(name: str) -> Outcome:
    spec = next(m for m in MARKETS if m.name == name)
    return asyncio.run(run_case(spec, HALF_OPEN))


@pytest.mark.parametrize("name", REST_MARKETS)
def test_rest_recovery_delivers_the_recording(name: str) -> None:
    spec = next(m for m in MARKETS if m.name == name)
    assert get_adapter(spec.exchange).recent_trades_request(spec.demo.symbol, 100) is not None  # type: ignore[union-attr]
    out = _run(name)
    assert out.ok, out.status
    want = offline(spec).trade_ids
    # every recorded trade, once, in the recording's order: none missing, none twice
    assert out.trades == want
    assert out.lost == 0
    assert out.reported == 0
    assert out.filled > 0, "no trade was published while disconnected: the test proves nothing"


@pytest.mark.parametrize("name", RANGE_MARKETS)
def test_no_trade_lost_silently(name: str) -> None:
    out = _run(name)
    assert out.ok, out.status  # includes: no hole before the last trade left unreported
    want = offline(next(m for m in MARKETS if m.name == name)).trade_ids
    assert len(out.trades) + out.reported + out.lost == len(want)
