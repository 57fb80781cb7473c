//! The plain API for logging an action: what `#[action_log]` expands to, and what code that
//! cannot use the attribute calls directly.
//!
//! ```
//! use actionlog::ActionLog;
//!
//! fn get_table(table_key: &str, index: i64) -> String {
//!     let mut action = ActionLog::new("_get_table_metadata")
//!         .arg("table_key", &table_key)
//!         .arg("index", &index)
//!         .start();
//!     let page = format!("metadata of {table_key}");
//!     action.output(&page);
//!     action.finish();
//!     page
//! }
//! # get_table("hive://gold.core/rides", 0);
//! ```
//!
//! The span goes to the tracer set with [`set_tracer_provider`], or else to OpenTelemetry's
//! global tracer provider. An action dropped without [`ActionSpan::finish`] (an early
//! return, a cancelled future, a panic) still ends its span, recorded as an error.
//!
//! After [`set_logger_provider`], each action is emitted as a log event instead (the
//! log-event form of `docs/conventions.md`, one record when the action ends, in the trace
//! of the caller's span), or as well as a span when a tracer provider was set too: the two
//! then carry the same ids and convert to the same `UserAction`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Display;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::logs::SdkLogger;
use opentelemetry_sdk::trace::SdkTracer;
use serde::Serialize;

use crate::convention as key;
use crate::hooks::{self, Phase};
use crate::proto::{LongString, UserAction};
use crate::{redact, user};

// The SDK tracer itself rather than a `BoxedTracer`: a boxed tracer hands out boxed spans,
// which the context then boxes again; an SDK span is boxed once.
static TRACER: RwLock<Option<SdkTracer>> = RwLock::new(None);
/// Bumped on every change of `TRACER`.
static TRACER_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The logger of [`set_logger_provider`]. Shared rather than cloned per action: an
/// `SdkLogger` clone copies its instrumentation scope, attributes and all.
static LOGGER: RwLock<Option<Arc<SdkLogger>>> = RwLock::new(None);
/// Bumped on every change of `LOGGER`.
static LOGGER_GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's copy of `LOGGER`, as `LOCAL_TRACER` is of `TRACER`.
    static LOCAL_LOGGER: RefCell<(u64, Option<Arc<SdkLogger>>)> =
        const { RefCell::new((u64::MAX, None)) };
}

/// The logger of [`set_logger_provider`], from this thread's copy when it is current.
fn current_logger() -> Option<Arc<SdkLogger>> {
    let generation = LOGGER_GENERATION.load(Ordering::Acquire);
    let shared = || LOGGER.read().unwrap_or_else(|p| p.into_inner()).clone();
    LOCAL_LOGGER
        .try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return shared();
            };
            if local.0 != generation {
                *local = (generation, shared());
            }
            local.1.clone()
        })
        .unwrap_or_else(|_| shared())
}
/// Which providers were set: [`TRACER_SET`], [`LOGGER_SET`]. One load tells an action which
/// signals to emit, so the span-only default pays nothing for the log option.
static SIGNALS: AtomicU8 = AtomicU8::new(0);
const TRACER_SET: u8 = 1;
const LOGGER_SET: u8 = 2;

thread_local! {
    /// This thread's copy of `TRACER` and the generation it was taken at. Taking the shared
    /// lock on every action was a locked instruction per call, and a locked instruction
    /// waits for all of the call's pending stores (perf annotate of `ActionLog::start`).
    static LOCAL_TRACER: RefCell<(u64, Option<SdkTracer>)> =
        const { RefCell::new((u64::MAX, None)) };
}

thread_local! {
    static SIMULATED: std::cell::Cell<Option<(SystemTime, std::time::Duration)>> =
        const { std::cell::Cell::new(None) };
}

/// Runs `f` with a simulated clock on this thread: actions started inside it start at
/// `start` and end `latency` later, whatever the wall clock says. For traffic generators
/// and tests that replay history through the real path (decorator, span, exporter).
pub fn with_simulated_time<R>(
    start: SystemTime,
    latency: std::time::Duration,
    f: impl FnOnce() -> R,
) -> R {
    struct Restore(Option<(SystemTime, std::time::Duration)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SIMULATED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(SIMULATED.with(|c| c.replace(Some((start, latency)))));
    f()
}

fn clock_start() -> SystemTime {
    SIMULATED
        .with(|c| c.get())
        .map_or_else(SystemTime::now, |(start, _)| start)
}

fn clock_end() -> SystemTime {
    SIMULATED
        .with(|c| c.get())
        .map_or_else(SystemTime::now, |(start, latency)| start + latency)
}

/// The instrumentation scope of actionlog's own tracer. Besides its name, which any tracer
/// may take, it carries [`key::TRACER_TOKEN`]: a number drawn once per process that no other
/// code is handed, so that conversion can tell the decorator's spans (whose JSON it wrote and
/// redacted itself) from a foreign tracer that happens to be named `actionlog`.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(key::SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_attributes([KeyValue::new(key::TRACER_TOKEN, tracer_token())])
        .build()
}

/// This process's token of actionlog's own tracer (see [`scope`]).
fn tracer_token() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    static TOKEN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *TOKEN.get_or_init(|| {
        // std's RandomState is seeded from the OS's randomness: enough to make the token
        // unguessable by a tracer that was never handed it (nothing cryptographic rests on it).
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        h.finish() as i64
    })
}

/// Whether `scope` is actionlog's own tracer's in this process: the name *and* the token.
pub(crate) fn is_own_scope(scope: &InstrumentationScope) -> bool {
    scope.name() == key::SCOPE_NAME
        && scope.attributes().any(|kv| {
            kv.key.as_str() == key::TRACER_TOKEN && kv.value == Value::I64(tracer_token())
        })
}

/// Sends action spans to `provider` instead of the global tracer provider. Saves a global
/// look-up per call and lets a service keep action logs apart from its other tracing.
pub fn set_tracer_provider(provider: &opentelemetry_sdk::trace::SdkTracerProvider) {
    use opentelemetry::trace::TracerProvider as _;
    replace_tracer(Some(provider.tracer_with_scope(scope())));
}

/// Goes back to OpenTelemetry's global tracer provider.
///
/// Threads that logged actions hold a handle on the previous provider until their next
/// action or their exit, so end a provider with its `shutdown()` rather than by dropping it.
pub fn reset_tracer_provider() {
    replace_tracer(None);
}

/// Emits each action as a log event to `provider` (its logger named `actionlog`): instead
/// of a span, or as well as one when [`set_tracer_provider`] was called too.
///
/// Convert the events back with [`UserActionLogExporter`](crate::exporter::UserActionLogExporter)
/// in process, or send them over OTLP to `actionlog serve`.
pub fn set_logger_provider(provider: &opentelemetry_sdk::logs::SdkLoggerProvider) {
    use opentelemetry::logs::LoggerProvider as _;
    let logger = provider.logger_with_scope(scope());
    *LOGGER.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(logger));
    LOGGER_GENERATION.fetch_add(1, Ordering::Release);
    SIGNALS.fetch_or(LOGGER_SET, Ordering::AcqRel);
}

/// Stops emitting actions as log events: spans only again.
pub fn reset_logger_provider() {
    SIGNALS.fetch_and(!LOGGER_SET, Ordering::AcqRel);
    *LOGGER.write().unwrap_or_else(|p| p.into_inner()) = None;
    LOGGER_GENERATION.fetch_add(1, Ordering::Release);
    // This thread lets go of the old provider now; other threads do on their next action.
    let _ = LOCAL_LOGGER.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            *local = (u64::MAX, None);
        }
    });
}

fn replace_tracer(tracer: Option<SdkTracer>) {
    if tracer.is_some() {
        SIGNALS.fetch_or(TRACER_SET, Ordering::AcqRel);
    } else {
        SIGNALS.fetch_and(!TRACER_SET, Ordering::AcqRel);
    }
    let mut shared = TRACER.write().unwrap_or_else(|p| p.into_inner());
    *shared = tracer;
    TRACER_GENERATION.fetch_add(1, Ordering::Release);
    drop(shared);
    // This thread lets go of the old provider now; other threads do on their next action.
    let _ = LOCAL_TRACER.try_with(|local| {
        if let Ok(mut local) = local.try_borrow_mut() {
            *local = (u64::MAX, None);
        }
    });
}

/// What an action's span starts with. The `SpanBuilder` (~250 bytes) is made only where the
/// span starts, so the thread-local look-up below moves these 64 bytes instead of it.
struct SpanParts {
    name: Cow<'static, str>,
    start: SystemTime,
    attributes: Vec<KeyValue>,
}

impl SpanParts {
    fn builder(self) -> SpanBuilder {
        // A literal rather than the builder methods: `with_attributes` is an out-of-line
        // call that re-collects the vector and moves the whole builder twice.
        SpanBuilder {
            name: self.name,
            span_kind: Some(SpanKind::Server),
            start_time: Some(self.start),
            attributes: Some(self.attributes),
            ..SpanBuilder::default()
        }
    }
}

/// An action's span, owned by the action. Its context carries only the span's identity
/// (for the parent of spans started inside the action); the span itself stays out of it:
/// in a `Context` it is moved into a shared, locked cell, and every write to it (the
/// output, the end) takes that lock.
enum ActionOtelSpan {
    // Boxed: held inline, the ~450-byte span made every move of the action a large copy,
    // and that version measured no faster than a span inside the context (docs/benchmarks.md).
    Sdk(Box<opentelemetry_sdk::trace::Span>),
    Global(BoxedSpan),
    /// No span: the action is a log event only. Holds the caller's span context, the trace
    /// the event belongs to.
    Absent(SpanContext),
}

impl std::fmt::Debug for ActionOtelSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ActionOtelSpan")
            .field(self.span_context())
            .finish()
    }
}

impl ActionOtelSpan {
    fn span_context(&self) -> &SpanContext {
        match self {
            Self::Sdk(s) => s.span_context(),
            Self::Global(s) => s.span_context(),
            Self::Absent(sc) => sc,
        }
    }

    fn set_attribute(&mut self, kv: KeyValue) {
        match self {
            Self::Sdk(s) => s.set_attribute(kv),
            Self::Global(s) => s.set_attribute(kv),
            Self::Absent(_) => {}
        }
    }

    fn set_status(&mut self, status: Status) {
        match self {
            Self::Sdk(s) => s.set_status(status),
            Self::Global(s) => s.set_status(status),
            Self::Absent(_) => {}
        }
    }

    fn end_with_timestamp(&mut self, end: SystemTime) {
        match self {
            Self::Sdk(s) => s.end_with_timestamp(end),
            Self::Global(s) => s.end_with_timestamp(end),
            Self::Absent(_) => {}
        }
    }
}

/// Starts the span as a child of `parent` with the configured tracer (or the global one).
fn start_span(parts: SpanParts, parent: &Context) -> ActionOtelSpan {
    let generation = TRACER_GENERATION.load(Ordering::Acquire);
    let mut parts = Some(parts);
    let started = LOCAL_TRACER.try_with(|local| {
        // Busy (a span processor logging an action from inside `on_start`) or gone (thread
        // exit): the shared lock below serves.
        let mut local = local.try_borrow_mut().ok()?;
        if local.0 != generation {
            let shared = TRACER.read().unwrap_or_else(|p| p.into_inner()).clone();
            *local = (generation, shared);
        }
        let tracer = local.1.as_ref()?;
        let builder = parts.take()?.builder();
        Some(ActionOtelSpan::Sdk(Box::new(
            builder.start_with_context(tracer, parent),
        )))
    });
    if let Ok(Some(span)) = started {
        return span;
    }
    let builder = parts
        .expect("the parts are taken only by a span that started")
        .builder();
    if let Some(t) = TRACER.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return ActionOtelSpan::Sdk(Box::new(builder.start_with_context(t, parent)));
    }
    let global: BoxedTracer = opentelemetry::global::tracer_with_scope(scope());
    ActionOtelSpan::Global(builder.start_with_context(&global, parent))
}

thread_local! {
    /// One JSON buffer per thread. Arguments and output are serialised into it and copied
    /// out at their exact length: the SDK keeps attribute strings as `Box<str>`, which
    /// reallocates a `String` with spare room, so building in a fresh buffer cost two
    /// allocations and a copy per field instead of one of each.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The thread's JSON buffer, empty (a new one while another holds it).
fn take_scratch() -> Vec<u8> {
    let mut buf = SCRATCH.take();
    buf.clear();
    buf
}

/// Gives the buffer back, unless a huge value made it too big to keep around.
fn give_scratch(buf: Vec<u8>) {
    if buf.capacity() <= 64 * 1024 {
        SCRATCH.set(buf);
    }
}

/// The buffer's text as an exact-length `String`, and the buffer back to the thread.
fn scratch_into_string(buf: Vec<u8>) -> String {
    // serde_json only writes valid UTF-8.
    let text = std::str::from_utf8(&buf)
        .map(str::to_owned)
        .unwrap_or_default();
    give_scratch(buf);
    text
}

/// Builds a JSON object of keyword arguments, one argument at a time.
#[derive(Debug, Clone)]
pub struct KwArgs {
    buf: Vec<u8>,
}

impl Default for KwArgs {
    fn default() -> Self {
        Self::new()
    }
}

impl KwArgs {
    /// An empty object.
    pub fn new() -> Self {
        let mut buf = take_scratch();
        buf.reserve(128);
        buf.push(b'{');
        Self { buf }
    }

    /// Adds `name: value`. A value whose serialisation fails (a map with non-string keys,
    /// a `Serialize` impl that errors) is recorded as the string
    /// `"<unserializable: reason>"`, never a panic.
    pub fn push<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        // Writing JSON into a Vec<u8> cannot fail for a str key.
        let _ = serde_json::to_writer(&mut self.buf, name);
        self.buf.push(b':');
        self.push_value(redact::decorator_redactor().is_secret_key(name), value);
    }

    /// [`KwArgs::push`] for a name that needs no JSON escaping (a Rust identifier, as
    /// `#[action_log]` records): the name is copied as it is.
    pub fn push_ident<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        self.push_ident_known(name, value, redact::is_default_secret_key(name));
    }

    /// [`KwArgs::push_ident`] with the name's verdict under the default patterns decided
    /// already (at compile time, by `#[action_log]`: [`redact::is_default_secret_key`]).
    fn push_ident_known<T: Serialize + ?Sized>(
        &mut self,
        name: &str,
        value: &T,
        default_secret: bool,
    ) {
        let redactor = redact::decorator_redactor();
        let secret = if redactor.is_default() {
            default_secret
        } else {
            redactor.is_secret_key(name)
        };
        debug_assert!(
            !name
                .bytes()
                .any(|b| b == b'"' || b == b'\\' || b.is_ascii_control()),
            "{name:?} needs escaping"
        );
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.push_value(secret, value);
    }

    /// The value of a key, or [`redact::REDACTED`] for a `secret` key.
    fn push_value<T: Serialize + ?Sized>(&mut self, secret: bool, value: &T) {
        if secret {
            self.buf.extend_from_slice(b"\"");
            self.buf.extend_from_slice(redact::REDACTED.as_bytes());
            self.buf.push(b'"');
            return;
        }
        write_json(&mut self.buf, value);
    }

    /// The finished JSON object.
    pub fn finish(mut self) -> String {
        self.buf.push(b'}');
        scratch_into_string(self.buf)
    }
}

/// Serialises `value` as JSON text, or `"<unserializable: reason>"` (as a JSON string),
/// with the values of secret-looking keys redacted.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut buf = take_scratch();
    write_json(&mut buf, value);
    scratch_into_string(buf)
}

/// Appends `value` as JSON to `buf` (`"<unserializable: reason>"` when serialisation
/// fails), redacted by [`redact::decorator_redactor`]: the JSON leaves the call without
/// secrets, so no exporter on the provider sees them, and conversion need not look again.
fn write_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    let mark = buf.len();
    let keys = std::cell::Cell::new(false);
    let mut ser = serde_json::Serializer::with_formatter(&mut *buf, KeyWatch(&keys));
    if let Err(e) = value.serialize(&mut ser) {
        buf.truncate(mark);
        let _ = serde_json::to_writer(&mut *buf, &format!("<unserializable: {e}>"));
        return;
    }
    // Only a value with object keys can hold a secret one; most arguments have none, and
    // skip the redactor altogether.
    if keys.get() {
        let text = std::str::from_utf8(&buf[mark..]).unwrap_or_default();
        if let redact::Outcome::Redacted(clean) = redact::decorator_redactor().redact(text) {
            buf.truncate(mark);
            buf.extend_from_slice(clean.as_bytes());
        }
    }
}

/// serde_json's compact output, noting whether any object key was written.
struct KeyWatch<'a>(&'a std::cell::Cell<bool>);

impl serde_json::ser::Formatter for KeyWatch<'_> {
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.set(true);
        if first {
            Ok(())
        } else {
            writer.write_all(b",")
        }
    }
}

/// An action about to start: collects the command, the user and the arguments.
#[derive(Debug)]
#[must_use = "an ActionLog does nothing until `start` is called"]
pub struct ActionLog {
    command: Cow<'static, str>,
    user: Option<StringValue>,
    kwargs: Option<KwArgs>,
    kwargs_json: Option<String>,
    pos_args_json: Option<String>,
    function: Option<Cow<'static, str>>,
}

impl ActionLog {
    /// An action with this command (Amundsen's `command`: usually the handler's name).
    #[inline]
    pub fn new(command: impl Into<Cow<'static, str>>) -> Self {
        Self {
            command: command.into(),
            user: None,
            kwargs: None,
            kwargs_json: None,
            pos_args_json: None,
            function: None,
        }
    }

    /// Sets the user explicitly (skips the resolver chain of [`crate::user`]).
    #[inline]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(StringValue::from(user.into()));
        self
    }

    /// Sets the user if `Some`; with `None` the resolver chain applies.
    #[inline]
    pub fn user_opt(mut self, user: Option<String>) -> Self {
        if let Some(u) = user {
            self.user = Some(StringValue::from(u));
        }
        self
    }

    /// Sets the user to a string that lives for the whole program (a literal), without
    /// copying it.
    #[inline]
    pub fn user_static(mut self, user: &'static str) -> Self {
        self.user = Some(StringValue::from(user));
        self
    }

    /// Adds one keyword argument, serialised as JSON.
    #[inline]
    pub fn arg<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> Self {
        self.kwargs
            .get_or_insert_with(KwArgs::new)
            .push(name, value);
        self
    }

    /// [`ActionLog::arg`] for an argument whose name is a Rust identifier (what
    /// `#[action_log]` calls): the name goes into the JSON without an escaping pass.
    /// `secret` is [`redact::is_default_secret_key`] of `name`, which the macro computes at
    /// compile time (used while the decorator has the default patterns).
    #[doc(hidden)]
    #[inline]
    pub fn arg_ident<T: Serialize + ?Sized>(mut self, name: &str, value: &T, secret: bool) -> Self {
        self.kwargs
            .get_or_insert_with(KwArgs::new)
            .push_ident_known(name, value, secret);
        self
    }

    /// Sets the keyword arguments as ready-made JSON text (replaces [`ActionLog::arg`]s).
    #[inline]
    pub fn keyword_args_json(mut self, json: impl Into<String>) -> Self {
        self.kwargs_json = Some(json.into());
        self.kwargs = None;
        self
    }

    /// Sets the positional arguments as JSON array text.
    #[inline]
    pub fn pos_args_json(mut self, json: impl Into<String>) -> Self {
        self.pos_args_json = Some(json.into());
        self
    }

    /// Records the fully-qualified function name as `code.function.name`.
    #[inline]
    pub fn function(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.function = Some(name.into());
        self
    }

    /// Starts the action: opens its span (a child of the current context) and runs the
    /// pre-execution callbacks.
    pub fn start(self) -> ActionSpan {
        let start = clock_start();
        let user = self.user.or_else(user::current_user_value);
        let host = user::host_name();
        // Ready-made JSON text was not written by serde_json: conversion checks it again.
        let raw_json = self.kwargs_json.is_some() || self.pos_args_json.is_some();
        // Static texts for the empty cases: no allocation.
        let kwargs: StringValue = match (self.kwargs_json, self.kwargs) {
            (Some(json), _) => json.into(),
            (None, Some(kw)) => kw.finish().into(),
            (None, None) => "{}".into(),
        };
        let pos: StringValue = self.pos_args_json.map_or("[]".into(), StringValue::from);

        let pre_record = hooks::any_registered().then(|| {
            Box::new(UserAction {
                host_name: host.map(str::to_owned),
                start_epoch_ms: Some(epoch_ms(start)),
                end_epoch_ms: None,
                pos_args_json: Some(LongString::new(pos.as_str())),
                keyword_args_json: Some(LongString::new(kwargs.as_str())),
                output: None,
                error: None,
                user: user.as_ref().map(|u| u.as_str().to_owned()),
                command: Some(self.command.to_string()),
                trace_id: None,
                span_id: None,
            })
        });

        // One spare slot: the output attribute is added at the end. Attributes go in as a
        // whole array where they can: pushed one at a time, each was staged on the stack in
        // narrow stores and copied out with wide loads right behind them, a
        // store-forwarding stall per push (perf annotate of `start`); an array's copies
        // overlap.
        let mut attrs = Vec::with_capacity(7);
        let command = KeyValue::new(key::COMMAND, self.command.clone());
        let pos = KeyValue::new(key::POS_ARGS_JSON, Value::String(pos));
        let kwargs = KeyValue::new(key::KEYWORD_ARGS_JSON, Value::String(kwargs));
        match (user, host, self.function) {
            (Some(u), Some(h), Some(f)) => attrs.extend([
                command,
                KeyValue::new(key::ENDUSER_ID, Value::String(u)),
                KeyValue::new(key::HOST_NAME, h),
                pos,
                kwargs,
                KeyValue::new(key::CODE_FUNCTION_NAME, f),
            ]),
            (user, host, function) => {
                attrs.push(command);
                if let Some(u) = user {
                    attrs.push(KeyValue::new(key::ENDUSER_ID, Value::String(u)));
                }
                if let Some(h) = host {
                    attrs.push(KeyValue::new(key::HOST_NAME, h));
                }
                attrs.extend([pos, kwargs]);
                if let Some(f) = function {
                    attrs.push(KeyValue::new(key::CODE_FUNCTION_NAME, f));
                }
            }
        }

        if raw_json {
            attrs.push(KeyValue::new(key::JSON_UNCHECKED, true));
        }

        let parent = Context::current();
        let signals = SIGNALS.load(Ordering::Acquire);
        let logger = if signals & LOGGER_SET != 0 {
            current_logger()
        } else {
            None
        };
        let spans = logger.is_none() || signals & TRACER_SET != 0;
        let event = logger.map(|logger| {
            Box::new(PendingEvent {
                logger,
                start,
                attributes: if spans {
                    attrs.clone()
                } else {
                    std::mem::take(&mut attrs)
                },
            })
        });
        let (span, cx) = if spans {
            let parts = SpanParts {
                name: self.command,
                start,
                attributes: attrs,
            };
            let span = start_span(parts, &parent);
            let cx = parent.with_remote_span_context(span.span_context().clone());
            (span, cx)
        } else {
            // The body runs in the caller's context: there is no span to be a parent.
            let sc = parent.span().span_context().clone();
            (ActionOtelSpan::Absent(sc), parent)
        };

        if let Some(mut record) = pre_record {
            let sc = span.span_context();
            record.trace_id = Some(sc.trace_id().to_string());
            record.span_id = Some(sc.span_id().to_string());
            hooks::run(Phase::PreExecution, &record);
            return ActionSpan {
                span,
                cx,
                event,
                record: Some(record),
                output: None,
                raw_output: false,
                error: None,
                finished: false,
            };
        }
        ActionSpan {
            span,
            cx,
            event,
            record: None,
            output: None,
            raw_output: false,
            error: None,
            finished: false,
        }
    }
}

/// A started action. Record its output or error, then [`finish`](ActionSpan::finish) it.
#[derive(Debug)]
#[must_use = "an action ends when this is finished or dropped"]
pub struct ActionSpan {
    span: ActionOtelSpan,
    /// The caller's context with this span's identity as the active span.
    cx: Context,
    /// The log event to emit at the end, when a logger provider is set.
    event: Option<Box<PendingEvent>>,
    // Boxed: only callbacks need it, and inline it made every move of the span 200 bytes
    // longer.
    record: Option<Box<UserAction>>,
    output: Option<String>,
    /// The output is ready-made text (see [`key::JSON_UNCHECKED`]).
    raw_output: bool,
    error: Option<(String, String)>,
    finished: bool,
}

impl ActionSpan {
    /// A context whose active span is this action's: attach it (or use
    /// `opentelemetry::context::FutureExt::with_context`) so spans created inside the
    /// action become its children.
    ///
    /// The context carries the span's identity (its `SpanContext`), not the span itself:
    /// the action records its own output and error, and `cx.span()` on this context is a
    /// non-recording handle, so attributes or events set through it are not kept.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Moves the action's context out (for `#[action_log]`, which attaches it for the body):
    /// a clone would be an atomic increment and decrement per call, and the action no
    /// longer needs the context once it runs, since it holds its span itself. Afterwards
    /// [`ActionSpan::context`] is the empty context.
    #[doc(hidden)]
    #[inline]
    pub fn take_context(&mut self) -> Context {
        std::mem::take(&mut self.cx)
    }

    /// Records the output, serialised as JSON.
    pub fn output<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.output = Some(to_json(value));
        self.raw_output = false;
    }

    /// Records the output as ready-made JSON text.
    pub fn output_json(&mut self, json: impl Into<String>) {
        self.output = Some(json.into());
        self.raw_output = true;
    }

    /// Records that the action failed with an error of type `error_type`.
    pub fn error(&mut self, error_type: impl Into<String>, message: impl Into<String>) {
        self.error = Some((error_type.into(), message.into()));
    }

    /// Records `Ok` values as output (when `record_output`) and `Err`s as the error, with
    /// the error's `Display` text and its type name.
    pub fn result<T: Serialize, E: Display>(&mut self, result: &Result<T, E>, record_output: bool) {
        match result {
            Ok(v) if record_output => self.output(v),
            Ok(_) => {}
            Err(e) => self.error(std::any::type_name::<E>(), e.to_string()),
        }
    }

    /// Records a panic (from its payload) as the error.
    pub fn panicked(&mut self, payload: &(dyn std::any::Any + Send)) {
        self.error("panic", hooks::panic_message(payload).to_owned());
    }

    /// Ends the action: closes the span and runs the post-execution callbacks.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let end = clock_end();
        if let Some(event) = self.event.take() {
            event.emit(
                end,
                self.output.as_deref(),
                self.raw_output,
                self.error.as_ref(),
                self.span.span_context(),
            );
        }
        let span = &mut self.span;
        // The output is copied only when a post-execution callback needs it too.
        let output = if self.record.is_some() {
            self.output.clone()
        } else {
            self.output.take()
        };
        if let Some(out) = output {
            span.set_attribute(KeyValue::new(key::OUTPUT, out));
            if self.raw_output {
                span.set_attribute(KeyValue::new(key::JSON_UNCHECKED, true));
            }
        }
        if let Some((ty, msg)) = &self.error {
            span.set_attribute(KeyValue::new(key::EXCEPTION_TYPE, ty.clone()));
            span.set_attribute(KeyValue::new(key::EXCEPTION_MESSAGE, msg.clone()));
            span.set_status(Status::error(msg.clone()));
        }
        span.end_with_timestamp(end);
        if let Some(mut record) = self.record.take() {
            record.end_epoch_ms = Some(epoch_ms(end));
            record.output = self.output.take().map(LongString::new);
            record.error = self
                .error
                .take()
                .map(|(ty, msg)| LongString::new(format!("{ty}: {msg}")));
            hooks::run(Phase::PostExecution, &record);
        }
    }
}

impl Drop for ActionSpan {
    fn drop(&mut self) {
        if !self.finished {
            if self.error.is_none() {
                let why = if std::thread::panicking() {
                    "panicked"
                } else {
                    "dropped before completion (early exit or cancelled future)"
                };
                self.error = Some(("incomplete".to_owned(), why.to_owned()));
            }
            self.end();
        }
    }
}

/// An action's log event, waiting for the action to end.
#[derive(Debug)]
struct PendingEvent {
    logger: Arc<SdkLogger>,
    start: SystemTime,
    /// The attributes the span starts with (the same keys: one convention).
    attributes: Vec<KeyValue>,
}

impl PendingEvent {
    /// Emits the record: the start as its timestamp, the end, output and error as
    /// attributes, in the trace of `sc` (the action's span, or the caller's).
    fn emit(
        self,
        end: SystemTime,
        output: Option<&str>,
        raw_output: bool,
        error: Option<&(String, String)>,
        sc: &SpanContext,
    ) {
        use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, Severity};
        fn any(v: Value) -> AnyValue {
            match v {
                Value::String(s) => AnyValue::String(s),
                Value::Bool(b) => AnyValue::Boolean(b),
                Value::I64(i) => AnyValue::Int(i),
                Value::F64(f) => AnyValue::Double(f),
                other => AnyValue::String(other.to_string().into()),
            }
        }
        let mut r = self.logger.create_log_record();
        r.set_event_name(key::EVENT_NAME);
        r.set_timestamp(self.start);
        let (severity, text) = if error.is_some() {
            (Severity::Error, "ERROR")
        } else {
            (Severity::Info, "INFO")
        };
        r.set_severity_number(severity);
        r.set_severity_text(text);
        for kv in self.attributes {
            r.add_attribute(kv.key, any(kv.value));
        }
        if let Some(out) = output {
            r.add_attribute(key::OUTPUT, out.to_owned());
            if raw_output {
                r.add_attribute(key::JSON_UNCHECKED, true);
            }
        }
        if let Some((ty, msg)) = error {
            r.add_attribute(key::EXCEPTION_TYPE, ty.clone());
            r.add_attribute(key::EXCEPTION_MESSAGE, msg.clone());
        }
        r.add_attribute(key::END_EPOCH_MS, epoch_ms(end));
        if sc.is_valid() {
            r.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()));
        }
        self.logger.emit(r);
    }
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kwargs_build_a_json_object_and_survive_bad_values() {
        let mut kw = KwArgs::new();
        kw.push("search_term", "rides");
        kw.push("page_index", &0);
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        kw.push("bad", &bad);
        let json = kw.finish();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["search_term"], "rides");
        assert_eq!(v["page_index"], 0);
        assert!(v["bad"].as_str().unwrap().starts_with("<unserializable: "));
        assert_eq!(KwArgs::new().finish(), "{}");
    }

    #[test]
    fn texts_come_out_exact_and_the_buffer_is_reused_empty() {
        let long = "x".repeat(100_000);
        let out = to_json(&long);
        assert_eq!(out.len(), 100_002);
        assert_eq!(out.capacity(), out.len());
        // A huge value's buffer is not kept; the next text is built from scratch.
        assert_eq!(to_json(&25u64), "25");
        let mut outer = KwArgs::new();
        outer.push_ident("a", &1);
        // Nested use while `outer` holds the buffer.
        assert_eq!(to_json(&[1, 2]), "[1,2]");
        let mut inner = KwArgs::new();
        inner.push_ident("b", &2);
        assert_eq!(inner.finish(), r#"{"b":2}"#);
        let json = outer.finish();
        assert_eq!(json, r#"{"a":1}"#);
        assert_eq!(json.capacity(), json.len());
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        assert!(to_json(&bad).starts_with("\"<unserializable: "));
    }

    #[test]
    fn secret_looking_keys_are_redacted_as_the_json_is_written() {
        #[derive(Serialize)]
        struct Login<'a> {
            user: &'a str,
            #[serde(rename = "Password")]
            password: &'a str,
        }
        let mut kw = KwArgs::new();
        kw.push_ident("api_key", "k-1");
        kw.push("db password", &1);
        kw.push(
            "login",
            &Login {
                user: "ada",
                password: "hunter2",
            },
        );
        kw.push_ident("note", "my password: hunter2");
        let json = kw.finish();
        assert!(
            !json.contains("k-1") && json.matches("hunter2").count() == 1,
            "{json}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "api_key": "[REDACTED]",
                "db password": "[REDACTED]",
                "login": {"user": "ada", "Password": "[REDACTED]"},
                // A pattern in a value, not a key, is left alone.
                "note": "my password: hunter2",
            })
        );
        assert_eq!(
            to_json(&[serde_json::json!({"x": {"session_token": "t"}})]),
            r#"[{"x":{"session_token":"[REDACTED]"}}]"#
        );
        assert_eq!(
            to_json(&serde_json::json!({"a": 1, "b": [2]})),
            r#"{"a":1,"b":[2]}"#
        );
    }

    #[test]
    fn identifier_names_give_the_same_json_as_escaped_ones() {
        let (mut a, mut b) = (KwArgs::new(), KwArgs::new());
        for (name, value) in [
            ("table_key", "hive://a\"b"),
            ("r#type", "x"),
            ("größe", "y"),
        ] {
            a.push(name, value);
            b.push_ident(name, value);
        }
        assert_eq!(a.finish(), b.finish());
    }
}
