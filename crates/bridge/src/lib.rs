//! # actionlog-bridge
//!
//! The bridge service behind `actionlog serve`: OTLP trace and logs receivers (gRPC in
//! [`grpc`], HTTP in [`http`]) in front of one shared [`Ingest`] path that converts action
//! spans and action log events with [`actionlog::convert::convert`] (the same code as the
//! in-process exporters) and writes them to the sinks.
//!
//! A request is answered only after the sinks accepted its actions, so a success means the
//! actions are as safe as the sink makes them. [`Ingest::ingest`] returns an
//! [`IngestOutcome`] that each receiver maps onto its protocol's status codes (the table is
//! in `docs/bridge.md`).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tonic::transport::{Channel, Endpoint};

use crate::config::ServeConfig;
use actionlog::convert::{
    ConvertOptions, OtlpLogEvent, SpanView, convert, convert_encoded, is_action_event,
    otlp_resource_host,
};
use actionlog::proto::UserAction;
use actionlog::sink::{EncodedBatch, Sink};

mod answer;
pub mod auth;
pub mod config;
pub mod grpc;
pub mod http;
pub mod metrics;
mod security;
pub mod spool;
pub mod tls;

pub use answer::{logs_response_for, response_for};
pub use metrics::{Metrics, Signal};
pub use security::SecurityError;

/// TLS and authentication, shared by both receivers (see [`tls`] and [`auth`]).
#[derive(Debug, Clone, Default)]
pub struct Protection {
    /// Serve TLS with this certificate and key; plaintext when `None`.
    pub tls: Option<tls::TlsMaterial>,
    /// Require this bearer token on OTLP requests; open when `None`.
    pub auth: Option<auth::BearerToken>,
}

impl Protection {
    fn of(cfg: &ServeConfig) -> Self {
        Self {
            tls: cfg.tls.loaded.clone(),
            auth: cfg.auth.token.clone(),
        }
    }
}

/// How many distinct conversion errors are quoted in a `partial_success` message.
const MAX_QUOTED_ERRORS: usize = 5;

/// Why a request could not be served (the request as a whole; per-span problems are
/// reported as a partial success instead).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The sinks pushed back or timed out: nothing was accepted, the client should retry.
    #[error("sinks unavailable, retry later: {0}")]
    Unavailable(String),
    /// Too many requests in flight: the client should retry later.
    #[error("too many requests in flight ({0}), retry later")]
    Busy(usize),
    /// The bridge is shutting down and takes no new data.
    #[error("the bridge is shutting down")]
    ShuttingDown,
}

/// What happened to an accepted request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Spans or log records received.
    pub received: u64,
    /// Actions converted and accepted by the sinks.
    pub converted: u64,
    /// Spans or log records that were not accepted (conversion errors, refused by a sink,
    /// or non-action ones the downstream endpoint refused): `partial_success.rejected_spans`
    /// or `rejected_log_records`.
    pub rejected: i64,
    /// Why, for `partial_success.error_message` (empty when `rejected` is 0).
    pub message: String,
}

/// Forwards non-action spans and log records, unchanged, to a downstream OTLP/gRPC
/// endpoint.
#[derive(Debug, Clone)]
struct Forwarder {
    traces: TraceServiceClient<Channel>,
    logs: LogsServiceClient<Channel>,
    timeout: Duration,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The forward endpoint is not a valid URI.
    #[error("invalid forward endpoint {0:?}")]
    ForwardEndpoint(String),
    /// A server failed while running.
    #[error("server error: {0}")]
    Server(String),
    /// The durable mode's spool directory is unusable.
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
}

/// The shared receive path: conversion, sinks, forwarding, metrics, admission.
#[derive(Debug)]
pub struct Ingest {
    sink: Arc<dyn Sink>,
    opts: ConvertOptions,
    metrics: Arc<Metrics>,
    forward: Option<Forwarder>,
    sink_timeout: Duration,
    inflight: Semaphore,
    max_inflight: usize,
    draining: AtomicBool,
    shutting_down: AtomicBool,
}

impl Ingest {
    /// An ingest path writing to `sink`, without forwarding.
    pub fn new(sink: Arc<dyn Sink>, opts: ConvertOptions, metrics: Arc<Metrics>) -> Self {
        Self {
            sink,
            opts,
            metrics,
            forward: None,
            sink_timeout: Duration::from_secs(10),
            inflight: Semaphore::new(crate::config::DEFAULT_MAX_INFLIGHT_REQUESTS),
            max_inflight: crate::config::DEFAULT_MAX_INFLIGHT_REQUESTS,
            draining: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The metrics this path updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether shutdown has begun (`/readyz` turns 503; requests still being received are
    /// served until the sinks close).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Whether the sinks are closing: requests are refused as retryable.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Converts the action spans of `req`, writes them to the sinks and forwards (or drops)
    /// the rest. Resolves once the sinks answered.
    pub async fn ingest(
        &self,
        req: ExportTraceServiceRequest,
        transport: &'static str,
    ) -> Result<IngestOutcome, IngestError> {
        self.admitted(self.ingest_traces(req, transport)).await
    }

    /// Converts the action events of `req` (log records named `actionlog.user_action`) by
    /// the same conversion as spans, writes them to the sinks and forwards (or drops) the
    /// other log records. Resolves once the sinks answered.
    pub async fn ingest_logs(
        &self,
        req: ExportLogsServiceRequest,
        transport: &'static str,
    ) -> Result<IngestOutcome, IngestError> {
        self.admitted(self.ingest_log_records(req, transport)).await
    }

    /// Admission control shared by both signals: refused while shutting down or when too
    /// many requests are in flight.
    async fn admitted(
        &self,
        work: impl Future<Output = Result<IngestOutcome, IngestError>>,
    ) -> Result<IngestOutcome, IngestError> {
        if self.is_shutting_down() {
            return Err(IngestError::ShuttingDown);
        }
        let Ok(_permit) = self.inflight.try_acquire() else {
            return Err(IngestError::Busy(self.max_inflight));
        };
        let depth = self.metrics.queue_depth();
        depth.inc();
        let result = work.await;
        depth.dec();
        result
    }

    async fn ingest_traces(
        &self,
        req: ExportTraceServiceRequest,
        transport: &'static str,
    ) -> Result<IngestOutcome, IngestError> {
        let mut batch = Batch::new(self, Signal::Traces);
        let mut forward_rs: Vec<ResourceSpans> = Vec::new();
        for rs in req.resource_spans {
            let ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            } = rs;
            let host = otlp_resource_host(resource.as_ref());
            let mut fwd_scopes: Vec<ScopeSpans> = Vec::new();
            for ss in scope_spans {
                let mut fwd_spans = Vec::new();
                for mut span in ss.spans {
                    batch.out.received += 1;
                    if !span.is_action() {
                        batch.non_action += 1;
                        if self.forward.is_some() {
                            fwd_spans.push(span);
                        }
                        continue;
                    }
                    // Conversion does not read the name (the command is an attribute): moved
                    // out for the partial_success message rather than cloned.
                    let name = std::mem::take(&mut span.name);
                    batch.convert(span, host, || format!("span {name:?}"));
                }
                if !fwd_spans.is_empty() {
                    fwd_scopes.push(ScopeSpans {
                        scope: ss.scope,
                        spans: fwd_spans,
                        schema_url: ss.schema_url,
                    });
                }
            }
            if !fwd_scopes.is_empty() {
                forward_rs.push(ResourceSpans {
                    resource,
                    scope_spans: fwd_scopes,
                    schema_url,
                });
            }
        }
        self.metrics
            .received(Signal::Traces, transport, batch.out.received);
        let forward = async {
            match &self.forward {
                Some(f) if !forward_rs.is_empty() => Some(
                    f.send_traces(ExportTraceServiceRequest {
                        resource_spans: forward_rs,
                    })
                    .await,
                ),
                _ => None,
            }
        };
        batch.deliver(forward).await
    }

    async fn ingest_log_records(
        &self,
        req: ExportLogsServiceRequest,
        transport: &'static str,
    ) -> Result<IngestOutcome, IngestError> {
        let mut batch = Batch::new(self, Signal::Logs);
        let mut forward_rl: Vec<ResourceLogs> = Vec::new();
        for rl in req.resource_logs {
            let ResourceLogs {
                resource,
                scope_logs,
                schema_url,
            } = rl;
            let host = otlp_resource_host(resource.as_ref());
            let mut fwd_scopes: Vec<ScopeLogs> = Vec::new();
            for sl in scope_logs {
                let mut fwd_records = Vec::new();
                for record in sl.log_records {
                    let index = batch.out.received;
                    batch.out.received += 1;
                    if !is_action_event(&record) {
                        batch.non_action += 1;
                        if self.forward.is_some() {
                            fwd_records.push(record);
                        }
                        continue;
                    }
                    batch.convert(OtlpLogEvent::new(record), host, || {
                        format!("log record #{index}")
                    });
                }
                if !fwd_records.is_empty() {
                    fwd_scopes.push(ScopeLogs {
                        scope: sl.scope,
                        log_records: fwd_records,
                        schema_url: sl.schema_url,
                    });
                }
            }
            if !fwd_scopes.is_empty() {
                forward_rl.push(ResourceLogs {
                    resource,
                    scope_logs: fwd_scopes,
                    schema_url,
                });
            }
        }
        self.metrics
            .received(Signal::Logs, transport, batch.out.received);
        let forward = async {
            match &self.forward {
                Some(f) if !forward_rl.is_empty() => Some(
                    f.send_logs(ExportLogsServiceRequest {
                        resource_logs: forward_rl,
                    })
                    .await,
                ),
                _ => None,
            }
        };
        batch.deliver(forward).await
    }
}

/// One request's actions on their way to the sinks, whichever signal they came as.
struct Batch<'a> {
    ingest: &'a Ingest,
    signal: Signal,
    /// A sink that takes bytes gets them encoded straight from the decoded spans or records.
    encode: bool,
    actions: Vec<UserAction>,
    encoded: EncodedBatch,
    errors: Vec<String>,
    non_action: u64,
    out: IngestOutcome,
}

impl<'a> Batch<'a> {
    fn new(ingest: &'a Ingest, signal: Signal) -> Self {
        Self {
            ingest,
            signal,
            encode: ingest.sink.takes_encoded(),
            actions: Vec::new(),
            encoded: EncodedBatch::default(),
            errors: Vec::new(),
            non_action: 0,
            out: IngestOutcome::default(),
        }
    }

    /// Converts one action log (by value: conversion moves the attribute strings instead
    /// of copying them); `what` names it in an error message.
    fn convert<S: SpanView>(&mut self, view: S, host: Option<&str>, what: impl FnOnce() -> String) {
        let opts = &self.ingest.opts;
        let converted = if self.encode {
            let encoded = &mut self.encoded;
            convert_encoded(view, host, opts, encoded.buffer())
                .map(|w| w.inspect(|_| encoded.added()))
        } else {
            let actions = &mut self.actions;
            convert(view, host, opts).map(|c| {
                c.map(|c| {
                    actions.push(c.action);
                    c.warnings
                })
            })
        };
        let metrics = &self.ingest.metrics;
        match converted {
            Ok(Some(warnings)) => {
                for w in &warnings {
                    metrics.convert_warning(w.reason());
                }
            }
            // The caller asked `is_action` first; kept for completeness.
            Ok(None) => self.non_action += 1,
            Err(e) => {
                self.out.rejected += 1;
                metrics.rejected(self.signal, e.reason(), 1);
                if self.errors.len() < MAX_QUOTED_ERRORS {
                    self.errors.push(format!("{}: {e}", what()));
                }
            }
        }
    }

    /// Writes the actions to the sinks while `forward` sends the rest on, and says what
    /// became of the request.
    async fn deliver(
        mut self,
        forward: impl Future<Output = Option<Result<(), String>>>,
    ) -> Result<IngestOutcome, IngestError> {
        let ingest = self.ingest;
        let metrics = &ingest.metrics;
        let signal = self.signal;
        let n_actions = self.actions.len() + self.encoded.len();
        let write = async {
            if n_actions == 0 {
                return Ok(());
            }
            let started = Instant::now();
            let sink_write = async {
                if self.encode {
                    ingest.sink.write_encoded(&self.encoded).await
                } else {
                    ingest.sink.write(&self.actions).await
                }
            };
            let r = tokio::time::timeout(ingest.sink_timeout, sink_write).await;
            metrics.sink_write(started.elapsed());
            match r {
                Ok(r) => r.map_err(Some),
                Err(_) => Err(None),
            }
        };
        let (written, forwarded) = tokio::join!(write, forward);
        let mut out = self.out;
        let non_action = self.non_action;

        match written {
            Ok(()) => {
                out.converted = n_actions as u64;
                metrics.actions_converted(signal, out.converted);
            }
            Err(None) => {
                tracing::warn!(timeout = ?ingest.sink_timeout, actions = n_actions, "sink write timed out");
                metrics.sink_error("timeout");
                return Err(IngestError::Unavailable(format!(
                    "sinks did not accept the batch within {:?}",
                    ingest.sink_timeout
                )));
            }
            Err(Some(e))
                if e.is_retryable()
                    || !matches!(e, actionlog::sink::SinkError::Rejected { .. }) =>
            {
                // Only a sink's explicit, final refusal is final; anything else (I/O errors,
                // a sink shutting down) may pass on a retry.
                tracing::warn!(error = %e, actions = n_actions, "sink write failed; answering retryable");
                metrics.sink_error("retryable");
                return Err(IngestError::Unavailable(e.to_string()));
            }
            Err(Some(e)) => {
                tracing::warn!(error = %e, actions = n_actions, "sink refused the batch for good");
                metrics.sink_error("rejected");
                // A sink may refuse part of a batch (Kafka: one oversized event) and deliver
                // the rest: only the refused ones are reported as rejected.
                let refused = match &e {
                    actionlog::sink::SinkError::Rejected { count, .. } => (*count).min(n_actions),
                    _ => n_actions,
                };
                metrics.rejected(signal, "sink_rejected", refused as u64);
                out.rejected += refused as i64;
                out.converted = (n_actions - refused) as u64;
                metrics.actions_converted(signal, out.converted);
                self.errors.push(e.to_string());
            }
        }
        match forwarded {
            None if ingest.forward.is_some() => metrics.non_action(signal, "forwarded", non_action),
            None => metrics.non_action(signal, "dropped", non_action),
            Some(Ok(())) => metrics.non_action(signal, "forwarded", non_action),
            Some(Err(e)) => {
                metrics.non_action(signal, "forward_failed", non_action);
                out.rejected += non_action as i64;
                self.errors.push(format!(
                    "{non_action} non-action {} not forwarded: {e}",
                    signal.items()
                ));
            }
        }
        if out.rejected > 0 {
            tracing::debug!(rejected = out.rejected, errors = ?self.errors, "partial success");
            out.message = format!(
                "{} {} rejected: {}",
                out.rejected,
                signal.items(),
                self.errors.join("; ")
            );
        }
        Ok(out)
    }
}

impl Forwarder {
    fn new(endpoint: &str, timeout: Duration) -> Result<Self, ServeError> {
        let ep = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|_| ServeError::ForwardEndpoint(endpoint.to_owned()))?
            .timeout(timeout);
        let channel = ep.connect_lazy();
        Ok(Self {
            traces: TraceServiceClient::new(channel.clone()),
            logs: LogsServiceClient::new(channel),
            timeout,
        })
    }

    fn status_text(status: tonic::Status) -> String {
        format!("{:?}: {}", status.code(), status.message())
    }

    async fn send_traces(&self, req: ExportTraceServiceRequest) -> Result<(), String> {
        let mut client = self.traces.clone();
        let mut req = tonic::Request::new(req);
        req.set_timeout(self.timeout);
        match tokio::time::timeout(self.timeout, client.export(req)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(Self::status_text(status)),
            Err(_) => Err("timed out".to_owned()),
        }
    }

    async fn send_logs(&self, req: ExportLogsServiceRequest) -> Result<(), String> {
        let mut client = self.logs.clone();
        let mut req = tonic::Request::new(req);
        req.set_timeout(self.timeout);
        match tokio::time::timeout(self.timeout, client.export(req)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(Self::status_text(status)),
            Err(_) => Err("timed out".to_owned()),
        }
    }
}

/// A running bridge: its bound addresses and the means to stop it.
#[derive(Debug)]
pub struct Running {
    /// The OTLP/gRPC address actually bound.
    pub grpc_addr: std::net::SocketAddr,
    /// The OTLP/HTTP address actually bound.
    pub http_addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    ingest: Arc<Ingest>,
    grpc: tokio::task::JoinHandle<Result<(), String>>,
    http: tokio::task::JoinHandle<Result<(), String>>,
    shutdown_timeout: Duration,
}

/// Binds both receivers and starts serving. Returns once the sockets are listening.
pub async fn start(cfg: &ServeConfig) -> Result<Running, ServeError> {
    let mut metrics = Metrics::new();
    let sink: Arc<dyn Sink> = match &cfg.spool.dir {
        // Durable mode: one forwarder (and checkpoint) per sink.
        Some(dir) => Arc::new(crate::spool::SpoolSink::open(
            dir,
            cfg.spool.max_bytes,
            crate::config::build_sinks(&cfg.sinks)?,
            metrics.registry_mut(),
        )?),
        None => crate::config::build_sink(&cfg.sinks)?,
    };
    let metrics = Arc::new(metrics);
    let mut ingest = Ingest::new(sink, (&cfg.convert).into(), metrics);
    ingest.sink_timeout = cfg.server.sink_timeout();
    ingest.inflight = Semaphore::new(cfg.server.max_inflight_requests);
    ingest.max_inflight = cfg.server.max_inflight_requests;
    if let Some(ep) = &cfg.forward.endpoint {
        let timeout = Duration::try_from_secs_f64(cfg.forward.timeout_secs.unwrap_or(10.0))
            .unwrap_or(Duration::from_secs(10));
        ingest.forward = Some(Forwarder::new(ep, timeout)?);
    }
    let ingest = Arc::new(ingest);

    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })
    };
    let grpc_listener = bind(cfg.server.grpc_addr).await?;
    let http_listener = bind(cfg.server.http_addr).await?;
    let grpc_addr = grpc_listener
        .local_addr()
        .map_err(|e| ServeError::Server(e.to_string()))?;
    let http_addr = http_listener
        .local_addr()
        .map_err(|e| ServeError::Server(e.to_string()))?;

    let (stop, stopped) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let protection = Protection::of(cfg);
    let grpc = tokio::spawn(grpc::serve(
        grpc_listener,
        ingest.clone(),
        cfg.server.max_body_bytes,
        protection.clone(),
        wait(stopped.clone()),
    ));
    let http = tokio::spawn(http::serve(
        http_listener,
        ingest.clone(),
        http::HttpSettings {
            max_body_bytes: cfg.server.max_body_bytes,
            retry_after_secs: cfg.server.retry_after_secs,
        },
        protection.clone(),
        wait(stopped),
    ));
    tracing::info!(
        %grpc_addr,
        %http_addr,
        sinks = cfg.sinks.len(),
        tls = protection.tls.is_some(),
        auth = protection.auth.is_some(),
        pseudonymise = cfg.convert.pseudonymiser.is_some(),
        "actionlog bridge listening"
    );
    Ok(Running {
        grpc_addr,
        http_addr,
        stop,
        ingest,
        grpc,
        http,
        shutdown_timeout: cfg.server.shutdown_timeout(),
    })
}

impl Running {
    /// The shared ingest path (for its metrics).
    pub fn ingest(&self) -> &Arc<Ingest> {
        &self.ingest
    }

    /// Graceful shutdown: stop accepting connections and new requests, let in-flight
    /// requests finish (their sink writes included), then flush and shut the sinks down, all
    /// within the shutdown deadline. Returns whether everything finished in time.
    pub async fn shutdown(self) -> bool {
        let deadline = Instant::now() + self.shutdown_timeout;
        tracing::info!(timeout = ?self.shutdown_timeout, "shutting down: draining requests");
        self.ingest.draining.store(true, Ordering::Release);
        let _ = self.stop.send(true);
        let servers = async {
            let (g, h) = tokio::join!(self.grpc, self.http);
            for r in [g, h] {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "server ended with an error"),
                    Err(e) => tracing::warn!(error = %e, "server task failed"),
                }
            }
        };
        let mut clean = true;
        if tokio::time::timeout_at(deadline.into(), servers)
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight at the shutdown deadline");
            clean = false;
        }
        // From here on, no request may reach the sinks: they are about to close.
        self.ingest.shutting_down.store(true, Ordering::Release);
        let left = deadline.saturating_duration_since(Instant::now());
        match self
            .ingest
            .sink
            .shutdown(left.max(Duration::from_millis(100)))
            .await
        {
            Ok(()) => tracing::info!("sinks flushed and closed"),
            Err(e) => {
                tracing::error!(error = %e, "sink shutdown incomplete");
                clean = false;
            }
        }
        clean
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::Span;

    use super::*;
    use actionlog::sink::NullSink;

    fn span(attrs: &[(&str, &str)], trace: u8) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![1; 8],
            name: "s".into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| KeyValue {
                    key: (*k).into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue((*v).into())),
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn actions_go_to_the_sink_and_bad_ones_are_partial_success() {
        let sink = Arc::new(NullSink::new());
        let ingest = Ingest::new(
            sink.clone(),
            ConvertOptions::default(),
            Arc::new(Metrics::new()),
        );
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        span(&[("action_log.command", "c"), ("enduser.id", "u")], 1),
                        span(&[("http.route", "/")], 1),
                        span(&[("action_log.command", "c")], 0),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let out = ingest.ingest(req, "grpc").await.unwrap();
        assert_eq!(out.received, 3);
        assert_eq!(out.converted, 1);
        assert_eq!(out.rejected, 1);
        assert!(out.message.contains("invalid trace id"), "{}", out.message);
        assert_eq!(sink.count(), 1);
        let m = ingest.metrics().render();
        assert!(
            m.contains("actionlog_spans_rejected_total{reason=\"invalid_trace_id\"} 1"),
            "{m}"
        );
        assert!(
            m.contains("actionlog_non_action_spans_total{outcome=\"dropped\"} 1"),
            "{m}"
        );
    }
}
