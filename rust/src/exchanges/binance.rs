//! Binance Spot and USDⓈ-M futures market streams.
//!
//! Follows Binance's "WebSocket Streams" (spot) and "USDⓈ-M Futures WebSocket Market Streams"
//! docs, summarised in shared/docs/exchanges/binance.md: combined-stream envelope
//! `{"stream":"<name>","data":{...}}` or raw frames; `depthUpdate`, `bookTicker`, `trade`,
//! `aggTrade`, `kline`; SUBSCRIBE replies; and the two "manage a local order book correctly"
//! procedures, which differ between the markets (see `first_delta` / `next_delta`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{DeltaIds, Levels, Message, SnapshotIds, Venue, Verdict};
use crate::book::Level;
use crate::error::{json_error, Error};
use crate::event::{RequestId, Side};
use crate::fixed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Market {
    Spot,
    UsdM,
}

pub struct Binance {
    id: &'static str,
    market: Market,
}

/// Binance Spot (`binance`).
pub static SPOT: Binance = Binance { id: "binance", market: Market::Spot };
/// Binance USDⓈ-M futures (`binanceusdm`).
pub static USDM: Binance = Binance { id: "binanceusdm", market: Market::UsdM };

const MS: i64 = 1_000_000;

/// Quote assets, longest first, for splitting a concatenated market id ("LRCBTC" -> LRC/BTC).
const QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "BIDR", "IDRT", "BVND", "USD1", "EURI", "AEUR", "DAI",
    "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "GBP", "AUD", "RUB", "UAH", "ZAR", "NGN", "PLN", "RON",
    "ARS", "JPY", "MXN", "COP", "CZK", "XRP", "TRX", "DOT", "PAX", "VAI", "DOGE", "USD",
];

type RawLevels<'a> = Vec<(&'a str, &'a str)>;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct DepthUpdate<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "U")]
    first: u64,
    #[serde(rename = "u")]
    last: u64,
    #[serde(default)]
    pu: Option<u64>,
    #[serde(rename = "b", borrow)]
    bids: RawLevels<'a>,
    #[serde(rename = "a", borrow)]
    asks: RawLevels<'a>,
}

#[derive(Deserialize)]
struct BookTicker<'a> {
    #[serde(rename = "u")]
    update_id: u64,
    #[serde(rename = "E", default)]
    event_time: Option<i64>,
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "b", borrow)]
    bid_price: &'a str,
    #[serde(rename = "B", borrow)]
    bid_size: &'a str,
    #[serde(rename = "a", borrow)]
    ask_price: &'a str,
    #[serde(rename = "A", borrow)]
    ask_size: &'a str,
}

/// `trade` (id in `t`) and `aggTrade` (id in `a`) share everything else.
#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "t", default)]
    trade_id: Option<u64>,
    #[serde(rename = "a", default)]
    agg_id: Option<u64>,
    #[serde(rename = "p", borrow)]
    price: &'a str,
    #[serde(rename = "q", borrow)]
    size: &'a str,
    #[serde(rename = "T")]
    trade_time: i64,
    #[serde(rename = "m")]
    buyer_is_maker: bool,
}

#[derive(Deserialize)]
struct Kline<'a> {
    #[serde(rename = "E")]
    event_time: i64,
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "k", borrow)]
    k: KlineBody<'a>,
}

#[derive(Deserialize)]
struct KlineBody<'a> {
    t: i64,
    #[serde(rename = "T")]
    close_time: i64,
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
}

#[derive(Deserialize)]
struct Snapshot<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(rename = "E", default)]
    event_time: Option<i64>,
    #[serde(borrow)]
    bids: RawLevels<'a>,
    #[serde(borrow)]
    asks: RawLevels<'a>,
}

/// What a frame is, decided before it is parsed in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Depth,
    BookTicker,
    Trade,
    Kline,
    Control,
    Other,
}

/// Split a combined-stream frame into (stream name, data). The common layout is sliced
/// directly; any other layout (reordered keys, whitespace) goes through serde.
fn split_envelope(payload: &[u8]) -> Result<Option<(Cow<'_, str>, &[u8])>, Error> {
    const HEAD: &[u8] = br#"{"stream":""#;
    const MID: &[u8] = br#"","data":"#;
    if let Some(rest) = payload.strip_prefix(HEAD) {
        if let Some(q) = memchr::memchr(b'"', rest) {
            let end = payload.iter().rposition(|b| !b.is_ascii_whitespace()).unwrap_or(0);
            if rest[q..].starts_with(MID) && payload[end] == b'}' {
                let data = &rest[q + MID.len()..end - HEAD.len()];
                if let Ok(stream) = std::str::from_utf8(&rest[..q]) {
                    if !stream.contains('\\') {
                        return Ok(Some((Cow::Borrowed(stream), data)));
                    }
                }
            }
        }
    }
    if memchr::memmem::find(payload, b"\"stream\"").is_some() && memchr::memmem::find(payload, b"\"data\"").is_some() {
        let env: Envelope = serde_json::from_slice(payload).map_err(json_error)?;
        return Ok(Some((env.stream, env.data.get().as_bytes())));
    }
    Ok(None)
}

fn kind_of_stream(stream: &str) -> Kind {
    let channel = stream.split_once('@').map_or("", |(_, c)| c);
    match channel {
        "trade" | "aggTrade" => Kind::Trade,
        "bookTicker" => Kind::BookTicker,
        // `depth`, `depth@100ms`, `depth@0ms` are diffs; `depth5`/`depth10@100ms` are partial books.
        c if c == "depth" || c.starts_with("depth@") => Kind::Depth,
        c if c.starts_with("kline_") => Kind::Kline,
        _ => Kind::Other,
    }
}

/// Classify a raw (non-enveloped) frame by its event type `e`, or by its shape when it has none.
fn kind_of_raw(data: &[u8]) -> Kind {
    if let Some(at) = memchr::memmem::find(data, br#""e":""#) {
        let name = &data[at + 5..];
        let end = memchr::memchr(b'"', name).unwrap_or(0);
        return match &name[..end] {
            b"depthUpdate" => Kind::Depth,
            b"bookTicker" => Kind::BookTicker,
            b"trade" | b"aggTrade" => Kind::Trade,
            b"kline" => Kind::Kline,
            _ => Kind::Other,
        };
    }
    let has = |k: &[u8]| memchr::memmem::find(data, k).is_some();
    if has(br#""result""#) || has(br#""code""#) {
        Kind::Control
    } else if has(br#""lastUpdateId""#) {
        Kind::Other // partial book depth: not decoded yet
    } else if has(br#""u""#) && has(br#""B""#) && has(br#""A""#) {
        Kind::BookTicker // spot bookTicker has no `e`
    } else {
        Kind::Other
    }
}

#[inline]
fn parse_levels(raw: &RawLevels<'_>, out: &mut Vec<Level>, side: &'static str) -> Result<(), Error> {
    out.reserve(raw.len());
    for &(p, q) in raw {
        out.push(Level { price: fixed::parse(p, side)?, size: fixed::parse(q, side)? });
    }
    Ok(())
}

fn request_id(raw: Option<&RawValue>) -> Result<Option<RequestId>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(json_error)?;
        return Ok(Some(RequestId::Str(s)));
    }
    text.parse::<i64>()
        .map(|v| Some(RequestId::Int(v)))
        .map_err(|_| Error::frame("id", format!("{text} is neither an integer nor a string")))
}

impl Binance {
    fn depth<'a>(&self, data: &'a [u8], levels: &mut Levels) -> Result<Message<'a>, Error> {
        let d: DepthUpdate<'a> = serde_json::from_slice(data).map_err(json_error)?;
        if self.market == Market::UsdM && d.pu.is_none() {
            return Err(Error::frame("pu", "USD-M depthUpdate without previous final update id"));
        }
        parse_levels(&d.bids, &mut levels.bids, "b")?;
        parse_levels(&d.asks, &mut levels.asks, "a")?;
        Ok(Message::Depth {
            market_id: d.symbol,
            ids: DeltaIds { first: d.first, last: d.last, prev: d.pu },
            exchange_ts: d.event_time * MS,
        })
    }

    fn book_ticker<'a>(data: &'a [u8]) -> Result<Message<'a>, Error> {
        let t: BookTicker<'a> = serde_json::from_slice(data).map_err(json_error)?;
        Ok(Message::Bbo {
            market_id: t.symbol,
            bid: Level { price: fixed::parse(t.bid_price, "b")?, size: fixed::parse(t.bid_size, "B")? },
            ask: Level { price: fixed::parse(t.ask_price, "a")?, size: fixed::parse(t.ask_size, "A")? },
            update_id: t.update_id,
            exchange_ts: t.event_time.map(|e| e * MS),
        })
    }

    fn trade<'a>(data: &'a [u8]) -> Result<Message<'a>, Error> {
        let t: Trade<'a> = serde_json::from_slice(data).map_err(json_error)?;
        let trade_id = t.trade_id.or(t.agg_id).ok_or_else(|| Error::frame("t", "trade without an id"))?;
        Ok(Message::Trade {
            market_id: t.symbol,
            price: fixed::parse(t.price, "p")?,
            size: fixed::parse(t.size, "q")?,
            // `m`: the buyer was the maker, so the aggressor sold.
            side: if t.buyer_is_maker { Side::Sell } else { Side::Buy },
            trade_id,
            trade_ts: t.trade_time * MS,
            exchange_ts: t.event_time * MS,
        })
    }

    fn kline<'a>(data: &'a [u8]) -> Result<Message<'a>, Error> {
        let k: Kline<'a> = serde_json::from_slice(data).map_err(json_error)?;
        let b = &k.k;
        Ok(Message::Candle {
            market_id: k.symbol,
            interval: b.i,
            start_ts: b.t * MS,
            end_ts: b.close_time * MS,
            open: fixed::parse(b.o, "o")?,
            high: fixed::parse(b.h, "h")?,
            low: fixed::parse(b.l, "l")?,
            close: fixed::parse(b.c, "c")?,
            volume: fixed::parse(b.v, "v")?,
            trades: b.n,
            closed: b.x,
            exchange_ts: k.event_time * MS,
        })
    }

    fn control<'a>(data: &'a [u8]) -> Result<Message<'a>, Error> {
        let c: Control<'a> = serde_json::from_slice(data).map_err(json_error)?;
        Ok(Message::Control {
            request_id: request_id(c.id)?,
            ok: c.code.is_none(),
            code: c.code,
            message: c.msg.map(Cow::into_owned),
            result: c.result.map(|r| r.get().to_owned()).filter(|r| r != "null"),
        })
    }
}

impl Venue for Binance {
    fn id(&self) -> &'static str {
        self.id
    }

    fn parse<'a>(&self, payload: &'a [u8], levels: &mut Levels) -> Result<Message<'a>, Error> {
        levels.clear();
        let (kind, data) = match split_envelope(payload)? {
            Some((stream, data)) => (kind_of_stream(&stream), data),
            None => (kind_of_raw(payload), payload),
        };
        match kind {
            Kind::Depth => self.depth(data, levels),
            Kind::BookTicker => Self::book_ticker(data),
            Kind::Trade => Self::trade(data),
            Kind::Kline => Self::kline(data),
            Kind::Control => Self::control(data),
            Kind::Other => {
                // Still valid JSON? Otherwise it is a malformed frame, not something to ignore.
                serde_json::from_slice::<serde::de::IgnoredAny>(payload).map_err(json_error)?;
                Ok(Message::Ignored)
            }
        }
    }

    fn parse_snapshot(&self, payload: &[u8], levels: &mut Levels) -> Result<SnapshotIds, Error> {
        levels.clear();
        let s: Snapshot = serde_json::from_slice(payload).map_err(json_error)?;
        parse_levels(&s.bids, &mut levels.bids, "bids")?;
        parse_levels(&s.asks, &mut levels.asks, "asks")?;
        Ok(SnapshotIds { last_update_id: s.last_update_id, exchange_ts: s.event_time.map(|e| e * MS) })
    }

    fn first_delta(&self, snapshot_id: u64, d: &DeltaIds) -> Verdict {
        match self.market {
            // Spot: drop u <= lastUpdateId; the first kept event has U <= lastUpdateId+1 <= u.
            Market::Spot if d.last <= snapshot_id => Verdict::Stale,
            Market::Spot if d.first <= snapshot_id + 1 => Verdict::Apply,
            Market::Spot => Verdict::Gap { expected: snapshot_id + 1, received: d.first },
            // USD-M: drop u < lastUpdateId; the first kept event has U <= lastUpdateId <= u.
            Market::UsdM if d.last < snapshot_id => Verdict::Stale,
            Market::UsdM if d.first <= snapshot_id => Verdict::Apply,
            Market::UsdM => Verdict::Gap { expected: snapshot_id, received: d.first },
        }
    }

    fn next_delta(&self, last: u64, d: &DeltaIds) -> Verdict {
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
