"""Bitget public market data adapter (``bitget``: markets ``spot`` and ``linear``).

Every Bitget-specific fact of the Python side lives here; it follows the Bitget API v2 docs as
summarised in shared/docs/exchanges/bitget.md (§1 endpoints, §2 limits, §3 subscribe, §4
heartbeat, §5 order book, §6 trades/tickers/candles, §9 symbols):

- WebSocket: ``wss://ws.bitget.com/v2/ws/public`` for both markets; the market is the
  ``instType`` of each subscription arg (``SPOT`` for ``spot``, ``USDT-FUTURES`` for
  ``linear``). Each market gets its own connections (routes ``"spot"`` and ``"linear"``), so
  each decoder gets that market's instruments table and refuses the other market's frames. The
  Rust venue also decodes the legacy v1 frames (``instType`` ``sp``/``mc``) of our recordings.
- Subscribe: ``{"op":"subscribe","args":[{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},
  ..]}``; one ack per arg ``{"event":"subscribe","arg":{..}}``, which the Rust venue reports with
  topic ``"<channel>:<instId>"``: that text is each :class:`Subscription`'s ``stream`` and a
  request's ack keys. An error ``{"event":"error","arg":{..},"code":30001,"msg":..}`` names the
  arg (same topic), so it fails the request that holds it; one without ``arg`` fails the oldest.
- Keepalive: the client sends the text ``ping`` (every 25 s here; Bitget asks for one every 30 s
  and closes after 2 min without) and Bitget answers ``pong``.
- Limits: 10 client messages per second (pings included; budget 5 here), 240 subscribe requests
  per hour per connection, at most 1000 channels per connection with fewer than 50 recommended
  (50 here), args of one request at most 4096 bytes, 24 h forced disconnect (rotated before).
- Recovery: books resync by subscribing again (Bitget sends a new ``books`` snapshot; there is
  no REST snapshot to bridge). ``books`` carries the top-25 CRC32 checksum, checked on every
  message; ``seq`` (v2) only marks out-of-order updates (dropped as stale).
- Instruments: ``GET /api/v2/spot/public/symbols`` (``pricePrecision``, ``quantityPrecision``,
  ``status``) and ``GET /api/v2/mix/market/contracts?productType=USDT-FUTURES`` (``pricePlace``,
  ``priceEndStep``, ``sizeMultiplier``, ``symbolStatus``); replies ``{"code":"00000",
  "data":[..]}``. USDT-futures sizes are in the base coin (no contract multiplier to apply);
  ``sizeMultiplier`` is the size step.
- Symbols (ccxt): ``BTCUSDT`` <-> ``BTC/USDT`` (spot) and ``BTC/USDT:USDT`` (linear).
- Legacy v1 frames (replays of old recordings): a v1 ``ticker`` has no sizes (its BBO sizes are
  0) and a v1 ``trade`` has no id (its ``trade_id`` is its ms time as text, not unique).

A simulator differs from live only by base URL: ``Bitget(base_url="http://127.0.0.1:PORT")``
gives ``ws://127.0.0.1:PORT/v2/ws/public``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..exceptions import ExchangeError
from . import (
    Adapter,
    Keepalive,
    Limits,
    NextId,
    Request,
    RestCandle,
    RestPoll,
    RestQuote,
    Subscription,
    batches,
)
from ._rest import candles_of, loads

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Bitget", "contract_dicts", "spot_dicts", "unified_symbol"]

_CODE = re.compile(r"^[A-Z0-9]{1,20}$")
#: Quote currencies tried (longest first) to split a spot id without an instruments table; the
#: same list as the Rust venue's.
QUOTES = ("USDT", "USDC", "USDE", "BTC", "ETH", "EUR", "BRL", "BGB", "TRY", "DAI", "GBP", "JPY")
#: Candle bars of ``candle<bar>`` (bitget.md §6).
BARS = (
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1H",
    "4H",
    "6H",
    "12H",
    "1D",
    "3D",
    "1W",
    "1M",
    "6Hutc",
    "12Hutc",
    "1Dutc",
    "3Dutc",
    "1Wutc",
    "1Mutc",
)
#: Book channels: ``books`` (all levels, snapshot then updates, checksum) or the top N whole.
BOOK_CHANNELS = ("books", "books1", "books5", "books15")
#: ``instType`` of each market (v2).
INST_TYPES = {"spot": "SPOT", "linear": "USDT-FUTURES"}
_ARG_OVERHEAD = len('{"instType":"USDT-FUTURES","channel":"","instId":""},')
_REQUEST_OVERHEAD = len('{"op":"unsubscribe","args":[]}')


def unified_symbol(market_id: str, market: str) -> str | None:
    """``"BTCUSDT"`` -> ``"BTC/USDT"`` (``spot``) or ``"BTC/USDT:USDT"`` (``linear``); None when
    no known quote ends the id. The same rules as the Rust venue's ``Bitget::unified``."""
    if not _CODE.match(market_id):
        return None
    if market == "linear":
        base = market_id.removesuffix("USDT")
        return f"{base}/USDT:USDT" if base and base != market_id else None
    for quote in QUOTES:
        if market_id.endswith(quote) and len(market_id) > len(quote):
            return f"{market_id[: -len(quote)]}/{quote}"
    return None


def _reply_data(body: bytes | str, what: str) -> list[Any]:
    """The ``data`` list of a Bitget REST reply; ``ExchangeError`` with its ``code``/``msg``."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise ExchangeError(f"bitget {what}: unexpected reply {str(body)[:200]!r}")
    code, msg = str(obj.get("code")), obj.get("msg")
    if code != "00000" or not isinstance(obj.get("data"), list):
        raise ExchangeError(
            f"bitget {what}: error {code}: {msg}",
            code=int(code) if code.isdigit() else None,
            reason=msg if isinstance(msg, str) else None,
        )
    return list(obj["data"])


def _step(places: Any, multiple: Any = 1) -> str | None:
    """``multiple`` units of the ``places``-th decimal, as text (``2`` -> ``"0.01"``)."""
    try:
        value = Decimal(multiple).scaleb(-int(places))
    except (ValueError, TypeError, ArithmeticError):
        return None
    return format(value, "f")


def spot_dicts(body: bytes | str) -> list[dict[str, Any]]:
    """Parse a ``GET /api/v2/spot/public/symbols`` reply into instrument dicts (``market_id``,
    ``symbol``, ``tick_size`` = one unit of ``pricePrecision`` decimals, ``lot_size`` = one unit
    of ``quantityPrecision`` decimals, ``active`` = ``status == "online"``). Raises
    ``ExchangeError`` for an error reply or a body without ``data``."""
    out = []
    for e in _reply_data(body, "spot symbols"):
        if not isinstance(e, dict) or not isinstance(e.get("symbol"), str):
            continue
        out.append(
            {
                "market_id": e["symbol"],
                "symbol": f"{e.get('baseCoin')}/{e.get('quoteCoin')}",
                "tick_size": _step(e.get("pricePrecision")),
                "lot_size": _step(e.get("quantityPrecision")),
                "active": e.get("status") == "online",
            }
        )
    return out


def contract_dicts(body: bytes | str) -> list[dict[str, Any]]:
    """Parse a ``GET /api/v2/mix/market/contracts?productType=USDT-FUTURES`` reply into
    instrument dicts: ``symbol`` ``BASE/QUOTE:QUOTE``, ``tick_size`` = ``priceEndStep`` units of
    ``pricePlace`` decimals, ``lot_size`` = ``sizeMultiplier`` (sizes are in the base coin),
    ``active`` = ``symbolStatus == "normal"``. Raises ``ExchangeError`` as :func:`spot_dicts`."""
    out = []
    for e in _reply_data(body, "contracts"):
        if not isinstance(e, dict) or not isinstance(e.get("symbol"), str):
            continue
        quote = e.get("quoteCoin")
        out.append(
            {
                "market_id": e["symbol"],
                "symbol": f"{e.get('baseCoin')}/{quote}:{quote}",
                "tick_size": _step(e.get("pricePlace"), e.get("priceEndStep") or 1),
                "lot_size": e.get("sizeMultiplier") or None,
                "active": e.get("symbolStatus") == "normal",
            }
        )
    return out


class Bitget(Adapter):
    """Bitget public market data (exchange id ``"bitget"``, decoder ``"bitget"``).

    Channels: ``book`` (``books``: all levels, snapshot then updates with checksums), ``bbo``
    (``ticker``: best bid/ask with sizes), ``trades`` (``trade``), ``candles`` (``candle1m``).
    ``options`` keys (all optional):

    - ``book_channel``: ``"books"`` (default), ``"books1"``, ``"books5"`` or ``"books15"`` (the
      top N, whole every push).
    - ``candle_interval``: a Bitget bar (:data:`BARS`), default ``"1m"``.
    """

    exchange_id = "bitget"
    decoder_id = "bitget"
    markets = ("spot", "linear")
    channels = ("book", "trades", "bbo", "candles")
    option_keys = frozenset({"book_channel", "candle_interval"})
    ws_base = "wss://ws.bitget.com"
    rest_base = "https://api.bitget.com"
    limits = Limits(
        streams_per_connection=50,  # "< 50 channels per connection" recommended (max 1000)
        streams_per_message=45,
        control_msgs_per_s=5,  # a budget under the documented 10/s (pings included)
        lifetime_s=24 * 3600,  # forced disconnect every 24 h (the session rotates before)
        server_ping_interval_s=25,  # Bitget does not ping: our `ping` every 25 s draws `pong`
        stale_after_s=60,
        max_request_bytes=4096,
    )

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options)
        self.book_channel: str = self.option_choice("book_channel", "books", BOOK_CHANNELS)
        self.candle_interval: str = self.options.get("candle_interval", "1m")
        if self.candle_interval not in BARS:
            raise ValueError(
                f"candle_interval {self.candle_interval!r} invalid; Bitget bars: {', '.join(BARS)}"
            )

    # --- symbols ------------------------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """``"BTC/USDT"`` and ``"BTC/USDT:USDT"`` -> ``"BTCUSDT"``. Raises ``ValueError`` naming
        ``symbol`` for any other shape (only USDT-margined perpetuals are served as linear)."""
        self.market_of(symbol)
        pair = symbol.partition(":")[0]
        return pair.replace("/", "")

    def market_of(self, symbol: str) -> str:
        """``spot`` (``BTC/USDT``) or ``linear`` (``BTC/USDT:USDT``); ``ValueError`` naming the
        symbol otherwise."""
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'BTC/USDT', got {symbol!r}")
        pair, colon, settle = symbol.partition(":")
        base, slash, quote = pair.partition("/")
        ok = bool(slash) and bool(_CODE.match(base)) and bool(_CODE.match(quote))
        if ok and not colon:
            return "spot"
        if ok and quote == "USDT" and settle == "USDT":
            return "linear"
        upper = symbol.upper()
        hint = f"; did you mean {upper!r}?" if upper != symbol else ""
        raise ValueError(
            f"unknown symbol {symbol!r} for bitget: use 'BTC/USDT' (spot) or 'BTC/USDT:USDT' "
            f"(USDT-margined perpetual){hint}"
        )

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel): stream ``"<channel>:<instId>"``
        (``"books:BTCUSDT"``), route the symbol's market. Raises ``ValueError`` naming the first
        bad channel or symbol."""
        for ch in channels:
            self.check_channel(ch)
        ids = [(sym, self.market_id(sym), self.market_of(sym)) for sym in symbols]
        return [
            Subscription(sym, ch, market, f"{self._channel(ch)}:{mid}")
            for sym, mid, market in ids
            for ch in channels
        ]

    def _channel(self, channel: str) -> str:
        return {
            "book": self.book_channel,
            "bbo": "ticker",
            "trades": "trade",
            "candles": f"candle{self.candle_interval}",
        }[channel]

    # --- wire ---------------------------------------------------------------------------------
    def ws_url(self, route: str) -> str:
        """``<ws>/v2/ws/public`` for both routes (``"spot"``, ``"linear"``)."""
        if route not in self.markets:
            raise ValueError(f"unknown bitget route {route!r}")
        return f"{self.ws_base_url}/v2/ws/public"

    def subscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - Bitget requests carry no id
    ) -> list[Request]:
        """``{"op":"subscribe","args":[{"instType","channel","instId"},..]}`` requests of at most
        ``streams_per_message`` args and 4096 bytes, each done once every arg's topic is
        acknowledged (bitget.md §3). ``next_id`` is not used."""
        return self._requests("subscribe", subs)

    def unsubscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - (idem)
    ) -> list[Request]:
        """``"op":"unsubscribe"`` requests, batched and acknowledged like subscribe."""
        return self._requests("unsubscribe", subs)

    def _requests(self, op: str, subs: Sequence[Subscription]) -> list[Request]:
        lim = self.limits
        out = []
        for chunk in batches(
            list(subs),
            lim.streams_per_message,
            lim.max_request_bytes,
            size=lambda s: len(s.stream) + _ARG_OVERHEAD,
            overhead=_REQUEST_OVERHEAD,
        ):
            args = []
            for s in chunk:
                channel, _, inst = s.stream.partition(":")
                args.append({"instType": INST_TYPES[s.route], "channel": channel, "instId": inst})
            payload = json.dumps({"op": op, "args": args}, separators=(",", ":")).encode()
            streams = tuple(s.stream for s in chunk)
            out.append(Request(payload, frozenset(streams), streams))
        return out

    def keepalive(self) -> Keepalive | None:
        """The text ``ping`` every 25 s (bitget.md §4: one every 30 s; answered ``pong``)."""
        return Keepalive(25.0, b"ping")

    # --- instruments ----------------------------------------------------------------------------
    async def fetch_instruments(
        self, http: aiohttp.ClientSession, market: str
    ) -> list[dict[str, Any]]:
        """``GET <rest>/api/v2/spot/public/symbols`` (``spot``, :func:`spot_dicts`) or
        ``GET <rest>/api/v2/mix/market/contracts?productType=USDT-FUTURES`` (``linear``,
        :func:`contract_dicts`). Raises ``ExchangeError`` for an error reply and what aiohttp
        raises."""
        if market == "spot":
            path, params, parse = "/api/v2/spot/public/symbols", {}, spot_dicts
        elif market == "linear":
            path, params = "/api/v2/mix/market/contracts", {"productType": "USDT-FUTURES"}
            parse = contract_dicts
        else:
            raise ValueError(
                f"unknown bitget market {market!r}; markets: {', '.join(self.markets)}"
            )
        url = self.rest_base_url + path
        return await self.get_parsed(http, url, {**self.rest_params, **params}, parse)

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Candles are ordered by start time. Trades are left out: v1 trades have no id (their
        id is their ms time, not unique) and v2 ids are not documented to grow; books and BBOs
        have no sequence on v1."""
        from .._core import Candle

        return {Candle: attrgetter("start_ts")}

    # --- REST fallback and candle backfill (bbo, depth, candles) ---------------------------------
    # Bitget v2 public market endpoints: spot /api/v2/spot/market/{tickers,orderbook,candles},
    # USDT futures /api/v2/mix/market/{ticker,merge-depth,candles} (productType USDT-FUTURES).
    # bitget.md gives no REST limit; Bitget's API docs put each of these at 20 requests per
    # second per IP: 1200 per minute assumed, each request weight 1.
    rest_weight_per_minute = 1200
    candles_max = 1000
    #: ``merge-depth`` takes only these ``limit`` values (and ``max``)
    _MERGE_LIMITS = (1, 5, 15, 50)

    def _poll(self, symbol: str, spot_path: str, mix_path: str, **params: str) -> RestPoll:
        mid = self.market_id(symbol)
        if self.market_of(symbol) == "spot":
            url = f"{self.rest_base_url}/api/v2/spot/market/{spot_path}"
            return RestPoll(url, {"symbol": mid, **params}, 1)
        url = f"{self.rest_base_url}/api/v2/mix/market/{mix_path}"
        return RestPoll(url, {"symbol": mid, "productType": "USDT-FUTURES", **params}, 1)

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """Spot ``GET /api/v2/spot/market/tickers?symbol=X``, futures ``GET
        /api/v2/mix/market/ticker?symbol=X&productType=USDT-FUTURES``; weight 1."""
        return self._poll(symbol, "tickers", "ticker")

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """``data[0]``'s ``bidPr/bidSz/askPr/askSz`` and ``ts`` (ms) -> :class:`RestQuote` (no
        sequence: the ticker has none). ``ExchangeError`` for a ``code`` other than
        ``"00000"``, another symbol or another shape."""
        data = self._data(body, "ticker")
        try:
            (t,) = data
            quote = RestQuote(
                str(t["bidPr"]),
                str(t["bidSz"]),
                str(t["askPr"]),
                str(t["askSz"]),
                None,
                int(t["ts"]) * 1_000_000 if t.get("ts") is not None else None,
            )
        except (ValueError, TypeError, KeyError):
            raise ExchangeError(f"unreadable Bitget ticker {body[:200]!r}") from None
        if t.get("symbol") != self.market_id(symbol):
            raise ExchangeError(f"Bitget ticker of {t.get('symbol')!r}, not {symbol}")
        return quote

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """Spot ``GET /api/v2/spot/market/orderbook`` (``type=step0``, ``limit`` = ``levels``,
        at most 150), futures ``GET /api/v2/mix/market/merge-depth`` (``limit`` the smallest
        of 1, 5, 15, 50 covering ``levels``, else ``max``); weight 1. Read by the decoder's
        ``parse_snapshot`` (its ``ts`` in ms is the snapshot's sequence: Bitget's REST books
        carry none)."""
        if self.market_of(symbol) == "spot":
            return self._poll(
                symbol, "orderbook", "", type="step0", limit=str(max(1, min(levels, 150)))
            )
        limit = next((str(n) for n in self._MERGE_LIMITS if levels <= n), "max")
        return self._poll(symbol, "", "merge-depth", limit=limit)

    def candles_request(self, symbol: str, limit: int) -> tuple[str, dict[str, str]] | None:
        """Spot ``GET /api/v2/spot/market/candles`` (``granularity`` Bitget's spot name of the
        ``candle_interval`` option: ``1min``, ``1h``, ``1day`` ...), futures ``GET
        /api/v2/mix/market/candles`` (``granularity`` the bar itself); ``limit`` at most 1000.
        None for a bar the REST request does not serve (the ``utc`` ones on spot)."""
        n = str(max(1, min(limit, self.candles_max)))
        if self.market_of(symbol) == "spot":
            granularity = _SPOT_GRANULARITY.get(self.candle_interval)
            if granularity is None:
                return None
            poll = self._poll(symbol, "candles", "", granularity=granularity, limit=n)
        else:
            poll = self._poll(symbol, "", "candles", granularity=self.candle_interval, limit=n)
        return poll.url, poll.params

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """``data`` rows ``[ts ms, open, high, low, close, baseVol, ...]`` (strings), oldest
        first; the volume is the base volume, as the candle channel's. The reply says nothing
        of closing: every row but the newest is closed, the newest one's ``closed`` is None.
        ``ExchangeError`` for a ``code`` other than ``"00000"`` or another shape."""
        rows = self._data(body, "candles")
        return candles_of(rows, lambda r: r[:6], self.candle_interval, "bitget", newest_first=False)

    @staticmethod
    def _data(body: bytes, what: str) -> list[Any]:
        """The ``data`` list of a v2 reply; ``ExchangeError`` for a ``code`` other than
        ``"00000"`` or another shape."""
        obj = loads(body, "bitget", what)
        if not isinstance(obj, dict):
            raise ExchangeError(f"unreadable Bitget {what} reply {body[:200]!r}")
        if obj.get("code") != "00000":
            code, msg = obj.get("code"), obj.get("msg")
            raise ExchangeError(f"bitget {what}: {code} {msg}", code=code, reason=msg)
        data = obj.get("data")
        if not isinstance(data, list):
            raise ExchangeError(f"unreadable Bitget {what} reply {body[:200]!r}")
        return data


#: candle bar -> the ``granularity`` of Bitget's spot candles request
_SPOT_GRANULARITY = {
    "1m": "1min",
    "3m": "3min",
    "5m": "5min",
    "15m": "15min",
    "30m": "30min",
    "1H": "1h",
    "4H": "4h",
    "6H": "6h",
    "12H": "12h",
    "1D": "1day",
    "3D": "3day",
    "1W": "1week",
    "1M": "1M",
}
