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
        Self::push(frame, out)
    }

    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
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
