//! Who performed an action: explicit user, scoped user, resolver, or the OS user.
//!
//! Resolution order for an action that has no explicit `user`:
//! 1. the user set for the current scope by [`with_user`] (sync) or [`scope_user`] (async),
//!    which is how a web framework middleware hands the authenticated user down;
//! 2. the resolver installed with [`set_user_resolver`], if it returns `Some`;
//! 3. the operating-system user running the process, as Amundsen does without an auth
//!    method (`LOGNAME`, `USER`, `LNAME`, `USERNAME`, then the account database).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};

type Resolver = Arc<dyn Fn() -> Option<String> + Send + Sync>;

static RESOLVER: RwLock<Option<Resolver>> = RwLock::new(None);

thread_local! {
    static SCOPED: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Installs a resolver consulted when an action has no explicit or scoped user. It must be
/// cheap: it runs on every such call. Replaces any earlier resolver.
pub fn set_user_resolver(f: impl Fn() -> Option<String> + Send + Sync + 'static) {
    *RESOLVER.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(f));
}

/// Removes the resolver installed with [`set_user_resolver`].
pub fn clear_user_resolver() {
    *RESOLVER.write().unwrap_or_else(|p| p.into_inner()) = None;
}

struct Restore(Option<Arc<str>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let prev = self.0.take();
        SCOPED.with(|s| *s.borrow_mut() = prev);
    }
}

fn enter(user: Arc<str>) -> Restore {
    Restore(SCOPED.with(|s| s.borrow_mut().replace(user)))
}

/// Runs `f` with `user` as the current user of every action it logs on this thread.
pub fn with_user<R>(user: impl Into<Arc<str>>, f: impl FnOnce() -> R) -> R {
    let _restore = enter(user.into());
    f()
}

/// Wraps a future so that every action it logs (on whatever thread polls it) has `user`
/// as its user.
pub fn scope_user<F: Future>(user: impl Into<Arc<str>>, fut: F) -> UserScope<F> {
    UserScope {
        user: user.into(),
        fut,
    }
}

/// The future returned by [`scope_user`].
#[derive(Debug)]
pub struct UserScope<F> {
    user: Arc<str>,
    fut: F,
}

impl<F: Future> Future for UserScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of `self`, and `user`
        // is never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = enter(this.user.clone());
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

/// The user of the current scope, if one is set.
pub fn scoped_user() -> Option<Arc<str>> {
    SCOPED.with(|s| s.borrow().clone())
}

/// The operating-system user running this process (cached).
pub fn os_user() -> Option<&'static str> {
    static OS_USER: OnceLock<Option<String>> = OnceLock::new();
    OS_USER
        .get_or_init(|| {
            ["LOGNAME", "USER", "LNAME", "USERNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
                .or_else(|| whoami::username().ok())
        })
        .as_deref()
}

/// The host name of this machine (cached).
pub fn host_name() -> Option<&'static str> {
    static HOST: OnceLock<Option<String>> = OnceLock::new();
    HOST.get_or_init(|| whoami::hostname().ok()).as_deref()
}

/// Resolves the user for an action without an explicit one (see the module docs).
pub fn current_user() -> Option<String> {
    if let Some(u) = scoped_user() {
        return Some(u.to_string());
    }
    let resolver = RESOLVER.read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(r) = resolver
        && let Some(u) = r()
    {
        return Some(u);
    }
    os_user().map(str::to_owned)
}

/// [`current_user`] as an attribute value: a scoped user is shared, not copied, and the OS
/// user is a static string.
pub(crate) fn current_user_value() -> Option<opentelemetry::StringValue> {
    if let Some(u) = scoped_user() {
        return Some(u.into());
    }
    let resolver = RESOLVER.read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(r) = resolver
        && let Some(u) = r()
    {
        return Some(u.into());
    }
    os_user().map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_user_nests_and_restores() {
        assert_eq!(scoped_user(), None);
        with_user("outer", || {
            assert_eq!(scoped_user().as_deref(), Some("outer"));
            with_user("inner", || {
                assert_eq!(current_user().as_deref(), Some("inner"))
            });
            assert_eq!(scoped_user().as_deref(), Some("outer"));
        });
        assert_eq!(scoped_user(), None);
    }

    #[test]
    fn scope_user_applies_while_the_future_is_polled() {
        let got = futures::executor::block_on(scope_user("async-user", async { scoped_user() }));
        assert_eq!(got.as_deref(), Some("async-user"));
        assert_eq!(scoped_user(), None);
    }

    #[test]
    fn os_user_is_found() {
        assert!(os_user().is_some_and(|u| !u.is_empty()));
        assert!(host_name().is_some_and(|h| !h.is_empty()));
    }
}
