//! The OTLP/gRPC receivers: `opentelemetry.proto.collector.trace.v1.TraceService/Export`
//! and `opentelemetry.proto.collector.logs.v1.LogsService/Export`, on one port.
//!
//! Status mapping, the same for both: success (with `partial_success` when some spans or
//! log records were rejected) only after
//! the sinks accepted; `UNAVAILABLE` when the sinks pushed back, the bridge is busy or shutting
//! down (the OTLP clients retry it); `RESOURCE_EXHAUSTED` for a message over the size limit and
//! `INTERNAL` for one that does not decode (both produced by tonic before the handler runs).

use std::future::Future;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::{Ingest, IngestError, Protection};

/// The traces service.
#[derive(Debug, Clone)]
pub struct TraceReceiver {
    ingest: Arc<Ingest>,
}

impl TraceReceiver {
    /// A receiver feeding `ingest`.
    pub fn new(ingest: Arc<Ingest>) -> Self {
        Self { ingest }
    }
}

#[tonic::async_trait]
impl TraceService for TraceReceiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.ingest.ingest(request.into_inner(), "grpc").await {
            Ok(out) => Ok(Response::new(crate::answer::response_for(&out))),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The logs service.
#[derive(Debug, Clone)]
pub struct LogsReceiver {
    ingest: Arc<Ingest>,
}

impl LogsReceiver {
    /// A receiver feeding `ingest`.
    pub fn new(ingest: Arc<Ingest>) -> Self {
        Self { ingest }
    }
}

#[tonic::async_trait]
impl LogsService for LogsReceiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        match self.ingest.ingest_logs(request.into_inner(), "grpc").await {
            Ok(out) => Ok(Response::new(crate::answer::logs_response_for(&out))),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Every whole-request refusal of the ingest path is one a client should retry.
fn unavailable(e: IngestError) -> Status {
    match e {
        IngestError::Unavailable(_) | IngestError::Busy(_) | IngestError::ShuttingDown => {
            Status::unavailable(e.to_string())
        }
    }
}

/// tonic answers a message over `max_decoding_message_size` with `OUT_OF_RANGE`, which the
/// OTLP specification lists as *retryable*: a client would resend the same oversized batch
/// forever. The specification's answer for it is `RESOURCE_EXHAUSTED` (not retryable without
/// `RetryInfo`), so the status is rewritten.
fn too_large_is_resource_exhausted(headers: &mut http::HeaderMap) {
    let is_size_limit = headers.get("grpc-status").is_some_and(|v| v == "11")
        && headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| {
                m.contains("message%20length%20too%20large")
                    || m.contains("message length too large")
            });
    if is_size_limit {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
}

fn reason(code: &str) -> &'static str {
    match code {
        "1" => "cancelled",
        "3" => "invalid_argument",
        "4" => "deadline_exceeded",
        "8" => "too_large",
        "12" => "unimplemented",
        "13" => "decode_error",
        "14" => "unavailable",
        "16" => "unauthenticated",
        _ => "other",
    }
}

/// Serves both receivers on `listener` until `shutdown` resolves, then lets in-flight calls
/// finish.
pub async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    max_body_bytes: usize,
    protection: Protection,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let metrics = ingest.metrics().clone();
    let auth = super::auth::GrpcAuth::new(protection.auth, metrics.clone());
    let traces = TraceServiceServer::new(TraceReceiver::new(ingest.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body_bytes);
    let traces = tonic::service::interceptor::InterceptedService::new(traces, auth.clone());
    let logs = LogsServiceServer::new(LogsReceiver::new(ingest))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_body_bytes);
    let logs = tonic::service::interceptor::InterceptedService::new(logs, auth);
    // Errors answered "trailers-only" carry grpc-status in the headers: that covers every
    // whole-request refusal (size limit, decode error, UNAVAILABLE), which is what the
    // requests_rejected metric counts.
    let count = tower::util::MapResponseLayer::new(move |mut resp: http::Response<_>| {
        too_large_is_resource_exhausted(resp.headers_mut());
        if let Some(code) = resp
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            && code != "0"
        {
            metrics.request_rejected("grpc", reason(code));
        }
        resp
    });
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &protection.tls {
        server = server.tls_config(tls.grpc()).map_err(|e| e.to_string())?;
    }
    server
        .layer(count)
        .add_service(traces)
        .add_service(logs)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a response's last frame waits for the client's delayed
            // ACK (~40 ms on Linux): that, not CPU, capped throughput per connection.
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .map_err(|e| e.to_string())
}
