//! The Kafka sink: `UserAction` protobuf on a topic, acknowledged by the broker before a
//! write resolves (feature `kafka`, on by default). See `docs/kafka.md` for the delivery
//! semantics, the buffer policy and the Schema Registry framing.

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
