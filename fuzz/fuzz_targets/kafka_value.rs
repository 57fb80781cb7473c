//! Kafka message values in both wire formats: plain protobuf and Schema Registry framing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| actionlog_fuzz::check_kafka_value(data));
