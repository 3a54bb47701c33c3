"""Binance market-stream control messages: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS,
SET_PROPERTY, GET_PROPERTY (docs/exchanges/binance.md §3, binance-spot-api-docs
web-socket-streams.md "Live Subscribing/Unsubscribing").

Replies, as Binance sends them: success ``{"result":null,"id":1}`` (``result`` is the list for
LIST_SUBSCRIPTIONS and the value for GET_PROPERTY); errors carry ``code`` 0..3 and ``msg``.
On the wire Binance nests errors, ``{"error":{"code":2,"msg":"..."},"id":1}`` (seen in captured
traffic), while its doc table prints them flat, ``{"code":2,"msg":"..."}``; ``error_format``
selects ``"nested"`` (default) or ``"flat"``.

Stream names: Binance acknowledges any well-formed name, even one that does not exist (it then
sends nothing); a malformed name is rejected with code 2 "Invalid request: invalid stream".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")

# A stream name: optional "!" then word characters, and "@"-separated parts (kline time zones
# such as "@+08:00" included). Requires an "@" unless it starts with "!" (e.g. "!bookTicker").
_STREAM_RE = re.compile(r"^(?:![A-Za-z0-9_]+|[A-Za-z0-9_]+@[A-Za-z0-9_+:]+)(?:@[A-Za-z0-9_+:]+)*$")
_ID_STR_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")  # alphanumeric; UUIDs too


def valid_stream_name(name: object) -> bool:
    """True if Binance would accept ``name`` syntactically (existence is not checked)."""
    return isinstance(name, str) and bool(_STREAM_RE.match(name))


@dataclass
class Outcome:
    """What one control message does: the reply to send, and state changes to apply."""

    reply: bytes
    subscribe: list[str] | None = None
    unsubscribe: list[str] | None = None
    combined: bool | None = None
    close: bool = False  # disconnect after replying


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class ControlHandler:
    """Turns one incoming text payload into an :class:`Outcome` for a connection."""

    def __init__(self, error_format: str = "nested", close_on_invalid_json: bool = False):
        if error_format not in ("nested", "flat"):
            raise ValueError("error_format must be 'nested' or 'flat'")
        self.error_format = error_format
        self.close_on_invalid_json = close_on_invalid_json

    def error(self, code: int, msg: str, req_id: object = ..., close: bool = False) -> Outcome:
        """An error reply (code 0..3, ``msg``) in the configured format; ``req_id`` echoed
        unless omitted (``...``); ``close``: disconnect after replying."""
        if self.error_format == "nested":
            body: dict[str, Any] = {"error": {"code": code, "msg": msg}}
        else:
            body = {"code": code, "msg": msg}
        if req_id is not ...:
            body["id"] = req_id
        return Outcome(_dump(body), close=close)

    def handle(self, text: str, subscriptions: list[str], combined: bool) -> Outcome:
        """Process one request given the connection's current subscriptions and mode."""
        req = self._request(text)
        if isinstance(req, Outcome):
            return req
        req_id, method = req["id"], req["method"]
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(valid_stream_name(p) for p in params):
                return self.error(2, "Invalid request: invalid stream", req_id)
            ok = _dump({"result": None, "id": req_id})
            if method == "SUBSCRIBE":
                return Outcome(ok, subscribe=list(params))
            return Outcome(ok, unsubscribe=list(params))
        if method == "LIST_SUBSCRIPTIONS":
            return Outcome(_dump({"result": list(subscriptions), "id": req_id}))
        return self._property(method, params, req_id, combined)

    def _request(self, text: str) -> dict[str, Any] | Outcome:
        """The request object of ``text`` with a valid ``id`` and known ``method``, or the error
        reply Binance sends for it."""
        try:
            req = json.loads(text)
        except ValueError as exc:
            return self._invalid_json(exc)
        if not isinstance(req, dict):
            return self.error(2, "Invalid request: expected a JSON object")
        if "method" not in req:
            return self.error(2, "Invalid request: missing field `method`", req.get("id", ...))
        if not _valid_id(req.get("id", ...)):
            return self.error(2, "Invalid request: request ID must be an unsigned integer")
        if req["method"] not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            return self.error(
                2,
                f"Invalid request: unknown variant `{req['method']}`, expected one of {expected}",
                req["id"],
            )
        return req

    def _invalid_json(self, exc: ValueError) -> Outcome:
        line = getattr(exc, "lineno", 1)
        col = getattr(exc, "colno", 1)
        return self.error(
            3,
            f"Invalid JSON: expected value at line {line} column {col}",
            close=self.close_on_invalid_json,
        )

    def _property(self, method: str, params: object, req_id: object, combined: bool) -> Outcome:
        """SET_PROPERTY / GET_PROPERTY: the only property is "combined"."""
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            return self.error(2, "Invalid request: property name must be a string", req_id)
        if params[0] != "combined":
            return self.error(0, "Unknown property", req_id)
        max_params = 1 if method == "GET_PROPERTY" else 2
        if len(params) > max_params:
            return self.error(2, "Invalid request: too many parameters", req_id)
        if method == "GET_PROPERTY":
            return Outcome(_dump({"result": combined, "id": req_id}))
        if len(params) < 2 or not isinstance(params[1], bool):
            return self.error(1, "Invalid value type: expected Boolean", req_id)
        return Outcome(_dump({"result": None, "id": req_id}), combined=params[1])


def _valid_id(req_id: object) -> bool:
    """Binance's rule for a request id: null, a signed 64-bit integer, or a short
    alphanumeric string (UUIDs included)."""
    if req_id is None:
        return True
    if isinstance(req_id, int) and not isinstance(req_id, bool):
        return -(2**63) <= req_id < 2**63
    return isinstance(req_id, str) and bool(_ID_STR_RE.match(req_id))
