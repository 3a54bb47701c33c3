"""Bybit v5 public market data (exchange id ``bybit``; markets ``spot``, ``linear``, ``inverse``).

Every Bybit-specific fact of the Python side lives here. It follows Bybit's v5 docs
(``docs/v5/ws/connect``, ``docs/v5/websocket/public/{orderbook,trade,kline}``,
``docs/v5/market/instrument``), summarised in shared/docs/exchanges/bybit.md:

- One WebSocket endpoint per market: ``wss://stream.bybit.com/v5/public/{spot,linear,inverse}``
  (route = market name; each route gets its own connections and its own decoder market).
- Topics: ``orderbook.<depth>.<SYMBOL>`` (channel ``book``; depth 50, 200 (default) or 1000 by
  option ``book_depth``), ``orderbook.1.<SYMBOL>`` (``bbo``), ``publicTrade.<SYMBOL>``
  (``trades``), ``kline.<interval>.<SYMBOL>`` (``candles``; option ``candle_interval``, ccxt
  timeframes ``1m`` (default) ... ``1M``). Market ids are upper case, topics end with them.
- Subscribe: ``{"req_id":"<N>","op":"subscribe","args":[topics...]}`` (``unsubscribe`` alike);
  the ack ``{"success":true,"ret_msg":"","conn_id":..,"req_id":"<N>","op":"subscribe"}`` echoes
  ``req_id`` (the decoder reports a decimal ``req_id`` as the integer N: the ack key); a failure
  is ``success:false`` with ``ret_msg`` (Bybit has no numeric code: ``SubscriptionError.code`` is
  None, the message is ``ret_msg``). The snapshot may arrive before the ack.
- Limits: spot takes at most 10 args per subscribe request; the args of one public connection
  may total 21,000 characters (tickwire keeps each request within that and opens another
  connection past 500 topics, which at <= 42 characters per topic stays under it); no documented
  client message rate (tickwire sends at most 10/s); no documented connection lifetime.
- Keepalive: the client sends ``{"op":"ping"}`` every 20 s; the reply
  ``{"success":true,"ret_msg":"pong",..,"op":"ping"}`` is a ``ControlReply(kind="pong")``.
  Without ping or data the server closes the connection after 10 minutes.
- Books: a ``snapshot`` on subscribe (and at any time: reset), then deltas whose ``u`` is the
  previous + 1 (checked in the decoder). No REST sync: a book that lost sync is rebuilt by
  unsubscribing and subscribing its topic again (decoder ``recovery == "resubscribe"``).
- Instruments: ``GET /v5/market/instruments-info?category=<market>&limit=1000`` (cursor paged by
  ``nextPageCursor``); an instrument trades when ``status == "Trading"``.
- Unified symbols (ccxt): spot ``BTCUSDT`` -> ``BTC/USDT``; linear ``BTCUSDT`` ->
  ``BTC/USDT:USDT``, ``BTCPERP`` -> ``BTC/USDC:USDC``, dated ``BTC-26DEC25`` ->
  ``BTC/USDC:USDC-251226``; inverse ``BTCUSD`` -> ``BTC/USD:BTC``, ``BTCUSDH25`` ->
  ``BTC/USD:BTC-250328``. The instruments list (base/quote/settle coins, delivery time) is the
  authority where it is loaded; the rules in :meth:`Bybit.market_id` cover the usual names.

Private (account) side (bybit.md §7-§8; Bybit ``docs/v5/ws/connect``, ``docs/v5/guide``,
``docs/v5/websocket/private/*``, ``docs/v5/order/order-list``, ``docs/v5/order/execution``):

- One private endpoint for every category, ``wss://stream.bybit.com/v5/private`` (route
  ``"private"``). Channels ``orders`` -> topic ``order``, ``fills`` -> ``execution``,
  ``positions`` -> ``position``, ``balances`` -> ``wallet`` (the all-in-one topics: every
  category's data, each entry naming its ``category``, which the decoder turns into the unified
  symbol: spot ``BTCUSDT`` -> ``BTC/USDT``, linear ``BTCUSDT`` -> ``BTC/USDT:USDT``, inverse
  ``BTCUSD`` -> ``BTC/USD:BTC``).
- Auth, before subscribing on every connect: ``{"req_id":"<N>","op":"auth","args":[api_key,
  expires, signature]}`` with ``expires`` = the exchange's clock (``GET /v5/market/time``,
  measured by the connection) + :attr:`Bybit.auth_window_ms`, signature = hex HMAC-SHA256 of
  ``"GET/realtime" + expires`` (:mod:`tickwire.auth.bybit`). Bybit answers ``{"success":true,
  "ret_msg":"","op":"auth",..}`` or ``success:false`` with a ``ret_msg`` (``"Params Error"``
  for an expired request; no numeric code): an ``AuthError``, never retried in a loop.
- Keepalive as public: ``{"op":"ping"}``; the private pong is ``{"op":"pong",..}``.
- Recovery after a reconnect (:meth:`Bybit.account_requests`): ``GET /v5/execution/list``
  (fills) and ``GET /v5/order/realtime`` + ``GET /v5/order/history`` (orders), one request per
  category of :attr:`Bybit.account_categories` (option ``account_categories``), from
  ``startTime``, first page only (100 fills / 50 orders per category), signed with the headers
  ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW``, ``X-BAPI-SIGN`` (hex
  HMAC-SHA256 of timestamp + key + recv window + query string).

A simulator differs from live only by base URL: ``Bybit(base_url="http://127.0.0.1:PORT")`` gives
``ws://127.0.0.1:PORT/v5/public/linear`` and ``http://127.0.0.1:PORT/v5/market/...``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timezone
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..auth import bybit as signer
from ..exceptions import ExchangeError
from ..redact import redact_url
from . import (
    ACCOUNT_CHANNELS,
    Adapter,
    Keepalive,
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
from ._rest import candles_of, loads

if TYPE_CHECKING:
    import aiohttp

    from ..auth import Credentials

__all__ = ["Bybit"]

_COIN = re.compile(r"^[A-Z0-9]{1,30}$")
_EXPIRY = re.compile(r"^\d{6}$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH_CODES = "FGHJKMNQUVXZ"  # futures month letters, January first
_BOOK_DEPTHS = (50, 200, 1000)
# ccxt timeframe -> Bybit kline interval
_INTERVALS = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "2h": "120",
    "4h": "240",
    "6h": "360",
    "12h": "720",
    "1d": "D",
    "1w": "W",
    "1M": "M",
}
_INFO_PATH = "/v5/market/instruments-info"
_ARGS_CHARS = 21_000  # most characters of args per public connection (bybit.md §2)
PRIVATE_ROUTE = "private"
# account channel -> all-in-one private topic (bybit.md §8)
_PRIVATE_TOPICS = {
    "orders": "order",
    "fills": "execution",
    "positions": "position",
    "balances": "wallet",
}
_CATEGORIES = ("spot", "linear", "inverse", "option")
# what -> (REST paths, page size): Bybit's largest `limit` of each list
_ACCOUNT_LISTS = {
    "fills": (("/v5/execution/list",), 100),
    "orders": (("/v5/order/realtime", "/v5/order/history"), 50),
}
_TIME_PATH = "/v5/market/time"


def _expiry(delivery_ms: str) -> str:
    """Bybit ``deliveryTime`` (ms, string) -> ccxt expiry ``YYMMDD`` (UTC)."""
    return datetime.fromtimestamp(int(delivery_ms) / 1000, tz=timezone.utc).strftime("%y%m%d")


class Bybit(Adapter):
    """Bybit v5 public streams. ``options`` keys (all optional):

    - ``book_depth``: levels of the ``book`` topic, 50, 200 (default) or 1000.
    - ``candle_interval``: ccxt timeframe of ``candles``, default ``"1m"`` (``kline.1``).
    - ``account_categories``: the categories whose fills and orders are fetched over REST after
      a private reconnect, default ``("spot", "linear", "inverse")`` (add ``"option"``).
    """

    exchange_id = "bybit"
    decoder_id = "bybit"
    markets = ("spot", "linear", "inverse")
    channels = ("book", "trades", "bbo", "candles")
    option_keys = frozenset({"book_depth", "candle_interval", "account_categories"})
    private_channels = ACCOUNT_CHANNELS
    #: ms added to the exchange's clock for the ``auth`` op's ``expires`` (Bybit users report
    #: 1 s failing on slow links; 10 s is what its SDKs moved to)
    auth_window_ms = 10_000
    #: ``X-BAPI-RECV-WINDOW`` of signed REST requests (ms; Bybit's default)
    recv_window_ms = signer.DEFAULT_RECV_WINDOW_MS
    ws_base = "wss://stream.bybit.com"
    rest_base = "https://api.bybit.com"
    limits = Limits(
        streams_per_connection=500,
        streams_per_message=10,
        control_msgs_per_s=10,
        lifetime_s=24 * 3600,
        server_ping_interval_s=20,
        stale_after_s=60,
        max_request_bytes=_ARGS_CHARS,
    )
    ping_interval_s = 20.0

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options, credentials=credentials)
        depth = self.options.get("book_depth", 200)
        if depth not in _BOOK_DEPTHS:
            raise ValueError(
                f"book_depth {depth!r} not valid for bybit; choose one of {list(_BOOK_DEPTHS)}"
            )
        self.book_depth: int = depth
        interval = self.options.get("candle_interval", "1m")
        if interval not in _INTERVALS:
            raise ValueError(
                f"candle_interval {interval!r} invalid; Bybit intervals: {', '.join(_INTERVALS)}"
            )
        self.candle_interval: str = interval
        categories = self.options.get("account_categories", ("spot", "linear", "inverse"))
        if isinstance(categories, str) or not all(c in _CATEGORIES for c in categories):
            raise ValueError(
                f"account_categories {categories!r} invalid; a list of {', '.join(_CATEGORIES)}"
            )
        self.account_categories: tuple[str, ...] = tuple(categories)

    # --- symbols ------------------------------------------------------------------------------
    def _parts(self, symbol: str) -> tuple[str, str, str, str]:
        """``symbol`` -> (base, quote, settle, expiry); settle/expiry ``""`` when absent.
        Raises ``ValueError`` naming ``symbol`` if it is not a unified symbol."""
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'BTC/USDT', got {symbol!r}")
        base, sep, rest = symbol.partition("/")
        quote, _, settle_expiry = rest.partition(":")
        settle, _, expiry = settle_expiry.partition("-")
        ok = (
            sep
            and _COIN.match(base)
            and _COIN.match(quote)
            and (not settle_expiry or _COIN.match(settle))
            and (not expiry or _EXPIRY.match(expiry))
        )
        if not ok:
            upper = symbol.upper()
            hint = f", did you mean {upper!r}?" if upper != symbol else ""
            raise ValueError(
                f"unknown symbol {symbol!r} for bybit: use the unified form like 'BTC/USDT' "
                f"(spot), 'BTC/USDT:USDT' (linear) or 'BTC/USD:BTC' (inverse){hint}"
            )
        return base, quote, settle, expiry

    def market_of(self, symbol: str) -> str:
        """``"BTC/USDT"`` -> ``"spot"``; settled in the quote (``"BTC/USDT:USDT"``) ->
        ``"linear"``; settled in the base (``"BTC/USD:BTC"``) -> ``"inverse"``. Raises
        ``ValueError`` naming the symbol otherwise."""
        base, quote, settle, _ = self._parts(symbol)
        if not settle:
            return "spot"
        if settle == quote and quote in ("USDT", "USDC"):
            return "linear"
        if settle == base and quote == "USD":
            return "inverse"
        raise ValueError(
            f"unknown symbol {symbol!r} for bybit: contracts settle in their quote (linear, "
            f"USDT or USDC) or in their base (inverse, quoted in USD)"
        )

    def market_id(self, symbol: str) -> str:
        """Unified symbol -> Bybit market id on its market's endpoint: ``"BTC/USDT"`` ->
        ``"BTCUSDT"``, ``"BTC/USDT:USDT"`` -> ``"BTCUSDT"``, ``"BTC/USDC:USDC"`` ->
        ``"BTCPERP"``, ``"BTC/USDC:USDC-251226"`` -> ``"BTC-26DEC25"``,
        ``"BTC/USDT:USDT-251226"`` -> ``"BTCUSDT-26DEC25"``, ``"BTC/USD:BTC"`` -> ``"BTCUSD"``,
        ``"BTC/USD:BTC-250328"`` -> ``"BTCUSDH25"``. Raises ``ValueError`` naming the symbol."""
        market = self.market_of(symbol)
        base, quote, _, expiry = self._parts(symbol)
        if market == "spot":
            return base + quote
        if not expiry:
            if market == "linear":
                return base + ("PERP" if quote == "USDC" else quote)
            return base + "USD"
        yy, mm, dd = expiry[:2], int(expiry[2:4]), int(expiry[4:])
        if not (1 <= mm <= 12 and 1 <= dd <= 31):
            raise ValueError(f"unknown symbol {symbol!r} for bybit: expiry must be YYMMDD")
        if market == "linear":
            ddmmmyy = f"{dd}{_MONTHS[mm - 1]}{yy}"
            return f"{base}-{ddmmmyy}" if quote == "USDC" else f"{base}USDT-{ddmmmyy}"
        return f"{base}USD{_MONTH_CODES[mm - 1]}{yy}"

    # --- instruments ----------------------------------------------------------------------------
    async def fetch_instruments(
        self, http: aiohttp.ClientSession, market: str
    ) -> list[dict[str, Any]]:
        """``GET <rest>/v5/market/instruments-info?category=<market>&limit=1000``, following
        ``nextPageCursor``, parsed by :func:`parse_instruments`. Raises ``ExchangeError`` with
        Bybit's ``retCode``/``retMsg`` on an error reply or an unreadable body, and whatever
        aiohttp raises."""
        url = self.rest_base_url + _INFO_PATH
        out: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(100):  # a bound: Bybit lists a few thousand instruments per category
            params = {**self.rest_params, "category": market, "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            async with http.get(url, params=params) as resp:
                status, body = resp.status, await resp.read()
            try:
                obj = json.loads(body)
            except ValueError:
                obj = None
            code = obj.get("retCode") if isinstance(obj, dict) else None
            if status != 200 or code != 0:
                msg = (
                    obj.get("retMsg")
                    if isinstance(obj, dict)
                    else body[:200].decode(errors="replace")
                )
                raise ExchangeError(
                    f"GET {redact_url(url)}: HTTP {status}: {msg}", code=code, reason=msg
                )
            try:
                out.extend(parse_instruments(market, obj["result"]["list"]))
                cursor = obj["result"].get("nextPageCursor") or ""
            except (KeyError, TypeError, AttributeError) as exc:
                raise ExchangeError(
                    f"GET {redact_url(url)}: unexpected reply {body[:200]!r}"
                ) from exc
            if not cursor:
                break
        return out

    # --- streams ------------------------------------------------------------------------------
    def _topic(self, channel: str, market_id: str) -> str:
        if channel == "book":
            return f"orderbook.{self.book_depth}.{market_id}"
        if channel == "bbo":
            return f"orderbook.1.{market_id}"
        if channel == "trades":
            return f"publicTrade.{market_id}"
        return f"kline.{_INTERVALS[self.candle_interval]}.{market_id}"  # candles

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel): route = the symbol's market, stream =
        the Bybit topic (``"orderbook.200.BTCUSDT"``). Raises ``ValueError`` naming the first
        bad symbol or channel."""
        for ch in channels:
            self.check_channel(ch)
        out: list[Subscription] = []
        for sym in symbols:
            market, mid = self.market_of(sym), self.market_id(sym)
            out.extend(Subscription(sym, ch, market, self._topic(ch, mid)) for ch in channels)
        return out

    def ws_url(self, route: str) -> str:
        """``<ws>/v5/public/<route>`` for a market name, ``<ws>/v5/private`` for the private
        route (``ValueError`` otherwise)."""
        if route == PRIVATE_ROUTE:
            return f"{self.ws_base_url}/v5/private"
        if route not in self.markets:
            raise ValueError(f"unknown bybit market {route!r}; known: {', '.join(self.markets)}")
        return f"{self.ws_base_url}/v5/public/{route}"

    def _requests(self, op: str, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        topics = [s.stream for s in subs]
        # Spot: 10 args per request (bybit.md §2); elsewhere no count cap is documented, the
        # same 10 keeps requests small. Length: the args' characters plus quotes and commas.
        out = []
        for chunk in batches(
            topics,
            self.limits.streams_per_message,
            self.limits.max_request_bytes,
            size=lambda t: len(t) + 3,
        ):
            rid = next_id()
            payload = json.dumps(
                {"req_id": str(rid), "op": op, "args": chunk}, separators=(",", ":")
            ).encode()
            out.append(Request(payload, frozenset({rid}), tuple(chunk)))
        return out

    def subscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``{"req_id":"<N>","op":"subscribe","args":[...]}`` of at most 10 topics each, done
        when the ack echoing ``req_id`` N arrives."""
        return self._requests("subscribe", subs, next_id)

    def unsubscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``{"req_id":"<N>","op":"unsubscribe","args":[...]}``, acknowledged like subscribe."""
        return self._requests("unsubscribe", subs, next_id)

    def keepalive(self) -> Keepalive:
        """``{"op":"ping"}`` every 20 s (bybit.md §4)."""
        return Keepalive(self.ping_interval_s, b'{"op":"ping"}')

    def snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """Bybit books sync from the snapshot the WebSocket sends on subscribe; there is no REST
        snapshot in tickwire's Bybit path. Raises ``NotImplementedError`` naming the symbol."""
        raise NotImplementedError(
            f"bybit books resubscribe to resync ({symbol!r}); no REST snapshot"
        )

    # --- private (account) side ------------------------------------------------------------------
    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        """One account-wide :class:`Subscription` per channel on route ``"private"``: stream
        ``order``, ``execution``, ``position`` or ``wallet``. Raises ``ValueError`` naming a
        channel Bybit does not serve privately."""
        out = []
        for ch in channels:
            if ch not in _PRIVATE_TOPICS:
                raise ValueError(
                    f"channel {ch!r} is not a bybit private channel; "
                    f"private: {', '.join(_PRIVATE_TOPICS)}"
                )
            out.append(Subscription("", ch, PRIVATE_ROUTE, _PRIVATE_TOPICS[ch]))
        return out

    def login_requests(self, route: str, next_id: NextId) -> list[Request]:
        """On the private route, the ``auth`` op signed now (exchange clock +
        :attr:`auth_window_ms`), acknowledged by its ``req_id``; nothing on public routes.
        Raises ``ValueError`` without credentials."""
        if route != PRIVATE_ROUTE:
            return []
        creds = self.check_credentials()
        rid = next_id()
        expires = self.clock.now_ms() + self.auth_window_ms
        op = signer.ws_auth_payload(str(rid), creds.api_key, creds.secret, expires)
        payload = json.dumps(op, separators=(",", ":")).encode()
        return [Request(payload, frozenset({rid}), (), login=True)]

    def server_time_request(self) -> tuple[str, dict[str, str]]:
        """``GET <rest>/v5/market/time`` (public)."""
        return self.rest_base_url + _TIME_PATH, dict(self.rest_params)

    def parse_server_time(self, body: bytes) -> int:
        """The server time in ms since the epoch from ``/v5/market/time``: ``result.timeNano`` // 10**6 (else the
        envelope's ``time``). Raises ``ExchangeError`` for an error reply or an unreadable
        body."""
        try:
            obj = json.loads(body)
            if obj.get("retCode") != 0:
                raise ExchangeError(
                    f"bybit server time: {obj.get('retMsg')}",
                    code=obj.get("retCode"),
                    reason=obj.get("retMsg"),
                )
            nano = (obj.get("result") or {}).get("timeNano")
            return int(nano) // 1_000_000 if nano else int(obj["time"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ExchangeError(f"bybit server time: unexpected reply {body[:200]!r}") from exc

    def account_requests(self, what: str, since_ms: int) -> list[RestCall]:
        """Signed GETs of ``what`` (``"fills"``: ``/v5/execution/list``; ``"orders"``:
        ``/v5/order/realtime`` then ``/v5/order/history``) for each of
        :attr:`account_categories`, ``startTime=since_ms``, Bybit's largest page
        (:meth:`account_next_page` follows the cursor to the others). Each is
        signed at the exchange clock's time when built (call just before sending). Raises
        ``ValueError`` for another ``what`` or without credentials."""
        if what not in _ACCOUNT_LISTS:
            raise ValueError(f"unknown account list {what!r}; known: {', '.join(_ACCOUNT_LISTS)}")
        creds = self.check_credentials()
        paths, limit = _ACCOUNT_LISTS[what]
        calls = []
        for category in self.account_categories:
            for path in paths:
                params = {**self.rest_params, "category": category, "limit": str(limit)}
                if path != "/v5/order/realtime":  # open orders: all of them, whatever their age
                    params["startTime"] = str(since_ms)
                headers = signer.rest_headers(
                    creds.api_key,
                    creds.secret,
                    self.clock.now_ms(),
                    urlencode(params),
                    self.recv_window_ms,
                )
                calls.append(RestCall("GET", self.rest_base_url + path, params, headers))
        return calls

    def account_next_page(self, call: RestCall, body: bytes) -> RestCall | None:
        """The next page of an ``account_requests`` list: ``call`` again with ``cursor`` =
        the body's ``result.nextPageCursor``, signed now; None when the cursor is empty (the
        last page: Bybit pages within the ``startTime`` filter, so the cursor ends at the
        ``since`` boundary). Raises ``ValueError`` for a body without ``result``."""
        try:
            result = json.loads(body)["result"]
            cursor = result.get("nextPageCursor") or ""
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a Bybit list without result.nextPageCursor ({exc!r})") from None
        if not isinstance(cursor, str) or not cursor or not result.get("list"):
            return None
        creds = self.check_credentials()
        params = {**call.params, "cursor": cursor}
        headers = signer.rest_headers(
            creds.api_key, creds.secret, self.clock.now_ms(), urlencode(params), self.recv_window_ms
        )
        return RestCall(call.method, call.url, params, headers)

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Only candles are ordered across connections, by (start time, event time): trade ids
        are UUIDs on derivatives, and a book's ``u`` restarts at 1 when Bybit's service
        restarts, so books, BBOs and trades are taken from the primary connection while two
        overlap."""
        from .._core import Candle

        return {Candle: attrgetter("start_ts", "exchange_ts")}

    # --- public trades over REST (trade recovery after a reconnect, REST fallback) ----------
    #: ``GET /v5/market/recent-trade`` returns at most 1000 trades (spot: 60)
    past_trades_max = 1000

    def recent_trades_request(self, symbol: str, limit: int) -> RestPoll | None:
        """``GET <rest>/v5/market/recent-trade?category=&symbol=&limit=`` (public, the latest
        trades newest first: at most 60 on spot, 1000 on derivatives; weight 1 here), read by
        ``Decoder.apply_trades``. Its ``execId`` is the stream's ``i`` (a UUID on derivatives):
        recovered by time and id."""
        market = self.market_of(symbol)
        most = 60 if market == "spot" else self.past_trades_max
        return RestPoll(
            self.rest_base_url + "/v5/market/recent-trade",
            {
                "category": market,
                "symbol": self.market_id(symbol),
                "limit": str(min(limit, most)),
            },
            1,
        )

    # --- REST fallback and candle backfill (bbo, depth, candles) ---------------------------------
    # Bybit's v5 market endpoints: GET /v5/market/tickers (best bid/ask on linear and inverse
    # only: spot tickers carry none, so spot polls the 1-level order book instead),
    # /v5/market/orderbook (limit 1-200 spot, 1-500 linear/inverse), /v5/market/kline (limit
    # 1-1000, newest first). bybit.md gives no REST limit; Bybit's rate-limit page puts every
    # public HTTP request at 600 per 5 s per IP, each weight 1: 7200 per minute assumed.
    rest_weight_per_minute = 7200
    candles_max = 1000

    def _market_get(self, path: str, symbol: str, **params: str) -> RestPoll:
        return RestPoll(
            f"{self.rest_base_url}/v5/market/{path}",
            {"category": self.market_of(symbol), "symbol": self.market_id(symbol), **params},
            1,
        )

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """``GET /v5/market/tickers`` (linear, inverse) or ``/v5/market/orderbook`` with
        ``limit=1`` (spot), weight 1."""
        if self.market_of(symbol) == "spot":
            return self._market_get("orderbook", symbol, limit="1")
        return self._market_get("tickers", symbol)

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """``result.list[0]``'s ``bid1Price/bid1Size/ask1Price/ask1Size`` (tickers; top-level
        ``time`` ms as the time) or ``result.b[0]/a[0]`` (1-level book; its ``u`` the
        sequence, ``ts`` the time). ``ExchangeError`` for a ``retCode`` other than 0, another
        symbol or another shape."""
        result, ms = self._result(body, "ticker")
        mid = self.market_id(symbol)
        try:
            if "list" in result:
                (t,) = result["list"]
                got = t["symbol"]
                quote = RestQuote(
                    str(t["bid1Price"]),
                    str(t["bid1Size"]),
                    str(t["ask1Price"]),
                    str(t["ask1Size"]),
                    None,
                    int(ms) * 1_000_000 if ms is not None else None,
                )
            else:
                got = result["s"]
                (bp, bq), (ap, aq) = result["b"][0], result["a"][0]
                quote = RestQuote(bp, bq, ap, aq, int(result["u"]), int(result["ts"]) * 1_000_000)
        except (ValueError, TypeError, KeyError, IndexError):
            raise ExchangeError(f"unreadable Bybit ticker {body[:200]!r}") from None
        if got != mid:
            raise ExchangeError(f"Bybit ticker of {got!r}, not {symbol}")
        return quote

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """``GET /v5/market/orderbook`` with ``limit`` = ``levels`` (at most 200 spot, 500
        linear/inverse), weight 1; read by the decoder's ``parse_snapshot`` (``u`` the
        sequence)."""
        most = 200 if self.market_of(symbol) == "spot" else 500
        return self._market_get("orderbook", symbol, limit=str(max(1, min(levels, most))))

    def candles_request(self, symbol: str, limit: int) -> tuple[str, dict[str, str]] | None:
        """``GET /v5/market/kline`` with ``category``, ``symbol``, ``interval`` (the
        ``candle_interval`` option as Bybit names it) and ``limit`` (at most 1000)."""
        poll = self._market_get(
            "kline",
            symbol,
            interval=_INTERVALS[self.candle_interval],
            limit=str(max(1, min(limit, self.candles_max))),
        )
        return poll.url, poll.params

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """``result.list`` rows ``[startTime ms, open, high, low, close, volume, turnover]``
        (strings, newest first), oldest first; the newest one's ``closed`` is None (Bybit lists
        the open candle first). ``ExchangeError`` for a ``retCode`` other than 0 or another
        shape."""
        result, _ = self._result(body, "kline")
        rows = result.get("list")
        if not isinstance(rows, list):
            raise ExchangeError(f"unreadable Bybit kline reply {body[:200]!r}")
        return candles_of(rows, lambda r: r[:6], self.candle_interval, "bybit", newest_first=True)

    @staticmethod
    def _result(body: bytes, what: str) -> tuple[dict[str, Any], Any]:
        """The ``result`` object of a v5 reply and its top-level ``time`` (ms, None where
        absent); ``ExchangeError`` for ``retCode`` != 0 or another shape."""
        obj = loads(body, "bybit", what)
        if not isinstance(obj, dict) or not isinstance(obj.get("result"), dict):
            raise ExchangeError(f"unreadable Bybit {what} reply {body[:200]!r}")
        if obj.get("retCode") != 0:
            code, msg = obj.get("retCode"), obj.get("retMsg")
            raise ExchangeError(f"bybit {what}: {code} {msg}", code=code, reason=msg)
        return obj["result"], obj.get("time")


def _unified(market: str, e: dict[str, Any]) -> str:
    """The ccxt symbol of one instruments-info entry (``KeyError``/``ValueError`` when a field it
    needs is missing or malformed)."""
    base, quote = e["baseCoin"], e["quoteCoin"]
    if market == "spot":
        return f"{base}/{quote}"
    settle = e.get("settleCoin") or (quote if market == "linear" else base)
    contract = e.get("contractType", "")
    delivery = str(e.get("deliveryTime") or "0")
    if contract.endswith("Futures") and delivery != "0":
        return f"{base}/{quote}:{settle}-{_expiry(delivery)}"
    return f"{base}/{quote}:{settle}"


def parse_instruments(market: str, entries: Any) -> list[dict[str, Any]]:
    """Bybit ``result.list`` of ``/v5/market/instruments-info`` for ``market`` -> instrument
    dicts ``{"market_id", "symbol" (ccxt), "tick_size" (``priceFilter.tickSize``), "lot_size"
    (``lotSizeFilter.qtyStep``, spot ``basePrecision``), "active" (``status == "Trading"``)}``.
    Entries without a ``symbol``/``baseCoin``/``quoteCoin`` are skipped. Raises ``TypeError``
    if ``entries`` is not a list."""
    if not isinstance(entries, list):
        raise TypeError(f"instruments list expected, got {type(entries).__name__}")
    out = []
    for e in entries:
        if not isinstance(e, dict) or not all(
            isinstance(e.get(k), str) and e.get(k) for k in ("symbol", "baseCoin", "quoteCoin")
        ):
            continue
        try:
            symbol = _unified(market, e)
        except (KeyError, ValueError, OverflowError, OSError):
            continue
        price = e.get("priceFilter")
        price = price if isinstance(price, dict) else {}
        lot = e.get("lotSizeFilter")
        lot = lot if isinstance(lot, dict) else {}
        out.append(
            {
                "market_id": e["symbol"],
                "symbol": symbol,
                "tick_size": price.get("tickSize") or None,
                "lot_size": lot.get("qtyStep") or lot.get("basePrecision") or None,
                "active": e.get("status") == "Trading",
            }
        )
    return out
