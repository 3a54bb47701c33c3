"""Side-by-side decode throughput: tickwire vs. the Python baselines, one run.

Measures, on the same real recording and in the same process, the throughput of each path in
**messages per second** (frames of the recording divided by the wall-clock seconds one full
replay takes, timed with ``time.perf_counter``):

* ``tickwire``   -- ``tw.Decoder(id)``; ``dec.feed(frame)`` per frame (Binance: with
  ``dec.apply_snapshot(symbol, body)`` where the REST snapshot arrived live).
* ``orjson bot`` -- the hand-written bot of that venue: :class:`baselines.OrjsonBot` for
  Binance, :mod:`venue_bots` for the others (orjson + dict book + the venue's sequence rule and
  checksum).
* ``cryptofeed`` -- cryptofeed's own handler for that venue and its order book, no socket
  (:class:`baselines.CryptofeedReplay`, :mod:`venue_cryptofeed`); skipped with a note when
  cryptofeed is not installed or has no handler for the venue.

Recordings: ``spot`` and ``usdm`` (Binance ETHUSDT, packaged) and one per venue of
:data:`recordings.VENUES` (its largest capture; see :mod:`tickwire.bench.recordings` for where it
is looked up). Short venue recordings are replayed several times per round into fresh state
(:mod:`venue_paths`).

Rounds are interleaved (round 1 of every path, then round 2, ...) so that machine noise hits
all paths alike; each round uses fresh decoders/books built outside the timed region.
``msg_per_s`` is computed from the median round, ``best_msg_per_s`` from the fastest. The ratio
columns are tickwire's msg/s divided by each path's msg/s, from the same run.

After the timed rounds every path's final top of book is checked against the orjson bot's
(which itself follows the venue's documented rules and verified every checksum).

Usage: ``tickwire bench [all|spot|usdm|<venue>...] [--rounds N] [--plot FILE.png]`` or
``from tickwire.bench.decode import compare; rows = compare("okx", rounds=5)``.
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
from . import recordings as _rec
from . import venue_paths as _vp
from .venue_cryptofeed import CAVEATS as _CF_CAVEATS
from .venue_cryptofeed import CRYPTOFEED_VENUES, NOT_USED, cryptofeed_venue_available

__all__ = [
    "BINANCE_RECORDINGS",
    "RECORDINGS",
    "TARGET_MSG_PER_S",
    "TARGET_RATIO_VS_BOT",
    "TARGET_VENUE_MSG_PER_S",
    "compare",
    "compare_many",
    "expand",
    "format_table",
    "main",
    "tickwire_available",
]

# issue targets, shown next to the table: Binance (issue 1), the other venues (issue 10)
TARGET_MSG_PER_S = 1_500_000
TARGET_VENUE_MSG_PER_S = 1_000_000
TARGET_RATIO_VS_BOT = 5.0

BINANCE_RECORDINGS = ("spot", "usdm")
RECORDINGS = (*BINANCE_RECORDINGS, *_rec.VENUES)
"""Every recording name ``compare`` takes, in table order."""

PATH_TICKWIRE = "tickwire"
PATH_BOT = "orjson bot (orjson + dict book)"
PATH_CRYPTOFEED = "cryptofeed handler (no socket)"

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


def _row(
    recording: str, name: str, frames: int, rounds: int, note: str, nbytes: int = 0
) -> dict[str, Any]:
    target = TARGET_MSG_PER_S if recording in BINANCE_RECORDINGS else TARGET_VENUE_MSG_PER_S
    return {
        "recording": recording,
        "path": name,
        "frames": frames,
        "bytes": nbytes,
        "rounds": rounds,
        "seconds": None,
        "msg_per_s": None,
        "best_msg_per_s": None,
        "tickwire_ratio": None,
        "top_ok": None,
        "top": None,
        "note": note,
        "target_msg_per_s": target,
    }


def _ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tw_rate = rows[0]["msg_per_s"]
    if tw_rate is not None:
        for row in rows:
            if row["msg_per_s"]:
                row["tickwire_ratio"] = tw_rate / row["msg_per_s"]
    return rows


def compare(
    recording: str = "spot",
    rounds: int = 5,
    data_dir: str | Path | None = None,
    include_cryptofeed: bool = True,
    warmup: bool = True,
) -> list[dict[str, Any]]:
    """Measure every available path on one recording; return one dict per path.

    ``recording``: one of :data:`RECORDINGS` (``"spot"``, ``"usdm"``, or a venue name such as
    ``"okx"``). Keys: ``recording``, ``path``, ``frames`` (frames per timed round),
    ``bytes`` (frame bytes per timed round, Binance: with the REST snapshot), ``rounds``,
    ``seconds`` (median seconds per round), ``msg_per_s`` (frames / median seconds),
    ``best_msg_per_s`` (frames / fastest round),
    ``tickwire_ratio`` (tickwire msg/s / this path's msg/s, or None),
    ``top_ok`` (final best bid/ask (Binance: and sequence) equal to the orjson bot's, for every
    book; None for the bot itself and for skipped paths), ``top`` (that final state),
    ``note`` (why a path was skipped, version info, caveats, checksum counts),
    ``target_msg_per_s`` (the issue's target for tickwire on this recording).
    Skipped paths have ``msg_per_s`` None. Raises ``ValueError`` if ``rounds`` < 1 or the
    recording is unknown, ``FileNotFoundError`` if a venue's recording is nowhere to be found.
    """
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    if recording in _rec.VENUES:
        return _compare_venue(recording, rounds, data_dir, include_cryptofeed, warmup)
    rec = _bl.load_recording(recording, data_dir)
    n = len(rec.frames)
    nbytes = sum(len(f) for f in rec.frames) + len(rec.snapshot)
    paths = _paths(rec, include_cryptofeed)
    live = {name: r for name, r, _ in paths if r is not None}
    times, tops = _measure(live, rounds, warmup)
    ref = tops.get(PATH_BOT)

    rows = []
    for name, runner, note in paths:
        row = _row(recording, name, n, rounds, note, nbytes)
        if runner is not None:
            med = statistics.median(times[name])
            row.update(
                seconds=med, msg_per_s=n / med, best_msg_per_s=n / min(times[name]), top=tops[name]
            )
            row["top_ok"] = _top_ok(name, tops[name], ref)
        rows.append(row)
    return _ratios(rows)


def _compare_venue(
    venue: str,
    rounds: int,
    data_dir: str | Path | None,
    include_cryptofeed: bool,
    warmup: bool,
) -> list[dict[str, Any]]:
    """``compare`` for a venue recording (see :mod:`tickwire.bench.venue_paths`)."""
    rec = _rec.load_venue_recording(venue, data_dir)
    if _bl.orjson is None:
        raise ImportError("the venue benchmarks need orjson: pip install 'tickwire[bench]'")
    ref = _vp.VenueRun(rec)
    reps = _vp.reps_for(rec)
    n = len(rec.frames) * reps
    where = f"{rec.path.name} ({len(rec.frames):,} frames, {rec.nbytes:,} bytes) x {reps} per round"
    paths: list[tuple[str, Any, str]] = []
    ok, info = tickwire_available()
    if ok and rec.spec.exchange_id not in _tickwire_exchanges():
        ok, info = False, f"skipped: this tickwire build has no {rec.spec.exchange_id!r} decoder"
    paths.append(
        (
            PATH_TICKWIRE,
            _vp.tickwire_runner(rec, reps, sorted(ref.tops)) if ok else None,
            f"tickwire {info}; {where}" if ok else info,
        )
    )
    bot_note = f"orjson {_bl.orjson.__version__}; {type(ref.bot).__name__}"
    if ref.checksums:
        bot_note += f"; {ref.checksums:,} checksums verified per replay"
    paths.append((PATH_BOT, _vp.bot_runner(rec, reps), bot_note))
    if not include_cryptofeed:
        paths.append((PATH_CRYPTOFEED, None, "skipped (include_cryptofeed=False)"))
    elif venue in NOT_USED:
        paths.append((PATH_CRYPTOFEED, None, f"skipped: {NOT_USED[venue]}"))
    elif venue not in CRYPTOFEED_VENUES:
        paths.append((PATH_CRYPTOFEED, None, f"skipped: cryptofeed has no {venue} handler"))
    elif not cryptofeed_venue_available(venue):
        paths.append(
            (PATH_CRYPTOFEED, None, "skipped: cryptofeed not installed (pip install cryptofeed)")
        )
    else:
        spec = CRYPTOFEED_VENUES[venue]
        note = f"cryptofeed {_bl.cryptofeed_version()} {spec.cls}; {_CF_CAVEATS[venue]}"
        paths.append((PATH_CRYPTOFEED, _vp.cryptofeed_runner(rec, reps, ref.symbols), note))

    live = {name: r for name, r, _ in paths if r is not None}
    times, checked = _measure(live, rounds, warmup)
    rows = []
    for name, runner, note in paths:
        row = _row(venue, name, n, rounds, note, rec.nbytes * reps)
        if runner is not None:
            med = statistics.median(times[name])
            tops, facts = checked[name]
            row.update(
                seconds=med, msg_per_s=n / med, best_msg_per_s=n / min(times[name]), top=tops
            )
            if name != PATH_BOT:
                row["top_ok"] = tops == ref.tops
            if name == PATH_TICKWIRE:
                row["top_ok"], row["note"] = _tickwire_facts(row["top_ok"], facts, ref, note)
        rows.append(row)
    return _ratios(rows)


def _tickwire_facts(
    top_ok: bool, facts: dict[str, Any], ref: _vp.VenueRun, note: str
) -> tuple[bool, str]:
    """Fold tickwire's own counters into its check and note."""
    ok = top_ok and not facts["frame_errors"] and not facts["checksum_mismatches"]
    verified = facts["checksums_verified"]
    if ref.checksums:
        ok = ok and verified == ref.checksums
        note += f"; checksums verified {verified} (bot {ref.checksums})"
    if facts["checksum_mismatches"]:
        note += f"; {facts['checksum_mismatches']} checksum mismatches"
    if facts["frame_errors"]:
        note += f"; {facts['frame_errors']} FrameErrors per replay, first: {facts['first_error']}"
    return ok, note


def _tickwire_exchanges() -> set[str]:
    try:
        import tickwire._core as core
    except ImportError:
        return set()
    venues = getattr(core, "venues", None)
    if venues is not None:
        return set(venues())
    return set(core.exchanges())


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
            f"cryptofeed {_bl.cryptofeed_version()} Binance handler; Decimal book; "
            "@trade frames are parsed then dropped by its handler (it expects aggTrade)"
        )
        paths.append((PATH_CRYPTOFEED, _cryptofeed_runner(rec), note))
    else:
        paths.append(
            (PATH_CRYPTOFEED, None, "skipped: cryptofeed not installed (pip install cryptofeed)")
        )
    return paths


def _measure(
    live: dict[str, Any], rounds: int, warmup: bool
) -> tuple[dict[str, list[float]], dict[str, Any]]:
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
    """Markdown table of ``compare()`` rows (one or more recordings, one table), then the
    notes of each path and each recording's targets."""
    out = [
        (
            "| recording | path | msg/s (median) | msg/s (best) | MB/s (median) | tickwire ÷ path "
            "| book check |"
        ),
        "|---|---|---:|---:|---:|---:|---|",
    ]
    notes: list[tuple[str, str, str]] = []
    for r in rows:
        if r["path"] == PATH_TICKWIRE:
            ratio = "—"
        else:
            ratio = "n/a" if r["tickwire_ratio"] is None else f"{r['tickwire_ratio']:.2f}×"
        if r["path"] == PATH_BOT and r["msg_per_s"] is not None:
            check = "reference"
        else:
            check = {True: "ok", False: "MISMATCH", None: "-"}[r["top_ok"]]
        mbs = "n/a"
        if r["seconds"] and r.get("bytes"):
            mbs = f"{r['bytes'] / r['seconds'] / 1e6:,.1f}"
        out.append(
            f"| {r['recording']} | {r['path']} | {_fmt_rate(r['msg_per_s'])} | "
            f"{_fmt_rate(r['best_msg_per_s'])} | {mbs} | {ratio} | {check} |"
        )
        if r["note"]:
            notes.append((r["recording"], r["path"], r["note"]))
    out.append("")
    for recording, path, note in notes:
        out.append(f"- {recording}, {path}: {note}")
    if rows:
        r0 = rows[0]
        out.append(
            f"- {r0['rounds']} interleaved rounds per path, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs; ratios from this run only."
        )
    out += [
        f"- {rec}: {_target_line([r for r in rows if r['recording'] == rec])}."
        for rec in dict.fromkeys(r["recording"] for r in rows)
    ]
    return "\n".join(out)


def _target_line(rows: list[dict[str, Any]]) -> str:
    goal = rows[0].get("target_msg_per_s", TARGET_MSG_PER_S)
    text = f"targets tickwire ≥ {goal:,} msg/s and ≥ {TARGET_RATIO_VS_BOT:g}× the orjson bot"
    tw_row = next((r for r in rows if r["path"] == PATH_TICKWIRE and r["msg_per_s"]), None)
    bot_row = next((r for r in rows if r["path"] == PATH_BOT and r["tickwire_ratio"]), None)
    if tw_row is not None and bot_row is not None:
        met_rate = tw_row["msg_per_s"] >= goal
        met_ratio = bot_row["tickwire_ratio"] >= TARGET_RATIO_VS_BOT
        text += f" -> {'met' if met_rate else 'NOT met'} / {'met' if met_ratio else 'NOT met'}"
    return text


def expand(names: list[str] | tuple[str, ...]) -> list[str]:
    """Recording names in table order: ``all`` = every one of :data:`RECORDINGS`, ``binance`` =
    spot + usdm, ``venues`` = every venue; others as given. ``ValueError`` names an unknown one."""
    out: list[str] = []
    for name in names or ("all",):
        if name == "all":
            group: tuple[str, ...] = RECORDINGS
        elif name == "binance":
            group = BINANCE_RECORDINGS
        elif name == "venues":
            group = tuple(_rec.VENUES)
        elif name in RECORDINGS:
            group = (name,)
        else:
            raise ValueError(
                f"unknown recording {name!r}; expected all, binance, venues or one of {list(RECORDINGS)}"
            )
        out += [g for g in group if g not in out]
    return out


def compare_many(
    names: list[str] | tuple[str, ...],
    rounds: int = 5,
    data_dir: str | Path | None = None,
    include_cryptofeed: bool = True,
    warmup: bool = True,
) -> list[dict[str, Any]]:
    """``compare`` over every recording of :func:`expand` (``names``), rows concatenated. A venue
    whose recording is missing gives one tickwire row with ``msg_per_s`` None and the reason."""
    rows: list[dict[str, Any]] = []
    for name in expand(names):
        try:
            rows += compare(
                name,
                rounds=rounds,
                data_dir=data_dir,
                include_cryptofeed=include_cryptofeed,
                warmup=warmup,
            )
        except FileNotFoundError as exc:  # noqa: PERF203 - one per recording
            rows.append(_row(name, PATH_TICKWIRE, 0, rounds, f"skipped: {exc}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI entry: print the comparison table; exit 1 if tickwire's book or counters disagree
    with the reference (a baseline's own defect is reported in the table, not failed on)."""
    p = argparse.ArgumentParser(prog="tickwire bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "recording",
        nargs="*",
        default=["all"],
        help=f"all (default), binance, venues, or any of {', '.join(RECORDINGS)}",
    )
    p.add_argument(
        "--rounds", type=int, default=5, help="interleaved timed rounds per path (default 5)"
    )
    p.add_argument("--no-cryptofeed", action="store_true", help="skip the cryptofeed baseline")
    p.add_argument(
        "--data", default=None, help="recordings directory (default: the packaged tickwire/data)"
    )
    p.add_argument("--plot", default=None, help="also draw msg/s and latency to this PNG file")
    a = p.parse_args(argv)
    try:
        names = expand(a.recording)
    except ValueError as exc:
        p.error(str(exc))
    rows = compare_many(
        names, rounds=a.rounds, data_dir=a.data, include_cryptofeed=not a.no_cryptofeed
    )
    print(format_table(rows) + "\n")  # noqa: T201 - the command's report
    if a.plot:
        from .plot import plot

        print(plot(rows, a.plot, data_dir=a.data))  # noqa: T201 - the command's report
    return 1 if any(r["top_ok"] is False and r["path"] == PATH_TICKWIRE for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
