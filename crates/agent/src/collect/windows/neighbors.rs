//! The neighbour cache (ARP and NDP) from WMI's `MSFT_NetNeighbor` in
//! `root\StandardCimv2` (Windows 8 / Server 2012 and later). The rows are
//! judged by the platform-independent
//! [`from_net_neighbor`](crate::collect::neighbors::from_net_neighbor):
//! usable states only, unicast devices with a MAC.
//!
//! Without WMI there is no fallback: the section is left out and the
//! reason goes into the diagnostics (the server keeps the last list).

use super::wmi;
use crate::collect::neighbors::from_net_neighbor;
use crate::collect::{CollectConfig, Notes};
use lanward_proto::Neighbor;
use serde::Deserialize;

#[derive(Deserialize)]
struct NetNeighbor {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
    #[serde(rename = "LinkLayerAddress")]
    link_layer_address: Option<String>,
    #[serde(rename = "InterfaceAlias")]
    interface_alias: Option<String>,
    /// uint8 in the schema; any integer is accepted.
    #[serde(rename = "State")]
    state: Option<u32>,
}

pub fn collect(config: &CollectConfig, _notes: &mut Notes) -> Result<Vec<Neighbor>, String> {
    let rows = wmi::query::<NetNeighbor>(
        config,
        wmi::STANDARD_CIMV2,
        "SELECT IPAddress, LinkLayerAddress, InterfaceAlias, State FROM MSFT_NetNeighbor",
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            from_net_neighbor(r.ip_address.as_deref(), r.link_layer_address.as_deref(), r.interface_alias.as_deref(), r.state)
        })
        .collect())
}
