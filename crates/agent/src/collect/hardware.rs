//! Machine, BIOS, CPU and memory.

use super::{CollectConfig, Collector, Notes};

pub struct HardwareCollector;

impl Collector for HardwareCollector {
    fn section(&self) -> &'static str {
        "hardware"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        super::to_json(&imp::collect(config, notes)?)
    }
}

#[cfg(unix)]
mod imp {
    use super::*;
    use lanward_proto::Hardware;
    use crate::collect::read_trimmed;
    use lanward_proto::{CollectorNote, Cpu};

    /// DMI strings that vendors ship as placeholders mean "unknown".
    fn dmi(name: &str) -> Option<String> {
        read_trimmed(format!("/sys/class/dmi/id/{name}")).filter(|v| {
            let l = v.to_ascii_lowercase();
            !["to be filled by o.e.m.", "default string", "not specified", "system serial number", "none", "0"].contains(&l.as_str())
        })
    }

    pub fn parse_cpuinfo(text: &str) -> Cpu {
        let mut model = String::new();
        let mut threads = 0u32;
        let mut cores = std::collections::BTreeSet::new();
        let mut sockets = std::collections::BTreeSet::new();
        let mut physical = String::from("0");
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "processor" => threads += 1,
                "model name" | "Model" | "cpu model" if model.is_empty() => model = v.to_string(),
                "physical id" => {
                    physical = v.to_string();
                    sockets.insert(v.to_string());
                }
                "core id" => {
                    cores.insert((physical.clone(), v.to_string()));
                }
                _ => {}
            }
        }
        Cpu {
            model,
            sockets: sockets.len().max(1) as u32,
            cores: if cores.is_empty() { threads } else { cores.len() as u32 },
            threads,
        }
    }

    pub fn parse_meminfo_total(text: &str) -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    pub fn collect(_: &CollectConfig, notes: &mut Notes) -> Result<Hardware, String> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").map_err(|e| format!("/proc/cpuinfo: {e}"))?;
        let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
        let serial = dmi("product_serial");
        if serial.is_none() && std::path::Path::new("/sys/class/dmi/id/product_serial").exists() {
            notes.push(CollectorNote { collector: "hardware".into(), message: "product_serial is readable by root only".into() });
        }
        Ok(Hardware {
            vendor: dmi("sys_vendor"),
            model: dmi("product_name"),
            serial,
            uuid: dmi("product_uuid"),
            bios_vendor: dmi("bios_vendor"),
            bios_version: dmi("bios_version"),
            bios_date: dmi("bios_date"),
            cpu: parse_cpuinfo(&cpuinfo),
            memory_bytes: parse_meminfo_total(&meminfo).unwrap_or(0),
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn cpuinfo_counts_cores_and_threads() {
            let text = "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i5-1135G7\nphysical id\t: 0\ncore id\t: 0\n\n\
                        processor\t: 1\nmodel name\t: Intel(R) Core(TM) i5-1135G7\nphysical id\t: 0\ncore id\t: 0\n\n\
                        processor\t: 2\nmodel name\t: Intel(R) Core(TM) i5-1135G7\nphysical id\t: 0\ncore id\t: 1\n";
            let cpu = super::parse_cpuinfo(text);
            assert_eq!((cpu.sockets, cpu.cores, cpu.threads), (1, 2, 3));
            assert_eq!(cpu.model, "Intel(R) Core(TM) i5-1135G7");
            assert_eq!(super::parse_meminfo_total("MemTotal:       16318504 kB\n"), Some(16318504 * 1024));
        }
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::hardware::collect;
}
