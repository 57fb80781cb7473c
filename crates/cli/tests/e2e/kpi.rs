//! The KPI engine over a small hand-written warehouse. Every expected value below was
//! worked out by hand from the records (the reasoning is in the comments), not produced by
//! the code under test.

use std::path::Path;
use std::process::Command;

use actionlog::proto::{LongString, UserAction};
use actionlog::sink::Sink;
use actionlog_kpi::{KpiError, KpiOptions, KpiReport, compute};
use actionlog_warehouse::{WarehouseSink, WarehouseWriter, list_partitions};
use chrono::NaiveDate;
use serde_json::{Value, json};

pub(crate) const T1: &str = "hive://gold.core/rides";
pub(crate) const T2: &str = "hive://gold.core/drivers";
pub(crate) const T3: &str = "hive://gold.ops/trips";
pub(crate) const D1: &str = "mode_dashboard://gold.core/rides_overview";

fn ms(t: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.3f")
        .expect("test timestamp")
        .and_utc()
        .timestamp_millis()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

/// A post-execution record with unique trace/span ids derived from `n`.
fn rec(n: u32, user: &str, command: &str, t: &str, kwargs: Value) -> UserAction {
    let start = ms(t);
    UserAction {
        host_name: Some("amundsen-1".into()),
        start_epoch_ms: Some(start),
        end_epoch_ms: Some(start + 40),
        pos_args_json: Some(LongString::new("[]")),
        keyword_args_json: Some(LongString::new(kwargs.to_string())),
        output: Some(LongString::new("{}")),
        error: None,
        user: Some(user.into()),
        command: Some(command.into()),
        trace_id: Some(format!("{n:032x}")),
        span_id: Some(format!("{n:016x}")),
    }
}

fn with_output(mut a: UserAction, output: &str) -> UserAction {
    a.output = Some(LongString::new(output));
    a
}

/// The hand-written dataset. Window under test: 2026-01-01 (Thursday) .. 2026-01-11
/// (exclusive), i.e. days Jan 1 ... Jan 10; ISO week 2026-W01 is Mon Dec 29 ... Sun Jan 4,
/// W02 is Mon Jan 5 ... Sun Jan 11.
pub(crate) fn dataset() -> Vec<UserAction> {
    let search = "_search_resources";
    let view = "_get_table_metadata";
    let mut v = vec![
        // --- look-back, before the window ---
        // L1: erin, only in the look-back: counts in MAU (d-29 reaches Dec 20), nowhere else.
        rec(
            100,
            "erin@example.com",
            view,
            "2025-12-20T10:00:00.000",
            json!({"table_key": T1, "source": "home"}),
        ),
        // L2: bob on Dec 30: in WAU rolling for Jan 1 ... Jan 5.
        rec(
            101,
            "bob@example.com",
            view,
            "2025-12-30T09:00:00.000",
            json!({"table_key": T1, "source": "home"}),
        ),
        // r0: one millisecond before the window: Dec 31, not Jan 1.
        rec(
            102,
            "bob@example.com",
            view,
            "2025-12-31T23:59:59.999",
            json!({"table_key": T3, "source": "home"}),
        ),
        // --- Jan 1 ---
        // r1: exactly at UTC midnight, user with odd case and spaces: alice, Jan 1. Search "rides", 12 results.
        with_output(
            rec(
                1,
                " Alice@Example.com ",
                search,
                "2026-01-01T00:00:00.000",
                json!({"search_term": "Rides", "page_index": 0}),
            ),
            r#"{"total_results": 12}"#,
        ),
        // r2: click position 1 a minute later.
        rec(
            2,
            "alice@example.com",
            view,
            "2026-01-01T00:01:00.000",
            json!({"table_key": T1, "index": 0, "source": "search_results"}),
        ),
        // r3: page 2 of the same search: not a search.
        with_output(
            rec(
                3,
                "alice@example.com",
                search,
                "2026-01-01T00:02:00.000",
                json!({"search_term": "rides", "page_index": 1}),
            ),
            r#"{"total_results": 12}"#,
        ),
        // r4: click at absolute index 11 (position 12, bucket 11+).
        rec(
            4,
            "alice@example.com",
            view,
            "2026-01-01T00:03:00.000",
            json!({"table_key": T2, "index": 11, "source": "search_results"}),
        ),
        // r5: service account: excluded.
        rec(
            5,
            "svc-bot",
            view,
            "2026-01-01T05:00:00.000",
            json!({"table_key": T1, "source": "api"}),
        ),
        // --- Jan 2 ---
        // r7: term with spaces and case; no page_index (= first page); zero results.
        with_output(
            rec(
                7,
                "bob@example.com",
                search,
                "2026-01-02T10:00:00.000",
                json!({"search_term": "  Driver   Payments "}),
            ),
            r#"{"total_results": 0}"#,
        ),
        // r8: bob searches again 5 minutes later.
        with_output(
            rec(
                8,
                "bob@example.com",
                search,
                "2026-01-02T10:05:00.000",
                json!({"search_term": "driver payments", "page_index": 0}),
            ),
            r#"{"total_results": 5}"#,
        ),
        // r9: click with index given as a string "2" (position 3), after r8: belongs to r8 only.
        rec(
            9,
            "bob@example.com",
            view,
            "2026-01-02T10:06:00.000",
            json!({"table_key": T2, "index": "2", "source": "search_results"}),
        ),
        // r10: dashboard view from another source: not a search click.
        rec(
            10,
            "bob@example.com",
            "_get_dashboard_metadata",
            "2026-01-02T10:07:00.000",
            json!({"uri": D1, "index": 0, "source": "popular_resources"}),
        ),
        // r11: edit, table description of T1.
        rec(
            11,
            "carol@example.com",
            "_log_put_table_description",
            "2026-01-02T11:00:00.000",
            json!({"table_key": T1, "description": "x", "source": "user"}),
        ),
        // r13: empty user: left out.
        rec(
            13,
            "  ",
            search,
            "2026-01-02T12:00:00.000",
            json!({"search_term": "ghost"}),
        ),
        // --- Jan 4 (Sunday, last day of W01) ---
        // r14: carol searches "eta" at the very end of Sunday.
        with_output(
            rec(
                14,
                "carol@example.com",
                search,
                "2026-01-04T23:59:59.999",
                json!({"search_term": "eta", "page_index": 0}),
            ),
            r#"{"total_results": 3}"#,
        ),
        // --- Jan 5 (Monday, W02) ---
        // r15: 1 ms later, on Monday: click position 2 for r14.
        rec(
            15,
            "carol@example.com",
            view,
            "2026-01-05T00:00:00.000",
            json!({"table_key": T3, "index": 1, "source": "search_results"}),
        ),
        // r16: tag removed.
        rec(
            16,
            "carol@example.com",
            "_log_update_table_tags",
            "2026-01-05T00:10:00.000",
            json!({"table_key": T1, "method": "DELETE", "tag": "pii"}),
        ),
        // r17: dave (not in the employee table) searches "eta".
        with_output(
            rec(
                17,
                "dave@example.com",
                search,
                "2026-01-05T09:00:00.000",
                json!({"search_term": "eta"}),
            ),
            r#"{"total_results": 3}"#,
        ),
        // r18: click 11 minutes later: a search click, but too late for r17.
        rec(
            18,
            "dave@example.com",
            view,
            "2026-01-05T09:11:00.000",
            json!({"table_key": T3, "index": 0, "source": "search_results"}),
        ),
        // r19: a view from the search results without an index: a view, not a search click.
        rec(
            19,
            "dave@example.com",
            view,
            "2026-01-05T09:12:00.000",
            json!({"table_key": T3, "source": "search_results"}),
        ),
        // --- Jan 6 ---
        // r21: search whose output is not JSON (no total_results).
        with_output(
            rec(
                21,
                "alice@example.com",
                search,
                "2026-01-06T14:00:00.000",
                json!({"search_term": "rides", "page_index": 0}),
            ),
            "<SearchResult object>",
        ),
        // r22, r23: two clicks at the same millisecond as the search: positions 5 and 2.
        rec(
            22,
            "alice@example.com",
            view,
            "2026-01-06T14:00:00.000",
            json!({"table_key": T1, "index": 4, "source": "search_results"}),
        ),
        rec(
            23,
            "alice@example.com",
            "_log_get_user",
            "2026-01-06T14:00:00.000",
            json!({"user_id": "bob@example.com", "index": 1, "source": "search_results"}),
        ),
        // r24, r25: two column description edits of the same column.
        rec(
            24,
            "alice@example.com",
            "_log_put_column_description",
            "2026-01-06T15:00:00.000",
            json!({"table_key": T2, "column_name": "id", "description": "d"}),
        ),
        rec(
            25,
            "alice@example.com",
            "_log_put_column_description",
            "2026-01-06T15:01:00.000",
            json!({"table_key": T2, "column_name": "id", "description": "e"}),
        ),
        // r26: owner added.
        rec(
            26,
            "alice@example.com",
            "_log_update_table_owner",
            "2026-01-06T15:02:00.000",
            json!({"table_key": T2, "method": "PUT", "owner": "alice"}),
        ),
        // --- Jan 10 (Saturday) ---
        // r28: view from bookmarks.
        rec(
            28,
            "bob@example.com",
            view,
            "2026-01-10T08:00:00.000",
            json!({"table_key": T1, "index": 0, "source": "bookmarks"}),
        ),
        // r29: dashboard tag, method in lower case.
        rec(
            29,
            "bob@example.com",
            "_log_update_dashboard_tags",
            "2026-01-10T08:05:00.000",
            json!({"uri_key": D1, "method": "put", "tag": "x"}),
        ),
        // r30: exactly at the window's end (exclusive): outside.
        rec(
            30,
            "alice@example.com",
            view,
            "2026-01-11T00:00:00.000",
            json!({"table_key": T1, "source": "home"}),
        ),
    ];
    // r6: the pre-execution duplicate of r1 (no end, no output): never counts.
    let mut r6 = v[3].clone();
    r6.end_epoch_ms = None;
    r6.output = None;
    v.push(r6);
    // r12: a failed edit by carol: activity yes, edits no.
    let mut r12 = rec(
        12,
        "carol@example.com",
        "_log_update_table_tags",
        "2026-01-02T11:05:00.000",
        json!({"table_key": T1, "method": "PUT", "tag": "pii"}),
    );
    r12.error = Some(LongString::new("PermissionDenied: not an owner"));
    v.push(r12);
    // r20: dave, keyword arguments that do not parse: activity yes, table views no; counted.
    let mut r20 = rec(
        20,
        "dave@example.com",
        view,
        "2026-01-05T09:30:00.000",
        json!({}),
    );
    r20.keyword_args_json = Some(LongString::new(
        r#"{"table_key": "hive://gold.core/rides", "#,
    ));
    v.push(r20);
    // r27: a second copy of r24 (same trace/span id), as an at-least-once loader may land.
    let id24 = format!("{:016x}", 24);
    let r24 = v
        .iter()
        .find(|a| a.span_id.as_deref() == Some(id24.as_str()))
        .cloned();
    v.extend(r24);
    v
}

pub(crate) const EMPLOYEES_CSV: &str = "email,role\n\
alice@example.com,analyst\n \
Bob@Example.com ,analyst\n\
x1@example.com,analyst\n\
x2@example.com,analyst\n\
x3@example.com,analyst\n\
carol@example.com,engineer\n\
y1@example.com,engineer\n\
erin@example.com,engineer\n\
z1@example.com,legal\n";

pub(crate) const EXCLUDED: &str = "svc-bot";

/// Lands the dataset through the warehouse sink (the exporter's path), in two batches.
pub(crate) async fn land(dir: &Path, actions: &[UserAction]) {
    let sink = WarehouseSink::open(dir).expect("open warehouse");
    let (a, b) = actions.split_at(actions.len() / 2);
    sink.write(a).await.expect("write");
    sink.write(b).await.expect("write");
    sink.shutdown(std::time::Duration::from_secs(5))
        .await
        .expect("shutdown");
}

pub(crate) fn options(dir: &Path, from: &str, to: &str) -> KpiOptions {
    std::fs::write(dir.join("employees.csv"), EMPLOYEES_CSV).expect("write employees");
    KpiOptions {
        from: Some(date(from)),
        to: Some(date(to)),
        exclude_users: vec![EXCLUDED.into()],
        employees: Some(dir.join("employees.csv")),
        ..KpiOptions::default()
    }
}

fn rows(r: &KpiReport, kpi: &str) -> Vec<Vec<Value>> {
    r.table(kpi)
        .unwrap_or_else(|| panic!("no KPI {kpi}"))
        .rows
        .clone()
}

fn one(r: &KpiReport, kpi: &str, col: &str) -> Value {
    r.table(kpi)
        .and_then(|t| t.get(0, col).cloned())
        .unwrap_or_else(|| panic!("no {kpi}.{col}"))
}

/// Same rows, floats equal up to rounding (parallel sums depend on how files are split).
pub(crate) fn assert_rows_close(x: &actionlog_kpi::KpiTable, y: &actionlog_kpi::KpiTable) {
    let same = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(p), Some(q)) if a.is_f64() || b.is_f64() => (p - q).abs() <= 1e-12 * p.abs().max(1.0),
        _ => a == b,
    };
    assert_eq!(
        x.rows.len(),
        y.rows.len(),
        "{}: {:?} vs {:?}",
        x.name,
        x.rows,
        y.rows
    );
    for (rx, ry) in x.rows.iter().zip(&y.rows) {
        assert!(
            rx.iter().zip(ry).all(|(a, b)| same(a, b)),
            "{} differs: {rx:?} vs {ry:?}",
            x.name
        );
    }
}

fn close(v: &Value, expected: f64) {
    let x = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
    assert!((x - expected).abs() < 1e-9, "{x} != {expected}");
}

/// Epoch day of a date, computed independently of the crate: days since 1970-01-01.
fn day(s: &str) -> i64 {
    (date(s) - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kpi_matches_the_hand_computed_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    land(&wh, &dataset()).await;
    let r = compute(&wh, &options(dir.path(), "2026-01-01", "2026-01-11"))
        .await
        .expect("kpis");

    // Left out, window Jan 1 ... Jan 10: r6 pre-execution; r27 duplicate of r24; r13 empty
    // user; r5 service account. Qualifying: alice r1-r4 + r21-r26 = 10, bob r7-r10 + r28,
    // r29 = 6, carol r11, r12, r14, r15, r16 = 5, dave r17-r20 = 4: 25. Of them r20 has
    // unparsable arguments and r12 failed. (r0, L1, L2 before, r30 after the window.)
    assert_eq!(
        rows(&r, "exclusions"),
        vec![vec![
            json!(1),
            json!(1),
            json!(1),
            json!(1),
            json!(25),
            json!(1),
            json!(1)
        ]]
    );

    // DAU: Jan 1 alice; Jan 2 bob, carol; Jan 3 -; Jan 4 carol; Jan 5 carol, dave; Jan 6
    // alice; Jan 7-9 -; Jan 10 bob.
    let dau: Vec<(i64, i64)> = rows(&r, "dau")
        .iter()
        .map(|x| (x[0].as_i64().unwrap_or(-1), x[1].as_i64().unwrap_or(-1)))
        .collect();
    let expected_dau = [1, 2, 0, 1, 2, 1, 0, 0, 0, 1];
    assert_eq!(dau.len(), 10);
    for (i, (d, n)) in dau.iter().enumerate() {
        assert_eq!(*d, day("2026-01-01") + i as i64);
        assert_eq!(*n, expected_dau[i], "DAU of day {i}");
    }
    // WAU rolling (d-6 ... d), active days: Dec 30 bob, Dec 31 bob, Jan 1 alice, Jan 2 bob
    // carol, Jan 4 carol, Jan 5 carol dave, Jan 6 alice, Jan 10 bob.
    // Jan 1: bob alice = 2; Jan 2-4: + carol = 3; Jan 5: + dave = 4 (bob via Dec 30);
    // Jan 6: bob via Dec 31 = 4; Jan 7, 8: bob via Jan 2 = 4; Jan 9: carol dave alice = 3;
    // Jan 10: + bob = 4.
    let wau: Vec<i64> = rows(&r, "wau_rolling")
        .iter()
        .map(|x| x[1].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(wau, vec![2, 3, 3, 3, 4, 4, 4, 4, 3, 4]);
    // MAU rolling (d-29 ... d): erin (Dec 20) stays in all 10 days; Jan 1: erin bob alice;
    // Jan 2: + carol; Jan 5: + dave.
    let mau: Vec<i64> = rows(&r, "mau_rolling")
        .iter()
        .map(|x| x[1].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(mau, vec![3, 4, 4, 4, 5, 5, 5, 5, 5, 5]);
    // ISO weeks: W01 (starts Mon Dec 29) has Jan 1-4 in the window (4 days, partial):
    // alice bob carol = 3; W02 (Mon Jan 5) has Jan 5-10 (6 days, partial): carol dave alice
    // bob = 4.
    assert_eq!(
        rows(&r, "wau_calendar"),
        vec![
            vec![json!(day("2025-12-29")), json!(4), json!(true), json!(3)],
            vec![json!(day("2026-01-05")), json!(6), json!(true), json!(4)],
        ]
    );
    let t = r.table("wau_calendar").expect("wau_calendar");
    assert_eq!(
        t.display("week_start", &json!(day("2025-12-29"))),
        "2026-W01"
    );
    // Stickiness: mean DAU = 8 / 10 = 0.8; MAU on Jan 10 = 5; 0.8 / 5 = 0.16.
    close(&one(&r, "stickiness", "mean_dau"), 0.8);
    assert_eq!(one(&r, "stickiness", "mau_last_day"), json!(5));
    close(&one(&r, "stickiness", "stickiness"), 0.16);
    // Top active users: alice 10 records on 2 days, last r26 Jan 6 15:02; bob 6 on 2 days,
    // last r29; carol 5 on 3 days (Jan 2, 4, 5), last r16; dave 4 on 1 day, last r20.
    assert_eq!(
        rows(&r, "top_active_users"),
        vec![
            vec![
                json!("alice@example.com"),
                json!(10),
                json!(2),
                json!(ms("2026-01-06T15:02:00.000"))
            ],
            vec![
                json!("bob@example.com"),
                json!(6),
                json!(2),
                json!(ms("2026-01-10T08:05:00.000"))
            ],
            vec![
                json!("carol@example.com"),
                json!(5),
                json!(3),
                json!(ms("2026-01-05T00:10:00.000"))
            ],
            vec![
                json!("dave@example.com"),
                json!(4),
                json!(1),
                json!(ms("2026-01-05T09:30:00.000"))
            ],
        ]
    );

    // Searches: r1 alice "rides", r7 r8 bob "driver payments", r14 carol "eta", r17 dave
    // "eta", r21 alice "rides" (r3 is page 2, r13 has no user): 6, every term twice, so
    // ordered by term.
    assert_eq!(
        rows(&r, "top_search_terms"),
        vec![
            vec![json!("driver payments"), json!(2), json!(1)],
            vec![json!("eta"), json!(2), json!(2)],
            vec![json!("rides"), json!(2), json!(1)],
        ]
    );
    // Zero results: totals known for r1 (12), r7 (0), r8 (5), r14 (3), r17 (3); r21 has no
    // JSON output. 1 / 5 = 0.2.
    assert_eq!(one(&r, "zero_result_rate", "searches"), json!(6));
    assert_eq!(one(&r, "zero_result_rate", "with_total"), json!(5));
    assert_eq!(one(&r, "zero_result_rate", "zero_results"), json!(1));
    close(&one(&r, "zero_result_rate", "zero_result_rate"), 0.2);
    // Search clicks: r2 pos 1, r4 pos 12, r9 pos 3, r15 pos 2, r18 pos 1, r22 pos 5, r23
    // pos 2 (r10 and r28 come from other sources, r19 has no index): 7 clicks.
    // Histogram: 1 -> 2, 2 -> 2, 3 -> 1, 5 -> 1, 11+ -> 1.
    assert_eq!(
        rows(&r, "click_histogram"),
        vec![
            vec![json!(1), json!(2)],
            vec![json!(2), json!(2)],
            vec![json!(3), json!(1)],
            vec![json!(5), json!(1)],
            vec![json!(11), json!(1)],
        ]
    );
    // Mean = (1+12+3+2+1+5+2) / 7 = 26/7; sorted 1 1 2 2 3 5 12: median 2; top-3 share 5/7.
    assert_eq!(one(&r, "click_summary", "clicks"), json!(7));
    close(&one(&r, "click_summary", "mean_position"), 26.0 / 7.0);
    close(&one(&r, "click_summary", "median_position"), 2.0);
    close(&one(&r, "click_summary", "top3_share"), 5.0 / 7.0);
    // CTR / MRR per search: r1 -> r2 (pos 1, r4 later) = 1; r7 -> none before bob's next
    // search r8 = 0; r8 -> r9 pos 3 = 1/3; r14 -> r15 1 ms later across midnight, pos 2 =
    // 1/2; r17 -> r18 is 11 min later = 0; r21 -> r22 (pos 5) and r23 (pos 2) at the same
    // time: the smaller position = 1/2. CTR = 4/6; MRR = (1 + 1/3 + 1/2 + 1/2) / 6 = 7/18.
    assert_eq!(one(&r, "search_ctr_mrr", "searches"), json!(6));
    assert_eq!(one(&r, "search_ctr_mrr", "clicked_searches"), json!(4));
    close(&one(&r, "search_ctr_mrr", "ctr"), 4.0 / 6.0);
    close(&one(&r, "search_ctr_mrr", "mrr"), 7.0 / 18.0);

    // Table views: T1 r2 r22 (alice) r28 (bob) = 3 views, 2 viewers; T3 r15 (carol) r18 r19
    // (dave) = 3, 2; T2 r4 (alice) r9 (bob) = 2, 2. r5 excluded, r20 unparsable, r0 r30
    // outside. Score = viewers x ln(views). T1 before T3 by key.
    let tables = rows(&r, "top_tables");
    let keys: Vec<&str> = tables.iter().map(|x| x[0].as_str().unwrap_or("")).collect();
    assert_eq!(keys, vec![T1, T3, T2]);
    assert_eq!(
        (tables[0][1].clone(), tables[0][2].clone()),
        (json!(3), json!(2))
    );
    close(&tables[0][3], 2.0 * 3f64.ln());
    assert_eq!(
        (tables[2][1].clone(), tables[2][2].clone()),
        (json!(2), json!(2))
    );
    close(&tables[2][3], 2.0 * 2f64.ln());
    // Dashboards: r10, 1 view by 1 viewer: score 1 x ln 1 = 0.
    assert_eq!(
        rows(&r, "top_dashboards"),
        vec![vec![json!(D1), json!(1), json!(1), json!(0.0)]]
    );

    // Edits: r11 (table_description T1, Jan 2), r16 (table_tags DELETE T1, Jan 5), r24 r25
    // (column_description T2/id, Jan 6), r26 (table_owner PUT T2, Jan 6), r29
    // (dashboard_tags PUT D1, Jan 10); r12 failed, r27 duplicate.
    assert_eq!(
        rows(&r, "edits_by_day"),
        vec![
            vec![
                json!(day("2026-01-02")),
                json!("table_description"),
                json!(1)
            ],
            vec![json!(day("2026-01-05")), json!("table_tags"), json!(1)],
            vec![
                json!(day("2026-01-06")),
                json!("column_description"),
                json!(2)
            ],
            vec![json!(day("2026-01-06")), json!("table_owner"), json!(1)],
            vec![json!(day("2026-01-10")), json!("dashboard_tags"), json!(1)],
        ]
    );
    assert_eq!(
        rows(&r, "edits_by_type_method"),
        vec![
            vec![json!("column_description"), Value::Null, json!(2)],
            vec![json!("dashboard_tags"), json!("PUT"), json!(1)],
            vec![json!("table_description"), Value::Null, json!(1)],
            vec![json!("table_owner"), json!("PUT"), json!(1)],
            vec![json!("table_tags"), json!("DELETE"), json!(1)],
        ]
    );
    // 6 edits by alice, carol, bob on T1, T2/id, T2, D1.
    assert_eq!(
        rows(&r, "edit_totals"),
        vec![vec![json!(6), json!(3), json!(4)]]
    );
    // Leaders: alice 3 edits on {T2/id, T2}, mostly column_description; carol 2 on {T1},
    // one table_description and one table_tags: the tie goes to the smaller name; bob 1.
    assert_eq!(
        rows(&r, "edit_leaders"),
        vec![
            vec![
                json!("alice@example.com"),
                json!(3),
                json!(2),
                json!("column_description")
            ],
            vec![
                json!("carol@example.com"),
                json!(2),
                json!(1),
                json!("table_description")
            ],
            vec![
                json!("bob@example.com"),
                json!(1),
                json!(1),
                json!("dashboard_tags")
            ],
        ]
    );

    // Roles: analyst has alice, bob (normalised), x1-x3 = 5, active alice bob = 2, 0.4.
    // engineer (carol, y1, erin = 3) and legal (z1 = 1) are under 5: folded into other,
    // headcount 4, active carol = 1 (erin only in the look-back), 0.25. dave has no row:
    // unknown, 1.
    assert_eq!(
        rows(&r, "users_per_role"),
        vec![
            vec![json!("analyst"), json!(5), json!(2), json!(0.4)],
            vec![json!("other"), json!(4), json!(1), json!(0.25)],
            vec![json!("unknown"), Value::Null, json!(1), Value::Null],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_day_empty_window_and_default_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    land(&wh, &dataset()).await;

    // A single day, Jan 2: DAU bob carol = 2; WAU (Dec 27 ... Jan 2) bob alice carol = 3;
    // MAU (Dec 4 ... Jan 2) erin bob alice carol = 4; stickiness 2 / 4; one partial week
    // with 1 day; searches r7, r8.
    let r = compute(&wh, &options(dir.path(), "2026-01-02", "2026-01-03"))
        .await
        .expect("kpis");
    assert_eq!(
        rows(&r, "dau"),
        vec![vec![json!(day("2026-01-02")), json!(2)]]
    );
    assert_eq!(
        rows(&r, "wau_rolling"),
        vec![vec![json!(day("2026-01-02")), json!(3)]]
    );
    assert_eq!(
        rows(&r, "mau_rolling"),
        vec![vec![json!(day("2026-01-02")), json!(4)]]
    );
    close(&one(&r, "stickiness", "stickiness"), 0.5);
    assert_eq!(
        rows(&r, "wau_calendar"),
        vec![vec![
            json!(day("2025-12-29")),
            json!(1),
            json!(true),
            json!(2)
        ]]
    );
    assert_eq!(
        rows(&r, "top_search_terms"),
        vec![vec![json!("driver payments"), json!(2), json!(1)]]
    );

    // A window with no data at all: every KPI still answers, with zeros and no rows.
    let r = compute(&wh, &options(dir.path(), "2026-03-02", "2026-03-09"))
        .await
        .expect("kpis");
    assert_eq!(r.files_scanned, 0);
    assert!(rows(&r, "dau").iter().all(|x| x[1] == json!(0)));
    assert_eq!(rows(&r, "dau").len(), 7);
    // A full ISO week (Mon Mar 2 ... Sun Mar 8) is not partial.
    assert_eq!(
        rows(&r, "wau_calendar"),
        vec![vec![
            json!(day("2026-03-02")),
            json!(7),
            json!(false),
            json!(0)
        ]]
    );
    assert_eq!(one(&r, "search_ctr_mrr", "searches"), json!(0));
    assert_eq!(one(&r, "search_ctr_mrr", "ctr"), Value::Null);
    assert!(rows(&r, "top_tables").is_empty());

    // Default window: the 28 days ending with the latest day with data (Jan 11, r30).
    let mut o = options(dir.path(), "2026-01-01", "2026-01-02");
    o.from = None;
    o.to = None;
    let r = compute(&wh, &o).await.expect("kpis");
    assert_eq!(r.window.to_day as i64, day("2026-01-12"));
    assert_eq!(r.window.from_day as i64, day("2026-01-12") - 28);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_fail_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An empty warehouse: a clear error.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let err = compute(&empty, &KpiOptions::default())
        .await
        .expect_err("empty");
    assert!(matches!(err, KpiError::EmptyWarehouse), "{err}");

    // An employee file without the needed columns: a clear error naming them.
    let wh = dir.path().join("wh");
    land(&wh, &dataset()).await;
    let bad = dir.path().join("staff.csv");
    std::fs::write(&bad, "mail,team\na@example.com,x\n").expect("write");
    let mut o = options(dir.path(), "2026-01-01", "2026-01-11");
    o.employees = Some(bad.clone());
    let err = compute(&wh, &o)
        .await
        .expect_err("bad employees")
        .to_string();
    assert!(err.contains("missing column(s) email, role"), "{err}");

    // Unparsable arguments are kept and counted at landing, never dropped.
    let w = WarehouseWriter::open(dir.path().join("wh2")).expect("open");
    let stats = w.stats();
    let mut w = w;
    w.write(&dataset()).expect("write");
    w.flush().expect("flush");
    assert_eq!(
        stats
            .malformed_rows
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        stats.rows.load(std::sync::atomic::Ordering::Relaxed),
        dataset().len() as u64
    );

    // The CLI: exit code 3 and a message for an empty warehouse, 1 for a bad employee file.
    let bin = env!("CARGO_BIN_EXE_actionlog");
    let out = Command::new(bin)
        .args(["kpi", "--warehouse"])
        .arg(&empty)
        .output()
        .expect("run actionlog");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is empty"));
    // A URL is not read (--print-sql lists the warehouse too): the message says why.
    let out = Command::new(bin)
        .args(["kpi", "--print-sql", "--warehouse", "s3a://bucket/wh"])
        .output()
        .expect("run actionlog");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no such directory") && stderr.contains("URLs such as s3:// are not read"),
        "{stderr}"
    );
    let out = Command::new(bin)
        .args(["kpi", "--warehouse"])
        .arg(&wh)
        .arg("--employees")
        .arg(&bad)
        .output()
        .expect("run actionlog");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing column(s) email, role"));
    // --print-sql cannot hash the employee table: refused, not printed in the clear.
    let key = dir.path().join("pseudonym.key");
    std::fs::write(&key, "key-9d8c7b6a5f4e3d2c1b0a").expect("write");
    let emp = dir.path().join("employees.csv");
    std::fs::write(&emp, EMPLOYEES_CSV).expect("write");
    let out = Command::new(bin)
        .args(["kpi", "--print-sql", "--warehouse"])
        .arg(&wh)
        .arg("--employees")
        .arg(&emp)
        .arg("--pseudonym-key-file")
        .arg(&key)
        .output()
        .expect("run actionlog");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--print-sql cannot pseudonymise"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    land(&wh, &dataset()).await;
    let emp = dir.path().join("employees.csv");
    std::fs::write(&emp, EMPLOYEES_CSV).expect("write");
    let bin = env!("CARGO_BIN_EXE_actionlog");
    let run = |format: &str, out: Option<&Path>| {
        let mut c = Command::new(bin);
        c.args([
            "kpi",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-11",
            "--exclude-user",
            EXCLUDED,
        ])
        .arg("--warehouse")
        .arg(&wh)
        .arg("--employees")
        .arg(&emp)
        .args(["--format", format]);
        if let Some(o) = out {
            c.arg("--out").arg(o);
        }
        let o = c.output().expect("run actionlog");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let json: Value = serde_json::from_str(&run("json", None)).expect("json output");
    assert_eq!(json["window"]["from"], "2026-01-01");
    assert_eq!(
        json["kpis"]["dau"]["rows"][0],
        json!({"day": "2026-01-01", "dau": 1})
    );
    assert_eq!(
        json["kpis"]["wau_calendar"]["rows"][1]["iso_week"],
        "2026-W02"
    );
    assert_eq!(json["kpis"]["exclusions"]["rows"][0]["malformed_kwargs"], 1);
    let csv = run("csv", None);
    assert!(csv.starts_with("kpi,row,column,value\n"));
    assert!(
        csv.contains("\ntop_tables,1,table_key,hive://gold.core/rides\n"),
        "{csv}"
    );
    let table = run("table", None);
    assert!(table.contains("== Daily active users (kpis/dau.sql) =="));
    assert!(table.contains("1 with unparsable arguments"));
    let html_path = dir.path().join("r/report.html");
    run("html", Some(&html_path));
    let html = std::fs::read_to_string(&html_path).expect("report");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.matches("<svg").count() >= 6, "charts missing");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_after_a_crash_between_file_and_commit_counts_once() {
    // A loader writes a batch, the file becomes durable, then the process dies before it
    // commits its source offsets; on restart it reads the same records again and lands
    // them a second time. The KPIs must equal those of a single delivery.
    let dir = tempfile::tempdir().expect("tempdir");
    let once = dir.path().join("once");
    land(&once, &dataset()).await;
    let twice = dir.path().join("twice");
    let data = dataset();
    {
        let committed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = committed.clone();
        let mut w = WarehouseWriter::open(&twice)
            .expect("open")
            .on_durable(move |f| c.store(f.last_batch, std::sync::atomic::Ordering::SeqCst));
        let b1 = w.write(&data[..20]).expect("write");
        assert_eq!(
            w.durable_batch(),
            0,
            "nothing durable before the files close"
        );
        w.flush().expect("flush");
        assert_eq!(w.durable_batch(), b1);
        assert_eq!(committed.load(std::sync::atomic::Ordering::SeqCst), b1);
        // ... crash here: the offsets of `b1` were never committed.
    }
    {
        // Restart: the source redelivers from the last committed offset (the start).
        let mut w = WarehouseWriter::open(&twice).expect("reopen");
        w.write(&data).expect("write");
        w.flush().expect("flush");
    }
    let count = |d: &Path| {
        list_partitions(d)
            .expect("list")
            .iter()
            .map(|p| p.files.len())
            .sum::<usize>()
    };
    assert!(
        count(&twice) > count(&once),
        "the redelivery landed new files"
    );
    let a = compute(&once, &options(dir.path(), "2026-01-01", "2026-01-11"))
        .await
        .expect("kpis");
    let b = compute(&twice, &options(dir.path(), "2026-01-01", "2026-01-11"))
        .await
        .expect("kpis");
    for (x, y) in a.tables.iter().zip(&b.tables) {
        if x.name == "exclusions" {
            // The redelivered copies are reported as duplicates, nothing else changes.
            let dups = |t: &actionlog_kpi::KpiTable| {
                t.get(0, "duplicates").and_then(Value::as_i64).unwrap_or(-1)
            };
            // The first 20 records are L1, L2, r0 (before the window) and 17 in the window.
            assert_eq!(dups(y) - dups(x), 17);
            continue;
        }
        assert_rows_close(x, y);
    }
}

/// Copies of a record share its start time, so its day: a second record with the same
/// trace/span id on one day is a copy, on another day a record of its own (a client that
/// reuses ids must not lose a day's activity to an earlier day).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_span_id_is_one_record_per_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let view = "_get_table_metadata";
    let kw = json!({"table_key": T1, "source": "home"});
    let a = rec(
        100,
        "alice@example.com",
        view,
        "2026-01-02T10:00:00.000",
        kw.clone(),
    );
    let copy = a.clone();
    let mut next_day = rec(101, "bob@example.com", view, "2026-01-03T10:00:00.000", kw);
    next_day.trace_id = a.trace_id.clone();
    next_day.span_id = a.span_id.clone();
    land(&wh, &[a, copy, next_day]).await;
    let r = compute(&wh, &options(dir.path(), "2026-01-01", "2026-01-11"))
        .await
        .expect("kpis");
    // pre-execution, duplicates, empty user, excluded, qualifying, malformed, failed.
    assert_eq!(
        rows(&r, "exclusions"),
        vec![vec![
            json!(0),
            json!(1),
            json!(0),
            json!(0),
            json!(2),
            json!(0),
            json!(0)
        ]]
    );
    let dau: Vec<i64> = rows(&r, "dau")
        .iter()
        .map(|x| x[1].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(dau, vec![0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
}

/// A record without a trace id or without a span id cannot be told from another: records
/// that are otherwise identical all count, none is a copy, whether its span id is missing,
/// its trace id is, or its span id repeats on a record that has both ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_without_a_trace_or_span_id_are_never_copies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let view = "_get_table_metadata";
    let kw = json!({"table_key": T1, "source": "home"});
    let t = "2026-01-02T10:00:00.000";
    let mut no_span = rec(200, "alice@example.com", view, t, kw.clone());
    no_span.span_id = None;
    let mut no_trace = rec(201, "bob@example.com", view, t, kw.clone());
    no_trace.trace_id = None;
    // Carol's record has both ids; its span id is also on one of Bob's id-less records.
    let carol = rec(201, "carol@example.com", view, t, kw);
    land(
        &wh,
        &[no_span.clone(), no_span, no_trace.clone(), no_trace, carol],
    )
    .await;
    let r = compute(&wh, &options(dir.path(), "2026-01-01", "2026-01-11"))
        .await
        .expect("kpis");
    // pre-execution, duplicates, empty user, excluded, qualifying, malformed, failed.
    assert_eq!(
        rows(&r, "exclusions"),
        vec![vec![
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!(5),
            json!(0),
            json!(0)
        ]]
    );
    let dau: Vec<i64> = rows(&r, "dau")
        .iter()
        .map(|x| x[1].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(dau, vec![0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
}

/// With `--views-on-disk` under a `--memory-limit` the materialised views are Parquet files
/// in the scratch directory (`post_execution`, a filter of the warehouse, is never copied),
/// with the same report; a limit too small for a run is a clear
/// error, and a bad limit a usage error.
#[test]
fn a_small_memory_limit_spills_to_the_same_report_and_a_tiny_one_fails_clearly() {
    use std::process::Command;
    let dir = tempfile::tempdir().expect("tempdir");
    let (wh, o) = super::duckdb::generated_warehouse(dir.path());
    let args = super::spark::kpi_args(&wh, &o);
    let run = |extra: &[&str]| {
        Command::new(crate::harness::bin())
            .args(&args)
            .args(["--format", "json"])
            .args(extra)
            .output()
            .expect("run actionlog kpi")
    };
    let free = run(&[]);
    assert!(
        free.status.success(),
        "{}",
        String::from_utf8_lossy(&free.stderr)
    );
    let scratch = dir.path().join("scratch");
    let scratch_arg = scratch.to_str().expect("path");
    let small = run(&[
        "--memory-limit",
        "64MiB",
        "--views-on-disk",
        "--scratch-dir",
        scratch_arg,
        "--log",
        "actionlog_kpi=debug",
    ]);
    let log = String::from_utf8_lossy(&small.stderr);
    assert!(small.status.success(), "{log}");
    let logged = |what: &str, view: &str| {
        log.lines()
            .any(|l| l.contains(what) && l.contains(&format!("view=\"{view}\"")))
    };
    for view in [
        "repeated_span_ids",
        "post_actions",
        "active_days",
        "searches",
        "search_clicks",
        "edits",
        "left_out_by_day",
    ] {
        assert!(
            logged("written as Parquet", view),
            "{view} not written as Parquet:\n{log}"
        );
    }
    // A filter of the warehouse's own files is not copied: it stays a view.
    assert!(
        !logged("materialised", "post_execution"),
        "post_execution was copied:\n{log}"
    );
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&free.stdout).expect("json"),
        serde_json::from_slice(&small.stdout).expect("json"),
    );
    super::spark::assert_same_reports(&b, &a, true);
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .expect("scratch")
        .flatten()
        .collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");

    let tiny = run(&["--memory-limit", "1MiB", "--scratch-dir", scratch_arg]);
    let err = String::from_utf8_lossy(&tiny.stderr);
    assert_eq!(tiny.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Resources exhausted") && err.contains("raise --memory-limit"),
        "{err}"
    );
    let bad = run(&["--memory-limit", "lots"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a size"));
}
