//! Code generation for `#[action_log]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::attr::Args;

/// How the return value is recorded.
enum Output {
    None,
    Value,
    Result,
}

fn output_kind(ret: &ReturnType, skip_output: bool) -> Output {
    let ty = match ret {
        ReturnType::Default => return Output::None,
        ReturnType::Type(_, ty) => ty,
    };
    let is_result = matches!(&**ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Result"));
    let is_unit = matches!(&**ty, Type::Tuple(t) if t.elems.is_empty());
    match (is_result, is_unit || skip_output) {
        (true, _) => Output::Result,
        (false, true) => Output::None,
        (false, false) => Output::Value,
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    let s = quote!(#ty).to_string();
    s.contains("impl ")
}

pub(crate) fn expand(args: Args, func: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;

    let mut recorded: Vec<Ident> = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(pt) = input
            && let Pat::Ident(pi) = &*pt.pat
        {
            recorded.push(pi.ident.clone());
        }
    }
    let mut errors = TokenStream::new();
    for s in &args.skip {
        if !recorded.iter().any(|r| r == s) {
            errors.extend(
                syn::Error::new(
                    s.span(),
                    format!("`skip({s})`: this function has no argument named `{s}`"),
                )
                .to_compile_error(),
            );
        }
    }
    recorded.retain(|r| !args.skip.iter().any(|s| s == r));

    let fn_name = sig.ident.to_string();
    let command = match &args.command {
        Some(lit) => quote!(#lit),
        None => quote!(#fn_name),
    };
    let user = args.user.as_ref().map(|u| match u {
        // A literal lives as long as the program: recorded without a copy per call.
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => quote_spanned! {u.span()=>
            .user_static(#s)
        },
        _ => quote_spanned! {u.span()=>
            .user_opt(::actionlog::__private::IntoUser::into_user(#u))
        },
    });
    let arg_calls = recorded.iter().map(|name| {
        let key = name.to_string();
        quote_spanned! {name.span()=>
            .arg_ident(#key, ::actionlog::__private::recorded(&#name), {
                const SECRET: bool = ::actionlog::redact::is_default_secret_key(#key);
                SECRET
            })
        }
    });
    let starter = quote! {
        ::actionlog::__private::ActionLog::new(#command)
            .function(::core::concat!(::core::module_path!(), "::", #fn_name))
            #user
            #(#arg_calls)*
            .start()
    };

    let kind = output_kind(&sig.output, args.skip_output);
    let record_skip = args.skip_output;
    let record = match kind {
        Output::None => quote! { let _ = &__al_value; },
        Output::Value => quote! { __al_span.output(&__al_value); },
        Output::Result => {
            let record_output = !record_skip;
            quote! { __al_span.result(&__al_value, #record_output); }
        }
    };

    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !contains_impl_trait(ty) => Some(quote!(#ty)),
        ReturnType::Default => Some(quote!(())),
        _ => None,
    };

    // Records the outcome, ends the span, and hands back the value or resumes the panic.
    let settle = quote! {
        match __al_result {
            ::core::result::Result::Ok(__al_value) => {
                #record
                __al_span.finish();
                __al_value
            }
            ::core::result::Result::Err(__al_panic) => {
                __al_span.panicked(&*__al_panic);
                __al_span.finish();
                ::std::panic::resume_unwind(__al_panic)
            }
        }
    };

    let body = if sig.asyncness.is_some() {
        let typed = match &ret_ty {
            Some(t) => quote! {
                #[allow(unreachable_code)]
                let __al_ret: #t = #block;
                #[allow(unreachable_code)]
                __al_ret
            },
            None => quote! { #block },
        };
        quote! {
            let mut __al_span = #starter;
            let __al_cx = __al_span.take_context();
            let __al_result = ::actionlog::__private::CatchUnwindExt::catch_unwind(
                ::std::panic::AssertUnwindSafe(
                    ::actionlog::__private::OtelFutureExt::with_context(
                        async move { #typed },
                        __al_cx,
                    ),
                ),
            )
            .await;
            #settle
        }
    } else {
        let closure = match &ret_ty {
            Some(t) => quote! { #[allow(unreachable_code)] || -> #t #block },
            None => quote! { #[allow(unreachable_code)] || #block },
        };
        quote! {
            let mut __al_span = #starter;
            let __al_result = {
                let _al_guard = __al_span.take_context().attach();
                ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(#closure))
            };
            #settle
        }
    };

    quote! {
        #errors
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}
