"""REST fallback: market data polled over REST while a connection's WebSocket is down.

When a :class:`~tickwire.connection.supervisor.Connection` has been down for
``ConnectionOptions.rest_fallback_after`` seconds, its :class:`RestFallback` polls the
exchange's public REST API for the connection's symbols, every ``rest_fallback_every`` seconds:
the best bid and ask (``bbo`` streams), the latest trades (``trades`` streams) and a top-N book
snapshot (``book`` streams, ``rest_fallback_levels`` levels), through the adapter's hooks
(``bbo_request``, ``recent_trades_request``, ``depth_request``; a venue without them has no
fallback). It stops as soon as the WebSocket is back and its books are in sync.

Events: :class:`RestFallbackChanged` (health: started, stopped) around the polls;
:class:`RestBBO`, :class:`RestTrade` and :class:`RestBookUpdate` in between. They carry the
attributes of ``BBO``, ``Trade`` and ``BookUpdate`` plus ``source == "rest"`` (the WebSocket's
events have no ``source``: ``getattr(ev, "source", "ws")``), and go to the same callbacks
(``on_bbo``, ``on_trade``, ``on_book``). Why Python-side types, not a field of the Rust events:
those are recycled, frozen objects on the hot path; a REST poll makes a few events a second,
and a separate type costs the WebSocket path nothing (not even a field) while ``type(ev)``
still tells the two apart.

Trades are never repeated: REST trades are decoded with ``Decoder.apply_trades`` after the last
trade id delivered (by the WebSocket before the outage, or by an earlier poll), that id is then
what the reconnect checks its first WebSocket trade against (the trades in between are fetched
as after any reconnect), and no REST trade is delivered while a WebSocket session is being
opened (its check already started from the id it was opened with). Ids skipped because more
trades happened between two polls than one request returns are reported as ``TradesMissed``.
A symbol without a trade delivered before the outage starts at the latest trade of its first
poll (trades before it were never part of the stream). On a venue whose trade ids are not consecutive the
same holds by trade time and the ids delivered at that time (``resync.TradeMark``): a poll
delivers the trades newer than the last delivered, and one that does not reach back to it
reports the time range as ``TradesMissed``.

Weights: every request is counted against the adapter's ``rest_weight_per_minute`` (a shared
budget per adapter, as the exchange counts per IP), of which the fallback uses at most
``BUDGET_SHARE``: the rest stays for book resyncs, trade fills and the user's own requests.
A ``429`` or ``418`` stops every poll of that adapter for its ``Retry-After`` (else a doubling
backoff from 1 s, at most 60 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from time import time_ns
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .._core import BBO, BookUpdate, Decoder, Trade
from ..exceptions import ExchangeError, FrameError
from ..exchanges import Adapter, RestPoll, RestQuote
from . import rest
from .resync import advance_mark, newer_trades

if TYPE_CHECKING:
    from .supervisor import Connection

__all__ = [
    "BUDGET_SHARE",
    "REST_KINDS",
    "RestBBO",
    "RestBookUpdate",
    "RestFallback",
    "RestFallbackChanged",
    "RestTrade",
    "WeightBudget",
]

log = logging.getLogger("tickwire.connection")

#: the part of the venue's per-minute request weight the fallback may use
BUDGET_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class RestFallbackChanged:
    """Health event: the REST fallback of a connection started (``active`` True: its WebSocket
    has been down ``rest_fallback_after`` seconds, REST events follow) or stopped (``active``
    False: the WebSocket is back and in sync, or the feed closed). ``reason`` says which;
    ``symbols``: the symbols polled. ``receive_ts``: ns since the Unix epoch."""

    exchange: str
    active: bool
    reason: str
    symbols: tuple[str, ...]
    receive_ts: int

    def to_dict(self, book_depth: int = 5, decoder: Any = None) -> dict[str, Any]:  # noqa: ARG002
        """A JSON-ready dict (``type`` ``"rest_fallback"``), as ``event_to_dict`` makes."""
        return {
            "type": "rest_fallback",
            "exchange": self.exchange,
            "active": self.active,
            "reason": self.reason,
            "symbols": list(self.symbols),
            "receive_ts": self.receive_ts,
        }


@dataclass(frozen=True, slots=True)
class RestBBO:
    """A best bid and ask polled over REST (``source == "rest"``), with ``BBO``'s attributes:
    prices and sizes as floats (``decimal(name)`` gives the exchange's exact decimal),
    ``sequence`` (the venue's book update id where the REST reply has one, else None),
    ``exchange_ts`` (ns since the Unix epoch, None where the reply has none), ``receive_ts``
    (ns, when the reply arrived)."""

    exchange: str
    symbol: str
    bid_price: float
    bid_size: float
    ask_price: float
    ask_size: float
    sequence: int | None
    exchange_ts: int | None
    receive_ts: int
    quote: RestQuote
    source: ClassVar[str] = "rest"

    def decimal(self, name: Literal["bid_price", "bid_size", "ask_price", "ask_size"]) -> Decimal:
        """The exact decimal of ``name`` as the exchange sent it; ``AttributeError`` for
        another name."""
        return Decimal(getattr(self.quote, name))

    def to_dict(self, book_depth: int = 5, decoder: Any = None) -> dict[str, Any]:  # noqa: ARG002
        """A JSON-ready dict shaped as a ``BBO``'s in ``event_to_dict``, plus ``source``."""
        from ..replay import bbo_to_dict

        return {**bbo_to_dict(self), "source": "rest"}


class _Wrapped:
    """A Rust market event made from a REST reply, marked ``source == "rest"``; every other
    attribute is the event's own."""

    __slots__ = ("event",)
    source: ClassVar[str] = "rest"

    def __init__(self, event: Any) -> None:
        self.event = event

    def __getattr__(self, name: str) -> Any:
        return getattr(self.event, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.event!r})"

    def to_dict(self, book_depth: int = 5, decoder: Any = None) -> dict[str, Any]:
        """``event_to_dict`` of the wrapped event plus ``source``."""
        from ..replay import event_to_dict

        return {**event_to_dict(self.event, book_depth, decoder), "source": "rest"}


class RestTrade(_Wrapped):
    """A ``Trade`` polled over REST (``source == "rest"``; ``event``: the ``tw.Trade`` itself,
    ``exchange_ts`` the trade time). Delivered once, in trade-id order with the WebSocket's."""

    __slots__ = ()


class RestBookUpdate(_Wrapped):
    """The book of ``symbol`` replaced by a REST snapshot of its top levels (``source ==
    "rest"``; ``event``: the ``tw.BookUpdate``; ``sequence``: the snapshot's update id).
    ``feed.book(symbol)`` shows that snapshot until the WebSocket's book is in sync again."""

    __slots__ = ()


#: each REST fallback event type -> the WebSocket event type it stands for
REST_KINDS: dict[type, type] = {RestBBO: BBO, RestTrade: Trade, RestBookUpdate: BookUpdate}


class WeightBudget:
    """Request weight spent per minute against one venue (``limit`` per minute, of which
    ``share`` is usable), and the pause a ``429`` / ``418`` imposed.

    ``delay(weight)`` is how long to wait before a request of ``weight`` fits; ``spend(weight)``
    books it; ``refused(retry_after)`` pauses every request."""

    def __init__(self, limit: int, share: float = BUDGET_SHARE, window: float = 60.0) -> None:
        self.cap = max(1, int(limit * share))
        self.window = window
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0
        self.paused_until = 0.0
        self._refusals = 0
        #: weight booked so far (all time), and requests answered 429 / 418
        self.spent = 0
        self.refusals = 0

    def delay(self, weight: int) -> float:
        """Seconds until a request of ``weight`` fits in the budget (0.0: now)."""
        now = time.monotonic()
        spent = self._spent
        while spent and spent[0][0] <= now - self.window:
            self._total -= spent.popleft()[1]
        wait = max(0.0, self.paused_until - now)
        if self._total + weight <= self.cap or not spent:
            return wait
        # the oldest entries must leave the window first
        total = self._total
        for t, w in spent:
            total -= w
            if total + weight <= self.cap:
                return max(wait, t + self.window - now)
        return max(wait, self.window)

    def spend(self, weight: int) -> None:
        """Book a request of ``weight`` now."""
        self._spent.append((time.monotonic(), weight))
        self._total += weight
        self.spent += weight
        self._refusals = 0

    def refused(self, retry_after: float | None) -> float:
        """A ``429`` / ``418``: pause every request for ``retry_after`` seconds, or without one
        1, 2, 4 ... 60 s; returns the pause."""
        self.refusals += 1
        self._refusals += 1
        pause = retry_after if retry_after is not None else min(60.0, 2.0 ** (self._refusals - 1))
        self.paused_until = max(self.paused_until, time.monotonic() + pause)
        return pause


_budgets: weakref.WeakKeyDictionary[Adapter, WeightBudget] = weakref.WeakKeyDictionary()


def budget_of(adapter: Adapter) -> WeightBudget:
    """The :class:`WeightBudget` every connection of ``adapter`` shares."""
    b = _budgets.get(adapter)
    if b is None:
        b = _budgets[adapter] = WeightBudget(adapter.rest_weight_per_minute)
    return b


class RestFallback:
    """The REST fallback of one connection (see the module docstring). The connection calls
    :meth:`down` when it lost its WebSocket and :meth:`close` when it closes; the fallback
    itself notices the WebSocket is back (a primary session whose books are in sync)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        a = conn.adapter
        self.enabled = (
            a.rest_weight_per_minute > 0
            and conn.options.rest_fallback_after is not None
            and not conn.private
        )
        self._task: asyncio.Task[None] | None = None
        self.active = False
        self.budget = budget_of(a) if self.enabled else WeightBudget(1)
        self._decoder: Decoder | None = None
        self._last_bbo: dict[str, RestQuote] = {}
        #: times the fallback started polling
        self.episodes = 0
        #: unreadable replies skipped
        self.errors = 0
        #: events delivered from REST so far, per kind ("bbo", "trades", "book")
        self.delivered = {"bbo": 0, "trades": 0, "book": 0}

    def down(self) -> None:
        """The WebSocket is gone: start polling after ``rest_fallback_after`` seconds unless it
        is back and in sync by then."""
        if self.enabled and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"{self.conn.name} REST fallback"
            )

    async def close(self) -> None:
        """Stop polling (a stop event is emitted if it was active)."""
        t = self._task
        if t is not None and not t.done():
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)

    def _in_sync(self) -> bool:
        s = self.conn.primary
        return s is not None and not s.closed.done() and s.books_synced(self.conn.book_symbols)

    async def _run(self) -> None:
        conn, opts = self.conn, self.conn.options
        after = opts.rest_fallback_after
        assert after is not None  # noqa: S101 - enabled only with a threshold
        deadline = time.monotonic() + after
        while time.monotonic() < deadline:
            if self._in_sync():
                return
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        if self._in_sync() or conn._closing:
            return
        symbols = tuple(conn.symbols)
        self.active = True
        reason = "closed"
        self.episodes += 1
        log.warning("%s: WebSocket down %.1f s; polling REST", conn.name, after)
        conn.emit(
            RestFallbackChanged(
                conn.adapter.exchange_id,
                True,
                f"websocket down {after:g} s",
                symbols,
                time_ns(),
            )
        )
        try:
            while not self._in_sync() and not conn._closing:
                started = time.monotonic()
                await self._poll_once()
                if self._in_sync():
                    break
                await asyncio.sleep(
                    max(0.0, opts.rest_fallback_every - (time.monotonic() - started))
                )
            reason = "websocket back in sync"
        finally:
            self.active = False
            log.info("%s: REST fallback stopped (%s)", conn.name, reason)
            conn.emit(
                RestFallbackChanged(conn.adapter.exchange_id, False, reason, symbols, time_ns())
            )

    async def _poll_once(self) -> None:
        """One round over the connection's subscriptions: each kind the adapter can poll. An
        unreadable reply is counted in :attr:`errors` and skipped (the next round asks again)."""
        conn = self.conn
        opts = conn.options
        a = conn.adapter
        for sub in list(conn.subs):
            if self._in_sync():
                return
            sym = sub.symbol
            try:
                if sub.channel == "bbo":
                    body = await self._get(a.bbo_request(sym))
                    if body is not None:
                        self._bbo(sym, a.parse_bbo(sym, body))
                elif sub.channel == "trades":
                    body = await self._get(a.recent_trades_request(sym, a.past_trades_max))
                    if body is not None:
                        self._trades(sym, body)
                elif a.book_symbol(sub) is not None:
                    body = await self._get(a.depth_request(sym, opts.rest_fallback_levels))
                    if body is not None:
                        self._book(sym, body)
            except (ExchangeError, FrameError) as exc:
                self.errors += 1
                conn.note_error(f"REST fallback: {type(exc).__name__}")
                log.warning("%s: unreadable REST fallback reply for %s", conn.name, sym)

    async def _get(self, poll: RestPoll | None) -> bytes | None:
        """The body of ``poll`` within the weight budget; None when the venue has no such
        request, it failed (logged) or the WebSocket came back meanwhile."""
        if poll is None:
            return None
        conn, budget = self.conn, self.budget
        while (wait := budget.delay(poll.weight)) > 0:
            await asyncio.sleep(wait)
            if self._in_sync():
                return None
        budget.spend(poll.weight)
        conn.counters.rest_polls += 1
        try:
            if poll.json is None:
                body = await conn.fetch(poll.url, poll.params, conn.options.snapshot_timeout)
            else:  # POST (Hyperliquid's /info)
                body = await rest.fetch(
                    conn.http(),
                    poll.url,
                    {**conn.adapter.rest_params, **poll.params},
                    conn.options.snapshot_timeout,
                    method="POST",
                    json=poll.json,
                )
        except rest.HttpStatusError as exc:
            if exc.status in (418, 429):
                conn.counters.rest_backoffs += 1
                pause = budget.refused(exc.retry_after)
                log.warning(
                    "%s: REST fallback refused with HTTP %d; pausing %.1f s",
                    conn.name,
                    exc.status,
                    pause,
                )
            else:
                conn.note_error(f"REST fallback: HTTP {exc.status}")
            return None
        except (OSError, asyncio.TimeoutError) as exc:
            conn.note_error(f"REST fallback: {type(exc).__name__}")
            return None
        except Exception as exc:  # noqa: BLE001 - aiohttp errors of every kind: poll again later
            conn.note_error(f"REST fallback: {type(exc).__name__}")
            return None
        return None if self._in_sync() else body

    def _decoder_for(self) -> Decoder:
        if self._decoder is None:
            conn, a = self.conn, self.conn.adapter
            self._decoder = Decoder(
                a.decoder_id, market=a.decoder_market(conn.route), instruments=conn.instruments
            )
        dec = self._decoder
        for sym in self.conn.symbols:
            dec.register(sym)
        return dec

    def _bbo(self, sym: str, q: RestQuote) -> None:
        if self._last_bbo.get(sym) == q and q.sequence is not None:
            return  # the same book ticker as the last poll
        self._last_bbo[sym] = q
        ev = RestBBO(
            self.conn.adapter.exchange_id,
            sym,
            float(q.bid_price),
            float(q.bid_size),
            float(q.ask_price),
            float(q.ask_size),
            q.sequence,
            q.exchange_ts,
            time_ns(),
            q,
        )
        self.delivered["bbo"] += 1
        self.conn.counters.rest_events += 1
        self.conn.deliver_safely(self.conn.direct_sink(RestBBO), ev)

    def _trades(self, sym: str, body: bytes) -> None:
        conn = self.conn
        if conn._sessions:
            return
        if not conn.adapter.consecutive_trade_ids:
            self._trades_by_time(sym, body)
            return
        last_ids = conn._last_trade_ids
        last = last_ids.get(sym)
        trades = self._decoder_for().apply_trades(sym, body, max(0, last or 0), time_ns())
        if not trades:
            return
        if last is None:  # no trade delivered before: start from the latest one
            last_ids[sym] = int(trades[-1].trade_id)
            return
        first = int(trades[0].trade_id)
        if first > last + 1:  # more trades than one request returns since the last poll
            conn.trades_missed(sym, last + 1, first - 1)
        deliver = conn.direct_sink(RestTrade)
        for t in trades:
            conn.deliver_safely(deliver, RestTrade(t))
        last_ids[sym] = int(trades[-1].trade_id)
        self.delivered["trades"] += len(trades)
        self.conn.counters.rest_events += len(trades)

    def _trades_by_time(self, sym: str, body: bytes) -> None:
        """:meth:`_trades` on a venue without consecutive trade ids: the trades after the last
        delivered one by time and id (:func:`~.resync.newer_trades`); a list that does not
        reach back to it is reported as a time range."""
        conn = self.conn
        trades = self._decoder_for().apply_trades(sym, body, None, time_ns())
        if not trades:
            return
        marks = conn._last_trades
        mark = marks.get(sym)
        if mark is None:  # no trade delivered before: start from the latest one
            latest = advance_mark(None, trades)
            if latest is not None:
                marks[sym] = latest
            return
        a = conn.adapter
        poll = a.recent_trades_request(sym, a.past_trades_max)
        asked = int(poll.params.get("limit", a.past_trades_max)) if poll else a.past_trades_max
        new, reached = newer_trades(trades, mark, asked)
        if not new:
            return
        if not reached:  # more trades than one request returns since the last poll
            conn.trades_gap(sym, mark[0], new[0].trade_ts)
        deliver = conn.direct_sink(RestTrade)
        for t in new:
            conn.deliver_safely(deliver, RestTrade(t))
        marks[sym] = advance_mark(mark, new) or mark
        self.delivered["trades"] += len(new)
        self.conn.counters.rest_events += len(new)

    def _book(self, sym: str, body: bytes) -> None:
        dec = self._decoder_for()
        dec.reset_book(sym)
        updates = dec.apply_snapshot(sym, body, time_ns())
        if not updates:
            return
        self.conn.show_book(sym, dec)
        deliver = self.conn.direct_sink(RestBookUpdate)
        for u in updates:
            self.conn.deliver_safely(deliver, RestBookUpdate(u))
        self.delivered["book"] += len(updates)
        self.conn.counters.rest_events += len(updates)
