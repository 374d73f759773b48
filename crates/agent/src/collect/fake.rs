//! A simulated bureau PC: the collectors of a plausible Windows machine of
//! the waterworks bureau (see shared/BUREAU.md), deterministic per index.
//! Simulated agents run the real agent code with these collectors.

use super::{CollectConfig, Collector, Notes};
use lanward_proto::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Sites with their approximate PC counts (別紙5).
pub const SITES: &[(&str, &str, u32)] = &[
    ("HQ", "本庁舎", 330),
    ("KUN", "国見庁舎", 60),
    ("ORO", "卸町庁舎", 70),
    ("KJO", "国見浄水場", 35),
    ("NJO", "中原浄水場", 30),
    ("FJO", "福岡浄水場", 30),
    ("MJO", "茂庭浄水場", 45),
    ("LAB", "水質検査センター", 40),
    ("CCH", "市役所料金センター", 25),
    ("CCN", "北料金センター", 15),
];

pub const DEPARTMENTS: &[&str] = &[
    "総務課", "経理課", "職員課", "経営企画課", "お客さまセンター", "料金課", "給水装置課", "計画課", "配水課", "浄水課", "水質検査課",
    "施設課", "危機管理室",
];

/// The site of the `index`-th of `count` simulated PCs, spread in the
/// bureau's proportions.
pub fn site_index(index: usize, count: usize) -> usize {
    let total: u32 = SITES.iter().map(|s| s.2).sum();
    let pos = (index as u64 * total as u64 / count.max(1) as u64) as u32;
    let mut acc = 0;
    for (i, s) in SITES.iter().enumerate() {
        acc += s.2;
        if pos < acc {
            return i;
        }
    }
    SITES.len() - 1
}

/// The site of simulated PC `index` when PCs `..end` are simulated (the
/// rule `simulate` uses; at most 680 PCs, then the sites repeat).
pub fn simulated_site(index: usize, end: usize) -> usize {
    site_index(index % 680, 680.min(end).max(1))
}

/// Small deterministic generator, so a simulated PC looks the same on
/// every run.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

pub struct FakeMachine {
    pub index: usize,
    pub site: usize,
    pub hostname: String,
    seed: u64,
    /// Bumped to simulate change (disk filling up, a new hotfix).
    pub generation: AtomicU64,
    /// Windows-sized inventory for benchmarks: about 300 applications and
    /// 150 hotfixes instead of a typical office PC's 60 and 40.
    pub heavy: bool,
    /// The indices of the PCs simulated alongside (their sites by
    /// [`simulated_site`]): the other PCs in a neighbour cache are taken
    /// from these, so that they are enrolled assets and not "unknown".
    pub peers: std::ops::Range<usize>,
}

/// The `salt`-th random number of simulated PC `index`.
fn machine_r(index: usize, salt: u64) -> u64 {
    mix(mix(index as u64 + 1) ^ mix(salt))
}

/// The VLAN (third octet) of simulated PC `index`'s address.
fn machine_vlan(index: usize) -> u8 {
    20 + (machine_r(index, 18) % 10) as u8
}

/// The host part (fourth octet) of simulated PC `index`'s address: 10-249,
/// so that .1 (gateway) and .250-.254 stay free.
fn machine_host(index: usize) -> u8 {
    10 + (index % 240) as u8
}

/// The MAC of simulated PC `index`'s network adapter.
fn machine_mac(index: usize) -> String {
    let mac = machine_r(index, 19).to_be_bytes();
    format!("00:1B:{:02X}:{:02X}:{:02X}:{:02X}", mac[0], mac[1], mac[2], mac[3])
}

/// The interface every simulated PC sees its neighbours on.
const FAKE_INTERFACE: &str = "イーサネット";

/// The MAC of a site's router (a YAMAHA RTX, OUI 00:A0:DE): the default
/// gateway `10.<site>.<vlan>.1` of every VLAN of the site answers with it.
pub fn site_router_mac(site: usize) -> String {
    format!("00:A0:DE:{:02X}:00:01", (site + 1) % 256)
}

/// A site's printer (a FUJIFILM multifunction printer, OUI 08:00:37) at
/// `10.<site>.50.11`, the address the demo's ledger gives it: (IP, MAC).
pub fn site_printer(site: usize) -> (String, String) {
    let b = mix(site as u64 + 1000).to_be_bytes();
    (format!("10.{}.50.11", site + 1), format!("08:00:37:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2]))
}

/// The device nobody registered on VLAN `vlan` of `site` (a personal
/// Wi-Fi router or a printer bought by a department), at
/// `10.<site>.<vlan>.250-254`, above every simulated PC's address.
pub fn unknown_device(site: usize, vlan: u8) -> (String, String) {
    let h = mix(((site as u64) << 8 | vlan as u64) ^ 0x5eed);
    let b = h.to_be_bytes();
    // BUFFALO (Wi-Fi router), Brother (printer), I-O DATA (Wi-Fi router).
    let oui = ["00:1D:73", "00:80:77", "00:A0:B0"][(h % 3) as usize];
    (format!("10.{}.{vlan}.{}", site + 1, 250 + b[7] % 5), format!("{oui}:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2]))
}

const BUREAU_APPS: &[(&str, &str, &str)] = &[
    ("Microsoft Office LTSC Standard 2021 - ja-jp", "16.0.14332.20763", "Microsoft Corporation"),
    ("Microsoft Edge", "131.0.2903.70", "Microsoft Corporation"),
    ("Microsoft Edge WebView2 ランタイム", "131.0.2903.70", "Microsoft Corporation"),
    ("Adobe Acrobat Reader (64-bit)", "24.005.20307", "Adobe"),
    ("CubePDF 3.5.1 (x64)", "3.5.1", "CubeSoft"),
    ("CubePDF Utility 3.2.0 (x64)", "3.2.0", "CubeSoft"),
    ("Lhaplus", "1.74", "Schezo"),
    ("Jw_cad", "8.25a", "Jw_cad"),
    ("DWG TrueView 2024 - 日本語 (Japanese)", "24.3.61.0", "Autodesk"),
    ("SXF Viewer", "3.21", "OCF"),
    ("VLC media player", "3.0.21", "VideoLAN"),
    ("Trend Micro Apex One Security Agent", "14.0.12932", "トレンドマイクロ株式会社"),
    ("lanward エージェント", "0.1.0", "lanward"),
    ("Microsoft Update Health Tools", "3.74.0.0", "Microsoft Corporation"),
    ("Microsoft .NET Framework 4.8.1", "4.8.09032", "Microsoft Corporation"),
    ("Google 日本語入力", "2.28.5050.0", "Google LLC"),
];

/// What should not be there (見つけるべき無許可ソフト).
const UNWANTED: &[(&str, &str, &str)] = &[
    ("Solitaire Deluxe Free", "2.1", "FreeGames Inc."),
    ("Dropbox", "212.4.6232", "Dropbox, Inc."),
    ("Java 8 Update 161", "8.0.1610.12", "Oracle Corporation"),
];

impl FakeMachine {
    pub fn new(index: usize, site: usize, heavy: bool) -> Self {
        FakeMachine {
            index,
            site,
            hostname: format!("SUIDO-PC-{:04}", index + 1),
            seed: mix(index as u64 + 1),
            generation: AtomicU64::new(0),
            heavy,
            peers: 0..680,
        }
    }

    /// Sets the PCs simulated alongside this one (see [`FakeMachine::peers`]).
    pub fn with_peers(mut self, peers: std::ops::Range<usize>) -> Self {
        self.peers = peers;
        self
    }

    fn r(&self, salt: u64) -> u64 {
        mix(self.seed ^ mix(salt))
    }

    pub fn department(&self) -> &'static str {
        DEPARTMENTS[(self.r(1) % DEPARTMENTS.len() as u64) as usize]
    }

    /// About one machine in twelve lags behind on updates.
    pub fn out_of_date(&self) -> bool {
        self.r(2).is_multiple_of(12)
    }

    fn windows11(&self) -> bool {
        !self.r(3).is_multiple_of(3)
    }

    pub fn os(&self) -> OsInfo {
        let (name, build, display, ubr) = if self.windows11() {
            if self.r(4).is_multiple_of(2) {
                ("Microsoft Windows 11 Pro", 22631, "23H2", if self.out_of_date() { 3880 } else { 4460 })
            } else {
                ("Microsoft Windows 11 Pro", 26100, "24H2", if self.out_of_date() { 1742 } else { 2314 })
            }
        } else {
            ("Microsoft Windows 10 Pro", 19045, "22H2", if self.out_of_date() { 4291 } else { 5131 })
        };
        OsInfo {
            hostname: self.hostname.clone(),
            domain: Some("suido.local".into()),
            family: "windows".into(),
            name: name.into(),
            version: format!("10.0.{build}"),
            build: format!("{build}.{ubr}"),
            display_version: Some(display.into()),
            edition: Some("Professional".into()),
            kernel: None,
            arch: "x86_64".into(),
            install_date: Some(format!("2023-{:02}-{:02}", 1 + self.r(5) % 12, 1 + self.r(6) % 28)),
        }
    }

    pub fn hardware(&self) -> Hardware {
        let models = [("FUJITSU", "ESPRIMO D7012/M"), ("NEC", "Mate MKM34B-E"), ("Dell Inc.", "OptiPlex 7010"), ("FUJITSU", "LIFEBOOK A5513/N")];
        let (vendor, model) = models[(self.r(7) % models.len() as u64) as usize];
        Hardware {
            vendor: Some(vendor.into()),
            model: Some(model.into()),
            serial: Some(format!("{}{:08}", &vendor[..2].to_ascii_uppercase(), self.r(8) % 100_000_000)),
            uuid: Some(format!("{:08X}-{:04X}-{:04X}-{:04X}-{:012X}", self.r(9) as u32, self.r(10) as u16, self.r(11) as u16, self.r(12) as u16, self.r(13) & 0xFFFF_FFFF_FFFF)),
            bios_vendor: Some(vendor.into()),
            bios_version: Some(format!("1.{}.0", 10 + self.r(14) % 20)),
            bios_date: Some("2023-06-01".into()),
            cpu: Cpu { model: "12th Gen Intel(R) Core(TM) i5-12500".into(), sockets: 1, cores: 6, threads: 12 },
            memory_bytes: if self.r(15).is_multiple_of(3) { 8 } else { 16 } * 1024 * 1024 * 1024,
        }
    }

    pub fn storage(&self) -> Storage {
        let size = 256u64 * 1000 * 1000 * 1000;
        let gen = self.generation.load(Ordering::Relaxed);
        let free = size / 2 - (self.r(16) % 50 + gen) * FREE_SPACE_GRANULARITY;
        Storage {
            disks: vec![Disk {
                name: "\\\\.\\PHYSICALDRIVE0".into(),
                model: Some("KIOXIA KBG50ZNS256G NVMe".into()),
                serial: Some(format!("{:016X}", self.r(17))),
                size_bytes: size,
                free_bytes: Some(free),
                rotational: Some(false),
            }],
            volumes: vec![Volume { mount: "C:".into(), device: "C:".into(), fs: "NTFS".into(), size_bytes: size - 1_000_000_000, free_bytes: free }],
        }
    }

    pub fn network(&self) -> Vec<Nic> {
        let vlan = machine_vlan(self.index);
        let host = machine_host(self.index);
        let mac = self.r(19).to_be_bytes();
        vec![Nic {
            name: "Intel(R) Ethernet Connection (17) I219-LM".into(),
            mac: Some(machine_mac(self.index)),
            ipv4: vec![format!("10.{}.{vlan}.{host}", self.site + 1)],
            ipv6: vec![format!("fe80::{:x}:{:x}", mac[4], mac[5])],
            speed_mbps: Some(1000),
        }]
    }

    /// Whether this PC's neighbour cache holds its subnet's unregistered
    /// device: about one PC in twelve.
    pub fn sees_unknown_device(&self) -> bool {
        self.r(30).is_multiple_of(12)
    }

    /// The neighbour cache: the default gateway, the site's printer, one to
    /// three other simulated PCs of the same VLAN and, for a few PCs, an
    /// unregistered device. A handful of entries, the same at every
    /// collection.
    pub fn neighbors(&self) -> Vec<Neighbor> {
        let site = self.site;
        let vlan = machine_vlan(self.index);
        let host = machine_host(self.index);
        let entry = |ip: String, mac: String| Neighbor { ip, mac: Some(mac), interface: Some(FAKE_INTERFACE.into()) };
        let mut list = vec![entry(format!("10.{}.{vlan}.1", site + 1), site_router_mac(site))];
        let (ip, mac) = site_printer(site);
        list.push(entry(ip, mac));
        // Other PCs of the subnet: the nearest simulated PCs of the same
        // site and VLAN (a few hundred indices either side at most).
        let wanted = 1 + (self.r(31) % 3) as usize;
        let mut found = 0;
        for d in 1..=400usize {
            let candidates = [self.index.checked_add(d), self.index.checked_sub(d)];
            for j in candidates.into_iter().flatten() {
                if found < wanted
                    && self.peers.contains(&j)
                    && simulated_site(j, self.peers.end) == site
                    && machine_vlan(j) == vlan
                    && machine_host(j) != host
                {
                    list.push(entry(format!("10.{}.{vlan}.{}", site + 1, machine_host(j)), machine_mac(j)));
                    found += 1;
                }
            }
            if found == wanted {
                break;
            }
        }
        if self.sees_unknown_device() {
            let (ip, mac) = unknown_device(site, vlan);
            list.push(entry(ip, mac));
        }
        super::neighbors::finish(list)
    }

    pub fn software(&self) -> Vec<Software> {
        let mut list: Vec<Software> = BUREAU_APPS
            .iter()
            .map(|(n, v, p)| Software { name: n.to_string(), version: Some(v.to_string()), publisher: Some(p.to_string()), source: "hklm".into(), ..Default::default() })
            .collect();
        if self.out_of_date() {
            list[0].version = Some("16.0.14332.20447".into());
            list[3].version = Some("23.008.20470".into());
        }
        if self.r(20).is_multiple_of(25) {
            let (n, v, p) = UNWANTED[(self.r(21) % UNWANTED.len() as u64) as usize];
            list.push(Software { name: n.into(), version: Some(v.into()), publisher: Some(p.into()), source: "hku:S-1-5-21-1004".into(), ..Default::default() });
        }
        // Runtimes, drivers and components every Windows PC carries.
        let fillers = if self.heavy { 300usize.saturating_sub(list.len()) } else { 45 };
        for i in 0..fillers {
            let year = [2008, 2010, 2012, 2013, 2015, 2017, 2019, 2022][i % 8];
            let (name, publisher) = match i % 5 {
                0 => (format!("Microsoft Visual C++ {year} Redistributable (x64) - 14.{}.{}", 10 + i % 30, 30000 + i), "Microsoft Corporation"),
                1 => (format!("Microsoft Visual C++ {year} x86 Additional Runtime - {}.{}", 9 + i % 6, 30729 + i), "Microsoft Corporation"),
                2 => (format!("Intel(R) Driver Component {i}"), "Intel Corporation"),
                3 => (format!("Windows SDK AddOn {i}"), "Microsoft Corporation"),
                _ => (format!("Realtek Audio Component {i}"), "Realtek Semiconductor Corp."),
            };
            list.push(Software {
                name,
                version: Some(format!("{}.{}.{}", 1 + i % 14, i % 100, 1000 + i)),
                publisher: Some(publisher.into()),
                install_date: Some(format!("2024{:02}{:02}", 1 + i % 12, 1 + i % 28)),
                arch: Some(if i % 2 == 0 { "x64" } else { "x86" }.into()),
                source: if i % 2 == 0 { "hklm" } else { "hklm-wow64" }.into(),
                system_component: i % 7 == 0,
                product_code: Some(format!("{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}", mix(i as u64) as u32, i, 0x4000 + i % 0x1000, 0x8000 + i % 0x1000, mix(i as u64 + 7) & 0xFFFF_FFFF_FFFF)),
            });
        }
        list.sort_by(|a, b| (&a.name, &a.version, &a.source).cmp(&(&b.name, &b.version, &b.source)));
        list
    }

    pub fn hotfixes(&self) -> Vec<Hotfix> {
        let count = if self.heavy { 150 } else { 40 };
        let latest = if self.out_of_date() { 3 } else { 0 };
        let gen = self.generation.load(Ordering::Relaxed) as usize / 10;
        (latest..count + gen)
            .map(|i| Hotfix {
                id: format!("KB{}", 5_048_685 - i * 3_137),
                description: Some(if i % 4 == 0 { "Security Update" } else { "Update" }.into()),
                installed_on: Some(format!("{}/{}/2024", 1 + i % 12, 1 + i % 28)),
                installed_by: Some("NT AUTHORITY\\SYSTEM".into()),
            })
            .collect()
    }

    pub fn office(&self) -> Option<Office> {
        Some(Office {
            version: if self.out_of_date() { "16.0.14332.20447" } else { "16.0.14332.20763" }.into(),
            product_ids: vec!["Standard2021Volume".into()],
            channel: Some("PerpetualVL2021".into()),
            platform: Some("x64".into()),
        })
    }

    pub fn antivirus(&self) -> Antivirus {
        Antivirus {
            products: vec![
                AntivirusProduct {
                    name: "Trend Micro Apex One Security Agent".into(),
                    product_version: Some("14.0.12932".into()),
                    pattern_version: Some(if self.out_of_date() { "19.601.00" } else { "19.645.00" }.into()),
                    product_state: Some(266240),
                    enabled: Some(true),
                    up_to_date: Some(!self.out_of_date()),
                    source: "securitycenter2".into(),
                },
            ],
        }
    }

    pub fn collectors(self: &Arc<Self>) -> Vec<Box<dyn Collector>> {
        ["os", "hardware", "storage", "network", "neighbors", "software", "hotfixes", "office", "antivirus"]
            .iter()
            .map(|name| Box::new(FakeSection { machine: self.clone(), name }) as Box<dyn Collector>)
            .collect()
    }
}

struct FakeSection {
    machine: Arc<FakeMachine>,
    name: &'static str,
}

impl Collector for FakeSection {
    fn section(&self) -> &'static str {
        self.name
    }
    fn collect(&self, _: &CollectConfig, _: &mut Notes) -> Result<String, String> {
        let m = &self.machine;
        match self.name {
            "os" => super::to_json(&m.os()),
            "hardware" => super::to_json(&m.hardware()),
            "storage" => super::to_json(&m.storage()),
            "network" => super::to_json(&m.network()),
            "neighbors" => super::to_json(&m.neighbors()),
            "software" => super::to_json(&m.software()),
            "hotfixes" => super::to_json(&m.hotfixes()),
            "office" => super::to_json(&m.office()),
            "antivirus" => super::to_json(&m.antivirus()),
            other => Err(format!("no fake for {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_follow_bureau_proportions() {
        let counts = (0..680).fold([0u32; 10], |mut c, i| {
            c[site_index(i, 680)] += 1;
            c
        });
        assert_eq!(counts, [330, 60, 70, 35, 30, 30, 45, 40, 25, 15]);
    }

    #[test]
    fn heavy_machine_is_windows_sized_and_valid() {
        let m = Arc::new(FakeMachine::new(7, 0, true));
        assert!(m.software().len() >= 300);
        assert_eq!(m.hotfixes().len(), 150);
        for c in m.collectors() {
            let json = c.collect(&CollectConfig::default(), &mut Vec::new()).unwrap();
            validate_section(c.section(), &json).unwrap();
        }
    }

    /// The demo's 50 PCs (`lanward demo` default) and the bureau's 680, as
    /// `simulate` builds them.
    fn simulated(count: usize) -> Vec<FakeMachine> {
        (0..count).map(|i| FakeMachine::new(i, simulated_site(i, count), false).with_peers(0..count)).collect()
    }

    #[test]
    fn neighbors_are_a_handful_of_consistent_devices() {
        for count in [50, 680] {
            let pcs = simulated(count);
            let mut unknown = 0;
            for pc in &pcs {
                let list = pc.neighbors();
                validate_section("neighbors", &serde_json::to_string(&list).unwrap()).unwrap();
                assert_eq!(list, pc.neighbors(), "same list at every collection");
                assert!((2..=6).contains(&list.len()), "{}: {} neighbours", pc.hostname, list.len());
                let nic = &pc.network()[0];
                let own_ip = &nic.ipv4[0];
                let subnet = own_ip.rsplit_once('.').unwrap().0;
                // The gateway: .1 of the PC's subnet, the site's router MAC.
                let gw = list.iter().find(|n| n.ip == format!("{subnet}.1")).expect("gateway");
                assert_eq!(gw.mac, Some(site_router_mac(pc.site)));
                assert!(list.iter().any(|n| n.ip == site_printer(pc.site).0));
                for n in &list {
                    assert_ne!(&n.ip, own_ip);
                    assert_ne!(n.mac, nic.mac);
                    let mac = n.mac.as_deref().unwrap();
                    assert_eq!(super::super::neighbors::normalize_mac(mac).as_deref(), Some(mac));
                    // Another PC: a simulated PC of the same site with exactly that address and MAC.
                    if mac.starts_with("00:1B:") {
                        assert!(
                            pcs.iter().any(|o| o.site == pc.site && o.network()[0].ipv4[0] == n.ip && o.network()[0].mac.as_deref() == Some(mac)),
                            "{} sees {n:?}, which is no simulated PC",
                            pc.hostname
                        );
                    }
                }
                if pc.sees_unknown_device() {
                    let (ip, mac) = unknown_device(pc.site, machine_vlan(pc.index));
                    assert!(ip.starts_with(&format!("{subnet}.25")));
                    assert!(list.iter().any(|n| n.ip == ip && n.mac.as_deref() == Some(mac.as_str())));
                    assert!(pcs.iter().all(|o| o.network()[0].ipv4[0] != ip));
                    unknown += 1;
                }
            }
            // Something for the demo's unknown devices page, but a small fraction.
            assert!(unknown >= 2 && unknown * 8 <= count, "{unknown} of {count} PCs see an unknown device");
        }
        // Most PCs of the bureau see at least one other PC.
        let pcs = simulated(680);
        let with_peers = pcs.iter().filter(|pc| pc.neighbors().iter().any(|n| n.mac.as_deref().is_some_and(|m| m.starts_with("00:1B:")))).count();
        assert!(with_peers > 600, "{with_peers}");
    }
}
