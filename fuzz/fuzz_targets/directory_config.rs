//! `directory.json` as an administrator might write it. Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lanward_directory::DirectoryConfig::from_json_str(text);
    }
});
