"""``tickwire simulate``: run the local exchange simulator until Ctrl-C."""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import click

from .._interrupt import INTERRUPTED_EXIT_CODE, run_interruptible
from .clock import parse_speed
from .faults import Fault, parse_fault
from .venues import MARKETS

if TYPE_CHECKING:  # pragma: no cover
    from .account import SimAccount
    from .server import Simulator  # imported when serving: `tickwire --help` stays light


async def _serve(
    markets: Sequence[str],
    speed: float,
    host: str,
    port: int,
    faults: Sequence[Fault],
    ping_interval: float | None,
    pong_timeout: float | None,
    echo: Callable[[str], None],
    exchange_info_status: int = 200,
    symbol_status: Mapping[str, str] | None = None,
    accounts: Sequence[SimAccount] = (),
) -> None:
    """Serve ``markets`` (one port each, from ``port`` on; 0: ephemeral ports), print their
    URLs with ``echo`` and serve until cancelled; every simulator is stopped on the way out.
    Raises ``click.ClickException`` if a port cannot be bound."""
    from .server import Simulator

    sims: list[Simulator] = []
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
                accounts=accounts,
            )
            try:
                await sim.start()
            except OSError as exc:
                why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise click.ClickException(
                    f"{market}: cannot listen on {host}:{sim.port}: {why or exc}"
                ) from None
            sims.append(sim)
            _print_urls(sim, echo)
        echo("replay starts at the first subscription; Ctrl-C to stop")
        await asyncio.Event().wait()  # serve until cancelled (Ctrl-C)
    finally:
        for sim in sims:
            await sim.stop()


def _print_urls(sim: Simulator, echo: Callable[[str], None]) -> None:
    spec = sim.spec
    echo(f"{sim.market}:  (exchange {spec.exchange!r}, market {spec.market!r})")
    for line in sim.venue.url_lines():
        echo(line)
    for engine in sim.accounts.engines.values():
        echo(f"  account    {engine.account!r}")  # the masked repr: no secret


def _speed(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """--speed as a pace factor (``math.inf`` for 'max'); a bad value is a usage error."""
    try:
        return parse_speed(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _faults(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[Fault]:
    """--fault values parsed (see ``faults.parse_fault``); a bad one is a usage error."""
    try:
        return [parse_fault(spec) for spec in value]
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _symbol_status(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> dict[str, str]:
    """--symbol-status ID=STATUS values as {ID: STATUS}; a malformed one is a usage error."""
    out: dict[str, str] = {}
    for spec in value:
        market_id, sep, status = spec.partition("=")
        if not sep or not market_id or not status:
            raise click.BadParameter(f"{spec!r} is not ID=STATUS (e.g. ETHUSDT=BREAK)", ctx, param)
        out[market_id.upper()] = status
    return out


def parse_account(spec: str, env: Mapping[str, str] | None = None) -> SimAccount:
    """``--account`` as a :class:`~.account.SimAccount`: comma-separated ``key=value``:
    ``address=0x..`` and/or ``key=<api key>``, secrets only by environment variable name
    (``secret-env=VAR``, ``passphrase-env=VAR``, ``public-key-file=PATH`` for an Ed25519 PEM),
    ``leverage=N``, and starting balances as ``ASSET=AMOUNT`` (upper-case asset). Raises
    ``ValueError`` naming the bad part (never a secret's value)."""
    from .account import SimAccount

    env = os.environ if env is None else env
    fields: dict[str, object] = {}
    balances: dict[str, str] = {}
    for part in (p for p in spec.split(",") if p):
        name, sep, value = part.partition("=")
        if not sep or not value:
            raise ValueError(f"{name!r} is not NAME=VALUE")
        if name == "address":
            fields["address"] = value
        elif name == "key":
            fields["api_key"] = value
        elif name in ("secret-env", "passphrase-env"):
            if value not in env:
                raise ValueError(f"environment variable {value} is not set")
            fields[name.removesuffix("-env")] = env[value]
        elif name == "public-key-file":
            with open(value) as fh:
                fields["public_key"] = fh.read()
        elif name == "leverage":
            fields["leverage"] = value
        elif name.isupper():
            balances[name] = value
        else:
            raise ValueError(f"unknown account field {name!r}")
    return SimAccount(balances=balances, **fields)  # type: ignore[arg-type]


def _accounts(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> list[SimAccount]:
    """--account values parsed (see :func:`parse_account`); a bad one is a usage error."""
    try:
        return [parse_account(spec) for spec in value]
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A duration in seconds: None (the market's default) or a finite number >= 0."""
    if value is not None and not 0 <= value < float("inf"):
        raise click.BadParameter(f"must be a number of seconds >= 0, got {value!r}", ctx, param)
    return value


@click.command("simulate")
@click.option(
    "--market",
    "-m",
    "markets",
    multiple=True,
    type=click.Choice(sorted(MARKETS)),
    help="Market(s) to serve, one port each (default: all): <exchange> is an exchange's "
    "default market, <exchange>-<market> another.",
)
@click.option(
    "--speed",
    default="1",
    show_default=True,
    callback=_speed,
    help="1 = recorded pace, N = N times faster (N > 0), 'max' = as fast as clients read.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="First port (0: ephemeral).")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_faults,
    help="Per-connection fault, e.g. close_after=500, stall=5,after=100, "
    "drop_line=1234, garbage_after=10, bad_checksum=3, force_snapshot=100, lifetime=30, "
    "slow_snapshot=2 (counts and seconds >= 0); account faults auth_error=2,where=login and "
    "clock_skew=-5000 (ms).",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="SPEC",
    callback=_accounts,
    help="Register an account on the private side, e.g. address=0x..,USDC=10000 or "
    "key=KEY,secret-env=VAR,USDT=1000 (secrets only from the environment).",
)
@click.option(
    "--ping-interval", type=float, default=None, callback=_seconds, help="Seconds (market default)."
)
@click.option(
    "--pong-timeout", type=float, default=None, callback=_seconds, help="Seconds (market default)."
)
@click.option(
    "--exchange-info-status",
    type=click.IntRange(100, 599),
    default=200,
    show_default=True,
    help="HTTP status of instrument-list replies (e.g. 503 to see clients carry on "
    "without the symbol check).",
)
@click.option(
    "--symbol-status",
    "symbol_status",
    multiple=True,
    metavar="ID=STATUS",
    callback=_symbol_status,
    help="Instrument-list status of a market id instead of trading, e.g. ETHUSDT=BREAK.",
)
def simulate_command(
    markets: tuple[str, ...],
    speed: float,
    host: str,
    port: int,
    faults: list[Fault],
    ping_interval: float | None,
    pong_timeout: float | None,
    exchange_info_status: int,
    symbol_status: dict[str, str],
    accounts: list[SimAccount],
) -> None:
    """Serve recorded exchange market data over real WebSockets on loopback until Ctrl-C
    (exit 130). A port that cannot be bound is one error line and exit 1."""
    try:
        run_interruptible(
            _serve(
                markets or tuple(sorted(MARKETS)),
                speed,
                host,
                port,
                faults,
                ping_interval,
                pong_timeout,
                click.echo,
                exchange_info_status,
                symbol_status,
                accounts,
            )
        )
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED_EXIT_CODE)


if __name__ == "__main__":  # pragma: no cover
    simulate_command()
