//! Action logs as OpenTelemetry log events into `actionlog serve`: real SDK clients (Python's
//! logs API through its gRPC and HTTP log exporters, Rust's opentelemetry-otlp log
//! exporter), the round trip through a second bridge, and bad input on the logs path.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;

use crate::harness::otlp::{action_span, kv, request, runtime, sv};
use crate::harness::{Serve, http_request, metric, python, python_script};

// ---- real clients -------------------------------------------------------------------

fn python_log_client_round_trip(protocol: &str, gzip: bool) {
    let bridge = Serve::start(&[]);
    let endpoint = match protocol {
        "grpc" => format!("http://{}", bridge.grpc),
        _ => format!("http://{}/v1/logs", bridge.http),
    };
    let mut cmd = Command::new(python());
    cmd.arg(python_script("otlp_log_client.py"))
        .arg(protocol)
        .arg(&endpoint)
        .args(["--actions", "7", "--others", "4"]);
    if gzip {
        cmd.arg("--gzip");
    }
    let out = cmd.output().expect("run the Python OTLP log client");
    assert!(
        out.status.success(),
        "python client failed: {}\nbridge log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        bridge.log_text()
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("client JSON");
    let sent = sent["actions"].as_array().expect("actions").clone();
    assert_eq!(sent.len(), 7);

    let got = bridge.actions();
    assert_eq!(
        got.len(),
        sent.len(),
        "exactly the action events come out: {got:#?}"
    );
    let by_span: BTreeMap<_, _> = got
        .iter()
        .map(|a| (a.span_id.clone().expect("span id"), a))
        .collect();
    for s in &sent {
        let a = by_span
            .get(s["span_id"].as_str().expect("span_id"))
            .unwrap_or_else(|| panic!("action {s} missing from {got:#?}"));
        assert_eq!(a.command.as_deref(), s["command"].as_str());
        assert_eq!(a.user.as_deref(), s["user"].as_str());
        assert_eq!(a.trace_id.as_deref(), s["trace_id"].as_str());
        assert_eq!(a.host_name.as_deref(), Some("py-host"), "from the resource");
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
        if s["error"].as_bool() == Some(true) {
            let e = &a.error.as_ref().expect("error recorded").value;
            assert!(e.starts_with("KeyError: 'missing'\nTraceback"), "{e}");
            assert!(a.output.is_none());
        } else {
            assert!(a.error.is_none(), "{a:?}");
            assert_eq!(
                a.output.as_ref().map(|l| l.value.as_str()),
                Some(r#"{"ok": true}"#)
            );
        }
    }
    let m = bridge.metrics();
    let transport = if protocol == "grpc" { "grpc" } else { "http" };
    assert_eq!(
        metric(
            &m,
            &format!("actionlog_log_records_received_total{{transport=\"{transport}\"}}")
        ),
        15.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "actionlog_actions_converted_total{signal=\"logs\"}"),
        7.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_non_action_log_records_total{outcome=\"dropped\"}"
        ),
        8.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "actionlog_spans_received_total{transport=\"grpc\"}"),
        0.0
    );
}

#[test]
fn python_sdk_grpc_log_exporter_events_come_out_as_exactly_the_expected_actions() {
    python_log_client_round_trip("grpc", false);
}

#[test]
fn python_sdk_http_log_exporter_events_come_out_as_exactly_the_expected_actions() {
    python_log_client_round_trip("http", false);
}

#[test]
fn python_sdk_http_log_exporter_with_gzip() {
    python_log_client_round_trip("http", true);
}

#[test]
fn rust_opentelemetry_otlp_log_exporter_events_come_out_as_actions() {
    use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
    use opentelemetry::trace::{SpanId, TraceId};
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::logs::SdkLoggerProvider;

    let bridge = Serve::start(&[]);
    let rt = runtime();
    let mut expected = BTreeMap::new();
    rt.block_on(async {
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", bridge.grpc))
            .build()
            .expect("otlp log exporter");
        let provider = SdkLoggerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name("rust-app")
                    .with_attribute(opentelemetry::KeyValue::new("host.name", "rust-otlp-host"))
                    .build(),
            )
            .build();
        let logger = provider.logger("rust-app");
        for i in 0..6u64 {
            let mut r = logger.create_log_record();
            r.set_event_name("actionlog.user_action");
            r.set_timestamp(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_000 + i),
            );
            r.set_severity_number(Severity::Info);
            r.add_attribute("action_log.command", "_log_update_table_tags");
            r.add_attribute("enduser.id", format!("r{i}@example.com"));
            r.add_attribute(
                "action_log.keyword_args_json",
                r#"{"tag":"pii","method":"PUT"}"#,
            );
            r.add_attribute("action_log.end_epoch_ms", 1_700_000_000_010 + i as i64);
            let span_id = SpanId::from_bytes((i + 1).to_be_bytes());
            r.set_trace_context(TraceId::from_bytes([7; 16]), span_id, None);
            logger.emit(r);
            expected.insert(span_id.to_string(), i);
            // A plain log record: not an action.
            let mut other = logger.create_log_record();
            other.set_severity_number(Severity::Warn);
            other.set_body("cache miss".into());
            logger.emit(other);
        }
        tokio::task::spawn_blocking(move || provider.shutdown())
            .await
            .expect("join")
            .expect("provider shutdown");
    });
    let got = bridge.actions();
    assert_eq!(got.len(), 6, "{got:#?}");
    for a in &got {
        let i = expected[a.span_id.as_deref().expect("span id")] as i64;
        assert_eq!(a.user, Some(format!("r{i}@example.com")), "{a:?}");
        assert_eq!(a.command.as_deref(), Some("_log_update_table_tags"));
        assert_eq!(a.host_name.as_deref(), Some("rust-otlp-host"));
        assert_eq!(a.trace_id.as_deref(), Some("07".repeat(16).as_str()));
        assert_eq!(a.start_epoch_ms, Some(1_700_000_000_000 + i));
        assert_eq!(a.end_epoch_ms, Some(1_700_000_000_010 + i));
    }
}

// ---- the round trip -----------------------------------------------------------------

/// Bridge A takes spans and sends log events (`otlp_log` sink) to bridge B, which takes log
/// events and writes a file: B's bytes are A's input converted directly, byte for byte.
#[test]
fn spans_through_a_log_event_bridge_come_out_byte_for_byte_as_converted_directly() {
    use actionlog::convert::{ConvertOptions, convert};

    let b = Serve::start(&[]);
    let a = Serve::start(&["--otlp-log-endpoint", &format!("http://{}", b.grpc)]);
    let mut failed = action_span(3, "_log_update_table_owner");
    failed.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
        message: "PermissionError: nope".into(),
        code: 2,
    });
    let mut secret = action_span(4, "_log_login");
    secret.attributes.push(kv(
        "action_log.pos_args_json",
        sv(r#"[{"password":"hunter2","n":1}]"#),
    ));
    secret
        .attributes
        .push(kv("action_log.output", sv(r#"{"rows":[1,2,3]}"#)));
    let mut no_user = action_span(5, "_search_resources");
    no_user.attributes.retain(|kv| kv.key != "enduser.id");
    no_user.attributes.push(kv("host.name", sv("span-host")));
    let spans = vec![
        action_span(1, "_get_table_metadata"),
        action_span(2, "_search_resources"),
        failed,
        secret,
        no_user,
    ];
    let mut expected = Vec::new();
    for s in &spans {
        let c = convert(s, Some("rust-host"), &ConvertOptions::default())
            .expect("converts")
            .expect("an action");
        actionlog::codec::encode_length_delimited(&c.action, &mut expected);
    }
    runtime().block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", a.grpc))
            .await
            .expect("connect");
        let resp = client
            .export(request(spans))
            .await
            .expect("export")
            .into_inner();
        assert!(resp.partial_success.is_none(), "{resp:?}");
    });
    let got = std::fs::read(&b.out).expect("B's file");
    assert_eq!(
        got,
        expected,
        "B wrote {:#?}",
        crate::harness::read_actions(&b.out)
    );
    let m = b.metrics();
    assert_eq!(
        metric(&m, "actionlog_actions_converted_total{signal=\"logs\"}"),
        5.0,
        "{m}"
    );
}

// ---- forwarding and authentication --------------------------------------------------

#[test]
fn non_action_log_records_are_forwarded_unchanged_and_the_logs_receivers_need_the_token() {
    use crate::bridge::{LogsReceiver, start_logs_receiver};
    const TOKEN: &str = "logs-token-0123456789abcdef0123456789";
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let rt = runtime();
    let recv = LogsReceiver::default();
    let downstream = rt.block_on(start_logs_receiver(recv.clone()));
    let bridge = Serve::start(&[
        "--forward-endpoint",
        &format!("http://{downstream}"),
        "--auth-token-file",
        token_file.to_str().unwrap(),
    ]);
    let other = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        severity_number: 13,
        body: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
            value: Some(sv("cache miss")),
        }),
        attributes: vec![kv("action_log.command", sv("not an event"))],
        ..Default::default()
    };
    let req = logs_request(vec![good_event(1), other.clone()]);
    let body = req.encode_to_vec();
    let pb = ("Content-Type", "application/x-protobuf");
    let r = http_request(bridge.http, "POST", "/v1/logs", &[pb], &body).unwrap();
    assert_eq!(r.status, 401, "no token");
    let bearer = format!("Bearer {TOKEN}");
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/logs",
        &[pb, ("Authorization", bearer.as_str())],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    rt.block_on(async {
        let mut client = LogsServiceClient::connect(format!("http://{}", bridge.grpc))
            .await
            .expect("connect");
        let err = client
            .export(logs_request(vec![good_event(2)]))
            .await
            .expect_err("no token");
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    });
    let got = recv.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let rl = &got[0].resource_logs[0];
    assert_eq!(rl.resource, req.resource_logs[0].resource, "resource kept");
    assert_eq!(
        rl.scope_logs[0].log_records,
        vec![other],
        "only the non-action record, unchanged"
    );
    assert_eq!(bridge.actions().len(), 1);
    let m = bridge.metrics();
    assert_eq!(
        metric(
            &m,
            "actionlog_non_action_log_records_total{outcome=\"forwarded\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_requests_unauthenticated_total{protocol=\"grpc\"}"
        ),
        1.0,
        "{m}"
    );
}

// ---- bad input ----------------------------------------------------------------------

fn event(n: u64, attrs: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000 + n * 1_000_000,
        event_name: "actionlog.user_action".into(),
        attributes: attrs,
        trace_id: vec![0x42; 16],
        span_id: (n + 1).to_be_bytes().to_vec(),
        ..Default::default()
    }
}

fn good_event(n: u64) -> LogRecord {
    event(
        n,
        vec![
            kv("action_log.command", sv("_get_table_metadata")),
            kv("enduser.id", sv(&format!("user{n}@example.com"))),
        ],
    )
}

fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                attributes: vec![kv("host.name", sv("rust-host"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn rejected(body: &[u8]) -> (i64, String) {
    let r = ExportLogsServiceResponse::decode(body).expect("response decodes");
    r.partial_success.map_or((0, String::new()), |p| {
        (p.rejected_log_records, p.error_message)
    })
}

#[test]
fn bad_input_on_the_logs_path_gets_the_right_status_is_counted_and_the_server_keeps_serving() {
    let bridge = Serve::start(&["--max-body-bytes", "65536"]);
    let pb = [("Content-Type", "application/x-protobuf")];
    let json = [("Content-Type", "application/json")];
    let good = logs_request(vec![good_event(1)]).encode_to_vec();
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        http_request(bridge.http, "POST", "/v1/logs", headers, body).expect("request")
    };
    let still_serving = || assert_eq!(post(&pb, &good).status, 200, "still serving");

    // Truncated protobuf, JSON of the wrong shape, the wrong content type.
    let r = post(&pb, &good[..good.len() - 7]);
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("not a valid protobuf ExportLogsServiceRequest")
    );
    still_serving();
    let r = post(&json, br#"{"resourceLogs": {"scopeLogs": 3}}"#);
    assert_eq!(r.status, 400);
    let st: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON status");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("not a valid OTLP/JSON ExportLogsServiceRequest"),
        "{st}"
    );
    let r = post(&[("Content-Type", "text/plain")], &good);
    assert_eq!(r.status, 415);
    still_serving();

    // Over the size limit, plain and as a gzip bomb.
    assert_eq!(post(&pb, &vec![b'x'; 70_000]).status, 413);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 1_000_000]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 65536);
    let r = post(
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    );
    assert_eq!(r.status, 413);
    still_serving();

    // Per record: a named event without its command and one with a broken trace id are
    // rejected (partial success, named); wrong attribute types are converted with the
    // documented fallbacks; the good one is accepted.
    let mut broken_ids = good_event(3);
    broken_ids.trace_id = vec![1, 2, 3];
    let wrong_types = event(
        4,
        vec![
            kv("action_log.command", any_value::Value::IntValue(42)),
            kv("enduser.id", sv("ada@example.com")),
            kv("action_log.end_epoch_ms", sv("soon")),
            kv("action_log.keyword_args_json", sv("{not json")),
        ],
    );
    let no_command = event(2, vec![kv("enduser.id", sv("x"))]);
    let body =
        logs_request(vec![no_command, broken_ids, wrong_types, good_event(5)]).encode_to_vec();
    let r = post(&pb, &body);
    assert_eq!(r.status, 200);
    let (n, message) = rejected(&r.body);
    assert_eq!(n, 2, "{message}");
    assert!(
        message.contains(
            "log record #0: log event actionlog.user_action has no attribute action_log.command"
        ) && message.contains("log record #1: invalid trace id"),
        "{message}"
    );

    // OTLP/JSON, hex ids as the specification writes them.
    let json_body = serde_json::json!({
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "json-host"}}]},
            "scopeLogs": [{"logRecords": [{
                "timeUnixNano": "1700000000000000000",
                "eventName": "actionlog.user_action",
                "traceId": "0102030405060708090a0b0c0d0e0f10",
                "spanId": "0102030405060708",
                "attributes": [
                    {"key": "action_log.command", "value": {"stringValue": "_get_dashboard_metadata"}},
                    {"key": "enduser.id", "value": {"stringValue": "json@example.com"}},
                    {"key": "action_log.end_epoch_ms", "value": {"intValue": "1700000000250"}}
                ]
            }]}]
        }]
    });
    let r = post(&json, json_body.to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"{}");

    let got = bridge.actions();
    let commands: Vec<_> = got.iter().map(|a| a.command.clone().unwrap()).collect();
    // Three good requests, the two converted records of the mixed one, the JSON one.
    assert_eq!(got.len(), 6, "{commands:?}");
    let wrong = got
        .iter()
        .find(|a| a.command.as_deref() == Some("42"))
        .expect("int command rendered");
    assert_eq!(wrong.end_epoch_ms, None);
    assert_eq!(wrong.keyword_args_json.as_ref().unwrap().value, "{not json");
    let from_json = got.last().unwrap();
    assert_eq!(from_json.host_name.as_deref(), Some("json-host"));
    assert_eq!(from_json.span_id.as_deref(), Some("0102030405060708"));
    assert_eq!(from_json.end_epoch_ms, Some(1_700_000_000_250));

    let m = bridge.metrics();
    for (sample, value) in [
        (
            "actionlog_log_records_rejected_total{reason=\"missing_command\"}",
            1.0,
        ),
        (
            "actionlog_log_records_rejected_total{reason=\"invalid_trace_id\"}",
            1.0,
        ),
        (
            "actionlog_convert_warnings_total{reason=\"wrong_type\"}",
            2.0,
        ),
        (
            "actionlog_convert_warnings_total{reason=\"invalid_json\"}",
            1.0,
        ),
        (
            "actionlog_requests_rejected_total{transport=\"http\",reason=\"decode_error\"}",
            2.0,
        ),
        (
            "actionlog_requests_rejected_total{transport=\"http\",reason=\"too_large\"}",
            2.0,
        ),
        (
            "actionlog_requests_rejected_total{transport=\"http\",reason=\"unsupported_media_type\"}",
            1.0,
        ),
        (
            "actionlog_spans_rejected_total{reason=\"missing_command\"}",
            0.0,
        ),
    ] {
        assert_eq!(metric(&m, sample), value, "{sample}\n{m}");
    }
}

#[test]
fn grpc_logs_answer_partial_success_resource_exhausted_and_internal_and_keep_serving() {
    let bridge = Serve::start(&["--max-body-bytes", "65536"]);
    runtime().block_on(async {
        let mut client = LogsServiceClient::connect(format!("http://{}", bridge.grpc))
            .await
            .expect("connect");
        let mut bad = good_event(2);
        bad.span_id = vec![9; 3];
        let resp = client
            .export(logs_request(vec![bad, good_event(1)]))
            .await
            .expect("export")
            .into_inner();
        let ps = resp.partial_success.expect("partial success");
        assert_eq!(ps.rejected_log_records, 1);
        assert!(
            ps.error_message.contains("invalid span id"),
            "{}",
            ps.error_message
        );

        let mut huge = good_event(3);
        huge.attributes
            .push(kv("action_log.output", sv(&"x".repeat(70_000))));
        let err = client
            .export(logs_request(vec![huge]))
            .await
            .expect_err("too large");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");

        let ok = client
            .export(logs_request(vec![good_event(4)]))
            .await
            .expect("still serving")
            .into_inner();
        assert!(ok.partial_success.is_none());
    });
    // A truncated protobuf, sent by an independent gRPC implementation.
    let good = logs_request(vec![good_event(5)]).encode_to_vec();
    let raw = |payload: &[u8]| {
        let out = Command::new(python())
            .arg(python_script("grpc_raw.py"))
            .arg(bridge.grpc.to_string())
            .arg(const_hex::encode(payload))
            .arg("logs")
            .output()
            .expect("run grpc_raw.py");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let answer = raw(&good[..good.len() - 5]);
    assert!(answer.starts_with("INTERNAL"), "{answer}");
    assert_eq!(raw(&good), "OK", "still serving");
    assert_eq!(bridge.actions().len(), 3);
    let m = bridge.metrics();
    assert_eq!(
        metric(
            &m,
            "actionlog_requests_rejected_total{transport=\"grpc\",reason=\"decode_error\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_requests_rejected_total{transport=\"grpc\",reason=\"too_large\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_log_records_rejected_total{reason=\"invalid_span_id\"}"
        ),
        1.0,
        "{m}"
    );
}
