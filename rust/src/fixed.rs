//! Exact decimal strings <-> fixed-point `i64`.
//!
//! Prices and sizes are integers counting units of 10^-[`DECIMALS`], so a book never keys on a
//! float and every exchange value round-trips exactly. With 8 decimals (Binance spot's own
//! precision) the range is ±92,233,720,368.54775807.

/// Decimal places kept by every fixed-point value.
pub const DECIMALS: u32 = 8;
/// 10^DECIMALS: the fixed-point value of 1.
pub const ONE: i64 = 100_000_000;

use crate::error::Error;

/// Parse a plain decimal string ("2683.80000000", "-0.5", "7") into fixed point.
///
/// Rejects empty strings, exponents, signs other than a leading '-', more than [`DECIMALS`]
/// significant decimal places (that would lose exactness) and values out of range. The error
/// names `field`.
#[inline]
pub fn parse(s: &str, field: &'static str) -> Result<i64, Error> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let mut int: u64 = 0;
    let mut i = 0;
    while i < digits.len() && digits[i].is_ascii_digit() {
        int = match int.checked_mul(10).and_then(|v| v.checked_add((digits[i] - b'0') as u64)) {
            Some(v) => v,
            None => return Err(out_of_range(s, field)),
        };
        i += 1;
    }
    let int_digits = i;
    let mut frac: u64 = 0;
    let mut frac_digits = 0u32; // kept digits (at most DECIMALS)
    let mut all_frac_digits = 0usize;
    if i < digits.len() && digits[i] == b'.' {
        i += 1;
        while i < digits.len() && digits[i].is_ascii_digit() {
            let d = (digits[i] - b'0') as u64;
            if frac_digits < DECIMALS {
                frac = frac * 10 + d;
                frac_digits += 1;
            } else if d != 0 {
                return Err(Error::frame(field, format!("{s:?} has more than {DECIMALS} decimal places")));
            }
            all_frac_digits += 1;
            i += 1;
        }
    }
    if i != digits.len() || int_digits + all_frac_digits == 0 {
        return Err(not_a_number(s, field));
    }
    let scaled = int
        .checked_mul(ONE as u64)
        .and_then(|v| v.checked_add(frac * 10u64.pow(DECIMALS - frac_digits)))
        .filter(|&v| v <= i64::MAX as u64)
        .ok_or_else(|| out_of_range(s, field))?;
    Ok(if neg { -(scaled as i64) } else { scaled as i64 })
}

#[cold]
fn out_of_range(s: &str, field: &'static str) -> Error {
    Error::frame(field, format!("{s:?} is out of range for a fixed-point value with {DECIMALS} decimals"))
}

#[cold]
fn not_a_number(s: &str, field: &'static str) -> Error {
    Error::frame(field, format!("{s:?} is not a decimal number"))
}

/// The nearest `f64` to an exact fixed-point value (correctly rounded while |v| < 2^53).
#[inline]
pub fn to_f64(v: i64) -> f64 {
    v as f64 / ONE as f64
}

/// The exact decimal text of a fixed-point value, without trailing zeros ("2683.8", "7", "-0.5").
pub fn to_string(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let (int, frac) = (a / ONE as u64, a % ONE as u64);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let f = format!("{frac:0width$}", width = DECIMALS as usize);
    format!("{sign}{int}.{}", f.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exchange_strings_exactly() {
        assert_eq!(parse("2683.80000000", "p").unwrap(), 268_380_000_000);
        assert_eq!(parse("0.00000001", "p").unwrap(), 1);
        assert_eq!(parse("7", "p").unwrap(), 7 * ONE);
        assert_eq!(parse("-0.5", "p").unwrap(), -ONE / 2);
        assert_eq!(parse("1.2300000000000", "p").unwrap(), 123_000_000);
        assert_eq!(parse(".5", "p").unwrap(), ONE / 2);
        assert_eq!(parse("5.", "p").unwrap(), 5 * ONE);
    }

    #[test]
    fn rejects_what_is_not_an_exact_decimal() {
        for bad in ["", "-", ".", "abc", "1e5", "1.2.3", "+1", " 1", "1 ", "0.000000001", "1,5", "NaN"] {
            let err = parse(bad, "q").unwrap_err();
            assert!(matches!(err, Error::Frame { field: "q", .. }), "{bad:?} gave {err:?}");
        }
    }

    #[test]
    fn rejects_out_of_range_instead_of_wrapping() {
        assert!(parse("92233720368.54775807", "p").is_ok());
        assert!(parse("92233720368.54775808", "p").is_err());
        assert!(parse("99999999999999999999999999", "p").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["2683.8", "0.00000001", "7", "-0.5", "0", "92233720368.54775807"] {
            assert_eq!(to_string(parse(s, "p").unwrap()), s);
        }
        assert_eq!(to_f64(parse("2683.8", "p").unwrap()), 2683.8);
    }
}
