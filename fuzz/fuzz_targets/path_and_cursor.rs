#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolebook_fuzz::path_and_cursor(data));
