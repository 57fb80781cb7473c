//! Plain `tracing` events are action logs too, as OpenTelemetry log events.
//!
//! A service that logs through `tracing` names the event as the convention says
//! (`name: "actionlog.user_action"`) and adds the convention's fields; the
//! `opentelemetry-appender-tracing` layer turns every event into an OTel log record, and
//! `UserActionLogExporter` converts the action events (other records go to an inner
//! exporter, or are dropped as here). An ERROR-level event is a failed action, its message
//! the error. `tracing`'s `info!`/`error!` shorthands cannot take both `name:` and dotted
//! field names, so the events are written with `event!`.
//!
//! Run with `cargo run --example tracing_log_events`.

use std::sync::Arc;

use actionlog::UserActionExporter;
use actionlog::sink::StdoutSink;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

fn search(user: &str, term: &str) -> usize {
    tracing::event!(
        name: "actionlog.user_action",
        Level::INFO,
        action_log.command = "_search_resources",
        enduser.id = user,
        action_log.keyword_args_json = %serde_json::json!({ "search_term": term, "page_index": 0 }),
    );
    // An ordinary log line: not an action.
    tracing::info!(term, "searching the catalog");
    term.len()
}

fn update_owner(user: &str, owner: &str) -> Result<(), String> {
    let err = format!("{user} cannot make {owner} an owner");
    tracing::event!(
        name: "actionlog.user_action",
        Level::ERROR,
        action_log.command = "_log_update_table_owner",
        enduser.id = user,
        "{err}"
    );
    Err(err)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = UserActionExporter::builder()
        .with_sink(Arc::new(StdoutSink))
        .build_log_exporter()?;
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let subscriber =
        tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider));
    tracing::subscriber::with_default(subscriber, || {
        search("ada@example.com", "rides");
        let _ = update_owner("bob@example.com", "carol@example.com");
    });
    provider.shutdown()?;
    Ok(())
}
