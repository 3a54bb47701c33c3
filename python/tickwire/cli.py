"""The ``tickwire`` command line (click).

Every command answers bad input with one line on stderr (``Error: ...`` naming the value or file
and the problem) and a non-zero exit code, after printing whatever it did manage to do; Ctrl-C
ends any command with exit code 130 and no traceback, after it has closed its sockets.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from . import _core
from ._interrupt import INTERRUPTED_EXIT_CODE, run_interruptible
from .exceptions import TickwireError
from .exchanges import exchange_ids
from .redact import redact_url
from .replay import RecordingReadError, Replay, ReplayStats, SnapshotFile, event_to_dict

# Exit-code bits of `tickwire replay` (2 is a usage error, 130 Ctrl-C).
EXIT_BAD_LINES = 1
EXIT_GAPS = 4
EXIT_UNREADABLE = 8
# Bad lines reported one by one on stderr; the rest are counted in one more line.
MAX_REPORTED_LINES = 20
# `tickwire replay` shows a progress bar on a terminal once a replay has run this long (s)
PROGRESS_AFTER_S = 1.0
# lines between two looks at the clock / progress bar updates
PROGRESS_EVERY = 8192


def decoder_venues() -> dict[str, list[str]]:
    """``{exchange id: [markets, default first]}`` the core decodes."""
    return dict(_core.venues())


# `replay` and `stream` print book updates the same way.
depth_option = click.option(
    "--depth",
    "-n",
    default=5,
    show_default=True,
    type=click.IntRange(0, 5000),
    help="Book levels per side in each book update printed.",
)


@click.group()
@click.version_option(package_name="tickwire")
def cli() -> None:
    """tickwire: exchange market data with a Rust core."""


def main(args: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``tickwire`` console script: run the command in ``args`` (default
    ``sys.argv[1:]``) and exit with its code. A usage or input error is one line on stderr
    (exit 2 for usage errors, else the command's code); Ctrl-C exits 130."""
    try:
        code = cli.main(args=args, prog_name="tickwire", standalone_mode=False)
    except click.ClickException as exc:
        _error_line(exc.format_message())
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        # click turns a Ctrl-C it sees into Abort; commands that run long handle it themselves
        sys.exit(INTERRUPTED_EXIT_CODE)
    sys.exit(code if isinstance(code, int) else 0)


def _error_line(message: str) -> None:
    click.echo(f"Error: {' '.join(message.split())}", err=True)


def _fail(message: str, code: int) -> NoReturn:
    _error_line(message)
    sys.exit(code)


def _describe_error(exc: BaseException) -> str:
    """One line for an exception: its message, with the type where the message alone is not
    self-explanatory (anything but tickwire's own errors and OS errors)."""
    text = " ".join(str(exc).split())
    if isinstance(exc, (TickwireError, OSError, ValueError)) and text:
        return text
    if isinstance(exc, asyncio.TimeoutError) and not text:
        return "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---- replay -------------------------------------------------------------------------------------
@cli.command()
@click.argument("recording", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--exchange",
    "-e",
    "-x",
    required=True,
    type=click.Choice(sorted(decoder_venues())),
    help="Exchange id the recording was captured from.",
)
@click.option(
    "--market",
    "-m",
    default=None,
    help="The exchange's endpoint the recording is of: spot, linear or inverse (default: the "
    "exchange's first market).",
)
@click.option(
    "--snapshot",
    "-s",
    "snapshots",
    multiple=True,
    metavar="[SYMBOL=]FILE",
    help="REST depth snapshot; without SYMBOL= the file name must contain the market id "
    "(ethusdt). Repeatable.",
)
@depth_option
@click.option(
    "--output", "-o", default="stats", show_default=True, type=click.Choice(["jsonl", "stats"])
)
def replay(
    recording: str,
    exchange: str,
    market: str | None,
    snapshots: tuple[str, ...],
    depth: int,
    output: str,
) -> None:
    """Run RECORDING (one raw frame per line, .jsonl or .jsonl.gz) through the live decoder.

    jsonl prints one normalized event per line; stats prints counts per event kind, gaps,
    checksums verified and mismatched (per decoder and per book), bad lines and msg/s. Bad
    lines (e.g. frames of another market than --exchange/--market) are reported on stderr with
    their line number and skipped; a book that lost sync (sequence gap, checksum mismatch) is
    reported on stderr; a depth stream that never synced and a snapshot that cannot belong to
    its symbol are warned about. A file that cannot be read to its end is one error line, after
    the stats of what was read. On a terminal, a long recording shows a progress bar on stderr.
    Exit code: 0 clean, bit 1 = bad lines, bit 4 = sequence gaps or checksum mismatches,
    bit 8 = a file could not be read to its end; 2 = bad arguments (e.g. a snapshot file that
    is not JSON, an unknown market); 130 = Ctrl-C.
    """
    markets = decoder_venues().get(exchange, [])
    if market is not None and markets and market not in markets:
        raise click.BadParameter(
            f"{exchange} has no market {market!r}; its markets: {', '.join(markets)}",
            param_hint="--market",
        )
    try:
        rep = Replay(recording, exchange, [SnapshotFile.parse(s) for s in snapshots], market=market)
    except RecordingReadError as exc:  # the sibling timestamp file
        _fail(str(exc), EXIT_UNREADABLE)
    except (FileNotFoundError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--snapshot") from None
    error: RecordingReadError | None = None
    interrupted = False
    try:
        _print_events(rep, recording, depth, output == "jsonl")
    except RecordingReadError as exc:
        error = exc
    except KeyboardInterrupt:
        interrupted = True
    st = rep.stats
    _print_diagnostics(recording, st)
    if output == "stats":
        click.echo(json.dumps(_summary(recording, exchange, rep, st), indent=2))
    if interrupted:
        click.echo(f"{recording}: interrupted after line {rep.lines_read}", err=True)
        sys.exit(INTERRUPTED_EXIT_CODE)
    code = (EXIT_BAD_LINES if st.bad_lines else 0) | (EXIT_GAPS if st.gaps else 0)
    if error is not None:
        _fail(str(error), code | EXIT_UNREADABLE)
    sys.exit(code)


def _progress_wanted(jsonl: bool) -> bool:
    """A progress bar may go to stderr: a terminal, and no jsonl on the same terminal."""
    return sys.stderr.isatty() and not (jsonl and sys.stdout.isatty())


class _Bar:
    """The rich progress bar of a replay on stderr: bytes of the file read, rate, time left."""

    def __init__(self, recording: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task(f"replay {recording}", total=total)
        self.progress.start()

    def update(self, done: int) -> None:
        self.progress.update(self.task, completed=done)

    def stop(self) -> None:
        self.progress.stop()


def _print_events(rep: Replay, recording: str, depth: int, jsonl: bool) -> None:
    """Replay ``rep``: each event as a jsonl line on stdout (if ``jsonl``), bad lines (the first
    MAX_REPORTED_LINES) and sync losses on stderr. On a terminal, a replay still running after
    ``PROGRESS_AFTER_S`` seconds gets a progress bar on stderr (gone when it ends)."""
    out = sys.stdout
    show = _progress_wanted(jsonl)
    t0 = time.monotonic()
    lines = 0
    bar: _Bar | None = None
    try:
        for event in rep:
            d = event_to_dict(event, depth, rep.decoder)
            kind = d["type"]
            if kind == "bad_frame" and len(rep.stats.bad_lines) <= MAX_REPORTED_LINES:
                click.echo(f"{recording}:{d['line']}: skipped bad line: {d['error']}", err=True)
            elif kind == "gap":
                what = {"gap": "sequence gap", "checksum": "checksum mismatch"}.get(
                    d["reason"], d["reason"].replace("_", " ")
                )
                click.echo(
                    f"{recording}:{d['line']}: {what} on {d['symbol']}: expected "
                    f"{d['expected']}, received {d['received']}",
                    err=True,
                )
            if jsonl:
                out.write(json.dumps(d, separators=(",", ":")) + "\n")
            if show and rep.lines_read - lines >= PROGRESS_EVERY:
                lines = rep.lines_read
                done, total = rep.progress()
                if bar is None and time.monotonic() - t0 >= PROGRESS_AFTER_S:
                    bar = _Bar(recording, total)
                if bar is not None:
                    bar.update(done)
    finally:
        if bar is not None:
            bar.stop()


def _print_diagnostics(recording: str, st: ReplayStats) -> None:
    """The bad lines not shown one by one, and the replay's warnings, on stderr."""
    if len(st.bad_lines) > MAX_REPORTED_LINES:
        click.echo(
            f"{recording}: {len(st.bad_lines):,} bad lines in all "
            f"({len(st.bad_lines) - MAX_REPORTED_LINES:,} more than shown)",
            err=True,
        )
    for path in st.unmatched_snapshots:
        click.echo(f"warning: snapshot {path} matched no symbol of the recording", err=True)
    for warning in st.warnings:
        click.echo(f"warning: {warning}", err=True)


def _summary(recording: str, exchange: str, rep: Replay, st: ReplayStats) -> dict[str, Any]:
    """The stats JSON: counts, sync losses by reason, checksums verified and mismatched (for
    the decoder and per book), the decoder's counters and each book's state."""
    dec = rep.decoder
    dstats = dec.stats()
    books: dict[str, Any] = {}
    for s in dec.symbols():
        book = dec.book(s)
        entry: dict[str, Any] = {"sequence": book.sequence, "synced": book.synced}
        per = dec.book_stats(s)
        entry["checksums_verified"] = per.get("checksums_verified", 0)
        entry["checksum_mismatches"] = per.get("checksum_mismatches", 0)
        entry.update({k: v for k, v in per.items() if k not in entry})
        books[s] = entry
    reasons = Counter(g.reason for g in st.gaps)
    return {
        "recording": recording,
        "exchange": exchange,
        "market": dec.market,
        "frames": st.frames,
        "events": dict(sorted(st.events.items())),
        "gaps": len(st.gaps),
        "gaps_by_reason": dict(sorted(reasons.items())),
        "checksums_verified": dstats.get("checksums_verified", 0),
        "checksum_mismatches": dstats.get("checksum_mismatches", 0),
        "bad_lines": [b.line for b in st.bad_lines],
        "warnings": st.warnings,
        "msgs_per_second": round(st.msgs_per_second),
        "decoder": dstats,
        "books": books,
    }


# ---- demo ---------------------------------------------------------------------------------------
@cli.command()
def demo() -> None:
    """The main job, no network and no keys: a local exchange simulator replays real Binance
    recordings (spot and USD-M ETHUSDT) through exactly the live code path, with one injected
    disconnect and one gap, shown live (best bid/ask, trades, msg/s, latency, recoveries).
    About 30 s; plain lines when stdout is not a terminal. Exit 1 if a final book is wrong,
    130 on Ctrl-C."""
    from .demo import run_demo

    sys.exit(run_demo())


# ---- stream -------------------------------------------------------------------------------------
MARKET_KINDS = ("book", "bbo", "trade", "candle")


@cli.command()
@click.option(
    "--exchange",
    "-x",
    "exchange_opt",
    default=None,
    type=click.Choice(exchange_ids()),
    help="Exchange id (or give it as the first argument).",
)
@click.argument("symbols", nargs=-1)
@click.option(
    "--channels",
    "-c",
    default=None,
    help="Comma-separated: book, trades, bbo, candles; with --private also orders, fills, "
    "positions, balances. [default: book,trades,bbo for SYMBOLS; with --private every "
    "account channel of the exchange]",
)
@click.option(
    "--private",
    is_flag=True,
    help="Also stream the account (orders, fills, positions, balances) with the keys in "
    "TICKWIRE_<EXCHANGE>_API_KEY, _API_SECRET, _PASSPHRASE, _PRIVATE_KEY_PATH, _ACCOUNT. "
    "Secrets are never printed.",
)
@click.option(
    "--dotenv",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="With --private: read those variables from this .env file too (set ones win).",
)
@click.option(
    "--output", "-o", default="jsonl", show_default=True, type=click.Choice(["jsonl", "text"])
)
@depth_option
@click.option(
    "--base-url",
    default=None,
    help="Replace the exchange's base URL (e.g. a `tickwire simulate` URL).",
)
@click.option(
    "--limit",
    default=0,
    type=click.IntRange(0),
    help="Stop after this many market events (0: run until Ctrl-C).",
)
@click.option(
    "--start-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds to wait for every connection to be subscribed and its books synced; a feed "
    "that is not ready by then is an error.",
)
@click.option(
    "--sink",
    "sink_dsns",
    multiple=True,
    help="Also store trades (and bbo/candles if streamed) in PostgreSQL, each row once: "
    "postgresql://USER:PASSWORD@HOST/DB (the postgres extra); or publish the events to Redis "
    "Streams: redis://HOST:PORT/DB (the redis extra). Repeatable.",
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Serve Prometheus /metrics and /status (JSON, see `tickwire status`) on this port of "
    "127.0.0.1 while streaming (0: a free port); the URL is printed on stderr.",
)
def stream(
    exchange_opt: str | None,
    symbols: tuple[str, ...],
    channels: str | None,
    private: bool,
    dotenv: str | None,
    output: str,
    depth: int,
    base_url: str | None,
    limit: int,
    start_timeout: float,
    sink_dsns: tuple[str, ...] = (),
    metrics_port: int | None = None,
) -> None:
    """Stream live SYMBOLS (ccxt-unified: ETH/USDT, BTC/USDT:USDT, BTC/USD:BTC-220527) from
    the exchange (-x ID, or ID as the first argument) and print normalized events, one per
    line. The same code as a bot's Feed; only the URL differs. With --private (SYMBOLS then
    optional) the account's orders, fills, positions and balances too, keys from the
    environment. Exit code: 0 after --limit events, 1 if the feed cannot start or fails (one
    line on stderr; a refused key is an authentication error, never retried), 2 for bad
    arguments or missing keys, 130 on Ctrl-C (connections closed first)."""
    from .feed import Feed

    if exchange_opt is None and symbols and symbols[0] in exchange_ids():
        exchange_opt, symbols = symbols[0], symbols[1:]
    if exchange_opt is not None:
        exchange = exchange_opt
    else:
        got = f", not {symbols[0]!r}" if symbols else ""
        raise click.BadParameter(
            f"no exchange: give -x ID (one of {', '.join(exchange_ids())}) or the id as the "
            f"first argument{got}",
            param_hint="EXCHANGE",
        )
    if not symbols and not private:
        raise click.BadParameter("give at least one symbol", param_hint="SYMBOLS")
    chans, creds = _stream_channels(exchange, bool(symbols), channels, private, dotenv)
    sinks = [_sink(dsn, chans) for dsn in sink_dsns]

    def to_sinks(ev: Any) -> None:
        for sink in sinks:
            sink.write(ev)

    try:
        feed = Feed(
            exchange,
            list(symbols),
            chans,
            credentials=creds,
            base_url=base_url,
            start_timeout=start_timeout,
            on_event=to_sinks if sinks else None,
        )
    except ValueError as e:
        raise click.BadParameter(str(e)) from None

    async def go() -> None:
        server = _metrics_server(metrics_port, feed, sinks)
        try:
            if server is not None:
                await _serve_metrics(server)
            for sink in sinks:
                await sink.start()
            await _stream(feed, depth, output, limit)
        finally:
            await feed.close()
            for sink in sinks:
                await sink.close()
            if server is not None:
                await server.stop()

    try:
        run_interruptible(go())
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED_EXIT_CODE)


def _metrics_server(port: int | None, feed: Any, sinks: list[Any]) -> Any:
    """``stream --metrics-port``: a MetricsServer for ``feed`` and ``sinks`` (made before the
    feed starts, so every event is counted), or None."""
    if port is None:
        return None
    from .monitoring import MetricsServer

    return MetricsServer(port, feed, *sinks)


async def _serve_metrics(server: Any) -> None:
    """Start ``server``; a port that cannot be bound is one line (exit 1)."""
    try:
        await server.start()
    except OSError as exc:
        raise click.ClickException(
            f"--metrics-port {server.port}: cannot listen: {_describe_error(exc)}"
        ) from None
    click.echo(f"metrics: {server.url}/metrics  status: {server.url}/status", err=True)


def _sink(dsn: str, channels: list[str]) -> Any:
    """The sink of one ``stream --sink`` value: PostgreSQL or Redis Streams, by its scheme."""
    if dsn.startswith(("redis://", "rediss://", "unix://")):
        try:
            from .sinks.redis import RedisSink
        except ImportError:  # pragma: no cover - the redis extra is in the test extra
            raise click.ClickException(
                "--sink redis:// needs redis-py: pip install 'tickwire[redis]'"
            ) from None
        return RedisSink(dsn)
    return _postgres_sink(dsn, channels)


def _postgres_sink(dsn: str, channels: list[str]) -> Any:
    """A PostgresSink for ``stream --sink``: trades, plus bbo and candles when streamed."""
    if not dsn.startswith(("postgres://", "postgresql://")):
        raise click.BadParameter(
            f"{redact_url(dsn)!r}: expected postgresql://... or redis://...", param_hint="--sink"
        )
    try:
        from .sinks.postgres import PostgresSink
    except ImportError:
        raise click.ClickException(
            "--sink needs asyncpg: pip install 'tickwire[postgres]'"
        ) from None
    kinds = ["trades", *(k for k in ("bbo", "candles") if k in channels)]
    return PostgresSink(dsn, kinds=kinds)


def _stream_channels(
    exchange: str, with_symbols: bool, channels: str | None, private: bool, dotenv: str | None
) -> tuple[list[str], Any]:
    """The channels of ``tickwire stream`` and, with ``--private``, the credentials from the
    environment (``click.BadParameter`` naming a missing variable, never a value)."""
    from .auth import Credentials
    from .exchanges import ACCOUNT_CHANNELS, get_adapter

    creds = None
    if private:
        try:
            creds = Credentials.from_env(exchange, dotenv=dotenv)
        except (ValueError, OSError) as exc:
            raise click.BadParameter(_describe_error(exc), param_hint="--private") from None
    elif dotenv is not None:
        raise click.BadParameter("--dotenv goes with --private", param_hint="--dotenv")
    if channels is None:
        chans = ["book", "trades", "bbo"] if with_symbols else []
        if private:
            served = get_adapter(exchange).private_channels
            if not served:
                raise click.BadParameter(
                    f"{exchange} has no account channels in tickwire yet", param_hint="--private"
                )
            chans += list(served)
    else:
        chans = [c.strip() for c in channels.split(",") if c.strip()]
    account = [c for c in chans if c in ACCOUNT_CHANNELS]
    if account and not private:
        raise click.BadParameter(
            f"account channels {account} need --private (and the exchange's keys)",
            param_hint="--channels",
        )
    return chans, creds


# Account events as JSON lines (floats like the market events; the exact decimals are the
# events' ``decimal(name)``).
_ACCOUNT_FIELDS: dict[str, tuple[str, ...]] = {
    "OrderUpdate": (
        "symbol",
        "order_id",
        "client_order_id",
        "side",
        "order_type",
        "time_in_force",
        "status",
        "price",
        "trigger_price",
        "size",
        "filled_size",
        "average_price",
        "reduce_only",
        "created_ts",
    ),
    "Fill": (
        "symbol",
        "trade_id",
        "order_id",
        "client_order_id",
        "side",
        "price",
        "size",
        "fee",
        "fee_asset",
        "is_maker",
        "liquidation",
    ),
    "Position": (
        "symbol",
        "side",
        "size",
        "entry_price",
        "mark_price",
        "unrealized_pnl",
        "liquidation_price",
        "leverage",
        "margin_mode",
    ),
    "Balance": ("asset", "free", "locked", "total"),
}
_ACCOUNT_KINDS = {
    "OrderUpdate": "order",
    "Fill": "fill",
    "Position": "position",
    "Balance": "balance",
}


def _event_dict(event: Any, depth: int, feed: Any) -> dict[str, Any]:
    """``event_to_dict``, plus the account events (``type`` order, fill, position, balance)."""
    name = type(event).__name__
    fields = _ACCOUNT_FIELDS.get(name)
    if fields is None or not isinstance(
        event, (_core.OrderUpdate, _core.Fill, _core.Position, _core.Balance)
    ):
        return event_to_dict(event, depth, feed)
    d: dict[str, Any] = {"type": _ACCOUNT_KINDS[name], "exchange": event.exchange}
    for f in fields:
        d[f] = getattr(event, f)
    d["exchange_ts"] = event.exchange_ts
    d["receive_ts"] = event.receive_ts
    return d


async def _stream(feed: Any, depth: int, output: str, limit: int) -> None:
    """Start ``feed`` and print its events until ``limit`` market or account events (0: no
    limit)."""
    try:
        await feed.start()
    except ValueError as exc:  # a symbol the exchange does not list: one line, exit 1
        raise click.ClickException(str(exc)) from None
    # Whatever else keeps the feed from starting (refused, unreachable, not ready within the
    # start timeout, rejected subscription) ends the command with one line, not a traceback.
    except Exception as exc:  # noqa: BLE001 - reported as one line, see above
        raise click.ClickException(f"the feed did not start: {_describe_error(exc)}") from None
    printed = 0
    try:
        async for event in feed:
            d = _event_dict(event, depth, feed)
            click.echo(json.dumps(d, separators=(",", ":")) if output == "jsonl" else _text(d))
            if d["type"] in MARKET_KINDS or d["type"] in _ACCOUNT_KIND_NAMES:
                printed += 1
                if limit and printed >= limit:
                    return
    # The feed gave up (e.g. a permanent refusal on reconnect): one line as well.
    except Exception as exc:  # noqa: BLE001 - reported as one line, see above
        raise click.ClickException(f"the feed failed: {_describe_error(exc)}") from None


_ACCOUNT_KIND_NAMES = frozenset(_ACCOUNT_KINDS.values())


def _text(d: dict[str, Any]) -> str:
    kind = d["type"]
    if kind == "book":
        return f"book  {d['symbol']:<16} seq={d['sequence']} bid={d.get('bid')} ask={d.get('ask')}"
    if kind == "bbo":
        return f"bbo   {d['symbol']:<16} {d['bid']} / {d['ask']}"
    if kind == "trade":
        return f"trade {d['symbol']:<16} {d['side']:<4} {d['size']} @ {d['price']}"
    return " ".join(f"{k}={v}" for k, v in d.items())


# ---- bench --------------------------------------------------------------------------------------
@cli.command()
@click.argument("recording", nargs=-1)
@click.option(
    "--rounds",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Interleaved timed rounds per path.",
)
@click.option("--no-cryptofeed", is_flag=True, help="Skip the cryptofeed baseline.")
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Also draw msg/s per recording and path and the receive -> callback latency "
    "distribution to this PNG (matplotlib, in the bench extra).",
)
@click.option(
    "--e2e",
    is_flag=True,
    help="Also run the end-to-end loopback benchmark (simulator in a "
    "separate process; floor and picows+orjson clients in the same run; latency at 20k msg/s).",
)
def bench(
    recording: tuple[str, ...], rounds: int, no_cryptofeed: bool, plot_file: str | None, e2e: bool
) -> None:
    """Decode + book throughput through the Python API on real recordings, one table: Binance
    ETHUSDT spot and USD-M (packaged) and each venue's largest capture (bybit, okx, kraken,
    coinbase, coinbaseexchange), with each venue's orjson + dict-book bot and cryptofeed's
    handler measured in the same run (baselines need `pip install 'tickwire[bench]'`).
    RECORDING: all (default), binance, venues, or names; `sinks` instead measures rows/s into
    PostgreSQL (sinks vs executemany vs per-row INSERT). Prints msg/s and ratios; exit 1 if
    tickwire's final books differ from the reference bot's."""
    from .bench.decode import PATH_TICKWIRE, compare_many, expand, format_table

    if recording == ("sinks",):  # rows/s into PostgreSQL (a throwaway cluster): bench/sinks.py
        from .bench.sinks import report as sinks_report

        click.echo(sinks_report(rounds))
        return
    try:
        names = expand(recording or ("all",))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="RECORDING") from None
    rows = compare_many(names, rounds=rounds, include_cryptofeed=not no_cryptofeed)
    click.echo(format_table(rows) + "\n")
    bad = any(r["top_ok"] is False and r["path"] == PATH_TICKWIRE for r in rows)
    if plot_file:
        from .bench.plot import plot

        try:
            click.echo(plot(rows, plot_file))
        except ImportError as exc:
            raise click.ClickException(str(exc)) from None
    if e2e:
        from .bench.e2e import report

        click.echo(report(rounds))
    sys.exit(1 if bad else 0)


# ---- status -------------------------------------------------------------------------------------
@cli.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the /status document as JSON.")
@click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0, min_open=True),
    help="Seconds to wait for the answer.",
)
def status(url: str, as_json: bool, timeout: float) -> None:
    """Show the connections, consumers (queue depth, drops, lag), topics, sinks and alerts of
    a running feed or pool, read from the /status of its metrics server (`tickwire stream
    --metrics-port N`, `Pool(metrics_port=N)`, `MetricsServer`): URL is http://HOST:PORT (or
    the /status URL itself). Tables on a terminal, plain columns otherwise. Exit 1 if the server
    cannot be reached or does not answer with a status document."""
    from .monitoring import fetch_status, render_status

    try:
        doc = run_interruptible(fetch_status(url, timeout))
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED_EXIT_CODE)
    except (OSError, ValueError, asyncio.TimeoutError) as exc:
        _fail(f"{redact_url(url)}: {_describe_error(exc)}", 1)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    render_status(doc, rich=sys.stdout.isatty())


def _register() -> None:
    from .simulator.cli import simulate_command

    cli.add_command(simulate_command, "simulate")


_register()

if __name__ == "__main__":
    main()
