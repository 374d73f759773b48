//! Operating system: name, version, build, hostname.

use super::{CollectConfig, Collector, Notes};

pub struct OsCollector;

impl Collector for OsCollector {
    fn section(&self) -> &'static str {
        "os"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        super::to_json(&imp::collect(config, notes)?)
    }
}

pub fn hostname() -> String {
    imp::hostname()
}

#[cfg(unix)]
mod imp {
    use super::*;
    use lanward_proto::OsInfo;
    use crate::collect::read_trimmed;

    pub fn hostname() -> String {
        read_trimmed("/proc/sys/kernel/hostname")
            .or_else(|| read_trimmed("/etc/hostname"))
            .unwrap_or_else(|| "unknown".to_string())
    }

    /// Parses os-release (KEY="value" lines).
    pub fn parse_os_release(text: &str) -> std::collections::HashMap<String, String> {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').trim_matches('\'').to_string()))
            .collect()
    }

    pub fn collect(_: &CollectConfig, notes: &mut Notes) -> Result<OsInfo, String> {
        let release = std::fs::read_to_string("/etc/os-release").or_else(|_| std::fs::read_to_string("/usr/lib/os-release"));
        let fields = match release {
            Ok(t) => parse_os_release(&t),
            Err(e) => {
                notes.push(lanward_proto::CollectorNote { collector: "os".into(), message: format!("os-release: {e}") });
                Default::default()
            }
        };
        let kernel = read_trimmed("/proc/sys/kernel/osrelease");
        let domain = read_trimmed("/proc/sys/kernel/domainname").filter(|d| d != "(none)");
        Ok(OsInfo {
            hostname: hostname(),
            domain,
            family: "linux".into(),
            name: fields.get("PRETTY_NAME").or(fields.get("NAME")).cloned().unwrap_or_else(|| "Linux".into()),
            version: fields.get("VERSION_ID").cloned().unwrap_or_default(),
            build: kernel.clone().unwrap_or_default(),
            display_version: fields.get("VERSION_CODENAME").cloned(),
            edition: fields.get("VARIANT").cloned(),
            kernel,
            arch: std::env::consts::ARCH.to_string(),
            install_date: None,
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn os_release_quotes() {
            let f = super::parse_os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID='12'\nID=debian\n");
            assert_eq!(f["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
            assert_eq!(f["VERSION_ID"], "12");
        }
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::os::{collect, hostname};
}
