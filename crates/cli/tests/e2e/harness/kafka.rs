//! Kafka for the end-to-end tests: the suite's broker, Tansu brokers a test starts and
//! kills itself, topics, and a consumer that reads what the sink wrote.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actionlog::UserAction;
use actionlog_kafka::KafkaSinkConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::free_port;

pub(crate) fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!("KAFKA_BROKERS is not set: run scripts/test.sh (it starts a Tansu broker) or point it at a Kafka cluster")
    })
}

fn tansu_bin() -> PathBuf {
    let p = std::env::var("TANSU_BIN").unwrap_or_else(|_| {
        panic!("TANSU_BIN is not set: run scripts/test.sh (it installs Tansu) or set it to a tansu binary")
    });
    assert!(
        std::path::Path::new(&p).exists(),
        "TANSU_BIN={p} does not exist"
    );
    PathBuf::from(p)
}

/// A Tansu broker of the test's own, with memory storage; killed when dropped.
pub(crate) struct Tansu {
    pub(crate) child: Child,
    port: u16,
}

impl Tansu {
    /// A broker on `port`, which the test needs (a sink already points there). Fails clearly
    /// when another process holds the port.
    pub(crate) fn start(port: u16, extra: &[&str]) -> Self {
        Self::try_start(port, extra).unwrap_or_else(|| {
            panic!("tansu exited instead of listening on {port}: another process holds the port?")
        })
    }

    /// A broker on a port found free. Finding one means binding port 0 and letting go, so
    /// another process can take it before Tansu binds it: then it tries again on a new one.
    pub(crate) fn start_on_free_port(extra: &[&str]) -> Self {
        for _ in 0..5 {
            if let Some(t) = Self::try_start(free_port(), extra) {
                return t;
            }
        }
        panic!("tansu lost the race for a free port five times");
    }

    /// `None` when Tansu exits before or just after the port answers (it could not bind it,
    /// and whatever answered is another process).
    pub(crate) fn try_start(port: u16, extra: &[&str]) -> Option<Self> {
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start tansu");
        let exited = |c: &mut Child| matches!(c.try_wait(), Ok(Some(_)));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if exited(&mut child) {
                return None;
            }
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Tansu exits when it cannot bind; this pause lets that show when the port answered
        // because someone else listens on it.
        std::thread::sleep(Duration::from_millis(300));
        if exited(&mut child) {
            return None;
        }
        Some(Self { child, port })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no clean shutdown, so nothing in flight gets an answer.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub(crate) async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("cannot create topic {t}: {e}"));
    }
}

/// Reads every partition of `topic` from the beginning until `expect` messages arrived,
/// then one more second to catch any extra one.
pub(crate) fn consume_all(brokers: &str, topic: &str, expect: usize) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique_topic("test-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let meta = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in meta.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stop_at: Option<Instant> = None;
    while Instant::now() < deadline && stop_at.is_none_or(|s| Instant::now() < s) {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            out.push(m.expect("consume").detach());
            if out.len() == expect {
                stop_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }
    out
}

pub(crate) fn action(user: &str, seq: usize) -> UserAction {
    UserAction {
        user: Some(user.to_owned()),
        command: Some("kafka_test".to_owned()),
        keyword_args_json: Some(format!(r#"{{"seq":{seq}}}"#).into()),
        trace_id: Some(format!("{:032x}", seq + 1)),
        span_id: Some(format!("{:016x}", seq + 1)),
        ..Default::default()
    }
}

pub(crate) fn seq_of(a: &UserAction) -> usize {
    let kw: serde_json::Value =
        serde_json::from_str(&a.keyword_args_json.as_ref().expect("kwargs").value).expect("json");
    kw["seq"].as_u64().expect("seq") as usize
}

pub(crate) fn config(brokers: &str, topic: &str) -> KafkaSinkConfig {
    KafkaSinkConfig::new(brokers).with_topic(topic)
}

pub(crate) async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
