//! Sustained throughput of the Kafka sink: how many `UserAction` events per second are
//! acknowledged by the broker (`acks=all`, idempotent, lz4) when written the way the
//! exporter writes them: batches, each awaited until acknowledged, `--concurrency` at a time
//! (the OpenTelemetry batch processor exports one batch at a time, so 1 is the real case).
//!
//! ```sh
//! D=$(mktemp -d); B=$(scripts/kafka-broker.sh start "$D")
//! cargo run --release --example kafka_throughput -- --brokers "$B" --events 200000
//! scripts/kafka-broker.sh stop "$D"
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use actionlog::UserAction;
use actionlog::sink::Sink;
use actionlog_kafka::{KafkaSink, KafkaSinkConfig};
use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

#[derive(Debug, Parser)]
struct Args {
    /// Bootstrap brokers.
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: String,
    /// Topic (created with 3 partitions if missing).
    #[arg(long, default_value = "actionlog-throughput")]
    topic: String,
    /// Events to send in total.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per write (the exporter's batch size; the SDK default is 512).
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Writes in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
}

fn action(i: usize) -> UserAction {
    UserAction {
        host_name: Some("bench-host".into()),
        user: Some(format!("user{}@example.com", i % 100)),
        command: Some("get_table_metadata".into()),
        start_epoch_ms: Some(1_700_000_000_000 + i as i64),
        end_epoch_ms: Some(1_700_000_000_003 + i as i64),
        keyword_args_json: Some(
            format!(r#"{{"table_key":"hive://gold.core/rides_{}","index":{i},"source":"search_results"}}"#, i % 50)
                .into(),
        ),
        output: Some(r#"{"description":"all rides","columns":42}"#.into()),
        trace_id: Some(format!("{:032x}", i + 1)),
        span_id: Some(format!("{:016x}", i + 1)),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .create()?;
    // An existing topic is fine; any other problem shows up when producing.
    let _ = admin
        .create_topics(
            &[NewTopic::new(&args.topic, 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await;

    let sink = Arc::new(KafkaSink::new(
        KafkaSinkConfig::new(&args.brokers).with_topic(&args.topic),
    )?);
    let batches: Vec<Vec<UserAction>> = (0..args.events)
        .map(action)
        .collect::<Vec<_>>()
        .chunks(args.batch.max(1))
        .map(<[UserAction]>::to_vec)
        .collect();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(batches.len());
    for batch in batches {
        let permit = semaphore.clone().acquire_owned().await?;
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            let r = sink.write(&batch).await;
            drop(permit);
            r
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed();
    let stats = sink.stats();
    let delivered = stats.delivered.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{delivered} events acknowledged in {:.2} s: {:.0} events/s (batch {}, concurrency {})",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64(),
        args.batch,
        args.concurrency
    );
    sink.shutdown(Duration::from_secs(10)).await?;
    Ok(())
}
