"""OKX v5 request signers (shared/docs/exchanges/okx.md §7).

Both are Base64(HMAC-SHA256(secret, prehash)) over UTF-8 text:

- WebSocket ``login``: prehash ``timestamp + "GET" + "/users/self/verify"`` with ``timestamp``
  in Unix epoch **seconds** (a string; OKX refuses a login whose timestamp is more than 30 s
  away from its clock, so it comes from the measured server clock).
- REST: prehash ``timestamp + METHOD + requestPath + body`` with ``timestamp`` the ISO 8601
  UTC time with milliseconds (``2020-12-08T09:08:57.715Z``), ``requestPath`` the path with its
  query string (``/api/v5/trade/fills?instType=SPOT``), ``body`` the JSON body ("" for GET);
  sent as headers ``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN``, ``OK-ACCESS-TIMESTAMP``,
  ``OK-ACCESS-PASSPHRASE``.

Pure functions (no I/O, no clock): the caller passes the time. Their results are secrets (a
signature lets a replay within the window): never log them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

__all__ = [
    "LOGIN_METHOD",
    "LOGIN_PATH",
    "iso_timestamp",
    "login_args",
    "login_sign",
    "rest_headers",
    "rest_sign",
    "seconds_timestamp",
]

#: The fixed method and path of the login prehash.
LOGIN_METHOD = "GET"
LOGIN_PATH = "/users/self/verify"


def _sign(secret: str, prehash: str) -> str:
    mac = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def seconds_timestamp(now_ms: int) -> str:
    """The login ``timestamp``: whole Unix epoch seconds of ``now_ms`` (ms), as text."""
    return str(now_ms // 1000)


def iso_timestamp(now_ms: int) -> str:
    """The REST ``OK-ACCESS-TIMESTAMP``: ``now_ms`` (ms since the epoch) as ISO 8601 UTC with
    milliseconds, ``"2020-12-08T09:08:57.715Z"``."""
    dt = datetime.fromtimestamp(now_ms // 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{now_ms % 1000:03d}Z"


def login_sign(secret: str, timestamp: str) -> str:
    """``sign`` of a WebSocket login at ``timestamp`` (epoch seconds as text):
    Base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))."""
    return _sign(secret, timestamp + LOGIN_METHOD + LOGIN_PATH)


def login_args(api_key: str, secret: str, passphrase: str, timestamp: str) -> dict[str, str]:
    """The one ``args`` item of ``{"op":"login","args":[..]}``: ``apiKey``, ``passphrase``,
    ``timestamp``, ``sign``."""
    return {
        "apiKey": api_key,
        "passphrase": passphrase,
        "timestamp": timestamp,
        "sign": login_sign(secret, timestamp),
    }


def rest_sign(secret: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """``OK-ACCESS-SIGN``: Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath +
    body)); ``method`` is upper-cased, ``request_path`` includes the query string."""
    return _sign(secret, timestamp + method.upper() + request_path + body)


def rest_headers(
    api_key: str,
    secret: str,
    passphrase: str,
    timestamp: str,
    method: str,
    request_path: str,
    body: str = "",
) -> dict[str, str]:
    """The four ``OK-ACCESS-*`` headers of one REST request (secrets: never log them)."""
    return {
        "OK-ACCESS-KEY": api_key,
        "OK-ACCESS-SIGN": rest_sign(secret, timestamp, method, request_path, body),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": passphrase,
    }
