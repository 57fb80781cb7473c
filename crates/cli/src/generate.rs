//! A generator of realistic, deterministic Amundsen traffic.
//!
//! The same seed and settings always give the same actions. Users differ in how often
//! they come (a few power users, a long tail of occasional ones) and in what they do (their
//! role); weekends are quiet; tables, dashboards and search terms are drawn from Zipf laws,
//! so a few are very popular and most are rarely touched. Searches have result pages and
//! totals (some return nothing), clicks come from search results at geometric positions or
//! from other places (popular resources, bookmarks, browsing), and editors change
//! descriptions, owners and tags, sometimes failing. A service account polls table
//! metadata, and a legacy host also logs Amundsen's pre-execution records.
//!
//! Each day is planned from its own seed, so days can be produced one at a time (streaming
//! tens of millions of actions without holding them) and in any order.

use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use serde_json::{Value, json};

use actionlog::proto::{LongString, UserAction};
use actionlog_warehouse::{MS_PER_DAY, date_to_day};

/// The service account the generator includes (exclude it in the KPIs).
pub const SERVICE_ACCOUNT: &str = "svc-metadata-sync";

/// Settings of a generated history.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// Number of people.
    pub users: usize,
    /// Number of days, ending the day before `end`.
    pub days: u32,
    /// The day after the last generated day (UTC).
    pub end: NaiveDate,
    /// Seed of every random choice.
    pub seed: u64,
    /// Tables in the catalog.
    pub tables: usize,
    /// Dashboards in the catalog.
    pub dashboards: usize,
    /// Mean actions of a person on a day they are active.
    pub actions_per_active_day: f64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            users: 200,
            days: 28,
            end: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default(),
            seed: 42,
            tables: 2_000,
            dashboards: 300,
            actions_per_active_day: 14.0,
        }
    }
}

/// SplitMix64: small, fast and good enough for traffic shapes; no dependency needed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.f() * n as f64) as usize % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    /// Geometric number of failures before a success of probability `p` (0, 1, 2, ...).
    fn geometric(&mut self, p: f64) -> u64 {
        let mut n = 0;
        while !self.chance(p) && n < 1_000 {
            n += 1;
        }
        n
    }
    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(digits);
        s
    }
}

/// Draws ranks 0..n with probability proportional to 1 / (rank + 1)^s.
#[derive(Debug, Clone)]
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let cumulative = (0..n.max(1))
            .map(|i| {
                acc += 1.0 / ((i + 1) as f64).powf(s);
                acc
            })
            .collect();
        Self { cumulative }
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.f() * total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(self.cumulative.len() - 1)
    }
}

const FIRST: [&str; 24] = [
    "ada",
    "alan",
    "grace",
    "edsger",
    "barbara",
    "donald",
    "frances",
    "john",
    "margaret",
    "ken",
    "radia",
    "tim",
    "katherine",
    "linus",
    "hedy",
    "dennis",
    "sophie",
    "guido",
    "shafi",
    "leslie",
    "karen",
    "niklaus",
    "annie",
    "yukihiro",
];
const LAST: [&str; 20] = [
    "lovelace",
    "turing",
    "hopper",
    "dijkstra",
    "liskov",
    "knuth",
    "allen",
    "backus",
    "hamilton",
    "thompson",
    "perlman",
    "lee",
    "johnson",
    "torvalds",
    "lamarr",
    "ritchie",
    "wilson",
    "rossum",
    "goldwasser",
    "lamport",
];
const SCHEMAS: [&str; 8] = [
    "core",
    "finance",
    "marketing",
    "ops",
    "growth",
    "risk",
    "ml",
    "support",
];
const NOUNS: [&str; 32] = [
    "rides",
    "drivers",
    "payments",
    "trips",
    "riders",
    "surge",
    "eta",
    "pricing",
    "fares",
    "promotions",
    "cities",
    "vehicles",
    "ratings",
    "tips",
    "refunds",
    "incidents",
    "sessions",
    "events",
    "orders",
    "invoices",
    "accounts",
    "campaigns",
    "experiments",
    "features",
    "labels",
    "scores",
    "tickets",
    "shifts",
    "routes",
    "zones",
    "airports",
    "coupons",
];
const SUFFIXES: [&str; 8] = [
    "",
    "_daily",
    "_hourly",
    "_v2",
    "_agg",
    "_raw",
    "_snapshot",
    "_history",
];
const TAGS: [&str; 8] = [
    "pii",
    "gold",
    "deprecated",
    "finance",
    "certified",
    "sla",
    "raw",
    "experimental",
];
const ROLES: [(&str, f64); 7] = [
    ("analyst", 0.30),
    ("data_scientist", 0.25),
    ("data_engineer", 0.20),
    ("software_engineer", 0.14),
    ("product_manager", 0.08),
    ("executive", 0.02),
    ("legal", 0.01),
];

/// One generated person.
#[derive(Debug, Clone)]
pub struct Person {
    /// E-mail as the employee table knows it.
    pub email: String,
    /// Role in the employee table.
    pub role: &'static str,
    /// Probability of being active on a weekday.
    weekday_p: f64,
    /// Multiplier of the mean actions per active day.
    intensity: f64,
    /// Probability that an action is an edit.
    edit_p: f64,
    /// Whether the catalog logs them with a differently cased, padded e-mail.
    odd_case: bool,
    /// Whether the employee table lacks them (contractors).
    pub in_employee_table: bool,
}

/// The deterministic traffic generator.
#[derive(Debug, Clone)]
pub struct Generator {
    cfg: GenerateConfig,
    people: Vec<Person>,
    tables: Vec<String>,
    dashboards: Vec<String>,
    terms: Vec<String>,
    table_pop: Zipf,
    dashboard_pop: Zipf,
    term_pop: Zipf,
}

impl Generator {
    /// Builds the people and the catalog of `cfg`.
    pub fn new(cfg: GenerateConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let people = (0..cfg.users)
            .map(|i| {
                let f = FIRST[i % FIRST.len()];
                let l = LAST[(i / FIRST.len()) % LAST.len()];
                let n = i / (FIRST.len() * LAST.len());
                let email = if n == 0 {
                    format!("{f}.{l}@example.com")
                } else {
                    format!("{f}.{l}{n}@example.com")
                };
                let mut x = rng.f();
                let mut role = ROLES[0].0;
                for (r, p) in ROLES {
                    if x < p {
                        role = r;
                        break;
                    }
                    x -= p;
                }
                let u = rng.f();
                Person {
                    email,
                    role,
                    // A long tail: most people come now and then, a few every day.
                    weekday_p: 0.08 + 0.87 * u * u,
                    intensity: 0.4 + 1.6 * rng.f(),
                    edit_p: match role {
                        "data_engineer" => 0.10,
                        "data_scientist" | "analyst" => 0.03,
                        _ => 0.01,
                    },
                    odd_case: rng.chance(0.05),
                    in_employee_table: !rng.chance(0.04),
                }
            })
            .collect();
        let tables = (0..cfg.tables.max(1))
            .map(|i| {
                let schema = SCHEMAS[i % SCHEMAS.len()];
                let noun = NOUNS[(i / SCHEMAS.len()) % NOUNS.len()];
                let suffix = SUFFIXES[(i / (SCHEMAS.len() * NOUNS.len())) % SUFFIXES.len()];
                let n = i / (SCHEMAS.len() * NOUNS.len() * SUFFIXES.len());
                let db = if i % 5 == 0 { "hive" } else { "snowflake" };
                let cluster = if i % 3 == 0 { "silver" } else { "gold" };
                if n == 0 {
                    format!("{db}://{cluster}.{schema}/{noun}{suffix}")
                } else {
                    format!("{db}://{cluster}.{schema}/{noun}{suffix}_{n}")
                }
            })
            .collect();
        let dashboards = (0..cfg.dashboards.max(1))
            .map(|i| {
                let noun = NOUNS[i % NOUNS.len()];
                format!(
                    "mode_dashboard://gold.{}/{noun}_overview_{i}",
                    SCHEMAS[i % SCHEMAS.len()]
                )
            })
            .collect();
        let terms = (0..NOUNS.len() * 12)
            .map(|i| {
                let a = NOUNS[i % NOUNS.len()];
                match i / NOUNS.len() {
                    0 => a.to_owned(),
                    k => format!("{a} {}", NOUNS[(i + k * 7) % NOUNS.len()]),
                }
            })
            .collect();
        Self {
            table_pop: Zipf::new(cfg.tables, 1.1),
            dashboard_pop: Zipf::new(cfg.dashboards, 1.0),
            term_pop: Zipf::new(NOUNS.len() * 12, 1.05),
            cfg,
            people,
            tables,
            dashboards,
            terms,
        }
    }

    /// The people (for an employee table).
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// The generated days, as epoch days, oldest first.
    pub fn days(&self) -> std::ops::Range<i32> {
        let end = date_to_day(self.cfg.end);
        end - self.cfg.days as i32..end
    }

    /// The employee table as CSV (`email,role`): everyone but the contractors, plus people
    /// who never use the catalog.
    pub fn employees_csv(&self) -> String {
        let mut s = String::from("email,role\n");
        for p in self.people.iter().filter(|p| p.in_employee_table) {
            s.push_str(&format!("{},{}\n", p.email, p.role));
        }
        for i in 0..self.people.len() / 4 + 1 {
            let role = ROLES[i % ROLES.len()].0;
            s.push_str(&format!("non.user{i}@example.com,{role}\n"));
        }
        s
    }

    /// Every action of epoch day `day`, sorted by start time.
    pub fn day(&self, day: i32) -> Vec<UserAction> {
        let mut rng = Rng::new(self.cfg.seed ^ (day as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        let weekday = (day + 3).rem_euclid(7); // 0 = Monday
        let weekend = weekday >= 5;
        let day_ms = i64::from(day) * MS_PER_DAY;
        let mut out = Vec::new();
        for p in &self.people {
            let active_p = if weekend {
                p.weekday_p * 0.15
            } else {
                p.weekday_p
            };
            if !rng.chance(active_p) {
                continue;
            }
            let user = if p.odd_case {
                format!(" {} ", p.email.to_uppercase())
            } else {
                p.email.clone()
            };
            let mean = self.cfg.actions_per_active_day * p.intensity;
            let budget = 1 + (rng.geometric(1.0 / mean.max(1.0)) as usize);
            // Working hours in UTC, with spread: sessions start 06:00-20:00.
            let mut t = day_ms + 6 * 3_600_000 + (rng.f() * 14.0 * 3_600_000.0) as i64;
            let mut produced = 0;
            while produced < budget {
                produced += self.step(&mut rng, p, &user, &mut t, &mut out);
                if rng.chance(0.15) {
                    t += 3_600_000 + (rng.f() * 3.0 * 3_600_000.0) as i64;
                }
            }
        }
        // The service account polls metadata hourly, weekends included.
        for k in 0..24 {
            let t = day_ms + k * 3_600_000 + rng.below(60_000) as i64;
            let table = &self.tables[self.table_pop.sample(&mut rng)];
            out.push(self.action(
                &mut rng,
                SERVICE_ACCOUNT,
                "_get_table_metadata",
                t,
                json!({"table_key": table, "index": null, "source": "api"}),
                Some(json!({"table_key": table})),
                None,
            ));
        }
        // Actions spill past midnight only by seconds; keep each day's actions on its day.
        out.retain(|a| a.start_epoch_ms.is_some_and(|s| s < day_ms + MS_PER_DAY));
        out.sort_by_key(|a| a.start_epoch_ms);
        // A legacy host also logs pre-execution records (no end, no output), as Amundsen's
        // callbacks see them: they must never count.
        let mut with_pre = Vec::with_capacity(out.len() + out.len() / 8);
        for a in out {
            if a.host_name.as_deref() == Some("amundsen-frontend-legacy") {
                with_pre.push(UserAction {
                    end_epoch_ms: None,
                    output: None,
                    error: None,
                    ..a.clone()
                });
            }
            with_pre.push(a);
        }
        with_pre
    }

    /// One user step (a search with its clicks, a view, an edit, ...); returns actions made.
    fn step(
        &self,
        rng: &mut Rng,
        p: &Person,
        user: &str,
        t: &mut i64,
        out: &mut Vec<UserAction>,
    ) -> usize {
        *t += 5_000 + (rng.geometric(0.02) as i64) * 1_500;
        let before = out.len();
        let x = rng.f();
        if rng.chance(p.edit_p) {
            self.edit(rng, user, *t, out);
        } else if x < 0.42 {
            self.search(rng, user, t, out);
        } else if x < 0.72 {
            let (source, index) = match rng.below(4) {
                0 => ("popular_resources", json!(rng.below(10))),
                1 => ("bookmarks", json!(rng.below(5))),
                2 => ("browse", json!(rng.below(50))),
                _ => ("home", Value::Null),
            };
            self.view_table(rng, user, *t, source, index, out);
        } else if x < 0.82 {
            let uri = &self.dashboards[self.dashboard_pop.sample(rng)];
            let index = rng.below(10);
            out.push(self.action(
                rng,
                user,
                "_get_dashboard_metadata",
                *t,
                json!({"uri": uri, "index": index, "source": "popular_resources"}),
                Some(json!({"uri": uri})),
                None,
            ));
        } else if x < 0.88 {
            let table = &self.tables[self.table_pop.sample(rng)];
            out.push(self.action(
                rng,
                user,
                "_get_related_dashboards_metadata",
                *t,
                json!({"url": format!("/api/metadata/v0/table/{table}/dashboards")}),
                Some(json!({"dashboards": []})),
                None,
            ));
        } else if x < 0.93 {
            let table = &self.tables[self.table_pop.sample(rng)];
            let method = if rng.chance(0.8) { "PUT" } else { "DELETE" };
            out.push(self.action(
                rng,
                user,
                "_log_update_bookmark",
                *t,
                json!({"resource_key": table, "resource_type": "table", "method": method}),
                Some(json!({"msg": "success"})),
                None,
            ));
        } else if x < 0.98 {
            let other = &self.people[rng.below(self.people.len())].email;
            out.push(self.action(
                rng,
                user,
                "_log_get_user",
                *t,
                json!({"user_id": other, "index": null, "source": "owner"}),
                Some(json!({"user": other})),
                None,
            ));
        } else {
            let rating = 1 + rng.below(10);
            out.push(self.action(
                rng,
                user,
                "_feedback",
                *t,
                json!({"rating": rating, "comment": "", "subject": "search"}),
                None,
                None,
            ));
        }
        out.len() - before
    }

    fn search(&self, rng: &mut Rng, user: &str, t: &mut i64, out: &mut Vec<UserAction>) {
        let rank = self.term_pop.sample(rng);
        let mut term = self.terms[rank].clone();
        if rng.chance(0.1) {
            term = format!("  {} ", term.to_uppercase());
        }
        // Rare terms often find nothing.
        let total: u64 = if (rank > self.terms.len() / 2 && rng.chance(0.4)) || rng.chance(0.03) {
            0
        } else {
            1 + rng.geometric(0.02)
        };
        let s0 = *t;
        out.push(self.action(rng, user, "_search_resources", s0,
            json!({"search_term": term, "resources": ["table", "dashboard", "user"], "page_index": 0,
                   "results_per_page": 10, "filters": {}, "search_type": "default"}),
            Some(json!({"total_results": total, "search_term": term})), None));
        if total == 0 {
            return;
        }
        let mut offset = 0;
        if total > 10 && rng.chance(0.12) {
            *t += 8_000 + rng.below(20_000) as i64;
            offset = 10;
            out.push(self.action(
                rng,
                user,
                "_search_resources",
                *t,
                json!({"search_term": term, "resources": ["table"], "page_index": 1,
                       "results_per_page": 10, "filters": {}, "search_type": "default"}),
                Some(json!({"total_results": total, "search_term": term})),
                None,
            ));
        }
        let clicks = if rng.chance(0.62) {
            1 + usize::from(rng.chance(0.25))
        } else {
            0
        };
        for _ in 0..clicks {
            let late = rng.chance(0.03);
            *t += if late {
                11 * 60_000
            } else {
                3_000 + rng.below(90_000) as i64
            };
            let pos = (offset + rng.geometric(0.45) as usize).min(total as usize - 1);
            let k = rng.f();
            if k < 0.8 {
                self.view_table(rng, user, *t, "search_results", json!(pos), out);
            } else if k < 0.92 {
                let uri = &self.dashboards[self.dashboard_pop.sample(rng)];
                out.push(self.action(
                    rng,
                    user,
                    "_get_dashboard_metadata",
                    *t,
                    json!({"uri": uri, "index": pos, "source": "search_results"}),
                    Some(json!({"uri": uri})),
                    None,
                ));
            } else if k < 0.95 {
                out.push(self.action(rng, user, "_get_feature_metadata", *t,
                    json!({"feature_key": format!("ml.{term}/v1"), "index": pos.to_string(), "source": "search_results"}),
                    Some(json!({})), None));
            } else {
                let other = &self.people[rng.below(self.people.len())].email;
                out.push(self.action(
                    rng,
                    user,
                    "_log_get_user",
                    *t,
                    json!({"user_id": other, "index": pos, "source": "search_results"}),
                    Some(json!({"user": other})),
                    None,
                ));
            }
        }
    }

    fn view_table(
        &self,
        rng: &mut Rng,
        user: &str,
        t: i64,
        source: &str,
        index: Value,
        out: &mut Vec<UserAction>,
    ) {
        let table = &self.tables[self.table_pop.sample(rng)];
        let error = rng
            .chance(0.015)
            .then(|| format!("NotFound: table {table} not found"));
        out.push(
            self.action(
                rng,
                user,
                "_get_table_metadata",
                t,
                json!({"table_key": table, "index": index, "source": source}),
                error
                    .is_none()
                    .then(|| json!({"table_key": table, "columns": 12})),
                error,
            ),
        );
    }

    fn edit(&self, rng: &mut Rng, user: &str, t: i64, out: &mut Vec<UserAction>) {
        let table = &self.tables[self.table_pop.sample(rng)];
        let error = rng
            .chance(0.04)
            .then(|| "PermissionDenied: not an owner of this resource".to_owned());
        let method = if rng.chance(0.75) { "PUT" } else { "DELETE" };
        let tag = TAGS[rng.below(TAGS.len())];
        let (command, kwargs) = match rng.below(10) {
            0..=2 => (
                "_log_put_table_description",
                json!({"table_key": table, "description": "Curated.", "source": "user"}),
            ),
            3..=4 => (
                "_log_put_column_description",
                json!({"table_key": table, "column_name": NOUNS[rng.below(NOUNS.len())], "description": "Id.", "source": "user"}),
            ),
            5 => (
                "_log_put_type_metadata_description",
                json!({"type_metadata_key": format!("{table}/type/payload"), "description": "Nested.", "source": "user"}),
            ),
            6 => (
                "_log_update_table_owner",
                json!({"table_key": table, "method": method, "owner": user.trim().to_lowercase()}),
            ),
            7..=8 => (
                "_log_update_table_tags",
                json!({"table_key": table, "method": method, "tag": tag}),
            ),
            _ => (
                "_log_update_dashboard_tags",
                json!({"uri_key": self.dashboards[self.dashboard_pop.sample(rng)], "method": method, "tag": tag}),
            ),
        };
        out.push(self.action(
            rng,
            user,
            command,
            t,
            kwargs,
            error.is_none().then(|| json!({"msg": "success"})),
            error,
        ));
    }

    #[allow(clippy::too_many_arguments)]
    fn action(
        &self,
        rng: &mut Rng,
        user: &str,
        command: &str,
        t: i64,
        kwargs: Value,
        output: Option<Value>,
        error: Option<String>,
    ) -> UserAction {
        let latency = 20 + rng.geometric(0.05) as i64 * 10;
        let host = match rng.below(10) {
            0 => "amundsen-frontend-legacy".to_owned(),
            k => format!("amundsen-frontend-{}", k % 3),
        };
        UserAction {
            host_name: Some(host),
            start_epoch_ms: Some(t),
            end_epoch_ms: Some(t + latency),
            pos_args_json: Some(LongString::new("[]")),
            keyword_args_json: Some(LongString::new(kwargs.to_string())),
            output: output.map(|o| LongString::new(o.to_string())),
            error: error.map(LongString::new),
            user: Some(user.to_owned()),
            command: Some(command.to_owned()),
            trace_id: Some(rng.hex(32)),
            span_id: Some(rng.hex(16)),
        }
    }
}

/// Replays actions through the real path: each becomes an action-log span started and
/// ended at its recorded times (a simulated clock), as `user`, with its arguments, output
/// and error; the tracer provider's exporter does the rest. Pre-execution records are
/// skipped: the real path makes its own (for hooks), never for sinks.
pub fn replay(actions: &[UserAction]) {
    for a in actions {
        let (Some(start), Some(end)) = (a.start_epoch_ms, a.end_epoch_ms) else {
            continue;
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(start.max(0) as u64);
        let latency = Duration::from_millis((end - start).max(0) as u64);
        actionlog::action::with_simulated_time(at, latency, || {
            let mut log = actionlog::ActionLog::new(a.command.clone().unwrap_or_default());
            if let Some(u) = &a.user {
                log = log.user(u.clone());
            }
            if let Some(k) = &a.keyword_args_json {
                log = log.keyword_args_json(k.value.clone());
            }
            let mut span = log.start();
            if let Some(o) = &a.output {
                span.output_json(o.value.clone());
            }
            if let Some(e) = &a.error {
                let (ty, msg) = e
                    .value
                    .split_once(": ")
                    .unwrap_or(("Error", e.value.as_str()));
                span.error(ty, msg);
            }
            span.finish();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let cfg = GenerateConfig {
            users: 50,
            days: 7,
            ..Default::default()
        };
        let g = Generator::new(cfg.clone());
        let days: Vec<i32> = g.days().collect();
        assert_eq!(days.len(), 7);
        let a = g.day(days[0]);
        let b = Generator::new(cfg).day(days[0]);
        assert_eq!(a, b);
        assert!(
            a.windows(2)
                .all(|w| w[0].start_epoch_ms <= w[1].start_epoch_ms)
        );
        let commands: std::collections::BTreeSet<_> =
            a.iter().filter_map(|x| x.command.as_deref()).collect();
        for c in [
            "_search_resources",
            "_get_table_metadata",
            "_get_dashboard_metadata",
        ] {
            assert!(commands.contains(c), "{c} missing: {commands:?}");
        }
        assert!(
            a.iter().any(|x| x.end_epoch_ms.is_none()),
            "no pre-execution records"
        );
        let day_ms = i64::from(days[0]) * MS_PER_DAY;
        assert!(a.iter().all(|x| {
            x.start_epoch_ms
                .is_some_and(|s| s >= day_ms && s < day_ms + MS_PER_DAY)
        }));
    }
}
