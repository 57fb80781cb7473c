//! The HTML report: one self-contained file (inline CSS and SVG, no script, no network).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{KpiReport, KpiTable};

const COLORS: [&str; 4] = ["#2563eb", "#16a34a", "#dc2626", "#9333ea"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0)
}

/// A line chart of several series sharing x labels.
fn line_chart(labels: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let (w, h, left, bottom, top) = (720.0, 240.0, 44.0, 28.0, 24.0);
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = labels.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (w - left - 10.0) * i as f64 / n;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / max);
    let mut s = format!(r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#);
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#999"/><text x="4" y="{}" font-size="10">{max:.0}</text><text x="4" y="{}" font-size="10">0</text>"##,
        h - bottom,
        w - 10.0,
        h - bottom,
        top + 4.0,
        h - bottom
    );
    let step = (labels.len() / 7).max(1);
    for (i, l) in labels.iter().enumerate().step_by(step) {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
            x(i),
            h - 10.0,
            esc(l)
        );
    }
    for (k, (name, values)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/><text x="{}" y="14" font-size="11" fill="{color}">{}</text>"#,
            points.join(" "),
            left + 90.0 * k as f64,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, one per labelled value.
fn hbar_chart(items: &[(String, f64)]) -> String {
    let (w, row, label_w) = (720.0, 18.0, 300.0);
    let h = row * items.len().max(1) as f64 + 8.0;
    let max = items
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let mut s = format!(r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#);
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let bw = (w - label_w - 60.0) * v / max;
        let shown = if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        };
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text><rect x="{label_w}" y="{y}" width="{bw:.1}" height="{}" fill="#2563eb"/><text x="{:.1}" y="{}" font-size="11">{shown}</text>"##,
            label_w - 6.0,
            y + 12.0,
            esc(label),
            row - 4.0,
            label_w + bw + 4.0,
            y + 12.0
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical bars, one per labelled value.
fn vbar_chart(items: &[(String, f64)]) -> String {
    let (w, h, bottom, top) = (720.0, 220.0, 24.0, 16.0);
    let max = items
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let slot = (w - 20.0) / items.len().max(1) as f64;
    let mut s = format!(r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#);
    for (i, (label, v)) in items.iter().enumerate() {
        let bh = (h - top - bottom) * v / max;
        let x = 10.0 + slot * i as f64;
        let _ = write!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#16a34a"/><text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{v:.0}</text>"##,
            x + slot * 0.1,
            h - bottom - bh,
            slot * 0.8,
            x + slot / 2.0,
            h - 8.0,
            esc(label),
            x + slot / 2.0,
            h - bottom - bh - 3.0
        );
    }
    s.push_str("</svg>");
    s
}

fn html_table(t: &KpiTable) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in t.display_columns() {
        let _ = write!(s, "<th>{}</th>", esc(&h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in &t.rows {
        s.push_str("<tr>");
        for (c, v) in t.columns.iter().zip(r) {
            let _ = write!(s, "<td>{}</td>", esc(&t.display(c, v)));
        }
        s.push_str("</tr>");
    }
    if t.rows.is_empty() {
        let _ = write!(
            s,
            r#"<tr><td colspan="{}">no rows</td></tr>"#,
            t.columns.len()
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn labelled(t: Option<&KpiTable>, label: &str, value: &str, limit: usize) -> Vec<(String, f64)> {
    let Some(t) = t else { return Vec::new() };
    (0..t.rows.len().min(limit))
        .map(|i| {
            let l = t
                .get(i, label)
                .map(|v| t.display(label, v))
                .unwrap_or_default();
            (l, num(t.get(i, value)))
        })
        .collect()
}

/// Renders the report as one self-contained HTML page.
pub fn render_html(report: &KpiReport) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>actionlog KPIs</h1><p>Window {} &middot; warehouse <code>{}</code> &middot; {} file(s)</p><pre class=\"summary\">{}</pre>",
        esc(&report.window_label()),
        esc(&report.warehouse.display().to_string()),
        report.files_scanned,
        esc(&report.summary_lines().join("\n"))
    );

    if let (Some(dau), Some(wau), Some(mau)) = (
        report.table("dau"),
        report.table("wau_rolling"),
        report.table("mau_rolling"),
    ) {
        let labels: Vec<String> = (0..dau.rows.len())
            .map(|i| {
                dau.get(i, "day")
                    .map(|v| dau.display("day", v))
                    .unwrap_or_default()
            })
            .collect();
        let col = |t: &KpiTable, c: &str| (0..t.rows.len()).map(|i| num(t.get(i, c))).collect();
        let _ = write!(
            body,
            "<h2>Active users over time</h2>{}",
            line_chart(
                &labels,
                &[
                    ("DAU", col(dau, "dau")),
                    ("WAU", col(wau, "wau")),
                    ("MAU", col(mau, "mau"))
                ]
            )
        );
    }
    let _ = write!(
        body,
        "<h2>Top tables (views)</h2>{}",
        hbar_chart(&labelled(
            report.table("top_tables"),
            "table_key",
            "views",
            15
        ))
    );
    let _ = write!(
        body,
        "<h2>Top search terms</h2>{}",
        hbar_chart(&labelled(
            report.table("top_search_terms"),
            "term",
            "searches",
            15
        ))
    );
    if let Some(h) = report.table("click_histogram") {
        let mut buckets: BTreeMap<i64, f64> = (1..=11).map(|b| (b, 0.0)).collect();
        for i in 0..h.rows.len() {
            if let Some(b) = h.get(i, "bucket").and_then(Value::as_i64) {
                buckets.insert(b, num(h.get(i, "clicks")));
            }
        }
        let items: Vec<(String, f64)> = buckets
            .into_iter()
            .map(|(b, v)| {
                (
                    if b >= 11 {
                        "11+".to_owned()
                    } else {
                        b.to_string()
                    },
                    v,
                )
            })
            .collect();
        let _ = write!(
            body,
            "<h2>Search click positions</h2>{}",
            vbar_chart(&items)
        );
    }
    if let (Some(e), Some(dau)) = (report.table("edits_by_day"), report.table("dau")) {
        let mut per_day: BTreeMap<String, f64> = (0..dau.rows.len())
            .filter_map(|i| dau.get(i, "day").map(|v| (dau.display("day", v), 0.0)))
            .collect();
        for i in 0..e.rows.len() {
            if let Some(d) = e.get(i, "day").map(|v| e.display("day", v)) {
                *per_day.entry(d).or_default() += num(e.get(i, "edits"));
            }
        }
        let labels: Vec<String> = per_day.keys().cloned().collect();
        let values: Vec<f64> = per_day.values().copied().collect();
        let _ = write!(
            body,
            "<h2>Metadata edits over time</h2>{}",
            line_chart(&labels, &[("edits", values)])
        );
    }
    if let Some(r) = report.table("users_per_role") {
        let _ = write!(
            body,
            "<h2>Active users per role</h2>{}",
            hbar_chart(&labelled(Some(r), "role", "active_users", 30))
        );
    }
    body.push_str("<h2>All KPIs</h2>");
    for t in &report.tables {
        let _ = write!(
            body,
            "<h3>{} <small><code>{}</code></small></h3>{}",
            esc(&t.title),
            esc(&t.sql_path),
            html_table(t)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>actionlog KPIs</title><style>\
body{{font-family:system-ui,sans-serif;margin:2em;color:#111;max-width:1100px}}\
table{{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}}\
th,td{{border:1px solid #ddd;padding:3px 8px;text-align:left}}th{{background:#f3f4f6}}\
pre.summary{{background:#f9fafb;padding:1em;white-space:pre-wrap}}svg{{display:block;margin:.5em 0}}\
</style></head><body>{body}</body></html>\n"
    )
}
