"""Bad input never corrupts a book: every malformed frame raises FrameError (naming the field
where there is one), is counted, and leaves every book exactly as it was."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tickwire as tw
from conftest import ETHUSDT, data_of


def _synced(rec, n_lines=400):
    dec = tw.Decoder(rec.exchange)
    lines = rec.lines()
    sym = {"binance": "ETH/USDT", "binanceusdm": "ETH/USDT:USDT"}[rec.exchange]
    dec.apply_snapshot(sym, rec.snapshots[0].read_bytes())
    for line in lines[:n_lines]:
        dec.feed(line)
    return dec, sym, lines


def _state(dec, sym):
    b = dec.book(sym)
    return b.sequence, b.bids(5000).tobytes(), b.asks(5000).tobytes(), b.synced


def _next_depth(lines, start):
    return next(line for line in lines[start:] if data_of(line).get("e") == "depthUpdate")


def _mutations(line: bytes) -> dict[str, bytes]:
    """Malformed variants of a real depth frame."""
    msg = json.loads(line)
    d = msg["data"]

    def with_data(**changes):
        return json.dumps({**msg, "data": {**d, **changes}}).encode()

    price, size = d["b"][0]
    return {
        "empty": b"",
        "not json": b"hello",
        "truncated": line[: len(line) // 2],
        "truncated by one byte": line[:-1],
        "invalid utf-8 in a price": line.replace(
            price.encode(), b"\xff\xfe" + price.encode()[2:], 1
        ),
        "price as a number": with_data(b=[[float(price), size], *d["b"][1:]]),
        "update id as a string": with_data(u=str(d["u"])),
        "update id out of u64 range": with_data(u=10**30),
        "negative update id": with_data(U=-1),
        "huge price": with_data(b=[["9" * 40, size]]),
        "more digits than an i64 holds": with_data(a=[["1.0000000000000000001", "1"]]),
        "exponent in a price": with_data(a=[["1e5", "1"]]),
        "level with one element": with_data(a=[[price]]),
        "levels not a list": with_data(b="x"),
        "missing symbol": json.dumps(
            {**msg, "data": {k: v for k, v in d.items() if k != "s"}}
        ).encode(),
        "array instead of object": b"[1,2,3]",
        "trailing garbage": line + b"}",
    }


@pytest.mark.parametrize("rec", ETHUSDT, ids=lambda r: r.id)
def test_malformed_depth_frames_raise_and_leave_the_book_untouched(rec):
    dec, sym, lines = _synced(rec)
    real = _next_depth(lines, 400)
    before = _state(dec, sym)
    for name, payload in _mutations(real).items():
        bad_before = dec.stats()["bad_frames"]
        with pytest.raises(tw.FrameError) as info:
            dec.feed(payload)
        assert isinstance(info.value, tw.TickwireError) and info.value.field, name
        assert dec.stats()["bad_frames"] == bad_before + 1, name
        assert _state(dec, sym) == before, f"{name} changed the book"
    # and the real frame still applies afterwards: nothing was half-applied
    assert dec.feed(real)[0].sequence == data_of(real)["u"]


def test_frame_error_names_the_field():
    dec = tw.Decoder("binance")
    frame = b'{"stream":"ethusdt@trade","data":{"e":"trade","E":1,"s":"ETHUSDT","t":1,"p":"1.5.5","q":"1","T":1,"m":true}}'
    with pytest.raises(tw.FrameError) as info:
        dec.feed(frame)
    assert info.value.field == "p" and "1.5.5" in str(info.value)


@pytest.mark.parametrize("rec", ETHUSDT, ids=lambda r: r.id)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_truncation_or_byte_flip_of_a_real_frame_is_rejected_or_harmless(rec, data):
    """Truncating a real frame anywhere always raises; corrupting one byte either raises (book
    untouched) or yields a frame that is still valid JSON of the right shape."""
    dec, sym, lines = _synced(rec, 200)
    real = _next_depth(lines, 200)
    before = _state(dec, sym)
    cut = data.draw(st.integers(0, len(real) - 1))
    with pytest.raises(tw.FrameError):
        dec.feed(real[:cut])
    assert _state(dec, sym) == before
    pos = data.draw(st.integers(0, len(real) - 1))
    byte = data.draw(st.integers(0, 255))
    corrupted = real[:pos] + bytes([byte]) + real[pos + 1 :]
    try:
        dec.feed(corrupted)
    except (tw.FrameError, tw.SequenceGap):
        pass
    else:
        json.loads(corrupted)  # accepted frames must at least be valid JSON


def test_non_contiguous_buffers_and_wrong_types_are_clear_errors():
    dec = tw.Decoder("binance")
    with pytest.raises(TypeError):
        dec.feed("a str is not bytes")  # type: ignore[arg-type]  # the wrong type is the point
    with pytest.raises(BufferError):
        dec.feed(memoryview(b"abcdef")[::2])


# --- Levels, trades and tickers that cannot be real (issue 8) -------------------------------


@pytest.mark.parametrize("rec", ETHUSDT, ids=lambda r: r.id)
@pytest.mark.parametrize(
    ("side", "price", "size", "field"),
    [
        ("b", None, "-3", "b[0][1]"),
        ("a", None, "-0.00000001", "a[0][1]"),
        ("b", "-100.5", None, "b[0][0]"),
        ("a", "0", None, "a[0][0]"),
        ("b", "0.00000000", "1", "b[0][0]"),
    ],
)
def test_a_level_with_a_negative_size_or_a_price_not_above_zero_is_rejected(
    rec, side, price, size, field
):
    """A depth delta with such a level is a FrameError naming the level, and no level of it is
    applied (the good levels before the bad one included)."""
    dec, sym, lines = _synced(rec)
    real = _next_depth(lines, 400)
    d = data_of(real)
    real_price, real_size = d[side][0]
    # Put the bad level last so that a partial apply would have changed the book before it.
    msg = json.loads(real)
    levels = [*d[side], [price or real_price, size or real_size]]
    bad = json.dumps({**msg, "data": {**d, side: levels}}).encode()
    field = f"{side}[{len(levels) - 1}]{field[4:]}"
    before = _state(dec, sym)
    with pytest.raises(tw.FrameError) as info:
        dec.feed(bad)
    assert info.value.field == field, info.value
    assert _state(dec, sym) == before
    assert dec.feed(real)[0].sequence == d["u"]  # nothing half-applied


@pytest.mark.parametrize("rec", ETHUSDT, ids=lambda r: r.id)
def test_a_zero_size_still_deletes_a_level(rec):
    dec, sym, lines = _synced(rec)
    real = _next_depth(lines, 400)
    top_price = dec.book(sym).bids(1)[0][0]
    price_text = next(
        p for p, _ in json.loads(rec.snapshots[0].read_bytes())["bids"] if float(p) == top_price
    )
    msg = json.loads(real)
    d = msg["data"]
    deleting = json.dumps({**msg, "data": {**d, "b": [[price_text, "0.00000000"]], "a": []}})
    dec.feed(deleting.encode())
    assert dec.book(sym).bids(1)[0][0] < top_price


@pytest.mark.parametrize(
    ("exchange", "symbol"), [("binance", "ETH/USDT"), ("binanceusdm", "ETH/USDT:USDT")]
)
@pytest.mark.parametrize(
    ("level", "field"),
    [(["-1", "2"], "bids[1][0]"), (["0", "2"], "bids[1][0]"), (["1", "-2"], "bids[1][1]")],
)
def test_a_snapshot_with_an_impossible_level_is_rejected_whole(exchange, symbol, level, field):
    dec = tw.Decoder(exchange)
    good = {"lastUpdateId": 10, "bids": [["100", "1"]], "asks": [["101", "1"]]}
    dec.apply_snapshot(symbol, json.dumps(good).encode())
    before = _state(dec, symbol)
    bad = {"lastUpdateId": 20, "bids": [["99", "1"], level], "asks": [["102", "1"]]}
    with pytest.raises(tw.FrameError) as info:
        dec.apply_snapshot(symbol, json.dumps(bad).encode())
    assert info.value.field == field, info.value
    assert _state(dec, symbol) == before


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        (b'{"u":7,"s":"ETHUSDT","b":"-1","B":"2","a":"3","A":"4"}', "b"),
        (b'{"u":7,"s":"ETHUSDT","b":"1","B":"-2","a":"3","A":"4"}', "B"),
        (b'{"u":7,"s":"ETHUSDT","b":"1","B":"2","a":"-3","A":"4"}', "a"),
        (b'{"u":7,"s":"ETHUSDT","b":"1","B":"2","a":"3","A":"-4"}', "A"),
        (
            b'{"e":"trade","E":5,"s":"ETHUSDT","t":9,"p":"-1.5","q":"2","T":4,"m":true,"M":true}',
            "p",
        ),
        (
            b'{"e":"trade","E":5,"s":"ETHUSDT","t":9,"p":"1.5","q":"-2","T":4,"m":true,"M":true}',
            "q",
        ),
    ],
)
def test_negative_ticker_and_trade_values_are_rejected(frame, field):
    dec = tw.Decoder("binance")
    with pytest.raises(tw.FrameError) as info:
        dec.feed(frame)
    assert info.value.field == field, info.value
    assert dec.stats()["bad_frames"] == 1 and dec.stats()["events"] == 0


@pytest.mark.parametrize(("key", "value"), [("price", "-1"), ("qty", "-1"), ("time", -1)])
def test_rest_trades_with_negative_values_are_rejected(key, value):
    dec = tw.Decoder("binance")
    trade = {"id": 2, "price": "1", "qty": "1", "time": 1, "isBuyerMaker": True} | {key: value}
    with pytest.raises(tw.FrameError) as info:
        dec.apply_trades("ETH/USDT", json.dumps([trade]).encode(), 0)
    assert key in info.value.field, info.value
    assert dec.last_trade_ids() == {}


def test_a_nesting_error_names_the_byte_where_the_limit_was_passed():
    """100,000 nested arrays: the error says where the nesting limit (64 levels, the envelope's
    own object counting as one) was passed, not byte 0, whether the frame is raw or inside a
    combined-stream envelope."""
    deep = b"[" * 100_000 + b"]" * 100_000
    head = b'{"stream":"ethusdt@depth@100ms","data":'
    for frame, opened_at in ((deep, 0), (head + deep + b"}", len(head))):
        with pytest.raises(tw.FrameError) as info:
            tw.Decoder("binance").feed(frame)
        match = re.search(r"at byte (\d+)", str(info.value))
        assert match and "nest" in str(info.value), info.value
        assert opened_at + 60 <= int(match.group(1)) <= opened_at + 66, info.value
