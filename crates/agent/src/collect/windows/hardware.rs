//! Machine, BIOS, CPU and memory from WMI (Win32_ComputerSystem, Win32_BIOS,
//! Win32_ComputerSystemProduct, Win32_Processor).

use super::{decode, note, wmi};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::{Cpu, Hardware};
use serde::Deserialize;

#[derive(Deserialize)]
struct ComputerSystem {
    #[serde(rename = "Manufacturer")]
    manufacturer: Option<String>,
    #[serde(rename = "Model")]
    model: Option<String>,
    #[serde(rename = "TotalPhysicalMemory")]
    total_physical_memory: Option<u64>,
}

#[derive(Deserialize)]
struct Bios {
    #[serde(rename = "SerialNumber")]
    serial_number: Option<String>,
    #[serde(rename = "SMBIOSBIOSVersion")]
    smbios_bios_version: Option<String>,
    #[serde(rename = "Manufacturer")]
    manufacturer: Option<String>,
    #[serde(rename = "ReleaseDate")]
    release_date: Option<String>,
}

#[derive(Deserialize)]
struct Product {
    #[serde(rename = "UUID")]
    uuid: Option<String>,
    #[serde(rename = "IdentifyingNumber")]
    identifying_number: Option<String>,
    #[serde(rename = "Version")]
    version: Option<String>,
}

#[derive(Deserialize)]
struct Processor {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "NumberOfCores")]
    number_of_cores: Option<u32>,
    #[serde(rename = "NumberOfLogicalProcessors")]
    number_of_logical_processors: Option<u32>,
}

pub fn collect(config: &CollectConfig, notes: &mut Notes) -> Result<Hardware, String> {
    // A failed query leaves its fields empty and a note; all four failing
    // means WMI is unusable and the section is not sent.
    let mut failures = Vec::new();
    let cs = one::<ComputerSystem>(config, "SELECT Manufacturer, Model, TotalPhysicalMemory FROM Win32_ComputerSystem", &mut failures);
    let bios = one::<Bios>(config, "SELECT SerialNumber, SMBIOSBIOSVersion, Manufacturer, ReleaseDate FROM Win32_BIOS", &mut failures);
    let product = one::<Product>(config, "SELECT UUID, IdentifyingNumber, Version FROM Win32_ComputerSystemProduct", &mut failures);
    let cpus =
        match wmi::query::<Processor>(config, wmi::CIMV2, "SELECT Name, NumberOfCores, NumberOfLogicalProcessors FROM Win32_Processor") {
            Ok(rows) => Some(rows),
            Err(e) => {
                failures.push(e);
                None
            }
        };
    if failures.len() == 4 {
        return Err(failures.join("; "));
    }
    for f in failures {
        note(notes, "hardware", f);
    }

    let vendor = cs.as_ref().and_then(|c| decode::clean(c.manufacturer.as_deref()));
    let mut model = cs.as_ref().and_then(|c| decode::clean(c.model.as_deref()));
    // Lenovo puts the machine type ("20XW003JJP") in Model and the name
    // people know ("ThinkPad X1 Carbon Gen 9") in the product's Version.
    if vendor.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("LENOVO")) {
        if let Some(friendly) = product.as_ref().and_then(|p| decode::clean(p.version.as_deref())) {
            model = Some(match model {
                Some(m) if m != friendly => format!("{friendly} ({m})"),
                _ => friendly,
            });
        }
    }

    Ok(Hardware {
        vendor,
        model,
        // Some vendors fill only the product's IdentifyingNumber.
        serial: bios
            .as_ref()
            .and_then(|b| decode::clean(b.serial_number.as_deref()))
            .or_else(|| product.as_ref().and_then(|p| decode::clean(p.identifying_number.as_deref()))),
        uuid: product.as_ref().and_then(|p| decode::clean(p.uuid.as_deref())),
        bios_vendor: bios.as_ref().and_then(|b| decode::clean(b.manufacturer.as_deref())),
        bios_version: bios.as_ref().and_then(|b| decode::clean(b.smbios_bios_version.as_deref())),
        bios_date: bios.as_ref().and_then(|b| b.release_date.as_deref()).and_then(decode::cim_date),
        cpu: cpu(cpus.unwrap_or_default()),
        memory_bytes: cs.and_then(|c| c.total_physical_memory).unwrap_or(0),
    })
}

/// Win32_Processor has one row per socket.
fn cpu(rows: Vec<Processor>) -> Cpu {
    Cpu {
        model: rows.iter().find_map(|p| decode::clean(p.name.as_deref())).unwrap_or_default(),
        sockets: rows.len() as u32,
        cores: rows.iter().filter_map(|p| p.number_of_cores).sum(),
        threads: rows.iter().filter_map(|p| p.number_of_logical_processors).sum(),
    }
}

/// The first row of a CIMV2 query; `None` (and the error kept) on failure.
fn one<T: serde::de::DeserializeOwned + Send + 'static>(config: &CollectConfig, wql: &str, failures: &mut Vec<String>) -> Option<T> {
    match wmi::query::<T>(config, wmi::CIMV2, wql) {
        Ok(rows) => rows.into_iter().next(),
        Err(e) => {
            failures.push(e);
            None
        }
    }
}
