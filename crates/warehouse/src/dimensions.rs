//! The KPI dimensions, parsed once at landing from a `UserAction`'s keyword arguments and
//! output, so that the SQL never has to parse JSON (which no two engines spell alike).

use serde_json::{Map, Value};

use actionlog::proto::UserAction;

/// Milliseconds in a UTC day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// What landing extracts from one action, besides its raw fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dimensions {
    /// UTC day of `start_epoch_ms`, in days since 1970-01-01; `None` without a start time.
    pub day: Option<i32>,
    /// `user` trimmed and lower-cased; `None` when that leaves nothing.
    pub user_norm: Option<String>,
    /// `error` absent or empty.
    pub success: bool,
    /// `keyword_args_json` is present but is not a JSON object.
    pub kwargs_malformed: bool,
    /// The resource the command is about (table key, dashboard uri, feature key, user id,
    /// type metadata key, bookmark resource key, ...), per the command's vocabulary.
    pub resource_key: Option<String>,
    /// `column_name` (column description edits).
    pub column_name: Option<String>,
    /// `search_term` trimmed, lower-cased, inner whitespace collapsed; `None` if empty.
    pub search_term: Option<String>,
    /// `page_index`, when it is an integer (or a string holding one).
    pub page_index: Option<i64>,
    /// `index`, when it is an integer (or a string holding one).
    pub click_index: Option<i64>,
    /// `source` (where a click came from).
    pub click_source: Option<String>,
    /// `method`, trimmed and upper-cased (PUT, DELETE).
    pub method: Option<String>,
    /// `total_results` of the output, when the output is a JSON object holding an integer.
    pub total_results: Option<i64>,
}

/// The keyword argument naming the resource of each command (Amundsen's vocabulary).
pub fn resource_argument(command: &str) -> Option<&'static str> {
    Some(match command {
        "_get_table_metadata"
        | "_log_put_table_description"
        | "_log_put_column_description"
        | "_log_update_table_owner"
        | "_log_update_table_tags" => "table_key",
        "_get_dashboard_metadata" => "uri",
        "_get_feature_metadata" => "feature_key",
        "_log_get_user" => "user_id",
        "_log_put_type_metadata_description" => "type_metadata_key",
        "_log_update_dashboard_tags" => "uri_key",
        "_log_update_bookmark" => "resource_key",
        "_get_related_dashboards_metadata" => "url",
        _ => return None,
    })
}

/// Trims and lower-cases a user (or an e-mail); `None` when nothing is left.
pub fn normalize_user(user: &str) -> Option<String> {
    let u = user.trim().to_lowercase();
    (!u.is_empty()).then_some(u)
}

/// Trims, lower-cases and collapses inner whitespace; `None` when nothing is left.
pub fn normalize_term(term: &str) -> Option<String> {
    let t = term
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!t.is_empty()).then_some(t)
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Dimensions {
    /// Extracts the dimensions of `action`.
    pub fn of(action: &UserAction) -> Self {
        let mut d = Dimensions {
            day: action
                .start_epoch_ms
                .map(|ms| ms.div_euclid(MS_PER_DAY))
                .and_then(|day| i32::try_from(day).ok()),
            user_norm: action.user.as_deref().and_then(normalize_user),
            success: action.error.as_ref().is_none_or(|e| e.value.is_empty()),
            ..Default::default()
        };
        let kwargs = match action.keyword_args_json.as_ref().map(|s| s.value.as_str()) {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                _ => {
                    d.kwargs_malformed = true;
                    Map::new()
                }
            },
        };
        let command = action.command.as_deref().unwrap_or_default();
        if let Some(arg) = resource_argument(command) {
            d.resource_key = kwargs.get(arg).and_then(as_text);
        }
        d.column_name = kwargs.get("column_name").and_then(as_text);
        d.search_term = kwargs
            .get("search_term")
            .and_then(as_text)
            .and_then(|t| normalize_term(&t));
        d.page_index = kwargs.get("page_index").and_then(as_int);
        d.click_index = kwargs.get("index").and_then(as_int);
        d.click_source = kwargs.get("source").and_then(as_text);
        d.method = kwargs
            .get("method")
            .and_then(as_text)
            .map(|m| m.trim().to_uppercase());
        d.total_results = action
            .output
            .as_ref()
            .and_then(|o| serde_json::from_str::<Value>(&o.value).ok())
            .and_then(|v| v.get("total_results").and_then(as_int));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actionlog::proto::LongString;

    fn action(command: &str, kwargs: &str) -> UserAction {
        UserAction {
            command: Some(command.into()),
            keyword_args_json: Some(LongString::new(kwargs)),
            start_epoch_ms: Some(-1),
            user: Some("  Ada@Example.COM ".into()),
            ..Default::default()
        }
    }

    #[test]
    fn search_dimensions_are_normalised() {
        let mut a = action(
            "_search_resources",
            r#"{"search_term":"  Driver   PAYMENTS ","page_index":"1"}"#,
        );
        a.output = Some(LongString::new(r#"{"total_results": 0, "results": []}"#));
        let d = Dimensions::of(&a);
        assert_eq!(d.search_term.as_deref(), Some("driver payments"));
        assert_eq!(d.page_index, Some(1));
        assert_eq!(d.total_results, Some(0));
        assert_eq!(d.user_norm.as_deref(), Some("ada@example.com"));
        // -1 ms is 1969-12-31: floor division, not truncation.
        assert_eq!(d.day, Some(-1));
        assert!(d.success && !d.kwargs_malformed);
    }

    #[test]
    fn click_and_edit_dimensions() {
        let d = Dimensions::of(&action(
            "_get_table_metadata",
            r#"{"table_key":"hive://gold.core/rides","index":3,"source":"search_results"}"#,
        ));
        assert_eq!(d.resource_key.as_deref(), Some("hive://gold.core/rides"));
        assert_eq!(
            (d.click_index, d.click_source.as_deref()),
            (Some(3), Some("search_results"))
        );
        let d = Dimensions::of(&action(
            "_log_update_dashboard_tags",
            r#"{"uri_key":"mode://x","method":" delete","tag":"pii"}"#,
        ));
        assert_eq!(d.resource_key.as_deref(), Some("mode://x"));
        assert_eq!(d.method.as_deref(), Some("DELETE"));
    }

    #[test]
    fn unparsable_arguments_are_flagged_not_dropped() {
        for bad in ["{not json", "[1,2]", "\"x\""] {
            let d = Dimensions::of(&action("_search_resources", bad));
            assert!(d.kwargs_malformed, "{bad}");
            assert_eq!(d.search_term, None);
            assert_eq!(d.user_norm.as_deref(), Some("ada@example.com"));
        }
        let mut a = action("x", "{}");
        a.keyword_args_json = None;
        a.error = Some(LongString::new(""));
        let d = Dimensions::of(&a);
        assert!(!d.kwargs_malformed && d.success);
    }
}
