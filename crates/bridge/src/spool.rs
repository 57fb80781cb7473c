//! The durable mode of `actionlog serve`: a write-ahead spool in front of the sinks.
//!
//! Without it (the default, *memory mode*) a request is answered once the sinks accepted its
//! actions, so an acknowledged action is exactly as safe as the sink makes it, and actions
//! the sink holds in memory (the Kafka producer's buffer, the warehouse's open Parquet file)
//! die with the process. With `[spool] dir = "..."` (or `--spool-dir`), [`SpoolSink`] sits
//! between the receivers and the sinks:
//!
//! 1. a request's converted actions are appended to the active segment file of the spool
//!    directory and `fdatasync`ed **before** the request is answered (concurrent requests
//!    share one sync: group commit);
//! 2. a forwarder task reads the segments in order and writes their actions to the real
//!    sinks, retrying with backoff while the sinks fail; a segment is deleted only after the
//!    sinks acknowledged all of it **and** a sink flush succeeded (so the warehouse's open
//!    files are closed and synced first);
//! 3. on startup the segments left by the previous process are delivered first.
//!
//! The spool is bounded (`max_bytes`): when it is full, requests are refused as retryable
//! (gRPC `UNAVAILABLE`, HTTP 503 with `Retry-After`) and counted. Delivery is
//! at-least-once: a crash after a sink accepted a segment but before the segment was deleted
//! sends it again, and consumers remove duplicates by trace/span id.
//!
//! Segment format: `spool-<seq>.log`, a sequence of records `len: u32 LE | crc32: u32 LE |
//! payload`, the payload being length-delimited `UserAction` protobufs (one record per
//! request). A torn or corrupt record at the end of a segment (a write cut by the crash)
//! ends that segment; it was never acknowledged, since its sync had not returned.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use prost::Message;
use serde::{Deserialize, Serialize};

use actionlog::proto::UserAction;
use actionlog::sink::{Sink, SinkError};

/// Default bound of the spool directory: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;
/// A segment is sealed (and a new one started) once it holds this many bytes.
const SEGMENT_BYTES: u64 = 8 << 20;
/// Record header: length and CRC-32 of the payload.
const HEADER: usize = 8;
/// Largest chunk the forwarder reads and writes to the sinks at once.
const READ_CHUNK: usize = 4 << 20;
/// After this long without new data the forwarder seals the active segment, flushes the
/// sinks and deletes what they hold (bounds the latency of a quiet spool).
const IDLE_SEAL: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The `[spool]` table of the bridge configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool directory; set, it turns the durable mode on (`ACTIONLOG_SPOOL_DIR`,
    /// `--spool-dir`). It must be on a local file system that honours `fdatasync`.
    pub dir: Option<PathBuf>,
    /// Bound of the spool's size on disk, in bytes; beyond it requests are refused as
    /// retryable.
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: None,
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
    rejected: Counter,
    full: Counter,
    delivery_errors: Counter,
    replayed: Counter,
}

impl SpoolMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "spool_bytes",
            "Bytes in the durable spool (acknowledged, not yet delivered and flushed)",
            self.bytes.clone(),
        );
        r.register(
            "spool_appended_actions",
            "Actions appended to the spool and synced before their request was answered",
            self.appended.clone(),
        );
        r.register(
            "spool_syncs",
            "fdatasync calls of the spool (fewer than requests under concurrency: group commit)",
            self.syncs.clone(),
        );
        r.register(
            "spool_forwarded_actions",
            "Actions the forwarder delivered from the spool to the sinks (replays included)",
            self.forwarded.clone(),
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
            "Failed (retried) deliveries from the spool to the sinks",
            self.delivery_errors.clone(),
        );
        r.register(
            "spool_replayed_segments",
            "Segments found on startup, left by a previous process",
            self.replayed.clone(),
        );
    }
}

struct Active {
    seq: u64,
    file: Arc<File>,
    bytes: u64,
}

struct State {
    active: Active,
    /// Bytes appended since the spool opened, over all segments: the clock of group commit.
    logical_end: u64,
    /// Bytes of every segment file on disk.
    disk_bytes: u64,
}

struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    sink: Arc<dyn Sink>,
    state: Mutex<State>,
    /// How far (in `logical_end` terms) the spool is known to be synced.
    synced: Mutex<u64>,
    wake: tokio::sync::Notify,
    stopping: AtomicBool,
    empty: AtomicBool,
    metrics: SpoolMetrics,
}

/// The durable-mode sink: appends and syncs, then lets a forwarder deliver to `sink`.
pub struct SpoolSink {
    shared: Arc<Shared>,
    forwarder: Mutex<Option<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for SpoolSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolSink")
            .field("dir", &self.shared.dir)
            .field("sink", &self.shared.sink)
            .finish()
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("spool-{seq:020}.log"))
}

fn segments(dir: &Path) -> std::io::Result<BTreeMap<u64, PathBuf>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = name
            .strip_prefix("spool-")
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.insert(seq, e.path());
        }
    }
    Ok(out)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn create_segment(dir: &Path, seq: u64) -> std::io::Result<Active> {
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, seq))?;
    // The new name must survive a power cut like the data synced into it.
    sync_dir(dir)?;
    Ok(Active {
        seq,
        file: Arc::new(file),
        bytes: 0,
    })
}

/// Encodes one request's actions as a spool record.
fn encode_record(actions: &[UserAction]) -> Vec<u8> {
    let payload_len: usize = actions
        .iter()
        .map(|a| {
            let n = a.encoded_len();
            n + prost::length_delimiter_len(n)
        })
        .sum();
    let mut rec = Vec::with_capacity(HEADER + payload_len);
    rec.extend_from_slice(&[0; HEADER]);
    for a in actions {
        // Writing into a Vec cannot run out of room.
        let _ = a.encode_length_delimited(&mut rec);
    }
    let crc = crc32fast::hash(&rec[HEADER..]);
    let len = (rec.len() - HEADER) as u32;
    rec[..4].copy_from_slice(&len.to_le_bytes());
    rec[4..8].copy_from_slice(&crc.to_le_bytes());
    rec
}

/// Parses the complete, intact records at the start of `buf`: their actions and the bytes
/// they span. Stops at the first incomplete or corrupt record.
fn parse_records(buf: &[u8]) -> (Vec<UserAction>, usize, bool) {
    let mut actions = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= HEADER {
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().unwrap_or_default());
        let Some(payload) = buf.get(pos + HEADER..pos + HEADER + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            return (actions, pos, true);
        }
        let mut p = payload;
        let mut batch = Vec::new();
        while !p.is_empty() {
            match UserAction::decode_length_delimited(&mut p) {
                Ok(a) => batch.push(a),
                Err(_) => return (actions, pos, true),
            }
        }
        actions.extend(batch);
        pos += HEADER + len;
    }
    (actions, pos, false)
}

impl SpoolSink {
    /// Opens (creating it if needed) the spool in `cfg.dir` in front of `sink`, registers its
    /// metrics in `registry` and starts the forwarder, which first delivers whatever a
    /// previous process left. Must be called inside a Tokio runtime.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        sink: Arc<dyn Sink>,
        registry: &mut Registry,
    ) -> Result<Self, SpoolError> {
        let err = |source| SpoolError {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let existing = segments(dir).map_err(err)?;
        let mut disk_bytes = 0;
        for p in existing.values() {
            disk_bytes += std::fs::metadata(p).map_err(err)?.len();
        }
        let next = existing.keys().next_back().map_or(1, |s| s + 1);
        let active = create_segment(dir, next).map_err(err)?;
        let metrics = SpoolMetrics::default();
        metrics.register(registry);
        metrics.bytes.set(disk_bytes as i64);
        metrics.replayed.inc_by(existing.len() as u64);
        if !existing.is_empty() {
            tracing::info!(dir = %dir.display(), segments = existing.len(), bytes = disk_bytes,
                "spool holds undelivered actions from a previous run: delivering them first");
        }
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            max_bytes,
            sink,
            state: Mutex::new(State {
                active,
                logical_end: 0,
                disk_bytes,
            }),
            synced: Mutex::new(0),
            wake: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
            empty: AtomicBool::new(false),
            metrics,
        });
        let first = existing.keys().next().copied().unwrap_or(next);
        let forwarder = tokio::spawn(forward(shared.clone(), first));
        Ok(Self {
            shared,
            forwarder: Mutex::new(Some(forwarder)),
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

    fn remove_segment(&self, seq: u64) -> std::io::Result<()> {
        let p = segment_path(&self.dir, seq);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&p)?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.disk_bytes = st.disk_bytes.saturating_sub(len);
        self.metrics.bytes.set(st.disk_bytes as i64);
        Ok(())
    }

    /// Writes `actions` to the sinks until they accept or refuse them for good; `false` when
    /// the write failed and the segment must be delivered again.
    async fn deliver(&self, actions: &[UserAction]) -> bool {
        match self.sink.write(actions).await {
            Ok(()) => {
                self.metrics.forwarded.inc_by(actions.len() as u64);
                true
            }
            Err(SinkError::Rejected { count, message, .. }) => {
                tracing::error!(count, error = %message, "a sink refused spooled actions for good; they are not retried");
                self.metrics.rejected.inc_by(count as u64);
                self.metrics
                    .forwarded
                    .inc_by(actions.len().saturating_sub(count) as u64);
                true
            }
            Err(e) => {
                self.metrics.delivery_errors.inc();
                tracing::warn!(error = %e, actions = actions.len(), "delivery from the spool failed; retrying");
                false
            }
        }
    }
}

/// Reads up to [`READ_CHUNK`] bytes of segment `seq` from `offset`.
fn read_chunk(dir: &Path, seq: u64, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(segment_path(dir, seq))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.take(READ_CHUNK as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The forwarder: delivers the segments from `seq` on, in order, forever (until stopped and
/// drained).
async fn forward(sh: Arc<Shared>, mut seq: u64) {
    let mut offset = 0u64;
    let mut backoff = Duration::from_millis(100);
    let mut failed = false;
    loop {
        if failed {
            // Start the segment over: a sink that failed may have lost what it had accepted
            // but not made durable (the warehouse's open files). Duplicates are allowed.
            offset = 0;
            failed = false;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        let (active_seq, active_len) = sh.active_seq_and_len();
        let chunk = {
            let dir = sh.dir.clone();
            match tokio::task::spawn_blocking(move || read_chunk(&dir, seq, offset)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound && seq < active_seq => {
                    // A gap in the sequence (a segment deleted by hand): go on.
                    seq += 1;
                    offset = 0;
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, seq, "cannot read a spool segment; retrying");
                    failed = true;
                    continue;
                }
                Err(_) => return,
            }
        };
        let (actions, used, corrupt) = parse_records(&chunk);
        if !actions.is_empty() {
            if sh.deliver(&actions).await {
                offset += used as u64;
                backoff = Duration::from_millis(100);
            } else {
                failed = true;
            }
            continue;
        }
        if seq < active_seq {
            // A sealed segment, read to its end (or to a torn tail left by a crash).
            let rest = chunk.len() - used;
            if rest > 0 || corrupt {
                tracing::warn!(
                    seq,
                    bytes = rest,
                    "ignoring the torn end of a spool segment (never acknowledged)"
                );
            }
            match sh.sink.flush().await {
                Ok(()) => {
                    if let Err(e) = sh.remove_segment(seq) {
                        tracing::error!(error = %e, seq, "cannot delete a delivered spool segment");
                    }
                    seq += 1;
                    offset = 0;
                }
                Err(e) => {
                    sh.metrics.delivery_errors.inc();
                    tracing::warn!(error = %e, "sink flush failed; the spooled actions are delivered again");
                    failed = true;
                }
            }
            continue;
        }
        // Caught up with the active segment.
        if sh.stopping.load(Ordering::Acquire) {
            if offset == 0 && active_len == 0 {
                sh.empty.store(true, Ordering::Release);
                return;
            }
            // Whatever is left after `offset` did not parse (a failed append): seal anyway.
            match sh.seal_if(seq, active_len) {
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot seal the spool segment");
                    failed = true;
                    continue;
                }
            }
        }
        let woken = tokio::time::timeout(IDLE_SEAL, sh.wake.notified()).await;
        if woken.is_err()
            && offset > 0
            && let Err(e) = sh.seal_if(seq, offset)
        {
            tracing::error!(error = %e, "cannot seal the spool segment");
            failed = true;
        }
    }
}

/// Counts the actions still in the spool's segments (for the shutdown report).
fn count_undelivered(dir: &Path) -> u64 {
    let Ok(segs) = segments(dir) else { return 0 };
    segs.values()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| parse_records(&b).0.len() as u64)
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
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Appends are synced before `write` returns: nothing to do.
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Lets the forwarder deliver everything spooled, then shuts the sinks down, all within
    /// `timeout`. What is left stays in the spool for the next start and is reported as
    /// [`SinkError::Undelivered`].
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        let deadline = Instant::now() + timeout;
        self.closed.store(true, Ordering::Release);
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        let handle = self
            .forwarder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut h) = handle
            && tokio::time::timeout_at(deadline.into(), &mut h)
                .await
                .is_err()
        {
            h.abort();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let inner = self
            .shared
            .sink
            .shutdown(left.max(Duration::from_millis(100)))
            .await;
        if self.shared.empty.load(Ordering::Acquire) {
            // Only the empty active segment is left.
            let (seq, _) = self.shared.active_seq_and_len();
            let _ = self.shared.remove_segment(seq);
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
    use super::*;

    fn action(n: u64) -> UserAction {
        UserAction {
            command: Some("spool_test".into()),
            span_id: Some(format!("{n:016x}")),
            ..Default::default()
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_or_corrupt_tail_ends_the_segment() {
        let mut buf = encode_record(&[action(1), action(2)]);
        buf.extend(encode_record(&[action(3)]));
        let whole = buf.len();
        let (a, used, corrupt) = parse_records(&buf);
        assert_eq!(a.len(), 3);
        assert_eq!((used, corrupt), (whole, false));
        // A record cut short by a crash: the intact ones before it are read.
        let third = encode_record(&[action(4)]);
        buf.extend_from_slice(&third[..third.len() - 1]);
        let (a, used, corrupt) = parse_records(&buf);
        assert_eq!((a.len(), used, corrupt), (3, whole, false));
        // A flipped byte fails the checksum.
        let mut bad = encode_record(&[action(5)]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let (a, used, corrupt) = parse_records(&bad);
        assert_eq!((a.len(), used, corrupt), (0, 0, true));
    }

    #[tokio::test]
    async fn spooled_actions_reach_the_sink_and_the_spool_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let null = Arc::new(actionlog::sink::NullSink::new());
        let mut reg = Registry::default();
        let spool = SpoolSink::open(dir.path(), 1 << 20, null.clone(), &mut reg).unwrap();
        for b in 0..10 {
            spool
                .write(&(0..50).map(|i| action(b * 50 + i)).collect::<Vec<_>>())
                .await
                .unwrap();
        }
        spool.shutdown(Duration::from_secs(10)).await.unwrap();
        assert_eq!(null.count(), 500);
        assert!(segments(dir.path()).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_full_spool_refuses_as_retryable() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::default();
        // A sink that never accepts keeps everything in the spool.
        #[derive(Debug)]
        struct Down;
        #[async_trait]
        impl Sink for Down {
            fn name(&self) -> &str {
                "down"
            }
            async fn write(&self, _: &[UserAction]) -> Result<(), SinkError> {
                Err(SinkError::Unavailable {
                    sink: "down".into(),
                    message: "down".into(),
                })
            }
        }
        let spool = SpoolSink::open(dir.path(), 2000, Arc::new(Down), &mut reg).unwrap();
        let batch: Vec<_> = (0..20).map(action).collect();
        let mut accepted = 0;
        let err = loop {
            match spool.write(&batch).await {
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
}
