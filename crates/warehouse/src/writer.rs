//! The Parquet writer: one open file per partition, written under a temporary name and
//! renamed once complete and synced, rolled by size and by age.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::WarehouseError;
use super::dimensions::Dimensions;
use super::layout::partition_name;
use super::schema::{RowsBuilder, schema};
use actionlog::proto::UserAction;

/// Default size at which a file is closed and a new one started.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 128 * 1024 * 1024;
/// Default age at which a file is closed, so that data becomes readable without a flush.
pub const DEFAULT_MAX_FILE_AGE: Duration = Duration::from_secs(300);

/// A file that has just become durable: complete, synced and renamed to its final name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableFile {
    /// Its final path.
    pub path: PathBuf,
    /// Rows it holds.
    pub rows: u64,
    /// Rows among them whose keyword arguments did not parse.
    pub malformed_rows: u64,
    /// The highest batch sequence number (see [`WarehouseWriter::write`]) with rows in it.
    pub last_batch: u64,
}

/// Counters of a writer's life.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Rows written (accepted into an open file).
    pub rows: AtomicU64,
    /// Rows whose keyword arguments did not parse (kept, flagged `kwargs_malformed`).
    pub malformed_rows: AtomicU64,
    /// Files made durable.
    pub files: AtomicU64,
}

type OnDurable = Box<dyn FnMut(&DurableFile) + Send>;

struct OpenFile {
    tmp_path: PathBuf,
    final_path: PathBuf,
    writer: ArrowWriter<File>,
    rows: u64,
    malformed_rows: u64,
    opened: Instant,
    first_batch: u64,
    last_batch: u64,
}

/// Writes `UserAction`s to the warehouse directory `DIR/dt=YYYY-MM-DD/part-*.parquet`.
///
/// Readers never see a partial file: a file is written as `.part-*.parquet.tmp` (which
/// every engine ignores, being hidden and not `*.parquet`), then footer-written, `fsync`ed,
/// renamed and its directory synced. Files close when they reach the size limit, when they
/// are older than the age limit (checked on every write and by [`Self::roll_expired`]), and
/// on [`Self::flush`].
///
/// Every [`Self::write`] gets a batch sequence number; [`Self::durable_batch`] is the
/// highest number whose rows are all in durable files, which is what an at-least-once
/// loader commits its source offsets against (with [`Self::on_durable`] to hear about it).
pub struct WarehouseWriter {
    dir: PathBuf,
    max_file_bytes: u64,
    max_file_age: Duration,
    props: WriterProperties,
    open: BTreeMap<String, OpenFile>,
    next_batch: u64,
    file_counter: u64,
    stats: std::sync::Arc<WriterStats>,
    on_durable: Option<OnDurable>,
}

impl fmt::Debug for WarehouseWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WarehouseWriter")
            .field("dir", &self.dir)
            .field("open_files", &self.open.len())
            .finish()
    }
}

impl WarehouseWriter {
    /// A writer into `dir` (created if missing) with the default limits.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, WarehouseError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| WarehouseError::io(&dir, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        Ok(Self {
            dir,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_file_age: DEFAULT_MAX_FILE_AGE,
            props,
            open: BTreeMap::new(),
            next_batch: 1,
            file_counter: 0,
            stats: Default::default(),
            on_durable: None,
        })
    }

    /// Closes a file once it holds about this many bytes.
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes.max(1);
        self
    }

    /// Closes a file once it has been open this long.
    pub fn with_max_file_age(mut self, age: Duration) -> Self {
        self.max_file_age = age;
        self
    }

    /// Calls `f` for every file that becomes durable, right after its rename is synced.
    pub fn on_durable(mut self, f: impl FnMut(&DurableFile) + Send + 'static) -> Self {
        self.on_durable = Some(Box::new(f));
        self
    }

    /// The warehouse directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The writer's counters.
    pub fn stats(&self) -> std::sync::Arc<WriterStats> {
        self.stats.clone()
    }

    /// Appends `actions` to the open file of each one's partition and returns the batch's
    /// sequence number. The rows are durable once [`Self::durable_batch`] reaches it.
    pub fn write(&mut self, actions: &[UserAction]) -> Result<u64, WarehouseError> {
        let batch = self.next_batch;
        self.next_batch += 1;
        let mut by_partition: BTreeMap<String, (RowsBuilder, u64)> = BTreeMap::new();
        for a in actions {
            let d = Dimensions::of(a);
            let (rows, malformed) = by_partition
                .entry(partition_name(d.day))
                .or_insert_with(|| (RowsBuilder::new(), 0));
            *malformed += u64::from(d.kwargs_malformed);
            rows.push(a, &d);
        }
        for (partition, (mut rows, malformed)) in by_partition {
            let n = rows.len() as u64;
            let record_batch = rows.finish()?;
            let file = match self.open.entry(partition.clone()) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    self.file_counter += 1;
                    v.insert(Self::create(
                        &self.dir,
                        &partition,
                        self.file_counter,
                        &self.props,
                        batch,
                    )?)
                }
            };
            if let Err(e) = file.writer.write(&record_batch) {
                self.abandon(&partition);
                return Err(e.into());
            }
            file.rows += n;
            file.malformed_rows += malformed;
            file.last_batch = batch;
            self.stats.rows.fetch_add(n, Ordering::Relaxed);
            self.stats
                .malformed_rows
                .fetch_add(malformed, Ordering::Relaxed);
            let size = (file.writer.bytes_written() + file.writer.in_progress_size()) as u64;
            if size >= self.max_file_bytes {
                self.close(&partition)?;
            }
        }
        self.roll_expired()?;
        Ok(batch)
    }

    /// Closes the files older than the age limit.
    pub fn roll_expired(&mut self) -> Result<Vec<DurableFile>, WarehouseError> {
        let expired: Vec<String> = self
            .open
            .iter()
            .filter(|(_, f)| f.opened.elapsed() >= self.max_file_age)
            .map(|(p, _)| p.clone())
            .collect();
        let mut out = Vec::new();
        for p in expired {
            out.extend(self.close(&p)?);
        }
        Ok(out)
    }

    /// Closes every open file, making everything written so far durable.
    pub fn flush(&mut self) -> Result<Vec<DurableFile>, WarehouseError> {
        let all: Vec<String> = self.open.keys().cloned().collect();
        let mut out = Vec::new();
        for p in all {
            out.extend(self.close(&p)?);
        }
        Ok(out)
    }

    /// The highest batch sequence number such that every row of it and of every earlier
    /// batch is in a durable file (0 before the first batch is durable).
    pub fn durable_batch(&self) -> u64 {
        let oldest_open = self.open.values().map(|f| f.first_batch).min();
        oldest_open.unwrap_or(self.next_batch) - 1
    }

    fn create(
        dir: &Path,
        partition: &str,
        counter: u64,
        props: &WriterProperties,
        batch: u64,
    ) -> Result<OpenFile, WarehouseError> {
        let pdir = dir.join(partition);
        std::fs::create_dir_all(&pdir).map_err(|e| WarehouseError::io(&pdir, e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        // Process id and a per-writer counter keep names unique across concurrent writers.
        let name = format!("part-{now}-{}-{counter:05}.parquet", std::process::id());
        let tmp_path = pdir.join(format!(".{name}.tmp"));
        let final_path = pdir.join(name);
        let f = File::create(&tmp_path).map_err(|e| WarehouseError::io(&tmp_path, e))?;
        let writer = ArrowWriter::try_new(f, schema(), Some(props.clone()))?;
        Ok(OpenFile {
            tmp_path,
            final_path,
            writer,
            rows: 0,
            malformed_rows: 0,
            opened: Instant::now(),
            first_batch: batch,
            last_batch: batch,
        })
    }

    fn close(&mut self, partition: &str) -> Result<Option<DurableFile>, WarehouseError> {
        let Some(mut f) = self.open.remove(partition) else {
            return Ok(None);
        };
        let mut complete = || -> Result<(), WarehouseError> {
            f.writer.finish()?;
            f.writer
                .inner()
                .sync_all()
                .map_err(|e| WarehouseError::io(&f.tmp_path, e))?;
            std::fs::rename(&f.tmp_path, &f.final_path)
                .map_err(|e| WarehouseError::io(&f.final_path, e))?;
            if let Some(parent) = f.final_path.parent() {
                // The rename is durable only once the directory entry is.
                File::open(parent)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| WarehouseError::io(parent, e))?;
            }
            Ok(())
        };
        if let Err(e) = complete() {
            // A full or failing disk: the temporary file is useless (and holds space).
            let _ = std::fs::remove_file(&f.tmp_path);
            tracing::error!(error = %e, rows = f.rows, path = %f.tmp_path.display(),
                "warehouse file could not be completed; its rows were not written");
            return Err(e);
        }
        let durable = DurableFile {
            path: f.final_path,
            rows: f.rows,
            malformed_rows: f.malformed_rows,
            last_batch: f.last_batch,
        };
        self.stats.files.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(path = %durable.path.display(), rows = durable.rows, "warehouse file durable");
        if let Some(cb) = self.on_durable.as_mut() {
            cb(&durable);
        }
        Ok(Some(durable))
    }
}

impl WarehouseWriter {
    /// Drops the open file of `partition` after a failed write (its writer is in an
    /// unknown state): the temporary file is removed, and its rows are reported lost.
    fn abandon(&mut self, partition: &str) {
        if let Some(f) = self.open.remove(partition) {
            let _ = std::fs::remove_file(&f.tmp_path);
            tracing::error!(rows = f.rows, path = %f.tmp_path.display(),
                "warehouse file abandoned after a failed write; its rows were not written");
        }
    }
}

impl Drop for WarehouseWriter {
    fn drop(&mut self) {
        if !self.open.is_empty() {
            // Best effort: an unflushed writer still leaves complete files behind, never
            // partial ones.
            if let Err(e) = self.flush() {
                tracing::warn!(error = %e, "warehouse writer dropped with files it could not close");
            }
        }
    }
}
