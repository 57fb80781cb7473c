//! # actionlog-cli
//!
//! The `actionlog` command line: one file per subcommand under `cmd/`, each a clap `Args`
//! struct and a `run` function; business logic lives in the library crates, not here. The
//! traffic generator behind `generate` and `demo` is [`generate`].

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
pub mod generate;

use cmd::{ballista, decode, demo, kpi, serve};
#[cfg(feature = "kafka")]
use cmd::{load, tail};

/// actionlog: capture what people do in a data catalog as UserAction events, and turn them
/// into numbers that matter.
#[derive(Debug, Parser)]
#[command(name = "actionlog", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log filter (tracing-subscriber `EnvFilter` syntax); also read from `RUST_LOG`.
    #[arg(long, global = true, env = "RUST_LOG", default_value = "info")]
    log: String,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (structured logs).
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a length-delimited UserAction file as JSON lines.
    Decode(decode::Args),
    /// Run the embedded demo: decorated Amundsen-like handlers → exporter → file, decoded.
    Demo(demo::Args),
    /// Run the bridge: receive OTLP traces, write action spans to the sinks as UserActions.
    Serve(serve::Args),
    /// Consume a Kafka topic of UserAction events and print them as JSON lines.
    #[cfg(feature = "kafka")]
    Tail(tail::Args),
    /// Load a Kafka topic of UserAction events into the warehouse (consumer group, at least once).
    #[cfg(feature = "kafka")]
    Load(load::Args),
    /// Generate realistic, deterministic Amundsen traffic into the embedded warehouse.
    Generate(cmd::generate::Args),
    /// Compute every KPI over the embedded warehouse (table, JSON, CSV or HTML report).
    Kpi(kpi::Args),
    /// Run a Ballista scheduler or executor, for `kpi --engine ballista` (docs/scale.md).
    Ballista(ballista::Args),
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: `serve 2>file`, journald and log
    // shippers get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Tells mimalloc (the binary's allocator) to keep the memory it frees until the process
/// exits, unless `MIMALLOC_PURGE_DELAY` says otherwise. For `kpi`, a batch job: DataFusion
/// frees and reallocates gigabytes between operators, and with mimalloc's default (give
/// freed memory back to the OS after 10 ms) every reuse faulted the pages in again, a fifth
/// of the CPU of a 10M-event run (docs/benchmarks.md). Peak RSS grows a little instead.
fn keep_freed_memory() {
    #[cfg(feature = "mimalloc")]
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // `mi_option_purge_delay` of mimalloc.h (v2 and v3): the bindings have no name for
        // it; it is the option before `use_numa_nodes`, and mimalloc keeps the numbers of
        // its options stable (retired ones stay as placeholders).
        const PURGE_DELAY: libmimalloc_sys::mi_option_t =
            libmimalloc_sys::mi_option_use_numa_nodes - 1;
        // SAFETY: sets a process-wide option; mimalloc reads options atomically, and -1
        // ("never purge") is a documented value of this one.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
    }
}

/// Parses the command line, runs the subcommand, and maps errors to exit codes: 0 success,
/// 1 failure (the error is printed on stderr), 2 usage error (from clap).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    let result = match cli.command {
        Command::Decode(a) => decode::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Serve(a) => serve::run(a),
        #[cfg(feature = "kafka")]
        Command::Tail(a) => tail::run(a),
        #[cfg(feature = "kafka")]
        Command::Load(a) => load::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Ballista(a) => ballista::run(a),
        Command::Kpi(a) => {
            keep_freed_memory();
            kpi::run(a)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("actionlog: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The error type of subcommands: anything displayable, with context.
pub(crate) type CliResult = Result<ExitCode, Box<dyn std::error::Error + Send + Sync>>;
