#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kmsnap_api::proto::fuzzing::json(data));
