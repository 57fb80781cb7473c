//! The KPIs on an engine that is not this one (Spark SQL, DuckDB, Trino): the plan written
//! out as one SQL script (`actionlog kpi --print-sql`), and that engine's results read back
//! into a [`KpiReport`] (`actionlog kpi --results`), so the report looks the same whoever
//! ran the SQL. See docs/scale.md.
//!
//! The script is the `kpis/` files with their placeholders substituted, in run order, each
//! statement after a marker line (`-- view: NAME`, `-- table: NAME`, `-- kpi: NAME`) so a
//! driver can run them one by one without parsing SQL. Views and parameter tables are
//! `CREATE OR REPLACE TEMPORARY VIEW`, which Spark SQL and DuckDB accept (a Spark view that
//! reads temporary views must itself be temporary). A line `-- materialise: NAME` after a
//! view says that the embedded engine computes the view `NAME` once at that point (see
//! `MATERIALISED`): every KPI reads it, and an engine that inlines views would otherwise
//! recompute it per KPI. A driver may cache it there (Spark: `CACHE TABLE NAME`); others
//! read it as a comment.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use super::engine::{KpiPlan, MATERIALISED};
use super::queries::{KPIS, SqlParams, VIEWS};
use super::{KpiError, KpiReport, KpiTable, Window};

/// The marker line's prefix that carries the plan's parameters as JSON.
pub const PARAMS_MARKER: &str = "-- actionlog-params: ";

impl KpiPlan {
    /// The whole run as one SQL script for another engine; see the module docs. The driver
    /// must define `actions` (the warehouse's Parquet files) and, when the plan includes
    /// `users_per_role`, `employees(email, role)`.
    pub fn sql_script(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "-- actionlog kpi --print-sql: the KPI SQL of kpis/, placeholders substituted, in run order."
        );
        let _ = writeln!(out, "{PARAMS_MARKER}{}", self.params_json());
        let _ = writeln!(
            out,
            "-- The driver defines `actions`: the Parquet files below {} (dt=YYYY-MM-DD/*.parquet){}.",
            self.warehouse.display(),
            if self.with_employees {
                ", and `employees(email, role)`"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "-- Each statement follows its marker line; rows of the `-- kpi:` statements are the results.\n"
        );
        for (name, query) in self.param_queries() {
            statement(
                &mut out,
                "table",
                name,
                &format!("CREATE OR REPLACE TEMPORARY VIEW {name} AS\n{query}"),
            );
        }
        for v in VIEWS {
            statement(
                &mut out,
                "view",
                v.name,
                &format!(
                    "CREATE OR REPLACE TEMPORARY VIEW {} AS\n{}",
                    v.name,
                    self.params.apply(v.sql).trim()
                ),
            );
            for (name, _) in MATERIALISED.iter().filter(|(_, after)| *after == v.name) {
                let _ = writeln!(out, "-- materialise: {name}\n");
            }
        }
        for k in self.kpis() {
            statement(&mut out, "kpi", k.name, self.params.apply(k.sql).trim());
        }
        out
    }

    /// The parameter tables (`window_days`, `excluded_users`) as queries over `VALUES`, which
    /// every engine runs (and a cluster receives within the plan, where an in-memory table
    /// cannot be sent).
    pub(crate) fn param_queries(&self) -> [(&'static str, String); 2] {
        let days: Vec<String> = (self.window.from_day..self.window.to_day)
            .map(|d| format!("({d})"))
            .collect();
        let window_days = format!(
            "SELECT CAST(day AS INT) AS day FROM (VALUES {}) AS t(day)",
            days.join(", ")
        );
        let excluded = if self.excluded_users.is_empty() {
            // An empty VALUES list is not SQL: a typed empty query instead.
            "SELECT CAST(NULL AS STRING) AS user_norm WHERE 1 = 0".to_owned()
        } else {
            let rows: Vec<String> = self
                .excluded_users
                .iter()
                .map(|u| format!("({})", quote(u)))
                .collect();
            format!(
                "SELECT CAST(user_norm AS STRING) AS user_norm FROM (VALUES {}) AS t(user_norm)",
                rows.join(", ")
            )
        };
        [("window_days", window_days), ("excluded_users", excluded)]
    }

    fn params_json(&self) -> Value {
        json!({
            "warehouse": self.warehouse.display().to_string(),
            "from_day": self.params.from_day,
            "to_day": self.params.to_day,
            "min_viewers": self.params.min_viewers,
            "min_role_headcount": self.params.min_role_headcount,
            "files_scanned": self.files.len(),
        })
    }
}

fn statement(out: &mut String, kind: &str, name: &str, sql: &str) {
    let _ = writeln!(out, "-- {kind}: {name}\n{sql};\n");
}

/// A SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl KpiReport {
    /// A report from another engine's results of a [`KpiPlan::sql_script`]: a JSON object
    /// `{"params": <the script's actionlog-params line>, "kpis": {NAME: {"columns": [...],
    /// "rows": [[...], ...]}}}`, as `scripts/kpis-on-spark.py` writes it. Every KPI of the
    /// script must be there (`users_per_role` only if the script had it); `path` names the
    /// file in errors.
    pub fn from_results(path: &Path, results: &Value) -> Result<KpiReport, KpiError> {
        let bad = |message: String| KpiError::BadResults {
            path: path.to_path_buf(),
            message,
        };
        let p = &results["params"];
        let int = |key: &str| {
            p[key]
                .as_i64()
                .ok_or_else(|| bad(format!("params.{key} is missing or not an integer")))
        };
        let (from_day, to_day) = (int("from_day")? as i32, int("to_day")? as i32);
        let params = SqlParams {
            from_day,
            to_day,
            min_viewers: int("min_viewers")? as u64,
            min_role_headcount: int("min_role_headcount")? as u64,
        };
        let kpis = results["kpis"]
            .as_object()
            .ok_or_else(|| bad("no \"kpis\" object".into()))?;
        if let Some(unknown) = kpis.keys().find(|k| !KPIS.iter().any(|f| f.name == *k)) {
            return Err(bad(format!("unknown KPI {unknown:?}")));
        }
        let mut tables = Vec::with_capacity(kpis.len());
        for f in KPIS {
            let Some(r) = kpis.get(f.name) else {
                if f.name == "users_per_role" {
                    continue;
                }
                return Err(bad(format!("KPI {} is missing", f.name)));
            };
            let columns: Vec<String> = serde_json::from_value(r["columns"].clone())
                .map_err(|_| bad(format!("{}: \"columns\" is not a list of names", f.name)))?;
            let rows = r["rows"]
                .as_array()
                .ok_or_else(|| bad(format!("{}: \"rows\" is not a list", f.name)))?;
            let rows = rows
                .iter()
                .enumerate()
                .map(|(i, row)| match row.as_array() {
                    Some(cells) if cells.len() == columns.len() => Ok(cells.clone()),
                    _ => Err(bad(format!(
                        "{} row {i}: not a list of {} value(s)",
                        f.name,
                        columns.len()
                    ))),
                })
                .collect::<Result<_, _>>()?;
            tables.push(KpiTable {
                name: f.name.to_owned(),
                title: f.title.to_owned(),
                sql_path: f.path.to_owned(),
                columns,
                rows,
            });
        }
        Ok(KpiReport {
            warehouse: p["warehouse"].as_str().unwrap_or_default().into(),
            window: Window { from_day, to_day },
            files_scanned: p["files_scanned"].as_u64().unwrap_or(0) as usize,
            params,
            tables,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn plan(excluded: &[&str], with_employees: bool) -> KpiPlan {
        KpiPlan {
            warehouse: PathBuf::from("/wh"),
            window: Window {
                from_day: 100,
                to_day: 103,
            },
            params: SqlParams {
                from_day: 100,
                to_day: 103,
                min_viewers: 2,
                min_role_headcount: 5,
            },
            files: vec![PathBuf::from("/wh/dt=1970-04-11/a.parquet")],
            day_bytes: vec![(100, 1)],
            excluded_users: excluded.iter().map(|s| (*s).to_owned()).collect(),
            with_employees,
        }
    }

    /// Splits a script at its marker lines, as the drivers do.
    fn blocks(script: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in script.lines() {
            if let Some(m) = ["-- view: ", "-- table: ", "-- kpi: "]
                .iter()
                .find_map(|p| line.strip_prefix(p).map(|n| format!("{}{n}", &p[3..])))
            {
                out.push((m, String::new()));
            } else if line.starts_with("-- materialise: ") {
                continue;
            } else if let Some((_, sql)) = out.last_mut() {
                sql.push_str(line);
                sql.push('\n');
            }
        }
        out
    }

    #[test]
    fn the_script_runs_every_view_then_every_kpi_with_values_substituted() {
        let s = plan(&["o'brien", "svc"], false).sql_script();
        let names: Vec<String> = blocks(&s).into_iter().map(|(n, _)| n).collect();
        let mut expected = vec![
            "table: window_days".to_owned(),
            "table: excluded_users".into(),
        ];
        expected.extend(VIEWS.iter().map(|v| format!("view: {}", v.name)));
        expected.extend(
            KPIS.iter()
                .filter(|k| k.name != "users_per_role")
                .map(|k| format!("kpi: {}", k.name)),
        );
        assert_eq!(names, expected);
        let materialised: Vec<&str> = s
            .lines()
            .filter_map(|l| l.strip_prefix("-- materialise: "))
            .collect();
        assert_eq!(
            materialised,
            MATERIALISED.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        );
        let after_its_view = |name: &str| {
            let view = s.find(&format!("-- view: {name}\n")).unwrap();
            let mark = s.find(&format!("-- materialise: {name}\n")).unwrap();
            mark > view
        };
        assert!(MATERIALISED.iter().all(|(n, _)| after_its_view(n)));
        assert!(
            s.lines()
                .filter(|l| !l.starts_with(PARAMS_MARKER))
                .all(|l| !l.contains('{')),
            "placeholders left"
        );
        assert!(s.contains("(VALUES (100), (101), (102)) AS t(day)"));
        assert!(s.contains("(VALUES ('o''brien'), ('svc'))"));
        for (name, sql) in blocks(&s) {
            assert!(sql.trim_end().ends_with(';'), "{name} ends its statement");
        }
        let with = plan(&[], true).sql_script();
        assert!(with.contains("-- kpi: users_per_role"));
        assert!(
            with.contains("WHERE 1 = 0"),
            "an empty exclusion list is a typed empty view"
        );
    }

    #[test]
    fn the_params_line_round_trips_into_a_report() {
        let s = plan(&[], false).sql_script();
        let line = s
            .lines()
            .find_map(|l| l.strip_prefix(PARAMS_MARKER))
            .unwrap();
        let params: Value = serde_json::from_str(line).unwrap();
        let mut kpis = serde_json::Map::new();
        for k in KPIS.iter().filter(|k| k.name != "users_per_role") {
            kpis.insert(k.name.into(), json!({"columns": ["n"], "rows": [[1]]}));
        }
        let results = json!({"params": params, "kpis": kpis});
        let r = KpiReport::from_results(Path::new("r.json"), &results).unwrap();
        assert_eq!(
            r.window,
            Window {
                from_day: 100,
                to_day: 103
            }
        );
        assert_eq!(r.params.min_viewers, 2);
        assert_eq!(r.files_scanned, 1);
        assert_eq!(r.tables.len(), KPIS.len() - 1);
        assert_eq!(r.table("dau").unwrap().rows, vec![vec![json!(1)]]);
    }

    #[test]
    fn bad_results_name_what_is_wrong() {
        let params = json!({"from_day": 1, "to_day": 2, "min_viewers": 1, "min_role_headcount": 5});
        let err = |v: Value| {
            KpiReport::from_results(Path::new("r.json"), &v)
                .unwrap_err()
                .to_string()
        };
        assert!(err(json!({})).contains("params.from_day"));
        assert!(err(json!({"params": params})).contains("no \"kpis\""));
        assert!(err(json!({"params": params, "kpis": {}})).contains("KPI exclusions is missing"));
        assert!(err(json!({"params": params, "kpis": {"nope": {}}})).contains("unknown KPI"));
        let ragged = json!({"params": params, "kpis": {"exclusions": {"columns": ["a", "b"], "rows": [[1]]}}});
        assert!(err(ragged).contains("exclusions row 0: not a list of 2 value(s)"));
    }
}
