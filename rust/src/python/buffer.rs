//! Zero-copy access to a payload's bytes: `bytes`, or any C-contiguous buffer (memoryview,
//! bytearray).
//!
//! The extension is built for the stable ABI of `CPython` 3.10 (abi3), where `PyO3` leaves out the
//! buffer protocol: it joined the limited API only in 3.11. Its two functions and `Py_buffer`
//! have had the same signature and layout since Python 3.3, and every `CPython` exports them to
//! extensions on Unix, so they are declared here. On Windows an abi3 extension links
//! `python3.dll`, which exports them only from 3.11 on: there a non-`bytes` payload is copied
//! into a `bytes` first (the Python fallback listener's memoryviews; never the `FrameSink` path).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

#[cfg(not(windows))]
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    use pyo3::ffi::{PyObject, Py_ssize_t};

    /// ``CPython``'s ``Py_buffer`` (Include/pybuffer.h), unchanged since 3.3.
    #[repr(C)]
    pub struct PyBuffer {
        pub buf: *mut c_void,
        pub obj: *mut PyObject,
        pub len: Py_ssize_t,
        pub itemsize: Py_ssize_t,
        pub readonly: c_int,
        pub ndim: c_int,
        pub format: *mut c_char,
        pub shape: *mut Py_ssize_t,
        pub strides: *mut Py_ssize_t,
        pub suboffsets: *mut Py_ssize_t,
        pub internal: *mut c_void,
    }

    /// A contiguous buffer of bytes, no format or shape requested.
    pub const PYBUF_SIMPLE: c_int = 0;

    extern "C" {
        pub fn PyObject_GetBuffer(obj: *mut PyObject, view: *mut PyBuffer, flags: c_int) -> c_int;
        pub fn PyBuffer_Release(view: *mut PyBuffer);
    }
}

/// Run ``f`` on the bytes of ``payload`` without copying them (see the module docs for Windows).
/// ``TypeError`` (from Python) if ``payload`` has no contiguous buffer.
#[inline]
pub(super) fn with_bytes<R>(payload: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(b) = payload.cast::<PyBytes>() {
        return Ok(f(b.as_bytes()));
    }
    with_buffer(payload, f)
}

#[cfg(not(windows))]
#[inline]
fn with_buffer<R>(payload: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    // The view lives on the stack: PyO3's own PyBuffer boxes it, which costs more than the
    // decode of a small frame.
    let mut view = std::mem::MaybeUninit::<ffi::PyBuffer>::uninit();
    // SAFETY: plain C-API use; PYBUF_SIMPLE asks for a contiguous byte buffer, and the view is
    // released below after `f`, the only user of the slice, has returned.
    unsafe {
        if ffi::PyObject_GetBuffer(payload.as_ptr(), view.as_mut_ptr(), ffi::PYBUF_SIMPLE) != 0 {
            return Err(PyErr::fetch(payload.py()));
        }
        let mut view = view.assume_init();
        let bytes: &[u8] = if view.buf.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(view.buf.cast::<u8>(), usize::try_from(view.len).unwrap_or(0))
        };
        let result = f(bytes);
        ffi::PyBuffer_Release(&mut view);
        Ok(result)
    }
}

#[cfg(windows)]
fn with_buffer<R>(payload: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    // `bytes(payload)`: PyBytes_FromObject is in the stable ABI; it accepts any buffer.
    // SAFETY: plain C-API call on a live object; the result is owned and checked for NULL.
    let copy = unsafe { Bound::from_owned_ptr_or_err(payload.py(), pyo3::ffi::PyBytes_FromObject(payload.as_ptr()))? };
    Ok(f(copy.cast::<PyBytes>()?.as_bytes()))
}
