//! Log records as a [`SpanView`]: the log-event form of the convention.
//!
//! A log record is an action log when its `EventName` is [`key::EVENT_NAME`]; its
//! attributes carry the same keys as an action span's. What a span holds in its own fields,
//! a log record holds like this (`docs/conventions.md`, "Log events"):
//! - start: `Timestamp`, or `ObservedTimestamp` when that is 0 (the logs data model's rule
//!   for readers that keep one time);
//! - end: the attribute [`key::END_EPOCH_MS`];
//! - error: `exception.*` attributes, or a severity of ERROR or above (described by a string
//!   body); a log record has no status;
//! - trace and span ids: the record's own, absent (`None`) when it was logged outside a span.
//!
//! Records written by actionlog before the log-event form (the `UserAction` fields in a
//! map body: `command`, `user`, `host_name`, ...) are read too: [`OtlpLogEvent::new`]
//! takes such a body apart and hands its fields over as the attributes they stand for.

use std::collections::HashMap;

use opentelemetry::logs::AnyValue as SdkAnyValue;
use opentelemetry::{InstrumentationScope, Key};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_sdk::logs::SdkLogRecord;

use super::ConvertError;
use super::view::{
    AttrLike, AttrValue, HexId, Signal, SpanView, attr_i64, nanos_to_ms, optional_id,
    system_time_ms,
};
use crate::convention as key;

/// `SeverityNumber` ERROR (17) and above mark a failed action.
const ERROR_SEVERITY: i32 = 17;

/// Whether an OTLP log record is an action event (its `EventName` is [`key::EVENT_NAME`]),
/// without taking it apart: the bridge asks before it decides to convert or forward.
pub fn is_action_event(record: &LogRecord) -> bool {
    record.event_name == key::EVENT_NAME
}

/// An OTLP log record (as decoded from a request) seen as an action log; attribute values
/// are moved out.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpLogEvent {
    record: LogRecord,
    /// The fields of an earlier version's map body, under the attribute keys they stand for.
    legacy: Vec<(&'static str, Option<AnyValue>)>,
    /// The earlier body's `start_epoch_ms` (its `Timestamp` was the end when the start was
    /// unknown, so the body is the one to believe).
    legacy_start: Option<Option<i64>>,
}

/// An earlier version's body field name and the attribute key it stands for.
fn legacy_key(name: &str) -> Option<&'static str> {
    Some(match name {
        "command" => key::COMMAND,
        "user" => key::ENDUSER_ID,
        "host_name" => key::HOST_NAME,
        "pos_args_json" => key::POS_ARGS_JSON,
        "keyword_args_json" => key::KEYWORD_ARGS_JSON,
        "output" => key::OUTPUT,
        "error" => key::EXCEPTION_MESSAGE,
        "end_epoch_ms" => key::END_EPOCH_MS,
        _ => return None,
    })
}

impl OtlpLogEvent {
    /// Wraps `record`; a map body of the earlier form (one with a `command` entry) is taken
    /// apart here.
    pub fn new(mut record: LogRecord) -> Self {
        let mut legacy = Vec::new();
        let mut legacy_start = None;
        let is_legacy = matches!(
            record.body.as_ref().and_then(|b| b.value.as_ref()),
            Some(any_value::Value::KvlistValue(kv)) if kv.values.iter().any(|e| e.key == "command")
        );
        if is_legacy
            && let Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(kv)),
            }) = record.body.take()
        {
            legacy_start = Some(None);
            for KeyValue { key, value, .. } in kv.values {
                if key == "start_epoch_ms" {
                    legacy_start = Some(value.as_i64().map(|(ms, _)| ms));
                } else if let Some(k) = legacy_key(&key) {
                    legacy.push((k, value));
                }
            }
        }
        Self {
            record,
            legacy,
            legacy_start,
        }
    }

    /// The record, as it was handed in (less an earlier version's body, taken apart).
    pub fn record(&self) -> &LogRecord {
        &self.record
    }
}

impl SpanView for OtlpLogEvent {
    type Attr = Option<AnyValue>;

    fn signal(&self) -> Signal {
        Signal::LogEvent
    }

    fn is_action(&self) -> bool {
        is_action_event(&self.record)
    }

    fn drain_attributes(&mut self, mut f: impl FnMut(&str, Option<AnyValue>)) {
        for kv in std::mem::take(&mut self.record.attributes) {
            f(kv.key.as_str(), kv.value);
        }
        // After the attributes: an earlier version wrote the same user and command in both.
        for (k, v) in std::mem::take(&mut self.legacy) {
            f(k, v);
        }
    }

    fn drain_exception_event(&mut self, _f: impl FnMut(&str, Option<AnyValue>)) {}

    fn start_epoch_ms(&self) -> Option<i64> {
        if let Some(start) = self.legacy_start {
            return start;
        }
        nanos_to_ms(self.record.time_unix_nano)
            .or_else(|| nanos_to_ms(self.record.observed_time_unix_nano))
    }

    fn end_epoch_ms(&self) -> Option<i64> {
        None
    }

    fn error_status(&self) -> Option<&str> {
        (self.record.severity_number >= ERROR_SEVERITY).then(|| {
            match self.record.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.as_str(),
                _ => "",
            }
        })
    }

    fn trace_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        optional_id(&self.record.trace_id, 16).map_err(ConvertError::InvalidTraceId)
    }

    fn span_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        optional_id(&self.record.span_id, 8).map_err(ConvertError::InvalidSpanId)
    }
}

/// A log record of the OpenTelemetry SDK, with its instrumentation scope, seen as an action
/// log (the in-process log exporter's route); attribute values are lent.
#[derive(Debug, Clone, Copy)]
pub struct SdkLogEvent<'a> {
    record: &'a SdkLogRecord,
    scope: &'a InstrumentationScope,
}

impl<'a> SdkLogEvent<'a> {
    /// The record as the SDK hands it to a log exporter.
    pub fn new(record: &'a SdkLogRecord, scope: &'a InstrumentationScope) -> Self {
        Self { record, scope }
    }
}

fn sdk_any_json(v: &SdkAnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        SdkAnyValue::Int(i) => J::from(*i),
        SdkAnyValue::Double(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        SdkAnyValue::String(s) => J::String(s.as_str().to_owned()),
        SdkAnyValue::Boolean(b) => J::Bool(*b),
        SdkAnyValue::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        SdkAnyValue::ListAny(l) => J::Array(l.iter().map(sdk_any_json).collect()),
        SdkAnyValue::Map(m) => J::Object(map_json(m)),
        _ => J::Null,
    }
}

fn map_json(m: &HashMap<Key, SdkAnyValue>) -> serde_json::Map<String, serde_json::Value> {
    m.iter()
        .map(|(k, v)| (k.as_str().to_owned(), sdk_any_json(v)))
        .collect()
}

fn sdk_any_value(v: &SdkAnyValue) -> AttrValue<'_> {
    match v {
        SdkAnyValue::String(s) => AttrValue::Str(s.as_str()),
        SdkAnyValue::Int(i) => AttrValue::I64(*i),
        SdkAnyValue::Double(f) => AttrValue::F64(*f),
        SdkAnyValue::Boolean(b) => AttrValue::Bool(*b),
        other => AttrValue::Json(sdk_any_json(other).to_string()),
    }
}

impl AttrLike for &SdkAnyValue {
    fn as_str(&self) -> Option<&str> {
        match self {
            SdkAnyValue::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn into_text(self) -> String {
        sdk_any_value(self).into_text()
    }

    fn as_i64(&self) -> Option<(i64, bool)> {
        attr_i64(&sdk_any_value(self))
    }
}

impl<'a> SpanView for SdkLogEvent<'a> {
    type Attr = &'a SdkAnyValue;

    fn signal(&self) -> Signal {
        Signal::LogEvent
    }

    fn is_action(&self) -> bool {
        self.record.event_name() == Some(key::EVENT_NAME)
    }

    fn drain_attributes(&mut self, mut f: impl FnMut(&str, &'a SdkAnyValue)) {
        let record: &'a SdkLogRecord = self.record;
        for (k, v) in record.attributes_iter() {
            f(k.as_str(), v);
        }
    }

    fn drain_exception_event(&mut self, _f: impl FnMut(&str, &'a SdkAnyValue)) {}

    fn start_epoch_ms(&self) -> Option<i64> {
        self.record
            .timestamp()
            .or(self.record.observed_timestamp())
            .and_then(system_time_ms)
    }

    fn end_epoch_ms(&self) -> Option<i64> {
        None
    }

    fn error_status(&self) -> Option<&str> {
        let severity = self.record.severity_number()?;
        ((severity as i32) >= ERROR_SEVERITY).then(|| match self.record.body() {
            Some(SdkAnyValue::String(s)) => s.as_str(),
            _ => "",
        })
    }

    fn trace_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        match self.record.trace_context() {
            Some(tc) => {
                optional_id(&tc.trace_id.to_bytes(), 16).map_err(ConvertError::InvalidTraceId)
            }
            None => Ok(None),
        }
    }

    fn span_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        match self.record.trace_context() {
            Some(tc) => optional_id(&tc.span_id.to_bytes(), 8).map_err(ConvertError::InvalidSpanId),
            None => Ok(None),
        }
    }

    fn made_by_actionlog(&self) -> bool {
        crate::action::is_own_scope(self.scope)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::KeyValueList;

    use super::*;
    use crate::convert::{ConvertOptions, ConvertWarning, convert};
    use crate::proto::UserAction;

    fn kv(k: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn s(v: &str) -> any_value::Value {
        any_value::Value::StringValue(v.into())
    }

    fn event(attrs: Vec<KeyValue>) -> LogRecord {
        LogRecord {
            event_name: key::EVENT_NAME.into(),
            time_unix_nano: 1_700_000_000_123_456_789,
            observed_time_unix_nano: 1_700_000_009_000_000_000,
            attributes: attrs,
            ..Default::default()
        }
    }

    fn action(r: LogRecord) -> Result<Option<UserAction>, ConvertError> {
        convert(
            OtlpLogEvent::new(r),
            Some("res-host"),
            &ConvertOptions::default(),
        )
        .map(|c| c.map(|c| c.action))
    }

    #[test]
    fn an_event_outside_any_span_converts_without_ids_and_takes_the_resource_host() {
        let a = action(event(vec![
            kv(key::COMMAND, s("_get_table_metadata")),
            kv(key::USER_ID, s("ada")),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.command.as_deref(), Some("_get_table_metadata"));
        assert_eq!(a.user.as_deref(), Some("ada"));
        assert_eq!(a.host_name.as_deref(), Some("res-host"));
        assert_eq!(a.start_epoch_ms, Some(1_700_000_000_123));
        assert_eq!(
            (a.end_epoch_ms, a.error, a.trace_id, a.span_id),
            (None, None, None, None)
        );
    }

    #[test]
    fn the_name_decides_and_a_named_event_without_command_is_an_error() {
        let mut other = event(vec![kv(key::COMMAND, s("c"))]);
        other.event_name = "app.login".into();
        assert_eq!(action(other), Ok(None));
        assert_eq!(action(event(vec![])), Err(ConvertError::MissingCommand));
    }

    #[test]
    fn no_timestamp_means_the_observed_one_and_a_text_end_is_read_with_a_warning() {
        let mut r = event(vec![
            kv(key::COMMAND, s("c")),
            kv(key::END_EPOCH_MS, s("1700000009500")),
        ]);
        r.time_unix_nano = 0;
        let c = convert(OtlpLogEvent::new(r), None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.action.start_epoch_ms, Some(1_700_000_009_000));
        assert_eq!(c.action.end_epoch_ms, Some(1_700_000_009_500));
        assert!(c.warnings.contains(&ConvertWarning::WrongType {
            key: key::END_EPOCH_MS
        }));
        let bad = event(vec![
            kv(key::COMMAND, s("c")),
            kv(key::END_EPOCH_MS, s("soon")),
        ]);
        assert_eq!(action(bad).unwrap().unwrap().end_epoch_ms, None);
    }

    #[test]
    fn exceptions_or_an_error_severity_mean_failure() {
        let a = action(event(vec![
            kv(key::COMMAND, s("c")),
            kv(key::EXCEPTION_TYPE, s("KeyError")),
            kv(key::EXCEPTION_MESSAGE, s("'x'")),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.error.unwrap().value, "KeyError: 'x'");
        let mut r = event(vec![kv(key::COMMAND, s("c"))]);
        r.severity_number = 17;
        r.body = Some(AnyValue {
            value: Some(s("table not found")),
        });
        assert_eq!(
            action(r).unwrap().unwrap().error.unwrap().value,
            "table not found"
        );
        let mut warn = event(vec![kv(key::COMMAND, s("c"))]);
        warn.severity_number = 13;
        assert_eq!(action(warn).unwrap().unwrap().error, None);
    }

    #[test]
    fn ids_are_optional_but_a_wrong_length_is_an_error() {
        let mut r = event(vec![kv(key::COMMAND, s("c"))]);
        r.trace_id = vec![0; 16];
        r.span_id = vec![0; 8];
        assert_eq!(action(r.clone()).unwrap().unwrap().trace_id, None);
        r.trace_id = vec![1; 5];
        assert!(matches!(action(r), Err(ConvertError::InvalidTraceId(_))));
    }

    /// What versions before the log-event form sent: the fields in a map body.
    #[test]
    fn the_earlier_body_form_still_converts() {
        let body = KeyValueList {
            values: vec![
                kv("command", s("_log_update_bookmark")),
                kv("user", s("ada")),
                kv("host_name", s("web-1")),
                kv("keyword_args_json", s("{\"n\":1}")),
                kv("error", s("PermissionError: nope")),
                kv("trace_id", s("0102030405060708090a0b0c0d0e0f10")),
                kv("span_id", s("0102030405060708")),
                kv(
                    "end_epoch_ms",
                    any_value::Value::IntValue(1_700_000_000_456),
                ),
            ],
        };
        let r = LogRecord {
            // The earlier sink's time was the end when the start was unknown.
            time_unix_nano: 1_700_000_000_456_000_000,
            severity_number: 17,
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(body)),
            }),
            attributes: vec![
                kv(key::ENDUSER_ID, s("ada")),
                kv(key::COMMAND, s("_log_update_bookmark")),
            ],
            trace_id: (1..=16).collect(),
            span_id: (1..=8).collect(),
            event_name: key::EVENT_NAME.into(),
            ..Default::default()
        };
        let a = action(r).unwrap().unwrap();
        assert_eq!(
            a,
            UserAction {
                host_name: Some("web-1".into()),
                start_epoch_ms: None,
                end_epoch_ms: Some(1_700_000_000_456),
                pos_args_json: None,
                keyword_args_json: Some(crate::proto::LongString::new("{\"n\":1}")),
                output: None,
                error: Some(crate::proto::LongString::new("PermissionError: nope")),
                user: Some("ada".into()),
                command: Some("_log_update_bookmark".into()),
                trace_id: Some("0102030405060708090a0b0c0d0e0f10".into()),
                span_id: Some("0102030405060708".into()),
            }
        );
    }
}
