//! The replication stream's tail: the last `repl-backlog-size` bytes, addressed by offset.
//!
//! Offsets count bytes since the stream began, as Redis's `master_repl_offset` does: byte
//! number `n` (from 1) is the `n`-th byte ever appended. A replica that had everything up to
//! offset `o` resumes at byte `o + 1` if the backlog still holds it.

use std::collections::VecDeque;

use ferrocache_resp::Frame;

pub struct Backlog {
    buf: VecDeque<u8>,
    /// Offset of the last byte appended.
    end: u64,
    cap: usize,
    /// The database the last appended command ran in; a command in another is preceded by a
    /// SELECT. None forces a SELECT (after a full copy, whose SELECTs are not in the stream).
    db: Option<usize>,
    /// The end offset right after the last `REPLCONF GETACK *`.
    getack_end: u64,
}

impl Backlog {
    pub fn new(cap: usize) -> Self {
        Backlog { buf: VecDeque::new(), end: 0, cap: cap.max(1), db: None, getack_end: 0 }
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// The offset just before the oldest byte kept (INFO `repl_backlog_first_byte_offset` is
    /// one more).
    pub fn start(&self) -> u64 {
        self.end - self.buf.len() as u64
    }

    /// Bytes kept (INFO `repl_backlog_histlen`).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Changes the size kept (CONFIG SET repl-backlog-size); the oldest bytes go first.
    pub fn resize(&mut self, cap: usize) {
        self.cap = cap.max(1);
        self.trim();
    }

    /// Appends `args` as a RESP command run in database `db`.
    pub fn append_command(&mut self, db: usize, args: &[&[u8]]) {
        if self.db != Some(db) {
            let index = db.to_string();
            self.append(&Frame::command(&[b"SELECT", index.as_bytes()]));
            self.db = Some(db);
        }
        self.append(&Frame::command(args));
    }

    /// Appends `REPLCONF GETACK *` (in no database), unless it is the stream's last entry
    /// already; true if appended.
    pub fn append_getack(&mut self) -> bool {
        if self.end > 0 && self.getack_end == self.end {
            return false;
        }
        self.append(&Frame::command(&[b"REPLCONF", b"GETACK", b"*"]));
        self.getack_end = self.end;
        true
    }

    /// Makes the next command start with a SELECT.
    pub fn forget_db(&mut self) {
        self.db = None;
    }

    fn append(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        self.end += bytes.len() as u64;
        self.trim();
    }

    fn trim(&mut self) {
        let over = self.buf.len().saturating_sub(self.cap);
        self.buf.drain(..over);
    }

    /// Up to `max` bytes following offset `after`; None if the backlog no longer holds byte
    /// `after + 1` (or `after` is past the end).
    pub fn read(&self, after: u64, max: usize) -> Option<Vec<u8>> {
        if after < self.start() || after > self.end {
            return None;
        }
        let from = (after - self.start()) as usize;
        let to = from.saturating_add(max).min(self.buf.len());
        Some(self.buf.range(from..to).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_every_byte_and_old_bytes_fall_off() {
        let mut b = Backlog::new(64);
        b.append_command(0, &[b"SET", b"k", b"v"]);
        let select = Frame::command(&[b"SELECT", b"0"]);
        let set = Frame::command(&[b"SET", b"k", b"v"]);
        assert_eq!(b.end(), (select.len() + set.len()) as u64);
        assert_eq!(b.read(select.len() as u64, 1000).unwrap(), set);
        assert_eq!(b.read(b.end(), 10).unwrap(), Vec::<u8>::new(), "nothing new yet");
        assert!(b.read(b.end() + 1, 10).is_none());
        b.append_command(0, &[b"SET", b"k", b"v"]);
        assert_eq!(b.end(), (select.len() + 2 * set.len()) as u64, "same database: no SELECT");
        for _ in 0..10 {
            b.append_command(1, &[b"DEL", b"k"]);
        }
        assert_eq!(b.len(), 64);
        assert!(b.read(0, 10).is_none(), "the first bytes are gone");
        assert_eq!(b.read(b.start(), 64).unwrap().len(), 64);
        b.resize(16);
        assert_eq!((b.len(), b.start()), (16, b.end() - 16));
    }

    #[test]
    fn a_getack_needs_no_select_and_is_not_repeated() {
        let mut b = Backlog::new(1024);
        assert!(b.append_getack());
        let getack = Frame::command(&[b"REPLCONF", b"GETACK", b"*"]);
        assert_eq!(b.end(), getack.len() as u64, "no SELECT before it");
        assert!(!b.append_getack(), "one request until the stream moves");
        b.append_command(0, &[b"SET", b"k", b"v"]);
        assert!(b.append_getack());
        assert_eq!(b.read(b.end() - getack.len() as u64, 100).unwrap(), getack);
    }
}
