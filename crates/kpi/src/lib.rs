//! # actionlog-kpi
//!
//! The KPI engine: every KPI of `kpi-definitions.md` as a portable SQL file under `kpis/`,
//! run by an embedded DataFusion session over the Parquet warehouse, and the outputs
//! (text table, JSON, CSV, self-contained HTML report). See `docs/kpis.md`.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod engine;
mod queries;
mod report;
mod script;

use std::fmt::Write as _;
use std::path::PathBuf;

use datafusion::arrow::array::RecordBatch;
use serde_json::{Map, Value, json};

pub use engine::{DEFAULT_WINDOW_DAYS, Engine, KpiOptions, KpiPlan, compute, plan};
pub use queries::{KPIS, PLACEHOLDERS, SqlFile, SqlParams, VIEWS};
pub use report::render_html;
pub use script::PARAMS_MARKER;

use actionlog_warehouse::day_to_date;

/// Why the KPIs could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KpiError {
    /// The warehouse holds no complete file in any dated partition.
    #[error(
        "the warehouse is empty: no dt=YYYY-MM-DD/*.parquet file found (land some actions first, e.g. `actionlog generate`)"
    )]
    EmptyWarehouse,
    /// `--from` is not before `--to`.
    #[error("empty window: --from ({}) must be before --to ({})", fmt_day(.from_day), fmt_day(.to_day))]
    BadWindow {
        /// First day (epoch day).
        from_day: i32,
        /// Day after the window (epoch day).
        to_day: i32,
    },
    /// The employee file is missing, unreadable or lacks the needed columns.
    #[error("employee file {path}: {message}")]
    BadEmployees {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Another engine's results (`actionlog kpi --results`) are not what the script asked for.
    #[error("results file {path}: {message}")]
    BadResults {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The Ballista scheduler could not be reached or refused the session.
    #[error("Ballista scheduler {scheduler}: {message}")]
    Cluster {
        /// The scheduler's URL.
        scheduler: String,
        /// What went wrong.
        message: String,
    },
    /// The options ask for something this engine cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// Listing the warehouse failed.
    #[error("cannot read the warehouse at {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The query engine failed.
    #[error("query engine: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
    /// Building an in-memory table failed.
    #[error("query engine: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

impl KpiError {
    /// Whether the query engine ran out of its memory limit (in a part of a query that
    /// cannot spill).
    pub fn is_out_of_memory(&self) -> bool {
        matches!(
            self,
            KpiError::Engine(e)
                if matches!(e.find_root(), datafusion::error::DataFusionError::ResourcesExhausted(_))
        )
    }
}

fn fmt_day(day: &i32) -> String {
    day_to_date(*day).to_string()
}

/// The report window, as epoch days, half-open `[from_day, to_day)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First day (inclusive).
    pub from_day: i32,
    /// Day after the last (exclusive).
    pub to_day: i32,
}

/// One KPI's result: the columns and rows its SQL returned, as JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiTable {
    /// The KPI's name (its SQL file's stem).
    pub name: String,
    /// A human title.
    pub title: String,
    /// The SQL file it came from.
    pub sql_path: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, one value per column (integers, floats, text, booleans or null).
    pub rows: Vec<Vec<Value>>,
}

impl KpiTable {
    fn from_batches(file: &SqlFile, columns: Vec<String>, batches: &[RecordBatch]) -> Self {
        let mut rows = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .map(|c| engine::cell(c.as_ref(), r))
                        .collect(),
                );
            }
        }
        Self {
            name: file.name.to_owned(),
            title: file.title.to_owned(),
            sql_path: file.path.to_owned(),
            columns,
            rows,
        }
    }

    /// The index of a column.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The value at `row`, `column`, if any.
    pub fn get(&self, row: usize, column: &str) -> Option<&Value> {
        self.rows.get(row)?.get(self.col(column)?)
    }

    /// A value for people: epoch days as dates, ISO weeks, times as UTC timestamps, floats
    /// with 4 decimals.
    pub fn display(&self, column: &str, v: &Value) -> String {
        match (column, v) {
            (_, Value::Null) => String::new(),
            ("day", Value::Number(n)) => n
                .as_i64()
                .map_or_else(|| n.to_string(), |d| day_to_date(d as i32).to_string()),
            ("week_start", Value::Number(n)) => n.as_i64().map_or_else(
                || n.to_string(),
                |d| day_to_date(d as i32).format("%G-W%V").to_string(),
            ),
            ("last_activity_ms", Value::Number(n)) => n
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map_or_else(
                    || n.to_string(),
                    |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                ),
            (_, Value::Number(n)) if n.is_f64() => format!("{:.4}", n.as_f64().unwrap_or_default()),
            (_, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        }
    }

    /// Display headers (`week_start` shows as the ISO week).
    pub fn display_columns(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| match c.as_str() {
                "week_start" => "iso_week".to_owned(),
                "last_activity_ms" => "last_activity".to_owned(),
                _ => c.clone(),
            })
            .collect()
    }
}

/// Every KPI over one window.
#[derive(Debug, Clone)]
pub struct KpiReport {
    /// The warehouse directory.
    pub warehouse: PathBuf,
    /// The window.
    pub window: Window,
    /// How many Parquet files the window (with its look-back) covered.
    pub files_scanned: usize,
    /// The parameters the SQL ran with.
    pub params: SqlParams,
    /// One table per KPI, in report order.
    pub tables: Vec<KpiTable>,
}

impl KpiReport {
    /// The table of a KPI.
    pub fn table(&self, name: &str) -> Option<&KpiTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    fn scalar(&self, kpi: &str, column: &str) -> Option<&Value> {
        self.table(kpi)?.get(0, column)
    }

    /// The window as `[from, to)` dates.
    pub fn window_label(&self) -> String {
        format!(
            "{} .. {} ({} day(s), to exclusive)",
            day_to_date(self.window.from_day),
            day_to_date(self.window.to_day),
            self.window.to_day - self.window.from_day
        )
    }

    /// The headline numbers, one per line.
    pub fn summary_lines(&self) -> Vec<String> {
        let f = |kpi: &str, col: &str| -> String {
            match self.scalar(kpi, col) {
                Some(Value::Number(n)) if n.is_f64() => {
                    format!("{:.4}", n.as_f64().unwrap_or_default())
                }
                Some(Value::Null) | None => "n/a".to_owned(),
                Some(v) => v.to_string(),
            }
        };
        let last = |kpi: &str, col: &str| -> String {
            self.table(kpi)
                .and_then(|t| {
                    t.rows
                        .last()
                        .and_then(|r| t.col(col).and_then(|c| r.get(c)))
                })
                .map_or("n/a".to_owned(), |v| v.to_string())
        };
        let top = |kpi: &str, col: &str| -> String {
            self.scalar(kpi, col)
                .and_then(Value::as_str)
                .unwrap_or("n/a")
                .to_owned()
        };
        vec![
            format!("window              {}", self.window_label()),
            format!(
                "records             {} qualifying; left out: {} pre-execution, {} duplicate, {} empty user, {} excluded user; {} with unparsable arguments, {} failed",
                f("exclusions", "qualifying"),
                f("exclusions", "pre_execution"),
                f("exclusions", "duplicates"),
                f("exclusions", "empty_user"),
                f("exclusions", "excluded_user"),
                f("exclusions", "malformed_kwargs"),
                f("exclusions", "failed"),
            ),
            format!(
                "activity            DAU (last day) {}, WAU {}, MAU {}, mean DAU {}, stickiness {}",
                last("dau", "dau"),
                last("wau_rolling", "wau"),
                last("mau_rolling", "mau"),
                f("stickiness", "mean_dau"),
                f("stickiness", "stickiness"),
            ),
            format!(
                "search              {} searches, zero-result rate {}, CTR {}, MRR {}, top term {:?}",
                f("search_ctr_mrr", "searches"),
                f("zero_result_rate", "zero_result_rate"),
                f("search_ctr_mrr", "ctr"),
                f("search_ctr_mrr", "mrr"),
                top("top_search_terms", "term"),
            ),
            format!(
                "search clicks       {} clicks, mean position {}, median {}, top-3 share {}",
                f("click_summary", "clicks"),
                f("click_summary", "mean_position"),
                f("click_summary", "median_position"),
                f("click_summary", "top3_share"),
            ),
            format!(
                "resources           top table {:?}, top dashboard {:?}",
                top("top_tables", "table_key"),
                top("top_dashboards", "uri"),
            ),
            format!(
                "metadata edits      {} edits by {} user(s) on {} resource(s)",
                f("edit_totals", "edits"),
                f("edit_totals", "editors"),
                f("edit_totals", "resources"),
            ),
        ]
    }

    /// Every table as aligned text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in self.summary_lines() {
            let _ = writeln!(out, "{line}");
        }
        for t in &self.tables {
            let _ = writeln!(out, "\n== {} ({}) ==", t.title, t.sql_path);
            let headers = t.display_columns();
            let cells: Vec<Vec<String>> = t
                .rows
                .iter()
                .map(|r| {
                    t.columns
                        .iter()
                        .zip(r)
                        .map(|(c, v)| t.display(c, v))
                        .collect()
                })
                .collect();
            let widths: Vec<usize> = headers
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    cells
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([h.chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |vals: &[String]| -> String {
                vals.iter()
                    .zip(&widths)
                    .map(|(v, &w)| format!("{v:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            let _ = writeln!(out, "{}", line(&headers));
            if cells.is_empty() {
                let _ = writeln!(out, "(no rows)");
            }
            for r in &cells {
                let _ = writeln!(out, "{}", line(r));
            }
        }
        out
    }

    /// The report as JSON: window, then each KPI as a list of objects (dates as text).
    pub fn to_json(&self) -> Value {
        let mut kpis = Map::new();
        for t in &self.tables {
            let rows: Vec<Value> = t
                .rows
                .iter()
                .map(|r| {
                    let mut o = Map::new();
                    for (c, v) in t.columns.iter().zip(r) {
                        let v = match c.as_str() {
                            "day" | "week_start" | "last_activity_ms" if !v.is_null() => {
                                Value::String(t.display(c, v))
                            }
                            _ => v.clone(),
                        };
                        let key = match c.as_str() {
                            "week_start" => "iso_week",
                            "last_activity_ms" => "last_activity",
                            other => other,
                        };
                        o.insert(key.to_owned(), v);
                    }
                    Value::Object(o)
                })
                .collect();
            kpis.insert(
                t.name.clone(),
                json!({ "title": t.title, "sql": t.sql_path, "rows": rows }),
            );
        }
        json!({
            "warehouse": self.warehouse.display().to_string(),
            "window": {
                "from": day_to_date(self.window.from_day).to_string(),
                "to_exclusive": day_to_date(self.window.to_day).to_string(),
                "days": self.window.to_day - self.window.from_day,
            },
            "files_scanned": self.files_scanned,
            "kpis": kpis,
        })
    }

    /// The report as tidy CSV: `kpi,row,column,value`, one line per cell.
    pub fn to_csv(&self) -> String {
        let esc = |s: &str| -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        let mut out = String::from("kpi,row,column,value\n");
        for t in &self.tables {
            let headers = t.display_columns();
            for (i, r) in t.rows.iter().enumerate() {
                for ((c, h), v) in t.columns.iter().zip(&headers).zip(r) {
                    let value = match (c.as_str(), v) {
                        (_, Value::Null) => String::new(),
                        ("day" | "week_start" | "last_activity_ms", _) => t.display(c, v),
                        (_, Value::String(s)) => s.clone(),
                        (_, other) => other.to_string(),
                    };
                    let _ = writeln!(out, "{},{},{},{}", t.name, i + 1, esc(h), esc(&value));
                }
            }
        }
        out
    }
}
