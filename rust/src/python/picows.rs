//! picows frames read from Rust, the way a Cython listener reads them after `cimport picows`.
//!
//! picows publishes `WSFrame`'s C layout in its `picows.pxd` so that compiled listeners read a
//! frame's fields directly instead of through Python attributes. That matters here: on Python
//! 3.11 the attribute `frame.msg_type` alone costs about as much as decoding a bookTicker
//! (Cython turns the C enum into an `IntEnum` member through `EnumMeta`'s slow attribute path),
//! and a Python-level `on_ws_frame` adds an interpreter frame and a bytes copy of the payload.
//! [`FrameSink::on_ws_frame`] is the whole per-frame hot path in Rust: exact type check, struct
//! read, zero-copy decode of the payload in place, event dispatch.
//!
//! The layout is verified once per process against frames built by picows itself (two test
//! frames differing in type, flags and payload, and `WSFrame.__basicsize__`). On any mismatch
//! (another picows release) `FrameSink(...)` raises `RuntimeError` and the Python listener keeps
//! its pure-Python `on_ws_frame`, which does the same work more slowly.
//!
//! Known to match: picows 2.0.0, 2.1.3, 2.2.0, 2.3.0 and 2.3.1 (their `picows.pxd` declares the
//! same `WSFrame`, and tests/test_frame_sink.py passes against each). picows 1.x (checked: 1.8.0,
//! 1.13.1, 1.20.0) has no `_payload_obj` field (`__basicsize__` 64, not 72): there the check
//! fails and the Python listener is used.

use std::ffi::{c_int, c_void};

use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyType};

use super::decoder::{now_ns, PyDecoder};

/// ``picows.picows.WSFrame`` as declared in picows.pxd (a cdef class with cpdef methods, so a
/// vtable pointer follows the object header), fields in declaration order.
#[repr(C)]
struct WsFrame {
    ob_base: pyo3::ffi::PyObject,
    vtab: *const c_void,
    payload_obj: *mut pyo3::ffi::PyObject,
    payload_ptr: *const u8,
    payload_size: isize,
    tail_size: isize,
    msg_type: c_int,
    fin: u8,
    rsv1: u8,
    rsv2: u8,
    rsv3: u8,
    last_in_buffer: u8,
}

impl WsFrame {
    /// SAFETY: ``frame`` must be an instance of the verified ``WSFrame`` type.
    unsafe fn of<'a>(frame: &'a Bound<'_, PyAny>) -> &'a WsFrame {
        &*(frame.as_ptr() as *const WsFrame)
    }

    /// The payload in picows' read buffer: valid only while the frame callback runs.
    fn payload(&self) -> &[u8] {
        match usize::try_from(self.payload_size) {
            // SAFETY: picows points payload_ptr at payload_size readable bytes for the callback.
            Ok(len) if len > 0 && !self.payload_ptr.is_null() => unsafe {
                std::slice::from_raw_parts(self.payload_ptr, len)
            },
            _ => &[],
        }
    }
}

/// The verified ``WSFrame`` type and the C values of ``WSMsgType.TEXT`` and ``BINARY``.
struct Layout {
    frame_type: Py<PyType>,
    text: c_int,
    binary: c_int,
}

static LAYOUT: PyOnceLock<Result<Layout, String>> = PyOnceLock::new();

fn layout(py: Python<'_>) -> PyResult<&'static Layout> {
    LAYOUT
        .get_or_init(py, || verify(py).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|why| PyRuntimeError::new_err(format!("picows WSFrame layout not usable from Rust: {why}")))
}

#[cold]
fn verify(py: Python<'_>) -> PyResult<Layout> {
    let module = py.import("picows.picows")?;
    let frame_type = module.getattr("WSFrame")?.cast_into::<PyType>()?;
    let basicsize: usize = frame_type.getattr("__basicsize__")?.extract()?;
    if basicsize != std::mem::size_of::<WsFrame>() {
        return Err(PyRuntimeError::new_err(format!(
            "WSFrame.__basicsize__ is {basicsize}, the declared layout has {}",
            std::mem::size_of::<WsFrame>()
        )));
    }
    let make = module.getattr("_make_test_ws_frame")?;
    let kinds = module.getattr("WSMsgType")?;
    let text: c_int = kinds.getattr("TEXT")?.extract()?;
    let binary: c_int = kinds.getattr("BINARY")?.extract()?;
    let probes: [(&str, &[u8], bool, bool); 2] =
        [("TEXT", b"{\"tickwire\":1}", true, false), ("PING", b"\x00\xffping", false, true)];
    for (kind, payload, fin, rsv1) in probes {
        let kind = kinds.getattr(kind)?;
        let frame = make.call1((&kind, PyBytes::new(py, payload), fin, rsv1))?;
        if !frame.get_type().is(&frame_type) {
            return Err(PyRuntimeError::new_err("_make_test_ws_frame returned another type"));
        }
        // SAFETY: the exact type and its size were checked above.
        let raw = unsafe { WsFrame::of(&frame) };
        let expected_type: c_int = kind.extract()?;
        let ok = raw.msg_type == expected_type
            && (raw.fin != 0) == fin
            && (raw.rsv1 != 0) == rsv1
            && raw.payload() == payload
            && frame.getattr("payload_size")?.extract::<isize>()? == raw.payload_size;
        if !ok {
            return Err(PyRuntimeError::new_err("fields read from a test frame do not match it"));
        }
    }
    Ok(Layout { frame_type: frame_type.unbind(), text, binary })
}

/// A picows frame handler that decodes complete text and binary frames in Rust.
///
/// ``FrameSink(decoder, other, on_error)``: ``decoder`` is the connection's ``Decoder`` (with its
/// handlers set); ``other(transport, frame)`` takes every frame that is not a complete text or
/// binary data frame (ping, pong, close, fragments); ``on_error(exc, size, receive_ts)`` takes the ``FrameError``
/// or ``CallbackError`` that ``Decoder.dispatch`` would have raised, with the payload size in
/// bytes and the receive time (ns since the Unix epoch). A lost book is no error: its
/// ``SyncLost`` event goes to the decoder's ``sync_lost`` (or ``default``) handler.
///
/// A handler's ``KeyboardInterrupt`` / ``SystemExit`` (any ``BaseException`` that is not an
/// ``Exception``) is not an error of the feed: ``on_ws_frame`` re-raises it unchanged instead of
/// calling ``on_error``.
///
/// Use its bound ``on_ws_frame`` as the picows listener's ``on_ws_frame``. Each data frame is
/// decoded in place (a binary one as ``Decoder.dispatch(..., binary=True)``) in picows' read buffer (no copy), stamped with the receive time, and its
/// events are handed to the decoder's handlers.
///
/// Raises ``RuntimeError`` if the installed picows' ``WSFrame`` layout differs from the one this
/// build was written against (keep the Python listener in that case).
#[pyclass(module = "tickwire._core", name = "FrameSink")]
pub struct FrameSink {
    layout: &'static Layout,
    decoder: Option<Py<PyDecoder>>,
    other: Option<Py<PyAny>>,
    on_error: Option<Py<PyAny>>,
}

#[pymethods]
impl FrameSink {
    #[new]
    fn new(py: Python<'_>, decoder: Py<PyDecoder>, other: Py<PyAny>, on_error: Py<PyAny>) -> PyResult<Self> {
        let layout = layout(py)?;
        Ok(FrameSink { layout, decoder: Some(decoder), other: Some(other), on_error: Some(on_error) })
    }

    /// picows' ``on_ws_frame(transport, frame)``.
    fn on_ws_frame(&self, transport: &Bound<'_, PyAny>, frame: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = frame.py();
        let (Some(decoder), Some(other), Some(on_error)) = (&self.decoder, &self.other, &self.on_error) else {
            return Ok(()); // cleared by the garbage collector: the session is gone
        };
        let layout = self.layout;
        if frame.get_type().is(&layout.frame_type) {
            // SAFETY: exact type checked just above.
            let raw = unsafe { WsFrame::of(frame) };
            let binary = raw.msg_type == layout.binary;
            if (binary || raw.msg_type == layout.text) && raw.fin != 0 {
                let ts = now_ns();
                if let Err(e) = PyDecoder::dispatch_bytes(decoder.bind(py), raw.payload(), binary, ts) {
                    // A handler's KeyboardInterrupt / SystemExit is a request to stop: it goes up
                    // to picows (and the event loop) unchanged, never to on_error.
                    if !e.is_instance_of::<PyException>(py) {
                        return Err(e);
                    }
                    on_error.call1(py, (e.into_value(py), raw.payload_size, ts))?;
                }
                return Ok(());
            }
        }
        other.call1(py, (transport, frame))?;
        Ok(())
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        for obj in [&self.other, &self.on_error].into_iter().flatten() {
            visit.call(obj)?;
        }
        if let Some(d) = &self.decoder {
            visit.call(d)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.decoder = None;
        self.other = None;
        self.on_error = None;
    }
}
