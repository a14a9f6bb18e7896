//! How results look: aligned tables and readable values for people, JSON for scripts.
//!
//! The JSON form of a result is the client's typed answer serialized as is (the API's own
//! field names), so it stays stable as the text form evolves.

use ferrocache_control::client::KeyValue;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("ferrocache: cannot encode the answer as JSON: {e}"),
    }
}

/// Rows printed with each column as wide as its widest cell (the last column unpadded).
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `header` (empty for none).
    pub fn new(header: &[&str]) -> Table {
        let rows = if header.is_empty() { Vec::new() } else { vec![header.iter().map(|h| h.to_string()).collect()] };
        Table { rows }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> =
            (0..columns).map(|c| self.rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// The value as text when it is text a terminal can show (UTF-8 without control characters
/// other than newlines and tabs).
pub fn printable(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok().filter(|s| !s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')))
}

/// A one-line preview of a value for tables: text with newlines shown as `\n`, cut to `max`
/// characters; other bytes as `<binary, N bytes>`; nothing for a deletion.
pub fn preview(kv: &KeyValue, max: usize) -> String {
    let bytes = match kv.bytes() {
        Ok(Some(b)) => b,
        Ok(None) => return String::new(),
        Err(_) => return "<undecodable value>".to_string(),
    };
    match printable(&bytes) {
        Some(text) => {
            let one_line = text.replace('\r', "").replace('\n', "\\n").replace('\t', " ");
            truncate(&one_line, max)
        }
        None => format!("<binary, {} bytes>", bytes.len()),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The content type's short name, `deleted` for a tombstone.
pub fn kind(kv: &KeyValue) -> &'static str {
    match kv.content_type {
        Some(t) if !kv.deleted => t.name(),
        _ => "deleted",
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Milliseconds as seconds: whole from 10 s up (`30s`), else with one decimal when needed (`2.5s`).
pub fn secs(ms: u64) -> String {
    if ms >= 10_000 || ms.is_multiple_of(1000) { format!("{}s", (ms + 500) / 1000) } else { format!("{:.1}s", ms as f64 / 1000.0) }
}

/// `-` for a missing number.
pub fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The first 12 hex digits of a checksum, `-` for none.
pub fn short_hash(hash: Option<&str>) -> String {
    hash.map_or_else(|| "-".to_string(), |h| h.chars().take(12).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_leave_the_last_unpadded() {
        let mut t = Table::new(&["KEY", "REV", "VALUE"]);
        t.row(vec!["app/db".into(), "12".into(), "x".into()]);
        t.row(vec!["a".into(), "3".into(), "".into()]);
        assert_eq!(t.render(), "KEY     REV  VALUE\napp/db  12   x\na       3\n");
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(time(1_700_000_000_123), "2023-11-14 22:13:20");
    }

    #[test]
    fn control_bytes_and_invalid_utf8_are_not_printable() {
        assert_eq!(printable(b"a\nb\tc"), Some("a\nb\tc"));
        assert_eq!(printable(b"a\x1b[2J"), None);
        assert_eq!(printable(&[0xff, 0x00]), None);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(secs(2500), "2.5s");
        assert_eq!(secs(30_000), "30s");
        assert_eq!(secs(29_960), "30s");
    }
}
