//! `Decoder.feed` and `Decoder.dispatch` without argument parsing for the common call.
//!
//! PyO3's parser for `(payload, receive_ts=None, *, binary=False)` costs a text frame ~26
//! instructions more than one without the keyword-only `binary` (its output slot, its default
//! and the check for missing keyword-only arguments: +1.4% of a Binance spot frame). Here each
//! method is replaced on the class by a plain `METH_FASTCALL | METH_KEYWORDS` method descriptor:
//! a call with one or two positional arguments (``receive_ts`` None or an exact ``int``) and no
//! keyword but ``binary`` (a ``bool``) goes straight to the Rust method; any other call (other
//! keywords, a wrong count, an ``int`` subclass) is handed to the PyO3 method it replaced, so
//! errors, signature and docstring stay PyO3's. `binary=` is on the fast path because every
//! frame of a binary venue (MEXC spot's protobuf) carries it: through the PyO3 method it cost
//! ~2,000 instructions a frame (a tuple, a dict and PyO3's keyword parsing).

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use super::decoder::PyDecoder;

/// The PyO3 method descriptors replaced, for the calls the fast path does not take.
static FEED: OnceLock<Py<PyAny>> = OnceLock::new();
static DISPATCH: OnceLock<Py<PyAny>> = OnceLock::new();

/// Replace `feed` and `dispatch` of the `Decoder` class by their fast descriptors.
pub(super) fn install(class: &Bound<'_, PyType>) -> PyResult<()> {
    replace(class, c"feed", &FEED, feed)?;
    replace(class, c"dispatch", &DISPATCH, dispatch)
}

type Fast = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

fn replace(
    class: &Bound<'_, PyType>,
    name: &'static std::ffi::CStr,
    slot: &OnceLock<Py<PyAny>>,
    fast: Fast,
) -> PyResult<()> {
    let py = class.py();
    let name_str = name.to_str().expect("ASCII");
    let original = class.getattr(name_str)?;
    // The docstring keeps PyO3's text signature line, so `inspect.signature` reads the same.
    let text_signature: String = original.getattr("__text_signature__")?.extract()?;
    let doc: String = original.getattr("__doc__")?.extract::<Option<String>>()?.unwrap_or_default();
    let doc = CString::new(format!("{name_str}{text_signature}\n--\n\n{doc}"))
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    if slot.set(original.unbind()).is_err() {
        return Ok(()); // installed already (the module initialised twice)
    }
    // The definition must outlive the class: leaked once per method.
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: fast },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: doc.into_raw().cast_const().cast::<c_char>(),
    }));
    // SAFETY: the class is a live type object and `def` lives forever; a null result is an error.
    let descr = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(class.as_ptr().cast::<ffi::PyTypeObject>(), def))?
    };
    class.setattr(name_str, descr)
}

/// True if `name` (a keyword name CPython passed) is `binary`.
///
/// # Safety
/// `name` is a live `str`.
#[inline(always)]
unsafe fn is_binary(py: Python<'_>, name: *mut ffi::PyObject) -> bool {
    // Keyword names in a call are interned: a pointer test; else compare the text.
    name == pyo3::intern!(py, "binary").as_ptr()
        || unsafe { ffi::PyUnicode_CompareWithASCIIString(name, c"binary".as_ptr()) } == 0
}

/// The fast path's arguments: `payload`, `receive_ts` and `binary`, or None to take the PyO3
/// method.
///
/// # Safety
/// `args` holds `nargs` (+ keyword) live objects, as CPython passes them.
#[inline(always)]
unsafe fn simple(
    py: Python<'_>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> Option<(*mut ffi::PyObject, Option<*mut ffi::PyObject>, bool)> {
    let binary = if kwnames.is_null() {
        false
    } else {
        // One keyword, `binary`, given a bool (anything else: PyO3 names the fault).
        if unsafe { ffi::PyTuple_Size(kwnames) } != 1 || !unsafe { is_binary(py, ffi::PyTuple_GetItem(kwnames, 0)) } {
            return None;
        }
        let value = unsafe { *args.offset(nargs) };
        if value == unsafe { ffi::Py_True() } {
            true
        } else if value == unsafe { ffi::Py_False() } {
            false
        } else {
            return None;
        }
    };
    match nargs {
        1 => Some((unsafe { *args }, None, binary)),
        2 => {
            let ts = unsafe { *args.add(1) };
            if ts == unsafe { ffi::Py_None() } {
                Some((unsafe { *args }, None, binary))
            } else if unsafe { ffi::PyLong_CheckExact(ts) } != 0 {
                Some((unsafe { *args }, Some(ts), binary))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Call the PyO3 method `original` with CPython's fastcall arguments (bound to `slf`).
///
/// # Safety
/// As for [`simple`]; `kwnames` is null or a tuple of the keyword names.
unsafe fn slow(
    py: Python<'_>,
    original: &OnceLock<Py<PyAny>>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Py<PyAny>> {
    let original = original.get().expect("installed").bind(py);
    let nargs = usize::try_from(nargs).unwrap_or(0);
    let arg = |i: usize| unsafe { Borrowed::from_ptr(py, *args.add(i)) };
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    let positional: Vec<Borrowed<'_, '_, PyAny>> = std::iter::once(slf).chain((0..nargs).map(arg)).collect();
    let positional = PyTuple::new(py, positional)?;
    let kwargs = if kwnames.is_null() {
        None
    } else {
        let names = unsafe { Borrowed::from_ptr(py, kwnames) }.cast::<PyTuple>()?.to_owned();
        let dict = PyDict::new(py);
        for (i, name) in names.iter().enumerate() {
            dict.set_item(name, arg(nargs + i))?;
        }
        Some(dict)
    };
    Ok(original.call(positional, kwargs.as_ref())?.unbind())
}

/// Run `body` as a PyO3 trampoline would: an error is raised, a panic becomes a `PanicException`.
#[inline(always)]
fn run(py: Python<'_>, body: impl FnOnce() -> PyResult<*mut ffi::PyObject>) -> *mut ffi::PyObject {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(obj)) => obj,
        Ok(Err(e)) => {
            e.restore(py);
            std::ptr::null_mut()
        }
        Err(_) => {
            pyo3::panic::PanicException::new_err("panic in Decoder.feed/dispatch").restore(py);
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn feed(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a method with the thread attached.
    let py = unsafe { Python::assume_attached() };
    run(py, || {
        let Some((payload, ts, binary)) = (unsafe { simple(py, args, nargs, kwnames) }) else {
            return Ok(unsafe { slow(py, &FEED, slf, args, nargs, kwnames) }?.into_ptr());
        };
        let this = unsafe { Borrowed::from_ptr(py, slf) }.cast::<PyDecoder>()?;
        let receive_ts = match ts.map(|ts| unsafe { Borrowed::from_ptr(py, ts) }.extract::<i64>()) {
            None => None,
            Some(Ok(ts)) => Some(ts),
            // Out of range: PyO3's method names the argument in its error.
            Some(Err(_)) => return Ok(unsafe { slow(py, &FEED, slf, args, nargs, kwnames) }?.into_ptr()),
        };
        let payload = unsafe { Borrowed::from_ptr(py, payload) };
        let events: Bound<'_, PyList> = this.try_borrow_mut()?.feed_fast(py, &payload, receive_ts, binary)?;
        Ok(events.into_ptr())
    })
}

unsafe extern "C" fn dispatch(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as for `feed`.
    let py = unsafe { Python::assume_attached() };
    run(py, || {
        let Some((payload, ts, binary)) = (unsafe { simple(py, args, nargs, kwnames) }) else {
            return Ok(unsafe { slow(py, &DISPATCH, slf, args, nargs, kwnames) }?.into_ptr());
        };
        let this = unsafe { Borrowed::from_ptr(py, slf) }.cast::<PyDecoder>()?;
        let receive_ts = match ts.map(|ts| unsafe { Borrowed::from_ptr(py, ts) }.extract::<i64>()) {
            None => None,
            Some(Ok(ts)) => Some(ts),
            // Out of range: PyO3's method names the argument in its error.
            Some(Err(_)) => return Ok(unsafe { slow(py, &DISPATCH, slf, args, nargs, kwnames) }?.into_ptr()),
        };
        let payload = unsafe { Borrowed::from_ptr(py, payload) };
        let n = PyDecoder::dispatch_fast(&this, &payload, receive_ts, binary)?;
        Ok(n.into_pyobject(py)?.into_ptr())
    })
}
