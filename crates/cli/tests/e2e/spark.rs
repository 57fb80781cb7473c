//! The KPIs on Apache Spark SQL (pyspark from PyPI, `local[2]`), through the documented
//! entry point: `actionlog kpi --print-sql`, `scripts/kpis-on-spark.py`, then
//! `actionlog kpi --results`. Spark's report must equal the embedded engine's, KPI by KPI.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{ROOT, bin, python};

/// Runs `actionlog` and returns its stdout, failing the test with its stderr.
pub(crate) fn actionlog(args: &[&str]) -> Vec<u8> {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("run actionlog");
    assert!(
        out.status.success(),
        "actionlog {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The KPI arguments of one run: the warehouse, the window and the options of `o`.
pub(crate) fn kpi_args(wh: &Path, o: &actionlog_kpi::KpiOptions) -> Vec<String> {
    let mut a = vec!["kpi".into(), "--warehouse".into(), wh.display().to_string()];
    for (flag, date) in [("--from", o.from), ("--to", o.to)] {
        if let Some(d) = date {
            a.extend([flag.to_owned(), d.to_string()]);
        }
    }
    for u in &o.exclude_users {
        a.extend(["--exclude-user".to_owned(), u.clone()]);
    }
    if let Some(e) = &o.employees {
        a.extend(["--employees".to_owned(), e.display().to_string()]);
    }
    a
}

/// Spark's report and the embedded engine's, both as `actionlog kpi --format json`.
fn both_reports(work: &Path, wh: &Path, o: &actionlog_kpi::KpiOptions) -> (Value, Value) {
    let args = kpi_args(wh, o);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sql = work.join("kpis.sql");
    let results = work.join("spark-results.json");
    let mut print = args.clone();
    print.extend(["--print-sql", "--out", sql.to_str().expect("path")]);
    actionlog(&print);

    let mut spark = Command::new(python());
    spark
        .arg(format!("{ROOT}/scripts/kpis-on-spark.py"))
        .args(["--sql", sql.to_str().expect("path")])
        .args(["--warehouse", wh.to_str().expect("path")])
        .args(["--out", results.to_str().expect("path")])
        .args(["--master", "local[2]"])
        // Small data: a handful of shuffle partitions, no web UI, no port to collide on.
        .args(["--conf", "spark.sql.shuffle.partitions=4"])
        .args(["--conf", "spark.ui.enabled=false"])
        .args(["--conf", "spark.driver.bindAddress=127.0.0.1"])
        .env("SPARK_LOCAL_IP", "127.0.0.1");
    if let Some(e) = &o.employees {
        spark.args(["--employees", e.to_str().expect("path")]);
    }
    let out = spark.output().expect("run kpis-on-spark.py");
    assert!(
        out.status.success(),
        "kpis-on-spark.py failed (is pyspark installed in ACTIONLOG_PYTHON's environment, and Java 17 on PATH?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_spark = actionlog(&[
        "kpi",
        "--results",
        results.to_str().expect("path"),
        "--format",
        "json",
    ]);
    let mut native = args.clone();
    native.extend(["--format", "json"]);
    let embedded = actionlog(&native);
    (
        serde_json::from_slice(&from_spark).expect("Spark report JSON"),
        serde_json::from_slice(&embedded).expect("embedded report JSON"),
    )
}

/// Every KPI of both reports, row by row and cell by cell (`spark`: the other engine's).
pub(crate) fn assert_same_reports(spark: &Value, embedded: &Value, with_employees: bool) {
    assert_eq!(spark["window"], embedded["window"]);
    assert_eq!(spark["files_scanned"], embedded["files_scanned"]);
    let (s, e) = (
        spark["kpis"].as_object().expect("kpis"),
        embedded["kpis"].as_object().expect("kpis"),
    );
    let expected = actionlog_kpi::KPIS.len() - usize::from(!with_employees);
    assert_eq!(e.len(), expected, "the embedded engine ran every KPI");
    assert_eq!(
        s.keys().collect::<Vec<_>>(),
        e.keys().collect::<Vec<_>>(),
        "the same KPIs"
    );
    for (name, ek) in e {
        let (srows, erows) = (
            s[name]["rows"].as_array().expect("rows"),
            ek["rows"].as_array().expect("rows"),
        );
        assert_eq!(
            srows.len(),
            erows.len(),
            "{name}: Spark {srows:?} vs embedded {erows:?}"
        );
        for (i, (sr, er)) in srows.iter().zip(erows).enumerate() {
            let (sr, er) = (sr.as_object().expect("row"), er.as_object().expect("row"));
            assert_eq!(
                sr.keys().collect::<Vec<_>>(),
                er.keys().collect::<Vec<_>>(),
                "{name}: columns"
            );
            for (col, ev) in er {
                assert!(
                    super::duckdb::same(&sr[col], ev),
                    "{name} row {i} column {col}: Spark {} vs embedded {ev}",
                    sr[col]
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_runs_the_printed_sql_to_the_same_report_on_the_hand_dataset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    super::kpi::land(&wh, &super::kpi::dataset()).await;
    let o = super::kpi::options(dir.path(), "2026-01-01", "2026-01-11");
    let (spark, embedded) = both_reports(dir.path(), &wh, &o);
    assert_same_reports(&spark, &embedded, true);
}

#[test]
fn spark_runs_the_printed_sql_to_the_same_report_on_generated_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wh, mut o) = super::duckdb::generated_warehouse(dir.path());
    let (spark, embedded) = both_reports(dir.path(), &wh, &o);
    assert_same_reports(&spark, &embedded, true);
    let searches = &embedded["kpis"]["search_ctr_mrr"]["rows"][0]["searches"];
    assert!(searches.as_i64().unwrap_or(0) > 100, "searches: {searches}");

    // Without an employee table the script has no users_per_role, and Spark needs none.
    o.employees = None;
    let (spark, embedded) = both_reports(dir.path(), &wh, &o);
    assert_same_reports(&spark, &embedded, false);
}
