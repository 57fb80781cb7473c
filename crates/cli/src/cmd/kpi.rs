//! `actionlog kpi`: compute every KPI over the embedded warehouse and print or write them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;

use crate::CliResult;
use actionlog_kpi::{Engine, KpiError, KpiOptions, KpiReport, compute, plan, render_html};

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
    /// Where the SQL runs: in this process, or on a Ballista cluster (--scheduler).
    #[arg(long, value_enum, default_value_t = EngineArg::Embedded, env = "ACTIONLOG_KPI_ENGINE")]
    pub(crate) engine: EngineArg,
    /// The Ballista scheduler, df://HOST[:PORT] (port 50050 when left out), for
    /// --engine ballista. Its executors must read the warehouse at the same path.
    #[arg(
        long,
        env = "ACTIONLOG_BALLISTA_SCHEDULER",
        value_name = "URL",
        required_if_eq("engine", "ballista")
    )]
    pub(crate) scheduler: Option<String>,
    /// The embedded engine's memory limit: a size (8GiB, 512MiB, 8G = 8x10^9 bytes) or a
    /// share of this machine's memory (50%). Beyond it, sorts and groupings spill to disk
    /// and the materialised views go to Parquet in --scratch-dir.
    #[arg(long, env = "ACTIONLOG_KPI_MEMORY_LIMIT", default_value = "50%", value_parser = parse_memory_limit)]
    pub(crate) memory_limit: MemoryLimit,
    /// Where the embedded engine's spills and materialised views go (a fresh directory below
    /// it, removed afterwards). Default: the system's temporary directory.
    #[arg(long, env = "ACTIONLOG_KPI_SCRATCH_DIR")]
    pub(crate) scratch_dir: Option<PathBuf>,
    /// Write the materialised views to Parquet in --scratch-dir from the start, not only
    /// once they outgrow half the memory limit.
    #[arg(long)]
    pub(crate) views_on_disk: bool,
}

/// `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EngineArg {
    /// DataFusion in this process.
    Embedded,
    /// A Ballista cluster (see `actionlog ballista`).
    Ballista,
}

/// `--memory-limit`: bytes, or a share of the machine's memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MemoryLimit {
    /// This many bytes.
    Bytes(u64),
    /// This share (0 < s <= 1) of the memory the process may use.
    Share(f64),
}

impl MemoryLimit {
    /// The limit in bytes on this machine: a share counts the smaller of the RAM and the
    /// cgroup's limit (a container's).
    pub(crate) fn bytes(self) -> u64 {
        match self {
            MemoryLimit::Bytes(b) => b,
            MemoryLimit::Share(s) => (available_memory() as f64 * s) as u64,
        }
    }
}

fn available_memory() -> u64 {
    use sysinfo::{MemoryRefreshKind, RefreshKind, System};
    let sys = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let total = sys.total_memory();
    sys.cgroup_limits()
        .map_or(total, |c| c.total_memory.min(total))
}

fn parse_memory_limit(s: &str) -> Result<MemoryLimit, String> {
    let t = s.trim();
    if let Some(p) = t.strip_suffix('%') {
        return match p.trim().parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 100.0 => Ok(MemoryLimit::Share(v / 100.0)),
            _ => Err(format!(
                "{s:?}: a share is a number above 0 and up to 100, then %"
            )),
        };
    }
    match t.parse::<bytesize::ByteSize>() {
        Ok(b) if b.as_u64() > 0 => Ok(MemoryLimit::Bytes(b.as_u64())),
        Ok(_) => Err(format!("{s:?}: the limit must be above zero")),
        Err(e) => Err(format!(
            "{s:?}: not a size such as 8GiB, 512MiB or 50% ({e})"
        )),
    }
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
            engine: match (self.engine, &self.scheduler) {
                (EngineArg::Ballista, Some(url)) => Engine::Ballista {
                    scheduler: url.clone(),
                },
                _ => Engine::Embedded,
            },
            memory_limit: Some(usize::try_from(self.memory_limit.bytes()).unwrap_or(usize::MAX)),
            scratch_dir: self.scratch_dir.clone(),
            views_on_disk: self.views_on_disk,
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
            // A URL (s3a://, hdfs://) reads as a relative path that does not exist: say
            // so, rather than call someone's full bucket empty.
            let why = if args.warehouse.exists() {
                "no dt=YYYY-MM-DD/*.parquet file found (land some actions first, e.g. `actionlog generate`)"
            } else {
                "there is no such directory (--warehouse is a local or mounted directory; URLs such as s3:// are not read)"
            };
            eprintln!(
                "actionlog: error: the warehouse {} is empty: {why}",
                args.warehouse.display()
            );
            return Ok(ExitCode::from(EXIT_NO_DATA));
        }
        Err(e) if e.is_out_of_memory() => {
            return Err(format!(
                "{e}\n(the run needs more than --memory-limit {} bytes outside what spills: raise --memory-limit)",
                args.memory_limit.bytes()
            )
            .into());
        }
        Err(e @ KpiError::Engine(_)) if args.engine == EngineArg::Ballista => {
            return Err(format!(
                "{e}\n(a job failed on the Ballista cluster; if an executor was lost, run again: the scheduler fails the jobs an executor loss touches instead of re-running their stages, see docs/scale.md)"
            )
            .into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_parse_as_sizes_or_shares() {
        assert_eq!(parse_memory_limit("8GiB"), Ok(MemoryLimit::Bytes(8 << 30)));
        assert_eq!(
            parse_memory_limit("512 MiB"),
            Ok(MemoryLimit::Bytes(512 << 20))
        );
        assert_eq!(
            parse_memory_limit("8G"),
            Ok(MemoryLimit::Bytes(8_000_000_000))
        );
        assert_eq!(parse_memory_limit("1000"), Ok(MemoryLimit::Bytes(1000)));
        assert_eq!(parse_memory_limit("50%"), Ok(MemoryLimit::Share(0.5)));
        for bad in ["0", "0%", "150%", "-1%", "lots", "8 parsecs", ""] {
            assert!(parse_memory_limit(bad).is_err(), "{bad:?} was accepted");
        }
        let half = MemoryLimit::Share(0.5).bytes();
        assert!(half > 0 && half <= available_memory());
    }
}
