//! The other direction for log events: a `UserAction` as an OTLP log record of the
//! log-event form (`docs/conventions.md`), which [`OtlpLogEvent`](super::OtlpLogEvent)
//! converts back to the same `UserAction`.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};

use crate::convention as key;
use crate::proto::UserAction;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn hex_bytes(hex: Option<&str>, len: usize) -> Vec<u8> {
    hex.filter(|h| h.len() == len * 2)
        .and_then(|h| const_hex::decode(h).ok())
        .unwrap_or_default()
}

fn ms_to_ns(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// One action as an OTLP log event named `event_name` (normally
/// [`EVENT_NAME`](crate::convention::EVENT_NAME)); `observed` is when it is sent.
///
/// The fields are attributes under the span convention's keys; the body is empty, as the
/// semantic conventions ask of events. `Timestamp` is the start and
/// `action_log.end_epoch_ms` the end. An error is `exception.message` (the whole error
/// text, so that it converts back unchanged) with severity ERROR; an empty error, which
/// the KPIs count as a success, is none (as on a span). An action without a start time has
/// both timestamps 0, so that no reader takes the time it was sent for its start.
pub fn otlp_log_record(a: &UserAction, event_name: &str, observed: SystemTime) -> LogRecord {
    let mut attributes = Vec::with_capacity(8);
    let mut text = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            attributes.push(kv(k, any_value::Value::StringValue(v.clone())));
        }
    };
    text(key::COMMAND, a.command.as_ref());
    text(key::ENDUSER_ID, a.user.as_ref());
    text(key::HOST_NAME, a.host_name.as_ref());
    text(
        key::POS_ARGS_JSON,
        a.pos_args_json.as_ref().map(|l| &l.value),
    );
    text(
        key::KEYWORD_ARGS_JSON,
        a.keyword_args_json.as_ref().map(|l| &l.value),
    );
    text(key::OUTPUT, a.output.as_ref().map(|l| &l.value));
    let error = a.error.as_ref().map(|l| &l.value).filter(|e| !e.is_empty());
    text(key::EXCEPTION_MESSAGE, error);
    if let Some(end) = a.end_epoch_ms {
        attributes.push(kv(key::END_EPOCH_MS, any_value::Value::IntValue(end)));
    }
    let (severity_number, severity_text) = if error.is_some() {
        (SeverityNumber::Error, "ERROR")
    } else {
        (SeverityNumber::Info, "INFO")
    };
    let observed_ns = match a.start_epoch_ms {
        None => 0,
        Some(_) => observed
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    };
    LogRecord {
        time_unix_nano: a.start_epoch_ms.map_or(0, ms_to_ns),
        observed_time_unix_nano: observed_ns,
        severity_number: severity_number as i32,
        severity_text: severity_text.to_owned(),
        body: None,
        attributes,
        trace_id: hex_bytes(a.trace_id.as_deref(), 16),
        span_id: hex_bytes(a.span_id.as_deref(), 8),
        // W3C "sampled" is unknown here; the flags carry no claim.
        flags: 0,
        event_name: event_name.to_owned(),
        ..Default::default()
    }
}
