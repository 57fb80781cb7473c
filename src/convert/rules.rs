//! The convention's rules (docs/conventions.md), applied to any [`SpanView`]: which
//! attribute becomes which field, the user and host fallbacks, errors, JSON checks,
//! redaction, pseudonyms and caps. One function, [`convert_fields`], for every route.

use super::view::{AttrLike, HexId, Signal, SpanView};
use super::{ConvertError, ConvertOptions, ConvertWarning, Converted, truncation_marker};
use crate::convention as key;
use crate::proto::{LongString, UserAction};
use crate::redact::{Inspection, Outcome, REDACTED};

pub(super) struct Found<A> {
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
    end: Option<A>,
}

impl<A> Found<A> {
    pub(super) fn new() -> Self {
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
            end: None,
        }
    }

    #[inline(always)]
    pub(super) fn see(&mut self, k: &str, v: A) {
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
            key::END_EPOCH_MS => &mut self.end,
            _ => return,
        };
        *slot = Some(v);
    }
}
/// A converted text field: still the span's own attribute value (moved or borrowed, never
/// copied), or text that conversion produced (cut, redacted, rendered from another type).
pub(super) enum Text<'r, A> {
    /// A string attribute, unchanged.
    Attr(A),
    /// Borrowed from outside the span (the resource's host name).
    Borrowed(&'r str),
    /// Produced by conversion.
    Owned(String),
}

impl<A: AttrLike> Text<'_, A> {
    pub(super) fn as_str(&self) -> &str {
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
pub(super) struct Fields<'r, A> {
    pub(super) host_name: Option<Text<'r, A>>,
    pub(super) start: Option<i64>,
    pub(super) end: Option<i64>,
    pub(super) pos_args_json: Option<Text<'r, A>>,
    pub(super) keyword_args_json: Option<Text<'r, A>>,
    pub(super) output: Option<Text<'r, A>>,
    pub(super) error: Option<String>,
    pub(super) user: Option<Text<'r, A>>,
    pub(super) command: Text<'r, A>,
    pub(super) trace_id: Option<HexId>,
    pub(super) span_id: Option<HexId>,
    pub(super) warnings: Vec<ConvertWarning>,
}

/// The one conversion every route goes through (see the module docs).
// Inlined into its two renderings: a `Fields` returned through memory and read back costs
// more than the copies of the code.
#[inline(always)]
pub(super) fn convert_fields<'r, S: SpanView>(
    mut span: S,
    resource_host: Option<&'r str>,
    opts: &ConvertOptions,
) -> Result<Option<Fields<'r, S::Attr>>, ConvertError> {
    // No `is_action` scan first: a span without `action_log.command` comes out of the
    // drain below without one, and callers that must not lose a non-action span's
    // attributes ask `is_action` before handing it over.
    let signal = span.signal();
    // A log record is an action by its name alone, which is one comparison.
    if signal == Signal::LogEvent && !span.is_action() {
        return Ok(None);
    }
    let error_description = span.error_status().map(str::to_owned);
    let mut found = Found::new();
    span.drain_attributes(|k, v| found.see(k, v));
    let Some(command) = found.command.take() else {
        // An event named as an action log but without its command is a broken action, not
        // some other record.
        return match signal {
            Signal::Span => Ok(None),
            Signal::LogEvent => Err(ConvertError::MissingCommand),
        };
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
    // A log record has one timestamp (the start): the end is an attribute.
    let end = match (span.end_epoch_ms(), found.end.take()) {
        (Some(end), _) => Some(end),
        (None, Some(v)) if signal == Signal::LogEvent => match v.as_i64() {
            Some((end, wrong_type)) => {
                if wrong_type {
                    warnings.push(ConvertWarning::WrongType {
                        key: key::END_EPOCH_MS,
                    });
                }
                Some(end)
            }
            None => {
                warnings.push(ConvertWarning::WrongType {
                    key: key::END_EPOCH_MS,
                });
                None
            }
        },
        (None, _) => None,
    };
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

    // A log event has no status: `exception.*` attributes say it failed, as the semantic
    // conventions record exceptions on logs.
    let error_description = error_description.or_else(|| {
        (signal == Signal::LogEvent && (found.exc_type.is_some() || found.exc_message.is_some()))
            .then(String::new)
    });
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
    pub(super) fn into_converted(self) -> Converted {
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
                trace_id: self.trace_id.map(|id| id.to_hex()),
                span_id: self.span_id.map(|id| id.to_hex()),
            },
            warnings: self.warnings,
        }
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
