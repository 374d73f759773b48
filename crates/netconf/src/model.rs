//! The vendor-neutral model every parser produces.
//!
//! Names are as the device's running config writes them
//! (`GigabitEthernet1/0/1`, `port1.0.1`, `LAN1`, `pp 1`). Addresses are
//! kept as text with their prefix length (`10.0.0.1/24`) and parsed by the
//! analyses; the model itself stays plain data that serializes as the
//! `lanward net analyze --json` document.

use serde::{Deserialize, Serialize};

/// One device's configuration as lanward understood it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub hostname: String,
    pub vendor: Vendor,
    /// The file it came from (as the caller named it).
    pub file: String,
    pub interfaces: Vec<Interface>,
    pub vlans: Vec<Vlan>,
    /// Static routes as configured (connected routes are derived by the analyses).
    pub static_routes: Vec<StaticRoute>,
    /// Networks given to dynamic routing (`network 10.0.0.0 0.0.255.255 area 0`).
    pub routing_networks: Vec<RoutingNetwork>,
    pub acls: Vec<Acl>,
    pub vrfs: Vec<String>,
    pub dhcp_scopes: Vec<DhcpScope>,
    pub nat: Vec<NatRule>,
    /// What happened to every input line.
    pub coverage: Coverage,
    /// Per line, by 1-based line number: only lines not `Modelled`
    /// (the report `lanward net coverage` prints).
    pub line_notes: Vec<LineNote>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    CiscoIos,
    AlliedWarePlus,
    AlaxalaAx,
    NecIx,
    YamahaRtx,
    FortiOs,
    #[default]
    Unknown,
}

impl Vendor {
    pub fn label(self) -> &'static str {
        match self {
            Vendor::CiscoIos => "Cisco IOS/IOS-XE",
            Vendor::AlliedWarePlus => "Allied Telesis AlliedWare Plus",
            Vendor::AlaxalaAx => "ALAXALA AX",
            Vendor::NecIx => "NEC UNIVERGE IX",
            Vendor::YamahaRtx => "YAMAHA RTX",
            Vendor::FortiOs => "FortiGate FortiOS",
            Vendor::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceKind {
    Physical,
    /// A VLAN interface (SVI): `interface Vlan10`, `interface vlan10`.
    Svi,
    /// Link aggregation: `Port-channel1`, `sa1`, `po1`.
    Lag,
    Tunnel,
    /// YAMAHA `pp N` (PPPoE and other point-to-point).
    Pp,
    Loopback,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchportMode {
    Access,
    Trunk,
    /// A layer-3 port (`no switchport`, or a router's interface with an address).
    Routed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub kind: InterfaceKind,
    pub description: Option<String>,
    pub shutdown: bool,
    /// `10.0.0.1/24`; the first is the primary.
    pub addresses: Vec<String>,
    pub mode: Option<SwitchportMode>,
    pub access_vlan: Option<u16>,
    pub native_vlan: Option<u16>,
    /// Allowed VLANs of a trunk, expanded (`1-3,5` → 1, 2, 3, 5); empty with
    /// `trunk_all` for "all".
    pub trunk_vlans: Vec<u16>,
    pub trunk_all: bool,
    /// The VLAN an SVI belongs to.
    pub svi_vlan: Option<u16>,
    /// The LAG this port is a member of (`channel-group 1` → `Port-channel1`).
    pub lag: Option<String>,
    pub vrf: Option<String>,
    /// ACLs applied here: (name, direction `in`/`out`).
    pub acls: Vec<(String, String)>,
    /// 1-based line of the interface's header.
    pub line: usize,
}

impl Interface {
    pub fn new(name: &str, kind: InterfaceKind, line: usize) -> Interface {
        Interface {
            name: name.to_string(),
            kind,
            description: None,
            shutdown: false,
            addresses: Vec::new(),
            mode: None,
            access_vlan: None,
            native_vlan: None,
            trunk_vlans: Vec::new(),
            trunk_all: false,
            svi_vlan: None,
            lag: None,
            vrf: None,
            acls: Vec::new(),
            line,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vlan {
    pub id: u16,
    pub name: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    /// `0.0.0.0/0`.
    pub prefix: String,
    pub next_hop: Option<String>,
    pub interface: Option<String>,
    pub vrf: Option<String>,
    pub distance: Option<u8>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingNetwork {
    /// `ospf`, `bgp`, `rip`, `eigrp`.
    pub protocol: String,
    pub prefix: String,
    pub area: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// Name or number as written (`101`, `BLOCK-SMB`, YAMAHA filter number).
    pub name: String,
    pub entries: Vec<AclEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// `permit` / `deny` (YAMAHA `pass`/`reject` are mapped onto these).
    pub action: String,
    /// `ip`, `tcp`, `udp`, `icmp`, or a number.
    pub protocol: String,
    /// `10.0.0.0/8`, or `any`.
    pub source: String,
    pub destination: String,
    /// Destination ports: (from, to) inclusive; `None` = any.
    pub ports: Option<(u16, u16)>,
    /// The line as written, for reports.
    pub text: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpScope {
    pub name: String,
    pub network: Option<String>,
    pub gateway: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatRule {
    pub text: String,
    pub line: usize,
}

/// What one input line ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineClass {
    /// Understood and in the model.
    Modelled,
    /// Understood and deliberately left out (banners, clock, comments, `!`).
    Ignored,
    /// A known command lanward does not model yet.
    Unmodelled,
    /// Not understood.
    Unrecognised,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub modelled: usize,
    pub ignored: usize,
    pub unmodelled: usize,
    pub unrecognised: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineNote {
    pub line: usize,
    pub class: LineClass,
    pub text: String,
}

/// Accounts every line exactly once: parsers call `mark` for each line
/// they handle; `finish` classes the rest as unrecognised.
#[derive(Debug)]
pub struct Accounting {
    classes: Vec<Option<LineClass>>,
}

impl Accounting {
    pub fn new(lines: usize) -> Accounting {
        Accounting { classes: vec![None; lines] }
    }

    /// Marks a 1-based line; the first mark wins.
    pub fn mark(&mut self, line: usize, class: LineClass) {
        if let Some(slot) = line.checked_sub(1).and_then(|i| self.classes.get_mut(i)) {
            if slot.is_none() {
                *slot = Some(class);
            }
        }
    }

    /// Fills the device's coverage and notes from the marks; `lines` are the input lines.
    pub fn finish(self, lines: &[&str], device: &mut Device) {
        let mut c = Coverage::default();
        let mut notes = Vec::new();
        for (i, class) in self.classes.into_iter().enumerate() {
            let class = class.unwrap_or(LineClass::Unrecognised);
            match class {
                LineClass::Modelled => c.modelled += 1,
                LineClass::Ignored => c.ignored += 1,
                LineClass::Unmodelled => c.unmodelled += 1,
                LineClass::Unrecognised => c.unrecognised += 1,
            }
            if class != LineClass::Modelled && class != LineClass::Ignored {
                notes.push(LineNote { line: i + 1, class, text: lines.get(i).map(|l| l.trim_end().to_string()).unwrap_or_default() });
            }
        }
        device.coverage = c;
        device.line_notes = notes;
    }
}

/// Expands a VLAN list (`1-3,5`, `1,2-4`) into sorted IDs; `None` if malformed.
pub fn expand_vlan_list(text: &str) -> Option<Vec<u16>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b > 4094 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                let v: u16 = part.parse().ok()?;
                if v == 0 || v > 4094 {
                    return None;
                }
                out.push(v);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// `255.255.255.0` → 24; `None` for a non-contiguous mask.
pub fn mask_len(mask: &str) -> Option<u8> {
    let m: std::net::Ipv4Addr = mask.parse().ok()?;
    let bits = u32::from(m);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// Wildcard `0.0.0.255` → 24.
pub fn wildcard_len(wildcard: &str) -> Option<u8> {
    let w: std::net::Ipv4Addr = wildcard.parse().ok()?;
    mask_len(&std::net::Ipv4Addr::from(!u32::from(w)).to_string())
}
