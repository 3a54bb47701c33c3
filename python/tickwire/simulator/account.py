"""The simulator's private (account) side: registered accounts, an account engine, tokens,
the exchange clock and account faults. Nothing here names an exchange: a venue's
:class:`~.venue.VenueSim` verifies signatures with the registered keys, encodes
:class:`AccountChange` records into its own private messages (:meth:`VenueSim.encode_account`)
and answers its REST history routes from :class:`AccountEngine`'s records.

How it fits together
--------------------
- :class:`SimAccount`: an account registered on a simulator (``Simulator(accounts=[...])`` or
  :meth:`Accounts.register`): API key, secret, passphrase, Ed25519 public key, a public account
  address (for venues whose reads name it), starting balances. Its ``repr`` shows no secret.
- :class:`Accounts` (``sim.accounts``): the registry (lookup by key or address), the exchange
  clock (:meth:`Accounts.now_ms`, shifted by a :class:`~.faults.ClockSkew`), listen keys /
  tokens (:meth:`Accounts.issue_token` ... with a TTL and the venue's expiry hook), pending
  auth server errors (:meth:`Accounts.take_auth_error`), and delivery: every change is encoded
  by the venue into ``(private stream key, payload)`` pairs and sent, in order, to each open
  connection subscribed to that key (a venue names keys per account: ``"userFills:0xabc.."``).
- :class:`AccountEngine` (one per account): orders (limit / market, exact :class:`Decimal`
  sizes and prices, client order ids), partial and full fills, cancels, amends, positions
  (signed size; entry price; unrealized PnL from the mark, the last recorded trade) and
  balances (``free``/``locked``, always ``free + locked == total``). It is driven by calls
  (:meth:`AccountEngine.place` ...), by a scripted scenario (:class:`Place`, :class:`Cancel`,
  :class:`Amend`, :class:`Deposit`, :class:`FillOrder`; :meth:`Accounts.play`) and by the
  recorded market: a resting limit order fills (partly) when a replayed recorded trade crosses
  its price (the venue lists its recorded trades: :meth:`VenueSim.recorded_trades`). It keeps
  every fill and order change with its time, for REST recovery routes.

Balance model (documented so venues can say what their fields mean):

- spot market (``AccountMarket.kind == "spot"``): an open buy locks ``price * remaining`` of
  the quote asset, an open sell locks ``remaining`` of the base asset; a fill moves the assets
  at the fill price; the fee is charged in the asset received (``fee_in_received``, the
  default) or in the quote asset.
- perp market (``"perp"``, linear, settled in ``quote``): ``total`` is the wallet (deposits +
  realized PnL - fees; unrealized PnL excluded); ``locked`` is the initial margin of open
  orders (``price * remaining / leverage``) plus that of positions (``|size| * entry /
  leverage``); the fee is charged in the settle asset.

Times are ns since the Unix epoch on the exchange clock (local time + skew).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover
    from .connection import ServerConnection
    from .server import Simulator

__all__ = [
    "AccountChange",
    "AccountEngine",
    "AccountMarket",
    "Accounts",
    "Amend",
    "BalanceState",
    "Cancel",
    "Deposit",
    "FillOrder",
    "FillState",
    "MarketTrade",
    "OrderState",
    "Place",
    "PositionState",
    "SimAccount",
]

Side = Literal["buy", "sell"]
ZERO = Decimal(0)


def _dec(value: Decimal | str | int, name: str) -> Decimal:
    """``value`` as an exact Decimal (floats refused: they are not exact). ``ValueError``
    naming ``name`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise ValueError(
            f"{name} must be a Decimal, str or int (exact), got {type(value).__name__}"
        )
    try:
        d = Decimal(value)
    except ArithmeticError:
        raise ValueError(f"{name} {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueError(f"{name} {value!r} is not finite")
    return d


@dataclass(frozen=True, repr=False)
class SimAccount:
    """An account registered on a simulator.

    ``name``: a label for tests and scenarios (default: derived from the key or address).
    ``api_key``/``secret``/``passphrase``: what HMAC venues verify with. ``public_key``: an
    Ed25519 public key (PEM text) for venues whose keys are Ed25519. ``address``: a public
    account address (``0x...``) for venues whose private reads name it without a key.
    ``balances``: starting balance per asset (exact decimal strings). ``leverage``: of perp
    positions and orders. ``repr`` shows the name and whether secrets are set, never them."""

    name: str = ""
    api_key: str = ""
    secret: str = ""
    passphrase: str | None = None
    public_key: str | None = None
    address: str | None = None
    balances: Mapping[str, str] = field(default_factory=dict)
    leverage: str = "10"

    def __post_init__(self) -> None:
        if not (self.api_key or self.address):
            raise ValueError("SimAccount needs an api_key or an address")
        if not self.name:
            label = self.address or (self.api_key[:4] + "…")
            object.__setattr__(self, "name", label)
        for asset, amount in self.balances.items():
            _dec(amount, f"balances[{asset!r}]")
        if _dec(self.leverage, "leverage") <= 0:
            raise ValueError("leverage must be > 0")

    def __repr__(self) -> str:
        given = [n for n in ("secret", "passphrase", "public_key") if getattr(self, n)]
        return f"SimAccount({self.name!r}, with {', '.join(given) or 'no secret'})"

    __str__ = __repr__


@dataclass(frozen=True)
class AccountMarket:
    """What the engine needs of one market (the venue says, :meth:`VenueSim.account_market`).

    ``market_id``: as the venue writes it. ``kind``: ``"spot"`` or ``"perp"`` (linear).
    ``base``/``quote``: assets (``quote`` is the settle asset of a perp). ``maker_fee`` /
    ``taker_fee``: rates (decimal strings; ``"0.00015"`` = 1.5 bp). ``fee_in_received``: spot
    fees are charged in the asset the fill pays the account (else in the quote asset).
    ``round_averages``: a position's entry price and an order's average price are rounded
    (half even) to the decimal places of the prices they average, as a venue that sends them
    at the symbol's price precision does (else they stay exact quotients, up to 28 digits)."""

    market_id: str
    kind: Literal["spot", "perp"]
    base: str
    quote: str
    maker_fee: str = "0.0001"
    taker_fee: str = "0.0003"
    fee_in_received: bool = True
    round_averages: bool = False


@dataclass(frozen=True)
class MarketTrade:
    """One recorded public trade the engine matches resting orders against: ``side`` is the
    aggressor's; price and size exact; ``ts_ns`` as recorded."""

    market_id: str
    price: Decimal
    size: Decimal
    side: Side
    ts_ns: int


@dataclass(frozen=True)
class OrderState:
    """One order as of a change. ``status``: ``"new"``, ``"partially_filled"``,
    ``"filled"``, ``"canceled"`` or ``"rejected"`` (the venue maps them onto its words).
    ``order_id``: from the venue's id hook (int or str). ``price`` None for a market order.
    ``reason``: why it was rejected or canceled (``"insufficient balance"``, ``"user"``,
    ``"reduce only"``, ``"no market price"``)."""

    order_id: int | str
    client_order_id: str | None
    market_id: str
    side: Side
    order_type: Literal["limit", "market"]
    time_in_force: str
    price: Decimal | None
    size: Decimal
    filled: Decimal
    average_price: Decimal | None
    status: str
    reduce_only: bool
    created_ns: int
    updated_ns: int
    reason: str = ""

    @property
    def remaining(self) -> Decimal:
        """Size not filled yet."""
        return self.size - self.filled

    @property
    def is_open(self) -> bool:
        """True while the order rests (new or partly filled)."""
        return self.status in ("new", "partially_filled")


@dataclass(frozen=True)
class FillState:
    """One execution. ``fee``: positive = paid, in ``fee_asset``. ``position_before``: the
    signed position (perp) or base balance (spot) before the fill; ``realized_pnl``: PnL the
    fill closed (perps; 0 otherwise)."""

    trade_id: int | str
    order_id: int | str
    client_order_id: str | None
    market_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    liquidation: bool
    position_before: Decimal
    realized_pnl: Decimal
    ts_ns: int


@dataclass(frozen=True)
class PositionState:
    """A perp position after a change: ``size`` signed (> 0 long, < 0 short, 0 flat),
    ``entry_price`` None when flat, ``mark_price`` the last recorded trade (None before one),
    ``unrealized_pnl`` at the mark."""

    market_id: str
    size: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None
    unrealized_pnl: Decimal
    leverage: Decimal
    margin_mode: Literal["cross", "isolated"]
    ts_ns: int

    @property
    def side(self) -> Literal["long", "short", "flat"]:
        """From the sign of ``size``."""
        return "long" if self.size > 0 else "short" if self.size < 0 else "flat"


@dataclass(frozen=True)
class BalanceState:
    """One asset after a change: ``free + locked == total`` (see the module docstring)."""

    asset: str
    free: Decimal
    locked: Decimal
    ts_ns: int

    @property
    def total(self) -> Decimal:
        """``free + locked``."""
        return self.free + self.locked


AccountState = OrderState | FillState | PositionState | BalanceState


@dataclass(frozen=True)
class AccountChange:
    """One change of an account, in the order the engine made them: ``kind`` ``"order"``,
    ``"fill"``, ``"position"`` or ``"balance"``, ``state`` the record after it, ``seq`` counted
    per account from 1, ``cause`` what did it (``"place"``, ``"cancel"``, ``"amend"``,
    ``"fill"``, ``"deposit"``), ``ts_ns`` exchange time."""

    account: SimAccount
    seq: int
    kind: Literal["order", "fill", "position", "balance"]
    state: AccountState
    cause: str
    ts_ns: int


_KIND: dict[type, Literal["order", "fill", "position", "balance"]] = {
    OrderState: "order",
    FillState: "fill",
    PositionState: "position",
    BalanceState: "balance",
}


# ---- scripted scenarios ------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Place:
    """Place an order ``at`` seconds after the scenario starts (see :meth:`AccountEngine.place`)."""

    at: float = 0.0
    account: str | None = None
    market_id: str
    side: Side
    size: str
    price: str | None = None
    order_type: Literal["limit", "market"] = "limit"
    client_order_id: str | None = None
    time_in_force: str = "gtc"
    reduce_only: bool = False

    def apply(self, engine: AccountEngine) -> None:
        """Run it on ``engine``."""
        engine.place(
            self.market_id,
            self.side,
            self.size,
            self.price,
            order_type=self.order_type,
            client_order_id=self.client_order_id,
            time_in_force=self.time_in_force,
            reduce_only=self.reduce_only,
        )


@dataclass(frozen=True, kw_only=True)
class Cancel:
    """Cancel the order with client id or exchange id ``order``."""

    at: float = 0.0
    account: str | None = None
    order: str | int

    def apply(self, engine: AccountEngine) -> None:
        """Run it on ``engine``."""
        engine.cancel(self.order)


@dataclass(frozen=True, kw_only=True)
class Amend:
    """Change an open order's price and/or size."""

    at: float = 0.0
    account: str | None = None
    order: str | int
    price: str | None = None
    size: str | None = None

    def apply(self, engine: AccountEngine) -> None:
        """Run it on ``engine``."""
        engine.amend(self.order, price=self.price, size=self.size)


@dataclass(frozen=True, kw_only=True)
class Deposit:
    """Add ``amount`` (negative: withdraw) of ``asset``."""

    at: float = 0.0
    account: str | None = None
    asset: str
    amount: str

    def apply(self, engine: AccountEngine) -> None:
        """Run it on ``engine``."""
        engine.deposit(self.asset, self.amount)


@dataclass(frozen=True, kw_only=True)
class FillOrder:
    """Fill ``size`` (default: all that is left) of a resting order, at ``price`` (default its
    limit price) as maker unless ``taker``; ``liquidation`` marks the fill so."""

    at: float = 0.0
    account: str | None = None
    order: str | int
    size: str | None = None
    price: str | None = None
    taker: bool = False
    liquidation: bool = False

    def apply(self, engine: AccountEngine) -> None:
        """Run it on ``engine``."""
        engine.fill(
            self.order,
            self.size,
            self.price,
            is_maker=not self.taker,
            liquidation=self.liquidation,
        )


Action = Place | Cancel | Amend | Deposit | FillOrder


def _order_values(
    side: str,
    size: Decimal | str | int,
    price: Decimal | str | int | None,
    order_type: str,
) -> tuple[Decimal, Decimal | None]:
    """(size, limit price or None) of a new order; ``ValueError`` naming a bad value."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
    qty = _dec(size, "size")
    if qty <= 0:
        raise ValueError(f"size {qty} is not above 0")
    if order_type == "market":
        return qty, None
    if order_type != "limit":
        raise ValueError(f"order_type must be 'limit' or 'market', got {order_type!r}")
    if price is None:
        raise ValueError("a limit order needs a price")
    px = _dec(price, "price")
    if px <= 0:
        raise ValueError(f"price {px} is not above 0")
    return qty, px


def _average(mkt: AccountMarket, a: Decimal, a_qty: Decimal, b: Decimal, b_qty: Decimal) -> Decimal:
    """The ``a_qty``/``b_qty`` weighted average of prices ``a`` and ``b`` (see
    :attr:`AccountMarket.round_averages`)."""
    avg = (a * a_qty + b * b_qty) / (a_qty + b_qty)
    if not mkt.round_averages:
        return avg
    return avg.quantize(Decimal(1).scaleb(-max(_places(a), _places(b))))


def _places(d: Decimal) -> int:
    """Decimal places ``d`` is written with."""
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


# ---- the engine ----------------------------------------------------------------------------------
class _Position:
    __slots__ = ("entry", "size")

    def __init__(self) -> None:
        self.size = ZERO
        self.entry: Decimal | None = None


class AccountEngine:
    """One account's orders, fills, positions and balances (see the module docstring).

    Every method that changes something builds the :class:`AccountChange` records of the
    change (order, then fill, then position, then balances), keeps them in :attr:`changes`
    and hands them to the hub, which delivers the venue's encoding. History for REST routes:
    :attr:`fills` (every fill), :attr:`order_log` (every order change), :meth:`fills_since`,
    :meth:`open_orders`. Raises ``ValueError`` for an unknown market, a bad size or price,
    an unknown or closed order (messages name the value, never a secret)."""

    def __init__(self, hub: Accounts, account: SimAccount):
        self.hub = hub
        self.account = account
        self.leverage = _dec(account.leverage, "leverage")
        self.orders: dict[int | str, OrderState] = {}  # by order id, every order ever
        self._by_client: dict[str, int | str] = {}
        self.order_log: list[OrderState] = []
        self.fills: list[FillState] = []
        self.changes: list[AccountChange] = []
        self._totals: dict[str, Decimal] = {a: _dec(v, a) for a, v in account.balances.items()}
        self._positions: dict[str, _Position] = {}
        self._seq = 0

    # ---- reads ---------------------------------------------------------------------------
    def order(self, ref: str | int) -> OrderState:
        """The order with exchange id or client id ``ref``; ``ValueError`` if none."""
        oid = self._by_client.get(ref, ref) if isinstance(ref, str) else ref
        got = self.orders.get(oid)
        if got is None:
            # an exchange id given as text (REST parameters are text)
            got = next((o for o in self.orders.values() if str(o.order_id) == str(ref)), None)
        if got is None:
            raise ValueError(f"no order {ref!r} on account {self.account.name!r}")
        return got

    def open_orders(self) -> list[OrderState]:
        """Orders still resting, oldest first."""
        return [o for o in self.orders.values() if o.is_open]

    def fills_since(self, since_ns: int, until_ns: int | None = None) -> list[FillState]:
        """Fills with ``since_ns <= ts_ns`` (``< until_ns`` if given), oldest first."""
        return [
            f
            for f in self.fills
            if f.ts_ns >= since_ns and (until_ns is None or f.ts_ns < until_ns)
        ]

    def order_changes_since(self, since_ns: int) -> list[OrderState]:
        """Order changes with ``updated_ns >= since_ns``, oldest first."""
        return [o for o in self.order_log if o.updated_ns >= since_ns]

    def position(self, market_id: str) -> PositionState:
        """The position of perp ``market_id`` now (flat if none)."""
        return self._position_state(market_id, self.hub.now_ns())

    def positions(self) -> list[PositionState]:
        """Every perp position the account has had (flat ones too), by market id."""
        now = self.hub.now_ns()
        return [self._position_state(m, now) for m in sorted(self._positions)]

    def balance(self, asset: str) -> BalanceState:
        """``asset``'s balance now (zero if never held)."""
        return self._balance_state(asset, self.hub.now_ns())

    def balances(self) -> list[BalanceState]:
        """Every asset the account holds or locks, by name."""
        now = self.hub.now_ns()
        return [self._balance_state(a, now) for a in sorted(self._totals)]

    # ---- actions -------------------------------------------------------------------------
    def deposit(self, asset: str, amount: Decimal | str | int) -> BalanceState:
        """Add ``amount`` of ``asset`` (negative withdraws; ``ValueError`` past the free
        balance). Emits the balance change."""
        amt = _dec(amount, "amount")
        now = self.hub.now_ns()
        if amt < 0 and self._balance_state(asset, now).free < -amt:
            raise ValueError(f"cannot withdraw {-amt} {asset}: not free")
        self._totals[asset] = self._totals.get(asset, ZERO) + amt
        state = self._balance_state(asset, now)
        self._emit([state], "deposit", now)
        return state

    def place(
        self,
        market_id: str,
        side: Side,
        size: Decimal | str | int,
        price: Decimal | str | int | None = None,
        *,
        order_type: Literal["limit", "market"] = "limit",
        client_order_id: str | None = None,
        time_in_force: str = "gtc",
        reduce_only: bool = False,
    ) -> OrderState:
        """Place an order; returns its state after placing (and any immediate fill).

        A limit order rests unless it crosses the mark (buy at or above, sell at or below),
        then it fills at once as taker at the mark; ``time_in_force`` ``"ioc"``/``"fok"``
        cancel what does not fill at once, ``"post_only"`` is rejected if it would cross. A
        market order fills at the mark as taker (rejected with reason ``"no market price"``
        before any recorded trade). An order the balance cannot pay for, or a reduce-only one
        that would not reduce, is rejected (emitted with ``status="rejected"``). Raises
        ``ValueError`` for an unknown market, a size <= 0, a missing or non-positive limit
        price, a duplicate open client order id."""
        mkt = self.hub.market(market_id)
        qty, px = _order_values(side, size, price, order_type)
        if client_order_id is not None:
            prior = self._by_client.get(client_order_id)
            if prior is not None and self.orders[prior].is_open:
                raise ValueError(f"client order id {client_order_id!r} is already open")
        now = self.hub.now_ns()
        oid = self.hub.new_order_id()
        order = OrderState(
            order_id=oid,
            client_order_id=client_order_id,
            market_id=market_id,
            side=side,
            order_type=order_type,
            time_in_force=time_in_force,
            price=px,
            size=qty,
            filled=ZERO,
            average_price=None,
            status="new",
            reduce_only=reduce_only,
            created_ns=now,
            updated_ns=now,
        )
        mark = self.hub.marks.get(market_id)
        crosses = mark is not None and (px is None or (px >= mark if side == "buy" else px <= mark))
        reason = self._reject_reason(order, mkt, mark, crosses, now)
        self.orders[oid] = order
        if client_order_id is not None:
            self._by_client[client_order_id] = oid
        if reason:
            order = self._set(replace(order, status="rejected", reason=reason))
            self._emit([order], "place", now)
            return order
        self._set(order)
        self._emit([order, *self._balances_of(mkt, now)], "place", now)
        if crosses and mark is not None:  # a taker: accepted, then filled at the mark
            return self._execute(order, qty, mark, is_maker=False, liquidation=False, cause="place")
        if order_type == "market" or time_in_force in ("ioc", "fok"):
            order = self._set(
                replace(order, status="canceled", reason="not filled at once", updated_ns=now)
            )
            self._emit([order, *self._balances_of(mkt, now)], "place", now)
        return order

    def _reject_reason(
        self,
        order: OrderState,
        mkt: AccountMarket,
        mark: Decimal | None,
        crosses: bool,
        now: int,
    ) -> str:
        """Why a new ``order`` is rejected ("" if it is not)."""
        px = order.price
        if px is None and mark is None:
            return "no market price"
        if order.reduce_only and not self._reduces(mkt, order.side, order.size):
            return "reduce only"
        if order.time_in_force == "post_only" and crosses:
            return "post only would cross"
        if order.reduce_only and mkt.kind == "perp":
            return ""  # it only frees margin
        if not self._affordable(mkt, order.side, order.size, px if px is not None else mark, now):
            return "insufficient balance"
        return ""

    def cancel(self, ref: str | int, reason: str = "user") -> OrderState:
        """Cancel an open order (exchange or client id); ``ValueError`` if it is not open."""
        order = self.order(ref)
        if not order.is_open:
            raise ValueError(f"order {ref!r} is {order.status}, not open")
        now = self.hub.now_ns()
        order = self._set(replace(order, status="canceled", updated_ns=now, reason=reason))
        mkt = self.hub.market(order.market_id)
        self._emit([order, *self._balances_of(mkt, now)], "cancel", now)
        return order

    def amend(
        self,
        ref: str | int,
        *,
        price: Decimal | str | int | None = None,
        size: Decimal | str | int | None = None,
    ) -> OrderState:
        """Change an open limit order's price and/or total size (not below what is filled).
        ``ValueError`` if not open, or for a bad value, or if the balance cannot pay."""
        order = self.order(ref)
        if not order.is_open or order.price is None:
            raise ValueError(f"order {ref!r} is not an open limit order")
        new_px = order.price if price is None else _dec(price, "price")
        new_size = order.size if size is None else _dec(size, "size")
        if new_px <= 0 or new_size <= order.filled:
            raise ValueError("amended price must be > 0 and size above the filled size")
        now = self.hub.now_ns()
        mkt = self.hub.market(order.market_id)
        old = order
        self.orders[order.order_id] = replace(order, status="canceled")  # free its lock to check
        extra = new_size - order.filled
        ok = self._affordable(mkt, order.side, extra, new_px, now)
        self.orders[order.order_id] = old
        if not ok:
            raise ValueError(f"insufficient balance to amend order {ref!r}")
        order = self._set(replace(order, price=new_px, size=new_size, updated_ns=now))
        self._emit([order, *self._balances_of(mkt, now)], "amend", now)
        return order

    def fill(
        self,
        ref: str | int,
        size: Decimal | str | int | None = None,
        price: Decimal | str | int | None = None,
        *,
        is_maker: bool = True,
        liquidation: bool = False,
    ) -> FillState:
        """Fill ``size`` (default: what is left) of open order ``ref`` at ``price`` (default:
        its limit price). Returns the fill. ``ValueError`` if not open or ``size`` is not in
        (0, remaining]."""
        order = self.order(ref)
        if not order.is_open:
            raise ValueError(f"order {ref!r} is {order.status}, not open")
        qty = order.remaining if size is None else _dec(size, "size")
        if not ZERO < qty <= order.remaining:
            raise ValueError(f"fill size {qty} is not in (0, {order.remaining}]")
        px = order.price if price is None else _dec(price, "price")
        if px is None:
            raise ValueError(f"order {ref!r} has no price; give one")
        self._execute(order, qty, px, is_maker=is_maker, liquidation=liquidation, cause="fill")
        return self.fills[-1]

    def on_trade(self, trade: MarketTrade) -> None:
        """A recorded public trade: the mark moves to its price, and resting orders of its
        market that it crosses (buys priced at or above it, sells at or below) fill as maker
        at their own price, oldest first, until the trade's size is used up."""
        left = trade.size
        for order in self.open_orders():
            if left <= 0:
                break
            if order.market_id != trade.market_id or order.price is None:
                continue
            if order.side == "buy" and trade.price > order.price:
                continue
            if order.side == "sell" and trade.price < order.price:
                continue
            qty = min(left, order.remaining)
            self._execute(order, qty, order.price, is_maker=True, liquidation=False, cause="fill")
            left -= qty

    # ---- internals -----------------------------------------------------------------------
    def _set(self, order: OrderState) -> OrderState:
        self.orders[order.order_id] = order
        self.order_log.append(order)
        return order

    def _pos(self, market_id: str) -> _Position:
        p = self._positions.get(market_id)
        if p is None:
            p = self._positions[market_id] = _Position()
        return p

    def _reduces(self, mkt: AccountMarket, side: Side, qty: Decimal) -> bool:
        if mkt.kind != "perp":
            return True
        size = self._pos(mkt.market_id).size
        return (size > 0 and side == "sell" and qty <= size) or (
            size < 0 and side == "buy" and qty <= -size
        )

    def _locked(self, asset: str) -> Decimal:
        locked = ZERO
        for o in self.orders.values():
            if not o.is_open:
                continue
            m = self.hub.market(o.market_id)
            px = o.price if o.price is not None else ZERO
            if m.kind == "spot":
                if o.side == "buy" and m.quote == asset:
                    locked += px * o.remaining
                elif o.side == "sell" and m.base == asset:
                    locked += o.remaining
            elif m.quote == asset and not o.reduce_only:
                locked += px * o.remaining / self.leverage
        for mid, p in self._positions.items():
            m = self.hub.market(mid)
            if m.quote == asset and p.size and p.entry is not None:
                locked += abs(p.size) * p.entry / self.leverage
        return locked

    def _balance_state(self, asset: str, now: int) -> BalanceState:
        total = self._totals.get(asset, ZERO)
        locked = self._locked(asset)
        return BalanceState(asset, total - locked, locked, now)

    def _affordable(
        self, mkt: AccountMarket, side: Side, qty: Decimal, px: Decimal | None, now: int
    ) -> bool:
        if px is None:
            return False
        if mkt.kind == "spot":
            asset, need = (mkt.quote, px * qty) if side == "buy" else (mkt.base, qty)
        else:
            asset, need = mkt.quote, px * qty / self.leverage
        return self._balance_state(asset, now).free >= need

    def _balances_of(self, mkt: AccountMarket, now: int) -> list[BalanceState]:
        assets = [mkt.base, mkt.quote] if mkt.kind == "spot" else [mkt.quote]
        return [self._balance_state(a, now) for a in assets]

    def _position_state(self, market_id: str, now: int) -> PositionState:
        p = self._pos(market_id)
        mark = self.hub.marks.get(market_id)
        upnl = ZERO
        if mark is not None and p.entry is not None:
            upnl = (mark - p.entry) * p.size
        return PositionState(
            market_id, p.size, p.entry if p.size else None, mark, upnl, self.leverage, "cross", now
        )

    def _execute(
        self,
        order: OrderState,
        qty: Decimal,
        px: Decimal,
        *,
        is_maker: bool,
        liquidation: bool,
        cause: str,
    ) -> OrderState:
        """Fill ``qty`` of ``order`` at ``px``: order, fill, position, balances, emitted."""
        now = self.hub.now_ns()
        mkt = self.hub.market(order.market_id)
        rate = _dec(mkt.maker_fee if is_maker else mkt.taker_fee, "fee rate")
        sign = 1 if order.side == "buy" else -1
        realized = ZERO
        if mkt.kind == "spot":
            before = self._totals.get(mkt.base, ZERO)
            fee_asset = mkt.quote
            if mkt.fee_in_received and order.side == "buy":
                fee_asset = mkt.base
            fee = (qty if fee_asset == mkt.base else px * qty) * rate
            self._totals[mkt.base] = before + sign * qty
            self._totals[mkt.quote] = self._totals.get(mkt.quote, ZERO) - sign * px * qty
            self._totals[fee_asset] -= fee
        else:
            fee_asset = mkt.quote
            fee = px * qty * rate
            p = self._pos(order.market_id)
            before = p.size
            delta = sign * qty
            if p.size == 0 or (p.size > 0) == (delta > 0):  # open or add
                p.entry = (
                    px
                    if p.entry is None or p.size == 0
                    else _average(mkt, p.entry, abs(p.size), px, qty)
                )
            else:  # reduce, close or flip
                closed = min(qty, abs(p.size))
                entry = p.entry if p.entry is not None else px
                realized = (px - entry) * closed * (1 if p.size > 0 else -1)
                if qty > abs(p.size):
                    p.entry = px
            p.size += delta
            if p.size == 0:
                p.entry = None
            self._totals[mkt.quote] = self._totals.get(mkt.quote, ZERO) + realized - fee
        filled = order.filled + qty
        avg = (
            px
            if order.average_price is None
            else _average(mkt, order.average_price, order.filled, px, qty)
        )
        status = "filled" if filled == order.size else "partially_filled"
        order = self._set(
            replace(order, filled=filled, average_price=avg, status=status, updated_ns=now)
        )
        fill = FillState(
            trade_id=self.hub.new_trade_id(),
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            market_id=order.market_id,
            side=order.side,
            price=px,
            size=qty,
            fee=fee,
            fee_asset=fee_asset,
            is_maker=is_maker,
            liquidation=liquidation,
            position_before=before,
            realized_pnl=realized,
            ts_ns=now,
        )
        self.fills.append(fill)
        states: list[AccountState] = [order, fill]
        if mkt.kind == "perp":
            states.append(self._position_state(order.market_id, now))
        states.extend(self._balances_of(mkt, now))
        self._emit(states, cause, now)
        return order

    def _emit(self, states: Sequence[AccountState], cause: str, now: int) -> None:
        batch = []
        for s in states:
            self._seq += 1
            batch.append(AccountChange(self.account, self._seq, _KIND[type(s)], s, cause, now))
        self.changes.extend(batch)
        self.hub.deliver(self, batch)


# ---- the hub ---------------------------------------------------------------------------------------
class Accounts:
    """A simulator's accounts (``sim.accounts``): registry, exchange clock, tokens, account
    faults and delivery (see the module docstring). Created with the simulator; costs nothing
    until an account is registered (it then follows the replay to match resting orders)."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.engines: dict[str, AccountEngine] = {}  # by account name
        self.skew_ms = 0  # ClockSkew: exchange clock minus local clock
        self.marks: dict[str, Decimal] = {}  # market id -> last recorded trade price
        self.auth_errors: dict[str, int] = {}  # where ("login", "rest", "any") -> pending
        self.delivered = 0  # private payloads sent to connections
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._markets: dict[str, AccountMarket] = {}
        self._trades: list[tuple[int, MarketTrade]] = []  # (line, trade), by line
        self._trade_lines: list[int] = []
        self._following = False
        self._tokens: dict[str, tuple[SimAccount, float]] = {}  # token -> (account, expiry)
        self._token_timers: dict[str, asyncio.TimerHandle] = {}
        self._disconnect_after: list[list[object]] = []  # [account name, payloads left, code]

    # ---- registry ------------------------------------------------------------------------
    def register(self, account: SimAccount) -> AccountEngine:
        """Add ``account`` (``ValueError`` if its name, key or address is taken); returns its
        engine. Starting balances are set without emitting changes."""
        for e in self.engines.values():
            a = e.account
            if (
                a.name == account.name
                or (account.api_key and a.api_key == account.api_key)
                or (account.address and a.address == account.address)
            ):
                raise ValueError(f"account {account.name!r} clashes with {a.name!r}")
        engine = AccountEngine(self, account)
        self.engines[account.name] = engine
        self._follow()
        return engine

    def by_key(self, api_key: str) -> SimAccount | None:
        """The account whose API key is ``api_key`` (compared in constant time), else None."""
        key = api_key.encode()
        for e in self.engines.values():
            if e.account.api_key and secrets.compare_digest(e.account.api_key.encode(), key):
                return e.account
        return None

    def by_address(self, address: str) -> SimAccount | None:
        """The account with public ``address`` (case-insensitive, as 0x addresses are), or
        None."""
        low = address.lower()
        for e in self.engines.values():
            if e.account.address and e.account.address.lower() == low:
                return e.account
        return None

    def engine(self, account: SimAccount | str | None = None) -> AccountEngine:
        """The engine of ``account`` (an account, its name, key or address; None: the only or
        first registered). ``ValueError`` if there is none."""
        if not self.engines:
            raise ValueError("no account is registered on this simulator")
        if account is None:
            return next(iter(self.engines.values()))
        if isinstance(account, SimAccount):
            account = account.name
        got = self.engines.get(account)
        if got is None:
            acct = self.by_address(account) or self.by_key(account)
            got = self.engines.get(acct.name) if acct is not None else None
        if got is None:
            raise ValueError(f"no account {account!r} on this simulator")
        return got

    def market(self, market_id: str) -> AccountMarket:
        """The venue's :class:`AccountMarket` for ``market_id`` (cached); ``ValueError`` if the
        venue has no such market."""
        m = self._markets.get(market_id)
        if m is None:
            got = self.sim.venue.account_market(market_id)
            if got is None:
                raise ValueError(f"{self.sim.market} has no account market {market_id!r}")
            m = self._markets[market_id] = got
        return m

    # ---- clock and ids -------------------------------------------------------------------
    def now_ns(self) -> int:
        """The exchange's time, ns since the epoch (local clock + :attr:`skew_ms`)."""
        return time.time_ns() + self.skew_ms * 1_000_000

    def now_ms(self) -> int:
        """The exchange's time in ms (what a venue's server-time route answers and what its
        signature windows compare client timestamps with)."""
        return self.now_ns() // 1_000_000

    def new_order_id(self) -> int | str:
        """A fresh order id, shaped by the venue (:meth:`VenueSim.account_order_id`)."""
        return self.sim.venue.account_order_id(next(self._order_ids))

    def new_trade_id(self) -> int | str:
        """A fresh trade id, shaped by the venue (:meth:`VenueSim.account_trade_id`)."""
        return self.sim.venue.account_trade_id(next(self._trade_ids))

    # ---- tokens --------------------------------------------------------------------------
    def issue_token(self, account: SimAccount, ttl_s: float, token: str | None = None) -> str:
        """A new listen key / token for ``account`` valid ``ttl_s`` seconds (``token``: the
        venue's shape, default 48 random URL-safe characters). On expiry the venue's
        :meth:`VenueSim.on_token_expired` runs."""
        token = token or secrets.token_urlsafe(36)
        self._tokens[token] = (account, ttl_s)
        self._arm(token, ttl_s)
        return token

    def token_account(self, token: str) -> SimAccount | None:
        """The account of a live ``token``, else None (expired or never issued)."""
        got = self._tokens.get(token)
        return got[0] if got is not None else None

    def keepalive_token(self, token: str) -> bool:
        """Extend a live ``token`` by its TTL; False if it is not live."""
        got = self._tokens.get(token)
        if got is None:
            return False
        self._arm(token, got[1])
        return True

    def expire_token(self, token: str) -> None:
        """Expire ``token`` now (the venue's expiry hook runs); no-op if not live."""
        got = self._tokens.pop(token, None)
        timer = self._token_timers.pop(token, None)
        if timer is not None:
            timer.cancel()
        if got is not None:
            self.sim.venue.on_token_expired(token, got[0])

    def expire_all_tokens(self) -> int:
        """Expire every live token (a :class:`~.faults.TokenExpiry`); returns how many."""
        live = list(self._tokens)
        for t in live:
            self.expire_token(t)
        return len(live)

    def _arm(self, token: str, ttl_s: float) -> None:
        old = self._token_timers.pop(token, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._token_timers[token] = loop.call_later(ttl_s, self.expire_token, token)

    # ---- faults --------------------------------------------------------------------------
    def add_auth_errors(self, count: int, where: str) -> None:
        """The next ``count`` auth requests at ``where`` (``"login"``, ``"rest"`` or
        ``"any"``) are answered with the venue's server error."""
        self.auth_errors[where] = self.auth_errors.get(where, 0) + count

    def take_auth_error(self, where: Literal["login", "rest"]) -> bool:
        """True if this auth request (a login at ``"login"``, a signed REST request or
        token request at ``"rest"``) must be answered with the venue's server error (its 5xx
        or "system busy" reply); uses up one pending :class:`~.faults.AuthServerError`."""
        for key in (where, "any"):
            n = self.auth_errors.get(key, 0)
            if n > 0:
                self.auth_errors[key] = n - 1
                return True
        return False

    def fill_burst(
        self,
        ref: str | int,
        fills: int,
        size: str,
        disconnect_after: int,
        account: str | None = None,
        code: int = 1011,
    ) -> list[FillState]:
        """Fill open order ``ref`` ``fills`` times by ``size``; once ``disconnect_after``
        fills were made, close (``code``) the connections receiving that account's streams,
        so the rest happen while the client is away (:class:`~.faults.FillBurst`). Returns
        the fills. ``ValueError`` as :meth:`AccountEngine.fill`."""
        engine = self.engine(account)
        made = []
        for i in range(fills):
            made.append(engine.fill(ref, size))
            if i + 1 == disconnect_after:
                for conn in self.connections_of(engine.account):
                    conn.close_soon(code, "fill burst disconnect")
        return made

    # ---- delivery ------------------------------------------------------------------------
    def connections_of(self, account: SimAccount) -> list[ServerConnection]:
        """Open connections that logged in as ``account`` or subscribed to one of its
        private streams."""
        streams = set(self.sim.venue.private_streams(account))
        return [
            c
            for c in self.sim.connections
            if not c.closed and (c.account is account or streams & c.subscriptions.keys())
        ]

    def deliver(self, engine: AccountEngine, batch: list[AccountChange]) -> None:
        """Encode ``batch`` with the venue (:meth:`VenueSim.encode_account`) and send each
        payload, in order, to the open connections subscribed to its private stream key."""
        if not batch:
            return
        out = self.sim.venue.encode_account(engine.account, batch)
        if not out:
            return
        for conn in list(self.sim.connections):
            if conn.closed:
                continue
            subs = conn.subscriptions
            for stream, payload in out:
                if stream in subs:
                    conn.send_text(payload)
                    conn.private_sent += 1
                    self.delivered += 1

    # ---- scenarios -----------------------------------------------------------------------
    def play(self, actions: Iterable[Action]) -> asyncio.Task[None]:
        """Run ``actions`` at their ``at`` times (seconds from now, in ``at`` order, ties in
        list order) on their accounts (``account``: a name, key or address; None: the first
        registered). Returns the task (await it to see an action's error)."""
        ordered = sorted(enumerate(actions), key=lambda ia: (ia[1].at, ia[0]))

        async def run() -> None:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for _, action in ordered:
                delay = t0 + action.at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                action.apply(self.engine(action.account))

        return asyncio.get_running_loop().create_task(run())

    # ---- the recorded market -------------------------------------------------------------
    def _follow(self) -> None:
        """Start matching against the replay (once an account exists and the clock runs)."""
        if self._following or self.sim.replay is None:
            return
        self._following = True
        trades = sorted(self.sim.venue.recorded_trades(), key=lambda lt: lt[0])
        self._trades = trades
        self._trade_lines = [ln for ln, _ in trades]
        self.sim.replay.subscribers.add(self)
        # what was replayed before the first account sets the marks
        self._mark_until(self.sim.position)

    def started(self) -> None:
        """The simulator started: follow the replay if accounts were registered up front."""
        if self.engines:
            self._follow()

    def rewound(self) -> None:
        """The replay went back to line 0: the marks are forgotten."""
        self.marks.clear()

    def _mark_until(self, position: int) -> None:
        for ln, t in self._trades:
            if ln >= position:
                break
            self.marks[t.market_id] = t.price

    # the replay clock's Subscriber protocol
    def publish(self, start: int, end: int) -> None:
        """Recorded lines [start, end) were published: match their trades."""
        lines = self._trade_lines
        i = bisect.bisect_left(lines, start)
        j = bisect.bisect_left(lines, end)
        if i == j:
            return
        engines = list(self.engines.values())
        for _, trade in self._trades[i:j]:
            self.marks[trade.market_id] = trade.price
            for e in engines:
                e.on_trade(trade)

    def has_subscriptions(self) -> bool:
        """False: the accounts never make a max-speed replay run on their own."""
        return False

    async def drain(self) -> None:
        """Nothing to wait for."""
        return
