//! `actionlog load` against a real broker (Tansu via `KAFKA_BROKERS`, see kafka.rs): events
//! produced through the real Kafka sink, the real binary loading them, the real binary
//! computing KPIs over what it landed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use actionlog::UserAction;
use actionlog::sink::Sink;
use actionlog_kafka::KafkaSink;
use arrow::array::{Array, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::harness::bin;
use crate::harness::free_port;
use crate::harness::kafka::{brokers, config, create_topic, unique_topic};

/// 2026-01-05 00:00:00 UTC, a Monday.
const DAY0_MS: i64 = 1_767_571_200_000;
const DAY_MS: i64 = 86_400_000;

/// Event `i`: one of seven users, on one of three days, viewing one of five tables.
fn event(i: usize) -> UserAction {
    let start = DAY0_MS + (i % 3) as i64 * DAY_MS + 3_600_000 + i as i64 * 1_000;
    UserAction {
        user: Some(format!("Loader-User-{}", i % 7)),
        command: Some("_get_table_metadata".to_owned()),
        keyword_args_json: Some(
            format!(
                r#"{{"table_key":"hive://gold.db/t{}","index":"2","source":"browse"}}"#,
                i % 5
            )
            .into(),
        ),
        start_epoch_ms: Some(start),
        end_epoch_ms: Some(start + 12),
        trace_id: Some(format!("{:032x}", 0xabc000 + i)),
        span_id: Some(format!("{:016x}", 0xdef000 + i)),
        host_name: Some("catalog-1".to_owned()),
        ..Default::default()
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run actionlog")
}

fn load(brokers: &str, topic: &str, group: &str, warehouse: &Path, extra: &[&str]) -> Output {
    let wh = warehouse.to_string_lossy().into_owned();
    let mut args = vec![
        "load",
        "--brokers",
        brokers,
        "--topic",
        topic,
        "--group",
        group,
        "--warehouse",
        wh.as_str(),
        "--exit-when-idle",
        "5",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every (trace_id, span_id) row of the warehouse's complete Parquet files.
fn warehouse_ids(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in std::fs::read_dir(dir).expect("warehouse dir") {
        let part = part.expect("entry").path();
        for f in std::fs::read_dir(&part).expect("partition dir") {
            let f = f.expect("entry").path();
            if f.extension().is_none_or(|e| e != "parquet") {
                continue;
            }
            let file = std::fs::File::open(&f).expect("open parquet");
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .expect("parquet")
                .build()
                .expect("reader");
            for batch in reader {
                let batch = batch.expect("batch");
                let col = |name: &str| {
                    batch
                        .column_by_name(name)
                        .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                        .unwrap_or_else(|| panic!("no string column {name}"))
                };
                let (t, s) = (col("trace_id"), col("span_id"));
                for i in 0..batch.num_rows() {
                    assert!(!t.is_null(i) && !s.is_null(i), "ids lost in {f:?}");
                    out.push((t.value(i).to_owned(), s.value(i).to_owned()));
                }
            }
        }
    }
    out
}

fn kpi_json(warehouse: &Path) -> Value {
    let out = run(&[
        "kpi",
        "--warehouse",
        &warehouse.to_string_lossy(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "kpi failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("kpi json")
}

fn kpi_rows<'a>(report: &'a Value, kpi: &str) -> &'a Vec<Value> {
    report["kpis"][kpi]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no KPI {kpi} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_crash_after_durable_file_before_commit_loses_nothing_and_counts_once() {
    let brokers = brokers();
    let topic = unique_topic("load");
    create_topic(&brokers, &topic, 3).await;

    // 240 distinct events, and 4 of them sent a second time, byte for byte: a producer
    // retry without idempotence looks like that.
    let events: Vec<UserAction> = (0..240).map(event).collect();
    let sink = KafkaSink::new(config(&brokers, &topic)).expect("sink");
    for chunk in events.chunks(60) {
        sink.write(chunk).await.expect("produce");
    }
    let resent: Vec<UserAction> = [3, 50, 101, 239]
        .iter()
        .map(|&i| events[i].clone())
        .collect();
    sink.write(&resent).await.expect("produce duplicates");
    let produced = events.len() + resent.len();

    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("warehouse");
    let group = unique_topic("load-group");

    // Small batches, and every write closes its files, so the first batch becomes durable
    // long before the topic is drained; the fault then exits before committing it.
    let crashed = tokio::task::spawn_blocking({
        let (b, t, g, w) = (brokers.clone(), topic.clone(), group.clone(), wh.clone());
        move || {
            load(
                &b,
                &t,
                &g,
                &w,
                &[
                    "--batch-size",
                    "40",
                    "--max-file-bytes",
                    "1",
                    "--crash-after-durable-before-commit",
                ],
            )
        }
    })
    .await
    .expect("join");
    assert_eq!(crashed.status.code(), Some(86), "{}", stderr(&crashed));
    let after_crash = warehouse_ids(&wh);
    assert!(
        !after_crash.is_empty() && after_crash.len() < produced,
        "the crash should leave one durable batch, found {} rows",
        after_crash.len()
    );

    let restarted = tokio::task::spawn_blocking({
        let (b, t, g, w) = (brokers.clone(), topic.clone(), group.clone(), wh.clone());
        move || load(&b, &t, &g, &w, &["--batch-size", "40"])
    })
    .await
    .expect("join");
    assert!(restarted.status.success(), "{}", stderr(&restarted));
    assert!(
        stderr(&restarted).contains(&format!("loaded {produced} action(s)")),
        "nothing was committed before the crash, so the restart re-reads everything: {}",
        stderr(&restarted)
    );

    // Nothing lost: every produced id is there.
    let rows = warehouse_ids(&wh);
    let landed: BTreeSet<(String, String)> = rows.iter().cloned().collect();
    let expected: BTreeSet<(String, String)> = events
        .iter()
        .map(|e| (e.trace_id.clone().unwrap(), e.span_id.clone().unwrap()))
        .collect();
    assert_eq!(landed, expected);
    // The crash re-delivered: the first run's durable rows are in the warehouse twice.
    assert_eq!(rows.len(), produced + after_crash.len());

    // ...and the KPIs count every event once. Worked out from the produced events: user
    // i % 7 on day i % 3, so per user the number of i in 0..240 with i % 7 == u.
    let report = kpi_json(&wh);
    let mut per_user: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..240 {
        *per_user
            .entry(format!("loader-user-{}", i % 7))
            .or_default() += 1;
    }
    let got: BTreeMap<String, u64> = kpi_rows(&report, "top_active_users")
        .iter()
        .map(|r| {
            (
                r["user_name"].as_str().expect("user").to_owned(),
                r["actions"].as_u64().expect("actions"),
            )
        })
        .collect();
    assert_eq!(got, per_user);
    let excl = &kpi_rows(&report, "exclusions")[0];
    assert_eq!(excl["qualifying"], 240);
    assert_eq!(excl["duplicates"].as_u64(), Some((rows.len() - 240) as u64));
    // Every user is active on each of the three days (7 and 3 are coprime).
    let dau: Vec<(String, u64)> = kpi_rows(&report, "dau")
        .iter()
        .filter(|r| r["dau"].as_u64() != Some(0))
        .map(|r| {
            (
                r["day"].as_str().unwrap().to_owned(),
                r["dau"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        dau,
        vec![
            ("2026-01-05".to_owned(), 7),
            ("2026-01-06".to_owned(), 7),
            ("2026-01-07".to_owned(), 7)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_counts_undecodable_messages_writes_them_to_the_dead_letter_file_and_moves_on() {
    let brokers = brokers();
    let topic = unique_topic("load-bad");
    create_topic(&brokers, &topic, 1).await;
    let sink = KafkaSink::new(config(&brokers, &topic)).expect("sink");
    sink.write(&[event(0), event(1)]).await.expect("produce");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    // Not protobuf (0xff is a field key with an invalid wire type), and no value at all.
    producer
        .send(
            FutureRecord::to(&topic)
                .key("k")
                .payload(&b"\xff\xff\xffnot a UserAction"[..]),
            Duration::from_secs(10),
        )
        .await
        .expect("send garbage");
    producer
        .send(
            FutureRecord::<str, [u8]>::to(&topic).key("empty"),
            Duration::from_secs(10),
        )
        .await
        .expect("send empty");
    sink.write(&[event(2)]).await.expect("produce");

    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("warehouse");
    let dead = dir.path().join("dead.jsonl");
    let group = unique_topic("load-bad-group");
    let dead_arg = dead.to_string_lossy().into_owned();
    let out = tokio::task::spawn_blocking({
        let (b, t, g, w) = (brokers.clone(), topic.clone(), group.clone(), wh.clone());
        move || load(&b, &t, &g, &w, &["--dead-letter", &dead_arg])
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("loaded 3 action(s) from 5 message(s)")
            && stderr(&out).contains("2 undecodable"),
        "{}",
        stderr(&out)
    );
    let mut ids: Vec<String> = warehouse_ids(&wh).into_iter().map(|(t, _)| t).collect();
    ids.sort();
    let want: Vec<String> = (0..3).map(|i| event(i).trace_id.unwrap()).collect();
    assert_eq!(ids, want);

    let lines: Vec<Value> = BufReader::new(std::fs::File::open(&dead).expect("dead-letter"))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["offset"], 2);
    assert_eq!(lines[0]["key_hex"], "6b");
    assert!(
        lines[0]["value_hex"]
            .as_str()
            .is_some_and(|v| v.starts_with("ffffff")),
        "{lines:?}"
    );
    assert_eq!(lines[1]["offset"], 3);
    assert_eq!(lines[1]["value_hex"], Value::Null);

    // Their offsets were committed with the rest: the group does not read them again.
    let again = tokio::task::spawn_blocking(move || load(&brokers, &topic, &group, &wh, &[]))
        .await
        .expect("join");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("loaded 0 action(s) from 0 message(s)"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn load_with_unreachable_brokers_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", free_port());
    let out = run(&[
        "load",
        "--brokers",
        &addr,
        "--topic",
        "user_actions",
        "--warehouse",
        &dir.path().join("wh").to_string_lossy(),
        "--connect-timeout-secs",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot reach the Kafka brokers {addr} within 2 s")),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("wh").exists(),
        "nothing is created before the brokers answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_on_sigterm_closes_its_files_commits_and_exits_zero() {
    let brokers = brokers();
    let topic = unique_topic("load-term");
    create_topic(&brokers, &topic, 2).await;
    let sink = KafkaSink::new(config(&brokers, &topic)).expect("sink");
    let events: Vec<UserAction> = (0..30).map(event).collect();
    sink.write(&events).await.expect("produce");

    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("warehouse");
    let group = unique_topic("load-term-group");
    // No idle exit and a long file age: only the signal can make these events durable.
    let mut child = Command::new(bin())
        .args([
            "load",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
            "--group",
            &group,
        ])
        .args([
            "--warehouse",
            wh.to_str().expect("utf-8 temp path"),
            "--max-file-age-secs",
            "3600",
        ])
        .args(["--progress-secs", "1", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn load");
    let err = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(err).lines();
    let mut log = String::new();
    // Wait (on the loader's own progress lines, not on a clock) until it has taken all 30.
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        log.push_str(&line);
        log.push('\n');
        if line.contains(r#""message":"progress""#) && line.contains(r#""loaded":30"#) {
            break;
        }
    }
    assert!(log.contains(r#""loaded":30"#), "loader ended early: {log}");
    assert!(
        warehouse_ids(&wh).is_empty(),
        "nothing is durable before the signal"
    );
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    for line in lines {
        log.push_str(&line.expect("stderr line"));
        log.push('\n');
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}: {log}");
    assert_eq!(warehouse_ids(&wh).len(), 30, "{log}");

    let again = tokio::task::spawn_blocking(move || load(&brokers, &topic, &group, &wh, &[]))
        .await
        .expect("join");
    assert!(
        stderr(&again).contains("loaded 0 action(s)"),
        "the offsets were committed at shutdown: {}",
        stderr(&again)
    );
}
