"""The generic adapter/session contract (no network): request batching, sharding, and how a
session settles control requests from the venue's replies (by request id or by topic).

Acks keyed by request id are real ``ControlReply`` events the Binance decoder makes from the
reply shapes of Binance's doc. Topic-keyed acks and errors (OKX, Kraken, Coinbase shapes) have no
venue in this branch yet, so their replies are stand-ins carrying the ``ControlReply`` fields the
session reads (``kind``, ``request_id``, ``topic``, ``code``, ``message``); the venue tests prove
the real frames end to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from types import SimpleNamespace
from typing import Any

import pytest

import tickwire._core as core
from tickwire.connection import ConnectionOptions, SubscriptionError
from tickwire.connection.session import Session
from tickwire.exchanges import Request, Subscription, batches, get_adapter
from tickwire.exchanges.binance import BinanceSpot, BinanceUsdm
from tickwire.metrics import Counters


# --- batching and sharding -----------------------------------------------------------------------
def test_batches_cut_by_count_and_by_bytes():
    items = [f"s{i:03d}" for i in range(10)]  # 4 bytes each
    assert batches(items, 4) == [items[0:4], items[4:8], items[8:10]]
    # 10 bytes of overhead + (4 + 1 separator) per item, at most 30 bytes: 4 items per batch
    cut = batches(items, 100, max_bytes=30, size=lambda s: len(s) + 1, overhead=10)
    assert [len(b) for b in cut] == [4, 4, 2] and list(itertools.chain(*cut)) == items
    assert batches(["x" * 50, "y"], 10, max_bytes=20, size=len) == [["x" * 50], ["y"]]
    with pytest.raises(ValueError, match="max_count"):
        batches(items, 0)


def _subs(adapter: Any, n: int, channel: str = "trades") -> list[Subscription]:
    return [Subscription(f"A{i}/USDT", channel, "stream", f"a{i}usdt@trade") for i in range(n)]


@pytest.mark.parametrize("adapter_cls", [BinanceSpot, BinanceUsdm])
def test_binance_requests_are_batched_with_one_id_each(adapter_cls):
    a = adapter_cls()
    per = a.limits.streams_per_message
    subs = _subs(a, 2 * per + 3)
    ids = iter(range(100, 200))
    reqs = a.subscribe_requests(subs, lambda: next(ids))
    assert [len(r.streams) for r in reqs] == [per, per, 3]
    assert [r.acks for r in reqs] == [frozenset({100}), frozenset({101}), frozenset({102})]
    assert list(itertools.chain(*(r.streams for r in reqs))) == [s.stream for s in subs]
    first = reqs[0].payload
    assert first.startswith(b'{"method":"SUBSCRIBE","params":["a0usdt@trade",')
    assert first.endswith(b'],"id":100}')
    (un,) = a.unsubscribe_requests(subs[:2], lambda: 7)
    assert un == Request(
        b'{"method":"UNSUBSCRIBE","params":["a0usdt@trade","a1usdt@trade"],"id":7}',
        frozenset({7}),
        ("a0usdt@trade", "a1usdt@trade"),
    )
    # the default recovery by resubscribing: unsubscribe, then subscribe the one stream
    resub = a.resubscribe_requests(subs[0], iter(range(1, 9)).__next__)
    assert [r.payload.split(b'"')[3] for r in resub] == [b"UNSUBSCRIBE", b"SUBSCRIBE"]
    assert [r.acks for r in resub] == [frozenset({1}), frozenset({2})]


def test_shards_honour_topics_and_books_per_connection():
    spot = BinanceSpot()
    per = spot.limits.streams_per_connection
    subs = _subs(spot, 2 * per + 1)
    assert [len(s) for s in spot.shards(subs)] == [per, per, 1]
    capped = BinanceSpot()
    capped.limits = dataclasses.replace(
        spot.limits, streams_per_connection=5, books_per_connection=2
    )
    books = [Subscription(f"A{i}/USDT", "book", "stream", f"a{i}usdt@depth") for i in range(5)]
    mixed = [books[0], books[1], books[2], *_subs(capped, 2), books[3], books[4]]
    shards = capped.shards(mixed)
    assert all(sum(s.channel == "book" for s in sh) <= 2 for sh in shards)
    assert all(len(sh) <= 5 for sh in shards) and list(itertools.chain(*shards)) == mixed
    assert capped.room(shards[0][:1], books[2]) and not capped.room(shards[0], books[2])


def test_markets_and_decoder_market_of_binance():
    spot, usdm = BinanceSpot(), BinanceUsdm()
    assert (spot.markets, usdm.markets) == (("spot",), ("linear",))
    assert spot.market_of("ETH/USDT") == "spot" and usdm.market_of("ETH/USDT:USDT") == "linear"
    assert usdm.decoder_market("public") == usdm.decoder_market("market") == "linear"
    with pytest.raises(ValueError, match=r"'ETH/USDT' is a spot symbol"):
        usdm.market_of("ETH/USDT")
    assert spot.keepalive() is None and spot.decoder_id == "binance"


# --- settling requests ---------------------------------------------------------------------------
class _Owner:
    """The parts of a SessionOwner the control path of a Session reads."""

    name = "t"
    route = "stream"

    def __init__(self) -> None:
        self.symbols: list[str] = []
        self.book_symbols: list[str] = []
        self.instruments: list[dict[str, Any]] = []
        self.adapter = get_adapter("binance")
        self.options = ConnectionOptions()
        self.counters = Counters()
        self.subscribed: list[Session] = []
        self._id = 0

    def session_subscribed(self, s: Session) -> None:
        self.subscribed.append(s)

    def next_request_id(self) -> int:
        self._id += 1
        return self._id

    def rewire(self) -> None:
        pass


class _Transport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, _kind: Any, payload: bytes) -> None:
        self.sent.append(payload)


def _session() -> tuple[Session, _Owner, _Transport]:
    owner = _Owner()
    s = Session(owner, 1)  # type: ignore[arg-type]
    s.transport = t = _Transport()
    return s, owner, t


def _reply(kind: str, *, rid: Any = None, topic: str | None = None, code: Any = None) -> Any:
    return SimpleNamespace(
        kind=kind, request_id=rid, topic=topic, code=code, message=f"{kind} {topic}", ok=False
    )


def _binance_replies(*frames: bytes) -> list[Any]:
    dec = core.Decoder("binance")
    return [ev for f in frames for ev in dec.feed(f)]


async def test_acks_by_request_id_settle_binance_requests():
    s, owner, t = _session()
    reqs = owner.adapter.subscribe_requests(_subs(owner.adapter, 3), owner.next_request_id)
    task = asyncio.ensure_future(s.control(reqs, timeout=5, setup=True))
    await asyncio.sleep(0)
    assert t.sent == [r.payload for r in reqs]
    (ack,) = _binance_replies(b'{"result":null,"id":1}')
    s.on_reply(ack)
    await task
    assert owner.subscribed == [s] and not s.pending
    reqs = owner.adapter.subscribe_requests(_subs(owner.adapter, 1), owner.next_request_id)
    task = asyncio.ensure_future(s.control(reqs, timeout=5))
    await asyncio.sleep(0)
    (err,) = _binance_replies(b'{"error":{"code":2,"msg":"Invalid request"},"id":2}')
    s.on_reply(err)
    with pytest.raises(SubscriptionError) as ei:
        await task
    assert ei.value.code == 2 and ei.value.streams == ["a0usdt@trade"]
    assert owner.counters.control_errors == 1


async def test_acks_by_topic_need_every_topic_and_ignore_pongs():
    s, owner, _ = _session()
    req = Request(b"sub", frozenset({"books:BTC-USDT", "trades:BTC-USDT"}), ("books", "trades"))
    task = asyncio.ensure_future(s.control([req], timeout=5, setup=True))
    await asyncio.sleep(0)
    s.on_reply(_reply("ack", topic="books:BTC-USDT"))
    s.on_reply(_reply("pong"))
    s.on_reply(_reply("ack", topic="books:ETH-USDT"))  # someone else's: settles nothing
    await asyncio.sleep(0)
    assert not task.done() and not owner.subscribed
    s.on_reply(_reply("ack", topic="trades:BTC-USDT"))
    await task
    assert owner.subscribed == [s] and not s.pending
    assert owner.counters.control_errors == 0


async def test_errors_match_by_topic_by_text_id_or_fail_the_oldest():
    s, owner, _ = _session()
    a = await s.request(Request(b"a", frozenset({"x", "y"}), ("x", "y")))
    b = await s.request(Request(b"b", frozenset({5}), ("z",)))
    c = await s.request(Request(b"c", frozenset({6}), ("w",)))
    s.on_reply(_reply("error", topic="y", code=60012))
    assert a.fut.result().code == 60012 and not b.fut.done()
    assert "x" not in s.pending  # a failed request forgets its other keys
    s.on_reply(_reply("ack", rid="5"))  # a numeric id echoed as text
    assert b.fut.result() is None
    s.on_reply(_reply("error", code=3))  # neither id nor topic: the oldest in flight
    assert c.fut.result().code == 3
    s.on_reply(_reply("error", rid=99, code=4))  # nobody's: counted, logged
    assert owner.counters.control_errors == 1 and not s.pending


async def test_requests_without_acks_are_done_once_sent_and_announce_once():
    s, owner, t = _session()
    await s.control([Request(b"a", frozenset()), Request(b"b", frozenset())], 1, setup=True)
    assert t.sent == [b"a", b"b"] and not s.pending and owner.subscribed == [s]
