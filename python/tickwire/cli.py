"""The ``tickwire`` command line (click).

Every command answers bad input with one line on stderr (``Error: ...`` naming the value or file
and the problem) and a non-zero exit code, after printing whatever it did manage to do; Ctrl-C
ends any command with exit code 130 and no traceback, after it has closed its sockets.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from ._interrupt import INTERRUPTED_EXIT_CODE, run_interruptible
from .exceptions import TickwireError
from .exchanges import exchange_ids
from .replay import RecordingReadError, Replay, ReplayStats, SnapshotFile, event_to_dict

# Exit-code bits of `tickwire replay` (2 is a usage error, 130 Ctrl-C).
EXIT_BAD_LINES = 1
EXIT_GAPS = 4
EXIT_UNREADABLE = 8
# Bad lines reported one by one on stderr; the rest are counted in one more line.
MAX_REPORTED_LINES = 20

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
    required=True,
    type=click.Choice(exchange_ids()),
    help="Exchange id the recording was captured from.",
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
    recording: str, exchange: str, snapshots: tuple[str, ...], depth: int, output: str
) -> None:
    """Run RECORDING (one raw frame per line, .jsonl or .jsonl.gz) through the live decoder.

    jsonl prints one normalized event per line; stats prints counts per event kind, gaps, bad
    lines and msg/s. Bad lines (e.g. frames of another market than --exchange) are reported on
    stderr with their line number and skipped; a depth stream that never synced and a snapshot
    that cannot belong to its symbol are warned about. A file that cannot be read to its end
    is one error line, after the stats of what was read.
    Exit code: 0 clean, bit 1 = bad lines, bit 4 = sequence gaps, bit 8 = a file could not be
    read to its end; 2 = bad arguments (e.g. a snapshot file that is not JSON); 130 = Ctrl-C.
    """
    try:
        rep = Replay(recording, exchange, [SnapshotFile.parse(s) for s in snapshots])
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


def _print_events(rep: Replay, recording: str, depth: int, jsonl: bool) -> None:
    """Replay ``rep``: each event as a jsonl line on stdout (if ``jsonl``), bad lines (the first
    MAX_REPORTED_LINES) and gaps on stderr."""
    out = sys.stdout
    for event in rep:
        d = event_to_dict(event, depth, rep.decoder)
        kind = d["type"]
        if kind == "bad_frame" and len(rep.stats.bad_lines) <= MAX_REPORTED_LINES:
            click.echo(f"{recording}:{d['line']}: skipped bad line: {d['error']}", err=True)
        elif kind == "gap":
            click.echo(
                f"{recording}:{d['line']}: sequence gap on {d['symbol']}: expected "
                f"{d['expected']}, received {d['received']}",
                err=True,
            )
        if jsonl:
            out.write(json.dumps(d, separators=(",", ":")) + "\n")


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
    dec = rep.decoder
    return {
        "recording": recording,
        "exchange": exchange,
        "frames": st.frames,
        "events": dict(sorted(st.events.items())),
        "gaps": len(st.gaps),
        "bad_lines": [b.line for b in st.bad_lines],
        "warnings": st.warnings,
        "msgs_per_second": round(st.msgs_per_second),
        "decoder": dec.stats(),
        "books": {
            s: {"sequence": dec.book(s).sequence, "synced": dec.book(s).synced}
            for s in dec.symbols()
        },
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
@click.argument("exchange", type=click.Choice(exchange_ids()))
@click.argument("symbols", nargs=-1, required=True)
@click.option(
    "--channels",
    "-c",
    default="book,trades,bbo",
    show_default=True,
    help="Comma-separated: book, trades, bbo, candles.",
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
def stream(
    exchange: str,
    symbols: tuple[str, ...],
    channels: str,
    output: str,
    depth: int,
    base_url: str | None,
    limit: int,
    start_timeout: float,
) -> None:
    """Stream live SYMBOLS (ccxt-unified: ETH/USDT, ETH/USDT:USDT) from EXCHANGE and print
    normalized events, one per line. The same code as a bot's Feed; only the URL differs.
    Exit code: 0 after --limit events, 1 if the feed cannot start or fails (one line on
    stderr), 2 for bad arguments, 130 on Ctrl-C (connections closed first)."""
    from .feed import Feed

    chans = [c.strip() for c in channels.split(",") if c.strip()]
    try:
        feed = Feed(exchange, list(symbols), chans, base_url=base_url, start_timeout=start_timeout)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None

    async def go() -> None:
        try:
            await _stream(feed, depth, output, limit)
        finally:
            await feed.close()

    try:
        run_interruptible(go())
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED_EXIT_CODE)


async def _stream(feed: Any, depth: int, output: str, limit: int) -> None:
    """Start ``feed`` and print its events until ``limit`` market events (0: no limit)."""
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
            d = event_to_dict(event, depth, feed)
            click.echo(json.dumps(d, separators=(",", ":")) if output == "jsonl" else _text(d))
            if d["type"] in MARKET_KINDS:
                printed += 1
                if limit and printed >= limit:
                    return
    # The feed gave up (e.g. a permanent refusal on reconnect): one line as well.
    except Exception as exc:  # noqa: BLE001 - reported as one line, see above
        raise click.ClickException(f"the feed failed: {_describe_error(exc)}") from None


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
    RECORDING: all (default), binance, venues, or names. Prints msg/s and ratios; exit 1 if
    tickwire's final books differ from the reference bot's."""
    from .bench.decode import PATH_TICKWIRE, compare_many, expand, format_table

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


def _register() -> None:
    from .simulator.cli import simulate_command

    cli.add_command(simulate_command, "simulate")


_register()

if __name__ == "__main__":
    main()
