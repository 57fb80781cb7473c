use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
use opentelemetry_proto::tonic::common::v1::KeyValue as OtlpKv;
use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

use super::*;

#[test]
fn sdk_times_become_the_ms_their_otlp_nanoseconds_give() {
    // The SDK route computes ms from the SystemTime; the bridge gets the same instant as
    // saturated u64 ns. Both must agree, down to the edges.
    let nanos = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    };
    let last = u64::MAX / 1_000_000_000;
    for d in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_micros(500),
        Duration::from_millis(1_764_226_800_123),
        Duration::new(last - 1, 999_999_999),
        Duration::new(last, 0),
        Duration::new(last, 709_551_615),
        Duration::new(last, 709_551_616),
        Duration::new(last + 1, 0),
        Duration::from_secs(u64::MAX / 4),
    ] {
        let t = UNIX_EPOCH + d;
        assert_eq!(system_time_ms(t), nanos_to_ms(nanos(t)), "{d:?}");
    }
    assert_eq!(system_time_ms(UNIX_EPOCH - Duration::from_secs(1)), None);
}

fn sdk_span(attrs: Vec<KeyValue>, status: Status) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes([0xab; 16]),
            SpanId::from_bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed("_get_table_metadata"),
        start_time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        end_time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_456),
        attributes: attrs,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: Default::default(),
    }
}

fn base_attrs() -> Vec<KeyValue> {
    vec![
        KeyValue::new(key::COMMAND, "_get_table_metadata"),
        KeyValue::new(key::ENDUSER_ID, "ada@example.com"),
        KeyValue::new(
            key::KEYWORD_ARGS_JSON,
            r#"{"table_key":"hive://gold.core/rides","index":0}"#,
        ),
        KeyValue::new(key::OUTPUT, r#"{"ok":true}"#),
    ]
}

fn otlp_str(k: &str, v: &str) -> OtlpKv {
    OtlpKv {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

#[test]
fn sdk_span_converts_by_the_convention() {
    let c = convert(
        &sdk_span(base_attrs(), Status::Unset),
        Some("res-host"),
        &ConvertOptions::default(),
    )
    .unwrap()
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let a = c.action;
    assert_eq!(a.command.as_deref(), Some("_get_table_metadata"));
    assert_eq!(a.user.as_deref(), Some("ada@example.com"));
    assert_eq!(a.host_name.as_deref(), Some("res-host"));
    assert_eq!(a.start_epoch_ms, Some(1_700_000_000_123));
    assert_eq!(a.end_epoch_ms, Some(1_700_000_000_456));
    assert_eq!(
        a.trace_id.as_deref(),
        Some("abababababababababababababababab")
    );
    assert_eq!(a.span_id.as_deref(), Some("0123456789abcdef"));
    assert_eq!(a.output.unwrap().value, r#"{"ok":true}"#);
    assert!(a.error.is_none());
    assert!(a.pos_args_json.is_none());
}

#[test]
fn spans_without_the_command_attribute_are_not_actions() {
    let span = sdk_span(vec![KeyValue::new(key::ENDUSER_ID, "x")], Status::Unset);
    assert_eq!(convert(&span, None, &ConvertOptions::default()), Ok(None));
}

#[test]
fn span_host_wins_over_resource_host_and_user_id_is_accepted() {
    let span = sdk_span(
        vec![
            KeyValue::new(key::COMMAND, "c"),
            KeyValue::new(key::USER_ID, "bob"),
            KeyValue::new(key::HOST_NAME, "span-host"),
        ],
        Status::Unset,
    );
    let a = convert(&span, Some("res-host"), &ConvertOptions::default())
        .unwrap()
        .unwrap()
        .action;
    assert_eq!(a.host_name.as_deref(), Some("span-host"));
    assert_eq!(a.user.as_deref(), Some("bob"));
}

#[test]
fn error_text_comes_from_exception_attributes_then_event_then_status() {
    let mut attrs = base_attrs();
    attrs.push(KeyValue::new(key::EXCEPTION_TYPE, "ValueError"));
    attrs.push(KeyValue::new(key::EXCEPTION_MESSAGE, "bad key"));
    attrs.push(KeyValue::new(key::EXCEPTION_STACKTRACE, "at line 1"));
    let a = convert(
        &sdk_span(attrs, Status::error("boom")),
        None,
        &ConvertOptions::default(),
    )
    .unwrap()
    .unwrap()
    .action;
    assert_eq!(a.error.unwrap().value, "ValueError: bad key\nat line 1");

    let mut span = sdk_span(base_attrs(), Status::error("boom"));
    span.events.events.push(opentelemetry::trace::Event::new(
        "exception",
        UNIX_EPOCH,
        vec![
            KeyValue::new(key::EXCEPTION_TYPE, "KeyError"),
            KeyValue::new(key::EXCEPTION_MESSAGE, "'x'"),
        ],
        0,
    ));
    let a = convert(&span, None, &ConvertOptions::default())
        .unwrap()
        .unwrap()
        .action;
    assert_eq!(a.error.unwrap().value, "KeyError: 'x'");

    let a = convert(
        &sdk_span(base_attrs(), Status::error("boom")),
        None,
        &ConvertOptions::default(),
    )
    .unwrap()
    .unwrap()
    .action;
    assert_eq!(a.error.unwrap().value, "boom");

    let a = convert(
        &sdk_span(base_attrs(), Status::error("")),
        None,
        &ConvertOptions::default(),
    )
    .unwrap()
    .unwrap()
    .action;
    assert_eq!(a.error.unwrap().value, "error");
}

#[test]
fn exception_attributes_without_error_status_are_not_an_error() {
    let mut attrs = base_attrs();
    attrs.push(KeyValue::new(key::EXCEPTION_MESSAGE, "handled"));
    let a = convert(
        &sdk_span(attrs, Status::Ok),
        None,
        &ConvertOptions::default(),
    )
    .unwrap()
    .unwrap()
    .action;
    assert!(a.error.is_none());
}

#[test]
fn wrong_types_are_rendered_as_text_with_warnings() {
    let span = sdk_span(
        vec![
            KeyValue::new(key::COMMAND, 42_i64),
            KeyValue::new(key::ENDUSER_ID, 7_i64),
            KeyValue::new(key::KEYWORD_ARGS_JSON, 1.5_f64),
            KeyValue::new(key::OUTPUT, true),
            KeyValue::new(
                key::POS_ARGS_JSON,
                Value::Array(Array::String(vec!["a".into(), "b".into()])),
            ),
        ],
        Status::Unset,
    );
    let c = convert(&span, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(c.action.command.as_deref(), Some("42"));
    assert_eq!(c.action.user.as_deref(), Some("7"));
    assert_eq!(c.action.keyword_args_json.unwrap().value, "1.5");
    assert_eq!(c.action.output.unwrap().value, "true");
    assert_eq!(c.action.pos_args_json.unwrap().value, r#"["a","b"]"#);
    assert_eq!(
        c.warnings
            .iter()
            .filter(|w| w.reason() == "wrong_type")
            .count(),
        5
    );
}

#[test]
fn invalid_json_is_kept_verbatim_with_a_warning() {
    let span = sdk_span(
        vec![
            KeyValue::new(key::COMMAND, "c"),
            KeyValue::new(key::ENDUSER_ID, "u"),
            KeyValue::new(key::KEYWORD_ARGS_JSON, "{not json"),
        ],
        Status::Unset,
    );
    let c = convert(&span, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(c.action.keyword_args_json.unwrap().value, "{not json");
    assert_eq!(
        c.warnings,
        vec![ConvertWarning::InvalidJson {
            key: key::KEYWORD_ARGS_JSON
        }]
    );
}

/// `span` as actionlog's own tracer would have made it.
fn from_actionlog(mut span: SpanData) -> SpanData {
    span.instrumentation_scope = crate::action::scope();
    span
}

#[test]
fn a_foreign_tracer_named_actionlog_is_not_trusted() {
    // Another tracer may be named `actionlog` (a user's `provider.tracer("actionlog")`, a
    // tracing layer named after the project): its JSON is parsed and redacted.
    let span = |scope: opentelemetry::InstrumentationScope| {
        let mut s = sdk_span(
            vec![
                KeyValue::new(key::COMMAND, "c"),
                KeyValue::new(key::ENDUSER_ID, "u"),
                KeyValue::new(key::KEYWORD_ARGS_JSON, r#"{"password":"hunter2"}"#),
            ],
            Status::Unset,
        );
        s.instrumentation_scope = scope;
        s
    };
    let forged_token = opentelemetry::InstrumentationScope::builder(key::SCOPE_NAME)
        .with_attributes([KeyValue::new(key::TRACER_TOKEN, 12345_i64)])
        .build();
    for scope in [
        opentelemetry::InstrumentationScope::builder(key::SCOPE_NAME).build(),
        opentelemetry::InstrumentationScope::builder(key::SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
        forged_token,
    ] {
        let c = convert(&span(scope), None, &ConvertOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            c.action.keyword_args_json.unwrap().value,
            r#"{"password":"[REDACTED]"}"#
        );
        assert_eq!(
            c.warnings,
            vec![ConvertWarning::Redacted {
                key: key::KEYWORD_ARGS_JSON
            }]
        );
    }
    // The decorator's own scope is trusted (its JSON was redacted as it was written).
    let own = convert(
        &span(crate::action::scope()),
        None,
        &ConvertOptions::default(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        own.action.keyword_args_json.unwrap().value,
        r#"{"password":"hunter2"}"#,
        "trusted: not parsed again (the decorator would never have written this)"
    );
}

#[test]
fn actionlogs_own_json_is_not_parsed_again_unless_other_patterns_apply() {
    let span = from_actionlog(sdk_span(
        vec![
            KeyValue::new(key::COMMAND, "c"),
            KeyValue::new(key::ENDUSER_ID, "u"),
            // Cannot come from serde_json; stands for text a parse would refuse.
            KeyValue::new(key::POS_ARGS_JSON, "[not json"),
            KeyValue::new(key::KEYWORD_ARGS_JSON, r#"{"options":{"user_ssn":"1"}}"#),
            KeyValue::new(key::OUTPUT, r#"[{"SSN_hash":"abc","n":"\"ssn\":"}]"#),
        ],
        Status::Unset,
    ));
    // The default patterns: the decorator applied them as it wrote the text.
    let c = convert(&span, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(c.action.pos_args_json.unwrap().value, "[not json");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Other patterns: parsed and redacted like any span's JSON.
    let ssn = ConvertOptions {
        redactor: Redactor::new(["ssn"]),
        ..ConvertOptions::default()
    };
    let c = convert(&span, None, &ssn).unwrap().unwrap();
    assert_eq!(
        c.action.keyword_args_json.unwrap().value,
        r#"{"options":{"user_ssn":"[REDACTED]"}}"#
    );
    assert_eq!(
        c.action.output.unwrap().value,
        r#"[{"SSN_hash":"[REDACTED]","n":"\"ssn\":"}]"#
    );
    assert_eq!(
        c.warnings,
        vec![
            ConvertWarning::InvalidJson {
                key: key::POS_ARGS_JSON
            },
            ConvertWarning::Redacted {
                key: key::KEYWORD_ARGS_JSON
            },
            ConvertWarning::Redacted { key: key::OUTPUT },
        ]
    );
}

#[test]
fn ready_made_json_in_actionlogs_own_spans_is_checked() {
    let attrs = vec![
        KeyValue::new(key::COMMAND, "c"),
        KeyValue::new(key::ENDUSER_ID, "u"),
        KeyValue::new(key::KEYWORD_ARGS_JSON, "{not json"),
        KeyValue::new(key::JSON_UNCHECKED, true),
    ];
    let invalid = vec![ConvertWarning::InvalidJson {
        key: key::KEYWORD_ARGS_JSON,
    }];
    let own = from_actionlog(sdk_span(attrs.clone(), Status::Unset));
    let c = convert(&own, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(c.warnings, invalid);
    assert_eq!(c.action.keyword_args_json.unwrap().value, "{not json");
    // The marker says nothing to any other span, and is no part of the action.
    let mut other = sdk_span(attrs, Status::Unset);
    other.attributes.pop();
    let c = convert(other, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(c.warnings, invalid);
    // Turned off, the check stays off for every span.
    let off = ConvertOptions {
        validate_json: false,
        ..ConvertOptions::default()
    };
    assert!(
        convert(&own, None, &off)
            .unwrap()
            .unwrap()
            .warnings
            .is_empty()
    );
}

#[test]
fn secret_arguments_and_outputs_are_redacted_before_leaving() {
    let span = sdk_span(
        vec![
            KeyValue::new(key::COMMAND, "c"),
            KeyValue::new(key::ENDUSER_ID, "u"),
            KeyValue::new(
                key::KEYWORD_ARGS_JSON,
                r#"{"table_key":"t","options":{"api_key":"k-123"}}"#,
            ),
            KeyValue::new(key::OUTPUT, "session_token=abc"),
        ],
        Status::Unset,
    );
    let c = convert(&span, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    let kw: serde_json::Value =
        serde_json::from_str(&c.action.keyword_args_json.unwrap().value).unwrap();
    assert_eq!(
        kw,
        serde_json::json!({"table_key": "t", "options": {"api_key": "[REDACTED]"}})
    );
    assert_eq!(c.action.output.unwrap().value, REDACTED);
    assert_eq!(
        c.warnings,
        vec![
            ConvertWarning::Redacted {
                key: key::KEYWORD_ARGS_JSON
            },
            ConvertWarning::InvalidJson { key: key::OUTPUT },
            ConvertWarning::RedactedUnparsable { key: key::OUTPUT },
        ]
    );
}

#[test]
fn missing_user_is_converted_without_user() {
    let span = sdk_span(vec![KeyValue::new(key::COMMAND, "c")], Status::Unset);
    let c = convert(&span, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert!(c.action.user.is_none());
    assert_eq!(c.warnings, vec![ConvertWarning::MissingUser]);
}

#[test]
fn oversized_fields_are_cut_at_a_char_boundary_with_a_marker() {
    // 'é' is two bytes: a cap of 5 falls inside the third one.
    let big = format!("\"{}\"", "é".repeat(10));
    let span = sdk_span(
        vec![
            KeyValue::new(key::COMMAND, "c"),
            KeyValue::new(key::ENDUSER_ID, "u"),
            KeyValue::new(key::OUTPUT, big.clone()),
        ],
        Status::Unset,
    );
    let opts = ConvertOptions {
        max_field_bytes: 6,
        ..Default::default()
    };
    let c = convert(&span, None, &opts).unwrap().unwrap();
    let out = c.action.output.unwrap().value;
    assert_eq!(out, format!("\"éé{}", truncation_marker(5, big.len())));
    assert_eq!(
        c.warnings,
        vec![ConvertWarning::Truncated {
            key: key::OUTPUT,
            original_bytes: 22
        }]
    );
}

#[test]
fn ids_render_as_lower_case_hex_of_their_bytes() {
    let trace: Vec<u8> = (0x01..=0x10).collect();
    let t = checked_id(&trace, 16).unwrap();
    assert_eq!(t.to_hex(), "0102030405060708090a0b0c0d0e0f10");
    let s = checked_id(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1], 8).unwrap();
    assert_eq!(s.to_string(), "deadbeef00000001");
    let mut out = b"x".to_vec();
    s.push_hex(&mut out);
    t.push_hex(&mut out);
    assert_eq!(
        out,
        b"xdeadbeef000000010102030405060708090a0b0c0d0e0f10".to_vec()
    );
    assert!(checked_id(&[0; 8], 8).is_err(), "all zeros");
    assert!(checked_id(&trace[..12], 12).is_err(), "only 8 or 16 bytes");
    assert!(checked_id(&trace, 8).is_err(), "length mismatch");
}

#[test]
fn empty_command_and_bad_ids_are_errors() {
    let span = sdk_span(vec![KeyValue::new(key::COMMAND, "")], Status::Unset);
    assert_eq!(
        convert(&span, None, &ConvertOptions::default()),
        Err(ConvertError::EmptyCommand)
    );
    let otlp = OtlpSpan {
        trace_id: vec![1; 3],
        span_id: vec![1; 8],
        attributes: vec![otlp_str(key::COMMAND, "c")],
        ..Default::default()
    };
    assert!(matches!(
        convert(&otlp, None, &ConvertOptions::default()),
        Err(ConvertError::InvalidTraceId(_))
    ));
    let otlp = OtlpSpan {
        trace_id: vec![1; 16],
        span_id: vec![0; 8],
        attributes: vec![otlp_str(key::COMMAND, "c")],
        ..Default::default()
    };
    assert!(matches!(
        convert(&otlp, None, &ConvertOptions::default()),
        Err(ConvertError::InvalidSpanId(_))
    ));
}

#[test]
fn otlp_and_sdk_spans_convert_identically() {
    let mut attrs = base_attrs();
    attrs.push(KeyValue::new(key::EXCEPTION_TYPE, "E"));
    let sdk = sdk_span(attrs.clone(), Status::error("x"));
    let otlp = OtlpSpan {
        trace_id: vec![0xab; 16],
        span_id: vec![0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
        name: "_get_table_metadata".into(),
        start_time_unix_nano: 1_700_000_000_123_000_000,
        end_time_unix_nano: 1_700_000_000_456_999_999,
        attributes: attrs
            .iter()
            .map(|kv| otlp_str(kv.key.as_str(), &kv.value.as_str()))
            .collect(),
        status: Some(opentelemetry_proto::tonic::trace::v1::Status {
            message: "x".into(),
            code: StatusCode::Error as i32,
        }),
        ..Default::default()
    };
    let opts = ConvertOptions::default();
    assert_eq!(
        convert(&sdk, Some("h"), &opts).unwrap(),
        convert(&otlp, Some("h"), &opts).unwrap()
    );
}

#[test]
fn owned_and_borrowed_conversion_agree() {
    let mut attrs = base_attrs();
    attrs.push(KeyValue::new(key::HOST_NAME, 5_i64));
    let mut sdk = sdk_span(attrs.clone(), Status::error("boom"));
    sdk.events.events.push(opentelemetry::trace::Event::new(
        "exception",
        UNIX_EPOCH,
        vec![KeyValue::new(key::EXCEPTION_TYPE, "KeyError")],
        0,
    ));
    let opts = ConvertOptions::default();
    let borrowed = convert(&sdk, None, &opts).unwrap().unwrap();
    assert_eq!(borrowed.action.error.as_ref().unwrap().value, "KeyError");
    assert_eq!(borrowed.action.host_name.as_deref(), Some("5"));
    assert_eq!(convert(sdk, None, &opts).unwrap().unwrap(), borrowed);

    let otlp = OtlpSpan {
        trace_id: vec![0xab; 16],
        span_id: vec![1; 8],
        attributes: attrs
            .iter()
            .map(|kv| match &kv.value {
                Value::I64(i) => OtlpKv {
                    key: kv.key.to_string(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(*i)),
                    }),
                    ..Default::default()
                },
                v => otlp_str(kv.key.as_str(), &v.as_str()),
            })
            .collect(),
        ..Default::default()
    };
    let borrowed = convert(&otlp, None, &opts).unwrap().unwrap();
    assert_eq!(borrowed.action.host_name.as_deref(), Some("5"));
    assert_eq!(convert(otlp, None, &opts).unwrap().unwrap(), borrowed);
}

#[test]
fn otlp_times_of_zero_mean_absent_and_end_before_start_is_flagged() {
    let otlp = OtlpSpan {
        trace_id: vec![1; 16],
        span_id: vec![1; 8],
        attributes: vec![otlp_str(key::COMMAND, "c"), otlp_str(key::ENDUSER_ID, "u")],
        start_time_unix_nano: 0,
        end_time_unix_nano: 5_000_000,
        ..Default::default()
    };
    let c = convert(&otlp, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(c.action.start_epoch_ms, None);
    assert_eq!(c.action.end_epoch_ms, Some(5));

    let otlp = OtlpSpan {
        start_time_unix_nano: 9_000_000,
        end_time_unix_nano: 5_000_000,
        ..otlp
    };
    let c = convert(&otlp, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(c.warnings, vec![ConvertWarning::EndBeforeStart]);
}

#[test]
fn action_to_attributes_and_back_is_the_identity() {
    let action = UserAction {
        command: Some("_log_update_table_tags".into()),
        user: Some("ada@example.com".into()),
        host_name: Some("web-1".into()),
        start_epoch_ms: Some(1_700_000_000_123),
        end_epoch_ms: Some(1_700_000_000_456),
        pos_args_json: Some(LongString::new("[]")),
        keyword_args_json: Some(LongString::new(r#"{"tag":"pii","method":"PUT"}"#)),
        output: Some(LongString::new("null")),
        error: Some(LongString::new("PermissionError: nope")),
        trace_id: Some("abababababababababababababababab".into()),
        span_id: Some("0123456789abcdef".into()),
    };
    let span = sdk_span(span_attributes(&action), span_status(&action));
    let back = convert(&span, None, &ConvertOptions::default())
        .unwrap()
        .unwrap();
    assert!(back.warnings.is_empty());
    assert_eq!(back.action, action);
}
