//! The KPI SQL, embedded from `kpis/` (the files are the source of truth, so the binary
//! needs nothing beside it and a team can run the same files in its own warehouse).

/// A named SQL file.
#[derive(Debug, Clone, Copy)]
pub struct SqlFile {
    /// The view or KPI name.
    pub name: &'static str,
    /// Its path relative to the repository root.
    pub path: &'static str,
    /// A human title for reports.
    pub title: &'static str,
    /// The SQL text, with `{placeholders}` (see [`PLACEHOLDERS`]).
    pub sql: &'static str,
}

/// The placeholders the SQL may contain, replaced by integers before running:
/// `{from_day}` and `{to_day}` (the window, as epoch days, half-open), `{lookback_day}`
/// (`from_day - 29`), `{min_viewers}`, `{min_role_headcount}`.
pub const PLACEHOLDERS: [&str; 5] = [
    "from_day",
    "to_day",
    "lookback_day",
    "min_viewers",
    "min_role_headcount",
];

macro_rules! sql_file {
    ($name:literal, $path:literal, $title:literal) => {
        SqlFile {
            name: $name,
            path: $path,
            title: $title,
            sql: include_str!(concat!("../../../", $path)),
        }
    };
}

/// The views every KPI builds on, created in this order over the tables `actions`,
/// `window_days(day)` and `excluded_users(user_norm)`.
pub const VIEWS: [SqlFile; 9] = [
    sql_file!(
        "post_execution",
        "kpis/views/post_execution.sql",
        "Post-execution records"
    ),
    sql_file!(
        "repeated_span_ids",
        "kpis/views/repeated_span_ids.sql",
        "Span ids on more than one record"
    ),
    sql_file!(
        "post_actions",
        "kpis/views/post_actions.sql",
        "Post-execution records, copies numbered"
    ),
    sql_file!(
        "qualifying",
        "kpis/views/qualifying.sql",
        "Qualifying records"
    ),
    sql_file!(
        "active_days",
        "kpis/views/active_days.sql",
        "Active days per user"
    ),
    sql_file!("searches", "kpis/views/searches.sql", "Searches"),
    sql_file!(
        "search_clicks",
        "kpis/views/search_clicks.sql",
        "Search clicks"
    ),
    sql_file!("edits", "kpis/views/edits.sql", "Metadata edits"),
    sql_file!(
        "left_out_by_day",
        "kpis/views/left_out_by_day.sql",
        "Records left out, per day"
    ),
];

/// Every KPI query, in report order. `users_per_role` also needs the table
/// `employees(email, role)` and runs only when an employee file is given.
pub const KPIS: [SqlFile; 19] = [
    sql_file!("exclusions", "kpis/exclusions.sql", "Records left out"),
    sql_file!("dau", "kpis/dau.sql", "Daily active users"),
    sql_file!(
        "wau_rolling",
        "kpis/wau_rolling.sql",
        "Weekly active users (rolling 7 days)"
    ),
    sql_file!(
        "wau_calendar",
        "kpis/wau_calendar.sql",
        "Weekly active users (ISO weeks)"
    ),
    sql_file!(
        "mau_rolling",
        "kpis/mau_rolling.sql",
        "Monthly active users (rolling 30 days)"
    ),
    sql_file!(
        "stickiness",
        "kpis/stickiness.sql",
        "Stickiness (mean DAU / MAU)"
    ),
    sql_file!(
        "top_active_users",
        "kpis/top_active_users.sql",
        "Top 50 active users"
    ),
    sql_file!(
        "top_search_terms",
        "kpis/top_search_terms.sql",
        "Top search terms"
    ),
    sql_file!(
        "zero_result_rate",
        "kpis/zero_result_rate.sql",
        "Zero-result rate"
    ),
    sql_file!(
        "click_histogram",
        "kpis/click_histogram.sql",
        "Search click positions"
    ),
    sql_file!(
        "click_summary",
        "kpis/click_summary.sql",
        "Search click index"
    ),
    sql_file!(
        "search_ctr_mrr",
        "kpis/search_ctr_mrr.sql",
        "Search CTR and MRR"
    ),
    sql_file!("top_tables", "kpis/top_tables.sql", "Top popular tables"),
    sql_file!(
        "top_dashboards",
        "kpis/top_dashboards.sql",
        "Top dashboards"
    ),
    sql_file!(
        "edits_by_day",
        "kpis/edits_by_day.sql",
        "Metadata edits per day and type"
    ),
    sql_file!(
        "edits_by_type_method",
        "kpis/edits_by_type_method.sql",
        "Metadata edits per type and method"
    ),
    sql_file!(
        "edit_totals",
        "kpis/edit_totals.sql",
        "Metadata edits in total"
    ),
    sql_file!("edit_leaders", "kpis/edit_leaders.sql", "Edit leaders"),
    sql_file!(
        "users_per_role",
        "kpis/users_per_role.sql",
        "Users per role"
    ),
];

/// Parameters substituted into the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlParams {
    /// First day of the window (epoch day, inclusive).
    pub from_day: i32,
    /// Day after the window (epoch day, exclusive).
    pub to_day: i32,
    /// Minimum distinct viewers of a listed table or dashboard.
    pub min_viewers: u64,
    /// Minimum headcount of a role reported on its own.
    pub min_role_headcount: u64,
}

impl SqlParams {
    /// `sql` with every placeholder replaced.
    pub fn apply(&self, sql: &str) -> String {
        sql.replace("{from_day}", &self.from_day.to_string())
            .replace("{to_day}", &self.to_day.to_string())
            .replace("{lookback_day}", &(self.from_day - 29).to_string())
            .replace("{min_viewers}", &self.min_viewers.to_string())
            .replace("{min_role_headcount}", &self.min_role_headcount.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_known_and_replaced() {
        let p = SqlParams {
            from_day: 10,
            to_day: 12,
            min_viewers: 1,
            min_role_headcount: 5,
        };
        for f in VIEWS.iter().chain(KPIS.iter()) {
            let sql = p.apply(f.sql);
            assert!(!sql.contains('{'), "{} keeps a placeholder", f.path);
        }
        assert_eq!(p.apply("{lookback_day}"), "-19");
    }

    /// Every SQL file under `kpis/` is embedded exactly once: one left out would not run.
    #[test]
    fn every_sql_file_is_embedded_once() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let mut on_disk = Vec::new();
        for dir in ["kpis", "kpis/views"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".sql") {
                    on_disk.push(format!("{dir}/{name}"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = VIEWS
            .iter()
            .chain(KPIS.iter())
            .map(|f| f.path.to_owned())
            .collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    /// The median of `click_summary`, found from clicks counted per position, is the
    /// median of the positions themselves: odd and even counts, runs of equal positions
    /// across the middle, one click, none.
    #[tokio::test]
    async fn the_click_median_is_the_middle_of_the_sorted_positions() {
        use datafusion::arrow::array::{Array, Float64Array};
        use datafusion::prelude::SessionContext;
        let file = KPIS.iter().find(|k| k.name == "click_summary").unwrap();
        let cases: [&[i64]; 7] = [
            &[1, 12, 3, 2, 1, 5, 2],
            &[4, 1, 9, 2],
            &[3, 3, 3, 8],
            &[1, 1, 2, 2, 2, 7],
            &[6],
            &[2, 5],
            &[],
        ];
        for positions in cases {
            let mut sorted = positions.to_vec();
            sorted.sort_unstable();
            let n = sorted.len();
            let expected = match n {
                0 => None,
                _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
                _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
            };
            let ctx = SessionContext::new();
            let values = if positions.is_empty() {
                "SELECT CAST(NULL AS BIGINT) AS click_position WHERE false".to_owned()
            } else {
                let rows: Vec<String> = positions.iter().map(|p| format!("({p})")).collect();
                format!(
                    "SELECT CAST(column1 AS BIGINT) AS click_position FROM (VALUES {})",
                    rows.join(", ")
                )
            };
            ctx.sql(&format!("CREATE VIEW search_clicks AS {values}"))
                .await
                .unwrap();
            let batches = ctx.sql(file.sql).await.unwrap().collect().await.unwrap();
            let batch = &batches[0];
            let column = batch
                .column_by_name("median_position")
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            let got = (!column.is_null(0)).then(|| column.value(0));
            assert_eq!(got, expected, "positions {positions:?}");
        }
    }
}
