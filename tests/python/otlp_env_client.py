"""Sends one action span per user with the OpenTelemetry Python SDK, configured only by the
standard OTEL_EXPORTER_OTLP_* environment variables (endpoint, headers, certificate), the way
an operator would configure a service.

Used by tests/integration/security.rs to check TLS and bearer-token authentication of
`actionlog serve` with a real client.

Usage: otlp_env_client.py grpc|http USER [USER...]

Prints one JSON document on stdout: {"exported": bool, "failures": n}.
"""

import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class Recording(SpanExporter):
    """Delegates to the real exporter and counts failed exports."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()


def main():
    protocol, users = sys.argv[1], sys.argv[2:]
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    exporter = Recording(OTLPSpanExporter())
    provider = TracerProvider(resource=Resource.create({"service.name": "secure-client"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("amundsen.action_log")
    for user in users:
        with tracer.start_as_current_span("_get_table_metadata") as span:
            span.set_attribute("action_log.command", "_get_table_metadata")
            span.set_attribute("enduser.id", user)
            span.set_attribute("action_log.keyword_args_json", '{"table_uri": "hive://gold.core/orders"}')
    provider.shutdown()
    print(json.dumps({"exported": exporter.failures == 0, "failures": exporter.failures}))


if __name__ == "__main__":
    main()
