//! A wake-up for one waiting task, set from any thread: how CLIENT KILL
//! and a published message reach a connection's task.
//!
//! Why not tokio's `Notify`: a connection waits for these on every turn of
//! its loop, and a `Notify` registers each wait in a locked waiter list
//! and takes the lock again to leave it; with one request per turn that
//! showed as the busiest user-space code of the connection. One waiter is
//! all a connection needs: the waker is kept in an [`AtomicWaker`] and a
//! flag keeps a wake-up that came while nobody waited (like `notify_one`'s
//! permit).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use atomic_waker::AtomicWaker;

#[derive(Debug, Default)]
pub struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Wakes the waiting task, or the next one to wait.
    pub fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Resolves once [`Signal::notify`] was called since the last wait
    /// resolved. One task waits at a time.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.set.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.set.swap(false, Ordering::AcqRel) { Poll::Ready(()) } else { Poll::Pending }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_notify_before_the_wait_is_kept() {
        let s = Signal::default();
        s.notify();
        tokio::time::timeout(Duration::from_secs(5), s.wait()).await.expect("the kept wake-up");
        assert!(tokio::time::timeout(Duration::from_millis(20), s.wait()).await.is_err(), "used up by one wait");
    }

    #[tokio::test]
    async fn a_notify_from_another_thread_wakes_the_waiter() {
        let s = Arc::new(Signal::default());
        let other = s.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.notify();
        });
        tokio::time::timeout(Duration::from_secs(5), s.wait()).await.expect("woken");
        thread.join().unwrap();
    }
}
