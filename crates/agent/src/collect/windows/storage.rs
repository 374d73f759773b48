//! Disks (Win32_DiskDrive) and fixed volumes (Win32_LogicalDisk, DriveType 3).
//!
//! A volume is tied to its disk through Win32_LogicalDiskToPartition, whose
//! partition id ("Disk #0, Partition #2") carries the disk's Index; that
//! gives each disk the free space of its volumes. Whether a disk spins comes
//! from MSFT_PhysicalDisk (Storage namespace), when available.

use super::{decode, note, wmi};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::{Disk, Storage, Volume};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct DiskDrive {
    #[serde(rename = "Index")]
    index: Option<u32>,
    #[serde(rename = "DeviceID")]
    device_id: Option<String>,
    #[serde(rename = "Model")]
    model: Option<String>,
    #[serde(rename = "SerialNumber")]
    serial_number: Option<String>,
    #[serde(rename = "Size")]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct LogicalDisk {
    #[serde(rename = "DeviceID")]
    device_id: Option<String>,
    #[serde(rename = "FileSystem")]
    file_system: Option<String>,
    #[serde(rename = "Size")]
    size: Option<u64>,
    #[serde(rename = "FreeSpace")]
    free_space: Option<u64>,
}

#[derive(Deserialize)]
struct LogicalDiskToPartition {
    #[serde(rename = "Antecedent")]
    antecedent: Option<String>,
    #[serde(rename = "Dependent")]
    dependent: Option<String>,
}

#[derive(Deserialize)]
struct PhysicalDisk {
    #[serde(rename = "DeviceId")]
    device_id: Option<String>,
    #[serde(rename = "MediaType")]
    media_type: Option<u16>,
}

pub fn collect(config: &CollectConfig, notes: &mut Notes) -> Result<Storage, String> {
    let drives = wmi::query::<DiskDrive>(config, wmi::CIMV2, "SELECT Index, DeviceID, Model, SerialNumber, Size FROM Win32_DiskDrive");
    let logical = wmi::query::<LogicalDisk>(
        config,
        wmi::CIMV2,
        "SELECT DeviceID, FileSystem, Size, FreeSpace FROM Win32_LogicalDisk WHERE DriveType = 3",
    );
    let (drives, logical) = match (drives, logical) {
        (Err(a), Err(b)) => return Err(format!("{a}; {b}")),
        (d, l) => (
            d.unwrap_or_else(|e| {
                note(notes, "storage", e);
                Vec::new()
            }),
            l.unwrap_or_else(|e| {
                note(notes, "storage", e);
                Vec::new()
            }),
        ),
    };

    // Drive letter → (partition id, disk index).
    let mut partition_of: HashMap<String, (String, Option<u32>)> = HashMap::new();
    match wmi::query::<LogicalDiskToPartition>(config, wmi::CIMV2, "SELECT Antecedent, Dependent FROM Win32_LogicalDiskToPartition") {
        Ok(rows) => {
            for r in rows {
                let part = r.antecedent.as_deref().and_then(decode::object_path_device_id);
                let letter = r.dependent.as_deref().and_then(decode::object_path_device_id);
                if let (Some(part), Some(letter)) = (part, letter) {
                    let disk = decode::partition_disk_index(&part);
                    partition_of.insert(letter.to_ascii_uppercase(), (part, disk));
                }
            }
        }
        Err(e) => note(notes, "storage", format!("volumes not tied to disks: {e}")),
    }

    // Disk number → spins? (MediaType 3 = HDD, 4 = SSD, 5 = SCM).
    let mut rotational: HashMap<u32, bool> = HashMap::new();
    match wmi::query::<PhysicalDisk>(config, wmi::STORAGE, "SELECT DeviceId, MediaType FROM MSFT_PhysicalDisk") {
        Ok(rows) => {
            for r in rows {
                let id = r.device_id.as_deref().and_then(|d| d.trim().parse::<u32>().ok());
                let spins = match r.media_type {
                    Some(3) => Some(true),
                    Some(4) | Some(5) => Some(false),
                    _ => None,
                };
                if let (Some(id), Some(spins)) = (id, spins) {
                    rotational.insert(id, spins);
                }
            }
        }
        Err(e) => note(notes, "storage", format!("disk media type unknown: {e}")),
    }

    let mut volumes = Vec::new();
    let mut free_by_disk: HashMap<u32, u64> = HashMap::new();
    for l in logical {
        let (Some(letter), Some(size)) = (l.device_id.map(|d| d.trim().to_ascii_uppercase()), l.size) else { continue };
        let free = l.free_space.unwrap_or(0);
        let mapping = partition_of.get(&letter);
        if let Some(disk) = mapping.and_then(|(_, d)| *d) {
            *free_by_disk.entry(disk).or_insert(0) += free;
        }
        volumes.push(Volume {
            mount: format!("{letter}\\"),
            device: mapping.map(|(p, _)| p.clone()).unwrap_or_else(|| letter.clone()),
            fs: l.file_system.unwrap_or_default(),
            size_bytes: size,
            free_bytes: free,
        });
    }
    volumes.sort_by(|a, b| a.mount.cmp(&b.mount));

    let mut disks: Vec<(u32, Disk)> = drives
        .into_iter()
        .filter_map(|d| {
            let index = d.index?;
            let name = d
                .device_id
                .as_deref()
                // "\\.\PHYSICALDRIVE0" → "PHYSICALDRIVE0".
                .and_then(|id| id.trim().rsplit('\\').next().map(str::to_string))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("PHYSICALDRIVE{index}"));
            Some((
                index,
                Disk {
                    name,
                    model: decode::clean(d.model.as_deref()),
                    serial: decode::clean(d.serial_number.as_deref()),
                    size_bytes: d.size.unwrap_or(0),
                    free_bytes: free_by_disk.get(&index).copied(),
                    rotational: rotational.get(&index).copied(),
                },
            ))
        })
        .collect();
    disks.sort_by_key(|(i, _)| *i);
    Ok(Storage { disks: disks.into_iter().map(|(_, d)| d).collect(), volumes })
}
