//! Parsing command arguments the way Redis does (strict integers, floats
//! that reject NaN, case-insensitive keywords).

use crate::command::CmdError;

/// A strict decimal i64 (`string2ll`), else "value is not an integer".
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    ferrocache_store::value::parse_strict_i64(arg).ok_or(CmdError::NotInteger)
}

/// A timeout in milliseconds as Redis reads one (WAIT, CLIENT PAUSE): its end in Unix ms from
/// `now`, None for 0 (no timeout).
pub fn timeout_ms(arg: &[u8], now: u64) -> Result<Option<u64>, CmdError> {
    let ms = ferrocache_store::value::parse_strict_i64(arg).ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    match ms {
        ..0 => Err(CmdError::err("timeout is negative")),
        0 => Ok(None),
        ms => (ms as u64).checked_add(now).filter(|&end| end <= i64::MAX as u64).map(Some).ok_or_else(|| CmdError::err("timeout is out of range")),
    }
}

/// A non-negative integer that fits usize, else "value is not an integer".
pub fn uint(arg: &[u8]) -> Result<u64, CmdError> {
    match int(arg)? {
        n if n >= 0 => Ok(n as u64),
        _ => Err(CmdError::NotInteger),
    }
}

/// A double as Redis's `string2d` accepts it: no spaces, `inf`/`-inf`
/// allowed, NaN rejected. Error: "value is not a valid float".
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_float(arg).ok_or(CmdError::NotFloat)
}

pub fn parse_float(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_whitespace()) || s.ends_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// C's `strtod` over the whole text, as Redis reads scores: decimal, hex
/// (`0x1p3`), `inf`/`infinity`; NaN refused. `range` is the flavor of
/// range bounds (leading spaces allowed, empty text is 0, overflow
/// allowed); otherwise the flavor of ZADD scores and weights (no spaces,
/// no empty text, no overflow to infinity or underflow to zero).
pub fn strtod(arg: &[u8], range: bool) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    let text = if range { text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b') } else { text };
    if text.is_empty() {
        return range.then_some(0.0);
    }
    let (neg, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = match body.get(..2) {
        Some("0x" | "0X") => parse_hex(&body[2..])?,
        _ if body.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c.eq_ignore_ascii_case(&'i')) => body.parse::<f64>().ok()?,
        _ => return None,
    };
    if magnitude.is_nan() {
        return None;
    }
    if !range {
        let literal_inf = body.starts_with(|c: char| c.eq_ignore_ascii_case(&'i'));
        let nonzero_digits = body.split(['e', 'E', 'p', 'P']).next().is_some_and(|m| m.bytes().any(|b| b.is_ascii_digit() && b != b'0'));
        if (magnitude.is_infinite() && !literal_inf) || (magnitude == 0.0 && nonzero_digits && !body.starts_with("0x")) {
            return None;
        }
    }
    Some(if neg { -magnitude } else { magnitude })
}

/// The part of a hex float after `0x`: digits, optional `.digits`,
/// optional `p[+-]exponent`.
fn parse_hex(s: &str) -> Option<f64> {
    let (mantissa, exp) = match s.split_once(['p', 'P']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int.chars().chain(frac.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    Some(value * 2f64.powi(exp - 4 * frac.len() as i32))
}

/// A DB index argument (SELECT, MOVE, COPY ... DB): an int32, then one of
/// the `databases` configured.
pub fn db_index(arg: &[u8], databases: usize) -> Result<usize, CmdError> {
    db_in_range(db_number(arg)?, databases)
}

/// A DB number as Redis reads it (a C int), before the range check; cluster
/// mode refuses any but 0 between the two.
pub fn db_number(arg: &[u8]) -> Result<i32, CmdError> {
    i32::try_from(int(arg)?).map_err(|_| CmdError::err("value is out of range, value must between -2147483648 and 2147483647"))
}

/// One of the `databases` configured.
pub fn db_in_range(n: i32, databases: usize) -> Result<usize, CmdError> {
    usize::try_from(n).ok().filter(|&i| i < databases).ok_or_else(|| CmdError::err("DB index is out of range"))
}

/// Case-insensitive keyword comparison.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// Lossy text of an argument, for error messages.
pub fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// `numkeys key... WHERE [COUNT n]`, the arguments of LMPOP and ZMPOP (and
/// of their blocking forms after the timeout): the keys, `side` applied to
/// WHERE (checked before the options, as Redis does), and the count
/// (default 1).
pub fn mpop<T>(args: &[bytes::Bytes], side: impl Fn(&[u8]) -> Result<T, CmdError>) -> Result<(&[bytes::Bytes], T, usize), CmdError> {
    let numkeys = int(&args[0]).ok().filter(|&n| n > 0).ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let rest = &args[1..];
    if numkeys as u64 >= rest.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let (keys, rest) = rest.split_at(numkeys as usize);
    let side = side(&rest[0])?;
    // Options are read in order, each value checked as it comes.
    let mut count = None;
    let mut opts = &rest[1..];
    while let [opt, tail @ ..] = opts {
        match tail.first() {
            Some(n) if count.is_none() && is(opt, "count") => {
                let n = int(n).ok().filter(|&n| n >= 1).ok_or_else(|| CmdError::err("count should be greater than 0"))?;
                count = Some(usize::try_from(n).unwrap_or(usize::MAX));
                opts = &tail[1..];
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok((keys, side, count.unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"1e3"), Some(1000.0));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b""), None);
        assert_eq!(parse_float(b"abc"), None);
    }
}
