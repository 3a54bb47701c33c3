//! OKX v5 public market data (`okx`): one exchange id, markets `spot`, `linear`, `inverse`.
//!
//! Follows the OKX API v5 docs as summarised in `shared/docs/exchanges/okx.md`: "WebSocket"
//! overview (endpoints, subscribe/unsubscribe, text `ping`/`pong`, `event:"error"` replies,
//! `event:"notice"`), "Order book channel" (`books`, `books5`, `bbo-tbt`, `books50-l2-tbt`,
//! `books-l2-tbt`: `action` snapshot/update, `seqId`/`prevSeqId`, the top-25 interleaved CRC32
//! `checksum`, always 0 since the 2026 deprecation), "Trades channel" (`trades`, `trades-all`),
//! "Tickers channel" (`tickers`) and "Candlesticks channel" (`candle<bar>`).
//!
//! Frames: `{"arg":{"channel":..,"instId":..},"action":..,"data":[..]}` for market data (the
//! `arg` must precede `data`, as OKX sends it; `action` may come anywhere), `{"event":..}` for
//! replies, and the 4-byte text `pong`. The envelope, the channel and `event` are strict (a
//! Binance, Bybit or OKX v3 frame is a `Frame` error naming its first foreign key); inside a
//! `data` item the fields tickwire reads are required and checked, and other fields are skipped
//! (validated as JSON): OKX adds fields to items over time (trades gained `count` and `seqId`
//! after 2022; our 2022 recording has neither, nor `seqId` on books).
//!
//! One URL serves every instrument type (SPOT, SWAP, FUTURES), so an `okx` venue of any market
//! decodes every instrument id on its connection: the symbol follows from the instrument id
//! (`BTC-USDT` -> `BTC/USDT`, `BTC-USDT-SWAP` -> `BTC/USDT:USDT`, `BTC-USD-SWAP` ->
//! `BTC/USD:BTC`, `BTC-USD-220527` -> `BTC/USD:BTC-220527`), or from the instruments table when
//! one was given. The market a venue was created for only names the endpoint it was asked for.
//!
//! Book sequence: a snapshot has `prevSeqId` -1; each update's `prevSeqId` must equal the
//! previous message's `seqId` (a keep-alive update has `seqId == prevSeqId`; after a maintenance
//! reset `seqId` may be below `prevSeqId`: both continue the chain). Anything else is a gap,
//! recovered by subscribing again (OKX has no REST snapshot to bridge). A checksum of 0 is
//! "absent"; books without `seqId` (before 2023) are checked by their checksum alone.

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::checksum;
use crate::error::{from_json, Error};
use crate::event::{RequestId, Side};
use crate::fixed::{self, Dec};
use crate::json::{ms_to_ns, required, Cursor};
use crate::time::days_from_civil;

/// Markets (endpoints) of `okx`, the default first. All three are served by one URL.
pub const MARKETS: &[&str] = &["spot", "linear", "inverse"];

/// The `okx` factory, registered in [`super::FACTORIES`].
pub struct Factory;

/// The one `okx` factory.
pub static FACTORY: Factory = Factory;

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "okx"
    }

    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        let market = MARKETS.iter().copied().find(|m| *m == market).ok_or_else(|| {
            Error::invalid("market", market, format!("okx has no such market; markets: {}", MARKETS.join(", ")))
        })?;
        let mut venue = Okx { market, symbols: HashMap::new(), ids: HashMap::new() };
        for i in instruments {
            venue.symbols.insert(i.market_id.clone(), i.symbol.clone());
            venue.ids.insert(i.symbol.clone(), i.market_id.clone());
        }
        Ok(Box::new(venue))
    }
}

/// The OKX v5 public parser for one connection.
pub struct Okx {
    market: &'static str,
    /// Instrument id -> unified symbol, from the instruments table (may be empty).
    symbols: HashMap<String, String>,
    /// Unified symbol -> instrument id.
    ids: HashMap<String, String>,
}

/// What a channel's `data` items are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// An order book channel: `incremental` (snapshot then updates, needs `action`) or a full
    /// book every push (`books5`); `depth` the levels per side OKX keeps for it where it is less
    /// than what it sends deletes for.
    Book { incremental: bool, depth: Option<u32> },
    /// `bbo-tbt`: the best bid and ask, tick by tick.
    Bbo,
    /// `tickers`: last trade and best bid/ask (read as a BBO without sequence).
    Ticker,
    /// `trades` (aggregated per taker order and price) and `trades-all` (one per match).
    Trades,
    /// `candle<bar>`.
    Candle(Bar),
}

impl Channel {
    fn parse(name: &str) -> Result<Channel, Error> {
        Ok(match name {
            // OKX sends explicit deletes for levels leaving its 400 (the recording's BTC-USDT
            // book stays at exactly 400 a side): no truncation needed.
            "books" | "books-l2-tbt" => Channel::Book { incremental: true, depth: None },
            "books50-l2-tbt" => Channel::Book { incremental: true, depth: Some(50) },
            "books5" => Channel::Book { incremental: false, depth: Some(5) },
            "bbo-tbt" => Channel::Bbo,
            "tickers" => Channel::Ticker,
            "trades" | "trades-all" => Channel::Trades,
            _ => match name.strip_prefix("candle") {
                Some(bar) => Channel::Candle(Bar::parse(bar)?),
                None => {
                    return Err(Error::frame(
                        "arg.channel",
                        format!("{name:?} is not an OKX v5 public channel tickwire decodes"),
                    ))
                }
            },
        })
    }
}

/// A candle bar ("1m", "4H", "1Dutc", "3M"): its length and how its start is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bar {
    interval: Interval,
    count: u32,
    unit: BarUnit,
    /// Day and longer bars start at midnight Hong Kong time (UTC+8) unless the bar says `utc`.
    utc: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BarUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

const MS: i64 = 1_000_000;
const HOUR_MS: i64 = 3_600_000;

impl Bar {
    fn parse(bar: &str) -> Result<Bar, Error> {
        let bad = || Error::frame("arg.channel", format!("candle bar {bar:?} is not an OKX bar"));
        let (body, utc) = match bar.strip_suffix("utc") {
            Some(b) => (b, true),
            None => (bar, false),
        };
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        let count: u32 = body[..digits].parse().map_err(|_| bad())?;
        let unit = match &body[digits..] {
            "s" => BarUnit::Second,
            "m" => BarUnit::Minute,
            "H" => BarUnit::Hour,
            "D" => BarUnit::Day,
            "W" => BarUnit::Week,
            "M" => BarUnit::Month,
            _ => return Err(bad()),
        };
        if count == 0 || (utc && matches!(unit, BarUnit::Second | BarUnit::Minute)) {
            return Err(bad());
        }
        Ok(Bar { interval: Interval::new(bar, "arg.channel")?, count, unit, utc })
    }

    /// The last ns of the bar that starts at `start_ns`.
    fn end_ns(&self, start_ns: i64) -> i64 {
        let n = i64::from(self.count);
        let ms = match self.unit {
            BarUnit::Second => n * 1_000,
            BarUnit::Minute => n * 60_000,
            BarUnit::Hour => n * HOUR_MS,
            BarUnit::Day => n * 24 * HOUR_MS,
            BarUnit::Week => n * 7 * 24 * HOUR_MS,
            BarUnit::Month => {
                // Calendar months in the bar's time zone.
                let offset = if self.utc { 0 } else { 8 * HOUR_MS };
                let local = start_ns.div_euclid(MS) + offset;
                let (days, rest) = (local.div_euclid(24 * HOUR_MS), local.rem_euclid(24 * HOUR_MS));
                let (y, m, d) = civil_from_days(days);
                let months = i64::from(m) - 1 + n;
                let next = days_from_civil(y + months.div_euclid(12), months.rem_euclid(12) + 1, i64::from(d));
                return (next * 24 * HOUR_MS + rest - offset) * MS - 1;
            }
        };
        start_ns + ms * MS - 1
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
#[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)] // month and day are 1..=31
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A data frame's `arg`.
#[derive(Debug, Clone, Copy)]
struct Arg<'a> {
    channel: Channel,
    inst_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Snapshot,
    Update,
}

/// A reply or notice: `{"event":..,...}` (cold: serde).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFrame {
    event: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    arg: Option<EventArg>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default, rename = "connId")]
    _conn_id: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default, rename = "connCount")]
    _conn_count: Option<String>,
}

/// The `arg` an ack echoes.
#[derive(Deserialize)]
struct EventArg {
    channel: String,
    #[serde(default, rename = "instId")]
    inst_id: Option<String>,
    #[serde(default, rename = "instFamily")]
    inst_family: Option<String>,
    #[serde(default, rename = "instType")]
    inst_type: Option<String>,
}

/// The ack topic of a subscription, as the Python adapter builds it for what it subscribed:
/// `"<channel>:<instId>"` ("books:BTC-USDT"), else `"<channel>:<instFamily>"`, else
/// `"<channel>:<instType>"`, else the channel alone.
pub fn topic(channel: &str, inst_id: Option<&str>, inst_family: Option<&str>, inst_type: Option<&str>) -> String {
    match inst_id.or(inst_family).or(inst_type) {
        Some(what) => format!("{channel}:{what}"),
        None => channel.to_owned(),
    }
}

/// A JSON integer (possibly negative): `seqId`, `prevSeqId`, `checksum`.
fn int(c: &mut Cursor<'_>, field: &'static str) -> Result<i64, Error> {
    let d = c.dec_number(field)?;
    if d.width != 0 {
        return Err(Error::frame(field, "expected an integer"));
    }
    Ok(d.mantissa)
}

/// A ms timestamp sent as a string ("1652459225453"), as ns.
fn ms_string(c: &mut Cursor<'_>, field: &'static str) -> Result<i64, Error> {
    let s = c.str(field)?;
    let b = s.as_bytes();
    let ms = if (9..=16).contains(&b.len()) {
        // 13 digits today: the first and the last 8 (overlapping) in two SWAR steps.
        match (fixed::eight_digits(&b[..8]), fixed::eight_digits(&b[b.len() - 8..])) {
            (Some(high), Some(low)) => {
                let p = fixed::pow10(u8::try_from(b.len() - 8).unwrap_or(0)).unsigned_abs();
                Some(high * p + low % p)
            }
            _ => None,
        }
    } else if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    };
    ms_to_ns(ms.ok_or_else(|| Error::frame(field, format!("{s:?} is not a ms timestamp")))?, field)
}

/// A non-negative decimal string, or "" (OKX's "none", e.g. a ticker without bids) as None.
fn dec_or_empty(c: &mut Cursor<'_>, field: &'static str) -> Result<Option<Dec>, Error> {
    let s = c.str(field)?;
    if s.is_empty() {
        return Ok(None);
    }
    let d = fixed::parse_dec(s, field)?;
    if d.is_negative() {
        return Err(Error::frame(field, format!("{s:?} is negative")));
    }
    Ok(Some(d))
}

/// One level row `["price","size","0","numOrders"]` (the third element is deprecated and always
/// "0"; both trailing elements are skipped). Price above 0, size at least 0 (0 deletes).
#[inline]
fn level(c: &mut Cursor<'_>, field: &'static str) -> Result<RawLevel, Error> {
    // The rows as OKX writes them, in one pass; anything else is read (and named) below.
    if let Some(level) = c.plain_dec_row() {
        return Ok(level);
    }
    if !c.begin_array(field)? {
        return Err(Error::frame(field, "empty level: expected [price, size, ...]"));
    }
    let price = c.dec(field)?;
    if !c.more_elements(field)? {
        return Err(Error::frame(field, "level without a size"));
    }
    let size = c.dec(field)?;
    while c.more_elements(field)? {
        c.skip_value(field)?;
    }
    if price.mantissa <= 0 {
        return Err(Error::frame(field, format!("price {price} is not above 0")));
    }
    if size.is_negative() {
        return Err(Error::frame(field, format!("size {size} is negative")));
    }
    Ok(RawLevel { price, size })
}

/// An array of level rows, appended to `side`.
#[inline]
fn levels(c: &mut Cursor<'_>, side: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
    if c.begin_array(field)? {
        loop {
            // The usual row inline; anything else through `level`, which names the fault.
            match c.plain_dec_row() {
                Some(l) => side.push(l),
                None => side.push(level(c, field)?),
            }
            if !c.more_elements(field)? {
                break;
            }
        }
    }
    Ok(())
}

/// A `GET /api/v5/market/books` reply, `{"code":"0","msg":"","data":[{"asks":[[px,sz,"0",n]],
/// "bids":[..],"ts":"<ms>"}]}`: levels into `out.bids/asks`. The REST book has no `seqId`:
/// its `ts` in ms stands for the sequence (it only orders the fallback's snapshots). A `code`
/// other than `"0"` is an error naming it and `msg`; `data` must hold exactly one book.
fn rest_books(body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
    out.bids.clear();
    out.asks.clear();
    let mut c = Cursor::new(body);
    c.begin_object()?;
    let (mut code, mut message, mut ts, mut books) = (None, None, None, 0usize);
    let mut first = true;
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"code" => code = Some(c.str("code")?),
            b"msg" => message = Some(c.str("msg")?),
            b"data" if !matches!(code, Some(v) if v != "0") => {
                if c.begin_array("data")? {
                    loop {
                        c.begin_object()?;
                        let (mut bids, mut asks) = (false, false);
                        let mut first_key = true;
                        while let Some(k) = c.next_key(&mut first_key)? {
                            match k {
                                b"asks" => {
                                    levels(&mut c, &mut out.asks, "asks")?;
                                    asks = true;
                                }
                                b"bids" => {
                                    levels(&mut c, &mut out.bids, "bids")?;
                                    bids = true;
                                }
                                b"ts" => ts = Some(ms_string(&mut c, "ts")?),
                                _ => c.skip_value("data")?,
                            }
                        }
                        if !(bids && asks) {
                            return Err(Error::frame(if bids { "asks" } else { "bids" }, "missing field"));
                        }
                        books += 1;
                        if !c.more_elements("data")? {
                            break;
                        }
                    }
                }
            }
            _ => c.skip_value("json")?,
        }
    }
    c.end()?;
    match code {
        Some("0") => {}
        Some(v) => return Err(Error::frame("code", format!("{v} {}", message.unwrap_or("")))),
        None => return Err(Error::frame("code", "missing field")),
    }
    if books != 1 {
        return Err(Error::frame("data", format!("{books} books, expected 1")));
    }
    let ts = required(ts, "ts")?;
    let sequence = u64::try_from(ts / 1_000_000).map_err(|_| Error::frame("ts", "negative"))?;
    Ok(Snapshot { sequence, exchange_ts: Some(ts) })
}

fn inst_id<'a>(item: Option<&'a str>, arg: Option<&'a str>) -> Result<&'a str, Error> {
    match (item, arg) {
        (Some(i), Some(a)) if i != a => {
            Err(Error::frame("data.instId", format!("{i:?} differs from arg.instId {a:?}")))
        }
        (Some(i), _) => Ok(i),
        (None, Some(a)) => Ok(a),
        (None, None) => Err(Error::frame("arg.instId", "missing field")),
    }
}

impl Okx {
    /// The `arg` object of a data frame.
    fn arg<'a>(c: &mut Cursor<'a>) -> Result<Arg<'a>, Error> {
        c.begin_object()?;
        let (mut channel, mut inst_id) = (None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"channel" => channel = Some(Channel::parse(c.str("arg.channel")?)?),
                b"instId" => inst_id = Some(c.str("arg.instId")?),
                b"instType" | b"instFamily" | b"uid" => c.skip_value("arg")?,
                other => return Err(Error::frame("arg", format!("unknown key {:?}", String::from_utf8_lossy(other)))),
            }
        }
        Ok(Arg { channel: required(channel, "arg.channel")?, inst_id })
    }

    /// One item of a book channel's `data`.
    fn book(c: &mut Cursor<'_>, arg: &Arg<'_>, depth: Option<u32>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let from = (out.bids.len(), out.asks.len());
        let (mut ts, mut checksum, mut seq, mut prev, mut item_inst) = (None, None, None, None, None);
        let (mut saw_bids, mut saw_asks) = (false, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"asks" => {
                    levels(c, &mut out.asks, "asks")?;
                    saw_asks = true;
                }
                b"bids" => {
                    levels(c, &mut out.bids, "bids")?;
                    saw_bids = true;
                }
                b"ts" => ts = Some(ms_string(c, "ts")?),
                b"checksum" => checksum = Some(int(c, "checksum")?),
                b"seqId" => seq = Some(int(c, "seqId")?),
                b"prevSeqId" => prev = Some(int(c, "prevSeqId")?),
                b"instId" => item_inst = Some(c.str("instId")?),
                _ => c.skip_value("data")?,
            }
        }
        if !(saw_bids && saw_asks) {
            return Err(Error::frame(if saw_bids { "asks" } else { "bids" }, "missing field"));
        }
        let checksum = match checksum {
            // Deprecated since 2026: always 0, meaning "none".
            None | Some(0) => None,
            Some(c) => {
                let signed =
                    i32::try_from(c).map_err(|_| Error::frame("checksum", format!("{c} is not a 32-bit CRC")))?;
                Some(u32::from_ne_bytes(signed.to_ne_bytes()))
            }
        };
        let ids = match (seq, prev) {
            (None, None) => None,
            (None, Some(_)) => return Err(Error::frame("seqId", "missing field (prevSeqId is present)")),
            (Some(s), p) => {
                let last = u64::try_from(s).map_err(|_| Error::frame("seqId", format!("{s} is negative")))?;
                let prev = match p {
                    None | Some(-1) => None,
                    Some(p) => {
                        Some(u64::try_from(p).map_err(|_| Error::frame("prevSeqId", format!("{p} is below -1")))?)
                    }
                };
                Some(SeqIds { first: last, last, prev })
            }
        };
        let symbol = out.symbol(inst_id(item_inst, arg.inst_id)?);
        // The kind is set from `action` once the whole frame is read (it may follow `data`).
        out.book(symbol, BookKind::Delta, ids, checksum, depth, ts, from);
        Ok(())
    }

    /// One item of `bbo-tbt`: one level a side ("" sides are empty books: 0 price and size).
    fn bbo(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let from = (out.bids.len(), out.asks.len());
        let (mut ts, mut seq, mut item_inst) = (None, None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"asks" => levels(c, &mut out.asks, "asks")?,
                b"bids" => levels(c, &mut out.bids, "bids")?,
                b"ts" => ts = Some(ms_string(c, "ts")?),
                b"seqId" => seq = Some(int(c, "seqId")?),
                b"instId" => item_inst = Some(c.str("instId")?),
                _ => c.skip_value("data")?,
            }
        }
        let bid = out.bids.get(from.0).copied().unwrap_or_default();
        let ask = out.asks.get(from.1).copied().unwrap_or_default();
        if out.bids.len() > from.0 + 1 || out.asks.len() > from.1 + 1 {
            return Err(Error::frame("bids", "bbo-tbt sends at most one level a side"));
        }
        out.bids.truncate(from.0);
        out.asks.truncate(from.1);
        let sequence =
            seq.map(|s| u64::try_from(s).map_err(|_| Error::frame("seqId", format!("{s} is negative")))).transpose()?;
        let symbol = out.symbol(inst_id(item_inst, arg.inst_id)?);
        out.items.push(Item::Bbo { symbol, bbo: BboItem { bid, ask, sequence, exchange_ts: ts } });
        Ok(())
    }

    /// One item of `tickers`, read as a BBO (its best bid/ask and their sizes).
    fn ticker(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut ts, mut item_inst) = (None, None);
        let (mut bid_px, mut bid_sz, mut ask_px, mut ask_sz) = (None, None, None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"bidPx" => bid_px = Some(dec_or_empty(c, "bidPx")?),
                b"bidSz" => bid_sz = Some(dec_or_empty(c, "bidSz")?),
                b"askPx" => ask_px = Some(dec_or_empty(c, "askPx")?),
                b"askSz" => ask_sz = Some(dec_or_empty(c, "askSz")?),
                b"ts" => ts = Some(ms_string(c, "ts")?),
                b"instId" => item_inst = Some(c.str("instId")?),
                _ => c.skip_value("data")?,
            }
        }
        let side = |px: Option<Option<Dec>>, sz: Option<Option<Dec>>, p: &str, s: &str| -> Result<RawLevel, Error> {
            let (px, sz) = (required(px, p)?, required(sz, s)?);
            Ok(RawLevel { price: px.unwrap_or_default(), size: sz.unwrap_or_default() })
        };
        let bid = side(bid_px, bid_sz, "bidPx", "bidSz")?;
        let ask = side(ask_px, ask_sz, "askPx", "askSz")?;
        let symbol = out.symbol(inst_id(item_inst, arg.inst_id)?);
        out.items.push(Item::Bbo { symbol, bbo: BboItem { bid, ask, sequence: None, exchange_ts: ts } });
        Ok(())
    }

    /// One item of `trades` / `trades-all`.
    fn trade(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut px, mut sz, mut side, mut id, mut ts, mut item_inst) = (None, None, None, None, None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"px" => px = Some(c.dec("px")?),
                b"sz" => sz = Some(c.dec("sz")?),
                b"side" => {
                    side = Some(match c.str("side")? {
                        "buy" => Side::Buy,
                        "sell" => Side::Sell,
                        other => return Err(Error::frame("side", format!("{other:?} is neither buy nor sell"))),
                    });
                }
                b"tradeId" => {
                    let s = c.str("tradeId")?;
                    id = Some(match s.parse::<u64>() {
                        Ok(n) if !s.starts_with('+') => TradeId::Int(n),
                        _ if !s.is_empty() => TradeId::text(s, "tradeId")?,
                        _ => return Err(Error::frame("tradeId", "empty")),
                    });
                }
                b"ts" => ts = Some(ms_string(c, "ts")?),
                b"instId" => item_inst = Some(c.str("instId")?),
                _ => c.skip_value("data")?,
            }
        }
        let (price, amount) = (required(px, "px")?, required(sz, "sz")?);
        if price.mantissa <= 0 {
            return Err(Error::frame("px", format!("{price} is not above 0")));
        }
        if amount.is_negative() {
            return Err(Error::frame("sz", format!("{amount} is negative")));
        }
        let ts = required(ts, "ts")?;
        let trade = TradeItem {
            price,
            size: amount,
            side: required(side, "side")?,
            trade_id: required(id, "tradeId")?,
            trade_ts: ts,
            exchange_ts: ts,
        };
        let symbol = out.symbol(inst_id(item_inst, arg.inst_id)?);
        out.items.push(Item::Trade { symbol, trade });
        Ok(())
    }

    /// One row of `candle<bar>`: `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`. The
    /// volume is in the base currency: `vol` on spot ids, `volCcy` on derivatives (whose `vol`
    /// counts contracts).
    fn candle(c: &mut Cursor<'_>, arg: &Arg<'_>, bar: &Bar, out: &mut Out) -> Result<(), Error> {
        const F: &str = "data[]";
        let inst = inst_id(None, arg.inst_id)?;
        let spot = inst.bytes().filter(|&b| b == b'-').count() == 1;
        if !c.begin_array(F)? {
            return Err(Error::frame(F, "empty candle row"));
        }
        let start = ms_string(c, "data[][0]")?;
        let mut values = [Dec::ZERO; 7];
        let names = ["data[][1]", "data[][2]", "data[][3]", "data[][4]", "data[][5]", "data[][6]", "data[][7]"];
        for (v, name) in values.iter_mut().zip(names) {
            if !c.more_elements(F)? {
                return Err(Error::frame(name, "missing candle field"));
            }
            *v = c.dec(name)?;
        }
        if !c.more_elements(F)? {
            return Err(Error::frame("data[][8]", "missing candle field (confirm)"));
        }
        let closed = match c.str("data[][8]")? {
            "0" => false,
            "1" => true,
            other => return Err(Error::frame("data[][8]", format!("confirm {other:?} is neither 0 nor 1"))),
        };
        while c.more_elements(F)? {
            c.skip_value(F)?;
        }
        let [open, high, low, close, vol, vol_ccy, _] = values;
        let candle = CandleItem {
            interval: bar.interval,
            start_ts: start,
            end_ts: bar.end_ns(start),
            open,
            high,
            low,
            close,
            volume: if spot { vol } else { vol_ccy },
            trades: None,
            closed: Some(closed),
            exchange_ts: None,
        };
        let symbol = out.symbol(inst);
        out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
        Ok(())
    }

    /// A data frame's `data` array.
    fn data(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        if !c.begin_array("data")? {
            return Ok(());
        }
        loop {
            match arg.channel {
                Channel::Book { depth, .. } => Self::book(c, arg, depth, out)?,
                Channel::Bbo => Self::bbo(c, arg, out)?,
                Channel::Ticker => Self::ticker(c, arg, out)?,
                Channel::Trades => Self::trade(c, arg, out)?,
                Channel::Candle(bar) => Self::candle(c, arg, &bar, out)?,
            }
            if !c.more_elements("data")? {
                return Ok(());
            }
        }
    }

    /// A reply or notice frame.
    #[cold]
    fn event(frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let e: EventFrame = from_json(frame)?;
        let request_id = e.id.map(|id| match id.parse::<i64>() {
            Ok(n) if !id.starts_with(['+', '-']) => RequestId::Int(n),
            _ => RequestId::Str(id),
        });
        let code = e
            .code
            .as_deref()
            .map(|s| s.parse::<i64>().map_err(|_| Error::frame("code", format!("{s:?} is not a number"))))
            .transpose()?;
        let topic = e
            .arg
            .as_ref()
            .map(|a| topic(&a.channel, a.inst_id.as_deref(), a.inst_family.as_deref(), a.inst_type.as_deref()));
        let kind = match e.event.as_str() {
            "subscribe" | "unsubscribe" => ControlKind::Ack,
            "login" if code.unwrap_or(0) == 0 => ControlKind::Login,
            "error" | "channel-conn-count-error" | "login" => ControlKind::Error,
            "notice" | "channel-conn-count" => {
                let mut name = e.event.clone();
                if let Some(code) = code {
                    name = format!("{name}:{code}");
                }
                if let Some(ch) = e.channel {
                    name = format!("{name}:{ch}");
                }
                out.items.push(Item::Notice { name, exchange_ts: None });
                return Ok(());
            }
            other => return Err(Error::frame("event", format!("{other:?} is not an OKX v5 event"))),
        };
        if kind == ControlKind::Ack && topic.is_none() {
            return Err(Error::frame("arg", "an ack without the arg it acknowledges"));
        }
        let message = e.msg.filter(|m| !m.is_empty());
        out.items.push(Item::Control(ControlItem { kind, request_id, topic, code, message }));
        Ok(())
    }

    fn parse_frame(frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let (mut arg, mut action, mut saw_data) = (None, None, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"arg" => arg = Some(Self::arg(&mut c)?),
                b"action" => {
                    action = Some(match c.str("action")? {
                        "snapshot" => Action::Snapshot,
                        "update" => Action::Update,
                        other => {
                            return Err(Error::frame("action", format!("{other:?} is neither snapshot nor update")))
                        }
                    });
                }
                b"data" => {
                    let a = arg.ok_or_else(|| Error::frame("arg", "expected before data"))?;
                    Self::data(&mut c, &a, out)?;
                    saw_data = true;
                }
                b"event" | b"id" | b"code" | b"msg" | b"connId" => return Self::event(frame, out),
                other => {
                    return Err(Error::frame(
                        String::from_utf8_lossy(other).into_owned(),
                        "not a field of an OKX v5 public frame",
                    ))
                }
            }
        }
        c.end()?;
        let arg = required(arg, "arg")?;
        if !saw_data {
            return Err(Error::frame("data", "missing field"));
        }
        let kind = match (arg.channel, action) {
            (Channel::Book { incremental: true, .. }, Some(Action::Update)) => BookKind::Delta,
            (Channel::Book { incremental: true, .. }, None) => return Err(Error::frame("action", "missing field")),
            (Channel::Book { incremental: true, .. }, Some(Action::Snapshot))
            | (Channel::Book { incremental: false, .. }, None | Some(Action::Snapshot)) => BookKind::Snapshot,
            (_, None) => return Ok(()),
            (_, Some(_)) => return Err(Error::frame("action", "only order book channels have an action")),
        };
        for item in &mut out.items {
            if let Item::Book(b) = item {
                b.kind = kind;
                match (kind, b.ids) {
                    (BookKind::Delta, Some(SeqIds { prev: None, .. })) => {
                        return Err(Error::frame("prevSeqId", "an update must name the seqId it follows"))
                    }
                    (BookKind::Snapshot, Some(SeqIds { prev: Some(p), .. })) => {
                        return Err(Error::frame("prevSeqId", format!("a snapshot has -1, not {p}")))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Split a unified symbol into (base, quote, settle, expiry).
fn split_symbol(symbol: &str) -> Option<(&str, &str, Option<&str>, Option<&str>)> {
    let (pair, contract) = match symbol.split_once(':') {
        Some((p, c)) => (p, Some(c)),
        None => (symbol, None),
    };
    let (base, quote) = pair.split_once('/')?;
    let (settle, expiry) = match contract {
        None => (None, None),
        Some(c) => match c.split_once('-') {
            Some((s, e)) => (Some(s), Some(e)),
            None => (Some(c), None),
        },
    };
    let code = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let date = |e: &str| e.len() == 6 && e.bytes().all(|b| b.is_ascii_digit());
    (code(base) && code(quote) && settle.map_or(true, code) && expiry.map_or(true, date))
        .then_some((base, quote, settle, expiry))
}

/// The unified symbol and market of an OKX instrument id by its shape: `B-Q` spot; `B-Q-SWAP`
/// and `B-Q-YYMMDD` derivatives, coin-margined (`inverse`, settled in the base) when the quote
/// is USD, else margined in the quote (`linear`). None for other shapes (options).
pub fn unified(market_id: &str) -> Option<(String, &'static str)> {
    let code = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let parts: Vec<&str> = market_id.split('-').collect();
    if !parts.iter().all(|p| code(p)) {
        return None;
    }
    match parts[..] {
        [b, q] => Some((format!("{b}/{q}"), "spot")),
        [b, q, kind] => {
            let (settle, market) = if q == "USD" { (b, "inverse") } else { (q, "linear") };
            if kind == "SWAP" {
                Some((format!("{b}/{q}:{settle}"), market))
            } else if kind.len() == 6 && kind.bytes().all(|c| c.is_ascii_digit()) {
                Some((format!("{b}/{q}:{settle}-{kind}"), market))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The instrument id and market of a unified symbol by the same rules as [`unified`].
pub fn instrument_id(symbol: &str) -> Option<(String, &'static str)> {
    let (base, quote, settle, expiry) = split_symbol(symbol)?;
    let Some(settle) = settle else { return Some((format!("{base}-{quote}"), "spot")) };
    let market = if quote == "USD" && settle == base {
        "inverse"
    } else if quote != "USD" && settle == quote {
        "linear"
    } else {
        return None;
    };
    let kind = expiry.unwrap_or("SWAP");
    Some((format!("{base}-{quote}-{kind}"), market))
}

impl Venue for Okx {
    fn id(&self) -> &'static str {
        "okx"
    }

    fn market(&self) -> &'static str {
        self.market
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "OKX v5 public streams send text frames only"));
        }
        if frame == b"pong" {
            out.items.push(Item::Control(ControlItem {
                kind: ControlKind::Pong,
                request_id: None,
                topic: None,
                code: None,
                message: None,
            }));
            return Ok(());
        }
        match Self::parse_frame(frame, out) {
            // Only a frame whose channel the public parser refused can be a private one.
            Err(e) => match private_channel(frame) {
                Some(channel) => {
                    out.clear();
                    Self::private(channel, frame, out)
                }
                None => Err(e),
            },
            ok => ok,
        }
    }

    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
    }

    /// The REST fallback's top-N book (`GET /api/v5/market/books`, see [`rest_books`]). OKX
    /// books sync from the WebSocket's snapshot; this body only loads the fallback's own
    /// decoder.
    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        rest_books(body, out)
    }

    fn parse_account(&mut self, what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        Self::account_list(what, body, out)
    }

    fn parse_trades(&mut self, body: &[u8]) -> Result<Vec<TradeItem>, Error> {
        recent_trades(body)
    }

    /// OKX's rule: an update continues the chain iff its `prevSeqId` is the previous `seqId`
    /// (whether `seqId` went up, stayed (keep-alive) or went down (maintenance reset)).
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        match ids.prev {
            Some(prev) if prev == last => Verdict::Apply,
            Some(prev) => Verdict::Gap { expected: last, received: prev },
            None => Verdict::Gap { expected: last, received: ids.last },
        }
    }

    fn checksum(&self) -> Option<checksum::Format> {
        Some(checksum::Format::Interleaved)
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
        instrument_id(symbol).map(|(id, _)| id).ok_or_else(|| {
            Error::invalid(
                "symbol",
                symbol,
                "not an OKX spot (BTC/USDT), swap (BTC/USDT:USDT, BTC/USD:BTC) or futures (BTC/USD:BTC-220527) symbol",
            )
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Private (account) side: okx.md §7-§8, the "Order channel", "Positions channel", "Account
// channel" and "Balance and position channel" pages, and the REST "Get transaction details"
// (`/api/v5/trade/fills`, `/fills-history`) and "Get order history" (`/orders-history`) pages.
//
// Private frames come on `/ws/v5/private` as `{"arg":{"channel":"orders",...},"data":[..]}`: the
// public parser refuses their channel in `arg`, and only then (a cold path: the public hot path
// pays nothing) `private_channel` recognizes one of these channels by the frame's shape and serde
// reads it. Every number stays the exact decimal OKX wrote; "" (OKX's "none") is None.
//
// `state` -> OrderStatus:
//
// | OKX `state`        | OrderStatus      | why                                              |
// |--------------------|------------------|--------------------------------------------------|
// | `live`             | New              | accepted, resting, nothing filled                |
// | `partially_filled` | PartiallyFilled  |                                                  |
// | `filled`           | Filled           |                                                  |
// | `canceled`         | Canceled         | by the user or the system (`cancelSource` says)  |
// | `mmp_canceled`     | Canceled         | canceled by market maker protection              |
//
// `ordType` -> (order type, time in force): `limit` (limit, gtc), `market` (market, None),
// `post_only` (limit_maker, post_only), `fok` / `op_fok` (limit, fok), `ioc` (limit, ioc),
// `optimal_limit_ioc` (market, ioc: a market order limited to the best price levels), `mmp`
// and `elp` (limit, gtc: a market maker's / liquidity program's limit order),
// `mmp_and_post_only` (limit_maker, post_only).
//
// Sizes: spot and margin in the base currency, except a spot market order with
// `tgtCcy` `quote_ccy`, whose `sz` is in the quote currency (as OKX writes it); SWAP, FUTURES
// and OPTION sizes (orders, fills, positions) are in contracts (`ctVal` in the instruments list
// converts them). Fees: OKX writes a charged fee negative and a rebate positive; a `Fill`'s fee
// is the opposite (positive = paid). Positions: `posSide` `long`/`short` (long/short mode, `pos`
// >= 0) or `net` (`pos` signed: > 0 long, < 0 short); size = |pos|, 0 is flat. Balances
// (`account` `details[]`): `free` = `availBal` (available for new orders and transfers), `locked`
// = `frozenBal` (held by open orders, margin and strategies), `total` = `cashBal` (the cash
// balance: it excludes unrealized PnL, so `free + locked` may differ from it by the upl);
// `balance_and_position` `balData[]` gives `cashBal` only (total).

use crate::account::{
    AccountList, BalanceItem, FillItem, MarginMode, OrderItem, OrderStatus, PositionItem, PositionSide,
};

/// An account channel of `/ws/v5/private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrivateChannel {
    Orders,
    Fills,
    Positions,
    Account,
    BalanceAndPosition,
}

/// The account channel of a frame that starts `{"arg":{"channel":"<name>"` (as OKX writes it),
/// else None.
fn private_channel(frame: &[u8]) -> Option<PrivateChannel> {
    let rest = frame.strip_prefix(br#"{"arg":{"channel":""#)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(match &rest[..end] {
        b"orders" => PrivateChannel::Orders,
        b"fills" => PrivateChannel::Fills,
        b"positions" => PrivateChannel::Positions,
        b"account" => PrivateChannel::Account,
        b"balance_and_position" => PrivateChannel::BalanceAndPosition,
        _ => return None,
    })
}

/// A private frame: its `data` array is read per channel.
#[derive(Deserialize)]
struct PrivateFrame<'a> {
    #[serde(rename = "arg")]
    _arg: serde::de::IgnoredAny,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}

/// A REST reply `{"code":"0","msg":"","data":[..]}`.
#[derive(Deserialize)]
struct RestReply<'a> {
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

/// An `orders` item (and an `orders-history` row: the same names, without the `fill*` fee
/// fields).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderRow {
    inst_id: String,
    ord_id: String,
    #[serde(default)]
    cl_ord_id: String,
    side: String,
    ord_type: String,
    state: String,
    #[serde(default)]
    px: String,
    sz: String,
    #[serde(default)]
    acc_fill_sz: String,
    #[serde(default)]
    avg_px: String,
    #[serde(default)]
    reduce_only: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    c_time: String,
    u_time: String,
    #[serde(default)]
    trade_id: String,
    #[serde(default)]
    fill_px: String,
    #[serde(default)]
    fill_sz: String,
    #[serde(default)]
    fill_time: String,
    #[serde(default)]
    fill_fee: String,
    #[serde(default)]
    fill_fee_ccy: String,
    #[serde(default)]
    exec_type: String,
}

/// A `fills` channel item (VIP5+) or a REST `fills` / `fills-history` row.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FillRow {
    inst_id: String,
    trade_id: String,
    ord_id: String,
    #[serde(default)]
    cl_ord_id: String,
    side: String,
    fill_px: String,
    fill_sz: String,
    #[serde(default)]
    exec_type: String,
    /// REST only.
    #[serde(default)]
    fee: Option<String>,
    #[serde(default)]
    fee_ccy: String,
    /// The fill's time (the WS channel's and REST's `ts`; REST also has `fillTime`).
    ts: String,
}

/// A `positions` item or a `balance_and_position` `posData` item.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionRow {
    inst_id: String,
    pos_side: String,
    pos: String,
    #[serde(default)]
    avg_px: String,
    #[serde(default)]
    mark_px: String,
    #[serde(default)]
    upl: String,
    #[serde(default)]
    liq_px: String,
    #[serde(default)]
    lever: String,
    #[serde(default)]
    mgn_mode: String,
    u_time: String,
}

/// An `account` item: its `details` per currency.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountRow {
    details: Vec<BalanceRow>,
    u_time: String,
}

/// An `account` `details` item or a `balance_and_position` `balData` item.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceRow {
    ccy: String,
    cash_bal: String,
    #[serde(default)]
    avail_bal: Option<String>,
    #[serde(default)]
    frozen_bal: Option<String>,
    #[serde(default)]
    u_time: String,
}

/// A `balance_and_position` item.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceAndPositionRow {
    p_time: String,
    #[serde(default)]
    bal_data: Vec<BalanceRow>,
    #[serde(default)]
    pos_data: Vec<PositionRow>,
}

/// A decimal string, "" as None (negative allowed: profit and loss, balances, fees).
fn opt_dec(s: &str, field: &'static str) -> Result<Option<Dec>, Error> {
    if s.is_empty() {
        Ok(None)
    } else {
        fixed::parse_dec(s, field).map(Some)
    }
}

/// A non-negative decimal string (a size).
fn size_dec(s: &str, field: &'static str) -> Result<Dec, Error> {
    let d = fixed::parse_dec(s, field)?;
    if d.is_negative() {
        return Err(Error::frame(field, format!("{s:?} is negative")));
    }
    Ok(d)
}

/// A price: "" and "0" (OKX's "none yet", e.g. `avgPx` before a fill) as None.
fn price_dec(s: &str, field: &'static str) -> Result<Option<Dec>, Error> {
    Ok(opt_dec(s, field)?.filter(|d| d.mantissa != 0))
}

/// A ms timestamp string as ns.
fn ms_text(s: &str, field: &'static str) -> Result<i64, Error> {
    let ms = s.parse::<u64>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
    ms_to_ns(ms.ok_or_else(|| Error::frame(field, format!("{s:?} is not a ms timestamp")))?, field)
}

fn side_of(s: &str, field: &'static str) -> Result<Side, Error> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(Error::frame(field, format!("{other:?} is neither buy nor sell"))),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// `execType`: `M` maker, `T` taker, "" (no fill) unknown.
fn maker_of(s: &str) -> Result<Option<bool>, Error> {
    match s {
        "M" => Ok(Some(true)),
        "T" => Ok(Some(false)),
        "" => Ok(None),
        other => Err(Error::frame("data.execType", format!("{other:?} is neither T nor M"))),
    }
}

/// OKX's fee (negative = charged) as tickwire's (positive = paid).
fn paid(fee: Dec) -> Dec {
    Dec { mantissa: -fee.mantissa, width: fee.width }
}

fn status_of(state: &str) -> Result<OrderStatus, Error> {
    Ok(match state {
        "live" => OrderStatus::New,
        "partially_filled" => OrderStatus::PartiallyFilled,
        "filled" => OrderStatus::Filled,
        "canceled" | "mmp_canceled" => OrderStatus::Canceled,
        other => return Err(Error::frame("data.state", format!("{other:?} is not an OKX order state"))),
    })
}

fn order_type_of(t: &str) -> Result<(&'static str, Option<&'static str>), Error> {
    use crate::account::{order_type as ot, time_in_force as tif};
    Ok(match t {
        "limit" | "mmp" | "elp" => (ot::LIMIT, Some(tif::GTC)),
        "market" => (ot::MARKET, None),
        "post_only" | "mmp_and_post_only" => (ot::LIMIT_MAKER, Some(tif::POST_ONLY)),
        "fok" | "op_fok" => (ot::LIMIT, Some(tif::FOK)),
        "ioc" => (ot::LIMIT, Some(tif::IOC)),
        "optimal_limit_ioc" => (ot::MARKET, Some(tif::IOC)),
        other => return Err(Error::frame("data.ordType", format!("{other:?} is not an OKX order type"))),
    })
}

fn position_of(row: &PositionRow, out: &mut Out) -> Result<PositionItem, Error> {
    let signed = fixed::parse_dec(&row.pos, "data.pos")?;
    let size = Dec { mantissa: signed.mantissa.abs(), width: signed.width };
    let direction = match row.pos_side.as_str() {
        _ if signed.mantissa == 0 => PositionSide::Flat,
        "short" => PositionSide::Short,
        "net" | "" if signed.is_negative() => PositionSide::Short,
        "long" | "net" | "" => PositionSide::Long,
        other => return Err(Error::frame("data.posSide", format!("{other:?} is not long, short or net"))),
    };
    let margin_mode = match row.mgn_mode.as_str() {
        "cross" => Some(MarginMode::Cross),
        "isolated" => Some(MarginMode::Isolated),
        "" => None,
        other => return Err(Error::frame("data.mgnMode", format!("{other:?} is neither cross nor isolated"))),
    };
    Ok(PositionItem {
        symbol: out.symbol(&row.inst_id),
        side: direction,
        size,
        entry_price: price_dec(&row.avg_px, "data.avgPx")?,
        mark_price: price_dec(&row.mark_px, "data.markPx")?,
        unrealized_pnl: opt_dec(&row.upl, "data.upl")?,
        liquidation_price: price_dec(&row.liq_px, "data.liqPx")?,
        leverage: price_dec(&row.lever, "data.lever")?,
        margin_mode,
        exchange_ts: ms_text(&row.u_time, "data.uTime")?,
    })
}

fn balance_of(row: BalanceRow, fallback_ts: &str) -> Result<BalanceItem, Error> {
    let ts = if row.u_time.is_empty() { fallback_ts } else { &row.u_time };
    Ok(BalanceItem {
        free: opt_dec(row.avail_bal.as_deref().unwrap_or(""), "details.availBal")?,
        locked: opt_dec(row.frozen_bal.as_deref().unwrap_or(""), "details.frozenBal")?,
        total: opt_dec(&row.cash_bal, "details.cashBal")?,
        exchange_ts: ms_text(ts, "details.uTime")?,
        asset: row.ccy,
    })
}

impl Okx {
    /// An order row as an [`OrderItem`], and (`with_fill`: the `orders` channel) the
    /// [`FillItem`] of its latest fill when `tradeId` is set.
    fn order_of(row: OrderRow, with_fill: bool, out: &mut Out) -> Result<(), Error> {
        let symbol = out.symbol(&row.inst_id);
        let side = side_of(&row.side, "data.side")?;
        let (order_type, time_in_force) = order_type_of(&row.ord_type)?;
        let reduce_only = match row.reduce_only.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            "" => None,
            other => return Err(Error::frame("data.reduceOnly", format!("{other:?} is not a boolean"))),
        };
        let created_ts = if row.c_time.is_empty() { None } else { Some(ms_text(&row.c_time, "data.cTime")?) };
        let client_order_id = non_empty(row.cl_ord_id);
        if with_fill && !row.trade_id.is_empty() {
            let fee = opt_dec(&row.fill_fee, "data.fillFee")?.map(paid);
            let liquidation = Some(matches!(row.category.as_str(), "full_liquidation" | "partial_liquidation"));
            out.items.push(Item::Fill(Box::new(FillItem {
                symbol,
                trade_id: row.trade_id,
                order_id: row.ord_id.clone(),
                client_order_id: client_order_id.clone(),
                side,
                price: size_dec(&row.fill_px, "data.fillPx")?,
                size: size_dec(&row.fill_sz, "data.fillSz")?,
                fee,
                fee_asset: non_empty(row.fill_fee_ccy),
                is_maker: maker_of(&row.exec_type)?,
                liquidation: if row.category.is_empty() { None } else { liquidation },
                exchange_ts: ms_text(&row.fill_time, "data.fillTime")?,
            })));
        }
        let order = OrderItem {
            symbol,
            order_id: row.ord_id,
            client_order_id,
            side,
            order_type,
            time_in_force,
            status: status_of(&row.state)?,
            price: price_dec(&row.px, "data.px")?,
            trigger_price: None,
            size: size_dec(&row.sz, "data.sz")?,
            filled_size: if row.acc_fill_sz.is_empty() {
                Dec::ZERO
            } else {
                size_dec(&row.acc_fill_sz, "data.accFillSz")?
            },
            average_price: price_dec(&row.avg_px, "data.avgPx")?,
            reduce_only,
            created_ts,
            exchange_ts: ms_text(&row.u_time, "data.uTime")?,
        };
        // The fill (if any) first, then the order state it led to.
        out.items.push(Item::Order(Box::new(order)));
        Ok(())
    }

    /// A `fills` channel item or a REST fills row.
    fn fill_of(row: FillRow, out: &mut Out) -> Result<(), Error> {
        let fee = match row.fee.as_deref() {
            None | Some("") => None,
            Some(f) => Some(paid(fixed::parse_dec(f, "data.fee")?)),
        };
        let item = FillItem {
            symbol: out.symbol(&row.inst_id),
            side: side_of(&row.side, "data.side")?,
            price: size_dec(&row.fill_px, "data.fillPx")?,
            size: size_dec(&row.fill_sz, "data.fillSz")?,
            fee,
            fee_asset: non_empty(row.fee_ccy),
            is_maker: maker_of(&row.exec_type)?,
            liquidation: None,
            exchange_ts: ms_text(&row.ts, "data.ts")?,
            trade_id: row.trade_id,
            order_id: row.ord_id,
            client_order_id: non_empty(row.cl_ord_id),
        };
        out.items.push(Item::Fill(Box::new(item)));
        Ok(())
    }

    /// A private frame of `channel` (see the table above).
    #[cold]
    #[inline(never)]
    fn private(channel: PrivateChannel, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let f: PrivateFrame<'_> = from_json(frame)?;
        let data = f.data.get().as_bytes();
        match channel {
            PrivateChannel::Orders => {
                for row in from_json::<Vec<OrderRow>>(data)? {
                    Self::order_of(row, true, out)?;
                }
            }
            PrivateChannel::Fills => {
                for row in from_json::<Vec<FillRow>>(data)? {
                    Self::fill_of(row, out)?;
                }
            }
            PrivateChannel::Positions => {
                for row in from_json::<Vec<PositionRow>>(data)? {
                    let p = position_of(&row, out)?;
                    out.items.push(Item::Position(Box::new(p)));
                }
            }
            PrivateChannel::Account => {
                for row in from_json::<Vec<AccountRow>>(data)? {
                    for detail in row.details {
                        out.items.push(Item::Balance(Box::new(balance_of(detail, &row.u_time)?)));
                    }
                }
            }
            PrivateChannel::BalanceAndPosition => {
                for row in from_json::<Vec<BalanceAndPositionRow>>(data)? {
                    for bal in row.bal_data {
                        out.items.push(Item::Balance(Box::new(balance_of(bal, &row.p_time)?)));
                    }
                    for pos in row.pos_data {
                        let p = position_of(&pos, out)?;
                        out.items.push(Item::Position(Box::new(p)));
                    }
                }
            }
        }
        Ok(())
    }

    /// A REST account list (`GET /api/v5/trade/fills`, `/fills-history`, `/orders-pending`,
    /// `/orders-history`). OKX lists them newest first; the items go out oldest first (rows of
    /// one millisecond keep their order of execution: the recovery sorts by time only).
    fn account_list(what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        let reply: RestReply<'_> = from_json(body)?;
        if reply.code != "0" {
            return Err(Error::frame("code", format!("OKX error {}: {}", reply.code, reply.msg)));
        }
        let data = reply.data.ok_or_else(|| Error::frame("data", "missing field"))?.get().as_bytes();
        match what {
            AccountList::Fills => {
                for row in from_json::<Vec<FillRow>>(data)?.into_iter().rev() {
                    Self::fill_of(row, out)?;
                }
            }
            AccountList::Orders => {
                for row in from_json::<Vec<OrderRow>>(data)?.into_iter().rev() {
                    Self::order_of(row, false, out)?;
                }
            }
        }
        Ok(())
    }
}

// --- REST recent trades (trade recovery after a reconnect, REST fallback polls) -------------

/// `GET /api/v5/market/trades` (public; up to 500, newest first):
/// `{"code":"0","msg":"","data":[{instId, side, sz, px, source, tradeId, ts}]}`: each row read
/// as a `trades` stream item (same ids, exact decimals). A non-zero `code` is an error.
fn recent_trades(body: &[u8]) -> Result<Vec<TradeItem>, Error> {
    let mut out = Out::default();
    let arg = Arg { channel: Channel::Trades, inst_id: None };
    let mut c = Cursor::new(body);
    c.begin_object()?;
    let (mut first, mut code_ok, mut data) = (true, false, false);
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"code" => {
                let code = c.str("code")?;
                if code != "0" {
                    return Err(Error::frame("code", format!("OKX error code {code:?}")));
                }
                code_ok = true;
            }
            b"data" if c.begin_array("data")? => {
                data = true;
                loop {
                    Okx::trade(&mut c, &arg, &mut out)?;
                    if !c.more_elements("data")? {
                        break;
                    }
                }
            }
            b"data" => data = true,
            _ => c.skip_value("reply")?,
        }
    }
    c.end()?;
    if !code_ok || !data {
        return Err(Error::frame(if code_ok { "data" } else { "code" }, "missing field"));
    }
    Ok(out
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Trade { trade, .. } => Some(*trade),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue() -> Box<dyn Venue> {
        FACTORY.create("spot", &[]).unwrap()
    }

    fn parse(frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        venue().parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    fn ids(prev: Option<u64>, last: u64) -> SeqIds {
        SeqIds { first: last, last, prev }
    }

    #[test]
    fn sequence_rule_follows_the_docs_worked_example() {
        // okx.md §5: snapshot (prev -1, seq 10) -> (10, 15) -> keep-alive (15, 15) -> reset (15, 3)
        // -> (3, 5): every step continues the chain.
        let v = venue();
        let mut last = 10;
        for (prev, seq) in [(10, 15), (15, 15), (15, 3), (3, 5)] {
            assert_eq!(v.check(last, &ids(Some(prev), seq), false), Verdict::Apply);
            last = seq;
        }
        // A lost message: prevSeqId names a seqId the book never saw.
        assert_eq!(v.check(5, &ids(Some(7), 9), false), Verdict::Gap { expected: 5, received: 7 });
        // "seqId must increase" is not the rule: a lower prevSeqId than expected is a gap too.
        assert_eq!(v.check(5, &ids(Some(4), 6), false), Verdict::Gap { expected: 5, received: 4 });
        assert_eq!(v.check(5, &ids(None, 6), false), Verdict::Gap { expected: 5, received: 6 });
    }

    #[test]
    fn ms_strings_of_every_length_read_as_str_parse_does() {
        let digits = "1652459225453987654";
        for len in 1..=digits.len() {
            let text = &digits[..len];
            let mut c = Cursor::new(format!("\"{text}\"").into_bytes().leak());
            let ms: u64 = text.parse().unwrap();
            assert_eq!(ms_string(&mut c, "ts").ok(), ms_to_ns(ms, "ts").ok(), "{text}");
        }
        for bad in ["", "16524592254a3", "1652459225.45", "-165245922545", "16524592254531234x"] {
            let mut c = Cursor::new(format!("\"{bad}\"").into_bytes().leak());
            assert!(ms_string(&mut c, "ts").is_err(), "{bad}");
        }
    }

    #[test]
    fn symbols_both_ways() {
        let v = venue();
        for (id, symbol, market) in [
            ("BTC-USDT", "BTC/USDT", "spot"),
            ("UNI-USD-SWAP", "UNI/USD:UNI", "inverse"),
            ("BTC-USDT-SWAP", "BTC/USDT:USDT", "linear"),
            ("BTC-USDC-SWAP", "BTC/USDC:USDC", "linear"),
            ("BTC-USD-220527", "BTC/USD:BTC-220527", "inverse"),
            ("BTC-USDT-250627", "BTC/USDT:USDT-250627", "linear"),
        ] {
            assert_eq!(unified(id), Some((symbol.to_owned(), market)), "{id}");
            assert_eq!(instrument_id(symbol), Some((id.to_owned(), market)), "{symbol}");
            assert_eq!(v.unified_symbol(id), symbol);
            assert_eq!(v.market_id(symbol).unwrap(), id);
        }
        for bad in ["BTCUSDT", "BTC/USD:USDT", "BTC/USDT:BTC", "btc/usdt", "BTC/USD:BTC-2205", "BTC/"] {
            assert!(v.market_id(bad).is_err(), "{bad}");
        }
        // Options and unknown shapes pass through unchanged.
        assert_eq!(v.unified_symbol("BTC-USD-250627-100000-C"), "BTC-USD-250627-100000-C");
        // An instruments table wins over the shape rules.
        let table = [Instrument {
            market_id: "BTC-USD_UM-SWAP".into(),
            symbol: "BTC/USD:USD".into(),
            tick_size: None,
            lot_size: None,
        }];
        let v = FACTORY.create("linear", &table).unwrap();
        assert_eq!((v.market(), v.unified_symbol("BTC-USD_UM-SWAP")), ("linear", "BTC/USD:USD".to_owned()));
        assert_eq!(v.market_id("BTC/USD:USD").unwrap(), "BTC-USD_UM-SWAP");
        assert!(FACTORY.create("option", &[]).is_err());
    }

    #[test]
    fn replies_pong_and_notices() {
        let out = parse("pong").unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Pong, .. })]));
        // okx.md §3 ack and error shapes.
        let out = parse(
            r#"{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}"#,
        )
        .unwrap();
        assert_eq!(
            out.items,
            vec![Item::Control(ControlItem {
                kind: ControlKind::Ack,
                request_id: Some(RequestId::Int(1512)),
                topic: Some("books:BTC-USDT".into()),
                code: None,
                message: None,
            })]
        );
        let out =
            parse(r#"{"id":"1512","event":"error","code":"60012","msg":"Invalid request: {}","connId":"a4d3ae55"}"#)
                .unwrap();
        assert_eq!(
            out.items,
            vec![Item::Control(ControlItem {
                kind: ControlKind::Error,
                request_id: Some(RequestId::Int(1512)),
                topic: None,
                code: Some(60012),
                message: Some("Invalid request: {}".into()),
            })]
        );
        let out = parse(
            r#"{"event":"notice","code":"64008","msg":"The connection will soon be closed","connId":"a4d3ae55"}"#,
        )
        .unwrap();
        assert_eq!(out.items, vec![Item::Notice { name: "notice:64008".into(), exchange_ts: None }]);
        let out = parse(r#"{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}"#).unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Login, code: Some(0), .. })]));
    }

    #[test]
    fn foreign_and_malformed_frames_name_the_field() {
        for (frame, field) in [
            (r#"{"stream":"btcusdt@depth","data":{}}"#, "stream"),
            (r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","data":{}}"#, "topic"),
            (r#"{"table":"spot/depth","action":"partial","data":[]}"#, "table"),
            (r#"{"arg":{"channel":"books5x","instId":"BTC-USDT"},"data":[]}"#, "arg.channel"),
            (r#"{"arg":{"channel":"candle7x","instId":"BTC-USDT"},"data":[]}"#, "arg.channel"),
            (r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[{"asks":[],"bids":[],"ts":"1"}]}"#, "action"),
            (r#"{"data":[],"arg":{"channel":"books","instId":"BTC-USDT"}}"#, "arg"),
            (r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"partial","data":[]}"#, "action"),
            (r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"action":"update","data":[]}"#, "action"),
            (r#"{"event":"subscribed","arg":{"channel":"books"}}"#, "event"),
            (r#"{"event":"subscribe","arg":{"channel":"books"},"extra":1}"#, "extra"),
            ("ping", "json"),
        ] {
            match parse(frame) {
                Err(Error::Frame { field: f, .. }) => assert!(f.starts_with(field), "{frame}: {f}"),
                other => panic!("{frame}: {other:?}"),
            }
        }
        let mut out = Out::default();
        assert!(venue().parse(b"pong", true, &mut out).is_err());
    }

    #[test]
    fn candle_bars_and_their_ends() {
        let minute = Bar::parse("1m").unwrap();
        assert_eq!(minute.end_ns(60_000 * MS), 120_000 * MS - 1);
        assert_eq!(Bar::parse("4H").unwrap().end_ns(0), 4 * HOUR_MS * MS - 1);
        // A 1M bar starting 2022-05-01 00:00 UTC+8 (2022-04-30T16:00Z) ends before 2022-06-01
        // 00:00 UTC+8; the utc variant runs from 2022-05-01T00:00Z to 2022-06-01T00:00Z.
        let may_hk = (days_from_civil(2022, 5, 1) * 24 - 8) * HOUR_MS * MS;
        let june_hk = (days_from_civil(2022, 6, 1) * 24 - 8) * HOUR_MS * MS;
        assert_eq!(Bar::parse("1M").unwrap().end_ns(may_hk), june_hk - 1);
        let may = days_from_civil(2022, 5, 1) * 24 * HOUR_MS * MS;
        let june = days_from_civil(2022, 6, 1) * 24 * HOUR_MS * MS;
        assert_eq!(Bar::parse("1Mutc").unwrap().end_ns(may), june - 1);
        assert_eq!(
            Bar::parse("3Mutc").unwrap().end_ns(days_from_civil(2022, 11, 1) * 24 * HOUR_MS * MS),
            days_from_civil(2023, 2, 1) * 24 * HOUR_MS * MS - 1
        );
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        for bad in ["", "m", "0m", "1x", "1mutc", "1"] {
            assert!(Bar::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn candle_row_as_documented() {
        // The docs-tier example (jkorf_v5_examples.jsonl, Klines.txt): no candle was recorded.
        let frame = r#"{"arg":{"channel":"candle1D","instId":"ETH-USDT"},"data":[["1597026383085","8533.02","8553.74","8527.17","8548.26","45247","529.5858061","5529.5858061","0"]]}"#;
        let out = parse(frame).unwrap();
        let [Item::Candle { candle, .. }] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!((candle.interval.as_str(), candle.closed, candle.trades), ("1D", Some(false), None));
        assert_eq!((candle.open.to_string(), candle.close.to_string()), ("8533.02".into(), "8548.26".into()));
        assert_eq!(candle.volume.to_string(), "45247"); // spot: `vol` is in the base currency
        assert_eq!(candle.start_ts, 1_597_026_383_085 * MS);
        assert_eq!(candle.end_ts, candle.start_ts + 24 * HOUR_MS * MS - 1);
        // On a derivative id the base volume is `volCcy`.
        let swap = frame.replace("ETH-USDT", "ETH-USDT-SWAP");
        let out = parse(&swap).unwrap();
        let [Item::Candle { candle, .. }] = &out.items[..] else { panic!() };
        assert_eq!(candle.volume.to_string(), "529.5858061");
    }

    const TRADES: &str =
        include_str!("../../../tests/fixtures/okx/books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl");

    /// The REST list of recent trades reads as the stream did: every recorded `trades` item of
    /// BTC-USDT re-written as a `/api/v5/market/trades` row (newest first, as OKX lists them)
    /// gives the same trade items.
    #[test]
    fn recent_trades_match_the_stream() {
        let mut v = venue();
        let (mut stream, mut rows) = (Vec::new(), Vec::new());
        let wanted =
            |l: &&str| l.contains("\"channel\":\"trades\"") && l.contains("BTC-USDT") && l.contains("\"data\"");
        for l in TRADES.lines().filter(wanted) {
            let mut out = Out::default();
            v.parse(l.as_bytes(), false, &mut out).unwrap();
            stream.extend(out.items.iter().filter_map(|i| match i {
                Item::Trade { trade, .. } => Some(*trade),
                _ => None,
            }));
            let frame: serde_json::Value = serde_json::from_str(l).unwrap();
            for t in frame["data"].as_array().unwrap() {
                rows.push(serde_json::json!({
                    "instId": t["instId"], "side": t["side"], "sz": t["sz"], "px": t["px"], "source": "0",
                    "tradeId": t["tradeId"], "ts": t["ts"],
                }));
            }
        }
        assert!(stream.len() > 5, "the recording has BTC-USDT trades");
        rows.reverse();
        let body = serde_json::json!({"code": "0", "msg": "", "data": rows});
        let mut rest = v.parse_trades(body.to_string().as_bytes()).unwrap();
        rest.reverse();
        assert_eq!(rest, stream);
    }

    #[test]
    fn recent_trades_refuse_errors_and_bad_rows() {
        let mut v = venue();
        let ok = r#"{"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"buy","sz":"2","px":"1.5","source":"0","tradeId":"7","ts":"1652459225453"}]}"#;
        assert_eq!(v.parse_trades(ok.as_bytes()).unwrap().len(), 1);
        assert_eq!(v.parse_trades(br#"{"code":"0","msg":"","data":[]}"#).unwrap().len(), 0);
        for bad in [
            r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#.to_owned(),
            r#"{"msg":"","data":[]}"#.to_owned(),
            r#"{"code":"0","msg":""}"#.to_owned(),
            ok.replace("buy", "up"),
            ok.replace("\"1.5\"", "\"0\""),
            ok.replace("\"2\"", "\"-2\""),
            ok.replace("1652459225453", "soon"),
            ok.replace("\"7\"", "\"\""),
            ok.replace("}]}", "}]"),
        ] {
            assert!(v.parse_trades(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    const SESSION: &str =
        include_str!("../../../tests/fixtures/okx/books_trades_tickers_checksum_btcusdt_uniusdswap_20220513.jsonl");

    #[test]
    fn rest_books_reads_the_recorded_book_and_refuses_odd_bodies() {
        // the REST book: the recorded snapshot's rows and ts (REST sends no checksum or seqId)
        let push: serde_json::Value = serde_json::from_str(
            SESSION.lines().find(|l| l.contains("\"action\":\"snapshot\"")).expect("a recorded snapshot"),
        )
        .unwrap();
        let item = &push["data"][0];
        let rest = serde_json::json!({"asks": item["asks"], "bids": item["bids"], "ts": item["ts"]});
        let body = serde_json::json!({"code": "0", "msg": "", "data": [rest]}).to_string();
        let mut out = Out::default();
        let snap = rest_books(body.as_bytes(), &mut out).unwrap();
        let ts_ms: i64 = item["ts"].as_str().unwrap().parse().unwrap();
        assert_eq!(snap.exchange_ts, Some(ts_ms * 1_000_000));
        assert_eq!(snap.sequence, u64::try_from(ts_ms).unwrap());
        assert_eq!(out.asks.len(), item["asks"].as_array().unwrap().len());
        assert_eq!(out.bids[0].price.to_string(), item["bids"][0][0].as_str().unwrap());
        let refused = r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#;
        let e = rest_books(refused.as_bytes(), &mut out).unwrap_err();
        assert!(e.to_string().contains("51001"), "{e}");
        assert!(rest_books(br#"{"code":"0","msg":"","data":[]}"#, &mut out).is_err());
        let two = serde_json::json!({"code": "0", "msg": "", "data": [rest, rest]}).to_string();
        assert!(rest_books(two.as_bytes(), &mut out).is_err());
        assert!(rest_books(&body.as_bytes()[..body.len() / 2], &mut out).is_err());
    }
}
