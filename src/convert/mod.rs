//! The conversion between action logs (spans and log events) and `UserAction`s: one code
//! path for every route and both signals.
//!
//! The in-process exporters see the SDK's [`SpanData`](opentelemetry_sdk::trace::SpanData)
//! and [`SdkLogRecord`](opentelemetry_sdk::logs::SdkLogRecord)s; the bridge service receives OTLP
//! protobuf [`Span`](opentelemetry_proto::tonic::trace::v1::Span)s and
//! [`LogRecord`](opentelemetry_proto::tonic::logs::v1::LogRecord)s. All of them implement
//! [`SpanView`] (spans by reference, and by value to move strings instead of copying them;
//! log records through [`OtlpLogEvent`] and [`SdkLogEvent`]), and [`convert`] turns any
//! `SpanView` into a `UserAction` by the rules of `docs/conventions.md`. [`span_attributes`] is the other direction, used by the Rust
//! decorator to emit spans.
//!
//! Conversion never panics and never silently loses data: values of the wrong type are
//! rendered as text, text that should be JSON but is not is kept verbatim, and over-long
//! values are cut with a visible marker; each such case is reported as a [`ConvertWarning`].
//!
//! One file per concern: [`view`] (what conversion reads: [`SpanView`], [`AttrLike`]),
//! `sdk` and `otlp` (the span views: the SDK's `SpanData`, OTLP protobuf spans), `log` (the
//! log-event views: OTLP and SDK log records), `rules`
//! (the convention's rules, one function for every route), `encode` (the wire encoder of
//! [`convert_encoded`]), `to_span` and `to_log` (the other direction: the decorator's span
//! attributes, the `otlp_log` sink's log events).

mod encode;
mod log;
mod otlp;
mod rules;
mod sdk;
mod to_log;
mod to_span;
pub mod view;

use crate::proto::UserAction;
use crate::pseudonym::Pseudonymiser;
use crate::redact::Redactor;

pub use log::{OtlpLogEvent, SdkLogEvent, is_action_event};
pub use otlp::otlp_resource_host;
use rules::{Fields, convert_fields};
pub use to_log::otlp_log_record;
pub use to_span::{span_attributes, span_status};
pub use view::{AttrLike, AttrValue, HexId, Signal, SpanView};
#[cfg(test)]
use {
    crate::convention as key,
    crate::proto::LongString,
    crate::redact::REDACTED,
    opentelemetry::{Array, KeyValue, Value, trace::Status},
    opentelemetry_proto::tonic::common::v1::{AnyValue, any_value},
    opentelemetry_proto::tonic::trace::v1::{Span as OtlpSpan, status::StatusCode},
    opentelemetry_sdk::trace::SpanData,
    std::time::{SystemTime, UNIX_EPOCH},
    view::{checked_id, hex_id, nanos_to_ms, system_time_ms},
};

/// Default cap on each text field (args, output, error): 1 MiB.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1024 * 1024;

/// Conversion settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Text fields longer than this many bytes are cut at a character boundary and end with
    /// a truncation marker (see [`truncation_marker`]).
    pub max_field_bytes: usize,
    /// Check that the JSON attributes hold valid JSON (a warning when they do not; the text
    /// is kept either way). JSON that actionlog's own decorator wrote with serde_json in
    /// this process, and redacted with the same patterns as [`ConvertOptions::redactor`],
    /// is not looked at again (see [`SpanView::made_by_actionlog`]).
    pub validate_json: bool,
    /// Values of secret-looking keys in the JSON fields (arguments, output) are replaced
    /// (see [`crate::redact`]); on by default.
    pub redactor: Redactor,
    /// When set, the user is replaced by its keyed pseudonym (see [`crate::pseudonym`]);
    /// off by default.
    pub pseudonymiser: Option<Pseudonymiser>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            validate_json: true,
            redactor: Redactor::default(),
            pseudonymiser: None,
        }
    }
}

/// Why a span that claims to be an action log cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// `action_log.command` is present but empty.
    #[error("attribute action_log.command is empty")]
    EmptyCommand,
    /// A log event named `actionlog.user_action` has no `action_log.command`.
    #[error("log event actionlog.user_action has no attribute action_log.command")]
    MissingCommand,
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
            ConvertError::MissingCommand => "missing_command",
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
    /// Values of secret-looking keys were replaced.
    Redacted {
        /// The attribute key.
        key: &'static str,
    },
    /// A field mentioning a secret-looking key was not JSON, so the whole field was
    /// replaced by `[REDACTED]`.
    RedactedUnparsable {
        /// The attribute key.
        key: &'static str,
    },
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
            ConvertWarning::Redacted { .. } => "redacted",
            ConvertWarning::RedactedUnparsable { .. } => "redacted_unparsable",
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

/// Converts a span to a `UserAction` by the convention.
///
/// Returns `Ok(None)` for spans that are not action logs (no `action_log.command`), and an
/// error for action spans that cannot be converted (empty command, invalid ids).
/// `resource_host` is the resource's `host.name`, used when the span has none.
///
/// Pass a span by reference (`convert(&span, ..)`) to keep it, or by value to let
/// conversion move its strings instead of copying them.
pub fn convert<S: SpanView>(
    span: S,
    resource_host: Option<&str>,
    opts: &ConvertOptions,
) -> Result<Option<Converted>, ConvertError> {
    Ok(convert_fields(span, resource_host, opts)?.map(Fields::into_converted))
}

/// Converts a span like [`convert`] and appends the encoded `UserAction` to `buf`,
/// length-delimited (the framing of [`crate::codec`]), without building an owned
/// `UserAction`: strings go from the span's attributes straight into the protobuf bytes.
///
/// The bytes are exactly those of `convert(..)?.action` encoded with prost (a property
/// test holds the two together). Returns the warnings, or `Ok(None)` (nothing appended)
/// for a span that is not an action log.
pub fn convert_encoded<S: SpanView>(
    span: S,
    resource_host: Option<&str>,
    opts: &ConvertOptions,
    buf: &mut Vec<u8>,
) -> Result<Option<Vec<ConvertWarning>>, ConvertError> {
    let Some(fields) = convert_fields(span, resource_host, opts)? else {
        return Ok(None);
    };
    fields.encode_length_delimited(buf);
    Ok(Some(fields.warnings))
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
