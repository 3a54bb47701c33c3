"""KuCoin spot (exchange id ``kucoin``): the simulator's protocol, the adapter, the decoder on the
real recording (tests/fixtures/kucoin, see SOURCES.md there) and ``tw.Feed`` end to end.

Every expected value is derived in the test from the recorded lines and REST snapshots
themselves (parsed with the stdlib, books applied with ``Decimal`` by the docs' rule), never
written down by hand.
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tickwire import FrameError
from tickwire.simulator import Simulator
from venue_helpers import replay_stats

FIXTURES = Path(__file__).parent / "fixtures" / "kucoin"
SESSION = FIXTURES / "level2_ticker_match_candles_7sym_20210425.jsonl"
SNAPSHOTS = sorted(FIXTURES.glob("level2_snapshot_*.json"))
MARKET = "kucoin"

Book = dict[str, dict[Decimal, Decimal]]


def _lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SESSION.read_bytes().splitlines() if line.strip()]


def _pushes() -> list[dict[str, Any]]:
    """The recorded pushes (what the simulator replays: the session without welcome/acks)."""
    return [p for p in _lines() if p.get("type") == "message"]


def _snapshots() -> dict[str, dict[str, Any]]:
    """Market id -> the recorded REST snapshot's ``data``."""
    out = {}
    for path in SNAPSHOTS:
        market_id = path.name.split("_")[2].upper()
        out[market_id] = json.loads(path.read_bytes())["data"]
    return out


class Model:
    """One book by KuCoin's documented rule, independently of tickwire: the snapshot, then
    each message whose ``sequenceEnd`` is past the book, rows past the book's sequence only,
    price ``"0"`` rows skipped, size ``"0"`` deletes."""

    def __init__(self, snap: dict[str, Any]) -> None:
        self.seq = int(snap["sequence"])
        self.book: Book = {
            "bids": {Decimal(p): Decimal(q) for p, q in snap["bids"]},
            "asks": {Decimal(p): Decimal(q) for p, q in snap["asks"]},
        }
        self.applied = 0

    def apply(self, data: dict[str, Any]) -> None:
        if data["sequenceEnd"] <= self.seq:
            return
        assert data["sequenceStart"] <= self.seq + 1, "the recording itself has a gap"
        for side in ("bids", "asks"):
            for price, size, row_seq in data["changes"][side]:
                if int(row_seq) <= self.seq or Decimal(price) == 0:
                    continue
                if Decimal(size) == 0:
                    self.book[side].pop(Decimal(price), None)
                else:
                    self.book[side][Decimal(price)] = Decimal(size)
        self.seq = data["sequenceEnd"]
        self.applied += 1

    def levels(self, side: str) -> list[tuple[float, float]]:
        prices = sorted(self.book[side], reverse=side == "bids")
        return [(float(p), float(self.book[side][p])) for p in prices]


def _models() -> dict[str, Model]:
    """Market id -> the model after the whole recording (snapshot bridged where its sequence
    is reached; every later delta applied)."""
    snaps = _snapshots()
    models: dict[str, Model] = {}
    for p in _pushes():
        if not p["topic"].startswith("/market/level2:"):
            continue
        mid = p["data"]["symbol"]
        if (
            mid not in models
            and mid in snaps
            and p["data"]["sequenceEnd"] > int(snaps[mid]["sequence"])
        ):
            models[mid] = Model(snaps[mid])
        if mid in models:
            models[mid].apply(p["data"])
    assert sorted(models) == sorted(snaps)
    return models


def _unified(market_id: str) -> str:
    return market_id.replace("-", "/")


async def _recv_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    out: dict[str, Any] = json.loads(msg.data)
    return out


# --- the decoder on the recording (Python API) -------------------------------------------------
def test_decoder_books_equal_the_model_after_every_snapshot_bridges() -> None:
    """Every line decodes; each REST snapshot is applied once its symbol's stream passes the
    snapshot's sequence (the deltas buffered until then replay through the bridge); 0 gaps, 0
    bad frames; every final book equals the model level by level, and as many deltas applied."""
    import tickwire._core as core

    d = core.Decoder("kucoin")
    assert (d.exchange, d.market, d.recovery) == ("kucoin", "spot", "rest")
    snaps = {m: p.read_bytes() for m, p in zip(_snapshots(), SNAPSHOTS, strict=True)}
    seqs = {m: int(s["sequence"]) for m, s in _snapshots().items()}
    lines = SESSION.read_bytes().splitlines()
    for line, push in zip(lines, _lines(), strict=True):
        d.feed(line, 0)
        mid = push.get("data", {}).get("symbol") if isinstance(push.get("data"), dict) else None
        bridging = push.get("subject") == "trade.l2update" and mid in snaps
        if bridging and push["data"]["sequenceEnd"] > seqs[mid]:
            d.apply_snapshot(_unified(mid), snaps.pop(mid), 0)
    assert not snaps
    stats = d.stats()
    assert (stats["frames"], stats["bad_frames"], stats["gaps"]) == (len(lines), 0, 0)
    models = _models()
    assert stats["deltas_applied"] == sum(m.applied for m in models.values())
    for mid, model in models.items():
        book = d.book(_unified(mid))
        assert book.synced and book.sequence == model.seq
        assert [tuple(r) for r in book.bids(100_000).tolist()] == model.levels("bids"), mid
        assert [tuple(r) for r in book.asks(100_000).tolist()] == model.levels("asks"), mid


def test_decoder_rejects_foreign_frames_and_markets() -> None:
    """A frame of another venue is a FrameError and changes nothing; kucoin has no linear
    market; a futures topic on the spot decoder is a FrameError naming ``topic``."""
    import tickwire._core as core

    with pytest.raises(ValueError, match="linear"):
        core.Decoder("kucoin", market="linear")
    d = core.Decoder("kucoin")
    okx = b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[]}'
    with pytest.raises(FrameError):
        d.feed(okx, 0)
    delta = next(line for line in SESSION.read_bytes().splitlines() if b"trade.l2update" in line)
    futures = delta.replace(b"/market/level2:", b"/contractMarket/level2:")
    with pytest.raises(FrameError, match="topic"):
        d.feed(futures, 0)
    assert d.stats()["bad_frames"] == 2 and d.symbols() == []


# --- the adapter ---------------------------------------------------------------------------------
def _adapter(**kw: Any) -> Any:
    from tickwire.exchanges import get_adapter

    return get_adapter("kucoin", **kw)


def test_adapter_topics_requests_keepalive_and_snapshot() -> None:
    """Topics per channel, one symbol each; requests join symbols of one prefix (at most 100,
    the recorded client did the same) with the echoed id as ack key; candles one topic per
    request; the ping frame; the public level2_100 snapshot request."""
    a = _adapter()
    symbols = [_unified(m) for m in sorted(_snapshots())]
    subs = a.subscriptions(symbols, ["book", "trades", "bbo", "candles"])
    assert {s.route for s in subs} == {"spot"}
    first = a.market_id(symbols[0])
    assert [s.stream for s in subs[:4]] == [
        f"/market/level2:{first}",
        f"/market/match:{first}",
        f"/market/ticker:{first}",
        f"/market/candles:{first}_1min",
    ]
    ids = iter(range(10, 100))
    reqs = a.subscribe_requests(subs, lambda: next(ids))
    assert len(reqs) == 3 + len(symbols)  # level2, match, ticker joined; a candle topic each
    for r in reqs:
        body = json.loads(r.payload)
        (rid,) = r.acks
        prefix = r.streams[0].partition(":")[0]
        joined = ",".join(s.partition(":")[2] for s in r.streams)
        assert body == {
            "id": rid,
            "type": "subscribe",
            "topic": f"{prefix}:{joined}",
            "privateChannel": False,
            "response": True,
        }
    # The recorded client's level2 request had this shape (id, topic, privateChannel, response).
    sent = [
        json.loads(x)
        for x in SESSION.with_suffix("").with_suffix(".client_sent.jsonl").read_bytes().splitlines()
    ]
    assert {k for r in sent for k in r} == set(json.loads(reqs[0].payload))
    many = a.subscriptions([f"C{i}/USDT" for i in range(150)], ["book"])
    assert [len(r.streams) for r in a.subscribe_requests(many, lambda: 1)] == [100, 50]
    unsub = a.unsubscribe_requests(subs[:1], lambda: 7)
    assert json.loads(unsub[0].payload)["type"] == "unsubscribe" and unsub[0].acks == {7}
    keep = a.keepalive()
    assert keep.interval_s == 18.0 and json.loads(keep.payload)["type"] == "ping"
    url, params = a.snapshot_request("BTC/USDT")
    assert (url, params) == (
        "https://api.kucoin.com/api/v1/market/orderbook/level2_100",
        {"symbol": "BTC-USDT"},
    )
    assert _adapter(options={"snapshot_depth": 20}).snapshot_request("BTC/USDT")[0].endswith("_20")
    assert a.subscriptions(["BTC/USDT"], ["candles"])[0].stream == "/market/candles:BTC-USDT_1min"
    hourly = _adapter(options={"candle_interval": "1h"}).subscriptions(["BTC/USDT"], ["candles"])
    assert hourly[0].stream == "/market/candles:BTC-USDT_1hour"


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda a: a.market_id("BTC/USDT:USDT"), "'BTC/USDT:USDT'"),
        (lambda a: a.market_id("btc/usdt"), "did you mean 'BTC/USDT'"),
        (lambda a: a.market_id("BTCUSDT"), "'BTCUSDT'"),
        (lambda a: a.subscriptions(["BTC/USDT"], ["orders"]), "'orders'"),
        (lambda a: a.ws_url("linear"), "'linear'"),
        (lambda _: _adapter(options={"snapshot_depth": 50}), "snapshot_depth 50"),
        (lambda _: _adapter(options={"candle_interval": "7m"}), "candle_interval '7m'"),
    ],
)
def test_adapter_rejects_with_a_named_value_error(call: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        call(_adapter())


def test_adapter_and_rust_venue_name_the_recorded_symbols_alike() -> None:
    """For every recorded market id: the Rust venue's unified symbol maps back to it in both
    the adapter and the decoder."""
    import tickwire._core as core

    a = _adapter()
    d = core.Decoder("kucoin")
    for line in SESSION.read_bytes().splitlines():
        d.feed(line, 0)
    recorded = {p["topic"].partition(":")[2].rsplit("_1min", 1)[0] for p in _pushes()}
    assert sorted(a.market_id(s) for s in d.symbols()) == sorted(recorded)
    for symbol in d.symbols():
        assert core.Decoder("kucoin").register(symbol) == a.market_id(symbol)


# --- the simulator speaks KuCoin -----------------------------------------------------------------
@pytest.mark.e2e
def test_simulator_bullet_welcome_acks_errors_pong_and_snapshots() -> None:
    """POST bullet-public names the simulator's endpoint, a token and the ping interval (a GET
    is refused); a token connection is greeted with its connectId; subscribe is acked with the
    id as a string; an unknown symbol gets KuCoin's 404 error; a ping its pong; a bad token is
    refused. The REST snapshot is the recorded one while current (truncated to 100 levels);
    the full v3 book needs a key; the symbols list names the recorded markets."""
    snaps = _snapshots()
    mid = sorted(snaps)[0]

    async def main() -> None:
        async with (
            Simulator(MARKET, speed="max", autostart=False) as sim,
            aiohttp.ClientSession() as http,
        ):
            bullet = sim.rest_url + "/api/v1/bullet-public"
            async with http.get(bullet) as r:
                assert r.status == 405
            async with http.post(bullet) as r:
                body = await r.json()
            assert body["code"] == "200000"
            (server,) = body["data"]["instanceServers"]
            assert server["endpoint"] == sim.ws_url + "/endpoint"
            assert server["pingInterval"] == 18_000
            url = f"{server['endpoint']}?token={body['data']['token']}&connectId=c0ffee"
            ws = await http.ws_connect(url)
            assert await _recv_json(ws) == {"id": "c0ffee", "type": "welcome"}
            topic = f"/market/level2:{mid}"
            await ws.send_str(
                json.dumps({"id": 5, "type": "subscribe", "topic": topic, "response": True})
            )
            assert await _recv_json(ws) == {"id": "5", "type": "ack"}
            bad = "/market/level2:NOPE-USDT"
            await ws.send_str(
                json.dumps({"id": 6, "type": "subscribe", "topic": bad, "response": True})
            )
            err = await _recv_json(ws)
            assert (err["id"], err["type"], err["code"]) == ("6", "error", 404) and bad in err[
                "data"
            ]
            await ws.send_str('{"id":"7","type":"ping"}')
            assert await _recv_json(ws) == {"id": "7", "type": "pong"}
            refused = await http.ws_connect(sim.ws_url + "/endpoint?token=forged&connectId=x")
            msg = await refused.receive(timeout=5)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 4001)

            # Held where the recorded snapshot arrived (no later level2 message replayed yet):
            # the recorded snapshot is served, truncated to level2_100's 100 levels.
            after = sim.recording.snapshots[mid].after_line
            level2 = [p["data"] for p in _pushes()[:after] if p["topic"] == topic]
            assert all(d["sequenceEnd"] <= int(snaps[mid]["sequence"]) for d in level2)
            sim.hold_at(after)
            sim.start_replay()
            await sim.wait_position(after, 10)
            async with http.get(sim.depth_url, params={"symbol": mid}) as r:
                got = (await r.json())["data"]
            assert got["sequence"] == snaps[mid]["sequence"]
            assert got["bids"] == snaps[mid]["bids"][:100]
            assert got["asks"] == snaps[mid]["asks"][:100]
            await ws.close()
            async with http.get(sim.depth_url, params={"symbol": "NOPE-USDT"}) as r:
                assert (r.status, (await r.json())["code"]) == (400, "400100")
            async with http.get(
                sim.rest_url + "/api/v3/market/orderbook/level2", params={"symbol": mid}
            ) as r:
                assert r.status == 401
            async with http.get(sim.exchange_info_url) as r:
                listed = (await r.json())["data"]
            assert sorted(e["symbol"] for e in listed) == sorted(snaps)

    asyncio.run(main())


@pytest.mark.e2e
def test_simulator_derives_the_snapshot_at_the_replay_position() -> None:
    """Once level2 messages past the recorded snapshot were replayed, the REST snapshot is the
    model at that position: its sequence is the last applied ``sequenceEnd`` and its top 100
    levels per side are the model's."""
    mid = "BCHSV-USDT"
    pushes = _pushes()
    hold = len(pushes) // 2

    async def main() -> None:
        async with (
            Simulator(MARKET, speed="max", autostart=False, snapshot_mode="derived") as sim,
            aiohttp.ClientSession() as http,
        ):
            sim.hold_at(hold)
            # the replay advances while some connection is subscribed (simulator-only URL)
            driver = await http.ws_connect(sim.stream_url(f"/market/ticker:{mid}"))
            drain = asyncio.create_task(driver.receive(timeout=30))
            sim.start_replay()
            await sim.wait_position(hold, 10)
            async with http.get(sim.depth_url, params={"symbol": mid}) as r:
                got = (await r.json())["data"]
            drain.cancel()
            await driver.close()
        model = Model(_snapshots()[mid])
        for p in pushes[:hold]:
            if p["topic"] == f"/market/level2:{mid}":
                model.apply(p["data"])
        assert int(got["sequence"]) == model.seq and model.applied > 0
        for side in ("bids", "asks"):
            assert [(float(p), float(q)) for p, q in got[side]] == model.levels(side)[:100]

    asyncio.run(main())


# --- tw.Feed against the simulator -------------------------------------------------------------
async def _run_feed(
    symbols: list[str],
    channels: tuple[str, ...] = ("book", "trades"),
    faults: tuple[Any, ...] = (),
    hold: int | None = 400,
    **sim_kwargs: Any,
) -> tuple[list[Any], dict[str, Any], dict[str, Any], Any]:
    """The packaged recording through ``tw.Feed("kucoin", symbols, channels)`` on the
    simulator, the replay held at ``hold`` until the feed started (snapshots loaded), faults
    attached once subscribed; returns the events, the final books (bids, asks, synced), the
    feed's stats and the simulator's venue."""
    from tickwire.feed import Feed

    async with Simulator(MARKET, speed="max", autostart=False, **sim_kwargs) as sim:
        events: list[Any] = []
        feed = Feed(
            "kucoin", symbols, list(channels), base_url=sim.rest_url, on_event=events.append
        )
        if hold is not None:
            sim.hold_at(hold)
        starting = asyncio.ensure_future(feed.start())
        await sim.wait_subscribed(1, timeout=10)
        topics = len(channels) * len(symbols)
        subscribed = lambda: sum(len(c.subscriptions) for c in sim.connections)  # noqa: E731
        while not starting.done() and subscribed() < topics:  # noqa: ASYNC110 - no event says so
            await asyncio.sleep(0.005)
        for f in faults:
            sim.inject(f)
        sim.start_replay()
        await asyncio.wait_for(starting, 30)
        if hold is not None:
            sim.resume()
        await sim.wait_finished(timeout=60)
        await asyncio.sleep(0.5)
        books = {}
        for s in symbols:
            b = feed.book(s)
            books[s] = (b.bids(100_000).tolist(), b.asks(100_000).tolist(), b.synced)
        stats = feed.stats()
        await feed.close()
        return events, books, stats, sim.venue


def _assert_books_agree_with_the_model(books: dict[str, Any]) -> None:
    """KuCoin's public snapshot holds the top 100 levels: every level a feed's book holds is the
    model's level at that price (size too), and its top 20 per side are the model's top 20."""
    models = _models()
    for symbol, (bids, asks, synced) in books.items():
        model = models[symbol.replace("/", "-")]
        assert synced, symbol
        for side, got in (("bids", bids), ("asks", asks)):
            want = dict(model.levels(side))
            assert all(want.get(p) == q for p, q in got), (symbol, side)
            assert [tuple(r) for r in got[:20]] == model.levels(side)[:20], (symbol, side)


@pytest.mark.e2e
def test_feed_books_and_trades_equal_the_recording() -> None:
    """``tw.Feed("kucoin", ...)`` over the simulator, through the bullet step: every book agrees
    with the model, deltas applied after the snapshots, trades arrive with their hex ids in
    order, one bullet request per connect, no gap."""
    symbols = [_unified(m) for m in sorted(_snapshots())]
    events, books, stats, venue = asyncio.run(_run_feed(symbols))
    _assert_books_agree_with_the_model(books)
    assert stats["decoder_deltas_applied"] > 0 and stats["gaps"] == 0
    assert venue.bullet_requests == stats["connects"] == 1
    names = [type(e).__name__ for e in events]
    assert "GapDetected" not in names
    trades = [e for e in events if type(e).__name__ == "Trade"]
    recorded = [p["data"] for p in _pushes() if p["topic"].startswith("/market/match:")]
    assert [t.trade_id for t in trades] == [t["tradeId"] for t in recorded]
    assert [t.symbol for t in trades] == [_unified(t["symbol"]) for t in recorded]


@pytest.mark.e2e
def test_feed_recovers_from_a_dropped_delta_with_a_rest_snapshot() -> None:
    """One BCHSV-USDT level2 message withheld: ``GapDetected(reason="gap")`` with KuCoin's
    sequences, a new REST snapshot, ``Resynced``; the book ends in agreement with the model."""
    from tickwire.simulator.faults import Drop

    pushes = _pushes()
    bchsv = [n for n, p in enumerate(pushes) if p["topic"] == "/market/level2:BCHSV-USDT"]
    line = bchsv[len(bchsv) // 2]
    seq = pushes[line]["data"]["sequenceStart"]
    assert line > 400
    events, books, stats, _ = asyncio.run(
        _run_feed(["BCHSV/USDT", "ANKR/BTC"], faults=(Drop(line=line),))
    )
    gaps = [e for e in events if type(e).__name__ == "GapDetected"]
    assert [(g.symbol, g.reason, g.expected, g.received) for g in gaps] == [
        ("BCHSV/USDT", "gap", seq, seq + 1)
    ]
    resynced = [e for e in events if type(e).__name__ == "Resynced"]
    assert [(r.symbol, r.reason) for r in resynced] == [("BCHSV/USDT", "gap")]
    assert stats["decoder_snapshots"] == 3 and stats["decoder_bad_frames"] == 0
    _assert_books_agree_with_the_model(books)


@pytest.mark.e2e
def test_feed_reconnects_through_a_new_bullet_and_resyncs() -> None:
    """The server closes the connection mid-replay: the feed asks bullet-public again (a new
    token) and reconnects, resubscribes, loads new snapshots; books agree with the model."""
    from tickwire.simulator.faults import CloseAfter

    _, books, stats, venue = asyncio.run(_run_feed(["BCHSV/USDT"], faults=(CloseAfter(600),)))
    assert stats["reconnects"] == 1 and venue.bullet_requests == stats["connects"] == 2
    assert len(venue.tokens) == 2
    _assert_books_agree_with_the_model(books)


@pytest.mark.e2e
def test_feed_pings_at_the_bullet_interval() -> None:
    """The bullet answer's ``pingInterval`` (shortened to 50 ms here) sets the keepalive: the
    feed sends ``{"type":"ping"}`` at that pace, the simulator counts each as a keepalive and
    answers a pong."""
    from tickwire.feed import Feed

    async def main() -> None:
        sim = Simulator(MARKET, speed=1.0, autostart=False, ping_interval_ms=50)
        async with sim, Feed("kucoin", ["BCHSV/USDT"], ["trades"], base_url=sim.rest_url) as feed:
            (conn,) = await sim.wait_subscribed(1)
            await asyncio.sleep(0.6)
            assert conn.keepalives >= 4
            assert feed.stats()["keepalives"] >= 4

    asyncio.run(main())


@pytest.mark.e2e
def test_feed_subscription_error_and_value_errors_before_connecting() -> None:
    """A symbol the symbols list lacks is a ValueError naming it before any connection (no
    bullet asked); unchecked, KuCoin refuses it: ``SubscriptionError`` with code 404 and its
    message. A derivative symbol or an unknown channel: ValueError."""
    from tickwire import SubscriptionError
    from tickwire.exchanges import clear_instruments_cache
    from tickwire.feed import Feed

    async def main() -> None:
        async with Simulator(MARKET, speed="max") as sim:
            feed = Feed("kucoin", ["XRP/USDT"], ["book"], base_url=sim.rest_url)
            with pytest.raises(ValueError, match=r"XRP/USDT"):
                await feed.start()
            await feed.close()
            assert sim.total_connections == 0 and sim.venue.bullet_requests == 0
        clear_instruments_cache()
        async with Simulator(MARKET, speed="max") as sim:
            feed = Feed(
                "kucoin", ["XRP/USDT"], ["book"], base_url=sim.rest_url, validate_symbols=False
            )
            with pytest.raises(SubscriptionError) as err:
                await feed.start()
            await feed.close()
            assert err.value.code == 404
            assert "topic /market/level2:XRP-USDT is not found" in str(err.value)

    asyncio.run(main())
    with pytest.raises(ValueError, match="'orders'"):
        Feed("kucoin", ["BTC/USDT"], ["orders"])
    with pytest.raises(ValueError, match=re.escape("'BTC/USDT:USDT'")):
        Feed("kucoin", ["BTC/USDT:USDT"], ["book"])


@pytest.mark.e2e
def test_fetch_instruments_through_the_adapter() -> None:
    """``fetch_instruments`` reads ``/api/v2/symbols`` (the simulator's, derived from the
    recording's decimals): ids, unified symbols, ticks at the recording's price decimals."""
    from tickwire.exchanges.kucoin import Kucoin

    snaps = _snapshots()

    async def main() -> list[dict[str, Any]]:
        async with Simulator(MARKET, speed="max") as sim, aiohttp.ClientSession() as http:
            return await Kucoin(base_url=sim.rest_url).fetch_instruments(http, "spot")

    got = {i["market_id"]: i for i in asyncio.run(main())}
    assert sorted(got) == sorted(snaps)
    for mid, inst in got.items():
        assert inst["symbol"] == _unified(mid) and inst["active"] is True
        decimals = max(len(p.partition(".")[2]) for p, _ in snaps[mid]["bids"] + snaps[mid]["asks"])
        assert Decimal(inst["tick_size"]) == Decimal(1).scaleb(-decimals)


# --- the CLI -----------------------------------------------------------------------------------
@pytest.mark.parametrize("market", [None, "spot"])
def test_replay_cli_with_every_snapshot(market: str | None) -> None:
    """``tickwire replay REC -x kucoin [--market spot] -s S=F ...``: every frame decoded, 0 bad
    lines, 0 gaps, no checksum (KuCoin sends none); per book: synced from its one snapshot with
    as many deltas applied as the model applies."""
    args = ["--market", market] if market else []
    for mid, path in zip(sorted(_snapshots()), SNAPSHOTS, strict=True):
        args += ["-s", f"{_unified(mid)}={path}"]
    stats = replay_stats(SESSION, "kucoin", *args)
    assert (stats["frames"], stats["gaps"], stats["bad_lines"]) == (len(_lines()), 0, [])
    assert (stats["checksums_verified"], stats["checksum_mismatches"]) == (0, 0)
    for mid, model in _models().items():
        book = stats["books"][_unified(mid)]
        assert (book["synced"], book["snapshots"], book["gaps"]) == (True, 1, 0)
        assert book["deltas_applied"] == model.applied
