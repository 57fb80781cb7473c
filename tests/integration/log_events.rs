//! Actions as OpenTelemetry log events in process: `set_logger_provider` makes
//! `#[action_log]` emit log events, `UserActionLogExporter` converts them back, and plain
//! `tracing` events through `opentelemetry-appender-tracing` are actions too.

use std::sync::{Arc, Mutex};

use actionlog::action_log;
use actionlog::proto::UserAction;
use actionlog::{UserActionExporter, UserActionLogExporter};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::support::{Collect, global_lock, only};

#[action_log(user = "ada@example.com")]
fn view_table(table_key: &str, index: i64) -> Result<Vec<String>, std::io::Error> {
    if table_key.is_empty() {
        return Err(std::io::Error::other("no table key"));
    }
    Ok(vec![format!("{table_key}#{index}")])
}

#[action_log(user = "ada@example.com")]
fn _log_login(user: &str, password: &str) -> bool {
    !user.is_empty() && !password.is_empty()
}

fn log_pipeline(sink: Arc<Collect>) -> SdkLoggerProvider {
    let exporter: UserActionLogExporter = UserActionExporter::builder()
        .with_sink(sink)
        .build_log_exporter()
        .unwrap();
    SdkLoggerProvider::builder()
        .with_batch_exporter(exporter)
        .build()
}

fn span_pipeline(sink: Arc<Collect>) -> SdkTracerProvider {
    let exporter = UserActionExporter::builder()
        .with_sink(sink)
        .build()
        .unwrap();
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build()
}

fn sorted(sink: &Collect) -> Vec<UserAction> {
    let mut v = sink.0.lock().unwrap().clone();
    v.sort_by(|a, b| a.span_id.cmp(&b.span_id));
    v
}

#[test]
fn with_both_providers_each_action_is_a_span_and_an_event_that_convert_to_the_same_action() {
    let _lock = global_lock();
    let (spans, events) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let tracer = span_pipeline(spans.clone());
    let logger = log_pipeline(events.clone());
    actionlog::set_tracer_provider(&tracer);
    actionlog::set_logger_provider(&logger);
    view_table("hive://gold.core/rides", 3).unwrap();
    view_table("", 0).unwrap_err();
    _log_login("ada", "hunter2");
    let mut plain = actionlog::ActionLog::new("raw")
        .user("u")
        .keyword_args_json("{not json")
        .start();
    plain.output_json("{\"ok\": tru");
    plain.finish();
    tracer.shutdown().unwrap();
    logger.shutdown().unwrap();
    actionlog::reset_logger_provider();
    actionlog::reset_tracer_provider();

    let (from_spans, from_events) = (sorted(&spans), sorted(&events));
    assert_eq!(from_spans.len(), 4);
    assert_eq!(from_events, from_spans);
    let failed = from_events
        .iter()
        .find(|a| a.error.is_some())
        .expect("the failed call");
    assert_eq!(
        failed.error.as_ref().unwrap().value,
        "std::io::error::Error: no table key"
    );
    let login = only(&from_events, "_log_login");
    assert!(
        login
            .keyword_args_json
            .as_ref()
            .unwrap()
            .value
            .contains("[REDACTED]"),
        "{login:?}"
    );
    assert!(
        from_events
            .iter()
            .all(|a| a.end_epoch_ms >= a.start_epoch_ms)
    );
}

#[test]
fn with_a_logger_only_the_event_is_in_the_callers_trace_and_no_span_is_made() {
    let _lock = global_lock();
    let events = Arc::new(Collect::default());
    let logger = log_pipeline(events.clone());
    actionlog::set_logger_provider(&logger);
    let app = SdkTracerProvider::builder().build();
    let request = app.tracer("app").start("GET /table");
    let (trace_id, span_id) = (
        request.span_context().trace_id().to_string(),
        request.span_context().span_id().to_string(),
    );
    let cx = opentelemetry::Context::current_with_span(request);
    {
        let _guard = cx.clone().attach();
        view_table("hive://gold.core/rides", 1).unwrap();
    }
    // Outside any span: no ids at all.
    view_table("hive://gold.core/trips", 2).unwrap();
    logger.shutdown().unwrap();
    actionlog::reset_logger_provider();
    cx.span().end();

    let got = events.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    let inside = got
        .iter()
        .find(|a| {
            a.keyword_args_json
                .as_ref()
                .unwrap()
                .value
                .contains("rides")
        })
        .unwrap();
    assert_eq!(inside.trace_id.as_deref(), Some(trace_id.as_str()));
    assert_eq!(inside.span_id.as_deref(), Some(span_id.as_str()));
    let outside = got
        .iter()
        .find(|a| a.trace_id.is_none())
        .expect("no ids outside a span");
    assert_eq!(outside.user.as_deref(), Some("ada@example.com"));
    assert!(outside.start_epoch_ms.is_some() && outside.end_epoch_ms >= outside.start_epoch_ms);
}

/// An inner exporter that counts what it is handed.
#[derive(Debug, Clone, Default)]
struct CountRecords(Arc<Mutex<Vec<String>>>);

impl LogExporter for CountRecords {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let mut seen = self.0.lock().unwrap();
        for (r, _) in batch.iter() {
            seen.push(format!("{:?}", r.body()));
        }
        Ok(())
    }
}

#[test]
fn plain_tracing_events_named_as_the_convention_says_are_actions_and_others_go_to_the_inner_exporter()
 {
    use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
    use tracing_subscriber::layer::SubscriberExt;

    let sink = Arc::new(Collect::default());
    let inner = CountRecords::default();
    let exporter = UserActionExporter::builder()
        .with_sink(sink.clone())
        .with_inner(inner.clone())
        .build_log_exporter()
        .unwrap();
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let subscriber =
        tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider));
    tracing::subscriber::with_default(subscriber, || {
        tracing::event!(
            name: "actionlog.user_action",
            tracing::Level::INFO,
            action_log.command = "_get_table_metadata",
            enduser.id = "ada@example.com",
            action_log.keyword_args_json = r#"{"table_key":"hive://gold.core/rides"}"#,
        );
        tracing::event!(
            name: "actionlog.user_action",
            tracing::Level::ERROR,
            action_log.command = "_log_update_table_owner",
            enduser.id = "bob@example.com",
            "owner not found"
        );
        tracing::warn!(table = "rides", "cache miss");
    });
    provider.shutdown().unwrap();

    let got = sink.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    let ok = only(&got, "_get_table_metadata");
    assert_eq!(ok.user.as_deref(), Some("ada@example.com"));
    assert_eq!(
        ok.keyword_args_json.as_ref().unwrap().value,
        r#"{"table_key":"hive://gold.core/rides"}"#
    );
    assert!(ok.error.is_none());
    // appender-tracing sets no timestamp: the observed one is the start.
    assert!(ok.start_epoch_ms.unwrap() > 1_700_000_000_000);
    let failed = only(&got, "_log_update_table_owner");
    assert_eq!(failed.error.as_ref().unwrap().value, "owner not found");
    let others = inner.0.lock().unwrap();
    assert_eq!(others.len(), 1, "{others:?}");
    assert!(others[0].contains("cache miss"), "{others:?}");
}
