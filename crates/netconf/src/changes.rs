//! Change generation for a reorganisation: "move port Gi1/0/5 of
//! SW-HQ-3F to VLAN 120" becomes the vendor's commands, the rollback
//! commands, the updated port map, and the checks that would fail after
//! the change (a VLAN not defined on the switch, or not allowed on its
//! trunks).

use crate::analysis::{self, Check};
use crate::model::*;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMove {
    pub device: String,
    pub port: String,
    pub vlan: u16,
}

/// Reads `DEVICE PORT VLAN` (spaces or commas), one move per line; `#`
/// starts a comment. Errors name the line.
pub fn parse_moves(text: &str) -> Result<Vec<PortMove>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let t: Vec<&str> = l.split([',', ' ', '\t']).map(str::trim).filter(|s| !s.is_empty()).collect();
        let [device, port, vlan] = t.as_slice() else {
            return Err(format!("{} 行目: 「機器 ポート VLAN」の形で書いてください (expected DEVICE PORT VLAN): {l}", i + 1));
        };
        let vlan: u16 = vlan.trim_start_matches("vlan").trim_start_matches("VLAN").parse().ok().filter(|v| (1..=4094).contains(v)).ok_or_else(|| format!("{} 行目: VLAN {vlan} は 1〜4094 の数ではありません", i + 1))?;
        out.push(PortMove { device: device.to_string(), port: port.to_string(), vlan });
    }
    Ok(out)
}

/// `Gi1/0/5` → the interface `GigabitEthernet1/0/5` (a prefix of the
/// name's letters, then the same numbers), or an exact name.
pub fn find_port<'a>(d: &'a Device, port: &str) -> Option<&'a Interface> {
    let split = |s: &str| {
        let at = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
        (s[..at].trim().to_ascii_lowercase(), s[at..].trim().to_string())
    };
    let (alpha, num) = split(port);
    d.interfaces.iter().find(|i| i.name.eq_ignore_ascii_case(port)).or_else(|| {
        d.interfaces.iter().find(|i| {
            let (a, n) = split(&i.name);
            !alpha.is_empty() && a.starts_with(&alpha) && n == num
        })
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct DevicePlan {
    pub device: String,
    pub vendor: Vendor,
    pub commands: Vec<String>,
    pub rollback: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortMapRow {
    pub device: String,
    pub port: String,
    pub mode: Option<SwitchportMode>,
    pub vlan_before: Option<u16>,
    pub vlan_after: Option<u16>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangePlan {
    pub devices: Vec<DevicePlan>,
    pub port_map: Vec<PortMapRow>,
    /// Checks that the network after the change fails and before did not.
    pub new_checks: Vec<Check>,
    /// Moves that cannot be made (unknown device or port, not an access port).
    pub errors: Vec<String>,
}

fn save_command(v: Vendor) -> &'static str {
    match v {
        Vendor::AlaxalaAx => "save",
        Vendor::AlliedWarePlus => "write",
        Vendor::NecIx => "write memory",
        _ => "write memory",
    }
}

/// Plans the moves against the parsed network.
pub fn plan(devices: &[Device], moves: &[PortMove]) -> ChangePlan {
    let mut after: Vec<Device> = devices.to_vec();
    let mut per_device: Vec<(usize, Vec<String>, Vec<String>)> = Vec::new();
    let mut port_map = Vec::new();
    let mut errors = Vec::new();
    for m in moves {
        let Some(di) = devices.iter().position(|d| d.hostname.eq_ignore_ascii_case(&m.device)) else {
            errors.push(format!("機器 {} がありません (no such device)", m.device));
            continue;
        };
        let d = &devices[di];
        if !matches!(d.vendor, Vendor::CiscoIos | Vendor::AlliedWarePlus | Vendor::AlaxalaAx) {
            errors.push(format!("{}: {} のポート移動のコマンドはまだ作れません (not supported for this vendor)", d.hostname, d.vendor.label()));
            continue;
        }
        let Some(port) = find_port(d, &m.port) else {
            errors.push(format!("{}: ポート {} がありません (no such port)", d.hostname, m.port));
            continue;
        };
        if port.mode == Some(SwitchportMode::Trunk) || port.mode == Some(SwitchportMode::Routed) {
            errors.push(format!("{}: {} はアクセスポートではありません (not an access port)", d.hostname, port.name));
            continue;
        }
        let entry = match per_device.iter().position(|(i, _, _)| *i == di) {
            Some(p) => p,
            None => {
                per_device.push((di, Vec::new(), Vec::new()));
                per_device.len() - 1
            }
        };
        let (_, cmds, back) = &mut per_device[entry];
        let defined = after[di].vlans.iter().any(|v| v.id == m.vlan);
        if !defined {
            // A VLAN the switch does not have yet is created first (and removed on rollback).
            match d.vendor {
                Vendor::AlliedWarePlus => {
                    cmds.extend(["vlan database".to_string(), format!(" vlan {} state enable", m.vlan), " exit".to_string()]);
                    back.extend(["vlan database".to_string(), format!(" no vlan {}", m.vlan), " exit".to_string()]);
                }
                _ => {
                    cmds.extend([format!("vlan {}", m.vlan), " exit".to_string()]);
                    back.push(format!("no vlan {}", m.vlan));
                }
            }
            after[di].vlans.push(Vlan { id: m.vlan, name: None, line: 0 });
        }
        cmds.extend([format!("interface {}", port.name), format!(" switchport access vlan {}", m.vlan), " exit".to_string()]);
        match port.access_vlan {
            Some(old) => back.extend([format!("interface {}", port.name), format!(" switchport access vlan {old}"), " exit".to_string()]),
            None => back.extend([format!("interface {}", port.name), " no switchport access vlan".to_string(), " exit".to_string()]),
        }
        if let Some(p) = after[di].interfaces.iter_mut().find(|i| i.name == port.name) {
            p.access_vlan = Some(m.vlan);
            if p.mode.is_none() {
                p.mode = Some(SwitchportMode::Access);
            }
        }
        port_map.push(PortMapRow { device: d.hostname.clone(), port: port.name.clone(), mode: Some(SwitchportMode::Access), vlan_before: port.access_vlan, vlan_after: Some(m.vlan), description: port.description.clone() });
    }
    let devices_out = per_device
        .into_iter()
        .map(|(di, mut cmds, mut back)| {
            let v = devices[di].vendor;
            let wrap = |body: &mut Vec<String>| {
                body.insert(0, "configure terminal".into());
                body.push("end".into());
                body.push(save_command(v).into());
            };
            // Rollback undoes in reverse order of creation: ports first, then VLANs.
            back.reverse();
            let back = reorder_rollback(back);
            let mut back = back;
            wrap(&mut cmds);
            wrap(&mut back);
            DevicePlan { device: devices[di].hostname.clone(), vendor: v, commands: cmds, rollback: back }
        })
        .collect();
    let before_checks = analysis::checks(devices);
    let mut new_checks: Vec<Check> = analysis::checks(&after).into_iter().filter(|c| !before_checks.iter().any(|b| b.device == c.device && b.message == c.message)).collect();
    // The moved VLAN must reach the rest of the network over the switch's trunks.
    for row in &port_map {
        let Some(d) = after.iter().find(|d| d.hostname == row.device) else { continue };
        let Some(v) = row.vlan_after else { continue };
        for t in d.interfaces.iter().filter(|i| i.mode == Some(SwitchportMode::Trunk) && !i.shutdown) {
            if !t.trunk_all && !t.trunk_vlans.contains(&v) {
                let message = format!("VLAN {v} はトランク {} で許可されていません ({} を移した後、上位と通信できません) (VLAN not allowed on the trunk)", t.name, row.port);
                if !new_checks.iter().any(|c| c.device == d.hostname && c.message == message) {
                    new_checks.push(Check { severity: "error".into(), device: d.hostname.clone(), line: Some(t.line), message });
                }
            }
        }
    }
    ChangePlan { devices: devices_out, port_map, new_checks, errors }
}

/// The reversed rollback has each `interface` block's lines backwards;
/// put every block back in order (`interface`, setting, `exit`).
fn reorder_rollback(reversed: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Vec<String> = Vec::new();
    for line in reversed {
        block.push(line);
        let starts_block = block.last().is_some_and(|l| l.starts_with("interface ") || l == "vlan database" || l.starts_with("no vlan "));
        if starts_block {
            block.reverse();
            out.append(&mut block);
        }
    }
    block.reverse();
    out.extend(block);
    out
}
