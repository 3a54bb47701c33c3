"""The tickwire exception tree. Every error tickwire raises on purpose derives from
:class:`TickwireError`; the Rust core maps each of its errors onto exactly one class here."""

from __future__ import annotations


class TickwireError(Exception):
    """Base class of every tickwire error."""


class FrameError(TickwireError, ValueError):
    """A frame or REST body is not what the exchange documents (truncated JSON, wrong types,
    invalid UTF-8, an out-of-range number, ...). Nothing in any book was changed.

    Attributes: ``field`` (the JSON field at fault, or ``"json"`` for a syntax/type error) and
    ``reason`` (what was wrong)."""

    def __init__(self, message: str, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.field = field
        self.reason = reason


class SequenceGap(TickwireError):  # noqa: N818 -- public API name since 0.1 (a gap, not an "error")
    """A depth delta does not continue the book's update-id chain (a message was lost), or a
    snapshot is too old to bridge the buffered deltas. The book of ``symbol`` now waits for a new
    REST snapshot (``Decoder.apply_snapshot``) and buffers deltas meanwhile.

    Attributes: ``symbol`` (unified), ``expected`` and ``received`` (the update ids the exchange's
    rule compared: Binance spot ``prev u + 1`` vs ``U``; USD-M ``prev u`` vs ``pu``)."""

    def __init__(self, message: str, symbol: str = "", expected: int = 0, received: int = 0):
        super().__init__(message)
        self.symbol = symbol
        self.expected = expected
        self.received = received


class ExchangeError(TickwireError):
    """The exchange answered a request with an error reply. Attributes: ``code``, ``reason``
    (the exchange's message) and ``request_id``."""

    def __init__(
        self,
        message: str,
        code: int | None = None,
        reason: str | None = None,
        request_id: object = None,
    ):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.request_id = request_id


class CallbackError(TickwireError):
    """A handler called by ``Decoder.dispatch`` raised. ``event`` is what it was given; the
    original exception is ``__cause__``. The frame's other events were still delivered."""

    def __init__(self, message: str, event: object = None):
        super().__init__(message)
        self.event = event


class AuthError(ExchangeError):
    """The exchange refused the account's credentials: a rejected login, signature, API key,
    listen key or token request (``code`` and ``reason`` are the exchange's own; ``exchange``
    its id). Raised to the user once and never retried in a loop: the same keys would be
    refused again (a transient failure, a timeout or a 5xx, is retried with backoff instead).
    The message never carries a secret."""

    def __init__(
        self,
        message: str,
        code: int | None = None,
        reason: str | None = None,
        exchange: str = "",
    ):
        super().__init__(message, code=code, reason=reason)
        self.exchange = exchange
