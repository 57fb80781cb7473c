//! Which OTLP answers may succeed if the same request is sent again: the rules of the OTLP
//! specification ("Failures" of OTLP/gRPC and OTLP/HTTP), in one place. The log-event sink
//! retries by them, and the bridge's receivers choose their answers by them (its tests hold
//! each answer to the retryability it means).

/// Whether a gRPC status `code` is worth retrying. `RESOURCE_EXHAUSTED` is retryable only
/// when the server says recovery is possible, which it does with status details (the
/// specification's `RetryInfo`): `has_details` is whether the status carried any.
pub fn grpc_retryable(code: tonic::Code, has_details: bool) -> bool {
    use tonic::Code::*;
    match code {
        Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable | DataLoss => true,
        ResourceExhausted => has_details,
        _ => false,
    }
}

/// Whether an HTTP status is worth retrying: 429, 502, 503 and 504.
pub fn http_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_retryable_answers() {
        use tonic::Code;
        for c in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::DataLoss,
        ] {
            assert!(grpc_retryable(c, false), "{c:?}");
        }
        for c in [
            Code::InvalidArgument,
            Code::Internal,
            Code::Unauthenticated,
            Code::PermissionDenied,
        ] {
            assert!(!grpc_retryable(c, false), "{c:?}");
        }
        assert!(
            !grpc_retryable(Code::ResourceExhausted, false),
            "final without RetryInfo"
        );
        assert!(
            grpc_retryable(Code::ResourceExhausted, true),
            "retryable with RetryInfo"
        );
        assert!(http_retryable(503) && http_retryable(429));
        assert!(!http_retryable(413) && !http_retryable(400) && !http_retryable(415));
    }
}
