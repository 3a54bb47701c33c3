"""REST depth snapshots "as of the replay position", from the recording's own data.

The recording holds one real snapshot per symbol. While it is the current state of the book
(the replay has reached the line after which it was received, and no later depth diff has been
replayed yet) it is served byte-for-byte. Later, a client that lost deltas (a gap, a reconnect)
could not bridge from it any more, so the simulator *derives* a snapshot: it applies the
recording's own diffs with ``u > lastUpdateId`` (Binance's bridging rule, quantities absolute,
zero deletes) onto the recorded snapshot up to the replay position. The derived body has the
same shape as Binance's (``lastUpdateId`` = ``u`` of the last applied diff; USD-M adds ``E``
and ``T`` of that diff), keeps price/quantity strings exactly as recorded, and is truncated to
the requested limit. Only levels the recorded snapshot or the diffs mention are known, so the
deepest levels of a derived book can miss levels Binance would have listed.
"""

from __future__ import annotations

import bisect
import json
from typing import Any

from .recording import Recording, Snapshot


class SnapshotSource:
    """Serves one symbol's depth snapshot for any (non-decreasing) replay position."""

    def __init__(self, rec: Recording, snap: Snapshot, futures: bool):
        self.rec = rec
        self.snap = snap
        self.futures = futures
        lines: list[int] = []
        for name in rec.depth_streams(snap.symbol):
            lines.extend(rec.streams[name].lines)
        self.diff_lines = sorted(lines)
        self._parsed = json.loads(snap.body)
        self.reset()

    def reset(self) -> None:
        """Forget derived state (used when the replay is rewound)."""
        self._bids = dict(self._parsed["bids"])
        self._asks = dict(self._parsed["asks"])
        self._cursor = 0  # index into diff_lines of the next diff to consider
        self._last: dict[str, Any] | None = None  # last applied diff

    def recorded_is_current(self, position: int) -> bool:
        """True while no diff received after the snapshot has been replayed yet."""
        k = bisect.bisect_left(self.diff_lines, self.snap.after_line)
        return k >= len(self.diff_lines) or self.diff_lines[k] >= position

    def recorded_body(self, limit: int) -> bytes:
        """The recorded snapshot: byte-for-byte if ``limit`` covers it, else truncated."""
        n_rec = max(len(self._parsed["bids"]), len(self._parsed["asks"]))
        if limit >= n_rec:
            return self.snap.body
        return self._encode(self._parsed, self._parsed["bids"], self._parsed["asks"], limit)

    def body(self, position: int, limit: int, prefer_recorded: bool = True) -> bytes:
        """Response body at replay ``position`` (lines replayed) with ``limit`` levels per side.

        The recorded body while it is current (if ``prefer_recorded``) or when no diff beyond
        it has been replayed; otherwise the derived book. ``position`` should not be smaller
        than in an earlier call (derivation only moves forward; a smaller one gets the newer
        book).
        """
        if prefer_recorded and self.recorded_is_current(position):
            return self.recorded_body(limit)
        last = self._advance(position)
        if last is None:
            return self.recorded_body(limit)
        bids = sorted(self._bids.items(), key=lambda kv: float(kv[0]), reverse=True)
        asks = sorted(self._asks.items(), key=lambda kv: float(kv[0]))
        head = {"lastUpdateId": last["u"]}
        if self.futures:
            head["E"] = last.get("E")
            head["T"] = last.get("T")
        return self._encode(head, [list(x) for x in bids], [list(x) for x in asks], limit)

    def _advance(self, position: int) -> dict[str, Any] | None:
        """Apply diffs on lines < position; the last diff beyond the snapshot applied so far
        (None if none was)."""
        last_id = self.snap.last_update_id
        while self._cursor < len(self.diff_lines) and self.diff_lines[self._cursor] < position:
            ev = self.rec.depth_event(self.diff_lines[self._cursor])
            self._cursor += 1
            if ev["u"] <= last_id or (self._last is not None and ev["u"] <= self._last["u"]):
                continue
            for side, levels in ((self._bids, ev["b"]), (self._asks, ev["a"])):
                for p, q in levels:
                    if float(q) == 0.0:
                        side.pop(p, None)
                    else:
                        side[p] = q
            self._last = ev
        return self._last

    @staticmethod
    def _encode(
        head: dict[str, Any], bids: list[list[str]], asks: list[list[str]], limit: int
    ) -> bytes:
        out = {k: v for k, v in head.items() if k not in ("bids", "asks")}
        out["bids"] = bids[:limit]
        out["asks"] = asks[:limit]
        return json.dumps(out, separators=(",", ":")).encode()
