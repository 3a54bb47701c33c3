"""OKX v5 public market data and account channels (``okx``) in the simulator.

Sources: shared/docs/exchanges/okx.md §1-§6 (OKX API v5 docs: WebSocket connect, subscribe,
order book channel, trades, tickers) and the recording shipped in ``tickwire/data/okx`` (a real
2022 ``/ws/v5/public`` connection: ``books`` with checksums, ``trades``, ``tickers`` for
BTC-USDT and UNI-USD-SWAP; see its SOURCES.md).

Endpoints: ``/ws/v5/public`` (books, bbo-tbt, tickers, trades) and ``/ws/v5/business``
(``candle<bar>``, ``trades-all``); one URL serves every instrument type. A simulator-only
``?streams=a,b`` query subscribes topics in the URL (for ``Simulator.stream_url``).

Recording lines are OKX data frames ``{"arg":{"channel","instId"},("action",)"data":[..]}``;
the stream key is the topic ``"<channel>:<instId>"`` (``"books:BTC-USDT"``), the same text the
adapter and the Rust venue use; a connection receives each frame as recorded.

Client messages, as OKX answers them:

- the text ``ping`` -> ``pong`` (a client keepalive: a connection whose client sent none for 30 s
  is closed, okx.md §4);
- ``{"op":"subscribe"|"unsubscribe","args":[{"channel":..,"instId":..},..](,"id":..)}`` -> one
  ack per arg ``{("id",)"event":"subscribe","arg":{..},"connId":..}``; an arg whose channel is
  not served on that URL, or whose instId the simulator does not hold, fails the whole request
  with ``{("id",)"event":"error","msg":"Wrong URL or channel:<channel>,instId:<instId> doesn't
  exist. ...","code":"60018","connId":..}`` (the reply OKX sends, as seen in client issue
  reports); anything else -> ``{"event":"error","msg":"Invalid request: ..","code":"60012",..}``.

Books: on subscribe to ``books:<instId>`` the venue sends a snapshot built at the replay
position from the recording itself (its snapshot and every update before that position, strings
kept, rows ``[px, sz, "0", numOrders]`` as last received, the interleaved top-25 CRC32 checksum
recomputed), as OKX sends a snapshot on every subscribe; before the recorded snapshot there is
no book yet and the recorded snapshot follows in the stream.

Sequence ids: the 2022 capture predates ``seqId``/``prevSeqId``. With the option ``seq_ids``
(default True) the simulator adds them as today's OKX sends them, numbered from the recording:
``seqId`` is a book frame's recording line (1-based), ``prevSeqId`` the line of the previous book
frame of that instrument (-1 on snapshots; a snapshot built on subscribe carries the line of the
last update it includes). Market data is untouched. ``seq_ids=False`` serves the frames as
recorded (checksum-only).

Faults: :class:`~..faults.BadChecksum` sends a book frame with its ``checksum`` field changed by
one; :class:`~..faults.ForceSnapshot` sends a fresh snapshot (as on subscribe).

REST: ``GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES`` lists the recorded
instruments in OKX's shape (``tickSz``/``lotSz``: one unit of the most decimals the recording
shows for that instrument's prices/sizes); a bad ``instType`` answers ``{"code":"51000",
"msg":"Parameter instType error","data":[]}``.

Private (account) side (okx.md §7-§8; accounts registered with ``SimAccount(api_key, secret,
passphrase=...)``):

- ``/ws/v5/private``: ``{"op":"login","args":[{apiKey, passphrase, timestamp, sign}]}`` is
  verified as OKX does (:func:`verify_login`): unknown key ``60005 Invalid apiKey``, a
  timestamp that is not a number ``60004 Invalid timestamp``, one more than 30 s from the
  simulator's exchange clock (so a :class:`~tickwire.simulator.ClockSkew` matters) ``60006
  Timestamp request expired``, passphrase ``60024 Wrong passphrase``, signature ``60007 Invalid
  sign``, a malformed item ``60009 Login failed.``; each as ``{"event":"error","code",
  "msg","connId"}``; success ``{"event":"login","code":"0","msg":"","connId"}``. An
  :class:`~tickwire.simulator.AuthServerError` at ``"login"`` answers ``63999 Login failed
  due to internal error. Please try again later.``. Subscribing before a login answers
  ``60011 Please log in``.
- Channels ``orders`` and ``positions`` (``instType`` ANY, SPOT, MARGIN, SWAP, FUTURES,
  OPTION), ``account`` and ``balance_and_position`` (no parameter); stream keys
  ``"<channel>(:<instType>)#<account tag>"``. ``positions``, ``account`` and
  ``balance_and_position`` push the current state on subscribe. Order pushes carry the fill
  they made (``tradeId``, ``fillPx``, ``fillSz``, ``fillTime``, ``fillFee`` negative when
  charged, ``fillFeeCcy``, ``execType`` T/M), states ``live``, ``partially_filled``,
  ``filled``, ``canceled`` (an engine rejection shows as ``canceled`` with its reason in
  ``msg``: OKX refuses in the order reply, not on the stream). Positions are net mode (``pos``
  signed); ``account`` ``details``: ``cashBal`` = the engine's total, ``availBal`` = free,
  ``frozenBal`` = locked.
- Markets: the recorded spot pairs, and linear swaps ``<BASE>-USDT-SWAP`` (not recorded:
  scripted fills only); ids: ``ordId`` 18-digit strings, ``tradeId`` strings.
- REST ``GET /api/v5/public/time`` (the exchange clock) and, signed with ``OK-ACCESS-KEY``,
  ``-SIGN``, ``-TIMESTAMP``, ``-PASSPHRASE`` (:func:`verify_rest`; refusals HTTP 401 with OKX's
  ``50102``-``50113`` codes), ``/api/v5/trade/fills`` and ``/fills-history`` (``begin``/``end``
  ms inclusive, ``instType``, ``limit`` <= 100; newest first), ``/orders-pending`` (open
  orders) and ``/orders-history`` (``instType`` required: completed orders), newest first. An
  ``AuthServerError`` at ``"rest"`` answers HTTP 503 ``50001``.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import re
import zlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from ...auth import okx as okx_auth
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
from ..faults import BadChecksum
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
from ..wirebook import BookMessage, BookReplay, interleaved_checksum, off_by_one_int32

if TYPE_CHECKING:  # pragma: no cover
    from ..connection import ServerConnection
    from ..server import Simulator

#: Channels each URL serves (okx.md §1, §5, §6).
PUBLIC_CHANNELS = frozenset({"books", "books5", "bbo-tbt", "tickers", "trades"})
_CANDLE = re.compile(r"^candle[0-9]+(s|m|H|D|W|M)(utc)?$")
_INST_ID = re.compile(r"^[A-Z0-9]+(-[A-Z0-9]+){1,2}$")
_CHECKSUM = re.compile(rb'"checksum":(-?[0-9]+)')
_TS = re.compile(rb'"ts":"([0-9]+)"')
_INSTRUMENTS_PATH = "/api/v5/public/instruments"


def route_of(channel: str) -> str | None:
    """``"public"`` or ``"business"``: the URL serving ``channel``; None for neither."""
    if channel in PUBLIC_CHANNELS:
        return "public"
    if channel == "trades-all" or _CANDLE.match(channel):
        return "business"
    return None


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# ---- private (account) side ----------------------------------------------------------------
#: Private channels of ``/ws/v5/private`` and the instType values ``orders``/``positions`` take.
PRIVATE_CHANNELS = ("orders", "positions", "account", "balance_and_position")
_INST_TYPES = ("ANY", "SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
#: OKX's WebSocket login errors (code, msg) as its error-code table words them.
_LOGIN_ERRORS = {
    "timestamp": ("60004", "Invalid timestamp"),
    "key": ("60005", "Invalid apiKey"),
    "expired": ("60006", "Timestamp request expired"),
    "sign": ("60007", "Invalid sign"),
    "failed": ("60009", "Login failed."),
    "passphrase": ("60024", "Wrong passphrase"),
    "busy": ("63999", "Login failed due to internal error. Please try again later."),
}
#: OKX's REST authentication errors (code, msg), all with HTTP 401.
_REST_ERRORS = {
    "no_key": ("50103", 'Request header "OK-ACCESS-KEY" cannot be empty'),
    "no_passphrase": ("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty'),
    "passphrase": ("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect'),
    "no_sign": ("50106", 'Request header "OK-ACCESS-SIGN" cannot be empty'),
    "no_timestamp": ("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty'),
    "expired": ("50102", "Timestamp request expired"),
    "key": ("50111", "Invalid OK-ACCESS-KEY"),
    "timestamp": ("50112", "Invalid OK-ACCESS-TIMESTAMP"),
    "sign": ("50113", "Invalid Sign"),
}
#: A request's timestamp may be this far from the exchange clock (okx.md §7).
WINDOW_MS = 30_000
_TIME_PATH = "/api/v5/public/time"
_TRADES_PATH = "/api/v5/market/trades"
_ACCOUNT_PATHS = (
    "/api/v5/trade/fills",
    "/api/v5/trade/fills-history",
    "/api/v5/trade/orders-pending",
    "/api/v5/trade/orders-history",
)
_ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$")
_STATE = {
    "new": "live",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "rejected": "canceled",  # OKX refuses in the order reply; the stream shows a cancel
}


def verify_login(  # noqa: PLR0911 - one return per OKX refusal, in OKX's order
    args: object, lookup: Callable[[str], SimAccount | None], now_ms: int
) -> tuple[SimAccount | None, str | None]:
    """Check one login ``args`` item as OKX does: (the account, None) or (None, the
    :data:`_LOGIN_ERRORS` key). Order: fields present, key known, timestamp a number within
    :data:`WINDOW_MS` of ``now_ms`` (the exchange clock), passphrase, signature
    (:func:`tickwire.auth.okx.login_sign`, compared in constant time)."""
    if not isinstance(args, dict) or not all(
        isinstance(args.get(k), str) and args.get(k)
        for k in ("apiKey", "passphrase", "timestamp", "sign")
    ):
        return None, "failed"
    acct = lookup(args["apiKey"])
    if acct is None:
        return None, "key"
    try:
        ts_ms = float(args["timestamp"]) * 1000
    except ValueError:
        return None, "timestamp"
    if abs(now_ms - ts_ms) > WINDOW_MS:
        return None, "expired"
    if acct.passphrase is None or not hmac.compare_digest(args["passphrase"], acct.passphrase):
        return None, "passphrase"
    expected = okx_auth.login_sign(acct.secret, args["timestamp"])
    if not hmac.compare_digest(args["sign"], expected):
        return None, "sign"
    return acct, None


def verify_rest(  # noqa: PLR0911 - one return per OKX refusal, in OKX's order
    headers: Mapping[str, str],
    method: str,
    request_path: str,
    body: str,
    lookup: Callable[[str], SimAccount | None],
    now_ms: int,
) -> tuple[SimAccount | None, str | None]:
    """Check a signed REST request's ``OK-ACCESS-*`` headers as OKX does: (the account, None)
    or (None, the :data:`_REST_ERRORS` key). The signature covers the ISO timestamp, method,
    path with query as sent and body (:func:`tickwire.auth.okx.rest_sign`)."""
    key = headers.get("OK-ACCESS-KEY", "")
    sign = headers.get("OK-ACCESS-SIGN", "")
    ts = headers.get("OK-ACCESS-TIMESTAMP", "")
    passphrase = headers.get("OK-ACCESS-PASSPHRASE", "")
    for value, missing in ((key, "no_key"), (passphrase, "no_passphrase"), (sign, "no_sign")):
        if not value:
            return None, missing
    if not ts:
        return None, "no_timestamp"
    acct = lookup(key)
    if acct is None:
        return None, "key"
    if not _ISO.match(ts):
        return None, "timestamp"
    t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f%z")
    if abs(now_ms - t.timestamp() * 1000) > WINDOW_MS:
        return None, "expired"
    if acct.passphrase is None or not hmac.compare_digest(passphrase, acct.passphrase):
        return None, "passphrase"
    expected = okx_auth.rest_sign(acct.secret, ts, method, request_path, body)
    if not hmac.compare_digest(sign, expected):
        return None, "sign"
    return acct, None


def _num(d: Decimal) -> str:
    """A decimal as OKX writes it: plain digits, no exponent, no trailing zeros."""
    if not d:
        return "0"
    return format(d.normalize(), "f")


def _inst_type(market_id: str) -> str:
    return "SPOT" if market_id.count("-") == 1 else "SWAP"


def _account_tag(account: SimAccount) -> str:
    """A short stable tag of ``account`` for its private stream keys (never its key)."""
    return hashlib.sha256(("okx\0" + account.api_key).encode()).hexdigest()[:12]


class OkxWire(WireFormat):
    """OKX data frames; the stream key is ``"<channel>:<instId>"`` and the payload the frame
    itself (one framing: OKX has no envelope options)."""

    default_framing: Hashable = None
    garbage_payload = b'{"arg":{"channel":"books","instId":"'

    def read_line(self, line: bytes) -> tuple[str, bytes]:
        """(topic, the frame) of one recorded data frame. Raises ``ValueError`` naming the line
        for anything else (replies, text pongs)."""
        try:
            obj = json.loads(line)
            arg = obj["arg"]
            if "data" not in obj:
                raise KeyError("data")
            return f"{arg['channel']}:{arg['instId']}", line.strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an OKX data frame: {line[:80]!r}") from exc

    def encode(self, stream: str, payload: bytes, framing: Hashable) -> bytes:  # noqa: ARG002
        """The frame as recorded."""
        return payload


WIRE = OkxWire()


@dataclass(frozen=True, kw_only=True)
class OkxSpec(MarketSpec):
    """The OKX v5 public market-data server (one URL for every instrument type)."""

    def create(self, sim: Simulator, options: Mapping[str, object]) -> VenueSim:
        """An :class:`OkxSim`; the one option is ``seq_ids`` (bool, default True)."""
        self.reject_unknown_options(options, {"seq_ids"})
        seq_ids = options.get("seq_ids", True)
        if not isinstance(seq_ids, bool):
            raise ValueError("seq_ids must be True or False")
        return OkxSim(self, sim, seq_ids)


def _demo_fault(sim: Simulator) -> BadChecksum:  # noqa: ARG001 - the fault needs no position
    """One BTC-USDT book update sent with a wrong checksum (the book resyncs by subscribing
    again: a fresh snapshot)."""
    return BadChecksum(stream="books:BTC-USDT", skip=40)


SPOT = OkxSpec(
    name="okx",
    exchange="okx",
    market="spot",
    wire=WIRE,
    packaged=PackagedRecording(
        "okx/books_trades_tickers_btcusdt_uniusdswap_20220513.jsonl.gz",
        "okx/books_trades_tickers_btcusdt_uniusdswap_20220513.ts.gz",
    ),
    ping_interval=0.0,  # OKX does not ping; the client does (text "ping")
    pong_timeout=0.0,
    rate_limit=100,  # not documented per message; the documented cap is 480 requests/hour
    client_ping_timeout=30.0,
    lifetime=None,
    demo=DemoSpec(
        title="OKX",
        symbol="BTC/USDT",
        channels=("book", "trades", "bbo"),
        feed_options={"bbo_channel": "tickers"},
        fault=_demo_fault,
        fault_text="a corrupted checksum",
    ),
)

SPECS = (SPOT,)


class OkxSim(VenueSim):
    """OKX's public protocol for one :class:`~tickwire.simulator.Simulator` (see the module
    docstring)."""

    spec: OkxSpec

    def __init__(self, spec: OkxSpec, sim: Simulator, seq_ids: bool = True):
        super().__init__(spec, sim)
        self.seq_ids = seq_ids
        self._replay: BookReplay | None = None
        # (instId, ts text) of each book frame -> (prevSeqId, seqId); book lines by instId
        self._seq: dict[tuple[str, bytes], tuple[int, int]] = {}
        self._book_lines: dict[str, list[int]] = {}
        # rows as last received, per book and side: price value -> row
        self._rows: dict[str, tuple[dict[Decimal, list[str]], dict[Decimal, list[str]]]] = {}
        self._rows_line = -1
        self._last_ts: dict[str, str] = {}
        self._inst_ids: list[str] = []
        #: REST market requests answered per endpoint (``ticker``, ``books``, ``candles``)
        self.market_requests: dict[str, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------
    def started(self) -> None:
        """Index the recording's book frames (sequence numbers, the book replay)."""
        rec = self.sim.recording
        lines: list[int] = []
        last: dict[str, int] = {}
        inst_ids: dict[str, None] = {}
        for line, stream in enumerate(rec.line_stream):
            channel, _, inst = stream.partition(":")
            inst_ids[inst] = None
            if channel != "books":
                continue
            frame = rec.parsed(line)
            seq = line + 1
            prev = -1 if frame.get("action") == "snapshot" else last.get(inst, -1)
            self._seq[(inst, frame["data"][0]["ts"].encode())] = (prev, seq)
            last[inst] = seq
            lines.append(line)
            self._book_lines.setdefault(inst, []).append(line)
        self._inst_ids = list(inst_ids)
        self._replay = BookReplay(self._read_book, lines)

    def rewound(self) -> None:
        """Forget the books built from later lines."""
        if self._replay is not None:
            self._replay.reset()

    def _read_book(self, line: int) -> list[BookMessage]:
        """The book messages of ``line`` (BookReplay's reader), keeping each level's row."""
        if line <= self._rows_line:  # the replay restarted from line 0
            self._rows.clear()
            self._last_ts.clear()
        self._rows_line = line
        frame = self.sim.recording.parsed(line)
        inst = frame["arg"]["instId"]
        snapshot = frame.get("action") == "snapshot"
        out = []
        for item in frame["data"]:
            if snapshot or inst not in self._rows:
                self._rows[inst] = ({}, {})
            for rows, side in zip(self._rows[inst], ("bids", "asks"), strict=True):
                for row in item[side]:
                    key = Decimal(row[0])
                    if Decimal(row[1]) == 0:
                        rows.pop(key, None)
                    else:
                        rows[key] = row
            self._last_ts[inst] = item["ts"]
            out.append(BookMessage(inst, snapshot, item["bids"], item["asks"]))
        return out

    # ---- connections -----------------------------------------------------------------------
    def ws_endpoint(self, path: str, query: Mapping[str, str]) -> WsEndpoint | None:
        """``/ws/v5/public``, ``/ws/v5/business`` (``?streams=a,b`` subscribes topics) and
        ``/ws/v5/private`` (account channels after a login)."""
        if path == "/ws/v5/private":
            return WsEndpoint("private", None, [])
        route = {"/ws/v5/public": "public", "/ws/v5/business": "business"}.get(path)
        if route is None:
            return None
        streams = [s for s in query.get("streams", "").split(",") if s]
        return WsEndpoint(route, None, streams)

    def stream_path(self, streams: Sequence[str], route: str = "") -> str:
        """``/ws/v5/<route>?streams=a,b`` (a simulator convenience; OKX subscribes by message)."""
        return f"/ws/v5/{route or 'public'}?streams={','.join(streams)}"

    def raw_path(self, stream: str | None = None, route: str = "") -> str:  # noqa: ARG002
        """``/ws/v5/public`` (or ``/ws/v5/business``)."""
        return f"/ws/v5/{route or 'public'}"

    def deliverable(self, route: str, streams: list[str]) -> list[str]:
        """The topics whose channel ``route`` serves (:func:`route_of`)."""
        return [s for s in streams if route_of(s.partition(":")[0]) == (route or "public")]

    @staticmethod
    def _conn_id(conn: ServerConnection) -> str:
        """OKX's ``connId``: 8 hex digits, fixed per connection."""
        return f"{zlib.crc32(str(conn.id).encode()):08x}"

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """``ping``, subscribe and unsubscribe (see the module docstring); ``login`` and the
        account channels on ``/ws/v5/private``."""
        if conn.route == "private":
            return self._private_message(conn, text)
        if text == "ping":
            return Outcome([b"pong"], keepalive=True)
        cid = self._conn_id(conn)
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        op = req.get("op") if isinstance(req, dict) else None
        args = req.get("args") if isinstance(req, dict) else None
        head: dict[str, Any] = {}
        if isinstance(req, dict) and isinstance(req.get("id"), str):
            head["id"] = req["id"]
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            body = {**head, "event": "error", "msg": f"Invalid request: {text[:200]}"}
            return Outcome([_dump({**body, "code": "60012", "connId": cid})])
        route = conn.route or "public"
        topics = []
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if not (
                isinstance(channel, str)
                and isinstance(inst, str)
                and route_of(channel) == route
                and _INST_ID.match(inst)
                and inst in self._inst_ids
            ):
                msg = (
                    f"Wrong URL or channel:{channel},instId:{inst} doesn't exist. Please use the "
                    "correct URL, channel and parameters referring to API document."
                )
                return Outcome(
                    [_dump({**head, "event": "error", "msg": msg, "code": "60018", "connId": cid})]
                )
            topics.append((channel, inst))
        acks = [
            _dump({**head, "event": op, "arg": {"channel": c, "instId": i}, "connId": cid})
            for c, i in topics
        ]
        streams = [f"{c}:{i}" for c, i in topics]
        if op == "subscribe":
            return Outcome(acks, subscribe=streams)
        return Outcome(acks, unsubscribe=streams)

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:
        """A ``books`` snapshot as of ``position`` (none before the recorded snapshot); the
        current state of a private ``positions``/``account``/``balance_and_position``
        stream."""
        if "#" in stream:
            return self._private_snapshot(conn, stream)
        channel, _, inst = stream.partition(":")
        if channel != "books" or self._replay is None:
            return []
        book = self._replay.book(inst, position)
        if book is None:
            return []
        rows_bids, rows_asks = self._rows[inst]
        bids = [rows_bids[Decimal(p)] for p, _ in book.bids()]
        asks = [rows_asks[Decimal(p)] for p, _ in book.asks()]
        item: dict[str, Any] = {
            "asks": asks,
            "bids": bids,
            "ts": self._last_ts[inst],
            "checksum": interleaved_checksum(book.bids(25), book.asks(25)),
        }
        if self.seq_ids:
            last_line = self._replay.last_line(inst)
            item.update(prevSeqId=-1, seqId=(last_line or 0) + 1)
        frame = {"arg": {"channel": "books", "instId": inst}, "action": "snapshot", "data": [item]}
        return [_dump(frame)]

    # ---- private (account) side ------------------------------------------------------------
    def _private_message(self, conn: ServerConnection, text: str) -> Outcome:  # noqa: PLR0911
        """A client message on ``/ws/v5/private``: ``ping``, ``login``, subscribe/unsubscribe
        of the account channels (see the module docstring)."""
        if text == "ping":
            return Outcome([b"pong"], keepalive=True)
        cid = self._conn_id(conn)
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        op = req.get("op") if isinstance(req, dict) else None
        args = req.get("args") if isinstance(req, dict) else None
        if op == "login" and isinstance(args, list) and len(args) == 1:
            accounts = self.sim.accounts
            if accounts.take_auth_error("login"):
                code, msg = _LOGIN_ERRORS["busy"]
                return Outcome([_dump({"event": "error", "code": code, "msg": msg, "connId": cid})])
            acct, why = verify_login(args[0], accounts.by_key, accounts.now_ms())
            if acct is None:
                code, msg = _LOGIN_ERRORS[why or "failed"]
                return Outcome([_dump({"event": "error", "code": code, "msg": msg, "connId": cid})])
            conn.account = acct
            return Outcome([_dump({"event": "login", "code": "0", "msg": "", "connId": cid})])
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            body = {"event": "error", "msg": f"Invalid request: {text[:200]}"}
            return Outcome([_dump({**body, "code": "60012", "connId": cid})])
        acct = conn.account
        if acct is None:
            return Outcome(
                [_dump({"event": "error", "code": "60011", "msg": "Please log in", "connId": cid})]
            )
        tag = _account_tag(acct)
        acks, streams = [], []
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst_type = arg.get("instType") if isinstance(arg, dict) else None
            ok = channel in ("account", "balance_and_position") and set(arg) == {"channel"}
            ok = ok or (channel in ("orders", "positions") and inst_type in _INST_TYPES)
            if not ok:
                msg = (
                    f"Wrong URL or channel:{channel},instType:{inst_type} doesn't exist. Please "
                    "use the correct URL, channel and parameters referring to API document."
                )
                return Outcome(
                    [_dump({"event": "error", "msg": msg, "code": "60018", "connId": cid})]
                )
            echo = {"channel": channel, **({"instType": inst_type} if inst_type else {})}
            acks.append(_dump({"event": op, "arg": echo, "connId": cid}))
            streams.append(f"{channel}:{inst_type}#{tag}" if inst_type else f"{channel}#{tag}")
        if op == "subscribe":
            return Outcome(acks, subscribe=streams)
        return Outcome(acks, unsubscribe=streams)

    def _private_snapshot(self, conn: ServerConnection, stream: str) -> list[bytes]:
        """What OKX pushes on subscribe: the open positions (``positions``), the balances
        (``account``), both (``balance_and_position``); nothing for ``orders``."""
        acct = conn.account
        if acct is None:
            return []
        engine = self.sim.accounts.engine(acct)
        channel, _, inst_type = stream.partition("#")[0].partition(":")
        now_ms = self.sim.accounts.now_ms()
        if channel == "positions":
            rows = [
                self._position(p)
                for p in engine.positions()
                if p.size and inst_type in ("ANY", _inst_type(p.market_id))
            ]
            return [_dump({"arg": {"channel": "positions", "instType": inst_type}, "data": rows})]
        if channel == "account":
            return [self._account_frame(engine.balances(), now_ms)]
        if channel == "balance_and_position":
            positions = [p for p in engine.positions() if p.size]
            return [self._bal_pos_frame(engine.balances(), positions, now_ms, "snapshot")]
        return []

    def account_market(self, market_id: str) -> AccountMarket | None:
        """The recorded spot pairs (``BTC-USDT``) and any linear swap ``<BASE>-USDT-SWAP``
        (settled in USDT; the recording's inverse ``UNI-USD-SWAP`` is not offered: the
        engine's perps are linear). Fees: OKX's base tier, 0.08% maker and 0.1% taker."""
        parts = market_id.split("-")
        if len(parts) == 2 and market_id in self._inst_ids:
            return AccountMarket(market_id, "spot", parts[0], parts[1], "0.0008", "0.001")
        if len(parts) == 3 and parts[1:] == ["USDT", "SWAP"] and _INST_ID.match(market_id):
            return AccountMarket(market_id, "perp", parts[0], "USDT", "0.0002", "0.0005")
        return None

    def recorded_trades(self) -> Iterable[tuple[int, MarketTrade]]:
        """Every recorded ``trades`` item (``side`` is the taker's)."""
        rec = self.sim.recording
        for line, stream in enumerate(rec.line_stream):
            if not stream.startswith("trades:"):
                continue
            for t in rec.parsed(line)["data"]:
                side: Literal["buy", "sell"] = "buy" if t["side"] == "buy" else "sell"
                trade = MarketTrade(
                    t["instId"], Decimal(t["px"]), Decimal(t["sz"]), side, int(t["ts"]) * 1_000_000
                )
                yield line, trade

    def account_order_id(self, n: int) -> str:
        """18-digit strings like OKX's ``ordId``."""
        return str(600_000_000_000_000_000 + n)

    def account_trade_id(self, n: int) -> str:
        """Strings like OKX's ``tradeId``."""
        return str(400_000_000 + n)

    def private_streams(self, account: SimAccount) -> list[str]:
        """``"<channel>(:<instType>)#<tag>"`` of every private channel of ``account``."""
        tag = _account_tag(account)
        out = [f"{c}:{t}#{tag}" for c in ("orders", "positions") for t in _INST_TYPES]
        return [*out, f"account#{tag}", f"balance_and_position#{tag}"]

    def encode_account(
        self, account: SimAccount, changes: Sequence[AccountChange]
    ) -> list[tuple[str, bytes]]:
        """One ``orders`` push per order change (carrying the fill it made, if any: OKX's
        ``tradeId``/``fillPx``/``fillSz``/``fillFee``...), a ``positions`` push of the
        changed positions, an ``account`` push of the changed balances, and a
        ``balance_and_position`` push of both; each on the ``ANY`` key and its instType's."""
        tag = _account_tag(account)
        engine = self.sim.accounts.engine(account)
        fills = {f.order_id: f for f in (c.state for c in changes) if isinstance(f, FillState)}
        out: list[tuple[str, bytes]] = []
        for c in changes:
            if isinstance(c.state, OrderState):
                o = c.state
                row = self._order(o, fills.get(o.order_id) if o.filled else None, engine.fills)
                for t in ("ANY", _inst_type(o.market_id)):
                    arg = {"channel": "orders", "instType": t}
                    out.append((f"orders:{t}#{tag}", _dump({"arg": arg, "data": [row]})))
        positions = [c.state for c in changes if isinstance(c.state, PositionState)]
        for t in ("ANY", "SWAP"):
            if positions:
                arg = {"channel": "positions", "instType": t}
                data = [self._position(p) for p in positions]
                out.append((f"positions:{t}#{tag}", _dump({"arg": arg, "data": data})))
        balances = [c.state for c in changes if isinstance(c.state, BalanceState)]
        now_ms = self.sim.accounts.now_ms()
        if balances:
            out.append((f"account#{tag}", self._account_frame(balances, now_ms)))
        if balances or positions:
            frame = self._bal_pos_frame(balances, positions, now_ms, changes[0].cause)
            out.append((f"balance_and_position#{tag}", frame))
        return out

    @staticmethod
    def _order(
        o: OrderState, fill: FillState | None, all_fills: Sequence[FillState]
    ) -> dict[str, Any]:
        """An ``orders`` item (also an ``orders-history``/``orders-pending`` row)."""
        spot = _inst_type(o.market_id) == "SPOT"
        ord_type: str = o.order_type
        if o.order_type == "limit" and o.time_in_force in ("post_only", "ioc", "fok"):
            ord_type = o.time_in_force
        paid = sum((f.fee for f in all_fills if f.order_id == o.order_id), Decimal(0))
        fee_ccy = next((f.fee_asset for f in all_fills if f.order_id == o.order_id), "")
        return {
            "instType": _inst_type(o.market_id),
            "instId": o.market_id,
            "ordId": str(o.order_id),
            "clOrdId": o.client_order_id or "",
            "px": _num(o.price) if o.price is not None else "",
            "sz": _num(o.size),
            "ordType": ord_type,
            "side": o.side,
            "posSide": "" if spot else "net",
            "tdMode": "cash" if spot else "cross",
            "accFillSz": _num(o.filled),
            "avgPx": _num(o.average_price) if o.average_price is not None else "0",
            "state": _STATE[o.status],
            "fee": _num(-paid),
            "feeCcy": fee_ccy,
            "tradeId": str(fill.trade_id) if fill else "",
            "fillPx": _num(fill.price) if fill else "",
            "fillSz": _num(fill.size) if fill else "0",
            "fillTime": str(fill.ts_ns // 1_000_000) if fill else "",
            "fillFee": _num(-fill.fee) if fill else "0",
            "fillFeeCcy": fill.fee_asset if fill else "",
            "execType": ("M" if fill.is_maker else "T") if fill else "",
            "category": "normal",
            "reduceOnly": "true" if o.reduce_only else "false",
            "cancelSource": "" if o.status != "canceled" else "1",
            "code": "0",
            "msg": o.reason if o.status == "rejected" else "",
            "cTime": str(o.created_ns // 1_000_000),
            "uTime": str(o.updated_ns // 1_000_000),
        }

    @staticmethod
    def _position(p: PositionState) -> dict[str, Any]:
        """A ``positions`` item (net mode: ``pos`` signed)."""
        ms = str(p.ts_ns // 1_000_000)
        return {
            "instType": "SWAP",
            "instId": p.market_id,
            "mgnMode": p.margin_mode,
            "posId": str(zlib.crc32(p.market_id.encode())),
            "posSide": "net",
            "pos": _num(p.size),
            "availPos": _num(abs(p.size)),
            "avgPx": _num(p.entry_price) if p.entry_price is not None else "",
            "markPx": _num(p.mark_price) if p.mark_price is not None else "",
            "upl": _num(p.unrealized_pnl),
            "lever": _num(p.leverage),
            "liqPx": "",
            "ccy": "USDT",
            "uTime": ms,
            "pTime": ms,
        }

    @staticmethod
    def _account_frame(balances: Sequence[BalanceState], now_ms: int) -> bytes:
        """An ``account`` push: ``details`` per asset with ``cashBal`` = total, ``availBal`` =
        free, ``frozenBal`` = locked, ``eq`` = total (the engine's wallet excludes PnL)."""
        details = [
            {
                "ccy": b.asset,
                "eq": _num(b.total),
                "cashBal": _num(b.total),
                "availBal": _num(b.free),
                "frozenBal": _num(b.locked),
                "ordFrozen": _num(b.locked),
                "uTime": str(b.ts_ns // 1_000_000),
            }
            for b in balances
        ]
        data = [{"uTime": str(now_ms), "totalEq": "", "details": details}]
        return _dump({"arg": {"channel": "account"}, "data": data})

    def _bal_pos_frame(
        self,
        balances: Sequence[BalanceState],
        positions: Sequence[PositionState],
        now_ms: int,
        cause: str,
    ) -> bytes:
        """A ``balance_and_position`` push (``eventType`` from the cause: OKX's ``filled``,
        ``snapshot``, ``transferred`` ...)."""
        event = {"fill": "filled", "deposit": "transferred", "snapshot": "snapshot"}.get(
            cause, "delivered"
        )
        bal = [
            {"ccy": b.asset, "cashBal": _num(b.total), "uTime": str(b.ts_ns // 1_000_000)}
            for b in balances
        ]
        pos = [
            {
                k: v
                for k, v in self._position(p).items()
                if k
                in (
                    "instType",
                    "instId",
                    "mgnMode",
                    "posId",
                    "posSide",
                    "pos",
                    "avgPx",
                    "ccy",
                    "uTime",
                )
            }
            for p in positions
        ]
        data = [
            {"pTime": str(now_ms), "eventType": event, "balData": bal, "posData": pos, "trades": []}
        ]
        return _dump({"arg": {"channel": "balance_and_position"}, "data": data})

    async def _account_route(self, request: web.Request) -> web.StreamResponse:
        """A signed REST account list (see the module docstring)."""
        accounts = self.sim.accounts
        if accounts.take_auth_error("rest"):
            body: dict[str, Any] = {
                "code": "50001",
                "msg": "Service temporarily unavailable. Please try again later.",
                "data": [],
            }
            return web.Response(status=503, body=_dump(body), content_type="application/json")
        text = await request.text()
        acct, why = verify_rest(
            request.headers,
            request.method,
            request.raw_path,
            text,
            accounts.by_key,
            accounts.now_ms(),
        )
        if acct is None:
            code, msg = _REST_ERRORS[why or "sign"]
            return web.Response(
                status=401, body=_dump({"msg": msg, "code": code}), content_type="application/json"
            )
        engine = accounts.engine(acct)
        q = request.query
        try:
            limit = min(int(q.get("limit", "100")), 100)
            begin = int(q["begin"]) if "begin" in q else None
            end = int(q["end"]) if "end" in q else None
        except ValueError:
            body = {"code": "51000", "msg": "Parameter limit error", "data": []}
            return web.Response(body=_dump(body), content_type="application/json")
        inst_type = q.get("instType")
        path = request.path
        rows: list[dict[str, Any]]
        if path.endswith(("/fills", "/fills-history")):
            fills = [
                f
                for f in engine.fills
                if (begin is None or f.ts_ns >= begin * 1_000_000)
                and (end is None or f.ts_ns <= end * 1_000_000)
                and inst_type in (None, _inst_type(f.market_id))
            ]
            rows = [self._fill_row(f) for f in reversed(fills)]
        else:
            if path.endswith("/orders-history") and inst_type not in _INST_TYPES[1:]:
                body = {"code": "51000", "msg": "Parameter instType error", "data": []}
                return web.Response(body=_dump(body), content_type="application/json")
            pending = path.endswith("/orders-pending")
            orders = sorted(
                (
                    o
                    for o in engine.orders.values()
                    if o.is_open == pending and inst_type in (None, _inst_type(o.market_id))
                ),
                key=lambda o: o.updated_ns,
                reverse=True,
            )
            rows = [self._history_row(o, engine.fills) for o in orders]
        reply: dict[str, object] = {"code": "0", "msg": "", "data": rows[:limit]}
        return web.Response(body=_dump(reply), content_type="application/json")

    @staticmethod
    def _fill_row(f: FillState) -> dict[str, Any]:
        """A ``GET /api/v5/trade/fills`` row (``fee`` negative = charged, as OKX writes it)."""
        ms = str(f.ts_ns // 1_000_000)
        return {
            "instType": _inst_type(f.market_id),
            "instId": f.market_id,
            "tradeId": str(f.trade_id),
            "ordId": str(f.order_id),
            "clOrdId": f.client_order_id or "",
            "billId": str(f.trade_id),
            "tag": "",
            "fillPx": _num(f.price),
            "fillSz": _num(f.size),
            "side": f.side,
            "posSide": "" if _inst_type(f.market_id) == "SPOT" else "net",
            "execType": "M" if f.is_maker else "T",
            "feeCcy": f.fee_asset,
            "fee": _num(-f.fee),
            "ts": ms,
            "fillTime": ms,
        }

    def _history_row(self, o: OrderState, fills: Sequence[FillState]) -> dict[str, Any]:
        """An ``orders-history`` / ``orders-pending`` row: the order's fields, the last fill's
        ``tradeId``/``fillPx``/``fillSz``/``fillTime`` (no ``fillFee``: OKX's list has none)."""
        last = next((f for f in reversed(fills) if f.order_id == o.order_id), None)
        row = self._order(o, last, fills)
        for k in ("fillFee", "fillFeeCcy", "execType"):
            del row[k]
        return row

    def _server_time(self) -> web.Response:
        """``GET /api/v5/public/time`` on the exchange clock."""
        body = {"code": "0", "msg": "", "data": [{"ts": str(self.sim.accounts.now_ms())}]}
        return web.Response(body=_dump(body), content_type="application/json")

    # ---- per-message fields and faults -------------------------------------------------------
    def stamp(self, conn: ServerConnection, stream: str, payload: bytes) -> bytes | None:  # noqa: ARG002
        """Book frames gain ``prevSeqId``/``seqId`` (option ``seq_ids``); others go as recorded."""
        if not self.seq_ids or not stream.startswith("books:"):
            return payload
        ts = _TS.search(payload)
        ids = self._seq.get((stream[6:], ts.group(1))) if ts else None
        if ids is None or not payload.endswith(b"}]}"):
            return payload
        return payload[:-3] + b',"prevSeqId":%d,"seqId":%d}]}' % ids

    def corrupt_checksum(self, stream: str, payload: bytes) -> bytes | None:
        """The book frame with its ``checksum`` one larger (smaller at the top of the range)."""
        if not stream.startswith("books:"):
            return None
        m = _CHECKSUM.search(payload)
        if m is None:
            return None
        return off_by_one_int32(payload, m)

    def market_id_of(self, stream: str) -> str | None:
        """``BTC-USDT`` for ``books:BTC-USDT``."""
        return stream.partition(":")[2] or None

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``/api/v5/public/instruments``, ``/api/v5/public/time``, the signed account lists
        (see the module docstring), ``/api/v5/market/trades`` (:meth:`recent_trades`), or
        None."""
        if path == _TRADES_PATH:
            return self.recent_trades
        if path == _TIME_PATH:

            async def time_answer(request: web.Request) -> web.StreamResponse:  # noqa: ARG001
                return self._server_time()

            return time_answer
        if path in _ACCOUNT_PATHS:
            return self._account_route
        market = self.market_handler(path)
        if market is not None:
            return market
        if path != _INSTRUMENTS_PATH:
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            return self.instruments(request.query.get("instType", ""))

        return answer

    # ---- REST market data: ticker, books, candles (the REST fallback, candle backfill) -------
    def market_handler(self, path: str) -> RestHandler | None:
        """``GET /api/v5/market/ticker``, ``/books`` and ``/candles`` (:meth:`ticker`,
        :meth:`books`, :meth:`candles`), each counted in ``market_requests``; else None. An
        ``instId`` the recording does not hold answers OKX's ``51001`` "Instrument ID does not
        exist"."""
        name = path.removeprefix("/api/v5/market/")
        if name not in ("ticker", "books", "candles"):
            return None

        async def answer(request: web.Request) -> web.StreamResponse:
            self.market_requests[name] = self.market_requests.get(name, 0) + 1
            q = request.query
            inst = q.get("instId", "")
            if inst not in self._inst_ids:
                return self._market_reply("51001", "Instrument ID does not exist", [])
            if name == "ticker":
                return self.ticker(inst)
            if name == "books":
                return self.books(inst, q.get("sz", "1"))
            return self.candles(inst, q.get("bar", "1m"), q.get("limit", "100"))

        return answer

    @staticmethod
    def _market_reply(code: str, msg: str, data: list[Any]) -> web.Response:
        body = _dump({"code": code, "msg": msg, "data": data})
        return web.Response(body=body, content_type="application/json")

    def ticker(self, inst: str) -> web.Response:
        """``data[0]``: the last recorded ``tickers`` item of ``inst`` published so far (OKX's
        REST ticker has the same fields); before it, the top of the book at the position with
        its ``ts``. No book either: ``51001``."""
        frames = self.published(f"tickers:{inst}")
        if frames:
            return self._market_reply("0", "", [frames[-1]["data"][-1]])
        book = None if self._replay is None else self._replay.book(inst, self.sim.position)
        if book is None or not book.bids(1) or not book.asks(1):
            return self._market_reply("51001", "Instrument ID does not exist", [])
        (bp, bq), (ap, aq) = book.bids(1)[0], book.asks(1)[0]
        item = {"instId": inst, "bidPx": bp, "bidSz": bq, "askPx": ap, "askSz": aq}
        return self._market_reply("0", "", [item | {"ts": self._last_ts[inst]}])

    def books(self, inst: str, sz_text: str) -> web.Response:
        """``data[0]`` ``{"asks","bids","ts"}``: the top ``sz`` (1-400) rows of the recorded
        book at the replay position, each row as recorded (``[px, sz, "0", count]``), ``ts``
        of the last applied frame; empty sides before the recorded snapshot."""
        try:
            sz = int(sz_text)
        except ValueError:
            sz = 0
        if not 1 <= sz <= 400:
            return self._market_reply("51000", "Parameter sz error", [])
        book = None if self._replay is None else self._replay.book(inst, self.sim.position)
        if book is None:
            item: dict[str, Any] = {"asks": [], "bids": [], "ts": "0"}
        else:
            rows_bids, rows_asks = self._rows[inst]
            item = {
                "asks": [rows_asks[Decimal(p)] for p, _ in book.asks(sz)],
                "bids": [rows_bids[Decimal(p)] for p, _ in book.bids(sz)],
                "ts": self._last_ts[inst],
            }
        return self._market_reply("0", "", [item])

    def candles(self, inst: str, bar: str, limit_text: str) -> web.Response:
        """``data`` rows ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``, newest first,
        at most ``limit`` (1-300): the latest state of each recorded ``candle<bar>`` candle of
        ``inst`` published so far. The packaged recording holds no candles: it lists none
        (the simulator makes up no market data)."""
        try:
            limit = max(1, min(int(limit_text), 300))
        except ValueError:
            return self._market_reply("51000", "Parameter limit error", [])
        latest: dict[int, list[str]] = {}
        for frame in self.published(f"candle{bar}:{inst}"):
            for row in frame["data"]:
                latest[int(row[0])] = row
        rows = [latest[t] for t in sorted(latest, reverse=True)][:limit]
        return self._market_reply("0", "", rows)

    @property
    def instruments_path(self) -> str:
        """``/api/v5/public/instruments``."""
        return _INSTRUMENTS_PATH

    def instruments(self, inst_type: str) -> web.Response:
        """The held instruments of ``inst_type`` in OKX's reply shape (see the module
        docstring)."""
        if inst_type not in ("SPOT", "SWAP", "FUTURES", "MARGIN", "OPTION"):
            body = {"code": "51000", "msg": "Parameter instType error", "data": []}
            return web.Response(body=_dump(body), content_type="application/json")
        data = [
            e for e in (self._instrument(i) for i in self._inst_ids) if e["instType"] == inst_type
        ]
        return web.Response(
            body=_dump({"code": "0", "msg": "", "data": data}), content_type="application/json"
        )

    def _instrument(self, inst: str) -> dict[str, str]:
        parts = inst.split("-")
        price_dec, size_dec = self._decimals(inst)
        tick = format(Decimal(1).scaleb(-price_dec), "f")
        lot = format(Decimal(1).scaleb(-size_dec), "f")
        entry = {"instId": inst, "tickSz": tick, "lotSz": lot, "state": "live"}
        if len(parts) == 2:
            return {**entry, "instType": "SPOT", "baseCcy": parts[0], "quoteCcy": parts[1]}
        base, quote, kind = parts
        inverse = quote == "USD"
        return {
            **entry,
            "instType": "SWAP" if kind == "SWAP" else "FUTURES",
            "instFamily": f"{base}-{quote}",
            "uly": f"{base}-{quote}",
            "settleCcy": base if inverse else quote,
            "ctType": "inverse" if inverse else "linear",
        }

    def _decimals(self, inst: str) -> tuple[int, int]:
        """Most decimals in the recorded prices and sizes of ``inst`` (books and trades)."""
        rec = self.sim.recording
        price, size = 0, 0

        def places(text: str) -> int:
            return len(text.partition(".")[2])

        for line, stream in enumerate(rec.line_stream):
            channel, _, who = stream.partition(":")
            if who != inst or channel not in ("books", "trades"):
                continue
            for item in rec.parsed(line)["data"]:
                if channel == "trades":
                    price, size = max(price, places(item["px"])), max(size, places(item["sz"]))
                    continue
                for row in (*item["bids"], *item["asks"]):
                    price, size = max(price, places(row[0])), max(size, places(row[1]))
        return price, size

    def url_lines(self) -> list[str]:
        """The WebSocket URLs and the instruments URL."""
        sim = self.sim
        return [
            f"  websocket  {sim.ws_url}/ws/v5/public  (and /ws/v5/business)",
            f"  all streams {sim.stream_url()}",
            f"  rest instruments {sim.rest_url}{_INSTRUMENTS_PATH}?instType=SPOT",
        ]

    # ---- REST recent trades (a reconnect's trade recovery, the REST fallback) -------------------
    async def recent_trades(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/v5/market/trades?instId=&limit=`` (limit default 100, at most 500): the
        latest recorded ``trades`` items of ``instId`` published so far, newest first, in
        OKX's row shape ``{instId, side, sz, px, source, tradeId, ts}``; code 51001 for an
        instrument without recorded trades."""
        q = request.query
        inst = q.get("instId", "")
        rec = self.sim.recording
        sd = rec.streams.get(f"trades:{inst}") or rec.streams.get(f"trades-all:{inst}")
        if sd is None:
            error = {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
            return web.Response(body=_dump(error), content_type="application/json")
        try:
            limit = max(1, min(int(q.get("limit", 100)), 500))
        except ValueError:
            error = {"code": "51000", "msg": "Parameter limit error", "data": []}
            return web.Response(body=_dump(error), content_type="application/json")
        published = bisect.bisect_left(sd.lines, self.sim.position)
        rows: list[dict[str, str]] = []
        for frame in reversed(sd.data[:published]):
            rows.extend(
                {
                    "instId": inst,
                    "side": item["side"],
                    "sz": item["sz"],
                    "px": item["px"],
                    "source": item.get("source", "0"),
                    "tradeId": item["tradeId"],
                    "ts": item["ts"],
                }
                for item in reversed(json.loads(frame)["data"])
            )
            if len(rows) >= limit:
                break
        body = {"code": "0", "msg": "", "data": rows[:limit]}
        return web.Response(body=_dump(body), content_type="application/json")
