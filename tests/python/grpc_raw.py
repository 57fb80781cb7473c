"""Sends raw bytes as an OTLP/gRPC TraceService/Export (or LogsService/Export) request, for
bad-input tests.

Usage: grpc_raw.py HOST:PORT HEX_BYTES [traces|logs]
Prints `<STATUS_CODE_NAME> <details>` on stdout.
"""

import sys

import grpc


def main():
    target, payload = sys.argv[1], bytes.fromhex(sys.argv[2])
    signal = sys.argv[3] if len(sys.argv) > 3 else "traces"
    method = {
        "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }[signal]
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            method,
            request_serializer=None,
            response_deserializer=None,
        )
        try:
            call(payload, timeout=10)
            print("OK")
        except grpc.RpcError as e:
            print(e.code().name, e.details())


if __name__ == "__main__":
    main()
