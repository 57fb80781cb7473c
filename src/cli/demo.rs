//! `actionlog demo`: the embedded demo of the core path, with no infrastructure.
//!
//! Amundsen-like handlers decorated with `#[action_log]` are called for a few users; the
//! SDK's batch processor hands the spans to `UserActionExporter`, which writes UserAction
//! protobuf to a file; the file is then decoded and printed as JSON lines with a summary.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::CliResult;
use crate::codec::LengthDelimitedReader;
use crate::json::to_json_line;
use crate::sink::{FileFormat, FileSink};
use crate::{UserActionExporter, action_log, user};

/// Arguments of `actionlog demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to write the length-delimited UserAction file (replaced if present).
    #[arg(long, default_value = "actionlog-demo/actions.pb")]
    out: PathBuf,
    /// How many simulated users.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// How many handler calls per user.
    #[arg(long, default_value_t = 6)]
    calls: usize,
    /// Print every decoded action, not just the summary.
    #[arg(long)]
    print: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("table {0} not found")]
struct NotFound(String);

#[action_log]
fn _search_resources(
    search_term: &str,
    page_index: u32,
    results_per_page: u32,
) -> serde_json::Value {
    serde_json::json!({ "total_results": search_term.len() * 7, "page_index": page_index, "results_per_page": results_per_page })
}

#[action_log]
fn _get_table_metadata(
    table_key: &str,
    index: i64,
    source: &str,
) -> Result<serde_json::Value, NotFound> {
    if table_key.ends_with("missing") {
        return Err(NotFound(table_key.to_owned()));
    }
    Ok(serde_json::json!({ "table_key": table_key, "source": source, "index": index }))
}

#[action_log(skip_output)]
fn _log_update_table_tags(table_key: &str, method: &str, tag: &str) {
    let _ = (table_key, method, tag);
}

pub(crate) fn run(args: Args) -> CliResult {
    if args.out.exists() {
        std::fs::remove_file(&args.out)?;
    }
    let sink = Arc::new(FileSink::open(&args.out, FileFormat::Protobuf)?);
    let exporter = UserActionExporter::builder().with_sink(sink).build()?;
    let stats = exporter.stats();
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("actionlog-demo")
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    crate::set_tracer_provider(&provider);

    let terms = ["rides", "driver payments", "eta", "surge pricing"];
    let tables = [
        "hive://gold.core/rides",
        "hive://gold.core/drivers",
        "hive://gold.finance/payments",
        "hive://gold.core/missing",
    ];
    for u in 0..args.users {
        user::with_user(format!("user{u}@example.com"), || {
            for c in 0..args.calls {
                match (u + c) % 3 {
                    0 => {
                        _search_resources(terms[(u + c) % terms.len()], 0, 10);
                    }
                    1 => {
                        let _ = _get_table_metadata(
                            tables[(u * 3 + c) % tables.len()],
                            (c % 5) as i64,
                            "search_results",
                        );
                    }
                    _ => _log_update_table_tags(tables[c % 3], "PUT", "pii"),
                }
            }
        });
    }
    provider.shutdown()?;
    crate::reset_tracer_provider();

    let mut per_command: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut n = 0u64;
    for record in LengthDelimitedReader::new(File::open(&args.out)?) {
        let a = record?;
        if args.print {
            println!("{}", to_json_line(&a));
        }
        let e = per_command
            .entry(a.command.clone().unwrap_or_default())
            .or_default();
        e.0 += 1;
        e.1 += u64::from(a.error.is_some());
        n += 1;
    }
    println!(
        "wrote and decoded {n} UserAction(s) in {}",
        args.out.display()
    );
    println!("{:<28} {:>7} {:>7}", "command", "actions", "errors");
    for (cmd, (count, errors)) in &per_command {
        println!("{cmd:<28} {count:>7} {errors:>7}");
    }
    let exported = stats.exported.load(std::sync::atomic::Ordering::Relaxed);
    if exported != n {
        return Err(format!(
            "exporter reported {exported} exported actions but the file holds {n}"
        )
        .into());
    }
    println!(
        "decode it yourself: actionlog decode {}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
