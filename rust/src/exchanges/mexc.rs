//! MEXC spot v3 (protobuf) and contract (futures, JSON) market streams.
//!
//! Follows MEXC's "Websocket Market Streams" (spot v3), the `.proto` files it publishes
//! (github.com/mexcdevelop/websocket-proto) and the contract "WebSocket API" docs, summarised in
//! shared/docs/exchanges/mexc.md:
//!
//! - **spot** (`wss://wbs-api.mexc.com/ws`): every data push is a *binary* frame holding one
//!   protobuf `PushDataV3ApiWrapper` (`channel` 1, `symbol` 3, `symbolId` 4, `createTime` 5,
//!   `sendTime` 6, and a oneof body: `publicDeals` 301, `publicIncreaseDepths` 302,
//!   `publicLimitDepths` 303, `publicBookTicker` 305, `publicSpotKline` 308,
//!   `publicBookTickerBatch` 311, `publicIncreaseDepthsBatch` 312, `publicAggreDepths` 313,
//!   `publicAggreDeals` 314, `publicAggreBookTicker` 315; private and mini-ticker bodies are
//!   valid but not decoded). Prices, quantities and depth versions are protobuf *strings*.
//!   The wire format is read here by hand over that schema (no generated code, no allocation).
//!   Control replies are JSON text: `{"id":0,"code":0,"msg":"<channel>"}` acknowledges a
//!   channel (success iff `msg` echoes it), `msg` `"PONG"` answers `{"method":"PING"}`, any
//!   other `msg` is an error. Text frames of the retired JSON v3 stream (`wbs.mexc.com`,
//!   `{"c":..,"d":..,"s":..,"t":..}`, until 2025-08) are decoded too: the only real MEXC
//!   recording is in that format.
//! - **linear** (`wss://contract.mexc.com/edge`): JSON `{"channel":"push.depth","data":{..},
//!   "symbol":"BTC_USDT","ts":ms}`; depth rows `[price, contracts, orders]` as numbers.
//!
//! Book sync (both markets): REST snapshot bridged to the buffered deltas. Spot: a delta covers
//! versions `fromVersion..=toVersion` (legacy JSON: one version `r`); each must start at the
//! previous `toVersion + 1`; bridging, one ending before the snapshot's version is stale and one
//! starting after `version + 1` is a gap. Contract: each `version` is the previous + 1; bridging,
//! versions up to the snapshot's are stale. No checksums. Partial books (spot `limit.depth`,
//! contract `push.depth.full`) are snapshots of the top N levels: one at a version the book
//! already reached is stale (`stale_snapshot`), so it does not cut the full book to N levels.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, SyncHint, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::error::{from_json, Error};
use crate::event::{RequestId, Side};
use crate::fixed::{self, Dec};
use crate::json::{ms_to_ns, required, Cursor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Market {
    Spot,
    Linear,
}

/// The parser of one MEXC endpoint. Holds the instruments' market ids -> unified symbols, where
/// known (from `exchangeInfo` / `contract/detail`); without them symbols are split by quote.
#[derive(Debug, Clone)]
pub struct Mexc {
    market: Market,
    symbols: Vec<(String, String)>,
}

/// Makes MEXC parsers: markets `spot` (protobuf) and `linear` (USDT-margined contracts).
pub struct Factory;

/// The `mexc` factory.
pub static FACTORY: Factory = Factory;

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "mexc"
    }

    fn markets(&self) -> &'static [&'static str] {
        &["spot", "linear"]
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        let market = match market {
            "spot" => Market::Spot,
            "linear" => Market::Linear,
            _ => return Err(Error::invalid("market", market, "mexc has markets spot, linear")),
        };
        let symbols = instruments.iter().map(|i| (i.market_id.clone(), i.symbol.clone())).collect();
        Ok(Box::new(Mexc { market, symbols }))
    }
}

/// Quote assets of MEXC spot pairs, longest first, for splitting "BTCUSDT" without instruments.
const QUOTES: &[&str] = &["USDT", "USDC", "USDE", "USD1", "TUSD", "BUSD", "EUR", "BTC", "ETH", "USD", "MX"];

// ------------------------------------------------------------------------------------------
// Protobuf wire format (proto3), read over MEXC's schema.
// ------------------------------------------------------------------------------------------

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A reader over one protobuf message: (field number, wire type) tags and their values.
struct Pb<'a> {
    b: &'a [u8],
    i: usize,
}

#[cold]
fn pb_err(field: &str, reason: impl Into<String>) -> Error {
    Error::frame(field, reason)
}

impl<'a> Pb<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0 }
    }

    /// A varint; one byte (every tag and length under 128, the usual case) without the loop.
    #[inline(always)]
    fn raw_varint(&mut self, field: &str) -> Result<u64, Error> {
        match self.b.get(self.i) {
            Some(&byte) if byte < 0x80 => {
                self.i += 1;
                Ok(u64::from(byte))
            }
            _ => self.long_varint(field),
        }
    }

    #[inline(never)]
    fn long_varint(&mut self, field: &str) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in 0..10 {
            let Some(&byte) = self.b.get(self.i) else { return Err(pb_err(field, "truncated varint")) };
            self.i += 1;
            v |= u64::from(byte & 0x7f) << (7 * shift);
            if byte < 0x80 {
                if shift == 9 && byte > 1 {
                    return Err(pb_err(field, "varint overflows 64 bits"));
                }
                return Ok(v);
            }
        }
        Err(pb_err(field, "varint longer than 10 bytes"))
    }

    /// The next tag, or None at the end of the message.
    #[inline]
    fn next(&mut self, within: &str) -> Result<Option<(u32, u8)>, Error> {
        if self.i >= self.b.len() {
            return Ok(None);
        }
        let tag = self.raw_varint(within)?;
        let field =
            u32::try_from(tag >> 3).map_err(|_| pb_err(within, format!("field number {} too large", tag >> 3)))?;
        #[allow(clippy::cast_possible_truncation)] // three bits
        let wire = (tag & 7) as u8;
        if field == 0 {
            return Err(pb_err(within, "field number 0"));
        }
        Ok(Some((field, wire)))
    }

    #[inline]
    fn varint(&mut self, wire: u8, field: &str) -> Result<u64, Error> {
        if wire != VARINT {
            return Err(wrong_wire(field, wire, VARINT));
        }
        self.raw_varint(field)
    }

    #[inline]
    fn bytes(&mut self, wire: u8, field: &str) -> Result<&'a [u8], Error> {
        if wire != LEN {
            return Err(wrong_wire(field, wire, LEN));
        }
        let n = self.raw_varint(field)?;
        let end = usize::try_from(n).ok().and_then(|n| self.i.checked_add(n)).filter(|&e| e <= self.b.len());
        let Some(end) = end else { return Err(pb_err(field, format!("length {n} runs past the message"))) };
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    #[inline]
    fn str(&mut self, wire: u8, field: &str) -> Result<&'a str, Error> {
        let b = self.bytes(wire, field)?;
        std::str::from_utf8(b).map_err(|_| pb_err(field, "string is not UTF-8"))
    }

    /// Skip a field this parser does not read (proto3: unknown fields are skipped).
    fn skip(&mut self, wire: u8, field: &str) -> Result<(), Error> {
        let n = match wire {
            VARINT => return self.raw_varint(field).map(|_| ()),
            LEN => return self.bytes(wire, field).map(|_| ()),
            FIXED64 => 8,
            FIXED32 => 4,
            _ => return Err(pb_err(field, format!("wire type {wire} (groups) is not proto3"))),
        };
        if self.b.len() - self.i < n {
            return Err(pb_err(field, "truncated fixed-width value"));
        }
        self.i += n;
        Ok(())
    }
}

#[cold]
fn wrong_wire(field: &str, got: u8, want: u8) -> Error {
    pb_err(field, format!("wire type {got}, the schema says {want}"))
}

/// A decimal sent as a protobuf string ("92877.58"), exactly.
#[inline]
fn dec_bytes(b: &[u8], field: &'static str) -> Result<Dec, Error> {
    match fixed::parse_dec_prefix(b, field)? {
        (v, n) if n == b.len() => Ok(v),
        _ => Err(pb_err(field, format!("{:?} is not a decimal number", String::from_utf8_lossy(b)))),
    }
}

/// A version sent as a protobuf (or JSON) string of digits ("10589632359").
#[inline]
fn version_bytes(b: &[u8], field: &str) -> Result<u64, Error> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return Err(pb_err(field, format!("{:?} is not a version number", String::from_utf8_lossy(b))));
    }
    Ok(b.iter().fold(0u64, |v, &c| v * 10 + u64::from(c - b'0')))
}

/// One `{price = 1; quantity = 2}` level (`PublicAggreDepthV3ApiItem` and its twins).
#[inline]
fn pb_level(b: &[u8], field: &'static str) -> Result<RawLevel, Error> {
    if let Some(level) = plain_level(b) {
        return Ok(level);
    }
    pb_level_generic(b, field)
}

/// The layout MEXC's serializer writes, `0x0a len price 0x12 len quantity` with one-byte
/// lengths and plain decimals, price above 0 and quantity at least 0, read without the tag
/// loop; None for anything else (the generic reader then names the fault).
#[inline(always)]
fn plain_level(b: &[u8]) -> Option<RawLevel> {
    let n = usize::from(*b.get(1)?);
    if b[0] != 0x0a || n >= 0x80 {
        return None;
    }
    let m = usize::from(*b.get(3 + n)?);
    if b[2 + n] != 0x12 || m >= 0x80 || b.len() != 4 + n + m {
        return None;
    }
    let (price, size) = (&b[2..2 + n], &b[4 + n..]);
    // Up to 8 characters a value ("186.70", "340.03"): one SWAR step each.
    let (price, size) = match (fixed::dec_span(price), fixed::dec_span(size)) {
        (Some(price), Some(size)) => (price, size),
        _ => (dec_whole(price)?, dec_whole(size)?),
    };
    // price <= 0 or size < 0, in one test (a mantissa is above i64::MIN).
    if ((price.mantissa - 1) | size.mantissa) < 0 {
        return None;
    }
    Some(RawLevel { price, size })
}

/// `b` whole as a decimal, or None.
#[inline]
fn dec_whole(b: &[u8]) -> Option<Dec> {
    match fixed::parse_dec_prefix(b, "level").ok()? {
        (v, n) if n == b.len() => Some(v),
        _ => None,
    }
}

#[cold]
fn pb_level_generic(b: &[u8], field: &'static str) -> Result<RawLevel, Error> {
    let mut r = Pb::new(b);
    let (mut price, mut size) = (None, None);
    while let Some((f, wire)) = r.next(field)? {
        match f {
            1 => price = Some(dec_bytes(r.bytes(wire, field)?, field)?),
            2 => size = Some(dec_bytes(r.bytes(wire, field)?, field)?),
            _ => r.skip(wire, field)?,
        }
    }
    // proto3 leaves an empty string out: a level without either is malformed.
    let (price, size) = (required(price, field)?, required(size, field)?);
    if price.mantissa <= 0 {
        return Err(pb_err(field, format!("price {price} is not above 0")));
    }
    if size.mantissa < 0 {
        return Err(pb_err(field, format!("quantity {size} is negative")));
    }
    Ok(RawLevel { price, size })
}

/// Which depth body a book message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepthBody {
    /// `publicAggreDepths`: `fromVersion` 4, `toVersion` 5.
    Aggre,
    /// `publicIncreaseDepths`: `version` 4 (one version per push).
    Increase,
    /// `publicLimitDepths`: the top N levels, `version` 4.
    Limit,
}

impl DepthBody {
    fn name(self) -> &'static str {
        match self {
            DepthBody::Aggre => "publicAggreDepths",
            DepthBody::Increase => "publicIncreaseDepths",
            DepthBody::Limit => "publicLimitDepths",
        }
    }
}

/// A depth body's levels (appended to `out`) and its version ids.
#[inline]
fn pb_depth(b: &[u8], body: DepthBody, out: &mut Out) -> Result<SeqIds, Error> {
    let name = body.name();
    let mut r = Pb::new(b);
    let (mut from, mut to) = (None, None);
    loop {
        // A level as MEXC writes it (tag 0x0a asks / 0x12 bids, a one-byte length, then the
        // plain level): sliced and read here, without the generic tag and length path.
        if let (Some(&tag @ (0x0a | 0x12)), Some(&len)) = (r.b.get(r.i), r.b.get(r.i + 1)) {
            let end = r.i + 2 + usize::from(len);
            if let Some(level) = r.b.get(r.i + 2..end).filter(|_| len < 0x80).and_then(plain_level) {
                r.i = end;
                if tag == 0x0a {
                    out.asks.push(level);
                } else {
                    out.bids.push(level);
                }
                continue;
            }
        }
        let Some((f, wire)) = r.next(name)? else { break };
        match (f, body) {
            (1, _) => out.asks.push(pb_level(r.bytes(wire, "asks")?, "asks")?),
            (2, _) => out.bids.push(pb_level(r.bytes(wire, "bids")?, "bids")?),
            // eventType: not read (the channel says the same), only skipped.
            (3, _) => {
                r.bytes(wire, "eventType")?;
            }
            (4, DepthBody::Aggre) => from = Some(version_bytes(r.bytes(wire, "fromVersion")?, "fromVersion")?),
            (5, DepthBody::Aggre) => to = Some(version_bytes(r.bytes(wire, "toVersion")?, "toVersion")?),
            (4, _) => {
                let v = version_bytes(r.bytes(wire, "version")?, "version")?;
                (from, to) = (Some(v), Some(v));
            }
            _ => r.skip(wire, name)?,
        }
    }
    let (first, last) = match body {
        DepthBody::Aggre => (required(from, "fromVersion")?, required(to, "toVersion")?),
        _ => (required(from, "version")?, required(to, "version")?),
    };
    if first > last {
        return Err(pb_err("fromVersion", format!("{first} is after toVersion {last}")));
    }
    Ok(SeqIds { first, last, prev: None })
}

/// A depth body's version ids, read past its levels without parsing them ([`pb_depth`]'s
/// rule); None for a body that is not plain enough (the full read then names the fault).
fn pb_depth_ids(b: &[u8], body: DepthBody) -> Option<SeqIds> {
    let mut r = Pb::new(b);
    let (mut from, mut to) = (None, None);
    while let Some((f, wire)) = r.next("depth").ok()? {
        match (f, body) {
            (4, DepthBody::Aggre) => from = Some(version_bytes(r.bytes(wire, "fromVersion").ok()?, "").ok()?),
            (5, DepthBody::Aggre) => to = Some(version_bytes(r.bytes(wire, "toVersion").ok()?, "").ok()?),
            (4, _) => {
                let v = version_bytes(r.bytes(wire, "version").ok()?, "").ok()?;
                (from, to) = (Some(v), Some(v));
            }
            _ => r.skip(wire, "depth").ok()?,
        }
    }
    let (first, last) = (from?, to?);
    (first <= last).then_some(SeqIds { first, last, prev: None })
}

/// `PublicBookTickerV3Api` / `PublicAggreBookTickerV3Api`: bidPrice 1, bidQuantity 2,
/// askPrice 3, askQuantity 4.
fn pb_ticker(body: &[u8], exchange_ts: Option<i64>) -> Result<BboItem, Error> {
    const NAMES: [&str; 4] = ["bidPrice", "bidQuantity", "askPrice", "askQuantity"];
    let mut reader = Pb::new(body);
    let mut values: [Option<Dec>; 4] = [None; 4];
    while let Some((f, wire)) = reader.next("publicBookTicker")? {
        match f {
            1..=4 => {
                let k = (f - 1) as usize;
                let d = dec_bytes(reader.bytes(wire, NAMES[k])?, NAMES[k])?;
                if d.mantissa < 0 {
                    return Err(pb_err(NAMES[k], "must not be negative"));
                }
                values[k] = Some(d);
            }
            _ => reader.skip(wire, "publicBookTicker")?,
        }
    }
    Ok(BboItem {
        bid: RawLevel { price: required(values[0], NAMES[0])?, size: required(values[1], NAMES[1])? },
        ask: RawLevel { price: required(values[2], NAMES[2])?, size: required(values[3], NAMES[3])? },
        sequence: None,
        exchange_ts,
    })
}

/// `PublicAggreDealsV3ApiItem` / `PublicDealsV3ApiItem`: price 1, quantity 2, tradeType 3
/// (1 buy, 2 sell: the taker's side), time 4 (ms), tradeId 5 (newer schema). Without a
/// `tradeId` the trade's id is its time text, as MEXC numbers nothing else.
fn pb_deal(b: &[u8], exchange_ts: Option<i64>) -> Result<TradeItem, Error> {
    let mut r = Pb::new(b);
    let (mut price, mut size, mut taker, mut time, mut id) = (None, None, None, None, None);
    while let Some((f, wire)) = r.next("deals")? {
        match f {
            1 => price = Some(dec_bytes(r.bytes(wire, "deals.price")?, "deals.price")?),
            2 => size = Some(dec_bytes(r.bytes(wire, "deals.quantity")?, "deals.quantity")?),
            3 => {
                taker = Some(match r.varint(wire, "deals.tradeType")? {
                    1 => Side::Buy,
                    2 => Side::Sell,
                    t => return Err(pb_err("deals.tradeType", format!("{t} is neither 1 (buy) nor 2 (sell)"))),
                });
            }
            4 => time = Some(r.varint(wire, "deals.time")?),
            5 => id = Some(r.str(wire, "deals.tradeId")?),
            _ => r.skip(wire, "deals")?,
        }
    }
    let (price, size) = (required(price, "deals.price")?, required(size, "deals.quantity")?);
    if price.mantissa <= 0 || size.mantissa < 0 {
        return Err(pb_err("deals", format!("price {price} / quantity {size} out of range")));
    }
    let time = required(time, "deals.time")?;
    let trade_ts = ms_to_ns(time, "deals.time")?;
    let trade_id = match id {
        Some(s) if !s.is_empty() => {
            s.parse::<u64>().map_or_else(|_| TradeId::text(s, "deals.tradeId"), |n| Ok(TradeId::Int(n)))?
        }
        _ => TradeId::text(&time.to_string(), "deals.time")?,
    };
    Ok(TradeItem {
        price,
        size,
        side: required(taker, "deals.tradeType")?,
        trade_id,
        trade_ts,
        exchange_ts: exchange_ts.unwrap_or(trade_ts),
    })
}

/// Seconds since the epoch (kline windows) as ns.
fn s_to_ns(s: u64, field: &str) -> Result<i64, Error> {
    s.checked_mul(1000).ok_or_else(|| pb_err(field, "out of range")).and_then(|ms| ms_to_ns(ms, field))
}

/// `PublicSpotKlineV3Api`: interval 1, windowStart 2 (s), opening 3, closing 4, highest 5,
/// lowest 6, volume 7, amount 8, windowEnd 9 (s).
fn pb_kline(body: &[u8], exchange_ts: Option<i64>) -> Result<CandleItem, Error> {
    const NAMES: [&str; 5] = ["openingPrice", "closingPrice", "highestPrice", "lowestPrice", "volume"];
    let mut reader = Pb::new(body);
    let mut interval = None;
    let (mut start, mut end) = (None, None);
    let mut values: [Option<Dec>; 5] = [None; 5];
    while let Some((f, wire)) = reader.next("publicSpotKline")? {
        match f {
            1 => interval = Some(Interval::new(reader.str(wire, "interval")?, "interval")?),
            2 => start = Some(reader.varint(wire, "windowStart")?),
            3..=7 => {
                let k = (f - 3) as usize;
                let d = dec_bytes(reader.bytes(wire, NAMES[k])?, NAMES[k])?;
                if d.mantissa < 0 {
                    return Err(pb_err(NAMES[k], "must not be negative"));
                }
                values[k] = Some(d);
            }
            9 => end = Some(reader.varint(wire, "windowEnd")?),
            _ => reader.skip(wire, "publicSpotKline")?,
        }
    }
    Ok(CandleItem {
        interval: required(interval, "interval")?,
        start_ts: s_to_ns(required(start, "windowStart")?, "windowStart")?,
        end_ts: s_to_ns(required(end, "windowEnd")?, "windowEnd")?,
        open: required(values[0], NAMES[0])?,
        close: required(values[1], NAMES[1])?,
        high: required(values[2], NAMES[2])?,
        low: required(values[3], NAMES[3])?,
        volume: required(values[4], NAMES[4])?,
        trades: None,
        closed: None,
        exchange_ts,
    })
}

// ------------------------------------------------------------------------------------------
// JSON: spot control replies and the retired v3 JSON stream; contract frames.
// ------------------------------------------------------------------------------------------

/// Spot control reply `{"id":0,"code":0,"msg":".."}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpotControl<'a> {
    id: i64,
    code: i64,
    #[serde(borrow)]
    msg: Cow<'a, str>,
}

/// A retired spot v3 JSON push `{"c":channel,"d":{..},"s":symbol,"t":ms}`.
#[derive(Deserialize)]
struct Legacy<'a> {
    #[serde(borrow)]
    c: Cow<'a, str>,
    #[serde(borrow)]
    d: &'a RawValue,
    #[serde(default, borrow)]
    s: Option<Cow<'a, str>>,
    t: u64,
}

/// A contract frame `{"channel":..,"data":..,"symbol":..,"ts":..}` (data any JSON value).
#[derive(Deserialize)]
struct Contract<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    symbol: Option<Cow<'a, str>>,
    #[serde(default)]
    ts: Option<Ts>,
}

/// `ts` as a number (pushes) or a string of digits (the `rs.*` replies of the docs).
#[derive(Deserialize)]
#[serde(untagged)]
enum Ts {
    Int(u64),
    Text(String),
}

impl Ts {
    fn ns(&self) -> Result<i64, Error> {
        match self {
            Ts::Int(ms) => ms_to_ns(*ms, "ts"),
            Ts::Text(s) => ms_to_ns(s.parse().map_err(|_| pb_err("ts", format!("{s:?} is not a time")))?, "ts"),
        }
    }
}

/// A contract kline `{"a","c","h","l","o","q","interval","symbol","t"}` (t: window start, s).
#[derive(Deserialize)]
struct ContractKline<'a> {
    #[serde(borrow)]
    interval: Cow<'a, str>,
    t: u64,
    #[serde(borrow)]
    o: &'a RawValue,
    #[serde(borrow)]
    h: &'a RawValue,
    #[serde(borrow)]
    l: &'a RawValue,
    #[serde(borrow)]
    c: &'a RawValue,
    #[serde(borrow)]
    q: &'a RawValue,
}

/// A bare JSON number (contract prices and volumes) as an exact decimal.
fn number(raw: &RawValue, field: &'static str) -> Result<Dec, Error> {
    let mut c = Cursor::new(raw.get().as_bytes());
    let d = c.dec_number(field)?;
    c.end()?;
    if d.mantissa < 0 {
        return Err(pb_err(field, "must not be negative"));
    }
    Ok(d)
}

/// Seconds of a MEXC interval name (`Min1` .. `Week1`); `Month1` has none (see [`month_end`]).
fn interval_seconds(name: &str) -> Option<u64> {
    Some(match name {
        "Min1" => 60,
        "Min5" => 300,
        "Min15" => 900,
        "Min30" => 1800,
        "Min60" => 3600,
        "Hour4" => 4 * 3600,
        "Hour8" => 8 * 3600,
        "Day1" => 86_400,
        "Week1" => 7 * 86_400,
        _ => return None,
    })
}

/// The start (s) of the UTC month after the one `start` (s) is in.
fn month_end(start: u64) -> u64 {
    // Civil date from days (H. Hinnant's algorithm), then the first day of the next month.
    let z = (start / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    u64::try_from(crate::time::days_from_civil(ny, nm, 1) * 86_400).unwrap_or(0)
}

/// Rows `[price, size, ..]` of JSON numbers (contract: `[price, contracts, orders]`) or of
/// strings (spot REST: `["price","qty"]`), appended to `levels`; columns past the second are
/// validated and skipped.
fn rows(c: &mut Cursor<'_>, levels: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
    if !c.begin_array(field)? {
        return Ok(());
    }
    loop {
        if !c.begin_array(field)? {
            return Err(pb_err(field, "empty level"));
        }
        let price = c.dec_any(field)?;
        if !c.more_elements(field)? {
            return Err(pb_err(field, "level without a size"));
        }
        let size = c.dec_any(field)?;
        while c.more_elements(field)? {
            c.skip_value(field)?;
        }
        if price.mantissa <= 0 || size.mantissa < 0 {
            return Err(pb_err(field, format!("level {price} x {size} out of range")));
        }
        levels.push(RawLevel { price, size });
        if !c.more_elements(field)? {
            return Ok(());
        }
    }
}

/// Legacy spot levels `[{"p":"186.69","v":"46.87"},..]`.
fn pv_levels(c: &mut Cursor<'_>, levels: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
    if !c.begin_array(field)? {
        return Ok(());
    }
    loop {
        c.begin_object()?;
        let (mut p, mut v, mut first) = (None, None, true);
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"p" => p = Some(c.dec(field)?),
                b"v" => v = Some(c.dec(field)?),
                _ => return Err(pb_err(field, format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
            }
        }
        let (price, size) = (required(p, field)?, required(v, field)?);
        if price.mantissa <= 0 || size.mantissa < 0 {
            return Err(pb_err(field, format!("level {price} x {size} out of range")));
        }
        levels.push(RawLevel { price, size });
        if !c.more_elements(field)? {
            return Ok(());
        }
    }
}

/// The channel's name without `@<symbol>...` ("spot@public.increase.depth.v3.api@SOLUSDT" ->
/// "spot@public.increase.depth.v3.api").
fn stream_name(channel: &str) -> &str {
    let mut parts = channel.splitn(3, '@');
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else { return channel };
    &channel[..a.len() + 1 + b.len()]
}

impl Mexc {
    // ---------------------------------------------------------------- spot, protobuf
    #[allow(clippy::too_many_lines)] // one arm per protobuf body
    fn spot_binary(&self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let mut r = Pb::new(frame);
        let (mut channel, mut symbol, mut send, mut create) = (None, None, None, None);
        let mut body: Option<(u32, &[u8])> = None;
        while let Some((f, wire)) = r.next("PushDataV3ApiWrapper")? {
            match f {
                // The channel is only checked for its "spot@" prefix: bytes, no UTF-8 pass.
                1 => channel = Some(r.bytes(wire, "channel")?),
                3 => symbol = Some(r.str(wire, "symbol")?),
                4 => {
                    r.bytes(wire, "symbolId")?;
                }
                5 => create = Some(r.varint(wire, "createTime")?),
                6 => send = Some(r.varint(wire, "sendTime")?),
                301..=315 => {
                    if body.is_some() {
                        return Err(pb_err("body", "two bodies in one push (a oneof)"));
                    }
                    body = Some((f, r.bytes(wire, "body")?));
                }
                _ => r.skip(wire, "PushDataV3ApiWrapper")?,
            }
        }
        let channel = required(channel, "channel")?;
        if !channel.starts_with(b"spot@") {
            let text = String::from_utf8_lossy(channel);
            return Err(pb_err("channel", format!("{text:?} is not a MEXC spot channel")));
        }
        let Some((tag, b)) = body else { return Err(pb_err("body", "missing (no oneof body set)")) };
        let exchange_ts = match send.or(create) {
            Some(ms) => Some(ms_to_ns(ms, if send.is_some() { "sendTime" } else { "createTime" })?),
            None => None,
        };
        let market_id = || required(symbol, "symbol");
        match tag {
            313 | 302 | 303 => {
                let body = match tag {
                    313 => DepthBody::Aggre,
                    302 => DepthBody::Increase,
                    _ => DepthBody::Limit,
                };
                let from = (out.bids.len(), out.asks.len());
                // A push the decoder will drop as stale (a limit-depth push repeating the
                // book's version) is pushed with its ids and without levels: not parsed.
                let stale = symbol.and_then(|m| {
                    let index = out.symbol(m);
                    let hint = out.hint(index);
                    if hint == SyncHint::default() {
                        return None;
                    }
                    let ids = pb_depth_ids(b, body)?;
                    let stale = match body {
                        DepthBody::Limit => hint.stale_snapshot(self, &ids),
                        _ => hint.stale_delta(self, &ids),
                    };
                    stale.then_some(ids)
                });
                let ids = match stale {
                    Some(ids) => ids,
                    None => pb_depth(b, body, out)?,
                };
                let symbol = out.symbol(market_id()?);
                let kind = if body == DepthBody::Limit { BookKind::Snapshot } else { BookKind::Delta };
                out.book(symbol, kind, Some(ids), None, None, exchange_ts, from);
            }
            312 => {
                let symbol = out.symbol(market_id()?);
                let mut r = Pb::new(b);
                while let Some((f, wire)) = r.next("publicIncreaseDepthsBatch")? {
                    if f == 1 {
                        let item = r.bytes(wire, "publicIncreaseDepthsBatch.items")?;
                        let from = (out.bids.len(), out.asks.len());
                        let ids = pb_depth(item, DepthBody::Increase, out)?;
                        out.book(symbol, BookKind::Delta, Some(ids), None, None, exchange_ts, from);
                    } else {
                        r.skip(wire, "publicIncreaseDepthsBatch")?;
                    }
                }
            }
            305 | 315 => {
                let bbo = pb_ticker(b, exchange_ts)?;
                let symbol = out.symbol(market_id()?);
                out.items.push(Item::Bbo { symbol, bbo });
            }
            311 => {
                let symbol = out.symbol(market_id()?);
                let mut r = Pb::new(b);
                while let Some((f, wire)) = r.next("publicBookTickerBatch")? {
                    if f == 1 {
                        let bbo = pb_ticker(r.bytes(wire, "publicBookTickerBatch.items")?, exchange_ts)?;
                        out.items.push(Item::Bbo { symbol, bbo });
                    } else {
                        r.skip(wire, "publicBookTickerBatch")?;
                    }
                }
            }
            301 | 314 => {
                let symbol = out.symbol(market_id()?);
                let mut r = Pb::new(b);
                while let Some((f, wire)) = r.next("publicDeals")? {
                    match f {
                        1 => {
                            let trade = pb_deal(r.bytes(wire, "deals")?, exchange_ts)?;
                            out.items.push(Item::Trade { symbol, trade });
                        }
                        2 => {
                            r.str(wire, "eventType")?;
                        }
                        _ => r.skip(wire, "publicDeals")?,
                    }
                }
            }
            308 => {
                let candle = Box::new(pb_kline(b, exchange_ts)?);
                let symbol = out.symbol(market_id()?);
                out.items.push(Item::Candle { symbol, candle });
            }
            // Private orders/deals/account (304, 306, 307) and mini tickers (309, 310): valid
            // pushes that tickwire does not decode.
            _ => {}
        }
        Ok(())
    }

    // ---------------------------------------------------------------- spot, JSON text
    #[allow(clippy::too_many_lines)] // one arm per documented stream
    fn spot_text(frame: &[u8], out: &mut Out) -> Result<(), Error> {
        if memchr::memmem::find(frame, b"\"msg\"").is_some() {
            let c: SpotControl = from_json(frame)?;
            let msg = c.msg.into_owned();
            let request_id = (c.id != 0).then_some(RequestId::Int(c.id));
            let item = if c.code == 0 && msg == "PONG" {
                ControlItem { kind: ControlKind::Pong, request_id, topic: None, code: None, message: None }
            } else if c.code == 0 && msg.starts_with("spot@") && !msg.contains(' ') {
                // One request may name several channels: its ack echoes them joined by ','.
                for channel in msg.split(',') {
                    let topic = Some(channel.to_owned());
                    out.items.push(Item::Control(ControlItem {
                        kind: ControlKind::Ack,
                        request_id: request_id.clone(),
                        topic,
                        code: None,
                        message: None,
                    }));
                }
                return Ok(());
            } else {
                // "Not Subscribed successfully! [spot@...].  Reason： Blocked!" (code 0 as well).
                let topic = msg.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(t, _)| t.to_owned());
                ControlItem { kind: ControlKind::Error, request_id, topic, code: Some(c.code), message: Some(msg) }
            };
            out.items.push(Item::Control(item));
            return Ok(());
        }
        let l: Legacy = from_json(frame)?;
        let exchange_ts = Some(ms_to_ns(l.t, "t")?);
        let data = l.d.get().as_bytes();
        let market_id = || l.s.as_deref().ok_or_else(|| pb_err("s", "missing field"));
        match stream_name(&l.c) {
            name @ ("spot@public.increase.depth.v3.api" | "spot@public.limit.depth.v3.api") => {
                let from = (out.bids.len(), out.asks.len());
                let mut c = Cursor::within(data, frame);
                c.begin_object()?;
                let (mut first, mut version) = (true, None);
                while let Some(key) = c.next_key(&mut first)? {
                    match key {
                        b"bids" => pv_levels(&mut c, &mut out.bids, "d.bids")?,
                        b"asks" => pv_levels(&mut c, &mut out.asks, "d.asks")?,
                        b"e" => {
                            c.str("d.e")?;
                        }
                        b"r" => version = Some(version_bytes(c.str("d.r")?.as_bytes(), "d.r")?),
                        _ => return Err(pb_err("d", format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
                    }
                }
                c.end()?;
                let v = required(version, "d.r")?;
                let symbol = out.symbol(market_id()?);
                let kind = if name.contains("limit") { BookKind::Snapshot } else { BookKind::Delta };
                out.book(symbol, kind, Some(SeqIds { first: v, last: v, prev: None }), None, None, exchange_ts, from);
            }
            "spot@public.bookTicker.v3.api" => {
                let mut c = Cursor::within(data, frame);
                c.begin_object()?;
                let (mut first, mut v) = (true, [None; 4]);
                while let Some(key) = c.next_key(&mut first)? {
                    let k = match key {
                        b"b" => 0,
                        b"B" => 1,
                        b"a" => 2,
                        b"A" => 3,
                        _ => return Err(pb_err("d", format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
                    };
                    v[k] = Some(c.dec_non_negative(["d.b", "d.B", "d.a", "d.A"][k])?);
                }
                c.end()?;
                let bbo = BboItem {
                    bid: RawLevel { price: required(v[0], "d.b")?, size: required(v[1], "d.B")? },
                    ask: RawLevel { price: required(v[2], "d.a")?, size: required(v[3], "d.A")? },
                    sequence: None,
                    exchange_ts,
                };
                let symbol = out.symbol(market_id()?);
                out.items.push(Item::Bbo { symbol, bbo });
            }
            "spot@public.deals.v3.api" => {
                let symbol = out.symbol(market_id()?);
                let mut c = Cursor::within(data, frame);
                c.begin_object()?;
                let mut first = true;
                while let Some(key) = c.next_key(&mut first)? {
                    match key {
                        b"deals" => {
                            if c.begin_array("d.deals")? {
                                loop {
                                    let trade = Self::legacy_deal(&mut c, exchange_ts)?;
                                    out.items.push(Item::Trade { symbol, trade });
                                    if !c.more_elements("d.deals")? {
                                        break;
                                    }
                                }
                            }
                        }
                        b"e" => {
                            c.str("d.e")?;
                        }
                        _ => return Err(pb_err("d", format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
                    }
                }
                c.end()?;
            }
            "spot@public.kline.v3.api" => {
                let candle = Box::new(Self::legacy_kline(data, frame, exchange_ts)?);
                let symbol = out.symbol(market_id()?);
                out.items.push(Item::Candle { symbol, candle });
            }
            "spot@private.account.v3.api"
            | "spot@private.orders.v3.api"
            | "spot@private.deals.v3.api"
            | "spot@public.miniTicker.v3.api"
            | "spot@public.miniTickers.v3.api" => {}
            other => return Err(pb_err("c", format!("{other:?} is not a MEXC spot v3 stream"))),
        }
        Ok(())
    }

    /// A legacy deal `{"S":2,"p":"20233.84","t":1661927587825,"v":"0.001028"}`.
    fn legacy_deal(c: &mut Cursor<'_>, exchange_ts: Option<i64>) -> Result<TradeItem, Error> {
        c.begin_object()?;
        let (mut first, mut taker, mut price, mut size, mut time) = (true, None, None, None, None);
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"S" => {
                    taker = Some(match c.u64("d.deals.S")? {
                        1 => Side::Buy,
                        2 => Side::Sell,
                        s => return Err(pb_err("d.deals.S", format!("{s} is neither 1 (buy) nor 2 (sell)"))),
                    });
                }
                b"p" => price = Some(c.dec("d.deals.p")?),
                b"v" => size = Some(c.dec_non_negative("d.deals.v")?),
                b"t" => time = Some(c.u64("d.deals.t")?),
                _ => return Err(pb_err("d.deals", format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
            }
        }
        let time = required(time, "d.deals.t")?;
        let trade_ts = ms_to_ns(time, "d.deals.t")?;
        let price = required(price, "d.deals.p")?;
        if price.mantissa <= 0 {
            return Err(pb_err("d.deals.p", "not above 0"));
        }
        Ok(TradeItem {
            price,
            size: required(size, "d.deals.v")?,
            side: required(taker, "d.deals.S")?,
            trade_id: TradeId::text(&time.to_string(), "d.deals.t")?,
            trade_ts,
            exchange_ts: exchange_ts.unwrap_or(trade_ts),
        })
    }

    /// A legacy kline `{"k":{"T":end s,"a":..,"c":..,"h":..,"i":"Min15","l":..,"o":..,"t":start s,"v":..},"e":..}`.
    fn legacy_kline(data: &[u8], frame: &[u8], exchange_ts: Option<i64>) -> Result<CandleItem, Error> {
        let mut c = Cursor::within(data, frame);
        c.begin_object()?;
        let mut first = true;
        let mut candle = None;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"k" => {
                    c.begin_object()?;
                    let mut first = true;
                    let (mut end, mut start, mut interval) = (None, None, None);
                    let mut v: [Option<Dec>; 5] = [None; 5];
                    while let Some(key) = c.next_key(&mut first)? {
                        match key {
                            b"T" => end = Some(c.u64("d.k.T")?),
                            b"t" => start = Some(c.u64("d.k.t")?),
                            b"i" => interval = Some(Interval::new(c.str("d.k.i")?, "d.k.i")?),
                            b"o" => v[0] = Some(c.dec_any("d.k.o")?),
                            b"h" => v[1] = Some(c.dec_any("d.k.h")?),
                            b"l" => v[2] = Some(c.dec_any("d.k.l")?),
                            b"c" => v[3] = Some(c.dec_any("d.k.c")?),
                            b"v" => v[4] = Some(c.dec_any("d.k.v")?),
                            b"a" => c.skip_value("d.k.a")?,
                            _ => {
                                return Err(pb_err("d.k", format!("unexpected key {:?}", String::from_utf8_lossy(key))))
                            }
                        }
                    }
                    candle = Some(CandleItem {
                        interval: required(interval, "d.k.i")?,
                        start_ts: s_to_ns(required(start, "d.k.t")?, "d.k.t")?,
                        end_ts: s_to_ns(required(end, "d.k.T")?, "d.k.T")?,
                        open: required(v[0], "d.k.o")?,
                        high: required(v[1], "d.k.h")?,
                        low: required(v[2], "d.k.l")?,
                        close: required(v[3], "d.k.c")?,
                        volume: required(v[4], "d.k.v")?,
                        trades: None,
                        closed: None,
                        exchange_ts,
                    });
                }
                b"e" => {
                    c.str("d.e")?;
                }
                _ => return Err(pb_err("d", format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
            }
        }
        c.end()?;
        required(candle, "d.k")
    }

    // ---------------------------------------------------------------- contract
    #[allow(clippy::too_many_lines)] // one arm per documented channel
    fn contract(frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let m: Contract = from_json(frame)?;
        let exchange_ts = m.ts.as_ref().map(Ts::ns).transpose()?;
        let data = || m.data.map(|d| d.get().as_bytes()).ok_or_else(|| pb_err("data", "missing field"));
        let market_id = || m.symbol.as_deref().ok_or_else(|| pb_err("symbol", "missing field"));
        match &*m.channel {
            ch @ ("push.depth" | "push.depth.full") => {
                let d = data()?;
                let from = (out.bids.len(), out.asks.len());
                let mut c = Cursor::within(d, frame);
                c.begin_object()?;
                let (mut first, mut version) = (true, None);
                while let Some(key) = c.next_key(&mut first)? {
                    match key {
                        b"asks" => rows(&mut c, &mut out.asks, "data.asks")?,
                        b"bids" => rows(&mut c, &mut out.bids, "data.bids")?,
                        b"version" => version = Some(c.u64("data.version")?),
                        b"begin" | b"end" | b"symbol" | b"ts" => c.skip_value("data")?,
                        _ => return Err(pb_err("data", format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
                    }
                }
                c.end()?;
                let v = required(version, "data.version")?;
                let symbol = out.symbol(market_id()?);
                let kind = if ch == "push.depth" { BookKind::Delta } else { BookKind::Snapshot };
                out.book(symbol, kind, Some(SeqIds { first: v, last: v, prev: None }), None, None, exchange_ts, from);
            }
            "push.deal" => {
                let d = data()?;
                let symbol = out.symbol(market_id()?);
                let mut c = Cursor::within(d, frame);
                // An array of deals (current) or one deal object (older docs).
                if d.first() == Some(&b'[') {
                    if c.begin_array("data")? {
                        loop {
                            let trade = Self::contract_deal(&mut c, exchange_ts)?;
                            out.items.push(Item::Trade { symbol, trade });
                            if !c.more_elements("data")? {
                                break;
                            }
                        }
                    }
                } else {
                    let trade = Self::contract_deal(&mut c, exchange_ts)?;
                    out.items.push(Item::Trade { symbol, trade });
                }
                c.end()?;
            }
            "push.kline" => {
                let k: ContractKline = from_json(data()?)?;
                let start = k.t;
                let end = match interval_seconds(&k.interval) {
                    Some(s) => start + s,
                    None if k.interval == "Month1" => month_end(start),
                    None => return Err(pb_err("data.interval", format!("{:?} is not a MEXC interval", k.interval))),
                };
                let candle = Box::new(CandleItem {
                    interval: Interval::new(&k.interval, "data.interval")?,
                    start_ts: s_to_ns(start, "data.t")?,
                    end_ts: s_to_ns(end, "data.t")?,
                    open: number(k.o, "data.o")?,
                    high: number(k.h, "data.h")?,
                    low: number(k.l, "data.l")?,
                    close: number(k.c, "data.c")?,
                    volume: number(k.q, "data.q")?,
                    trades: None,
                    closed: None,
                    exchange_ts,
                });
                let symbol = out.symbol(market_id()?);
                out.items.push(Item::Candle { symbol, candle });
            }
            "pong" => out.items.push(Item::Control(ControlItem {
                kind: ControlKind::Pong,
                request_id: None,
                topic: None,
                code: None,
                message: None,
            })),
            "rs.error" => {
                let message =
                    m.data.map(|d| serde_json::from_str::<String>(d.get()).unwrap_or_else(|_| d.get().to_owned()));
                out.items.push(Item::Control(ControlItem {
                    kind: ControlKind::Error,
                    request_id: None,
                    topic: None,
                    code: None,
                    message,
                }));
            }
            ch if ch.starts_with("rs.") => {
                let method = &ch[3..];
                // `data` is "success" on success; anything else there is the failure's text.
                let text =
                    m.data.map(|d| serde_json::from_str::<String>(d.get()).unwrap_or_else(|_| d.get().to_owned()));
                let ok = text.as_deref().map_or(true, |t| t == "success");
                let kind = match (method, ok) {
                    (_, false) => ControlKind::Error,
                    ("login", true) => ControlKind::Login,
                    _ => ControlKind::Ack,
                };
                out.items.push(Item::Control(ControlItem {
                    kind,
                    request_id: None,
                    topic: Some(method.to_owned()),
                    code: None,
                    message: if ok { None } else { text },
                }));
            }
            ch if ch.starts_with("push.") => {} // tickers, prices, funding, private pushes: not decoded
            other => return Err(pb_err("channel", format!("{other:?} is not a MEXC contract channel"))),
        }
        Ok(())
    }

    /// A contract deal `{"p":91847.4,"v":49,"T":2,"O":3,"M":2,"t":1763645012047}` (T: 1 buy,
    /// 2 sell; v in contracts). The id is the time text: contract deals carry none.
    fn contract_deal(c: &mut Cursor<'_>, exchange_ts: Option<i64>) -> Result<TradeItem, Error> {
        c.begin_object()?;
        let (mut first, mut taker, mut price, mut size, mut time) = (true, None, None, None, None);
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"p" => price = Some(c.dec_any("data.p")?),
                b"v" => size = Some(c.dec_any("data.v")?),
                b"T" => {
                    taker = Some(match c.u64("data.T")? {
                        1 => Side::Buy,
                        2 => Side::Sell,
                        s => return Err(pb_err("data.T", format!("{s} is neither 1 (buy) nor 2 (sell)"))),
                    });
                }
                b"t" => time = Some(c.u64("data.t")?),
                b"O" | b"M" | b"i" => c.skip_value("data")?,
                _ => return Err(pb_err("data", format!("unexpected key {:?}", String::from_utf8_lossy(key)))),
            }
        }
        let (px, volume) = (required(price, "data.p")?, required(size, "data.v")?);
        if px.mantissa <= 0 || volume.mantissa < 0 {
            return Err(pb_err("data", format!("price {px} / volume {volume} out of range")));
        }
        let time = required(time, "data.t")?;
        let trade_ts = ms_to_ns(time, "data.t")?;
        Ok(TradeItem {
            price: px,
            size: volume,
            side: required(taker, "data.T")?,
            trade_id: TradeId::text(&time.to_string(), "data.t")?,
            trade_ts,
            exchange_ts: exchange_ts.unwrap_or(trade_ts),
        })
    }

    // ---------------------------------------------------------------- REST snapshots
    /// Spot `GET /api/v3/depth?symbol=..&limit=1000`: `{"lastUpdateId":N,"bids":[["p","q"]],
    /// "asks":[..],"timestamp":ms}`. Contract `GET /api/v1/contract/depth/<symbol>`:
    /// `{"success":true,"code":0,"data":{"asks":[[p,v,n]],"bids":[..],"version":N,"timestamp":ms}}`.
    fn snapshot(&self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        out.bids.clear();
        out.asks.clear();
        let mut c = Cursor::new(body);
        c.begin_object()?;
        let mut first = true;
        let (mut seq, mut ts, mut found) = (None, None, false);
        let spot = self.market == Market::Spot;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"lastUpdateId" if spot => seq = Some(c.u64("lastUpdateId")?),
                // The contract docs print the `data` object alone: accepted as well.
                b"version" if !spot => {
                    found = true;
                    seq = Some(c.u64("version")?);
                }
                b"bids" => rows(&mut c, &mut out.bids, "bids")?,
                b"asks" => rows(&mut c, &mut out.asks, "asks")?,
                b"timestamp" => ts = Some(c.timestamp_ms("timestamp")?),
                b"data" if !spot => {
                    found = true;
                    c.begin_object()?;
                    let mut first = true;
                    while let Some(key) = c.next_key(&mut first)? {
                        match key {
                            b"asks" => rows(&mut c, &mut out.asks, "data.asks")?,
                            b"bids" => rows(&mut c, &mut out.bids, "data.bids")?,
                            b"version" => seq = Some(c.u64("data.version")?),
                            b"timestamp" => ts = Some(c.timestamp_ms("data.timestamp")?),
                            _ => c.skip_value("data")?,
                        }
                    }
                }
                b"success" if !spot => {
                    if !c.bool("success")? {
                        return Err(pb_err("success", "false: the request failed"));
                    }
                }
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        if !spot && !found {
            return Err(pb_err("data", "missing field"));
        }
        let sequence = required(seq, if spot { "lastUpdateId" } else { "data.version" })?;
        Ok(Snapshot { sequence, exchange_ts: ts })
    }
}

impl Venue for Mexc {
    fn id(&self) -> &'static str {
        "mexc"
    }

    fn market(&self) -> &'static str {
        match self.market {
            Market::Spot => "spot",
            Market::Linear => "linear",
        }
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        match (self.market, binary) {
            (Market::Spot, true) => self.spot_binary(frame, out),
            (Market::Spot, false) => Self::spot_text(frame, out),
            (Market::Linear, false) => Self::contract(frame, out),
            (Market::Linear, true) => Err(pb_err("frame", "a binary frame: MEXC contract streams send JSON text")),
        }
    }

    fn recovery(&self) -> Recovery {
        Recovery::RestSnapshot
    }

    fn uses_sync_hints(&self) -> bool {
        self.market == Market::Spot // `spot_binary` skips a stale depth push's levels
    }

    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        self.snapshot(body, out)
    }

    fn check(&self, last: u64, ids: &SeqIds, bridging: bool) -> Verdict {
        let gap = Verdict::Gap { expected: last + 1, received: ids.first };
        match (self.market, bridging) {
            // Spot, after the REST snapshot (version V): toVersion < V is outdated; fromVersion
            // after V + 1 misses versions; otherwise V is within reach of the push: apply.
            (Market::Spot, true) => {
                if ids.last < last {
                    Verdict::Stale
                } else if ids.first <= last + 1 {
                    Verdict::Apply
                } else {
                    gap
                }
            }
            // Spot, live: fromVersion must be the previous toVersion + 1.
            (Market::Spot, false) => {
                if ids.first == last + 1 {
                    Verdict::Apply
                } else if ids.last <= last {
                    Verdict::Stale
                } else {
                    gap
                }
            }
            // Contract: versions up to the snapshot's are stale; each is the previous + 1.
            (Market::Linear, _) => {
                if ids.last <= last {
                    Verdict::Stale
                } else if ids.first == last + 1 {
                    Verdict::Apply
                } else {
                    gap
                }
            }
        }
    }

    /// A partial-book push (`limit.depth`, contract `push.depth.full`) at a version the book
    /// already has (or is past) is the same state cut to its top N levels: dropped, so the
    /// deeper levels the deltas and the REST snapshot gave are kept. A newer one replaces the
    /// book (the versions in between are not known).
    fn stale_snapshot(&self, last: u64, ids: &SeqIds) -> bool {
        ids.last <= last
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        if let Some((_, s)) = self.symbols.iter().find(|(m, _)| m == market_id) {
            return s.clone();
        }
        match self.market {
            Market::Linear => match market_id.split_once('_') {
                Some((base, quote)) if !base.is_empty() && !quote.is_empty() => format!("{base}/{quote}:{quote}"),
                _ => market_id.to_owned(),
            },
            Market::Spot => {
                let split = QUOTES.iter().find(|q| market_id.len() > q.len() && market_id.ends_with(*q));
                match split {
                    Some(q) => format!("{}/{q}", &market_id[..market_id.len() - q.len()]),
                    None => market_id.to_owned(),
                }
            }
        }
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        if let Some((m, _)) = self.symbols.iter().find(|(_, s)| s == symbol) {
            return Ok(m.clone());
        }
        let bad = |why: &str| Error::invalid("symbol", symbol, format!("{why} for mexc {}", self.market()));
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
            (Market::Spot, None) => Ok(format!("{base}{quote}")),
            (Market::Spot, Some(_)) => Err(bad("a contract symbol (with ':') is not a spot market")),
            (Market::Linear, None) => Err(bad("a spot symbol is not a contract (write BASE/QUOTE:QUOTE)")),
            (Market::Linear, Some(s)) if s == quote => Ok(format!("{base}_{quote}")),
            (Market::Linear, Some(_)) => Err(bad("linear contracts settle in their quote (BASE/QUOTE:QUOTE)")),
        }
    }
}
