//! Optional TLS (rustls) for the admin port: the API, Raft RPC, joining and forwarding.
//!
//! One port carries both the operators' API and node-to-node traffic, so TLS is all or nothing:
//! a node given a certificate and key serves HTTPS only, advertises an `https://` URL, and talks
//! to its peers over HTTPS. Peers are verified against the CA file when one is given (a private
//! CA, the usual case inside a cluster), otherwise against the system's roots.
//!
//! Files are read and checked when the node starts, so a wrong path, a file with no PEM block or
//! a key that does not belong to the certificate stops the start with a message naming the file,
//! instead of surfacing later as failed handshakes.
//!
//! Handshakes run on their own tasks (bounded by [`HANDSHAKE_TIMEOUT`]) so that one slow or
//! silent client cannot hold up the accept loop. A client that speaks plain HTTP to the TLS
//! port is answered, in plain HTTP, with a JSON error telling it to use `https://`, which is far
//! easier to act on than a broken connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// Longest a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepted connections waiting for the HTTP server to pick them up.
const BACKLOG: usize = 64;

/// Certificate files of a node's admin port (all PEM).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// The node's certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates that peers' certificates must chain to; the system roots when absent.
    pub ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The rustls server settings, with every file read and checked.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let chain = read_certs(&self.cert, "certificate (--admin-tls-cert)")?;
        let key = read_key(&self.key)?;
        let mut config = ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).map_err(|e| {
            format!(
                "the admin TLS key {} does not fit the certificate {}: {e}; give the key the certificate was issued for",
                self.key.display(),
                self.cert.display()
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Reads and checks every file, as a node's start does; for front ends that want to report
    /// a setup error before starting anything.
    pub fn check(&self) -> Result<(), String> {
        self.server_config()?;
        self.peer_roots().map(drop)
    }

    /// The CA certificates peers must chain to, if a CA file was given.
    pub(crate) fn peer_roots(&self) -> Result<Option<Vec<reqwest::Certificate>>, String> {
        self.ca.as_deref().map(|path| ca_certificates(path, "CA file (--admin-tls-ca)")).transpose()
    }
}

/// Reads a PEM file of CA certificates for a client to trust; `what` names the file in errors
/// (e.g. "CA file (--ca)").
pub fn ca_certificates(path: &Path, what: &str) -> Result<Vec<reqwest::Certificate>, String> {
    let certs = read_certs(path, what)?;
    certs
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the {what} {} holds a certificate that cannot be used: {e}", path.display()))
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}; check the path and its permissions", path.display()))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the {what} {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} {} holds no certificate; expected PEM blocks starting with -----BEGIN CERTIFICATE-----",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let what = "private key (--admin-tls-key)";
    let pem = read_file(path, what)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "the {what} {} holds no usable private key ({e}); expected a PEM block such as -----BEGIN PRIVATE KEY-----",
            path.display()
        )
    })
}

/// A listener that hands axum connections whose TLS handshake has completed.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp`; the accept task ends once the listener is dropped.
    pub(crate) fn new(tcp: TcpListener, local: SocketAddr, config: Arc<ServerConfig>) -> TlsListener {
        let (tx, ready) = mpsc::channel(BACKLOG);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx));
        TlsListener { ready, local }
    }
}

async fn accept_loop(tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = tx.closed() => return,
            accepted = tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("admin port accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Some(tls) = handshake(acceptor, stream, peer).await {
                let _ = tx.send((tls, peer)).await;
            }
        });
    }
}

/// A TLS record starts with its content type; 22 is a handshake.
const TLS_HANDSHAKE_RECORD: u8 = 22;

async fn handshake(acceptor: TlsAcceptor, stream: TcpStream, peer: SocketAddr) -> Option<TlsStream<TcpStream>> {
    let _ = stream.set_nodelay(true);
    let work = async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await.ok()? == 0 {
            return None;
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            refuse_plain_http(stream).await;
            return None;
        }
        match acceptor.accept(stream).await {
            Ok(tls) => Some(tls),
            Err(e) => {
                tracing::debug!("TLS handshake with {peer} failed: {e}");
                None
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work).await.ok().flatten()
}

/// Answers a plain-HTTP request on the TLS port with a JSON error, then closes.
async fn refuse_plain_http(mut stream: TcpStream) {
    // Take in the request first: closing with unread bytes resets the connection, and the client
    // would see a reset instead of the answer.
    let mut request = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    let error = crate::ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "tls_required",
        "this admin port serves HTTPS only; use an https:// URL",
    );
    let body = serde_json::json!({ "error": error }).to_string();
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task only stops once this listener is gone; never resolve otherwise.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
