//! What conversion reads: a span seen through [`SpanView`], its attribute values through
//! [`AttrLike`], and the checked ids and times every view shares.

use std::time::{SystemTime, UNIX_EPOCH};

use super::ConvertError;

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
/// [`Value`](opentelemetry::Value), OTLP's `AnyValue`), so an owned span gives up its strings without copies.
pub trait AttrLike {
    /// The value if it is a string.
    fn as_str(&self) -> Option<&str>;
    /// The value as text: a string as it is (moved when owned), anything else rendered as
    /// JSON text.
    fn into_text(self) -> String;
    /// The value as an integer: an integer as it is, a float cut to its integer part, a
    /// string holding a decimal integer parsed; `None` for anything else. The second value
    /// says whether the type was not an integer (a conversion warning).
    fn as_i64(&self) -> Option<(i64, bool)>;
}

/// The integer reading of [`AttrLike::as_i64`] for a borrowed value.
pub(super) fn attr_i64(v: &AttrValue<'_>) -> Option<(i64, bool)> {
    match v {
        AttrValue::I64(i) => Some((*i, false)),
        AttrValue::F64(f) if f.is_finite() => Some((*f as i64, true)),
        AttrValue::Str(s) => s.trim().parse().ok().map(|i| (i, true)),
        _ => None,
    }
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

    fn as_i64(&self) -> Option<(i64, bool)> {
        attr_i64(self)
    }
}

/// Which OpenTelemetry signal a view reads. The rules are the same for both except where
/// `docs/conventions.md` says otherwise (a missing command, an error without a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A span: an action when it carries `action_log.command`.
    Span,
    /// A log record: an action event when its `EventName` is
    /// [`EVENT_NAME`](crate::convention::EVENT_NAME).
    LogEvent,
}

/// An action log conversion can read: a span or a log event.
///
/// Implemented for the SDK's [`SpanData`](opentelemetry_sdk::trace::SpanData) and for OTLP
/// spans, each by reference (attributes borrowed and copied) and by value (attributes
/// moved out), and for log records through [`OtlpLogEvent`](super::OtlpLogEvent) and
/// [`SdkLogEvent`](super::SdkLogEvent), so that one function converts them all.
pub trait SpanView {
    /// The attribute value type handed out.
    type Attr: AttrLike;
    /// The signal this view reads; spans unless said otherwise.
    fn signal(&self) -> Signal {
        Signal::Span
    }
    /// Whether this is an action log: a span carrying `action_log.command`, a log record
    /// named [`EVENT_NAME`](crate::convention::EVENT_NAME).
    fn is_action(&self) -> bool;
    /// Calls `f` for every span attribute, in order, handing over the values.
    fn drain_attributes(&mut self, f: impl FnMut(&str, Self::Attr));
    /// Calls `f` for every attribute of the last span event named `exception` (log events
    /// carry `exception.*` as attributes and have none).
    fn drain_exception_event(&mut self, f: impl FnMut(&str, Self::Attr));
    /// Start time in ms since the Unix epoch; `None` when unknown (0 or before the epoch).
    fn start_epoch_ms(&self) -> Option<i64>;
    /// End time in ms since the Unix epoch; `None` when unknown.
    fn end_epoch_ms(&self) -> Option<i64>;
    /// `Some(description)` (possibly empty) when the span status is Error (for a log
    /// event: its severity is ERROR or above, described by a string body).
    fn error_status(&self) -> Option<&str>;
    /// The trace id; `None` for a log event recorded outside any trace.
    fn trace_id_hex(&self) -> Result<Option<HexId>, ConvertError>;
    /// The span id; `None` for a log event recorded outside any span.
    fn span_id_hex(&self) -> Result<Option<HexId>, ConvertError>;
    /// Whether actionlog's own tracer made this span in this process, so its JSON
    /// attributes are serde_json's output (valid by construction) unless it carries
    /// [`JSON_UNCHECKED`](crate::convention::JSON_UNCHECKED). Only a span handed over in memory can say so: a span that
    /// arrived over the network is never taken at its word.
    fn made_by_actionlog(&self) -> bool {
        false
    }
}

pub(super) fn nanos_to_ms(n: u64) -> Option<i64> {
    (n != 0).then_some((n / 1_000_000) as i64)
}

/// What `nanos_to_ms` gives for the time as u64 ns (saturated, as OTLP carries it),
/// without a 128-bit nanosecond count below the saturation point (the year 2554).
pub(super) fn system_time_ms(t: SystemTime) -> Option<i64> {
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
pub(super) fn checked_id(bytes: &[u8], expected: usize) -> Result<HexId, String> {
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

/// A log record's optional id: absent (empty or all zeros, which the logs data model
/// uses for "no span") is `None`, a wrong length an error.
pub(super) fn optional_id(bytes: &[u8], expected: usize) -> Result<Option<HexId>, String> {
    if bytes.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    checked_id(bytes, expected).map(Some)
}

#[cfg(test)]
pub(super) fn hex_id(bytes: &[u8], expected: usize) -> Result<String, String> {
    checked_id(bytes, expected).map(|h| h.to_hex())
}

// ---- the SDK's SpanData -------------------------------------------------------------
