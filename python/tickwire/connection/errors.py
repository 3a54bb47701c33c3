"""Errors of the connection layer (all :class:`tickwire.TickwireError` subclasses)."""

from __future__ import annotations

from collections.abc import Sequence

from ..exceptions import ExchangeError, TickwireError

__all__ = ["EndpointError", "StartTimeoutError", "SubscriptionError"]


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


class EndpointError(TickwireError):
    """The exchange endpoint refused the connection for good: a 4xx answer to the WebSocket
    upgrade (wrong path, market or credentials; not 408, 418 or 429, which pass), an unknown
    host before the first connection (after one, a failed lookup is a resolver outage and is
    retried), or a URL that is not a WebSocket URL. Retrying would fail the same way, so the feed
    gives up at once.

    Attributes: ``url`` (with secrets hidden), ``status`` (the HTTP status, or None) and
    ``reason`` (one line)."""

    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.status = status
        self.reason = reason


class StartTimeoutError(TickwireError, TimeoutError):
    """The feed was not ready within its start timeout; the message names each connection that
    was not, with its URL (secrets hidden) and its last error, on one line. Also a
    ``TimeoutError``."""
