"""Gate (Gate.io) API v4 public market data (exchange id ``gateio``; markets ``spot``, ``linear``).

Every Gate-specific fact of the Python side lives here. It follows Gate's "Spot WebSocket v4"
and "Futures WebSocket v4" docs and the REST v4 docs (``/spot/order_book``,
``/spot/currency_pairs``, ``/futures/{settle}/order_book``, ``/futures/{settle}/contracts``),
summarised in shared/docs/exchanges/gateio.md:

- Endpoints: spot ``wss://api.gateio.ws/ws/v4/``, USDT-settled perpetuals
  ``wss://fx-ws.gateio.ws/v4/ws/usdt`` (route = market name; each route gets its own
  connections and decoder market). REST ``https://api.gateio.ws/api/v4``.
- Channels (``spot.`` / ``futures.`` prefix): ``order_book_update`` (``book``; payload
  ``[pair, "100ms"]`` on spot, ``[contract, "100ms", "100"]`` on futures, option
  ``book_interval``), ``book_ticker`` (``bbo``; payload ``[pairs...]``), ``trades``
  (``trades``; payload ``[pairs...]``), ``candlesticks`` (``candles``; payload
  ``[interval, pair]``, option ``candle_interval``). A subscription's ``stream`` is
  ``"<channel>:<market id>"`` (``"spot.order_book_update:BTC_USDT"``).
- Requests: ``{"time":<s>,"id":N,"channel":..,"event":"subscribe"|"unsubscribe","payload":[..]}``;
  the reply echoes ``id``: ``error`` null is the ack (the ack key is N), ``error:{code,message}``
  a ``SubscriptionError`` with Gate's code (1 bad body, 2 bad argument, 3 server error, 4 auth).
  ``time`` must be within 60 s of the server's clock.
- Keepalive: the server sends WebSocket PINGs and the session answers them (gateio.md §4);
  besides, each connection sends Gate's application ping ``{"time":<s>,"channel":"spot.ping"}``
  (``futures.ping`` on futures) every 10 s, as Gate's SDKs do (it also resets the server's idle
  timer); ``time`` is the second of each send (Gate wants request times within 60 s of its
  clock). The reply ``spot.pong``/``futures.pong`` decodes as ``ControlReply(kind="pong")``.
- Limits: 300 connections per IP; no documented cap on topics per connection or per request
  (tickwire puts at most 100 pairs in one request and 200 topics on one connection) and no
  rate limit on subscribe requests (tickwire sends at most 10/s).
- Books: REST ``GET /spot/order_book?currency_pair=X&limit=100&with_id=true`` (futures
  ``/futures/usdt/order_book?contract=X&limit=100&with_id=true``; ``limit`` equal to the
  subscribed level) gives ``id``; messages with ``U <= id + 1 <= u`` bridge it, a later ``U``
  past the book's id + 1 is a gap and the book is rebuilt the same way (decoder
  ``recovery == "rest"``). Futures sizes are contract counts (numbers); the contract size
  (``quanto_multiplier``) is in the instrument dicts as ``contract_size``.
- Instruments: spot ``GET /spot/currency_pairs`` (``precision`` / ``amount_precision`` decimals,
  tradable when ``trade_status == "tradable"``); futures ``GET /futures/usdt/contracts``
  (``order_price_round`` tick, lot 1 contract, ``quanto_multiplier``, not trading when
  ``in_delisting``).
- Unified symbols (ccxt): spot ``BTC_USDT`` <-> ``BTC/USDT``; futures ``BTC_USDT`` <->
  ``BTC/USDT:USDT``.

A simulator differs from live only by base URL: ``Gateio(base_url="http://127.0.0.1:PORT")``
gives ``ws://127.0.0.1:PORT/ws/v4/`` (spot), ``ws://127.0.0.1:PORT/v4/ws/usdt`` (futures) and
``http://127.0.0.1:PORT/api/v4/...``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..exceptions import ExchangeError
from ..redact import redact_url
from . import (
    Adapter,
    ConnectTarget,
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

__all__ = ["Gateio", "parse_contracts", "parse_currency_pairs"]

_COIN = re.compile(r"^[A-Z0-9]{1,30}$")
_CANDLE_INTERVALS = ("10s", "1m", "5m", "15m", "30m", "1h", "4h", "8h", "1d", "7d", "30d")
_BOOK_INTERVALS = ("100ms", "20ms")
_SNAPSHOT_LIMIT = 100  # levels of the 100ms order_book_update stream (gateio.md §5)
_PREFIX = {"spot": "spot", "linear": "futures"}
_CHANNEL = {
    "book": "order_book_update",
    "bbo": "book_ticker",
    "trades": "trades",
    "candles": "candlesticks",
}


class Gateio(Adapter):
    """Gate v4 public streams. ``options`` keys (all optional):

    - ``book_interval``: ``order_book_update`` frequency, ``"100ms"`` (default, 100 levels) or
      ``"20ms"`` (20 levels; the REST snapshot then asks for 20 levels).
    - ``candle_interval``: candlestick interval, default ``"1m"`` (Gate's: 10s, 1m, 5m, 15m,
      30m, 1h, 4h, 8h, 1d, 7d, 30d).
    """

    exchange_id = "gateio"
    decoder_id = "gateio"
    markets = ("spot", "linear")
    channels = ("book", "bbo", "trades", "candles")
    option_keys = frozenset({"book_interval", "candle_interval"})
    ws_base = "wss://api.gateio.ws"
    #: the futures host, used while the WebSocket base is the live one
    futures_ws_base = "wss://fx-ws.gateio.ws"
    rest_base = "https://api.gateio.ws"
    limits = Limits(
        streams_per_connection=200,
        streams_per_message=100,
        control_msgs_per_s=10,
        lifetime_s=24 * 3600,
        server_ping_interval_s=30,
        stale_after_s=60,
    )

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options)
        book = self.option_choice("book_interval", "100ms", _BOOK_INTERVALS)
        self.book_interval: str = book
        self.book_levels = 100 if book == "100ms" else 20
        interval = self.options.get("candle_interval", "1m")
        if interval not in _CANDLE_INTERVALS:
            raise ValueError(
                f"candle_interval {interval!r} invalid; Gate intervals: {', '.join(_CANDLE_INTERVALS)}"
            )
        self.candle_interval: str = interval

    # --- symbols ------------------------------------------------------------------------------
    def _parts(self, symbol: str) -> tuple[str, str, str]:
        """``symbol`` -> (base, quote, settle or ``""``); ``ValueError`` naming it otherwise."""
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'BTC/USDT', got {symbol!r}")
        base, sep, rest = symbol.partition("/")
        quote, colon, settle = rest.partition(":")
        ok = sep and _COIN.match(base) and _COIN.match(quote) and (not colon or _COIN.match(settle))
        if not ok:
            upper = symbol.upper()
            hint = f", did you mean {upper!r}?" if upper != symbol else ""
            raise ValueError(
                f"unknown symbol {symbol!r} for gateio: use the unified form like 'BTC/USDT' "
                f"(spot) or 'BTC/USDT:USDT' (USDT perpetual){hint}"
            )
        return base, quote, settle

    def market_of(self, symbol: str) -> str:
        """``"BTC/USDT"`` -> ``"spot"``, ``"BTC/USDT:USDT"`` -> ``"linear"``; ``ValueError``
        naming the symbol for anything else (Gate's BTC-settled and delivery contracts are not
        served by tickwire)."""
        _, quote, settle = self._parts(symbol)
        if not settle:
            return "spot"
        if settle == quote == "USDT":
            return "linear"
        raise ValueError(
            f"unknown symbol {symbol!r} for gateio: only USDT-settled perpetuals "
            f"(BASE/USDT:USDT) are served besides spot"
        )

    def market_id(self, symbol: str) -> str:
        """``"BTC/USDT"`` -> ``"BTC_USDT"``; ``"BTC/USDT:USDT"`` -> ``"BTC_USDT"`` (on the
        futures endpoint). Raises ``ValueError`` naming the symbol."""
        self.market_of(symbol)
        base, quote, _ = self._parts(symbol)
        return f"{base}_{quote}"

    # --- instruments ----------------------------------------------------------------------------
    async def fetch_instruments(
        self, http: aiohttp.ClientSession, market: str
    ) -> list[dict[str, Any]]:
        """Spot ``GET <rest>/api/v4/spot/currency_pairs`` (:func:`parse_currency_pairs`),
        linear ``GET <rest>/api/v4/futures/usdt/contracts`` (:func:`parse_contracts`). Raises
        ``ExchangeError`` with Gate's ``label``/``message`` on an error reply or an unreadable
        body, and whatever aiohttp raises."""
        path = (
            "/api/v4/spot/currency_pairs" if market == "spot" else "/api/v4/futures/usdt/contracts"
        )
        url = self.rest_base_url + path
        async with http.get(url, params=dict(self.rest_params)) as resp:
            status, body = resp.status, await resp.read()
        try:
            obj = json.loads(body)
        except ValueError:
            obj = None
        if status != 200 or not isinstance(obj, list):
            label = obj.get("label") if isinstance(obj, dict) else None
            msg = (
                obj.get("message") if isinstance(obj, dict) else body[:200].decode(errors="replace")
            )
            raise ExchangeError(f"GET {redact_url(url)}: HTTP {status}: {label}: {msg}", reason=msg)
        return parse_currency_pairs(obj) if market == "spot" else parse_contracts(obj)

    # --- streams ------------------------------------------------------------------------------
    def _channel(self, market: str, channel: str) -> str:
        return f"{_PREFIX[market]}.{_CHANNEL[channel]}"

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel): route = the symbol's market, stream =
        ``"<gate channel>:<market id>"``. Raises ``ValueError`` naming the first bad symbol or
        channel."""
        for ch in channels:
            self.check_channel(ch)
        out: list[Subscription] = []
        for sym in symbols:
            market, mid = self.market_of(sym), self.market_id(sym)
            out.extend(
                Subscription(sym, ch, market, f"{self._channel(market, ch)}:{mid}")
                for ch in channels
            )
        return out

    def ws_url(self, route: str) -> str:
        """Spot ``<ws>/ws/v4/``; linear ``<futures ws>/v4/ws/usdt`` (the futures host while the
        base is the live one, else the given base). ``ValueError`` for another route."""
        if route == "spot":
            return f"{self.ws_base_url}/ws/v4/"
        if route == "linear":
            base = self.futures_ws_base if self.ws_base_url == self.ws_base else self.ws_base_url
            return f"{base}/v4/ws/usdt"
        raise ValueError(f"unknown gateio market {route!r}; known: {', '.join(self.markets)}")

    def _payload(self, channel: str, market_ids: Sequence[str]) -> list[str]:
        name = channel.partition(".")[2]
        if name == "order_book_update":
            (mid,) = market_ids
            if channel.startswith("futures."):
                return [mid, self.book_interval, str(self.book_levels)]
            return [mid, self.book_interval]
        if name == "candlesticks":
            (mid,) = market_ids
            return [self.candle_interval, mid]
        return list(market_ids)

    def _requests(self, event: str, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        by_channel: dict[str, list[Subscription]] = {}
        for s in subs:
            by_channel.setdefault(s.stream.partition(":")[0], []).append(s)
        out: list[Request] = []
        for channel, group in by_channel.items():
            name = channel.partition(".")[2]
            # Books and candles take one pair per request; the others a list of pairs.
            per = (
                1
                if name in ("order_book_update", "candlesticks")
                else self.limits.streams_per_message
            )
            for chunk in batches(group, per):
                rid = next_id()
                payload = {
                    "time": int(time.time()),
                    "id": rid,
                    "channel": channel,
                    "event": event,
                    "payload": self._payload(channel, [s.stream.partition(":")[2] for s in chunk]),
                }
                body = json.dumps(payload, separators=(",", ":")).encode()
                out.append(Request(body, frozenset({rid}), tuple(s.stream for s in chunk)))
        return out

    def subscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``{"time","id":N,"channel","event":"subscribe","payload":[..]}``: one per book or
        candle stream, up to 100 pairs per ``trades``/``book_ticker`` request; done when the
        reply echoing ``id`` N arrives with ``error`` null."""
        return self._requests("subscribe", subs, next_id)

    def unsubscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """The same requests with ``"event":"unsubscribe"``, acknowledged alike."""
        return self._requests("unsubscribe", subs, next_id)

    ping_interval_s = 10.0

    def keepalive_for(self, route: str) -> Keepalive:
        """Gate's application ping of ``route``'s endpoint: ``{"time":<now s>,"channel":
        "spot.ping"}`` (``futures.ping`` on ``linear``) every 10 s. ``ValueError`` for another
        route."""
        if route not in _PREFIX:
            raise ValueError(f"unknown gateio market {route!r}; known: {', '.join(self.markets)}")
        channel = f"{_PREFIX[route]}.ping"

        def ping() -> bytes:  # stamped at each send: Gate wants request times within 60 s
            ping = {"time": int(time.time()), "channel": channel}
            return json.dumps(ping, separators=(",", ":")).encode()

        return Keepalive(self.ping_interval_s, ping)

    async def connect_target(self, http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        """:meth:`ws_endpoint` of ``route`` with its market's ping (:meth:`keepalive_for`).
        Asks nothing over ``http``."""
        del http
        return ConnectTarget(self.ws_endpoint(route), self.keepalive_for(route))

    def snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """Spot ``GET <rest>/api/v4/spot/order_book?currency_pair=X&limit=L&with_id=true``;
        linear ``GET <rest>/api/v4/futures/usdt/order_book?contract=X&limit=L&with_id=true``;
        ``L`` is the subscribed level count (100, or 20 with ``book_interval="20ms"``)."""
        market, mid = self.market_of(symbol), self.market_id(symbol)
        limit = str(self.book_levels)
        if market == "spot":
            params = {"currency_pair": mid, "limit": limit, "with_id": "true"}
            return self.rest_base_url + "/api/v4/spot/order_book", params
        params = {"contract": mid, "limit": limit, "with_id": "true"}
        return self.rest_base_url + "/api/v4/futures/usdt/order_book", params

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Gate's ids grow per stream: the book id ``u`` of book updates and book tickers, and
        trade ids. Candles are left out: Gate pushes a candle again as it changes, and the
        event time of a spot push is whole seconds, so no key of theirs grows strictly (they
        come from the primary connection while two overlap)."""
        from .._core import BBO, BookUpdate, Trade

        return {
            BookUpdate: attrgetter("sequence"),
            BBO: attrgetter("sequence"),
            Trade: attrgetter("trade_id"),
        }

    # --- REST fallback and candle backfill (bbo, depth, candles) ---------------------------------
    # Gate v4 public endpoints: spot /api/v4/spot/order_book and /spot/candlesticks, USDT
    # perpetuals /api/v4/futures/usdt/order_book and /futures/usdt/candlesticks. The BBO is the
    # 1-level order book (``with_id``: its book id is the quote's sequence; Gate's tickers carry
    # no sizes). gateio.md gives no REST limit; Gate's API docs put public endpoints at 200
    # requests per 10 s per endpoint and IP: 1200 per minute assumed, each request weight 1.
    rest_weight_per_minute = 1200
    candles_max = 1000

    def _book_poll(self, symbol: str, limit: int) -> RestPoll:
        url, params = self.snapshot_request(symbol)
        most = 1000 if self.market_of(symbol) == "spot" else 300
        return RestPoll(url, {**params, "limit": str(max(1, min(limit, most)))}, 1)

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """The order book request of :meth:`snapshot_request` with ``limit=1``, weight 1."""
        return self._book_poll(symbol, 1)

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """The best level a side of a 1-level order book: spot ``{"id","current","update",
        "asks":[[p,s]],"bids":[[p,s]]}`` (``current`` ms), futures ``{"id","current",
        "update","asks":[{"p","s"}],"bids":[..]}`` (``current`` s, sizes in contracts);
        ``id`` the sequence, ``current`` the time (None where absent). ``ExchangeError`` for an error body (``label``/``message``), an
        empty side or another shape. The reply names no pair: ``symbol`` only picks the
        shape."""
        obj = loads(body, "gateio", "order book")
        if isinstance(obj, dict) and "label" in obj:
            label, msg = obj.get("label"), obj.get("message")
            raise ExchangeError(f"gateio order book: {label} {msg}", code=label, reason=msg)
        futures = self.market_of(symbol) == "linear"
        try:
            (bid,), (ask,) = obj["bids"][:1], obj["asks"][:1]
            now = obj.get("current")
            if futures:
                bp, bq, ap, aq = bid["p"], bid["s"], ask["p"], ask["s"]
                ts = None if now is None else round(float(now) * 1000) * 1_000_000
            else:
                (bp, bq), (ap, aq) = bid, ask
                ts = None if now is None else int(now) * 1_000_000
            return RestQuote(str(bp), str(bq), str(ap), str(aq), int(obj["id"]), ts)
        except (ValueError, TypeError, KeyError, IndexError):
            raise ExchangeError(f"unreadable Gate order book {body[:200]!r}") from None

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """The order book request of :meth:`snapshot_request` with ``limit`` = ``levels`` (at
        most 1000 spot, 300 futures), weight 1; read by the decoder's ``parse_snapshot``."""
        return self._book_poll(symbol, levels)

    def candles_request(self, symbol: str, limit: int) -> tuple[str, dict[str, str]] | None:
        """Spot ``GET /api/v4/spot/candlesticks?currency_pair=X&interval=I&limit=N``, futures
        ``GET /api/v4/futures/usdt/candlesticks?contract=X&interval=I&limit=N`` (``I`` the
        ``candle_interval`` option, ``N`` at most 1000)."""
        mid, n = self.market_id(symbol), str(max(1, min(limit, self.candles_max)))
        if self.market_of(symbol) == "spot":
            params = {"currency_pair": mid, "interval": self.candle_interval, "limit": n}
            return self.rest_base_url + "/api/v4/spot/candlesticks", params
        params = {"contract": mid, "interval": self.candle_interval, "limit": n}
        return self.rest_base_url + "/api/v4/futures/usdt/candlesticks", params

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """Oldest first. Spot rows ``[t s, quote volume, close, high, low, open, base amount?,
        closed?]`` (strings; Gate added the last two in 2022): the volume is the base amount
        where given, else the quote volume, as the candlesticks channel's; ``closed`` from the
        8th column where given. Futures objects ``{"t","v","c","h","l","o","sum"}`` (``v`` in
        contracts, as the channel's). Without a closed flag the newest is taken as open.
        ``ExchangeError`` for an error body (``label``/``message``) or another shape."""
        rows = loads(body, "gateio", "candlesticks")
        if isinstance(rows, dict):
            label, msg = rows.get("label"), rows.get("message")
            raise ExchangeError(f"gateio candlesticks: {label} {msg}", code=label, reason=msg)
        if not isinstance(rows, list):
            raise ExchangeError(f"unreadable Gate candlesticks {body[:200]!r}")
        if rows and isinstance(rows[0], dict):
            return candles_of(
                rows,
                lambda r: (r["t"], r["o"], r["h"], r["l"], r["c"], r["v"]),
                self.candle_interval,
                "gateio",
                newest_first=False,
                scale_ns=1_000_000_000,
            )
        flagged = bool(rows) and all(isinstance(r, list) and len(r) > 7 for r in rows)
        return candles_of(
            rows,
            lambda r: (r[0], r[5], r[3], r[4], r[2], r[6] if len(r) > 6 else r[1]),
            self.candle_interval,
            "gateio",
            newest_first=False,
            closed=(lambda r: str(r[7]) == "true") if flagged else None,
            scale_ns=1_000_000_000,
        )


def _step(decimals: Any) -> str | None:
    """Decimal places (an int) -> the step ``"0.001"``; None when not a small non-negative int."""
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 18:
        return None
    return "1" if decimals == 0 else "0." + "0" * (decimals - 1) + "1"


def parse_currency_pairs(entries: Any) -> list[dict[str, Any]]:
    """``GET /api/v4/spot/currency_pairs`` -> instrument dicts ``{"market_id" (``id``),
    "symbol" (``BASE/QUOTE``), "tick_size" (10^-``precision``), "lot_size"
    (10^-``amount_precision``), "active" (``trade_status == "tradable"``)}``. Entries without
    ``id``/``base``/``quote`` are skipped. Raises ``TypeError`` if ``entries`` is not a list."""
    if not isinstance(entries, list):
        raise TypeError(f"currency pair list expected, got {type(entries).__name__}")
    out = []
    for e in entries:
        if not isinstance(e, dict) or not all(
            isinstance(e.get(k), str) and e.get(k) for k in ("id", "base", "quote")
        ):
            continue
        out.append(
            {
                "market_id": e["id"],
                "symbol": f"{e['base']}/{e['quote']}",
                "tick_size": _step(e.get("precision")),
                "lot_size": _step(e.get("amount_precision")),
                "active": e.get("trade_status") == "tradable",
            }
        )
    return out


def parse_contracts(entries: Any) -> list[dict[str, Any]]:
    """``GET /api/v4/futures/usdt/contracts`` -> instrument dicts ``{"market_id" (``name``),
    "symbol" (``BASE/USDT:USDT``), "tick_size" (``order_price_round``), "lot_size" (``"1"``:
    sizes are whole contracts), "contract_size" (``quanto_multiplier``, base units per
    contract), "active" (not ``in_delisting``)}``. Entries whose ``name`` is not
    ``BASE_USDT`` are skipped. Raises ``TypeError`` if ``entries`` is not a list."""
    if not isinstance(entries, list):
        raise TypeError(f"contract list expected, got {type(entries).__name__}")
    out = []
    for e in entries:
        name = e.get("name") if isinstance(e, dict) else None
        if not isinstance(name, str):
            continue
        base, _, quote = name.partition("_")
        if quote != "USDT" or not _COIN.match(base):
            continue
        tick, mult = e.get("order_price_round"), e.get("quanto_multiplier")
        out.append(
            {
                "market_id": name,
                "symbol": f"{base}/USDT:USDT",
                "tick_size": _decimal_text(tick),
                "lot_size": "1",
                "contract_size": _decimal_text(mult),
                "active": not e.get("in_delisting", False),
            }
        )
    return out


def _decimal_text(v: Any) -> str | None:
    """A positive decimal string as Gate writes it, else None."""
    if not isinstance(v, str):
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        return None
    return v if d.is_finite() and d > 0 else None
