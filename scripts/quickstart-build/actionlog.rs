// The README quick start as a tiny external crate on the core crate (scripts/quickstart-build.sh).
use std::sync::Arc;
use actionlog::{action_log, sink::StdoutSink, UserActionExporter};
use opentelemetry_sdk::trace::SdkTracerProvider;

#[derive(Debug, thiserror::Error)]
#[error("no table {0}")]
struct NotFound(String);

#[action_log]                       // command = "_get_table_metadata"
fn _get_table_metadata(table_key: &str, index: i64, source: &str) -> Result<String, NotFound> {
    Ok(format!("metadata of {table_key}"))   // Ok → output, Err → error
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = UserActionExporter::builder().with_sink(Arc::new(StdoutSink)).build()?;
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
    actionlog::set_tracer_provider(&provider);

    actionlog::user::with_user("ada@example.com", || {
        _get_table_metadata("hive://gold.core/rides", 0, "search_results")
    })?;
    provider.shutdown()?;   // flush: prints the action as a JSON line
    Ok(())
}
