//! The wire format: the `UserAction` protobuf message and its JSON view.
//!
//! The types are generated from `proto/` by prost-build and committed in `src/proto/generated/`,
//! so that a crate depending on actionlog does not compile a protobuf compiler: the test
//! `generated_code_matches_the_proto_files` regenerates them and fails on any difference
//! (`ACTIONLOG_REGENERATE=1 cargo test -p actionlog --lib generated_code` rewrites them). prost maps the
//! `google.protobuf` wrapper types to `Option<String>` / `Option<i64>`, so an absent field and
//! an empty one stay distinct, exactly as on the wire.

#![allow(missing_docs, unreachable_pub, clippy::doc_markdown)]

/// Messages of the `common` protobuf package (`common.LongString`).
pub mod common {
    include!("proto/generated/common.rs");
}

/// The `actionlog` protobuf package namespace.
pub mod actionlog {
    /// Messages of the `actionlog.v1` protobuf package.
    pub mod v1 {
        include!("proto/generated/actionlog.v1.rs");
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The committed code is what prost-build makes of `proto/` today.
    #[test]
    fn generated_code_matches_the_proto_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = tempfile::tempdir().unwrap();
        let descriptors =
            protox::compile(["actionlog/v1/user_action.proto"], [root.join("proto")]).unwrap();
        prost_build::Config::new()
            .out_dir(out.path())
            .compile_fds(descriptors)
            .unwrap();
        let committed = root.join("src/proto/generated");
        let regenerate = std::env::var_os("ACTIONLOG_REGENERATE").is_some();
        for name in ["actionlog.v1.rs", "common.rs"] {
            let fresh = std::fs::read_to_string(out.path().join(name)).unwrap();
            let path = committed.join(name);
            if regenerate {
                std::fs::write(&path, &fresh).unwrap();
                continue;
            }
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                old == fresh,
                "{} is out of date with proto/: run \
                 `ACTIONLOG_REGENERATE=1 cargo test -p actionlog --lib generated_code`",
                path.display()
            );
        }
        let generated: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(generated.len(), 2, "new generated files: {generated:?}");
    }
}
