"""PostgresSink against a real PostgreSQL server (a cluster of this module's own, made with
initdb/pg_ctl in a temp dir on a free loopback port): the real recording replayed through the
simulator and a Feed into the sink, the server stopped and restarted mid-run, a restart that
replays the same trades, the spill file, schema versions, exact decimals.

Without PostgreSQL server binaries or asyncpg these tests skip with the reason, except under
``TICKWIRE_CI=1`` (set by .ci/run), where that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tickwire._core as core
from tickwire.feed import Feed
from tickwire.simulator import Simulator, packaged_recording
from tickwire.simulator.faults import CloseAfter

CI = os.environ.get("TICKWIRE_CI") == "1"


def _unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"{reason} (TICKWIRE_CI=1: the PostgreSQL sink tests must run)")
    pytest.skip(reason)


try:
    import asyncpg

    from tickwire.sinks.pgtemp import PostgresUnavailableError, TemporaryPostgres
    from tickwire.sinks.postgres import SCHEMA_VERSION, PostgresSink, SchemaVersionError
except ImportError as exc:  # asyncpg missing: the `postgres` extra is not installed
    asyncpg = None
    _IMPORT_ERROR = f"asyncpg not installed ({exc}): pip install -e '.[test]'"
else:
    _IMPORT_ERROR = ""

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pg():
    if _IMPORT_ERROR:
        _unavailable(_IMPORT_ERROR)
    try:
        server = TemporaryPostgres()
    except PostgresUnavailableError as exc:
        _unavailable(str(exc))
    with server:
        yield server


_SCHEMAS = iter(range(1_000_000))


@pytest.fixture
def schema(pg) -> str:
    """A fresh schema per test: tests share the cluster, never each other's tables."""
    return f"t{next(_SCHEMAS)}"


def _uvloop_run(coro):
    import uvloop

    return uvloop.run(coro)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    return asyncio.run if request.param == "asyncio" else _uvloop_run


# --- the oracle: the recording's own trades, parsed with the stdlib ---------------------------
def recorded_trades(market: str) -> dict[str, dict[str, Any]]:
    """``{trade id: stdlib-parsed trade object}`` of the packaged recording's trade stream."""
    out = {}
    for line in packaged_recording(market).lines:
        msg = json.loads(line)
        if msg["stream"].endswith("@trade"):
            out[str(msg["data"]["t"])] = msg["data"]
    return out


async def fetch(dsn: str, table: str, cols: str = "*", tail: str = "", *args: Any) -> list[Any]:
    """``SELECT cols FROM table tail`` (the test's own identifiers) with ``args`` bound."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(f"SELECT {cols} FROM {table} {tail}", *args))  # noqa: S608
    finally:
        await conn.close()


def assert_rows_equal_recording(rows: list[Any], want: dict[str, dict[str, Any]]) -> None:
    """Each recorded trade stored exactly once, with its exact price and size and its times."""
    got = [r["trade_id"] for r in rows]
    assert len(got) == len(set(got)) == len(want)
    assert set(got) == set(want)
    for r in rows:
        t = want[r["trade_id"]]
        assert r["price"] == Decimal(t["p"]) and str(r["price"]) == t["p"]
        assert r["size"] == Decimal(t["q"]) and str(r["size"]) == t["q"]
        assert r["side"] == ("sell" if t["m"] else "buy")
        assert r["trade_ts"] == t["T"] * 1_000_000
        assert r["exchange_ts"] == t["E"] * 1_000_000
        assert r["receive_ts"] > r["exchange_ts"]


async def _start_feed(sim: Any, sink: Any) -> Feed:
    feed = Feed("binance", ["ETH/USDT"], ["trades"], base_url=sim.rest_url, on_trade=sink.write)
    starting = asyncio.ensure_future(feed.start())
    await sim.wait_subscribed(1, timeout=10)
    sim.start_replay()
    await asyncio.wait_for(starting, 30)
    return feed


# --- the real server stopped mid-run ----------------------------------------------------------
def test_outage_mid_run_loses_nothing_and_stores_nothing_twice(run, pg, schema, tmp_path):
    """The server is stopped a third into the replay (its sessions cut) and started again at
    two thirds, with a forced reconnect of the feed in between; the memory bound is small, so
    rows are spilled to the file and replayed. Afterwards the table holds every trade of the
    recording exactly once, with exact values."""
    want = recorded_trades("binance")
    n_lines = len(packaged_recording("binance").lines)

    async def scenario() -> dict[str, Any]:
        async with (
            Simulator("binance", speed="max", autostart=False) as sim,
            PostgresSink(
                pg.dsn,
                schema=schema,
                batch_size=200,
                flush_interval=0.02,
                max_buffered=300,
                retry_interval=0.05,
                spill_path=tmp_path / "spill.jsonl",
            ) as sink,
        ):
            sim.hold_at(n_lines // 3)
            feed = await _start_feed(sim, sink)
            await sim.wait_position(n_lines // 3, timeout=30)
            await asyncio.sleep(0.2)
            await sink.flush(timeout=30)
            before = sink.stats()
            assert before["rows_written"] > 0 and before["errors"] == 0

            await asyncio.to_thread(pg.stop)
            sim.hold_at(2 * n_lines // 3)
            sim.resume()
            await sim.wait_position(n_lines // 2, timeout=30)
            sim.inject(CloseAfter(0, abort=True))  # the feed reconnects during the outage
            await sim.wait_position(2 * n_lines // 3, timeout=30)
            await asyncio.sleep(0.5)
            during = sink.stats()
            assert not pg.running
            # rows arrived while the server was down: spilled past the memory bound, queued
            assert during["rows_received"] > before["rows_received"]
            assert during["spilled"] > 0 and during["backlog"] > 0 and during["errors"] >= 1
            assert during["in_memory"] + during["in_flight"] <= 300  # the memory bound
            assert not during["connected"]

            await asyncio.to_thread(pg.start)
            sim.resume()
            await sim.wait_finished(timeout=60)
            await asyncio.sleep(0.5)
            await sink.flush(timeout=60)
            stats = sink.stats()
            await feed.close()
            assert feed.stats()["reconnects"] >= 1
        return stats

    stats = run(scenario())
    rows = asyncio.run(fetch(pg.dsn, f"{schema}.trades"))
    assert_rows_equal_recording(rows, want)
    assert stats["backlog"] == 0 and stats["reconnects"] >= 1
    assert stats["replayed"] == stats["spilled"] > 0
    assert stats["rows_written"] == len(want)
    assert stats["rows_received"] == stats["rows_written"] + stats["duplicates"]
    assert not (tmp_path / "spill.jsonl").exists()


def test_a_restart_replaying_the_same_trades_stores_no_duplicate(run, pg, schema):
    """A bot restarted on the same trades (the simulator rewound, a new Feed and a new sink on
    the same database): every trade is written the first time and skipped the second."""
    want = recorded_trades("binance")

    async def one_run(sim: Any) -> dict[str, Any]:
        async with PostgresSink(pg.dsn, schema=schema, batch_size=1000) as sink:
            feed = await _start_feed(sim, sink)
            await sim.wait_finished(timeout=60)
            await asyncio.sleep(0.3)
            await feed.close()
            await sink.flush(timeout=30)
            return sink.stats()

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with Simulator("binance", speed="max", autostart=False) as sim:
            first = await one_run(sim)
            await sim.rewind()
            second = await one_run(sim)
        return first, second

    first, second = run(scenario())
    assert first["rows_received"] == first["rows_written"] == len(want)
    assert second["rows_received"] == second["duplicates"] == len(want)
    assert second["rows_written"] == 0
    rows = asyncio.run(fetch(pg.dsn, f"{schema}.trades"))
    assert_rows_equal_recording(rows, want)


# --- spill file across a restart ---------------------------------------------------------------
def _decoded(market: str, kinds: tuple[type, ...]) -> list[Any]:
    rec = packaged_recording(market)
    dec = core.Decoder(market)
    return [e for line in rec.lines for e in dec.feed(line) if isinstance(e, kinds)]


def test_database_down_at_close_spills_and_the_next_run_replays(pg, schema, tmp_path):
    """With the server down for a whole run, the sink holds ``max_buffered`` rows, spills the
    rest, and at close spills what it holds (nothing is lost); the next run, given the same
    ``spill_path``, stores all of it once, and deletes the file."""
    trades = _decoded("binanceusdm", (core.Trade,))
    bbos = _decoded("binanceusdm", (core.BBO,))[:500]
    want_ids = set(recorded_trades("binanceusdm"))
    spill = tmp_path / "sink.spill"

    async def down_run() -> dict[str, Any]:
        sink = PostgresSink(
            pg.dsn,
            kinds=["trades", "bbo"],
            schema=schema,
            max_buffered=1000,
            spill_path=spill,
            retry_interval=0.05,
            close_timeout=0.5,
        )
        await sink.start()
        for ev in [*trades, *bbos]:
            sink.write(ev)
        await asyncio.sleep(0.2)
        await sink.close()
        return sink.stats()

    async def up_run() -> dict[str, Any]:
        async with PostgresSink(
            pg.dsn, kinds=["trades", "bbo"], schema=schema, spill_path=spill
        ) as sink:
            assert sink.stats()["spill_pending"] == len(trades) + len(bbos)
            await sink.flush(timeout=60)
            return sink.stats()

    pg.stop()
    try:
        down = asyncio.run(down_run())
    finally:
        pg.start()
    assert down["rows_received"] == len(trades) + len(bbos)
    assert down["spilled"] == down["spill_pending"] == down["rows_received"]
    assert down["rows_written"] == 0 and down["errors"] >= 1
    assert spill.exists()

    up = asyncio.run(up_run())
    assert up["replayed"] == up["rows_written"] == len(trades) + len(bbos)
    assert not spill.exists()
    rows = asyncio.run(fetch(pg.dsn, f"{schema}.trades", "trade_id"))
    assert {r["trade_id"] for r in rows} == want_ids and len(rows) == len(want_ids)
    stored = asyncio.run(
        fetch(pg.dsn, f"{schema}.bbo", "bid_price, ask_size, sequence", "ORDER BY sequence")
    )
    assert [(r["bid_price"], r["ask_size"], r["sequence"]) for r in stored] == sorted(
        ((b.decimal("bid_price"), b.decimal("ask_size"), b.sequence) for b in bbos),
        key=lambda t: t[2],
    )


def _market_id(symbol: str) -> str:
    """Binance's id of a unified symbol: ``CTK/USDT:USDT`` -> ``CTKUSDT``."""
    return symbol.split(":", maxsplit=1)[0].replace("/", "")


# --- candles: an open candle updated in place, a closed one final ------------------------------
def test_candles_keep_the_last_state_of_each_candle(pg, schema):
    """The 4-symbol Binance USD-M recording's klines: one row per (symbol, interval, start),
    equal to the last kline the recording sent for it, with ``closed`` as sent."""
    name = "cf_depth_bookticker_kline_aggtrade_4sym_20210722.jsonl"
    path = Path(__file__).parent / "fixtures" / "binanceusdm" / name
    last: dict[tuple[str, int], dict[str, Any]] = {}
    dec = core.Decoder("binanceusdm")
    candles = []
    for line in path.read_bytes().splitlines():
        msg = json.loads(line)
        if "@kline" in msg["stream"]:
            k = msg["data"]["k"]
            last[(k["s"], k["t"])] = k
            candles.extend(e for e in dec.feed(line) if isinstance(e, core.Candle))
    assert len(candles) > len(last) > 1 and any(k["x"] for k in last.values())

    async def scenario() -> list[Any]:
        async with PostgresSink(pg.dsn, kinds=["candles"], schema=schema, batch_size=7) as sink:
            for c in candles:
                sink.write(c)
            await sink.flush()
            # the same candles again (a replay): no row changes
            for c in candles:
                sink.write(c)
            await sink.flush()
        return await fetch(pg.dsn, f"{schema}.candles")

    rows = asyncio.run(scenario())
    assert len(rows) == len(last)
    by_key = {(_market_id(r["symbol"]), r["start_ts"] // 1_000_000): r for r in rows}
    assert set(by_key) == set(last)
    for key, k in last.items():
        r = by_key[key]
        assert (r["open"], r["high"], r["low"], r["close"], r["volume"]) == tuple(
            Decimal(k[f]) for f in "ohlcv"
        )
        assert r["closed"] is k["x"] and r["trades"] == k["n"] and r["interval"] == k["i"]


# --- schema versions ---------------------------------------------------------------------------
def test_schema_is_created_once_and_a_newer_schema_is_refused(pg, schema):
    async def scenario() -> None:
        async with PostgresSink(pg.dsn, schema=schema):
            pass
        async with PostgresSink(pg.dsn, schema=schema, kinds=["trades", "bbo", "candles"]):
            pass  # a second start migrates nothing
        rows = await fetch(pg.dsn, f"{schema}.schema_version", "version")
        assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        tables = await fetch(
            pg.dsn,
            "information_schema.tables",
            "table_name",
            "WHERE table_schema = $1 ORDER BY 1",
            schema,
        )
        assert [r["table_name"] for r in tables] == [
            "bbo", "candles", "fills", "schema_version", "trades",
        ]  # fmt: skip
        conn = await asyncpg.connect(pg.dsn)
        await conn.execute(
            f"INSERT INTO {schema}.schema_version VALUES ($1, 'from the future', 0)",  # noqa: S608
            SCHEMA_VERSION + 1,
        )
        await conn.close()
        with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 1}"):
            async with PostgresSink(pg.dsn, schema=schema):
                pass

    asyncio.run(scenario())


def test_bad_options_and_no_password_in_repr_or_errors(pg):
    with pytest.raises(ValueError, match="unknown sink kind"):
        PostgresSink(pg.dsn, kinds=["orders"])
    with pytest.raises(ValueError, match="lowercase SQL identifier"):
        PostgresSink(pg.dsn, schema="x; DROP TABLE y")
    dsn = "postgresql://bot:hunter2secret@127.0.0.1:1/db"  # nothing listens on port 1

    async def scenario() -> Any:
        sink = PostgresSink(dsn, connect_timeout=1, close_timeout=0.2)
        await sink.start()
        await sink.close()
        return sink

    sink = asyncio.run(scenario())
    assert "hunter2secret" not in repr(sink) and "bot:***@" in repr(sink)
    assert sink.last_error and "hunter2secret" not in sink.last_error
    assert "hunter2secret" not in json.dumps(sink.stats())


# --- tickwire stream --sink ----------------------------------------------------------------------
def test_stream_sink_stores_the_printed_trades(pg):
    """``tickwire stream ... --sink postgresql://...`` against the simulator: every trade it
    printed is in the database (once), with the recording's exact price."""
    from cli_helpers import run_cli
    from tickwire.simulator import ThreadedSimulator

    want = recorded_trades("binance")
    with ThreadedSimulator("binance", speed=20.0) as sim:
        proc = run_cli(
            "stream", "binance", "ETH/USDT", "--channels", "trades", "--base-url", sim.rest_url,
            "--limit", "300", "--sink", pg.dsn,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = [json.loads(line) for line in proc.stdout.splitlines()]
    printed_ids = {str(e["trade_id"]) for e in printed if e["type"] == "trade"}
    assert len(printed_ids) == 300
    rows = asyncio.run(fetch(pg.dsn, "tickwire.trades", "trade_id, price"))
    stored = {r["trade_id"]: r["price"] for r in rows}
    assert len(stored) == len(rows) and printed_ids <= set(stored) <= set(want)
    assert all(str(p) == want[t]["p"] for t, p in stored.items())
    bad = run_cli("stream", "binance", "ETH/USDT", "--sink", "mysql://127.0.0.1/0")
    assert bad.returncode == 2 and "expected postgresql://... or redis://" in bad.stderr


# --- the README's example ------------------------------------------------------------------------
README = Path(__file__).resolve().parent.parent / "README.md"


def readme_sink_snippet() -> str:
    """The python block under the README's ``## PostgreSQL sink`` heading."""
    section = README.read_text(encoding="utf-8").split("\n## PostgreSQL sink\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README ## PostgreSQL sink has no python block"
    return match.group(1)


def test_readme_sink_snippet_stores_every_trade(pg):
    """The README's example as written, with two names pointed elsewhere: its DSN is this
    cluster's (a database of its own), ``tw.Feed`` gets the simulator's base URL, and
    ``tw.run`` stops the bot once the recording is replayed. Every recorded trade is stored."""
    import types
    from collections.abc import Coroutine

    import tickwire as tw
    from tickwire.simulator import ThreadedSimulator

    code = readme_sink_snippet()
    readme_dsn = pg.dsn.rsplit("/", 1)[0] + "/readme"
    assert code.count('"postgresql://bot@localhost/market"') == 1

    async def create_db() -> None:
        conn = await asyncpg.connect(pg.dsn)
        await conn.execute("CREATE DATABASE readme")
        await conn.close()

    asyncio.run(create_db())
    with ThreadedSimulator("binance", speed="max") as sim:

        class FeedAtSimulator(tw.Feed):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, base_url=sim.rest_url, **kwargs)

        def run_until_replayed(main: Coroutine[Any, Any, None]) -> None:
            async def bounded() -> None:
                bot = asyncio.ensure_future(main)
                await asyncio.to_thread(sim.wait_finished, 120)
                await asyncio.sleep(0.5)  # the last frames are in flight
                assert not bot.done(), bot.exception() if bot.done() else None
                bot.cancel()  # leaving the sink's block flushes it
                await asyncio.gather(bot, return_exceptions=True)

            tw.run(bounded())

        shim = types.ModuleType("tickwire")
        shim.__dict__.update(vars(tw), Feed=FeedAtSimulator, run=run_until_replayed)
        code = code.replace('"postgresql://bot@localhost/market"', repr(readme_dsn))
        exec(  # noqa: S102 - the point of the test: run the README as written
            compile(code.replace("import tickwire as tw\n", "", 1), str(README), "exec"),
            {"__name__": "readme_sink", "tw": shim},
        )
    rows = asyncio.run(fetch(readme_dsn, "tickwire.trades"))
    assert_rows_equal_recording(rows, recorded_trades("binance"))


# --- fills: live, recovered over REST after a disconnect, and written again -------------------
_OKX_KEY, _OKX_SECRET, _OKX_PASS = "pgKey-5e2a7c", "pgSecret-9b14d3f0", "pgPass-6a"


def test_fills_live_and_recovered_over_rest_are_stored_once_each(run, pg, schema):
    """An OKX account (the simulator's engine) fills one order six times with a disconnect
    after the second fill: four fills come over REST after the reconnect. The sink stores each
    fill once with its exact values, and writing every fill again stores nothing new."""
    import tickwire as tw
    from tickwire.connection import ConnectionOptions
    from tickwire.simulator import FillBurst, SimAccount

    account = SimAccount(
        name="pg", api_key=_OKX_KEY, secret=_OKX_SECRET, passphrase=_OKX_PASS,
        balances={"USDT": "100000"},
    )  # fmt: skip
    creds = tw.Credentials(api_key=_OKX_KEY, secret=_OKX_SECRET, passphrase=_OKX_PASS)

    async def scenario() -> tuple[Any, list[Any], dict[str, Any], dict[str, Any]]:
        async with (
            Simulator("okx", speed=1, accounts=[account]) as sim,
            PostgresSink(pg.dsn, schema=schema, kinds=["fills"], batch_size=2) as sink,
        ):
            fills: list[Any] = []

            def on_fill(ev: Any) -> None:
                fills.append(ev)
                sink.write(ev)

            feed = tw.Feed(
                "okx", channels=["orders", "fills"], credentials=creds, base_url=sim.rest_url,
                on_fill=on_fill, start_timeout=10.0,
                connection_options=ConnectionOptions(backoff_base=0.05, backoff_cap=0.2),
            )  # fmt: skip
            async with feed:
                engine = sim.accounts.engine()
                engine.place("BTC-USDT-SWAP", "buy", "10", "30000", client_order_id="pg1")
                await asyncio.sleep(0.2)
                sim.inject(FillBurst(order="pg1", fills=6, size="1", disconnect_after=2))
                for _ in range(500):
                    if len(fills) >= 6:
                        break
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)  # a duplicate would arrive now
                recovered = feed.stats()["account_filled"]
            await sink.flush(timeout=30)
            first = sink.stats()
            for ev in fills:  # a restart or a second backfill delivering them again
                sink.write(ev)
            await sink.flush(timeout=30)
            return engine, fills, first | {"recovered": recovered}, sink.stats()

    engine, fills, first, second = run(scenario())
    assert len(engine.fills) == len(fills) == 6 and first["recovered"] >= 4
    assert first["rows_written"] == 6
    assert second["rows_written"] == 6 and second["duplicates"] == 6
    rows = asyncio.run(fetch(pg.dsn, f"{schema}.fills", "*", "ORDER BY exchange_ts, trade_id"))
    assert sorted(r["trade_id"] for r in rows) == sorted(str(f.trade_id) for f in engine.fills)
    by_id = {str(f.trade_id): f for f in engine.fills}
    for r in rows:
        f = by_id[r["trade_id"]]
        assert (r["exchange"], r["symbol"]) == ("okx", "BTC/USDT:USDT")
        assert r["order_id"] == str(f.order_id) and r["client_order_id"] == "pg1"
        assert r["side"] == f.side and r["price"] == f.price and r["size"] == f.size
        assert r["fee"] == f.fee and r["fee_asset"] == f.fee_asset
        assert r["is_maker"] is f.is_maker and r["receive_ts"] > 0
