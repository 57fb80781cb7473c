//! `actionlog tail`: consume a Kafka topic of UserAction events and print them as JSON lines.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

use crate::CliResult;
use actionlog::json::to_json_line;
use actionlog_kafka::{StartFrom, consumer_config, decode_value};

/// Arguments of `actionlog tail`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Bootstrap brokers, comma-separated `host:port`.
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: String,
    /// Topic to read.
    #[arg(long, default_value = "user_actions")]
    topic: String,
    /// Consumer group; offsets are committed, so a second run continues where this one
    /// stopped.
    #[arg(long, default_value = "actionlog-tail")]
    group: String,
    /// Where to start when the group has no committed offset.
    #[arg(long, value_enum, default_value_t = StartFrom::Latest)]
    from: StartFrom,
    /// Exit after printing this many actions.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit after this many seconds without a new action (0: wait forever).
    #[arg(long, default_value_t = 0)]
    idle_timeout_secs: u64,
    /// Any librdkafka consumer setting (`security.protocol`, `sasl.*`, ...), repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    options: Vec<String>,
}

pub(crate) fn run(args: Args) -> CliResult {
    let config = consumer_config(
        &args.brokers,
        &args.group,
        args.from,
        "actionlog-tail",
        &[],
        &args.options,
    )?;
    let consumer: BaseConsumer = config.create()?;
    consumer.subscribe(&[args.topic.as_str()])?;

    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut printed = 0u64;
    let mut idle = Duration::ZERO;
    let poll = Duration::from_millis(200);
    while args.max_messages.is_none_or(|max| printed < max) {
        let Some(msg) = consumer.poll(poll) else {
            out.flush()?;
            idle += poll;
            if args.idle_timeout_secs > 0 && idle >= Duration::from_secs(args.idle_timeout_secs) {
                break;
            }
            continue;
        };
        idle = Duration::ZERO;
        let msg = msg?;
        match msg.payload().map(decode_value) {
            Some(Ok(action)) => {
                writeln!(out, "{}", to_json_line(&action))?;
                printed += 1;
            }
            Some(Err(e)) => tracing::warn!(
                partition = msg.partition(),
                offset = msg.offset(),
                "not a UserAction, skipped: {e}"
            ),
            None => tracing::warn!(
                partition = msg.partition(),
                offset = msg.offset(),
                "empty message, skipped"
            ),
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
