//! A sink that appends actions to a local file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::{Durability, EncodedBatch, Sink, SinkError};
use crate::codec::encode_length_delimited;
use crate::json::to_json_line;
use crate::proto::UserAction;

/// How [`FileSink`] writes each action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFormat {
    /// Length-delimited protobuf (varint length, then the message): compact, and what
    /// `actionlog decode` reads.
    #[default]
    Protobuf,
    /// One JSON object per line (the JSON view of `actionlog::json`).
    Jsonl,
}

/// Appends actions to a file, one batch per `write` call.
///
/// Each batch is encoded in memory and written with a single `write_all`, so a crash
/// leaves at most the tail of one batch partially written (which `decode` reports as a
/// truncated record at its offset). With [`FileSink::with_sync`] every batch is also
/// `fdatasync`ed before `write` returns; otherwise data reaches the disk on `flush`,
/// `shutdown`, or when the OS decides.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    format: FileFormat,
    sync_each_batch: bool,
    file: Mutex<Option<File>>,
    closed: AtomicBool,
}

impl FileSink {
    /// Opens `path` for appending (created if missing, with its parent directories).
    pub fn open(path: impl AsRef<Path>, format: FileFormat) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            format,
            sync_each_batch: false,
            file: Mutex::new(Some(file)),
            closed: AtomicBool::new(false),
        })
    }

    /// Syncs every batch to disk before acknowledging it.
    pub fn with_sync(mut self, sync: bool) -> Self {
        self.sync_each_batch = sync;
        self
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_err(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            sink: format!("file:{}", self.path.display()),
            source,
        }
    }

    fn write_bytes(&self, buf: &[u8]) -> Result<(), SinkError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SinkError::ShutDown {
                sink: "file".into(),
            });
        }
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let Some(file) = guard.as_mut() else {
            return Err(SinkError::ShutDown {
                sink: "file".into(),
            });
        };
        file.write_all(buf).map_err(|e| self.io_err(e))?;
        if self.sync_each_batch {
            file.sync_data().map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    fn encode(&self, actions: &[UserAction]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(actions.len() * 256);
        for a in actions {
            match self.format {
                FileFormat::Protobuf => encode_length_delimited(a, &mut buf),
                FileFormat::Jsonl => {
                    buf.extend_from_slice(to_json_line(a).as_bytes());
                    buf.push(b'\n');
                }
            }
        }
        buf
    }
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        "file"
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        let buf = self.encode(actions);
        self.write_bytes(&buf)
    }

    fn takes_encoded(&self) -> bool {
        self.format == FileFormat::Protobuf
    }

    async fn write_encoded(&self, batch: &EncodedBatch) -> Result<(), SinkError> {
        if self.format != FileFormat::Protobuf {
            let actions = batch.decode().map_err(|e| SinkError::Rejected {
                sink: "file".into(),
                count: batch.len(),
                message: e.to_string(),
            })?;
            return self.write(&actions).await;
        }
        // The batch is already in this file's framing.
        self.write_bytes(batch.as_bytes())
    }

    async fn flush(&self) -> Result<(), SinkError> {
        let guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = guard.as_ref() {
            file.sync_data().map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    /// Synced on every batch, a write is durable; otherwise a flush (one `fdatasync`) is.
    fn durability(&self) -> Durability {
        if self.sync_each_batch {
            Durability::OnWrite
        } else {
            Durability::OnFlush {
                every: std::time::Duration::ZERO,
            }
        }
    }

    async fn shutdown(&self, _timeout: std::time::Duration) -> Result<(), SinkError> {
        self.closed.store(true, Ordering::Release);
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = guard.take() {
            file.sync_all().map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::LengthDelimitedReader;

    #[tokio::test]
    async fn appends_batches_and_refuses_after_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/actions.pb");
        let sink = FileSink::open(&path, FileFormat::Protobuf).unwrap();
        let a = UserAction {
            command: Some("x".into()),
            ..Default::default()
        };
        sink.write(&[a.clone(), a.clone()]).await.unwrap();
        sink.write(std::slice::from_ref(&a)).await.unwrap();
        sink.shutdown(std::time::Duration::from_secs(1))
            .await
            .unwrap();
        assert!(matches!(
            sink.write(std::slice::from_ref(&a)).await,
            Err(SinkError::ShutDown { .. })
        ));
        let n = LengthDelimitedReader::new(File::open(&path).unwrap())
            .map(|r| r.unwrap())
            .filter(|r| r == &a)
            .count();
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn jsonl_is_one_object_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("actions.jsonl");
        let sink = FileSink::open(&path, FileFormat::Jsonl).unwrap();
        let a = UserAction {
            command: Some("x".into()),
            user: Some("u".into()),
            ..Default::default()
        };
        sink.write(&[a.clone(), a]).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"command\":\"x\",\"user\":\"u\"}\n{\"command\":\"x\",\"user\":\"u\"}\n"
        );
    }
}
