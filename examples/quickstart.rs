//! Quick start: a Rust service whose handlers are logged like Amundsen's `@action_logging`.
//!
//! Run with `cargo run --example quickstart`: each call prints one UserAction as a JSON line.

use std::sync::Arc;

use actionlog::sink::StdoutSink;
use actionlog::{UserActionExporter, action_log};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

#[derive(Debug, thiserror::Error)]
#[error("no table {0}")]
struct NotFound(String);

/// A search handler: every argument is recorded, the return value is the output.
#[action_log]
fn _search_resources(search_term: &str, page_index: u32) -> serde_json::Value {
    serde_json::json!({ "total_results": 2, "page_index": page_index, "term": search_term })
}

/// A table page view; `Err` is recorded as the action's error.
#[action_log(command = "_get_table_metadata")]
fn get_table(table_key: &str, index: i64, source: &str) -> Result<String, NotFound> {
    let _ = (index, source);
    if table_key.starts_with("hive://") {
        Ok(format!("metadata of {table_key}"))
    } else {
        Err(NotFound(table_key.to_owned()))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = UserActionExporter::builder()
        .with_sink(Arc::new(StdoutSink))
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("quickstart").build())
        .with_batch_exporter(exporter)
        .build();
    actionlog::set_tracer_provider(&provider);

    // A web framework middleware would set the authenticated user for the request.
    actionlog::user::with_user("ada@example.com", || {
        _search_resources("rides", 0);
        let _ = get_table("hive://gold.core/rides", 0, "search_results");
        let _ = get_table("mysql://nope", 1, "search_results");
    });

    provider.shutdown()?; // flushes the batch processor: every action is printed
    Ok(())
}
