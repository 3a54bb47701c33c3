"""The live fill path of a private connection (``AccountSide.fill_handler``, issue 12).

Fills decoded by the real Rust decoder from the docs-derived Binance USD-M example
(tests/fixtures/binance/private) go through the handler each session's decoder gets: delivered
once across sessions (rotation overlap) and against a recovery's REST list, held (neither
delivered nor remembered) while a recovery runs, a failing callback reported and the fill still
remembered. The connection around it is a small stand-in: only the attributes the account side
reads (the full session paths run against the simulator in test_binance_private.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import tickwire as tw
from tickwire.connection.private import AccountSide

PRIVATE = Path(__file__).parent / "fixtures" / "binance" / "private"


def _fills(n: int) -> list[Any]:
    """``n`` fills (trade ids 100.., 1 ms apart) decoded from the USD-M ORDER_TRADE_UPDATE."""
    line = next(
        ln
        for ln in (PRIVATE / "usdm_user_data.jsonl").read_text().splitlines()
        if "ORDER_TRADE" in ln
    )
    out = []
    dec = tw.Decoder("binanceusdm")
    for i in range(n):
        obj = json.loads(line)
        o = obj["data"]["o"]
        o |= {"x": "TRADE", "X": "PARTIALLY_FILLED", "t": 100 + i, "l": "0.001", "L": "7100.5"}
        o["T"] += i
        out += [ev for ev in dec.feed(json.dumps(obj).encode()) if isinstance(ev, tw.Fill)]
    assert len(out) == n
    return out


class _Conn:
    """What ``AccountSide`` reads of its connection."""

    def __init__(self) -> None:
        self.adapter = SimpleNamespace(credentials=None)
        self.delivered: list[Any] = []
        self.failed: list[tuple[Any, Any, Exception]] = []
        self.primary: Any = None
        self.sink = self.delivered.append

    def direct_sink(self, _t: type) -> Any:
        return self.sink

    def deliver_safely(self, deliver: Any, ev: Any) -> None:
        try:
            deliver(ev)
        except Exception as exc:  # noqa: BLE001 - recorded like the real connection reports it
            self.failed.append((deliver, ev, exc))

    def sink_failed(self, deliver: Any, ev: Any, exc: Exception) -> None:
        self.failed.append((deliver, ev, exc))


def test_fill_handler_dedupes_across_sessions_and_recovery():
    conn = _Conn()
    side = AccountSide(conn, ["fills"])  # type: ignore[arg-type]  # the stand-in above
    a, b = object(), object()
    on_a, on_b = side.fill_handler(a), side.fill_handler(b)  # type: ignore[arg-type]
    f = _fills(4)
    on_a(f[0])
    on_b(f[0])  # the overlapping session's copy
    on_b(f[1])
    assert [x.trade_id for x in conn.delivered] == ["100", "101"]
    assert side.counters.account_duplicates == 1
    assert side.delivered.last_ts == f[1].exchange_ts
    # a recovery's list repeats a live fill: dropped by the same memory
    side._deliver(None, f[1], fetched=True)
    assert side.counters.account_duplicates == 2 and side.counters.account_filled == 0


def test_fill_handler_holds_during_a_recovery():
    conn = _Conn()
    side = AccountSide(conn, ["fills"])  # type: ignore[arg-type]
    on = side.fill_handler(object())  # type: ignore[arg-type]
    f = _fills(3)
    on(f[0])
    side.hold()
    on(f[1])
    on(f[0])
    assert [x.trade_id for x in conn.delivered] == ["100"]  # held: nothing delivered
    side._deliver(None, f[2], fetched=True)  # the recovery's find comes first
    side.release()  # then the held ones, deduplicated: f[1] once, f[0] not again
    assert [x.trade_id for x in conn.delivered] == ["100", "102", "101"]
    assert side.counters.account_duplicates == 1 and side.counters.account_filled == 1
    on(f[1])  # live again: remembered through the hold
    assert len(conn.delivered) == 3


def test_fill_handler_reports_a_failing_callback():
    conn = _Conn()

    def broken(_ev: Any) -> None:
        raise ValueError("user bug")

    conn.sink = broken
    side = AccountSide(conn, ["fills"])  # type: ignore[arg-type]
    on = side.fill_handler(object())  # type: ignore[arg-type]
    (f,) = _fills(1)
    on(f)
    assert [(d, e.trade_id, str(x)) for d, e, x in conn.failed] == [(broken, "100", "user bug")]
    on(f)  # delivered (and failed) once: not again
    assert len(conn.failed) == 1 and side.counters.account_duplicates == 1
