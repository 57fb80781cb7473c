//! Spans from an existing `tracing` setup convert too: `#[tracing::instrument]` with the
//! convention's fields, through `tracing-opentelemetry`, into the same exporter.

use crate::support::Collect;
use std::sync::Arc;

use actionlog::UserActionExporter;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

#[tracing::instrument(
    name = "_search_resources",
    skip_all,
    fields(
        action_log.command = "_search_resources",
        enduser.id = %user,
        action_log.keyword_args_json = %serde_json::json!({"search_term": term, "page_index": 0}),
    )
)]
fn search(user: &str, term: &str) -> usize {
    tracing::info!("searching");
    term.len()
}

#[tracing::instrument(
    name = "_log_update_table_owner",
    skip_all,
    err,
    fields(action_log.command = "_log_update_table_owner", enduser.id = %user)
)]
fn update_owner(user: &str) -> Result<(), String> {
    Err(format!("{user} may not change owners"))
}

#[tracing::instrument]
fn not_an_action() {}

#[test]
fn instrumented_functions_become_user_actions() {
    let sink = Arc::new(Collect::default());
    let exporter = UserActionExporter::builder()
        .with_sink(sink.clone())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tracing-app")));
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(search("ada@example.com", "rides"), 5);
        assert!(update_owner("bob@example.com").is_err());
        not_an_action();
    });
    provider.shutdown().unwrap();

    let actions = sink.0.lock().unwrap();
    assert_eq!(actions.len(), 2, "{actions:#?}");
    let s = &actions[0];
    assert_eq!(s.command.as_deref(), Some("_search_resources"));
    assert_eq!(s.user.as_deref(), Some("ada@example.com"));
    let kw: serde_json::Value =
        serde_json::from_str(&s.keyword_args_json.as_ref().unwrap().value).unwrap();
    assert_eq!(
        kw,
        serde_json::json!({"search_term": "rides", "page_index": 0})
    );
    assert!(s.error.is_none());
    assert!(s.start_epoch_ms.unwrap() <= s.end_epoch_ms.unwrap());

    let e = &actions[1];
    assert_eq!(e.command.as_deref(), Some("_log_update_table_owner"));
    assert_eq!(e.user.as_deref(), Some("bob@example.com"));
    let err = &e.error.as_ref().expect("err spans carry an error").value;
    assert!(
        err.contains("bob@example.com may not change owners"),
        "{err}"
    );
}
