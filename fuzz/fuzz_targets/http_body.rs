#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hallpass::testing::fuzz::http_body(data));
