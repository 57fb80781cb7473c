"""Sends action log events and other log records to an OTLP endpoint with the OpenTelemetry
Python SDK's logs API and its OTLP log exporters.

Used by crates/cli/tests/e2e/logs.rs as an independent, real client of `actionlog serve`:
each action is a log record with EventName `actionlog.user_action` and the convention's
attributes (docs/conventions.md, "Log events"), emitted inside a span so that it carries
the span's ids; failures carry the exception through the SDK's own `exception=`.

Usage: otlp_log_client.py grpc|http ENDPOINT [--gzip] [--actions N] [--others N]

Prints one JSON document on stdout: the actions it sent (command, user, ids, arguments,
times, whether it ended in an error). Exits 1 if any export failed.
"""

import json
import sys
import time

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

EVENT_NAME = "actionlog.user_action"


class Recording(LogRecordExporter):
    """Delegates to the real exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, batch):
        result = self.inner.export(batch)
        if result != LogRecordExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def make_exporter(protocol, endpoint, gzip):
    if protocol == "grpc":
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(
            endpoint=endpoint,
            insecure=True,
            compression=Compression.Gzip if gzip else None,
            timeout=10,
        )
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(
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

    resource = Resource.create({"service.name": "amundsen-frontend", "host.name": "py-host"})
    exporter = Recording(make_exporter(protocol, endpoint, gzip))
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=64))
    logger = provider.get_logger("amundsen.action_log")
    tracer = TracerProvider(resource=resource).get_tracer("amundsen.request")

    sent = []
    for i in range(n_actions):
        command = "_get_table_metadata" if i % 2 == 0 else "_search_resources"
        kwargs = {"table_key": f"hive://gold.core/t{i}", "index": i, "source": "search_results"}
        start_ns = time.time_ns()
        end_ms = start_ns // 1_000_000 + 7
        failed = i == n_actions - 1
        attributes = {
            "action_log.command": command,
            "enduser.id": f"user{i}@example.com",
            "action_log.pos_args_json": "[]",
            "action_log.keyword_args_json": json.dumps(kwargs),
            "action_log.end_epoch_ms": end_ms,
        }
        exception = None
        if failed:
            try:
                raise KeyError("missing")
            except KeyError as e:
                exception = e
        else:
            attributes["action_log.output"] = json.dumps({"ok": True})
        with tracer.start_as_current_span("GET /api/metadata") as span:
            logger.emit(
                timestamp=start_ns,
                severity_number=SeverityNumber.ERROR if failed else SeverityNumber.INFO,
                attributes=attributes,
                event_name=EVENT_NAME,
                exception=exception,
            )
            ctx = span.get_span_context()
        sent.append(
            {
                "command": command,
                "user": f"user{i}@example.com",
                "keyword_args_json": json.dumps(kwargs),
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "start_epoch_ms": start_ns // 1_000_000,
                "end_epoch_ms": end_ms,
                "error": failed,
            }
        )
        # Other log records interleaved, one of them with an action's attributes but no
        # event name: they must not come out as actions.
        if i < n_others:
            logger.emit(severity_number=SeverityNumber.INFO, body=f"request {i} served")
            logger.emit(
                severity_number=SeverityNumber.INFO,
                body="audit",
                attributes={"action_log.command": command},
                event_name="app.audit" if i % 2 else None,
            )

    provider.shutdown()
    json.dump({"actions": sent, "failures": exporter.failures}, sys.stdout)
    sys.exit(1 if exporter.failures else 0)


if __name__ == "__main__":
    main()
