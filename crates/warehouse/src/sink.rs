//! [`WarehouseSink`]: the embedded default destination of the exporter and of a server.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{WarehouseError, WarehouseWriter};
use actionlog::proto::UserAction;
use actionlog::sink::{Durability, Sink, SinkError};

/// How often a caller that needs durable rows (the bridge's spool) flushes a warehouse sink
/// under continuous load: each flush closes one file per open partition, so this bounds the
/// number of files a busy bridge writes (one per partition per second) as much as it bounds
/// what a crash makes the spool send again.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A [`Sink`] that lands actions in the Parquet warehouse.
///
/// `write` resolves once the batch is appended to the open file of its partition (the
/// Parquet analogue of "written to the OS"); `flush` closes the open files, which makes
/// them durable and visible to readers; files also close by size and age on later writes.
#[derive(Debug)]
pub struct WarehouseSink {
    writer: Mutex<WarehouseWriter>,
    closed: AtomicBool,
}

impl WarehouseSink {
    /// A sink writing into the warehouse directory `dir` with the default limits.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, WarehouseError> {
        Ok(Self::new(WarehouseWriter::open(dir)?))
    }

    /// A sink over a configured writer.
    pub fn new(writer: WarehouseWriter) -> Self {
        Self {
            writer: Mutex::new(writer),
            closed: AtomicBool::new(false),
        }
    }

    fn err(e: WarehouseError) -> SinkError {
        match e {
            WarehouseError::Io { source, .. } => SinkError::Io {
                sink: "warehouse".into(),
                source,
            },
            other => SinkError::Rejected {
                sink: "warehouse".into(),
                count: 0,
                message: other.to_string(),
            },
        }
    }
}

#[async_trait]
impl Sink for WarehouseSink {
    fn name(&self) -> &str {
        "warehouse"
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SinkError::ShutDown {
                sink: "warehouse".into(),
            });
        }
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.write(actions)
            .map(|_| ())
            .map_err(|e| match Self::err(e) {
                SinkError::Rejected { sink, message, .. } => SinkError::Rejected {
                    sink,
                    count: actions.len(),
                    message,
                },
                other => other,
            })
    }

    async fn flush(&self) -> Result<(), SinkError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.flush().map(|_| ()).map_err(Self::err)
    }

    /// Rows are durable once their file is closed: by a flush, which ends a file per open
    /// partition, so callers flush at most every [`FLUSH_EVERY`].
    fn durability(&self) -> Durability {
        Durability::OnFlush { every: FLUSH_EVERY }
    }

    async fn shutdown(&self, _timeout: Duration) -> Result<(), SinkError> {
        self.closed.store(true, Ordering::Release);
        self.flush().await
    }
}
