"""``tickwire bench --plot FILE.png``: the comparison as a picture.

Top panel: msg/s per recording and path (the rows of :func:`tickwire.bench.decode.compare`, same
run), as grouped bars on a log scale, tickwire's ratio to the orjson bot written above its bar
and the issue's msg/s target as a line per recording.

Bottom panel: receive -> callback latency per recording for tickwire and the orjson bot, in µs,
as box plots (box = p25..p75, line = median, whiskers = p1..p99, dot = p99.9). It is measured in
process, after the throughput rounds, in its own pass over the same recording (``reps`` fresh
replays as in the throughput rounds, at most :data:`LATENCY_FRAMES` frames): tickwire is given
``receive_ts = time.time_ns()`` per frame through ``Decoder.dispatch`` and its handler takes
``time.time_ns() - event.receive_ts`` for every event; the bot takes its ``receive_ts`` at the
start of ``feed`` and the same difference is taken for every event tuple it returns, in a plain
loop right after. Frames go back to back (no pacing, no socket): this is the decode + book +
delivery cost per event, not a network latency; :mod:`tickwire.bench.e2e` measures the socket
path.

Needs matplotlib (the ``bench`` extra); ``ImportError`` says so when it is missing.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import baselines as _bl
from . import recordings as _rec
from . import venue_paths as _vp
from .venue_bots import BOTS

__all__ = ["LATENCY_FRAMES", "latencies", "plot"]

LATENCY_FRAMES = 40_000

_PATH_COLORS = {"tickwire": "#1f77b4", "orjson bot": "#ff7f0e", "cryptofeed": "#7f7f7f"}


def _short(path: str) -> str:
    return path.split(" (", 1)[0].replace(" handler", "")


def _tickwire_samples(
    make: Callable[[], Any], replay: Callable[[Any, Callable[[bytes], None]], None], reps: int
) -> np.ndarray:
    samples: list[int] = []
    add, now = samples.append, time.time_ns

    def cb(ev: Any) -> None:
        add(now() - ev.receive_ts)

    for _ in range(reps):
        dec = make()
        dec.set_handlers(default=cb, trade=cb, bbo=cb, book=cb, candle=cb)
        dispatch = dec.dispatch

        def one(f: bytes, dispatch: Callable[..., int] = dispatch) -> None:
            dispatch(f, now())

        replay(dec, one)
    return np.asarray(samples, dtype=np.float64) / 1000.0


def _bot_samples(frames: list[bytes], make: Callable[[], Any], reps: int) -> np.ndarray:
    samples: list[int] = []
    add, now = samples.append, time.time_ns
    for _ in range(reps):
        feed = make().feed
        for f in frames:
            for ev in feed(f):
                add(now() - ev[-1])
    return np.asarray(samples, dtype=np.float64) / 1000.0


def latencies(name: str, data_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """Receive -> callback latency samples (µs) of ``name``'s recording per path
    (``"tickwire"``, ``"orjson bot"``); a path that cannot run is left out."""
    from .decode import _tickwire_exchanges, tickwire_available

    out: dict[str, np.ndarray] = {}
    tw_ok = tickwire_available()[0] and (name in _rec.VENUES) <= (name in _tickwire_exchanges())
    if name in _rec.VENUES:
        rec = _rec.load_venue_recording(name, data_dir)
        reps = max(1, min(_vp.reps_for(rec), LATENCY_FRAMES // max(1, len(rec.frames))))
        frames = rec.frames
        if _bl.orjson is not None:
            out["orjson bot"] = _bot_samples(frames, BOTS[name], reps)
        if tw_ok:
            import tickwire as tw

            spec = rec.spec

            def make() -> Any:
                if spec.market is None:
                    return tw.Decoder(spec.exchange_id)
                return tw.Decoder(spec.exchange_id, market=spec.market)

            def replay(_dec: Any, one: Callable[[bytes], None]) -> None:
                for f in frames:
                    with contextlib.suppress(tw.FrameError):  # reported by the throughput table
                        one(f)

            out["tickwire"] = _tickwire_samples(make, replay, reps)
        return out
    brec = _bl.load_recording(name, data_dir)
    head, tail = brec.frames[: brec.snapshot_after], brec.frames[brec.snapshot_after :]
    if _bl.orjson is not None:
        samples: list[int] = []
        bot = _bl.OrjsonBot(brec.market)
        now = time.time_ns
        for f in head:
            bot.feed(f)
        for ev in bot.apply_snapshot(brec.raw_symbol, brec.snapshot):
            samples.append(now() - ev[-1])  # noqa: PERF401 - same loop shape as the others
        for f in tail:
            e = bot.feed(f)
            if e is not None:
                samples.append(now() - e[-1])
        out["orjson bot"] = np.asarray(samples, dtype=np.float64) / 1000.0
    if tw_ok:
        import tickwire as tw

        def make_b() -> Any:
            return tw.Decoder(brec.exchange_id)

        def replay_b(dec: Any, one: Callable[[bytes], None]) -> None:
            for f in head:
                one(f)
            dec.apply_snapshot(brec.symbol, brec.snapshot)
            for f in tail:
                one(f)

        out["tickwire"] = _tickwire_samples(make_b, replay_b, 1)
    return out


def _pyplot() -> Any:
    try:
        mpl = importlib.import_module("matplotlib")
        mpl.use("Agg")
        return importlib.import_module("matplotlib.pyplot")
    except ImportError as exc:
        raise ImportError("--plot needs matplotlib: pip install 'tickwire[bench]'") from exc


def _all_latencies(
    recs: list[str], data_dir: str | Path | None
) -> dict[str, dict[str, np.ndarray]]:
    lat: dict[str, dict[str, np.ndarray]] = {}
    for name in recs:
        lat[name] = {}
        with contextlib.suppress(FileNotFoundError):  # the table says it was skipped
            lat[name] = latencies(name, data_dir)
    return lat


def _bars(ax: Any, rows: list[dict[str, Any]], recs: list[str]) -> None:
    paths = list(dict.fromkeys(r["path"] for r in rows))
    width = 0.8 / max(1, len(paths))
    for i, path in enumerate(paths):
        xs, ys = [], []
        for j, name in enumerate(recs):
            r = next((r for r in rows if r["recording"] == name and r["path"] == path), None)
            if r is not None and r["msg_per_s"]:
                xs.append(j + (i - (len(paths) - 1) / 2) * width)
                ys.append(r["msg_per_s"])
        short = _short(path)
        ax.bar(xs, ys, width, label=short, color=_PATH_COLORS.get(short))
    for j, name in enumerate(recs):
        rr = [r for r in rows if r["recording"] == name]
        goal = rr[0].get("target_msg_per_s")
        if goal:
            ax.hlines(goal, j - 0.45, j + 0.45, colors="green", linestyles="dashed", linewidth=1)
        tw_row = next((r for r in rr if _short(r["path"]) == "tickwire" and r["msg_per_s"]), None)
        bot_row = next((r for r in rr if _short(r["path"]) == "orjson bot"), None)
        if tw_row is not None and bot_row is not None and bot_row["tickwire_ratio"]:
            x = j - (len(paths) - 1) / 2 * width
            ax.annotate(
                f"{bot_row['tickwire_ratio']:.1f}×",
                (x, tw_row["msg_per_s"]),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_yscale("log")
    ax.set_xticks(range(len(recs)), recs)
    ax.set_ylabel("messages per second (median round)")
    ax.set_title(
        "Decode + book through the Python API, same run "
        "(dashed: target; label: tickwire ÷ orjson bot)"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3, fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)


def _boxes(ax: Any, recs: list[str], lat: dict[str, dict[str, np.ndarray]]) -> list[str]:
    data, labels, colors, p999 = [], [], [], []
    summary = ["receive -> callback latency, µs (p50 / p99 / p99.9 / max, events):"]
    for name in recs:
        for path, samples in sorted(lat.get(name, {}).items(), reverse=True):
            if len(samples) == 0:
                continue
            data.append(samples)
            labels.append(f"{name}\n{path}".replace("coinbaseexchange", "coinbase\nexchange"))
            colors.append(_PATH_COLORS.get(path, "#999999"))
            p50, p99, p9 = np.percentile(samples, [50, 99, 99.9])
            p999.append(p9)
            summary.append(
                f"- {name}, {path}: {p50:.2f} / {p99:.2f} / {p9:.2f} / {samples.max():.1f} "
                f"({len(samples):,})"
            )
    if data:
        bp = ax.boxplot(data, whis=(1, 99), showfliers=False, patch_artist=True)
        for patch, c in zip(bp["boxes"], colors, strict=True):
            patch.set_facecolor(c)
            patch.set_alpha(0.6)
        ax.plot(range(1, len(data) + 1), p999, "k.", label="p99.9")
        ax.set_xticks(range(1, len(data) + 1), labels, fontsize=6)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("µs")
    ax.set_title(
        "receive_ts -> callback per event, in process, frames back to back "
        "(box p25-p75, whiskers p1-p99)"
    )
    ax.grid(axis="y", which="both", alpha=0.3)
    return summary


def plot(
    rows: list[dict[str, Any]],
    filename: str | Path,
    data_dir: str | Path | None = None,
    lat: dict[str, dict[str, np.ndarray]] | None = None,
) -> str:
    """Draw ``rows`` (from ``compare``/``compare_many``) and the latency of each of their
    recordings (measured here unless ``lat`` = ``{recording: latencies(...)}`` is given) to
    ``filename`` (PNG); return a text summary of the latency percentiles (µs).
    ``ImportError`` if matplotlib is missing."""
    plt = _pyplot()
    recs = list(dict.fromkeys(r["recording"] for r in rows))
    if lat is None:
        lat = _all_latencies(recs, data_dir)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(10, 1.9 * len(recs)), 10))
    _bars(ax1, rows, recs)
    summary = _boxes(ax2, recs, lat)
    fig.tight_layout()
    fig.savefig(filename, dpi=110)
    plt.close(fig)
    summary.append(f"plot written to {filename}")
    return "\n".join(summary)
