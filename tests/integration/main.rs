#[cfg(feature = "kafka")]
mod kafka;
