#![no_main]
//! Any text as a detection rule (operators type them; the agent parses them
//! out of signed manifests): never a panic; a rule that parses prints back
//! to text that parses to the same rule.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rule) = lanward_installer::rule::parse(text) {
        let again = lanward_installer::rule::parse(&rule.to_string()).expect("printed rule parses");
        assert_eq!(again, rule);
    }
});
