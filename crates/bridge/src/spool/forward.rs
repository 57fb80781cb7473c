//! One forwarder per sink: reads the segments in order, delivers them in batches, makes them
//! durable in its sink (by the sink's [`Durability`]) and keeps its checkpoint.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actionlog::proto::UserAction;
use actionlog::sink::{Durability, Sink, SinkError};

use super::checkpoint::{CheckpointFile, Mark, Pos};
use super::segment::{READ_CHUNK, parse_records, read_from};
use super::{BATCH_ACTIONS, Shared};

/// After this long without new data the forwarder seals the active segment, makes its sink
/// durable and deletes what every sink holds (bounds the latency of a quiet spool).
const IDLE_SEAL: Duration = Duration::from_millis(200);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A forwarder's state.
pub(super) struct Lane {
    index: usize,
    sink: Arc<dyn Sink>,
    durability: Durability,
    checkpoint: CheckpointFile,
    /// The last mark written (or found) in the checkpoint file.
    stored: Option<Mark>,
    /// Next record to read.
    pos: Pos,
    /// Everything before it is durable in the sink.
    acked: Pos,
    /// End of the last batch handed to the sink.
    sent_until: Pos,
    /// Records before it may already be in the sink (sent by a previous process, or before
    /// a failure): sending them again counts as redelivery.
    redeliver_until: Pos,
    last_flush: Instant,
    /// Whether a checkpoint write failed since the last one that worked (logged once).
    checkpoint_failing: bool,
}

impl Lane {
    pub(super) fn new(
        index: usize,
        sink: Arc<dyn Sink>,
        checkpoint: CheckpointFile,
        start: Pos,
        redeliver_until: Pos,
    ) -> Self {
        Self {
            index,
            durability: sink.durability(),
            sink,
            checkpoint,
            stored: None,
            pos: start,
            acked: start,
            redeliver_until,
            sent_until: start,
            last_flush: Instant::now(),
            checkpoint_failing: false,
        }
    }

    /// Writes the checkpoint `(acked, dispatched)` unless it is already there. A failure is
    /// logged and counted, not fatal: the segments still go only once the sink holds them,
    /// and a crash then sends again from the older checkpoint.
    async fn store(&mut self, sh: &Shared, dispatched: Pos) {
        let mark = Mark {
            acked: self.acked,
            dispatched,
        };
        if self.stored == Some(mark) {
            return;
        }
        match self.checkpoint.store(&mark).await {
            Ok(()) => {
                self.stored = Some(mark);
                self.checkpoint_failing = false;
            }
            Err(e) => {
                sh.metrics.checkpoint_errors.inc();
                if !self.checkpoint_failing {
                    tracing::warn!(error = %e, checkpoint = %self.checkpoint.path().display(),
                        "cannot write the spool's delivery checkpoint; delivery goes on (a crash would send more again)");
                }
                self.checkpoint_failing = true;
            }
        }
    }

    /// Flushes the sink when what it accepted is not yet durable; `false` on failure.
    async fn make_durable(&mut self, sh: &Shared) -> bool {
        if self.acked >= self.pos {
            return true;
        }
        if self.durability != Durability::OnWrite {
            self.last_flush = Instant::now();
            if let Err(e) = self.sink.flush().await {
                sh.metrics.delivery_errors.inc();
                tracing::warn!(sink = self.sink.name(), error = %e,
                    "sink flush failed; the actions since its last durable point are sent again");
                return false;
            }
        }
        self.acked = self.pos;
        true
    }

    /// Whether a flush is due after a batch (the sink's interval has passed).
    fn flush_due(&self) -> bool {
        match self.durability {
            Durability::OnFlush { every } => self.last_flush.elapsed() >= every,
            _ => true,
        }
    }

    /// Writes `actions` to the sink until it accepts or refuses them for good; `false` when
    /// the write failed and must be retried.
    async fn deliver(&self, sh: &Shared, actions: &[UserAction]) -> bool {
        match self.sink.write(actions).await {
            Ok(()) => {
                sh.metrics.forwarded.inc_by(actions.len() as u64);
                true
            }
            Err(SinkError::Rejected { count, message, .. }) => {
                tracing::error!(sink = self.sink.name(), count, error = %message,
                    "a sink refused spooled actions for good; they are not retried");
                sh.metrics.rejected.inc_by(count as u64);
                sh.metrics
                    .forwarded
                    .inc_by(actions.len().saturating_sub(count) as u64);
                true
            }
            Err(e) => {
                sh.metrics.delivery_errors.inc();
                tracing::warn!(sink = self.sink.name(), error = %e, actions = actions.len(),
                    "delivery from the spool failed; retrying");
                false
            }
        }
    }

    /// After a failure: go back to the durable point; what follows is redelivered.
    fn rewind(&mut self) {
        self.redeliver_until = self.redeliver_until.max(self.sent_until);
        self.pos = self.acked;
    }
}

/// The forwarder of one sink: delivers the segments from its start on, in order, until the
/// spool stops and it has delivered everything.
pub(super) async fn run(sh: Arc<Shared>, mut lane: Lane) {
    let mut backoff = MIN_BACKOFF;
    let mut failed = false;
    loop {
        if failed {
            lane.rewind();
            failed = false;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        let (active_seq, _) = sh.active_seq_and_len();
        let Pos { seq, offset } = lane.pos;
        let chunk = {
            let dir = sh.dir.clone();
            match tokio::task::spawn_blocking(move || read_from(&dir, seq, offset, READ_CHUNK))
                .await
            {
                Ok(Ok(c)) => c,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound && seq < active_seq => {
                    // A gap in the sequence (a segment deleted by hand): go on.
                    let next = Pos::new(seq + 1, 0);
                    if lane.acked == lane.pos {
                        lane.acked = next;
                    }
                    lane.pos = next;
                    sh.passed(lane.index, lane.acked.seq);
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
        let parsed = parse_records(&chunk, BATCH_ACTIONS);
        if !parsed.actions.is_empty() {
            let end = Pos::new(seq, offset + parsed.used as u64);
            // Before sending: the dispatch mark, so that a restart knows what the sink may
            // hold beyond its durable point.
            lane.store(&sh, end).await;
            if lane.redeliver_until > lane.pos {
                let until = if lane.redeliver_until.seq > seq {
                    usize::MAX
                } else {
                    (lane.redeliver_until.offset.saturating_sub(offset)) as usize
                };
                sh.metrics
                    .redelivered
                    .inc_by(parsed.actions_before(until) as u64);
            }
            lane.sent_until = end;
            if !lane.deliver(&sh, &parsed.actions).await {
                failed = true;
                continue;
            }
            lane.pos = end;
            if lane.durability == Durability::OnWrite {
                lane.acked = end;
            } else if lane.flush_due() {
                if !lane.make_durable(&sh).await {
                    failed = true;
                    continue;
                }
                // A flush that ends files covers up to a second of actions: record it at
                // once, or a crash before the next batch would send all of it again.
                if lane.durability
                    != (Durability::OnFlush {
                        every: Duration::ZERO,
                    })
                {
                    lane.store(&sh, end).await;
                }
            }
            backoff = MIN_BACKOFF;
            continue;
        }
        if seq < active_seq {
            // A sealed segment, read to its end (or to a torn tail left by a crash).
            let rest = chunk.len() - parsed.used;
            if rest > 0 || parsed.corrupt {
                tracing::warn!(
                    seq,
                    bytes = rest,
                    "ignoring the torn end of a spool segment (never acknowledged)"
                );
            }
            if !lane.make_durable(&sh).await {
                failed = true;
                continue;
            }
            let next = Pos::new(seq + 1, 0);
            lane.pos = next;
            lane.acked = next;
            lane.store(&sh, next).await;
            sh.passed(lane.index, next.seq);
            continue;
        }
        // Caught up with the active segment: make the sink durable when its interval allows
        // (at once for most sinks), and record it.
        if lane.flush_due() && !lane.make_durable(&sh).await {
            failed = true;
            continue;
        }
        lane.store(&sh, lane.pos).await;
        if sh.stopping.load(Ordering::Acquire) {
            // Read again: a record appended since the read above must not be left behind.
            let (now_seq, active_len) = sh.active_seq_and_len();
            if now_seq == seq && offset == 0 && active_len == 0 {
                sh.drained[lane.index].store(true, Ordering::Release);
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
        let woken = tokio::time::timeout(IDLE_SEAL, sh.wake[lane.index].notified()).await;
        if woken.is_err()
            && offset > 0
            && let Err(e) = sh.seal_if(seq, offset)
        {
            tracing::error!(error = %e, "cannot seal the spool segment");
            failed = true;
        }
    }
}
