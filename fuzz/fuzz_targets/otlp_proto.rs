//! OTLP/protobuf `ExportTraceServiceRequest` bodies → decode → conversion → ingest.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| actionlog_fuzz::check_otlp_body(false, data));
