//! Network adapters with IP enabled (Win32_NetworkAdapterConfiguration),
//! with link speed from Win32_NetworkAdapter. If WMI fails, the addresses
//! still come from GetAdaptersAddresses (if-addrs), without MACs.

use super::{decode, note, wmi};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::Nic;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct AdapterConfiguration {
    #[serde(rename = "Index")]
    index: Option<u32>,
    #[serde(rename = "Description")]
    description: Option<String>,
    #[serde(rename = "MACAddress")]
    mac_address: Option<String>,
    #[serde(rename = "IPAddress")]
    ip_address: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Adapter {
    #[serde(rename = "Index")]
    index: Option<u32>,
    #[serde(rename = "NetConnectionID")]
    net_connection_id: Option<String>,
    #[serde(rename = "Speed")]
    speed: Option<u64>,
}

pub fn collect(config: &CollectConfig, notes: &mut Notes) -> Result<Vec<Nic>, String> {
    let configs = match wmi::query::<AdapterConfiguration>(
        config,
        wmi::CIMV2,
        "SELECT Index, Description, MACAddress, IPAddress FROM Win32_NetworkAdapterConfiguration WHERE IPEnabled = TRUE",
    ) {
        Ok(rows) => rows,
        Err(e) => return fallback(e, notes),
    };

    // Connection name ("イーサネット", "Wi-Fi") and speed, by adapter index.
    let adapters: HashMap<u32, Adapter> =
        match wmi::query::<Adapter>(config, wmi::CIMV2, "SELECT Index, NetConnectionID, Speed FROM Win32_NetworkAdapter") {
            Ok(rows) => rows.into_iter().filter_map(|a| Some((a.index?, a))).collect(),
            Err(e) => {
                note(notes, "network", format!("link speeds unknown: {e}"));
                HashMap::new()
            }
        };

    Ok(configs
        .into_iter()
        .map(|c| {
            let adapter = c.index.and_then(|i| adapters.get(&i));
            let description = c.description.as_deref().map(str::trim).unwrap_or("").to_string();
            let connection = adapter.and_then(|a| a.net_connection_id.as_deref()).unwrap_or("");
            let (ipv4, ipv6) = decode::split_ips(c.ip_address.as_deref().unwrap_or_default());
            let speed_mbps = if decode::looks_wireless(&[&description, connection]) {
                None
            } else {
                adapter.and_then(|a| a.speed).and_then(decode::speed_mbps)
            };
            Nic {
                // The adapter's description names the hardware and is unique
                // ("... #2" for a second identical one); the connection name
                // is used only when there is no description.
                name: if description.is_empty() { connection.to_string() } else { description },
                mac: c.mac_address.map(|m| m.trim().to_ascii_uppercase()).filter(|m| !m.is_empty()),
                ipv4,
                ipv6,
                speed_mbps,
            }
        })
        .collect())
}

/// Addresses without WMI: GetAdaptersAddresses through if-addrs.
fn fallback(wmi_error: String, notes: &mut Notes) -> Result<Vec<Nic>, String> {
    let addrs = if_addrs::get_if_addrs().map_err(|e| format!("{wmi_error}; GetAdaptersAddresses: {e}"))?;
    note(notes, "network", format!("{wmi_error}; addresses taken from GetAdaptersAddresses, without MAC or speed"));
    let mut nics: Vec<Nic> = Vec::new();
    for a in addrs.into_iter().filter(|a| !a.is_loopback()) {
        let i = match nics.iter().position(|n| n.name == a.name) {
            Some(i) => i,
            None => {
                nics.push(Nic { name: a.name.clone(), ..Default::default() });
                nics.len() - 1
            }
        };
        match a.ip() {
            std::net::IpAddr::V4(ip) => nics[i].ipv4.push(ip.to_string()),
            std::net::IpAddr::V6(ip) => nics[i].ipv6.push(ip.to_string()),
        }
    }
    Ok(nics)
}
