"""Every decoded field equals what the exchange sent: each Trade, BBO, Candle and BookUpdate of
the real recordings is checked against the stdlib's own reading of the same frame."""

from __future__ import annotations

import inspect
import json
import time
from decimal import Decimal

import pytest

import tickwire as tw
from conftest import data_of
from tickwire.replay import read_timestamps, timestamps_path

MS = 1_000_000


def test_every_event_field_equals_the_frame(recording):
    lines = recording.lines()
    stamps = read_timestamps(timestamps_path(recording.path))
    rep = tw.Replay(recording.path, recording.exchange, recording.snapshots)
    by_kind: dict[str, int] = {}
    # Replay yields events in frame order; map each market event back to its frame.
    dec = tw.Decoder(recording.exchange)
    line_of_event = [(n, ev) for n, line in enumerate(lines) for ev in dec.feed(line, stamps[n])]
    assert dec.stats()["bad_frames"] == 0
    for n, ev in line_of_event:
        msg = json.loads(lines[n], parse_float=Decimal)
        d = msg.get("data", msg)
        assert ev.receive_ts == stamps[n]
        assert ev.exchange == recording.exchange
        assert tw.market_id(recording.exchange, ev.symbol) == d["s"]
        kind = type(ev).__name__
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if isinstance(ev, tw.Trade):
            assert ev.decimal("price") == Decimal(d["p"]) and ev.decimal("size") == Decimal(d["q"])
            assert ev.price == float(d["p"]) and ev.size == float(d["q"])
            assert ev.side == ("sell" if d["m"] else "buy")
            assert ev.trade_id == d.get("t", d.get("a"))
            assert (ev.trade_ts, ev.exchange_ts) == (d["T"] * MS, d["E"] * MS)
        elif isinstance(ev, tw.BBO):
            assert ev.sequence == d["u"]
            for attr, key in (
                ("bid_price", "b"),
                ("bid_size", "B"),
                ("ask_price", "a"),
                ("ask_size", "A"),
            ):
                assert ev.decimal(attr) == Decimal(d[key]) and getattr(ev, attr) == float(d[key])
            assert ev.exchange_ts == (d["E"] * MS if "E" in d else None)
        elif isinstance(ev, tw.Candle):
            k = d["k"]
            assert (ev.interval, ev.start_ts, ev.end_ts, ev.trades, ev.closed) == (
                k["i"],
                k["t"] * MS,
                k["T"] * MS,
                k["n"],
                k["x"],
            )
            for attr, key in (
                ("open", "o"),
                ("high", "h"),
                ("low", "l"),
                ("close", "c"),
                ("volume", "v"),
            ):
                assert ev.decimal(attr) == Decimal(k[key])
        else:
            pytest.fail(f"unexpected {ev!r} without a snapshot")
    kinds_in_recording = {
        "trade": "Trade",
        "aggTrade": "Trade",
        "bookTicker": "BBO",
        "kline": "Candle",
    }
    sent = {
        kinds_in_recording[s.split("@")[1].split("_")[0]]
        for s in (json.loads(line)["stream"] for line in lines)
        if s.split("@")[1].split("_")[0] in kinds_in_recording
    }
    assert set(by_kind) == sent
    del rep


@pytest.mark.parametrize(
    ("exchange", "raw", "unified"),
    [
        ("binance", "NKNUSDT", "NKN/USDT"),
        ("binance", "BLZETH", "BLZ/ETH"),
        ("binance", "LRCBTC", "LRC/BTC"),
        ("binance", "RUNEEUR", "RUNE/EUR"),
        ("binance", "ETHUSDT", "ETH/USDT"),
        ("binance", "ETHFDUSD", "ETH/FDUSD"),
        ("binanceusdm", "SUSHIUSDT", "SUSHI/USDT:USDT"),
        ("binanceusdm", "ETHUSDT", "ETH/USDT:USDT"),
        ("binanceusdm", "BTCUSDT_250627", "BTC/USDT:USDT-250627"),
    ],
)
def test_symbols_are_ccxt_unified(exchange, raw, unified):
    assert tw.market_id(exchange, unified) == raw
    dec = tw.Decoder(exchange)
    frame = {"e": "trade", "E": 1, "s": raw, "t": 1, "p": "1", "q": "1", "T": 1, "m": False}
    # each market's own trade field: spot's `M` (documented "ignore"), USD-M's order type `X`
    frame |= {"M": True} if exchange == "binance" else {"X": "MARKET"}
    assert dec.feed(json.dumps(frame).encode())[0].symbol == unified


@pytest.mark.parametrize(
    ("exchange", "symbol"),
    [
        ("binance", "ETH/USDT:USDT"),
        ("binanceusdm", "ETH/USDT"),
        ("binance", "ETHUSDT"),
        ("binance", "eth/usdt"),
        ("binanceusdm", "ETH/USDT:BTC"),
        ("binance", ""),
    ],
)
def test_wrong_symbols_are_clear_errors(exchange, symbol):
    with pytest.raises(
        ValueError, match=repr(symbol).replace("/", ".").replace("(", ".")[1:-1] or "symbol"
    ):
        tw.market_id(exchange, symbol)
    with pytest.raises(ValueError, match="invalid symbol"):
        tw.Decoder(exchange).apply_snapshot(symbol, b'{"lastUpdateId":1,"bids":[],"asks":[]}')


def test_unknown_exchange_is_named():
    with pytest.raises(ValueError, match=r"nope.*binance"):
        tw.Decoder("nope")
    # every exchange with a Python adapter has a Rust decoder
    from tickwire import _core

    assert set(tw.exchanges.exchange_ids()) <= set(_core.exchanges())
    assert {"binance", "binanceusdm"} <= set(_core.exchanges())


def test_book_of_an_unseen_symbol_is_a_key_error():
    with pytest.raises(KeyError, match="BTC/USDT"):
        tw.Decoder("binance").book("BTC/USDT")


@pytest.mark.parametrize(
    ("frame", "kind", "request_id", "code", "message"),
    [
        (b'{"result":null,"id":1}', "ack", 1, None, None),
        (
            b'{"result":["ethusdt@trade","ethusdt@depth"],"id":"list-1"}',
            "ack",
            "list-1",
            None,
            '["ethusdt@trade","ethusdt@depth"]',
        ),
        (
            b'{"code":2,"msg":"Invalid request: invalid stream","id":3}',
            "error",
            3,
            2,
            "Invalid request: invalid stream",
        ),
        (b'{"error":{"code":3,"msg":"Invalid JSON"},"id":null}', "error", None, 3, "Invalid JSON"),
    ],
)
def test_control_replies(frame, kind, request_id, code, message):
    """Reply shapes from Binance's WebSocket Streams doc (ack, LIST_SUBSCRIPTIONS: its result is
    the ack's message, as raw JSON) and the error replies, flat as documented and nested as the
    servers send them."""
    dec = tw.Decoder("binance")
    (ev,) = dec.feed(frame)
    assert isinstance(ev, tw.ControlReply)
    assert (ev.kind, ev.ok, ev.request_id, ev.code, ev.message, ev.topic) == (
        kind,
        kind == "ack",
        request_id,
        code,
        message,
        None,
    )


def test_payload_types_and_default_receive_time(ethusdt):
    line = next(x for x in ethusdt.lines() if b"@bookTicker" in x)
    a, b, c = (
        tw.Decoder(ethusdt.exchange).feed(x, 7)[0]
        for x in (line, bytearray(line), memoryview(line))
    )
    assert repr(a) == repr(b) == repr(c) and a.receive_ts == b.receive_ts == c.receive_ts == 7
    before = time.time_ns()
    (ev,) = tw.Decoder(ethusdt.exchange).feed(line)
    assert before <= ev.receive_ts <= time.time_ns()


def test_binary_frames_reach_the_venue_as_binary(ethusdt):
    # Binance's market streams send text only: every recorded frame decodes as text, and fed
    # as a binary WebSocket frame it is a FrameError (counted, nothing applied) that says so:
    # the flag reaches the venue's parser, through feed and dispatch alike.
    lines = ethusdt.lines()[:200]
    dec = tw.Decoder(ethusdt.exchange)
    dec.set_handlers(default=lambda _ev: None)
    for line in lines:
        for call in (dec.feed, dec.dispatch):
            with pytest.raises(tw.FrameError, match="a binary frame"):
                call(line, 1, binary=True)
    assert dec.stats()["bad_frames"] == 2 * len(lines) and dec.stats()["events"] == 0
    text = tw.Decoder(ethusdt.exchange)
    for line in lines:
        text.feed(line, 1, binary=False)
        text.feed(line, 1)
    assert text.stats()["bad_frames"] == 0 and text.stats()["events"] > 0


def test_feed_and_dispatch_take_every_spelling_of_their_arguments(ethusdt):
    # A call with positional payload and receive_ts (None or an int) skips argument parsing;
    # every other spelling goes through the full parser: each gives the same events, and the
    # parser's errors, whichever path it takes.
    lines = ethusdt.lines()[:50]
    spellings = [
        lambda call, line: call(line, 1),
        lambda call, line: call(line, receive_ts=1),
        lambda call, line: call(payload=line, receive_ts=1, binary=False),
        lambda call, line: call(line, 1, binary=False),
        lambda call, line: call(line, True),  # a bool is an int subclass: the slow path
    ]
    seen = []
    for spell in spellings:
        dec, got = tw.Decoder(ethusdt.exchange), []
        dec.set_handlers(default=lambda ev, got=got: got.append((repr(ev), ev.receive_ts)))
        for line in lines:
            got.extend((repr(ev), ev.receive_ts) for ev in spell(dec.feed, line))
            spell(dec.dispatch, line)
        seen.append(got)
    assert seen[0] and all(got == seen[0] for got in seen)
    assert {ts for _, ts in seen[0]} == {1}
    dec = tw.Decoder(ethusdt.exchange)
    dec.set_handlers(default=lambda _ev: None)
    for call in (dec.feed, dec.dispatch):
        assert str(inspect.signature(call)) == "(payload, receive_ts=None, *, binary=False)"
        name = call.__qualname__
        with pytest.raises(TypeError, match=rf"{name}\(\) takes from 1 to 2 positional"):
            call(lines[0], 1, True)
        with pytest.raises(
            TypeError, match=rf"{name}\(\) got an unexpected keyword argument 'bogus'"
        ):
            call(lines[0], bogus=1)
        with pytest.raises(TypeError, match=rf"{name}\(\) missing 1 required positional argument"):
            call()
        with pytest.raises(OverflowError):
            call(lines[0], 2**70)
        with pytest.raises(ValueError, match="receive_ts must be >= 0"):
            call(lines[0], -1)
    assert dec.stats()["frames"] == 0  # each rejected before decoding


def test_raw_frames_with_any_whitespace_or_key_order():
    """Raw-stream frames (`/ws/<stream>`, no envelope) are classified by their content, not by
    byte patterns: whitespace and key order do not matter."""
    dec = tw.Decoder("binance")
    trade = {
        "e": "trade",
        "E": 5,
        "s": "ETHUSDT",
        "t": 9,
        "p": "1.5",
        "q": "2",
        "T": 4,
        "m": True,
        "M": True,
    }
    for text in (
        json.dumps(trade),
        json.dumps(trade, indent=2),
        json.dumps(dict(reversed(trade.items()))),
    ):
        (ev,) = dec.feed(text.encode())
        assert (ev.trade_id, ev.price, ev.side) == (9, 1.5, "sell")
    ticker = {"u": 7, "s": "ETHUSDT", "b": "1", "B": "2", "a": "3", "A": "4"}
    (ev,) = dec.feed(json.dumps(ticker, indent=1).encode())
    assert isinstance(ev, tw.BBO) and ev.sequence == 7
    wrapped = {"data": trade, "stream": "ethusdt@trade"}
    (ev,) = dec.feed(json.dumps(wrapped).encode())
    assert ev.trade_id == 9


def test_unknown_streams_are_counted_not_errors():
    dec = tw.Decoder("binance")
    assert dec.feed(b'{"stream":"ethusdt@markPrice","data":{"e":"markPriceUpdate","E":1}}') == []
    assert dec.feed(b'{"e":"listStatus","E":1}') == []
    assert dec.stats()["ignored_frames"] == 2 and dec.stats()["bad_frames"] == 0


def test_server_shutdown_notice():
    """Binance's maintenance notice (binance.md §2) is an event, not noise: the connection
    layer rotates on it."""
    (ev,) = tw.Decoder("binanceusdm").feed(b'{"e":"serverShutdown","E":1700000000123}', 5)
    assert isinstance(ev, tw.Notice)
    assert (ev.name, ev.exchange_ts, ev.receive_ts) == (
        "serverShutdown",
        1700000000123 * 1_000_000,
        5,
    )


def test_dispatch_delivers_what_feed_returns(ethusdt):
    """dispatch() hands each event to its kind's handler, in frame order, exactly the events
    feed() returns for the same frames."""
    lines = ethusdt.lines()[:3000]
    by_feed = []
    dec = tw.Decoder(ethusdt.exchange)
    dec.apply_snapshot(
        {"binance": "ETH/USDT"}.get(ethusdt.exchange, "ETH/USDT:USDT"),
        ethusdt.snapshots[0].read_bytes(),
        1,
    )
    for n, line in enumerate(lines):
        by_feed += [repr(e) for e in dec.feed(line, n)]
    got, kinds = [], {}
    dec = tw.Decoder(ethusdt.exchange)

    def handler(kind):
        def record(ev):
            got.append(repr(ev))
            kinds[kind] = kinds.get(kind, 0) + 1

        return record

    dec.set_handlers(trade=handler("trade"), bbo=handler("bbo"), book=handler("book"))
    dec.apply_snapshot(
        {"binance": "ETH/USDT"}.get(ethusdt.exchange, "ETH/USDT:USDT"),
        ethusdt.snapshots[0].read_bytes(),
        1,
    )
    delivered = sum(dec.dispatch(line, n) for n, line in enumerate(lines))
    assert got == by_feed and delivered == len(got)
    assert set(kinds) == {"trade", "bbo", "book"}


def test_events_kept_by_the_bot_never_change_and_dropped_ones_are_recycled(ethusdt):
    """The decoder rewrites an event object in place only when nothing else holds it. Every
    tenth event is kept: each kept one must still read exactly as its frame did (repr taken by
    feed() on a second decoder). Recycling itself is invisible by design; its gain is measured
    by the benchmarks."""
    lines = ethusdt.lines()[:3000]
    symbol = "ETH/USDT" if ethusdt.exchange == "binance" else "ETH/USDT:USDT"
    snapshot = ethusdt.snapshots[0].read_bytes()
    reference = tw.Decoder(ethusdt.exchange)
    reference.apply_snapshot(symbol, snapshot, 1)
    expected = [repr(e) for n, line in enumerate(lines) for e in reference.feed(line, n)]
    kept, seen = [], []

    def handler(ev):
        seen.append(repr(ev))
        if len(seen) % 10 == 0:
            kept.append((len(seen) - 1, ev))

    dec = tw.Decoder(ethusdt.exchange)
    dec.set_handlers(trade=handler, bbo=handler, book=handler)
    dec.apply_snapshot(symbol, snapshot, 1)
    for n, line in enumerate(lines):
        dec.dispatch(line, n)
    assert seen == expected
    assert [repr(ev) for _, ev in kept] == [expected[i] for i, _ in kept]
    # Events returned by feed() and held in the list are left alone too.
    held = dec.feed(lines[-2], 0) + dec.feed(lines[-1], 0)
    before = [repr(e) for e in held]
    for line in lines[:100]:
        dec.feed(line, 0)
    assert [repr(e) for e in held] == before


def test_dispatch_wraps_handler_errors_and_keeps_delivering():
    dec = tw.Decoder("binance")
    seen = []

    def bad(ev):
        raise RuntimeError("boom")

    dec.set_handlers(bbo=bad, default=seen.append)
    ticker = b'{"u":7,"s":"ETHUSDT","b":"1","B":"2","a":"3","A":"4"}'
    with pytest.raises(tw.CallbackError) as info:
        dec.dispatch(ticker)
    assert isinstance(info.value.__cause__, RuntimeError) and isinstance(info.value.event, tw.BBO)
    assert dec.dispatch(TRADE) == 1 and isinstance(seen[0], tw.Trade)  # default catches the rest
    with pytest.raises(tw.FrameError):
        dec.dispatch(b"{")  # decode errors are not CallbackErrors


def test_handlers_may_read_books_and_call_the_decoder(ethusdt):
    """Handlers run after the decoder released its state: reading the book of the update being
    delivered (the point of on_book) and re-entering the decoder both work."""
    dec = tw.Decoder(ethusdt.exchange)
    symbol = "ETH/USDT" if ethusdt.exchange == "binance" else "ETH/USDT:USDT"
    tops = []
    dec.set_handlers(
        book=lambda ev: tops.append(
            (ev.sequence, dec.book(ev.symbol).sequence, dec.stats()["frames"])
        )
    )
    dec.apply_snapshot(symbol, ethusdt.snapshots[0].read_bytes())
    for line in ethusdt.lines()[:2000]:
        dec.dispatch(line)
    assert tops and all(seq == book_seq for seq, book_seq, _ in tops)


def test_a_handler_closing_over_its_decoder_is_collected():
    import gc
    import weakref

    def decoder_in_a_cycle():
        dec = tw.Decoder("binance")
        dec.set_handlers(default=lambda _event: dec.stats())  # the closure makes the cycle
        return weakref.ref(dec)

    ref = decoder_in_a_cycle()
    gc.collect()
    assert ref() is None


# --- A handler's KeyboardInterrupt / SystemExit is not a handler bug (issue 8) ---------------

TICKER = b'{"u":7,"s":"ETHUSDT","b":"1","B":"2","a":"3","A":"4"}'
TRADE = b'{"e":"trade","E":5,"s":"ETHUSDT","t":9,"p":"1.5","q":"2","T":4,"m":true,"M":true}'


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_a_base_exception_in_a_handler_propagates_unwrapped(exc):
    """Ctrl-C or sys.exit() inside a handler must stop the program, not become a CallbackError
    the connection layer logs and survives (contract 1 of the brief)."""
    dec = tw.Decoder("binance")

    def stop(ev):
        raise exc("stop")

    dec.set_handlers(trade=stop)
    with pytest.raises(exc):
        dec.dispatch(TRADE)
    # The decoder is left usable: the next frame decodes and reaches its handler.
    seen = []
    dec.set_handlers(default=seen.append)
    assert dec.dispatch(TICKER) == 1 and isinstance(seen[0], tw.BBO)


# --- Each Binance market rejects the other market's frames (issue 8) -------------------------

_MARKET_DATA = ("depthUpdate", "bookTicker", "trade", "aggTrade")


def _kind(line: bytes) -> str:
    msg = json.loads(line)
    data = msg.get("data", msg)
    return data.get("e", "bookTicker" if "u" in data and "B" in data else "other")


@pytest.mark.parametrize(
    ("recording_market", "decoder_market"),
    [("binance", "binanceusdm"), ("binanceusdm", "binance")],
)
def test_a_market_rejects_every_frame_of_the_other_markets_recordings(
    recording_market, decoder_market
):
    """`tickwire replay <USD-M recording> --exchange binance` must not label USD-M frames as
    spot: every depth, book-ticker and trade frame of the other market's real recordings is a
    FrameError (counted, skipped). Klines have the same shape on both markets (binance.md §6),
    so they cannot tell the markets apart; they are not asserted here."""
    from conftest import RECORDINGS

    recordings = [r for r in RECORDINGS if r.exchange == recording_market]
    dec = tw.Decoder(decoder_market)
    kinds_rejected = set()
    for rec in recordings:
        for line in rec.lines():
            kind = _kind(line)
            if kind not in _MARKET_DATA:
                continue
            bad = dec.stats()["bad_frames"]
            with pytest.raises(tw.FrameError):
                dec.feed(line)
            assert dec.stats()["bad_frames"] == bad + 1
            kinds_rejected.add(kind)
    assert kinds_rejected == set(_MARKET_DATA)  # every kind the recordings hold was tried
    assert all(not dec.book(s).synced and len(dec.book(s)) == 0 for s in dec.symbols())


@pytest.mark.parametrize(
    ("exchange", "frame", "field"),
    [
        # spot: USD-M's depth fields, its stream rates, its book-ticker and trade fields
        (
            "binance",
            b'{"e":"depthUpdate","E":1,"T":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}',
            "T",
        ),
        (
            "binance",
            b'{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"pu":0,"b":[],"a":[]}',
            "pu",
        ),
        (
            "binance",
            b'{"stream":"ethusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}}',
            "stream",
        ),
        (
            "binance",
            b'{"stream":"ethusdt@depth@500ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}}',
            "stream",
        ),
        (
            "binance",
            b'{"e":"bookTicker","u":7,"s":"ETHUSDT","b":"1","B":"2","a":"3","A":"4","T":1,"E":1}',
            "T",
        ),
        (
            "binance",
            b'{"e":"trade","E":5,"T":4,"s":"ETHUSDT","t":9,"p":"1.5","q":"2","X":"MARKET","m":true}',
            "X",
        ),
        (
            "binance",
            b'{"e":"aggTrade","E":5,"a":9,"s":"ETHUSDT","p":"1.5","q":"2","f":1,"l":2,"T":4,"m":true}',
            "M",
        ),
        # USD-M: spot's depth without pu, its 1 s stream rate, book ticker, trade fields, 1s klines
        (
            "binanceusdm",
            b'{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}',
            "pu",
        ),
        (
            "binanceusdm",
            b'{"stream":"ethusdt@depth@1000ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"ETHUSDT","U":1,"u":2,"pu":0,"b":[],"a":[]}}',
            "stream",
        ),
        ("binanceusdm", TICKER, "E"),
        ("binanceusdm", TRADE, "M"),
        (
            "binanceusdm",
            b'{"e":"kline","E":1,"s":"ETHUSDT","k":{"t":0,"T":999,"s":"ETHUSDT","i":"1s","f":1,"L":2,"o":"1","c":"1","h":"1","l":"1","v":"1","n":2,"x":true,"q":"1","V":"1","Q":"1","B":"0"}}',
            "k.i",
        ),
    ],
)
def test_fields_and_streams_of_the_other_market_are_named(exchange, frame, field):
    dec = tw.Decoder(exchange)
    with pytest.raises(tw.FrameError) as info:
        dec.feed(frame)
    assert info.value.field == field, info.value
    assert dec.stats()["bad_frames"] == 1


# --- Wrong arguments are clear errors (issue 8) ----------------------------------------------


def test_negative_depth_and_buffer_sizes_are_value_errors():
    dec = tw.Decoder("binance")
    dec.register("ETH/USDT")
    book = dec.book("ETH/USDT")
    for read in (book.bids, book.asks):
        with pytest.raises(ValueError, match=r"n must be >= 0, got -1"):
            read(-1)
    with pytest.raises(ValueError, match=r"max_buffered must be >= 1, got -1"):
        tw.Decoder("binance", max_buffered=-1)
    with pytest.raises(ValueError, match=r"max_buffered must be >= 1, got 0"):
        tw.Decoder("binance", max_buffered=0)


@pytest.mark.parametrize(
    "kind", ["trade", "bbo", "book", "candle", "control", "notice", "sync_lost", "default"]
)
def test_a_handler_that_is_not_callable_is_a_type_error(kind):
    dec = tw.Decoder("binance")
    with pytest.raises(TypeError, match=rf"{kind} must be callable or None, got int 42"):
        dec.set_handlers(**{kind: 42})


def test_a_negative_receive_time_is_a_value_error():
    dec = tw.Decoder("binance")
    snapshot = b'{"lastUpdateId":1,"bids":[],"asks":[]}'
    trades = b'[{"id":2,"price":"1","qty":"1","time":1,"isBuyerMaker":true}]'
    calls = {
        "feed": lambda: dec.feed(TICKER, -1),
        "dispatch": lambda: dec.dispatch(TICKER, -1),
        "apply_snapshot": lambda: dec.apply_snapshot("ETH/USDT", snapshot, -1),
        "apply_trades": lambda: dec.apply_trades("ETH/USDT", trades, 0, -1),
    }
    for name, call in calls.items():
        with pytest.raises(
            ValueError, match=r"receive_ts must be >= 0 \(ns since the Unix epoch\), got -1"
        ):
            call()
        assert dec.stats()["frames"] == 0, name


@pytest.mark.parametrize(
    ("exchange", "frame", "field"),
    [
        ("binance", TRADE.replace(b'"E":5', b'"E":-5'), "E"),
        ("binance", TRADE.replace(b'"T":4', b'"T":-4'), "T"),
        ("binance", b'{"e":"depthUpdate","E":-1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}', "E"),
        (
            "binanceusdm",
            b'{"e":"bookTicker","u":7,"s":"ETHUSDT","b":"1","B":"2","a":"3","A":"4","T":1,"E":-1}',
            "E",
        ),
        ("binance", b'{"e":"serverShutdown","E":-1}', "E"),
        (
            "binance",
            b'{"e":"kline","E":1,"s":"ETHUSDT","k":{"t":-60000,"T":-1,"s":"ETHUSDT","i":"1m","f":1,"L":2,"o":"1","c":"1","h":"1","l":"1","v":"1","n":2,"x":true,"q":"1","V":"1","Q":"1","B":"0"}}',
            "k.t",
        ),
    ],
)
def test_negative_exchange_timestamps_are_frame_errors(exchange, frame, field):
    with pytest.raises(tw.FrameError) as info:
        tw.Decoder(exchange).feed(frame)
    assert info.value.field == field, info.value


def test_venues_markets_and_recovery():
    """Each exchange id with its markets (default first); a decoder says its market and how its
    books recover; a market the exchange does not have is a ValueError naming it."""
    from tickwire import _core

    venues = _core.venues()
    assert venues["binance"] == ["spot"] and venues["binanceusdm"] == ["linear"]
    assert list(venues) == _core.exchanges()
    for exchange, markets in venues.items():
        dec = tw.Decoder(exchange)
        assert (dec.exchange, dec.market) == (exchange, markets[0])
        assert dec.recovery in ("rest", "resubscribe")
        assert tw.Decoder(exchange, markets[0]).market == markets[0]
    assert tw.Decoder("binance").recovery == "rest"
    with pytest.raises(ValueError, match=r'"inverse".*spot'):
        tw.Decoder("binance", "inverse")
    assert _core.market_id("binanceusdm", "ETH/USDT:USDT", "linear") == "ETHUSDT"
    assert _core.unified_symbol("binanceusdm", "ETHUSDT", market="linear") == "ETH/USDT:USDT"
    with pytest.raises(ValueError, match="inverse"):
        _core.market_id("binance", "ETH/USDT", "inverse")


def test_a_gap_is_a_sync_lost_event_for_its_handler(ethusdt):
    """Losing one depth message: ``dispatch`` raises nothing; the ``sync_lost`` handler gets a
    SyncLost naming the gap (the ids from the recording's frames), the book awaits a snapshot,
    and the counters (per decoder and per book) say one gap."""
    from tickwire import _core

    lines = ethusdt.lines()
    depth = [i for i, line in enumerate(lines) if data_of(line).get("e") == "depthUpdate"]
    victim = depth[len(depth) // 2]
    following = data_of(lines[next(i for i in depth if i > victim)])
    symbol = "ETH/USDT" if ethusdt.exchange == "binance" else "ETH/USDT:USDT"
    dec = tw.Decoder(ethusdt.exchange)
    lost: list[_core.SyncLost] = []
    others: list[object] = []
    dec.set_handlers(sync_lost=lost.append, default=others.append)
    dec.apply_snapshot(symbol, ethusdt.snapshots[0].read_bytes())
    for n, line in enumerate(lines):
        if n != victim:
            dec.dispatch(line)
    (gap,) = lost
    assert (gap.exchange, gap.symbol, gap.reason) == (ethusdt.exchange, symbol, "gap")
    key = "U" if ethusdt.exchange == "binance" else "pu"
    assert (gap.expected, gap.received) == (data_of(lines[victim])[key], following[key])
    assert not any(isinstance(e, _core.SyncLost) for e in others)
    assert dec.needs_snapshot(symbol)
    stats, book = dec.stats(), dec.book_stats(symbol)
    assert (stats["gaps"], book["gaps"], book["snapshots"]) == (1, 1, 1)
    assert stats["buffered_deltas"] > 0  # a REST venue keeps the later deltas for the bridge


def test_book_stats_after_a_whole_recording(ethusdt):
    """Per-book counters agree with the decoder's; a Binance book without instruments takes the
    REST snapshot's decimal widths as its scales (spot writes 8 decimals, USD-M fewer), keeps
    them over the whole recording (no rescale) and has no checksum."""
    symbol = "ETH/USDT" if ethusdt.exchange == "binance" else "ETH/USDT:USDT"
    dec = tw.Decoder(ethusdt.exchange)
    rows = json.loads(ethusdt.snapshots[0].read_bytes())
    levels = [*rows["bids"], *rows["asks"]]
    price_scale = max(len(p.partition(".")[2]) for p, _ in levels)
    size_scale = max(len(q.partition(".")[2]) for _, q in levels)
    dec.apply_snapshot(symbol, ethusdt.snapshots[0].read_bytes())
    for line in ethusdt.lines():
        dec.feed(line)
    stats, book = dec.stats(), dec.book_stats(symbol)
    assert book == {
        "checksums_verified": 0,
        "checksum_mismatches": 0,
        "gaps": 0,
        "snapshots": 1,
        "deltas_applied": stats["deltas_applied"],
        "price_scale": price_scale,
        "size_scale": size_scale,
    }
    assert stats["deltas_applied"] > 0 and stats["rescales"] == 0
    assert stats["heartbeats"] == stats["checksums_verified"] == stats["checksum_mismatches"] == 0
    assert stats["stale_snapshots"] == 0  # Binance books start from REST snapshots only
    with pytest.raises(KeyError, match="BTC/USDT"):
        dec.book_stats("BTC/USDT")


def _decimals(text: str) -> int:
    """Decimals a value needs (trailing zeros not counted)."""
    exponent = Decimal(text).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def test_instruments_name_symbols_and_set_book_scales(ethusdt):
    """With instruments, the book starts at the tick's and lot's decimals (0.01 and 0.0001
    here) and grows only as far as the recording's levels need (derived below from every level
    of the snapshot and the depth frames); it ends exactly where an instrument-less decoder's
    does. Unlisted symbols and malformed instruments are ValueErrors."""
    symbol = "ETH/USDT" if ethusdt.exchange == "binance" else "ETH/USDT:USDT"
    inst = {"market_id": "ETHUSDT", "symbol": symbol, "tick_size": "0.01", "lot_size": "0.0001"}
    with_inst, without = tw.Decoder(ethusdt.exchange, None, [inst]), tw.Decoder(ethusdt.exchange)
    for dec in (with_inst, without):
        dec.apply_snapshot(symbol, ethusdt.snapshots[0].read_bytes())
        for line in ethusdt.lines():
            dec.feed(line)
    rows = json.loads(ethusdt.snapshots[0].read_bytes())
    levels = [*rows["bids"], *rows["asks"]]
    for line in ethusdt.lines():
        d = data_of(line)
        if d.get("e") == "depthUpdate":
            levels += [*d["b"], *d["a"]]
    need_price = max(2, *(_decimals(p) for p, _ in levels))
    need_size = max(4, *(_decimals(q) for _, q in levels))
    book = with_inst.book_stats(symbol)
    assert (book["price_scale"], book["size_scale"]) == (need_price, need_size)
    assert (with_inst.stats()["rescales"] > 0) == (need_price > 2 or need_size > 4)
    assert with_inst.book(symbol).exact_top() == without.book(symbol).exact_top()
    assert (with_inst.book(symbol).bids(50) == without.book(symbol).bids(50)).all()
    with pytest.raises(ValueError, match="BTC/USDT"):
        with_inst.register("BTC/USDT")
    with pytest.raises(ValueError, match="tick_size"):
        tw.Decoder("binance", None, [{**inst, "tick_size": "abc"}])
    with pytest.raises(ValueError, match="market_id"):
        tw.Decoder("binance", None, [{"symbol": "ETH/USDT"}])
