//! Load generator for `bench/config-center.sh`: the same write and watch load against etcd
//! (through its v3 JSON gateway) and Ferrocache's config center (`/v1/`), so the two can be
//! compared in one run on one machine.
//!
//! ```text
//! ferrocache-bench-cc ports N
//! ferrocache-bench-cc put   --system etcd|ferrocache --endpoints URL,URL,.. [--target leader|all]
//!                           [--clients 64] [--secs 10] [--warmup-secs 1] [--value-size 256]
//! ferrocache-bench-cc watch --system etcd|ferrocache --endpoints URL,URL,.. [--watchers 100]
//!                           [--events 200] [--interval-ms 20] [--value-size 256]
//! ```
//!
//! Each run prints one `RESULT ...` line of `name=value` fields for the script to tabulate.
//! A compiled generator on tokio keeps the client's own cost per request small and equal for
//! both systems (both are plain HTTP/1.1 with keep-alive and JSON).

mod api;
mod put;
mod stats;
mod watch;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use api::System;

/// `--name value` options.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let name = flag.strip_prefix("--").ok_or_else(|| format!("expected --option, got '{flag}'"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            map.insert(name.to_string(), value.clone());
        }
        Ok(Options(map))
    }

    fn text(&self, name: &str) -> Result<&str, String> {
        self.0.get(name).map(String::as_str).ok_or_else(|| format!("--{name} is required"))
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{name}: '{v}' is not a number")),
        }
    }

    fn system(&self) -> Result<System, String> {
        System::parse(self.text("system")?)
    }

    fn endpoints(&self) -> Result<Vec<String>, String> {
        Ok(self.text("endpoints")?.split(',').map(|s| s.trim_end_matches('/').to_string()).collect())
    }
}

/// Prints `n` distinct free ports on 127.0.0.1 (all bound at once, so no duplicates).
fn ports(n: usize) -> Result<(), String> {
    let listeners: Vec<_> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let ports: Vec<String> = listeners.iter().map(|l| l.local_addr().map(|a| a.port().to_string())).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    println!("{}", ports.join(" "));
    Ok(())
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or("usage: ferrocache-bench-cc ports|put|watch [--option value]...")?;
    if command == "ports" {
        return ports(rest.first().and_then(|n| n.parse().ok()).ok_or("usage: ports N")?);
    }
    let opts = Options::parse(rest)?;
    match command.as_str() {
        "put" => {
            let config = put::Config {
                system: opts.system()?,
                endpoints: opts.endpoints()?,
                leader_only: match opts.0.get("target").map(String::as_str) {
                    None | Some("leader") => true,
                    Some("all") => false,
                    Some(other) => return Err(format!("--target: '{other}' is not leader or all")),
                },
                clients: opts.number("clients", 64)? as usize,
                duration: Duration::from_secs(opts.number("secs", 10)?),
                warmup: Duration::from_secs(opts.number("warmup-secs", 1)?),
                value_size: opts.number("value-size", 256)? as usize,
            };
            put::run(config).await
        }
        "watch" => {
            let config = watch::Config {
                system: opts.system()?,
                endpoints: opts.endpoints()?,
                watchers: opts.number("watchers", 100)? as usize,
                events: opts.number("events", 200)? as usize,
                interval: Duration::from_millis(opts.number("interval-ms", 20)?),
                value_size: opts.number("value-size", 256)? as usize,
            };
            watch::run(config).await
        }
        other => Err(format!("unknown command '{other}' (ports, put or watch)")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrocache-bench-cc: {e}");
            ExitCode::FAILURE
        }
    }
}
