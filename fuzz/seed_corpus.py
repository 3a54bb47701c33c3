"""Seed the fuzz corpora from the project's real recordings (run from the repository root:
``python fuzz/seed_corpus.py``; needs tickwire installed).

- ``corpus/frames/``: per recording, runs of consecutive frames (the first 1, 4 and 16, and a
  run from the middle) prefixed with the (exchange, market) byte the target reads, the market
  being the one of the venue that decodes the recording with the fewest bad frames.
- ``corpus/rest/``: every REST body in the fixtures (``*.json``) for each parser byte.

Deterministic; the corpus directories are not committed (CI builds them before fuzzing).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import tickwire._core as core

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = Path(__file__).resolve().parent / "corpus"


def venue_list() -> list[tuple[str, str]]:
    """(exchange, market) in the targets' order: the registry's, markets as each venue lists
    them."""
    return [(ex, m) for ex, markets in core.venues().items() for m in markets]


def frames_of(path: Path) -> list[tuple[bytes, bool]]:
    """(frame, binary) per line of a recording (``b64:`` lines are binary frames)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("b64:"):
            out.append((base64.b64decode(line[4:]), True))
        elif line.strip():
            out.append((line.encode(), False))
    return out


def rejected(dec: core.Decoder, frame: bytes, binary: bool) -> bool:
    """True if ``dec`` refuses ``frame``."""
    try:
        dec.feed(frame, 1, binary=binary)
    except Exception:  # noqa: BLE001 - any rejection counts as bad here
        return True
    return False


def best_market(frames: list[tuple[bytes, bool]], exchange: str) -> str | None:
    """The market of ``exchange`` that refuses the fewest of the first frames (None: all)."""
    best: tuple[int, str] | None = None
    for market in core.venues()[exchange]:
        dec = core.Decoder(exchange, market)
        bad = sum(rejected(dec, frame, binary) for frame, binary in frames[:200])
        if best is None or bad < best[0]:
            best = (bad, market)
    return None if best is None or best[0] == min(len(frames), 200) else best[1]


def write(target: str, data: bytes) -> None:
    """Add ``data`` to the corpus of ``target`` (named by its hash)."""
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)  # noqa: S324 - a file name, not security


def main() -> None:
    """Write both corpora."""
    venues = venue_list()
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        exchange = folder.name if folder.name in core.venues() else None
        for rec in sorted(p for p in folder.rglob("*.jsonl") if ".client_sent." not in p.name):
            frames = frames_of(rec)
            ex = exchange or next((e for e in core.venues() if rec.name.startswith(e)), None)
            if not frames or ex is None:
                continue
            market = best_market(frames, ex)
            if market is None:
                continue
            pick = venues.index((ex, market))
            mid = len(frames) // 2
            for run in (frames[:1], frames[:4], frames[:16], frames[mid : mid + 8]):
                binary = run[0][1]
                body = b"\n".join(f for f, b in run if b == binary)
                write("frames", bytes([pick, int(binary)]) + body)
        for body_path in sorted(folder.rglob("*.json")):
            body = body_path.read_bytes()
            for pick, (ex, _m) in enumerate(venues):
                if ex == folder.name:
                    for parser in range(4):
                        write("rest", bytes([pick, parser]) + body)


if __name__ == "__main__":
    main()
