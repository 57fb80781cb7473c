//! # actionlog-otlp
//!
//! A sink that sends each [`UserAction`] to an OpenTelemetry Collector as an OTLP log record
//! (an event), over OTLP/gRPC or OTLP/HTTP (protobuf).
//!
//! Each record is the log-event form of the convention (`docs/conventions.md`), written by
//! [`actionlog::convert::otlp_log_record`], which actionlog's receivers convert back to the
//! same `UserAction`: `EventName` `actionlog.user_action`, the fields as attributes under
//! the span convention's keys, no body, `Timestamp` the start, `action_log.end_epoch_ms`
//! the end, `exception.message` and severity ERROR for an error, the span's ids. The
//! resource carries `host.name` (records are grouped by it) and `service.name`.
//!
//! Retryable answers ([`retry`]: the OTLP specification's rules, which the bridge's receivers
//! follow too; `Retry-After` is honoured) are retried with exponential backoff up to `max_retries` times;
//! after that the batch fails as [`SinkError::Unavailable`], so the bridge answers its own
//! client with a retryable status.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod retry;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use actionlog::convention as key;
use actionlog::convert::otlp_log_record;
use actionlog::proto::UserAction;
use actionlog::redact::REDACTED;
use actionlog::sink::{Sink, SinkError};

/// The default `EventName` of the log records.
pub const DEFAULT_EVENT_NAME: &str = key::EVENT_NAME;
/// The default collector endpoint (OTLP/gRPC).
pub const DEFAULT_LOGS_ENDPOINT: &str = "http://127.0.0.1:4317";
/// The default collector endpoint (OTLP/HTTP); `/v1/logs` is appended.
pub const DEFAULT_LOGS_HTTP_ENDPOINT: &str = "http://127.0.0.1:4318";

/// The OTLP transport of [`OtlpLogSink`], named as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LogProtocol {
    /// OTLP/gRPC (`grpc`).
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl FromStr for LogProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "grpc" => Ok(LogProtocol::Grpc),
            "http/protobuf" => Ok(LogProtocol::HttpProtobuf),
            other => Err(format!(
                "unsupported OTLP protocol {other:?} (expected grpc or http/protobuf)"
            )),
        }
    }
}
/// The default `service.name` of the resource.
pub const DEFAULT_SERVICE_NAME: &str = "actionlog-bridge";

/// Configuration of [`OtlpLogSink`] (a `[[sinks]]` entry with `type = "otlp_log"`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpLogConfig {
    /// `grpc` (default) or `http/protobuf`; `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL` /
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` apply when the file does not set it.
    pub protocol: Option<LogProtocol>,
    /// Collector endpoint (for HTTP, a base URL to which `/v1/logs` is appended unless it
    /// already ends with it); falls back to `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, then
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, then [`DEFAULT_LOGS_ENDPOINT`].
    pub endpoint: Option<String>,
    /// Request metadata (API keys...): secret, never printed. Merged with
    /// `OTEL_EXPORTER_OTLP_HEADERS` / `OTEL_EXPORTER_OTLP_LOGS_HEADERS` (the file wins).
    pub headers: BTreeMap<String, String>,
    /// Time allowed for one attempt; `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT` /
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds) apply when unset. Default 10 s.
    pub timeout_secs: Option<f64>,
    /// Retries after the first attempt, on retryable errors only.
    pub max_retries: u32,
    /// First backoff; doubled after every retry up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// Largest backoff.
    pub max_backoff_ms: u64,
    /// `EventName` of every record. actionlog's receivers recognise only the default,
    /// [`DEFAULT_EVENT_NAME`]: change it only for a pipeline that routes on another name.
    pub event_name: String,
    /// `service.name` of the resource; `OTEL_SERVICE_NAME` applies when unset.
    pub service_name: Option<String>,
    /// Compress requests with gzip.
    pub gzip: bool,
}

impl Default for OtlpLogConfig {
    fn default() -> Self {
        Self {
            protocol: None,
            endpoint: None,
            headers: BTreeMap::new(),
            timeout_secs: None,
            max_retries: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 5_000,
            event_name: DEFAULT_EVENT_NAME.to_owned(),
            service_name: None,
            gzip: false,
        }
    }
}

impl fmt::Debug for OtlpLogConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers carry credentials: Debug output ends up in logs.
        f.debug_struct("OtlpLogConfig")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout_secs", &self.timeout_secs)
            .field("max_retries", &self.max_retries)
            .field("event_name", &self.event_name)
            .field("service_name", &self.service_name)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl OtlpLogConfig {
    /// The same configuration with header values masked.
    pub fn redacted(&self) -> Self {
        let mut c = self.clone();
        for v in c.headers.values_mut() {
            *v = REDACTED.to_owned();
        }
        c
    }

    /// Fills unset keys from the standard `OTEL_*` variables.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), EnvError> {
        let first = |vars: &[&'static str]| {
            vars.iter()
                .find_map(|v| env(v).filter(|s| !s.trim().is_empty()).map(|s| (*v, s)))
        };
        if self.protocol.is_none()
            && let Some((var, p)) = first(&[
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ])
        {
            self.protocol = Some(p.parse().map_err(|message| EnvError {
                var: var.to_owned(),
                message,
            })?);
        }
        if self.endpoint.is_none()
            && let Some((_, e)) = first(&[
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ])
        {
            self.endpoint = Some(e);
        }
        if self.timeout_secs.is_none()
            && let Some((var, t)) = first(&[
                "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ])
        {
            let ms: f64 = t.trim().parse().map_err(|_| EnvError {
                var: var.to_owned(),
                message: format!("{t:?} is not a number of milliseconds"),
            })?;
            self.timeout_secs = Some(ms / 1000.0);
        }
        if self.service_name.is_none() {
            self.service_name = env("OTEL_SERVICE_NAME").filter(|s| !s.is_empty());
        }
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ] {
            if let Some(text) = env(var) {
                let parsed = parse_otel_headers(&text).map_err(|message| EnvError {
                    var: var.to_owned(),
                    message,
                })?;
                for (k, v) in parsed {
                    self.headers.entry(k).or_insert(v);
                }
            }
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.timeout_secs.unwrap_or(10.0))
            .unwrap_or(Duration::from_secs(10))
    }
}

/// An `OTEL_*` environment variable whose value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for environment variable {var}: {message}")]
pub struct EnvError {
    /// The variable.
    pub var: String,
    /// What is wrong.
    pub message: String,
}

/// Parses `OTEL_EXPORTER_OTLP_HEADERS`-style text (the OTLP exporter specification):
/// `k1=v1,k2=v2`, keys and values trimmed, values percent-decoded.
pub fn parse_otel_headers(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("header {pair:?} has no '='"))?;
        let v = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy();
        out.insert(k.trim().to_owned(), v.into_owned());
    }
    Ok(out)
}

/// Why an [`OtlpLogSink`] could not be created.
#[derive(Debug, thiserror::Error)]
pub enum OtlpLogSinkError {
    /// The endpoint is not a valid URI.
    #[error("invalid endpoint {endpoint:?}: {message}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// The parser's complaint.
        message: String,
    },
    /// A header name or value is not valid gRPC metadata.
    #[error("invalid header {0:?}")]
    Header(String),
}

/// Sends actions as OTLP log records to a collector over gRPC or HTTP. See the module docs.
pub struct OtlpLogSink {
    transport: Transport,
    cfg: OtlpLogConfig,
    endpoint: String,
}

enum Transport {
    Grpc {
        client: LogsServiceClient<Channel>,
        metadata: MetadataMap,
    },
    Http {
        // Boxed: the hyper client is several times the size of the gRPC variant.
        client: Box<HttpClient<HttpConnector, Full<Bytes>>>,
        uri: http::Uri,
        headers: http::HeaderMap,
    },
}

impl fmt::Debug for OtlpLogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLogSink")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.cfg.protocol)
            .finish_non_exhaustive()
    }
}

/// One failed attempt.
struct AttemptError {
    retryable: bool,
    message: String,
    /// The server's `Retry-After`, when it sent one.
    retry_after: Option<Duration>,
}

impl OtlpLogSink {
    /// Creates the sink. The connection is made lazily, on the first write, so a collector
    /// that starts after the bridge is fine. Must be called inside a tokio runtime.
    pub fn new(cfg: OtlpLogConfig) -> Result<Self, OtlpLogSinkError> {
        let bad_endpoint = |endpoint: &str, message: String| OtlpLogSinkError::Endpoint {
            endpoint: endpoint.to_owned(),
            message,
        };
        let (endpoint, transport) = match cfg.protocol.unwrap_or_default() {
            LogProtocol::Grpc => {
                let endpoint = cfg
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| DEFAULT_LOGS_ENDPOINT.to_owned());
                let ep = Endpoint::from_str(&endpoint)
                    .map_err(|e| bad_endpoint(&endpoint, e.to_string()))?;
                let channel = ep.timeout(cfg.timeout()).connect_lazy();
                let mut client = LogsServiceClient::new(channel);
                if cfg.gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                client = client.accept_compressed(CompressionEncoding::Gzip);
                let mut metadata = MetadataMap::new();
                for (k, v) in &cfg.headers {
                    let name = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                        .map_err(|_| OtlpLogSinkError::Header(k.clone()))?;
                    let value = MetadataValue::try_from(v.as_str())
                        .map_err(|_| OtlpLogSinkError::Header(k.clone()))?;
                    metadata.insert(name, value);
                }
                (endpoint, Transport::Grpc { client, metadata })
            }
            LogProtocol::HttpProtobuf => {
                let base = cfg
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| DEFAULT_LOGS_HTTP_ENDPOINT.to_owned());
                let endpoint = http_logs_url(&base);
                let uri: http::Uri = endpoint
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| bad_endpoint(&endpoint, e.to_string()))?;
                if uri.scheme_str() != Some("http") {
                    return Err(bad_endpoint(
                        &endpoint,
                        "only http:// is supported (put TLS in front with a collector)".into(),
                    ));
                }
                let mut headers = http::HeaderMap::new();
                for (k, v) in &cfg.headers {
                    let name = http::HeaderName::from_bytes(k.as_bytes())
                        .map_err(|_| OtlpLogSinkError::Header(k.clone()))?;
                    let value = http::HeaderValue::from_str(v)
                        .map_err(|_| OtlpLogSinkError::Header(k.clone()))?;
                    headers.insert(name, value);
                }
                let client = Box::new(HttpClient::builder(TokioExecutor::new()).build_http());
                (
                    endpoint,
                    Transport::Http {
                        client,
                        uri,
                        headers,
                    },
                )
            }
        };
        Ok(Self {
            transport,
            cfg,
            endpoint,
        })
    }

    fn sink_name(&self) -> String {
        format!("otlp_log:{}", self.endpoint)
    }

    /// One attempt; `Ok` carries the partial-success rejection count and message.
    async fn attempt(
        &self,
        request: &ExportLogsServiceRequest,
    ) -> Result<(i64, String), AttemptError> {
        let timeout = self.cfg.timeout();
        match &self.transport {
            Transport::Grpc { client, metadata } => {
                let mut req = tonic::Request::new(request.clone());
                *req.metadata_mut() = metadata.clone();
                req.set_timeout(timeout);
                let mut client = client.clone();
                let status = match tokio::time::timeout(timeout, client.export(req)).await {
                    Ok(Ok(resp)) => {
                        let p = resp.into_inner().partial_success.unwrap_or_default();
                        return Ok((p.rejected_log_records, p.error_message));
                    }
                    Ok(Err(status)) => status,
                    Err(_) => tonic::Status::deadline_exceeded("attempt timed out"),
                };
                Err(AttemptError {
                    retryable: retry::grpc_retryable(status.code(), !status.details().is_empty()),
                    message: format!("{:?}: {}", status.code(), status.message()),
                    retry_after: None,
                })
            }
            Transport::Http {
                client,
                uri,
                headers,
            } => {
                let mut body = request.encode_to_vec();
                let mut req = http::Request::post(uri.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf");
                if self.cfg.gzip {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    if gz.write_all(&body).is_ok()
                        && let Ok(compressed) = gz.finish()
                    {
                        body = compressed;
                        req = req.header(http::header::CONTENT_ENCODING, "gzip");
                    }
                }
                let mut req = req
                    .body(Full::new(Bytes::from(body)))
                    .map_err(|e| AttemptError {
                        retryable: false,
                        message: e.to_string(),
                        retry_after: None,
                    })?;
                req.headers_mut().extend(headers.clone());
                let exchange = async {
                    let resp = client.request(req).await.map_err(|e| AttemptError {
                        retryable: true,
                        message: format!("connection: {e}"),
                        retry_after: None,
                    })?;
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = resp
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| AttemptError {
                            retryable: true,
                            message: format!("reading the response: {e}"),
                            retry_after: None,
                        })?
                        .to_bytes();
                    if status.is_success() {
                        let p = ExportLogsServiceResponse::decode(bytes)
                            .ok()
                            .and_then(|r| r.partial_success)
                            .unwrap_or_default();
                        return Ok((p.rejected_log_records, p.error_message));
                    }
                    Err(AttemptError {
                        retryable: retry::http_retryable(status.as_u16()),
                        message: format!("HTTP {status}"),
                        retry_after,
                    })
                };
                match tokio::time::timeout(timeout, exchange).await {
                    Ok(r) => r,
                    Err(_) => Err(AttemptError {
                        retryable: true,
                        message: "attempt timed out".into(),
                        retry_after: None,
                    }),
                }
            }
        }
    }
}

/// The OTLP/HTTP logs URL for an endpoint: used as is when it already ends in `/v1/logs`,
/// otherwise taken as a base URL to which `/v1/logs` is appended (as the specification says
/// for `OTEL_EXPORTER_OTLP_ENDPOINT`).
fn http_logs_url(endpoint: &str) -> String {
    if endpoint.ends_with("/v1/logs") {
        endpoint.to_owned()
    } else {
        format!("{}/v1/logs", endpoint.trim_end_matches('/'))
    }
}

#[async_trait]
impl Sink for OtlpLogSink {
    fn name(&self) -> &str {
        "otlp_log"
    }

    /// A batch is accepted once the collector answered success for it.
    fn durability(&self) -> actionlog::sink::Durability {
        actionlog::sink::Durability::OnWrite
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        if actions.is_empty() {
            return Ok(());
        }
        let service = self
            .cfg
            .service_name
            .as_deref()
            .unwrap_or(DEFAULT_SERVICE_NAME);
        let request = to_request(actions, &self.cfg.event_name, service, SystemTime::now());
        let mut backoff = Duration::from_millis(self.cfg.initial_backoff_ms);
        let max_backoff = Duration::from_millis(self.cfg.max_backoff_ms);
        let mut attempt = 0u32;
        loop {
            let err = match self.attempt(&request).await {
                Ok((0, _)) => return Ok(()),
                Ok((rejected, message)) => {
                    return Err(SinkError::Rejected {
                        sink: self.sink_name(),
                        count: usize::try_from(rejected).unwrap_or(actions.len()),
                        message,
                    });
                }
                Err(e) => e,
            };
            if !err.retryable {
                return Err(SinkError::Rejected {
                    sink: self.sink_name(),
                    count: actions.len(),
                    message: err.message,
                });
            }
            if attempt >= self.cfg.max_retries {
                return Err(SinkError::Unavailable {
                    sink: self.sink_name(),
                    message: format!("{} (after {} attempt(s))", err.message, attempt + 1),
                });
            }
            tracing::debug!(error = %err.message, attempt, "otlp_log sink: retrying");
            let wait = err
                .retry_after
                .map_or(backoff, |r| r.min(max_backoff).max(backoff));
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(max_backoff);
            attempt += 1;
        }
    }
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

/// A batch as one export request: one `ResourceLogs` per distinct host.
pub fn to_request(
    actions: &[UserAction],
    event_name: &str,
    service_name: &str,
    observed: SystemTime,
) -> ExportLogsServiceRequest {
    let mut by_host: BTreeMap<Option<&str>, Vec<LogRecord>> = BTreeMap::new();
    for a in actions {
        by_host
            .entry(a.host_name.as_deref())
            .or_default()
            .push(otlp_log_record(a, event_name, observed));
    }
    let resource_logs = by_host
        .into_iter()
        .map(|(host, log_records)| {
            let mut attributes = vec![kv("service.name", service_name)];
            if let Some(h) = host {
                attributes.push(kv(key::HOST_NAME, h));
            }
            ResourceLogs {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: key::SCOPE_NAME.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

#[cfg(test)]
mod tests {
    #[test]
    fn headers_parse_like_the_otel_variable() {
        let h = parse_otel_headers("api-key=abc%3D%3D, x-tenant = t1").unwrap();
        assert_eq!(h["api-key"], "abc==");
        assert_eq!(h["x-tenant"], "t1");
        assert!(parse_otel_headers("novalue").is_err());
    }

    use super::*;
    use actionlog::proto::LongString;
    use std::time::UNIX_EPOCH;

    #[test]
    fn records_are_the_log_event_form_and_convert_back_to_the_same_action() {
        use actionlog::convert::{ConvertOptions, OtlpLogEvent, convert};
        let a = UserAction {
            command: Some("_get_table_metadata".into()),
            user: Some("ada@example.com".into()),
            host_name: Some("web-1".into()),
            start_epoch_ms: Some(1_700_000_000_123),
            end_epoch_ms: Some(1_700_000_000_456),
            keyword_args_json: Some(LongString::new("{}")),
            error: Some(LongString::new("KeyError: 'x'")),
            trace_id: Some("0102030405060708090a0b0c0d0e0f10".into()),
            span_id: Some("0102030405060708".into()),
            ..Default::default()
        };
        let req = to_request(
            std::slice::from_ref(&a),
            DEFAULT_EVENT_NAME,
            "svc",
            UNIX_EPOCH,
        );
        let r = req.resource_logs[0].scope_logs[0].log_records[0].clone();
        assert_eq!(r.event_name, "actionlog.user_action");
        assert_eq!(r.time_unix_nano, 1_700_000_000_123_000_000);
        assert_eq!(r.trace_id, (1..=16).collect::<Vec<u8>>());
        assert_eq!(r.severity_text, "ERROR");
        assert!(r.body.is_none(), "events carry no body");
        let keys: Vec<_> = r.attributes.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "action_log.command",
                "enduser.id",
                "host.name",
                "action_log.keyword_args_json",
                "exception.message",
                "action_log.end_epoch_ms"
            ]
        );
        let host = actionlog::convert::otlp_resource_host(req.resource_logs[0].resource.as_ref());
        let back = convert(OtlpLogEvent::new(r), host, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(back.action, a);
    }

    #[test]
    fn records_are_grouped_by_host_with_service_name() {
        let mk = |h: &str| UserAction {
            command: Some("c".into()),
            host_name: Some(h.into()),
            ..Default::default()
        };
        let req = to_request(&[mk("a"), mk("b"), mk("a")], "e", "svc", UNIX_EPOCH);
        assert_eq!(req.resource_logs.len(), 2);
        assert_eq!(req.resource_logs[0].scope_logs[0].log_records.len(), 2);
        let attrs = &req.resource_logs[0].resource.as_ref().unwrap().attributes;
        assert_eq!(attrs[0].key, "service.name");
        assert_eq!(attrs[1].key, "host.name");
    }

    #[test]
    fn headers_are_never_debug_printed() {
        let mut c = OtlpLogConfig::default();
        c.headers.insert("api-key".into(), "s3cret".into());
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.redacted().headers["api-key"], REDACTED);
    }
}
