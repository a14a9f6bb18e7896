//! Allocation accounting: a global allocator wrapper that keeps a running
//! total of live heap bytes (`used_memory` in INFO), over whichever
//! allocator the binary picked (see `bench/README-memory.md` for why).
//!
//! The binary installs it with `#[global_allocator]` and names the inner
//! allocator with [`set_allocator_name`]; libraries and tests that do not
//! install it read zero here and rely on the keyspace's own accounting
//! (`Db::used_bytes`).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATOR: OnceLock<&'static str> = OnceLock::new();
static STARTUP: AtomicUsize = AtomicUsize::new(0);

/// Counts live bytes, then delegates to the allocator `A`.
pub struct CountingAlloc<A>(pub A);

unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.0.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                ALLOCATED.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            } else {
                ALLOCATED.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Records the inner allocator's name (INFO `mem_allocator`); first call wins.
pub fn set_allocator_name(name: &'static str) {
    let _ = ALLOCATOR.set(name);
}

/// The allocator's name as INFO reports it (`libc` unless the binary said otherwise).
pub fn allocator_name() -> &'static str {
    ALLOCATOR.get().copied().unwrap_or("libc")
}

/// Records the live heap bytes of a server that just started (the
/// binary calls this once it is listening): MEMORY STATS
/// `startup.allocated`, and the base `used_memory` counts from.
pub fn mark_startup() {
    STARTUP.store(used_memory(), Ordering::Relaxed);
}

/// Heap bytes at start (0 unless [`mark_startup`] was called).
pub fn startup_memory() -> usize {
    STARTUP.load(Ordering::Relaxed)
}

/// Live heap bytes (0 when [`CountingAlloc`] is not the global allocator).
pub fn used_memory() -> usize {
    let used = ALLOCATED.load(Ordering::Relaxed);
    PEAK.fetch_max(used, Ordering::Relaxed);
    used
}

/// Highest `used_memory` observed so far.
pub fn peak_memory() -> usize {
    PEAK.load(Ordering::Relaxed).max(used_memory())
}

/// Resident set size of this process in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}
