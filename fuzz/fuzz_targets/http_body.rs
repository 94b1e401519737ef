#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hallpass::fuzzing::http_body(data));
