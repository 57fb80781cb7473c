//! The DataFusion session over the warehouse: registers the tables, creates the views and
//! runs every KPI file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::config::TableParquetOptions;
use datafusion::common::utils::memory::RecordBatchMemoryCounter;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryReservation, TrackConsumersPool,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{
    CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext, col, lit,
};
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
    /// Where the SQL runs: this process (the default) or a Ballista cluster.
    pub engine: Engine,
    /// The embedded engine's memory limit in bytes (`None`: no limit). Sorts, groupings and
    /// window functions spill to disk beyond it; the materialised views stay in memory up to
    /// half of it and go to Parquet files in the scratch directory beyond.
    pub memory_limit: Option<usize>,
    /// Where the embedded engine's spills and materialised views go: a fresh directory below
    /// this one, removed at the end of the run. Default: the system's temporary directory.
    pub scratch_dir: Option<PathBuf>,
    /// Write the materialised views to Parquet in the scratch directory from the start
    /// (for data known not to fit).
    pub views_on_disk: bool,
}

/// Where the KPI SQL runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// An embedded DataFusion session in this process.
    #[default]
    Embedded,
    /// A Ballista cluster, through its scheduler (`df://HOST:PORT`). The scheduler and every
    /// executor must read the warehouse and the employee table at the same absolute paths
    /// as this process (a shared directory). The views are not materialised there.
    Ballista {
        /// The scheduler's URL, `df://HOST[:PORT]` (port 50050 when left out).
        scheduler: String,
    },
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
            engine: Engine::Embedded,
            memory_limit: None,
            scratch_dir: None,
            views_on_disk: false,
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
    /// The days of those files, ascending, each with its files' total size in bytes.
    pub day_bytes: Vec<(i32, u64)>,
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

/// The days whose partitions a run reads: only those the SQL can look at, the window and
/// its 29-day look-back.
fn days_read(window: &Window) -> std::ops::Range<i32> {
    window.from_day - 29..window.to_day
}

/// Consecutive days whose files together take at most `max_bytes` (a day larger than that
/// is a chunk of its own), covering the days of `day_bytes` (ascending) up to `to_day`.
/// One chunk when there is no limit.
fn day_chunks(
    day_bytes: &[(i32, u64)],
    max_bytes: Option<u64>,
    to_day: i32,
) -> Vec<std::ops::Range<i32>> {
    let Some(&(first, _)) = day_bytes.first() else {
        return Vec::new();
    };
    let mut starts = vec![first];
    let mut bytes = 0;
    for &(day, b) in day_bytes {
        if max_bytes.is_some_and(|max| bytes > 0 && bytes + b > max) {
            starts.push(day);
            bytes = 0;
        }
        bytes += b;
    }
    let ends = starts.iter().skip(1).copied().chain([to_day]);
    starts.iter().zip(ends).map(|(&a, b)| a..b).collect()
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
    let read = days_read(&window);
    let partitions: Vec<_> = partitions
        .iter()
        .filter(|p| read.contains(&p.day))
        .collect();
    let files: Vec<PathBuf> = partitions
        .iter()
        .flat_map(|p| p.files.iter().cloned())
        .collect();
    let day_bytes = partitions
        .iter()
        .map(|p| {
            let bytes = p
                .files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            (p.day, bytes)
        })
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
        day_bytes,
        excluded_users,
        with_employees: opts.employees.is_some(),
    })
}

/// Computes every KPI over the warehouse in `dir`.
pub async fn compute(dir: &Path, opts: &KpiOptions) -> Result<KpiReport, KpiError> {
    // A chunk's grouping of span ids took 2-3 times its files' size (1.3 GB for 561 MB at
    // 10.8M events): at an eighth of the limit per chunk it keeps to a third of the pool.
    compute_in_chunks(dir, opts, opts.memory_limit.map(|l| l as u64 / 8), None).await
}

/// [`compute`], with the views of [`A_FEW_DAYS_AT_A_TIME`] computed over runs of days whose
/// files take at most `chunk_bytes`, and (for tests) the materialised views' memory budget
/// set apart from the memory limit.
async fn compute_in_chunks(
    dir: &Path,
    opts: &KpiOptions,
    chunk_bytes: Option<u64>,
    view_budget: Option<usize>,
) -> Result<KpiReport, KpiError> {
    let plan = plan(dir, opts)?;
    let (params, files) = (&plan.params, &plan.files);
    // A window without data has nothing to distribute: it runs here, over an empty table.
    let engine = if files.is_empty() {
        &Engine::Embedded
    } else {
        &opts.engine
    };
    if *engine != Engine::Embedded && opts.employees.is_some() && opts.pseudonymiser.is_some() {
        return Err(KpiError::Unsupported(
            "a cluster cannot pseudonymise the employee table (the embedded engine hashes it in memory): give it an employee table of pseudonyms, and no pseudonym key".into(),
        ));
    }
    let scratch = Scratch::new(opts);
    let ctx = session(engine, opts, &scratch).await?;
    let chunks = day_chunks(&plan.day_bytes, chunk_bytes, plan.window.to_day);
    let mut held = Materialised::new(opts.memory_limit, opts.views_on_disk, chunks);
    held.budget = view_budget.or(held.budget);
    held.window_bytes = plan.day_bytes.iter().map(|(_, b)| b).sum();
    register_actions(&ctx, files).await?;
    for (name, query) in plan.param_queries() {
        ctx.sql(&format!("CREATE VIEW {name} AS {query}")).await?;
    }
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
        held.create_view(&ctx, &v, params).await?;
        // On a cluster the views stay views, recomputed within each KPI's job: a view
        // written out as Parquet by a distributed job is not safe, since a task re-run after
        // a lost executor leaves the first attempt's file beside its own (seen: a click
        // histogram counting 1015 clicks instead of 698), and in-memory tables cannot be
        // sent to executors.
        let here = *engine == Engine::Embedded;
        for (name, _) in MATERIALISED
            .iter()
            .filter(|(_, after)| here && *after == v.name)
        {
            let started = std::time::Instant::now();
            bar.set_message(format!("{name} ({} file(s))", files.len()));
            held.materialise(&ctx, name, &scratch, params).await?;
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
            held.release(name);
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
/// the Parquet files and redo the numbering. `repeated_span_ids`, which it joins, is
/// computed once before it, reading only the span id column from the Parquet files.
/// `post_execution`, the other input, stays a view: `post_actions` reads it once (its
/// numbered branch joins the repeated ids, which reads nothing when there are none), so a
/// copy in memory only cost a pass and 2 GB at 10M events. `active_days` (one row per
/// user and day) saves the activity KPIs from counting distinct users over every record.
/// `searches`, `search_clicks` and `edits` (a third of the records, a few columns: 340 MB
/// at 10.8M events against 1.57 GB for `post_actions`) are read by ten KPI queries, which
/// would otherwise filter every record of `post_actions` ten times (or, once it is on
/// disk, read it ten times). `left_out_by_day` (a row per day) is what `exclusions` adds
/// up, so that no KPI query but the two top lists reads `post_actions` itself.
///
/// The SQL files stay as they are (a team's warehouse runs them as plain views); only this
/// engine swaps each of these views for an in-memory table of the same name, holding only
/// the columns the other SQL refers to, and drops the tables nothing reads any more.
pub(crate) const MATERIALISED: [(&str, &str); 7] = [
    ("repeated_span_ids", "repeated_span_ids"),
    ("post_actions", "post_actions"),
    ("active_days", "active_days"),
    ("searches", "searches"),
    ("search_clicks", "search_clicks"),
    ("edits", "edits"),
    ("left_out_by_day", "left_out_by_day"),
];

/// Materialised views that stay views when they do not fit in memory, rather than being
/// written to the scratch directory: the views after `post_actions` are materialised (a
/// few days at a time, see [`FROM_POST_ACTIONS_A_FEW_DAYS_AT_A_TIME`]), so only
/// `top_tables` and `top_dashboards` read it then, and recomputing it from the warehouse
/// for each reader cost less than writing it once and reading it back: at 108M events
/// under 6 GiB, 164.1 s against 205.7 s with seven readers, same report, peak 6.7 GiB
/// (docs/benchmarks.md, "2026-12-07"). `--views-on-disk` still writes it.
const LEFT_A_VIEW_WHEN_TOO_LARGE: [&str; 1] = ["post_actions"];

/// Materialised views that the other SQL reads the same whether they are computed over
/// the whole window or a few whole days at a time and the results put together. When the
/// window's files are large for the memory limit they are computed that way (see
/// [`day_chunks`]), so that their grouping holds a few days' records instead of the
/// window's: at 100M events every span id of the window did not fit a 6 GiB pool, and the
/// spilling grouping took 41-67 s where a tenth of the data took 1.1-1.8 s. (For
/// `repeated_span_ids`: every span id repeated within a day is found in its day's chunk,
/// and `post_actions` numbers copies per day, so ids repeated only across chunks change
/// nothing.)
const A_FEW_DAYS_AT_A_TIME: [&str; 1] = ["repeated_span_ids"];

/// Materialised views that read `post_actions` (through `qualifying`) a record or a user's
/// day at a time, so that computed over a few whole days at a time they give the same rows.
/// When `post_actions` does not fit in memory but a few days of it do, they are computed
/// from it that way: a run of days of `post_actions` in memory, these views of it written
/// to the scratch directory, the next run of days. One pass over the warehouse then serves
/// all five, where each otherwise recomputed `post_actions` from the warehouse: at 108M
/// events under 6 GiB, 48.8 s for the pass and `exclusions` against 68.3 s for the five
/// views (then four) and `exclusions` (docs/benchmarks.md, "2026-12-07, later").
const FROM_POST_ACTIONS_A_FEW_DAYS_AT_A_TIME: [&str; 5] = [
    "active_days",
    "searches",
    "search_clicks",
    "edits",
    "left_out_by_day",
];

/// The session the KPIs run in: embedded, with the memory limit and the scratch directory
/// for spills, or on a Ballista cluster.
async fn session(
    engine: &Engine,
    opts: &KpiOptions,
    scratch: &Scratch,
) -> Result<SessionContext, KpiError> {
    match engine {
        Engine::Embedded => {
            // DataFusion's own settings can be tuned from the environment
            // (`DATAFUSION_EXECUTION_*`, e.g. `DATAFUSION_EXECUTION_TARGET_PARTITIONS`); a bad
            // value is an error, not ignored.
            let config = SessionConfig::from_env()?.with_information_schema(false);
            let mut runtime = RuntimeEnvBuilder::new();
            if let Some(limit) = opts.memory_limit {
                // Fair: every spilling operator of a query gets its share, so a sort cannot
                // starve the grouping beside it; tracked: an error names the top consumers.
                let pool = FairSpillPool::new(limit);
                let top = std::num::NonZeroUsize::new(5).expect("5 is not zero");
                runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(pool, top)));
            }
            let spills =
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![
                    scratch.root().to_path_buf(),
                ]));
            let runtime = runtime.with_disk_manager_builder(spills).build_arc()?;
            Ok(SessionContext::new_with_config_rt(config, runtime))
        }
        Engine::Ballista { scheduler } => {
            use ballista::prelude::{SessionConfigExt, SessionContextExt};
            let config = SessionConfig::new_with_ballista()
                .with_information_schema(false)
                .with_ballista_job_name("actionlog kpi")
                .with_ballista_adaptive_query_planner(false);
            let state = SessionStateBuilder::new()
                .with_config(config)
                .with_default_features()
                .build();
            let ctx = SessionContext::remote_with_state(scheduler, state)
                .await
                .map_err(|e| KpiError::Cluster {
                    scheduler: scheduler.clone(),
                    message: e.to_string(),
                })?;
            Ok(ctx)
        }
    }
}

/// The run's scratch directory: spill files and materialised views written as Parquet.
/// Created when first asked for, removed with the run.
#[derive(Debug)]
struct Scratch {
    parent: PathBuf,
    dir: std::sync::OnceLock<std::io::Result<tempfile::TempDir>>,
}

impl Scratch {
    fn new(opts: &KpiOptions) -> Self {
        let parent = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
        Self {
            parent,
            dir: std::sync::OnceLock::new(),
        }
    }

    /// Where DataFusion spills: the parent itself (its spill files are removed as they go).
    fn root(&self) -> &Path {
        &self.parent
    }

    /// The run's own directory, created on first use.
    fn dir(&self) -> Result<&Path, KpiError> {
        let made = self.dir.get_or_init(|| {
            std::fs::create_dir_all(&self.parent)?;
            tempfile::Builder::new()
                .prefix("actionlog-kpi-")
                .tempdir_in(&self.parent)
        });
        match made {
            Ok(d) => Ok(d.path()),
            Err(e) => Err(KpiError::Io {
                path: self.parent.clone(),
                source: std::io::Error::new(e.kind(), e.to_string()),
            }),
        }
    }
}

/// `post_actions` when no span id repeats (the usual case): kpis/views/post_actions.sql
/// numbers a record only when its span id repeats or is missing, and a record without an
/// id is copy 1 of its own, so every record is copy 1. The same columns in the same order.
const NO_COPIES_POST_ACTIONS: &str =
    "CREATE VIEW post_actions AS SELECT p.*, CAST(1 AS BIGINT) AS copy_no FROM post_execution p";

/// The materialised views of a run and the memory they hold.
struct Materialised {
    /// Materialised views in memory may take this many bytes of the pool (half the limit).
    budget: Option<usize>,
    /// Once a view did not fit, the later ones go straight to Parquet too. (Holding the
    /// smaller views after a large one in memory instead, tried on 2026-12-07, took as long
    /// at 108M events under 6 GiB, 205.9 s against 205.7 s, but peaked at 9.4 GiB instead
    /// of 6.4 GiB: the memory outside the pool grew with the views held.)
    to_files: bool,
    /// `--views-on-disk`: every view is written, even those of
    /// [`LEFT_A_VIEW_WHEN_TOO_LARGE`].
    on_disk_asked: bool,
    /// The pool's reservations of the in-memory tables, by name.
    reservations: Vec<(String, MemoryReservation)>,
    /// The runs of days that the views computed a few days at a time are computed for.
    chunks: Vec<std::ops::Range<i32>>,
    /// The size of the files the run reads.
    window_bytes: u64,
    /// Views of [`FROM_POST_ACTIONS_A_FEW_DAYS_AT_A_TIME`] already written to the scratch
    /// directory, with their schemas.
    written: Vec<(String, String, SchemaRef)>,
    /// `repeated_span_ids` was held in memory and is empty: no record has a copy.
    no_repeated_ids: bool,
}

impl std::fmt::Debug for Materialised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materialised")
            .field("budget", &self.budget)
            .field("to_files", &self.to_files)
            .finish_non_exhaustive()
    }
}

impl Materialised {
    fn new(
        memory_limit: Option<usize>,
        views_on_disk: bool,
        chunks: Vec<std::ops::Range<i32>>,
    ) -> Self {
        Self {
            budget: memory_limit.map(|l| l / 2),
            to_files: views_on_disk,
            on_disk_asked: views_on_disk,
            reservations: Vec::new(),
            chunks,
            window_bytes: 0,
            written: Vec::new(),
            no_repeated_ids: false,
        }
    }

    fn held(&self) -> usize {
        self.reservations.iter().map(|(_, r)| r.size()).sum()
    }

    /// Replaces the view `name` by a table of its result, projected onto the columns that
    /// the SQL files after it mention ([`read_after`]): in memory while it fits the budget, else Parquet files
    /// in the scratch directory (written by the engine itself, on a cluster by its
    /// executors).
    async fn materialise(
        &mut self,
        ctx: &SessionContext,
        name: &str,
        scratch: &Scratch,
        params: &SqlParams,
    ) -> Result<(), KpiError> {
        if let Some(i) = self.written.iter().position(|(n, _, _)| n == name) {
            let (_, url, schema) = self.written.remove(i);
            return register_parquet_dir(ctx, name, &url, schema);
        }
        let df = projected(ctx, name).await?;
        let schema = Arc::clone(df.schema().inner());
        let parts = if A_FEW_DAYS_AT_A_TIME.contains(&name) && self.chunks.len() > 1 {
            tracing::debug!(
                view = name,
                chunks = self.chunks.len(),
                "computed a few days at a time"
            );
            // Run one after the other: a union of the chunks would run them all at once.
            self.chunks
                .iter()
                .map(|days| over_days(ctx, &df, days))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            vec![df.clone()]
        };
        if !self.to_files {
            // `post_actions` held in memory took 2.4-2.8 times its files' size (1.57 GB for
            // 561 MB at 10.8M events, 1.49 GB for a 610 MB run of days at 108M): with files
            // over half the budget it cannot fit, and trying cost 4-6 s at 108M events.
            let hopeless = LEFT_A_VIEW_WHEN_TOO_LARGE.contains(&name)
                && self
                    .budget
                    .is_some_and(|b| self.window_bytes > b as u64 / 2);
            if hopeless {
                tracing::debug!(
                    view = name,
                    files_bytes = self.window_bytes,
                    "not tried in memory: its files take over half the budget"
                );
            } else if let Some((table, reservation, rows)) = self
                .in_memory(ctx, name, Arc::clone(&schema), &parts)
                .await?
            {
                self.no_repeated_ids |= name == "repeated_span_ids" && rows == 0;
                ctx.deregister_table(name)?;
                ctx.register_table(name, Arc::new(table))?;
                self.reservations.push((name.to_owned(), reservation));
                return Ok(());
            }
            self.to_files = true;
            tracing::info!(
                view = name,
                budget = self.budget,
                "a materialised view exceeds half the memory limit: it and the later ones go to Parquet in the scratch directory"
            );
        }
        if !self.on_disk_asked && LEFT_A_VIEW_WHEN_TOO_LARGE.contains(&name) {
            tracing::info!(view = name, "not written after all: it stays a view");
            if name == "post_actions" && self.chunks.len() > 1 {
                self.views_of_post_actions_by_days(ctx, &df, scratch, params)
                    .await?;
            }
            return Ok(());
        }
        let url = scratch_url(scratch, name)?;
        for part in parts {
            write_parquet(part, &url).await?;
        }
        register_parquet_dir(ctx, name, &url, schema)?;
        tracing::debug!(view = name, url, "written as Parquet");
        Ok(())
    }

    /// Writes the views of [`FROM_POST_ACTIONS_A_FEW_DAYS_AT_A_TIME`] to the scratch
    /// directory, each run of days at a time from that run's rows of `post_actions` (`df`,
    /// the view projected) held in memory. Gives up, writing nothing, when a run of days
    /// does not fit the budget either: the views are then computed as usual, each from the
    /// `post_actions` view.
    async fn views_of_post_actions_by_days(
        &mut self,
        ctx: &SessionContext,
        df: &DataFrame,
        scratch: &Scratch,
        params: &SqlParams,
    ) -> Result<(), KpiError> {
        // The views between `post_actions` and the last of these, created again over each
        // run of days: a view binds the tables it reads when it is created.
        let at = |name: &str| VIEWS.iter().position(|v| v.name == name);
        let first = at("post_actions").map_or(VIEWS.len(), |i| i + 1);
        let last = FROM_POST_ACTIONS_A_FEW_DAYS_AT_A_TIME
            .iter()
            .filter_map(|n| at(n))
            .max()
            .unwrap_or(0);
        let between = VIEWS.get(first..=last).unwrap_or_default();
        let schema = Arc::clone(df.schema().inner());
        let mut written: Vec<(String, String, SchemaRef)> = Vec::new();
        let mut fitted = true;
        for days in self.chunks.clone() {
            let part = over_days(ctx, df, &days)?;
            let Some((table, _reservation, _)) = self
                .in_memory(ctx, "post_actions", Arc::clone(&schema), &[part])
                .await?
            else {
                fitted = false;
                break;
            };
            ctx.deregister_table("post_actions")?;
            ctx.register_table("post_actions", Arc::new(table))?;
            for v in between {
                ctx.deregister_table(v.name)?;
                self.create_view(ctx, v, params).await?;
            }
            for name in FROM_POST_ACTIONS_A_FEW_DAYS_AT_A_TIME {
                let view = projected(ctx, name).await?;
                let url = scratch_url(scratch, name)?;
                if !written.iter().any(|(n, _, _)| n == name) {
                    let schema = Arc::clone(view.schema().inner());
                    written.push((name.to_owned(), url.clone(), schema));
                }
                write_parquet(view, &url).await?;
            }
            // The run's rows go before the next run's come in.
            for v in between {
                ctx.deregister_table(v.name)?;
            }
            ctx.deregister_table("post_actions")?;
        }
        // `post_actions` a view again, for the queries that read it after these views.
        ctx.deregister_table("post_actions")?;
        if let Some(v) = VIEWS.iter().find(|v| v.name == "post_actions") {
            self.create_view(ctx, v, params).await?;
        }
        if !fitted {
            for (name, url, _) in &written {
                let dir = url.trim_end_matches('/');
                match std::fs::remove_dir_all(dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(KpiError::Io {
                            path: dir.into(),
                            source: e,
                        });
                    }
                    _ => {}
                }
                tracing::debug!(view = name, "not computed a few days at a time");
            }
            tracing::info!("a few days of post_actions do not fit in memory either");
            return Ok(());
        }
        tracing::debug!(
            chunks = self.chunks.len(),
            views = ?FROM_POST_ACTIONS_A_FEW_DAYS_AT_A_TIME,
            "computed from post_actions a few days at a time"
        );
        self.written = written;
        Ok(())
    }

    /// The view's rows (those of all its `parts`) as an in-memory table whose memory the
    /// pool accounts for, or `None` once they would take more than the budget.
    async fn in_memory(
        &self,
        ctx: &SessionContext,
        name: &str,
        schema: SchemaRef,
        parts: &[DataFrame],
    ) -> Result<Option<(MemTable, MemoryReservation, usize)>, KpiError> {
        use futures::StreamExt;
        let pool = &ctx.runtime_env().memory_pool;
        let reservation = MemoryConsumer::new(format!("materialised view {name}")).register(pool);
        let held = self.held();
        let mut batches = Vec::new();
        // Operators such as aggregations emit one large batch as zero-copy slices; counted
        // batch by batch, each slice would charge the whole buffer again.
        let mut counter = RecordBatchMemoryCounter::new();
        for part in parts {
            let mut stream = part.clone().execute_stream().await?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let size = counter.count_batch(&batch);
                let over = self
                    .budget
                    .is_some_and(|b| held + reservation.size() + size > b);
                if over || reservation.try_grow(size).is_err() {
                    return Ok(None);
                }
                batches.push(batch);
            }
        }
        // As many partitions as the session runs in parallel, so the KPIs that read the
        // table scan it on every core.
        let n = ctx.copied_config().target_partitions().max(1);
        let mut partitions = vec![Vec::new(); n];
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        for (i, b) in batches.into_iter().enumerate() {
            partitions[i % n].push(b);
        }
        tracing::debug!(
            view = name,
            rows,
            bytes = reservation.size(),
            "held in memory"
        );
        Ok(Some((
            MemTable::try_new(schema, partitions)?,
            reservation,
            rows,
        )))
    }

    /// Creates the view of the SQL file `v`. With no repeated span id, `post_actions` is
    /// every post-execution record as copy 1: its file's result then, without its join
    /// with the repeated ids, which at 108M events was ~3.5 s of every pass over the
    /// records and made each reader decode every span id.
    async fn create_view(
        &self,
        ctx: &SessionContext,
        v: &SqlFile,
        params: &SqlParams,
    ) -> Result<(), KpiError> {
        if self.no_repeated_ids && v.name == "post_actions" {
            tracing::debug!(view = v.name, "no repeated span id: every record is copy 1");
            ctx.sql(NO_COPIES_POST_ACTIONS).await?;
            return Ok(());
        }
        create_view(ctx, v, params).await
    }

    /// Gives back the memory of a table that nothing reads any more.
    fn release(&mut self, name: &str) {
        self.reservations.retain(|(n, _)| n != name);
    }
}

/// Creates the view of the SQL file `v`, its placeholders substituted.
async fn create_view(
    ctx: &SessionContext,
    v: &SqlFile,
    params: &SqlParams,
) -> Result<(), KpiError> {
    ctx.sql(&format!(
        "CREATE VIEW {} AS {}",
        v.name,
        params.apply(v.sql)
    ))
    .await?;
    Ok(())
}

/// The view `name` projected onto the columns that the SQL files after it mention
/// ([`read_after`]).
async fn projected(ctx: &SessionContext, name: &str) -> Result<DataFrame, KpiError> {
    let df = ctx.table(name).await?;
    let names: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let columns = read_after(name, &names);
    Ok(df.select_columns(&columns)?)
}

/// The scratch directory's URL for the view `name`: a trailing slash, for a directory of
/// files.
fn scratch_url(scratch: &Scratch, name: &str) -> Result<String, KpiError> {
    let path = std::path::absolute(scratch.dir()?.join(name)).map_err(|e| KpiError::Io {
        path: scratch.parent.clone(),
        source: e,
    })?;
    Ok(format!("{}/", path.display()))
}

/// Writes `df` as Parquet files into the directory `url`, beside those already there (each
/// write names its files afresh).
async fn write_parquet(df: DataFrame, url: &str) -> Result<(), KpiError> {
    // One writer per file, not one per column: a view goes to files because memory is
    // short, and the parallel column writers each buffer a row group's worth.
    let mut parquet = TableParquetOptions::default();
    parquet.global.allow_single_file_parallelism = false;
    // These files live for one run and are read by every KPI: LZ4 spends less CPU on
    // writing and reading them than the default zstd(3), for larger files.
    parquet.global.compression = Some("lz4_raw".into());
    df.write_parquet(url, DataFrameWriteOptions::new(), Some(parquet))
        .await?;
    Ok(())
}

/// Replaces the view `name` by the Parquet files in the directory `url`.
fn register_parquet_dir(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    schema: SchemaRef,
) -> Result<(), KpiError> {
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(ListingTableUrl::parse(url)?)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// `df` over the warehouse's records of `days` only: a filter on the day above every scan
/// of `actions` (DataFusion inlines views into the plan, and pushes the filter down to the
/// Parquet files' statistics).
fn over_days(
    ctx: &SessionContext,
    df: &DataFrame,
    days: &std::ops::Range<i32>,
) -> Result<DataFrame, KpiError> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
    let plan = df.logical_plan().clone().transform_up(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        if scan.table_name.table() != "actions" {
            return Ok(Transformed::no(node));
        }
        let day = col(datafusion::common::Column::new(
            Some(scan.table_name.clone()),
            "day",
        ));
        let within = day
            .clone()
            .gt_eq(lit(days.start))
            .and(day.lt(lit(days.end)));
        Ok(Transformed::yes(
            LogicalPlanBuilder::from(node).filter(within)?.build()?,
        ))
    })?;
    Ok(DataFrame::new(ctx.state(), plan.data))
}

/// The `columns` of the view `name` that the SQL files after it mention. Only those can
/// read it, since a view reads views created before it: `repeated_span_ids` naming
/// `span_id` must not keep the span ids in `post_actions`.
fn read_after<'a>(name: &str, columns: &[&'a str]) -> Vec<&'a str> {
    let texts: Vec<&str> = VIEWS
        .iter()
        .skip_while(|f| f.name != name)
        .skip(1)
        .chain(KPIS.iter())
        .map(|f| f.sql)
        .collect();
    columns
        .iter()
        .copied()
        .filter(|c| texts.iter().any(|t| mentions(t, c)))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_actions_keeps_only_the_columns_read_after_it() {
        let all = [
            "host_name",
            "start_epoch_ms",
            "end_epoch_ms",
            "keyword_args_json",
            "output",
            "user",
            "command",
            "trace_id",
            "span_id",
            "day",
            "user_norm",
            "success",
            "copy_no",
        ];
        assert_eq!(
            read_after("post_actions", &all),
            vec![
                "start_epoch_ms",
                "end_epoch_ms",
                "command",
                "day",
                "user_norm",
                "success",
                "copy_no"
            ]
        );
        // `post_actions` reads the span ids of `repeated_span_ids`.
        assert_eq!(
            read_after("repeated_span_ids", &["r_span_id"]),
            vec!["r_span_id"]
        );
    }

    #[test]
    fn days_are_chunked_by_their_files_size() {
        let days = [(10, 4), (11, 4), (13, 3), (14, 9), (15, 1)];
        assert_eq!(day_chunks(&days, None, 20), vec![10..20]);
        assert_eq!(day_chunks(&days, Some(100), 20), vec![10..20]);
        // 4 + 4 fit 8; 3 alone (3 + 9 > 8); 9 is over but a day of its own; then 1.
        assert_eq!(
            day_chunks(&days, Some(8), 20),
            vec![10..13, 13..14, 14..15, 15..20]
        );
        assert_eq!(
            day_chunks(&[], Some(8), 20),
            Vec::<std::ops::Range<i32>>::new()
        );
    }

    /// The `n`th record: `user` views `table` on `day` (days since the epoch).
    fn table_view(n: u64, day: i64, user: &str, table: &str) -> actionlog::proto::UserAction {
        use actionlog::proto::{LongString, UserAction};
        let start = day * actionlog_warehouse::MS_PER_DAY + 3_600_000 + n as i64;
        UserAction {
            start_epoch_ms: Some(start),
            end_epoch_ms: Some(start + 5),
            keyword_args_json: Some(LongString::new(format!(r#"{{"table_key":"{table}"}}"#))),
            user: Some(user.into()),
            command: Some("_get_table_metadata".into()),
            trace_id: Some(format!("{n:032x}")),
            span_id: Some(format!("{n:016x}")),
            ..UserAction::default()
        }
    }

    /// The first day of the tests' records (days since the epoch).
    const DAY0: i64 = 20_000;

    /// `count` table views: record `n` by user `u{n % users}` of table `hive://t{n % tables}`
    /// on day `DAY0 + n % days`.
    fn table_views(
        count: u64,
        days: u64,
        users: u64,
        tables: u64,
    ) -> Vec<actionlog::proto::UserAction> {
        (0..count)
            .map(|n| {
                let (user, table) = (format!("u{}", n % users), format!("hive://t{}", n % tables));
                table_view(n, DAY0 + (n % days) as i64, &user, &table)
            })
            .collect()
    }

    /// The default options with `scratch` as the scratch directory, and the views written
    /// there from the start if `views_on_disk`.
    fn with_scratch(scratch: &tempfile::TempDir, views_on_disk: bool) -> KpiOptions {
        KpiOptions {
            views_on_disk,
            scratch_dir: Some(scratch.path().to_path_buf()),
            ..KpiOptions::default()
        }
    }

    /// A warehouse of `actions`, a file per record (so that the days' files have sizes to
    /// chunk by).
    fn warehouse_of(actions: &[actionlog::proto::UserAction]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut w = actionlog_warehouse::WarehouseWriter::open(dir.path()).unwrap();
        for a in actions {
            w.write(std::slice::from_ref(a)).unwrap();
        }
        w.flush().unwrap();
        dir
    }

    fn assert_same_tables(a: &KpiReport, b: &KpiReport) {
        assert_eq!(a.tables.len(), b.tables.len());
        for (a, b) in a.tables.iter().zip(&b.tables) {
            assert_eq!(a.rows, b.rows, "{}", a.name);
        }
    }

    /// With no repeated span id, `post_actions` is every record as copy 1 without the SQL
    /// file's join: the report is that of the file's view (which the engine uses when
    /// `repeated_span_ids` went to disk, so it does not know that it is empty), records
    /// without a span id or a trace id included, and with `post_actions` left a view.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_repeated_span_ids_every_record_is_copy_one() {
        let mut actions = table_views(24, 3, 5, 4);
        actions[3].span_id = None;
        actions[7].span_id = None;
        actions[9].trace_id = None;
        // The same record again without a span id: it cannot be told from a copy, so it
        // is a record of its own.
        actions.push(actions[3].clone());
        let dir = warehouse_of(&actions);
        let views = |r: &KpiReport| -> i64 {
            let t = r.table("top_tables").unwrap();
            (0..t.rows.len())
                .map(|i| t.get(i, "views").and_then(Value::as_i64).unwrap())
                .sum()
        };
        let in_memory = compute_in_chunks(dir.path(), &KpiOptions::default(), None, None)
            .await
            .unwrap();
        assert_eq!(views(&in_memory), 25);
        let scratch = tempfile::tempdir().unwrap();
        let on_disk = with_scratch(&scratch, true);
        let files_view = compute_in_chunks(dir.path(), &on_disk, None, None)
            .await
            .unwrap();
        assert_same_tables(&in_memory, &files_view);
        let too_large = with_scratch(&scratch, false);
        let post_actions_a_view = compute_in_chunks(dir.path(), &too_large, Some(1), Some(2048))
            .await
            .unwrap();
        assert_same_tables(&in_memory, &post_actions_a_view);
    }

    /// Computed one day at a time, `repeated_span_ids` gives the same report: a copy on the
    /// same day is found in that day's chunk, and an id reused on another day is a record.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeated_span_ids_a_day_at_a_time_give_the_same_report() {
        // Four tables, each viewed on several days: the top lists have rows to compare.
        let at =
            |n: u64, day: i64, user: &str| table_view(n, day, user, &format!("hive://t{}", n % 4));
        let mut actions = table_views(30, 3, 7, 4);
        // Copies within a day (of records 4 and 5), and record 6's ids again on a later day.
        actions.push(actions[4].clone());
        actions.push(actions[5].clone());
        actions.push(actions[5].clone());
        let mut reused = at(6, DAY0 + 2, "someone");
        reused.start_epoch_ms = reused.start_epoch_ms.map(|s| s + 1);
        actions.push(reused);
        let dir = warehouse_of(&actions);
        let opts = KpiOptions::default();
        let plan = plan(dir.path(), &opts).unwrap();
        assert_eq!(
            day_chunks(&plan.day_bytes, Some(1), plan.window.to_day).len(),
            3
        );
        let whole = compute_in_chunks(dir.path(), &opts, None, None)
            .await
            .unwrap();
        let daily = compute_in_chunks(dir.path(), &opts, Some(1), None)
            .await
            .unwrap();
        let duplicates = |r: &KpiReport| {
            r.table("exclusions")
                .and_then(|t| t.get(0, "duplicates").cloned())
                .unwrap()
        };
        assert_eq!(duplicates(&whole), serde_json::json!(3));
        let tables = whole.table("top_tables").unwrap();
        assert_eq!(tables.rows.len(), 4);
        assert_eq!(duplicates(&daily), serde_json::json!(3));
        // And with the views written to the scratch directory, a write per chunk.
        let scratch = tempfile::tempdir().unwrap();
        let on_disk = with_scratch(&scratch, true);
        let daily_on_disk = compute_in_chunks(dir.path(), &on_disk, Some(1), None)
            .await
            .unwrap();
        // And with `post_actions` too large for the views' budget: it stays a view, the
        // views after it go to the scratch directory.
        let too_large = with_scratch(&scratch, false);
        let post_actions_a_view = compute_in_chunks(dir.path(), &too_large, Some(1), Some(1))
            .await
            .unwrap();
        // (And with room for the repeated ids but not for `post_actions`.)
        let post_actions_too_large = compute_in_chunks(dir.path(), &too_large, Some(1), Some(2048))
            .await
            .unwrap();
        // (And with room for a day of `post_actions` but not for all of it: the views that
        // read it are computed from it a day at a time. 550 kB, in the middle of the budgets
        // that take that way here, 400-700 kB: a day's batches take ~300 kB in memory.)
        let a_day_at_a_time = compute_in_chunks(dir.path(), &too_large, Some(1), Some(550_000))
            .await
            .unwrap();
        for r in [
            &daily,
            &daily_on_disk,
            &post_actions_a_view,
            &post_actions_too_large,
            &a_day_at_a_time,
        ] {
            assert_same_tables(&whole, r);
        }
    }

    /// When the runs of days before the last fit the views' budget and the last one does
    /// not, the views already written for the first runs are deleted and computed from
    /// the `post_actions` view instead: the same report, no rows counted twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_of_days_over_the_budget_undoes_the_runs_before_it() {
        let mut actions = table_views(20, 2, 5, 3);
        // The last day's tables have long names: that day of `post_actions` takes over
        // 1 MB in memory, each day before it 364 kB. (Checked that the views written for
        // the first two days are the ones deleted: 5 views, after two runs.)
        let long = "x".repeat(100_000);
        actions.extend((20..30).map(|n| {
            let table = format!("hive://{long}{}", n % 3);
            table_view(n, DAY0 + 2, &format!("u{}", n % 5), &table)
        }));
        let dir = warehouse_of(&actions);
        let scratch = tempfile::tempdir().unwrap();
        let opts = with_scratch(&scratch, false);
        let whole = compute_in_chunks(dir.path(), &opts, None, None)
            .await
            .unwrap();
        assert_eq!(whole.table("top_tables").unwrap().rows.len(), 6);
        let undone = compute_in_chunks(dir.path(), &opts, Some(1), Some(600_000))
            .await
            .unwrap();
        assert_same_tables(&whole, &undone);
        // Nothing of the run is left in the scratch directory.
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }

    /// A grouping emits its result as zero-copy slices of one batch: the view's memory is
    /// that batch once, not once per slice (which had sent views to disk needlessly).
    #[tokio::test]
    async fn a_view_of_sliced_batches_is_charged_once() {
        let limit = 32 << 20;
        let opts = KpiOptions {
            memory_limit: Some(limit),
            ..KpiOptions::default()
        };
        let scratch = Scratch::new(&opts);
        let ctx = session(&Engine::Embedded, &opts, &scratch).await.unwrap();
        // 100,000 groups of two Int64 columns: ~2 MB of values, emitted in ~12 slices of
        // 8192 rows; charging each slice the whole buffers would be ~12 times that.
        let df = ctx
            .sql("SELECT value % 100000 AS k, COUNT(*) AS c FROM generate_series(0, 399999) GROUP BY value % 100000")
            .await
            .unwrap();
        let held = Materialised::new(Some(limit), false, Vec::new());
        let (table, reservation, _) = held
            .in_memory(&ctx, "groups", Arc::clone(df.schema().inner()), &[df])
            .await
            .unwrap()
            .expect("the view fits half of 32 MiB");
        assert!(
            reservation.size() < 8 << 20,
            "charged {} bytes",
            reservation.size()
        );
        ctx.register_table("groups", Arc::new(table)).unwrap();
        let rows = ctx
            .sql("SELECT COUNT(*) AS n, SUM(c) AS s FROM groups")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(cell(rows[0].column(0), 0), Value::from(100_000));
        assert_eq!(cell(rows[0].column(1), 0), Value::from(400_000));
    }
}
