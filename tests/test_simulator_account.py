"""The simulator's generic account side (simulator/account.py): the engine's orders, fills,
positions and balances, scenarios, tokens and the account faults.

Runs on the Hyperliquid market (its recorded BTC perp; the venue names no exchange detail
here). Spot accounting is exercised through the venue's ``account_market`` hook answering a
spot market, as a spot venue's would.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from tickwire.simulator import (
    AccountMarket,
    AuthServerError,
    Cancel,
    ClockSkew,
    Deposit,
    FillOrder,
    Place,
    SimAccount,
    Simulator,
    TokenExpiry,
    parse_fault,
)
from tickwire.simulator.account import AccountEngine
from tickwire.simulator.cli import parse_account

ADDRESS = "0x" + "12" * 20


def _sim(speed: float | str = "max") -> Simulator:
    """A max-speed replay only runs for subscribed clients: tests without one that need the
    recorded trades replay by time instead (``speed=1000``)."""
    acct = SimAccount(address=ADDRESS, balances={"USDC": "1000"})
    return Simulator("hyperliquid", speed=speed, accounts=[acct], autostart=False)


def _consistent(engine: AccountEngine) -> None:
    for b in engine.balances():
        assert b.free + b.locked == b.total
        assert b.locked >= 0


def test_account_repr_hides_secrets_and_checks_values():
    acct = SimAccount(api_key="AKEY123456", secret="very-secret", passphrase="pp")  # noqa: S106
    assert "very-secret" not in repr(acct) and "pp'" not in repr(acct)
    assert "AKEY123456" not in repr(acct) and repr(acct) == str(acct)
    with pytest.raises(ValueError, match="api_key or an address"):
        SimAccount()
    with pytest.raises(ValueError, match="balances"):
        SimAccount(api_key="k", balances={"USDC": "x"})
    with pytest.raises(ValueError, match="leverage"):
        SimAccount(api_key="k", leverage="0")


def test_perp_orders_fills_positions_and_balances():
    async def scenario() -> AccountEngine:
        async with _sim() as sim:
            eng = sim.accounts.engine(ADDRESS)
            with pytest.raises(ValueError, match="exact"):
                eng.place("BTC", "buy", 0.1, "100")  # type: ignore[arg-type]  # a float
            with pytest.raises(ValueError, match="account market"):
                eng.place("ETH", "buy", "1", "100")
            # no recorded trade yet: a market order has no price
            rejected = eng.place("BTC", "buy", "0.01", order_type="market")
            assert (rejected.status, rejected.reason) == ("rejected", "no market price")
            # 10x leverage: 1000 USDC carries 0.1 BTC at 100000 at most
            too_big = eng.place("BTC", "buy", "0.2", "100000")
            assert (too_big.status, too_big.reason) == ("rejected", "insufficient balance")
            o = eng.place("BTC", "buy", "0.1", "100000", client_order_id="c1")
            assert eng.balance("USDC").locked == Decimal("1000.0")  # 0.1 * 100000 / 10
            _consistent(eng)
            f1 = eng.fill("c1", "0.04")
            assert eng.order("c1").status == "partially_filled"
            assert eng.order(o.order_id).filled == Decimal("0.04")
            assert f1.is_maker and f1.fee == Decimal("0.04") * 100000 * Decimal("0.00015")
            assert eng.position("BTC").size == Decimal("0.04")
            _consistent(eng)
            eng.amend("c1", price="99000")
            assert eng.order("c1").price == Decimal("99000")
            eng.fill("c1", price="99000")  # the rest at the amended price
            pos = eng.position("BTC")
            avg = (Decimal("0.04") * 100000 + Decimal("0.06") * 99000) / Decimal("0.1")
            assert (pos.side, pos.size, pos.entry_price) == ("long", Decimal("0.1"), avg)
            assert eng.order("c1").average_price == avg
            with pytest.raises(ValueError, match="filled, not open"):
                eng.cancel("c1")
            # a reduce-only sell larger than the position is rejected
            ro = eng.place("BTC", "sell", "0.2", "101000", reduce_only=True)
            assert ro.reason == "reduce only"
            # close at 101000: realized PnL = (101000 - avg) * 0.1
            close = eng.place("BTC", "sell", "0.1", "101000", reduce_only=True)
            fill = eng.fill(close.order_id)
            assert fill.realized_pnl == (Decimal(101000) - avg) * Decimal("0.1")
            assert fill.position_before == Decimal("0.1")
            assert eng.position("BTC").side == "flat"
            fees = sum((f.fee for f in eng.fills), Decimal(0))
            usdc = eng.balance("USDC")
            assert usdc.total == Decimal(1000) + fill.realized_pnl - fees
            assert usdc.locked == 0
            return eng

    eng = asyncio.run(scenario())
    # every change recorded in order, numbered per account
    assert [c.seq for c in eng.changes] == list(range(1, len(eng.changes) + 1))
    assert {c.kind for c in eng.changes} == {"order", "fill", "position", "balance"}
    assert len(eng.fills_since(0)) == len(eng.fills) == 3


def test_resting_orders_fill_from_the_recorded_trades():
    async def scenario() -> tuple[AccountEngine, list[Any]]:
        async with _sim(speed=1000) as sim:
            eng = sim.accounts.engine()
            trades = [t for _, t in sim.venue.recorded_trades()]
            low = min(t.price for t in trades)
            buy = eng.place("BTC", "buy", "0.001", str(low))  # crossed only at the lowest price
            sim.start_replay()
            await sim.wait_finished(10)
            assert sim.accounts.marks["BTC"] == trades[-1].price
            # a limit buy above the mark is a taker at the mark
            taker = eng.place("BTC", "buy", "0.001", str(trades[-1].price + 10))
            assert taker.status == "filled" and not eng.fills[-1].is_maker
            assert eng.fills[-1].price == trades[-1].price
            post = eng.place(
                "BTC", "buy", "0.001", str(trades[-1].price), time_in_force="post_only"
            )
            assert post.reason == "post only would cross"
            return eng, [buy, trades, low]

    eng, (buy, trades, low) = asyncio.run(scenario())
    crossing = [t for t in trades if t.price <= low]
    first = eng.fills[0]
    assert first.order_id == buy.order_id and first.price == low and first.is_maker
    assert first.size == min(Decimal("0.001"), crossing[0].size)


def test_spot_accounting_through_the_venue_hook():
    async def scenario() -> AccountEngine:
        acct = SimAccount(api_key="spotkey", balances={"USDC": "100"})
        async with Simulator("hyperliquid", speed="max", accounts=[acct], autostart=False) as sim:
            sim.venue.account_market = lambda mid: (  # type: ignore[method-assign]
                AccountMarket(mid, "spot", "HYPE", "USDC", "0.001", "0.002")
                if mid == "@107"
                else None
            )
            eng = sim.accounts.engine("spotkey")
            o = eng.place("@107", "buy", "2", "30")
            assert eng.balance("USDC").locked == Decimal(60)
            eng.fill(o.order_id, "1", "29")  # a better price: the difference is freed
            _consistent(eng)
            assert eng.balance("HYPE").total == Decimal(1) - Decimal("0.001")  # fee in HYPE
            assert eng.balance("USDC").total == Decimal(100) - 29
            assert eng.balance("USDC").locked == Decimal(30)
            eng.cancel(o.order_id)
            assert eng.balance("USDC").locked == 0
            sell = eng.place("@107", "sell", "0.5", "31")
            assert eng.balance("HYPE").locked == Decimal("0.5")
            fill = eng.fill(sell.order_id)
            assert fill.fee_asset == "USDC" and fill.fee == Decimal("15.5") * Decimal("0.001")
            _consistent(eng)
            eng.deposit("USDC", "-10")
            with pytest.raises(ValueError, match="not free"):
                eng.deposit("USDC", "-1000")
            return eng

    eng = asyncio.run(scenario())
    assert [c.cause for c in eng.changes if c.kind == "balance"][-1] == "deposit"


def test_scenario_plays_actions_in_time_order():
    async def scenario() -> AccountEngine:
        async with _sim() as sim:
            eng = sim.accounts.engine()
            task = sim.accounts.play(
                [
                    Cancel(at=0.06, order="a"),
                    Place(
                        at=0.0,
                        market_id="BTC",
                        side="buy",
                        size="0.01",
                        price="90000",
                        client_order_id="a",
                    ),
                    FillOrder(at=0.03, order="a", size="0.004"),
                    Deposit(at=0.09, asset="USDC", amount="5"),
                ]
            )
            await asyncio.wait_for(task, 5)
            return eng

    eng = asyncio.run(scenario())
    assert [o.status for o in eng.order_log] == ["new", "partially_filled", "canceled"]
    assert eng.balance("USDC").total == Decimal(1005) - eng.fills[0].fee
    times = [c.ts_ns for c in eng.changes]
    assert times == sorted(times) and times[-1] - times[0] >= 80_000_000  # ~90 ms apart


def test_tokens_expire_after_their_ttl_unless_kept_alive():
    expired: list[str] = []

    async def scenario() -> list[bool]:
        async with _sim() as sim:
            sim.venue.on_token_expired = lambda t, _a: expired.append(t)  # type: ignore[method-assign]
            acct = sim.accounts.engine().account
            hub = sim.accounts
            a = hub.issue_token(acct, 0.15)
            b = hub.issue_token(acct, 0.15)
            c = hub.issue_token(acct, 10, token="venue-shaped")  # noqa: S106
            seen = [hub.token_account(a) is acct]
            await asyncio.sleep(0.1)
            seen.append(hub.keepalive_token(a))  # a lives on
            await asyncio.sleep(0.1)
            seen += [hub.token_account(a) is acct, hub.token_account(b) is None]
            sim.inject(TokenExpiry())  # every live one now
            seen += [hub.token_account(a) is None, hub.keepalive_token(c) is False]
            return [*seen, expired == [b, a, c]]

    assert all(asyncio.run(scenario()))


def test_auth_errors_clock_skew_and_fault_strings():
    async def scenario() -> list[Any]:
        async with Simulator(
            "hyperliquid",
            accounts=[SimAccount(api_key="k")],
            faults=[AuthServerError(count=1, where="login"), ClockSkew(-5000)],
        ) as sim:
            hub = sim.accounts
            offset = hub.now_ms() - time.time_ns() // 1_000_000  # the exchange clock's lead
            got = [hub.take_auth_error("rest"), hub.take_auth_error("login")]
            got.append(hub.take_auth_error("login"))  # used up
            sim.inject(AuthServerError(count=1, where="any"))
            got += [hub.take_auth_error("rest"), hub.take_auth_error("rest")]
            sim.inject(ClockSkew(0))
            return [offset, got, hub.skew_ms]

    offset, got, skew = asyncio.run(scenario())
    assert -5010 <= offset <= -4990
    assert got == [False, True, False, True, False]
    assert skew == 0
    assert parse_fault("auth_error=2,where=login") == AuthServerError(2, "login")
    assert parse_fault("clock_skew=-5000") == ClockSkew(-5000)
    with pytest.raises(ValueError, match="where"):
        AuthServerError(where="ws")


def test_a_venue_without_a_private_side_pays_nothing():
    async def scenario() -> list[Any]:
        async with Simulator("binance", speed="max") as sim:
            with pytest.raises(ValueError, match="no account"):
                sim.accounts.engine()
            assert sim.replay is not None
            return [sim.accounts in sim.replay.subscribers, sim.stamping]

    following, stamping = asyncio.run(scenario())
    assert following is False and stamping is False  # no replay subscriber, same send path


def test_cli_account_specs_take_secrets_from_the_environment_only():
    acct = parse_account("address=0x" + "ab" * 20 + ",USDC=10000,leverage=5")
    assert (acct.address, dict(acct.balances), acct.leverage) == (
        "0x" + "ab" * 20,
        {"USDC": "10000"},
        "5",
    )
    env = {"SIM_SECRET": "s3cr3t-value", "SIM_PASS": "pass-value"}
    keyed = parse_account("key=AK1,secret-env=SIM_SECRET,passphrase-env=SIM_PASS,USDT=5", env)
    assert (keyed.api_key, keyed.secret, keyed.passphrase) == ("AK1", "s3cr3t-value", "pass-value")
    assert "s3cr3t" not in repr(keyed) and "pass-value" not in repr(keyed)
    for bad, needle in [
        ("key=AK1,secret-env=NOPE", "NOPE is not set"),
        ("key=AK1,secret=inline", "unknown account field 'secret'"),
        ("key", "not NAME=VALUE"),
        ("USDC=1", "api_key or an address"),
    ]:
        with pytest.raises(ValueError, match=needle):
            parse_account(bad, env)
