//! Binance Spot and USDⓈ-M futures market streams.
//!
//! Follows Binance's "WebSocket Streams" (spot) and "USDⓈ-M Futures WebSocket Market Streams"
//! docs, summarised in shared/docs/exchanges/binance.md: combined-stream envelope
//! `{"stream":"<name>","data":{...}}` or raw frames; `depthUpdate`, `bookTicker`, `trade`,
//! `aggTrade`, `kline`; SUBSCRIBE replies; and the two "manage a local order book correctly"
//! procedures, which differ between the markets (see `first_delta` / `next_delta`).
//!
//! Private (account) side, binance.md §7-8: spot WebSocket API user data and its replies, USD-M
//! listen-key user data, REST `myTrades` / `userTrades` / `allOrders` (see the section "private
//! (account) side" below for the status, type and balance mappings).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::account::{
    AccountList, BalanceItem, FillItem, MarginMode, OrderItem, OrderStatus, PositionItem, PositionSide,
};
use crate::error::{from_json, Error};
use crate::event::{RequestId, Side, SymbolIndex};
use crate::fixed::{self, Dec};
use crate::json::{ms_to_ns, negative, nesting_error, required, Cursor};

/// What one Binance frame carries (one message per frame), before it becomes an [`Item`].
/// Depth levels are in the `Out`'s level lists. Kept within 128 bytes (cold kinds boxed, trade
/// ids as numbers): it is moved a few times per frame, and larger moves are `memcpy` calls.
#[derive(Debug, Clone, PartialEq)]
enum Message<'a> {
    Depth {
        market_id: &'a str,
        ids: SeqIds,
        exchange_ts: i64,
    },
    Bbo {
        market_id: &'a str,
        bbo: BboItem,
    },
    Trade {
        market_id: &'a str,
        trade: NumberedTrade,
    },
    Candle {
        market_id: &'a str,
        candle: Box<CandleItem>,
    },
    Control(Box<ControlItem>),
    Notice {
        name: &'a str,
        exchange_ts: Option<i64>,
    },
    /// Valid, but nothing tickwire decodes (a stream it does not know).
    Ignored,
    /// A user-data (account) event, whose items are already in the `Out`.
    Account,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Market {
    Spot,
    UsdM,
}

/// A trade as Binance numbers it (a [`TradeItem`] with an integer id, in less room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NumberedTrade {
    price: Dec,
    size: Dec,
    side: Side,
    id: u64,
    trade_ts: i64,
    exchange_ts: i64,
}

impl NumberedTrade {
    fn item(self) -> TradeItem {
        TradeItem {
            price: self.price,
            size: self.size,
            side: self.side,
            trade_id: TradeId::Int(self.id),
            trade_ts: self.trade_ts,
            exchange_ts: self.exchange_ts,
        }
    }
}

/// The parser of one Binance market (stateless: a copy per decoder).
#[derive(Debug, Clone, Copy)]
pub struct Binance {
    id: &'static str,
    market: Market,
}

/// Binance Spot's parser.
pub const SPOT: Binance = Binance { id: "binance", market: Market::Spot };
/// Binance USDⓈ-M futures' parser.
pub const USDM: Binance = Binance { id: "binanceusdm", market: Market::UsdM };

/// Makes the parser of one Binance exchange id: ccxt keeps Spot (`binance`, market `spot`) and
/// USDⓈ-M futures (`binanceusdm`, market `linear`) apart, and so does tickwire.
pub struct Factory {
    venue: Binance,
    markets: &'static [&'static str],
}

/// `binance`: Spot.
pub static BINANCE: Factory = Factory { venue: SPOT, markets: &["spot"] };
/// `binanceusdm`: USDⓈ-M futures.
pub static BINANCEUSDM: Factory = Factory { venue: USDM, markets: &["linear"] };

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        self.venue.id
    }

    fn markets(&self) -> &'static [&'static str] {
        self.markets
    }

    fn create(&self, market: &str, _instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        if !self.markets.contains(&market) {
            return Err(Error::invalid("market", market, format!("{} has market {}", self.venue.id, self.markets[0])));
        }
        Ok(Box::new(self.venue))
    }
}

/// Quote assets, longest first, for splitting a concatenated market id ("LRCBTC" -> LRC/BTC).
const QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "BIDR", "IDRT", "BVND", "USD1", "EURI", "AEUR", "DAI", "BTC",
    "ETH", "BNB", "EUR", "TRY", "BRL", "GBP", "AUD", "RUB", "UAH", "ZAR", "NGN", "PLN", "RON", "ARS", "JPY", "MXN",
    "COP", "CZK", "XRP", "TRX", "DOT", "PAX", "VAI", "DOGE", "USD",
];

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct Kline<'a> {
    #[serde(rename = "E")]
    event_time: u64,
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "k", borrow)]
    k: KlineBody<'a>,
}

#[derive(Deserialize)]
struct KlineBody<'a> {
    t: u64,
    #[serde(rename = "T")]
    close_time: u64,
    #[serde(borrow)]
    i: &'a str,
    #[serde(borrow)]
    o: &'a str,
    #[serde(borrow)]
    h: &'a str,
    #[serde(borrow)]
    l: &'a str,
    #[serde(borrow)]
    c: &'a str,
    #[serde(borrow)]
    v: &'a str,
    n: u64,
    x: bool,
}

/// One entry of `GET /api/v3/historicalTrades` (`id,price,qty,time,isBuyerMaker`, for `trade`
/// streams) or of `GET /api/v3/aggTrades` (`a,p,q,T,m`, for `aggTrade` streams); USD-M's
/// `/fapi/v1/...` twins have the same fields.
#[derive(Deserialize)]
struct PastTrade<'a> {
    #[serde(alias = "a")]
    id: u64,
    #[serde(alias = "p", borrow)]
    price: &'a str,
    #[serde(alias = "q", borrow)]
    qty: &'a str,
    #[serde(alias = "T")]
    time: u64,
    #[serde(rename = "isBuyerMaker", alias = "m")]
    buyer_is_maker: bool,
}

/// A reply to a control request: `{"result":null,"id":1}`, or an error either flat
/// (`{"code":2,"msg":"...","id":1}`, as the doc prints it) or nested
/// (`{"error":{"code":2,"msg":"..."},"id":1}`, as the live servers send it).
#[derive(Deserialize)]
struct Control<'a> {
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, borrow)]
    msg: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<ErrorBody<'a>>,
    /// HTTP-like status of a WebSocket API reply (spot user data: logon, subscribe).
    #[serde(default)]
    status: Option<u16>,
}

#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, borrow)]
    msg: Option<Cow<'a, str>>,
}

/// What a frame is, decided before it is parsed in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Depth,
    BookTicker,
    Trade,
    Kline,
    Control,
    Notice,
    Other,
    /// A diff-depth stream at a rate only the other market publishes.
    ForeignDepth,
    /// A user-data (account) event: private streams only.
    Account,
}

/// A combined-stream frame's stream name and its `data` value.
type StreamData<'a> = (Cow<'a, str>, &'a [u8]);

/// Split a combined-stream frame into (stream name, data). The common layout is sliced
/// directly; any other layout (reordered keys, whitespace) goes through serde.
fn split_envelope(payload: &[u8]) -> Result<Option<StreamData<'_>>, Error> {
    const HEAD: &[u8] = br#"{"stream":""#;
    const MID: &[u8] = br#"","data":"#;
    if let Some(rest) = payload.strip_prefix(HEAD) {
        if let Some(q) = memchr::memchr(b'"', rest) {
            let end = payload.iter().rposition(|b| !b.is_ascii_whitespace()).unwrap_or(0);
            if rest[q..].starts_with(MID) && payload[end] == b'}' {
                let data = &rest[q + MID.len()..end - HEAD.len()];
                // Plain printable ASCII names only; anything else takes the validating path.
                let name = &rest[..q];
                if printable_name(name) {
                    // SAFETY: every byte was just checked to be printable ASCII.
                    let stream = unsafe { std::str::from_utf8_unchecked(name) };
                    return Ok(Some((Cow::Borrowed(stream), data)));
                }
            }
        }
    }
    if memchr::memmem::find(payload, b"\"stream\"").is_some() && memchr::memmem::find(payload, b"\"data\"").is_some() {
        return envelope_slow(payload).map(Some);
    }
    Ok(None)
}

/// True if every byte of `name` is printable ASCII (0x20..0x7f) other than a backslash. Eight
/// bytes a step (SWAR: a byte below 0x20 borrows, 0x7f and '\\' are zero after an xor, non-ASCII
/// has its high bit; a borrow only runs past a byte that is itself flagged, so "none flagged"
/// is exact), then byte by byte: a stream name ("ethusdt@depth@100ms") is read once per frame.
#[inline]
fn printable_name(name: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = name.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if (control | (x & HIGH) | zero_byte(x ^ (ONES * 0x7f)) | zero_byte(x ^ (ONES * u64::from(b'\\')))) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
}

/// Any valid combined-stream envelope, through serde.
#[cold]
fn envelope_slow(payload: &[u8]) -> Result<StreamData<'_>, Error> {
    let env: Envelope = from_json(payload)?;
    Ok((env.stream, env.data.get().as_bytes()))
}

impl Market {
    /// Rates of the diff-depth stream (`<symbol>@depth@<rate>`) this market publishes.
    /// Spot: 1000 ms (plain `@depth`) or 100 ms; USD-M: 250 ms (plain), 500, 100 or 0 ms.
    fn depth_rates(self) -> &'static [&'static str] {
        match self {
            Market::Spot => &["100ms", "1000ms"],
            Market::UsdM => &["0ms", "100ms", "250ms", "500ms"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::UsdM => "USD-M",
        }
    }
}

/// Classify a raw (non-enveloped) frame by its event type `e` (normally the first key), or by
/// its keys when it has none (spot bookTicker, control replies). Malformed JSON is left for
/// the full parse to report.
fn kind_of_raw(data: &[u8]) -> Kind {
    let mut c = Cursor::new(data);
    let (mut ticker_keys, mut control) = (0, false);
    let mut first = true;
    if c.begin_object().is_err() {
        return Kind::Other;
    }
    while let Ok(Some(key)) = c.next_key(&mut first) {
        match key {
            b"e" => {
                return match c.str("e") {
                    Ok("depthUpdate") => Kind::Depth,
                    Ok("bookTicker") => Kind::BookTicker,
                    Ok("trade" | "aggTrade") => Kind::Trade,
                    Ok("kline") => Kind::Kline,
                    Ok("serverShutdown") => Kind::Notice,
                    Ok(name) if is_account_event(name) => Kind::Account,
                    _ => Kind::Other,
                }
            }
            // The spot WebSocket API's user-data envelope `{"subscriptionId":N,"event":{..}}`.
            b"subscriptionId" => return Kind::Account,
            b"result" | b"code" | b"error" => control = true,
            b"u" | b"b" | b"B" | b"a" | b"A" => ticker_keys += 1,
            _ => {}
        }
        if c.skip_value("json").is_err() {
            return Kind::Other;
        }
    }
    if control {
        Kind::Control
    } else if ticker_keys == 5 {
        Kind::BookTicker // spot bookTicker has no `e`
    } else {
        Kind::Other // includes partial book depth ({lastUpdateId,bids,asks}): not decoded yet
    }
}

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

/// A field only the other market sends: the frame cannot belong to this one.
#[cold]
fn foreign(field: &str, market: Market, what: &str) -> Error {
    Error::frame(field, format!("{what}: not a Binance {} frame", market.name()))
}

/// A decimal of a REST or kline body that must not be negative, named `field`.
fn non_negative(text: &str, field: &'static str) -> Result<Dec, Error> {
    match fixed::parse_dec(text, field)? {
        v if v.mantissa < 0 => Err(negative(field)),
        v => Ok(v),
    }
}

impl Binance {
    /// The kind of a combined-stream frame from its stream name. A diff-depth stream at a rate
    /// this market does not publish (a USD-M `@depth@0ms` frame on a spot connection) is
    /// `ForeignDepth`, for the caller to report.
    #[inline]
    fn kind_of_stream(&self, stream: &str) -> Kind {
        // A byte loop over the few bytes of the symbol: `split_once('@')` goes through the
        // generic char searcher, ~140 instructions per frame (callgrind).
        let channel = match stream.bytes().position(|b| b == b'@') {
            Some(at) => &stream[at + 1..],
            None => "",
        };
        match channel {
            "trade" | "aggTrade" => Kind::Trade,
            "bookTicker" => Kind::BookTicker,
            // `depth`, `depth@100ms`, `depth@0ms` are diffs; `depth5`/`depth10@100ms` are partial books.
            "depth" => Kind::Depth,
            c if c.starts_with("depth@") => match (self.market, &c["depth@".len()..]) {
                // The rates of `Market::depth_rates`, as a match: no loop on the hot path.
                (Market::Spot, "100ms" | "1000ms") | (Market::UsdM, "0ms" | "100ms" | "250ms" | "500ms") => Kind::Depth,
                _ => Kind::ForeignDepth,
            },
            c if c.starts_with("kline_") => Kind::Kline,
            _ => Kind::Other,
        }
    }

    #[cold]
    fn foreign_stream(&self, stream: &str) -> Error {
        Error::frame(
            "stream",
            format!(
                "{stream:?} is not a Binance {} diff-depth stream (rates: {})",
                self.market.name(),
                self.market.depth_rates().join(", ")
            ),
        )
    }

    /// Parse `data` (the event object) as `kind`; `frame` is the whole payload, which `data`
    /// is a part of.
    fn parse_kind<'a>(
        &self,
        kind: Kind,
        data: &'a [u8],
        frame: &'a [u8],
        levels: &mut Out,
    ) -> Result<Message<'a>, Error> {
        match kind {
            Kind::Depth => self.depth(data, frame, levels),
            Kind::BookTicker => self.book_ticker(data, frame),
            Kind::Trade => self.trade(data, frame),
            Kind::Kline => self.kline(data),
            Kind::Control => Self::control(data),
            Kind::Notice => Self::notice(data, frame),
            // parse_stream reports these with the stream's name; nothing else yields the kind.
            Kind::ForeignDepth => Err(Error::frame("stream", "a diff-depth stream of the other Binance market")),
            Kind::Account => {
                self.account_frame(data, levels)?;
                Ok(Message::Account)
            }
            // A user-data event in a combined envelope (stream named by its listen key): only
            // frames of no known market stream pay for this look.
            Kind::Other if !std::ptr::eq(data, frame) && kind_of_raw(data) == Kind::Account => {
                self.account_frame(data, levels)?;
                Ok(Message::Account)
            }
            Kind::Other => {
                // Only a well-formed JSON object is something to ignore; anything else is malformed.
                // The map only validates: every value is checked and dropped (IgnoredAny).
                #[allow(clippy::zero_sized_map_values)]
                let object = from_json::<std::collections::HashMap<Cow<'_, str>, serde::de::IgnoredAny>>(frame);
                object?;
                Ok(Message::Ignored)
            }
        }
    }

    /// A combined-stream frame: its stream name's kind, then its `data`. (Always inlined: as a
    /// call of its own it cost ~17 instructions per frame, measured with callgrind.)
    #[inline(always)]
    fn parse_stream<'a>(
        &self,
        stream: &str,
        data: &'a [u8],
        frame: &'a [u8],
        levels: &mut Out,
    ) -> Result<Message<'a>, Error> {
        match self.kind_of_stream(stream) {
            Kind::ForeignDepth => Err(self.foreign_stream(stream)),
            kind => self.parse_kind(kind, data, frame, levels),
        }
    }

    fn parse_frame<'a>(&self, payload: &'a [u8], levels: &mut Out) -> Result<Message<'a>, Error> {
        levels.bids.clear();
        levels.asks.clear();
        match split_envelope(payload)? {
            Some((stream, data)) => match self.parse_stream(&stream, data, payload, levels) {
                // The sliced envelope may hold more than `data` (extra keys after it): let serde
                // find the real `data` before calling the frame malformed.
                Err(e) if matches!(stream, Cow::Borrowed(_)) => match envelope_slow(payload) {
                    Ok((stream, real)) if real != data => {
                        levels.bids.clear();
                        levels.asks.clear();
                        self.parse_stream(&stream, real, payload, levels)
                    }
                    _ => Err(e),
                },
                result => result,
            },
            None => self.parse_kind(kind_of_raw(payload), payload, payload, levels),
        }
    }

    fn depth<'a>(&self, data: &'a [u8], frame: &[u8], levels: &mut Out) -> Result<Message<'a>, Error> {
        if let Some(m) = self.depth_fast(data, levels) {
            return Ok(m);
        }
        levels.bids.clear();
        levels.asks.clear();
        self.depth_generic(data, frame, levels)
    }

    /// The layouts Binance sends: spot `e,E,s,U,u,b,a`; USD-M `e,E,T,s,U,u,pu,b,a`. Anything
    /// else (another market's fields included) takes the generic path, which names the fault.
    #[inline]
    fn depth_fast<'a>(&self, data: &'a [u8], levels: &mut Out) -> Option<Message<'a>> {
        let mut c = Cursor::new(data);
        c.begin_object().ok()?;
        let mut first = true;
        if c.at_key(b"e", &mut first) {
            c.str("e").ok()?;
        }
        let event_time = c.at_key(b"E", &mut first).then(|| c.timestamp_ms("E"))?.ok()?;
        if c.at_key(b"T", &mut first) {
            if self.market == Market::Spot {
                return None;
            }
            c.timestamp_ms("T").ok()?;
        }
        let symbol = c.at_key(b"s", &mut first).then(|| c.str("s"))?.ok()?;
        let first_id = c.at_key(b"U", &mut first).then(|| c.u64("U"))?.ok()?;
        let last_id = c.at_key(b"u", &mut first).then(|| c.u64("u"))?.ok()?;
        let prev_id = if c.at_key(b"pu", &mut first) { Some(c.u64("pu").ok()?) } else { None };
        // USD-M chains deltas by `pu`; spot has none.
        if prev_id.is_some() != (self.market == Market::UsdM) {
            return None;
        }
        c.at_key(b"b", &mut first).then(|| c.dec_levels(&mut levels.bids, "b"))?.ok()?;
        c.at_key(b"a", &mut first).then(|| c.dec_levels(&mut levels.asks, "a"))?.ok()?;
        c.at_end().then_some(())?;
        Some(Message::Depth {
            market_id: symbol,
            ids: SeqIds { first: first_id, last: last_id, prev: prev_id },
            exchange_ts: event_time,
        })
    }

    fn depth_generic<'a>(&self, data: &'a [u8], frame: &[u8], levels: &mut Out) -> Result<Message<'a>, Error> {
        let (mut event_time, mut symbol, mut first_id, mut last_id, mut prev_id) = (None, None, None, None, None);
        let (mut bids, mut asks) = (false, false);
        let spot = self.market == Market::Spot;
        let mut c = Cursor::within(data, frame);
        c.begin_object()?;
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"E" => event_time = Some(c.timestamp_ms("E")?),
                b"T" if spot => return Err(foreign("T", self.market, "transaction time of a USD-M depth update")),
                b"T" => {
                    c.timestamp_ms("T")?;
                }
                b"s" => symbol = Some(c.str("s")?),
                b"U" => first_id = Some(c.u64("U")?),
                b"u" => last_id = Some(c.u64("u")?),
                b"pu" if spot => return Err(foreign("pu", self.market, "previous final update id of USD-M")),
                b"pu" => prev_id = Some(c.u64("pu")?),
                b"b" if !bids => {
                    c.dec_levels(&mut levels.bids, "b")?;
                    bids = true;
                }
                b"a" if !asks => {
                    c.dec_levels(&mut levels.asks, "a")?;
                    asks = true;
                }
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        if !bids || !asks {
            return Err(Error::frame(if bids { "a" } else { "b" }, "missing field"));
        }
        if !spot && prev_id.is_none() {
            return Err(Error::frame("pu", "USD-M depthUpdate without previous final update id"));
        }
        Ok(Message::Depth {
            market_id: required(symbol, "s")?,
            ids: SeqIds { first: required(first_id, "U")?, last: required(last_id, "u")?, prev: prev_id },
            exchange_ts: required(event_time, "E")?,
        })
    }

    fn book_ticker<'a>(&self, data: &'a [u8], frame: &[u8]) -> Result<Message<'a>, Error> {
        match self.book_ticker_fast(data) {
            Some(m) => Ok(m),
            None => self.book_ticker_generic(data, frame),
        }
    }

    /// The layouts Binance sends: spot `u,s,b,B,a,A` (no times); USD-M `e,u,s,b,B,a,A,T,E`.
    #[inline]
    fn book_ticker_fast<'a>(&self, data: &'a [u8]) -> Option<Message<'a>> {
        let mut c = Cursor::new(data);
        c.begin_object().ok()?;
        let mut first = true;
        if c.at_key(b"e", &mut first) {
            c.str("e").ok()?;
        }
        let sequence = c.at_key(b"u", &mut first).then(|| c.u64("u"))?.ok()?;
        let symbol = c.at_key(b"s", &mut first).then(|| c.str("s"))?.ok()?;
        let bid_price = c.at_key(b"b", &mut first).then(|| c.dec("b"))?.ok()?;
        let bid_size = c.at_key(b"B", &mut first).then(|| c.dec("B"))?.ok()?;
        let ask_price = c.at_key(b"a", &mut first).then(|| c.dec("a"))?.ok()?;
        let ask_size = c.at_key(b"A", &mut first).then(|| c.dec("A"))?.ok()?;
        if (bid_price.mantissa | bid_size.mantissa | ask_price.mantissa | ask_size.mantissa) < 0 {
            return None;
        }
        if c.at_key(b"T", &mut first) {
            c.timestamp_ms("T").ok()?;
        }
        let event_time = if c.at_key(b"E", &mut first) { Some(c.timestamp_ms("E").ok()?) } else { None };
        // USD-M stamps its tickers; spot's carry no time at all.
        if event_time.is_some() != (self.market == Market::UsdM) {
            return None;
        }
        c.at_end().then_some(())?;
        Some(Message::Bbo {
            market_id: symbol,
            bbo: BboItem {
                bid: RawLevel { price: bid_price, size: bid_size },
                ask: RawLevel { price: ask_price, size: ask_size },
                sequence: Some(sequence),
                exchange_ts: event_time,
            },
        })
    }

    fn book_ticker_generic<'a>(&self, data: &'a [u8], frame: &[u8]) -> Result<Message<'a>, Error> {
        let (mut sequence, mut event_time, mut symbol) = (None, None, None);
        let (mut bid_price, mut bid_size, mut ask_price, mut ask_size) = (None, None, None, None);
        let spot = self.market == Market::Spot;
        let mut c = Cursor::within(data, frame);
        c.begin_object()?;
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"u" => sequence = Some(c.u64("u")?),
                b"E" if spot => return Err(foreign("E", self.market, "event time of a USD-M book ticker")),
                b"T" if spot => return Err(foreign("T", self.market, "transaction time of a USD-M book ticker")),
                b"E" => event_time = Some(c.timestamp_ms("E")?),
                b"T" => {
                    c.timestamp_ms("T")?;
                }
                b"s" => symbol = Some(c.str("s")?),
                b"b" => bid_price = Some(c.dec_non_negative("b")?),
                b"B" => bid_size = Some(c.dec_non_negative("B")?),
                b"a" => ask_price = Some(c.dec_non_negative("a")?),
                b"A" => ask_size = Some(c.dec_non_negative("A")?),
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        if !spot && event_time.is_none() {
            return Err(Error::frame("E", "missing field (USD-M book tickers carry their event time)"));
        }
        Ok(Message::Bbo {
            market_id: required(symbol, "s")?,
            bbo: BboItem {
                bid: RawLevel { price: required(bid_price, "b")?, size: required(bid_size, "B")? },
                ask: RawLevel { price: required(ask_price, "a")?, size: required(ask_size, "A")? },
                sequence: Some(required(sequence, "u")?),
                exchange_ts: event_time,
            },
        })
    }

    fn trade<'a>(&self, data: &'a [u8], frame: &[u8]) -> Result<Message<'a>, Error> {
        match self.trade_fast(data) {
            Some(m) => Ok(m),
            None => self.trade_generic(data, frame),
        }
    }

    /// The `trade` layouts Binance sends: spot `e,E,s,t,p,q,T,m,M`; USD-M `e,E,T,s,t,p,q,X,m`.
    #[inline]
    fn trade_fast<'a>(&self, data: &'a [u8]) -> Option<Message<'a>> {
        let spot = self.market == Market::Spot;
        let mut c = Cursor::new(data);
        c.begin_object().ok()?;
        let mut first = true;
        c.at_key(b"e", &mut first).then(|| c.str("e"))?.ok()?;
        let event_time = c.at_key(b"E", &mut first).then(|| c.timestamp_ms("E"))?.ok()?;
        let mut trade_time = None;
        if c.at_key(b"T", &mut first) {
            trade_time = Some(c.timestamp_ms("T").ok()?);
        }
        let symbol = c.at_key(b"s", &mut first).then(|| c.str("s"))?.ok()?;
        let trade_id = c.at_key(b"t", &mut first).then(|| c.u64("t"))?.ok()?;
        let price = c.at_key(b"p", &mut first).then(|| c.dec("p"))?.ok()?;
        let size = c.at_key(b"q", &mut first).then(|| c.dec("q"))?.ok()?;
        if (price.mantissa | size.mantissa) < 0 {
            return None;
        }
        if c.at_key(b"T", &mut first) {
            trade_time = Some(c.timestamp_ms("T").ok()?);
        }
        // USD-M's order type `X` and spot's best-match flag `M` each belong to one market only.
        if c.at_key(b"X", &mut first) {
            if spot {
                return None;
            }
            c.str("X").ok()?;
        }
        let buyer_is_maker = c.at_key(b"m", &mut first).then(|| c.bool("m"))?.ok()?;
        if c.at_key(b"M", &mut first) != spot {
            return None;
        }
        if spot {
            c.bool("M").ok()?;
        }
        c.at_end().then_some(())?;
        Some(Message::Trade {
            market_id: symbol,
            trade: NumberedTrade {
                price,
                size,
                side: if buyer_is_maker { Side::Sell } else { Side::Buy },
                id: trade_id,
                trade_ts: trade_time?,
                exchange_ts: event_time,
            },
        })
    }

    /// `trade` (id in `t`) and `aggTrade` (id in `a`) share everything else. Spot sends `M`
    /// (documented "ignore") in both, USD-M never; USD-M's `trade` sends `X` (order type),
    /// spot never.
    fn trade_generic<'a>(&self, data: &'a [u8], frame: &[u8]) -> Result<Message<'a>, Error> {
        let (mut event_time, mut symbol, mut trade_id, mut trade_time) = (None, None, None, None);
        let (mut price, mut size, mut buyer_is_maker, mut best_match) = (None, None, None, false);
        let spot = self.market == Market::Spot;
        let mut c = Cursor::within(data, frame);
        c.begin_object()?;
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"E" => event_time = Some(c.timestamp_ms("E")?),
                b"s" => symbol = Some(c.str("s")?),
                b"t" | b"a" => trade_id = Some(c.u64(if key == b"t" { "t" } else { "a" })?),
                b"p" => price = Some(c.dec_non_negative("p")?),
                b"q" => size = Some(c.dec_non_negative("q")?),
                b"T" => trade_time = Some(c.timestamp_ms("T")?),
                b"m" => buyer_is_maker = Some(c.bool("m")?),
                b"X" if spot => return Err(foreign("X", self.market, "order type of a USD-M trade")),
                b"M" if !spot => return Err(foreign("M", self.market, "best-match flag of a spot trade")),
                b"M" => {
                    c.bool("M")?;
                    best_match = true;
                }
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        if spot && !best_match {
            return Err(Error::frame("M", "missing field (spot trades carry M)"));
        }
        Ok(Message::Trade {
            market_id: required(symbol, "s")?,
            trade: NumberedTrade {
                price: required(price, "p")?,
                size: required(size, "q")?,
                // `m`: the buyer was the maker, so the aggressor sold.
                side: if required(buyer_is_maker, "m")? { Side::Sell } else { Side::Buy },
                id: required(trade_id, "t")?,
                trade_ts: required(trade_time, "T")?,
                exchange_ts: required(event_time, "E")?,
            },
        })
    }

    fn kline<'a>(&self, data: &'a [u8]) -> Result<Message<'a>, Error> {
        let k: Kline<'a> = from_json(data)?;
        let b = &k.k;
        // Second candles are spot-only (USD-M intervals start at 1m).
        if self.market == Market::UsdM && b.i == "1s" {
            return Err(foreign("k.i", self.market, "1s klines are spot-only"));
        }
        Ok(Message::Candle {
            market_id: k.symbol,
            candle: Box::new(CandleItem {
                interval: Interval::new(b.i, "k.i")?,
                start_ts: ms_to_ns(b.t, "k.t")?,
                end_ts: ms_to_ns(b.close_time, "k.T")?,
                open: non_negative(b.o, "k.o")?,
                high: non_negative(b.h, "k.h")?,
                low: non_negative(b.l, "k.l")?,
                close: non_negative(b.c, "k.c")?,
                volume: non_negative(b.v, "k.v")?,
                trades: Some(b.n),
                closed: Some(b.x),
                exchange_ts: Some(ms_to_ns(k.event_time, "E")?),
            }),
        })
    }

    /// `{"e":"serverShutdown","E":<ms>}`: the server will close this connection soon.
    fn notice<'a>(data: &'a [u8], frame: &[u8]) -> Result<Message<'a>, Error> {
        let (mut name, mut event_time) = (None, None);
        let mut c = Cursor::within(data, frame);
        c.begin_object()?;
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"e" => name = Some(c.str("e")?),
                b"E" => event_time = Some(c.timestamp_ms("E")?),
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        Ok(Message::Notice { name: required(name, "e")?, exchange_ts: event_time })
    }

    /// An ack (`{"result":null,"id":1}`; a non-null result, as `LIST_SUBSCRIPTIONS` replies, is
    /// the ack's `message` as raw JSON) or an error reply (`code`, `msg`).
    fn control<'a>(data: &'a [u8]) -> Result<Message<'a>, Error> {
        let c: Control<'a> = from_json(data)?;
        let (code, msg) = match c.error {
            Some(e) => (e.code.or(c.code), e.msg.or(c.msg)),
            None => (c.code, c.msg),
        };
        // A WebSocket API success (`session.logon`, `userDataStream.subscribe[.signature]`,
        // the requests of the private connection's login) is a Login; its result is not kept:
        // the logon result echoes the API key.
        if c.status.is_some() && code.is_none() {
            return Ok(Message::Control(Box::new(ControlItem {
                kind: ControlKind::Login,
                request_id: request_id(c.id)?,
                topic: None,
                code: None,
                message: None,
            })));
        }
        let result = c.result.map(|r| r.get().to_owned()).filter(|r| r != "null");
        Ok(Message::Control(Box::new(ControlItem {
            kind: if code.is_none() { ControlKind::Ack } else { ControlKind::Error },
            request_id: request_id(c.id)?,
            topic: None,
            code,
            message: msg.map(Cow::into_owned).or(result),
        })))
    }
}

/// A frame too deeply nested is reported as such (naming the byte where the limit was passed),
/// whatever error the parser met first.
#[cold]
fn explain_nesting(e: Error, payload: &[u8]) -> Error {
    nesting_error(payload).unwrap_or(e)
}

impl Binance {
    /// The documented rule for the first delta after a REST snapshot with `snapshot_id`.
    fn first_delta(self, snapshot_id: u64, d: &SeqIds) -> Verdict {
        match self.market {
            // Spot: drop u <= lastUpdateId; the first kept event has U <= lastUpdateId+1 <= u.
            Market::Spot if d.last <= snapshot_id => Verdict::Stale,
            Market::Spot if d.first <= snapshot_id + 1 => Verdict::Apply,
            Market::Spot => Verdict::Gap { expected: snapshot_id + 1, received: d.first },
            // USD-M: drop u < lastUpdateId; the first kept event has U <= lastUpdateId <= u.
            // An event whose pu equals lastUpdateId continues the snapshot exactly too (the doc's
            // rule misses it when the event ending at lastUpdateId was not buffered).
            Market::UsdM if d.last < snapshot_id => Verdict::Stale,
            Market::UsdM if d.first <= snapshot_id || d.prev == Some(snapshot_id) => Verdict::Apply,
            Market::UsdM => Verdict::Gap { expected: snapshot_id, received: d.first },
        }
    }

    /// The documented rule for a delta following one whose final id was `last`.
    fn next_delta(self, last: u64, d: &SeqIds) -> Verdict {
        match self.market {
            // Spot: u <= book id is old news; U must be book id + 1 (U > id+1 is a gap).
            Market::Spot if d.last <= last => Verdict::Stale,
            Market::Spot if d.first <= last + 1 => Verdict::Apply,
            Market::Spot => Verdict::Gap { expected: last + 1, received: d.first },
            // USD-M: each event's pu must equal the previous event's u.
            Market::UsdM => match d.prev {
                Some(pu) if pu == last => Verdict::Apply,
                _ if d.last <= last => Verdict::Stale,
                pu => Verdict::Gap { expected: last, received: pu.unwrap_or(0) },
            },
        }
    }

    /// Past trades: `GET /api/v3/historicalTrades` or `aggTrades` (USD-M `/fapi/v1/...`).
    fn past_trades(payload: &[u8]) -> Result<Vec<TradeItem>, Error> {
        let list: Vec<PastTrade> = from_json(payload)?;
        list.iter()
            .enumerate()
            .map(|(i, t)| {
                let at = |field: &str| format!("[{i}].{field}");
                let named = |e: Error, field: &str| match e {
                    Error::Frame { reason, .. } => Error::frame(at(field), reason),
                    other => other,
                };
                let trade_ts = ms_to_ns(t.time, "time").map_err(|e| named(e, "time"))?;
                Ok(TradeItem {
                    trade_id: TradeId::Int(t.id),
                    price: non_negative(t.price, "price").map_err(|e| named(e, "price"))?,
                    size: non_negative(t.qty, "qty").map_err(|e| named(e, "qty"))?,
                    side: if t.buyer_is_maker { Side::Sell } else { Side::Buy },
                    trade_ts,
                    exchange_ts: trade_ts,
                })
            })
            .collect()
    }

    /// A REST depth snapshot (`GET /api/v3/depth`, `/fapi/v1/depth`), levels into `levels`.
    fn depth_snapshot(payload: &[u8], levels: &mut Out) -> Result<Snapshot, Error> {
        levels.bids.clear();
        levels.asks.clear();
        let (mut last_update_id, mut event_time, mut bids, mut asks) = (None, None, false, false);
        let mut c = Cursor::new(payload);
        c.begin_object()?;
        let mut first = true;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"lastUpdateId" => last_update_id = Some(c.u64("lastUpdateId")?),
                b"E" => event_time = Some(c.timestamp_ms("E")?),
                b"bids" if !bids => {
                    c.dec_levels(&mut levels.bids, "bids")?;
                    bids = true;
                }
                b"asks" if !asks => {
                    c.dec_levels(&mut levels.asks, "asks")?;
                    asks = true;
                }
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        if !bids || !asks {
            return Err(Error::frame(if bids { "asks" } else { "bids" }, "missing field"));
        }
        Ok(Snapshot { sequence: required(last_update_id, "lastUpdateId")?, exchange_ts: event_time })
    }
}

impl Venue for Binance {
    fn id(&self) -> &'static str {
        self.id
    }

    fn market(&self) -> &'static str {
        match self.market {
            Market::Spot => "spot",
            Market::UsdM => "linear",
        }
    }

    #[inline]
    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "a binary frame: Binance market streams send text"));
        }
        let (bids_from, asks_from) = (out.bids.len(), out.asks.len());
        match self.parse_frame(frame, out).map_err(|e| explain_nesting(e, frame))? {
            Message::Depth { market_id, ids, exchange_ts } => {
                let symbol = out.symbol(market_id);
                out.book(symbol, BookKind::Delta, Some(ids), None, None, Some(exchange_ts), (bids_from, asks_from));
            }
            Message::Bbo { market_id, bbo } => {
                let symbol = out.symbol(market_id);
                out.items.push(Item::Bbo { symbol, bbo });
            }
            Message::Trade { market_id, trade } => {
                let symbol = out.symbol(market_id);
                out.items.push(Item::Trade { symbol, trade: trade.item() });
            }
            Message::Candle { market_id, candle } => {
                let symbol = out.symbol(market_id);
                out.items.push(Item::Candle { symbol, candle });
            }
            Message::Control(c) => out.items.push(Item::Control(*c)),
            Message::Notice { name, exchange_ts } => {
                out.items.push(Item::Notice { name: name.to_owned(), exchange_ts });
            }
            Message::Ignored | Message::Account => {}
        }
        Ok(())
    }

    fn recovery(&self) -> Recovery {
        Recovery::RestSnapshot
    }

    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        Self::depth_snapshot(body, out)
    }

    fn parse_trades(&mut self, body: &[u8]) -> Result<Vec<TradeItem>, Error> {
        Self::past_trades(body)
    }

    fn parse_account(&mut self, what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        self.account_list(what, body, out)
    }

    #[inline]
    fn check(&self, last: u64, ids: &SeqIds, bridging: bool) -> Verdict {
        if bridging {
            self.first_delta(last, ids)
        } else {
            self.next_delta(last, ids)
        }
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        let (pair, delivery) = match market_id.split_once('_') {
            Some((p, d)) => (p, Some(d)),
            None => (market_id, None),
        };
        let split = QUOTES.iter().find(|q| pair.len() > q.len() && pair.ends_with(*q));
        let Some(quote) = split else { return market_id.to_owned() };
        let base = &pair[..pair.len() - quote.len()];
        match (self.market, delivery) {
            (Market::Spot, _) => format!("{base}/{quote}"),
            (Market::UsdM, None) => format!("{base}/{quote}:{quote}"),
            (Market::UsdM, Some(date)) => format!("{base}/{quote}:{quote}-{date}"),
        }
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        let bad = |why: &str| Error::invalid("symbol", symbol, format!("{why} for exchange {:?}", self.id));
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
            (Market::Spot, Some(_)) => Err(bad("a derivative symbol (with ':') is not a spot market")),
            (Market::UsdM, None) => Err(bad("a spot symbol is not a USD-M contract (write BASE/QUOTE:QUOTE)")),
            (Market::UsdM, Some(s)) => {
                let (settle, date) = match s.split_once('-') {
                    Some((s, d)) => (s, Some(d)),
                    None => (s, None),
                };
                if settle != quote {
                    return Err(bad("USD-M contracts are linear: settle must equal quote"));
                }
                Ok(match date {
                    Some(d) => format!("{base}{quote}_{d}"),
                    None => format!("{base}{quote}"),
                })
            }
        }
    }
}

// --- private (account) side -------------------------------------------------------------------
//
// Spot: the WebSocket API's user data stream (`userDataStream.subscribe` after `session.logon`,
// or `userDataStream.subscribe.signature`), events as `{"subscriptionId":N,"event":{...}}`.
// USD-M: the listen-key stream (`/ws/<listenKey>`), raw `{"e":"ORDER_TRADE_UPDATE",...}` frames
// (a combined `{"stream":..,"data":..}` envelope works too). binance.md §7-8.
//
// Status mapping (`X`, REST `status`) onto OrderStatus:
//   NEW -> New              PENDING_NEW (an OTO's pending leg) -> Pending
//   PARTIALLY_FILLED -> PartiallyFilled    FILLED -> Filled
//   CANCELED, PENDING_CANCEL (documented as unused) -> Canceled
//   REJECTED -> Rejected    EXPIRED, EXPIRED_IN_MATCH (self-trade prevention) -> Expired
//   USD-M NEW_INSURANCE / NEW_ADL (liquidation orders of the insurance fund / ADL) -> New
// Order types: LIMIT, MARKET, LIMIT_MAKER (spot), STOP_LOSS -> stop_market, STOP_LOSS_LIMIT ->
// stop_limit, TAKE_PROFIT -> take_profit_market (spot) / take_profit_limit (USD-M, where
// TAKE_PROFIT is the limit kind), TAKE_PROFIT_LIMIT, STOP (USD-M limit stop) -> stop_limit,
// STOP_MARKET, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET -> trailing_stop, LIQUIDATION -> market.
// Times in force: GTC, IOC, FOK, GTD as such, GTX -> post_only.
// Balances: spot `outboundAccountPosition` gives free `f` and locked `l` (total = f + l); USD-M
// `ACCOUNT_UPDATE` gives the wallet balance `wb` as total (realized PnL in, unrealized out),
// free and locked are None. Spot `balanceUpdate` is a delta (deposit, transfer): it is a Notice,
// the new state follows in `outboundAccountPosition`.
// Positions (USD-M `P`): size |pa|, side from `ps` (LONG/SHORT, hedge mode) or the sign of `pa`
// (one-way `BOTH`); `pa` 0 is flat. Fees `n` are positive when paid (Binance's own sign).

/// Event names of the user data streams (both markets): `kind_of_raw` routes them here.
fn is_account_event(name: &str) -> bool {
    matches!(
        name,
        "executionReport"
            | "outboundAccountPosition"
            | "balanceUpdate"
            | "listenKeyExpired"
            | "eventStreamTerminated"
            | "ORDER_TRADE_UPDATE"
            | "ACCOUNT_UPDATE"
    )
}

/// Spot `executionReport` (the fields tickwire reads).
#[derive(Deserialize)]
struct ExecutionReport<'a> {
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "c", borrow)]
    client_id: Cow<'a, str>,
    #[serde(rename = "C", default, borrow)]
    original_client_id: Option<Cow<'a, str>>,
    #[serde(rename = "S", borrow)]
    side: &'a str,
    #[serde(rename = "o", borrow)]
    order_type: &'a str,
    #[serde(rename = "f", borrow)]
    time_in_force: &'a str,
    #[serde(rename = "q", borrow)]
    size: &'a str,
    #[serde(rename = "p", borrow)]
    price: &'a str,
    #[serde(rename = "P", borrow)]
    stop_price: &'a str,
    #[serde(rename = "x", borrow)]
    exec_type: &'a str,
    #[serde(rename = "X", borrow)]
    status: &'a str,
    #[serde(rename = "i")]
    order_id: u64,
    #[serde(rename = "l", borrow)]
    last_size: &'a str,
    #[serde(rename = "z", borrow)]
    filled: &'a str,
    #[serde(rename = "L", borrow)]
    last_price: &'a str,
    #[serde(rename = "n", default, borrow)]
    fee: Option<&'a str>,
    #[serde(rename = "N", default, borrow)]
    fee_asset: Option<Cow<'a, str>>,
    #[serde(rename = "T")]
    time: u64,
    #[serde(rename = "t")]
    trade_id: i64,
    #[serde(rename = "m")]
    maker: bool,
    #[serde(rename = "O")]
    created: u64,
    #[serde(rename = "Z", borrow)]
    cum_quote: &'a str,
}

#[derive(Deserialize)]
struct SpotBalance<'a> {
    #[serde(borrow)]
    a: Cow<'a, str>,
    #[serde(borrow)]
    f: &'a str,
    #[serde(borrow)]
    l: &'a str,
}

/// USD-M `ORDER_TRADE_UPDATE.o` (the fields tickwire reads).
#[derive(Deserialize)]
struct FuturesOrder<'a> {
    #[serde(borrow)]
    s: Cow<'a, str>,
    #[serde(borrow)]
    c: Cow<'a, str>,
    #[serde(rename = "S", borrow)]
    side: &'a str,
    #[serde(borrow)]
    o: &'a str,
    #[serde(borrow)]
    f: &'a str,
    #[serde(borrow)]
    q: &'a str,
    #[serde(borrow)]
    p: &'a str,
    #[serde(borrow)]
    ap: &'a str,
    #[serde(borrow)]
    sp: &'a str,
    #[serde(borrow)]
    x: &'a str,
    #[serde(rename = "X", borrow)]
    status: &'a str,
    i: u64,
    #[serde(borrow)]
    l: &'a str,
    #[serde(borrow)]
    z: &'a str,
    #[serde(rename = "L", borrow)]
    last_price: &'a str,
    #[serde(rename = "N", default, borrow)]
    fee_asset: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    n: Option<&'a str>,
    #[serde(rename = "T")]
    time: u64,
    t: i64,
    m: bool,
    #[serde(rename = "R")]
    reduce_only: bool,
    #[serde(default, borrow)]
    ot: Option<&'a str>,
}

#[derive(Deserialize)]
struct FuturesBalance<'a> {
    #[serde(borrow)]
    a: Cow<'a, str>,
    #[serde(borrow)]
    wb: &'a str,
}

#[derive(Deserialize)]
struct FuturesPosition<'a> {
    #[serde(borrow)]
    s: Cow<'a, str>,
    #[serde(borrow)]
    pa: &'a str,
    #[serde(borrow)]
    ep: &'a str,
    #[serde(borrow)]
    up: &'a str,
    #[serde(borrow)]
    mt: &'a str,
    #[serde(borrow)]
    ps: &'a str,
}

#[derive(Deserialize)]
struct AccountUpdateBody<'a> {
    #[serde(rename = "B", default, borrow)]
    balances: Vec<FuturesBalance<'a>>,
    #[serde(rename = "P", default, borrow)]
    positions: Vec<FuturesPosition<'a>>,
}

/// One user-data event, by its `e`.
#[derive(Deserialize)]
#[serde(tag = "e")]
enum AccountEvent<'a> {
    #[serde(rename = "executionReport")]
    Execution(#[serde(borrow)] Box<ExecutionReport<'a>>),
    #[serde(rename = "outboundAccountPosition")]
    AccountPosition {
        #[serde(rename = "u")]
        updated: u64,
        #[serde(rename = "B", borrow)]
        balances: Vec<SpotBalance<'a>>,
    },
    #[serde(rename = "ORDER_TRADE_UPDATE")]
    OrderTrade {
        #[serde(rename = "o", borrow)]
        order: Box<FuturesOrder<'a>>,
    },
    #[serde(rename = "ACCOUNT_UPDATE")]
    AccountUpdate {
        #[serde(rename = "T")]
        time: u64,
        #[serde(rename = "a", borrow)]
        body: AccountUpdateBody<'a>,
    },
    /// balanceUpdate, listenKeyExpired, eventStreamTerminated: notices (name and `E`).
    #[serde(other)]
    Other,
}

/// `{"e":..,"E":..}`: the name and event time of a notice-like event.
#[derive(Deserialize)]
struct EventHead<'a> {
    #[serde(borrow)]
    e: Cow<'a, str>,
    #[serde(rename = "E", default)]
    time: Option<u64>,
}

/// The spot WebSocket API's event envelope `{"subscriptionId":N,"event":{...}}`.
#[derive(Deserialize)]
struct SubscriptionEvent<'a> {
    #[serde(borrow)]
    event: &'a RawValue,
}

fn side_of(text: &str, field: &str) -> Result<Side, Error> {
    match text {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        other => Err(Error::frame(field, format!("{other:?} is neither BUY nor SELL"))),
    }
}

fn status_of(text: &str, field: &str) -> Result<OrderStatus, Error> {
    Ok(match text {
        "NEW" | "NEW_INSURANCE" | "NEW_ADL" => OrderStatus::New,
        "PENDING_NEW" => OrderStatus::Pending,
        "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "CANCELED" | "PENDING_CANCEL" => OrderStatus::Canceled,
        "REJECTED" => OrderStatus::Rejected,
        "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Expired,
        other => return Err(Error::frame(field, format!("unknown order status {other:?}"))),
    })
}

fn order_type_of(text: &str, market: Market, field: &str) -> Result<&'static str, Error> {
    use crate::account::order_type as t;
    Ok(match (text, market) {
        ("LIMIT", _) => t::LIMIT,
        ("MARKET" | "LIQUIDATION", _) => t::MARKET,
        ("LIMIT_MAKER", Market::Spot) => t::LIMIT_MAKER,
        ("STOP_LOSS", Market::Spot) | ("STOP_MARKET", Market::UsdM) => t::STOP_MARKET,
        ("STOP_LOSS_LIMIT", Market::Spot) | ("STOP", Market::UsdM) => t::STOP_LIMIT,
        ("TAKE_PROFIT", Market::Spot) | ("TAKE_PROFIT_MARKET", Market::UsdM) => t::TAKE_PROFIT_MARKET,
        ("TAKE_PROFIT_LIMIT", Market::Spot) | ("TAKE_PROFIT", Market::UsdM) => t::TAKE_PROFIT_LIMIT,
        ("TRAILING_STOP_MARKET", Market::UsdM) => t::TRAILING_STOP,
        (other, _) => return Err(Error::frame(field, format!("unknown {} order type {other:?}", market.name()))),
    })
}

fn time_in_force_of(text: &str, field: &str) -> Result<&'static str, Error> {
    use crate::account::time_in_force as f;
    Ok(match text {
        "GTC" => f::GTC,
        "IOC" => f::IOC,
        "FOK" => f::FOK,
        "GTX" => f::POST_ONLY,
        "GTD" => f::GTD,
        other => return Err(Error::frame(field, format!("unknown time in force {other:?}"))),
    })
}

fn dec_field(text: &str, field: &'static str) -> Result<Dec, Error> {
    fixed::parse_dec(text, field)
}

/// A price where Binance writes 0 for "none" (market orders, no stop, no fill yet).
fn price_or_none(text: &str, field: &'static str) -> Result<Option<Dec>, Error> {
    let v = non_negative(text, field)?;
    Ok((v.mantissa != 0).then_some(v))
}

/// `a + b`, exact (the wider width), or a frame error naming `field` on overflow.
fn dec_sum(a: Dec, b: Dec, field: &'static str) -> Result<Dec, Error> {
    let width = a.width.max(b.width);
    let (Some(x), Some(y)) = (a.to_scale(width), b.to_scale(width)) else {
        return Err(Error::frame(field, "too many digits"));
    };
    let mantissa = x.checked_add(y).ok_or_else(|| Error::frame(field, "too many digits"))?;
    Ok(Dec { mantissa, width })
}

/// The spot average fill price `Z / z` when it is an exact decimal of at most 18 places (None
/// before a fill or if the quotient does not terminate there: Binance sends no average).
fn exact_average(quote: Dec, filled: Dec) -> Option<Dec> {
    if filled.mantissa <= 0 || quote.mantissa < 0 {
        return None;
    }
    let (q, f) = (i128::from(quote.mantissa), i128::from(filled.mantissa));
    // value = (q / 10^wq) / (f / 10^wf) = q * 10^wf / (f * 10^wq); find the fewest places.
    for width in 0..=fixed::MAX_SCALE {
        let num = q * 10i128.pow(u32::from(filled.width) + u32::from(width));
        let den = f * 10i128.pow(u32::from(quote.width));
        if num % den == 0 {
            let mantissa = i64::try_from(num / den).ok()?;
            return Some(Dec { mantissa, width });
        }
    }
    None
}

/// A text id of a message (`i`, `t`).
fn id_text(v: u64) -> String {
    v.to_string()
}

// --- user-data fast path ----------------------------------------------------------------------
//
// Order updates (`executionReport`, `ORDER_TRADE_UPDATE`) are read with the `json::Cursor`, as
// trades are: serde's internally tagged enum buffers every field of the event before it picks
// the variant, and that code is cold between fills (a cold fill decoded in ~38 µs against ~17 µs
// for a trade). The readers below only fill the same structs serde fills, and the same functions
// then map them; anything they do not expect (escapes, duplicate keys, a negative trade id, a
// missing field, malformed JSON) gives None and the event takes the serde path, which reports
// the fault exactly as before.

/// Set `slot` once: a key seen twice is for serde to report.
#[inline]
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// A string without escapes, borrowed.
#[inline]
fn text<'a>(c: &mut Cursor<'a>, field: &str) -> Option<&'a str> {
    c.str(field).ok()
}

/// An optional string (`null` is None, as serde's `Option` has it).
#[inline]
fn text_or_null<'a>(c: &mut Cursor<'a>, field: &str) -> Result<Option<&'a str>, Error> {
    if c.null() {
        return Ok(None);
    }
    c.str(field).map(Some)
}

/// A trade id as serde reads an `i64`: a non-negative one, or spot's `-1` (no trade). The
/// cursor reads `-1` as a decimal, which would take `-01` too: so the one negative `"t":` in
/// `data` must be `-1` written plainly.
#[inline]
fn trade_id(c: &mut Cursor<'_>, data: &[u8], field: &'static str) -> Option<i64> {
    if let Ok(v) = c.u64(field) {
        return i64::try_from(v).ok();
    }
    let d = c.dec_number(field).ok()?;
    let mut negative = memchr::memmem::find_iter(data, br#""t":-"#);
    let at = negative.next()?;
    let plain = matches!(data.get(at + 5..at + 7), Some(b"1," | b"1}")) && negative.next().is_none();
    (d.mantissa == -1 && d.width == 0 && plain).then_some(-1)
}

/// An order update (`executionReport`, `ORDER_TRADE_UPDATE`, with `e` first as Binance writes
/// it) into `out` through the same mapping as serde's; None for any other event or anything
/// unexpected (then nothing was pushed).
fn order_update_fast(venue: Binance, data: &[u8], out: &mut Out) -> Option<Result<(), Error>> {
    let mut c = Cursor::new(data);
    c.begin_object().ok()?;
    let mut first = true;
    if !c.at_key(b"e", &mut first) {
        return None;
    }
    match text(&mut c, "e")? {
        "ORDER_TRADE_UPDATE" => {
            let mut order = None;
            while let Some(key) = c.next_key(&mut first).ok()? {
                match key {
                    b"o" => once(&mut order, futures_order_body(&mut c, data)?)?,
                    b"e" => return None, // a second tag: serde reports it
                    _ => c.skip_value("json").ok()?,
                }
            }
            c.end().ok()?;
            Some(venue.futures_order(&order?, out))
        }
        "executionReport" => {
            let report = execution_report_body(&mut c, data, &mut first)?;
            c.end().ok()?;
            Some(venue.execution_report(&report, out))
        }
        _ => None,
    }
}

/// The `o` object of an `ORDER_TRADE_UPDATE`.
fn futures_order_body<'a>(c: &mut Cursor<'a>, data: &[u8]) -> Option<FuturesOrder<'a>> {
    let (mut symbol, mut client_id, mut side, mut order_type, mut time_in_force) = (None, None, None, None, None);
    let (mut quantity, mut price, mut average, mut stop_price, mut exec_type) = (None, None, None, None, None);
    let (mut status, mut order_id, mut last_size, mut filled, mut last_price) = (None, None, None, None, None);
    let (mut fee_asset, mut fee, mut time, mut trade) = (None, None, None, None);
    let (mut maker, mut reduce_only, mut original_type) = (None, None, None);
    c.begin_object().ok()?;
    let mut first = true;
    while let Some(key) = c.next_key(&mut first).ok()? {
        match key {
            b"s" => once(&mut symbol, Cow::Borrowed(text(c, "o.s")?))?,
            b"c" => once(&mut client_id, Cow::Borrowed(text(c, "o.c")?))?,
            b"S" => once(&mut side, text(c, "o.S")?)?,
            b"o" => once(&mut order_type, text(c, "o.o")?)?,
            b"f" => once(&mut time_in_force, text(c, "o.f")?)?,
            b"q" => once(&mut quantity, text(c, "o.q")?)?,
            b"p" => once(&mut price, text(c, "o.p")?)?,
            b"ap" => once(&mut average, text(c, "o.ap")?)?,
            b"sp" => once(&mut stop_price, text(c, "o.sp")?)?,
            b"x" => once(&mut exec_type, text(c, "o.x")?)?,
            b"X" => once(&mut status, text(c, "o.X")?)?,
            b"i" => once(&mut order_id, c.u64("o.i").ok()?)?,
            b"l" => once(&mut last_size, text(c, "o.l")?)?,
            b"z" => once(&mut filled, text(c, "o.z")?)?,
            b"L" => once(&mut last_price, text(c, "o.L")?)?,
            b"N" => once(&mut fee_asset, text_or_null(c, "o.N").ok()?.map(Cow::Borrowed))?,
            b"n" => once(&mut fee, text_or_null(c, "o.n").ok()?)?,
            b"T" => once(&mut time, c.u64("o.T").ok()?)?,
            b"t" => once(&mut trade, trade_id(c, data, "o.t")?)?,
            b"m" => once(&mut maker, c.bool("o.m").ok()?)?,
            b"R" => once(&mut reduce_only, c.bool("o.R").ok()?)?,
            b"ot" => once(&mut original_type, text_or_null(c, "o.ot").ok()?)?,
            _ => c.skip_value("json").ok()?,
        }
    }
    Some(FuturesOrder {
        s: symbol?,
        c: client_id?,
        side: side?,
        o: order_type?,
        f: time_in_force?,
        q: quantity?,
        p: price?,
        ap: average?,
        sp: stop_price?,
        x: exec_type?,
        status: status?,
        i: order_id?,
        l: last_size?,
        z: filled?,
        last_price: last_price?,
        fee_asset: fee_asset.flatten(),
        n: fee.flatten(),
        time: time?,
        t: trade?,
        m: maker?,
        reduce_only: reduce_only?,
        ot: original_type.flatten(),
    })
}

/// The members after `e` of a spot `executionReport`.
fn execution_report_body<'a>(c: &mut Cursor<'a>, data: &[u8], first: &mut bool) -> Option<ExecutionReport<'a>> {
    let (mut symbol, mut client_id, mut original_client_id, mut side, mut order_type) = (None, None, None, None, None);
    let (mut time_in_force, mut quantity, mut price, mut stop_price, mut exec_type) = (None, None, None, None, None);
    let (mut status, mut order_id, mut last_size, mut filled, mut last_price) = (None, None, None, None, None);
    let (mut fee, mut fee_asset, mut time, mut trade, mut maker, mut created, mut cum_quote) =
        (None, None, None, None, None, None, None);
    while let Some(key) = c.next_key(first).ok()? {
        match key {
            b"s" => once(&mut symbol, Cow::Borrowed(text(c, "s")?))?,
            b"c" => once(&mut client_id, Cow::Borrowed(text(c, "c")?))?,
            b"C" => once(&mut original_client_id, text_or_null(c, "C").ok()?.map(Cow::Borrowed))?,
            b"S" => once(&mut side, text(c, "S")?)?,
            b"o" => once(&mut order_type, text(c, "o")?)?,
            b"f" => once(&mut time_in_force, text(c, "f")?)?,
            b"q" => once(&mut quantity, text(c, "q")?)?,
            b"p" => once(&mut price, text(c, "p")?)?,
            b"P" => once(&mut stop_price, text(c, "P")?)?,
            b"x" => once(&mut exec_type, text(c, "x")?)?,
            b"X" => once(&mut status, text(c, "X")?)?,
            b"i" => once(&mut order_id, c.u64("i").ok()?)?,
            b"l" => once(&mut last_size, text(c, "l")?)?,
            b"z" => once(&mut filled, text(c, "z")?)?,
            b"L" => once(&mut last_price, text(c, "L")?)?,
            b"n" => once(&mut fee, text_or_null(c, "n").ok()?)?,
            b"N" => once(&mut fee_asset, text_or_null(c, "N").ok()?.map(Cow::Borrowed))?,
            b"T" => once(&mut time, c.u64("T").ok()?)?,
            b"t" => once(&mut trade, trade_id(c, data, "t")?)?,
            b"m" => once(&mut maker, c.bool("m").ok()?)?,
            b"O" => once(&mut created, c.u64("O").ok()?)?,
            b"Z" => once(&mut cum_quote, text(c, "Z")?)?,
            b"e" => return None,
            _ => c.skip_value("json").ok()?,
        }
    }
    Some(ExecutionReport {
        symbol: symbol?,
        client_id: client_id?,
        original_client_id: original_client_id.flatten(),
        side: side?,
        order_type: order_type?,
        time_in_force: time_in_force?,
        size: quantity?,
        price: price?,
        stop_price: stop_price?,
        exec_type: exec_type?,
        status: status?,
        order_id: order_id?,
        last_size: last_size?,
        filled: filled?,
        last_price: last_price?,
        fee: fee.flatten(),
        fee_asset: fee_asset.flatten(),
        time: time?,
        trade_id: trade?,
        maker: maker?,
        created: created?,
        cum_quote: cum_quote?,
    })
}

/// The `event` object of the spot envelope `{"subscriptionId":N,"event":{...}}` written the
/// way Binance writes it (no spaces, those two keys); None otherwise (serde then splits it).
fn subscription_event(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(br#"{"subscriptionId":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    rest[digits..].strip_prefix(br#","event":"#)?.strip_suffix(b"}")
}

impl Binance {
    /// A user-data event (`data`: the event object) into `out.items`.
    fn account_event(self, data: &[u8], out: &mut Out) -> Result<(), Error> {
        match from_json::<AccountEvent>(data)? {
            AccountEvent::Execution(r) => self.execution_report(&r, out),
            AccountEvent::AccountPosition { updated, balances } => {
                let exchange_ts = ms_to_ns(updated, "u")?;
                for b in balances {
                    let free = non_negative(b.f, "B.f")?;
                    let locked = non_negative(b.l, "B.l")?;
                    out.items.push(Item::Balance(Box::new(BalanceItem {
                        asset: b.a.into_owned(),
                        free: Some(free),
                        locked: Some(locked),
                        total: Some(dec_sum(free, locked, "B")?),
                        exchange_ts,
                    })));
                }
                Ok(())
            }
            AccountEvent::OrderTrade { order } => self.futures_order(&order, out),
            AccountEvent::AccountUpdate { time, body } => {
                let exchange_ts = ms_to_ns(time, "T")?;
                for b in body.balances {
                    out.items.push(Item::Balance(Box::new(BalanceItem {
                        asset: b.a.into_owned(),
                        free: None,
                        locked: None,
                        total: Some(dec_field(b.wb, "a.B.wb")?),
                        exchange_ts,
                    })));
                }
                for p in body.positions {
                    let amount = dec_field(p.pa, "a.P.pa")?;
                    let side = match (p.ps, amount.mantissa.signum()) {
                        (_, 0) => PositionSide::Flat,
                        ("LONG", _) | ("BOTH", 1) => PositionSide::Long,
                        ("SHORT", _) | ("BOTH", -1) => PositionSide::Short,
                        (other, _) => return Err(Error::frame("a.P.ps", format!("unknown position side {other:?}"))),
                    };
                    let margin_mode = match p.mt {
                        "isolated" | "ISOLATED" => MarginMode::Isolated,
                        "cross" | "CROSSED" | "crossed" => MarginMode::Cross,
                        other => return Err(Error::frame("a.P.mt", format!("unknown margin type {other:?}"))),
                    };
                    let symbol = out.symbol(&p.s);
                    out.items.push(Item::Position(Box::new(PositionItem {
                        symbol,
                        side,
                        size: Dec { mantissa: amount.mantissa.abs(), width: amount.width },
                        entry_price: price_or_none(p.ep, "a.P.ep")?,
                        mark_price: None,
                        unrealized_pnl: Some(dec_field(p.up, "a.P.up")?),
                        liquidation_price: None,
                        leverage: None,
                        margin_mode: Some(margin_mode),
                        exchange_ts,
                    })));
                }
                Ok(())
            }
            AccountEvent::Other => {
                let head: EventHead = from_json(data)?;
                if !is_account_event(&head.e) {
                    return Ok(()); // a user-data event tickwire does not decode (listStatus, ...)
                }
                let exchange_ts = head.time.map(|t| ms_to_ns(t, "E")).transpose()?;
                out.items.push(Item::Notice { name: head.e.into_owned(), exchange_ts });
                Ok(())
            }
        }
    }

    fn execution_report(self, r: &ExecutionReport, out: &mut Out) -> Result<(), Error> {
        let side = side_of(r.side, "S")?;
        let exchange_ts = ms_to_ns(r.time, "T")?;
        // On a cancel, `c` is the cancel request's id and `C` the canceled order's.
        let client = match &r.original_client_id {
            Some(c) if !c.is_empty() => c.as_ref(),
            _ => r.client_id.as_ref(),
        };
        let client_order_id = (!client.is_empty()).then(|| client.to_owned());
        let symbol = out.symbol(&r.symbol);
        if out.skip_orders {
            return Self::execution_fill(r, side, symbol, client_order_id, exchange_ts, out);
        }
        let status = status_of(r.status, "X")?;
        let quantity = non_negative(r.size, "q")?;
        let filled = non_negative(r.filled, "z")?;
        out.items.push(Item::Order(Box::new(OrderItem {
            symbol,
            order_id: id_text(r.order_id),
            client_order_id: client_order_id.clone(),
            side,
            order_type: order_type_of(r.order_type, self.market, "o")?,
            time_in_force: Some(time_in_force_of(r.time_in_force, "f")?),
            status,
            price: price_or_none(r.price, "p")?,
            trigger_price: price_or_none(r.stop_price, "P")?,
            size: quantity,
            filled_size: filled,
            average_price: exact_average(non_negative(r.cum_quote, "Z")?, filled),
            reduce_only: None,
            created_ts: Some(ms_to_ns(r.created, "O")?),
            exchange_ts,
        })));
        Self::execution_fill(r, side, symbol, client_order_id, exchange_ts, out)
    }

    /// The fill of a spot `executionReport` (`x` TRADE), if it is one.
    fn execution_fill(
        r: &ExecutionReport,
        side: Side,
        symbol: SymbolIndex,
        client_order_id: Option<String>,
        exchange_ts: i64,
        out: &mut Out,
    ) -> Result<(), Error> {
        if r.exec_type == "TRADE" {
            let trade_id = u64::try_from(r.trade_id).map_err(|_| Error::frame("t", "a TRADE without a trade id"))?;
            out.items.push(Item::Fill(Box::new(FillItem {
                symbol,
                trade_id: id_text(trade_id),
                order_id: id_text(r.order_id),
                client_order_id,
                side,
                price: non_negative(r.last_price, "L")?,
                size: non_negative(r.last_size, "l")?,
                fee: r.fee.map(|n| dec_field(n, "n")).transpose()?,
                fee_asset: r.fee_asset.as_ref().map(|a| a.clone().into_owned()),
                is_maker: Some(r.maker),
                liquidation: None,
                exchange_ts,
            })));
        }
        Ok(())
    }

    fn futures_order(self, o: &FuturesOrder, out: &mut Out) -> Result<(), Error> {
        let side = side_of(o.side, "o.S")?;
        let exchange_ts = ms_to_ns(o.time, "o.T")?;
        let client_order_id = (!o.c.is_empty()).then(|| o.c.clone().into_owned());
        // Liquidation and ADL orders: type LIQUIDATION and client ids `autoclose-...`,
        // `adl_autoclose` (and `settlement_autoclose-...` at delivery), per the USD-M docs.
        let liquidation = o.o == "LIQUIDATION"
            || o.ot == Some("LIQUIDATION")
            || o.c.starts_with("autoclose-")
            || o.c.starts_with("adl_autoclose")
            || o.c.starts_with("settlement_autoclose-");
        let symbol = out.symbol(&o.s);
        if !out.skip_orders {
            self.futures_order_item(o, side, symbol, client_order_id.clone(), exchange_ts, out)?;
        }
        // TRADE; CALCULATED is the liquidation's own execution (a fill of the account too).
        if o.x == "TRADE" || o.x == "CALCULATED" {
            let trade_id = u64::try_from(o.t).map_err(|_| Error::frame("o.t", "a TRADE without a trade id"))?;
            out.items.push(Item::Fill(Box::new(FillItem {
                symbol,
                trade_id: id_text(trade_id),
                order_id: id_text(o.i),
                client_order_id,
                side,
                price: non_negative(o.last_price, "o.L")?,
                size: non_negative(o.l, "o.l")?,
                fee: o.n.map(|n| dec_field(n, "o.n")).transpose()?,
                fee_asset: o.fee_asset.as_ref().map(|a| a.clone().into_owned()),
                is_maker: Some(o.m),
                liquidation: Some(liquidation),
                exchange_ts,
            })));
        }
        Ok(())
    }

    /// The order update of an `ORDER_TRADE_UPDATE` (left out when `out.skip_orders`).
    fn futures_order_item(
        self,
        o: &FuturesOrder,
        side: Side,
        symbol: SymbolIndex,
        client_order_id: Option<String>,
        exchange_ts: i64,
        out: &mut Out,
    ) -> Result<(), Error> {
        out.items.push(Item::Order(Box::new(OrderItem {
            symbol,
            order_id: id_text(o.i),
            client_order_id,
            side,
            order_type: order_type_of(o.o, self.market, "o.o")?,
            time_in_force: Some(time_in_force_of(o.f, "o.f")?),
            status: status_of(o.status, "o.X")?,
            price: price_or_none(o.p, "o.p")?,
            trigger_price: price_or_none(o.sp, "o.sp")?,
            size: non_negative(o.q, "o.q")?,
            filled_size: non_negative(o.z, "o.z")?,
            average_price: price_or_none(o.ap, "o.ap")?,
            reduce_only: Some(o.reduce_only),
            created_ts: None,
            exchange_ts,
        })));
        Ok(())
    }

    /// A user-data frame: the spot WebSocket API envelope, a raw USD-M event, or a combined
    /// `{"stream":..,"data":..}` one (`data` already split off).
    fn account_frame(self, data: &[u8], out: &mut Out) -> Result<(), Error> {
        if let Some(done) = order_update_fast(self, subscription_event(data).unwrap_or(data), out) {
            return done;
        }
        if data.starts_with(br#"{"subscriptionId""#) || memchr::memmem::find(data, b"\"subscriptionId\"").is_some() {
            if let Ok(env) = from_json::<SubscriptionEvent>(data) {
                return self.account_event(env.event.get().as_bytes(), out);
            }
        }
        self.account_event(data, out)
    }

    /// `GET /api/v3/myTrades` / `/fapi/v1/userTrades` (fills) and `GET /api/v3/allOrders` /
    /// `/fapi/v1/allOrders` (orders).
    fn account_list(self, what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        let at = |i: usize, e: Error| match e {
            Error::Frame { field, reason } => Error::frame(format!("[{i}].{field}"), reason),
            other => other,
        };
        match what {
            AccountList::Fills => {
                let list: Vec<RestFill> = from_json(body)?;
                for (i, f) in list.iter().enumerate() {
                    let item = Self::rest_fill(f, out).map_err(|e| at(i, e))?;
                    out.items.push(Item::Fill(Box::new(item)));
                }
            }
            AccountList::Orders => {
                let list: Vec<RestOrder> = from_json(body)?;
                for (i, o) in list.iter().enumerate() {
                    let item = self.rest_order(o, out).map_err(|e| at(i, e))?;
                    out.items.push(Item::Order(Box::new(item)));
                }
            }
        }
        Ok(())
    }

    fn rest_fill(f: &RestFill, out: &mut Out) -> Result<FillItem, Error> {
        let side = match (f.is_buyer, f.side) {
            (Some(buyer), _) => {
                if buyer {
                    Side::Buy
                } else {
                    Side::Sell
                }
            }
            (None, Some(s)) => side_of(s, "side")?,
            (None, None) => return Err(Error::frame("side", "missing field (isBuyer or side)")),
        };
        Ok(FillItem {
            symbol: out.symbol(&f.symbol),
            trade_id: id_text(f.id),
            order_id: id_text(f.order_id),
            client_order_id: None,
            side,
            price: non_negative(f.price, "price")?,
            size: non_negative(f.qty, "qty")?,
            fee: Some(dec_field(f.commission, "commission")?),
            fee_asset: Some(f.commission_asset.clone().into_owned()),
            is_maker: Some(f.is_maker.or(f.maker).ok_or_else(|| Error::frame("isMaker", "missing field"))?),
            liquidation: None,
            exchange_ts: ms_to_ns(f.time, "time")?,
        })
    }

    fn rest_order(self, o: &RestOrder, out: &mut Out) -> Result<OrderItem, Error> {
        let filled = non_negative(o.executed_qty, "executedQty")?;
        let average_price = match (o.avg_price, o.cum_quote) {
            (Some(ap), _) => price_or_none(ap, "avgPrice")?,
            (None, Some(z)) => exact_average(non_negative(z, "cummulativeQuoteQty")?, filled),
            (None, None) => None,
        };
        Ok(OrderItem {
            symbol: out.symbol(&o.symbol),
            order_id: id_text(o.order_id),
            client_order_id: (!o.client_order_id.is_empty()).then(|| o.client_order_id.clone().into_owned()),
            side: side_of(o.side, "side")?,
            order_type: order_type_of(o.order_type, self.market, "type")?,
            time_in_force: Some(time_in_force_of(o.time_in_force, "timeInForce")?),
            status: status_of(o.status, "status")?,
            price: price_or_none(o.price, "price")?,
            trigger_price: o.stop_price.map(|p| price_or_none(p, "stopPrice")).transpose()?.flatten(),
            size: non_negative(o.orig_qty, "origQty")?,
            filled_size: filled,
            average_price,
            reduce_only: o.reduce_only,
            created_ts: Some(ms_to_ns(o.time, "time")?),
            exchange_ts: ms_to_ns(o.update_time, "updateTime")?,
        })
    }
}

/// One entry of `myTrades` (spot: `isBuyer`, `isMaker`) or `userTrades` (USD-M: `side`,
/// `maker`).
#[derive(Deserialize)]
struct RestFill<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    id: u64,
    #[serde(rename = "orderId")]
    order_id: u64,
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    qty: &'a str,
    #[serde(borrow)]
    commission: &'a str,
    #[serde(rename = "commissionAsset", borrow)]
    commission_asset: Cow<'a, str>,
    time: u64,
    #[serde(rename = "isBuyer", default)]
    is_buyer: Option<bool>,
    #[serde(rename = "isMaker", default)]
    is_maker: Option<bool>,
    #[serde(default, borrow)]
    side: Option<&'a str>,
    #[serde(default)]
    maker: Option<bool>,
}

/// One entry of `allOrders` / `openOrders` (spot `cummulativeQuoteQty`, USD-M `avgPrice`,
/// `reduceOnly`).
#[derive(Deserialize)]
struct RestOrder<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(rename = "orderId")]
    order_id: u64,
    #[serde(rename = "clientOrderId", borrow)]
    client_order_id: Cow<'a, str>,
    #[serde(borrow)]
    price: &'a str,
    #[serde(rename = "origQty", borrow)]
    orig_qty: &'a str,
    #[serde(rename = "executedQty", borrow)]
    executed_qty: &'a str,
    #[serde(rename = "cummulativeQuoteQty", default, borrow)]
    cum_quote: Option<&'a str>,
    #[serde(rename = "avgPrice", default, borrow)]
    avg_price: Option<&'a str>,
    #[serde(borrow)]
    status: &'a str,
    #[serde(rename = "timeInForce", borrow)]
    time_in_force: &'a str,
    #[serde(rename = "type", borrow)]
    order_type: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(rename = "stopPrice", default, borrow)]
    stop_price: Option<&'a str>,
    #[serde(rename = "reduceOnly", default)]
    reduce_only: Option<bool>,
    time: u64,
    #[serde(rename = "updateTime")]
    update_time: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_name_agrees_with_the_byte_rule() {
        let rule = |n: &[u8]| n.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\');
        for bad in 0..=255u8 {
            for at in 0..20 {
                let mut name = b"ethusdt@depth@100ms!".to_vec();
                name[at] = bad;
                for len in [at + 1, 17, 20] {
                    let n = &name[..len.max(at + 1)];
                    assert_eq!(printable_name(n), rule(n), "{n:?}");
                }
            }
        }
    }
    use std::path::Path;

    const MS: i64 = 1_000_000;

    /// Both REST trade-list shapes, as Binance's REST docs print them (historicalTrades for
    /// `trade` streams, aggTrades for `aggTrade` streams); a bad body is a `FrameError`.
    #[test]
    fn rest_trade_lists_in_both_shapes() {
        let historical = br#"[{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}]"#;
        let aggregated = br#"[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":false,"M":true}]"#;
        let h = Binance::past_trades(historical).unwrap();
        assert_eq!(
            h,
            vec![TradeItem {
                trade_id: TradeId::Int(28457),
                price: Dec { mantissa: 400_000_100, width: 8 },
                size: Dec { mantissa: 1_200_000_000, width: 8 },
                side: Side::Sell,
                trade_ts: 1_499_865_549_590 * MS,
                exchange_ts: 1_499_865_549_590 * MS,
            }]
        );
        let a = Binance::past_trades(aggregated).unwrap();
        assert_eq!(
            a,
            vec![TradeItem {
                trade_id: TradeId::Int(26129),
                price: Dec { mantissa: 1_633_102, width: 8 },
                size: Dec { mantissa: 470_443_515, width: 8 },
                side: Side::Buy,
                trade_ts: 1_498_793_709_153 * MS,
                exchange_ts: 1_498_793_709_153 * MS,
            }]
        );
        for bad in [
            &br#"{"code":-2014,"msg":"API-key format invalid."}"#[..],
            br#"[{"id":1,"price":"x","qty":"1","time":1,"isBuyerMaker":true}]"#,
        ] {
            assert!(matches!(Binance::past_trades(bad), Err(Error::Frame { .. })), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// The depth-rate match of `kind_of_stream` and the list `depth_rates` (used in messages)
    /// say the same: every rate either market publishes is a diff stream on exactly its market.
    #[test]
    fn depth_stream_rates_per_market() {
        let all: Vec<&str> =
            [Market::Spot, Market::UsdM].iter().flat_map(|m| m.depth_rates().iter().copied()).collect();
        for venue in [&SPOT, &USDM] {
            assert_eq!(venue.kind_of_stream("ethusdt@depth"), Kind::Depth);
            assert_eq!(venue.kind_of_stream("ethusdt@depth5@100ms"), Kind::Other); // a partial book
            for rate in all.iter().copied().chain(["50ms", ""]) {
                let want = if venue.market.depth_rates().contains(&rate) { Kind::Depth } else { Kind::ForeignDepth };
                assert_eq!(venue.kind_of_stream(&format!("ethusdt@depth@{rate}")), want, "{} {rate}", venue.id);
            }
        }
    }

    /// Whatever a layout fast path accepts, the generic parser reads identically; and the fast
    /// path does accept the exchange's own layouts (else it would be dead weight).
    #[test]
    fn fast_paths_agree_with_the_generic_parser_on_every_recorded_frame() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for (sub, venue) in [("binance", &SPOT), ("binanceusdm", &USDM)] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "jsonl") || path.to_string_lossy().contains("docs_tier") {
                    continue;
                }
                let text = std::fs::read(&path).unwrap();
                let (mut fast_hits, mut frames) = (0, 0);
                for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let Some((stream, data)) = split_envelope(line).unwrap() else { continue };
                    let (mut a, mut b) = (Out::default(), Out::default());
                    let kind = venue.kind_of_stream(&stream);
                    let fast = match kind {
                        Kind::Depth => venue.depth_fast(data, &mut a),
                        Kind::BookTicker => venue.book_ticker_fast(data),
                        Kind::Trade => venue.trade_fast(data),
                        _ => continue,
                    };
                    let generic = match kind {
                        Kind::Depth => venue.depth_generic(data, data, &mut b),
                        Kind::BookTicker => venue.book_ticker_generic(data, data),
                        _ => venue.trade_generic(data, data),
                    }
                    .unwrap();
                    frames += 1;
                    if let Some(fast) = fast {
                        fast_hits += 1;
                        assert_eq!(fast, generic, "{}", String::from_utf8_lossy(line));
                        assert_eq!((a.bids, a.asks), (b.bids, b.asks));
                    }
                }
                if path.to_string_lossy().contains("ethusdt") {
                    assert!(fast_hits * 10 >= frames * 9, "{path:?}: fast path took {fast_hits} of {frames}");
                }
            }
        }
    }
}

/// The documented book-sync rules (binance.md §5), one table per rule: every verdict and its
/// boundaries. `U`, `u`, `pu` are a delta's first, final and previous-final update ids.
#[cfg(test)]
mod sync_rules {
    use super::*;
    use Verdict::{Apply, Gap, Stale};

    fn ids(first: u64, last: u64, prev: Option<u64>) -> SeqIds {
        SeqIds { first, last, prev }
    }

    fn check(rule: &str, table: &[(SeqIds, Verdict)], verdict: impl Fn(&SeqIds) -> Verdict) {
        for (d, want) in table {
            assert_eq!(verdict(d), *want, "{rule}: {d:?}");
        }
    }

    /// Spot, first delta after a snapshot with lastUpdateId 100: drop u <= 100; then
    /// U <= 101 <= u applies; U > 101 is a gap.
    #[test]
    fn spot_first_delta() {
        #[rustfmt::skip]
        let table = [
            (ids(90, 99, None), Stale),
            (ids(90, 100, None), Stale),                 // u == lastUpdateId: still old
            (ids(90, 101, None), Apply),                 // u == lastUpdateId + 1
            (ids(101, 101, None), Apply),                // U == lastUpdateId + 1
            (ids(50, 500, None), Apply),
            (ids(102, 110, None), Gap { expected: 101, received: 102 }),
        ];
        check("spot first_delta", &table, |d| SPOT.first_delta(100, d));
    }

    /// Spot, later deltas with the book at 100: u <= 100 is old; U <= 101 applies (U == 101
    /// normally); U > 101 is a gap.
    #[test]
    fn spot_next_delta() {
        #[rustfmt::skip]
        let table = [
            (ids(1, 2, None), Stale),
            (ids(95, 100, None), Stale),                 // u == book id
            (ids(101, 101, None), Apply),                // U == book id + 1: the normal case
            (ids(99, 105, None), Apply),                 // overlapping
            (ids(102, 105, None), Gap { expected: 101, received: 102 }),
        ];
        check("spot next_delta", &table, |d| SPOT.next_delta(100, d));
    }

    /// USD-M, first delta after a snapshot with lastUpdateId 100: drop u < 100; then
    /// U <= 100 <= u applies (no +1), or pu == 100; anything else is a gap.
    #[test]
    fn usdm_first_delta() {
        #[rustfmt::skip]
        let table = [
            (ids(90, 99, Some(89)), Stale),
            (ids(90, 100, Some(89)), Apply),             // u == lastUpdateId: applies on USD-M
            (ids(100, 100, Some(99)), Apply),            // U == lastUpdateId
            (ids(90, 120, Some(89)), Apply),
            (ids(101, 120, Some(100)), Apply),           // pu == lastUpdateId
            (ids(101, 120, Some(99)), Gap { expected: 100, received: 101 }),
            (ids(101, 120, None), Gap { expected: 100, received: 101 }),
        ];
        check("usdm first_delta", &table, |d| USDM.first_delta(100, d));
    }

    /// USD-M, later deltas with the book at 100: pu == 100 applies; else u <= 100 is old;
    /// else a gap (expected the book's id, received pu).
    #[test]
    fn usdm_next_delta() {
        #[rustfmt::skip]
        let table = [
            (ids(101, 110, Some(100)), Apply),
            (ids(90, 95, Some(89)), Stale),
            (ids(95, 100, Some(94)), Stale),             // u == book id
            (ids(101, 110, Some(101)), Gap { expected: 100, received: 101 }),
            (ids(101, 110, Some(99)), Gap { expected: 100, received: 99 }),
            (ids(101, 110, None), Gap { expected: 100, received: 0 }),
        ];
        check("usdm next_delta", &table, |d| USDM.next_delta(100, d));
    }

    /// Frames are routed to the account parser by their event name (raw frames), the WS API
    /// envelope key, or a stream name no market stream has; market frames keep their kinds.
    #[test]
    fn account_frames_are_routed_by_shape() {
        assert_eq!(kind_of_raw(br#"{"subscriptionId":0,"event":{"e":"executionReport"}}"#), Kind::Account);
        assert_eq!(kind_of_raw(br#"{"e":"ORDER_TRADE_UPDATE","E":1}"#), Kind::Account);
        assert_eq!(kind_of_raw(br#"{"e":"depthUpdate","E":1}"#), Kind::Depth);
        assert_eq!(kind_of_raw(br#"{"e":"TRADE_LITE","E":1}"#), Kind::Other);
        let mut out = Out::default();
        let frame = br#"{"stream":"abc","data":{"e":"listenKeyExpired","E":1576653824250}}"#;
        let mut venue = USDM;
        venue.parse(frame, false, &mut out).unwrap();
        assert_eq!(
            out.items,
            vec![Item::Notice { name: "listenKeyExpired".into(), exchange_ts: Some(1_576_653_824_250_000_000) }]
        );
    }

    /// The docs' order updates, and fills made from them, as the cursor reads them and as
    /// serde reads them (`account_event`): the same items; and anything the cursor does not
    /// expect goes back to serde, which reports it as before.
    #[test]
    fn order_updates_read_by_the_cursor_match_serde() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance/private");
        let mut events = Vec::new();
        for file in ["spot_user_data.jsonl", "usdm_user_data.jsonl"] {
            for line in std::fs::read_to_string(dir.join(file)).unwrap().lines() {
                let data = match split_envelope(line.as_bytes()).unwrap() {
                    Some((_, data)) => data,
                    None => line.as_bytes(),
                };
                let event = subscription_event(data).unwrap_or(data);
                if memchr::memmem::find(event, b"executionReport").is_some()
                    || memchr::memmem::find(event, b"ORDER_TRADE_UPDATE").is_some()
                {
                    events.push(String::from_utf8(event.to_vec()).unwrap());
                }
            }
        }
        assert_eq!(events.len(), 2, "one order update per market in the docs' examples");
        // The same updates as fills (a TRADE with a trade id and a size).
        let fills: Vec<String> = events
            .iter()
            .map(|e| {
                e.replace(r#""x":"NEW""#, r#""x":"TRADE""#)
                    .replace(r#""t":-1,"#, r#""t":77,"#)
                    .replace(r#""t":0,"#, r#""t":77,"#)
                    .replace(r#""l":"0.00000000""#, r#""l":"0.50000000""#)
                    .replace(r#""l":"0""#, r#""l":"0.001""#)
            })
            .collect();
        for (i, e) in events.iter().chain(&fills).enumerate() {
            // Each market reads its own event (order types differ: the other may refuse it).
            let own = if e.contains("executionReport") { SPOT } else { USDM };
            for venue in [SPOT, USDM] {
                let (mut fast, mut serde) = (Out::default(), Out::default());
                let done = order_update_fast(venue, e.as_bytes(), &mut fast).expect("the cursor reads it");
                let want = venue.account_event(e.as_bytes(), &mut serde);
                assert_eq!(done.map_err(|e| e.to_string()), want.map_err(|e| e.to_string()), "{e}");
                assert_eq!(fast.items, serde.items, "{e}");
                if venue.market == own.market {
                    let want_fill = i >= events.len();
                    assert_eq!(fast.items.iter().any(|it| matches!(it, Item::Fill(_))), want_fill, "{e}");
                }
            }
        }
        // Left to serde: a second key, an escape, a missing field, trailing bytes, `-01`, `e`
        // not first.
        let usdm = &fills[1];
        let spot = &fills[0];
        let odd = [
            usdm.replace(r#""s":"BTCUSDT","#, r#""s":"BTCUSDT","s":"ETHUSDT","#),
            usdm.replace(r#""c":"TEST""#, r#""c":"TE\u0053T""#),
            usdm.replace(r#""X":"NEW","#, ""),
            format!("{usdm} x"),
            spot.replace(r#""t":77,"#, r#""t":-01,"#),
            spot.replace(r#"{"e":"executionReport","#, r#"{"E":1,"e":"executionReport","#),
        ];
        for e in &odd {
            let mut out = Out::default();
            assert!(order_update_fast(USDM, e.as_bytes(), &mut out).is_none(), "{e}");
            assert!(out.items.is_empty());
            let (mut a, mut b) = (Out::default(), Out::default());
            let via_frame = USDM.account_frame(e.as_bytes(), &mut a).map_err(|e| e.to_string());
            assert_eq!(via_frame, USDM.account_event(e.as_bytes(), &mut b).map_err(|e| e.to_string()));
        }
        let enveloped = format!(r#"{{"subscriptionId":3,"event":{spot}}}"#);
        assert_eq!(subscription_event(enveloped.as_bytes()), Some(spot.as_bytes()));
        assert_eq!(subscription_event(format!(r#"{{"subscriptionId":03,"event":{spot}}}"#).as_bytes()), None);
    }

    /// With `skip_orders` (a fills-only feed) an order update yields exactly the fill it
    /// carries, identical to the one built with the order, on the cursor and the serde path,
    /// and nothing for an update without a fill.
    #[test]
    fn skip_orders_keeps_the_fill_and_drops_the_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance/private");
        let mut seen = 0;
        for (file, venue) in [("spot_user_data.jsonl", SPOT), ("usdm_user_data.jsonl", USDM)] {
            for line in std::fs::read_to_string(dir.join(file)).unwrap().lines() {
                let data = match split_envelope(line.as_bytes()).unwrap() {
                    Some((_, data)) => data,
                    None => line.as_bytes(),
                };
                let event = String::from_utf8(subscription_event(data).unwrap_or(data).to_vec()).unwrap();
                if !event.contains("executionReport") && !event.contains("ORDER_TRADE_UPDATE") {
                    continue;
                }
                let fill = event
                    .replace(r#""x":"NEW""#, r#""x":"TRADE""#)
                    .replace(r#""t":-1,"#, r#""t":77,"#)
                    .replace(r#""t":0,"#, r#""t":77,"#)
                    .replace(r#""l":"0.00000000""#, r#""l":"0.50000000""#)
                    .replace(r#""l":"0""#, r#""l":"0.001""#);
                // `E` first: the cursor declines it, serde reads it.
                let via_serde = fill.replacen(r#"{"e":"#, r#"{"E":1,"e":"#, 1);
                for (text, fills) in [(&event, 0), (&fill, 1), (&via_serde, 1)] {
                    let mut all = Out::default();
                    venue.account_frame(text.as_bytes(), &mut all).unwrap();
                    let mut only = Out { skip_orders: true, ..Out::default() };
                    venue.account_frame(text.as_bytes(), &mut only).unwrap();
                    let want: Vec<&Item> = all.items.iter().filter(|it| matches!(it, Item::Fill(_))).collect();
                    assert_eq!(want.len(), fills, "{text}");
                    assert!(all.items.iter().any(|it| matches!(it, Item::Order(_))), "{text}");
                    assert_eq!(only.items.iter().collect::<Vec<_>>(), want, "{text}");
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 6);
    }

    /// `Z / z` is kept only when it is an exact decimal; `a + b` is exact at the wider width.
    #[test]
    fn exact_sums_and_averages() {
        let d = |t: &str| fixed::parse_dec(t, "x").unwrap();
        assert_eq!(exact_average(d("0.04104"), d("0.4")), Some(d("0.1026")));
        assert_eq!(exact_average(d("1"), d("3")), None);
        assert_eq!(exact_average(d("5"), d("0")), None);
        assert_eq!(dec_sum(d("1.5"), d("0.25"), "x").unwrap(), d("1.75"));
    }
}
