//! Where converted actions go: the [`Sink`] trait and the sinks that need no infrastructure.
//! The others are crates of their own: `actionlog-kafka` (Kafka), `actionlog-otlp` (OTLP log
//! events for a Collector), `actionlog-warehouse` (the embedded Parquet warehouse).
//!
//! A sink receives batches of [`UserAction`]s. `write` resolves only once the batch is
//! accepted (written, acknowledged, ...) or has failed; the exporter and the bridge report
//! success upstream only after that. Sinks are shared (`Arc<dyn Sink>`) and may be called
//! concurrently.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::proto::UserAction;

mod file;
mod stdout;

pub use file::{FileFormat, FileSink};
pub use stdout::StdoutSink;

/// Why a sink did not accept a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The destination is temporarily unable to take data (broker down, buffer full). The
    /// caller may retry the same batch later; nothing of it was accepted.
    #[error("sink {sink}: temporarily unavailable: {message}")]
    Unavailable {
        /// The sink's name.
        sink: String,
        /// What happened.
        message: String,
    },
    /// The destination refused the data for good (too large, unknown topic, not
    /// authorised). Retrying the same batch will not help.
    #[error("sink {sink}: rejected {count} action(s): {message}")]
    Rejected {
        /// The sink's name.
        sink: String,
        /// How many actions of the batch were refused.
        count: usize,
        /// What happened.
        message: String,
    },
    /// The sink did not answer within the caller's deadline. Nothing can be said of the
    /// batch (it may still be delivered): a retry may duplicate it, but loses nothing.
    #[error("sink {sink}: timed out after {after:?}")]
    TimedOut {
        /// The sink's name.
        sink: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// An I/O error writing to a local file or stream.
    #[error("sink {sink}: I/O error: {source}")]
    Io {
        /// The sink's name.
        sink: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Shutdown finished with actions still undelivered.
    #[error("sink {sink}: shut down with {undelivered} action(s) undelivered")]
    Undelivered {
        /// The sink's name.
        sink: String,
        /// How many accepted actions could not be delivered before the deadline.
        undelivered: u64,
    },
    /// The sink was already shut down.
    #[error("sink {sink}: already shut down")]
    ShutDown {
        /// The sink's name.
        sink: String,
    },
}

impl SinkError {
    /// Whether the same batch may succeed if sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SinkError::Unavailable { .. } | SinkError::TimedOut { .. }
        )
    }
}

/// When the actions a sink accepted survive a crash: what a caller that must not lose them
/// (the bridge's spool, which forgets a record only once every sink holds it durably) waits
/// for, and how often it should flush to get there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Once `write` returned: the destination acknowledged the batch (a Kafka broker with
    /// `acks=all`, a collector, a file synced on every batch).
    OnWrite,
    /// Once a later `flush` returned (an unsynced file: `fdatasync`; the warehouse: its open
    /// files closed and synced). `every` is how often a flush is worth its cost: zero when
    /// it is a cheap sync, longer when each flush ends a file.
    OnFlush {
        /// The shortest sensible time between two flushes.
        every: Duration,
    },
}

impl Durability {
    /// The weaker of two: what a set of sinks promises together.
    pub fn weakest(self, other: Durability) -> Durability {
        match (self, other) {
            (Durability::OnWrite, d) | (d, Durability::OnWrite) => d,
            (Durability::OnFlush { every: a }, Durability::OnFlush { every: b }) => {
                Durability::OnFlush { every: a.min(b) }
            }
        }
    }
}

/// A destination for [`UserAction`]s: async, batched, fallible, with flush and shutdown.
#[async_trait]
pub trait Sink: Send + Sync + Debug + 'static {
    /// A short name for logs and metrics (`file`, `kafka`, ...).
    fn name(&self) -> &str;

    /// Hands a batch to the sink. Resolves once the sink has accepted every action of the
    /// batch (for a file: written to the OS; for Kafka: acknowledged by the broker), or with
    /// the reason it did not.
    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError>;

    /// Whether this sink writes [`EncodedBatch`]es without decoding them, so that callers
    /// should encode while converting (see [`crate::convert::convert_encoded`]) rather than
    /// build `UserAction`s. False unless the sink overrides [`Sink::write_encoded`].
    fn takes_encoded(&self) -> bool {
        false
    }

    /// Hands a batch of already-encoded actions to the sink, with the meaning of
    /// [`Sink::write`]. The default decodes the batch and calls `write`.
    async fn write_encoded(&self, batch: &EncodedBatch) -> Result<(), SinkError> {
        let actions = batch.decode().map_err(|e| SinkError::Rejected {
            sink: self.name().to_owned(),
            count: batch.len(),
            message: e.to_string(),
        })?;
        self.write(&actions).await
    }

    /// Makes everything accepted so far durable or delivered (fsync, producer flush).
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// When accepted actions survive a crash (see [`Durability`]). The default, for a sink
    /// that says nothing, is the safe one: only after a flush, which is cheap.
    fn durability(&self) -> Durability {
        Durability::OnFlush {
            every: Duration::ZERO,
        }
    }

    /// Flushes, then releases resources. Later writes fail with [`SinkError::ShutDown`].
    /// Must return within `timeout`; actions it could not deliver by then are reported as
    /// [`SinkError::Undelivered`].
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        match tokio::time::timeout(timeout, self.flush()).await {
            Ok(r) => r,
            Err(_) => Err(SinkError::TimedOut {
                sink: self.name().to_owned(),
                after: timeout,
            }),
        }
    }
}

/// A sink that accepts and discards everything, counting what it saw. For benchmarks and
/// for measuring the cost of the path in front of a sink.
#[derive(Debug, Default)]
pub struct NullSink {
    actions: AtomicU64,
}

impl NullSink {
    /// A new sink with a zero count.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many actions were written to this sink.
    pub fn count(&self) -> u64 {
        self.actions.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Sink for NullSink {
    fn name(&self) -> &str {
        "null"
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        self.actions
            .fetch_add(actions.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn durability(&self) -> Durability {
        Durability::OnWrite
    }

    fn takes_encoded(&self) -> bool {
        true
    }

    async fn write_encoded(&self, batch: &EncodedBatch) -> Result<(), SinkError> {
        self.actions
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A batch of actions encoded as length-delimited `UserAction` protobuf (the framing of
/// [`crate::codec`]), as written by [`crate::convert::convert_encoded`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedBatch {
    bytes: Vec<u8>,
    count: usize,
}

impl EncodedBatch {
    /// An empty batch with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    /// The buffer to append one length-delimited action to; call [`EncodedBatch::added`]
    /// after appending.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Records that one action was appended to [`EncodedBatch::buffer`].
    pub fn added(&mut self) {
        self.count += 1;
    }

    /// Appends one action.
    pub fn push(&mut self, action: &UserAction) {
        crate::codec::encode_length_delimited(action, &mut self.bytes);
        self.count += 1;
    }

    /// How many actions the batch holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch holds no action.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Decodes the actions back.
    pub fn decode(&self) -> Result<Vec<UserAction>, crate::codec::DecodeError> {
        crate::codec::LengthDelimitedReader::new(self.bytes.as_slice()).collect()
    }
}

/// Sends every batch to several sinks concurrently. A batch succeeds only if every sink
/// accepted it; the first error is returned (a retryable one is preferred, so a caller
/// retries rather than drops when any sink pushed back).
#[derive(Debug)]
pub struct FanoutSink {
    sinks: Vec<Arc<dyn Sink>>,
}

impl FanoutSink {
    /// Fans out to `sinks` (in this order for flush and shutdown).
    pub fn new(sinks: Vec<Arc<dyn Sink>>) -> Self {
        Self { sinks }
    }

    fn pick(results: Vec<Result<(), SinkError>>) -> Result<(), SinkError> {
        let mut first: Option<SinkError> = None;
        for r in results {
            if let Err(e) = r {
                match &first {
                    Some(f) if f.is_retryable() || !e.is_retryable() => {}
                    _ => first = Some(e),
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Sink for FanoutSink {
    fn name(&self) -> &str {
        "fanout"
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        let results = futures::future::join_all(self.sinks.iter().map(|s| s.write(actions))).await;
        Self::pick(results)
    }

    fn takes_encoded(&self) -> bool {
        self.sinks.iter().all(|s| s.takes_encoded())
    }

    async fn write_encoded(&self, batch: &EncodedBatch) -> Result<(), SinkError> {
        let results =
            futures::future::join_all(self.sinks.iter().map(|s| s.write_encoded(batch))).await;
        Self::pick(results)
    }

    async fn flush(&self) -> Result<(), SinkError> {
        let results = futures::future::join_all(self.sinks.iter().map(|s| s.flush())).await;
        Self::pick(results)
    }

    fn durability(&self) -> Durability {
        self.sinks
            .iter()
            .map(|s| s.durability())
            .fold(Durability::OnWrite, Durability::weakest)
    }

    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        let results =
            futures::future::join_all(self.sinks.iter().map(|s| s.shutdown(timeout))).await;
        Self::pick(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Failing(bool);

    #[async_trait]
    impl Sink for Failing {
        fn name(&self) -> &str {
            "failing"
        }
        async fn write(&self, _: &[UserAction]) -> Result<(), SinkError> {
            if self.0 {
                Err(SinkError::Unavailable {
                    sink: "failing".into(),
                    message: "down".into(),
                })
            } else {
                Err(SinkError::Rejected {
                    sink: "failing".into(),
                    count: 1,
                    message: "too big".into(),
                })
            }
        }
    }

    #[tokio::test]
    async fn fanout_writes_to_all_and_prefers_retryable_errors() {
        let null = Arc::new(NullSink::new());
        let fan = FanoutSink::new(vec![
            null.clone(),
            Arc::new(Failing(false)),
            Arc::new(Failing(true)),
        ]);
        let err = fan.write(&[UserAction::default()]).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(null.count(), 1);

        let ok = FanoutSink::new(vec![null.clone()]);
        ok.write(&[UserAction::default(), UserAction::default()])
            .await
            .unwrap();
        assert_eq!(null.count(), 3);
    }
}
