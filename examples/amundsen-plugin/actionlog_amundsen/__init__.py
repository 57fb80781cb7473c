"""Amundsen ``action_log`` plugin: every action record becomes an OpenTelemetry span that
follows the actionlog convention, exported over OTLP to ``actionlog serve`` (the bridge),
which turns it into a ``UserAction`` event.

Amundsen calls :func:`post_exec` with each ``ActionLogParams`` record after the handler ran
(fields: command, start_epoch_ms, end_epoch_ms, user, host_name, pos_args_json,
keyword_args_json, output, error). The span carries:

- name and ``action_log.command``: the command;
- start and end time: ``start_epoch_ms`` / ``end_epoch_ms``;
- ``enduser.id``: the user; ``host.name``: the host that served the request;
- ``action_log.pos_args_json``, ``action_log.keyword_args_json``, ``action_log.output``;
- an error: status ERROR with ``exception.type`` and ``exception.message``.

Configuration (environment variables, read once):

- ``ACTIONLOG_BRIDGE_ENDPOINT``: the bridge, default ``http://localhost:4317`` (gRPC) or
  ``http://localhost:4318/v1/traces`` (HTTP);
- ``ACTIONLOG_BRIDGE_PROTOCOL``: ``grpc`` (default) or ``http/protobuf``;
- ``OTEL_SERVICE_NAME``: the resource's ``service.name`` (default ``amundsen-frontend``).

The plugin has its own tracer provider, so it neither needs nor disturbs any OpenTelemetry
setup the application has. A callback must never break a request: errors are logged and
swallowed, and export happens on a background thread.
"""

import atexit
import json
import logging
import os
import threading

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

__all__ = ["post_exec", "flush", "shutdown", "record_to_span"]

LOGGER = logging.getLogger(__name__)

_lock = threading.Lock()
_provider = None
_tracer = None


def _exporter():
    protocol = os.environ.get("ACTIONLOG_BRIDGE_PROTOCOL", "grpc")
    endpoint = os.environ.get("ACTIONLOG_BRIDGE_ENDPOINT")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint or "http://localhost:4317", insecure=True)
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint or "http://localhost:4318/v1/traces")
    raise ValueError(f"ACTIONLOG_BRIDGE_PROTOCOL={protocol!r}: expected grpc or http/protobuf")


def _get_tracer():
    global _provider, _tracer
    with _lock:
        if _tracer is None:
            resource = Resource.create(
                {"service.name": os.environ.get("OTEL_SERVICE_NAME", "amundsen-frontend")}
            )
            _provider = TracerProvider(resource=resource)
            _provider.add_span_processor(BatchSpanProcessor(_exporter()))
            _tracer = _provider.get_tracer("actionlog_amundsen")
            atexit.register(shutdown)
        return _tracer


def _ms_to_ns(ms):
    return int(ms) * 1_000_000 if ms is not None else None


def _json_text(value):
    """Amundsen passes JSON text; anything else is rendered as JSON (or its repr)."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def record_to_span(tracer, record):
    """Emits the span for one ``ActionLogParams`` record (a finished action)."""
    command = getattr(record, "command", None)
    if not command:
        raise ValueError("action record without a command")
    attributes = {"action_log.command": str(command)}
    for attr, key in (("user", "enduser.id"), ("host_name", "host.name")):
        value = getattr(record, attr, None)
        if value is not None:
            attributes[key] = str(value)
    for attr, key in (
        ("pos_args_json", "action_log.pos_args_json"),
        ("keyword_args_json", "action_log.keyword_args_json"),
        ("output", "action_log.output"),
    ):
        value = _json_text(getattr(record, attr, None))
        if value is not None:
            attributes[key] = value
    error = getattr(record, "error", None)
    if error is not None:
        if isinstance(error, BaseException):
            attributes["exception.type"] = type(error).__name__
            attributes["exception.message"] = str(error)
        else:
            attributes["exception.message"] = str(error)
    start = _ms_to_ns(getattr(record, "start_epoch_ms", None))
    end = _ms_to_ns(getattr(record, "end_epoch_ms", None))
    span = tracer.start_span(str(command), start_time=start, attributes=attributes)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, str(error)))
    span.end(end_time=end)


def post_exec(action_log_params=None, **kwargs):
    """The ``action_log.post_exec.plugin`` callback. Never raises."""
    record = action_log_params if action_log_params is not None else kwargs.get("action_log_params")
    try:
        record_to_span(_get_tracer(), record)
    except Exception:  # noqa: BLE001 - a logging plugin must not break the request
        LOGGER.exception("actionlog_amundsen: cannot record the action")


def flush(timeout_millis=30000):
    """Exports every recorded action now; True when all were exported."""
    with _lock:
        provider = _provider
    return provider.force_flush(timeout_millis) if provider is not None else True


def shutdown():
    """Flushes and stops the exporter (also run at interpreter exit)."""
    global _provider, _tracer
    with _lock:
        provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()
