//! The integration test binary: one binary, one module per area, so it links once.

mod support;

mod amundsen_plugin;
mod bridge;
mod cli;
mod collector_config;
mod decorator;
mod duckdb;
mod exporter;
mod generate;
#[cfg(feature = "kafka")]
mod kafka;
mod kpi;
mod security;
mod tracing_compat;
mod ui;
mod wire_compat;
