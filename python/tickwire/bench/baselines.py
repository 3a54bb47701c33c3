"""Baselines that tickwire's decode benchmarks are compared against.

Both baselines take the same input as the tickwire path: a list of raw
WebSocket text frames (``bytes``, one Binance combined-stream frame each,
``{"stream": ..., "data": ...}``) plus the raw REST depth snapshot body
(``bytes``), and process every frame with full decoding and order book
maintenance.  Neither needs tickwire to be installed.

* :class:`OrjsonBot` -- the "hand-written bot": ``orjson`` decoding, one
  ``dict`` (price -> size, floats) per book side, and Binance's documented
  sync rule.  It is written to be fast; it is the baseline a careful Python
  user would write by hand.
* :class:`CryptofeedReplay` -- cryptofeed's own ``Binance`` /
  ``BinanceFutures`` feed message handler (its decoding and its order book),
  driven without a socket: frames are awaited one by one through its
  ``message_handler`` coroutine and its REST snapshot request is answered
  from the recorded snapshot.  Needs the optional ``cryptofeed`` package.

:func:`load_recording` loads one of the two reference recordings.
The throughput unit used throughout the benches is *messages (frames) per
second*: the number of frames of a recording divided by the wall-clock
seconds taken to process all of them (snapshot application included).
"""

from __future__ import annotations

import asyncio
import gzip
import importlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

orjson: ModuleType | None
try:
    import orjson
except ImportError:  # `pip install tickwire[bench]`; tickwire.bench.decode reports it as skipped
    orjson = None

__all__ = [
    "RECORDINGS",
    "BenchRecording",
    "BotSequenceGapError",
    "CryptofeedReplay",
    "OrjsonBot",
    "cryptofeed_available",
    "cryptofeed_version",
    "load_recording",
    "orjson",
    "run_cryptofeed",
    "run_orjson_bot",
]

Level = tuple[float, float]  # (price, size)

_DATA = Path(__file__).resolve().parent.parent / "data"

# name -> (directory in the package data, tickwire exchange id, unified symbol, raw symbol,
#          market, number of frames received before the REST snapshot arrived)
RECORDINGS = {
    "spot": ("binance", "binance", "ETH/USDT", "ETHUSDT", "spot", 5),
    "usdm": ("binanceusdm", "binanceusdm", "ETH/USDT:USDT", "ETHUSDT", "usdm", 40),
}
_STEM = "ethusdt_20240808"


@dataclass(frozen=True)
class BenchRecording:
    """One real Binance capture, loaded into memory.

    ``frames`` are the raw text frames as ``bytes`` (no trailing newline);
    ``snapshot`` is the raw REST depth body; the snapshot arrived after
    ``frames[:snapshot_after]`` had been received.
    """

    name: str
    exchange_id: str  # tickwire Decoder id
    symbol: str  # unified symbol, as tickwire names it
    raw_symbol: str  # Binance symbol, e.g. "ETHUSDT"
    market: str  # "spot" | "usdm"
    frames: list[bytes]
    snapshot: bytes
    snapshot_after: int


def load_recording(name: str = "spot", data_dir: str | Path | None = None) -> BenchRecording:
    """Load recording ``"spot"`` or ``"usdm"`` (frames as a list of bytes) from the packaged
    real ETHUSDT captures (``tickwire/data``, see SOURCES.md there), or from ``data_dir``
    laid out the same way."""
    try:
        sub, exchange_id, symbol, raw_symbol, market, after = RECORDINGS[name]
    except KeyError:
        raise ValueError(
            f"unknown recording {name!r}; expected one of {sorted(RECORDINGS)}"
        ) from None
    d = Path(data_dir or os.environ.get("TICKWIRE_DATA") or _DATA) / sub
    text = gzip.decompress((d / f"{_STEM}.jsonl.gz").read_bytes())
    frames = [line for line in text.splitlines() if line.strip()]
    snapshot = (d / f"{_STEM}_depth_snapshot.json").read_bytes()
    return BenchRecording(name, exchange_id, symbol, raw_symbol, market, frames, snapshot, after)


# ---------------------------------------------------------------------------
# (a) the hand-written bot: orjson + dict book
# ---------------------------------------------------------------------------


class BotSequenceGapError(Exception):
    """A depth delta broke the U/u (spot) or pu (USD-M) chain."""

    def __init__(self, symbol: str, expected: int, received: int):
        super().__init__(f"{symbol}: expected update id {expected}, received {received}")
        self.symbol, self.expected, self.received = symbol, expected, received


class _DictBook:
    """One symbol's L2 book: ``bids``/``asks`` map price (float) -> size (float)."""

    __slots__ = ("asks", "bids", "bridged", "last_id", "pending", "synced")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last_id = 0  # snapshot lastUpdateId, then last applied final update id u
        self.synced = False  # a snapshot has been applied
        self.bridged = False  # the first delta after the snapshot has been applied
        self.pending: list[dict[str, Any]] = []  # deltas received before the snapshot

    def best_bid(self) -> Level | None:
        """(price, size) of the highest bid, or None."""
        if not self.bids:
            return None
        p = max(self.bids)
        return (p, self.bids[p])

    def best_ask(self) -> Level | None:
        """(price, size) of the lowest ask, or None."""
        if not self.asks:
            return None
        p = min(self.asks)
        return (p, self.asks[p])


def _apply_levels(side: dict[float, float], levels: list[list[str]]) -> None:
    pop = side.pop
    for p, q in levels:
        qty = float(q)
        if qty:
            side[float(p)] = qty
        else:
            pop(float(p), None)


def _orjson_missing(_data: bytes | str) -> Any:
    raise ImportError("the orjson bot needs orjson: pip install 'tickwire[bench]'")


_loads: Callable[[bytes | str], Any] = orjson.loads if orjson is not None else _orjson_missing
_time_ns = time.time_ns


class OrjsonBot:
    """Hand-written Binance client: orjson decode + dict book per side.

    ``feed(frame)`` decodes one raw combined-stream frame and returns one
    event tuple (or ``None`` for a stale/buffered depth delta):

    * ``("trade", symbol, price, size, side, trade_id, exchange_ts, receive_ts)``
    * ``("bbo", symbol, bid, bid_size, ask, ask_size, sequence, exchange_ts|None, receive_ts)``
    * ``("book", symbol, u, exchange_ts, receive_ts)`` after a depth delta was applied

    prices/sizes are floats, timestamps int ns since the epoch, ``receive_ts``
    is ``time.time_ns()`` taken per frame (as a live client would).

    Book sync follows Binance's documented rule
    (``market="spot"``: drop ``u <= lastUpdateId``, the first applied delta
    needs ``U <= lastUpdateId + 1 <= u``, later ones ``U == previous u + 1``;
    ``market="usdm"``: drop ``u < lastUpdateId``, the first applied delta
    needs ``U <= lastUpdateId <= u``, later ones ``pu == previous u``).
    Deltas received before the snapshot are buffered and replayed by
    :meth:`apply_snapshot`.  A broken chain raises :class:`BotSequenceGapError`.
    Quantity 0 deletes a level.
    """

    def __init__(self, market: str = "spot"):
        if market not in ("spot", "usdm"):
            raise ValueError(f"market must be 'spot' or 'usdm', not {market!r}")
        self.market = market
        self.futures = market == "usdm"
        self.exchange = "binanceusdm" if self.futures else "binance"
        self.books: dict[str, _DictBook] = {}  # raw symbol -> book
        self._unified: dict[str, str] = {}  # raw symbol -> unified symbol (cache)

    # -- symbols ----------------------------------------------------------
    def unified(self, raw: str) -> str:
        """The unified symbol of Binance's ``raw`` one (``ETHUSDT`` -> ``ETH/USDT``)."""
        u = self._unified.get(raw)
        if u is None:
            for quote in ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY"):
                if raw.endswith(quote) and len(raw) > len(quote):
                    u = f"{raw[: -len(quote)]}/{quote}"
                    break
            else:
                u = raw
            if self.futures:
                u = f"{u}:{u.rsplit('/', 1)[-1]}"
            self._unified[raw] = u
        return u

    def book(self, raw_symbol: str) -> _DictBook:
        """The book of ``raw_symbol`` (made empty on first use)."""
        b = self.books.get(raw_symbol)
        if b is None:
            b = self.books[raw_symbol] = _DictBook()
        return b

    # -- snapshot ---------------------------------------------------------
    def apply_snapshot(self, raw_symbol: str, payload: bytes) -> list[tuple[Any, ...]]:
        """Apply a REST depth body; replay buffered deltas; return book events."""
        snap = _loads(payload)
        b = self.book(raw_symbol)
        b.bids = {float(p): float(q) for p, q in snap["bids"]}
        b.asks = {float(p): float(q) for p, q in snap["asks"]}
        b.last_id = snap["lastUpdateId"]
        b.synced = True
        b.bridged = False
        pending, b.pending = b.pending, []
        now = time.time_ns()
        symbol = self.unified(raw_symbol)
        return [
            ("book", symbol, d["u"], d["E"] * 1_000_000, now) for d in pending if self._delta(b, d)
        ]

    # -- per-delta sync rule (returns True when applied) --------------------
    def _delta(self, b: _DictBook, d: dict[str, Any]) -> bool:
        u = d["u"]
        last = b.last_id
        if self.futures:
            if not b.bridged:
                if u < last:
                    return False
                if not (d["U"] <= last <= u):
                    raise BotSequenceGapError(d["s"], last, d["U"])
                b.bridged = True
            elif d["pu"] != last:
                raise BotSequenceGapError(d["s"], last, d["pu"])
        else:
            if u <= last:
                return False
            if not b.bridged:
                if not (d["U"] <= last + 1 <= u):
                    raise BotSequenceGapError(d["s"], last + 1, d["U"])
                b.bridged = True
            elif d["U"] != last + 1:
                raise BotSequenceGapError(d["s"], last + 1, d["U"])
        _apply_levels(b.bids, d["b"])
        _apply_levels(b.asks, d["a"])
        b.last_id = u
        return True

    # -- one frame --------------------------------------------------------
    def feed(self, frame: bytes | str) -> tuple[Any, ...] | None:
        """Decode one raw frame (bytes/str); return an event tuple or None."""
        recv = _time_ns()
        d = _loads(frame)
        d = d.get("data", d)  # combined-stream envelope or raw stream frame
        e = d.get("e")
        if e is None or e == "bookTicker":  # spot bookTicker carries no "e"
            s = d["s"]
            e_ms = d.get("E")
            return (
                "bbo",
                self._unified.get(s) or self.unified(s),
                float(d["b"]),
                float(d["B"]),
                float(d["a"]),
                float(d["A"]),
                d["u"],
                None if e_ms is None else e_ms * 1_000_000,
                recv,
            )
        if e in {"trade", "aggTrade"}:
            s = d["s"]
            return (
                "trade",
                self._unified.get(s) or self.unified(s),
                float(d["p"]),
                float(d["q"]),
                "sell" if d["m"] else "buy",
                d["t"] if e == "trade" else d["a"],
                d["T"] * 1_000_000,
                recv,
            )
        if e == "depthUpdate":
            s = d["s"]
            b = self.books.get(s)
            if b is None:
                b = self.book(s)
            if not b.synced:
                b.pending.append(d)
                return None
            if self._delta(b, d):
                return (
                    "book",
                    self._unified.get(s) or self.unified(s),
                    d["u"],
                    d["E"] * 1_000_000,
                    recv,
                )
            return None
        return None


def run_orjson_bot(rec: BenchRecording, bot: OrjsonBot | None = None) -> OrjsonBot:
    """Replay a whole recording through a (fresh) :class:`OrjsonBot`.

    The snapshot is applied after ``rec.snapshot_after`` frames, as it
    arrived live.  Events are produced and dropped (a consumer would take
    them).  Returns the bot, for inspection of its books.
    """
    if bot is None:
        bot = OrjsonBot(rec.market)
    feed = bot.feed
    frames = rec.frames
    n = rec.snapshot_after
    for f in frames[:n]:
        feed(f)
    bot.apply_snapshot(rec.raw_symbol, rec.snapshot)
    for f in frames[n:]:
        feed(f)
    return bot


# ---------------------------------------------------------------------------
# (b) cryptofeed's Binance handler, no socket
# ---------------------------------------------------------------------------


def _cryptofeed(module: str) -> ModuleType:
    """``cryptofeed.<module>``, imported by name: cryptofeed is optional and ships no types."""
    return importlib.import_module(f"cryptofeed.{module}")


def cryptofeed_available() -> bool:
    """True if cryptofeed (with its Binance handlers) can be imported."""
    try:
        _cryptofeed("exchanges.binance_futures")
    except Exception:  # noqa: BLE001 - not installed, or a broken install: either way absent
        return False
    return True


def cryptofeed_version() -> str | None:
    """The installed cryptofeed version, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cryptofeed")
    except PackageNotFoundError:
        return None


def _cryptofeed_feed_class(market: str) -> Any:
    if market == "usdm":
        return _cryptofeed("exchanges.binance_futures").BinanceFutures
    return _cryptofeed("exchanges.binance").Binance


def _ensure_cryptofeed_symbols(
    cls: Any, raw_symbol: str, base: str, quote: str, futures: bool
) -> None:
    """Give cryptofeed its symbol table without the exchangeInfo HTTP request.

    cryptofeed's ``Exchange.__init__`` downloads exchangeInfo when its symbol
    table is empty.  We pass a minimal exchangeInfo document for the one
    symbol through cryptofeed's own parser (``_parse_symbol_data``) instead.
    """
    symbols = _cryptofeed("symbols").Symbols

    if symbols.populated(cls.id):
        mapping, _ = symbols.get(cls.id)
        if raw_symbol in mapping.values():
            return
    info = {
        "symbols": [
            {
                "symbol": raw_symbol,
                "baseAsset": base,
                "quoteAsset": quote,
                "status": "TRADING",
                "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"}],
                **({"contractType": "PERPETUAL", "contractStatus": "TRADING"} if futures else {}),
            }
        ]
    }
    syms, extra = cls._parse_symbol_data(info)
    symbols.set(cls.id, syms, extra)


class CryptofeedReplay:
    """cryptofeed's ``Binance`` (spot) / ``BinanceFutures`` (USD-M) handler, no socket.

    Builds the feed exactly as a cryptofeed user would
    (``symbols=[...]``, ``channels=[L2_BOOK, TRADES, TICKER]``, no
    callbacks), then awaits ``feed.message_handler(frame, conn, ts)`` once per
    raw frame inside one asyncio event loop -- the call cryptofeed's
    ``ConnectionHandler`` makes for every received message.  The only patch
    is the REST snapshot fetch: ``feed.http_conn.read`` (which cryptofeed's
    ``_snapshot`` awaits when the first depth delta arrives) returns the
    recorded snapshot body instead of doing HTTP.  Its own sync rule and
    its own ``OrderBook`` (Decimal prices) are used unchanged.

    Caveat (makes this baseline *faster* than a like-for-like one):
    cryptofeed subscribes to ``aggTrade``, not ``trade``; the recordings carry
    ``@trade`` frames, which its handler JSON-decodes and then drops with a
    "Unexpected message" warning.  The ``feedhandler`` logger is raised to
    ERROR while replaying so that those warnings cost no I/O.
    """

    def __init__(
        self,
        market: str = "spot",
        raw_symbol: str = "ETHUSDT",
        base: str = "ETH",
        quote: str = "USDT",
    ):
        defines = _cryptofeed("defines")
        channels = [defines.L2_BOOK, defines.TRADES, defines.TICKER]
        futures = market == "usdm"
        cls = _cryptofeed_feed_class(market)
        _ensure_cryptofeed_symbols(cls, raw_symbol, base, quote, futures)
        self.std_symbol = f"{base}-{quote}-PERP" if futures else f"{base}-{quote}"
        self.feed = cls(symbols=[self.std_symbol], channels=channels)
        self._snapshot_body: str | None = None
        self.snapshot_requests = 0
        self.feed.http_conn.read = self._read_snapshot  # the only patch
        self.loop = asyncio.new_event_loop()
        self.frames_handled = 0

    async def _read_snapshot(self, address: str, *_args: object, **_kwargs: object) -> str:
        # aiohttp's response.text() gives str; so do we.
        self.snapshot_requests += 1
        if self._snapshot_body is None:
            raise RuntimeError(f"cryptofeed requested {address} but no snapshot was provided")
        return self._snapshot_body

    def set_snapshot(self, snapshot: bytes | str) -> None:
        """The REST depth body to answer cryptofeed's snapshot request with."""
        self._snapshot_body = (
            snapshot.decode() if isinstance(snapshot, (bytes, bytearray)) else snapshot
        )

    async def _drive(self, frames: Sequence[bytes]) -> int:
        handler = self.feed.message_handler
        now = time.time
        for f in frames:
            await handler(f, None, now())
        return len(frames)

    def run(self, frames: Sequence[bytes]) -> int:
        """Await the handler over all ``frames``; return the number handled."""
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
        """Close the replay's event loop."""
        if not self.loop.is_closed():
            self.loop.close()

    # -- inspection (outside timed regions) ----------------------------------
    def _book(self) -> Any:
        return self.feed._l2_book.get(self.std_symbol)

    def best_bid(self) -> Level | None:
        """(price, size) as floats, or None if cryptofeed holds no book."""
        b = self._book()
        if b is None or len(b.book.bids) == 0:
            return None
        p, q = b.book.bids.index(0)
        return (float(p), float(q))

    def best_ask(self) -> Level | None:
        """(price, size) as floats, or None if cryptofeed holds no book."""
        b = self._book()
        if b is None or len(b.book.asks) == 0:
            return None
        p, q = b.book.asks.index(0)
        return (float(p), float(q))

    def sequence(self) -> int | None:
        """The last update id cryptofeed applied to the book, or None."""
        seq: int | None = self.feed.last_update_id.get(self.std_symbol)
        return seq


def run_cryptofeed(rec: BenchRecording, replay: CryptofeedReplay | None = None) -> CryptofeedReplay:
    """Replay a whole recording through a (fresh) :class:`CryptofeedReplay`."""
    if replay is None:
        replay = CryptofeedReplay(rec.market, rec.raw_symbol)
    replay.set_snapshot(rec.snapshot)
    replay.run(rec.frames)
    return replay
