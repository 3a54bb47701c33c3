"""Coinbase adapters: Advanced Trade (``coinbase``) and the Exchange feed (``coinbaseexchange``).

Two unrelated protocols (shared/docs/exchanges/coinbase.md; the Rust halves are
``rust/src/exchanges/coinbase.rs``):

Advanced Trade market data (``CoinbaseAdvancedTrade``, Coinbase "Advanced Trade WebSocket
Overview / Channels / Rate Limits" pages):

- ``wss://advanced-trade-ws.coinbase.com``; one channel per subscribe message:
  ``{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}`` (``"unsubscribe"``
  alike). A ``jwt`` field is optional on public channels: pass ``options={"jwt": fn}`` (a
  callable returning a fresh JWT; Coinbase JWTs live 120 s, so one is made per message).
- Channels: ``book`` -> ``level2`` (data on ``l2_data``: snapshot then absolute updates),
  ``trades`` -> ``market_trades``, ``bbo`` -> ``ticker``, ``candles`` -> ``candles``
  (5-minute candles only). Streams are ``"<channel>:<product_id>"`` (``"level2:BTC-USD"``),
  the topic the Rust venue gives each pair of the cumulative ``subscriptions`` reply: a
  subscribe request is done when every one of its streams appears there.
- ``heartbeats`` is subscribed along with every subscribe batch (ack ``"heartbeats:heartbeats"``):
  without it Coinbase closes channels idle for 60-90 s. No client ping exists.
- ``sequence_num`` counts every message of the connection; the decoder turns a break into
  ``SyncLost(reason="connection_gap")`` for every book, recovered by resubscribing (``level2``
  unsubscribe then subscribe: a new snapshot). An unsubscribe is not acknowledged by topic (the
  reply lists what remains), so it is done once sent.
- Errors: ``{"type":"error","message":"failure to subscribe"}`` (no code, no request id: it fails
  the oldest pending request).
- Limits: 8 unauthenticated messages per second per IP; 8 connections per second (a second doc
  version says 750; tickwire budgets 8). No documented per-connection topic cap or lifetime:
  tickwire budgets 100 topics per connection and 50 products per message, and rotates daily.
- Instruments: ``GET https://api.coinbase.com/api/v3/brokerage/market/products`` (public) ->
  ``products[]`` with ``product_id``, ``product_type`` (``SPOT`` kept), ``price_increment``,
  ``base_increment``, ``status``/``trading_disabled``.

Coinbase Exchange feed (``CoinbaseExchange``, Coinbase Exchange "WebSocket Feed" pages):

- ``wss://ws-feed.exchange.coinbase.com``; ``{"type":"subscribe","product_ids":[..],
  "channels":[..]}``, reply ``{"type":"subscriptions","channels":[{"name","product_ids"}]}``
  (acks ``"<channel>:<product_id>"``), errors ``{"type":"error","message","reason"}``.
  A client must subscribe within 5 s of connecting.
- Channels: ``book`` -> ``level2_batch`` (public; ``options={"book_channel": "level2"}`` for the
  authenticated per-update channel, same messages), ``trades`` -> ``matches``, ``bbo`` ->
  ``ticker``; no candles on this WebSocket. ``heartbeat`` is subscribed for the same products
  (one message per product per second feeds the stale-data watchdog).
- ``level2`` carries no sequence and no checksum; a broken book is rebuilt by resubscribing.
- Limits: 8 requests per second per IP (bursts of 20), 100 client messages per second.
- Instruments: ``GET https://api.exchange.coinbase.com/products`` -> ``[{id, quote_increment,
  base_increment, status, trading_disabled, ...}]``.

Symbols on both: product id ``BTC-USD`` <-> ccxt ``BTC/USD`` (spot only).

Trade sides: both feeds send the maker's side; tickwire's ``Trade.side`` is the aggressor's (the
Rust parser flips it; see rust/tests/coinbase.rs for the evidence in the recordings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..exceptions import ExchangeError
from ..redact import redact_url
from . import Adapter, Limits, NextId, Request, RestPoll, RestQuote, Subscription, batches
from ._rest import loads

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "CoinbaseAdvancedTrade",
    "CoinbaseExchange",
    "parse_at_products",
    "parse_exchange_products",
]

_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")


def _product_id(exchange_id: str, symbol: str) -> str:
    """``"BTC/USD"`` -> ``"BTC-USD"``; ``ValueError`` naming ``symbol`` otherwise."""
    if not isinstance(symbol, str):
        raise ValueError(f"symbol must be a string like 'BTC/USD', got {symbol!r}")
    base, sep, quote = symbol.partition("/")
    if sep and _ASSET.match(base) and _ASSET.match(quote):
        return f"{base}-{quote}"
    if ":" in symbol:
        raise ValueError(
            f"unknown symbol {symbol!r} for {exchange_id}: only spot symbols like 'BTC/USD' "
            "are served"
        )
    upper = symbol.upper()
    hint = f" did you mean {upper!r}?" if upper != symbol and "/" in upper else ""
    raise ValueError(f"unknown symbol {symbol!r} for {exchange_id}: use 'BTC/USD'.{hint}")


def _unified(product_id: str) -> str | None:
    """``"BTC-USD"`` -> ``"BTC/USD"``; None for a product id of another shape."""
    base, sep, quote = product_id.partition("-")
    if sep and _ASSET.match(base) and _ASSET.match(quote):
        return f"{base}/{quote}"
    return None


def _get_json(body: bytes, status: int, url: str) -> Any:
    """The JSON body of a 200 reply; ``ExchangeError`` naming the URL otherwise."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    if status != 200:
        msg = obj.get("message") if isinstance(obj, dict) else body[:200].decode(errors="replace")
        raise ExchangeError(f"GET {redact_url(url)}: HTTP {status}: {msg}", reason=msg)
    if obj is None:
        raise ExchangeError(f"GET {redact_url(url)}: unreadable reply {body[:200]!r}")
    return obj


def parse_at_products(obj: Any) -> list[dict[str, Any]]:
    """Advanced Trade ``GET /api/v3/brokerage/market/products`` body -> instrument dicts
    (``market_id``, ``symbol``, ``tick_size`` = ``price_increment``, ``lot_size`` =
    ``base_increment``, ``active``) for its ``SPOT`` products. Raises ``ExchangeError`` when the
    body is not ``{"products": [...]}``."""
    products = obj.get("products") if isinstance(obj, dict) else None
    if not isinstance(products, list):
        raise ExchangeError(f"products: unexpected reply {str(obj)[:200]!r}")
    out = []
    for p in products:
        if not isinstance(p, dict) or p.get("product_type", "SPOT") != "SPOT":
            continue
        pid = p.get("product_id")
        sym = _unified(pid) if isinstance(pid, str) else None
        if sym is None:
            continue
        out.append(
            {
                "market_id": pid,
                "symbol": sym,
                "tick_size": p.get("price_increment") or p.get("quote_increment"),
                "lot_size": p.get("base_increment"),
                "active": p.get("status", "online") == "online"
                and not p.get("trading_disabled", False)
                and not p.get("is_disabled", False),
            }
        )
    return out


def parse_exchange_products(obj: Any) -> list[dict[str, Any]]:
    """Exchange ``GET /products`` body (a list) -> instrument dicts (``tick_size`` =
    ``quote_increment``, ``lot_size`` = ``base_increment``, ``active``). Raises
    ``ExchangeError`` when the body is not a list."""
    if not isinstance(obj, list):
        raise ExchangeError(f"products: unexpected reply {str(obj)[:200]!r}")
    out = []
    for p in obj:
        pid = p.get("id") if isinstance(p, dict) else None
        sym = _unified(pid) if isinstance(pid, str) else None
        if sym is None:
            continue
        out.append(
            {
                "market_id": pid,
                "symbol": sym,
                "tick_size": p.get("quote_increment"),
                "lot_size": p.get("base_increment"),
                "active": p.get("status", "online") == "online"
                and not p.get("trading_disabled", False),
            }
        )
    return out


class _Coinbase(Adapter):
    """What both Coinbase feeds share: spot product ids, one route, topic streams
    ``"<channel>:<product_id>"``, resubscribe recovery, no client ping."""

    markets = ("spot",)
    consecutive_trade_ids = True  # per product; both recordings go up by exactly 1
    _products_path = ""
    #: tickwire channel -> Coinbase channel (set per instance: it may depend on options)
    channel_names: dict[str, str]

    def market_id(self, symbol: str) -> str:
        """``"BTC/USD"`` -> ``"BTC-USD"``. Raises ``ValueError`` naming ``symbol`` otherwise."""
        return _product_id(self.exchange_id, symbol)

    def ws_url(self, route: str) -> str:  # noqa: ARG002 - one route
        """The feed's URL (the base itself: Coinbase serves it at ``/``)."""
        return self.ws_base_url + "/"

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel), stream ``"<channel>:<product_id>"``.
        Raises ``ValueError`` naming the first bad symbol or channel."""
        for ch in channels:
            self.check_channel(ch)
        return [
            Subscription(sym, ch, "ws", f"{self.channel_names[ch]}:{mid}")
            for sym, mid in ((s, self.market_id(s)) for s in symbols)
            for ch in channels
        ]

    def _by_channel(self, subs: Sequence[Subscription]) -> dict[str, list[str]]:
        """Coinbase channel -> product ids, in order of first appearance."""
        out: dict[str, list[str]] = {}
        for s in subs:
            channel, _, product = s.stream.partition(":")
            out.setdefault(channel, []).append(product)
        return out

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Trade ids grow by one per product on both feeds; candles by start then event time.
        Book and ticker sequences are left out: Advanced Trade numbers messages per
        connection, and Exchange books have no sequence."""
        from .._core import Candle, Trade

        return {Trade: attrgetter("trade_id"), Candle: attrgetter("start_ts", "exchange_ts")}

    async def fetch_instruments(
        self,
        http: aiohttp.ClientSession,
        market: str,  # noqa: ARG002 - one market
    ) -> list[dict[str, Any]]:
        """The venue's public products list, parsed by :meth:`_parse_products`."""
        url = self.rest_base_url + self._products_path
        async with http.get(url, params=self.rest_params) as resp:
            status, body = resp.status, await resp.read()
        return self._parse_products(_get_json(body, status, url))

    def _parse_products(self, obj: Any) -> list[dict[str, Any]]:
        raise NotImplementedError


def _payload(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class CoinbaseAdvancedTrade(_Coinbase):
    """Coinbase Advanced Trade market data (exchange id ``"coinbase"``). ``options`` keys:

    - ``jwt``: a callable returning a fresh JWT string, added to every subscribe and
      unsubscribe message (optional for public channels)."""

    exchange_id = "coinbase"
    decoder_id = "coinbase"
    channels = ("book", "trades", "bbo", "candles")
    option_keys = frozenset({"jwt"})
    ws_base = "wss://advanced-trade-ws.coinbase.com"
    rest_base = "https://api.coinbase.com"
    _products_path = "/api/v3/brokerage/market/products"
    limits = Limits(
        streams_per_connection=100,
        streams_per_message=50,
        control_msgs_per_s=8,
        lifetime_s=24 * 3600,
        server_ping_interval_s=1,  # the heartbeats channel: one message per second
        stale_after_s=10,
    )

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options)
        self.channel_names = {
            "book": "level2",
            "trades": "market_trades",
            "bbo": "ticker",
            "candles": "candles",
        }
        jwt = self.options.get("jwt")
        if jwt is not None and not callable(jwt):
            raise ValueError("option 'jwt' must be a callable returning a JWT string")
        self._jwt: Callable[[], str] | None = jwt

    def _message(self, kind: str, channel: str, products: Sequence[str]) -> bytes:
        msg: dict[str, Any] = {"type": kind, "product_ids": list(products), "channel": channel}
        if self._jwt is not None:
            msg["jwt"] = self._jwt()
        return _payload(msg)

    def subscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - Coinbase echoes no request id
    ) -> list[Request]:
        """One ``subscribe`` per channel and batch of at most ``limits.streams_per_message``
        products, done when each ``"<channel>:<product>"`` is in a ``subscriptions`` reply; then
        ``heartbeats`` for the same products (done on ``"heartbeats:heartbeats"``)."""
        out = []
        products: list[str] = []
        for channel, ids in self._by_channel(subs).items():
            for chunk in batches(ids, self.limits.streams_per_message):
                streams = tuple(f"{channel}:{p}" for p in chunk)
                out.append(
                    Request(self._message("subscribe", channel, chunk), frozenset(streams), streams)
                )
                products.extend(p for p in chunk if p not in products)
        if out:
            hb = self._message(
                "subscribe", "heartbeats", products[: self.limits.streams_per_message]
            )
            out.append(Request(hb, frozenset({"heartbeats:heartbeats"}), ("heartbeats",)))
        return out

    def unsubscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - Coinbase echoes no request id
    ) -> list[Request]:
        """One ``unsubscribe`` per channel and batch; done once sent (the reply lists what is
        still subscribed, so nothing names the streams removed)."""
        return [
            Request(
                self._message("unsubscribe", channel, chunk),
                frozenset(),
                tuple(f"{channel}:{p}" for p in chunk),
            )
            for channel, ids in self._by_channel(subs).items()
            for chunk in batches(ids, self.limits.streams_per_message)
        ]

    def _parse_products(self, obj: Any) -> list[dict[str, Any]]:
        return parse_at_products(obj)


class CoinbaseExchange(_Coinbase):
    """Coinbase Exchange feed (exchange id ``"coinbaseexchange"``). ``options`` keys:

    - ``book_channel``: ``"level2_batch"`` (default, public, 50 ms batches) or ``"level2"``
      (every update; Coinbase requires authentication for it, which tickwire does not send:
      use it against a gateway or simulator that serves it)."""

    exchange_id = "coinbaseexchange"
    decoder_id = "coinbaseexchange"
    channels = ("book", "trades", "bbo")
    option_keys = frozenset({"book_channel"})
    ws_base = "wss://ws-feed.exchange.coinbase.com"
    rest_base = "https://api.exchange.coinbase.com"
    _products_path = "/products"
    limits = Limits(
        streams_per_connection=100,
        streams_per_message=50,
        control_msgs_per_s=8,
        lifetime_s=24 * 3600,
        server_ping_interval_s=1,  # the heartbeat channel: one message per product per second
        stale_after_s=10,
    )

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options)
        book = self.options.get("book_channel", "level2_batch")
        if book not in ("level2_batch", "level2"):
            raise ValueError(f"book_channel {book!r} invalid; use 'level2_batch' or 'level2'")
        self.channel_names = {"book": book, "trades": "matches", "bbo": "ticker"}

    def subscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - Coinbase echoes no request id
    ) -> list[Request]:
        """One ``subscribe`` per channel and batch of at most ``limits.streams_per_message``
        products, with ``heartbeat`` for the same products in the same message; done when every
        ``"<channel>:<product>"`` (heartbeats included) is in a ``subscriptions`` reply."""
        out = []
        for channel, ids in self._by_channel(subs).items():
            for chunk in batches(ids, self.limits.streams_per_message):
                streams = tuple(f"{channel}:{p}" for p in chunk)
                acks = frozenset(streams) | {f"heartbeat:{p}" for p in chunk}
                msg = {
                    "type": "subscribe",
                    "product_ids": chunk,
                    "channels": [channel, "heartbeat"],
                }
                out.append(Request(_payload(msg), acks, streams))
        return out

    def unsubscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - Coinbase echoes no request id
    ) -> list[Request]:
        """One ``unsubscribe`` per channel and batch; done once sent (the reply lists what is
        still subscribed). Heartbeats stay (other channels of the product may need them)."""
        return [
            Request(
                _payload({"type": "unsubscribe", "product_ids": chunk, "channels": [channel]}),
                frozenset(),
                tuple(f"{channel}:{p}" for p in chunk),
            )
            for channel, ids in self._by_channel(subs).items()
            for chunk in batches(ids, self.limits.streams_per_message)
        ]

    def _parse_products(self, obj: Any) -> list[dict[str, Any]]:
        return parse_exchange_products(obj)

    # --- REST fallback (bbo, depth) ---------------------------------------------------------------
    # GET /products/<id>/book?level=1 (best bid and ask) and level=2 (the whole aggregated book:
    # Coinbase has no top-N), both with the book's sequence. coinbase.md gives no REST limit;
    # Coinbase Exchange's docs put public endpoints at 10 requests per second per IP: 600 per
    # minute assumed, weight 1. No candle backfill here (the Exchange feed has no candles).
    rest_weight_per_minute = 600

    def _book_poll(self, symbol: str, level: int) -> RestPoll:
        url = f"{self.rest_base_url}/products/{self.market_id(symbol)}/book"
        return RestPoll(url, {"level": str(level)}, 1)

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """``GET /products/<id>/book?level=1``, weight 1."""
        return self._book_poll(symbol, 1)

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """The first ``[price, size, num_orders]`` a side and ``sequence`` of a level-1 book
        (``time``, RFC 3339, is not read: the quote's time stays None). The reply names no
        product (``symbol`` is not checked). ``ExchangeError`` for an error body
        (``{"message":..}``), an empty side or another shape."""
        del symbol  # the reply names no product
        obj = loads(body, "coinbaseexchange", "book")
        if isinstance(obj, dict) and "message" in obj:
            raise ExchangeError(f"coinbaseexchange book: {obj['message']}", reason=obj["message"])
        try:
            bid, ask = obj["bids"][0], obj["asks"][0]
            return RestQuote(
                str(bid[0]), str(bid[1]), str(ask[0]), str(ask[1]), int(obj["sequence"])
            )
        except (ValueError, TypeError, KeyError, IndexError):
            raise ExchangeError(f"unreadable Coinbase book {body[:200]!r}") from None

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """``GET /products/<id>/book?level=2`` (the whole aggregated book: ``levels`` cannot
        cut it), weight 1; read by the decoder's ``parse_snapshot``."""
        del levels  # level 2 is the whole book
        return self._book_poll(symbol, 2)
