//! `actionlog generate`: deterministic, realistic Amundsen traffic into the warehouse.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

use crate::CliResult;
use crate::generate::{GenerateConfig, Generator};
use actionlog::UserActionExporter;
use actionlog_warehouse::{WarehouseSink, WarehouseWriter};

/// How generated actions reach the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Route {
    /// Straight into the Parquet writer: for large volumes.
    Direct,
    /// Through the real path: action-log spans → exporter → warehouse sink.
    Real,
}

/// Arguments of `actionlog generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The warehouse directory to write into.
    #[arg(
        long,
        env = "ACTIONLOG_WAREHOUSE",
        default_value = "actionlog-warehouse"
    )]
    pub(crate) warehouse: PathBuf,
    /// Number of people.
    #[arg(long, default_value_t = 200)]
    pub(crate) users: usize,
    /// Number of days.
    #[arg(long, default_value_t = 28)]
    pub(crate) days: u32,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Day after the last generated day (UTC).
    #[arg(long, default_value = "2026-11-02")]
    pub(crate) end: NaiveDate,
    /// Tables in the catalog.
    #[arg(long, default_value_t = 2000)]
    pub(crate) tables: usize,
    /// Dashboards in the catalog.
    #[arg(long, default_value_t = 300)]
    pub(crate) dashboards: usize,
    /// Mean actions of a person on an active day.
    #[arg(long, default_value_t = 14.0)]
    pub(crate) actions_per_active_day: f64,
    /// Direct Parquet writes, or the real span → exporter → sink path.
    #[arg(long, value_enum, default_value_t = Route::Direct)]
    pub(crate) path: Route,
    /// Also write the matching employee table (CSV: email,role) here.
    #[arg(long)]
    pub(crate) employees_out: Option<PathBuf>,
    /// Pseudonymise users with the key in this file (or ACTIONLOG_PSEUDONYM_KEY), as the
    /// bridge does; the employee table stays clear (`actionlog kpi` hashes it with the key).
    #[arg(long)]
    pub(crate) pseudonym_key_file: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> GenerateConfig {
        GenerateConfig {
            users: self.users,
            days: self.days,
            end: self.end,
            seed: self.seed,
            tables: self.tables,
            dashboards: self.dashboards,
            actions_per_active_day: self.actions_per_active_day,
        }
    }
}

/// What a generation run produced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generated {
    pub(crate) actions: u64,
    pub(crate) seconds: f64,
}

/// Generates into `warehouse` along `path`.
pub(crate) fn generate(
    cfg: GenerateConfig,
    warehouse: &Path,
    path: Route,
    employees_out: Option<&Path>,
    pseudonymiser: Option<actionlog::pseudonym::Pseudonymiser>,
) -> Result<Generated, Box<dyn std::error::Error + Send + Sync>> {
    let started = Instant::now();
    let g = Generator::new(cfg);
    if let Some(out) = employees_out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, g.employees_csv())?;
    }
    let bar = indicatif::ProgressBar::new(g.days().len() as u64);
    let mut actions = 0u64;
    match path {
        Route::Direct => {
            let mut w = WarehouseWriter::open(warehouse)?;
            for day in g.days() {
                let mut batch = g.day(day);
                // The direct route skips conversion, so it applies the same step itself.
                if let Some(p) = &pseudonymiser {
                    for a in &mut batch {
                        a.user = a.user.as_deref().map(|u| p.pseudonymise(u));
                    }
                }
                for chunk in batch.chunks(8192) {
                    w.write(chunk)?;
                }
                actions += batch.len() as u64;
                bar.inc(1);
            }
            w.flush()?;
        }
        Route::Real => {
            let sink = Arc::new(WarehouseSink::open(warehouse)?);
            let exporter = UserActionExporter::builder()
                .with_sink(sink)
                .with_convert_options(actionlog::convert::ConvertOptions {
                    pseudonymiser,
                    ..Default::default()
                })
                .build()?;
            let stats = exporter.stats();
            // A queue large enough for a day of traffic, flushed after each day, so that no
            // span is dropped for a full queue.
            let processor = BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(1 << 20)
                        .with_max_export_batch_size(4096)
                        .build(),
                )
                .build();
            let provider = SdkTracerProvider::builder()
                .with_resource(
                    Resource::builder()
                        .with_service_name("actionlog-generate")
                        .build(),
                )
                .with_span_processor(processor)
                .build();
            actionlog::set_tracer_provider(&provider);
            let mut expected = 0u64;
            for day in g.days() {
                let batch = g.day(day);
                expected += batch.iter().filter(|a| a.end_epoch_ms.is_some()).count() as u64;
                crate::generate::replay(&batch);
                provider.force_flush()?;
                bar.inc(1);
            }
            provider.shutdown()?;
            actionlog::reset_tracer_provider();
            actions = stats.exported.load(std::sync::atomic::Ordering::Relaxed);
            if actions != expected {
                return Err(format!(
                    "the exporter delivered {actions} of {expected} actions to the warehouse"
                )
                .into());
            }
        }
    }
    bar.finish_and_clear();
    Ok(Generated {
        actions,
        seconds: started.elapsed().as_secs_f64(),
    })
}

pub(crate) fn run(args: Args) -> CliResult {
    let g = generate(
        args.config(),
        &args.warehouse,
        args.path,
        args.employees_out.as_deref(),
        actionlog::pseudonym::Pseudonymiser::from_sources(
            args.pseudonym_key_file.as_deref(),
            &|k| std::env::var(k).ok(),
        )?,
    )?;
    println!(
        "generated {} action(s) over {} day(s) for {} user(s) into {} in {:.1}s ({:.0} actions/s)",
        g.actions,
        args.days,
        args.users,
        args.warehouse.display(),
        g.seconds,
        g.actions as f64 / g.seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
