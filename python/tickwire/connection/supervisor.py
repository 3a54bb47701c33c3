"""The supervisor: one logical connection kept alive over physical sessions.

A :class:`Connection` reconnects (capped exponential backoff with full jitter), rotates to a
fresh session before the exchange's lifetime limit or on a shutdown notice, merges and
de-duplicates the events of overlapping sessions, runs the stale-data watchdog, and changes the
subscribed streams while it runs. It is the :class:`~tickwire.connection.session.SessionOwner`
of its sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from time import time_ns
from typing import Any, TypeGuard

import aiohttp
from picows import WSHandshakeError, WSInvalidURL

from .._core import BookUpdate, ControlReply, Decoder
from ..events import Connected, Disconnected, TradesMissed
from ..exceptions import AuthError, CallbackError
from ..exchanges import ACCOUNT_CHANNELS, Adapter, ConnectTarget, Request, Subscription
from ..metrics import Counters
from ..redact import guard_logs, redact_url, remember, scrub, secrets_of
from . import rest, resync
from .errors import EndpointError, SubscriptionError
from .fallback import RestFallback
from .options import ConnectionOptions
from .private import AccountCounters, AccountSide
from .ratelimit import full_jitter
from .session import Session

__all__ = ["Connection"]

log = logging.getLogger("tickwire.connection")


# 4xx answers to the upgrade that do not mean "wrong URL": request timeout, Binance's IP ban
# (lifted after Retry-After), too early, too many requests. They are retried like a 5xx.
_TRANSIENT_4XX = frozenset({408, 418, 425, 429})


def _permanent_refusal(exc: BaseException) -> tuple[int | None, str] | None:
    """(HTTP status or None, one-line reason) when a failed connect would fail the same way
    again, else None (connection refused or reset, timeouts, 5xx: worth retrying)."""
    if isinstance(exc, WSInvalidURL):
        return None, "not a WebSocket URL (ws:// or wss://, a host, no fragment)"
    if isinstance(exc, WSHandshakeError):
        status = exc.response.status if exc.response is not None else None
        code = int(status) if status is not None else None
        if code is not None and 400 <= code < 500 and code not in _TRANSIENT_4XX:
            phrase = getattr(status, "phrase", "")
            return code, (
                f"the server refused the WebSocket upgrade with HTTP {code}"
                f"{' ' + phrase if phrase else ''} (a permanent refusal: check the URL, "
                "the exchange and the market)"
            )
        return None
    if _is_unknown_host(exc):
        return None, f"unknown host ({exc.strerror})"
    return None


def _is_unknown_host(exc: BaseException) -> TypeGuard[socket.gaierror]:
    """True if ``exc`` is getaddrinfo's "no such name" (see :data:`_UNKNOWN_HOST`)."""
    return isinstance(exc, socket.gaierror) and exc.errno in _UNKNOWN_HOST


# getaddrinfo errors meaning "no such name" (not EAI_AGAIN, a resolver that may answer later)
_UNKNOWN_HOST = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)


def _one_line(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _log_sink_error(source: object, ev: Any, error: BaseException) -> None:
    log.error("event sink %r raised on %r", source, ev, exc_info=error)


class Connection:
    """One logical connection: ``streams`` on ``route`` of ``adapter``, kept alive forever.

    Every connect (the first, each reconnect and rotation) goes where
    ``await adapter.connect_target(http(), route)`` says, with that answer's client keepalive.
    ``url`` is the endpoint of the latest connect (before the first: ``adapter.ws_endpoint(route)``)
    with its secrets hidden (:func:`tickwire.redact.redact_url`): it is what logs, exceptions and
    ``Connected`` / ``Disconnected`` events show.

    - ``adapter``: exchange hooks; ``route``: which endpoint of the adapter.
    - ``subs``: the :class:`Subscription` s to keep subscribed (all of ``route``); their
      stream names are :attr:`streams`, their unified symbols :attr:`symbols` (registered with
      each decoder), those whose L2 books this connection keeps :attr:`book_symbols` (synced
      from REST snapshots or from the snapshots the venue pushes, as the decoder's
      ``recovery`` says).
    - ``instruments``: the instrument dicts passed to each session's ``tw.Decoder`` (may be
      empty).
    - ``sink(event)``: called synchronously for every delivered market or health event;
      ``sinks``: optional per-event-type overrides (a dict the owner may update at any time),
      ``on_sink_error(source, event, error)``: called when a sink raises (``source``: the sink,
      or the ``CallbackError`` the decoder wrapped it in; default: log it).
    - ``http``: a callable returning the shared ``aiohttp.ClientSession``.
    - ``on_fatal(exc)``: called once when the connection gives up after ``ready`` (a rejected
      subscription on reconnect, an ``AuthError``); before, ``ready`` carries the error.
    - ``account_channels``: for a private connection (its ``subs`` are account streams,
      ``symbol == ""``): the account channels asked for (``ACCOUNT_CHANNELS``); their event
      types are delivered. Default: every channel when the subs are account streams, else
      none (a public connection).

    A private connection adds an auth step to every connect (first, reconnect, rotation):
    measure the server clock (``adapter.server_time_request``, when missing or older than 10
    minutes) -> ``connect_target`` (may create a listen key / token) -> open -> the adapter's
    ``login_requests``, one by one, each awaited for its acks -> subscribe. A login error
    reply, or an ``AuthError`` from ``connect_target``, ``refresh_token`` on a rotation or a
    recovery request, is fatal: the connection stops and raises it once (never a reconnect
    storm); timeouts, 5xx and disconnects back off as usual. While connected,
    ``adapter.refresh_token`` runs every ``adapter.token_refresh_s``; its ``AuthError`` or a
    notice in ``adapter.rotate_on_notices`` rotates to a fresh connection, make-before-break.
    After a reconnect or rotation, fills and order changes since the last delivered account
    event are fetched over REST and delivered first (see :mod:`tickwire.connection.private`).

    ``await start()`` launches it; ``ready`` resolves once the first session is subscribed and its
    books are synced; ``await close()`` stops it. ``book(symbol)`` returns the ``tw.Book`` that
    matches the last delivered ``BookUpdate``. ``await add(subs)`` / ``await remove(subs)``
    change the streams while it runs; ``subs`` (the registry) is what every new session
    subscribes.
    """

    def __init__(
        self,
        *,
        name: str,
        adapter: Adapter,
        route: str,
        subs: Sequence[Subscription],
        sink: Callable[[Any], None],
        http: Callable[[], aiohttp.ClientSession],
        on_fatal: Callable[[BaseException], None] | None = None,
        options: ConnectionOptions | None = None,
        sinks: dict[type, Callable[[Any], None]] | None = None,
        on_sink_error: Callable[[object, Any, BaseException], None] | None = None,
        instruments: Sequence[dict[str, Any]] = (),
        account_channels: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.adapter = adapter
        self.route = route
        self._endpoint = adapter.ws_endpoint(route)  # secrets included: connect only
        self._endpoints = [self._endpoint]  # the latest few, for scrub()
        self.url = redact_url(self._endpoint)
        self.subs = list(subs)
        self.symbols = list(dict.fromkeys(s.symbol for s in self.subs if s.symbol))
        self.book_symbols = [b for b in map(adapter.book_symbol, self.subs) if b]
        self.instruments = list(instruments)
        self.options = options or ConnectionOptions()
        self.counters = Counters()
        self._sink = sink
        self._sinks = sinks if sinks is not None else {}
        self._on_sink_error = on_sink_error or _log_sink_error
        self._http = http
        self._on_fatal = on_fatal
        lim = adapter.limits
        self.stale_after = self.options.stale_after or lim.stale_after_s
        max_age = self.options.max_age or lim.lifetime_s
        self.rotate_after = max_age - min(600.0, 0.2 * max_age)
        self._ControlReply = ControlReply
        self._BookUpdate = BookUpdate
        # per event type: (ordering key getter, {symbol: last delivered key})
        self._order: dict[type, tuple[Callable[[Any], Any], dict[str, Any]]] = {
            t: (getter, {}) for t, getter in adapter.dedup_keys().items()
        }
        self._book_src: dict[str, Any] = {}
        self._primary: Session | None = None
        self._sessions: set[Session] = set()
        self._serial = 0
        self._request_id = 0
        # Held while a session subscribes the registry or a live change is sent, so every
        # session ends up subscribed to exactly ``streams``.
        self._control = asyncio.Lock()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        # resolves once the first session is subscribed and its books synced (or fails)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_error: str | None = None
        self._frames_closed = 0  # frames decoded by sessions that are gone
        self._last_trade_ids: dict[str, int] = {}  # per symbol, over every session so far
        # per symbol, venues without consecutive trade ids: (time, ids) of the last delivered
        self._last_trades: dict[str, resync.TradeMark] = {}
        self._ever_connected = False
        if account_channels is None:
            private = bool(self.subs) and all(s.channel in ACCOUNT_CHANNELS for s in self.subs)
            account_channels = ACCOUNT_CHANNELS if private else ()
        #: an account connection: logs in before subscribing, delivers account events
        self.private = bool(account_channels)
        self._account = AccountSide(self, account_channels) if self.private else None
        self.account_types = self._account.wanted if self._account is not None else frozenset()
        self.account_counters = (
            self._account.counters if self._account is not None else AccountCounters()
        )
        #: polls REST while the WebSocket is down (ConnectionOptions.rest_fallback_after)
        self.fallback = RestFallback(self)
        if self.private:
            remember(secrets_of(self._endpoint))
        # account frames are never recorded (see session._record_writer)
        self._recorder = None if self.private else self.options.record

    # --- delivery while sessions overlap, and of every book update ---------------------------
    def merge(self, session: Session, ev: Any) -> None:
        """Deliver ``ev`` of ``session`` unless an equal-or-newer one of its (type, symbol) was
        already delivered (the per-event path while sessions overlap; settles control replies)."""
        t = type(ev)
        order = self._order.get(t)
        if order is not None:  # (key getter, {symbol: last delivered key})
            key = order[0](ev)
            sym = ev.symbol
            last = order[1].get(sym)
            if last is not None and key <= last:
                self.counters.duplicates += 1
                return
            order[1][sym] = key
            if t is self._BookUpdate:
                self._book_src[sym] = session.decoder
        elif t is self._ControlReply:
            session.on_reply(ev)
            return
        elif session is not self._primary and self._primary is not None:
            # no key comparable across sockets: the primary session's stream is the one
            self.counters.duplicates += 1
            return
        elif t is self._BookUpdate:
            self._book_src[ev.symbol] = session.decoder
        self.deliver_safely(self._sinks.get(t, self._sink), ev)

    def rewire(self) -> None:
        """Re-point every live session's handlers (after a session opened or closed, or the
        owner changed ``sinks``): de-duplicating only while sessions overlap."""
        guarded = len(self._sessions) > 1
        if guarded:
            self._seed_book_keys()
        for session in self._sessions:
            session.wire(guarded)

    def _seed_book_keys(self) -> None:
        """Before sessions overlap: the last delivered sequence of each book, which the direct
        path of a lone session did not record, is the sequence of the book ``book()`` shows.
        (A new session's REST snapshot may be older than what the old one delivered.)"""
        delivered = self._order.get(self._BookUpdate, (None, {}))[1]
        for sym, dec in self._book_src.items():
            try:
                seq = dec.book(sym).sequence
            except KeyError:
                continue
            if seq is not None and (delivered.get(sym) is None or seq > delivered[sym]):
                delivered[sym] = seq

    def emit(self, ev: Any) -> None:
        """Deliver a health event (or a notice) to the owner's sink."""
        self._sink(ev)

    def private_event(self, session: Session, ev: Any) -> None:
        """An account event of ``session`` (private connections only; see
        :class:`~tickwire.connection.private.AccountSide`)."""
        if self._account is not None:
            self._account.event(session, ev)

    def fill_handler(self, session: Session) -> Callable[[Any], None]:
        """The decoder's ``Fill`` handler for ``session`` (private connections only): what
        :meth:`private_event` does for a fill, in one call (see ``AccountSide.fill_handler``)."""
        if self._account is None:
            return partial(self.private_event, session)
        return self._account.fill_handler(session)

    @property
    def primary(self) -> Session | None:
        """The session whose stream is delivered (None while disconnected)."""
        return self._primary

    def http(self) -> aiohttp.ClientSession:
        """The owner's shared HTTP session."""
        return self._http()

    def direct_sink(self, event_type: type) -> Callable[[Any], None]:
        """Where events of ``event_type`` go while one session is live: the owner's override
        for that type, else its sink."""
        return self._sinks.get(event_type, self._sink)

    def show_book(self, symbol: str, decoder: Decoder) -> None:
        """Make ``decoder``'s book of ``symbol`` the one :meth:`book` shows."""
        self._book_src[symbol] = decoder

    def callback_failed(self, exc: CallbackError) -> None:
        """A sink raised inside the decoder's dispatch: reported through ``on_sink_error``.

        A ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt, SystemExit) is no
        callback error: it is raised again, out of the frame callback, as the extension does
        itself under the current contract (an older build wraps it in ``CallbackError``)."""
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, Exception):
            self.interrupted(cause)
            raise cause
        self._on_sink_error(exc, exc.event, cause or exc)

    def interrupted(self, exc: BaseException) -> None:
        """A callback raised ``exc``, a ``BaseException`` that is not an ``Exception``
        (KeyboardInterrupt, SystemExit): stop now. Every socket is aborted (no more frames, so
        no more callbacks), nothing reconnects, and the owner gets ``exc`` through
        ``on_fatal`` (``async for`` raises it if the loop runs on). The caller re-raises it."""
        if self._closing:
            return
        self._closing = True
        log.warning("%s: %s raised in a callback; closing", self.name, type(exc).__name__)
        for t in self._tasks:
            t.cancel()
        for s in list(self._sessions):
            s.close(f"interrupted ({type(exc).__name__})", graceful=False)
        if not self.ready.done():
            self.ready.set_exception(exc)
            self.ready.exception()  # retrieved: the exception itself propagates on its own
        elif self._on_fatal is not None:
            self._on_fatal(exc)

    def set_sink(self, sink: Callable[[Any], None]) -> None:
        """Deliver to ``sink`` from now on (market events without an override in ``sinks``, and
        health events); rewires the sessions."""
        self._sink = sink
        self.rewire()

    def note_error(self, text: str) -> None:
        """Remember ``text`` (secrets scrubbed) as :attr:`last_error`."""
        self.last_error = self.scrub(text)

    def deliver_safely(self, deliver: Callable[[Any], None], ev: Any) -> None:
        """``deliver(ev)``; a failing user callback is reported, never raised (inside picows'
        frame callback it would disconnect; in a task it would end the task)."""
        try:
            deliver(ev)
        except Exception as exc:  # noqa: BLE001 - any user callback error is reported, not raised
            self._on_sink_error(deliver, ev, exc)

    def sink_failed(self, deliver: Callable[[Any], None], ev: Any, exc: Exception) -> None:
        """``deliver(ev)`` raised ``exc``: reported as :meth:`deliver_safely` does (for a caller
        that calls the sink itself: the account side's fill handler)."""
        self._on_sink_error(deliver, ev, exc)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as a task of this connection (cancelled by ``close()``)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    def trades_missed(self, symbol: str, first_id: int, last_id: int) -> None:
        """Count, log and report trades ``first_id`` .. ``last_id`` of ``symbol`` as lost."""
        self.counters.trades_missed += last_id - first_id + 1
        log.warning(
            "%s: %s trades %d..%d were published while disconnected",
            self.name,
            symbol,
            first_id,
            last_id,
        )
        self.emit(TradesMissed(self.adapter.exchange_id, symbol, first_id, last_id, time_ns()))

    def trades_gap(self, symbol: str, since_ts: int, until_ts: int) -> None:
        """Count, log and report trades of ``symbol`` between trade times ``since_ts`` and
        ``until_ts`` (ns, inclusive) as possibly lost (venues without consecutive ids)."""
        self.counters.trade_gaps += 1
        log.warning(
            "%s: %s trades from %d to %d ns may have been published while disconnected",
            self.name,
            symbol,
            since_ts,
            until_ts,
        )
        self.emit(
            TradesMissed(
                self.adapter.exchange_id, symbol, None, None, time_ns(), since_ts, until_ts
            )
        )

    def session_gone(self, session: Session) -> None:
        """``session``'s socket is gone: keep its frame count and last trade ids; its books
        stop being served as live."""
        self._frames_closed += session.frames()
        if session.recording is not None:  # its files complete now, not at the feed's close
            session.recording.close()
        if self._account is not None and session is self._primary:
            self._account.session_lost()
        if self.adapter.consecutive_trade_ids:
            for sym, tid in session.decoder.last_trade_ids().items():
                if tid > self._last_trade_ids.get(sym, -1):
                    self._last_trade_ids[sym] = tid
        else:
            for sym, (ts, ids) in session.decoder.last_trades().items():
                mark = self._last_trades.get(sym)
                if mark is None or ts > mark[0]:
                    self._last_trades[sym] = (ts, frozenset(ids))
                elif ts == mark[0]:
                    self._last_trades[sym] = (ts, mark[1] | frozenset(ids))
        if self._closing:
            return  # keep the last books readable after close()
        for sym, dec in self._book_src.items():
            if dec is session.decoder:
                # Its socket is gone: no more updates. Say so (``synced`` False) rather than
                # serve it as live until the next session's book takes over.
                dec.reset_book(sym)

    def _adopt_books(self, session: Session, force: bool = False) -> None:
        """Point ``book()`` at ``session``'s synced books where they are at least as new as what
        was delivered, or unconditionally with ``force`` (rotation: before the old socket closes,
        so a quiet book does not stay behind on it)."""
        delivered = self._order.get(self._BookUpdate, (None, {}))[1]
        for sym in self.book_symbols:
            book = session.decoder.book(sym)
            last = delivered.get(sym)
            if book.synced and (force or last is None or (book.sequence or 0) >= last):
                self._book_src[sym] = session.decoder

    def next_request_id(self) -> int:
        """A fresh control-request id."""
        self._request_id += 1
        return self._request_id

    def book_subscription(self, symbol: str) -> Subscription | None:
        """The subscription feeding ``symbol``'s book (None if there is none)."""
        return next((s for s in self.subs if self.adapter.book_symbol(s) == symbol), None)

    @property
    def streams(self) -> list[str]:
        """The stream names of :attr:`subs`, in order."""
        return [s.stream for s in self.subs]

    # --- public ------------------------------------------------------------------------------
    def book(self, symbol: str) -> Any:
        """The ``tw.Book`` consistent with the last delivered ``BookUpdate`` of ``symbol``.

        Before the first update: the current session's book. Raises ``KeyError`` if none exists."""
        dec = self._book_src.get(symbol)
        if dec is None:
            if self._primary is None:
                raise KeyError(symbol)
            dec = self._primary.decoder
        return dec.book(symbol)

    def stats(self) -> dict[str, int]:
        """:class:`Counters` as a dict, with ``frames`` summed over every session so far."""
        out = self.counters.as_dict()
        if self._account is not None:
            out.update(self._account.counters.as_dict())
        out["frames"] = self._frames_closed + sum(
            s.frames() for s in self._sessions if not s.closed.done()
        )
        return out

    def decoder_stats(self) -> dict[str, int]:
        """``decoder.stats()`` of the primary session (empty dict when disconnected)."""
        s = self._primary
        return dict(s.decoder.stats()) if s is not None else {}

    @property
    def connected(self) -> bool:
        """True while a primary session is open."""
        return self._primary is not None and not self._primary.closed.done()

    # --- live subscription changes -----------------------------------------------------------
    async def add(self, subs: Sequence[Subscription]) -> list[asyncio.Task[None]]:
        """Subscribe ``subs`` (new streams of this route) on every live session and add them to
        the registry, so that reconnects and rotations subscribe them too.

        New books are reset in each session's decoder before the request (their deltas are
        buffered from then on) and synced from a REST snapshot after the ack, as at start; the
        sync tasks are returned. While no session is live only the registry changes (the
        reconnect subscribes it). Raises :class:`SubscriptionError` on an error reply,
        ``TimeoutError`` without an ack (that session is dropped and reconnects); either way
        nothing of ``subs`` stays subscribed."""
        books = [b for b in map(self.adapter.book_symbol, subs) if b]
        async with self._control:
            self.subs = self.subs + list(subs)
            self.symbols = list(
                dict.fromkeys([*self.symbols, *(s.symbol for s in subs if s.symbol)])
            )
            self.book_symbols = self.book_symbols + books
            sessions = [s for s in self._sessions if s.subscribed and not s.closed.done()]
            since: dict[Session, int] = {}
            for s in sessions:
                for sub in subs:
                    s.decoder.register(sub.symbol)
                for b in books:  # forget deltas buffered since an earlier unsubscribe
                    s.decoder.reset_book(b)
                since[s] = s.decoder.stats().get("buffered_deltas", 0)
                s.unmute(subs)
            self.rewire()
            try:
                await self._request_all(sessions, self.adapter.subscribe_requests, subs)
            except BaseException:
                await self._remove_locked(subs, quiet=True)
                raise
        return [
            s.start_sync(b, "subscribe", since[s])
            for s in sessions
            if not s.closed.done()
            for b in books
        ]

    async def remove(self, subs: Sequence[Subscription]) -> None:
        """Unsubscribe ``subs`` on every live session and drop them from the registry.

        From this call on their events are not delivered, including late ones still in flight
        after the ack; their books are reset and forgotten. Raises like :meth:`add`, but the
        streams are gone from the registry (and muted) either way."""
        async with self._control:
            await self._remove_locked(subs)

    async def _remove_locked(self, subs: Sequence[Subscription], quiet: bool = False) -> None:
        books = {b for b in map(self.adapter.book_symbol, subs) if b}
        gone = {s.stream for s in subs}
        self.subs = [s for s in self.subs if s.stream not in gone]
        self.book_symbols = [b for b in self.book_symbols if b not in books]
        sessions = [s for s in self._sessions if s.subscribed and not s.closed.done()]
        for s in sessions:
            s.mute(subs)
            for b in books:  # late deltas are only buffered: no BookUpdate, no gap
                s.decoder.reset_book(b)
        for b in books:
            self._book_src.pop(b, None)
        self.rewire()
        try:
            await self._request_all(sessions, self.adapter.unsubscribe_requests, subs)
        except Exception:
            if not quiet:
                raise

    async def _request_all(
        self,
        sessions: Sequence[Session],
        build: Callable[[Sequence[Subscription], Callable[[], int]], list[Request]],
        subs: Sequence[Subscription],
    ) -> None:
        """Send the requests ``build(subs, next_id)`` makes on every session and wait for the
        acks. A session that drops meanwhile is skipped (its reconnect subscribes the registry);
        one that does not answer in time is dropped for the same reason. Then the first error is
        raised."""
        results = await asyncio.gather(
            *(
                s.control(build(subs, self.next_request_id), self.options.ack_timeout)
                for s in sessions
            ),
            return_exceptions=True,
        )
        errors = []
        for s, r in zip(sessions, results, strict=True):
            if isinstance(r, TimeoutError):
                s.close("no ack", graceful=False)
            if isinstance(r, BaseException) and not isinstance(r, ConnectionError):
                errors.append(r)
        if errors:
            raise errors[0]

    async def start(self) -> None:
        """Launch the supervisor and watchdog tasks (returns at once; see ``ready``); a private
        connection also its token keepalive (when the adapter has ``token_refresh_s``)."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._supervise(), name=f"{self.name} supervisor"),
            loop.create_task(self._watchdog(), name=f"{self.name} watchdog"),
        ]
        period = self.adapter.token_refresh_s
        if self._account is not None:
            guard_logs()
            if period:
                self._tasks.append(
                    loop.create_task(
                        self._account.keep_tokens(period, self._rotate_now),
                        name=f"{self.name} token keepalive",
                    )
                )
        for t in self._tasks:
            t.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.error("%s: %s crashed", self.name, task.get_name(), exc_info=exc)
            self._fail(exc)

    async def close(self) -> None:
        """Stop reconnecting, close every session, wait briefly for the sockets to go."""
        if self._closing:
            return
        self._closing = True
        await self.fallback.close()
        for t in self._tasks:
            t.cancel()
        sessions = list(self._sessions)
        for s in sessions:
            s.close("closed by client")
        if sessions:
            await asyncio.wait([asyncio.ensure_future(s.closed) for s in sessions], timeout=2.0)
            for s in sessions:  # the peer did not finish the close handshake in time
                if not s.closed.done():
                    s.close("closed by client", graceful=False)
                    s._finish("closed by client")
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if not self.ready.done():
            self.ready.cancel()

    # --- supervision -------------------------------------------------------------------------
    async def _open_session(self, role: str = "primary") -> Session:
        self._serial += 1
        s = Session(self, self._serial, role)
        if role == "primary" and self._ever_connected:  # a reconnect (rotations overlap instead)
            s.trades_from = {
                sym: tid for sym, tid in self._last_trade_ids.items() if sym in self.symbols
            }
            if not self.adapter.consecutive_trade_ids:  # a symbol without a trade yet: (0, {})
                none: resync.TradeMark = (0, frozenset())
                traded = (x.symbol for x in self.subs if x.channel == "trades" and x.symbol)
                s.trades_after = {sym: (self._last_trades.get(sym, none), True) for sym in traded}
        self._sessions.add(s)
        self.rewire()

        def forget(_closed: asyncio.Future[str]) -> None:
            self._sessions.discard(s)
            self.rewire()

        s.closed.add_done_callback(forget)
        opts = self.options
        acct = self._account
        since: int | None = None
        try:
            if acct is not None:
                await acct.measure_clock()
            target = await self._connect_target()
            self._use_endpoint(target.url)
            s.keepalive = target.keepalive
            await s.open(target.url, opts.connect_timeout)
            if acct is not None:
                await acct.login(s, opts.ack_timeout)
                if self._ever_connected:  # reconnect or rotation: fetch what was missed
                    since = acct.hold()
            async with self._control:  # the registry may have changed since Session() was made
                for sym in self.symbols:
                    s.decoder.register(sym)
                await s.subscribe(self.subs, opts.ack_timeout)
                s.subscribed = True
        except BaseException:
            s.close("setup failed", graceful=False)
            if since is not None and acct is not None:
                acct.release()
            raise
        if since is not None and acct is not None:
            self.spawn(self._recover(s, since), f"{self.name} account recovery")
        return s

    async def _recover(self, s: Session, since: int) -> None:
        """The account recovery after ``s`` subscribed (see ``AccountSide.recover``); an
        ``AuthError`` stops the connection."""
        assert self._account is not None  # noqa: S101 - only private connections recover
        try:
            await self._account.recover(s, since)
        except AuthError as exc:
            self._give_up(exc)

    def _rotate_now(self, reason: str) -> None:
        """Rotate the primary session to a fresh one now (make-before-break)."""
        s = self._primary
        if s is not None and not s.rotate_now.is_set():
            log.info("%s: %s; rotating now", self.name, reason)
            s.rotate_now.set()

    def _give_up(self, exc: BaseException) -> None:
        """Stop for good (an ``AuthError``: the same keys would be refused again): no more
        reconnects or rotations, every session closed, ``exc`` raised once to the owner."""
        if self._closing:
            return
        self._closing = True
        for t in self._tasks:
            if t is not asyncio.current_task():
                t.cancel()
        for s in list(self._sessions):
            s.close("authentication refused", graceful=False)
        self._fail(exc)

    async def _connect_target(self) -> ConnectTarget:
        """Where this connect goes (:meth:`Adapter.connect_target`, within the connect timeout).
        An adapter that keeps the default asks nothing: its target is read without a task, an
        HTTP session or a loop iteration (a rotation has a fraction of a second to open)."""
        a = self.adapter
        if type(a).connect_target is Adapter.connect_target:
            return ConnectTarget(a.ws_endpoint(self.route), a.keepalive())
        try:
            return await asyncio.wait_for(
                a.connect_target(self._http(), self.route), self.options.connect_timeout
            )
        except rest.HttpStatusError as exc:
            if self._account is not None and exc.status in (401, 403):
                raise self._account.auth_error(exc) from None
            raise

    def _use_endpoint(self, endpoint: str) -> None:
        """The URL of this connect (see :meth:`Adapter.connect_target`): shown (redacted) as
        :attr:`url` from now on, its secrets scrubbed from logs and errors."""
        if endpoint != self._endpoint:
            self._endpoint = endpoint
            self.url = redact_url(endpoint)
            self._endpoints = [endpoint, *self._endpoints[:3]]
            if self.private:
                remember(secrets_of(endpoint))

    def session_subscribed(self, s: Session) -> None:
        """A session got every subscribe ack. A primary one takes over: Connected, book syncs."""
        if s.role != "primary" or self._closing:
            return
        reconnect = self._ever_connected
        self._ever_connected = True
        self._primary = s
        self.counters.connects += 1
        if reconnect:
            self.counters.reconnects += 1
        self.emit(Connected(self.adapter.exchange_id, self.url, time_ns()))
        syncs = [
            s.start_sync(sym, "reconnect" if reconnect else "start") for sym in self.book_symbols
        ]
        if reconnect:  # trades published while disconnected, over REST where the venue can
            resync.recover_trades_now(s)
        if not reconnect:
            asyncio.get_running_loop().create_task(self._mark_ready(syncs))

    async def _supervise(self) -> None:
        opts = self.options
        attempt = 0
        while not self._closing:
            try:
                s = await self._open_session()
            except AuthError as exc:
                self._give_up(exc)
                return
            except SubscriptionError as exc:
                self._fail(exc)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any other failed attempt is retried
                if self._refused_for_good(exc):
                    return
                delay = full_jitter(attempt, opts.backoff_base, opts.backoff_cap)
                attempt += 1
                self.last_error = self.scrub(_one_line(exc))
                log.warning(
                    "%s: connect to %s failed (%s); retry in %.2f s",
                    self.name,
                    self.url,
                    self.last_error,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if self._primary is not s:  # closed or closing in between (see session_subscribed)
                self._primary = s
            while True:  # follow the primary through rotations
                cur = self._primary
                rot = asyncio.get_running_loop().create_task(self._rotate_later(cur))
                try:
                    reason = await asyncio.shield(cur.closed)
                finally:
                    if self._primary is cur:
                        rot.cancel()
                if self._primary is not cur:
                    continue  # rotated: the new primary is already live
                break
            self._primary = None
            self.emit(Disconnected(self.adapter.exchange_id, self.url, reason, time_ns()))
            self.fallback.down()
            if self._is_closing():  # close() may have run while we awaited
                return
            lived = time.monotonic() - cur.opened_at
            attempt = 0 if lived > 30.0 else attempt + 1
            delay = full_jitter(attempt, opts.backoff_base, opts.backoff_cap)
            log.warning("%s: disconnected (%s); reconnecting in %.2f s", self.name, reason, delay)
            await asyncio.sleep(delay)

    def _refused_for_good(self, exc: BaseException) -> bool:
        """Give up (True) if the failed connect ``exc`` would fail the same way again: an
        ``EndpointError``, or for a private connection refused with 401/403 an ``AuthError``
        (the keys, not the URL)."""
        refusal = _permanent_refusal(exc)
        if refusal is None:
            return False
        if self._ever_connected and _is_unknown_host(exc):
            # The name resolved before: a resolver outage or a DNS change in flight, not a
            # wrong URL. Retried with backoff like any failed connect.
            return False
        self.last_error = refusal[1]
        if self.private and refusal[0] in (401, 403):
            ex = self.adapter.exchange_id
            why = f"the WebSocket upgrade was refused with HTTP {refusal[0]}"
            self._give_up(AuthError(f"{ex}: {why}", refusal[0], why, ex))
        else:
            self._fail(EndpointError(self.url, *refusal))
        return True

    async def _mark_ready(self, syncs: list[asyncio.Task[None]]) -> None:
        if syncs:
            await asyncio.gather(*syncs, return_exceptions=True)
        if not self.ready.done():
            self.ready.set_result(None)

    def _is_closing(self) -> bool:
        return self._closing

    def _fail(self, exc: BaseException) -> None:
        log.error("%s: giving up: %s", self.name, exc)
        if not self.ready.done():
            self.ready.set_exception(exc)
            self.ready.exception()  # mark retrieved; whoever awaits ``ready`` reports it
            return  # not fatal for the owner: Feed.subscribe() opens connections too
        if self._on_fatal is not None:
            self._on_fatal(exc)

    async def _rotate_later(self, old: Session) -> None:
        """Replace ``old`` by a fresh session before the exchange's lifetime limit (or as soon as
        it announces a shutdown), without a gap."""
        opts = self.options
        # until the lifetime deadline, or at once on a shutdown notice
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                old.rotate_now.wait(),
                max(0.0, old.opened_at + self.rotate_after - time.monotonic()),
            )
        attempt = 0
        new: Session | None = None
        try:
            while not old.closed.done():
                try:
                    new = await self._open_session("rotation")
                    syncs = [new.start_sync(sym, "rotation") for sym in self.book_symbols]
                    if syncs:
                        await asyncio.gather(*syncs)
                    if not new.books_synced(self.book_symbols) or new.closed.done():
                        raise ConnectionError("rotation session lost its books")
                    break
                except AuthError as exc:
                    self._give_up(exc)
                    return
                except (asyncio.CancelledError, SubscriptionError):
                    raise
                except Exception as exc:  # noqa: BLE001 - a failed rotation is retried, the old session stays
                    if new is not None:
                        new.close("rotation failed", graceful=False)
                        new = None
                    attempt += 1
                    log.warning("%s: rotation attempt failed (%r)", self.name, exc)
                    await asyncio.sleep(full_jitter(attempt, opts.backoff_base, opts.backoff_cap))
            if new is None or old.closed.done():
                if new is not None:
                    new.close("rotation aborted")
                return
            self._primary = new
            self._adopt_books(new)
            self.counters.rotations += 1
            log.info(
                "%s: rotated to session #%d (old age %.1f s)",
                self.name,
                new.serial,
                time.monotonic() - old.opened_at,
            )
            new_ref = new
            new = None
            # both sessions deliver for a moment; de-duplication merges them
            await asyncio.sleep(opts.rotation_overlap)
            if not new_ref.closed.done():
                self._adopt_books(new_ref, force=True)
            old.close("rotated")
            del new_ref
        except asyncio.CancelledError:
            if new is not None:
                new.close("rotation cancelled", graceful=False)
            raise

    async def _watchdog(self) -> None:
        # Reads each session's frame count a few times per stale period instead of stamping
        # every frame: the hot path stays free of bookkeeping.
        seen: dict[Session, int] = {}
        while True:
            await asyncio.sleep(max(0.05, min(1.0, self.stale_after / 4)))
            # read each round: ``stale_after`` may be changed on a live connection
            stale_ns = int(self.stale_after * 1e9)
            now = time_ns()
            for s in list(self._sessions):
                if s.transport is None or s.closed.done():
                    continue
                n = s.frames()
                if seen.get(s) != n:
                    seen[s] = n
                    s.last_rx_ns = max(s.last_rx_ns, now)
                elif now - s.last_rx_ns > stale_ns:
                    self.counters.stale += 1
                    log.warning(
                        "%s: no frame for %.1f s; dropping the connection",
                        self.name,
                        (now - s.last_rx_ns) / 1e9,
                    )
                    s.close(f"stale: no frame for {self.stale_after:g} s", graceful=False)
            for s in [s for s in seen if s.closed.done()]:
                del seen[s]

    async def fetch(
        self, url: str, params: dict[str, str], timeout: float, json: object = None
    ) -> bytes:
        """GET ``url`` over the owner's HTTP session (:func:`rest.fetch`), or POST the ``json``
        body where one is given (Hyperliquid's ``/info``). While recording, a book snapshot
        (a GET) is saved beside the recording of each session waiting for one."""
        query = {**self.adapter.rest_params, **params}
        if json is not None:
            return await rest.fetch(self._http(), url, query, timeout, method="POST", json=json)
        body = await rest.fetch(self._http(), url, query, timeout)
        if self._recorder is not None:
            self._record_snapshot(url, params, body)
        return body

    def _record_snapshot(self, url: str, params: dict[str, str], body: bytes) -> None:
        """Save ``body`` if it answers a book snapshot request: beside the recording of every
        live session whose book of that symbol waits for a snapshot (the one that asked)."""
        a = self.adapter
        for sym in self.book_symbols:
            if a.snapshot_request(sym) != (url, params):
                continue
            for s in self._sessions:
                rec = s.recording
                if rec is not None and not s.closed.done() and s.decoder.needs_snapshot(sym):
                    rec.snapshot(a.market_id(sym), body)
            return

    def scrub(self, text: str) -> str:
        """``text`` without the secrets of this connection's URLs, nor (private connections)
        its credentials, listen keys, tokens and signatures (for logs and errors)."""
        a = self.adapter
        return scrub(text, *self._endpoints, f"{a.rest_base_url}?{a.rest_query}")

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self.url} connected={self.connected}>"
