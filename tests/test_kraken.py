"""Kraken spot end to end: the adapter (v2 live default, v1 option), the Rust decoder through
the Python binding on the real v1 recordings (tests/fixtures/kraken, SOURCES.md), and
``tw.Feed("kraken")`` against the simulator market ``kraken``, which replays the v1
``book-1000`` recording.

Every expected value is derived here from the recording with the stdlib (``json`` +
``Decimal``); the simulator speaks v1, so feeds on it pass ``options={"version": 1, "depth":
1000}`` (the recorded depth: the simulator cannot replay another depth exactly).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from decimal import Decimal
from typing import Any

import pytest

import tickwire as tw
import tickwire._core as core
from conftest import FIXTURES
from tickwire.connection import SubscriptionError
from tickwire.events import GapDetected, Resynced
from tickwire.exchanges import Subscription, get_adapter
from tickwire.exchanges.kraken import Kraken, parse_asset_pairs, v1_name, v2_name
from tickwire.feed import Feed
from tickwire.simulator import Simulator
from tickwire.simulator.faults import BadChecksum, Drop

BOOK = FIXTURES / "kraken" / "book1000_checksum_8pairs_20210417.jsonl"
TICKER = FIXTURES / "kraken" / "ticker_10pairs_20210417.jsonl"
TRADE = FIXTURES / "kraken" / "trade_10pairs_20210417.jsonl"
V1 = {"version": 1, "depth": 1000}


def frames(path) -> list[Any]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def lines(path) -> list[bytes]:
    return path.read_bytes().splitlines()


# --- what the recording says, with the stdlib ------------------------------------------------
def recorded_books(upto: int | None = None) -> dict[str, tuple[dict, dict]]:
    """v2 symbol -> (bids, asks) as {Decimal price: (price text, size text)} after the first
    ``upto`` lines (all if None), each side truncated to the acked depth after each frame."""
    depth: dict[int, int] = {}
    books: dict[str, tuple[dict, dict]] = {}
    for f in frames(BOOK)[:upto]:
        if isinstance(f, dict):
            if f.get("event") == "subscriptionStatus":
                depth[f["channelID"]] = f["subscription"]["depth"]
            continue
        sym = v2_name(f[-1])
        bids, asks = books.setdefault(sym, ({}, {}))
        for part in f[1:-2]:
            if "as" in part or "bs" in part:
                bids.clear()
                asks.clear()
            for key, side in (("as", asks), ("bs", bids), ("a", asks), ("b", bids)):
                for row in part.get(key, ()):
                    if Decimal(row[1]) == 0:
                        side.pop(Decimal(row[0]), None)
                    else:
                        side[Decimal(row[0])] = (row[0], row[1])
        for side, best_high in ((bids, True), (asks, False)):
            keep = sorted(side, reverse=best_high)[: depth[f[0]]]
            for p in set(side) - set(keep):
                del side[p]
    return books


def kraken_crc(bids: dict, asks: dict) -> int:
    """Kraken's checksum (docs/exchanges/kraken.md §5) of a recorded book."""
    text = ""
    for side, high in ((asks, False), (bids, True)):
        for p in sorted(side, reverse=high)[:10]:
            price, size = side[p]
            text += price.replace(".", "").lstrip("0") + size.replace(".", "").lstrip("0")
    return zlib.crc32(text.encode())


def top(side: dict, n: int, high: bool) -> list[tuple[float, float]]:
    return [(float(p), float(Decimal(side[p][1]))) for p in sorted(side, reverse=high)[:n]]


# --- adapter ---------------------------------------------------------------------------------
def test_adapter_urls_symbols_and_options():
    live = get_adapter("kraken")
    assert isinstance(live, Kraken) and live.version == 2
    assert live.ws_endpoint("spot") == "wss://ws.kraken.com/v2"
    assert Kraken(options={"version": 1}).ws_endpoint("spot") == "wss://ws.kraken.com"
    assert Kraken(base_url="http://127.0.0.1:9", options=V1).ws_endpoint("spot") == (
        "ws://127.0.0.1:9"
    )
    # every recorded pair: v1 name <-> unified symbol
    pairs = {f["pair"] for f in frames(BOOK) if isinstance(f, dict) and "pair" in f}
    for pair in pairs:
        sym = v2_name(pair)
        assert "XBT" not in sym and v1_name(sym) == pair
        assert live.market_id(sym) == sym and live.market_of(sym) == "spot"
    for bad in ("BTC/USDT:USDT", "BTCUSD", "btc/usd", "BTC/USD/EUR", ""):
        with pytest.raises(ValueError, match="symbol"):
            live.market_id(bad)
    for opts, word in (
        ({"version": 3}, "version"),
        ({"depth": 15}, "depth"),
        ({"candle_interval": 2}, "candle_interval"),
        ({"nope": 1}, "nope"),
    ):
        with pytest.raises(ValueError, match=word):
            Kraken(options=opts)
    with pytest.raises(ValueError, match="channel"):
        live.subscriptions(["BTC/USD"], ["funding"])


def test_adapter_requests_and_ack_keys():
    ids = iter(range(1, 100))
    v2 = Kraken(options={"depth": 25})
    subs = v2.subscriptions(["BTC/USD", "DOGE/EUR"], ["book", "trades", "bbo", "candles"])
    assert [s.stream for s in subs[:4]] == [
        "book:BTC/USD",
        "trade:BTC/USD",
        "ticker:BTC/USD",
        "ohlc:BTC/USD",
    ]
    reqs = v2.subscribe_requests(subs, lambda: next(ids))
    assert len(reqs) == len(subs)  # v2: one symbol per request, settled by its req_id
    bodies = [json.loads(r.payload) for r in reqs]
    assert all(r.acks == frozenset({b["req_id"]}) for r, b in zip(reqs, bodies, strict=True))
    book = next(b for b in bodies if b["params"]["channel"] == "book")
    assert book["method"] == "subscribe" and book["params"]["depth"] == 25
    assert (
        next(b for b in bodies if b["params"]["channel"] == "ticker")["params"]["event_trigger"]
        == "bbo"
    )
    assert {tuple(b["params"]["symbol"]) for b in bodies} == {("BTC/USD",), ("DOGE/EUR",)}
    un = v2.unsubscribe_requests(subs[:1], lambda: next(ids))
    assert json.loads(un[0].payload)["method"] == "unsubscribe"
    # v1: pairs batched per channel, settled per pair by the subscriptionStatus topic
    v1 = Kraken(options=V1)
    subs = v1.subscriptions(["BTC/USD", "DOGE/EUR"], ["book", "bbo"])
    reqs = v1.subscribe_requests(subs, lambda: next(ids))
    assert len(reqs) == 2
    body = json.loads(reqs[0].payload)
    assert body["event"] == "subscribe" and body["pair"] == ["XBT/USD", "XDG/EUR"]
    assert body["subscription"] == {"name": "book", "depth": 1000}
    assert reqs[0].acks == frozenset({"book:BTC/USD", "book:DOGE/EUR"})
    assert json.loads(reqs[1].payload)["subscription"] == {"name": "spread"}
    assert v1.keepalive().payload == b'{"event":"ping"}'
    assert Kraken().keepalive().payload == b'{"method":"ping"}'


def test_every_recorded_ack_topic_is_the_adapters_stream():
    """The Rust decoder's ``ControlReply.topic`` for each recorded ack equals the stream the
    adapter names for that subscription (how requests are settled)."""
    adapter = Kraken(options=V1)
    channel_of = {"book": "book", "trade": "trades", "ticker": None}
    for path in (BOOK, TRADE, TICKER):
        d = tw.Decoder("kraken")
        acked = [f for f in frames(path) if isinstance(f, dict) and f.get("status") == "subscribed"]
        replies = []
        for line in lines(path):
            replies += [e for e in d.feed(line, 0) if isinstance(e, core.ControlReply)]
        acks = [r for r in replies if r.kind == "ack"]
        assert len(acks) == len(acked)
        for f, r in zip(acked, acks, strict=True):
            ch = channel_of[f["subscription"]["name"]]
            if ch is None:  # v1 ticker: tickwire's bbo is v1 spread; the topic still names it
                assert r.topic == f"ticker:{v2_name(f['pair'])}"
                continue
            (sub,) = adapter.subscriptions([v2_name(f["pair"])], [ch])
            assert r.topic == sub.stream


def test_asset_pairs_parser():
    """The AssetPairs shape, built from the recorded pairs and the most decimals their recorded
    prices and volumes have (no value invented)."""
    dec = {}
    for f in frames(BOOK):
        if isinstance(f, list):
            for part in f[1:-2]:
                for key in ("as", "bs", "a", "b"):
                    for row in part.get(key, ()):
                        p, s = dec.get(f[-1], (0, 0))
                        w = [len(t.split(".")[1]) if "." in t else 0 for t in row[:2]]
                        dec[f[-1]] = (max(p, w[0]), max(s, w[1]))
    body = {
        "error": [],
        "result": {
            pair.replace("/", ""): {"wsname": pair, "pair_decimals": p, "lot_decimals": s}
            for pair, (p, s) in dec.items()
        },
    }
    got = parse_asset_pairs(json.dumps(body).encode())
    assert {i["symbol"] for i in got} == {v2_name(p) for p in dec}
    for i in got:
        p, s = dec[v1_name(i["symbol"])]
        assert Decimal(i["tick_size"]) == Decimal(1).scaleb(-p) and i["active"]
        assert Decimal(i["lot_size"]) == Decimal(1).scaleb(-s)
        assert i["market_id"] == i["symbol"]
    with pytest.raises(tw.ExchangeError, match="Unknown asset pair"):
        parse_asset_pairs(b'{"error":["EQuery:Unknown asset pair"]}')


# --- decoder on the recordings ---------------------------------------------------------------
def test_decoder_verifies_every_recorded_checksum():
    d = tw.Decoder("kraken")
    sync_lost = []
    for line in lines(BOOK):
        sync_lost += [e for e in d.feed(line, 0) if isinstance(e, core.SyncLost)]
    with_c = sum(1 for f in frames(BOOK) if isinstance(f, list) and any("c" in p for p in f[1:-2]))
    st = d.stats()
    assert (st["checksums_verified"], st["checksum_mismatches"], sync_lost) == (with_c, 0, [])
    books = recorded_books()
    assert sum(d.book_stats(s)["checksums_verified"] for s in books) == with_c
    for sym, (bids, asks) in books.items():
        book = d.book(sym)
        assert top(bids, 10, True) == [tuple(r) for r in book.bids(10).tolist()]
        assert top(asks, 10, False) == [tuple(r) for r in book.asks(10).tolist()]


def test_decoder_detects_a_corrupted_checksum():
    raw = lines(BOOK)
    k = next(
        i for i, f in enumerate(frames(BOOK)) if isinstance(f, list) and '"c"' in raw[i].decode()
    )
    f = json.loads(raw[k])
    sent = int(next(p["c"] for p in f[1:-2] if "c" in p))
    bad = raw[k].replace(f'"c":"{sent}"'.encode(), f'"c":"{(sent + 1) % 2**32}"'.encode())
    d = tw.Decoder("kraken")
    for line in raw[:k]:
        d.feed(line, 0)
    (lost,) = [e for e in d.feed(bad, 0) if isinstance(e, core.SyncLost)]
    assert (lost.symbol, lost.reason) == (v2_name(f[-1]), "checksum")
    assert (lost.expected, lost.received) == ((sent + 1) % 2**32, sent)
    assert d.needs_snapshot(v2_name(f[-1]))


# --- the simulator's v1 protocol, with a plain WebSocket client --------------------------------
def apply_v1(f: list[Any], bids: dict, asks: dict, got: dict[str, Any]) -> str | None:
    """Apply a v1 book frame to a client book (counting snapshots and republished levels in
    ``got``); its checksum text, if any."""
    crc = None
    for part in f[1:-2]:
        if "as" in part:
            got["snapshots"] += 1
            bids.clear()
            asks.clear()
        for key, side in (("as", asks), ("bs", bids), ("a", asks), ("b", bids)):
            for row in part.get(key, ()):
                got["r"] += len(row) == 4
                if Decimal(row[1]) == 0:
                    side.pop(Decimal(row[0]), None)
                else:
                    side[Decimal(row[0])] = (row[0], row[1])
        crc = part.get("c", crc)
    return crc


async def _client_book(depth: int, position: int, pair: str = "XBT/CHF") -> dict[str, Any]:
    """Subscribe ``pair``'s book at ``depth`` once the replay holds at ``position``, then apply
    every frame to a plain client book (truncated to ``depth``) and check each checksum."""
    import aiohttp

    async with (
        Simulator("kraken", speed="max", autostart=False) as sim,
        aiohttp.ClientSession() as http,
    ):
        # A connection to every recorded stream (by URL) drives the replay to ``position``.
        driver = await http.ws_connect(sim.stream_url())
        sim.hold_at(position)
        sim.start_replay()
        await sim.wait_position(position, timeout=10)
        async with http.ws_connect(sim.ws_url + "/") as ws:
            await ws.send_str(json.dumps({"event": "ping", "reqid": 1}))
            pong = json.loads(await ws.receive_str())
            sub = {
                "event": "subscribe",
                "reqid": 2,
                "pair": [pair],
                "subscription": {"name": "book", "depth": depth},
            }
            await ws.send_str(json.dumps(sub))
            ack = json.loads(await ws.receive_str())
            sim.resume()
            bids: dict = {}
            asks: dict = {}
            got = {"pong": pong, "ack": ack, "verified": 0, "mismatched": 0, "snapshots": 0, "r": 0}
            while True:
                try:
                    msg = await asyncio.wait_for(ws.receive(), 2)
                except TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                f = json.loads(msg.data)
                if isinstance(f, dict):
                    continue
                assert f[-2:] == [f"book-{depth}", pair]
                crc = apply_v1(f, bids, asks, got)
                for side, high in ((bids, True), (asks, False)):
                    for p in sorted(side, reverse=high)[depth:]:
                        del side[p]
                if crc is not None:
                    got["verified" if kraken_crc(bids, asks) == int(crc) else "mismatched"] += 1
            got["bids"], got["asks"] = bids, asks
        await driver.close()
        return got


@pytest.mark.parametrize(("depth", "position"), [(1000, 0), (1000, 1500), (10, 1500), (100, 700)])
def test_simulator_snapshot_at_the_replay_position_and_depths(run, depth, position):
    """The snapshot the simulator sends on subscribe (at the replay position) and the updates
    after it reproduce every checksum of the pair after that position; below the recorded
    depth, updates come in that depth's form (the top-10 checksums still all verify) and the
    final book is the recording's top ``depth``."""
    got = run(_client_book(depth, position))
    assert got["pong"] == {"event": "pong", "reqid": 1}
    ack = got["ack"]
    assert (ack["status"], ack["channelName"], ack["subscription"]["depth"]) == (
        "subscribed",
        f"book-{depth}",
        depth,
    )
    recorded_ack = next(
        f for f in frames(BOOK) if isinstance(f, dict) and f.get("pair") == "XBT/CHF"
    )
    assert ack["channelID"] == recorded_ack["channelID"] and ack["reqid"] == 2
    after = [f for f in frames(BOOK)[position:] if isinstance(f, list) and f[-1] == "XBT/CHF"]
    with_c = sum(1 for f in after if any("c" in p for p in f[1:-2]))
    assert got["snapshots"] == 1 and got["mismatched"] == 0
    if depth == 1000:
        assert got["verified"] == with_c
    else:
        assert 0 < got["verified"] <= with_c and got["r"] > 0
    bids, asks = recorded_books()["BTC/CHF"]
    assert top(got["bids"], depth, True) == top(bids, depth, True)
    assert top(got["asks"], depth, False) == top(asks, depth, False)


def test_simulator_errors_in_krakens_format(run):
    import aiohttp

    async def scenario():
        async with (
            Simulator("kraken", speed="max") as sim,
            aiohttp.ClientSession() as http,
            http.ws_connect(sim.ws_url + "/") as ws,
        ):
            out = []
            for req in (
                {
                    "event": "subscribe",
                    "reqid": 3,
                    "pair": ["XBT/USD"],
                    "subscription": {"name": "book"},
                },
                {
                    "event": "subscribe",
                    "reqid": 4,
                    "pair": ["XBTCHF"],
                    "subscription": {"name": "book"},
                },
                {
                    "event": "subscribe",
                    "reqid": 5,
                    "pair": ["XBT/CHF"],
                    "subscription": {"name": "book", "depth": 15},
                },
                {
                    "event": "subscribe",
                    "reqid": 6,
                    "pair": ["XBT/CHF"],
                    "subscription": {"name": "bogus"},
                },
                {
                    "event": "unsubscribe",
                    "reqid": 7,
                    "pair": ["XBT/CHF"],
                    "subscription": {"name": "book"},
                },
                {"event": "hello"},
            ):
                await ws.send_str(json.dumps(req))
                out.append(json.loads(await ws.receive_str()))
            await ws.send_str("{")
            out.append(json.loads(await ws.receive_str()))
            return out

    out = run(scenario())
    assert [o.get("errorMessage") for o in out] == [
        "Currency pair not supported XBT/USD",
        "Currency pair not in ISO 4217-A3 format XBTCHF",
        "Subscription depth not supported",
        "Subscription name invalid",
        "Subscription Not Found",
        "Event(s) not found",
        "Malformed request",
    ]
    assert [o.get("reqid") for o in out[:5]] == [3, 4, 5, 6, 7]
    # The Rust decoder reads each as an error reply naming the pair's topic.
    d = tw.Decoder("kraken")
    replies = [e for o in out for e in d.feed(json.dumps(o).encode(), 0)]
    assert [r.kind for r in replies] == ["error"] * len(out)
    assert replies[0].topic == "book:BTC/USD" and replies[0].request_id == 3


# --- feed against the simulator -------------------------------------------------------------
async def _run_feed(symbols, faults=(), options=V1, **kw):
    async with Simulator("kraken", speed="max", autostart=False) as sim:
        events: list[Any] = []
        feed = Feed(
            "kraken",
            symbols,
            ["book"],
            base_url=sim.rest_url,
            options=options,
            on_event=events.append,
            **kw,
        )
        starting = asyncio.ensure_future(feed.start())
        await sim.wait_connections(1, timeout=10)
        while not starting.done() and not all(c.subscriptions for c in sim.connections):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        for fault in faults:
            sim.inject(fault)
        sim.start_replay()
        await asyncio.wait_for(starting, 30)
        await sim.wait_finished(timeout=60)
        await asyncio.sleep(0.5)
        out = {s: feed.book(s) for s in symbols}
        result = (
            events,
            {s: (b.synced, b.bids(20).tolist(), b.asks(20).tolist()) for s, b in out.items()},
            feed.stats(),
        )
        await feed.close()
        return result


def _assert_final_books(books, depth=1000):
    want = recorded_books()
    n = min(20, depth)
    for sym, (synced, bids, asks) in books.items():
        b, a = want[sym]
        assert synced
        assert [tuple(r) for r in bids] == top(b, n, True)
        assert [tuple(r) for r in asks] == top(a, n, False)


@pytest.mark.parametrize("depth", [1000, 100, 10])
def test_feed_books_equal_the_recording(run, depth):
    """All 8 recorded books through ``tw.Feed`` on the simulator, at the recorded depth and at
    depths the simulator derives from it (the adapter's default, 100, and 10): every checksum
    verifies (no ``GapDetected``) and the final books are the recording's."""
    syms = sorted(recorded_books())
    events, books, stats = run(_run_feed(syms, options={"version": 1, "depth": depth}))
    _assert_final_books(books, depth)
    assert not [e for e in events if isinstance(e, GapDetected)]
    assert stats["decoder_checksum_mismatches"] == 0 and stats["decoder_checksums_verified"] > 0
    if depth == 1000:
        with_c = sum(
            1 for f in frames(BOOK) if isinstance(f, list) and any("c" in p for p in f[1:-2])
        )
        assert stats["decoder_checksums_verified"] == with_c


def test_feed_recovers_from_a_checksum_fault(run):
    events, books, _ = run(_run_feed(["BTC/CHF"], [BadChecksum(stream="book:BTC/CHF", skip=20)]))
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert [g.reason for g in gaps] == ["checksum"]
    assert [e for e in events if isinstance(e, Resynced)]
    _assert_final_books(books)


def test_feed_recovers_from_a_dropped_update(run):
    """A dropped delta that changed the top 10 (its checksum differs from the one before) and
    whose levels the next update of the pair does not all set again: Kraken has no sequence,
    the next checksum catches it."""
    fs = frames(BOOK)
    mine = [i for i, f in enumerate(fs) if isinstance(f, list) and f[-1] == "XBT/CHF"]

    def crc(f):
        return next((int(p["c"]) for p in f[1:-2] if "c" in p), None)

    def prices(f):
        return {(k, r[0]) for p in f[1:-2] for k in ("a", "b") for r in p.get(k, ())}

    line = next(
        i
        for a, i, j in zip(mine[5:], mine[6:], mine[7:], strict=False)
        if crc(fs[i]) != crc(fs[a]) and not prices(fs[i]) <= prices(fs[j])
    )
    events, books, _ = run(_run_feed(["BTC/CHF"], [Drop(line=line)]))
    assert [g.reason for g in events if isinstance(g, GapDetected)] == ["checksum"]
    assert [e for e in events if isinstance(e, Resynced)]
    _assert_final_books(books)


def test_subscribe_error_in_krakens_format(run):
    async def scenario():
        async with Simulator("kraken", speed="max") as sim:
            feed = Feed(
                "kraken",
                ["BTC/USD"],
                ["book"],
                base_url=sim.rest_url,
                options=V1,
                validate_symbols=False,
            )
            with pytest.raises(SubscriptionError) as err:
                await feed.start()
            await feed.close()
            return err.value

    err = run(scenario())
    assert "Currency pair not supported XBT/USD" in str(err)


def test_bad_arguments_fail_before_connecting(run):
    for args, opts, word in (
        ((["BTC/USDT:USDT"], ["book"]), V1, "BTC/USDT:USDT"),
        ((["BTC/CHF"], ["funding"]), V1, "funding"),
        ((["BTC/CHF"], ["book"]), {"version": 5}, "version"),
    ):
        with pytest.raises(ValueError, match=word):
            Feed("kraken", *args, options=opts)

    async def scenario():
        async with Simulator("kraken", speed="max") as sim:
            feed = Feed("kraken", ["DOGE/USD"], ["book"], base_url=sim.rest_url, options=V1)
            with pytest.raises(ValueError, match="DOGE/USD"):
                await feed.start()
            await feed.close()
            return sim.total_connections

    assert run(scenario()) == 0


def test_subscription_dataclass_shape():
    (s,) = Kraken(options=V1).subscriptions(["BTC/CHF"], ["book"])
    assert s == Subscription("BTC/CHF", "book", "spot", "book:BTC/CHF")
