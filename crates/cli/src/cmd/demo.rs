//! `actionlog demo`: the embedded demo of the whole system, on a fresh machine, no broker.
//!
//! A few weeks of realistic Amundsen traffic go through the real path (action-log spans
//! with a simulated clock → `UserActionExporter` → `WarehouseSink`) into the embedded
//! Parquet warehouse; then every KPI is computed over it, the summary printed and the
//! self-contained HTML report written.

use std::path::PathBuf;
use std::process::ExitCode;

use super::generate::{Route, generate};
use super::kpi::compute_blocking;
use crate::CliResult;
use crate::generate::{GenerateConfig, SERVICE_ACCOUNT};
use actionlog_kpi::{KpiOptions, render_html};

/// Arguments of `actionlog demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory of the demo's warehouse, employee table and report (its warehouse is
    /// replaced).
    #[arg(long, default_value = "actionlog-demo")]
    dir: PathBuf,
    /// Number of simulated people.
    #[arg(long, default_value_t = 150)]
    users: usize,
    /// Number of simulated days.
    #[arg(long, default_value_t = 28)]
    days: u32,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Through the real span → exporter → sink path, or straight into Parquet.
    #[arg(long, value_enum, default_value_t = Route::Real)]
    path: Route,
}

pub(crate) fn run(args: Args) -> CliResult {
    let warehouse = args.dir.join("warehouse");
    if warehouse.exists() {
        std::fs::remove_dir_all(&warehouse)?;
    }
    let employees = args.dir.join("employees.csv");
    let cfg = GenerateConfig {
        users: args.users,
        days: args.days,
        seed: args.seed,
        ..GenerateConfig::default()
    };
    let g = generate(cfg, &warehouse, args.path, Some(&employees), None)?;
    println!(
        "generated {} action(s) for {} user(s) over {} day(s) through the {} path into {} ({:.1}s)",
        g.actions,
        args.users,
        args.days,
        if args.path == Route::Real {
            "real (span → exporter → warehouse sink)"
        } else {
            "direct"
        },
        warehouse.display(),
        g.seconds
    );
    let options = KpiOptions {
        exclude_users: vec![SERVICE_ACCOUNT.to_owned()],
        employees: Some(employees),
        progress: true,
        ..KpiOptions::default()
    };
    let report = compute_blocking(&warehouse, &options)?;
    println!();
    for line in report.summary_lines() {
        println!("{line}");
    }
    let html = args.dir.join("report.html");
    std::fs::write(&html, render_html(&report))?;
    println!();
    println!("HTML report: {}", html.display());
    println!(
        "more: actionlog kpi --warehouse {} --employees {} --exclude-user {SERVICE_ACCOUNT} [--format json|csv|html]",
        warehouse.display(),
        args.dir.join("employees.csv").display()
    );
    Ok(ExitCode::SUCCESS)
}
