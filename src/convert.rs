//! The conversion between action-log spans and `UserAction`s: one code path for every
//! route.
//!
//! The in-process exporter sees the SDK's [`SpanData`]; the bridge service receives OTLP
//! protobuf [`Span`](opentelemetry_proto::tonic::trace::v1::Span)s. Both implement
//! [`SpanView`] (by reference, and by value to move strings instead of copying them), and
//! [`convert`] turns any `SpanView` into a `UserAction` by the rules of
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
use crate::pseudonym::Pseudonymiser;
use crate::redact::{Inspection, Outcome, REDACTED, Redactor};

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
}

/// An attribute value conversion can read: borrowed ([`AttrValue`]) or owned (the SDK's
/// [`Value`], OTLP's `AnyValue`), so an owned span gives up its strings without copies.
pub trait AttrLike {
    /// The value if it is a string.
    fn as_str(&self) -> Option<&str>;
    /// The value as text: a string as it is (moved when owned), anything else rendered as
    /// JSON text.
    fn into_text(self) -> String;
}

impl AttrLike for AttrValue<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    fn into_text(self) -> String {
        match self {
            AttrValue::Json(j) => j,
            other => other.to_text(),
        }
    }
}

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
}

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
}

/// A span conversion can read, implemented for the SDK's [`SpanData`] and for OTLP spans,
/// each by reference (attributes borrowed and copied) and by value (attributes moved out),
/// so that one function converts them all.
pub trait SpanView {
    /// The attribute value type handed out.
    type Attr: AttrLike;
    /// Whether the span carries `action_log.command`, i.e. is an action log.
    fn is_action(&self) -> bool;
    /// Calls `f` for every span attribute, in order, handing over the values.
    fn drain_attributes(&mut self, f: impl FnMut(&str, Self::Attr));
    /// Calls `f` for every attribute of the last span event named `exception`.
    fn drain_exception_event(&mut self, f: impl FnMut(&str, Self::Attr));
    /// Start time in ms since the Unix epoch; `None` when unknown (0 or before the epoch).
    fn start_epoch_ms(&self) -> Option<i64>;
    /// End time in ms since the Unix epoch; `None` when unknown.
    fn end_epoch_ms(&self) -> Option<i64>;
    /// `Some(description)` (possibly empty) when the span status is Error.
    fn error_status(&self) -> Option<&str>;
    /// The trace id as 32 lower-case hex digits.
    fn trace_id_hex(&self) -> Result<HexId, ConvertError>;
    /// The span id as 16 lower-case hex digits.
    fn span_id_hex(&self) -> Result<HexId, ConvertError>;
    /// Whether actionlog's own tracer made this span in this process, so its JSON
    /// attributes are serde_json's output (valid by construction) unless it carries
    /// [`key::JSON_UNCHECKED`]. Only a span handed over in memory can say so: a span that
    /// arrived over the network is never taken at its word.
    fn made_by_actionlog(&self) -> bool {
        false
    }
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

struct Found<A> {
    command: Option<A>,
    enduser: Option<A>,
    user: Option<A>,
    host: Option<A>,
    pos_args: Option<A>,
    kw_args: Option<A>,
    output: Option<A>,
    exc_type: Option<A>,
    exc_message: Option<A>,
    exc_stack: Option<A>,
    json_unchecked: Option<A>,
}

impl<A> Found<A> {
    fn new() -> Self {
        Self {
            command: None,
            enduser: None,
            user: None,
            host: None,
            pos_args: None,
            kw_args: None,
            output: None,
            exc_type: None,
            exc_message: None,
            exc_stack: None,
            json_unchecked: None,
        }
    }

    #[inline(always)]
    fn see(&mut self, k: &str, v: A) {
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
            key::JSON_UNCHECKED => &mut self.json_unchecked,
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

/// A converted text field: still the span's own attribute value (moved or borrowed, never
/// copied), or text that conversion produced (cut, redacted, rendered from another type).
enum Text<'r, A> {
    /// A string attribute, unchanged.
    Attr(A),
    /// Borrowed from outside the span (the resource's host name).
    Borrowed(&'r str),
    /// Produced by conversion.
    Owned(String),
}

impl<A: AttrLike> Text<'_, A> {
    fn as_str(&self) -> &str {
        match self {
            // Only string attributes are kept as `Attr` (see `scalar_text`, `json_text`).
            Text::Attr(a) => a.as_str().unwrap_or_default(),
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }

    fn into_string(self) -> String {
        match self {
            Text::Attr(a) => a.into_text(),
            Text::Borrowed(s) => s.to_owned(),
            Text::Owned(s) => s,
        }
    }
}

/// The converted fields of one action, before they become a `UserAction` or bytes.
struct Fields<'r, A> {
    host_name: Option<Text<'r, A>>,
    start: Option<i64>,
    end: Option<i64>,
    pos_args_json: Option<Text<'r, A>>,
    keyword_args_json: Option<Text<'r, A>>,
    output: Option<Text<'r, A>>,
    error: Option<String>,
    user: Option<Text<'r, A>>,
    command: Text<'r, A>,
    trace_id: HexId,
    span_id: HexId,
    warnings: Vec<ConvertWarning>,
}

/// The one conversion every route goes through (see the module docs).
// Inlined into its two renderings: a `Fields` returned through memory and read back costs
// more than the copies of the code.
#[inline(always)]
fn convert_fields<'r, S: SpanView>(
    mut span: S,
    resource_host: Option<&'r str>,
    opts: &ConvertOptions,
) -> Result<Option<Fields<'r, S::Attr>>, ConvertError> {
    // No `is_action` scan first: a span without `action_log.command` comes out of the
    // drain below without one, and callers that must not lose a non-action span's
    // attributes ask `is_action` before handing it over.
    let error_description = span.error_status().map(str::to_owned);
    let mut found = Found::new();
    span.drain_attributes(|k, v| found.see(k, v));
    let Some(command) = found.command.take() else {
        return Ok(None);
    };
    let mut warnings = Vec::new();

    let command = scalar_text(command, key::COMMAND, &mut warnings);
    if command.as_str().is_empty() {
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
    let user = pseudonymise_user(user, opts);
    let host_name = match found.host.take() {
        Some(v) => Some(scalar_text(v, key::HOST_NAME, &mut warnings)),
        None => resource_host.map(Text::Borrowed),
    };

    let start = span.start_epoch_ms();
    let end = span.end_epoch_ms();
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        warnings.push(ConvertWarning::EndBeforeStart);
    }

    let check = if span.made_by_actionlog()
        && found.json_unchecked.is_none()
        && crate::redact::decorator_applied(&opts.redactor)
    {
        JsonCheck::Done
    } else if opts.validate_json {
        JsonCheck::Parse
    } else {
        JsonCheck::Off
    };
    let json_field = |v: Option<S::Attr>, k: &'static str, w: &mut Vec<ConvertWarning>| {
        v.map(|v| json_text(v, k, check, opts, w))
    };
    let pos_args_json = json_field(found.pos_args.take(), key::POS_ARGS_JSON, &mut warnings);
    let keyword_args_json = json_field(found.kw_args.take(), key::KEYWORD_ARGS_JSON, &mut warnings);
    let output = json_field(found.output.take(), key::OUTPUT, &mut warnings);

    let error = match error_description {
        None => None,
        Some(description) => {
            let mut exc = (
                found.exc_type.take(),
                found.exc_message.take(),
                found.exc_stack.take(),
            );
            if exc.0.is_none() && exc.1.is_none() {
                let mut ev = Found::new();
                span.drain_exception_event(|k, v| ev.see(k, v));
                exc = (ev.exc_type, ev.exc_message, ev.exc_stack);
            }
            let text = error_text(exc, &description);
            Some(cap(text, "error", opts, &mut warnings))
        }
    };

    Ok(Some(Fields {
        host_name,
        start,
        end,
        pos_args_json,
        keyword_args_json,
        output,
        error,
        user,
        command,
        trace_id,
        span_id,
        warnings,
    }))
}

impl<A: AttrLike> Fields<'_, A> {
    fn into_converted(self) -> Converted {
        let long = |t: Option<Text<'_, A>>| t.map(|t| LongString::new(t.into_string()));
        Converted {
            action: UserAction {
                host_name: self.host_name.map(Text::into_string),
                start_epoch_ms: self.start,
                end_epoch_ms: self.end,
                pos_args_json: long(self.pos_args_json),
                keyword_args_json: long(self.keyword_args_json),
                output: long(self.output),
                error: self.error.map(LongString::new),
                user: self.user.map(Text::into_string),
                command: Some(self.command.into_string()),
                trace_id: Some(self.trace_id.to_hex()),
                span_id: Some(self.span_id.to_hex()),
            },
            warnings: self.warnings,
        }
    }

    /// Encodes as prost encodes the `UserAction` of [`Fields::into_converted`]: fields in
    /// number order, each wrapper a nested message whose only field (number 1) is left
    /// out when it holds the default value.
    fn encode_length_delimited(&self, buf: &mut Vec<u8>) {
        use prost::encoding::encoded_len_varint;
        fn s<'a, A: AttrLike>(t: &'a Option<Text<'_, A>>) -> Option<&'a str> {
            t.as_ref().map(Text::as_str)
        }
        let strings: [(u32, Option<&str>); 7] = [
            (1, s(&self.host_name)),
            (4, s(&self.pos_args_json)),
            (5, s(&self.keyword_args_json)),
            (6, s(&self.output)),
            (7, self.error.as_deref()),
            (8, s(&self.user)),
            (9, Some(self.command.as_str())),
        ];
        // Fields 10 and 11, written from the ids' bytes.
        let ids = [(10u32, &self.trace_id), (11, &self.span_id)];
        // Wrapper messages: `1: string` or `1: int64`, empty for the default value.
        let len_inner = |n: usize| {
            if n == 0 {
                0
            } else {
                1 + encoded_len_varint(n as u64) + n
            }
        };
        let str_inner = |v: &str| len_inner(v.len());
        let int_inner = |v: i64| {
            if v == 0 {
                0
            } else {
                1 + encoded_len_varint(v as u64)
            }
        };
        let field_len = |inner: usize| 1 + encoded_len_varint(inner as u64) + inner;
        let mut total = 0;
        for (_, v) in &strings {
            if let Some(v) = *v {
                total += field_len(str_inner(v));
            }
        }
        for (_, id) in ids {
            total += field_len(len_inner(id.hex_len()));
        }
        for v in [self.start, self.end].into_iter().flatten() {
            total += field_len(int_inner(v));
        }
        buf.reserve(total + 10);
        put_varint(total as u64, buf);
        let put_str = |field: u32, v: &str, buf: &mut Vec<u8>| {
            // Field numbers 1..=11 with wire type 2 fit one key byte.
            buf.push(((field << 3) | 2) as u8);
            put_varint(str_inner(v) as u64, buf);
            if !v.is_empty() {
                buf.push((1 << 3) | 2);
                put_varint(v.len() as u64, buf);
                buf.extend_from_slice(v.as_bytes());
            }
        };
        let put_int = |field: u32, v: i64, buf: &mut Vec<u8>| {
            buf.push(((field << 3) | 2) as u8);
            put_varint(int_inner(v) as u64, buf);
            if v != 0 {
                buf.push(1 << 3);
                put_varint(v as u64, buf);
            }
        };
        if let Some(v) = strings[0].1 {
            put_str(1, v, buf);
        }
        if let Some(v) = self.start {
            put_int(2, v, buf);
        }
        if let Some(v) = self.end {
            put_int(3, v, buf);
        }
        for &(field, v) in &strings[1..] {
            if let Some(v) = v {
                put_str(field, v, buf);
            }
        }
        for (field, id) in ids {
            // A checked id is never empty, so its wrapper always holds the string.
            let n = id.hex_len();
            buf.push(((field << 3) | 2) as u8);
            put_varint(len_inner(n) as u64, buf);
            buf.push((1 << 3) | 2);
            put_varint(n as u64, buf);
            id.push_hex(buf);
        }
    }
}

/// A varint, one byte without a call for the values below 128 that nearly every length in
/// an action is; prost's encoder otherwise.
#[inline(always)]
fn put_varint(v: u64, buf: &mut Vec<u8>) {
    if v < 0x80 {
        buf.push(v as u8);
    } else {
        prost::encoding::encode_varint(v, buf);
    }
}

/// The privacy step: the user becomes its keyed pseudonym when a key is configured.
fn pseudonymise_user<'r, A: AttrLike>(
    user: Option<Text<'r, A>>,
    opts: &ConvertOptions,
) -> Option<Text<'r, A>> {
    match (&opts.pseudonymiser, user) {
        (Some(p), Some(u)) => Some(Text::Owned(p.pseudonymise(u.as_str()))),
        (_, u) => u,
    }
}

/// `"<type>: <message>"`, then a newline and the stack trace when there is one; the status
/// description when no exception attributes exist; `"error"` when there is nothing at all.
fn error_text<A: AttrLike>(
    (ty, msg, stack): (Option<A>, Option<A>, Option<A>),
    description: &str,
) -> String {
    let ty = ty.map(A::into_text).filter(|s| !s.is_empty());
    let msg = msg.map(A::into_text).filter(|s| !s.is_empty());
    let mut text = match (ty, msg) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t,
        (None, Some(m)) => m,
        (None, None) if !description.is_empty() => description.to_owned(),
        (None, None) => "error".to_owned(),
    };
    if let Some(stack) = stack.map(A::into_text).filter(|s| !s.is_empty()) {
        text.push('\n');
        text.push_str(&stack);
    }
    text
}

// Inlined: returned through memory, a `Text` read back whole right after the call
// stalls on store forwarding (seen in perf annotate of `convert_fields`).
#[inline(always)]
fn scalar_text<'r, A: AttrLike>(v: A, k: &'static str, w: &mut Vec<ConvertWarning>) -> Text<'r, A> {
    if v.as_str().is_some() {
        Text::Attr(v)
    } else {
        w.push(ConvertWarning::WrongType { key: k });
        Text::Owned(v.into_text())
    }
}

/// How a JSON field is looked at.
#[derive(Clone, Copy)]
enum JsonCheck {
    /// Parsed: validated and its keys screened in one pass (`Redactor::inspect`).
    Parse,
    /// Written by actionlog's decorator in this process with the patterns this conversion
    /// redacts with (`action::write_json`): valid by construction and redacted already.
    /// Parsing it again only to confirm that was most of conversion's cost.
    Done,
    /// Not validated (`validate_json = false`): screened as text that may not be JSON.
    Off,
}

#[inline(always)]
fn json_text<'r, A: AttrLike>(
    v: A,
    k: &'static str,
    check: JsonCheck,
    opts: &ConvertOptions,
    w: &mut Vec<ConvertWarning>,
) -> Text<'r, A> {
    let (text, outcome) = match v.as_str() {
        Some(s) if s.len() > opts.max_field_bytes => {
            let cut = cap_str(s, k, opts, w);
            let outcome = opts.redactor.redact(&cut);
            (Text::Owned(cut), outcome)
        }
        Some(s) => {
            let outcome = match check {
                // One parse both validates the field and finds secret keys.
                JsonCheck::Parse => {
                    let inspection = opts.redactor.inspect(s);
                    if inspection == Inspection::NotJson {
                        w.push(ConvertWarning::InvalidJson { key: k });
                    }
                    opts.redactor.redact_inspected(s, inspection)
                }
                JsonCheck::Done => Outcome::Clean,
                JsonCheck::Off => opts.redactor.redact(s),
            };
            (Text::Attr(v), outcome)
        }
        None => {
            w.push(ConvertWarning::WrongType { key: k });
            let text = cap(v.into_text(), k, opts, w);
            let outcome = opts.redactor.redact(&text);
            (Text::Owned(text), outcome)
        }
    };
    match outcome {
        Outcome::Clean => text,
        Outcome::Redacted(clean) => {
            w.push(ConvertWarning::Redacted { key: k });
            Text::Owned(clean)
        }
        Outcome::Unparsable => {
            w.push(ConvertWarning::RedactedUnparsable { key: k });
            Text::Owned(REDACTED.to_owned())
        }
    }
}

fn cap(
    text: String,
    k: &'static str,
    opts: &ConvertOptions,
    w: &mut Vec<ConvertWarning>,
) -> String {
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

/// What `nanos_to_ms` gives for the time as u64 ns (saturated, as OTLP carries it),
/// without a 128-bit nanosecond count below the saturation point (the year 2554).
fn system_time_ms(t: SystemTime) -> Option<i64> {
    const LAST_EXACT_SECS: u64 = u64::MAX / 1_000_000_000;
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) if d.is_zero() => None,
        Ok(d) if d.as_secs() < LAST_EXACT_SECS => {
            Some((d.as_secs() * 1000 + u64::from(d.subsec_millis())) as i64)
        }
        Ok(d) => nanos_to_ms(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        Err(_) => None,
    }
}

/// A checked trace or span id (the right length, not all zeros), written as lower-case hex
/// where it is rendered.
// Kept as bytes until then: formatted into a stack buffer at conversion, the digits were
// moved with loads right behind the hex encoder's vector stores, which stalled on store
// forwarding (perf annotate of `convert_encoded`); written straight into the output they
// are never read back.
// Two words rather than a byte array: assembled from bytes at odd offsets, the array was
// copied as 16-byte lanes over those narrow stores, another stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HexId {
    /// The id's bytes, big-endian, the first eight in `words[0]`.
    words: [u64; 2],
    len: u8,
}

impl HexId {
    fn raw(&self) -> ([u8; 16], usize) {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.words[0].to_be_bytes());
        b[8..].copy_from_slice(&self.words[1].to_be_bytes());
        (b, usize::from(self.len))
    }

    /// The number of hex digits.
    pub fn hex_len(&self) -> usize {
        2 * usize::from(self.len)
    }

    /// Appends the hex digits to `out`.
    pub fn push_hex(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + self.hex_len(), 0);
        let (b, n) = self.raw();
        // The slice is exactly twice the id's length, so this cannot fail.
        let _ = const_hex::encode_to_slice(&b[..n], &mut out[at..]);
    }

    /// The hex digits.
    pub fn to_hex(&self) -> String {
        let (b, n) = self.raw();
        const_hex::encode(&b[..n])
    }
}

impl std::fmt::Display for HexId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[inline(always)]
fn checked_id(bytes: &[u8], expected: usize) -> Result<HexId, String> {
    if bytes.len() != expected || !matches!(expected, 8 | 16) {
        return Err(format!("expected {expected} bytes, got {}", bytes.len()));
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err("all zeros".into());
    }
    // `expected` is 8 or 16: a span id fills the first word, a trace id both.
    let word = |b: &[u8]| b.try_into().map_or(0, u64::from_be_bytes);
    let (first, rest) = bytes.split_at(bytes.len().min(8));
    Ok(HexId {
        words: [word(first), word(rest)],
        len: expected as u8,
    })
}

#[cfg(test)]
fn hex_id(bytes: &[u8], expected: usize) -> Result<String, String> {
    checked_id(bytes, expected).map(|h| h.to_hex())
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
    fn trace_id_hex(&self) -> Result<HexId, ConvertError> {
        SpanData::trace_id_hex(self)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<HexId, ConvertError> {
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
    fn trace_id_hex(&self) -> Result<HexId, ConvertError> {
        checked_id(&self.span_context.trace_id().to_bytes(), 16)
            .map_err(ConvertError::InvalidTraceId)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<HexId, ConvertError> {
        checked_id(&self.span_context.span_id().to_bytes(), 8).map_err(ConvertError::InvalidSpanId)
    }

    #[inline(always)]
    fn made_by_actionlog(&self) -> bool {
        self.instrumentation_scope.name() == key::SCOPE_NAME
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
    fn trace_id_hex(&self) -> Result<HexId, ConvertError> {
        OtlpSpan::trace_id_hex(self)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<HexId, ConvertError> {
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
    fn trace_id_hex(&self) -> Result<HexId, ConvertError> {
        checked_id(&self.trace_id, 16).map_err(ConvertError::InvalidTraceId)
    }

    #[inline(always)]
    fn span_id_hex(&self) -> Result<HexId, ConvertError> {
        checked_id(&self.span_id, 8).map_err(ConvertError::InvalidSpanId)
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
    push(
        key::POS_ARGS_JSON,
        action.pos_args_json.as_ref().map(|s| &s.value),
    );
    push(
        key::KEYWORD_ARGS_JSON,
        action.keyword_args_json.as_ref().map(|s| &s.value),
    );
    push(key::OUTPUT, action.output.as_ref().map(|s| &s.value));
    attrs
}

/// The span status that represents `action.error`: `Error` with the error text as the
/// description, or `Unset`. An empty error text, which the KPIs count as success, is
/// `Unset` too (an Error status always converts back to a non-empty error).
pub fn span_status(action: &UserAction) -> Status {
    match &action.error {
        Some(e) if !e.value.is_empty() => Status::error(e.value.clone()),
        _ => Status::Unset,
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

    #[test]
    fn sdk_times_become_the_ms_their_otlp_nanoseconds_give() {
        // The SDK route computes ms from the SystemTime; the bridge gets the same instant as
        // saturated u64 ns. Both must agree, down to the edges.
        let nanos = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0)
        };
        let last = u64::MAX / 1_000_000_000;
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(500),
            Duration::from_millis(1_764_226_800_123),
            Duration::new(last - 1, 999_999_999),
            Duration::new(last, 0),
            Duration::new(last, 709_551_615),
            Duration::new(last, 709_551_616),
            Duration::new(last + 1, 0),
            Duration::from_secs(u64::MAX / 4),
        ] {
            let t = UNIX_EPOCH + d;
            assert_eq!(system_time_ms(t), nanos_to_ms(nanos(t)), "{d:?}");
        }
        assert_eq!(system_time_ms(UNIX_EPOCH - Duration::from_secs(1)), None);
    }

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
            KeyValue::new(
                key::KEYWORD_ARGS_JSON,
                r#"{"table_key":"hive://gold.core/rides","index":0}"#,
            ),
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
        let c = convert(
            &sdk_span(base_attrs(), Status::Unset),
            Some("res-host"),
            &ConvertOptions::default(),
        )
        .unwrap()
        .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let a = c.action;
        assert_eq!(a.command.as_deref(), Some("_get_table_metadata"));
        assert_eq!(a.user.as_deref(), Some("ada@example.com"));
        assert_eq!(a.host_name.as_deref(), Some("res-host"));
        assert_eq!(a.start_epoch_ms, Some(1_700_000_000_123));
        assert_eq!(a.end_epoch_ms, Some(1_700_000_000_456));
        assert_eq!(
            a.trace_id.as_deref(),
            Some("abababababababababababababababab")
        );
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
        let a = convert(
            &sdk_span(attrs, Status::error("boom")),
            None,
            &ConvertOptions::default(),
        )
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
        let a = convert(&span, None, &ConvertOptions::default())
            .unwrap()
            .unwrap()
            .action;
        assert_eq!(a.error.unwrap().value, "KeyError: 'x'");

        let a = convert(
            &sdk_span(base_attrs(), Status::error("boom")),
            None,
            &ConvertOptions::default(),
        )
        .unwrap()
        .unwrap()
        .action;
        assert_eq!(a.error.unwrap().value, "boom");

        let a = convert(
            &sdk_span(base_attrs(), Status::error("")),
            None,
            &ConvertOptions::default(),
        )
        .unwrap()
        .unwrap()
        .action;
        assert_eq!(a.error.unwrap().value, "error");
    }

    #[test]
    fn exception_attributes_without_error_status_are_not_an_error() {
        let mut attrs = base_attrs();
        attrs.push(KeyValue::new(key::EXCEPTION_MESSAGE, "handled"));
        let a = convert(
            &sdk_span(attrs, Status::Ok),
            None,
            &ConvertOptions::default(),
        )
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
        let c = convert(&span, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.action.command.as_deref(), Some("42"));
        assert_eq!(c.action.user.as_deref(), Some("7"));
        assert_eq!(c.action.keyword_args_json.unwrap().value, "1.5");
        assert_eq!(c.action.output.unwrap().value, "true");
        assert_eq!(c.action.pos_args_json.unwrap().value, r#"["a","b"]"#);
        assert_eq!(
            c.warnings
                .iter()
                .filter(|w| w.reason() == "wrong_type")
                .count(),
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
        let c = convert(&span, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.action.keyword_args_json.unwrap().value, "{not json");
        assert_eq!(
            c.warnings,
            vec![ConvertWarning::InvalidJson {
                key: key::KEYWORD_ARGS_JSON
            }]
        );
    }

    /// `span` as actionlog's own tracer would have made it.
    fn from_actionlog(mut span: SpanData) -> SpanData {
        span.instrumentation_scope =
            opentelemetry::InstrumentationScope::builder(key::SCOPE_NAME).build();
        span
    }

    #[test]
    fn actionlogs_own_json_is_not_parsed_again_unless_other_patterns_apply() {
        let span = from_actionlog(sdk_span(
            vec![
                KeyValue::new(key::COMMAND, "c"),
                KeyValue::new(key::ENDUSER_ID, "u"),
                // Cannot come from serde_json; stands for text a parse would refuse.
                KeyValue::new(key::POS_ARGS_JSON, "[not json"),
                KeyValue::new(key::KEYWORD_ARGS_JSON, r#"{"options":{"user_ssn":"1"}}"#),
                KeyValue::new(key::OUTPUT, r#"[{"SSN_hash":"abc","n":"\"ssn\":"}]"#),
            ],
            Status::Unset,
        ));
        // The default patterns: the decorator applied them as it wrote the text.
        let c = convert(&span, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.action.pos_args_json.unwrap().value, "[not json");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // Other patterns: parsed and redacted like any span's JSON.
        let ssn = ConvertOptions {
            redactor: Redactor::new(["ssn"]),
            ..ConvertOptions::default()
        };
        let c = convert(&span, None, &ssn).unwrap().unwrap();
        assert_eq!(
            c.action.keyword_args_json.unwrap().value,
            r#"{"options":{"user_ssn":"[REDACTED]"}}"#
        );
        assert_eq!(
            c.action.output.unwrap().value,
            r#"[{"SSN_hash":"[REDACTED]","n":"\"ssn\":"}]"#
        );
        assert_eq!(
            c.warnings,
            vec![
                ConvertWarning::InvalidJson {
                    key: key::POS_ARGS_JSON
                },
                ConvertWarning::Redacted {
                    key: key::KEYWORD_ARGS_JSON
                },
                ConvertWarning::Redacted { key: key::OUTPUT },
            ]
        );
    }

    #[test]
    fn ready_made_json_in_actionlogs_own_spans_is_checked() {
        let attrs = vec![
            KeyValue::new(key::COMMAND, "c"),
            KeyValue::new(key::ENDUSER_ID, "u"),
            KeyValue::new(key::KEYWORD_ARGS_JSON, "{not json"),
            KeyValue::new(key::JSON_UNCHECKED, true),
        ];
        let invalid = vec![ConvertWarning::InvalidJson {
            key: key::KEYWORD_ARGS_JSON,
        }];
        let own = from_actionlog(sdk_span(attrs.clone(), Status::Unset));
        let c = convert(&own, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.warnings, invalid);
        assert_eq!(c.action.keyword_args_json.unwrap().value, "{not json");
        // The marker says nothing to any other span, and is no part of the action.
        let mut other = sdk_span(attrs, Status::Unset);
        other.attributes.pop();
        let c = convert(other, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.warnings, invalid);
        // Turned off, the check stays off for every span.
        let off = ConvertOptions {
            validate_json: false,
            ..ConvertOptions::default()
        };
        assert!(
            convert(&own, None, &off)
                .unwrap()
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn secret_arguments_and_outputs_are_redacted_before_leaving() {
        let span = sdk_span(
            vec![
                KeyValue::new(key::COMMAND, "c"),
                KeyValue::new(key::ENDUSER_ID, "u"),
                KeyValue::new(
                    key::KEYWORD_ARGS_JSON,
                    r#"{"table_key":"t","options":{"api_key":"k-123"}}"#,
                ),
                KeyValue::new(key::OUTPUT, "session_token=abc"),
            ],
            Status::Unset,
        );
        let c = convert(&span, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        let kw: serde_json::Value =
            serde_json::from_str(&c.action.keyword_args_json.unwrap().value).unwrap();
        assert_eq!(
            kw,
            serde_json::json!({"table_key": "t", "options": {"api_key": "[REDACTED]"}})
        );
        assert_eq!(c.action.output.unwrap().value, REDACTED);
        assert_eq!(
            c.warnings,
            vec![
                ConvertWarning::Redacted {
                    key: key::KEYWORD_ARGS_JSON
                },
                ConvertWarning::InvalidJson { key: key::OUTPUT },
                ConvertWarning::RedactedUnparsable { key: key::OUTPUT },
            ]
        );
    }

    #[test]
    fn missing_user_is_converted_without_user() {
        let span = sdk_span(vec![KeyValue::new(key::COMMAND, "c")], Status::Unset);
        let c = convert(&span, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
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
    fn ids_render_as_lower_case_hex_of_their_bytes() {
        let trace: Vec<u8> = (0x01..=0x10).collect();
        let t = checked_id(&trace, 16).unwrap();
        assert_eq!(t.to_hex(), "0102030405060708090a0b0c0d0e0f10");
        let s = checked_id(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1], 8).unwrap();
        assert_eq!(s.to_string(), "deadbeef00000001");
        let mut out = b"x".to_vec();
        s.push_hex(&mut out);
        t.push_hex(&mut out);
        assert_eq!(
            out,
            b"xdeadbeef000000010102030405060708090a0b0c0d0e0f10".to_vec()
        );
        assert!(checked_id(&[0; 8], 8).is_err(), "all zeros");
        assert!(checked_id(&trace[..12], 12).is_err(), "only 8 or 16 bytes");
        assert!(checked_id(&trace, 8).is_err(), "length mismatch");
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
    fn owned_and_borrowed_conversion_agree() {
        let mut attrs = base_attrs();
        attrs.push(KeyValue::new(key::HOST_NAME, 5_i64));
        let mut sdk = sdk_span(attrs.clone(), Status::error("boom"));
        sdk.events.events.push(opentelemetry::trace::Event::new(
            "exception",
            UNIX_EPOCH,
            vec![KeyValue::new(key::EXCEPTION_TYPE, "KeyError")],
            0,
        ));
        let opts = ConvertOptions::default();
        let borrowed = convert(&sdk, None, &opts).unwrap().unwrap();
        assert_eq!(borrowed.action.error.as_ref().unwrap().value, "KeyError");
        assert_eq!(borrowed.action.host_name.as_deref(), Some("5"));
        assert_eq!(convert(sdk, None, &opts).unwrap().unwrap(), borrowed);

        let otlp = OtlpSpan {
            trace_id: vec![0xab; 16],
            span_id: vec![1; 8],
            attributes: attrs
                .iter()
                .map(|kv| match &kv.value {
                    Value::I64(i) => OtlpKv {
                        key: kv.key.to_string(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::IntValue(*i)),
                        }),
                        ..Default::default()
                    },
                    v => otlp_str(kv.key.as_str(), &v.as_str()),
                })
                .collect(),
            ..Default::default()
        };
        let borrowed = convert(&otlp, None, &opts).unwrap().unwrap();
        assert_eq!(borrowed.action.host_name.as_deref(), Some("5"));
        assert_eq!(convert(otlp, None, &opts).unwrap().unwrap(), borrowed);
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
        let c = convert(&otlp, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(c.action.start_epoch_ms, None);
        assert_eq!(c.action.end_epoch_ms, Some(5));

        let otlp = OtlpSpan {
            start_time_unix_nano: 9_000_000,
            end_time_unix_nano: 5_000_000,
            ..otlp
        };
        let c = convert(&otlp, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
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
        let back = convert(&span, None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert!(back.warnings.is_empty());
        assert_eq!(back.action, action);
    }
}

#[cfg(test)]
mod properties {
    use std::time::Duration;

    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue as OtlpKv};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    fn any_value() -> impl Strategy<Value = Option<AnyValue>> {
        let leaf = prop_oneof![
            any::<String>().prop_map(any_value::Value::StringValue),
            any::<bool>().prop_map(any_value::Value::BoolValue),
            any::<i64>().prop_map(any_value::Value::IntValue),
            any::<f64>().prop_map(any_value::Value::DoubleValue),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(any_value::Value::BytesValue),
        ];
        let value = leaf.prop_recursive(3, 16, 4, |inner| {
            proptest::collection::vec(inner, 0..4).prop_map(|vs| {
                any_value::Value::ArrayValue(ArrayValue {
                    values: vs
                        .into_iter()
                        .map(|v| AnyValue { value: Some(v) })
                        .collect(),
                })
            })
        });
        proptest::option::of(proptest::option::of(value).prop_map(|value| AnyValue { value }))
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(key::COMMAND.to_owned()),
            Just(key::ENDUSER_ID.to_owned()),
            Just(key::USER_ID.to_owned()),
            Just(key::HOST_NAME.to_owned()),
            Just(key::POS_ARGS_JSON.to_owned()),
            Just(key::KEYWORD_ARGS_JSON.to_owned()),
            Just(key::OUTPUT.to_owned()),
            Just(key::EXCEPTION_TYPE.to_owned()),
            Just(key::EXCEPTION_MESSAGE.to_owned()),
            any::<String>(),
        ]
    }

    fn otlp_span() -> impl Strategy<Value = OtlpSpan> {
        (
            proptest::collection::vec((key(), any_value()), 0..12),
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::collection::vec(any::<u8>(), 0..10),
            any::<u64>(),
            any::<u64>(),
            0i32..4,
            any::<String>(),
        )
            .prop_map(
                |(attrs, trace_id, span_id, start, end, code, message)| OtlpSpan {
                    trace_id,
                    span_id,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes: attrs
                        .into_iter()
                        .map(|(key, value)| OtlpKv {
                            key,
                            value,
                            ..Default::default()
                        })
                        .collect(),
                    status: Some(opentelemetry_proto::tonic::trace::v1::Status { message, code }),
                    ..Default::default()
                },
            )
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(any::<String>())
    }

    /// Valid actions: a non-empty command; times in whole ms after the epoch (a span has
    /// both); JSON fields hold any text (conversion keeps text verbatim); an error, when
    /// present, is not empty (see `span_status`).
    fn valid_action() -> impl Strategy<Value = UserAction> {
        (
            "[a-z_]{1,20}",
            text(),
            text(),
            (1i64..4_000_000_000_000, 0i64..1_000_000),
            (text(), text(), text()),
            proptest::option::of(".{1,40}"),
            any::<[u8; 16]>().prop_filter("non-zero", |b| b.iter().any(|x| *x != 0)),
            any::<[u8; 8]>().prop_filter("non-zero", |b| b.iter().any(|x| *x != 0)),
        )
            .prop_map(
                |(command, user, host, (start, dur), (pos, kw, out), error, tid, sid)| UserAction {
                    host_name: host,
                    start_epoch_ms: Some(start),
                    end_epoch_ms: Some(start + dur),
                    pos_args_json: pos.map(LongString::new),
                    keyword_args_json: kw.map(LongString::new),
                    output: out.map(LongString::new),
                    error: error.map(LongString::new),
                    user,
                    command: Some(command),
                    trace_id: Some(hex_id(&tid, 16).unwrap()),
                    span_id: Some(hex_id(&sid, 8).unwrap()),
                },
            )
    }

    fn to_span(a: &UserAction) -> SpanData {
        let bytes = |hex: &str| -> Vec<u8> {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        };
        let tid: [u8; 16] = bytes(a.trace_id.as_deref().unwrap()).try_into().unwrap();
        let sid: [u8; 8] = bytes(a.span_id.as_deref().unwrap()).try_into().unwrap();
        let ms = |v: Option<i64>| UNIX_EPOCH + Duration::from_millis(v.unwrap() as u64);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes(tid),
                SpanId::from_bytes(sid),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: a.command.clone().unwrap().into(),
            start_time: ms(a.start_epoch_ms),
            end_time: ms(a.end_epoch_ms),
            attributes: span_attributes(a),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: span_status(a),
            instrumentation_scope: Default::default(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn conversion_never_panics(span in otlp_span(), cap in 0usize..64) {
            let opts = ConvertOptions { max_field_bytes: cap, ..ConvertOptions::default() };
            let borrowed = convert(&span, Some("h"), &opts);
            let owned = convert(span, Some("h"), &opts);
            prop_assert_eq!(borrowed, owned);
        }

        /// The direct encoding writes exactly what prost writes for the converted action,
        /// and reports the same warnings.
        #[test]
        fn direct_encoding_matches_prost(span in otlp_span(), cap in 0usize..64, host in proptest::option::of(".{0,8}")) {
            let opts = ConvertOptions { max_field_bytes: cap, ..ConvertOptions::default() };
            let mut direct = Vec::new();
            let got = convert_encoded(&span, host.as_deref(), &opts, &mut direct);
            match convert(span, host.as_deref(), &opts) {
                Ok(Some(c)) => {
                    let mut expected = Vec::new();
                    crate::codec::encode_length_delimited(&c.action, &mut expected);
                    prop_assert_eq!(got, Ok(Some(c.warnings)));
                    prop_assert_eq!(direct, expected);
                }
                Ok(None) => {
                    prop_assert_eq!(got, Ok(None));
                    prop_assert!(direct.is_empty());
                }
                Err(e) => prop_assert_eq!(got, Err(e)),
            }
        }

        #[test]
        fn direct_encoding_of_valid_actions_decodes_back(action in valid_action()) {
            let opts = ConvertOptions {
                validate_json: false,
                redactor: Redactor::disabled(),
                ..ConvertOptions::default()
            };
            let mut buf = Vec::new();
            convert_encoded(to_span(&action), None, &opts, &mut buf).unwrap().unwrap();
            let back = UserAction::decode_length_delimited(buf.as_slice()).unwrap();
            prop_assert_eq!(back, action);
        }

        #[test]
        fn action_to_span_to_action_is_the_identity(action in valid_action()) {
            let opts = ConvertOptions {
                validate_json: false,
                redactor: Redactor::disabled(),
                ..ConvertOptions::default()
            };
            let back = convert(to_span(&action), None, &opts).unwrap().unwrap();
            prop_assert_eq!(back.action, action);
        }
    }
}
