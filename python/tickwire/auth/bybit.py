"""Bybit v5 request signing (docs/exchanges/bybit.md §7; Bybit ``docs/v5/guide`` and
``docs/v5/ws/connect``).

Two HMAC-SHA256 recipes, both lowercase hex over UTF-8:

- WebSocket ``auth`` op: the signed text is ``"GET/realtime" + str(expires)``, ``expires`` a
  Unix time in **ms** in the future; the op is ``{"op":"auth","args":[api_key, expires,
  signature]}``.
- REST: the signed text is ``timestamp + api_key + recv_window + payload`` (``payload`` the
  query string of a GET exactly as sent, or the JSON body of a POST); sent in the headers
  ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW``, ``X-BAPI-SIGN``. Bybit
  accepts ``server_time - recv_window <= timestamp < server_time + 1000``.

Bybit publishes no reproducible vector (its examples show signatures but never the secret):
the tests check these functions against the documented example inputs with an independent
``hmac`` computation. Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "DEFAULT_RECV_WINDOW_MS",
    "rest_headers",
    "rest_payload",
    "sign",
    "ws_auth_payload",
    "ws_signature",
]

#: Bybit's default ``X-BAPI-RECV-WINDOW`` (ms).
DEFAULT_RECV_WINDOW_MS = 5000


def sign(secret: str, text: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``text`` keyed by ``secret`` (both UTF-8)."""
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def ws_signature(secret: str, expires_ms: int) -> str:
    """The ``auth`` op signature: ``sign(secret, "GET/realtime" + str(expires_ms))``.
    ``expires_ms``: ms since the Unix epoch, in the future. Raises ``ValueError`` for a
    negative or non-integer ``expires_ms``."""
    if isinstance(expires_ms, bool) or not isinstance(expires_ms, int) or expires_ms < 0:
        raise ValueError("expires_ms must be a non-negative int (ms since the epoch)")
    return sign(secret, f"GET/realtime{expires_ms}")


def ws_auth_payload(req_id: str, api_key: str, secret: str, expires_ms: int) -> dict[str, object]:
    """The ``auth`` op: ``{"req_id": req_id, "op": "auth", "args": [api_key, expires_ms,
    signature]}`` (``expires_ms`` a JSON number, as Bybit's docs write it). Carries the key and
    signature: never log it."""
    return {
        "req_id": req_id,
        "op": "auth",
        "args": [api_key, expires_ms, ws_signature(secret, expires_ms)],
    }


def rest_payload(timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """The REST signed text: ``str(timestamp_ms) + api_key + str(recv_window_ms) + payload``
    (``payload``: the query string exactly as sent, ``""`` for none, or the JSON body)."""
    return f"{timestamp_ms}{api_key}{recv_window_ms}{payload}"


def rest_headers(
    api_key: str,
    secret: str,
    timestamp_ms: int,
    payload: str,
    recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
) -> dict[str, str]:
    """The four authentication headers of one REST request: ``X-BAPI-API-KEY``,
    ``X-BAPI-TIMESTAMP`` (``timestamp_ms``: ms since the epoch, the server's clock),
    ``X-BAPI-RECV-WINDOW`` and ``X-BAPI-SIGN`` (hex HMAC-SHA256 of :func:`rest_payload`).
    Secrets: never log them. Raises ``ValueError`` for a non-positive ``recv_window_ms``."""
    if recv_window_ms <= 0:
        raise ValueError("recv_window_ms must be positive")
    text = rest_payload(timestamp_ms, api_key, recv_window_ms, payload)
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": str(timestamp_ms),
        "X-BAPI-RECV-WINDOW": str(recv_window_ms),
        "X-BAPI-SIGN": sign(secret, text),
    }
