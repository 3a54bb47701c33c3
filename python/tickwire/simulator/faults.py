"""Fault descriptions. They are plain values; the server and connections act on them.

Per-connection faults (:class:`CloseAfter`, :class:`Stall`, :class:`Drop`, :class:`Garbage`,
:class:`BadChecksum`, :class:`ForceSnapshot`, :class:`Lifetime`) count data messages *of that
connection* from the moment the fault is attached: at construction
(``Simulator(faults=[...])``: every new connection) or by ``Simulator.inject(fault)`` (all open
connections, or one); a message the venue's ``stamp`` withholds counts too. Server-wide faults
(:class:`SlowSnapshot`, :class:`SnapshotFailure`, :class:`ServerShutdown`) act once when
injected or configured.

Account faults (the private side, ``account.py``) act on ``sim.accounts``:
:class:`TokenExpiry` (every live listen key / token expires now), :class:`AuthServerError`
(the next logins or signed REST requests get the venue's 5xx / "system busy"),
:class:`ClockSkew` (the exchange clock runs ahead or behind, so unmeasured client timestamps
look stale or from the future) and :class:`FillBurst` (scripted fills of a resting order with
a disconnect in the middle). ``TokenExpiry`` and ``FillBurst`` only act when injected.

``parse_fault("close_after=100")`` builds one from a CLI-style string. What the venue sends
(a shutdown notice, a corrupted checksum, a fresh snapshot, its lifetime) comes from its
``VenueSim`` and ``MarketSpec``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


def _require(fault: object, name: str, value: float | None, *, positive: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is None or a finite number >= 0 (> 0 if
    ``positive``), naming the fault, the parameter and the bad value."""
    if value is None:
        return
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        allowed = "a number > 0" if positive else "a number >= 0"
        raise ValueError(f"{type(fault).__name__}.{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class CloseAfter:
    """Close the connection after it has sent ``messages`` more data messages.

    ``abort=True`` drops the TCP connection without a WebSocket close frame (what a network
    failure looks like); otherwise a close frame with ``code``/``reason`` is sent.
    """

    messages: int
    code: int = 1000
    reason: str = ""
    abort: bool = False

    def __post_init__(self) -> None:
        _require(self, "messages", self.messages)


@dataclass(frozen=True)
class Stall:
    """After ``after`` more data messages, send nothing at all (no data, no pings, no replies)
    for ``seconds``.

    Afterwards the held frames are delivered (a TCP-level stall) unless ``lose_data`` is true,
    in which case data frames of the stall are discarded, leaving a real sequence gap.
    """

    seconds: float
    after: int = 0
    lose_data: bool = False

    def __post_init__(self) -> None:
        _require(self, "seconds", self.seconds)
        _require(self, "after", self.after)


@dataclass(frozen=True)
class Drop:
    """Do not send one message, creating a real gap in that stream's sequence.

    ``line``: drop exactly that recording line (0-based) when it is replayed. Otherwise drop
    the ``skip``+1-th next message of ``stream`` (any stream if ``None``).
    """

    line: int | None = None
    stream: str | None = None
    skip: int = 0

    def __post_init__(self) -> None:
        _require(self, "line", self.line)
        _require(self, "skip", self.skip)


@dataclass(frozen=True)
class Garbage:
    """After ``after`` more data messages, send one malformed frame.

    ``payload`` default: the first half of the next recorded frame (truncated JSON, valid
    UTF-8). ``binary=True`` sends it as a binary frame (text-only venues never do).
    """

    after: int = 0
    payload: bytes | None = None
    binary: bool = False

    def __post_init__(self) -> None:
        _require(self, "after", self.after)


@dataclass(frozen=True)
class BadChecksum:
    """Send one book frame with a checksum the client's book cannot reproduce: the ``skip``+1-th
    next message of ``stream`` (any stream if ``None``) that carries a checksum is replaced by
    what the venue makes of it (``VenueSim.corrupt_checksum``: its checksum field changed, or
    one of its levels, so that the client's next checksum fails). Messages without a checksum
    are sent unchanged and do not count toward ``skip``. On a venue without checksums the fault
    never fires."""

    stream: str | None = None
    skip: int = 0

    def __post_init__(self) -> None:
        _require(self, "skip", self.skip)


@dataclass(frozen=True)
class ForceSnapshot:
    """After ``after`` more data messages, send a fresh book snapshot as of that point for
    ``stream`` (default: every stream the connection subscribed), as the venue sends one
    unprompted (``VenueSim.fresh_snapshot``; a venue whose snapshots come over REST sends
    nothing). The client must reset that book to it."""

    after: int = 0
    stream: str | None = None

    def __post_init__(self) -> None:
        _require(self, "after", self.after)


@dataclass(frozen=True)
class Lifetime:
    """Close connections once they are ``seconds`` old with ``code`` (the venue's lifetime,
    ``MarketSpec.lifetime``, is attached to every connection by default)."""

    seconds: float
    code: int = 1001
    reason: str = "connection lifetime exceeded"

    def __post_init__(self) -> None:
        _require(self, "seconds", self.seconds, positive=True)


@dataclass(frozen=True)
class SlowSnapshot:
    """Delay REST book snapshot responses by ``delay`` seconds (the next ``count``, or all if
    None).

    The body is taken when the request arrives, so a slow response carries an older book.
    """

    delay: float
    count: int | None = None

    def __post_init__(self) -> None:
        _require(self, "delay", self.delay)
        _require(self, "count", self.count, positive=True)


@dataclass(frozen=True)
class SnapshotFailure:
    """Fail the next ``count`` REST book snapshot requests: answer ``status`` (a 5xx, or 429 /
    418 with a ``Retry-After`` of ``retry_after`` seconds when given) with a plain body, or with
    ``hang=True`` send nothing until the client gives up (its timeout)."""

    status: int = 503
    count: int = 1
    retry_after: int | None = None
    hang: bool = False

    def __post_init__(self) -> None:
        _require(self, "count", self.count, positive=True)
        _require(self, "retry_after", self.retry_after)
        if not 400 <= self.status <= 599:
            raise ValueError(f"SnapshotFailure.status must be a 4xx or 5xx, got {self.status!r}")


@dataclass(frozen=True)
class ServerShutdown:
    """Send the venue's maintenance notice (``VenueSim.shutdown_notice``, if it has one) to
    connections and close them ``grace`` s later with 1001."""

    grace: float = 1.0

    def __post_init__(self) -> None:
        _require(self, "grace", self.grace)


@dataclass(frozen=True)
class TokenExpiry:
    """Expire every live listen key / token now (the venue sends its expiry event, e.g. a
    ``listenKeyExpired``, and closes what it closes; a keepalive of one then fails)."""


@dataclass(frozen=True)
class AuthServerError:
    """Answer the next ``count`` auth requests at ``where`` with the venue's server error
    (its HTTP 5xx or "system busy" reply): ``"login"`` (WebSocket logins), ``"rest"`` (signed
    REST requests, listen-key / token requests) or ``"any"``. A client must back off and
    retry these, unlike a rejected key."""

    count: int = 1
    where: str = "any"

    def __post_init__(self) -> None:
        _require(self, "count", self.count, positive=True)
        if self.where not in ("login", "rest", "any"):
            raise ValueError(
                f"AuthServerError.where must be login, rest or any, got {self.where!r}"
            )


@dataclass(frozen=True)
class ClockSkew:
    """The exchange clock runs ``ms`` milliseconds ahead of the local clock (negative:
    behind): server-time replies, signature windows and account timestamps follow it. Sets
    the skew (not cumulative); ``ClockSkew(0)`` undoes it."""

    ms: int


@dataclass(frozen=True)
class FillBurst:
    """Fill the open order ``order`` (client or exchange id) ``fills`` times by ``size``
    (a decimal string) at its limit price, back to back; right after the
    ``disconnect_after``-th fill the connections receiving the account's private streams are
    closed (``code``), so the later fills happen while the client is away and must be fetched
    over REST. ``account``: name, key or address (default: the first registered)."""

    order: str
    fills: int
    size: str
    disconnect_after: int
    account: str | None = None
    code: int = 1011

    def __post_init__(self) -> None:
        _require(self, "fills", self.fills, positive=True)
        _require(self, "disconnect_after", self.disconnect_after)


ACCOUNT_FAULTS = (TokenExpiry, AuthServerError, ClockSkew, FillBurst)


class SnapshotDelays:
    """Pending :class:`SlowSnapshot` delays: each applies to the next ``count`` snapshot
    responses (all of them if ``count`` is None); delays that apply together add up."""

    def __init__(self) -> None:
        self._entries: list[tuple[float, int | None]] = []  # (seconds, responses left or None)

    def add(self, delay: float, count: int | None) -> None:
        """Delay the next ``count`` responses (None: every one) by ``delay`` seconds."""
        self._entries.append((delay, count))

    def take(self) -> float:
        """Seconds to delay the response being served now; uses up one response of each."""
        total = 0.0
        keep: list[tuple[float, int | None]] = []
        for delay, left in self._entries:
            total += delay
            if left is None:
                keep.append((delay, None))
            elif left > 1:
                keep.append((delay, left - 1))
        self._entries = keep
        return total


Fault = (
    CloseAfter
    | Stall
    | Drop
    | Garbage
    | BadChecksum
    | ForceSnapshot
    | Lifetime
    | SlowSnapshot
    | SnapshotFailure
    | ServerShutdown
    | TokenExpiry
    | AuthServerError
    | ClockSkew
    | FillBurst
)
ConnectionFault = CloseAfter | Stall | Drop | Garbage | BadChecksum | ForceSnapshot | Lifetime
CONNECTION_FAULTS = (CloseAfter, Stall, Drop, Garbage, BadChecksum, ForceSnapshot, Lifetime)

_NAMES: dict[str, tuple[type[Fault], str]] = {
    "close_after": (CloseAfter, "messages"),
    "abort_after": (CloseAfter, "messages"),
    "stall": (Stall, "seconds"),
    "drop_line": (Drop, "line"),
    "drop_stream": (Drop, "stream"),
    "garbage_after": (Garbage, "after"),
    "bad_checksum": (BadChecksum, "skip"),
    "force_snapshot": (ForceSnapshot, "after"),
    "lifetime": (Lifetime, "seconds"),
    "slow_snapshot": (SlowSnapshot, "delay"),
    "snapshot_failure": (SnapshotFailure, "status"),
    "shutdown": (ServerShutdown, "grace"),
    "auth_error": (AuthServerError, "count"),
    "clock_skew": (ClockSkew, "ms"),
}


def parse_fault(spec: str) -> Fault:
    """Parse ``name=value[,key=value...]``, e.g. ``close_after=500``, ``stall=5,after=100``,
    ``drop_line=1234``, ``drop_stream=ethusdt@depth@100ms,skip=3``, ``garbage_after=10``,
    ``bad_checksum=5`` (the 6th checksummed book frame, ``,stream=...`` to pick one stream),
    ``force_snapshot=100`` (after 100 messages, ``,stream=...``), ``lifetime=30``, ``slow_snapshot=2``, ``shutdown=1``, ``abort_after=500``,
    ``auth_error=2,where=login`` (the next 2 logins get the venue's server error),
    ``clock_skew=-5000`` (the exchange clock 5 s behind), ``snapshot_failure=429,retry_after=1``
    (the next REST snapshot answered 429), ``snapshot_failure=503,count=3,hang=true``.

    Raises ``ValueError`` naming ``spec`` for an unknown name or parameter, a value of the
    wrong type, or a count or duration that is negative (a lifetime must be > 0).
    """
    parts = [p for p in spec.split(",") if p]
    if not parts or "=" not in parts[0]:
        raise ValueError(f"bad fault spec {spec!r}; expected name=value[,key=value]")
    name, value = parts[0].split("=", 1)
    if name not in _NAMES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(_NAMES))}")
    cls, main = _NAMES[name]
    raw: dict[str, str] = {main: value}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        raw[k] = v
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    typed: dict[str, Any] = {"abort": True} if name == "abort_after" else {}
    for k, v in raw.items():
        if k not in fields:
            known = ", ".join(f for f in fields if f != main)
            raise ValueError(f"fault {spec!r}: {name} has no parameter {k!r}; known: {known}")
        try:
            typed[k] = _coerce(v, fields[k])
        except ValueError:
            label = name if k == main else k
            raise ValueError(
                f"fault {spec!r}: {label}={v!r} is not {_TYPE_NAMES[fields[k]]}"
            ) from None
    try:
        fault: Fault = cls(**typed)
    except ValueError as exc:
        raise ValueError(f"fault {spec!r}: {exc}") from None
    return fault


_TYPE_NAMES = {
    "int": "an integer",
    "int | None": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "str": "a string",
    "str | None": "a string",
    "bytes | None": "bytes",
}


def _coerce(v: str, t: str) -> object:
    """``v`` as the field type named ``t``; ``ValueError`` if it is not one."""
    if t.startswith("bool"):
        if v.lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise ValueError(v)
        return v.lower() in ("1", "true", "yes")
    if t.startswith("int"):
        return int(v)
    if t.startswith("float"):
        return float(v)
    if t.startswith("bytes"):
        return v.encode()
    return v
