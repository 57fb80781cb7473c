//! `UserActionExporter`: an OpenTelemetry span exporter that turns action-log spans into
//! `UserAction`s and hands them to a [`Sink`]; [`UserActionLogExporter`] does the same for
//! action log events (built by the same builder, [`UserActionExporterBuilder::build_log_exporter`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use actionlog::{UserActionExporter, sink::{FileSink, FileFormat}};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! let sink = Arc::new(FileSink::open("actions.pb", FileFormat::Protobuf)?);
//! let exporter = UserActionExporter::builder().with_sink(sink).build()?;
//! let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
//! actionlog::set_tracer_provider(&provider);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Spans that are not action logs go to an optional inner exporter (for instance
//! opentelemetry-otlp's), so an existing tracing pipeline keeps working behind it; without
//! one they are dropped. The exporter enforces its own timeout on every sink call, because
//! the SDK's batch processor never cancels a hung export.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::Value;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::convention as key;
use crate::convert::{
    ConvertError, ConvertOptions, ConvertWarning, SpanView, convert, convert_encoded,
};
use crate::proto::UserAction;
use crate::runtime;
use crate::sink::{EncodedBatch, Sink, SinkError};

/// Default time allowed for one sink call.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

mod logs;

pub use logs::UserActionLogExporter;

/// The inner exporter used when none is configured: drops non-action spans (or, behind
/// the log exporter, non-action log records).
#[derive(Debug, Default, Clone, Copy)]
pub struct DropNonActions;

impl SpanExporter for DropNonActions {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

impl opentelemetry_sdk::logs::LogExporter for DropNonActions {
    async fn export(&self, _batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        Ok(())
    }
}

/// Counters describing what an exporter has done, shared with whoever asked for them.
#[derive(Debug, Default)]
pub struct ExporterStats {
    /// Action spans (or events) converted and accepted by the sink.
    pub exported: AtomicU64,
    /// Action spans (or events) converted but refused by the sink (or timed out).
    pub failed: AtomicU64,
    /// Action spans (or events) that could not be converted (see `ConvertError`).
    pub rejected: AtomicU64,
    /// Conversion fallbacks applied (see `ConvertWarning`).
    pub warnings: AtomicU64,
    /// Non-action spans (or log records) passed to the inner exporter.
    pub forwarded: AtomicU64,
}

/// Builds a [`UserActionExporter`] (spans) or a [`UserActionLogExporter`] (log events).
#[derive(Debug)]
pub struct UserActionExporterBuilder<I = DropNonActions> {
    sink: Option<Arc<dyn Sink>>,
    inner: I,
    options: ConvertOptions,
    timeout: Duration,
}

/// Why a [`UserActionExporter`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No sink was configured.
    #[error("UserActionExporter needs a sink: call with_sink")]
    NoSink,
}

impl<I> UserActionExporterBuilder<I> {
    /// Where converted actions go (required).
    pub fn with_sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Passes non-action spans to `inner` (for example an OTLP span exporter); for the log
    /// exporter, non-action log records (an OTLP log exporter).
    pub fn with_inner<J>(self, inner: J) -> UserActionExporterBuilder<J> {
        UserActionExporterBuilder {
            sink: self.sink,
            inner,
            options: self.options,
            timeout: self.timeout,
        }
    }

    /// Conversion settings (field size cap, JSON validation).
    pub fn with_convert_options(mut self, options: ConvertOptions) -> Self {
        self.options = options;
        self
    }

    /// Time allowed for one sink call before the export fails with `Timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn into_parts(self) -> Result<(Core, I), BuildError> {
        let core = Core {
            sink: self.sink.ok_or(BuildError::NoSink)?,
            options: self.options,
            timeout: self.timeout,
            resource_host: None,
            is_shutdown: AtomicBool::new(false),
            stats: Arc::new(ExporterStats::default()),
        };
        Ok((core, self.inner))
    }
}

impl<I: SpanExporter> UserActionExporterBuilder<I> {
    /// Builds the span exporter.
    pub fn build(self) -> Result<UserActionExporter<I>, BuildError> {
        let (core, inner) = self.into_parts()?;
        Ok(UserActionExporter { core, inner })
    }
}

impl<I: opentelemetry_sdk::logs::LogExporter> UserActionExporterBuilder<I> {
    /// Builds the log exporter: action events (log records named
    /// [`EVENT_NAME`](crate::convention::EVENT_NAME)) become `UserAction`s by the same
    /// conversion as spans.
    pub fn build_log_exporter(self) -> Result<UserActionLogExporter<I>, BuildError> {
        let (core, inner) = self.into_parts()?;
        Ok(UserActionLogExporter { core, inner })
    }
}

/// The span exporter: action spans → `UserAction` → sink; other spans → inner exporter.
pub struct UserActionExporter<I = DropNonActions> {
    core: Core,
    inner: I,
}

/// What both exporters share: the sink and the calls to it, conversion settings, counters.
struct Core {
    sink: Arc<dyn Sink>,
    options: ConvertOptions,
    timeout: Duration,
    resource_host: Option<String>,
    is_shutdown: AtomicBool,
    stats: Arc<ExporterStats>,
}

impl<I> fmt::Debug for UserActionExporter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserActionExporter")
    }
}

impl UserActionExporter {
    /// Starts building an exporter.
    pub fn builder() -> UserActionExporterBuilder {
        UserActionExporterBuilder {
            sink: None,
            inner: DropNonActions,
            options: ConvertOptions::default(),
            timeout: DEFAULT_EXPORT_TIMEOUT,
        }
    }
}

impl<I> UserActionExporter<I> {
    /// The exporter's counters.
    pub fn stats(&self) -> Arc<ExporterStats> {
        self.core.stats.clone()
    }
}

impl Core {
    /// Runs `f(sink)` on the sink runtime, bounded by `timeout`.
    fn on_sink_runtime<F, Fut>(
        &self,
        timeout: Duration,
        f: F,
    ) -> impl Future<Output = Result<(), SinkError>> + Send + 'static
    where
        F: FnOnce(Arc<dyn Sink>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), SinkError>> + Send + 'static,
    {
        let sink = self.sink.clone();
        let name = sink.name().to_owned();
        let task = runtime::handle().spawn(async move {
            match tokio::time::timeout(timeout, f(sink)).await {
                Ok(r) => r,
                Err(_) => Err(SinkError::TimedOut {
                    sink: name,
                    after: timeout,
                }),
            }
        });
        async move {
            task.await.unwrap_or_else(|join| {
                Err(SinkError::Unavailable {
                    sink: "sink".into(),
                    message: format!("sink task failed: {join}"),
                })
            })
        }
    }

    async fn write_actions(&self, actions: Vec<UserAction>) -> OTelSdkResult {
        let n = actions.len() as u64;
        let result = self
            .on_sink_runtime(self.timeout, move |sink| async move {
                sink.write(&actions).await
            })
            .await;
        self.count_written(n, result)
    }

    async fn write_encoded(&self, batch: EncodedBatch) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self
            .on_sink_runtime(self.timeout, move |sink| async move {
                sink.write_encoded(&batch).await
            })
            .await;
        self.count_written(n, result)
    }

    fn count_written(&self, n: u64, result: Result<(), SinkError>) -> OTelSdkResult {
        match result {
            Ok(()) => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.failed.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(actions = n, error = %e, "action export failed");
                if let SinkError::TimedOut { after, .. } = e {
                    Err(OTelSdkError::Timeout(after))
                } else {
                    Err(OTelSdkError::InternalFailure(e.to_string()))
                }
            }
        }
    }

    /// Counts (and logs) one span's or event's conversion outcome.
    fn tally(&self, name: &str, converted: Result<Option<Vec<ConvertWarning>>, ConvertError>) {
        match converted {
            Ok(Some(warnings)) => {
                if !warnings.is_empty() {
                    self.stats
                        .warnings
                        .fetch_add(warnings.len() as u64, Ordering::Relaxed);
                    tracing::debug!(span = %name, ?warnings, "action span converted with fallbacks");
                }
            }
            Ok(None) => {}
            Err(e) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(span = %name, error = %e, "action span rejected");
            }
        }
    }

    fn blocking_sink_call<F, Fut>(&self, timeout: Duration, f: F) -> OTelSdkResult
    where
        F: FnOnce(Arc<dyn Sink>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), SinkError>> + Send + 'static,
    {
        futures::executor::block_on(self.on_sink_runtime(timeout, f))
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    /// Writes what a batch converted to: bytes when the sink takes them, else actions.
    async fn write(&self, actions: Vec<UserAction>, bytes: EncodedBatch) -> OTelSdkResult {
        if !bytes.is_empty() {
            self.write_encoded(bytes).await
        } else if !actions.is_empty() {
            self.write_actions(actions).await
        } else {
            Ok(())
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.blocking_sink_call(self.timeout, |s| async move { s.flush().await })
    }

    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        if self.is_shutdown.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        // The sink gets the deadline; the extra second lets its own report arrive.
        self.blocking_sink_call(timeout + Duration::from_secs(1), move |s| async move {
            s.shutdown(timeout).await
        })
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource_host =
            match resource.get(&opentelemetry::Key::from_static_str(key::HOST_NAME)) {
                Some(Value::String(s)) => Some(s.to_string()),
                _ => None,
            };
    }
}

impl<I: SpanExporter> SpanExporter for UserActionExporter<I> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let core = &self.core;
        if core.is_shutdown.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        // A sink that takes bytes gets them encoded straight from the spans' attributes,
        // without an owned UserAction in between.
        let encoded = core.sink.takes_encoded();
        let host = core.resource_host.as_deref();
        let mut actions = Vec::with_capacity(if encoded { 0 } else { batch.len() });
        let mut bytes = EncodedBatch::with_capacity(if encoded { batch.len() * 256 } else { 0 });
        // Conversion reads the borrowed spans, and the batch is freed in one go afterwards.
        // Freed span by span, its memory went back to the calling thread's allocator pages
        // for the whole length of the batch, while that thread was allocating from them:
        // the calling thread paid for it in cache misses (fig 1 of docs/benchmarks.md). An
        // owned UserAction therefore copies its strings here, on the exporter's thread,
        // rather than taking them from the spans.
        // Conversion answers `Ok(None)` for a span that is not an action, so the spans are
        // scanned for the command attribute once, by the conversion, and a batch with no
        // other spans is not scanned again to find them.
        let mut not_actions = 0usize;
        for span in &batch {
            let converted = if encoded {
                convert_encoded(span, host, &core.options, bytes.buffer())
                    .map(|w| w.inspect(|_| bytes.added()))
            } else {
                convert(span, host, &core.options).map(|c| {
                    c.map(|c| {
                        actions.push(c.action);
                        c.warnings
                    })
                })
            };
            not_actions += usize::from(matches!(converted, Ok(None)));
            core.tally(&span.name, converted);
        }
        let others: Vec<SpanData> = if not_actions == 0 {
            drop(batch);
            Vec::new()
        } else {
            batch.into_iter().filter(|span| !span.is_action()).collect()
        };
        let sink_result = core.write(actions, bytes).await;
        let inner_result = if others.is_empty() {
            Ok(())
        } else {
            core.stats
                .forwarded
                .fetch_add(others.len() as u64, Ordering::Relaxed);
            self.inner.export(others).await
        };
        sink_result.and(inner_result)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.core.force_flush().and(self.inner.force_flush())
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
