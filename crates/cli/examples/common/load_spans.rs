//! The action spans the load examples send: shared by `otlp_load` (the bridge's input) and
//! `kafka_bare` (which converts the same spans to get messages of the same size). The same
//! actions as log events, for `otlp_load --signal logs`.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

/// The resource's host name.
pub const HOST: &str = "load-host";

/// One realistic action span, ids made unique by `n` (≥ 1).
pub fn span(n: u64) -> Span {
    let mut trace_id = [7u8; 16];
    trace_id[..8].copy_from_slice(&n.to_be_bytes());
    let start = 1_700_000_000_000_000_000 + n * 1_000;
    Span {
        trace_id: trace_id.to_vec(),
        span_id: n.to_be_bytes().to_vec(),
        name: "_get_table_metadata".into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 3_000_000,
        attributes: vec![
            kv("action_log.command", "_get_table_metadata".into()),
            kv("enduser.id", format!("user{}@example.com", n % 97)),
            kv("action_log.pos_args_json", "[]".into()),
            kv(
                "action_log.keyword_args_json",
                format!(
                    r#"{{"table_key":"hive://gold.core/table_{}","index":{},"source":"search_results"}}"#,
                    n % 1000,
                    n % 10
                ),
            ),
            kv("action_log.output", r#"{"status":"ok"}"#.into()),
        ],
        ..Default::default()
    }
}

/// One request of `batch` action spans (request `seq`).
pub fn request(seq: u64, batch: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("host.name", HOST.into())],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..batch).map(|i| span(seq * batch + i + 1)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Action `n` as a log event of the convention's log-event form: the span's attributes,
/// ids and start, the end as `action_log.end_epoch_ms`.
pub fn log_event(n: u64) -> LogRecord {
    let s = span(n);
    let mut attributes = s.attributes;
    attributes.push(KeyValue {
        key: "action_log.end_epoch_ms".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(
                (s.end_time_unix_nano / 1_000_000) as i64,
            )),
        }),
        ..Default::default()
    });
    LogRecord {
        time_unix_nano: s.start_time_unix_nano,
        observed_time_unix_nano: s.start_time_unix_nano,
        severity_number: 9,
        severity_text: "INFO".into(),
        event_name: "actionlog.user_action".into(),
        attributes,
        trace_id: s.trace_id,
        span_id: s.span_id,
        ..Default::default()
    }
}

/// One logs request of `batch` action events (request `seq`): the actions of
/// [`request`]`(seq, batch)`.
pub fn log_request(seq: u64, batch: u64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("host.name", HOST.into())],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: (0..batch).map(|i| log_event(seq * batch + i + 1)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
