//! `Decoder` and `Book` for Python: one `feed` call per frame, books read on demand as `NumPy`.

use std::time::{SystemTime, UNIX_EPOCH};

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyException, PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::buffer::with_bytes;
use super::errors::CallbackError;
use super::events;
use crate::account::AccountList;
use crate::book::BookSide;
use crate::decoder::{Decoder, DEFAULT_MAX_BUFFERED};
use crate::event::{Event, RequestId};
use crate::exchanges::{factory, ControlKind, Instrument, Recovery, Venue, FACTORIES};
use crate::fixed::{self, Dec};

#[inline]
pub(super) fn now_ns() -> i64 {
    // Seconds and nanoseconds apart: cheaper than the u128 of `as_nanos`.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 * 1_000_000_000 + i64::from(d.subsec_nanos()))
}

// Decoder.__new__'s text_signature spells this default out.
const _: () = assert!(DEFAULT_MAX_BUFFERED == 10_000, "update Decoder.__new__'s text_signature");

/// The receive time argument of the frame/body methods: now if None; ``ValueError`` if negative.
fn receive_time(receive_ts: Option<i64>) -> PyResult<i64> {
    match receive_ts {
        None => Ok(now_ns()),
        Some(ts) if ts >= 0 => Ok(ts),
        Some(ts) => Err(negative_receive_ts(ts)),
    }
}

#[cold]
fn negative_receive_ts(ts: i64) -> PyErr {
    PyValueError::new_err(format!("receive_ts must be >= 0 (ns since the Unix epoch), got {ts}"))
}

/// A handler argument of ``set_handlers``: None or a callable; ``TypeError`` naming ``name`` otherwise.
fn handler(name: &str, value: Option<Py<PyAny>>, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
    match value {
        Some(h) if !h.bind(py).is_callable() => {
            let h = h.bind(py);
            let kind = h.get_type().name().map_or_else(|_| "object".to_owned(), |n| n.to_string());
            Err(PyTypeError::new_err(format!("{name} must be callable or None, got {kind} {}", h.repr()?)))
        }
        other => Ok(other),
    }
}

/// Decodes one connection's frames for one exchange endpoint, keeping its L2 books.
///
/// ``Decoder(exchange, market=None, instruments=None, *, max_buffered=10000)``: ``exchange`` is an
/// id from ``tickwire._core.venues()`` ("binance", "binanceusdm", ...); ``market`` one of its
/// markets ("spot", "linear", "inverse"; None: the venue's default, its first); ``instruments`` a
/// list of dicts ``{"market_id", "symbol", "tick_size", "lot_size"}`` (str; the sizes may be None)
/// from the venue's instruments endpoint, or None (offline: the venue's own symbol rules). When
/// given, they name the symbols, set each book's starting price/size scales (decimals of the tick
/// and lot; else 8) and ``register`` accepts only listed symbols. ``max_buffered`` (int >= 1) is how
/// many deltas a book of a ``"rest"`` venue keeps while it awaits a snapshot (the oldest are
/// dropped past it, counted in ``stats()["dropped_deltas"]``). ``ValueError`` names an unknown
/// exchange or market, a malformed instrument or a bad ``max_buffered``.
///
/// Per frame call ``feed(payload)``; it returns the events the frame carried, in order:
/// ``Trade``, ``BBO``, ``BookUpdate``, ``Candle``, ``ControlReply``, ``Notice`` and ``SyncLost``
/// (a book lost sync: a gap, a checksum mismatch or a connection gap; it then awaits a new
/// snapshot). ``recovery`` says how a book is rebuilt: ``"rest"`` (``apply_snapshot`` loads a REST
/// depth snapshot and replays the deltas buffered since) or ``"resubscribe"`` (the venue sends a
/// snapshot on the WebSocket when the channel is subscribed again; deltas meanwhile are dropped).
/// Prices and sizes are exact decimals inside, each book at its own scales; timestamps are int ns
/// since the Unix epoch.
#[pyclass(module = "tickwire._core", name = "Decoder", weakref)]
pub struct PyDecoder {
    inner: Decoder,
    exchange: Py<PyString>,
    /// Interned unified symbol per symbol index, so events share one str object.
    names: Vec<Py<PyString>>,
    handlers: Handlers,
    /// The last event of each hot kind, rewritten in place once nothing else holds it.
    spares: Spares,
}

#[derive(Default)]
struct Spares {
    trade: Option<Py<events::Trade>>,
    bbo: Option<Py<events::Bbo>>,
    book: Option<Py<events::BookUpdate>>,
}

/// Per-kind handlers of ``dispatch``; ``default`` takes the kinds without their own.
#[derive(Default)]
struct Handlers {
    trade: Option<Py<PyAny>>,
    bbo: Option<Py<PyAny>>,
    book: Option<Py<PyAny>>,
    candle: Option<Py<PyAny>>,
    control: Option<Py<PyAny>>,
    notice: Option<Py<PyAny>>,
    sync_lost: Option<Py<PyAny>>,
    order: Option<Py<PyAny>>,
    fill: Option<Py<PyAny>>,
    position: Option<Py<PyAny>>,
    balance: Option<Py<PyAny>>,
    default: Option<Py<PyAny>>,
}

impl Handlers {
    #[inline]
    fn for_event(&self, e: &Event) -> Option<&Py<PyAny>> {
        let own = match e {
            Event::Trade { .. } => &self.trade,
            Event::Bbo { .. } => &self.bbo,
            Event::BookUpdate { .. } => &self.book,
            Event::Candle { .. } => &self.candle,
            Event::Control { .. } => &self.control,
            Event::Notice { .. } => &self.notice,
            Event::SyncLost { .. } => &self.sync_lost,
            Event::Order { .. } => &self.order,
            Event::Fill { .. } => &self.fill,
            Event::Position { .. } => &self.position,
            Event::Balance { .. } => &self.balance,
        };
        own.as_ref().or(self.default.as_ref())
    }
}

impl PyDecoder {
    /// Make sure ``self.names`` has the symbol of index ``i`` (a new symbol appears rarely).
    #[inline]
    fn know_name(&mut self, py: Python<'_>, i: usize) {
        if i >= self.names.len() {
            self.sync_names(py);
        }
    }

    #[cold]
    fn sync_names(&mut self, py: Python<'_>) {
        for s in &self.inner.symbols()[self.names.len()..] {
            self.names.push(PyString::intern(py, &s.symbol).unbind());
        }
    }

    fn event_object(&mut self, py: Python<'_>, event: Event) -> PyResult<Py<PyAny>> {
        Ok(match event {
            Event::Bbo { symbol, bbo, receive_ts } => {
                self.know_name(py, symbol);
                let (exchange, name) = (&self.exchange, &self.names[symbol]);
                events::reuse_or_new(py, &mut self.spares.bbo, exchange, name, bbo, receive_ts)?
            }
            Event::BookUpdate { symbol, sequence, exchange_ts, receive_ts } => {
                self.know_name(py, symbol);
                let (exchange, name) = (&self.exchange, &self.names[symbol]);
                let change = events::BookChange { sequence, exchange_ts };
                events::reuse_or_new(py, &mut self.spares.book, exchange, name, change, receive_ts)?
            }
            Event::Trade { symbol, trade, receive_ts } => {
                self.know_name(py, symbol);
                let (exchange, name) = (&self.exchange, &self.names[symbol]);
                events::reuse_or_new(py, &mut self.spares.trade, exchange, name, trade, receive_ts)?
            }
            Event::Candle { symbol, candle, receive_ts } => {
                self.know_name(py, symbol);
                let (exchange, symbol) = (self.exchange.clone_ref(py), self.names[symbol].clone_ref(py));
                Py::new(py, events::Candle { exchange, symbol, fields: *candle, receive_ts })?.into_any()
            }
            Event::SyncLost { symbol, reason, receive_ts } => {
                self.know_name(py, symbol);
                let (exchange, symbol) = (self.exchange.clone_ref(py), self.names[symbol].clone_ref(py));
                let (expected, received) = reason.values();
                let reason = reason.as_str();
                Py::new(py, events::SyncLost { exchange, symbol, reason, expected, received, receive_ts })?.into_any()
            }
            Event::Order { order, receive_ts } => {
                self.know_name(py, order.symbol);
                let (exchange, symbol) = (self.exchange.clone_ref(py), self.names[order.symbol].clone_ref(py));
                Py::new(py, events::OrderUpdate { exchange, symbol, fields: *order, receive_ts })?.into_any()
            }
            Event::Fill { fill, receive_ts } => {
                self.know_name(py, fill.symbol);
                let (exchange, symbol) = (self.exchange.clone_ref(py), self.names[fill.symbol].clone_ref(py));
                Py::new(py, events::Fill { exchange, symbol, fields: *fill, receive_ts })?.into_any()
            }
            Event::Position { position, receive_ts } => {
                self.know_name(py, position.symbol);
                let (exchange, symbol) = (self.exchange.clone_ref(py), self.names[position.symbol].clone_ref(py));
                Py::new(py, events::Position { exchange, symbol, fields: *position, receive_ts })?.into_any()
            }
            Event::Balance { balance, receive_ts } => {
                let exchange = self.exchange.clone_ref(py);
                Py::new(py, events::Balance { exchange, fields: *balance, receive_ts })?.into_any()
            }
            Event::Notice { name, exchange_ts, receive_ts } => {
                let exchange = self.exchange.clone_ref(py);
                Py::new(py, events::Notice { exchange, name, exchange_ts, receive_ts })?.into_any()
            }
            Event::Control { control, receive_ts } => {
                let request_id = match control.request_id {
                    None => None,
                    Some(RequestId::Int(v)) => Some(v.into_pyobject(py)?.into_any().unbind()),
                    Some(RequestId::Str(s)) => Some(PyString::new(py, &s).into_any().unbind()),
                };
                let kind = match control.kind {
                    ControlKind::Ack => "ack",
                    ControlKind::Error => "error",
                    ControlKind::Pong => "pong",
                    ControlKind::Welcome => "welcome",
                    ControlKind::Login => "login",
                };
                let exchange = self.exchange.clone_ref(py);
                let (topic, code, message) = (control.topic, control.code, control.message);
                Py::new(py, events::ControlReply { exchange, kind, request_id, topic, code, message, receive_ts })?
                    .into_any()
            }
        })
    }

    /// The events of the last call as a list. The Vec goes back afterwards so its capacity is
    /// reused: no allocation per frame.
    #[inline]
    fn drain<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut events = std::mem::take(&mut self.inner.events);
        let list = match events.len() {
            0 => Ok(PyList::empty(py)),
            // The common case: one event, no intermediate Vec.
            1 => {
                let event = events.pop().expect("one event");
                self.event_object(py, event).and_then(|o| PyList::new(py, [o]))
            }
            _ => events
                .drain(..)
                .map(|e| self.event_object(py, e))
                .collect::<PyResult<Vec<_>>>()
                .and_then(|objects| PyList::new(py, objects)),
        };
        events.clear();
        self.inner.events = events;
        list
    }

    /// ``dispatch`` on a byte slice: decode and build the events under the borrow, then release
    /// it before any handler runs (handlers read books and may call the decoder again). The
    /// slice is not touched once the handlers start, so it may be a buffer that is only valid
    /// for the caller's frame callback.
    pub(super) fn dispatch_bytes(slf: &Bound<'_, Self>, bytes: &[u8], binary: bool, ts: i64) -> PyResult<usize> {
        let py = slf.py();
        let mut first: Option<(Py<PyAny>, Py<PyAny>)> = None;
        let mut more: Vec<(Py<PyAny>, Py<PyAny>)> = Vec::new(); // allocates only past one event
        let n = {
            let mut this = slf.borrow_mut();
            // No handler takes order updates: the venue need not build them (fills-only feeds).
            let skip_orders = this.handlers.order.is_none() && this.handlers.default.is_none();
            this.inner.set_skip_orders(skip_orders);
            this.inner.feed_frame(bytes, binary, ts)?;
            let mut events = std::mem::take(&mut this.inner.events);
            let n = events.len();
            for event in events.drain(..) {
                let Some(handler) = this.handlers.for_event(&event).map(|h| h.clone_ref(py)) else { continue };
                let object = this.event_object(py, event)?;
                match first {
                    None => first = Some((handler, object)),
                    Some(_) => more.push((handler, object)),
                }
            }
            this.inner.events = events;
            n
        };
        let mut failure: Option<PyErr> = None;
        for (handler, object) in first.into_iter().chain(more) {
            if let Err(e) = handler.call1(py, (object.clone_ref(py),)) {
                // KeyboardInterrupt, SystemExit, GeneratorExit...: a request to stop, not a
                // handler bug. It leaves at once, unwrapped; later handlers are not called.
                if !e.is_instance_of::<PyException>(py) {
                    return Err(e);
                }
                if failure.is_none() {
                    let wrapped = CallbackError::new_err((format!("handler {} raised: {e}", handler.bind(py)), object));
                    wrapped.set_cause(py, Some(e));
                    failure = Some(wrapped);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    fn index(&self, symbol: &str) -> PyResult<usize> {
        self.inner.find(symbol).ok_or_else(|| {
            let known: Vec<&str> = self.inner.symbols().iter().map(|s| s.symbol.as_str()).collect();
            PyKeyError::new_err(format!("no book for {symbol:?} yet; known: {known:?}"))
        })
    }
}

#[pymethods]
impl PyDecoder {
    #[new]
    // The default is written out for Python's signature (PyO3 cannot render the constant's cast).
    #[pyo3(signature = (exchange, market = None, instruments = None, *, max_buffered = DEFAULT_MAX_BUFFERED as i64), text_signature = "(exchange, market=None, instruments=None, *, max_buffered=10000)")]
    fn new(
        py: Python<'_>,
        exchange: &str,
        market: Option<&str>,
        instruments: Option<Vec<Bound<'_, PyDict>>>,
        max_buffered: i64,
    ) -> PyResult<Self> {
        let instruments = instruments.unwrap_or_default().iter().map(instrument).collect::<PyResult<Vec<_>>>()?;
        let mut inner = Decoder::new(exchange, market, &instruments)?;
        inner.max_buffered = usize::try_from(max_buffered).ok().filter(|&n| n >= 1).ok_or_else(|| {
            PyValueError::new_err(format!(
                "max_buffered must be >= 1, got {max_buffered} (deltas kept per book while it awaits a snapshot)"
            ))
        })?;
        Ok(Self {
            inner,
            exchange: PyString::intern(py, exchange).unbind(),
            names: Vec::new(),
            handlers: Handlers::default(),
            spares: Spares::default(),
        })
    }

    /// The exchange id this decoder speaks.
    #[getter]
    fn exchange(&self, py: Python<'_>) -> Py<PyString> {
        self.exchange.clone_ref(py)
    }

    /// The market (endpoint) this decoder speaks: "spot", "linear" or "inverse".
    #[getter]
    fn market(&self) -> &'static str {
        self.inner.market()
    }

    /// How a book that lost sync is rebuilt: "rest" (``apply_snapshot`` with a REST depth
    /// snapshot) or "resubscribe" (subscribe its channel again: the venue sends a snapshot).
    #[getter]
    fn recovery(&self) -> &'static str {
        match self.inner.recovery() {
            Recovery::RestSnapshot => "rest",
            Recovery::Resubscribe => "resubscribe",
        }
    }

    /// Decode one WebSocket frame.
    ///
    /// ``payload``: bytes, bytearray or memoryview of the frame (read in place, not copied).
    /// ``receive_ts``: local receive time, int ns since the Unix epoch (default: now; ``ValueError``
    /// if negative). ``binary``: the frame came as a binary WebSocket frame (opcode 2; a venue
    /// that sends text raises ``FrameError`` for one), default a text frame. Returns a ``list`` of events, in the frame's order. Raises ``FrameError``
    /// (``.field``, ``.reason``) for a malformed frame, an impossible value (a level price not
    /// above 0, a negative size, price or timestamp, a value no 64-bit fixed-point scale holds) or
    /// a frame of another venue or market, leaving every book untouched. A gap, a checksum
    /// mismatch or a connection gap is not an error: a ``SyncLost`` event among the others, after
    /// which that book awaits a new snapshot (``needs_snapshot``).
    #[pyo3(signature = (payload, receive_ts = None, *, binary = false))]
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        payload: &Bound<'py, PyAny>,
        receive_ts: Option<i64>,
        binary: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let ts = receive_time(receive_ts)?;
        let inner = &mut self.inner;
        inner.set_skip_orders(false); // feed returns every event
        with_bytes(payload, |bytes| inner.feed_frame(bytes, binary, ts))??;
        self.drain(py)
    }

    /// Set the handlers ``dispatch`` calls, one per event kind: ``trade`` (Trade), ``bbo`` (BBO),
    /// ``book`` (BookUpdate), ``candle`` (Candle), ``control`` (ControlReply), ``notice``
    /// (Notice), ``sync_lost`` (SyncLost), ``order`` (OrderUpdate), ``fill`` (Fill),
    /// ``position`` (Position), ``balance`` (Balance); ``default`` takes every kind without its own. Each is a callable taking the
    /// event, or None; ``TypeError`` names an argument that is neither (and no handler changes).
    /// A kind with no handler at all is not delivered by ``dispatch`` (``feed`` still returns
    /// everything); with neither an ``order`` nor a ``default`` handler, ``dispatch`` does not
    /// even build order updates (a fills-only feed: the fill an update carries still comes, but
    /// fields only the order update reads are not checked). Replaces all handlers set before.
    #[pyo3(signature = (*, trade = None, bbo = None, book = None, candle = None, control = None, notice = None, sync_lost = None, order = None, fill = None, position = None, balance = None, default = None))]
    // One keyword argument per event kind is the API; a struct would hide them from Python.
    #[allow(clippy::too_many_arguments)]
    fn set_handlers(
        &mut self,
        py: Python<'_>,
        trade: Option<Py<PyAny>>,
        bbo: Option<Py<PyAny>>,
        book: Option<Py<PyAny>>,
        candle: Option<Py<PyAny>>,
        control: Option<Py<PyAny>>,
        notice: Option<Py<PyAny>>,
        sync_lost: Option<Py<PyAny>>,
        order: Option<Py<PyAny>>,
        fill: Option<Py<PyAny>>,
        position: Option<Py<PyAny>>,
        balance: Option<Py<PyAny>>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        self.handlers = Handlers {
            trade: handler("trade", trade, py)?,
            bbo: handler("bbo", bbo, py)?,
            book: handler("book", book, py)?,
            candle: handler("candle", candle, py)?,
            control: handler("control", control, py)?,
            notice: handler("notice", notice, py)?,
            sync_lost: handler("sync_lost", sync_lost, py)?,
            order: handler("order", order, py)?,
            fill: handler("fill", fill, py)?,
            position: handler("position", position, py)?,
            balance: handler("balance", balance, py)?,
            default: handler("default", default, py)?,
        };
        Ok(())
    }

    /// Decode one frame like ``feed``, but hand each event straight to its handler (see
    /// ``set_handlers``) instead of returning a list: the lowest-overhead path for a live
    /// connection. ``binary`` as for ``feed``. Returns the number of events decoded.
    ///
    /// Raises ``FrameError`` / ``ValueError`` exactly as ``feed`` (before any
    /// handler runs); ``CallbackError`` (``.event``, original exception as ``__cause__``) if a
    /// handler raised an ``Exception``, after the frame's remaining events were delivered. Any
    /// other ``BaseException`` from a handler (``KeyboardInterrupt``, ``SystemExit``) propagates
    /// unchanged and at once: the frame's later handlers are not called.
    #[pyo3(signature = (payload, receive_ts = None, *, binary = false))]
    fn dispatch<'py>(
        slf: &Bound<'py, Self>,
        payload: &Bound<'py, PyAny>,
        receive_ts: Option<i64>,
        binary: bool,
    ) -> PyResult<usize> {
        let ts = receive_time(receive_ts)?;
        with_bytes(payload, |bytes| Self::dispatch_bytes(slf, bytes, binary, ts))?
    }

    /// Load a REST depth snapshot body (``GET /api/v3/depth`` or ``/fapi/v1/depth``) for unified
    /// ``symbol`` and replay the deltas buffered since, by Binance's bridging rule.
    ///
    /// ``payload``: the body as bytes, bytearray or memoryview; ``receive_ts``: int ns since the
    /// Unix epoch (default: now). Returns the ``BookUpdate`` events (the snapshot's, then one per
    /// replayed delta). Raises ``FrameError`` for a malformed body or an impossible level (price
    /// not above 0, negative size; nothing changes), ``ValueError`` for a symbol of another
    /// market or a negative ``receive_ts``, ``SequenceGap`` when the snapshot is older than the
    /// buffered deltas (fetch a newer one; the deltas stay buffered).
    #[pyo3(signature = (symbol, payload, receive_ts = None))]
    fn apply_snapshot<'py>(
        &mut self,
        py: Python<'py>,
        symbol: &str,
        payload: &Bound<'py, PyAny>,
        receive_ts: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ts = receive_time(receive_ts)?;
        let inner = &mut self.inner;
        with_bytes(payload, |bytes| inner.apply_snapshot(symbol, bytes, ts))??;
        self.drain(py)
    }

    /// Decode a REST list of past trades of unified ``symbol`` (the venue's recent-trades or
    /// past-trades body, matching its trade stream: same ids, exact decimals) into ``Trade``
    /// events; ``exchange_ts`` is the trade time. ``after`` (int >= 0, venues that number
    /// trades): only ids above it, in id order; None: every trade of the list in trade-time
    /// order (oldest first; the caller filters by time and id). Used to fill the trades a
    /// reconnect missed and by the REST fallback's polls. Raises ``FrameError`` for a malformed
    /// body or a negative price, size or time (nothing returned), ``ValueError`` for a symbol of
    /// another market, a venue without such a list, or a negative ``after`` / ``receive_ts``.
    #[pyo3(signature = (symbol, payload, after, receive_ts = None))]
    fn apply_trades<'py>(
        &mut self,
        py: Python<'py>,
        symbol: &str,
        payload: &Bound<'py, PyAny>,
        after: Option<i64>,
        receive_ts: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ts = receive_time(receive_ts)?;
        let after = after
            .map(u64::try_from)
            .transpose()
            .map_err(|_| PyValueError::new_err(format!("after must be >= 0 (a trade id), got {after:?}")))?;
        let inner = &mut self.inner;
        with_bytes(payload, |bytes| inner.apply_trades(symbol, bytes, after, ts))??;
        self.drain(py)
    }

    /// Decode an authenticated REST account list into ``Fill`` (``what="fills"``) or
    /// ``OrderUpdate`` (``what="orders"``) events, in the body's order: the venue's list named
    /// by its adapter's ``account_requests`` (Binance ``myTrades``, Bybit ``execution/list``,
    /// OKX ``fills-history``, Hyperliquid ``userFillsByTime``, ...). Used to fetch the fills and
    /// order changes a reconnect missed; the caller dedupes by ``trade_id`` against what the
    /// stream delivered. Raises ``FrameError`` for a malformed body (nothing returned),
    /// ``ValueError`` for an unknown ``what``, a venue without such a list or a negative
    /// ``receive_ts``.
    #[pyo3(signature = (what, payload, receive_ts = None))]
    fn apply_account<'py>(
        &mut self,
        py: Python<'py>,
        what: &str,
        payload: &Bound<'py, PyAny>,
        receive_ts: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ts = receive_time(receive_ts)?;
        let list = AccountList::from_name(what)
            .ok_or_else(|| PyValueError::new_err(format!("what must be \"fills\" or \"orders\", got {what:?}")))?;
        let inner = &mut self.inner;
        with_bytes(payload, |bytes| inner.apply_account(list, bytes, ts))??;
        self.drain(py)
    }

    /// Register unified ``symbol`` (``ValueError`` if it is not of this exchange/market); its book
    /// awaits a snapshot. Returns the exchange's market id ("ETHUSDT").
    fn register(&mut self, symbol: &str) -> PyResult<String> {
        let i = self.inner.register(symbol)?;
        Ok(self.inner.symbol(i).market_id.clone())
    }

    /// Forget the book of unified ``symbol``: it awaits a new snapshot and buffers deltas from
    /// now on. ``ValueError`` if the symbol is not of this exchange/market.
    fn reset_book(&mut self, symbol: &str) -> PyResult<()> {
        Ok(self.inner.reset_book(symbol)?)
    }

    /// True while the book of ``symbol`` waits for a snapshot (new, or after a gap). ``KeyError``
    /// if the decoder has not seen the symbol.
    fn needs_snapshot(&self, symbol: &str) -> PyResult<bool> {
        Ok(!self.inner.symbol(self.index(symbol)?).synced())
    }

    /// The live ``Book`` of unified ``symbol``. ``KeyError`` if the decoder has not seen it.
    fn book(slf: &Bound<'_, Self>, symbol: &str) -> PyResult<PyBook> {
        let index = slf.borrow().index(symbol)?;
        Ok(PyBook { decoder: slf.clone().unbind(), index })
    }

    /// ``(count, first, last)`` of every depth delta decoded for unified ``symbol`` (applied,
    /// buffered or stale): how many, the first update id of the first and the final update id
    /// of the last; None before its first delta. ``KeyError`` if the decoder has not seen it.
    fn deltas_seen(&self, symbol: &str) -> PyResult<Option<(u64, u64, u64)>> {
        let span = self.inner.symbol(self.index(symbol)?).deltas_seen;
        Ok(span.map(|s| (s.count, s.first, s.last)))
    }

    /// ``{symbol: id}`` of the last trade decoded per unified symbol (symbols with trades only):
    /// where a new connection's trades must continue from (Binance numbers trades per symbol).
    fn last_trade_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for s in self.inner.symbols() {
            if let Some(id) = s.last_trade_id {
                d.set_item(&s.symbol, id)?;
            }
        }
        Ok(d)
    }

    /// ``{symbol: (trade_ts, [trade_id, ...])}``: per unified symbol with trades, the time (ns)
    /// of the newest trade decoded and the ids of the trades decoded at that time (int or str,
    /// as on ``Trade``): where a new connection's trades continue from on a venue whose ids are
    /// not consecutive (newer time, or the same time and an id not in the list).
    fn last_trades<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for s in self.inner.symbols() {
            if let Some(ts) = s.last_trade_ts {
                let ids = s.last_trade_keys.iter().map(|&id| events::trade_id(py, id)).collect::<PyResult<Vec<_>>>()?;
                d.set_item(&s.symbol, (ts, PyList::new(py, ids)?))?;
            }
        }
        Ok(d)
    }

    /// Unified symbols seen so far, in order of first appearance.
    fn symbols(&self) -> Vec<String> {
        self.inner.symbols().iter().map(|s| s.symbol.clone()).collect()
    }

    /// Counters since creation, ``{name: int}``: frames, bytes (their payload bytes), events,
    /// bad_frames (FrameErrors), ignored_frames (valid frames that carried nothing decoded),
    /// control_frames (control replies), heartbeats (venue heartbeats, no event), deltas_applied, stale_deltas,
    /// buffered_deltas, dropped_deltas (past ``max_buffered``, or while a resubscribe venue's book
    /// awaits its snapshot), gaps, connection_gaps, snapshots, stale_snapshots (whole-book pushes
    /// older than the book, dropped: venues that push the whole book), crossed_books, checksums_verified,
    /// checksum_mismatches, rescales (books whose price or size scale changed to fit a value).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner.stats;
        let d = PyDict::new(py);
        for (k, v) in [
            ("frames", s.frames),
            ("bytes", s.bytes),
            ("events", s.events),
            ("bad_frames", s.bad_frames),
            ("ignored_frames", s.ignored_frames),
            ("control_frames", s.control_frames),
            ("deltas_applied", s.deltas_applied),
            ("stale_deltas", s.stale_deltas),
            ("buffered_deltas", s.buffered_deltas),
            ("dropped_deltas", s.dropped_deltas),
            ("gaps", s.gaps),
            ("snapshots", s.snapshots),
            ("stale_snapshots", s.stale_snapshots),
            ("crossed_books", s.crossed_books),
            ("checksums_verified", s.checksums_verified),
            ("checksum_mismatches", s.checksum_mismatches),
            ("heartbeats", s.heartbeats),
            ("rescales", s.rescales),
            ("connection_gaps", s.connection_gaps),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Counters of the book of unified ``symbol``, ``{name: int}``: checksums_verified,
    /// checksum_mismatches, gaps (sequence and connection gaps), snapshots, deltas_applied, and
    /// the book's current price_scale and size_scale (decimals of its fixed point). ``KeyError`` if
    /// the decoder has not seen the symbol.
    fn book_stats<'py>(&self, py: Python<'py>, symbol: &str) -> PyResult<Bound<'py, PyDict>> {
        let st = self.inner.symbol(self.index(symbol)?);
        let s = &st.stats;
        let d = PyDict::new(py);
        for (k, v) in [
            ("checksums_verified", s.checksums_verified),
            ("checksum_mismatches", s.checksum_mismatches),
            ("gaps", s.gaps),
            ("snapshots", s.snapshots),
            ("deltas_applied", s.deltas_applied),
            ("price_scale", u64::from(st.book.price_scale)),
            ("size_scale", u64::from(st.book.size_scale)),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Decoder({:?}, {:?}, symbols={})",
            self.inner.exchange(),
            self.inner.market(),
            self.inner.symbols().len()
        )
    }

    // Handlers often close over their decoder: let the GC see (and break) such cycles.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        let h = &self.handlers;
        let all = [&h.trade, &h.bbo, &h.book, &h.candle, &h.control, &h.notice, &h.sync_lost, &h.default];
        for handler in all.into_iter().flatten() {
            visit.call(handler)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.handlers = Handlers::default();
    }
}

/// The calls `fastcall.rs` makes without PyO3's argument parsing.
impl PyDecoder {
    /// `feed(payload, receive_ts, binary=binary)`.
    #[inline]
    pub(super) fn feed_fast<'py>(
        &mut self,
        py: Python<'py>,
        payload: &Bound<'py, PyAny>,
        receive_ts: Option<i64>,
        binary: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        self.feed(py, payload, receive_ts, binary)
    }

    /// `dispatch(payload, receive_ts, binary=binary)`.
    #[inline]
    pub(super) fn dispatch_fast(
        slf: &Bound<'_, Self>,
        payload: &Bound<'_, PyAny>,
        receive_ts: Option<i64>,
        binary: bool,
    ) -> PyResult<usize> {
        Self::dispatch(slf, payload, receive_ts, binary)
    }
}

/// A live view of one L2 book owned by its ``Decoder`` (no copy is made until you read levels);
/// made by ``Decoder.book(symbol)``.
///
/// Prices (quote units) and sizes (base units) are floats, the nearest double to the exchange's
/// exact decimal; ``exact_top()`` gives the best levels as exact strings. ``bids(n)`` /
/// ``asks(n)`` return NumPy float64 arrays of shape (k, 2), columns [price, size], best first,
/// k = min(n, levels); ``ValueError`` if n < 0. ``sequence`` is the exchange's update id of the
/// last change applied (None while awaiting a snapshot).
#[pyclass(module = "tickwire._core", name = "Book", frozen)]
pub struct PyBook {
    decoder: Py<PyDecoder>,
    index: usize,
}

impl PyBook {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&crate::decoder::SymbolState) -> R) -> R {
        let d = self.decoder.borrow(py);
        f(d.inner.symbol(self.index))
    }

    fn levels<'py>(&self, py: Python<'py>, n: usize, bids: bool) -> PyResult<Bound<'py, PyAny>> {
        let flat: Vec<f64> = self.with(py, |s| {
            let (ps, ss) = (s.book.price_scale, s.book.size_scale);
            let side = if bids { BookSide::Bid } else { BookSide::Ask };
            let levels = s.book.levels(side, n);
            let mut v = Vec::with_capacity(2 * levels.len());
            for l in levels {
                v.push(fixed::scaled_to_f64(l.price, ps));
                v.push(fixed::scaled_to_f64(l.size, ss));
            }
            v
        });
        let k = flat.len() / 2;
        Ok(PyArray1::from_vec(py, flat).reshape([k, 2])?.into_any())
    }
}

/// (price, size) of a level as floats.
fn floats(l: crate::exchanges::RawLevel) -> (f64, f64) {
    (l.price.to_f64(), l.size.to_f64())
}

#[pymethods]
impl PyBook {
    /// Unified symbol.
    #[getter]
    fn symbol(&self, py: Python<'_>) -> String {
        self.with(py, |s| s.symbol.clone())
    }
    /// (price, size) of the best bid, or None.
    #[getter]
    fn best_bid(&self, py: Python<'_>) -> Option<(f64, f64)> {
        self.with(py, |s| s.book.best_bid().map(floats))
    }
    /// (price, size) of the best ask, or None.
    #[getter]
    fn best_ask(&self, py: Python<'_>) -> Option<(f64, f64)> {
        self.with(py, |s| s.book.best_ask().map(floats))
    }
    /// (best bid + best ask) / 2, or None if a side is empty.
    #[getter]
    fn mid(&self, py: Python<'_>) -> Option<f64> {
        self.with(py, |s| s.book.mid())
    }
    /// best ask - best bid (exact difference, then as float), or None if a side is empty.
    #[getter]
    fn spread(&self, py: Python<'_>) -> Option<f64> {
        self.with(py, |s| {
            let (ask, bid) = (s.book.best_ask()?.price, s.book.best_bid()?.price);
            Some(fixed::scaled_to_f64(ask.mantissa - bid.mantissa, s.book.price_scale))
        })
    }
    /// The exchange update id of the last change applied, or None while awaiting a snapshot.
    #[getter]
    fn sequence(&self, py: Python<'_>) -> Option<u64> {
        self.with(py, |s| s.book.sequence)
    }
    /// False while the book awaits a snapshot (its levels are then empty).
    #[getter]
    fn synced(&self, py: Python<'_>) -> bool {
        self.with(py, super::super::decoder::SymbolState::synced)
    }
    /// True if best bid >= best ask (a book that cannot be right).
    #[getter]
    fn crossed(&self, py: Python<'_>) -> bool {
        self.with(py, |s| s.book.is_crossed())
    }
    /// The best ``n`` bids (``n`` >= 0) as a NumPy float64 array of shape (k, 2), k = min(n,
    /// levels), columns [price, size], best (highest) first. ``ValueError`` if ``n`` < 0.
    fn bids<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyAny>> {
        self.levels(py, level_count(n)?, true)
    }
    /// The best ``n`` asks (``n`` >= 0) as a NumPy float64 array of shape (k, 2), k = min(n,
    /// levels), columns [price, size], best (lowest) first. ``ValueError`` if ``n`` < 0.
    fn asks<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyAny>> {
        self.levels(py, level_count(n)?, false)
    }
    /// Exact best levels as decimal strings: ((bid_price, bid_size), (ask_price, ask_size)), None
    /// per empty side; for comparisons that must not go through floats.
    fn exact_top(&self, py: Python<'_>) -> (Option<ExactLevel>, Option<ExactLevel>) {
        let s = |l: crate::exchanges::RawLevel| (l.price.normalized().to_string(), l.size.normalized().to_string());
        self.with(py, |st| (st.book.best_bid().map(s), st.book.best_ask().map(s)))
    }
    /// Number of levels on both sides.
    fn __len__(&self, py: Python<'_>) -> usize {
        self.with(py, |s| s.book.depth().0 + s.book.depth().1)
    }
    fn __repr__(&self, py: Python<'_>) -> String {
        self.with(py, |s| {
            let (b, a) = s.book.depth();
            format!("Book({} seq={:?} bids={} asks={} synced={})", s.symbol, s.book.sequence, b, a, s.synced())
        })
    }
}

/// A level as exact decimal strings: (price, size).
type ExactLevel = (String, String);

/// The ``n`` of ``Book.bids(n)`` / ``asks(n)``: ``ValueError`` if negative.
fn level_count(n: i64) -> PyResult<usize> {
    usize::try_from(n)
        .map_err(|_| PyValueError::new_err(format!("n must be >= 0, got {n} (the number of levels to read)")))
}

/// One instrument dict of ``Decoder(instruments=...)``: ``ValueError`` names a missing key or a
/// malformed decimal.
fn instrument(d: &Bound<'_, PyDict>) -> PyResult<Instrument> {
    let text = |key: &str| -> PyResult<Option<String>> {
        match d.get_item(key)? {
            Some(v) if !v.is_none() => Ok(Some(v.extract::<String>().map_err(|_| {
                PyValueError::new_err(format!(
                    "instrument {key:?} must be a str or None, got {}",
                    v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                ))
            })?)),
            _ => Ok(None),
        }
    };
    let required = |key: &str| -> PyResult<String> {
        text(key)?.ok_or_else(|| {
            PyValueError::new_err(format!(
                "instrument {} has no {key:?}",
                d.repr().map_or_else(|_| "?".into(), |r| r.to_string())
            ))
        })
    };
    let dec = |key: &'static str| -> PyResult<Option<Dec>> {
        match text(key)? {
            None => Ok(None),
            Some(t) => match fixed::parse_dec(&t, key) {
                Ok(v) if v.mantissa > 0 => Ok(Some(v)),
                _ => Err(PyValueError::new_err(format!("instrument {key} {t:?} is not a positive decimal"))),
            },
        }
    };
    Ok(Instrument {
        market_id: required("market_id")?,
        symbol: required("symbol")?,
        tick_size: dec("tick_size")?,
        lot_size: dec("lot_size")?,
    })
}

/// A parser of `exchange` on `market` (None: its default), for the symbol functions.
fn parser(exchange: &str, market: Option<&str>) -> PyResult<Box<dyn Venue>> {
    let f = factory(exchange)?;
    let market = market.unwrap_or(f.markets()[0]);
    if !f.markets().contains(&market) {
        return Err(PyValueError::new_err(format!(
            "invalid market {market:?}: {exchange} has markets {}",
            f.markets().join(", ")
        )));
    }
    Ok(f.create(market, &[])?)
}

/// Exchange ids the core can decode.
#[pyfunction]
pub fn exchanges() -> Vec<&'static str> {
    FACTORIES.iter().map(|f| f.id()).collect()
}

/// ``{exchange_id: [market, ...]}`` of every venue the core decodes, its default market first.
#[pyfunction]
pub fn venues(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for f in FACTORIES {
        d.set_item(f.id(), f.markets().to_vec())?;
    }
    Ok(d)
}

/// Exchange market id of unified ``symbol`` on ``exchange`` and ``market`` (None: the default)
/// ("ETH/USDT" -> "ETHUSDT"). ``ValueError`` names a bad exchange, market or a symbol not of that
/// market.
#[pyfunction]
#[pyo3(signature = (exchange, symbol, market = None))]
pub fn market_id(exchange: &str, symbol: &str, market: Option<&str>) -> PyResult<String> {
    Ok(parser(exchange, market)?.market_id(symbol)?)
}

/// Unified symbol of exchange ``market_id`` on ``exchange`` and ``market`` (None: the default)
/// ("ETHUSDT" -> "ETH/USDT", or "ETH/USDT:USDT" on "binanceusdm"); an id the venue's rules cannot
/// split comes back unchanged. ``ValueError`` names a bad exchange or market.
#[pyfunction]
#[pyo3(signature = (exchange, market_id, market = None))]
pub fn unified_symbol(exchange: &str, market_id: &str, market: Option<&str>) -> PyResult<String> {
    Ok(parser(exchange, market)?.unified_symbol(market_id))
}
