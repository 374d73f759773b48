//! Bad input: clear per-file errors, and no input makes a parser panic or
//! lose count of lines.

use lanward_netconf::*;

#[test]
fn unknown_truncated_binary_crlf_and_shift_jis() {
    assert!(matches!(parse_config("x.cfg", b""), Err(ConfigError::Empty { .. })));
    assert!(matches!(parse_config("x.bin", b"\x7fELF\x02\x01\x01\x00\x00"), Err(ConfigError::Binary { .. })));
    let e = parse_config("notes.txt", "今日の打ち合わせメモ\n議題: 予算\n".as_bytes()).unwrap_err();
    assert!(e.to_string().starts_with("notes.txt: "), "{e}");
    // Windows line endings and a Shift_JIS description.
    let mut bytes = b"hostname SW-HQ-3F\r\n!\r\ninterface GigabitEthernet1/0/5\r\n description ".to_vec();
    bytes.extend(encoding_rs::SHIFT_JIS.encode("総務課 プリンター").0.iter());
    bytes.extend(b"\r\n switchport mode access\r\n switchport access vlan 120\r\n!\r\nvlan 120\r\n name SOMU\r\nend\r\n");
    let d = parse_config("sw.cfg", &bytes).unwrap();
    assert_eq!(d.hostname, "SW-HQ-3F");
    let i = &d.interfaces[0];
    assert_eq!(i.description.as_deref(), Some("総務課 プリンター"));
    assert_eq!((i.mode, i.access_vlan), (Some(SwitchportMode::Access), Some(120)));
    assert_eq!(d.coverage.unrecognised, 0, "{:?}", d.line_notes);
    // A truncated file still gives what it has, with line accounting.
    let cut = b"hostname R1\n!\ninterface GigabitEthernet0/0\n ip address 10.0.0.1 255.255.25";
    let d = parse_config("r1.cfg", cut).unwrap();
    let total = d.coverage.modelled + d.coverage.ignored + d.coverage.unmodelled + d.coverage.unrecognised;
    assert_eq!(total, 4);
    assert_eq!(d.line_notes.iter().find(|n| n.class == LineClass::Unrecognised).map(|n| n.line), Some(4), "the cut line is named");
}

#[test]
fn mutated_configs_never_panic_and_every_line_is_counted() {
    let seed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples/cisco_c9200l/show_running-config.txt")).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let mut bytes = seed.clone();
        for _ in 0..(next() % 40 + 1) {
            if bytes.is_empty() {
                break;
            }
            let at = (next() as usize) % bytes.len();
            match next() % 4 {
                0 => bytes[at] = b" \n!/-0123456789abcdefvlan\t"[(next() % 26) as usize],
                1 => {
                    bytes.insert(at, b' ');
                }
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        if let Ok(d) = parse_config("m.cfg", &bytes) {
            let text = decode("m.cfg", &bytes).unwrap();
            // Every line of the file; a final newline does not start another.
            let lines = text.split('\n').count() - usize::from(text.ends_with('\n'));
            let c = d.coverage;
            assert_eq!(c.modelled + c.ignored + c.unmodelled + c.unrecognised, lines);
        }
    }
}

#[test]
fn duplicate_addresses_and_overlapping_subnets_are_found() {
    let a = parse_config("a.cfg", b"hostname A\ninterface GigabitEthernet0/0\n ip address 10.1.0.1 255.255.0.0\ninterface GigabitEthernet0/1\n ip address 192.168.5.1 255.255.255.0\n").unwrap();
    let b = parse_config("b.cfg", b"hostname B\ninterface GigabitEthernet0/0\n ip address 10.1.2.1 255.255.255.0\ninterface GigabitEthernet0/1\n ip address 192.168.5.1 255.255.255.0\n").unwrap();
    let checks = lanward_netconf::analysis::checks(&[a, b]);
    let msgs: Vec<&str> = checks.iter().map(|c| c.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("192.168.5.1") && m.contains("duplicate")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("10.1.0.0/16") && m.contains("10.1.2.0/24") && m.contains("overlapping")), "{msgs:?}");
    // The shared /24 of the duplicate is one subnet, not an overlap.
    assert_eq!(msgs.iter().filter(|m| m.contains("overlapping")).count(), 1, "{msgs:?}");
}
