"""BitUnix USDT-margined futures public market data adapter (``bitunix``: market ``linear``).

UNPROVEN ON LIVE DATA: no BitUnix recording exists; this adapter follows the official BitUnix
futures API docs (openapidoc.bitunix.com) as summarised in shared/docs/exchanges/bitunix.md
(§1 endpoints, §2 limits, §3 subscribe, §4 heartbeat, §5 order book, §6 trades/tickers/candles,
§9 symbols), and is tested against docs-derived fixtures only.

- WebSocket: ``wss://fapi.bitunix.com/public/`` (one URL for every public channel).
- Subscribe: ``{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"depth_book15"},...]}``
  (``"op":"unsubscribe"`` to remove). The docs show no reply to either (a third-party SDK notes
  that subscribe returns no acknowledgement), so every request is done once sent (empty ack
  set). Should BitUnix echo the op, the Rust venue reads the echo as an ack per argument with
  topic ``"<ch>:<symbol>"`` (each :class:`Subscription`'s ``stream``), or, with a non-zero
  ``code``, as an error reply: counted and logged, as no request waits for it.
- Channels: ``book`` -> ``depth_book15`` (option ``book_channel``: ``depth_book1``,
  ``depth_book5``, ``depth_book15`` or ``depth_books``): the venue's top of book, whole, in
  every push (no sequence, no checksum). ``bbo`` -> ``tickers`` (its ``bd``/``bv``/``ak``/``av``
  are the best bid/ask; the single-symbol ``ticker`` channel has no bid/ask). ``trades`` ->
  ``trade``. ``candles`` -> ``market_kline_<interval>`` (option ``candle_interval``, default
  ``1min``; see :data:`INTERVALS`).
- Keepalive: the client sends ``{"op":"ping","ping":<Unix seconds>}`` every 10 s and BitUnix
  answers ``{"op":"ping","pong":<echo>,"ping":<server seconds>}`` (no idle timeout is documented);
  ``ping`` is stamped at each send.
- Limits: 300 channel subscriptions per connection; 5 client messages per second per connection
  (pings included); no documented lifetime (rotated daily) nor per-request cap (50 args a
  request, a budget).
- Recovery: books are rebuilt by subscribing again; with a whole book in every push, a lost
  push is healed by the next one.
- Instruments: ``GET /api/v1/futures/market/trading_pairs``: ``symbol``, ``base``, ``quote``,
  ``quotePrecision`` (price decimals: tick ``10**-quotePrecision``), ``basePrecision`` (size
  decimals: lot ``10**-basePrecision``; sizes are in the base asset), ``symbolStatus``
  (``OPEN`` trades).
- Symbols (ccxt): ``BTCUSDT`` <-> ``BTC/USDT:USDT`` (USDT- and USDC-margined perpetuals).

Private (account) side, route ``"private"`` (UNPROVEN ON LIVE DATA: no private BitUnix frame
was ever recorded; shapes from the docs' field tables, bitunix.md §7-§8):

- WebSocket ``wss://fapi.bitunix.com/private/``; after it opens the adapter sends
  ``{"op":"login","args":[{"apiKey","timestamp":<Unix seconds>,"nonce","sign"}]}`` signed by
  :mod:`tickwire.auth.bitunix` (double SHA-256 over nonce + timestamp + key, then + secret) and
  awaits ``{"op":"login","data":{"result":true}}`` (ack topic ``"login"``). A refusal (a
  non-zero ``code`` or ``data.result`` false; the docs show no refusal, BitUnix's general
  ``code``/``msg`` shape is assumed) is an ``AuthError``, never retried in a loop.
- Channels: ``orders`` -> ``order``, ``positions`` -> ``position``, ``balances`` ->
  ``balance`` (``{"op":"subscribe","args":[{"ch":"order"},..]}``, no symbol: account-wide).
  BitUnix pushes **no per-fill message** (its private channels are ``balance``, ``order``,
  ``position``, ``tpsl``): ``fills`` rides the ``order`` stream (an order's ``filled_size`` and
  ``average_price`` track executions live) and its ``Fill`` events come from REST
  ``get_history_trades``, fetched after every reconnect (the feed's account recovery).
- Server clock: BitUnix documents no server-time endpoint, so signatures use the local clock
  (:attr:`clock` unmeasured; the WS ping reply's ``ping`` carries the server's seconds).
- REST history (:meth:`account_requests`): ``GET /api/v1/futures/trade/get_history_trades`` and
  ``/get_history_orders`` with ``startTime`` (ms) and ``limit`` 100 (the documented maximum; one
  page: more than 100 missed fills in one outage are not all fetched), signed in headers
  ``api-key``, ``nonce``, ``timestamp`` (ms), ``sign``.

A simulator differs from live only by base URL: ``Bitunix(base_url="http://127.0.0.1:PORT")``
gives ``ws://127.0.0.1:PORT/public/`` and ``http://127.0.0.1:PORT/api/v1/futures/market/...``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from ..auth import Credentials
from ..auth.bitunix import login_payload, new_nonce, rest_headers
from ..exceptions import ExchangeError
from . import Adapter, Keepalive, Limits, NextId, Request, RestCall, Subscription, batches

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "BOOK_CHANNELS",
    "HISTORY_PATHS",
    "INTERVALS",
    "PRIVATE_STREAMS",
    "Bitunix",
    "instrument_dicts",
    "unified_symbol",
]

_CODE = re.compile(r"^[A-Z0-9]{1,20}$")
#: Quote (= settle) currencies of BitUnix futures market ids.
_QUOTES = ("USDT", "USDC")
#: Book channels (bitunix.md §5): the top 1/5/15 levels, or the venue's whole book.
BOOK_CHANNELS = ("depth_book15", "depth_book5", "depth_book1", "depth_books")
#: Kline intervals of the ``market_kline_<interval>`` channels (docs: kline channel).
INTERVALS = (
    "1min",
    "3min",
    "5min",
    "15min",
    "30min",
    "60min",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1day",
    "3day",
    "1week",
    "1month",
)
_INSTRUMENTS_PATH = "/api/v1/futures/market/trading_pairs"
#: The venue's private channel of each account channel (``fills``: see the module docstring).
PRIVATE_STREAMS = {
    "orders": "order",
    "fills": "order",
    "positions": "position",
    "balances": "balance",
}
#: REST history lists (bitunix.md §7 signing; newest first, at most 100 a page).
HISTORY_PATHS = {
    "fills": "/api/v1/futures/trade/get_history_trades",
    "orders": "/api/v1/futures/trade/get_history_orders",
}
#: The ack topic of a login reply (the Rust venue's ``ControlItem.topic``).
LOGIN_TOPIC = "login"


def unified_symbol(market_id: str) -> str | None:
    """``"BTCUSDT"`` -> ``"BTC/USDT:USDT"`` (a linear perpetual margined in its quote, USDT or
    USDC); None for other shapes. The same rule as the Rust venue's ``bitunix::unified``."""
    for q in _QUOTES:
        base = market_id.removesuffix(q)
        if base != market_id and _CODE.match(base):
            return f"{base}/{q}:{q}"
    return None


def instrument_dicts(body: bytes | str) -> list[dict[str, Any]]:
    """Parse a ``GET /api/v1/futures/market/trading_pairs`` reply into the decoder's instrument
    dicts (``market_id``, ``symbol`` ``<base>/<quote>:<quote>``, ``tick_size``
    ``10**-quotePrecision``, ``lot_size`` ``10**-basePrecision``, ``active``
    ``symbolStatus == "OPEN"``). Entries without ``symbol``/``base``/``quote`` or with
    non-integer precisions are left out.

    Raises ``ExchangeError`` (with BitUnix's ``code``/``msg``) for an error reply or a body that
    is not ``{"code":0,"data":[...]}``."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise ExchangeError(f"bitunix trading_pairs: unexpected reply {str(body)[:200]!r}")
    code = obj.get("code")
    if code != 0 or not isinstance(obj.get("data"), list):
        msg = obj.get("msg")
        raise ExchangeError(
            f"bitunix trading_pairs: error {code}: {msg}",
            code=code if isinstance(code, int) else None,
            reason=msg if isinstance(msg, str) else None,
        )
    out: list[dict[str, Any]] = []
    for e in obj["data"]:
        if not isinstance(e, dict):
            continue
        mid, base, quote = e.get("symbol"), e.get("base"), e.get("quote")
        pdec, sdec = e.get("quotePrecision"), e.get("basePrecision")
        if not all(isinstance(v, str) and v for v in (mid, base, quote)):
            continue
        if not (isinstance(pdec, int) and isinstance(sdec, int) and 0 <= pdec <= 18 >= sdec >= 0):
            continue
        out.append(
            {
                "market_id": mid,
                "symbol": f"{base}/{quote}:{quote}",
                "tick_size": _unit(pdec),
                "lot_size": _unit(sdec),
                "active": e.get("symbolStatus") == "OPEN",
            }
        )
    return out


def _unit(decimals: int) -> str:
    """``"0.01"`` for 2, ``"1"`` for 0."""
    return "1" if decimals == 0 else "0." + "0" * (decimals - 1) + "1"


class Bitunix(Adapter):
    """BitUnix futures public market data (exchange id ``"bitunix"``, decoder ``"bitunix"``).

    Channels: ``book`` (``depth_book15``), ``bbo`` (``tickers``), ``trades`` (``trade``),
    ``candles`` (``market_kline_1min``). ``options`` keys (all optional):

    - ``book_channel``: one of :data:`BOOK_CHANNELS` (default ``"depth_book15"``).
    - ``candle_interval``: one of :data:`INTERVALS` (default ``"1min"``).
    """

    exchange_id = "bitunix"
    decoder_id = "bitunix"
    markets = ("linear",)
    channels = ("book", "trades", "bbo", "candles")
    option_keys = frozenset({"book_channel", "candle_interval"})
    private_channels = ("orders", "fills", "positions", "balances")
    ws_base = "wss://fapi.bitunix.com"
    rest_base = "https://fapi.bitunix.com"
    limits = Limits(
        streams_per_connection=300,  # "Max 300 channel subscription/connection" (bitunix.md §2)
        streams_per_message=50,  # a budget: no per-request cap is documented
        control_msgs_per_s=4,  # BitUnix allows 5 per second per connection, pings included: a margin
        lifetime_s=24 * 3600,  # no documented lifetime: rotate daily
        server_ping_interval_s=10,  # BitUnix does not ping: our ping every 10 s draws a reply
        stale_after_s=30,
    )

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options, credentials=credentials)
        self.book_channel: str = self.option_choice("book_channel", "depth_book15", BOOK_CHANNELS)
        self.candle_interval: str = self.options.get("candle_interval", "1min")
        if self.candle_interval not in INTERVALS:
            raise ValueError(
                f"candle_interval {self.candle_interval!r} invalid; "
                f"BitUnix intervals: {', '.join(INTERVALS)}"
            )

    # --- symbols ------------------------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """``"BTC/USDT:USDT"`` -> ``"BTCUSDT"`` (USDT- or USDC-margined perpetuals).

        Raises ``ValueError`` naming ``symbol`` for any other shape (spot, coin-margined,
        dated futures: BitUnix futures list none of them)."""
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'BTC/USDT:USDT', got {symbol!r}")
        pair, colon, settle = symbol.partition(":")
        base, slash, quote = pair.partition("/")
        if colon and slash and _CODE.match(base) and quote in _QUOTES and settle == quote:
            return f"{base}{quote}"
        upper = symbol.upper()
        hint = f"; did you mean {upper!r}?" if upper != symbol else ""
        if not colon and slash:
            hint = f"; BitUnix futures are perpetuals: did you mean '{upper}:{quote.upper()}'?"
        raise ValueError(
            f"unknown symbol {symbol!r} for bitunix: use a USDT-margined perpetual like "
            f"'BTC/USDT:USDT'{hint}"
        )

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel): stream ``"<ch>:<market id>"``
        (``"depth_book15:BTCUSDT"``), route ``"linear"``.

        Raises ``ValueError`` naming the first bad channel or symbol."""
        for ch in channels:
            self.check_channel(ch)
        ids = [(sym, self.market_id(sym)) for sym in symbols]
        return [
            Subscription(sym, ch, "linear", f"{self._channel(ch)}:{mid}")
            for sym, mid in ids
            for ch in channels
        ]

    def _channel(self, channel: str) -> str:
        return {
            "book": self.book_channel,
            "bbo": "tickers",
            "trades": "trade",
            "candles": f"market_kline_{self.candle_interval}",
        }[channel]

    # --- wire ---------------------------------------------------------------------------------
    def ws_url(self, route: str) -> str:
        """``<ws>/public/`` (route ``"linear"``), ``<ws>/private/`` (route ``"private"``)."""
        if route == "private":
            return f"{self.ws_base_url}/private/"
        if route != "linear":
            raise ValueError(f"unknown bitunix route {route!r}")
        return f"{self.ws_base_url}/public/"

    def subscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - BitUnix requests carry no id
    ) -> list[Request]:
        """``{"op":"subscribe","args":[{"symbol":..,"ch":..},...]}`` requests of at most
        ``streams_per_message`` args, each done once sent (no reply is documented: see the
        module docstring)."""
        return self._requests("subscribe", subs)

    def unsubscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - (idem)
    ) -> list[Request]:
        """``"op":"unsubscribe"`` requests, batched like subscribe, done once sent."""
        return self._requests("unsubscribe", subs)

    def _requests(self, op: str, subs: Sequence[Subscription]) -> list[Request]:
        out = []
        for chunk in batches([s.stream for s in subs], self.limits.streams_per_message):
            # "<ch>:<symbol>" on the public route; an account channel's stream is its ch alone
            args = [dict(zip(("ch", "symbol"), s.split(":", 1), strict=False)) for s in chunk]
            payload = json.dumps({"op": op, "args": args}, separators=(",", ":")).encode()
            out.append(Request(payload, frozenset(), tuple(chunk)))
        return out

    def keepalive(self) -> Keepalive | None:
        """``{"op":"ping","ping":<seconds now>}`` every 10 s (bitunix.md §4; the interval the
        SDKs use: none is documented); ``ping`` is the time of each send."""
        return Keepalive(10.0, _ping)

    # --- private (account) side -----------------------------------------------------------------
    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per private stream of ``channels`` (symbol ``""``, route
        ``"private"``, stream ``order`` / ``position`` / ``balance``); ``orders`` and ``fills``
        share ``order`` (returned once, under the first of them). Raises ``ValueError`` naming
        a channel BitUnix does not serve privately."""
        out: dict[str, Subscription] = {}
        for ch in channels:
            stream = PRIVATE_STREAMS.get(ch)
            if stream is None:
                raise ValueError(
                    f"{ch!r} is not a bitunix account channel; "
                    f"account channels: {', '.join(self.private_channels)}"
                )
            out.setdefault(stream, Subscription("", ch, "private", stream))
        return list(out.values())

    def login_requests(self, route: str, next_id: NextId) -> list[Request]:  # noqa: ARG002
        """On route ``"private"``: the ``login`` request signed now (timestamp: :attr:`clock`
        in Unix seconds, a fresh 32-hex nonce), awaiting the ``"login"`` ack; none elsewhere.
        Raises ``ValueError`` without credentials. The payload holds a signature: never log
        it."""
        if route != "private":
            return []
        creds = self.check_credentials()
        payload = login_payload(
            creds.api_key, creds.secret, self.clock.now_ms() // 1000, new_nonce()
        )
        return [Request(payload, frozenset({LOGIN_TOPIC}), (), login=True)]

    def account_requests(self, what: str, since_ms: int) -> list[RestCall]:
        """One signed ``GET`` of BitUnix's ``what`` history (``"fills"``:
        ``get_history_trades``, ``"orders"``: ``get_history_orders``) since ``since_ms`` (ms),
        100 entries a page (the documented maximum; :meth:`account_next_page` follows the
        others). Raises ``ValueError`` for
        another ``what`` or without credentials."""
        path = HISTORY_PATHS.get(what)
        if path is None:
            raise ValueError(f"bitunix has no REST list of {what!r}; lists: fills, orders")
        creds = self.check_credentials()
        params = {"startTime": str(max(since_ms, 0)), "limit": "100"}
        headers = rest_headers(
            creds.api_key, creds.secret, self.clock.now_ms(), new_nonce(), params
        )
        return [RestCall("GET", self.rest_base_url + path, params, headers)]

    def account_next_page(self, call: RestCall, body: bytes) -> RestCall | None:
        """The next page of a history list: ``call`` again with ``skip`` past the entries read
        so far, signed now (fresh nonce); None after a short page or once ``skip`` reaches the
        body's ``total`` (BitUnix filters by ``startTime``, so the pages end at the ``since``
        boundary). Raises ``ValueError`` for a body without ``data``."""
        try:
            data = json.loads(body)["data"]
            entries = next(v for k, v in data.items() if k.endswith("List"))
            total = int(data.get("total", 0))
        except (ValueError, KeyError, TypeError, AttributeError, StopIteration) as exc:
            raise ValueError(f"a BitUnix history list without data ({exc!r})") from None
        if not isinstance(entries, list):
            raise ValueError("a BitUnix history list whose list is not a list")
        skip = int(call.params.get("skip", "0")) + len(entries)
        if len(entries) < int(call.params.get("limit", "10")) or skip >= total:
            return None
        creds = self.check_credentials()
        params = {**call.params, "skip": str(skip)}
        headers = rest_headers(
            creds.api_key, creds.secret, self.clock.now_ms(), new_nonce(), params
        )
        return RestCall(call.method, call.url, params, headers)

    # --- instruments ----------------------------------------------------------------------------
    async def fetch_instruments(
        self, http: aiohttp.ClientSession, market: str
    ) -> list[dict[str, Any]]:
        """``GET <rest>/api/v1/futures/market/trading_pairs``, parsed by
        :func:`instrument_dicts`. Raises ``ValueError`` for a market other than ``linear``,
        ``ExchangeError`` for an error reply and what aiohttp raises."""
        if market != "linear":
            raise ValueError(f"unknown bitunix market {market!r}; markets: linear")
        url = self.rest_base_url + _INSTRUMENTS_PATH
        return await self.get_parsed(http, url, dict(self.rest_params), instrument_dicts)

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """None: BitUnix trades carry no id (their time has second resolution), books and
        tickers no sequence, and a kline repeats its start on every push; while two sessions
        overlap, the primary's events are delivered."""
        return {}


def _ping() -> bytes:
    """BitUnix's client ping, stamped now: ``{"op":"ping","ping":<Unix seconds>}``."""
    return json.dumps({"op": "ping", "ping": int(time.time())}, separators=(",", ":")).encode()
