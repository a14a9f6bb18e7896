//! What every control-plane command shares: the connection flags (`--url`, `--token`, `--ca`,
//! `--output`), the running context, and how a failure becomes a one-line message and an exit
//! code (2 = the command line or a local file is wrong, 1 = the operation failed).

use std::future::Future;
use std::process::ExitCode;

use ferrocache_control::client::{Client, ClientError};

use crate::output::Format;

pub const DEFAULT_URL: &str = "http://127.0.0.1:7379";

/// Connection flags; `global` so they may follow the subcommand (`config get k --url ...`).
#[derive(clap::Args)]
pub struct Conn {
    /// Admin URL of any control-plane node.
    #[arg(long, global = true, env = "FERROCACHE_URL", default_value = DEFAULT_URL, value_name = "URL", help_heading = "Connection")]
    url: String,
    /// Bearer token, when the node has a token file.
    #[arg(long, global = true, env = "FERROCACHE_TOKEN", hide_env_values = true, value_name = "TOKEN", help_heading = "Connection")]
    token: Option<String>,
    /// PEM file of the CA that signed the node's certificate, for an https:// URL with a private CA.
    #[arg(long, global = true, env = "FERROCACHE_CA", value_name = "FILE", help_heading = "Connection")]
    ca: Option<std::path::PathBuf>,
    /// `text` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text, value_name = "FORMAT", help_heading = "Connection")]
    output: Format,
}

/// A command's view of the world: the client and the output format.
pub struct Ctx {
    pub client: Client,
    pub format: Format,
}

impl Ctx {
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Prints `value` as JSON, or hands it to `human` for the text form.
    pub fn show<T: serde::Serialize>(&self, value: &T, human: impl FnOnce(&T)) {
        match self.format {
            Format::Json => crate::output::print_json(value),
            Format::Text => human(value),
        }
    }
}

/// A failed command: the message (without the `ferrocache:` prefix) and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// Wrong invocation or unusable local input: exit code 2.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { code: 2, message: message.into() }
    }

    /// The operation failed: exit code 1.
    pub fn failed(message: impl Into<String>) -> CliError {
        CliError { code: 1, message: message.into() }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        match &e {
            ClientError::InvalidUrl { .. } => CliError::usage(format!("{e} (set --url or FERROCACHE_URL)")),
            ClientError::Tls(_) => CliError::usage(format!("{e} (set --ca or FERROCACHE_CA)")),
            ClientError::Unreachable { reason, .. } if reason.contains("certificate") => CliError::failed(format!(
                "{e} — the node's certificate is not trusted: give the CA that signed it with --ca or FERROCACHE_CA"
            )),
            ClientError::Unreachable { .. } => {
                CliError::failed(format!("{e} — is `ferrocache server` running? set --url or FERROCACHE_URL"))
            }
            ClientError::Api(api) => CliError::failed(format!("{}{}", api.message, hint(&api.code))),
            ClientError::Protocol { .. } | ClientError::BadValue(_) => {
                CliError::failed(format!("{e} — is --url the admin port of a ferrocache node?"))
            }
        }
    }
}

/// What to do about an API error, by its code.
fn hint(code: &str) -> &'static str {
    match code {
        "unauthorized" => " — give a valid token with --token or FERROCACHE_TOKEN",
        "forbidden" => " — use a token whose role and prefix allow this",
        "conflict" => " — the key changed meanwhile: read it again and retry with its current revision",
        "unavailable" => " — the cluster has no leader right now; retry shortly",
        "tls_required" => " — give --url https://HOST:PORT (and --ca FILE for a private CA)",
        _ => "",
    }
}

/// Runs a control-plane command on a single-threaded runtime and turns its result into the
/// process's exit code (`Ok(n)` = exit code n, e.g. the child's under `lock`).
pub fn run<F, Fut>(conn: Conn, command: F) -> ExitCode
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<u8, CliError>>,
{
    let result = connect(conn).and_then(|ctx| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))?;
        runtime.block_on(command(ctx))
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ferrocache: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

fn connect(conn: Conn) -> Result<Ctx, CliError> {
    let mut client = Client::with_ca(&conn.url, conn.token, conn.ca.as_deref())?;
    if let Ok(user) = std::env::var("USER") {
        client = client.with_actor(user);
    }
    Ok(Ctx { client, format: conn.output })
}
