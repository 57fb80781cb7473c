//! Redaction of secret-looking values in the JSON fields of an action.
//!
//! Keys of JSON objects (at any depth) whose name contains one of the configured patterns
//! (case-insensitive substring: `password` matches `db_password` and `PasswordHash`) have
//! their values replaced by [`REDACTED`]. It runs inside conversion, so both the in-process
//! exporter and the bridge apply it before anything reaches a sink.
//!
//! A redacted field is re-serialised, so its object keys may come out in another order.
//!
//! actionlog's own decorator applies its patterns (the default ones, or those of
//! [`set_decorator_patterns`]) as it writes an action's JSON (`action::write_json`; under
//! the default patterns argument names are judged at compile time by
//! [`is_default_secret_key`]), so secrets never enter its spans, and pre- and
//! post-execution callbacks see them redacted too. JSON handed to it ready-made is
//! redacted by conversion like any other span's.
//!
//! Conversion checks each JSON field with [`Redactor::inspect`]: one parse that both
//! validates the text and looks at every object key, so a valid field without a secret key
//! is left as it is without a second pass. [`Redactor::redact`] (which re-parses into a
//! tree and rewrites) runs only for a field with such a key, or one that is not JSON; for
//! those, a scan of the raw text for the patterns decides first, so text that is not JSON
//! is replaced whole only when a pattern occurs in it.
//!
//! JSON that actionlog's own decorator wrote in the same process is valid by construction
//! and already redacted with the decorator's patterns: conversion leaves it alone unless it
//! redacts with other patterns.

use aho_corasick::automaton::Automaton;
use aho_corasick::{AhoCorasick, AhoCorasickKind, Anchored, dfa::DFA};
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

/// What one parse of a JSON field found (see [`Redactor::inspect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspection {
    /// One JSON value; whether some object key (at any depth) names a secret.
    Json {
        /// An object key contains one of the patterns.
        secret_key: bool,
    },
    /// Not one JSON value (syntax error, trailing text).
    NotJson,
}

/// A compiled set of secret-key patterns.
#[derive(Debug, Clone)]
pub struct Redactor {
    patterns: Vec<String>,
    /// Searches whole texts (with the library's prefilters).
    matcher: Option<AhoCorasick>,
    /// The same patterns as a bare DFA, walked byte by byte over object keys (see
    /// [`Redactor::key_matches`]).
    keys: Option<DFA>,
    /// Each pattern's [`byte_set`].
    pattern_sets: Vec<u64>,
    /// The patterns are [`DEFAULT_PATTERNS`] (a quicker test than comparing them).
    default: bool,
}

/// Whether [`Redactor::default`] redacts the value of an object key named `key` (it
/// contains one of [`DEFAULT_PATTERNS`], ASCII case-insensitively). A `const fn`, so
/// `#[action_log]` decides for each argument name once, at compile time.
pub const fn is_default_secret_key(key: &str) -> bool {
    let k = key.as_bytes();
    let mut p = 0;
    while p < DEFAULT_PATTERNS.len() {
        let pat = DEFAULT_PATTERNS[p].as_bytes();
        let mut at = 0;
        while at + pat.len() <= k.len() {
            let mut i = 0;
            while i < pat.len() && k[at + i].to_ascii_lowercase() == pat[i] {
                i += 1;
            }
            if i == pat.len() {
                return true;
            }
            at += 1;
        }
        p += 1;
    }
    false
}

static DECORATOR: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();

/// The redactor actionlog's decorator applies as it writes the JSON of an action: the
/// default patterns unless [`set_decorator_patterns`] chose others.
pub(crate) fn decorator_redactor() -> &'static Redactor {
    DECORATOR.get_or_init(Redactor::default)
}

/// The decorator's patterns were fixed already (see [`set_decorator_patterns`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the decorator's redaction patterns are fixed once the first action is written")]
pub struct DecoratorPatternsFixed;

/// Sets the patterns actionlog's decorator (`#[action_log]`, [`crate::ActionLog`])
/// redacts with as it writes an action's JSON, instead of [`DEFAULT_PATTERNS`]; no
/// patterns turns its redaction off. Call it once, at start-up, before the first action:
/// after that the patterns are fixed and this returns an error. Give the exporter the same
/// patterns (`ConvertOptions::redactor`) and it leaves the decorator's JSON alone; with
/// other patterns it redacts that JSON again by its own.
///
/// ```
/// use actionlog::action::KwArgs;
/// use actionlog::redact::{DecoratorPatternsFixed, set_decorator_patterns};
///
/// set_decorator_patterns(["ssn"]).unwrap();
/// let mut kw = KwArgs::new();
/// kw.push_ident("user_ssn", "123-45-6789");
/// kw.push_ident("page_token", "p2");
/// assert_eq!(kw.finish(), r#"{"user_ssn":"[REDACTED]","page_token":"p2"}"#);
/// assert_eq!(set_decorator_patterns(["token"]), Err(DecoratorPatternsFixed));
/// ```
pub fn set_decorator_patterns<S: AsRef<str>>(
    patterns: impl IntoIterator<Item = S>,
) -> Result<(), DecoratorPatternsFixed> {
    DECORATOR
        .set(Redactor::new(patterns))
        .map_err(|_| DecoratorPatternsFixed)
}

/// Whether JSON the decorator wrote needs nothing more from `r`: the decorator redacted
/// it with the same patterns.
pub(crate) fn decorator_applied(r: &Redactor) -> bool {
    let d = decorator_redactor();
    (r.default && d.default) || r.patterns == d.patterns
}

/// The bytes of `s`, ASCII letters lower-cased as the matchers fold them, each mapped to one
/// of 64 bits. A text can contain a pattern only if its set includes the pattern's set; the
/// converse does not hold (bits are shared), so this only rules texts out.
fn byte_set(s: &[u8]) -> u64 {
    // A table, not the arithmetic: the compiler vectorised the arithmetic into shuffles
    // whose set-up cost more than the few bytes of a key (perf annotate of `key_matches`).
    s.iter().fold(0, |set, &b| set | BYTE_BIT[usize::from(b)])
}

/// [`byte_set`]'s bit for each byte.
static BYTE_BIT: [u64; 256] = {
    let mut t = [0; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = 1 << ((b as u8).to_ascii_lowercase() & 63);
        b += 1;
    }
    t
};

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
        if patterns.is_empty() {
            return Self {
                patterns,
                matcher: None,
                keys: None,
                pattern_sets: Vec::new(),
                default: false,
            };
        }
        let default = patterns
            .iter()
            .map(String::as_str)
            .eq(DEFAULT_PATTERNS.iter().copied());
        // A DFA: a few short patterns make it small, and it scans several times faster
        // than the default NFA on every field of every action.
        let matcher = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .ok();
        let keys = DFA::builder()
            .ascii_case_insensitive(true)
            .prefilter(false)
            .build(&patterns)
            .ok();
        let pattern_sets = patterns.iter().map(|p| byte_set(p.as_bytes())).collect();
        Self {
            patterns,
            matcher,
            keys,
            pattern_sets,
            default,
        }
    }

    /// Whether this redactor has the default patterns.
    pub fn is_default(&self) -> bool {
        self.default
    }

    /// Whether an object key named `key` would have its value redacted.
    pub fn is_secret_key(&self, key: &str) -> bool {
        self.matcher.is_some() && self.key_matches(key)
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

    /// Whether an object key contains a pattern. Keys are a few bytes long, where a full
    /// search's set-up (input checks, prefilter) costs more than the scan itself: most keys
    /// are ruled out by their byte set (independent operations, where the DFA walk is a
    /// chain of dependent loads), the rest walk the DFA's transitions directly.
    #[inline]
    fn key_matches(&self, key: &str) -> bool {
        let set = byte_set(key.as_bytes());
        self.pattern_sets.iter().any(|p| p & set == *p) && self.key_walk(key)
    }

    /// The part of [`Redactor::key_matches`] few keys reach, out of line so that the
    /// byte-set test inlines into the scan without it.
    #[inline(never)]
    fn key_walk(&self, key: &str) -> bool {
        let Some(dfa) = &self.keys else {
            return self.matches(key);
        };
        let Ok(mut sid) = dfa.start_state(Anchored::No) else {
            return self.matches(key);
        };
        for &b in key.as_bytes() {
            sid = dfa.next_state(Anchored::No, sid, b);
            // Standard match semantics: a match state is entered as a pattern ends.
            if dfa.is_special(sid) && dfa.is_match(sid) {
                return true;
            }
        }
        false
    }

    /// Parses `text` once, without building a tree: whether it is one JSON value, and
    /// whether any object key in it contains a pattern. Keys are compared unescaped
    /// (`"pass\u0077ord"` is `password`). The scalar forms decorators record most (`[]`,
    /// `{}`, `null`, `true`, `false`, plain integers) are recognised without a parser.
    pub fn inspect(&self, text: &str) -> Inspection {
        let b = text.as_bytes();
        let plain_scalar = match b {
            b"null" | b"true" | b"false" | b"[]" | b"{}" | b"0" => true,
            [b'1'..=b'9', rest @ ..] => rest.len() < 19 && rest.iter().all(u8::is_ascii_digit),
            _ => false,
        };
        if plain_scalar {
            return Inspection::Json { secret_key: false };
        }
        let found = std::cell::Cell::new(false);
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = serde::de::DeserializeSeed::deserialize(
            KeyScan {
                redactor: self,
                found: &found,
            },
            &mut de,
        );
        match parsed.and_then(|()| de.end()) {
            Ok(()) => Inspection::Json {
                secret_key: found.get(),
            },
            // The scan stops at serde_json's recursion limit; its iterative skip does not.
            // Valid JSON nested deeper than the scan can go counts as having a secret key
            // when a pattern occurs anywhere in it, so `redact_inspected` decides.
            Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
                Inspection::Json {
                    secret_key: self.matches(text),
                }
            }
            Err(_) => Inspection::NotJson,
        }
    }

    /// Redacts one JSON text.
    pub fn redact(&self, json: &str) -> Outcome {
        // Without a pattern in the raw text or an escape that could spell one, no key can
        // name a secret: the common case costs one scan.
        if self.matcher.is_none() || (!self.matches(json) && !json.contains('\\')) {
            return Outcome::Clean;
        }
        self.redact_inspected(json, self.inspect(json))
    }

    /// Redacts one JSON text that [`Redactor::inspect`] has looked at already: a valid text
    /// is rewritten only when it has a secret key; a text that is not JSON is replaced whole
    /// when a pattern occurs anywhere in it.
    pub fn redact_inspected(&self, json: &str, inspection: Inspection) -> Outcome {
        match inspection {
            Inspection::Json { secret_key: false } => Outcome::Clean,
            Inspection::Json { secret_key: true } => {
                let Ok(mut value) = serde_json::from_str::<Value>(json) else {
                    return Outcome::Unparsable;
                };
                if self.walk(&mut value) {
                    Outcome::Redacted(value.to_string())
                } else {
                    Outcome::Clean
                }
            }
            Inspection::NotJson if self.matches(json) => Outcome::Unparsable,
            Inspection::NotJson => Outcome::Clean,
        }
    }

    /// Replaces secret values in place; whether anything changed.
    fn walk(&self, value: &mut Value) -> bool {
        match value {
            Value::Object(map) => {
                let mut changed = false;
                for (k, v) in map.iter_mut() {
                    if self.key_matches(k) {
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

/// Walks a JSON value for [`Redactor::inspect`], noting object keys that contain a pattern
/// and ignoring everything else.
#[derive(Clone, Copy)]
struct KeyScan<'a> {
    redactor: &'a Redactor,
    found: &'a std::cell::Cell<bool>,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeyScan<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyScan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KeyName(self))?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// An object key: checked against the patterns.
struct KeyName<'a>(KeyScan<'a>);

impl<'de> serde::de::DeserializeSeed<'de> for KeyName<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyName<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<(), E> {
        if self.0.redactor.key_matches(key) {
            self.0.found.set(true);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_walk_agrees_with_the_full_search() {
        let r = Redactor::default();
        let keys = [
            "",
            "p",
            "token",
            "TOKEN",
            "x_Token",
            "tokens",
            "tok",
            "api_key",
            "apiKey",
            "apikey",
            "db_password_hash",
            "PASSWD",
            "passw",
            "cookie_jar",
            "Set-Cookie",
            "secretary",
            "authorization",
            "Authorisation",
            "table_key",
            "index",
            "source",
            "péssword",
            r"pass\u0077ord",
            "\u{1F512}secret",
            "tokne",
            "kotne",
            "drowssap",
            "?ecret",
            "SECRET",
        ];
        for k in keys {
            assert_eq!(r.key_matches(k), r.matches(k), "{k:?}");
        }
        let custom = Redactor::new(["ssn", "Credit_Card"]);
        for k in ["ssn", "user_SSN", "credit_card_no", "CREDIT-CARD", "card"] {
            assert_eq!(custom.key_matches(k), custom.matches(k), "{k:?}");
        }
        assert!(!Redactor::disabled().key_matches("password"));
    }

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
    fn inspect_validates_and_finds_secret_keys_in_one_parse() {
        let r = Redactor::default();
        let clean = Inspection::Json { secret_key: false };
        let secret = Inspection::Json { secret_key: true };
        for (text, want) in [
            ("[]", clean),
            ("12345", clean),
            ("-1.5e3", clean),
            (r#""password""#, clean),
            (r#"{"search_term":"password reset"}"#, clean),
            (
                r#"{"table_key":"t","index":3,"source":"search_results"}"#,
                clean,
            ),
            (r#"{"a":[1,{"b":{"DB_Password":"x"}}]}"#, secret),
            (r#"{"password":"hunter2"}"#, secret),
            (r#"[{"token":null}]"#, secret),
            (r#"{"a":1"#, Inspection::NotJson),
            (r#"{"a":1} trailing"#, Inspection::NotJson),
            ("password=hunter2", Inspection::NotJson),
            ("01", Inspection::NotJson),
            ("", Inspection::NotJson),
        ] {
            assert_eq!(r.inspect(text), want, "{text}");
        }
        // Deeper than the scan's recursion limit: still JSON; a pattern anywhere counts.
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(r.inspect(&deep), clean);
        let deep_secret = format!("{}{{\"token\":1}}{}", "[".repeat(500), "]".repeat(500));
        assert_eq!(r.inspect(&deep_secret), secret);
        assert_eq!(r.redact(&deep_secret), Outcome::Unparsable);
        assert_eq!(r.inspect(&"[".repeat(10_000)), Inspection::NotJson);
        assert_eq!(
            Redactor::disabled().inspect(r#"{"password":"x"}"#),
            Inspection::Json { secret_key: false }
        );
    }

    /// The reference for [`Redactor::inspect`]: a full parse into a tree, every key checked.
    fn inspect_by_tree(r: &Redactor, text: &str) -> Inspection {
        fn any_key(r: &Redactor, v: &Value) -> bool {
            match v {
                Value::Object(m) => m.iter().any(|(k, v)| r.key_matches(k) || any_key(r, v)),
                Value::Array(vs) => vs.iter().any(|v| any_key(r, v)),
                _ => false,
            }
        }
        match serde_json::from_str::<Value>(text) {
            Ok(v) => Inspection::Json {
                secret_key: any_key(r, &v),
            },
            Err(_) => Inspection::NotJson,
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("table_key".to_owned()),
            Just("x_Token".to_owned()),
            Just("DB_PASSWORD".to_owned()),
            Just("tok\"en".to_owned()),
            Just("tok:en".to_owned()),
            Just("apikey\n".to_owned()),
            "[a-z_:\" ]{0,8}".prop_map(String::from),
            any::<String>(),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            Just(Value::from("password: \"x\"")),
            Just(Value::from("\":")),
            Just(Value::from("reset my password")),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The one-parse walk agrees with a full parse into a tree, compact or
        /// pretty-printed, escaped keys included.
        #[test]
        fn inspect_agrees_with_a_full_parse(v in json_value(), pretty: bool) {
            let r = Redactor::default();
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                v.to_string()
            };
            proptest::prop_assert_eq!(r.inspect(&text), inspect_by_tree(&r, &text), "{}", text);
        }

        /// Damaged texts: whatever serde_json rejects is not JSON here either.
        #[test]
        fn inspect_rejects_what_serde_json_rejects(
            v in json_value(),
            cut in 0usize..64,
            insert in proptest::sample::select(vec!["", ",", "\"", ":", "}", "]", "\\", " x"]),
        ) {
            let r = Redactor::default();
            let mut text = v.to_string();
            let at = text.len().saturating_sub(cut);
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.insert_str(at, insert);
            // A cut can join digits into a number beyond f64's range: valid by JSON's
            // grammar, which `inspect` follows, while the tree refuses it at that number
            // and so never sees what follows (`numbers_beyond_f64_are_json`).
            proptest::prop_assume!(!serde_json::from_str::<Value>(&text)
                .is_err_and(|e| e.to_string().starts_with("number out of range")));
            proptest::prop_assert_eq!(r.inspect(&text), inspect_by_tree(&r, &text), "{}", text);
        }
    }

    #[test]
    fn numbers_beyond_f64_are_json() {
        // Found by `inspect_rejects_what_serde_json_rejects`: `[6.5618045491,50957e+305]`.
        let r = Redactor::default();
        for text in ["[6.5618045491,50957e+305]", "1e400", r#"{"n":-1e999}"#] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert_eq!(
                r.inspect(text),
                Inspection::Json { secret_key: false },
                "{text}"
            );
        }
        // With a secret key, the tree that redaction needs cannot be built: the whole
        // field goes.
        let text = r#"{"password":"x","n":1e400}"#;
        assert_eq!(r.inspect(text), Inspection::Json { secret_key: true });
        assert_eq!(r.redact(text), Outcome::Unparsable);
    }

    #[test]
    fn an_escaped_secret_key_is_redacted() {
        // The raw-text pre-scan alone would miss it: the key only spells `password` once
        // unescaped.
        let r = Redactor::default();
        let Outcome::Redacted(out) = r.redact(r#"{"pass\u0077ord":"hunter2"}"#) else {
            panic!("expected redaction")
        };
        assert!(!out.contains("hunter2"), "{out}");
    }

    proptest::proptest! {
        /// The compile-time test of argument names agrees with the default redactor.
        #[test]
        fn the_const_key_test_agrees_with_the_default_redactor(
            key in "([a-zA-Z_ ]{0,6}(Pass[wW]ord|passwd|TOKEN|secret|api_?key|Cookie|authorization)?[a-z_]{0,6})|\\PC{0,12}",
        ) {
            proptest::prop_assert_eq!(
                is_default_secret_key(&key),
                Redactor::default().is_secret_key(&key),
                "{}", key
            );
        }
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
