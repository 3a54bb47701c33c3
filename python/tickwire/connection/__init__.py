"""Live WebSocket connections: transport, heartbeat, reconnect, resync and rotation.

Modules, one job each: ``session`` (one picows socket: frames, heartbeat, frame errors, control
requests), ``supervisor`` (:class:`Connection`: reconnect, rotation, merge and de-duplication
of overlapping sessions, watchdog, live (un)subscribe), ``resync`` (book snapshots and trade
fill over REST), ``ratelimit`` (client message rate and reconnect backoff), ``rest`` (aiohttp
fetch), ``options`` and ``errors``.

This module knows no exchange by name; everything exchange-specific comes from an
:class:`tickwire.exchanges.Adapter`. Vocabulary:

- a :class:`Connection` is one *logical* connection: a fixed set of streams on one URL that must
  stay delivered. It survives reconnects and rotations.
- a :class:`Session` is one *physical* WebSocket (picows, on the running event loop) with its own
  Rust ``Decoder`` (and therefore its own books) and its own control-message rate limiter.

Per complete text frame exactly one decoder call runs inside picows' ``on_ws_frame`` (the frame
is only valid during that callback): Rust's ``FrameSink`` reads the frame in place and the decoder
hands each event to its handler. While one session is live, market events go straight to the
owner's sinks; while two overlap (reconnect, rotation) they go through ``Connection.merge``,
which de-duplicates by the adapter's ordering keys so the two merge into one stream without loss
or repeats. Control replies settle pending requests.

Policies, each a few lines below:

- heartbeat: server PING frames are answered with a PONG echoing the payload, through the rate
  limiter because exchanges count pongs (Binance spot: 5 client messages/s); venues that want
  client pings get the adapter's ``keepalive()`` text frame on its timer (rate-limited too).
  Their pongs and heartbeats only keep the watchdog quiet.
- control requests: the adapter builds them (``subscribe_requests`` etc.: ``Request(payload,
  acks)``); a request is done when an ack arrived for each of its keys (an echoed request id or
  a topic); an error reply naming one of them (or, naming nothing, the oldest request in flight)
  fails it with ``SubscriptionError``.
- stale-data watchdog: no frame at all for ``stale_after`` seconds -> the socket is aborted.
- reconnect: capped exponential backoff with full jitter (sleep uniform(0, min(cap, base*2^n))),
  then resubscribe every registered stream and resync every book from a REST snapshot.
- sync losses: the decoder's ``SyncLost`` event (sequence gap, checksum mismatch, connection
  sequence break) -> ``GapDetected(reason)``, then as the decoder's ``recovery`` says: a REST
  snapshot (aiohttp, ``decoder.apply_snapshot``) or the adapter's ``resubscribe_requests`` and the
  snapshot the venue pushes; ``Resynced(reason)`` once the book is in sync.
- sharding: a feed needing more topics than ``Limits.streams_per_connection`` (or book topics
  than ``Limits.books_per_connection``) opens more connections (``Adapter.shards``).
- trades missed while disconnected (exchanges that number trades consecutively): the first trade
  of each symbol after a reconnect is checked against the last one delivered; the ids in
  between are fetched over REST (``adapter.trades_request``, ``decoder.apply_trades``) and
  delivered before that symbol's held-back live trades, or, where they cannot be fetched,
  reported as ``TradesMissed``. Only those first trades pay for the check.
- bad frames: ``tw.FrameError`` -> counted, logged (rate-limited), skipped.
- rotation: before the exchange's lifetime limit a second session is opened and subscribed; once
  its books are in sync it becomes primary; the old one is closed after a short overlap. The
  de-duplication keys make the overlap seamless.
- live (un)subscribe: ``Connection.add`` / ``remove`` change the stream registry and send the
  request on every subscribed session, under a lock that session setup takes too, so sockets
  and registry agree. A removed stream's late events are dropped by a filter installed on
  those sessions only (feeds that never unsubscribe keep the unfiltered handlers).
"""

from .errors import EndpointError, StartTimeoutError, SubscriptionError
from .options import ConnectionOptions
from .ratelimit import RateLimiter, full_jitter
from .session import Session, SessionOwner
from .supervisor import Connection

__all__ = [
    "Connection",
    "ConnectionOptions",
    "EndpointError",
    "RateLimiter",
    "Session",
    "SessionOwner",
    "StartTimeoutError",
    "SubscriptionError",
    "full_jitter",
]
