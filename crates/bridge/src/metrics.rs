//! The bridge's own Prometheus metrics, served at `/metrics` (OpenMetrics text format).
//!
//! All updates go through [`Metrics`] methods, so the names and labels live in one place
//! (and in the table of `docs/bridge.md`).

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A single `label=value` pair.
type Label = [(&'static str, &'static str); 1];
/// Two labels.
type Labels2 = [(&'static str, &'static str); 2];

/// The OTLP signal a request carried: the receivers take traces and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `ExportTraceServiceRequest`: spans.
    Traces,
    /// `ExportLogsServiceRequest`: log records.
    Logs,
}

impl Signal {
    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }

    /// What one item of the signal is called in messages.
    pub fn items(self) -> &'static str {
        match self {
            Signal::Traces => "span(s)",
            Signal::Logs => "log record(s)",
        }
    }
}

/// The bridge's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    spans_received: Family<Label, Counter>,
    log_records_received: Family<Label, Counter>,
    actions_converted: Family<Label, Counter>,
    spans_rejected: Family<Label, Counter>,
    log_records_rejected: Family<Label, Counter>,
    convert_warnings: Family<Label, Counter>,
    non_action_spans: Family<Label, Counter>,
    non_action_log_records: Family<Label, Counter>,
    requests_rejected: Family<Labels2, Counter>,
    requests_unauthenticated: Family<Label, Counter>,
    sink_write_seconds: Histogram,
    sink_errors: Family<Label, Counter>,
    queue_depth: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric (the `actionlog_` prefix is added here).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("actionlog");
        let spans_received = Family::<Label, Counter>::default();
        registry.register(
            "spans_received",
            "Spans received over OTLP, by transport (grpc, http)",
            spans_received.clone(),
        );
        let log_records_received = Family::<Label, Counter>::default();
        registry.register(
            "log_records_received",
            "Log records received over OTLP, by transport (grpc, http)",
            log_records_received.clone(),
        );
        let actions_converted = Family::<Label, Counter>::default();
        registry.register(
            "actions_converted",
            "Action spans and action log events converted to UserActions and accepted by the sinks, by signal (traces, logs)",
            actions_converted.clone(),
        );
        let spans_rejected = Family::<Label, Counter>::default();
        registry.register(
            "spans_rejected",
            "Spans rejected (reported in partial_success), by reason",
            spans_rejected.clone(),
        );
        let log_records_rejected = Family::<Label, Counter>::default();
        registry.register(
            "log_records_rejected",
            "Log records rejected (reported in partial_success), by reason",
            log_records_rejected.clone(),
        );
        let convert_warnings = Family::<Label, Counter>::default();
        registry.register(
            "convert_warnings",
            "Conversion fallbacks applied to action spans and events, by reason",
            convert_warnings.clone(),
        );
        let non_action_spans = Family::<Label, Counter>::default();
        registry.register(
            "non_action_spans",
            "Spans without action_log.command, by outcome (dropped, forwarded, forward_failed)",
            non_action_spans.clone(),
        );
        let non_action_log_records = Family::<Label, Counter>::default();
        registry.register(
            "non_action_log_records",
            "Log records not named actionlog.user_action, by outcome (dropped, forwarded, forward_failed)",
            non_action_log_records.clone(),
        );
        let requests_rejected = Family::<Labels2, Counter>::default();
        registry.register(
            "requests_rejected",
            "Export requests refused as a whole, by transport and reason",
            requests_rejected.clone(),
        );
        let requests_unauthenticated = Family::<Label, Counter>::default();
        registry.register(
            "requests_unauthenticated",
            "Export requests refused for a missing or wrong bearer token, by protocol",
            requests_unauthenticated.clone(),
        );
        let sink_write_seconds = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "sink_write_seconds",
            "Time the sinks took to accept a batch",
            sink_write_seconds.clone(),
        );
        let sink_errors = Family::<Label, Counter>::default();
        registry.register(
            "sink_errors",
            "Failed sink writes, by kind (retryable, rejected, timeout)",
            sink_errors.clone(),
        );
        let queue_depth = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "queue_depth",
            "Export requests in flight (received, waiting for the sinks)",
            queue_depth.clone(),
        );
        Self {
            registry,
            spans_received,
            log_records_received,
            actions_converted,
            spans_rejected,
            log_records_rejected,
            convert_warnings,
            non_action_spans,
            non_action_log_records,
            requests_rejected,
            requests_unauthenticated,
            sink_write_seconds,
            sink_errors,
            queue_depth,
        }
    }

    /// `n` spans or log records arrived over `transport`.
    pub fn received(&self, signal: Signal, transport: &'static str, n: u64) {
        let family = match signal {
            Signal::Traces => &self.spans_received,
            Signal::Logs => &self.log_records_received,
        };
        family.get_or_create(&[("transport", transport)]).inc_by(n);
    }
    /// `n` actions of `signal` were accepted by the sinks.
    pub fn actions_converted(&self, signal: Signal, n: u64) {
        self.actions_converted
            .get_or_create(&[("signal", signal.label())])
            .inc_by(n);
    }
    /// `n` spans or log records were rejected for `reason`.
    pub fn rejected(&self, signal: Signal, reason: &'static str, n: u64) {
        let family = match signal {
            Signal::Traces => &self.spans_rejected,
            Signal::Logs => &self.log_records_rejected,
        };
        family.get_or_create(&[("reason", reason)]).inc_by(n);
    }
    /// A conversion fallback was applied.
    pub fn convert_warning(&self, reason: &'static str) {
        self.convert_warnings
            .get_or_create(&[("reason", reason)])
            .inc();
    }
    /// `n` spans or log records that are not action logs had `outcome`.
    pub fn non_action(&self, signal: Signal, outcome: &'static str, n: u64) {
        if n > 0 {
            let family = match signal {
                Signal::Traces => &self.non_action_spans,
                Signal::Logs => &self.non_action_log_records,
            };
            family.get_or_create(&[("outcome", outcome)]).inc_by(n);
        }
    }
    /// A whole request was refused.
    pub fn request_rejected(&self, transport: &'static str, reason: &'static str) {
        self.requests_rejected
            .get_or_create(&[("transport", transport), ("reason", reason)])
            .inc();
    }
    /// A request without the right bearer token was refused.
    pub fn unauthenticated(&self, protocol: &'static str) {
        self.requests_unauthenticated
            .get_or_create(&[("protocol", protocol)])
            .inc();
    }
    /// A sink write took `d`.
    pub fn sink_write(&self, d: Duration) {
        self.sink_write_seconds.observe(d.as_secs_f64());
    }
    /// A sink write failed.
    pub fn sink_error(&self, kind: &'static str) {
        self.sink_errors.get_or_create(&[("kind", kind)]).inc();
    }
    /// The in-flight request gauge.
    pub fn queue_depth(&self) -> &Gauge<i64, AtomicI64> {
        &self.queue_depth
    }

    /// The registry, for components that bring metrics of their own (the durable spool).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}
