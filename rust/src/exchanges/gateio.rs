//! Gate (Gate.io) API v4 public market data: spot and USDT-settled perpetual futures.
//!
//! Follows Gate's "Spot WebSocket v4" and "Futures WebSocket v4" docs and the REST order book
//! docs, summarised in shared/docs/exchanges/gateio.md:
//!
//! - endpoints `wss://api.gateio.ws/ws/v4/` (market `spot`) and
//!   `wss://fx-ws.gateio.ws/v4/ws/usdt` (market `linear`); every frame is an object
//!   `{"time","time_ms"?,"id"?,"channel","event","error"?,"result"}` whose `channel` is
//!   `spot.<name>` on spot and `futures.<name>` on futures (a frame of the other endpoint is a
//!   `Frame` error naming `channel`);
//! - `order_book_update` (`event` `update`): `{t (ms), s, U, u, b, a, full?, l?, e?, E?}`,
//!   absolute sizes (0 deletes). Spot levels are `["price","amount"]` string pairs; futures
//!   levels are `{"p":"price","s":size}` objects whose size is a number of contracts (a JSON
//!   number; older docs print strings, accepted too). `full: true` replaces the book
//!   (Gate pushes such snapshots at irregular times since 2025). No checksum exists;
//! - `book_ticker`: `{t, u, s, b, B, a, A}` -> BBO at book id `u` (futures sizes are numbers);
//! - `trades`: spot one object `{id, create_time, create_time_ms ("ms.frac" string), side,
//!   currency_pair, amount, price}`; futures an array of `{id, create_time, create_time_ms,
//!   contract, size, price}` where the size's sign is the taker side (negative = sell);
//! - `candlesticks`: spot one object, futures an array, of `{t (s), v, c, h, l, o, n, a?, w?}`
//!   where `n` is `<interval>_<market id>`; the volume is `a` (base amount) when sent, else `v`
//!   (the 2021 spot stream sends `v` only: Gate's quote-currency volume there; futures `v` is
//!   contracts);
//! - `tickers`, `order_book`, `obu`, `contract_stats` and the other documented public channels
//!   are validated and yield nothing; `spot.pong`/`futures.pong` is a pong; subscribe and
//!   unsubscribe replies are acks (`error` null) or errors (`error: {code, message}`), with the
//!   request's `id` when the request had one.
//!
//! Sequence rule ([`Venue::check`], the same after a REST snapshot and later): a message with
//! `u <= id` is already in the book; `U <= id + 1 <= u` applies; `U > id + 1` is a gap, and the
//! book is rebuilt from `GET /api/v4/{spot,futures/usdt}/order_book?...&with_id=true` (its `id`),
//! bridged to the buffered messages by the same rule.
//!
//! Symbols without an instrument list: spot `BTC_USDT` <-> `BTC/USDT`; futures `BTC_USDT` <->
//! `BTC/USDT:USDT`. Instruments passed to the factory take precedence both ways.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::error::{from_json, Error};
use crate::event::{RequestId, Side};
use crate::fixed::{self, Dec};
use crate::json::{nesting_error, required, Cursor};

/// The Gate factory: one exchange id, two endpoints (spot first: the default).
pub struct Factory;

/// The registered Gate factory.
pub static FACTORY: Factory = Factory;

const MARKETS: &[&str] = &["spot", "linear"];

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "gateio"
    }

    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        Ok(Box::new(Gate::new(market, instruments)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Market {
    Spot,
    Futures,
}

impl Market {
    fn prefix(self) -> &'static str {
        match self {
            Market::Spot => "spot.",
            Market::Futures => "futures.",
        }
    }
}

/// Gate on one endpoint.
#[derive(Debug)]
pub struct Gate {
    market: Market,
    to_symbol: HashMap<String, String>,
    to_market_id: HashMap<String, String>,
}

/// What a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Book,
    Ticker,
    Trades,
    Candles,
    Pong,
    /// Documented public channels tickwire does not decode: validated, nothing yielded.
    Ignored,
}

/// The next key, tried first as each literal (see bybit.rs): a few integer compares when the
/// frame is written the way Gate writes it.
macro_rules! next_key {
    ($c:expr, $first:expr, $($key:literal),+) => {{
        let c: &mut Cursor<'_> = $c;
        let first: &mut bool = $first;
        $(if c.at_key($key, first) { Some(&$key[..]) } else)+ { c.next_key(first)? }
    }};
}

impl Gate {
    /// A parser for `market` ("spot" or "linear").
    pub fn new(market: &str, instruments: &[Instrument]) -> Result<Self, Error> {
        let market = match market {
            "spot" => Market::Spot,
            "linear" => Market::Futures,
            _ => {
                return Err(Error::invalid(
                    "market",
                    market,
                    format!("gateio has no such public endpoint; known: {}", MARKETS.join(", ")),
                ))
            }
        };
        let to_symbol = instruments.iter().map(|i| (i.market_id.clone(), i.symbol.clone())).collect();
        let to_market_id = instruments.iter().map(|i| (i.symbol.clone(), i.market_id.clone())).collect();
        Ok(Self { market, to_symbol, to_market_id })
    }

    /// The channel named `name` (`spot.order_book_update`); `Frame` error naming `channel` for
    /// the other endpoint's channels and anything undocumented.
    fn channel(&self, name: &str) -> Result<Channel, Error> {
        let Some(rest) = name.strip_prefix(self.market.prefix()) else {
            let other = if self.market == Market::Spot { "futures." } else { "spot." };
            let why = if name.starts_with(other) {
                format!("{name:?} belongs to the other Gate endpoint, not {}", self.market())
            } else {
                format!("{name:?} is not a Gate v4 {} channel", self.market())
            };
            return Err(Error::frame("channel", why));
        };
        Ok(match rest {
            "order_book_update" => Channel::Book,
            "book_ticker" => Channel::Ticker,
            "trades" => Channel::Trades,
            "candlesticks" => Channel::Candles,
            "pong" => Channel::Pong,
            "tickers" | "order_book" | "obu" | "contract_stats" | "trades_v2" | "public_liquidates" => Channel::Ignored,
            _ => {
                return Err(Error::frame("channel", format!("{name:?} is not a Gate v4 public channel tickwire knows")))
            }
        })
    }

    /// The `result` of an `update` push on `channel`, at the cursor.
    fn result(&self, c: &mut Cursor<'_>, channel: Channel, out: &mut Out) -> Result<(), Error> {
        match channel {
            Channel::Book => self.book(c, out),
            Channel::Ticker => Self::book_ticker(c, out),
            Channel::Trades => match self.market {
                Market::Spot => spot_trade(c, out),
                Market::Futures => futures_trades(c, out),
            },
            Channel::Candles => {
                if self.market == Market::Futures {
                    if !c.begin_array("result")? {
                        return Ok(());
                    }
                    loop {
                        candle(c, out)?;
                        if !c.more_elements("result")? {
                            return Ok(());
                        }
                    }
                }
                candle(c, out)
            }
            Channel::Pong | Channel::Ignored => c.skip_value("result"),
        }
    }

    /// `order_book_update` result: a delta (or, with `full: true`, a snapshot).
    ///
    /// A delta the decoder will drop as stale ([`Out::hint`]: the first update after a
    /// subscribe, which the REST snapshot already holds, is the usual one) has its levels
    /// skipped, not parsed: the item keeps its ids, without levels. Should a key after the
    /// levels change the verdict (`full`, a repeated id), the result is read again in full.
    fn book(&self, c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        let start = c.clone();
        if self.book_levels(c, out, true)? {
            *c = start;
            self.book_levels(c, out, false)?;
        }
        Ok(())
    }

    /// [`Self::book`]'s read; true (nothing pushed) if levels were skipped and the verdict at
    /// the end no longer says stale: read again with `skip` false.
    fn book_levels(&self, c: &mut Cursor<'_>, out: &mut Out, skip: bool) -> Result<bool, Error> {
        let (bids_from, asks_from) = (out.bids.len(), out.asks.len());
        c.begin_object()?;
        let mut first = true;
        let (mut t, mut s, mut first_id, mut last_id, mut full) = (None, None, None, None, false);
        let mut skipped = false;
        // The decoder's verdict on this message as read so far (a delta with both ids).
        let stale = |out: &mut Out, s: Option<&str>, first: Option<u64>, last: Option<u64>, full: bool| {
            let (Some(s), Some(first), Some(last), false) = (s, first, last, full) else { return false };
            let symbol = out.symbol(s);
            first <= last && out.hint(symbol).stale_delta(self, &SeqIds { first, last, prev: None })
        };
        loop {
            // Each market's own key order first (spot `t,e,E,s,U,u,b,a`; futures `U,a,b,s,t,u`):
            // a miss costs an `at_key` compare per literal tried.
            let key = match self.market {
                Market::Spot => next_key!(c, &mut first, b"t", b"e", b"E", b"s", b"U", b"u", b"b", b"a"),
                Market::Futures => next_key!(c, &mut first, b"U", b"a", b"b", b"s", b"t", b"u"),
            };
            let Some(key) = key else { break };
            match key {
                b"t" => t = Some(c.timestamp_ms("result.t")?),
                b"s" => s = Some(c.str("result.s")?),
                b"U" => first_id = Some(c.u64("result.U")?),
                b"u" => last_id = Some(c.u64("result.u")?),
                // Either side may be empty or absent: Gate documents updates without a/b, which
                // still advance the book id.
                b"b" | b"a" if skip && stale(out, s, first_id, last_id, full) => {
                    c.skip_string_rows(if key == b"b" { "b" } else { "a" })?;
                    skipped = true;
                }
                b"b" => self.levels(c, &mut out.bids, "b")?,
                b"a" => self.levels(c, &mut out.asks, "a")?,
                b"full" => full = c.bool("result.full")?,
                _ => c.skip_value("result")?, // e ("depthUpdate"), E (s), l (level)
            }
        }
        let market_id = required(s, "result.s")?;
        let ids = SeqIds { first: required(first_id, "result.U")?, last: required(last_id, "result.u")?, prev: None };
        if ids.first > ids.last {
            return Err(Error::frame("result.U", format!("U {} is after u {}", ids.first, ids.last)));
        }
        if skipped && !stale(out, s, first_id, last_id, full) {
            out.bids.truncate(bids_from);
            out.asks.truncate(asks_from);
            return Ok(true);
        }
        let symbol = out.symbol(market_id);
        let kind = if full { BookKind::Snapshot } else { BookKind::Delta };
        out.book(symbol, kind, Some(ids), None, None, t, (bids_from, asks_from));
        Ok(false)
    }

    /// One side's levels: spot `[["p","a"],...]`, futures `[{"p":"...","s":n},...]`.
    fn levels(&self, c: &mut Cursor<'_>, levels: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
        match self.market {
            Market::Spot => c.short_dec_levels(levels, field),
            Market::Futures => object_levels(c, levels, field),
        }
    }

    /// `book_ticker` result `{t, u, s, b, B, a, A}`; an empty side is `""` (price and size 0).
    fn book_ticker(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let mut first = true;
        let (mut t, mut u, mut s) = (None, None, None);
        let (mut bp, mut bs, mut ap, mut asz) = (None, None, None, None);
        while let Some(key) = next_key!(c, &mut first, b"t", b"u", b"s", b"b", b"B", b"a", b"A") {
            match key {
                b"t" => t = Some(c.timestamp_ms("result.t")?),
                b"u" => u = Some(c.u64("result.u")?),
                b"s" => s = Some(c.str("result.s")?),
                b"b" => bp = Some(ticker_price(c, "result.b")?),
                b"B" => bs = Some(ticker_size(c, "result.B")?),
                b"a" => ap = Some(ticker_price(c, "result.a")?),
                b"A" => asz = Some(ticker_size(c, "result.A")?),
                _ => c.skip_value("result")?,
            }
        }
        let symbol = out.symbol(required(s, "result.s")?);
        let bbo = BboItem {
            bid: RawLevel { price: required(bp, "result.b")?, size: required(bs, "result.B")? },
            ask: RawLevel { price: required(ap, "result.a")?, size: required(asz, "result.A")? },
            sequence: Some(required(u, "result.u")?),
            exchange_ts: t,
        };
        out.items.push(Item::Bbo { symbol, bbo });
        Ok(())
    }

    /// The usual layout: `channel` and `event` before `result`. Ok(false): another layout
    /// (nothing added to `out`): parse with [`Self::parse_any`].
    ///
    /// A successful `subscribe`/`unsubscribe` reply (`error` absent or null, `id` absent or a
    /// non-negative integer) is read here too, as the same `Ack` [`Self::parse_any`] makes: a
    /// connection gets one per channel and symbol list, and serde's read of one cost ~3,500
    /// instructions, 7% of a replay of the spot recording (22 replies in 167 frames).
    fn parse_fast(&self, frame: &[u8], out: &mut Out) -> Result<bool, Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let mut first = true;
        let (mut channel, mut event, mut result_seen, mut error_seen) = (None, None, false, false);
        let (mut ack, mut id) = (false, None);
        let (mut time, mut time_ms) = (None, None);
        let items_from = out.items.len();
        while let Some(key) = next_key!(&mut c, &mut first, b"time", b"time_ms", b"channel", b"event", b"result") {
            match key {
                // Seconds as a number; anything else (a docs example writes "1") is read by serde.
                b"time" => match c.u64("time") {
                    Ok(t) => time = Some(t),
                    Err(_) => return Ok(false),
                },
                b"time_ms" => time_ms = Some(c.u64("time_ms")?),
                b"channel" => channel = Some(self.channel(c.str("channel")?)?),
                b"event" => event = Some(c.str("event")?),
                b"result" => {
                    match (channel, event) {
                        (Some(ch), Some("update" | "all")) if ch != Channel::Pong => {
                            self.result(&mut c, ch, out)?;
                        }
                        (Some(_), Some("subscribe" | "unsubscribe")) => {
                            c.skip_value("result")?;
                            ack = true;
                        }
                        _ => return Ok(false), // a reply, or `result` before `channel`/`event`
                    }
                    result_seen = true;
                }
                b"error" => {
                    if !c.null() {
                        return Ok(false);
                    }
                    error_seen = true;
                }
                // A reply's id: an integer as the adapter sends; anything else goes to serde.
                b"id" => match c.u64("id").ok().and_then(|v| i64::try_from(v).ok()) {
                    Some(v) => id = Some(v),
                    None => return Ok(false),
                },
                _ => c.skip_value("json")?, // time, time_ms, conn_id, trace_id, payload
            }
        }
        c.end()?;
        let _ = error_seen;
        if !result_seen {
            return Ok(false);
        }
        if ack {
            let request_id = id.map(RequestId::Int);
            out.items.push(Item::Control(ControlItem {
                kind: ControlKind::Ack,
                request_id,
                topic: None,
                code: None,
                message: None,
            }));
            return Ok(true);
        }
        if id.is_some() {
            return Ok(false); // an update with an id: read by serde, as before
        }
        if channel == Some(Channel::Candles) {
            push_time(out, items_from, time, time_ms)?;
        }
        Ok(true)
    }

    /// Any layout (serde, cold): replies, pongs and pushes with an unusual key order.
    #[cold]
    fn parse_any(&self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        out.clear(); // what the fast path left before it gave up
        let f: Frame<'_> = from_json(frame)?;
        let name = f.channel.as_deref().ok_or_else(|| Error::frame("channel", "missing field: not a Gate v4 frame"))?;
        let channel = self.channel(name)?;
        let event = f.event.as_deref().ok_or_else(|| Error::frame("event", "missing field"))?;
        let error = f.error.filter(|e| e.get() != "null");
        match event {
            "update" | "all" if channel != Channel::Pong => {
                if let Some(e) = error {
                    return Err(Error::frame("error", format!("an update with an error: {}", e.get())));
                }
                let result = f.result.ok_or_else(|| Error::frame("result", "missing field"))?;
                let mut c = Cursor::within(result.get().as_bytes(), frame);
                self.result(&mut c, channel, out)?;
                c.end()?;
                if channel == Channel::Candles {
                    let time = f.time.and_then(|t| t.get().parse::<u64>().ok());
                    push_time(out, 0, time, f.time_ms)?;
                }
                Ok(())
            }
            "" if channel == Channel::Pong => {
                out.items.push(Item::Control(ControlItem {
                    kind: ControlKind::Pong,
                    request_id: request_id(f.id)?,
                    topic: None,
                    code: None,
                    message: None,
                }));
                Ok(())
            }
            "subscribe" | "unsubscribe" => {
                let request_id = request_id(f.id)?;
                let item = match error {
                    None => {
                        if f.result.is_none() {
                            return Err(Error::frame("result", "missing field"));
                        }
                        ControlItem { kind: ControlKind::Ack, request_id, topic: None, code: None, message: None }
                    }
                    Some(e) => {
                        let body: ErrorBody<'_> = from_json(e.get().as_bytes()).map_err(|_| {
                            Error::frame("error", format!("expected {{code, message}}, found {}", e.get()))
                        })?;
                        ControlItem {
                            kind: ControlKind::Error,
                            request_id,
                            topic: None,
                            code: Some(body.code),
                            message: Some(body.message.into_owned()),
                        }
                    }
                };
                out.items.push(Item::Control(item));
                Ok(())
            }
            other => Err(Error::frame("event", format!("{other:?} is not a Gate v4 event on {name:?}"))),
        }
    }

    /// A REST order book body (`GET /api/v4/spot/order_book?...&with_id=true`,
    /// `GET /api/v4/futures/usdt/order_book?...&with_id=true`).
    fn snapshot(&self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        out.bids.clear();
        out.asks.clear();
        let mut c = Cursor::new(body);
        c.begin_object()?;
        let mut first = true;
        let (mut id, mut update, mut bids, mut asks) = (None, None, false, false);
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"id" => id = Some(c.u64("id")?),
                b"update" => {
                    update = Some(match self.market {
                        Market::Spot => c.timestamp_ms("update")?,
                        Market::Futures => seconds_to_ns(c.dec_any("update")?, "update")?,
                    });
                }
                b"bids" if !bids => {
                    self.levels(&mut c, &mut out.bids, "bids")?;
                    bids = true;
                }
                b"asks" if !asks => {
                    self.levels(&mut c, &mut out.asks, "asks")?;
                    asks = true;
                }
                _ => c.skip_value("json")?, // current
            }
        }
        c.end()?;
        if !bids || !asks {
            return Err(Error::frame(if bids { "asks" } else { "bids" }, "missing field"));
        }
        let sequence =
            id.ok_or_else(|| Error::frame("id", "missing field (request the snapshot with with_id=true)"))?;
        Ok(Snapshot { sequence, exchange_ts: update })
    }
}

/// Set the push time (`time_ms`, else `time` in seconds) as the event time of the candles
/// pushed from `items_from` on: a candle object carries only its start.
fn push_time(out: &mut Out, items_from: usize, time: Option<u64>, time_ms: Option<u64>) -> Result<(), Error> {
    let ts = match (time_ms, time) {
        (Some(ms), _) if ms > 0 => Some(crate::json::ms_to_ns(ms, "time_ms")?),
        (_, Some(s)) => Some(seconds_to_ns(Dec { mantissa: i64::try_from(s).unwrap_or(-1), width: 0 }, "time")?),
        _ => None,
    };
    for item in &mut out.items[items_from..] {
        if let Item::Candle { candle, .. } = item {
            candle.exchange_ts = ts;
        }
    }
    Ok(())
}

/// `[{"p":"price","s":size},...]` (keys in any order) appended to `levels`.
fn object_levels(c: &mut Cursor<'_>, levels: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
    if !c.begin_array(field)? {
        return Ok(());
    }
    loop {
        c.begin_object()?;
        let mut first = true;
        let (mut p, mut s) = (None, None);
        // Gate's layout `{"p":"..","s":n}` in three compares; any other order by name.
        if c.at_key(b"p", &mut first) {
            p = Some(c.dec(field)?);
            if c.at_key(b"s", &mut first) {
                s = Some(c.dec_any(field)?);
            }
        }
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"p" if p.is_none() => p = Some(c.dec(field)?),
                b"s" if s.is_none() => s = Some(c.dec_any(field)?),
                _ => return Err(Error::frame(field, "a futures level has exactly the keys p and s")),
            }
        }
        let (Some(price), Some(size)) = (p, s) else {
            return Err(Error::frame(field, "a futures level needs p and s"));
        };
        levels.push(RawLevel { price, size });
        if !c.more_elements(field)? {
            return Ok(());
        }
    }
}

/// A ticker price: a decimal string; `""` (an empty side) is 0.
fn ticker_price(c: &mut Cursor<'_>, field: &'static str) -> Result<Dec, Error> {
    let s = c.str(field)?;
    if s.is_empty() {
        return Ok(Dec::ZERO);
    }
    non_negative(fixed::parse_dec(s, field)?, field)
}

/// A ticker size: a decimal string (spot) or number (futures contracts).
fn ticker_size(c: &mut Cursor<'_>, field: &'static str) -> Result<Dec, Error> {
    non_negative(c.dec_any(field)?, field)
}

fn non_negative(d: Dec, field: &'static str) -> Result<Dec, Error> {
    if d.is_negative() {
        return Err(Error::frame(field, format!("{d} is negative")));
    }
    Ok(d)
}

/// A time in seconds or milliseconds written as a decimal ("1619093543708.2642" ms), as ns;
/// `unit_digits`: 9 for seconds, 6 for milliseconds.
fn scaled_to_ns(d: Dec, unit_digits: u8, field: &'static str) -> Result<i64, Error> {
    let bad = || Error::frame(field, format!("{d} is not a time since 1970 in range"));
    if d.is_negative() || d.width > unit_digits {
        return Err(bad());
    }
    d.mantissa.checked_mul(fixed::pow10(unit_digits - d.width)).ok_or_else(bad)
}

fn seconds_to_ns(d: Dec, field: &'static str) -> Result<i64, Error> {
    scaled_to_ns(d, 9, field)
}

/// A spot `trades` result: one trade object.
fn spot_trade(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
    c.begin_object()?;
    let mut first = true;
    let (mut id, mut ms_time, mut secs_time, mut side, mut pair, mut amount, mut price) =
        (None, None, None, None, None, None, None);
    while let Some(key) = next_key!(
        c,
        &mut first,
        b"id",
        b"create_time",
        b"create_time_ms",
        b"side",
        b"currency_pair",
        b"amount",
        b"price"
    ) {
        match key {
            b"id" => id = Some(c.u64("result.id")?),
            b"create_time" => secs_time = Some(c.u64("result.create_time")?),
            b"create_time_ms" => {
                ms_time = Some(scaled_to_ns(c.dec_any("result.create_time_ms")?, 6, "result.create_time_ms")?);
            }
            b"side" => {
                side = Some(match c.str("result.side")? {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    other => {
                        return Err(Error::frame(
                            "result.side",
                            format!("expected \"buy\" or \"sell\", found {other:?}"),
                        ))
                    }
                });
            }
            b"currency_pair" => pair = Some(c.str("result.currency_pair")?),
            b"amount" => amount = Some(c.dec_non_negative("result.amount")?),
            b"price" => price = Some(c.dec_non_negative("result.price")?),
            _ => c.skip_value("result")?, // range, sequence_id, text
        }
    }
    let trade_ts = match (ms_time, secs_time) {
        (Some(ns), _) => ns,
        (None, Some(s)) => {
            seconds_to_ns(Dec { mantissa: i64::try_from(s).unwrap_or(-1), width: 0 }, "result.create_time")?
        }
        (None, None) => return Err(Error::frame("result.create_time_ms", "missing field")),
    };
    let symbol = out.symbol(required(pair, "result.currency_pair")?);
    let trade = TradeItem {
        price: required(price, "result.price")?,
        size: required(amount, "result.amount")?,
        side: required(side, "result.side")?,
        trade_id: TradeId::Int(required(id, "result.id")?),
        trade_ts,
        exchange_ts: trade_ts,
    };
    out.items.push(Item::Trade { symbol, trade });
    Ok(())
}

/// A futures `trades` result: an array of trades; the size's sign is the taker side.
fn futures_trades(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
    if !c.begin_array("result")? {
        return Ok(());
    }
    loop {
        c.begin_object()?;
        let mut first = true;
        let (mut id, mut ms_time, mut secs_time, mut contract, mut size, mut price) =
            (None, None, None, None, None, None);
        while let Some(key) =
            next_key!(c, &mut first, b"size", b"id", b"create_time", b"create_time_ms", b"price", b"contract")
        {
            match key {
                b"id" => id = Some(c.u64("result.id")?),
                b"create_time" => secs_time = Some(c.u64("result.create_time")?),
                b"create_time_ms" => {
                    ms_time = Some(scaled_to_ns(c.dec_any("result.create_time_ms")?, 6, "result.create_time_ms")?);
                }
                b"contract" => contract = Some(c.str("result.contract")?),
                b"size" => size = Some(c.dec_any("result.size")?),
                b"price" => price = Some(c.dec_non_negative("result.price")?),
                _ => c.skip_value("result")?, // is_internal
            }
        }
        let trade_ts = match (ms_time, secs_time) {
            (Some(ns), _) => ns,
            (None, Some(s)) => {
                seconds_to_ns(Dec { mantissa: i64::try_from(s).unwrap_or(-1), width: 0 }, "result.create_time")?
            }
            (None, None) => return Err(Error::frame("result.create_time_ms", "missing field")),
        };
        let size = required(size, "result.size")?;
        if size.mantissa == 0 {
            return Err(Error::frame("result.size", "a trade of size 0"));
        }
        let (taker, amount) = if size.is_negative() {
            (Side::Sell, Dec { mantissa: -size.mantissa, width: size.width })
        } else {
            (Side::Buy, size)
        };
        let symbol = out.symbol(required(contract, "result.contract")?);
        let trade = TradeItem {
            price: required(price, "result.price")?,
            size: amount,
            side: taker,
            trade_id: TradeId::Int(required(id, "result.id")?),
            trade_ts,
            exchange_ts: trade_ts,
        };
        out.items.push(Item::Trade { symbol, trade });
        if !c.more_elements("result")? {
            return Ok(());
        }
    }
}

/// Gate's candle intervals and their lengths in seconds.
fn interval(name: &str) -> Result<(Interval, i64), Error> {
    let secs = match name {
        "10s" => 10,
        "1m" => 60,
        "5m" => 300,
        "15m" => 900,
        "30m" => 1800,
        "1h" => 3600,
        "4h" => 14_400,
        "8h" => 28_800,
        "1d" => 86_400,
        "7d" => 604_800,
        "30d" => 2_592_000,
        _ => return Err(Error::frame("result.n", format!("undocumented interval {name:?}"))),
    };
    Ok((Interval::new(name, "result.n")?, secs))
}

/// One candle object `{t, v, c, h, l, o, n, a?, w?}`.
#[allow(clippy::many_single_char_names)] // Gate's own field names
fn candle(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
    c.begin_object()?;
    let mut first = true;
    let (mut t, mut n, mut v, mut a, mut w) = (None, None, None, None, None);
    let (mut open, mut high, mut low, mut close) = (None, None, None, None);
    while let Some(key) = next_key!(c, &mut first, b"t", b"v", b"c", b"h", b"l", b"o", b"n", b"a", b"w") {
        match key {
            b"t" => {
                // Spot writes the start second as a string, futures as a number.
                let d = c.dec_any("result.t")?;
                t = Some(seconds_to_ns(d, "result.t")?);
                if d.width != 0 {
                    return Err(Error::frame("result.t", "expected whole seconds"));
                }
            }
            b"v" => v = Some(c.dec_any("result.v")?),
            b"a" => a = Some(c.dec_any("result.a")?),
            b"o" => open = Some(c.dec("result.o")?),
            b"h" => high = Some(c.dec("result.h")?),
            b"l" => low = Some(c.dec("result.l")?),
            b"c" => close = Some(c.dec("result.c")?),
            b"n" => n = Some(c.str("result.n")?),
            b"w" => w = Some(c.bool("result.w")?),
            _ => c.skip_value("result")?,
        }
    }
    let name = required(n, "result.n")?;
    let (iv, market_id) =
        name.split_once('_').ok_or_else(|| Error::frame("result.n", format!("{name:?} is not <interval>_<market>")))?;
    let (interval, secs) = interval(iv)?;
    let start_ts = required(t, "result.t")?;
    let candle = CandleItem {
        interval,
        start_ts,
        end_ts: start_ts + secs * 1_000_000_000 - 1,
        open: required(open, "result.o")?,
        high: required(high, "result.h")?,
        low: required(low, "result.l")?,
        close: required(close, "result.c")?,
        volume: match a {
            Some(a) => a,
            None => required(v, "result.v")?,
        },
        trades: None,
        closed: w,
        exchange_ts: None,
    };
    let symbol = out.symbol(market_id);
    out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
    Ok(())
}

/// Any frame, by name (replies, pongs, pushes in another key order).
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    /// Seconds; a docs example writes it as a string ("1"), so it is read loosely.
    #[serde(borrow, default)]
    time: Option<&'a RawValue>,
    #[serde(default)]
    time_ms: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorBody<'a> {
    code: i64,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

/// The request id Gate echoes: an integer (as the adapter sends), else text; null is none.
fn request_id(raw: Option<&RawValue>) -> Result<Option<RequestId>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    if text.starts_with('"') {
        let s: String = from_json(text.as_bytes())?;
        return Ok(Some(RequestId::Str(s)));
    }
    text.parse::<i64>()
        .map(|v| Some(RequestId::Int(v)))
        .map_err(|_| Error::frame("id", format!("{text} is neither an integer nor a string")))
}

impl Venue for Gate {
    fn id(&self) -> &'static str {
        "gateio"
    }

    fn market(&self) -> &'static str {
        match self.market {
            Market::Spot => "spot",
            Market::Futures => "linear",
        }
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "a binary frame: Gate v4 streams send text"));
        }
        let result = match self.parse_fast(frame, out) {
            Ok(true) => Ok(()),
            Ok(false) => self.parse_any(frame, out),
            Err(e) => Err(e),
        };
        result.map_err(|e| nesting_error(frame).unwrap_or(e))
    }

    fn recovery(&self) -> Recovery {
        Recovery::RestSnapshot
    }

    fn uses_sync_hints(&self) -> bool {
        true // `book` skips a stale delta's levels
    }

    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        self.snapshot(body, out)
    }

    /// Gate's `U`/`u` rule, after a REST snapshot (`bridging`) and later alike: `u <= id` is
    /// old; `U <= id + 1 <= u` applies; `U > id + 1` is a gap.
    #[inline]
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        let next = last.wrapping_add(1);
        if ids.last < next {
            Verdict::Stale
        } else if ids.first > next {
            Verdict::Gap { expected: next, received: ids.first }
        } else {
            Verdict::Apply
        }
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        if let Some(s) = self.to_symbol.get(market_id) {
            return s.clone();
        }
        match (market_id.split_once('_'), self.market) {
            (Some((base, quote)), Market::Spot) if !base.is_empty() && !quote.is_empty() => format!("{base}/{quote}"),
            (Some((base, quote)), Market::Futures) if !base.is_empty() && !quote.is_empty() && !quote.contains('_') => {
                format!("{base}/{quote}:{quote}")
            }
            _ => market_id.to_owned(),
        }
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        if let Some(m) = self.to_market_id.get(symbol) {
            return Ok(m.clone());
        }
        let bad = |why: &str| Error::invalid("symbol", symbol, format!("{why} (gateio {})", self.market()));
        let (pair, settle) = match symbol.split_once(':') {
            Some((p, s)) => (p, Some(s)),
            None => (symbol, None),
        };
        let (base, quote) = pair.split_once('/').ok_or_else(|| bad("expected BASE/QUOTE"))?;
        let well_formed = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !well_formed(base) || !well_formed(quote) {
            return Err(bad("expected upper-case BASE/QUOTE"));
        }
        match (self.market, settle) {
            (Market::Spot, None) => Ok(format!("{base}_{quote}")),
            (Market::Spot, Some(_)) => Err(bad("a derivative symbol (with ':') is not a spot market")),
            (Market::Futures, None) => Err(bad("a spot symbol is not a contract (write BASE/USDT:USDT)")),
            (Market::Futures, Some(s)) => {
                if s != quote || quote != "USDT" {
                    return Err(bad("the USDT futures endpoint serves BASE/USDT:USDT perpetuals"));
                }
                Ok(format!("{base}_{quote}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SyncHint;
    use super::*;

    fn spot() -> Gate {
        Gate::new("spot", &[]).unwrap()
    }

    fn futures() -> Gate {
        Gate::new("linear", &[]).unwrap()
    }

    fn parse(v: &mut Gate, frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        v.parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    fn d(s: &str) -> Dec {
        fixed::parse_dec(s, "test").unwrap()
    }

    #[test]
    fn sequence_rule() {
        use Verdict::{Apply, Gap, Stale};
        let v = spot();
        let ids = |first, last| SeqIds { first, last, prev: None };
        #[rustfmt::skip]
        let table = [
            (ids(90, 100), Stale),                         // u == id: already in
            (ids(90, 101), Apply),                         // U <= id + 1 <= u
            (ids(101, 101), Apply),
            (ids(101, 120), Apply),
            (ids(102, 120), Gap { expected: 101, received: 102 }),
        ];
        for bridging in [true, false] {
            for (i, want) in &table {
                assert_eq!(v.check(100, i, bridging), *want, "{i:?} bridging={bridging}");
            }
        }
    }

    #[test]
    fn stale_delta_levels_are_skipped_and_a_late_full_reads_them() {
        // The book of BTC_USDT stands at id 100 (live): a delta ending at 100 is stale.
        let parse_at = |frame: &str| {
            let mut out = Out::default();
            let i = out.symbol("BTC_USDT");
            out.set_hints((0..=i).map(|_| SyncHint { delta: Some((100, false)), snapshot: Some(100) }));
            spot().parse(frame.as_bytes(), false, &mut out).unwrap();
            let Some(Item::Book(b)) = out.items.first() else { panic!("no book item: {frame}") };
            (b.kind, b.ids.map(|ids| ids.last), out.bids.len(), out.asks.len())
        };
        let frame = |u: u64, tail: &str| {
            format!(
                r#"{{"time":1,"channel":"spot.order_book_update","event":"update","result":{{"t":1,"e":"depthUpdate","E":1,"s":"BTC_USDT","U":90,"u":{u},"b":[["1.5","2"],["1.4","0"]],"a":[["1.6","3"]]{tail}}}}}"#
            )
        };
        // Stale: ids kept, levels skipped.
        assert_eq!(parse_at(&frame(100, "")), (BookKind::Delta, Some(100), 0, 0));
        // Applies: levels read.
        assert_eq!(parse_at(&frame(101, "")), (BookKind::Delta, Some(101), 2, 1));
        // `full` after the levels makes it a snapshot: read again, in full.
        assert_eq!(parse_at(&frame(100, r#","full":true"#)), (BookKind::Snapshot, Some(100), 2, 1));
        // Without hints (a venue not asked, a symbol new in the frame): read in full.
        let mut out = Out::default();
        spot().parse(frame(100, "").as_bytes(), false, &mut out).unwrap();
        assert_eq!((out.bids.len(), out.asks.len()), (2, 1));
    }

    #[test]
    fn symbols_both_ways() {
        let (s, f) = (spot(), futures());
        assert_eq!(s.unified_symbol("QTUM3S_USDT"), "QTUM3S/USDT");
        assert_eq!(s.market_id("HAI/ETH").unwrap(), "HAI_ETH");
        assert_eq!(f.unified_symbol("OMG_USDT"), "OMG/USDT:USDT");
        assert_eq!(f.market_id("OMG/USDT:USDT").unwrap(), "OMG_USDT");
        for bad in ["BTC/USDT:USDT", "btc/usdt", "BTCUSDT", "BTC/"] {
            assert!(matches!(s.market_id(bad), Err(Error::InvalidArgument { .. })), "{bad}");
        }
        for bad in ["BTC/USDT", "BTC/USD:BTC", "BTC/USDC:USDC"] {
            assert!(matches!(f.market_id(bad), Err(Error::InvalidArgument { .. })), "{bad}");
        }
        let listed = [Instrument {
            market_id: "ABC_USDT".into(),
            symbol: "XYZ/USDT:USDT".into(),
            tick_size: None,
            lot_size: None,
        }];
        let g = Gate::new("linear", &listed).unwrap();
        assert_eq!(g.unified_symbol("ABC_USDT"), "XYZ/USDT:USDT");
        assert_eq!(g.market_id("XYZ/USDT:USDT").unwrap(), "ABC_USDT");
        assert!(Gate::new("inverse", &[]).is_err());
    }

    #[test]
    fn futures_levels_and_full_snapshot() {
        let mut f = futures();
        let out = parse(
            &mut f,
            r#"{"time":1,"time_ms":2,"channel":"futures.order_book_update","event":"update","result":{"t":1684930165217,"s":"X_USDT","U":5,"u":7,"b":[{"s":12,"p":"0.5"}],"a":[{"p":"0.6","s":"0"}],"full":true}}"#,
        )
        .unwrap();
        let Item::Book(b) = &out.items[0] else { panic!() };
        assert_eq!(b.kind, BookKind::Snapshot);
        assert_eq!(b.ids, Some(SeqIds { first: 5, last: 7, prev: None }));
        assert_eq!(b.exchange_ts, Some(1_684_930_165_217_000_000));
        assert_eq!(out.bids, vec![RawLevel { price: d("0.5"), size: d("12") }]);
        assert_eq!(out.asks, vec![RawLevel { price: d("0.6"), size: d("0") }]);
        // An update without a/b (documented: it still advances the book id).
        let out = parse(
            &mut f,
            r#"{"time":1,"time_ms":2,"channel":"futures.order_book_update","event":"update","result":{"U":8,"s":"X_USDT","t":1,"u":8}}"#,
        )
        .unwrap();
        let Item::Book(b) = &out.items[0] else { panic!() };
        assert_eq!(
            (b.kind, b.ids, b.bids.len(), b.asks.len()),
            (BookKind::Delta, Some(SeqIds { first: 8, last: 8, prev: None }), 0, 0)
        );
    }

    #[test]
    fn replies() {
        let mut s = spot();
        let ack = parse(&mut s, r#"{"time":1,"id":42,"channel":"spot.trades","event":"subscribe","error":null,"result":{"status":"success"}}"#).unwrap();
        assert_eq!(
            ack.items,
            vec![Item::Control(ControlItem {
                kind: ControlKind::Ack,
                request_id: Some(RequestId::Int(42)),
                topic: None,
                code: None,
                message: None
            })]
        );
        let err = parse(
            &mut s,
            r#"{"time":1,"id":7,"channel":"spot.trades","event":"subscribe","error":{"code":2,"message":"unknown currency pair FOO_USDT"},"result":null}"#,
        )
        .unwrap();
        let Item::Control(c) = &err.items[0] else { panic!() };
        assert_eq!(
            (c.kind, c.code, c.message.as_deref()),
            (ControlKind::Error, Some(2), Some("unknown currency pair FOO_USDT"))
        );
        let pong = parse(&mut s, r#"{"time":1,"channel":"spot.pong","event":"","error":null,"result":null}"#).unwrap();
        assert!(matches!(&pong.items[..], [Item::Control(ControlItem { kind: ControlKind::Pong, .. })]));
    }

    #[test]
    fn replies_fast_path_reads_what_serde_reads() {
        // Every reply layout: the fast path (taken or not) gives what the serde path gives.
        for text in [
            r#"{"time":1619093532,"channel":"spot.order_book_update","event":"subscribe","result":{"status":"success"}}"#,
            r#"{"time":1,"id":42,"channel":"spot.trades","event":"subscribe","error":null,"result":{"status":"success"}}"#,
            r#"{"time":1,"channel":"spot.trades","event":"unsubscribe","result":{"status":"success"},"id":7}"#,
            r#"{"time":1,"id":"abc","channel":"spot.trades","event":"subscribe","result":{"status":"success"}}"#,
            r#"{"time":1,"id":-3,"channel":"spot.trades","event":"subscribe","result":{"status":"success"}}"#,
            r#"{"time":1,"id":null,"channel":"spot.trades","event":"subscribe","result":{"status":"success"}}"#,
            r#"{"time":1,"channel":"spot.trades","event":"subscribe","error":{"code":2,"message":"x"},"result":null}"#,
            r#"{"time":1,"channel":"spot.trades","event":"subscribe"}"#,
            r#"{"time":1,"event":"subscribe","result":{"status":"success"}}"#,
            r#"{"time":1,"channel":"spot.trades","event":"subscribe","result":{"status":"success"}} x"#,
            r#"{"time":1,"channel":"spot.tickers","event":"update","id":5,"result":{"currency_pair":"BTC_USDT","last":"1","lowest_ask":"2","highest_bid":"1"}}"#,
        ] {
            let mut fast = Out::default();
            let got = spot().parse(text.as_bytes(), false, &mut fast).map(|()| fast.items).map_err(|e| e.to_string());
            let mut slow = Out::default();
            let want = spot().parse_any(text.as_bytes(), &mut slow).map(|()| slow.items).map_err(|e| e.to_string());
            assert_eq!(got.is_ok(), want.is_ok(), "{text}: {got:?} / {want:?}");
            if want.is_ok() {
                assert_eq!(got, want, "{text}");
            }
        }
    }

    #[test]
    fn strict_about_what_is_not_gate() {
        let mut s = spot();
        for bad in [
            r#"{"time":1,"channel":"futures.book_ticker","event":"update","result":{"t":1,"u":1,"s":"A_B","b":"1","B":1,"a":"2","A":1}}"#,
            r#"{"time":1,"channel":"spot.nonsense","event":"update","result":{}}"#,
            r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","data":{}}"#,
            r#"{"time":1,"channel":"spot.order_book_update","event":"update","result":{"t":1,"s":"A_B","u":3,"b":[],"a":[]}}"#,
            r#"{"time":1,"channel":"spot.order_book_update","event":"update","result":{"t":1,"s":"A_B","U":4,"u":3,"b":[],"a":[]}}"#,
            r#"{"time":1,"channel":"spot.trades","event":"update","result":{"id":1,"create_time_ms":"1.5","side":"up","currency_pair":"A_B","amount":"1","price":"1"}}"#,
            r#"{"time":1,"channel":"spot.trades","event":"subscribe","error":{"oops":1},"result":null}"#,
            r#"{"time":1,"channel":"spot.trades","event":"teleport","result":null}"#,
        ] {
            assert!(matches!(parse(&mut s, bad), Err(Error::Frame { .. })), "{bad}");
        }
        let mut f = futures();
        let spot_book = r#"{"time":1,"channel":"spot.order_book_update","event":"update","result":{"t":1,"s":"A_B","U":1,"u":1,"b":[],"a":[]}}"#;
        let e = parse(&mut f, spot_book).unwrap_err();
        assert!(e.to_string().contains("channel"), "{e}");
        assert!(parse(&mut f, r#"{"time":1,"channel":"futures.order_book_update","event":"update","result":{"t":1,"s":"A_B","U":1,"u":1,"b":[{"p":"1","s":1,"x":2}],"a":[]}}"#).is_err());
    }

    #[test]
    fn key_order_does_not_matter() {
        let mut f = futures();
        let usual = r#"{"time":1684930165,"time_ms":1684930165971,"channel":"futures.book_ticker","event":"update","result":{"t":1684930165960,"u":203083200,"s":"RDNT_USDT","b":"0.2972","B":5383,"a":"0.2976","A":8456}}"#;
        let other = r#"{"result":{"A":8456,"a":"0.2976","B":5383,"b":"0.2972","s":"RDNT_USDT","u":203083200,"t":1684930165960},"event":"update","channel":"futures.book_ticker","time":1684930165}"#;
        assert_eq!(parse(&mut f, usual).unwrap().items, parse(&mut f, other).unwrap().items);
    }

    #[test]
    fn trades_and_candles() {
        let mut s = spot();
        let out = parse(&mut s, r#"{"time":1619093543,"channel":"spot.trades","event":"update","result":{"id":816995772,"create_time":1619093543,"create_time_ms":"1619093543708.2642","side":"sell","currency_pair":"DIS_USDT","amount":"0.2010000000","price":"121.5800000000"}}"#).unwrap();
        let Item::Trade { trade, .. } = out.items[0] else { panic!() };
        assert_eq!(trade.trade_ts, 1_619_093_543_708_264_200);
        assert_eq!((trade.side, trade.trade_id), (Side::Sell, TradeId::Int(816_995_772)));
        let mut f = futures();
        let out = parse(&mut f, r#"{"channel":"futures.trades","event":"update","time":1541503698,"time_ms":1541503698123,"result":[{"size":-108,"id":27753479,"create_time":1545136464,"create_time_ms":1545136464123,"price":"96.4","contract":"ETH_USDT","is_internal":true}]}"#).unwrap();
        let Item::Trade { trade, .. } = out.items[0] else { panic!() };
        assert_eq!((trade.side, trade.size), (Side::Sell, d("108")));
        let out = parse(&mut f, r#"{"time":1684930165,"time_ms":1684930165934,"channel":"futures.candlesticks","event":"update","result":[{"t":1684930140,"v":0,"c":"0.1701","h":"0.1701","l":"0.1701","o":"0.1701","n":"1m_FRONT_USDT"}]}"#).unwrap();
        let Item::Candle { candle, .. } = &out.items[0] else { panic!() };
        assert_eq!(candle.start_ts, 1_684_930_140_000_000_000);
        assert_eq!(candle.end_ts - candle.start_ts, 60_000_000_000 - 1);
        assert_eq!(candle.exchange_ts, Some(1_684_930_165_934_000_000)); // the push's time_ms
        assert_eq!(out.market_ids(), ["FRONT_USDT"]);
    }
}
