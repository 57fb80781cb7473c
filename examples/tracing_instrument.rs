//! Spans from an existing `tracing` setup are action logs too.
//!
//! A service already instrumented with `#[tracing::instrument]` only adds the convention's
//! fields (`action_log.command`, `enduser.id`, `action_log.keyword_args_json`, ...); the
//! `tracing-opentelemetry` layer turns the spans into OTel spans and `UserActionExporter`
//! converts them. Spans without `action_log.command` are not action logs and are dropped
//! here (or passed to an inner exporter, see `UserActionExporterBuilder::with_inner`).
//!
//! Run with `cargo run --example tracing_instrument`.

use std::sync::Arc;

use actionlog::UserActionExporter;
use actionlog::sink::StdoutSink;
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

#[tracing::instrument(
    name = "_search_resources",
    skip_all,
    fields(
        action_log.command = "_search_resources",
        enduser.id = %user,
        action_log.keyword_args_json = %serde_json::json!({ "search_term": term, "page_index": 0 }),
    )
)]
fn search(user: &str, term: &str) -> usize {
    tracing::info!("searching the catalog");
    inner_lookup(term)
}

// An ordinary span: not an action log.
#[tracing::instrument]
fn inner_lookup(term: &str) -> usize {
    term.len()
}

#[tracing::instrument(
    name = "_log_update_table_owner",
    skip_all,
    err,
    fields(action_log.command = "_log_update_table_owner", enduser.id = %user)
)]
fn update_owner(user: &str, owner: &str) -> Result<(), String> {
    Err(format!("{user} cannot make {owner} an owner"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = UserActionExporter::builder()
        .with_sink(Arc::new(StdoutSink))
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("catalog")));
    tracing::subscriber::with_default(subscriber, || {
        search("ada@example.com", "rides");
        let _ = update_owner("bob@example.com", "carol@example.com");
    });
    provider.shutdown()?;
    Ok(())
}
