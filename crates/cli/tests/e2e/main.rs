//! The end-to-end test binary of the `actionlog` command: one binary, one module per area,
//! so it links once. Everything here drives the real binary, real brokers (Tansu) and real
//! peers (the OpenTelemetry Python SDK, DuckDB, confluent-kafka); the core crate's own
//! integration tests are in the top-level `tests/integration/`.

// The core tests' helpers (the Python interpreter, a collecting sink), shared as one file.
#[allow(dead_code)]
#[path = "../../../../tests/integration/support.rs"]
mod support;

mod harness;

mod amundsen_plugin;
mod bad_input;
mod ballista;
mod bridge;
mod cli;
mod collector_config;
mod duckdb;
#[cfg(feature = "kafka")]
mod faults;
// The fuzz targets' checks (fuzz/src/lib.rs), replayed over the corpus by fuzz_regressions.
#[cfg(feature = "kafka")]
#[path = "../../../../fuzz/src/lib.rs"]
mod fuzz_checks;
#[cfg(feature = "kafka")]
mod fuzz_regressions;
mod generate;
#[cfg(feature = "kafka")]
mod kafka;
mod kpi;
#[cfg(feature = "kafka")]
mod load;
mod logs;
mod security;
mod spark;
