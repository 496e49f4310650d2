#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rolebook_fuzz::audit_filter(data));
