#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kmsnap_api::proto::fuzzing::ec2(data));
