"""A keyed account side on the Binance simulator, to test the GENERIC private machinery.

The venues' own private sides (their signers, real login messages and account frames) are
tested in ``test_<venue>_private.py``. Here the connection layer's state machine is driven
through a real simulator socket and real REST routes by an adapter whose auth steps are shaped
like a listen-key venue that also logs in over the socket:

- ``connect_target``: ``POST /api/v3/userDataStream`` with the key in ``X-MBX-APIKEY``
  (Binance's listen-key call; an unknown key is refused with HTTP 401 and Binance's
  ``{"code":-2015,...}``), the WebSocket URL carries ``?listenKey=``;
- ``login_requests``: one ``{"method":"LOGON","params":{apiKey,timestamp,signature},"id"}``
  whose signature is HMAC-SHA256 (hex) of ``apiKey=..&timestamp=..`` under the secret, as
  Binance's signed requests are; the simulator side verifies it exactly (unknown key -2015,
  bad signature -1022, timestamp outside a 5 s window of ITS clock -1021, Binance's codes and
  messages) and answers ``{"result":{...},"id"}`` or ``{"error":{"code","msg"},"id"}``,
  which the real Binance decoder turns into ack / error replies;
- ``refresh_token``: ``PUT /api/v3/userDataStream?listenKey=`` (400 ``-1125 This listenKey
  does not exist.`` for a key the venue expired: an ``AuthError``);
- ``server_time_request``: ``GET /api/v3/time`` (the simulator's clock, which a test may set
  ahead of ours to prove signatures use the measured offset).

The account stream itself is the recorded ``ethusdt@trade`` stream (this venue has no account
frames): the tests here are about connecting, logging in, refreshing and failing.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web

from tickwire.auth import Credentials
from tickwire.connection import rest
from tickwire.exceptions import AuthError
from tickwire.exchanges import ConnectTarget, NextId, Request, RestCall, Subscription
from tickwire.exchanges.binance import BinanceSpot
from tickwire.simulator import Simulator
from tickwire.simulator.venue import Outcome

LISTEN_PATH = "/api/v3/userDataStream"
TIME_PATH = "/api/v3/time"
KEY = "tKey7c0f2a9d4b6e18357a"
SECRET = "tSec4e91b7d0c3a6f2589e"  # noqa: S105 - the simulated account's test secret
GOOD = Credentials(api_key=KEY, secret=SECRET)
WINDOW_MS = 5_000


def sign(secret: str, key: str, ts: int) -> str:
    """HMAC-SHA256 hex of ``apiKey=<key>&timestamp=<ts>`` under ``secret``."""
    return hmac.new(secret.encode(), f"apiKey={key}&timestamp={ts}".encode(), "sha256").hexdigest()


class KeyedSpot(BinanceSpot):
    """Binance spot plus the keyed account side described in the module docstring."""

    private_channels = ("orders", "fills", "balances")

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None = GOOD,
        refresh_s: float | None = None,
        time_request: bool = True,
    ) -> None:
        super().__init__(base_url=base_url)
        self.credentials = credentials  # (Binance spot's own __init__ takes no keys yet)
        self.token_refresh_s = refresh_s
        self.time_request = time_request
        self.listen_key: str | None = None

    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        self.check_credentials()
        del channels  # one stream carries the account
        return [Subscription("", "orders", "private", "ethusdt@trade")]

    async def connect_target(self, http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        if route != "private":
            return await super().connect_target(http, route)
        creds = self.check_credentials()
        call = RestCall(
            "POST", self.rest_base_url + LISTEN_PATH, {}, {"X-MBX-APIKEY": creds.api_key}
        )
        body = await rest.send(http, call, 5.0)
        self.listen_key = json.loads(body)["listenKey"]
        return ConnectTarget(f"{self.ws_url(route)}?listenKey={self.listen_key}", self.keepalive())

    def login_requests(self, route: str, next_id: NextId) -> list[Request]:
        del route
        creds = self.check_credentials()
        ts = self.clock.now_ms()
        rid = next_id()
        params = {
            "apiKey": creds.api_key,
            "timestamp": ts,
            "signature": sign(creds.secret, creds.api_key, ts),
        }
        payload = json.dumps({"method": "LOGON", "params": params, "id": rid}).encode()
        return [Request(payload, frozenset({rid}), ("LOGON",), login=True)]

    async def refresh_token(self, http: aiohttp.ClientSession, route: str) -> None:
        del route
        creds = self.check_credentials()
        call = RestCall(
            "PUT",
            self.rest_base_url + LISTEN_PATH,
            {"listenKey": self.listen_key or ""},
            {"X-MBX-APIKEY": creds.api_key},
        )
        try:
            await rest.send(http, call, 5.0)
        except rest.HttpStatusError as exc:
            if exc.status == 400:
                err = json.loads(exc.body)
                raise AuthError(
                    err["msg"], code=err["code"], reason=err["msg"], exchange="binance"
                ) from None
            raise

    def server_time_request(self) -> tuple[str, dict[str, str]] | None:
        return (self.rest_base_url + TIME_PATH, {}) if self.time_request else None

    def parse_server_time(self, body: bytes) -> int:
        return int(json.loads(body)["serverTime"])


@dataclass
class KeyedVenue:
    """The simulator side: installed on a Binance :class:`Simulator` by :meth:`install`.

    Knobs: ``skew_ms`` (the venue's clock minus ours), ``post_script`` (HTTP statuses the next
    listen-key POSTs answer instead, e.g. ``[503, 503]``), ``drop_logons`` (LOGON messages
    left unanswered), ``expired`` (listen keys the venue no longer knows). Records:
    ``posts``, ``puts`` (monotonic times), ``logons`` (connection path, reply code or None),
    ``messages`` (connection path, text), ``time_requests``."""

    skew_ms: int = 0
    post_script: list[int] = field(default_factory=list)
    drop_logons: int = 0
    expired: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)
    posts: list[float] = field(default_factory=list)
    puts: list[float] = field(default_factory=list)
    logons: list[tuple[str, int | None]] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    time_requests: int = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.skew_ms

    def install(self, sim: Simulator) -> KeyedVenue:
        venue = sim.venue
        answer = venue.on_client_message
        base = venue.rest_handler

        def on_client_message(conn: Any, text: str) -> Outcome:
            self.messages.append((conn.path, text))
            msg = json.loads(text)
            if msg.get("method") != "LOGON":
                return answer(conn, text)
            if self.drop_logons > 0:
                self.drop_logons -= 1
                self.logons.append((conn.path, None))
                return Outcome([])
            code, reply = self._logon(msg)
            self.logons.append((conn.path, code))
            return Outcome([json.dumps(reply).encode()])

        def rest_handler(path: str):  # type: ignore[no-untyped-def]
            if path == TIME_PATH:
                return self._time
            if path == LISTEN_PATH:
                return self._listen
            return base(path)

        venue.on_client_message = on_client_message  # type: ignore[method-assign]
        venue.rest_handler = rest_handler  # type: ignore[method-assign]
        return self

    def _logon(self, msg: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
        p, rid = msg["params"], msg["id"]
        if p.get("apiKey") != KEY:
            return -2015, _err(-2015, "Invalid API-key, IP, or permissions for action.", rid)
        if not hmac.compare_digest(str(p.get("signature")), sign(SECRET, KEY, int(p["timestamp"]))):
            return -1022, _err(-1022, "Signature for this request is not valid.", rid)
        if abs(int(p["timestamp"]) - self.now_ms()) > WINDOW_MS:
            return -1021, _err(
                -1021, "Timestamp for this request is outside of the recvWindow.", rid
            )
        return 0, {"result": {"apiKey": KEY, "authorizedSince": self.now_ms()}, "id": rid}

    async def _time(self, _request: web.Request) -> web.StreamResponse:
        self.time_requests += 1
        return web.json_response({"serverTime": self.now_ms()})

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-MBX-APIKEY") != KEY:
            return web.json_response(
                {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                status=401,
            )
        if request.method == "POST":
            self.posts.append(time.monotonic())
            if self.post_script:
                return web.json_response(
                    {"code": -1000, "msg": "busy"}, status=self.post_script.pop(0)
                )
            self.issued.append(secrets.token_hex(30))
            return web.json_response({"listenKey": self.issued[-1]})
        if request.method == "PUT":
            self.puts.append(time.monotonic())
            key = request.query.get("listenKey", "")
            if key not in self.issued or key in self.expired:
                return web.json_response(
                    {"code": -1125, "msg": "This listenKey does not exist."}, status=400
                )
            return web.json_response({})
        raise web.HTTPMethodNotAllowed(request.method, ["POST", "PUT"])

    def paths(self) -> list[str]:
        """The connection paths that sent anything, in order of first message."""
        return list(dict.fromkeys(p for p, _ in self.messages))

    def methods(self, path: str) -> list[str]:
        """The request methods connection ``path`` sent, in order."""
        return [json.loads(t).get("method", "?") for p, t in self.messages if p == path]


def listen_key_of(path: str) -> str:
    """The ``listenKey`` query value of a connection path."""
    return dict(parse_qsl(urlsplit(path).query)).get("listenKey", "")


def _err(code: int, msg: str, rid: object) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": rid}


async def wait_for(cond: Any, timeout: float = 10.0) -> None:
    """Poll ``cond()`` until true (AssertionError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
