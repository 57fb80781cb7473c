//! `#[action_log]` through the real SDK pipeline: batch processor → exporter → file →
//! decoded.

use std::sync::{Arc, Mutex};

use actionlog::action_log;
use actionlog::hooks::{self, Phase};
use actionlog::proto::UserAction;
use serde::Serialize;

use crate::support::{Pipeline, kwargs, now_ms, only, output};

#[derive(Debug, thiserror::Error)]
#[error("table {0} does not exist")]
struct NoSuchTable(String);

#[derive(Serialize)]
struct Filters {
    schema: Vec<String>,
}

#[action_log(user = "ada@example.com")]
fn _search_resources(search_term: &str, page_index: u32, filters: &Filters) -> serde_json::Value {
    serde_json::json!({ "total_results": 3, "first": format!("{search_term}-{page_index}-{}", filters.schema.len()) })
}

#[action_log(command = "_get_table_metadata")]
fn view_table(table_key: &str, index: i64, source: &str) -> Result<Vec<String>, NoSuchTable> {
    let _ = (index, source);
    if table_key.contains("missing") {
        Err(NoSuchTable(table_key.to_owned()))
    } else {
        Ok(vec!["col_a".into(), "col_b".into()])
    }
}

#[action_log(skip(secret), skip_output)]
fn _log_put_table_description(table_key: &str, description: &str, secret: &str) -> String {
    format!("{table_key}{description}{secret}")
}

#[action_log]
fn explode(reason: &str) -> u32 {
    panic!("exploded: {reason}")
}

#[action_log]
async fn _get_dashboard_metadata(uri: String, index: i64) -> Result<u64, std::io::Error> {
    tokio::task::yield_now().await;
    if index < 0 {
        return Err(std::io::Error::other("negative index"));
    }
    Ok(uri.len() as u64)
}

#[action_log]
async fn async_explode() {
    tokio::task::yield_now().await;
    panic!("async boom");
}

#[action_log]
fn _log_get_user(user_id: &str) {
    let _ = user_id;
}

#[test]
fn sync_call_round_trips_every_field() {
    let p = Pipeline::start();
    let before = now_ms();
    let out = _search_resources(
        "rides",
        0,
        &Filters {
            schema: vec!["core".into()],
        },
    );
    let after = now_ms();
    assert_eq!(
        out["total_results"], 3,
        "the function's own result is untouched"
    );
    let actions = p.finish();

    let a = only(&actions, "_search_resources");
    assert_eq!(a.user.as_deref(), Some("ada@example.com"));
    assert_eq!(a.host_name.as_deref(), actionlog::user::host_name());
    assert_eq!(
        kwargs(a),
        serde_json::json!({"search_term": "rides", "page_index": 0, "filters": {"schema": ["core"]}})
    );
    assert_eq!(a.pos_args_json.as_ref().unwrap().value, "[]");
    assert_eq!(
        output(a),
        serde_json::json!({"total_results": 3, "first": "rides-0-1"})
    );
    assert!(a.error.is_none());
    let (start, end) = (a.start_epoch_ms.unwrap(), a.end_epoch_ms.unwrap());
    assert!(
        before <= start && start <= end && end <= after,
        "{before} {start} {end} {after}"
    );
    let trace = a.trace_id.as_deref().unwrap();
    let span = a.span_id.as_deref().unwrap();
    assert_eq!(trace.len(), 32);
    assert_eq!(span.len(), 16);
    assert!(
        trace
            .chars()
            .chain(span.chars())
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn result_ok_is_output_and_err_is_error() {
    let p = Pipeline::start();
    assert!(view_table("hive://gold.core/rides", 2, "search_results").is_ok());
    assert!(view_table("hive://gold.core/missing", 0, "bookmarks").is_err());
    let actions = p.finish();
    assert_eq!(actions.len(), 2);
    let ok = &actions[0];
    assert_eq!(ok.command.as_deref(), Some("_get_table_metadata"));
    assert_eq!(output(ok), serde_json::json!(["col_a", "col_b"]));
    assert!(ok.error.is_none());
    let err = &actions[1];
    assert_eq!(kwargs(err)["source"], "bookmarks");
    assert!(err.output.is_none());
    let text = &err.error.as_ref().unwrap().value;
    assert!(
        text.ends_with("NoSuchTable: table hive://gold.core/missing does not exist"),
        "{text}"
    );
}

#[test]
fn skipped_arguments_and_output_are_not_recorded() {
    let p = Pipeline::start();
    let _ = _log_put_table_description("hive://a/b", "new text", "hunter2");
    let actions = p.finish();
    let a = only(&actions, "_log_put_table_description");
    assert_eq!(
        kwargs(a),
        serde_json::json!({"table_key": "hive://a/b", "description": "new text"})
    );
    assert!(a.output.is_none());
    assert!(!format!("{a:?}").contains("hunter2"));
}

#[test]
fn a_panic_is_recorded_then_resumed() {
    let p = Pipeline::start();
    let caught = std::panic::catch_unwind(|| explode("on purpose"));
    let payload = caught.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("exploded: on purpose")
    );
    let actions = p.finish();
    let a = only(&actions, "explode");
    assert_eq!(
        a.error.as_ref().unwrap().value,
        "panic: exploded: on purpose"
    );
    assert!(a.end_epoch_ms.is_some());
}

#[test]
fn async_functions_are_logged_including_errors_and_panics() {
    let p = Pipeline::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(
            _get_dashboard_metadata("mode://team/dash".into(), 1)
                .await
                .unwrap(),
            16
        );
        assert!(
            _get_dashboard_metadata("mode://team/dash".into(), -1)
                .await
                .is_err()
        );
        let spawned = tokio::spawn(async_explode()).await;
        assert!(spawned.unwrap_err().is_panic());
    });
    drop(rt);
    let actions = p.finish();
    let dash: Vec<_> = actions
        .iter()
        .filter(|a| a.command.as_deref() == Some("_get_dashboard_metadata"))
        .collect();
    assert_eq!(dash.len(), 2);
    let ok = dash.iter().find(|a| a.error.is_none()).unwrap();
    assert_eq!(output(ok), serde_json::json!(16));
    assert_eq!(
        kwargs(ok),
        serde_json::json!({"uri": "mode://team/dash", "index": 1})
    );
    let err = dash.iter().find(|a| a.error.is_some()).unwrap();
    assert_eq!(
        err.error.as_ref().unwrap().value,
        "std::io::error::Error: negative index"
    );
    let boom = only(&actions, "async_explode");
    assert_eq!(boom.error.as_ref().unwrap().value, "panic: async boom");
}

#[test]
fn user_comes_from_scope_then_resolver_then_os() {
    let p = Pipeline::start();
    _log_get_user("a"); // OS user
    actionlog::user::set_user_resolver(|| Some("resolved@example.com".into()));
    _log_get_user("b"); // resolver
    actionlog::user::with_user("scoped@example.com", || _log_get_user("c"));
    futures::executor::block_on(actionlog::user::scope_user("task@example.com", async {
        _log_get_user("d");
    }));
    let actions = p.finish();
    let user_of = |id: &str| {
        actions
            .iter()
            .find(|a| kwargs(a)["user_id"] == id)
            .and_then(|a| a.user.clone())
    };
    assert_eq!(user_of("a").as_deref(), actionlog::user::os_user());
    assert_eq!(user_of("b").as_deref(), Some("resolved@example.com"));
    assert_eq!(user_of("c").as_deref(), Some("scoped@example.com"));
    assert_eq!(user_of("d").as_deref(), Some("task@example.com"));
}

#[test]
fn callbacks_see_pre_and_post_records_and_failures_never_break_the_call() {
    let p = Pipeline::start();
    let seen: Arc<Mutex<Vec<(Phase, actionlog::UserAction)>>> = Arc::default();
    let (s1, s2) = (seen.clone(), seen.clone());
    hooks::register(Phase::PreExecution, "failing", |_| {
        Err("plugin is down".into())
    });
    hooks::register(Phase::PreExecution, "recorder", move |r| {
        s1.lock().unwrap().push((Phase::PreExecution, r.clone()));
        Ok(())
    });
    hooks::register(Phase::PostExecution, "panicking", |_| panic!("plugin bug"));
    hooks::register(Phase::PostExecution, "recorder", move |r| {
        s2.lock().unwrap().push((Phase::PostExecution, r.clone()));
        Ok(())
    });
    let result = view_table("hive://gold.core/rides", 0, "popular_resources");
    assert!(result.is_ok(), "a failing callback must not break the call");
    let actions = p.finish();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let (pre_phase, pre) = &seen[0];
    let (post_phase, post) = &seen[1];
    assert_eq!(
        (*pre_phase, *post_phase),
        (Phase::PreExecution, Phase::PostExecution)
    );
    assert_eq!(pre.command.as_deref(), Some("_get_table_metadata"));
    assert!(pre.end_epoch_ms.is_none() && pre.output.is_none() && pre.error.is_none());
    assert!(post.end_epoch_ms.is_some() && post.output.is_some());
    // The record callbacks see is the record the exporter produced.
    let exported = only(&actions, "_get_table_metadata");
    assert_eq!(post, exported);
    assert_eq!(pre.start_epoch_ms, exported.start_epoch_ms);
    assert_eq!(pre.trace_id, exported.trace_id);
}

#[test]
fn oversized_arguments_are_capped_with_a_marker() {
    let p = Pipeline::start();
    let huge = "x".repeat(2 * 1024 * 1024);
    _log_get_user(&huge);
    let actions = p.finish();
    let a = only(&actions, "_log_get_user");
    let kw = &a.keyword_args_json.as_ref().unwrap().value;
    assert!(kw.len() < 1024 * 1024 + 100, "{}", kw.len());
    assert!(kw.starts_with("{\"user_id\":\"xxx"));
    assert!(
        kw.ends_with(&actionlog::convert::truncation_marker(
            1024 * 1024,
            huge.len() + 14
        )),
        "{}",
        &kw[kw.len() - 80..]
    );
}

#[test]
fn plain_api_without_the_macro() {
    let p = Pipeline::start();
    let mut span = actionlog::ActionLog::new("_log_update_bookmark")
        .user("grace@example.com")
        .arg("resource_key", "hive://gold.core/rides")
        .arg("resource_type", "table")
        .arg("method", "PUT")
        .start();
    span.output_json("{\"ok\":true}");
    span.finish();
    // Dropped without finish: still ends, as an error.
    drop(actionlog::ActionLog::new("abandoned").user("x").start());
    let actions = p.finish();
    let a = only(&actions, "_log_update_bookmark");
    assert_eq!(a.user.as_deref(), Some("grace@example.com"));
    assert_eq!(kwargs(a)["method"], "PUT");
    assert_eq!(output(a), serde_json::json!({"ok": true}));
    let dropped = only(&actions, "abandoned");
    assert!(
        dropped
            .error
            .as_ref()
            .unwrap()
            .value
            .contains("dropped before completion")
    );
}

#[test]
fn ready_made_json_is_checked_while_the_decorators_own_is_not_parsed_again() {
    use std::sync::atomic::Ordering::Relaxed;
    let _lock = crate::support::global_lock();
    let sink = Arc::new(crate::support::Collect::default());
    let exporter = actionlog::UserActionExporter::builder()
        .with_sink(sink.clone())
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    actionlog::set_tracer_provider(&provider);
    // The warnings one action brings, read once the exporter has it.
    let warnings_of = |f: &dyn Fn()| {
        let before = stats.warnings.load(Relaxed);
        f();
        provider.force_flush().unwrap();
        stats.warnings.load(Relaxed) - before
    };

    let clean = warnings_of(&|| {
        let mut span = actionlog::ActionLog::new("serde")
            .user("u")
            .arg("search_term", "rides \"gold\" {[")
            .start();
        span.output(&serde_json::json!({"total": 3}));
        span.finish();
    });
    let raw_args = warnings_of(&|| {
        actionlog::ActionLog::new("raw_args")
            .user("u")
            .keyword_args_json("{not json")
            .start()
            .finish();
    });
    let raw_output = warnings_of(&|| {
        let mut span = actionlog::ActionLog::new("raw_output").user("u").start();
        span.output_json("{\"ok\": tru");
        span.finish();
    });
    let secret = warnings_of(&|| {
        actionlog::ActionLog::new("secret")
            .user("u")
            .arg("password", "hunter2")
            .start()
            .finish();
    });
    provider.shutdown().unwrap();
    actionlog::reset_tracer_provider();

    // The secret was redacted as the decorator wrote it, before the exporter saw it.
    assert_eq!(
        (clean, raw_args, raw_output, secret),
        (0, 1, 1, 0),
        "warnings per action: serde, raw args, raw output, secret"
    );
    let actions = sink.0.lock().unwrap();
    let a = only(&actions, "raw_args");
    assert_eq!(a.keyword_args_json.as_ref().unwrap().value, "{not json");
    assert_eq!(
        only(&actions, "raw_output").output.as_ref().unwrap().value,
        "{\"ok\": tru"
    );
    assert_eq!(kwargs(only(&actions, "secret"))["password"], "[REDACTED]");
    assert_eq!(
        kwargs(only(&actions, "serde"))["search_term"],
        "rides \"gold\" {["
    );
}

#[test]
fn a_thread_that_already_logged_follows_a_change_of_provider() {
    // A long-lived worker (a pool thread, say) keeps its own copy of the tracer: it must
    // notice that the provider changed, or its actions go to the old, shut-down one.
    let (jobs, inbox) = std::sync::mpsc::channel::<(&'static str, std::sync::mpsc::Sender<()>)>();
    let worker = std::thread::spawn(move || {
        for (command, done) in inbox {
            actionlog::ActionLog::new(command)
                .user("w")
                .start()
                .finish();
            done.send(()).unwrap();
        }
    });
    let log_on_worker = |command| {
        let (done, wait) = std::sync::mpsc::channel();
        jobs.send((command, done)).unwrap();
        wait.recv().unwrap();
    };

    let first = Pipeline::start();
    log_on_worker("first");
    let first = first.finish();
    let second = Pipeline::start();
    log_on_worker("second");
    let second = second.finish();
    drop(jobs);
    worker.join().unwrap();

    let commands = |actions: &[UserAction]| -> Vec<String> {
        actions.iter().filter_map(|a| a.command.clone()).collect()
    };
    assert_eq!(commands(&first), ["first"]);
    assert_eq!(commands(&second), ["second"]);
}

/// Keeps every finished span, for tests that look at the spans themselves.
#[derive(Debug, Clone, Default)]
struct KeepSpans(Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

impl opentelemetry_sdk::trace::SpanExporter for KeepSpans {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

#[action_log(skip(tracer))]
fn with_a_child_span(tracer: &opentelemetry_sdk::trace::SdkTracer, table_key: &str) -> usize {
    use opentelemetry::trace::Tracer as _;
    tracer.in_span("child", |_| table_key.len())
}

#[action_log(skip(tracer))]
async fn with_a_child_span_async(tracer: opentelemetry_sdk::trace::SdkTracer) -> u32 {
    use opentelemetry::trace::Tracer as _;
    tokio::task::yield_now().await;
    tracer.in_span("async child", |_| 7)
}

#[test]
fn spans_started_inside_an_action_are_its_children() {
    use opentelemetry::trace::TracerProvider as _;
    let _lock = crate::support::global_lock();
    let keep = KeepSpans::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(keep.clone())
        .build();
    actionlog::set_tracer_provider(&provider);
    let tracer = provider.tracer("inner");

    assert_eq!(with_a_child_span(&tracer, "hive://gold.core/rides"), 22);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(with_a_child_span_async(tracer.clone())), 7);
    provider.shutdown().unwrap();
    actionlog::reset_tracer_provider();

    let spans = keep.0.lock().unwrap().clone();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name:?} in {spans:?}"))
    };
    for (action, child) in [
        ("with_a_child_span", "child"),
        ("with_a_child_span_async", "async child"),
    ] {
        let (action, child) = (find(action), find(child));
        assert_eq!(
            child.span_context.trace_id(),
            action.span_context.trace_id()
        );
        assert_eq!(child.parent_span_id, action.span_context.span_id());
        assert!(
            !child.parent_span_is_remote,
            "the parent is in this process"
        );
        assert!(child.end_time <= action.end_time);
        assert!(
            action
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == actionlog::convention::OUTPUT),
            "the action span still records its output: {action:?}"
        );
    }
    assert_eq!(
        spans.len(),
        4,
        "two actions and their two children: {spans:?}"
    );
}
