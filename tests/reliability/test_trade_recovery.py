"""Trades published while the socket was down, on venues whose trade ids are not consecutive:
recovered over REST (OKX, Bybit, Hyperliquid's ``POST /info`` ``recentTrades``: the simulator
answers the venue's recent-trades request from the recording up to the replay position) or
reported as a time range (the others).

Each case is a feed against the simulator replaying the venue's packaged recording with a
half-open socket a quarter of the way in (frames lost until the stale watchdog drops it,
about half the replay: trades are published meanwhile), run by ``reliability.harness.run_case``
and judged against an offline replay of the same recording.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from reliability.harness import MARKETS, Fault, Outcome, offline, run_case
from tickwire import _core
from tickwire.connection.resync import advance_mark, is_newer, newer_trades
from tickwire.events import Disconnected
from tickwire.exceptions import FrameError
from tickwire.exchanges import get_adapter
from tickwire.simulator import Stall, packaged_recording

#: markets whose adapter has a public recent-trades request (recovered over REST)
REST_MARKETS = ["okx", "bybit-linear", "hyperliquid"]
#: markets without consecutive ids nor such a request (a time range is reported)
RANGE_MARKETS = ["kucoin", "bitget", "bitget-linear", "bitunix", "mexc"]

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


def _okx_btc() -> tuple[_core.Decoder, list[Any], bytes]:
    """The OKX recording fed through a decoder, its BTC-USDT trades (stream order), and those
    trades as a ``/api/v5/market/trades`` body (newest first, OKX's order)."""
    rec = packaged_recording("okx")
    dec = _core.Decoder("okx", market="spot")
    stream: list[Any] = []
    rows: list[dict[str, str]] = []
    for line in rec.lines:
        try:
            events = dec.feed(line)
        except FrameError:
            continue
        stream += [e for e in events if isinstance(e, _core.Trade) and e.symbol == "BTC/USDT"]
        if b'"channel":"trades"' in line and b'"instId":"BTC-USDT"' in line:
            rows += json.loads(line).get("data", [])
    body = json.dumps({"code": "0", "msg": "", "data": rows[::-1]}).encode()
    return dec, stream, body


def test_last_trades_and_time_ordered_rest_lists() -> None:
    dec, stream, body = _okx_btc()
    assert len(stream) > 5
    newest = max(t.trade_ts for t in stream)
    ts, ids = dec.last_trades()["BTC/USDT"]
    assert ts == newest
    assert sorted(ids) == sorted(t.trade_id for t in stream if t.trade_ts == newest)
    rest = _core.Decoder("okx", market="spot").apply_trades("BTC/USDT", body, None)
    assert [(t.trade_id, t.trade_ts, t.price, t.size) for t in rest] == [
        (t.trade_id, t.trade_ts, t.price, t.size) for t in stream
    ]


def test_newer_trades_by_time_and_id() -> None:
    _dec, stream, body = _okx_btc()
    rest = _core.Decoder("okx", market="spot").apply_trades("BTC/USDT", body, None)
    k = len(stream) // 2
    mark = advance_mark(None, stream[: k + 1])
    assert mark is not None
    new, reached = newer_trades(rest, mark, asked=len(rest))
    assert [t.trade_id for t in new] == [t.trade_id for t in stream[k + 1 :]]
    assert reached  # the list holds the marked trade
    # a list that starts after the mark and is as long as asked does not reach back
    new, reached = newer_trades(rest[k + 2 :], mark, asked=len(rest) - k - 2)
    assert not reached and new == rest[k + 2 :]
    # a shorter list than asked: the venue had no more
    assert newer_trades(rest[k + 2 :], mark, asked=len(rest))[1]
    # a trade at the marked time with another id is new; the marked one is not
    same = [t for t in rest if t.trade_ts == mark[0]]
    assert all(is_newer(t, mark) == (t.trade_id not in mark[1]) for t in same)


def test_hyperliquid_recent_trades_are_the_recorded_ones_up_to_the_replay() -> None:
    """The simulator's ``POST /info {"type":"recentTrades"}`` (what the adapter's request
    sends) answers the recorded BTC trades published so far, newest first; the decoder reads
    them as the stream's trades, oldest first; a coin without trades answers ``null``, which
    the decoder refuses."""
    import aiohttp

    from tickwire.simulator import Simulator

    rec = packaged_recording("hyperliquid")
    upto = len(rec.lines) // 2
    stream: list[Any] = []
    dec = _core.Decoder("hyperliquid")
    for line in rec.lines[:upto]:
        try:
            events = dec.feed(line)
        except FrameError:
            continue
        stream += [e for e in events if isinstance(e, _core.Trade) and e.symbol == "BTC/USDC:USDC"]
    assert len(stream) > 5, "the first half of the recording has BTC trades"

    async def scenario() -> tuple[bytes, bytes]:
        async with Simulator("hyperliquid", speed="max") as sim, aiohttp.ClientSession() as http:
            sim.hold_at(upto)
            driver = await http.ws_connect(sim.stream_url("trades:BTC"))  # the replay runs
            await sim.wait_position(upto, timeout=30)
            a = get_adapter("hyperliquid", base_url=sim.rest_url)
            poll = a.recent_trades_request("BTC/USDC:USDC", a.past_trades_max)
            assert poll is not None and poll.json == {"type": "recentTrades", "coin": "BTC"}
            try:
                async with http.post(poll.url, json=poll.json) as resp:
                    body = await resp.read()
                async with http.post(poll.url, json={**poll.json, "coin": "DOGE"}) as resp:
                    unknown = await resp.read()
            finally:
                await driver.close()
            assert sim.venue.market_requests["recentTrades"] == 2  # type: ignore[attr-defined]
            return body, unknown

    body, unknown = asyncio.run(scenario())
    rows = json.loads(body)
    assert rows[0]["time"] >= rows[-1]["time"]  # newest first, as Hyperliquid sends them
    rest = _core.Decoder("hyperliquid").apply_trades("BTC/USDC:USDC", body, None)
    key = [(t.trade_id, t.trade_ts, t.price, t.size, t.side) for t in stream]
    assert [(t.trade_id, t.trade_ts, t.price, t.size, t.side) for t in rest] == key
    assert unknown == b"null"
    with pytest.raises(FrameError):
        _core.Decoder("hyperliquid").apply_trades("BTC/USDC:USDC", unknown, None)
