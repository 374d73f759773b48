//! What the server does with an agent's check-in body before storing it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<lanward_proto::CheckinRequest>(data) {
        if let Some(report) = req.report {
            for (name, raw) in &report.sections {
                let _ = lanward_proto::validate_section(name, raw.get());
                let _ = lanward_proto::section_hash(raw.get().as_bytes());
            }
        }
    }
});
