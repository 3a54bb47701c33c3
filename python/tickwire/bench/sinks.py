"""Sink throughput: rows/s into PostgreSQL with dedup, three writers in the same run.

The trades of the packaged Binance spot and USD-M ETHUSDT recordings (decoded by tickwire) are
written into the same ``trades`` table (unique on exchange, symbol, trade id) by:

- ``PostgresSink`` (COPY + ON CONFLICT): ``sink.write(event)`` for every trade, then
  ``flush()``: batches COPYed into a staging table, ``INSERT ... SELECT ... ON CONFLICT DO
  NOTHING``;
- ``executemany``: the same rows, ``INSERT ... VALUES ... ON CONFLICT DO NOTHING`` through
  asyncpg's ``executemany``, one transaction per batch of the same size;
- ``per-row INSERT``: the naive writer, one autocommitted ``INSERT ... ON CONFLICT DO
  NOTHING`` per trade.

Each timed pass includes turning events into rows. Every round empties the table, then times
a pass of new rows (``new``) and a second pass of the same rows (``replay``: every row a
duplicate, what a reconnect or restart sends). Rounds are interleaved; medians reported. Each
path's stored row count is checked against the recording's trade count.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import cast

from .. import _core as core
from ..simulator import packaged_recording

SCHEMA = "tickwire_bench"
BATCH = 5000
MARKETS = ("binance", "binanceusdm")

PATH_SINK = "PostgresSink (COPY + ON CONFLICT)"
PATH_EXECUTEMANY = "executemany INSERT ... ON CONFLICT"
PATH_NAIVE = "per-row INSERT (autocommit)"

Rates = dict[str, dict[str, list[float]]]  # path -> phase ("new", "replay") -> rows/s per round


def recorded_trades() -> list[core.Trade]:
    """Every trade of the packaged Binance spot and USD-M recordings, decoded by tickwire."""
    out: list[core.Trade] = []
    for market in MARKETS:
        dec = core.Decoder(market)
        for line in packaged_recording(market).lines:
            out.extend(e for e in dec.feed(line) if isinstance(e, core.Trade))
    return out


async def _measure(dsn: str, rounds: int) -> tuple[Rates, int]:
    import asyncpg

    from ..sinks.postgres import KINDS, PostgresSink, migrate

    _, table, mapper = KINDS["trades"]
    cols = table.names
    trades = recorded_trades()
    n = len(trades)
    insert = (
        f"INSERT INTO {SCHEMA}.trades ({', '.join(cols)}) "  # noqa: S608 - module constants
        f"VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))}) ON CONFLICT DO NOTHING"
    )
    conn = await asyncpg.connect(dsn)
    await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    await migrate(conn, SCHEMA)

    async def sink_pass() -> None:
        async with PostgresSink(dsn, kinds=["trades"], schema=SCHEMA, batch_size=BATCH) as sink:
            t0 = time.perf_counter()
            for ev in trades:
                sink.write(ev)
            await sink.flush(timeout=600)
            timing[0] = time.perf_counter() - t0

    async def executemany_pass() -> None:
        t0 = time.perf_counter()
        rows = [mapper(ev) for ev in trades]
        for i in range(0, n, BATCH):
            async with conn.transaction():
                await conn.executemany(insert, rows[i : i + BATCH])
        timing[0] = time.perf_counter() - t0

    async def naive_pass() -> None:
        t0 = time.perf_counter()
        for ev in trades:
            await conn.execute(insert, *mapper(ev))
        timing[0] = time.perf_counter() - t0

    paths: dict[str, Callable[[], Awaitable[None]]] = {
        PATH_SINK: sink_pass,
        PATH_EXECUTEMANY: executemany_pass,
        PATH_NAIVE: naive_pass,
    }
    timing = [0.0]
    out: Rates = {p: {"new": [], "replay": []} for p in paths}
    try:
        for _ in range(rounds):
            for name, run_pass in paths.items():
                await conn.execute(f"TRUNCATE {SCHEMA}.trades")
                for phase in ("new", "replay"):
                    await run_pass()
                    out[name][phase].append(n / timing[0])
                stored = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.trades")  # noqa: S608
                if stored != n:
                    raise RuntimeError(f"{name} stored {stored} rows of {n}")
        await conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    finally:
        await conn.close()
    return out, n


def measure(dsn: str | None = None, rounds: int = 3) -> tuple[Rates, int]:
    """``({path: {"new": [rows/s per round], "replay": [...]}}, rows per pass)`` into the
    database at ``dsn`` (its schema ``tickwire_bench`` is dropped and recreated), or into a
    throwaway cluster (:class:`~tickwire.sinks.pgtemp.TemporaryPostgres`) when ``dsn`` is None.
    Raises ``PostgresUnavailableError`` without server binaries, ``ImportError`` without
    asyncpg."""
    from ..feed import run

    if dsn is not None:
        return cast("tuple[Rates, int]", run(_measure(dsn, rounds)))
    from ..sinks.pgtemp import TemporaryPostgres

    with TemporaryPostgres() as pg:
        return cast("tuple[Rates, int]", run(_measure(pg.dsn, rounds)))


def format_report(res: Rates, n: int, rounds: int) -> str:
    """Markdown table of :func:`measure`'s result: median rows/s per path and phase, and the
    sink's ratio to each path."""
    med = {p: {ph: statistics.median(v) for ph, v in d.items()} for p, d in res.items()}
    sink = med[PATH_SINK]
    lines = [
        f"PostgreSQL sink, {n:,} real trades per pass, median of {rounds} interleaved rounds",
        "",
        "| writer | new rows/s | replayed rows/s (all duplicates) | sink ÷ writer (new, replay) |",
        "|---|---:|---:|---:|",
    ]
    for p, m in med.items():
        lines.append(
            f"| {p} | {m['new']:,.0f} | {m['replay']:,.0f} | "
            f"{sink['new'] / m['new']:.1f}×, {sink['replay'] / m['replay']:.1f}× |"
        )
    return "\n".join(lines)


def report(rounds: int = 3, dsn: str | None = None) -> str:
    """Run :func:`measure` and format it (:func:`format_report`)."""
    res, n = measure(dsn, rounds)
    return format_report(res, n, rounds)
