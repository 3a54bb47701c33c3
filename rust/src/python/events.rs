//! Event classes handed to Python: small, frozen, one per decoded message (never one per level).
//! Prices and sizes are kept exact (fixed point) and read as floats, or as `Decimal` through
//! `.decimal(name)`; timestamps are int ns since the Unix epoch.

use std::cell::UnsafeCell;

use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::PyClass;

use crate::fixed;

fn decimal<'py>(py: Python<'py>, v: i64) -> PyResult<Bound<'py, PyAny>> {
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

/// A hot event class whose fields can be rewritten in place.
pub trait Reusable: PyClass + Sync + Sized {
    type Fields;
    fn cell(&self) -> &Recycled<Self::Fields>;
    fn create(py: Python<'_>, fields: Self::Fields) -> PyResult<Py<Self>>;
}

macro_rules! reusable {
    ($class:ident, $fields:ident) => {
        impl Reusable for $class {
            type Fields = $fields;
            fn cell(&self) -> &Recycled<$fields> {
                &self.0
            }
            fn create(py: Python<'_>, fields: $fields) -> PyResult<Py<Self>> {
                Py::new(py, $class(Recycled::new(fields)))
            }
        }
    };
}

/// `fields` as a Python event, rewriting `spare` when nothing else holds it, otherwise in a new
/// object that becomes the spare.
#[inline]
pub fn reuse_or_new<T: Reusable>(py: Python<'_>, spare: &mut Option<Py<T>>, fields: T::Fields) -> PyResult<Py<PyAny>>
where
    T: PyClass<Frozen = pyo3::pyclass::boolean_struct::True>,
{
    if let Some(obj) = spare {
        // SAFETY: reading the reference count of a live object we hold.
        if unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) } == 1 {
            // SAFETY: our reference is the only one, we hold the GIL, and no Rust borrow of the
            // fields is alive: nothing can observe the write. The old fields drop here.
            unsafe { *obj.get().cell().0.get() = fields };
            return Ok(obj.clone_ref(py).into_any());
        }
    }
    let obj = T::create(py, fields)?;
    *spare = Some(obj.clone_ref(py));
    Ok(obj.into_any())
}

/// Fields of a [`Trade`].
pub struct TradeFields {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub price: i64,
    pub size: i64,
    pub side: &'static str,
    pub trade_id: u64,
    pub trade_ts: i64,
    pub exchange_ts: i64,
    pub receive_ts: i64,
}

/// A public trade. `price`/`size` in quote/base units; `side` is the aggressor ("buy"/"sell");
/// `trade_ts` is the matching time, `exchange_ts` the event time, `receive_ts` the local time.
#[pyclass(module = "tickwire._core", frozen, freelist = 64)]
pub struct Trade(Recycled<TradeFields>);

reusable!(Trade, TradeFields);

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
        fixed::to_f64(self.0.get().price)
    }
    #[getter]
    fn size(&self) -> f64 {
        fixed::to_f64(self.0.get().size)
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.get().side
    }
    #[getter]
    fn trade_id(&self) -> u64 {
        self.0.get().trade_id
    }
    #[getter]
    fn trade_ts(&self) -> i64 {
        self.0.get().trade_ts
    }
    #[getter]
    fn exchange_ts(&self) -> i64 {
        self.0.get().exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.0.get().receive_ts
    }
    /// The exact value of "price" or "size" as `decimal.Decimal`.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let f = self.0.get();
        match name {
            "price" => decimal(py, f.price),
            "size" => decimal(py, f.size),
            _ => Err(no_field("Trade", name)),
        }
    }
    fn __repr__(&self) -> String {
        let f = self.0.get();
        format!(
            "Trade({} {} {} {} @ {} id={} ts={})",
            f.exchange,
            f.symbol,
            f.side,
            fixed::to_string(f.size),
            fixed::to_string(f.price),
            f.trade_id,
            f.exchange_ts
        )
    }
}

/// Fields of a [`Bbo`].
pub struct BboFields {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub bid_price: i64,
    pub bid_size: i64,
    pub ask_price: i64,
    pub ask_size: i64,
    pub sequence: u64,
    pub exchange_ts: Option<i64>,
    pub receive_ts: i64,
}

/// Best bid and ask as the exchange's book ticker states them. `sequence` is the book update id
/// they are valid at; `exchange_ts` is None where the exchange sends no event time (Binance spot).
#[pyclass(module = "tickwire._core", name = "BBO", frozen, freelist = 64)]
pub struct Bbo(Recycled<BboFields>);

reusable!(Bbo, BboFields);

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
        fixed::to_f64(self.0.get().bid_price)
    }
    #[getter]
    fn bid_size(&self) -> f64 {
        fixed::to_f64(self.0.get().bid_size)
    }
    #[getter]
    fn ask_price(&self) -> f64 {
        fixed::to_f64(self.0.get().ask_price)
    }
    #[getter]
    fn ask_size(&self) -> f64 {
        fixed::to_f64(self.0.get().ask_size)
    }
    #[getter]
    fn sequence(&self) -> u64 {
        self.0.get().sequence
    }
    #[getter]
    fn exchange_ts(&self) -> Option<i64> {
        self.0.get().exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.0.get().receive_ts
    }
    /// The exact value of "bid_price", "bid_size", "ask_price" or "ask_size" as `Decimal`.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let f = self.0.get();
        match name {
            "bid_price" => decimal(py, f.bid_price),
            "bid_size" => decimal(py, f.bid_size),
            "ask_price" => decimal(py, f.ask_price),
            "ask_size" => decimal(py, f.ask_size),
            _ => Err(no_field("BBO", name)),
        }
    }
    fn __repr__(&self) -> String {
        let f = self.0.get();
        format!(
            "BBO({} {} {}x{} / {}x{} seq={})",
            f.exchange,
            f.symbol,
            fixed::to_string(f.bid_price),
            fixed::to_string(f.bid_size),
            fixed::to_string(f.ask_price),
            fixed::to_string(f.ask_size),
            f.sequence
        )
    }
}

/// Fields of a [`BookUpdate`].
pub struct BookUpdateFields {
    pub exchange: Py<PyString>,
    pub symbol: Py<PyString>,
    pub sequence: u64,
    pub exchange_ts: Option<i64>,
    pub receive_ts: i64,
}

/// The L2 book of `symbol` changed; read it with `decoder.book(symbol)`. `sequence` is the
/// exchange's final update id now applied (Binance `u`, or a snapshot's `lastUpdateId`).
#[pyclass(module = "tickwire._core", frozen, freelist = 64)]
pub struct BookUpdate(Recycled<BookUpdateFields>);

reusable!(BookUpdate, BookUpdateFields);

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
        self.0.get().sequence
    }
    #[getter]
    fn exchange_ts(&self) -> Option<i64> {
        self.0.get().exchange_ts
    }
    #[getter]
    fn receive_ts(&self) -> i64 {
        self.0.get().receive_ts
    }
    fn __repr__(&self) -> String {
        let f = self.0.get();
        format!("BookUpdate({} {} seq={})", f.exchange, f.symbol, f.sequence)
    }
}

/// A candle (kline) of `interval` ("1m"), covering [start_ts, end_ts]; `closed` once final.
#[pyclass(module = "tickwire._core", frozen)]
pub struct Candle {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub symbol: Py<PyString>,
    #[pyo3(get)]
    pub interval: String,
    #[pyo3(get)]
    pub start_ts: i64,
    #[pyo3(get)]
    pub end_ts: i64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: i64,
    #[pyo3(get)]
    pub trades: u64,
    #[pyo3(get)]
    pub closed: bool,
    #[pyo3(get)]
    pub exchange_ts: i64,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl Candle {
    #[getter]
    fn open(&self) -> f64 {
        fixed::to_f64(self.open)
    }
    #[getter]
    fn high(&self) -> f64 {
        fixed::to_f64(self.high)
    }
    #[getter]
    fn low(&self) -> f64 {
        fixed::to_f64(self.low)
    }
    #[getter]
    fn close(&self) -> f64 {
        fixed::to_f64(self.close)
    }
    #[getter]
    fn volume(&self) -> f64 {
        fixed::to_f64(self.volume)
    }
    /// The exact value of "open", "high", "low", "close" or "volume" as `Decimal`.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = match name {
            "open" => self.open,
            "high" => self.high,
            "low" => self.low,
            "close" => self.close,
            "volume" => self.volume,
            _ => return Err(no_field("Candle", name)),
        };
        decimal(py, v)
    }
    fn __repr__(&self) -> String {
        format!(
            "Candle({} {} {} o={} h={} l={} c={} v={} closed={})",
            self.exchange,
            self.symbol,
            self.interval,
            fixed::to_string(self.open),
            fixed::to_string(self.high),
            fixed::to_string(self.low),
            fixed::to_string(self.close),
            fixed::to_string(self.volume),
            self.closed
        )
    }
}

/// A notice the exchange sent about the connection itself: ``name`` is its own word for it
/// (Binance ``"serverShutdown"``: this connection will be closed soon, move to a new one).
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

/// The exchange's reply to a control request (SUBSCRIBE ack or error). `request_id` is the id
/// the request carried (int, str or None); `ok` is False for an error reply with `code`/`message`;
/// `result` is the raw JSON of a non-null result (LIST_SUBSCRIPTIONS).
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
        let id = self.request_id.as_ref().map(|i| i.bind(py).to_string()).unwrap_or_else(|| "None".into());
        format!(
            "ControlReply({} id={} ok={} code={:?} message={:?})",
            self.exchange, id, self.ok, self.code, self.message
        )
    }
}
