#![no_main]
use libfuzzer_sys::fuzz_target;

// /proc/net/arp and MSFT_NetNeighbor rows: whatever the input, no panic,
// and only normalised unicast MACs come out.
fuzz_target!(|data: &[u8]| {
    use lanward_agent::collect::neighbors::*;
    let text = String::from_utf8_lossy(data);
    let list = finish(parse_proc_net_arp(&text));
    assert!(list.len() <= MAX_NEIGHBORS);
    for n in &list {
        let mac = n.mac.as_deref().unwrap_or_default();
        assert!(is_unicast_mac(mac) && normalize_mac(mac).as_deref() == Some(mac));
    }
    let mut fields = text.split('\t');
    let state = data.first().map(|b| u32::from(*b));
    let (ip, mac, alias) = (fields.next(), fields.next(), fields.next());
    if let Some(n) = from_net_neighbor(ip, mac, alias, state) {
        assert!(n.ip.parse::<std::net::IpAddr>().is_ok());
    }
});
