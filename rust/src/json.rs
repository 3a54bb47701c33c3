//! A strict, zero-copy pull parser for the hot exchange messages.
//!
//! `serde_json` spends most of a small frame matching field names and validating strings it then
//! hands over as `&str`; the hot messages are flat objects of a few known keys plus arrays of
//! `["price","size"]` pairs. This cursor walks such an object key by key, borrows strings,
//! turns decimal strings straight into fixed point, and skips (while fully validating) whatever
//! it does not need. It accepts exactly RFC 8259 JSON: anything else is a `FrameError` naming
//! the field. Cold message types keep using serde.

use crate::book::Level;
use crate::error::Error;
use crate::exchanges::RawLevel;
use crate::fixed;

/// Nesting allowed inside skipped values (a bound, so hostile input cannot exhaust the stack).
const MAX_DEPTH: u32 = 64;

/// Bytes that end the fast scan of a string: quote, backslash, control and non-ASCII bytes.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c < 0x20 || c == b'"' as usize || c == b'\\' as usize || c >= 0x80;
        c += 1;
    }
    t
};

/// Index (0..=8) of the first byte of the 8 at `b[at..]` that [`SPECIAL`] flags, 8 if none; None
/// with fewer than 8 bytes left. SWAR, one step for the 8: for a zero byte `(v - 1) & !v` sets
/// the high bit, and a borrow only runs past a byte that is itself flagged, so the lowest flag
/// is exact (quote and backslash are zero bytes after an xor; control bytes borrow below 0x20).
#[inline(always)]
fn first_special(b: &[u8], at: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?);
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let quote = zero_byte(x ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(x ^ (ONES * u64::from(b'\\')));
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    Some(((quote | backslash | control | (x & HIGH)).trailing_zeros() / 8) as usize)
}

#[derive(Clone)]
pub struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    /// Where `b` starts in the whole frame (the `data` of an envelope), so that the byte
    /// positions errors name count from the frame's start.
    base: usize,
}

#[cold]
fn err(field: &str, reason: impl Into<String>) -> Error {
    Error::frame(field, reason)
}

impl<'a> Cursor<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0, base: 0 }
    }

    /// A cursor over `b`, a part of `frame` (the `data` of an envelope): errors then count
    /// bytes from the frame's start.
    pub fn within(b: &'a [u8], frame: &[u8]) -> Self {
        let base = (b.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        Self { b, i: 0, base: if base < frame.len() { base } else { 0 } }
    }

    /// Position in the whole frame, for error messages.
    #[cold]
    fn at(&self) -> usize {
        self.base + self.i
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn expect(&mut self, c: u8, field: &str) -> Result<(), Error> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected(field, c))
        }
    }

    #[cold]
    fn unexpected(&self, field: &str, wanted: u8) -> Error {
        match self.b.get(self.i) {
            None => err(field, format!("truncated: expected {:?} at byte {}", wanted as char, self.at())),
            Some(&c) => {
                err(field, format!("expected {:?} at byte {}, found {:?}", wanted as char, self.at(), c as char))
            }
        }
    }

    /// Enter the top-level object.
    #[inline]
    pub fn begin_object(&mut self) -> Result<(), Error> {
        self.expect(b'{', "json")
    }

    /// The next key of the current object (raw bytes between the quotes), or None after its
    /// closing brace. `first` tells whether this is the first member.
    #[inline]
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<&'a [u8]>, Error> {
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(None);
            }
            Some(b',') if !*first => self.i += 1,
            _ if *first => {}
            _ => return Err(self.unexpected("json", b',')),
        }
        *first = false;
        // Fast path: exchange keys are a few plain ASCII bytes followed directly by ':'.
        if self.peek() == Some(b'"') {
            let at = self.i + 1;
            let mut n = 0;
            while n < 24 {
                let Some(k) = first_special(self.b, at + n) else { break };
                n += k;
                if k < 8 {
                    if self.b[at + n] == b'"' && self.b.get(at + n + 1) == Some(&b':') {
                        self.i = at + n + 2;
                        return Ok(Some(&self.b[at..at + n]));
                    }
                    break;
                }
            }
        }
        let key = self.raw_string("json")?;
        self.expect(b':', "json")?;
        Ok(Some(key))
    }

    /// Layout fast path: if the next member's key is exactly `key`, written the way exchanges
    /// write it (`,"key":` with no whitespace; `{` already consumed for the first), consume it.
    /// On false nothing was consumed, and the caller falls back to [`Cursor::next_key`].
    /// The key is a fixed-size array so the comparison compiles to a few integer compares
    /// rather than a `memcmp` call (this runs several times per frame).
    #[inline(always)]
    pub fn at_key<const N: usize>(&mut self, key: &[u8; N], first: &mut bool) -> bool {
        let skip = usize::from(!*first);
        let Some(b) = self.b.get(self.i..self.i + skip + N + 3) else { return false };
        let found = (*first || b[0] == b',')
            && b[skip] == b'"'
            && b[skip + 1..skip + 1 + N] == key[..]
            && b[skip + 1 + N] == b'"'
            && b[skip + 2 + N] == b':';
        if found {
            self.i += skip + N + 3;
            *first = false;
        }
        found
    }

    /// Layout fast path: consume the object's closing brace and require the end of input.
    #[inline]
    pub fn at_end(&mut self) -> bool {
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.end().is_ok()
        } else {
            false
        }
    }

    /// After the top-level value: nothing but whitespace may follow.
    pub fn end(&mut self) -> Result<(), Error> {
        match self.peek() {
            None => Ok(()),
            Some(c) => Err(err("json", format!("trailing characters at byte {}: {:?}", self.at(), c as char))),
        }
    }

    /// A string's raw content (escapes validated, not decoded), advancing past it.
    #[inline]
    fn raw_string(&mut self, field: &str) -> Result<&'a [u8], Error> {
        self.expect(b'"', field)?;
        let start = self.i;
        let mut ascii = true;
        loop {
            // Plain printable ASCII is the common case: one table lookup per byte.
            // Eight bytes a step while there are eight, then byte by byte.
            while let Some(k) = first_special(self.b, self.i) {
                self.i += k;
                if k < 8 {
                    break;
                }
            }
            let rest = &self.b[self.i..];
            self.i += rest.iter().position(|&c| SPECIAL[c as usize]).unwrap_or(rest.len());
            let Some(&c) = self.b.get(self.i) else {
                return Err(err(field, "truncated inside a string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => self.escape(field)?,
                0..=0x1f => return Err(err(field, "control character inside a string")),
                _ => ascii = false, // 0x80..: checked as UTF-8 below
            }
        }
        let s = &self.b[start..self.i - 1];
        if !ascii && std::str::from_utf8(s).is_err() {
            return Err(err(field, "invalid UTF-8 inside a string"));
        }
        Ok(s)
    }

    #[cold]
    fn escape(&mut self, field: &str) -> Result<(), Error> {
        match self.b.get(self.i) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
            Some(b'u')
                if self.b.len() >= self.i + 5 && self.b[self.i + 1..self.i + 5].iter().all(u8::is_ascii_hexdigit) =>
            {
                self.i += 5;
            }
            _ => return Err(err(field, "invalid escape sequence")),
        }
        Ok(())
    }

    /// A string value without escape sequences, borrowed.
    #[inline]
    pub fn str(&mut self, field: &str) -> Result<&'a str, Error> {
        let s = self.raw_string(field)?;
        if s.contains(&b'\\') {
            return Err(err(field, "escape sequences are not expected in this field"));
        }
        // raw_string validated UTF-8 for non-ASCII content; ASCII is UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(s) })
    }

    /// A decimal number sent as a JSON string ("2683.80000000"), as fixed point.
    #[inline]
    pub fn fixed(&mut self, field: &'static str) -> Result<i64, Error> {
        self.expect(b'"', field)?;
        let start = self.i;
        let (value, len) =
            fixed::parse_prefix(&self.b[start..], field).map_err(|_| self.not_a_decimal(field, start))?;
        if self.b.get(start + len) != Some(&b'"') {
            return Err(self.not_a_decimal(field, start));
        }
        self.i = start + len + 1;
        Ok(value)
    }

    /// The error for a string at `start` that is not a plain decimal (the detailed reason from
    /// the decimal parser when the string itself is well formed).
    #[cold]
    fn not_a_decimal(&self, field: &'static str, start: usize) -> Error {
        let mut c = Cursor { b: self.b, i: start - 1, base: self.base };
        match c.raw_string(field) {
            Ok(s) => match fixed::parse_bytes(s, field) {
                Err(e) => e,
                Ok(_) => err(field, "not a plain decimal"),
            },
            Err(e) => e,
        }
    }

    /// A decimal sent as a JSON string ("13.284500"), exactly as written (see [`fixed::Dec`]).
    #[inline]
    pub fn dec(&mut self, field: &'static str) -> Result<fixed::Dec, Error> {
        self.expect(b'"', field)?;
        let start = self.i;
        let (value, len) = fixed::parse_dec_prefix(&self.b[start..], field)?;
        if self.b.get(start + len) != Some(&b'"') {
            return Err(self.not_a_decimal(field, start));
        }
        self.i = start + len + 1;
        Ok(value)
    }

    /// A decimal sent as a bare JSON number (`13.2845`, Kraken v2, Gate futures sizes), exactly
    /// as written; exponents are rejected (no exchange sends them for prices or sizes).
    #[inline]
    pub fn dec_number(&mut self, field: &'static str) -> Result<fixed::Dec, Error> {
        self.ws();
        let start = self.i;
        let (value, len) = fixed::parse_dec_prefix(&self.b[start..], field)?;
        if matches!(self.b.get(start + len), Some(b'e' | b'E')) {
            return Err(err(field, "exponents are not accepted in prices and sizes"));
        }
        self.i = start + len;
        Ok(value)
    }

    /// A decimal sent either as a JSON string or as a bare number.
    #[inline]
    pub fn dec_any(&mut self, field: &'static str) -> Result<fixed::Dec, Error> {
        if self.peek() == Some(b'"') {
            self.dec(field)
        } else {
            self.dec_number(field)
        }
    }

    /// The next value is JSON `null` (consumed if so).
    #[inline]
    pub fn null(&mut self) -> bool {
        self.ws();
        if self.b[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// A non-negative JSON integer.
    #[inline]
    pub fn u64(&mut self, field: &str) -> Result<u64, Error> {
        self.ws();
        let start = self.i;
        let rest = &self.b[start..];
        // Ids and ms timestamps have 11-13 digits: eight at a time (SWAR), then one by one.
        let (mut value, mut digits) = (0u64, 0);
        while digits < 16 {
            match rest.get(digits..digits + 8).and_then(fixed::eight_digits) {
                Some(v) => {
                    value = value.wrapping_mul(100_000_000).wrapping_add(v);
                    digits += 8;
                }
                None => break,
            }
        }
        while let Some(d) = rest.get(digits).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            value = value.wrapping_mul(10).wrapping_add(u64::from(d));
            digits += 1;
        }
        if digits == 0 || (digits > 1 && rest[0] == b'0') {
            return Err(err(field, "expected a non-negative integer"));
        }
        if matches!(rest.get(digits), Some(b'.' | b'e' | b'E')) {
            return Err(err(field, "expected an integer, found a fraction or exponent"));
        }
        self.i += digits;
        // Up to 19 digits cannot overflow a u64; only longer numbers need checking.
        if digits > 19 {
            return parse_u64_checked(&rest[..digits]).ok_or_else(|| err(field, "integer out of range"));
        }
        Ok(value)
    }

    /// A timestamp in ms since the Unix epoch (a non-negative JSON integer), as ns.
    #[inline]
    pub fn timestamp_ms(&mut self, field: &str) -> Result<i64, Error> {
        let ms = self.u64(field)?;
        ms_to_ns(ms, field)
    }

    /// A decimal string that must not be negative (sizes, book-ticker prices, trade prices).
    #[inline]
    pub fn non_negative(&mut self, field: &'static str) -> Result<i64, Error> {
        let v = self.fixed(field)?;
        if v < 0 {
            return Err(negative(field));
        }
        Ok(v)
    }

    /// `true` or `false`.
    #[inline]
    pub fn bool(&mut self, field: &str) -> Result<bool, Error> {
        self.ws();
        let rest = &self.b[self.i..];
        if rest.starts_with(b"true") {
            self.i += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.i += 5;
            Ok(false)
        } else {
            Err(err(field, "expected true or false"))
        }
    }

    /// An array of `["price","size"]` pairs, appended to `out` as fixed point. Every price must
    /// be above 0 and every size at least 0 (0 deletes a level): anything else is an error naming
    /// the level ("b[3][1]"), and the caller applies nothing of the array.
    #[inline]
    pub fn levels(&mut self, out: &mut Vec<Level>, field: &'static str) -> Result<(), Error> {
        if !self.begin_array(field)? {
            return Ok(());
        }
        let start = out.len();
        loop {
            // Fast path: `["price","size"]` exactly as exchanges write it, with a price above 0
            // and a size at least 0; anything else takes the slow path, which names the fault.
            let level = if let Some(level) = self.plain_level(field) {
                level
            } else {
                let n = out.len() - start;
                self.expect(b'[', field)?;
                let price = self.fixed(field).map_err(|e| at_level(e, field, n, 0))?;
                self.expect(b',', field)?;
                let size = self.fixed(field).map_err(|e| at_level(e, field, n, 1))?;
                self.expect(b']', field)?;
                let level = Level { price, size };
                if price <= 0 || size < 0 {
                    return Err(impossible_level(&[level], field, n));
                }
                level
            };
            out.push(level);
            if !self.more_elements(field)? {
                return Ok(());
            }
        }
    }

    /// An array of `["price","size"]` string pairs, appended to `out` as exact decimals (see
    /// [`fixed::Dec`]). Every price must be above 0 and every size at least 0 (0 deletes a
    /// level): anything else is an error naming the level ("b[3][1]"), and the caller applies
    /// nothing of the array.
    #[inline]
    pub fn dec_levels(&mut self, out: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
        self.dec_levels_with::<false>(out, field)
    }

    /// [`Self::dec_levels`] for venues whose values mostly have at most 8 digits each side of
    /// the '.' ("2.1005", "16.62"): each read in SWAR steps ([`fixed::quoted_dec`]) before the
    /// digit loop. Same values, same errors. Not for Binance spot's 8-decimal values, which
    /// `parse_dec_prefix`'s own 8-digit step reads faster (+3.7% a frame this way, callgrind).
    #[inline]
    pub fn short_dec_levels(&mut self, out: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
        self.dec_levels_with::<true>(out, field)
    }

    #[inline(always)]
    fn dec_levels_with<const SWAR: bool>(&mut self, out: &mut Vec<RawLevel>, field: &'static str) -> Result<(), Error> {
        if !self.begin_array(field)? {
            return Ok(());
        }
        let start = out.len();
        loop {
            // Fast path: `["price","size"]` exactly as exchanges write it, with a price above 0
            // and a size at least 0; anything else takes the slow path, which names the fault.
            let level = if let Some(level) = self.plain_dec_level::<SWAR>(field) {
                level
            } else {
                let n = out.len() - start;
                self.expect(b'[', field)?;
                let price = self.dec(field).map_err(|e| at_level(e, field, n, 0))?;
                self.expect(b',', field)?;
                let size = self.dec(field).map_err(|e| at_level(e, field, n, 1))?;
                self.expect(b']', field)?;
                if price.mantissa <= 0 {
                    return Err(at_level(err(field, format!("price {price} is not above 0")), field, n, 0));
                }
                if size.mantissa < 0 {
                    return Err(at_level(err(field, format!("size {size} is negative")), field, n, 1));
                }
                RawLevel { price, size }
            };
            out.push(level);
            if !self.more_elements(field)? {
                return Ok(());
            }
        }
    }

    /// `["price","size"]` with no whitespace and plain decimals, price above 0 and size at least
    /// 0, or None (nothing consumed).
    // Always inlined: with the SWAR steps it grew past the inliner's limit, and a call per
    // level cost Bybit +4% a frame (callgrind).
    #[inline(always)]
    fn plain_dec_level<const SWAR: bool>(&mut self, field: &'static str) -> Option<RawLevel> {
        let b = &self.b[self.i..];
        if !b.starts_with(b"[\"") {
            return None;
        }
        // Up to 8 digits each side of the '.': price and size in SWAR steps (`quoted_dec`),
        // not a loop per digit (-21% to -27% in `dec_levels` on Gate spot, Bybit, Bitget).
        if SWAR {
            if let Some((price, n)) = fixed::quoted_dec(b, 2) {
                if b.get(n..n + 2) == Some(b",\"") {
                    if let Some((size, m)) = fixed::quoted_dec(b, n + 2) {
                        // price <= 0 or size < 0, in one test (a mantissa is above i64::MIN).
                        if b.get(m) == Some(&b']') && ((price.mantissa - 1) | size.mantissa) >= 0 {
                            self.i += m + 1;
                            return Some(RawLevel { price, size });
                        }
                    }
                }
            }
        }
        let (price, n) = fixed::parse_dec_prefix(&b[2..], field).ok()?;
        let b2 = b.get(2 + n..)?;
        if !b2.starts_with(b"\",\"") {
            return None;
        }
        let (size, m) = fixed::parse_dec_prefix(&b2[3..], field).ok()?;
        if !b2.get(3 + m..)?.starts_with(b"\"]") {
            return None;
        }
        // price <= 0 or size < 0, in one test (a mantissa is above i64::MIN).
        if ((price.mantissa - 1) | size.mantissa) < 0 {
            return None;
        }
        self.i += 2 + n + 3 + m + 2;
        Some(RawLevel { price, size })
    }

    /// Layout fast path for one level row of string columns, `["price","size"]` or with more
    /// plain string columns after the size (OKX's `["price","size","0","numOrders"]`), written
    /// with no whitespace, price and size plain decimals (at most 8 digits each side of the '.')
    /// with price above 0 and size at least 0, the other columns strings of printable ASCII
    /// without escapes: the level, with the row consumed. None (nothing consumed) for anything
    /// else, which the caller reads with the general calls ([`Self::dec`], [`Self::skip_value`])
    /// that validate it and name the fault.
    #[inline(always)]
    pub fn plain_dec_row(&mut self) -> Option<RawLevel> {
        let b = &self.b[self.i..];
        if b.get(..2)? != b"[\"" {
            return None;
        }
        let (price, n) = fixed::quoted_dec(b, 2)?;
        if b.get(n..n + 2)? != b",\"" {
            return None;
        }
        let (size, mut i) = fixed::quoted_dec(b, n + 2)?;
        // price <= 0 or size < 0, in one test (a mantissa is above i64::MIN).
        if ((price.mantissa - 1) | size.mantissa) < 0 {
            return None;
        }
        // OKX's tail, `,"0","<count>"]` with a count of 1 to 7 digits: one 8-byte step.
        if b.get(i..i + 6) == Some(b",\"0\",\"") {
            if let Some(count) = fixed::digit_run(b, i + 6) {
                let end = i + 6 + count;
                if (1..8).contains(&count) && b.get(end..end + 2) == Some(b"\"]") {
                    self.i += end + 2;
                    return Some(RawLevel { price, size });
                }
            }
        }
        loop {
            match *b.get(i)? {
                b']' => break,
                b',' if b.get(i + 1) == Some(&b'"') => {
                    i += 2;
                    while !SPECIAL[*b.get(i)? as usize] {
                        i += 1;
                    }
                    if b[i] != b'"' {
                        return None;
                    }
                    i += 1;
                }
                _ => return None,
            }
        }
        self.i += i + 1;
        Some(RawLevel { price, size })
    }

    /// A decimal string that must not be negative, exactly (see [`Self::dec`]).
    #[inline]
    pub fn dec_non_negative(&mut self, field: &'static str) -> Result<fixed::Dec, Error> {
        let v = self.dec(field)?;
        if v.mantissa < 0 {
            return Err(negative(field));
        }
        Ok(v)
    }

    /// Enter an array: true if it has elements (false: `[]` consumed whole).
    #[inline]
    pub fn begin_array(&mut self, field: &str) -> Result<bool, Error> {
        self.expect(b'[', field)?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After an array element: true if another follows (`,` consumed), false at the end (`]`).
    #[inline]
    pub fn more_elements(&mut self, field: &str) -> Result<bool, Error> {
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(self.unexpected(field, b']')),
        }
    }

    /// `["price","size"]` with no whitespace and plain decimals, or None (nothing consumed).
    #[inline]
    fn plain_level(&mut self, field: &'static str) -> Option<Level> {
        let b = &self.b[self.i..];
        if !b.starts_with(b"[\"") {
            return None;
        }
        let (price, n) = fixed::parse_prefix(&b[2..], field).ok()?;
        let b2 = b.get(2 + n..)?;
        if !b2.starts_with(b"\",\"") {
            return None;
        }
        let (size, m) = fixed::parse_prefix(&b2[3..], field).ok()?;
        if !b2.get(3 + m..)?.starts_with(b"\"]") {
            return None;
        }
        // price <= 0 or size < 0, in one test (price - 1 cannot overflow: |price| < i64::MAX).
        // Here rather than once per array after the loop: callgrind counts fewer instructions.
        if ((price - 1) | size) < 0 {
            return None;
        }
        self.i += 2 + n + 3 + m + 2;
        Some(Level { price, size })
    }

    /// Skip a book side's rows, `[["p","s"],...]` (rows of strings), validating it as
    /// [`Self::skip_value`] does: written with no whitespace and strings of printable ASCII,
    /// each string scanned 8 bytes a step to its quote (the general skip, a call and a byte
    /// loop per value, cost more than parsing the levels); anything else (whitespace, escapes,
    /// other values) goes to `skip_value`, from the start.
    pub fn skip_string_rows(&mut self, field: &str) -> Result<(), Error> {
        match self.string_rows_end() {
            Some(end) => {
                self.i = end;
                Ok(())
            }
            None => self.skip_value(field),
        }
    }

    /// Where [`Self::skip_string_rows`]'s layout ends, or None.
    #[inline(always)]
    fn string_rows_end(&self) -> Option<usize> {
        let b = self.b;
        let mut i = self.i;
        if *b.get(i)? != b'[' {
            return None;
        }
        i += 1;
        if *b.get(i)? == b']' {
            return Some(i + 1);
        }
        loop {
            if *b.get(i)? != b'[' {
                return None;
            }
            i += 1;
            loop {
                if *b.get(i)? != b'"' {
                    return None;
                }
                i += 1;
                loop {
                    match first_special(b, i) {
                        Some(8) => i += 8,
                        Some(k) => {
                            i += k;
                            break;
                        }
                        None => {
                            i += b[i..].iter().position(|&c| SPECIAL[c as usize])?;
                            break;
                        }
                    }
                }
                if b[i] != b'"' {
                    return None; // an escape, a control or a non-ASCII byte: validated slowly
                }
                i += 1;
                match *b.get(i)? {
                    b',' => i += 1,
                    b']' => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
            match *b.get(i)? {
                b',' => i += 1,
                b']' => return Some(i + 1),
                _ => return None,
            }
        }
    }

    /// Skip any JSON value, validating it.
    pub fn skip_value(&mut self, field: &str) -> Result<(), Error> {
        self.skip(field, 0)
    }

    fn skip(&mut self, field: &str, depth: u32) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(too_deep(field, self.at()));
        }
        match self.peek() {
            Some(b'"') => self.raw_string(field).map(|_| ()),
            Some(b'{') => {
                self.i += 1;
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.skip(field, depth + 1)?;
                }
                Ok(())
            }
            Some(b'[') => {
                if self.begin_array(field)? {
                    self.skip(field, depth + 1)?;
                    while self.more_elements(field)? {
                        self.skip(field, depth + 1)?;
                    }
                }
                Ok(())
            }
            Some(b't' | b'f') => self.bool(field).map(|_| ()),
            Some(b'n') if self.b[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => self.number(field),
            Some(_) => Err(err(field, format!("unexpected character at byte {}", self.at()))),
            None => Err(err(field, "truncated: expected a value")),
        }
    }

    /// Validate a JSON number: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
    fn number(&mut self, field: &str) -> Result<(), Error> {
        let digits = |c: &mut Self| {
            let s = c.i;
            while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
            }
            c.i - s
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[start] == b'0') {
            return Err(err(field, "invalid number"));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(err(field, "invalid number"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(err(field, "invalid number"));
            }
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch as ns; an error naming `field` past i64's range (year 2262).
#[inline]
pub fn ms_to_ns(ms: u64, field: &str) -> Result<i64, Error> {
    const MS: u64 = 1_000_000;
    if ms > i64::MAX as u64 / MS {
        return Err(err(field, format!("timestamp {ms} ms is out of range")));
    }
    Ok((ms * MS) as i64)
}

#[cold]
pub fn negative(field: &str) -> Error {
    err(field, "must not be negative")
}

/// The error for the first level of `levels` (the first at index `first` of its array) whose
/// price is not above 0 or size is negative.
#[cold]
fn impossible_level(levels: &[Level], field: &str, first: usize) -> Error {
    for (n, l) in (first..).zip(levels) {
        if l.price <= 0 {
            return at_level(err(field, format!("price {} is not above 0", fixed::to_string(l.price))), field, n, 0);
        }
        if l.size < 0 {
            return at_level(err(field, format!("size {} is negative", fixed::to_string(l.size))), field, n, 1);
        }
    }
    unreachable!("called with an impossible level")
}

#[cold]
fn too_deep(field: &str, at: usize) -> Error {
    err(field, format!("nested deeper than {MAX_DEPTH} levels at byte {at}"))
}

/// If `b` nests arrays/objects deeper than the limit anywhere, the error naming the byte where
/// it first does (strings are skipped). Only called once a frame failed to parse: a frame too
/// deep is reported as such, not by whatever the parser stumbled on first.
#[cold]
pub fn nesting_error(b: &[u8]) -> Option<Error> {
    let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
    for (i, &c) in b.iter().enumerate() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(too_deep("json", i));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cold]
fn parse_u64_checked(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |v, &c| v.checked_mul(10)?.checked_add(u64::from(c - b'0')))
}

/// Point a number error at its level: field "b[3][1]" is the size of the fourth bid.
#[cold]
pub fn at_level(e: Error, side: &str, n: usize, column: usize) -> Error {
    match e {
        Error::Frame { reason, .. } => Error::frame(format!("{side}[{n}][{column}]"), reason),
        other => other,
    }
}

/// `Err(missing field)` unless the value was seen.
#[inline]
pub fn required<T>(v: Option<T>, field: &str) -> Result<T, Error> {
    match v {
        Some(v) => Ok(v),
        None => Err(err(field, "missing field")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(s: &str) -> Result<(), Error> {
        let mut c = Cursor::new(s.as_bytes());
        c.skip_value("x")?;
        c.end()
    }

    #[test]
    fn skip_string_rows_skips_what_skip_value_skips() {
        for text in [
            r#"[["0.00010322","5360.209"],["1.5","2"]],"a":1"#,
            r#"[],"a""#,
            r#"[["a long string past eight bytes","x"]]"#,
            r#"[ ["1","2"] ]"#,
            r#"[["\u00e9","2"]]"#,
            "[[\"é\",\"2\"]]",
            r#"[["1",2]]"#,
            r#"[["1","2"],]"#,
            r#"[["1","2"]"#,
            r#"[["1","2"#,
            r#"[["1"]x"#,
            "[[\"1\n\"]]",
            r#"{"a":[]}"#,
        ] {
            let (mut a, mut b) = (Cursor::new(text.as_bytes()), Cursor::new(text.as_bytes()));
            let ra = a.skip_value("b").map_err(|e| e.to_string());
            let rb = b.skip_string_rows("b").map_err(|e| e.to_string());
            assert_eq!(ra, rb, "{text}");
            if ra.is_ok() {
                assert_eq!(a.i, b.i, "{text}");
            }
        }
    }

    #[test]
    fn short_dec_levels_read_what_dec_levels_reads() {
        // Values the SWAR steps take (up to 8 digits each side), ones they leave to the digit
        // loop (longer, signed, exponent, odd spacing) and faults: same levels, same errors.
        let values = [
            "0.00010322",
            "5360.209",
            "20.80412499",
            "0",
            "7",
            "0.0",
            "12345678.87654321",
            "123456789.1",
            "0.000000001",
            ".5",
            "5.",
            "-1",
            "1e5",
            "",
            "00012.50",
            "99999999",
            "1.2.3",
            "0.00",
        ];
        for p in values {
            for q in values {
                for tail in ["]", " ]", "]]", "] ", "]\n"] {
                    let text = format!(r#"[["{p}","{q}"{tail},["1.5","2"]]"#);
                    let (mut plain, mut short) = (Vec::new(), Vec::new());
                    let (mut a, mut b) = (Cursor::new(text.as_bytes()), Cursor::new(text.as_bytes()));
                    let ra = a.dec_levels(&mut plain, "b").map_err(|e| e.to_string());
                    let rb = b.short_dec_levels(&mut short, "b").map_err(|e| e.to_string());
                    assert_eq!(ra, rb, "{text}");
                    assert_eq!(plain, short, "{text}");
                    assert_eq!(a.i, b.i, "{text}");
                }
            }
        }
    }

    #[test]
    fn accepts_exactly_valid_json() {
        for ok in [r#"{"a":[1,-2.5e+3,true,false,null,"\u00e9\n",{}],"b":{"c":[]}}"#, "0", " [ ] ", r#""é""#] {
            assert!(skip_all(ok).is_ok(), "{ok}");
            assert!(serde_json::from_str::<serde_json::Value>(ok).is_ok());
        }
        for bad in
            ["", "{", r#"{"a"}"#, r#"{"a":}"#, "[1,]", "01", "1.", "-", "1e", r#""\x""#, "tru", "[1 2]", "{,}", "{} {}"]
        {
            assert!(skip_all(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<serde_json::Value>(bad).is_err(), "{bad}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(skip_all(&deep).is_err());
    }

    #[test]
    fn reads_levels_and_scalars() {
        let mut c = Cursor::new(br#"{"u":42,"s":"ETHUSDT","b":[["1.5","2"],[ "3" , "0" ]],"m":true}"#);
        c.begin_object().unwrap();
        let mut first = true;
        let mut out = Vec::new();
        while let Some(k) = c.next_key(&mut first).unwrap() {
            match k {
                b"u" => assert_eq!(c.u64("u").unwrap(), 42),
                b"s" => assert_eq!(c.str("s").unwrap(), "ETHUSDT"),
                b"b" => c.levels(&mut out, "b").unwrap(),
                b"m" => assert!(c.bool("m").unwrap()),
                _ => unreachable!(),
            }
        }
        c.end().unwrap();
        assert_eq!(out, vec![Level { price: 150_000_000, size: 200_000_000 }, Level { price: 300_000_000, size: 0 }]);
    }

    #[test]
    fn plain_rows_read_as_the_general_calls_do() {
        let d = |m, w| fixed::Dec { mantissa: m, width: w };
        for (row, level) in [
            (r#"["5.148","60","0","1"],"#, Some((d(5148, 3), d(60, 0)))),
            (r#"["5.148","60","0","1234567"]]"#, Some((d(5148, 3), d(60, 0)))),
            (r#"["5.148","60","0","12345678"]]"#, Some((d(5148, 3), d(60, 0)))), // 8 digits: the loop
            (r#"["5.148","60","0",""]]"#, Some((d(5148, 3), d(60, 0)))),
            (r#"["5.148","60","0","1a"]]"#, Some((d(5148, 3), d(60, 0)))),
            (r#"["5.148","60","0","1","2"]]"#, Some((d(5148, 3), d(60, 0)))),
            (r#"["5.148","60","0","1"]]"#, Some((d(5148, 3), d(60, 0)))), // under 8 bytes left
            (r#"["5.148","60","0","1",]],"#, None),
            (r#"["5.148","60","0","1"}]],"#, None),
            (r#"["29000.1","0.00264"]]"#, Some((d(290_001, 1), d(264, 5)))),
            (r#"["2683.80000000","0.00000000"],"#, Some((d(268_380_000_000, 8), d(0, 8)))),
            (r#"["12345678.12345678","99999999","","x"]}"#, Some((d(1_234_567_812_345_678, 8), d(99_999_999, 0)))),
            (r#"["0.1","-1","0","1"],"#, None), // negative size: the general path names it
            (r#"["0","1","0","1"],"#, None),    // price 0
            (r#"["1.","1","0","1"],"#, None),   // not the plain layout: general path
            (r#"[ "1","1"],"#, None),           // whitespace
            (r#"["1","1",0],"#, None),          // a number column
            (r#"["1","1","\u0030"],"#, None),   // an escape
            (r#"["123456789","1"],"#, None),    // 9 integer digits
            (r#"["1.123456789","1"],"#, None),  // 9 decimals
            (r#"["1","1""#, None),              // truncated
        ] {
            let mut c = Cursor::new(row.as_bytes());
            let got = c.plain_dec_row();
            assert_eq!(got.map(|l| (l.price, l.size)), level, "{row}");
            match got {
                Some(_) => assert_eq!(c.i, row.len() - 1, "{row}"),
                None => assert_eq!(c.i, 0, "{row}"),
            }
        }
    }

    #[test]
    fn first_special_agrees_with_the_table() {
        let mut bytes: Vec<u8> = (0..=255).collect();
        bytes.extend_from_slice(b"abcdefgh\\\"\x1f\x7f\x80 z");
        for start in 0..bytes.len() - 8 {
            let expected = bytes[start..start + 8].iter().position(|&c| SPECIAL[c as usize]).unwrap_or(8);
            assert_eq!(first_special(&bytes, start), Some(expected), "at {start}");
        }
        for x in 0..=255u8 {
            for y in [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff] {
                let chunk = [b'a', x, b'b', y, x, b'c', b'd', b'e'];
                let expected = chunk.iter().position(|&c| SPECIAL[c as usize]).unwrap_or(8);
                assert_eq!(first_special(&chunk, 0), Some(expected), "{chunk:?}");
            }
        }
        assert_eq!(first_special(b"1234567", 0), None);
    }

    #[test]
    fn quoted_dec_at_every_length() {
        // Every split of 1..=17 digits around a '.', each followed by the quote and more bytes.
        let digits = "12345678901234567";
        for total in 1..=17 {
            for dot in 0..=total {
                let text = match dot {
                    0 => digits[..total].to_owned(),
                    _ => format!("{}.{}", &digits[..dot], &digits[dot..total]),
                };
                for tail in ["\"", "\",\"0\",\"1\"]", "\"]]}"] {
                    let frame = format!("\"{text}{tail}");
                    let b = frame.as_bytes();
                    let general =
                        fixed::parse_dec_prefix(&b[1..], "x").ok().filter(|&(_, n)| b.get(n + 1) == Some(&b'"'));
                    match fixed::quoted_dec(b, 1) {
                        Some((d, end)) => {
                            let (expected, n) = general.unwrap_or_else(|| panic!("{frame}: fast path only"));
                            assert_eq!((d, end), (expected, n + 2), "{frame}");
                        }
                        // The fast path takes at most 8 digits a side, a '.' with digits on both.
                        None => assert!(
                            frame.len() < 9
                                || text.split('.').any(|p| p.len() > 8 || p.is_empty())
                                || b.len() < text.len() + 9,
                            "{frame}: general path only"
                        ),
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// The quoted fast path accepts a subset of what the general decimal reader accepts,
        /// with the same value and length.
        #[test]
        fn quoted_dec_agrees_with_parse_dec_prefix(text in "[-0-9.]{0,20}", tail in "(\"|\",\"0\"|x\")") {
            let frame = format!("\"{text}{tail}        ");
            let b = frame.as_bytes();
            if let Some((d, end)) = fixed::quoted_dec(b, 1) {
                let (expected, n) = fixed::parse_dec_prefix(&b[1..], "x").expect("the general reader accepts it");
                proptest::prop_assert_eq!(d, expected);
                proptest::prop_assert_eq!(end, n + 2);
                proptest::prop_assert_eq!(b[n + 1], b'"');
            }
        }

        /// The SWAR integer reader against std's parser: every length up to past u64's range,
        /// leading zeros (not JSON), and whatever follows the digits.
        #[test]
        fn u64_agrees_with_std(digits in "[0-9]{0,24}", tail in "(,|\\}|\\.5|e3|x|)") {
            let text = format!("{digits}{tail}");
            let mut c = Cursor::new(text.as_bytes());
            let got = c.u64("n").ok();
            let json_int = !digits.is_empty() && (digits.len() == 1 || !digits.starts_with('0'));
            let expected = if json_int && !matches!(tail.as_str(), ".5" | "e3") { digits.parse::<u64>().ok() } else { None };
            proptest::prop_assert_eq!(got, expected, "{}", text);
            if got.is_some() {
                proptest::prop_assert_eq!(c.i, digits.len());
            }
        }
    }
}
