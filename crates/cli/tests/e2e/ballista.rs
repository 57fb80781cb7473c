//! The KPIs on a real Apache Ballista cluster: `actionlog ballista scheduler` and two
//! `actionlog ballista executor`s, each its own process on loopback ports, and `actionlog kpi
//! --engine ballista`. The cluster's report must equal the embedded engine's, KPI by KPI;
//! with one executor killed mid-run the answer is still right or the run fails clearly.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::spark::{actionlog, assert_same_reports, kpi_args};
use crate::harness::{bin, free_port};

/// One scheduler and its executors, killed on drop.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    url: String,
    logs: PathBuf,
}

impl Cluster {
    /// Starts a scheduler and `n` executors (one task slot each) and waits until every
    /// executor has registered.
    fn start(dir: &Path, n: usize, executor_timeout_secs: u64) -> Self {
        let logs = dir.join("cluster-logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        let port = free_port();
        let log_dir = logs.clone();
        let log = move |name: &str| std::fs::File::create(log_dir.join(name)).expect("log file");
        let scheduler = Command::new(bin())
            .args([
                "ballista",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .args([
                "--executor-timeout-secs",
                &executor_timeout_secs.to_string(),
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log("scheduler.log"))
            .spawn()
            .expect("start the scheduler");
        let mut cluster = Cluster {
            scheduler,
            executors: Vec::new(),
            url: format!("df://127.0.0.1:{port}"),
            logs,
        };
        cluster.wait_for("the scheduler's port", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        for i in 0..n {
            let child = Command::new(bin())
                .args([
                    "ballista",
                    "executor",
                    "--scheduler",
                    &format!("127.0.0.1:{port}"),
                ])
                .args(["--flight-port", &free_port().to_string()])
                .args(["--grpc-port", &free_port().to_string()])
                .args(["--vcores", "1", "--heartbeat-interval-secs", "2"])
                .arg("--work-dir")
                .arg(dir.join(format!("executor-{i}")))
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log(&format!("executor-{i}.log")))
                .spawn()
                .expect("start an executor");
            cluster.executors.push(child);
        }
        let logs = cluster.logs.clone();
        cluster.wait_for("every executor to register", || {
            (0..n).all(|i| {
                cluster_log(&logs, &format!("executor-{i}.log")).contains("registration succeed")
            })
        });
        cluster
    }

    fn wait_for(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            for c in std::iter::once(&mut self.scheduler).chain(self.executors.iter_mut()) {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "a cluster process exited ({st}) waiting for {what}:\n{}",
                        self.all_logs()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.all_logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many tasks the executors have finished so far (by their logs).
    fn tasks_finished(&self) -> usize {
        (0..self.executors.len())
            .map(|i| {
                cluster_log(&self.logs, &format!("executor-{i}.log"))
                    .matches("Finished task")
                    .count()
            })
            .sum()
    }

    fn all_logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.logs)
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out += &format!("--- {}\n", e.path().display());
            for l in tail.into_iter().rev() {
                out += l;
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self
            .executors
            .iter_mut()
            .chain(std::iter::once(&mut self.scheduler))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn cluster_log(logs: &Path, name: &str) -> String {
    std::fs::read_to_string(logs.join(name)).unwrap_or_default()
}

/// `actionlog kpi` on the cluster, as JSON.
fn on_cluster(cluster: &Cluster, args: &[String]) -> Value {
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend([
        "--engine",
        "ballista",
        "--scheduler",
        &cluster.url,
        "--format",
        "json",
    ]);
    let out = Command::new(bin())
        .args(&a)
        .output()
        .expect("run actionlog kpi");
    assert!(
        out.status.success(),
        "kpi on Ballista failed:\n{}\ncluster:\n{}",
        String::from_utf8_lossy(&out.stderr),
        cluster.all_logs()
    );
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

/// Generated traffic with the hard cases in `dir`, the `kpi` arguments over it and the
/// embedded engine's report.
fn traffic_and_embedded_report(dir: &Path) -> (Vec<String>, Value) {
    let (wh, o) = super::duckdb::generated_warehouse(dir);
    // Absolute paths: the executors open the same files (a shared directory).
    let wh = std::path::absolute(wh).expect("absolute");
    let args = kpi_args(&wh, &o);
    let mut native: Vec<&str> = args.iter().map(String::as_str).collect();
    native.extend(["--format", "json"]);
    let embedded = serde_json::from_slice(&actionlog(&native)).expect("report JSON");
    (args, embedded)
}

#[test]
fn ballista_cluster_gives_the_embedded_engines_report_on_generated_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (args, embedded) = traffic_and_embedded_report(dir.path());

    let cluster = Cluster::start(dir.path(), 2, 180);
    let report = on_cluster(&cluster, &args);
    assert_same_reports(&report, &embedded, true);
    let searches = &report["kpis"]["search_ctr_mrr"]["rows"][0]["searches"];
    assert!(searches.as_i64().unwrap_or(0) > 100, "searches: {searches}");
    // Both executors ran tasks.
    for i in 0..2 {
        let log = cluster_log(&cluster.logs, &format!("executor-{i}.log"));
        assert!(
            log.contains("Finished task"),
            "executor {i} ran no task:\n{log}"
        );
    }
}

/// One executor killed (SIGKILL) while the run is under way: the run gives the right report
/// (the kill fell between jobs, and the later jobs ran on the other executor) or fails
/// with a clear error (a task could not fetch the dead executor's shuffle output, or the
/// scheduler cancelled the jobs running when it noticed the loss). A wrong report or a hang
/// is not acceptable: Ballista's own recovery of a running job once gave one (713 excluded
/// records instead of 672), which is why the scheduler no longer recovers such jobs.
#[test]
fn ballista_survives_an_executor_killed_mid_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (args, embedded) = traffic_and_embedded_report(dir.path());

    let mut cluster = Cluster::start(dir.path(), 2, 10);
    let mut a: Vec<String> = args.clone();
    a.extend(
        [
            "--engine",
            "ballista",
            "--scheduler",
            &cluster.url,
            "--format",
            "json",
        ]
        .map(String::from),
    );
    let out_path = dir.path().join("report.json");
    let err_path = dir.path().join("kpi.err");
    let mut kpi = Command::new(bin())
        .args(&a)
        .stdout(std::fs::File::create(&out_path).expect("out"))
        .stderr(std::fs::File::create(&err_path).expect("err"))
        .spawn()
        .expect("run actionlog kpi");
    // Mid-run: once the victim has finished some tasks (the run has many jobs, one per
    // materialised view and KPI).
    let logs = cluster.logs.clone();
    cluster.wait_for("the first executor to run tasks", || {
        cluster_log(&logs, "executor-0.log")
            .matches("Finished task")
            .count()
            >= 20
    });
    let victim = &mut cluster.executors[0];
    victim.kill().expect("kill the executor");
    let _ = victim.wait();
    // A hang is a run that stops making progress, not a slow one: on a loaded machine the
    // surviving executor's single slot took over 10 minutes for the rest of the run (seen
    // in CI, tasks finishing all along). So the watch is on the tasks finished, with a
    // generous cap for a run that never ends.
    let started = Instant::now();
    let (mut seen, mut last_progress) = (cluster.tasks_finished(), Instant::now());
    let status = loop {
        if let Some(st) = kpi.try_wait().expect("wait") {
            break st;
        }
        let now = cluster.tasks_finished();
        if now != seen {
            (seen, last_progress) = (now, Instant::now());
        }
        let stalled = last_progress.elapsed() > Duration::from_secs(180);
        if stalled || started.elapsed() > Duration::from_secs(1500) {
            let _ = kpi.kill();
            panic!(
                "kpi hung after an executor was killed ({}):\n{}",
                if stalled {
                    "no task for 3 minutes"
                } else {
                    "still running after 25 minutes"
                },
                cluster.all_logs()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let err = std::fs::read_to_string(&err_path).unwrap_or_default();
    if status.success() {
        let report: Value =
            serde_json::from_slice(&std::fs::read(&out_path).expect("report")).expect("JSON");
        assert_same_reports(&report, &embedded, true);
    } else {
        eprintln!("kpi failed after the kill ({status}):\n{err}");
        assert!(
            err.contains("actionlog: error:")
                && err.contains(
                    "a job failed on the Ballista cluster; if an executor was lost, run again"
                ),
            "the run failed without a clear error ({status}):\n{err}"
        );
    }
}
