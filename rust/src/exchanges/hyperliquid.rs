//! Hyperliquid public market data (`hyperliquid`): markets `linear` (perps, the default) and
//! `spot`, both on the one WebSocket `wss://api.hyperliquid.xyz/ws`.
//!
//! Follows `shared/docs/exchanges/hyperliquid.md` (from the official Python SDK
//! `websocket_manager.py` / `utils/types.py` and the public docs): §1 endpoints and the text
//! greeting, §3 subscribe/unsubscribe and `subscriptionResponse` acks, §4 `{"method":"ping"}` ->
//! `{"channel":"pong"}`, §5 `l2Book` (a whole book every push, no deltas, no sequence, no
//! checksum) and `bbo`, §6 `trades` and `candle`, §9 coin names.
//!
//! Frames: `{"channel":<name>,"data":<payload>}` with the channel first (as Hyperliquid writes
//! it); a `pong` has no `data`; errors are `{"channel":"error","data":"<text>"}` (no code).
//! The envelope, the channels and every field of the payloads tickwire reads are strict: a field
//! not in the docs, or a channel tickwire does not decode (`allMids`, `userFundings`,
//! `post`, ...) is a `Frame` error naming it; so is a frame of another venue.
//!
//! Private (user) channels, `orderUpdates`, `userFills`, `user` (userEvents) and `webData2`,
//! are decoded too: see the section "Private (user) channels" below.
//!
//! One parser serves both markets: the coin on each message says what it is. Bare names
//! (`BTC`, `kPEPE`) are perps, `BTC` -> `BTC/USDC:USDC` (Hyperliquid perps are margined and
//! settled in USDC); spot pairs are `PURR/USDC` (the first pair, named by its tokens) or `@<n>`
//! (spot universe index `n`), resolved to `BASE/QUOTE` only through the `spotMeta` instruments
//! table the Python side loads (`POST /info {"type":"spotMeta"}`): without it `@107` stays
//! `@107`. HIP-3 builder perps (`dex:COIN`) pass through unchanged unless the table names them.
//! The market a parser was created for only names the endpoint it was asked for.
//!
//! Books: every `l2Book` push is a [`BookKind::Snapshot`] whose ids are its `time` (ms): the
//! decoder replaces the book each time, and [`Venue::stale_snapshot`] drops a push older than
//! the book (`time` below the book's): pushes are never merged. Two pushes with the same `time`
//! are both applied (the recording has such a repeat, identical). There is nothing to gap-check:
//! a lost push is repaired by the next one. Recovery is a new subscription (the venue sends the
//! book again at once).
//!
//! Speed: an `l2Book` push is ~1.6 KB of 40 level objects, so it has a layout fast path (the
//! frame byte by byte exactly as Hyperliquid writes it, either key order the recordings show);
//! every other frame, and any push that deviates in one byte, goes through the strict parser.

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::account::{
    order_type, time_in_force, AccountList, BalanceItem, FillItem, MarginMode, OrderItem, OrderStatus, PositionItem,
    PositionSide,
};
use crate::error::{from_json, Error};
use crate::event::Side;
use crate::fixed::Dec;
use crate::json::{ms_to_ns, required, Cursor};

/// Markets (endpoints) of `hyperliquid`, the default first: perps are Hyperliquid's main market
/// and every recording is of perps. Both are served by one URL.
pub const MARKETS: &[&str] = &["linear", "spot"];

/// The text Hyperliquid sends on connect (hyperliquid.md §1).
pub const GREETING: &[u8] = b"Websocket connection established.";

/// The `hyperliquid` factory, registered in [`super::FACTORIES`].
pub struct Factory;

/// The one `hyperliquid` factory.
pub static FACTORY: Factory = Factory;

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "hyperliquid"
    }

    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        let market = MARKETS.iter().copied().find(|m| *m == market).ok_or_else(|| {
            Error::invalid("market", market, format!("hyperliquid has no such market; markets: {}", MARKETS.join(", ")))
        })?;
        let mut venue =
            Hyperliquid { market, symbols: HashMap::new(), ids: HashMap::new(), private: PrivateState::default() };
        for i in instruments {
            venue.symbols.insert(i.market_id.clone(), i.symbol.clone());
            venue.ids.insert(i.symbol.clone(), i.market_id.clone());
        }
        Ok(Box::new(venue))
    }
}

/// The Hyperliquid public parser for one connection.
pub struct Hyperliquid {
    market: &'static str,
    /// Coin ("BTC", "@107") -> unified symbol, from the instruments table (may be empty).
    symbols: HashMap<String, String>,
    /// Unified symbol -> coin.
    ids: HashMap<String, String>,
    /// What the private (user) channels remember between frames.
    private: PrivateState,
}

/// A coin name usable as a ccxt currency code: ASCII letters and digits (`kPEPE` keeps its case).
fn is_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The unified symbol of a coin by its shape alone: a perp name -> `NAME/USDC:USDC`, a spot pair
/// named by its tokens (`PURR/USDC`) -> itself; None for `@<n>` (needs `spotMeta`) and others.
pub fn unified(coin: &str) -> Option<(String, &'static str)> {
    if is_code(coin) {
        return Some((format!("{coin}/USDC:USDC"), "linear"));
    }
    match coin.split_once('/') {
        Some((b, q)) if is_code(b) && is_code(q) => Some((coin.to_owned(), "spot")),
        _ => None,
    }
}

/// The coin of a perp symbol by shape (`BTC/USDC:USDC` -> `BTC`); None for anything else (a
/// spot pair's coin is `@<n>`, known only from `spotMeta`).
pub fn perp_coin(symbol: &str) -> Option<&str> {
    let base = symbol.strip_suffix("/USDC:USDC")?;
    is_code(base).then_some(base)
}

/// The ack topic of a subscription, as the Python adapter builds it for what it subscribed:
/// `"<type>:<unified symbol>"` (`"l2Book:BTC/USDC:USDC"`), `"candle:<symbol>:<interval>"` for
/// candles, the type alone for coin-less subscriptions (`"allMids"`).
pub fn topic(kind: &str, symbol: Option<&str>, interval: Option<&str>) -> String {
    match (symbol, interval) {
        (Some(s), Some(i)) => format!("{kind}:{s}:{i}"),
        (Some(s), None) => format!("{kind}:{s}"),
        (None, _) => kind.to_owned(),
    }
}

/// A level object `{"px":"..","sz":"..","n":<orders>}` (keys in any order: the 2025-01 BTC
/// capture writes `n` first, the HYPE one last). Price above 0, size above 0 (a whole book
/// lists only resting levels).
#[inline]
fn level(c: &mut Cursor<'_>, field: &'static str) -> Result<RawLevel, Error> {
    c.begin_object()?;
    let (mut px, mut sz, mut n) = (None, None, false);
    let mut first = true;
    // Layout fast path: the order the venue writes now (`n`, `px`, `sz`), else any order.
    if c.at_key(b"n", &mut first) {
        c.u64("n")?;
        n = true;
        if c.at_key(b"px", &mut first) {
            px = Some(c.dec("px")?);
            if c.at_key(b"sz", &mut first) {
                sz = Some(c.dec("sz")?);
            }
        }
    }
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"px" => px = Some(c.dec("px")?),
            b"sz" => sz = Some(c.dec("sz")?),
            b"n" => {
                c.u64("n")?;
                n = true;
            }
            other => return Err(unknown(field, other)),
        }
    }
    let (price, size) = (required(px, "px")?, required(sz, "sz")?);
    if !n {
        return Err(Error::frame("n", "missing field"));
    }
    if price.mantissa <= 0 {
        return Err(Error::frame("px", format!("price {price} is not above 0")));
    }
    if size.mantissa <= 0 {
        return Err(Error::frame("sz", format!("size {size} is not above 0")));
    }
    Ok(RawLevel { price, size })
}

/// An array of level objects, appended to `side`.
#[inline]
fn levels(c: &mut Cursor<'_>, side: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
    if c.begin_array(field)? {
        loop {
            side.push(level(c, field)?);
            if !c.more_elements(field)? {
                break;
            }
        }
    }
    Ok(())
}

#[cold]
fn unknown(field: &str, key: &[u8]) -> Error {
    Error::frame(format!("{field}.{}", String::from_utf8_lossy(key)), "not a documented Hyperliquid field")
}

/// A ms timestamp (a JSON integer) as ns, and the ms.
#[inline]
fn time(c: &mut Cursor<'_>, field: &'static str) -> Result<(u64, i64), Error> {
    let ms = c.u64(field)?;
    Ok((ms, ms_to_ns(ms, field)?))
}

/// A `POST /info {"type":"l2Book"}` reply: the `data` object of an `l2Book` push,
/// `{"coin","time","levels":[[bids],[asks]]}` (keys in any order); its `time` (ms) is the
/// snapshot's sequence, as the pushes' is. `null` (an unknown coin) or another shape is a
/// `Frame` error naming the field.
fn rest_l2_book(body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
    out.bids.clear();
    out.asks.clear();
    let mut c = Cursor::new(body);
    c.begin_object()?;
    let (mut ts, mut saw_levels) = (None, false);
    let mut first = true;
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"time" => ts = Some(time(&mut c, "time")?),
            b"levels" => {
                if !c.begin_array("levels")? {
                    return Err(Error::frame("levels", "expected [bids, asks]"));
                }
                levels(&mut c, &mut out.bids, "levels[0]")?;
                if !c.more_elements("levels")? {
                    return Err(Error::frame("levels", "expected [bids, asks], found one side"));
                }
                levels(&mut c, &mut out.asks, "levels[1]")?;
                if c.more_elements("levels")? {
                    return Err(Error::frame("levels", "expected [bids, asks], found more"));
                }
                saw_levels = true;
            }
            b"coin" => c.skip_value("coin")?,
            other => return Err(unknown("l2Book", other)),
        }
    }
    c.end()?;
    if !saw_levels {
        return Err(Error::frame("levels", "missing field"));
    }
    let (ms, ns) = required(ts, "time")?;
    Ok(Snapshot { sequence: ms, exchange_ts: Some(ns) })
}

/// A `POST /info {"type":"recentTrades","coin":..}` reply: a JSON list of the objects a
/// `trades` push carries in its `data` (`{coin, side, px, sz, hash, time, tid, users}`, read by
/// the same [`Hyperliquid::trade`]: exact decimal `px`/`sz`, `tid`, `time` ms as ns), in the
/// reply's order. `null` (an unknown coin) or another shape is a `Frame` error naming the field.
fn recent_trades(body: &[u8]) -> Result<Vec<TradeItem>, Error> {
    let mut out = Out::default();
    let mut c = Cursor::new(body);
    if c.begin_array("recentTrades")? {
        loop {
            Hyperliquid::trade(&mut c, &mut out)?;
            if !c.more_elements("recentTrades")? {
                break;
            }
        }
    }
    c.end()?;
    Ok(out
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Trade { trade, .. } => Some(*trade),
            _ => None,
        })
        .collect())
}

/// A `subscriptionResponse`, `error` or `pong` frame (cold: serde).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlFrame {
    channel: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

/// The `data` of a `subscriptionResponse`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckData {
    method: String,
    subscription: AckSubscription,
}

/// The subscription an ack echoes (hyperliquid.md §3: the request's object).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckSubscription {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    coin: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default, rename = "nSigFigs")]
    _n_sig_figs: Option<u8>,
    #[serde(default, rename = "mantissa")]
    _mantissa: Option<u8>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    dex: Option<String>,
}

impl Hyperliquid {
    /// `l2Book` data: `{"coin","time","levels":[[bids],[asks]]}` (keys in any order).
    fn book(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let from = (out.bids.len(), out.asks.len());
        let (mut coin, mut ts, mut saw_levels) = (None, None, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"coin" => coin = Some(c.str("data.coin")?),
                b"time" => ts = Some(time(c, "data.time")?),
                b"levels" => {
                    if !c.begin_array("data.levels")? {
                        return Err(Error::frame("data.levels", "expected [bids, asks]"));
                    }
                    levels(c, &mut out.bids, "data.levels[0]")?;
                    if !c.more_elements("data.levels")? {
                        return Err(Error::frame("data.levels", "expected [bids, asks], found one side"));
                    }
                    levels(c, &mut out.asks, "data.levels[1]")?;
                    if c.more_elements("data.levels")? {
                        return Err(Error::frame("data.levels", "expected [bids, asks], found more"));
                    }
                    saw_levels = true;
                }
                other => return Err(unknown("data", other)),
            }
        }
        if !saw_levels {
            return Err(Error::frame("data.levels", "missing field"));
        }
        let (ms, ns) = required(ts, "data.time")?;
        let symbol = out.symbol(required(coin, "data.coin")?);
        let ids = SeqIds { first: ms, last: ms, prev: None };
        out.book(symbol, BookKind::Snapshot, Some(ids), None, None, Some(ns), from);
        Ok(())
    }

    /// One `trades` item: `{coin, side, px, sz, hash, time, tid, users}`.
    fn trade(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut coin, mut side, mut px, mut sz, mut ts, mut tid) = (None, None, None, None, None, None);
        let (mut hash, mut users) = (false, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"coin" => coin = Some(c.str("data[].coin")?),
                b"side" => {
                    side = Some(match c.str("data[].side")? {
                        "B" => Side::Buy,
                        "A" => Side::Sell,
                        other => return Err(Error::frame("data[].side", format!("{other:?} is neither B nor A"))),
                    });
                }
                b"px" => px = Some(c.dec("data[].px")?),
                b"sz" => sz = Some(c.dec("data[].sz")?),
                b"time" => ts = Some(time(c, "data[].time")?.1),
                b"tid" => tid = Some(c.u64("data[].tid")?),
                b"hash" => {
                    c.str("data[].hash")?;
                    hash = true;
                }
                b"users" => {
                    c.skip_value("data[].users")?;
                    users = true;
                }
                other => return Err(unknown("data[]", other)),
            }
        }
        let (price, amount) = (required(px, "data[].px")?, required(sz, "data[].sz")?);
        if price.mantissa <= 0 {
            return Err(Error::frame("data[].px", format!("{price} is not above 0")));
        }
        if amount.mantissa <= 0 {
            return Err(Error::frame("data[].sz", format!("{amount} is not above 0")));
        }
        if !hash {
            return Err(Error::frame("data[].hash", "missing field"));
        }
        let _ = users; // optional: the SDK type omits it, live data has it
        let ts = required(ts, "data[].time")?;
        let trade = TradeItem {
            price,
            size: amount,
            side: required(side, "data[].side")?,
            trade_id: TradeId::Int(required(tid, "data[].tid")?),
            trade_ts: ts,
            exchange_ts: ts,
        };
        let symbol = out.symbol(required(coin, "data[].coin")?);
        out.items.push(Item::Trade { symbol, trade });
        Ok(())
    }

    /// `trades` data: a list of trades (one push may carry several).
    fn trades(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        if c.begin_array("data")? {
            loop {
                Self::trade(c, out)?;
                if !c.more_elements("data")? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// `bbo` data: `{"coin","time","bbo":[bid|null, ask|null]}` (a missing side: 0 price/size).
    fn bbo(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut coin, mut ts, mut sides) = (None, None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"coin" => coin = Some(c.str("data.coin")?),
                b"time" => ts = Some(time(c, "data.time")?.1),
                b"bbo" => {
                    if !c.begin_array("data.bbo")? {
                        return Err(Error::frame("data.bbo", "expected [bid, ask]"));
                    }
                    let bid = if c.null() { RawLevel::default() } else { level(c, "data.bbo[0]")? };
                    if !c.more_elements("data.bbo")? {
                        return Err(Error::frame("data.bbo", "expected [bid, ask], found one side"));
                    }
                    let ask = if c.null() { RawLevel::default() } else { level(c, "data.bbo[1]")? };
                    if c.more_elements("data.bbo")? {
                        return Err(Error::frame("data.bbo", "expected [bid, ask], found more"));
                    }
                    sides = Some((bid, ask));
                }
                other => return Err(unknown("data", other)),
            }
        }
        let (bid, ask) = required(sides, "data.bbo")?;
        let exchange_ts = Some(required(ts, "data.time")?);
        let symbol = out.symbol(required(coin, "data.coin")?);
        out.items.push(Item::Bbo { symbol, bbo: BboItem { bid, ask, sequence: None, exchange_ts } });
        Ok(())
    }

    /// `candle` data: `{t, T, s, i, o, c, h, l, v, n}` (open and close ms, coin, interval, prices,
    /// base volume, trade count).
    fn candle(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut start, mut end, mut coin, mut interval, mut trades) = (None, None, None, None, None);
        let mut values: [Option<Dec>; 5] = [None; 5];
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"t" => start = Some(time(c, "data.t")?.1),
                b"T" => end = Some(time(c, "data.T")?),
                b"s" => coin = Some(c.str("data.s")?),
                b"i" => interval = Some(Interval::new(c.str("data.i")?, "data.i")?),
                b"o" => values[0] = Some(c.dec("data.o")?),
                b"h" => values[1] = Some(c.dec("data.h")?),
                b"l" => values[2] = Some(c.dec("data.l")?),
                b"c" => values[3] = Some(c.dec("data.c")?),
                b"v" => values[4] = Some(c.dec("data.v")?),
                b"n" => trades = Some(c.u64("data.n")?),
                other => return Err(unknown("data", other)),
            }
        }
        let names = ["data.o", "data.h", "data.l", "data.c", "data.v"];
        let mut v = [Dec::ZERO; 5];
        for ((dst, src), name) in v.iter_mut().zip(values).zip(names) {
            *dst = required(src, name)?;
            if dst.is_negative() {
                return Err(Error::frame(name, format!("{dst} is negative")));
            }
        }
        let start_ts = required(start, "data.t")?;
        // `T` is the candle's last ms: the candle covers up to the ns before the next ms.
        let (last_ms, _) = required(end, "data.T")?;
        let end_ts = ms_to_ns(last_ms + 1, "data.T")? - 1;
        if end_ts < start_ts {
            return Err(Error::frame("data.T", "ends before it starts"));
        }
        let [open, high, low, close, volume] = v;
        let candle = CandleItem {
            interval: required(interval, "data.i")?,
            start_ts,
            end_ts,
            open,
            high,
            low,
            close,
            volume,
            trades: Some(required(trades, "data.n")?),
            closed: None,
            exchange_ts: None,
        };
        let symbol = out.symbol(required(coin, "data.s")?);
        out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
        Ok(())
    }

    /// Any frame by the documented grammar, keys and fields checked one by one (every frame
    /// the `l2Book` fast path does not take).
    fn parse_strict(&self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let mut first = true;
        if !c.at_key(b"channel", &mut first) {
            return match c.next_key(&mut first)? {
                Some(b"channel") => Err(Error::frame("channel", "expected as the first key")),
                Some(other) => Err(Error::frame(
                    String::from_utf8_lossy(other).into_owned(),
                    "not a field of a Hyperliquid frame (expected \"channel\" first)",
                )),
                None => Err(Error::frame("channel", "missing field")),
            };
        }
        let channel = c.str("channel")?;
        let parse: fn(&mut Cursor<'_>, &mut Out) -> Result<(), Error> = match channel {
            "l2Book" => Self::book,
            "trades" => Self::trades,
            "bbo" => Self::bbo,
            "candle" => Self::candle,
            "subscriptionResponse" | "error" | "pong" => return self.control(frame, out),
            other => {
                return Err(Error::frame(
                    "channel",
                    format!("{other:?} is not a Hyperliquid public channel tickwire decodes"),
                ))
            }
        };
        if !c.at_key(b"data", &mut first) {
            return match c.next_key(&mut first)? {
                Some(b"data") => Err(Error::frame("data", "unexpected layout")),
                Some(other) => Err(unknown("frame", other)),
                None => Err(Error::frame("data", "missing field")),
            };
        }
        parse(&mut c, out)?;
        if c.next_key(&mut first)?.is_some() {
            return Err(Error::frame("frame", "a field after data"));
        }
        c.end()
    }

    /// A `subscriptionResponse`, `error` or `pong` frame.
    #[cold]
    fn control(&self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let f: ControlFrame = from_json(frame)?;
        let item = match (f.channel.as_str(), f.data) {
            ("pong", None) => {
                ControlItem { kind: ControlKind::Pong, request_id: None, topic: None, code: None, message: None }
            }
            ("error", Some(serde_json::Value::String(text))) => {
                ControlItem { kind: ControlKind::Error, request_id: None, topic: None, code: None, message: Some(text) }
            }
            ("error", _) => return Err(Error::frame("data", "an error's data is its text")),
            ("subscriptionResponse", Some(data)) => {
                let ack: AckData =
                    serde_json::from_value(data).map_err(|e| Error::frame("data", format!("not an ack: {e}")))?;
                if !matches!(ack.method.as_str(), "subscribe" | "unsubscribe") {
                    return Err(Error::frame(
                        "data.method",
                        format!("{:?} is neither subscribe nor unsubscribe", ack.method),
                    ));
                }
                let s = ack.subscription;
                let _ = (s.user, s.dex);
                let symbol = s.coin.as_deref().map(|coin| self.unified_symbol(coin));
                let topic = topic(&s.kind, symbol.as_deref(), s.interval.as_deref());
                ControlItem { kind: ControlKind::Ack, request_id: None, topic: Some(topic), code: None, message: None }
            }
            ("subscriptionResponse", None) => return Err(Error::frame("data", "missing field")),
            (other, _) => return Err(Error::frame("channel", format!("{other:?} is not a Hyperliquid reply"))),
        };
        out.items.push(Item::Control(item));
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Layout fast path for `l2Book` (every push is ~1.6 KB of 40 level objects): the frame exactly
// as Hyperliquid writes it, read byte by byte. Anything else, including every malformed frame,
// returns None with nothing kept, and the strict parser above reads (and names) it.
// ------------------------------------------------------------------------------------------

/// A byte reader over a frame for the fast path; every method returns None on a mismatch.
struct Bytes<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Bytes<'a> {
    #[inline(always)]
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + s.len())? == s {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// A non-negative integer as JSON writes it (no leading zero, at most 19 digits).
    #[inline(always)]
    fn int(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v = 0u64;
        while let Some(d) = self.peek().map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            self.i += 1;
        }
        let n = self.i - start;
        (n > 0 && n <= 19 && (n == 1 || self.b[start] != b'0')).then_some(v)
    }

    /// `"<decimal>"` as [`Cursor::dec`] reads it (the same decimal parser). Plain values of at
    /// most 8 digits each side of the '.' (every `px`/`sz` Hyperliquid writes: "105055.0",
    /// "3.03622") are read in SWAR steps ([`crate::fixed::quoted_dec`]), anything else by the
    /// digit loop; same values either way.
    #[inline(always)]
    fn dec(&mut self) -> Option<Dec> {
        self.lit(b"\"")?;
        if let Some((d, end)) = crate::fixed::quoted_dec(self.b, self.i) {
            self.i = end;
            return Some(d);
        }
        let (d, n) = crate::fixed::parse_dec_prefix(&self.b[self.i..], "px").ok()?;
        self.i += n;
        self.lit(b"\"")?;
        Some(d)
    }

    /// A coin name: letters, digits and `@`, `/`, `:` (no escapes), then the closing quote.
    #[inline(always)]
    fn coin(&mut self) -> Option<&'a str> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'@' | b'/' | b':')) {
            self.i += 1;
        }
        let s = &self.b[start..self.i];
        self.lit(b"\"")?;
        // ASCII checked above.
        (!s.is_empty()).then(|| std::str::from_utf8(s).ok()).flatten()
    }

    /// One side's level objects, `{"n":..,"px":..,"sz":..}` or `{"px":..,"sz":..,"n":..}`,
    /// appended to `side` (price and size above 0).
    #[inline(always)]
    fn side(&mut self, levels: &mut Vec<RawLevel>) -> Option<()> {
        self.lit(b"[")?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Some(());
        }
        loop {
            let (price, size) = if self.lit(b"{\"n\":").is_some() {
                self.int()?;
                self.lit(b",\"px\":")?;
                let p = self.dec()?;
                self.lit(b",\"sz\":")?;
                (p, self.dec()?)
            } else {
                self.lit(b"{\"px\":")?;
                let p = self.dec()?;
                self.lit(b",\"sz\":")?;
                let q = self.dec()?;
                self.lit(b",\"n\":")?;
                self.int()?;
                (p, q)
            };
            self.lit(b"}")?;
            if price.mantissa <= 0 || size.mantissa <= 0 {
                return None;
            }
            levels.push(RawLevel { price, size });
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `[[bids],[asks]]`.
    #[inline(always)]
    fn levels(&mut self, out: &mut Out) -> Option<()> {
        self.lit(b"[")?;
        self.side(&mut out.bids)?;
        self.lit(b",")?;
        self.side(&mut out.asks)?;
        self.lit(b"]")
    }

    /// `"time":<ms>` after its key.
    #[inline(always)]
    fn time(&mut self) -> Option<(u64, i64)> {
        let ms = self.int()?;
        Some((ms, ms_to_ns(ms, "data.time").ok()?))
    }

    /// A key (letters) and its colon, after the opening quote.
    #[inline(always)]
    fn key(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        let k = &self.b[start..self.i];
        self.lit(b"\":")?;
        Some(k)
    }

    /// `"0x<hex>"`. Eight hex digits a step while eight are there (a trade's `hash` has 64,
    /// each of its `users` 40), then byte by byte.
    #[inline(always)]
    fn hex(&mut self) -> Option<()> {
        self.lit(b"\"0x")?;
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            if !all_hex(u64::from_le_bytes(chunk.try_into().ok()?)) {
                break;
            }
            self.i += 8;
        }
        while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            self.i += 1;
        }
        self.lit(b"\"")
    }

    /// One trade object, keys in any order, each once; `users` (a list of hex addresses)
    /// optional as in the strict parser, every other documented key required.
    #[inline(always)]
    fn trade(&mut self, out: &mut Out) -> Option<()> {
        self.lit(b"{")?;
        let (mut coin, mut px, mut sz, mut side, mut tid, mut ts) = (None, None, None, None, None, None);
        let mut seen = 0u8;
        loop {
            self.lit(b"\"")?;
            let bit = match self.key()? {
                b"coin" => {
                    self.lit(b"\"")?;
                    coin = Some(self.coin()?);
                    1
                }
                b"px" => {
                    px = Some(self.dec()?);
                    2
                }
                b"sz" => {
                    sz = Some(self.dec()?);
                    4
                }
                b"side" => {
                    side = Some(if self.lit(b"\"B\"").is_some() {
                        Side::Buy
                    } else {
                        self.lit(b"\"A\"")?;
                        Side::Sell
                    });
                    8
                }
                b"tid" => {
                    tid = Some(self.int()?);
                    16
                }
                b"time" => {
                    ts = Some(self.time()?.1);
                    32
                }
                b"hash" => {
                    self.hex()?;
                    64
                }
                b"users" => {
                    self.lit(b"[")?;
                    loop {
                        self.hex()?;
                        if self.lit(b",").is_none() {
                            break;
                        }
                    }
                    self.lit(b"]")?;
                    128
                }
                _ => return None,
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            if self.lit(b",").is_none() {
                self.lit(b"}")?;
                break;
            }
        }
        let (price, amount, ts) = (px?, sz?, ts?);
        if seen & 64 == 0 || price.mantissa <= 0 || amount.mantissa <= 0 {
            return None;
        }
        let trade =
            TradeItem { price, size: amount, side: side?, trade_id: TradeId::Int(tid?), trade_ts: ts, exchange_ts: ts };
        let symbol = out.symbol(coin?);
        out.items.push(Item::Trade { symbol, trade });
        Some(())
    }
}

/// True if all 8 bytes of `x` are ASCII hex digits (`0-9`, `a-f`, `A-F`). With every byte below
/// 0x80 (checked), adding a constant below 0x80 to a byte cannot carry into the next one, so
/// the high bit of `byte + (0x80 - lo)` says `byte >= lo`, per byte.
#[inline(always)]
fn all_hex(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x80 * ONES;
    let at_least = |lo: u64| x.wrapping_add((0x80 - lo) * ONES);
    let digit = at_least(0x30) & !at_least(0x3A);
    let upper = at_least(0x41) & !at_least(0x47);
    let lower = at_least(0x61) & !at_least(0x67);
    x & HIGH == 0 && (digit | upper | lower) & HIGH == HIGH
}

/// The fast path of one `trades` frame: true if it read the frame whole (at least one trade).
#[inline]
fn fast_trades(frame: &[u8], out: &mut Out) -> bool {
    let items = out.items.len();
    let mut r = Bytes { b: frame, i: 0 };
    let done = (|| {
        r.lit(br#"{"channel":"trades","data":["#)?;
        loop {
            r.trade(out)?;
            if r.lit(b",").is_none() {
                break;
            }
        }
        r.lit(b"]}")?;
        (r.i == frame.len()).then_some(())
    })()
    .is_some();
    if !done {
        out.items.truncate(items);
    }
    done
}

/// The fast path of one `l2Book` frame (see above): true if it read the frame whole.
#[inline]
fn fast_book(frame: &[u8], out: &mut Out) -> bool {
    let from = (out.bids.len(), out.asks.len());
    let done = fast_book_inner(frame, out, from).is_some();
    if !done {
        out.bids.truncate(from.0);
        out.asks.truncate(from.1);
    }
    done
}

#[inline(always)]
fn fast_book_inner(frame: &[u8], out: &mut Out, from: (usize, usize)) -> Option<()> {
    let mut r = Bytes { b: frame, i: 0 };
    r.lit(br#"{"channel":"l2Book","data":{"coin":""#)?;
    let coin = r.coin()?;
    // `levels` then `time` (2025-01 BTC capture) or `time` then `levels` (HYPE excerpt).
    let (ms, ns) = if r.lit(br#","levels":"#).is_some() {
        r.levels(out)?;
        r.lit(br#","time":"#)?;
        r.time()?
    } else {
        r.lit(br#","time":"#)?;
        let t = r.time()?;
        r.lit(br#","levels":"#)?;
        r.levels(out)?;
        t
    };
    r.lit(b"}}")?;
    if r.i != frame.len() {
        return None;
    }
    let symbol = out.symbol(coin);
    let ids = SeqIds { first: ms, last: ms, prev: None };
    out.book(symbol, BookKind::Snapshot, Some(ids), None, None, Some(ns), from);
    Some(())
}

impl Venue for Hyperliquid {
    fn id(&self) -> &'static str {
        "hyperliquid"
    }

    fn market(&self) -> &'static str {
        self.market
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "Hyperliquid sends text frames only"));
        }
        if frame == GREETING {
            out.items.push(Item::Control(ControlItem {
                kind: ControlKind::Welcome,
                request_id: None,
                topic: None,
                code: None,
                message: None,
            }));
            return Ok(());
        }
        if fast_book(frame, out) || fast_trades(frame, out) {
            return Ok(());
        }
        if let Some(channel) = private_channel(frame) {
            return self.parse_private(channel, frame, out);
        }
        self.parse_strict(frame, out)
    }

    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
    }

    /// The REST fallback's book (`POST /info {"type":"l2Book","coin":..}`, see
    /// [`rest_l2_book`]). Hyperliquid pushes whole books on the WebSocket; this body only loads
    /// the fallback's own decoder.
    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        rest_l2_book(body, out)
    }

    /// The recent trades of a coin (`POST /info {"type":"recentTrades"}`, see
    /// [`recent_trades`]): what a reconnect missed, recovered by time and `tid`.
    fn parse_trades(&mut self, body: &[u8]) -> Result<Vec<TradeItem>, Error> {
        recent_trades(body)
    }

    /// A whole-book push older than the book (its `time`, ms, below the book's) is stale. An
    /// equal `time` is applied: the recording repeats a push with the same `time` and the same
    /// book, and of two pushes stamped alike the one that arrived later is the one to keep.
    fn stale_snapshot(&self, last: u64, ids: &SeqIds) -> bool {
        ids.last < last
    }

    /// Never used for books (every push is a snapshot); by `time` like
    /// [`Venue::stale_snapshot`]: older than the book is stale.
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        if ids.last < last {
            Verdict::Stale
        } else {
            Verdict::Apply
        }
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        if let Some(s) = self.symbols.get(market_id) {
            return s.clone();
        }
        unified(market_id).map_or_else(|| market_id.to_owned(), |(s, _)| s)
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        if let Some(id) = self.ids.get(symbol) {
            return Ok(id.clone());
        }
        if let Some(coin) = perp_coin(symbol) {
            return Ok(coin.to_owned());
        }
        match unified(symbol) {
            Some((_, "spot")) if symbol == "PURR/USDC" => Ok(symbol.to_owned()),
            _ => Err(Error::invalid(
                "symbol",
                symbol,
                "not a Hyperliquid perp (BTC/USDC:USDC), or a spot pair (HYPE/USDC) without the spotMeta table",
            )),
        }
    }

    /// `POST /info` `userFillsByTime` / `userFills` (fills: a list of fill objects) and
    /// `historicalOrders` (orders: a list of `{order, status, statusTimestamp}`), in the body's
    /// order.
    fn parse_account(&mut self, what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        match what {
            AccountList::Fills => {
                let fills: Vec<WsFill> = from_json(body)?;
                for f in fills {
                    self.private.fill(f, None, out)?;
                }
            }
            AccountList::Orders => {
                let orders: Vec<WsOrder> = from_json(body)?;
                for o in orders {
                    order(o, out)?;
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Private (user) channels, hyperliquid.md §7-§8: no login, no signature; subscriptions name a
// public user address (`{"type":"userFills","user":"0x.."}`), and their acks carry topic
// `"<type>"` (no coin). Rare next to market data, so parsed with serde, strictly: a field the
// docs do not list is a `Frame` error naming it (`webData2` excepted: it is the web UI's whole
// state and only its `clearinghouseState` is read).
//
// - `orderUpdates`: `[{"order":{coin, side, limitPx, sz (left), oid, timestamp, origSz, cloid?,
//   and the frontend fields reduceOnly?, orderType?, tif?, triggerPx?, triggerCondition?,
//   isTrigger?, isPositionTpsl?, children?}, "status", "statusTimestamp"}]` -> one
//   `Item::Order` each. Statuses onto `OrderStatus`:
//
//   | Hyperliquid                            | OrderStatus                              |
//   |----------------------------------------|------------------------------------------|
//   | `open`                                 | New (PartiallyFilled once `sz < origSz`) |
//   | `triggered`                            | New (a trigger order now on the book)    |
//   | `filled`                               | Filled                                   |
//   | `canceled`, `*Canceled`, `scheduledCancel` | Canceled                             |
//   | `rejected`, `*Rejected`                | Rejected                                 |
//
//   `size` = `origSz`, `filled_size` = `origSz - sz`; `price` = `limitPx`; `order_type` from
//   `orderType` ("Limit", "Market", "Stop Market", ...; absent: limit, as every Hyperliquid
//   order is a limit order), `time_in_force` from `tif` (`Gtc`, `Ioc`, `Alo` -> post_only,
//   `FrontendMarket` -> ioc; absent: None); `created_ts` = `timestamp`, `exchange_ts` =
//   `statusTimestamp`; no average price.
// - `userFills`: `{"isSnapshot"?: true, "user", "fills": [fill]}` and `userEvents` (channel
//   `user`): `{"fills": [fill]}` (its other events, `funding`, `liquidation`,
//   `nonUserCancel`, carry no fill or order state and give no item). A fill: `coin, px, sz,
//   side ("B" buy / "A" sell), time, startPosition, dir, closedPnl, hash, oid, crossed (true =
//   taker), fee, tid, feeToken, cloid?, builderFee?, liquidation?, twapId?` -> `Item::Fill`:
//   `trade_id` = `tid`, `is_maker` = `!crossed`, `fee` as written (Hyperliquid already writes
//   a rebate negative), `liquidation`: with a `liquidation` object, whether its
//   `liquidatedUser` is this connection's user (known from a `userFills` or `webData2` frame;
//   None before that), false without one. The snapshot a (re)subscription sends first is
//   delivered like any fill: the feed dedupes fills by `tid`, so its fills already delivered
//   are dropped and the ones made while disconnected are not lost.
// - `webData2`: `{"clearinghouseState":{marginSummary, crossMarginSummary,
//   crossMaintenanceMarginUsed, withdrawable, assetPositions, time}, ...}` -> one
//   `Item::Position` per `assetPositions` entry (`szi` signed -> side and size; `entryPx`,
//   `unrealizedPnl`, `liquidationPx`, `leverage.value`, `leverage.type`; no mark price: the
//   venue gives none here) plus a flat `Position` for each coin listed in this connection's
//   previous push and gone from this one (Hyperliquid drops closed positions), then one
//   `Balance` of `USDC`, the perp margin account: `total` = `marginSummary.accountValue`
//   (includes unrealized PnL), `locked` = `totalMarginUsed`, `free` = `withdrawable`.
//   Spot balances are not read.
// ------------------------------------------------------------------------------------------

/// The user channels tickwire decodes (`user` is the channel of `userEvents`).
const PRIVATE_CHANNELS: &[&str] = &["orderUpdates", "userFills", "user", "webData2"];

/// The user channel of `frame`, if it is one: `{"channel":"<name>"` first, as Hyperliquid
/// writes it (whitespace around the colon allowed).
#[inline]
fn private_channel(frame: &[u8]) -> Option<&'static str> {
    let skip = |b: &[u8]| -> usize { b.iter().take_while(|c| c.is_ascii_whitespace()).count() };
    let rest = frame.strip_prefix(b"{")?;
    let rest = rest[skip(rest)..].strip_prefix(b"\"channel\"")?;
    let rest = rest[skip(rest)..].strip_prefix(b":")?;
    let rest = rest[skip(rest)..].strip_prefix(b"\"")?;
    PRIVATE_CHANNELS
        .iter()
        .copied()
        .find(|name| rest.strip_prefix(name.as_bytes()).is_some_and(|tail| tail.first() == Some(&b'"')))
}

/// State the user channels keep per connection.
#[derive(Debug, Default)]
struct PrivateState {
    /// The user address this connection reads (lowercase), from `userFills` / `webData2`.
    user: Option<String>,
    /// Coins with an open position in the last `webData2` push.
    positions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivFrame<T> {
    #[serde(rename = "channel")]
    _channel: String,
    data: T,
}

/// `orderUpdates` item and `historicalOrders` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsOrder {
    order: WsBasicOrder,
    status: String,
    #[serde(rename = "statusTimestamp")]
    status_timestamp: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsBasicOrder {
    coin: String,
    side: String,
    #[serde(rename = "limitPx")]
    limit_px: String,
    sz: String,
    oid: u64,
    timestamp: u64,
    #[serde(rename = "origSz")]
    orig_sz: String,
    #[serde(default)]
    cloid: Option<String>,
    #[serde(default, rename = "reduceOnly")]
    reduce_only: Option<bool>,
    #[serde(default, rename = "orderType")]
    order_type: Option<String>,
    #[serde(default)]
    tif: Option<String>,
    #[serde(default, rename = "triggerPx")]
    trigger_px: Option<String>,
    #[serde(default, rename = "triggerCondition")]
    _trigger_condition: Option<String>,
    #[serde(default, rename = "isTrigger")]
    is_trigger: Option<bool>,
    #[serde(default, rename = "isPositionTpsl")]
    _is_position_tpsl: Option<bool>,
    #[serde(default, rename = "children")]
    _children: Option<serde_json::Value>,
}

/// A fill object (`userFills`, `userEvents`, `userFillsByTime`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsFill {
    coin: String,
    px: String,
    sz: String,
    side: String,
    time: u64,
    #[serde(rename = "startPosition")]
    _start_position: String,
    #[serde(rename = "dir")]
    _dir: String,
    #[serde(rename = "closedPnl")]
    _closed_pnl: String,
    #[serde(rename = "hash")]
    _hash: String,
    oid: u64,
    crossed: bool,
    fee: String,
    tid: u64,
    #[serde(rename = "feeToken")]
    fee_token: String,
    #[serde(default)]
    cloid: Option<String>,
    #[serde(default, rename = "builderFee")]
    _builder_fee: Option<String>,
    #[serde(default)]
    liquidation: Option<WsLiquidation>,
    #[serde(default, rename = "twapId")]
    _twap_id: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsLiquidation {
    #[serde(rename = "liquidatedUser")]
    liquidated_user: Option<String>,
    #[serde(rename = "markPx")]
    _mark_px: String,
    #[serde(rename = "method")]
    _method: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsUserFills {
    #[serde(default, rename = "isSnapshot")]
    _is_snapshot: Option<bool>,
    user: String,
    fills: Vec<WsFill>,
}

/// `userEvents` data: one of `fills`, `funding`, `liquidation`, `nonUserCancel`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsUserEvent {
    #[serde(default)]
    fills: Option<Vec<WsFill>>,
    #[serde(default, rename = "funding")]
    _funding: Option<serde_json::Value>,
    #[serde(default, rename = "liquidation")]
    _liquidation: Option<serde_json::Value>,
    #[serde(default, rename = "nonUserCancel")]
    _non_user_cancel: Option<serde_json::Value>,
}

/// `webData2` data: only `clearinghouseState` (and the `user`) is read.
#[derive(Deserialize)]
struct WsWebData2 {
    #[serde(default, rename = "clearinghouseState")]
    clearinghouse: Option<WsClearinghouse>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsClearinghouse {
    #[serde(rename = "marginSummary")]
    margin_summary: WsMarginSummary,
    #[serde(rename = "crossMarginSummary")]
    _cross_margin_summary: WsMarginSummary,
    #[serde(rename = "crossMaintenanceMarginUsed")]
    _cross_maintenance_margin_used: String,
    withdrawable: String,
    #[serde(rename = "assetPositions")]
    asset_positions: Vec<WsAssetPosition>,
    time: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsMarginSummary {
    #[serde(rename = "accountValue")]
    account_value: String,
    #[serde(rename = "totalNtlPos")]
    _total_ntl_pos: String,
    #[serde(rename = "totalRawUsd")]
    _total_raw_usd: String,
    #[serde(rename = "totalMarginUsed")]
    total_margin_used: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsAssetPosition {
    #[serde(rename = "type")]
    _kind: String,
    position: WsPosition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsPosition {
    coin: String,
    szi: String,
    leverage: WsLeverage,
    #[serde(rename = "entryPx")]
    entry_px: Option<String>,
    #[serde(rename = "positionValue")]
    _position_value: String,
    #[serde(rename = "unrealizedPnl")]
    unrealized_pnl: String,
    #[serde(rename = "returnOnEquity")]
    _return_on_equity: String,
    #[serde(rename = "liquidationPx")]
    liquidation_px: Option<String>,
    #[serde(rename = "marginUsed")]
    _margin_used: String,
    #[serde(rename = "maxLeverage")]
    _max_leverage: u32,
    #[serde(rename = "cumFunding")]
    _cum_funding: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WsLeverage {
    #[serde(rename = "type")]
    kind: String,
    value: u32,
    #[serde(default, rename = "rawUsd")]
    _raw_usd: Option<String>,
}

/// `text` as a decimal of `field`.
fn dec(text: &str, field: &'static str) -> Result<Dec, Error> {
    crate::fixed::parse_dec(text, field)
}

/// `a - b`, exactly (None if it does not fit a [`Dec`]).
fn dec_sub(minuend: Dec, subtrahend: Dec) -> Option<Dec> {
    let width = minuend.width.max(subtrahend.width);
    let mantissa = minuend.to_scale(width)?.checked_sub(subtrahend.to_scale(width)?)?;
    Some(Dec { mantissa, width })
}

fn side_of(letter: &str, field: &'static str) -> Result<Side, Error> {
    match letter {
        "B" => Ok(Side::Buy),
        "A" => Ok(Side::Sell),
        other => Err(Error::frame(field, format!("{other:?} is neither B nor A"))),
    }
}

/// A Hyperliquid order status onto [`OrderStatus`] (see the table above); `partial`: some of
/// the order is filled.
fn order_status(status: &str, partial: bool) -> Result<OrderStatus, Error> {
    Ok(match status {
        "open" | "triggered" if partial => OrderStatus::PartiallyFilled,
        "open" | "triggered" => OrderStatus::New,
        "filled" => OrderStatus::Filled,
        "canceled" | "scheduledCancel" => OrderStatus::Canceled,
        "rejected" => OrderStatus::Rejected,
        s if s.ends_with("Canceled") => OrderStatus::Canceled,
        s if s.ends_with("Rejected") => OrderStatus::Rejected,
        other => return Err(Error::frame("status", format!("{other:?} is not a Hyperliquid order status"))),
    })
}

fn order_kind(name: Option<&str>) -> Result<&'static str, Error> {
    Ok(match name {
        None | Some("Limit") => order_type::LIMIT,
        Some("Market") => order_type::MARKET,
        Some("Stop Market") => order_type::STOP_MARKET,
        Some("Stop Limit") => order_type::STOP_LIMIT,
        Some("Take Profit Market") => order_type::TAKE_PROFIT_MARKET,
        Some("Take Profit Limit") => order_type::TAKE_PROFIT_LIMIT,
        Some(other) => {
            return Err(Error::frame("order.orderType", format!("{other:?} is not a Hyperliquid order type")))
        }
    })
}

fn tif_of(name: Option<&str>) -> Result<Option<&'static str>, Error> {
    Ok(match name {
        None => None,
        Some("Gtc") => Some(time_in_force::GTC),
        Some("Ioc" | "FrontendMarket") => Some(time_in_force::IOC),
        Some("Alo") => Some(time_in_force::POST_ONLY),
        Some(other) => return Err(Error::frame("order.tif", format!("{other:?} is not a Hyperliquid time in force"))),
    })
}

/// One `orderUpdates` / `historicalOrders` entry as an [`Item::Order`].
fn order(o: WsOrder, out: &mut Out) -> Result<(), Error> {
    let b = o.order;
    let size = dec(&b.orig_sz, "order.origSz")?;
    let left = dec(&b.sz, "order.sz")?;
    let filled = dec_sub(size, left).ok_or_else(|| Error::frame("order.sz", "origSz - sz does not fit"))?;
    if filled.is_negative() || left.is_negative() {
        return Err(Error::frame("order.sz", format!("{left} left of {size}")));
    }
    let price = dec(&b.limit_px, "order.limitPx")?;
    let trigger = match (b.is_trigger, b.trigger_px.as_deref()) {
        (Some(true), Some(px)) => Some(dec(px, "order.triggerPx")?),
        _ => None,
    };
    let item = OrderItem {
        symbol: out.symbol(&b.coin),
        order_id: b.oid.to_string(),
        client_order_id: b.cloid,
        side: side_of(&b.side, "order.side")?,
        order_type: order_kind(b.order_type.as_deref())?,
        time_in_force: tif_of(b.tif.as_deref())?,
        status: order_status(&o.status, filled.mantissa != 0)?,
        price: (price.mantissa != 0).then_some(price),
        trigger_price: trigger,
        size,
        filled_size: filled,
        average_price: None,
        reduce_only: b.reduce_only,
        created_ts: Some(ms_to_ns(b.timestamp, "order.timestamp")?),
        exchange_ts: ms_to_ns(o.status_timestamp, "statusTimestamp")?,
    };
    out.items.push(Item::Order(Box::new(item)));
    Ok(())
}

impl PrivateState {
    /// One fill object as an [`Item::Fill`]; `user`: the address the frame names, else the
    /// connection's.
    fn fill(&self, f: WsFill, user: Option<&str>, out: &mut Out) -> Result<(), Error> {
        let user = user.or(self.user.as_deref());
        let liquidation = match (&f.liquidation, user) {
            (None, _) => Some(false),
            (Some(l), Some(me)) => Some(l.liquidated_user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(me))),
            (Some(_), None) => None,
        };
        let (price, size) = (dec(&f.px, "fills[].px")?, dec(&f.sz, "fills[].sz")?);
        if price.mantissa <= 0 || size.mantissa <= 0 {
            return Err(Error::frame("fills[]", format!("price {price} and size {size} must be above 0")));
        }
        let item = FillItem {
            symbol: out.symbol(&f.coin),
            trade_id: f.tid.to_string(),
            order_id: f.oid.to_string(),
            client_order_id: f.cloid,
            side: side_of(&f.side, "fills[].side")?,
            price,
            size,
            fee: Some(dec(&f.fee, "fills[].fee")?),
            fee_asset: Some(f.fee_token),
            is_maker: Some(!f.crossed),
            liquidation,
            exchange_ts: ms_to_ns(f.time, "fills[].time")?,
        };
        out.items.push(Item::Fill(Box::new(item)));
        Ok(())
    }

    /// `webData2`'s `clearinghouseState`: positions (and flat ones for coins gone), then the
    /// USDC margin balance.
    fn clearinghouse(&mut self, ch: WsClearinghouse, out: &mut Out) -> Result<(), Error> {
        let ts = ms_to_ns(ch.time, "clearinghouseState.time")?;
        let mut open = Vec::with_capacity(ch.asset_positions.len());
        for ap in ch.asset_positions {
            let p = ap.position;
            let signed = dec(&p.szi, "position.szi")?;
            let side = match signed.mantissa.signum() {
                1 => PositionSide::Long,
                -1 => PositionSide::Short,
                _ => PositionSide::Flat,
            };
            let margin_mode = match p.leverage.kind.as_str() {
                "cross" => MarginMode::Cross,
                "isolated" => MarginMode::Isolated,
                other => {
                    return Err(Error::frame(
                        "position.leverage.type",
                        format!("{other:?} is neither cross nor isolated"),
                    ))
                }
            };
            let item = PositionItem {
                symbol: out.symbol(&p.coin),
                side,
                size: Dec { mantissa: signed.mantissa.abs(), width: signed.width },
                entry_price: p.entry_px.as_deref().map(|t| dec(t, "position.entryPx")).transpose()?,
                mark_price: None,
                unrealized_pnl: Some(dec(&p.unrealized_pnl, "position.unrealizedPnl")?),
                liquidation_price: p.liquidation_px.as_deref().map(|t| dec(t, "position.liquidationPx")).transpose()?,
                leverage: Some(Dec { mantissa: i64::from(p.leverage.value), width: 0 }),
                margin_mode: Some(margin_mode),
                exchange_ts: ts,
            };
            out.items.push(Item::Position(Box::new(item)));
            if side != PositionSide::Flat {
                open.push(p.coin);
            }
        }
        for gone in self.positions.iter().filter(|c| !open.contains(c)) {
            let item = PositionItem {
                symbol: out.symbol(gone),
                side: PositionSide::Flat,
                size: Dec::ZERO,
                entry_price: None,
                mark_price: None,
                unrealized_pnl: None,
                liquidation_price: None,
                leverage: None,
                margin_mode: None,
                exchange_ts: ts,
            };
            out.items.push(Item::Position(Box::new(item)));
        }
        self.positions = open;
        let m = ch.margin_summary;
        let balance = BalanceItem {
            asset: "USDC".to_owned(),
            free: Some(dec(&ch.withdrawable, "clearinghouseState.withdrawable")?),
            locked: Some(dec(&m.total_margin_used, "marginSummary.totalMarginUsed")?),
            total: Some(dec(&m.account_value, "marginSummary.accountValue")?),
            exchange_ts: ts,
        };
        out.items.push(Item::Balance(Box::new(balance)));
        Ok(())
    }
}

impl Hyperliquid {
    /// A user channel frame (`channel` one of [`PRIVATE_CHANNELS`]).
    #[cold]
    fn parse_private(&mut self, channel: &str, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        match channel {
            "orderUpdates" => {
                let f: PrivFrame<Vec<WsOrder>> = from_json(frame)?;
                for o in f.data {
                    order(o, out)?;
                }
            }
            "userFills" => {
                let f: PrivFrame<WsUserFills> = from_json(frame)?;
                let user = f.data.user.to_ascii_lowercase();
                for fill in f.data.fills {
                    self.private.fill(fill, Some(&user), out)?;
                }
                self.private.user = Some(user);
            }
            "user" => {
                let f: PrivFrame<WsUserEvent> = from_json(frame)?;
                for fill in f.data.fills.unwrap_or_default() {
                    self.private.fill(fill, None, out)?;
                }
            }
            _ => {
                let f: PrivFrame<WsWebData2> = from_json(frame)?;
                if let Some(user) = f.data.user {
                    self.private.user = Some(user.to_ascii_lowercase());
                }
                if let Some(ch) = f.data.clearinghouse {
                    self.private.clearinghouse(ch, out)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod private_tests {
    use super::*;

    fn parse(v: &mut Box<dyn Venue>, frame: &str) -> Result<Vec<Item>, Error> {
        let mut out = Out::default();
        v.parse(frame.as_bytes(), false, &mut out)?;
        Ok(out.items)
    }

    fn venue() -> Box<dyn Venue> {
        FACTORY.create("linear", &[]).unwrap()
    }

    fn d(s: &str) -> Dec {
        crate::fixed::parse_dec(s, "t").unwrap()
    }

    #[test]
    fn order_update_docs_example() {
        // docs_tier jkorf_examples.jsonl line 6 (orderUpdates)
        let frame = r#"{"channel":"orderUpdates","data":[{"order":{"coin":"@107","side":"B","limitPx":"30.0","sz":"0.49","oid":1,"timestamp":1764843090519,"origSz":"0.49"},"status":"open","statusTimestamp":1764843090519}]}"#;
        let items = parse(&mut venue(), frame).unwrap();
        let [Item::Order(o)] = items.as_slice() else { panic!("{items:?}") };
        assert_eq!(o.order_id, "1");
        assert_eq!(o.client_order_id, None);
        assert_eq!(o.side, Side::Buy);
        assert_eq!(o.order_type, "limit");
        assert_eq!(o.time_in_force, None);
        assert_eq!(o.status, OrderStatus::New);
        assert_eq!(o.price, Some(d("30.0")));
        assert_eq!(o.size, d("0.49"));
        assert!(o.filled_size.same_value(Dec::ZERO));
        assert_eq!(o.created_ts, Some(1_764_843_090_519_000_000));
        assert_eq!(o.exchange_ts, 1_764_843_090_519_000_000);
    }

    #[test]
    fn statuses_map_onto_the_normalized_enum() {
        for (status, sz, want) in [
            ("open", "1", OrderStatus::New),
            ("open", "0.4", OrderStatus::PartiallyFilled),
            ("filled", "0", OrderStatus::Filled),
            ("canceled", "1", OrderStatus::Canceled),
            ("marginCanceled", "1", OrderStatus::Canceled),
            ("rejected", "1", OrderStatus::Rejected),
            ("perpMarginRejected", "1", OrderStatus::Rejected),
        ] {
            let frame = format!(
                r#"{{"channel":"orderUpdates","data":[{{"order":{{"coin":"BTC","side":"A","limitPx":"1.0","sz":"{sz}","oid":7,"timestamp":1,"origSz":"1"}},"status":"{status}","statusTimestamp":2}}]}}"#
            );
            let items = parse(&mut venue(), &frame).unwrap();
            let [Item::Order(o)] = items.as_slice() else { panic!("{items:?}") };
            assert_eq!(o.status, want, "{status} {sz}");
        }
        let bad = r#"{"channel":"orderUpdates","data":[{"order":{"coin":"BTC","side":"A","limitPx":"1.0","sz":"1","oid":7,"timestamp":1,"origSz":"1"},"status":"weird","statusTimestamp":2}]}"#;
        assert!(matches!(parse(&mut venue(), bad), Err(Error::Frame { .. })));
    }

    #[test]
    fn all_hex_is_is_ascii_hexdigit_on_every_byte() {
        // Every byte value in every position, among hex digits: the word check agrees with
        // `is_ascii_hexdigit` on all of them.
        for pos in 0..8 {
            for byte in 0..=255u8 {
                let mut w = *b"09afAF7e";
                w[pos] = byte;
                assert_eq!(all_hex(u64::from_le_bytes(w)), w.iter().all(u8::is_ascii_hexdigit), "{w:?}");
            }
        }
    }

    #[test]
    fn hex_fast_path_and_fallback() {
        // A trade whose hash/users are hex of lengths the 8-byte steps and the byte loop share
        // reads on the fast path; a non-hex byte anywhere in them sends it to the strict parser.
        let trade = |hash: &str, user: &str| {
            format!(
                r#"{{"channel":"trades","data":[{{"coin":"BTC","hash":"0x{hash}","px":"105056.0","side":"B","sz":"0.02222","tid":917211710228416,"time":1737918847000,"users":["0x{user}","0x6802b4267f7f2bf7003dcf993c51542245b38329"]}}]}}"#
            )
        };
        let good = trade(&"0a1B".repeat(16), "8a43b5424eb06a3e79bc6036c8cae55417fada0");
        let mut out = Out::default();
        assert!(fast_trades(good.as_bytes(), &mut out));
        assert_eq!(out.items.len(), 1);
        for bad in [
            trade(&format!("{}g{}", "0".repeat(20), "1".repeat(43)), "ab"),
            trade("00", &format!("{}\\u0030", "a".repeat(9))),
        ] {
            let mut out = Out::default();
            assert!(!fast_trades(bad.as_bytes(), &mut out), "{bad}");
            assert!(out.items.is_empty());
        }
        // The general path still reads the good one alike.
        assert_eq!(parse(&mut venue(), &good).unwrap().len(), 1);
    }

    #[test]
    fn unknown_fields_are_named() {
        let frame = r#"{"channel":"orderUpdates","data":[{"order":{"coin":"BTC","side":"A","limitPx":"1.0","sz":"1","oid":7,"timestamp":1,"origSz":"1","extra":1},"status":"open","statusTimestamp":2}]}"#;
        let Err(Error::Frame { field, .. }) = parse(&mut venue(), frame) else { panic!() };
        assert!(field.contains("order"), "{field}");
    }

    #[test]
    fn real_liquidation_fill_is_ours_only_when_we_are_the_liquidated_user() {
        let real = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hyperliquid/private/private_user_fill_liquidation.jsonl"),
        )
        .unwrap();
        let real = real.trim();
        // no user known yet: not known whose liquidation it is
        let items = parse(&mut venue(), real).unwrap();
        let [Item::Fill(f)] = items.as_slice() else { panic!("{items:?}") };
        assert_eq!(f.liquidation, None);
        assert_eq!(f.trade_id, "745210434703679");
        assert_eq!(f.order_id, "55030848197");
        assert_eq!(f.side, Side::Sell);
        assert_eq!(f.fee, Some(d("0.009997")));
        assert_eq!(f.is_maker, Some(true));
        // after a userFills snapshot names the liquidated user, it is ours
        for (user, want) in [
            ("0x360878d351f05975e25f1807a27895e1e5e004fb", true),
            ("0x00000000000000000000000000000000000000aa", false),
        ] {
            let mut v = venue();
            let snap = format!(r#"{{"channel":"userFills","data":{{"isSnapshot":true,"user":"{user}","fills":[]}}}}"#);
            assert!(parse(&mut v, &snap).unwrap().is_empty());
            let items = parse(&mut v, real).unwrap();
            let [Item::Fill(f)] = items.as_slice() else { panic!("{items:?}") };
            assert_eq!(f.liquidation, Some(want));
        }
    }

    #[test]
    fn web_data2_positions_balance_and_closed_positions() {
        let push = |szi: Option<&str>| {
            let positions = szi.map_or(String::new(), |s| {
                format!(
                    r#"{{"type":"oneWay","position":{{"coin":"BTC","szi":"{s}","leverage":{{"type":"cross","value":10}},"entryPx":"100.5","positionValue":"201.0","unrealizedPnl":"-1.5","returnOnEquity":"-0.07","liquidationPx":null,"marginUsed":"20.1","maxLeverage":50,"cumFunding":{{"allTime":"0.0","sinceOpen":"0.0","sinceChange":"0.0"}}}}}}"#
                )
            });
            format!(
                r#"{{"channel":"webData2","data":{{"clearinghouseState":{{"marginSummary":{{"accountValue":"998.5","totalNtlPos":"201.0","totalRawUsd":"797.5","totalMarginUsed":"20.1"}},"crossMarginSummary":{{"accountValue":"998.5","totalNtlPos":"201.0","totalRawUsd":"797.5","totalMarginUsed":"20.1"}},"crossMaintenanceMarginUsed":"10.05","withdrawable":"978.4","assetPositions":[{positions}],"time":1700000000000}},"serverTime":1700000000001,"user":"0xAB"}}}}"#
            )
        };
        let mut v = venue();
        let items = parse(&mut v, &push(Some("-2.0"))).unwrap();
        let [Item::Position(p), Item::Balance(b)] = items.as_slice() else { panic!("{items:?}") };
        assert_eq!((p.side, p.size), (PositionSide::Short, d("2.0")));
        assert_eq!(p.entry_price, Some(d("100.5")));
        assert_eq!(p.unrealized_pnl, Some(d("-1.5")));
        assert_eq!(p.liquidation_price, None);
        assert_eq!(p.leverage, Some(Dec { mantissa: 10, width: 0 }));
        assert_eq!(p.margin_mode, Some(MarginMode::Cross));
        assert_eq!(p.exchange_ts, 1_700_000_000_000_000_000);
        assert_eq!(
            (b.asset.as_str(), b.free, b.locked, b.total),
            ("USDC", Some(d("978.4")), Some(d("20.1")), Some(d("998.5")))
        );
        // the position is gone from the next push: a flat position
        let items = parse(&mut v, &push(None)).unwrap();
        let [Item::Position(p), Item::Balance(_)] = items.as_slice() else { panic!("{items:?}") };
        assert_eq!((p.side, p.size), (PositionSide::Flat, Dec::ZERO));
        // and only once
        let items = parse(&mut v, &push(None)).unwrap();
        assert!(matches!(items.as_slice(), [Item::Balance(_)]));
    }

    #[test]
    fn user_events_without_fills_give_nothing() {
        let frame = r#"{"channel":"user","data":{"funding":{"coin":"BTC","usdc":"-1.0"}}}"#;
        assert!(parse(&mut venue(), frame).unwrap().is_empty());
    }

    #[test]
    fn rest_lists() {
        let mut v = venue();
        let fills = r#"[{"coin":"BTC","px":"66653.0","sz":"0.001","side":"A","time":1781528065899,"startPosition":"-0.0213","dir":"Open Short","closedPnl":"0.0","hash":"0x01","oid":5,"crossed":true,"fee":"-0.001","tid":9,"feeToken":"USDC","twapId":null}]"#;
        let mut out = Out::default();
        v.parse_account(AccountList::Fills, fills.as_bytes(), &mut out).unwrap();
        let [Item::Fill(f)] = out.items.as_slice() else { panic!() };
        assert_eq!(
            (f.trade_id.as_str(), f.is_maker, f.fee, f.liquidation),
            ("9", Some(false), Some(d("-0.001")), Some(false))
        );
        let orders = r#"[{"order":{"coin":"BTC","side":"B","limitPx":"50000.0","sz":"0.0","oid":3,"timestamp":10,"origSz":"0.2","cloid":"0x0a","reduceOnly":false,"orderType":"Limit","tif":"Alo","triggerPx":"0.0","triggerCondition":"N/A","isTrigger":false,"isPositionTpsl":false,"children":[]},"status":"filled","statusTimestamp":11}]"#;
        let mut out = Out::default();
        v.parse_account(AccountList::Orders, orders.as_bytes(), &mut out).unwrap();
        let [Item::Order(o)] = out.items.as_slice() else { panic!() };
        assert_eq!(o.status, OrderStatus::Filled);
        assert_eq!(o.time_in_force, Some("post_only"));
        assert_eq!(o.reduce_only, Some(false));
        assert_eq!(o.trigger_price, None);
        assert!(o.filled_size.same_value(d("0.2")));
        assert!(matches!(v.parse_account(AccountList::Fills, b"{}", &mut Out::default()), Err(Error::Frame { .. })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue() -> Box<dyn Venue> {
        FACTORY.create("linear", &[]).unwrap()
    }

    fn parse(frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        venue().parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    /// The `l2Book` and `trades` frames of the recordings (tests/fixtures/hyperliquid).
    fn recorded(channel: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid");
        let head = format!(r#"{{"channel":"{channel}""#);
        ["l2book_trades_btc_20250126.jsonl", "recorded_excerpt_hype_20250112.jsonl"]
            .iter()
            .flat_map(|f| {
                std::fs::read(dir.join(f)).unwrap().split(|&b| b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>()
            })
            .filter(|l| l.starts_with(head.as_bytes()))
            .collect()
    }

    fn strict(frame: &[u8]) -> Result<Out, Error> {
        let v = Hyperliquid {
            market: "linear",
            symbols: HashMap::new(),
            ids: HashMap::new(),
            private: PrivateState::default(),
        };
        let mut out = Out::default();
        v.parse_strict(frame, &mut out)?;
        Ok(out)
    }

    fn fast(frame: &[u8]) -> Option<Out> {
        let mut out = Out::default();
        let taken = fast_book(frame, &mut out) || fast_trades(frame, &mut out);
        assert!(taken || (out.items.is_empty() && out.bids.is_empty() && out.asks.is_empty()));
        taken.then_some(out)
    }

    fn same_out(a: &Out, b: &Out) -> bool {
        a.items == b.items && a.bids == b.bids && a.asks == b.asks && a.market_ids() == b.market_ids()
    }

    #[test]
    fn fast_path_reads_every_recorded_push_as_the_strict_parser() {
        let frames = [recorded("l2Book"), recorded("trades")].concat();
        assert!(frames.len() > 50);
        for frame in &frames {
            let f = fast(frame).expect("every recorded push takes the fast path");
            assert!(same_out(&f, &strict(frame).unwrap()));
        }
    }

    #[test]
    fn fast_path_never_takes_what_the_strict_parser_refuses() {
        // Every byte of two recorded pushes (one per key order) replaced by each of a few
        // characters, and every prefix: where the fast path takes the result, the strict
        // parser reads the same; where the strict parser refuses it, the fast path did not
        // take it.
        let books = recorded("l2Book");
        let trades = recorded("trades");
        // The smallest BTC trades push, and the first trade of the HYPE push (the other key
        // order) as a push of its own.
        let small = trades.iter().min_by_key(|t| t.len()).unwrap().clone();
        let hype = trades.iter().find(|t| t.windows(6).any(|w| w == b"\"HYPE\"")).unwrap();
        let end = hype.windows(3).position(|w| w == b"]},").unwrap() + 2;
        let one = [&hype[..end], b"]}"].concat();
        let samples = [&books[0], books.last().unwrap(), &small, &one];
        let mut taken = 0;
        for frame in samples {
            assert!(fast(frame).is_some());
            for i in 0..frame.len() {
                for c in [b'0', b'9', b'-', b'.', b'"', b' ', b'}', b',', b'x', b'\\'] {
                    let mut m = frame.clone();
                    m[i] = c;
                    match (fast(&m), strict(&m)) {
                        (Some(f), Ok(s)) => {
                            assert!(same_out(&f, &s), "byte {i} -> {}", c as char);
                            taken += 1;
                        }
                        (Some(_), Err(e)) => {
                            panic!("byte {i} -> {}: fast path took what strict refuses: {e}", c as char)
                        }
                        (None, _) => {}
                    }
                }
                assert!(fast(&frame[..i]).is_none() && strict(&frame[..i]).is_err(), "prefix {i}");
            }
        }
        assert!(taken > 0);
    }

    #[test]
    fn symbols_both_ways() {
        let v = venue();
        assert_eq!(v.unified_symbol("BTC"), "BTC/USDC:USDC");
        assert_eq!(v.unified_symbol("kPEPE"), "kPEPE/USDC:USDC");
        assert_eq!(v.market_id("BTC/USDC:USDC").unwrap(), "BTC");
        assert_eq!(v.unified_symbol("PURR/USDC"), "PURR/USDC");
        assert_eq!(v.market_id("PURR/USDC").unwrap(), "PURR/USDC");
        // `@107` needs spotMeta: unchanged without it, and a spot symbol cannot be resolved.
        assert_eq!(v.unified_symbol("@107"), "@107");
        assert_eq!(v.unified_symbol("xyz:TSLA"), "xyz:TSLA");
        for bad in ["HYPE/USDC", "BTC/USDT:USDT", "BTC", "BTC/USDC:BTC", "B-TC/USDC:USDC"] {
            assert!(v.market_id(bad).is_err(), "{bad}");
        }
        let table =
            [Instrument { market_id: "@107".into(), symbol: "HYPE/USDC".into(), tick_size: None, lot_size: None }];
        let v = FACTORY.create("spot", &table).unwrap();
        assert_eq!((v.market(), v.unified_symbol("@107")), ("spot", "HYPE/USDC".to_owned()));
        assert_eq!(v.market_id("HYPE/USDC").unwrap(), "@107");
        assert_eq!(v.market_id("BTC/USDC:USDC").unwrap(), "BTC"); // one parser serves both
        assert!(FACTORY.create("inverse", &[]).is_err());
    }

    #[test]
    fn greeting_pong_acks_and_errors() {
        let mut out = Out::default();
        venue().parse(GREETING, false, &mut out).unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Welcome, .. })]));
        let out = parse(r#"{"channel":"pong"}"#).unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Pong, .. })]));
        // docs_tier/jkorf_examples.jsonl acks (candle carries its interval).
        let out = parse(r#"{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"candle","interval":"1d","coin":"HYPE"}}}"#).unwrap();
        let [Item::Control(ack)] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!((ack.kind, ack.topic.as_deref()), (ControlKind::Ack, Some("candle:HYPE/USDC:USDC:1d")));
        let out = parse(r#"{"channel":"subscriptionResponse","data":{"method":"unsubscribe","subscription":{"type":"l2Book","coin":"HYPE","nSigFigs":null,"mantissa":null}}}"#).unwrap();
        let [Item::Control(ack)] = &out.items[..] else { panic!() };
        assert_eq!(ack.topic.as_deref(), Some("l2Book:HYPE/USDC:USDC"));
        let out = parse(r#"{"channel":"error","data":"Invalid subscription {\"type\":\"l2Book\",\"coin\":\"NOPE\"}"}"#)
            .unwrap();
        let [Item::Control(e)] = &out.items[..] else { panic!() };
        assert_eq!(e.kind, ControlKind::Error);
        assert_eq!(e.message.as_deref(), Some(r#"Invalid subscription {"type":"l2Book","coin":"NOPE"}"#));
    }

    #[test]
    fn bbo_and_candle_as_documented() {
        // docs_tier/jkorf_examples.jsonl (BookTicker.txt, Klines.txt): no bbo or candle recorded.
        let out = parse(r#"{"channel":"bbo","data":{"coin":"HYPE","time":1766566375292,"bbo":[{"px":"23.757","sz":"42.09","n":1},{"px":"23.758","sz":"100.26","n":2}]}}"#).unwrap();
        let [Item::Bbo { bbo, .. }] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!((bbo.bid.price.to_string(), bbo.ask.size.to_string()), ("23.757".into(), "100.26".into()));
        assert_eq!(bbo.exchange_ts, Some(1_766_566_375_292_000_000));
        let out =
            parse(r#"{"channel":"bbo","data":{"coin":"HYPE","time":1,"bbo":[null,{"px":"23.758","sz":"1","n":2}]}}"#)
                .unwrap();
        let [Item::Bbo { bbo, .. }] = &out.items[..] else { panic!() };
        assert_eq!(bbo.bid, RawLevel::default());
        let out = parse(r#"{"channel":"candle","data":{"t":1764806400000,"T":1764892799999,"s":"HYPE","i":"1d","o":"34.668","c":"34.868","h":"36.219","l":"34.251","v":"3495670.8399999999","n":102895}}"#).unwrap();
        let [Item::Candle { candle, .. }] = &out.items[..] else { panic!() };
        assert_eq!(candle.interval.as_str(), "1d");
        assert_eq!(candle.start_ts, 1_764_806_400_000_000_000);
        assert_eq!(candle.end_ts - candle.start_ts + 1, 86_400 * 1_000_000_000);
        assert_eq!(
            (candle.high.to_string(), candle.volume.to_string()),
            ("36.219".into(), "3495670.8399999999".into())
        );
        assert_eq!(candle.trades, Some(102_895));
    }

    #[test]
    fn stale_by_time() {
        let v = venue();
        let ids = |t| SeqIds { first: t, last: t, prev: None };
        assert!(v.stale_snapshot(10, &ids(9)));
        assert!(!v.stale_snapshot(10, &ids(10)));
        assert!(!v.stale_snapshot(10, &ids(11)));
        assert_eq!(v.check(10, &ids(9), false), Verdict::Stale);
        assert_eq!(v.check(10, &ids(10), false), Verdict::Apply);
    }

    #[test]
    fn foreign_and_malformed_frames_name_the_field() {
        for (frame, field) in [
            (r#"{"stream":"btcusdt@depth","data":{}}"#, "stream"),
            (r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[]}"#, "arg"),
            (r#"{"data":{},"channel":"l2Book"}"#, "data"),
            (r#"{"channel":"allMids","data":{"mids":{"0G":"1.2017"}}}"#, "channel"),
            (r#"{"channel":"post","data":{"id":1}}"#, "channel"),
            (r#"{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[]]}}"#, "data.levels"),
            (r#"{"channel":"l2Book","data":{"coin":"BTC","levels":[[],[]]}}"#, "data.time"),
            (r#"{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[],[]],"x":1}}"#, "data.x"),
            (r#"{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[{"px":"1","sz":"0","n":1}],[]]}}"#, "sz"),
            (r#"{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[{"px":"1","sz":"1"}],[]]}}"#, "n"),
            (
                r#"{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[{"px":"1","sz":"1","n":1,"q":2}],[]]}}"#,
                "data.levels[0].q",
            ),
            (
                r#"{"channel":"trades","data":[{"coin":"BTC","side":"S","px":"1","sz":"1","time":1,"hash":"0x","tid":1}]}"#,
                "data[].side",
            ),
            (
                r#"{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1","sz":"1","time":1,"tid":1}]}"#,
                "data[].hash",
            ),
            (r#"{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[],[]]},"x":1}"#, "frame"),
            (
                r#"{"channel":"subscriptionResponse","data":{"method":"login","subscription":{"type":"l2Book"}}}"#,
                "data.method",
            ),
            (r#"{"channel":"pong","data":1}"#, "channel"),
            ("ping", "json"),
        ] {
            match parse(frame) {
                Err(Error::Frame { field: f, .. }) => assert!(f.starts_with(field), "{frame}: {f}"),
                other => panic!("{frame}: {other:?}"),
            }
        }
        let mut out = Out::default();
        assert!(venue().parse(br#"{"channel":"pong"}"#, true, &mut out).is_err());
    }

    #[test]
    fn rest_l2_book_is_a_pushs_data_and_refuses_odd_bodies() {
        // the REST reply is the `data` object of an `l2Book` push: every recorded one loads
        for frame in recorded("l2Book") {
            let push: serde_json::Value = serde_json::from_slice(&frame).unwrap();
            let body = push["data"].to_string();
            let mut out = Out::default();
            let snap = rest_l2_book(body.as_bytes(), &mut out).unwrap();
            let ms = push["data"]["time"].as_u64().unwrap();
            assert_eq!(snap.sequence, ms);
            assert_eq!(snap.exchange_ts, Some(i64::try_from(ms).unwrap() * 1_000_000));
            assert_eq!(out.bids.len(), push["data"]["levels"][0].as_array().unwrap().len());
            assert_eq!(out.asks.len(), push["data"]["levels"][1].as_array().unwrap().len());
        }
        let mut out = Out::default();
        assert!(rest_l2_book(b"null", &mut out).is_err()); // an unknown coin
        assert!(rest_l2_book(br#"{"coin":"BTC","time":1,"levels":[[]]}"#, &mut out).is_err());
        assert!(rest_l2_book(br#"{"coin":"BTC","levels":[[],[]]}"#, &mut out).is_err());
        assert!(rest_l2_book(br#"{"coin":"BTC","time":1,"levels":[[],[]],"x":1}"#, &mut out).is_err());
    }

    #[test]
    fn recent_trades_rows_are_the_recorded_stream_trades() {
        // the REST list holds the objects of the `trades` pushes' `data`, newest first: every
        // recorded trade decodes to the item the stream gave
        let mut v = venue();
        let (mut stream, mut rows) = (Vec::new(), Vec::new());
        for frame in recorded("trades") {
            let mut out = Out::default();
            v.parse(&frame, false, &mut out).unwrap();
            stream.extend(out.items.iter().filter_map(|i| match i {
                Item::Trade { trade, .. } => Some(*trade),
                _ => None,
            }));
            let push: serde_json::Value = serde_json::from_slice(&frame).unwrap();
            rows.extend(push["data"].as_array().unwrap().iter().cloned());
        }
        assert!(stream.len() > 5, "the recordings have trades");
        rows.reverse();
        let body = serde_json::Value::Array(rows).to_string();
        let mut rest = v.parse_trades(body.as_bytes()).unwrap();
        rest.reverse();
        assert_eq!(rest, stream);
        assert!(v.parse_trades(b"[]").unwrap().is_empty());
    }

    #[test]
    fn recent_trades_refuse_odd_bodies() {
        let mut v = venue();
        let ok = r#"[{"coin":"BTC","side":"B","px":"105056.0","sz":"0.02222","hash":"0xab","time":1737918847000,"tid":917211710228416}]"#;
        assert_eq!(v.parse_trades(ok.as_bytes()).unwrap().len(), 1);
        for bad in [
            "null".to_owned(), // an unknown coin
            r#"{"coin":"BTC"}"#.to_owned(),
            ok.replace("\"B\"", "\"X\""),
            ok.replace("\"105056.0\"", "\"0\""),
            ok.replace("\"0.02222\"", "\"-1\""),
            ok.replace("1737918847000", "\"soon\""),
            ok.replace(",\"tid\":917211710228416", ""),
            ok.replace("\"hash\":\"0xab\",", ""),
            ok.replace("}]", "}"),
            format!("{ok}x"),
        ] {
            assert!(v.parse_trades(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
