//! Per-call and per-span costs of the core path (criterion).
//!
//! - `decorated_call`: an `#[action_log]` function (three small arguments, an output) with
//!   the SDK's batch processor and `UserActionExporter` behind it, sink discarding.
//! - `bare_otel_span`: the floor — an SDK span carrying the same attributes, same
//!   processor, a no-op exporter.
//! - `log_event/decorated_call_as_log_event`: the same decorated call emitted as a log
//!   event (`set_logger_provider`), the SDK's batch log processor and
//!   `UserActionLogExporter` behind it, sink discarding; `log_event/bare_otel_log_record`:
//!   its floor, an SDK log record with the same attributes, same processor, a no-op
//!   exporter.
//! - `convert_and_encode`: span data → encoded UserAction bytes (the exporter's work per
//!   span for a sink taking bytes), against `encode_only`: prost encoding of the same,
//!   already-built UserAction (both length-delimited, as the file sink writes them). The
//!   span is the decorator's; `convert_and_encode_foreign` is the same span from another
//!   tracer, whose JSON is parsed to check it.
//!   `convert_to_action_and_encode` is the route through an owned `UserAction`.
//!
//! Run: `cargo bench --bench core`. Results and method: docs/benchmarks.md.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use actionlog::convention as key;
use actionlog::convert::{ConvertOptions, convert, convert_encoded};
use actionlog::redact::Redactor;
use actionlog::sink::NullSink;
use actionlog::{UserActionExporter, action_log};
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use prost::Message;

// The allocator an application would run the exporter with (docs/benchmarks.md: glibc's
// serialises the exporter thread that frees what the caller allocated).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Default)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
struct Keep(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Keep {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn batch<E: SpanExporter + 'static>(exporter: E) -> SdkTracerProvider {
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(65_536)
        .with_max_export_batch_size(512)
        .with_scheduled_delay(Duration::from_millis(100))
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build(),
        )
        .build()
}

#[action_log(user = "ada@example.com")]
fn _get_table_metadata(table_key: &str, index: i64, source: &str) -> u64 {
    (table_key.len() + source.len()) as u64 + index as u64
}

/// One decorated call with the benchmark's arguments.
fn decorated_once() -> u64 {
    _get_table_metadata(
        black_box("hive://gold.core/rides"),
        black_box(3),
        black_box("search_results"),
    )
}

fn decorated(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    let sink = Arc::new(NullSink::new());
    let exporter = UserActionExporter::builder()
        .with_sink(sink.clone())
        .build()
        .unwrap();
    let provider = batch(exporter);
    actionlog::set_tracer_provider(&provider);
    g.bench_function("decorated_call", |b| b.iter(decorated_once));
    provider.shutdown().unwrap();
    actionlog::reset_tracer_provider();

    // Not a figure: the same call with the floor's no-op exporter, which splits the
    // figure's gap into the decorator's own work and the exporter's (on the other core).
    let provider = batch(NoopExporter);
    actionlog::set_tracer_provider(&provider);
    g.bench_function("decorated_call_noop_exporter", |b| b.iter(decorated_once));
    provider.shutdown().unwrap();
    actionlog::reset_tracer_provider();

    let provider = batch(NoopExporter);
    let tracer = provider.tracer("bench");
    let host = actionlog::user::host_name().unwrap_or("host");
    g.bench_function("bare_otel_span", |b| {
        b.iter(|| {
            let (t, i, s) = (
                black_box("hive://gold.core/rides"),
                black_box(3i64),
                black_box("search_results"),
            );
            let kw = format!(r#"{{"table_key":"{t}","index":{i},"source":"{s}"}}"#);
            let mut span = tracer
                .span_builder("_get_table_metadata")
                .with_kind(SpanKind::Server)
                .with_start_time(SystemTime::now())
                .with_attributes(vec![
                    KeyValue::new(key::COMMAND, "_get_table_metadata"),
                    KeyValue::new(key::ENDUSER_ID, "ada@example.com"),
                    KeyValue::new(key::HOST_NAME, host),
                    KeyValue::new(key::POS_ARGS_JSON, "[]"),
                    KeyValue::new(key::KEYWORD_ARGS_JSON, kw),
                    KeyValue::new(key::CODE_FUNCTION_NAME, "core::_get_table_metadata"),
                ])
                .start(&tracer);
            let out = (t.len() + s.len()) as u64 + i as u64;
            span.set_attribute(KeyValue::new(key::OUTPUT, out.to_string()));
            span.end_with_timestamp(SystemTime::now());
            out
        })
    });
    provider.shutdown().unwrap();
    g.finish();
}

fn conversion(c: &mut Criterion) {
    // Capture one real span from the decorator.
    let keep = Keep::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(keep.clone())
        .build();
    actionlog::set_tracer_provider(&provider);
    _get_table_metadata("hive://gold.core/rides", 3, "search_results");
    provider.shutdown().unwrap();
    actionlog::reset_tracer_provider();
    let span = keep.0.lock().unwrap().pop().unwrap();
    let opts = ConvertOptions::default();
    let action = convert(&span, None, &opts).unwrap().unwrap().action;

    let mut g = c.benchmark_group("span");
    let mut buf = Vec::with_capacity(1024);
    // Not a figure: the same span as another tracer (a `tracing` layer, the application's
    // own SDK spans) would hand it over, whose JSON conversion parses to check it; the
    // decorator's own JSON is serde_json's, redacted as it was written, and is not parsed
    // again.
    let mut foreign = span.clone();
    foreign.instrumentation_scope = Default::default();
    // Not a figure: the JSON check and redaction off, which splits the figure's gap into
    // screening the JSON and everything else.
    let unchecked = ConvertOptions {
        validate_json: false,
        redactor: Redactor::disabled(),
        ..ConvertOptions::default()
    };
    // What the exporter does for a sink that takes bytes (file, null): encode straight
    // from the span's attributes, length-delimited.
    for (name, span, opts) in [
        ("convert_and_encode", &span, &opts),
        ("convert_and_encode_foreign", &foreign, &opts),
        ("convert_and_encode_unchecked", &foreign, &unchecked),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                convert_encoded(black_box(span), None, opts, &mut buf)
                    .unwrap()
                    .unwrap();
                buf.len()
            })
        });
    }
    // The route through an owned UserAction (sinks that need one, such as Kafka's): from
    // the borrowed span, as the exporter converts, so the strings are copied.
    g.bench_function("convert_to_action_and_encode", |b| {
        b.iter(|| {
            buf.clear();
            let c = convert(black_box(&span), None, &opts).unwrap().unwrap();
            c.action.encode_length_delimited(&mut buf).unwrap();
            buf.len()
        })
    });
    g.bench_function("encode_only", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&action)
                .encode_length_delimited(&mut buf)
                .unwrap();
            buf.len()
        })
    });
    g.finish();
}

#[derive(Debug, Clone, Default)]
struct NoopLogExporter;

impl opentelemetry_sdk::logs::LogExporter for NoopLogExporter {
    async fn export(&self, _batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        Ok(())
    }
}

/// A logger provider with the batch log processor configured as the span benchmarks' one.
fn log_batch<E: opentelemetry_sdk::logs::LogExporter + 'static>(
    exporter: E,
) -> opentelemetry_sdk::logs::SdkLoggerProvider {
    use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(65_536)
        .with_max_export_batch_size(512)
        .with_scheduled_delay(Duration::from_millis(100))
        .build();
    SdkLoggerProvider::builder()
        .with_log_processor(
            BatchLogProcessor::builder(exporter)
                .with_batch_config(config)
                .build(),
        )
        .build()
}

fn log_events(c: &mut Criterion) {
    use opentelemetry::logs::{
        AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity,
    };
    let mut g = c.benchmark_group("log_event");
    let exporter = UserActionExporter::builder()
        .with_sink(Arc::new(NullSink::new()))
        .build_log_exporter()
        .unwrap();
    let provider = log_batch(exporter);
    actionlog::set_logger_provider(&provider);
    g.bench_function("decorated_call_as_log_event", |b| b.iter(decorated_once));
    provider.shutdown().unwrap();
    actionlog::reset_logger_provider();

    let provider = log_batch(NoopLogExporter);
    actionlog::set_logger_provider(&provider);
    g.bench_function("decorated_call_as_log_event_noop_exporter", |b| {
        b.iter(decorated_once)
    });
    provider.shutdown().unwrap();
    actionlog::reset_logger_provider();

    let provider = log_batch(NoopLogExporter);
    let logger = provider.logger("bench");
    let host = actionlog::user::host_name().unwrap_or("host");
    g.bench_function("bare_otel_log_record", |b| {
        b.iter(|| {
            let (t, i, s) = (
                black_box("hive://gold.core/rides"),
                black_box(3i64),
                black_box("search_results"),
            );
            let kw = format!(r#"{{"table_key":"{t}","index":{i},"source":"{s}"}}"#);
            let start = SystemTime::now();
            let out = (t.len() + s.len()) as u64 + i as u64;
            let mut r = logger.create_log_record();
            r.set_event_name(key::EVENT_NAME);
            r.set_timestamp(start);
            r.set_severity_number(Severity::Info);
            r.set_severity_text("INFO");
            r.add_attribute(key::COMMAND, "_get_table_metadata");
            r.add_attribute(key::ENDUSER_ID, "ada@example.com");
            r.add_attribute(key::HOST_NAME, AnyValue::from(host.to_owned()));
            r.add_attribute(key::POS_ARGS_JSON, "[]");
            r.add_attribute(key::KEYWORD_ARGS_JSON, kw);
            r.add_attribute(key::CODE_FUNCTION_NAME, "core::_get_table_metadata");
            r.add_attribute(key::OUTPUT, out.to_string());
            let end = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            r.add_attribute(key::END_EPOCH_MS, end);
            logger.emit(r);
            out
        })
    });
    provider.shutdown().unwrap();
    g.finish();
}

criterion_group!(benches, decorated, log_events, conversion);
criterion_main!(benches);
