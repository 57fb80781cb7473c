//! # actionlog-kafka
//!
//! The Kafka sink: `UserAction` protobuf on a topic, acknowledged by the broker before a
//! write resolves; add it beside the core crate to send a service's actions to Kafka
//! (`UserActionExporter::builder().with_sink(Arc::new(KafkaSink::new(config)?))`). Also the
//! consumer side that `actionlog load` and `actionlog tail` use ([`consumer_config`],
//! [`decode_value`]). See `docs/kafka.md` for the delivery semantics, the buffer policy and
//! the Schema Registry framing. Features: `clap` (the settings as command-line flags),
//! `tls` (TLS and SASL, builds OpenSSL).

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod config;
mod encode;
mod sink;

pub use config::{
    BufferFullPolicy, Compression, KafkaConfigError, KafkaSinkConfig, StartFrom, consumer_config,
};
pub use encode::{
    CONTENT_TYPE, HEADER_CONTENT_TYPE, HEADER_MESSAGE_NAME, HEADER_TRACEPARENT, TRACEPARENT_LEN,
    confluent_framing, decode_value, encode_value, encode_value_into, traceparent,
    write_traceparent,
};
pub use sink::{KafkaSink, KafkaStats};
