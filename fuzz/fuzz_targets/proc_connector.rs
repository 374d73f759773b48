#![no_main]
use libfuzzer_sys::fuzz_target;

// Netlink process-connector datagrams: whatever the kernel (or an attacker
// on the socket) sends, no panic.
fuzz_target!(|data: &[u8]| {
    use lanward_agent::oplog::proc_connector::*;
    for e in parse_datagram(data) {
        if let ProcEvent::Exit { exit_code, .. } = e {
            assert!(!describe_exit(exit_code).is_empty());
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = parse_status(&text);
    let _ = parse_passwd(&text);
    let _ = parse_cmdline(data);
});
