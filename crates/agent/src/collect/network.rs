//! Network interfaces: MAC and addresses.

use super::{CollectConfig, Collector, Notes};

pub struct NetworkCollector;

impl Collector for NetworkCollector {
    fn section(&self) -> &'static str {
        "network"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let mut nics = imp::collect(config, notes)?;
        nics.sort_by(|a, b| a.name.cmp(&b.name));
        for n in &mut nics {
            n.ipv4.sort();
            n.ipv6.sort();
        }
        super::to_json(&nics)
    }
}

#[cfg(unix)]
mod imp {
    use super::*;
    use lanward_proto::Nic;
    use crate::collect::read_trimmed;

    pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<Vec<Nic>, String> {
        let mut nics: Vec<Nic> = Vec::new();
        let entries = std::fs::read_dir("/sys/class/net").map_err(|e| format!("/sys/class/net: {e}"))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "lo" {
                continue;
            }
            let base = e.path();
            nics.push(Nic {
                mac: read_trimmed(base.join("address")).filter(|m| m != "00:00:00:00:00:00").map(|m| m.to_ascii_uppercase()),
                speed_mbps: read_trimmed(base.join("speed")).and_then(|s| s.parse::<i64>().ok()).filter(|s| *s > 0).map(|s| s as u64),
                name,
                ..Default::default()
            });
        }
        let addrs = if_addrs::get_if_addrs().map_err(|e| format!("getifaddrs: {e}"))?;
        for a in addrs {
            let Some(nic) = nics.iter_mut().find(|n| n.name == a.name) else { continue };
            match a.ip() {
                std::net::IpAddr::V4(ip) => nic.ipv4.push(ip.to_string()),
                std::net::IpAddr::V6(ip) => nic.ipv6.push(ip.to_string()),
            }
        }
        Ok(nics)
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::network::collect;
}
