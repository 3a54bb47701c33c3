"""REST access of the connection layer (aiohttp): snapshots, past trades, connect tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from ..exchanges import RestCall

__all__ = ["HttpStatusError", "fetch", "send"]


class HttpStatusError(Exception):
    """A REST request answered with a status other than 200 (``status``, ``retry_after`` in
    seconds from a ``Retry-After`` header, or None; ``body``: the start of the answer, for
    the exchange's error code, or empty)."""

    def __init__(self, status: int, retry_after: float | None, body: bytes = b"") -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.body = body


async def fetch(
    http: aiohttp.ClientSession,
    url: str,
    params: dict[str, str],
    timeout: float,
    *,
    method: str = "GET",
    json: object = None,
) -> bytes:
    """Request ``url`` with query ``params`` (``method``: ``"GET"``, or ``"POST"`` with an
    optional ``json`` body, e.g. KuCoin's ``bullet-public``, Hyperliquid's ``/info``) and return
    the raw body.

    Raises :class:`HttpStatusError` on a status other than 200, ``aiohttp.ClientError`` /
    ``asyncio.TimeoutError`` (after ``timeout`` seconds) / ``OSError`` on failure."""
    async with http.request(
        method, url, params=params, json=json, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as resp:
        body = await resp.read()
        if resp.status != 200:
            ra = resp.headers.get("Retry-After")
            raise HttpStatusError(resp.status, float(ra) if ra and ra.isdigit() else None)
        return body


async def send(http: aiohttp.ClientSession, call: RestCall, timeout: float) -> bytes:
    """Send one signed :class:`~tickwire.exchanges.RestCall` as the adapter built it and return
    the raw body. Raises :class:`HttpStatusError` (with the body's first 512 bytes) on a status
    other than 200, ``aiohttp.ClientError`` / ``asyncio.TimeoutError`` / ``OSError`` on
    failure. Its headers and signature are secrets: callers never log ``call``."""
    async with http.request(
        call.method,
        call.url,
        params=call.params or None,
        headers=call.headers or None,
        data=call.body,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as resp:
        body = await resp.read()
        if resp.status != 200:
            ra = resp.headers.get("Retry-After")
            raise HttpStatusError(
                resp.status, float(ra) if ra and ra.isdigit() else None, body[:512]
            )
        return body
