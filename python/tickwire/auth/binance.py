"""Binance request signing (spot and USD-M), per shared/docs/exchanges/binance.md §7.

- REST (``/api/v3``, ``/fapi/v1``): the query string exactly as sent (non-ASCII
  percent-encoded), HMAC-SHA256 with the API secret, lower-case **hex**, appended as
  ``signature=``; the key goes in the ``X-MBX-APIKEY`` header.
- WebSocket API (``ws-api.binance.com/ws-api/v3``): every ``params`` entry except
  ``signature``, **sorted by name**, joined ``k=v&k=v`` as raw UTF-8 (not percent-encoded);
  HMAC keys sign it to hex, Ed25519 keys to **base64** (``session.logon`` takes Ed25519 only).

Pure functions: no clock, no I/O. Verified against Binance's published vectors in
``tests/test_binance_private.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

__all__ = [
    "ed25519_signature",
    "hmac_hex",
    "load_ed25519_private_key",
    "rest_query",
    "sign_rest",
    "verify_ed25519",
    "ws_api_payload",
    "ws_api_signature",
]

Param = str | int | float | bool


def _text(v: Param) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def hmac_hex(secret: str, payload: str) -> str:
    """HMAC-SHA256 of the UTF-8 ``payload`` with ``secret``, lower-case hex (64 chars)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def rest_query(params: Mapping[str, Param]) -> str:
    """``params`` in their given order as a percent-encoded query string (``k=v&k=v``), the
    exact bytes a Binance REST signature covers."""
    return urlencode([(k, _text(v)) for k, v in params.items()])


def sign_rest(secret: str, params: Mapping[str, Param]) -> str:
    """The signed REST query: :func:`rest_query` of ``params`` (which should hold
    ``timestamp`` and ``recvWindow``) followed by ``&signature=<hex HMAC>``."""
    query = rest_query(params)
    return f"{query}&signature={hmac_hex(secret, query)}"


def ws_api_payload(params: Mapping[str, Param]) -> str:
    """The WebSocket API signature payload: ``params`` without ``signature``, sorted by name,
    joined ``k=v&k=v`` with values as raw UTF-8 text."""
    return "&".join(f"{k}={_text(params[k])}" for k in sorted(params) if k != "signature")


def load_ed25519_private_key(pem: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from its PEM text (PKCS#8). Raises ``ValueError`` (without the
    key's text) if it is not one."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("the private key is not a readable unencrypted PEM key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the private key is not an Ed25519 key")
    return key


def ed25519_signature(private_key: Ed25519PrivateKey | str, payload: str) -> str:
    """Ed25519 signature of the UTF-8 ``payload``, base64 (88 chars). ``private_key``: a key
    object or its PEM text."""
    key = load_ed25519_private_key(private_key) if isinstance(private_key, str) else private_key
    return base64.b64encode(key.sign(payload.encode())).decode()


def verify_ed25519(public_key: Ed25519PublicKey | str, payload: str, signature: str) -> bool:
    """True if base64 ``signature`` is ``public_key``'s (object or PEM text) Ed25519 signature
    of ``payload``; False for any bad signature or encoding."""
    from cryptography.exceptions import InvalidSignature

    try:
        key = (
            load_pem_public_key(public_key.encode()) if isinstance(public_key, str) else public_key
        )
        if not isinstance(key, Ed25519PublicKey):
            return False
        key.verify(base64.b64decode(signature, validate=True), payload.encode())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def ws_api_signature(
    params: Mapping[str, Param], *, secret: str = "", private_key: str | None = None
) -> str:
    """The ``signature`` of WebSocket API ``params``: Ed25519 base64 with ``private_key`` (PEM)
    when given, else HMAC-SHA256 hex with ``secret``. Raises ``ValueError`` with neither."""
    payload = ws_api_payload(params)
    if private_key is not None:
        return ed25519_signature(private_key, payload)
    if not secret:
        raise ValueError("a Binance WebSocket API signature needs an API secret or an Ed25519 key")
    return hmac_hex(secret, payload)
