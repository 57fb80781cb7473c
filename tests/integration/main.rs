//! The integration test binary: one binary, one module per area, so it links once.

mod support;

mod cli;
mod decorator;
mod exporter;
mod tracing_compat;
mod ui;
mod wire_compat;
#[cfg(feature = "kafka")]
mod kafka;
