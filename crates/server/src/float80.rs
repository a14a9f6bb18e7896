//! Placeholder until the x87 long double emulation lands: f64 arithmetic.

/// INCRBYFLOAT's errors.
#[derive(Debug, Clone, PartialEq)]
pub enum IncrFloatError {
    NotFloat,
    NanOrInfinity,
}

impl std::fmt::Display for IncrFloatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IncrFloatError::NotFloat => "value is not a valid float",
            IncrFloatError::NanOrInfinity => "increment would produce NaN or Infinity",
        })
    }
}

pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<String, IncrFloatError> {
    let a = crate::args::parse_float(current).ok_or(IncrFloatError::NotFloat)?;
    let b = crate::args::parse_float(incr).ok_or(IncrFloatError::NotFloat)?;
    let r = a + b;
    if !r.is_finite() {
        return Err(IncrFloatError::NanOrInfinity);
    }
    let s = format!("{r:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    Ok(if s == "-0" { "0".into() } else { s.into() })
}
