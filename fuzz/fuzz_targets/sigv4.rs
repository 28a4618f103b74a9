#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kmsnap_auth::fuzzing::sigv4_parse_and_verify(data));
