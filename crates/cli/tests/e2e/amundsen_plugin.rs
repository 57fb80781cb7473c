//! The Amundsen plugin (`examples/amundsen-plugin/`), driven with action records the way
//! Amundsen's frontend calls it, against a running `actionlog serve`, with each of its
//! signals (`ACTIONLOG_BRIDGE_SIGNAL`): spans, and log events that must give the same
//! actions.

use std::path::Path;
use std::process::{Command, Output};

use actionlog::UserAction;

use crate::harness::Serve;

/// Runs the driver with the plugin set to `signal` and `protocol`, sending to `bridge`.
fn run_driver(bridge: &Serve, signal: &str, protocol: &str) -> Output {
    let python = std::env::var("ACTIONLOG_PYTHON").unwrap_or_else(|_| {
        panic!("ACTIONLOG_PYTHON is not set: run the tests through scripts/test.sh (it installs the OpenTelemetry SDK)")
    });
    let root = Path::new(crate::harness::ROOT);
    let endpoint = match protocol {
        "grpc" => format!("http://{}", bridge.grpc),
        // The OTLP/HTTP paths are named after the signals: /v1/traces, /v1/logs.
        _ => format!("http://{}/v1/{signal}", bridge.http),
    };
    Command::new(&python)
        .arg(root.join("tests/python/amundsen_driver.py"))
        .arg(root.join("examples/amundsen-plugin"))
        .env("ACTIONLOG_BRIDGE_ENDPOINT", endpoint)
        .env("ACTIONLOG_BRIDGE_PROTOCOL", protocol)
        .env("ACTIONLOG_BRIDGE_SIGNAL", signal)
        .env("OTEL_SERVICE_NAME", "amundsen-frontend-test")
        .output()
        .expect("run the Amundsen driver")
}

/// The actions one run of the driver produces, by start time, each checked against the
/// record it came from.
fn drive(signal: &str, protocol: &str) -> Vec<UserAction> {
    let bridge = Serve::start(&[]);
    let run = run_driver(&bridge, signal, protocol);
    assert!(
        run.status.success(),
        "driver ({signal}, {protocol}) failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The broken record was logged by the plugin, not raised.
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot record the action"));

    let sent: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).expect("driver JSON");
    let mut got = bridge.actions();
    got.sort_by_key(|a| a.start_epoch_ms);
    assert_eq!(got.len(), sent.len(), "{signal}, {protocol}: {got:#?}");
    for (a, s) in got.iter().zip(&sent) {
        assert_eq!(a.command.as_deref(), s["command"].as_str());
        assert_eq!(a.user.as_deref(), s["user"].as_str());
        assert_eq!(a.host_name.as_deref(), s["host_name"].as_str());
        assert_eq!(a.start_epoch_ms, s["start_epoch_ms"].as_i64());
        assert_eq!(a.end_epoch_ms, s["end_epoch_ms"].as_i64());
        assert_eq!(
            a.keyword_args_json.as_ref().map(|l| l.value.as_str()),
            s["keyword_args_json"].as_str()
        );
        assert_eq!(
            a.pos_args_json.as_ref().map(|l| l.value.as_str()),
            Some("[]")
        );
        assert_eq!(
            a.output.as_ref().map(|l| l.value.as_str()),
            s["output"].as_str()
        );
        assert_eq!(
            a.error.as_ref().map(|l| l.value.as_str()),
            s["error"].as_str()
        );
    }
    got
}

#[test]
fn amundsen_records_come_out_of_the_bridge_as_user_actions() {
    for a in drive("traces", "grpc") {
        assert_eq!(a.trace_id.as_ref().map(String::len), Some(32));
        assert_eq!(a.span_id.as_ref().map(String::len), Some(16));
    }
}

#[test]
fn the_logs_signal_gives_the_same_user_actions_as_the_traces_signal() {
    let spans = drive("traces", "grpc");
    for protocol in ["grpc", "http/protobuf"] {
        let logs = drive("logs", protocol);
        assert_eq!(logs.len(), spans.len(), "{protocol}: {logs:#?}");
        for (log, span) in logs.iter().zip(&spans) {
            // Logged outside any span: the event carries no trace context.
            assert_eq!((&log.trace_id, &log.span_id), (&None, &None), "{log:#?}");
            let (start, end) = (log.start_epoch_ms.expect("start"), log.end_epoch_ms);
            assert!(end.expect("end") >= start, "{log:#?}");
            // The driver's records have fixed times, so they compare too.
            let span = UserAction {
                trace_id: None,
                span_id: None,
                ..span.clone()
            };
            assert_eq!(*log, span, "{protocol}");
        }
    }
}

#[test]
fn an_unknown_signal_is_logged_and_sends_nothing() {
    let bridge = Serve::start(&[]);
    let run = run_driver(&bridge, "metrics", "grpc");
    // The callback still never raises: every record is logged as not recorded.
    assert!(run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("ACTIONLOG_BRIDGE_SIGNAL='metrics': expected traces or logs"),
        "{stderr}"
    );
    assert_eq!(bridge.actions(), Vec::<UserAction>::new());
}
