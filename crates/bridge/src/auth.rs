//! Bearer-token authentication for both receivers.
//!
//! With a token configured, every OTLP export must carry `authorization: Bearer <token>`
//! (what the OpenTelemetry SDKs send with
//! `OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer <token>"`). Anything else is answered
//! gRPC `UNAUTHENTICATED` / HTTP 401 before the request body is decoded, and counted in
//! `actionlog_requests_unauthenticated_total{protocol}`. `/healthz`, `/readyz` and
//! `/metrics` stay open, so probes and scrapers need no secret (the metrics hold counts,
//! never payloads).
//!
//! The presented token is compared in constant time ([`subtle`]) over the SHA-256 digests
//! of both tokens, so neither the content nor the length of the real token leaks through
//! response timing. The token comes from a file or an environment variable, never from a
//! command-line value.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Metrics, SecurityError};

/// Environment variable holding the token itself.
pub const TOKEN_ENV: &str = "ACTIONLOG_AUTH_TOKEN";
/// Environment variable holding the path of a file with the token.
pub const TOKEN_FILE_ENV: &str = "ACTIONLOG_AUTH_TOKEN_FILE";
/// Shortest token accepted, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;
/// Paths of the HTTP listener that need no token.
pub const OPEN_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// The `[auth]` table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// File holding the bearer token clients must present (`ACTIONLOG_AUTH_TOKEN_FILE`,
    /// `--auth-token-file`; or the token itself in `ACTIONLOG_AUTH_TOKEN`). Unset: no
    /// authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The loaded token, set by [`AuthConfig::load`]; never read from or written to TOML.
    #[serde(skip)]
    pub token: Option<BearerToken>,
}

impl AuthConfig {
    pub(crate) fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(p) = env(TOKEN_FILE_ENV).filter(|s| !s.trim().is_empty()) {
            self.token_file = Some(PathBuf::from(p));
        }
    }

    /// Loads the token from the file or from [`TOKEN_ENV`].
    pub fn load(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), SecurityError> {
        let inline = env(TOKEN_ENV).filter(|v| !v.is_empty());
        self.token = match (&self.token_file, inline) {
            (Some(_), Some(_)) => return Err(SecurityError::AmbiguousToken(TOKEN_ENV)),
            (Some(path), None) => {
                let raw = std::fs::read(path).map_err(|source| SecurityError::Read {
                    what: "bearer token file",
                    path: path.clone(),
                    source,
                })?;
                Some(BearerToken::new(&raw, &path.display().to_string())?)
            }
            (None, Some(v)) => Some(BearerToken::new(v.as_bytes(), TOKEN_ENV)?),
            (None, None) => None,
        };
        Ok(())
    }
}

/// The expected token, kept only as its SHA-256 digest. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `authorization` header, or not a `Bearer` one.
    Missing,
    /// A bearer token that is not the configured one.
    Invalid,
}

impl AuthFailure {
    fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "authorization required: send 'authorization: Bearer <token>'",
            AuthFailure::Invalid => "invalid bearer token",
        }
    }
}

impl BearerToken {
    /// A token from `raw` (surrounding whitespace ignored, so a file ending in a newline
    /// works). It must be at least [`MIN_TOKEN_BYTES`] of visible ASCII, which is what fits
    /// in a header unescaped.
    pub fn new(raw: &[u8], source_name: &str) -> Result<Self, SecurityError> {
        let t = raw.trim_ascii();
        let bad = |message| SecurityError::BadToken {
            source_name: source_name.to_owned(),
            message,
        };
        if t.is_empty() {
            return Err(bad("it is empty"));
        }
        if !t.iter().all(u8::is_ascii_graphic) {
            return Err(bad(
                "it holds spaces, control or non-ASCII characters, which a header cannot carry",
            ));
        }
        if t.len() < MIN_TOKEN_BYTES {
            return Err(bad(
                "it is shorter than 16 bytes (e.g. `openssl rand -hex 32`)",
            ));
        }
        Ok(Self {
            digest: Sha256::digest(t).into(),
        })
    }

    /// Checks an `authorization` header value (`Bearer <token>`, scheme in any case).
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), AuthFailure> {
        let value = authorization.ok_or(AuthFailure::Missing)?.trim_ascii();
        let (scheme, token) = match value.iter().position(|b| *b == b' ') {
            Some(i) => (&value[..i], value[i..].trim_ascii()),
            None => return Err(AuthFailure::Missing),
        };
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return Err(AuthFailure::Missing);
        }
        let presented: [u8; 32] = Sha256::digest(token).into();
        if bool::from(presented.ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(AuthFailure::Invalid)
        }
    }
}

/// The gRPC check, as a tonic interceptor (runs before the message is decoded).
#[derive(Debug, Clone)]
pub struct GrpcAuth {
    token: Option<Arc<BearerToken>>,
    metrics: Arc<Metrics>,
}

impl GrpcAuth {
    /// Lets everything through when `token` is `None`.
    pub fn new(token: Option<BearerToken>, metrics: Arc<Metrics>) -> Self {
        Self {
            token: token.map(Arc::new),
            metrics,
        }
    }
}

impl tonic::service::Interceptor for GrpcAuth {
    fn call(&mut self, req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let Some(token) = &self.token else {
            return Ok(req);
        };
        let header = req.metadata().get("authorization").map(|v| v.as_bytes());
        match token.check(header) {
            Ok(()) => Ok(req),
            Err(f) => {
                self.metrics.unauthenticated("grpc");
                tracing::debug!(failure = ?f, "gRPC request refused: unauthenticated");
                Err(tonic::Status::unauthenticated(f.message()))
            }
        }
    }
}

/// Puts the HTTP check in front of every route but [`OPEN_PATHS`].
pub fn require_bearer(app: Router, token: Option<BearerToken>, metrics: Arc<Metrics>) -> Router {
    let Some(token) = token.map(Arc::new) else {
        return app;
    };
    app.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let token = token.clone();
        let metrics = metrics.clone();
        async move {
            if OPEN_PATHS.contains(&req.uri().path()) {
                return next.run(req).await;
            }
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            match token.check(header) {
                Ok(()) => next.run(req).await,
                Err(f) => {
                    metrics.unauthenticated("http");
                    metrics.request_rejected("http", "unauthenticated");
                    tracing::debug!(failure = ?f, path = %req.uri().path(), "HTTP request refused: unauthenticated");
                    unauthorized(&req, f)
                }
            }
        }
    }))
}

/// 401 with a `google.rpc.Status` (code 16) body in the request's encoding, as OTLP/HTTP
/// answers errors.
fn unauthorized(req: &Request, f: AuthFailure) -> Response {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let (content_type, body) = crate::answer::error_body(json, 16, f.message().to_owned());
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, content_type),
            (header::WWW_AUTHENTICATE, "Bearer realm=\"actionlog\""),
        ],
        Body::from(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cr3t-token-0123456789";

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let t = BearerToken::new(format!("{TOKEN}\n").as_bytes(), "test").unwrap();
        assert_eq!(t.check(Some(format!("Bearer {TOKEN}").as_bytes())), Ok(()));
        assert_eq!(
            t.check(Some(format!("bearer  {TOKEN} ").as_bytes())),
            Ok(())
        );
        assert_eq!(t.check(None), Err(AuthFailure::Missing));
        assert_eq!(t.check(Some(TOKEN.as_bytes())), Err(AuthFailure::Missing));
        assert_eq!(
            t.check(Some(format!("Basic {TOKEN}").as_bytes())),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            t.check(Some(format!("Bearer {TOKEN}x").as_bytes())),
            Err(AuthFailure::Invalid)
        );
        // A scheme with no credentials presents no token at all.
        assert_eq!(t.check(Some(b"Bearer ")), Err(AuthFailure::Missing));
        assert_eq!(t.check(Some(b"Bearer x")), Err(AuthFailure::Invalid));
    }

    #[test]
    fn weak_or_unsendable_tokens_are_refused_without_quoting_them() {
        for raw in ["", "short-token", "has a space in it, long enough"] {
            let e = BearerToken::new(raw.as_bytes(), "ENV")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("bearer token from ENV"), "{e}");
            if !raw.is_empty() {
                assert!(!e.contains(raw), "{e}");
            }
        }
        assert!(!format!("{:?}", BearerToken::new(TOKEN.as_bytes(), "t").unwrap()).contains(TOKEN));
    }

    #[test]
    fn token_file_and_variable_together_are_ambiguous() {
        let mut c = AuthConfig {
            token_file: Some("/nonexistent".into()),
            token: None,
        };
        let env = |k: &str| (k == TOKEN_ENV).then(|| TOKEN.to_owned());
        assert!(matches!(
            c.load(&env),
            Err(SecurityError::AmbiguousToken(_))
        ));
        c.token_file = None;
        c.load(&env).unwrap();
        assert!(c.token.is_some());
    }
}
