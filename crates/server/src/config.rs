//! Node settings: one table of parameters that serves the command line, the
//! TOML file and `CONFIG GET/SET`, so all three accept the same names
//! (Redis's, with their aliases) and validate values the same way.

use std::fmt::Write as _;

use ferrocache_store::evict::{Policy, Tuning};

/// The settings of one node. Field names follow Redis's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    pub requirepass: Option<String>,
    pub databases: usize,
    pub maxclients: usize,
    pub proto_max_bulk_len: u64,
    /// Bytes of the replication stream kept for partial resyncs (`repl-backlog-size`).
    pub repl_backlog_size: u64,
    /// Writes are refused unless this many replicas acknowledged within
    /// `min_replicas_max_lag` seconds (0 = off); see `repl::acks`.
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    pub log_level: String,
    /// Close clients idle this many seconds (0 = never).
    pub timeout: u64,
    /// Background task frequency (active expiry runs `hz` times a second).
    pub hz: u32,
    /// Event-loop threads (one per CPU by default).
    pub io_threads: usize,
    /// Normal clients' output buffer limit: hard bytes, soft bytes, soft seconds (0 = none).
    pub obuf_normal: (u64, u64, u64),
    /// Pub/sub subscribers' output buffer limit, same shape (see `crate::pubsub`).
    pub obuf_pubsub: (u64, u64, u64),
    /// Memory limit in bytes for the dataset (0 = none); see `evict.rs`.
    pub maxmemory: u64,
    pub maxmemory_policy: Policy,
    /// Keys sampled per eviction step.
    pub maxmemory_samples: u32,
    pub lfu_log_factor: u32,
    /// Minutes per LFU counter decrement (0 = never).
    pub lfu_decay_time: u32,
    /// 0..100: how much work one command may spend evicting (10 = 500 µs).
    pub maxmemory_eviction_tenacity: u32,
    /// Serve as one node of a cluster: keys are routed by hash slot
    /// (MOVED/ASK), CLUSTER answers, only database 0 exists for clients.
    pub cluster_enabled: bool,
    /// Commands running at least this many microseconds go in the slow
    /// log (negative: none, 0: all); see `slowlog.rs`.
    pub slowlog_log_slower_than: i64,
    /// Entries the slow log keeps.
    pub slowlog_max_len: usize,
    /// Commands running at least this many milliseconds are latency
    /// events (0: off); see `latency.rs`.
    pub latency_monitor_threshold: u64,
}

impl Config {
    /// The eviction settings the keyspace applies on every access.
    pub fn tuning(&self) -> Tuning {
        Tuning {
            policy: self.maxmemory_policy,
            samples: self.maxmemory_samples,
            lfu_log_factor: self.lfu_log_factor,
            lfu_decay_time: self.lfu_decay_time,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: vec!["127.0.0.1".into()],
            port: 6379,
            requirepass: None,
            databases: 16,
            maxclients: 10000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            repl_backlog_size: 1024 * 1024,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            log_level: "info".into(),
            timeout: 0,
            hz: 10,
            io_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            obuf_normal: (0, 0, 0),
            obuf_pubsub: (32 << 20, 8 << 20, 60),
            maxmemory: 0,
            maxmemory_policy: Policy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            maxmemory_eviction_tenacity: 10,
            cluster_enabled: false,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
        }
    }
}

/// One setting: its names, whether it can change at run time, and how to
/// read and write it as text.
pub struct Param {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub mutable: bool,
    /// What values are accepted, for error messages.
    pub accepts: &'static str,
    pub get: fn(&Config) -> String,
    pub set: fn(&mut Config, &str) -> Result<(), String>,
}

const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

/// A collection encoding threshold: process-wide, kept in the store's
/// atomics ([`ferrocache_store::encoding`]) rather than in [`Config`].
macro_rules! limit_param {
    ($name:literal, $alias:literal, $limit:ident, $min:expr, $max:expr) => {
        Param {
            name: $name,
            aliases: if $alias.is_empty() { &[] } else { &[$alias] },
            mutable: true,
            accepts: "an integer",
            get: |_| ferrocache_store::encoding::$limit.get().to_string(),
            set: |_, v| {
                ferrocache_store::encoding::$limit.set(parse_range(v, $min, $max)?);
                Ok(())
            },
        }
    };
}

/// Every setting the server has.
pub static PARAMS: &[Param] = &[
    Param {
        name: "bind",
        aliases: &[],
        mutable: false,
        accepts: "one or more IP addresses separated by spaces",
        get: |c| c.bind.join(" "),
        set: |c, v| {
            let addrs: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
            for a in &addrs {
                a.parse::<std::net::IpAddr>().map_err(|_| format!("'{a}' is not an IP address"))?;
            }
            if addrs.is_empty() {
                return Err("at least one address is needed".into());
            }
            c.bind = addrs;
            Ok(())
        },
    },
    Param {
        name: "port",
        aliases: &[],
        mutable: false,
        accepts: "an integer from 0 to 65535",
        get: |c| c.port.to_string(),
        set: |c, v| {
            c.port = parse_range(v, 0, u16::MAX as i64)? as u16;
            Ok(())
        },
    },
    Param {
        name: "requirepass",
        aliases: &[],
        mutable: true,
        accepts: "a password (empty for none)",
        get: |c| c.requirepass.clone().unwrap_or_default(),
        set: |c, v| {
            c.requirepass = (!v.is_empty()).then(|| v.to_string());
            Ok(())
        },
    },
    Param {
        name: "databases",
        aliases: &[],
        mutable: false,
        accepts: "an integer from 1 to 1000000",
        get: |c| c.databases.to_string(),
        set: |c, v| {
            c.databases = parse_range(v, 1, 1_000_000)? as usize;
            Ok(())
        },
    },
    Param {
        name: "maxclients",
        aliases: &[],
        mutable: true,
        accepts: "an integer from 1 to 4294967295",
        get: |c| c.maxclients.to_string(),
        set: |c, v| {
            c.maxclients = parse_range(v, 1, u32::MAX as i64)? as usize;
            Ok(())
        },
    },
    Param {
        name: "proto-max-bulk-len",
        aliases: &[],
        mutable: true,
        accepts: "a size of at least 1mb, e.g. 536870912 or 512mb",
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, v| {
            const MIN: u64 = 1024 * 1024;
            let n = parse_memory(v)?;
            if n < MIN {
                return Err(format!("argument must be between {MIN} and {} inclusive", i64::MAX));
            }
            c.proto_max_bulk_len = n;
            Ok(())
        },
    },
    Param {
        name: "repl-backlog-size",
        aliases: &[],
        mutable: true,
        accepts: "a size of at least 16kb, e.g. 1048576 or 1mb",
        get: |c| c.repl_backlog_size.to_string(),
        set: |c, v| {
            c.repl_backlog_size = parse_memory(v)?.max(16 * 1024);
            Ok(())
        },
    },
    Param {
        name: "min-replicas-to-write",
        aliases: &["min-slaves-to-write"],
        mutable: true,
        accepts: "an integer from 0 to 2147483647",
        get: |c| c.min_replicas_to_write.to_string(),
        set: |c, v| {
            c.min_replicas_to_write = parse_range(v, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
    },
    Param {
        name: "min-replicas-max-lag",
        aliases: &["min-slaves-max-lag"],
        mutable: true,
        accepts: "seconds, an integer from 0 to 2147483647",
        get: |c| c.min_replicas_max_lag.to_string(),
        set: |c, v| {
            c.min_replicas_max_lag = parse_range(v, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
    },
    Param {
        name: "log-level",
        aliases: &["loglevel"],
        mutable: false,
        accepts: "one of trace, debug, info, warn, error",
        get: |c| c.log_level.clone(),
        set: |c, v| {
            let v = v.to_ascii_lowercase();
            let v = match v.as_str() {
                "verbose" => "debug",
                "notice" => "info",
                "warning" => "warn",
                other => other,
            };
            if !LOG_LEVELS.contains(&v) {
                return Err("argument must be one of trace, debug, info, warn, error".into());
            }
            c.log_level = v.to_string();
            Ok(())
        },
    },
    Param {
        name: "timeout",
        aliases: &[],
        mutable: true,
        accepts: "seconds, 0 for never",
        get: |c| c.timeout.to_string(),
        set: |c, v| {
            c.timeout = parse_range(v, 0, i32::MAX as i64)? as u64;
            Ok(())
        },
    },
    Param {
        name: "hz",
        aliases: &[],
        mutable: true,
        accepts: "an integer; values outside 1 to 500 are clamped to that range",
        get: |c| c.hz.to_string(),
        set: |c, v| {
            c.hz = parse_range(v, 0, i32::MAX as i64)?.clamp(1, 500) as u32;
            Ok(())
        },
    },
    Param {
        name: "io-threads",
        aliases: &[],
        mutable: false,
        accepts: "an integer from 1 to 128 (event-loop threads; default one per CPU)",
        get: |c| c.io_threads.to_string(),
        set: |c, v| {
            c.io_threads = parse_range(v, 1, 128)? as usize;
            Ok(())
        },
    },
    Param {
        name: "client-output-buffer-limit",
        aliases: &[],
        mutable: true,
        accepts: "'<class> <hard> <soft> <seconds>' for the normal and pubsub classes (replica class accepted for compatibility)",
        get: |c| {
            let ((nh, ns, nt), (ph, ps, pt)) = (c.obuf_normal, c.obuf_pubsub);
            format!("normal {nh} {ns} {nt} slave 268435456 67108864 60 pubsub {ph} {ps} {pt}")
        },
        set: |c, v| {
            let words: Vec<&str> = v.split_whitespace().collect();
            if words.is_empty() || !words.len().is_multiple_of(4) {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            // All classes are checked before any changes, as Redis does.
            let mut parsed = Vec::new();
            for w in words.chunks(4) {
                let class = w[0].to_ascii_lowercase();
                if !["normal", "slave", "replica", "pubsub"].contains(&class.as_str()) {
                    return Err("Invalid client class specified in buffer limit configuration.".into());
                }
                let limits = (parse_memory(w[1]), parse_memory(w[2]), parse_range(w[3], 0, i64::MAX));
                let (Ok(hard), Ok(soft), Ok(secs)) = limits else {
                    return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
                };
                parsed.push((class, (hard, soft, secs as u64)));
            }
            for (class, limits) in parsed {
                match class.as_str() {
                    "normal" => c.obuf_normal = limits,
                    "pubsub" => c.obuf_pubsub = limits,
                    _ => {}
                }
            }
            Ok(())
        },
    },
    Param {
        name: "maxmemory",
        aliases: &[],
        mutable: true,
        accepts: "a size, e.g. 100mb or 2gb (0 for no limit)",
        get: |c| c.maxmemory.to_string(),
        set: |c, v| {
            c.maxmemory = parse_memory(v)?;
            Ok(())
        },
    },
    Param {
        name: "maxmemory-policy",
        aliases: &[],
        mutable: true,
        accepts: "noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl or allkeys-s3fifo",
        get: |c| c.maxmemory_policy.name().to_string(),
        set: |c, v| {
            c.maxmemory_policy = Policy::parse(v.trim())
                .ok_or_else(|| format!("argument(s) must be one of the following: {}", Policy::names()))?;
            Ok(())
        },
    },
    Param {
        name: "maxmemory-samples",
        aliases: &[],
        mutable: true,
        accepts: "an integer from 1 to 64",
        get: |c| c.maxmemory_samples.to_string(),
        set: |c, v| {
            c.maxmemory_samples = parse_range(v, 1, 64)? as u32;
            Ok(())
        },
    },
    Param {
        name: "lfu-log-factor",
        aliases: &[],
        mutable: true,
        accepts: "an integer from 0 to 65535",
        get: |c| c.lfu_log_factor.to_string(),
        set: |c, v| {
            c.lfu_log_factor = parse_range(v, 0, 0xffff)? as u32;
            Ok(())
        },
    },
    Param {
        name: "lfu-decay-time",
        aliases: &[],
        mutable: true,
        accepts: "minutes, an integer from 0 to 2147483647",
        get: |c| c.lfu_decay_time.to_string(),
        set: |c, v| {
            c.lfu_decay_time = parse_range(v, 0, i32::MAX as i64)? as u32;
            Ok(())
        },
    },
    Param {
        name: "maxmemory-eviction-tenacity",
        aliases: &[],
        mutable: true,
        accepts: "an integer from 0 to 100",
        get: |c| c.maxmemory_eviction_tenacity.to_string(),
        set: |c, v| {
            c.maxmemory_eviction_tenacity = parse_range(v, 0, 100)? as u32;
            Ok(())
        },
    },
    Param {
        name: "save",
        aliases: &[],
        mutable: true,
        accepts: "\"\" (persistence is not supported yet)",
        get: |_| String::new(),
        set: |_, v| {
            let words: Vec<&str> = v.split_whitespace().collect();
            if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            if words.is_empty() { Ok(()) } else { Err("persistence is not supported".into()) }
        },
    },
    Param {
        name: "slowlog-log-slower-than",
        aliases: &[],
        mutable: true,
        accepts: "microseconds, an integer from -1 (log nothing) up; 0 logs every command",
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: |c, v| {
            c.slowlog_log_slower_than = parse_range(v, -1, i64::MAX)?;
            Ok(())
        },
    },
    Param {
        name: "slowlog-max-len",
        aliases: &[],
        mutable: true,
        accepts: "an integer from 0 to 9223372036854775807",
        get: |c| c.slowlog_max_len.to_string(),
        set: |c, v| {
            c.slowlog_max_len = parse_range(v, 0, i64::MAX)? as usize;
            Ok(())
        },
    },
    Param {
        name: "latency-monitor-threshold",
        aliases: &[],
        mutable: true,
        accepts: "milliseconds, an integer from 0 (off) up",
        get: |c| c.latency_monitor_threshold.to_string(),
        set: |c, v| {
            c.latency_monitor_threshold = parse_range(v, 0, i64::MAX)? as u64;
            Ok(())
        },
    },
    limit_param!("hash-max-listpack-entries", "hash-max-ziplist-entries", HASH_MAX_ENTRIES, 0, i64::MAX),
    limit_param!("hash-max-listpack-value", "hash-max-ziplist-value", HASH_MAX_VALUE, 0, i64::MAX),
    limit_param!("set-max-intset-entries", "", SET_MAX_INTSET_ENTRIES, 0, i64::MAX),
    limit_param!("zset-max-listpack-entries", "zset-max-ziplist-entries", ZSET_MAX_ENTRIES, 0, i64::MAX),
    limit_param!("zset-max-listpack-value", "zset-max-ziplist-value", ZSET_MAX_VALUE, 0, i64::MAX),
    limit_param!("list-max-listpack-size", "list-max-ziplist-size", LIST_MAX_SIZE, i32::MIN as i64, i32::MAX as i64),
    limit_param!("list-compress-depth", "", LIST_COMPRESS_DEPTH, 0, i32::MAX as i64),
    Param {
        name: "cluster-enabled",
        aliases: &[],
        // A node joins or leaves cluster mode only by restarting, as in Redis.
        mutable: false,
        accepts: "yes or no",
        get: |c| if c.cluster_enabled { "yes" } else { "no" }.into(),
        set: |c, v| {
            c.cluster_enabled = parse_bool(v)?;
            Ok(())
        },
    },
    Param {
        name: "appendonly",
        aliases: &[],
        mutable: true,
        accepts: "no (persistence is not supported yet)",
        get: |_| "no".into(),
        set: |_, v| match parse_bool(v)? {
            false => Ok(()),
            true => Err("persistence is not supported".into()),
        },
    },
];

/// The parameter named `name` (or one of its aliases), case-insensitively.
pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
}

/// Parses a byte size with Redis's units: `k`=1000, `kb`=1024, `m`, `mb`, `g`, `gb`
/// (at most `i64::MAX`, as Redis's sizes are signed).
pub fn parse_memory(v: &str) -> Result<u64, String> {
    let lower = v.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(NOT_MEMORY.into()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| NOT_MEMORY.into())
}

const NOT_MEMORY: &str = "argument must be a memory value";

/// An integer in `min..=max`, with Redis's CONFIG SET wording for errors.
fn parse_range(v: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = v.trim().parse().map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(n)
}

/// `yes` or `no`, case-insensitively.
fn parse_bool(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".into())
    }
}

/// A setting error for people: names the setting and what it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingError(pub String);

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingError {}

/// Why a run-time change ([`Config::set_at_runtime`]) was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeSetError {
    /// No setting has this name.
    Unknown(String),
    /// The setting `name` cannot take its value now (immutable, repeated, invalid).
    Rejected { name: String, reason: String },
}

impl Config {
    /// Applies one setting by name, as the command line and the file do.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let Some(p) = param(name) else {
            let mut known = String::new();
            for p in PARAMS {
                let _ = write!(known, "{}{}", if known.is_empty() { "" } else { ", " }, p.name);
            }
            return Err(SettingError(format!("unknown setting '{name}'; known settings: {known}")));
        };
        (p.set)(self, value).map_err(|e| SettingError(format!("invalid value '{value}' for '{}': {e}; accepted: {}", p.name, p.accepts)))
    }

    /// Changes settings at run time (CONFIG SET), all or none: every name
    /// must be known, mutable and given once, and every value valid, or
    /// nothing changes. Names are reported as the client spelled them.
    pub fn set_at_runtime(&mut self, pairs: &[(&str, &str)]) -> Result<(), RuntimeSetError> {
        let rejected = |name: &str, reason: &str| RuntimeSetError::Rejected { name: name.to_string(), reason: reason.to_string() };
        let mut params: Vec<&'static Param> = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            let p = param(name).ok_or_else(|| RuntimeSetError::Unknown(name.to_string()))?;
            if !p.mutable {
                return Err(rejected(name, "can't set immutable config"));
            }
            if params.iter().any(|q| std::ptr::eq(*q, p)) {
                return Err(rejected(name, "duplicate parameter"));
            }
            params.push(p);
        }
        let mut next = self.clone();
        for (p, (name, value)) in params.iter().zip(pairs) {
            (p.set)(&mut next, value).map_err(|e| rejected(name, &e))?;
        }
        *self = next;
        Ok(())
    }

    /// Applies every setting of a TOML document (keys are parameter names).
    pub fn apply_toml(&mut self, text: &str, origin: &str) -> Result<(), SettingError> {
        let table: toml::Table = text.parse().map_err(|e| SettingError(format!("{origin}: {e}")))?;
        for (key, value) in table {
            let text = match &value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            self.apply(&key, &text).map_err(|e| SettingError(format!("{origin}: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("512mb").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_memory("2GB").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_memory("100").unwrap(), 100);
        assert_eq!(parse_memory("1k").unwrap(), 1000);
        assert!(parse_memory("12xb").is_err());
        assert!(parse_memory("").is_err());
        assert!(parse_memory("-1").is_err());
        assert!(parse_memory("9223372036854775808").is_err());
    }

    #[test]
    fn runtime_set_is_all_or_nothing() {
        let mut c = Config::default();
        c.set_at_runtime(&[("hz", "20"), ("maxclients", "5")]).unwrap();
        assert_eq!((c.hz, c.maxclients), (20, 5));
        let before = c.clone();
        let rejected = |name: &str, reason: &str| RuntimeSetError::Rejected { name: name.into(), reason: reason.into() };
        assert_eq!(c.set_at_runtime(&[("hz", "30"), ("timeout", "x")]), Err(rejected("timeout", "argument couldn't be parsed into an integer")));
        assert_eq!(c.set_at_runtime(&[("hz", "30"), ("nope", "1")]), Err(RuntimeSetError::Unknown("nope".into())));
        assert_eq!(c.set_at_runtime(&[("LogLevel", "debug")]), Err(rejected("LogLevel", "can't set immutable config")));
        assert_eq!(c.set_at_runtime(&[("hz", "1"), ("HZ", "2")]), Err(rejected("HZ", "duplicate parameter")));
        assert_eq!(c.set_at_runtime(&[("cluster-enabled", "yes")]), Err(rejected("cluster-enabled", "can't set immutable config")));
        assert_eq!(c, before);
        c.set_at_runtime(&[("hz", "0")]).unwrap();
        assert_eq!(c.hz, 1, "hz is clamped to 1..=500");
    }

    #[test]
    fn eviction_settings() {
        let mut c = Config::default();
        c.apply("maxmemory", "2gb").unwrap();
        c.apply("maxmemory-policy", "ALLKEYS-S3FIFO").unwrap();
        c.apply("maxmemory-samples", "10").unwrap();
        c.apply("lfu-log-factor", "0").unwrap();
        c.apply("lfu-decay-time", "0").unwrap();
        let t = c.tuning();
        assert_eq!((c.maxmemory, t.policy, t.samples, t.lfu_log_factor, t.lfu_decay_time), (2 << 30, Policy::AllkeysS3fifo, 10, 0, 0));
        assert_eq!((param("maxmemory-policy").unwrap().get)(&c), "allkeys-s3fifo");
        let e = c.apply("maxmemory-policy", "lru").unwrap_err().0;
        assert!(e.contains("must be one of the following: noeviction, allkeys-lru"), "{e}");
        assert!(c.apply("maxmemory-samples", "0").is_err());
        assert!(c.apply("maxmemory-eviction-tenacity", "101").is_err());
    }

    #[test]
    fn min_replicas_settings_and_their_old_names() {
        let mut c = Config::default();
        assert_eq!((c.min_replicas_to_write, c.min_replicas_max_lag), (0, 10));
        c.apply("min-slaves-to-write", "2").unwrap();
        c.apply("min-slaves-max-lag", "3").unwrap();
        assert_eq!((c.min_replicas_to_write, c.min_replicas_max_lag), (2, 3));
        assert_eq!((param("min-replicas-max-lag").unwrap().get)(&c), "3");
        assert!(c.apply("min-replicas-to-write", "-1").is_err());
    }

    #[test]
    fn toml_and_errors() {
        let mut c = Config::default();
        c.apply_toml("port = 7000\nbind = [\"127.0.0.1\", \"::1\"]\nproto-max-bulk-len = \"2mb\"\nloglevel = \"warning\"", "node.toml")
            .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.proto_max_bulk_len, 2 * 1024 * 1024);
        assert_eq!(c.log_level, "warn");
        let e = c.apply_toml("prot = 1", "node.toml").unwrap_err().0;
        assert!(e.contains("unknown setting 'prot'") && e.contains("port"), "{e}");
        c.apply_toml("cluster-enabled = true", "node.toml").unwrap();
        assert!(c.cluster_enabled);
        c.apply("cluster-enabled", "NO").unwrap();
        assert!(!c.cluster_enabled);
        assert!(c.apply("cluster-enabled", "1").unwrap_err().0.contains("accepted: yes or no"));
        let e = c.apply("databases", "0").unwrap_err().0;
        assert!(e.contains("'databases'") && e.contains("accepted"), "{e}");
    }
}
