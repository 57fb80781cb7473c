//! The core crate's integration tests: one binary, one module per area, so it links once.
//! The decorator, the exporter, `tracing` spans and the wire format, against real SDK
//! pipelines and an independent protobuf implementation (Python's). The tests that drive the
//! `actionlog` binary live with it, in `crates/cli/tests/e2e/`.

mod support;

mod decorator;
mod exporter;
mod log_events;
mod tracing_compat;
mod wire_compat;
