//! tickwire core: exchange WebSocket frames in, exact L2 books and small events out.
//!
//! Pure and synchronous: no sockets, timers, async runtime or logging. Everything that touches
//! Python lives in [`python`] behind the `python` feature, so `cargo test` needs no interpreter.

pub mod account;
pub mod book;
pub mod checksum;
pub mod decoder;
pub mod error;
pub mod event;
pub mod exchanges;
pub mod fixed;
pub mod json;
pub mod time;

#[cfg(feature = "python")]
pub mod python;

pub use book::{L2Book, Level, WireBook, WireLevel};
pub use decoder::{Decoder, DecoderStats};
pub use error::Error;
pub use event::{Event, Side};
