"""Hiding secrets of URLs wherever tickwire shows one (logs, exceptions, events, reprs).

A URL may carry credentials: a userinfo password (``wss://user:PASSWORD@host``) or a query
parameter such as ``?listenKey=...``, ``?token=...``, ``?signature=...``. :func:`redact_url`
replaces those values by ``***``; :func:`scrub` removes them from any text (an exception message
from a library that printed the raw URL, say).

Private (account) connections also :func:`remember` their secrets (API key, secret,
passphrase, private key, listen keys, tokens, signatures) in a process-wide registry:
:func:`scrub` removes those from any text too, and :func:`guard_logs` puts a filter on the
loggers tickwire and its libraries write to that scrubs every record (message, arguments,
traceback) before any handler sees it. The registry lives in memory only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

__all__ = [
    "MASK",
    "guard_logs",
    "redact_url",
    "remember",
    "scrub",
    "secret_values",
    "secrets_of",
]

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
    """``text`` with every secret of ``urls`` (see :func:`secrets_of`), every remembered secret
    (see :func:`remember`) and every userinfo password replaced by ``***``: for messages other
    libraries built from a raw URL, and anything a private connection may show."""
    for url in urls:
        for secret in secrets_of(url):
            text = text.replace(secret, MASK)
    for secret in _known_sorted:
        if secret in text:
            text = text.replace(secret, MASK)
    return _USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", text)


# Secrets seen so far, newest last (a dict as an ordered set), and the same longest first.
_known: dict[str, None] = {}
_known_sorted: list[str] = []
_MAX_KNOWN = 1024  # listen keys and signatures pile up over days: keep the newest
_MIN_SECRET = 6  # shorter strings would mask ordinary words; no real key is that short


def remember(values: Iterable[str | None]) -> None:
    """Add ``values`` (secret strings; None and strings under 6 characters are skipped) to the
    registry :func:`scrub` and the log filter remove from text. Kept in memory only, the
    newest 1024."""
    global _known_sorted  # noqa: PLW0603 - the registry is process-wide on purpose
    added = False
    for v in values:
        if v and len(v) >= _MIN_SECRET and v not in _known:
            _known[v] = None
            added = True
    if not added:
        return
    while len(_known) > _MAX_KNOWN:
        del _known[next(iter(_known))]
    _known_sorted = sorted(_known, key=len, reverse=True)


def secret_values(mapping: Mapping[str, str]) -> list[str]:
    """The values of ``mapping`` (request headers or parameters) whose names look secret
    (key, token, signature, sign, secret, passphrase, password)."""
    return [v for k, v in mapping.items() if _SECRET_FIELD.search(k) and v]


_SECRET_FIELD = re.compile(r"key|token|sig|secret|pass|sign", re.IGNORECASE)


class _ScrubFilter(logging.Filter):
    """Scrubs every record's message and traceback of the remembered secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _known_sorted:
            return True
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's own business
            return True
        clean = scrub(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FILTER = _ScrubFilter()
# where tickwire and the libraries it drives log: their own loggers and their children
_GUARDED_ROOTS = ("tickwire", "picows", "aiohttp", "asyncio")


def guard_logs() -> None:
    """Put the scrubbing filter on tickwire's loggers and those of the libraries it drives
    (picows, aiohttp, asyncio), children included (a logger filter sees only its own records,
    so each gets one). Idempotent; called when a private connection starts."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in _GUARDED_ROOTS]
    for name in {*_GUARDED_ROOTS, *names}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
