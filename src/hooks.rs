//! Pre- and post-execution callbacks, the way Amundsen's action-log plugins hook in.
//!
//! Callbacks registered at start-up are called with the action record: once when the
//! action starts (no `end_epoch_ms`, `output` or `error`, like Amundsen's
//! `on_pre_execution`) and once when it ends (every field). A callback that returns an
//! error or panics is logged and skipped; it never breaks the call.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::proto::UserAction;

/// The error type callbacks may return.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

type Callback = Arc<dyn Fn(&UserAction) -> Result<(), CallbackError> + Send + Sync>;

#[derive(Default)]
struct Registry {
    pre: Vec<(String, Callback)>,
    post: Vec<(String, Callback)>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    pre: Vec::new(),
    post: Vec::new(),
});
/// Lets the hot path skip building records when nothing listens.
static ANY: AtomicBool = AtomicBool::new(false);

/// When a callback runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the call (Amundsen's `action_log.pre_exec.plugin`).
    PreExecution,
    /// After the call (Amundsen's `action_log.post_exec.plugin`).
    PostExecution,
}

/// Registers `callback` under `name` (used in log lines) for `phase`.
pub fn register(
    phase: Phase,
    name: impl Into<String>,
    callback: impl Fn(&UserAction) -> Result<(), CallbackError> + Send + Sync + 'static,
) {
    let mut reg = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
    let entry = (name.into(), Arc::new(callback) as Callback);
    match phase {
        Phase::PreExecution => reg.pre.push(entry),
        Phase::PostExecution => reg.post.push(entry),
    }
    ANY.store(true, Ordering::Release);
}

/// Removes every callback.
pub fn clear() {
    let mut reg = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
    reg.pre.clear();
    reg.post.clear();
    ANY.store(false, Ordering::Release);
}

/// Whether any callback is registered.
pub fn any_registered() -> bool {
    ANY.load(Ordering::Acquire)
}

/// Calls every callback of `phase` with `record`, isolating failures.
pub fn run(phase: Phase, record: &UserAction) {
    let callbacks: Vec<(String, Callback)> = {
        let reg = REGISTRY.read().unwrap_or_else(|p| p.into_inner());
        match phase {
            Phase::PreExecution => reg.pre.clone(),
            Phase::PostExecution => reg.post.clone(),
        }
    };
    for (name, cb) in callbacks {
        match catch_unwind(AssertUnwindSafe(|| cb(record))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(callback = %name, ?phase, error = %e, "action-log callback failed; ignored")
            }
            Err(p) => {
                tracing::warn!(callback = %name, ?phase, panic = panic_message(p.as_ref()), "action-log callback panicked; ignored")
            }
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
