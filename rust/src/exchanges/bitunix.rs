//! BitUnix USDT-margined futures public market data (`bitunix`): one market, `linear`.
//!
//! UNPROVEN ON LIVE DATA: no BitUnix recording exists anywhere; every frame shape here follows
//! the official futures WebSocket docs (openapidoc.bitunix.com, "WebSocket" prepare page, "depth
//! channel", "Trade Channel", "Tickers Channel", "kline channel") as summarised in
//! `shared/docs/exchanges/bitunix.md`, and the fixtures are built from those docs.
//!
//! Frames (text JSON only):
//! - data pushes `{"ch":..,"symbol":..,"ts":<ms>,"data":..}` (`tickers` has no `symbol`: its
//!   `data` is a list of per-symbol objects with `s`). `ch` and `symbol` must precede `data`
//!   (as the docs write them); `ts` may come anywhere.
//!   - `depth_books`, `depth_book1`, `depth_book5`, `depth_book15`: `data: {"b":[[p,q],..],
//!     "a":[[p,q],..]}` (strings), the venue's top of book on every push: a
//!     [`BookKind::Snapshot`] item each time (no sequence, no checksum), depth 1/5/15 (None for
//!     `depth_books`).
//!   - `trade`: `data: [{"t":"2026-04-07T05:47:52Z","p":..,"v":..,"s":"buy"|"sell"},..]`, one
//!     trade item each; BitUnix sends no trade id, so the id is the time text as sent.
//!   - `tickers`: `data: [{"s","o","h","l","la","b","q","r","bd","ak","bv","av"},..]`: a BBO
//!     item per entry (`bd`/`bv` bid, `ak`/`av` ask).
//!   - `<market|mark>_kline_<interval>`: `data: {"o","h","l","c","b","q"}` (`b` base volume):
//!     a candle whose start is `ts` floored to the interval (UTC; weeks from Monday, months
//!     from the 1st); the interval is named as in the channel (`1min`, `mark_1min` for mark
//!     price candles). No closed flag.
//! - `ticker` (24 h statistics, no best bid/ask), `price` and private channels are not decoded:
//!   a `Frame` error naming `ch`.
//! - replies: `{"op":"connect",..}` (greeting) -> `Welcome`; `{"op":"ping","pong":..,"ping":..}`
//!   -> `Pong`. The docs show no reply to subscribe; an `op` echo of `subscribe`/`unsubscribe`
//!   is read as an ack per argument (topic `"<ch>:<symbol>"`, as the Python adapter names its
//!   streams), or an error when it carries a non-zero `code`.
//!
//! Anything else (another venue's frame, an unknown key) is a `Frame` error naming the field.
//! Books are rebuilt by subscribing again ([`Recovery::Resubscribe`]); with a whole book in
//! every push nothing can be missed between pushes, so [`Venue::check`] is never consulted.

use std::collections::HashMap;

use serde::Deserialize;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::error::{from_json, Error};
use crate::event::Side;
use crate::fixed::Dec;
use crate::json::{required, Cursor};
use crate::time::{days_from_civil, rfc3339};

/// Markets (endpoints) of `bitunix`: USDT-margined perpetuals only.
pub const MARKETS: &[&str] = &["linear"];

/// The `bitunix` factory, registered in [`super::FACTORIES`].
pub struct Factory;

/// The one `bitunix` factory.
pub static FACTORY: Factory = Factory;

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "bitunix"
    }

    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        if market != "linear" {
            return Err(Error::invalid("market", market, "bitunix has no such market; markets: linear"));
        }
        let mut venue = Bitunix { symbols: HashMap::new(), ids: HashMap::new() };
        for i in instruments {
            venue.symbols.insert(i.market_id.clone(), i.symbol.clone());
            venue.ids.insert(i.symbol.clone(), i.market_id.clone());
        }
        Ok(Box::new(venue))
    }
}

/// The BitUnix futures public parser for one connection.
pub struct Bitunix {
    /// Market id -> unified symbol, from the instruments table (may be empty).
    symbols: HashMap<String, String>,
    /// Unified symbol -> market id.
    ids: HashMap<String, String>,
}

const MS: i64 = 1_000_000;
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// How a kline interval's candles are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    /// A fixed length in ms, aligned to the Unix epoch (minutes, hours, days).
    Fixed(i64),
    /// A week starting Monday 00:00 UTC.
    Week,
    /// A calendar month starting on the 1st, 00:00 UTC.
    Month,
}

impl Span {
    /// (start, last ns) of the candle containing `ts_ns`.
    fn bounds(self, ts_ns: i64) -> (i64, i64) {
        let ms = ts_ns.div_euclid(MS);
        let (start, end) = match self {
            Span::Fixed(n) => {
                let s = ms - ms.rem_euclid(n);
                (s, s + n)
            }
            Span::Week => {
                // 1970-01-01 was a Thursday: Mondays are 4 days after the epoch modulo 7.
                let days = ms.div_euclid(DAY_MS);
                let monday = days - (days - 4).rem_euclid(7);
                (monday * DAY_MS, (monday + 7) * DAY_MS)
            }
            Span::Month => {
                let (y, m) = year_month(ms.div_euclid(DAY_MS));
                let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (days_from_civil(y, m, 1) * DAY_MS, days_from_civil(next.0, next.1, 1) * DAY_MS)
            }
        };
        (start * MS, end * MS - 1)
    }
}

/// The (year, month) of a day count since 1970-01-01.
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m)
}

/// A kline channel's interval as the docs list it, with its alignment.
fn kline_span(interval: &str) -> Option<Span> {
    Some(match interval {
        "1min" => Span::Fixed(MINUTE_MS),
        "3min" => Span::Fixed(3 * MINUTE_MS),
        "5min" => Span::Fixed(5 * MINUTE_MS),
        "15min" => Span::Fixed(15 * MINUTE_MS),
        "30min" => Span::Fixed(30 * MINUTE_MS),
        "60min" => Span::Fixed(60 * MINUTE_MS),
        "2h" => Span::Fixed(120 * MINUTE_MS),
        "4h" => Span::Fixed(240 * MINUTE_MS),
        "6h" => Span::Fixed(360 * MINUTE_MS),
        "8h" => Span::Fixed(480 * MINUTE_MS),
        "12h" => Span::Fixed(720 * MINUTE_MS),
        "1day" => Span::Fixed(DAY_MS),
        "3day" => Span::Fixed(3 * DAY_MS),
        "1week" => Span::Week,
        "1month" => Span::Month,
        _ => return None,
    })
}

/// What a push's `data` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// `depth_books` (None) or `depth_book1/5/15`: the top of book, whole, every push.
    Book(Option<u32>),
    Trade,
    Tickers,
    Kline(Interval, Span),
}

impl Channel {
    fn parse(ch: &str) -> Result<Channel, Error> {
        Ok(match ch {
            "depth_books" => Channel::Book(None),
            "depth_book1" => Channel::Book(Some(1)),
            "depth_book5" => Channel::Book(Some(5)),
            "depth_book15" => Channel::Book(Some(15)),
            "trade" => Channel::Trade,
            "tickers" => Channel::Tickers,
            _ => {
                let kline = ch
                    .strip_prefix("market_kline_")
                    .map(|i| (i, false))
                    .or_else(|| ch.strip_prefix("mark_kline_").map(|i| (i, true)));
                let Some((interval, mark)) = kline else {
                    return Err(Error::frame(
                        "ch",
                        format!("{ch:?} is not a BitUnix futures public channel tickwire decodes"),
                    ));
                };
                let span = kline_span(interval).ok_or_else(|| {
                    Error::frame("ch", format!("kline interval {interval:?} is not a BitUnix interval"))
                })?;
                // "mark_<interval>" built on the stack: no allocation per kline push.
                let interval = if mark {
                    let mut buf = [0u8; 15];
                    let n = 5 + interval.len(); // at most 5 + 6 ("1month")
                    buf[..5].copy_from_slice(b"mark_");
                    buf[5..n].copy_from_slice(interval.as_bytes());
                    Interval::new(std::str::from_utf8(&buf[..n]).unwrap_or_default(), "ch")?
                } else {
                    Interval::new(interval, "ch")?
                };
                Channel::Kline(interval, span)
            }
        })
    }
}

/// A reply: `{"op":..,...}` (cold: serde).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpFrame {
    op: String,
    #[serde(default)]
    ping: Option<i64>,
    #[serde(default)]
    pong: Option<i64>,
    #[serde(default, rename = "data")]
    _data: Option<serde_json::Value>,
    #[serde(default)]
    args: Option<Vec<OpArg>>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    msg: Option<String>,
}

/// One `{"symbol","ch"}` argument an op echo names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpArg {
    ch: String,
    #[serde(default)]
    symbol: Option<String>,
}

/// The ack topic of a subscription, as the Python adapter names the stream: `"<ch>:<symbol>"`
/// (`"depth_book5:BTCUSDT"`), or `ch` alone without a symbol.
pub fn topic(ch: &str, symbol: Option<&str>) -> String {
    match symbol {
        Some(s) => format!("{ch}:{s}"),
        None => ch.to_owned(),
    }
}

/// A non-negative price or size string; prices must be above 0 where `positive`.
fn dec(c: &mut Cursor<'_>, field: &'static str, positive: bool) -> Result<Dec, Error> {
    let d = c.dec(field)?;
    if d.is_negative() || (positive && d.mantissa == 0) {
        let what = if positive { "is not above 0" } else { "is negative" };
        return Err(Error::frame(field, format!("{d} {what}")));
    }
    Ok(d)
}

impl Bitunix {
    /// A depth push's `data` object.
    fn book(c: &mut Cursor<'_>, symbol: &str, depth: Option<u32>, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let from = (out.bids.len(), out.asks.len());
        let (mut saw_b, mut saw_a) = (false, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"b" => {
                    c.dec_levels(&mut out.bids, "data.b")?;
                    saw_b = true;
                }
                b"a" => {
                    c.dec_levels(&mut out.asks, "data.a")?;
                    saw_a = true;
                }
                other => return Err(unknown("data", other)),
            }
        }
        if !(saw_b && saw_a) {
            return Err(Error::frame(if saw_b { "data.a" } else { "data.b" }, "missing field"));
        }
        if let Some(d) = depth {
            let n = d as usize;
            if out.bids.len() - from.0 > n || out.asks.len() - from.1 > n {
                return Err(Error::frame("data", format!("more than {d} levels a side on depth_book{d}")));
            }
        }
        let sym = out.symbol(symbol);
        out.book(sym, BookKind::Snapshot, None, None, depth, None, from);
        Ok(())
    }

    /// A `trade` push's `data` list.
    #[allow(clippy::many_single_char_names)] // the venue's own one-letter field names
    fn trades(c: &mut Cursor<'_>, symbol: &str, out: &mut Out) -> Result<(), Error> {
        if !c.begin_array("data")? {
            return Ok(());
        }
        let sym = out.symbol(symbol);
        loop {
            c.begin_object()?;
            let (mut t, mut p, mut v, mut s) = (None, None, None, None);
            let mut first = true;
            while let Some(key) = c.next_key(&mut first)? {
                match key {
                    b"t" => {
                        let text = c.str("data[].t")?;
                        t = Some((rfc3339(text, "data[].t")?, TradeId::text(text, "data[].t")?));
                    }
                    b"p" => p = Some(dec(c, "data[].p", true)?),
                    b"v" => v = Some(dec(c, "data[].v", false)?),
                    b"s" => {
                        s = Some(match c.str("data[].s")? {
                            "buy" => Side::Buy,
                            "sell" => Side::Sell,
                            other => {
                                return Err(Error::frame("data[].s", format!("{other:?} is neither buy nor sell")))
                            }
                        });
                    }
                    other => return Err(unknown("data[]", other)),
                }
            }
            let (ts, trade_id) = required(t, "data[].t")?;
            let trade = TradeItem {
                price: required(p, "data[].p")?,
                size: required(v, "data[].v")?,
                side: required(s, "data[].s")?,
                trade_id,
                trade_ts: ts,
                exchange_ts: ts,
            };
            out.items.push(Item::Trade { symbol: sym, trade });
            if !c.more_elements("data")? {
                return Ok(());
            }
        }
    }

    /// A `tickers` push's `data` list: one BBO per symbol.
    fn tickers(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        if !c.begin_array("data")? {
            return Ok(());
        }
        loop {
            c.begin_object()?;
            let (mut s, mut bd, mut ak, mut bv, mut av) = (None, None, None, None, None);
            let mut first = true;
            while let Some(key) = c.next_key(&mut first)? {
                match key {
                    b"s" => s = Some(c.str("data[].s")?),
                    b"bd" => bd = Some(dec(c, "data[].bd", false)?),
                    b"ak" => ak = Some(dec(c, "data[].ak", false)?),
                    b"bv" => bv = Some(dec(c, "data[].bv", false)?),
                    b"av" => av = Some(dec(c, "data[].av", false)?),
                    b"o" | b"h" | b"l" | b"la" | b"b" | b"q" => {
                        c.dec("data[]")?;
                    }
                    // The 24 h change may be negative: read as a decimal, not kept.
                    b"r" => {
                        c.dec("data[].r")?;
                    }
                    other => return Err(unknown("data[]", other)),
                }
            }
            let bid = RawLevel { price: required(bd, "data[].bd")?, size: required(bv, "data[].bv")? };
            let ask = RawLevel { price: required(ak, "data[].ak")?, size: required(av, "data[].av")? };
            let symbol = out.symbol(required(s, "data[].s")?);
            out.items.push(Item::Bbo { symbol, bbo: BboItem { bid, ask, sequence: None, exchange_ts: None } });
            if !c.more_elements("data")? {
                return Ok(());
            }
        }
    }

    /// A kline push's `data` object (its start is set from `ts` once the frame is read).
    #[allow(clippy::many_single_char_names)] // the venue's own one-letter field names
    fn kline(c: &mut Cursor<'_>, symbol: &str, interval: Interval, out: &mut Out) -> Result<(), Error> {
        c.begin_object()?;
        let (mut o, mut h, mut l, mut cl, mut b) = (None, None, None, None, None);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"o" => o = Some(dec(c, "data.o", false)?),
                b"h" => h = Some(dec(c, "data.h", false)?),
                b"l" => l = Some(dec(c, "data.l", false)?),
                b"c" => cl = Some(dec(c, "data.c", false)?),
                b"b" => b = Some(dec(c, "data.b", false)?),
                b"q" => {
                    dec(c, "data.q", false)?;
                }
                other => return Err(unknown("data", other)),
            }
        }
        let candle = CandleItem {
            interval,
            start_ts: 0,
            end_ts: 0,
            open: required(o, "data.o")?,
            high: required(h, "data.h")?,
            low: required(l, "data.l")?,
            close: required(cl, "data.c")?,
            volume: required(b, "data.b")?,
            trades: None,
            closed: None,
            exchange_ts: None,
        };
        let symbol = out.symbol(symbol);
        out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
        Ok(())
    }

    /// A reply frame (`op`).
    #[cold]
    fn reply(frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let f: OpFrame = from_json(frame)?;
        let control =
            |kind, topic, code, message| Item::Control(ControlItem { kind, request_id: None, topic, code, message });
        match f.op.as_str() {
            "ping" => {
                if f.pong.is_none() || f.ping.is_none() {
                    return Err(Error::frame("pong", "a ping reply carries pong and ping"));
                }
                out.items.push(control(ControlKind::Pong, None, None, None));
            }
            "connect" => out.items.push(control(ControlKind::Welcome, None, None, None)),
            "subscribe" | "unsubscribe" => {
                let code = match &f.code {
                    None => None,
                    Some(serde_json::Value::Number(n)) => n.as_i64(),
                    Some(serde_json::Value::String(s)) => {
                        Some(s.parse::<i64>().map_err(|_| Error::frame("code", format!("{s:?} is not a number")))?)
                    }
                    Some(other) => return Err(Error::frame("code", format!("{other} is not a number"))),
                };
                let failed = code.is_some_and(|c| c != 0);
                let kind = if failed { ControlKind::Error } else { ControlKind::Ack };
                let message = f.msg.filter(|m| !m.is_empty());
                let args = f.args.unwrap_or_default();
                if args.is_empty() {
                    if !failed {
                        return Err(Error::frame("args", "an ack without the arguments it acknowledges"));
                    }
                    out.items.push(control(kind, None, code, message.clone()));
                }
                for a in &args {
                    out.items.push(control(kind, Some(topic(&a.ch, a.symbol.as_deref())), code, message.clone()));
                }
            }
            other => return Err(Error::frame("op", format!("{other:?} is not a BitUnix public reply"))),
        }
        Ok(())
    }

    fn push(frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let (mut channel, mut symbol, mut ts, mut saw_data) = (None, None, None, false);
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"ch" => channel = Some(Channel::parse(c.str("ch")?)?),
                b"symbol" => symbol = Some(c.str("symbol")?),
                b"ts" => ts = Some(c.timestamp_ms("ts")?),
                b"data" => {
                    let ch = channel.ok_or_else(|| Error::frame("ch", "expected before data"))?;
                    let need = || symbol.ok_or_else(|| Error::frame("symbol", "expected before data"));
                    match ch {
                        Channel::Tickers if symbol.is_some() => {
                            return Err(Error::frame("symbol", "tickers pushes name symbols per entry"))
                        }
                        Channel::Tickers => Self::tickers(&mut c, out)?,
                        Channel::Book(depth) => Self::book(&mut c, need()?, depth, out)?,
                        Channel::Trade => Self::trades(&mut c, need()?, out)?,
                        Channel::Kline(interval, _) => Self::kline(&mut c, need()?, interval, out)?,
                    }
                    saw_data = true;
                }
                b"op" => return Self::reply(frame, out),
                other => return Err(unknown("", other)),
            }
        }
        c.end()?;
        let channel = required(channel, "ch")?;
        if !saw_data {
            return Err(Error::frame("data", "missing field"));
        }
        let ts = required(ts, "ts")?;
        for item in &mut out.items {
            match item {
                Item::Book(b) => b.exchange_ts = Some(ts),
                Item::Bbo { bbo, .. } => bbo.exchange_ts = Some(ts),
                Item::Candle { candle, .. } => {
                    if let Channel::Kline(_, span) = channel {
                        (candle.start_ts, candle.end_ts) = span.bounds(ts);
                    }
                    candle.exchange_ts = Some(ts);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The `Frame` error for an undocumented key under `at`.
#[cold]
fn unknown(at: &str, key: &[u8]) -> Error {
    let key = String::from_utf8_lossy(key);
    let field = if at.is_empty() { key.into_owned() } else { format!("{at}.{key}") };
    Error::frame(field, "not a field of a BitUnix futures public frame")
}

/// The unified symbol of a market id by its shape: `<BASE><QUOTE>` with quote USDT or USDC,
/// a linear perpetual margined in the quote (`BTCUSDT` -> `BTC/USDT:USDT`). None otherwise.
pub fn unified(market_id: &str) -> Option<String> {
    let code = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    ["USDT", "USDC"].iter().find_map(|q| {
        let base = market_id.strip_suffix(q)?;
        code(base).then(|| format!("{base}/{q}:{q}"))
    })
}

/// The market id of a unified linear perpetual symbol (`BTC/USDT:USDT` -> `BTCUSDT`), None for
/// other shapes.
pub fn market_id_of(symbol: &str) -> Option<String> {
    let (pair, settle) = symbol.split_once(':')?;
    let (base, quote) = pair.split_once('/')?;
    let code = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    (code(base) && matches!(quote, "USDT" | "USDC") && settle == quote).then(|| format!("{base}{quote}"))
}

impl Venue for Bitunix {
    fn id(&self) -> &'static str {
        "bitunix"
    }

    fn market(&self) -> &'static str {
        "linear"
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "BitUnix futures public streams send text frames only"));
        }
        if let Some(kind) = private_kind(frame) {
            return Self::private(frame, kind, out);
        }
        Self::push(frame, out)
    }

    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
    }

    fn parse_account(&mut self, what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        Self::account_list(what, body, out)
    }

    /// Never consulted: BitUnix books carry no sequence (every push is a whole book). Were it
    /// asked, every message continues the chain.
    fn check(&self, _last: u64, _ids: &SeqIds, _bridging: bool) -> Verdict {
        Verdict::Apply
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        if let Some(s) = self.symbols.get(market_id) {
            return s.clone();
        }
        unified(market_id).unwrap_or_else(|| market_id.to_owned())
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        if let Some(id) = self.ids.get(symbol) {
            return Ok(id.clone());
        }
        market_id_of(symbol).ok_or_else(|| {
            Error::invalid("symbol", symbol, "not a BitUnix USDT-margined perpetual symbol (BTC/USDT:USDT)")
        })
    }
}

// ---- private (account) side ---------------------------------------------------------------
//
// UNPROVEN ON LIVE DATA: no private BitUnix frame was ever recorded; shapes follow the docs'
// field tables (shared/docs/exchanges/bitunix.md §7-§8; fixtures and their sources in
// tests/fixtures/bitunix/private/). Private pushes are `{"ch":"order"|"position"|"balance",
// "ts":<ms>,"data":{..}}` on `wss://fapi.bitunix.com/private/` after a `login`; they are rare,
// so they are read with serde (cold), and keys the docs do not list are ignored (the docs are
// partial: an unknown key must not cost an order update), while every documented key that is
// there is checked.
//
// Order status mapping (`orderStatus` on the stream, `status` in REST history):
//
// | BitUnix                | OrderStatus       | why                                          |
// |------------------------|-------------------|----------------------------------------------|
// | `INIT`                 | `New`             | "prepare status": accepted, not yet resting  |
// | `NEW`                  | `New`             | "pending" on the book                        |
// | `PART_FILLED`          | `PartiallyFilled` |                                              |
// | `FILLED`               | `Filled`          |                                              |
// | `CANCELED`             | `Canceled`        |                                              |
// | `PART_FILLED_CANCELED` | `Canceled`        | the rest canceled after a partial fill       |
// | `SYSTEM_CANCELED`      | `Canceled`        | seen live per the SDK [S2], undocumented     |
// | `EXPIRED`              | `Expired`         | a REST history status filter value           |
//
// Fees: BitUnix writes the fee an order or trade paid as a positive number (`fee` "Deducted
// transaction fees"; the docs' example "0.5"): kept as is (positive = paid). A rebate's sign is
// undocumented. The fee asset is not in any documented field: `marginCoin` when a reply has it
// (the SDK [S1] sees it in trade history), else None.
//
// Balances (`balance` channel): `free` = `available`; `locked` = `frozen` (held by open orders,
// = isolationFrozen + crossFrozen) + `margin` (held by open positions); `total` = free +
// locked. `expMoney` (trial bonus) is left out.
//
// Positions: `qty` is the open size (>= 0; an absolute value is taken in case a sign shows
// up), `side` LONG/SHORT; a `CLOSE` event or a zero `qty` is `Flat` with size 0. No entry price
// is given (`entryValue` is the entry notional; its quotient by `qty` is not exact, so it is
// not computed), nor mark or liquidation prices.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::account::{
    order_type, time_in_force, AccountList, BalanceItem, FillItem, MarginMode, OrderItem, OrderStatus, PositionItem,
    PositionSide,
};
use crate::fixed::parse_dec;

/// A private frame, told apart from market data by its first `"ch"` value (or a login reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Private {
    Order,
    Position,
    Balance,
    /// `tpsl` (take-profit / stop-loss orders): not decoded (a `Frame` error naming `ch`).
    Tpsl,
    Login,
}

/// Which private frame `frame` is, if any: the value of the first `"ch"` key (the first key of
/// a push, so market data pays a few byte compares), else a `"op":"login"` reply. JSON
/// whitespace around the colon is allowed.
fn private_kind(frame: &[u8]) -> Option<Private> {
    /// The string value after the first `"<key>"` followed by a colon, as raw bytes.
    fn value_after<'a>(frame: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
        let mut from = 0;
        while let Some(i) = frame[from..].windows(key.len()).position(|w| w == key) {
            let rest = &frame[from + i + key.len()..];
            let rest = rest.trim_ascii_start();
            if let Some(rest) = rest.strip_prefix(b":") {
                return rest.trim_ascii_start().strip_prefix(b"\"");
            }
            from += i + key.len();
        }
        None
    }
    if let Some(ch) = value_after(frame, b"\"ch\"") {
        let kind = [
            (&b"order\""[..], Private::Order),
            (b"position\"", Private::Position),
            (b"balance\"", Private::Balance),
            (b"tpsl\"", Private::Tpsl),
        ]
        .into_iter()
        .find_map(|(name, kind)| ch.starts_with(name).then_some(kind))?;
        // `{"op":"subscribe","args":[{"ch":"order"}]}` is a reply, not a push.
        return value_after(frame, b"\"op\"").is_none().then_some(kind);
    }
    value_after(frame, b"\"op\"").filter(|op| op.starts_with(b"login\"")).map(|_| Private::Login)
}

/// A private push: `data` is one object (the SDK [S2] notes the docs' "List" is an object live)
/// or a list of them.
#[derive(Deserialize)]
struct PrivatePush<'a> {
    #[serde(rename = "ch")]
    _ch: &'a str,
    ts: i64,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// A login reply: `{"op":"login","data":{"result":true}}`, or an error (see `login_reply`).
#[derive(Deserialize)]
struct LoginReply<'a> {
    #[serde(rename = "op")]
    _op: &'a str,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    data: Option<LoginData>,
}

#[derive(Deserialize)]
struct LoginData {
    #[serde(default)]
    result: Option<bool>,
    #[serde(default)]
    msg: Option<String>,
}

/// One JSON object's keys with their raw values, read field by field with named errors.
struct Obj<'a> {
    map: BTreeMap<Cow<'a, str>, &'a RawValue>,
    /// Path prefix for error fields (`"data"`, `"data.tradeList[]"`).
    at: &'static str,
}

impl<'a> Obj<'a> {
    fn new(raw: &'a RawValue, at: &'static str) -> Result<Self, Error> {
        let map = serde_json::from_str(raw.get()).map_err(|e| Error::frame(at, format!("not an object: {e}")))?;
        Ok(Obj { map, at })
    }

    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.at)
    }

    /// The value of `key` as text: a string's content or a number's digits; None if absent or
    /// null.
    fn text(&self, key: &str) -> Result<Option<Cow<'a, str>>, Error> {
        let Some(raw) = self.map.get(key) else { return Ok(None) };
        let s = raw.get();
        match s.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<Cow<'a, str>>(s)
                .map(Some)
                .map_err(|e| Error::frame(self.field(key), e.to_string())),
            Some(b'-' | b'0'..=b'9') => Ok(Some(Cow::Borrowed(s))),
            _ if s == "null" => Ok(None),
            _ => Err(Error::frame(self.field(key), format!("{s} is neither text nor a number"))),
        }
    }

    /// Required text (empty text is missing).
    fn req(&self, key: &str) -> Result<Cow<'a, str>, Error> {
        match self.text(key)? {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(Error::frame(self.field(key), "missing field")),
        }
    }

    /// Optional text (empty text is None).
    fn opt(&self, key: &str) -> Result<Option<Cow<'a, str>>, Error> {
        Ok(self.text(key)?.filter(|t| !t.is_empty()))
    }

    /// An optional decimal (absent, null or `""` is None).
    fn dec(&self, key: &str) -> Result<Option<Dec>, Error> {
        let Some(t) = self.opt(key)? else { return Ok(None) };
        parse_dec(&t, "decimal").map(Some).map_err(|_| Error::frame(self.field(key), format!("{t:?} is not a decimal")))
    }

    fn req_dec(&self, key: &str) -> Result<Dec, Error> {
        self.dec(key)?.ok_or_else(|| Error::frame(self.field(key), "missing field"))
    }

    /// An optional bool (`true`/`false`, or the text of one).
    fn boolean(&self, key: &str) -> Result<Option<bool>, Error> {
        let Some(raw) = self.map.get(key) else { return Ok(None) };
        match raw.get().trim_matches('"') {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            "null" => Ok(None),
            other => Err(Error::frame(self.field(key), format!("{other} is not a bool"))),
        }
    }

    /// An optional time, ns since the epoch: ms as a number or numeric text (REST), or RFC 3339
    /// UTC text (the stream's `ctime`/`mtime` per [S2]).
    fn time(&self, key: &str) -> Result<Option<i64>, Error> {
        let Some(t) = self.opt(key)? else { return Ok(None) };
        if t.bytes().all(|b| b.is_ascii_digit()) {
            let ms: i64 = t.parse().map_err(|_| Error::frame(self.field(key), format!("{t:?} is not a time")))?;
            return ms.checked_mul(MS).map(Some).ok_or_else(|| Error::frame(self.field(key), "time out of range"));
        }
        rfc3339(&t, "time").map(Some).map_err(|_| Error::frame(self.field(key), format!("{t:?} is not a time")))
    }
}

/// `a + b` exactly (None on overflow).
fn dec_add(a: Dec, b: Dec) -> Option<Dec> {
    let width = a.width.max(b.width);
    let scale = |d: Dec| d.mantissa.checked_mul(10i64.checked_pow(u32::from(width - d.width))?);
    Some(Dec { mantissa: scale(a)?.checked_add(scale(b)?)?, width })
}

/// BUY/SELL (the SDK [S2] sees `Buy`/`Sell` live: case is ignored).
fn side_of(o: &Obj<'_>, key: &str) -> Result<Side, Error> {
    let s = o.req(key)?;
    if s.eq_ignore_ascii_case("buy") {
        Ok(Side::Buy)
    } else if s.eq_ignore_ascii_case("sell") {
        Ok(Side::Sell)
    } else {
        Err(Error::frame(o.field(key), format!("{s:?} is neither BUY nor SELL")))
    }
}

/// The status table at the head of this section.
fn order_status(o: &Obj<'_>, key: &str) -> Result<OrderStatus, Error> {
    let s = o.req(key)?;
    Ok(match &*s {
        "INIT" | "NEW" => OrderStatus::New,
        "PART_FILLED" => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "CANCELED" | "PART_FILLED_CANCELED" | "SYSTEM_CANCELED" => OrderStatus::Canceled,
        "EXPIRED" => OrderStatus::Expired,
        other => return Err(Error::frame(o.field(key), format!("{other:?} is not a BitUnix order status"))),
    })
}

/// LIMIT/MARKET (case ignored, as for `side`).
fn order_kind(o: &Obj<'_>, key: &str) -> Result<&'static str, Error> {
    let s = o.req(key)?;
    if s.eq_ignore_ascii_case("limit") {
        Ok(order_type::LIMIT)
    } else if s.eq_ignore_ascii_case("market") {
        Ok(order_type::MARKET)
    } else {
        Err(Error::frame(o.field(key), format!("{s:?} is neither LIMIT nor MARKET")))
    }
}

/// `effect`: `GTC`, `IOC`, `FOK` or `POST_ONLY`.
fn effect(o: &Obj<'_>) -> Result<Option<&'static str>, Error> {
    let Some(s) = o.opt("effect")? else { return Ok(None) };
    Ok(Some(match &*s {
        "GTC" => time_in_force::GTC,
        "IOC" => time_in_force::IOC,
        "FOK" => time_in_force::FOK,
        "POST_ONLY" => time_in_force::POST_ONLY,
        other => return Err(Error::frame(o.field("effect"), format!("{other:?} is not a BitUnix effect"))),
    }))
}

/// ISOLATION/CROSS.
fn margin_mode(o: &Obj<'_>, key: &str) -> Result<Option<MarginMode>, Error> {
    let Some(s) = o.opt(key)? else { return Ok(None) };
    Ok(Some(match &*s {
        "CROSS" => MarginMode::Cross,
        "ISOLATION" => MarginMode::Isolated,
        other => return Err(Error::frame(o.field(key), format!("{other:?} is neither CROSS nor ISOLATION"))),
    }))
}

/// The documented enumerations a frame carries but the events do not keep, checked so a
/// foreign or garbled frame is not read as an order.
fn check_words(o: &Obj<'_>, key: &str, allowed: &[&str]) -> Result<(), Error> {
    match o.opt(key)? {
        Some(s) if !allowed.contains(&&*s) => {
            Err(Error::frame(o.field(key), format!("{s:?} is not one of {}", allowed.join("/"))))
        }
        _ => Ok(()),
    }
}

/// An order, from a stream push (`stream`: `type`, `orderStatus`, `dealAmount`,
/// `reductionOnly`) or a REST history entry (`orderType`, `status`, `tradeQty`, `reduceOnly`).
/// `ts`: the push time, for a push without `mtime`.
fn order_item(o: &Obj<'_>, stream: bool, ts: Option<i64>, out: &mut Out) -> Result<OrderItem, Error> {
    let (type_key, status_key, filled_key, reduce_key) = if stream {
        ("type", "orderStatus", "dealAmount", "reductionOnly")
    } else {
        ("orderType", "status", "tradeQty", "reduceOnly")
    };
    if stream {
        check_words(o, "event", &["CREATE", "UPDATE", "CLOSE"])?;
    }
    check_words(o, "positionMode", &["ONE_WAY", "HEDGE"])?;
    margin_mode(o, if stream { "positionType" } else { "marginMode" })?;
    o.dec("leverage")?;
    o.dec("fee")?;
    let kind = order_kind(o, type_key)?;
    let status = order_status(o, status_key)?;
    let size = o.req_dec("qty")?;
    let filled = o.dec(filled_key)?.unwrap_or(Dec::ZERO);
    // A market order's price is "" (or "market" in REST history, per [S2]); 0 means none.
    let price = match o.opt("price")? {
        Some(p) if p.eq_ignore_ascii_case("market") => None,
        _ => o.dec("price")?.filter(|p| p.mantissa != 0),
    };
    let average_price = o.dec("averagePrice")?.filter(|p| p.mantissa != 0 && filled.mantissa != 0);
    let created_ts = o.time("ctime")?;
    let exchange_ts =
        o.time("mtime")?.or(ts).or(created_ts).ok_or_else(|| Error::frame(o.field("mtime"), "missing field"))?;
    let symbol = out.symbol(&o.req("symbol")?);
    Ok(OrderItem {
        symbol,
        order_id: o.req("orderId")?.into_owned(),
        client_order_id: o.opt("clientId")?.map(Cow::into_owned),
        side: side_of(o, "side")?,
        order_type: kind,
        time_in_force: effect(o)?,
        status,
        price,
        trigger_price: None, // tp*/sl* are the order's attached exits, not its own trigger
        size,
        filled_size: filled,
        average_price,
        reduce_only: o.boolean(reduce_key)?,
        created_ts,
        exchange_ts,
    })
}

/// A fill from a REST trade-history entry.
fn fill_item(o: &Obj<'_>, out: &mut Out) -> Result<FillItem, Error> {
    check_words(o, "positionMode", &["ONE_WAY", "HEDGE"])?;
    margin_mode(o, "marginMode")?;
    effect(o)?;
    o.dec("leverage")?;
    o.dec("realizedPNL")?;
    if o.opt("orderType")?.is_some() {
        order_kind(o, "orderType")?;
    }
    let is_maker = match o.opt("roleType")?.as_deref() {
        None => None,
        Some("MAKER") => Some(true),
        Some("TAKER") => Some(false),
        Some(other) => return Err(Error::frame(o.field("roleType"), format!("{other:?} is neither MAKER nor TAKER"))),
    };
    let symbol = out.symbol(&o.req("symbol")?);
    Ok(FillItem {
        symbol,
        trade_id: o.req("tradeId")?.into_owned(),
        order_id: o.req("orderId")?.into_owned(),
        client_order_id: o.opt("clientId")?.map(Cow::into_owned),
        side: side_of(o, "side")?,
        price: o.req_dec("price")?,
        size: o.req_dec("qty")?,
        fee: o.dec("fee")?, // positive = paid, as BitUnix writes it (see the section head)
        fee_asset: o.opt("marginCoin")?.map(Cow::into_owned),
        is_maker,
        liquidation: None,
        exchange_ts: o.time("ctime")?.ok_or_else(|| Error::frame(o.field("ctime"), "missing field"))?,
    })
}

/// A `position` push's data.
fn position_item(o: &Obj<'_>, ts: i64, out: &mut Out) -> Result<PositionItem, Error> {
    check_words(o, "event", &["OPEN", "UPDATE", "CLOSE"])?;
    check_words(o, "positionMode", &["ONE_WAY", "HEDGE"])?;
    for key in ["margin", "entryValue", "realizedPNL", "funding", "fee"] {
        o.dec(key)?;
    }
    o.time("ctime")?;
    o.req("positionId")?;
    let qty = o.req_dec("qty")?;
    let open_size = Dec { mantissa: qty.mantissa.checked_abs().unwrap_or(i64::MAX), width: qty.width };
    let direction = match &*o.req("side")? {
        "LONG" => PositionSide::Long,
        "SHORT" => PositionSide::Short,
        other => return Err(Error::frame(o.field("side"), format!("{other:?} is neither LONG nor SHORT"))),
    };
    let closed = o.opt("event")?.as_deref() == Some("CLOSE") || open_size.mantissa == 0;
    let symbol = out.symbol(&o.req("symbol")?);
    Ok(PositionItem {
        symbol,
        side: if closed { PositionSide::Flat } else { direction },
        size: if closed { Dec::ZERO } else { open_size },
        entry_price: None,
        mark_price: None,
        unrealized_pnl: o.dec("unrealizedPNL")?,
        liquidation_price: None,
        leverage: o.dec("leverage")?,
        margin_mode: margin_mode(o, "marginMode")?,
        exchange_ts: ts,
    })
}

/// A `balance` push's data (free / locked / total as the section head says).
fn balance_item(o: &Obj<'_>, ts: i64) -> Result<BalanceItem, Error> {
    for key in ["isolationFrozen", "crossFrozen", "isolationMargin", "crossMargin", "expMoney"] {
        o.dec(key)?;
    }
    let free = o.req_dec("available")?;
    let frozen = o.req_dec("frozen")?;
    let margin = o.dec("margin")?.unwrap_or(Dec::ZERO);
    let overflow = || Error::frame(o.field("frozen"), "sum out of range");
    let locked = dec_add(frozen, margin).ok_or_else(overflow)?;
    let total = dec_add(free, locked).ok_or_else(overflow)?;
    Ok(BalanceItem {
        asset: o.req("coin")?.into_owned(),
        free: Some(free),
        locked: Some(locked),
        total: Some(total),
        exchange_ts: ts,
    })
}

/// `data`'s objects: one object, or each object of a list.
fn data_objects<'a>(data: &'a RawValue, at: &'static str) -> Result<Vec<Obj<'a>>, Error> {
    if data.get().trim_start().starts_with('[') {
        let list: Vec<&RawValue> =
            serde_json::from_str(data.get()).map_err(|e| Error::frame(at, format!("not a list: {e}")))?;
        list.into_iter().map(|r| Obj::new(r, at)).collect()
    } else {
        Ok(vec![Obj::new(data, at)?])
    }
}

impl Bitunix {
    /// A private push or login reply (see the section head).
    #[cold]
    fn private(frame: &[u8], kind: Private, out: &mut Out) -> Result<(), Error> {
        match kind {
            Private::Login => return login_reply(frame, out),
            Private::Tpsl => {
                return Err(Error::frame("ch", "\"tpsl\" (take-profit/stop-loss orders) is not decoded by tickwire"))
            }
            _ => {}
        }
        let push: PrivatePush<'_> = from_json(frame)?;
        let ts = push.ts.checked_mul(MS).ok_or_else(|| Error::frame("ts", "out of range"))?;
        for o in data_objects(push.data, "data")? {
            let item = match kind {
                Private::Order => Item::Order(Box::new(order_item(&o, true, Some(ts), out)?)),
                Private::Position => Item::Position(Box::new(position_item(&o, ts, out)?)),
                _ => Item::Balance(Box::new(balance_item(&o, ts)?)),
            };
            out.items.push(item);
        }
        Ok(())
    }

    /// A REST history body: `{"code":0,"data":{"tradeList"|"orderList":[..],"total":..},
    /// "msg":..}`, listed newest first by BitUnix and returned oldest first (stable by time).
    fn account_list(what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        #[derive(Deserialize)]
        struct Reply<'a> {
            code: serde_json::Value,
            #[serde(default)]
            msg: Option<String>,
            #[serde(borrow, default)]
            data: Option<&'a RawValue>,
        }
        let reply: Reply<'_> = from_json(body)?;
        if reply.code != serde_json::json!(0) && reply.code != serde_json::json!("0") {
            let msg = reply.msg.unwrap_or_default();
            return Err(Error::frame("code", format!("BitUnix error {}: {msg}", reply.code)));
        }
        let data = reply.data.ok_or_else(|| Error::frame("data", "missing field"))?;
        let data = Obj::new(data, "data")?;
        let (key, at) = match what {
            AccountList::Fills => ("tradeList", "data.tradeList[]"),
            AccountList::Orders => ("orderList", "data.orderList[]"),
        };
        let Some(list) = data.map.get(key) else {
            return Err(Error::frame(data.field(key), "missing field"));
        };
        let entries: Vec<&RawValue> = if list.get() == "null" {
            Vec::new()
        } else {
            serde_json::from_str(list.get()).map_err(|e| Error::frame(data.field(key), format!("not a list: {e}")))?
        };
        let mut items = Vec::with_capacity(entries.len());
        for raw in entries {
            let o = Obj::new(raw, at)?;
            items.push(match what {
                AccountList::Fills => {
                    let f = fill_item(&o, out)?;
                    (f.exchange_ts, Item::Fill(Box::new(f)))
                }
                AccountList::Orders => {
                    let ord = order_item(&o, false, None, out)?;
                    (ord.exchange_ts, Item::Order(Box::new(ord)))
                }
            });
        }
        items.reverse(); // newest first -> oldest first; then stable by time
        items.sort_by_key(|(t, _)| *t);
        out.items.extend(items.into_iter().map(|(_, i)| i));
        Ok(())
    }
}

/// `{"op":"login","data":{"result":true}}` -> a `Login` reply (topic `"login"`, what the
/// adapter's login request awaits). A refusal -> an `Error` reply with topic `"login"`: a
/// non-zero `code` or `data.result` false, message from `msg` or `data.msg`. The docs are silent
/// on the refusal's shape; BitUnix's general error shape (`code`, `msg`) is assumed.
fn login_reply(frame: &[u8], out: &mut Out) -> Result<(), Error> {
    let r: LoginReply<'_> = from_json(frame)?;
    let code = match &r.code {
        None => None,
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => {
            Some(s.parse::<i64>().map_err(|_| Error::frame("code", format!("{s:?} is not a number")))?)
        }
        Some(other) => return Err(Error::frame("code", format!("{other} is not a number"))),
    };
    let result = r.data.as_ref().and_then(|d| d.result);
    let ok = code.map_or(true, |c| c == 0) && result != Some(false);
    if ok && result != Some(true) {
        return Err(Error::frame("data.result", "a login reply says its result"));
    }
    let message = r.msg.or_else(|| r.data.and_then(|d| d.msg)).filter(|m| !m.is_empty());
    out.items.push(Item::Control(ControlItem {
        kind: if ok { ControlKind::Login } else { ControlKind::Error },
        request_id: None,
        topic: Some("login".to_owned()),
        code: if ok { None } else { code },
        message: if ok { None } else { message },
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        FACTORY.create("linear", &[])?.parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    fn field_of(frame: &str) -> String {
        match parse(frame) {
            Err(Error::Frame { field, .. }) => field,
            other => panic!("{frame}: {other:?}"),
        }
    }

    #[test]
    fn depth_push_as_documented_is_a_whole_book() {
        // The depth channel page's push example (values as in the docs).
        let out = parse(
            r#"{"ch":"depth_book1","symbol":"BTCUSDT","ts":1732178884994,"data":{"b":[["7403.89","0.002"]],"a":[["7405.96","3.340"]]}}"#,
        )
        .unwrap();
        let [Item::Book(b)] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!((b.kind, b.ids, b.checksum, b.depth), (BookKind::Snapshot, None, None, Some(1)));
        assert_eq!(b.exchange_ts, Some(1_732_178_884_994 * MS));
        assert_eq!(out.market_ids()[b.symbol], "BTCUSDT");
        let bid = out.bids[b.bids.clone()][0];
        let ask = out.asks[b.asks.clone()][0];
        assert_eq!((bid.price.to_string(), bid.size.to_string()), ("7403.89".into(), "0.002".into()));
        assert_eq!((ask.price.to_string(), ask.size.to_string()), ("7405.96".into(), "3.340".into()));
        // ts may follow data; depth_books has no depth cap.
        let out = parse(r#"{"ch":"depth_books","symbol":"ETHUSDT","data":{"b":[],"a":[]},"ts":1}"#).unwrap();
        let [Item::Book(b)] = &out.items[..] else { panic!() };
        assert_eq!((b.depth, b.exchange_ts), (None, Some(MS)));
    }

    #[test]
    fn trades_tickers_klines_as_documented() {
        let out = parse(
            r#"{"ch":"trade","symbol":"BTCUSDT","ts":1775540872598,"data":[{"t":"2026-04-07T05:47:52Z","p":"68621.4","v":"0.7142","s":"buy"},{"t":"2026-04-07T05:47:52Z","p":"68621.4","v":"0.0018","s":"sell"}]}"#,
        )
        .unwrap();
        let [Item::Trade { trade: a, .. }, Item::Trade { trade: b, .. }] = &out.items[..] else { panic!() };
        assert_eq!((a.side, b.side), (Side::Buy, Side::Sell));
        assert_eq!(a.trade_ts, rfc3339("2026-04-07T05:47:52Z", "t").unwrap());
        assert_eq!(a.trade_id.to_string(), "2026-04-07T05:47:52Z");
        assert_eq!((a.price.to_string(), b.size.to_string()), ("68621.4".into(), "0.0018".into()));

        let out = parse(
            r#"{"ch":"tickers","ts":1732178884994,"data":[{"s":"BTCUSDT","la":"68650.9","o":"69141.6","h":"70319.9","l":"68241.9","b":"26295.3977","q":"1823374525.0193","r":"-0.7097029863","bd":"68650.9","ak":"68651","bv":"0.9747","av":"2.3606"},{"s":"ETHUSDT","la":"2104.61","o":"2128.49","h":"2173.75","l":"2086.79","b":"945498.652","q":"2018286647.13588","r":"-1.1219221138","bd":"2104.6","ak":"2104.61","bv":"27.789","av":"7.905"}]}"#,
        )
        .unwrap();
        let [Item::Bbo { symbol: s0, bbo: b0 }, Item::Bbo { symbol: s1, bbo: b1 }] = &out.items[..] else { panic!() };
        assert_eq!((&out.market_ids()[*s0][..], &out.market_ids()[*s1][..]), ("BTCUSDT", "ETHUSDT"));
        assert_eq!((b0.bid.price.to_string(), b0.ask.size.to_string()), ("68650.9".into(), "2.3606".into()));
        assert_eq!((b1.ask.price.to_string(), b1.exchange_ts), ("2104.61".into(), Some(1_732_178_884_994 * MS)));

        // The docs-tier kline push: the candle holding ts 2024-11-21T08:48:04.994Z.
        let out = parse(
            r#"{"ch":"mark_kline_1min","symbol":"BNBUSDT","ts":1732178884994,"data":{"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","b":"1.01","q":"1.09"}}"#,
        )
        .unwrap();
        let [Item::Candle { candle, .. }] = &out.items[..] else { panic!() };
        assert_eq!(candle.interval.as_str(), "mark_1min");
        assert_eq!((candle.start_ts, candle.end_ts), (1_732_178_880_000 * MS, 1_732_178_940_000 * MS - 1));
        assert_eq!((candle.open.to_string(), candle.volume.to_string()), ("0.0010".into(), "1.01".into()));
        assert_eq!(candle.closed, None);
    }

    #[test]
    fn candle_spans() {
        let day = |y, m, d| days_from_civil(y, m, d) * DAY_MS * MS;
        // 2024-11-21 is a Thursday: its week began Monday 2024-11-18.
        assert_eq!(Span::Week.bounds(day(2024, 11, 21) + 5), (day(2024, 11, 18), day(2024, 11, 25) - 1));
        assert_eq!(Span::Week.bounds(day(2024, 11, 18)), (day(2024, 11, 18), day(2024, 11, 25) - 1));
        assert_eq!(Span::Month.bounds(day(2024, 12, 31) + 7), (day(2024, 12, 1), day(2025, 1, 1) - 1));
        assert_eq!(Span::Month.bounds(day(2024, 2, 29)), (day(2024, 2, 1), day(2024, 3, 1) - 1));
        assert_eq!(Span::Fixed(DAY_MS).bounds(day(2024, 2, 29) + 1), (day(2024, 2, 29), day(2024, 3, 1) - 1));
        for bad in ["1m", "1h", "1d", "7min", ""] {
            assert!(kline_span(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn replies() {
        let out = parse(r#"{"op":"ping","pong":1732519687,"ping":1732519690}"#).unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Pong, .. })]));
        let out = parse(r#"{"op":"connect","data":{"result":true}}"#).unwrap();
        assert!(matches!(&out.items[..], [Item::Control(ControlItem { kind: ControlKind::Welcome, .. })]));
        let out = parse(
            r#"{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"depth_book5"},{"symbol":"ETHUSDT","ch":"trade"}]}"#,
        )
        .unwrap();
        let topics: Vec<_> = out
            .items
            .iter()
            .map(|i| match i {
                Item::Control(c) if c.kind == ControlKind::Ack => c.topic.clone().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(topics, ["depth_book5:BTCUSDT", "trade:ETHUSDT"]);
        let out = parse(
            r#"{"op":"subscribe","code":10002,"msg":"Parameter error","args":[{"symbol":"FOOUSDT","ch":"trade"}]}"#,
        )
        .unwrap();
        assert_eq!(
            out.items,
            vec![Item::Control(ControlItem {
                kind: ControlKind::Error,
                request_id: None,
                topic: Some("trade:FOOUSDT".into()),
                code: Some(10002),
                message: Some("Parameter error".into()),
            })]
        );
    }

    #[test]
    fn foreign_and_malformed_frames_name_the_field() {
        for (frame, field) in [
            (r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[]}"#, "arg"),
            (r#"{"stream":"btcusdt@depth","data":{}}"#, "stream"),
            (r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","data":{}}"#, "topic"),
            (r#"{"channel":"l2Book","data":{}}"#, "channel"),
            (r#"{"ch":"ticker","symbol":"BTCUSDT","ts":1,"data":{}}"#, "ch"),
            (r#"{"ch":"depth_book7","symbol":"BTCUSDT","ts":1,"data":{"b":[],"a":[]}}"#, "ch"),
            (r#"{"ch":"market_kline_1m","symbol":"BTCUSDT","ts":1,"data":{}}"#, "ch"),
            (r#"{"symbol":"BTCUSDT","data":{"b":[],"a":[]},"ch":"depth_book1","ts":1}"#, "ch"),
            (r#"{"ch":"depth_book1","ts":1,"data":{"b":[],"a":[]}}"#, "symbol"),
            (r#"{"ch":"depth_book1","symbol":"BTCUSDT","data":{"b":[],"a":[]}}"#, "ts"),
            (r#"{"ch":"depth_book1","symbol":"BTCUSDT","ts":1,"data":{"b":[]}}"#, "data.a"),
            (r#"{"ch":"depth_book1","symbol":"BTCUSDT","ts":1,"data":{"b":[["1","1"],["0.9","1"]],"a":[]}}"#, "data"),
            (r#"{"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":{"b":[["0","1"]],"a":[]}}"#, "data.b"),
            (r#"{"ch":"depth_book5","symbol":"BTCUSDT","ts":1,"data":{"b":[],"a":[],"u":1}}"#, "data.u"),
            (r#"{"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"t":"x","p":"1","v":"1","s":"buy"}]}"#, "data[].t"),
            (
                r#"{"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"t":"2026-04-07T05:47:52Z","p":"1","v":"1","s":"up"}]}"#,
                "data[].s",
            ),
            (
                r#"{"ch":"trade","symbol":"BTCUSDT","ts":1,"data":[{"t":"2026-04-07T05:47:52Z","p":"1","s":"buy"}]}"#,
                "data[].v",
            ),
            (r#"{"ch":"tickers","symbol":"BTCUSDT","ts":1,"data":[]}"#, "symbol"),
            (r#"{"ch":"tickers","ts":1,"data":[{"s":"BTCUSDT","bd":"1","ak":"2","bv":"1"}]}"#, "data[].av"),
            (r#"{"op":"pong"}"#, "op"),
            (r#"{"op":"ping","ping":1}"#, "pong"),
            (r#"{"op":"subscribe"}"#, "args"),
            (r#"{"op":"subscribe","args":[],"extra":1}"#, "extra"),
            ("pong", "json"),
        ] {
            let f = field_of(frame);
            assert!(f.starts_with(field), "{frame}: {f}");
        }
        let mut out = Out::default();
        assert!(FACTORY.create("linear", &[]).unwrap().parse(b"{}", true, &mut out).is_err());
    }

    #[test]
    fn symbols_both_ways() {
        let v = FACTORY.create("linear", &[]).unwrap();
        for (id, symbol) in
            [("BTCUSDT", "BTC/USDT:USDT"), ("1000PEPEUSDT", "1000PEPE/USDT:USDT"), ("ETHUSDC", "ETH/USDC:USDC")]
        {
            assert_eq!(v.unified_symbol(id), symbol);
            assert_eq!(v.market_id(symbol).unwrap(), id);
        }
        for bad in ["BTC/USDT", "BTC/USD:BTC", "BTC/USDT:BTC", "btc/usdt:usdt", "BTC/USDT:USDT-250627"] {
            assert!(v.market_id(bad).is_err(), "{bad}");
        }
        assert_eq!(v.unified_symbol("BTCUSD"), "BTCUSD");
        let table = [Instrument {
            market_id: "XBTUSDT".into(),
            symbol: "BTC/USDT:USDT".into(),
            tick_size: None,
            lot_size: None,
        }];
        let v = FACTORY.create("linear", &table).unwrap();
        assert_eq!(
            (v.unified_symbol("XBTUSDT"), v.market_id("BTC/USDT:USDT").unwrap()),
            ("BTC/USDT:USDT".into(), "XBTUSDT".into())
        );
        assert!(FACTORY.create("spot", &[]).is_err());
    }
}

#[cfg(test)]
mod private_tests {
    use super::*;

    const PUSHES: &str = include_str!("../../../tests/fixtures/bitunix/private/ws_pushes.jsonl");
    const REPLIES: &str = include_str!("../../../tests/fixtures/bitunix/private/ws_replies.jsonl");
    const TRADES: &str = include_str!("../../../tests/fixtures/bitunix/private/history_trades.json");
    const ORDERS: &str = include_str!("../../../tests/fixtures/bitunix/private/history_orders.json");

    fn parse(frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        FACTORY.create("linear", &[])?.parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    fn d(s: &str) -> Dec {
        parse_dec(s, "t").unwrap()
    }

    fn t(s: &str) -> i64 {
        rfc3339(s, "t").unwrap()
    }

    fn line(n: usize) -> &'static str {
        PUSHES.lines().nth(n).unwrap()
    }

    #[test]
    fn order_pushes_every_field() {
        let out = parse(line(1)).unwrap();
        let [Item::Order(o)] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!(out.market_ids()[o.symbol], "BTCUSDT");
        assert_eq!(
            **o,
            OrderItem {
                symbol: o.symbol,
                order_id: "11111".into(),
                client_order_id: Some("22222".into()),
                side: Side::Buy,
                order_type: order_type::LIMIT,
                time_in_force: Some(time_in_force::GTC),
                status: OrderStatus::PartiallyFilled,
                price: Some(d("60000")),
                trigger_price: None,
                size: d("0.5"),
                filled_size: d("0.2"),
                average_price: Some(d("60000")),
                reduce_only: Some(false),
                created_ts: Some(t("2024-11-21T08:48:00.123Z")),
                exchange_ts: t("2024-11-21T08:48:04.990Z"),
            }
        );
        // CREATE: nothing filled, so no average price (the push's "0").
        let out = parse(line(0)).unwrap();
        let [Item::Order(o)] = &out.items[..] else { panic!() };
        assert_eq!((o.status, o.filled_size, o.average_price), (OrderStatus::New, d("0"), None));
        // A market order: price "" is None, IOC, reduce-only, no client id.
        let out = parse(line(2)).unwrap();
        let [Item::Order(o)] = &out.items[..] else { panic!() };
        assert_eq!(out.market_ids()[o.symbol], "ETHUSDT");
        assert_eq!(
            (o.side, o.order_type, o.time_in_force, o.status, o.price),
            (Side::Sell, order_type::MARKET, Some(time_in_force::IOC), OrderStatus::Filled, None)
        );
        assert_eq!((o.size, o.filled_size, o.average_price), (d("2"), d("2"), Some(d("3085.5"))));
        assert_eq!((o.reduce_only, o.client_order_id.as_deref()), (Some(true), None));
        assert_eq!((o.created_ts, o.exchange_ts), (Some(t("2024-11-21T08:48:10.001Z")), t("2024-11-21T08:48:10.002Z")));
    }

    #[test]
    fn order_status_table() {
        for (word, status) in [
            ("INIT", OrderStatus::New),
            ("NEW", OrderStatus::New),
            ("PART_FILLED", OrderStatus::PartiallyFilled),
            ("FILLED", OrderStatus::Filled),
            ("CANCELED", OrderStatus::Canceled),
            ("PART_FILLED_CANCELED", OrderStatus::Canceled),
            ("SYSTEM_CANCELED", OrderStatus::Canceled),
            ("EXPIRED", OrderStatus::Expired),
        ] {
            let frame = line(1).replace("\"PART_FILLED\"", &format!("{word:?}"));
            let out = parse(&frame).unwrap();
            let [Item::Order(o)] = &out.items[..] else { panic!() };
            assert_eq!(o.status, status, "{word}");
        }
        // The SDK [S2] sees Buy/Limit live: case is ignored; POST_ONLY is a time in force.
        let frame = line(1).replace("\"BUY\"", "\"Buy\"").replace("\"LIMIT\"", "\"Limit\"").replace("GTC", "POST_ONLY");
        let out = parse(&frame).unwrap();
        let [Item::Order(o)] = &out.items[..] else { panic!() };
        assert_eq!((o.side, o.order_type, o.time_in_force), (Side::Buy, "limit", Some("post_only")));
        // data as a list (as the docs' table says) works too.
        let frame = line(1).replace("\"data\":{", "\"data\":[{").replace("}}", "}]}");
        assert_eq!(parse(&frame).unwrap().items.len(), 1);
    }

    #[test]
    fn position_and_balance_pushes_every_field() {
        let out = parse(line(3)).unwrap();
        let [Item::Position(p)] = &out.items[..] else { panic!() };
        assert_eq!(out.market_ids()[p.symbol], "BTCUSDT");
        assert_eq!(
            **p,
            PositionItem {
                symbol: p.symbol,
                side: PositionSide::Long,
                size: d("0.2"),
                entry_price: None,
                mark_price: None,
                unrealized_pnl: Some(d("-1.5")),
                liquidation_price: None,
                leverage: Some(d("10")),
                margin_mode: Some(MarginMode::Cross),
                exchange_ts: 1_732_178_884_995 * MS,
            }
        );
        let out = parse(line(4)).unwrap();
        let [Item::Position(p)] = &out.items[..] else { panic!() };
        assert_eq!((p.side, p.size, p.margin_mode), (PositionSide::Flat, Dec::ZERO, Some(MarginMode::Isolated)));
        assert_eq!((p.leverage, p.unrealized_pnl), (Some(d("5")), Some(d("0"))));

        let out = parse(line(5)).unwrap();
        let [Item::Balance(b)] = &out.items[..] else { panic!() };
        assert_eq!(
            **b,
            BalanceItem {
                asset: "USDT".into(),
                free: Some(d("8798.794")),
                locked: Some(d("3000")),     // frozen 1800 + margin 1200
                total: Some(d("11798.794")), // available 8798.794 + locked
                exchange_ts: 1_732_178_884_996 * MS,
            }
        );
    }

    #[test]
    fn login_replies() {
        let mut lines = REPLIES.lines();
        let out = parse(lines.next().unwrap()).unwrap();
        assert_eq!(
            out.items,
            vec![Item::Control(ControlItem {
                kind: ControlKind::Login,
                request_id: None,
                topic: Some("login".into()),
                code: None,
                message: None
            })]
        );
        let out = parse(lines.next().unwrap()).unwrap();
        assert_eq!(
            out.items,
            vec![Item::Control(ControlItem {
                kind: ControlKind::Error,
                request_id: None,
                topic: Some("login".into()),
                code: Some(10007),
                message: Some("Sign signature error".into())
            })]
        );
        let out = parse(r#"{"op":"login","data":{"result":false,"msg":"bad"}}"#).unwrap();
        let [Item::Control(c)] = &out.items[..] else { panic!() };
        assert_eq!((c.kind, c.code, c.message.as_deref()), (ControlKind::Error, None, Some("bad")));
        assert!(parse(r#"{"op":"login"}"#).is_err());
    }

    #[test]
    fn rest_history_lists() {
        let mut v = FACTORY.create("linear", &[]).unwrap();
        let mut out = Out::default();
        v.parse_account(AccountList::Fills, TRADES.as_bytes(), &mut out).unwrap();
        let fills: Vec<&FillItem> = out
            .items
            .iter()
            .map(|i| match i {
                Item::Fill(f) => &**f,
                other => panic!("{other:?}"),
            })
            .collect();
        // Listed newest first; returned oldest first.
        assert_eq!(fills.iter().map(|f| f.trade_id.as_str()).collect::<Vec<_>>(), ["123", "124"]);
        assert_eq!(
            *fills[0],
            FillItem {
                symbol: fills[0].symbol,
                trade_id: "123".into(),
                order_id: "11111".into(),
                client_order_id: Some("22222".into()),
                side: Side::Buy,
                price: d("60000"),
                size: d("0.2"),
                fee: Some(d("0.006")),
                fee_asset: None,
                is_maker: Some(false),
                liquidation: None,
                exchange_ts: 1_732_178_884_990 * MS,
            }
        );
        assert_eq!((fills[1].size, fills[1].fee, fills[1].is_maker), (d("0.3"), Some(d("0.009")), Some(true)));
        assert_eq!(out.market_ids()[fills[1].symbol], "BTCUSDT");

        let mut out = Out::default();
        v.parse_account(AccountList::Orders, ORDERS.as_bytes(), &mut out).unwrap();
        let [Item::Order(o)] = &out.items[..] else { panic!() };
        assert_eq!(
            **o,
            OrderItem {
                symbol: o.symbol,
                order_id: "11111".into(),
                client_order_id: Some("22222".into()),
                side: Side::Buy,
                order_type: order_type::LIMIT,
                time_in_force: Some(time_in_force::GTC),
                status: OrderStatus::PartiallyFilled,
                price: Some(d("60000")),
                trigger_price: None,
                size: d("1"),
                filled_size: d("0.5"),
                average_price: None,
                reduce_only: Some(false),
                created_ts: Some(1_659_076_670_000 * MS),
                exchange_ts: 1_659_086_670_000 * MS,
            }
        );
        let mut out = Out::default();
        let err = v
            .parse_account(AccountList::Fills, br#"{"code":10007,"msg":"Sign signature error","data":null}"#, &mut out)
            .unwrap_err();
        assert!(err.to_string().contains("10007"), "{err}");
        assert!(v.parse_account(AccountList::Fills, br#"{"code":0,"data":{"total":0}}"#, &mut out).is_err());
        v.parse_account(AccountList::Fills, br#"{"code":0,"data":{"tradeList":[],"total":0}}"#, &mut out).unwrap();
        assert!(out.items.is_empty());
    }

    #[test]
    fn private_frames_name_the_bad_field() {
        for (from, to, field) in [
            ("\"PART_FILLED\"", "\"DONE\"", "data.orderStatus"),
            ("\"BUY\"", "\"UP\"", "data.side"),
            ("\"qty\":\"0.5\"", "\"qty\":\"x\"", "data.qty"),
            ("\"orderId\":\"11111\",", "", "data.orderId"),
            ("\"2024-11-21T08:48:04.990Z\"", "\"yesterday\"", "data.mtime"),
            ("\"event\":\"UPDATE\"", "\"event\":\"MOVE\"", "data.event"),
        ] {
            let frame = line(1).replace(from, to);
            match parse(&frame) {
                Err(Error::Frame { field: f, .. }) => assert_eq!(f, field, "{frame}"),
                other => panic!("{frame}: {other:?}"),
            }
        }
        assert!(parse(r#"{"ch":"tpsl","ts":1,"data":{}}"#).is_err());
        // Market data is not mistaken for a private push.
        assert!(private_kind(br#"{"ch":"depth_book1","symbol":"X","ts":1,"data":{}}"#).is_none());
        assert_eq!(private_kind(br#"{"ch":"order","ts":1}"#), Some(Private::Order));
        assert_eq!(private_kind(br#"{"ts":1, "ch" : "balance"}"#), Some(Private::Balance));
        assert_eq!(private_kind(br#"{"op": "login","data":{}}"#), Some(Private::Login));
        assert!(private_kind(br#"{"op":"ping","ping":1}"#).is_none());
        // A private subscribe echo is a reply: an ack with the channel as its topic.
        let out = parse(r#"{"op":"subscribe","args":[{"ch":"order"},{"ch":"balance"}]}"#).unwrap();
        let topics: Vec<_> = out
            .items
            .iter()
            .map(|i| match i {
                Item::Control(c) if c.kind == ControlKind::Ack => c.topic.clone().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(topics, ["order", "balance"]);
    }
}
