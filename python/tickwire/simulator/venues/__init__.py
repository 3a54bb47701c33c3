"""The simulator's venues: every market the simulator serves, one registry line per venue
family (see ``..venue`` for how to add one)."""

from __future__ import annotations

from ..venue import MarketSpec
from . import (
    binance,
    bitget,
    bitunix,
    bybit,
    coinbase,
    gateio,
    hyperliquid,
    kraken,
    kucoin,
    mexc,
    okx,
)

MARKETS: dict[str, MarketSpec] = {
    spec.name: spec
    for spec in (
        *binance.SPECS,
        *okx.SPECS,
        *kraken.SPECS,
        *coinbase.SPECS,
        *bybit.SPECS,
        *kucoin.SPECS,
        *gateio.SPECS,
        *bitget.SPECS,
        *mexc.SPECS,
        *hyperliquid.SPECS,
        *bitunix.SPECS,
    )
}

__all__ = ["MARKETS"]
