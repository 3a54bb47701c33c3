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
"""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

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

_INSTRUMENTS_PATH = "/api/v1/futures/market/trading_pairs"
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
#: Book channels served from the recorded ``depth_book15`` pushes, and the levels each keeps.
BOOK_DEPTHS = {"depth_book1": 1, "depth_book5": 5, "depth_book15": 15, "depth_books": 15}
_KLINE = re.compile(
    r"^(market|mark)_kline_(1min|3min|5min|15min|30min|60min|2h|4h|6h|8h|12h|1day|3day|1week|1month)$"
)


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


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
        """``/public/`` (``?streams=a,b`` subscribes stream keys)."""
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

    def on_client_message(self, conn: ServerConnection, text: str) -> Outcome:
        """Pings, subscribe and unsubscribe (see the module docstring)."""
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        op = req.get("op") if isinstance(req, dict) else None
        if op == "ping" and isinstance(req, dict) and isinstance(req.get("ping"), int):
            reply = {"op": "ping", "pong": req["ping"], "ping": int(time.time())}
            return Outcome([_dump(reply)], keepalive=True)
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
        """``/api/v1/futures/market/trading_pairs``, or None."""
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
