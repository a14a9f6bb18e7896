//! INCRBYFLOAT / HINCRBYFLOAT arithmetic, bit-exact with Redis on x86-64.
//!
//! Redis does these sums in C `long double`, which on x86-64 is the x87
//! 80-bit extended format (64-bit significand, 15-bit exponent), so an
//! `f64` would give different digits (`SET big 10000000000; INCRBYFLOAT big
//! 0.1` → `10000000000.09999999962747097`) and a smaller range (`1e400` is
//! a valid value). The format itself and its correctly rounded decimal
//! parsing and addition come from `rustc_apfloat` (rustc's port of LLVM's
//! APFloat); this module adds what is Redis-specific:
//!
//! - [`parse`]: which strings Redis accepts as a number (glibc `strtold`
//!   on the whole string: decimal, hex `0x1.8p3`, `inf`/`infinity`, no
//!   spaces, no trailing text, no NaN, no overflow, no underflow to zero,
//!   shorter than 5120 bytes);
//! - [`format_human`]: the reply and stored text, `%.17Lf` with trailing
//!   zeros (and a bare `.`) stripped and `-0` written `0`;
//! - [`incr_by_float`] and [`hash_increment`] + [`hincr_by_float`]: the two
//!   commands' checks in Redis's order, with their exact error texts.

use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, Round};

use crate::command::CmdError;

/// An x87 80-bit extended precision value (C `long double` on x86-64).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct F80(X87DoubleExtended);

impl F80 {
    pub fn is_finite(self) -> bool {
        self.0.is_finite()
    }
}

/// Why an INCRBYFLOAT / HINCRBYFLOAT failed; [`IncrFloatError::message`]
/// is Redis's reply text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncrFloatError {
    /// The increment, or INCRBYFLOAT's stored value, is not a number.
    NotFloat,
    /// HINCRBYFLOAT's stored field value is not a number.
    HashValueNotFloat,
    /// HINCRBYFLOAT's increment is infinite (it is refused before the sum).
    IncrementNotFinite,
    /// The sum is NaN or infinite.
    NanOrInfinity,
}

impl IncrFloatError {
    pub fn message(self) -> &'static str {
        match self {
            IncrFloatError::NotFloat => "ERR value is not a valid float",
            IncrFloatError::HashValueNotFloat => "ERR hash value is not a float",
            IncrFloatError::IncrementNotFinite => "ERR value is NaN or Infinity",
            IncrFloatError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
        }
    }
}

impl From<IncrFloatError> for CmdError {
    fn from(e: IncrFloatError) -> CmdError {
        match e {
            IncrFloatError::NotFloat => CmdError::NotFloat,
            other => CmdError::msg(other.message()),
        }
    }
}

/// INCRBYFLOAT: `current` is the stored string (`b"0"` for a missing key),
/// `incr` the argument; returns the text to reply with and store.
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<String, IncrFloatError> {
    let value = parse(current).ok_or(IncrFloatError::NotFloat)?;
    let incr = parse(incr).ok_or(IncrFloatError::NotFloat)?;
    finite_sum(value, incr)
}

/// HINCRBYFLOAT, first step (Redis checks the increment before it looks at
/// the key, so a bad increment wins over WRONGTYPE).
pub fn hash_increment(incr: &[u8]) -> Result<F80, IncrFloatError> {
    let incr = parse(incr).ok_or(IncrFloatError::NotFloat)?;
    if incr.is_finite() { Ok(incr) } else { Err(IncrFloatError::IncrementNotFinite) }
}

/// HINCRBYFLOAT, second step: `current` is the field's value (`b"0"` for a
/// missing field or key), `incr` from [`hash_increment`].
pub fn hincr_by_float(current: &[u8], incr: F80) -> Result<String, IncrFloatError> {
    let value = parse(current).ok_or(IncrFloatError::HashValueNotFloat)?;
    finite_sum(value, incr)
}

fn finite_sum(a: F80, b: F80) -> Result<String, IncrFloatError> {
    let sum = add(a, b);
    if sum.is_finite() { Ok(format_human(sum)) } else { Err(IncrFloatError::NanOrInfinity) }
}

/// Correctly rounded (ties to even) IEEE addition.
pub fn add(a: F80, b: F80) -> F80 {
    F80(a.0.add_r(b.0, Round::NearestTiesToEven).value)
}

// ---------------------------------------------------------------- parsing

/// Redis's limit on a number's text (`MAX_LONG_DOUBLE_CHARS`): strings of
/// this length or longer are refused.
const MAX_CHARS: usize = 5 * 1024;

/// Parses `s` as Redis does: the whole string must be one `strtold` number
/// (see the module doc); NaN, overflow to infinity and a nonzero number
/// that rounds to zero are refused. `inf` / `infinity` are accepted.
pub fn parse(s: &[u8]) -> Option<F80> {
    if s.is_empty() || s.len() >= MAX_CHARS {
        return None;
    }
    let (negative, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = if is_infinity_word(body) {
        X87DoubleExtended::INFINITY
    } else {
        Literal::scan(body)?.value()?
    };
    Some(F80(if negative { -magnitude } else { magnitude }))
}

fn is_infinity_word(s: &[u8]) -> bool {
    s.eq_ignore_ascii_case(b"inf") || s.eq_ignore_ascii_case(b"infinity")
}

/// A finite unsigned number literal, split into its parts.
struct Literal<'a> {
    hex: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// The written exponent (decimal: of ten, hex: of two), saturated.
    exp: i64,
}

/// Beyond this normalized exponent (of ten or of two) every significand
/// overflows or underflows, so larger written exponents are clamped to it
/// (keeping `rustc_apfloat`'s internal exponent arithmetic in range).
const EXP_CLAMP: i64 = 20_000;

impl<'a> Literal<'a> {
    /// `digits [. digits] [exponent]` with at least one digit, decimal
    /// (`e`) or after `0x` hex (`p`, optional), nothing after it.
    fn scan(s: &'a [u8]) -> Option<Literal<'a>> {
        let (hex, s) = match s {
            [b'0', b'x' | b'X', rest @ ..] => (true, rest),
            _ => (false, s),
        };
        let is_digit = |c: &u8| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() };
        let (int, s) = split_while(s, is_digit);
        let (frac, s) = match s.split_first() {
            Some((b'.', rest)) => split_while(rest, is_digit),
            _ => (&s[..0], s),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let marker: &[u8] = if hex { b"pP" } else { b"eE" };
        let exp = match s.split_first() {
            None => 0,
            Some((c, rest)) if marker.contains(c) => parse_exponent(rest)?,
            Some(_) => return None,
        };
        Some(Literal { hex, int, frac, exp })
    }

    /// The correctly rounded magnitude, or None if it overflows or a
    /// nonzero value rounds to zero (glibc's ERANGE cases Redis refuses).
    fn value(&self) -> Option<X87DoubleExtended> {
        let Some(text) = self.normalized() else {
            return Some(X87DoubleExtended::ZERO);
        };
        let parsed = X87DoubleExtended::from_str_r(&text, Round::NearestTiesToEven).ok()?.value;
        (parsed.is_finite() && !parsed.is_zero()).then_some(parsed)
    }

    /// The literal rewritten as `D.DDDD(e|p)N` with a normalized, clamped
    /// exponent (`0x` prefixed when hex), or None if it is zero.
    fn normalized(&self) -> Option<String> {
        let digits = || self.int.iter().chain(self.frac);
        let lead = digits().position(|&c| c != b'0')?;
        let (prefix, marker, digit_exp) = if self.hex { ("0x", 'p', 4) } else { ("", 'e', 1) };
        let point_shift = self.int.len() as i64 - 1 - lead as i64;
        let exp = self.exp.saturating_add(point_shift * digit_exp).clamp(-EXP_CLAMP, EXP_CLAMP);
        let mut sig = digits().skip(lead).map(|&c| c as char);
        let mut text = String::with_capacity(self.int.len() + self.frac.len() + 16);
        text.push_str(prefix);
        text.extend(sig.next());
        text.push('.');
        text.extend(sig);
        text.push(marker);
        text.push_str(&exp.to_string());
        Some(text)
    }
}

fn split_while(s: &[u8], pred: impl Fn(&u8) -> bool) -> (&[u8], &[u8]) {
    s.split_at(s.iter().position(|c| !pred(c)).unwrap_or(s.len()))
}

/// `[+-]digits` to the end of the string, saturated at ±[`EXP_CLAMP`]·10
/// (digits beyond that cannot change the result).
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let limit = EXP_CLAMP * 10;
    let value = digits.iter().fold(0i64, |acc, &d| (acc * 10 + i64::from(d - b'0')).min(limit));
    Some(if negative { -value } else { value })
}

// ------------------------------------------------------------- formatting

/// Digits after the point in `%.17Lf`.
const FRAC_DIGITS: usize = 17;
const FRAC_SCALE: u128 = 10u128.pow(FRAC_DIGITS as u32);

/// x87 exponent bias plus the 63 fraction bits: value = significand ·
/// 2^(biased exponent − this), the biased exponent being 1 for subnormals.
const SIG_EXP_OFFSET: i32 = 16383 + 63;

/// Redis's "human" long double text: exactly `printf("%.17Lf")`, then
/// trailing zeros after the point and a bare point removed, `-0` → `0`.
/// Infinities and NaN are written `inf`, `-inf`, `nan`.
pub fn format_human(x: F80) -> String {
    if x.0.is_nan() {
        return "nan".into();
    }
    let negative = x.0.is_negative();
    if x.0.is_infinite() {
        return if negative { "-inf" } else { "inf" }.into();
    }
    let bits = x.0.to_bits();
    let significand = bits as u64;
    let biased_exp = ((bits >> 64) & 0x7fff) as i32;
    let exp = biased_exp.max(1) - SIG_EXP_OFFSET;
    let mut text = if exp >= 0 {
        shifted_to_decimal(significand, exp as u32)
    } else {
        fixed_point(significand, exp.unsigned_abs())
    };
    if negative && text != "0" {
        text.insert(0, '-');
    }
    text
}

/// `significand / 2^shift` rounded (ties to even) to 17 decimals, with
/// zeros after the point trimmed. Fits in u128: significand · 10^17 < 2^121.
fn fixed_point(significand: u64, shift: u32) -> String {
    let scaled = u128::from(significand) * FRAC_SCALE;
    let units = if shift >= 122 { 0 } else { round_shift(scaled, shift) };
    let (int, frac) = (units / FRAC_SCALE, units % FRAC_SCALE);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = FRAC_DIGITS);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// `value / 2^shift` rounded to nearest, ties to even; `1 <= shift < 128`.
fn round_shift(value: u128, shift: u32) -> u128 {
    let quotient = value >> shift;
    let rest = value & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    let round_up = rest > half || (rest == half && quotient & 1 == 1);
    quotient + u128::from(round_up)
}

/// The decimal digits of `significand · 2^shift` (up to ~4950 digits).
fn shifted_to_decimal(significand: u64, shift: u32) -> String {
    const BASE: u64 = 1_000_000_000;
    // Little-endian base-10^9 limbs.
    let mut limbs = vec![significand % BASE, significand / BASE % BASE, significand / BASE / BASE];
    let mut left = shift;
    while left > 0 {
        let step = left.min(32);
        left -= step;
        let mut carry = 0u64;
        for limb in limbs.iter_mut() {
            let v = (*limb << step) + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut text = String::with_capacity(limbs.len() * 9);
    let mut rev = limbs.iter().rev();
    text.push_str(&rev.next().map_or(0, |l| *l).to_string());
    for limb in rev {
        text.push_str(&format!("{limb:09}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (stored value, increment, INCRBYFLOAT reply), all from redis-server 7.0.15.
    const INCR_CASES: &[(&str, &str, Result<&str, &str>)] = &[
        ("0", "0.1", Ok("0.1")),
        ("0.1", "0.2", Ok("0.3")),
        ("10000000000", "0.1", Ok("10000000000.09999999962747097")),
        ("3.0e3", "1e-20", Ok("3000")),
        ("0", "1e-20", Ok("0")),
        ("-0", "-0", Ok("0")),
        ("-0", "0", Ok("0")),
        ("1", "-1", Ok("0")),
        ("-1", "0.5", Ok("-0.5")),
        ("0", "0.000003814697265625", Ok("0.00000381469726562")),
        ("0", "0.000011444091796875", Ok("0.00001144409179688")),
        ("0", "-0.000003814697265625", Ok("-0.00000381469726562")),
        ("5", "0.000003814697265625", Ok("5.00000381469726562")),
        ("1.5", "-0.25", Ok("1.25")),
        ("1e4932", "1e4932", Err("ERR increment would produce NaN or Infinity")),
        ("1.18973149535723176502e+4932", "1e4913", Err("ERR increment would produce NaN or Infinity")),
        ("-1.18973149535723176502e+4932", "-1e4913", Err("ERR increment would produce NaN or Infinity")),
        ("1.18973149535723176508e+4932", "0", Err("ERR value is not a valid float")),
        ("1.18973149535723176509e+4932", "0", Err("ERR value is not a valid float")),
        ("0x1p-16445", "0", Ok("0")),
        ("0x1p-16445", "0x1p-16445", Ok("0")),
        ("0x1p-16446", "0", Err("ERR value is not a valid float")),
        ("0x1.8p-16446", "0", Ok("0")),
        ("1e-4940", "1", Ok("1")),
        ("1e-4951", "0", Err("ERR value is not a valid float")),
        ("3.6451995318824746025e-4951", "0", Ok("0")),
        ("3.6e-4951", "0", Ok("0")),
        ("1.8e-4951", "0", Err("ERR value is not a valid float")),
        ("1.9e-4951", "0", Ok("0")),
        ("123456789012345678901234567890", "1", Ok("123456789012345678899921813504")),
        ("-123.456", "123.456", Ok("0")),
        ("0.1", "0.7", Ok("0.8")),
        ("1e18", "1", Ok("1000000000000000001")),
        ("1e19", "1", Ok("10000000000000000001")),
        ("18446744073709551615", "1", Ok("18446744073709551616")),
        ("18446744073709551616", "-1", Ok("18446744073709551615")),
        ("36893488147419103231", "0", Ok("36893488147419103232")),
        ("9007199254740993", "0", Ok("9007199254740993")),
        ("0.5", "0.49999999999999999", Ok("0.99999999999999999")),
        ("0.5", "0.499999999999999999", Ok("1")),
        ("-1e-18", "0", Ok("0")),
        ("-5e-18", "0", Ok("0")),
        ("5e-18", "0", Ok("0")),
        ("-6e-18", "0", Ok("-0.00000000000000001")),
        ("1.00000000000000000000001", "0", Ok("1")),
        ("1", "1e-17", Ok("1.00000000000000001")),
        ("1", "5e-18", Ok("1")),
        ("1", "6e-18", Ok("1.00000000000000001")),
        ("0.000000000000000015", "0", Ok("0.00000000000000002")),
        ("2.5e-17", "0", Ok("0.00000000000000002")),
        ("1.5e-17", "0", Ok("0.00000000000000002")),
        ("inf", "1", Err("ERR increment would produce NaN or Infinity")),
        ("inf", "-inf", Err("ERR increment would produce NaN or Infinity")),
        ("-inf", "-1", Err("ERR increment would produce NaN or Infinity")),
        ("1", "inf", Err("ERR increment would produce NaN or Infinity")),
        ("1", "-INF", Err("ERR increment would produce NaN or Infinity")),
        ("1", "Infinity", Err("ERR increment would produce NaN or Infinity")),
        ("abc", "1", Err("ERR value is not a valid float")),
        ("1", "abc", Err("ERR value is not a valid float")),
        ("1e5000", "1", Err("ERR value is not a valid float")),
        ("1", " 1", Err("ERR value is not a valid float")),
        ("1", "1 ", Err("ERR value is not a valid float")),
        ("1", "1e", Err("ERR value is not a valid float")),
        ("1", "0x", Err("ERR value is not a valid float")),
        ("1", "0x1p3", Ok("9")),
        ("0x1p3", "0x.8", Ok("8.5")),
        ("0X1P-2", "0x1.8", Ok("1.75")),
        ("0x1.fffffffffffffffffffp0", "0", Ok("2")),
        ("0x1.00000000000000008p0", "0", Ok("1")),
        ("0x1.00000000000000018p0", "0", Ok("1")),
        ("0x1.000000000000000081p0", "0", Ok("1")),
        ("+5", ".5", Ok("5.5")),
        ("5.", "-.5", Ok("4.5")),
        ("1", "nan", Err("ERR value is not a valid float")),
        ("nan", "1", Err("ERR value is not a valid float")),
        ("1", "1e-5000", Err("ERR value is not a valid float")),
        ("1", "0e999999999999999999", Ok("1")),
        ("0.00000000000000000000000000000000000000001e41", "1", Ok("2")),
        ("1e-99999999999999999999", "1", Err("ERR value is not a valid float")),
        ("1e99999999999999999999", "1", Err("ERR value is not a valid float")),
        ("0x0.0000000000000000000000000000000000000001p+100000", "0", Err("ERR value is not a valid float")),
        ("1", "1.5e-17", Ok("1.00000000000000001")),
        ("7", "-7", Ok("0")),
        ("7.0000000000000000001", "0", Ok("7")),
        ("3.14159265358979323846264338327950288", "0", Ok("3.14159265358979324")),
        ("-3.14159265358979323846264338327950288", "1", Ok("-2.14159265358979324")),
        ("2.718281828459045235360287471352662497757", "-2", Ok("0.71828182845904524")),
        ("1e-10", "1e-10", Ok("0.0000000002")),
        ("12345.678901234567890123", "-12345", Ok("0.6789012345678902")),
        ("99999999999999999.5", "0", Ok("99999999999999999.5")),
        ("999999999999999999.5", "0", Ok("999999999999999999.5")),
        ("0.99999999999999999", "0", Ok("0.99999999999999999")),
        ("0.999999999999999995", "0", Ok("1")),
        ("0.999999999999999994", "0", Ok("0.99999999999999999")),
        ("-0.999999999999999995", "0", Ok("-1")),
        ("1e20", "1e-20", Ok("100000000000000000000")),
        ("1e25", "-1e25", Ok("0")),
        ("1e25", "1", Ok("10000000000000000000000000")),
        ("-1e25", "1", Ok("-10000000000000000000000000")),
        ("4.9406564584124654e-324", "0", Ok("0")),
        ("2.2250738585072014e-308", "1", Ok("1")),
        ("1e-300", "1e-300", Ok("0")),
        ("1e4000", "-1e4000", Ok("0")),
        ("65536", "0.00001", Ok("65536.00001000000000317")),
        ("0.30000000000000004", "0", Ok("0.30000000000000004")),
        ("100", "-100.5", Ok("-0.5")),
        ("0", "0x1p3", Ok("8")),
        ("0", "0X1P3", Ok("8")),
        ("0", "0x1", Ok("1")),
        ("0", "0x1.8", Ok("1.5")),
        ("0", "0x.8p1", Ok("1")),
        ("0", "0x", Err("ERR value is not a valid float")),
        ("0", "0xp1", Err("ERR value is not a valid float")),
        ("0", "0x1p", Err("ERR value is not a valid float")),
        ("0", "0x1p+", Err("ERR value is not a valid float")),
        ("0", "0x1p-2", Ok("0.25")),
        ("0", "0x1g", Err("ERR value is not a valid float")),
        ("0", "inf", Err("ERR increment would produce NaN or Infinity")),
        ("0", "-inf", Err("ERR increment would produce NaN or Infinity")),
        ("0", "+inf", Err("ERR increment would produce NaN or Infinity")),
        ("0", "INF", Err("ERR increment would produce NaN or Infinity")),
        ("0", "Infinity", Err("ERR increment would produce NaN or Infinity")),
        ("0", "infinity", Err("ERR increment would produce NaN or Infinity")),
        ("0", "infin", Err("ERR value is not a valid float")),
        ("0", "nan", Err("ERR value is not a valid float")),
        ("0", "NaN", Err("ERR value is not a valid float")),
        ("0", "-nan", Err("ERR value is not a valid float")),
        ("0", "nan(1)", Err("ERR value is not a valid float")),
        ("0", "+5", Ok("5")),
        ("0", "-5", Ok("-5")),
        ("0", ".5", Ok("0.5")),
        ("0", "5.", Ok("5")),
        ("0", ".", Err("ERR value is not a valid float")),
        ("0", "1e", Err("ERR value is not a valid float")),
        ("0", "1e+", Err("ERR value is not a valid float")),
        ("0", "1e-", Err("ERR value is not a valid float")),
        ("0", "1e5", Ok("100000")),
        ("0", "1E5", Ok("100000")),
        ("0", "1e+5", Ok("100000")),
        ("0", "1e-5", Ok("0.00001")),
        ("0", "1e5 ", Err("ERR value is not a valid float")),
        ("0", " 1e5", Err("ERR value is not a valid float")),
        ("0", "\t1", Err("ERR value is not a valid float")),
        ("0", "1", Ok("1")),
        ("0", "1 ", Err("ERR value is not a valid float")),
        ("0", "", Err("ERR value is not a valid float")),
        ("0", "++1", Err("ERR value is not a valid float")),
        ("0", "+-1", Err("ERR value is not a valid float")),
        ("0", "-.5", Ok("-0.5")),
        ("0", "-5.", Ok("-5")),
        ("0", "1.2.3", Err("ERR value is not a valid float")),
        ("0", "1e5.5", Err("ERR value is not a valid float")),
        ("0", "0e99999", Ok("0")),
        ("0", "00012", Ok("12")),
        ("0", "1_0", Err("ERR value is not a valid float")),
        ("0", "1,5", Err("ERR value is not a valid float")),
        ("0", "1e0x", Err("ERR value is not a valid float")),
        ("0", "1e5x", Err("ERR value is not a valid float")),
        ("0", "0x1.p1", Ok("2")),
        ("0", "0x.p1", Err("ERR value is not a valid float")),
        ("0", "0x1P", Err("ERR value is not a valid float")),
        ("0", "1d", Err("ERR value is not a valid float")),
        ("0", "1f", Err("ERR value is not a valid float")),
        ("0", "1L", Err("ERR value is not a valid float")),
        ("0", "+", Err("ERR value is not a valid float")),
        ("0", "-", Err("ERR value is not a valid float")),
        ("0", "-inf ", Err("ERR value is not a valid float")),
        ("0", "+infinity", Err("ERR increment would produce NaN or Infinity")),
        ("0", "INFINITY", Err("ERR increment would produce NaN or Infinity")),
        ("0", "infinit", Err("ERR value is not a valid float")),
        ("0", "infinityy", Err("ERR value is not a valid float")),
        ("0", "0x1.8p+1", Ok("3")),
        ("0", "1.e3", Ok("1000")),
        ("0", ".e3", Err("ERR value is not a valid float")),
        ("0", "1.5E-3", Ok("0.0015")),
        ("0", "0.0", Ok("0")),
        ("0", "-0e0", Ok("0")),
        ("0", "0x-1", Err("ERR value is not a valid float")),
        ("0", "-0x1p0", Ok("-1")),
        ("0", "0x+1", Err("ERR value is not a valid float")),
        ("0", "1e+-3", Err("ERR value is not a valid float")),
        ("0", "0x1e3", Ok("483")),
        // Halfway cases between two 80-bit values (exact ties, and ties ± a hair).
        ("0", "1106644837186380400141795328", Ok("1106644837186380400175349760")),
        ("0", "1106644837186380400141795328.0000000000000000000000000001", Ok("1106644837186380400175349760")),
        ("0", "1106644837186380400141795327.9999999999999999999999999", Ok("1106644837186380400108240896")),
        ("0", "1112384326374766095642918912", Ok("1112384326374766095676473344")),
        ("0", "1112384326374766095642918912.0000000000000000000000000001", Ok("1112384326374766095676473344")),
        ("0", "1112384326374766095642918911.9999999999999999999999999", Ok("1112384326374766095609364480")),
        ("0", "1018730595814243168224", Ok("1018730595814243168256")),
        ("0", "1018730595814243168224.0000000000000000000000000001", Ok("1018730595814243168256")),
        ("0", "1018730595814243168223.9999999999999999999999999", Ok("1018730595814243168192")),
        ("0", "1087082086967994863904", Ok("1087082086967994863872")),
        ("0", "1087082086967994863904.0000000000000000000000000001", Ok("1087082086967994863936")),
        ("0", "1087082086967994863903.9999999999999999999999999", Ok("1087082086967994863872")),
        ("0", "63835969270315991650", Ok("63835969270315991648")),
        ("0", "63835969270315991650.0000000000000000000000000001", Ok("63835969270315991652")),
        ("0", "63835969270315991649.9999999999999999999999999", Ok("63835969270315991648")),
        ("0", "66503140682589544142", Ok("66503140682589544144")),
        ("0", "66503140682589544142.0000000000000000000000000001", Ok("66503140682589544144")),
        ("0", "66503140682589544141.9999999999999999999999999", Ok("66503140682589544140")),
        ("0", "550366.096771172435950347789912484586238861083984375", Ok("550366.09677117243597877")),
        ("0", "550366.0967711724359503477899124845862388610839843751", Ok("550366.09677117243597877")),
        ("0", "550366.0967711724359503477899124845862388610839843749", Ok("550366.09677117243592193")),
        ("0", "798658.675915549393124592825188301503658294677734375", Ok("798658.67591554939315301")),
        ("0", "798658.6759155493931245928251883015036582946777343751", Ok("798658.67591554939315301")),
        ("0", "798658.6759155493931245928251883015036582946777343749", Ok("798658.67591554939309617")),
        ("0", "15591.772494665183819595455361195490695536136627197265625", Ok("15591.77249466518381915")),
        ("0", "15591.7724946651838195954553611954906955361366271972656251", Ok("15591.77249466518382004")),
        ("0", "15591.7724946651838195954553611954906955361366271972656249", Ok("15591.77249466518381915")),
        ("0", "14472.387824984765015923215969451121054589748382568359375", Ok("14472.38782498476501637")),
        ("0", "14472.3878249847650159232159694511210545897483825683593751", Ok("14472.38782498476501637")),
        ("0", "14472.3878249847650159232159694511210545897483825683593749", Ok("14472.38782498476501548")),
        ("0", "11.5203988176902411551087712648921979052829556167125701904296875", Ok("11.52039881769024116")),
        ("0", "11.52039881769024115510877126489219790528295561671257019042968751", Ok("11.52039881769024116")),
        ("0", "11.52039881769024115510877126489219790528295561671257019042968749", Ok("11.52039881769024115")),
        ("0", "9.8883182478633096378246858382254913522046990692615509033203125", Ok("9.88831824786330964")),
        ("0", "9.88831824786330963782468583822549135220469906926155090332031251", Ok("9.88831824786330964")),
        ("0", "9.88831824786330963782468583822549135220469906926155090332031249", Ok("9.88831824786330964")),
    ];

    /// Replies too long to spell out: (value, increment, length, first and
    /// last 40 digits), from redis-server 7.0.15.
    const LONG_CASES: &[(&str, &str, usize, &str, &str)] = &[
        ("1.18973149535723176502e+4932", "0", 4933, "1189731495357231765021263853030970205169", "8849149662444156604419552086811989770240"),
        ("1.18973149535723176502e+4932", "1e4912", 4933, "1189731495357231765021263853030970205169", "8849149662444156604419552086811989770240"),
        ("0x1.fffffffffffffffep16383", "0", 4933, "1189731495357231765021263853030970205169", "8849149662444156604419552086811989770240"),
        ("1e308", "1e308", 309, "1999999999999999999933717593116912913211", "1514636284849020905456510092687857156096"),
        ("1.7976931348623157e308", "1e308", 309, "2797693134862315700023522404413500787892", "9793174665688773926186886103199182225408"),
        ("1e4000", "1e3999", 4001, "1100000000000000000016052095785287304901", "0090855318578125803491333633848591253504"),
    ];

    /// `SET n 1e400; INCRBYFLOAT n 1` on redis-server 7.0.15.
    const E400_PLUS_ONE: &str = "\
1000000000000000000028188068394758651458645343362905203862591069353968553400862986203936399484832416\
0522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778\
9438243915933380474706750262466844013592375136038303437354855052449559649790218250382800910684149474\
0245689865304095101751265809261582758892018347251164331659136266413817630973480634373249743022194688\
0";

    #[test]
    fn incrbyfloat_matches_redis() {
        for &(value, incr, want) in INCR_CASES {
            let got = incr_by_float(value.as_bytes(), incr.as_bytes());
            assert_eq!(got.as_deref().map_err(|e| e.message()), want, "INCRBYFLOAT {value:?} + {incr:?}");
        }
    }

    #[test]
    fn huge_results_match_redis() {
        for &(value, incr, len, head, tail) in LONG_CASES {
            let got = incr_by_float(value.as_bytes(), incr.as_bytes()).expect(value);
            assert_eq!((got.len(), &got[..40], &got[len - 40..]), (len, head, tail), "{value:?} + {incr:?}");
        }
        assert_eq!(incr_by_float(b"1e400", b"1").as_deref(), Ok(E400_PLUS_ONE));
    }

    #[test]
    fn length_limit_is_5119_bytes() {
        let zeros = |len: usize| format!("0.{}", "0".repeat(len - 2));
        assert_eq!(incr_by_float(b"0", zeros(MAX_CHARS - 1).as_bytes()).as_deref(), Ok("0"));
        assert_eq!(incr_by_float(b"0", zeros(MAX_CHARS).as_bytes()), Err(IncrFloatError::NotFloat));
        assert_eq!(incr_by_float(zeros(MAX_CHARS).as_bytes(), b"0"), Err(IncrFloatError::NotFloat));
    }

    #[test]
    fn control_bytes_and_non_ascii_are_refused() {
        for s in [&b"1\n"[..], b"\n1", b"1\x002", b"\x001", b"\x0b1", b"\r1", b"1\r", "１".as_bytes()] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn hincrbyfloat_errors_in_redis_order() {
        // redis-server 7.0.15: HINCRBYFLOAT h f inf / nan, and with h.f = abc / inf.
        assert_eq!(hash_increment(b"inf"), Err(IncrFloatError::IncrementNotFinite));
        assert_eq!(hash_increment(b"-Infinity"), Err(IncrFloatError::IncrementNotFinite));
        assert_eq!(hash_increment(b"nan"), Err(IncrFloatError::NotFloat));
        assert_eq!(hash_increment(b"abc"), Err(IncrFloatError::NotFloat));
        let one = hash_increment(b"1").expect("1 is a float");
        assert_eq!(hincr_by_float(b"abc", one), Err(IncrFloatError::HashValueNotFloat));
        assert_eq!(hincr_by_float(b"inf", one), Err(IncrFloatError::NanOrInfinity));
        assert_eq!(hincr_by_float(b"1e5000", one), Err(IncrFloatError::HashValueNotFloat));
        assert_eq!(hincr_by_float(b"0", hash_increment(b"1e-20").expect("tiny")).as_deref(), Ok("0"));
        assert_eq!(hincr_by_float(b"10000000000", hash_increment(b"0.1").expect("0.1")).as_deref(),
            Ok("10000000000.09999999962747097"));
    }

    #[test]
    fn error_texts_are_redis_replies() {
        let texts: Vec<String> = [
            IncrFloatError::NotFloat,
            IncrFloatError::HashValueNotFloat,
            IncrFloatError::IncrementNotFinite,
            IncrFloatError::NanOrInfinity,
        ]
        .into_iter()
        .map(|e| CmdError::from(e).text())
        .collect();
        assert_eq!(texts, [
            "ERR value is not a valid float",
            "ERR hash value is not a float",
            "ERR value is NaN or Infinity",
            "ERR increment would produce NaN or Infinity",
        ]);
    }

    #[test]
    fn special_values_format_like_printf() {
        let inf = parse(b"inf").expect("inf parses");
        let minus_inf = parse(b"-inf").expect("-inf parses");
        assert_eq!((format_human(inf), format_human(minus_inf)), ("inf".to_string(), "-inf".to_string()));
        assert_eq!(format_human(add(inf, minus_inf)), "nan");
        assert_eq!(format_human(parse(b"-0").expect("-0 parses")), "0");
    }

    #[test]
    fn printf_rounding_is_half_even_at_exact_ties() {
        // 2^-18 = 0.000003814697265625 and 3·2^-18 end in a 5 at the 18th decimal.
        assert_eq!(format_human(parse(b"0x1p-18").expect("parses")), "0.00000381469726562");
        assert_eq!(format_human(parse(b"0x3p-18").expect("parses")), "0.00001144409179688");
    }

    /// Property test against a live redis-server: random (value, increment)
    /// pairs through INCRBYFLOAT and HINCRBYFLOAT, each sum then fed back as
    /// the next value. Skips when `redis-server` is not installed.
    #[test]
    fn random_sums_match_live_redis() {
        let Some(mut redis) = live::Redis::start() else {
            eprintln!("note: could not start redis-server (not on PATH?); skipping the live INCRBYFLOAT comparison");
            return;
        };
        let mut rng = live::Rng(0x05ee_df80);
        const ROUNDS: usize = 500;
        let mut value = String::from("0");
        let mut sums = 0;
        for round in 0..ROUNDS {
            if round.is_multiple_of(4) {
                value = rng.number();
            }
            let incr = rng.number();
            let want = redis.incr_by_float(&value, &incr);
            let got = incr_by_float(value.as_bytes(), incr.as_bytes()).map_err(|e| e.message().to_string());
            assert_eq!(got, want, "INCRBYFLOAT {value:?} {incr:?}");
            let want = redis.hincr_by_float(&value, &incr);
            let got = hash_increment(incr.as_bytes())
                .and_then(|i| hincr_by_float(value.as_bytes(), i))
                .map_err(|e| e.message().to_string());
            assert_eq!(got, want, "HINCRBYFLOAT {value:?} {incr:?}");
            if let Ok(sum) = got {
                value = sum;
                sums += 1;
            }
        }
        assert!(sums > 100, "only {sums} of {ROUNDS} pairs summed: the generator makes too many bad numbers");
    }

    mod live {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::process::{Child, Command, Stdio};
        use std::time::{Duration, Instant};

        use ferrocache_resp::frame::{self, Frame};

        /// A redis-server child on a free loopback port, killed on drop.
        pub struct Redis {
            _server: Killed,
            conn: TcpStream,
            buf: Vec<u8>,
        }

        impl Redis {
            pub fn start() -> Option<Redis> {
                let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
                let child = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()?;
                let server = Killed(child);
                Some(Redis { conn: connect(port)?, _server: server, buf: Vec::new() })
            }

            pub fn incr_by_float(&mut self, value: &str, incr: &str) -> Result<String, String> {
                self.cmd(&["SET", "k", value]).expect("SET");
                self.cmd(&["INCRBYFLOAT", "k", incr])
            }

            pub fn hincr_by_float(&mut self, value: &str, incr: &str) -> Result<String, String> {
                self.cmd(&["HSET", "h", "f", value]).expect("HSET");
                self.cmd(&["HINCRBYFLOAT", "h", "f", incr])
            }

            /// Sends one command; Ok(bulk or simple text) or Err(error text).
            fn cmd(&mut self, args: &[&str]) -> Result<String, String> {
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                self.conn.write_all(&Frame::command(&args)).expect("write to redis-server");
                loop {
                    if let Some((frame, used)) = frame::parse(&self.buf).expect("valid RESP") {
                        self.buf.drain(..used);
                        return match frame {
                            Frame::Bulk(b) | Frame::Simple(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
                            Frame::Error(e) => Err(String::from_utf8_lossy(&e).into_owned()),
                            Frame::Integer(n) => Ok(n.to_string()),
                            other => panic!("unexpected reply {other:?}"),
                        };
                    }
                    let mut chunk = [0u8; 8192];
                    let n = self.conn.read(&mut chunk).expect("read from redis-server");
                    assert!(n > 0, "redis-server closed the connection");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
        }

        /// A child process that is killed and reaped when dropped.
        struct Killed(Child);

        impl Drop for Killed {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }

        fn connect(port: u16) -> Option<TcpStream> {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(conn) = TcpStream::connect(("127.0.0.1", port)) {
                    return Some(conn);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        }

        /// splitmix64: deterministic, so a failure reproduces.
        pub struct Rng(pub u64);

        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }

            fn below(&mut self, n: u64) -> u64 {
                self.next() % n
            }

            /// Between `min` and `max` random digits in `radix`.
            fn digits(&mut self, min: u64, max: u64, radix: u32) -> String {
                let count = min + self.below(max - min + 1);
                (0..count).map(|_| char::from_digit(self.below(u64::from(radix)) as u32, radix).unwrap_or('0')).collect()
            }

            fn between(&mut self, lo: i64, hi: i64) -> i64 {
                lo + self.below((hi - lo + 1) as u64) as i64
            }

            /// A number in one of several shapes: short or long decimals,
            /// with small or extreme exponents, integers, hex floats, and
            /// now and then a malformed one.
            pub fn number(&mut self) -> String {
                let sign = ["", "-", "+"][self.below(3) as usize];
                let body = match self.below(8) {
                    0 => self.digits(1, 20, 10),
                    1 => format!("{}.{}", self.digits(0, 12, 10), self.digits(1, 25, 10)),
                    2 => format!("{}.{}e{}", self.digits(1, 1, 10), self.digits(0, 30, 10), self.between(-30, 30)),
                    3 => format!("{}e{}", self.digits(1, 5, 10), self.between(-4950, 4950)),
                    4 => format!("0x{}.{}p{}", self.digits(1, 4, 16), self.digits(0, 20, 16), self.between(-100, 100)),
                    5 => format!("0.{}{}", "0".repeat(self.below(20) as usize), self.digits(1, 5, 10)),
                    6 => format!("{}.{}", self.digits(1, 19, 10), self.digits(1, 19, 10)),
                    _ => ["1e", " 1", "1.5x", "nan", "inf", "", ".", "0x", "4e4932", "1e-4960"][self.below(10) as usize].to_string(),
                };
                format!("{sign}{body}")
            }
        }
    }
}
