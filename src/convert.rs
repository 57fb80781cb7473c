//! The conversion between action-log spans and `UserAction`s: one code path for every
//! route.
//!
//! The in-process exporter sees the SDK's [`SpanData`]; the bridge service receives OTLP
//! protobuf [`Span`](opentelemetry_proto::tonic::trace::v1::Span)s. Both implement
//! [`SpanView`], and [`convert`] turns any `SpanView` into a `UserAction` by the rules of
//! `docs/conventions.md`. [`span_attributes`] is the other direction, used by the Rust
//! decorator to emit spans.
//!
//! Conversion never panics and never silently loses data: values of the wrong type are
//! rendered as text, text that should be JSON but is not is kept verbatim, and over-long
//! values are cut with a visible marker; each such case is reported as a [`ConvertWarning`].

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::Status;
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span as OtlpSpan, status::StatusCode};
use opentelemetry_sdk::trace::SpanData;

use crate::convention as key;
use crate::proto::{LongString, UserAction};

/// Default cap on each text field (args, output, error): 1 MiB.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1024 * 1024;

/// Conversion settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Text fields longer than this many bytes are cut at a character boundary and end with
    /// a truncation marker (see [`truncation_marker`]).
    pub max_field_bytes: usize,
    /// Check that the JSON attributes hold valid JSON (a warning when they do not; the text
    /// is kept either way).
    pub validate_json: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            validate_json: true,
        }
    }
}

/// An attribute value seen through a [`SpanView`], borrowed where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// An integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// An array, map or bytes value, already rendered as JSON text.
    Json(String),
}

impl AttrValue<'_> {
    /// The value as text: strings as they are, everything else as its JSON rendering.
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::Str(s) => (*s).to_owned(),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::I64(i) => i.to_string(),
            AttrValue::F64(f) => serde_json::Number::from_f64(*f)
                .map_or_else(|| "null".to_owned(), |n| n.to_string()),
            AttrValue::Json(j) => j.clone(),
        }
    }

    fn is_str(&self) -> bool {
        matches!(self, AttrValue::Str(_))
    }
}

/// The status of a span, as far as conversion cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanOutcome<'a> {
    /// Unset or Ok.
    NotError,
    /// Error, with the status description (may be empty).
    Error(&'a str),
}

/// Read access to a span, implemented for the SDK's [`SpanData`] and for OTLP spans, so
/// that one function converts both.
pub trait SpanView {
    /// The span name.
    fn name(&self) -> &str;
    /// Calls `f` for every span attribute, in order.
    fn visit_attributes<'s>(&'s self, f: &mut dyn FnMut(&'s str, AttrValue<'s>));
    /// Calls `f` for every attribute of the last span event named `exception`.
    fn visit_exception_event<'s>(&'s self, f: &mut dyn FnMut(&'s str, AttrValue<'s>));
    /// Start time in ns since the Unix epoch; 0 when unknown.
    fn start_unix_nanos(&self) -> u64;
    /// End time in ns since the Unix epoch; 0 when unknown.
    fn end_unix_nanos(&self) -> u64;
    /// The span status.
    fn outcome(&self) -> SpanOutcome<'_>;
    /// The trace id as 32 lower-case hex digits.
    fn trace_id_hex(&self) -> Result<String, ConvertError>;
    /// The span id as 16 lower-case hex digits.
    fn span_id_hex(&self) -> Result<String, ConvertError>;
}

/// Why a span that claims to be an action log cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// `action_log.command` is present but empty.
    #[error("attribute action_log.command is empty")]
    EmptyCommand,
    /// The trace id is not 16 bytes, or is all zeros.
    #[error("invalid trace id: {0}")]
    InvalidTraceId(String),
    /// The span id is not 8 bytes, or is all zeros.
    #[error("invalid span id: {0}")]
    InvalidSpanId(String),
}

impl ConvertError {
    /// A short stable label for metrics (`reason="..."`).
    pub fn reason(&self) -> &'static str {
        match self {
            ConvertError::EmptyCommand => "empty_command",
            ConvertError::InvalidTraceId(_) => "invalid_trace_id",
            ConvertError::InvalidSpanId(_) => "invalid_span_id",
        }
    }
}

/// Something about an action span that conversion handled by a documented fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertWarning {
    /// An attribute had a non-string type; its text rendering was used.
    WrongType {
        /// The attribute key.
        key: &'static str,
    },
    /// A JSON attribute did not hold valid JSON; the text was kept verbatim.
    InvalidJson {
        /// The attribute key.
        key: &'static str,
    },
    /// A text field was longer than the cap and was cut.
    Truncated {
        /// The attribute key (or `error`).
        key: &'static str,
        /// Its length in bytes before cutting.
        original_bytes: usize,
    },
    /// Neither `enduser.id` nor `user.id` was present.
    MissingUser,
    /// The end time is before the start time (kept as reported).
    EndBeforeStart,
}

impl ConvertWarning {
    /// A short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ConvertWarning::WrongType { .. } => "wrong_type",
            ConvertWarning::InvalidJson { .. } => "invalid_json",
            ConvertWarning::Truncated { .. } => "truncated",
            ConvertWarning::MissingUser => "missing_user",
            ConvertWarning::EndBeforeStart => "end_before_start",
        }
    }
}

/// A converted action and what conversion had to work around.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The action.
    pub action: UserAction,
    /// Fallbacks applied (empty for a well-formed span).
    pub warnings: Vec<ConvertWarning>,
}

/// The marker appended to a field cut at `kept` of `original` bytes.
pub fn truncation_marker(kept: usize, original: usize) -> String {
    format!("…[actionlog: truncated, {kept} of {original} bytes kept]")
}

#[derive(Default)]
struct Found<'s> {
    command: Option<AttrValue<'s>>,
    enduser: Option<AttrValue<'s>>,
    user: Option<AttrValue<'s>>,
    host: Option<AttrValue<'s>>,
    pos_args: Option<AttrValue<'s>>,
    kw_args: Option<AttrValue<'s>>,
    output: Option<AttrValue<'s>>,
    exc_type: Option<AttrValue<'s>>,
    exc_message: Option<AttrValue<'s>>,
    exc_stack: Option<AttrValue<'s>>,
}

impl<'s> Found<'s> {
    fn see(&mut self, k: &'s str, v: AttrValue<'s>) {
        let slot = match k {
            key::COMMAND => &mut self.command,
            key::ENDUSER_ID => &mut self.enduser,
            key::USER_ID => &mut self.user,
            key::HOST_NAME => &mut self.host,
            key::POS_ARGS_JSON => &mut self.pos_args,
            key::KEYWORD_ARGS_JSON => &mut self.kw_args,
            key::OUTPUT => &mut self.output,
            key::EXCEPTION_TYPE => &mut self.exc_type,
            key::EXCEPTION_MESSAGE => &mut self.exc_message,
            key::EXCEPTION_STACKTRACE => &mut self.exc_stack,
            _ => return,
        };
        *slot = Some(v);
    }
}

/// Converts a span to a `UserAction` by the convention.
///
/// Returns `Ok(None)` for spans that are not action logs (no `action_log.command`), and an
/// error for action spans that cannot be converted (empty command, invalid ids).
/// `resource_host` is the resource's `host.name`, used when the span has none.
pub fn convert<S: SpanView + ?Sized>(
    span: &S,
    resource_host: Option<&str>,
    opts: &ConvertOptions,
) -> Result<Option<Converted>, ConvertError> {
    let mut found = Found::default();
    span.visit_attributes(&mut |k, v| found.see(k, v));
    let Some(command) = found.command.take() else {
        return Ok(None);
    };
    let mut warnings = Vec::new();

    let command = scalar_text(command, key::COMMAND, &mut warnings);
    if command.is_empty() {
        return Err(ConvertError::EmptyCommand);
    }
    let trace_id = span.trace_id_hex()?;
    let span_id = span.span_id_hex()?;

    let user = match (found.enduser.take(), found.user.take()) {
        (Some(v), _) => Some(scalar_text(v, key::ENDUSER_ID, &mut warnings)),
        (None, Some(v)) => Some(scalar_text(v, key::USER_ID, &mut warnings)),
        (None, None) => {
            warnings.push(ConvertWarning::MissingUser);
            None
        }
    };
    let host_name = match found.host.take() {
        Some(v) => Some(scalar_text(v, key::HOST_NAME, &mut warnings)),
        None => resource_host.map(str::to_owned),
    };

    let start = nanos_to_ms(span.start_unix_nanos());
    let end = nanos_to_ms(span.end_unix_nanos());
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        warnings.push(ConvertWarning::EndBeforeStart);
    }

    let json_field = |v: Option<AttrValue<'_>>, k: &'static str, w: &mut Vec<ConvertWarning>| {
        v.map(|v| LongString::new(json_text(v, k, opts, w)))
    };
    let pos_args_json = json_field(found.pos_args.take(), key::POS_ARGS_JSON, &mut warnings);
    let keyword_args_json =
        json_field(found.kw_args.take(), key::KEYWORD_ARGS_JSON, &mut warnings);
    let output = json_field(found.output.take(), key::OUTPUT, &mut warnings);

    let error = match span.outcome() {
        SpanOutcome::NotError => None,
        SpanOutcome::Error(description) => {
            let mut exc = (
                found.exc_type.take(),
                found.exc_message.take(),
                found.exc_stack.take(),
            );
            if exc.0.is_none() && exc.1.is_none() {
                let mut ev = Found::default();
                span.visit_exception_event(&mut |k, v| ev.see(k, v));
                exc = (ev.exc_type, ev.exc_message, ev.exc_stack);
            }
            let text = error_text(exc, description);
            Some(LongString::new(cap(text, "error", opts, &mut warnings)))
        }
    };

    Ok(Some(Converted {
        action: UserAction {
            host_name,
            start_epoch_ms: start,
            end_epoch_ms: end,
            pos_args_json,
            keyword_args_json,
            output,
            error,
            user,
            command: Some(command),
            trace_id: Some(trace_id),
            span_id: Some(span_id),
        },
        warnings,
    }))
}

/// `"<type>: <message>"`, then a newline and the stack trace when there is one; the status
/// description when no exception attributes exist; `"error"` when there is nothing at all.
fn error_text(
    (ty, msg, stack): (Option<AttrValue<'_>>, Option<AttrValue<'_>>, Option<AttrValue<'_>>),
    description: &str,
) -> String {
    let ty = ty.map(|v| v.to_text()).filter(|s| !s.is_empty());
    let msg = msg.map(|v| v.to_text()).filter(|s| !s.is_empty());
    let mut text = match (ty, msg) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t,
        (None, Some(m)) => m,
        (None, None) if !description.is_empty() => description.to_owned(),
        (None, None) => "error".to_owned(),
    };
    if let Some(stack) = stack.map(|v| v.to_text()).filter(|s| !s.is_empty()) {
        text.push('\n');
        text.push_str(&stack);
    }
    text
}

fn scalar_text(v: AttrValue<'_>, k: &'static str, w: &mut Vec<ConvertWarning>) -> String {
    if !v.is_str() {
        w.push(ConvertWarning::WrongType { key: k });
    }
    v.to_text()
}

fn json_text(
    v: AttrValue<'_>,
    k: &'static str,
    opts: &ConvertOptions,
    w: &mut Vec<ConvertWarning>,
) -> String {
    let text = match v {
        AttrValue::Str(s) => {
            if opts.validate_json
                && s.len() <= opts.max_field_bytes
                && serde_json::from_str::<serde::de::IgnoredAny>(s).is_err()
            {
                w.push(ConvertWarning::InvalidJson { key: k });
            }
            return cap_str(s, k, opts, w);
        }
        other => {
            w.push(ConvertWarning::WrongType { key: k });
            other.to_text()
        }
    };
    cap(text, k, opts, w)
}

fn cap(text: String, k: &'static str, opts: &ConvertOptions, w: &mut Vec<ConvertWarning>) -> String {
    if text.len() <= opts.max_field_bytes {
        text
    } else {
        cap_str(&text, k, opts, w)
    }
}

fn cap_str(s: &str, k: &'static str, opts: &ConvertOptions, w: &mut Vec<ConvertWarning>) -> String {
    if s.len() <= opts.max_field_bytes {
        return s.to_owned();
    }
    let mut cut = opts.max_field_bytes;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    w.push(ConvertWarning::Truncated {
        key: k,
        original_bytes: s.len(),
    });
    let mut out = String::with_capacity(cut + 64);
    out.push_str(&s[..cut]);
    out.push_str(&truncation_marker(cut, s.len()));
    out
}

fn nanos_to_ms(n: u64) -> Option<i64> {
    (n != 0).then_some((n / 1_000_000) as i64)
}

fn system_time_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn hex_id(bytes: &[u8], expected: usize) -> Result<String, String> {
    if bytes.len() != expected {
        return Err(format!("expected {expected} bytes, got {}", bytes.len()));
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err("all zeros".into());
    }
    let mut s = String::with_capacity(expected * 2);
    for b in bytes {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    Ok(s)
}

// ---- the SDK's SpanData -------------------------------------------------------------

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

impl SpanView for SpanData {
    fn name(&self) -> &str {
        &self.name
    }

    fn visit_attributes<'s>(&'s self, f: &mut dyn FnMut(&'s str, AttrValue<'s>)) {
        for kv in &self.attributes {
            f(kv.key.as_str(), sdk_value(&kv.value));
        }
    }

    fn visit_exception_event<'s>(&'s self, f: &mut dyn FnMut(&'s str, AttrValue<'s>)) {
        if let Some(ev) = self
            .events
            .events
            .iter()
            .rev()
            .find(|e| e.name == key::EXCEPTION_EVENT)
        {
            for kv in &ev.attributes {
                f(kv.key.as_str(), sdk_value(&kv.value));
            }
        }
    }

    fn start_unix_nanos(&self) -> u64 {
        system_time_nanos(self.start_time)
    }

    fn end_unix_nanos(&self) -> u64 {
        system_time_nanos(self.end_time)
    }

    fn outcome(&self) -> SpanOutcome<'_> {
        match &self.status {
            Status::Error { description } => SpanOutcome::Error(description),
            _ => SpanOutcome::NotError,
        }
    }

    fn trace_id_hex(&self) -> Result<String, ConvertError> {
        hex_id(&self.span_context.trace_id().to_bytes(), 16).map_err(ConvertError::InvalidTraceId)
    }

    fn span_id_hex(&self) -> Result<String, ConvertError> {
        hex_id(&self.span_context.span_id().to_bytes(), 8).map_err(ConvertError::InvalidSpanId)
    }
}

// ---- OTLP protobuf spans ------------------------------------------------------------

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
        Some(any_value::Value::BytesValue(b)) => {
            J::Array(b.iter().map(|x| J::from(*x)).collect())
        }
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

impl SpanView for OtlpSpan {
    fn name(&self) -> &str {
        &self.name
    }

    fn visit_attributes<'s>(&'s self, f: &mut dyn FnMut(&'s str, AttrValue<'s>)) {
        for kv in &self.attributes {
            f(kv.key.as_str(), otlp_value(kv.value.as_ref()));
        }
    }

    fn visit_exception_event<'s>(&'s self, f: &mut dyn FnMut(&'s str, AttrValue<'s>)) {
        if let Some(ev) = self
            .events
            .iter()
            .rev()
            .find(|e| e.name == key::EXCEPTION_EVENT)
        {
            for kv in &ev.attributes {
                f(kv.key.as_str(), otlp_value(kv.value.as_ref()));
            }
        }
    }

    fn start_unix_nanos(&self) -> u64 {
        self.start_time_unix_nano
    }

    fn end_unix_nanos(&self) -> u64 {
        self.end_time_unix_nano
    }

    fn outcome(&self) -> SpanOutcome<'_> {
        match &self.status {
            Some(s) if s.code == StatusCode::Error as i32 => SpanOutcome::Error(&s.message),
            _ => SpanOutcome::NotError,
        }
    }

    fn trace_id_hex(&self) -> Result<String, ConvertError> {
        hex_id(&self.trace_id, 16).map_err(ConvertError::InvalidTraceId)
    }

    fn span_id_hex(&self) -> Result<String, ConvertError> {
        hex_id(&self.span_id, 8).map_err(ConvertError::InvalidSpanId)
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

/// The span attributes that represent `action` by the convention (everything except the
/// span name, times, status and ids, which are span fields rather than attributes).
/// Absent fields produce no attribute. The error, if any, is carried by the span status:
/// see [`span_status`].
pub fn span_attributes(action: &UserAction) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(6);
    let mut push = |k: &'static str, v: Option<&String>| {
        if let Some(v) = v {
            attrs.push(KeyValue::new(k, v.clone()));
        }
    };
    push(key::COMMAND, action.command.as_ref());
    push(key::ENDUSER_ID, action.user.as_ref());
    push(key::HOST_NAME, action.host_name.as_ref());
    push(key::POS_ARGS_JSON, action.pos_args_json.as_ref().map(|s| &s.value));
    push(
        key::KEYWORD_ARGS_JSON,
        action.keyword_args_json.as_ref().map(|s| &s.value),
    );
    push(key::OUTPUT, action.output.as_ref().map(|s| &s.value));
    attrs
}

/// The span status that represents `action.error`: `Error` with the error text as the
/// description, or `Unset`.
pub fn span_status(action: &UserAction) -> Status {
    match &action.error {
        Some(e) => Status::error(e.value.clone()),
        None => Status::Unset,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::common::v1::KeyValue as OtlpKv;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    fn sdk_span(attrs: Vec<KeyValue>, status: Status) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes([0xab; 16]),
                SpanId::from_bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed("_get_table_metadata"),
            start_time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            end_time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_456),
            attributes: attrs,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: Default::default(),
        }
    }

    fn base_attrs() -> Vec<KeyValue> {
        vec![
            KeyValue::new(key::COMMAND, "_get_table_metadata"),
            KeyValue::new(key::ENDUSER_ID, "ada@example.com"),
            KeyValue::new(key::KEYWORD_ARGS_JSON, r#"{"table_key":"hive://gold.core/rides","index":0}"#),
            KeyValue::new(key::OUTPUT, r#"{"ok":true}"#),
        ]
    }

    fn otlp_str(k: &str, v: &str) -> OtlpKv {
        OtlpKv {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn sdk_span_converts_by_the_convention() {
        let c = convert(&sdk_span(base_attrs(), Status::Unset), Some("res-host"), &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let a = c.action;
        assert_eq!(a.command.as_deref(), Some("_get_table_metadata"));
        assert_eq!(a.user.as_deref(), Some("ada@example.com"));
        assert_eq!(a.host_name.as_deref(), Some("res-host"));
        assert_eq!(a.start_epoch_ms, Some(1_700_000_000_123));
        assert_eq!(a.end_epoch_ms, Some(1_700_000_000_456));
        assert_eq!(a.trace_id.as_deref(), Some("abababababababababababababababab"));
        assert_eq!(a.span_id.as_deref(), Some("0123456789abcdef"));
        assert_eq!(a.output.unwrap().value, r#"{"ok":true}"#);
        assert!(a.error.is_none());
        assert!(a.pos_args_json.is_none());
    }

    #[test]
    fn spans_without_the_command_attribute_are_not_actions() {
        let span = sdk_span(vec![KeyValue::new(key::ENDUSER_ID, "x")], Status::Unset);
        assert_eq!(convert(&span, None, &ConvertOptions::default()), Ok(None));
    }

    #[test]
    fn span_host_wins_over_resource_host_and_user_id_is_accepted() {
        let span = sdk_span(
            vec![
                KeyValue::new(key::COMMAND, "c"),
                KeyValue::new(key::USER_ID, "bob"),
                KeyValue::new(key::HOST_NAME, "span-host"),
            ],
            Status::Unset,
        );
        let a = convert(&span, Some("res-host"), &ConvertOptions::default())
            .unwrap()
            .unwrap()
            .action;
        assert_eq!(a.host_name.as_deref(), Some("span-host"));
        assert_eq!(a.user.as_deref(), Some("bob"));
    }

    #[test]
    fn error_text_comes_from_exception_attributes_then_event_then_status() {
        let mut attrs = base_attrs();
        attrs.push(KeyValue::new(key::EXCEPTION_TYPE, "ValueError"));
        attrs.push(KeyValue::new(key::EXCEPTION_MESSAGE, "bad key"));
        attrs.push(KeyValue::new(key::EXCEPTION_STACKTRACE, "at line 1"));
        let a = convert(&sdk_span(attrs, Status::error("boom")), None, &ConvertOptions::default())
            .unwrap()
            .unwrap()
            .action;
        assert_eq!(a.error.unwrap().value, "ValueError: bad key\nat line 1");

        let mut span = sdk_span(base_attrs(), Status::error("boom"));
        span.events.events.push(opentelemetry::trace::Event::new(
            "exception",
            UNIX_EPOCH,
            vec![
                KeyValue::new(key::EXCEPTION_TYPE, "KeyError"),
                KeyValue::new(key::EXCEPTION_MESSAGE, "'x'"),
            ],
            0,
        ));
        let a = convert(&span, None, &ConvertOptions::default()).unwrap().unwrap().action;
        assert_eq!(a.error.unwrap().value, "KeyError: 'x'");

        let a = convert(&sdk_span(base_attrs(), Status::error("boom")), None, &ConvertOptions::default())
            .unwrap()
            .unwrap()
            .action;
        assert_eq!(a.error.unwrap().value, "boom");

        let a = convert(&sdk_span(base_attrs(), Status::error("")), None, &ConvertOptions::default())
            .unwrap()
            .unwrap()
            .action;
        assert_eq!(a.error.unwrap().value, "error");
    }

    #[test]
    fn exception_attributes_without_error_status_are_not_an_error() {
        let mut attrs = base_attrs();
        attrs.push(KeyValue::new(key::EXCEPTION_MESSAGE, "handled"));
        let a = convert(&sdk_span(attrs, Status::Ok), None, &ConvertOptions::default())
            .unwrap()
            .unwrap()
            .action;
        assert!(a.error.is_none());
    }

    #[test]
    fn wrong_types_are_rendered_as_text_with_warnings() {
        let span = sdk_span(
            vec![
                KeyValue::new(key::COMMAND, 42_i64),
                KeyValue::new(key::ENDUSER_ID, 7_i64),
                KeyValue::new(key::KEYWORD_ARGS_JSON, 1.5_f64),
                KeyValue::new(key::OUTPUT, true),
                KeyValue::new(
                    key::POS_ARGS_JSON,
                    Value::Array(Array::String(vec!["a".into(), "b".into()])),
                ),
            ],
            Status::Unset,
        );
        let c = convert(&span, None, &ConvertOptions::default()).unwrap().unwrap();
        assert_eq!(c.action.command.as_deref(), Some("42"));
        assert_eq!(c.action.user.as_deref(), Some("7"));
        assert_eq!(c.action.keyword_args_json.unwrap().value, "1.5");
        assert_eq!(c.action.output.unwrap().value, "true");
        assert_eq!(c.action.pos_args_json.unwrap().value, r#"["a","b"]"#);
        assert_eq!(
            c.warnings.iter().filter(|w| w.reason() == "wrong_type").count(),
            5
        );
    }

    #[test]
    fn invalid_json_is_kept_verbatim_with_a_warning() {
        let span = sdk_span(
            vec![
                KeyValue::new(key::COMMAND, "c"),
                KeyValue::new(key::ENDUSER_ID, "u"),
                KeyValue::new(key::KEYWORD_ARGS_JSON, "{not json"),
            ],
            Status::Unset,
        );
        let c = convert(&span, None, &ConvertOptions::default()).unwrap().unwrap();
        assert_eq!(c.action.keyword_args_json.unwrap().value, "{not json");
        assert_eq!(
            c.warnings,
            vec![ConvertWarning::InvalidJson {
                key: key::KEYWORD_ARGS_JSON
            }]
        );
    }

    #[test]
    fn missing_user_is_converted_without_user() {
        let span = sdk_span(vec![KeyValue::new(key::COMMAND, "c")], Status::Unset);
        let c = convert(&span, None, &ConvertOptions::default()).unwrap().unwrap();
        assert!(c.action.user.is_none());
        assert_eq!(c.warnings, vec![ConvertWarning::MissingUser]);
    }

    #[test]
    fn oversized_fields_are_cut_at_a_char_boundary_with_a_marker() {
        // 'é' is two bytes: a cap of 5 falls inside the third one.
        let big = format!("\"{}\"", "é".repeat(10));
        let span = sdk_span(
            vec![
                KeyValue::new(key::COMMAND, "c"),
                KeyValue::new(key::ENDUSER_ID, "u"),
                KeyValue::new(key::OUTPUT, big.clone()),
            ],
            Status::Unset,
        );
        let opts = ConvertOptions {
            max_field_bytes: 6,
            ..Default::default()
        };
        let c = convert(&span, None, &opts).unwrap().unwrap();
        let out = c.action.output.unwrap().value;
        assert_eq!(out, format!("\"éé{}", truncation_marker(5, big.len())));
        assert_eq!(
            c.warnings,
            vec![ConvertWarning::Truncated {
                key: key::OUTPUT,
                original_bytes: 22
            }]
        );
    }

    #[test]
    fn empty_command_and_bad_ids_are_errors() {
        let span = sdk_span(vec![KeyValue::new(key::COMMAND, "")], Status::Unset);
        assert_eq!(
            convert(&span, None, &ConvertOptions::default()),
            Err(ConvertError::EmptyCommand)
        );
        let otlp = OtlpSpan {
            trace_id: vec![1; 3],
            span_id: vec![1; 8],
            attributes: vec![otlp_str(key::COMMAND, "c")],
            ..Default::default()
        };
        assert!(matches!(
            convert(&otlp, None, &ConvertOptions::default()),
            Err(ConvertError::InvalidTraceId(_))
        ));
        let otlp = OtlpSpan {
            trace_id: vec![1; 16],
            span_id: vec![0; 8],
            attributes: vec![otlp_str(key::COMMAND, "c")],
            ..Default::default()
        };
        assert!(matches!(
            convert(&otlp, None, &ConvertOptions::default()),
            Err(ConvertError::InvalidSpanId(_))
        ));
    }

    #[test]
    fn otlp_and_sdk_spans_convert_identically() {
        let mut attrs = base_attrs();
        attrs.push(KeyValue::new(key::EXCEPTION_TYPE, "E"));
        let sdk = sdk_span(attrs.clone(), Status::error("x"));
        let otlp = OtlpSpan {
            trace_id: vec![0xab; 16],
            span_id: vec![0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            name: "_get_table_metadata".into(),
            start_time_unix_nano: 1_700_000_000_123_000_000,
            end_time_unix_nano: 1_700_000_000_456_999_999,
            attributes: attrs
                .iter()
                .map(|kv| otlp_str(kv.key.as_str(), &kv.value.as_str()))
                .collect(),
            status: Some(opentelemetry_proto::tonic::trace::v1::Status {
                message: "x".into(),
                code: StatusCode::Error as i32,
            }),
            ..Default::default()
        };
        let opts = ConvertOptions::default();
        assert_eq!(
            convert(&sdk, Some("h"), &opts).unwrap(),
            convert(&otlp, Some("h"), &opts).unwrap()
        );
    }

    #[test]
    fn otlp_times_of_zero_mean_absent_and_end_before_start_is_flagged() {
        let otlp = OtlpSpan {
            trace_id: vec![1; 16],
            span_id: vec![1; 8],
            attributes: vec![otlp_str(key::COMMAND, "c"), otlp_str(key::ENDUSER_ID, "u")],
            start_time_unix_nano: 0,
            end_time_unix_nano: 5_000_000,
            ..Default::default()
        };
        let c = convert(&otlp, None, &ConvertOptions::default()).unwrap().unwrap();
        assert_eq!(c.action.start_epoch_ms, None);
        assert_eq!(c.action.end_epoch_ms, Some(5));

        let otlp = OtlpSpan {
            start_time_unix_nano: 9_000_000,
            end_time_unix_nano: 5_000_000,
            ..otlp
        };
        let c = convert(&otlp, None, &ConvertOptions::default()).unwrap().unwrap();
        assert_eq!(c.warnings, vec![ConvertWarning::EndBeforeStart]);
    }

    #[test]
    fn action_to_attributes_and_back_is_the_identity() {
        let action = UserAction {
            command: Some("_log_update_table_tags".into()),
            user: Some("ada@example.com".into()),
            host_name: Some("web-1".into()),
            start_epoch_ms: Some(1_700_000_000_123),
            end_epoch_ms: Some(1_700_000_000_456),
            pos_args_json: Some(LongString::new("[]")),
            keyword_args_json: Some(LongString::new(r#"{"tag":"pii","method":"PUT"}"#)),
            output: Some(LongString::new("null")),
            error: Some(LongString::new("PermissionError: nope")),
            trace_id: Some("abababababababababababababababab".into()),
            span_id: Some("0123456789abcdef".into()),
        };
        let span = sdk_span(span_attributes(&action), span_status(&action));
        let back = convert(&span, None, &ConvertOptions::default()).unwrap().unwrap();
        assert!(back.warnings.is_empty());
        assert_eq!(back.action, action);
    }
}
