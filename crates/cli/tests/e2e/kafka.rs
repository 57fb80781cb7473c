//! The Kafka sink against a real broker (Tansu, or any cluster through `KAFKA_BROKERS`).
//!
//! `scripts/test.sh` starts a broker and exports `KAFKA_BROKERS`, plus `TANSU_BIN` for the
//! tests that start, kill and restart brokers of their own. Without them these tests fail
//! with a message saying so: a missing broker must not look like a pass.

use std::collections::{BTreeMap, HashSet};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actionlog::sink::{Sink, SinkError};
use actionlog::{UserActionExporter, action_log, user};
use actionlog_kafka::{BufferFullPolicy, KafkaSink, KafkaStats, decode_value};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use rdkafka::message::{Headers, Message, OwnedMessage};

use crate::harness::free_port;
use crate::harness::kafka::{
    Tansu, action, brokers, config, consume_all, create_topic, seq_of, unique_topic, wait_for,
};

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::Acquire)
}

fn header<'a>(m: &'a OwnedMessage, key: &str) -> Option<&'a str> {
    let h = m.headers()?;
    (0..h.count())
        .map(|i| h.get(i))
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

// --- 10,000 decorated calls → exporter → Kafka → an independent Python consumer -----------

#[derive(Debug, thiserror::Error)]
#[error("no such table")]
struct NoTable;

#[action_log(command = "kafka_get_table")]
fn kafka_get_table(seq: usize, table_key: &str) -> Result<usize, NoTable> {
    if table_key.ends_with("missing") {
        return Err(NoTable);
    }
    Ok(seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ten_thousand_decorated_actions_reach_an_independent_consumer() {
    const USERS: usize = 20;
    const PER_USER: usize = 500;
    let brokers = brokers();
    let topic = unique_topic("actions-10k");
    create_topic(&brokers, &topic, 3).await;

    let sink = Arc::new(KafkaSink::new(config(&brokers, &topic)).expect("sink"));
    let stats = sink.stats();
    let exporter = UserActionExporter::builder()
        .with_sink(sink)
        .with_timeout(Duration::from_secs(60))
        .build()
        .expect("exporter");
    let exported = exporter.stats();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(USERS * PER_USER)
                .with_max_export_batch_size(1000)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    tokio::task::spawn_blocking(move || {
        // `#[action_log]` reports to a process-wide tracer, shared with other test modules.
        let lock = crate::support::global_lock();
        actionlog::set_tracer_provider(&provider);
        for seq in 0..PER_USER {
            for u in 0..USERS {
                user::with_user(format!("kafka-user-{u:02}"), || {
                    let table = if seq % 100 == 99 {
                        "hive://gold/missing"
                    } else {
                        "hive://gold/rides"
                    };
                    let _ = kafka_get_table(seq, table);
                });
            }
        }
        provider.shutdown().expect("provider shutdown");
        actionlog::reset_tracer_provider();
        drop(lock);
    })
    .await
    .expect("producer thread");
    let total = (USERS * PER_USER) as u64;
    assert_eq!(count(&exported.exported), total, "exporter count");
    assert_eq!(count(&exported.failed), 0);
    assert_eq!(count(&stats.delivered), total, "broker acknowledgements");
    assert_eq!(count(&stats.failed) + count(&stats.dropped), 0);

    let python = crate::support::python();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/kafka_consume.py"
    );
    let out = Command::new(python)
        .args([script, "--brokers", &brokers, "--topic", &topic])
        .args(["--expect", &total.to_string()])
        .output()
        .expect("python consumer");
    assert!(
        out.status.success(),
        "python consumer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len() as u64, total, "exact count read back");

    // user → (partition, [(offset, seq)])
    let mut per_user: BTreeMap<String, (i64, Vec<(i64, u64)>)> = BTreeMap::new();
    for m in &lines {
        let a = &m["action"];
        let user = a["user"].as_str().expect("user");
        assert_eq!(m["key"].as_str(), Some(user), "key is the user");
        assert_eq!(m["headers"]["content-type"], "application/x-protobuf");
        assert_eq!(m["headers"]["protobuf-message"], "actionlog.v1.UserAction");
        let trace = a["trace_id"].as_str().expect("trace id");
        let span = a["span_id"].as_str().expect("span id");
        assert_eq!(m["headers"]["traceparent"], format!("00-{trace}-{span}-01"));
        assert_eq!(a["command"], "kafka_get_table");
        let kw: serde_json::Value =
            serde_json::from_str(a["keyword_args_json"].as_str().expect("kwargs"))
                .expect("kwargs json");
        let seq = kw["seq"].as_u64().expect("seq");
        if seq % 100 == 99 {
            assert_eq!(kw["table_key"], "hive://gold/missing");
            assert!(
                a["error"]
                    .as_str()
                    .expect("error")
                    .contains("no such table"),
                "{a}"
            );
        } else {
            assert_eq!(kw["table_key"], "hive://gold/rides");
            assert_eq!(a["output"], seq.to_string());
            assert!(a.get("error").is_none());
        }
        assert!(
            a["start_epoch_ms"].as_i64().expect("start")
                <= a["end_epoch_ms"].as_i64().expect("end")
        );
        let partition = m["partition"].as_i64().expect("partition");
        let e = per_user
            .entry(user.to_owned())
            .or_insert((partition, Vec::new()));
        assert_eq!(e.0, partition, "all of {user}'s actions in one partition");
        e.1.push((m["offset"].as_i64().expect("offset"), seq));
    }
    assert_eq!(per_user.len(), USERS);
    for (user, (_, mut events)) in per_user {
        events.sort_unstable();
        let seqs: Vec<u64> = events.into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            seqs,
            (0..PER_USER as u64).collect::<Vec<_>>(),
            "{user}'s order"
        );
    }
}

// --- broker outages ------------------------------------------------------------------------

/// The harness itself: a port another process holds is noticed (Tansu exits, the port
/// still answers), which is what lets `start_on_free_port` try again.
#[test]
fn tansu_harness_notices_a_port_held_by_another_process() {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    assert!(Tansu::try_start(port, &[]).is_none());
    let broker = Tansu::start_on_free_port(&[]);
    assert_ne!(broker.port(), port);
    TcpStream::connect(broker.addr()).expect("the broker listens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_broker_down_at_start_is_logged_and_events_arrive_once_it_is_up() {
    let port = free_port();
    let topic = unique_topic("late-broker");
    let mut cfg = config(&format!("127.0.0.1:{port}"), &topic);
    cfg.message_timeout_ms = 60_000;
    let sink = Arc::new(KafkaSink::new(cfg).expect("a sink starts without a broker"));
    let stats = sink.stats();
    let writer = {
        let sink = sink.clone();
        tokio::spawn(async move {
            let batch: Vec<_> = (0..50).map(|i| action("late-user", i)).collect();
            sink.write(&batch).await
        })
    };
    wait_for("a connection error", Duration::from_secs(10), || {
        count(&stats.client_errors) > 0
    })
    .await;
    let err = stats.last_error().expect("last error");
    assert!(err.contains(&port.to_string()), "names the broker: {err}");
    assert!(
        err.contains("refused") || err.contains("down"),
        "says why: {err}"
    );
    assert!(!writer.is_finished(), "the write waits for the broker");
    assert_eq!(count(&stats.delivered), 0);

    let broker = Tansu::start(port, &[]);
    create_topic(&broker.addr(), &topic, 3).await;
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("write resolved")
        .expect("task")
        .expect("delivered once the broker is up");
    assert_eq!(count(&stats.delivered), 50);
    let got = consume_all(&broker.addr(), &topic, 50);
    let seqs: Vec<usize> = got
        .iter()
        .map(|m| seq_of(&decode_value(m.payload().expect("value")).expect("decode")))
        .collect();
    assert_eq!(
        seqs,
        (0..50).collect::<Vec<_>>(),
        "one key, one partition, in order"
    );
    sink.shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_broker_killed_mid_stream_unacknowledged_events_reach_the_new_broker() {
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 50;
    let topic = unique_topic("restart");
    let mut first = Tansu::start_on_free_port(&[]);
    let port = first.port();
    create_topic(&first.addr(), &topic, 3).await;
    let mut cfg = config(&first.addr(), &topic);
    cfg.message_timeout_ms = 60_000;
    // Tansu on memory storage forgets producer ids when it restarts, and an idempotent
    // producer would then retry "unknown producer id" until message_timeout_ms (Apache
    // Kafka keeps that state in its log). See docs/kafka.md.
    cfg.idempotence = false;
    let sink = Arc::new(KafkaSink::new(cfg).expect("sink"));
    let stats = sink.stats();

    let mut writers = Vec::new();
    let mut acked_before = 0;
    let mut second = None;
    for b in 0..BATCHES {
        if b == BATCHES / 2 {
            wait_for("first acknowledgements", Duration::from_secs(20), || {
                count(&stats.delivered) > 0
            })
            .await;
            first.kill();
            // Acknowledgements already on the wire are read before the socket closes;
            // after this pause no broker exists that could acknowledge anything.
            tokio::time::sleep(Duration::from_secs(1)).await;
            acked_before = count(&stats.delivered);
            eprintln!(
                "killed the first broker: {acked_before} acknowledged, {} waiting",
                stats.in_flight()
            );
            let broker = Tansu::start(port, &[]);
            create_topic(&broker.addr(), &topic, 3).await;
            second = Some(broker);
        }
        let sink = sink.clone();
        let batch: Vec<_> = (0..PER_BATCH)
            .map(|i| action(&format!("restart-user-{}", i % 7), b * PER_BATCH + i))
            .collect();
        writers.push(tokio::spawn(async move { sink.write(&batch).await }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for w in writers {
        tokio::time::timeout(Duration::from_secs(90), w)
            .await
            .expect("write resolved")
            .expect("task")
            .expect("every batch delivered in the end");
    }
    let produced = (BATCHES * PER_BATCH) as u64;
    assert_eq!(count(&stats.delivered), produced);
    assert_eq!(count(&stats.failed), 0);
    assert!(
        acked_before > 0,
        "some events were acknowledged by the first broker"
    );

    let second = second.expect("second broker");
    let after = consume_all(&second.addr(), &topic, (produced - acked_before) as usize);
    let seqs: HashSet<usize> = after
        .iter()
        .map(|m| seq_of(&decode_value(m.payload().expect("value")).expect("decode")))
        .collect();
    assert_eq!(seqs.len(), after.len(), "no duplicates on the new broker");
    assert_eq!(
        acked_before + after.len() as u64,
        produced,
        "acknowledged before the kill + delivered after = produced"
    );
    sink.shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}

// --- bad input: each a clear, counted error; other events keep flowing --------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_oversized_message_and_unknown_topic_fail_clearly() {
    let brokers = brokers();
    let topic = unique_topic("bad-input");
    create_topic(&brokers, &topic, 1).await;
    let sink = KafkaSink::new(config(&brokers, &topic)).expect("sink");
    let stats = sink.stats();

    let mut huge = action("big-user", 1);
    huge.output = Some("x".repeat(2_000_000).into());
    let err = sink
        .write(&[action("big-user", 0), huge, action("big-user", 2)])
        .await
        .expect_err("oversized event refused");
    assert!(
        matches!(&err, SinkError::Rejected { count: 1, message, .. } if message.contains("too large")),
        "{err}"
    );
    assert_eq!(count(&stats.failed), 1);
    assert_eq!(count(&stats.delivered), 2, "its neighbours were delivered");
    sink.write(&[action("big-user", 3)])
        .await
        .expect("later events flow");
    let seqs: Vec<usize> = consume_all(&brokers, &topic, 3)
        .iter()
        .map(|m| seq_of(&decode_value(m.payload().expect("value")).expect("decode")))
        .collect();
    assert_eq!(seqs, vec![0, 2, 3]);

    let missing = KafkaSink::new(
        config(&brokers, &unique_topic("no-such-topic"))
            .with_option("topic.metadata.propagation.max.ms", "1000"),
    )
    .expect("sink");
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        missing.write(&[action("u", 0), action("u", 1)]),
    )
    .await
    .expect("no endless retry")
    .expect_err("unknown topic");
    assert!(
        matches!(&err, SinkError::Rejected { count: 2, message, .. } if message.contains("Unknown topic")),
        "{err}"
    );
    assert_eq!(count(&missing.stats().failed), 2);
    sink.write(&[action("big-user", 4)])
        .await
        .expect("the other sink still delivers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_bad_credentials_fail_clearly_without_endless_retry() {
    let broker = Tansu::start_on_free_port(&["--authentication"]);
    let mut cfg = config(&broker.addr(), "secured")
        .with_option("security.protocol", "sasl_plaintext")
        .with_option("sasl.mechanism", "PLAIN")
        .with_option("sasl.username", "mallory")
        .with_option("sasl.password", "wrong");
    cfg.message_timeout_ms = 3_000;
    let sink = KafkaSink::new(cfg).expect("sink");
    let stats = sink.stats();
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        sink.write(&[action("u", 0), action("u", 1), action("u", 2)]),
    )
    .await
    .expect("no endless retry")
    .expect_err("refused");
    assert!(
        matches!(err, SinkError::Rejected { count: 3, .. }),
        "not retryable: {err}"
    );
    let text = err.to_string();
    assert!(text.contains("3 failed"), "{text}");
    assert!(
        text.contains("SASL"),
        "the reason names the authentication: {text}"
    );
    assert_eq!(count(&stats.failed), 3);
    assert!(count(&stats.client_errors) > 0);
}

// --- bounded buffer and shutdown ------------------------------------------------------------

async fn fill_dead_broker(
    policy: BufferFullPolicy,
) -> (
    Arc<KafkaSink>,
    Arc<KafkaStats>,
    tokio::task::JoinHandle<Result<(), SinkError>>,
) {
    // Nothing listens on this port: every event stays in the buffer.
    let mut cfg = config(&format!("127.0.0.1:{}", free_port()), "nowhere");
    cfg.buffer_max_messages = 10;
    cfg.when_full = policy;
    cfg.block_timeout_ms = 300;
    let sink = Arc::new(KafkaSink::new(cfg).expect("sink"));
    let stats = sink.stats();
    let writer = {
        let sink = sink.clone();
        tokio::spawn(async move {
            let batch: Vec<_> = (0..25).map(|i| action("buffered", i)).collect();
            sink.write(&batch).await
        })
    };
    (sink, stats, writer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_full_buffer_drops_newest_or_blocks_then_shutdown_reports_the_shortfall() {
    for policy in [BufferFullPolicy::DropNewest, BufferFullPolicy::Block] {
        let (sink, stats, writer) = fill_dead_broker(policy).await;
        wait_for(
            "the overflow to be dropped",
            Duration::from_secs(10),
            || count(&stats.dropped) == 15,
        )
        .await;
        assert_eq!(
            count(&stats.enqueued),
            10,
            "{policy:?}: the buffer is bounded"
        );
        let err = sink
            .shutdown(Duration::from_millis(500))
            .await
            .expect_err("nothing could be delivered");
        assert!(
            matches!(
                err,
                SinkError::Undelivered {
                    undelivered: 10,
                    ..
                }
            ),
            "{policy:?}: {err}"
        );
        let write = tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .expect("shutdown releases the waiting write")
            .expect("task");
        let text = write.expect_err("the write failed").to_string();
        assert!(text.contains("15 dropped"), "{policy:?}: {text}");
        assert_eq!(count(&stats.failed), 10);
        assert_eq!(count(&stats.delivered), 0);
        assert!(matches!(
            sink.write(&[action("late", 0)]).await,
            Err(SinkError::ShutDown { .. })
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_shutdown_flushes_events_in_flight() {
    let brokers = brokers();
    let topic = unique_topic("shutdown-flush");
    create_topic(&brokers, &topic, 3).await;
    let mut cfg = config(&brokers, &topic);
    // A long linger keeps events in the buffer when shutdown starts; shutdown's flush sends
    // them at once.
    cfg.linger_ms = 5_000;
    let sink = Arc::new(KafkaSink::new(cfg).expect("sink"));
    let stats = sink.stats();
    let writer = {
        let sink = sink.clone();
        tokio::spawn(async move {
            let batch: Vec<_> = (0..2000)
                .map(|i| action(&format!("flush-{}", i % 5), i))
                .collect();
            sink.write(&batch).await
        })
    };
    wait_for("the batch to be enqueued", Duration::from_secs(10), || {
        count(&stats.enqueued) == 2000
    })
    .await;
    assert!(stats.in_flight() > 0, "events were in flight at shutdown");
    sink.shutdown(Duration::from_secs(20))
        .await
        .expect("flushed within the deadline");
    writer.await.expect("task").expect("write acknowledged");
    assert_eq!(count(&stats.delivered), 2000);
    assert_eq!(consume_all(&brokers, &topic, 2000).len(), 2000);
}

// --- wire format and the tail command -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_schema_registry_framing_on_the_wire() {
    let brokers = brokers();
    let topic = unique_topic("framed");
    create_topic(&brokers, &topic, 1).await;
    let mut cfg = config(&brokers, &topic);
    cfg.schema_id = Some(42);
    let sink = KafkaSink::new(cfg).expect("sink");
    let a = action("framed-user", 7);
    sink.write(std::slice::from_ref(&a)).await.expect("write");
    let got = consume_all(&brokers, &topic, 1);
    assert_eq!(got.len(), 1);
    let value = got[0].payload().expect("value");
    assert_eq!(
        &value[..6],
        &[0, 0, 0, 0, 42, 0],
        "magic, schema id 42, index [0]"
    );
    assert_eq!(decode_value(value).expect("decode"), a);
    assert_eq!(
        header(&got[0], "content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(got[0].key(), Some(b"framed-user".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_tail_prints_decoded_actions() {
    let brokers = brokers();
    let topic = unique_topic("tail");
    create_topic(&brokers, &topic, 3).await;
    let sink = KafkaSink::new(config(&brokers, &topic)).expect("sink");
    let batch: Vec<_> = (0..5)
        .map(|i| action(&format!("tail-user-{i}"), i))
        .collect();
    sink.write(&batch).await.expect("write");

    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_actionlog"))
            .args(["tail", "--brokers", &brokers, "--topic", &topic])
            .args(["--group", &unique_topic("tail-group"), "--from", "earliest"])
            .args(["--max-messages", "5", "--idle-timeout-secs", "60"])
            .output()
            .expect("run actionlog tail")
    })
    .await
    .expect("tail");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut users: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            assert_eq!(v["command"], "kafka_test");
            v["user"].as_str().expect("user").to_owned()
        })
        .collect();
    users.sort();
    assert_eq!(
        users,
        (0..5).map(|i| format!("tail-user-{i}")).collect::<Vec<_>>()
    );
}
