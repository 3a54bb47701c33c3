"""PostgreSQL sink: trades and fills (optionally BBO and candles) stored once each, whatever
reconnects, REST backfills, replays or restarts deliver twice.

``write(event)`` only appends a row to an in-memory buffer (usable directly as a Feed callback);
a background task flushes a batch when ``batch_size`` rows are waiting or ``flush_interval``
seconds have passed: ``COPY`` into a per-connection temporary staging table, then one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` into the real table, in one transaction. Every
table has a unique key (trades and fills: exchange, symbol, trade id), so a batch replayed after
a lost commit acknowledgement, a REST backfill of trades already stored, or a restart that
re-reads a spill file inserts nothing twice.

While the database is unreachable, rows stay in memory up to ``max_buffered``; past that the
buffer is appended to a local spill file (JSON lines), and when the database is back the spill
file is replayed before newer rows. Nothing is dropped: a sink closed while the database is
still down spills what it holds and logs the file to pass as ``spill_path`` to the next run.

Schema (created and migrated by the sink, versioned in ``<schema>.schema_version``), all
timestamps int ns since the Unix epoch (``bigint``), prices, sizes and fees exact (``numeric``,
from the event's ``decimal(name)``):

- ``trades(exchange, symbol, trade_id text, side, price, size, trade_ts, exchange_ts,
  receive_ts)``, key (exchange, symbol, trade_id);
- ``fills(exchange, symbol, trade_id, order_id, client_order_id, side, price, size, fee,
  fee_asset, is_maker, liquidation, exchange_ts, receive_ts)``, key (exchange, symbol, trade_id);
- ``bbo(exchange, symbol, bid_price, bid_size, ask_price, ask_size, sequence, exchange_ts,
  receive_ts)``, unique on the exchange's values (a redelivered BBO is the same row);
- ``candles(exchange, symbol, interval, start_ts, end_ts, open, high, low, close, volume,
  trades, closed, exchange_ts, receive_ts)``, key (exchange, symbol, interval, start_ts); an open
  candle is updated in place until a closed one arrives.

Needs asyncpg: ``pip install 'tickwire[postgres]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg

from .. import _core as core
from ..connection.fallback import REST_KINDS
from ..redact import redact_url, scrub

__all__ = ["KINDS", "SCHEMA_VERSION", "PostgresSink", "SchemaVersionError", "Table"]

log = logging.getLogger(__name__)

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    """One stored event kind: its table ``name``, ``columns`` as (name, SQL type) in row order,
    and how a row whose key is already stored is treated (``on_conflict``, after
    ``INSERT ... SELECT``); ``distinct_on`` names the key where an upsert must see each key once
    per batch (the latest row by ``receive_ts`` wins)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    on_conflict: str = "ON CONFLICT DO NOTHING"
    distinct_on: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """Column names in row order."""
        return [c for c, _ in self.columns]


_TRADES = Table(
    "trades",
    (
        ("exchange", "text"), ("symbol", "text"), ("trade_id", "text"), ("side", "text"),
        ("price", "numeric"), ("size", "numeric"),
        ("trade_ts", "bigint"), ("exchange_ts", "bigint"), ("receive_ts", "bigint"),
    ),
)  # fmt: skip
_FILLS = Table(
    "fills",
    (
        ("exchange", "text"), ("symbol", "text"), ("trade_id", "text"), ("order_id", "text"),
        ("client_order_id", "text"), ("side", "text"), ("price", "numeric"),
        ("size", "numeric"), ("fee", "numeric"), ("fee_asset", "text"),
        ("is_maker", "boolean"), ("liquidation", "boolean"),
        ("exchange_ts", "bigint"), ("receive_ts", "bigint"),
    ),
)  # fmt: skip
_BBO = Table(
    "bbo",
    (
        ("exchange", "text"), ("symbol", "text"),
        ("bid_price", "numeric"), ("bid_size", "numeric"),
        ("ask_price", "numeric"), ("ask_size", "numeric"),
        ("sequence", "bigint"), ("exchange_ts", "bigint"), ("receive_ts", "bigint"),
    ),
)  # fmt: skip
_CANDLE_KEY = ("exchange", "symbol", "interval", "start_ts")
_CANDLES = Table(
    "candles",
    (
        ("exchange", "text"),
        ("symbol", "text"),
        ("interval", "text"),
        ("start_ts", "bigint"),
        ("end_ts", "bigint"),
        ("open", "numeric"),
        ("high", "numeric"),
        ("low", "numeric"),
        ("close", "numeric"),
        ("volume", "numeric"),
        ("trades", "bigint"),
        ("closed", "boolean"),
        ("exchange_ts", "bigint"),
        ("receive_ts", "bigint"),
    ),
    # A closed candle is final; an open one is replaced by a later state of itself (volume
    # only grows within a candle, so an older state replayed late never wins).
    on_conflict=(
        f"ON CONFLICT ({', '.join(_CANDLE_KEY)}) DO UPDATE SET "
        "end_ts = excluded.end_ts, open = excluded.open, high = excluded.high, "
        "low = excluded.low, close = excluded.close, volume = excluded.volume, "
        "trades = excluded.trades, closed = excluded.closed, "
        "exchange_ts = excluded.exchange_ts, receive_ts = excluded.receive_ts "
        "WHERE t.closed IS NOT TRUE "
        "AND (excluded.closed IS TRUE OR excluded.volume >= t.volume)"
    ),
    distinct_on=_CANDLE_KEY,
)


def _trade_row(ev: core.Trade) -> Row:
    return (
        ev.exchange, ev.symbol, str(ev.trade_id), ev.side,
        ev.decimal("price"), ev.decimal("size"),
        ev.trade_ts, ev.exchange_ts, ev.receive_ts,
    )  # fmt: skip


def _fill_row(ev: core.Fill) -> Row:
    return (
        ev.exchange, ev.symbol, ev.trade_id, ev.order_id, ev.client_order_id, ev.side,
        ev.decimal("price"), ev.decimal("size"), ev.decimal("fee"), ev.fee_asset,
        ev.is_maker, ev.liquidation, ev.exchange_ts, ev.receive_ts,
    )  # fmt: skip


def _bbo_row(ev: core.BBO) -> Row:
    return (
        ev.exchange, ev.symbol,
        ev.decimal("bid_price"), ev.decimal("bid_size"),
        ev.decimal("ask_price"), ev.decimal("ask_size"),
        ev.sequence, ev.exchange_ts, ev.receive_ts,
    )  # fmt: skip


def _candle_row(ev: core.Candle) -> Row:
    return (
        ev.exchange, ev.symbol, ev.interval, ev.start_ts, ev.end_ts,
        ev.decimal("open"), ev.decimal("high"), ev.decimal("low"), ev.decimal("close"),
        ev.decimal("volume"), ev.trades, ev.closed, ev.exchange_ts, ev.receive_ts,
    )  # fmt: skip


#: Stored kinds: name -> (event class, table, row mapper). A new kind is a Table, a mapper
#: and a migration that creates its table.
KINDS: dict[str, tuple[type, Table, Callable[[Any], Row]]] = {
    "trades": (core.Trade, _TRADES, _trade_row),
    "fills": (core.Fill, _FILLS, _fill_row),
    "bbo": (core.BBO, _BBO, _bbo_row),
    "candles": (core.Candle, _CANDLES, _candle_row),
}


def _create(t: Table, tail: str) -> str:
    cols = ",\n    ".join(f"{n} {ty}" for n, ty in t.columns)
    return f"CREATE TABLE {{s}}.{t.name} (\n    {cols},\n    {tail}\n)"


#: (version, description, statements); ``{s}`` is the schema. Applied in order, each version
#: once, in one transaction under an advisory lock (concurrent sinks migrate one at a time).
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "trades, fills, bbo, candles",
        (
            _create(_TRADES, "PRIMARY KEY (exchange, symbol, trade_id)"),
            _create(_FILLS, "PRIMARY KEY (exchange, symbol, trade_id)"),
            _create(
                _BBO,
                "UNIQUE (exchange, symbol, sequence, exchange_ts, receive_ts, "
                "bid_price, bid_size, ask_price, ask_size)",
            ),
            _create(_CANDLES, f"PRIMARY KEY ({', '.join(_CANDLE_KEY)})"),
            "CREATE INDEX ON {s}.trades (exchange, symbol, trade_ts)",
            "CREATE INDEX ON {s}.fills (exchange, order_id)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Errors of a connect or a batch: the database is down, restarting or cut the session; retried
# with backoff (a batch is replayed whole: its rows' keys make a repeat harmless).
_OUTAGE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # a call on a session the server just cut
)


class SchemaVersionError(RuntimeError):
    """The database's schema is newer than this tickwire knows (``.found`` > ``.supported``):
    upgrade tickwire rather than write into a schema it does not understand."""

    def __init__(self, schema: str, found: int, supported: int) -> None:
        super().__init__(
            f"schema {schema!r} is at version {found}; this tickwire supports up to {supported}"
        )
        self.found = found
        self.supported = supported


async def migrate(conn: asyncpg.Connection, schema: str = "tickwire") -> int:
    """Create ``schema`` and its tables, or bring them to :data:`SCHEMA_VERSION`; returns the
    version found before (0: a new database). Raises :class:`SchemaVersionError` when the
    database is newer than this code."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"tickwire:{schema}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_version ("
            "version integer PRIMARY KEY, description text NOT NULL, applied_ns bigint NOT NULL)"
        )
        found: int = await conn.fetchval(
            f"SELECT coalesce(max(version), 0) FROM {schema}.schema_version"  # noqa: S608 - identifier checked
        )
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(schema, found, SCHEMA_VERSION)
        for version, description, statements in MIGRATIONS:
            if version <= found:
                continue
            for sql in statements:
                await conn.execute(sql.format(s=schema))
            await conn.execute(
                f"INSERT INTO {schema}.schema_version VALUES ($1, $2, $3)",  # noqa: S608
                version,
                description,
                time.time_ns(),
            )
        return found


def _decoder(sql_type: str) -> Callable[[Any], Any]:
    if sql_type == "numeric":
        return lambda v: None if v is None else Decimal(v)
    return lambda v: v


class PostgresSink:
    """Store a feed's trades (and fills; optionally BBO and candles) in PostgreSQL, each row
    once (see the module docstring for the tables and keys).

    ``async with PostgresSink(dsn) as sink:`` connects (a database that is down at start is
    retried in the background, rows buffer meanwhile), creates or migrates the schema, and
    starts the flusher; leaving the block flushes what is buffered (waiting up to
    ``close_timeout`` s for the database, then spilling the rest to the spill file).

    - ``dsn``: a libpq connection string or ``postgresql://`` URL (its password never appears
      in a repr, log line or stats).
    - ``kinds``: which of ``"trades"``, ``"fills"``, ``"bbo"``, ``"candles"`` to store; events
      of other types given to :meth:`write` are ignored (so it also works as ``on_event``).
    - ``schema``: the PostgreSQL schema holding the tables (a lowercase identifier).
    - ``batch_size`` rows / ``flush_interval`` s: a batch is written when either is reached.
    - ``max_buffered``: rows held in memory (about 550 bytes per trade row) while the database
      is unreachable before they are appended to ``spill_path`` (default: a new file in the temp directory on first use). A
      spill file left by an earlier run at ``spill_path`` is replayed at start.
    - ``retry_interval`` s: first reconnect delay, doubled per failure up to 5 s.

    Raises ``ValueError`` for a bad option, :class:`SchemaVersionError` from ``__aenter__`` if
    the database's schema is newer than this code.
    """

    def __init__(
        self,
        dsn: str,
        *,
        kinds: Iterable[str] = ("trades", "fills"),
        schema: str = "tickwire",
        batch_size: int = 5000,
        flush_interval: float = 0.5,
        max_buffered: int = 100_000,
        spill_path: str | os.PathLike[str] | None = None,
        retry_interval: float = 0.5,
        connect_timeout: float = 5.0,
        close_timeout: float = 10.0,
    ) -> None:
        kinds = list(kinds)
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown sink kind(s) {unknown}; known: {sorted(KINDS)}")
        if not _IDENT.fullmatch(schema):
            raise ValueError(f"schema must be a lowercase SQL identifier, got {schema!r}")
        if batch_size < 1 or max_buffered < 1:
            raise ValueError("batch_size and max_buffered must be >= 1")
        if flush_interval <= 0 or retry_interval <= 0:
            raise ValueError("flush_interval and retry_interval must be > 0")
        self._dsn = dsn
        self.schema = schema
        self.kinds = tuple(kinds)
        self._routes: dict[type, tuple[list[Row], Callable[[Any], Row]]] = {}
        self._buf: dict[str, list[Row]] = {}
        for k in self.kinds:
            cls, _, mapper = KINDS[k]
            self._buf[k] = []
            self._routes[cls] = (self._buf[k], mapper)
        for rest_cls, cls in REST_KINDS.items():  # REST fallback events: rows of their kind
            if cls in self._routes:
                self._routes[rest_cls] = self._routes[cls]
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_buffered = max_buffered
        self._retry_interval = retry_interval
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._spill_path: Path | None = Path(spill_path) if spill_path is not None else None
        self._spill_given = spill_path is not None  # a file the user named is never deleted
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._in_memory = 0
        self._in_flight = 0
        self._spill_pending = 0
        self._stats = {
            "rows_received": 0,
            "rows_written": 0,
            "duplicates": 0,
            "batches": 0,
            "spilled": 0,
            "replayed": 0,
            "errors": 0,
            "reconnects": 0,
            "last_batch_ns": 0,
            "last_batch_rows": 0,
        }
        self._connects = 0
        self._turn = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"PostgresSink({redact_url(self._dsn)!r}, kinds={list(self.kinds)})"

    # --- hot path ------------------------------------------------------------------------------
    def write(self, event: object) -> None:
        """Queue ``event`` for storage if it is of a stored kind (ignored otherwise). Never
        blocks on the database: appends one row and returns; from the event loop's thread only.
        While the database is unreachable and ``max_buffered`` rows are held, this call appends
        them to the spill file (a file write, not a network wait)."""
        route = self._routes.get(type(event))
        if route is None:
            return
        buf, mapper = route
        buf.append(mapper(event))
        self._stats["rows_received"] += 1
        self._in_memory += 1
        if self._in_memory >= self._batch_size and self._wake is not None:
            self._wake.set()
        if self._in_memory + self._in_flight > self._max_buffered:
            self._spill()

    def stats(self) -> dict[str, Any]:
        """Counters: ``rows_received`` (accepted by :meth:`write`), ``rows_written`` (inserted;
        for candles also updated), ``duplicates`` (rows whose key was already stored),
        ``batches``, ``backlog`` (rows not yet stored: ``in_memory`` + ``in_flight`` +
        ``spill_pending``), ``spilled`` (rows ever written to the spill file), ``replayed``
        (rows read back from it), ``errors`` (failed batches or connects), ``reconnects``,
        ``connected``, ``last_batch_ns`` / ``last_batch_rows`` (latency and size of the last
        batch: COPY + INSERT + commit), ``spill_path`` (str or None)."""
        out: dict[str, Any] = dict(self._stats)
        out.update(
            in_memory=self._in_memory,
            in_flight=self._in_flight,
            spill_pending=self._spill_pending,
            backlog=self._in_memory + self._in_flight + self._spill_pending,
            connected=self._conn is not None and not self._conn.is_closed(),
            spill_path=str(self._spill_path) if self._spill_path else None,
        )
        return out

    # --- lifecycle -----------------------------------------------------------------------------
    async def __aenter__(self) -> PostgresSink:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect and migrate (a connection failure is logged and retried in the background),
        count a spill file left at ``spill_path``, start the flusher."""
        self._wake = wake = asyncio.Event()
        self._closing = False
        for path in self._spill_files():
            self._spill_pending += _count_lines(path)
        try:
            await self._connection()
        except SchemaVersionError:
            raise
        except _OUTAGE as exc:
            self._note_error("connect", exc)
        self._task = asyncio.create_task(self._run(wake), name="tickwire-postgres-sink")

    async def flush(self, timeout: float = 30.0) -> None:
        """Write everything accepted so far (memory and spill file) and return once it is
        stored. Raises ``TimeoutError`` if the database does not take it within ``timeout`` s
        (nothing is lost: it stays queued)."""
        if self._wake is None:
            raise RuntimeError("the sink is not started")
        deadline = time.monotonic() + timeout
        while self._in_memory or self._in_flight or self._spill_pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sink backlog of {self.stats()['backlog']} rows not flushed")
            self._wake.set()
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Flush and stop. If the database stays unreachable for ``close_timeout`` s, the rows
        still in memory are spilled to the file (logged) for a later run to replay."""
        if self._task is None:
            return
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        task, self._task = self._task, None
        done, _ = await asyncio.wait({task}, timeout=self._close_timeout)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif task.exception() is not None:  # SchemaVersionError: upgraded under this process
            log.error("postgres sink stopped: %s", task.exception())
        if self._in_memory:
            self._spill()
        if self._spill_pending:
            log.warning(
                "postgres sink closed with %d rows not stored; they are in %s "
                "(pass spill_path= to replay them)",
                self._spill_pending,
                self._spill_path,
            )
        elif self._spill_path is not None and not self._spill_given:
            self._spill_path.unlink(missing_ok=True)
        await self._disconnect()

    # --- flusher -------------------------------------------------------------------------------
    async def _run(self, wake: asyncio.Event) -> None:
        delay = self._retry_interval
        while True:
            if not self._closing:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._flush_interval)
            wake.clear()
            if self._closing and not (self._in_memory or self._spill_pending):
                return
            try:
                conn = await self._connection()
                await self._replay_spill(conn)
                while self._in_memory:
                    await self._write_batch(conn, self._take())
                delay = self._retry_interval
            except SchemaVersionError:
                raise
            except Exception as exc:  # the flusher must outlive any failure: rows are at stake
                if not isinstance(exc, _OUTAGE):
                    log.exception("postgres sink: unexpected error, retrying")
                self._note_error("write", exc)
                await self._disconnect()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _note_error(self, what: str, exc: BaseException) -> None:
        self._stats["errors"] += 1
        self.last_error = scrub(f"{type(exc).__name__}: {exc}", self._dsn)
        log.warning(
            "postgres sink %s failed (%s); %d rows queued",
            what,
            self.last_error,
            self.stats()["backlog"],
        )

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            await migrate(conn, self.schema)
            # Every kind: a spill file of an earlier run may hold kinds this one does not take.
            for _, t, _ in KINDS.values():
                await conn.execute(
                    f"CREATE TEMP TABLE tw_stage_{t.name} "
                    f"(LIKE {self.schema}.{t.name}) ON COMMIT DELETE ROWS"
                )
        except BaseException:
            await conn.close(timeout=1)
            raise
        self._connects += 1
        if self._connects > 1:
            self._stats["reconnects"] += 1
        self._conn = conn
        return conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=1)
            except _OUTAGE:
                conn.terminate()

    def _take(self) -> dict[str, list[Row]]:
        """Up to ``batch_size`` rows out of memory (oldest first), counted as in flight."""
        room = self._batch_size
        batch: dict[str, list[Row]] = {}
        # Start from another kind each batch: a busy kind never starves a quiet one.
        kinds = list(self._buf.items())
        self._turn = (self._turn + 1) % len(kinds)
        for kind, buf in kinds[self._turn :] + kinds[: self._turn]:
            if not buf or not room:
                continue
            n = min(room, len(buf))
            batch[kind] = buf[:n]
            del buf[:n]
            room -= n
        taken = self._batch_size - room
        self._in_memory -= taken
        self._in_flight += taken
        return batch

    async def _write_batch(
        self, conn: asyncpg.Connection, batch: dict[str, list[Row]], *, spilled: bool = False
    ) -> None:
        """One transaction: COPY each kind's rows into its staging table, INSERT ... SELECT
        into the real table. On any failure the rows go back to the front of memory (a batch
        from the spill file stays in the file)."""
        n = sum(len(r) for r in batch.values())
        t0 = time.perf_counter_ns()
        inserted = 0
        try:
            async with conn.transaction():
                for kind, rows in batch.items():
                    t = KINDS[kind][1]
                    cols = t.names
                    await conn.copy_records_to_table(
                        f"tw_stage_{t.name}", records=rows, columns=cols
                    )
                    inserted += _count(await conn.execute(self._insert_sql(t)))
        except BaseException:
            if not spilled:
                for kind, rows in batch.items():
                    self._buf[kind][:0] = rows
                self._in_flight -= n
                self._in_memory += n
                if self._in_memory > self._max_buffered:
                    self._spill()
            raise
        if not spilled:
            self._in_flight -= n
        st = self._stats
        st["rows_written"] += inserted
        st["duplicates"] += n - inserted
        st["batches"] += 1
        st["last_batch_ns"] = time.perf_counter_ns() - t0
        st["last_batch_rows"] = n

    def _insert_sql(self, t: Table) -> str:
        # Only identifiers of this module and the checked schema name: nothing from the data.
        cols = ", ".join(t.names)
        select = f"SELECT {cols} FROM tw_stage_{t.name}"  # noqa: S608
        if t.distinct_on:
            key = ", ".join(t.distinct_on)
            select = (
                f"SELECT DISTINCT ON ({key}) {cols} FROM tw_stage_{t.name} "  # noqa: S608
                f"ORDER BY {key}, receive_ts DESC"
            )
        return f"INSERT INTO {self.schema}.{t.name} AS t ({cols}) {select} {t.on_conflict}"

    # --- spill file ----------------------------------------------------------------------------
    def _spill_files(self) -> list[Path]:
        if self._spill_path is None:
            return []
        replay = self._spill_path.with_name(self._spill_path.name + ".replay")
        return [p for p in (replay, self._spill_path) if p.exists()]

    def _spill(self) -> None:
        """Append every row in memory to the spill file (one JSON array per line: kind, then
        the row; decimals as strings)."""
        if self._spill_path is None:
            fd, name = tempfile.mkstemp(prefix="tickwire-pgsink-", suffix=".spill")
            os.close(fd)
            self._spill_path = Path(name)
        n = 0
        with self._spill_path.open("a", encoding="utf-8") as f:
            for kind, buf in self._buf.items():
                f.writelines(json.dumps([kind, *row], default=str) + "\n" for row in buf)
                n += len(buf)
                buf.clear()
        self._in_memory -= n
        self._spill_pending += n
        self._stats["spilled"] += n
        log.warning("postgres sink spilled %d rows to %s", n, self._spill_path)

    async def _replay_spill(self, conn: asyncpg.Connection) -> None:
        """Store the spill file's rows (a file being replayed first, then a newer one), then
        delete it. A failure leaves the file; replaying it again stores no row twice."""
        if self._spill_path is None:
            return
        replay = self._spill_path.with_name(self._spill_path.name + ".replay")
        while True:
            if not replay.exists():
                if not self._spill_path.exists():
                    return
                os.replace(self._spill_path, replay)  # new spills go to a fresh file
            decoders = {k: [_decoder(ty) for _, ty in t.columns] for k, (_, t, _) in KINDS.items()}
            total = 0
            batch: dict[str, list[Row]] = {}
            size = 0
            with replay.open(encoding="utf-8") as f:
                for line in f:
                    kind, *values = json.loads(line)
                    dec = decoders[kind]
                    batch.setdefault(kind, []).append(
                        tuple(d(v) for d, v in zip(dec, values, strict=True))
                    )
                    size += 1
                    if size >= self._batch_size:
                        await self._write_batch(conn, batch, spilled=True)
                        total += size
                        batch, size = {}, 0
            if size:
                await self._write_batch(conn, batch, spilled=True)
                total += size
            replay.unlink()
            self._spill_pending -= total
            self._stats["replayed"] += total
            log.info("postgres sink replayed %d spilled rows", total)


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``INSERT 0 42``."""
    return int(status.rsplit(" ", 1)[1])


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def rows_of(events: Sequence[object], kind: str = "trades") -> list[Row]:
    """The rows :class:`PostgresSink` would store for the ``kind`` events among ``events``
    (others skipped): for benchmarks and checks."""
    cls, _, mapper = KINDS[kind]
    return [mapper(e) for e in events if type(e) is cls]
