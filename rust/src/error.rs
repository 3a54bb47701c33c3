//! The one error type of the core. `python/errors.rs` maps every variant onto the Python
//! exception tree rooted at `tickwire.TickwireError`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The frame (or snapshot body) is not what the exchange documents. Nothing was applied.
    Frame { field: &'static str, reason: String },
    /// A depth delta does not continue the book's update-id chain; the book now waits for a
    /// new snapshot. `expected`/`received` are the ids the exchange's rule compared.
    SequenceGap { symbol: String, expected: u64, received: u64 },
    /// An argument (exchange id, symbol) is not valid.
    InvalidArgument { name: &'static str, value: String, reason: String },
}

impl Error {
    #[cold]
    pub fn frame(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Frame { field, reason: reason.into() }
    }

    #[cold]
    pub fn invalid(name: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { name, value: value.into(), reason: reason.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Frame { field, reason } => write!(f, "malformed frame: field {field:?}: {reason}"),
            Error::SequenceGap { symbol, expected, received } => write!(
                f,
                "sequence gap on {symbol}: expected update id {expected}, received {received}; book needs a new snapshot"
            ),
            Error::InvalidArgument { name, value, reason } => write!(f, "invalid {name} {value:?}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Map a serde_json error onto a `FrameError`, naming the field when serde knows it.
#[cold]
pub(crate) fn json_error(e: serde_json::Error) -> Error {
    Error::frame("json", e.to_string())
}
