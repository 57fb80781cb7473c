//! The OTLP/HTTP receivers (`POST /v1/traces` and `POST /v1/logs`, protobuf or JSON,
//! optionally gzip) and the operational endpoints (`/healthz`, `/readyz`, `/metrics`).
//!
//! Answers follow the OTLP/HTTP specification, the same for both signals: 200 with an
//! `ExportTraceServiceResponse` or `ExportLogsServiceResponse` in the request's encoding
//! (with `partial_success` when spans or log records were rejected); 400 with a
//! `google.rpc.Status` body for a body that does not decode; 413 over the size limit; 415
//! for an unsupported content type or encoding; 503 (sinks pushed back, shutting down) or
//! 429 (too many requests in flight) with `Retry-After`, which OTLP clients retry.

use std::future::Future;
use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::net::TcpListener;

use super::{Ingest, IngestError, IngestOutcome, Protection};

/// What differs between the two OTLP/HTTP export endpoints: the request type, how it is
/// ingested, and the response it gets.
trait Export: Message + Default + serde::de::DeserializeOwned + Send + 'static {
    /// The message name, for error messages.
    const NAME: &'static str;
    /// The success response.
    type Response: Message + serde::Serialize;
    fn ingest(
        self,
        ingest: &Ingest,
    ) -> impl Future<Output = Result<IngestOutcome, IngestError>> + Send;
    fn response(out: &IngestOutcome) -> Self::Response;
}

impl Export for ExportTraceServiceRequest {
    const NAME: &'static str = "ExportTraceServiceRequest";
    type Response = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    fn ingest(
        self,
        ingest: &Ingest,
    ) -> impl Future<Output = Result<IngestOutcome, IngestError>> + Send {
        ingest.ingest(self, "http")
    }
    fn response(out: &IngestOutcome) -> Self::Response {
        crate::answer::response_for(out)
    }
}

impl Export for ExportLogsServiceRequest {
    const NAME: &'static str = "ExportLogsServiceRequest";
    type Response = opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    fn ingest(
        self,
        ingest: &Ingest,
    ) -> impl Future<Output = Result<IngestOutcome, IngestError>> + Send {
        ingest.ingest_logs(self, "http")
    }
    fn response(out: &IngestOutcome) -> Self::Response {
        crate::answer::logs_response_for(out)
    }
}

/// HTTP receiver settings.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// Largest body accepted, compressed or not.
    pub max_body_bytes: usize,
    /// Seconds sent in `Retry-After`.
    pub retry_after_secs: u32,
}

#[derive(Debug, Clone)]
struct AppState {
    ingest: Arc<Ingest>,
    settings: HttpSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// An answer other than 200.
struct Refusal {
    status: StatusCode,
    /// `google.rpc.Code` for the body.
    rpc_code: i32,
    reason: &'static str,
    message: String,
    retry_after: bool,
}

impl Refusal {
    fn new(
        status: StatusCode,
        rpc_code: i32,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            rpc_code,
            reason,
            message: message.into(),
            retry_after: false,
        }
    }
}

/// The router with every endpoint.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/traces", post(export::<ExportTraceServiceRequest>))
        .route("/v1/logs", post(export::<ExportLogsServiceRequest>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.ingest.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.ingest.metrics().render(),
    )
        .into_response()
}

async fn export<R: Export>(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    // Until the content type is known, errors are answered in protobuf, OTLP's default.
    let mut encoding = Encoding::Protobuf;
    let result = async {
        encoding = content_encoding_of(&headers)?;
        let raw = read_body(&headers, body, st.settings.max_body_bytes).await?;
        let req: R = decode(encoding, &raw)?;
        req.ingest(&st.ingest).await.map_err(|e| {
            let (status, reason) = match e {
                IngestError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "busy"),
                IngestError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                IngestError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            };
            Refusal {
                retry_after: true,
                ..Refusal::new(status, 14, reason, e.to_string())
            }
        })
    }
    .await;
    match result {
        Ok(out) => {
            let resp = R::response(&out);
            let bytes = match encoding {
                Encoding::Protobuf => resp.encode_to_vec(),
                // OTLP/JSON omits fields at their default: a full success is `{}`.
                Encoding::Json if out.rejected == 0 => b"{}".to_vec(),
                Encoding::Json => serde_json::to_vec(&resp).unwrap_or_else(|_| b"{}".to_vec()),
            };
            ([(header::CONTENT_TYPE, encoding.content_type())], bytes).into_response()
        }
        Err(r) => {
            st.ingest.metrics().request_rejected("http", r.reason);
            tracing::debug!(status = %r.status, reason = r.reason, message = %r.message, "request refused");
            let (content_type, body) =
                crate::answer::error_body(encoding == Encoding::Json, r.rpc_code, r.message);
            let mut resp = (r.status, [(header::CONTENT_TYPE, content_type)], body).into_response();
            if r.retry_after
                && let Ok(v) = HeaderValue::from_str(&st.settings.retry_after_secs.to_string())
            {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

fn content_encoding_of(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            "unsupported_media_type",
            format!(
                "unsupported content type {ct:?}: send application/x-protobuf or application/json"
            ),
        )),
    }
}

fn too_large(limit: usize) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        8,
        "too_large",
        format!("request body larger than the limit of {limit} bytes"),
    )
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let raw = axum::body::to_bytes(body, limit).await.map_err(|e| {
        // The only error besides the limit is a broken connection, which nobody will read.
        let _ = e;
        too_large(limit)
    })?;
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" => {
            let mut out = Vec::with_capacity(raw.len() * 4);
            // Read one byte past the limit to tell "exactly at the limit" from "over it",
            // without ever inflating a zip bomb beyond that.
            let mut dec = flate2::read::MultiGzDecoder::new(&raw[..]).take(limit as u64 + 1);
            dec.read_to_end(&mut out).map_err(|e| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    3,
                    "decode_error",
                    format!("invalid gzip body: {e}"),
                )
            })?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(Bytes::from(out))
        }
        other => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            "unsupported_encoding",
            format!("unsupported content encoding {other:?}: send gzip or identity"),
        )),
    }
}

/// Decodes an uncompressed OTLP/HTTP traces body exactly as the receiver does: OTLP/JSON
/// when `json`, protobuf otherwise. The error is the message a client would get. Public so
/// the fuzz targets in `fuzz/` exercise the receiver's own decoder.
pub fn decode_traces_body(json: bool, raw: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let encoding = if json {
        Encoding::Json
    } else {
        Encoding::Protobuf
    };
    decode(encoding, raw).map_err(|r| r.message)
}

/// [`decode_traces_body`] for an OTLP/HTTP logs body.
pub fn decode_logs_body(json: bool, raw: &[u8]) -> Result<ExportLogsServiceRequest, String> {
    let encoding = if json {
        Encoding::Json
    } else {
        Encoding::Protobuf
    };
    decode(encoding, raw).map_err(|r| r.message)
}

fn decode<R: Export>(encoding: Encoding, raw: &[u8]) -> Result<R, Refusal> {
    match encoding {
        Encoding::Protobuf => R::decode(raw).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                3,
                "decode_error",
                format!("body is not a valid protobuf {}: {e}", R::NAME),
            )
        }),
        Encoding::Json => serde_json::from_slice(raw).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                3,
                "decode_error",
                format!("body is not a valid OTLP/JSON {}: {e}", R::NAME),
            )
        }),
    }
}

/// Serves the HTTP endpoints on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    settings: HttpSettings,
    protection: Protection,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let metrics = ingest.metrics().clone();
    let app = router(AppState { ingest, settings });
    let app = super::auth::require_bearer(app, protection.auth, metrics);
    let served = match protection.tls {
        Some(tls) => {
            let listener = super::tls::TlsListener::new(listener, tls.http_acceptor())
                .map_err(|e| e.to_string())?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            use axum::serve::ListenerExt;
            // Small responses go out at once, as on the gRPC port.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    served.map_err(|e| e.to_string())
}
