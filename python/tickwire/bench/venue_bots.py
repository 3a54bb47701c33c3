"""Hand-written orjson + dict-book bots, one per venue, that tickwire's venue benchmarks race.

Each bot is what a careful Python user would write for that venue: ``orjson.loads`` per frame,
books in ``dict``s, and the venue's own documented rules, nothing skipped:

- **Bybit v5** (:class:`BybitBot`): ``orderbook.N`` ``snapshot`` replaces the book (so does a
  delta with ``u == 1``), a ``delta`` must carry ``u == previous u + 1``; size ``"0"`` deletes;
  ``publicTrade`` arrays, ``kline`` candles, ``tickers`` snapshot + delta merged into a BBO.
- **OKX v5** (:class:`OkxBot`): ``books`` ``snapshot`` replaces, ``update`` applies; when
  ``prevSeqId`` is present it must equal the last ``seqId``; after every book message the signed
  CRC32 of the top 25 bids and asks interleaved (``bidPx:bidSz:askPx:askSz:...``, the wire
  strings) must equal ``checksum`` (0 = absent). ``trades``, ``tickers`` -> BBO.
- **Kraken WS v1** (:class:`KrakenBot`): the subscribed depth comes from the
  ``subscriptionStatus`` ack; ``as``/``bs`` snapshot replaces, ``a``/``b`` updates apply (volume
  0 deletes), the book is truncated to the subscribed depth, then the CRC32 of the top 10 asks
  (ascending) then top 10 bids (descending), each price and volume with ``.`` removed and
  leading zeros stripped, must equal ``c``.
- **Coinbase Advanced Trade** (:class:`CoinbaseBot`): ``sequence_num`` must grow by 1 per
  message over the whole connection; ``l2_data`` ``snapshot`` replaces, ``update`` sets absolute
  quantities; ``ticker`` -> BBO, ``market_trades``, ``candles``, ``heartbeats``.
- **Coinbase Exchange** (:class:`CoinbaseExchangeBot`): ``snapshot`` + ``l2update`` (absolute
  sizes; the feed carries no book sequence), ``ticker`` -> BBO, ``match``/``last_match``.

The checksum venues keep each level's wire strings and a sorted price list per side
(``bisect``), because the checksum needs the exact text of the top levels in order; the others
keep ``float -> float`` dicts like the Binance bot (:mod:`tickwire.bench.baselines`).

``feed(frame)`` takes one raw text frame (``bytes``) and returns a list of event tuples
(prices/sizes float, timestamps int ns since the epoch, ``receive_ts`` = ``time.time_ns()`` per
frame): ``("book", symbol, sequence|None, exchange_ts|None, receive_ts)``,
``("trade", symbol, price, size, side, trade_id, exchange_ts, receive_ts)``,
``("bbo", symbol, bid, bid_size|None, ask, ask_size|None, exchange_ts|None, receive_ts)``,
``("candle", symbol, start_ts, open, high, low, close, volume, exchange_ts, receive_ts)``.
A broken chain raises :class:`BotGapError`, a checksum that does not match raises
:class:`BotChecksumError` (the recordings have neither: a raise means the bot is wrong).
``tops()`` gives ``{unified symbol: (best bid, best ask)}`` as ``(price, size)`` floats or None,
``depths()`` ``{unified symbol: (bid levels, ask levels)}``.
"""

from __future__ import annotations

import calendar
import time
import zlib
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any

from .baselines import orjson

__all__ = [
    "BOTS",
    "BitgetBot",
    "BitunixBot",
    "BotChecksumError",
    "BotGapError",
    "BybitBot",
    "CoinbaseBot",
    "CoinbaseExchangeBot",
    "GateioBot",
    "GateioSpotBot",
    "HyperliquidBot",
    "KrakenBot",
    "KucoinBot",
    "MexcBot",
    "OkxBot",
    "VenueBot",
]

Event = tuple[Any, ...]
Level = tuple[float, float]


def _orjson_missing(_data: bytes | str) -> Any:
    raise ImportError("the orjson bots need orjson: pip install 'tickwire[bench]'")


_loads: Callable[[bytes | str], Any] = orjson.loads if orjson is not None else _orjson_missing
_time_ns = time.time_ns
_crc32 = zlib.crc32


class BotGapError(Exception):
    """A venue's sequence rule failed: ``expected`` was due, ``received`` came."""

    def __init__(self, venue: str, symbol: str, expected: int, received: int):
        super().__init__(f"{venue} {symbol}: expected {expected}, received {received}")
        self.venue, self.symbol, self.expected, self.received = venue, symbol, expected, received


class BotChecksumError(Exception):
    """A book's checksum after an update differs from the one the venue sent."""

    def __init__(self, venue: str, symbol: str, expected: int, computed: int):
        super().__init__(f"{venue} {symbol}: checksum {expected} sent, {computed} computed")
        self.venue, self.symbol, self.expected, self.computed = venue, symbol, expected, computed


_minute_ns: dict[str, int] = {}


def _iso_ns(s: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` (up to 9 fraction digits) -> int ns since the epoch."""
    base = _minute_ns.get(s[:16])
    if base is None:
        fields = (int(s[:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), 0)
        base = _minute_ns[s[:16]] = calendar.timegm(fields) * 1_000_000_000
    ns = base + int(s[17:19]) * 1_000_000_000
    if len(s) > 21 and s[19] == ".":
        frac = s[20:-1] if s[-1] == "Z" else s[20:]
        ns += int(frac[:9].ljust(9, "0"))
    return ns


# ---------------------------------------------------------------------------
# books
# ---------------------------------------------------------------------------


class _FloatBook:
    """Book without checksum: ``bids``/``asks`` map price -> size (floats)."""

    __slots__ = ("asks", "bids", "seq")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.seq: int | None = None

    def top(self) -> tuple[Level | None, Level | None]:
        bid = max(self.bids) if self.bids else None
        ask = min(self.asks) if self.asks else None
        return (
            None if bid is None else (bid, self.bids[bid]),
            None if ask is None else (ask, self.asks[ask]),
        )


def _set_levels(side: dict[float, float], levels: list[list[str]]) -> None:
    pop = side.pop
    for lv in levels:
        q = float(lv[1])
        if q:
            side[float(lv[0])] = q
        else:
            pop(float(lv[0]), None)


class _TextBook:
    """Book that keeps wire strings: per side ``price -> (price text, size text)`` and the
    prices sorted ascending (the best bid is the last, the best ask the first)."""

    __slots__ = ("ask_px", "asks", "bid_px", "bids", "seq")

    def __init__(self) -> None:
        self.bids: dict[float, tuple[str, str]] = {}
        self.asks: dict[float, tuple[str, str]] = {}
        self.bid_px: list[float] = []
        self.ask_px: list[float] = []
        self.seq: int | None = None

    def load(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        self.bids = {float(lv[0]): (lv[0], lv[1]) for lv in bids if float(lv[1])}
        self.asks = {float(lv[0]): (lv[0], lv[1]) for lv in asks if float(lv[1])}
        self.bid_px = sorted(self.bids)
        self.ask_px = sorted(self.asks)

    def top(self) -> tuple[Level | None, Level | None]:
        bid = self.bids[self.bid_px[-1]] if self.bid_px else None
        ask = self.asks[self.ask_px[0]] if self.ask_px else None
        return (
            None if bid is None else (float(bid[0]), float(bid[1])),
            None if ask is None else (float(ask[0]), float(ask[1])),
        )


def _set_text(side: dict[float, tuple[str, str]], px: list[float], levels: list[Any]) -> None:
    for lv in levels:
        p, q = lv[0], lv[1]
        pf = float(p)
        if float(q):
            if pf not in side:
                insort(px, pf)
            side[pf] = (p, q)
        elif pf in side:
            del side[pf]
            del px[bisect_left(px, pf)]


class VenueBot:
    """Shared bookkeeping of the venue bots: books by unified symbol, counters."""

    venue = ""

    def __init__(self) -> None:
        self.books: dict[str, Any] = {}
        self.checksums_verified = 0
        self.frames = 0

    def feed(self, frame: bytes) -> list[Event]:  # pragma: no cover - every venue overrides
        """Decode one raw frame; return its events."""
        raise NotImplementedError

    def load_snapshot(self, symbol: str, body: bytes) -> None:  # pragma: no cover - REST venues
        """Load the REST depth snapshot ``body`` as unified ``symbol``'s book (venues whose
        books start from REST; the others get theirs over the WebSocket)."""
        raise NotImplementedError(f"{self.venue} books start from the WebSocket")

    def tops(self) -> dict[str, tuple[Level | None, Level | None]]:
        """``{symbol: (best bid, best ask)}`` of every book, as ``(price, size)`` or None."""
        return {s: b.top() for s, b in self.books.items()}

    def depths(self) -> dict[str, tuple[int, int]]:
        """``{symbol: (bid levels, ask levels)}`` of every book."""
        return {s: (len(b.bids), len(b.asks)) for s, b in self.books.items()}


# ---------------------------------------------------------------------------
# Bybit v5 (linear endpoint)
# ---------------------------------------------------------------------------

_LINEAR_QUOTES = ("USDT", "USDC", "PERP")


class BybitBot(VenueBot):
    """Bybit v5 public, linear endpoint (``BTCUSDT`` -> ``BTC/USDT:USDT``)."""

    venue = "bybit"

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}
        self._tickers: dict[str, dict[str, Any]] = {}

    def unified(self, raw: str) -> str:
        """Unified symbol of a linear market id."""
        u = self._sym.get(raw)
        if u is None:
            for q in _LINEAR_QUOTES:
                if raw.endswith(q):
                    quote = "USDC" if q == "PERP" else q
                    u = f"{raw[: -len(q)]}/{quote}:{quote}"
                    break
            else:
                u = raw
            self._sym[raw] = u
        return u

    def feed(self, frame: bytes) -> list[Event]:  # noqa: PLR0911 - one return per frame kind
        """Decode one raw Bybit frame."""
        recv = _time_ns()
        d = _loads(frame)
        topic = d.get("topic")
        if topic is None:
            return [("ack", d.get("success"), d.get("req_id"), recv)]
        data = d["data"]
        if topic.startswith("orderbook."):
            s = data["s"]
            sym = self._sym.get(s) or self.unified(s)
            u = data["u"]
            b = self.books.get(sym)
            if d["type"] == "snapshot" or u == 1 or b is None:
                if d["type"] != "snapshot" and u != 1:
                    raise BotGapError(self.venue, sym, 1, u)
                b = self.books[sym] = _FloatBook()
            elif u != b.seq + 1:
                raise BotGapError(self.venue, sym, b.seq + 1, u)
            _set_levels(b.bids, data["b"])
            _set_levels(b.asks, data["a"])
            b.seq = u
            return [("book", sym, u, d["ts"] * 1_000_000, recv)]
        if topic.startswith("publicTrade."):
            return [
                (
                    "trade",
                    self._sym.get(t["s"]) or self.unified(t["s"]),
                    float(t["p"]),
                    float(t["v"]),
                    "buy" if t["S"] == "Buy" else "sell",
                    t["i"],
                    t["T"] * 1_000_000,
                    recv,
                )
                for t in data
            ]
        if topic.startswith("tickers."):
            s = data["symbol"]
            state = self._tickers.get(s)
            if d["type"] == "snapshot" or state is None:
                state = self._tickers[s] = data
            else:
                state.update(data)
            if not ("bid1Price" in data or "ask1Price" in data):
                return []
            bp, ap = state.get("bid1Price"), state.get("ask1Price")
            if bp is None or ap is None:
                return []
            return [
                (
                    "bbo",
                    self._sym.get(s) or self.unified(s),
                    float(bp),
                    float(state["bid1Size"]),
                    float(ap),
                    float(state["ask1Size"]),
                    d["ts"] * 1_000_000,
                    recv,
                )
            ]
        if topic.startswith("kline."):
            sym = self.unified(topic.rsplit(".", 1)[1])
            return [
                (
                    "candle",
                    sym,
                    k["start"] * 1_000_000,
                    float(k["open"]),
                    float(k["high"]),
                    float(k["low"]),
                    float(k["close"]),
                    float(k["volume"]),
                    k["timestamp"] * 1_000_000,
                    recv,
                )
                for k in data
            ]
        return []


# ---------------------------------------------------------------------------
# OKX v5
# ---------------------------------------------------------------------------


def okx_checksum(b: _TextBook) -> int:
    """OKX's signed CRC32 of the top 25 levels interleaved (bid, ask, bid, ...), wire strings."""
    parts: list[str] = []
    bids, asks, bpx, apx = b.bids, b.asks, b.bid_px, b.ask_px
    nb, na = len(bpx), len(apx)
    for i in range(25):
        if i < nb:
            parts += bids[bpx[nb - 1 - i]]
        if i < na:
            parts += asks[apx[i]]
        elif i >= nb:
            break
    c = _crc32(":".join(parts).encode())
    return c - 0x1_0000_0000 if c & 0x8000_0000 else c


def okx_unified(inst: str) -> str:
    """``BTC-USDT`` -> ``BTC/USDT``; ``UNI-USD-SWAP`` -> ``UNI/USD:UNI``;
    ``BTC-USDT-SWAP`` -> ``BTC/USDT:USDT``; ``BTC-USD-220527`` -> ``BTC/USD:BTC-220527``."""
    parts = inst.split("-")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    base, quote, kind = parts[0], parts[1], parts[2]
    settle = quote if quote in ("USDT", "USDC") else base
    if kind == "SWAP":
        return f"{base}/{quote}:{settle}"
    return f"{base}/{quote}:{settle}-{kind}"


class OkxBot(VenueBot):
    """OKX v5 public (books with checksum, trades, tickers)."""

    venue = "okx"

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}

    def _unified(self, inst: str) -> str:
        u = self._sym.get(inst)
        if u is None:
            u = self._sym[inst] = okx_unified(inst)
        return u

    def feed(self, frame: bytes) -> list[Event]:
        """Decode one raw OKX frame."""
        recv = _time_ns()
        d = _loads(frame)
        if "event" in d:
            return [("ack", d["event"], d.get("code"), recv)]
        arg = d["arg"]
        ch = arg["channel"]
        if ch == "books":
            sym = self._sym.get(arg["instId"]) or self._unified(arg["instId"])
            out: list[Event] = []
            snapshot = d.get("action") == "snapshot"
            for u in d["data"]:
                b = self.books.get(sym)
                if snapshot or b is None:
                    if not snapshot:
                        raise BotGapError(self.venue, sym, -1, u.get("prevSeqId", -1))
                    b = self.books[sym] = _TextBook()
                    b.load(u["bids"], u["asks"])
                else:
                    prev = u.get("prevSeqId")
                    if prev is not None and b.seq is not None and prev != b.seq:
                        raise BotGapError(self.venue, sym, b.seq, prev)
                    _set_text(b.bids, b.bid_px, u["bids"])
                    _set_text(b.asks, b.ask_px, u["asks"])
                b.seq = u.get("seqId")
                cs = u.get("checksum")
                if cs:  # 0 (sent since 2026) or absent: no checksum
                    got = okx_checksum(b)
                    if got != cs:
                        raise BotChecksumError(self.venue, sym, cs, got)
                    self.checksums_verified += 1
                out.append(("book", sym, b.seq, int(u["ts"]) * 1_000_000, recv))
            return out
        if ch == "trades":
            return [
                (
                    "trade",
                    self._sym.get(t["instId"]) or self._unified(t["instId"]),
                    float(t["px"]),
                    float(t["sz"]),
                    t["side"],
                    int(t["tradeId"]),
                    int(t["ts"]) * 1_000_000,
                    recv,
                )
                for t in d["data"]
            ]
        if ch in ("tickers", "bbo-tbt"):
            return [
                (
                    "bbo",
                    self._sym.get(arg["instId"]) or self._unified(arg["instId"]),
                    float(t["bidPx"]),
                    float(t["bidSz"]),
                    float(t["askPx"]),
                    float(t["askSz"]),
                    int(t["ts"]) * 1_000_000,
                    recv,
                )
                for t in d["data"]
            ]
        return []


# ---------------------------------------------------------------------------
# Kraken WS v1
# ---------------------------------------------------------------------------


def _kraken_text(s: str) -> str:
    return s.replace(".", "").lstrip("0")


def kraken_checksum(b: _TextBook) -> int:
    """Kraken's CRC32 (unsigned) of the top 10 asks then the top 10 bids."""
    asks, bids, apx, bpx = b.asks, b.bids, b.ask_px, b.bid_px
    parts = []
    for p in apx[:10]:
        a = asks[p]
        parts.append(_kraken_text(a[0]) + _kraken_text(a[1]))
    for p in reversed(bpx[-10:]):
        v = bids[p]
        parts.append(_kraken_text(v[0]) + _kraken_text(v[1]))
    return _crc32("".join(parts).encode())


class KrakenBot(VenueBot):
    """Kraken WS v1 public (book-N with checksum ``c``; ``XBT`` -> ``BTC``)."""

    venue = "kraken"

    def __init__(self) -> None:
        super().__init__()
        self.depth: dict[str, int] = {}  # pair (wire) -> subscribed depth
        self._sym: dict[str, str] = {}

    def _unified(self, pair: str) -> str:
        u = self._sym.get(pair)
        if u is None:
            base, quote = ({"XBT": "BTC", "XDG": "DOGE"}.get(x, x) for x in pair.split("/", 1))
            u = self._sym[pair] = f"{base}/{quote}"
        return u

    def feed(self, frame: bytes) -> list[Event]:  # noqa: PLR0912 - one branch per rule
        """Decode one raw Kraken v1 frame."""
        recv = _time_ns()
        d = _loads(frame)
        if type(d) is dict:
            ev = d.get("event")
            if ev == "subscriptionStatus":
                sub = d.get("subscription", {})
                if d.get("status") == "subscribed" and sub.get("name") == "book":
                    self.depth[d["pair"]] = sub.get("depth", 10)
                return [("ack", d.get("status"), d.get("pair"), recv)]
            return []  # heartbeat, systemStatus, pong
        pair = d[-1]
        if not d[-2].startswith("book-"):
            return []
        sym = self._sym.get(pair) or self._unified(pair)
        first = d[1]
        if "as" in first or "bs" in first:
            b = self.books[sym] = _TextBook()
            b.load(first.get("bs", []), first.get("as", []))
            return [("book", sym, None, None, recv)]
        b = self.books[sym]
        cs = None
        for part in d[1:-2]:
            a = part.get("a")
            if a is not None:
                _set_text(b.asks, b.ask_px, a)
            bb = part.get("b")
            if bb is not None:
                _set_text(b.bids, b.bid_px, bb)
            cs = part.get("c", cs)
        depth = self.depth[pair]
        if len(b.ask_px) > depth:
            for p in b.ask_px[depth:]:
                del b.asks[p]
            del b.ask_px[depth:]
        extra = len(b.bid_px) - depth
        if extra > 0:
            for p in b.bid_px[:extra]:
                del b.bids[p]
            del b.bid_px[:extra]
        if cs is not None:
            got = kraken_checksum(b)
            if got != int(cs):
                raise BotChecksumError(self.venue, sym, int(cs), got)
            self.checksums_verified += 1
        return [("book", sym, None, None, recv)]


# ---------------------------------------------------------------------------
# Coinbase Advanced Trade
# ---------------------------------------------------------------------------


def _dash_unified(product: str, cache: dict[str, str]) -> str:
    u = cache.get(product)
    if u is None:
        u = cache[product] = product.replace("-", "/", 1)
    return u


class CoinbaseBot(VenueBot):
    """Coinbase Advanced Trade public channels (``sequence_num`` per connection)."""

    venue = "coinbase"

    def __init__(self) -> None:
        super().__init__()
        self.sequence: int | None = None
        self._sym: dict[str, str] = {}

    def feed(self, frame: bytes) -> list[Event]:  # noqa: PLR0912 - one branch per channel
        """Decode one raw Advanced Trade frame."""
        recv = _time_ns()
        d = _loads(frame)
        seq = d["sequence_num"]
        if self.sequence is not None and seq != self.sequence + 1:
            raise BotGapError(self.venue, "*", self.sequence + 1, seq)
        self.sequence = seq
        ch = d["channel"]
        out: list[Event] = []
        cache = self._sym
        if ch == "l2_data":
            ts = _iso_ns(d["timestamp"])
            for e in d["events"]:
                sym = cache.get(e["product_id"]) or _dash_unified(e["product_id"], cache)
                b = self.books.get(sym)
                if e["type"] == "snapshot" or b is None:
                    if e["type"] != "snapshot":
                        raise BotGapError(self.venue, sym, -1, seq)
                    b = self.books[sym] = _FloatBook()
                bids, asks = b.bids, b.asks
                for lv in e["updates"]:
                    side = bids if lv["side"] == "bid" else asks
                    q = float(lv["new_quantity"])
                    if q:
                        side[float(lv["price_level"])] = q
                    else:
                        side.pop(float(lv["price_level"]), None)
                b.seq = seq
                out.append(("book", sym, seq, ts, recv))
        elif ch == "ticker":
            ts = _iso_ns(d["timestamp"])
            for e in d["events"]:
                for t in e["tickers"]:
                    out.append(  # noqa: PERF401 - the loop is the bot's, kept plain
                        (
                            "bbo",
                            cache.get(t["product_id"]) or _dash_unified(t["product_id"], cache),
                            float(t["best_bid"]),
                            float(t["best_bid_quantity"]),
                            float(t["best_ask"]),
                            float(t["best_ask_quantity"]),
                            ts,
                            recv,
                        )
                    )
        elif ch == "market_trades":
            for e in d["events"]:
                for t in e["trades"]:
                    out.append(  # noqa: PERF401 - the loop is the bot's, kept plain
                        (
                            "trade",
                            cache.get(t["product_id"]) or _dash_unified(t["product_id"], cache),
                            float(t["price"]),
                            float(t["size"]),
                            "buy" if t["side"] == "BUY" else "sell",
                            int(t["trade_id"]),
                            _iso_ns(t["time"]),
                            recv,
                        )
                    )
        elif ch == "candles":
            ts = _iso_ns(d["timestamp"])
            for e in d["events"]:
                for c in e["candles"]:
                    out.append(  # noqa: PERF401 - the loop is the bot's, kept plain
                        (
                            "candle",
                            cache.get(c["product_id"]) or _dash_unified(c["product_id"], cache),
                            int(c["start"]) * 1_000_000_000,
                            float(c["open"]),
                            float(c["high"]),
                            float(c["low"]),
                            float(c["close"]),
                            float(c["volume"]),
                            ts,
                            recv,
                        )
                    )
        return out


# ---------------------------------------------------------------------------
# Coinbase Exchange (legacy feed)
# ---------------------------------------------------------------------------


class CoinbaseExchangeBot(VenueBot):
    """Coinbase Exchange feed: level2 snapshot + l2update, ticker, match/last_match."""

    venue = "coinbaseexchange"

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}

    def feed(self, frame: bytes) -> list[Event]:
        """Decode one raw Exchange-feed frame."""
        recv = _time_ns()
        d = _loads(frame)
        kind = d["type"]
        cache = self._sym
        if kind == "l2update":
            sym = cache.get(d["product_id"]) or _dash_unified(d["product_id"], cache)
            b = self.books[sym]
            bids, asks = b.bids, b.asks
            for side, p, q in d["changes"]:
                book_side = bids if side == "buy" else asks
                qty = float(q)
                if qty:
                    book_side[float(p)] = qty
                else:
                    book_side.pop(float(p), None)
            return [("book", sym, None, _iso_ns(d["time"]), recv)]
        if kind == "ticker":
            return [
                (
                    "bbo",
                    cache.get(d["product_id"]) or _dash_unified(d["product_id"], cache),
                    float(d["best_bid"]),
                    None,
                    float(d["best_ask"]),
                    None,
                    _iso_ns(d["time"]),
                    recv,
                )
            ]
        if kind in ("match", "last_match"):
            return [
                (
                    "trade",
                    cache.get(d["product_id"]) or _dash_unified(d["product_id"], cache),
                    float(d["price"]),
                    float(d["size"]),
                    # the maker's side: a "sell" maker means the taker bought
                    "buy" if d["side"] == "sell" else "sell",
                    d["trade_id"],
                    _iso_ns(d["time"]),
                    recv,
                )
            ]
        if kind == "snapshot":
            sym = cache.get(d["product_id"]) or _dash_unified(d["product_id"], cache)
            b = self.books[sym] = _FloatBook()
            _set_levels(b.bids, d["bids"])
            _set_levels(b.asks, d["asks"])
            return [("book", sym, None, None, recv)]
        return [("ack", kind, None, recv)]


BOTS: dict[str, type[VenueBot]] = {
    c.venue: c for c in (BybitBot, OkxBot, KrakenBot, CoinbaseBot, CoinbaseExchangeBot)
}
"""Venue name -> bot class."""


# ---------------------------------------------------------------------------
# Gate v4 (spot and USDT futures)
# ---------------------------------------------------------------------------


class GateioBot(VenueBot):
    """Gate v4, USDT futures endpoint (``BTC_USDT`` -> ``BTC/USDT:USDT``); ``spot = True`` in
    the spot subclass. Books start from the REST ``order_book?with_id=true`` snapshot (``id``);
    an ``order_book_update`` with ``u <= id`` is old, ``U <= id + 1 <= u`` applies, ``U > id +
    1`` is a gap (gateio.md §5); futures levels are ``{"p","s"}`` with contract counts,
    spot ``[p, s]``. ``book_ticker`` -> BBO, ``trades`` (futures: size sign = side),
    ``candlesticks``."""

    venue = "gateio"
    spot = False

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}

    def unified(self, raw: str) -> str:
        """Unified symbol of a market id."""
        u = self._sym.get(raw)
        if u is None:
            base, _, quote = raw.partition("_")
            u = self._sym[raw] = f"{base}/{quote}" if self.spot else f"{base}/{quote}:{quote}"
        return u

    def load_snapshot(self, symbol: str, body: bytes) -> None:
        """The REST ``order_book?with_id=true`` body of unified ``symbol``: its book at ``id``."""
        market_id = symbol.partition(":")[0].replace("/", "_")
        self._sym[market_id] = symbol
        d = _loads(body)
        b = self.books[symbol] = _FloatBook()
        if self.spot:
            _set_levels(b.bids, d["bids"])
            _set_levels(b.asks, d["asks"])
        else:
            _set_objects(b.bids, d["bids"])
            _set_objects(b.asks, d["asks"])
        b.seq = d["id"]

    def feed(self, frame: bytes) -> list[Event]:  # noqa: PLR0911 - one return per frame kind
        """Decode one raw Gate frame."""
        recv = _time_ns()
        d = _loads(frame)
        if d.get("event") != "update":
            return [("ack", d.get("error") is None, d.get("id"), recv)]
        ch = d["channel"]
        r = d["result"]
        name = ch[ch.index(".") + 1 :]
        if name == "order_book_update":
            sym = self._sym.get(r["s"]) or self.unified(r["s"])
            b = self.books.get(sym)
            if b is None:
                return []  # no snapshot for this book: not synced
            u = r["u"]
            if u <= b.seq:
                return []
            if r["U"] > b.seq + 1:
                raise BotGapError(self.venue, sym, b.seq + 1, r["U"])
            if self.spot:
                _set_levels(b.bids, r["b"])
                _set_levels(b.asks, r["a"])
            else:
                _set_objects(b.bids, r["b"])
                _set_objects(b.asks, r["a"])
            b.seq = u
            return [("book", sym, u, r["t"] * 1_000_000, recv)]
        if name == "book_ticker":
            return [
                (
                    "bbo",
                    self._sym.get(r["s"]) or self.unified(r["s"]),
                    float(r["b"]),
                    float(r["B"]),
                    float(r["a"]),
                    float(r["A"]),
                    r["t"] * 1_000_000,
                    recv,
                )
            ]
        if name == "trades":
            if self.spot:
                return [
                    (
                        "trade",
                        self.unified(r["currency_pair"]),
                        float(r["price"]),
                        float(r["amount"]),
                        r["side"],
                        r["id"],
                        int(float(r["create_time_ms"]) * 1_000_000),
                        recv,
                    )
                ]
            return [
                (
                    "trade",
                    self.unified(t["contract"]),
                    float(t["price"]),
                    float(abs(t["size"])),
                    "buy" if t["size"] > 0 else "sell",
                    t["id"],
                    t["create_time_ms"] * 1_000_000,
                    recv,
                )
                for t in r
            ]
        if name == "candlesticks":
            rows = [r] if self.spot else r
            return [
                (
                    "candle",
                    self.unified(k["n"].partition("_")[2]),
                    int(k["t"]) * 1_000_000_000,
                    float(k["o"]),
                    float(k["h"]),
                    float(k["l"]),
                    float(k["c"]),
                    float(k.get("a", k["v"])),
                    d.get("time_ms", d["time"] * 1000) * 1_000_000,
                    recv,
                )
                for k in rows
            ]
        return []


class GateioSpotBot(GateioBot):
    """Gate v4 spot (``BTC_USDT`` -> ``BTC/USDT``), levels ``[p, s]``."""

    venue = "gateio-spot"
    spot = True


def _set_objects(side: dict[float, float], levels: list[dict[str, Any]]) -> None:
    pop = side.pop
    for lv in levels:
        q = float(lv["s"])
        if q:
            side[float(lv["p"])] = q
        else:
            pop(float(lv["p"]), None)


BOTS[GateioBot.venue] = GateioBot
BOTS[GateioSpotBot.venue] = GateioSpotBot


# ---------------------------------------------------------------------------
# Bitget (v1 and v2 public; the bench recording is v1 spot)
# ---------------------------------------------------------------------------

_BITGET_QUOTES = ("USDT", "USDC", "BTC", "ETH", "EUR")


def bitget_unified(inst: str, linear: bool) -> str:
    """``BTCUSDT`` -> ``BTC/USDT`` (spot) or ``BTC/USDT:USDT`` (``mc``/``USDT-FUTURES``)."""
    if linear:
        return f"{inst[:-4]}/USDT:USDT"
    for q in _BITGET_QUOTES:
        if inst.endswith(q):
            return f"{inst[: -len(q)]}/{q}"
    return inst


class BitgetBot(VenueBot):
    """Bitget public, v1 (``instType`` ``sp``/``mc``) and v2 (``SPOT``/``USDT-FUTURES``):
    ``books`` ``snapshot`` replaces, ``update`` applies (size 0 deletes); after every book
    message the signed CRC32 of the top 25 bids and asks interleaved, wire strings (the same
    rule as OKX's, :func:`okx_checksum`), must equal ``checksum`` (0 = absent); a v2 ``seq`` not
    above the book's is stale (skipped). ``trade`` (v1 rows ``[ts, price, size, side]``, v2
    objects), ``ticker`` -> BBO (v1 ``bestBid``/``bestAsk`` without sizes, v2 ``bidPr``...),
    ``candle<bar>`` rows."""

    venue = "bitget"

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}

    def _unified(self, arg: dict[str, str]) -> str:
        inst = arg["instId"]
        u = self._sym.get(inst)
        if u is None:
            linear = arg["instType"] in ("mc", "MC", "USDT-FUTURES")
            u = self._sym[inst] = bitget_unified(inst, linear)
        return u

    def feed(self, frame: bytes) -> list[Event]:
        """Decode one raw Bitget frame."""
        recv = _time_ns()
        d = _loads(frame)
        if "event" in d:
            return [("ack", d["event"], d.get("code"), recv)]
        arg = d["arg"]
        ch = arg["channel"]
        sym = self._sym.get(arg["instId"]) or self._unified(arg)
        if ch == "books":
            return self._books(sym, d["action"] == "snapshot", d["data"], recv)
        if ch == "trade":
            return self._trades(sym, d["data"], recv)
        if ch == "ticker":
            return self._tickers(sym, d["data"], recv)
        if ch.startswith("candle"):
            return [
                ("candle", sym, int(c[0]) * 1_000_000, *map(float, c[1:6]), None, recv)
                for c in d["data"]
            ]
        return []

    def _books(self, sym: str, snapshot: bool, data: list[Any], recv: int) -> list[Event]:
        out: list[Event] = []
        for u in data:
            b = self.books.get(sym)
            seq = u.get("seq")
            if snapshot or b is None:
                if not snapshot:
                    raise BotGapError(self.venue, sym, -1, seq if seq is not None else -1)
                b = self.books[sym] = _TextBook()
                b.load(u["bids"], u["asks"])
            else:
                if seq is not None and b.seq is not None and seq <= b.seq:
                    continue  # out of order: stale
                _set_text(b.bids, b.bid_px, u["bids"])
                _set_text(b.asks, b.ask_px, u["asks"])
            b.seq = seq
            cs = u.get("checksum")
            if cs:
                got = okx_checksum(b)
                if got != cs:
                    raise BotChecksumError(self.venue, sym, cs, got)
                self.checksums_verified += 1
            out.append(("book", sym, seq, int(u["ts"]) * 1_000_000, recv))
        return out

    @staticmethod
    def _trades(sym: str, rows: list[Any], recv: int) -> list[Event]:
        if rows and isinstance(rows[0], list):  # v1: [ts, price, size, side], no id
            return [
                ("trade", sym, float(t[1]), float(t[2]), t[3], t[0], int(t[0]) * 1_000_000, recv)
                for t in rows
            ]
        return [
            (
                "trade",
                sym,
                float(t["price"]),
                float(t["size"]),
                t["side"],
                t["tradeId"],
                int(t["ts"]) * 1_000_000,
                recv,
            )
            for t in rows
        ]

    @staticmethod
    def _tickers(sym: str, data: list[Any], recv: int) -> list[Event]:
        out: list[Event] = []
        for t in data:
            ts = int(t.get("ts", t.get("systemTime"))) * 1_000_000
            if "bidPr" in t:  # v2
                bid, ask = float(t["bidPr"]), float(t["askPr"])
                out.append(("bbo", sym, bid, float(t["bidSz"]), ask, float(t["askSz"]), ts, recv))
            else:  # v1: no sizes
                out.append(
                    ("bbo", sym, float(t["bestBid"]), None, float(t["bestAsk"]), None, ts, recv)
                )
        return out


BOTS[BitgetBot.venue] = BitgetBot


# ---------------------------------------------------------------------------
# MEXC spot v3 (protobuf pushes, JSON control replies)
# ---------------------------------------------------------------------------


class MexcBot(VenueBot):
    """MEXC spot v3: binary protobuf ``PushDataV3ApiWrapper`` pushes decoded with Google's
    ``protobuf`` runtime (message classes built at first use from a descriptor of MEXC's
    published schema, github.com/mexcdevelop/websocket-proto: no ``protoc`` step), books in
    ``float -> float`` dicts. Rules (mexc.md A.5): ``publicLimitDepths`` replaces the book at
    its ``version`` (unless the book already reached it: then it is stale and dropped); a
    ``publicAggreDepths`` delta must start at the previous ``toVersion + 1`` (one ending at or
    before it is stale); quantity 0 deletes. ``publicAggreDeals`` -> trades
    (``tradeType`` 1 buy, 2 sell), ``publicAggreBookTicker`` -> BBO, ``publicSpotKline`` ->
    candles. Text frames (``{...}``: subscribe acks, PONG) are control replies."""

    venue = "mexc"
    _wrapper: Any = None
    _QUOTES = ("USDT", "USDC", "USDE", "USD1", "TUSD", "BUSD", "EUR", "BTC", "ETH", "USD", "MX")

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}
        if MexcBot._wrapper is None:
            MexcBot._wrapper = MexcBot._schema()

    @staticmethod
    def _schema() -> Any:
        """The ``PushDataV3ApiWrapper`` message class over the public bodies of the schema."""
        try:
            from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
                descriptor_pb2,
                descriptor_pool,
                message_factory,
            )
        except ImportError:  # pragma: no cover - the bench extra installs it
            raise ImportError("the MEXC bot needs protobuf: pip install protobuf") from None
        f = descriptor_pb2.FieldDescriptorProto
        fd = descriptor_pb2.FileDescriptorProto(
            name="mexc_push.proto", package="mexc", syntax="proto3"
        )
        s, i64, i32, msg = f.TYPE_STRING, f.TYPE_INT64, f.TYPE_INT32, f.TYPE_MESSAGE
        schema: dict[str, list[tuple[str, int, int, bool, str | None]]] = {
            "Level": [("price", 1, s, False, None), ("quantity", 2, s, False, None)],
            "AggreDepths": [
                ("asks", 1, msg, True, "Level"),
                ("bids", 2, msg, True, "Level"),
                ("eventType", 3, s, False, None),
                ("fromVersion", 4, s, False, None),
                ("toVersion", 5, s, False, None),
            ],
            "LimitDepths": [
                ("asks", 1, msg, True, "Level"),
                ("bids", 2, msg, True, "Level"),
                ("eventType", 3, s, False, None),
                ("version", 4, s, False, None),
            ],
            "BookTicker": [
                ("bidPrice", 1, s, False, None),
                ("bidQuantity", 2, s, False, None),
                ("askPrice", 3, s, False, None),
                ("askQuantity", 4, s, False, None),
            ],
            "Deal": [
                ("price", 1, s, False, None),
                ("quantity", 2, s, False, None),
                ("tradeType", 3, i32, False, None),
                ("time", 4, i64, False, None),
                ("tradeId", 5, s, False, None),
            ],
            "Deals": [("deals", 1, msg, True, "Deal"), ("eventType", 2, s, False, None)],
            "Kline": [
                ("interval", 1, s, False, None),
                ("windowStart", 2, i64, False, None),
                ("openingPrice", 3, s, False, None),
                ("closingPrice", 4, s, False, None),
                ("highestPrice", 5, s, False, None),
                ("lowestPrice", 6, s, False, None),
                ("volume", 7, s, False, None),
                ("amount", 8, s, False, None),
                ("windowEnd", 9, i64, False, None),
            ],
            "Wrapper": [
                ("channel", 1, s, False, None),
                ("symbol", 3, s, False, None),
                ("symbolId", 4, s, False, None),
                ("createTime", 5, i64, False, None),
                ("sendTime", 6, i64, False, None),
                ("publicLimitDepths", 303, msg, False, "LimitDepths"),
                ("publicBookTicker", 305, msg, False, "BookTicker"),
                ("publicSpotKline", 308, msg, False, "Kline"),
                ("publicAggreDepths", 313, msg, False, "AggreDepths"),
                ("publicAggreDeals", 314, msg, False, "Deals"),
                ("publicAggreBookTicker", 315, msg, False, "BookTicker"),
            ],
        }
        for name, fields in schema.items():
            m = fd.message_type.add(name=name)
            for fname, number, ftype, repeated, type_name in fields:
                label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
                field = m.field.add(name=fname, number=number, type=ftype, label=label)
                if type_name:
                    field.type_name = ".mexc." + type_name
                if name == "Wrapper" and number > 300:
                    field.oneof_index = 0
            if name == "Wrapper":
                m.oneof_decl.add(name="body")
        pool = descriptor_pool.DescriptorPool()
        pool.Add(fd)
        return message_factory.GetMessageClass(pool.FindMessageTypeByName("mexc.Wrapper"))

    def _unified(self, raw: str) -> str:
        for q in self._QUOTES:
            if len(raw) > len(q) and raw.endswith(q):
                u = self._sym[raw] = f"{raw[: -len(q)]}/{q}"
                return u
        self._sym[raw] = raw
        return raw

    def feed(self, frame: bytes) -> list[Event]:  # noqa: PLR0911, PLR0912 - one branch per body
        """Decode one raw MEXC spot frame (binary protobuf, or a JSON text reply)."""
        recv = _time_ns()
        if frame[:1] == b"{":
            d = _loads(frame)
            return [("ack", d.get("msg"), d.get("code"), recv)]
        m = self._wrapper.FromString(frame)
        sym = self._sym.get(m.symbol) or self._unified(m.symbol)
        ts = (m.sendTime or m.createTime) * 1_000_000 or None
        kind = m.WhichOneof("body")
        if kind == "publicAggreDepths":
            body = m.publicAggreDepths
            first, last = int(body.fromVersion), int(body.toVersion)
            b = self.books.get(sym)
            if b is None:
                b = self.books[sym] = _FloatBook()
            if b.seq is not None and first != b.seq + 1:
                if last <= b.seq:
                    return []
                raise BotGapError(self.venue, sym, b.seq + 1, first)
            for side, levels in ((b.bids, body.bids), (b.asks, body.asks)):
                for lv in levels:
                    q = float(lv.quantity)
                    if q:
                        side[float(lv.price)] = q
                    else:
                        side.pop(float(lv.price), None)
            b.seq = last
            return [("book", sym, last, ts, recv)]
        if kind == "publicLimitDepths":
            body = m.publicLimitDepths
            version = int(body.version)
            old = self.books.get(sym)
            if old is not None and old.seq is not None and version <= old.seq:
                return []  # the top N at a version the book has: stale, the full book is kept
            b = self.books[sym] = _FloatBook()
            for side, levels in ((b.bids, body.bids), (b.asks, body.asks)):
                for lv in levels:
                    q = float(lv.quantity)
                    if q:
                        side[float(lv.price)] = q
            b.seq = version
            return [("book", sym, b.seq, ts, recv)]
        if kind == "publicAggreDeals":
            return [
                (
                    "trade",
                    sym,
                    float(t.price),
                    float(t.quantity),
                    "buy" if t.tradeType == 1 else "sell",
                    t.tradeId or str(t.time),
                    ts or t.time * 1_000_000,
                    recv,
                )
                for t in m.publicAggreDeals.deals
            ]
        if kind in ("publicAggreBookTicker", "publicBookTicker"):
            t = getattr(m, kind)
            return [
                (
                    "bbo",
                    sym,
                    float(t.bidPrice),
                    float(t.bidQuantity),
                    float(t.askPrice),
                    float(t.askQuantity),
                    ts,
                    recv,
                )
            ]
        if kind == "publicSpotKline":
            k = m.publicSpotKline
            return [
                (
                    "candle",
                    sym,
                    k.windowStart * 1_000_000_000,
                    float(k.openingPrice),
                    float(k.highestPrice),
                    float(k.lowestPrice),
                    float(k.closingPrice),
                    float(k.volume),
                    ts,
                    recv,
                )
            ]
        return [("ack", kind, None, recv)]


BOTS["mexc"] = MexcBot


# ---------------------------------------------------------------------------
# Hyperliquid (perps and spot on one socket)
# ---------------------------------------------------------------------------


class HyperliquidBot(VenueBot):
    """Hyperliquid public: every ``l2Book`` push is the whole book (replace, never merge; a
    push older than the book by ``time`` is dropped), ``trades`` lists, ``bbo``, ``candle``,
    ``subscriptionResponse`` acks and ``pong``. A perp coin ``BTC`` is ``BTC/USDC:USDC``;
    ``@<n>`` spot coins pass through (they need ``spotMeta``)."""

    venue = "hyperliquid"

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}
        self.stale = 0

    def _symbol(self, coin: str) -> str:
        sym = self._sym.get(coin)
        if sym is None:
            sym = self._sym[coin] = coin if coin[0] == "@" or "/" in coin else f"{coin}/USDC:USDC"
        return sym

    def feed(self, frame: bytes) -> list[Event]:
        """Decode one raw Hyperliquid frame."""
        recv = _time_ns()
        d = _loads(frame)
        channel = d["channel"]
        data = d.get("data")
        if channel == "l2Book":
            sym = self._sym.get(data["coin"]) or self._symbol(data["coin"])
            t = data["time"]
            b = self.books.get(sym)
            if b is None:
                b = self.books[sym] = _FloatBook()
            elif b.seq is not None and t < b.seq:
                self.stale += 1
                return []
            bids, asks = data["levels"]
            b.bids = {float(lv["px"]): float(lv["sz"]) for lv in bids}
            b.asks = {float(lv["px"]): float(lv["sz"]) for lv in asks}
            b.seq = t
            return [("book", sym, t, t * 1_000_000, recv)]
        if channel == "trades":
            return [
                (
                    "trade",
                    self._sym.get(t["coin"]) or self._symbol(t["coin"]),
                    float(t["px"]),
                    float(t["sz"]),
                    "buy" if t["side"] == "B" else "sell",
                    t["tid"],
                    t["time"] * 1_000_000,
                    recv,
                )
                for t in data
            ]
        if channel == "bbo":
            bid, ask = data["bbo"]
            return [
                (
                    "bbo",
                    self._sym.get(data["coin"]) or self._symbol(data["coin"]),
                    float(bid["px"]) if bid else 0.0,
                    float(bid["sz"]) if bid else None,
                    float(ask["px"]) if ask else 0.0,
                    float(ask["sz"]) if ask else None,
                    data["time"] * 1_000_000,
                    recv,
                )
            ]
        if channel == "candle":
            return [
                (
                    "candle",
                    self._sym.get(data["s"]) or self._symbol(data["s"]),
                    data["t"] * 1_000_000,
                    float(data["o"]),
                    float(data["h"]),
                    float(data["l"]),
                    float(data["c"]),
                    float(data["v"]),
                    None,
                    recv,
                )
            ]
        return [("ack", channel, None, recv)]


BOTS[HyperliquidBot.venue] = HyperliquidBot


# ---------------------------------------------------------------------------
# BitUnix futures (docs-derived: no recording exists)
# ---------------------------------------------------------------------------

#: ms per BitUnix kline interval with a fixed length (weeks and months are calendar-aligned).
_BITUNIX_KLINE_MS = {
    "1min": 60_000,
    "3min": 180_000,
    "5min": 300_000,
    "15min": 900_000,
    "30min": 1_800_000,
    "60min": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1day": 86_400_000,
    "3day": 259_200_000,
}


class BitunixBot(VenueBot):
    """BitUnix futures public (``BTCUSDT`` -> ``BTC/USDT:USDT``): every ``depth_book*`` push is
    the whole top of book and replaces it (no sequence, no checksum); ``trade`` lists (no trade
    id: the time text stands in), ``tickers`` -> one BBO per entry, ``*_kline_<interval>`` ->
    a candle starting at the push's ``ts`` floored to the interval. Docs-derived, like the
    recording it races on."""

    venue = "bitunix"

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}

    def _unified(self, raw: str) -> str:
        u = self._sym.get(raw)
        if u is None:
            for q in ("USDT", "USDC"):
                if raw.endswith(q):
                    u = f"{raw[: -len(q)]}/{q}:{q}"
                    break
            else:
                u = raw
            self._sym[raw] = u
        return u

    def feed(self, frame: bytes) -> list[Event]:
        """Decode one raw BitUnix frame."""
        recv = _time_ns()
        d = _loads(frame)
        ch = d.get("ch")
        if ch is None:
            return [("ack", d["op"], d.get("code"), recv)]
        ts = d["ts"] * 1_000_000
        data = d["data"]
        if ch.startswith("depth_book"):
            s = d["symbol"]
            sym = self._sym.get(s) or self._unified(s)
            b = self.books.get(sym)
            if b is None:
                b = self.books[sym] = _FloatBook()
            b.bids = {float(p): float(q) for p, q in data["b"]}
            b.asks = {float(p): float(q) for p, q in data["a"]}
            return [("book", sym, None, ts, recv)]
        if ch == "trade":
            s = d["symbol"]
            sym = self._sym.get(s) or self._unified(s)
            return [
                (
                    "trade",
                    sym,
                    float(t["p"]),
                    float(t["v"]),
                    t["s"],
                    t["t"],
                    _iso_ns(t["t"]),
                    recv,
                )
                for t in data
            ]
        if ch == "tickers":
            return [
                (
                    "bbo",
                    self._sym.get(t["s"]) or self._unified(t["s"]),
                    float(t["bd"]),
                    float(t["bv"]),
                    float(t["ak"]),
                    float(t["av"]),
                    ts,
                    recv,
                )
                for t in data
            ]
        if "_kline_" in ch:
            ms = _BITUNIX_KLINE_MS[ch.rsplit("_", 1)[1]]
            start = (d["ts"] - d["ts"] % ms) * 1_000_000
            s = d["symbol"]
            return [
                (
                    "candle",
                    self._sym.get(s) or self._unified(s),
                    start,
                    float(data["o"]),
                    float(data["h"]),
                    float(data["l"]),
                    float(data["c"]),
                    float(data["b"]),
                    ts,
                    recv,
                )
            ]
        return []


BOTS["bitunix"] = BitunixBot


# ---------------------------------------------------------------------------
# KuCoin spot
# ---------------------------------------------------------------------------


class KucoinBot(VenueBot):
    """KuCoin spot (``BTC-USDT`` -> ``BTC/USDT``): books from the REST level2 snapshot
    (``data.sequence``), then ``/market/level2`` by the docs' rule: a message whose
    ``sequenceEnd`` the book holds is stale, one with ``sequenceStart`` past the book + 1 a gap;
    a row applies only past the book's sequence, price ``"0"`` rows only advance it, size
    ``"0"`` deletes. Deltas of a book without a snapshot are kept for it. ``/market/ticker`` ->
    BBO, ``/market/match`` trades (``time`` ns), ``/market/candles``."""

    venue = "kucoin"

    def __init__(self) -> None:
        super().__init__()
        self._sym: dict[str, str] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def unified(self, raw: str) -> str:
        """``BTC-USDT`` -> ``BTC/USDT``."""
        u = self._sym.get(raw)
        if u is None:
            u = self._sym[raw] = raw.replace("-", "/")
        return u

    def load_snapshot(self, symbol: str, body: bytes) -> None:
        """A REST ``level2`` body as ``symbol``'s book; deltas kept for it replay after it."""
        data = _loads(body)["data"]
        b = self.books[symbol] = _FloatBook()
        _set_levels(b.bids, data["bids"])
        _set_levels(b.asks, data["asks"])
        b.seq = int(data["sequence"])
        self._sym.setdefault(symbol.replace("/", "-"), symbol)
        for d in self._pending.pop(symbol, []):
            self._apply(symbol, b, d)

    def _apply(self, sym: str, b: _FloatBook, d: dict[str, Any]) -> bool:
        """Apply one level2 ``data``; False if stale. Raises :class:`BotGapError`."""
        seq: int = b.seq or 0  # set by load_snapshot
        end = d["sequenceEnd"]
        if end <= seq:
            return False
        if d["sequenceStart"] > seq + 1:
            raise BotGapError(self.venue, sym, seq + 1, d["sequenceStart"])
        changes = d["changes"]
        for side, rows in ((b.bids, changes["bids"]), (b.asks, changes["asks"])):
            for p, q, s in rows:
                if int(s) <= seq or p == "0":
                    continue
                qty = float(q)
                if qty:
                    side[float(p)] = qty
                else:
                    side.pop(float(p), None)
        b.seq = end
        return True

    def feed(self, frame: bytes) -> list[Event]:  # noqa: PLR0911 - one return per frame kind
        """Decode one raw KuCoin frame."""
        recv = _time_ns()
        d = _loads(frame)
        topic = d.get("topic")
        if topic is None:
            return [("ack", d.get("type"), d.get("id"), recv)]
        data = d["data"]
        channel, _, raw = topic.partition(":")
        if channel == "/market/level2":
            sym = self._sym.get(raw) or self.unified(raw)
            b = self.books.get(sym)
            if b is None:
                self._pending.setdefault(sym, []).append(data)
                return []
            if not self._apply(sym, b, data):
                return []
            t = data.get("time")
            return [("book", sym, b.seq, None if t is None else t * 1_000_000, recv)]
        if channel == "/market/ticker":
            return [
                (
                    "bbo",
                    self._sym.get(raw) or self.unified(raw),
                    float(data["bestBid"]),
                    float(data["bestBidSize"]),
                    float(data["bestAsk"]),
                    float(data["bestAskSize"]),
                    data["time"] * 1_000_000,
                    recv,
                )
            ]
        if channel == "/market/match":
            return [
                (
                    "trade",
                    self._sym.get(raw) or self.unified(raw),
                    float(data["price"]),
                    float(data["size"]),
                    data["side"],
                    data["tradeId"],
                    int(data["time"]),
                    recv,
                )
            ]
        if channel == "/market/candles":
            market_id = raw.rpartition("_")[0]
            c = data["candles"]
            return [
                (
                    "candle",
                    self._sym.get(market_id) or self.unified(market_id),
                    int(c[0]) * 1_000_000_000,
                    float(c[1]),
                    float(c[3]),
                    float(c[4]),
                    float(c[2]),
                    float(c[5]),
                    data["time"],
                    recv,
                )
            ]
        return []


BOTS["kucoin"] = KucoinBot
