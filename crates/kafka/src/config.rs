//! The Kafka sink's settings: a documented serde/clap struct with safe defaults and a raw
//! librdkafka pass-through for everything else (TLS, SASL, tuning).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// What a write does when the producer's bounded buffer is full (broker slow or down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum BufferFullPolicy {
    /// Wait for room up to `block_timeout_ms`, then count the rest as dropped and fail the
    /// write. Slows the exporter down instead of losing events while the outage is short.
    Block,
    /// Drop the newest events at once, counting them and logging a line. Never slows the
    /// exporter down.
    DropNewest,
}

/// Compression codec of produced batches. All of these are built into librdkafka here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// No compression.
    None,
    /// LZ4: cheap on CPU, good on repetitive JSON arguments.
    Lz4,
    /// Snappy.
    Snappy,
    /// Gzip: smallest, slowest.
    Gzip,
}

impl Compression {
    const fn as_librdkafka(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
            Compression::Gzip => "gzip",
        }
    }
}

/// Settings of a [`KafkaSink`](super::KafkaSink).
///
/// `acks=all` is fixed: "nothing lost" depends on it. Idempotence is on by default and can
/// only be turned off explicitly (see [`idempotence`](Self::idempotence)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap brokers, comma-separated `host:port` (librdkafka `bootstrap.servers`).
    #[cfg_attr(feature = "clap", arg(long = "kafka-brokers", env = "KAFKA_BROKERS"))]
    pub brokers: String,
    /// Topic the actions are produced to.
    #[cfg_attr(
        feature = "clap",
        arg(long = "kafka-topic", default_value = "user_actions")
    )]
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Compression codec of produced batches.
    #[cfg_attr(feature = "clap", arg(long = "kafka-compression", value_enum, default_value_t = Compression::Lz4))]
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// How long the producer waits to fill a batch (librdkafka `linger.ms`).
    #[cfg_attr(feature = "clap", arg(long = "kafka-linger-ms", default_value_t = default_linger_ms()))]
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u32,
    /// Upper bound on the time an event may wait for an acknowledgement, retries included
    /// (librdkafka `message.timeout.ms`). After it the event is reported failed; nothing
    /// retries forever.
    #[cfg_attr(feature = "clap", arg(long = "kafka-message-timeout-ms", default_value_t = default_message_timeout_ms()))]
    #[serde(default = "default_message_timeout_ms")]
    pub message_timeout_ms: u32,
    /// Most events waiting in the producer's buffer (librdkafka
    /// `queue.buffering.max.messages`).
    #[cfg_attr(feature = "clap", arg(long = "kafka-buffer-max-messages", default_value_t = default_buffer_max_messages()))]
    #[serde(default = "default_buffer_max_messages")]
    pub buffer_max_messages: u32,
    /// Most kilobytes waiting in the producer's buffer (librdkafka
    /// `queue.buffering.max.kbytes`).
    #[cfg_attr(feature = "clap", arg(long = "kafka-buffer-max-kbytes", default_value_t = default_buffer_max_kbytes()))]
    #[serde(default = "default_buffer_max_kbytes")]
    pub buffer_max_kbytes: u32,
    /// What a write does when the buffer is full.
    #[cfg_attr(feature = "clap", arg(long = "kafka-when-full", value_enum, default_value_t = BufferFullPolicy::Block))]
    #[serde(default = "default_when_full")]
    pub when_full: BufferFullPolicy,
    /// With `when_full = block`: how long a write waits for room before giving up.
    #[cfg_attr(feature = "clap", arg(long = "kafka-block-timeout-ms", default_value_t = default_block_timeout_ms()))]
    #[serde(default = "default_block_timeout_ms")]
    pub block_timeout_ms: u32,
    /// Largest encoded message accepted (librdkafka `message.max.bytes`); set it to the
    /// broker's `message.max.bytes` so oversized events fail at once, locally.
    #[cfg_attr(feature = "clap", arg(long = "kafka-max-message-bytes", default_value_t = default_max_message_bytes()))]
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u32,
    /// Idempotent producer (`enable.idempotence`): retries never duplicate or reorder an
    /// event. Turn it off only for brokers that lose producer state, such as a Tansu broker
    /// restarted on memory storage, which answers every later produce with "unknown
    /// producer id"; the sink then keeps order with one request in flight per connection and
    /// delivers at least once (a retry after a lost acknowledgement may duplicate).
    #[cfg_attr(feature = "clap", arg(long = "kafka-idempotence", default_value_t = default_idempotence(), action = clap::ArgAction::Set))]
    #[serde(default = "default_idempotence")]
    pub idempotence: bool,
    /// Let the broker create the topic on first use. Off by default, so a misspelt topic
    /// fails loudly instead of appearing with the broker's default partitioning.
    #[cfg_attr(feature = "clap", arg(long = "kafka-auto-create-topic"))]
    #[serde(default)]
    pub auto_create_topic: bool,
    /// Confluent Schema Registry id of `actionlog.v1.UserAction`. When set, values use the
    /// registry wire format (magic byte, schema id, message indexes); plain protobuf
    /// otherwise.
    #[cfg_attr(feature = "clap", arg(long = "kafka-schema-id"))]
    #[serde(default)]
    pub schema_id: Option<u32>,
    /// Any other librdkafka setting, passed through as is (`security.protocol`, `sasl.*`,
    /// `ssl.*`, `client.id`, ...). Settings that the typed fields own are rejected. Not a
    /// command-line flag: commands take `-X KEY=VALUE` and fill this map.
    #[cfg_attr(feature = "clap", arg(skip))]
    #[serde(default)]
    pub librdkafka_options: BTreeMap<String, String>,
}

fn default_topic() -> String {
    "user_actions".to_owned()
}
const fn default_compression() -> Compression {
    Compression::Lz4
}
const fn default_linger_ms() -> u32 {
    5
}
const fn default_message_timeout_ms() -> u32 {
    120_000
}
const fn default_buffer_max_messages() -> u32 {
    100_000
}
const fn default_buffer_max_kbytes() -> u32 {
    64 * 1024
}
const fn default_idempotence() -> bool {
    true
}
const fn default_when_full() -> BufferFullPolicy {
    BufferFullPolicy::Block
}
const fn default_block_timeout_ms() -> u32 {
    5_000
}
const fn default_max_message_bytes() -> u32 {
    1_000_000
}

/// librdkafka settings set from typed fields or fixed for delivery safety; a pass-through
/// value for one of them would silently change the semantics `docs/kafka.md` promises.
const OWNED_KEYS: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "compression.type",
    "compression.codec",
    "linger.ms",
    "queue.buffering.max.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "message.max.bytes",
    "allow.auto.create.topics",
];

/// Why a Kafka sink configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaConfigError {
    /// `brokers` or `topic` is empty.
    #[error("kafka sink: {0} must not be empty")]
    Empty(&'static str),
    /// A pass-through option names a setting that a typed field owns.
    #[error("kafka sink: librdkafka option {0:?} is set by the sink; use its typed setting")]
    OwnedOption(String),
    /// librdkafka refused the configuration.
    #[error("kafka sink: librdkafka refused the configuration: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
}

impl KafkaSinkConfig {
    /// Defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: default_topic(),
            compression: default_compression(),
            linger_ms: default_linger_ms(),
            message_timeout_ms: default_message_timeout_ms(),
            buffer_max_messages: default_buffer_max_messages(),
            buffer_max_kbytes: default_buffer_max_kbytes(),
            when_full: default_when_full(),
            block_timeout_ms: default_block_timeout_ms(),
            max_message_bytes: default_max_message_bytes(),
            idempotence: default_idempotence(),
            auto_create_topic: false,
            schema_id: None,
            librdkafka_options: BTreeMap::new(),
        }
    }

    /// Sets the topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// Adds a raw librdkafka setting.
    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.librdkafka_options.insert(key.into(), value.into());
        self
    }

    /// The block timeout as a duration.
    pub fn block_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.block_timeout_ms))
    }

    /// Checks the settings and renders the librdkafka producer configuration.
    pub fn producer_config(&self) -> Result<ClientConfig, KafkaConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(KafkaConfigError::Empty("brokers"));
        }
        if self.topic.trim().is_empty() {
            return Err(KafkaConfigError::Empty("topic"));
        }
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("acks", "all")
            .set("enable.idempotence", self.idempotence.to_string())
            .set("compression.type", self.compression.as_librdkafka())
            .set("linger.ms", self.linger_ms.to_string())
            .set("message.timeout.ms", self.message_timeout_ms.to_string())
            .set(
                "queue.buffering.max.messages",
                self.buffer_max_messages.to_string(),
            )
            .set(
                "queue.buffering.max.kbytes",
                self.buffer_max_kbytes.to_string(),
            )
            .set("message.max.bytes", self.max_message_bytes.to_string())
            .set(
                "allow.auto.create.topics",
                if self.auto_create_topic {
                    "true"
                } else {
                    "false"
                },
            )
            // The Java client's partitioner, so a user's actions land in the same partition
            // whichever client produced them.
            .set("partitioner", "murmur2_random")
            .set("client.id", "actionlog");
        if !self.idempotence {
            // Without sequence numbers, only one request in flight keeps a retry from
            // overtaking the batch behind it.
            c.set("max.in.flight.requests.per.connection", "1");
        }
        for (k, v) in &self.librdkafka_options {
            if OWNED_KEYS.contains(&k.as_str()) {
                return Err(KafkaConfigError::OwnedOption(k.clone()));
            }
            c.set(k, v);
        }
        Ok(c)
    }
}

/// Where a consumer group without committed offsets starts reading (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum StartFrom {
    /// The oldest retained event.
    Earliest,
    /// Only events produced from now on.
    Latest,
}

/// The consumer settings of `actionlog load` and `actionlog tail`: brokers, group, start,
/// a 6 s session timeout (the 45 s default makes every restart wait for the old member),
/// the client id, then `fixed` settings, then the user's `-X KEY=VALUE` options (last, so
/// they win).
pub fn consumer_config(
    brokers: &str,
    group: &str,
    from: StartFrom,
    client_id: &str,
    fixed: &[(&str, &str)],
    options: &[String],
) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set(
            "auto.offset.reset",
            match from {
                StartFrom::Earliest => "earliest",
                StartFrom::Latest => "latest",
            },
        )
        .set("session.timeout.ms", "6000")
        .set("client.id", client_id);
    for (k, v) in fixed {
        config.set(*k, *v);
    }
    for option in options {
        let (k, v) = option
            .split_once('=')
            .ok_or_else(|| format!("-X expects KEY=VALUE, got {option:?}"))?;
        config.set(k.trim(), v);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    #[test]
    fn consumer_config_puts_user_options_last_and_refuses_malformed_ones() {
        let c = consumer_config(
            "b:9092",
            "g",
            StartFrom::Earliest,
            "id",
            &[("enable.auto.commit", "false")],
            &["session.timeout.ms=10000".into()],
        )
        .unwrap();
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("session.timeout.ms"), Some("10000"));
        let err =
            consumer_config("b", "g", StartFrom::Latest, "id", &[], &["nokey".into()]).unwrap_err();
        assert!(err.contains("KEY=VALUE"), "{err}");
    }

    use super::*;

    #[test]
    fn safe_defaults_and_pass_through() {
        let c = KafkaSinkConfig::new("127.0.0.1:9092")
            .with_option("security.protocol", "sasl_ssl")
            .with_option("client.id", "me")
            .producer_config()
            .unwrap();
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("compression.type"), Some("lz4"));
        assert_eq!(c.get("message.timeout.ms"), Some("120000"));
        assert_eq!(c.get("allow.auto.create.topics"), Some("false"));
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("client.id"), Some("me"));
    }

    #[test]
    fn owned_options_and_empty_fields_are_refused() {
        let e = KafkaSinkConfig::new("b:9092")
            .with_option("acks", "1")
            .producer_config()
            .unwrap_err();
        assert!(matches!(e, KafkaConfigError::OwnedOption(k) if k == "acks"));
        assert!(matches!(
            KafkaSinkConfig::new(" ").producer_config(),
            Err(KafkaConfigError::Empty("brokers"))
        ));
    }

    #[test]
    fn serde_fills_defaults() {
        let c: KafkaSinkConfig =
            serde_json::from_str(r#"{"brokers":"b:9092","schema_id":7}"#).unwrap();
        assert_eq!(
            c,
            KafkaSinkConfig {
                schema_id: Some(7),
                ..KafkaSinkConfig::new("b:9092")
            }
        );
        assert!(serde_json::from_str::<KafkaSinkConfig>(r#"{"brokers":"b","acks":"1"}"#).is_err());
    }
}
