//! Differential test: Ferrocache must answer random command sequences
//! exactly as redis-server 7.0 does. See `ferrocache_e2e::diff` for the
//! generators, the comparison rules and the `DIFF_*` knobs; a failure
//! prints the seed (`DIFF_SEED=N` reproduces it), the command, both
//! replies and the commands before it.

use ferrocache_e2e::diff::{run, Options};
use ferrocache_e2e::{start, RedisServer};

/// The full run: every generator, 4 runs × 2500 commands (2 in RESP3),
/// unless `DIFF_*` says otherwise.
#[test]
fn ferrocache_answers_like_redis() {
    let redis = RedisServer::start();
    let ferro = start();
    let opts = Options::from_env();
    match run(redis.addr, ferro.addr, &opts) {
        Ok(sent) => println!("differential: {sent} commands agreed"),
        Err(report) => panic!("{report}"),
    }
}

/// The harness itself, on commands that existed from the start (so it
/// keeps passing while families are added): a restricted run in RESP2 and
/// RESP3. Without mutations: the full run breaks commands on purpose.
#[test]
fn harness_runs_on_the_core_commands() {
    let redis = RedisServer::start();
    let ferro = start();
    let only = ["get", "set_plain", "del", "ping", "echo", "select", "multi", "exec", "discard", "watch", "unwatch"];
    let opts = Options { runs: 2, per_run: 800, only: Some(only.map(String::from).to_vec()), mutate: 0.0, ..Options::default() };
    match run(redis.addr, ferro.addr, &opts) {
        Ok(sent) => assert!(sent >= 1600, "{sent}"),
        Err(report) => panic!("{report}"),
    }
}

/// The harness against redis-server itself, every generator: any
/// mismatch here is nondeterminism in the harness (timing, randomness),
/// not a Ferrocache bug, so this keeps the comparison rules honest.
#[test]
fn redis_agrees_with_itself() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    let opts = Options { per_run: 2500, ..Options::default() };
    if let Err(report) = run(a.addr, b.addr, &opts) {
        panic!("{report}");
    }
}
