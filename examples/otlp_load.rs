//! Load generator for `actionlog serve`: sends batches of action spans over OTLP/gRPC as fast
//! as the bridge acknowledges them, and reports how many spans per second were converted
//! and accepted by the sinks (a request is acknowledged only after the sinks accepted it).
//!
//! ```text
//! cargo build --release --bin actionlog --example otlp_load
//! target/release/actionlog serve --file /tmp/load.pb &
//! target/release/examples/otlp_load --endpoint http://127.0.0.1:4317 \
//!     --requests 2000 --batch 512 --concurrency 4
//! ```
//!
//! Arguments (all optional): `--endpoint URL`, `--requests N` (total), `--batch N` (spans per
//! request), `--concurrency N` (requests in flight).

use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

/// One request of `batch` realistic action spans (ids made unique by `seq`).
fn make_request(seq: u64, batch: u64) -> ExportTraceServiceRequest {
    let spans = (0..batch)
        .map(|i| {
            let n = seq * batch + i + 1;
            let mut trace_id = [7u8; 16];
            trace_id[..8].copy_from_slice(&n.to_be_bytes());
            let start = 1_700_000_000_000_000_000 + n * 1_000;
            Span {
                trace_id: trace_id.to_vec(),
                span_id: n.to_be_bytes().to_vec(),
                name: "_get_table_metadata".into(),
                start_time_unix_nano: start,
                end_time_unix_nano: start + 3_000_000,
                attributes: vec![
                    kv("action_log.command", "_get_table_metadata".into()),
                    kv("enduser.id", format!("user{}@example.com", n % 97)),
                    kv("action_log.pos_args_json", "[]".into()),
                    kv(
                        "action_log.keyword_args_json",
                        format!(
                            r#"{{"table_key":"hive://gold.core/table_{}","index":{},"source":"search_results"}}"#,
                            n % 1000,
                            n % 10
                        ),
                    ),
                    kv("action_log.output", r#"{"status":"ok"}"#.into()),
                ],
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("host.name", "load-host".into())],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = arg(&args, "--endpoint", "http://127.0.0.1:4317");
    let requests: u64 = arg(&args, "--requests", "1000").parse()?;
    let batch: u64 = arg(&args, "--batch", "512").parse()?;
    let concurrency: u64 = arg(&args, "--concurrency", "4").parse()?;

    // Requests are built before the clock starts: the figure is the bridge's, not ours.
    let per_worker = requests / concurrency;
    let mut prepared = Vec::new();
    for w in 0..concurrency {
        prepared.push(
            (0..per_worker)
                .map(|r| make_request(w * per_worker + r, batch))
                .collect::<Vec<_>>(),
        );
    }
    let client = TraceServiceClient::connect(endpoint.clone()).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for reqs in prepared {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            for r in reqs {
                let resp = client.export(r).await?.into_inner();
                if let Some(p) = resp.partial_success
                    && p.rejected_spans > 0
                {
                    return Err(tonic::Status::internal(p.error_message));
                }
                ok += batch;
            }
            Ok::<u64, tonic::Status>(ok)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{total} action spans in {secs:.2} s over OTLP/gRPC to {endpoint}: {:.0} spans/s \
         (batch {batch}, concurrency {concurrency})",
        total as f64 / secs
    );
    Ok(())
}
