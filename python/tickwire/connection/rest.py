"""REST access of the connection layer (aiohttp): snapshots, past trades, connect tokens."""

from __future__ import annotations

import aiohttp

__all__ = ["HttpStatusError", "fetch"]


class HttpStatusError(Exception):
    """A REST request answered with a status other than 200 (``status``, ``retry_after`` in
    seconds from a ``Retry-After`` header, or None)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


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
