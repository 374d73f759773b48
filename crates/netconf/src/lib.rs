//! Network device configurations (PRODUCT.md §2(イ)): parse the running
//! configs of routers, switches and firewalls from several vendors into
//! one vendor-neutral [`model`], with every input line accounted for, and
//! analyse the network they make up ([`analysis`]).
//!
//! - [`decode`]: bytes → text (UTF-8, or Shift_JIS as Japanese vendors'
//!   tools write it), line endings normalised; binary refused.
//! - [`detect_vendor`]: the vendor from the content, never the file name.
//! - `vendors/`: one parser per syntax family. Cisco-like dialects share
//!   the indentation-tree front end (`vendors/tree.rs`); YAMAHA's
//!   `pp select` contexts and FortiOS's `config/edit/next/end` blocks have
//!   their own.
//!
//! Nothing here does I/O or panics on input: a parser returns a model and
//! line accounting for any text (fuzzed).

pub mod analysis;
pub mod changes;
pub mod history;
pub mod links;
pub mod model;
pub mod reach;
pub mod render;
mod vendors;

pub use model::*;

/// Why a file could not be parsed at all (the other files go on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: 空のファイルです (empty file)")]
    Empty { file: String },
    #[error("{file}: テキストではありません (binary data at byte {offset})")]
    Binary { file: String, offset: usize },
    #[error("{file}: 機器の種類を判別できません (unknown vendor: no line matches a known configuration syntax)")]
    UnknownVendor { file: String },
    #[error("{file}: 大きすぎます ({bytes} bytes; the limit is 64 MB)")]
    TooLarge { file: String, bytes: usize },
}

const MAX_CONFIG_BYTES: usize = 64 * 1024 * 1024;

/// Bytes → text. UTF-8 when valid, otherwise Shift_JIS (CP932); a NUL or
/// other control bytes (beyond tab, CR, LF, form feed, escape) mean binary.
pub fn decode(file: &str, bytes: &[u8]) -> Result<String, ConfigError> {
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge { file: file.into(), bytes: bytes.len() });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ConfigError::Empty { file: file.into() });
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0 || (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n' | 0x0c | 0x1b)) || b == 0x7f) {
        return Err(ConfigError::Binary { file: file.into(), offset });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::SHIFT_JIS.decode(bytes).0.into_owned(),
    };
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// The vendor, from what the text says about itself.
///
/// Cisco IOS, AW+, AX and IX share the Cisco-like syntax, so lines any of
/// them could write (`!`, `hostname`, `ip route`) only score the family;
/// which member it is comes from each one's own markers (IOS's
/// `interface Gi1/0/1`, AW+'s `port1.0.1`, AX's `gigabitethernet 0/1`,
/// IX's `GigaEthernet0.0`), with IOS when none is present.
pub fn detect_vendor(text: &str) -> Vendor {
    // [generic Cisco-like, IOS, AW+, AX, IX, YAMAHA, FortiOS]
    let mut score = [0i32; 7];
    for line in text.lines().take(5000) {
        let l = line.trim();
        let indented = line.starts_with([' ', '\t']);
        let lower = l.to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        if lower.starts_with("#config-version=fg") || lower == "config system global" || lower.starts_with("config firewall policy") {
            score[6] += 10;
        }
        // YAMAHA's filters are top-level; IX's indented `ip filter NAME 1 in` applies an ACL.
        if lower.starts_with("pp select") || lower.starts_with("tunnel select") || lower.starts_with("ip lan1 address") || lower.starts_with("# rtx") || (!indented && lower.starts_with("ip filter ")) {
            score[5] += 5;
        }
        if lower.starts_with("interface port1.") || lower.contains("awplus") || lower.starts_with("interface port") && lower.contains('.') || lower == "vlan database" || lower.starts_with("static-channel-group ") || lower == "switchport trunk native vlan none" || words.first() == Some(&"interface") && words.get(1).is_some_and(|n| n.strip_prefix("sa").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))) {
            score[2] += 5;
        }
        // YAMAHA writes `ip route default gateway ...`.
        if lower.starts_with("interface gigaethernet") || lower.starts_with("interface fastethernet0.") || lower.contains("nec portable internetwork") || lower.starts_with("ip route default") && words.get(3) != Some(&"gateway") || lower.starts_with("ip ufs-cache") || lower.starts_with("proxy-dns ") {
            score[4] += 5;
        }
        if lower.starts_with("interface gigabitethernet ") || lower.starts_with("interface port-channel ") || lower.contains(" ax") && lower.starts_with("!") || lower.starts_with("interface tengigabitethernet ") || lower.starts_with("interface vlan ") || lower.starts_with("hostname \"") || lower.starts_with("#last modified by") {
            score[3] += 5;
        }
        // IOS names ports `GigabitEthernet1/0/1`: a slash, no space.
        if lower.starts_with("version 1") || lower == "boot-start-marker" || lower.starts_with("building configuration") || lower.starts_with("current configuration :") || words.len() == 2 && words.first() == Some(&"interface") && words.get(1).is_some_and(|n| n.contains('/')) {
            score[1] += 5;
        }
        if lower.starts_with("interface vlan") || lower.starts_with("ip route ") || lower.starts_with("switchport mode") || lower == "!" || lower.starts_with("hostname ") {
            score[0] += 1;
        }
    }
    let dialects = [(score[1], Vendor::CiscoIos), (score[2], Vendor::AlliedWarePlus), (score[3], Vendor::AlaxalaAx), (score[4], Vendor::NecIx)];
    // Ties go to the earlier entry: IOS before its dialects.
    let (dialect_points, dialect) = dialects.iter().fold((0, Vendor::CiscoIos), |best, &(s, v)| if s > best.0 { (s, v) } else { best });
    let family = score[0] + dialect_points;
    let candidates = [(family, dialect), (score[5], Vendor::YamahaRtx), (score[6], Vendor::FortiOs)];
    let (points, vendor) = candidates.iter().fold((0, Vendor::Unknown), |best, &(s, v)| if s > best.0 { (s, v) } else { best });
    if points == 0 {
        return Vendor::Unknown;
    }
    vendor
}

/// Parses one file: decode, detect, parse. The result always accounts for
/// every line.
pub fn parse_config(file: &str, bytes: &[u8]) -> Result<Device, ConfigError> {
    let text = decode(file, bytes)?;
    let vendor = detect_vendor(&text);
    let lines: Vec<&str> = text.split('\n').collect();
    // A trailing newline makes an empty last "line" that is not in the file.
    let lines = match lines.split_last() {
        Some((&"", rest)) => rest.to_vec(),
        _ => lines,
    };
    let mut device = match vendor {
        Vendor::CiscoIos | Vendor::AlliedWarePlus | Vendor::AlaxalaAx | Vendor::NecIx => vendors::cisco::parse(&lines, vendor),
        Vendor::YamahaRtx => vendors::yamaha::parse(&lines),
        Vendor::FortiOs => vendors::fortios::parse(&lines),
        Vendor::Unknown => return Err(ConfigError::UnknownVendor { file: file.into() }),
    };
    device.vendor = vendor;
    device.file = file.to_string();
    if device.hostname.is_empty() {
        // No hostname line: the file's stem names the device.
        device.hostname = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file).to_string();
    }
    Ok(device)
}
