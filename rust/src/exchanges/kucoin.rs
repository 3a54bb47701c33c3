//! KuCoin spot public market data (the "classic" WebSocket feed).
//!
//! Follows KuCoin's spot API docs ("Websocket Feed", "Level-2 Market Data", "Public Channels"),
//! summarised in shared/docs/exchanges/kucoin.md:
//!
//! - the connect URL and token come from `POST /api/v1/bullet-public` (Python side); the server
//!   greets with `{"id":"<connectId>","type":"welcome"}`, acknowledges requests sent with
//!   `"response":true` by `{"id":"<id>","type":"ack"}`, answers `{"type":"ping"}` with
//!   `{"id":..,"type":"pong"}` and a bad request with `{"id":..,"type":"error","code":..,
//!   "data":"<message>"}`;
//! - every push is `{"type":"message","topic":"<channel>:<symbol>","subject":..,"data":{..}}`
//!   (keys in any order: the 2021 servers wrote them alphabetically, `data` first);
//! - `/market/level2:<SYM>` (`trade.l2update`): `{"sequenceStart","sequenceEnd","symbol",
//!   "changes":{"asks":[["price","size","sequence"]],"bids":[..]},"time"?}`; sizes are absolute,
//!   `"0"` deletes, and a row with price `"0"` only advances the sequence;
//! - `/market/ticker:<SYM>` and `/market/ticker:all` (`trade.ticker`; for `all` the subject is
//!   the symbol): best bid/ask with the book `sequence` they are valid at, `time` ms;
//! - `/market/match:<SYM>` (`trade.l3match`): one trade, `side` the taker's, `tradeId` a hex
//!   string, `time` ns (a string);
//! - `/market/candles:<SYM>_<type>` (`trade.candles.add` / `.update`): `candles` =
//!   `[start s, open, close, high, low, volume, turnover]`, `time` ns. KuCoin's types (`1min`,
//!   `1hour`, `1day`, ...) are named as ccxt timeframes (`1m`, `1h`, `1d`).
//!
//! Other documented spot topics (level1, level2Depth5/50, snapshots, index/mark prices) are
//! valid frames that yield nothing; `/contractMarket/...` topics belong to the futures feed and
//! are `Frame` errors naming `topic`, as is anything else undocumented.
//!
//! Book sync (the docs' "calibration procedure"): buffer the level2 deltas, fetch the REST
//! snapshot (`sequence` S), drop what it contains, then each message must satisfy
//! `sequenceStart <= book + 1` and `sequenceEnd > book` ([`Venue::check`]); a row applies only
//! if its own sequence is above the book's. The per-row rule is met without the decoder
//! knowing it: a message whose rows carry different sequences is split into one item per row
//! sequence, in sequence order, each covering `(previous row's sequence, its own]` (the last
//! one up to `sequenceEnd`), so the generic check drops exactly the rows the snapshot already
//! holds. A message whose rows all sit at `sequenceEnd` (every recorded one) is one item.
//! No checksum exists. Recovery: a new REST snapshot.
//!
//! Symbols: `BTC-USDT` <-> `BTC/USDT` (no currency renames without an instrument list;
//! instruments passed to the factory win both ways).

use std::collections::HashMap;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::error::Error;
use crate::event::{RequestId, Side};
use crate::fixed::Dec;
use crate::json::{ms_to_ns, nesting_error, required, Cursor};

/// The next key of the object at the cursor, like [`Cursor::next_key`], but first tried as each
/// of the literal `keys` with [`Cursor::at_key`]: a few integer compares instead of a scan when
/// the frame is written the way KuCoin writes it (`,"key":`). Either way the same key comes back
/// to the same `match`, so any layout decodes the same (`layouts_decode_alike`).
macro_rules! next_key {
    ($c:expr, $first:expr, $($key:literal),+) => {{
        let c: &mut Cursor<'_> = $c;
        let first: &mut bool = $first;
        $(if c.at_key($key, first) { Some(&$key[..]) } else)+ { c.next_key(first)? }
    }};
}

/// The KuCoin factory: spot only.
pub struct Factory;

/// The registered KuCoin factory.
pub static FACTORY: Factory = Factory;

const MARKETS: &[&str] = &["spot"];

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "kucoin"
    }

    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        if market != "spot" {
            return Err(Error::invalid("market", market, "kucoin has market spot (futures are another feed)"));
        }
        Ok(Box::new(Kucoin::new(instruments)))
    }
}

/// One level2 change row: which side, the level, its own sequence.
#[derive(Debug, Clone, Copy)]
struct Row {
    seq: u64,
    /// Position in the message, so an unstable sort keeps the order of one sequence's rows.
    n: u32,
    bid: bool,
    /// Price 0: the row only advances the sequence.
    level: RawLevel,
}

/// KuCoin spot.
#[derive(Debug, Default)]
pub struct Kucoin {
    to_symbol: HashMap<String, String>,
    to_market_id: HashMap<String, String>,
    /// The rows of the level2 message being parsed (reused: no allocation once warm).
    rows: Vec<Row>,
}

/// What a topic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel<'a> {
    Level2(&'a str),
    /// `None`: `/market/ticker:all` (the subject names the symbol).
    Ticker(Option<&'a str>),
    Match(&'a str),
    Candles(&'a str, Interval),
    /// Documented spot topic that tickwire does not decode.
    Ignored,
}

/// Every field a push's `data` may carry, whatever its channel (read in one pass, before or
/// after the topic: KuCoin's 2021 servers put `data` first).
#[derive(Debug, Default)]
struct Data<'a> {
    symbol: Option<&'a str>,
    seq_start: Option<u64>,
    seq_end: Option<u64>,
    changes: bool,
    /// `time`, as the digits were sent (ms for level2/ticker, ns for match/candles).
    time: Option<u64>,
    sequence: Option<u64>,
    price: Option<Dec>,
    size: Option<Dec>,
    best_bid: Option<Dec>,
    best_bid_size: Option<Dec>,
    best_ask: Option<Dec>,
    best_ask_size: Option<Dec>,
    side: Option<Side>,
    trade_id: Option<&'a str>,
    kind: Option<&'a str>,
    /// start (s), open, close, high, low, volume.
    candle: Option<(u64, [Dec; 5])>,
    /// `data` was a string (an error reply's message).
    text: Option<&'a str>,
    seen: bool,
}

/// The envelope of one frame.
#[derive(Debug, Default)]
struct Envelope<'a> {
    kind: Option<&'a str>,
    topic: Option<&'a str>,
    subject: Option<&'a str>,
    id: Option<RequestId>,
    code: Option<i64>,
    data: Data<'a>,
}

/// A non-negative integer sent as a JSON string of digits ("1613277183873").
fn u64_text(s: &str, field: &'static str) -> Result<u64, Error> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(Error::frame(field, format!("{s:?} is not a non-negative integer")));
    }
    s.parse::<u64>().map_err(|_| Error::frame(field, format!("{s:?} is out of range")))
}

/// A non-negative integer sent either bare or as a string of digits (bare tried first).
#[inline]
fn u64_any(c: &mut Cursor<'_>, field: &'static str) -> Result<u64, Error> {
    match c.u64(field) {
        Ok(v) => Ok(v),
        Err(e) => match c.str(field) {
            Ok(s) => u64_text(s, field),
            Err(_) => Err(e),
        },
    }
}

/// A string of digits (`"1613277183873"`), as the exact decimal parser reads it (no error
/// built on the usual path); a bare number is accepted too (tried second).
#[inline]
fn u64_quoted(c: &mut Cursor<'_>, field: &'static str) -> Result<u64, Error> {
    match c.dec(field) {
        Ok(d) if d.width == 0 && d.mantissa >= 0 => Ok(d.mantissa.unsigned_abs()),
        Ok(d) => Err(Error::frame(field, format!("{d} is not a non-negative integer"))),
        Err(e) => c.u64(field).map_err(|_| e),
    }
}

/// A decimal string that must not be negative.
#[inline]
fn non_negative(c: &mut Cursor<'_>, field: &'static str) -> Result<Dec, Error> {
    let d = c.dec(field)?;
    if d.mantissa < 0 {
        return Err(Error::frame(field, format!("{d} is negative")));
    }
    Ok(d)
}

/// A ticker's best price or size: a non-negative decimal string, or `null` (an empty side).
#[inline]
fn best(c: &mut Cursor<'_>, field: &'static str) -> Result<Dec, Error> {
    if c.null() {
        return Ok(Dec::ZERO);
    }
    non_negative(c, field)
}

/// `[["price","size","sequence"],...]` rows of one side into `rows`.
fn rows(c: &mut Cursor<'_>, rows: &mut Vec<Row>, bid: bool, field: &'static str) -> Result<(), Error> {
    if !c.begin_array(field)? {
        return Ok(());
    }
    loop {
        c.expect_array(field)?;
        let price = non_negative(c, field)?;
        c.comma(field)?;
        let size = non_negative(c, field)?;
        c.comma(field)?;
        let seq = match c.dec(field)? {
            d if d.width == 0 && d.mantissa >= 0 => d.mantissa.unsigned_abs(),
            d => return Err(Error::frame(field, format!("sequence {d} is not a non-negative integer"))),
        };
        if c.more_elements(field)? {
            return Err(Error::frame(field, "a change row is [price, size, sequence]"));
        }
        #[allow(clippy::cast_possible_truncation)] // a frame holds far fewer than 2^32 rows
        let n = rows.len() as u32;
        rows.push(Row { seq, n, bid, level: RawLevel { price, size } });
        if !c.more_elements(field)? {
            return Ok(());
        }
    }
}

/// Array helpers built on the cursor's public primitives.
trait ArrayExt {
    fn expect_array(&mut self, field: &'static str) -> Result<(), Error>;
    fn comma(&mut self, field: &'static str) -> Result<(), Error>;
}

impl ArrayExt for Cursor<'_> {
    /// Enter a non-empty array.
    #[inline]
    fn expect_array(&mut self, field: &'static str) -> Result<(), Error> {
        if self.begin_array(field)? {
            Ok(())
        } else {
            Err(Error::frame(field, "empty array"))
        }
    }

    /// Another element must follow.
    #[inline]
    fn comma(&mut self, field: &'static str) -> Result<(), Error> {
        if self.more_elements(field)? {
            Ok(())
        } else {
            Err(Error::frame(field, "too few elements"))
        }
    }
}

/// `changes`: `{"asks":[rows],"bids":[rows]}`.
fn changes(c: &mut Cursor<'_>, out: &mut Vec<Row>) -> Result<(), Error> {
    c.begin_object()?;
    let mut first = true;
    let (mut asks, mut bids) = (false, false);
    while let Some(key) = next_key!(c, &mut first, b"asks", b"bids") {
        match key {
            b"asks" if !asks => {
                rows(c, out, false, "changes.asks")?;
                asks = true;
            }
            b"bids" if !bids => {
                rows(c, out, true, "changes.bids")?;
                bids = true;
            }
            _ => c.skip_value("changes")?,
        }
    }
    if !asks || !bids {
        return Err(Error::frame(if asks { "changes.bids" } else { "changes.asks" }, "missing field"));
    }
    Ok(())
}

/// `candles`: `["start s","open","close","high","low","volume","turnover"]`.
fn candle(c: &mut Cursor<'_>) -> Result<(u64, [Dec; 5]), Error> {
    const F: &str = "data.candles";
    c.expect_array(F)?;
    let start = u64_text(c.str(F)?, F)?;
    let mut v = [Dec::ZERO; 5];
    for d in &mut v {
        c.comma(F)?;
        *d = non_negative(c, F)?;
    }
    c.comma(F)?;
    non_negative(c, F)?; // turnover (quote volume)
    if c.more_elements(F)? {
        return Err(Error::frame(F, "expected 7 elements"));
    }
    Ok((start, v))
}

/// The request id KuCoin echoes: a string (the adapter's decimal numbers come back as
/// [`RequestId::Int`], so they match the id it sent) or a number.
fn request_id(c: &mut Cursor<'_>) -> Result<RequestId, Error> {
    if let Ok(n) = c.u64("id") {
        return i64::try_from(n).map(RequestId::Int).map_err(|_| Error::frame("id", "out of range"));
    }
    let s = c.str("id")?;
    Ok(match s.parse::<i64>().ok().filter(|n| *n >= 0 && n.to_string() == s) {
        Some(n) => RequestId::Int(n),
        None => RequestId::Str(s.to_owned()),
    })
}

/// An error `code`: a number or a string of digits.
fn code(c: &mut Cursor<'_>) -> Result<i64, Error> {
    let n = u64_any(c, "code")?;
    i64::try_from(n).map_err(|_| Error::frame("code", "out of range"))
}

/// KuCoin's candle type as a ccxt timeframe, with its length in seconds.
fn interval(kind: &str) -> Option<(&'static str, i64)> {
    Some(match kind {
        "1min" => ("1m", 60),
        "3min" => ("3m", 180),
        "5min" => ("5m", 300),
        "15min" => ("15m", 900),
        "30min" => ("30m", 1800),
        "1hour" => ("1h", 3600),
        "2hour" => ("2h", 7200),
        "4hour" => ("4h", 14_400),
        "6hour" => ("6h", 21_600),
        "8hour" => ("8h", 28_800),
        "12hour" => ("12h", 43_200),
        "1day" => ("1d", 86_400),
        "1week" => ("1w", 604_800),
        _ => return None,
    })
}

/// Seconds of a ccxt timeframe this module names.
fn interval_seconds(name: &str) -> i64 {
    ["1min", "3min", "5min", "15min", "30min", "1hour", "2hour", "4hour", "6hour", "8hour", "12hour", "1day", "1week"]
        .iter()
        .filter_map(|k| interval(k))
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, s)| s)
}

/// A market id as KuCoin writes one: `BASE-QUOTE`, upper-case letters and digits.
/// (One pass over the bytes: `split_once` goes through the generic char searcher.)
#[inline]
fn market_id_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut dash = None;
    for (i, &c) in b.iter().enumerate() {
        if c == b'-' {
            if dash.is_some() {
                return false;
            }
            dash = Some(i);
        } else if !(c.is_ascii_uppercase() || c.is_ascii_digit()) {
            return false;
        }
    }
    matches!(dash, Some(i) if i > 0 && i + 1 < b.len())
}

/// The channel a topic names; `Frame` error naming `topic` for anything undocumented.
fn channel(topic: &str) -> Result<Channel<'_>, Error> {
    let bad = |why: &str| Error::frame("topic", format!("{topic:?}: {why}"));
    // A byte search: `split_once(':')` goes through the generic char searcher.
    let colon = topic.bytes().position(|b| b == b':').ok_or_else(|| bad("expected <channel>:<symbol>"))?;
    let (name, args) = (&topic[..colon], &topic[colon + 1..]);
    let one = |s: &'_ str| -> Result<(), Error> {
        if market_id_ok(s) {
            Ok(())
        } else {
            Err(bad("expected one BASE-QUOTE symbol"))
        }
    };
    match name {
        "/market/level2" => one(args).map(|()| Channel::Level2(args)),
        "/market/ticker" if args == "all" => Ok(Channel::Ticker(None)),
        "/market/ticker" => one(args).map(|()| Channel::Ticker(Some(args))),
        "/market/match" => one(args).map(|()| Channel::Match(args)),
        "/market/candles" => {
            let (sym, kind) = args.rsplit_once('_').ok_or_else(|| bad("expected <symbol>_<type>"))?;
            one(sym)?;
            let (name, _) = interval(kind).ok_or_else(|| bad("undocumented candle type"))?;
            Ok(Channel::Candles(sym, Interval::new(name, "topic")?))
        }
        "/market/snapshot"
        | "/market/level3"
        | "/spotMarket/level1"
        | "/spotMarket/level2Depth5"
        | "/spotMarket/level2Depth50"
        | "/indicator/index"
        | "/indicator/markPrice"
        | "/margin/fundingBook" => Ok(Channel::Ignored),
        n if n.starts_with("/contract") => Err(bad("a KuCoin futures topic, not spot")),
        _ => Err(bad("not a KuCoin spot public topic")),
    }
}

/// `data.symbol`, where sent, must be the topic's.
fn same_symbol(data: Option<&str>, topic: &str) -> Result<(), Error> {
    match data {
        Some(s) if s != topic => {
            Err(Error::frame("data.symbol", format!("symbol {s:?} differs from the topic's {topic:?}")))
        }
        _ => Ok(()),
    }
}

/// The subject a channel's pushes carry.
fn check_subject(subject: Option<&str>, want: &[&str]) -> Result<(), Error> {
    let s = required(subject, "subject")?;
    if want.contains(&s) {
        Ok(())
    } else {
        Err(Error::frame("subject", format!("expected {}, found {s:?}", want.join(" or "))))
    }
}

/// A side named `buy`/`sell`.
fn side(s: &str) -> Result<Side, Error> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(Error::frame("data.side", format!("expected \"buy\" or \"sell\", found {other:?}"))),
    }
}

impl Kucoin {
    /// A parser with the instruments known (may be empty).
    pub fn new(instruments: &[Instrument]) -> Self {
        Self {
            to_symbol: instruments.iter().map(|i| (i.market_id.clone(), i.symbol.clone())).collect(),
            to_market_id: instruments.iter().map(|i| (i.symbol.clone(), i.market_id.clone())).collect(),
            rows: Vec::new(),
        }
    }

    /// Read `data` (object or, for error replies, string).
    fn data<'a>(&mut self, c: &mut Cursor<'a>, d: &mut Data<'a>) -> Result<(), Error> {
        d.seen = true;
        if c.begin_object().is_err() {
            if c.null() {
                return Ok(());
            }
            d.text = Some(c.str("data")?);
            return Ok(());
        }
        self.rows.clear();
        let mut first = true;
        // The plain scan: the keys of every channel share this loop, and a chain of literals
        // costs more per ticker key than the scan does (callgrind).
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"changes" => {
                    changes(c, &mut self.rows)?;
                    d.changes = true;
                }
                b"sequenceStart" => d.seq_start = Some(u64_any(c, "data.sequenceStart")?),
                b"sequenceEnd" => d.seq_end = Some(u64_any(c, "data.sequenceEnd")?),
                b"symbol" => d.symbol = Some(c.str("data.symbol")?),
                b"time" => d.time = Some(u64_any(c, "data.time")?),
                b"sequence" => d.sequence = Some(u64_quoted(c, "data.sequence")?),
                b"price" => d.price = Some(non_negative(c, "data.price")?),
                b"size" => d.size = Some(non_negative(c, "data.size")?),
                b"bestBid" => d.best_bid = Some(best(c, "data.bestBid")?),
                b"bestBidSize" => d.best_bid_size = Some(best(c, "data.bestBidSize")?),
                b"bestAsk" => d.best_ask = Some(best(c, "data.bestAsk")?),
                b"bestAskSize" => d.best_ask_size = Some(best(c, "data.bestAskSize")?),
                b"side" => d.side = Some(side(c.str("data.side")?)?),
                b"tradeId" => d.trade_id = Some(c.str("data.tradeId")?),
                b"type" => d.kind = Some(c.str("data.type")?),
                b"candles" => d.candle = Some(candle(c)?),
                _ => c.skip_value("data")?,
            }
        }
        Ok(())
    }

    /// One frame into its envelope (any key order).
    fn envelope<'a>(&mut self, frame: &'a [u8]) -> Result<Envelope<'a>, Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let mut e = Envelope::default();
        let mut first = true;
        while let Some(key) = next_key!(&mut c, &mut first, b"data", b"subject", b"topic", b"type") {
            match key {
                b"data" if !e.data.seen => self.data(&mut c, &mut e.data)?,
                b"type" => e.kind = Some(c.str("type")?),
                b"topic" => e.topic = Some(c.str("topic")?),
                b"subject" => e.subject = Some(c.str("subject")?),
                b"id" => e.id = Some(request_id(&mut c)?),
                b"code" => e.code = Some(code(&mut c)?),
                _ => c.skip_value("json")?, // sn, userId, channelType, tunnelId, privateChannel
            }
        }
        c.end()?;
        Ok(e)
    }

    /// A level2 push in the layout KuCoin's servers write (top-level keys alphabetical, `data`
    /// as `sequenceStart, symbol, changes, sequenceEnd[, time]`), read with literal keys and no
    /// envelope bookkeeping. None: another layout, or anything wrong (nothing was pushed to
    /// `out`): the generic path reads the frame again and names the fault.
    fn level2_fast(&mut self, frame: &[u8], out: &mut Out) -> Option<()> {
        let mut c = Cursor::new(frame);
        c.begin_object().ok()?;
        let (mut top, mut d) = (true, true);
        if !(c.at_key(b"data", &mut top) && c.begin_object().is_ok() && c.at_key(b"sequenceStart", &mut d)) {
            return None;
        }
        let start = c.u64("data.sequenceStart").ok()?;
        if !c.at_key(b"symbol", &mut d) {
            return None;
        }
        let sym = c.str("data.symbol").ok()?;
        if !c.at_key(b"changes", &mut d) {
            return None;
        }
        self.rows.clear();
        changes(&mut c, &mut self.rows).ok()?;
        if !c.at_key(b"sequenceEnd", &mut d) {
            return None;
        }
        let end = c.u64("data.sequenceEnd").ok()?;
        let time = if c.at_key(b"time", &mut d) { Some(c.u64("data.time").ok()?) } else { None };
        if c.next_key(&mut d).ok()?.is_some() || !c.at_key(b"subject", &mut top) {
            return None;
        }
        if c.str("subject").ok()? != "trade.l2update" || !c.at_key(b"topic", &mut top) {
            return None;
        }
        let topic = c.str("topic").ok()?;
        if topic.strip_prefix("/market/level2:")? != sym || !c.at_key(b"type", &mut top) {
            return None;
        }
        if c.str("type").ok()? != "message" || !c.at_end() || end < start {
            return None;
        }
        let ts = match time {
            Some(t) => Some(ms_to_ns(t, "data.time").ok()?),
            None => None,
        };
        // A market id already in the table was checked when it came (or registered).
        let known = out.market_ids().len();
        let symbol = out.symbol(sym);
        if symbol >= known && !market_id_ok(sym) {
            return None;
        }
        self.level2(symbol, start, end, ts, out).ok()
    }

    /// A ticker push in the layout KuCoin's servers write (`data` as `sequence, bestAsk, size,
    /// bestBidSize, price, time, bestAskSize, bestBid`), like [`Self::level2_fast`]. None:
    /// another layout or a fault (nothing was pushed): the generic path reads it.
    fn ticker_fast(frame: &[u8], out: &mut Out) -> Option<()> {
        let mut c = Cursor::new(frame);
        c.begin_object().ok()?;
        let (mut top, mut d) = (true, true);
        if !(c.at_key(b"data", &mut top) && c.begin_object().is_ok() && c.at_key(b"sequence", &mut d)) {
            return None;
        }
        let sequence = u64_quoted(&mut c, "data.sequence").ok()?;
        let dec = |c: &mut Cursor<'_>| non_negative(c, "data").ok();
        if !c.at_key(b"bestAsk", &mut d) {
            return None;
        }
        let ask_price = dec(&mut c)?;
        if !c.at_key(b"size", &mut d) {
            return None;
        }
        dec(&mut c)?;
        if !c.at_key(b"bestBidSize", &mut d) {
            return None;
        }
        let bid_size = dec(&mut c)?;
        if !c.at_key(b"price", &mut d) {
            return None;
        }
        dec(&mut c)?;
        if !c.at_key(b"time", &mut d) {
            return None;
        }
        let time = c.u64("data.time").ok()?;
        if !c.at_key(b"bestAskSize", &mut d) {
            return None;
        }
        let ask_size = dec(&mut c)?;
        if !c.at_key(b"bestBid", &mut d) {
            return None;
        }
        let bid_price = dec(&mut c)?;
        if c.next_key(&mut d).ok()?.is_some() || !c.at_key(b"subject", &mut top) {
            return None;
        }
        if c.str("subject").ok()? != "trade.ticker" || !c.at_key(b"topic", &mut top) {
            return None;
        }
        let sym = c.str("topic").ok()?.strip_prefix("/market/ticker:")?;
        if sym == "all" || !c.at_key(b"type", &mut top) || c.str("type").ok()? != "message" || !c.at_end() {
            return None;
        }
        let bbo = BboItem {
            bid: RawLevel { price: bid_price, size: bid_size },
            ask: RawLevel { price: ask_price, size: ask_size },
            sequence: Some(sequence),
            exchange_ts: Some(ms_to_ns(time, "data.time").ok()?),
        };
        let known = out.market_ids().len();
        let symbol = out.symbol(sym);
        if symbol >= known && !market_id_ok(sym) {
            return None;
        }
        out.items.push(Item::Bbo { symbol, bbo });
        Some(())
    }

    fn parse_frame(&mut self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        if self.level2_fast(frame, out).is_some() || Self::ticker_fast(frame, out).is_some() {
            return Ok(());
        }
        let e = self.envelope(frame)?;
        let kind = required(e.kind, "type")?;
        let control = |kind: ControlKind, code: Option<i64>, message: Option<String>| {
            Item::Control(ControlItem { kind, request_id: e.id.clone(), topic: None, code, message })
        };
        match kind {
            "message" => {}
            "welcome" => {
                out.items.push(control(ControlKind::Welcome, None, None));
                return Ok(());
            }
            "ack" => {
                out.items.push(control(ControlKind::Ack, None, None));
                return Ok(());
            }
            "pong" => {
                out.items.push(control(ControlKind::Pong, None, None));
                return Ok(());
            }
            "error" => {
                let message = e.data.text.map(str::to_owned);
                out.items.push(control(ControlKind::Error, e.code, message));
                return Ok(());
            }
            other => return Err(Error::frame("type", format!("undocumented message type {other:?}"))),
        }
        let topic = required(e.topic, "topic")?;
        let channel = channel(topic)?;
        if !e.data.seen {
            return Err(Error::frame("data", "missing field"));
        }
        let d = &e.data;
        match channel {
            Channel::Ignored => Ok(()),
            Channel::Level2(sym) => {
                check_subject(e.subject, &["trade.l2update"])?;
                same_symbol(d.symbol, sym)?;
                if !d.changes {
                    return Err(Error::frame("data.changes", "missing field"));
                }
                let start = required(d.seq_start, "data.sequenceStart")?;
                let end = required(d.seq_end, "data.sequenceEnd")?;
                if end < start {
                    return Err(Error::frame("data.sequenceEnd", format!("{end} is below sequenceStart {start}")));
                }
                let ts = d.time.map(|t| ms_to_ns(t, "data.time")).transpose()?;
                let symbol = out.symbol(sym);
                self.level2(symbol, start, end, ts, out)
            }
            Channel::Ticker(sym) => ticker(sym, e.subject, d, out),
            Channel::Match(sym) => trade(sym, e.subject, d, out),
            Channel::Candles(sym, iv) => candle_item(sym, iv, e.subject, d, out),
        }
    }

    /// The book items of one level2 message (see the module docs for the per-row rule).
    fn level2(&mut self, symbol: usize, start: u64, end: u64, ts: Option<i64>, out: &mut Out) -> Result<(), Error> {
        let rows = &mut self.rows;
        for (n, r) in rows.iter().enumerate() {
            if r.seq < start || r.seq > end {
                let side = if r.bid { "changes.bids" } else { "changes.asks" };
                return Err(Error::frame(
                    side,
                    format!("row {n}: sequence {} outside sequenceStart..=sequenceEnd {start}..={end}", r.seq),
                ));
            }
        }
        // Rows that change a level; price "0" rows only advance the sequence (covered by the
        // items' ranges).
        let real = |r: &Row| r.level.price.mantissa != 0;
        if rows.iter().filter(|r| real(r)).all(|r| r.seq == end) {
            let from = (out.bids.len(), out.asks.len());
            for r in rows.iter().filter(|r| real(r)) {
                if r.bid {
                    out.bids.push(r.level);
                } else {
                    out.asks.push(r.level);
                }
            }
            let ids = SeqIds { first: start, last: end, prev: None };
            out.book(symbol, BookKind::Delta, Some(ids), None, None, ts, from);
            return Ok(());
        }
        rows.retain(real);
        rows.sort_unstable_by_key(|r| (r.seq, r.n)); // no allocation; one sequence's rows keep their order
        let mut next = start;
        let mut i = 0;
        while i < rows.len() {
            let seq = rows[i].seq;
            let from = (out.bids.len(), out.asks.len());
            while i < rows.len() && rows[i].seq == seq {
                if rows[i].bid {
                    out.bids.push(rows[i].level);
                } else {
                    out.asks.push(rows[i].level);
                }
                i += 1;
            }
            let ids = SeqIds { first: next, last: seq, prev: None };
            out.book(symbol, BookKind::Delta, Some(ids), None, None, ts, from);
            next = seq + 1;
        }
        if next <= end {
            let from = (out.bids.len(), out.asks.len());
            out.book(
                symbol,
                BookKind::Delta,
                Some(SeqIds { first: next, last: end, prev: None }),
                None,
                None,
                ts,
                from,
            );
        }
        Ok(())
    }

    /// A REST level2 snapshot: `{"code":"200000","data":{"sequence","time","bids","asks"}}`.
    fn snapshot(body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        out.bids.clear();
        out.asks.clear();
        let mut c = Cursor::new(body);
        c.begin_object()?;
        let mut first = true;
        let (mut code, mut msg, mut seen) = (None, None, None);
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"code" => code = Some(c.str("code")?),
                b"msg" => msg = Some(c.str("msg")?),
                b"data" if seen.is_none() => seen = Some(snapshot_data(&mut c, out)?),
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        match code {
            Some("200000") => {}
            Some(other) => {
                return Err(Error::frame("code", format!("KuCoin error {other}: {}", msg.unwrap_or("(no message)"))))
            }
            None => return Err(Error::frame("code", "missing field")),
        }
        required(seen, "data")
    }
}

/// `/market/ticker` data as a BBO at the book `sequence` it states.
fn ticker(sym: Option<&str>, subject: Option<&str>, d: &Data<'_>, out: &mut Out) -> Result<(), Error> {
    let sym = if let Some(s) = sym {
        check_subject(subject, &["trade.ticker"])?;
        s
    } else {
        let s = required(subject, "subject")?;
        if !market_id_ok(s) {
            return Err(Error::frame("subject", format!("{s:?} is not a BASE-QUOTE symbol")));
        }
        s
    };
    same_symbol(d.symbol, sym)?;
    let bbo = BboItem {
        bid: RawLevel {
            price: required(d.best_bid, "data.bestBid")?,
            size: required(d.best_bid_size, "data.bestBidSize")?,
        },
        ask: RawLevel {
            price: required(d.best_ask, "data.bestAsk")?,
            size: required(d.best_ask_size, "data.bestAskSize")?,
        },
        sequence: Some(required(d.sequence, "data.sequence")?),
        exchange_ts: d.time.map(|t| ms_to_ns(t, "data.time")).transpose()?,
    };
    let symbol = out.symbol(sym);
    out.items.push(Item::Bbo { symbol, bbo });
    Ok(())
}

/// `/market/match` data: one trade.
fn trade(sym: &str, subject: Option<&str>, d: &Data<'_>, out: &mut Out) -> Result<(), Error> {
    check_subject(subject, &["trade.l3match"])?;
    same_symbol(d.symbol, sym)?;
    if let Some(k) = d.kind.filter(|k| *k != "match") {
        return Err(Error::frame("data.type", format!("expected \"match\", found {k:?}")));
    }
    let price = required(d.price, "data.price")?;
    if price.mantissa == 0 {
        return Err(Error::frame("data.price", "a trade price must be above 0"));
    }
    let ts = ns(required(d.time, "data.time")?, "data.time")?;
    let trade = TradeItem {
        price,
        size: required(d.size, "data.size")?,
        side: required(d.side, "data.side")?,
        trade_id: TradeId::text(required(d.trade_id, "data.tradeId")?, "data.tradeId")?,
        trade_ts: ts,
        exchange_ts: ts,
    };
    let symbol = out.symbol(sym);
    out.items.push(Item::Trade { symbol, trade });
    Ok(())
}

/// `/market/candles` data: one candle.
fn candle_item(sym: &str, iv: Interval, subject: Option<&str>, d: &Data<'_>, out: &mut Out) -> Result<(), Error> {
    check_subject(subject, &["trade.candles.add", "trade.candles.update"])?;
    same_symbol(d.symbol, sym)?;
    let (start, [open, close, high, low, volume]) = required(d.candle, "data.candles")?;
    let secs = interval_seconds(iv.as_str());
    let start_ts = i64::try_from(start)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .ok_or_else(|| Error::frame("data.candles", "start time out of range"))?;
    let candle = CandleItem {
        interval: iv,
        start_ts,
        end_ts: start_ts + secs * 1_000_000_000 - 1,
        open,
        high,
        low,
        close,
        volume,
        trades: None,
        closed: None,
        exchange_ts: d.time.map(|t| ns(t, "data.time")).transpose()?,
    };
    let symbol = out.symbol(sym);
    out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
    Ok(())
}

/// Digits of a ns timestamp as an `i64`.
fn ns(t: u64, field: &'static str) -> Result<i64, Error> {
    i64::try_from(t).map_err(|_| Error::frame(field, "timestamp out of range"))
}

fn snapshot_data(c: &mut Cursor<'_>, out: &mut Out) -> Result<Snapshot, Error> {
    if c.null() {
        return Err(Error::frame("data", "null"));
    }
    c.begin_object()?;
    let mut first = true;
    let (mut sequence, mut time, mut bids, mut asks) = (None, None, false, false);
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"sequence" => sequence = Some(u64_any(c, "data.sequence")?),
            b"time" => time = Some(c.timestamp_ms("data.time")?),
            b"bids" if !bids => {
                c.dec_levels(&mut out.bids, "bids")?;
                bids = true;
            }
            b"asks" if !asks => {
                c.dec_levels(&mut out.asks, "asks")?;
                asks = true;
            }
            _ => c.skip_value("data")?,
        }
    }
    if !bids || !asks {
        return Err(Error::frame(if bids { "asks" } else { "bids" }, "missing field"));
    }
    Ok(Snapshot { sequence: required(sequence, "data.sequence")?, exchange_ts: time })
}

impl Venue for Kucoin {
    fn id(&self) -> &'static str {
        "kucoin"
    }

    fn market(&self) -> &'static str {
        "spot"
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "a binary frame: KuCoin's spot feed sends text"));
        }
        self.parse_frame(frame, out).map_err(|e| nesting_error(frame).unwrap_or(e))
    }

    fn recovery(&self) -> Recovery {
        Recovery::RestSnapshot
    }

    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        Self::snapshot(body, out).map_err(|e| nesting_error(body).unwrap_or(e))
    }

    /// The docs' rule, the same after a snapshot as later: a message whose `sequenceEnd` the
    /// book already holds is stale; one with `sequenceStart <= book + 1` applies; anything
    /// else is a gap.
    #[inline]
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        if ids.last <= last {
            Verdict::Stale
        } else if ids.first <= last.wrapping_add(1) {
            Verdict::Apply
        } else {
            Verdict::Gap { expected: last.wrapping_add(1), received: ids.first }
        }
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        if let Some(s) = self.to_symbol.get(market_id) {
            return s.clone();
        }
        match market_id.split_once('-') {
            Some((b, q)) if market_id_ok(market_id) => format!("{b}/{q}"),
            _ => market_id.to_owned(),
        }
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        if let Some(m) = self.to_market_id.get(symbol) {
            return Ok(m.clone());
        }
        let bad = |why: &str| Error::invalid("symbol", symbol, format!("{why} (kucoin spot)"));
        if symbol.contains(':') {
            return Err(bad("a derivative symbol (with ':') is not a spot market"));
        }
        let (base, quote) = symbol.split_once('/').ok_or_else(|| bad("expected BASE/QUOTE"))?;
        let id = format!("{base}-{quote}");
        if market_id_ok(&id) {
            Ok(id)
        } else {
            Err(bad("expected upper-case BASE/QUOTE"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str =
        include_str!("../../../tests/fixtures/kucoin/level2_ticker_match_candles_7sym_20210425.jsonl");

    fn line(needle: &str) -> &'static str {
        SESSION.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle}"))
    }

    fn parse(v: &mut Kucoin, frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        v.parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    /// The docs' worked example of the per-row rule: snapshot sequence 16; asks
    /// `[3988.59,3,16]` (ignored: = 16), `[3988.61,0,19]` (delete), `[3988.62,8,15]` (ignored),
    /// bid `[3988.50,44,18]` (update), in a message 15..=19. Split by row sequence, the
    /// generic check keeps exactly the rows the docs apply.
    #[test]
    fn per_row_sequences_split_the_message() {
        let frame = r#"{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{"sequenceStart":15,"symbol":"BTC-USDT","changes":{"asks":[["3988.59","3","16"],["3988.61","0","19"],["3988.62","8","15"]],"bids":[["3988.50","44","18"]]},"sequenceEnd":19}}"#;
        let mut v = Kucoin::new(&[]);
        let out = parse(&mut v, frame).unwrap();
        let mut applied = Vec::new();
        let mut book = 16;
        for item in &out.items {
            let Item::Book(b) = item else { panic!() };
            match v.check(book, &b.ids.unwrap(), true) {
                Verdict::Apply => {
                    for l in out.bids[b.bids.clone()].iter().chain(&out.asks[b.asks.clone()]) {
                        applied.push((l.price.to_string(), l.size.to_string()));
                    }
                    book = b.ids.unwrap().last;
                }
                Verdict::Stale => {}
                Verdict::Gap { .. } => panic!("gap"),
            }
        }
        assert_eq!(applied, [("3988.50".into(), "44".into()), ("3988.61".into(), "0".into())]);
        assert_eq!(book, 19);
        // Items cover 15..=19 without a hole.
        let ranges: Vec<(u64, u64)> = out
            .items
            .iter()
            .map(|i| match i {
                Item::Book(b) => (b.ids.unwrap().first, b.ids.unwrap().last),
                _ => panic!(),
            })
            .collect();
        assert_eq!(ranges, [(15, 15), (16, 16), (17, 18), (19, 19)]);
    }

    /// A price "0" row changes no level but its sequence is covered; rows outside
    /// sequenceStart..=sequenceEnd are malformed.
    #[test]
    fn price_zero_rows_and_row_ranges() {
        let mut v = Kucoin::new(&[]);
        let zero = line(r#""asks":[["0","0","#);
        let out = parse(&mut v, zero).unwrap();
        let Item::Book(b) = &out.items[0] else { panic!() };
        assert!(b.bids.is_empty() && b.asks.is_empty());
        let j: serde_json::Value = serde_json::from_str(zero).unwrap();
        assert_eq!(b.ids.unwrap().last, j["data"]["sequenceEnd"].as_u64().unwrap());
        // A single real row below sequenceEnd: the rest of the range is a second, empty item.
        let frame = r#"{"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update","data":{"sequenceStart":10,"symbol":"BTC-USDT","changes":{"asks":[["1","2","11"],["0","0","12"]],"bids":[]},"sequenceEnd":12}}"#;
        let out = parse(&mut v, frame).unwrap();
        let ids: Vec<_> = out
            .items
            .iter()
            .map(|i| {
                if let Item::Book(b) = i {
                    (b.ids.unwrap().first, b.ids.unwrap().last, b.asks.len())
                } else {
                    panic!()
                }
            })
            .collect();
        assert_eq!(ids, [(10, 11, 1), (12, 12, 0)]);
        let outside = frame.replace(r#""11"]"#, r#""13"]"#);
        let e = parse(&mut v, &outside).unwrap_err();
        assert!(matches!(&e, Error::Frame { field, .. } if field == "changes.asks"), "{e}");
    }

    #[test]
    fn sequence_rule() {
        let v = Kucoin::new(&[]);
        let ids = |first, last| SeqIds { first, last, prev: None };
        for bridging in [true, false] {
            assert_eq!(v.check(100, &ids(90, 100), bridging), Verdict::Stale);
            assert_eq!(v.check(100, &ids(101, 101), bridging), Verdict::Apply);
            assert_eq!(v.check(100, &ids(95, 105), bridging), Verdict::Apply);
            assert_eq!(v.check(100, &ids(102, 103), bridging), Verdict::Gap { expected: 101, received: 102 });
        }
        assert_eq!(v.recovery(), Recovery::RestSnapshot);
        assert!(v.checksum().is_none());
    }

    #[test]
    #[allow(clippy::many_single_char_names)] // v(enue), j(son), t/m/k frames
    fn ticker_trade_candle_controls() {
        let mut v = Kucoin::new(&[]);
        let t = line("trade.ticker");
        let j: serde_json::Value = serde_json::from_str(t).unwrap();
        let out = parse(&mut v, t).unwrap();
        let Item::Bbo { bbo, .. } = out.items[0] else { panic!() };
        assert_eq!(bbo.bid.price.to_string(), j["data"]["bestBid"].as_str().unwrap());
        assert_eq!(bbo.ask.size.to_string(), j["data"]["bestAskSize"].as_str().unwrap());
        assert_eq!(bbo.sequence.unwrap().to_string(), j["data"]["sequence"].as_str().unwrap());
        assert_eq!(bbo.exchange_ts, Some(j["data"]["time"].as_i64().unwrap() * 1_000_000));
        // /market/ticker:all names the symbol in the subject.
        let all = t.replace("/market/ticker:BCHSV-USDT", "/market/ticker:all").replace("trade.ticker", "BCHSV-USDT");
        let out = parse(&mut v, &all).unwrap();
        assert!(matches!(out.items[0], Item::Bbo { .. }));
        assert_eq!(out.market_ids()[0], "BCHSV-USDT");

        let m = line("trade.l3match");
        let j: serde_json::Value = serde_json::from_str(m).unwrap();
        let out = parse(&mut v, m).unwrap();
        let Item::Trade { trade, .. } = out.items[0] else { panic!() };
        assert_eq!(trade.trade_id.to_string(), j["data"]["tradeId"].as_str().unwrap());
        assert_eq!(trade.trade_ts.to_string(), j["data"]["time"].as_str().unwrap());
        assert_eq!(trade.side.as_str(), j["data"]["side"].as_str().unwrap());

        let k = line("trade.candles.update");
        let j: serde_json::Value = serde_json::from_str(k).unwrap();
        let out = parse(&mut v, k).unwrap();
        let Item::Candle { candle, .. } = &out.items[0] else { panic!() };
        let c = &j["data"]["candles"];
        assert_eq!(candle.interval.as_str(), "1m");
        assert_eq!(candle.start_ts, c[0].as_str().unwrap().parse::<i64>().unwrap() * 1_000_000_000);
        assert_eq!(candle.end_ts - candle.start_ts, 60_000_000_000 - 1);
        assert_eq!(
            [candle.open, candle.close, candle.high, candle.low, candle.volume].map(|d| d.to_string()),
            [1, 2, 3, 4, 5].map(|i| c[i].as_str().unwrap().to_owned())
        );
        assert_eq!(candle.exchange_ts, j["data"]["time"].as_i64());

        let welcome = line(r#""type":"welcome""#);
        let out = parse(&mut v, welcome).unwrap();
        assert!(
            matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Welcome && c.request_id == Some(RequestId::Str("NSkIrWGB1s".into())))
        );
        let ack = line(r#""type":"ack""#);
        let out = parse(&mut v, ack).unwrap();
        assert!(
            matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Ack && c.request_id == Some(RequestId::Int(1)))
        );
        let pong = ack.replace("ack", "pong");
        assert!(matches!(&parse(&mut v, &pong).unwrap().items[0], Item::Control(c) if c.kind == ControlKind::Pong));
        // The error shape the docs print, keys in either order.
        for err in [
            r#"{"id":"7","type":"error","code":404,"data":"topic /market/level2:NOPE-USDT is not found"}"#,
            r#"{"code":"404","data":"topic /market/level2:NOPE-USDT is not found","id":"7","type":"error"}"#,
        ] {
            let out = parse(&mut v, err).unwrap();
            assert!(
                matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Error && c.code == Some(404) && c.request_id == Some(RequestId::Int(7)) && c.message.as_deref() == Some("topic /market/level2:NOPE-USDT is not found")),
                "{:?}",
                out.items
            );
        }
    }

    /// The docs-tier examples (`tests/fixtures/kucoin/docs_tier`, third-party copies of KuCoin's
    /// doc examples: shapes only) of every public spot topic and reply parse; their level2
    /// message, whose ask rows are out of sequence order, becomes items in sequence order
    /// covering sequenceStart..=sequenceEnd.
    #[test]
    fn docs_tier_shapes_parse() {
        const DOCS: &str = concat!(
            include_str!("../../../tests/fixtures/kucoin/docs_tier/jkorf_spot_futures_examples.jsonl"),
            include_str!("../../../tests/fixtures/kucoin/docs_tier/gct_public_private_examples.jsonl"),
        );
        let mut v = Kucoin::new(&[]);
        let mut parsed = 0;
        for l in DOCS.lines() {
            let Ok(j) = serde_json::from_str::<serde_json::Value>(l) else { continue };
            let topic = j["topic"].as_str().unwrap_or("");
            let reply = matches!(j["type"].as_str(), Some("ack" | "pong" | "welcome" | "error"));
            if !(reply || topic.starts_with("/market/") || topic.starts_with("/spotMarket/level")) {
                continue;
            }
            let out = parse(&mut v, l).unwrap_or_else(|e| panic!("{e}: {l}"));
            parsed += 1;
            if j["subject"] == "trade.l2update" {
                let d = &j["data"];
                let ids: Vec<(u64, u64)> = out
                    .items
                    .iter()
                    .map(|i| match i {
                        Item::Book(b) => (b.ids.unwrap().first, b.ids.unwrap().last),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(ids.first().unwrap().0, d["sequenceStart"].as_u64().unwrap());
                assert_eq!(ids.last().unwrap().1, d["sequenceEnd"].as_u64().unwrap());
                assert!(ids.windows(2).all(|w| w[1].0 == w[0].1 + 1), "{ids:?}");
                let Item::Book(b) = &out.items[0] else { unreachable!() };
                assert_eq!(b.exchange_ts, Some(d["time"].as_i64().unwrap() * 1_000_000));
            }
        }
        assert!(parsed > 20, "{parsed}");
    }

    /// The level2 and ticker fast paths take every recorded line of theirs (else they would be
    /// dead weight),
    /// and what it yields is what the generic path yields (`layouts_decode_alike`).
    #[test]
    fn the_fast_path_takes_the_recorded_level2_layout() {
        let mut v = Kucoin::new(&[]);
        let mut n = 0;
        for l in SESSION.lines().filter(|l| l.contains("trade.l2update")) {
            let mut out = Out::default();
            assert!(v.level2_fast(l.as_bytes(), &mut out).is_some(), "{l}");
            n += 1;
        }
        assert!(n > 2_000, "{n}");
        let mut tickers = 0;
        for l in SESSION.lines().filter(|l| l.contains("trade.ticker")) {
            let mut out = Out::default();
            assert!(Kucoin::ticker_fast(l.as_bytes(), &mut out).is_some(), "{l}");
            tickers += 1;
        }
        assert!(tickers > 500, "{tickers}");
    }

    /// Every recorded frame reads the same with its keys in the docs' order (type, topic,
    /// subject, data) as in the recorded (alphabetical) order, and pretty-printed.
    #[test]
    #[allow(clippy::many_single_char_names)] // a(/b) parser, j(son), l(ine), x/y outputs
    fn layouts_decode_alike() {
        use std::fmt::Write as _;
        let (mut a, mut b) = (Kucoin::new(&[]), Kucoin::new(&[]));
        for (n, l) in SESSION.lines().enumerate() {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            let mut doc = String::from("{");
            for k in ["type", "topic", "subject", "id", "data"] {
                if let Some(v) = j.get(k) {
                    if doc.len() > 1 {
                        doc.push(',');
                    }
                    write!(doc, "{}:{}", serde_json::to_string(k).unwrap(), v).unwrap();
                }
            }
            doc.push('}');
            let pretty = serde_json::to_string_pretty(&j).unwrap();
            let x = parse(&mut a, l).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            for other in [doc, pretty] {
                let y = parse(&mut b, &other).unwrap();
                assert_eq!(
                    format!("{:?}", (&x.items, &x.bids, &x.asks)),
                    format!("{:?}", (&y.items, &y.bids, &y.asks))
                );
            }
        }
    }

    #[test]
    fn strict_about_what_is_not_kucoin_spot() {
        let mut v = Kucoin::new(&[]);
        let delta = line(r#""bids":[["2"#);
        for (frame, field) in [
            (r#"{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}"#.to_owned(), "type"),
            (r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{}}"#.to_owned(), "type"),
            (delta.replace("/market/level2:", "/contractMarket/level2:"), "topic"),
            (delta.replace("/market/level2:", "/market/level9:"), "topic"),
            (delta.replace("trade.l2update", "trade.l3update"), "subject"),
            (delta.replace(r#""type":"message""#, r#""type":"notice""#), "type"),
            (delta.replace(r#""symbol":""#, r#""symbol":"X"#), "data.symbol"),
            (delta.replace(r#""bids":[[""#, r#""bids":[["-"#), "changes.bids"),
            (delta.replace("sequenceStart", "sequenceBegin"), "data.sequenceStart"),
            (delta[..delta.len() - 1].to_owned(), "json"),
        ] {
            let e = parse(&mut v, &frame).map(|o| o.items).unwrap_err();
            assert!(matches!(&e, Error::Frame { field: f, .. } if f == field), "{field}: {e}");
        }
        assert!(v.parse(delta.as_bytes(), true, &mut Out::default()).is_err());
        // A documented spot topic tickwire does not decode: valid, nothing yielded.
        let level1 = r#"{"type":"message","topic":"/spotMarket/level1:ETH-USDT","subject":"level1","data":{"asks":["9989","8"],"bids":["9984","10"],"timestamp":1586948108193}}"#;
        assert!(parse(&mut v, level1).unwrap().items.is_empty());
    }

    #[test]
    fn symbols_both_ways() {
        let v = Kucoin::new(&[]);
        for (id, sym) in [("BTC-USDT", "BTC/USDT"), ("ANKR-BTC", "ANKR/BTC"), ("1INCH-USDT", "1INCH/USDT")] {
            assert_eq!(v.unified_symbol(id), sym);
            assert_eq!(v.market_id(sym).unwrap(), id);
        }
        for bad in ["BTC/USDT:USDT", "btc/usdt", "BTCUSDT", "BTC/"] {
            let e = v.market_id(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        let inst =
            Instrument { market_id: "BCHSV-USDT".into(), symbol: "BSV/USDT".into(), tick_size: None, lot_size: None };
        let v = Kucoin::new(&[inst]);
        assert_eq!(v.unified_symbol("BCHSV-USDT"), "BSV/USDT");
        assert_eq!(v.market_id("BSV/USDT").unwrap(), "BCHSV-USDT");
        assert!(FACTORY.create("linear", &[]).is_err());
    }

    #[test]
    fn rest_snapshot() {
        let body = include_str!("../../../tests/fixtures/kucoin/level2_snapshot_bchsv-usdt_20210425.json");
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        let mut out = Out::default();
        let snap = Kucoin::snapshot(body.as_bytes(), &mut out).unwrap();
        assert_eq!(snap.sequence.to_string(), j["data"]["sequence"].as_str().unwrap());
        assert_eq!(snap.exchange_ts, Some(j["data"]["time"].as_i64().unwrap() * 1_000_000));
        assert_eq!(out.bids.len(), j["data"]["bids"].as_array().unwrap().len());
        assert_eq!(out.asks[0].price.to_string(), j["data"]["asks"][0][0].as_str().unwrap());
        let e = Kucoin::snapshot(br#"{"code":"400100","msg":"symbol not exists"}"#, &mut out).unwrap_err();
        assert!(e.to_string().contains("symbol not exists"), "{e}");
    }
}
