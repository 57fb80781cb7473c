//! The traffic generator and the whole-system demo, through the command line.

use std::path::Path;
use std::process::Command;

use actionlog_cli::generate::SERVICE_ACCOUNT;
use actionlog_kpi::{KpiOptions, compute};

fn actionlog(args: &[&str], dirs: &[&Path]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_actionlog"));
    c.args(args);
    for d in dirs {
        c.arg(d);
    }
    let out = c.output().expect("run actionlog");
    assert!(
        out.status.success(),
        "actionlog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_path_and_the_direct_path_give_the_same_kpis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (real, direct) = (dir.path().join("real"), dir.path().join("direct"));
    let common = ["generate", "--users", "15", "--days", "9", "--seed", "7"];
    let mut args = common.to_vec();
    args.extend(["--path", "real", "--warehouse"]);
    actionlog(&args, &[&real]);
    let mut args = common.to_vec();
    args.extend(["--path", "direct", "--warehouse"]);
    actionlog(&args, &[&direct]);

    let o = KpiOptions {
        exclude_users: vec![SERVICE_ACCOUNT.into()],
        ..KpiOptions::default()
    };
    let a = compute(&real, &o).await.expect("kpis of the real path");
    let b = compute(&direct, &o).await.expect("kpis of the direct path");
    assert!(a.table("dau").is_some_and(|t| !t.rows.is_empty()));
    for (x, y) in a.tables.iter().zip(&b.tables) {
        if x.name == "exclusions" {
            // Only the direct path lands the legacy host's pre-execution records; the real
            // path hands sinks post-execution records only.
            assert_eq!(x.get(0, "pre_execution"), Some(&serde_json::json!(0)));
            assert!(
                y.get(0, "pre_execution")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0)
                    > 0
            );
            assert_eq!(x.get(0, "qualifying"), y.get(0, "qualifying"));
            continue;
        }
        super::kpi::assert_rows_close(x, y);
    }
}

#[test]
fn the_demo_runs_the_whole_system_without_a_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = actionlog(
        &["demo", "--users", "12", "--days", "7", "--dir"],
        &[dir.path()],
    );
    assert!(out.contains("through the real"), "{out}");
    assert!(out.contains("searches, zero-result rate"), "{out}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report");
    assert!(html.contains("<svg"));
    assert!(dir.path().join("employees.csv").is_file());
}
