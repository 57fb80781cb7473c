//! The JSON view of a [`UserAction`]: what `decode`, the stdout sink and the JSON-lines file
//! format print.
//!
//! It is the proto field names with the wrappers unwrapped: `"user": "ada@example.com"`,
//! `"start_epoch_ms": 1700000000000` (a JSON number, not the proto3-JSON string), and the
//! `LongString` fields as plain strings. Absent fields are omitted, so a pre-execution
//! record prints without `end_epoch_ms`.

use serde::{Deserialize, Serialize};

use crate::proto::{LongString, UserAction};

/// A [`UserAction`] as a flat JSON object. Converts losslessly in both directions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserActionJson {
    /// See [`UserAction::command`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// See [`UserAction::user`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// See [`UserAction::host_name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// See [`UserAction::start_epoch_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_epoch_ms: Option<i64>,
    /// See [`UserAction::end_epoch_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_epoch_ms: Option<i64>,
    /// See [`UserAction::pos_args_json`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_args_json: Option<String>,
    /// See [`UserAction::keyword_args_json`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword_args_json: Option<String>,
    /// See [`UserAction::output`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// See [`UserAction::error`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// See [`UserAction::trace_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// See [`UserAction::span_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

fn unwrap_long(s: &Option<LongString>) -> Option<String> {
    s.as_ref().map(|s| s.value.clone())
}

fn wrap_long(s: Option<String>) -> Option<LongString> {
    s.map(LongString::from)
}

impl From<&UserAction> for UserActionJson {
    fn from(a: &UserAction) -> Self {
        Self {
            command: a.command.clone(),
            user: a.user.clone(),
            host_name: a.host_name.clone(),
            start_epoch_ms: a.start_epoch_ms,
            end_epoch_ms: a.end_epoch_ms,
            pos_args_json: unwrap_long(&a.pos_args_json),
            keyword_args_json: unwrap_long(&a.keyword_args_json),
            output: unwrap_long(&a.output),
            error: unwrap_long(&a.error),
            trace_id: a.trace_id.clone(),
            span_id: a.span_id.clone(),
        }
    }
}

impl From<UserActionJson> for UserAction {
    fn from(j: UserActionJson) -> Self {
        Self {
            host_name: j.host_name,
            start_epoch_ms: j.start_epoch_ms,
            end_epoch_ms: j.end_epoch_ms,
            pos_args_json: wrap_long(j.pos_args_json),
            keyword_args_json: wrap_long(j.keyword_args_json),
            output: wrap_long(j.output),
            error: wrap_long(j.error),
            user: j.user,
            command: j.command,
            trace_id: j.trace_id,
            span_id: j.span_id,
        }
    }
}

/// Renders one action as a single line of JSON (no trailing newline).
pub fn to_json_line(action: &UserAction) -> String {
    // Serialising a struct of strings and integers cannot fail.
    serde_json::to_string(&UserActionJson::from(action)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_view_round_trips_and_omits_absent_fields() {
        let a = UserAction {
            command: Some("_search_resources".into()),
            user: Some("ada@example.com".into()),
            start_epoch_ms: Some(1_700_000_000_000),
            keyword_args_json: Some(LongString::new(r#"{"search_term":"rides"}"#)),
            ..Default::default()
        };
        let line = to_json_line(&a);
        assert_eq!(
            line,
            r#"{"command":"_search_resources","user":"ada@example.com","start_epoch_ms":1700000000000,"keyword_args_json":"{\"search_term\":\"rides\"}"}"#
        );
        let back: UserActionJson = serde_json::from_str(&line).unwrap();
        assert_eq!(UserAction::from(back), a);
    }
}
