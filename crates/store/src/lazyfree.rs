//! Freeing large values off the command path: an evicted (or otherwise
//! dropped) value of many bytes is handed to one background thread, so the
//! client that triggered it, and the shard lock, are not held while the
//! allocator returns pages to the system.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

static FREER: OnceLock<Mutex<Sender<Box<dyn Send>>>> = OnceLock::new();

fn freer() -> &'static Mutex<Sender<Box<dyn Send>>> {
    FREER.get_or_init(|| {
        let (tx, rx) = channel::<Box<dyn Send>>();
        std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || rx.into_iter().for_each(drop))
            .expect("cannot start the lazyfree thread");
        Mutex::new(tx)
    })
}

/// Drops `e` here if it holds fewer than `threshold` heap bytes, else on
/// the background thread (here too if that thread is gone).
pub fn drop_entry(e: crate::db::Entry, threshold: usize) {
    if e.value.heap_bytes() < threshold {
        return;
    }
    let boxed: Box<dyn Send> = Box::new(e);
    if let Ok(tx) = freer().lock() {
        let _ = tx.send(boxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{StrValue, Value};

    #[test]
    fn big_values_go_to_the_background() {
        let big = crate::db::Entry::new(Value::Str(StrValue::from_vec(vec![0; 2 << 20])));
        drop_entry(big, 1 << 20);
        drop_entry(crate::db::Entry::new(Value::Str(StrValue::new(b"x"))), 1 << 20);
    }
}
