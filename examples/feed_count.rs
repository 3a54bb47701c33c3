//! Decode a whole recording N times through `Decoder::feed` (for instruction counting under
//! callgrind; `cargo bench --bench core` is the timing benchmark).
fn main() {
    let dir = std::env::args().nth(1).unwrap_or("binance".into());
    let (ex, sym) = if dir == "binance" { ("binance", "ETH/USDT") } else { ("binanceusdm", "ETH/USDT:USDT") };
    let base = format!("tests/fixtures/{dir}/depth_bookticker_trade_ethusdt_20240808");
    let text = std::fs::read(format!("{base}.jsonl")).unwrap();
    let snap = std::fs::read(format!("{base}_depth_snapshot.json")).unwrap();
    let frames: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    let mut n = 0;
    for _ in 0..reps {
        let mut d = tickwire::Decoder::new(ex, None, &[]).unwrap();
        d.apply_snapshot(sym, &snap, 0).unwrap();
        for f in &frames {
            d.feed(f, 0).unwrap();
            n += d.events.len();
        }
    }
    println!("{n} events");
}
