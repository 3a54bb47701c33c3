"""BitUnix futures request signing: two plain SHA-256 passes, not HMAC.

Follows shared/docs/exchanges/bitunix.md §7 (official REST recipe, openapidoc.bitunix.com
"sign" page; WebSocket login per the third-party SDKs the doc cites):

- REST: ``digest = SHA256_hex(nonce + timestamp + api_key + query_params + body)`` and
  ``sign = SHA256_hex(digest + secret)``, where ``query_params`` is every query parameter sorted
  by key (ASCII) and written ``key + value`` with no ``=`` or ``&`` (``id1uid200``) and ``body``
  the compact JSON text exactly as sent (empty for a GET). Headers ``api-key``, ``nonce``,
  ``timestamp`` (ms), ``sign``.
- WebSocket login: ``sign = SHA256_hex(SHA256_hex(nonce + timestamp + api_key) + secret)``,
  ``timestamp`` in Unix **seconds**.

The doc prints no official expected output for its worked example (it gives inputs only); the
tests recompute it with ``hashlib`` independently. Every function is pure (the caller supplies
the nonce and the time); none logs or keeps a secret.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping

__all__ = [
    "compact_json",
    "login_payload",
    "new_nonce",
    "query_text",
    "rest_headers",
    "rest_sign",
    "ws_sign",
]


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_nonce() -> str:
    """A fresh random 32-character hex nonce (the docs ask for a random 32-char string)."""
    return secrets.token_hex(16)


def query_text(params: Mapping[str, object]) -> str:
    """The signed form of query ``params``: sorted by key (ASCII ascending), each written
    ``key + value`` with nothing between (``{"uid": "200", "id": "1"}`` -> ``"id1uid200"``).
    Values are ``str()``-ed; booleans must already be text."""
    return "".join(f"{k}{params[k]}" for k in sorted(params))


def compact_json(obj: object) -> str:
    """``obj`` as BitUnix signs a body: compact JSON with no spaces (send these exact bytes)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def rest_sign(nonce: str, timestamp: str, api_key: str, query: str, body: str, secret: str) -> str:
    """The REST ``sign`` header (64 lowercase hex): ``SHA256_hex(SHA256_hex(nonce + timestamp
    + api_key + query + body) + secret)``. ``timestamp``: as sent in the header (ms since the
    Unix epoch, as text); ``query``: :func:`query_text` of the query parameters; ``body``: the
    exact JSON text sent (``""`` without one)."""
    return _sha256_hex(_sha256_hex(nonce + timestamp + api_key + query + body) + secret)


def ws_sign(nonce: str, timestamp: int, api_key: str, secret: str) -> str:
    """The WebSocket login ``sign`` (64 lowercase hex): ``SHA256_hex(SHA256_hex(nonce +
    str(timestamp) + api_key) + secret)``; ``timestamp`` in Unix seconds."""
    return _sha256_hex(_sha256_hex(nonce + str(timestamp) + api_key) + secret)


def rest_headers(
    api_key: str,
    secret: str,
    timestamp_ms: int,
    nonce: str,
    params: Mapping[str, object] | None = None,
    body: str = "",
) -> dict[str, str]:
    """The signed headers of one REST request: ``api-key``, ``nonce``, ``timestamp`` (ms),
    ``sign`` and ``Content-Type: application/json``. Secrets: never log the result."""
    ts = str(timestamp_ms)
    return {
        "api-key": api_key,
        "nonce": nonce,
        "timestamp": ts,
        "sign": rest_sign(nonce, ts, api_key, query_text(params or {}), body, secret),
        "Content-Type": "application/json",
    }


def login_payload(api_key: str, secret: str, timestamp_s: int, nonce: str) -> bytes:
    """The private WebSocket login request: ``{"op":"login","args":[{"apiKey":..,"timestamp":
    <seconds>,"nonce":..,"sign":..}]}`` (compact JSON bytes; a secret: never log it)."""
    arg = {
        "apiKey": api_key,
        "timestamp": timestamp_s,
        "nonce": nonce,
        "sign": ws_sign(nonce, timestamp_s, api_key, secret),
    }
    return compact_json({"op": "login", "args": [arg]}).encode()
