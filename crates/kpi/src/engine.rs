//! The DataFusion session over the warehouse: registers the tables, creates the views and
//! runs every KPI file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::queries::{KPIS, SqlFile, SqlParams, VIEWS};
use super::{KpiError, KpiReport, KpiTable, Window};
use actionlog_warehouse::{date_to_day, list_partitions, normalize_user, schema};

/// Default length of the report window, in days.
pub const DEFAULT_WINDOW_DAYS: i32 = 28;

/// What to compute, and over which window.
#[derive(Debug, Clone)]
pub struct KpiOptions {
    /// First day of the window (inclusive); default: `to` minus 28 days.
    pub from: Option<NaiveDate>,
    /// Day after the window (exclusive); default: the day after the latest day with data.
    pub to: Option<NaiveDate>,
    /// Users left out of every KPI (service accounts); normalised like users.
    pub exclude_users: Vec<String>,
    /// Minimum distinct viewers of a listed table or dashboard.
    pub min_viewers: u64,
    /// Roles with fewer employees fold into `other`.
    pub min_role_headcount: u64,
    /// Employee table (CSV or Parquet with `email` and `role` columns), for users per role.
    pub employees: Option<PathBuf>,
    /// Show a progress bar on stderr (only drawn on a terminal).
    pub progress: bool,
    /// The key the warehouse's users were pseudonymised with: employee e-mails and
    /// `exclude_users` get the same keyed hash, so the joins still match (see
    /// [`actionlog::pseudonym`]).
    pub pseudonymiser: Option<actionlog::pseudonym::Pseudonymiser>,
}

impl Default for KpiOptions {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            exclude_users: Vec::new(),
            min_viewers: 1,
            min_role_headcount: 5,
            employees: None,
            progress: false,
            pseudonymiser: None,
        }
    }
}

/// Resolves the window: explicit dates, or the 28 days ending with the latest day with data.
fn resolve_window(opts: &KpiOptions, days_with_data: &[i32]) -> Result<Window, KpiError> {
    let latest = days_with_data.last().copied();
    let to_day = match (opts.to, latest) {
        (Some(t), _) => date_to_day(t),
        (None, Some(l)) => l + 1,
        (None, None) => return Err(KpiError::EmptyWarehouse),
    };
    let from_day = opts
        .from
        .map(date_to_day)
        .unwrap_or(to_day - DEFAULT_WINDOW_DAYS);
    if from_day >= to_day {
        return Err(KpiError::BadWindow { from_day, to_day });
    }
    Ok(Window { from_day, to_day })
}

/// What one run reads and runs, decided before any query: the window, the substituted
/// parameters, the Parquet files and the parameter tables' contents. [`compute`] runs it on
/// the embedded engine; [`KpiPlan::sql_script`] writes it out for another engine.
#[derive(Debug, Clone)]
pub struct KpiPlan {
    /// The warehouse directory.
    pub warehouse: PathBuf,
    /// The window.
    pub window: Window,
    /// The parameters substituted into the SQL.
    pub params: SqlParams,
    /// The Parquet files of the window and its 29-day look-back.
    pub files: Vec<PathBuf>,
    /// The rows of `excluded_users`: normalised (and pseudonymised, with a key), sorted,
    /// without repeats.
    pub excluded_users: Vec<String>,
    /// Whether an employee table is given (then `users_per_role` runs too).
    pub with_employees: bool,
}

impl KpiPlan {
    /// The KPIs this plan runs, in report order.
    pub fn kpis(&self) -> impl Iterator<Item = &'static SqlFile> + '_ {
        KPIS.iter()
            .filter(|k| k.name != "users_per_role" || self.with_employees)
    }
}

/// Lists the warehouse in `dir` and decides what a run over it reads (see [`KpiPlan`]).
pub fn plan(dir: &Path, opts: &KpiOptions) -> Result<KpiPlan, KpiError> {
    let partitions = list_partitions(dir).map_err(|e| KpiError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    if partitions.is_empty() {
        return Err(KpiError::EmptyWarehouse);
    }
    let days: Vec<i32> = partitions.iter().map(|p| p.day).collect();
    let window = resolve_window(opts, &days)?;
    let params = SqlParams {
        from_day: window.from_day,
        to_day: window.to_day,
        min_viewers: opts.min_viewers,
        min_role_headcount: opts.min_role_headcount,
    };
    // Only the partitions the SQL can look at (window plus the 29-day look-back) are read.
    let files: Vec<PathBuf> = partitions
        .iter()
        .filter(|p| p.day >= window.from_day - 29 && p.day < window.to_day)
        .flat_map(|p| p.files.iter().cloned())
        .collect();
    let mut excluded_users: Vec<String> =
        pseudonymised(&opts.exclude_users, opts.pseudonymiser.as_ref())
            .iter()
            .filter_map(|u| normalize_user(u))
            .collect();
    excluded_users.sort();
    excluded_users.dedup();
    Ok(KpiPlan {
        warehouse: dir.to_path_buf(),
        window,
        params,
        files,
        excluded_users,
        with_employees: opts.employees.is_some(),
    })
}

/// Computes every KPI over the warehouse in `dir`.
pub async fn compute(dir: &Path, opts: &KpiOptions) -> Result<KpiReport, KpiError> {
    let plan = plan(dir, opts)?;
    let (params, files) = (&plan.params, &plan.files);

    // DataFusion's own settings can be tuned from the environment (`DATAFUSION_EXECUTION_*`,
    // e.g. `DATAFUSION_EXECUTION_TARGET_PARTITIONS`); a bad value is an error, not ignored.
    let config = SessionConfig::from_env()?.with_information_schema(false);
    let ctx = SessionContext::new_with_config(config);
    register_actions(&ctx, files).await?;
    register_params(&ctx, &plan)?;
    if let Some(path) = &opts.employees {
        register_employees(&ctx, path).await?;
        if let Some(p) = &opts.pseudonymiser {
            pseudonymise_employees(&ctx, p).await?;
        }
    }

    let kpis: Vec<&SqlFile> = plan.kpis().collect();
    let bar = if opts.progress {
        let b = ProgressBar::new((VIEWS.len() + kpis.len()) as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_message(format!("scanning {} file(s)", files.len()));
        b
    } else {
        ProgressBar::hidden()
    };
    for v in VIEWS {
        ctx.sql(&format!(
            "CREATE VIEW {} AS {}",
            v.name,
            params.apply(v.sql)
        ))
        .await?;
        for (name, _) in MATERIALISED.iter().filter(|(_, after)| *after == v.name) {
            let started = std::time::Instant::now();
            bar.set_message(format!("{name} ({} file(s))", files.len()));
            materialise(&ctx, name).await?;
            tracing::debug!(
                view = name,
                ms = started.elapsed().as_millis() as u64,
                "materialised"
            );
        }
        bar.inc(1);
    }
    // Tables that only other materialised views read are dropped, and their memory with
    // them.
    for (name, _) in MATERIALISED {
        let still_read = VIEWS
            .iter()
            .filter(|v| !MATERIALISED.iter().any(|(m, _)| *m == v.name))
            .chain(KPIS.iter())
            .any(|f| mentions(f.sql, name));
        if !still_read {
            ctx.deregister_table(name)?;
        }
    }
    let mut tables = Vec::with_capacity(kpis.len());
    for k in kpis {
        bar.set_message(k.name);
        let started = std::time::Instant::now();
        let df = ctx.sql(&params.apply(k.sql)).await?;
        let columns = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let batches = df.collect().await?;
        tables.push(KpiTable::from_batches(k, columns, &batches));
        tracing::debug!(
            kpi = k.name,
            ms = started.elapsed().as_millis() as u64,
            "computed"
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(KpiReport {
        warehouse: plan.warehouse,
        window: plan.window,
        files_scanned: plan.files.len(),
        params: plan.params,
        tables,
    })
}

/// The views computed once per run, each with the view after whose creation it is
/// computed, in that order. (A view's plan binds the tables it reads when it is created,
/// so a view is computed before the views that read it are created.)
///
/// `post_actions` numbers the copies of each trace/span id; every KPI reads it (directly
/// or through `qualifying`). Left a view, every one of the ~19 KPI queries would re-read
/// the Parquet files and redo the numbering. Its inputs are computed once too: DataFusion
/// inlines views, so over plain views `post_actions` read the Parquet files four times and
/// grouped all span ids twice (once per branch of its `UNION ALL`). `repeated_span_ids`
/// comes first, reading only the span id column from the Parquet files; the memory its
/// grouping of every span id needs is then reused for the records of `post_execution`
/// (at 10M events each needs 1-2 GB, and this host pays for every fresh gigabyte in system
/// time). `active_days` (one row per user and day) saves the activity KPIs from counting
/// distinct users over every record.
///
/// The SQL files stay as they are (a team's warehouse runs them as plain views); only this
/// engine swaps each of these views for an in-memory table of the same name, holding only
/// the columns the other SQL refers to, and drops the tables nothing reads any more.
pub(crate) const MATERIALISED: [(&str, &str); 4] = [
    ("repeated_span_ids", "repeated_span_ids"),
    ("post_execution", "repeated_span_ids"),
    ("post_actions", "post_actions"),
    ("active_days", "active_days"),
];

/// Replaces the view `name` by an in-memory table of its result, projected onto the
/// columns that the other SQL files mention.
async fn materialise(ctx: &SessionContext, name: &str) -> Result<(), KpiError> {
    let df = ctx.table(name).await?;
    let texts: Vec<&str> = VIEWS
        .iter()
        .chain(KPIS.iter())
        .filter(|f| f.name != name)
        .map(|f| f.sql)
        .collect();
    let columns: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|c| texts.iter().any(|t| mentions(t, c)))
        .collect();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let df = df.select_columns(&columns)?;
    let schema = Arc::clone(df.schema().inner());
    let partitions = df.collect_partitioned().await?;
    let rows: usize = partitions.iter().flatten().map(|b| b.num_rows()).sum();
    tracing::debug!(view = name, rows, "held in memory");
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, partitions)?))?;
    Ok(())
}

/// Whether `sql`, outside `--` comments, contains `word` as a whole identifier (a superset
/// of the real uses, e.g. inside a string literal, which only costs memory).
fn mentions(sql: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    sql.lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .any(|l| {
            l.match_indices(word).any(|(i, _)| {
                !l[..i].chars().next_back().is_some_and(is_ident)
                    && !l[i + word.len()..].chars().next().is_some_and(is_ident)
            })
        })
}

async fn register_actions(ctx: &SessionContext, files: &[PathBuf]) -> Result<(), KpiError> {
    if files.is_empty() {
        // A window without data still yields every KPI (all zero), over an empty table.
        let table = MemTable::try_new(schema(), vec![vec![]])?;
        ctx.register_table("actions", Arc::new(table))?;
        return Ok(());
    }
    let mut urls = Vec::with_capacity(files.len());
    for f in files {
        let abs = std::path::absolute(f).map_err(|e| KpiError::Io {
            path: f.clone(),
            source: e,
        })?;
        urls.push(ListingTableUrl::parse(abs.to_string_lossy())?);
    }
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema());
    ctx.register_table("actions", Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

fn register_params(ctx: &SessionContext, plan: &KpiPlan) -> Result<(), KpiError> {
    let w = &plan.window;
    let days = Arc::new(Schema::new(vec![Field::new("day", DataType::Int32, false)]));
    let day_values: Int32Array = (w.from_day..w.to_day).collect();
    let batch = RecordBatch::try_new(days.clone(), vec![Arc::new(day_values)])?;
    ctx.register_table(
        "window_days",
        Arc::new(MemTable::try_new(days, vec![vec![batch]])?),
    )?;

    let users = Arc::new(Schema::new(vec![Field::new(
        "user_norm",
        DataType::Utf8,
        false,
    )]));
    let names = StringArray::from(plan.excluded_users.clone());
    let batch = RecordBatch::try_new(users.clone(), vec![Arc::new(names)])?;
    ctx.register_table(
        "excluded_users",
        Arc::new(MemTable::try_new(users, vec![vec![batch]])?),
    )?;
    Ok(())
}

/// Registers `employees(email, role)` from a CSV or Parquet file, checking its columns.
async fn register_employees(ctx: &SessionContext, path: &Path) -> Result<(), KpiError> {
    let bad = |message: String| KpiError::BadEmployees {
        path: path.to_path_buf(),
        message,
    };
    if !path.is_file() {
        return Err(bad("no such file".into()));
    }
    let p = path.to_string_lossy();
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let registered = if is_parquet {
        ctx.register_parquet("employees_raw", p.as_ref(), ParquetReadOptions::default())
            .await
    } else {
        ctx.register_csv(
            "employees_raw",
            p.as_ref(),
            CsvReadOptions::new().file_extension(""),
        )
        .await
    };
    registered.map_err(|e| bad(format!("cannot read it: {e}")))?;
    let table = ctx.table("employees_raw").await?;
    let columns: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let missing: Vec<&str> = ["email", "role"]
        .into_iter()
        .filter(|c| !columns.iter().any(|n| n == c))
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "missing column(s) {} (it has: {})",
            missing.join(", "),
            columns.join(", ")
        )));
    }
    ctx.sql(
        "CREATE VIEW employees AS SELECT CAST(email AS VARCHAR) AS email, \
         CAST(role AS VARCHAR) AS role FROM employees_raw",
    )
    .await?;
    Ok(())
}

/// The users as the warehouse holds them: pseudonyms when a key is given.
fn pseudonymised(users: &[String], p: Option<&actionlog::pseudonym::Pseudonymiser>) -> Vec<String> {
    users
        .iter()
        .map(|u| p.map_or_else(|| u.clone(), |p| p.pseudonymise(u)))
        .collect()
}

/// Replaces the `employees` view by a table whose e-mails are pseudonyms made with the
/// warehouse's key. The table is small (one row per employee), so it is hashed in memory.
async fn pseudonymise_employees(
    ctx: &SessionContext,
    p: &actionlog::pseudonym::Pseudonymiser,
) -> Result<(), KpiError> {
    use datafusion::arrow::compute::cast;
    let batches = ctx.table("employees").await?.collect().await?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("email", DataType::Utf8, true),
        Field::new("role", DataType::Utf8, true),
    ]));
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let email = cast(b.column(0), &DataType::Utf8)?;
        let role = cast(b.column(1), &DataType::Utf8)?;
        let hashed: StringArray = email
            .as_any()
            .downcast_ref::<StringArray>()
            .into_iter()
            .flat_map(|a| a.iter())
            .map(|e| e.map(|e| p.pseudonymise(e)))
            .collect();
        out.push(RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(hashed), role],
        )?);
    }
    ctx.deregister_table("employees")?;
    ctx.register_table("employees", Arc::new(MemTable::try_new(schema, vec![out])?))?;
    Ok(())
}

/// Converts one Arrow cell to JSON: integers, floats (non-finite as null), booleans,
/// everything else as text.
pub(crate) fn cell(array: &dyn Array, row: usize) -> Value {
    use datafusion::arrow::array::{BooleanArray, Float64Array, Int64Array};
    use datafusion::arrow::compute::cast;
    if array.is_null(row) {
        return Value::Null;
    }
    let t = array.data_type();
    let one = array.slice(row, 1);
    if t.is_integer() {
        if let Ok(a) = cast(one.as_ref(), &DataType::Int64)
            && let Some(a) = a.as_any().downcast_ref::<Int64Array>()
        {
            return Value::from(a.value(0));
        }
    } else if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        if let Ok(a) = cast(one.as_ref(), &DataType::Float64)
            && let Some(a) = a.as_any().downcast_ref::<Float64Array>()
        {
            return serde_json::Number::from_f64(a.value(0)).map_or(Value::Null, Value::Number);
        }
    } else if let Some(a) = array.as_any().downcast_ref::<BooleanArray>() {
        return Value::Bool(a.value(row));
    }
    match cast(one.as_ref(), &DataType::Utf8) {
        Ok(a) => a
            .as_any()
            .downcast_ref::<StringArray>()
            .map_or(Value::Null, |s| Value::String(s.value(0).to_owned())),
        Err(_) => Value::Null,
    }
}
