"""``tickwire simulate``: run the local exchange simulator until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib

import click

from .faults import parse_fault
from .markets import MARKETS, usdm_route_of


async def _serve(
    markets,
    speed,
    host,
    port,
    faults,
    ping_interval,
    pong_timeout,
    echo,
    exchange_info_status=200,
    symbol_status=None,
):
    from .server import Simulator

    sims = []
    try:
        for k, market in enumerate(markets):
            sim = Simulator(
                market,
                speed=speed,
                host=host,
                port=port + k if port else 0,
                faults=faults,
                ping_interval=ping_interval,
                pong_timeout=pong_timeout,
                exchange_info_status=exchange_info_status,
                symbol_status=symbol_status,
            )
            await sim.start()
            sims.append(sim)
            echo(f"{market}:")
            echo(f"  websocket  {sim.ws_url}  (/ws, /ws/<stream>, /stream?streams=...)")
            if market == "binanceusdm" and sim.routing:
                for route in ("/public", "/market"):
                    names = [n for n in sim.streams if usdm_route_of(n) == route]
                    if names:
                        echo(f"  {route[1:]:6s} streams {sim.stream_url(*names, route=route)}")
            else:
                echo(f"  all streams {sim.stream_url()}")
            for symbol in sim.recording.snapshots:
                echo(f"  rest depth {sim.depth_url}?symbol={symbol}&limit=1000")
            echo(f"  rest info  {sim.exchange_info_url}")
        echo("replay starts at the first subscription; Ctrl-C to stop")
        while True:
            await asyncio.sleep(3600)
    finally:
        for sim in sims:
            await sim.stop()


@click.command("simulate")
@click.option(
    "--market",
    "-m",
    "markets",
    multiple=True,
    type=click.Choice(sorted(MARKETS)),
    help="Market(s) to serve, one port each (default: all).",
)
@click.option(
    "--speed",
    default="1",
    show_default=True,
    help="1 = recorded pace, N = N times faster, 'max' = as fast as clients read.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=int, help="First port (0: ephemeral).")
@click.option(
    "--fault",
    "fault_specs",
    multiple=True,
    help="Per-connection fault, e.g. close_after=500, stall=5,after=100, "
    "drop_line=1234, garbage_after=10, lifetime=30, slow_snapshot=2.",
)
@click.option("--ping-interval", type=float, default=None, help="Seconds (market default).")
@click.option("--pong-timeout", type=float, default=None, help="Seconds (market default).")
@click.option(
    "--exchange-info-status",
    type=click.IntRange(100, 599),
    default=200,
    show_default=True,
    help="HTTP status of exchangeInfo replies (e.g. 503 to see clients carry on "
    "without the symbol check).",
)
@click.option(
    "--symbol-status",
    "symbol_specs",
    multiple=True,
    metavar="ID=STATUS",
    help="exchangeInfo status of a market id instead of TRADING, e.g. ETHUSDT=BREAK.",
)
def simulate_command(
    markets,
    speed,
    host,
    port,
    fault_specs,
    ping_interval,
    pong_timeout,
    exchange_info_status,
    symbol_specs,
):
    """Serve recorded Binance market data over real WebSockets on loopback."""
    try:
        faults = [parse_fault(s) for s in fault_specs]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from exc
    symbol_status = {}
    for spec in symbol_specs:
        market_id, sep, status = spec.partition("=")
        if not sep or not market_id or not status:
            raise click.BadParameter(
                f"{spec!r} is not ID=STATUS (e.g. ETHUSDT=BREAK)", param_hint="--symbol-status"
            )
        symbol_status[market_id.upper()] = status
    markets = markets or tuple(sorted(MARKETS))
    try:
        import uvloop  # optional speed-up

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(
            _serve(
                markets,
                speed,
                host,
                port,
                faults,
                ping_interval,
                pong_timeout,
                lambda s: click.echo(s),
                exchange_info_status,
                symbol_status,
            )
        )


if __name__ == "__main__":  # pragma: no cover
    simulate_command()
