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
    SeqIds, TradeId, TradeItem, Venue, VenueFactory, Verdict,
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
            Err(e) => Err(e),
        };
        result.map_err(|e| nesting_error(frame).unwrap_or(e))
    }

    fn recovery(&self) -> Recovery {
        Recovery::Resubscribe
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
        unified(self.market, market_id).unwrap_or_else(|| market_id.to_owned())
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
    c.dec_levels(levels, field)
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
}
