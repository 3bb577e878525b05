#![no_main]

#[path = "../src/config.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::load_config(data));
