//! The `#[action_log]` attribute of [actionlog](https://docs.rs/actionlog): the Rust
//! counterpart of Amundsen's `@action_logging` decorator.
//!
//! Use it through `actionlog::action_log`; the generated code calls into
//! `::actionlog::__private`, so this crate has no runtime code of its own.

use proc_macro::TokenStream;

mod attr;
mod expand;

/// Logs every call of the function as an action-log span (see actionlog's
/// `docs/conventions.md`).
///
/// - **command**: the function's name, or `#[action_log(command = "...")]`.
/// - **arguments**: recorded as a JSON object in `keyword_args_json`, keyed by name. Every
///   recorded argument must implement `serde::Serialize`; leave one out with
///   `skip(name, ...)`. `self` and non-identifier patterns are never recorded.
///   `pos_args_json` is `[]` (Rust has no positional/keyword split).
/// - **output**: the return value as JSON; `skip_output` leaves it out. For a function
///   returning `Result<T, E>` (by the written type's name), `Ok(t)` records `t` and `Err(e)`
///   records the error with `e`'s `Display` text and `E`'s type name (`E: Display`).
///   Functions returning `()` record no output.
/// - **panics** are recorded as an error, then resumed.
/// - **user**: `user = <expr>` (a `&str`, `String` or `Option` of them), else the resolver
///   chain of `actionlog::user` (scoped user, resolver, OS user).
/// - Works on `fn` and `async fn`; inside the call the action's span is the current
///   OpenTelemetry context, so spans created there are its children.
///
/// ```ignore
/// #[action_log(command = "_search_resources", skip(db), user = session.user.as_str())]
/// async fn search(db: &Db, session: &Session, search_term: String, page_index: u32)
///     -> Result<SearchResults, SearchError> { ... }
/// ```
#[proc_macro_attribute]
pub fn action_log(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse::<attr::Args>(args) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(f) => expand::expand(args, f).into(),
        Err(e) => {
            // Keep the user's code so rustc reports their real mistake, plus ours.
            let mut out: TokenStream = e.to_compile_error().into();
            out.extend(item);
            out
        }
    }
}
