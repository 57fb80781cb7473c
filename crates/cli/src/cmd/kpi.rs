//! `actionlog kpi`: compute every KPI over the embedded warehouse and print or write them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;

use crate::CliResult;
use actionlog_kpi::{KpiError, KpiOptions, KpiReport, compute, plan, render_html};

/// Exit code when the warehouse holds no data.
pub(crate) const EXIT_NO_DATA: u8 = 3;

/// Output formats of `actionlog kpi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned text tables, headline numbers first.
    Table,
    /// One JSON document.
    Json,
    /// Tidy CSV: kpi,row,column,value.
    Csv,
    /// A self-contained HTML report with charts.
    Html,
}

/// Arguments of `actionlog kpi`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The warehouse directory (dt=YYYY-MM-DD/*.parquet).
    #[arg(
        long,
        env = "ACTIONLOG_WAREHOUSE",
        default_value = "actionlog-warehouse"
    )]
    pub(crate) warehouse: PathBuf,
    /// First day of the window (inclusive, UTC); default: 28 days before --to.
    #[arg(long)]
    pub(crate) from: Option<NaiveDate>,
    /// Day after the window (exclusive, UTC); default: the day after the latest day with data.
    #[arg(long)]
    pub(crate) to: Option<NaiveDate>,
    /// Employee table (CSV or Parquet with email and role columns) for users per role.
    #[arg(long)]
    pub(crate) employees: Option<PathBuf>,
    /// Users left out of every KPI (service accounts); repeat or separate with commas.
    #[arg(long = "exclude-user", value_delimiter = ',')]
    pub(crate) exclude_users: Vec<String>,
    /// Minimum distinct viewers of a listed table or dashboard.
    #[arg(long, default_value_t = 1)]
    pub(crate) min_viewers: u64,
    /// Roles with fewer employees are folded into `other`.
    #[arg(long, default_value_t = 5)]
    pub(crate) min_role_headcount: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Write the output to this file instead of stdout.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Print the SQL of every KPI instead of computing it: placeholders substituted, in run
    /// order, for another engine (Spark SQL, DuckDB; scripts/kpis-on-spark.py runs it).
    #[arg(long, conflicts_with = "results")]
    pub(crate) print_sql: bool,
    /// Render the report from another engine's results of --print-sql (the JSON that
    /// scripts/kpis-on-spark.py writes) instead of reading the warehouse.
    #[arg(long, value_name = "FILE")]
    pub(crate) results: Option<PathBuf>,
    /// The key file the warehouse's users were pseudonymised with (or set
    /// ACTIONLOG_PSEUDONYM_KEY): employee e-mails and --exclude-user are hashed alike.
    #[arg(long)]
    pub(crate) pseudonym_key_file: Option<PathBuf>,
}

impl Args {
    pub(crate) fn options(&self) -> Result<KpiOptions, actionlog::pseudonym::KeyError> {
        Ok(KpiOptions {
            from: self.from,
            to: self.to,
            exclude_users: self.exclude_users.clone(),
            min_viewers: self.min_viewers,
            min_role_headcount: self.min_role_headcount,
            employees: self.employees.clone(),
            progress: true,
            pseudonymiser: actionlog::pseudonym::Pseudonymiser::from_sources(
                self.pseudonym_key_file.as_deref(),
                &|k| std::env::var(k).ok(),
            )?,
        })
    }
}

/// Renders a report in a format.
pub(crate) fn render(report: &KpiReport, format: Format) -> String {
    match format {
        Format::Table => report.to_text(),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Csv => report.to_csv(),
        Format::Html => render_html(report),
    }
}

/// Reads another engine's results (see [`KpiReport::from_results`]).
fn read_results(path: &std::path::Path) -> Result<KpiReport, KpiError> {
    let bad = |message: String| KpiError::BadResults {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let value = serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    KpiReport::from_results(path, &value)
}

/// Runs a KPI computation on a fresh multi-threaded runtime.
pub(crate) fn compute_blocking(
    warehouse: &std::path::Path,
    options: &KpiOptions,
) -> Result<KpiReport, KpiError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| KpiError::Io {
            path: warehouse.to_path_buf(),
            source: e,
        })?;
    rt.block_on(compute(warehouse, options))
}

pub(crate) fn run(args: Args) -> CliResult {
    let outcome = if let Some(path) = &args.results {
        read_results(path).map(|r| render(&r, args.format))
    } else if args.print_sql {
        let options = args.options()?;
        if options.employees.is_some() && options.pseudonymiser.is_some() {
            return Err(
                "--print-sql cannot pseudonymise the employee table (the embedded engine hashes it in memory): give the other engine an employee table of pseudonyms, and --print-sql no --pseudonym-key-file"
                    .into(),
            );
        }
        plan(&args.warehouse, &options).map(|p| p.sql_script())
    } else {
        compute_blocking(&args.warehouse, &args.options()?).map(|r| render(&r, args.format))
    };
    let text = match outcome {
        Ok(t) => t,
        Err(KpiError::EmptyWarehouse) => {
            eprintln!(
                "actionlog: error: the warehouse {} is empty: no dt=YYYY-MM-DD/*.parquet file found (land some actions first, e.g. `actionlog generate`)",
                args.warehouse.display()
            );
            return Ok(ExitCode::from(EXIT_NO_DATA));
        }
        Err(e) => return Err(e.into()),
    };
    match &args.out {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
