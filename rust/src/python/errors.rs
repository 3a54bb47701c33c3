//! The one exhaustive mapping of core errors onto the Python exception tree
//! (python/tickwire/exceptions.py).

use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

use crate::error::Error;

pyo3::import_exception!(tickwire.exceptions, FrameError);
pyo3::import_exception!(tickwire.exceptions, SequenceGap);
pyo3::import_exception!(tickwire.exceptions, CallbackError);

impl From<Error> for PyErr {
    #[cold]
    fn from(e: Error) -> PyErr {
        let message = e.to_string();
        match e {
            Error::Frame { field, reason } => FrameError::new_err((message, field, reason)),
            Error::SequenceGap { symbol, expected, received } => {
                SequenceGap::new_err((message, symbol, expected, received))
            }
            Error::InvalidArgument { .. } => PyValueError::new_err(message),
        }
    }
}
