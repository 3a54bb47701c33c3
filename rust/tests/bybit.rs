//! Bybit v5 on every recorded line (tests/fixtures/bybit, see SOURCES.md there), through the
//! venue parser alone: every line parses; what it yields agrees with the line read by serde;
//! every order-book delta continues its topic's `u` chain (Bybit's rule, `Venue::check`); and
//! the book rebuilt from the items agrees with the recording's other oracles:
//!
//! - linear `orderbook.200` session: the `tickers` stream on the same connection states the best
//!   bid/ask as of its cross sequence `cs`; books are pushed every 100 ms with their own cross
//!   sequence `seq`. Rule: the ticker's (bid1Price, ask1Price) equals the book's top as of the
//!   last book message with `seq <= cs` or as of the first with `seq > cs` (the ticker's moment
//!   lies between two book pushes). Sizes are reported as how often they agree too.
//! - every `orderbook.N` book holds at most N levels per side after every message (Bybit sends
//!   the deletes of levels leaving the window).
//! - linear `orderbook.1` session (snapshot-only BBO): per symbol `u` never decreases, and a
//!   message with the same `u` as the previous one repeats its levels exactly.
//!
//! The archive file (`orderbook.500` XRPUSDT) is Bybit's published history of the same stream:
//! one push per line, no acks, no other channel, so only the `u` chain and the depth bound apply.
//!
//! Then the same through the generic [`Decoder`]: 0 bad frames and 0 gaps on every recording,
//! its book equal to the test-side book after every book message, the ticker rule above on the
//! decoder's own book, a snapshot that resets a book (even to a lower `u`), and a removed or
//! corrupted delta detected as a gap (`SyncLost`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tickwire::book::BookSide;
use tickwire::event::SyncLoss;
use tickwire::exchanges::{factory, BookKind, Item, Out, SeqIds, Venue, Verdict};
use tickwire::fixed::Dec;
use tickwire::{Decoder, Event};

const SESSION: &str = "v5_linear_orderbook200_tickers_trades_kline_4sym.jsonl";
const L1: &str = "v5_linear_orderbook1_bbo_20250613.jsonl";
const ARCHIVE: &str = "orderbook500_xrpusdt_bybit_archive_20241201_first50.jsonl";

fn lines(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bybit").join(name);
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

fn venue() -> Box<dyn Venue> {
    factory("bybit").unwrap().create("linear", &[]).unwrap()
}

/// Fixed point at 10 decimals (every recorded value has fewer), for a test-side book.
fn fx(d: Dec) -> i64 {
    d.to_scale(10).expect("recorded values fit 10 decimals")
}

/// Best bid and best ask, each (price, size) at 10 decimals.
type Top = ((i64, i64), (i64, i64));
/// After one book message: market id, its `seq`, the book's top.
type BookTop = (String, u64, Option<Top>);
/// A BBO: symbol, its sequence, bid and ask.
type Quote = (String, u64, (i64, i64), (i64, i64));

#[derive(Default)]
struct Book {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
}

impl Book {
    fn top(&self) -> Option<Top> {
        let (bp, bs) = self.bids.iter().next_back()?;
        let (ap, asz) = self.asks.iter().next()?;
        Some(((*bp, *bs), (*ap, *asz)))
    }
}

/// What parsing a whole recording gave.
#[derive(Default)]
struct Run {
    frames: usize,
    snapshots: usize,
    deltas_checked: usize,
    /// (symbol, seq, top after) per book message, in order.
    tops: Vec<BookTop>,
    /// (symbol, cs, bid, ask) per ticker BBO.
    tickers: Vec<Quote>,
    /// (symbol, u, bid, ask) per level-1 BBO.
    l1: Vec<Quote>,
    trades: usize,
    candles: usize,
    acks: usize,
}

/// Parse every line; check each against serde's reading of it; apply books; check the u chain.
#[allow(clippy::many_single_char_names)] // v(enue), j(son), r(esult), b(ook), n(umber)
fn run(name: &str) -> Run {
    let mut v = venue();
    let mut out = Out::default();
    let mut books: HashMap<String, (Book, u64)> = HashMap::new();
    let mut r = Run::default();
    for (n, line) in lines(name).iter().enumerate() {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap_or_else(|e| panic!("{name}:{}: {e}", n + 1));
        r.frames += 1;
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        let topic = j["topic"].as_str().unwrap_or("");
        if topic.starts_with("orderbook.") && !topic.starts_with("orderbook.1.") {
            let depth: usize = topic.split('.').nth(1).unwrap().parse().unwrap();
            assert_eq!(out.items.len(), 1, "{name}:{}", n + 1);
            let Item::Book(b) = &out.items[0] else { panic!("{name}:{}: {:?}", n + 1, out.items) };
            let sym = out.market_ids()[b.symbol].clone();
            assert_eq!(sym, j["data"]["s"].as_str().unwrap());
            assert_eq!(b.bids.len(), j["data"]["b"].as_array().unwrap().len());
            assert_eq!(b.asks.len(), j["data"]["a"].as_array().unwrap().len());
            for (lvl, want) in out.bids[b.bids.clone()].iter().zip(j["data"]["b"].as_array().unwrap()) {
                assert_eq!(
                    (lvl.price.to_string(), lvl.size.to_string()),
                    (want[0].as_str().unwrap().to_owned(), want[1].as_str().unwrap().to_owned())
                );
            }
            let ids = b.ids.unwrap();
            assert_eq!(ids.last, j["data"]["u"].as_u64().unwrap());
            let entry = books.entry(sym.clone()).or_default();
            match b.kind {
                BookKind::Snapshot => {
                    assert!(j["type"] == "snapshot" || ids.last == 1);
                    r.snapshots += 1;
                    entry.0 = Book::default();
                }
                BookKind::Delta => {
                    assert_eq!(j["type"], "delta");
                    assert_eq!(v.check(entry.1, &ids, false), Verdict::Apply, "{name}:{}", n + 1);
                    r.deltas_checked += 1;
                }
            }
            entry.1 = ids.last;
            for (side, levels) in
                [(&mut entry.0.bids, &out.bids[b.bids.clone()]), (&mut entry.0.asks, &out.asks[b.asks.clone()])]
            {
                for l in levels {
                    if l.size.mantissa == 0 {
                        side.remove(&fx(l.price));
                    } else {
                        side.insert(fx(l.price), fx(l.size));
                    }
                }
            }
            assert!(
                entry.0.bids.len() <= depth && entry.0.asks.len() <= depth,
                "{name}:{}: deeper than {depth}",
                n + 1
            );
            r.tops.push((sym, j["data"]["seq"].as_u64().unwrap(), entry.0.top()));
            continue;
        }
        for (k, item) in out.items.iter().enumerate() {
            match item {
                Item::Bbo { symbol, bbo } => {
                    let sym = out.market_ids()[*symbol].clone();
                    let (b, a) = ((fx(bbo.bid.price), fx(bbo.bid.size)), (fx(bbo.ask.price), fx(bbo.ask.size)));
                    if topic.starts_with("tickers.") {
                        assert_eq!(bbo.sequence, None);
                        r.tickers.push((sym, j["cs"].as_u64().unwrap(), b, a));
                    } else {
                        assert!(topic.starts_with("orderbook.1."));
                        assert_eq!(bbo.sequence, j["data"]["u"].as_u64());
                        r.l1.push((sym, bbo.sequence.unwrap(), b, a));
                    }
                }
                Item::Trade { trade, .. } => {
                    let t = &j["data"][k];
                    assert_eq!(trade.price.to_string(), t["p"].as_str().unwrap());
                    assert_eq!(trade.size.to_string(), t["v"].as_str().unwrap());
                    assert_eq!(trade.trade_id.to_string(), t["i"].as_str().unwrap());
                    assert_eq!(trade.side.as_str(), t["S"].as_str().unwrap().to_lowercase());
                    assert_eq!(trade.trade_ts, t["T"].as_i64().unwrap() * 1_000_000);
                    r.trades += 1;
                }
                Item::Candle { .. } => r.candles += 1,
                Item::Control(_) => r.acks += 1,
                other => panic!("{name}:{}: unexpected {other:?}", n + 1),
            }
        }
        if topic.starts_with("publicTrade.") || topic.starts_with("kline.") {
            assert_eq!(out.items.len(), j["data"].as_array().unwrap().len(), "{name}:{}", n + 1);
        }
        if j.get("op").is_some() {
            assert_eq!(out.items.len(), 1);
        }
    }
    r
}

#[test]
fn linear_session_every_line_and_its_oracles() {
    let r = run(SESSION);
    let text = lines(SESSION);
    let count = |needle: &str| text.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(r.frames, text.len());
    assert_eq!(r.snapshots, count(r#""type":"snapshot","ts""#) - count(r#""publicTrade."#));
    assert_eq!(r.deltas_checked, count(r#""topic":"orderbook.200."#) - r.snapshots);
    assert_eq!(r.acks, count(r#""op":"subscribe""#));
    // Trades and candles: each push's count and values were checked against its line in `run`.
    assert!(r.candles >= count(r#""topic":"kline."#) && r.trades >= count(r#""topic":"publicTrade."#));
    // Ticker oracle.
    let (mut price_ok, mut full_ok, mut compared) = (0, 0, 0);
    for (sym, cs, bid, ask) in &r.tickers {
        let tops: Vec<_> = r.tops.iter().filter(|t| &t.0 == sym).collect();
        let at = tops.iter().rposition(|t| t.1 <= *cs);
        let Some(at) = at else { continue }; // ticker before the symbol's first book
        compared += 1;
        let around: Vec<_> = [Some(at), Some(at + 1)].into_iter().flatten().filter_map(|i| tops.get(i)?.2).collect();
        assert!(
            around.iter().any(|(b, a)| b.0 == bid.0 && a.0 == ask.0),
            "{sym} cs={cs}: ticker {bid:?}/{ask:?} vs books {around:?}"
        );
        price_ok += 1;
        full_ok += usize::from(around.iter().any(|(b, a)| b == bid && a == ask));
    }
    assert_eq!(price_ok, compared);
    assert!(compared > r.tickers.len() / 2, "{compared} of {}", r.tickers.len());
    println!(
        "{SESSION}: {} frames, {} snapshots, {} deltas continued u, ticker prices agree {price_ok}/{compared}, prices and sizes {full_ok}/{compared}",
        r.frames, r.snapshots, r.deltas_checked
    );
}

#[test]
fn level_one_session_repeats_same_u_exactly() {
    let r = run(L1);
    let text = lines(L1);
    assert_eq!(r.frames, text.len());
    assert_eq!(r.l1.len(), text.iter().filter(|l| l.contains(r#""topic":"orderbook.1."#)).count());
    let mut last: HashMap<&str, (u64, Top)> = HashMap::new();
    let (mut repeats, mut advances) = (0, 0);
    for (sym, u, b, a) in &r.l1 {
        if let Some((pu, prev)) = last.get(sym.as_str()) {
            assert!(u >= pu, "{sym}: u went back {pu} -> {u}");
            if u == pu {
                assert_eq!((*b, *a), *prev, "{sym}: same u={u}, other levels");
                repeats += 1;
            } else {
                advances += 1;
            }
        }
        last.insert(sym, (*u, (*b, *a)));
    }
    assert!(advances > 0);
    println!("{L1}: {} BBOs, {advances} with a new u, {repeats} repeats", r.l1.len());
}

#[test]
fn archive_orderbook500_continues_u() {
    let r = run(ARCHIVE);
    assert_eq!(r.frames, lines(ARCHIVE).len());
    assert_eq!(r.snapshots, 1);
    assert_eq!(r.deltas_checked, r.frames - 1);
}

/// Removing one delta from the recording breaks the chain at the next delta of that topic.
#[test]
fn a_removed_delta_is_a_gap() {
    let text = lines(SESSION);
    let mut v = venue();
    let mut out = Out::default();
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut deltas = 0;
    let mut removed = None;
    let mut verdicts = Vec::new();
    for line in &text {
        out.clear();
        v.parse(line.as_bytes(), false, &mut out).unwrap();
        let Some(Item::Book(b)) = out.items.first() else { continue };
        let sym = out.market_ids()[b.symbol].clone();
        let ids: SeqIds = b.ids.unwrap();
        if b.kind == BookKind::Delta {
            deltas += 1;
            if deltas == 100 {
                removed = Some((sym, ids.last));
                continue;
            }
            if removed.as_ref().is_some_and(|(s, _)| *s == sym) && verdicts.is_empty() {
                verdicts.push(v.check(last[&sym], &ids, false));
            }
        }
        last.insert(sym, ids.last);
    }
    let (_, u) = removed.unwrap();
    assert_eq!(verdicts, vec![Verdict::Gap { expected: u, received: u + 1 }]);
}

/// A frame damaged in transit (a digit turned into a letter in a level) fails as a whole.
#[test]
fn a_corrupted_frame_is_rejected_whole() {
    let text = lines(SESSION);
    let line = text.iter().find(|l| l.contains(r#""type":"delta""#) && l.contains("orderbook.")).unwrap();
    let at = line.find(r#""b":[[""#).unwrap() + 7;
    let mut bad = line.clone().into_bytes();
    bad[at] = b'x';
    let mut out = Out::default();
    let e = venue().parse(&bad, false, &mut out).unwrap_err();
    assert!(e.to_string().contains("b[0][0]"), "{e}");
}

// ------------------------------------------------------------------------------------------
// Through the decoder
// ------------------------------------------------------------------------------------------

fn decoder() -> Decoder {
    Decoder::new("bybit", Some("linear"), &[]).unwrap()
}

/// Every level of one side of the decoder's book for `symbol`, at 10 decimals.
fn side(d: &Decoder, symbol: usize, side: BookSide) -> Vec<(i64, i64)> {
    d.symbol(symbol).book.decimals(side, usize::MAX).iter().map(|l| (fx(l.price), fx(l.size))).collect()
}

/// The test-side book's levels, best first, as [`side`] gives them.
fn model_side(book: &BTreeMap<i64, i64>, bids: bool) -> Vec<(i64, i64)> {
    let v: Vec<(i64, i64)> = book.iter().map(|(p, q)| (*p, *q)).collect();
    if bids {
        v.into_iter().rev().collect()
    } else {
        v
    }
}

/// Feed every line of `name`; after each book message the decoder's book must equal the
/// test-side book built from the venue's items. Returns the decoder and, per book message,
/// (market id, seq, top of the decoder's book).
fn replay(name: &str) -> (Decoder, Vec<BookTop>, Vec<Quote>) {
    let mut d = decoder();
    let mut model: HashMap<String, Book> = HashMap::new();
    let (mut tops, mut tickers) = (Vec::new(), Vec::new());
    for (n, line) in lines(name).iter().enumerate() {
        d.feed(line.as_bytes(), 0).unwrap_or_else(|e| panic!("{name}:{}: {e}", n + 1));
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        let topic = j["topic"].as_str().unwrap_or("");
        for ev in &d.events {
            match ev {
                Event::BookUpdate { symbol, sequence, .. } => {
                    let sym = d.symbol(*symbol).market_id.clone();
                    assert_eq!(*sequence, j["data"]["u"].as_u64());
                    let book = model.entry(sym.clone()).or_default();
                    if j["type"] == "snapshot" {
                        *book = Book::default();
                    }
                    for (m, key) in [(&mut book.bids, "b"), (&mut book.asks, "a")] {
                        for l in j["data"][key].as_array().unwrap() {
                            let p = fx(tickwire::fixed::parse_dec(l[0].as_str().unwrap(), "p").unwrap());
                            let q = fx(tickwire::fixed::parse_dec(l[1].as_str().unwrap(), "q").unwrap());
                            if q == 0 {
                                m.remove(&p);
                            } else {
                                m.insert(p, q);
                            }
                        }
                    }
                    assert_eq!(side(&d, *symbol, BookSide::Bid), model_side(&book.bids, true), "{name}:{}", n + 1);
                    assert_eq!(side(&d, *symbol, BookSide::Ask), model_side(&book.asks, false), "{name}:{}", n + 1);
                    let top = d.symbol(*symbol).book.best_bid().zip(d.symbol(*symbol).book.best_ask());
                    let top = top.map(|(b, a)| ((fx(b.price), fx(b.size)), (fx(a.price), fx(a.size))));
                    tops.push((sym, j["data"]["seq"].as_u64().unwrap(), top));
                }
                Event::Bbo { symbol, bbo, .. } if topic.starts_with("tickers.") => {
                    let sym = d.symbol(*symbol).market_id.clone();
                    let q = ((fx(bbo.bid.price), fx(bbo.bid.size)), (fx(bbo.ask.price), fx(bbo.ask.size)));
                    tickers.push((sym, j["cs"].as_u64().unwrap(), q.0, q.1));
                }
                Event::SyncLost { .. } => panic!("{name}:{}: {ev:?}", n + 1),
                _ => {}
            }
        }
    }
    (d, tops, tickers)
}

#[test]
fn decoder_replays_every_recording_without_gaps() {
    for name in [SESSION, L1, ARCHIVE] {
        let r = run(name); // the venue-level counts
        let (d, tops, _) = replay(name);
        let s = &d.stats;
        assert_eq!((s.bad_frames, s.gaps, s.crossed_books, s.dropped_deltas), (0, 0, 0, 0), "{name}: {s:?}");
        assert_eq!(s.frames, r.frames as u64);
        assert_eq!(s.snapshots, r.snapshots as u64, "{name}");
        assert_eq!(s.deltas_applied, r.deltas_checked as u64, "{name}");
        assert_eq!(tops.len(), r.tops.len());
        for st in d.symbols() {
            assert!(st.synced() || st.stats.snapshots == 0, "{name}: {} not synced", st.market_id);
            assert_eq!(st.stats.gaps, 0);
        }
        println!(
            "{name}: decoder {} frames, {} snapshots, {} deltas applied, {} books, 0 gaps",
            s.frames,
            s.snapshots,
            s.deltas_applied,
            d.symbols().iter().filter(|st| st.stats.snapshots > 0).count()
        );
    }
}

/// The ticker rule (module docs) on the decoder's own book.
#[test]
fn decoder_book_agrees_with_the_ticker_stream() {
    let (_, tops, tickers) = replay(SESSION);
    let (mut compared, mut prices, mut full) = (0, 0, 0);
    for (sym, cs, bid, ask) in &tickers {
        let mine: Vec<_> = tops.iter().filter(|t| &t.0 == sym).collect();
        let Some(at) = mine.iter().rposition(|t| t.1 <= *cs) else { continue };
        compared += 1;
        let around: Vec<Top> = [at, at + 1].iter().filter_map(|i| mine.get(*i)?.2).collect();
        prices += usize::from(around.iter().any(|(b, a)| b.0 == bid.0 && a.0 == ask.0));
        full += usize::from(around.iter().any(|(b, a)| b == bid && a == ask));
    }
    assert!(compared > 0);
    assert_eq!(prices, compared, "ticker prices off the decoder's book");
    println!("decoder vs tickers: prices agree {prices}/{compared}, prices and sizes {full}/{compared}");
}

/// The whole session twice through one decoder: the second pass's recorded snapshots reset the
/// books (to lower `u`s than the books hold), with no gap, to the same final books.
#[test]
fn a_snapshot_resets_the_book_even_backwards() {
    let text = lines(SESSION);
    let mut d = decoder();
    let mut finals = Vec::new();
    for pass in 0..2 {
        for line in &text {
            d.feed(line.as_bytes(), 0).unwrap();
            assert!(!d.events.iter().any(|e| matches!(e, Event::SyncLost { .. })), "pass {pass}");
        }
        finals.push(
            (0..d.symbols().len())
                .map(|i| (side(&d, i, BookSide::Bid), side(&d, i, BookSide::Ask)))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(d.stats.gaps, 0);
    assert_eq!(finals[0], finals[1]);
    let books = d.symbols().iter().filter(|s| s.stats.snapshots > 0).count() as u64;
    assert_eq!(d.stats.snapshots, 2 * books);
}

/// A delta lost in transit (removed) or damaged (a Frame error, nothing applied) makes the
/// topic's next delta a gap: `SyncLost` with Bybit's expected/received `u`; the book is emptied,
/// later deltas of that topic are dropped until a snapshot; other books are untouched.
#[test]
fn a_removed_or_corrupted_delta_is_a_gap_in_the_decoder() {
    let text = lines(SESSION);
    let nth =
        text.iter().enumerate().filter(|(_, l)| l.contains(r#""type":"delta""#) && l.contains("orderbook.")).nth(200);
    let (at, victim) = nth.unwrap();
    let j: serde_json::Value = serde_json::from_str(victim).unwrap();
    let (sym, u) = (j["data"]["s"].as_str().unwrap().to_owned(), j["data"]["u"].as_u64().unwrap());
    for corrupt in [false, true] {
        let mut d = decoder();
        let mut lost = Vec::new();
        for (n, line) in text.iter().enumerate() {
            if n == at {
                if corrupt {
                    let mut bad = line.clone().into_bytes();
                    let k = line.find(r#""a":[[""#).unwrap() + 7;
                    bad[k] = b'?';
                    assert!(d.feed(&bad, 0).is_err());
                }
                continue;
            }
            d.feed(line.as_bytes(), 0).unwrap();
            for ev in &d.events {
                if let Event::SyncLost { symbol, reason, .. } = ev {
                    lost.push((d.symbol(*symbol).market_id.clone(), *reason));
                }
            }
        }
        assert_eq!(lost, vec![(sym.clone(), SyncLoss::Gap { expected: u, received: u + 1 })], "corrupt={corrupt}");
        assert_eq!(d.stats.bad_frames, u64::from(corrupt));
        assert!(d.stats.dropped_deltas > 0);
        let i = d.symbols().iter().position(|s| s.market_id == sym).unwrap();
        assert!(!d.symbol(i).synced());
        assert_eq!(
            d.symbols().iter().filter(|s| s.synced()).count(),
            d.symbols().iter().filter(|s| s.stats.snapshots > 0).count() - 1
        );
    }
}
