//! WebSocket frames of every venue through the whole decoder (parse, sequence rules, books,
//! checksums). Input: byte 0 picks the (exchange, market) in registry order, byte 1 bit 0 marks
//! the frames binary; the rest is one or more frames separated by `\n`, fed in order to one
//! decoder (so snapshots and the deltas after them reach the book code). Nothing may panic:
//! errors are the decoder's answer to bad input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire::exchanges::FACTORIES;
use tickwire::Decoder;

fuzz_target!(|data: &[u8]| {
    let [pick, flags, frames @ ..] = data else { return };
    let venues: Vec<(&str, &str)> =
        FACTORIES.iter().flat_map(|f| f.markets().iter().map(move |m| (f.id(), *m))).collect();
    let (id, market) = venues[usize::from(*pick) % venues.len()];
    let mut decoder = Decoder::new(id, Some(market), &[]).expect("every registered venue builds");
    for (i, frame) in frames.split(|&b| b == b'\n').enumerate() {
        #[allow(clippy::cast_possible_wrap)] // a handful of frames per input
        let ts = 1_700_000_000_000_000_000 + i as i64;
        let _ = decoder.feed_frame(frame, flags & 1 == 1, ts);
    }
});
