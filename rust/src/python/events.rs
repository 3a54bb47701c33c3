//! Event classes handed to Python: small, frozen, one per decoded message (never one per level).
//! Prices and sizes are kept exact (fixed point) and read as floats, or as `Decimal` through
//! `.decimal(name)`; timestamps are int ns since the Unix epoch.

use std::cell::UnsafeCell;

use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::PyClass;

use crate::account::{BalanceItem, FillItem, MarginMode, OrderItem, PositionItem};
use crate::exchanges::{BboItem, CandleItem, TradeId, TradeItem};
use crate::fixed::Dec;

/// `decimal.Decimal`, imported once: an import per call cost more than the conversion.
static DECIMAL: pyo3::sync::PyOnceLock<Py<pyo3::types::PyType>> = pyo3::sync::PyOnceLock::new();

/// The exact value of `d` as `decimal.Decimal` (digits as the exchange wrote them).
fn decimal(py: Python<'_>, d: Dec) -> PyResult<Bound<'_, PyAny>> {
    DECIMAL.import(py, "decimal", "Decimal")?.call1((d.to_string(),))
}

/// A trade id as Python sees it: int for numbered venues, str for text ids.
pub(crate) fn trade_id(py: Python<'_>, id: TradeId) -> PyResult<Py<PyAny>> {
    Ok(match id {
        TradeId::Int(n) => n.into_pyobject(py)?.into_any().unbind(),
        TradeId::Text { .. } => PyString::new(py, &id.to_string()).into_any().unbind(),
    })
}

#[cold]
fn no_field(class: &str, name: &str) -> PyErr {
    pyo3::exceptions::PyAttributeError::new_err(format!("{class} has no decimal field {name:?}"))
}

/// The fields of a hot event (trade, BBO, book update) in a cell the decoder may rewrite.
///
/// Most bots read an event in their callback and drop it. The decoder keeps the last event of
/// each hot kind, and when it is the only holder left (reference count 1) it writes the next
/// event's fields into that object instead of allocating a new one and freeing the old: about a
/// fifth of the Python-side cost of a frame. An event anyone still holds is never touched; the
/// decoder then makes a new one. Python only reads these fields, under the GIL.
pub struct Recycled<T>(UnsafeCell<T>);

// SAFETY: written only by the decoder, under the GIL, while no other reference to the event
// exists (see `rewrite`); every other access is a read under the GIL.
unsafe impl<T: Send> Sync for Recycled<T> {}

impl<T> Recycled<T> {
    pub fn new(fields: T) -> Self {
        Recycled(UnsafeCell::new(fields))
    }

    #[inline]
    fn get(&self) -> &T {
        // SAFETY: see the Sync impl: no write can overlap this read.
        unsafe { &*self.0.get() }
    }
}

/// The fields of a hot event: its exchange and symbol strings (shared by every event of the
/// decoder), what the event says (`data`) and the local receive time.
pub struct HotFields<D> {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub data: D,
    pub receive_ts: i64,
}

/// A hot event class whose fields can be rewritten in place.
pub trait Reusable: PyClass + Sync + Sized {
    type Data;
    fn cell(&self) -> &Recycled<HotFields<Self::Data>>;
    fn create(py: Python<'_>, fields: HotFields<Self::Data>) -> PyResult<Py<Self>>;
}

macro_rules! reusable {
    ($class:ident, $data:ty) => {
        impl Reusable for $class {
            type Data = $data;
            fn cell(&self) -> &Recycled<HotFields<$data>> {
                &self.0
            }
            fn create(py: Python<'_>, fields: HotFields<$data>) -> PyResult<Py<Self>> {
                Py::new(py, $class(Recycled::new(fields)))
            }
        }
    };
}

/// An event of ``exchange``/``symbol`` saying ``data``, rewriting ``spare`` when nothing else
/// holds it, otherwise in a new object that becomes the spare.
#[inline]
pub fn reuse_or_new<T>(
    py: Python<'_>,
    spare: &mut Option<Py<T>>,
    exchange: &Py<PyString>,
    symbol: &Py<PyString>,
    data: T::Data,
    receive_ts: i64,
) -> PyResult<Py<PyAny>>
where
    T: Reusable + PyClass<Frozen = pyo3::pyclass::boolean_struct::True>,
{
    if let Some(obj) = spare {
        // SAFETY: reading the reference count of a live object we hold.
        if unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) } == 1 {
            // SAFETY: our reference is the only one, we hold the GIL, and no Rust borrow of the
            // fields is alive: nothing can observe the write.
            let f = unsafe { &mut *obj.get().cell().0.get() };
            // The strings are usually the ones already there: swapping them would cost four
            // reference-count calls per event (function calls under the stable ABI).
            if !f.symbol.is(symbol) {
                f.symbol = symbol.clone_ref(py);
            }
            if !f.exchange.is(exchange) {
                f.exchange = exchange.clone_ref(py);
            }
            f.data = data;
            f.receive_ts = receive_ts;
            return Ok(obj.clone_ref(py).into_any());
        }
    }
    let fields = HotFields { exchange: exchange.clone_ref(py), symbol: symbol.clone_ref(py), data, receive_ts };
    let obj = T::create(py, fields)?;
    *spare = Some(obj.clone_ref(py));
    Ok(obj.into_any())
}

/// A public trade (frozen; made by ``Decoder``).
///
/// ``exchange`` (str, "binance"), ``symbol`` (str, unified: "ETH/USDT"), ``price`` (float, quote
/// units per base unit, > 0), ``size`` (float, base units, >= 0), ``side`` ("buy" or "sell": the
/// aggressor), ``trade_id`` (the exchange's id: int where the venue numbers trades, increasing per
/// symbol, else str: Bybit UUIDs), ``trade_ts`` (int, matching time), ``exchange_ts`` (int, event
/// time), ``receive_ts`` (int, local receive time); timestamps are ns since the Unix epoch.
/// ``decimal(name)`` gives the exact price or size.
#[pyclass(module = "tickwire._core", frozen, freelist = 64)]
pub struct Trade(Recycled<HotFields<TradeItem>>);

reusable!(Trade, TradeItem);

#[pymethods]
impl Trade {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.0.get().exchange.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.0.get().symbol.clone_ref(py)
    }
    #[getter]
    fn price(&self) -> f64 {
        self.0.get().data.price.to_f64()
    }
    #[getter]
    fn size(&self) -> f64 {
        self.0.get().data.size.to_f64()
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.get().data.side.as_str()
    }
    #[getter]
    fn trade_id(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        trade_id(py, self.0.get().data.trade_id)
    }
    #[getter]
    fn trade_ts(&self) -> i64 {
        self.0.get().data.trade_ts
    }
    #[getter]
    fn exchange_ts(&self) -> i64 {
        self.0.get().data.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.0.get().receive_ts
    }
    /// The exact value of ``name`` ("price" or "size") as ``decimal.Decimal``; ``AttributeError``
    /// for any other name.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let t = &self.0.get().data;
        match name {
            "price" => decimal(py, t.price),
            "size" => decimal(py, t.size),
            _ => Err(no_field("Trade", name)),
        }
    }
    fn __repr__(&self) -> String {
        let f = self.0.get();
        let t = &f.data;
        format!(
            "Trade({} {} {} {} @ {} id={} ts={})",
            f.exchange,
            f.symbol,
            t.side.as_str(),
            t.size,
            t.price,
            t.trade_id,
            t.exchange_ts
        )
    }
}

/// Best bid and ask as the exchange's book ticker states them (frozen; made by ``Decoder``).
///
/// ``exchange``, ``symbol`` (str, unified), ``bid_price``, ``bid_size``, ``ask_price``,
/// ``ask_size`` (float, >= 0; prices in quote units, sizes in base units), ``sequence`` (int, the
/// book update id they are valid at: compare with ``Book.sequence``; None where the venue sends
/// none), ``exchange_ts`` (int ns since the Unix epoch, or None where the exchange sends no event
/// time: Binance spot), ``receive_ts`` (int ns). ``decimal(name)`` gives a price or size exactly.
#[pyclass(module = "tickwire._core", name = "BBO", frozen, freelist = 64)]
pub struct Bbo(Recycled<HotFields<BboItem>>);

reusable!(Bbo, BboItem);

#[pymethods]
impl Bbo {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.0.get().exchange.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.0.get().symbol.clone_ref(py)
    }
    #[getter]
    fn bid_price(&self) -> f64 {
        self.0.get().data.bid.price.to_f64()
    }
    #[getter]
    fn bid_size(&self) -> f64 {
        self.0.get().data.bid.size.to_f64()
    }
    #[getter]
    fn ask_price(&self) -> f64 {
        self.0.get().data.ask.price.to_f64()
    }
    #[getter]
    fn ask_size(&self) -> f64 {
        self.0.get().data.ask.size.to_f64()
    }
    #[getter]
    fn sequence(&self) -> Option<u64> {
        self.0.get().data.sequence
    }
    #[getter]
    fn exchange_ts(&self) -> Option<i64> {
        self.0.get().data.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.0.get().receive_ts
    }
    /// The exact value of ``name`` ("``bid_price``", "``bid_size``", "``ask_price``" or "``ask_size``") as
    /// ``decimal.Decimal``; ``AttributeError`` for any other name.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let b = &self.0.get().data;
        match name {
            "bid_price" => decimal(py, b.bid.price),
            "bid_size" => decimal(py, b.bid.size),
            "ask_price" => decimal(py, b.ask.price),
            "ask_size" => decimal(py, b.ask.size),
            _ => Err(no_field("BBO", name)),
        }
    }
    fn __repr__(&self) -> String {
        let f = self.0.get();
        let b = &f.data;
        format!(
            "BBO({} {} {}x{} / {}x{} seq={:?})",
            f.exchange, f.symbol, b.bid.price, b.bid.size, b.ask.price, b.ask.size, b.sequence
        )
    }
}

/// What a [`BookUpdate`] says besides its exchange and symbol.
pub struct BookChange {
    pub sequence: Option<u64>,
    pub exchange_ts: Option<i64>,
}

/// The L2 book of ``symbol`` changed (frozen; made by ``Decoder``); read it with
/// ``decoder.book(symbol)``.
///
/// ``exchange``, ``symbol`` (str, unified), ``sequence`` (int: the exchange's final update id
/// now applied, Binance ``u`` or a snapshot's ``lastUpdateId``; strictly increasing per book
/// between resyncs; None for venues without book sequences), ``exchange_ts`` (int ns since the Unix epoch, or None for a REST snapshot
/// without one), ``receive_ts`` (int ns).
#[pyclass(module = "tickwire._core", frozen, freelist = 64)]
pub struct BookUpdate(Recycled<HotFields<BookChange>>);

reusable!(BookUpdate, BookChange);

#[pymethods]
impl BookUpdate {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.0.get().exchange.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.0.get().symbol.clone_ref(py)
    }
    #[getter]
    fn sequence(&self) -> Option<u64> {
        self.0.get().data.sequence
    }
    #[getter]
    fn exchange_ts(&self) -> Option<i64> {
        self.0.get().data.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.0.get().receive_ts
    }
    fn __repr__(&self) -> String {
        let f = self.0.get();
        format!("BookUpdate({} {} seq={:?})", f.exchange, f.symbol, f.data.sequence)
    }
}

/// A candle (kline) (frozen; made by ``Decoder``).
///
/// ``exchange``, ``symbol`` (str, unified), ``interval`` (str, the exchange's name: "1m"),
/// ``start_ts`` / ``end_ts`` (int ns since the Unix epoch: the candle covers [start_ts, end_ts]),
/// ``open``, ``high``, ``low``, ``close`` (float, quote units), ``volume`` (float, base units),
/// ``trades`` (int, or None where the venue does not say), ``closed`` (bool: True once final, or
/// None where the venue does not say), ``exchange_ts`` (int ns, or None), ``receive_ts`` (int ns).
/// ``decimal(name)`` gives a price or the volume exactly.
#[pyclass(module = "tickwire._core", frozen)]
pub struct Candle {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub fields: CandleItem,
    pub receive_ts: i64,
}

#[pymethods]
impl Candle {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.exchange.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }
    #[getter]
    fn interval(&self) -> &str {
        self.fields.interval.as_str()
    }
    #[getter]
    fn start_ts(&self) -> i64 {
        self.fields.start_ts
    }
    #[getter]
    fn end_ts(&self) -> i64 {
        self.fields.end_ts
    }
    #[getter]
    fn open(&self) -> f64 {
        self.fields.open.to_f64()
    }
    #[getter]
    fn high(&self) -> f64 {
        self.fields.high.to_f64()
    }
    #[getter]
    fn low(&self) -> f64 {
        self.fields.low.to_f64()
    }
    #[getter]
    fn close(&self) -> f64 {
        self.fields.close.to_f64()
    }
    #[getter]
    fn volume(&self) -> f64 {
        self.fields.volume.to_f64()
    }
    #[getter]
    fn trades(&self) -> Option<u64> {
        self.fields.trades
    }
    #[getter]
    fn closed(&self) -> Option<bool> {
        self.fields.closed
    }
    #[getter]
    fn exchange_ts(&self) -> Option<i64> {
        self.fields.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.receive_ts
    }
    /// The exact value of ``name`` ("open", "high", "low", "close" or "volume") as
    /// ``decimal.Decimal``; ``AttributeError`` for any other name.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let c = &self.fields;
        let v = match name {
            "open" => c.open,
            "high" => c.high,
            "low" => c.low,
            "close" => c.close,
            "volume" => c.volume,
            _ => return Err(no_field("Candle", name)),
        };
        decimal(py, v)
    }
    fn __repr__(&self) -> String {
        let c = &self.fields;
        format!(
            "Candle({} {} {} o={} h={} l={} c={} v={} closed={:?})",
            self.exchange,
            self.symbol,
            c.interval.as_str(),
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            c.closed
        )
    }
}

/// A notice the exchange sent about the connection itself (frozen; made by ``Decoder``).
///
/// ``exchange`` (str), ``name`` (str: the exchange's own word for it, Binance
/// ``"serverShutdown"``: this connection will be closed soon, move to a new one), ``exchange_ts``
/// (int ns since the Unix epoch, or None), ``receive_ts`` (int ns).
#[pyclass(module = "tickwire._core", frozen)]
pub struct Notice {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub name: String,
    #[pyo3(get)]
    pub exchange_ts: Option<i64>,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl Notice {
    fn __repr__(&self) -> String {
        format!("Notice({} {} ts={:?})", self.exchange, self.name, self.exchange_ts)
    }
}

/// The exchange's reply to a control request (frozen, made by ``Decoder``).
///
/// ``exchange`` (str), ``kind`` ("ack", "error", "pong", "welcome" or "login"), ``request_id``
/// (the id the request carried, where the venue echoes it: int, str or None), ``topic`` (str: the
/// topic acknowledged, for venues that ack per topic, in the adapter's ``Subscription.stream``
/// form; else None), ``ok`` (bool: False for an error reply, with ``code`` (int or None) and
/// ``message`` (str or None)), ``message`` on an ack: the venue's text, if any (Binance: the raw
/// JSON of a non-null ``result``, e.g. LIST_SUBSCRIPTIONS), ``receive_ts`` (int ns since the
/// Unix epoch).
#[pyclass(module = "tickwire._core", frozen)]
pub struct ControlReply {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub kind: &'static str,
    #[pyo3(get)]
    pub request_id: Option<Py<PyAny>>,
    #[pyo3(get)]
    pub topic: Option<String>,
    #[pyo3(get)]
    pub code: Option<i64>,
    #[pyo3(get)]
    pub message: Option<String>,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl ControlReply {
    /// True unless the reply is an error.
    #[getter]
    fn ok(&self) -> bool {
        self.kind != "error"
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        let id = self.request_id.as_ref().map_or_else(|| "None".into(), |i| i.bind(py).to_string());
        format!(
            "ControlReply({} {} id={} topic={:?} code={:?} message={:?})",
            self.exchange, self.kind, id, self.topic, self.code, self.message
        )
    }
}

/// A book lost its synchronisation with the exchange (frozen; made by ``Decoder``): it is empty
/// and awaits a new snapshot (``needs_snapshot(symbol)`` is True). On a ``"rest"`` decoder fetch
/// one (``apply_snapshot``); on a ``"resubscribe"`` decoder subscribe the book's channel again.
///
/// ``exchange``, ``symbol`` (str, unified), ``reason`` ("gap": a book message broke the venue's
/// sequence rule; "checksum": the venue's checksum differs from the book's; "connection_gap": the
/// connection-wide message counter skipped), ``expected`` / ``received`` (int: the ids the rule
/// compared, the checksums (as unsigned 32-bit values: expected is the venue's, received ours) or
/// the counter values), ``receive_ts`` (int ns since the Unix epoch).
#[pyclass(module = "tickwire._core", frozen)]
pub struct SyncLost {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub symbol: Py<PyString>,
    #[pyo3(get)]
    pub reason: &'static str,
    #[pyo3(get)]
    pub expected: u64,
    #[pyo3(get)]
    pub received: u64,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl SyncLost {
    fn __repr__(&self) -> String {
        format!(
            "SyncLost({} {} {} expected={} received={})",
            self.exchange, self.symbol, self.reason, self.expected, self.received
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Account (private) events: rare next to market data, so plain objects (no recycling).
// ---------------------------------------------------------------------------------------------

fn float(d: Option<Dec>) -> Option<f64> {
    d.map(Dec::to_f64)
}

/// What `decimal(name)` found for a field name: no such field, a field the venue left empty,
/// or a value.
#[derive(Clone, Copy)]
enum Exact {
    NoField,
    Absent,
    Value(Dec),
}

impl From<Option<Dec>> for Exact {
    fn from(d: Option<Dec>) -> Self {
        d.map_or(Exact::Absent, Exact::Value)
    }
}

fn exact<'py>(py: Python<'py>, class: &str, name: &str, d: Exact) -> PyResult<Bound<'py, PyAny>> {
    match d {
        Exact::NoField => Err(no_field(class, name)),
        Exact::Absent => Ok(py.None().into_bound(py)),
        Exact::Value(d) => decimal(py, d),
    }
}

/// A change of one of the account's orders (frozen; made by ``Decoder`` from a private stream
/// or a REST order list).
///
/// ``exchange``, ``symbol`` (str, unified), ``order_id`` (str, the exchange's),
/// ``client_order_id`` (str or None), ``side`` ("buy"/"sell"), ``order_type`` ("limit",
/// "market", "stop_limit", "stop_market", "take_profit_limit", "take_profit_market",
/// "trailing_stop", "limit_maker"), ``time_in_force`` ("gtc", "ioc", "fok", "post_only", "gtd"
/// or None), ``status`` ("new", "pending" (a conditional order awaiting its trigger),
/// "partially_filled", "filled", "canceled", "rejected", "expired"), ``price`` (float quote
/// units, None for market orders), ``trigger_price`` (float or None), ``size``,
/// ``filled_size`` (float; base units, or contracts where the venue trades contracts),
/// ``average_price`` (float or None), ``reduce_only`` (bool or None), ``created_ts`` (int ns or
/// None), ``exchange_ts`` (int ns: when this change happened), ``receive_ts`` (int ns).
/// ``decimal(name)`` gives ``price``, ``trigger_price``, ``size``, ``filled_size`` or
/// ``average_price`` exactly (None where absent).
#[pyclass(module = "tickwire._core", frozen)]
pub struct OrderUpdate {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub fields: OrderItem,
    pub receive_ts: i64,
}

#[pymethods]
impl OrderUpdate {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.exchange.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }
    #[getter]
    fn order_id(&self) -> &str {
        &self.fields.order_id
    }
    #[getter]
    fn client_order_id(&self) -> Option<&str> {
        self.fields.client_order_id.as_deref()
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.fields.side.as_str()
    }
    #[getter]
    fn order_type(&self) -> &'static str {
        self.fields.order_type
    }
    #[getter]
    fn time_in_force(&self) -> Option<&'static str> {
        self.fields.time_in_force
    }
    #[getter]
    fn status(&self) -> &'static str {
        self.fields.status.as_str()
    }
    /// True once the order can no longer change (filled, canceled, rejected, expired).
    #[getter]
    fn is_final(&self) -> bool {
        self.fields.status.is_final()
    }
    #[getter]
    fn price(&self) -> Option<f64> {
        float(self.fields.price)
    }
    #[getter]
    fn trigger_price(&self) -> Option<f64> {
        float(self.fields.trigger_price)
    }
    #[getter]
    fn size(&self) -> f64 {
        self.fields.size.to_f64()
    }
    #[getter]
    fn filled_size(&self) -> f64 {
        self.fields.filled_size.to_f64()
    }
    #[getter]
    fn average_price(&self) -> Option<f64> {
        float(self.fields.average_price)
    }
    #[getter]
    fn reduce_only(&self) -> Option<bool> {
        self.fields.reduce_only
    }
    #[getter]
    fn created_ts(&self) -> Option<i64> {
        self.fields.created_ts
    }
    #[getter]
    fn exchange_ts(&self) -> i64 {
        self.fields.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.receive_ts
    }
    /// The exact value of ``name`` (see the class) as ``decimal.Decimal``, or None where the
    /// venue gave none; ``AttributeError`` for any other name.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let o = &self.fields;
        let v = match name {
            "price" => o.price.into(),
            "trigger_price" => o.trigger_price.into(),
            "size" => Exact::Value(o.size),
            "filled_size" => Exact::Value(o.filled_size),
            "average_price" => o.average_price.into(),
            _ => Exact::NoField,
        };
        exact(py, "OrderUpdate", name, v)
    }
    fn __repr__(&self) -> String {
        let o = &self.fields;
        let price = o.price.map_or_else(|| "-".to_owned(), |p| p.to_string());
        format!(
            "OrderUpdate({} {} {} {} {} {} {}@{} filled={})",
            self.exchange,
            self.symbol,
            o.order_id,
            o.status.as_str(),
            o.side.as_str(),
            o.order_type,
            o.size,
            price,
            o.filled_size
        )
    }
}

/// One execution of one of the account's orders (frozen; made by ``Decoder`` from a private
/// stream or a REST fill list).
///
/// ``exchange``, ``symbol`` (str, unified), ``trade_id`` (str: the venue's execution id, the
/// dedup key), ``order_id`` (str), ``client_order_id`` (str or None), ``side`` ("buy"/"sell":
/// the account's side), ``price`` (float, quote units), ``size`` (float; base units, or
/// contracts where the venue trades contracts), ``fee`` (float: paid, positive; a rebate is
/// negative; None where the venue does not say), ``fee_asset`` (str or None), ``is_maker``
/// (bool or None), ``liquidation`` (bool or None), ``exchange_ts`` (int ns: execution time),
/// ``receive_ts`` (int ns). ``decimal(name)`` gives ``price``, ``size`` or ``fee`` exactly.
#[pyclass(module = "tickwire._core", frozen)]
pub struct Fill {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub fields: FillItem,
    pub receive_ts: i64,
}

#[pymethods]
impl Fill {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.exchange.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }
    #[getter]
    fn trade_id(&self) -> &str {
        &self.fields.trade_id
    }
    #[getter]
    fn order_id(&self) -> &str {
        &self.fields.order_id
    }
    #[getter]
    fn client_order_id(&self) -> Option<&str> {
        self.fields.client_order_id.as_deref()
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.fields.side.as_str()
    }
    #[getter]
    fn price(&self) -> f64 {
        self.fields.price.to_f64()
    }
    #[getter]
    fn size(&self) -> f64 {
        self.fields.size.to_f64()
    }
    #[getter]
    fn fee(&self) -> Option<f64> {
        float(self.fields.fee)
    }
    #[getter]
    fn fee_asset(&self) -> Option<&str> {
        self.fields.fee_asset.as_deref()
    }
    #[getter]
    fn is_maker(&self) -> Option<bool> {
        self.fields.is_maker
    }
    #[getter]
    fn liquidation(&self) -> Option<bool> {
        self.fields.liquidation
    }
    #[getter]
    fn exchange_ts(&self) -> i64 {
        self.fields.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.receive_ts
    }
    /// The exact value of ``"price"``, ``"size"`` or ``"fee"`` as ``decimal.Decimal`` (None for
    /// an absent fee); ``AttributeError`` for any other name.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let f = &self.fields;
        let v = match name {
            "price" => Exact::Value(f.price),
            "size" => Exact::Value(f.size),
            "fee" => f.fee.into(),
            _ => Exact::NoField,
        };
        exact(py, "Fill", name, v)
    }
    fn __repr__(&self) -> String {
        let f = &self.fields;
        format!(
            "Fill({} {} {} order={} {} {}@{} fee={:?} {:?})",
            self.exchange,
            self.symbol,
            f.trade_id,
            f.order_id,
            f.side.as_str(),
            f.size,
            f.price,
            f.fee.map(|d| d.to_string()),
            f.fee_asset
        )
    }
}

/// A derivatives position's state after a change (frozen; made by ``Decoder``).
///
/// ``exchange``, ``symbol`` (str, unified), ``side`` ("long", "short" or "flat"), ``size``
/// (float >= 0; base units, or contracts where the venue counts contracts), ``entry_price``,
/// ``mark_price``, ``unrealized_pnl`` (quote/settle units), ``liquidation_price``,
/// ``leverage`` (floats, each None where the venue does not say), ``margin_mode`` ("cross",
/// "isolated" or None), ``exchange_ts`` (int ns), ``receive_ts`` (int ns). ``decimal(name)``
/// gives any of the numbers exactly (None where absent).
#[pyclass(module = "tickwire._core", frozen)]
pub struct Position {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub fields: PositionItem,
    pub receive_ts: i64,
}

#[pymethods]
impl Position {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.exchange.clone_ref(py)
    }
    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.fields.side.as_str()
    }
    #[getter]
    fn size(&self) -> f64 {
        self.fields.size.to_f64()
    }
    #[getter]
    fn entry_price(&self) -> Option<f64> {
        float(self.fields.entry_price)
    }
    #[getter]
    fn mark_price(&self) -> Option<f64> {
        float(self.fields.mark_price)
    }
    #[getter]
    fn unrealized_pnl(&self) -> Option<f64> {
        float(self.fields.unrealized_pnl)
    }
    #[getter]
    fn liquidation_price(&self) -> Option<f64> {
        float(self.fields.liquidation_price)
    }
    #[getter]
    fn leverage(&self) -> Option<f64> {
        float(self.fields.leverage)
    }
    #[getter]
    fn margin_mode(&self) -> Option<&'static str> {
        self.fields.margin_mode.map(MarginMode::as_str)
    }
    #[getter]
    fn exchange_ts(&self) -> i64 {
        self.fields.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.receive_ts
    }
    /// The exact value of ``"size"``, ``"entry_price"``, ``"mark_price"``,
    /// ``"unrealized_pnl"``, ``"liquidation_price"`` or ``"leverage"`` as ``decimal.Decimal``
    /// (None where absent); ``AttributeError`` for any other name.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let p = &self.fields;
        let v = match name {
            "size" => Exact::Value(p.size),
            "entry_price" => p.entry_price.into(),
            "mark_price" => p.mark_price.into(),
            "unrealized_pnl" => p.unrealized_pnl.into(),
            "liquidation_price" => p.liquidation_price.into(),
            "leverage" => p.leverage.into(),
            _ => Exact::NoField,
        };
        exact(py, "Position", name, v)
    }
    fn __repr__(&self) -> String {
        let p = &self.fields;
        format!(
            "Position({} {} {} {} entry={:?} upnl={:?})",
            self.exchange,
            self.symbol,
            p.side.as_str(),
            p.size,
            p.entry_price.map(|d| d.to_string()),
            p.unrealized_pnl.map(|d| d.to_string())
        )
    }
}

/// One asset's balance after a change (frozen; made by ``Decoder``).
///
/// ``exchange``, ``asset`` (str, e.g. "USDT"), ``free`` (available), ``locked`` (held by orders
/// or margin), ``total`` (wallet total) (floats, each None where the venue does not say; what
/// each includes per venue is in the README's private-channel table), ``exchange_ts`` (int ns),
/// ``receive_ts`` (int ns). ``decimal(name)`` gives ``free``, ``locked`` or ``total`` exactly.
#[pyclass(module = "tickwire._core", frozen)]
pub struct Balance {
    pub exchange: Py<PyString>,
    pub fields: BalanceItem,
    pub receive_ts: i64,
}

#[pymethods]
impl Balance {
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.exchange.clone_ref(py)
    }
    #[getter]
    fn asset(&self) -> &str {
        &self.fields.asset
    }
    #[getter]
    fn free(&self) -> Option<f64> {
        float(self.fields.free)
    }
    #[getter]
    fn locked(&self) -> Option<f64> {
        float(self.fields.locked)
    }
    #[getter]
    fn total(&self) -> Option<f64> {
        float(self.fields.total)
    }
    #[getter]
    fn exchange_ts(&self) -> i64 {
        self.fields.exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.receive_ts
    }
    /// The exact value of ``"free"``, ``"locked"`` or ``"total"`` as ``decimal.Decimal`` (None
    /// where absent); ``AttributeError`` for any other name.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let b = &self.fields;
        let v = match name {
            "free" => b.free.into(),
            "locked" => b.locked.into(),
            "total" => b.total.into(),
            _ => Exact::NoField,
        };
        exact(py, "Balance", name, v)
    }
    fn __repr__(&self) -> String {
        let b = &self.fields;
        let show = |d: Option<Dec>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
        format!(
            "Balance({} {} free={} locked={} total={})",
            self.exchange,
            b.asset,
            show(b.free),
            show(b.locked),
            show(b.total)
        )
    }
}
