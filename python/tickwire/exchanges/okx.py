"""OKX v5 adapter (``okx``: markets ``spot``, ``linear``, ``inverse``; and the account).

Every OKX-specific fact of the Python side lives here; it follows the OKX API v5 docs as
summarised in shared/docs/exchanges/okx.md (§1 endpoints, §2 limits, §3 subscribe, §4 heartbeat,
§5 order book, §6 trades/tickers/candles, §9 symbols):

- WebSockets: ``wss://ws.okx.com:8443/ws/v5/public`` (books, ``bbo-tbt``, ``tickers``,
  ``trades``) and ``/ws/v5/business`` (``candle<bar>``). One URL serves every instrument type,
  and the Rust venue of any market decodes every instrument id on a connection; the adapter
  still gives each market its own connections (routes ``"<market>"`` on ``/public`` and
  ``"<market>-business"`` on ``/business``), so each decoder gets that market's instruments
  table (tick and lot sizes) and a symbol the table lacks is refused.
- Subscribe: ``{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},...]}``;
  one ack per arg ``{"event":"subscribe","arg":{...},"connId":..}``, which the Rust venue
  reports with topic ``"<channel>:<instId>"``: that text is each :class:`Subscription`'s
  ``stream`` and a request's ack keys. No request ``id`` is sent: OKX echoes it on every ack
  and on the error (``{"event":"error","code":"60012","msg":..}``, no ``arg``), and a reply is
  matched by one key only, so an error reply, which has neither id nor topic here, fails the
  oldest request in flight (OKX answers requests in order).
- Keepalive: the client sends the text ``ping`` (we send it every 25 s, under the 30 s idle cut)
  and OKX answers ``pong``.
- Limits: ``args`` of one request at most 64 KB (:attr:`Limits.max_request_bytes`); fewer than
  30 book channels per connection (:attr:`Limits.books_per_connection` = 29); 480
  subscribe/unsubscribe/login requests per hour per connection, 3 new connections per second per
  IP (budgets below are kept well under these).
- Recovery: books resync by subscribing again (OKX sends a new snapshot; there is no REST
  snapshot to bridge); the Rust venue detects gaps by ``seqId``/``prevSeqId`` and, where the
  checksum is not 0, by the CRC32 checksum.
- Instruments: ``GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES``; ``linear`` are the
  SWAP and FUTURES instruments with ``ctType`` ``linear``, ``inverse`` those with ``inverse``.
- Symbols (ccxt): ``BTC-USDT`` <-> ``BTC/USDT``, ``BTC-USDT-SWAP`` <-> ``BTC/USDT:USDT``,
  ``BTC-USD-SWAP`` <-> ``BTC/USD:BTC``, ``BTC-USD-220527`` <-> ``BTC/USD:BTC-220527``.
  Derivative sizes are in contracts (``ctVal`` from the instruments list converts them).

Private (account) side (okx.md §7-§8): route ``"private"`` on ``/ws/v5/private``. Every connect
measures the server clock (``GET /api/v5/public/time``), then sends
``{"op":"login","args":[{"apiKey","passphrase","timestamp","sign"}]}`` signed by
:mod:`tickwire.auth.okx` at the server's time in seconds (OKX refuses a timestamp 30 s away):
``{"event":"login","code":"0"}`` succeeds; ``{"event":"error","code":"60009",..}`` (60004
timestamp, 60005 key, 60006 expired, 60007 sign, 60024 passphrase, ...) is an ``AuthError``,
never retried in a loop (OKX allows 480 login/subscribe ops per hour per connection); only
``63999`` (internal error, try again) is retried with backoff, and ``60006`` once on the same
socket after the server clock is measured again (the clock drifted since the last measure). Channels: ``orders`` and
``fills`` ride the ``orders`` channel (``instType`` ``ANY``: an order change, and a fill when it
has a ``tradeId``; OKX's own ``fills`` channel is VIP5+ only), ``positions`` the ``positions``
channel (``ANY``), ``balances`` the ``account`` channel. After a reconnect, fills come from
``GET /api/v5/trade/fills`` (the last 3 days) and orders from ``/api/v5/trade/orders-pending``
and ``/api/v5/trade/orders-history`` per ``instType``, signed with the ``OK-ACCESS-*`` headers.

A simulator differs from live only by base URL: ``Okx(base_url="http://127.0.0.1:PORT")`` gives
``ws://127.0.0.1:PORT/ws/v5/public`` and ``http://127.0.0.1:PORT/api/v5/public/instruments``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..auth import okx as okx_auth
from ..exceptions import ExchangeError
from ..redact import remember
from . import (
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

__all__ = ["Okx", "instrument_dicts", "market_of_id", "unified_symbol"]

_CODE = re.compile(r"^[A-Z0-9]{1,20}$")
_EXPIRY = re.compile(r"^[0-9]{6}$")

#: Candle bars of the ``candle<bar>`` channels (okx.md §6).
BARS = (
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1H",
    "2H",
    "4H",
    "6H",
    "12H",
    "1D",
    "2D",
    "3D",
    "1W",
    "1M",
    "3M",
    "6Hutc",
    "12Hutc",
    "1Dutc",
    "2Dutc",
    "3Dutc",
    "1Wutc",
    "1Mutc",
    "3Mutc",
)
#: Book channels open to every account (the ``-l2-tbt`` ones need a VIP login).
BOOK_CHANNELS = ("books", "books5")
#: Where the ``bbo`` channel comes from: tick-by-tick ``bbo-tbt`` or the ``tickers`` channel.
BBO_CHANNELS = ("bbo-tbt", "tickers")
#: instType values requested per market.
_INST_TYPES = {"spot": ("SPOT",), "linear": ("SWAP", "FUTURES"), "inverse": ("SWAP", "FUTURES")}
#: Bytes one ``{"channel":..,"instId":..}`` arg adds besides its two strings, and the payload's
#: fixed part (``{"op":"unsubscribe","args":[]}``).
_ARG_OVERHEAD = len('{"channel":"","instId":""},')
_REQUEST_OVERHEAD = len('{"op":"unsubscribe","args":[]}')
#: The private route and the OKX channel (``stream``) of each account channel: orders and
#: fills share the ``orders`` channel.
PRIVATE_ROUTE = "private"
_PRIVATE_STREAMS = {
    "orders": "orders:ANY",
    "fills": "orders:ANY",
    "positions": "positions:ANY",
    "balances": "account",
}
#: Channels subscribed by ``instType`` (not ``instId``).
_BY_INST_TYPE = frozenset({"orders", "positions", "balance_and_position", "fills"})
#: ``instType`` values of ``orders-history`` (one request each: the parameter is required).
_HISTORY_INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
#: Rows per REST page (OKX's maximum for these lists).
_PAGE = "100"


def unified_symbol(market_id: str) -> str | None:
    """``"BTC-USDT"`` -> ``"BTC/USDT"``; ``"BTC-USDT-SWAP"`` -> ``"BTC/USDT:USDT"``;
    ``"BTC-USD-SWAP"`` -> ``"BTC/USD:BTC"`` (coin-margined: quote USD, settled in the base);
    ``"BTC-USD-220527"`` -> ``"BTC/USD:BTC-220527"``. None for other shapes (options, spreads).
    The same rules as the Rust venue's ``okx::unified``."""
    parts = market_id.split("-")
    if not all(_CODE.match(p) for p in parts):
        return None
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) != 3:
        return None
    base, quote, kind = parts
    settle = base if quote == "USD" else quote
    if kind == "SWAP":
        return f"{base}/{quote}:{settle}"
    if _EXPIRY.match(kind):
        return f"{base}/{quote}:{settle}-{kind}"
    return None


def market_of_id(market_id: str) -> str | None:
    """The market of an instrument id by its shape: ``spot``, ``linear`` or ``inverse``."""
    sym = unified_symbol(market_id)
    if sym is None:
        return None
    if ":" not in sym:
        return "spot"
    return "inverse" if sym.split("/")[1].startswith("USD:") else "linear"


def instrument_dicts(body: bytes | str, market: str) -> list[dict[str, Any]]:
    """Parse a ``GET /api/v5/public/instruments`` reply into the decoder's instrument dicts
    (``market_id``, ``symbol``, ``tick_size``, ``lot_size``, ``active``) for ``market``.

    Spot entries give ``baseCcy/quoteCcy``; derivatives take base and quote from ``instFamily``
    (``"BTC-USD"``), the settle currency from ``settleCcy`` and the expiry from the instrument id
    (FUTURES). SWAP/FUTURES entries whose ``ctType`` is not ``market`` (``linear``/``inverse``)
    are left out. ``active`` is ``state == "live"``.

    Raises ``ExchangeError`` (with OKX's ``code``/``msg``) for an error reply or a body that is
    not ``{"code":"0","data":[...]}``."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise ExchangeError(f"okx instruments: unexpected reply {str(body)[:200]!r}")
    if str(obj.get("code")) != "0":
        msg = obj.get("msg")
        code = str(obj.get("code"))
        raise ExchangeError(
            f"okx instruments: error {code}: {msg}",
            code=int(code) if code.isdigit() else None,
            reason=msg if isinstance(msg, str) else None,
        )
    out: list[dict[str, Any]] = []
    for e in obj["data"]:
        if not isinstance(e, dict) or not isinstance(e.get("instId"), str):
            continue
        inst_type = e.get("instType")
        mid = e["instId"]
        if inst_type == "SPOT":
            if market != "spot":
                continue
            symbol = f"{e.get('baseCcy')}/{e.get('quoteCcy')}"
        elif inst_type in ("SWAP", "FUTURES"):
            if e.get("ctType") != market:
                continue
            base, _, quote = str(e.get("instFamily") or e.get("uly") or "").partition("-")
            settle = e.get("settleCcy")
            if not (base and quote and settle):
                continue
            symbol = f"{base}/{quote}:{settle}"
            if inst_type == "FUTURES":
                symbol += "-" + mid.rsplit("-", 1)[-1]
        else:
            continue
        out.append(
            {
                "market_id": mid,
                "symbol": symbol,
                "tick_size": e.get("tickSz") or None,
                "lot_size": e.get("lotSz") or None,
                "active": e.get("state") == "live",
            }
        )
    return out


def _arg(stream: str) -> dict[str, str]:
    """The subscribe ``args`` item of ``stream``: ``"books:BTC-USDT"`` ->
    ``{"channel":"books","instId":"BTC-USDT"}``, ``"orders:ANY"`` ->
    ``{"channel":"orders","instType":"ANY"}``, ``"account"`` -> ``{"channel":"account"}``
    (the Rust venue's ack topic of each is the stream again)."""
    channel, colon, what = stream.partition(":")
    if not colon:
        return {"channel": channel}
    return {"channel": channel, ("instType" if channel in _BY_INST_TYPE else "instId"): what}


class Okx(Adapter):
    """OKX v5 public market data (exchange id ``"okx"``, decoder ``"okx"``).

    Channels: ``book`` (``books``: 400 levels, snapshot then updates), ``bbo`` (``bbo-tbt``),
    ``trades`` (``trades``), ``candles`` (``candle1m`` on the business route).
    ``options`` keys (all optional):

    - ``book_channel``: ``"books"`` (default) or ``"books5"`` (the top 5, whole every push).
    - ``bbo_channel``: ``"bbo-tbt"`` (default) or ``"tickers"``.
    - ``candle_interval``: an OKX bar (:data:`BARS`), default ``"1m"``.
    """

    exchange_id = "okx"
    decoder_id = "okx"
    markets = ("spot", "linear", "inverse")
    channels = ("book", "trades", "bbo", "candles")
    private_channels = ("orders", "fills", "positions", "balances")
    # OKX's "Login failed due to internal error. Please try again later." (not a key refusal)
    transient_login_codes = frozenset({63999})
    # "Timestamp request expired": the clock drifted since it was measured (a long-lived
    # process, a host clock step): measured again and the login retried once (okx.md §7).
    clock_login_codes = frozenset({60006})
    # okx.md §2: `{"event":"notice","code":"64008",..}` 60 s before a service upgrade disconnect.
    rotate_on_notices = frozenset({"notice:64008"})
    option_keys = frozenset({"book_channel", "bbo_channel", "candle_interval"})
    ws_base = "wss://ws.okx.com:8443"
    rest_base = "https://www.okx.com"
    limits = Limits(
        streams_per_connection=240,  # a budget: OKX caps requests (480/h), not topics
        streams_per_message=100,
        control_msgs_per_s=3,  # a budget; OKX documents 480 requests/hour/connection
        lifetime_s=24 * 3600,  # no documented lifetime: rotate daily
        server_ping_interval_s=25,  # OKX does not ping: our `ping` every 25 s draws a `pong`
        stale_after_s=60,
        max_request_bytes=64 * 1024,
        books_per_connection=29,  # "< 30 book channels per connection" (okx.md §2)
    )

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options, credentials=credentials)
        self.book_channel: str = self.option_choice("book_channel", "books", BOOK_CHANNELS)
        self.bbo_channel: str = self.option_choice("bbo_channel", "bbo-tbt", BBO_CHANNELS)
        self.candle_interval: str = self.options.get("candle_interval", "1m")
        if self.candle_interval not in BARS:
            raise ValueError(
                f"candle_interval {self.candle_interval!r} invalid; OKX bars: {', '.join(BARS)}"
            )

    # --- symbols ------------------------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """``"BTC/USDT"`` -> ``"BTC-USDT"``, ``"BTC/USDT:USDT"`` -> ``"BTC-USDT-SWAP"``,
        ``"BTC/USD:BTC"`` -> ``"BTC-USD-SWAP"``, ``"BTC/USD:BTC-220527"`` -> ``"BTC-USD-220527"``.

        Raises ``ValueError`` naming ``symbol`` when it is none of these shapes (a settle
        currency that is neither the quote (linear) nor, with quote USD, the base (inverse))."""
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'BTC/USDT', got {symbol!r}")
        pair, colon, contract = symbol.partition(":")
        base, slash, quote = pair.partition("/")
        settle, dash, expiry = contract.partition("-")
        ok = bool(slash) and bool(_CODE.match(base)) and bool(_CODE.match(quote))
        if ok and colon:
            ok = bool(_CODE.match(settle)) and (not dash or bool(_EXPIRY.match(expiry)))
        if not ok:
            upper = symbol.upper()
            hint = f"; did you mean {upper!r}?" if upper != symbol else ""
            raise ValueError(
                f"unknown symbol {symbol!r} for okx: use 'BTC/USDT' (spot), 'BTC/USDT:USDT' or "
                f"'BTC/USD:BTC' (swaps), 'BTC/USD:BTC-220527' (futures){hint}"
            )
        if not colon:
            return f"{base}-{quote}"
        inverse = quote == "USD" and settle == base
        linear = quote != "USD" and settle == quote
        if not (inverse or linear):
            raise ValueError(
                f"unknown symbol {symbol!r} for okx: a linear contract settles in its quote "
                f"('{base}/{quote}:{quote}'), an inverse one (quote USD) in its base "
                f"('{base}/USD:{base}')"
            )
        return f"{base}-{quote}-{expiry or 'SWAP'}"

    def market_of(self, symbol: str) -> str:
        """``spot`` (``BTC/USDT``), ``linear`` (settled in the quote), ``inverse`` (quote USD,
        settled in the base); ``ValueError`` naming the symbol as :meth:`market_id`."""
        market = market_of_id(self.market_id(symbol))
        if market is None:  # pragma: no cover - market_id only builds ids of these shapes
            raise ValueError(f"unknown symbol {symbol!r} for okx")
        return market

    def decoder_market(self, route: str) -> str:
        """The market of ``route`` (``"inverse"`` for ``"inverse"`` and
        ``"inverse-business"``; ``"spot"`` for ``"private"``: an OKX decoder of any market
        reads every instrument id)."""
        if route == PRIVATE_ROUTE:
            return "spot"
        return route.removesuffix("-business")

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel): stream ``"<channel>:<instId>"``
        (``"books:BTC-USDT"``), route the symbol's market (``"spot"``, ``"linear"``,
        ``"inverse"``), with ``"-business"`` for candles.

        Raises ``ValueError`` naming the first bad channel or symbol."""
        for ch in channels:
            self.check_channel(ch)
        ids = [(sym, self.market_id(sym), self.market_of(sym)) for sym in symbols]
        return [
            Subscription(sym, ch, self._route(market, ch), f"{self._channel(ch)}:{mid}")
            for sym, mid, market in ids
            for ch in channels
        ]

    def _channel(self, channel: str) -> str:
        return {
            "book": self.book_channel,
            "bbo": self.bbo_channel,
            "trades": "trades",
            "candles": f"candle{self.candle_interval}",
        }[channel]

    @staticmethod
    def _route(market: str, channel: str) -> str:
        return f"{market}-business" if channel == "candles" else market

    # --- wire ---------------------------------------------------------------------------------
    def ws_url(self, route: str) -> str:
        """``<ws>/ws/v5/public`` (routes ``"spot"``, ``"linear"``, ``"inverse"``) or
        ``<ws>/ws/v5/business`` (the same with ``"-business"``), ``<ws>/ws/v5/private``
        (``"private"``)."""
        if route == PRIVATE_ROUTE:
            return f"{self.ws_base_url}/ws/v5/private"
        market, _, business = route.partition("-")
        if market not in self.markets or business not in ("", "business"):
            raise ValueError(f"unknown okx route {route!r}")
        return f"{self.ws_base_url}/ws/v5/{'business' if business else 'public'}"

    def subscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - no request id is sent (see the module docstring)
    ) -> list[Request]:
        """``{"op":"subscribe","args":[{"channel":..,"instId":..},...]}`` requests of at most
        ``streams_per_message`` args and ``max_request_bytes`` bytes, each done once every arg's
        topic is acknowledged (okx.md §3). ``next_id`` is not used (no ``id`` is sent: see the
        module docstring)."""
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
        streams = [s.stream for s in subs]
        out = []
        for chunk in batches(
            streams,
            lim.streams_per_message,
            lim.max_request_bytes,
            size=lambda s: len(s) + _ARG_OVERHEAD,
            overhead=_REQUEST_OVERHEAD,
        ):
            args = [_arg(s) for s in chunk]
            payload = json.dumps({"op": op, "args": args}, separators=(",", ":")).encode()
            out.append(Request(payload, frozenset(chunk), tuple(chunk)))
        return out

    def keepalive(self) -> Keepalive | None:
        """The text ``ping`` every 25 s (okx.md §4: the server drops a connection idle for 30 s;
        it answers ``pong``)."""
        return Keepalive(25.0, b"ping")

    # --- private (account) side ---------------------------------------------------------------
    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        """The account streams of ``channels`` on route ``"private"``: ``orders`` and ``fills``
        share ``"orders:ANY"`` (returned once), ``positions`` is ``"positions:ANY"``,
        ``balances`` is ``"account"``. Raises ``ValueError`` naming a channel OKX does not
        serve privately."""
        out: list[Subscription] = []
        seen: set[str] = set()
        for ch in channels:
            stream = _PRIVATE_STREAMS.get(ch)
            if stream is None:
                raise ValueError(
                    f"channel {ch!r} is not an okx account channel; "
                    f"account channels: {', '.join(self.private_channels)}"
                )
            if stream not in seen:
                seen.add(stream)
                out.append(Subscription("", ch, PRIVATE_ROUTE, stream))
        return out

    def _secrets(self) -> tuple[str, str, str]:
        creds = self.check_credentials()
        if not creds.secret or not creds.passphrase:
            raise ValueError(
                "okx private channels need an API key, its secret and its passphrase "
                "(Credentials(api_key, secret, passphrase=...) or TICKWIRE_OKX_API_KEY, "
                "TICKWIRE_OKX_API_SECRET, TICKWIRE_OKX_PASSPHRASE)"
            )
        return creds.api_key, creds.secret, creds.passphrase

    def login_requests(self, route: str, next_id: NextId) -> list[Request]:  # noqa: ARG002
        """On ``"private"``: one ``{"op":"login","args":[{"apiKey","passphrase","timestamp",
        "sign"}]}`` with ``timestamp`` the server clock's epoch seconds (okx.md §7), settled by
        the ``login`` reply (which has no id nor topic: the ack key ``"login"`` is never
        carried, so the keyless reply settles it). Other routes: none. Raises ``ValueError``
        without the key, secret and passphrase."""
        if route != PRIVATE_ROUTE:
            return []
        key, secret, passphrase = self._secrets()
        ts = okx_auth.seconds_timestamp(self.clock.now_ms())
        args = okx_auth.login_args(key, secret, passphrase, ts)
        remember([args["sign"]])  # a signature replays within 30 s: scrubbed like the keys
        payload = json.dumps({"op": "login", "args": [args]}, separators=(",", ":")).encode()
        return [Request(payload, frozenset({"login"}), ("login",), login=True)]

    def server_time_request(self) -> tuple[str, dict[str, str]] | None:
        """``GET <rest>/api/v5/public/time`` (no key)."""
        return self.rest_base_url + "/api/v5/public/time", dict(self.rest_params)

    def parse_server_time(self, body: bytes) -> int:
        """``{"code":"0","data":[{"ts":"1597026383085"}]}`` -> 1597026383085 (ms); raises
        ``ExchangeError`` for anything else."""
        try:
            obj = json.loads(body)
            ts = obj["data"][0]["ts"] if str(obj.get("code")) == "0" else None
            if isinstance(ts, str) and ts.isdigit():
                return int(ts)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            pass
        raise ExchangeError(f"okx server time: unexpected reply {body[:200]!r}")

    def _signed_get(self, path: str, query: dict[str, str]) -> RestCall:
        """A ``GET`` of ``path`` with ``query`` signed over the path and query string exactly as
        sent (the query stays in the URL, not in ``params``, so the client cannot re-encode it
        differently from what was signed)."""
        key, secret, passphrase = self._secrets()
        request_path = path + (
            "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        )
        ts = okx_auth.iso_timestamp(self.clock.now_ms())
        headers = okx_auth.rest_headers(key, secret, passphrase, ts, "GET", request_path)
        return RestCall("GET", self.rest_base_url + request_path, {}, headers)

    def account_requests(self, what: str, since_ms: int) -> list[RestCall]:
        """``"fills"``: ``GET /api/v5/trade/fills?begin=<since_ms>&limit=100`` (fills of the
        last 3 days, newest first); ``"orders"``: ``GET /api/v5/trade/orders-pending?limit=100``
        (open orders) and ``GET /api/v5/trade/orders-history?instType=<T>&limit=100`` for each
        instType (orders completed in the last 7 days; the parameter is required), whose rows
        the caller keeps from ``since_ms`` on by their update time. Signed with the
        ``OK-ACCESS-*`` headers at the server clock's time. Raises ``ValueError`` without
        credentials or for another ``what``."""
        if what == "fills":
            return [
                self._signed_get("/api/v5/trade/fills", {"begin": str(since_ms), "limit": _PAGE})
            ]
        if what == "orders":
            return [self._signed_get("/api/v5/trade/orders-pending", {"limit": _PAGE})] + [
                self._signed_get("/api/v5/trade/orders-history", {"instType": t, "limit": _PAGE})
                for t in _HISTORY_INST_TYPES
            ]
        raise ValueError(f"unknown account list {what!r}: 'fills' or 'orders'")

    # --- instruments ----------------------------------------------------------------------------
    async def fetch_instruments(
        self, http: aiohttp.ClientSession, market: str
    ) -> list[dict[str, Any]]:
        """``GET <rest>/api/v5/public/instruments?instType=..`` (SPOT for ``spot``; SWAP and
        FUTURES for ``linear``/``inverse``), parsed by :func:`instrument_dicts`. Raises
        ``ExchangeError`` for an error reply and what aiohttp raises."""
        if market not in _INST_TYPES:
            raise ValueError(f"unknown okx market {market!r}; markets: {', '.join(self.markets)}")
        url = self.rest_base_url + "/api/v5/public/instruments"
        out: list[dict[str, Any]] = []
        for inst_type in _INST_TYPES[market]:
            params = {**self.rest_params, "instType": inst_type}
            out.extend(
                await self.get_parsed(http, url, params, lambda b: instrument_dicts(b, market))
            )
        return out

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """OKX trade ids grow per instrument; candles are ordered by start time. Books and BBOs
        are left out: their sequence is None on feeds without ``seqId``."""
        from .._core import Candle, Trade

        return {Trade: attrgetter("trade_id"), Candle: attrgetter("start_ts")}

    # --- public trades over REST (trade recovery after a reconnect, REST fallback) ----------
    #: ``GET /api/v5/market/trades`` returns at most 500 trades
    past_trades_max = 500

    def recent_trades_request(self, symbol: str, limit: int) -> RestPoll | None:
        """``GET <rest>/api/v5/market/trades?instId=&limit=`` (public, up to 500 of the latest
        trades, newest first; 100 requests per 2 s per IP, weight 1 here), read by
        ``Decoder.apply_trades``. OKX trade ids grow per instrument but the ``trades`` channel
        aggregates fills (one id per taker order and price), so ids are not consecutive:
        recovered by time and id."""
        return RestPoll(
            self.rest_base_url + "/api/v5/market/trades",
            {"instId": self.market_id(symbol), "limit": str(min(limit, self.past_trades_max))},
            1,
        )

    # --- REST fallback and candle backfill (bbo, depth, candles) ---------------------------------
    # OKX v5 public market data: GET /api/v5/market/ticker (20 requests / 2 s per IP),
    # /market/books (sz at most 400; 40 / 2 s), /market/candles (limit at most 300, newest first;
    # 40 / 2 s). okx.md gives no REST limit; OKX counts requests per endpoint, not weights: the
    # budget is the tightest one, 20 per 2 s = 600 per minute, each request weight 1.
    rest_weight_per_minute = 600
    candles_max = 300

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """``GET /api/v5/market/ticker`` with ``instId``, weight 1."""
        return RestPoll(
            f"{self.rest_base_url}/api/v5/market/ticker", {"instId": self.market_id(symbol)}, 1
        )

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """``data[0]``'s ``bidPx/bidSz/askPx/askSz`` and ``ts`` (ms string) -> :class:`RestQuote`
        (no sequence: the ticker has none). ``ExchangeError`` for a ``code`` other than
        ``"0"``, another instrument or another shape."""
        item = self._data(body, "ticker")
        try:
            quote = RestQuote(
                str(item["bidPx"]),
                str(item["bidSz"]),
                str(item["askPx"]),
                str(item["askSz"]),
                None,
                int(item["ts"]) * 1_000_000,
            )
        except (ValueError, TypeError, KeyError):
            raise ExchangeError(f"unreadable OKX ticker {body[:200]!r}") from None
        if item.get("instId") != self.market_id(symbol):
            raise ExchangeError(f"OKX ticker of {item.get('instId')!r}, not {symbol}")
        return quote

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """``GET /api/v5/market/books`` with ``instId`` and ``sz`` = ``levels`` (at most 400),
        weight 1; read by the decoder's ``parse_snapshot`` (the REST book has no ``seqId``:
        its ``ts`` in ms is the snapshot's sequence)."""
        return RestPoll(
            f"{self.rest_base_url}/api/v5/market/books",
            {"instId": self.market_id(symbol), "sz": str(max(1, min(levels, 400)))},
            1,
        )

    def candles_request(self, symbol: str, limit: int) -> tuple[str, dict[str, str]] | None:
        """``GET /api/v5/market/candles`` with ``instId``, ``bar`` (the ``candle_interval``
        option) and ``limit`` (at most 300)."""
        return (
            f"{self.rest_base_url}/api/v5/market/candles",
            {
                "instId": self.market_id(symbol),
                "bar": self.candle_interval,
                "limit": str(max(1, min(limit, self.candles_max))),
            },
        )

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """Spot candles of a reply to :meth:`candles_request` (see :meth:`parse_candles_of`)."""
        return self._candles(body, spot=True)

    def parse_candles_of(self, symbol: str, body: bytes) -> list[RestCandle]:
        """``data`` rows ``[ts ms, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` (strings,
        newest first) of ``symbol``, oldest first; ``closed`` from ``confirm`` (``"1"``). The
        volume is the candle channel's, in the base currency: ``vol`` on spot, ``volCcy`` on
        swaps and futures (whose ``vol`` counts contracts). ``ExchangeError`` for a ``code``
        other than ``"0"`` or another shape."""
        return self._candles(body, spot=self.market_of(symbol) == "spot")

    def _candles(self, body: bytes, *, spot: bool) -> list[RestCandle]:
        rows = self._envelope(body, "candles")
        return candles_of(
            rows,
            lambda r: (r[0], r[1], r[2], r[3], r[4], r[5] if spot else r[6]),
            self.candle_interval,
            "okx",
            newest_first=True,
            closed=lambda r: r[8] == "1",
        )

    @staticmethod
    def _envelope(body: bytes, what: str) -> list[Any]:
        """The ``data`` list of a v5 reply; ``ExchangeError`` for a ``code`` other than
        ``"0"`` or another shape."""
        obj = loads(body, "okx", what)
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
            raise ExchangeError(f"unreadable OKX {what} reply {body[:200]!r}")
        if obj.get("code") != "0":
            code, msg = obj.get("code"), obj.get("msg")
            raise ExchangeError(f"okx {what}: {code} {msg}", code=code, reason=msg)
        data: list[Any] = obj["data"]
        return data

    def _data(self, body: bytes, what: str) -> dict[str, Any]:
        """The one item of a v5 reply's ``data``; ``ExchangeError`` otherwise."""
        data = self._envelope(body, what)
        if len(data) != 1 or not isinstance(data[0], dict):
            raise ExchangeError(f"okx {what}: {len(data)} items, expected 1")
        item: dict[str, Any] = data[0]
        return item
