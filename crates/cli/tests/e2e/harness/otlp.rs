//! OTLP for the end-to-end tests: action spans and requests as a client would send them.

use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

pub(crate) fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

pub(crate) fn sv(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

pub(crate) fn action_span(n: u64, command: &str) -> Span {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&(n + 1).to_be_bytes());
    trace_id[15] = 0x42;
    Span {
        trace_id: trace_id.to_vec(),
        span_id: (n + 1).to_be_bytes().to_vec(),
        name: command.into(),
        start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000 + 5_000_000,
        attributes: vec![
            kv("action_log.command", sv(command)),
            kv("enduser.id", sv(&format!("user{n}@example.com"))),
            kv(
                "action_log.keyword_args_json",
                sv(&format!("{{\"n\":{n}}}")),
            ),
        ],
        ..Default::default()
    }
}

pub(crate) fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![kv("host.name", sv("rust-host"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub(crate) fn hex(b: &[u8]) -> String {
    const_hex::encode(b)
}

/// Sends `spans` as one OTLP request and, when the bridge accepted every one, records their
/// span ids in `acked`; whether it did (the load loops stop at the first refusal).
pub(crate) async fn export_recording_acked(
    client: &mut TraceServiceClient<tonic::transport::Channel>,
    spans: Vec<Span>,
    acked: &Mutex<Vec<String>>,
) -> bool {
    let ids: Vec<String> = spans.iter().map(|s| hex(&s.span_id)).collect();
    match client.export(request(spans)).await {
        Ok(r) if r.get_ref().partial_success.is_none() => {
            acked.lock().unwrap().extend(ids);
            true
        }
        _ => false,
    }
}
