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
import contextlib
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
HISTORY_PATH = "/api/v3/myTrades"
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
        history: bool = False,
    ) -> None:
        super().__init__(base_url=base_url)
        self.history = history
        self.credentials = credentials  # (Binance spot's own __init__ takes no keys yet)
        self.token_refresh_s = refresh_s
        self.time_request = time_request
        self.listen_key: str | None = None

    def private_subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        self.check_credentials()
        del channels  # one stream carries the account
        return [Subscription("", "orders", "keyed", "ethusdt@trade")]

    def ws_url(self, route: str) -> str:
        del route  # both routes are the market's combined-stream endpoint
        return self.ws_base_url + "/stream"

    async def connect_target(self, http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        if route != "keyed":
            return await super().connect_target(http, route)
        creds = self.check_credentials()
        call = RestCall(
            "POST", self.rest_base_url + LISTEN_PATH, {}, {"X-MBX-APIKEY": creds.api_key}
        )
        body = await rest.send(http, call, 5.0)
        self.listen_key = json.loads(body)["listenKey"]
        return ConnectTarget(f"{self.ws_url(route)}?listenKey={self.listen_key}", self.keepalive())

    def login_requests(self, route: str, next_id: NextId) -> list[Request]:
        if route != "keyed":
            return []
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

    def account_requests(self, what: str, since_ms: int) -> list[RestCall]:
        """With ``history``: one signed GET of ``HISTORY_PATH`` per list (the venue's answer is
        scripted by the test); without: none (the venue has no such list)."""
        if not self.history:
            return []
        creds = self.check_credentials()
        ts = self.clock.now_ms()
        params = {"what": what, "startTime": str(since_ms), "timestamp": str(ts)}
        params["signature"] = sign(creds.secret, creds.api_key, ts)
        headers = {"X-MBX-APIKEY": creds.api_key}
        return [RestCall("GET", self.rest_base_url + HISTORY_PATH, params, headers)]

    def server_time_request(self) -> tuple[str, dict[str, str]] | None:
        return (self.rest_base_url + TIME_PATH, {}) if self.time_request else None

    def parse_server_time(self, body: bytes) -> int:
        return int(json.loads(body)["serverTime"])


@dataclass
class KeyedVenue:
    """The simulator side: installed on a Binance :class:`Simulator` by :meth:`install`.

    Knobs: ``skew_ms`` (the venue's clock minus ours), ``post_script`` (HTTP statuses the next
    listen-key POSTs answer instead, e.g. ``[503, 503]``), ``drop_logons`` (LOGON messages
    left unanswered), ``expired`` (listen keys the venue no longer knows),
    ``refuse_upgrade`` (answer the WebSocket upgrade of a listen-key URL with HTTP 401),
    ``history_status`` / ``retry_after`` (the answer of every account-history request, with a
    ``Retry-After`` header if set; a bad signature is a 401). Records: ``history`` (monotonic
    time, list, startTime of each history request),
    ``posts``, ``puts`` (monotonic times), ``refused`` (upgrades refused),
    ``logons`` (connection path, reply code or None), ``messages`` (connection path, text),
    ``time_requests``."""

    skew_ms: int = 0
    post_script: list[int] = field(default_factory=list)
    drop_logons: int = 0
    expired: set[str] = field(default_factory=set)
    refuse_upgrade: bool = False
    refused: int = 0
    history_status: int = 503
    retry_after: int | None = None
    history: list[tuple[float, str, str]] = field(default_factory=list)
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
            if path == HISTORY_PATH:
                return self._history
            if path == "/stream" and self.refuse_upgrade:
                return self._refuse
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

    async def _history(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        self.history.append((time.monotonic(), q["what"], q["startTime"]))
        ok = q.get("signature") == sign(SECRET, KEY, int(q["timestamp"]))
        status = self.history_status if ok else 401
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return web.json_response({"code": -1, "msg": "scripted"}, status=status, headers=headers)

    async def _refuse(self, request: web.Request) -> web.StreamResponse:
        if "listenKey" not in request.query:
            return web.json_response({}, status=404)
        self.refused += 1
        return web.json_response({"code": -2015, "msg": "Invalid listen key"}, status=401)

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


# --- every venue's own private side: one scenario with faults --------------------------------
@dataclass(frozen=True)
class VenueCase:
    """How to run a private session on a venue's simulator: the simulator market, adapter
    options, the market id orders are placed on (with a limit price far from the recorded
    market, so only scripted fills fill them) and starting balances."""

    sim: str
    market_id: str
    price: str
    size: str
    balances: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)
    #: the venue pushes each fill (False: fills come only from its REST history, BitUnix)
    live_fills: bool = True


PRIVATE_VENUES: dict[str, VenueCase] = {
    "binance": VenueCase(
        "binance", "ETHUSDT", "1000", "0.1", {"USDT": "10000", "ETH": "2"},
        {"account_symbols": ["ETH/USDT"]},
    ),
    "binanceusdm": VenueCase(
        "binanceusdm", "ETHUSDT", "1000", "0.1", {"USDT": "10000", "ETH": "2"},
        {"account_symbols": ["ETH/USDT:USDT"]},
    ),
    "okx": VenueCase("okx", "BTC-USDT-SWAP", "30000", "1", {"USDT": "100000", "BTC": "2"}),
    "bybit": VenueCase("bybit-linear", "BTCUSDT", "1000", "0.01", {"USDT": "100000"}),
    "bitunix": VenueCase("bitunix", "BTCUSDT", "1000", "0.1", {"USDT": "10000"}, live_fills=False),
}  # fmt: skip

V_KEY = "vKey5d0c81f3a9e2b647"
V_SECRET = "vSec2b7e94c0d13f8a56"  # noqa: S105 - the simulated account's test secret
V_PASS = "vPass9c3e17"  # noqa: S105 - idem


def private_exchanges() -> list[str]:
    """Every exchange id whose adapter serves account channels."""
    from tickwire.exchanges import exchange_ids, get_adapter

    return [x for x in exchange_ids() if get_adapter(x).private_channels]


def venue_case(exchange: str) -> VenueCase:
    """The case of ``exchange``; a visible skip (never a silent one) when there is none yet."""
    import pytest

    case = PRIVATE_VENUES.get(exchange)
    if case is None:
        pytest.skip(f"{exchange} serves account channels but has no case in PRIVATE_VENUES")
    return case


_SECRET_FIELD = ("sign", "key", "token", "pass", "secret")


def _secret_strings(obj: Any, out: list[str], named: bool = False) -> None:
    """Collect the string values under secret-looking names in a decoded JSON payload."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _secret_strings(v, out, named or any(w in str(k).lower() for w in _SECRET_FIELD))
    elif isinstance(obj, list):
        for v in obj:
            _secret_strings(v, out, named)
    elif named and isinstance(obj, str) and len(obj) >= 8:
        out.append(obj)


def spy_secrets(adapter: Any) -> list[str]:
    """Wrap ``adapter``'s signing hooks (on the instance) so every signature, token and key
    they produce is recorded in the returned list (for the leak checks)."""
    from tickwire.redact import secret_values, secrets_of

    found: list[str] = []
    login, account, target = (
        adapter.login_requests,
        adapter.account_requests,
        adapter.connect_target,
    )

    def login_requests(route: str, next_id: NextId) -> list[Request]:
        reqs = login(route, next_id)
        for r in reqs:
            with contextlib.suppress(ValueError):  # a payload that is not JSON: none to find
                _secret_strings(json.loads(r.payload), found)
        return reqs

    def account_requests(what: str, since_ms: int) -> list[RestCall]:
        calls = account(what, since_ms)
        for c in calls:
            found.extend(secret_values(c.headers) + secret_values(c.params))
        return calls

    async def connect_target(http: aiohttp.ClientSession, route: str) -> ConnectTarget:
        t = await target(http, route)
        found.extend(secrets_of(t.url))
        return t

    adapter.login_requests = login_requests
    adapter.account_requests = account_requests
    adapter.connect_target = connect_target
    return found


@dataclass
class SessionRun:
    """What :func:`venue_session` saw: events, the engine's fills, stats, what was shown
    (reprs), the secrets used and the errors raised with bad keys."""

    events: list[Any]
    engine_fills: list[str]
    stats: dict[str, int]
    shown: list[str]
    secrets: list[str]
    errors: list[BaseException]


async def venue_session(exchange: str, case: VenueCase) -> SessionRun:
    """A full private session on ``exchange``'s simulator with faults: an order and a live
    fill; a fill burst with a disconnect after the first (the rest are fetched over REST after
    the reconnect, whose first signed REST request meets a 5xx); every token expires;
    then a feed with an unknown key (an AuthError). Every account channel, callbacks and
    ``on_event``; reprs of everything shown are collected."""
    import tickwire as tw
    from tickwire.connection import ConnectionOptions
    from tickwire.simulator import AuthServerError, FillBurst, SimAccount, TokenExpiry

    fast = ConnectionOptions(backoff_base=0.05, backoff_cap=0.2, ack_timeout=2.0)
    acct = SimAccount(api_key=V_KEY, secret=V_SECRET, passphrase=V_PASS, balances=case.balances)
    creds = tw.Credentials(api_key=V_KEY, secret=V_SECRET, passphrase=V_PASS)
    events: list[Any] = []
    shown: list[str] = []
    errors: list[BaseException] = []
    async with Simulator(case.sim, speed=1, accounts=[acct]) as sim:
        feed = tw.Feed(
            exchange,
            channels=list(tw.exchanges.get_adapter(exchange).private_channels),
            credentials=creds,
            base_url=sim.rest_url,
            options=case.options or None,
            on_event=events.append,
            connection_options=fast,
            start_timeout=10.0,
        )
        used = spy_secrets(feed.adapter)
        fills = lambda: [e for e in events if isinstance(e, tw.Fill)]  # noqa: E731
        async with feed:
            eng = sim.accounts.engine()
            eng.place(
                case.market_id, "buy", str(4 * float(case.size)), case.price, client_order_id="lk1"
            )
            eng.fill("lk1", case.size)
            if case.live_fills:
                await wait_for(lambda: len(fills()) == 1)
            else:  # the order's own update says it was filled
                await wait_for(
                    lambda: any(
                        isinstance(e, tw.OrderUpdate) and e.status == "partially_filled"
                        for e in events
                    )
                )
            sim.inject(AuthServerError(count=1, where="rest"))
            sim.inject(FillBurst("lk1", fills=3, size=case.size, disconnect_after=1))
            await wait_for(lambda: len(fills()) == 4, timeout=20.0)
            sim.inject(TokenExpiry())
            await asyncio.sleep(0.5)
            stats = feed.stats()
            shown += [repr(feed), str(stats), repr(feed.adapter), repr(creds)]
            shown += [repr(c) for c in feed.connections]
            engine_fills = [str(f.trade_id) for f in eng.fills]
        bad = tw.Feed(
            exchange,
            channels=list(feed.adapter.private_channels),
            credentials=tw.Credentials(api_key=V_KEY[::-1], secret=V_SECRET, passphrase=V_PASS),
            base_url=sim.rest_url,
            options=case.options or None,
            connection_options=fast,
            start_timeout=10.0,
        )
        try:
            await bad.start()
        except tw.AuthError as exc:
            errors.append(exc)
        finally:
            await bad.close()
        shown += [repr(bad), str(bad.stats())]
    shown += [repr(e) for e in events] + [str(e) for e in events]
    secrets = [V_KEY, V_SECRET, V_PASS, V_KEY[::-1], *used]
    return SessionRun(events, engine_fills, stats, shown, secrets, errors)
