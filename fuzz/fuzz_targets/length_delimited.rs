//! Length-delimited UserAction streams (files written by the file sink, `actionlog decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| actionlog_fuzz::check_length_delimited(data));
