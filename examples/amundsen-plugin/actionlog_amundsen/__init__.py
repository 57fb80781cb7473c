"""Amundsen ``action_log`` plugin: every action record becomes an OpenTelemetry span (or a
log event) that follows the actionlog convention, exported over OTLP to ``actionlog serve``
(the bridge), which turns it into a ``UserAction`` event.

Amundsen calls :func:`post_exec` with each ``ActionLogParams`` record after the handler ran
(fields: command, start_epoch_ms, end_epoch_ms, user, host_name, pos_args_json,
keyword_args_json, output, error). The span carries:

- name and ``action_log.command``: the command;
- start and end time: ``start_epoch_ms`` / ``end_epoch_ms``;
- ``enduser.id``: the user; ``host.name``: the host that served the request;
- ``action_log.pos_args_json``, ``action_log.keyword_args_json``, ``action_log.output``;
- an error: status ERROR with ``exception.type`` and ``exception.message``.

With ``ACTIONLOG_BRIDGE_SIGNAL=logs`` the record is one log event instead (the convention's
log-event form), named ``actionlog.user_action``, with no body: the same attributes, its
timestamp the start, ``action_log.end_epoch_ms`` the end (ms), and an error as severity
ERROR with ``exception.message`` the whole error text (``"<type>: <message>"``, which the
bridge makes of a span's ``exception.type`` and ``exception.message``), so that both
signals give the same ``UserAction``. A log event has no span of its own, so it has no
trace or span id unless the application has a span active around the call. The keyword
form of ``Logger.emit`` it uses needs opentelemetry-sdk 1.38 or later.

Configuration (environment variables, read once):

- ``ACTIONLOG_BRIDGE_ENDPOINT``: the bridge, default ``http://localhost:4317`` (gRPC) or
  ``http://localhost:4318/v1/traces`` (HTTP; ``/v1/logs`` for the logs signal);
- ``ACTIONLOG_BRIDGE_PROTOCOL``: ``grpc`` (default) or ``http/protobuf``;
- ``ACTIONLOG_BRIDGE_SIGNAL``: ``traces`` (default, a span per action) or ``logs`` (a log
  event per action);
- ``OTEL_SERVICE_NAME``: the resource's ``service.name`` (default ``amundsen-frontend``).

The plugin has its own tracer (or logger) provider, so it neither needs nor disturbs any
OpenTelemetry setup the application has. A callback must never break a request: errors are
logged and swallowed, and export happens on a background thread.
"""

import atexit
import functools
import json
import logging
import os
import threading

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

__all__ = ["post_exec", "flush", "shutdown", "record_to_span", "record_to_log"]

LOGGER = logging.getLogger(__name__)

# The log-event form's name: the bridge takes a log record for an action by it alone.
EVENT_NAME = "actionlog.user_action"

_lock = threading.Lock()
# The tracer or logger provider of the configured signal, and the function that emits one
# record through it.
_provider = None
_emit = None


def _signal():
    signal = os.environ.get("ACTIONLOG_BRIDGE_SIGNAL", "traces")
    if signal not in ("traces", "logs"):
        raise ValueError(f"ACTIONLOG_BRIDGE_SIGNAL={signal!r}: expected traces or logs")
    return signal


def _exporter(signal):
    protocol = os.environ.get("ACTIONLOG_BRIDGE_PROTOCOL", "grpc")
    endpoint = os.environ.get("ACTIONLOG_BRIDGE_ENDPOINT")
    if protocol == "grpc":
        if signal == "logs":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

            return OTLPLogExporter(endpoint=endpoint or "http://localhost:4317", insecure=True)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint or "http://localhost:4317", insecure=True)
    if protocol == "http/protobuf":
        if signal == "logs":
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            return OTLPLogExporter(endpoint=endpoint or "http://localhost:4318/v1/logs")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint or "http://localhost:4318/v1/traces")
    raise ValueError(f"ACTIONLOG_BRIDGE_PROTOCOL={protocol!r}: expected grpc or http/protobuf")


def _get_emit():
    global _provider, _emit
    with _lock:
        if _emit is None:
            signal = _signal()
            # Before any provider exists: a bad setting must not leave one (and its exit
            # hook) behind on every call.
            exporter = _exporter(signal)
            resource = Resource.create(
                {"service.name": os.environ.get("OTEL_SERVICE_NAME", "amundsen-frontend")}
            )
            if signal == "logs":
                provider = LoggerProvider(resource=resource)
                provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
                emit = functools.partial(record_to_log, provider.get_logger("actionlog_amundsen"))
            else:
                provider = TracerProvider(resource=resource)
                provider.add_span_processor(BatchSpanProcessor(exporter))
                emit = functools.partial(record_to_span, provider.get_tracer("actionlog_amundsen"))
            _provider, _emit = provider, emit
            atexit.register(shutdown)
        return _emit


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


def _attributes(record):
    """The command and the attributes both signals share (no error, no times)."""
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
    return str(command), attributes


def _error_text(error):
    """The error as the bridge writes it for the span form (``exception.type`` and
    ``exception.message`` joined), so that the log form, which carries the text whole,
    converts to the same ``UserAction``."""
    if isinstance(error, BaseException):
        message = str(error)
        name = type(error).__name__
        return f"{name}: {message}" if message else name
    return str(error)


def record_to_span(tracer, record):
    """Emits the span for one ``ActionLogParams`` record (a finished action)."""
    command, attributes = _attributes(record)
    error = getattr(record, "error", None)
    if error is not None:
        if isinstance(error, BaseException):
            attributes["exception.type"] = type(error).__name__
            attributes["exception.message"] = str(error)
        else:
            attributes["exception.message"] = str(error)
    start = _ms_to_ns(getattr(record, "start_epoch_ms", None))
    end = _ms_to_ns(getattr(record, "end_epoch_ms", None))
    span = tracer.start_span(command, start_time=start, attributes=attributes)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, str(error)))
    span.end(end_time=end)


def record_to_log(logger, record):
    """Emits the log event for one ``ActionLogParams`` record (a finished action)."""
    _, attributes = _attributes(record)
    end_ms = getattr(record, "end_epoch_ms", None)
    if end_ms is not None:
        attributes["action_log.end_epoch_ms"] = int(end_ms)
    error = getattr(record, "error", None)
    if error is not None:
        attributes["exception.message"] = _error_text(error)
    logger.emit(
        timestamp=_ms_to_ns(getattr(record, "start_epoch_ms", None)),
        severity_number=SeverityNumber.ERROR if error is not None else SeverityNumber.INFO,
        severity_text="ERROR" if error is not None else "INFO",
        attributes=attributes,
        event_name=EVENT_NAME,
    )


def post_exec(action_log_params=None, **kwargs):
    """The ``action_log.post_exec.plugin`` callback. Never raises."""
    record = action_log_params if action_log_params is not None else kwargs.get("action_log_params")
    try:
        _get_emit()(record)
    except Exception:  # noqa: BLE001 - a logging plugin must not break the request
        LOGGER.exception("actionlog_amundsen: cannot record the action")


def flush(timeout_millis=30000):
    """Exports every recorded action now; True when all were exported."""
    with _lock:
        provider = _provider
    return provider.force_flush(timeout_millis) if provider is not None else True


def shutdown():
    """Flushes and stops the exporter (also run at interpreter exit)."""
    global _provider, _emit
    with _lock:
        provider, _provider, _emit = _provider, None, None
    if provider is not None:
        provider.shutdown()
