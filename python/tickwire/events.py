"""Feed-health and replay events, made in Python (market events come from the Rust core:
``Trade``, ``BBO``, ``BookUpdate``, ``Candle``, ``ControlReply``). Timestamps: int ns since the
Unix epoch; ``receive_ts``, as on every tickwire event, is the local time the event was made
(for a replayed recording: the recorded receive time of its line)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Connected:
    """A connection is open and subscribed."""

    exchange: str
    url: str
    receive_ts: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A connection was lost (``reason`` says why); a reconnect follows."""

    exchange: str
    url: str
    reason: str
    receive_ts: int


@dataclass(frozen=True, slots=True)
class GapDetected:
    """The book of ``symbol`` lost sync; it is resynced from a new snapshot (REST or a
    resubscribe, as the venue recovers). ``reason``: ``"gap"`` (the update-id chain broke:
    ``expected`` vs ``received`` ids as the exchange's rule compares them), ``"checksum"`` (the
    book after an update did not match the venue's checksum: ``expected`` is the venue's,
    ``received`` the one computed), ``"connection_gap"`` (the connection's own sequence broke,
    every book of it resyncs). ``line`` is the 1-based line of a replayed recording, None when
    live."""

    exchange: str
    symbol: str
    expected: int
    received: int
    receive_ts: int
    line: int | None = None
    reason: str = "gap"


@dataclass(frozen=True, slots=True)
class TradesMissed:
    """Trades of ``symbol`` published while the connection was down (or between two REST
    fallback polls) were not delivered and could not be fetched. Which fields are set:

    - venues that number trades consecutively per symbol (Binance, Coinbase): ``first_id`` ..
      ``last_id`` (inclusive, ``count`` of them), found when the first trade after a reconnect
      does not follow the last one delivered before it; ``since_ts`` / ``until_ts`` are None.
    - every other venue (ids that are UUIDs, sparse numbers or absent): ``since_ts`` ..
      ``until_ts`` (ns since the Unix epoch, the exchange's trade times, inclusive): trades
      of that time range other than those delivered may be missing (the venue's REST list of
      recent trades did not reach back to the last trade delivered, failed, or the venue has
      none); ``first_id``, ``last_id`` and ``count`` are None. ``since_ts`` is the time of the
      last trade delivered before the outage, ``until_ts`` that of the oldest trade delivered
      after it."""

    exchange: str
    symbol: str
    first_id: int | None
    last_id: int | None
    receive_ts: int
    since_ts: int | None = None
    until_ts: int | None = None

    @property
    def count(self) -> int | None:
        """Number of trades missed (numbered venues), None for a time range."""
        if self.first_id is None or self.last_id is None:
            return None
        return self.last_id - self.first_id + 1


@dataclass(frozen=True, slots=True)
class Resynced:
    """The book of ``symbol`` is in sync again from a snapshot at update id ``sequence`` (0 for a
    venue without one). ``reason``: why it had to be: the ``GapDetected`` reason it follows
    (``"gap"``, ``"checksum"``, ``"connection_gap"``), ``"reconnect"``, or, in a replay,
    ``"snapshot"`` (a snapshot file was applied)."""

    exchange: str
    symbol: str
    sequence: int
    receive_ts: int
    reason: str = "gap"


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A malformed frame was counted and skipped (``error`` says what was wrong). ``line`` is the
    1-based line of a replayed recording, None when live."""

    exchange: str
    error: str
    receive_ts: int
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Lagging:
    """The callbacks (or the ``async for`` consumer) fall behind the socket.

    ``lag_ns``: the worst delay from a frame's arrival to the end of its callback over the last
    second, including ``loop_delay_ns``, how late the event loop ran a timer (while a callback
    blocks the loop, frames wait in the socket). ``pending``: events waiting for delivery (the
    catch-up queue of a slow callback, or the ``async for`` queue); ``conflated``: book and BBO
    updates replaced by a newer one of the same symbol so far (trades never are); ``dropped``:
    events the full ``async for`` queue dropped so far. Emitted when ``lag_ns`` passes the
    feed's ``max_lag`` (and every 5 s while it stays above), and when the ``async for`` queue
    reaches half its bound. See ``Feed`` (slow callbacks) for what the feed does about it."""

    exchange: str
    lag_ns: int
    loop_delay_ns: int
    pending: int
    conflated: int
    dropped: int
    receive_ts: int


@dataclass(frozen=True, slots=True)
class AccountGap:
    """Account events (fills, order updates) of the time from ``since_ts`` to ``until_ts``
    (ns since the Unix epoch, the exchange's clock) may be missing: a private connection was
    down or its listen key expired, and what happened meanwhile could not be fetched over REST.
    ``what``: ``"fills"`` or ``"orders"``; ``reason``: why (the venue has no such list, the
    requests kept failing, ...). Like ``TradesMissed`` for public trades: after it, check the
    account over the exchange's own API before trusting positions built from the events."""

    exchange: str
    what: str
    since_ts: int
    until_ts: int
    reason: str
    receive_ts: int
