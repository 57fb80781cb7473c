//! The SDK's [`SpanData`] as a [`SpanView`]: the in-process exporter's route.

use opentelemetry::trace::Status;
use opentelemetry::{Array, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use super::ConvertError;
use super::view::{AttrLike, AttrValue, HexId, SpanView, attr_i64, checked_id, system_time_ms};
use crate::convention as key;

/// An SDK value's text when it is a string (owned and borrowed values alike).
fn sdk_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

impl AttrLike for Value {
    fn as_str(&self) -> Option<&str> {
        sdk_str(self)
    }

    fn into_text(self) -> String {
        match self {
            Value::String(s) => s.into(),
            other => sdk_value(&other).into_text(),
        }
    }

    fn as_i64(&self) -> Option<(i64, bool)> {
        attr_i64(&sdk_value(self))
    }
}

impl AttrLike for &Value {
    fn as_str(&self) -> Option<&str> {
        sdk_str(self)
    }

    fn into_text(self) -> String {
        match sdk_str(self) {
            Some(s) => s.to_owned(),
            None => sdk_value(self).into_text(),
        }
    }

    fn as_i64(&self) -> Option<(i64, bool)> {
        attr_i64(&sdk_value(self))
    }
}

fn sdk_value(v: &Value) -> AttrValue<'_> {
    match v {
        Value::String(s) => AttrValue::Str(s.as_str()),
        Value::Bool(b) => AttrValue::Bool(*b),
        Value::I64(i) => AttrValue::I64(*i),
        Value::F64(f) => AttrValue::F64(*f),
        Value::Array(a) => AttrValue::Json(
            match a {
                Array::Bool(v) => serde_json::to_string(v),
                Array::I64(v) => serde_json::to_string(v),
                Array::F64(v) => serde_json::to_string(v),
                Array::String(v) => {
                    serde_json::to_string(&v.iter().map(StringValue::as_str).collect::<Vec<_>>())
                }
                _ => Ok("[]".to_owned()),
            }
            .unwrap_or_else(|_| "[]".to_owned()),
        ),
        _ => AttrValue::Json(format!("{v}")),
    }
}

fn sdk_exception_event(span: &SpanData) -> Option<usize> {
    span.events
        .events
        .iter()
        .rposition(|e| e.name == key::EXCEPTION_EVENT)
}

fn sdk_is_action(span: &SpanData) -> bool {
    span.attributes
        .iter()
        .any(|kv| kv.key.as_str() == key::COMMAND)
}

/// A borrowed SDK span: attribute values are lent, and copied only when kept.
impl<'a> SpanView for &'a SpanData {
    type Attr = &'a Value;

    fn is_action(&self) -> bool {
        sdk_is_action(self)
    }

    fn drain_attributes(&mut self, mut f: impl FnMut(&str, &'a Value)) {
        let span: &'a SpanData = self;
        for kv in &span.attributes {
            f(kv.key.as_str(), &kv.value);
        }
    }

    fn drain_exception_event(&mut self, mut f: impl FnMut(&str, &'a Value)) {
        let span: &'a SpanData = self;
        if let Some(i) = sdk_exception_event(span) {
            for kv in &span.events.events[i].attributes {
                f(kv.key.as_str(), &kv.value);
            }
        }
    }

    // The rest reads plain fields: the owned impl's answers apply as they are.
    #[inline(always)]
    fn start_epoch_ms(&self) -> Option<i64> {
        SpanData::start_epoch_ms(self)
    }

    #[inline(always)]
    fn end_epoch_ms(&self) -> Option<i64> {
        SpanData::end_epoch_ms(self)
    }

    fn error_status(&self) -> Option<&str> {
        SpanData::error_status(self)
    }

    #[inline(always)]
    fn trace_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        SpanData::trace_id_hex(self)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        SpanData::span_id_hex(self)
    }

    #[inline(always)]
    fn made_by_actionlog(&self) -> bool {
        SpanData::made_by_actionlog(self)
    }
}

/// An owned SDK span: attribute values are moved out.
impl SpanView for SpanData {
    type Attr = Value;

    fn is_action(&self) -> bool {
        sdk_is_action(self)
    }

    fn drain_attributes(&mut self, mut f: impl FnMut(&str, Value)) {
        for kv in std::mem::take(&mut self.attributes) {
            f(kv.key.as_str(), kv.value);
        }
    }

    fn drain_exception_event(&mut self, mut f: impl FnMut(&str, Value)) {
        if let Some(i) = sdk_exception_event(self) {
            for kv in std::mem::take(&mut self.events.events[i].attributes) {
                f(kv.key.as_str(), kv.value);
            }
        }
    }

    #[inline(always)]
    fn start_epoch_ms(&self) -> Option<i64> {
        system_time_ms(self.start_time)
    }

    #[inline(always)]
    fn end_epoch_ms(&self) -> Option<i64> {
        system_time_ms(self.end_time)
    }

    fn error_status(&self) -> Option<&str> {
        match &self.status {
            Status::Error { description } => Some(description),
            _ => None,
        }
    }

    #[inline(always)]
    fn trace_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        checked_id(&self.span_context.trace_id().to_bytes(), 16)
            .map(Some)
            .map_err(ConvertError::InvalidTraceId)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        checked_id(&self.span_context.span_id().to_bytes(), 8)
            .map(Some)
            .map_err(ConvertError::InvalidSpanId)
    }

    #[inline(always)]
    fn made_by_actionlog(&self) -> bool {
        crate::action::is_own_scope(&self.instrumentation_scope)
    }
}

// ---- OTLP protobuf spans ------------------------------------------------------------
