"""Errors of the connection layer (all :class:`tickwire.TickwireError` subclasses)."""

from __future__ import annotations

from collections.abc import Sequence

from ..exceptions import ExchangeError

__all__ = ["SubscriptionError"]


class SubscriptionError(ExchangeError):
    """The exchange rejected a subscribe (or unsubscribe) request with an error reply.

    Attributes: ``streams`` (stream names in the rejected request), ``code`` and ``reason`` (the
    exchange's error code and text), ``request_id``. Fatal for the feed when it happens on
    connect or reconnect (the same request would fail the same way); raised by
    ``Feed.subscribe`` / ``Feed.unsubscribe`` for a live change.
    """

    def __init__(
        self,
        streams: Sequence[str],
        code: int | None,
        reason: str | None,
        request_id: object = None,
    ) -> None:
        self.streams = list(streams)
        more = " ..." if len(self.streams) > 10 else ""
        super().__init__(
            f"subscription rejected (code {code}): {reason}; streams: "
            f"{', '.join(self.streams[:10])}{more}",
            code,
            reason,
            request_id,
        )
