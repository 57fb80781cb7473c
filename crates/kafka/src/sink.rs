//! The producer: a librdkafka `ThreadedProducer` whose delivery reports count down the
//! write their event belongs to and update the counters, so counts stay right even when a
//! caller stops waiting (the exporter's timeout drops its future; librdkafka still reports).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use tokio::sync::Notify;

use super::config::{BufferFullPolicy, KafkaConfigError, KafkaSinkConfig};
use super::encode::{
    CONTENT_TYPE, HEADER_CONTENT_TYPE, HEADER_MESSAGE_NAME, HEADER_TRACEPARENT, TRACEPARENT_LEN,
    encode_value_into, write_traceparent,
};
use actionlog::proto::{USER_ACTION_FULL_NAME, UserAction};
use actionlog::sink::{Sink, SinkError};

const NAME: &str = "kafka";
/// How often a write blocked on a full buffer tries again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What the Kafka sink has done, in counters another component can read at any time
/// (`KafkaSink::stats`).
#[derive(Debug, Default)]
pub struct KafkaStats {
    /// Events handed to librdkafka's buffer.
    pub enqueued: AtomicU64,
    /// Events the broker acknowledged (`acks=all`).
    pub delivered: AtomicU64,
    /// Events that failed: refused when enqueued (too large, ...) or reported failed by
    /// librdkafka (timed out, unknown topic, not authorised, purged at shutdown).
    pub failed: AtomicU64,
    /// Events never enqueued because the buffer was full (drop-newest, or block timed out).
    pub dropped: AtomicU64,
    /// Errors librdkafka reported about the client itself (connection refused,
    /// authentication failed, ...).
    pub client_errors: AtomicU64,
    reported_failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl KafkaStats {
    /// The latest client-level error librdkafka reported, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Whether the latest client error is an authentication failure. Sending again will
    /// not help until the credentials change, so timeouts under it are reported as
    /// rejections. librdkafka reports a refused SASL handshake as a transport error, so
    /// its text is what tells.
    fn last_error_is_authentication(&self) -> bool {
        self.last_error().is_some_and(|e| {
            let e = e.to_ascii_lowercase();
            e.contains("sasl") || e.contains("authentication")
        })
    }

    /// Events enqueued whose delivery report has not arrived yet.
    pub fn in_flight(&self) -> u64 {
        let done =
            self.delivered.load(Ordering::Acquire) + self.reported_failed.load(Ordering::Acquire);
        self.enqueued.load(Ordering::Acquire).saturating_sub(done)
    }
}

/// One write's events in librdkafka's hands. Every event's record carries a reference
/// (the delivery opaque), so a write costs no allocation per event.
#[derive(Default)]
struct Pending {
    /// Events enqueued and not yet reported, plus one held by the writer until it has
    /// enqueued them all, so the count reaches zero only after the last report.
    left: AtomicUsize,
    /// What librdkafka reported failed.
    failures: Mutex<Vec<KafkaError>>,
    /// Signalled when `left` reaches zero (a permit is kept if the writer is not yet
    /// waiting).
    settled: Notify,
}

impl Pending {
    /// Counts one event (or the writer's hold) as done.
    fn settle_one(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_one();
        }
    }
}

/// How long the same client error stays at debug level after it was logged as a warning:
/// librdkafka reports a lost connection on every reconnect attempt.
const REPEAT_LOG_AFTER: Duration = Duration::from_secs(60);

struct SinkContext {
    stats: Arc<KafkaStats>,
    brokers: String,
    logged: Mutex<HashMap<String, Instant>>,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // librdkafka repeats connection failures on every reconnect attempt; those also
        // come through `error`, which rate-limits them, so keep these quiet.
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                tracing::error!(target: "actionlog::kafka::librdkafka", fac, "{message}")
            }
            _ => tracing::debug!(target: "actionlog::kafka::librdkafka", fac, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.stats.client_errors.fetch_add(1, Ordering::Relaxed);
        let code = error.rdkafka_error_code();
        // Some reasons ("1/1 brokers are down") do not say which brokers.
        let line = if reason.contains(&self.brokers) {
            format!("{reason} ({error})")
        } else {
            format!("{reason} ({error}; bootstrap: {})", self.brokers)
        };
        if let Ok(mut last) = self.stats.last_error.lock() {
            *last = Some(line.clone());
        }
        let now = Instant::now();
        let repeated = match self.logged.lock() {
            Ok(mut logged) => {
                logged.retain(|_, at| now.duration_since(*at) < REPEAT_LOG_AFTER);
                let seen = logged.contains_key(&line);
                if !seen {
                    logged.insert(line.clone(), now);
                }
                seen
            }
            Err(_) => false,
        };
        if repeated {
            tracing::debug!(brokers = %self.brokers, "kafka: {line}");
            return;
        }
        match code {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                tracing::error!(brokers = %self.brokers, "kafka: authentication failed: {line}")
            }
            Some(RDKafkaErrorCode::Fatal) => {
                tracing::error!(brokers = %self.brokers, "kafka: fatal producer error, no further event can be sent: {line}")
            }
            _ => tracing::warn!(
                brokers = %self.brokers,
                "kafka: {line}; events wait in the bounded buffer until a broker answers or message_timeout_ms passes"
            ),
        }
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Arc<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.stats.delivered.fetch_add(1, Ordering::AcqRel);
            }
            Err((e, _)) => {
                self.stats.failed.fetch_add(1, Ordering::AcqRel);
                self.stats.reported_failed.fetch_add(1, Ordering::AcqRel);
                if let Ok(mut f) = pending.failures.lock() {
                    f.push(e.clone());
                }
            }
        }
        // The writer may have stopped waiting (exporter timeout); the counters above
        // already recorded the outcome.
        pending.settle_one();
    }
}

/// A [`Sink`] that produces each action to a Kafka topic and resolves a write only once
/// the broker acknowledged every event of it, or it failed.
///
/// Value: the `UserAction` protobuf (optionally in Schema Registry framing); key: the
/// user; headers: `content-type`, `protobuf-message` and, when the action has one,
/// `traceparent`.
pub struct KafkaSink {
    producer: ThreadedProducer<SinkContext>,
    config: KafkaSinkConfig,
    stats: Arc<KafkaStats>,
    shut_down: AtomicBool,
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KafkaSink")
    }
}

impl KafkaSink {
    /// Creates the producer. Does not wait for a broker: while none answers, events wait
    /// in the bounded buffer and the connection errors are logged.
    pub fn new(config: KafkaSinkConfig) -> Result<Self, KafkaConfigError> {
        let stats = Arc::new(KafkaStats::default());
        let context = SinkContext {
            stats: stats.clone(),
            brokers: config.brokers.clone(),
            logged: Mutex::new(HashMap::new()),
        };
        let producer = config.producer_config()?.create_with_context(context)?;
        Ok(Self {
            producer,
            config,
            stats,
            shut_down: AtomicBool::new(false),
        })
    }

    /// The sink's counters.
    pub fn stats(&self) -> Arc<KafkaStats> {
        self.stats.clone()
    }

    /// The settings the sink was built with.
    pub fn config(&self) -> &KafkaSinkConfig {
        &self.config
    }

    fn error_hint(&self) -> String {
        self.stats
            .last_error()
            .map(|e| format!(" (last client error: {e})"))
            .unwrap_or_default()
    }
}

impl KafkaSink {
    /// librdkafka's flush, which sends lingering batches at once, on a blocking thread.
    async fn flush_for(&self, timeout: Duration) -> Result<(), SinkError> {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        match flushed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SinkError::Unavailable {
                sink: NAME.into(),
                message: format!(
                    "flush did not finish within {timeout:?}: {e}; {} action(s) still buffered{}",
                    self.producer.in_flight_count(),
                    self.error_hint()
                ),
            }),
            Err(join) => Err(SinkError::Unavailable {
                sink: NAME.into(),
                message: format!("flush task failed: {join}"),
            }),
        }
    }
}

/// Errors no retry can fix: reported as `Rejected`.
fn is_permanent(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::MessageSizeTooLarge
                | C::UnknownTopicOrPartition
                | C::UnknownTopic
                | C::UnknownPartition
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::SaslAuthenticationFailed
                | C::Authentication
                | C::InvalidRecord
                | C::InvalidTopic
                | C::MessageBatchTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::Fatal
        )
    )
}

#[async_trait]
impl Sink for KafkaSink {
    fn name(&self) -> &str {
        NAME
    }

    async fn write(&self, actions: &[UserAction]) -> Result<(), SinkError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(SinkError::ShutDown { sink: NAME.into() });
        }
        let topic = self.config.topic.as_str();
        let pending = Arc::new(Pending {
            left: AtomicUsize::new(1),
            ..Pending::default()
        });
        let mut dropped = 0u64;
        let mut refused: Vec<KafkaError> = Vec::new();
        let mut blocked_since: Option<Instant> = None;
        let mut gave_up = false;
        // librdkafka copies value and headers when a record is sent: one buffer of each
        // serves the whole batch.
        let mut value = Vec::with_capacity(512);
        let mut tp_buf = [0u8; TRACEPARENT_LEN];
        for action in actions {
            if gave_up {
                dropped += 1;
                continue;
            }
            encode_value_into(action, self.config.schema_id, &mut value);
            let tp = write_traceparent(action, &mut tp_buf);
            let mut headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: HEADER_CONTENT_TYPE,
                    value: Some(CONTENT_TYPE),
                })
                .insert(Header {
                    key: HEADER_MESSAGE_NAME,
                    value: Some(USER_ACTION_FULL_NAME),
                });
            if let Some(tp) = tp {
                headers = headers.insert(Header {
                    key: HEADER_TRACEPARENT,
                    value: Some(tp),
                });
            }
            // Counted before it is handed over: its report may come before `send` returns.
            pending.left.fetch_add(1, Ordering::AcqRel);
            let mut record: BaseRecord<'_, str, [u8], _> =
                BaseRecord::with_opaque_to(topic, pending.clone())
                    .payload(value.as_slice())
                    .headers(headers);
            if let Some(user) = action.user.as_deref() {
                record = record.key(user);
            }
            let enqueued = loop {
                match self.producer.send(record) {
                    Ok(()) => {
                        self.stats.enqueued.fetch_add(1, Ordering::AcqRel);
                        break true;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        match self.config.when_full {
                            BufferFullPolicy::DropNewest => {
                                dropped += 1;
                                break false;
                            }
                            BufferFullPolicy::Block => {
                                let since = *blocked_since.get_or_insert_with(Instant::now);
                                if since.elapsed() >= self.config.block_timeout() {
                                    gave_up = true;
                                    dropped += 1;
                                    break false;
                                }
                                record = r;
                                tokio::time::sleep(POLL_INTERVAL).await;
                            }
                        }
                    }
                    Err((e, _)) => {
                        self.stats.failed.fetch_add(1, Ordering::AcqRel);
                        tracing::warn!(user = ?action.user, command = ?action.command, "kafka: action refused: {e}");
                        refused.push(e);
                        break false;
                    }
                }
            };
            // No report will come for it.
            if !enqueued {
                pending.settle_one();
            }
        }
        if dropped > 0 {
            self.stats.dropped.fetch_add(dropped, Ordering::AcqRel);
            tracing::warn!(
                dropped,
                policy = ?self.config.when_full,
                "kafka: producer buffer full ({} messages / {} KiB); dropped {dropped} newest action(s){}",
                self.config.buffer_max_messages,
                self.config.buffer_max_kbytes,
                self.error_hint()
            );
        }

        // The writer's hold: after it, only reports count down. Whoever reaches zero leaves
        // the permit this wait takes.
        pending.settle_one();
        pending.settled.notified().await;
        let mut failures = refused;
        if let Ok(mut reported) = pending.failures.lock() {
            failures.append(&mut reported);
        }
        if failures.is_empty() && dropped == 0 {
            return Ok(());
        }
        let total = actions.len();
        let failed = failures.len();
        let mut message = format!(
            "{} of {total} action(s) delivered",
            total - failed - dropped as usize
        );
        if let Some(first) = failures.first() {
            message.push_str(&format!("; {failed} failed, first: {first}"));
        }
        if dropped > 0 {
            message.push_str(&format!("; {dropped} dropped (producer buffer full)"));
        }
        message.push_str(&self.error_hint());
        if failures.iter().any(is_permanent) || self.stats.last_error_is_authentication() {
            Err(SinkError::Rejected {
                sink: NAME.into(),
                count: failed + dropped as usize,
                message,
            })
        } else {
            Err(SinkError::Unavailable {
                sink: NAME.into(),
                message,
            })
        }
    }

    /// `write` resolves on the delivery reports: the broker acknowledged every record (with
    /// the default `acks=all`, as durable as the cluster makes it).
    fn durability(&self) -> actionlog::sink::Durability {
        actionlog::sink::Durability::OnWrite
    }

    async fn flush(&self) -> Result<(), SinkError> {
        // Every queued event settles within message_timeout_ms, so that bounds the wait.
        let bound = Duration::from_millis(u64::from(self.config.message_timeout_ms));
        self.flush_for(bound + Duration::from_secs(1)).await
    }

    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(SinkError::ShutDown { sink: NAME.into() });
        }
        // A timeout here is what the purge below reports; nothing else to do with it.
        let _ = self.flush_for(timeout).await;
        let left = self.producer.in_flight_count();
        if left <= 0 {
            return Ok(());
        }
        // Purged events get a failure report, which releases writers still waiting.
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        tracing::error!(
            undelivered = left,
            "kafka: shutdown deadline of {timeout:?} passed with {left} action(s) undelivered{}",
            self.error_hint()
        );
        Err(SinkError::Undelivered {
            sink: NAME.into(),
            undelivered: left as u64,
        })
    }
}
