//! What the fuzz targets share: the checks run on every input. Each check panics (a crash
//! libFuzzer reports) only when an invariant of ours breaks; bad input itself must come
//! back as an error.

use std::sync::{Arc, OnceLock};

use actionlog::codec::LengthDelimitedReader;
use actionlog::convert::{ConvertOptions, convert, otlp_resource_host};
use actionlog::proto::UserAction;
use actionlog::sink::NullSink;
use actionlog_bridge::{Ingest, Metrics};
use actionlog_kafka::{decode_value, encode_value};
use prost::Message;

/// One receiver body, through the receiver's own decoder, the bridge's ingest path (into a
/// discarding sink) and the conversion of every span on its own.
pub fn check_otlp_body(json: bool, data: &[u8]) {
    let Ok(req) = actionlog_bridge::http::decode_traces_body(json, data) else {
        return;
    };
    let spans: u64 = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum();

    // Conversion span by span: every action that converts must survive the wire.
    let opts = ConvertOptions::default();
    for rs in &req.resource_spans {
        let host = otlp_resource_host(rs.resource.as_ref());
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            if let Ok(Some(c)) = convert(span, host, &opts) {
                check_roundtrip(&c.action);
            }
        }
    }

    // The bridge's path, as a request would take it.
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    });
    let ingest = Ingest::new(
        Arc::new(NullSink::new()),
        ConvertOptions::default(),
        Arc::new(Metrics::new()),
    );
    let out = rt
        .block_on(ingest.ingest(req, "http"))
        .expect("an idle ingest path with a discarding sink accepts every request");
    assert_eq!(out.received, spans, "every span is counted as received");
    assert!(out.rejected >= 0 && out.rejected as u64 <= spans);
    assert!(out.converted <= spans);
}

/// An action encodes, decodes to itself, and renders as a JSON line.
pub fn check_roundtrip(action: &UserAction) {
    let bytes = action.encode_to_vec();
    let back = UserAction::decode(bytes.as_slice()).expect("our own encoding decodes");
    assert_eq!(&back, action, "protobuf round trip changed the action");
    let line = actionlog::json::to_json_line(action);
    assert!(!line.contains('\n'), "a JSON line holds no raw newline");
}

/// A length-delimited UserAction stream (files of the file sink, `actionlog decode`).
pub fn check_length_delimited(data: &[u8]) {
    let mut reader = LengthDelimitedReader::new(data).with_max_record_bytes(1 << 20);
    let mut last = 0;
    let mut failed = false;
    while let Some(record) = reader.next() {
        assert!(!failed, "nothing may follow an error: the framing is lost");
        match record {
            Ok(action) => check_roundtrip(&action),
            Err(_) => failed = true,
        }
        let offset = reader.offset();
        assert!(
            offset >= last && offset <= data.len() as u64,
            "offsets move forward within the input"
        );
        last = offset;
    }
}

/// A Kafka message value, plain protobuf or behind Schema Registry framing.
pub fn check_kafka_value(data: &[u8]) {
    if let Ok(action) = decode_value(data) {
        check_roundtrip(&action);
        for schema_id in [None, Some(7)] {
            let again =
                decode_value(&encode_value(&action, schema_id)).expect("a value we encode decodes");
            assert_eq!(again, action, "framing {schema_id:?} changed the action");
        }
    }
}
