//! The durable mode of `actionlog serve`: a write-ahead spool in front of the sinks.
//!
//! Durable mode is on whenever a spool directory is configured (`[spool] dir`,
//! `--spool-dir`) and, by default, whenever a warehouse sink is (its spool then lives in
//! `DIR/_spool`, which every Parquet reader skips). Without it (*memory mode*, `--no-spool`)
//! a request is answered once the sinks accepted its actions, so an acknowledged action is
//! exactly as safe as the sink makes it, and actions the sink holds in memory (the
//! warehouse's open Parquet files) die with the process. With it, [`SpoolSink`] sits
//! between the receivers and the sinks:
//!
//! 1. a request's converted actions are appended to the active segment file of the spool
//!    directory and `fdatasync`ed **before** the request is answered (concurrent requests
//!    share one sync: group commit);
//! 2. one forwarder per sink reads the segments in order and writes their actions to its
//!    sink, in batches of at most [`BATCH_ACTIONS`] actions (whole requests), retrying
//!    with backoff while the sink fails;
//! 3. each forwarder keeps a **delivery checkpoint** (see `checkpoint.rs`): before it sends
//!    a batch it records, synced, how far its sink holds everything durably and how far it
//!    is sending. A sink is durable on `write` (Kafka, a collector) or only after a `flush`
//!    ([`Durability`]): the forwarder flushes the latter after each batch, or as often as the
//!    sink says is worth it (the warehouse: every second), and at the end of each segment;
//! 4. a segment is deleted once every sink holds all of it durably;
//! 5. on startup each sink resumes at its checkpoint: what is sent again is at most what was
//!    in flight at the crash, the actions between its durable point and its dispatch mark
//!    (`actionlog_spool_redelivered_actions_total`).
//!
//! The spool is bounded (`max_bytes`): when it is full, requests are refused as retryable
//! (gRPC `UNAVAILABLE`, HTTP 503 with `Retry-After`) and counted. Delivery is
//! at-least-once; consumers remove the few duplicates by trace/span id. What each damaged
//! file means is in `docs/faults.md`: a torn segment tail was never acknowledged; a torn
//! checkpoint slot falls back to the other slot; an unreadable checkpoint, or one pointing
//! inside a record, replays its segment from the start; a checkpoint ahead of the segments
//! (they lost unsynced bytes it had already delivered) moves on to the next segment, and new
//! segments are numbered after it; a checkpoint that cannot be written (full disk) is
//! logged and counted while delivery goes on.

mod checkpoint;
mod forward;
mod segment;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use actionlog::proto::UserAction;
use actionlog::sink::{Durability, Sink, SinkError};

use checkpoint::{CheckpointFile, Loaded, Pos};
use segment::{Active, SEGMENT_BYTES, create_segment, encode_record, parse_records, segments};

/// Default bound of the spool directory: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;
/// Most actions a forwarder sends to its sink at once (a batch ends after the request that
/// reaches it): the most a crash can make a sink receive twice.
pub const BATCH_ACTIONS: usize = 4096;
/// The spool directory of a warehouse sink at `DIR` when none is configured: inside the
/// warehouse, under a name every Parquet reader skips (leading `_`, no `.parquet` files).
pub const WAREHOUSE_SPOOL_DIR: &str = "_spool";

/// The `[spool]` table of the bridge configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool directory (`ACTIONLOG_SPOOL_DIR`, `--spool-dir`); set, it turns the durable
    /// mode on. Unset, a warehouse sink gets `DIR/_spool`. It must be on a local file
    /// system that honours `fdatasync`.
    pub dir: Option<PathBuf>,
    /// `false` turns the spool off even for a warehouse sink (memory mode, `--no-spool`,
    /// `ACTIONLOG_SPOOL_ENABLED=false`): acknowledged rows then live in memory until their
    /// Parquet file closes, and a crash loses them. Unset: on when `dir` is set or a
    /// warehouse sink is configured.
    pub enabled: Option<bool>,
    /// Bound of the spool's size on disk, in bytes; beyond it requests are refused as
    /// retryable.
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: None,
            enabled: None,
            max_bytes: DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

/// Why the spool could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("spool directory {dir}: {source}")]
pub struct SpoolError {
    /// The directory.
    pub dir: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// The spool's counters, registered as `actionlog_spool_*` metrics.
#[derive(Debug, Default, Clone)]
struct SpoolMetrics {
    bytes: Gauge<i64, AtomicI64>,
    appended: Counter,
    syncs: Counter,
    forwarded: Counter,
    redelivered: Counter,
    rejected: Counter,
    full: Counter,
    delivery_errors: Counter,
    replayed: Counter,
    checkpoint_errors: Counter,
    checkpoints_unusable: Counter,
}

impl SpoolMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "spool_bytes",
            "Bytes in the durable spool (acknowledged, not yet durable in every sink)",
            self.bytes.clone(),
        );
        r.register(
            "spool_appended_actions",
            "Actions appended to the spool and synced before their request was answered",
            self.appended.clone(),
        );
        r.register(
            "spool_syncs",
            "fdatasync calls of the spool segments (fewer than requests under concurrency: group commit)",
            self.syncs.clone(),
        );
        r.register(
            "spool_forwarded_actions",
            "Actions the forwarders delivered from the spool to the sinks (redeliveries included)",
            self.forwarded.clone(),
        );
        r.register(
            "spool_redelivered_actions",
            "Actions sent to a sink again that it may already hold: after a restart, those between its checkpoint and its dispatch mark; after a failed write or flush, those since its last durable point",
            self.redelivered.clone(),
        );
        r.register(
            "spool_rejected_actions",
            "Spooled actions a sink refused for good (logged, not retried)",
            self.rejected.clone(),
        );
        r.register(
            "spool_full",
            "Requests refused (retryable) because the spool reached max_bytes",
            self.full.clone(),
        );
        r.register(
            "spool_delivery_errors",
            "Failed (retried) writes or flushes from the spool to the sinks",
            self.delivery_errors.clone(),
        );
        r.register(
            "spool_replayed_segments",
            "Segments found on startup, left by a previous process",
            self.replayed.clone(),
        );
        r.register(
            "spool_checkpoint_errors",
            "Delivery checkpoints that could not be written (delivery goes on; a crash then sends more again)",
            self.checkpoint_errors.clone(),
        );
        r.register(
            "spool_checkpoints_unusable",
            "Checkpoints found on startup that were garbage or pointed inside a record (their sink replays the segment from its start)",
            self.checkpoints_unusable.clone(),
        );
    }
}

struct State {
    active: Active,
    /// Bytes appended since the spool opened, over all segments: the clock of group commit.
    logical_end: u64,
    /// Bytes of every segment file on disk.
    disk_bytes: u64,
}

/// What the forwarders and the writers share.
struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    /// How far (in `logical_end` terms) the spool is known to be synced.
    synced: Mutex<u64>,
    /// One per forwarder: woken when a record is appended or the spool is stopping.
    wake: Vec<tokio::sync::Notify>,
    stopping: AtomicBool,
    /// Per forwarder: the first segment it still needs (every one before is durable in its
    /// sink); segments before the lowest of them are deleted.
    needs: Mutex<Vec<u64>>,
    /// Per forwarder: stopped with everything delivered.
    drained: Vec<AtomicBool>,
    metrics: SpoolMetrics,
}

/// The durable-mode sink: appends and syncs, then lets one forwarder per sink deliver.
pub struct SpoolSink {
    shared: Arc<Shared>,
    sinks: Vec<Arc<dyn Sink>>,
    forwarders: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for SpoolSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolSink")
            .field("dir", &self.shared.dir)
            .field("sinks", &self.sinks)
            .finish()
    }
}

fn checkpoint_path(dir: &Path, index: usize, sink: &dyn Sink) -> PathBuf {
    dir.join(format!("checkpoint-{index}-{}.bin", sink.name()))
}

/// Where a sink resumes, from its checkpoint and the segments on disk: its read position
/// and the end of what it may already hold (its dispatch mark).
fn resume_at(
    loaded: Loaded,
    existing: &std::collections::BTreeMap<u64, PathBuf>,
    next: u64,
    ckpt: &Path,
    metrics: &SpoolMetrics,
) -> (Pos, Pos) {
    let oldest = Pos::new(existing.keys().next().copied().unwrap_or(next), 0);
    let mark = match loaded {
        Loaded::Mark(m) => m,
        Loaded::Empty => return (oldest, oldest),
        Loaded::Garbage => {
            metrics.checkpoints_unusable.inc();
            tracing::warn!(checkpoint = %ckpt.display(),
                "spool checkpoint is unreadable: its sink gets every spooled action again");
            return (oldest, Pos::new(u64::MAX, 0));
        }
    };
    let at = mark.acked;
    if at < oldest {
        return (oldest, mark.dispatched.max(oldest));
    }
    if existing
        .keys()
        .next_back()
        .is_some_and(|&newest| at.seq > newest)
    {
        // Past every segment although some are left: no forwarder writes that (a segment
        // outlives every checkpoint that points into it), so it belongs to other files.
        // Sending them again may duplicate; skipping them could lose.
        metrics.checkpoints_unusable.inc();
        tracing::warn!(checkpoint = %ckpt.display(), seq = at.seq,
            "spool checkpoint is ahead of every segment: they are sent again from the oldest");
        return (oldest, Pos::new(u64::MAX, 0));
    }
    let Some(path) = existing.get(&at.seq) else {
        // Its segment is gone (delivered and deleted): the next one that exists.
        let after = existing
            .range(at.seq..)
            .next()
            .map_or(Pos::new(next, 0), |(s, _)| Pos::new(*s, 0));
        return (after, mark.dispatched.max(after));
    };
    match segment::landing(path, at.offset) {
        Ok(segment::Landing::Boundary) => (at, mark.dispatched),
        Ok(segment::Landing::PastEnd) => {
            // The segment lost bytes the checkpoint had already seen delivered (they were
            // never synced, so never acknowledged): the rest of it is delivered.
            tracing::warn!(checkpoint = %ckpt.display(), seq = at.seq, offset = at.offset,
                "spool checkpoint is ahead of its segment; going on with the next one");
            let after = existing
                .range(at.seq + 1..)
                .next()
                .map_or(Pos::new(next, 0), |(s, _)| Pos::new(*s, 0));
            (after, mark.dispatched.max(after))
        }
        Ok(segment::Landing::Inside) | Err(_) => {
            metrics.checkpoints_unusable.inc();
            tracing::warn!(checkpoint = %ckpt.display(), seq = at.seq, offset = at.offset,
                "spool checkpoint does not point at a record: its segment is sent again from the start");
            let start = Pos::new(at.seq, 0);
            (start, mark.dispatched.max(Pos::new(at.seq, u64::MAX)))
        }
    }
}

impl SpoolSink {
    /// Opens (creating it if needed) the spool in `dir` in front of `sinks`, registers its
    /// metrics in `registry` and starts one forwarder per sink, which first delivers
    /// whatever a previous process left past that sink's checkpoint. Must be called inside a
    /// Tokio runtime.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        sinks: Vec<Arc<dyn Sink>>,
        registry: &mut Registry,
    ) -> Result<Self, SpoolError> {
        let err = |source| SpoolError {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let existing = segments(dir).map_err(err)?;
        let metrics = SpoolMetrics::default();
        metrics.register(registry);

        let mut files = Vec::with_capacity(sinks.len());
        for (i, s) in sinks.iter().enumerate() {
            let path = checkpoint_path(dir, i, s.as_ref());
            files.push(CheckpointFile::open(&path).map_err(err)?);
        }
        // New segments are numbered after every segment and every checkpoint: a checkpoint
        // ahead of the segments must not skip records appended from now on.
        let mut next = existing.keys().next_back().map_or(1, |s| s + 1);
        for (_, loaded) in &files {
            if let Loaded::Mark(m) = loaded {
                next = next.max(m.acked.seq + 1).max(m.dispatched.seq + 1);
            }
        }
        let mut lanes = Vec::with_capacity(sinks.len());
        for (sink, (file, loaded)) in sinks.iter().zip(files) {
            let (start, until) = resume_at(loaded, &existing, next, file.path(), &metrics);
            if until > start {
                let n = count_between(&existing, start, until);
                tracing::info!(
                    sink = sink.name(),
                    may_redeliver = n,
                    seq = start.seq,
                    offset = start.offset,
                    "resuming a sink at its checkpoint: it may already hold the first actions sent"
                );
            }
            lanes.push((sink.clone(), file, start, until));
        }
        let needs: Vec<u64> = lanes.iter().map(|(_, _, start, _)| start.seq).collect();
        let lowest = needs.iter().copied().min().unwrap_or(next);
        let mut disk_bytes = 0;
        let mut left = 0;
        for (seq, p) in &existing {
            if *seq < lowest {
                // Durable in every sink before the crash, deleted only now.
                std::fs::remove_file(p).map_err(err)?;
                continue;
            }
            left += 1;
            disk_bytes += std::fs::metadata(p).map_err(err)?.len();
        }
        let active = create_segment(dir, next).map_err(err)?;
        metrics.bytes.set(disk_bytes as i64);
        metrics.replayed.inc_by(left);
        if left > 0 {
            tracing::info!(dir = %dir.display(), segments = left, bytes = disk_bytes,
                "spool holds actions from a previous run: delivering them first");
        }
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            max_bytes,
            state: Mutex::new(State {
                active,
                logical_end: 0,
                disk_bytes,
            }),
            synced: Mutex::new(0),
            wake: sinks.iter().map(|_| tokio::sync::Notify::new()).collect(),
            stopping: AtomicBool::new(false),
            needs: Mutex::new(needs),
            drained: sinks.iter().map(|_| AtomicBool::new(false)).collect(),
            metrics,
        });
        let forwarders = lanes
            .into_iter()
            .enumerate()
            .map(|(index, (sink, file, start, until))| {
                tokio::spawn(forward::run(
                    shared.clone(),
                    forward::Lane::new(index, sink, file, start, until),
                ))
            })
            .collect();
        Ok(Self {
            shared,
            sinks,
            forwarders: Mutex::new(forwarders),
            closed: AtomicBool::new(false),
        })
    }

    fn unavailable(&self, message: String) -> SinkError {
        SinkError::Unavailable {
            sink: "spool".into(),
            message,
        }
    }
}

impl Shared {
    /// Appends one record and syncs it (or finds it synced by a concurrent caller).
    fn append_blocking(&self, rec: &[u8]) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            sink: "spool".into(),
            source,
        };
        let end = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.disk_bytes + rec.len() as u64 > self.max_bytes {
                self.metrics.full.inc();
                return Err(SinkError::Unavailable {
                    sink: "spool".into(),
                    message: format!(
                        "spool full ({} of {} bytes): the sinks are behind, retry later",
                        st.disk_bytes, self.max_bytes
                    ),
                });
            }
            if st.active.bytes >= SEGMENT_BYTES {
                self.rotate(&mut st).map_err(io)?;
            }
            if let Err(e) = (&*st.active.file).write_all(rec) {
                // Cut off what part of the record made it, so the segment stays parseable
                // for the records after it; failing that, later records go to a new segment.
                if st.active.file.set_len(st.active.bytes).is_err() {
                    let _ = self.rotate(&mut st);
                }
                return Err(io(e));
            }
            st.active.bytes += rec.len() as u64;
            st.disk_bytes += rec.len() as u64;
            st.logical_end += rec.len() as u64;
            self.metrics.bytes.set(st.disk_bytes as i64);
            st.logical_end
        };
        // Group commit: whoever holds the lock syncs everything appended so far, so the
        // callers queued behind it usually find their record already synced.
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced < end {
            let (target, file) = {
                let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                (st.logical_end, st.active.file.clone())
            };
            file.sync_data().map_err(io)?;
            self.metrics.syncs.inc();
            *synced = target;
        }
        Ok(())
    }

    /// Seals the active segment (synced, so everything before the new one is durable) and
    /// starts the next.
    fn rotate(&self, st: &mut State) -> std::io::Result<()> {
        st.active.file.sync_data()?;
        self.metrics.syncs.inc();
        st.active = create_segment(&self.dir, st.active.seq + 1)?;
        Ok(())
    }

    fn active_seq_and_len(&self) -> (u64, u64) {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (st.active.seq, st.active.bytes)
    }

    /// Seals the active segment if it is `seq` and holds exactly `len` bytes (everything
    /// in it was read).
    fn seal_if(&self, seq: u64, len: u64) -> std::io::Result<bool> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.active.seq == seq && st.active.bytes == len && len > 0 {
            self.rotate(&mut st)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Records that forwarder `index` needs no segment before `seq` any more, and deletes
    /// the segments no forwarder needs.
    fn passed(&self, index: usize, seq: u64) {
        let lowest = {
            let mut needs = self.needs.lock().unwrap_or_else(|p| p.into_inner());
            needs[index] = needs[index].max(seq);
            needs.iter().copied().min().unwrap_or(seq)
        };
        let Ok(existing) = segments(&self.dir) else {
            return;
        };
        let active = self.active_seq_and_len().0;
        for (s, p) in existing.range(..lowest.min(active)) {
            let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            match std::fs::remove_file(p) {
                Ok(()) => {
                    let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    st.disk_bytes = st.disk_bytes.saturating_sub(len);
                    self.metrics.bytes.set(st.disk_bytes as i64);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(error = %e, seq = s, "cannot delete a delivered spool segment")
                }
            }
        }
    }

    fn remove_active_if_empty(&self) {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.active.bytes == 0 {
            let _ = std::fs::remove_file(segment::segment_path(&self.dir, st.active.seq));
        }
    }
}

/// Counts the actions of the records from `start` up to `until`.
fn count_between(
    existing: &std::collections::BTreeMap<u64, PathBuf>,
    start: Pos,
    until: Pos,
) -> u64 {
    let mut n = 0;
    for (&seq, p) in existing.range(start.seq..=until.seq) {
        let Ok(b) = std::fs::read(p) else { continue };
        let from = if seq == start.seq { start.offset } else { 0 } as usize;
        let to = if seq == until.seq {
            (until.offset as usize).min(b.len())
        } else {
            b.len()
        };
        if let Some(slice) = b.get(from..to.max(from)) {
            n += parse_records(slice, usize::MAX).actions.len() as u64;
        }
    }
    n
}

/// Counts the actions still in the spool's segments (for the shutdown report).
fn count_undelivered(dir: &Path) -> u64 {
    let Ok(segs) = segments(dir) else { return 0 };
    segs.values()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| parse_records(&b, usize::MAX).actions.len() as u64)
        .sum()
}

#[async_trait]
impl Sink for SpoolSink {
    fn name(&self) -> &str {
        "spool"
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SinkError::ShutDown {
                sink: "spool".into(),
            });
        }
        let rec = encode_record(actions);
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.append_blocking(&rec))
            .await
            .map_err(|e| self.unavailable(format!("spool append task failed: {e}")))??;
        self.shared.metrics.appended.inc_by(actions.len() as u64);
        for w in &self.shared.wake {
            w.notify_one();
        }
        Ok(())
    }

    /// Appends are synced before `write` returns: nothing to do.
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Synced before `write` returns.
    fn durability(&self) -> Durability {
        Durability::OnWrite
    }

    /// Lets the forwarders deliver everything spooled, then shuts the sinks down, all within
    /// `timeout`. What is left stays in the spool for the next start and is reported as
    /// [`SinkError::Undelivered`].
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        let deadline = Instant::now() + timeout;
        self.closed.store(true, Ordering::Release);
        self.shared.stopping.store(true, Ordering::Release);
        for w in &self.shared.wake {
            w.notify_one();
        }
        let handles =
            std::mem::take(&mut *self.forwarders.lock().unwrap_or_else(|p| p.into_inner()));
        for mut h in handles {
            if tokio::time::timeout_at(deadline.into(), &mut h)
                .await
                .is_err()
            {
                h.abort();
            }
        }
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        let results = futures::future::join_all(self.sinks.iter().map(|s| s.shutdown(left))).await;
        let inner = results.into_iter().find(Result::is_err).unwrap_or(Ok(()));
        if self
            .shared
            .drained
            .iter()
            .all(|d| d.load(Ordering::Acquire))
        {
            self.shared.remove_active_if_empty();
            return inner;
        }
        let undelivered = count_undelivered(&self.shared.dir);
        tracing::error!(
            undelivered,
            dir = %self.shared.dir.display(),
            "shutdown deadline reached with actions still in the spool: they are kept there and delivered on the next start"
        );
        Err(SinkError::Undelivered {
            sink: "spool".into(),
            undelivered,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use actionlog::sink::NullSink;

    fn action(n: u64) -> UserAction {
        UserAction {
            command: Some("spool_test".into()),
            span_id: Some(format!("{n:016x}")),
            ..Default::default()
        }
    }

    fn batch(b: u64, n: u64) -> Vec<UserAction> {
        (0..n).map(|i| action(b * n + i)).collect()
    }

    /// A sink that keeps what it was sent, durable only after a flush, and can be down.
    #[derive(Debug, Default)]
    struct Recording {
        got: Mutex<Vec<String>>,
        flushes: AtomicU64,
        down: AtomicBool,
        every: Duration,
    }

    #[async_trait]
    impl Sink for Recording {
        fn name(&self) -> &str {
            "recording"
        }
        async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
            if self.down.load(Ordering::Acquire) {
                return Err(SinkError::Unavailable {
                    sink: "recording".into(),
                    message: "down".into(),
                });
            }
            let mut got = self.got.lock().unwrap();
            got.extend(actions.iter().filter_map(|a| a.span_id.clone()));
            Ok(())
        }
        async fn flush(&self) -> Result<(), SinkError> {
            self.flushes.fetch_add(1, Ordering::AcqRel);
            Ok(())
        }
        fn durability(&self) -> Durability {
            Durability::OnFlush { every: self.every }
        }
    }

    impl Recording {
        fn count(&self) -> usize {
            self.got.lock().unwrap().len()
        }
    }

    /// Runs `f` on a runtime of its own that is dropped afterwards: the spool's tasks die
    /// mid-flight, as in a crash, and its files stay as they are.
    fn crash_after<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f());
        rt.shutdown_background();
    }

    /// Spools `(batch, size)` batches while the only sink is down, then dies: they are
    /// left undelivered in `dir`.
    fn leave_undelivered(dir: &Path, batches: &[(u64, u64)]) {
        crash_after(|| async move {
            let down = Arc::new(Recording::default());
            down.down.store(true, Ordering::Release);
            let mut reg = Registry::default();
            let spool = SpoolSink::open(dir, 1 << 20, vec![down], &mut reg).unwrap();
            for &(b, n) in batches {
                spool.write(&batch(b, n)).await.unwrap();
            }
        });
    }

    async fn wait_for(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn spooled_actions_reach_the_sink_and_the_spool_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let null = Arc::new(NullSink::new());
        let mut reg = Registry::default();
        let spool = SpoolSink::open(dir.path(), 1 << 20, vec![null.clone()], &mut reg).unwrap();
        for b in 0..10 {
            spool.write(&batch(b, 50)).await.unwrap();
        }
        spool.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(null.count(), 500);
        assert!(segments(dir.path()).unwrap().is_empty());
        assert_eq!(spool.shared.metrics.redelivered.get(), 0);
    }

    #[tokio::test]
    async fn a_full_spool_refuses_as_retryable() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::default();
        let down = Arc::new(Recording::default());
        down.down.store(true, Ordering::Release);
        let spool = SpoolSink::open(dir.path(), 2000, vec![down], &mut reg).unwrap();
        let mut accepted = 0;
        let err = loop {
            match spool.write(&batch(0, 20)).await {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
        };
        assert!(accepted > 0);
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("spool full"), "{err}");
        let e = spool
            .shutdown(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(
            matches!(e, SinkError::Undelivered { undelivered, .. } if undelivered == accepted * 20),
            "{e}"
        );
    }

    #[test]
    fn after_a_crash_each_sink_resumes_at_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (up, down) = (
            Arc::new(Recording::default()),
            Arc::new(Recording::default()),
        );
        down.down.store(true, Ordering::Release);
        // Run 1: 1,000 actions acknowledged; the first sink holds them all, the second is
        // down. Then the process dies without shutting down.
        crash_after(|| {
            let (up, down) = (up.clone(), down.clone());
            let dir = dir.path().to_path_buf();
            async move {
                let mut reg = Registry::default();
                let spool =
                    SpoolSink::open(&dir, 1 << 20, vec![up.clone(), down], &mut reg).unwrap();
                for b in 0..20 {
                    spool.write(&batch(b, 50)).await.unwrap();
                }
                wait_for("the first sink", || up.count() == 1000).await;
                // ...and its checkpoint written after the flush.
                wait_for("the flush", || up.flushes.load(Ordering::Acquire) > 0).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        assert_eq!(down.count(), 0);
        // Run 2, both sinks up: the first gets nothing again, the second everything.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (up2, down2) = (
            Arc::new(Recording::default()),
            Arc::new(Recording::default()),
        );
        rt.block_on(async {
            let mut reg = Registry::default();
            let spool = SpoolSink::open(
                dir.path(),
                1 << 20,
                vec![up2.clone(), down2.clone()],
                &mut reg,
            )
            .unwrap();
            spool.shutdown(Duration::from_secs(10)).await.unwrap();
            // Only the second sink's failed batch may have landed in part: it counts.
            let again = spool.shared.metrics.redelivered.get();
            assert!((1..=1000).contains(&again), "{again}");
        });
        assert_eq!(up2.count(), 0, "the first sink's checkpoint was at the end");
        assert_eq!(down2.count(), 1000, "the second sink never got them");
        assert!(segments(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_crash_between_dispatch_and_durability_redelivers_only_that_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        // Durable only on a flush that never comes within the test (an hour's interval, and
        // the segment is never sealed): everything sent stays beyond the checkpoint.
        let slow = Arc::new(Recording {
            every: Duration::from_secs(3600),
            ..Default::default()
        });
        crash_after(|| {
            let slow = slow.clone();
            let dir = dir.path().to_path_buf();
            async move {
                let mut reg = Registry::default();
                let spool = SpoolSink::open(&dir, 1 << 20, vec![slow.clone()], &mut reg).unwrap();
                spool.write(&batch(0, 30)).await.unwrap();
                wait_for("delivery", || slow.count() == 30).await;
            }
        });
        assert_eq!(slow.flushes.load(Ordering::Acquire), 0);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let again = Arc::new(Recording::default());
        rt.block_on(async {
            let mut reg = Registry::default();
            let spool =
                SpoolSink::open(dir.path(), 1 << 20, vec![again.clone()], &mut reg).unwrap();
            spool.shutdown(Duration::from_secs(10)).await.unwrap();
            assert_eq!(spool.shared.metrics.redelivered.get(), 30);
        });
        assert_eq!(
            again.count(),
            30,
            "not durable before the crash: sent again"
        );
    }

    #[test]
    fn a_garbage_checkpoint_replays_everything_and_one_ahead_of_the_segments_skips_nothing_new() {
        let dir = tempfile::tempdir().unwrap();
        let null = Arc::new(NullSink::new());
        // Leave 100 undelivered actions: the sink is down, then the process dies.
        leave_undelivered(dir.path(), &[(0, 100)]);
        let ckpt = dir.path().join("checkpoint-0-null.bin");
        std::fs::write(&ckpt, b"garbage, not a checkpoint: every byte of it is wrong..............................................").unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut reg = Registry::default();
            let spool = SpoolSink::open(dir.path(), 1 << 20, vec![null.clone()], &mut reg).unwrap();
            spool.shutdown(Duration::from_secs(10)).await.unwrap();
            assert_eq!(spool.shared.metrics.checkpoints_unusable.get(), 1);
        });
        assert_eq!(null.count(), 100, "garbage: everything is delivered");

        // A checkpoint far ahead of any segment (segments lost, or copied from elsewhere).
        let (mut f, _) = CheckpointFile::open(&ckpt).unwrap();
        let ahead = Pos::new(50, 10);
        f.store_blocking(&checkpoint::Mark {
            acked: ahead,
            dispatched: ahead,
        })
        .unwrap();
        drop(f);
        let fresh = Arc::new(NullSink::new());
        rt.block_on(async {
            let mut reg = Registry::default();
            let spool =
                SpoolSink::open(dir.path(), 1 << 20, vec![fresh.clone()], &mut reg).unwrap();
            spool.write(&batch(1, 40)).await.unwrap();
            spool.shutdown(Duration::from_secs(10)).await.unwrap();
        });
        assert_eq!(fresh.count(), 40, "records appended after it are delivered");

        // Ahead of segments that are still there: they are delivered, not skipped.
        leave_undelivered(dir.path(), &[(2, 25)]);
        let (mut f, _) = CheckpointFile::open(&ckpt).unwrap();
        let ahead = Pos::new(500, 0);
        f.store_blocking(&checkpoint::Mark {
            acked: ahead,
            dispatched: ahead,
        })
        .unwrap();
        drop(f);
        let third = Arc::new(NullSink::new());
        rt.block_on(async {
            let mut reg = Registry::default();
            let spool =
                SpoolSink::open(dir.path(), 1 << 20, vec![third.clone()], &mut reg).unwrap();
            spool.shutdown(Duration::from_secs(10)).await.unwrap();
            assert_eq!(spool.shared.metrics.checkpoints_unusable.get(), 1);
        });
        assert_eq!(third.count(), 25);
    }

    #[test]
    fn a_checkpoint_inside_a_record_replays_its_segment_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        leave_undelivered(dir.path(), &[(0, 30), (1, 30)]);
        let seq = *segments(dir.path()).unwrap().keys().next().unwrap();
        let ckpt = dir.path().join("checkpoint-0-null.bin");
        let (mut f, _) = CheckpointFile::open(&ckpt).unwrap();
        let inside = Pos::new(seq, 3);
        f.store_blocking(&checkpoint::Mark {
            acked: inside,
            dispatched: inside,
        })
        .unwrap();
        drop(f);
        let null = Arc::new(NullSink::new());
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut reg = Registry::default();
            let spool = SpoolSink::open(dir.path(), 1 << 20, vec![null.clone()], &mut reg).unwrap();
            spool.shutdown(Duration::from_secs(10)).await.unwrap();
            assert_eq!(spool.shared.metrics.checkpoints_unusable.get(), 1);
        });
        assert_eq!(null.count(), 60, "nothing skipped");
    }

    #[tokio::test]
    async fn a_sink_durable_only_on_flush_is_flushed_before_its_segment_goes() {
        let dir = tempfile::tempdir().unwrap();
        let slow = Arc::new(Recording {
            every: Duration::from_secs(3600),
            ..Default::default()
        });
        let mut reg = Registry::default();
        let spool = SpoolSink::open(dir.path(), 1 << 20, vec![slow.clone()], &mut reg).unwrap();
        spool.write(&batch(0, 10)).await.unwrap();
        // The idle seal ends the segment: it is flushed, then deleted.
        wait_for("the segment to go", || {
            slow.flushes.load(Ordering::Acquire) == 1 && segments(dir.path()).unwrap().len() == 1
        })
        .await;
        spool.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(slow.count(), 10);
    }
}
