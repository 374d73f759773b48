#![no_main]
use libfuzzer_sys::fuzz_target;

// wtmp/utmp bytes: whatever the input, no panic; whole records only, and
// every logoff names the user the line was logged on with.
fuzz_target!(|data: &[u8]| {
    use lanward_agent::oplog::utmp::*;
    let (records, used) = parse_records(data);
    assert_eq!(used, data.len() / RECORD_SIZE * RECORD_SIZE);
    assert_eq!(records.len(), data.len() / RECORD_SIZE);
    let mut state = LoginState::default();
    for r in &records {
        if let Some(e) = to_event(r, &mut state) {
            let _ = serde_json::to_string(&e.detail).unwrap();
        }
    }
});
