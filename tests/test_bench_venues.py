"""The venue benchmarks' baselines and plumbing (tickwire.bench: recordings, venue_bots,
venue_cryptofeed, venue_paths, decode, plot), on the real recordings, kept fast: one replay per
bot, one timed round with one replay per path for the table.

The orjson bots are the reference the table checks tickwire against, so they are held to the
recordings' own oracles here: every checksum the venue sent verifies (counted from the recording
with the stdlib json parser in the test), every sequence chain holds, and removing or corrupting
one frame is caught.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from tickwire.bench import decode, venue_paths
from tickwire.bench.recordings import VENUES, load_venue_recording
from tickwire.bench.venue_bots import BOTS, BotChecksumError, BotGapError
from tickwire.replay import line_of_frame

pytest.importorskip("orjson")


@pytest.fixture(scope="module", params=sorted(VENUES))
def rec(request):
    try:
        return load_venue_recording(request.param)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def _checksums_in(frames: list[bytes]) -> int:
    """Book messages that carry a checksum, counted with the stdlib parser (OKX: nonzero
    ``checksum`` per data entry; Kraken v1: a ``c`` key in a book frame)."""
    n = 0
    for f in frames:
        d = json.loads(f)
        if isinstance(d, dict) and d.get("arg", {}).get("channel") == "books" and "data" in d:
            n += sum(1 for u in d["data"] if u.get("checksum"))
        elif isinstance(d, list) and str(d[-2]).startswith("book-"):
            n += any("c" in part for part in d[1:-2])
    return n


def _is_delta(d) -> bool:
    if isinstance(d, list):
        return str(d[-2]).startswith("book-") and not ("as" in d[1] or "bs" in d[1])
    return (
        (d.get("type") == "delta" and str(d.get("topic", "")).startswith("orderbook"))
        or d.get("action") == "update"
        or (d.get("channel") == "l2_data" and d["events"][0]["type"] == "update")
        or d.get("type") == "l2update"
    )


def _book_frames(frames: list[bytes]) -> list[int]:
    """Indexes of book delta frames (not snapshots), found with the stdlib parser."""
    return [i for i, f in enumerate(frames) if _is_delta(json.loads(f))]


def _replay(bot, frames: list[bytes]) -> None:
    for f in frames:
        bot.feed(f)


def test_bot_replays_its_recording_with_every_checksum_verified(rec):
    bot = BOTS[rec.name]()
    events = sum(len(bot.feed(f)) for f in rec.frames)  # raises on a gap or a bad checksum
    assert bot.checksums_verified == _checksums_in(rec.frames)
    if rec.name in ("okx", "kraken"):
        assert bot.checksums_verified > 100
    assert events >= len(_book_frames(rec.frames))
    tops = bot.tops()
    assert tops
    for bid, ask in tops.values():
        assert bid is not None and ask is not None
        assert bid[0] < ask[0], "a crossed book after a clean replay"


def _first_level(d) -> list[str] | None:
    """The first nonzero level of an OKX update / Kraken v1 book update (parsed), or None."""
    if isinstance(d, dict):
        levels = d["data"][0]["asks"] + d["data"][0]["bids"]
    else:
        levels = [lv for part in d[1:-2] for lv in part.get("a", []) + part.get("b", [])]
    return next((lv for lv in levels if float(lv[1])), None)


def _checksummed_level_frame(rec) -> int:
    """Index of a book update past the middle whose first nonzero level sits, once applied, in
    the checksummed top of its book (top 10 for Kraken, top 25 for OKX): a change to its size
    must fail the frame's checksum."""
    top = 10 if rec.name == "kraken" else 25
    bot = BOTS[rec.name]()
    deltas = set(_book_frames(rec.frames))
    for i, f in enumerate(rec.frames):
        bot.feed(f)
        if i < len(rec.frames) // 2 or i not in deltas:
            continue
        d = json.loads(f)
        lv = _first_level(d)
        if lv is None:
            continue
        sym = next(
            s for s, b in bot.books.items() if float(lv[0]) in b.bids or float(lv[0]) in b.asks
        )
        b = bot.books[sym]
        if float(lv[0]) in b.ask_px[:top] or float(lv[0]) in b.bid_px[-top:]:
            return i
    raise AssertionError("no book update with a level in the checksummed top")


def test_bot_catches_one_removed_or_corrupted_frame(rec):
    frames = list(rec.frames)
    if rec.name in ("okx", "kraken"):
        # change the size of a level that the frame's checksum covers
        i = _checksummed_level_frame(rec)
        d = json.loads(frames[i])
        _first_level(d)[1] = "7" + _first_level(d)[1]
        frames[i] = json.dumps(d, separators=(",", ":")).encode()
        expected: type[Exception] = BotChecksumError
    elif rec.name == "coinbaseexchange":
        # level2 carries no sequence and no checksum: a removed update goes unseen, by the bot
        # as by tickwire (rust/tests/coinbase.rs pins the same for the decoder)
        del frames[_book_frames(rec.frames)[len(_book_frames(rec.frames)) // 2]]
        _replay(BOTS[rec.name](), frames)
        return
    else:
        deltas = _book_frames(rec.frames)
        del frames[deltas[len(deltas) // 2]]
        expected = BotGapError
    with pytest.raises(expected):
        _replay(BOTS[rec.name](), frames)


def test_compare_one_round_same_table(rec, monkeypatch):
    monkeypatch.setattr(venue_paths, "MIN_FRAMES", 1)  # one replay per round
    monkeypatch.setattr(venue_paths, "MIN_BYTES", 1)
    rows = decode.compare(rec.name, rounds=1, warmup=False)
    by_path = {r["path"]: r for r in rows}
    assert list(by_path) == [decode.PATH_TICKWIRE, decode.PATH_BOT, decode.PATH_CRYPTOFEED]
    bot = by_path[decode.PATH_BOT]
    assert bot["msg_per_s"] > 0
    assert bot["frames"] == len(rec.frames)
    assert bot["target_msg_per_s"] == decode.TARGET_VENUE_MSG_PER_S
    tw_row = by_path[decode.PATH_TICKWIRE]
    if tw_row["msg_per_s"] is not None:
        # a tickwire decoder for this venue exists: its books and counters must agree
        assert tw_row["top_ok"] is True, tw_row["note"]
        assert tw_row["tickwire_ratio"] == pytest.approx(1.0)
    else:
        assert tw_row["note"].startswith("skipped")
    cf = by_path[decode.PATH_CRYPTOFEED]
    if cf["msg_per_s"] is not None and rec.name != "coinbase":
        assert cf["top_ok"] is True
    table = decode.format_table(rows)
    assert f"| {rec.name} | orjson bot" in table
    assert f"- {rec.name}: targets tickwire ≥ 1,000,000 msg/s" in table


def test_cryptofeed_coinbase_snapshot_loses_the_asks():
    """The caveat the table prints for cryptofeed's Coinbase handler, shown on the recording."""
    from tickwire.bench.venue_cryptofeed import CryptofeedVenueReplay, cryptofeed_venue_available

    if not cryptofeed_venue_available("coinbase"):
        pytest.skip("cryptofeed is not installed")
    try:
        rec = load_venue_recording("coinbase")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    ref = venue_paths.VenueRun(rec)
    cf = CryptofeedVenueReplay("coinbase", ref.symbols)
    try:
        cf.run(rec.frames)
        depths, bot_depths = cf.depths(), ref.bot.depths()
    finally:
        cf.close()
    for sym, (bids, asks) in bot_depths.items():
        assert depths[sym][0] == bids
        assert depths[sym][1] < asks / 10


def test_expand_names():
    assert decode.expand(["all"]) == list(decode.RECORDINGS)
    assert decode.expand(["binance", "okx", "spot"]) == ["spot", "usdm", "okx"]
    assert decode.expand(["venues"]) == list(VENUES)
    with pytest.raises(ValueError, match="'nope'"):
        decode.expand(["nope"])


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib")
def test_plot_writes_a_png(tmp_path, monkeypatch):
    import numpy as np

    from tickwire.bench.plot import latencies, plot

    monkeypatch.setattr(venue_paths, "MIN_FRAMES", 1)
    monkeypatch.setattr(venue_paths, "MIN_BYTES", 1)
    rows = decode.compare("okx", rounds=1, warmup=False, include_cryptofeed=False)
    lat = {"okx": latencies("okx")}
    assert len(lat["okx"]["orjson bot"]) >= len(load_venue_recording("okx").frames) - 10
    assert np.all(lat["okx"]["orjson bot"] >= 0)
    out = tmp_path / "bench.png"
    summary = plot(rows, out, lat=lat)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "okx, orjson bot:" in summary


def test_binary_lines_load_as_binary_frames_and_decode_as_such(tmp_path):
    # A b64: line of a bench recording is loaded as its binary frame and fed with binary=True:
    # the OKX recording with its first ticker frame written as one loads the same bytes, and
    # OKX's parser (text only) rejects exactly that frame, by name.
    text = load_venue_recording("okx")
    spec = VENUES["okx"]
    k = next(i for i, f in enumerate(text.frames) if b'"channel":"tickers"' in f)
    lines = [line_of_frame(f, i == k) for i, f in enumerate(text.frames)]
    folder = tmp_path / spec.folders[0]
    folder.mkdir()
    (folder / f"{spec.stem}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rec = load_venue_recording("okx", data_dir=tmp_path)
    assert rec.binary == {k} and rec.frames == text.frames and rec.path.parent == folder
    setup, run, check = venue_paths.tickwire_runner(rec, 1, [])
    decs = setup()
    run(decs)
    _, facts = check(decs)
    assert facts["frame_errors"] == 1 and "send text frames only" in facts["first_error"]
