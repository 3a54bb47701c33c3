"""KuCoin spot public market data (exchange id ``kucoin``; market ``spot``).

Every KuCoin-specific fact of the Python side lives here. It follows KuCoin's spot API docs
("Websocket Feed", "Level-2 Market Data", "Public Channels", "Get Symbols List", "Get Part
Order Book"), summarised in shared/docs/exchanges/kucoin.md:

- The WebSocket URL is not fixed: ``POST <rest>/api/v1/bullet-public`` (no auth) answers
  ``{"code":"200000","data":{"token":..,"instanceServers":[{"endpoint":..,"pingInterval":
  <ms>,"pingTimeout":<ms>,..}]}}``; the client connects to ``<endpoint>?token=<token>&connectId=
  <unique id>`` and pings every ``pingInterval`` ms. :meth:`Kucoin.connect_target` does this on
  every connect and reconnect (a token is only good for connecting).
- The server greets with ``{"id":"<connectId>","type":"welcome"}`` (a ``ControlReply`` of kind
  ``welcome``, which settles no request).
- Subscribe: ``{"id":N,"type":"subscribe","topic":"/market/level2:BTC-USDT,ETH-USDT",
  "privateChannel":false,"response":true}`` (``unsubscribe`` alike): one topic with up to 100
  comma-separated symbols; the ack ``{"id":"N","type":"ack"}`` echoes the id (the decoder
  reports the decimal string as the integer N: the ack key). A refusal is
  ``{"id":"N","type":"error","code":<int>,"data":"<message>"}``: ``SubscriptionError`` with that
  code and message.
- Topics (stream names, one per symbol): ``/market/level2:<ID>`` (``book``), ``/market/ticker:
  <ID>`` (``bbo``), ``/market/match:<ID>`` (``trades``), ``/market/candles:<ID>_<type>``
  (``candles``; option ``candle_interval``, ccxt timeframes ``1m`` (default) ... ``1w``, sent
  one topic per request as KuCoin names one symbol per candle topic).
- Keepalive: ``{"id":"<n>","type":"ping"}`` every ``pingInterval`` (18 s in the docs), answered
  by ``{"id":..,"type":"pong"}``.
- Limits: 100 client messages per 10 s, 100 symbols per subscribe request, 400 topics per
  connection (spot, current docs); no connection lifetime is documented (rotated after 24 h).
- Books: REST snapshot + ``/market/level2`` deltas (decoder ``recovery == "rest"``):
  ``GET <rest>/api/v1/market/orderbook/level2_100?symbol=<ID>`` (public; option
  ``snapshot_depth`` 20 or 100) with its ``sequence``; deltas carry ``sequenceStart/End`` and a
  per-row sequence (the decoder applies the docs' rule). The public snapshot holds the top 20 or
  100 levels only, so a book knows the levels beyond them only once a delta names them. The
  full snapshot (``/api/v3/market/orderbook/level2``) needs an API key and is not used.
- Instruments: ``GET <rest>/api/v2/symbols``: ``symbol`` (the market id), ``baseCurrency``,
  ``quoteCurrency``, ``priceIncrement`` (tick), ``baseIncrement`` (lot), ``enableTrading``.
  Prices of BTC-quoted pairs go down to 1e-10 (``priceIncrement`` "0.0000000001"): exact.
- Unified symbols (ccxt): ``BTC-USDT`` <-> ``BTC/USDT``. Where the instruments list is loaded
  its base/quote currencies are the authority.

A simulator differs from live only by base URL: ``Kucoin(base_url="http://127.0.0.1:PORT")``
asks the simulator's bullet endpoint, which names its own WebSocket endpoint.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Hashable, Sequence
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

__all__ = ["Kucoin", "parse_instruments"]

_CURRENCY = re.compile(r"^[A-Z0-9]{1,30}$")
# ccxt timeframe -> KuCoin candle type
_INTERVALS = {
    "1m": "1min",
    "3m": "3min",
    "5m": "5min",
    "15m": "15min",
    "30m": "30min",
    "1h": "1hour",
    "2h": "2hour",
    "4h": "4hour",
    "6h": "6hour",
    "8h": "8hour",
    "12h": "12hour",
    "1d": "1day",
    "1w": "1week",
}
_TOPICS = {
    "book": "/market/level2",
    "bbo": "/market/ticker",
    "trades": "/market/match",
    "candles": "/market/candles",
}
_BULLET_PATH = "/api/v1/bullet-public"
_INFO_PATH = "/api/v2/symbols"
_SNAPSHOT_DEPTHS = (20, 100)
_OK = "200000"


def _check_reply(url: str, status: int, body: bytes) -> dict[str, Any]:
    """KuCoin's REST envelope ``{"code":"200000","data":..}`` -> the whole object. Raises
    ``ExchangeError`` with KuCoin's ``code`` (as an int where it is one) and ``msg`` otherwise."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    code = obj.get("code") if isinstance(obj, dict) else None
    if status != 200 or code != _OK or not isinstance(obj, dict):
        msg = obj.get("msg") if isinstance(obj, dict) else body[:200].decode(errors="replace")
        num = int(code) if isinstance(code, str) and code.isdigit() else None
        raise ExchangeError(f"{redact_url(url)}: HTTP {status}: {msg}", code=num, reason=msg)
    return obj


class Kucoin(Adapter):
    """KuCoin spot public streams. ``options`` keys (all optional):

    - ``candle_interval``: ccxt timeframe of ``candles``, default ``"1m"`` (``_1min``).
    - ``snapshot_depth``: levels of the REST book snapshot, 20 or 100 (default).
    """

    exchange_id = "kucoin"
    decoder_id = "kucoin"
    markets = ("spot",)
    channels = ("book", "trades", "bbo", "candles")
    option_keys = frozenset({"candle_interval", "snapshot_depth"})
    ws_base = "wss://ws-api-spot.kucoin.com"
    rest_base = "https://api.kucoin.com"
    limits = Limits(
        streams_per_connection=400,
        streams_per_message=100,
        control_msgs_per_s=10,
        lifetime_s=24 * 3600,
        server_ping_interval_s=18,
        stale_after_s=45,
    )
    #: The ping interval until a bullet answer names one (the docs' example value).
    ping_interval_s = 18.0

    def __init__(
        self,
        base_url: str | None = None,
        urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(base_url=base_url, urls=urls, options=options)
        interval = self.options.get("candle_interval", "1m")
        if interval not in _INTERVALS:
            raise ValueError(
                f"candle_interval {interval!r} invalid; KuCoin intervals: {', '.join(_INTERVALS)}"
            )
        self.candle_interval: str = interval
        depth = self.options.get("snapshot_depth", 100)
        if depth not in _SNAPSHOT_DEPTHS:
            raise ValueError(f"snapshot_depth {depth!r} not valid for kucoin; choose 20 or 100")
        self.snapshot_depth: int = depth
        self._pings = itertools.count(1)

    # --- symbols ------------------------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """``"BTC/USDT"`` -> ``"BTC-USDT"``. Raises ``ValueError`` naming ``symbol`` when it is
        not a unified spot symbol (a derivative ``"BTC/USDT:USDT"``, lower case, no slash)."""
        if not isinstance(symbol, str):
            raise ValueError(f"symbol must be a string like 'BTC/USDT', got {symbol!r}")
        base, sep, quote = symbol.partition("/")
        if ":" in quote:
            raise ValueError(
                f"symbol {symbol!r} is a derivatives symbol; kucoin serves spot only "
                f"(like '{base}/{quote.partition(':')[0]}')"
            )
        if not sep or not _CURRENCY.match(base) or not _CURRENCY.match(quote):
            upper = symbol.upper()
            hint = f", did you mean {upper!r}?" if upper != symbol and "/" in upper else ""
            raise ValueError(
                f"unknown symbol {symbol!r} for kucoin: use the unified form like 'BTC/USDT'{hint}"
            )
        return f"{base}-{quote}"

    # --- instruments ----------------------------------------------------------------------------
    async def fetch_instruments(
        self,
        http: aiohttp.ClientSession,
        market: str,  # noqa: ARG002 - one market
    ) -> list[dict[str, Any]]:
        """``GET <rest>/api/v2/symbols`` parsed by :func:`parse_instruments`. Raises
        ``ExchangeError`` with KuCoin's ``code``/``msg`` on an error reply or an unreadable
        body, and whatever aiohttp raises."""
        url = self.rest_base_url + _INFO_PATH
        async with http.get(url, params=dict(self.rest_params)) as resp:
            status, body = resp.status, await resp.read()
        obj = _check_reply(f"GET {url}", status, body)
        try:
            return parse_instruments(obj["data"])
        except (KeyError, TypeError) as exc:
            raise ExchangeError(f"GET {redact_url(url)}: unexpected reply {body[:200]!r}") from exc

    # --- connecting -----------------------------------------------------------------------------
    def ws_url(self, route: str) -> str:
        """``<ws>/`` (KuCoin's endpoint without a token: :meth:`connect_target` asks the
        bullet endpoint for the real URL and its token). ``route`` must be ``"spot"``."""
        if route not in self.markets:
            raise ValueError(f"unknown kucoin market {route!r}; known: spot")
        return self.ws_base_url + "/"

    async def bullet(self, http: aiohttp.ClientSession) -> tuple[str, float]:
        """``POST <rest>/api/v1/bullet-public`` -> (connect URL ``<endpoint>?token=..&connectId=
        ..``, ping interval in seconds). Raises ``ExchangeError`` (error reply, no instance
        server, unreadable body) and whatever aiohttp raises."""
        url = self.rest_base_url + _BULLET_PATH
        async with http.post(url, params=dict(self.rest_params)) as resp:
            status, body = resp.status, await resp.read()
        obj = _check_reply(f"POST {url}", status, body)
        try:
            data = obj["data"]
            token = data["token"]
            server = data["instanceServers"][0]
            endpoint, ping_ms = server["endpoint"], server["pingInterval"]
            if not (isinstance(token, str) and isinstance(endpoint, str)):
                raise TypeError("token and endpoint must be strings")
            interval = float(ping_ms) / 1000.0
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ExchangeError(f"POST {redact_url(url)}: unexpected reply {body[:200]!r}") from exc
        sep = "&" if "?" in endpoint else "?"
        return f"{endpoint}{sep}token={token}&connectId={uuid.uuid4().hex}", interval

    async def connect_target(self, http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        """The bullet answer as a :class:`ConnectTarget`, asked again on every connect and
        reconnect: the token URL, and the keepalive at the ``pingInterval`` it names. Raises
        ``ValueError`` for an unknown route and what :meth:`bullet` raises."""
        self.ws_url(route)
        url, interval = await self.bullet(http)
        return ConnectTarget(url, self._keepalive(interval))

    def _keepalive(self, interval_s: float) -> Keepalive:
        return Keepalive(interval_s, b'{"id":"%d","type":"ping"}' % next(self._pings))

    def keepalive(self) -> Keepalive:
        """``{"id":"<n>","type":"ping"}`` every :attr:`ping_interval_s` (the bullet answer's
        ``pingInterval`` replaces it on connect, see :meth:`connect_target`)."""
        return self._keepalive(self.ping_interval_s)

    # --- streams ------------------------------------------------------------------------------
    def _topic(self, channel: str, market_id: str) -> str:
        if channel == "candles":
            return f"{_TOPICS[channel]}:{market_id}_{_INTERVALS[self.candle_interval]}"
        return f"{_TOPICS[channel]}:{market_id}"

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel): route ``"spot"``, stream = the
        one-symbol topic (``"/market/level2:BTC-USDT"``). Raises ``ValueError`` naming the first
        bad symbol or channel."""
        for ch in channels:
            self.check_channel(ch)
        out: list[Subscription] = []
        for sym in symbols:
            mid = self.market_id(sym)
            out.extend(Subscription(sym, ch, "spot", self._topic(ch, mid)) for ch in channels)
        return out

    def _requests(self, kind: str, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """Streams of one topic prefix joined into ``<prefix>:A,B,..`` (at most 100 symbols);
        candle topics one per request."""
        groups: dict[str, list[str]] = {}
        for s in subs:
            prefix, _, _ = s.stream.partition(":")
            key = s.stream if prefix == _TOPICS["candles"] else prefix
            groups.setdefault(key, []).append(s.stream)
        out = []
        for streams in groups.values():
            prefix = streams[0].partition(":")[0]
            for chunk in batches(streams, self.limits.streams_per_message):
                rid = next_id()
                topic = prefix + ":" + ",".join(s.partition(":")[2] for s in chunk)
                payload = json.dumps(
                    {
                        "id": rid,
                        "type": kind,
                        "topic": topic,
                        "privateChannel": False,
                        "response": True,
                    },
                    separators=(",", ":"),
                ).encode()
                out.append(Request(payload, frozenset({rid}), tuple(chunk)))
        return out

    def subscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``{"id":N,"type":"subscribe","topic":"<prefix>:A,B",...,"response":true}`` per topic
        prefix and 100 symbols, done when the ack echoing N arrives."""
        return self._requests("subscribe", subs, next_id)

    def unsubscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``"type":"unsubscribe"``, batched and acknowledged like :meth:`subscribe_requests`."""
        return self._requests("unsubscribe", subs, next_id)

    def snapshot_request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """``GET <rest>/api/v1/market/orderbook/level2_<20|100>?symbol=<ID>``."""
        path = f"/api/v1/market/orderbook/level2_{self.snapshot_depth}"
        return self.rest_base_url + path, {**self.rest_params, "symbol": self.market_id(symbol)}

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """Books by ``sequenceEnd`` (strictly increasing per symbol), BBOs by (book sequence,
        event time), candles by (start, event time). Trade ids are hex strings with no order
        tickwire can rely on: trades come from the primary connection while two overlap."""
        from .._core import BBO, BookUpdate, Candle

        return {
            BookUpdate: attrgetter("sequence"),
            BBO: attrgetter("sequence", "exchange_ts"),
            Candle: attrgetter("start_ts", "exchange_ts"),
        }

    # --- REST fallback and candle backfill (bbo, depth, candles) ---------------------------------
    # KuCoin spot public endpoints: GET /api/v1/market/orderbook/level1 (weight 2),
    # level2_20 / level2_100 (weight 2 / 4: the snapshot request), /api/v1/market/candles
    # (weight 3, at most 1500 rows, newest first). kucoin.md gives no REST limit; KuCoin's
    # rate-limit page puts the public pool at 2000 weight per 30 s per IP (VIP 0): 4000 per
    # minute assumed.
    rest_weight_per_minute = 4000
    candles_max = 1500

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """``GET /api/v1/market/orderbook/level1?symbol=X``, weight 2."""
        url = self.rest_base_url + "/api/v1/market/orderbook/level1"
        return RestPoll(url, {"symbol": self.market_id(symbol)}, 2)

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """``data``'s ``bestBid/bestBidSize/bestAsk/bestAskSize``, ``sequence`` and ``time``
        (ms) -> :class:`RestQuote`. The reply names no symbol (``symbol`` is not checked).
        ``ExchangeError`` for a ``code`` other than ``"200000"`` or another shape."""
        del symbol  # level1 replies name none
        d = self._data(body, "level1")
        try:
            return RestQuote(
                str(d["bestBid"]),
                str(d["bestBidSize"]),
                str(d["bestAsk"]),
                str(d["bestAskSize"]),
                int(d["sequence"]),
                int(d["time"]) * 1_000_000,
            )
        except (ValueError, TypeError, KeyError):
            raise ExchangeError(f"unreadable KuCoin level1 {body[:200]!r}") from None

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """``GET /api/v1/market/orderbook/level2_20`` (``levels`` <= 20, weight 2) or
        ``level2_100`` (weight 4), read by the decoder's ``parse_snapshot``; None past 100
        levels (the full book needs an API key)."""
        if levels > 100:
            return None
        depth = 20 if levels <= 20 else 100
        url = f"{self.rest_base_url}/api/v1/market/orderbook/level2_{depth}"
        return RestPoll(url, {"symbol": self.market_id(symbol)}, 2 if depth == 20 else 4)

    def candles_request(self, symbol: str, limit: int) -> tuple[str, dict[str, str]] | None:
        """``GET /api/v1/market/candles?type=<1min..>&symbol=X``: KuCoin takes no count, it
        answers up to 1500 rows (``limit`` is not sent; ``tw.Cache`` keeps what its rings
        hold)."""
        del limit  # KuCoin's candles request has no count parameter
        url = self.rest_base_url + "/api/v1/market/candles"
        return url, {"type": _INTERVALS[self.candle_interval], "symbol": self.market_id(symbol)}

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """``data`` rows ``[time s, open, close, high, low, volume, turnover]`` (strings,
        newest first), oldest first; the volume is the base volume, as the candles channel's.
        The newest row's ``closed`` is None (the reply has no flag). ``ExchangeError`` for a
        ``code`` other than ``"200000"`` or another shape."""
        rows = self._data(body, "candles")
        if not isinstance(rows, list):
            raise ExchangeError(f"unreadable KuCoin candles {body[:200]!r}")
        return candles_of(
            rows,
            lambda r: (r[0], r[1], r[3], r[4], r[2], r[5]),
            self.candle_interval,
            "kucoin",
            newest_first=True,
            scale_ns=1_000_000_000,
        )

    @staticmethod
    def _data(body: bytes, what: str) -> Any:
        """The ``data`` of a ``{"code":"200000","data":..}`` reply; ``ExchangeError``
        otherwise."""
        obj = loads(body, "kucoin", what)
        if not isinstance(obj, dict) or "data" not in obj:
            raise ExchangeError(f"unreadable KuCoin {what} reply {body[:200]!r}")
        if obj.get("code") != _OK:
            code, msg = obj.get("code"), obj.get("msg")
            raise ExchangeError(f"kucoin {what}: {code} {msg}", code=code, reason=msg)
        return obj["data"]


def parse_instruments(entries: Any) -> list[dict[str, Any]]:
    """KuCoin ``data`` of ``/api/v2/symbols`` -> instrument dicts ``{"market_id" (``symbol``),
    "symbol" (``<baseCurrency>/<quoteCurrency>``), "tick_size" (``priceIncrement``),
    "lot_size" (``baseIncrement``), "active" (``enableTrading``)}``. Entries without a
    ``symbol``/``baseCurrency``/``quoteCurrency`` string are skipped. Raises ``TypeError`` if
    ``entries`` is not a list."""
    if not isinstance(entries, list):
        raise TypeError(f"instruments list expected, got {type(entries).__name__}")
    out = []
    for e in entries:
        if not isinstance(e, dict) or not all(
            isinstance(e.get(k), str) and e.get(k)
            for k in ("symbol", "baseCurrency", "quoteCurrency")
        ):
            continue
        out.append(
            {
                "market_id": e["symbol"],
                "symbol": f"{e['baseCurrency']}/{e['quoteCurrency']}",
                "tick_size": e.get("priceIncrement") or None,
                "lot_size": e.get("baseIncrement") or None,
                "active": e.get("enableTrading", True) is not False,
            }
        )
    return out
