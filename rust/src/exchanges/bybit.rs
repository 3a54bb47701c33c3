//! Bybit v5 public market data: spot, linear (USDT/USDC perpetuals and futures) and inverse.
//!
//! Follows Bybit's v5 WebSocket docs (`docs/v5/websocket/public/{orderbook,trade,ticker,kline}`
//! and `docs/v5/ws/connect`), summarised in shared/docs/exchanges/bybit.md:
//!
//! - one endpoint per market, `wss://stream.bybit.com/v5/public/{spot,linear,inverse}`; every
//!   push is `{"topic","type","ts","data",...}` with the topic `<channel>.<args>.<SYMBOL>`;
//! - `orderbook.{1,50,200,500,1000}.<SYMBOL>`: `type` `snapshot` (replace the book) or `delta`
//!   (absolute sizes, `"0"` deletes), `data.u` the topic's update id, `u == 1` a restart that
//!   overwrites like a snapshot. Level 1 is snapshot-only and is decoded as a BBO (`u` is its
//!   sequence; an unchanged book is sent again with the same `u`; an empty side is price 0,
//!   size 0). No checksum exists. Books are not truncated: Bybit deletes the levels that leave
//!   the topic's depth (the recorded books never exceed it).
//! - `publicTrade.<SYMBOL>`: an array of trades; `i` is a UUID (derivatives) or a decimal string
//!   (spot), decoded as [`TradeId::Text`] / [`TradeId::Int`].
//! - `kline.<interval>.<SYMBOL>`: an array of candles, `confirm` true once closed. Bybit's
//!   intervals `1..720, D, W, M` are named as ccxt timeframes (`1m`, `1h`, `1d`, `1w`, `1M`).
//! - `tickers.<SYMBOL>`: linear/inverse send a snapshot then deltas that omit unchanged fields; the
//!   parser keeps `bid1Price/bid1Size/ask1Price/ask1Size` per symbol and yields a BBO (without a
//!   sequence: the ticker's `cs` is a cross sequence, not the book's `u`) whenever a push changes
//!   them. Spot tickers carry no best bid/ask and yield nothing.
//! - replies `{"success","ret_msg","conn_id","req_id","op"}` to `subscribe`/`unsubscribe`
//!   (ack or error with `ret_msg`; Bybit has no numeric error code), to `ping` (`ret_msg`
//!   `"pong"`, `op` `"ping"`), the `{"op":"pong"}` shape and the option/spread `COMMAND_RESP`.
//!
//! Sequence rule ([`Venue::check`]): Bybit documents no "previous id"; its recorded streams
//! (this repository's linear `orderbook.200` and the archive's `orderbook.500`) number every
//! delta of a topic `u = previous u + 1`, so anything else is a gap and the book is rebuilt by
//! subscribing again (the server then sends a new snapshot).
//!
//! Symbols without an instrument list: spot `BTCUSDT` <-> `BTC/USDT`; linear `BTCUSDT` <->
//! `BTC/USDT:USDT`, `BTCPERP` <-> `BTC/USDC:USDC`, `BTC-26DEC25` <-> `BTC/USDC:USDC-251226`,
//! `BTCUSDT-26DEC25` <-> `BTC/USDT:USDT-251226`; inverse `BTCUSD` <-> `BTC/USD:BTC`,
//! `BTCUSDH25` <-> `BTC/USD:BTC-250328` (Bybit inverse futures deliver on the last Friday of the
//! month). Instruments passed to the factory take precedence both ways.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    BboItem, BookKind, CandleItem, ControlItem, ControlKind, Instrument, Interval, Item, Out, RawLevel, Recovery,
    SeqIds, Snapshot, TradeId, TradeItem, Venue, VenueFactory, Verdict,
};
use crate::error::{from_json, Error};
use crate::event::{RequestId, Side, SymbolIndex};
use crate::fixed::{self, Dec};
use crate::json::{ms_to_ns, nesting_error, required, Cursor};
use crate::time::days_from_civil;

/// The Bybit factory: one exchange id, three endpoints (spot first: the default).
pub struct Factory;

/// The registered Bybit factory.
pub static FACTORY: Factory = Factory;

const MARKETS: &[&str] = &["spot", "linear", "inverse"];

impl VenueFactory for Factory {
    fn id(&self) -> &'static str {
        "bybit"
    }

    fn markets(&self) -> &'static [&'static str] {
        MARKETS
    }

    fn create(&self, market: &str, instruments: &[Instrument]) -> Result<Box<dyn Venue>, Error> {
        Ok(Box::new(Bybit::new(market, instruments)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Market {
    Spot,
    Linear,
    Inverse,
}

/// Best bid/ask fields of one symbol's ticker, merged over snapshot and deltas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ticker {
    bid_price: Option<Dec>,
    bid_size: Option<Dec>,
    ask_price: Option<Dec>,
    ask_size: Option<Dec>,
}

/// One ticker field of a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Field {
    /// Not in the push: unchanged.
    #[default]
    Absent,
    /// `""`: no value now.
    Empty,
    Value(Dec),
}

impl Field {
    fn apply(self, to: &mut Option<Dec>) {
        match self {
            Field::Absent => {}
            Field::Empty => *to = None,
            Field::Value(d) => *to = Some(d),
        }
    }
}

/// The best bid/ask fields one ticker push carries.
#[derive(Debug, Clone, Copy, Default)]
struct TickerPush {
    bid_price: Field,
    bid_size: Field,
    ask_price: Field,
    ask_size: Field,
}

impl TickerPush {
    fn any(&self) -> bool {
        [self.bid_price, self.bid_size, self.ask_price, self.ask_size].iter().any(|f| *f != Field::Absent)
    }
}

/// Bybit on one endpoint.
#[derive(Debug)]
pub struct Bybit {
    market: Market,
    to_symbol: HashMap<String, String>,
    to_market_id: HashMap<String, String>,
    /// Ticker state by symbol index.
    tickers: Vec<Ticker>,
}

/// The next key of the object at the cursor, like [`Cursor::next_key`], but first tried as each
/// of the literal `keys` with [`Cursor::at_key`]: a few integer compares instead of a scan when
/// the frame is written the way Bybit writes it (`,"key":`). Either way the same key comes back
/// to the same `match`, so any layout decodes the same (`layouts_decode_alike` checks the
/// recordings). Belongs in json.rs as a generic helper.
macro_rules! next_key {
    ($c:expr, $first:expr, $($key:literal),+) => {{
        let c: &mut Cursor<'_> = $c;
        let first: &mut bool = $first;
        $(if c.at_key($key, first) { Some(&$key[..]) } else)+ { c.next_key(first)? }
    }};
}

/// What a topic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel<'a> {
    Book {
        depth: u32,
        symbol: &'a str,
    },
    Trade {
        symbol: &'a str,
    },
    Kline {
        symbol: &'a str,
    },
    Ticker {
        symbol: &'a str,
    },
    /// Documented, but not decoded by tickwire (liquidations, price limits, system status).
    Ignored,
}

/// What the `data` of a push left for the frame's other fields to complete.
#[derive(Debug, Default)]
struct Pending {
    ticker: Option<(SymbolIndex, TickerPush)>,
}

impl Bybit {
    /// A parser for `market` ("spot", "linear" or "inverse").
    pub fn new(market: &str, instruments: &[Instrument]) -> Result<Self, Error> {
        let market = match market {
            "spot" => Market::Spot,
            "linear" => Market::Linear,
            "inverse" => Market::Inverse,
            _ => {
                return Err(Error::invalid(
                    "market",
                    market,
                    format!("bybit has no such public endpoint; known: {}", MARKETS.join(", ")),
                ))
            }
        };
        let to_symbol = instruments.iter().map(|i| (i.market_id.clone(), i.symbol.clone())).collect();
        let to_market_id = instruments.iter().map(|i| (i.symbol.clone(), i.market_id.clone())).collect();
        Ok(Self { market, to_symbol, to_market_id, tickers: Vec::new() })
    }

    /// The `data` value at the cursor, for `channel`; items go to `out` with their timestamps
    /// and book kind completed by [`Self::finish`].
    fn data(c: &mut Cursor<'_>, channel: Channel<'_>, out: &mut Out, pending: &mut Pending) -> Result<(), Error> {
        match channel {
            Channel::Book { depth, symbol } => book(c, depth, symbol, out),
            Channel::Trade { symbol } => trades(c, symbol, out),
            Channel::Kline { symbol } => klines(c, symbol, out),
            Channel::Ticker { symbol } => {
                let push = ticker(c, symbol)?;
                pending.ticker = Some((out.symbol(symbol), push));
                Ok(())
            }
            Channel::Ignored => c.skip_value("data"),
        }
    }

    /// Complete the items of one push once all its fields are read: `type`, `ts` (ms).
    #[allow(clippy::too_many_arguments)] // the fields of one push, from two parsers
    fn finish(
        &mut self,
        channel: Channel<'_>,
        kind: Option<&str>,
        ts: Option<i64>,
        data_seen: bool,
        items_from: usize,
        pending: &Pending,
        out: &mut Out,
    ) -> Result<(), Error> {
        if channel == Channel::Ignored {
            return Ok(());
        }
        if !data_seen {
            return Err(Error::frame("data", "missing field"));
        }
        let ts = required(ts, "ts")?;
        let snapshot = match required(kind, "type")? {
            "snapshot" => true,
            "delta" => false,
            other => return Err(Error::frame("type", format!("expected \"snapshot\" or \"delta\", found {other:?}"))),
        };
        for item in &mut out.items[items_from..] {
            match item {
                Item::Book(b) => {
                    if snapshot {
                        b.kind = BookKind::Snapshot;
                    }
                    b.exchange_ts = Some(ts);
                }
                Item::Bbo { bbo, .. } => bbo.exchange_ts = Some(ts),
                Item::Trade { trade, .. } => trade.exchange_ts = ts,
                Item::Candle { candle, .. } => {
                    candle.exchange_ts.get_or_insert(ts);
                }
                _ => {}
            }
        }
        if let Some((symbol, push)) = pending.ticker {
            if self.tickers.len() <= symbol {
                self.tickers.resize(symbol + 1, Ticker::default());
            }
            let state = &mut self.tickers[symbol];
            if snapshot {
                *state = Ticker::default();
            }
            push.bid_price.apply(&mut state.bid_price);
            push.bid_size.apply(&mut state.bid_size);
            push.ask_price.apply(&mut state.ask_price);
            push.ask_size.apply(&mut state.ask_size);
            if let (true, Some(bp), Some(bs), Some(ap), Some(asz)) =
                (push.any(), state.bid_price, state.bid_size, state.ask_price, state.ask_size)
            {
                let bbo = BboItem {
                    bid: RawLevel { price: bp, size: bs },
                    ask: RawLevel { price: ap, size: asz },
                    sequence: None,
                    exchange_ts: Some(ts),
                };
                out.items.push(Item::Bbo { symbol, bbo });
            }
        }
        Ok(())
    }

    /// The usual layout: `topic` first, `data` after it. Ok(false): another layout (a reply, or
    /// `data` before `topic`), nothing consumed into `out`: parse with [`Self::parse_any`].
    fn parse_push(&mut self, frame: &[u8], out: &mut Out) -> Result<bool, Error> {
        let mut c = Cursor::new(frame);
        c.begin_object()?;
        let mut first = true;
        if !c.at_key(b"topic", &mut first) {
            return Ok(false);
        }
        let channel = channel(c.str("topic")?)?;
        let items_from = out.items.len();
        let (mut kind, mut ts, mut data_seen, mut pending) = (None, None, false, Pending::default());
        while let Some(key) = next_key!(&mut c, &mut first, b"type", b"ts", b"data", b"cts", b"cs") {
            match key {
                b"type" => kind = Some(c.str("type")?),
                b"ts" => ts = Some(c.timestamp_ms("ts")?),
                b"data" => {
                    Self::data(&mut c, channel, out, &mut pending)?;
                    data_seen = true;
                }
                _ => c.skip_value("json")?, // cts, cs, id
            }
        }
        c.end()?;
        self.finish(channel, kind, ts, data_seen, items_from, &pending, out)?;
        Ok(true)
    }

    /// Any layout: replies, and pushes whose keys come in another order (serde, cold).
    fn parse_any(&mut self, frame: &[u8], out: &mut Out) -> Result<(), Error> {
        let f: Frame<'_> = from_json(frame)?;
        if let Some(topic) = f.topic.as_deref() {
            if let Some(p) = private_topic(topic) {
                return private_push(p, frame, out);
            }
            let channel = channel(topic)?;
            let items_from = out.items.len();
            let mut pending = Pending::default();
            let data_seen = f.data.is_some();
            if let Some(data) = f.data {
                let mut c = Cursor::within(data.get().as_bytes(), frame);
                Self::data(&mut c, channel, out, &mut pending)?;
                c.end()?;
            }
            let ts = f.ts.map(|ms| ms_to_ns(ms, "ts")).transpose()?;
            return self.finish(channel, f.kind.as_deref(), ts, data_seen, items_from, &pending, out);
        }
        control(&f, out)
    }

    fn table_symbol(&self, market_id: &str) -> Option<&String> {
        self.to_symbol.get(market_id)
    }
}

impl Venue for Bybit {
    fn id(&self) -> &'static str {
        "bybit"
    }

    fn market(&self) -> &'static str {
        match self.market {
            Market::Spot => "spot",
            Market::Linear => "linear",
            Market::Inverse => "inverse",
        }
    }

    fn parse(&mut self, frame: &[u8], binary: bool, out: &mut Out) -> Result<(), Error> {
        if binary {
            return Err(Error::frame("frame", "Bybit v5 public streams send text frames only"));
        }
        let result = match self.parse_push(frame, out) {
            Ok(true) => Ok(()),
            Ok(false) => self.parse_any(frame, out),
            // A private push with `topic` first (`execution.fast`) is no public topic: read it
            // here, off the public path.
            Err(e) => private_fallback(frame, out, e),
        };
        result.map_err(|e| nesting_error(frame).unwrap_or(e))
    }

    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
    }

    /// The REST fallback's top-N book (`GET /v5/market/orderbook`): Bybit's books sync from the
    /// WebSocket's snapshot; this body only ever loads the fallback's own decoder (see
    /// [`rest_orderbook`]).
    fn parse_snapshot(&mut self, body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
        rest_orderbook(body, out)
    }

    /// Bybit `u`: each delta of a topic is the previous `u` + 1 (snapshots and `u == 1` reset
    /// the book and never reach this rule). Anything else, a repeat included, is a gap.
    fn check(&self, last: u64, ids: &SeqIds, _bridging: bool) -> Verdict {
        if ids.last == last.wrapping_add(1) {
            Verdict::Apply
        } else {
            Verdict::Gap { expected: last.wrapping_add(1), received: ids.last }
        }
    }

    fn unified_symbol(&self, market_id: &str) -> String {
        if let Some(s) = self.table_symbol(market_id) {
            return s.clone();
        }
        // `<category>:<symbol>`: an account topic's id (never a public one: no ':').
        private_unified(market_id).or_else(|| unified(self.market, market_id)).unwrap_or_else(|| market_id.to_owned())
    }

    /// `/v5/execution/list` (fills) or `/v5/order/realtime` / `/v5/order/history` (orders):
    /// `result.list` oldest first (Bybit lists newest first: reversed, so that entries of the
    /// same millisecond keep their order), symbols by `result.category`. A `retCode` other
    /// than 0 is a `Frame` error naming it.
    fn parse_account(&mut self, what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
        account_list(what, body, out)
    }

    fn parse_trades(&mut self, body: &[u8]) -> Result<Vec<TradeItem>, Error> {
        recent_trades(body)
    }

    fn market_id(&self, symbol: &str) -> Result<String, Error> {
        if let Some(m) = self.to_market_id.get(symbol) {
            return Ok(m.clone());
        }
        market_id(self.market, symbol)
    }
}

// ------------------------------------------------------------------------------------------
// Topics and data
// ------------------------------------------------------------------------------------------

/// The channel a topic names; `Frame` error naming `topic` for anything Bybit does not document
/// on the public spot/linear/inverse streams.
fn channel<'t>(topic: &'t str) -> Result<Channel<'t>, Error> {
    let bad = |why: &str| Error::frame("topic", format!("{topic:?}: {why}"));
    // `split_once('.')` by bytes: a topic is a few ASCII bytes, shorter than a memchr set-up.
    let split = |s: &'t str| s.bytes().position(|b| b == b'.').map(|i| (&s[..i], &s[i + 1..]));
    let (name, rest) = split(topic).ok_or_else(|| bad("expected <channel>.<symbol>"))?;
    let symbol_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let with_symbol = || -> Result<(&str, &str), Error> {
        split(rest).filter(|(_, s)| symbol_ok(s)).ok_or_else(|| bad("expected <channel>.<arg>.<symbol>"))
    };
    match name {
        "orderbook" => {
            let (depth, symbol) = with_symbol()?;
            let depth = match depth {
                "1" => 1,
                "50" => 50,
                "200" => 200,
                "500" => 500,
                "1000" => 1000,
                "rpi" => return Ok(Channel::Ignored),
                "full" => return Err(bad("orderbook.full is delta-only over a REST snapshot; not supported")),
                _ => return Err(bad("undocumented order book depth")),
            };
            Ok(Channel::Book { depth, symbol })
        }
        "kline" => {
            let (_, symbol) = with_symbol()?;
            Ok(Channel::Kline { symbol })
        }
        "publicTrade" if symbol_ok(rest) => Ok(Channel::Trade { symbol: rest }),
        "tickers" if symbol_ok(rest) => Ok(Channel::Ticker { symbol: rest }),
        "allLiquidation" | "liquidation" | "priceLimit" | "insurance" | "adlAlert" | "lt" | "tickers_lt"
        | "kline_lt" | "system" => Ok(Channel::Ignored),
        _ => Err(bad("not a Bybit v5 public topic")),
    }
}

/// Check `data.s` against the topic's symbol.
fn same_symbol(s: &str, topic_symbol: &str, field: &'static str) -> Result<(), Error> {
    if s == topic_symbol {
        Ok(())
    } else {
        Err(Error::frame(field, format!("symbol {s:?} differs from the topic's {topic_symbol:?}")))
    }
}

/// `[["price","size"],...]` appended to `levels`; prices above 0, sizes at least 0. A level that
/// is not exactly a price and a size is an error naming it (`b[3][1]`).
fn levels(c: &mut Cursor<'_>, levels: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
    c.short_dec_levels(levels, field)
}

/// `orderbook.<depth>.<symbol>` data: `{"s","b","a","u","seq"}`. Level 1 is a BBO.
fn book(c: &mut Cursor<'_>, depth: u32, topic_symbol: &str, out: &mut Out) -> Result<(), Error> {
    let (bids_from, asks_from) = (out.bids.len(), out.asks.len());
    c.begin_object()?;
    let mut first = true;
    let (mut sym, mut has_bids, mut has_asks, mut update_id) = (None, false, false, None);
    while let Some(key) = next_key!(c, &mut first, b"s", b"b", b"a", b"u", b"seq") {
        match key {
            b"s" => sym = Some(c.str("data.s")?),
            b"b" => {
                levels(c, &mut out.bids, "b")?;
                has_bids = true;
            }
            b"a" => {
                levels(c, &mut out.asks, "a")?;
                has_asks = true;
            }
            b"u" => update_id = Some(c.u64("data.u")?),
            _ => c.skip_value("data")?, // seq
        }
    }
    same_symbol(required(sym, "data.s")?, topic_symbol, "data.s")?;
    let u = required(update_id, "data.u")?;
    if !has_bids {
        return Err(Error::frame("data.b", "missing field"));
    }
    if !has_asks {
        return Err(Error::frame("data.a", "missing field"));
    }
    let symbol = out.symbol(topic_symbol);
    if depth == 1 {
        let side = |levels: &[RawLevel], name: &'static str| match levels {
            [] => Ok(RawLevel { price: Dec::ZERO, size: Dec::ZERO }),
            [l] => Ok(*l),
            _ => Err(Error::frame(name, "orderbook.1 carries at most one level per side")),
        };
        let bid = side(&out.bids[bids_from..], "data.b")?;
        let ask = side(&out.asks[asks_from..], "data.a")?;
        out.bids.truncate(bids_from);
        out.asks.truncate(asks_from);
        out.items.push(Item::Bbo { symbol, bbo: BboItem { bid, ask, sequence: Some(u), exchange_ts: None } });
        return Ok(());
    }
    // `u == 1`: the service restarted; the message overwrites the book like a snapshot.
    let kind = if u == 1 { BookKind::Snapshot } else { BookKind::Delta };
    let ids = SeqIds { first: u, last: u, prev: None };
    out.book(symbol, kind, Some(ids), None, None, None, (bids_from, asks_from));
    Ok(())
}

/// A `GET /v5/market/orderbook` reply, `{"retCode":0,"retMsg":"OK","result":{"s","b","a","ts",
/// "u","seq","cts"},"time"}`: levels into `out.bids/asks`, `u` the sequence, `ts` (ms) the
/// time. A `retCode` other than 0 is an error naming it and `retMsg`; a missing `result.u`,
/// `b` or `a` a `Frame` error naming the field.
fn rest_orderbook(body: &[u8], out: &mut Out) -> Result<Snapshot, Error> {
    out.bids.clear();
    out.asks.clear();
    let mut c = Cursor::new(body);
    c.begin_object()?;
    let (mut code, mut message, mut snap) = (None, None, None);
    let mut first = true;
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"retCode" => code = Some(c.u64("retCode")?),
            b"retMsg" => message = Some(c.str("retMsg")?),
            b"result" if !matches!(code, Some(v) if v != 0) => snap = Some(rest_book_result(&mut c, out)?),
            _ => c.skip_value("json")?,
        }
    }
    c.end()?;
    match code {
        Some(0) => required(snap, "result"),
        Some(v) => Err(Error::frame("retCode", format!("{v} {}", message.unwrap_or("")))),
        None => Err(Error::frame("retCode", "missing field")),
    }
}

/// The `result` object of [`rest_orderbook`].
fn rest_book_result(c: &mut Cursor<'_>, out: &mut Out) -> Result<Snapshot, Error> {
    c.begin_object()?;
    let (mut u, mut ts, mut bids, mut asks) = (None, None, false, false);
    let mut first = true;
    while let Some(key) = c.next_key(&mut first)? {
        match key {
            b"b" if !bids => {
                levels(c, &mut out.bids, "result.b")?;
                bids = true;
            }
            b"a" if !asks => {
                levels(c, &mut out.asks, "result.a")?;
                asks = true;
            }
            b"u" => u = Some(c.u64("result.u")?),
            b"ts" => ts = Some(c.timestamp_ms("result.ts")?),
            _ => c.skip_value("result")?,
        }
    }
    if !bids || !asks {
        return Err(Error::frame(if bids { "result.a" } else { "result.b" }, "missing field"));
    }
    Ok(Snapshot { sequence: required(u, "result.u")?, exchange_ts: ts })
}

/// `Buy` / `Sell`.
fn side(c: &mut Cursor<'_>) -> Result<Side, Error> {
    match c.str("data.S")? {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        other => Err(Error::frame("data.S", format!("expected \"Buy\" or \"Sell\", found {other:?}"))),
    }
}

/// A trade id: a decimal string that fits a u64 is a number, anything else (UUIDs) text.
fn trade_id(s: &str) -> Result<TradeId, Error> {
    if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) && (s.len() == 1 || !s.starts_with('0'))
    {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(TradeId::Int(n));
        }
    }
    if s.is_empty() {
        return Err(Error::frame("data.i", "empty trade id"));
    }
    TradeId::text(s, "data.i")
}

/// `publicTrade.<symbol>` data: `[{"T","s","S","v","p","L","i","BT","RPI","seq"},...]`.
fn trades(c: &mut Cursor<'_>, topic_symbol: &str, out: &mut Out) -> Result<(), Error> {
    if !c.begin_array("data")? {
        return Ok(());
    }
    let symbol = out.symbol(topic_symbol);
    loop {
        c.begin_object()?;
        let mut first = true;
        let (mut time, mut sym, mut aggressor, mut qty, mut px, mut id) = (None, None, None, None, None, None);
        while let Some(key) = next_key!(c, &mut first, b"T", b"s", b"S", b"v", b"p", b"L", b"i", b"BT", b"RPI", b"seq")
        {
            match key {
                b"T" => time = Some(c.timestamp_ms("data.T")?),
                b"s" => sym = Some(c.str("data.s")?),
                b"S" => aggressor = Some(side(c)?),
                b"v" => qty = Some(c.dec("data.v")?),
                b"p" => px = Some(c.dec("data.p")?),
                b"i" => id = Some(trade_id(c.str("data.i")?)?),
                _ => c.skip_value("data")?, // L, BT, RPI, seq, option fields
            }
        }
        same_symbol(required(sym, "data.s")?, topic_symbol, "data.s")?;
        let price = required(px, "data.p")?;
        let size = required(qty, "data.v")?;
        if price.mantissa <= 0 {
            return Err(Error::frame("data.p", format!("price {price} is not above 0")));
        }
        if size.is_negative() {
            return Err(Error::frame("data.v", format!("size {size} is negative")));
        }
        let trade_ts = required(time, "data.T")?;
        let trade = TradeItem {
            price,
            size,
            side: required(aggressor, "data.S")?,
            trade_id: required(id, "data.i")?,
            trade_ts,
            exchange_ts: trade_ts, // the frame's ts, set by `finish`
        };
        out.items.push(Item::Trade { symbol, trade });
        if !c.more_elements("data")? {
            return Ok(());
        }
    }
}

/// Bybit's kline interval as a ccxt timeframe.
fn interval(s: &str) -> Result<Interval, Error> {
    let name = match s {
        "1" => "1m",
        "3" => "3m",
        "5" => "5m",
        "15" => "15m",
        "30" => "30m",
        "60" => "1h",
        "120" => "2h",
        "240" => "4h",
        "360" => "6h",
        "720" => "12h",
        "D" => "1d",
        "W" => "1w",
        "M" => "1M",
        _ => return Err(Error::frame("data.interval", format!("undocumented interval {s:?}"))),
    };
    Interval::new(name, "data.interval")
}

/// `kline.<interval>.<symbol>` data: `[{"start","end","interval","open","close","high","low",
/// "volume","turnover","confirm","timestamp"},...]`.
fn klines(c: &mut Cursor<'_>, topic_symbol: &str, out: &mut Out) -> Result<(), Error> {
    if !c.begin_array("data")? {
        return Ok(());
    }
    let symbol = out.symbol(topic_symbol);
    loop {
        c.begin_object()?;
        let mut first = true;
        let (mut start, mut end, mut iv, mut confirm, mut ts) = (None, None, None, None, None);
        let (mut open, mut high, mut low, mut close, mut volume) = (None, None, None, None, None);
        while let Some(key) = c.next_key(&mut first)? {
            match key {
                b"start" => start = Some(c.timestamp_ms("data.start")?),
                b"end" => end = Some(c.timestamp_ms("data.end")?),
                b"interval" => iv = Some(interval(c.str("data.interval")?)?),
                b"open" => open = Some(c.dec("data.open")?),
                b"high" => high = Some(c.dec("data.high")?),
                b"low" => low = Some(c.dec("data.low")?),
                b"close" => close = Some(c.dec("data.close")?),
                b"volume" => volume = Some(c.dec("data.volume")?),
                b"confirm" => confirm = Some(c.bool("data.confirm")?),
                b"timestamp" => ts = Some(c.timestamp_ms("data.timestamp")?),
                _ => c.skip_value("data")?, // turnover
            }
        }
        let candle = CandleItem {
            interval: required(iv, "data.interval")?,
            start_ts: required(start, "data.start")?,
            end_ts: required(end, "data.end")?,
            open: required(open, "data.open")?,
            high: required(high, "data.high")?,
            low: required(low, "data.low")?,
            close: required(close, "data.close")?,
            volume: required(volume, "data.volume")?,
            trades: None,
            closed: Some(required(confirm, "data.confirm")?),
            exchange_ts: ts,
        };
        out.items.push(Item::Candle { symbol, candle: Box::new(candle) });
        if !c.more_elements("data")? {
            return Ok(());
        }
    }
}

/// A ticker decimal field (`""`: no value).
fn ticker_dec(c: &mut Cursor<'_>, field: &'static str) -> Result<Field, Error> {
    let s = c.str(field)?;
    if s.is_empty() {
        return Ok(Field::Empty);
    }
    let d = fixed::parse_dec(s, field)?;
    if d.is_negative() {
        return Err(Error::frame(field, format!("{d} is negative")));
    }
    Ok(Field::Value(d))
}

/// `tickers.<symbol>` data: the best bid/ask fields it carries (others skipped).
fn ticker(c: &mut Cursor<'_>, topic_symbol: &str) -> Result<TickerPush, Error> {
    c.begin_object()?;
    let mut first = true;
    let (mut s, mut push) = (None, TickerPush::default());
    while let Some(key) = next_key!(c, &mut first, b"symbol", b"bid1Price", b"bid1Size", b"ask1Price", b"ask1Size") {
        match key {
            b"symbol" => s = Some(c.str("data.symbol")?),
            b"bid1Price" => push.bid_price = ticker_dec(c, "data.bid1Price")?,
            b"bid1Size" => push.bid_size = ticker_dec(c, "data.bid1Size")?,
            b"ask1Price" => push.ask_price = ticker_dec(c, "data.ask1Price")?,
            b"ask1Size" => push.ask_size = ticker_dec(c, "data.ask1Size")?,
            _ => c.skip_value("data")?,
        }
    }
    same_symbol(required(s, "data.symbol")?, topic_symbol, "data.symbol")?;
    Ok(push)
}

// ------------------------------------------------------------------------------------------
// Replies (cold: serde)
// ------------------------------------------------------------------------------------------

/// Any frame, by name: pushes in an unusual key order and every reply shape.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow, default)]
    topic: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    ts: Option<u64>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(borrow, default)]
    ret_msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    op: Option<Cow<'a, str>>,
    #[serde(default)]
    req_id: Option<serde_json::Value>,
}

/// `COMMAND_RESP` data (option/spread endpoints).
#[derive(Deserialize)]
struct CommandData {
    #[serde(rename = "successTopics", default)]
    success_topics: Vec<String>,
    #[serde(rename = "failTopics", default)]
    fail_topics: Vec<String>,
}

/// The request id Bybit echoes (`req_id` is a string; the adapter sends decimal numbers, which
/// come back as [`RequestId::Int`] so they match the id it sent). `""` is no id.
fn request_id(v: Option<&serde_json::Value>) -> Result<Option<RequestId>, Error> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => {
            Ok(Some(match s.parse::<i64>().ok().filter(|n| *n >= 0 && n.to_string() == *s) {
                Some(n) => RequestId::Int(n),
                None => RequestId::Str(s.clone()),
            }))
        }
        Some(serde_json::Value::Number(n)) => {
            n.as_i64().map(|n| Some(RequestId::Int(n))).ok_or_else(|| Error::frame("req_id", "not an integer"))
        }
        Some(_) => Err(Error::frame("req_id", "expected a string")),
    }
}

/// A reply to a client request.
fn control(f: &Frame<'_>, out: &mut Out) -> Result<(), Error> {
    let request_id = request_id(f.req_id.as_ref())?;
    let message = f.ret_msg.as_deref().filter(|m| !m.is_empty()).map(str::to_owned);
    let item = |kind, message: Option<String>, topic: Option<String>| {
        Item::Control(ControlItem { kind, request_id: request_id.clone(), topic, code: None, message })
    };
    if f.kind.as_deref() == Some("COMMAND_RESP") {
        let data = f.data.ok_or_else(|| Error::frame("data", "missing field"))?;
        let d: CommandData = from_json(data.get().as_bytes())?;
        for t in d.success_topics {
            out.items.push(item(ControlKind::Ack, None, Some(t)));
        }
        for t in d.fail_topics {
            out.items.push(item(ControlKind::Error, message.clone(), Some(t)));
        }
        return Ok(());
    }
    let op = f.op.as_deref().ok_or_else(|| Error::frame("op", "missing field: not a Bybit v5 push or reply"))?;
    let success = f.success;
    let kind = match (op, success) {
        ("pong", _) | ("ping", Some(true)) => ControlKind::Pong,
        ("subscribe" | "unsubscribe", Some(true)) => ControlKind::Ack,
        ("auth", Some(true)) => ControlKind::Login,
        ("subscribe" | "unsubscribe" | "ping" | "auth", Some(false)) => ControlKind::Error,
        (_, None) => return Err(Error::frame("success", "missing field")),
        (other, _) => return Err(Error::frame("op", format!("undocumented op {other:?}"))),
    };
    // A pong's ret_msg is "pong"; an ack's is "" (linear) or "subscribe" (spot): only errors
    // carry a message worth keeping.
    let message = if kind == ControlKind::Error { message } else { None };
    out.items.push(item(kind, message, None));
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Symbols
// ------------------------------------------------------------------------------------------

/// Spot quote coins, longest first, to split a concatenated market id ("ETHBTC" -> ETH/BTC).
const SPOT_QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "USDE", "USDQ", "USDR", "USD1", "EUR", "BRL", "TRY", "PLN", "BTC", "ETH", "DAI", "MNT",
    "BRZ", "KZT",
];

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
/// Futures month codes, January first.
const MONTH_CODES: &[u8; 12] = b"FGHJKMNQUVXZ";

fn split_quote<'a>(id: &'a str, quotes: &[&'a str]) -> Option<(&'a str, &'a str)> {
    quotes.iter().find(|q| id.len() > q.len() && id.ends_with(*q)).map(|q| (&id[..id.len() - q.len()], *q))
}

/// `26DEC25` -> `251226`.
fn ddmmmyy_to_yymmdd(d: &str) -> Option<String> {
    if d.len() != 7 && d.len() != 6 {
        return None;
    }
    let (day, rest) = d.split_at(d.len() - 5);
    let (mon, yy) = rest.split_at(3);
    let m = MONTHS.iter().position(|x| *x == mon)? + 1;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    yy.bytes().all(|b| b.is_ascii_digit()).then(|| format!("{yy}{m:02}{day:02}"))
}

/// `251226` -> `26DEC25`.
fn yymmdd_to_ddmmmyy(d: &str) -> Option<String> {
    if d.len() != 6 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let m: usize = d[2..4].parse().ok().filter(|m| (1..=12).contains(m))?;
    let day: u32 = d[4..6].parse().ok().filter(|d| (1..=31).contains(d))?;
    Some(format!("{day}{}{}", MONTHS[m - 1], &d[..2]))
}

/// The last Friday of a month, as its day of the month.
fn last_friday(year: i64, month: i64) -> i64 {
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let last = days_from_civil(ny, nm, 1) - 1;
    let weekday = (last + 4).rem_euclid(7); // 0 = Sunday; 1970-01-01 was a Thursday
    let back = (weekday - 5).rem_euclid(7);
    let days_in_month = last - days_from_civil(year, month, 1) + 1;
    days_in_month - back
}

/// Exchange market id -> unified symbol by Bybit's naming rules (None: no rule fits).
fn unified(market: Market, id: &str) -> Option<String> {
    match market {
        Market::Spot => split_quote(id, SPOT_QUOTES).map(|(b, q)| format!("{b}/{q}")),
        Market::Linear => {
            if let Some((pair, date)) = id.split_once('-') {
                let date = ddmmmyy_to_yymmdd(date)?;
                return Some(match pair.strip_suffix("USDT").filter(|b| !b.is_empty()) {
                    Some(base) => format!("{base}/USDT:USDT-{date}"),
                    None => format!("{pair}/USDC:USDC-{date}"),
                });
            }
            if let Some(base) = id.strip_suffix("PERP").filter(|b| !b.is_empty()) {
                return Some(format!("{base}/USDC:USDC"));
            }
            split_quote(id, &["USDT", "USDC"]).map(|(b, q)| format!("{b}/{q}:{q}"))
        }
        Market::Inverse => {
            if let Some(base) = id.strip_suffix("USD").filter(|b| !b.is_empty()) {
                return Some(format!("{base}/USD:{base}"));
            }
            // BTCUSDH25: base, "USD", a month code, two year digits.
            let n = id.len();
            if n < 7 || !id.is_char_boundary(n - 3) {
                return None;
            }
            let (head, tail) = id.split_at(n - 3);
            let base = head.strip_suffix("USD").filter(|b| !b.is_empty())?;
            let m = MONTH_CODES.iter().position(|&c| c == tail.as_bytes()[0])? + 1;
            let yy: i64 = tail[1..].parse().ok()?;
            let day = last_friday(2000 + yy, m as i64);
            Some(format!("{base}/USD:{base}-{yy:02}{m:02}{day:02}"))
        }
    }
}

/// Unified symbol -> exchange market id by Bybit's naming rules.
fn market_id(market: Market, symbol: &str) -> Result<String, Error> {
    let name = match market {
        Market::Spot => "spot",
        Market::Linear => "linear",
        Market::Inverse => "inverse",
    };
    let bad = |why: &str| Error::invalid("symbol", symbol, format!("{why} (bybit {name})"));
    let (pair, settle) = match symbol.split_once(':') {
        Some((p, s)) => (p, Some(s)),
        None => (symbol, None),
    };
    let (base, quote) = pair.split_once('/').ok_or_else(|| bad("expected BASE/QUOTE"))?;
    let well_formed = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !well_formed(base) || !well_formed(quote) {
        return Err(bad("expected upper-case BASE/QUOTE"));
    }
    let (settle, date) = match settle.map(|s| s.split_once('-').map_or((s, None), |(s, d)| (s, Some(d)))) {
        None => (None, None),
        Some((s, d)) => (Some(s), d),
    };
    match (market, settle) {
        (Market::Spot, None) => Ok(format!("{base}{quote}")),
        (Market::Spot, Some(_)) => Err(bad("a derivative symbol (with ':') is not a spot market")),
        (_, None) => Err(bad("a spot symbol is not a contract (write BASE/QUOTE:SETTLE)")),
        (Market::Linear, Some(s)) => {
            if s != quote || !matches!(quote, "USDT" | "USDC") {
                return Err(bad("linear contracts settle in their quote, USDT or USDC"));
            }
            match (quote, date) {
                ("USDC", None) => Ok(format!("{base}PERP")),
                (_, None) => Ok(format!("{base}{quote}")),
                (q, Some(d)) => {
                    let d = yymmdd_to_ddmmmyy(d).ok_or_else(|| bad("expected an expiry YYMMDD"))?;
                    Ok(if q == "USDC" { format!("{base}-{d}") } else { format!("{base}USDT-{d}") })
                }
            }
        }
        (Market::Inverse, Some(s)) => {
            if s != base || quote != "USD" {
                return Err(bad("inverse contracts are BASE/USD settled in BASE"));
            }
            match date {
                None => Ok(format!("{base}USD")),
                Some(d) => {
                    let ok = d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit());
                    let m: usize = if ok { d[2..4].parse().unwrap_or(0) } else { 0 };
                    if !(1..=12).contains(&m) {
                        return Err(bad("expected an expiry YYMMDD"));
                    }
                    Ok(format!("{base}USD{}{}", MONTH_CODES[m - 1] as char, &d[..2]))
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Private (account) topics and REST lists (cold: serde)
// ------------------------------------------------------------------------------------------
//
// One private endpoint, `wss://stream.bybit.com/v5/private`, carries every category's account
// data; each order / execution / position carries its `category`. So the parser pushes the
// market id `<category>:<symbol>` (`linear:BTCUSDT`, `spot:BTCUSDT`, `inverse:BTCUSD`,
// `option:ETH-30DEC22-1400-C`), which [`Venue::unified_symbol`] maps with that category's
// rules whatever endpoint the decoder was made for. Topics (docs `websocket/private/*`): `order`,
// `execution`, `execution.fast`, `position`, `wallet` and their categorised variants
// (`order.linear`, ...); `greeks`, `dcp.*` and `spread.*` are documented and skipped.
//
// Order statuses (`orderStatus`) onto [`OrderStatus`]:
//
// | Bybit                     | tickwire         | why                                           |
// |---------------------------|------------------|-----------------------------------------------|
// | `New`                     | new              | working on the book                           |
// | `PartiallyFilled`         | partially_filled |                                               |
// | `Untriggered`             | pending          | conditional order waiting for its trigger     |
// | `Triggered`               | new              | instant between Untriggered and New           |
// | `Active`                  | new              | triggered, the active order now exists        |
// | `Filled`                  | filled           |                                               |
// | `Cancelled`               | canceled         |                                               |
// | `PartiallyFilledCanceled` | canceled         | filled_size says how much had filled          |
// | `Deactivated`             | canceled         | a TP/SL or conditional order canceled before  |
// |                           |                  | its trigger                                   |
// | `Rejected`                | rejected         |                                               |
//
// Order types: `orderType` `Limit` / `Market`, made conditional by `stopOrderType`
// (`TakeProfit`, `PartialTakeProfit` -> take_profit_*; `TrailingStop` -> trailing_stop; any other
// stop type, `Stop`, `StopLoss`, `tpslOrder`, `OcoOrder`, ... -> stop_*). Times in force `GTC`,
// `IOC`, `FOK`, `PostOnly` (post_only) and `RPI` (post_only: RPI orders only rest). A market
// order's `price` is Bybit's protective limit, not a limit price: `price` is None for them.
//
// Fills (`execution`, `execution.fast`, REST `/v5/execution/list`): `execFee` is already
// positive when paid and negative for a rebate (kept as is); `feeCurrency` where present;
// `isMaker`; liquidation when `execType` is `BustTrade` or `createType` is `CreateByLiq` /
// `CreateByTakeOver_PassThrough` (None when the push has neither, as `execution.fast`).
// `execType` `Funding` is a funding fee, not a trade: skipped.
//
// Positions: `side` `Buy` long, `Sell` short, `""` (size 0) flat; `entryPrice` / `liqPrice` of
// "0" or "" mean none (None); margin mode from `tradeMode` (0 cross, 1 isolated).
//
// Balances (`wallet`): one per `coin` entry. total = `walletBalance` (the coin's wallet
// balance, without unrealised PnL); locked = `locked` (held by spot open orders) +
// `totalOrderIM` (margin held by derivatives orders) + `totalPositionIM` (margin of positions),
// those of the three Bybit gives ("" counts as absent; portfolio margin sends ""); free =
// `availableToWithdraw` where Bybit gives it (unified accounts may send "": None).

use crate::account::{
    order_type as ot, time_in_force as tif, AccountList, BalanceItem, FillItem, MarginMode, OrderItem, OrderStatus,
    PositionItem, PositionSide,
};

/// A private topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrivateTopic {
    Order,
    Execution,
    Wallet,
    Position,
    /// Documented, not decoded (greeks, dcp, spread trading).
    Ignored,
}

/// The private topic `topic` names, if it is one.
#[cold]
#[inline(never)]
fn private_topic(topic: &str) -> Option<PrivateTopic> {
    let (name, rest) = topic.split_once('.').unwrap_or((topic, ""));
    let category = matches!(rest, "" | "spot" | "linear" | "inverse" | "option" | "all");
    match name {
        "order" if category => Some(PrivateTopic::Order),
        "execution" if category || rest.strip_prefix("fast").is_some_and(|r| r.is_empty() || r.starts_with('.')) => {
            Some(PrivateTopic::Execution)
        }
        "position" if category => Some(PrivateTopic::Position),
        "wallet" if rest.is_empty() => Some(PrivateTopic::Wallet),
        "greeks" | "dcp" | "spread" => Some(PrivateTopic::Ignored),
        _ => None,
    }
}

type Text<'a> = Option<Cow<'a, str>>;

/// A private push: `{"id","topic","creationTime","data":[...]}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrivateFrame<'a> {
    #[serde(default)]
    creation_time: Option<u64>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// One `order` entry (WebSocket and REST `/v5/order/{realtime,history}` alike).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderEntry<'a> {
    #[serde(borrow, default)]
    category: Text<'a>,
    #[serde(borrow, default)]
    symbol: Text<'a>,
    #[serde(borrow, default)]
    order_id: Text<'a>,
    #[serde(borrow, default)]
    order_link_id: Text<'a>,
    #[serde(borrow, default)]
    side: Text<'a>,
    #[serde(borrow, default)]
    order_type: Text<'a>,
    #[serde(borrow, default)]
    stop_order_type: Text<'a>,
    #[serde(borrow, default)]
    time_in_force: Text<'a>,
    #[serde(borrow, default)]
    order_status: Text<'a>,
    #[serde(borrow, default)]
    price: Text<'a>,
    #[serde(borrow, default)]
    trigger_price: Text<'a>,
    #[serde(borrow, default)]
    qty: Text<'a>,
    #[serde(borrow, default)]
    cum_exec_qty: Text<'a>,
    #[serde(borrow, default)]
    avg_price: Text<'a>,
    #[serde(default)]
    reduce_only: Option<bool>,
    #[serde(borrow, default)]
    created_time: Text<'a>,
    #[serde(borrow, default)]
    updated_time: Text<'a>,
}

/// One `execution` / `execution.fast` entry (and REST `/v5/execution/list`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecEntry<'a> {
    #[serde(borrow, default)]
    category: Text<'a>,
    #[serde(borrow, default)]
    symbol: Text<'a>,
    #[serde(borrow, default)]
    exec_id: Text<'a>,
    #[serde(borrow, default)]
    order_id: Text<'a>,
    #[serde(borrow, default)]
    order_link_id: Text<'a>,
    #[serde(borrow, default)]
    side: Text<'a>,
    #[serde(borrow, default)]
    exec_price: Text<'a>,
    #[serde(borrow, default)]
    exec_qty: Text<'a>,
    #[serde(borrow, default)]
    exec_fee: Text<'a>,
    #[serde(borrow, default)]
    fee_currency: Text<'a>,
    #[serde(borrow, default)]
    exec_type: Text<'a>,
    #[serde(borrow, default)]
    create_type: Text<'a>,
    #[serde(default)]
    is_maker: Option<bool>,
    #[serde(borrow, default)]
    exec_time: Text<'a>,
}

/// One `position` entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionEntry<'a> {
    #[serde(borrow, default)]
    category: Text<'a>,
    #[serde(borrow, default)]
    symbol: Text<'a>,
    #[serde(borrow, default)]
    side: Text<'a>,
    #[serde(borrow, default)]
    size: Text<'a>,
    #[serde(borrow, default)]
    entry_price: Text<'a>,
    #[serde(borrow, default)]
    mark_price: Text<'a>,
    #[serde(borrow, default)]
    unrealised_pnl: Text<'a>,
    #[serde(borrow, default)]
    liq_price: Text<'a>,
    #[serde(borrow, default)]
    leverage: Text<'a>,
    #[serde(default)]
    trade_mode: Option<i64>,
    #[serde(borrow, default)]
    updated_time: Text<'a>,
}

/// One `wallet` entry (an account) and its coins.
#[derive(Deserialize)]
struct WalletEntry<'a> {
    #[serde(borrow, default)]
    coin: Vec<CoinEntry<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CoinEntry<'a> {
    #[serde(borrow, default)]
    coin: Text<'a>,
    #[serde(borrow, default)]
    wallet_balance: Text<'a>,
    #[serde(borrow, default)]
    locked: Text<'a>,
    #[serde(borrow, default)]
    available_to_withdraw: Text<'a>,
    #[serde(rename = "totalOrderIM", borrow, default)]
    total_order_im: Text<'a>,
    #[serde(rename = "totalPositionIM", borrow, default)]
    total_position_im: Text<'a>,
}

/// The exact sum of the decimals given (None if none is); `Frame` error naming `field` on
/// overflow.
fn sum(values: &[Option<Dec>], field: &'static str) -> Result<Option<Dec>, Error> {
    let given: Vec<Dec> = values.iter().flatten().copied().collect();
    let Some(width) = given.iter().map(|d| d.width).max() else { return Ok(None) };
    let overflow = || Error::frame(field, "sum out of range");
    let mut mantissa = 0i64;
    for d in given {
        mantissa = mantissa.checked_add(d.to_scale(width).ok_or_else(overflow)?).ok_or_else(overflow)?;
    }
    Ok(Some(Dec { mantissa, width }))
}

/// A REST reply: `{"retCode","retMsg","result":{"category","list":[...],"nextPageCursor"}}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestReply<'a> {
    #[serde(default)]
    ret_code: Option<i64>,
    #[serde(borrow, default)]
    ret_msg: Text<'a>,
    /// Read once `retCode` says 0 (an error reply's `result` is `{}`).
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RestResult<'a> {
    #[serde(borrow, default)]
    category: Text<'a>,
    #[serde(borrow)]
    list: &'a RawValue,
}

fn text<'t>(v: &'t Text<'_>, field: &str) -> Result<&'t str, Error> {
    v.as_deref().ok_or_else(|| Error::frame(field, "missing field"))
}

/// A required, non-empty text.
fn nonempty<'t>(v: &'t Text<'_>, field: &str) -> Result<&'t str, Error> {
    Some(text(v, field)?).filter(|s| !s.is_empty()).ok_or_else(|| Error::frame(field, "empty"))
}

/// A text that is None when absent or `""`.
fn given<'t>(v: &'t Text<'_>) -> Option<&'t str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn dec_of(v: &Text<'_>, field: &'static str) -> Result<Dec, Error> {
    fixed::parse_dec(nonempty(v, field)?, field)
}

/// None when absent or `""`.
fn opt_dec(v: &Text<'_>, field: &'static str) -> Result<Option<Dec>, Error> {
    given(v).map(|s| fixed::parse_dec(s, field)).transpose()
}

/// None when absent, `""` or zero (Bybit's "none" for prices such as `triggerPrice`).
fn opt_price(v: &Text<'_>, field: &'static str) -> Result<Option<Dec>, Error> {
    Ok(opt_dec(v, field)?.filter(|d| d.mantissa != 0))
}

/// A decimal ms timestamp string.
fn ms_text(v: &Text<'_>, field: &'static str) -> Result<i64, Error> {
    let s = nonempty(v, field)?;
    let ms = s.parse::<u64>().map_err(|_| Error::frame(field, format!("{s:?} is not a ms timestamp")))?;
    ms_to_ns(ms, field)
}

fn side_of(v: &Text<'_>, field: &'static str) -> Result<Side, Error> {
    match text(v, field)? {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        other => Err(Error::frame(field, format!("expected \"Buy\" or \"Sell\", found {other:?}"))),
    }
}

/// `orderStatus` onto [`OrderStatus`] (the table above).
fn order_status(s: &str) -> Result<OrderStatus, Error> {
    Ok(match s {
        "New" | "Triggered" | "Active" => OrderStatus::New,
        "PartiallyFilled" => OrderStatus::PartiallyFilled,
        "Untriggered" => OrderStatus::Pending,
        "Filled" => OrderStatus::Filled,
        "Cancelled" | "PartiallyFilledCanceled" | "Deactivated" => OrderStatus::Canceled,
        "Rejected" => OrderStatus::Rejected,
        other => return Err(Error::frame("orderStatus", format!("undocumented status {other:?}"))),
    })
}

/// `orderType` and `stopOrderType` onto [`crate::account::order_type`].
fn order_kind(kind: &str, stop: Option<&str>) -> Result<&'static str, Error> {
    let market = match kind {
        "Market" => true,
        "Limit" => false,
        other => return Err(Error::frame("orderType", format!("expected \"Market\" or \"Limit\", found {other:?}"))),
    };
    Ok(match (stop.unwrap_or("UNKNOWN"), market) {
        ("UNKNOWN", true) => ot::MARKET,
        ("UNKNOWN", false) => ot::LIMIT,
        ("TrailingStop", _) => ot::TRAILING_STOP,
        ("TakeProfit" | "PartialTakeProfit", true) => ot::TAKE_PROFIT_MARKET,
        ("TakeProfit" | "PartialTakeProfit", false) => ot::TAKE_PROFIT_LIMIT,
        (_, true) => ot::STOP_MARKET,
        (_, false) => ot::STOP_LIMIT,
    })
}

fn time_in_force(s: Option<&str>) -> Result<Option<&'static str>, Error> {
    Ok(Some(match s {
        None => return Ok(None),
        Some("GTC") => tif::GTC,
        Some("IOC") => tif::IOC,
        Some("FOK") => tif::FOK,
        Some("PostOnly" | "RPI") => tif::POST_ONLY,
        Some(other) => return Err(Error::frame("timeInForce", format!("undocumented time in force {other:?}"))),
    }))
}

/// The market id `<category>:<symbol>` of an entry (`category` from the entry, else the REST
/// reply's).
fn account_symbol(out: &mut Out, category: Option<&str>, symbol: &Text<'_>) -> Result<SymbolIndex, Error> {
    let category = category.filter(|c| !c.is_empty()).ok_or_else(|| Error::frame("category", "missing field"))?;
    if !matches!(category, "spot" | "linear" | "inverse" | "option") {
        return Err(Error::frame("category", format!("undocumented category {category:?}")));
    }
    let symbol = nonempty(symbol, "symbol")?;
    Ok(out.symbol(&format!("{category}:{symbol}")))
}

fn order_item(e: &OrderEntry<'_>, category: Option<&str>, out: &mut Out) -> Result<Item, Error> {
    let symbol = account_symbol(out, e.category.as_deref().or(category), &e.symbol)?;
    let order_type = order_kind(text(&e.order_type, "orderType")?, given(&e.stop_order_type))?;
    let order = OrderItem {
        symbol,
        order_id: nonempty(&e.order_id, "orderId")?.to_owned(),
        client_order_id: given(&e.order_link_id).map(str::to_owned),
        side: side_of(&e.side, "side")?,
        order_type,
        time_in_force: time_in_force(given(&e.time_in_force))?,
        status: order_status(text(&e.order_status, "orderStatus")?)?,
        price: if order_type.ends_with("market") { None } else { opt_price(&e.price, "price")? },
        trigger_price: opt_price(&e.trigger_price, "triggerPrice")?,
        size: dec_of(&e.qty, "qty")?,
        filled_size: opt_dec(&e.cum_exec_qty, "cumExecQty")?.unwrap_or(Dec::ZERO),
        average_price: opt_price(&e.avg_price, "avgPrice")?,
        reduce_only: e.reduce_only,
        created_ts: given(&e.created_time).map(|_| ms_text(&e.created_time, "createdTime")).transpose()?,
        exchange_ts: ms_text(&e.updated_time, "updatedTime")?,
    };
    Ok(Item::Order(Box::new(order)))
}

/// A fill, or None for an execution that is not a trade (`Funding`).
fn fill_item(e: &ExecEntry<'_>, category: Option<&str>, out: &mut Out) -> Result<Option<Item>, Error> {
    let exec_type = given(&e.exec_type);
    if exec_type == Some("Funding") {
        return Ok(None);
    }
    let liq_create = matches!(given(&e.create_type), Some("CreateByLiq" | "CreateByTakeOver_PassThrough"));
    let liquidation = match (exec_type, given(&e.create_type)) {
        (None, None) => None,
        _ => Some(exec_type == Some("BustTrade") || liq_create),
    };
    let fill = FillItem {
        symbol: account_symbol(out, e.category.as_deref().or(category), &e.symbol)?,
        trade_id: nonempty(&e.exec_id, "execId")?.to_owned(),
        order_id: nonempty(&e.order_id, "orderId")?.to_owned(),
        client_order_id: given(&e.order_link_id).map(str::to_owned),
        side: side_of(&e.side, "side")?,
        price: dec_of(&e.exec_price, "execPrice")?,
        size: dec_of(&e.exec_qty, "execQty")?,
        fee: opt_dec(&e.exec_fee, "execFee")?,
        fee_asset: given(&e.fee_currency).map(str::to_owned),
        is_maker: e.is_maker,
        liquidation,
        exchange_ts: ms_text(&e.exec_time, "execTime")?,
    };
    Ok(Some(Item::Fill(Box::new(fill))))
}

fn position_item(e: &PositionEntry<'_>, ts: Option<i64>, out: &mut Out) -> Result<Item, Error> {
    let size = dec_of(&e.size, "size")?;
    if size.is_negative() {
        return Err(Error::frame("size", format!("{size} is negative")));
    }
    let direction = match (text(&e.side, "side")?, size.mantissa == 0) {
        (_, true) | ("" | "None", _) => PositionSide::Flat,
        ("Buy", false) => PositionSide::Long,
        ("Sell", false) => PositionSide::Short,
        (other, false) => {
            return Err(Error::frame("side", format!("expected \"Buy\", \"Sell\" or \"\", found {other:?}")))
        }
    };
    let margin_mode = match e.trade_mode {
        None => None,
        Some(0) => Some(MarginMode::Cross),
        Some(1) => Some(MarginMode::Isolated),
        Some(other) => return Err(Error::frame("tradeMode", format!("expected 0 or 1, found {other}"))),
    };
    let exchange_ts = match given(&e.updated_time) {
        Some(_) => ms_text(&e.updated_time, "updatedTime")?,
        None => required(ts, "creationTime")?,
    };
    let position = PositionItem {
        symbol: account_symbol(out, e.category.as_deref(), &e.symbol)?,
        side: direction,
        size,
        entry_price: opt_price(&e.entry_price, "entryPrice")?,
        mark_price: opt_dec(&e.mark_price, "markPrice")?,
        unrealized_pnl: opt_dec(&e.unrealised_pnl, "unrealisedPnl")?,
        liquidation_price: opt_price(&e.liq_price, "liqPrice")?,
        leverage: opt_dec(&e.leverage, "leverage")?,
        margin_mode,
        exchange_ts,
    };
    Ok(Item::Position(Box::new(position)))
}

fn balance_items(e: &WalletEntry<'_>, ts: i64, out: &mut Out) -> Result<(), Error> {
    for c in &e.coin {
        let balance = BalanceItem {
            asset: nonempty(&c.coin, "coin")?.to_owned(),
            free: opt_dec(&c.available_to_withdraw, "availableToWithdraw")?,
            locked: sum(
                &[
                    opt_dec(&c.locked, "locked")?,
                    opt_dec(&c.total_order_im, "totalOrderIM")?,
                    opt_dec(&c.total_position_im, "totalPositionIM")?,
                ],
                "locked",
            )?,
            total: opt_dec(&c.wallet_balance, "walletBalance")?,
            exchange_ts: ts,
        };
        out.items.push(Item::Balance(Box::new(balance)));
    }
    Ok(())
}

/// `frame` if it is a private push (its `topic` one of [`private_topic`]), else `error` (the
/// public parser's). The public parser fails on a private topic before it writes to `out`.
#[cold]
#[inline(never)]
fn private_fallback(frame: &[u8], out: &mut Out, error: Error) -> Result<(), Error> {
    #[derive(Deserialize)]
    struct Topic<'a> {
        #[serde(borrow, default)]
        topic: Text<'a>,
    }
    match from_json::<Topic<'_>>(frame).ok().and_then(|t| t.topic.as_deref().and_then(private_topic)) {
        Some(p) => private_push(p, frame, out),
        None => Err(error),
    }
}

/// A private push of `topic` (out of line: keeps the public path's inlining as it was).
#[cold]
#[inline(never)]
fn private_push(topic: PrivateTopic, frame: &[u8], out: &mut Out) -> Result<(), Error> {
    if topic == PrivateTopic::Ignored {
        return Ok(());
    }
    let f: PrivateFrame<'_> = from_json(frame)?;
    let ts = f.creation_time.map(|ms| ms_to_ns(ms, "creationTime")).transpose()?;
    let data = f.data.get().as_bytes();
    match topic {
        PrivateTopic::Order => {
            for e in from_json::<Vec<OrderEntry<'_>>>(data)? {
                let item = order_item(&e, None, out)?;
                out.items.push(item);
            }
        }
        PrivateTopic::Execution => {
            for e in from_json::<Vec<ExecEntry<'_>>>(data)? {
                if let Some(item) = fill_item(&e, None, out)? {
                    out.items.push(item);
                }
            }
        }
        PrivateTopic::Position => {
            for e in from_json::<Vec<PositionEntry<'_>>>(data)? {
                let item = position_item(&e, ts, out)?;
                out.items.push(item);
            }
        }
        PrivateTopic::Wallet => {
            let ts = required(ts, "creationTime")?;
            for e in from_json::<Vec<WalletEntry<'_>>>(data)? {
                balance_items(&e, ts, out)?;
            }
        }
        PrivateTopic::Ignored => {}
    }
    Ok(())
}

/// A REST account list: `/v5/execution/list` (fills) or `/v5/order/{realtime,history}` (orders).
fn account_list(what: AccountList, body: &[u8], out: &mut Out) -> Result<(), Error> {
    let reply: RestReply<'_> = from_json(body)?;
    match reply.ret_code {
        Some(0) => {}
        Some(code) => {
            let msg = reply.ret_msg.as_deref().unwrap_or("");
            return Err(Error::frame("retCode", format!("Bybit error {code}: {msg}")));
        }
        None => return Err(Error::frame("retCode", "missing field")),
    }
    let result = reply.result.ok_or_else(|| Error::frame("result", "missing field"))?;
    let result: RestResult<'_> = from_json(result.get().as_bytes())?;
    let category = result.category.as_deref();
    let list = result.list.get().as_bytes();
    match what {
        AccountList::Fills => {
            for e in from_json::<Vec<ExecEntry<'_>>>(list)?.iter().rev() {
                if let Some(item) = fill_item(e, category, out)? {
                    out.items.push(item);
                }
            }
        }
        AccountList::Orders => {
            for e in from_json::<Vec<OrderEntry<'_>>>(list)?.iter().rev() {
                let item = order_item(e, category, out)?;
                out.items.push(item);
            }
        }
    }
    Ok(())
}

/// `<category>:<symbol>` (private market ids) -> unified symbol; None if not of that form.
fn private_unified(market_id: &str) -> Option<String> {
    let (category, id) = market_id.split_once(':')?;
    match category {
        "spot" => unified(Market::Spot, id),
        "linear" => unified(Market::Linear, id),
        "inverse" => unified(Market::Inverse, id),
        "option" => option_unified(id),
        _ => None,
    }
}

/// Option `BTC-30AUG24-50000-C` (USDC-settled) or `BTC-30AUG24-50000-C-USDT` -> ccxt
/// `BTC/USDC:USDC-240830-50000-C` / `BTC/USDT:USDT-240830-50000-C`.
fn option_unified(id: &str) -> Option<String> {
    let mut parts = id.split('-');
    let (base, date, strike, kind) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let settle = parts.next().unwrap_or("USDC");
    if parts.next().is_some() || !matches!(kind, "C" | "P") || base.is_empty() || strike.is_empty() {
        return None;
    }
    let date = ddmmmyy_to_yymmdd(date)?;
    Some(format!("{base}/{settle}:{settle}-{date}-{strike}-{kind}"))
}

// --- REST recent trades (trade recovery after a reconnect, REST fallback polls) -------------

/// A reply of `GET /v5/market/recent-trade`.
#[derive(Deserialize)]
struct RecentTradesReply<'a> {
    #[serde(rename = "retCode")]
    ret_code: i64,
    #[serde(rename = "retMsg", default, borrow)]
    ret_msg: Cow<'a, str>,
    #[serde(borrow)]
    result: Option<RecentTradesList<'a>>,
}

#[derive(Deserialize)]
struct RecentTradesList<'a> {
    #[serde(borrow)]
    list: Vec<RecentTrade<'a>>,
}

/// One row: `{execId, symbol, price, size, side, time, isBlockTrade, ...}` (time: ms string).
#[derive(Deserialize)]
struct RecentTrade<'a> {
    #[serde(rename = "execId", borrow)]
    exec_id: Cow<'a, str>,
    #[serde(borrow)]
    price: Cow<'a, str>,
    #[serde(borrow)]
    size: Cow<'a, str>,
    #[serde(borrow)]
    side: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// `GET /v5/market/recent-trade` (public; newest first, spot up to 60, derivatives 1000):
/// `{"retCode":0,"result":{"category","list":[..]}}`, each row as the `publicTrade` item it
/// was (`execId` = `i`, the same id). A `retCode` other than 0 is a `Frame` error naming it.
fn recent_trades(body: &[u8]) -> Result<Vec<TradeItem>, Error> {
    let reply: RecentTradesReply<'_> = from_json(body)?;
    if reply.ret_code != 0 {
        return Err(Error::frame("retCode", format!("Bybit error {}: {}", reply.ret_code, reply.ret_msg)));
    }
    let list = reply.result.ok_or_else(|| Error::frame("result", "missing field"))?.list;
    list.iter()
        .map(|t| {
            let price = fixed::parse_dec(&t.price, "list[].price")?;
            let size = fixed::parse_dec(&t.size, "list[].size")?;
            if price.mantissa <= 0 {
                return Err(Error::frame("list[].price", format!("price {price} is not above 0")));
            }
            if size.is_negative() {
                return Err(Error::frame("list[].size", format!("size {size} is negative")));
            }
            let aggressor = match &*t.side {
                "Buy" => Side::Buy,
                "Sell" => Side::Sell,
                other => return Err(Error::frame("list[].side", format!("expected Buy or Sell, found {other:?}"))),
            };
            let ms =
                t.time.parse::<u64>().map_err(|_| Error::frame("list[].time", format!("{:?} is not ms", t.time)))?;
            let trade_ts = ms_to_ns(ms, "list[].time")?;
            Ok(TradeItem {
                price,
                size,
                side: aggressor,
                trade_id: trade_id(&t.exec_id)?,
                trade_ts,
                exchange_ts: trade_ts,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str =
        include_str!("../../../tests/fixtures/bybit/v5_linear_orderbook200_tickers_trades_kline_4sym.jsonl");
    const L1: &str = include_str!("../../../tests/fixtures/bybit/v5_linear_orderbook1_bbo_20250613.jsonl");

    /// The first recorded line containing `needle`.
    fn line(text: &'static str, needle: &str) -> &'static str {
        text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle}"))
    }

    fn parse(v: &mut Bybit, frame: &str) -> Result<Out, Error> {
        let mut out = Out::default();
        v.parse(frame.as_bytes(), false, &mut out)?;
        Ok(out)
    }

    fn linear() -> Bybit {
        Bybit::new("linear", &[]).unwrap()
    }

    /// Every recorded frame decodes the same through the layout fast paths (the frame as
    /// recorded: `at_key` literals, plain `["p","s"]` levels) and through the generic paths (the
    /// same frame re-written pretty-printed with its keys sorted: `topic` no longer first, so
    /// serde reads the envelope, and every key and level of `data` takes the scanning path).
    #[test]
    fn layouts_decode_alike() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bybit");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && !p.to_string_lossy().contains("client_sent"))
            .collect();
        files.sort();
        assert!(files.len() >= 3, "recordings in {}", dir.display());
        let mut frames = 0;
        for path in files {
            let (mut fast, mut generic) = (linear(), linear());
            let (mut a, mut b) = (Out::default(), Out::default());
            for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                let pretty = serde_json::to_string_pretty(&value).unwrap();
                assert!(!pretty.starts_with("{\"topic\"") && pretty != line);
                a.clear();
                b.clear();
                let ra = fast.parse(line.as_bytes(), false, &mut a);
                let rb = generic.parse(pretty.as_bytes(), false, &mut b);
                let at = format!("{}:{}", path.display(), n + 1);
                assert!(ra.is_ok(), "{at}: {ra:?}");
                assert!(rb.is_ok(), "{at}: {rb:?}");
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{at}");
                frames += 1;
            }
        }
        assert!(frames > 2_500, "{frames} frames");
    }

    #[test]
    fn symbols_both_ways() {
        let cases = [
            (Market::Spot, "BTCUSDT", "BTC/USDT"),
            (Market::Spot, "ETHBTC", "ETH/BTC"),
            (Market::Linear, "BTCUSDT", "BTC/USDT:USDT"),
            (Market::Linear, "1000PEPEUSDT", "1000PEPE/USDT:USDT"),
            (Market::Linear, "BTCPERP", "BTC/USDC:USDC"),
            (Market::Linear, "BTC-26DEC25", "BTC/USDC:USDC-251226"),
            (Market::Linear, "BTCUSDT-26DEC25", "BTC/USDT:USDT-251226"),
            (Market::Inverse, "BTCUSD", "BTC/USD:BTC"),
            (Market::Inverse, "BTCUSDH25", "BTC/USD:BTC-250328"),
            (Market::Inverse, "ETHUSDZ24", "ETH/USD:ETH-241227"),
        ];
        for (m, id, sym) in cases {
            assert_eq!(unified(m, id).as_deref(), Some(sym), "{id}");
            assert_eq!(market_id(m, sym).unwrap(), id, "{sym}");
        }
        for (m, sym) in [
            (Market::Spot, "BTC/USDT:USDT"),
            (Market::Linear, "BTC/USDT"),
            (Market::Linear, "BTC/USD:BTC"),
            (Market::Inverse, "BTC/USDT:USDT"),
            (Market::Inverse, "BTC/USD:BTC-251399"),
            (Market::Spot, "btc/usdt"),
            (Market::Spot, "BTCUSDT"),
        ] {
            let e = market_id(m, sym).unwrap_err();
            assert!(e.to_string().contains(sym), "{e}");
        }
        // Instruments win over the rules, both ways.
        let inst = Instrument {
            market_id: "SHIB1000USDT".into(),
            symbol: "SHIB1000/USDT:USDT".into(),
            tick_size: None,
            lot_size: None,
        };
        let v = Bybit::new("linear", &[inst]).unwrap();
        assert_eq!(v.unified_symbol("SHIB1000USDT"), "SHIB1000/USDT:USDT");
        assert_eq!(v.market_id("SHIB1000/USDT:USDT").unwrap(), "SHIB1000USDT");
        assert!(Bybit::new("option", &[]).unwrap_err().to_string().contains("option"));
    }

    #[test]
    fn last_fridays() {
        // 2025-03-28, 2024-12-27, 2026-02-27 are Fridays, each the last of its month.
        assert_eq!(last_friday(2025, 3), 28);
        assert_eq!(last_friday(2024, 12), 27);
        assert_eq!(last_friday(2026, 2), 27);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn sequence_rule_is_previous_plus_one() {
        let v = linear();
        let ids = |u| SeqIds { first: u, last: u, prev: None };
        assert_eq!(v.check(10, &ids(11), false), Verdict::Apply);
        assert_eq!(v.check(10, &ids(13), false), Verdict::Gap { expected: 11, received: 13 });
        assert_eq!(v.check(10, &ids(10), false), Verdict::Gap { expected: 11, received: 10 });
        assert_eq!(v.check(10, &ids(9), true), Verdict::Gap { expected: 11, received: 9 });
        assert_eq!(v.recovery(), Recovery::Resubscribe);
        assert!(v.checksum().is_none());
    }

    #[test]
    fn book_snapshot_delta_and_restart() {
        let mut v = linear();
        let snap = line(SESSION, r#""type":"snapshot","ts":"#);
        let out = parse(&mut v, snap).unwrap();
        let Item::Book(b) = &out.items[0] else { panic!("{:?}", out.items) };
        assert_eq!(b.kind, BookKind::Snapshot);
        assert!(b.exchange_ts.is_some() && !b.bids.is_empty() && !b.asks.is_empty());
        let delta = line(SESSION, r#""type":"delta","ts":"#);
        let out = parse(&mut v, delta).unwrap();
        let Item::Book(b) = &out.items[0] else { panic!() };
        assert_eq!(b.kind, BookKind::Delta);
        // u == 1 on a delta: the service restarted, the message overwrites the book.
        let u = serde_json::from_str::<serde_json::Value>(delta).unwrap()["data"]["u"].as_u64().unwrap();
        let restarted = delta.replace(&format!(r#""u":{u},"#), r#""u":1,"#);
        let out = parse(&mut v, &restarted).unwrap();
        let Item::Book(b) = &out.items[0] else { panic!() };
        assert_eq!((b.kind, b.ids.unwrap().last), (BookKind::Snapshot, 1));
    }

    #[test]
    fn level_one_is_a_bbo_with_its_u() {
        let mut v = linear();
        let frame = line(L1, "orderbook.1.");
        let out = parse(&mut v, frame).unwrap();
        let j: serde_json::Value = serde_json::from_str(frame).unwrap();
        let Item::Bbo { bbo, .. } = &out.items[0] else { panic!("{:?}", out.items) };
        assert_eq!(bbo.sequence, j["data"]["u"].as_u64());
        assert_eq!(bbo.bid.price.to_string(), j["data"]["b"][0][0].as_str().unwrap());
        assert_eq!(bbo.ask.size.to_string(), j["data"]["a"][0][1].as_str().unwrap());
        assert!(out.bids.is_empty() && out.asks.is_empty());
    }

    #[test]
    fn key_order_does_not_matter() {
        // The recorded delta with `data` moved before `topic`: same items.
        let mut v = linear();
        let delta = line(SESSION, r#""type":"delta","ts":"#);
        let j: serde_json::Value = serde_json::from_str(delta).unwrap();
        let reordered = format!(
            r#"{{"data":{},"cts":{},"type":"delta","ts":{},"topic":{}}}"#,
            j["data"], j["cts"], j["ts"], j["topic"]
        );
        let (a, b) = (parse(&mut v, delta).unwrap(), parse(&mut v, &reordered).unwrap());
        assert_eq!((a.items, a.bids, a.asks), (b.items, b.bids, b.asks));
    }

    #[test]
    fn tickers_merge_deltas() {
        let mut v = linear();
        let snap = line(SESSION, r#""topic":"tickers.BTCUSDT","type":"snapshot""#);
        let out = parse(&mut v, snap).unwrap();
        let j: serde_json::Value = serde_json::from_str(snap).unwrap();
        let Item::Bbo { bbo, .. } = out.items[0] else { panic!("{:?}", out.items) };
        assert_eq!(bbo.ask.price.to_string(), j["data"]["ask1Price"].as_str().unwrap());
        // A delta with only the bid: the ask stays the snapshot's.
        let delta = SESSION
            .lines()
            .find(|l| {
                l.contains(r#""tickers.BTCUSDT","type":"delta""#) && l.contains("bid1Price") && !l.contains("ask1Price")
            })
            .unwrap();
        let out = parse(&mut v, delta).unwrap();
        let d: serde_json::Value = serde_json::from_str(delta).unwrap();
        let Item::Bbo { bbo: b2, .. } = out.items[0] else { panic!() };
        assert_eq!(b2.bid.price.to_string(), d["data"]["bid1Price"].as_str().unwrap());
        assert_eq!(b2.ask, bbo.ask);
        assert_eq!(b2.sequence, None);
        // A delta without best bid/ask fields yields nothing.
        let other = SESSION
            .lines()
            .find(|l| {
                l.contains(r#""type":"delta""#) && l.contains("tickers.") && !l.contains("bid1") && !l.contains("ask1")
            })
            .unwrap();
        assert!(parse(&mut v, other).unwrap().items.is_empty());
    }

    #[test]
    fn trades_and_candles() {
        let mut v = linear();
        let frame = line(SESSION, "publicTrade.");
        let j: serde_json::Value = serde_json::from_str(frame).unwrap();
        let out = parse(&mut v, frame).unwrap();
        assert_eq!(out.items.len(), j["data"].as_array().unwrap().len());
        let Item::Trade { trade, .. } = out.items[0] else { panic!() };
        assert_eq!(trade.trade_id.to_string(), j["data"][0]["i"].as_str().unwrap());
        assert_eq!(trade.exchange_ts, j["ts"].as_i64().unwrap() * 1_000_000);
        assert_eq!(trade.trade_ts, j["data"][0]["T"].as_i64().unwrap() * 1_000_000);
        // A numeric id (spot) is a number.
        assert_eq!(trade_id("2290000000061666327").unwrap(), TradeId::Int(2_290_000_000_061_666_327));
        assert!(matches!(trade_id("0123").unwrap(), TradeId::Text { .. }));
        let frame = line(SESSION, "kline.1.");
        let out = parse(&mut v, frame).unwrap();
        let Item::Candle { candle, .. } = &out.items[0] else { panic!() };
        assert_eq!(candle.interval.as_str(), "1m");
        assert!(candle.closed.is_some());
    }

    #[test]
    fn replies() {
        let mut v = linear();
        let ack = line(SESSION, r#""op":"subscribe""#);
        let out = parse(&mut v, ack).unwrap();
        assert!(matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Ack && c.request_id.is_none()));
        // The recorded ack with an id the adapter sent, a pong, an error.
        let with_id = ack.replace(r#""req_id":"""#, r#""req_id":"17""#);
        let out = parse(&mut v, &with_id).unwrap();
        assert!(matches!(&out.items[0], Item::Control(c) if c.request_id == Some(RequestId::Int(17))));
        let pong =
            ack.replace(r#""ret_msg":"""#, r#""ret_msg":"pong""#).replace(r#""op":"subscribe""#, r#""op":"ping""#);
        let out = parse(&mut v, &pong).unwrap();
        assert!(matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Pong));
        let err = ack
            .replace(r#""success":true"#, r#""success":false"#)
            .replace(r#""ret_msg":"""#, r#""ret_msg":"Invalid symbol :[orderbook.1.X]""#);
        let out = parse(&mut v, &err).unwrap();
        assert!(
            matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Error && c.message.as_deref() == Some("Invalid symbol :[orderbook.1.X]"))
        );
    }

    /// The recorded frame with its first ask's price replaced by "0".
    fn zero_first_ask(frame: &str) -> String {
        let start = frame.find(r#""a":[[""#).unwrap() + 7;
        let end = start + frame[start..].find('"').unwrap();
        format!("{}0{}", &frame[..start], &frame[end..])
    }

    #[test]
    fn strict_about_what_is_not_bybit() {
        let mut v = linear();
        let delta = line(SESSION, r#""type":"delta","ts":"#);
        for (frame, field) in [
            (r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}"#.to_owned(), "op"),
            (r#"{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}"#.to_owned(), "op"),
            (delta.replace("orderbook.200.", "orderbook.7."), "topic"),
            (delta.replace("orderbook.200.", "books."), "topic"),
            (delta.replace(r#""type":"delta""#, r#""type":"update""#), "type"),
            (delta.replace(r#""s":""#, r#""s":"X"#), "data.s"),
            (delta.replacen(r#""b":[[""#, r#""b":[["-"#, 1), "b[0][0]"),
            (zero_first_ask(delta), "a[0][0]"),
            (delta.replace(r#""u":"#, r#""x":"#), "data.u"),
            (delta[..delta.len() - 5].to_owned(), "json"),
        ] {
            let e = parse(&mut v, &frame).map(|o| o.items).unwrap_err();
            assert!(matches!(&e, Error::Frame { field: f, .. } if f == field), "{field}: {e}");
        }
        assert!(v.parse(delta.as_bytes(), true, &mut Out::default()).is_err());
    }

    const PRIVATE: &str = include_str!("../../../tests/fixtures/bybit/private/jkorf_v5_private_examples.jsonl");

    fn d(s: &str) -> Dec {
        fixed::parse_dec(s, "test").unwrap()
    }

    /// The one item of the first private example containing `needle`, and the symbol it names.
    fn private_item(needle: &str) -> (Item, String) {
        // The private stream's decoder is made for the first endpoint (spot): `category` decides.
        let mut v = Bybit::new("spot", &[]).unwrap();
        let out = parse(&mut v, line(PRIVATE, needle)).unwrap();
        assert_eq!(out.items.len(), 1, "{needle}");
        let market_id = out.market_ids()[0].clone();
        (out.items[0].clone(), v.unified_symbol(&market_id))
    }

    #[test]
    fn private_order_every_field() {
        let (item, symbol) = private_item(r#""topic":"order""#);
        assert_eq!(symbol, "ETH/USDC:USDC-221230-1400-C"); // category option
        let Item::Order(o) = item else { panic!("not an order") };
        assert_eq!(o.order_id, "5cf98598-39a7-459e-97bf-76ca765ee020");
        assert_eq!(o.client_order_id, None); // orderLinkId ""
        assert_eq!(o.side, Side::Sell);
        assert_eq!(o.order_type, ot::MARKET); // stopOrderType ""
        assert_eq!(o.time_in_force, Some(tif::IOC));
        assert_eq!(o.status, OrderStatus::Filled);
        assert_eq!(o.price, None); // "72.5" is a market order's protective price
        assert_eq!(o.trigger_price, None); // ""
        assert_eq!(o.size, d("1"));
        assert_eq!(o.filled_size, d("1"));
        assert_eq!(o.average_price, Some(d("75")));
        assert_eq!(o.reduce_only, Some(false));
        assert_eq!(o.created_ts, Some(1_672_364_262_444_000_000));
        assert_eq!(o.exchange_ts, 1_672_364_262_457_000_000);
    }

    #[test]
    fn private_execution_every_field() {
        let (item, symbol) = private_item(r#""topic":"execution","#);
        assert_eq!(symbol, "XRP/USDT:USDT");
        let Item::Fill(f) = item else { panic!("not a fill") };
        assert_eq!(f.trade_id, "7e2ae69c-4edf-5800-a352-893d52b446aa");
        assert_eq!(f.order_id, "f6e324ff-99c2-4e89-9739-3086e47f9381");
        assert_eq!(f.client_order_id, None);
        assert_eq!(f.side, Side::Sell);
        assert_eq!(f.price, d("0.3374"));
        assert_eq!(f.size, d("25"));
        assert_eq!(f.fee, Some(d("0.005061"))); // paid: positive as Bybit writes it
        assert_eq!(f.fee_asset, None); // no feeCurrency in this push
        assert_eq!(f.is_maker, Some(false));
        assert_eq!(f.liquidation, Some(false)); // execType Trade
        assert_eq!(f.exchange_ts, 1_672_364_174_443_000_000);
    }

    #[test]
    fn private_execution_fast_every_field() {
        let (item, symbol) = private_item(r#""topic":"execution.fast""#);
        assert_eq!(symbol, "ICP/USDT:USDT");
        let Item::Fill(f) = item else { panic!("not a fill") };
        assert_eq!(f.trade_id, "3510f361-0add-5c7b-a2e7-9679810944fc");
        assert_eq!(f.order_id, "443d63fa-b4c3-4297-b7b1-23bca88b04dc");
        assert_eq!(f.client_order_id.as_deref(), Some("test-00001"));
        assert_eq!(f.side, Side::Sell);
        assert_eq!(f.price, d("12.015"));
        assert_eq!(f.size, d("3000"));
        assert_eq!((f.fee, f.fee_asset.as_deref(), f.is_maker, f.liquidation), (None, None, None, None));
        assert_eq!(f.exchange_ts, 1_716_800_399_334_000_000);
    }

    #[test]
    fn private_position_every_field() {
        let (item, symbol) = private_item(r#""topic":"position""#);
        assert_eq!(symbol, "BTC/USDT:USDT");
        let Item::Position(p) = item else { panic!("not a position") };
        assert_eq!(p.side, PositionSide::Flat); // side "" and size 0
        assert_eq!(p.size, d("0"));
        assert_eq!(p.entry_price, None); // "0": none
        assert_eq!(p.mark_price, Some(d("28184.5")));
        assert_eq!(p.unrealized_pnl, Some(d("0")));
        assert_eq!(p.liquidation_price, None); // "0": none
        assert_eq!(p.leverage, Some(d("10")));
        assert_eq!(p.margin_mode, Some(MarginMode::Cross)); // tradeMode 0
        assert_eq!(p.exchange_ts, 1_697_682_317_038_000_000);
    }

    #[test]
    fn private_wallet_every_field() {
        let mut v = Bybit::new("spot", &[]).unwrap();
        let out = parse(&mut v, line(PRIVATE, r#""topic":"wallet""#)).unwrap();
        let [Item::Balance(b)] = &out.items[..] else { panic!("one balance expected: {:?}", out.items) };
        assert_eq!(b.asset, "BTC");
        assert_eq!(b.free, Some(d("0.00102964"))); // availableToWithdraw
        assert_eq!(b.locked, Some(d("0"))); // locked "0", totalOrderIM "", totalPositionIM ""
        assert_eq!(b.total, Some(d("0.00102964"))); // walletBalance
        assert_eq!(b.exchange_ts, 1_700_034_722_104_000_000); // creationTime
                                                              // Derivatives margin counts as locked with the spot orders' `locked`.
        let margined = line(PRIVATE, r#""topic":"wallet""#)
            .replace(r#""totalOrderIM":"""#, r#""totalOrderIM":"1.5""#)
            .replace(r#""totalPositionIM":"""#, r#""totalPositionIM":"0.25""#);
        let out = parse(&mut v, &margined).unwrap();
        assert!(matches!(&out.items[..], [Item::Balance(b)] if b.locked == Some(d("1.75"))));
    }

    #[test]
    fn private_replies_and_topics() {
        let mut v = Bybit::new("spot", &[]).unwrap();
        let out = parse(&mut v, line(PRIVATE, r#""op":"auth""#)).unwrap();
        assert!(
            matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Login && c.request_id == Some(RequestId::Str("|5|".into())))
        );
        let failed = r#"{"success":false,"ret_msg":"Params Error","op":"auth","conn_id":"c1","req_id":"3"}"#;
        let out = parse(&mut v, failed).unwrap();
        assert!(matches!(&out.items[0], Item::Control(c) if c.kind == ControlKind::Error
            && c.request_id == Some(RequestId::Int(3)) && c.message.as_deref() == Some("Params Error")));
        for topic in [
            "order",
            "order.linear",
            "execution",
            "execution.fast",
            "execution.fast.spot",
            "position.inverse",
            "wallet",
        ] {
            assert!(private_topic(topic).is_some(), "{topic}");
        }
        for topic in ["order.x", "wallets", "execution.slow", "position.linear.x"] {
            assert!(private_topic(topic).is_none() && channel(topic).is_err(), "{topic}");
        }
        // greeks are documented and skipped
        let out = parse(&mut v, r#"{"topic":"greeks","creationTime":1,"data":[{"baseCoin":"ETH"}]}"#).unwrap();
        assert!(out.items.is_empty());
    }

    #[test]
    fn private_statuses_types_and_liquidations() {
        for (bybit, ours) in [
            ("New", OrderStatus::New),
            ("PartiallyFilled", OrderStatus::PartiallyFilled),
            ("Untriggered", OrderStatus::Pending),
            ("Triggered", OrderStatus::New),
            ("Active", OrderStatus::New),
            ("Filled", OrderStatus::Filled),
            ("Cancelled", OrderStatus::Canceled),
            ("PartiallyFilledCanceled", OrderStatus::Canceled),
            ("Deactivated", OrderStatus::Canceled),
            ("Rejected", OrderStatus::Rejected),
        ] {
            assert_eq!(order_status(bybit).unwrap(), ours, "{bybit}");
        }
        assert!(order_status("Expired").is_err());
        assert_eq!(order_kind("Limit", Some("TakeProfit")).unwrap(), ot::TAKE_PROFIT_LIMIT);
        assert_eq!(order_kind("Market", Some("StopLoss")).unwrap(), ot::STOP_MARKET);
        assert_eq!(order_kind("Market", Some("TrailingStop")).unwrap(), ot::TRAILING_STOP);
        assert_eq!(order_kind("Limit", None).unwrap(), ot::LIMIT);
        assert_eq!(time_in_force(Some("PostOnly")).unwrap(), Some(tif::POST_ONLY));
        // A liquidation (BustTrade) and a funding fee (not a fill) on the documented shape.
        let exec = line(PRIVATE, r#""topic":"execution","#);
        let mut v = Bybit::new("spot", &[]).unwrap();
        let bust = exec.replace(r#""execType":"Trade""#, r#""execType":"BustTrade""#);
        let out = parse(&mut v, &bust).unwrap();
        assert!(matches!(&out.items[0], Item::Fill(f) if f.liquidation == Some(true)));
        let funding = exec.replace(r#""execType":"Trade""#, r#""execType":"Funding""#);
        assert!(parse(&mut v, &funding).unwrap().items.is_empty());
        // Strict about what is not Bybit's.
        let bad = exec.replace(r#""side":"Sell""#, r#""side":"Short""#);
        assert!(matches!(parse(&mut v, &bad), Err(Error::Frame { field, .. }) if field == "side"));
        let bad = exec.replace(r#""category":"linear""#, r#""category":"spread""#);
        assert!(matches!(parse(&mut v, &bad), Err(Error::Frame { field, .. }) if field == "category"));
    }

    #[test]
    fn private_rest_lists() {
        let exec = line(PRIVATE, r#""topic":"execution","#);
        let entry = &exec[exec.find(r#""data":["#).unwrap() + 8..exec.rfind(']').unwrap()];
        // REST entries carry no category: result.category names it.
        let entry = entry.replace(r#""category":"linear","#, "");
        let body = format!(
            r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"","category":"linear","list":[{entry}]}},"retExtInfo":{{}},"time":1}}"#
        );
        let mut v = Bybit::new("spot", &[]).unwrap();
        let mut out = Out::default();
        v.parse_account(AccountList::Fills, body.as_bytes(), &mut out).unwrap();
        let [Item::Fill(f)] = &out.items[..] else { panic!("{:?}", out.items) };
        assert_eq!(f.trade_id, "7e2ae69c-4edf-5800-a352-893d52b446aa");
        assert_eq!(v.unified_symbol(&out.market_ids()[f.symbol]), "XRP/USDT:USDT");
        // Bybit lists newest first: the items come oldest first.
        let newer = entry.replace("7e2ae69c", "newer000");
        let body =
            format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"linear","list":[{newer},{entry}]}}}}"#);
        let mut out = Out::default();
        v.parse_account(AccountList::Fills, body.as_bytes(), &mut out).unwrap();
        let ids: Vec<&str> =
            out.items.iter().map(|i| if let Item::Fill(f) = i { &f.trade_id[..8] } else { "" }).collect();
        assert_eq!(ids, ["7e2ae69c", "newer000"]);
        let order = line(PRIVATE, r#""topic":"order""#);
        let entry = &order[order.find(r#""data":["#).unwrap() + 8..order.rfind(']').unwrap()];
        let body = format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"option","list":[{entry}]}}}}"#);
        let mut out = Out::default();
        v.parse_account(AccountList::Orders, body.as_bytes(), &mut out).unwrap();
        assert!(matches!(&out.items[..], [Item::Order(o)] if o.order_id == "5cf98598-39a7-459e-97bf-76ca765ee020"));
        let refused = br#"{"retCode":10004,"retMsg":"error sign!","result":{},"time":1}"#;
        let e = v.parse_account(AccountList::Fills, refused, &mut Out::default()).unwrap_err();
        assert!(matches!(&e, Error::Frame { field, reason } if field == "retCode" && reason.contains("10004")), "{e}");
    }

    #[test]
    fn private_symbols() {
        let v = Bybit::new("spot", &[]).unwrap();
        for (id, sym) in [
            ("spot:BTCUSDT", "BTC/USDT"),
            ("linear:BTCUSDT", "BTC/USDT:USDT"),
            ("linear:BTCPERP", "BTC/USDC:USDC"),
            ("inverse:BTCUSD", "BTC/USD:BTC"),
            ("option:BTC-30AUG24-50000-C", "BTC/USDC:USDC-240830-50000-C"),
            ("option:BTC-30AUG24-50000-P-USDT", "BTC/USDT:USDT-240830-50000-P"),
        ] {
            assert_eq!(v.unified_symbol(id), sym, "{id}");
        }
    }

    /// The REST list of recent trades reads as the stream did: every recorded `publicTrade`
    /// item re-written as a `/v5/market/recent-trade` row (newest first, the venue's order)
    /// gives the same trade items (ids, exact decimals, times, sides).
    #[test]
    fn recent_trades_match_the_stream() {
        let mut v = linear();
        let (mut stream, mut rows) = (Vec::new(), Vec::new());
        for l in SESSION.lines().filter(|l| l.contains("\"publicTrade.BTCUSDT\"")) {
            for item in parse(&mut v, l).unwrap().items {
                if let Item::Trade { trade, .. } = item {
                    stream.push(trade);
                }
            }
            let frame: serde_json::Value = serde_json::from_str(l).unwrap();
            for t in frame["data"].as_array().unwrap() {
                rows.push(serde_json::json!({
                    "execId": t["i"], "symbol": t["s"], "price": t["p"], "size": t["v"], "side": t["S"],
                    "time": t["T"].to_string(), "isBlockTrade": t["BT"], "isRPITrade": false,
                }));
            }
        }
        assert!(stream.len() > 5, "the recording has BTCUSDT trades");
        rows.reverse();
        let body = serde_json::json!({"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": rows}});
        let mut rest = v.parse_trades(body.to_string().as_bytes()).unwrap();
        rest.reverse();
        for t in &mut stream {
            t.exchange_ts = t.trade_ts; // the stream's event time is the frame's; REST has none
        }
        assert_eq!(rest, stream);
    }

    #[test]
    fn recent_trades_refuse_errors_and_bad_rows() {
        let mut v = linear();
        let row = r#"{"execId":"x-1","symbol":"BTCUSDT","price":"1.5","size":"2","side":"Buy","time":"1786310819680"}"#;
        let ok = format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"linear","list":[{row}]}}}}"#);
        assert_eq!(v.parse_trades(ok.as_bytes()).unwrap().len(), 1);
        for bad in [
            r#"{"retCode":10001,"retMsg":"params error","result":{}}"#.to_owned(),
            r#"{"retCode":0,"retMsg":"OK"}"#.to_owned(),
            ok.replace("Buy", "buy"),
            ok.replace("\"1.5\"", "\"0\""),
            ok.replace("\"2\"", "\"-2\""),
            ok.replace("1786310819680", "soon"),
            ok.replace("x-1", ""),
        ] {
            assert!(v.parse_trades(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    /// A `GET /v5/market/orderbook` body made of the recording's first `orderbook.200` snapshot
    /// (the REST reply's `result` is the push's `data` plus `ts`).
    fn rest_body(code: i64) -> (String, serde_json::Value) {
        let push: serde_json::Value =
            serde_json::from_str(line(SESSION, "{\"topic\":\"orderbook.200.BTCUSDT\",\"type\":\"snapshot\"")).unwrap();
        let mut result = push["data"].clone();
        result["ts"] = push["ts"].clone();
        let body = serde_json::json!({"retCode": code, "retMsg": "OK", "result": result, "time": 1});
        (body.to_string(), push)
    }

    #[test]
    fn rest_orderbook_reads_the_recorded_book_and_refuses_odd_bodies() {
        let (body, push) = rest_body(0);
        let mut out = Out::default();
        let snap = rest_orderbook(body.as_bytes(), &mut out).unwrap();
        assert_eq!(snap.sequence, push["data"]["u"].as_u64().unwrap());
        assert_eq!(snap.exchange_ts, Some(push["ts"].as_i64().unwrap() * 1_000_000));
        assert_eq!(out.bids.len(), push["data"]["b"].as_array().unwrap().len());
        assert_eq!(out.asks.len(), push["data"]["a"].as_array().unwrap().len());
        assert_eq!(out.bids[0].price.to_string(), push["data"]["b"][0][0].as_str().unwrap());
        // an error reply, a missing `u`, a cut body: errors, never a book
        let refused = r#"{"retCode":10001,"retMsg":"params error: symbol invalid","result":{},"time":1}"#;
        let e = rest_orderbook(refused.as_bytes(), &mut out).unwrap_err();
        assert!(e.to_string().contains("10001"), "{e}");
        let no_u = body.replace("\"u\":", "\"uu\":");
        assert!(rest_orderbook(no_u.as_bytes(), &mut out).is_err());
        assert!(rest_orderbook(&body.as_bytes()[..body.len() / 2], &mut out).is_err());
        assert!(rest_orderbook(br#"{"retMsg":"OK"}"#, &mut out).is_err());
    }
}
