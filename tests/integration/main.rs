//! The integration test binary: one binary, one module per area, so it links once.

mod support;

mod amundsen_plugin;
mod bad_input;
mod bridge;
mod cli;
mod collector_config;
mod decorator;
mod duckdb;
mod exporter;
#[cfg(feature = "kafka")]
mod faults;
mod generate;
// The fuzz targets' checks (fuzz/src/lib.rs), replayed over the corpus by fuzz_regressions.
#[cfg(feature = "kafka")]
#[path = "../../fuzz/src/lib.rs"]
mod fuzz_checks;
#[cfg(feature = "kafka")]
mod fuzz_regressions;
#[cfg(feature = "kafka")]
mod kafka;
mod kpi;
#[cfg(feature = "kafka")]
mod load;
mod security;
mod tracing_compat;
mod ui;
mod wire_compat;
