//! Compile-time behaviour of `#[action_log]` (trybuild): what must compile, and the errors
//! users get for what must not.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
