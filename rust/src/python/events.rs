//! Event classes handed to Python: small, frozen, one per decoded message (never one per level).
//! Prices and sizes are kept exact (fixed point) and read as floats, or as `Decimal` through
//! `.decimal(name)`; timestamps are int ns since the Unix epoch.

use std::cell::UnsafeCell;

use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::PyClass;

use crate::{event, fixed};

fn decimal(py: Python<'_>, v: i64) -> PyResult<Bound<'_, PyAny>> {
    py.import("decimal")?.getattr("Decimal")?.call1((fixed::to_string(v),))
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
/// aggressor), ``trade_id`` (int, the exchange's id, increasing per symbol), ``trade_ts`` (int,
/// matching time), ``exchange_ts`` (int, event time), ``receive_ts`` (int, local receive time);
/// timestamps are ns since the Unix epoch. ``decimal(name)`` gives the exact price or size.
#[pyclass(module = "tickwire._core", frozen, freelist = 64)]
pub struct Trade(Recycled<HotFields<event::Trade>>);

reusable!(Trade, event::Trade);

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
        fixed::to_f64(self.0.get().data.price)
    }
    #[getter]
    fn size(&self) -> f64 {
        fixed::to_f64(self.0.get().data.size)
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.get().data.side.as_str()
    }
    #[getter]
    fn trade_id(&self) -> u64 {
        self.0.get().data.trade_id
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
            fixed::to_string(t.size),
            fixed::to_string(t.price),
            t.trade_id,
            t.exchange_ts
        )
    }
}

/// Best bid and ask as the exchange's book ticker states them (frozen; made by ``Decoder``).
///
/// ``exchange``, ``symbol`` (str, unified), ``bid_price``, ``bid_size``, ``ask_price``,
/// ``ask_size`` (float, >= 0; prices in quote units, sizes in base units), ``sequence`` (int, the
/// book update id they are valid at: compare with ``Book.sequence``), ``exchange_ts`` (int ns
/// since the Unix epoch, or None where the exchange sends no event time: Binance spot),
/// ``receive_ts`` (int ns). ``decimal(name)`` gives a price or size exactly.
#[pyclass(module = "tickwire._core", name = "BBO", frozen, freelist = 64)]
pub struct Bbo(Recycled<HotFields<event::Bbo>>);

reusable!(Bbo, event::Bbo);

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
        fixed::to_f64(self.0.get().data.bid.price)
    }
    #[getter]
    fn bid_size(&self) -> f64 {
        fixed::to_f64(self.0.get().data.bid.size)
    }
    #[getter]
    fn ask_price(&self) -> f64 {
        fixed::to_f64(self.0.get().data.ask.price)
    }
    #[getter]
    fn ask_size(&self) -> f64 {
        fixed::to_f64(self.0.get().data.ask.size)
    }
    #[getter]
    fn sequence(&self) -> u64 {
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
            "BBO({} {} {}x{} / {}x{} seq={})",
            f.exchange,
            f.symbol,
            fixed::to_string(b.bid.price),
            fixed::to_string(b.bid.size),
            fixed::to_string(b.ask.price),
            fixed::to_string(b.ask.size),
            b.sequence
        )
    }
}

/// What a [`BookUpdate`] says besides its exchange and symbol.
pub struct BookChange {
    pub sequence: u64,
    pub exchange_ts: Option<i64>,
}

/// The L2 book of ``symbol`` changed (frozen; made by ``Decoder``); read it with
/// ``decoder.book(symbol)``.
///
/// ``exchange``, ``symbol`` (str, unified), ``sequence`` (int: the exchange's final update id
/// now applied, Binance ``u`` or a snapshot's ``lastUpdateId``; strictly increasing per book
/// between resyncs), ``exchange_ts`` (int ns since the Unix epoch, or None for a REST snapshot
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
    fn sequence(&self) -> u64 {
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
        format!("BookUpdate({} {} seq={})", f.exchange, f.symbol, f.data.sequence)
    }
}

/// A candle (kline) (frozen; made by ``Decoder``).
///
/// ``exchange``, ``symbol`` (str, unified), ``interval`` (str, the exchange's name: "1m"),
/// ``start_ts`` / ``end_ts`` (int ns since the Unix epoch: the candle covers [start_ts, end_ts]),
/// ``open``, ``high``, ``low``, ``close`` (float, quote units), ``volume`` (float, base units),
/// ``trades`` (int), ``closed`` (bool: True once final), ``exchange_ts``, ``receive_ts`` (int ns).
/// ``decimal(name)`` gives a price or the volume exactly.
#[pyclass(module = "tickwire._core", frozen)]
pub struct Candle {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub interval: String,
    pub fields: event::Candle,
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
        &self.interval
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
        fixed::to_f64(self.fields.open)
    }
    #[getter]
    fn high(&self) -> f64 {
        fixed::to_f64(self.fields.high)
    }
    #[getter]
    fn low(&self) -> f64 {
        fixed::to_f64(self.fields.low)
    }
    #[getter]
    fn close(&self) -> f64 {
        fixed::to_f64(self.fields.close)
    }
    #[getter]
    fn volume(&self) -> f64 {
        fixed::to_f64(self.fields.volume)
    }
    #[getter]
    fn trades(&self) -> u64 {
        self.fields.trades
    }
    #[getter]
    fn closed(&self) -> bool {
        self.fields.closed
    }
    #[getter]
    fn exchange_ts(&self) -> i64 {
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
            "Candle({} {} {} o={} h={} l={} c={} v={} closed={})",
            self.exchange,
            self.symbol,
            self.interval,
            fixed::to_string(c.open),
            fixed::to_string(c.high),
            fixed::to_string(c.low),
            fixed::to_string(c.close),
            fixed::to_string(c.volume),
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

/// The exchange's reply to a control request (SUBSCRIBE ack or error; frozen, made by
/// ``Decoder``).
///
/// ``exchange`` (str), ``request_id`` (the id the request carried: int, str or None), ``ok``
/// (bool: False for an error reply, with ``code`` (int) and ``message`` (str)), ``result`` (str:
/// the raw JSON of a non-null result, e.g. LIST_SUBSCRIPTIONS; else None), ``receive_ts`` (int ns
/// since the Unix epoch).
#[pyclass(module = "tickwire._core", frozen)]
pub struct ControlReply {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub request_id: Option<Py<PyAny>>,
    #[pyo3(get)]
    pub ok: bool,
    #[pyo3(get)]
    pub code: Option<i64>,
    #[pyo3(get)]
    pub message: Option<String>,
    #[pyo3(get)]
    pub result: Option<String>,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl ControlReply {
    fn __repr__(&self, py: Python<'_>) -> String {
        let id = self.request_id.as_ref().map_or_else(|| "None".into(), |i| i.bind(py).to_string());
        format!(
            "ControlReply({} id={} ok={} code={:?} message={:?})",
            self.exchange, id, self.ok, self.code, self.message
        )
    }
}
