"""Hiding secrets of URLs wherever tickwire shows one (logs, exceptions, events, reprs).

A URL may carry credentials: a userinfo password (``wss://user:PASSWORD@host``) or a query
parameter such as ``?listenKey=...``, ``?token=...``, ``?signature=...``. :func:`redact_url`
replaces those values by ``***``; :func:`scrub` removes them from any text (an exception message
from a library that printed the raw URL, say).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = ["MASK", "redact_url", "scrub", "secrets_of"]

MASK = "***"

# A query parameter whose name contains one of these (case-insensitive) holds a secret.
_SECRET_NAME = re.compile(r"key|token|sig|secret|password|passwd", re.IGNORECASE)
# userinfo of any scheme://user:password@ (for text that is not one clean URL)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]*@")


def _is_secret_name(name: str) -> bool:
    return _SECRET_NAME.search(unquote(name)) is not None


def redact_url(url: str) -> str:
    """``url`` with the userinfo password and the values of secret-looking query parameters
    (names containing key, token, signature, sig, secret or password, in any case; so
    ``listenKey``, ``apiKey``, ``X-Signature``) replaced by ``***``. Everything else is kept as
    written. Never raises: text that does not parse as a URL is scrubbed of userinfo passwords.

    >>> redact_url("wss://bot:hunter2@example.com/ws?listenKey=abc&limit=5")
    'wss://bot:***@example.com/ws?listenKey=***&limit=5'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", url)
    out = url
    if parts.password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        out = out.replace(parts.netloc, f"{user}:{MASK}@{host}", 1)
    if parts.query:
        params = parts.query.split("&")
        hidden = [
            f"{name}={MASK}" if sep and value and _is_secret_name(name) else p
            for p in params
            for name, sep, value in [p.partition("=")]
        ]
        if hidden != params:
            head, _, _ = out.partition("?")
            rest = "&".join(hidden)
            out = f"{head}?{rest}" + (f"#{parts.fragment}" if parts.fragment else "")
    return out


def secrets_of(url: str) -> list[str]:
    """The secret values in ``url`` (as written and percent-decoded), longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: set[str] = set()
    if parts.password:
        found |= {parts.password, unquote(parts.password)}
    for p in parts.query.split("&") if parts.query else ():
        name, sep, value = p.partition("=")
        if sep and value and _is_secret_name(name):
            found |= {value, unquote(value)}
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub(text: str, *urls: str) -> str:
    """``text`` with every secret of ``urls`` (see :func:`secrets_of`) and every userinfo
    password replaced by ``***``: for messages other libraries built from a raw URL."""
    for url in urls:
        for secret in secrets_of(url):
            text = text.replace(secret, MASK)
    return _USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", text)
