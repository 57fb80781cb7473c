// The README quick start written against the SDK and its stdout exporter directly: the same
// span (name, attributes, status), the same batch processor, printed by the exporter.
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Status, Tracer, TracerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;

#[derive(Debug, thiserror::Error)]
#[error("no table {0}")]
struct NotFound(String);

fn _get_table_metadata(table_key: &str, _index: i64, _source: &str) -> Result<String, NotFound> {
    Ok(format!("metadata of {table_key}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    let tracer = provider.tracer("quickstart");
    let mut span = tracer.start("_get_table_metadata");
    let out = _get_table_metadata("hive://gold.core/rides", 0, "search_results");
    span.set_attributes([
        KeyValue::new("action_log.command", "_get_table_metadata"),
        KeyValue::new("enduser.id", "ada@example.com"),
        KeyValue::new(
            "action_log.keyword_args_json",
            r#"{"table_key":"hive://gold.core/rides","index":0,"source":"search_results"}"#,
        ),
    ]);
    match &out {
        Ok(o) => span.set_attribute(KeyValue::new("action_log.output", format!("{o:?}"))),
        Err(e) => span.set_status(Status::error(e.to_string())),
    }
    span.end();
    provider.shutdown()?;
    Ok(())
}
