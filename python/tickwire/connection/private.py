"""The account (private) side of a logical connection: what a login-bearing connection adds.

A :class:`~tickwire.connection.Connection` whose streams are account channels owns one
:class:`AccountSide`. It

- delivers account events (``OrderUpdate``, ``Fill``, ``Position``, ``Balance``) of every
  session through one Python path, low rate by nature: fills de-duplicated by
  ``(symbol, trade_id)``, order updates by ``(order_id, status, filled_size, exchange_ts)``
  (both across rotation overlap and against what a recovery fetches), positions and balances
  from the primary session only while sessions overlap; only the event types of the channels
  the feed asked for pass;
- recovers after a reconnect (and a rotation: a listen key that expired stopped its stream
  before the new one began): live account events are held while the adapter's
  ``account_requests`` ("fills", "orders") are sent, each followed page by page
  (``account_next_page``, at most ``RECOVERY_MAX_PAGES``), the bodies decoded with
  ``Decoder.apply_account``, what was not delivered yet delivered in ``exchange_ts`` order, then
  the held events; what cannot be fetched is reported as :class:`~tickwire.events.AccountGap`;
- keeps listen keys / tokens alive (``adapter.refresh_token`` every ``token_refresh_s``);
  a refusal rotates the connection to a fresh one, make-before-break;
- measures the exchange's clock (``adapter.server_time_request``) before signing, and again
  when a login is refused for its timestamp (``adapter.clock_login_codes``: retried once).

Public connections have none of this: their handlers and hot path are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from time import time_ns
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from .._core import Balance, Fill, OrderUpdate, Position
from ..events import AccountGap
from ..exceptions import AuthError, ExchangeError, FrameError
from ..redact import remember, secret_values
from . import rest
from .ratelimit import full_jitter

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from ..exchanges import RestCall
    from .session import Session
    from .supervisor import Connection

__all__ = ["ACCOUNT_TYPES", "AccountCounters", "AccountSide"]

log = logging.getLogger("tickwire.connection")

#: event type of each account channel
ACCOUNT_TYPES: dict[str, type] = {
    "orders": OrderUpdate,
    "fills": Fill,
    "positions": Position,
    "balances": Balance,
}

# How far before the last delivered account event (or the loss of the connection) a recovery
# fetches: exchange timestamps of a venue's stream and its REST list may differ a little.
RECOVERY_MARGIN_NS = 5_000_000_000
# Fills remembered per symbol, order states overall, to drop what was delivered already.
FILLS_REMEMBERED = 10_000
ORDERS_REMEMBERED = 10_000
# Attempts per REST request of a recovery (timeouts, 5xx, 429 back off in between).
RECOVERY_ATTEMPTS = 4
# Pages followed per list of a recovery (a venue's cursor); what lies beyond is an AccountGap.
RECOVERY_MAX_PAGES = 20
# Re-measure the server clock when the last measure is older than this (seconds).
CLOCK_MAX_AGE_S = 600.0


@dataclass(slots=True)
class AccountCounters:
    """Counters of a private connection (merged into ``Connection.stats()``).

    logins: login requests acknowledged; token_refreshes: listen key / token keepalives that
    succeeded; account_filled: fills and order updates made while disconnected, fetched over
    REST and delivered late; account_gaps: recoveries that could not fetch everything
    (``AccountGap`` events); account_duplicates: account events dropped as already delivered
    (rotation overlap, a recovery's list); clock_retries: logins refused for their timestamp,
    retried after measuring the server clock again."""

    logins: int = 0
    token_refreshes: int = 0
    account_filled: int = 0
    account_gaps: int = 0
    account_duplicates: int = 0
    clock_retries: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)


class _Delivered:
    """Bounded memory of the account events delivered (see the module docstring)."""

    __slots__ = ("fills", "last_ts", "order_keys", "order_state")

    def __init__(self) -> None:
        self.fills: dict[str, tuple[set[str], deque[str]]] = {}
        self.order_keys: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self.order_state: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self.last_ts = 0  # newest exchange_ts delivered (ns), 0 before any

    def fresh_fill(self, ev: Any) -> bool:
        """True (and remembered) if fill ``ev`` was not delivered before (the live stream's
        fills take the same steps inlined, in ``AccountSide.fill_handler``)."""
        mem = self.fills.get(ev.symbol)
        if mem is None:
            mem = self.fills[ev.symbol] = (set(), deque())
        seen, order = mem
        tid = ev.trade_id
        if tid in seen:
            return False
        seen.add(tid)
        order.append(tid)
        if len(order) > FILLS_REMEMBERED:
            seen.discard(order.popleft())
        return True

    def fresh_order(self, ev: Any, fetched: bool) -> bool:
        """True (and remembered) if order update ``ev`` was not delivered before; a fetched
        one (a REST list's current state) also when it only repeats the last state delivered."""
        key = (ev.order_id, ev.status, ev.filled_size, ev.exchange_ts)
        if key in self.order_keys:
            return False
        state = (ev.status, ev.filled_size)
        if fetched and self.order_state.get(ev.order_id) == state:
            return False
        self.order_keys[key] = None
        if len(self.order_keys) > ORDERS_REMEMBERED:
            self.order_keys.popitem(last=False)
        self.order_state[ev.order_id] = state
        self.order_state.move_to_end(ev.order_id)
        if len(self.order_state) > ORDERS_REMEMBERED:
            self.order_state.popitem(last=False)
        return True


class AccountSide:
    """The private side of ``conn`` (see the module docstring). ``channels``: the account
    channels the feed asked for (only their event types are delivered; "fills" and "orders"
    are recovered after a reconnect)."""

    def __init__(self, conn: Connection, channels: Collection[str]) -> None:
        self.conn = conn
        self.channels = tuple(c for c in ACCOUNT_TYPES if c in channels)
        self.wanted = frozenset(ACCOUNT_TYPES[c] for c in self.channels)
        self.counters = AccountCounters()
        self.delivered = _Delivered()
        self.held: list[tuple[Session, Any]] | None = None  # live events held by a recovery
        self.lost_ns: int | None = None  # exchange time the primary session was lost
        creds = conn.adapter.credentials
        if creds is not None:
            remember(creds.secrets())

    # --- delivery ----------------------------------------------------------------------------
    def fill_handler(self, session: Session) -> Callable[[Any], None]:
        """The decoder's ``fill`` handler for ``session``: :meth:`event` for a ``Fill``, in one
        Python call. Fills are rare, so this runs with cold caches, and each call and attribute
        lookup saved shows in the receive -> callback latency (issue 12, ``bench.account``):
        the sink and the memory are bound once here (``session.wire`` runs again when the sink
        changes), the de-duplication is :meth:`_Delivered.fresh_fill` inlined, and a hold (a
        recovery running) is checked per fill."""
        conn = self.conn
        sink = conn.direct_sink(Fill)
        d = self.delivered
        fills = d.fills
        counters = self.counters
        limit = FILLS_REMEMBERED

        def on_fill(ev: Any) -> None:
            held = self.held
            if held is not None:
                held.append((session, ev))
                return
            mem = fills.get(ev.symbol)
            if mem is None:
                mem = fills[ev.symbol] = (set(), deque())
            seen, order = mem
            tid = ev.trade_id
            if tid in seen:
                counters.account_duplicates += 1
                return
            seen.add(tid)
            order.append(tid)
            if len(order) > limit:
                seen.discard(order.popleft())
            ts = ev.exchange_ts
            d.last_ts = max(d.last_ts, ts)
            try:
                sink(ev)
            except Exception as exc:  # noqa: BLE001 - reported like deliver_safely does
                conn.sink_failed(sink, ev, exc)

        return on_fill

    def event(self, session: Session, ev: Any) -> None:
        """An account event of ``session`` (its decoder's handler: the decoder builds only the
        wanted types)."""
        if self.held is not None:
            self.held.append((session, ev))
        elif type(ev) is Fill:
            # The common case, short: fills are rare, so this runs with cold caches and every
            # call and lookup saved shows in the receive -> callback latency (bench.account).
            if self.delivered.fresh_fill(ev):
                ts = ev.exchange_ts
                d = self.delivered
                d.last_ts = max(d.last_ts, ts)
                conn = self.conn
                conn.deliver_safely(conn.direct_sink(Fill), ev)
            else:
                self.counters.account_duplicates += 1
        else:
            self._deliver(session, ev, fetched=False)

    def _deliver(self, session: Session | None, ev: Any, fetched: bool) -> None:
        t = type(ev)
        d = self.delivered
        if t is Fill:
            fresh = d.fresh_fill(ev)
        elif t is OrderUpdate:
            fresh = d.fresh_order(ev, fetched)
        else:  # no key comparable across sockets: while sessions overlap the primary's counts
            primary = self.conn.primary
            fresh = session is None or primary is None or session is primary
        if not fresh:
            self.counters.account_duplicates += 1
            return
        ts = ev.exchange_ts
        d.last_ts = max(d.last_ts, ts)
        if fetched:
            self.counters.account_filled += 1
        conn = self.conn
        conn.deliver_safely(conn.direct_sink(t), ev)

    # --- recovery ----------------------------------------------------------------------------
    def session_lost(self) -> None:
        """The primary session is gone: remember when (the exchange's clock)."""
        self.lost_ns = self.conn.adapter.clock.now_ns()

    def hold(self) -> int:
        """Hold live account events from now on (a session that will recover is about to
        subscribe); returns the exchange time (ns) the recovery fetches from."""
        if self.held is None:
            self.held = []
        d = self.delivered
        start = d.last_ts or self.lost_ns or self.conn.adapter.clock.now_ns()
        return start - RECOVERY_MARGIN_NS

    def release(self) -> None:
        """Deliver the held live events (in arrival order, de-duplicated) and stop holding."""
        held, self.held = self.held, None
        for session, ev in held or ():
            if type(ev) in self.wanted:
                self._deliver(session, ev, fetched=False)

    async def recover(self, session: Session, since_ns: int) -> None:
        """Fetch the fills and order changes since ``since_ns`` over REST, deliver those not
        delivered yet in ``exchange_ts`` order, then the live events held meanwhile.
        ``AuthError`` (a 401/403, the venue's refusal) is raised after the held events are
        delivered; everything else that keeps failing becomes an ``AccountGap``."""
        until_ns = self.conn.adapter.clock.now_ns()
        try:
            found: list[Any] = []
            lists: tuple[Literal["fills", "orders"], ...] = ("fills", "orders")
            for what in lists:
                if what in self.channels:
                    found += await self._fetch(session, what, since_ns, until_ns)
            found.sort(key=lambda ev: ev.exchange_ts)
            for ev in found:
                if ev.exchange_ts >= since_ns and type(ev) in self.wanted:
                    self._deliver(None, ev, fetched=True)
        finally:
            self.release()

    async def _fetch(
        self, session: Session, what: Literal["fills", "orders"], since_ns: int, until_ns: int
    ) -> list[Any]:
        """The ``what`` events of every request ``account_requests`` makes ([] and an
        ``AccountGap`` where it cannot)."""
        conn = self.conn
        a = conn.adapter
        since_ms = since_ns // 1_000_000
        try:
            calls = a.account_requests(what, since_ms)
        except ValueError as exc:
            self._gap(what, since_ns, until_ns, conn.scrub(str(exc)))
            return []
        if not calls:
            self._gap(what, since_ns, until_ns, f"{a.exchange_id} has no REST list of {what}")
            return []
        out: list[Any] = []
        for first in calls:
            call: RestCall | None = first
            pages = 0
            pages_read: list[list[Any]] = []
            while call is not None:
                remember(secret_values(call.headers))
                remember(secret_values(call.params))
                if pages == RECOVERY_MAX_PAGES:  # bounded: the rest is reported, not fetched
                    why = f"more than {RECOVERY_MAX_PAGES} pages of {what}; older ones not fetched"
                    self._gap(what, since_ns, until_ns, why)
                    break
                pages += 1
                try:
                    body = await self._send(call)
                    page = session.decoder.apply_account(what, body)
                    if page and page[0].exchange_ts > page[-1].exchange_ts:
                        page.reverse()  # oldest first
                    if page:
                        pages_read.append(page)
                    call = a.account_next_page(call, body)
                except AuthError:
                    raise
                except (FrameError, ExchangeError, ValueError) as exc:
                    why = conn.scrub(f"unreadable {what} list: {exc}")
                    self._gap(what, since_ns, until_ns, why)
                    break
                except _GiveUpError as exc:
                    self._gap(what, since_ns, until_ns, str(exc))
                    break
            # Pages (each oldest first) of a newest-first list (most venues) put oldest first
            # too: events of the same millisecond keep their order through recover()'s sort.
            if pages_read and pages_read[0][0].exchange_ts > pages_read[-1][0].exchange_ts:
                pages_read.reverse()
            for page in pages_read:
                out += page
        return out

    async def _send(self, call: RestCall) -> bytes:
        """``call``'s body, retried with backoff on timeouts, 5xx and 429 (honouring
        ``Retry-After``); ``AuthError`` on 401/403; ``_GiveUpError`` after the last attempt or on
        another 4xx."""
        conn = self.conn
        opts = conn.options
        why = ""
        wait = 0.0
        for attempt in range(RECOVERY_ATTEMPTS):
            if attempt:
                await asyncio.sleep(wait)
            wait = full_jitter(attempt, opts.backoff_base, opts.backoff_cap)
            try:
                return await rest.send(conn.http(), call, opts.snapshot_timeout)
            except rest.HttpStatusError as exc:
                if exc.status in (401, 403):
                    raise self.auth_error(exc) from None
                why = f"HTTP {exc.status}"
                if exc.status < 500 and exc.status not in (418, 429):
                    break
                if exc.retry_after is not None:
                    wait = max(wait, exc.retry_after)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                why = conn.scrub(type(exc).__name__ + (f": {exc}" if str(exc) else ""))
            log.warning("%s: account request failed (%s)", conn.name, why)
        raise _GiveUpError(f"REST request failed: {why}")

    def auth_error(self, exc: rest.HttpStatusError) -> AuthError:
        """The ``AuthError`` of a 401/403 answer (the body's start, scrubbed, as the reason)."""
        a = self.conn.adapter
        text = self.conn.scrub(exc.body.decode("utf-8", "replace")[:200].strip())
        return AuthError(
            f"{a.exchange_id} refused the account request (HTTP {exc.status}): {text}",
            code=exc.status,
            reason=text,
            exchange=a.exchange_id,
        )

    def _gap(self, what: str, since_ns: int, until_ns: int, reason: str) -> None:
        conn = self.conn
        self.counters.account_gaps += 1
        log.warning("%s: %s since the disconnect may be missing: %s", conn.name, what, reason)
        conn.emit(AccountGap(conn.adapter.exchange_id, what, since_ns, until_ns, reason, time_ns()))

    # --- clock and tokens --------------------------------------------------------------------
    async def login(self, session: Session, timeout: float) -> None:
        """``session.login(timeout)``; a refusal whose code is one of the adapter's
        ``clock_login_codes`` (the timestamp was outside the venue's window: the clock drifted
        since it was measured) measures the server clock again and logs in once more; a
        second refusal is the ``AuthError``. Raises as :meth:`Session.login`."""
        try:
            await session.login(timeout)
        except AuthError as exc:
            if exc.code not in self.conn.adapter.clock_login_codes:
                raise
            log.warning(
                "%s: login timestamp refused (code %s); measuring the server clock again",
                self.conn.name,
                exc.code,
            )
            self.counters.clock_retries += 1
            await self.measure_clock(force=True)
            await session.login(timeout)

    async def measure_clock(self, force: bool = False) -> None:
        """Measure the exchange's clock if the adapter can and the last measure is missing or
        older than 10 minutes (or ``force``). A failure keeps an earlier measure (logged);
        without one it raises (the connect attempt is retried with backoff)."""
        conn = self.conn
        a = conn.adapter
        req = a.server_time_request()
        clock = a.clock
        if req is None:
            return
        age = None if clock.measured_at is None else time.monotonic() - clock.measured_at
        if not force and age is not None and age < CLOCK_MAX_AGE_S:
            return
        url, params = req
        try:
            sent = time_ns()
            body = await conn.fetch(url, params, conn.options.connect_timeout)
            received = time_ns()
            clock.update(a.parse_server_time(body), sent, received)
        except (rest.HttpStatusError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if clock.measured_at is None:
                raise
            log.warning("%s: server time not measured (%s)", conn.name, conn.scrub(repr(exc)))
            return
        log.debug(
            "%s: server clock offset %.1f ms (round trip %.1f ms)",
            conn.name,
            clock.offset_ns / 1e6,
            (clock.round_trip_ns or 0) / 1e6,
        )

    async def keep_tokens(self, period: float, rotate: Callable[[str], None]) -> None:
        """Every ``period`` seconds while connected: ``adapter.refresh_token``. An
        ``AuthError`` (the venue dropped the key) calls ``rotate(reason)``; other failures are
        logged and tried again next period."""
        conn = self.conn
        a = conn.adapter
        while True:
            await asyncio.sleep(period)
            if not conn.connected:
                continue  # the reconnect makes a fresh key
            try:
                await asyncio.wait_for(
                    a.refresh_token(conn.http(), conn.route), conn.options.connect_timeout
                )
                self.counters.token_refreshes += 1
            except AuthError as exc:
                log.warning(
                    "%s: token refresh refused (%s); rotating to a fresh one",
                    conn.name,
                    conn.scrub(str(exc)),
                )
                rotate("token refused")
            except Exception as exc:  # noqa: BLE001 - transient: tried again next period
                with contextlib.suppress(Exception):
                    log.warning("%s: token refresh failed (%s)", conn.name, conn.scrub(repr(exc)))


class _GiveUpError(Exception):
    """A recovery request that will not succeed now (its message says why)."""
