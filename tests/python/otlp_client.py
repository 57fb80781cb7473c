"""Sends action and non-action spans to an OTLP endpoint with the OpenTelemetry Python SDK.

Used by tests/integration/bridge.rs as an independent, real client of `actionlog serve`.

Usage: otlp_client.py grpc|http ENDPOINT [--gzip] [--actions N] [--others N]

Prints one JSON document on stdout: the actions it sent (command, user, ids, arguments, whether
it ended in an error). Exits 1 if any export failed.
"""

import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status, StatusCode


class Recording(SpanExporter):
    """Delegates to the real exporter and remembers whether every export succeeded."""

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

    def force_flush(self, timeout_millis=30000):
        return True


def make_exporter(protocol, endpoint, gzip):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from grpc import Compression

        return OTLPSpanExporter(
            endpoint=endpoint,
            insecure=True,
            compression=Compression.Gzip if gzip else None,
            timeout=10,
        )
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http import Compression

        return OTLPSpanExporter(
            endpoint=endpoint,
            compression=Compression.Gzip if gzip else Compression.NoCompression,
            timeout=10,
        )
    raise SystemExit(f"unknown protocol {protocol!r}")


def main():
    args = sys.argv[1:]
    protocol, endpoint = args[0], args[1]
    gzip = "--gzip" in args
    n_actions = int(args[args.index("--actions") + 1]) if "--actions" in args else 5
    n_others = int(args[args.index("--others") + 1]) if "--others" in args else 3

    exporter = Recording(make_exporter(protocol, endpoint, gzip))
    provider = TracerProvider(
        resource=Resource.create({"service.name": "amundsen-frontend", "host.name": "py-host"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=64))
    tracer = provider.get_tracer("amundsen.action_log")

    sent = []
    for i in range(n_actions):
        command = "_get_table_metadata" if i % 2 == 0 else "_search_resources"
        kwargs = {"table_key": f"hive://gold.core/t{i}", "index": i, "source": "search_results"}
        with tracer.start_as_current_span(command, record_exception=False, set_status_on_exception=False) as span:
            span.set_attribute("action_log.command", command)
            span.set_attribute("enduser.id", f"user{i}@example.com")
            span.set_attribute("action_log.pos_args_json", "[]")
            span.set_attribute("action_log.keyword_args_json", json.dumps(kwargs))
            failed = i == n_actions - 1
            if failed:
                try:
                    raise KeyError("missing")
                except KeyError as e:
                    span.record_exception(e)
                    span.set_status(Status(StatusCode.ERROR, str(e)))
            else:
                span.set_attribute("action_log.output", json.dumps({"ok": True}))
            ctx = span.get_span_context()
            sent.append(
                {
                    "command": command,
                    "user": f"user{i}@example.com",
                    "keyword_args_json": json.dumps(kwargs),
                    "trace_id": format(ctx.trace_id, "032x"),
                    "span_id": format(ctx.span_id, "016x"),
                    "error": failed,
                }
            )
        # Non-action spans interleaved: they must not come out as actions.
        if i < n_others:
            with tracer.start_as_current_span("GET /api/metadata") as other:
                other.set_attribute("http.route", "/api/metadata")

    provider.shutdown()
    json.dump({"actions": sent, "failures": exporter.failures}, sys.stdout)
    sys.exit(1 if exporter.failures else 0)


if __name__ == "__main__":
    main()
