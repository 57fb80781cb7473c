//! The integration test binary: one binary, one module per area, so it links once.

mod support;

mod amundsen_plugin;
mod bridge;
mod cli;
mod collector_config;
mod decorator;
mod duckdb;
mod exporter;
#[cfg(feature = "kafka")]
mod faults;
mod generate;
#[cfg(feature = "kafka")]
mod kafka;
mod kpi;
mod tracing_compat;
mod ui;
mod wire_compat;
