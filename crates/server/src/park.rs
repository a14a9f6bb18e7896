//! A connection waiting in the middle of its requests (WAIT for acknowledgements, a command
//! held by CLIENT PAUSE) without holding up its event loop.
//!
//! Why a helper of its own: the wait is a future the connection task awaits, so the loop's
//! other connections go on; meanwhile the client stays killable, a closed socket ends it, and
//! what the client pipelines behind the waiting request is read into its buffer (as Redis
//! keeps reading a blocked client's query buffer), to run once the wait is over. A parked
//! client counts in INFO `blocked_clients` and shows CLIENT LIST flag `b`, as Redis's
//! blocked and postponed clients do.

use std::future::Future;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::blocking::Gone;
use crate::client::Client;
use crate::shared::Shared;

/// Waits for `until` while watching the client's kill switch and socket.
pub async fn park<T>(shared: &Shared, client: &Client, stream: &mut TcpStream, input: &mut BytesMut, until: impl Future<Output = T>) -> Result<T, Gone> {
    shared.stats.parked.fetch_add(1, Ordering::Relaxed);
    client.publish().blocked = true;
    let result = wait(shared, client, stream, input, until).await;
    client.publish().blocked = false;
    shared.stats.parked.fetch_sub(1, Ordering::Relaxed);
    result
}

async fn wait<T>(shared: &Shared, client: &Client, stream: &mut TcpStream, input: &mut BytesMut, until: impl Future<Output = T>) -> Result<T, Gone> {
    tokio::pin!(until);
    loop {
        if client.handle.is_killed() {
            return Err(Gone::Killed);
        }
        if input.capacity() - input.len() < 4096 {
            input.reserve(16 * 1024);
        }
        tokio::select! {
            biased;
            _ = client.handle.kill_notify.wait() => {}
            done = &mut until => return Ok(done),
            r = stream.read_buf(input) => match r {
                Ok(0) | Err(_) => return Err(Gone::Closed),
                Ok(n) => { shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed); }
            },
        }
    }
}
