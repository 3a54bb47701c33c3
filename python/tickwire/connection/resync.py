"""Book resync from REST snapshots, and trades missed across a reconnect filled over REST.

Both run as tasks of a :class:`~tickwire.connection.session.Session` and reach the logical
connection only through its :class:`~tickwire.connection.session.SessionOwner`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from time import time_ns
from typing import TYPE_CHECKING, Any

import aiohttp

from ..events import Resynced
from ..exceptions import FrameError, SequenceGap
from .errors import SubscriptionError
from .ratelimit import full_jitter
from .rest import HttpStatusError

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "INITIAL",
    "TradeMark",
    "advance_mark",
    "fill_recent_trades",
    "fill_trades",
    "first_trades_checked",
    "is_newer",
    "newer_trades",
    "recover_trades_now",
    "resubscribe_book",
    "sync_book",
]

log = logging.getLogger("tickwire.connection")

Handler = Callable[[Any], None]

#: Where a symbol's delivered trades stand on a venue whose trade ids are not consecutive: the
#: trade time (ns) of the newest trade delivered and the ids delivered at that time. A trade is
#: new iff it is later, or at that time with an id not among them (:func:`is_newer`).
TradeMark = tuple[int, frozenset[int | str]]

#: Sync reasons of a book that was not in sync yet (every other reason is a ``SyncLost`` reason:
#: ``"gap"``, ``"checksum"``, ``"connection_gap"``, ...). ``Resynced`` is emitted after a sync
#: loss and after a reconnect.
INITIAL = frozenset({"start", "reconnect", "rotation", "subscribe"})


def _resynced(session: Session, symbol: str, reason: str) -> None:
    """Count and emit ``Resynced`` for ``symbol`` when ``reason`` calls for one."""
    if reason in INITIAL and reason != "reconnect":
        return
    owner = session.owner
    session.counters.resyncs += 1
    owner.emit(
        Resynced(
            owner.adapter.exchange_id,
            symbol,
            session.decoder.book(symbol).sequence or 0,
            time_ns(),
            reason,
        )
    )


async def sync_book(session: Session, symbol: str, reason: str, since: int | None = None) -> None:
    """Load ``symbol``'s book in ``session``'s decoder from a REST snapshot, retrying (full
    jitter, or the server's ``Retry-After``) until it is in sync or the socket is gone.

    ``reason``: one of :data:`INITIAL` or a ``SyncLost`` reason (``"gap"``, ``"checksum"``,
    ...); ``Resynced`` (with the reason) is emitted after a sync loss and after a reconnect.
    ``since``: the decoder's ``buffered_deltas`` count when the stream was subscribed (default:
    at the session's start): except after a sync loss, the snapshot is fetched only once a
    delta was buffered after it (Binance: fetch the snapshot after the stream started), waiting
    at most ``first_delta_wait``."""
    owner = session.owner
    opts = owner.options
    dec = session.decoder
    if reason in INITIAL:
        b0 = session.buffered_at_open if since is None else since
        deadline = time.monotonic() + opts.first_delta_wait
        # polls the decoder's count: no event fires when Rust buffers a delta
        while time.monotonic() < deadline and dec.stats().get("buffered_deltas", 1) <= b0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    attempt = 0
    while True:
        url, params = owner.adapter.snapshot_request(symbol)
        wait = None
        try:
            session.counters.snapshots += 1
            body = await owner.fetch(url, params, opts.snapshot_timeout)
            if session.closed.done() or symbol not in owner.book_symbols:
                return  # socket gone, or the book was unsubscribed meanwhile
            events = dec.apply_snapshot(symbol, body, time_ns())
        except SequenceGap:
            log.info(
                "%s: snapshot for %s older than buffered deltas; fetching again",
                owner.name,
                symbol,
            )
        except HttpStatusError as exc:
            wait = exc.retry_after
            owner.note_error(f"snapshot {url}: {exc}")
            log.warning("%s: snapshot for %s: %s", owner.name, symbol, exc)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, FrameError) as exc:
            owner.note_error(f"snapshot {url}: {exc!r}")
            log.warning(
                "%s: snapshot for %s failed: %s", owner.name, symbol, owner.scrub(repr(exc))
            )
        else:
            if not dec.needs_snapshot(symbol):
                for ev in events:
                    owner.merge(session, ev)
                _resynced(session, symbol, reason)
                return
        attempt += 1
        await asyncio.sleep(
            wait if wait is not None else full_jitter(attempt, 0.1, opts.backoff_cap)
        )


async def resubscribe_book(session: Session, symbol: str, reason: str) -> None:
    """Bring ``symbol``'s book in ``session``'s decoder in sync from the snapshot the venue pushes
    over the socket (decoders whose ``recovery`` is ``"resubscribe"``).

    For an :data:`INITIAL` ``reason`` the subscribe was just acknowledged: wait for the snapshot.
    After a sync loss (or when no snapshot came within ``snapshot_timeout``) send the adapter's
    ``resubscribe_requests`` one after the other, each awaiting its acks, then wait again;
    retried with full jitter until in sync, the socket is gone or the book unsubscribed. A
    request that gets no ack in time drops the socket (its reconnect resubscribes everything).
    Emits ``Resynced`` (with ``reason``) after a sync loss and after a reconnect."""
    owner = session.owner
    opts = owner.options
    dec = session.decoder
    request = reason not in INITIAL
    attempt = 0
    while True:
        if request:
            sub = owner.book_subscription(symbol)
            if sub is None or session.closed.done():
                return
            session.counters.resubscribes += 1
            try:
                for req in owner.adapter.resubscribe_requests(sub, owner.next_request_id):
                    await session.control([req], opts.ack_timeout)
            except TimeoutError as exc:
                log.warning("%s: resubscribing %s: %s; reconnecting", owner.name, symbol, exc)
                session.close("no ack", graceful=False)
                return
            except ConnectionError:
                return
            except SubscriptionError as exc:
                owner.note_error(f"resubscribe {symbol}: {exc}")
                log.warning("%s: resubscribing %s: %s", owner.name, symbol, exc)
        deadline = time.monotonic() + opts.snapshot_timeout
        # polls the decoder: no event fires when a pushed snapshot puts a book in sync
        while dec.needs_snapshot(symbol) and time.monotonic() < deadline:
            if session.closed.done():
                return
            await asyncio.sleep(0.01)
        if session.closed.done() or symbol not in owner.book_symbols:
            return
        if not dec.needs_snapshot(symbol):
            _resynced(session, symbol, reason)
            return
        log.warning(
            "%s: no snapshot of %s within %g s; resubscribing",
            owner.name,
            symbol,
            opts.snapshot_timeout,
        )
        request = True
        attempt += 1
        await asyncio.sleep(full_jitter(attempt, 0.1, opts.backoff_cap))


def is_newer(trade: Any, mark: TradeMark) -> bool:
    """True if ``trade`` (a ``Trade``) was not delivered by the time ``mark`` was taken."""
    ts, ids = mark
    return trade.trade_ts > ts or (trade.trade_ts == ts and trade.trade_id not in ids)


def advance_mark(mark: TradeMark | None, trades: list[Any]) -> TradeMark | None:
    """``mark`` moved past ``trades`` (delivered, in time order)."""
    for t in trades:
        if mark is None or t.trade_ts > mark[0]:
            mark = (t.trade_ts, frozenset((t.trade_id,)))
        elif t.trade_ts == mark[0]:
            mark = (mark[0], mark[1] | {t.trade_id})
    return mark


def newer_trades(trades: list[Any], mark: TradeMark, asked: int) -> tuple[list[Any], bool]:
    """The trades of a REST list of recent trades (oldest first, as ``Decoder.apply_trades``
    with ``after=None`` returns them) not delivered by ``mark``, and whether the list reaches
    back to ``mark`` (it holds a trade delivered before, or an older one, or fewer trades than
    the ``asked`` limit: the venue had no more). When it does not, trades between ``mark`` and
    the list's oldest may be missing."""
    new = [t for t in trades if is_newer(t, mark)]
    reached = len(new) < len(trades) or len(trades) < asked
    return new, reached


def first_trades_checked(session: Session, deliver: Handler) -> Handler:
    """``deliver`` behind a check of each symbol's first trade on ``session``. A jump past
    the last id delivered before the reconnect means trades were published while no socket
    was open: they are fetched over REST where the adapter can (live trades of that symbol
    wait meanwhile, so the order holds), else reported as ``TradesMissed``. Once every
    symbol has had its first trade and no fetch is running, the handlers are rewired
    without the check.

    Venues whose ids are not consecutive (``session.trades_after``: a :data:`TradeMark` per
    symbol): trades not newer than the mark are dropped (delivered before); the first newer
    one starts :func:`fill_recent_trades` (live trades wait) where the adapter has a
    ``recent_trades_request``, else the time range since the mark is reported as a
    ``TradesMissed`` (since 0 when no trade was delivered before: then a REST list cannot
    tell which of its trades the stream would have delivered)."""
    expected, held, after = session.trades_from, session.held_trades, session.trades_after
    owner = session.owner

    def check(ev: Any) -> None:
        waiting = held.get(ev.symbol)
        if waiting is not None:  # its missed trades are being fetched
            waiting.append(ev)
            return
        if ev.symbol in after:  # a venue without consecutive ids: by time and id
            mark, recover = after[ev.symbol]
            if not is_newer(ev, mark):
                return  # delivered before (a venue's replay of recent trades, a REST fill)
            del after[ev.symbol]
            if recover:
                a = owner.adapter
                poll = a.recent_trades_request(ev.symbol, a.past_trades_max)
                if poll is not None and mark[0]:  # (no trade before: the list cannot tell)
                    held[ev.symbol] = [ev]
                    owner.spawn(
                        fill_recent_trades(session, ev.symbol, mark, poll, deliver),
                        f"{owner.name} recent trades",
                    )
                    return
                owner.trades_gap(ev.symbol, mark[0], ev.trade_ts)
            if not expected and not held and not after:
                owner.rewire()
            deliver(ev)
            return
        last = expected.pop(ev.symbol, None)
        if last is not None and ev.trade_id > last + 1:
            if owner.adapter.trades_request(ev.symbol, last + 1, 1) is not None:
                held[ev.symbol] = [ev]
                owner.spawn(
                    fill_trades(session, ev.symbol, last, ev.trade_id - 1, deliver),
                    f"{owner.name} trade fill",
                )
                return
            owner.trades_missed(ev.symbol, last + 1, ev.trade_id - 1)
        if not expected and not held and not after:
            owner.rewire()  # the next trade goes straight to ``deliver``
        deliver(ev)

    return check


async def fill_trades(
    session: Session, symbol: str, last: int, upto: int, deliver: Handler
) -> None:
    """Fetch trades ``last + 1`` .. ``upto`` of ``symbol`` page by page and deliver them,
    then the live trades held meanwhile. What cannot be fetched (beyond
    ``trade_fill_limit``, no longer kept by the exchange, REST failing) is reported as
    ``TradesMissed``."""
    owner = session.owner
    done = last
    fill_to = min(upto, last + owner.options.trade_fill_limit)
    try:
        while done < fill_to:
            request = owner.adapter.trades_request(symbol, done + 1, fill_to - done)
            if request is None:
                break
            url, params = request
            body = await owner.fetch(url, params, owner.options.snapshot_timeout)
            # apply_trades yields numbered trades only (int ids)
            trades = [
                (int(t.trade_id), t)
                for t in session.decoder.apply_trades(symbol, body, done, time_ns())
                if int(t.trade_id) <= fill_to
            ]
            if not trades:
                break
            if trades[0][0] != done + 1:  # the exchange no longer keeps the oldest
                owner.trades_missed(symbol, done + 1, trades[0][0] - 1)
            for _, t in trades:
                owner.deliver_safely(deliver, t)
            done = trades[-1][0]
            session.counters.trades_filled += len(trades)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - REST down, rejected or malformed: report instead
        log.warning(
            "%s: could not fetch %s trades %d..%d (%s)",
            owner.name,
            symbol,
            done + 1,
            upto,
            owner.scrub(repr(exc)),
        )
    finally:
        if done < upto:
            owner.trades_missed(symbol, done + 1, upto)
        for t in session.held_trades.pop(symbol, []):
            owner.deliver_safely(deliver, t)
        owner.rewire()


async def fill_recent_trades(
    session: Session, symbol: str, mark: TradeMark, poll: Any, deliver: Handler
) -> None:
    """Fetch ``symbol``'s latest trades over REST (``poll``, the adapter's
    ``recent_trades_request``) and deliver, oldest first, those newer than ``mark`` (the last
    delivered before the reconnect), then the live trades held meanwhile that REST did not
    already deliver; the live trades after them are checked the same way until one is newer
    (a socket may lag the REST reply). Where the list does not reach back to ``mark``, or the
    request fails, the time range from ``mark`` to the first trade delivered after it is
    reported as ``TradesMissed``."""
    owner = session.owner
    a = owner.adapter
    held = session.held_trades
    delivered: list[Any] = []
    gap = False
    try:
        body = await owner.fetch(
            poll.url, poll.params, owner.options.snapshot_timeout, json=poll.json
        )
        trades = session.decoder.apply_trades(symbol, body, None, time_ns())
        asked = int(poll.params.get("limit", a.past_trades_max))
        new, reached = newer_trades(trades, mark, asked)
        gap = not reached
        for t in new:
            owner.deliver_safely(deliver, t)
        delivered = new
        session.counters.trades_filled += len(new)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - REST down, rejected or malformed: report instead
        log.warning(
            "%s: could not fetch the recent trades of %s (%s)",
            owner.name,
            symbol,
            owner.scrub(repr(exc)),
        )
        gap = True
    finally:
        waiting = held.pop(symbol, [])
        first = delivered[0] if delivered else (waiting[0] if waiting else None)
        if gap and first is not None:
            owner.trades_gap(symbol, mark[0], first.trade_ts)
        elif gap and not session.closed.done():  # no trade to bound the range: the next one
            session.trades_after[symbol] = (mark, True)
        now = advance_mark(mark, delivered) or mark
        for t in waiting:
            if is_newer(t, now):
                owner.deliver_safely(deliver, t)
                now = advance_mark(now, [t]) or now
        if delivered and not session.closed.done():
            # live trades still on their way may repeat the REST list's newest ones
            session.trades_after[symbol] = (now, False)
        owner.rewire()


def recover_trades_now(session: Session) -> None:
    """After a reconnect's subscribe acks: start :func:`fill_recent_trades` at once for each
    symbol of ``session.trades_after`` whose adapter has a ``recent_trades_request`` (and a
    trade delivered before), so that the trades published while disconnected are fetched even
    if no live trade follows; its live trades wait meanwhile."""
    owner = session.owner
    a = owner.adapter
    started = False
    for sym, (mark, recover) in list(session.trades_after.items()):
        poll = a.recent_trades_request(sym, a.past_trades_max) if recover and mark[0] else None
        if poll is None:
            continue
        del session.trades_after[sym]
        session.held_trades[sym] = []
        owner.spawn(
            fill_recent_trades(session, sym, mark, poll, session.deliver_trade),
            f"{owner.name} recent trades",
        )
        started = True
    if started:
        owner.rewire()
