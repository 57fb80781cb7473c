//! Errors of the bridge's secrets and certificates: the pseudonym key, the bearer token, the
//! TLS certificate and key. Every message names where the secret came from and never the
//! secret itself.

use std::path::PathBuf;

/// Why a secret or certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// The pseudonym key.
    #[error(transparent)]
    PseudonymKey(#[from] actionlog::pseudonym::KeyError),
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bearer token is unusable.
    #[error("bearer token from {source_name}: {message}")]
    BadToken {
        /// A path or a variable name.
        source_name: String,
        /// What is wrong.
        message: &'static str,
    },
    /// Both a token file and a token variable are set.
    #[error("both a bearer token file and {0} are set: use one")]
    AmbiguousToken(&'static str),
    /// Only one of the certificate and the key was given.
    #[error("TLS needs both tls.cert_file and tls.key_file; only {0} is set")]
    HalfTls(&'static str),
    /// The certificate or key file holds no usable PEM item, or they do not fit together.
    #[error("TLS {what} {path}: {message}")]
    BadTls {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}
