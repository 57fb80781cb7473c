//! The rows of docs/bad-input.md that are about what a peer can put inside a request:
//! invalid UTF-8, truncation, invalid ids, deeply nested JSON, timestamps far from now.
//! Each goes through the receiver's own decoder and the one conversion path.

use std::sync::atomic::Ordering;

use actionlog::UserAction;
use actionlog::convert::{ConvertError, ConvertOptions, ConvertWarning, convert};
use actionlog_bridge::http::decode_traces_body;
use actionlog_warehouse::WarehouseWriter;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn action_span(command: &str, kwargs: &str) -> Span {
    Span {
        trace_id: vec![7; 16],
        span_id: vec![3; 8],
        name: command.into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_100_000_000,
        attributes: vec![
            kv("action_log.command", command),
            kv("action_log.keyword_args_json", kwargs),
            kv("enduser.id", "ada@example.com"),
        ],
        ..Default::default()
    }
}

fn request(span: Span) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn convert_one(span: &Span) -> Result<Option<actionlog::convert::Converted>, ConvertError> {
    convert(span, None, &ConvertOptions::default())
}

#[test]
fn invalid_utf8_in_an_otlp_protobuf_string_is_a_decode_error() {
    let mut body = request(action_span("MARKER_COMMAND", "{}")).encode_to_vec();
    let at = body
        .windows(14)
        .position(|w| w == b"MARKER_COMMAND")
        .expect("the command is in the encoding");
    body[at] = 0xff; // no UTF-8 sequence starts with 0xff
    let err = decode_traces_body(false, &body).expect_err("invalid UTF-8 must not decode");
    assert!(err.contains("not a valid protobuf"), "{err}");
    assert!(
        err.to_lowercase().contains("utf-8"),
        "the reason names UTF-8: {err}"
    );
}

#[test]
fn a_truncated_otlp_protobuf_body_is_a_decode_error_at_every_cut() {
    let body = request(action_span("_get_table_metadata", r#"{"table_key": "t"}"#)).encode_to_vec();
    let mut refused = 0;
    for cut in 1..body.len() {
        // Some prefixes end exactly at a field boundary and are valid (shorter) messages;
        // everything else must be refused, and nothing may panic.
        if decode_traces_body(false, &body[..cut]).is_err() {
            refused += 1;
        }
    }
    assert!(
        refused > body.len() / 2,
        "only {refused} of {} cuts refused",
        body.len()
    );
}

#[test]
fn otlp_json_ids_that_are_not_hex_are_a_decode_error_and_short_ids_are_rejected_spans() {
    let json = |trace: &str| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{trace}","spanId":"0303030303030303","name":"x","attributes":[{{"key":"action_log.command","value":{{"stringValue":"x"}}}}]}}]}}]}}]}}"#
        )
    };
    let err = decode_traces_body(true, json(&"zz".repeat(16)).as_bytes())
        .expect_err("a non-hex trace id must not decode");
    assert!(err.contains("OTLP/JSON"), "{err}");

    // Valid hex of the wrong length decodes, then the conversion refuses the span.
    let req = decode_traces_body(true, json("0707070707").as_bytes()).expect("hex decodes");
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    let err = convert_one(span).expect_err("a 5-byte trace id is not a trace id");
    assert_eq!(err.reason(), "invalid_trace_id");
}

#[test]
fn deeply_nested_json_arguments_are_kept_verbatim_and_never_overflow_the_stack() {
    // 100,000 levels of valid JSON. Validation (serde_json's non-recursive skip) accepts it,
    // so it is kept verbatim without a warning; the warehouse's dimension parser stops at
    // serde_json's recursion limit (128) and counts the row as malformed instead of
    // overflowing the stack.
    let depth = 100_000;
    let deep = format!(
        "{{\"filters\": {}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let c = convert_one(&action_span("_search_table", &deep))
        .expect("converts")
        .expect("an action");
    assert_eq!(
        c.action
            .keyword_args_json
            .as_ref()
            .map(|s| s.value.as_str()),
        Some(deep.as_str()),
        "kept verbatim"
    );
    assert!(c.warnings.is_empty(), "valid JSON: {:?}", c.warnings);

    let dir = tempfile::tempdir().unwrap();
    let mut writer = WarehouseWriter::open(dir.path()).unwrap();
    writer.write(std::slice::from_ref(&c.action)).unwrap();
    writer.flush().unwrap();
    let stats = writer.stats();
    assert_eq!(stats.rows.load(Ordering::Relaxed), 1, "the row is written");
    assert_eq!(
        stats.malformed_rows.load(Ordering::Relaxed),
        1,
        "and counted as unparsable"
    );
}

#[test]
fn a_secret_key_hidden_below_the_parse_depth_still_gets_the_field_redacted() {
    // 200 levels of objects: too deep to parse, so the redactor cannot replace just the
    // value; it must withhold the whole field rather than let the password through.
    let mut deep = r#"{"password": "hunter2"}"#.to_string();
    for _ in 0..200 {
        deep = format!(r#"{{"a": {deep}}}"#);
    }
    let c = convert_one(&action_span("update_table_description", &deep))
        .expect("converts")
        .expect("an action");
    let kept = c.action.keyword_args_json.expect("the field stays").value;
    assert!(!kept.contains("hunter2"), "the secret leaked");
    assert!(
        c.warnings
            .iter()
            .any(|w| matches!(w, ConvertWarning::RedactedUnparsable { .. })),
        "{:?}",
        c.warnings
    );
}

#[test]
fn timestamps_far_in_the_future_or_before_the_epoch_are_kept_and_land_in_their_day() {
    // u64::MAX ns is 2554-07-21T23:34:33.709Z: kept as reported (the warehouse is evidence,
    // not a clock), and partitioned by that date rather than refused or wrapped.
    let mut span = action_span("_get_table_metadata", "{}");
    span.start_time_unix_nano = u64::MAX - 1;
    span.end_time_unix_nano = u64::MAX;
    let c = convert_one(&span).expect("converts").expect("an action");
    assert_eq!(c.action.start_epoch_ms, Some(18_446_744_073_709));
    assert_eq!(c.action.end_epoch_ms, Some(18_446_744_073_709));

    // Values a peer can send by other routes (Kafka, files) may be any i64.
    let dir = tempfile::tempdir().unwrap();
    let mut writer = WarehouseWriter::open(dir.path()).unwrap();
    let at = |ms: i64| UserAction {
        command: Some("_get_table_metadata".into()),
        user: Some("ada@example.com".into()),
        start_epoch_ms: Some(ms),
        end_epoch_ms: Some(ms),
        ..c.action.clone()
    };
    let batch = [
        at(18_446_744_073_709),
        at(-86_400_000),
        at(i64::MAX),
        at(i64::MIN),
    ];
    writer.write(&batch).unwrap();
    writer.flush().unwrap();
    assert_eq!(writer.stats().rows.load(Ordering::Relaxed), 4);
    let mut parts: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    assert!(parts.contains(&"dt=2554-07-21".to_string()), "{parts:?}");
    assert!(parts.contains(&"dt=1969-12-31".to_string()), "{parts:?}");
    // i64 extremes have no calendar day (beyond ±5.8 million years): they keep their raw
    // times and land in the null partition, which dated KPIs never read.
    assert_eq!(
        parts,
        [
            "dt=1969-12-31",
            "dt=2554-07-21",
            "dt=__HIVE_DEFAULT_PARTITION__"
        ],
        "no other partition"
    );
}
