//! TLS for both receivers (rustls on the `ring` provider).
//!
//! One certificate chain and key (PEM files) serve gRPC and HTTP. They are loaded and
//! checked against each other when the configuration is loaded, so a wrong file stops the
//! bridge at start-up with a message naming it. gRPC hands them to tonic's own TLS
//! ([`tonic::transport::ServerTlsConfig`]); HTTP wraps the listener in [`TlsListener`],
//! which handshakes in background tasks so one slow or silent client cannot hold up the
//! accept loop. A plaintext client on a TLS port fails its handshake: the connection is
//! closed and the failure logged at debug level.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;

use super::SecurityError;

/// Environment variable with the certificate chain file.
pub const CERT_FILE_ENV: &str = "ACTIONLOG_TLS_CERT_FILE";
/// Environment variable with the private key file.
pub const KEY_FILE_ENV: &str = "ACTIONLOG_TLS_KEY_FILE";
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the HTTP server to take them.
const ACCEPT_QUEUE: usize = 64;

/// The `[tls]` table: both files, or neither (plaintext).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first (`ACTIONLOG_TLS_CERT_FILE`, `--tls-cert`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key, PKCS#8, PKCS#1 or SEC1 (`ACTIONLOG_TLS_KEY_FILE`, `--tls-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The loaded files, set by [`TlsConfig::load`].
    #[serde(skip)]
    pub loaded: Option<TlsMaterial>,
}

/// A certificate chain and key read and checked against each other.
#[derive(Clone)]
pub struct TlsMaterial {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    http: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial { key: [REDACTED] }")
    }
}

impl PartialEq for TlsMaterial {
    fn eq(&self, other: &Self) -> bool {
        self.cert_pem == other.cert_pem && self.key_pem == other.key_pem
    }
}

impl TlsConfig {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    pub(crate) fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let path = |v: &str| env(v).filter(|s| !s.trim().is_empty()).map(PathBuf::from);
        if let Some(p) = path(CERT_FILE_ENV) {
            self.cert_file = Some(p);
        }
        if let Some(p) = path(KEY_FILE_ENV) {
            self.key_file = Some(p);
        }
    }

    pub(crate) fn apply(&mut self, flags: TlsConfig) {
        if flags.cert_file.is_some() {
            self.cert_file = flags.cert_file;
        }
        if flags.key_file.is_some() {
            self.key_file = flags.key_file;
        }
    }

    /// Reads both files and checks that the key belongs to the certificate.
    pub fn load(&mut self) -> Result<(), SecurityError> {
        self.loaded = match (&self.cert_file, &self.key_file) {
            (None, None) => None,
            (Some(_), None) => return Err(SecurityError::HalfTls("tls.cert_file")),
            (None, Some(_)) => return Err(SecurityError::HalfTls("tls.key_file")),
            (Some(c), Some(k)) => Some(TlsMaterial::load(c, k)?),
        };
        Ok(())
    }
}

impl TlsMaterial {
    fn load(cert_file: &Path, key_file: &Path) -> Result<Self, SecurityError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| SecurityError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read("TLS certificate file", cert_file)?;
        let key_pem = read("TLS private key file", key_file)?;
        let bad = |what, path: &Path, message: String| SecurityError::BadTls {
            what,
            path: path.to_path_buf(),
            message,
        };
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("certificate", cert_file, format!("not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                "certificate",
                cert_file,
                "no CERTIFICATE block found (a PEM certificate chain is expected)".into(),
            ));
        }
        // The parser's errors never quote the key material, only what was missing.
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            bad(
                "private key",
                key_file,
                format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
            )
        })?;
        let mut http = server_config_builder()
            .map_err(|e| bad("certificate", cert_file, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                bad(
                    "private key",
                    key_file,
                    format!("does not fit certificate {}: {e}", cert_file.display()),
                )
            })?;
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            cert_pem,
            key_pem,
            http: Arc::new(http),
        })
    }

    /// tonic's TLS settings for the gRPC receiver.
    pub fn grpc(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(
            &self.cert_pem,
            &self.key_pem,
        ))
    }

    /// The acceptor for the HTTP receiver.
    pub fn http_acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.http.clone())
    }
}

/// The ring provider explicitly: the process-wide default is not set, and relying on it
/// would panic should another dependency ever enable a second provider.
fn server_config_builder()
-> Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>, rustls::Error> {
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
}

/// A TLS listener for [`axum::serve()`]: accepts TCP, handshakes in background tasks and
/// hands out finished TLS streams. Dropping it stops the accept loop.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener`.
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        let accept_loop = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "TLS accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // As on the plain ports: no Nagle delay on small responses.
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped, so this cannot
            // happen while it is being polled; waiting forever keeps the contract.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
