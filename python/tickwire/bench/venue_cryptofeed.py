"""cryptofeed's own handler for a venue, driven without a socket (the venue benchmarks' third
path, beside tickwire and the orjson bots of :mod:`tickwire.bench.venue_bots`).

Like :class:`tickwire.bench.baselines.CryptofeedReplay` for Binance: the feed is built as a
cryptofeed user would build it (``symbols=[...]``, ``channels=[...]``, no callbacks,
``checksum_validation=True`` where the venue sends checksums), and each raw frame is awaited
through ``feed.message_handler(frame, conn, receive_time)``, the call cryptofeed's connection
handler makes per received message, inside one asyncio loop. Nothing of cryptofeed is patched:
its symbol table is filled through ``Symbols.set`` (what its exchange-info download would do)
and ``conn`` is a stand-in carrying the attributes the handlers read (``address``, ``uuid``,
``subscription``, as the real connection has them for that subscription).

cryptofeed 2.4 has handlers for Bybit v5, OKX v5, Kraken WS v1 and Coinbase Advanced Trade; it
has none for the Coinbase Exchange feed any more (:data:`CRYPTOFEED_VENUES` lists the ones used).
What each handler does and skips is its own (see :data:`CAVEATS`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

__all__ = [
    "CAVEATS",
    "CRYPTOFEED_VENUES",
    "NOT_USED",
    "CryptofeedVenueReplay",
    "cryptofeed_venue_available",
]

Level = tuple[float, float]


def _cf(module: str) -> ModuleType:
    return importlib.import_module(f"cryptofeed.{module}")


@dataclass(frozen=True)
class _CfVenue:
    module: str  # cryptofeed.exchanges.<module>
    cls: str
    address: str  # the endpoint the handler believes it is connected to
    channels: tuple[str, ...]  # cryptofeed.defines names
    subscription: tuple[str, ...]  # the venue channel names the connection subscribed
    checksum: bool
    max_depth: int = 0


CRYPTOFEED_VENUES: dict[str, _CfVenue] = {
    "bybit": _CfVenue(
        "bybit",
        "Bybit",
        "wss://stream.bybit.com/v5/public/linear",
        ("L2_BOOK", "TRADES", "TICKER", "CANDLES"),
        ("orderbook", "publicTrade", "tickers", "kline"),
        checksum=False,
    ),
    "okx": _CfVenue(
        "okx",
        "OKX",
        "wss://ws.okx.com:8443/ws/v5/public",
        ("L2_BOOK", "TRADES", "TICKER"),
        ("books", "trades", "tickers"),
        checksum=True,
    ),
    "kraken": _CfVenue(
        "kraken",
        "Kraken",
        "wss://ws.kraken.com",
        ("L2_BOOK",),
        ("book",),
        checksum=True,
        max_depth=1000,
    ),
    "coinbase": _CfVenue(
        "coinbase",
        "Coinbase",
        "wss://advanced-trade-ws.coinbase.com",
        ("L2_BOOK", "TRADES"),
        ("level2", "market_trades"),
        checksum=False,
    ),
}
"""Venue -> the cryptofeed handler used for it."""

CAVEATS: dict[str, str] = {
    "bybit": "no sequence check on orderbook deltas (cryptofeed applies them as they come)",
    "okx": "checksum_validation=True; no seqId/prevSeqId check",
    "kraken": "checksum_validation=True; book kept at the subscribed 1000 levels",
    "coinbase": "no sequence_num check; ticker/candles/heartbeats frames are parsed and "
    "dropped (not handled); its snapshot reads asks from side 'ask' but the feed says "
    "'offer', so its book has no asks until updates add some",
}
"""What each cryptofeed handler does not do that tickwire and the bot do."""

NOT_USED: dict[str, str] = {
    "kucoin": "its handler fetches each book's REST snapshot itself over HTTP (no network here)",
    "gateio": "its handler fetches each book's REST snapshot itself over HTTP (no network here)",
    "gateio-spot": "its handler fetches each book's REST snapshot itself over HTTP "
    "(no network here)",
}
"""Venues whose cryptofeed handler exists but cannot run on a recording, and why."""


def cryptofeed_venue_available(venue: str) -> bool:
    """True if cryptofeed is importable and has a handler for ``venue``."""
    spec = CRYPTOFEED_VENUES.get(venue)
    if spec is None:
        return False
    try:
        _cf(f"exchanges.{spec.module}")
    except Exception:  # noqa: BLE001 - not installed or broken: either way absent
        return False
    return True


def _std_symbol(unified: str) -> tuple[str, str, str]:
    """(base, quote, cryptofeed type) of a unified symbol (``X/Y`` spot, ``X/Y:Z`` perpetual,
    ``X/Y:Z-YYMMDD`` futures)."""
    base, rest = unified.split("/", 1)
    quote, _, settle = rest.partition(":")
    if not settle:
        return base, quote, "spot"
    if "-" in settle:
        return base, quote, "futures"
    return base, quote, "perpetual"


class CryptofeedVenueReplay:
    """cryptofeed's handler for ``venue`` over recorded frames, no socket.

    ``symbols``: unified symbol -> the venue's market id (``"BTC/USDT:USDT"`` ->
    ``"BTCUSDT"``), i.e. what was subscribed; ``loop``: the event loop to drive it in (default:
    its own, closed by :meth:`close`). Raises ``ValueError`` for a venue without a cryptofeed
    handler (see :data:`CRYPTOFEED_VENUES`).
    """

    def __init__(
        self,
        venue: str,
        symbols: dict[str, str],
        loop: asyncio.AbstractEventLoop | None = None,
    ):
        spec = CRYPTOFEED_VENUES.get(venue)
        if spec is None:
            raise ValueError(f"cryptofeed has no handler used for {venue!r}")
        defines = _cf("defines")
        sym_mod = _cf("symbols")
        cls = getattr(_cf(f"exchanges.{spec.module}"), spec.cls)
        normalized: dict[str, str] = {}
        info: dict[str, dict[str, Any]] = {"instrument_type": {}, "tick_size": {}}
        self.std: dict[str, str] = {}  # unified -> cryptofeed symbol
        for unified, raw in symbols.items():
            base, quote, kind = _std_symbol(unified)
            expiry = unified.rsplit("-", 1)[1] if kind == "futures" else None
            s = sym_mod.Symbol(base, quote, type=kind, expiry_date=expiry)
            normalized[s.normalized] = raw
            info["instrument_type"][s.normalized] = kind
            self.std[unified] = s.normalized
        if sym_mod.Symbols.populated(cls.id):
            old, old_info = sym_mod.Symbols.get(cls.id)
            normalized = {**old, **normalized}
            for k, v in info.items():
                old_info.setdefault(k, {}).update(v)
            info = old_info
        sym_mod.Symbols.set(cls.id, normalized, info)
        kwargs: dict[str, Any] = {"checksum_validation": spec.checksum}
        if spec.max_depth:
            kwargs["max_depth"] = spec.max_depth
        self.feed = cls(
            symbols=list(self.std.values()),
            channels=[getattr(defines, c) for c in spec.channels],
            **kwargs,
        )
        raws = list(symbols.values())
        self.conn = SimpleNamespace(
            address=spec.address,
            uuid=f"bench-{venue}",
            subscription=dict.fromkeys(spec.subscription, raws),
        )
        self._own_loop = loop is None
        self.loop = asyncio.new_event_loop() if loop is None else loop
        self.frames_handled = 0

    async def _drive(self, frames: Sequence[bytes]) -> int:
        handler, conn, now = self.feed.message_handler, self.conn, time.time
        for f in frames:
            await handler(f, conn, now())
        return len(frames)

    def run(self, frames: Sequence[bytes]) -> int:
        """Await the handler over all ``frames`` (the ``feedhandler`` logger raised to ERROR
        meanwhile, so skipped-message warnings cost no I/O); return the number handled."""
        log = logging.getLogger("feedhandler")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            n: int = self.loop.run_until_complete(self._drive(frames))
        finally:
            log.setLevel(level)
        self.frames_handled += n
        return n

    def close(self) -> None:
        """Close the replay's event loop (unless it was passed in)."""
        if self._own_loop and not self.loop.is_closed():
            self.loop.close()

    def depths(self) -> dict[str, tuple[int, int]]:
        """``{unified symbol: (bid levels, ask levels)}`` of the books cryptofeed holds."""
        out: dict[str, tuple[int, int]] = {}
        for unified, std in self.std.items():
            ob = self.feed._l2_book.get(std)
            if ob is not None:
                out[unified] = (len(ob.book.bids), len(ob.book.asks))
        return out

    def tops(self) -> dict[str, tuple[Level | None, Level | None]]:
        """``{unified symbol: (best bid, best ask)}`` of the books cryptofeed holds."""
        out: dict[str, tuple[Level | None, Level | None]] = {}
        for unified, std in self.std.items():
            ob = self.feed._l2_book.get(std)
            if ob is None:
                continue
            sides: list[Level | None] = []
            for side in (ob.book.bids, ob.book.asks):
                if len(side) == 0:
                    sides.append(None)
                else:
                    p, q = side.index(0)
                    sides.append((float(p), float(q)))
            out[unified] = (sides[0], sides[1])
        return out


# Bitget: cryptofeed's handler speaks the v1 streams (`instType` `sp`/`mc`) our recording has.
CRYPTOFEED_VENUES["bitget"] = _CfVenue(
    "bitget",
    "Bitget",
    "wss://ws.bitget.com/spot/v1/stream",
    ("L2_BOOK", "TRADES", "TICKER", "CANDLES"),
    ("books", "trade", "ticker", "candle1m"),
    checksum=True,
)
CAVEATS["bitget"] = "checksum_validation=True; v1 streams only (no v2 instType, no seq check)"
