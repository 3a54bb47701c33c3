"""Hyperliquid public market data (``hyperliquid``) in the simulator.

Sources: shared/docs/exchanges/hyperliquid.md §1-§6 (the official Python SDK and the public API
docs: the ``/ws`` endpoint, ``{"method":"subscribe"}``, ``subscriptionResponse`` acks,
``{"method":"ping"}`` -> ``{"channel":"pong"}``, the 60 s idle cut, ``l2Book``/``trades``
shapes) and the recording shipped in ``tickwire/data/hyperliquid`` (a real 2025-01-26
connection: 46 ``l2Book`` pushes and 9 ``trades`` pushes of the BTC perp; see its SOURCES.md).

Endpoint: ``/ws`` (perps and spot on one URL; market ``linear``, the default). A
simulator-only ``?streams=a,b`` query subscribes streams in the URL.

Recording lines are Hyperliquid data frames ``{"channel":"l2Book"|"trades",..,"data":..}``;
the stream key is ``"<channel>:<coin>"`` (``"l2Book:BTC"``, ``"trades:BTC"``); a connection
receives each frame as recorded.

Client messages, as Hyperliquid answers them:

- ``{"method":"ping"}`` -> ``{"channel":"pong"}`` (a client keepalive: a connection whose
  client sent no message for 60 s is closed, hyperliquid.md §4);
- ``{"method":"subscribe"|"unsubscribe","subscription":{"type":..,"coin":..}}`` ->
  ``{"channel":"subscriptionResponse","data":{"method":..,"subscription":{..}}}`` echoing the
  subscription (``l2Book`` with ``"nSigFigs":null,"mantissa":null`` as the recorded ack shows);
  a type the recording does not carry for that coin, or a coin it does not hold, answers
  ``{"channel":"error","data":"Invalid subscription <json>"}`` (the venue's error shape: a text,
  no code; the wording follows what client libraries' tests show);
- anything else -> ``{"channel":"error","data":"Error parsing JSON into valid websocket
  request: <text>"}``.

Books: on subscribe to ``l2Book:<coin>`` the venue sends the book at once (every push is the
whole book): the last recorded push before the replay position, as recorded; before the first
push there is nothing to send and the stream's first push follows. Every push carries its
``time``; a client drops one older than its book.

Private (account) side (hyperliquid.md §7, §8; no signature: reads name a public user
address; an account is registered with ``SimAccount(address="0x...")``):

- Subscriptions ``userFills``, ``orderUpdates``, ``userEvents`` and ``webData2`` with
  ``"user": "0x<40 hex>"`` (any address; another ``user`` answers ``Invalid subscription``),
  acked with the subscription echoed; stream keys ``"<type>:<address lowercased>"``.
- ``userFills`` first sends ``{"isSnapshot":true,"user":..,"fills":[..]}`` with the account's
  fills so far (every (re)subscribe: a client dedupes by ``tid``), then
  ``{"user":..,"fills":[..]}`` per change. ``userEvents`` pushes the same fills on channel
  ``user`` as ``{"fills":[..]}``. Fill objects: ``coin, px, sz, side ("B"/"A"), time,
  startPosition, dir ("Open Long", "Close Short", "Long > Short", ...; spot "Buy"/"Sell"),
  closedPnl, hash, oid, crossed (taker), fee, tid, cloid (when the order has one),
  liquidation ({liquidatedUser, markPx, method} on a liquidation fill), feeToken, twapId``.
- ``orderUpdates``: ``[{"order":{coin, side, limitPx, sz (left), oid, timestamp, origSz,
  cloid?}, "status", "statusTimestamp"}]``; statuses ``open`` (new and partly filled),
  ``filled``, ``canceled``, ``rejected``. A market order's ``limitPx`` is the fill price.
- ``webData2``: ``{"clearinghouseState":{marginSummary, crossMarginSummary,
  crossMaintenanceMarginUsed, withdrawable, assetPositions, time}, "serverTime", "user"}``
  on subscribe and after every change of a position or balance (the real message carries
  much more UI state; these are the keys of the public docs' ``clearinghouseState``).
  ``accountValue`` = wallet + unrealized PnL, ``totalMarginUsed`` = margin of positions and
  open orders, ``withdrawable`` = the engine's free USDC. Closed positions are not listed.
- Ids: ``oid`` integers from 40,000,000,001, ``tid`` integers from 700,000,000,000,001, fill
  ``hash`` a 0x + 64 hex digest of the ``tid``. Markets: every recorded perp coin, margined and
  settled in USDC, fees 0.015% maker and 0.045% taker (the base tier). Resting orders fill
  when the recorded ``trades`` cross them.
- REST ``POST /info``: ``userFills`` (every fill, newest first), ``userFillsByTime``
  (``startTime``..``endTime`` ms inclusive, oldest first), ``historicalOrders`` (each order's
  latest ``{order, status, statusTimestamp}``, newest first), ``openOrders``,
  ``clearinghouseState``. An :class:`~tickwire.simulator.AuthServerError` at ``"rest"``
  answers one of these with HTTP 500.

REST: ``POST /info`` with ``{"type":"recentTrades","coin":C}`` answers the objects of the
recorded ``trades`` pushes of ``C`` published up to the replay position, newest first (at most
``RECENT_TRADES_MAX``; ``null`` for a coin without trades: the trade recovery after a
reconnect); ``{"type":"l2Book"}`` the last recorded book push's ``data``; ``{"type":"meta"}``
lists the recorded perps (``name``, ``szDecimals`` = the most decimals the recording shows in
that coin's sizes; other fields of the real reply are left out) and ``{"type":"spotMeta"}``
lists no pairs (``{"tokens":[],"universe":[]}``: the recording has no spot coin). Another
``type`` answers HTTP 422 with Hyperliquid's text
``Failed to deserialize the JSON body into the target type``; a GET answers 405.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from ..account import (
    AccountChange,
    AccountMarket,
    FillState,
    MarketTrade,
    OrderState,
    SimAccount,
)
from ..faults import CloseAfter
from ..venue import (
    DemoSpec,
    MarketSpec,
    Outcome,
    PackagedRecording,
    RestHandler,
    VenueSim,
    WireFormat,
    WsEndpoint,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..server import Simulator

_INFO_PATH = "/info"
#: Private subscription types (hyperliquid.md §8) the simulator serves.
USER_CHANNELS = ("userFills", "orderUpdates", "userEvents", "webData2")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
#: Private REST ``/info`` types the simulator answers.
USER_INFO = frozenset(
    {"userFills", "userFillsByTime", "historicalOrders", "openOrders", "clearinghouseState"}
)
_ORDER_STATUS = {
    "new": "open",
    "partially_filled": "open",
    "filled": "filled",
    "canceled": "canceled",
    "rejected": "rejected",
}
#: Data channels (hyperliquid.md §5, §6) whose pushes a recording may hold.
#: The most trades a ``recentTrades`` reply holds here (Hyperliquid documents no count: an
#: assumption, larger than the packaged recording's trades published during its faults).
RECENT_TRADES_MAX = 100
DATA_CHANNELS = frozenset({"l2Book", "trades", "bbo", "candle"})


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _coin_of(obj: Any) -> str:
    """The coin a data frame is for (``data.coin``, a trade list's first ``coin``, a candle's
    ``s``)."""
    data = obj["data"]
    if obj["channel"] == "trades":
        return str(data[0]["coin"])
    if obj["channel"] == "candle":
        return str(data["s"])
    return str(data["coin"])


class HyperliquidWire(WireFormat):
    """Hyperliquid data frames; the stream key is ``"<channel>:<coin>"`` and the payload the
    frame itself (one framing)."""

    default_framing: Hashable = None
    garbage_payload = b'{"channel":"l2Book","data":{"coin":"'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(stream key, the frame) of one recorded data frame. Raises ``ValueError`` naming the
        line for anything else (acks, pongs)."""
        try:
            obj = json.loads(line)
            if obj["channel"] not in DATA_CHANNELS:
                raise KeyError("channel")
            return f"{obj['channel']}:{_coin_of(obj)}", line.strip()
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a Hyperliquid data frame: {line[:80]!r}") from exc

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """The frame as recorded."""
        return payload


WIRE = HyperliquidWire()


@dataclass(frozen=True, kw_only=True)
class HyperliquidSpec(MarketSpec):
    """The Hyperliquid public WebSocket and info endpoint (one URL for perps and spot)."""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`HyperliquidSim`; the venue takes no options."""
        self.reject_unknown_options(options)
        return HyperliquidSim(self, sim)


def _demo_fault(sim: Simulator) -> CloseAfter:
    """The connection dropped halfway through (the feed reconnects, subscribes again and gets
    the whole book at once)."""
    return CloseAfter(messages=len(sim.recording.lines) // 2, abort=True)


LINEAR = HyperliquidSpec(
    name="hyperliquid",
    exchange="hyperliquid",
    market="linear",
    wire=WIRE,
    packaged=PackagedRecording(
        "hyperliquid/l2book_trades_btc_20250126.jsonl.gz",
        "hyperliquid/l2book_trades_btc_20250126.ts.gz",
    ),
    ping_interval=0.0,  # Hyperliquid does not ping; the client does ({"method":"ping"})
    pong_timeout=0.0,
    rate_limit=33,  # 2000 messages a minute per IP (hyperliquid.md §2)
    client_ping_timeout=60.0,
    any_message_keeps_alive=True,  # the idle cut counts any client message
    lifetime=None,
    demo=DemoSpec(
        title="Hyperliquid",
        symbol="BTC/USDC:USDC",
        channels=("book", "trades"),
        fault=_demo_fault,
        fault_text="a disconnect",
    ),
)

SPECS = (LINEAR,)


class HyperliquidSim(VenueSim):
    """Hyperliquid's public protocol for one :class:`~tickwire.simulator.Simulator` (see the
    module docstring)."""

    spec: HyperliquidSpec

    def __init__(self, spec: HyperliquidSpec, sim: Simulator):
        super().__init__(spec, sim)
        # book stream -> recording lines of its pushes, in order
        self._book_lines: dict[str, list[int]] = {}
        self._coins: dict[str, set[str]] = {}  # coin -> channels recorded
        #: private ``/info`` requests answered (or failed) per ``type``, for tests
        self.user_info_requests: dict[str, int] = {}
        #: public market ``/info`` requests answered per ``type`` (``l2Book``,
        #: ``recentTrades``), for tests
        self.market_requests: dict[str, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the recording's streams by coin and its book pushes by line."""
        for line, stream in enumerate(self.sim.recording.line_stream):
            channel, _, coin = stream.partition(":")
            self._coins.setdefault(coin, set()).add(channel)
            if channel == "l2Book":
                self._book_lines.setdefault(stream, []).append(line)

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/ws`` (``?streams=a,b`` subscribes streams)."""
        if path != "/ws":
            return None
        streams = [s for s in query.get("streams", "").split(",") if s]
        return WsEndpoint("linear", None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/ws?streams=a,b`` (a simulator convenience; Hyperliquid subscribes by message)."""
        return f"/ws?streams={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/ws``."""
        return "/ws"

    def on_open(self, conn: ServerConnection) -> list[bytes]:  # noqa: ARG002 - same for all
        """Hyperliquid's text greeting, ``Websocket connection established.``, first."""
        return [b"Websocket connection established."]

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: ARG002
        """``ping``, subscribe and unsubscribe (see the module docstring)."""
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        method = req.get("method") if isinstance(req, dict) else None
        if method == "ping" and isinstance(req, dict) and set(req) == {"method"}:
            return Outcome([b'{"channel":"pong"}'], keepalive=True)
        sub = req.get("subscription") if isinstance(req, dict) else None
        if method not in ("subscribe", "unsubscribe") or not isinstance(sub, dict):
            msg = f"Error parsing JSON into valid websocket request: {text[:200]}"
            return Outcome([_dump({"channel": "error", "data": msg})], keepalive=True)
        kind, coin = sub.get("type"), sub.get("coin")
        if kind in USER_CHANNELS:
            return self._user_subscription(method, sub)
        if not (
            isinstance(kind, str)
            and isinstance(coin, str)
            and kind in self._coins.get(coin, ())
            and set(sub) <= {"type", "coin", "nSigFigs", "mantissa"}
        ):
            msg = f"Invalid subscription {json.dumps(sub, separators=(',', ':'))}"
            return Outcome([_dump({"channel": "error", "data": msg})], keepalive=True)
        echo: dict[str, Any] = {"type": kind, "coin": coin}
        if kind == "l2Book":
            echo.update(nSigFigs=sub.get("nSigFigs"), mantissa=sub.get("mantissa"))
        ack = _dump(
            {"channel": "subscriptionResponse", "data": {"method": method, "subscription": echo}}
        )
        stream = f"{kind}:{coin}"
        if method == "subscribe":
            return Outcome([ack], subscribe=[stream], keepalive=True)
        return Outcome([ack], unsubscribe=[stream], keepalive=True)

    def _user_subscription(self, method: str, sub: dict[str, Any]) -> Outcome:
        """A private subscription: ``{"type":<user channel>,"user":"0x.."}``."""
        user = sub.get("user")
        if set(sub) != {"type", "user"} or not isinstance(user, str) or not _ADDRESS.match(user):
            msg = f"Invalid subscription {json.dumps(sub, separators=(',', ':'))}"
            return Outcome([_dump({"channel": "error", "data": msg})], keepalive=True)
        ack = _dump(
            {
                "channel": "subscriptionResponse",
                "data": {"method": method, "subscription": {"type": sub["type"], "user": user}},
            }
        )
        stream = f"{sub['type']}:{user.lower()}"
        if method == "subscribe":
            return Outcome([ack], subscribe=[stream], keepalive=True)
        return Outcome([ack], unsubscribe=[stream], keepalive=True)

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002
        """The whole book of an ``l2Book`` stream as of ``position``: its last recorded push
        before that line (none before its first push); the ``userFills`` snapshot and the
        ``webData2`` state of a user stream."""
        kind, _, who = stream.partition(":")
        if kind == "userFills":
            fills = self._engine_fills(who)
            data = {"isSnapshot": True, "user": who, "fills": [self._fill(f) for f in fills]}
            return [_dump({"channel": "userFills", "data": data})]
        if kind == "webData2":
            return [self._web_data(who)]
        lines = [n for n in self._book_lines.get(stream, ()) if n < position]
        if not lines:
            return []
        return [self.sim.recording.lines[lines[-1]].strip()]

    def market_id_of(self, stream: str) -> str | None:
        """``BTC`` for ``l2Book:BTC``."""
        return stream.partition(":")[2] or None

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``POST /info`` (``meta``, ``spotMeta``, ``l2Book``, ``recentTrades``, the private
        ``user*`` types), or None."""
        if path != _INFO_PATH:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            if request.method != "POST":
                return web.Response(status=405, text="Method Not Allowed")
            try:
                body = await request.json()
            except ValueError:
                body = None
            kind = body.get("type") if isinstance(body, dict) else None
            if kind == "meta":
                return web.Response(body=_dump(self.meta()), content_type="application/json")
            if kind == "spotMeta":
                return web.Response(
                    body=_dump({"tokens": [], "universe": []}), content_type="application/json"
                )
            market = {"l2Book": self.l2_book, "recentTrades": self.recent_trades}.get(str(kind))
            if market is not None and isinstance(body, dict):
                self.market_requests[str(kind)] = self.market_requests.get(str(kind), 0) + 1
                return web.Response(
                    body=_dump(market(str(body.get("coin")))), content_type="application/json"
                )
            if kind in USER_INFO and isinstance(body, dict):
                got = self._user_info(str(kind), body)
                if got is not None:
                    return got
            return web.Response(
                status=422, text="Failed to deserialize the JSON body into the target type"
            )

        return answer

    def l2_book(self, coin: str) -> dict[str, Any] | None:
        """``POST /info {"type":"l2Book","coin":C}``: the ``data`` of the last recorded
        ``l2Book`` push of ``coin`` published so far (the REST reply is that object); None
        (JSON ``null``, as Hyperliquid answers an unknown coin) before it."""
        rec, pos = self.sim.recording, self.sim.position
        sd = rec.streams.get(f"l2Book:{coin}")
        last = None
        for line in sd.lines if sd is not None else []:
            if line >= pos:
                break
            last = line
        if last is None:
            return None
        data: dict[str, Any] = rec.parsed(last)["data"]
        return data

    def recent_trades(self, coin: str) -> list[dict[str, Any]] | None:
        """``POST /info {"type":"recentTrades","coin":C}``: the objects of the recorded
        ``trades`` pushes of ``coin`` published so far, newest first, at most
        :data:`RECENT_TRADES_MAX`; None (JSON ``null``) for a coin without recorded trades."""
        rec = self.sim.recording
        sd = rec.streams.get(f"trades:{coin}")
        if sd is None:
            return None
        published = bisect.bisect_left(sd.lines, self.sim.position)
        rows: list[dict[str, Any]] = []
        for frame in reversed(sd.data[:published]):
            rows.extend(reversed(json.loads(frame)["data"]))
            if len(rows) >= RECENT_TRADES_MAX:
                break
        return rows[:RECENT_TRADES_MAX]

    @property
    def instruments_path(self) -> str:
        """``/info`` (POST)."""
        return _INFO_PATH

    def meta(self) -> dict[str, Any]:
        """``{"universe":[{"name":coin,"szDecimals":n},..]}`` of the recorded perps (see the
        module docstring)."""
        return {
            "universe": [
                {"name": coin, "szDecimals": self._size_decimals(coin)}
                for coin in sorted(self._coins)
                if not coin.startswith("@") and "/" not in coin
            ]
        }

    def _size_decimals(self, coin: str) -> int:
        """Most decimals in the recorded sizes of ``coin`` (books and trades)."""
        rec = self.sim.recording
        most = 0

        def places(text: str) -> int:
            return len(text.partition(".")[2].rstrip("0"))

        for line, stream in enumerate(rec.line_stream):
            channel, _, who = stream.partition(":")
            if who != coin:
                continue
            data = rec.parsed(line)["data"]
            if channel == "trades":
                most = max([most, *(places(t["sz"]) for t in data)])
            elif channel == "l2Book":
                most = max([most, *(places(lv["sz"]) for side in data["levels"] for lv in side)])
        return most

    def url_lines(self) -> list[str]:
        """The WebSocket URL and the info URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/ws",
            f"  all streams {sim.stream_url()}",
            f'  rest info  POST {sim.rest_url}{_INFO_PATH}  {{"type":"meta"}}',
        ]

    # ---- private (account) side --------------------------------------------------------------
    def account_market(self, market_id: str) -> AccountMarket | None:
        """Every recorded perp coin: a linear perp settled in USDC, base-tier fees."""
        if market_id not in self._coins or market_id.startswith("@") or "/" in market_id:
            return None
        return AccountMarket(market_id, "perp", market_id, "USDC", "0.00015", "0.00045")

    def recorded_trades(self) -> Iterable[tuple[int, MarketTrade]]:
        """Every recorded ``trades`` item (aggressor ``B`` = buy)."""
        rec = self.sim.recording
        for line, stream in enumerate(rec.line_stream):
            if not stream.startswith("trades:"):
                continue
            for t in rec.parsed(line)["data"]:
                side: Literal["buy", "sell"] = "buy" if t["side"] == "B" else "sell"
                yield (
                    line,
                    MarketTrade(
                        t["coin"], Decimal(t["px"]), Decimal(t["sz"]), side, t["time"] * 1_000_000
                    ),
                )

    def account_order_id(self, n: int) -> int:
        """Integers like Hyperliquid's ``oid``."""
        return 40_000_000_000 + n

    def account_trade_id(self, n: int) -> int:
        """Integers like Hyperliquid's ``tid``."""
        return 700_000_000_000_000 + n

    def private_streams(self, account: SimAccount) -> list[str]:
        """``"<type>:<address>"`` of every user channel."""
        if not account.address:
            return []
        who = account.address.lower()
        return [f"{t}:{who}" for t in USER_CHANNELS]

    def encode_account(
        self, account: SimAccount, changes: Sequence[AccountChange]
    ) -> list[tuple[str, bytes]]:
        """``orderUpdates`` (the batch's order changes in one push), then ``userFills`` and
        ``userEvents`` (its fills), then ``webData2`` if a position or balance changed."""
        if not account.address:
            return []
        who = account.address.lower()
        out: list[tuple[str, bytes]] = []
        orders = [c.state for c in changes if isinstance(c.state, OrderState)]
        fills = [self._fill(c.state) for c in changes if isinstance(c.state, FillState)]
        if orders:
            data = [self._order_update(o) for o in orders]
            out.append((f"orderUpdates:{who}", _dump({"channel": "orderUpdates", "data": data})))
        if fills:
            user_fills = {"channel": "userFills", "data": {"user": who, "fills": fills}}
            out.append((f"userFills:{who}", _dump(user_fills)))
            events = {"channel": "user", "data": {"fills": fills}}
            out.append((f"userEvents:{who}", _dump(events)))
        if any(c.kind in ("position", "balance") for c in changes):
            out.append((f"webData2:{who}", self._web_data(who)))
        return out

    def _engine_fills(self, who: str) -> list[FillState]:
        acct = self.sim.accounts.by_address(who)
        return list(self.sim.accounts.engine(acct).fills) if acct is not None else []

    @staticmethod
    def _order(o: OrderState) -> dict[str, Any]:
        px = o.price if o.price is not None else (o.average_price or Decimal(0))
        order: dict[str, Any] = {
            "coin": o.market_id,
            "side": "B" if o.side == "buy" else "A",
            "limitPx": _num(px),
            "sz": _num(o.remaining),
            "oid": o.order_id,
            "timestamp": o.created_ns // 1_000_000,
            "origSz": _num(o.size),
        }
        if o.client_order_id is not None:
            order["cloid"] = o.client_order_id
        return order

    def _order_update(self, o: OrderState) -> dict[str, Any]:
        return {
            "order": self._order(o),
            "status": _ORDER_STATUS[o.status],
            "statusTimestamp": o.updated_ns // 1_000_000,
        }

    def _fill(self, f: FillState) -> dict[str, Any]:
        before = f.position_before
        after = before + (f.size if f.side == "buy" else -f.size)
        out: dict[str, Any] = {
            "coin": f.market_id,
            "px": _num(f.price),
            "sz": _num(f.size),
            "side": "B" if f.side == "buy" else "A",
            "time": f.ts_ns // 1_000_000,
            "startPosition": _num(before),
            "dir": _direction(before, after),
            "closedPnl": _num(f.realized_pnl),
            "hash": "0x" + hashlib.sha256(str(f.trade_id).encode()).hexdigest(),
            "oid": f.order_id,
            "crossed": not f.is_maker,
            "fee": _num(f.fee),
            "tid": f.trade_id,
        }
        if f.client_order_id is not None:
            out["cloid"] = f.client_order_id
        if f.liquidation:
            engine = next((e for e in self.sim.accounts.engines.values() if f in e.fills), None)
            user = engine.account.address if engine is not None else None
            mark = self.sim.accounts.marks.get(f.market_id, f.price)
            out["liquidation"] = {"liquidatedUser": user, "markPx": _num(mark), "method": "market"}
        out["feeToken"] = f.fee_asset
        out["twapId"] = None
        return out

    def _clearinghouse(self, who: str) -> dict[str, Any]:
        """``clearinghouseState`` of ``who`` (zeros for an address without an account)."""
        accounts = self.sim.accounts
        acct = accounts.by_address(who)
        now_ms = accounts.now_ms()
        positions: list[dict[str, Any]] = []
        value = used = free = ntl = Decimal(0)
        if acct is not None:
            engine = accounts.engine(acct)
            usdc = engine.balance("USDC")
            used, free = usdc.locked, usdc.free
            upnl = Decimal(0)
            for p in engine.positions():
                if not p.size or p.entry_price is None:
                    continue
                mark = p.mark_price if p.mark_price is not None else p.entry_price
                pos_value = abs(p.size) * mark
                margin = abs(p.size) * p.entry_price / p.leverage
                ntl += pos_value
                upnl += p.unrealized_pnl
                positions.append(
                    {
                        "type": "oneWay",
                        "position": {
                            "coin": p.market_id,
                            "szi": _num(p.size),
                            "leverage": {"type": p.margin_mode, "value": int(p.leverage)},
                            "entryPx": _num(p.entry_price),
                            "positionValue": _num(pos_value),
                            "unrealizedPnl": _num(p.unrealized_pnl),
                            "returnOnEquity": _num(p.unrealized_pnl / margin),
                            "liquidationPx": None,
                            "marginUsed": _num(margin),
                            "maxLeverage": 50,
                            "cumFunding": {
                                "allTime": "0.0",
                                "sinceOpen": "0.0",
                                "sinceChange": "0.0",
                            },
                        },
                    }
                )
            value = usdc.total + upnl
        summary = {
            "accountValue": _num(value),
            "totalNtlPos": _num(ntl),
            "totalRawUsd": _num(value - ntl),
            "totalMarginUsed": _num(used),
        }
        return {
            "marginSummary": summary,
            "crossMarginSummary": dict(summary),
            "crossMaintenanceMarginUsed": _num(used / 2),
            "withdrawable": _num(free),
            "assetPositions": positions,
            "time": now_ms,
        }

    def _web_data(self, who: str) -> bytes:
        data = {
            "clearinghouseState": self._clearinghouse(who),
            "serverTime": self.sim.accounts.now_ms(),
            "user": who,
        }
        return _dump({"channel": "webData2", "data": data})

    def _user_info(self, kind: str, body: dict[str, Any]) -> web.Response | None:
        """A private ``/info`` request, or None for a malformed one (HTTP 422 then)."""
        user = body.get("user")
        if not isinstance(user, str) or not _ADDRESS.match(user):
            return None
        accounts = self.sim.accounts
        self.user_info_requests[kind] = self.user_info_requests.get(kind, 0) + 1
        if accounts.take_auth_error("rest"):
            return web.Response(status=500, text="Internal Server Error")
        who = user.lower()
        acct = accounts.by_address(who)
        engine = accounts.engine(acct) if acct is not None else None
        answer: Any
        if kind == "userFills":
            answer = [self._fill(f) for f in reversed(engine.fills)] if engine else []
        elif kind == "userFillsByTime":
            start, end = body.get("startTime"), body.get("endTime")
            if not isinstance(start, int) or not (end is None or isinstance(end, int)):
                return None
            fills = engine.fills_since(start * 1_000_000) if engine else []
            if end is not None:
                fills = [f for f in fills if f.ts_ns < (end + 1) * 1_000_000]
            answer = [self._fill(f) for f in fills]
        elif kind == "historicalOrders":
            orders = sorted(engine.orders.values(), key=lambda o: o.updated_ns) if engine else []
            answer = [self._order_update(o) for o in reversed(orders)]
        elif kind == "openOrders":
            answer = [self._order(o) for o in engine.open_orders()] if engine else []
        else:
            answer = self._clearinghouse(who)
        return web.Response(body=_dump(answer), content_type="application/json")


def _num(d: Decimal) -> str:
    """A decimal as Hyperliquid writes numbers: plain digits, at least one decimal place
    (``"66653.0"``, ``"0.001"``, ``"-0.0213"``)."""
    text = format(d.normalize(), "f") if d else "0"
    if "." not in text:
        text += ".0"
    return text


def _direction(before: Decimal, after: Decimal) -> str:
    """A perp fill's ``dir`` from the signed position before and after it."""
    if before >= 0 and after > before:
        return "Open Long"
    if before <= 0 and after < before:
        return "Open Short"
    if before > 0 > after:
        return "Long > Short"
    if before < 0 < after:
        return "Short > Long"
    return "Close Long" if before > 0 else "Close Short"
