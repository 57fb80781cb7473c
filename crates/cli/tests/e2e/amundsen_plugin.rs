//! The Amundsen plugin (`examples/amundsen-plugin/`), driven with action records the way
//! Amundsen's frontend calls it, against a running `actionlog serve`.

use std::path::Path;
use std::process::Command;

#[test]
fn amundsen_records_come_out_of_the_bridge_as_user_actions() {
    let python = std::env::var("ACTIONLOG_PYTHON").unwrap_or_else(|_| {
        panic!("ACTIONLOG_PYTHON is not set: run the tests through scripts/test.sh (it installs the OpenTelemetry SDK)")
    });
    let root = Path::new(crate::harness::ROOT);
    let bridge = crate::harness::Serve::start(&[]);

    let run = Command::new(&python)
        .arg(root.join("tests/python/amundsen_driver.py"))
        .arg(root.join("examples/amundsen-plugin"))
        .env(
            "ACTIONLOG_BRIDGE_ENDPOINT",
            format!("http://{}", bridge.grpc),
        )
        .env("OTEL_SERVICE_NAME", "amundsen-frontend-test")
        .output()
        .expect("run the Amundsen driver");
    assert!(
        run.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The broken record was logged by the plugin, not raised.
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot record the action"));

    let sent: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).expect("driver JSON");
    let mut got = bridge.actions();
    got.sort_by_key(|a| a.start_epoch_ms);
    assert_eq!(got.len(), sent.len(), "{got:#?}");
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
        assert_eq!(a.trace_id.as_ref().map(String::len), Some(32));
    }
}
