//! Calendar arithmetic the venues share: civil dates to days and RFC 3339 UTC times to ns
//! since the Unix epoch (Coinbase and Kraken v2 send times as text; OKX and Bybit derive
//! candle and expiry times from dates).

use crate::error::Error;

/// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const POW10: [i64; 10] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// An RFC 3339 UTC time as Coinbase and Kraken v2 write it (`2026-08-09T21:05:48.228568804Z`:
/// 0 to 9 fraction digits, `Z`), as ns since the Unix epoch; a `Frame` error naming `field`
/// otherwise.
pub fn rfc3339(s: &str, field: &'static str) -> Result<i64, Error> {
    let b = s.as_bytes();
    let bad = || Error::frame(field, format!("{s:?} is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.f]Z)"));
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0i64, |v, &c| v * 10 + i64::from(c - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19))
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut frac = 0i64;
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return Err(bad());
        }
        frac = num(start..i).ok_or_else(bad)? * POW10[9 - n];
    }
    if i + 1 != b.len() || b[i] != b'Z' {
        return Err(bad());
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    // ns since 1970 fit an i64 until 2262-04-11: a later year is not a time a venue sends.
    secs.checked_mul(1_000_000_000).and_then(|ns| ns.checked_add(frac)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z", "t").unwrap(), 0);
        assert_eq!(rfc3339("2021-04-17T16:43:30.244075Z", "t").unwrap(), 1_618_677_810_244_075_000);
        assert_eq!(rfc3339("2026-08-09T21:05:48.228568804Z", "t").unwrap(), 1_786_309_548_228_568_804);
        assert_eq!(rfc3339("2000-02-29T12:00:00.5Z", "t").unwrap(), 951_825_600_500_000_000);
        for bad in [
            "",
            "2021-04-17 16:43:30Z",
            "9999-12-31T23:59:59Z", // past i64 ns (found by fuzz/frames)
            "2021-04-17T16:43:30",
            "2021-04-17T16:43:30.Z",
            "2021-04-17T16:43:30.1234567890Z",
            "2021-13-17T16:43:30Z",
            "2021-04-17T16:43:30+00:00",
            "2021-04-17T16:43:30ZZ",
        ] {
            assert!(rfc3339(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_times_as_kraken_writes_them() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z", "t").unwrap(), 0);
        assert_eq!(rfc3339("2023-09-25T07:49:37.708706Z", "t").unwrap(), 1_695_628_177_708_706_000);
        assert_eq!(rfc3339("2000-03-01T00:00:00.5Z", "t").unwrap(), 951_868_800_500_000_000);
        for bad in
            ["2023-09-25T07:49:37", "2023-13-25T07:49:37Z", "2023-09-25T07:49:37.Z", "2023-09-25T07:49:37.1234567890Z"]
        {
            assert!(rfc3339(bad, "t").is_err(), "{bad}");
        }
    }
}
