"""OKX v5 (``okx``): the adapter, the decoder on the real recording, the simulator venue and the
live path (``tw.Feed`` against the simulator replaying the packaged recording).

The recording (tests/fixtures/okx, see SOURCES.md) is one 2022 ``/ws/v5/public`` connection:
``books`` with checksums, ``trades`` and ``tickers`` for BTC-USDT and UNI-USD-SWAP. Every
expected value is derived here from that file (parsed with the stdlib), or from the docs-tier
examples in tests/fixtures/okx/docs_tier (copied from the shared fixture set) where no recording exists (the instruments reply).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tickwire._core as core
from tickwire import FrameError, SubscriptionError
from tickwire.events import GapDetected, Resynced
from tickwire.exchanges import Keepalive, get_adapter
from tickwire.exchanges.okx import Okx, instrument_dicts, market_of_id, unified_symbol
from tickwire.feed import Feed
from tickwire.simulator import Simulator
from tickwire.simulator.faults import BadChecksum, Drop, ForceSnapshot
from venue_helpers import assert_book_equal, feed_books, feed_start_error, replay_through_feed

FIXTURES = Path(__file__).parent / "fixtures" / "okx"
REC = FIXTURES / "books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl"
SENT = FIXTURES / "books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.client_sent.jsonl"
DOCS_TIER = FIXTURES / "docs_tier"


def frames() -> list[dict[str, Any]]:
    return [json.loads(line) for line in REC.read_text().splitlines()]


def recorded_inst_ids() -> list[str]:
    """Every instId the client subscribed in the recorded session (incl. held-out ones)."""
    ids: dict[str, None] = {}
    for line in SENT.read_text().splitlines():
        for arg in json.loads(line)["args"]:
            ids[arg["instId"]] = None
    return list(ids)


def final_books() -> dict[str, tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]]:
    """instId -> (bids high to low, asks low to high) after the whole recording, by OKX's
    rules (snapshot replaces, absolute sizes, 0 deletes)."""
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
    for f in frames():
        if f.get("arg", {}).get("channel") != "books" or "data" not in f:
            continue
        inst = f["arg"]["instId"]
        for item in f["data"]:
            if f["action"] == "snapshot":
                books[inst] = ({}, {})
            for side, key in zip(books[inst], ("bids", "asks"), strict=True):
                for row in item[key]:
                    p, s = Decimal(row[0]), Decimal(row[1])
                    if s == 0:
                        side.pop(p, None)
                    else:
                        side[p] = s
    return {
        inst: (sorted(b.items(), reverse=True), sorted(a.items())) for inst, (b, a) in books.items()
    }


def checksums_sent() -> int:
    return sum(
        1
        for f in frames()
        for item in f.get("data", [])
        if isinstance(item, dict) and item.get("checksum", 0) != 0
    )


# --- adapter ---------------------------------------------------------------------------------
def test_symbols_both_ways_on_every_recorded_instrument():
    a = Okx()
    ids = recorded_inst_ids()
    assert {market_of_id(i) for i in ids} == {"spot", "inverse"}  # BTC-USDT, *-USD-SWAP/-220527
    for inst in ids:
        symbol = unified_symbol(inst)
        assert symbol is not None
        assert a.market_id(symbol) == inst
        assert a.market_of(symbol) == market_of_id(inst)
        # the Rust venue names it the same way
        assert core.unified_symbol("okx", inst) == symbol
        assert core.market_id("okx", symbol) == inst
    for bad in ("BTCUSDT", "BTC/USD:USDT", "BTC/USDT:BTC", "btc/usdt", "BTC/USD:BTC-2205"):
        with pytest.raises(ValueError, match="unknown symbol"):
            a.market_id(bad)


def test_subscriptions_requests_and_keepalive():
    a = get_adapter("okx")
    subs = a.subscriptions(["BTC/USDT", "UNI/USD:UNI"], ["book", "trades", "bbo", "candles"])
    assert [(s.route, s.stream) for s in subs[:4]] == [
        ("spot", "books:BTC-USDT"),
        ("spot", "trades:BTC-USDT"),
        ("spot", "bbo-tbt:BTC-USDT"),
        ("spot-business", "candle1m:BTC-USDT"),
    ]
    assert {s.route for s in subs[4:]} == {"inverse", "inverse-business"}
    assert a.decoder_market("inverse-business") == "inverse"
    assert a.ws_url("linear") == "wss://ws.okx.com:8443/ws/v5/public"
    assert a.ws_url("spot-business") == "wss://ws.okx.com:8443/ws/v5/business"
    public = [s for s in subs if s.route == "spot"]
    (req,) = a.subscribe_requests(public, iter(range(1, 100)).__next__)
    body = json.loads(req.payload)
    assert body == {
        "op": "subscribe",
        "args": [
            dict(zip(("channel", "instId"), s.stream.split(":"), strict=True)) for s in public
        ],
    }
    assert req.acks == frozenset(s.stream for s in public)
    (unsub,) = a.unsubscribe_requests(public[:1], iter(range(1, 100)).__next__)
    assert json.loads(unsub.payload)["op"] == "unsubscribe"
    assert a.keepalive() == Keepalive(25.0, b"ping")
    # Per-request limits: at most streams_per_message args and 64 KB per request.
    many = [
        s
        for inst in (f"BTC-USD-{d:06d}" for d in range(2500))
        for s in a.subscriptions([unified_symbol(inst) or ""], ["book"])
    ]
    reqs = a.subscribe_requests(many, iter(range(1, 10_000)).__next__)
    assert sum(len(r.acks) for r in reqs) == len(many)
    assert all(len(r.payload) <= 64 * 1024 for r in reqs)
    assert all(len(json.loads(r.payload)["args"]) <= a.limits.streams_per_message for r in reqs)
    # Sharding: fewer than 30 book channels per connection.
    assert max(len(shard) for shard in a.shards(many)) == 29


def test_bad_channel_symbol_option_and_market_before_connecting():
    with pytest.raises(ValueError, match="'orderbook'"):
        Feed("okx", ["BTC/USDT"], ["orderbook"])
    with pytest.raises(ValueError, match="BTC/USD:USDT"):
        Feed("okx", ["BTC/USD:USDT"], ["book"])
    with pytest.raises(ValueError, match="books-l2-tbt"):
        Okx(options={"book_channel": "books-l2-tbt"})
    with pytest.raises(ValueError, match="option"):
        core.Decoder("okx", market="option")


def test_instruments_reply_parsed_from_the_docs_example():
    # No instruments reply was recorded: the docs-tier `instruments` push (same entry shape as
    # the REST reply's `data`) is the example.
    line = next(
        json.loads(x)
        for x in (DOCS_TIER / "jkorf_v5_examples.jsonl").read_text().splitlines()
        if '"channel":"instruments"' in x and '"data"' in x
    )
    entry = line["data"][0]
    reply = json.dumps({"code": "0", "msg": "", "data": [entry]})
    assert instrument_dicts(reply, "spot") == [
        {
            "market_id": entry["instId"],
            "symbol": f"{entry['baseCcy']}/{entry['quoteCcy']}",
            "tick_size": entry["tickSz"],
            "lot_size": entry["lotSz"],
            "active": entry["state"] == "live",
        }
    ]
    assert instrument_dicts(reply, "linear") == []
    with pytest.raises(Exception, match="51000"):
        instrument_dicts(json.dumps({"code": "51000", "msg": "x", "data": []}), "spot")


def test_dedup_keys_and_rotation_notice_match_what_the_decoder_yields():
    # Trades are de-duplicated by trade id: OKX's grow per instrument, as in the recording.
    dec = core.Decoder("okx")
    key = Okx().dedup_keys()[core.Trade]
    last: dict[str, Any] = {}
    n = 0
    for line in REC.read_bytes().splitlines():
        for ev in dec.feed(line):
            if isinstance(ev, core.Trade):
                assert isinstance(ev.trade_id, int)
                assert ev.symbol not in last or key(ev) > last[ev.symbol]
                last[ev.symbol] = key(ev)
                n += 1
    assert n > 0 and len(last) == 2
    # okx.md §2's service-upgrade notice is the one the adapter rotates on.
    notice = b'{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}'
    (ev,) = core.Decoder("okx").feed(notice)
    assert isinstance(ev, core.Notice)
    assert Okx.rotate_on_notices == {ev.name}


# --- decoder on the recording ------------------------------------------------------------------
def test_decoder_replays_the_recording_with_every_checksum_verified():
    dec = core.Decoder("okx")
    events: list[Any] = []
    for line in REC.read_bytes().splitlines():
        events.extend(dec.feed(line))
    st = dec.stats()
    assert st["checksums_verified"] == checksums_sent() > 0
    assert st["checksum_mismatches"] == 0
    assert not [e for e in events if isinstance(e, core.SyncLost)]
    for inst, (bids, asks) in final_books().items():
        book = dec.book(unified_symbol(inst) or "")
        assert [tuple(x) for x in book.bids(10_000)] == [(float(p), float(s)) for p, s in bids]
        assert [tuple(x) for x in book.asks(10_000)] == [(float(p), float(s)) for p, s in asks]
        (bid, ask) = book.exact_top()
        assert (bid, ask) == (
            (str(bids[0][0]), str(bids[0][1])),
            (str(asks[0][0]), str(asks[0][1])),
        )


def test_frames_of_another_venue_or_version_are_frame_errors():
    """A Binance frame, an OKX v3 frame and OKX's v5 frame with its envelope cut are each a
    ``FrameError`` naming the field, and change nothing."""
    binance = (FIXTURES.parent / "binance").glob("*.jsonl")
    foreign = next(iter(sorted(binance))).read_bytes().splitlines()[0]
    v3 = b'{"table":"spot/depth","action":"partial","data":[]}'
    cut = REC.read_bytes().splitlines()[20][:-2]
    dec = core.Decoder("okx")
    for frame, field in ((foreign, "stream"), (v3, "table"), (cut, "truncated")):
        with pytest.raises(FrameError, match=field):
            dec.feed(frame)
    assert dec.stats()["bad_frames"] == 3 and dec.symbols() == []


# --- live path on the simulator -----------------------------------------------------------------
SYMBOLS = ["BTC/USDT", "UNI/USD:UNI"]


async def _run_feed(
    faults: Sequence[object] = (), speed: float | str = "max", **feed_kwargs: Any
) -> tuple[list[Any], dict[str, Any], dict[str, Any], Simulator]:
    """Replay the packaged recording through a Feed of both recorded books (subscribed before
    the replay starts); returns the events, the stats, the final books and the simulator."""
    async with Simulator("okx", speed=speed, autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "okx",
            SYMBOLS,
            ["book", "trades", "bbo"],
            base_url=sim.rest_url,
            options={"bbo_channel": "tickers"},
            on_event=events.append,
            **feed_kwargs,
        )
        await replay_through_feed(
            sim, feed, faults, connections=len({s.route for s in feed.subscriptions})
        )
        books = feed_books(feed, SYMBOLS)
        stats = feed.stats()
        await feed.close()
        return events, stats, books, sim


def _assert_books_equal_recording(books: dict[str, Any]) -> None:
    for inst, (bids, asks) in final_books().items():
        assert_book_equal(books[unified_symbol(inst)], (bids, asks))


def test_feed_books_equal_the_recording(run):
    events, _stats, books, _ = run(_run_feed())
    _assert_books_equal_recording(books)
    assert not [e for e in events if isinstance(e, GapDetected)]
    trades = [e for e in events if isinstance(e, core.Trade)]
    assert len(trades) == sum(
        len(f["data"]) for f in frames() if "data" in f and f["arg"]["channel"] == "trades"
    )


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Drop(stream="books:BTC-USDT", skip=30), "gap"),
        (BadChecksum(stream="books:BTC-USDT", skip=30), "checksum"),
    ],
)
def test_feed_recovers_from_a_gap_and_a_checksum_fault(run, fault, reason):
    # At 10x the recording's pace (about 1.2 s): the resubscribe round trip happens while the
    # book's updates keep coming, as live.
    events, stats, books, _ = run(_run_feed([fault], speed=10.0))
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert [(g.symbol, g.reason) for g in gaps] == [("BTC/USDT", reason)]
    resynced = [e for e in events if isinstance(e, Resynced)]
    assert [(r.symbol, r.reason) for r in resynced] == [("BTC/USDT", reason)]
    assert events.index(gaps[0]) < events.index(resynced[0])
    assert stats["resubscribes"] == 1
    assert stats["checksum_mismatches"] == (reason == "checksum")
    assert stats["decoder_checksums_verified"] > 0
    _assert_books_equal_recording(books)


def test_subscription_error_with_okx_code(run):
    err, _ = run(
        feed_start_error("okx", "okx", ["ETH/USDT"], SubscriptionError, validate_symbols=False)
    )
    assert err.code == 60018
    assert "ETH-USDT" in str(err)


def test_unlisted_symbol_is_a_value_error_before_subscribing(run):
    _, connections = run(feed_start_error("okx", "okx", ["ETH/USDT"], ValueError, match="ETH/USDT"))
    assert connections == 0


# --- the simulator venue --------------------------------------------------------------------------
def test_simulator_snapshot_on_subscribe_is_the_recorded_book_at_every_position(run):
    """The snapshot the simulated venue sends on subscribe, at the position right after each
    recorded book frame, carries the checksum OKX sent with that frame (so it is OKX's book), the
    strings as received, and the sequence ids the venue numbers by recording line."""

    async def scenario() -> None:
        async with Simulator("okx", speed="max", autostart=False) as sim:
            venue = sim.venue
            checked = 0
            for line, stream in enumerate(sim.recording.line_stream):
                if not stream.startswith("books:"):
                    continue
                recorded = sim.recording.parsed(line)
                (payload,) = venue.on_subscribe(None, stream, line + 1)
                snap = json.loads(payload)
                assert snap["arg"] == recorded["arg"] and snap["action"] == "snapshot"
                item = snap["data"][0]
                assert item["checksum"] == recorded["data"][0]["checksum"]
                assert (item["prevSeqId"], item["seqId"]) == (-1, line + 1)
                rows = item["bids"] + item["asks"]
                assert all(len(r) == 4 and r[2] == "0" for r in rows)
                checked += 1
            assert checked == checksums_sent()
            # Before the recorded snapshot of a book there is none to send.
            assert venue.on_subscribe(None, "books:BTC-USDT", 0) == []

    run(scenario())


def test_simulator_speaks_okx_on_the_socket(run):
    import aiohttp

    async def scenario() -> None:
        async with (
            Simulator("okx", speed="max", autostart=False) as sim,
            aiohttp.ClientSession() as http,
        ):
            ws = await http.ws_connect(sim.ws_url + "/ws/v5/public")
            await ws.send_str("ping")
            assert (await ws.receive()).data == "pong"
            args = [
                {"channel": "books", "instId": "BTC-USDT"},
                {"channel": "trades", "instId": "BTC-USDT"},
            ]
            await ws.send_str(json.dumps({"id": "7", "op": "subscribe", "args": args}))
            for arg in args:
                ack = json.loads((await ws.receive()).data)
                assert (ack["id"], ack["event"], ack["arg"]) == ("7", "subscribe", arg)
            await ws.send_str(
                json.dumps(
                    {"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}
                )
            )
            err = json.loads((await ws.receive()).data)  # candles are on /business
            assert (err["event"], err["code"]) == ("error", "60018")
            await ws.send_str("{")
            assert json.loads((await ws.receive()).data)["code"] == "60012"
            await ws.close()

    run(scenario())


def test_keepalive_ping_keeps_the_connection_and_silence_closes_it(run):
    """The simulated venue closes a connection whose client sent no ``ping`` for its deadline
    (30 s at OKX; 1.5 s here); the adapter's text ping (every 0.1 s here, 25 s live) keeps a
    Feed's connections open through the whole replay (about 2.7 s at 4x)."""
    import aiohttp

    class QuickPing(Okx):
        def keepalive(self) -> Keepalive | None:
            return Keepalive(0.1, b"ping")

    async def scenario() -> None:
        async with Simulator("okx", speed=4.0, client_ping_timeout=1.5) as sim:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(sim.ws_url + "/ws/v5/public")
                msg = await asyncio.wait_for(ws.receive(), 5)  # silence: closed by the venue
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await sim.rewind()
            events: list[Any] = []
            feed = Feed(
                QuickPing(base_url=sim.rest_url), ["BTC/USDT"], ["book"], on_event=events.append
            )
            async with feed:
                await sim.wait_finished(timeout=30)
                stats = feed.stats()
            assert stats["keepalives"] > 0
            assert (stats["reconnects"], stats["connects"]) == (0, 1), events

    run(scenario())


def test_a_snapshot_sent_again_mid_stream_resets_the_book_without_a_gap(run):
    """OKX may resend a snapshot unprompted (e.g. after maintenance): the book is replaced, the
    seqId chain continues from the snapshot's seqId, nothing is reported lost."""
    events, stats, books, _ = run(_run_feed([ForceSnapshot(after=100, stream="books:BTC-USDT")]))
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["decoder_snapshots"] == 3  # the two recorded ones and the one sent again
    assert stats["decoder_gaps"] == 0 and stats["decoder_checksum_mismatches"] == 0
    _assert_books_equal_recording(books)
