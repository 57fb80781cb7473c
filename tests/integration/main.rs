//! The integration test binary: one binary, one module per area, so it links once.

mod support;

mod amundsen_plugin;
mod bridge;
mod cli;
mod collector_config;
mod decorator;
mod exporter;
mod tracing_compat;
mod ui;
mod wire_compat;
