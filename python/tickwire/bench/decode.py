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


def tickwire_available() -> tuple[bool, str]:
    """(True, version) if ``tickwire._core`` imports, else (False, reason)."""
    try:
        import tickwire
        import tickwire._core
    except Exception as exc:  # ImportError, or a broken build
        return False, f"tickwire._core not importable ({type(exc).__name__}: {exc})"
    return True, getattr(tickwire, "__version__", "?")


# -- runners: make(rec) -> (setup() -> state, run(state), top(state)) ---------


def _tickwire_runner(rec):
    import tickwire as tw

    head, tail = rec.frames[: rec.snapshot_after], rec.frames[rec.snapshot_after :]
    symbol, snapshot, exchange_id = rec.symbol, rec.snapshot, rec.exchange_id

    def setup():
        return tw.Decoder(exchange_id)

    def run(dec):
        feed = dec.feed
        for f in head:
            feed(f)
        dec.apply_snapshot(symbol, snapshot)
        for f in tail:
            feed(f)

    def top(dec):
        b = dec.book(symbol)
        return (_pair(b.best_bid), _pair(b.best_ask), b.sequence)

    return setup, run, top


def _bot_runner(rec):
    head, tail = rec.frames[: rec.snapshot_after], rec.frames[rec.snapshot_after :]
    raw_symbol, snapshot, market = rec.raw_symbol, rec.snapshot, rec.market

    def setup():
        return _bl.OrjsonBot(market)

    def run(bot):
        feed = bot.feed
        for f in head:
            feed(f)
        bot.apply_snapshot(raw_symbol, snapshot)
        for f in tail:
            feed(f)

    def top(bot):
        b = bot.books[raw_symbol]
        return (b.best_bid(), b.best_ask(), b.last_id)

    return setup, run, top


def _cryptofeed_runner(rec):
    frames, snapshot = rec.frames, rec.snapshot

    def setup():
        r = _bl.CryptofeedReplay(rec.market, rec.raw_symbol)
        r.set_snapshot(snapshot)
        return r

    def run(r):
        r.run(frames)

    def top(r):
        return (r.best_bid(), r.best_ask(), r.sequence())

    return setup, run, top


def _pair(x):
    return None if x is None else (float(x[0]), float(x[1]))


def _close(state):
    close = getattr(state, "close", None)  # CryptofeedReplay owns an event loop
    if close is not None:
        close()


def _time_one(setup, run):
    state = setup()
    t0 = time.perf_counter()
    run(state)
    return time.perf_counter() - t0, state


def compare(
    recording: str = "spot",
    rounds: int = 5,
    data_dir=None,
    include_cryptofeed: bool = True,
    warmup: bool = True,
) -> list[dict]:
    """Measure every available path on one recording; return one dict per path.

    Keys: ``recording``, ``path``, ``frames``, ``rounds``, ``seconds``
    (median seconds per full replay), ``msg_per_s`` (frames / median
    seconds), ``best_msg_per_s`` (frames / fastest round),
    ``tickwire_ratio`` (tickwire msg/s / this path's msg/s, or None),
    ``top_ok`` (final best bid/ask/sequence equal to the orjson bot's; None for
    the bot itself and for skipped paths), ``top`` (that final state),
    ``note`` (why a path was skipped, version info, caveats).
    Skipped paths have ``msg_per_s`` None.
    """
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    rec = _bl.load_recording(recording, data_dir)
    n = len(rec.frames)

    paths = []  # (name, runner-or-None, note)
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
        paths.append(
            (
                PATH_CRYPTOFEED,
                _cryptofeed_runner(rec),
                f"cryptofeed {_bl.cryptofeed_version()}; Decimal book; "
                "@trade frames are parsed then dropped by its handler (it expects aggTrade)",
            )
        )
    else:
        paths.append(
            (PATH_CRYPTOFEED, None, "skipped: cryptofeed not installed (pip install cryptofeed)")
        )

    live = [(name, r) for name, r, _ in paths if r is not None]
    times = {name: [] for name, _ in live}
    last_state = {}
    if warmup:  # one untimed pass each: imports, caches, allocator
        for name, (setup, run, _) in live:
            _close(_time_one(setup, run)[1])
    for _ in range(rounds):
        for name, (setup, run, _) in live:
            dt, state = _time_one(setup, run)
            times[name].append(dt)
            _close(last_state.get(name))
            last_state[name] = state
            gc.collect()  # do not bill one path's garbage to the next

    tops = {name: r[2](last_state[name]) for name, r in live}
    for state in last_state.values():
        _close(state)
    ref = tops.get(PATH_BOT)

    rows = []
    for name, runner, note in paths:
        row = {
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
            if name == PATH_BOT:
                row["top_ok"] = None  # the reference itself
            elif ref is None:
                row["top_ok"] = None  # no reference without the orjson bot
            elif name == PATH_CRYPTOFEED:
                # cryptofeed's sequence bookkeeping is its own; compare prices/sizes only
                row["top_ok"] = tops[name][:2] == ref[:2]
            else:
                row["top_ok"] = tops[name] == ref
        rows.append(row)

    tw_rate = rows[0]["msg_per_s"]
    if tw_rate is not None:
        for row in rows:
            if row["msg_per_s"]:
                row["tickwire_ratio"] = tw_rate / row["msg_per_s"]
    return rows


def _fmt_rate(x):
    return "n/a" if x is None else f"{x:,.0f}"


def format_table(rows: list[dict]) -> str:
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


def main(argv=None) -> int:
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
        print(format_table(rows))
        print()
        bad |= any(r["top_ok"] is False for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
