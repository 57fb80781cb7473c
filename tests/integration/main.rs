//! The integration test binary: one binary, one module per area, so it links once.

mod support;

mod cli;
mod decorator;
mod exporter;
#[cfg(feature = "kafka")]
mod kafka;
mod tracing_compat;
mod ui;
mod wire_compat;
