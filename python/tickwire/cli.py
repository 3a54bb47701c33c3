"""The ``tickwire`` command line (click)."""

from __future__ import annotations

import json
import sys

import click

from .replay import Replay, SnapshotFile, event_to_dict

# Exit-code bits of `tickwire replay` (2 is click's usage error).
EXIT_BAD_LINES = 1
EXIT_GAPS = 4


@click.group()
@click.version_option(package_name="tickwire")
def main() -> None:
    """tickwire: exchange market data with a Rust core."""


@main.command()
@click.argument("recording", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--exchange",
    "-e",
    required=True,
    type=click.Choice(["binance", "binanceusdm"]),
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
@click.option(
    "--depth",
    "-n",
    default=5,
    show_default=True,
    type=click.IntRange(0, 5000),
    help="Book levels per side in each jsonl book update.",
)
@click.option(
    "--output", "-o", default="stats", show_default=True, type=click.Choice(["jsonl", "stats"])
)
def replay(
    recording: str, exchange: str, snapshots: tuple[str, ...], depth: int, output: str
) -> None:
    """Run RECORDING (one raw frame per line, .jsonl or .jsonl.gz) through the live decoder.

    jsonl prints one normalized event per line; stats prints counts per event kind, gaps, bad
    lines and msg/s. Bad lines are reported on stderr with their line number and skipped.
    Exit code: 0 clean, bit 1 = bad lines, bit 4 = sequence gaps.
    """
    for spec in snapshots:
        if not SnapshotFile.parse(spec).path.exists():
            raise click.BadParameter(f"{spec}: no such file", param_hint="--snapshot")
    try:
        rep = Replay(recording, exchange, [SnapshotFile.parse(s) for s in snapshots])
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--snapshot") from None
    out = sys.stdout
    for event in rep:
        d = event_to_dict(event, depth, rep.decoder)
        if d["type"] == "bad_frame":
            click.echo(f"{recording}:{d['line']}: skipped bad line: {d['error']}", err=True)
        elif d["type"] == "gap":
            click.echo(
                f"{recording}:{d['line']}: sequence gap on {d['symbol']}: expected {d['expected']}, "
                f"received {d['received']}",
                err=True,
            )
        if output == "jsonl":
            out.write(json.dumps(d, separators=(",", ":")) + "\n")
    st = rep.stats
    for path in st.unmatched_snapshots:
        click.echo(f"warning: snapshot {path} matched no symbol of the recording", err=True)
    if output == "stats":
        summary = {
            "recording": recording,
            "exchange": exchange,
            "frames": st.frames,
            "events": dict(sorted(st.events.items())),
            "gaps": len(st.gaps),
            "bad_lines": [b.line for b in st.bad_lines],
            "msgs_per_second": round(st.msgs_per_second),
            "decoder": rep.decoder.stats(),
            "books": {
                s: {"sequence": rep.decoder.book(s).sequence, "synced": rep.decoder.book(s).synced}
                for s in rep.decoder.symbols()
            },
        }
        click.echo(json.dumps(summary, indent=2))
    code = (EXIT_BAD_LINES if st.bad_lines else 0) | (EXIT_GAPS if st.gaps else 0)
    sys.exit(code)


@main.command()
def demo() -> None:
    """The main job, no network and no keys: a local exchange simulator replays real Binance
    recordings (spot and USD-M ETHUSDT) through exactly the live code path, with one injected
    disconnect and one gap, shown live (best bid/ask, trades, msg/s, latency, recoveries).
    About 30 s; plain lines when stdout is not a terminal. Exit 1 if a final book is wrong."""
    from .demo import run_demo

    sys.exit(run_demo())


@main.command()
@click.argument("exchange", type=click.Choice(["binance", "binanceusdm"]))
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
@click.option(
    "--depth",
    "-n",
    default=5,
    show_default=True,
    type=click.IntRange(0, 5000),
    help="Book levels per side in each book line.",
)
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
def stream(
    exchange: str,
    symbols: tuple[str, ...],
    channels: str,
    output: str,
    depth: int,
    base_url: str | None,
    limit: int,
) -> None:
    """Stream live SYMBOLS (ccxt-unified: ETH/USDT, ETH/USDT:USDT) from EXCHANGE and print
    normalized events, one per line. The same code as a bot's Feed; only the URL differs."""
    from .feed import Feed, run

    chans = [c.strip() for c in channels.split(",") if c.strip()]
    try:
        feed = Feed(exchange, list(symbols), chans, base_url=base_url)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None

    async def go() -> None:
        printed = 0
        try:
            await feed.start()
        except ValueError as e:  # e.g. a symbol the exchange does not list: one line, exit 1
            raise click.ClickException(str(e)) from None
        try:
            async for event in feed:
                d = event_to_dict(event, depth, _book_owner(feed))
                click.echo(json.dumps(d, separators=(",", ":")) if output == "jsonl" else _text(d))
                if d["type"] in ("book", "bbo", "trade", "candle"):
                    printed += 1
                    if limit and printed >= limit:
                        return
        finally:
            await feed.close()

    try:
        run(go())
    except KeyboardInterrupt:
        pass


class _book_owner:
    """Adapter so event_to_dict can read books from a Feed as from a Decoder."""

    def __init__(self, feed) -> None:
        self.book = feed.book


def _text(d: dict) -> str:
    kind = d["type"]
    if kind == "book":
        return f"book  {d['symbol']:<16} seq={d['sequence']} bid={d.get('bid')} ask={d.get('ask')}"
    if kind == "bbo":
        return f"bbo   {d['symbol']:<16} {d['bid']} / {d['ask']}"
    if kind == "trade":
        return f"trade {d['symbol']:<16} {d['side']:<4} {d['size']} @ {d['price']}"
    return " ".join(f"{k}={v}" for k, v in d.items())


@main.command()
@click.argument("recording", default="all", type=click.Choice(["spot", "usdm", "all"]))
@click.option(
    "--rounds",
    default=5,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Interleaved timed rounds per path.",
)
@click.option("--no-cryptofeed", is_flag=True, help="Skip the cryptofeed baseline.")
@click.option(
    "--e2e",
    is_flag=True,
    help="Also run the end-to-end loopback benchmark (simulator in a "
    "separate process; floor and picows+orjson clients in the same run; latency at 20k msg/s).",
)
def bench(recording: str, rounds: int, no_cryptofeed: bool, e2e: bool) -> None:
    """Decode + book throughput on the packaged real ETHUSDT recordings (spot, USD-M), with
    an orjson + dict-book bot and cryptofeed's Binance handler measured in the same run
    (baselines need `pip install 'tickwire[bench]'`). Prints msg/s and ratios; exit 1 if
    any path's final book differs from the reference."""
    from .bench.decode import compare, format_table

    bad = False
    for name in ["spot", "usdm"] if recording == "all" else [recording]:
        rows = compare(name, rounds=rounds, include_cryptofeed=not no_cryptofeed)
        click.echo(format_table(rows) + "\n")
        bad |= any(r["top_ok"] is False for r in rows)
    if e2e:
        from .bench.e2e import report

        click.echo(report(rounds))
    sys.exit(1 if bad else 0)


def _register() -> None:
    from .simulator.cli import simulate_command

    main.add_command(simulate_command, "simulate")


_register()

if __name__ == "__main__":
    main()
