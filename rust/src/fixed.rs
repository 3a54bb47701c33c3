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
    parse_bytes(s.as_bytes(), field)
}

/// [`parse`] on raw bytes (as they sit inside a JSON string), so no UTF-8 pass is needed:
/// anything but ASCII digits, one '.' and a leading '-' is rejected anyway.
#[inline]
pub fn parse_bytes(b: &[u8], field: &'static str) -> Result<i64, Error> {
    match parse_prefix(b, field)? {
        (v, n) if n == b.len() => Ok(v),
        _ => Err(not_a_number(Text(b), field)),
    }
}

/// Parse the decimal number at the start of `b`, returning it and the bytes it took; the caller
/// checks what follows (the closing quote of a JSON string), so the text is scanned only once.
#[inline(always)]
pub fn parse_prefix(b: &[u8], field: &'static str) -> Result<(i64, usize), Error> {
    // The width comes from locals the parser has anyway; unused here, it is optimized out.
    parse_with_width(b, field).map(|(value, len, _)| (value, len))
}

/// [`parse_prefix`] that also reports the fractional width seen: the number of digits after the
/// '.' as written, trailing zeros included ("13.284500" -> 6, "7" -> 0, "0.000027810" -> 9).
///
/// Value and width give back the text (see [`write_decimal`]) whenever it is written the way
/// exchanges write decimals: no leading zeros before a nonzero integer digit, at least one digit
/// on each side of a '.', no "-0". Exchange checksums (Kraken, OKX, Bitget) are computed over that text.
/// A width above 255 is an error (no exchange sends one; it could not be reproduced).
#[inline(always)]
pub fn parse_prefix_with_width(b: &[u8], field: &'static str) -> Result<(i64, usize, u8), Error> {
    let (value, len, width) = parse_with_width(b, field)?;
    match u8::try_from(width) {
        Ok(width) => Ok((value, len, width)),
        Err(_) => Err(too_wide(Text(&b[..len]), field)),
    }
}

/// The parser behind [`parse_prefix`] and [`parse_prefix_with_width`]: value, length, width.
#[inline(always)]
fn parse_with_width(b: &[u8], field: &'static str) -> Result<(i64, usize, usize), Error> {
    let text = Text(b);
    let neg = b.first() == Some(&b'-');
    let digits = if neg { &b[1..] } else { b };
    // Integer part (prices have a few digits: a plain loop beats SWAR here). The wrapping
    // arithmetic never matters: more than MAX_INT_DIGITS significant digits are rejected below.
    let (mut int, mut i) = (0u64, 0);
    while let Some(d) = digits.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        int = int.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let int_digits = i;
    let mut frac: u64 = 0;
    let mut frac_digits = 0u32; // kept digits (at most DECIMALS)
    let mut any_frac = false;
    let dot = digits.get(i) == Some(&b'.');
    if dot {
        i += 1;
        // Up to DECIMALS digits in one step, already scaled to DECIMALS places ("62" -> 62000000).
        if let Some(chunk) = digits.get(i..i + 8) {
            let (v, k) = leading_decimals(chunk);
            frac = v;
            frac_digits = DECIMALS;
            any_frac = k > 0;
            i += k;
        }
        // Short input, or digits past the eighth: those must be zeros to stay exact.
        while let Some(d) = digits.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            if frac_digits < DECIMALS {
                frac = frac * 10 + u64::from(d);
                frac_digits += 1;
            } else if d != 0 {
                return Err(Error::frame(field, format!("{text:?} has more than {DECIMALS} decimal places")));
            }
            any_frac = true;
            i += 1;
        }
    }
    if int_digits == 0 && !any_frac {
        return Err(not_a_number(text, field));
    }
    if int_digits > MAX_INT_DIGITS && int_digits - digits.iter().take_while(|&&c| c == b'0').count() > MAX_INT_DIGITS {
        return Err(out_of_range(text, field));
    }
    let scaled = int * ONE as u64 + frac * POW10[(DECIMALS - frac_digits) as usize];
    if scaled > i64::MAX as u64 {
        return Err(out_of_range(text, field));
    }
    // Digits after the '.': everything read past the integer part and the '.' itself.
    let width = i - int_digits - usize::from(dot);
    Ok((if neg { -(scaled as i64) } else { scaled as i64 }, i + usize::from(neg), width))
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The decimals at the start of an 8-byte chunk, scaled to eight places ("62\"," -> `62_000_000`),
/// and how many there are. SWAR: the first non-digit is found with one mask, the digits are
/// padded with '0' bytes to eight and converted with three multiplications, with no loop over
/// the 1-8 decimals exchanges send.
#[inline(always)]
fn leading_decimals(chunk: &[u8]) -> (u64, usize) {
    let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    // Flags the high bit of every byte that is not a digit. Borrows and carries only travel
    // towards later bytes, so the first flagged byte is exactly the first non-digit.
    let non_digit = (x.wrapping_sub(u64::from(b'0') * ONES) | x.wrapping_add(0x46 * ONES)) & (0x80 * ONES);
    let k = (non_digit.trailing_zeros() / 8) as usize; // 8 when all are digits
    let zeros = u64::from(b'0') * ONES;
    let padded = if k == 8 {
        x
    } else {
        let keep = (1u64 << (8 * k)) - 1; // the digits first, '0's after
        (x & keep) | (zeros & !keep)
    };
    (combine(padded.wrapping_sub(zeros)), k)
}

/// The value of 8 ASCII digits, or None if any byte is not a digit.
#[inline(always)]
pub(crate) fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let chunk = u64::from_le_bytes(bytes.try_into().ok()?);
    let v = chunk.wrapping_sub(u64::from(b'0') * ONES);
    // A byte below '0' wraps to >= 0x80; a byte above '9' reaches >= 0x80 once 0x46 is added.
    if (v | chunk.wrapping_add(0x46 * ONES)) & (0x80 * ONES) != 0 {
        return None;
    }
    Some(combine(v))
}

/// Eight digit values 0..=9, one per byte, most significant first: their decimal value.
#[inline(always)]
fn combine(v: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    // Pair neighbours: byte 2k = 10*d[2k] + d[2k+1]; then pairs of pairs with two multiplications.
    let pairs = v.wrapping_mul(10).wrapping_add(v >> 8);
    let a = (pairs & MASK).wrapping_mul(100 + (1_000_000 << 32));
    let b = ((pairs >> 16) & MASK).wrapping_mul(1 + (10_000 << 32));
    a.wrapping_add(b) >> 32
}

/// Integer digits that can fit: `i64::MAX` / ONE = 92,233,720,368 has 11.
const MAX_INT_DIGITS: usize = 11;
const POW10: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// The offending text, printed lossily only when an error is built.
#[derive(Clone, Copy)]
struct Text<'a>(&'a [u8]);

impl std::fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.0))
    }
}

#[cold]
fn out_of_range(s: Text<'_>, field: &'static str) -> Error {
    Error::frame(field, format!("{s:?} is out of range for a fixed-point value with {DECIMALS} decimals"))
}

#[cold]
fn too_wide(s: Text<'_>, field: &'static str) -> Error {
    Error::frame(field, format!("{s:?} has more than 255 decimal places"))
}

#[cold]
fn not_a_number(s: Text<'_>, field: &'static str) -> Error {
    Error::frame(field, format!("{s:?} is not a decimal number"))
}

/// An exact decimal as the exchange wrote it: `mantissa` is every digit with the '.' removed and
/// `width` the number of digits that followed the '.' ("0.0000002181" is 2181 and 10,
/// "13.284500" is 13284500 and 6, "7" is 7 and 0). Value = mantissa x 10^-width, with no scale
/// fixed in advance, so 10- and 14-decimal values and 1e12 sizes are all exact; value and width
/// give the text back ([`write_dec`]) for venues whose checksums hash it. The mantissa must fit
/// an `i64` (19 significant digits, leading zeros not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Dec {
    pub mantissa: i64,
    pub width: u8,
}

/// Most significant digits a [`Dec`] keeps (and the mantissa must still fit an `i64`).
pub const DEC_DIGITS: usize = 19;

impl Dec {
    pub const ZERO: Dec = Dec { mantissa: 0, width: 0 };

    /// True if the value is below zero.
    #[inline]
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The value in fixed point with `scale` decimals, or None if it has nonzero digits past
    /// `scale` or does not fit an `i64` there.
    #[inline]
    pub fn to_scale(self, scale: u8) -> Option<i64> {
        if self.width <= scale {
            self.mantissa.checked_mul(*POW10_I64.get(usize::from(scale - self.width))?)
        } else {
            let d = *POW10_I64.get(usize::from(self.width - scale))?;
            (self.mantissa % d == 0).then(|| self.mantissa / d)
        }
    }

    /// Decimals this value needs: its width without trailing zeros ("0.000027810" needs 8).
    #[inline]
    pub fn needed_scale(self) -> u8 {
        let (mut m, mut w) = (self.mantissa, self.width);
        while w > 0 && m % 10 == 0 {
            m /= 10;
            w -= 1;
        }
        w
    }

    /// The nearest `f64` (correctly rounded while |mantissa| < 2^53).
    #[inline]
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / POW10_F64[usize::from(self.width.min(22))]
    }

    /// The same value without trailing zeros after the '.' ("2683.80000000" -> "2683.8").
    #[must_use]
    pub fn normalized(self) -> Dec {
        if self.mantissa == 0 {
            return Dec::ZERO;
        }
        let w = self.needed_scale();
        Dec { mantissa: self.mantissa / POW10_I64[usize::from(self.width - w)], width: w }
    }

    /// True if `self` and `other` are the same number, whatever their widths ("1.50" and "1.5").
    pub fn same_value(self, other: Dec) -> bool {
        self.normalized() == other.normalized()
    }
}

/// Most decimals a book scale may have (10^18 still fits an `i64`).
pub const MAX_SCALE: u8 = 18;

/// 10^`n` for `n` <= 18.
#[inline]
pub fn pow10(n: u8) -> i64 {
    POW10_I64[usize::from(n)]
}

/// Decimals needed by fixed-point `value` at `scale` (its scale without trailing zeros).
pub fn needed_scale(value: i64, scale: u8) -> u8 {
    Dec { mantissa: value, width: scale }.needed_scale()
}

/// Append the text of fixed-point `value` at `scale` written with `width` decimals (`width`
/// below the value's needed decimals is a caller bug; checked in debug builds). With `kraken`,
/// the digits with the '.' and the leading zeros removed (Kraken's checksum form; 0 gives
/// nothing).
///
/// The hot part of exchange checksums (each of up to 50 levels' price and size, after every
/// book update): the digits of `value` are written once, two at a time from a table, into a
/// stack buffer; rescaling to `width` only appends zeros or drops trailing digits (which are
/// zeros), so no 128-bit or variable division runs.
#[inline(always)]
pub fn write_scaled(out: &mut Vec<u8>, value: i64, scale: u8, width: u8, kraken: bool) {
    let mut tmp = [b'0'; SCALED_TMP];
    let Some((begin, end)) = scaled_text(&mut tmp, value, scale, width, kraken) else {
        return write_scaled_slow(out, value, usize::from(scale), usize::from(width), kraken);
    };
    let len = end - begin;
    if len <= SCALED_BLOCK {
        // One fixed-size copy (inlined moves, no memcpy call), then the surplus is cut off.
        let keep = out.len() + len;
        out.extend_from_slice(&tmp[begin..begin + SCALED_BLOCK]);
        out.truncate(keep);
    } else {
        out.extend_from_slice(&tmp[begin..end]);
    }
}

/// [`write_scaled`] (not the Kraken form) into `out` at `at`, for a caller that keeps texts in
/// fixed-size slots: the text is copied as one block of 48 bytes, so `out` must have 48 bytes
/// from `at` (bytes past the text are overwritten). The index after the text, or None (nothing
/// written) when `out` is too short for the block or the text is longer than the block.
#[inline(always)]
pub fn write_scaled_at(out: &mut [u8], at: usize, value: i64, scale: u8, width: u8) -> Option<usize> {
    let mut tmp = [b'0'; SCALED_TMP];
    let (begin, end) = scaled_text(&mut tmp, value, scale, width, false)?;
    let len = end - begin;
    let dst = out.get_mut(at..at + SCALED_BLOCK)?;
    if len > SCALED_BLOCK {
        return None;
    }
    dst.copy_from_slice(&tmp[begin..begin + SCALED_BLOCK]);
    Some(at + len)
}

/// Where [`scaled_text`] puts the digits' end in its buffer: room on the left for a sign, the
/// '.', and the zeros padding "0.000".
const SCALED_END: usize = 56;
/// Most zeros a wider width can append after the digits.
const SCALED_EXTRA: usize = 40;
/// A text is copied out of the buffer as one block of this many bytes.
const SCALED_BLOCK: usize = 48;
const SCALED_TMP: usize = SCALED_END + SCALED_EXTRA + SCALED_BLOCK;

/// The text of [`write_scaled`] in `tmp` (all '0' on entry): its range, or None for a width
/// more than [`SCALED_EXTRA`] past the scale (the slow path's case). Layout of `tmp`: the
/// digits of |value| ending at [`SCALED_END`], then the zeros a wider width appends, then
/// slack so that a text is copied out as one fixed-size block.
#[inline(always)]
fn scaled_text(tmp: &mut [u8; SCALED_TMP], value: i64, scale: u8, width: u8, kraken: bool) -> Option<(usize, usize)> {
    const END: usize = SCALED_END;
    let (scale, width) = (usize::from(scale), usize::from(width));
    if width > scale + SCALED_EXTRA {
        return None;
    }
    let start = write_digits(&mut tmp[..END], value.unsigned_abs());
    // The digits of the value written with `width` decimals: `tmp[start..end]` (empty is 0).
    let end = if width >= scale {
        END + (width - scale) // tmp is all '0' past END
    } else {
        debug_assert!(
            value.unsigned_abs() % 10u64.pow(u32::try_from(scale - width).unwrap_or(0)) == 0,
            "{value} at scale {scale} has more than {width} decimals"
        );
        (END - (scale - width)).max(start)
    };
    let begin = if kraken {
        if value == 0 {
            return Some((end, end));
        }
        start
    } else if width == 0 {
        start.min(end - 1) // "0" for zero
    } else {
        // At least one integer digit ("0.05": left of `start` is all '0'); the integer part
        // (at most 19 digits) moves one to the left to make room for the '.'.
        let dot = end - width;
        let first = start.min(dot - 1);
        let mut int = [0u8; 24];
        int.copy_from_slice(&tmp[dot - 24..dot]);
        tmp[dot - 25..dot - 1].copy_from_slice(&int);
        tmp[dot - 1] = b'.';
        first - 1
    };
    let begin = if value < 0 && !kraken {
        tmp[begin - 1] = b'-';
        begin - 1
    } else {
        begin
    };
    Some((begin, end))
}

/// [`write_scaled`] for widths no exchange sends (40 decimals past the scale).
#[cold]
fn write_scaled_slow(out: &mut Vec<u8>, value: i64, scale: usize, width: usize, kraken: bool) {
    let mut digits = Vec::with_capacity(width + 21);
    write_u64(&mut digits, value.unsigned_abs());
    if width >= scale {
        digits.resize(digits.len() + width - scale, b'0');
    } else {
        digits.truncate(digits.len().saturating_sub(scale - width));
    }
    if kraken {
        if value != 0 {
            out.extend_from_slice(&digits);
        }
        return;
    }
    if value < 0 {
        out.push(b'-');
    }
    if digits.len() <= width {
        let pad = width + 1 - digits.len();
        digits.splice(0..0, std::iter::repeat(b'0').take(pad));
    }
    if width > 0 {
        digits.insert(digits.len() - width, b'.');
    }
    out.extend_from_slice(&digits);
}

/// "00" to "99".
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Write the decimal digits of `n` so that they end at the end of `buf` (at least 20 bytes),
/// two at a time, and return where they start. Division by constants only (multiplications).
#[inline(always)]
fn write_digits(buf: &mut [u8], mut n: u64) -> usize {
    let mut i = buf.len();
    while n >= 10_000 {
        let r = (n % 10_000) as usize;
        n /= 10_000;
        let (hi, lo) = (r / 100, r % 100);
        buf[i - 4..i - 2].copy_from_slice(&PAIRS[2 * hi..2 * hi + 2]);
        buf[i - 2..i].copy_from_slice(&PAIRS[2 * lo..2 * lo + 2]);
        i -= 4;
    }
    #[allow(clippy::cast_possible_truncation)] // below 10,000
    let mut n = n as usize;
    if n >= 100 {
        let lo = n % 100;
        n /= 100;
        buf[i - 2..i].copy_from_slice(&PAIRS[2 * lo..2 * lo + 2]);
        i -= 2;
    }
    if n >= 10 {
        buf[i - 2..i].copy_from_slice(&PAIRS[2 * n..2 * n + 2]);
        i - 2
    } else {
        buf[i - 1] = PAIRS[2 * n + 1]; // "0n"
        i - 1
    }
}

/// The nearest `f64` to fixed-point `value` at `scale` (correctly rounded while |v| < 2^53).
#[inline]
pub fn scaled_to_f64(value: i64, scale: u8) -> f64 {
    value as f64 / POW10_F64[usize::from(scale.min(22))]
}

/// The exact text of fixed-point `value` at `scale`, without trailing zeros ("2683.8", "7").
pub fn scaled_to_string(value: i64, scale: u8) -> String {
    Dec { mantissa: value, width: scale }.normalized().to_string()
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::with_capacity(24);
        write_dec(&mut out, *self);
        f.write_str(std::str::from_utf8(&out).expect("digits are ASCII"))
    }
}

const POW10_I64: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

const POW10_F64: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Parse the decimal at the start of `b` ("13.284500", "-0.5", "7") as a [`Dec`], returning it
/// and the bytes it took (the caller checks what follows). Rejects what [`parse_prefix`]
/// rejects as malformed, and more than [`DEC_DIGITS`] significant digits; the error names `field`.
// Always inlined: it runs for every price and size, and as a call of its own it cost ~13% more
// instructions per Binance frame (callgrind, examples/feed_count).
#[inline(always)]
pub fn parse_dec_prefix(b: &[u8], field: &'static str) -> Result<(Dec, usize), Error> {
    let neg = b.first() == Some(&b'-');
    let digits = if neg { &b[1..] } else { b };
    let (mut m, mut i) = (0u64, 0usize);
    while let Some(d) = digits.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let int_digits = i;
    let mut width = 0usize;
    if digits.get(i) == Some(&b'.') {
        i += 1;
        // Eight decimals in one step (SWAR) where there are eight: Binance writes every value so.
        if let Some(v) = digits.get(i..i + 8).and_then(eight_digits) {
            m = m.wrapping_mul(100_000_000).wrapping_add(v);
            i += 8;
            width = 8;
        }
        while let Some(d) = digits.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
            width += 1;
        }
    }
    if int_digits == 0 && width == 0 {
        return Err(not_a_number(Text(b), field));
    }
    // 18 digits in all cannot overflow an i64; longer texts are checked digit by digit.
    if int_digits + width > 18 {
        return parse_dec_long(b, field);
    }
    #[allow(clippy::cast_possible_truncation)] // at most 18, checked above
    let width = width as u8;
    let m = m as i64; // below 10^18
    Ok((Dec { mantissa: if neg { -m } else { m }, width }, i + usize::from(neg)))
}

/// Index (0..=8) of the first byte of `x` (8 bytes, first lowest) that is not an ASCII digit.
/// Flags the high bit of every byte that is not a digit; borrows and carries only travel
/// towards later bytes, so the first flagged byte is exactly the first non-digit (later flags
/// are not reliable).
#[inline(always)]
fn first_non_digit(x: u64) -> usize {
    let non_digit = (x.wrapping_sub(u64::from(b'0') * ONES) | x.wrapping_add(0x46 * ONES)) & (0x80 * ONES);
    (non_digit.trailing_zeros() / 8) as usize // 8 when all are digits
}

/// The value of the first `k` (1..=8) bytes of `x`, all ASCII digits: moved to the high bytes,
/// the low ones filled with '0', so the three multiplications of [`combine`] give it exactly.
#[inline(always)]
fn digits_value(x: u64, k: usize) -> u64 {
    let shift = 8 * (8 - k); // 0..=56
    let zeros = u64::from(b'0') * ONES;
    let aligned = (x << shift) | (zeros & ((1u64 << shift) - 1));
    combine(aligned.wrapping_sub(zeros))
}

/// The leading ASCII digits of the 8 bytes at `b[at..]`: their value and how many (0..=8), or
/// None with fewer than 8 bytes there.
#[inline(always)]
fn digits8(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let x = u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?);
    let k = first_non_digit(x);
    Some(if k == 0 { (0, 0) } else { (digits_value(x, k), k) })
}

/// How many ASCII digits (0..=8) start the 8 bytes at `b[at..]`, or None with fewer than 8
/// bytes there.
#[inline(always)]
pub fn digit_run(b: &[u8], at: usize) -> Option<usize> {
    Some(first_non_digit(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?)))
}

/// The 1 to 8 bytes of `b` as a little-endian word, zeros above. Two overlapping loads, not a
/// copy into a zeroed buffer: the copy's byte stores stalled the word's load (store
/// forwarding), 19% of MEXC's level parsing by `perf annotate`.
#[inline(always)]
fn load_short(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let lo = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let hi = u64::from(u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]));
        lo | (hi << (8 * (n - 4))) // the overlap holds the same bytes in both
    } else {
        u64::from(b[0]) | (u64::from(b[n / 2]) << (8 * (n / 2))) | (u64::from(b[n - 1]) << (8 * (n - 1)))
    }
}

/// Fast path for a plain non-negative decimal that is all of `b` (1 to 8 bytes: `digits`,
/// `digits.digits` or `.digits`), as a length-delimited protobuf string holds one: the value
/// exactly as [`parse_dec_prefix`] gives it, in one 8-byte step; None (the caller takes the
/// general path) for anything else, a sign or more than 8 bytes included. Nothing past `b` is
/// read.
#[inline(always)]
pub fn dec_span(b: &[u8]) -> Option<Dec> {
    let n = b.len();
    if n == 0 || n > 8 {
        return None;
    }
    let x = load_short(b); // bytes past n are 0: not digits
    let k = first_non_digit(x);
    if k == n {
        #[allow(clippy::cast_possible_wrap)] // at most 8 digits
        return Some(Dec { mantissa: digits_value(x, n) as i64, width: 0 });
    }
    if b[k] != b'.' || k + 1 == n {
        return None;
    }
    // The '.' taken out (the bytes after it move down one): n - 1 digits, then zeros.
    let low = (1u64 << (8 * k)) - 1;
    let no_dot = (x & low) | ((x >> 8) & !low);
    if first_non_digit(no_dot) != n - 1 {
        return None;
    }
    #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)] // 7 digits; < 8 decimals
    Some(Dec { mantissa: digits_value(no_dot, n - 1) as i64, width: (n - 1 - k) as u8 })
}

/// Fast path for the body of a JSON string holding a plain non-negative decimal, `b[at..]` being
/// the byte after the opening quote: `digits` or `digits.digits`, at most 8 digits on each side,
/// then the closing quote. Returns the value exactly as [`parse_dec_prefix`] would and the index
/// after the closing quote; None (the caller takes the general path) for anything else,
/// including fewer than 8 bytes left to read in one step.
#[inline(always)]
pub fn quoted_dec(b: &[u8], at: usize) -> Option<(Dec, usize)> {
    let word = u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?);
    let int_len = first_non_digit(word);
    if int_len == 0 {
        return None;
    }
    let mut end = at + int_len;
    match *b.get(end)? {
        b'"' => {
            #[allow(clippy::cast_possible_wrap)] // at most 8 digits
            return Some((Dec { mantissa: digits_value(word, int_len) as i64, width: 0 }, end + 1));
        }
        b'.' => end += 1,
        _ => return None,
    }
    if int_len < 7 {
        // "29000.1", "0.00264": the whole number in these 8 bytes. The '.' taken out (the
        // bytes after it move down one), the digits are one run ending before the quote.
        let low = (1u64 << (8 * int_len)) - 1;
        let no_dot = (word & low) | ((word >> 8) & !low); // its last byte is 0: not a digit
        let len = first_non_digit(no_dot);
        if len > int_len && b.get(at + len + 1) == Some(&b'"') {
            let mantissa = digits_value(no_dot, len);
            #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)] // 7 digits; < 8 decimals
            return Some((Dec { mantissa: mantissa as i64, width: (len - int_len) as u8 }, at + len + 2));
        }
    }
    let int = digits_value(word, int_len);
    let (frac, frac_len) = digits8(b, end)?;
    end += frac_len;
    if frac_len == 0 || *b.get(end)? != b'"' {
        return None;
    }
    #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)] // at most 16 digits; <= 8 decimals
    Some((Dec { mantissa: (int * POW10[frac_len] + frac) as i64, width: frac_len as u8 }, end + 1))
}

/// [`parse_dec_prefix`] for texts of more than 18 digits: leading zeros do not count, and the
/// mantissa must fit 19 significant digits and an `i64`.
#[cold]
fn parse_dec_long(b: &[u8], field: &'static str) -> Result<(Dec, usize), Error> {
    let neg = b.first() == Some(&b'-');
    let digits = if neg { &b[1..] } else { b };
    let (mut m, mut i, mut significant) = (0u64, 0usize, 0usize);
    while let Some(d) = digits.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        significant += usize::from(m != 0);
        i += 1;
    }
    let mut width = 0usize;
    if digits.get(i) == Some(&b'.') {
        i += 1;
        // Fraction zeros are applied once a digit follows them; trailing ones are kept (the
        // width as written) while the mantissa has room and dropped past it: they carry no
        // value ("99999.99249092400000000000000" is 99999.992490924, exactly), so a long text
        // padded with zeros still fits.
        let mut zeros = 0usize;
        while let Some(d) = digits.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            i += 1;
            if d == 0 {
                zeros += 1;
                continue;
            }
            for _ in 0..zeros {
                m = m.wrapping_mul(10);
                significant += usize::from(m != 0);
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            significant += 1; // m is not 0 from here on
            width += zeros + 1;
            zeros = 0;
        }
        while zeros > 0 && (m == 0 || significant < DEC_DIGITS && m <= i64::MAX as u64 / 10) {
            m *= 10;
            significant += usize::from(m != 0);
            width += 1;
            zeros -= 1;
        }
    }
    // 19 digits cannot overflow a u64; the i64 check catches the rest.
    if significant > DEC_DIGITS || m > i64::MAX as u64 {
        return Err(Error::frame(
            field,
            format!("{:?} does not fit 19 significant digits", Text(&b[..i + usize::from(neg)])),
        ));
    }
    let width = u8::try_from(width).map_err(|_| too_wide(Text(b), field))?;
    let m = m as i64; // checked above
    Ok((Dec { mantissa: if neg { -m } else { m }, width }, i + usize::from(neg)))
}

/// Parse a whole string as a [`Dec`] (errors as [`parse_dec_prefix`]).
pub fn parse_dec(s: &str, field: &'static str) -> Result<Dec, Error> {
    match parse_dec_prefix(s.as_bytes(), field)? {
        (v, n) if n == s.len() => Ok(v),
        _ => Err(not_a_number(Text(s.as_bytes()), field)),
    }
}

/// Append the text of `d` as the exchange wrote it ("13.284500"; a width of 0 gives no '.').
pub fn write_dec(out: &mut Vec<u8>, d: Dec) {
    if d.mantissa < 0 {
        out.push(b'-');
    }
    let a = d.mantissa.unsigned_abs();
    let w = usize::from(d.width);
    if w == 0 {
        write_u64(out, a);
        return;
    }
    let start = out.len();
    write_u64(out, a);
    let n = out.len() - start;
    if n <= w {
        // "0." and the leading zeros of the fraction
        let pad = w - n + 1;
        out.splice(start..start, std::iter::repeat(b'0').take(pad));
    }
    let dot = out.len() - w;
    out.insert(dot, b'.');
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

/// Append the text of `value` with `width` digits after the '.' (`1_328_450_000` and 6 give
/// "13.284500"): the text [`parse_prefix_with_width`] read, when it was written the way exchanges
/// write decimals. Digits past the [`DECIMALS`]th are zeros, as the parser only accepts those.
/// `width` must cover every nonzero decimal of `value` (checked in debug builds).
pub fn write_decimal(out: &mut Vec<u8>, value: i64, width: u8) {
    if value < 0 {
        out.push(b'-');
    }
    let a = value.unsigned_abs();
    write_u64(out, a / ONE as u64);
    if width > 0 {
        let places = DECIMALS as usize;
        let kept = usize::from(width).min(places);
        debug_assert!(a % POW10[places - kept] == 0, "{value} has more than {width} decimals");
        let mut digits = [b'0'; DECIMALS as usize];
        let mut frac = a % ONE as u64;
        for d in digits.iter_mut().rev() {
            *d = digit(frac);
            frac /= 10;
        }
        out.push(b'.');
        out.extend_from_slice(&digits[..kept]);
        out.resize(out.len() + usize::from(width) - kept, b'0');
    }
}

/// Append the digits of a non-negative `value` written with `width` decimals, with the '.' and
/// the leading zeros removed (`1_328_450_000` and 6 give "13284500"; 500 and 8 give "500"): the
/// form Kraken's book checksum takes of each price and size. Zero gives nothing (every digit of
/// "0.000" is a leading zero).
pub fn write_unscaled(out: &mut Vec<u8>, value: i64, width: u8) {
    debug_assert!(value >= 0, "{value} is negative");
    let a = value.unsigned_abs();
    if a == 0 {
        return;
    }
    let places = DECIMALS as usize;
    let width = usize::from(width);
    if width <= places {
        debug_assert!(a % POW10[places - width] == 0, "{value} has more than {width} decimals");
        write_u64(out, a / POW10[places - width]);
    } else {
        write_u64(out, a);
        out.resize(out.len() + width - places, b'0');
    }
}

/// Append the decimal digits of `n` (no allocation: the digits are built on the stack).
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20]; // u64::MAX has 20 digits
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = digit(n);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The ASCII digit of `n`'s last decimal place.
#[inline]
fn digit(n: u64) -> u8 {
    b'0' + (n % 10) as u8
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
            assert!(matches!(&err, Error::Frame { field, .. } if field == "q"), "{bad:?} gave {err:?}");
        }
    }

    #[test]
    fn rejects_out_of_range_instead_of_wrapping() {
        assert!(parse("92233720368.54775807", "p").is_ok());
        assert!(parse("92233720368.54775808", "p").is_err());
        assert!(parse("99999999999999999999999999", "p").is_err());
    }

    #[test]
    fn dec_span_agrees_with_parse_dec_prefix() {
        // Every text of up to 7 bytes over digits, '.', '-' and a letter, and up to 9 over
        // digits and '.': the span path gives parse_dec_prefix's value whenever it answers,
        // and answers for every plain unsigned decimal of 1 to 8 bytes not ending in '.'.
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        let mut all = Vec::new();
        for len in 1..=9 {
            let alphabet: &[u8] = if len <= 7 { b"059.-x" } else { b"07." };
            texts = texts
                .iter()
                .filter(|t| t.len() == len - 1 && t.iter().all(|c| alphabet.contains(c)))
                .flat_map(|t| alphabet.iter().map(move |&c| [t.as_slice(), &[c]].concat()))
                .collect();
            all.extend(texts.iter().cloned());
        }
        let mut answered = 0;
        for t in &all {
            let full = match parse_dec_prefix(t, "v") {
                Ok((d, n)) if n == t.len() => Some(d),
                _ => None,
            };
            if let Some(d) = dec_span(t) {
                assert_eq!(Some(d), full, "{:?}", String::from_utf8_lossy(t));
                answered += 1;
            } else {
                let plain = full.is_some() && t[0] != b'-' && t.last() != Some(&b'.') && t.len() <= 8;
                assert!(!plain, "{:?} left to the slow path", String::from_utf8_lossy(t));
            }
        }
        assert!(answered > 5_000, "{answered}");
    }

    #[test]
    fn eight_digit_fast_path_agrees_with_the_digit_loop() {
        for s in ["0.00000000", "1.23456789", "2683.80000000", "0.99999999", "7.10000001", "12.3456789", "1.2345678a"] {
            let slow: Option<u64> =
                s.split_once('.').and_then(|(_, f)| f.parse().ok()).filter(|_| s.len() - s.find('.').unwrap() == 9);
            let fast =
                eight_digits(&s.as_bytes()[s.find('.').unwrap() + 1..][..8.min(s.len() - s.find('.').unwrap() - 1)]);
            assert_eq!(fast, slow, "{s}");
        }
        for bad in ["1.2345678/", "1.2345678:", "1.\x002345678"] {
            assert!(parse(bad, "p").is_err(), "{bad}");
        }
    }

    /// The plain digit-by-digit reading, as a reference for the parser's fast paths.
    fn reference(s: &str) -> Option<i64> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let all_digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
        if !all_digits(int) || !all_digits(frac) || (int.is_empty() && frac.is_empty()) || body.starts_with("..") {
            return None;
        }
        if frac.len() > DECIMALS as usize && frac[DECIMALS as usize..].bytes().any(|c| c != b'0') {
            return None;
        }
        let mut v: i128 = 0;
        for c in int.bytes() {
            v = v.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
        }
        for k in 0..DECIMALS as usize {
            v = v.checked_mul(10)?.checked_add(frac.as_bytes().get(k).map_or(0, |c| i128::from(c - b'0')))?;
        }
        let v = if neg { -v } else { v };
        i64::try_from(v).ok().filter(|v| *v != i64::MIN)
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_digit_by_digit_reference(s in "-?[0-9]{0,14}(\\.[0-9]{0,12})?", tail in "[\",\\]a-zé/:~ ]{0,9}") {
            let expected = reference(&s);
            proptest::prop_assert_eq!(parse(&s, "p").ok(), expected, "{}", s);
            // As a prefix of JSON text: the value and exactly the number's length.
            let text = format!("{s}{tail}");
            if let Some(v) = expected {
                proptest::prop_assert_eq!(parse_prefix(text.as_bytes(), "p").ok(), Some((v, s.len())));
                // The same, with the digits written after the '.', trailing zeros included.
                let width = s.split_once('.').map_or(0, |(_, f)| f.len());
                let width = u8::try_from(width).unwrap();
                proptest::prop_assert_eq!(parse_prefix_with_width(text.as_bytes(), "p").ok(), Some((v, s.len(), width)));
            } else {
                proptest::prop_assert!(parse_prefix_with_width(s.as_bytes(), "p").map(|(_, n, _)| n) != Ok(s.len()));
            }
        }

        /// Value and width give back exactly the text exchanges write (no leading zeros, a digit
        /// on each side of a '.'), and Kraken's form of it ('.' and leading zeros removed).
        #[test]
        fn width_reproduces_the_text(s in "-?(0|[1-9][0-9]{0,10})(\\.[0-9]{1,8}0{0,4})?") {
            if let Ok((v, n, width)) = parse_prefix_with_width(s.as_bytes(), "p") {
                proptest::prop_assume!(!(v == 0 && s.starts_with('-')), "fixed point has no -0");
                proptest::prop_assert_eq!(n, s.len());
                let mut out = Vec::new();
                write_decimal(&mut out, v, width);
                proptest::prop_assert_eq!(std::str::from_utf8(&out).unwrap(), s.as_str());
                if v >= 0 {
                    out.clear();
                    write_unscaled(&mut out, v, width);
                    let kraken: String = s.chars().filter(|&c| c != '.').skip_while(|&c| c == '0').collect();
                    proptest::prop_assert_eq!(std::str::from_utf8(&out).unwrap(), kraken.as_str());
                }
            }
        }
    }

    /// `write_scaled` as it was first written (128-bit rescaling, a digit per division).
    fn write_scaled_reference(value: i64, scale: u8, width: u8, kraken: bool) -> Option<String> {
        let m: i128 = if width >= scale {
            i128::from(value).checked_mul(10i128.checked_pow(u32::from(width - scale))?)?
        } else {
            i128::from(value) / 10i128.pow(u32::from(scale - width))
        };
        let digits = m.unsigned_abs().to_string();
        if kraken {
            return Some(if m == 0 { String::new() } else { digits });
        }
        let sign = if m < 0 { "-" } else { "" };
        let w = usize::from(width);
        if w == 0 {
            return Some(format!("{sign}{digits}"));
        }
        let padded = format!("{digits:0>n$}", n = w + 1);
        Some(format!("{sign}{}.{}", &padded[..padded.len() - w], &padded[padded.len() - w..]))
    }

    proptest::proptest! {
        /// The table-driven writer gives the reference's text for every scale and width, the
        /// widths no exchange sends (the slow path) included.
        #[test]
        fn write_scaled_agrees_with_the_reference(
            mantissa in proptest::prop_oneof![0i64..1000, 0i64..1_000_000_000, 0i64..i64::MAX / 1000],
            neg in proptest::bool::ANY,
            scale in 0u8..=18,
            width in 0u8..=64,
            kraken in proptest::bool::ANY,
        ) {
            // Trailing zeros enough that `width` covers every nonzero decimal.
            let drop = scale.saturating_sub(width);
            let Some(value) = mantissa.checked_mul(pow10(drop)) else { return Ok(()) };
            let value = if neg && !kraken { -value } else { value };
            // The reference rescales in 128 bits: it cannot write the widest.
            let Some(reference) = write_scaled_reference(value, scale, width, kraken) else { return Ok(()) };
            let mut out = b"x".to_vec();
            write_scaled(&mut out, value, scale, width, kraken);
            let expected = format!("x{reference}");
            proptest::prop_assert_eq!(std::str::from_utf8(&out).unwrap(), expected.as_str());
        }
    }

    #[test]
    fn write_scaled_edges() {
        let text = |value, scale, width, kraken| {
            let mut out = Vec::new();
            write_scaled(&mut out, value, scale, width, kraken);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0, 8, 0, false), "0");
        assert_eq!(text(0, 8, 3, false), "0.000");
        assert_eq!(text(0, 8, 3, true), "");
        assert_eq!(text(5_005_000, 8, 5, false), "0.05005");
        assert_eq!(text(5_005_000, 8, 5, true), "5005");
        assert_eq!(text(-50, 2, 1, false), "-0.5");
        assert_eq!(text(i64::MAX, 0, 0, false), "9223372036854775807");
        assert_eq!(text(i64::MIN + 1, 18, 18, false), "-9.223372036854775807");
        assert_eq!(text(7, 0, 30, false), format!("7.{}", "0".repeat(30)));
        assert_eq!(text(1, 18, 40, false), format!("0.{}1{}", "0".repeat(17), "0".repeat(22)));
        assert_eq!(text(1, 18, 40, true), format!("1{}", "0".repeat(22)));
    }

    #[test]
    fn widths_of_exchange_strings() {
        for (s, width) in
            [("13.284500", 6), ("7", 0), ("0.000027810", 9), ("9999999997.00000", 5), ("5.", 0), (".5", 1)]
        {
            assert_eq!(parse_prefix_with_width(s.as_bytes(), "p").unwrap().2, width, "{s}");
        }
        let long = format!("1.{}", "0".repeat(256));
        assert!(parse_prefix(long.as_bytes(), "p").is_ok(), "the plain parser has no width limit");
        let err = parse_prefix_with_width(long.as_bytes(), "p").unwrap_err();
        assert!(err.to_string().contains("more than 255 decimal places"), "{err}");
    }

    #[test]
    fn writes_kraken_doc_forms() {
        // docs/exchanges/kraken.md: price 45285.2 -> "452852"; qty 0.00100000 -> "100000".
        let mut out = Vec::new();
        write_unscaled(&mut out, parse("45285.2", "p").unwrap(), 1);
        write_unscaled(&mut out, parse("0.00100000", "p").unwrap(), 8);
        assert_eq!(out, b"452852100000");
        out.clear();
        write_unscaled(&mut out, 0, 3);
        assert!(out.is_empty());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["2683.8", "0.00000001", "7", "-0.5", "0", "92233720368.54775807"] {
            assert_eq!(to_string(parse(s, "p").unwrap()), s);
        }
        // Exactly the nearest double to 2683.8, not merely close to it.
        assert_eq!(to_f64(parse("2683.8", "p").unwrap()).to_bits(), 2683.8f64.to_bits());
    }

    #[test]
    fn decs_keep_every_digit_and_the_width() {
        for (text, m, w) in [
            ("0.0000002181", 2181, 10),
            ("13.284500", 13_284_500, 6),
            ("7", 7, 0),
            ("-0.5", -5, 1),
            ("9999999997.00000", 999_999_999_700_000, 5),
            ("1000000000000.5", 10_000_000_000_005, 1),
            ("0.00000000000001", 1, 14),
        ] {
            let d = parse_dec(text, "p").unwrap();
            assert_eq!((d.mantissa, d.width), (m, w), "{text}");
            assert_eq!(d.to_string(), text, "round trip");
        }
        assert!(parse_dec("9223372036854775808", "p").is_err(), "beyond i64");
        assert!(parse_dec("12345678901234567890", "p").is_err(), "20 significant digits");
        assert!(parse_dec("1234567890.1234567891", "p").is_err(), "20 significant digits");
        // Trailing fraction zeros carry no value: dropped, the value exact.
        let padded = parse_dec("99999.99249092400000000000000", "p").unwrap();
        assert_eq!((padded.mantissa, padded.width), (999_999_924_909_240_000, 13));
        let padded = parse_dec("-0.000100000000000000000000", "p").unwrap();
        assert_eq!((padded.mantissa, padded.width), (-1_000_000_000_000_000_000, 22));
        let kept = parse_dec("92233720368.00000000", "p").unwrap(); // fits: the width stays
        assert_eq!((kept.mantissa, kept.width), (9_223_372_036_800_000_000, 8));
        assert!(parse_dec("1.000000000000000000001", "p").is_err(), "22 significant digits");
        assert!(parse_dec("0.0000000000000000000001", "p").is_ok(), "leading zeros do not count");
        for bad in ["", "-", ".", "1e5", "+1", "1.2.3"] {
            assert!(parse_dec(bad, "p").is_err(), "{bad:?}");
        }
        let d = parse_dec("0.000027810", "p").unwrap();
        assert_eq!((d.needed_scale(), d.to_scale(8), d.to_scale(7)), (8, Some(2781), None));
        assert_eq!(parse_dec("92233720368.54775807", "p").unwrap().to_scale(8), Some(i64::MAX));
        assert_eq!(parse_dec("92233720368.54775807", "p").unwrap().to_scale(9), None, "overflows at 9");
        assert!(parse_dec("92233720368.54775808", "p").is_err(), "mantissa beyond i64");
    }
}
