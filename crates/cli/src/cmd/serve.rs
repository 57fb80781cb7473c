//! `actionlog serve`: the bridge service (OTLP in, UserAction out). See `docs/bridge.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::CliResult;
use actionlog::sink::FileFormat;
use actionlog_bridge::config::{Overrides, ServeConfig, SinkConfig, parse_file_format};

/// Arguments of `actionlog serve`. Flags override environment variables, which override the
/// config file, which overrides the defaults.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "ACTIONLOG_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective configuration (secrets masked) and exit.
    #[arg(long)]
    print_config: bool,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long)]
    grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP (and /healthz, /readyz, /metrics) listen address [default: 127.0.0.1:4318].
    #[arg(long)]
    http_addr: Option<SocketAddr>,
    /// Largest request body in bytes [default: 4194304].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Seconds allowed on SIGTERM/SIGINT to drain requests and flush sinks [default: 20].
    #[arg(long)]
    shutdown_timeout_secs: Option<f64>,
    /// OTLP/gRPC endpoint that receives non-action spans unchanged (default: drop them).
    #[arg(long)]
    forward_endpoint: Option<String>,
    /// Write actions to this file (replaces the configured sinks, like the other sink flags).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Format of --file.
    #[arg(long, value_parser = parse_file_format, default_value = "protobuf")]
    file_format: FileFormat,
    /// Land actions in this embedded Parquet warehouse directory (replaces the configured
    /// sinks; `actionlog kpi --warehouse DIR` reads it). Durable by default: requests are
    /// answered once their actions are synced to the spool in DIR/_spool (see --no-spool).
    #[arg(long)]
    warehouse: Option<PathBuf>,
    /// Print actions on stdout as JSON lines (replaces the configured sinks).
    #[arg(long)]
    stdout: bool,
    /// Send actions as OTLP log events to this collector endpoint (replaces the configured
    /// sinks).
    #[arg(long)]
    otlp_log_endpoint: Option<String>,
    /// Durable mode: spool every request's actions here, synced, before answering it
    /// (`spool.dir`, `ACTIONLOG_SPOOL_DIR`) [default with a warehouse sink: DIR/_spool].
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    /// Memory mode: no spool, not even for a warehouse sink (`spool.enabled = false`,
    /// `ACTIONLOG_SPOOL_ENABLED=false`). Requests are answered once the sinks accepted the
    /// actions. RISK: the warehouse sink holds acknowledged rows in memory until their
    /// Parquet file closes (by size, after 5 minutes, or at shutdown), so a crash, an OOM
    /// kill or a power cut loses them, and the clients that were told "success" do not send
    /// them again.
    #[arg(long, conflicts_with = "spool_dir")]
    no_spool: bool,
    /// Protocol of --otlp-log-endpoint: grpc or http/protobuf [default: grpc].
    #[arg(long, requires = "otlp_log_endpoint")]
    otlp_log_protocol: Option<actionlog_otlp::LogProtocol>,
    /// File with the key that turns users into HMAC-SHA256 pseudonyms (or set
    /// ACTIONLOG_PSEUDONYM_KEY; see docs/security.md).
    #[arg(long)]
    pseudonym_key_file: Option<PathBuf>,
    /// PEM certificate chain: serve both receivers over TLS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// File with the bearer token OTLP clients must send (or set ACTIONLOG_AUTH_TOKEN).
    #[arg(long)]
    auth_token_file: Option<PathBuf>,
}

/// Loads the configuration, then serves until SIGTERM/SIGINT.
pub(crate) fn run(args: Args) -> CliResult {
    let mut sinks = Vec::new();
    if let Some(path) = args.file {
        sinks.push(SinkConfig::File {
            path,
            format: args.file_format,
            sync: false,
        });
    }
    if let Some(dir) = args.warehouse {
        sinks.push(SinkConfig::Warehouse { dir });
    }
    if args.stdout {
        sinks.push(SinkConfig::Stdout);
    }
    if let Some(endpoint) = args.otlp_log_endpoint {
        sinks.push(SinkConfig::OtlpLog(actionlog_otlp::OtlpLogConfig {
            endpoint: Some(endpoint),
            protocol: args.otlp_log_protocol,
            ..Default::default()
        }));
    }
    let overrides = Overrides {
        grpc_addr: args.grpc_addr,
        http_addr: args.http_addr,
        max_body_bytes: args.max_body_bytes,
        shutdown_timeout_secs: args.shutdown_timeout_secs,
        forward_endpoint: args.forward_endpoint,
        sinks,
        pseudonym_key_file: args.pseudonym_key_file,
        tls: actionlog_bridge::tls::TlsConfig {
            cert_file: args.tls_cert,
            key_file: args.tls_key,
            loaded: None,
        },
        auth_token_file: args.auth_token_file,
        spool_dir: args.spool_dir,
        no_spool: args.no_spool,
    };
    let cfg = ServeConfig::load(
        args.config.as_deref(),
        &|k| std::env::var(k).ok(),
        overrides,
    )?;
    if args.print_config {
        print!("{}", cfg.to_redacted_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("actionlog-serve")
        .build()?;
    rt.block_on(async {
        let running = actionlog_bridge::start(&cfg).await?;
        actionlog_bridge::termination_signal().await;
        if running.shutdown().await {
            Ok(ExitCode::SUCCESS)
        } else {
            Err("shutdown did not complete within the deadline".into())
        }
    })
}
