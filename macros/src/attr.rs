//! Parsing `#[action_log(...)]` arguments into a plain struct.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Token};

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) command: Option<LitStr>,
    pub(crate) user: Option<Expr>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) skip_output: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let name: Ident = input.parse()?;
            match name.to_string().as_str() {
                "command" => {
                    if args.command.is_some() {
                        return Err(syn::Error::new(name.span(), "`command` given twice"));
                    }
                    input.parse::<Token![=]>()?;
                    let lit: LitStr = input.parse()?;
                    if lit.value().is_empty() {
                        return Err(syn::Error::new(lit.span(), "`command` must not be empty"));
                    }
                    args.command = Some(lit);
                }
                "user" => {
                    if args.user.is_some() {
                        return Err(syn::Error::new(name.span(), "`user` given twice"));
                    }
                    input.parse::<Token![=]>()?;
                    args.user = Some(input.parse()?);
                }
                "skip" => {
                    let content;
                    syn::parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                    args.skip.extend(names);
                }
                "skip_output" => args.skip_output = true,
                other => {
                    return Err(syn::Error::new(
                        name.span(),
                        format!(
                            "unknown `action_log` argument `{other}`; expected `command = \"...\"`, `user = <expr>`, `skip(arg, ...)` or `skip_output`"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
