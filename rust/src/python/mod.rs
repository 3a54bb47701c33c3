//! All PyO3 code: the `tickwire._core` extension module.
//!
//! The `///` comments on exposed classes and methods are their Python docstrings, written in
//! reStructuredText (``code``), so rustdoc's markdown lint does not apply to them.
#![allow(clippy::doc_markdown)]

mod buffer;
mod decoder;
mod errors;
mod events;
mod fastcall;
mod picows;

use pyo3::prelude::*;

// `gil_used = true`: the module relies on the GIL, so a free-threaded interpreter must keep it
// on while the module is loaded. Event recycling (events.rs) rewrites an event whose reference
// count is 1 in place; without the GIL another thread could take a reference between the
// count check and the write. (abi3 wheels do not load on free-threaded builds today; this
// states the requirement for when they do.)
#[pymodule(gil_used = true)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<decoder::PyDecoder>()?;
    fastcall::install(&m.py().get_type::<decoder::PyDecoder>())?;
    m.add_class::<decoder::PyBook>()?;
    m.add_class::<events::Trade>()?;
    m.add_class::<events::Bbo>()?;
    m.add_class::<events::BookUpdate>()?;
    m.add_class::<events::Candle>()?;
    m.add_class::<events::OrderUpdate>()?;
    m.add_class::<events::Fill>()?;
    m.add_class::<events::Position>()?;
    m.add_class::<events::Balance>()?;
    m.add_class::<events::ControlReply>()?;
    m.add_class::<events::Notice>()?;
    m.add_class::<events::SyncLost>()?;
    m.add_class::<picows::FrameSink>()?;
    m.add_function(wrap_pyfunction!(decoder::exchanges, m)?)?;
    m.add_function(wrap_pyfunction!(decoder::venues, m)?)?;
    m.add_function(wrap_pyfunction!(decoder::market_id, m)?)?;
    m.add_function(wrap_pyfunction!(decoder::unified_symbol, m)?)?;
    m.add("PRICE_DECIMALS", crate::fixed::DECIMALS)?;
    Ok(())
}
