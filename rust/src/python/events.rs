//! Event classes handed to Python: small, frozen, one per decoded message (never one per level).
//! Prices and sizes are kept exact (fixed point) and read as floats, or as `Decimal` through
//! `.decimal(name)`; timestamps are int ns since the Unix epoch.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::fixed;

fn decimal<'py>(py: Python<'py>, v: i64) -> PyResult<Bound<'py, PyAny>> {
    py.import("decimal")?.getattr("Decimal")?.call1((fixed::to_string(v),))
}

#[cold]
fn no_field(class: &str, name: &str) -> PyErr {
    pyo3::exceptions::PyAttributeError::new_err(format!("{class} has no decimal field {name:?}"))
}

/// A public trade. `price`/`size` in quote/base units; `side` is the aggressor ("buy"/"sell");
/// `trade_ts` is the matching time, `exchange_ts` the event time, `receive_ts` the local time.
#[pyclass(module = "tickwire._core", frozen, freelist = 64)]
pub struct Trade {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub symbol: Py<PyString>,
    pub price: i64,
    pub size: i64,
    #[pyo3(get)]
    pub side: &'static str,
    #[pyo3(get)]
    pub trade_id: u64,
    #[pyo3(get)]
    pub trade_ts: i64,
    #[pyo3(get)]
    pub exchange_ts: i64,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl Trade {
    #[getter]
    fn price(&self) -> f64 {
        fixed::to_f64(self.price)
    }
    #[getter]
    fn size(&self) -> f64 {
        fixed::to_f64(self.size)
    }
    /// The exact value of "price" or "size" as `decimal.Decimal`.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match name {
            "price" => decimal(py, self.price),
            "size" => decimal(py, self.size),
            _ => Err(no_field("Trade", name)),
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "Trade({} {} {} {} @ {} id={} ts={})",
            self.exchange, self.symbol, self.side, fixed::to_string(self.size), fixed::to_string(self.price), self.trade_id, self.exchange_ts
        )
    }
}

/// Best bid and ask as the exchange's book ticker states them. `update_id` is the book update id
/// they are valid at; `exchange_ts` is None where the exchange sends no event time (Binance spot).
#[pyclass(module = "tickwire._core", name = "BBO", frozen, freelist = 64)]
pub struct Bbo {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub symbol: Py<PyString>,
    pub bid_price: i64,
    pub bid_size: i64,
    pub ask_price: i64,
    pub ask_size: i64,
    #[pyo3(get)]
    pub update_id: u64,
    #[pyo3(get)]
    pub exchange_ts: Option<i64>,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl Bbo {
    #[getter]
    fn bid_price(&self) -> f64 {
        fixed::to_f64(self.bid_price)
    }
    #[getter]
    fn bid_size(&self) -> f64 {
        fixed::to_f64(self.bid_size)
    }
    #[getter]
    fn ask_price(&self) -> f64 {
        fixed::to_f64(self.ask_price)
    }
    #[getter]
    fn ask_size(&self) -> f64 {
        fixed::to_f64(self.ask_size)
    }
    /// The exact value of "bid_price", "bid_size", "ask_price" or "ask_size" as `Decimal`.
    fn decimal<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match name {
            "bid_price" => decimal(py, self.bid_price),
            "bid_size" => decimal(py, self.bid_size),
            "ask_price" => decimal(py, self.ask_price),
            "ask_size" => decimal(py, self.ask_size),
            _ => Err(no_field("BBO", name)),
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "BBO({} {} {}x{} / {}x{} u={})",
            self.exchange,
            self.symbol,
            fixed::to_string(self.bid_price),
            fixed::to_string(self.bid_size),
            fixed::to_string(self.ask_price),
            fixed::to_string(self.ask_size),
            self.update_id
        )
    }
}

/// The L2 book of `symbol` changed; read it with `decoder.book(symbol)`. `sequence` is the
/// exchange's final update id now applied (Binance `u`, or a snapshot's `lastUpdateId`).
#[pyclass(module = "tickwire._core", frozen, freelist = 64)]
pub struct BookUpdate {
    #[pyo3(get)]
    pub exchange: Py<PyString>,
    #[pyo3(get)]
    pub symbol: Py<PyString>,
    #[pyo3(get)]
    pub sequence: u64,
    #[pyo3(get)]
    pub exchange_ts: Option<i64>,
    #[pyo3(get)]
    pub receive_ts: i64,
}

#[pymethods]
impl BookUpdate {
    fn __repr__(&self) -> String {
        format!("BookUpdate({} {} seq={})", self.exchange, self.symbol, self.sequence)
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
        format!("ControlReply({} id={} ok={} code={:?} message={:?})", self.exchange, id, self.ok, self.code, self.message)
    }
}
