//! The Amundsen plugin (`examples/amundsen-plugin/`), driven with action records the way
//! Amundsen's frontend calls it, against a running `actionlog serve`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actionlog::codec::LengthDelimitedReader;

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

#[test]
fn amundsen_records_come_out_of_the_bridge_as_user_actions() {
    let python = std::env::var("ACTIONLOG_PYTHON").unwrap_or_else(|_| {
        panic!("ACTIONLOG_PYTHON is not set: run the tests through scripts/test.sh (it installs the OpenTelemetry SDK)")
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("actions.pb");
    let log = dir.path().join("bridge.log");
    let mut started = None;
    for _ in 0..5 {
        let (grpc, http) = (free_addr(), free_addr());
        let bridge = Command::new(env!("CARGO_BIN_EXE_actionlog"))
            .args([
                "serve",
                "--grpc-addr",
                &grpc.to_string(),
                "--http-addr",
                &http.to_string(),
                "--file",
            ])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the bridge");
        let mut bridge = Some(bridge);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(grpc).is_err()
            || std::net::TcpStream::connect(http).is_err()
        {
            if crate::support::lost_port_race(&mut bridge, &log) {
                break;
            }
            assert!(Instant::now() < deadline, "bridge did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        if !crate::support::lost_port_race(&mut bridge, &log) {
            started = bridge.map(|b| (b, grpc));
            break;
        }
    }
    let (mut bridge, grpc) = started.expect("the bridge lost its free ports five times");

    let run = Command::new(&python)
        .arg(root.join("tests/python/amundsen_driver.py"))
        .arg(root.join("examples/amundsen-plugin"))
        .env("ACTIONLOG_BRIDGE_ENDPOINT", format!("http://{grpc}"))
        .env("OTEL_SERVICE_NAME", "amundsen-frontend-test")
        .output()
        .expect("run the Amundsen driver");
    let _ = bridge.kill();
    let _ = bridge.wait();
    assert!(
        run.status.success(),
        "driver failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The broken record was logged by the plugin, not raised.
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot record the action"));

    let sent: Vec<serde_json::Value> = serde_json::from_slice(&run.stdout).expect("driver JSON");
    let mut got: Vec<_> = LengthDelimitedReader::new(std::fs::File::open(&out).unwrap())
        .map(|r| r.expect("decodes"))
        .collect();
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
