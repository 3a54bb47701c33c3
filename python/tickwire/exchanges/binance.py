"""Binance Spot (``binance``) and USD-M futures (``binanceusdm``) adapters.

Every Binance-specific fact of the Python side lives here (see shared/docs/exchanges/binance.md):

- Spot streams: ``wss://stream.binance.com:9443/stream`` (combined-stream envelope
  ``{"stream":..,"data":..}``); REST snapshot ``https://api.binance.com/api/v3/depth``.
- USD-M streams are split by route: ``/public/stream`` carries ``@depth*`` and ``@bookTicker``,
  ``/market/stream`` carries trades and klines (an unrouted ``/ws`` silently drops market streams);
  REST snapshot ``https://fapi.binance.com/fapi/v1/depth``.
- Subscribe: ``{"method":"SUBSCRIBE","params":[...],"id":N}`` (``"UNSUBSCRIBE"`` alike), ack
  ``{"result":null,"id":N}``, error ``{"error":{"code":..,"msg":..},"id":N}`` (the Rust
  decoder turns both into ``ControlReply``).
- Limits: spot 5 client messages/s (pongs count), USD-M 10/s; 1024 streams per spot connection,
  USD-M budgeted at 200 (two doc versions disagree); connections are cut after 24 h.
- Heartbeat: the server pings (spot every 20 s, USD-M every 3 min); the pong must echo the payload.
- Symbol list: ``GET /api/v3/exchangeInfo?symbols=["A","B"]`` (spot; HTTP 400 code -1121
  "Invalid symbol." for the whole request if any listed one is unknown) and
  ``GET /fapi/v1/exchangeInfo`` (USD-M, the whole list); a market is usable when its ``status`` is
  ``TRADING``.
- Stream names use lowercase market ids; unified symbols follow ccxt: ``ETH/USDT`` (spot),
  ``ETH/USDT:USDT`` (USD-M linear perpetual).

Private (account) channels (binance.md §7-8; ``Feed(..., credentials=Credentials(...))``):

- Spot (``orders``, ``fills``, ``balances``): the WebSocket API
  ``wss://ws-api.binance.com:443/ws-api/v3`` (route ``"private"``). An Ed25519 key
  (``Credentials.private_key``) logs on with ``session.logon`` and subscribes with
  ``userDataStream.subscribe``; an HMAC key sends ``userDataStream.subscribe.signature``.
  Signatures cover the sorted params (:mod:`tickwire.auth.binance`). ``eventStreamTerminated``
  rotates the connection.
- USD-M (``orders``, ``fills``, ``positions``, ``balances``): a listen key from ``POST
  /fapi/v1/listenKey`` per connect, kept alive by ``PUT`` every 30 min (-1125: a fresh key), the
  stream at ``<ws>/private/ws?listenKey=<key>`` (the key as a query parameter: masked in logs);
  ``listenKeyExpired`` rotates onto a fresh key.
- Recovery after a reconnect: signed ``GET /api/v3/myTrades`` + ``allOrders`` (USD-M
  ``/fapi/v1/userTrades`` + ``allOrders``), HMAC-SHA256 hex over the query with ``timestamp``
  and ``recvWindow``, key in ``X-MBX-APIKEY``; one request per symbol (Binance's lists need
  one): the ``account_symbols`` option plus the feed's market-data symbols.
- Refusals (-2015 key, -2014 key format, -1022 signature, -1021 timestamp, -1125 listen key,
  HTTP 401/403) are ``AuthError``.

A simulator differs from live only by base URL: ``BinanceSpot(base_url="http://127.0.0.1:PORT")``
gives ``ws://127.0.0.1:PORT/stream`` and ``http://127.0.0.1:PORT/api/v3/depth``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Hashable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..auth import Credentials
from ..auth import binance as signer
from ..exceptions import AuthError, ExchangeError
from ..redact import redact_url
from . import (
    Adapter,
    ConnectTarget,
    Limits,
    NextId,
    Request,
    RestCall,
    RestCandle,
    RestPoll,
    RestQuote,
    Subscription,
    batches,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["BinanceSpot", "BinanceUsdm"]

_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")
_IDS_PER_INFO_REQUEST = 100  # market ids per spot exchangeInfo?symbols= request
_KLINE_INTERVALS = (
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)


class _Binance(Adapter):
    """Shared Binance logic. ``options`` keys (all optional):

    - ``book_stream``: diff-depth suffix, spot ``"depth@100ms"`` (default) or ``"depth"`` (1 s);
      USD-M ``"depth@0ms"`` (default, as in the packaged recording), ``"depth@100ms"``,
      ``"depth@500ms"`` or ``"depth"`` (250 ms).
    - ``trades_stream``: ``"trade"`` (default) or ``"aggTrade"``.
    - ``candle_interval``: kline interval, default ``"1m"``.
    - ``snapshot_limit``: REST depth ``limit``, default 1000.
    - ``account_symbols``: unified symbols whose fills and orders the REST recovery asks for
      (besides the feed's market-data symbols); without any, missed fills are reported as an
      ``AccountGap`` and missed orders come from ``openOrders``.
    """

    channels = ("book", "trades", "bbo", "candles")
    # Sent before a maintenance disconnect (binance.md §2).
    rotate_on_notices = frozenset({"serverShutdown"})
    # `trade` ids (`t`) and `aggTrade` ids (`a`) go up by one per symbol; both recordings agree.
    consecutive_trade_ids = True
    _book_streams: tuple[str, ...] = ()
    option_keys = frozenset(
        {"book_stream", "trades_stream", "candle_interval", "snapshot_limit", "account_symbols"}
    )
    #: The private connection's route (spot: the WebSocket API; USD-M: the listen-key stream).
    private_route = "private"
    #: -1008 "Server is currently overloaded": a busy login reply, retried with backoff.
    transient_login_codes = frozenset({-1008})
    _rest_prefix = ""
    _depth_path = ""
    _info_path = ""
    _spot = True

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options, credentials=credentials)
        self.book_stream: str = self.option_choice(
            "book_stream", self._book_streams[0], self._book_streams
        )
        self.trades_stream: str = self.options.get("trades_stream", "trade")
        if self.trades_stream not in ("trade", "aggTrade"):
            raise ValueError(
                f"trades_stream {self.trades_stream!r} invalid; use 'trade' or 'aggTrade'"
            )
        self.candle_interval: str = self.options.get("candle_interval", "1m")
        if self.candle_interval not in _KLINE_INTERVALS:
            raise ValueError(
                f"candle_interval {self.candle_interval!r} invalid; "
                f"Binance intervals: {', '.join(_KLINE_INTERVALS)}"
            )
        self.snapshot_limit = int(self.options.get("snapshot_limit", 1000))
        # Market ids whose fills/orders the REST recovery asks for (Binance's lists need a
        # symbol): the ``account_symbols`` option plus every symbol subscribed for market data.
        self._account_ids: dict[str, None] = dict.fromkeys(
            self.market_id(s) for s in self.options.get("account_symbols", ())
        )

    # --- symbols ------------------------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """``"ETH/USDT"`` -> ``"ETHUSDT"`` (spot); ``"ETH/USDT:USDT"`` -> ``"ETHUSDT"`` (USD-M).

        Raises ``ValueError`` naming ``symbol`` when it is not a unified symbol of this market.
        """
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'ETH/USDT', got {symbol!r}")
        base, sep, rest = symbol.partition("/")
        quote, colon, settle = rest.partition(":")
        hint = "'ETH/USDT'" if self._spot else "'ETH/USDT:USDT'"
        if not sep or not _ASSET.match(base) or not _ASSET.match(quote):
            upper = symbol.upper()
            if upper != symbol and ("/" in upper):
                raise ValueError(
                    f"unknown symbol {symbol!r} for {self.exchange_id}: "
                    f"symbols are upper case, did you mean {upper!r}?"
                )
            raise ValueError(
                f"unknown symbol {symbol!r} for {self.exchange_id}: "
                f"use the unified form like {hint}"
            )
        if self._spot:
            if colon:
                raise ValueError(
                    f"symbol {symbol!r} is a derivatives symbol; Binance USD-M "
                    f"perpetuals use exchange 'binanceusdm', spot symbols look like "
                    f"'{base}/{quote}'"
                )
        else:
            if not colon:
                raise ValueError(
                    f"symbol {symbol!r} is a spot symbol; for exchange 'binanceusdm' "
                    f"write the perpetual as '{base}/{quote}:{quote}' "
                    f"(or use exchange 'binance' for spot)"
                )
            if settle != quote:
                raise ValueError(
                    f"unknown symbol {symbol!r} for binanceusdm: only linear "
                    f"perpetuals settled in the quote asset are supported "
                    f"(like '{base}/{quote}:{quote}')"
                )
        return base + quote

    def _unified(self, base: str, quote: str) -> str:
        return f"{base}/{quote}" if self._spot else f"{base}/{quote}:{quote}"

    # --- symbol list ----------------------------------------------------------------------------
    async def unavailable_symbols(
        self, http: aiohttp.ClientSession, symbols: Sequence[str]
    ) -> dict[str, str]:
        """``{unified symbol: reason}`` for each of ``symbols`` whose market id the exchangeInfo
        endpoint does not list, lists with other base/quote assets (``"ETHU/SDT"`` -> ``ETHUSDT``
        is ``ETH/USDT``), or lists with a ``status`` other than ``TRADING`` (spot ``HALT``,
        ``BREAK``; USD-M ``SETTLING``, ``PENDING_TRADING``, ...: no live market data).

        Raises ``ExchangeError`` (error reply other than an unknown symbol, unreadable body) and
        whatever aiohttp raises."""
        wanted = {sym: self.market_id(sym) for sym in symbols}
        listed = await self._listed(http, sorted(set(wanted.values())))
        out: dict[str, str] = {}
        for sym, mid in wanted.items():
            info = listed.get(mid)
            base, _, rest = sym.partition("/")
            if info is None:
                out[sym] = f"{mid} is not listed in {self._info_path}"
                continue
            b, q = info.get("baseAsset"), info.get("quoteAsset")
            if (
                isinstance(b, str)
                and isinstance(q, str)
                and (b, q)
                != (
                    base,
                    rest.partition(":")[0],
                )
            ):
                out[sym] = f"{mid} is {self._unified(b, q)!r}"
            elif info.get("status") != "TRADING":
                out[sym] = f"{mid} is listed with status {info.get('status')!r}, not 'TRADING'"
        return out

    async def _listed(
        self, http: aiohttp.ClientSession, ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Market id -> exchangeInfo entry for the listed ones among ``ids`` (spot).

        One ``symbols=[...]`` request when all are known. Spot answers the whole request with
        -1121 if any one is unknown, so the list is then halved and each half asked again
        (``symbol=`` for one id): k unknown ids among n cost about 2k*log2(n/k) requests of
        weight 20. The unfiltered list is no substitute: it omits markets without SPOT, MARGIN or
        LEVERAGED permission (Binance REST doc, exchangeInfo notes)."""
        if not ids:
            return {}
        if len(ids) > _IDS_PER_INFO_REQUEST:  # keeps the query string short (~2 KB)
            n = _IDS_PER_INFO_REQUEST
            parts = await asyncio.gather(
                *(self._listed(http, ids[i : i + n]) for i in range(0, len(ids), n))
            )
            return {mid: e for part in parts for mid, e in part.items()}
        params = (
            {"symbol": ids[0]}
            if len(ids) == 1
            else {"symbols": json.dumps(ids, separators=(",", ":"))}
        )
        try:
            return await self._exchange_info(http, params)
        except ExchangeError as exc:
            if exc.code != -1121:
                raise
        if len(ids) == 1:
            return {}
        half = len(ids) // 2
        low, high = await asyncio.gather(
            self._listed(http, ids[:half]), self._listed(http, ids[half:])
        )
        return {**low, **high}

    async def _exchange_info(
        self, http: aiohttp.ClientSession, params: dict[str, str]
    ) -> dict[str, dict[str, Any]]:
        """``GET <rest><exchangeInfo>`` -> market id -> its ``symbols`` entry.

        Raises ``ExchangeError`` with Binance's ``code``/``msg`` on a non-200 reply, or without a
        code when the body is not ``{"symbols": [...]}``."""
        url = self.rest_base_url + self._info_path
        async with http.get(url, params={**self.rest_params, **params}) as resp:
            status, body = resp.status, await resp.read()
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        if status != 200:
            code = obj.get("code") if isinstance(obj, dict) else None
            msg = obj.get("msg") if isinstance(obj, dict) else body[:200].decode(errors="replace")
            raise ExchangeError(
                f"GET {redact_url(url)}: HTTP {status}: {msg}", code=code, reason=msg
            )
        entries = obj.get("symbols") if isinstance(obj, dict) else None
        if not isinstance(entries, list):
            raise ExchangeError(f"GET {redact_url(url)}: unexpected reply {body[:200]!r}")
        return {e["symbol"]: e for e in entries if isinstance(e, dict) and "symbol" in e}

    # --- streams ------------------------------------------------------------------------------
    def _route(self, channel: str) -> str:  # noqa: ARG002 - one route for all channels on spot
        return "stream"

    def _stream_suffix(self, channel: str) -> str:
        if channel == "book":
            return self.book_stream
        if channel == "trades":
            return self.trades_stream
        if channel == "bbo":
            return "bookTicker"
        return "kline_" + self.candle_interval  # candles

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel); stream ``"<marketid lowercase>@<suffix>"``.

        Raises ``ValueError`` naming the first bad symbol or channel."""
        for ch in channels:
            self.check_channel(ch)
        for s in symbols:
            self._account_ids.setdefault(self.market_id(s))
        return [
            Subscription(sym, ch, self._route(ch), f"{mid}@{self._stream_suffix(ch)}")
            for sym, mid in ((s, self.market_id(s).lower()) for s in symbols)
            for ch in channels
        ]

    def subscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``SUBSCRIBE`` requests of at most ``limits.streams_per_message`` streams each, one
        request id per request, acknowledged by ``{"result":null,"id":N}`` (binance.md §3).
        The private stream: :meth:`private_subscribe_requests`."""
        out = self._requests(self.subscribe_message, _public(subs), next_id)
        if len(out) < len(subs) and any(s.stream == "userData" for s in subs):
            out += self.private_subscribe_requests(next_id)
        return out

    def unsubscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``UNSUBSCRIBE`` requests, batched and acknowledged like :meth:`subscribe_requests`
        (none for the private route: its stream ends with its connection)."""
        return self._requests(self.unsubscribe_message, _public(subs), next_id)

    def _requests(
        self,
        message: Callable[[int, Sequence[str]], bytes],
        subs: Sequence[Subscription],
        next_id: NextId,
    ) -> list[Request]:
        out = []
        for chunk in batches([s.stream for s in subs], self.limits.streams_per_message):
            rid = next_id()
            out.append(Request(message(rid, chunk), frozenset({rid}), tuple(chunk)))
        return out

    def subscribe_message(self, request_id: int, streams: Sequence[str]) -> bytes:
        """``{"method":"SUBSCRIBE","params":[streams...],"id":request_id}`` as UTF-8 JSON."""
        return _request("SUBSCRIBE", request_id, streams)

    def unsubscribe_message(self, request_id: int, streams: Sequence[str]) -> bytes:
        """``{"method":"UNSUBSCRIBE","params":[streams...],"id":request_id}`` (binance.md §3)."""
        return _request("UNSUBSCRIBE", request_id, streams)

    def snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """``GET <rest>/api/v3/depth`` (spot) or ``/fapi/v1/depth`` (USD-M) with
        ``symbol=<MARKETID>&limit=<snapshot_limit>``."""
        return (
            self.rest_base_url + self._depth_path,
            {"symbol": self.market_id(symbol), "limit": str(self.snapshot_limit)},
        )

    def trades_request(
        self, symbol: str, from_id: int, limit: int
    ) -> tuple[str, dict[str, str]] | None:
        """``GET <rest>/api/v3/historicalTrades`` for ``trade`` streams (spot only: USD-M's
        ``/fapi/v1/historicalTrades`` wants an API key) or ``/aggTrades`` for ``aggTrade``
        streams (both markets), with ``symbol``, ``fromId`` and ``limit`` (at most 1000)."""
        if self.trades_stream == "trade" and not self._spot:
            return None
        path = "/historicalTrades" if self.trades_stream == "trade" else "/aggTrades"
        return (
            self.rest_base_url + self._rest_prefix + path,
            {
                "symbol": self.market_id(symbol),
                "fromId": str(from_id),
                "limit": str(min(limit, self.past_trades_max)),
            },
        )

    def candles_request(self, symbol: str, limit: int) -> tuple[str, dict[str, str]] | None:
        """``GET <rest>/api/v3/klines`` (spot) or ``/fapi/v1/klines`` (USD-M) with ``symbol``,
        ``interval`` (the ``candle_interval`` option) and ``limit`` (at most
        :attr:`candles_max`: 1000 spot, 1500 USD-M)."""
        return (
            self.rest_base_url + self._rest_prefix + "/klines",
            {
                "symbol": self.market_id(symbol),
                "interval": self.candle_interval,
                "limit": str(min(limit, self.candles_max)),
            },
        )

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """Binance's kline rows, ``[openTime ms, open, high, low, close, volume, closeTime,
        ...]`` (decimal strings), oldest first. Without ``endTime`` the last row is the candle
        still open: every row but the last is ``closed``, the last one's ``closed`` is None.
        Raises ``ExchangeError`` for an error body (``{"code":..,"msg":..}``) or a malformed
        one."""
        try:
            rows = json.loads(body)
            if isinstance(rows, dict):
                raise ExchangeError(
                    f"binance klines: {rows.get('code')} {rows.get('msg')}",
                    code=rows.get("code"),
                    reason=rows.get("msg"),
                )
            out = [
                RestCandle(
                    self.candle_interval,
                    int(r[0]) * 1_000_000,
                    float(r[1]),
                    float(r[2]),
                    float(r[3]),
                    float(r[4]),
                    float(r[5]),
                    True,
                )
                for r in rows
            ]
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise ExchangeError(f"binance klines: unreadable body ({exc})") from None
        if out:
            out[-1] = out[-1]._replace(closed=None)
        return out

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Binance ids grow strictly per stream: depth final id ``u``, trade id ``t`` (or aggregate
        id ``a``), bookTicker ``u``; klines are ordered by (open time, event time)."""
        from .._core import BBO, BookUpdate, Candle, Trade

        return {
            BookUpdate: attrgetter("sequence"),
            Trade: attrgetter("trade_id"),
            BBO: attrgetter("sequence"),
            Candle: attrgetter("start_ts", "exchange_ts"),
        }

    # --- REST fallback (weights: binance.md and Binance's REST docs) ----------------------------
    # spot: bookTicker 2 per symbol, trades 25, depth 5 up to 100 levels; USD-M: 2, 5, 2 (<= 50)
    _bbo_weight = 2
    _trades_weight = 25
    _depth_levels: tuple[tuple[int, int], ...] = ((100, 5), (500, 25), (1000, 50), (5000, 250))

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """``GET <rest>/api/v3/ticker/bookTicker`` (USD-M ``/fapi/v1/ticker/bookTicker``) with
        ``symbol``: weight 2."""
        return RestPoll(
            f"{self.rest_base_url}{self._rest_prefix}/ticker/bookTicker",
            {"symbol": self.market_id(symbol)},
            self._bbo_weight,
        )

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """``{"symbol","bidPrice","bidQty","askPrice","askQty"}`` (USD-M adds ``lastUpdateId``
        and ``time`` in ms) -> :class:`RestQuote`; ``ExchangeError`` for another shape."""
        try:
            obj = json.loads(body)
            quote = RestQuote(
                str(obj["bidPrice"]),
                str(obj["bidQty"]),
                str(obj["askPrice"]),
                str(obj["askQty"]),
                int(obj["lastUpdateId"]) if "lastUpdateId" in obj else None,
                int(obj["time"]) * 1_000_000 if "time" in obj else None,
            )
        except (ValueError, TypeError, KeyError):
            raise ExchangeError(f"unreadable Binance bookTicker {body[:200]!r}") from None
        if obj.get("symbol") != self.market_id(symbol):
            raise ExchangeError(f"Binance bookTicker of {obj.get('symbol')!r}, not {symbol}")
        return quote

    def recent_trades_request(self, symbol: str, limit: int) -> RestPoll | None:
        """``GET <rest>/api/v3/trades`` (USD-M ``/fapi/v1/trades``: no API key needed, unlike
        its ``historicalTrades``) with ``symbol`` and ``limit`` (at most 1000), for ``trade``
        streams; ``aggTrades`` (no ``fromId``: the latest) for ``aggTrade`` streams."""
        path = "/trades" if self.trades_stream == "trade" else "/aggTrades"
        return RestPoll(
            f"{self.rest_base_url}{self._rest_prefix}{path}",
            {"symbol": self.market_id(symbol), "limit": str(min(limit, self.past_trades_max))},
            self._trades_weight if self.trades_stream == "trade" else self._bbo_weight,
        )

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """``GET <rest>/api/v3/depth`` (USD-M ``/fapi/v1/depth``) with the smallest valid
        ``limit`` covering ``levels``, weighted by that limit."""
        for limit, weight in self._depth_levels:
            if levels <= limit:
                return RestPoll(
                    self.rest_base_url + self._depth_path,
                    # spot takes any limit up to 5000; USD-M only its listed ones
                    {
                        "symbol": self.market_id(symbol),
                        "limit": str(levels if self._spot else limit),
                    },
                    weight,
                )
        return None

    # --- private (account) side (binance.md §7-8) -------------------------------------------------
    _account_paths: tuple[str, str] = ("", "")  # (fills, orders) REST lists
    _time_path = ""
    recv_window_ms = 5000

    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        """One subscription for all account ``channels``: Binance's user data stream carries
        orders, fills and balances (and USD-M positions) together. Symbol ``""``, route
        ``"private"``, stream ``"userData"``, channel: the first of ``channels``. Raises
        ``ValueError`` naming a channel this market has no stream for, or without
        credentials."""
        for ch in channels:
            if ch not in self.private_channels:
                raise ValueError(
                    f"{self.exchange_id} has no private channel {ch!r}; "
                    f"valid: {', '.join(self.private_channels)}"
                )
        if not channels:
            return []
        self.check_credentials()
        return [Subscription("", channels[0], self.private_route, "userData")]

    def private_subscribe_requests(self, next_id: NextId) -> list[Request]:
        """The request that confirms (spot: makes) the private stream's subscription."""
        raise NotImplementedError

    def server_time_request(self) -> tuple[str, dict[str, str]] | None:
        """``GET <rest>/api/v3/time`` (spot) or ``/fapi/v1/time`` (USD-M)."""
        return self.rest_base_url + self._time_path, dict(self.rest_params)

    def parse_server_time(self, body: bytes) -> int:
        """``{"serverTime": <ms>}`` -> ms; ``ExchangeError`` for anything else."""
        try:
            obj = json.loads(body)
            value = obj["serverTime"]
        except (ValueError, TypeError, KeyError):
            raise ExchangeError(f"unreadable Binance server time {body[:100]!r}") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ExchangeError(f"unreadable Binance server time {body[:100]!r}")
        return value

    def signed_call(self, method: str, path: str, params: dict[str, str]) -> RestCall:
        """A REST call signed the Binance way: ``params`` + ``recvWindow`` + ``timestamp``
        (:attr:`clock`), HMAC-SHA256 hex ``signature`` last, key in ``X-MBX-APIKEY``.
        Raises ``ValueError`` without credentials (or an HMAC secret)."""
        creds = self.check_credentials()
        if not creds.secret:
            raise ValueError(f"{self.exchange_id} signed REST requests need an API secret")
        query = {
            **self.rest_params,
            **params,
            "recvWindow": str(self.recv_window_ms),
            "timestamp": str(self.clock.now_ms()),
        }
        query["signature"] = signer.hmac_hex(creds.secret, signer.rest_query(query))
        return RestCall(method, self.rest_base_url + path, query, {"X-MBX-APIKEY": creds.api_key})

    def account_requests(self, what: str, since_ms: int) -> list[RestCall]:
        """Signed lists since ``since_ms``: fills ``GET /api/v3/myTrades`` (USD-M
        ``/fapi/v1/userTrades``), orders ``GET /api/v3/allOrders`` (``/fapi/v1/allOrders``),
        one per market id of the ``account_symbols`` option and of the symbols subscribed for
        market data (Binance's lists take one symbol each); with none known, orders fall back
        to ``openOrders`` (all symbols) and fills to nothing. Raises ``ValueError`` for another
        ``what`` or without credentials."""
        if what not in ("fills", "orders"):
            raise ValueError(f"unknown account list {what!r}; use 'fills' or 'orders'")
        self.check_credentials()
        path = self._account_paths[0 if what == "fills" else 1]
        since = {"startTime": str(since_ms), "limit": "1000"}
        if not self._account_ids:
            if what == "fills":
                return []
            return [self.signed_call("GET", self._rest_prefix + "/openOrders", {})]
        return [
            self.signed_call("GET", path, {"symbol": mid, **since}) for mid in self._account_ids
        ]

    async def _rest_json(
        self, http: aiohttp.ClientSession, method: str, path: str, what: str
    ) -> Any:
        """An API-key-only REST call (listen keys); Binance's auth codes (-2014, -2015, -1125,
        HTTP 401) raise ``AuthError``, other error replies ``ExchangeError``."""
        creds = self.check_credentials()
        url = self.rest_base_url + path
        async with http.request(
            method, url, params=self.rest_params, headers={"X-MBX-APIKEY": creds.api_key}
        ) as resp:
            status, body = resp.status, await resp.read()
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        if status == 200 and isinstance(obj, dict):
            return obj
        code = obj.get("code") if isinstance(obj, dict) else None
        msg = obj.get("msg") if isinstance(obj, dict) else None
        text = f"{method} {redact_url(url)} ({what}): HTTP {status}: {msg or 'unreadable reply'}"
        if status in (401, 403) or code in _AUTH_CODES:
            raise AuthError(text, code=code, reason=msg, exchange=self.exchange_id)
        raise ExchangeError(text, code=code, reason=msg)


#: Binance error codes that mean "these credentials are refused": -2014 bad API key format,
#: -2015 invalid key/IP/permissions, -1022 invalid signature, -1021 timestamp outside
#: recvWindow, -1125 listen key does not exist, -1099 not found/authenticated, -1002 unauthorized.
_AUTH_CODES = frozenset({-1002, -1021, -1022, -1099, -1125, -2014, -2015})


def _ws_api(request_id: int, method: str, params: dict[str, str | int] | None) -> bytes:
    """A WebSocket API request ``{"id":..,"method":..,"params":{..}}`` as UTF-8 JSON."""
    msg: dict[str, Any] = {"id": request_id, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg, separators=(",", ":")).encode()


def _public(subs: Sequence[Subscription]) -> list[Subscription]:
    return [s for s in subs if s.symbol or s.stream != "userData"]


def _request(method: str, request_id: int, streams: Sequence[str]) -> bytes:
    return json.dumps(
        {"method": method, "params": list(streams), "id": request_id}, separators=(",", ":")
    ).encode()


class BinanceSpot(_Binance):
    """Binance Spot market data (exchange id ``"binance"``, decoder ``"binance"``)."""

    exchange_id = "binance"
    decoder_id = "binance"
    markets = ("spot",)
    ws_base = "wss://stream.binance.com:9443"
    rest_base = "https://api.binance.com"
    _rest_prefix = "/api/v3"
    _depth_path = "/api/v3/depth"
    _info_path = "/api/v3/exchangeInfo"
    _book_streams = ("depth@100ms", "depth")
    limits = Limits(
        streams_per_connection=1024,
        streams_per_message=200,
        control_msgs_per_s=5,
        lifetime_s=24 * 3600,
        server_ping_interval_s=20,
        stale_after_s=45,
    )

    private_channels = ("orders", "fills", "balances")
    # The WebSocket API ends a session's user data stream with eventStreamTerminated (logout,
    # or the server's own end): a fresh connection logs in and subscribes again.
    rotate_on_notices = frozenset({"serverShutdown", "eventStreamTerminated"})
    ws_api_base = "wss://ws-api.binance.com:443"
    rest_weight_per_minute = 6000
    _account_paths = ("/api/v3/myTrades", "/api/v3/allOrders")
    _time_path = "/api/v3/time"

    def ws_url(self, route: str) -> str:
        """Combined-stream endpoint ``<ws>/stream`` (subscriptions are sent as JSON); the
        ``"private"`` route is the WebSocket API ``wss://ws-api.binance.com:443/ws-api/v3``
        (with a ``base_url`` or ``urls["ws"]``: ``<ws>/ws-api/v3``)."""
        if route == self.private_route:
            live = self.ws_base_url.startswith(type(self).ws_base)
            return (self.ws_api_base if live else self.ws_base_url) + "/ws-api/v3"
        return self.ws_base_url + "/stream"

    def login_requests(self, route: str, next_id: NextId) -> list[Request]:
        """On the private route with an Ed25519 key (``private_key``; binance.md §7):
        ``session.logon {apiKey, signature, timestamp}``, acked by its id (a ``status`` 200
        reply); an error reply (-1022 bad signature, -2015 bad key, -1021 stale timestamp) is
        an ``AuthError``. HMAC keys cannot log on: their subscribe request is signed instead
        (:meth:`private_subscribe_requests`). Raises ``ValueError`` without credentials."""
        if route != self.private_route:
            return []
        creds = self.check_credentials()
        if creds.private_key is None:
            return []
        params = self._signed_params(creds)
        rid = next_id()
        return [Request(_ws_api(rid, "session.logon", params), frozenset({rid}), login=True)]

    def _signed_params(self, creds: Credentials) -> dict[str, str | int]:
        params: dict[str, str | int] = {"apiKey": creds.api_key, "timestamp": self.clock.now_ms()}
        params["signature"] = signer.ws_api_signature(
            params, secret=creds.secret, private_key=creds.private_key
        )
        return params

    def private_subscribe_requests(self, next_id: NextId) -> list[Request]:
        """After a logon ``userDataStream.subscribe``; with an HMAC key
        ``userDataStream.subscribe.signature {apiKey, timestamp, signature}``. Marked as login
        requests: an error reply is an ``AuthError``."""
        creds = self.check_credentials()
        rid = next_id()
        if creds.private_key is not None:
            msg = _ws_api(rid, "userDataStream.subscribe", None)
        else:
            msg = _ws_api(rid, "userDataStream.subscribe.signature", self._signed_params(creds))
        return [Request(msg, frozenset({rid}), ("userData",), login=True)]


class BinanceUsdm(_Binance):
    """Binance USD-M futures market data (exchange id ``"binanceusdm"``, decoder ``"binanceusdm"``).

    Routes: ``"public"`` (depth, bookTicker) -> ``<ws>/public/stream``; ``"market"`` (trades,
    klines) -> ``<ws>/market/stream``; each route gets its own connection."""

    exchange_id = "binanceusdm"
    decoder_id = "binanceusdm"
    markets = ("linear",)
    ws_base = "wss://fstream.binance.com"
    rest_base = "https://fapi.binance.com"
    _rest_prefix = "/fapi/v1"
    _depth_path = "/fapi/v1/depth"
    _info_path = "/fapi/v1/exchangeInfo"
    _book_streams = ("depth@0ms", "depth@100ms", "depth@500ms", "depth")
    _spot = False
    candles_max = 1500
    rest_weight_per_minute = 2400
    _trades_weight = 5
    # USD-M depth takes only these limits
    _depth_levels = ((5, 2), (10, 2), (20, 2), (50, 2), (100, 5), (500, 10), (1000, 20))
    limits = Limits(
        streams_per_connection=200,
        streams_per_message=200,
        control_msgs_per_s=10,
        lifetime_s=24 * 3600,
        server_ping_interval_s=180,
        stale_after_s=60,
    )

    def _route(self, channel: str) -> str:
        return "public" if channel in ("book", "bbo") else "market"

    async def _listed(
        self, http: aiohttp.ClientSession, ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """USD-M exchangeInfo takes no symbol filter: one request for the whole list."""
        return await self._exchange_info(http, {}) if ids else {}

    def ws_url(self, route: str) -> str:
        """``<ws>/public/stream`` or ``<ws>/market/stream``; ``"private"``: ``<ws>/private/ws``
        (the listen key is added per connect by :meth:`connect_target`)."""
        if route == self.private_route:
            return f"{self.ws_base_url}/private/ws"
        if route not in ("public", "market"):
            raise ValueError(f"unknown binanceusdm route {route!r}")
        return f"{self.ws_base_url}/{route}/stream"

    private_channels = ("orders", "fills", "positions", "balances")
    # A listen key lives 60 min from its last keepalive: PUT every 30 min (binance.md §7).
    token_refresh_s = 30 * 60.0
    # listenKeyExpired: the stream ends; rotate onto a fresh key (make before break).
    rotate_on_notices = frozenset({"serverShutdown", "listenKeyExpired"})
    _account_paths = ("/fapi/v1/userTrades", "/fapi/v1/allOrders")
    _time_path = "/fapi/v1/time"
    _listen_key_path = "/fapi/v1/listenKey"

    async def connect_target(self, http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        """The private route: ``POST /fapi/v1/listenKey`` (``X-MBX-APIKEY`` only; an active key
        is returned again and extended), then ``<ws>/private/ws?listenKey=<key>`` (the key is
        a query parameter so every log shows it masked). Raises ``AuthError`` for a refused
        key (-2015, -2014, HTTP 401), ``ExchangeError`` for other error replies."""
        if route != self.private_route:
            return await super().connect_target(http, route)
        obj = await self._rest_json(http, "POST", self._listen_key_path, "listen key")
        key = obj.get("listenKey")
        if not isinstance(key, str) or not key:
            raise ExchangeError("POST /fapi/v1/listenKey: no listenKey in the reply")
        sep = "&" if "?" in self.ws_endpoint(route) else "?"
        return ConnectTarget(f"{self.ws_endpoint(route)}{sep}listenKey={key}", self.keepalive())

    def private_subscribe_requests(self, next_id: NextId) -> list[Request]:
        """The listen key in the URL subscribes the stream; ``LIST_SUBSCRIPTIONS`` (acked by
        its id) confirms the connection answers before it counts as subscribed."""
        rid = next_id()
        msg = json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": rid}, separators=(",", ":"))
        return [Request(msg.encode(), frozenset({rid}), ("userData",))]

    async def refresh_token(self, http: aiohttp.ClientSession, route: str) -> None:
        """``PUT /fapi/v1/listenKey``: 60 more minutes for the account's key. -1125 ("This
        listenKey does not exist.") raises ``AuthError``: the connection then rotates onto a
        fresh key from :meth:`connect_target`."""
        if route == self.private_route:
            await self._rest_json(http, "PUT", self._listen_key_path, "listen key keepalive")
