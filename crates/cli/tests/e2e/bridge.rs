//! End-to-end tests of `actionlog serve`: the real binary on free loopback ports, driven by
//! real OTLP clients (the OpenTelemetry Python SDK's gRPC and HTTP exporters, the Rust
//! `opentelemetry-otlp` exporter), raw HTTP for bad input, and an in-test OTLP logs receiver
//! for the log-event sink.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actionlog::UserAction;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::harness::otlp::{action_span, export_recording_acked, hex, kv, request, runtime, sv};
use crate::harness::{Serve, free_addr, http_request, metric, python, python_script};

// ---- real clients -------------------------------------------------------------------

fn python_client_round_trip(protocol: &str, gzip: bool) {
    let bridge = Serve::start(&[]);
    let endpoint = match protocol {
        "grpc" => format!("http://{}", bridge.grpc),
        _ => format!("http://{}/v1/traces", bridge.http),
    };
    let mut cmd = Command::new(python());
    cmd.arg(python_script("otlp_client.py"))
        .arg(protocol)
        .arg(&endpoint)
        .args(["--actions", "7", "--others", "4"]);
    if gzip {
        cmd.arg("--gzip");
    }
    let out = cmd.output().expect("run the Python OTLP client");
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
        "exactly the action spans come out: {got:#?}"
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
        assert_eq!(
            a.keyword_args_json.as_ref().map(|l| l.value.as_str()),
            s["keyword_args_json"].as_str()
        );
        assert_eq!(
            a.pos_args_json.as_ref().map(|l| l.value.as_str()),
            Some("[]")
        );
        assert!(a.start_epoch_ms.is_some() && a.end_epoch_ms >= a.start_epoch_ms);
        if s["error"].as_bool() == Some(true) {
            let e = &a.error.as_ref().expect("error recorded").value;
            assert!(e.starts_with("KeyError: 'missing'\nTraceback"), "{e}");
            assert!(a.output.is_none());
        } else {
            assert!(a.error.is_none());
            assert_eq!(
                a.output.as_ref().map(|l| l.value.as_str()),
                Some(r#"{"ok": true}"#)
            );
        }
    }
    let m = bridge.metrics();
    assert_eq!(
        metric(
            &m,
            &format!(
                "actionlog_spans_received_total{{transport=\"{}\"}}",
                if protocol == "grpc" { "grpc" } else { "http" }
            )
        ),
        11.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "actionlog_actions_converted_total{signal=\"traces\"}"),
        7.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "actionlog_non_action_spans_total{outcome=\"dropped\"}"),
        4.0,
        "{m}"
    );
}

#[test]
fn python_sdk_grpc_exporter_spans_come_out_as_exactly_the_expected_actions() {
    python_client_round_trip("grpc", false);
}

#[test]
fn python_sdk_grpc_exporter_with_gzip() {
    python_client_round_trip("grpc", true);
}

#[test]
fn python_sdk_http_exporter_spans_come_out_as_exactly_the_expected_actions() {
    python_client_round_trip("http", false);
}

#[test]
fn python_sdk_http_exporter_with_gzip() {
    python_client_round_trip("http", true);
}

#[test]
fn rust_opentelemetry_otlp_exporter_spans_come_out_as_actions() {
    use opentelemetry::KeyValue as Kv;
    use opentelemetry::trace::{Span as _, Tracer, TracerProvider as _};
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    let bridge = Serve::start(&[]);
    let rt = runtime();
    let mut expected = BTreeMap::new();
    rt.block_on(async {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", bridge.grpc))
            .build()
            .expect("otlp exporter");
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name("rust-app")
                    .with_attribute(Kv::new("host.name", "rust-otlp-host"))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("rust-app");
        for i in 0..6 {
            let mut span = tracer.start("_log_update_table_tags");
            span.set_attribute(Kv::new("action_log.command", "_log_update_table_tags"));
            span.set_attribute(Kv::new("enduser.id", format!("r{i}@example.com")));
            span.set_attribute(Kv::new(
                "action_log.keyword_args_json",
                r#"{"tag":"pii","method":"PUT"}"#,
            ));
            let id = span.span_context().span_id().to_string();
            span.end();
            expected.insert(id, format!("r{i}@example.com"));
            let mut other = tracer.start("SELECT");
            other.set_attribute(Kv::new("db.system", "postgresql"));
            other.end();
        }
        tokio::task::spawn_blocking(move || provider.shutdown())
            .await
            .expect("join")
            .expect("provider shutdown");
    });
    let got = bridge.actions();
    assert_eq!(got.len(), 6, "{got:#?}");
    for a in &got {
        let sid = a.span_id.as_deref().expect("span id");
        assert_eq!(a.user.as_ref(), expected.get(sid), "{a:?}");
        assert_eq!(a.command.as_deref(), Some("_log_update_table_tags"));
        assert_eq!(a.host_name.as_deref(), Some("rust-otlp-host"));
    }
}

// ---- response semantics and bad input ---------------------------------------------

fn partial_success(body: &[u8]) -> (i64, String) {
    let r =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(body)
            .expect("response decodes");
    r.partial_success
        .map_or((0, String::new()), |p| (p.rejected_spans, p.error_message))
}

#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[test]
fn bad_http_input_gets_the_right_status_is_counted_and_the_server_keeps_serving() {
    let bridge = Serve::start(&["--max-body-bytes", "65536"]);
    let pb = [("Content-Type", "application/x-protobuf")];
    let json = [("Content-Type", "application/json")];
    let good = request(vec![action_span(1, "_get_table_metadata")]).encode_to_vec();
    let mut served = 0;
    let mut check_still_serving = |bridge: &Serve| {
        let r = http_request(bridge.http, "POST", "/v1/traces", &pb, &good).expect("good request");
        assert_eq!(r.status, 200, "server keeps serving after bad input");
        served += 1;
    };

    // Truncated protobuf.
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &pb,
        &good[..good.len() - 7],
    )
    .unwrap();
    assert_eq!(r.status, 400);
    let st = RpcStatus::decode(&r.body[..]).expect("google.rpc.Status body");
    assert!(
        st.message.contains("not a valid protobuf"),
        "{}",
        st.message
    );
    check_still_serving(&bridge);

    // Invalid JSON.
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &json,
        b"{\"resourceSpans\": [",
    )
    .unwrap();
    assert_eq!(r.status, 400);
    let st: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON status");
    assert!(
        st["message"].as_str().unwrap().contains("OTLP/JSON"),
        "{st}"
    );
    check_still_serving(&bridge);

    // Wrong content type.
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &[("Content-Type", "text/plain")],
        &good,
    )
    .unwrap();
    assert_eq!(r.status, 415);
    assert!(String::from_utf8_lossy(&r.body).contains("unsupported content type"));
    check_still_serving(&bridge);

    // Oversized body, plain and as a gzip bomb.
    let big = vec![b'x'; 70_000];
    let r = http_request(bridge.http, "POST", "/v1/traces", &pb, &big).unwrap();
    assert_eq!(r.status, 413);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 1_000_000]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 65536);
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    )
    .unwrap();
    assert_eq!(r.status, 413);
    check_still_serving(&bridge);

    // Invalid ids: partial success naming the problem, the good span still accepted.
    let mut bad_ids = action_span(2, "_get_table_metadata");
    bad_ids.trace_id = vec![1, 2, 3];
    let mut zero_span = action_span(3, "_get_table_metadata");
    zero_span.span_id = vec![0; 8];
    let body = request(vec![
        bad_ids,
        zero_span,
        action_span(4, "_search_resources"),
    ])
    .encode_to_vec();
    let r = http_request(bridge.http, "POST", "/v1/traces", &pb, &body).unwrap();
    assert_eq!(r.status, 200);
    let (rejected, msg) = partial_success(&r.body);
    assert_eq!(rejected, 2);
    assert!(
        msg.contains("invalid trace id") && msg.contains("invalid span id"),
        "{msg}"
    );

    // Invalid ids in OTLP/JSON (not hex): the body does not decode.
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &json,
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708","name":"x"}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(r.status, 400);

    // Wrong attribute types: converted by the documented fallback, with warnings counted.
    let mut typed = action_span(5, "_get_table_metadata");
    typed.attributes = vec![
        kv("action_log.command", sv("_get_table_metadata")),
        kv("enduser.id", any_value::Value::IntValue(42)),
        kv(
            "action_log.keyword_args_json",
            any_value::Value::BoolValue(true),
        ),
    ];
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &pb,
        &request(vec![typed]).encode_to_vec(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(partial_success(&r.body).0, 0);

    // Empty command: rejected.
    let mut empty = action_span(6, "");
    empty.attributes[0] = kv("action_log.command", sv(""));
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &pb,
        &request(vec![empty]).encode_to_vec(),
    )
    .unwrap();
    assert_eq!(partial_success(&r.body).0, 1);

    // OTLP/JSON accepted, answered in JSON.
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/json; charset=utf-8")],
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"x","startTimeUnixNano":"1700000000000000000","attributes":[{"key":"action_log.command","value":{"stringValue":"click"}},{"key":"enduser.id","value":{"stringValue":"j@example.com"}}]}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    check_still_serving(&bridge);

    let m = bridge.metrics();
    let rej = |reason: &str| {
        metric(
            &m,
            &format!("actionlog_requests_rejected_total{{transport=\"http\",reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(rej("decode_error"), 3.0, "{m}");
    assert_eq!(rej("unsupported_media_type"), 1.0, "{m}");
    assert_eq!(rej("too_large"), 2.0, "{m}");
    assert_eq!(
        metric(
            &m,
            "actionlog_spans_rejected_total{reason=\"invalid_trace_id\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_spans_rejected_total{reason=\"invalid_span_id\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_spans_rejected_total{reason=\"empty_command\"}"
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "actionlog_convert_warnings_total{reason=\"wrong_type\"}"
        ),
        2.0,
        "{m}"
    );

    let got = bridge.actions();
    // The good request each time, the good span next to the bad ids, the typed one, JSON.
    assert_eq!(got.len(), served + 3, "{got:#?}");
    let typed = got
        .iter()
        .find(|a| a.span_id.as_deref() == Some("0000000000000006"))
        .expect("typed span");
    assert_eq!(typed.user.as_deref(), Some("42"));
    assert_eq!(typed.keyword_args_json.as_ref().unwrap().value, "true");
    assert!(got.iter().any(|a| a.command.as_deref() == Some("click")));
}

#[test]
fn grpc_answers_partial_success_resource_exhausted_and_keeps_serving() {
    let bridge = Serve::start(&["--max-body-bytes", "65536"]);
    runtime().block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", bridge.grpc))
            .await
            .expect("connect");
        let mut bad = action_span(2, "_get_table_metadata");
        bad.span_id = vec![9; 3];
        let resp = client
            .export(request(vec![bad, action_span(1, "_get_table_metadata")]))
            .await
            .expect("export")
            .into_inner();
        let ps = resp.partial_success.expect("partial success");
        assert_eq!(ps.rejected_spans, 1);
        assert!(
            ps.error_message.contains("invalid span id"),
            "{}",
            ps.error_message
        );

        let mut huge = action_span(3, "_get_table_metadata");
        huge.attributes
            .push(kv("action_log.output", sv(&"x".repeat(70_000))));
        let err = client
            .export(request(vec![huge]))
            .await
            .expect_err("too large");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        // Final by the rules the OTLP sink retries by: a client must not resend it forever.
        assert!(
            !actionlog_otlp::retry::grpc_retryable(err.code(), !err.details().is_empty()),
            "{err:?}"
        );

        let ok = client
            .export(request(vec![action_span(4, "_search_resources")]))
            .await
            .expect("still serving")
            .into_inner();
        assert!(ok.partial_success.is_none());
    });
    // A truncated protobuf, sent by an independent gRPC implementation.
    let good = request(vec![action_span(5, "_get_table_metadata")]).encode_to_vec();
    let out = Command::new(python())
        .arg(python_script("grpc_raw.py"))
        .arg(bridge.grpc.to_string())
        .arg(hex(&good[..good.len() - 5]))
        .output()
        .expect("run grpc_raw.py");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        answer.starts_with("INTERNAL"),
        "{answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(python())
        .arg(python_script("grpc_raw.py"))
        .arg(bridge.grpc.to_string())
        .arg(hex(&good))
        .output()
        .expect("run grpc_raw.py");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OK",
        "still serving"
    );

    let got = bridge.actions();
    assert_eq!(got.len(), 3);
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
}

#[test]
fn sink_failure_is_answered_as_retryable_unavailable_and_503() {
    // A file sink whose file cannot be written: a directory path opened for appending fails
    // at startup, so use /dev/full, where every write fails with ENOSPC.
    let bridge = Serve::start(&["--file", "/dev/full"]);
    let body = request(vec![action_span(1, "_get_table_metadata")]).encode_to_vec();
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("1"));
    runtime().block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", bridge.grpc))
            .await
            .expect("connect");
        let err = client
            .export(request(vec![action_span(2, "_get_table_metadata")]))
            .await
            .expect_err("unavailable");
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    });
    // Non-action spans alone need no sink: still a success.
    let other = request(vec![Span {
        trace_id: vec![1; 16],
        span_id: vec![1; 8],
        name: "GET /".into(),
        ..Default::default()
    }])
    .encode_to_vec();
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &other,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let m = bridge.metrics();
    assert_eq!(
        metric(&m, "actionlog_sink_errors_total{kind=\"retryable\"}"),
        2.0,
        "{m}"
    );
}

#[test]
fn sigterm_with_requests_in_flight_loses_no_accepted_action() {
    let mut bridge = Serve::start(&[]);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let rt = runtime();
    let grpc = bridge.grpc;
    let handle = {
        let acked = acked.clone();
        rt.spawn(async move {
            let mut tasks = Vec::new();
            for t in 0..6u64 {
                let acked = acked.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(mut client) =
                        TraceServiceClient::connect(format!("http://{grpc}")).await
                    else {
                        return;
                    };
                    for b in 0..10_000u64 {
                        let base = (t * 10_000 + b) * 200;
                        let spans: Vec<Span> = (base..base + 200)
                            .map(|n| action_span(n, "_search_resources"))
                            .collect();
                        if !export_recording_acked(&mut client, spans, &acked).await {
                            return;
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
    };
    // Let traffic build up, then terminate while requests are being processed.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 5_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = bridge.terminate();
    rt.block_on(handle).expect("client tasks");
    assert!(
        status.success(),
        "clean exit after SIGTERM: {status:?}\n{}",
        bridge.log_text()
    );
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 5_000, "traffic was flowing");
    let written: std::collections::HashSet<String> = bridge
        .actions()
        .into_iter()
        .filter_map(|a| a.span_id)
        .collect();
    let lost: Vec<_> = acked.iter().filter(|id| !written.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged action(s) lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    assert!(bridge.log_text().contains("sinks flushed and closed"));
}

// ---- the OTLP log-event sink ----------------------------------------------------------

/// A downstream OTLP logs endpoint that keeps what it receives (refusing the first
/// `fail_first` requests as UNAVAILABLE).
#[derive(Debug, Clone, Default)]
pub(crate) struct LogsReceiver {
    pub(crate) got: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
    pub(crate) fail_first: Arc<Mutex<u32>>,
}

#[tonic::async_trait]
impl LogsService for LogsReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        {
            let mut f = self.fail_first.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(tonic::Status::unavailable("warming up"));
            }
        }
        self.got.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

pub(crate) async fn start_logs_receiver(recv: LogsReceiver) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(recv))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

/// A log event's attributes; events carry no body.
fn attr_map(
    r: &opentelemetry_proto::tonic::logs::v1::LogRecord,
) -> BTreeMap<String, any_value::Value> {
    assert!(r.body.is_none(), "an event carries no body: {:?}", r.body);
    r.attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?.value?)))
        .collect()
}

#[test]
fn bridge_with_otlp_log_sink_delivers_log_events_with_the_documented_mapping() {
    let rt = runtime();
    let recv = LogsReceiver::default();
    *recv.fail_first.lock().unwrap() = 1; // the sink must retry once
    let addr = rt.block_on(start_logs_receiver(recv.clone()));
    let bridge = Serve::start(&["--otlp-log-endpoint", &format!("http://{addr}")]);
    let mut failed = action_span(7, "_log_update_table_owner");
    failed.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
        message: "PermissionError: nope".into(),
        code: 2,
    });
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", bridge.grpc))
            .await
            .expect("connect");
        let resp = client
            .export(request(vec![action_span(1, "_get_table_metadata"), failed]))
            .await
            .expect("export")
            .into_inner();
        assert!(resp.partial_success.is_none());
    });
    let got = recv.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one delivered request after one retry");
    let rl = &got[0].resource_logs;
    assert_eq!(rl.len(), 1);
    let res: BTreeMap<_, _> = rl[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap().value.unwrap()))
        .collect();
    assert_eq!(res["host.name"], sv("rust-host"));
    assert_eq!(res["service.name"], sv("actionlog-bridge"));
    let records = &rl[0].scope_logs[0].log_records;
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r.event_name, "actionlog.user_action");
    assert_eq!(r.time_unix_nano, 1_700_000_000_001_000_000);
    assert_eq!(r.span_id, 2u64.to_be_bytes().to_vec());
    assert_eq!(r.trace_id, action_span(1, "x").trace_id);
    let attrs = attr_map(r);
    assert_eq!(attrs["enduser.id"], sv("user1@example.com"));
    assert_eq!(attrs["action_log.command"], sv("_get_table_metadata"));
    assert_eq!(attrs["action_log.keyword_args_json"], sv("{\"n\":1}"));
    assert_eq!(
        attrs["action_log.end_epoch_ms"],
        any_value::Value::IntValue(1_700_000_000_006)
    );
    assert!(!attrs.contains_key("exception.message"));
    assert_eq!(r.severity_text, "INFO");
    assert_eq!(r.severity_number, 9);
    let e = &records[1];
    assert_eq!(e.severity_text, "ERROR");
    assert_eq!(e.severity_number, 17);
    assert_eq!(
        attr_map(e)["exception.message"],
        sv("PermissionError: nope")
    );
}

// ---- forwarding and configuration -------------------------------------------------------

#[derive(Debug, Clone, Default)]
struct TracesReceiver {
    got: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for TracesReceiver
{
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        self.got.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(Default::default()))
    }
}

#[test]
fn non_action_spans_are_forwarded_unchanged_to_the_downstream_endpoint() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
    let rt = runtime();
    let recv = TracesReceiver::default();
    let downstream = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(recv.clone()))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        addr
    });
    let bridge = Serve::start(&["--forward-endpoint", &format!("http://{downstream}")]);
    let other = Span {
        trace_id: vec![5; 16],
        span_id: vec![6; 8],
        name: "GET /api/search".into(),
        attributes: vec![kv("http.route", sv("/api/search"))],
        ..Default::default()
    };
    let req = request(vec![action_span(1, "_search_resources"), other.clone()]);
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &req.encode_to_vec(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let got = recv.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let rs = &got[0].resource_spans[0];
    assert_eq!(rs.resource, req.resource_spans[0].resource, "resource kept");
    assert_eq!(
        rs.scope_spans[0].spans,
        vec![other],
        "only the non-action span, unchanged"
    );
    assert_eq!(bridge.actions().len(), 1);
    let m = bridge.metrics();
    assert_eq!(
        metric(
            &m,
            "actionlog_non_action_spans_total{outcome=\"forwarded\"}"
        ),
        1.0,
        "{m}"
    );
}

#[test]
fn print_config_shows_the_effective_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        r#"
[server]
grpc_addr = "0.0.0.0:4317"
http_addr = "0.0.0.0:4318"

[[sinks]]
type = "otlp_log"
endpoint = "http://collector:4317"
headers = { api-key = "file-secret" }

[[sinks]]
type = "file"
path = "/var/lib/actionlog/actions.pb"
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actionlog"))
        .args(["serve", "--print-config", "--grpc-addr", "127.0.0.1:9999"])
        .arg("--config")
        .arg(&path)
        .env("ACTIONLOG_HTTP_ADDR", "127.0.0.1:8888")
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-env-key=env-secret")
        .env("OTEL_SERVICE_NAME", "catalog-bridge")
        .output()
        .expect("run print-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("grpc_addr = \"127.0.0.1:9999\""),
        "flag wins: {text}"
    );
    assert!(
        text.contains("http_addr = \"127.0.0.1:8888\""),
        "env wins over file: {text}"
    );
    assert!(
        text.contains("service_name = \"catalog-bridge\""),
        "OTEL_SERVICE_NAME: {text}"
    );
    assert!(
        text.contains("api-key = \"[REDACTED]\"") && text.contains("x-env-key = \"[REDACTED]\""),
        "{text}"
    );
    assert!(
        !text.contains("file-secret") && !text.contains("env-secret"),
        "secrets never printed: {text}"
    );
    // What it printed is itself a valid configuration file.
    let again = dir.path().join("again.toml");
    std::fs::write(&again, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actionlog"))
        .args(["serve", "--print-config", "--config"])
        .arg(&again)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_config_file_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nmax_body_byte = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_actionlog"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_body_byte"), "{err}");
}

#[test]
fn otlp_log_sink_over_http_retries_503_then_delivers_gzip_protobuf() {
    use actionlog::sink::Sink;
    use actionlog_otlp::LogProtocol;
    use actionlog_otlp::{OtlpLogConfig, OtlpLogSink};
    use axum::http::{HeaderMap, StatusCode};

    type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let rt = runtime();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen2 = seen.clone();
        let app = axum::Router::new().route(
            "/v1/logs",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let seen = seen2.clone();
                async move {
                    let mut s = seen.lock().unwrap();
                    s.push((headers, body.to_vec()));
                    if s.len() == 1 {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [("retry-after", "0")],
                            Vec::new(),
                        )
                    } else {
                        (
                            StatusCode::OK,
                            [("content-type", "application/x-protobuf")],
                            ExportLogsServiceResponse::default().encode_to_vec(),
                        )
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut headers = BTreeMap::new();
        headers.insert("api-key".to_owned(), "k1".to_owned());
        let sink = OtlpLogSink::new(OtlpLogConfig {
            protocol: Some(LogProtocol::HttpProtobuf),
            endpoint: Some(format!("http://{addr}")),
            headers,
            gzip: true,
            initial_backoff_ms: 10,
            service_name: Some("svc".into()),
            ..Default::default()
        })
        .expect("sink");
        let action = UserAction {
            command: Some("_log_update_bookmark".into()),
            user: Some("ada@example.com".into()),
            host_name: Some("web-1".into()),
            start_epoch_ms: Some(1_700_000_000_000),
            trace_id: Some("0102030405060708090a0b0c0d0e0f10".into()),
            span_id: Some("0102030405060708".into()),
            ..Default::default()
        };
        sink.write(std::slice::from_ref(&action))
            .await
            .expect("delivered after a retry");
    });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let (headers, body) = &seen[1];
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["api-key"], "k1");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut raw)
        .unwrap();
    let req = ExportLogsServiceRequest::decode(&raw[..]).unwrap();
    let r = &req.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(r.event_name, "actionlog.user_action");
    assert_eq!(r.span_id, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        attr_map(r)["action_log.command"],
        sv("_log_update_bookmark")
    );
}

#[test]
fn otlp_log_sink_gives_up_as_retryable_and_refuses_final_errors() {
    use actionlog::sink::Sink;
    use actionlog_otlp::{OtlpLogConfig, OtlpLogSink};
    let rt = runtime();
    rt.block_on(async {
        // Nothing listens there: connection refused, retried, then Unavailable.
        let dead = free_addr();
        let sink = OtlpLogSink::new(OtlpLogConfig {
            endpoint: Some(format!("http://{dead}")),
            max_retries: 2,
            initial_backoff_ms: 5,
            timeout_secs: Some(2.0),
            ..Default::default()
        })
        .expect("sink");
        let err = sink
            .write(&[UserAction::default()])
            .await
            .expect_err("nobody listens");
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("after 3 attempt(s)"), "{err}");
    });
}

// ---- the Kafka sink behind the bridge -----------------------------------------------------

#[cfg(feature = "kafka")]
#[test]
fn bridge_with_kafka_sink_puts_converted_actions_on_the_topic() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| {
        panic!("KAFKA_BROKERS is not set: run scripts/test.sh (it starts a Tansu broker)")
    });
    let topic = format!(
        "bridge-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let rt = runtime();
    rt.block_on(async {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .expect("admin client");
        for r in admin
            .create_topics(
                &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create_topics")
        {
            r.unwrap_or_else(|(t, e)| panic!("cannot create topic {t}: {e}"));
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bridge.toml");
    std::fs::write(
        &cfg,
        format!("[[sinks]]\ntype = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\n"),
    )
    .unwrap();
    let bridge = Serve::start(&["--config", cfg.to_str().unwrap()]);
    let grpc = bridge.grpc;
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
            .await
            .expect("connect");
        let spans = (0..20)
            .map(|n| action_span(n, "_get_table_metadata"))
            .collect();
        let resp = client
            .export(request(spans))
            .await
            .expect("export")
            .into_inner();
        assert!(resp.partial_success.is_none(), "{resp:?}");
    });
    drop(bridge);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < 20 && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            got.push(UserAction::decode(m.payload().expect("payload")).expect("UserAction"));
        }
    }
    assert_eq!(got.len(), 20, "every acknowledged action is on the topic");
    let mut users: Vec<_> = got.iter().filter_map(|a| a.user.clone()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 20);
    assert!(
        got.iter()
            .all(|a| a.host_name.as_deref() == Some("rust-host"))
    );
}

#[test]
fn bridge_lands_actions_in_the_embedded_warehouse_for_the_kpis() {
    let wh = tempfile::tempdir().unwrap();
    let mut bridge = Serve::start(&["--warehouse", wh.path().to_str().unwrap()]);
    // Five users view a table on 2023-11-14 (1_700_000_000 s), one of them twice.
    let spans: Vec<Span> = (0..6u64)
        .map(|n| {
            let mut s = action_span(n, "_get_table_metadata");
            s.attributes[1] = kv("enduser.id", sv(&format!("user{}@example.com", n % 5)));
            s.attributes[2] = kv(
                "action_log.keyword_args_json",
                sv(r#"{"table_key":"hive://gold.core/rides","index":0,"source":"search_results"}"#),
            );
            s
        })
        .collect();
    let r = http_request(
        bridge.http,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &request(spans).encode_to_vec(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(bridge.terminate().success(), "{}", bridge.log_text());
    // The file sink beside it saw the same six actions.
    assert_eq!(bridge.actions().len(), 6);
    assert!(
        wh.path().join("dt=2023-11-14").is_dir(),
        "no partition for the actions' day"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_actionlog"))
        .args([
            "kpi",
            "--format",
            "json",
            "--from",
            "2023-11-14",
            "--to",
            "2023-11-15",
            "--warehouse",
        ])
        .arg(wh.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The KPI engine read the bridge's Parquet: one table, 6 views by 5 distinct viewers.
    let rows = report["kpis"]["top_tables"]["rows"]
        .as_array()
        .expect("top_tables rows");
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(rows[0]["table_key"], "hive://gold.core/rides", "{report}");
    assert_eq!(rows[0]["views"], 6, "{report}");
    assert_eq!(rows[0]["viewers"], 5, "{report}");
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    // stderr is a file here, as with `serve 2>file` or a service manager: no ANSI escapes.
    let mut bridge = Serve::start(&[]);
    assert!(bridge.terminate().success());
    let log = bridge.log_text();
    assert!(log.contains("actionlog bridge listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in the log file:\n{log:?}"
    );
}
