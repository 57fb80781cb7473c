//! A sink that sends each [`UserAction`] to an OpenTelemetry Collector as an OTLP log record
//! (an event), over OTLP/gRPC.
//!
//! The mapping ([`to_log_record`], documented in `docs/bridge.md`):
//! - `event_name`: the configured name (default [`DEFAULT_EVENT_NAME`]);
//! - body: a map of the `UserAction` fields that are present, named as in the proto
//!   (`command`, `user`, `host_name`, `start_epoch_ms`, ... ; times as integers);
//! - attributes: `enduser.id` (the user) and `action_log.command`;
//! - `time_unix_nano`: the action's start (its end when the start is unknown);
//!   `observed_time_unix_nano`: when the sink sent it;
//! - severity `INFO`, or `ERROR` when the action ended in an error;
//! - `trace_id` / `span_id`: the ids of the span the action was recorded as;
//! - resource: `host.name` (the action's host; records are grouped by it) and
//!   `service.name`.
//!
//! Retryable gRPC codes are retried with exponential backoff up to `max_retries` times;
//! after that the batch fails as [`SinkError::Unavailable`], so the bridge answers its own
//! client with a retryable status.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::{Deserialize, Serialize};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::{Sink, SinkError};
use crate::config::{ConfigError, REDACTED, parse_otel_headers};
use crate::convention as key;
use crate::proto::UserAction;

/// The default `EventName` of the log records.
pub const DEFAULT_EVENT_NAME: &str = "actionlog.user_action";
/// The default collector endpoint (OTLP/gRPC).
pub const DEFAULT_LOGS_ENDPOINT: &str = "http://127.0.0.1:4317";
/// The default `service.name` of the resource.
pub const DEFAULT_SERVICE_NAME: &str = "actionlog-bridge";

/// Configuration of [`OtlpLogSink`] (a `[[sinks]]` entry with `type = "otlp_log"`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpLogConfig {
    /// Collector OTLP/gRPC endpoint; falls back to `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, then
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
    /// `EventName` of every record.
    pub event_name: String,
    /// `service.name` of the resource; `OTEL_SERVICE_NAME` applies when unset.
    pub service_name: Option<String>,
    /// Compress requests with gzip.
    pub gzip: bool,
}

impl Default for OtlpLogConfig {
    fn default() -> Self {
        Self {
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
    pub(crate) fn apply_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let first = |vars: &[&'static str]| {
            vars.iter()
                .find_map(|v| env(v).filter(|s| !s.trim().is_empty()).map(|s| (*v, s)))
        };
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
            let ms: f64 = t.trim().parse().map_err(|_| ConfigError::Env {
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
                let parsed = parse_otel_headers(&text).map_err(|message| ConfigError::Env {
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

/// Sends actions as OTLP log records to a collector over gRPC. See the module docs.
pub struct OtlpLogSink {
    client: LogsServiceClient<Channel>,
    metadata: MetadataMap,
    cfg: OtlpLogConfig,
    endpoint: String,
}

impl fmt::Debug for OtlpLogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLogSink")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OtlpLogSink {
    /// Creates the sink. The connection is made lazily, on the first write, so a collector
    /// that starts after the bridge is fine. Must be called inside a tokio runtime.
    pub fn new(cfg: OtlpLogConfig) -> Result<Self, OtlpLogSinkError> {
        let endpoint = cfg
            .endpoint
            .clone()
            .unwrap_or_else(|| DEFAULT_LOGS_ENDPOINT.to_owned());
        let ep = Endpoint::from_str(&endpoint).map_err(|e| OtlpLogSinkError::Endpoint {
            endpoint: endpoint.clone(),
            message: e.to_string(),
        })?;
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
        Ok(Self {
            client,
            metadata,
            cfg,
            endpoint,
        })
    }

    fn unavailable(&self, message: String) -> SinkError {
        SinkError::Unavailable {
            sink: format!("otlp_log:{}", self.endpoint),
            message,
        }
    }
}

/// gRPC codes after which the same request may succeed (the OTLP specification's list).
fn retryable(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Cancelled
            | DeadlineExceeded
            | Aborted
            | OutOfRange
            | Unavailable
            | DataLoss
            | ResourceExhausted
    )
}

#[async_trait]
impl Sink for OtlpLogSink {
    fn name(&self) -> &str {
        "otlp_log"
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
        let mut attempt = 0u32;
        loop {
            let mut req = tonic::Request::new(request.clone());
            *req.metadata_mut() = self.metadata.clone();
            req.set_timeout(self.cfg.timeout());
            let mut client = self.client.clone();
            let status = match tokio::time::timeout(self.cfg.timeout(), client.export(req)).await {
                Ok(Ok(resp)) => {
                    let rejected = resp
                        .get_ref()
                        .partial_success
                        .as_ref()
                        .map_or(0, |p| p.rejected_log_records);
                    if rejected > 0 {
                        let message = resp
                            .get_ref()
                            .partial_success
                            .as_ref()
                            .map(|p| p.error_message.clone())
                            .unwrap_or_default();
                        return Err(SinkError::Rejected {
                            sink: format!("otlp_log:{}", self.endpoint),
                            count: usize::try_from(rejected).unwrap_or(actions.len()),
                            message,
                        });
                    }
                    return Ok(());
                }
                Ok(Err(status)) => status,
                Err(_) => tonic::Status::deadline_exceeded("attempt timed out"),
            };
            if !retryable(status.code()) {
                return Err(SinkError::Rejected {
                    sink: format!("otlp_log:{}", self.endpoint),
                    count: actions.len(),
                    message: format!("{:?}: {}", status.code(), status.message()),
                });
            }
            if attempt >= self.cfg.max_retries {
                return Err(self.unavailable(format!(
                    "{:?}: {} (after {} attempt(s))",
                    status.code(),
                    status.message(),
                    attempt + 1
                )));
            }
            tracing::debug!(code = ?status.code(), attempt, "otlp_log sink: retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(self.cfg.max_backoff_ms));
            attempt += 1;
        }
    }
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_owned())
}

fn hex_bytes(hex: Option<&str>, len: usize) -> Vec<u8> {
    let Some(hex) = hex.filter(|h| h.len() == len * 2) else {
        return Vec::new();
    };
    (0..len)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default()
}

fn ms_to_ns(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// One action as an OTLP log record (see the module docs for the mapping).
pub fn to_log_record(a: &UserAction, event_name: &str, observed: SystemTime) -> LogRecord {
    let mut body = Vec::with_capacity(11);
    let mut text = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            body.push(kv(k, s(v)));
        }
    };
    text("command", a.command.as_ref());
    text("user", a.user.as_ref());
    text("host_name", a.host_name.as_ref());
    text("pos_args_json", a.pos_args_json.as_ref().map(|l| &l.value));
    text(
        "keyword_args_json",
        a.keyword_args_json.as_ref().map(|l| &l.value),
    );
    text("output", a.output.as_ref().map(|l| &l.value));
    text("error", a.error.as_ref().map(|l| &l.value));
    text("trace_id", a.trace_id.as_ref());
    text("span_id", a.span_id.as_ref());
    if let Some(t) = a.start_epoch_ms {
        body.push(kv("start_epoch_ms", any_value::Value::IntValue(t)));
    }
    if let Some(t) = a.end_epoch_ms {
        body.push(kv("end_epoch_ms", any_value::Value::IntValue(t)));
    }
    let mut attributes = Vec::with_capacity(2);
    if let Some(u) = &a.user {
        attributes.push(kv(key::ENDUSER_ID, s(u)));
    }
    if let Some(c) = &a.command {
        attributes.push(kv(key::COMMAND, s(c)));
    }
    let (severity_number, severity_text) = if a.error.is_some() {
        (SeverityNumber::Error, "ERROR")
    } else {
        (SeverityNumber::Info, "INFO")
    };
    let observed_ns = observed
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    LogRecord {
        time_unix_nano: a.start_epoch_ms.or(a.end_epoch_ms).map_or(0, ms_to_ns),
        observed_time_unix_nano: observed_ns,
        severity_number: severity_number as i32,
        severity_text: severity_text.to_owned(),
        body: Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList { values: body })),
        }),
        attributes,
        trace_id: hex_bytes(a.trace_id.as_deref(), 16),
        span_id: hex_bytes(a.span_id.as_deref(), 8),
        // W3C "sampled" is unknown here; the flags carry no claim.
        flags: 0,
        event_name: event_name.to_owned(),
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
            .push(to_log_record(a, event_name, observed));
    }
    let resource_logs = by_host
        .into_iter()
        .map(|(host, log_records)| {
            let mut attributes = vec![kv("service.name", s(service_name))];
            if let Some(h) = host {
                attributes.push(kv(key::HOST_NAME, s(h)));
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
    use super::*;
    use crate::proto::LongString;

    #[test]
    fn record_carries_event_name_body_attributes_times_and_ids() {
        let a = UserAction {
            command: Some("_get_table_metadata".into()),
            user: Some("ada@example.com".into()),
            host_name: Some("web-1".into()),
            start_epoch_ms: Some(1_700_000_000_123),
            end_epoch_ms: Some(1_700_000_000_456),
            keyword_args_json: Some(LongString::new("{}")),
            trace_id: Some("0102030405060708090a0b0c0d0e0f10".into()),
            span_id: Some("0102030405060708".into()),
            ..Default::default()
        };
        let r = to_log_record(&a, DEFAULT_EVENT_NAME, UNIX_EPOCH);
        assert_eq!(r.event_name, "actionlog.user_action");
        assert_eq!(r.time_unix_nano, 1_700_000_000_123_000_000);
        assert_eq!(r.trace_id, (1..=16).collect::<Vec<u8>>());
        assert_eq!(r.span_id, (1..=8).collect::<Vec<u8>>());
        assert_eq!(r.severity_text, "INFO");
        assert_eq!(r.attributes[0].key, "enduser.id");
        assert_eq!(r.attributes[1].key, "action_log.command");
        let Some(any_value::Value::KvlistValue(body)) = r.body.and_then(|b| b.value) else {
            panic!("body is not a map");
        };
        let keys: Vec<_> = body.values.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "command",
                "user",
                "host_name",
                "keyword_args_json",
                "trace_id",
                "span_id",
                "start_epoch_ms",
                "end_epoch_ms"
            ]
        );
    }

    #[test]
    fn records_are_grouped_by_host_with_service_name() {
        let mk = |h: &str| UserAction {
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
