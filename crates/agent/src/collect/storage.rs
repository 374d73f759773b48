//! Disks (model, serial, size) and volumes (free space).

use super::{CollectConfig, Collector, Notes};
use lanward_proto::{Storage, FREE_SPACE_GRANULARITY};

pub struct StorageCollector;

impl Collector for StorageCollector {
    fn section(&self) -> &'static str {
        "storage"
    }
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String> {
        let mut s = imp::collect(config, notes)?;
        round_free(&mut s);
        super::to_json(&s)
    }
}

/// Rounds free space down so that small writes do not change the section.
pub fn round_free(s: &mut Storage) {
    let r = |b: u64| b - b % FREE_SPACE_GRANULARITY;
    for v in &mut s.volumes {
        v.free_bytes = r(v.free_bytes);
    }
    for d in &mut s.disks {
        d.free_bytes = d.free_bytes.map(r);
    }
}

#[cfg(unix)]
mod imp {
    use super::*;
    use crate::collect::read_trimmed;
    use lanward_proto::{Disk, Volume};
    use std::path::Path;

    /// Filesystems that hold no user data.
    const PSEUDO_FS: &[&str] = &[
        "proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "pstore", "debugfs", "tracefs",
        "mqueue", "hugetlbfs", "configfs", "fusectl", "bpf", "autofs", "binfmt_misc", "overlay", "squashfs", "nsfs", "efivarfs",
        "ramfs", "rpc_pipefs", "fuse.lxcfs",
    ];

    fn statvfs(path: &str) -> Option<(u64, u64)> {
        let c = std::ffi::CString::new(path).ok()?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        let frsize = st.f_frsize as u64;
        Some((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
    }

    /// The whole disk a block device (`sda1`, `nvme0n1p2`, `dm-0`) lives on.
    fn parent_disk(dev: &str) -> Option<String> {
        let sys = Path::new("/sys/class/block").join(dev);
        if sys.join("partition").exists() {
            let real = std::fs::canonicalize(&sys).ok()?;
            return real.parent()?.file_name().map(|n| n.to_string_lossy().into_owned());
        }
        // Device-mapper/LVM: follow the first slave.
        if let Ok(mut slaves) = std::fs::read_dir(sys.join("slaves")) {
            if let Some(Ok(s)) = slaves.next() {
                return parent_disk(&s.file_name().to_string_lossy());
            }
        }
        Some(dev.to_string())
    }

    pub fn collect(_: &CollectConfig, _notes: &mut Notes) -> Result<Storage, String> {
        let mut disks = Vec::new();
        let entries = std::fs::read_dir("/sys/block").map_err(|e| format!("/sys/block: {e}"))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if ["loop", "ram", "zram", "sr", "fd", "dm-", "md"].iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let base = e.path();
            let sectors: u64 = read_trimmed(base.join("size")).and_then(|s| s.parse().ok()).unwrap_or(0);
            if sectors == 0 {
                continue;
            }
            disks.push(Disk {
                name: name.clone(),
                model: read_trimmed(base.join("device/model")),
                serial: read_trimmed(base.join("device/serial")).or_else(|| read_trimmed(base.join("serial"))),
                size_bytes: sectors * 512,
                free_bytes: None,
                rotational: read_trimmed(base.join("queue/rotational")).map(|r| r == "1"),
            });
        }
        disks.sort_by(|a, b| a.name.cmp(&b.name));

        let mounts = std::fs::read_to_string("/proc/mounts").map_err(|e| format!("/proc/mounts: {e}"))?;
        let mut volumes: Vec<Volume> = Vec::new();
        for line in mounts.lines() {
            let mut f = line.split_whitespace();
            let (Some(device), Some(mount), Some(fs)) = (f.next(), f.next(), f.next()) else { continue };
            if PSEUDO_FS.contains(&fs) || !device.starts_with('/') || volumes.iter().any(|v| v.device == device) {
                continue;
            }
            let mount = mount.replace("\\040", " ");
            let Some((size, free)) = statvfs(&mount) else { continue };
            volumes.push(Volume { mount, device: device.to_string(), fs: fs.to_string(), size_bytes: size, free_bytes: free });
        }
        volumes.sort_by(|a, b| a.mount.cmp(&b.mount));
        for v in &volumes {
            let dev = std::fs::canonicalize(&v.device).ok();
            let Some(dev) = dev.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()) else { continue };
            if let Some(disk) = parent_disk(&dev).and_then(|p| disks.iter_mut().find(|d| d.name == p)) {
                disk.free_bytes = Some(disk.free_bytes.unwrap_or(0) + v.free_bytes);
            }
        }
        Ok(Storage { disks, volumes })
    }
}

#[cfg(windows)]
mod imp {
    pub use crate::collect::windows::storage::collect;
}
