//! OTLP protobuf spans as a [`SpanView`]: the bridge's route.

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span as OtlpSpan, status::StatusCode};

use super::ConvertError;
use super::view::{AttrLike, AttrValue, HexId, SpanView, attr_i64, checked_id, nanos_to_ms};
use crate::convention as key;

impl AttrLike for Option<AnyValue> {
    fn as_str(&self) -> Option<&str> {
        match self.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    fn into_text(self) -> String {
        match self {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => s,
            other => otlp_value(other.as_ref()).into_text(),
        }
    }

    fn as_i64(&self) -> Option<(i64, bool)> {
        attr_i64(&otlp_value(self.as_ref()))
    }
}

fn any_value_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(f)) => {
            serde_json::Number::from_f64(*f).map_or(J::Null, J::Number)
        }
        Some(any_value::Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(any_value_json).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(J::Null, any_value_json),
                    )
                })
                .collect(),
        ),
        Some(any_value::Value::BytesValue(b)) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Some(any_value::Value::StringValueStrindex(i)) => J::from(*i),
        None => J::Null,
    }
}

fn otlp_value(v: Option<&AnyValue>) -> AttrValue<'_> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(any_value::Value::IntValue(i)) => AttrValue::I64(*i),
        Some(any_value::Value::DoubleValue(f)) => AttrValue::F64(*f),
        Some(_) => AttrValue::Json(
            v.map(any_value_json)
                .unwrap_or(serde_json::Value::Null)
                .to_string(),
        ),
        None => AttrValue::Json("null".to_owned()),
    }
}

fn otlp_exception_event(span: &OtlpSpan) -> Option<usize> {
    span.events
        .iter()
        .rposition(|e| e.name == key::EXCEPTION_EVENT)
}

fn otlp_is_action(span: &OtlpSpan) -> bool {
    span.attributes.iter().any(|kv| kv.key == key::COMMAND)
}

/// A borrowed OTLP span: attribute values are copied out.
impl<'a> SpanView for &'a OtlpSpan {
    type Attr = AttrValue<'a>;

    fn is_action(&self) -> bool {
        otlp_is_action(self)
    }

    fn drain_attributes(&mut self, mut f: impl FnMut(&str, AttrValue<'a>)) {
        let span: &'a OtlpSpan = self;
        for kv in &span.attributes {
            f(kv.key.as_str(), otlp_value(kv.value.as_ref()));
        }
    }

    fn drain_exception_event(&mut self, mut f: impl FnMut(&str, AttrValue<'a>)) {
        let span: &'a OtlpSpan = self;
        if let Some(i) = otlp_exception_event(span) {
            for kv in &span.events[i].attributes {
                f(kv.key.as_str(), otlp_value(kv.value.as_ref()));
            }
        }
    }

    // The rest reads plain fields: the owned impl's answers apply as they are.
    #[inline(always)]
    fn start_epoch_ms(&self) -> Option<i64> {
        OtlpSpan::start_epoch_ms(self)
    }

    #[inline(always)]
    fn end_epoch_ms(&self) -> Option<i64> {
        OtlpSpan::end_epoch_ms(self)
    }

    fn error_status(&self) -> Option<&str> {
        OtlpSpan::error_status(self)
    }

    #[inline(always)]
    fn trace_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        OtlpSpan::trace_id_hex(self)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        OtlpSpan::span_id_hex(self)
    }
}

/// An owned OTLP span (as decoded from a request): attribute values are moved out.
impl SpanView for OtlpSpan {
    type Attr = Option<AnyValue>;

    fn is_action(&self) -> bool {
        otlp_is_action(self)
    }

    fn drain_attributes(&mut self, mut f: impl FnMut(&str, Option<AnyValue>)) {
        for kv in std::mem::take(&mut self.attributes) {
            f(kv.key.as_str(), kv.value);
        }
    }

    fn drain_exception_event(&mut self, mut f: impl FnMut(&str, Option<AnyValue>)) {
        if let Some(i) = otlp_exception_event(self) {
            for kv in std::mem::take(&mut self.events[i].attributes) {
                f(kv.key.as_str(), kv.value);
            }
        }
    }

    #[inline(always)]
    fn start_epoch_ms(&self) -> Option<i64> {
        nanos_to_ms(self.start_time_unix_nano)
    }

    #[inline(always)]
    fn end_epoch_ms(&self) -> Option<i64> {
        nanos_to_ms(self.end_time_unix_nano)
    }

    fn error_status(&self) -> Option<&str> {
        match &self.status {
            Some(s) if s.code == StatusCode::Error as i32 => Some(&s.message),
            _ => None,
        }
    }

    #[inline(always)]
    fn trace_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        checked_id(&self.trace_id, 16)
            .map(Some)
            .map_err(ConvertError::InvalidTraceId)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<Option<HexId>, ConvertError> {
        checked_id(&self.span_id, 8)
            .map(Some)
            .map_err(ConvertError::InvalidSpanId)
    }
}

/// Finds `host.name` among OTLP resource attributes.
pub fn otlp_resource_host(
    resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
) -> Option<&str> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == key::HOST_NAME)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

// ---- the other direction: UserAction -> span --------------------------------------
