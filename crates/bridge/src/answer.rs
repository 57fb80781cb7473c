//! The OTLP answers shared by the receivers and the bearer-token check: the success body of
//! an accepted request and the `google.rpc.Status` body of an error. One place, so gRPC,
//! HTTP and auth cannot drift apart (and no receiver imports another's helpers).

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use crate::IngestOutcome;

/// The OTLP response for an accepted request: `partial_success` when spans were rejected.
pub fn response_for(out: &IngestOutcome) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (out.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: out.rejected,
            error_message: out.message.clone(),
        }),
    }
}

/// The OTLP response for an accepted logs request: `partial_success` when log records were
/// rejected.
pub fn logs_response_for(out: &IngestOutcome) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: (out.rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: out.rejected,
            error_message: out.message.clone(),
        }),
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP error answers (details are not used).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
}

/// An OTLP/HTTP error body, `google.rpc.Status` with gRPC status `code`, in the request's
/// encoding (JSON or protobuf): its content type and bytes.
pub(crate) fn error_body(json: bool, code: i32, message: String) -> (&'static str, Vec<u8>) {
    if json {
        let body = serde_json::json!({ "code": code, "message": message });
        ("application/json", body.to_string().into_bytes())
    } else {
        (
            "application/x-protobuf",
            RpcStatus { code, message }.encode_to_vec(),
        )
    }
}
