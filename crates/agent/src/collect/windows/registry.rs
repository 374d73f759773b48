//! The registry values listed in the collection config
//! (`registry_values`, e.g. `HKLM\SOFTWARE\Policies\...\WindowsUpdate\WUServer`).
//!
//! Every entry yields one row; a missing key or value, or a malformed entry,
//! sets that row's `error` instead of failing the section. HKCU is the
//! agent's own user: SYSTEM when it runs as a service.

use super::decode::{self, Hive, RegPath};
use super::reg;
use crate::collect::{CollectConfig, Notes};
use lanward_proto::RegistryValue;
use winreg::enums::{HKEY_CLASSES_ROOT, HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE, HKEY_USERS};
use winreg::RegKey;

pub fn collect(config: &CollectConfig, _: &mut Notes) -> Result<Vec<RegistryValue>, String> {
    Ok(config.registry_values.iter().map(|entry| read(entry)).collect())
}

fn read(entry: &str) -> RegistryValue {
    let path = match decode::parse_registry_path(entry) {
        Ok(p) => p,
        Err(e) => return RegistryValue { key: entry.to_string(), error: Some(e), ..Default::default() },
    };
    let mut row = RegistryValue { key: path.key.clone(), name: path.value.clone(), ..Default::default() };
    match value(&path) {
        Ok((kind, text)) => {
            row.kind = Some(decode::reg_kind_name(kind));
            row.value = Some(text);
        }
        Err(e) => row.error = Some(e),
    }
    row
}

fn value(path: &RegPath) -> Result<(u32, String), String> {
    let root = RegKey::predef(match path.hive {
        Hive::LocalMachine => HKEY_LOCAL_MACHINE,
        Hive::CurrentUser => HKEY_CURRENT_USER,
        Hive::Users => HKEY_USERS,
        Hive::ClassesRoot => HKEY_CLASSES_ROOT,
    });
    let hive_name = path.key.split('\\').next().unwrap_or("");
    let key = if path.subkey.is_empty() {
        root
    } else {
        reg::open(&root, hive_name, &path.subkey)?.ok_or_else(|| format!("key {} not found", path.key))?
    };
    let shown = if path.value.is_empty() { "(default)" } else { path.value.as_str() };
    match reg::raw(&key, &path.value) {
        Ok(Some((kind, bytes))) => Ok((kind, decode::reg_value_text(kind, &bytes))),
        Ok(None) => Err(format!("value {shown} not found in {}", path.key)),
        Err(e) => Err(format!("cannot read value {shown} in {}: {e}", path.key)),
    }
}
