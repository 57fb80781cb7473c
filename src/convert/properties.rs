use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue as OtlpKv, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
use proptest::prelude::*;
use prost::Message;

use super::*;

fn any_value() -> impl Strategy<Value = Option<AnyValue>> {
    let leaf = prop_oneof![
        any::<String>().prop_map(any_value::Value::StringValue),
        any::<bool>().prop_map(any_value::Value::BoolValue),
        any::<i64>().prop_map(any_value::Value::IntValue),
        any::<f64>().prop_map(any_value::Value::DoubleValue),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(any_value::Value::BytesValue),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(|vs| {
            any_value::Value::ArrayValue(ArrayValue {
                values: vs
                    .into_iter()
                    .map(|v| AnyValue { value: Some(v) })
                    .collect(),
            })
        })
    });
    proptest::option::of(proptest::option::of(value).prop_map(|value| AnyValue { value }))
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(key::COMMAND.to_owned()),
        Just(key::ENDUSER_ID.to_owned()),
        Just(key::USER_ID.to_owned()),
        Just(key::HOST_NAME.to_owned()),
        Just(key::POS_ARGS_JSON.to_owned()),
        Just(key::KEYWORD_ARGS_JSON.to_owned()),
        Just(key::OUTPUT.to_owned()),
        Just(key::EXCEPTION_TYPE.to_owned()),
        Just(key::EXCEPTION_MESSAGE.to_owned()),
        Just(key::END_EPOCH_MS.to_owned()),
        any::<String>(),
    ]
}

/// Any OTLP log record: the action event's name or another, attributes as for spans, a
/// body that is nothing, text, or an earlier version's map (keys as that version wrote
/// them, and any others).
fn otlp_log() -> impl Strategy<Value = LogRecord> {
    let body_key = prop_oneof![
        Just("command".to_owned()),
        Just("user".to_owned()),
        Just("error".to_owned()),
        Just("start_epoch_ms".to_owned()),
        Just("end_epoch_ms".to_owned()),
        any::<String>(),
    ];
    let body = prop_oneof![
        Just(None),
        any::<String>().prop_map(|s| Some(any_value::Value::StringValue(s))),
        proptest::collection::vec((body_key, any_value()), 0..6).prop_map(|kvs| {
            Some(any_value::Value::KvlistValue(KeyValueList {
                values: kvs
                    .into_iter()
                    .map(|(key, value)| OtlpKv {
                        key,
                        value,
                        ..Default::default()
                    })
                    .collect(),
            }))
        }),
    ];
    (
        proptest::collection::vec((key(), any_value()), 0..12),
        proptest::collection::vec(any::<u8>(), 0..20),
        proptest::collection::vec(any::<u8>(), 0..10),
        (any::<u64>(), any::<u64>()),
        0i32..25,
        prop_oneof![Just(key::EVENT_NAME.to_owned()), any::<String>()],
        body,
    )
        .prop_map(
            |(attrs, trace_id, span_id, (time, observed), severity, event_name, body)| LogRecord {
                time_unix_nano: time,
                observed_time_unix_nano: observed,
                severity_number: severity,
                body: body.map(|value| AnyValue { value: Some(value) }),
                attributes: attrs
                    .into_iter()
                    .map(|(key, value)| OtlpKv {
                        key,
                        value,
                        ..Default::default()
                    })
                    .collect(),
                trace_id,
                span_id,
                event_name,
                ..Default::default()
            },
        )
}

/// The action as a log record of the OpenTelemetry SDK, as actionlog's logger emits it.
fn to_sdk_log_record(a: &UserAction) -> opentelemetry_sdk::logs::SdkLogRecord {
    use opentelemetry::logs::{AnyValue as Any, LogRecord as _, Logger as _, LoggerProvider as _};
    let otlp = otlp_log_record(a, key::EVENT_NAME, UNIX_EPOCH + Duration::from_secs(1));
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder().build();
    let mut r = provider.logger("test").create_log_record();
    r.set_event_name(key::EVENT_NAME);
    r.set_timestamp(UNIX_EPOCH + Duration::from_nanos(otlp.time_unix_nano));
    if otlp.severity_number >= 17 {
        r.set_severity_number(opentelemetry::logs::Severity::Error);
    }
    for kv in otlp.attributes {
        let v = match kv.value.and_then(|v| v.value) {
            Some(any_value::Value::StringValue(s)) => Any::from(s),
            Some(any_value::Value::IntValue(i)) => Any::from(i),
            other => panic!("unexpected attribute value {other:?}"),
        };
        r.add_attribute(kv.key, v);
    }
    let tid: [u8; 16] = otlp.trace_id.try_into().unwrap();
    let sid: [u8; 8] = otlp.span_id.try_into().unwrap();
    r.set_trace_context(TraceId::from_bytes(tid), SpanId::from_bytes(sid), None);
    r
}

fn otlp_span() -> impl Strategy<Value = OtlpSpan> {
    (
        proptest::collection::vec((key(), any_value()), 0..12),
        proptest::collection::vec(any::<u8>(), 0..20),
        proptest::collection::vec(any::<u8>(), 0..10),
        any::<u64>(),
        any::<u64>(),
        0i32..4,
        any::<String>(),
    )
        .prop_map(
            |(attrs, trace_id, span_id, start, end, code, message)| OtlpSpan {
                trace_id,
                span_id,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes: attrs
                    .into_iter()
                    .map(|(key, value)| OtlpKv {
                        key,
                        value,
                        ..Default::default()
                    })
                    .collect(),
                status: Some(opentelemetry_proto::tonic::trace::v1::Status { message, code }),
                ..Default::default()
            },
        )
}

fn text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>())
}

/// Valid actions: a non-empty command; times in whole ms after the epoch (a span has
/// both); JSON fields hold any text (conversion keeps text verbatim); an error, when
/// present, is not empty (see `span_status`).
fn valid_action() -> impl Strategy<Value = UserAction> {
    (
        "[a-z_]{1,20}",
        text(),
        text(),
        (1i64..4_000_000_000_000, 0i64..1_000_000),
        (text(), text(), text()),
        proptest::option::of(".{1,40}"),
        any::<[u8; 16]>().prop_filter("non-zero", |b| b.iter().any(|x| *x != 0)),
        any::<[u8; 8]>().prop_filter("non-zero", |b| b.iter().any(|x| *x != 0)),
    )
        .prop_map(
            |(command, user, host, (start, dur), (pos, kw, out), error, tid, sid)| UserAction {
                host_name: host,
                start_epoch_ms: Some(start),
                end_epoch_ms: Some(start + dur),
                pos_args_json: pos.map(LongString::new),
                keyword_args_json: kw.map(LongString::new),
                output: out.map(LongString::new),
                error: error.map(LongString::new),
                user,
                command: Some(command),
                trace_id: Some(hex_id(&tid, 16).unwrap()),
                span_id: Some(hex_id(&sid, 8).unwrap()),
            },
        )
}

fn to_span(a: &UserAction) -> SpanData {
    let bytes = |hex: &str| -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let tid: [u8; 16] = bytes(a.trace_id.as_deref().unwrap()).try_into().unwrap();
    let sid: [u8; 8] = bytes(a.span_id.as_deref().unwrap()).try_into().unwrap();
    let ms = |v: Option<i64>| UNIX_EPOCH + Duration::from_millis(v.unwrap() as u64);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(tid),
            SpanId::from_bytes(sid),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: a.command.clone().unwrap().into(),
        start_time: ms(a.start_epoch_ms),
        end_time: ms(a.end_epoch_ms),
        attributes: span_attributes(a),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: span_status(a),
        instrumentation_scope: Default::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn conversion_never_panics(span in otlp_span(), cap in 0usize..64) {
        let opts = ConvertOptions { max_field_bytes: cap, ..ConvertOptions::default() };
        let borrowed = convert(&span, Some("h"), &opts);
        let owned = convert(span, Some("h"), &opts);
        prop_assert_eq!(borrowed, owned);
    }

    /// The direct encoding writes exactly what prost writes for the converted action,
    /// and reports the same warnings.
    #[test]
    fn direct_encoding_matches_prost(span in otlp_span(), cap in 0usize..64, host in proptest::option::of(".{0,8}")) {
        let opts = ConvertOptions { max_field_bytes: cap, ..ConvertOptions::default() };
        let mut direct = Vec::new();
        let got = convert_encoded(&span, host.as_deref(), &opts, &mut direct);
        match convert(span, host.as_deref(), &opts) {
            Ok(Some(c)) => {
                let mut expected = Vec::new();
                crate::codec::encode_length_delimited(&c.action, &mut expected);
                prop_assert_eq!(got, Ok(Some(c.warnings)));
                prop_assert_eq!(direct, expected);
            }
            Ok(None) => {
                prop_assert_eq!(got, Ok(None));
                prop_assert!(direct.is_empty());
            }
            Err(e) => prop_assert_eq!(got, Err(e)),
        }
    }

    #[test]
    fn direct_encoding_of_valid_actions_decodes_back(action in valid_action()) {
        let opts = ConvertOptions {
            validate_json: false,
            redactor: Redactor::disabled(),
            ..ConvertOptions::default()
        };
        let mut buf = Vec::new();
        convert_encoded(to_span(&action), None, &opts, &mut buf).unwrap().unwrap();
        let back = UserAction::decode_length_delimited(buf.as_slice()).unwrap();
        prop_assert_eq!(back, action);
    }

    #[test]
    fn action_to_span_to_action_is_the_identity(action in valid_action()) {
        let opts = ConvertOptions {
            validate_json: false,
            redactor: Redactor::disabled(),
            ..ConvertOptions::default()
        };
        let back = convert(to_span(&action), None, &opts).unwrap().unwrap();
        prop_assert_eq!(back.action, action);
    }

    #[test]
    fn log_conversion_never_panics_and_encodes_as_prost(record in otlp_log(), cap in 0usize..64) {
        let opts = ConvertOptions { max_field_bytes: cap, ..ConvertOptions::default() };
        let mut direct = Vec::new();
        let got = convert_encoded(OtlpLogEvent::new(record.clone()), Some("h"), &opts, &mut direct);
        match convert(OtlpLogEvent::new(record), Some("h"), &opts) {
            Ok(Some(c)) => {
                let mut expected = Vec::new();
                crate::codec::encode_length_delimited(&c.action, &mut expected);
                prop_assert_eq!(got, Ok(Some(c.warnings)));
                prop_assert_eq!(direct, expected);
            }
            Ok(None) => {
                prop_assert_eq!(got, Ok(None));
                prop_assert!(direct.is_empty());
            }
            Err(e) => prop_assert_eq!(got, Err(e)),
        }
    }

    /// One action, three routes: the span, the OTLP log event the `otlp_log` sink writes,
    /// and the SDK log record actionlog's logger emits all give the same `UserAction` and
    /// the same warnings, with conversion's checks (JSON, redaction) on.
    #[test]
    fn span_and_log_events_give_the_same_action(action in valid_action()) {
        let opts = ConvertOptions::default();
        let from_span = convert(to_span(&action), None, &opts).unwrap().unwrap();
        let record = otlp_log_record(&action, key::EVENT_NAME, UNIX_EPOCH + Duration::from_secs(1));
        let from_event = convert(OtlpLogEvent::new(record), None, &opts).unwrap().unwrap();
        let sdk = to_sdk_log_record(&action);
        let scope = opentelemetry::InstrumentationScope::builder("other").build();
        let from_sdk = convert(SdkLogEvent::new(&sdk, &scope), None, &opts).unwrap().unwrap();
        prop_assert_eq!(&from_event, &from_span);
        prop_assert_eq!(&from_sdk, &from_span);
    }
}
