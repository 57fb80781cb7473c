//! The convention: how an action log is an OpenTelemetry span or log event.
//!
//! `docs/conventions.md` is the reference; these constants are its attribute keys, the
//! same for both signals. A span is an action log exactly when it carries [`COMMAND`]; a
//! log record exactly when its `EventName` is [`EVENT_NAME`].

/// Required; marks the span as an action log. The action's command (string).
pub const COMMAND: &str = "action_log.command";
/// JSON array of the positional arguments (string holding JSON).
pub const POS_ARGS_JSON: &str = "action_log.pos_args_json";
/// JSON object of the keyword arguments (string holding JSON).
pub const KEYWORD_ARGS_JSON: &str = "action_log.keyword_args_json";
/// JSON document of the output (string holding JSON).
pub const OUTPUT: &str = "action_log.output";
/// The user, as OpenTelemetry's semantic conventions name it (preferred).
pub const ENDUSER_ID: &str = "enduser.id";
/// The user, accepted as an alternative to [`ENDUSER_ID`].
pub const USER_ID: &str = "user.id";
/// The host that served the action; falls back to the resource's `host.name`.
pub const HOST_NAME: &str = "host.name";
/// The error's type (stable OpenTelemetry attribute).
pub const EXCEPTION_TYPE: &str = "exception.type";
/// The error's message (stable OpenTelemetry attribute).
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// The error's stack trace (stable OpenTelemetry attribute).
pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";
/// The `EventName` of a log record that is an action log (the log-event form of the
/// convention): one fixed name, with no dynamic values in it.
pub const EVENT_NAME: &str = "actionlog.user_action";
/// A log event's end time, in ms since the Unix epoch (integer). Spans have an end time
/// of their own; a log record has one timestamp, the start.
pub const END_EPOCH_MS: &str = "action_log.end_epoch_ms";
/// Name of the span event that carries exception attributes.
pub const EXCEPTION_EVENT: &str = "exception";
/// The fully-qualified function an action was recorded from (set by `#[action_log]`).
pub const CODE_FUNCTION_NAME: &str = "code.function.name";
/// Instrumentation scope name used by actionlog's own tracer.
pub const SCOPE_NAME: &str = "actionlog";
/// Attribute of actionlog's own tracer's instrumentation scope: a random number drawn once
/// per process. Only a span whose scope has the name [`SCOPE_NAME`] *and* this process's
/// token is trusted to carry JSON the decorator wrote and redacted (any tracer may be named
/// `actionlog`). Not part of the convention for other producers.
pub const TRACER_TOKEN: &str = "actionlog.tracer_token";
/// Set (to `true`) by actionlog's own tracer on a span whose JSON attributes include text
/// handed in ready-made ([`crate::ActionLog::keyword_args_json`] and the like) rather
/// than written by serde_json: conversion checks that text again. Not part of the
/// `UserAction`.
pub const JSON_UNCHECKED: &str = "action_log.json_unchecked";
