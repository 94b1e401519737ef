#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hallpass::testing::fuzz::event_decode(data));
