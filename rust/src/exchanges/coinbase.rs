//! Coinbase: the Advanced Trade market-data WebSocket (`coinbase`) and the Coinbase Exchange
//! (ex-Pro) feed (`coinbaseexchange`): two unrelated protocols, one factory each.
//!
//! Follows the Advanced Trade "WebSocket Overview" / "WebSocket Channels" pages and the
//! Exchange "WebSocket Feed" pages, summarised in shared/docs/exchanges/coinbase.md:
//!
//! * **Advanced Trade** (`wss://advanced-trade-ws.coinbase.com`): every frame is an envelope
//!   `{"channel","client_id","timestamp","sequence_num","events":[...]}`. `sequence_num` counts
//!   every message of the connection across all channels, so it is an
//!   [`Item::ConnectionSeq`] (emitted first, before the frame's other items) and not a
//!   per-book sequence. Channels: `l2_data` (the `level2` subscription: one `snapshot` event,
//!   then `update` events whose `new_quantity` is absolute, `"0"` deletes), `market_trades`
//!   (trades listed **newest first**: emitted here oldest first), `ticker`/`ticker_batch`
//!   (best bid/ask with quantities), `candles` (5-minute candles), `heartbeats`,
//!   `subscriptions` (the cumulative subscription list after each request: one
//!   [`ControlKind::Ack`] per channel and product, topic `"<channel>:<product_id>"`) and
//!   `status` (product metadata: accepted, nothing decoded). An error is a bare
//!   `{"type":"error","message":..}`. An `events` array may carry several events.
//! * **Exchange** (`wss://ws-feed.exchange.coinbase.com`): flat `{"type":..}` frames:
//!   `snapshot` + `l2update` (`level2`/`level2_batch`; `changes` `[side, price, size]`, size
//!   absolute; no sequence and no checksum), `match`/`last_match` (`side` is the **maker's**),
//!   `ticker` (best bid/ask; sizes only in the current format), `heartbeat`, `subscriptions`
//!   (one ack per channel and product, topic `"<channel>:<product_id>"`) and `error`
//!   (`message` + `reason`).
//!
//! Trade sides: both feeds name the maker's side. For `match` the Exchange docs say so; for
//! Advanced Trade `market_trades` the docs do not, and the recording settles it (every trade
//! printed at the best ask says `SELL`, every one at the best bid `BUY`: see
//! rust/tests/coinbase.rs). [`TradeItem::side`] is the aggressor's, so it is the opposite.
//!
//! Neither feed has a book checksum; both recover a book by subscribing again (a new snapshot).

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::error::Error;
use crate::event::Side;
use crate::fixed::Dec;
use crate::json::{required, Cursor};
use crate::time::rfc3339;

/// Length of an Advanced Trade candle: the channel only sends 5-minute candles.
const CANDLE_NS: i64 = 300 * 1_000_000_000;

/// The Advanced Trade market-data feed (`coinbase`); market `spot`.
pub struct AdvancedTradeFactory;
/// The Exchange feed (`coinbaseexchange`); market `spot`.
pub struct ExchangeFactory;

pub static ADVANCED_TRADE: AdvancedTradeFactory = AdvancedTradeFactory;
pub static EXCHANGE: ExchangeFactory = ExchangeFactory;

const MARKETS: &[&str] = &["spot"];

fn check_market(id: &str, market: &str) -> Result<(), Error> {
    if MARKETS.contains(&market) {
        Ok(())
    } else {
        Err(Error::invalid("market", market, format!("{id} has one market: spot")))
    }
}

impl VenueFactory for AdvancedTradeFactory {
    fn id(&self) -> &'static str {
        "coinbase"
    }
    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }
    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        check_market(self.id(), market)?;
        Ok(Box::new(AdvancedTrade { symbols: Symbols::new(instruments) }))
    }
}

impl VenueFactory for ExchangeFactory {
    fn id(&self) -> &'static str {
        "coinbaseexchange"
    }
    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }
    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        check_market(self.id(), market)?;
        Ok(Box::new(Exchange { symbols: Symbols::new(instruments) }))
    }
}

// ------------------------------------------------------------------------------------------
// Symbols: product ids are `BASE-QUOTE` ("BTC-USD" <-> "BTC/USD") on both feeds.
// ------------------------------------------------------------------------------------------

/// Product id <-> unified symbol, from the instruments when known, else by the spot rule.
struct Symbols {
    /// (product id, unified symbol) pairs the instruments endpoint listed.
    known: Vec<(String, String)>,
}

impl Symbols {
    fn new(instruments: &[Instrument]) -> Self {
        Self { known: instruments.iter().map(|i| (i.market_id.clone(), i.symbol.clone())).collect() }
    }

    fn unified(&self, product_id: &str) -> String {
        if let Some((_, s)) = self.known.iter().find(|(m, _)| m == product_id) {
            return s.clone();
        }
        match product_id.split_once('-') {
            Some((base, quote)) if is_code(base) && is_code(quote) => format!("{base}/{quote}"),
            // Not a spot product id (futures such as "BIT-28JUN24-CDE"): kept as sent.
            _ => product_id.to_owned(),
        }
    }

    fn product_id(&self, id: &'static str, symbol: &str) -> Result<String, Error> {
        if let Some((m, _)) = self.known.iter().find(|(_, s)| s == symbol) {
            return Ok(m.clone());
        }
        match symbol.split_once('/') {
            Some((base, quote)) if is_code(base) && is_code(quote) => Ok(format!("{base}-{quote}")),
            _ => Err(Error::invalid("symbol", symbol, format!("not a {id} spot symbol such as \"BTC/USD\""))),
        }
    }
}

/// An asset code as Coinbase writes them: upper-case letters and digits.
fn is_code(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

// ------------------------------------------------------------------------------------------
// Shared readers.
// ------------------------------------------------------------------------------------------

/// The last `event_time` text of an `updates` array and its value: a snapshot's levels share a
/// handful of times (46,000 of the recording's 74,193 levels carry one string), so a string equal
/// to the previous one, already validated, is not converted again. Exact: same text, same value.
#[derive(Default)]
struct LastTime<'a> {
    text: &'a str,
    ns: i64,
}

impl<'a> LastTime<'a> {
    fn parse(&mut self, s: &'a str) -> Result<i64, Error> {
        if s != self.text || s.is_empty() {
            self.ns = rfc3339(s, "event_time")?;
            self.text = s;
        }
        Ok(self.ns)
    }
}

/// A decimal string that must be above zero (a price), named `field`.
fn price(c: &mut Cursor<'_>, field: &'static str) -> Result<Dec, Error> {
    let v = c.dec(field)?;
    if v.mantissa <= 0 {
        return Err(Error::frame(field, format!("price {v} is not above 0")));
    }
    Ok(v)
}

/// A decimal string that must not be negative (a size; 0 deletes a level), named `field`.
fn size(c: &mut Cursor<'_>, field: &'static str) -> Result<Dec, Error> {
    let v = c.dec(field)?;
    if v.is_negative() {
        return Err(Error::frame(field, format!("size {v} is negative")));
    }
    Ok(v)
}

/// A trade id: a number where it is all digits ("1068572090", `881613`), else its text.
fn trade_id_text(s: &str, field: &'static str) -> Result<TradeId, Error> {
    if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(TradeId::Int(n));
        }
    }
    TradeId::text(s, field)
}

/// `{"<channel>":["<product>",..],..}` (Advanced Trade `subscriptions` event) or
/// `[{"name":"<channel>","product_ids":[..]},..]` (Exchange `channels`): one ack per pair.
fn ack(out: &mut Out, channel: &str, product: &str) {
    out.items.push(Item::Control(ControlItem {
        kind: ControlKind::Ack,
        request_id: None,
        topic: Some(format!("{channel}:{product}")),
        code: None,
        message: None,
    }));
}

/// A list of product-id strings, one ack each for `channel`.
fn ack_products(c: &mut Cursor<'_>, out: &mut Out, channel: &str, field: &'static str) -> Result<(), Error> {
    if c.begin_array(field)? {
        loop {
            let p = c.str(field)?;
            ack(out, channel, p);
            if !c.more_elements(field)? {
                break;
            }
        }
    }
    Ok(())
}

fn error_item(message: Option<&str>, reason: Option<&str>) -> Item {
    let message = match (message, reason) {
        (Some(m), Some(r)) if !r.is_empty() => format!("{m}: {r}"),
        (Some(m), _) => m.to_owned(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => String::new(),
    };
    Item::Control(ControlItem {
        kind: ControlKind::Error,
        request_id: None,
        topic: None,
        code: None,
        message: Some(message),
    })
}

/// `(bids, asks)` lengths of `out`, where a book item's levels start.
fn marks(out: &Out) -> (usize, usize) {
    (out.bids.len(), out.asks.len())
}

// ------------------------------------------------------------------------------------------
// Advanced Trade.
// ------------------------------------------------------------------------------------------

/// Advanced Trade market data on one connection.
pub struct AdvancedTrade {
    symbols: Symbols,
}

/// What an Advanced Trade event carried (checked against the envelope's channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Book,
    Trades,
    Tickers,
    Candles,
    Subscriptions,
    Heartbeat,
    Status,
}

impl Event {
    fn channels(self) -> &'static [&'static str] {
        match self {
            Event::Book => &["l2_data"],
            Event::Trades => &["market_trades"],
            Event::Tickers => &["ticker", "ticker_batch"],
            Event::Candles => &["candles"],
            Event::Subscriptions => &["subscriptions"],
            Event::Heartbeat => &["heartbeats"],
            Event::Status => &["status"],
        }
    }
}

/// The event kinds a frame carried, as bits (no allocation per frame).
#[derive(Default, Clone, Copy)]
struct Kinds(u8);

impl Kinds {
    const ALL: [Event; 7] = [
        Event::Book,
        Event::Trades,
        Event::Tickers,
        Event::Candles,
        Event::Subscriptions,
        Event::Heartbeat,
        Event::Status,
    ];

    fn add(&mut self, k: Event) {
        self.0 |= 1 << (k as u8);
    }

    /// The first kind seen that does not belong on `channel`.
    fn foreign(self, channel: &str) -> Option<Event> {
        Self::ALL.into_iter().find(|&k| self.0 & (1 << (k as u8)) != 0 && !k.channels().contains(&channel))
    }
}

/// Envelope fields that events need and may arrive after them (key order is not guaranteed):
/// items are patched once the envelope is read.
#[derive(Default, Clone, Copy)]
struct Envelope {
    ts: Option<i64>,
    seq: Option<u64>,
}

impl AdvancedTrade {
    fn frame(&self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let mut first = true;
        let mut env = Envelope::default();
        let mut channel: Option<&str> = None;
        // Set once events were read before the envelope's timestamp or sequence_num.
        let mut early_events = false;
        let mut kinds = Kinds::default();
        let (mut kind_error, mut message, mut reason) = (None, None, None);
        let mut events_seen = false;
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"channel" => channel = Some(c.str("channel")?),
                b"client_id" => {
                    c.str("client_id")?;
                }
                b"timestamp" => env.ts = Some(rfc3339(c.str("timestamp")?, "timestamp")?),
                b"sequence_num" => {
                    let n = c.u64("sequence_num")?;
                    env.seq = Some(n);
                    if !events_seen {
                        out.items.push(Item::ConnectionSeq(n));
                    }
                }
                b"events" => {
                    if events_seen {
                        return Err(Error::frame("events", "sent twice"));
                    }
                    events_seen = true;
                    early_events = env.ts.is_none() || env.seq.is_none();
                    self.events(&mut c, out, env, &mut kinds)?;
                }
                // The error reply has no envelope: {"type":"error","message":"..."}.
                b"type" => kind_error = Some(c.str("type")?),
                b"message" => message = Some(c.str("message")?),
                b"reason" => reason = Some(c.str("reason")?),
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        if let Some(t) = kind_error {
            if t != "error" || channel.is_some() || events_seen {
                return Err(Error::frame(
                    "type",
                    format!("{t:?}: not an Advanced Trade message (an Exchange feed frame?)"),
                ));
            }
            out.items.clear();
            out.items.push(error_item(message, reason));
            return Ok(());
        }
        let channel = required(channel, "channel")?;
        let seq = required(env.seq, "sequence_num")?;
        let ts = required(env.ts, "timestamp")?;
        if !events_seen {
            return Err(Error::frame("events", "missing field"));
        }
        match channel {
            "user" | "futures_balance_summary" => {
                return Err(Error::frame("channel", format!("{channel:?} is private: not decoded by tickwire")))
            }
            "l2_data" | "market_trades" | "ticker" | "ticker_batch" | "candles" | "subscriptions" | "heartbeats"
            | "status" => {}
            other => return Err(Error::frame("channel", format!("{other:?} is not an Advanced Trade channel"))),
        }
        if let Some(k) = kinds.foreign(channel) {
            return Err(Error::frame("events", format!("a {k:?} event on channel {channel:?}")));
        }
        if early_events {
            Self::patch(out, seq, ts);
        }
        Ok(())
    }

    /// Set what events read before the envelope's `timestamp`/`sequence_num` could not know.
    #[cold]
    fn patch(out: &mut Out, seq: u64, ts: i64) {
        if !matches!(out.items.first(), Some(Item::ConnectionSeq(_))) {
            out.items.insert(0, Item::ConnectionSeq(seq));
        }
        for item in &mut out.items {
            match item {
                Item::Book(b) => {
                    b.ids = Some(SeqIds { first: seq, last: seq, prev: None });
                    b.exchange_ts = b.exchange_ts.or(Some(ts));
                }
                Item::Bbo { bbo, .. } => {
                    bbo.sequence = Some(seq);
                    bbo.exchange_ts = Some(ts);
                }
                Item::Trade { trade, .. } => trade.exchange_ts = ts,
                Item::Candle { candle, .. } => candle.exchange_ts = Some(ts),
                _ => {}
            }
        }
    }

    fn events(&self, c: &mut Cursor<'_>, out: &mut Out, env: Envelope, kinds: &mut Kinds) -> Result<(), Error> {
        let _ = self;
        if !c.begin_array("events")? {
            return Ok(());
        }
        loop {
            kinds.add(Self::event(c, out, env)?);
            if !c.more_elements("events")? {
                return Ok(());
            }
        }
    }

    /// One element of `events`: its kind follows from its keys.
    #[allow(clippy::too_many_lines)] // one match over the documented event keys
    fn event(c: &mut Cursor<'_>, out: &mut Out, env: Envelope) -> Result<Event, Error> {
        c.begin_object()?;
        let mut first = true;
        let mut typ: Option<&str> = None;
        let mut product: Option<&str> = None;
        let mut kind: Option<Event> = None;
        let levels_from = marks(out);
        let items_from = out.items.len();
        let mut book_ts: Option<i64> = None;
        let (mut hb_time, mut hb_counter) = (false, false);
        let set = |kind: &mut Option<Event>, k: Event, field: &'static str| -> Result<(), Error> {
            match *kind {
                Some(prev) if prev != k => Err(Error::frame(field, format!("in an event that is already {prev:?}"))),
                _ => {
                    *kind = Some(k);
                    Ok(())
                }
            }
        };
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"type" => typ = Some(c.str("type")?),
                b"product_id" => product = Some(c.str("product_id")?),
                b"updates" => {
                    set(&mut kind, Event::Book, "updates")?;
                    book_ts = Self::updates(c, out)?;
                }
                b"trades" => {
                    set(&mut kind, Event::Trades, "trades")?;
                    Self::trades(c, out, env)?;
                }
                b"tickers" => {
                    set(&mut kind, Event::Tickers, "tickers")?;
                    Self::tickers(c, out, env)?;
                }
                b"candles" => {
                    set(&mut kind, Event::Candles, "candles")?;
                    Self::candles(c, out, env)?;
                }
                b"subscriptions" => {
                    set(&mut kind, Event::Subscriptions, "subscriptions")?;
                    c.begin_object()?;
                    let mut f = true;
                    while let Some(ch) = c.next_key(&mut f)? {
                        let ch = std::str::from_utf8(ch)
                            .map_err(|_| Error::frame("subscriptions", "channel name is not UTF-8"))?;
                        let ch = ch.to_owned();
                        ack_products(c, out, &ch, "subscriptions")?;
                    }
                }
                b"current_time" => {
                    set(&mut kind, Event::Heartbeat, "current_time")?;
                    c.str("current_time")?;
                    hb_time = true;
                }
                b"heartbeat_counter" => {
                    set(&mut kind, Event::Heartbeat, "heartbeat_counter")?;
                    c.u64("heartbeat_counter")?;
                    hb_counter = true;
                }
                b"products" => {
                    set(&mut kind, Event::Status, "products")?;
                    c.skip_value("products")?;
                }
                _ => c.skip_value("events")?,
            }
        }
        let kind = required(kind, "events")?;
        let snapshot = match (kind, typ) {
            (_, Some("snapshot")) if !matches!(kind, Event::Subscriptions | Event::Heartbeat) => true,
            (Event::Subscriptions | Event::Heartbeat, None) | (_, Some("update")) => false,
            (Event::Subscriptions | Event::Heartbeat, Some(t)) => {
                return Err(Error::frame("type", format!("{t:?} on a {kind:?} event")))
            }
            (_, Some(t)) => return Err(Error::frame("type", format!("{t:?} is neither snapshot nor update"))),
            (_, None) => return Err(Error::frame("type", "missing field")),
        };
        match kind {
            Event::Book => {
                let product = required(product, "product_id")?;
                let symbol = out.symbol(product);
                let kind = if snapshot { BookKind::Snapshot } else { BookKind::Delta };
                let ids = env.seq.map(|n| SeqIds { first: n, last: n, prev: None });
                out.book(symbol, kind, ids, None, None, book_ts.or(env.ts), levels_from);
            }
            Event::Heartbeat => {
                if !(hb_time && hb_counter) {
                    return Err(Error::frame(
                        if hb_time { "heartbeat_counter" } else { "current_time" },
                        "missing field",
                    ));
                }
                out.items.push(Item::Heartbeat);
            }
            Event::Trades => Self::oldest_first(&mut out.items[items_from..]),
            _ => {}
        }
        if kind != Event::Book && product.is_some() {
            return Err(Error::frame("product_id", format!("unexpected on a {kind:?} event")));
        }
        Ok(kind)
    }

    /// `market_trades` lists trades newest first: put them oldest first (by trade time, then id).
    fn oldest_first(items: &mut [Item]) {
        let key = |i: &Item| match i {
            Item::Trade { trade, .. } => (trade.trade_ts, trade.trade_id.as_int().unwrap_or(0)),
            _ => (0, 0),
        };
        items.reverse();
        if !items.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
            items.sort_unstable_by_key(key);
        }
    }

    /// `updates`: `{"side":"bid"|"offer","event_time","price_level","new_quantity"}` each,
    /// appended to `out.bids`/`out.asks`. Returns the latest `event_time`.
    fn updates(c: &mut Cursor<'_>, out: &mut Out) -> Result<Option<i64>, Error> {
        let mut latest: Option<i64> = None;
        let mut times = LastTime::default();
        if !c.begin_array("updates")? {
            return Ok(None);
        }
        loop {
            c.begin_object()?;
            let mut first = true;
            let (mut bid, mut px, mut qty, mut t) = (None, None, None, None);
            // Layout fast path: side, event_time, price_level, new_quantity in that order.
            if c.at_key(b"side", &mut first) {
                bid = Some(Self::side(c)?);
                if c.at_key(b"event_time", &mut first) {
                    t = Some(times.parse(c.str("event_time")?)?);
                    if c.at_key(b"price_level", &mut first) {
                        px = Some(price(c, "price_level")?);
                        if c.at_key(b"new_quantity", &mut first) {
                            qty = Some(size(c, "new_quantity")?);
                        }
                    }
                }
            }
            while let Some(key) = c.next_key(&mut first)? {
                match key {
                    b"side" => bid = Some(Self::side(c)?),
                    b"event_time" => t = Some(times.parse(c.str("event_time")?)?),
                    b"price_level" => px = Some(price(c, "price_level")?),
                    b"new_quantity" => qty = Some(size(c, "new_quantity")?),
                    _ => c.skip_value("updates")?,
                }
            }
            let level = RawLevel { price: required(px, "price_level")?, size: required(qty, "new_quantity")? };
            if required(bid, "side")? {
                out.bids.push(level);
            } else {
                out.asks.push(level);
            }
            let t = required(t, "event_time")?;
            latest = Some(latest.map_or(t, |l| l.max(t)));
            if !c.more_elements("updates")? {
                return Ok(latest);
            }
        }
    }

    /// `"bid"` -> true, `"offer"` -> false.
    fn side(c: &mut Cursor<'_>) -> Result<bool, Error> {
        match c.str("side")? {
            "bid" => Ok(true),
            "offer" => Ok(false),
            s => Err(Error::frame("side", format!("{s:?} is neither \"bid\" nor \"offer\""))),
        }
    }

    /// `trades`: `{product_id, trade_id, price, size, time, side}` each; `side` is the maker's.
    fn trades(c: &mut Cursor<'_>, out: &mut Out, env: Envelope) -> Result<(), Error> {
        if !c.begin_array("trades")? {
            return Ok(());
        }
        loop {
            c.begin_object()?;
            let mut first = true;
            let (mut product, mut id, mut px, mut qty, mut time, mut maker) = (None, None, None, None, None, None);
            while let Some(key) = c.next_key(&mut first)? {
                match key {
                    b"product_id" => product = Some(c.str("product_id")?),
                    b"trade_id" => id = Some(trade_id_text(c.str("trade_id")?, "trade_id")?),
                    b"price" => px = Some(price(c, "price")?),
                    b"size" => qty = Some(size(c, "size")?),
                    b"time" => time = Some(rfc3339(c.str("time")?, "time")?),
                    b"side" => {
                        maker = Some(match c.str("side")? {
                            "BUY" => Side::Buy,
                            "SELL" => Side::Sell,
                            s => return Err(Error::frame("side", format!("{s:?} is neither BUY nor SELL"))),
                        });
                    }
                    _ => c.skip_value("trades")?,
                }
            }
            let symbol = out.symbol(required(product, "product_id")?);
            let trade_ts = required(time, "time")?;
            let trade = TradeItem {
                price: required(px, "price")?,
                size: required(qty, "size")?,
                side: opposite(required(maker, "side")?),
                trade_id: required(id, "trade_id")?,
                trade_ts,
                exchange_ts: env.ts.unwrap_or(trade_ts),
            };
            out.items.push(Item::Trade { symbol, trade });
            if !c.more_elements("trades")? {
                return Ok(());
            }
        }
    }

    /// `tickers`: a best bid/ask item for each ticker that carries them (`ticker_batch` and
    /// older tickers have none: nothing to emit for those).
    fn tickers(c: &mut Cursor<'_>, out: &mut Out, env: Envelope) -> Result<(), Error> {
        if !c.begin_array("tickers")? {
            return Ok(());
        }
        loop {
            c.begin_object()?;
            let mut first = true;
            let mut product = None;
            let (mut bid, mut bid_q, mut ask, mut ask_q) = (None, None, None, None);
            while let Some(key) = c.next_key(&mut first)? {
                match key {
                    b"type" => {
                        let t = c.str("tickers.type")?;
                        if t != "ticker" {
                            return Err(Error::frame("tickers.type", format!("{t:?} is not \"ticker\"")));
                        }
                    }
                    b"product_id" => product = Some(c.str("product_id")?),
                    b"best_bid" => bid = Some(price(c, "best_bid")?),
                    b"best_bid_quantity" => bid_q = Some(size(c, "best_bid_quantity")?),
                    b"best_ask" => ask = Some(price(c, "best_ask")?),
                    b"best_ask_quantity" => ask_q = Some(size(c, "best_ask_quantity")?),
                    _ => c.skip_value("tickers")?,
                }
            }
            let symbol = out.symbol(required(product, "product_id")?);
            if bid.is_some() || ask.is_some() || bid_q.is_some() || ask_q.is_some() {
                let bbo = BboItem {
                    bid: RawLevel { price: required(bid, "best_bid")?, size: required(bid_q, "best_bid_quantity")? },
                    ask: RawLevel { price: required(ask, "best_ask")?, size: required(ask_q, "best_ask_quantity")? },
                    sequence: env.seq,
                    exchange_ts: env.ts,
                };
                out.items.push(Item::Bbo { symbol, bbo });
            }
            if !c.more_elements("tickers")? {
                return Ok(());
            }
        }
    }

    /// `candles`: `{start (Unix seconds as a string), high, low, open, close, volume,
    /// product_id}` each; 5-minute candles, whether final is not said.
    fn candles(c: &mut Cursor<'_>, out: &mut Out, env: Envelope) -> Result<(), Error> {
        if !c.begin_array("candles")? {
            return Ok(());
        }
        let interval = Interval::new("5m", "candles")?;
        loop {
            c.begin_object()?;
            let mut first = true;
            let (mut product, mut start) = (None, None);
            let (mut open, mut high, mut low, mut close, mut volume) = (None, None, None, None, None);
            while let Some(key) = c.next_key(&mut first)? {
                match key {
                    b"product_id" => product = Some(c.str("product_id")?),
                    b"start" => {
                        let s = c.str("start")?;
                        let secs = s
                            .parse::<u32>()
                            .ok()
                            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
                            .ok_or_else(|| Error::frame("start", format!("{s:?} is not Unix seconds")))?;
                        start = Some(i64::from(secs) * 1_000_000_000);
                    }
                    b"open" => open = Some(price(c, "open")?),
                    b"high" => high = Some(price(c, "high")?),
                    b"low" => low = Some(price(c, "low")?),
                    b"close" => close = Some(price(c, "close")?),
                    b"volume" => volume = Some(size(c, "volume")?),
                    _ => c.skip_value("candles")?,
                }
            }
            let symbol = out.symbol(required(product, "product_id")?);
            let start_ts = required(start, "start")?;
            let candle = CandleItem {
                interval,
                start_ts,
                end_ts: start_ts + CANDLE_NS - 1,
                open: required(open, "open")?,
                high: required(high, "high")?,
                low: required(low, "low")?,
                close: required(close, "close")?,
                volume: required(volume, "volume")?,
                trades: None,
                closed: None,
                exchange_ts: env.ts,
            };
            out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
            if !c.more_elements("candles")? {
                return Ok(());
            }
        }
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

fn text_frame(binary: bool) -> Result<(), Error> {
    if binary {
        Err(Error::frame("frame", "Coinbase sends text frames only"))
    } else {
        Ok(())
    }
}

/// A book delta follows the last one applied when its `sequence_num` is later. The per-book
/// view has holes by design (the counter spans every channel of the connection): the gap rule
/// is the decoder's [`Item::ConnectionSeq`] check, so here an earlier or equal number is stale
/// and any later one applies.
fn later_applies(last: u64, ids: &SeqIds) -> Verdict {
    if ids.last <= last {
        Verdict::Stale
    } else {
        Verdict::Apply
    }
}

impl Venue for AdvancedTrade {
    fn id(&self) -> &'static str {
        "coinbase"
    }
    fn market(&self) -> &'static str {
        "spot"
    }
    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        text_frame(binary)?;
        self.frame(frame, out)
    }
    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
    }
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        later_applies(last, ids)
    }
    fn unified_symbol(&self, market_id: &str) -> String {
        self.symbols.unified(market_id)
    }
    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        self.symbols.product_id("coinbase", symbol)
    }
}

// ------------------------------------------------------------------------------------------
// Exchange feed.
// ------------------------------------------------------------------------------------------

/// The Coinbase Exchange feed on one connection.
pub struct Exchange {
    symbols: Symbols,
}

/// Fields of an Exchange frame (all flat; which apply depends on `type`).
#[derive(Default)]
struct Flat<'a> {
    typ: Option<&'a str>,
    product: Option<&'a str>,
    time: Option<i64>,
    sequence: Option<u64>,
    trade_id: Option<u64>,
    side: Option<Side>,
    price: Option<Dec>,
    size: Option<Dec>,
    best_bid: Option<Dec>,
    best_ask: Option<Dec>,
    best_bid_size: Option<Dec>,
    best_ask_size: Option<Dec>,
    message: Option<&'a str>,
    reason: Option<&'a str>,
    /// Which of bids/asks/changes/channels were present.
    book: bool,
    changes: bool,
    channels: bool,
}

impl Exchange {
    #[allow(clippy::too_many_lines)] // one match over the documented keys, then one over types
    fn frame(frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let mut first = true;
        let mut f = Flat::default();
        let levels_from = marks(out);
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"type" => f.typ = Some(c.str("type")?),
                b"product_id" => f.product = Some(c.str("product_id")?),
                b"changes" => {
                    f.changes = true;
                    Self::changes(&mut c, out)?;
                }
                b"bids" => {
                    f.book = true;
                    pairs(&mut c, &mut out.bids, "bids")?;
                }
                b"asks" => {
                    f.book = true;
                    pairs(&mut c, &mut out.asks, "asks")?;
                }
                b"time" => f.time = Some(rfc3339(c.str("time")?, "time")?),
                b"sequence" => f.sequence = Some(c.u64("sequence")?),
                b"trade_id" => f.trade_id = Some(c.u64("trade_id")?),
                b"side" => {
                    f.side = Some(match c.str("side")? {
                        "buy" => Side::Buy,
                        "sell" => Side::Sell,
                        s => return Err(Error::frame("side", format!("{s:?} is neither buy nor sell"))),
                    });
                }
                b"price" => f.price = Some(price(&mut c, "price")?),
                b"size" => f.size = Some(size(&mut c, "size")?),
                b"best_bid" => f.best_bid = Some(price(&mut c, "best_bid")?),
                b"best_ask" => f.best_ask = Some(price(&mut c, "best_ask")?),
                b"best_bid_size" => f.best_bid_size = Some(size(&mut c, "best_bid_size")?),
                b"best_ask_size" => f.best_ask_size = Some(size(&mut c, "best_ask_size")?),
                b"message" => f.message = Some(c.str("message")?),
                b"reason" => f.reason = Some(c.str("reason")?),
                b"channels" => {
                    f.channels = true;
                    Self::channels(&mut c, out)?;
                }
                b"channel" | b"events" | b"sequence_num" => {
                    return Err(Error::frame(
                        std::str::from_utf8(key).unwrap_or("json").to_owned(),
                        "an Advanced Trade envelope field: not an Exchange feed frame",
                    ))
                }
                _ => c.skip_value("json")?,
            }
        }
        c.end()?;
        let typ = required(f.typ, "type")?;
        let unexpected = |field: &'static str| Error::frame(field, format!("unexpected in a {typ:?} message"));
        if f.channels && typ != "subscriptions" {
            return Err(unexpected("channels"));
        }
        if f.book && typ != "snapshot" {
            return Err(unexpected("bids"));
        }
        if f.changes && typ != "l2update" {
            return Err(unexpected("changes"));
        }
        match typ {
            "snapshot" | "l2update" => {
                let symbol = out.symbol(required(f.product, "product_id")?);
                let kind = if typ == "snapshot" {
                    if !f.book {
                        return Err(Error::frame("bids", "missing field"));
                    }
                    BookKind::Snapshot
                } else {
                    if !f.changes {
                        return Err(Error::frame("changes", "missing field"));
                    }
                    BookKind::Delta
                };
                out.book(symbol, kind, None, None, None, f.time, levels_from);
            }
            "match" | "last_match" => {
                let symbol = out.symbol(required(f.product, "product_id")?);
                let trade_ts = required(f.time, "time")?;
                let trade = TradeItem {
                    price: required(f.price, "price")?,
                    size: required(f.size, "size")?,
                    // `side` is the maker order's side.
                    side: opposite(required(f.side, "side")?),
                    trade_id: TradeId::Int(required(f.trade_id, "trade_id")?),
                    trade_ts,
                    exchange_ts: trade_ts,
                };
                out.items.push(Item::Trade { symbol, trade });
            }
            "ticker" => {
                let symbol = out.symbol(required(f.product, "product_id")?);
                // The 2021 format had best_bid/best_ask without sizes: no exact level to emit.
                if f.best_bid_size.is_some() || f.best_ask_size.is_some() {
                    let bbo = BboItem {
                        bid: RawLevel {
                            price: required(f.best_bid, "best_bid")?,
                            size: required(f.best_bid_size, "best_bid_size")?,
                        },
                        ask: RawLevel {
                            price: required(f.best_ask, "best_ask")?,
                            size: required(f.best_ask_size, "best_ask_size")?,
                        },
                        sequence: f.sequence,
                        exchange_ts: f.time,
                    };
                    out.items.push(Item::Bbo { symbol, bbo });
                }
            }
            "heartbeat" => {
                required(f.product, "product_id")?;
                out.items.push(Item::Heartbeat);
            }
            "subscriptions" => {
                if !f.channels {
                    return Err(Error::frame("channels", "missing field"));
                }
            }
            "error" => out.items.push(error_item(f.message, f.reason)),
            other => {
                return Err(Error::frame("type", format!("{other:?} is not an Exchange feed message tickwire decodes")))
            }
        }
        Ok(())
    }

    /// `changes`: `[["buy"|"sell", price, size], ..]` appended to `out.bids`/`out.asks`.
    fn changes(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        const F: &str = "changes";
        if !c.begin_array(F)? {
            return Ok(());
        }
        loop {
            let short = || Error::frame(F, "each change is [side, price, size]");
            if !c.begin_array(F)? {
                return Err(short());
            }
            let bid = match c.str(F)? {
                "buy" => true,
                "sell" => false,
                s => return Err(Error::frame(F, format!("side {s:?} is neither buy nor sell"))),
            };
            if !c.more_elements(F)? {
                return Err(short());
            }
            let p = price(c, "changes.price")?;
            if !c.more_elements(F)? {
                return Err(short());
            }
            let s = size(c, "changes.size")?;
            if c.more_elements(F)? {
                return Err(short());
            }
            let level = RawLevel { price: p, size: s };
            if bid {
                out.bids.push(level);
            } else {
                out.asks.push(level);
            }
            if !c.more_elements(F)? {
                return Ok(());
            }
        }
    }

    /// `channels`: `[{"name":"level2","product_ids":[..]}, ..]` (a plain name string for
    /// channels without products): one ack per channel and product.
    fn channels(c: &mut Cursor<'_>, out: &mut Out) -> Result<(), Error> {
        const F: &str = "channels";
        if !c.begin_array(F)? {
            return Ok(());
        }
        loop {
            // Names may follow product_ids: collect the products first.
            let from = out.items.len();
            let mut name: Option<String> = None;
            if c.begin_object().is_ok() {
                let mut first = true;
                while let Some(key) = c.next_key(&mut first)? {
                    match key {
                        b"name" => name = Some(c.str("channels.name")?.to_owned()),
                        b"product_ids" => ack_products(c, out, "", "channels.product_ids")?,
                        _ => c.skip_value(F)?,
                    }
                }
                let name = required(name, "channels.name")?;
                for item in &mut out.items[from..] {
                    if let Item::Control(ControlItem { topic: Some(t), .. }) = item {
                        t.insert_str(0, &name);
                    }
                }
            } else {
                return Err(Error::frame(F, "each channel is {\"name\",\"product_ids\"}"));
            }
            if !c.more_elements(F)? {
                return Ok(());
            }
        }
    }
}

/// `[["price","size"], ..]` (Exchange snapshot sides) appended to `side`.
fn pairs(c: &mut Cursor<'_>, side: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
    if !c.begin_array(field)? {
        return Ok(());
    }
    loop {
        let short = || Error::frame(field, "each level is [price, size]");
        if !c.begin_array(field)? {
            return Err(short());
        }
        let p = price(c, field)?;
        if !c.more_elements(field)? {
            return Err(short());
        }
        let s = size(c, field)?;
        if c.more_elements(field)? {
            return Err(short());
        }
        side.push(RawLevel { price: p, size: s });
        if !c.more_elements(field)? {
            return Ok(());
        }
    }
}

impl Venue for Exchange {
    fn id(&self) -> &'static str {
        "coinbaseexchange"
    }
    fn market(&self) -> &'static str {
        "spot"
    }
    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        text_frame(binary)?;
        Self::frame(frame, out)
    }
    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
    }
    /// The REST fallback's book (`GET /products/<id>/book?level=2`, see [`rest_book`]). The
    /// Exchange feed's books sync from the WebSocket's snapshot; this body only loads the
    /// fallback's own decoder.
    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        rest_book(body, out)
    }
    /// The Exchange `level2` books carry no sequence (the parser gives `ids: None`, so this is
    /// not consulted); the documented per-product `sequence` rule (full channel) is: not later
    /// than the book is stale, the next one applies, anything later is a gap.
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        if ids.last <= last {
            Verdict::Stale
        } else if ids.first == last + 1 {
            Verdict::Apply
        } else {
            Verdict::Gap { expected: last + 1, received: ids.first }
        }
    }
    fn unified_symbol(&self, market_id: &str) -> String {
        self.symbols.unified(market_id)
    }
    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        self.symbols.product_id("coinbaseexchange", symbol)
    }
}

/// A Coinbase Exchange `GET /products/<id>/book?level=1|2` reply, `{"bids":[["price","size",
/// num_orders],..],"asks":[..],"sequence":N,"auction_mode":..,"auction":..,"time":"RFC 3339"}`:
/// `sequence` is the snapshot's sequence, `time` its time where sent. An error reply
/// (`{"message":".."}`) is an error naming its message; a missing side or `sequence` a `Frame`
/// error naming it.
fn rest_book(body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
    out.bids.clear();
    out.asks.clear();
    let mut c = Cursor::new(body);
    c.begin_object()?;
    let (mut sequence, mut time, mut message, mut bids, mut asks) = (None, None, None, false, false);
    let mut first = true;
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"bids" => {
                super::rest_levels(&mut c, &mut out.bids, "bids")?;
                bids = true;
            }
            b"asks" => {
                super::rest_levels(&mut c, &mut out.asks, "asks")?;
                asks = true;
            }
            b"sequence" => sequence = Some(c.u64("sequence")?),
            b"time" => time = Some(rfc3339(c.str("time")?, "time")?),
            b"message" => message = Some(c.str("message")?.to_owned()),
            _ => c.skip_value("json")?,
        }
    }
    c.end()?;
    if let Some(m) = message {
        return Err(Error::frame("message", m));
    }
    if !(bids && asks) {
        return Err(Error::frame(if bids { "asks" } else { "bids" }, "missing field"));
    }
    Ok(Snapshot { sequence: required(sequence, "sequence")?, exchange_ts: time })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &mut dyn Venue, s: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        v.parse(s.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    fn at() -> Box<dyn Venue> {
        ADVANCED_TRADE.create("spot", &[]).unwrap()
    }

    fn ex() -> Box<dyn Venue> {
        EXCHANGE.create("spot", &[]).unwrap()
    }

    fn dec(s: &str) -> Dec {
        crate::fixed::parse_dec(s, "t").unwrap()
    }

    #[test]
    fn symbols_both_ways() {
        let v = at();
        assert_eq!(v.unified_symbol("BTC-USD"), "BTC/USD");
        assert_eq!(v.unified_symbol("BIT-28JUN24-CDE"), "BIT-28JUN24-CDE");
        assert_eq!(v.market_id("ETH/USDC").unwrap(), "ETH-USDC");
        assert!(v.market_id("BTC/USD:USD").is_err());
        assert!(v.market_id("btc-usd").is_err());
        let inst = [Instrument {
            market_id: "BTC-PERP-INTX".into(),
            symbol: "BTC/USDC:USDC".into(),
            tick_size: None,
            lot_size: None,
        }];
        let v = ADVANCED_TRADE.create("spot", &inst).unwrap();
        assert_eq!(v.unified_symbol("BTC-PERP-INTX"), "BTC/USDC:USDC");
        assert_eq!(v.market_id("BTC/USDC:USDC").unwrap(), "BTC-PERP-INTX");
        assert!(ADVANCED_TRADE.create("linear", &[]).is_err());
        assert!(EXCHANGE.create("inverse", &[]).is_err());
    }

    #[test]
    fn sequence_rules() {
        let v = at();
        let ids = |n| SeqIds { first: n, last: n, prev: None };
        assert_eq!(v.check(10, &ids(10), false), Verdict::Stale);
        assert_eq!(v.check(10, &ids(9), false), Verdict::Stale);
        assert_eq!(v.check(10, &ids(11), false), Verdict::Apply);
        assert_eq!(v.check(10, &ids(25), false), Verdict::Apply);
        let e = ex();
        assert_eq!(e.check(10, &ids(10), false), Verdict::Stale);
        assert_eq!(e.check(10, &ids(11), false), Verdict::Apply);
        assert_eq!(e.check(10, &ids(13), false), Verdict::Gap { expected: 11, received: 13 });
        assert_eq!(v.recovery(), Recovery::Resubscribe);
        assert_eq!(e.recovery(), Recovery::Resubscribe);
        assert!(v.checksum().is_none() && e.checksum().is_none());
    }

    #[test]
    fn l2_event_with_connection_seq_first() {
        let mut v = at();
        let out = parse(
            v.as_mut(),
            r#"{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.505350477Z","sequence_num":14,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-08-09T21:05:48.210883Z","price_level":"65062.5","new_quantity":"0.00583"},{"side":"offer","event_time":"2026-08-09T21:05:48.310883Z","price_level":"65106.54","new_quantity":"0"}]},{"type":"snapshot","product_id":"ETH-USD","updates":[]}]}"#,
        )
        .unwrap();
        assert_eq!(out.items[0], Item::ConnectionSeq(14));
        let Item::Book(b) = &out.items[1] else { panic!("{:?}", out.items) };
        assert_eq!(b.kind, BookKind::Delta);
        assert_eq!(b.ids, Some(SeqIds { first: 14, last: 14, prev: None }));
        assert_eq!(b.exchange_ts, Some(rfc3339("2026-08-09T21:05:48.310883Z", "t").unwrap()));
        assert_eq!(out.bids[b.bids.clone()], [RawLevel { price: dec("65062.5"), size: dec("0.00583") }]);
        assert_eq!(out.asks[b.asks.clone()], [RawLevel { price: dec("65106.54"), size: dec("0") }]);
        let Item::Book(e) = &out.items[2] else { panic!() };
        assert_eq!((e.kind, e.symbol, e.bids.len()), (BookKind::Snapshot, 1, 0));
        assert_eq!(out.items.len(), 3);
    }

    /// A repeated level `event_time` is converted once; every other one, malformed or empty, is
    /// still checked, and the latest time is the book's.
    #[test]
    fn level_times_repeat_and_stay_strict() {
        let frame = |times: [&str; 3]| {
            let level = |t: &str, px: &str| {
                format!(r#"{{"side":"bid","event_time":"{t}","price_level":"{px}","new_quantity":"1"}}"#)
            };
            format!(
                r#"{{"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.505350477Z","sequence_num":1,"events":[{{"type":"snapshot","product_id":"BTC-USD","updates":[{},{},{}]}}]}}"#,
                level(times[0], "1"),
                level(times[1], "2"),
                level(times[2], "3")
            )
        };
        let (t1, t2) = ("2026-08-09T21:05:48.170326Z", "2026-08-09T21:05:48.35161Z");
        let out = parse(at().as_mut(), &frame([t1, t1, t2])).unwrap();
        let Item::Book(b) = &out.items[1] else { panic!("{:?}", out.items) };
        assert_eq!(b.exchange_ts, Some(rfc3339(t2, "t").unwrap()));
        let out = parse(at().as_mut(), &frame([t2, t1, t1])).unwrap();
        let Item::Book(b) = &out.items[1] else { panic!("{:?}", out.items) };
        assert_eq!((b.exchange_ts, out.bids.len()), (Some(rfc3339(t2, "t").unwrap()), 3));
        for bad in ["", "2026-08-09T21:05:48.170326", "2026-08-09T21:05:48.170326Z "] {
            for times in [[t1, t1, bad], [t1, bad, t1], [bad, bad, t1]] {
                let e = parse(at().as_mut(), &frame(times)).unwrap_err();
                assert!(e.to_string().contains("event_time"), "{times:?}: {e}");
            }
        }
    }

    #[test]
    fn envelope_keys_in_any_order() {
        let a = r#"{"channel":"ticker","timestamp":"2026-08-09T21:05:48.298032046Z","sequence_num":10,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"ETH-USD","price":"1919.41","best_bid":"1919.44","best_ask":"1919.49","best_bid_quantity":"0.02858092","best_ask_quantity":"0.07814824"}]}]}"#;
        let b = r#"{"events":[{"tickers":[{"best_ask_quantity":"0.07814824","product_id":"ETH-USD","best_bid":"1919.44","best_ask":"1919.49","best_bid_quantity":"0.02858092","type":"ticker"}],"type":"update"}],"sequence_num":10,"timestamp":"2026-08-09T21:05:48.298032046Z","channel":"ticker"}"#;
        let (mut v, mut w) = (at(), at());
        let (oa, ob) = (parse(v.as_mut(), a).unwrap(), parse(w.as_mut(), b).unwrap());
        assert_eq!(oa.items, ob.items);
        let Item::Bbo { bbo, .. } = &oa.items[1] else { panic!() };
        assert_eq!(bbo.bid, RawLevel { price: dec("1919.44"), size: dec("0.02858092") });
        assert_eq!(bbo.sequence, Some(10));
    }

    #[test]
    fn trades_oldest_first_with_aggressor_side() {
        let mut v = at();
        let out = parse(
            v.as_mut(),
            r#"{"channel":"market_trades","timestamp":"2024-10-04T07:13:31.158696693Z","sequence_num":2,"events":[{"type":"update","trades":[{"product_id":"ETH-USDT","trade_id":"22381691","price":"2375.56","size":"0.5","time":"2024-10-04T07:13:31.088388Z","side":"BUY"},{"product_id":"ETH-USDT","trade_id":"22381690","price":"2375.55","size":"0.25","time":"2024-10-04T07:13:31.084859Z","side":"SELL"}]}]}"#,
        )
        .unwrap();
        let trades: Vec<_> = out
            .items
            .iter()
            .filter_map(|i| if let Item::Trade { trade, .. } = i { Some(*trade) } else { None })
            .collect();
        assert_eq!(trades.iter().map(|t| t.trade_id.as_int().unwrap()).collect::<Vec<_>>(), [22_381_690, 22_381_691]);
        assert_eq!((trades[0].side, trades[1].side), (Side::Buy, Side::Sell));
        assert_eq!(trades[0].exchange_ts, rfc3339("2024-10-04T07:13:31.158696693Z", "t").unwrap());
    }

    #[test]
    fn control_frames() {
        let mut v = at();
        let out = parse(
            v.as_mut(),
            r#"{"channel":"subscriptions","client_id":"","timestamp":"2024-10-04T07:13:08.600625889Z","sequence_num":1,"events":[{"subscriptions":{"level2":["BTC-USD","ETH-USD"],"heartbeats":["heartbeats"]}}]}"#,
        )
        .unwrap();
        let topics: Vec<_> =
            out.items.iter().filter_map(|i| if let Item::Control(c) = i { c.topic.clone() } else { None }).collect();
        assert_eq!(topics, ["level2:BTC-USD", "level2:ETH-USD", "heartbeats:heartbeats"]);
        let out = parse(v.as_mut(), r#"{"type":"error","message":"failure to subscribe"}"#).unwrap();
        assert_eq!(out.items, [error_item(Some("failure to subscribe"), None)]);
        let out = parse(
            v.as_mut(),
            r#"{"channel":"heartbeats","client_id":"","timestamp":"2024-10-04T07:04:40.825062088Z","sequence_num":1,"events":[{"current_time":"2024-10-04 07:04:40.820713045 +0000 UTC m=+66987.628148662","heartbeat_counter":66987}]}"#,
        )
        .unwrap();
        assert_eq!(out.items, [Item::ConnectionSeq(1), Item::Heartbeat]);
        let mut e = ex();
        let out = parse(
            e.as_mut(),
            r#"{"type":"subscriptions","channels":[{"name":"level2","product_ids":["SKL-USD","SKL-BTC"]},{"product_ids":["NU-GBP"],"name":"ticker"}]}"#,
        )
        .unwrap();
        let topics: Vec<_> =
            out.items.iter().filter_map(|i| if let Item::Control(c) = i { c.topic.clone() } else { None }).collect();
        assert_eq!(topics, ["level2:SKL-USD", "level2:SKL-BTC", "ticker:NU-GBP"]);
        let out =
            parse(e.as_mut(), r#"{"type":"error","message":"Failed to subscribe","reason":"No channels provided"}"#)
                .unwrap();
        assert_eq!(out.items, [error_item(Some("Failed to subscribe"), Some("No channels provided"))]);
        let Item::Control(ci) = &out.items[0] else { panic!() };
        assert_eq!(ci.message.as_deref(), Some("Failed to subscribe: No channels provided"));
    }

    #[test]
    fn exchange_book_and_trades() {
        let mut e = ex();
        let out = parse(
            e.as_mut(),
            r#"{"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"],["buy","0.00001300","0"]],"time":"2021-04-17T16:43:37.075687Z"}"#,
        )
        .unwrap();
        let Item::Book(b) = &out.items[0] else { panic!() };
        assert_eq!((b.kind, b.ids), (BookKind::Delta, None));
        assert_eq!(out.asks, [RawLevel { price: dec("0.00001306"), size: dec("660.5") }]);
        assert_eq!(out.bids, [RawLevel { price: dec("0.00001300"), size: dec("0") }]);
        let out = parse(
            e.as_mut(),
            r#"{"type":"match","trade_id":280232,"maker_order_id":"a","taker_order_id":"b","side":"sell","size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}"#,
        )
        .unwrap();
        let Item::Trade { trade, .. } = &out.items[0] else { panic!() };
        assert_eq!((trade.side, trade.trade_id), (Side::Buy, TradeId::Int(280_232)));
        // The current ticker has sizes: a BBO; the 2021 one does not: nothing.
        let out = parse(
            e.as_mut(),
            r#"{"type":"ticker","sequence":5,"product_id":"BTC-USD","price":"1","best_bid":"1.5","best_bid_size":"2","best_ask":"1.6","best_ask_size":"3","side":"buy","time":"2021-04-17T16:43:30.244075Z","trade_id":1,"last_size":"1"}"#,
        )
        .unwrap();
        let Item::Bbo { bbo, .. } = &out.items[0] else { panic!() };
        assert_eq!((bbo.ask.size, bbo.sequence), (dec("3"), Some(5)));
    }

    #[test]
    fn malformed_and_foreign_frames_name_the_field() {
        let field = |r: Result<Out, Error>| match r {
            Err(Error::Frame { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut v = at();
        let l2 = |side: &str, px: &str, q: &str| {
            format!(
                r#"{{"channel":"l2_data","timestamp":"2026-08-09T21:05:48.5Z","sequence_num":1,"events":[{{"type":"update","product_id":"BTC-USD","updates":[{{"side":"{side}","event_time":"2026-08-09T21:05:48.2Z","price_level":"{px}","new_quantity":"{q}"}}]}}]}}"#
            )
        };
        assert!(parse(v.as_mut(), &l2("bid", "1", "1")).is_ok());
        assert_eq!(field(parse(v.as_mut(), &l2("ask", "1", "1"))), "side");
        assert_eq!(field(parse(v.as_mut(), &l2("bid", "-1", "1"))), "price_level");
        assert_eq!(field(parse(v.as_mut(), &l2("bid", "0", "1"))), "price_level");
        assert_eq!(field(parse(v.as_mut(), &l2("bid", "1", "-1"))), "new_quantity");
        assert_eq!(field(parse(v.as_mut(), &l2("bid", "1", "x"))), "new_quantity");
        // a trades event on the l2_data channel
        let wrong = r#"{"channel":"l2_data","timestamp":"2026-08-09T21:05:48.5Z","sequence_num":1,"events":[{"type":"update","trades":[]}]}"#;
        assert_eq!(field(parse(v.as_mut(), wrong)), "events");
        let no_seq = r#"{"channel":"heartbeats","timestamp":"2026-08-09T21:05:48.5Z","events":[]}"#;
        assert_eq!(field(parse(v.as_mut(), no_seq)), "sequence_num");
        let exchange_frame =
            r#"{"type":"l2update","product_id":"SKL-BTC","changes":[],"time":"2021-04-17T16:43:37.075687Z"}"#;
        assert_eq!(field(parse(v.as_mut(), exchange_frame)), "type");
        assert_eq!(
            field(parse(
                v.as_mut(),
                r#"{"channel":"user","timestamp":"2026-08-09T21:05:48.5Z","sequence_num":1,"events":[]}"#
            )),
            "channel"
        );
        let mut out = Out::default();
        assert!(v.parse(b"{}", true, &mut out).is_err());
        let mut e = ex();
        assert_eq!(field(parse(e.as_mut(), &l2("bid", "1", "1"))), "channel");
        assert_eq!(
            field(parse(e.as_mut(), r#"{"type":"l2update","product_id":"A-B","changes":[["buy","1"]]}"#)),
            "changes"
        );
        assert_eq!(field(parse(e.as_mut(), r#"{"type":"snapshot","product_id":"A-B","changes":[]}"#)), "changes");
        assert_eq!(field(parse(e.as_mut(), r#"{"type":"received","product_id":"A-B"}"#)), "type");
        assert_eq!(field(parse(e.as_mut(), r#"{"type":"match","product_id":"A-B","side":"buy"}"#)), "time");
    }

    #[test]
    fn rest_book_reads_a_recorded_snapshot_and_refuses_odd_bodies() {
        // the REST book of the recorded Exchange `snapshot` (rows of [price, size]) with a
        // sequence and order counts, as GET /products/<id>/book?level=2 sends them
        let text =
            include_str!("../../../tests/fixtures/coinbase/exchange_level2_ticker_matches_8products_20210417.jsonl");
        let line = text.lines().find(|l| l.contains(r#""type":"snapshot""#)).expect("a snapshot");
        let snap: serde_json::Value = serde_json::from_str(line).unwrap();
        let rows = |side: &str| -> serde_json::Value {
            snap[side].as_array().unwrap().iter().map(|l| serde_json::json!([l[0], l[1], 1])).collect()
        };
        let body = serde_json::json!({"bids": rows("bids"), "asks": rows("asks"), "sequence": 42,
            "auction_mode": false, "auction": null, "time": "2021-04-17T00:00:00.000000Z"})
        .to_string();
        let mut out = Out::default();
        let got = rest_book(body.as_bytes(), &mut out).unwrap();
        assert_eq!(got.sequence, 42);
        assert_eq!(got.exchange_ts, Some(rfc3339("2021-04-17T00:00:00.000000Z", "t").unwrap()));
        assert_eq!(out.bids.len(), snap["bids"].as_array().unwrap().len());
        assert_eq!(out.asks.len(), snap["asks"].as_array().unwrap().len());
        let e = rest_book(br#"{"message":"NotFound"}"#, &mut out).unwrap_err();
        assert!(e.to_string().contains("NotFound"), "{e}");
        assert!(rest_book(br#"{"bids":[],"asks":[]}"#, &mut out).is_err()); // no sequence
        assert!(rest_book(br#"{"bids":[["-1","1",1]],"asks":[],"sequence":1}"#, &mut out).is_err());
        assert!(rest_book(&body.as_bytes()[..body.len() / 2], &mut out).is_err());
    }
}
