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
    /// Seconds without a heartbeat after which an executor counts as lost: the jobs running
    /// then fail (they are not recovered, see docs/scale.md); later jobs run on the others.
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
    use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
    let config = Arc::new(SchedulerConfig {
        bind_host: a.bind.ip().to_string(),
        bind_port: a.bind.port(),
        external_host: a.external_host.unwrap_or_else(|| a.bind.ip().to_string()),
        executor_timeout_seconds: a.executor_timeout_secs,
        // A task that cannot fetch a lost executor's shuffle output fails its job instead of
        // rolling the stage back (see `LostExecutorGuard`).
        stage_max_failures: 1,
        ..Default::default()
    });
    config.validate()?;
    let ballista = BallistaCluster::new_from_config(&config).await?;
    let guard = Arc::new(LostExecutorGuard {
        inner: ballista.cluster_state(),
        scheduler: std::sync::OnceLock::new(),
    });
    let cluster = BallistaCluster::new(guard.clone(), ballista.job_state());
    let server = create_scheduler(cluster, Arc::clone(&config)).await?;
    let _ = guard.scheduler.set(server.clone());
    tracing::info!(bind = %a.bind, "Ballista scheduler starting");
    tokio::select! {
        served = start_grpc_service(a.bind, server) => {
            served?;
            Ok(ExitCode::SUCCESS)
        }
        _ = actionlog_bridge::termination_signal() => {
            tracing::info!("Ballista scheduler stopped");
            Ok(ExitCode::SUCCESS)
        }
    }
}

type Scheduler = ballista_scheduler::scheduler_server::SchedulerServer<
    datafusion_proto::protobuf::LogicalPlanNode,
    datafusion_proto::protobuf::PhysicalPlanNode,
>;

/// Ballista's in-memory cluster state, except that losing an executor first cancels every
/// running job, so that the job fails with an error instead of being recovered.
///
/// Ballista 55 recovers a job from a lost executor by rolling running stages back and
/// running them again; a stage's tasks that had finished before the loss keep their output
/// registered with the next stage, and the re-run registers its own beside it
/// (`StageOutput::add_partition` appends). We saw the result: with one of two executors
/// killed mid-run, `exclusions` counted 713 excluded records instead of 672. A KPI report
/// must be right or fail, so a lost executor fails the jobs it could have touched (a run of
/// `actionlog kpi` then ends with an error and can be started again); jobs submitted after
/// the loss run on the executors left.
struct LostExecutorGuard {
    inner: Arc<dyn ballista_scheduler::cluster::ClusterState>,
    /// Set once the scheduler is built (it owns this cluster state).
    scheduler: std::sync::OnceLock<Scheduler>,
}

#[async_trait::async_trait]
impl ballista_scheduler::cluster::ClusterState for LostExecutorGuard {
    async fn init(&self) -> ballista_core::error::Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: ballista_scheduler::config::TaskDistributionPolicy,
        active_jobs: Arc<
            std::collections::HashMap<
                ballista_core::JobId,
                ballista_scheduler::state::task_manager::JobInfoCache,
            >,
        >,
        executors: Option<std::collections::HashSet<String>>,
    ) -> ballista_core::error::Result<Vec<ballista_scheduler::cluster::BoundTask>> {
        self.inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await
    }

    async fn unbind_tasks(
        &self,
        executor_slots: Vec<ballista_scheduler::cluster::ExecutorSlot>,
    ) -> ballista_core::error::Result<()> {
        self.inner.unbind_tasks(executor_slots).await
    }

    async fn register_executor(
        &self,
        metadata: ballista_core::serde::scheduler::ExecutorMetadata,
        spec: ballista_core::serde::scheduler::ExecutorData,
    ) -> ballista_core::error::Result<()> {
        self.inner.register_executor(metadata, spec).await
    }

    async fn save_executor_metadata(
        &self,
        metadata: ballista_core::serde::scheduler::ExecutorMetadata,
    ) -> ballista_core::error::Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(
        &self,
        executor_id: &str,
    ) -> ballista_core::error::Result<ballista_core::serde::scheduler::ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(
        &self,
    ) -> Vec<ballista_core::serde::scheduler::ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(
        &self,
        heartbeat: ballista_core::serde::protobuf::ExecutorHeartbeat,
    ) -> ballista_core::error::Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> ballista_core::error::Result<()> {
        // Before the scheduler hears of the loss: the cancellations are queued ahead of the
        // stage roll-back that the loss triggers.
        if let Some(scheduler) = self.scheduler.get() {
            let running: Vec<ballista_core::JobId> = scheduler
                .state
                .task_manager
                .get_running_job_cache()
                .keys()
                .cloned()
                .collect();
            for job in running {
                tracing::warn!(
                    executor = executor_id,
                    job = %job,
                    "executor lost while the job ran: cancelling the job rather than re-running its stages (Ballista's recovery can count rows twice)"
                );
                if let Err(e) = scheduler.cancel_job(job.clone()).await {
                    tracing::error!(job = %job, error = %e, "could not cancel the job");
                }
            }
        }
        self.inner.remove_executor(executor_id).await
    }

    fn executor_heartbeats(
        &self,
    ) -> std::collections::HashMap<String, ballista_core::serde::protobuf::ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(
        &self,
        executor_id: &str,
    ) -> Option<ballista_core::serde::protobuf::ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(
        &self,
    ) -> ballista_core::error::Result<ballista_scheduler::cluster::ClusterStateEventStream> {
        self.inner.cluster_state_events().await
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
