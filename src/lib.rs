//! # actionlog
//!
//! Amundsen-style user action logging on OpenTelemetry. A call to a handler becomes an OTel
//! span whose attributes mirror Lyft's `UserAction` record; [`UserActionExporter`] turns
//! those spans back into `UserAction` protobuf and hands them to a [`sink::Sink`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use actionlog::{action_log, UserActionExporter, sink::StdoutSink};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! #[action_log]
//! fn _get_table_metadata(table_key: &str, index: i64, source: &str) -> Result<String, std::io::Error> {
//!     Ok(format!("metadata of {table_key}"))
//! }
//!
//! let exporter = UserActionExporter::builder().with_sink(Arc::new(StdoutSink)).build()?;
//! let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
//! actionlog::set_tracer_provider(&provider);
//! _get_table_metadata("hive://gold.core/rides", 0, "search_results")?;
//! provider.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules, one concern each: [`proto`] (the wire format), [`convention`] (attribute keys),
//! [`convert`] (span ⇄ `UserAction`, shared by every path), [`action`] and
//! [`macro@action_log`] (emitting), [`user`] and [`hooks`] (who, and plugins),
//! [`exporter`], [`sink`], [`codec`] (length-delimited files) and [`json`] (the JSON view).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

extern crate self as actionlog;

pub mod action;
pub mod codec;
pub mod convention;
pub mod convert;
pub mod exporter;
pub mod hooks;
pub mod json;
pub mod proto;
pub mod pseudonym;
pub mod redact;
mod runtime;
pub mod sink;
pub mod user;

pub use action::{
    ActionLog, ActionSpan, reset_logger_provider, reset_tracer_provider, set_logger_provider,
    set_tracer_provider,
};
pub use actionlog_macros::action_log;
pub use exporter::{UserActionExporter, UserActionLogExporter};
pub use proto::UserAction;

/// Support for the code `#[action_log]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::action::{ActionLog, ActionSpan};
    pub use futures::FutureExt as CatchUnwindExt;
    pub use opentelemetry::context::FutureExt as OtelFutureExt;

    /// Values accepted by `#[action_log(user = ...)]`.
    pub trait IntoUser {
        /// The user, if any.
        fn into_user(self) -> Option<String>;
    }
    impl IntoUser for String {
        fn into_user(self) -> Option<String> {
            Some(self)
        }
    }
    impl IntoUser for &String {
        fn into_user(self) -> Option<String> {
            Some(self.clone())
        }
    }
    impl IntoUser for &str {
        fn into_user(self) -> Option<String> {
            Some(self.to_owned())
        }
    }
    impl<T: IntoUser> IntoUser for Option<T> {
        fn into_user(self) -> Option<String> {
            self.and_then(IntoUser::into_user)
        }
    }

    /// Every argument `#[action_log]` records must be `serde::Serialize`: this bound makes
    /// the compiler point at the offending argument. Skip it with `skip(name)`.
    #[inline(always)]
    pub fn recorded<T: serde::Serialize + ?Sized>(value: &T) -> &T {
        value
    }
}

/// The README's Rust examples are compiled as doc tests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
