"""Kraken spot (``kraken``) adapter: WebSocket v2 live by default, v1 on request.

Every Kraken-specific fact of the Python side lives here (see shared/docs/exchanges/kraken.md,
which summarizes docs.kraken.com: spot WebSocket v2 ``book``/``trade``/``ticker``/``ohlc``/
``ping``/``subscribe``, the v1 reference, and REST ``/0/public/AssetPairs``):

- Endpoints: v2 ``wss://ws.kraken.com/v2`` (default), v1 ``wss://ws.kraken.com``
  (``options={"version": 1}``); one market, ``spot``. The simulator market ``kraken`` replays
  a v1 recording on ``/`` and the same messages in v2's form on ``/v2``.
- Symbols: the ccxt unified symbol is Kraken's v2 name (``"BTC/USD"``), which is also the
  decoder's market id. v1 names BTC ``XBT`` and DOGE ``XDG`` (``"XBT/USD"``): requests on v1
  use those names; the Rust decoder translates them back.
- Channels: ``book`` (v2/v1 ``book``, depth ``options["depth"]``: 10, 25, 100, 500 or 1000,
  default 100), ``trades`` (``trade``), ``bbo`` (v2 ``ticker`` with ``event_trigger: "bbo"``,
  v1 ``spread``), ``candles`` (``ohlc``, interval ``options["candle_interval"]`` minutes,
  default 1).
- Subscribe: v2 ``{"method":"subscribe","params":{"channel":..,"symbol":[..],..},"req_id":N}``,
  one ack per symbol ``{"method":"subscribe","result":{"channel","symbol",..},"success":true,
  "req_id":N}``, errors ``"success":false,"error":".."`` with the ``req_id`` (and no channel).
  So that an error names its request, v2 requests carry one symbol each and are settled by
  their ``req_id``. v1 ``{"event":"subscribe","reqid":N,"pair":[..],"subscription":{..}}``,
  one ``subscriptionStatus`` per pair with the pair and channel, so v1 requests carry up to
  ``limits.streams_per_message`` pairs and are settled per topic.
- Topics (each subscription's ``stream``, equal to the Rust decoder's ``ControlReply.topic``):
  ``"<channel>:<v2 symbol>"`` with Kraken's channel name, e.g. ``"book:BTC/USD"``,
  ``"trade:BTC/USD"``, ``"ticker:BTC/USD"`` (v2 bbo), ``"spread:BTC/USD"`` (v1 bbo),
  ``"ohlc:BTC/USD"``.
- Keepalive: the server sends a heartbeat about once a second when idle; the client also pings
  (v2 ``{"method":"ping"}``, v1 ``{"event":"ping"}``) every 30 s.
- Recovery: Kraken books have no sequence numbers; the decoder checks the CRC32 checksum after
  each message and a mismatch resubscribes the book (unsubscribe then subscribe: a fresh
  snapshot).
- Limits: Kraken's message rate is load-dependent and undocumented as a number; tickwire sends
  at most 5 control messages per second. No connection lifetime is documented.
- Instruments: ``GET https://api.kraken.com/0/public/AssetPairs`` (``wsname``,
  ``pair_decimals``, ``lot_decimals``, ``status``); tick and lot sizes are given as
  10^-decimals, the precisions the v2 book checksum writes prices and sizes with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ..exceptions import ExchangeError
from ..redact import redact_url
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

__all__ = ["Kraken", "parse_asset_pairs", "v1_name", "v2_name"]

_ASSET = re.compile(r"^[A-Z0-9]{1,16}$")
_DEPTHS = (10, 25, 100, 500, 1000)
_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
_V1_ASSETS = {"BTC": "XBT", "DOGE": "XDG"}
_V2_ASSETS = {v: k for k, v in _V1_ASSETS.items()}


def v1_name(symbol: str) -> str:
    """A v2 name / unified symbol as Kraken v1 writes it: ``"BTC/USD"`` -> ``"XBT/USD"``."""
    return "/".join(_V1_ASSETS.get(a, a) for a in symbol.split("/"))


def v2_name(pair: str) -> str:
    """A v1 pair name as v2 (and ccxt) writes it: ``"XDG/XBT"`` -> ``"DOGE/BTC"``."""
    return "/".join(_V2_ASSETS.get(a, a) for a in pair.split("/"))


def _unit(decimals: Any, what: str) -> str:
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 18:
        raise ExchangeError(f"AssetPairs: {what} {decimals!r} is not a decimal count")
    return "1" if decimals == 0 else "0." + "0" * (decimals - 1) + "1"


def parse_asset_pairs(body: bytes) -> list[dict[str, Any]]:
    """Kraken REST ``/0/public/AssetPairs`` body -> instrument dicts.

    Shape: ``{"error": [], "result": {"XXBTZUSD": {"wsname": "XBT/USD", "pair_decimals": 1,
    "lot_decimals": 8, "status": "online", ...}, ...}}``. Each pair with a ``wsname`` gives
    ``{"market_id": v2 name, "symbol": v2 name, "tick_size": 10^-pair_decimals, "lot_size":
    10^-lot_decimals, "active": status == "online"}`` (strings; ``active`` True when no status
    is sent). Raises ``ExchangeError`` with Kraken's messages when ``error`` is not empty or
    the body is not that shape."""
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or not isinstance(obj.get("result"), dict):
        errors = obj.get("error") if isinstance(obj, dict) else None
        raise ExchangeError(
            f"AssetPairs: unexpected reply {body[:200]!r}",
            reason="; ".join(map(str, errors)) if errors else None,
        )
    if obj.get("error"):
        msg = "; ".join(map(str, obj["error"]))
        raise ExchangeError(f"AssetPairs: {msg}", reason=msg)
    out = []
    for entry in obj["result"].values():
        if not isinstance(entry, dict) or not isinstance(entry.get("wsname"), str):
            continue
        name = v2_name(entry["wsname"])
        out.append(
            {
                "market_id": name,
                "symbol": name,
                "tick_size": _unit(entry.get("pair_decimals"), "pair_decimals"),
                "lot_size": _unit(entry.get("lot_decimals"), "lot_decimals"),
                "active": entry.get("status", "online") == "online",
            }
        )
    return out


class Kraken(Adapter):
    """Kraken spot. ``options`` keys (all optional):

    - ``version``: 2 (default, ``wss://ws.kraken.com/v2``) or 1 (``wss://ws.kraken.com``; what
      the simulator market ``kraken`` serves).
    - ``depth``: book depth per side, one of 10, 25, 100, 500, 1000 (default 100).
    - ``candle_interval``: ``ohlc`` interval in minutes, one of 1, 5, 15, 30, 60, 240, 1440,
      10080, 21600 (default 1).

    Raises ``ValueError`` naming a bad option value.
    """

    exchange_id = "kraken"
    markets = ("spot",)
    channels = ("book", "trades", "bbo", "candles")
    option_keys = frozenset({"version", "depth", "candle_interval"})
    ws_base = "wss://ws.kraken.com"
    rest_base = "https://api.kraken.com"
    limits = Limits(
        streams_per_connection=500,
        streams_per_message=50,
        control_msgs_per_s=5,
        lifetime_s=24 * 3600,
        server_ping_interval_s=1,
        stale_after_s=15,
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = self.options.get("version", 2)
        if self.version not in (1, 2):
            raise ValueError(f"kraken option version={self.version!r}: expected 1 or 2")
        self.depth = self.options.get("depth", 100)
        if self.depth not in _DEPTHS:
            raise ValueError(f"kraken option depth={self.depth!r}: expected one of {_DEPTHS}")
        self.candle_interval = self.options.get("candle_interval", 1)
        if self.candle_interval not in _INTERVALS:
            raise ValueError(
                f"kraken option candle_interval={self.candle_interval!r}: "
                f"expected minutes, one of {_INTERVALS}"
            )

    # --- naming -------------------------------------------------------------------------------
    def market_id(self, symbol: str) -> str:
        """The v2 name of unified spot ``symbol`` (``"BTC/USD"`` -> ``"BTC/USD"``). Raises
        ``ValueError`` naming it unless it is ``BASE/QUOTE`` in upper case (Kraken spot has no
        ``:settle`` symbols)."""
        parts = symbol.split("/") if isinstance(symbol, str) else []
        if len(parts) != 2 or not all(_ASSET.match(p) for p in parts):
            raise ValueError(
                f"symbol {symbol!r} is not a kraken spot symbol; expected BASE/QUOTE "
                'such as "BTC/USD"'
            )
        return v2_name(symbol)

    def _channel(self, channel: str) -> str:
        if channel == "book":
            return "book"
        if channel == "trades":
            return "trade"
        if channel == "bbo":
            return "ticker" if self.version == 2 else "spread"
        return "ohlc"

    def subscriptions(self, symbols: Sequence[str], channels: Sequence[str]) -> list[Subscription]:
        """One :class:`Subscription` per (symbol, channel) on route ``"spot"``, stream
        ``"<kraken channel>:<v2 symbol>"``. Raises ``ValueError`` naming a bad symbol/channel."""
        for ch in channels:
            self.check_channel(ch)
        return [
            Subscription(sym, ch, "spot", f"{self._channel(ch)}:{self.market_id(sym)}")
            for sym in symbols
            for ch in channels
        ]

    # --- wire ---------------------------------------------------------------------------------
    def ws_url(self, route: str) -> str:  # noqa: ARG002 - one endpoint
        """``<ws base>/v2`` (version 2) or the ws base itself (version 1)."""
        return f"{self.ws_base_url}/v2" if self.version == 2 else self.ws_base_url

    def _params(self, channel: str) -> dict[str, Any]:
        """The channel's subscription parameters besides the symbols."""
        if channel == "book":
            return {"depth": self.depth}
        if channel == "ohlc":
            return {"interval": self.candle_interval}
        if channel == "ticker":
            return {"event_trigger": "bbo"}
        if channel == "trade" and self.version == 2:
            return {"snapshot": False}
        return {}

    def _requests(
        self, method: str, subs: Sequence[Subscription], next_id: NextId
    ) -> list[Request]:
        by_channel: dict[str, list[Subscription]] = {}
        for s in subs:
            by_channel.setdefault(s.stream.split(":", 1)[0], []).append(s)
        out = []
        for channel, group in by_channel.items():
            params = self._params(channel)
            if self.version == 2:
                for s in group:
                    rid = next_id()
                    body = {
                        "method": method,
                        "params": {"channel": channel, "symbol": [self.market_id(s.symbol)]}
                        | params,
                        "req_id": rid,
                    }
                    out.append(Request(_dump(body), frozenset({rid}), (s.stream,)))
                continue
            for chunk in batches(group, self.limits.streams_per_message):
                rid = next_id()
                body = {
                    "event": method,
                    "reqid": rid,
                    "pair": [v1_name(self.market_id(s.symbol)) for s in chunk],
                    "subscription": {"name": channel} | params,
                }
                streams = tuple(s.stream for s in chunk)
                out.append(Request(_dump(body), frozenset(streams), streams))
        return out

    def subscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """v2: one ``subscribe`` per subscription, settled by its ``req_id``; v1: one
        ``subscribe`` per channel and up to ``limits.streams_per_message`` pairs, settled by
        each pair's ``subscriptionStatus`` topic."""
        return self._requests("subscribe", subs, next_id)

    def unsubscribe_requests(self, subs: Sequence[Subscription], next_id: NextId) -> list[Request]:
        """``unsubscribe`` requests, built and settled like :meth:`subscribe_requests`."""
        return self._requests("unsubscribe", subs, next_id)

    def keepalive(self) -> Keepalive:
        """``{"method":"ping"}`` (v2) or ``{"event":"ping"}`` (v1) every 30 s."""
        payload = b'{"method":"ping"}' if self.version == 2 else b'{"event":"ping"}'
        return Keepalive(30.0, payload)

    # --- instruments ------------------------------------------------------------------------
    async def fetch_instruments(
        self,
        http: aiohttp.ClientSession,
        market: str,  # noqa: ARG002 - one market
    ) -> list[dict[str, Any]]:
        """``GET <rest>/0/public/AssetPairs`` parsed by :func:`parse_asset_pairs`. Raises
        ``ExchangeError`` on a non-200 reply or an error body, and what the request raises."""
        url = f"{self.rest_base_url}/0/public/AssetPairs"
        async with http.get(url, params=self.rest_params) as resp:
            status, body = resp.status, await resp.read()
        if status != 200:
            raise ExchangeError(f"GET {redact_url(url)}: HTTP {status}: {body[:200]!r}")
        return parse_asset_pairs(body)

    def dedup_keys(self) -> dict[type, Callable[[Any], Hashable]]:
        """v2 trades by ``trade_id`` (a per-pair sequence number); v1 trades carry no id."""
        from .._core import Trade

        if self.version == 2:
            return {Trade: attrgetter("trade_id")}
        return {}

    # --- REST fallback and candle backfill (bbo, depth, candles) ---------------------------------
    # Kraken spot public endpoints GET /0/public/Ticker, /Depth (count up to 500) and /OHLC (the
    # last 720 candles, oldest first), each taking the pair's altname (v1 name without "/":
    # XBTUSD) and answering {"error":[..],"result":{"<PAIR>":..}}. kraken.md gives no REST
    # limit; Kraken's docs describe public calls as limited per IP to about one per second:
    # 60 per minute assumed, weight 1 each.
    rest_weight_per_minute = 60
    candles_max = 720

    def _public(self, path: str, symbol: str, **params: str) -> RestPoll:
        pair = v1_name(self.market_id(symbol)).replace("/", "")
        return RestPoll(f"{self.rest_base_url}/0/public/{path}", {"pair": pair, **params}, 1)

    def bbo_request(self, symbol: str) -> RestPoll | None:
        """``GET /0/public/Ticker?pair=<altname>``, weight 1."""
        return self._public("Ticker", symbol)

    def parse_bbo(self, symbol: str, body: bytes) -> RestQuote:
        """The one pair's ``b``/``a`` ``[price, whole lot volume, lot volume]`` -> price and
        lot volume (no sequence or time: the ticker has neither). ``ExchangeError`` for a
        non-empty ``error`` list or another shape. The result's key is Kraken's own pair name
        (``XXBTZUSD``): ``symbol`` is not checked against it."""
        del symbol  # the result's key is not the requested name
        t = self._result(body, "Ticker")
        try:
            return RestQuote(str(t["b"][0]), str(t["b"][2]), str(t["a"][0]), str(t["a"][2]))
        except (TypeError, KeyError, IndexError):
            raise ExchangeError(f"unreadable Kraken ticker {body[:200]!r}") from None

    def depth_request(self, symbol: str, levels: int) -> RestPoll | None:
        """``GET /0/public/Depth?pair=<altname>&count=<levels, at most 500>``, weight 1; read
        by the decoder's ``parse_snapshot`` (no sequence: the newest level's time stands for
        it)."""
        return self._public("Depth", symbol, count=str(max(1, min(levels, 500))))

    def candles_request(self, symbol: str, limit: int) -> tuple[str, dict[str, str]] | None:
        """``GET /0/public/OHLC?pair=<altname>&interval=<candle_interval>``: Kraken takes no
        count and answers its last 720 candles (``limit`` is not sent)."""
        del limit  # OHLC has no count parameter
        poll = self._public("OHLC", symbol, interval=str(self.candle_interval))
        return poll.url, poll.params

    def parse_candles(self, body: bytes) -> list[RestCandle]:
        """The one pair's rows ``[time s, open, high, low, close, vwap, volume, count]``,
        oldest first; the newest one is the candle still open (``closed`` None).
        ``ExchangeError`` for a non-empty ``error`` list or another shape."""
        rows = self._result(body, "OHLC")
        if not isinstance(rows, list):
            raise ExchangeError(f"unreadable Kraken OHLC {body[:200]!r}")
        interval = _CANDLE_NAMES[int(self.candle_interval)]
        return candles_of(
            rows,
            lambda r: (r[0], r[1], r[2], r[3], r[4], r[6]),
            interval,
            "kraken",
            newest_first=False,
            scale_ns=1_000_000_000,
        )

    @staticmethod
    def _result(body: bytes, what: str) -> Any:
        """The value of the one pair in ``result`` (besides OHLC's ``last``); ``ExchangeError``
        for a non-empty ``error`` list or another shape."""
        obj = loads(body, "kraken", what)
        if not isinstance(obj, dict):
            raise ExchangeError(f"unreadable Kraken {what} reply {body[:200]!r}")
        if obj.get("error"):
            raise ExchangeError(f"kraken {what}: {obj['error'][0]}", reason=str(obj["error"][0]))
        result = obj.get("result")
        pairs = [v for k, v in result.items() if k != "last"] if isinstance(result, dict) else []
        if len(pairs) != 1:
            raise ExchangeError(f"unreadable Kraken {what} reply {body[:200]!r}")
        return pairs[0]


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


#: Kraken candle interval (minutes) -> the name its candle events carry (the decoder's)
_CANDLE_NAMES = {
    1: "1m",
    5: "5m",
    15: "15m",
    30: "30m",
    60: "1h",
    240: "4h",
    1440: "1d",
    10080: "1w",
    21600: "2w",
}
