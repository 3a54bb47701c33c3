"""Tunables of a logical connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..recorder import Recorder

__all__ = ["ConnectionOptions"]


class ConnectionOptions:
    """Tunables of a :class:`Connection` (seconds unless noted).

    - ``stale_after``: watchdog timeout with no frame at all (default: the adapter's
      ``limits.stale_after_s``).
    - ``max_age``: rotate the connection before this age (default: adapter ``limits.lifetime_s``);
      rotation starts at ``max_age - min(600, 0.2 * max_age)``.
    - ``backoff_base`` / ``backoff_cap``: reconnect backoff (full jitter).
    - ``connect_timeout``, ``ack_timeout``, ``snapshot_timeout``: per attempt (the last also
      for each REST page of trades fetched after a reconnect).
    - ``rotation_overlap``: how long both sessions run after the switch (events are merged).
    - ``first_delta_wait``: before the first snapshot fetch, wait up to this long for the first
      delta to be buffered (Binance: fetch the snapshot after the stream started).
    - ``trade_fill_limit``: at most this many trades (per symbol and reconnect) missed while
      disconnected are fetched over REST, the oldest first; any beyond are reported as
      ``TradesMissed`` (a long outage on a busy market would otherwise spend the REST
      request-weight budget: Binance weighs each 1,000-trade page 25 of 6,000 per minute).
    - ``record``: a :class:`tickwire.recorder.Recorder` that writes every frame of every public
      session (and the REST snapshots they apply) to recording files (None: no recording).
    - ``rest_fallback_after``: once the WebSocket has been down this long, poll the venue's
      REST API for the connection's symbols until it is back and in sync (BBO, trades, a book
      snapshot of ``rest_fallback_levels`` levels per side, every ``rest_fallback_every``
      seconds within the venue's weight budget; see :mod:`tickwire.connection.fallback`).
      None: never.
    """

    def __init__(
        self,
        *,
        stale_after: float | None = None,
        max_age: float | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        connect_timeout: float = 10.0,
        ack_timeout: float = 10.0,
        snapshot_timeout: float = 10.0,
        rotation_overlap: float = 1.0,
        first_delta_wait: float = 2.0,
        trade_fill_limit: int = 10_000,
        record: Recorder | None = None,
        rest_fallback_after: float | None = 5.0,
        rest_fallback_every: float = 1.0,
        rest_fallback_levels: int = 20,
    ) -> None:
        self.stale_after = stale_after
        self.max_age = max_age
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.connect_timeout = connect_timeout
        self.ack_timeout = ack_timeout
        self.snapshot_timeout = snapshot_timeout
        self.rotation_overlap = rotation_overlap
        self.first_delta_wait = first_delta_wait
        self.trade_fill_limit = trade_fill_limit
        self.record = record
        if rest_fallback_after is not None and rest_fallback_after < 0:
            raise ValueError(
                f"rest_fallback_after must be >= 0 or None, got {rest_fallback_after!r}"
            )
        if not rest_fallback_every > 0:
            raise ValueError(f"rest_fallback_every must be > 0, got {rest_fallback_every!r}")
        if rest_fallback_levels < 1:
            raise ValueError(f"rest_fallback_levels must be >= 1, got {rest_fallback_levels!r}")
        self.rest_fallback_after = rest_fallback_after
        self.rest_fallback_every = rest_fallback_every
        self.rest_fallback_levels = rest_fallback_levels
