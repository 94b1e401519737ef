#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hallpass::fuzzing::engine_ops(data));
