"""The simulator's venues: every market the simulator serves, one registry line per venue
family (see ``..venue`` for how to add one)."""

from __future__ import annotations

from ..venue import MarketSpec
from . import binance, bybit, coinbase, kraken, okx
from . import kucoin as _kucoin
from . import binance, bybit, coinbase, gateio, kraken, okx
from . import binance, bitget, bybit, coinbase, kraken, okx
from . import binance, bybit, coinbase, kraken, mexc, okx
from . import binance, bitunix, bybit, coinbase, kraken, okx

MARKETS: dict[str, MarketSpec] = {
    spec.name: spec
    for spec in (
        *binance.SPECS,
        *okx.SPECS,
        *kraken.SPECS,
        *coinbase.SPECS,
        *bybit.SPECS,
        *gateio.SPECS,
        *bitget.SPECS,
        *bitunix.SPECS,
    )
}
MARKETS.update({spec.name: spec for spec in _kucoin.SPECS})
MARKETS.update({spec.name: spec for spec in mexc.SPECS})
MARKETS.update({s.name: s for s in __import__(f"{__name__}.hyperliquid", fromlist=["_"]).SPECS})

__all__ = ["MARKETS"]
