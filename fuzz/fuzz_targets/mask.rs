//! Fuzz target: a small unit count (the first byte) and a string (the rest) into `Mask::parse`
//! (`reproduce --mask`). It must return `Ok` or `Err`, never panic; see
//! `dropout_study_fuzz::mask`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropout_study_fuzz::mask(data));
