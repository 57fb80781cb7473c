//! `actionlog ballista scheduler|executor`: Apache Ballista's own scheduler and executor
//! (the `ballista-scheduler` and `ballista-executor` crates, at the DataFusion version of the
//! KPI engine), embedded in this binary so that a cluster for `actionlog kpi --engine
//! ballista` needs nothing else and its parts can never disagree on the protocol version.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::CliResult;

/// Arguments of `actionlog ballista`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, clap::Subcommand)]
enum Role {
    /// Run a Ballista scheduler: plans jobs into stages and hands tasks to the executors.
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor: registers with a scheduler and runs its tasks.
    Executor(ExecutorArgs),
}

/// `actionlog ballista scheduler`.
#[derive(Debug, clap::Args)]
struct SchedulerArgs {
    /// Address to listen on (gRPC: clients with `df://HOST:PORT` and executors).
    #[arg(
        long,
        env = "ACTIONLOG_BALLISTA_BIND",
        default_value = "127.0.0.1:50050"
    )]
    bind: SocketAddr,
    /// The host name executors and clients reach this scheduler by (default: the bind
    /// address's IP).
    #[arg(long)]
    external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor counts as lost and its tasks
    /// (and the map outputs it held) are run again elsewhere.
    #[arg(long, default_value_t = 180)]
    executor_timeout_secs: u64,
}

/// `actionlog ballista executor`.
#[derive(Debug, clap::Args)]
struct ExecutorArgs {
    /// The scheduler, HOST:PORT (the `df://` prefix is accepted too).
    #[arg(
        long,
        env = "ACTIONLOG_BALLISTA_SCHEDULER",
        default_value = "127.0.0.1:50050"
    )]
    scheduler: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// The host name the scheduler and clients reach this executor by (default: the
    /// address the scheduler sees it connect from).
    #[arg(long)]
    external_host: Option<String>,
    /// Arrow Flight port: where clients and other executors fetch results and shuffle data.
    #[arg(long, default_value_t = 50051)]
    flight_port: u16,
    /// gRPC port: where the scheduler pushes tasks.
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Tasks run at once (default: the number of cores).
    #[arg(long)]
    vcores: Option<usize>,
    /// Directory for shuffle files (must not be shared with another executor).
    #[arg(long)]
    work_dir: PathBuf,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 60)]
    heartbeat_interval_secs: u64,
    /// Seconds to keep trying to reach the scheduler at start.
    #[arg(long, default_value_t = 30)]
    connect_timeout_secs: u16,
}

pub(crate) fn run(args: Args) -> CliResult {
    // Ballista's planner and executors recurse over deep plans; its own binaries run on
    // 32 MiB stacks, and so do these.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()?;
    rt.block_on(async move {
        match args.role {
            Role::Scheduler(a) => scheduler(a).await,
            Role::Executor(a) => executor(a).await,
        }
    })
}

async fn scheduler(a: SchedulerArgs) -> CliResult {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    use ballista_scheduler::scheduler_process::start_server;
    let config = SchedulerConfig {
        bind_host: a.bind.ip().to_string(),
        bind_port: a.bind.port(),
        external_host: a.external_host.unwrap_or_else(|| a.bind.ip().to_string()),
        executor_timeout_seconds: a.executor_timeout_secs,
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await?;
    tracing::info!(bind = %a.bind, "Ballista scheduler starting");
    tokio::select! {
        served = start_server(cluster, a.bind, Arc::new(config)) => {
            served?;
            Ok(ExitCode::SUCCESS)
        }
        _ = actionlog_bridge::termination_signal() => {
            tracing::info!("Ballista scheduler stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn executor(a: ExecutorArgs) -> CliResult {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let target = a.scheduler.trim_start_matches("df://");
    let (host, port) = match target.rsplit_once(':') {
        Some((h, p)) => (
            h.to_owned(),
            p.parse::<u16>()
                .map_err(|_| format!("--scheduler {}: the port is not a number", a.scheduler))?,
        ),
        None => (target.to_owned(), 50050),
    };
    std::fs::create_dir_all(&a.work_dir)?;
    let config = ExecutorProcessConfig {
        bind_host: a.bind_host,
        external_host: a.external_host,
        port: a.flight_port,
        grpc_port: a.grpc_port,
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: a.connect_timeout_secs,
        vcores: a.vcores.unwrap_or(0),
        work_dir: Some(a.work_dir.to_string_lossy().into_owned()),
        executor_heartbeat_interval_seconds: a.heartbeat_interval_secs,
        ..Default::default()
    };
    // Runs until SIGINT/SIGTERM (or the scheduler tells it to stop), then drains its tasks.
    start_executor_process(Arc::new(config)).await?;
    Ok(ExitCode::SUCCESS)
}
