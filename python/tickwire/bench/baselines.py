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

import gzip
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import orjson
except ImportError:  # `pip install tickwire[bench]`; tickwire.bench.decode reports it as skipped
    orjson = None

__all__ = [
    "RECORDINGS",
    "BotSequenceGap",
    "CryptofeedReplay",
    "OrjsonBot",
    "Recording",
    "cryptofeed_available",
    "cryptofeed_version",
    "load_recording",
    "run_cryptofeed",
    "run_orjson_bot",
]

_DATA = Path(__file__).resolve().parent.parent / "data"

# name -> (directory in the package data, tickwire exchange id, unified symbol, raw symbol,
#          market, number of frames received before the REST snapshot arrived)
RECORDINGS = {
    "spot": ("binance", "binance", "ETH/USDT", "ETHUSDT", "spot", 5),
    "usdm": ("binanceusdm", "binanceusdm", "ETH/USDT:USDT", "ETHUSDT", "usdm", 40),
}
_STEM = "ethusdt_20240808"


@dataclass(frozen=True)
class Recording:
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
    frames: list
    snapshot: bytes
    snapshot_after: int


def load_recording(name: str = "spot", data_dir: str | Path | None = None) -> Recording:
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
    return Recording(name, exchange_id, symbol, raw_symbol, market, frames, snapshot, after)


# ---------------------------------------------------------------------------
# (a) the hand-written bot: orjson + dict book
# ---------------------------------------------------------------------------


class BotSequenceGap(Exception):
    """A depth delta broke the U/u (spot) or pu (USD-M) chain."""

    def __init__(self, symbol, expected, received):
        super().__init__(f"{symbol}: expected update id {expected}, received {received}")
        self.symbol, self.expected, self.received = symbol, expected, received


class _DictBook:
    """One symbol's L2 book: ``bids``/``asks`` map price (float) -> size (float)."""

    __slots__ = ("asks", "bids", "bridged", "last_id", "pending", "synced")

    def __init__(self):
        self.bids = {}
        self.asks = {}
        self.last_id = None  # snapshot lastUpdateId, then last applied final update id u
        self.synced = False  # a snapshot has been applied
        self.bridged = False  # the first delta after the snapshot has been applied
        self.pending = []  # deltas received before the snapshot (decoded dicts)

    def best_bid(self):
        if not self.bids:
            return None
        p = max(self.bids)
        return (p, self.bids[p])

    def best_ask(self):
        if not self.asks:
            return None
        p = min(self.asks)
        return (p, self.asks[p])


def _apply_levels(side, levels):
    pop = side.pop
    for p, q in levels:
        qty = float(q)
        if qty:
            side[float(p)] = qty
        else:
            pop(float(p), None)


_loads = orjson.loads
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
    :meth:`apply_snapshot`.  A broken chain raises :class:`BotSequenceGap`.
    Quantity 0 deletes a level.
    """

    def __init__(self, market: str = "spot"):
        if market not in ("spot", "usdm"):
            raise ValueError(f"market must be 'spot' or 'usdm', not {market!r}")
        self.market = market
        self.futures = market == "usdm"
        self.exchange = "binanceusdm" if self.futures else "binance"
        self.books = {}  # raw symbol -> _DictBook
        self._unified = {}  # raw symbol -> unified symbol (cache)

    # -- symbols ----------------------------------------------------------
    def unified(self, raw: str) -> str:
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
        b = self.books.get(raw_symbol)
        if b is None:
            b = self.books[raw_symbol] = _DictBook()
        return b

    # -- snapshot ---------------------------------------------------------
    def apply_snapshot(self, raw_symbol: str, payload: bytes) -> list:
        """Apply a REST depth body; replay buffered deltas; return book events."""
        snap = orjson.loads(payload)
        b = self.book(raw_symbol)
        b.bids = {float(p): float(q) for p, q in snap["bids"]}
        b.asks = {float(p): float(q) for p, q in snap["asks"]}
        b.last_id = snap["lastUpdateId"]
        b.synced = True
        b.bridged = False
        pending, b.pending = b.pending, []
        out = []
        now = time.time_ns()
        for d in pending:
            if self._delta(b, d):
                out.append(("book", self.unified(raw_symbol), d["u"], d["E"] * 1_000_000, now))
        return out

    # -- per-delta sync rule (returns True when applied) --------------------
    def _delta(self, b: _DictBook, d: dict) -> bool:
        u = d["u"]
        last = b.last_id
        if self.futures:
            if not b.bridged:
                if u < last:
                    return False
                if not (d["U"] <= last <= u):
                    raise BotSequenceGap(d["s"], last, d["U"])
                b.bridged = True
            elif d["pu"] != last:
                raise BotSequenceGap(d["s"], last, d["pu"])
        else:
            if u <= last:
                return False
            if not b.bridged:
                if not (d["U"] <= last + 1 <= u):
                    raise BotSequenceGap(d["s"], last + 1, d["U"])
                b.bridged = True
            elif d["U"] != last + 1:
                raise BotSequenceGap(d["s"], last + 1, d["U"])
        _apply_levels(b.bids, d["b"])
        _apply_levels(b.asks, d["a"])
        b.last_id = u
        return True

    # -- one frame --------------------------------------------------------
    def feed(self, frame):
        """Decode one raw frame (bytes/str); return an event tuple or None."""
        recv = _time_ns()
        d = _loads(frame)
        d = d.get("data", d)  # combined-stream envelope or raw stream frame
        e = d.get("e")
        if e is None or e == "bookTicker":  # spot bookTicker carries no "e"
            s = d["s"]
            E = d.get("E")
            return (
                "bbo",
                self._unified.get(s) or self.unified(s),
                float(d["b"]),
                float(d["B"]),
                float(d["a"]),
                float(d["A"]),
                d["u"],
                None if E is None else E * 1_000_000,
                recv,
            )
        if e == "trade" or e == "aggTrade":
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


def run_orjson_bot(rec: Recording, bot: OrjsonBot | None = None) -> OrjsonBot:
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


def cryptofeed_available() -> bool:
    try:
        import cryptofeed.exchanges.binance_futures
    except Exception:
        return False
    return True


def cryptofeed_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("cryptofeed")
    except Exception:
        return None


def _cryptofeed_feed_class(market: str):
    from cryptofeed.exchanges.binance import Binance
    from cryptofeed.exchanges.binance_futures import BinanceFutures

    return BinanceFutures if market == "usdm" else Binance


def _ensure_cryptofeed_symbols(cls, raw_symbol: str, base: str, quote: str, futures: bool):
    """Give cryptofeed its symbol table without the exchangeInfo HTTP request.

    cryptofeed's ``Exchange.__init__`` downloads exchangeInfo when its symbol
    table is empty.  We pass a minimal exchangeInfo document for the one
    symbol through cryptofeed's own parser (``_parse_symbol_data``) instead.
    """
    from cryptofeed.symbols import Symbols

    if Symbols.populated(cls.id):
        mapping, _ = Symbols.get(cls.id)
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
    Symbols.set(cls.id, syms, extra)


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
        import asyncio

        from cryptofeed.defines import L2_BOOK, TICKER, TRADES

        futures = market == "usdm"
        cls = _cryptofeed_feed_class(market)
        _ensure_cryptofeed_symbols(cls, raw_symbol, base, quote, futures)
        self.std_symbol = f"{base}-{quote}-PERP" if futures else f"{base}-{quote}"
        self.feed = cls(symbols=[self.std_symbol], channels=[L2_BOOK, TRADES, TICKER])
        self._snapshot_body = None
        self.snapshot_requests = 0
        self.feed.http_conn.read = self._read_snapshot  # the only patch
        self.loop = asyncio.new_event_loop()
        self.frames_handled = 0

    async def _read_snapshot(self, address, *args, **kwargs):
        # aiohttp's response.text() gives str; so do we.
        self.snapshot_requests += 1
        if self._snapshot_body is None:
            raise RuntimeError(f"cryptofeed requested {address} but no snapshot was provided")
        return self._snapshot_body

    def set_snapshot(self, snapshot: bytes) -> None:
        self._snapshot_body = (
            snapshot.decode() if isinstance(snapshot, (bytes, bytearray)) else snapshot
        )

    async def _drive(self, frames):
        handler = self.feed.message_handler
        now = time.time
        for f in frames:
            await handler(f, None, now())
        return len(frames)

    def run(self, frames) -> int:
        """Await the handler over all ``frames``; return the number handled."""
        log = logging.getLogger("feedhandler")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            n = self.loop.run_until_complete(self._drive(frames))
        finally:
            log.setLevel(level)
        self.frames_handled += n
        return n

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()

    # -- inspection (outside timed regions) ----------------------------------
    def _book(self):
        return self.feed._l2_book.get(self.std_symbol)

    def best_bid(self):
        """(price, size) as floats, or None if cryptofeed holds no book."""
        b = self._book()
        if b is None or len(b.book.bids) == 0:
            return None
        p, q = b.book.bids.index(0)
        return (float(p), float(q))

    def best_ask(self):
        b = self._book()
        if b is None or len(b.book.asks) == 0:
            return None
        p, q = b.book.asks.index(0)
        return (float(p), float(q))

    def sequence(self):
        return self.feed.last_update_id.get(self.std_symbol)


def run_cryptofeed(rec: Recording, replay: CryptofeedReplay | None = None) -> CryptofeedReplay:
    """Replay a whole recording through a (fresh) :class:`CryptofeedReplay`."""
    if replay is None:
        replay = CryptofeedReplay(rec.market, rec.raw_symbol)
    replay.set_snapshot(rec.snapshot)
    replay.run(rec.frames)
    return replay
