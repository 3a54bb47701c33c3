//! Parse-only cost per message kind on the real recordings (a profiling aid, not a benchmark).
use std::time::Instant;
use tickwire::exchanges::{factory, Out};
fn main() {
    let only = std::env::args().nth(1);
    for (dir, ex) in [("binance", "binance"), ("binanceusdm", "binanceusdm")] {
        let text =
            std::fs::read(format!("tests/fixtures/{dir}/depth_bookticker_trade_ethusdt_20240808.jsonl")).unwrap();
        let frames: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let f = factory(ex).unwrap();
        let mut v = f.create(f.markets()[0], &[]).unwrap();
        let mut out = Out::default();
        for kind in ["@bookTicker", "@trade", "@depth"] {
            if only.as_deref().is_some_and(|o| o != kind) {
                continue;
            }
            let sel: Vec<&[u8]> =
                frames.iter().copied().filter(|f| memchr::memmem::find(f, kind.as_bytes()).is_some()).collect();
            let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
            let t = Instant::now();
            for _ in 0..reps {
                for f in &sel {
                    out.clear();
                    v.parse(f, false, &mut out).unwrap();
                    std::hint::black_box(&out);
                }
            }
            let ns = t.elapsed().as_nanos() as f64 / (reps * sel.len()) as f64;
            println!("{ex} {kind}: {} frames, {ns:.0} ns/frame parse only", sel.len());
        }
    }
}
