"""BitUnix futures public market data (``bitunix``, market ``linear``) in the simulator.

UNPROVEN ON LIVE DATA: no BitUnix recording exists; the shipped recording
(``tickwire/data/bitunix``) is docs-derived (built by ``tests/fixtures/bitunix/make_fixtures.py``
in the shapes of the official futures WebSocket docs, see its SOURCES.md), and the replies below
follow shared/docs/exchanges/bitunix.md §3-§5 where the docs show them.

Endpoint: ``/public/`` (every public channel). A simulator-only ``?streams=a,b`` query
subscribes stream keys in the URL (for ``Simulator.stream_url``).

Recording lines are BitUnix data pushes ``{"ch","symbol","ts","data"}``; the stream key is
``"<ch>:<symbol>"`` (``"depth_book15:BTCUSDT"``), the adapter's stream text, except the
aggregated ``tickers`` push (no ``symbol``), whose key is ``"tickers"``: a connection gets each
such push with only the entries of the symbols it subscribed ``tickers`` for (BitUnix batches
the subscribed symbols' tickers). ``depth_book1``, ``depth_book5`` and ``depth_books`` are
served from the recorded ``depth_book15`` pushes (the top 1 / 5 levels; all 15 for
``depth_books``), renamed.

Client messages:

- ``{"op":"ping","ping":<seconds>}`` -> ``{"op":"ping","pong":<echo>,"ping":<server seconds>}``
  (bitunix.md §4; a client keepalive: a connection whose client sent none for 60 s is closed,
  an assumption: BitUnix documents no idle timeout);
- ``{"op":"subscribe"|"unsubscribe","args":[{"symbol":..,"ch":..},..]}``: no reply, as the docs
  show none. An argument the simulator cannot serve fails the whole request with
  ``{"op":<op>,"code":20001,"msg":"Market not exists","args":[<the arg>]}`` (unknown symbol) or
  ``code 10002 "Parameter Error"`` (unknown channel, malformed argument): BitUnix's REST error
  codes in an op echo, a simulator assumption (BitUnix documents no WebSocket error reply);
  anything else -> ``{"op":..,"code":10002,"msg":"Parameter Error"}``.

Books: every push is a whole top of book; on subscribe the venue sends the latest recorded push
of that stream at the replay position (so a book is there at once, as after any push), and a
:class:`~..faults.ForceSnapshot` sends it again. There is no sequence and no checksum: a
:class:`~..faults.Drop` of a push is healed by the next one. The demo injects a disconnect.

REST: ``GET /api/v1/futures/market/trading_pairs(?symbols=A,B)`` lists the recorded symbols in
BitUnix's shape (``quotePrecision``/``basePrecision``: the most decimals the recording shows for
that symbol's prices/sizes); an unknown symbol in ``symbols`` answers ``{"code":20001,"msg":
"Market not exists","data":null}``.

Private side (UNPROVEN ON LIVE DATA; shapes from the docs' field tables, bitunix.md §7-§8, as
in tests/fixtures/bitunix/private/SOURCES.md):

- ``/private/``: ``{"op":"login","args":[{"apiKey","timestamp","nonce","sign"}]}`` is verified
  exactly per the recipe (``sign == SHA256_hex(SHA256_hex(nonce + timestamp + apiKey) +
  secret)``, :func:`verify_login`) against the registered accounts and the exchange clock;
  success -> ``{"op":"login","data":{"result":true}}``. The docs show no refusal: the simulator
  answers BitUnix's general error shape in the op echo, ``{"op":"login","code":C,"msg":M,
  "data":{"result":false}}``, with C/M from the official error-code table: 10003 "api-key can't
  be empty" (no key), 10007 "Sign signature error" (unknown key or wrong signature: a key the
  server does not know cannot verify), 10002 "Parameter Error" (malformed, or a timestamp more
  than :data:`LOGIN_WINDOW_S` from the server's time: BitUnix documents no window). An
  :class:`~..faults.AuthServerError` closes the socket with 1011 (a server failure, transient).
- Then ``{"op":"subscribe","args":[{"ch":"order"|"position"|"balance"}]}`` subscribes the
  account's private stream keys ``"<ch>@<account name>"`` (no reply, as for public channels;
  before a login: ``{"op":"subscribe","code":10002,"msg":"Parameter Error","args":[..]}``).
- Pushes from the generic account engine (``simulator/account.py``): an order change -> an
  ``order`` push (``event`` CREATE for a new order, CLOSE once final, UPDATE otherwise; status
  ``NEW``/``PART_FILLED``/``FILLED``/``CANCELED``/``PART_FILLED_CANCELED``; a rejection is
  ``CANCELED``: BitUnix lists no rejected status), a position change -> ``position``, a balance
  change -> ``balance`` (``available`` = free, ``frozen`` = open orders' margin, ``margin`` =
  positions' margin: the engine's locked = frozen + margin, cross mode). Fills are not pushed:
  BitUnix has no fill channel.
- REST ``GET /api/v1/futures/trade/get_history_trades`` and ``get_history_orders`` (params
  ``symbol``, ``startTime``, ``endTime``, ``skip``, ``limit`` <= 100): headers ``api-key``,
  ``nonce``, ``timestamp`` (ms), ``sign`` verified per the REST recipe (:func:`verify_rest`,
  query params sorted and concatenated ``k+v``); newest first; errors as HTTP 200
  ``{"code":C,"msg":M,"data":null}`` (the docs' error table: every error is HTTP 200) with
  the codes above; an :class:`~..faults.AuthServerError` -> HTTP 500. History orders lists
  finished orders only (BitUnix's status filter values: FILLED, CANCELED,
  PART_FILLED_CANCELED): an open order's changes are not in it.
"""

from __future__ import annotations

import hmac
import json
import re
import time
import weakref
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from ...auth.bitunix import query_text, rest_sign, ws_sign
from ..account import (
    AccountChange,
    AccountMarket,
    BalanceState,
    FillState,
    MarketTrade,
    OrderState,
    PositionState,
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
    from collections.abc import Callable

    from ..connection import ServerConnection
    from ..server import Simulator

_INSTRUMENTS_PATH = "/api/v1/futures/market/trading_pairs"
_TRADES_PATH = "/api/v1/futures/trade/get_history_trades"
_ORDERS_PATH = "/api/v1/futures/trade/get_history_orders"
#: Private channels the simulator serves (``tpsl`` is not simulated).
PRIVATE_CHANNELS = ("order", "position", "balance")
#: How far a login or REST timestamp may be from the server's clock (BitUnix documents none).
LOGIN_WINDOW_S = 60
#: BitUnix's error codes (official error-code table) the simulator answers with.
PARAMETER_ERROR = (10002, "Parameter Error")
EMPTY_KEY = (10003, "api-key can't be empty")
SIGN_ERROR = (10007, "Sign signature error")
_STATUS = {
    "new": "NEW",
    "partially_filled": "PART_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "rejected": "CANCELED",
}
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
#: Book channels served from the recorded ``depth_book15`` pushes, and the levels each keeps.
BOOK_DEPTHS = {"depth_book1": 1, "depth_book5": 5, "depth_book15": 15, "depth_books": 15}
_KLINE = re.compile(
    r"^(market|mark)_kline_(1min|3min|5min|15min|30min|60min|2h|4h|6h|8h|12h|1day|3day|1week|1month)$"
)


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def verify_login(  # noqa: PLR0911 - one return per documented refusal
    arg: object, lookup: Callable[[str], SimAccount | None], now_ms: int
) -> tuple[SimAccount | None, tuple[int, str] | None]:
    """Check one login argument ``{"apiKey","timestamp","nonce","sign"}`` as BitUnix does:
    (the account, None) when the key is known, the timestamp (Unix seconds) within
    :data:`LOGIN_WINDOW_S` of ``now_ms`` and ``sign`` equal to ``SHA256_hex(SHA256_hex(nonce +
    timestamp + apiKey) + secret)``; else (None, (code, message)) (see the module docstring).
    Compares signatures in constant time."""
    if not isinstance(arg, dict):
        return None, PARAMETER_ERROR
    key, ts, nonce, sign = (arg.get(k) for k in ("apiKey", "timestamp", "nonce", "sign"))
    if not key:
        return None, EMPTY_KEY
    if not (isinstance(key, str) and isinstance(nonce, str) and isinstance(sign, str)):
        return None, PARAMETER_ERROR
    if isinstance(ts, bool) or not isinstance(ts, (int, str)) or not str(ts).isdigit():
        return None, PARAMETER_ERROR
    if abs(int(ts) * 1000 - now_ms) > LOGIN_WINDOW_S * 1000:
        return None, PARAMETER_ERROR
    acct = lookup(key)
    if acct is None:
        return None, SIGN_ERROR
    want = ws_sign(nonce, int(ts), key, acct.secret)
    if not hmac.compare_digest(want.encode(), sign.encode()):
        return None, SIGN_ERROR
    return acct, None


def verify_rest(
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: str,
    lookup: Callable[[str], SimAccount | None],
    now_ms: int,
) -> tuple[SimAccount | None, tuple[int, str] | None]:
    """Check a signed REST request as BitUnix does: headers ``api-key``, ``nonce``,
    ``timestamp`` (ms, within :data:`LOGIN_WINDOW_S` of ``now_ms``) and ``sign`` ==
    ``SHA256_hex(SHA256_hex(nonce + timestamp + api-key + query_text(query) + body) +
    secret)``. (account, None) or (None, (code, message))."""
    key = headers.get("api-key", "")
    nonce, ts, sign = (headers.get(k, "") for k in ("nonce", "timestamp", "sign"))
    if not key:
        return None, EMPTY_KEY
    if not (nonce and sign and ts.isdigit()):
        return None, PARAMETER_ERROR
    if abs(int(ts) - now_ms) > LOGIN_WINDOW_S * 1000:
        return None, PARAMETER_ERROR
    acct = lookup(key)
    if acct is None:
        return None, SIGN_ERROR
    want = rest_sign(nonce, ts, key, query_text(query), body, acct.secret)
    if not hmac.compare_digest(want.encode(), sign.encode()):
        return None, SIGN_ERROR
    return acct, None


def _num(d: Decimal) -> str:
    """A decimal as plain text (``"0.5"``, ``"60000"``, ``"-1.5"``)."""
    return format(d.normalize(), "f") if d else "0"


def _time(ns: int) -> str:
    """RFC 3339 UTC text with ms, as the stream's ``ctime``/``mtime`` (per the SDK [S2])."""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1_000_000 % 1000:03d}Z"


class BitunixWire(WireFormat):
    """BitUnix data pushes; the stream key is ``"<ch>:<symbol>"`` (``"tickers"`` for the
    aggregated tickers push). One framing: BitUnix has no envelope options."""

    default_framing: Hashable = None
    garbage_payload = b'{"ch":"depth_book15","symbol":"'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(stream key, the push) of one recorded data push. Raises ``ValueError`` naming the
        line for anything else (``op`` replies)."""
        try:
            obj = json.loads(line)
            ch = obj["ch"]
            if "data" not in obj or not isinstance(ch, str):
                raise KeyError("data")
            key = ch if ch == "tickers" else f"{ch}:{obj['symbol']}"
            return key, line.strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a BitUnix data push: {line[:80]!r}") from exc

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """The push as recorded; under a book alias (``depth_book5:BTCUSDT`` served from
        ``depth_book15``) renamed and cut to that channel's depth."""
        ch = stream.partition(":")[0]
        if ch not in BOOK_DEPTHS or payload.startswith(b'{"ch":"%s"' % ch.encode()):
            return payload
        obj = json.loads(payload)
        n = BOOK_DEPTHS[ch]
        obj["ch"] = ch
        obj["data"] = {"b": obj["data"]["b"][:n], "a": obj["data"]["a"][:n]}
        return _dump(obj)


WIRE = BitunixWire()


@dataclass(frozen=True, kw_only=True)
class BitunixSpec(MarketSpec):
    """The BitUnix futures public server."""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """A :class:`BitunixSim`; it takes no options."""
        self.reject_unknown_options(options)
        return BitunixSim(self, sim)


def _demo_fault(sim: Simulator) -> CloseAfter:
    """A disconnect after two fifths of the recording's messages (the feed reconnects and
    subscribes again; the next push of each book, a whole book, syncs it). A dropped push would
    show nothing: the next push heals it without a gap."""
    return CloseAfter(len(sim.recording) * 2 // 5)


LINEAR = BitunixSpec(
    name="bitunix",
    exchange="bitunix",
    market="linear",
    wire=WIRE,
    packaged=PackagedRecording(
        "bitunix/docs_derived_linear_btcusdt_ethusdt.jsonl.gz",
        "bitunix/docs_derived_linear_btcusdt_ethusdt.ts.gz",
    ),
    ping_interval=0.0,  # BitUnix does not ping; the client does ({"op":"ping"})
    pong_timeout=0.0,
    rate_limit=5,  # 5 client messages per second per connection (bitunix.md §2)
    client_ping_timeout=60.0,
    lifetime=None,
    demo=DemoSpec(
        title="BitUnix (docs-derived data)",
        symbol="BTC/USDT:USDT",
        channels=("book", "trades", "bbo"),
        fault=_demo_fault,
        fault_text="a disconnect",
    ),
)

SPECS = (LINEAR,)


class BitunixSim(VenueSim):
    """BitUnix's futures public protocol for one :class:`~tickwire.simulator.Simulator` (see
    the module docstring)."""

    spec: BitunixSpec

    def __init__(self, spec: BitunixSpec, sim: Simulator):
        super().__init__(spec, sim)
        self._symbols: list[str] = []
        self._book_lines: dict[str, list[int]] = {}  # depth_book15 stream -> its lines
        # per connection: the symbols it subscribed `tickers` for
        self._tickers: weakref.WeakKeyDictionary[ServerConnection, set[str]] = (
            weakref.WeakKeyDictionary()
        )

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the symbols and book pushes; serve the other book channels from
        ``depth_book15``."""
        rec = self.sim.recording
        symbols: dict[str, None] = {}
        for line, stream in enumerate(rec.line_stream):
            ch, _, sym = stream.partition(":")
            if sym:
                symbols[sym] = None
            if ch == "depth_book15":
                self._book_lines.setdefault(stream, []).append(line)
        self._symbols = list(symbols)
        for stream in list(self._book_lines):
            sym = stream.partition(":")[2]
            for ch in BOOK_DEPTHS:
                if ch != "depth_book15":
                    rec.add_alias(f"{ch}:{sym}", stream)

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/public/`` (``?streams=a,b`` subscribes stream keys), ``/private/`` (route
        ``"private"``: login, then account channels)."""
        if path in ("/private/", "/private"):
            return WsEndpoint("private", None, [])
        if path not in ("/public/", "/public"):
            return None
        streams = [s for s in query.get("streams", "").split(",") if s]
        return WsEndpoint("linear", None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:  # noqa: ARG002
        """``/public/?streams=a,b`` (a simulator convenience; BitUnix subscribes by message)."""
        return f"/public/?streams={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/public/``."""
        return "/public/"

    def on_open(self, conn: ServerConnection) -> list[bytes]:  # noqa: ARG002 - same for all
        """BitUnix's greeting, ``{"op":"connect","data":{"result":true}}``, first."""
        return [b'{"op":"connect","data":{"result":true}}']

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: PLR0911
        """Pings, subscribe and unsubscribe (see the module docstring)."""
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        op = req.get("op") if isinstance(req, dict) else None
        if op == "ping" and isinstance(req, dict) and isinstance(req.get("ping"), int):
            reply = {"op": "ping", "pong": req["ping"], "ping": int(time.time())}
            return Outcome([_dump(reply)], keepalive=True)
        if conn.route == "private":
            return self._private_message(conn, op, req)
        args = req.get("args") if isinstance(req, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            return Outcome([_dump({"op": op, "code": 10002, "msg": "Parameter Error"})])
        streams: list[str] = []
        tickers: list[str] = []
        for arg in args:
            ch = arg.get("ch") if isinstance(arg, dict) else None
            sym = arg.get("symbol") if isinstance(arg, dict) else None
            known_ch = isinstance(ch, str) and (
                ch in BOOK_DEPTHS or ch in ("trade", "tickers") or bool(_KLINE.match(ch))
            )
            if not known_ch or not isinstance(sym, str) or not _SYMBOL.match(sym):
                echo = {"op": op, "code": 10002, "msg": "Parameter Error", "args": [arg]}
                return Outcome([_dump(echo)])
            if sym not in self._symbols:
                echo = {"op": op, "code": 20001, "msg": "Market not exists", "args": [arg]}
                return Outcome([_dump(echo)])
            if ch == "tickers":
                tickers.append(sym)
            else:
                streams.append(f"{ch}:{sym}")
        held = self._tickers.setdefault(conn, set())
        if op == "subscribe":
            held.update(tickers)
            return Outcome([], subscribe=streams + (["tickers"] if tickers else []))
        held.difference_update(tickers)
        return Outcome([], unsubscribe=streams + ([] if held else ["tickers"]))

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002
        """The latest book push of ``stream`` before ``position`` (none before the first)."""
        ch, _, sym = stream.partition(":")
        if ch not in BOOK_DEPTHS:
            return []
        lines = self._book_lines.get(f"depth_book15:{sym}", [])
        before = [n for n in lines if n < position]
        if not before:
            return []
        payload = self.sim.recording.lines[before[-1]].strip()
        return [WIRE.encode(stream, payload, None)]

    # ---- per-message fields -------------------------------------------------------------------
    def stamp(self, conn: ServerConnection, stream: str, payload: bytes) -> bytes | None:
        """A ``tickers`` push keeps the entries of the symbols ``conn`` subscribed (None if
        none; all of them on a connection that subscribed in its URL); every other push goes as
        recorded."""
        if stream != "tickers":
            return payload
        want = self._tickers.get(conn)
        if want is None:  # subscribed in the URL (?streams=tickers): every symbol
            return payload
        obj = json.loads(payload)
        data = [e for e in obj["data"] if e.get("s") in want]
        if not data:
            return None
        if len(data) == len(obj["data"]):
            return payload
        return _dump({**obj, "data": data})

    def market_id_of(self, stream: str) -> str | None:
        """``BTCUSDT`` for ``depth_book15:BTCUSDT`` (None for the aggregated ``tickers``)."""
        return stream.partition(":")[2] or None

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``/api/v1/futures/market/trading_pairs``, the signed history routes, or None."""
        if path in (_TRADES_PATH, _ORDERS_PATH):
            return self._history_handler(path)
        if path != _INSTRUMENTS_PATH:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            if request.method != "GET":
                raise web.HTTPMethodNotAllowed(request.method, ["GET"])
            return self.trading_pairs(request.query.get("symbols", ""))

        return answer

    @property
    def instruments_path(self) -> str:
        """``/api/v1/futures/market/trading_pairs``."""
        return _INSTRUMENTS_PATH

    def trading_pairs(self, symbols: str) -> web.Response:
        """The recorded symbols (or those named in ``symbols``) in BitUnix's reply shape."""
        wanted = [s for s in symbols.split(",") if s] or self._symbols
        if any(s not in self._symbols for s in wanted):
            body: dict[str, Any] = {"code": 20001, "msg": "Market not exists", "data": None}
            return web.Response(body=_dump(body), content_type="application/json")
        data = [self._pair(s) for s in wanted]
        body = {"code": 0, "data": data, "msg": "Success"}
        return web.Response(body=_dump(body), content_type="application/json")

    def _pair(self, sym: str) -> dict[str, Any]:
        pdec, sdec = self._decimals(sym)
        quote = "USDC" if sym.endswith("USDC") else "USDT"
        return {
            "symbol": sym,
            "base": sym.removesuffix(quote),
            "quote": quote,
            "minTradeVolume": "1" if sdec == 0 else "0." + "0" * (sdec - 1) + "1",
            "basePrecision": sdec,
            "quotePrecision": pdec,
            "maxLeverage": 125,
            "minLeverage": 1,
            "defaultLeverage": 20,
            "defaultMarginMode": 1,
            "symbolStatus": "OPEN",
        }

    def _decimals(self, sym: str) -> tuple[int, int]:
        """Most decimals in the recorded book prices and sizes of ``sym``."""
        rec = self.sim.recording
        price, size = 0, 0
        for line in self._book_lines.get(f"depth_book15:{sym}", [])[:50]:
            data = rec.parsed(line)["data"]
            for p, s in (*data["b"], *data["a"]):
                price = max(price, len(p.partition(".")[2]))
                size = max(size, len(s.partition(".")[2]))
        return price, size

    def url_lines(self) -> list[str]:
        """The WebSocket URL and the instruments URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/public/",
            f"  all streams {sim.stream_url()}",
            f"  rest instruments {sim.rest_url}{_INSTRUMENTS_PATH}",
        ]

    # ---- private (account) side --------------------------------------------------------------
    def _private_message(  # noqa: PLR0911 - one return per reply
        self, conn: ServerConnection, op: object, req: Any
    ) -> Outcome:
        """``login`` and private ``subscribe``/``unsubscribe`` (see the module docstring)."""
        args = req.get("args") if isinstance(req, dict) else None
        if op == "login":
            accounts = self.sim.accounts
            if accounts.take_auth_error("login"):
                return Outcome([], close=(1011, "internal error"))
            arg = args[0] if isinstance(args, list) and len(args) == 1 else None
            acct, err = verify_login(arg, accounts.by_key, accounts.now_ms())
            if err is not None or acct is None:
                code, msg = err or SIGN_ERROR
                reply = {"op": "login", "code": code, "msg": msg, "data": {"result": False}}
                return Outcome([_dump(reply)])
            conn.account = acct
            return Outcome([_dump({"op": "login", "data": {"result": True}})])
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            return Outcome([_dump({"op": op, "code": 10002, "msg": "Parameter Error"})])
        acct = conn.account
        chs = [a.get("ch") if isinstance(a, dict) else None for a in args]
        if acct is None or any(ch not in PRIVATE_CHANNELS for ch in chs):
            echo = {"op": op, "code": 10002, "msg": "Parameter Error", "args": args}
            return Outcome([_dump(echo)])
        keys = [f"{ch}@{acct.name}" for ch in chs]
        if op == "subscribe":
            return Outcome([], subscribe=keys)
        return Outcome([], unsubscribe=keys)

    def account_market(self, market_id: str) -> AccountMarket | None:
        """Every recorded symbol: a linear perpetual settled in its quote (USDT or USDC), with
        the engine's default fee rates (BitUnix's are not in the docs tickwire follows)."""
        if market_id not in self._symbols:
            return None
        quote = "USDC" if market_id.endswith("USDC") else "USDT"
        return AccountMarket(market_id, "perp", market_id.removesuffix(quote), quote)

    def recorded_trades(self) -> Iterable[tuple[int, MarketTrade]]:
        """Every recorded ``trade`` push's entries (``s``: the aggressor's side)."""
        rec = self.sim.recording
        for line, stream in enumerate(rec.line_stream):
            ch, _, sym = stream.partition(":")
            if ch != "trade":
                continue
            for t in rec.parsed(line)["data"]:
                ts = datetime.fromisoformat(t["t"].replace("Z", "+00:00"))
                ns = int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000
                side: Literal["buy", "sell"] = "buy" if t["s"] == "buy" else "sell"
                yield line, MarketTrade(sym, Decimal(t["p"]), Decimal(t["v"]), side, ns)

    def account_order_id(self, n: int) -> str:
        """Text ids, as BitUnix's ``orderId``."""
        return str(100_000_000 + n)

    def account_trade_id(self, n: int) -> str:
        """Text ids, as BitUnix's ``tradeId``."""
        return str(500_000_000 + n)

    def private_streams(self, account: SimAccount) -> list[str]:
        """``"<ch>@<account name>"`` of every simulated private channel."""
        return [f"{ch}@{account.name}" for ch in PRIVATE_CHANNELS]

    def encode_account(
        self, account: SimAccount, changes: Sequence[AccountChange]
    ) -> list[tuple[str, bytes]]:
        """An ``order`` push per order change, a ``position`` push per position change, a
        ``balance`` push per balance change, in the batch's order (fills: none)."""
        engine = self.sim.accounts.engine(account)
        fills = [c.state for c in changes if isinstance(c.state, FillState)]
        out: list[tuple[str, bytes]] = []
        for c in changes:
            st = c.state
            ts = c.ts_ns // 1_000_000
            if isinstance(st, OrderState):
                data = self._order_push(st, engine.fills, account.leverage)
                ch = "order"
            elif isinstance(st, PositionState):
                data = self._position_push(st, fills, engine.fills)
                ch = "position"
            elif isinstance(st, BalanceState):
                data = self._balance_push(st, engine.positions())
                ch = "balance"
            else:
                continue
            out.append((f"{ch}@{account.name}", _dump({"ch": ch, "ts": ts, "data": data})))
        return out

    @staticmethod
    def _order_push(o: OrderState, fills: Sequence[FillState], leverage: str) -> dict[str, Any]:
        fee = sum((f.fee for f in fills if f.order_id == o.order_id), Decimal(0))
        final = not o.is_open
        event = "CLOSE" if final else "CREATE" if o.created_ns == o.updated_ns else "UPDATE"
        status = _STATUS.get(o.status, "CANCELED")
        if status == "CANCELED" and o.filled:
            status = "PART_FILLED_CANCELED"
        data: dict[str, Any] = {
            "event": event,
            "orderId": str(o.order_id),
            "symbol": o.market_id,
            "positionType": "CROSS",
            "positionMode": "ONE_WAY",
            "side": o.side.upper(),
            "effect": o.time_in_force.upper() if o.order_type == "limit" else "IOC",
            "type": o.order_type.upper(),
            "qty": _num(o.size),
            "reductionOnly": o.reduce_only,
            "price": _num(o.price) if o.price is not None else "",
            "ctime": _time(o.created_ns),
            "mtime": _time(o.updated_ns),
            "leverage": leverage,
            "orderStatus": status,
            "fee": _num(fee),
            "averagePrice": _num(o.average_price) if o.average_price is not None else "0",
            "dealAmount": _num(o.filled),
        }
        if o.client_order_id is not None:
            data["clientId"] = o.client_order_id
        return data

    @staticmethod
    def _position_push(
        p: PositionState, batch_fills: Sequence[FillState], fills: Sequence[FillState]
    ) -> dict[str, Any]:
        before = next((f.position_before for f in batch_fills if f.market_id == p.market_id), None)
        mine = [f for f in fills if f.market_id == p.market_id]
        if p.size == 0:
            event, long = "CLOSE", (before or Decimal(0)) >= 0
        else:
            event, long = ("OPEN" if before == 0 else "UPDATE"), p.size > 0
        entry = p.entry_price or Decimal(0)
        value = abs(p.size) * entry
        return {
            "event": event,
            "positionId": f"{p.market_id}-1",
            "marginMode": "ISOLATION" if p.margin_mode == "isolated" else "CROSS",
            "positionMode": "ONE_WAY",
            "side": "LONG" if long else "SHORT",
            "leverage": _num(p.leverage),
            "margin": _num(value / p.leverage),
            "ctime": _time(mine[0].ts_ns if mine else p.ts_ns),
            "qty": _num(abs(p.size)),
            "entryValue": _num(value),
            "symbol": p.market_id,
            "realizedPNL": _num(sum((f.realized_pnl for f in mine), Decimal(0))),
            "unrealizedPNL": _num(p.unrealized_pnl),
            "funding": "0",
            "fee": _num(sum((f.fee for f in mine), Decimal(0))),
        }

    def _balance_push(self, b: BalanceState, positions: Sequence[PositionState]) -> dict[str, Any]:
        margin = sum(
            (
                abs(p.size) * (p.entry_price or Decimal(0)) / p.leverage
                for p in positions
                if self._settle(p.market_id) == b.asset
            ),
            Decimal(0),
        )
        frozen = b.locked - margin
        return {
            "coin": b.asset,
            "available": _num(b.free),
            "frozen": _num(frozen),
            "isolationFrozen": "0",
            "crossFrozen": _num(frozen),
            "margin": _num(margin),
            "isolationMargin": "0",
            "crossMargin": _num(margin),
            "expMoney": "0",
        }

    @staticmethod
    def _settle(market_id: str) -> str:
        return "USDC" if market_id.endswith("USDC") else "USDT"

    def _history_handler(self, path: str) -> RestHandler:
        """The signed ``GET`` of a history route (see the module docstring)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            if request.method != "GET":
                raise web.HTTPMethodNotAllowed(request.method, ["GET"])
            accounts = self.sim.accounts
            if accounts.take_auth_error("rest"):
                return web.Response(status=500, text="Internal Server Error")
            query = dict(request.query)
            acct, err = verify_rest(request.headers, query, "", accounts.by_key, accounts.now_ms())
            if err is not None or acct is None:
                code, msg = err or SIGN_ERROR
                return _json({"code": code, "msg": msg, "data": None})
            try:
                start = int(query.get("startTime", "0")) * 1_000_000
                end = int(query["endTime"]) * 1_000_000 if "endTime" in query else None
                skip, limit = int(query.get("skip", "0")), int(query.get("limit", "10"))
            except ValueError:
                start, end, skip, limit = 0, None, 0, -1
            if skip < 0 or not 1 <= limit <= 100:
                return _json({"code": 10002, "msg": "Parameter Error", "data": None})
            symbol = query.get("symbol")
            engine = accounts.engine(acct)
            if path == _TRADES_PATH:
                fills = [f for f in engine.fills_since(start, end) if symbol in (None, f.market_id)]
                trades = list(reversed(fills))[skip : skip + limit]
                lev = int(Decimal(acct.leverage))
                data: dict[str, Any] = {
                    "tradeList": [self._trade(f, engine.orders, lev) for f in trades],
                    "total": len(fills),
                }
            else:
                done = [
                    o
                    for o in engine.orders.values()
                    if not o.is_open
                    and o.updated_ns >= start
                    and (end is None or o.updated_ns < end)
                    and symbol in (None, o.market_id)
                ]
                done.sort(key=lambda o: o.created_ns, reverse=True)
                data = {
                    "orderList": [
                        self._history_order(o, engine.fills, int(Decimal(acct.leverage)))
                        for o in done[skip : skip + limit]
                    ],
                    "total": str(len(done)),
                }
            return _json({"code": 0, "data": data, "msg": "Success"})

        return answer

    @staticmethod
    def _trade(
        f: FillState, orders: Mapping[int | str, OrderState], leverage: int
    ) -> dict[str, Any]:
        o = orders.get(f.order_id)
        out: dict[str, Any] = {
            "tradeId": str(f.trade_id),
            "orderId": str(f.order_id),
            "symbol": f.market_id,
            "qty": _num(f.size),
            "positionMode": "ONE_WAY",
            "marginMode": "CROSS",
            "leverage": leverage,
            "price": _num(f.price),
            "side": f.side.upper(),
            "orderType": o.order_type.upper() if o else "LIMIT",
            "effect": o.time_in_force.upper() if o and o.order_type == "limit" else "IOC",
            "reduceOnly": o.reduce_only if o else False,
            "fee": _num(f.fee),
            "realizedPNL": _num(f.realized_pnl),
            "ctime": f.ts_ns // 1_000_000,
            "roleType": "MAKER" if f.is_maker else "TAKER",
        }
        if f.client_order_id is not None:
            out["clientId"] = f.client_order_id
        return out

    @staticmethod
    def _history_order(o: OrderState, fills: Sequence[FillState], leverage: int) -> dict[str, Any]:
        status = _STATUS.get(o.status, "CANCELED")
        if status == "CANCELED" and o.filled:
            status = "PART_FILLED_CANCELED"
        out: dict[str, Any] = {
            "orderId": str(o.order_id),
            "qty": _num(o.size),
            "tradeQty": _num(o.filled),
            "price": _num(o.price) if o.price is not None else "market",
            "symbol": o.market_id,
            "positionMode": "ONE_WAY",
            "marginMode": "CROSS",
            "leverage": leverage,
            "side": o.side.upper(),
            "orderType": o.order_type.upper(),
            "effect": o.time_in_force.upper() if o.order_type == "limit" else "IOC",
            "reduceOnly": o.reduce_only,
            "status": status,
            "fee": _num(sum((f.fee for f in fills if f.order_id == o.order_id), Decimal(0))),
            "realizedPNL": _num(
                sum((f.realized_pnl for f in fills if f.order_id == o.order_id), Decimal(0))
            ),
            "ctime": o.created_ns // 1_000_000,
            "mtime": o.updated_ns // 1_000_000,
        }
        if o.client_order_id is not None:
            out["clientId"] = o.client_order_id
        return out


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(body=_dump(body), content_type="application/json")
