#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| flashforge_proto::fuzz::discovery(data, std::time::Instant::now()));
