//! The wire format: the `UserAction` protobuf message and its JSON view.
//!
//! The types are generated at build time from `proto/` (see `build.rs`). prost maps the
//! `google.protobuf` wrapper types to `Option<String>` / `Option<i64>`, so an absent field and
//! an empty one stay distinct, exactly as on the wire.

#![allow(missing_docs, unreachable_pub, clippy::doc_markdown)]

/// Messages of the `common` protobuf package (`common.LongString`).
pub mod common {
    include!(concat!(env!("OUT_DIR"), "/common.rs"));
}

/// The `actionlog` protobuf package namespace.
pub mod actionlog {
    /// Messages of the `actionlog.v1` protobuf package.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/actionlog.v1.rs"));
    }
}

pub use self::actionlog::v1;

pub use common::LongString;
pub use v1::UserAction;

/// Fully-qualified protobuf name of [`UserAction`], as used in Kafka headers and schema
/// registries.
pub const USER_ACTION_FULL_NAME: &str = "actionlog.v1.UserAction";

impl LongString {
    /// Wraps a string.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
        }
    }
}

impl From<String> for LongString {
    fn from(value: String) -> Self {
        Self { value }
    }
}

impl From<&str> for LongString {
    fn from(value: &str) -> Self {
        Self {
            value: value.to_owned(),
        }
    }
}
