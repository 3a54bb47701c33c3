//! REST bodies of every venue: depth snapshots, past trades and account lists, each through
//! its venue parser. Input: byte 0 picks the (exchange, market), byte 1 the parser; the rest is
//! the body. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire::account::AccountList;
use tickwire::exchanges::{Out, FACTORIES};

fuzz_target!(|data: &[u8]| {
    let [pick, which, body @ ..] = data else { return };
    let venues: Vec<_> = FACTORIES.iter().flat_map(|f| f.markets().iter().map(move |m| (*f, *m))).collect();
    let (factory, market) = venues[usize::from(*pick) % venues.len()];
    let mut venue = factory.create(market, &[]).expect("every registered venue builds");
    let mut out = Out::default();
    match which % 4 {
        0 => drop(venue.parse_snapshot(body, &mut out)),
        1 => drop(venue.parse_trades(body)),
        2 => drop(venue.parse_account(AccountList::Fills, body, &mut out)),
        _ => drop(venue.parse_account(AccountList::Orders, body, &mut out)),
    }
});
