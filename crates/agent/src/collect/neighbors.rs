//! The neighbour cache (ARP for IPv4, NDP for IPv6): the devices this PC
//! has talked to on its own LAN. The server compares them with the ledger
//! to list devices nobody registered.
//!
//! Linux reads `/proc/net/arp` (IPv4 only: IPv6 neighbours are only
//! available over netlink, which is not worth it for servers). Windows asks
//! WMI's `MSFT_NetNeighbor` (see `windows/neighbors.rs`).
//!
//! The parsing and filtering below is platform-independent, so that it is
//! tested on every platform and fuzzed (`fuzz/fuzz_targets/neighbors.rs`):
//! it never panics, whatever the input.
//!
//! Only unicast neighbours with a MAC are kept: multicast and broadcast
//! entries (`FF:FF:FF:FF:FF:FF`, `01:00:5E:…`, `33:33:…`), link-local,
//! loopback and unspecified addresses say nothing about the LAN's devices.
//! The cache churns as entries age out, so the list is sorted and deduped
//! (the section is sent only when its hash changes) and capped.

use super::{CollectConfig, Collector, Notes};
use lanward_proto::{CollectorNote, Neighbor};
use std::net::IpAddr;

/// Most neighbours reported; a PC on a flat /16 could otherwise send
/// thousands.
pub const MAX_NEIGHBORS: usize = 1024;

pub struct NeighborsCollector;

impl Collector for NeighborsCollector {
    fn section(&self) -> &'static str {
        "neighbors"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let (list, found) = finish_counted(imp::collect(config, notes)?);
        if found > MAX_NEIGHBORS {
            notes.push(CollectorNote {
                collector: "neighbors".into(),
                message: format!("{found} neighbours in the cache; only the first {MAX_NEIGHBORS} (by address) are reported"),
            });
        }
        super::to_json(&list)
    }
}

/// Sorts (by address, then MAC and interface), removes duplicates and caps
/// the list at [`MAX_NEIGHBORS`], so that the same cache gives the same
/// section hash whatever order the OS listed it in.
pub fn finish(list: Vec<Neighbor>) -> Vec<Neighbor> {
    finish_counted(list).0
}

/// [`finish`], with the number of distinct neighbours before the cap.
fn finish_counted(mut list: Vec<Neighbor>) -> (Vec<Neighbor>, usize) {
    // By parsed address, so that 10.1.20.9 comes before 10.1.20.10; text
    // that does not parse (never produced here) sorts after, by itself.
    list.sort_by(|a, b| {
        let key = |n: &Neighbor| n.ip.parse::<IpAddr>().ok();
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.cmp(b))
    });
    list.dedup();
    let distinct = list.len();
    list.truncate(MAX_NEIGHBORS);
    (list, distinct)
}

/// A MAC address in the form the ledger uses, `AA:BB:CC:DD:EE:FF`, from
/// `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF` (Windows) or `aabbccddeeff`.
/// `None` for anything that is not exactly six octets.
pub fn normalize_mac(s: &str) -> Option<String> {
    let s = s.trim();
    let octets: Vec<&str> = if s.contains(':') || s.contains('-') {
        s.split([':', '-']).collect()
    } else if s.len() == 12 && s.is_ascii() {
        (0..6).map(|i| &s[i * 2..i * 2 + 2]).collect()
    } else {
        return None;
    };
    if octets.len() != 6 || !octets.iter().all(|o| (1..=2).contains(&o.len()) && o.chars().all(|c| c.is_ascii_hexdigit())) {
        return None;
    }
    Some(octets.iter().map(|o| format!("{:0>2}", o.to_ascii_uppercase())).collect::<Vec<_>>().join(":"))
}

/// Whether a normalised MAC names one device: not all zeros (an unresolved
/// entry) and not a group address (the low bit of the first octet, set in
/// broadcast `FF:FF:…`, IPv4 multicast `01:00:5E:…` and IPv6 multicast
/// `33:33:…`).
pub fn is_unicast_mac(mac: &str) -> bool {
    let Some(first) = mac.get(..2).and_then(|o| u8::from_str_radix(o, 16).ok()) else { return false };
    first & 1 == 0 && mac != "00:00:00:00:00:00"
}

/// Whether an address can be a device on the LAN: not unspecified,
/// loopback, multicast, broadcast or link-local (169.254/16, fe80::/10).
pub fn is_neighbor_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_loopback() || v4.is_multicast() || v4.is_broadcast() || v4.is_link_local()),
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !(v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() || link_local)
        }
    }
}

/// One neighbour from an address, a link-layer address and an interface
/// name as the OS gives them; `None` when it is not a unicast device with
/// a MAC.
pub fn neighbor(ip: &str, mac: &str, interface: Option<&str>) -> Option<Neighbor> {
    let ip: IpAddr = ip.trim().parse().ok()?;
    if !is_neighbor_ip(&ip) {
        return None;
    }
    let mac = normalize_mac(mac).filter(|m| is_unicast_mac(m))?;
    let interface = interface.map(|i| i.trim().trim_matches('\0').trim()).filter(|i| !i.is_empty()).map(str::to_string);
    Some(Neighbor { ip: ip.to_string(), mac: Some(mac), interface })
}

/// `ATF_COM` in `/proc/net/arp`'s flags: the entry is resolved.
const ATF_COM: u32 = 0x2;

/// Parses `/proc/net/arp`:
///
/// ```text
/// IP address       HW type     Flags       HW address            Mask     Device
/// 192.168.10.1     0x1         0x2         00:1b:21:aa:bb:cc     *        eno1
/// ```
///
/// Keeps resolved entries (flag `ATF_COM`) with a unicast MAC; the header,
/// incomplete entries (flags 0x0, MAC all zeros) and lines that do not
/// parse are skipped.
pub fn parse_proc_net_arp(text: &str) -> Vec<Neighbor> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [ip, _hw_type, flags, mac, rest @ ..] = f.as_slice() else { return None };
            let flags = u32::from_str_radix(flags.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()?;
            if flags & ATF_COM == 0 {
                return None;
            }
            // Mask, then device; a line cut short has no device.
            neighbor(ip, mac, rest.get(1).copied())
        })
        .collect()
}

/// `MSFT_NetNeighbor.State`: 0 Unreachable, 1 Incomplete, 2 Probe,
/// 3 Delay, 4 Stale, 5 Reachable, 6 Permanent. Stale entries are kept: a
/// device the PC talked to an hour ago is still on the LAN.
pub fn net_neighbor_state_kept(state: u32) -> bool {
    matches!(state, 2..=6)
}

/// One row of WMI's `MSFT_NetNeighbor` (Windows), judged: the neighbour if
/// its state is usable and it is a unicast device with a MAC. Windows gives
/// the MAC as `00-1B-21-AA-BB-CC` (empty or `00-00-00-00-00-00` when
/// unresolved, an IPv4 address on tunnel interfaces).
pub fn from_net_neighbor(ip: Option<&str>, link_layer_address: Option<&str>, interface_alias: Option<&str>, state: Option<u32>) -> Option<Neighbor> {
    if !net_neighbor_state_kept(state?) {
        return None;
    }
    neighbor(ip?, link_layer_address?, interface_alias)
}

#[cfg(unix)]
mod imp {
    use super::*;

    pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<Vec<Neighbor>, String> {
        let text = std::fs::read_to_string("/proc/net/arp").map_err(|e| format!("/proc/net/arp: {e}"))?;
        Ok(parse_proc_net_arp(&text))
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::neighbors::collect;
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARP: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
10.1.23.1        0x1         0x2         00:a0:de:00:01:01     *        eno1
10.1.23.57       0x1         0x2         00:1b:21:3a:4b:5c     *        eno1
10.1.50.11       0x1         0x2         08:00:37:12:34:56     *        eno1
10.1.23.99       0x1         0x0         00:00:00:00:00:00     *        eno1
10.1.23.98       0x1         0x2         00:00:00:00:00:00     *        eno1
10.1.23.57       0x1         0x2         00:1b:21:3a:4b:5c     *        eno1
192.168.122.10   0x1         0x6         52:54:00:ab:cd:ef     *        virbr0
10.1.23.255      0x1         0x6         ff:ff:ff:ff:ff:ff     *        eno1
224.0.0.251      0x1         0x6         01:00:5e:00:00:fb     *        eno1
169.254.10.20    0x1         0x2         00:1b:21:00:00:01     *        eno1
10.1.23.7        0x20        0x2         80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0b:3c:41 * ib0
garbage
10.1.23.8 0x1 0xzz 00:1b:21:00:00:02 * eno1
999.1.1.1        0x1         0x2         00:1b:21:00:00:03     *        eno1
10.1.23.9        0x1         0x2         00:1b:21:00:00:04
\u{0}\u{0}
";

    #[test]
    fn proc_net_arp_keeps_resolved_unicast_entries_only() {
        let got = finish(parse_proc_net_arp(ARP));
        let ips: Vec<&str> = got.iter().map(|n| n.ip.as_str()).collect();
        assert_eq!(ips, ["10.1.23.1", "10.1.23.9", "10.1.23.57", "10.1.50.11", "192.168.122.10"]);
        assert_eq!(got[0].mac.as_deref(), Some("00:A0:DE:00:01:01"));
        assert_eq!(got[0].interface.as_deref(), Some("eno1"));
        // A line cut short: no device, still a neighbour.
        assert_eq!((got[1].mac.as_deref(), got[1].interface.as_deref()), (Some("00:1B:21:00:00:04"), None));
        assert_eq!(got[4].interface.as_deref(), Some("virbr0"));
        assert!(parse_proc_net_arp("").is_empty());
        assert!(parse_proc_net_arp("IP address       HW type     Flags       HW address            Mask     Device\n").is_empty());
    }

    #[test]
    fn macs_are_normalised_and_group_addresses_dropped() {
        assert_eq!(normalize_mac("00-1b-21-aa-bb-cc").as_deref(), Some("00:1B:21:AA:BB:CC"));
        assert_eq!(normalize_mac(" 00:1B:21:AA:BB:CC ").as_deref(), Some("00:1B:21:AA:BB:CC"));
        assert_eq!(normalize_mac("001B21AABBCC").as_deref(), Some("00:1B:21:AA:BB:CC"));
        assert_eq!(normalize_mac("0:1b:21:a:bb:cc").as_deref(), Some("00:1B:21:0A:BB:CC"));
        for bad in ["", "00-1B-21-AA-BB", "00-1B-21-AA-BB-CC-DD", "00-1B-21-AA-BB-GG", "10.1.2.3", "00--1B-21-AA-BB", "001B21AABBC長", "0001:1B:21:AA:BB:CC"] {
            assert_eq!(normalize_mac(bad), None, "{bad}");
        }
        assert!(is_unicast_mac("00:1B:21:AA:BB:CC"));
        for group in ["FF:FF:FF:FF:FF:FF", "01:00:5E:00:00:FB", "33:33:00:00:00:01", "00:00:00:00:00:00", ""] {
            assert!(!is_unicast_mac(group), "{group}");
        }
    }

    #[test]
    fn windows_net_neighbor_rows_are_filtered() {
        let row = |ip: &str, mac: &str, state: u32| from_net_neighbor(Some(ip), Some(mac), Some("イーサネット"), Some(state));
        let n = row("10.1.23.1", "00-A0-DE-00-01-01", 5).unwrap();
        assert_eq!(n, Neighbor { ip: "10.1.23.1".into(), mac: Some("00:A0:DE:00:01:01".into()), interface: Some("イーサネット".into()) });
        // Stale, Delay, Probe and Permanent are kept.
        for state in [2, 3, 4, 6] {
            assert!(row("10.1.23.57", "00-1B-21-3A-4B-5C", state).is_some(), "state {state}");
        }
        // Unreachable, Incomplete and unknown states are dropped.
        for state in [0, 1, 7, 255] {
            assert!(row("10.1.23.57", "00-1B-21-3A-4B-5C", state).is_none(), "state {state}");
        }
        assert!(row("10.1.23.255", "FF-FF-FF-FF-FF-FF", 6).is_none());
        assert!(row("224.0.0.22", "01-00-5E-00-00-16", 6).is_none());
        assert!(row("ff02::1:ff3a:4b5c", "33-33-FF-3A-4B-5C", 6).is_none());
        assert!(row("fe80::1c2b:3a4d:5e6f:7a8b", "00-1B-21-3A-4B-5C", 5).is_none());
        assert!(row("169.254.1.2", "00-1B-21-3A-4B-5C", 5).is_none());
        assert!(row("239.255.255.250", "", 6).is_none());
        assert!(row("10.1.23.99", "00-00-00-00-00-00", 4).is_none());
        // Teredo / ISATAP: the link-layer address is an IPv4 address.
        assert!(row("2001:0:2851:782c::1", "10.1.23.57", 5).is_none());
        let v6 = row("2001:db8:1:23::57", "00-1B-21-3A-4B-5C", 4).unwrap();
        assert_eq!(v6.ip, "2001:db8:1:23::57");
        // A missing property or an empty alias.
        assert!(from_net_neighbor(None, Some("00-1B-21-3A-4B-5C"), None, Some(5)).is_none());
        assert!(from_net_neighbor(Some("10.1.23.57"), Some("00-1B-21-3A-4B-5C"), None, None).is_none());
        assert_eq!(from_net_neighbor(Some("10.1.23.57"), Some("00-1B-21-3A-4B-5C"), Some(" "), Some(5)).unwrap().interface, None);
    }

    #[test]
    fn finished_list_is_sorted_deduped_and_capped() {
        let n = |ip: &str| Neighbor { ip: ip.into(), mac: Some("00:1B:21:00:00:01".into()), interface: Some("eno1".into()) };
        let a = finish(vec![n("10.1.23.10"), n("10.1.23.9"), n("2001:db8::1"), n("10.1.23.10"), n("10.1.23.100")]);
        let ips: Vec<&str> = a.iter().map(|n| n.ip.as_str()).collect();
        assert_eq!(ips, ["10.1.23.9", "10.1.23.10", "10.1.23.100", "2001:db8::1"]);
        // The same cache in another order hashes the same.
        let b = finish(vec![n("10.1.23.100"), n("2001:db8::1"), n("10.1.23.10"), n("10.1.23.9")]);
        assert_eq!(a, b);
        let many: Vec<Neighbor> = (0..3000u32).map(|i| n(&format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256))).collect();
        let capped = finish(many);
        assert_eq!(capped.len(), MAX_NEIGHBORS);
        assert_eq!(capped[0].ip, "10.0.0.0");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_gives_a_valid_section() {
        let mut notes = Notes::new();
        let json = NeighborsCollector.collect(&CollectConfig::default(), &mut notes).unwrap();
        lanward_proto::validate_section("neighbors", &json).unwrap();
        let list: Vec<Neighbor> = serde_json::from_str(&json).unwrap();
        assert_eq!(finish(list.clone()), list);
    }

    /// The parsers survive mangled input (the fuzz target does the same
    /// with coverage guidance).
    #[test]
    fn mangled_input_never_panics() {
        let seed = ARP.as_bytes();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b" \t\n:-0x1fF.\xff\xe9";
        for _ in 0..5_000 {
            let mut m = seed.to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() % m.len() as u64) as usize;
                match next() % 3 {
                    0 => m[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                    1 => {
                        m.remove(at);
                    }
                    _ => m.insert(at, (next() & 0xff) as u8),
                }
            }
            let text = String::from_utf8_lossy(&m);
            for n in parse_proc_net_arp(&text) {
                assert!(n.mac.as_deref().is_some_and(is_unicast_mac), "{n:?}");
            }
            for line in text.lines() {
                let mut f = line.split_whitespace();
                let _ = from_net_neighbor(f.next(), f.next(), f.next(), Some(5));
                let _ = normalize_mac(line);
            }
        }
    }
}
