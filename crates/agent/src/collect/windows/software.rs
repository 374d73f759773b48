//! Installed software from the Uninstall keys: the machine's 64-bit and
//! 32-bit (WOW6432Node) views, and the per-user key of every hive loaded
//! under HKEY_USERS (users logged on, service accounts).

use super::{decode, note, reg};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::Software;
use winreg::enums::HKEY_USERS;
use winreg::RegKey;

const UNINSTALL: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
const UNINSTALL_WOW64: &str = r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall";
const USER_UNINSTALL: &str = r"Software\Microsoft\Windows\CurrentVersion\Uninstall";

pub fn collect(_: &CollectConfig, notes: &mut Notes) -> Result<Vec<Software>, String> {
    let hklm = reg::hklm();
    let mut list = Vec::new();
    let mut unreadable = 0usize;
    let machine_arch = if super::os::is_64bit() { "x64" } else { "x86" };

    // A machine-wide key that exists but cannot be read fails the section:
    // a partial list would look like software being uninstalled.
    if let Some(key) = reg::open(&hklm, "HKLM", UNINSTALL)? {
        read_uninstall(&key, "hklm", Some(machine_arch), &mut list, &mut unreadable, notes);
    } else {
        note(notes, "software", format!(r"HKLM\{UNINSTALL} does not exist"));
    }
    // Absent on 32-bit Windows.
    if let Some(key) = reg::open(&hklm, "HKLM", UNINSTALL_WOW64)? {
        read_uninstall(&key, "hklm-wow64", Some("x86"), &mut list, &mut unreadable, notes);
    }

    // Per-user installs (e.g. Teams, Zoom, Chrome without admin rights),
    // only for the hives loaded now. `.DEFAULT` is S-1-5-18 again and
    // `*_Classes` hold file associations, not software.
    let users = RegKey::predef(HKEY_USERS);
    for sid in users.enum_keys() {
        let sid = match sid {
            Ok(s) => s,
            Err(e) => {
                note(notes, "software", format!("cannot list HKEY_USERS: {e}"));
                break;
            }
        };
        if sid.ends_with("_Classes") || sid.eq_ignore_ascii_case(".DEFAULT") {
            continue;
        }
        match reg::open(&users, "HKU", &format!(r"{sid}\{USER_UNINSTALL}")) {
            Ok(Some(key)) => read_uninstall(&key, &format!("hku:{sid}"), None, &mut list, &mut unreadable, notes),
            Ok(None) => {}
            Err(e) => note(notes, "software", e),
        }
    }

    if unreadable > 0 {
        note(notes, "software", format!("{unreadable} Uninstall entries could not be opened"));
    }
    Ok(list)
}

/// Adds the entries under one Uninstall key. Subkeys without a DisplayName
/// are not applications (leftovers, patches' bookkeeping) and are skipped.
fn read_uninstall(key: &RegKey, source: &str, arch: Option<&str>, out: &mut Vec<Software>, unreadable: &mut usize, notes: &mut Notes) {
    for name in key.enum_keys() {
        let Ok(name) = name else {
            *unreadable += 1;
            continue;
        };
        let entry = match key.open_subkey_with_flags(&name, reg::READ) {
            Ok(k) => k,
            Err(_) => {
                *unreadable += 1;
                continue;
            }
        };
        // Keep what can be read, and say what could not and why.
        let mut field = |value: &str| {
            let (text, problem) = reg::checked(&entry, value);
            if let Some(p) = problem {
                note(notes, "software", format!(r"{source} Uninstall\{name}: {value} {p}"));
            }
            text
        };
        let Some(display_name) = field("DisplayName") else { continue };
        let (version, publisher, install_date) = (field("DisplayVersion"), field("Publisher"), field("InstallDate"));
        out.push(Software {
            name: display_name,
            version,
            publisher,
            install_date,
            arch: arch.map(str::to_string),
            source: source.to_string(),
            system_component: reg::number(&entry, "SystemComponent") == Some(1),
            product_code: decode::is_guid(&name).then(|| name.clone()),
        });
    }
}
