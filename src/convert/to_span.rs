//! The other direction: a `UserAction` as span attributes and status, for emitting.

use opentelemetry::KeyValue;
use opentelemetry::trace::Status;

use crate::convention as key;
use crate::proto::UserAction;

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
