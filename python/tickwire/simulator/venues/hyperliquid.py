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

REST: ``POST /info`` with ``{"type":"meta"}`` lists the recorded perps (``name``, ``szDecimals``
= the most decimals the recording shows in that coin's sizes; other fields of the real reply
are left out) and ``{"type":"spotMeta"}`` lists no pairs (``{"tokens":[],"universe":[]}``: the
recording has no spot coin). Another ``type`` answers HTTP 422 with Hyperliquid's text
``Failed to deserialize the JSON body into the target type``; a GET answers 405.
"""

from __future__ import annotations

import json
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

_INFO_PATH = "/info"
#: Data channels (hyperliquid.md §5, §6) whose pushes a recording may hold.
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

    def on_subscribe(self, conn: ServerConnection, stream: str, position: int) -> list[bytes]:  # noqa: ARG002
        """The whole book of an ``l2Book`` stream as of ``position``: its last recorded push
        before that line (none before its first push)."""
        lines = [n for n in self._book_lines.get(stream, ()) if n < position]
        if not lines:
            return []
        return [self.sim.recording.lines[lines[-1]].strip()]

    def market_id_of(self, stream: str) -> str | None:
        """``BTC`` for ``l2Book:BTC``."""
        return stream.partition(":")[2] or None

    # ---- REST ------------------------------------------------------------------------------
    def rest_handler(self, path: str) -> RestHandler | None:
        """``POST /info`` (``meta``, ``spotMeta``), or None."""
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
            return web.Response(
                status=422, text="Failed to deserialize the JSON body into the target type"
            )

        return answer

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
