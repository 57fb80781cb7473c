//! `actionlog load`: a Kafka consumer-group loader from the UserAction topic into the
//! embedded warehouse, at least once: a partition's offset is committed only once every
//! event before it is in a durable Parquet file (or, when undecodable, in the dead-letter
//! file). Duplicates a crash re-delivers are removed at KPI time by trace/span id.
//! See `docs/warehouse.md` ("actionlog load").

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::CliResult;
use actionlog::proto::UserAction;
use actionlog_kafka::{StartFrom, consumer_config, decode_value};
use actionlog_warehouse::{DEFAULT_MAX_FILE_BYTES, WarehouseWriter};

/// Exit code of the test-only `--crash-after-durable-before-commit` fault.
pub(crate) const EXIT_INJECTED_CRASH: i32 = 86;

/// Arguments of `actionlog load`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Offsets are committed only after the Parquet file holding the events is durable (synced and
renamed), so a crash re-delivers at most the events of files not yet committed; the KPIs
count such duplicates once (by trace/span id). Exit codes: 0 done (idle timeout, SIGINT or
SIGTERM: open files are closed and offsets committed first); 1 error (brokers unreachable,
unknown topic, warehouse I/O); 2 usage.")]
pub(crate) struct Args {
    /// Bootstrap brokers, comma-separated `host:port`.
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: String,
    /// Topic of UserAction events (plain protobuf or Schema Registry framing).
    #[arg(long, default_value = "user_actions")]
    topic: String,
    /// Consumer group; its committed offsets are where a restart continues.
    #[arg(long, default_value = "actionlog-load")]
    group: String,
    /// The warehouse directory to write into.
    #[arg(
        long,
        env = "ACTIONLOG_WAREHOUSE",
        default_value = "actionlog-warehouse"
    )]
    warehouse: PathBuf,
    /// Where to start when the group has no committed offset.
    #[arg(long, value_enum, default_value_t = StartFrom::Earliest)]
    from: StartFrom,
    /// Any librdkafka consumer setting (`security.protocol`, `sasl.*`, ...), repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Close a Parquet file (and commit its offsets) once it holds about this many bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES)]
    max_file_bytes: u64,
    /// Close a Parquet file (and commit its offsets) once it has been open this long: the
    /// bound on how long an event waits before it is readable and committed.
    #[arg(long, default_value_t = 60)]
    max_file_age_secs: u64,
    /// Events decoded per warehouse write.
    #[arg(long, default_value_t = 10_000)]
    batch_size: usize,
    /// Exit (after closing files and committing) once no event arrived for this many
    /// seconds after the group assigned partitions; for batch jobs. 0: run until
    /// SIGINT/SIGTERM.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    exit_when_idle: u64,
    /// Fail at start if no broker answers (with the topic's metadata) within this time.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    connect_timeout_secs: u64,
    /// Append undecodable messages here, one JSON line each (topic, partition, offset,
    /// error, key and value in hex); they are always counted and logged.
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Log a progress line this often (0: never).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    progress_secs: u64,
    /// Test only: exit abruptly (code 86) right after the first file becomes durable,
    /// before its offsets are committed.
    #[arg(long, hide = true)]
    crash_after_durable_before_commit: bool,
}

/// Counters of a run, logged as progress and in the final line.
#[derive(Debug, Default)]
struct Counts {
    messages: u64,
    loaded: u64,
    undecodable: u64,
    commits: u64,
    commit_errors: u64,
}

/// Next offsets to commit, per partition, for the messages of one warehouse batch.
type Offsets = BTreeMap<i32, i64>;

struct Loader {
    topic: String,
    writer: WarehouseWriter,
    dead_letter: Option<(PathBuf, File)>,
    dead_letter_dirty: bool,
    crash_after_durable: bool,
    /// Decoded events and the offsets they cover, not yet handed to the writer.
    actions: Vec<UserAction>,
    offsets: Offsets,
    /// Messages (decodable or not) taken since the last write.
    batch_messages: usize,
    /// Batches written but not yet committed, with the offsets they cover, oldest first.
    pending: VecDeque<(u64, Offsets)>,
    counts: Counts,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Loader {
    fn take(
        &mut self,
        msg: &BorrowedMessage<'_>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.counts.messages += 1;
        self.batch_messages += 1;
        let decoded = match msg.payload() {
            Some(p) => decode_value(p).map_err(|e| e.to_string()),
            None => Err("empty message (no value)".to_owned()),
        };
        match decoded {
            Ok(a) => self.actions.push(a),
            Err(error) => {
                self.counts.undecodable += 1;
                tracing::warn!(
                    topic = msg.topic(),
                    partition = msg.partition(),
                    offset = msg.offset(),
                    "undecodable message, not loaded: {error}"
                );
                if let Some((path, f)) = self.dead_letter.as_mut() {
                    let line = serde_json::json!({
                        "topic": msg.topic(),
                        "partition": msg.partition(),
                        "offset": msg.offset(),
                        "error": error,
                        "key_hex": msg.key().map(hex),
                        "value_hex": msg.payload().map(hex),
                    });
                    writeln!(f, "{line}")
                        .map_err(|e| format!("dead-letter file {}: {e}", path.display()))?;
                    self.dead_letter_dirty = true;
                }
            }
        }
        self.offsets.insert(msg.partition(), msg.offset() + 1);
        Ok(())
    }

    /// Hands the decoded events to the writer; their offsets wait for durability.
    fn write(&mut self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.offsets.is_empty() {
            return Ok(());
        }
        let batch = self.writer.write(&self.actions)?;
        self.counts.loaded += self.actions.len() as u64;
        self.actions.clear();
        self.batch_messages = 0;
        self.pending
            .push_back((batch, std::mem::take(&mut self.offsets)));
        Ok(())
    }

    /// Commits the offsets of every batch that is now entirely in durable files.
    fn commit_durable(
        &mut self,
        consumer: &BaseConsumer,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let durable = self.writer.durable_batch();
        let mut merged = Offsets::new();
        while self.pending.front().is_some_and(|(b, _)| *b <= durable) {
            if let Some((_, o)) = self.pending.pop_front() {
                merged.extend(o);
            }
        }
        if merged.is_empty() {
            return Ok(());
        }
        if self.crash_after_durable {
            tracing::warn!("fault injection: exiting after a durable file, before the commit");
            std::process::exit(EXIT_INJECTED_CRASH);
        }
        if self.dead_letter_dirty
            && let Some((path, f)) = self.dead_letter.as_mut()
        {
            // Undecodable messages are "handled" only once their dead-letter lines are.
            f.sync_data()
                .map_err(|e| format!("dead-letter file {}: {e}", path.display()))?;
            self.dead_letter_dirty = false;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, next) in &merged {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*next))?;
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => self.counts.commits += 1,
            // Not fatal: the events are durable; a later commit covers them, or a restart
            // re-delivers them and the KPIs count them once.
            Err(e) => {
                self.counts.commit_errors += 1;
                tracing::warn!(
                    "offset commit failed (events stay durable, may be re-delivered): {e}"
                );
            }
        }
        Ok(())
    }

    fn log_progress(&self, what: &str) {
        let c = &self.counts;
        tracing::info!(
            messages = c.messages,
            loaded = c.loaded,
            undecodable = c.undecodable,
            files = self.writer.stats().files.load(Ordering::Relaxed),
            commits = c.commits,
            commit_errors = c.commit_errors,
            "{what}"
        );
    }
}

fn client_config(args: &Args) -> Result<ClientConfig, String> {
    consumer_config(
        &args.brokers,
        &args.group,
        args.from,
        "actionlog-load",
        // Offsets are committed by hand, only for durable events.
        &[
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ],
        &args.options,
    )
}

pub(crate) fn run(args: Args) -> CliResult {
    let consumer: BaseConsumer = client_config(&args)?.create()?;
    // Fail fast and clearly rather than wait forever on a wrong address or topic name.
    let metadata = consumer
        .fetch_metadata(
            Some(&args.topic),
            Duration::from_secs(args.connect_timeout_secs),
        )
        .map_err(|e| {
            format!(
                "cannot reach the Kafka brokers {} within {} s: {e}",
                args.brokers, args.connect_timeout_secs
            )
        })?;
    if let Some(t) = metadata.topics().iter().find(|t| t.name() == args.topic)
        && let Some(err) = t.error()
    {
        return Err(format!(
            "topic {:?} is not available on {}: {}",
            args.topic,
            args.brokers,
            rdkafka::error::RDKafkaErrorCode::from(err)
        )
        .into());
    }
    consumer.subscribe(&[args.topic.as_str()])?;

    let writer = WarehouseWriter::open(&args.warehouse)?
        .with_max_file_bytes(args.max_file_bytes)
        .with_max_file_age(Duration::from_secs(args.max_file_age_secs));
    let dead_letter = match &args.dead_letter {
        None => None,
        Some(p) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("dead-letter file {}: {e}", p.display()))?;
            Some((p.clone(), f))
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                rt.block_on(actionlog_bridge::termination_signal());
                stop.store(true, Ordering::SeqCst);
            })?;
    }

    tracing::info!(
        brokers = %args.brokers,
        topic = %args.topic,
        group = %args.group,
        warehouse = %args.warehouse.display(),
        "loading"
    );
    let mut loader = Loader {
        topic: args.topic.clone(),
        writer,
        dead_letter,
        dead_letter_dirty: false,
        crash_after_durable: args.crash_after_durable_before_commit,
        actions: Vec::with_capacity(args.batch_size),
        offsets: Offsets::new(),
        batch_messages: 0,
        pending: VecDeque::new(),
        counts: Counts::default(),
    };
    let poll = Duration::from_millis(200);
    let idle_limit = (args.exit_when_idle > 0).then(|| Duration::from_secs(args.exit_when_idle));
    let progress_every = Duration::from_secs(args.progress_secs);
    let mut last_message = Instant::now();
    let mut last_progress = Instant::now();
    let batch_size = args.batch_size.max(1);

    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(poll) {
            Some(Ok(msg)) => {
                last_message = Instant::now();
                loader.take(&msg)?;
                if loader.batch_messages >= batch_size {
                    loader.write()?;
                    loader.commit_durable(&consumer)?;
                }
            }
            Some(Err(e)) => tracing::warn!("consumer: {e}"),
            None => {
                // A quiet moment: hand over what is decoded, close aged files, commit.
                loader.write()?;
                loader.writer.roll_expired()?;
                loader.commit_durable(&consumer)?;
                // Idle time counts only once the group gave this member its partitions:
                // joining (or waiting out a crashed predecessor's session) is not idleness.
                if idle_limit.is_some() && !consumer.assignment().is_ok_and(|a| a.count() > 0) {
                    last_message = Instant::now();
                }
                if idle_limit.is_some_and(|l| last_message.elapsed() >= l) {
                    tracing::info!("no event for {} s, finishing", args.exit_when_idle);
                    break;
                }
            }
        }
        if args.progress_secs > 0 && last_progress.elapsed() >= progress_every {
            loader.log_progress("progress");
            last_progress = Instant::now();
        }
    }

    loader.write()?;
    loader.writer.flush()?;
    loader.commit_durable(&consumer)?;
    loader.log_progress("finished");
    let c = &loader.counts;
    eprintln!(
        "loaded {} action(s) from {} message(s) of {} into {}; {} undecodable{}; {} offset commit(s), {} failed",
        c.loaded,
        c.messages,
        args.topic,
        args.warehouse.display(),
        c.undecodable,
        match &args.dead_letter {
            Some(p) => format!(" (written to {})", p.display()),
            None => String::new(),
        },
        c.commits,
        c.commit_errors,
    );
    Ok(ExitCode::SUCCESS)
}
