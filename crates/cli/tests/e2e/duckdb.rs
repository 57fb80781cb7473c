//! The same KPI SQL files, unchanged, on a second engine (DuckDB, from PyPI) over the same
//! Parquet files: every KPI must come out the same as DataFusion's.

use std::path::Path;
use std::process::Command;

use actionlog_cli::generate::{GenerateConfig, Generator, SERVICE_ACCOUNT};
use actionlog_kpi::{KpiOptions, KpiReport, compute};
use actionlog_warehouse::WarehouseWriter;
use serde_json::{Value, json};

use crate::harness::python;

fn duckdb_results(warehouse: &Path, r: &KpiReport, o: &KpiOptions, work: &Path) -> Value {
    let params = json!({
        "warehouse": warehouse,
        "kpis_dir": concat!(env!("CARGO_MANIFEST_DIR"), "/../../kpis"),
        "from_day": r.window.from_day,
        "to_day": r.window.to_day,
        "min_viewers": o.min_viewers,
        "min_role_headcount": o.min_role_headcount,
        "excluded_users": o.exclude_users,
        "employees": o.employees,
    });
    let params_path = work.join("duckdb-params.json");
    std::fs::write(&params_path, params.to_string()).expect("write params");
    let out = Command::new(python())
        .arg(format!(
            "{}/tests/python/kpi_duckdb.py",
            crate::harness::ROOT
        ))
        .arg(&params_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ACTIONLOG_PYTHON: {e}"));
    assert!(
        out.status.success(),
        "DuckDB run failed (is duckdb installed in ACTIONLOG_PYTHON's environment?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("DuckDB JSON")
}

/// Equal, numbers up to rounding (engines sum floats in different orders).
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

fn compare(r: &KpiReport, duck: &Value) {
    let mut compared = 0;
    for t in &r.tables {
        let d = &duck[&t.name];
        assert!(d.is_object(), "DuckDB did not run {}", t.name);
        let columns: Vec<String> = serde_json::from_value(d["columns"].clone()).expect("columns");
        assert_eq!(columns, t.columns, "{}: columns differ", t.name);
        let rows = d["rows"].as_array().expect("rows");
        assert_eq!(
            rows.len(),
            t.rows.len(),
            "{}: row counts differ: DuckDB {rows:?} vs DataFusion {:?}",
            t.name,
            t.rows
        );
        for (i, (dr, fr)) in rows.iter().zip(&t.rows).enumerate() {
            let dr = dr.as_array().expect("row");
            for (j, (dv, fv)) in dr.iter().zip(fr).enumerate() {
                assert!(
                    same(dv, fv),
                    "{} row {i} column {}: DuckDB {dv} vs DataFusion {fv}",
                    t.name,
                    t.columns[j]
                );
            }
        }
        compared += 1;
    }
    assert_eq!(compared, actionlog_kpi::KPIS.len(), "every KPI compared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_runs_the_same_sql_to_the_same_results_on_the_hand_dataset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    super::kpi::land(&wh, &super::kpi::dataset()).await;
    let o = super::kpi::options(dir.path(), "2026-01-01", "2026-01-11");
    let r = compute(&wh, &o).await.expect("kpis");
    compare(&r, &duckdb_results(&wh, &r, &o, dir.path()));
}

/// A warehouse of generated traffic with the hard cases: 35 days of 60 users with duplicates
/// (a tenth redelivered), pre-execution records, mixed-case users, a service account to
/// exclude, later search pages and failed edits; options with the employee table.
pub(crate) fn generated_warehouse(dir: &Path) -> (std::path::PathBuf, KpiOptions) {
    let wh = dir.join("wh");
    let g = Generator::new(GenerateConfig {
        users: 60,
        days: 35,
        ..GenerateConfig::default()
    });
    let mut w = WarehouseWriter::open(&wh).expect("open");
    let mut all = Vec::new();
    for day in g.days() {
        let actions = g.day(day);
        w.write(&actions).expect("write");
        all.extend(actions);
    }
    // Redeliver a slice, as an at-least-once loader would after a crash.
    w.write(&all[..all.len() / 10]).expect("write");
    w.flush().expect("flush");
    let employees = dir.join("employees.csv");
    std::fs::write(&employees, g.employees_csv()).expect("employees");
    let o = KpiOptions {
        exclude_users: vec![SERVICE_ACCOUNT.into()],
        employees: Some(employees),
        ..KpiOptions::default()
    };
    (wh, o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_runs_the_same_sql_to_the_same_results_on_generated_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wh, o) = generated_warehouse(dir.path());
    let r = compute(&wh, &o).await.expect("kpis");
    assert!(
        r.table("search_ctr_mrr")
            .and_then(|t| t.get(0, "searches"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
            > 100
    );
    compare(&r, &duckdb_results(&wh, &r, &o, dir.path()));
}
