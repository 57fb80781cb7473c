//! Redaction of secret-looking values in the JSON fields of an action.
//!
//! Keys of JSON objects (at any depth) whose name contains one of the configured patterns
//! (case-insensitive substring: `password` matches `db_password` and `PasswordHash`) have
//! their values replaced by [`REDACTED`]. It runs inside conversion, so both the in-process
//! exporter and the bridge apply it before anything reaches a sink.
//!
//! A redacted field is re-serialised, so its object keys may come out in another order.
//! Pre- and post-execution callbacks run in the process before conversion and see the
//! values unredacted.
//!
//! A fast pre-check scans the raw text for the patterns first: the JSON is parsed and
//! rewritten only when a pattern occurs somewhere in it, so the common case costs one
//! linear scan.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use serde_json::Value;

/// The value that replaces a redacted one.
pub const REDACTED: &str = "[REDACTED]";

/// The patterns redacted by default.
pub const DEFAULT_PATTERNS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
];

/// What happened to a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No secret-looking key: the text is unchanged.
    Clean,
    /// Values were replaced; the new JSON text.
    Redacted(String),
    /// A pattern occurs but the text is not JSON, so it cannot be redacted structurally:
    /// the whole field is replaced.
    Unparsable,
}

/// A compiled set of secret-key patterns.
#[derive(Debug, Clone)]
pub struct Redactor {
    patterns: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl PartialEq for Redactor {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for Redactor {}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(DEFAULT_PATTERNS.iter().copied())
    }
}

impl Redactor {
    /// Redacts keys containing any of `patterns` (case-insensitive). Empty patterns are
    /// ignored; no patterns at all disables redaction.
    pub fn new<S: AsRef<str>>(patterns: impl IntoIterator<Item = S>) -> Self {
        let patterns: Vec<String> = patterns
            .into_iter()
            .map(|p| p.as_ref().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        let matcher = if patterns.is_empty() {
            None
        } else {
            // A DFA: a few short patterns make it small, and it scans several times faster
            // than the default NFA on every field of every action.
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&patterns)
                .ok()
        };
        Self { patterns, matcher }
    }

    /// A redactor that redacts nothing.
    pub fn disabled() -> Self {
        Self::new(std::iter::empty::<&str>())
    }

    /// The patterns, lower-cased.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    fn matches(&self, text: &str) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(text))
    }

    /// Redacts one JSON text.
    pub fn redact(&self, json: &str) -> Outcome {
        if !self.matches(json) {
            return Outcome::Clean;
        }
        let Ok(mut value) = serde_json::from_str::<Value>(json) else {
            return Outcome::Unparsable;
        };
        if self.walk(&mut value) {
            Outcome::Redacted(value.to_string())
        } else {
            Outcome::Clean
        }
    }

    /// Replaces secret values in place; whether anything changed.
    fn walk(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(map) => {
                let mut changed = false;
                for (k, v) in map.iter_mut() {
                    if self.matches(k) {
                        if v.as_str() != Some(REDACTED) {
                            *v = Value::String(REDACTED.to_owned());
                            changed = true;
                        }
                    } else {
                        changed |= self.walk(v);
                    }
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |c, v| self.walk(v) | c),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_redacted_at_any_depth() {
        let r = Redactor::default();
        let json = r#"{"table_key":"t","db_Password":"hunter2","nested":[{"headers":{"Authorization":"Bearer x","accept":"*/*"}}],"api_key":{"a":1}}"#;
        let Outcome::Redacted(out) = r.redact(json) else {
            panic!("expected redaction")
        };
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["db_Password"], REDACTED);
        assert_eq!(v["nested"][0]["headers"]["Authorization"], REDACTED);
        assert_eq!(v["nested"][0]["headers"]["accept"], "*/*");
        assert_eq!(v["api_key"], REDACTED);
        assert_eq!(v["table_key"], "t");
        assert!(!out.contains("hunter2") && !out.contains("Bearer"));
    }

    #[test]
    fn pattern_only_in_values_is_left_alone() {
        let r = Redactor::default();
        assert_eq!(
            r.redact(r#"{"search_term":"password reset table"}"#),
            Outcome::Clean
        );
        assert_eq!(r.redact(r#"{"search_term":"rides"}"#), Outcome::Clean);
    }

    #[test]
    fn unparsable_text_mentioning_a_secret_is_reported() {
        let r = Redactor::default();
        assert_eq!(r.redact("password=hunter2"), Outcome::Unparsable);
    }

    #[test]
    fn configurable_and_disableable() {
        let r = Redactor::new(["SSN"]);
        assert!(matches!(
            r.redact(r#"{"user_ssn":"1"}"#),
            Outcome::Redacted(_)
        ));
        assert_eq!(r.redact(r#"{"password":"x"}"#), Outcome::Clean);
        assert_eq!(
            Redactor::disabled().redact(r#"{"password":"x"}"#),
            Outcome::Clean
        );
    }
}
