//! Where files live: `DIR/dt=YYYY-MM-DD/part-*.parquet`, and how to find them again.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// The partition of records without a start time (Hive's name for a null partition value).
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The UTC date of an epoch day (clamped to chrono's range, ±262,000 years).
pub fn day_to_date(day: i32) -> NaiveDate {
    let max = if day < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    };
    NaiveDate::default()
        .checked_add_signed(chrono::TimeDelta::days(i64::from(day)))
        .unwrap_or(max)
}

/// The epoch day of a date.
pub fn date_to_day(date: NaiveDate) -> i32 {
    // Dates within ±5.8 million years fit; the cast cannot truncate for NaiveDate's range.
    (date - NaiveDate::default()).num_days() as i32
}

/// The partition directory name (`dt=2026-01-05`) of an epoch day.
pub fn partition_name(day: Option<i32>) -> String {
    match day {
        Some(d) => format!("dt={}", day_to_date(d).format("%Y-%m-%d")),
        None => format!("dt={NULL_PARTITION}"),
    }
}

/// One dated partition of the warehouse and its complete files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The partition's UTC date as an epoch day.
    pub day: i32,
    /// Its complete Parquet files (temporary files are never listed).
    pub files: Vec<PathBuf>,
}

/// Lists the dated partitions of `dir` that hold at least one complete file, by day.
/// A missing directory is an empty warehouse.
pub fn list_partitions(dir: &Path) -> std::io::Result<Vec<Partition>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(date) = name
            .to_str()
            .and_then(|n| n.strip_prefix("dt="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let mut files = Vec::new();
        for f in std::fs::read_dir(entry.path())? {
            let f = f?;
            let fname = f.file_name();
            let fname = fname.to_string_lossy();
            if fname.ends_with(".parquet") && !fname.starts_with('.') && !fname.starts_with('_') {
                files.push(f.path());
            }
        }
        if !files.is_empty() {
            files.sort();
            out.push(Partition {
                day: date_to_day(date),
                files,
            });
        }
    }
    out.sort_by_key(|p| p.day);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_partition_names() {
        assert_eq!(partition_name(Some(0)), "dt=1970-01-01");
        assert_eq!(partition_name(Some(-1)), "dt=1969-12-31");
        assert_eq!(partition_name(None), "dt=__HIVE_DEFAULT_PARTITION__");
        let d = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
        assert_eq!(day_to_date(date_to_day(d)), d);
        assert_eq!(date_to_day(d), 20458);
    }
}
