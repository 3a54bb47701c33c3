//! Bitget public market data (`bitget`): markets `spot` and `linear` (USDT-margined futures).
//!
//! Follows the Bitget API docs as summarised in `shared/docs/exchanges/bitget.md`: §1
//! endpoints, §3 subscribe/ack/error, §4 text `ping`/`pong`, §5 order book (`books` snapshot +
//! `update` with the signed CRC32 top-25 interleaved `checksum` over the strings as sent, `seq`;
//! `books1`/`books5`/`books15` whole every push with `checksum` 0), §6 trades, tickers, candles,
//! §9 symbols. Live is API v2 (`wss://ws.bitget.com/v2/ws/public`, `instType` `SPOT` /
//! `USDT-FUTURES`); the legacy v1 streams (`/spot/v1/stream`, `/mix/v1/stream`, `instType`
//! `sp` / `mc`) are decoded too, as our 2022 recordings are v1. The two versions differ only
//! inside `data`, so the version is read from `arg.instType`:
//!
//! | | v1 (`sp`, `mc`) | v2 (`SPOT`, `USDT-FUTURES`) |
//! |---|---|---|
//! | books item | `asks`, `bids`, `checksum`, `ts` (ms string) | the same plus `seq` |
//! | trade | row `[ts, price, size, side]` (no id) | `{ts, price, size, side, tradeId}` |
//! | ticker | `bestBid`, `bestAsk` (no sizes); `ts` (spot) or `systemTime` (mix) | `bidPr`, `bidSz`, `askPr`, `askSz`, `ts` |
//! | candle row | `[ts, o, h, l, c, baseVol]` | `[ts, o, h, l, c, baseVol, quoteVol, usdtVol]` |
//!
//! A v1 trade has no id: its trade id is its ms timestamp as text (not unique, as Kraken's). A
//! v1 ticker has no sizes: its BBO sizes are 0. A frame whose `instType` belongs to the other
//! market (a futures frame on a spot decoder), a private channel, or the 2025 UTA ("v3")
//! shape (`topic`, `symbol`) is a `Frame` error naming the field.
//!
//! Frames: `{"action":..,"arg":{"instType","channel","instId"},"data":[..],"ts"?}` (the `arg`
//! precedes `data`, as Bitget sends it), `{"event":..}` replies and the text `pong`. Inside a
//! `data` item the fields tickwire reads are required and checked; other item fields are
//! skipped (validated as JSON), as Bitget adds fields over time.
//!
//! Book sequence: Bitget states no previous-sequence field and no +1 rule, only that `seq`
//! increases (§5): an update whose `seq` is not above the book's is stale (dropped); the
//! checksum is the gap detector (v1 has no `seq` at all). A checksum of 0 is "absent" (the
//! `books1/5/15` pushes). Recovery: subscribe again (Bitget sends a new snapshot).

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::checksum;
use crate::error::{from_json, Error};
use crate::event::Side;
use crate::fixed::Dec;
use crate::json::{ms_to_ns, required, Cursor};
use crate::time::days_from_civil;

/// Markets (endpoints) of `bitget`, the default first.
pub const MARKETS: &[&str] = &["spot", "linear"];

/// Quote currencies tried, longest first, to split a concatenated spot id without an
/// instruments table (`"BTCUSDT"` -> `BTC` + `USDT`).
const QUOTES: &[&str] = &["USDT", "USDC", "USDE", "BTC", "ETH", "EUR", "BRL", "BGB", "TRY", "DAI", "GBP", "JPY"];

/// The `bitget` factory, registered in [`super::FACTORIES`].
pub struct Factory;

/// The one `bitget` factory.
pub static FACTORY: Factory = Factory;

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "bitget"
    }

    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        let linear = match market {
            "spot" => false,
            "linear" => true,
            _ => {
                return Err(Error::invalid(
                    "market",
                    market,
                    format!("bitget has no such market; markets: {}", MARKETS.join(", ")),
                ))
            }
        };
        let mut venue = Bitget { linear, symbols: HashMap::new(), ids: HashMap::new() };
        for i in instruments {
            venue.symbols.insert(i.market_id.clone(), i.symbol.clone());
            venue.ids.insert(i.symbol.clone(), i.market_id.clone());
        }
        Ok(Box::new(venue))
    }
}

/// The Bitget public parser for one connection (one market).
pub struct Bitget {
    /// `linear` (USDT-FUTURES / v1 `mc`) rather than `spot` (SPOT / v1 `sp`).
    linear: bool,
    /// Instrument id -> unified symbol, from the instruments table (may be empty).
    symbols: HashMap<String, String>,
    /// Unified symbol -> instrument id.
    ids: HashMap<String, String>,
}

/// API version of a frame, from its `instType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// What a channel's `data` items are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// `books` (snapshot, then updates with checksums): `incremental`; or `books1/5/15`, the
    /// top `depth` levels whole every push.
    Book { incremental: bool },
    /// `ticker`: read as a BBO.
    Ticker,
    /// `trade`.
    Trade,
    /// `candle<bar>`.
    Candle(Bar),
}

impl Channel {
    fn parse(name: &str) -> Result<Channel, Error> {
        Ok(match name {
            "books" => Channel::Book { incremental: true },
            "books1" | "books5" | "books15" => Channel::Book { incremental: false },
            "ticker" => Channel::Ticker,
            "trade" => Channel::Trade,
            _ => match name.strip_prefix("candle") {
                Some(bar) => Channel::Candle(Bar::parse(bar)?),
                None => {
                    return Err(Error::frame(
                        "arg.channel",
                        format!("{name:?} is not a Bitget public channel tickwire decodes"),
                    ))
                }
            },
        })
    }
}

const MS: i64 = 1_000_000;
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// A candle bar (`1m`, `4H`, `1Dutc`, `1M`, §6): its interval and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bar {
    interval: Interval,
    /// Length in ms; 0 for calendar months.
    ms: i64,
    months: i64,
}

impl Bar {
    fn parse(bar: &str) -> Result<Bar, Error> {
        let (ms, months) = match bar {
            "1m" => (MINUTE_MS, 0),
            "3m" => (3 * MINUTE_MS, 0),
            "5m" => (5 * MINUTE_MS, 0),
            "15m" => (15 * MINUTE_MS, 0),
            "30m" => (30 * MINUTE_MS, 0),
            "1H" => (60 * MINUTE_MS, 0),
            "4H" => (240 * MINUTE_MS, 0),
            "6H" | "6Hutc" => (360 * MINUTE_MS, 0),
            "12H" | "12Hutc" => (720 * MINUTE_MS, 0),
            "1D" | "1Dutc" => (DAY_MS, 0),
            "3D" | "3Dutc" => (3 * DAY_MS, 0),
            "1W" | "1Wutc" => (7 * DAY_MS, 0),
            "1M" | "1Mutc" => (0, 1),
            _ => return Err(Error::frame("arg.channel", format!("candle bar {bar:?} is not a Bitget bar"))),
        };
        Ok(Bar { interval: Interval::new(bar, "arg.channel")?, ms, months })
    }

    /// The last ns of the bar that starts at `start_ns`. A month bar runs to the same time of
    /// day on the first of the next month in the bar's own time zone, taken from its start (a
    /// bar starts at local midnight: UTC for `utc` bars, UTC+8 otherwise).
    fn end_ns(&self, start_ns: i64) -> i64 {
        if self.months == 0 {
            return start_ns + self.ms * MS - 1;
        }
        let begin = start_ns.div_euclid(MS);
        let offset = (DAY_MS - begin.rem_euclid(DAY_MS)) % DAY_MS; // to local midnight
        let days = (begin + offset).div_euclid(DAY_MS);
        let (y, m, _) = civil_from_days(days);
        let months = m - 1 + self.months;
        let next = days_from_civil(y + months.div_euclid(12), months.rem_euclid(12) + 1, 1);
        (next * DAY_MS - offset) * MS - 1
    }
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A data frame's `arg`.
#[derive(Debug, Clone, Copy)]
struct Arg<'a> {
    version: Version,
    channel: Channel,
    inst_id: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Snapshot,
    Update,
}

/// A reply: `{"event":..,"arg"?,"code"?,"msg"?,"op"?}` (cold: serde).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFrame {
    event: String,
    #[serde(default)]
    arg: Option<EventArg>,
    /// A string (`"30001"`, login `"0"`) or a number (v2 errors).
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default, rename = "op")]
    _op: Option<String>,
}

/// The `arg` an ack or error echoes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventArg {
    #[serde(rename = "instType")]
    inst_type: String,
    channel: String,
    #[serde(default, rename = "instId")]
    inst_id: Option<String>,
    /// Private `account` channels name a coin instead.
    #[serde(default)]
    coin: Option<String>,
}

/// The ack topic of a subscription, as the Python adapter builds it for what it subscribed:
/// `"<channel>:<instId>"` (`"books:BTCUSDT"`), or the channel alone.
pub fn topic(channel: &str, inst_id: Option<&str>) -> String {
    match inst_id {
        Some(id) => format!("{channel}:{id}"),
        None => channel.to_owned(),
    }
}

/// A JSON integer (possibly negative): `checksum`, `seq`.
fn int(c: &mut Cursor<'_>, field: &'static str) -> Result<i64, Error> {
    let d = c.dec_number(field)?;
    if d.width != 0 {
        return Err(Error::frame(field, "expected an integer"));
    }
    Ok(d.mantissa)
}

/// A ms timestamp sent as a string (`"1649290077496"`), as ns; also its text. One pass over
/// the digits (a candle snapshot has a thousand: `str::parse` after a validation pass cost
/// ~370 instructions per call, callgrind).
#[inline]
fn ms_string<'a>(c: &mut Cursor<'a>, field: &'static str) -> Result<(i64, &'a str), Error> {
    let s = c.str(field)?;
    let mut ms: u64 = 0;
    // At most 18 digits: no u64 overflow (ms_to_ns bounds the value further).
    let ok = (1..=18).contains(&s.len())
        && s.bytes().all(|b| {
            let d = b.wrapping_sub(b'0');
            ms = ms * 10 + u64::from(d);
            d <= 9
        });
    if !ok {
        return Err(not_ms(s, field));
    }
    Ok((ms_to_ns(ms, field)?, s))
}

#[cold]
fn not_ms(s: &str, field: &'static str) -> Error {
    Error::frame(field, format!("{s:?} is not a ms timestamp"))
}

/// A ms timestamp as a string or a bare integer (v1 tickers send numbers).
fn ms_any(c: &mut Cursor<'_>, field: &'static str) -> Result<i64, Error> {
    let d = c.dec_any(field)?;
    if d.width != 0 || d.mantissa < 0 {
        return Err(Error::frame(field, format!("{d} is not a ms timestamp")));
    }
    #[allow(clippy::cast_sign_loss)] // checked non-negative
    ms_to_ns(d.mantissa as u64, field)
}

/// A v2 REST depth reply, `{"code":"00000","msg":..,"requestTime":..,"data":{"asks":[[p,s]],
/// "bids":[..],"ts":"<ms>",..}}`; levels as strings (spot `orderbook`) or numbers (futures
/// `merge-depth`), extra columns ignored. The reply has no book sequence: its `ts` in ms stands
/// for it. A `code` other than `"00000"` is an error naming it and `msg`.
fn rest_depth(body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
    out.bids.clear();
    out.asks.clear();
    let mut c = Cursor::new(body);
    c.begin_object()?;
    let (mut code, mut message, mut ts, mut seen) = (None, None, None, false);
    let mut first = true;
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"code" => code = Some(c.str("code")?),
            b"msg" => message = Some(c.str("msg")?),
            b"data" if !matches!(code, Some(v) if v != "00000") => {
                c.begin_object()?;
                let (mut bids, mut asks) = (false, false);
                let mut first_key = true;
                while let Some(k) = c.next_key(&mut first_key)? {
                    match k {
                        b"asks" => {
                            super::rest_levels(&mut c, &mut out.asks, "data.asks")?;
                            asks = true;
                        }
                        b"bids" => {
                            super::rest_levels(&mut c, &mut out.bids, "data.bids")?;
                            bids = true;
                        }
                        b"ts" => ts = Some(ms_any(&mut c, "data.ts")?),
                        _ => c.skip_value("data")?,
                    }
                }
                if !(bids && asks) {
                    return Err(Error::frame(if bids { "data.asks" } else { "data.bids" }, "missing field"));
                }
                seen = true;
            }
            _ => c.skip_value("json")?,
        }
    }
    c.end()?;
    match code {
        Some("00000") if seen => {}
        Some("00000") => return Err(Error::frame("data", "missing field")),
        Some(v) => return Err(Error::frame("code", format!("{v} {}", message.unwrap_or("")))),
        None => return Err(Error::frame("code", "missing field")),
    }
    let ts = required(ts, "data.ts")?;
    let sequence = u64::try_from(ts / 1_000_000).map_err(|_| Error::frame("data.ts", "negative"))?;
    Ok(Snapshot { sequence, exchange_ts: Some(ts) })
}

/// A price or size that must not be negative.
fn non_negative(c: &mut Cursor<'_>, field: &'static str) -> Result<Dec, Error> {
    let d = c.dec(field)?;
    if d.is_negative() {
        return Err(Error::frame(field, format!("{d} is negative")));
    }
    Ok(d)
}

fn side(s: &str, field: &'static str) -> Result<Side, Error> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(Error::frame(field, format!("{other:?} is neither buy nor sell"))),
    }
}

fn item_inst(item: Option<&str>, arg: &str) -> Result<(), Error> {
    match item {
        Some(i) if i != arg => Err(Error::frame("data.instId", format!("{i:?} differs from arg.instId {arg:?}"))),
        _ => Ok(()),
    }
}

impl Bitget {
    /// The `arg` object of a data frame: its version from `instType`, which must be this
    /// decoder's market.
    fn arg<'a>(&self, c: &mut Cursor<'a>) -> Result<Arg<'a>, Error> {
        c.begin_object()?;
        let (mut version, mut channel, mut inst_id) = (None, None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"instType" => version = Some(self.inst_type(c.str("arg.instType")?)?),
                b"channel" => channel = Some(Channel::parse(c.str("arg.channel")?)?),
                b"instId" => inst_id = Some(c.str("arg.instId")?),
                other => {
                    return Err(Error::frame(
                        format!("arg.{}", String::from_utf8_lossy(other)),
                        "not a field of a Bitget v1/v2 public arg",
                    ))
                }
            }
        }
        Ok(Arg {
            version: required(version, "arg.instType")?,
            channel: required(channel, "arg.channel")?,
            inst_id: required(inst_id, "arg.instId")?,
        })
    }

    /// The version an `instType` names; a `Frame` error for the other market's or an unknown one.
    fn inst_type(&self, t: &str) -> Result<Version, Error> {
        let (version, linear) = match t {
            "sp" | "SP" => (Version::V1, false),
            "mc" | "MC" => (Version::V1, true),
            "SPOT" => (Version::V2, false),
            "USDT-FUTURES" => (Version::V2, true),
            other => {
                return Err(Error::frame(
                    "arg.instType",
                    format!("{other:?} is not a Bitget spot or USDT-futures instType (v1 sp/mc, v2 SPOT/USDT-FUTURES)"),
                ))
            }
        };
        if linear != self.linear {
            let market = if self.linear { "linear" } else { "spot" };
            return Err(Error::frame("arg.instType", format!("{t:?} is not of this decoder's market ({market})")));
        }
        Ok(version)
    }

    /// One item of a book channel's `data`; its kind is set once `action` is known.
    fn book(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let from = (out.bids.len(), out.asks.len());
        let (mut ts, mut checksum, mut seq, mut inst) = (None, None, None, None);
        let (mut saw_bids, mut saw_asks) = (false, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"asks" => {
                    c.short_dec_levels(&mut out.asks, "asks")?;
                    saw_asks = true;
                }
                b"bids" => {
                    c.short_dec_levels(&mut out.bids, "bids")?;
                    saw_bids = true;
                }
                b"ts" => ts = Some(ms_string(c, "ts")?.0),
                b"checksum" => checksum = Some(int(c, "checksum")?),
                b"seq" => seq = Some(int(c, "seq")?),
                b"instId" => inst = Some(c.str("instId")?),
                _ => c.skip_value("data")?,
            }
        }
        if !(saw_bids && saw_asks) {
            return Err(Error::frame(if saw_bids { "asks" } else { "bids" }, "missing field"));
        }
        item_inst(inst, arg.inst_id)?;
        let checksum = match checksum {
            None | Some(0) => None,
            Some(c) => {
                let signed = i32::try_from(c)
                    .map_err(|_| Error::frame("checksum", format!("{c} is not a signed 32-bit CRC")))?;
                Some(u32::from_ne_bytes(signed.to_ne_bytes()))
            }
        };
        let ids = seq
            .map(|s| {
                let last = u64::try_from(s).map_err(|_| Error::frame("seq", format!("{s} is negative")))?;
                Ok::<_, Error>(SeqIds { first: last, last, prev: None })
            })
            .transpose()?;
        let symbol = out.symbol(arg.inst_id);
        out.book(symbol, BookKind::Delta, ids, checksum, None, ts, from);
        Ok(())
    }

    /// One item of `ticker`, read as a BBO: v2 `bidPr/bidSz/askPr/askSz`, v1 `bestBid/bestAsk`
    /// (no sizes: 0).
    fn ticker(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut ts, mut inst) = (None, None);
        let (mut bid_px, mut bid_sz, mut ask_px, mut ask_sz) = (None, None, None, None);
        let mut first = true;
        let v2 = arg.version == Version::V2;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"bidPr" if v2 => bid_px = Some(non_negative(c, "bidPr")?),
                b"bidSz" if v2 => bid_sz = Some(non_negative(c, "bidSz")?),
                b"askPr" if v2 => ask_px = Some(non_negative(c, "askPr")?),
                b"askSz" if v2 => ask_sz = Some(non_negative(c, "askSz")?),
                b"bestBid" if !v2 => bid_px = Some(non_negative(c, "bestBid")?),
                b"bestAsk" if !v2 => ask_px = Some(non_negative(c, "bestAsk")?),
                // v2 and v1 spot: `ts`; v1 mix: `systemTime`.
                b"ts" => ts = Some(ms_any(c, "ts")?),
                b"systemTime" if !v2 => ts = Some(ms_any(c, "systemTime")?),
                b"instId" => inst = Some(c.str("instId")?),
                _ => c.skip_value("data")?,
            }
        }
        item_inst(inst, arg.inst_id)?;
        let (bid, ask) = if v2 {
            (
                RawLevel { price: required(bid_px, "bidPr")?, size: required(bid_sz, "bidSz")? },
                RawLevel { price: required(ask_px, "askPr")?, size: required(ask_sz, "askSz")? },
            )
        } else {
            (
                RawLevel { price: required(bid_px, "bestBid")?, size: Dec::ZERO },
                RawLevel { price: required(ask_px, "bestAsk")?, size: Dec::ZERO },
            )
        };
        let symbol = out.symbol(arg.inst_id);
        out.items.push(Item::Bbo { symbol, bbo: BboItem { bid, ask, sequence: None, exchange_ts: ts } });
        Ok(())
    }

    /// One v2 `trade` item `{ts, price, size, side, tradeId}`.
    fn trade_v2(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut px, mut sz, mut sd, mut id, mut ts) = (None, None, None, None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"price" => px = Some(c.dec("price")?),
                b"size" => sz = Some(non_negative(c, "size")?),
                b"side" => sd = Some(side(c.str("side")?, "side")?),
                b"tradeId" => {
                    let s = c.str("tradeId")?;
                    id = Some(match s.parse::<u64>() {
                        Ok(n) if !s.starts_with('+') => TradeId::Int(n),
                        _ if !s.is_empty() => TradeId::text(s, "tradeId")?,
                        _ => return Err(Error::frame("tradeId", "empty")),
                    });
                }
                b"ts" => ts = Some(ms_string(c, "ts")?.0),
                _ => c.skip_value("data")?,
            }
        }
        let price = required(px, "price")?;
        if price.mantissa <= 0 {
            return Err(Error::frame("price", format!("{price} is not above 0")));
        }
        let ts = required(ts, "ts")?;
        let trade = TradeItem {
            price,
            size: required(sz, "size")?,
            side: required(sd, "side")?,
            trade_id: required(id, "tradeId")?,
            trade_ts: ts,
            exchange_ts: ts,
        };
        let symbol = out.symbol(arg.inst_id);
        out.items.push(Item::Trade { symbol, trade });
        Ok(())
    }

    /// One v1 `trade` row `["ts","price","size","side"]`; the trade id is the ts text.
    fn trade_v1(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        const F: &str = "data[]";
        if !c.begin_array(F)? {
            return Err(Error::frame(F, "empty trade row"));
        }
        let (ts, ts_text) = ms_string(c, "data[][0]")?;
        if !c.more_elements(F)? {
            return Err(Error::frame("data[][1]", "missing trade field"));
        }
        let price = c.dec("data[][1]")?;
        if !c.more_elements(F)? {
            return Err(Error::frame("data[][2]", "missing trade field"));
        }
        let size = non_negative(c, "data[][2]")?;
        if !c.more_elements(F)? {
            return Err(Error::frame("data[][3]", "missing trade field"));
        }
        let sd = side(c.str("data[][3]")?, "data[][3]")?;
        if c.more_elements(F)? {
            return Err(Error::frame("data[][4]", "a v1 trade row has 4 fields"));
        }
        if price.mantissa <= 0 {
            return Err(Error::frame("data[][1]", format!("price {price} is not above 0")));
        }
        let trade = TradeItem {
            price,
            size,
            side: sd,
            trade_id: TradeId::text(ts_text, "data[][0]")?,
            trade_ts: ts,
            exchange_ts: ts,
        };
        let symbol = out.symbol(arg.inst_id);
        out.items.push(Item::Trade { symbol, trade });
        Ok(())
    }

    /// One `candle<bar>` row: `[ts, o, h, l, c, baseVol]` (v1) or the same plus `quoteVol`,
    /// `usdtVol` (v2). Strings; the volume is in the base currency.
    fn candle(c: &mut Cursor<'_>, arg: &Arg<'_>, bar: &Bar, out: &mut Out) -> Result<(), Error> {
        const F: &str = "data[]";
        const NAMES: [&str; 7] =
            ["data[][1]", "data[][2]", "data[][3]", "data[][4]", "data[][5]", "data[][6]", "data[][7]"];
        if !c.begin_array(F)? {
            return Err(Error::frame(F, "empty candle row"));
        }
        let (start, _) = ms_string(c, "data[][0]")?;
        let fields = if arg.version == Version::V1 { 5 } else { 7 };
        let mut values = [Dec::ZERO; 7];
        for (v, name) in values.iter_mut().zip(NAMES).take(fields) {
            if !c.more_elements(F)? {
                return Err(Error::frame(name, "missing candle field"));
            }
            *v = c.dec(name)?;
        }
        if c.more_elements(F)? {
            return Err(Error::frame(if fields == 5 { "data[][6]" } else { "data[][8]" }, "too many candle fields"));
        }
        let [open, high, low, close, volume, ..] = values;
        let candle = CandleItem {
            interval: bar.interval,
            start_ts: start,
            end_ts: bar.end_ns(start),
            open,
            high,
            low,
            close,
            volume,
            trades: None,
            closed: None,
            exchange_ts: None,
        };
        let symbol = out.symbol(arg.inst_id);
        out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
        Ok(())
    }

    /// A data frame's `data` array.
    fn data(c: &mut Cursor<'_>, arg: &Arg<'_>, out: &mut Out) -> Result<(), Error> {
        if !c.begin_array("data")? {
            return Ok(());
        }
        loop {
            match (arg.channel, arg.version) {
                (Channel::Book { .. }, _) => Self::book(c, arg, out)?,
                (Channel::Ticker, _) => Self::ticker(c, arg, out)?,
                (Channel::Trade, Version::V1) => Self::trade_v1(c, arg, out)?,
                (Channel::Trade, Version::V2) => Self::trade_v2(c, arg, out)?,
                (Channel::Candle(bar), _) => Self::candle(c, arg, &bar, out)?,
            }
            if !c.more_elements("data")? {
                return Ok(());
            }
        }
    }

    /// A reply frame.
    #[cold]
    fn event(&self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let e: EventFrame = from_json(frame)?;
        let code = match &e.code {
            None => None,
            Some(serde_json::Value::Number(n)) => {
                Some(n.as_i64().ok_or_else(|| Error::frame("code", format!("{n} is not an integer")))?)
            }
            Some(serde_json::Value::String(s)) => {
                Some(s.parse::<i64>().map_err(|_| Error::frame("code", format!("{s:?} is not a number")))?)
            }
            Some(other) => return Err(Error::frame("code", format!("{other} is neither a number nor a string"))),
        };
        if let Some(a) = &e.arg {
            self.inst_type(&a.inst_type).map_err(|_| {
                Error::frame("arg.instType", format!("{:?} is not of this decoder's market", a.inst_type))
            })?;
        }
        let topic = e.arg.as_ref().map(|a| topic(&a.channel, a.inst_id.as_deref().or(a.coin.as_deref())));
        let kind = match e.event.as_str() {
            "subscribe" | "unsubscribe" => ControlKind::Ack,
            "login" if code.unwrap_or(0) == 0 => ControlKind::Login,
            "error" | "login" => ControlKind::Error,
            other => return Err(Error::frame("event", format!("{other:?} is not a Bitget event"))),
        };
        if kind == ControlKind::Ack && topic.is_none() {
            return Err(Error::frame("arg", "an ack without the arg it acknowledges"));
        }
        let message = e.msg.filter(|m| !m.is_empty());
        out.items.push(Item::Control(ControlItem { kind, request_id: None, topic, code, message }));
        Ok(())
    }

    fn parse_frame(&self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let (mut arg, mut action, mut saw_data) = (None, None, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"arg" => arg = Some(self.arg(&mut c)?),
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
                // v2: the push time (ms); items carry their own times.
                b"ts" => {
                    c.u64("ts")?;
                }
                b"event" | b"code" | b"msg" | b"op" => return self.event(frame, out),
                other => {
                    return Err(Error::frame(
                        String::from_utf8_lossy(other).into_owned(),
                        "not a field of a Bitget v1/v2 public frame",
                    ))
                }
            }
        }
        c.end()?;
        let arg = required(arg, "arg")?;
        if !saw_data {
            return Err(Error::frame("data", "missing field"));
        }
        let action = required(action, "action")?;
        let kind = match (arg.channel, action) {
            (Channel::Book { incremental: true }, Action::Update) => BookKind::Delta,
            (Channel::Book { incremental: false }, Action::Update) => {
                return Err(Error::frame("action", "books1/5/15 push whole books (snapshot) only"))
            }
            (Channel::Book { .. }, Action::Snapshot) => BookKind::Snapshot,
            _ => return Ok(()),
        };
        for item in &mut out.items {
            if let Item::Book(b) = item {
                b.kind = kind;
            }
        }
        Ok(())
    }

    /// The unified symbol of an instrument id by its shape (no table): spot `BTCUSDT` ->
    /// `BTC/USDT`; linear `BTCUSDT` -> `BTC/USDT:USDT`. v1 REST suffixes (`_SPBL`, `_UMCBL`)
    /// are accepted. None if no known quote ends the id.
    pub fn unified(market_id: &str, linear: bool) -> Option<String> {
        let id = market_id.strip_suffix(if linear { "_UMCBL" } else { "_SPBL" }).unwrap_or(market_id);
        if !id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return None;
        }
        if linear {
            let base = id.strip_suffix("USDT").filter(|b| !b.is_empty())?;
            return Some(format!("{base}/USDT:USDT"));
        }
        QUOTES.iter().find_map(|q| {
            let base = id.strip_suffix(q).filter(|b| !b.is_empty())?;
            Some(format!("{base}/{q}"))
        })
    }

    /// The instrument id of a unified symbol by the rules of [`Self::unified`].
    pub fn instrument_id(symbol: &str, linear: bool) -> Option<String> {
        let code = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let (pair, settle) = match symbol.split_once(':') {
            Some((p, s)) => (p, Some(s)),
            None => (symbol, None),
        };
        let (base, quote) = pair.split_once('/')?;
        if !(code(base) && code(quote)) {
            return None;
        }
        match (linear, settle) {
            (false, None) => Some(format!("{base}{quote}")),
            (true, Some("USDT")) if quote == "USDT" => Some(format!("{base}USDT")),
            _ => None,
        }
    }
}

impl Venue for Bitget {
    fn id(&self) -> &'static str {
        "bitget"
    }

    fn market(&self) -> &'static str {
        if self.linear {
            "linear"
        } else {
            "spot"
        }
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "Bitget public streams send text frames only"));
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
        self.parse_frame(frame, out)
    }

    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
    }

    /// The REST fallback's top-N book (spot `GET /api/v2/spot/market/orderbook`, futures
    /// `/api/v2/mix/market/merge-depth`, see [`rest_depth`]). Bitget books sync from the
    /// WebSocket's snapshot; this body only loads the fallback's own decoder.
    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        rest_depth(body, out)
    }

    /// Bitget's rule (§5): `seq` increases with every book change; one not above the book's is
    /// stale. No previous-id field exists, so no gap is decided here (the checksum decides).
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        if ids.last <= last {
            Verdict::Stale
        } else {
            Verdict::Apply
        }
    }

    /// A whole-book push (`books1/5/15`, or a `books` snapshot sent again) whose `seq` is not
    /// above the book's is older than the book: dropped (§5, "out-of-order packets").
    fn stale_snapshot(&self, last: u64, ids: &SeqIds) -> bool {
        ids.last <= last
    }

    fn checksum(&self) -> Option<checksum::Format> {
        Some(checksum::Format::Interleaved)
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        if let Some(s) = self.symbols.get(market_id) {
            return s.clone();
        }
        Self::unified(market_id, self.linear).unwrap_or_else(|| market_id.to_owned())
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        if let Some(id) = self.ids.get(symbol) {
            return Ok(id.clone());
        }
        Self::instrument_id(symbol, self.linear).ok_or_else(|| {
            let what = if self.linear { "a USDT-margined perpetual (BTC/USDT:USDT)" } else { "a spot pair (BTC/USDT)" };
            Error::invalid("symbol", symbol, format!("not {what} of bitget {}", self.market()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue(market: &str) -> Box<dyn Venue> {
        FACTORY.create(market, &[]).unwrap()
    }

    fn parse(market: &str, frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        venue(market).parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    #[test]
    fn seq_rule_drops_stale_and_applies_any_increase() {
        let v = venue("spot");
        let ids = |s| SeqIds { first: s, last: s, prev: None };
        assert_eq!(v.check(10, &ids(11), false), Verdict::Apply);
        assert_eq!(v.check(10, &ids(25), false), Verdict::Apply); // no +1 rule is documented
        assert_eq!(v.check(10, &ids(10), false), Verdict::Stale);
        assert_eq!(v.check(10, &ids(3), false), Verdict::Stale);
        // Whole-book pushes follow the same rule.
        assert!(v.stale_snapshot(10, &ids(10)) && v.stale_snapshot(10, &ids(9)));
        assert!(!v.stale_snapshot(10, &ids(11)));
        assert_eq!(v.recovery(), Recovery::Resubscribe);
        assert_eq!(v.checksum(), Some(checksum::Format::Interleaved));
    }

    #[test]
    fn symbols_both_ways() {
        let spot = venue("spot");
        let linear = venue("linear");
        for (id, s) in
            [("BTCUSDT", "BTC/USDT"), ("ETHBTC", "ETH/BTC"), ("CULTUSDT", "CULT/USDT"), ("BGBUSDC", "BGB/USDC")]
        {
            assert_eq!(spot.unified_symbol(id), s);
            assert_eq!(spot.market_id(s).unwrap(), id);
        }
        assert_eq!(spot.unified_symbol("BTCUSDT_SPBL"), "BTC/USDT");
        assert_eq!(linear.unified_symbol("DASHUSDT"), "DASH/USDT:USDT");
        assert_eq!(linear.unified_symbol("DASHUSDT_UMCBL"), "DASH/USDT:USDT");
        assert_eq!(linear.market_id("DASH/USDT:USDT").unwrap(), "DASHUSDT");
        for bad in ["BTC/USDT:USDT", "btc/usdt", "BTCUSDT", "BTC/"] {
            assert!(spot.market_id(bad).is_err(), "{bad}");
        }
        for bad in ["BTC/USDT", "BTC/USD:BTC", "BTC/USDC:USDC"] {
            assert!(linear.market_id(bad).is_err(), "{bad}");
        }
        assert_eq!(spot.unified_symbol("WEIRD"), "WEIRD");
        let table = [Instrument {
            market_id: "BTCPERP".into(),
            symbol: "BTC/USDC:USDC".into(),
            tick_size: None,
            lot_size: None,
        }];
        let v = FACTORY.create("linear", &table).unwrap();
        assert_eq!(v.unified_symbol("BTCPERP"), "BTC/USDC:USDC");
        assert_eq!(v.market_id("BTC/USDC:USDC").unwrap(), "BTCPERP");
        assert!(FACTORY.create("inverse", &[]).is_err());
    }

    #[test]
    fn replies_and_pong() {
        let out = parse("spot", "pong").unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Pong, .. })]));
        // bitget.md §3: the v2 error echoes the arg, with a numeric code.
        let out = parse(
            "spot",
            r#"{"event":"error","arg":{"instType":"SPOT","channel":"books","instId":"NOPEUSDT"},"code":30001,"msg":"instType:SPOT,channel:books,instId:NOPEUSDT doesn't exist","op":"subscribe"}"#,
        )
        .unwrap();
        let [Item::Control(c)] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!((c.kind, c.topic.as_deref(), c.code), (ControlKind::Error, Some("books:NOPEUSDT"), Some(30001)));
        let out = parse("linear", r#"{"event":"error","code":"30006","msg":"request too many"}"#).unwrap();
        let [Item::Control(c)] = &out.items[..] else { panic!() };
        assert_eq!((c.kind, c.topic.as_deref(), c.code), (ControlKind::Error, None, Some(30006)));
        let out = parse("spot", r#"{"event":"login","code":"0","msg":""}"#).unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Login, code: Some(0), .. })]));
        // An ack of the other market is not for this decoder.
        assert!(parse(
            "linear",
            r#"{"event":"subscribe","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"}}"#
        )
        .is_err());
    }

    #[test]
    fn ms_strings_are_digits_only() {
        let read = |text: &str| {
            let frame = format!("\"{text}\"");
            ms_string(&mut Cursor::new(frame.as_bytes()), "ts").map(|(ns, _)| ns)
        };
        assert_eq!(read("1649290077496"), Ok(1_649_290_077_496 * MS));
        assert_eq!(read("0"), Ok(0));
        for bad in ["", "-1", "+1", "1.5", "16492900774960000000", "12a", " 1"] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn candle_bars_and_their_ends() {
        let minute = Bar::parse("1m").unwrap();
        assert_eq!(minute.end_ns(60_000 * MS), 120_000 * MS - 1);
        assert_eq!(Bar::parse("1W").unwrap().end_ns(0), 7 * DAY_MS * MS - 1);
        // A month bar from 2022-05-01 00:00 UTC+8 (2022-04-30T16:00Z) ends at 2022-06-01 00:00 UTC+8.
        let may_hk = (days_from_civil(2022, 5, 1) * DAY_MS - 8 * 60 * MINUTE_MS) * MS;
        let june_hk = (days_from_civil(2022, 6, 1) * DAY_MS - 8 * 60 * MINUTE_MS) * MS;
        assert_eq!(Bar::parse("1M").unwrap().end_ns(may_hk), june_hk - 1);
        let dec = days_from_civil(2022, 12, 1) * DAY_MS * MS;
        assert_eq!(Bar::parse("1Mutc").unwrap().end_ns(dec), days_from_civil(2023, 1, 1) * DAY_MS * MS - 1);
        for bad in ["", "2m", "1h", "1", "1mutc"] {
            assert!(Bar::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn foreign_and_malformed_frames_name_the_field() {
        for (market, frame, field) in [
            ("spot", r#"{"stream":"btcusdt@depth","data":{}}"#, "stream"),
            ("spot", r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","data":{}}"#, "topic"),
            (
                "spot",
                r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[]}"#,
                "arg.instType",
            ),
            (
                "linear",
                r#"{"action":"snapshot","arg":{"instType":"sp","channel":"books","instId":"BTCUSDT"},"data":[]}"#,
                "arg.instType",
            ),
            (
                "spot",
                r#"{"action":"snapshot","arg":{"instType":"SPOT","channel":"account","coin":"default"},"data":[]}"#,
                "arg.channel",
            ),
            (
                "linear",
                r#"{"data":[],"arg":{"instType":"usdt-futures","symbol":"BTCUSDT","topic":"books1"},"action":"snapshot","ts":1}"#,
                "arg",
            ),
            (
                "spot",
                r#"{"action":"partial","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[]}"#,
                "action",
            ),
            (
                "spot",
                r#"{"action":"update","arg":{"instType":"SPOT","channel":"books5","instId":"BTCUSDT"},"data":[]}"#,
                "action",
            ),
            ("spot", r#"{"arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[]}"#, "action"),
            (
                "spot",
                r#"{"action":"snapshot","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[{"asks":[],"ts":"1"}]}"#,
                "bids",
            ),
            (
                "spot",
                r#"{"action":"update","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[{"asks":[],"bids":[["1","-1"]],"checksum":1,"ts":"1"}]}"#,
                "bids",
            ),
            (
                "spot",
                r#"{"action":"update","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[{"asks":[],"bids":[],"checksum":4294967295,"ts":"1"}]}"#,
                "checksum",
            ),
            (
                "spot",
                r#"{"action":"update","arg":{"instType":"sp","channel":"trade","instId":"BTCUSDT"},"data":[["1","2","3","hold"]]}"#,
                "data[][3]",
            ),
            (
                "spot",
                r#"{"action":"update","arg":{"instType":"sp","channel":"candle1m","instId":"BTCUSDT"},"data":[["1","2","3","4","5"]]}"#,
                "data[][5]",
            ),
            (
                "spot",
                r#"{"event":"subscribed","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"}}"#,
                "event",
            ),
            ("spot", "ping", "json"),
        ] {
            match parse(market, frame) {
                Err(Error::Frame { field: f, .. }) => assert!(f.starts_with(field), "{frame}: {f}"),
                other => panic!("{frame}: {other:?}"),
            }
        }
        let mut out = Out::default();
        assert!(venue("spot").parse(b"pong", true, &mut out).is_err());
    }

    #[test]
    fn v2_shapes_as_documented() {
        // bitget.md §5/§6 shapes (docs-tier examples, shared/fixtures/bitget/docs_tier).
        let out = parse(
            "linear",
            r#"{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"books5","instId":"BTCUSDT"},"data":[{"asks":[["27000.5","8.760"],["27001.0","0.400"]],"bids":[["27000.0","2.710"],["26999.5","1.460"]],"checksum":0,"ts":"1695716059516"}],"ts":1695716059516}"#,
        )
        .unwrap();
        let [Item::Book(b)] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!(
            (b.kind, b.checksum, b.ids, b.exchange_ts),
            (BookKind::Snapshot, None, None, Some(1_695_716_059_516 * MS))
        );
        assert_eq!((b.bids.len(), b.asks.len()), (2, 2));
        let out = parse(
            "spot",
            r#"{"action":"update","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[{"asks":[["26274.9","0.0009"]],"bids":[],"checksum":-1504501796,"seq":123,"ts":"1695710946294"}],"ts":1695710946294}"#,
        )
        .unwrap();
        let [Item::Book(b)] = &out.items[..] else { panic!() };
        assert_eq!(b.kind, BookKind::Delta);
        assert_eq!(b.checksum, Some(2_790_465_500));
        assert_eq!(b.ids, Some(SeqIds { first: 123, last: 123, prev: None }));
    }

    const SPOT: &str =
        include_str!("../../../tests/fixtures/bitget/spot_v1_books_ticker_trade_candle_checksum_7sym_20220407.jsonl");

    #[test]
    fn rest_depth_reads_string_and_number_levels_and_refuses_odd_bodies() {
        // spot `orderbook` (strings) from the recorded snapshot's rows and ts; futures
        // `merge-depth` sends the same levels as numbers
        let push: serde_json::Value = serde_json::from_str(
            SPOT.lines()
                .find(|l| l.starts_with("{\"action\":\"snapshot\",\"arg\":{\"instType\":\"sp\",\"channel\":\"books\""))
                .expect("a recorded snapshot"),
        )
        .unwrap();
        let item = &push["data"][0];
        let ts = item["ts"].clone();
        let body = serde_json::json!({"code": "00000", "msg": "success", "requestTime": 1,
            "data": {"asks": item["asks"], "bids": item["bids"], "ts": ts}})
        .to_string();
        let mut out = Out::default();
        let snap = rest_depth(body.as_bytes(), &mut out).unwrap();
        let ts_ms: i64 = match &ts {
            serde_json::Value::String(s) => s.parse().unwrap(),
            v => v.as_i64().unwrap(),
        };
        assert_eq!(snap.exchange_ts, Some(ts_ms * 1_000_000));
        assert_eq!(out.bids.len(), item["bids"].as_array().unwrap().len());
        let first_bid = out.bids[0];
        let numbers = |side: &serde_json::Value| -> serde_json::Value {
            side.as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    serde_json::json!([
                        l[0].as_str().unwrap().parse::<f64>().unwrap(),
                        l[1].as_str().unwrap().parse::<f64>().unwrap()
                    ])
                })
                .collect()
        };
        let merged = serde_json::json!({"code": "00000", "msg": "success",
            "data": {"asks": numbers(&item["asks"]), "bids": numbers(&item["bids"]), "ts": "1649290077496",
                     "scale": "0.01", "precision": "scale0", "isMaxPrecision": "NO"}})
        .to_string();
        let snap = rest_depth(merged.as_bytes(), &mut out).unwrap();
        assert_eq!(snap.sequence, 1_649_290_077_496);
        assert_eq!(out.bids[0].price, first_bid.price);
        let refused = r#"{"code":"40034","msg":"Parameter does not exist","requestTime":1,"data":null}"#;
        let e = rest_depth(refused.as_bytes(), &mut out).unwrap_err();
        assert!(e.to_string().contains("40034"), "{e}");
        assert!(rest_depth(br#"{"code":"00000","msg":"success","data":{"bids":[],"ts":"1"}}"#, &mut out).is_err());
        assert!(rest_depth(
            br#"{"code":"00000","msg":"success","data":{"bids":[["-1","2"]],"asks":[],"ts":"1"}}"#,
            &mut out
        )
        .is_err());
        assert!(rest_depth(&body.as_bytes()[..body.len() / 2], &mut out).is_err());
    }
}
