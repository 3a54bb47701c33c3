"""Side-by-side decode throughput: tickwire vs. the Python baselines, one run.

Measures, on the same real Binance recording and in the same process, the
throughput of each path in **messages per second** (frames of the recording
divided by the wall-clock seconds one full replay takes, REST snapshot
application included, timed with ``time.perf_counter``):

* ``tickwire``   -- ``tw.Decoder(id)``; ``dec.feed(frame)`` per frame, with
  ``dec.apply_snapshot(symbol, body)`` where the snapshot arrived live.
* ``orjson bot`` -- :class:`baselines.OrjsonBot` (orjson + dict book).
* ``cryptofeed`` -- :class:`baselines.CryptofeedReplay` (cryptofeed's own
  Binance handler and order book, no socket); skipped with a note when
  cryptofeed is not installed.

Rounds are interleaved (round 1 of every path, then round 2, ...) so that
machine noise hits all paths alike; each round uses a fresh decoder/book
built outside the timed region.  ``msg_per_s`` is computed from the median
round, ``best_msg_per_s`` from the fastest.  The ratio columns are
tickwire's msg/s divided by each path's msg/s, from the same run.

After the timed rounds every path's final top of book is checked against the
orjson bot's (which itself follows Binance's documented sync rule).

Usage: ``tickwire bench decode [spot|usdm|all] [--rounds N]`` or
``from tickwire.bench.decode import compare; rows = compare("spot", rounds=5)``.
The baselines need ``pip install 'tickwire[bench]'`` (orjson, cryptofeed); a missing one is
reported as skipped.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import baselines as _bl

__all__ = [
    "TARGET_MSG_PER_S",
    "TARGET_RATIO_VS_BOT",
    "compare",
    "format_table",
    "main",
    "tickwire_available",
]

# issue targets, shown next to the table
TARGET_MSG_PER_S = 1_500_000
TARGET_RATIO_VS_BOT = 5.0

PATH_TICKWIRE = "tickwire"
PATH_BOT = "orjson bot (orjson + dict book)"
PATH_CRYPTOFEED = "cryptofeed Binance handler (no socket)"

# A path's final top of book: (best bid, best ask) as (price, size) floats or None, sequence.
Top = tuple[Any, Any, Any]
# A path under test: setup() -> fresh state (outside the timing), run(state) (timed),
# top(state) (after the timed rounds). States differ per path: a Decoder, a bot, a replay.
Runner = tuple[Callable[[], Any], Callable[[Any], None], Callable[[Any], Top]]


def tickwire_available() -> tuple[bool, str]:
    """(True, version) if ``tickwire._core`` imports, else (False, reason)."""
    try:
        import tickwire
        import tickwire._core
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken build: reported
        return False, f"tickwire._core not importable ({type(exc).__name__}: {exc})"
    return True, getattr(tickwire, "__version__", "?")


# -- runners: make(rec) -> (setup() -> state, run(state), top(state)) ---------


def _tickwire_runner(rec: _bl.BenchRecording) -> Runner:
    import tickwire as tw

    head, tail = rec.frames[: rec.snapshot_after], rec.frames[rec.snapshot_after :]
    symbol, snapshot, exchange_id = rec.symbol, rec.snapshot, rec.exchange_id

    def setup() -> tw.Decoder:
        return tw.Decoder(exchange_id)

    def run(dec: tw.Decoder) -> None:
        feed = dec.feed
        for f in head:
            feed(f)
        dec.apply_snapshot(symbol, snapshot)
        for f in tail:
            feed(f)

    def top(dec: tw.Decoder) -> Top:
        b = dec.book(symbol)
        return (_pair(b.best_bid), _pair(b.best_ask), b.sequence)

    return setup, run, top


def _bot_runner(rec: _bl.BenchRecording) -> Runner:
    head, tail = rec.frames[: rec.snapshot_after], rec.frames[rec.snapshot_after :]
    raw_symbol, snapshot, market = rec.raw_symbol, rec.snapshot, rec.market

    def setup() -> _bl.OrjsonBot:
        return _bl.OrjsonBot(market)

    def run(bot: _bl.OrjsonBot) -> None:
        feed = bot.feed
        for f in head:
            feed(f)
        bot.apply_snapshot(raw_symbol, snapshot)
        for f in tail:
            feed(f)

    def top(bot: _bl.OrjsonBot) -> Top:
        b = bot.books[raw_symbol]
        return (b.best_bid(), b.best_ask(), b.last_id)

    return setup, run, top


def _cryptofeed_runner(rec: _bl.BenchRecording) -> Runner:
    frames, snapshot = rec.frames, rec.snapshot

    def setup() -> _bl.CryptofeedReplay:
        r = _bl.CryptofeedReplay(rec.market, rec.raw_symbol)
        r.set_snapshot(snapshot)
        return r

    def run(r: _bl.CryptofeedReplay) -> None:
        r.run(frames)

    def top(r: _bl.CryptofeedReplay) -> Top:
        return (r.best_bid(), r.best_ask(), r.sequence())

    return setup, run, top


def _pair(x: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if x is None else (float(x[0]), float(x[1]))


def _close(state: object) -> None:
    close = getattr(state, "close", None)  # CryptofeedReplay owns an event loop
    if close is not None:
        close()


def _time_one(setup: Callable[[], Any], run: Callable[[Any], None]) -> tuple[float, Any]:
    state = setup()
    t0 = time.perf_counter()
    run(state)
    return time.perf_counter() - t0, state


def compare(
    recording: str = "spot",
    rounds: int = 5,
    data_dir: str | Path | None = None,
    include_cryptofeed: bool = True,
    warmup: bool = True,
) -> list[dict[str, Any]]:
    """Measure every available path on one recording; return one dict per path.

    Keys: ``recording``, ``path``, ``frames``, ``rounds``, ``seconds``
    (median seconds per full replay), ``msg_per_s`` (frames / median
    seconds), ``best_msg_per_s`` (frames / fastest round),
    ``tickwire_ratio`` (tickwire msg/s / this path's msg/s, or None),
    ``top_ok`` (final best bid/ask/sequence equal to the orjson bot's; None for
    the bot itself and for skipped paths), ``top`` (that final state),
    ``note`` (why a path was skipped, version info, caveats).
    Skipped paths have ``msg_per_s`` None. Raises ``ValueError`` if ``rounds`` < 1.
    """
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    rec = _bl.load_recording(recording, data_dir)
    n = len(rec.frames)
    paths = _paths(rec, include_cryptofeed)
    live = {name: r for name, r, _ in paths if r is not None}
    times, tops = _measure(live, rounds, warmup)
    ref = tops.get(PATH_BOT)

    rows = []
    for name, runner, note in paths:
        row: dict[str, Any] = {
            "recording": recording,
            "path": name,
            "frames": n,
            "rounds": rounds,
            "seconds": None,
            "msg_per_s": None,
            "best_msg_per_s": None,
            "tickwire_ratio": None,
            "top_ok": None,
            "top": None,
            "note": note,
        }
        if runner is not None:
            med = statistics.median(times[name])
            row.update(
                seconds=med, msg_per_s=n / med, best_msg_per_s=n / min(times[name]), top=tops[name]
            )
            row["top_ok"] = _top_ok(name, tops[name], ref)
        rows.append(row)

    tw_rate = rows[0]["msg_per_s"]
    if tw_rate is not None:
        for row in rows:
            if row["msg_per_s"]:
                row["tickwire_ratio"] = tw_rate / row["msg_per_s"]
    return rows


def _paths(
    rec: _bl.BenchRecording, include_cryptofeed: bool
) -> list[tuple[str, Runner | None, str]]:
    """(name, runner or None when skipped, note) of every path, tickwire first."""
    paths: list[tuple[str, Runner | None, str]] = []
    ok, info = tickwire_available()
    paths.append(
        (PATH_TICKWIRE, _tickwire_runner(rec) if ok else None, f"tickwire {info}" if ok else info)
    )
    if _bl.orjson is None:
        paths.append(
            (PATH_BOT, None, "skipped: orjson not installed (pip install 'tickwire[bench]')")
        )
    else:
        paths.append((PATH_BOT, _bot_runner(rec), f"orjson {_bl.orjson.__version__}"))
    if not include_cryptofeed:
        paths.append((PATH_CRYPTOFEED, None, "skipped (include_cryptofeed=False)"))
    elif _bl.cryptofeed_available():
        note = (
            f"cryptofeed {_bl.cryptofeed_version()}; Decimal book; "
            "@trade frames are parsed then dropped by its handler (it expects aggTrade)"
        )
        paths.append((PATH_CRYPTOFEED, _cryptofeed_runner(rec), note))
    else:
        paths.append(
            (PATH_CRYPTOFEED, None, "skipped: cryptofeed not installed (pip install cryptofeed)")
        )
    return paths


def _measure(
    live: dict[str, Runner], rounds: int, warmup: bool
) -> tuple[dict[str, list[float]], dict[str, Top]]:
    """Seconds of each timed round per path (rounds interleaved) and each path's final top."""
    times: dict[str, list[float]] = {name: [] for name in live}
    last_state: dict[str, Any] = {}
    if warmup:  # one untimed pass each: imports, caches, allocator
        for setup, run, _ in live.values():
            _close(_time_one(setup, run)[1])
    for _ in range(rounds):
        for name, (setup, run, _) in live.items():
            dt, state = _time_one(setup, run)
            times[name].append(dt)
            _close(last_state.get(name))
            last_state[name] = state
            gc.collect()  # do not bill one path's garbage to the next
    tops = {name: r[2](last_state[name]) for name, r in live.items()}
    for state in last_state.values():
        _close(state)
    return times, tops


def _top_ok(name: str, top: Top, ref: Top | None) -> bool | None:
    """Whether a path's final top of book equals the orjson bot's (None: no comparison)."""
    if name == PATH_BOT or ref is None:
        return None  # the reference itself, or no reference without the orjson bot
    if name == PATH_CRYPTOFEED:
        # cryptofeed's sequence bookkeeping is its own; compare prices/sizes only
        return top[:2] == ref[:2]
    return top == ref


def _fmt_rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of ``compare()`` rows (one or more recordings)."""
    out = [
        "| recording | path | msg/s (median) | msg/s (best) | tickwire ÷ path | book check |",
        "|---|---|---:|---:|---:|---|",
    ]
    notes = []
    for r in rows:
        if r["path"] == PATH_TICKWIRE:
            ratio = "—"
        else:
            ratio = "n/a" if r["tickwire_ratio"] is None else f"{r['tickwire_ratio']:.2f}×"
        if r["path"] == PATH_BOT and r["msg_per_s"] is not None:
            check = "reference"
        else:
            check = {True: "ok", False: "MISMATCH", None: "-"}[r["top_ok"]]
        out.append(
            f"| {r['recording']} | {r['path']} | {_fmt_rate(r['msg_per_s'])} | "
            f"{_fmt_rate(r['best_msg_per_s'])} | {ratio} | {check} |"
        )
        if r["note"] and (r["path"], r["note"]) not in notes:
            notes.append((r["path"], r["note"]))
    out.append("")
    for path, note in notes:
        out.append(f"- {path}: {note}")
    if rows:
        r0 = rows[0]
        out.append(
            f"- {r0['frames']:,} frames ({r0['recording']}), {r0['rounds']} interleaved rounds per path, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs; ratios from this run only."
        )
        tw_row = next((r for r in rows if r["path"] == PATH_TICKWIRE and r["msg_per_s"]), None)
        bot_row = next((r for r in rows if r["path"] == PATH_BOT and r["tickwire_ratio"]), None)
        target = f"targets: tickwire ≥ {TARGET_MSG_PER_S:,} msg/s and ≥ {TARGET_RATIO_VS_BOT:g}× the orjson bot"
        if tw_row is not None and bot_row is not None:
            met_rate = tw_row["msg_per_s"] >= TARGET_MSG_PER_S
            met_ratio = bot_row["tickwire_ratio"] >= TARGET_RATIO_VS_BOT
            target += (
                f" -> {'met' if met_rate else 'NOT met'} / {'met' if met_ratio else 'NOT met'}"
            )
        out.append(f"- {target}.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """CLI entry: print the comparison table(s); exit 1 on a book mismatch."""
    p = argparse.ArgumentParser(prog="tickwire bench", description=__doc__.split("\n\n")[0])
    p.add_argument("recording", nargs="?", default="all", choices=["spot", "usdm", "all"])
    p.add_argument(
        "--rounds", type=int, default=5, help="interleaved timed rounds per path (default 5)"
    )
    p.add_argument("--no-cryptofeed", action="store_true", help="skip the cryptofeed baseline")
    p.add_argument(
        "--data", default=None, help="recordings directory (default: the packaged tickwire/data)"
    )
    a = p.parse_args(argv)
    names = ["spot", "usdm"] if a.recording == "all" else [a.recording]
    bad = False
    for name in names:
        rows = compare(
            name, rounds=a.rounds, data_dir=a.data, include_cryptofeed=not a.no_cryptofeed
        )
        print(format_table(rows) + "\n")  # noqa: T201 - the command's report
        bad |= any(r["top_ok"] is False for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
