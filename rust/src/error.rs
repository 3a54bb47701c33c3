//! The one error type of the core. `python/errors.rs` maps every variant onto the Python
//! exception tree rooted at `tickwire.TickwireError`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The frame (or snapshot body) is not what the exchange documents. Nothing was applied.
    Frame { field: String, reason: String },
    /// A depth delta does not continue the book's update-id chain; the book now waits for a
    /// new snapshot. `expected`/`received` are the ids the exchange's rule compared.
    SequenceGap { symbol: String, expected: u64, received: u64 },
    /// An argument (exchange id, symbol) is not valid.
    InvalidArgument { name: &'static str, value: String, reason: String },
}

impl Error {
    #[cold]
    pub fn frame(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Frame { field: field.into(), reason: reason.into() }
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

/// Deserialize `T` from JSON `data`, borrowing strings from it. On failure the frame is parsed
/// again (cold path only) to name the JSON path of the offending field ("b[0][1]", "u").
#[inline]
pub(crate) fn from_json<'a, T: serde::Deserialize<'a>>(data: &'a [u8]) -> Result<T, Error> {
    match serde_json::from_slice(data) {
        Ok(v) => Ok(v),
        Err(e) => Err(explain::<T>(data, &e)),
    }
}

#[cold]
#[inline(never)]
fn explain<'a, T: serde::Deserialize<'a>>(data: &'a [u8], e: &serde_json::Error) -> Error {
    let mut de = serde_json::Deserializer::from_slice(data);
    let field = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(pe) if pe.path().iter().next().is_some() => pe.path().to_string(),
        _ => "json".to_owned(),
    };
    let reason = if e.is_eof() { format!("truncated: {e}") } else { e.to_string() };
    Error::frame(field, reason)
}
