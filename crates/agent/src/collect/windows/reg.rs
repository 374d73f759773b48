//! Registry access shared by the collectors.
//!
//! Keys are always opened with `KEY_WOW64_64KEY`: the agent may be a 32-bit
//! build on 64-bit Windows, and without the flag it would silently read
//! `WOW6432Node` instead of the real `SOFTWARE` key.

use super::decode;
use std::io;
use winreg::enums::{HKEY_LOCAL_MACHINE, KEY_READ, KEY_WOW64_64KEY};
use winreg::RegKey;

/// Read access to the 64-bit view.
pub const READ: u32 = KEY_READ | KEY_WOW64_64KEY;

pub fn hklm() -> RegKey {
    RegKey::predef(HKEY_LOCAL_MACHINE)
}

/// Opens `path` below `root` (named `root_name` in errors); `Ok(None)` when
/// the key does not exist, `Err` naming the key for any other failure.
pub fn open(root: &RegKey, root_name: &str, path: &str) -> Result<Option<RegKey>, String> {
    match root.open_subkey_with_flags(path, READ) {
        Ok(k) => Ok(Some(k)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot open {root_name}\\{path}: {e}")),
    }
}

/// Raw value (type code, bytes); `Ok(None)` when the value does not exist.
pub fn raw(key: &RegKey, name: &str) -> io::Result<Option<(u32, Vec<u8>)>> {
    match key.get_raw_value(name) {
        Ok(v) => Ok(Some((v.vtype as u32, v.bytes.into_owned()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A value as trimmed text (strings, or numbers in decimal); `None` when
/// missing, empty, binary or unreadable.
pub fn string(key: &RegKey, name: &str) -> Option<String> {
    let (kind, bytes) = raw(key, name).ok()??;
    if !matches!(kind, decode::REG_SZ | decode::REG_EXPAND_SZ | decode::REG_MULTI_SZ | decode::REG_DWORD | decode::REG_QWORD) {
        return None;
    }
    let s = decode::reg_value_text(kind, &bytes);
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A text value of an Uninstall entry with what was wrong with it, if
/// anything (wrong type, invalid UTF-16, too long, unreadable).
pub fn checked(key: &RegKey, name: &str) -> (Option<String>, Option<String>) {
    match raw(key, name) {
        Ok(Some((kind, bytes))) => decode::checked_text(kind, &bytes),
        Ok(None) => (None, None),
        Err(e) => (None, Some(format!("cannot be read: {e}"))),
    }
}

/// A value as a number (DWORD, QWORD or digits in a string).
pub fn number(key: &RegKey, name: &str) -> Option<u64> {
    let (kind, bytes) = raw(key, name).ok()??;
    decode::reg_value_u64(kind, &bytes)
}
