"""Hyperliquid public market data adapter (``hyperliquid``: markets ``linear``, ``spot``).

Every Hyperliquid-specific fact of the Python side lives here; it follows
shared/docs/exchanges/hyperliquid.md (the official Python SDK ``websocket_manager.py`` and
``utils/types.py``, the public API docs): §1 endpoints, §2 limits, §3 subscribe, §4 heartbeat,
§5 order book, §6 trades/candles, §9 symbols; and the public docs' info endpoint pages
(``POST /info`` ``{"type":"meta"}`` and ``{"type":"spotMeta"}``; tick and lot size rules).

- WebSocket: ``wss://api.hyperliquid.xyz/ws``, one URL for perps and spot. The Rust venue of
  either market decodes every coin on a connection (the coin says what it is: ``BTC`` is a perp,
  ``@107`` or ``PURR/USDC`` a spot pair); the adapter still gives each market its own
  connections (routes ``"linear"`` and ``"spot"``), so that each decoder gets that market's
  instruments table. The default market is ``linear``: perps are Hyperliquid's main market,
  and every recording we have is of perps.
- Subscribe: one subscription per message, ``{"method":"subscribe","subscription":{"type":
  "l2Book","coin":"BTC"}}`` (``trades``, ``bbo``, ``candle`` with ``interval``); the ack
  ``{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{..}}}``
  carries no id: the Rust venue reports it with topic ``"<type>:<unified symbol>"``
  (``"l2Book:BTC/USDC:USDC"``, ``"candle:BTC/USDC:USDC:1m"``), which is each
  :class:`Subscription`'s ``stream`` and its request's ack key. Errors are
  ``{"channel":"error","data":"<text>"}`` without a code or the subscription: one fails the
  oldest request in flight (Hyperliquid answers in order).
- Keepalive: the client sends ``{"method":"ping"}``, the venue answers ``{"channel":"pong"}``;
  the venue drops a connection without client messages for 60 s: we ping every 30 s.
- Limits (per IP, §2): 1000 subscriptions, 2000 messages a minute, 100 connections (a newer
  SDK encodes 10); budgets below stay under them.
- Books: every ``l2Book`` push is the whole book (20 levels a side, no deltas, no sequence, no
  checksum). The decoder replaces the book on each push and drops one older (by its ``time``)
  than the book it has; recovery is a new subscription.
- Instruments: ``POST /info {"type":"meta"}`` (perps: ``universe[].name``, ``szDecimals``,
  ``isDelisted``) and ``{"type":"spotMeta"}`` (``universe[]`` pairs ``name`` ``@<n>`` or
  ``PURR/USDC`` with ``tokens: [base, quote]`` indexes into ``tokens[]``, whose ``szDecimals``
  is the base's). Sizes step ``10**-szDecimals``; prices carry at most ``6 - szDecimals``
  decimals on perps and ``8 - szDecimals`` on spot (and 5 significant figures): ``tick_size``
  is that finest step.
- Symbols (ccxt): perp ``BTC`` <-> ``BTC/USDC:USDC`` (by name, no lookup needed); spot pairs
  ``@107`` <-> ``HYPE/USDC`` through ``spotMeta`` only (and ``PURR/USDC`` names itself). A spot
  feed therefore needs the ``spotMeta`` table, which ``Feed`` loads when it checks symbols
  (``validate_symbols``, on by default). Without it a spot connection cannot name its coin:
  each connect attempt fails with a ``ValueError`` naming the pair (retried until
  ``start_timeout``, whose error repeats it).

Private (account) channels (hyperliquid.md §7, §8): reads need no key and no signature, only
the account's public address: ``Credentials(account="0x<40 hex>")`` (the master account's, not
an API wallet's). Route ``"private"`` (its own connections, the same ``/ws`` URL); no login.

- ``orders`` -> ``orderUpdates``, ``fills`` -> ``userFills``, ``positions`` and ``balances``
  -> ``webData2`` (one stream for both), each ``{"method":"subscribe","subscription":{"type":
  ..,"user":"0x.."}}`` acked with topic ``"<type>"``. ``userEvents`` (channel ``user``) carries
  the same fills again: it is decoded but not subscribed. Decoded fields, the status table and
  what Balance means (the USDC perp margin account: total = account value incl. unrealized
  PnL, locked = margin used, free = withdrawable) are in ``rust/src/exchanges/hyperliquid.rs``.
- ``userFills`` starts with a snapshot of recent fills (``isSnapshot``) on every subscribe:
  the feed dedupes fills by ``tid``, so a reconnect delivers only fills not seen before.
- Recovery after a reconnect: ``POST /info`` ``{"type":"userFillsByTime","user",
  "startTime"}`` (fills) and ``{"type":"historicalOrders","user"}`` (orders; no time filter,
  the feed keeps those since the loss). Unsigned: the body names the user.

A simulator differs from live only by base URL: ``Hyperliquid(base_url="http://127.0.0.1:PORT")``
gives ``ws://127.0.0.1:PORT/ws`` and ``http://127.0.0.1:PORT/info``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..exceptions import ExchangeError
from ..redact import redact_url
from . import (
    Adapter,
    Keepalive,
    Limits,
    NextId,
    Request,
    RestCall,
    RestPoll,
    RestQuote,
    Subscription,
)
from ._rest import loads

if TYPE_CHECKING:
    import aiohttp

    from ..auth import Credentials

__all__ = ["Hyperliquid", "meta_instruments", "perp_coin", "spot_instruments"]

_CODE = re.compile(r"^[A-Za-z0-9]{1,20}$")
#: Candle intervals of the ``candle`` subscription (hyperliquid.md §6).
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M")
#: Most price decimals by market, before taking ``szDecimals`` off (the docs' tick size rule).
MAX_DECIMALS = {"linear": 6, "spot": 8}
#: tickwire channel -> Hyperliquid subscription type.
_TYPES = {"book": "l2Book", "trades": "trades", "bbo": "bbo", "candles": "candle"}
#: account channel -> Hyperliquid user subscription type (hyperliquid.md §8).
USER_TYPES = {
    "orders": "orderUpdates",
    "fills": "userFills",
    "positions": "webData2",
    "balances": "webData2",
}
#: The route of the account streams (own connections on the one ``/ws`` URL).
PRIVATE_ROUTE = "private"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def perp_coin(symbol: str) -> str | None:
    """``"BTC/USDC:USDC"`` -> ``"BTC"`` (any perp name of letters and digits, ``kPEPE`` too);
    None for anything else. The same rule as the Rust venue's ``perp_coin``."""
    base, sep, rest = symbol.partition("/")
    if sep and rest == "USDC:USDC" and _CODE.match(base):
        return base
    return None


def _step(decimals: int) -> str:
    return format(Decimal(1).scaleb(-decimals), "f")


def _reply(body: bytes | str, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ExchangeError(f"hyperliquid {what}: unexpected reply {str(body)[:200]!r}") from None


def meta_instruments(body: bytes | str) -> list[dict[str, Any]]:
    """Parse a ``POST /info {"type":"meta"}`` reply into the decoder's instrument dicts
    (``market_id`` the coin, ``symbol`` ``<coin>/USDC:USDC``, ``tick_size`` ``10**-(6 -
    szDecimals)``, ``lot_size`` ``10**-szDecimals``, ``active`` unless ``isDelisted``).

    Raises ``ExchangeError`` for a body that is not ``{"universe":[...]}``."""
    obj = _reply(body, "meta")
    if not isinstance(obj, dict) or not isinstance(obj.get("universe"), list):
        raise ExchangeError(f"hyperliquid meta: unexpected reply {str(body)[:200]!r}")
    out: list[dict[str, Any]] = []
    for e in obj["universe"]:
        if not isinstance(e, dict):
            continue
        name, sz = e.get("name"), e.get("szDecimals")
        if not (isinstance(name, str) and _CODE.match(name) and isinstance(sz, int)):
            continue  # HIP-3 `dex:COIN` names and malformed entries
        if not 0 <= sz <= MAX_DECIMALS["linear"]:
            continue
        out.append(
            {
                "market_id": name,
                "symbol": f"{name}/USDC:USDC",
                "tick_size": _step(MAX_DECIMALS["linear"] - sz),
                "lot_size": _step(sz),
                "active": not e.get("isDelisted", False),
            }
        )
    return out


def spot_instruments(body: bytes | str) -> list[dict[str, Any]]:
    """Parse a ``POST /info {"type":"spotMeta"}`` reply into instrument dicts: ``market_id``
    the pair's ``name`` (``@107``, ``PURR/USDC``), ``symbol`` ``<base token>/<quote token>``,
    ``lot_size`` ``10**-szDecimals`` of the base token, ``tick_size`` ``10**-(8 - szDecimals)``.
    A symbol two pairs would share (tokens of the same name) is kept for the canonical or first
    pair only, so that a symbol names one coin.

    Raises ``ExchangeError`` for a body that is not ``{"tokens":[...],"universe":[...]}``."""
    obj = _reply(body, "spotMeta")
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("tokens"), list)
        or not isinstance(obj.get("universe"), list)
    ):
        raise ExchangeError(f"hyperliquid spotMeta: unexpected reply {str(body)[:200]!r}")
    tokens = {
        t["index"]: t
        for t in obj["tokens"]
        if isinstance(t, dict) and isinstance(t.get("index"), int)
    }
    by_symbol: dict[str, dict[str, Any]] = {}
    pairs = sorted(
        (p for p in obj["universe"] if isinstance(p, dict)),
        key=lambda p: not p.get("isCanonical", False),
    )
    for p in pairs:
        name, idx = p.get("name"), p.get("tokens")
        if not (isinstance(name, str) and isinstance(idx, list) and len(idx) == 2):
            continue
        base, quote = tokens.get(idx[0]), tokens.get(idx[1])
        if base is None or quote is None:
            continue
        b, q, sz = base.get("name"), quote.get("name"), base.get("szDecimals")
        if not (isinstance(b, str) and isinstance(q, str) and isinstance(sz, int)):
            continue
        if not 0 <= sz <= MAX_DECIMALS["spot"]:
            continue
        symbol = f"{b}/{q}"
        if symbol in by_symbol:
            continue
        by_symbol[symbol] = {
            "market_id": name,
            "symbol": symbol,
            "tick_size": _step(MAX_DECIMALS["spot"] - sz),
            "lot_size": _step(sz),
            "active": True,
        }
    return sorted(by_symbol.values(), key=lambda i: str(i["market_id"]))


class Hyperliquid(Adapter):
    """Hyperliquid public market data (exchange id ``"hyperliquid"``, decoder ``"hyperliquid"``).

    Channels: ``book`` (``l2Book``: the whole book, 20 levels a side, every push), ``trades``,
    ``bbo``, ``candles`` (``candle``). ``options`` keys (all optional):

    - ``candle_interval``: a Hyperliquid interval (:data:`INTERVALS`), default ``"1m"``.
    """

    exchange_id = "hyperliquid"
    decoder_id = "hyperliquid"
    markets = ("linear", "spot")
    channels = ("book", "trades", "bbo", "candles")
    private_channels = ("orders", "fills", "positions", "balances")
    option_keys = frozenset({"candle_interval"})
    ws_base = "wss://api.hyperliquid.xyz"
    rest_base = "https://api.hyperliquid.xyz"
    limits = Limits(
        streams_per_connection=200,  # a budget: 1000 subscriptions per IP (hyperliquid.md §2)
        streams_per_message=1,  # one subscription per message
        control_msgs_per_s=10,  # a budget under 2000 messages a minute per IP
        lifetime_s=24 * 3600,  # no documented lifetime: rotate daily
        server_ping_interval_s=30,  # the venue does not ping: our ping every 30 s draws a pong
        stale_after_s=60,
    )

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options, credentials=credentials)
        self.candle_interval: str = self.options.get("candle_interval", "1m")
        if self.candle_interval not in INTERVALS:
            raise ValueError(
                f"candle_interval {self.candle_interval!r} invalid; Hyperliquid intervals: "
                f"{', '.join(INTERVALS)}"
            )

    # --- symbols ------------------------------------------------------------------------------
    def market_of(self, symbol: str) -> str:
        """``linear`` for a perp (``BTC/USDC:USDC``), ``spot`` for a pair (``HYPE/USDC``).
        Raises ``ValueError`` naming the symbol for any other shape."""
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'BTC/USDC:USDC', got {symbol!r}")
        if perp_coin(symbol) is not None:
            return "linear"
        base, sep, quote = symbol.partition("/")
        if sep and ":" not in quote and base and quote and "/" not in quote:
            return "spot"
        hint = ""
        if sep and ":" in quote:
            hint = f"; Hyperliquid perps settle in USDC: {base + '/USDC:USDC'!r}"
        raise ValueError(
            f"unknown symbol {symbol!r} for hyperliquid: use 'BTC/USDC:USDC' (perps) or "
            f"'HYPE/USDC' (spot){hint}"
        )

    def market_id(self, symbol: str) -> str:
        """The coin: ``"BTC/USDC:USDC"`` -> ``"BTC"``; a spot pair -> its ``spotMeta`` name
        (``"HYPE/USDC"`` -> ``"@107"``), from the table this process fetched.

        Raises ``ValueError`` naming ``symbol`` for a bad shape, or a spot pair that is not in
        the fetched table (or with no table fetched yet)."""
        market = self.market_of(symbol)
        coin = perp_coin(symbol)
        if coin is not None:
            return coin
        for i in self.decoder_instruments(market):
            if i["symbol"] == symbol:
                return str(i["market_id"])
        raise ValueError(
            f"unknown symbol {symbol!r} for hyperliquid: a spot pair's coin (@<n>) comes from "
            'POST /info {"type":"spotMeta"}, which does not list it (or was not fetched)'
        )

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel): stream ``"<type>:<symbol>"``
        (``"l2Book:BTC/USDC:USDC"``; candles ``"candle:<symbol>:<interval>"``), route the
        symbol's market. Spot coins are resolved when subscribing (:meth:`subscribe_requests`).

        Raises ``ValueError`` naming the first bad channel or symbol."""
        for ch in channels:
            self.check_channel(ch)
        markets = [(sym, self.market_of(sym)) for sym in symbols]
        return [
            Subscription(sym, ch, market, self._stream(ch, sym))
            for sym, market in markets
            for ch in channels
        ]

    def _stream(self, channel: str, symbol: str) -> str:
        kind = _TYPES[channel]
        if channel == "candles":
            return f"{kind}:{symbol}:{self.candle_interval}"
        return f"{kind}:{symbol}"

    # --- wire ---------------------------------------------------------------------------------
    def ws_url(self, route: str) -> str:
        """``<ws>/ws`` for every route (``"linear"``, ``"spot"``, ``"private"``)."""
        if route not in (*self.markets, PRIVATE_ROUTE):
            raise ValueError(f"unknown hyperliquid route {route!r}")
        return f"{self.ws_base_url}/ws"

    def subscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - Hyperliquid echoes no id (see the module docstring)
    ) -> list[Request]:
        """One ``{"method":"subscribe","subscription":{..}}`` per subscription, done when its
        ``subscriptionResponse`` arrives (hyperliquid.md §3). Raises ``ValueError`` for a spot
        pair missing from the fetched ``spotMeta`` table."""
        return [self._request("subscribe", s) for s in subs]

    def unsubscribe_requests(
        self,
        subs: Sequence[Subscription],
        next_id: NextId,  # noqa: ARG002 - (idem)
    ) -> list[Request]:
        """``"method":"unsubscribe"`` with the same subscription object, acknowledged alike."""
        return [self._request("unsubscribe", s) for s in subs]

    def _request(self, method: str, sub: Subscription) -> Request:
        if sub.route == PRIVATE_ROUTE:
            user = {"type": sub.stream, "user": self.user_address()}
            payload = json.dumps(
                {"method": method, "subscription": user}, separators=(",", ":")
            ).encode()
            return Request(payload, frozenset({sub.stream}), (sub.stream,))
        subscription: dict[str, str] = {
            "type": _TYPES[sub.channel],
            "coin": self.market_id(sub.symbol),
        }
        if sub.channel == "candles":
            subscription["interval"] = self.candle_interval
        payload = json.dumps(
            {"method": method, "subscription": subscription}, separators=(",", ":")
        ).encode()
        return Request(payload, frozenset({sub.stream}), (sub.stream,))

    def keepalive(self) -> Keepalive | None:
        """``{"method":"ping"}`` every 30 s (hyperliquid.md §4: idle connections close after
        60 s; the venue answers ``{"channel":"pong"}``)."""
        return Keepalive(30.0, b'{"method":"ping"}')

    # --- private (account) side -------------------------------------------------------------
    def user_address(self) -> str:
        """The account's address (``Credentials(account="0x..")``). Raises ``ValueError``
        without credentials or without a 40-hex-digit ``0x`` address (never showing a
        secret)."""
        creds = self.check_credentials()
        if not creds.account or not _ADDRESS.match(creds.account):
            raise ValueError(
                "hyperliquid private channels read by user address: "
                'Credentials(account="0x<40 hex digits>") (the master account, not an API wallet)'
            )
        return creds.account.lower()

    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        """One subscription per user stream the ``channels`` need, in the order asked
        (``positions`` and ``balances`` share ``webData2``): symbol ``""``, route
        ``"private"``, stream the subscription type. Raises ``ValueError`` naming a channel
        Hyperliquid does not serve privately, or for missing credentials / address."""
        for ch in channels:
            if ch not in self.private_channels:
                raise ValueError(
                    f"channel {ch!r} is not a hyperliquid private channel; "
                    f"private: {', '.join(self.private_channels)}"
                )
        self.user_address()
        subs: dict[str, Subscription] = {}
        for ch in channels:
            kind = USER_TYPES[ch]
            subs.setdefault(kind, Subscription("", ch, PRIVATE_ROUTE, kind))
        return list(subs.values())

    def account_requests(self, what: str, since_ms: int) -> list[RestCall]:
        """``POST /info`` ``userFillsByTime`` from ``since_ms`` (fills) or
        ``historicalOrders`` (orders, the latest state of the account's recent orders). No
        signature: Hyperliquid's reads name the user. Raises ``ValueError`` without an
        address or for another ``what``."""
        user = self.user_address()
        if what == "fills":
            body: dict[str, Any] = {"type": "userFillsByTime", "user": user, "startTime": since_ms}
        elif what == "orders":
            body = {"type": "historicalOrders", "user": user}
        else:
            raise ValueError(f"hyperliquid has no account list {what!r}; lists: fills, orders")
        return [
            RestCall(
                "POST",
                self.rest_base_url + "/info",
                dict(self.rest_params),
                {"Content-Type": "application/json"},
                json.dumps(body, separators=(",", ":")).encode(),
            )
        ]

    # --- instruments ----------------------------------------------------------------------------
    async def fetch_instruments(
        self, http: aiohttp.ClientSession, market: str
    ) -> list[dict[str, Any]]:
        """``POST <rest>/info`` with ``{"type":"meta"}`` (``linear``) or ``{"type":"spotMeta"}``
        (``spot``), parsed by :func:`meta_instruments` / :func:`spot_instruments`. Raises
        ``ExchangeError`` for an error reply and what aiohttp raises."""
        if market not in self.markets:
            raise ValueError(
                f"unknown hyperliquid market {market!r}; markets: {', '.join(self.markets)}"
            )
        url = self.rest_base_url + "/info"
        kind = "meta" if market == "linear" else "spotMeta"
        async with http.post(url, params=self.rest_params, json={"type": kind}) as resp:
            status, body = resp.status, await resp.read()
        if status != 200:
            text = body[:200].decode("utf-8", "replace")
            raise ExchangeError(
                f"POST {redact_url(url)} {kind}: HTTP {status}: {text}", reason=text
            )
        return meta_instruments(body) if market == "linear" else spot_instruments(body)

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """None: trade ids (``tid``) are not ordered (the recording's run 121451470284048,
        588047386913648, 85392298469503, ...), several trades share one ``time``, and a book's
        only order is its push ``time``, which repeats. While two sessions overlap, events come
        from the primary one only."""
        return {}

    async def unavailable_symbols(
        self, http: aiohttp.ClientSession, symbols: Sequence[str]
    ) -> dict[str, str]:
        """The symbols ``meta`` (perps) or ``spotMeta`` (spot) does not list, or lists as
        delisted. Raises as :meth:`fetch_instruments`."""
        out: dict[str, str] = {}
        for sym in symbols:
            market = self.market_of(sym)
            listed = {i["symbol"]: i for i in await self.instruments(http, market)}
            what = "meta" if market == "linear" else "spotMeta"
            info = listed.get(sym)
            if info is None:
                out[sym] = f"{sym} is not listed in hyperliquid {what}"
            elif info.get("active", True) is False:
                out[sym] = f"{info['market_id']} is listed but delisted"
        return out

    # --- REST fallback (bbo, depth) ---------------------------------------------------------------
    # Public data is POSTed to /info: {"type":"l2Book","coin":..} answers the book (20 levels a
    # side, the same object as an l2Book push's data). Hyperliquid's docs put the REST limit at
    # 1200 weight per minute per IP, l2Book weighing 2 (hyperliquid.md gives no REST weights).
    # No candle backfill: candleSnapshot is a POST as well, and tw.Cache's candles_request
    # hook is a GET.
    rest_weight_per_minute = 1200

    def _l2_book(self, symbol: str) -> RestPoll:
        coin = self.market_id(symbol)
        return RestPoll(self.rest_base_url + "/info", {}, 2, {"type": "l2Book", "coin": coin})

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """``POST /info {"type":"l2Book","coin":C}`` (weight 2): its top level a side is the
        BBO."""
        return self._l2_book(symbol)

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """The first level a side of an ``l2Book`` reply ``{"coin","time","levels":[[bids],
        [asks]]}`` (``{"px","sz","n"}`` each); ``time`` (ms) is the sequence and the time, as
        the pushes'. ``ExchangeError`` for ``null`` (an unknown coin), another coin, an empty
        side or another shape."""
        obj = loads(body, "hyperliquid", "l2Book")
        try:
            (bid, *_), (ask, *_) = obj["levels"]
            quote = RestQuote(
                str(bid["px"]),
                str(bid["sz"]),
                str(ask["px"]),
                str(ask["sz"]),
                int(obj["time"]),
                int(obj["time"]) * 1_000_000,
            )
        except (ValueError, TypeError, KeyError):
            raise ExchangeError(f"unreadable Hyperliquid l2Book {body[:200]!r}") from None
        if obj.get("coin") != self.market_id(symbol):
            raise ExchangeError(f"Hyperliquid l2Book of {obj.get('coin')!r}, not {symbol}")
        return quote

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """The ``l2Book`` request of :meth:`bbo_request`: Hyperliquid answers 20 levels a side
        whatever ``levels`` asks; read by the decoder's ``parse_snapshot``."""
        del levels  # the book has a fixed depth
        return self._l2_book(symbol)

    # --- trade recovery (recentTrades) ------------------------------------------------------------
    # POST /info {"type":"recentTrades","coin":..} answers the coin's latest trades, each the
    # object a `trades` push carries (tid, px, sz, time, side, hash, users). tids are not
    # consecutive: recovered by time and id. The request takes no count and the docs state
    # none for the reply, so past_trades_max is 1: a list then counts as reaching back to the
    # last delivered trade only when it holds that trade or an older one (or is empty), never
    # because it is shorter than some assumed length. Weight 20, as Hyperliquid's limits page
    # puts most info requests (hyperliquid.md gives no REST weights).
    past_trades_max = 1

    def recent_trades_request(self, symbol: str, limit: int) -> RestPoll | None:
        """``POST /info {"type":"recentTrades","coin":C}`` (weight 20; ``limit`` is ignored:
        the request takes no count), read by ``Decoder.apply_trades``."""
        del limit  # Hyperliquid answers a fixed number of the latest trades
        coin = self.market_id(symbol)
        return RestPoll(
            self.rest_base_url + "/info", {}, 20, {"type": "recentTrades", "coin": coin}
        )
