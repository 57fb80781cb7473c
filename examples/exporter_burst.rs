//! Memory of the in-process exporter under a burst: one thread logs `--actions` decorated
//! calls as fast as it can through the SDK's batch processor (its default settings: a queue
//! of 2,048 spans, batches of 512) and `UserActionExporter`, and the process's resident
//! memory is sampled as the burst goes. The queue bounds memory: once it is full, spans the
//! exporter cannot keep up with are dropped by the processor (and counted here), so the
//! resident size should stop growing after the first samples.
//!
//! ```sh
//! cargo run --release --example exporter_burst -- --actions 1000000
//! ```
//!
//! Sink: `--sink null` (default; the exporter's own memory) or `--sink file` (a temporary
//! protobuf file). The last line is JSON, for `benches/run.sh`.

use std::sync::Arc;
use std::time::Instant;

use actionlog::sink::{FileFormat, FileSink, NullSink, Sink};
use actionlog::{UserActionExporter, action_log};
use opentelemetry_sdk::trace::SdkTracerProvider;

#[action_log(user = "ada@example.com")]
fn _get_table_metadata(table_key: &str, index: i64, source: &str) -> u64 {
    (table_key.len() + source.len()) as u64 + index as u64
}

/// Resident set size in MiB, from /proc (Linux).
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let actions: u64 = arg(&args, "--actions", "1000000").parse()?;
    let dir = tempfile::tempdir()?;
    let null = Arc::new(NullSink::new());
    let sink: Arc<dyn Sink> = match arg(&args, "--sink", "null").as_str() {
        "file" => Arc::new(FileSink::open(
            dir.path().join("burst.pb"),
            FileFormat::Protobuf,
        )?),
        _ => null.clone(),
    };
    let exporter = UserActionExporter::builder().with_sink(sink).build()?;
    let stats = exporter.stats();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    actionlog::set_tracer_provider(&provider);

    let before = rss_mib();
    let mut samples = Vec::new();
    let step = (actions / 10).max(1);
    let started = Instant::now();
    for i in 1..=actions {
        std::hint::black_box(_get_table_metadata(
            "hive://gold.core/rides",
            (i % 10) as i64,
            "search_results",
        ));
        if i % step == 0 {
            samples.push((i, rss_mib()));
        }
    }
    let burst_secs = started.elapsed().as_secs_f64();
    let at_end = rss_mib();
    provider.force_flush()?;
    provider.shutdown()?;
    let after = rss_mib();
    let exported = stats.exported.load(std::sync::atomic::Ordering::Relaxed);
    let peak = samples.iter().map(|s| s.1).fold(at_end, f64::max);
    let first = samples.first().map_or(before, |s| s.1);
    println!(
        "{actions} actions in {burst_secs:.2} s ({:.0}/s) from one thread; exported {exported}, \
         dropped by the full queue {}",
        actions as f64 / burst_secs,
        actions - exported
    );
    println!("RSS MiB: before {before:.1}");
    for (i, mib) in &samples {
        println!("RSS MiB: after {i:>8} actions {mib:.1}");
    }
    println!("RSS MiB: after flush and shutdown {after:.1}");
    println!(
        r#"{{"actions":{actions},"exported":{exported},"dropped":{},"rss_before_mib":{before:.1},"rss_first_sample_mib":{first:.1},"rss_peak_mib":{peak:.1},"rss_end_mib":{at_end:.1},"growth_after_first_sample_mib":{:.1}}}"#,
        actions - exported,
        peak - first
    );
    Ok(())
}
