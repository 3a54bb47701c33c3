"""``FrameSink``: complete text and binary frames read in place from picows' ``WSFrame`` and decoded in Rust.

Frames are built by picows itself (``_make_test_ws_frame``, the constructor picows' own tests
use) from the real recordings; what the sink delivers must equal what ``Decoder.dispatch``
delivers for the same bytes, a binary frame must reach the venue as one, and every other kind
of frame must reach the Python fallback.
"""

from __future__ import annotations

import time

import picows
import pytest
from picows.picows import _make_test_ws_frame

import tickwire as tw
from conftest import ETHUSDT, data_of
from tickwire import _core
from tickwire._core import FrameSink
from tickwire.replay import event_to_dict

TEXT, BINARY, PING, CLOSE = (
    picows.WSMsgType.TEXT,
    picows.WSMsgType.BINARY,
    picows.WSMsgType.PING,
    picows.WSMsgType.CLOSE,
)


def _comparable(ev) -> dict:
    d = event_to_dict(ev)
    d.pop("receive_ts", None)  # stamped at receipt: differs between two decoders
    return d


class Collector:
    """Handlers for a decoder plus the sink's two callbacks, recording everything."""

    def __init__(self, decoder: tw.Decoder) -> None:
        self.events: list = []
        self.other: list = []
        self.errors: list = []
        decoder.set_handlers(default=self.events.append)

    def on_other(self, transport, frame) -> None:
        self.other.append((transport, frame.msg_type, frame.get_payload_as_bytes()))

    def on_error(self, exc, size, ts) -> None:
        self.errors.append((exc, size, ts))


def test_text_frames_decode_exactly_like_dispatch(ethusdt):
    symbol = "ETH/USDT" if ethusdt.exchange == "binance" else "ETH/USDT:USDT"
    snapshot = ethusdt.snapshots[0].read_bytes()
    via_sink, via_dispatch = tw.Decoder(ethusdt.exchange), tw.Decoder(ethusdt.exchange)
    got, want = Collector(via_sink), Collector(via_dispatch)
    for dec in (via_sink, via_dispatch):
        dec.apply_snapshot(symbol, snapshot)
    sink = FrameSink(via_sink, got.on_other, got.on_error)
    lines = ethusdt.lines()
    for line in lines:
        sink.on_ws_frame(None, _make_test_ws_frame(TEXT, line, True, False))
        via_dispatch.dispatch(line)
    assert not got.other and not got.errors
    assert len(got.events) == len(want.events) > len(lines) // 2
    assert {type(e) for e in got.events} == {tw.Trade, tw.BBO, tw.BookUpdate}
    assert [_comparable(e) for e in got.events] == [_comparable(e) for e in want.events]
    assert via_sink.stats() == via_dispatch.stats()
    a, b = via_sink.book(symbol), via_dispatch.book(symbol)
    assert (
        a.synced
        and (a.bids(10**6) == b.bids(10**6)).all()
        and (a.asks(10**6) == b.asks(10**6)).all()
    )


def _bbo_line() -> bytes:
    return next(line for line in ETHUSDT[0].lines() if b"bookTicker" in line)


def test_receive_ts_is_stamped_at_the_call():
    dec = tw.Decoder("binance")
    c = Collector(dec)
    sink = FrameSink(dec, c.on_other, c.on_error)
    before = time.time_ns()
    sink.on_ws_frame(None, _make_test_ws_frame(TEXT, _bbo_line(), True, False))
    after = time.time_ns()
    assert len(c.events) == 1 and before <= c.events[0].receive_ts <= after


@pytest.mark.parametrize(
    ("kind", "fin"),
    [(PING, True), (CLOSE, True), (BINARY, False), (TEXT, False)],
    ids=["ping", "close", "binary-fragment", "text-fragment"],
)
def test_other_frames_go_to_the_fallback(kind, fin):
    dec = tw.Decoder("binance")
    c = Collector(dec)
    sink = FrameSink(dec, c.on_other, c.on_error)
    payload = b"\x03\xe8bye" if kind == CLOSE else _bbo_line()
    transport = object()
    sink.on_ws_frame(transport, _make_test_ws_frame(kind, payload, fin, False))
    assert c.other == [(transport, kind, payload)]
    assert not c.events and dec.stats()["frames"] == 0


def test_binary_frames_reach_the_venue_as_binary():
    # The same bytes as a text frame decode; as a binary frame Binance's parser (its market
    # streams send text only) rejects them: the sink passed binary=True, like dispatch does.
    line = _bbo_line()
    dec = tw.Decoder("binance")
    c = Collector(dec)
    sink = FrameSink(dec, c.on_other, c.on_error)
    sink.on_ws_frame(None, _make_test_ws_frame(BINARY, line, True, False))
    ((exc, size, _),) = c.errors
    assert isinstance(exc, tw.FrameError) and "binary frame" in str(exc) and size == len(line)
    with pytest.raises(tw.FrameError, match="binary frame"):
        dec.dispatch(line, binary=True)
    assert not c.other and not c.events and dec.stats()["bad_frames"] == 2
    sink.on_ws_frame(None, _make_test_ws_frame(TEXT, line, True, False))
    assert len(c.events) == 1 and dec.dispatch(line, binary=False) == 1


def test_an_object_that_is_not_a_picows_frame_goes_to_the_fallback():
    dec = tw.Decoder("binance")
    seen = []
    sink = FrameSink(dec, lambda _transport, frame: seen.append(frame), lambda *_args: None)
    sink.on_ws_frame(None, "not a frame")
    assert seen == ["not a frame"] and dec.stats()["frames"] == 0


def test_a_malformed_frame_goes_to_on_error_with_its_size():
    dec = tw.Decoder("binance")
    c = Collector(dec)
    sink = FrameSink(dec, c.on_other, c.on_error)
    garbage = b'{"stream":"ethusdt@trade","data":{"e":"trade","p":'
    sink.on_ws_frame(None, _make_test_ws_frame(TEXT, garbage, True, False))
    sink.on_ws_frame(None, _make_test_ws_frame(TEXT, _bbo_line(), True, False))  # still decoding
    ((exc, size, ts),) = c.errors
    assert isinstance(exc, tw.FrameError) and size == len(garbage) and ts > 0
    assert len(c.events) == 1 and dec.stats()["bad_frames"] == 1


def test_a_sequence_gap_is_a_sync_lost_event_not_an_error(ethusdt):
    lines = ethusdt.lines()
    depth = [i for i, line in enumerate(lines) if data_of(line).get("e") == "depthUpdate"]
    victim = depth[len(depth) // 2]
    symbol = "ETH/USDT" if ethusdt.exchange == "binance" else "ETH/USDT:USDT"
    dec = tw.Decoder(ethusdt.exchange)
    c = Collector(dec)
    sink = FrameSink(dec, c.on_other, c.on_error)
    dec.apply_snapshot(symbol, ethusdt.snapshots[0].read_bytes())
    for n, line in enumerate(lines):
        if n != victim:
            sink.on_ws_frame(None, _make_test_ws_frame(TEXT, line, True, False))
    assert c.errors == []
    gaps = [e for e in c.events if isinstance(e, _core.SyncLost)]
    assert len(gaps) == 1 and gaps[0].symbol == symbol and gaps[0].reason == "gap"
    assert gaps[0].expected == _chain_id(ethusdt.exchange, lines[victim])


def _chain_id(exchange: str, line: bytes) -> int:
    d = data_of(line)
    return d["U"] if exchange == "binance" else d["pu"]


def test_a_failing_handler_goes_to_on_error_as_callback_error():
    def boom(ev):
        raise ValueError("user bug")

    dec = tw.Decoder("binance")
    dec.set_handlers(default=boom)
    errors = []
    sink = FrameSink(dec, lambda *_args: None, lambda *args: errors.append(args))
    sink.on_ws_frame(None, _make_test_ws_frame(TEXT, _bbo_line(), True, False))
    ((exc, _, _),) = errors
    assert isinstance(exc, tw.CallbackError) and isinstance(exc.__cause__, ValueError)
    assert isinstance(exc.event, tw.BBO)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_a_base_exception_in_a_handler_is_raised_not_reported(exc):
    """Ctrl-C or sys.exit() in a handler leaves on_ws_frame at once (contract 1): on_error is
    for the feed's own errors, never for a request to stop."""

    def stop(ev):
        raise exc("stop")

    dec = tw.Decoder("binance")
    dec.set_handlers(default=stop)
    errors = []
    sink = FrameSink(dec, lambda *_args: None, lambda *args: errors.append(args))
    with pytest.raises(exc):
        sink.on_ws_frame(None, _make_test_ws_frame(TEXT, _bbo_line(), True, False))
    assert errors == []
