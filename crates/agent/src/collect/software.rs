//! Installed software: dpkg or rpm on Linux; Uninstall keys on Windows.

use super::{CollectConfig, Collector, Notes};
use lanward_proto::Software;

pub struct SoftwareCollector;

impl Collector for SoftwareCollector {
    fn section(&self) -> &'static str {
        "software"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let mut list = imp::collect(config, notes)?;
        // A stable order, so that the section's hash changes only when the content does.
        list.sort_by(|a, b| (&a.name, &a.version, &a.source).cmp(&(&b.name, &b.version, &b.source)));
        list.dedup();
        super::to_json(&list)
    }
}

/// Parses dpkg's status file: installed packages only.
pub fn parse_dpkg_status(text: &str) -> Vec<Software> {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut arch = None;
        let mut maintainer = None;
        let mut installed = false;
        for line in para.lines() {
            if line.starts_with(' ') {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else { continue };
            let v = v.trim();
            match k {
                "Package" => name = Some(v.to_string()),
                "Version" => version = Some(v.to_string()),
                "Architecture" => arch = Some(v.to_string()),
                "Maintainer" => maintainer = Some(v.split('<').next().unwrap_or(v).trim().to_string()),
                "Status" => installed = v.ends_with(" installed"),
                _ => {}
            }
        }
        if let (Some(name), true) = (name, installed) {
            out.push(Software { name, version, publisher: maintainer, arch, source: "dpkg".into(), ..Default::default() });
        }
    }
    out
}

#[cfg(unix)]
mod imp {
    use super::*;

    pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<Vec<Software>, String> {
        if let Ok(text) = std::fs::read_to_string("/var/lib/dpkg/status") {
            return Ok(parse_dpkg_status(&text));
        }
        // RPM-based: ask rpm itself; its database format is not ours to parse.
        let out = std::process::Command::new("rpm")
            .args(["-qa", "--queryformat", "%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{INSTALLTIME}\\n"])
            .output()
            .map_err(|e| format!("neither /var/lib/dpkg/status nor rpm available: {e}"))?;
        if !out.status.success() {
            return Err(format!("rpm -qa failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let opt = |i: usize| f.get(i).filter(|v| !v.is_empty() && **v != "(none)").map(|v| v.to_string());
                Some(Software {
                    name: f.first()?.to_string(),
                    version: opt(1),
                    arch: opt(2),
                    publisher: opt(3),
                    install_date: opt(4),
                    source: "rpm".into(),
                    ..Default::default()
                })
            })
            .collect())
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::software::collect;
}

#[cfg(test)]
mod tests {
    #[test]
    fn dpkg_status_installed_only() {
        let text = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b7\nArchitecture: amd64\nMaintainer: Matthias Klose <doko@debian.org>\nDescription: x\n multi\n\n\
                    Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        let s = super::parse_dpkg_status(text);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "bash");
        assert_eq!(s[0].version.as_deref(), Some("5.2.15-2+b7"));
        assert_eq!(s[0].publisher.as_deref(), Some("Matthias Klose"));
    }
}
