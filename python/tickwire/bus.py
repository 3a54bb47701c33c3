"""tickwire's event bus over Redis Streams: the wire layout (shared by the publisher,
:class:`tickwire.sinks.redis.RedisSink`, and readers) and :func:`subscribe`, the reader for
processes on other hosts.

Streams: one per (exchange, symbol, kind), named ``<prefix>:<exchange>:<symbol>:<kind>``
(``tw:binance:ETH/USDT:trade``; balances, which have no symbol, use ``account`` as their symbol:
``tw:bybit:account:balance``). Each entry has one field, ``e``: a msgpack array
``[LAYOUT_VERSION, value, value, ...]`` with the kind's fields in the order of
:data:`FIELDS` (prices, sizes and fees as exact decimal strings; ids as the exchange gives them;
times int ns since the Unix epoch; None where the venue gives nothing). A reader that meets a
layout version it does not know raises ``ValueError`` naming it rather than misreading fields.

Why msgpack arrays: the bench (``tickwire bench bus``) compares them with JSON objects in the
same run; positional fields make each entry about half the bytes and cheaper to build.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter
from typing import Any

__all__ = [
    "FIELDS",
    "KINDS",
    "LAYOUT_VERSION",
    "BusMessage",
    "BusReader",
    "decode_entry",
    "encode_event",
    "stream_name",
    "subscribe",
]

#: The entry layout version written by this tickwire (bumped when a kind's fields change).
LAYOUT_VERSION = 1

#: Fields per kind, in entry order; names ending in ``!`` are exact decimals (read with the
#: event's ``decimal(name)``, carried as strings, read back as ``Decimal``).
FIELDS: dict[str, tuple[str, ...]] = {
    "trade": ("price!", "size!", "side", "trade_id", "trade_ts", "exchange_ts", "receive_ts"),
    "bbo": (
        "bid_price!",
        "bid_size!",
        "ask_price!",
        "ask_size!",
        "sequence",
        "exchange_ts",
        "receive_ts",
    ),
    "candle": (
        "interval",
        "start_ts",
        "end_ts",
        "open!",
        "high!",
        "low!",
        "close!",
        "volume!",
        "trades",
        "closed",
        "exchange_ts",
        "receive_ts",
    ),
    "order": (
        "order_id",
        "client_order_id",
        "side",
        "order_type",
        "time_in_force",
        "status",
        "price!",
        "trigger_price!",
        "size!",
        "filled_size!",
        "average_price!",
        "reduce_only",
        "created_ts",
        "exchange_ts",
        "receive_ts",
    ),
    "fill": (
        "trade_id",
        "order_id",
        "client_order_id",
        "side",
        "price!",
        "size!",
        "fee!",
        "fee_asset",
        "is_maker",
        "liquidation",
        "exchange_ts",
        "receive_ts",
    ),
    "position": (
        "side",
        "size!",
        "entry_price!",
        "mark_price!",
        "unrealized_pnl!",
        "liquidation_price!",
        "leverage!",
        "margin_mode",
        "exchange_ts",
        "receive_ts",
    ),
    "balance": ("asset", "free!", "locked!", "total!", "exchange_ts", "receive_ts"),
}

_KIND_OF_CLASS = {
    "Trade": "trade",
    "BBO": "bbo",
    "RestTrade": "trade",  # the REST fallback's (connection/fallback.py)
    "RestBBO": "bbo",
    "Candle": "candle",
    "OrderUpdate": "order",
    "Fill": "fill",
    "Position": "position",
    "Balance": "balance",
}

#: The event kinds the bus carries (book updates are not: their levels stay in the
#: publisher's Rust book; publish ``bbo`` for the top of book).
KINDS = tuple(FIELDS)


def kind_of(event: object) -> str | None:
    """The bus kind of a tickwire event (``"trade"``, ...), None for kinds it does not carry."""
    return _KIND_OF_CLASS.get(type(event).__name__)


def stream_name(prefix: str, exchange: str, symbol: str, kind: str) -> str:
    """``<prefix>:<exchange>:<symbol>:<kind>`` (``symbol`` ``"account"`` for balances)."""
    return f"{prefix}:{exchange}:{symbol}:{kind}"


def _exact(name: str) -> Callable[[Any], str | None]:
    def get(ev: Any) -> str | None:
        d = ev.decimal(name)
        return None if d is None else str(d)

    return get


def _getters(kind: str) -> list[Callable[[Any], Any]]:
    return [_exact(name[:-1]) if name.endswith("!") else attrgetter(name) for name in FIELDS[kind]]


_GETTERS = {kind: _getters(kind) for kind in FIELDS}


def encode_event(event: object, prefix: str = "tw") -> tuple[str, bytes] | None:
    """(stream name, msgpack entry) of ``event``, or None for a kind the bus does not carry
    (``BookUpdate``, health events). Raises ``ImportError`` without ``msgpack`` (the
    ``tickwire[redis]`` extra)."""
    import msgpack  # type: ignore[import-untyped, unused-ignore]  # msgpack has no types

    kind = kind_of(event)
    if kind is None:
        return None
    ev: Any = event
    symbol = "account" if kind == "balance" else ev.symbol
    values = [LAYOUT_VERSION, *(get(ev) for get in _GETTERS[kind])]
    return stream_name(prefix, ev.exchange, symbol, kind), msgpack.packb(values)


def decode_entry(kind: str, payload: bytes) -> dict[str, Any]:
    """The fields of one entry of a ``kind`` stream as a dict (exact decimals as
    ``Decimal``). Raises ``ValueError`` naming an unknown kind or layout version, or an entry
    whose field count does not match."""
    import msgpack  # type: ignore[import-untyped, unused-ignore]  # msgpack has no types

    if kind not in FIELDS:
        raise ValueError(f"unknown bus kind {kind!r}; kinds: {', '.join(FIELDS)}")
    values = msgpack.unpackb(payload)
    if not isinstance(values, list) or not values or values[0] != LAYOUT_VERSION:
        version = values[0] if isinstance(values, list) and values else values
        raise ValueError(f"bus entry layout {version!r} is not {LAYOUT_VERSION} (upgrade tickwire)")
    names = FIELDS[kind]
    if len(values) != len(names) + 1:
        raise ValueError(f"a {kind} entry has {len(values) - 1} fields, expected {len(names)}")
    out: dict[str, Any] = {}
    for name, v in zip(names, values[1:], strict=True):
        if name.endswith("!"):
            out[name[:-1]] = None if v is None else Decimal(v)
        else:
            out[name] = v
    return out


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One event read from the bus: ``stream`` (its name), ``id`` (the Redis entry id,
    ``"1700000000000-0"``), ``exchange``, ``symbol``, ``kind`` and ``data`` (field name ->
    value, see :data:`FIELDS`; exact decimals as ``Decimal``)."""

    stream: str
    id: str
    exchange: str
    symbol: str
    kind: str
    data: dict[str, Any] = field(repr=False)


class BusReader:
    """Reads bus streams as one consumer of a Redis consumer group (see :func:`subscribe`).

    Delivery is at least once and in order per stream: on start the consumer first gets the
    entries it was given before but did not acknowledge (a crash or restart left them pending),
    then new ones. Acknowledged entries are never delivered to the group again. Acknowledge
    with :meth:`ack` after handling an entry, or pass ``auto_ack=True`` to acknowledge each
    entry when the next one is asked for (and on close)."""

    def __init__(
        self,
        url: str,
        streams: Sequence[str],
        *,
        group: str,
        consumer: str,
        count: int = 256,
        block_ms: int = 1000,
        auto_ack: bool = False,
    ) -> None:
        if not streams:
            raise ValueError("streams must name at least one bus stream")
        if count < 1 or block_ms < 0:
            raise ValueError(f"count must be >= 1 and block_ms >= 0, got {count}, {block_ms}")
        self.url, self.streams, self.group, self.consumer = url, list(streams), group, consumer
        self.count, self.block_ms, self.auto_ack = count, block_ms, auto_ack
        self._redis: Any = None
        # First this consumer's unacknowledged entries, per stream from a cursor (entries
        # handed out again but not acknowledged yet stay pending: the cursor skips them).
        self._pending_from: dict[str, str] = dict.fromkeys(self.streams, "0")
        self._buffer: list[BusMessage] = []
        self._to_ack: BusMessage | None = None

    async def __aenter__(self) -> BusReader:
        import redis.asyncio as aioredis
        from redis.exceptions import ResponseError

        self._redis = aioredis.from_url(self.url)
        for s in self.streams:
            await self._create_group(s, ResponseError)
        return self

    async def _create_group(self, stream: str, response_error: type[Exception]) -> None:
        try:  # from the stream's start: a new group sees everything still in the stream
            await self._redis.xgroup_create(stream, self.group, id="0", mkstream=True)
        except response_error as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists already: keep its position
                raise

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Acknowledge the last entry if ``auto_ack``, and close the connection."""
        if self._redis is None:
            return
        if self.auto_ack and self._to_ack is not None:
            await self.ack(self._to_ack)
        await self._redis.aclose()
        self._redis = None

    async def ack(self, *messages: BusMessage) -> None:
        """Acknowledge ``messages`` (they are never delivered to this group again)."""
        by_stream: dict[str, list[str]] = {}
        for m in messages:
            by_stream.setdefault(m.stream, []).append(m.id)
        for s, ids in by_stream.items():
            await self._redis.xack(s, self.group, *ids)
        if self._to_ack is not None and self._to_ack in messages:
            self._to_ack = None

    def __aiter__(self) -> AsyncIterator[BusMessage]:
        return self

    async def __anext__(self) -> BusMessage:
        if self._redis is None:
            raise StopAsyncIteration
        if self.auto_ack and self._to_ack is not None:
            await self.ack(self._to_ack)
        while not self._buffer:
            await self._fill()
        msg = self._buffer.pop(0)
        self._to_ack = msg
        return msg

    async def _fill(self) -> None:
        pending = bool(self._pending_from)
        reply = await self._redis.xreadgroup(
            self.group,
            self.consumer,
            dict(self._pending_from) if pending else dict.fromkeys(self.streams, ">"),
            count=self.count,
            block=None if pending else self.block_ms,
        )
        seen: set[str] = set()
        for raw_stream, entries in reply or ():
            stream = raw_stream.decode() if isinstance(raw_stream, bytes) else raw_stream
            _prefix, exchange, rest = stream.split(":", 2)
            symbol, _, kind = rest.rpartition(":")
            for raw_id, fields in entries:
                mid = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                seen.add(stream)
                if pending:
                    self._pending_from[stream] = mid
                if not fields:  # a pending entry trimmed away by MAXLEN: nothing to deliver
                    continue
                data = decode_entry(kind, fields[b"e"])
                self._buffer.append(BusMessage(stream, mid, exchange, symbol, kind, data))
        if pending:
            for stream in [s for s in self._pending_from if s not in seen]:
                del self._pending_from[stream]  # every unacknowledged entry was handed out


def subscribe(
    url: str,
    streams: Sequence[str],
    *,
    group: str,
    consumer: str,
    count: int = 256,
    block_ms: int = 1000,
    auto_ack: bool = False,
) -> BusReader:
    """A :class:`BusReader` of ``streams`` (names from :func:`stream_name`) as ``consumer`` of
    consumer ``group`` (created at the streams' start if missing) on the Redis at ``url``
    (``redis://host:6379/0``). Use it as ``async with subscribe(...) as bus: async for msg in
    bus: ...; await bus.ack(msg)``. Raises ``ValueError`` for no streams or a bad ``count`` /
    ``block_ms``; Redis errors as redis-py raises them (``redis.exceptions.ConnectionError``).
    Needs the ``tickwire[redis]`` extra."""
    return BusReader(
        url,
        streams,
        group=group,
        consumer=consumer,
        count=count,
        block_ms=block_ms,
        auto_ack=auto_ack,
    )
