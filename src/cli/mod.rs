//! The `actionlog` command line: one file per subcommand, each a clap `Args` struct and a
//! `run` function. Business logic lives in the library modules, not here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod decode;
mod demo;
mod generate;
mod kpi;
#[cfg(feature = "kafka")]
mod load;
mod serve;
#[cfg(feature = "kafka")]
mod tail;

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
    Generate(generate::Args),
    /// Compute every KPI over the embedded warehouse (table, JSON, CSV or HTML report).
    Kpi(kpi::Args),
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
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
        Command::Generate(a) => generate::run(a),
        Command::Kpi(a) => kpi::run(a),
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
