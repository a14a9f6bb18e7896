//! `ferrocache lock NAME -- COMMAND`: runs a command while holding a cluster-wide lock.
//!
//! The lock hangs on a lease granted for the occasion and renewed every third of its TTL while
//! this process waits and while the command runs, so a crashed holder frees the lock within a
//! TTL. The command gets the lock's fencing token in `FERROCACHE_LOCK_TOKEN` to pass to whatever
//! the lock protects. Afterwards the lease is revoked, which releases the lock. If the lease
//! is lost meanwhile (renewals failed for a whole TTL, or someone revoked it), the lock may
//! already belong to someone else: that is said on stderr at once, and the exit code is
//! non-zero even if the command succeeded.
//!
//! Ctrl-C reaches the command (same terminal); this process waits for it to end and cleans up.
//! Exit codes follow timeout(1): the command's own, 128+N if a signal N ended it, 126/127 if it
//! could not be started, 1 if the lock was not had.

use std::process::ExitStatus;
use std::time::Duration;

use ferrocache_control::client::{Client, MAX_LOCK_WAIT};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::conn::{CliError, Ctx};

#[derive(clap::Args)]
pub struct LockArgs {
    /// Lock name (a key-like path, e.g. `jobs/nightly-backup`).
    name: String,
    /// Lease TTL: how long the lock outlives this process if it dies.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    ttl: u64,
    /// Give up when the lock is not ours after SECS (0 = do not wait) [default: wait as long as it takes].
    #[arg(long, value_name = "SECS")]
    wait: Option<u64>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Exit code when interrupted before the command started (128 + SIGINT).
const INTERRUPTED: u8 = 130;

pub async fn run(ctx: &Ctx, args: LockArgs) -> Result<u8, CliError> {
    if args.ttl == 0 {
        return Err(CliError::usage("--ttl must be at least 1 second"));
    }
    let mut interrupts = signal(SignalKind::interrupt()).map_err(|e| CliError::failed(format!("cannot handle Ctrl-C: {e}")))?;
    let ttl = Duration::from_secs(args.ttl);
    let lease = ctx.client.lease_grant(ttl).await?.info.id;
    let keeper = Keeper::start(ctx.client.clone(), lease, ttl);
    let owner = owner_name();
    let result = hold_and_run(ctx, &args, lease, &owner, &keeper, &mut interrupts).await;
    keeper.task.abort();
    // Revoking the lease releases the lock, or takes us out of its queue.
    match ctx.client.lease_revoke(lease).await {
        Err(e) if e.code() != Some("lease_not_found") => {
            eprintln!("ferrocache: could not revoke lease {lease} ({e}); the lock is freed when it expires, within {}s", args.ttl);
        }
        _ => {}
    }
    result
}

async fn hold_and_run(ctx: &Ctx, args: &LockArgs, lease: u64, owner: &str, keeper: &Keeper, interrupts: &mut Signal) -> Result<u8, CliError> {
    let token = tokio::select! {
        token = acquire(ctx, args, lease, owner, keeper) => token?,
        _ = interrupts.recv() => {
            return Err(CliError { code: INTERRUPTED, message: format!("interrupted while waiting for lock '{}'", args.name) });
        }
    };
    let (status, told) = run_command(&args.command, token, keeper, &args.name, interrupts).await?;
    let code = exit_code(status);
    let lost = told || keeper.lost.borrow().is_some();
    let lost = lost || match still_held(ctx, &args.name, owner, token).await {
        Ok(()) => false,
        Err(reason) => {
            eprintln!("ferrocache: lost lock '{}' while the command ran: {reason}; fencing token {token} is stale", args.name);
            true
        }
    };
    Ok(if lost && code == 0 { 1 } else { code })
}

/// Takes the lock (its fencing token), waiting up to `--wait`.
async fn acquire(ctx: &Ctx, args: &LockArgs, lease: u64, owner: &str, keeper: &Keeper) -> Result<u64, CliError> {
    let started = Instant::now();
    let deadline = args.wait.map(|w| started + Duration::from_secs(w));
    loop {
        let left = deadline.map_or(MAX_LOCK_WAIT, |d| d.saturating_duration_since(Instant::now()));
        let got = ctx.client.lock_acquire(&args.name, owner, lease, left).await?;
        if let (true, Some(token)) = (got.acquired, got.token) {
            return Ok(token);
        }
        let lost = keeper.lost.borrow().clone();
        if let Some(reason) = lost {
            return Err(CliError::failed(format!("gave up waiting for lock '{}': {reason}", args.name)));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(CliError::failed(format!(
                "lock '{}' is {}; gave up after {}s (--wait)",
                args.name,
                holder(ctx, &args.name).await,
                started.elapsed().as_secs()
            )));
        }
    }
}

/// Who holds the lock, for the give-up message.
async fn holder(ctx: &Ctx, name: &str) -> String {
    match ctx.client.lock_status(name).await {
        Ok(status) => match (status.holder, status.token) {
            (Some(h), Some(t)) => format!("held by '{h}' (fencing token {t})"),
            (Some(h), None) => format!("held by '{h}'"),
            (None, _) => "busy".to_string(),
        },
        Err(_) => "busy".to_string(),
    }
}

/// Runs the command to its end, saying at once if the lease is lost meanwhile (then `true`).
async fn run_command(
    command: &[String],
    token: u64,
    keeper: &Keeper,
    name: &str,
    interrupts: &mut Signal,
) -> Result<(ExitStatus, bool), CliError> {
    let (program, rest) = command.split_first().ok_or_else(|| CliError::usage("give the command to run after --"))?;
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .env("FERROCACHE_LOCK_TOKEN", token.to_string())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CliError { code: 127, message: format!("command not found: {program}") },
            _ => CliError { code: 126, message: format!("cannot run {program}: {e}") },
        })?;
    let mut lost = keeper.lost.clone();
    let (mut heard, mut told) = (false, false);
    loop {
        tokio::select! {
            status = child.wait() => {
                return status.map(|s| (s, told)).map_err(|e| CliError::failed(format!("waiting for {program}: {e}")));
            }
            // Ctrl-C reached the command too; keep waiting for it to end.
            _ = interrupts.recv() => {}
            // The keeper sends once, then ends: one wake-up is all there is to see.
            changed = lost.changed(), if !heard => {
                heard = true;
                let reason = lost.borrow().clone();
                if let (Ok(()), Some(reason)) = (changed, reason) {
                    eprintln!("ferrocache: lost lock '{name}' while the command runs: {reason}; fencing token {token} is stale");
                    told = true;
                }
            }
        }
    }
}

/// `Err(reason)` when the lock no longer belongs to `owner` with `token`. An unanswered
/// question counts as held: the keeper reports a lease it could not renew.
async fn still_held(ctx: &Ctx, name: &str, owner: &str, token: u64) -> Result<(), String> {
    match ctx.client.lock_status(name).await {
        Ok(s) if s.holder.as_deref() != Some(owner) || s.token != Some(token) => {
            Err(format!("the lock is now {}", s.holder.map_or("free".to_string(), |h| format!("held by '{h}'"))))
        }
        _ => Ok(()),
    }
}

/// The command's exit code, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        (None, None) => 1,
    }
}

/// Names this process as the lock's owner: host, pid and start time.
fn owner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "host".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{host}/{}/{nanos:08x}", std::process::id())
}

/// Renews the lease in the background; `lost` says why once it is gone.
struct Keeper {
    lost: watch::Receiver<Option<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Keeper {
    fn start(client: Client, lease: u64, ttl: Duration) -> Keeper {
        let (tx, lost) = watch::channel(None);
        let task = tokio::spawn(async move {
            let every = (ttl / 3).max(Duration::from_millis(100));
            let mut renewed = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let reason = match client.lease_keepalive(lease).await {
                    Ok(_) => {
                        renewed = Instant::now();
                        continue;
                    }
                    Err(e) if e.code() == Some("lease_not_found") => format!("lease {lease} expired or was revoked"),
                    Err(e) if renewed.elapsed() >= ttl => format!("could not renew lease {lease} for {}s: {e}", ttl.as_secs()),
                    Err(_) => continue,
                };
                let _ = tx.send(Some(reason));
                return;
            }
        });
        Keeper { lost, task }
    }
}
