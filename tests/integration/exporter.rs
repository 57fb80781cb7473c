//! `UserActionExporter` on its own: routing of non-action spans, the resource, timeouts,
//! shutdown.

use crate::support::Collect;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actionlog::UserAction;
use actionlog::UserActionExporter;
use actionlog::convention as key;
use actionlog::sink::{NullSink, Sink, SinkError};
use async_trait::async_trait;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

/// An inner exporter that remembers what it was given.
#[derive(Debug, Default, Clone)]
struct Recorder {
    names: Arc<Mutex<Vec<String>>>,
    resource_service: Arc<Mutex<Option<String>>>,
}

impl SpanExporter for Recorder {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.names
            .lock()
            .unwrap()
            .extend(batch.into_iter().map(|s| s.name.to_string()));
        Ok(())
    }
    fn set_resource(&mut self, resource: &Resource) {
        *self.resource_service.lock().unwrap() = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string());
    }
}

/// A sink that never answers.
#[derive(Debug)]
struct Stuck;

#[async_trait]
impl Sink for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }
    async fn write(&self, _: &[UserAction]) -> Result<(), SinkError> {
        std::future::pending().await
    }
}

#[test]
fn non_action_spans_go_to_the_inner_exporter_and_the_resource_reaches_both() {
    let sink = Arc::new(Collect::default());
    let inner = Recorder::default();
    let exporter = UserActionExporter::builder()
        .with_sink(sink.clone())
        .with_inner(inner.clone())
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("svc")
                .with_attribute(KeyValue::new("host.name", "resource-host"))
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("t");
    tracer.in_span("GET /healthz", |_| {});
    let mut s = tracer.start("_log_get_user");
    s.set_attribute(KeyValue::new(key::COMMAND, "_log_get_user"));
    s.set_attribute(KeyValue::new(key::ENDUSER_ID, "ada@example.com"));
    s.end();
    tracer.in_span("db.query", |_| {});
    provider.shutdown().unwrap();

    assert_eq!(
        *inner.names.lock().unwrap(),
        vec!["GET /healthz", "db.query"]
    );
    assert_eq!(
        inner.resource_service.lock().unwrap().as_deref(),
        Some("svc")
    );
    let actions = sink.0.lock().unwrap();
    assert_eq!(actions.len(), 1);
    // No host.name on the span: the resource's is used.
    assert_eq!(actions[0].host_name.as_deref(), Some("resource-host"));
    assert_eq!(stats.exported.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(
        stats.forwarded.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

fn action_span_data() -> SpanData {
    // Build one real SpanData through an in-memory pipeline.
    #[derive(Debug, Clone, Default)]
    struct Grab(Arc<Mutex<Vec<SpanData>>>);
    impl SpanExporter for Grab {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }
    let grab = Grab::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(grab.clone())
        .build();
    let mut s = provider.tracer("t").start("c");
    s.set_attribute(KeyValue::new(key::COMMAND, "c"));
    s.end();
    provider.shutdown().unwrap();
    let mut v = grab.0.lock().unwrap();
    v.pop().unwrap()
}

#[test]
fn a_stuck_sink_times_out_instead_of_hanging_the_processor() {
    let exporter = UserActionExporter::builder()
        .with_sink(Arc::new(Stuck))
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let result = futures::executor::block_on(exporter.export(vec![action_span_data()]));
    assert!(
        matches!(result, Err(OTelSdkError::Timeout(d)) if d == Duration::from_millis(200)),
        "{result:?}"
    );
    assert_eq!(stats.failed.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn export_after_shutdown_is_refused() {
    let sink = Arc::new(NullSink::new());
    let exporter = UserActionExporter::builder()
        .with_sink(sink.clone())
        .build()
        .unwrap();
    futures::executor::block_on(exporter.export(vec![action_span_data()])).unwrap();
    exporter.shutdown().unwrap();
    let again = futures::executor::block_on(exporter.export(vec![action_span_data()]));
    assert!(
        matches!(again, Err(OTelSdkError::AlreadyShutdown)),
        "{again:?}"
    );
    assert_eq!(sink.count(), 1);
}

#[test]
fn building_without_a_sink_is_an_error() {
    let err = UserActionExporter::builder().build().unwrap_err();
    assert!(err.to_string().contains("with_sink"));
}

#[test]
fn a_foreign_tracer_named_actionlog_gets_its_secrets_redacted() {
    // Any tracer may be named `actionlog` (here a user's `provider.tracer("actionlog")`):
    // only the decorator's own spans, recognised by the token in their scope, are trusted
    // to carry JSON it already redacted. This one's `password` must not get through.
    let sink = Arc::new(Collect::default());
    let exporter = UserActionExporter::builder()
        .with_sink(sink.clone())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer(key::SCOPE_NAME);
    let mut span = tracer.start("login");
    span.set_attributes([
        KeyValue::new(key::COMMAND, "login"),
        KeyValue::new(key::ENDUSER_ID, "ada"),
        KeyValue::new(
            key::KEYWORD_ARGS_JSON,
            r#"{"user":"ada","password":"hunter2","token":"t0k"}"#,
        ),
    ]);
    span.end();
    provider.shutdown().unwrap();
    let got = sink.0.lock().unwrap();
    assert_eq!(got.len(), 1);
    let kwargs: serde_json::Value =
        serde_json::from_str(&got[0].keyword_args_json.as_ref().unwrap().value).unwrap();
    assert_eq!(
        kwargs,
        serde_json::json!({"user": "ada", "password": "[REDACTED]", "token": "[REDACTED]"})
    );
}
