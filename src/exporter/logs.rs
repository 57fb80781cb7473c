//! [`UserActionLogExporter`]: the log-event counterpart of the span exporter. Action events
//! (log records named [`EVENT_NAME`](crate::convention::EVENT_NAME)) become `UserAction`s by
//! the same conversion as spans ([`SdkLogEvent`]) and go to the sink; other log records go to
//! the inner exporter.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actionlog::{UserActionExporter, sink::StdoutSink};
//! use opentelemetry_sdk::logs::SdkLoggerProvider;
//!
//! let exporter = UserActionExporter::builder()
//!     .with_sink(Arc::new(StdoutSink))
//!     .build_log_exporter()?;
//! let provider = SdkLoggerProvider::builder().with_batch_exporter(exporter).build();
//! actionlog::set_logger_provider(&provider);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};

use super::{Core, DropNonActions};
use crate::convert::{SdkLogEvent, SpanView, convert, convert_encoded};
use crate::sink::EncodedBatch;

/// The log exporter: action events → `UserAction` → sink; other log records → inner
/// exporter. Built with [`UserActionExporterBuilder::build_log_exporter`](super::UserActionExporterBuilder::build_log_exporter).
pub struct UserActionLogExporter<I = DropNonActions> {
    pub(super) core: Core,
    pub(super) inner: I,
}

impl<I> fmt::Debug for UserActionLogExporter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserActionLogExporter")
    }
}

impl<I> UserActionLogExporter<I> {
    /// The exporter's counters.
    pub fn stats(&self) -> std::sync::Arc<super::ExporterStats> {
        self.core.stats.clone()
    }
}

impl<I: LogExporter> LogExporter for UserActionLogExporter<I> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let core = &self.core;
        if core.is_shutdown.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let encoded = core.sink.takes_encoded();
        let host = core.resource_host.as_deref();
        let mut actions = Vec::new();
        let mut bytes = EncodedBatch::default();
        let mut others: Vec<(&SdkLogRecord, &InstrumentationScope)> = Vec::new();
        for (record, scope) in batch.iter() {
            let event = SdkLogEvent::new(record, scope);
            if !event.is_action() {
                others.push((record, scope));
                continue;
            }
            let converted = if encoded {
                convert_encoded(event, host, &core.options, bytes.buffer())
                    .map(|w| w.inspect(|_| bytes.added()))
            } else {
                convert(event, host, &core.options).map(|c| {
                    c.map(|c| {
                        actions.push(c.action);
                        c.warnings
                    })
                })
            };
            core.tally(crate::convention::EVENT_NAME, converted);
        }
        let sink_result = core.write(actions, bytes).await;
        let inner_result = if others.is_empty() {
            Ok(())
        } else {
            core.stats
                .forwarded
                .fetch_add(others.len() as u64, Ordering::Relaxed);
            self.inner.export(LogBatch::new(&others)).await
        };
        sink_result.and(inner_result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.core
            .shutdown(timeout)
            .and(self.inner.shutdown_with_timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.core.set_resource(resource);
        self.inner.set_resource(resource);
    }
}
