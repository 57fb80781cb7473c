//! The reference of benchmark figure 5: a bare librdkafka producer sending the records the
//! bridge would send for `otlp_load`'s spans — same value bytes (the spans converted by
//! `actionlog::convert`), same key, same headers, same producer settings
//! (`KafkaSinkConfig::producer_config`: `acks=all`, idempotence, lz4) — to the same broker,
//! as fast as librdkafka takes them, counting delivery reports in a plain callback.
//!
//! ```sh
//! D=$(mktemp -d); B=$(scripts/kafka-broker.sh start "$D")
//! cargo run --release --example kafka_bare -- --brokers "$B" --events 500000
//! scripts/kafka-broker.sh stop "$D"
//! ```
//!
//! The last line is JSON, for `benches/run.sh`.

// The whole module is shared with `otlp_load`, which also sends whole requests.
#[allow(dead_code)]
#[path = "common/load_spans.rs"]
mod load_spans;

#[path = "common/cpu.rs"]
mod cpu;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actionlog::convert::{ConvertOptions, convert};
use actionlog::proto::USER_ACTION_FULL_NAME;
use actionlog_kafka::{
    CONTENT_TYPE, HEADER_CONTENT_TYPE, HEADER_MESSAGE_NAME, HEADER_TRACEPARENT, KafkaSinkConfig,
    encode_value, traceparent,
};
use clap::Parser;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};

#[derive(Debug, Parser)]
struct Args {
    /// Bootstrap brokers.
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: String,
    /// Topic (created with 3 partitions if missing).
    #[arg(long, default_value = "actionlog-bare")]
    topic: String,
    /// Records to send.
    #[arg(long, default_value_t = 500_000)]
    events: u64,
}

#[derive(Default)]
struct Count {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Count {}

impl ProducerContext for Count {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
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

    // The exact records the Kafka sink produces for these spans, built before the clock.
    let opts = ConvertOptions::default();
    let records: Vec<(Vec<u8>, String, Option<String>)> = (1..=args.events)
        .map(|n| {
            let action = convert(load_spans::span(n), Some(load_spans::HOST), &opts)
                .expect("valid span")
                .expect("an action span")
                .action;
            (
                encode_value(&action, None),
                action.user.clone().unwrap_or_default(),
                traceparent(&action),
            )
        })
        .collect();
    let bytes: usize = records.iter().map(|r| r.0.len()).sum();

    let config = KafkaSinkConfig::new(&args.brokers).with_topic(&args.topic);
    let producer: ThreadedProducer<Count> = config
        .producer_config()?
        .create_with_context(Count::default())?;
    let cpu_before = cpu::seconds();
    let started = Instant::now();
    for (value, key, tp) in &records {
        let mut headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: HEADER_CONTENT_TYPE,
                value: Some(CONTENT_TYPE),
            })
            .insert(Header {
                key: HEADER_MESSAGE_NAME,
                value: Some(USER_ACTION_FULL_NAME),
            });
        if let Some(tp) = tp {
            headers = headers.insert(Header {
                key: HEADER_TRACEPARENT,
                value: Some(tp.as_str()),
            });
        }
        let mut record: BaseRecord<'_, str, [u8], ()> = BaseRecord::to(&args.topic)
            .payload(value.as_slice())
            .key(key.as_str())
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let secs = started.elapsed().as_secs_f64();
    let cpu_secs = cpu::seconds() - cpu_before;
    let ctx = producer.context();
    let delivered = ctx.delivered.load(Ordering::Relaxed);
    let failed = ctx.failed.load(Ordering::Relaxed);
    let rate = delivered as f64 / secs;
    println!(
        "bare librdkafka producer: {delivered} records acknowledged ({failed} failed) in {secs:.2} s: \
         {rate:.0} records/s (mean value {} bytes); the producer used {cpu_secs:.2} CPU-seconds",
        bytes / records.len().max(1)
    );
    println!(
        r#"{{"delivered":{delivered},"failed":{failed},"secs":{secs:.4},"per_s":{rate:.1},"value_bytes":{},"cpu_secs":{cpu_secs:.2}}}"#,
        bytes / records.len().max(1)
    );
    Ok(())
}
