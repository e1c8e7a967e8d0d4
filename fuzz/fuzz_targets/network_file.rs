//! Fuzz target: arbitrary bytes, as UTF-8 text, into `network_file::parse` (`--network FILE`).
//! It must return `Ok` or `Err`, never panic; see `dropout_study_fuzz::network_file`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropout_study_fuzz::network_file(data));
