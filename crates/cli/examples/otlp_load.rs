//! Load generator for `actionlog serve`: sends batches of action spans over OTLP/gRPC and
//! reports how many spans per second were converted and accepted by the sinks (a request is
//! acknowledged only after the sinks accepted it), and the request latencies.
//!
//! ```text
//! cargo build --release --bin actionlog --example otlp_load
//! target/release/actionlog serve --file /tmp/load.pb &
//! target/release/examples/otlp_load --endpoint http://127.0.0.1:4317 \
//!     --requests 2000 --batch 512 --concurrency 4
//! ```
//!
//! Arguments (all optional): `--endpoint URL`, `--requests N` (total), `--batch N` (spans per
//! request), `--concurrency N` (requests in flight), `--signal traces|logs` (the same
//! actions as spans, the default, or as log events), `--rate R` (requests per second in
//! total, on a fixed schedule; without it, as fast as the bridge answers). With `--rate`,
//! a request's latency counts from the time it was due, so a stalled bridge shows up in the
//! percentiles instead of silently slowing the schedule down.
//!
//! Requests are built and protobuf-encoded before the clock starts and sent as those bytes:
//! the generator shares the machine with the bridge, and every cycle it spends encoding is
//! one the bridge does not get (the figure is the bridge's, not ours). It reports the CPU
//! time it used while sending.
//!
//! The last line is JSON, for `benches/run.sh`.

// The span-only helpers are for kafka_bare.
#[allow(dead_code)]
#[path = "common/load_spans.rs"]
mod load_spans;

#[path = "common/cpu.rs"]
mod cpu;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use prost::bytes::{BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// Sends ready-made request bytes as they are; decodes the response with prost. A logs
/// response has the traces response's wire layout (`partial_success` = 1, its rejected
/// count = 1, its message = 2), so one decoder reads both.
#[derive(Clone, Copy, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// Builds and encodes request `seq` of `batch` actions.
type EncodeRequest = fn(u64, u64) -> Vec<u8>;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = arg(&args, "--endpoint", "http://127.0.0.1:4317");
    let requests: u64 = arg(&args, "--requests", "1000").parse()?;
    let batch: u64 = arg(&args, "--batch", "512").parse()?;
    let concurrency: u64 = arg(&args, "--concurrency", "4").parse::<u64>()?.max(1);
    let rate: f64 = arg(&args, "--rate", "0").parse()?;
    let signal = arg(&args, "--signal", "traces");
    let (path, encode): (&'static str, EncodeRequest) = match signal.as_str() {
        "traces" => (TRACES_PATH, |seq, batch| {
            load_spans::request(seq, batch).encode_to_vec()
        }),
        "logs" => (LOGS_PATH, |seq, batch| {
            load_spans::log_request(seq, batch).encode_to_vec()
        }),
        other => return Err(format!("--signal {other:?}: expected traces or logs").into()),
    };

    // Requests are built before the clock starts: the figure is the bridge's, not ours.
    let per_worker = requests / concurrency;
    let mut prepared = Vec::new();
    for w in 0..concurrency {
        prepared.push(
            (0..per_worker)
                .map(|r| Bytes::from(encode(w * per_worker + r, batch)))
                .collect::<Vec<_>>(),
        );
    }
    let channel = Channel::from_shared(endpoint.clone())?.connect().await?;
    let cpu_before = cpu::seconds();
    let started = Instant::now();
    let start_at = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (w, reqs) in prepared.into_iter().enumerate() {
        let mut client = tonic::client::Grpc::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut latencies = Vec::with_capacity(reqs.len());
            for (i, r) in reqs.into_iter().enumerate() {
                let due = if rate > 0.0 {
                    // Request k of the whole run is due at k / rate; workers interleave.
                    let k = i as u64 * concurrency + w as u64;
                    let due = start_at + Duration::from_secs_f64(k as f64 / rate);
                    tokio::time::sleep_until(due).await;
                    due
                } else {
                    tokio::time::Instant::now()
                };
                client
                    .ready()
                    .await
                    .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                let resp = client
                    .unary(
                        tonic::Request::new(r),
                        PathAndQuery::from_static(path),
                        PreEncoded,
                    )
                    .await?
                    .into_inner();
                latencies.push(due.elapsed());
                if let Some(p) = resp.partial_success
                    && p.rejected_spans > 0
                {
                    return Err(tonic::Status::internal(p.error_message));
                }
                ok += batch;
            }
            Ok::<(u64, Vec<Duration>), tonic::Status>((ok, latencies))
        }));
    }
    let mut total = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (n, l) = t.await??;
        total += n;
        latencies.extend(l);
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_secs = cpu::seconds() - cpu_before;
    latencies.sort_unstable();
    let (p50, p99, max) = (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    let spans_per_s = total as f64 / secs;
    println!(
        "{total} actions as {signal} in {secs:.2} s over OTLP/gRPC to {endpoint}: {spans_per_s:.0} actions/s \
         (batch {batch}, concurrency {concurrency}{}); request latency p50 {p50:.1} ms, \
         p99 {p99:.1} ms, max {max:.1} ms; the generator used {cpu_secs:.2} CPU-seconds",
        if rate > 0.0 {
            format!(", scheduled {rate:.1} requests/s")
        } else {
            String::new()
        }
    );
    println!(
        r#"{{"signal":"{signal}","spans":{total},"secs":{secs:.4},"spans_per_s":{spans_per_s:.1},"batch":{batch},"concurrency":{concurrency},"rate":{rate},"p50_ms":{p50:.3},"p99_ms":{p99:.3},"max_ms":{max:.3},"cpu_secs":{cpu_secs:.2}}}"#
    );
    Ok(())
}
