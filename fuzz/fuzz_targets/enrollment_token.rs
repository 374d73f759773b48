#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = lanward_proto::token::EnrollmentToken::parse(s) {
            // What parses must print back to something that parses the same.
            assert_eq!(lanward_proto::token::EnrollmentToken::parse(&t.to_string()), Ok(t));
        }
    }
});
