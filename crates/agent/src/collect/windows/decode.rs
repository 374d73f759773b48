//! Pure helpers of the Windows collectors: parsing and formatting of what
//! WMI and the registry return. No Windows API here, only `std`, so that this
//! file can also be compiled and unit-tested on Linux (e.g. with
//! `#[cfg(test)] #[path = "windows/decode.rs"] mod windows_decode;`).

use std::net::IpAddr;

/// Whether `s` is a braced GUID such as `{90160000-0011-0000-1000-0000000FF1CE}`,
/// the form MSI product codes take as Uninstall key names.
pub fn is_guid(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else { return false };
    is_bare_guid(inner)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits, without braces.
fn is_bare_guid(s: &str) -> bool {
    s.len() == 36 && s.char_indices().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// Decodes SecurityCenter2's `productState`: (enabled, up to date).
/// The second nibble of the middle byte is the scanner state (1 = on), the
/// high nibble of the low byte the signature state (0 = up to date).
pub fn decode_product_state(state: u32) -> (bool, bool) {
    (((state >> 12) & 0xF) == 1, ((state >> 4) & 0xF) == 0)
}

/// Formats a Trend Micro pattern number the way Trend shows it: the last two
/// digits are the patch, the three before the minor, the rest the major
/// (1964500 → "19.645.00"). Numbers too short for that are shown as stored.
pub fn format_trend_pattern(n: u64) -> String {
    if n < 100_000 {
        return n.to_string();
    }
    format!("{}.{:03}.{:02}", n / 100_000, (n / 100) % 1000, n % 100)
}

/// A pattern version stored as text: digits are formatted as above, an
/// already dotted version is kept, zero or empty means "none".
pub fn trend_pattern_from_text(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().all(|c| c == '0' || c == '.') {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse::<u64>().ok().map(format_trend_pattern);
    }
    Some(s.to_string())
}

/// Trend's agent version: `ProgramVer` ("14.0") completed with `BuildNum`
/// ("12737") when the former does not already carry a build.
pub fn trend_product_version(program_ver: Option<&str>, build: Option<&str>) -> Option<String> {
    let program = program_ver.map(str::trim).filter(|v| !v.is_empty())?;
    match build.map(str::trim).filter(|b| !b.is_empty() && *b != "0") {
        Some(b) if program.split('.').count() <= 2 && b.chars().all(|c| c.is_ascii_digit()) => Some(format!("{program}.{b}")),
        _ => Some(program.to_string()),
    }
}

/// Office Click-to-Run channels by the GUID in their CDN URL.
pub const OFFICE_CHANNELS: &[(&str, &str)] = &[
    ("492350f6-3a01-4f97-b9c0-c7c6ddf67d60", "Current"),
    ("55336b82-a18d-4dd6-b5f6-9e5095c314a6", "MonthlyEnterprise"),
    ("7ffbc6bf-bc32-4f92-8982-f9dd17fd3114", "SemiAnnual"),
    ("b8f9b850-328d-4355-9145-c59439a0c4cf", "SemiAnnualPreview"),
    ("64256afe-f5d9-4f86-8936-8840a6a4f5be", "CurrentPreview"),
    ("5440fd1f-7ecb-4221-8110-145efaa6372f", "BetaChannel"),
    ("f2e724c1-748f-4b47-8fb8-8e0d210e9208", "PerpetualVL2019"),
    ("5030841d-c919-4594-8d2d-84ae4f96e58e", "PerpetualVL2021"),
    ("7983bac0-e531-40cf-be00-fd24fe66619c", "PerpetualVL2024"),
];

/// The channel named by a `CDNBaseUrl`/`UpdateChannel` value: a known GUID
/// gives its name, an unknown GUID is reported as is (so that it can still be
/// looked up), and a bare word (a channel name) is kept.
pub fn office_channel(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let lower = v.to_ascii_lowercase();
    if let Some((_, name)) = OFFICE_CHANNELS.iter().find(|(guid, _)| lower.contains(guid)) {
        return Some((*name).to_string());
    }
    let last = lower.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if is_bare_guid(last) {
        return Some(last.to_string());
    }
    (!v.contains('/') && !v.contains(':')).then(|| v.to_string())
}

/// Windows' product name: WMI's Caption when there is one; else the
/// registry's ProductName, which still says "Windows 10" on Windows 11
/// (build 22000 and later), so it is corrected.
pub fn windows_product_name(caption: Option<&str>, product_name: Option<&str>, build: Option<u32>) -> String {
    if let Some(c) = caption.map(str::trim).filter(|c| !c.is_empty()) {
        return c.to_string();
    }
    match product_name.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) if build.is_some_and(|b| b >= 22000) && p.contains("Windows 10") => p.replacen("Windows 10", "Windows 11", 1),
        Some(p) => p.to_string(),
        None => "Windows".to_string(),
    }
}

/// PROCESSOR_ARCHITECTURE ("AMD64", "ARM64", "x86") in the names the Linux
/// agent reports (`std::env::consts::ARCH`).
pub fn arch_name(processor_architecture: &str) -> String {
    match processor_architecture.trim().to_ascii_uppercase().as_str() {
        "AMD64" | "X64" => "x86_64".into(),
        "ARM64" => "aarch64".into(),
        "X86" => "x86".into(),
        "IA64" => "ia64".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// Vendor placeholders that mean "not set" in SMBIOS strings.
pub fn is_placeholder(s: &str) -> bool {
    const JUNK: &[&str] = &[
        "",
        "0",
        "none",
        "n/a",
        "na",
        "default string",
        "not specified",
        "not applicable",
        "not available",
        "to be filled by o.e.m.",
        "to be filled by oem",
        "o.e.m.",
        "oem",
        "system serial number",
        "system manufacturer",
        "system product name",
        "chassis serial number",
        "invalid",
        "123456789",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ];
    JUNK.contains(&s.trim().to_ascii_lowercase().as_str())
}

/// A trimmed SMBIOS/WMI string, `None` when empty or a placeholder.
pub fn clean(s: Option<&str>) -> Option<String> {
    let s = s?.trim().trim_matches('\0').trim();
    (!is_placeholder(s)).then(|| s.to_string())
}

/// Link speed in Mbit/s from Win32_NetworkAdapter.Speed (bit/s); WMI reports
/// i64::MAX for "unknown" and 0 when disconnected.
pub fn speed_mbps(bps: u64) -> Option<u64> {
    (bps > 0 && bps < 10_000_000_000_000).then_some(bps / 1_000_000)
}

/// Wireless adapters renegotiate their speed all the time; reporting it
/// would make the network section change at every check-in.
pub fn looks_wireless(names: &[&str]) -> bool {
    names.iter().any(|n| {
        let l = n.to_ascii_lowercase();
        ["wi-fi", "wifi", "wireless", "wlan", "802.11", "無線"].iter().any(|w| l.contains(w))
    })
}

/// Splits WMI's IPAddress array into IPv4 and IPv6 (unparsable entries dropped).
pub fn split_ips<S: AsRef<str>>(addrs: &[S]) -> (Vec<String>, Vec<String>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for a in addrs {
        match a.as_ref().trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => v4.push(ip.to_string()),
            Ok(IpAddr::V6(ip)) => v6.push(ip.to_string()),
            Err(_) => {}
        }
    }
    (v4, v6)
}

/// The `DeviceID="..."` key of a WMI object path such as
/// `\\PC\root\cimv2:Win32_LogicalDisk.DeviceID="C:"`, unescaped.
pub fn object_path_device_id(path: &str) -> Option<String> {
    let start = path.find("DeviceID=\"")? + "DeviceID=\"".len();
    let mut out = String::new();
    let mut chars = path[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// The disk index in a partition id such as "Disk #0, Partition #1".
pub fn partition_disk_index(partition_id: &str) -> Option<u32> {
    let rest = &partition_id[partition_id.find("Disk #")? + "Disk #".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Registry hives accepted in `registry_values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hive {
    LocalMachine,
    CurrentUser,
    Users,
    ClassesRoot,
}

/// One entry of `registry_values`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegPath {
    pub hive: Hive,
    /// The key below the hive, e.g. `SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate`.
    pub subkey: String,
    /// The key as written in the configuration (hive included), for the report.
    pub key: String,
    /// The value name; empty for the key's default value (entry ending in `\`).
    pub value: String,
}

/// Parses `HKLM\path\to\key\ValueName` (hive as HKLM, HKEY_LOCAL_MACHINE,
/// HKCU, HKEY_CURRENT_USER, HKU, HKEY_USERS, HKCR, HKEY_CLASSES_ROOT; an
/// optional PowerShell-style colon after the hive is accepted).
pub fn parse_registry_path(entry: &str) -> Result<RegPath, String> {
    let entry = entry.trim();
    let Some((hive_name, rest)) = entry.split_once('\\') else {
        return Err(format!("`{entry}`: expected HIVE\\key\\ValueName"));
    };
    let hive = match hive_name.trim_end_matches(':').to_ascii_uppercase().as_str() {
        "HKLM" | "HKEY_LOCAL_MACHINE" => Hive::LocalMachine,
        "HKCU" | "HKEY_CURRENT_USER" => Hive::CurrentUser,
        "HKU" | "HKEY_USERS" => Hive::Users,
        "HKCR" | "HKEY_CLASSES_ROOT" => Hive::ClassesRoot,
        other => return Err(format!("`{entry}`: unknown hive `{other}` (use HKLM, HKCU, HKU or HKCR)")),
    };
    let (subkey, value) = rest.rsplit_once('\\').unwrap_or(("", rest));
    let key = entry.rsplit_once('\\').map(|(k, _)| k).unwrap_or(entry);
    Ok(RegPath { hive, subkey: subkey.trim_matches('\\').to_string(), key: key.to_string(), value: value.to_string() })
}

/// Registry value types (winnt.h).
pub const REG_NONE: u32 = 0;
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
pub const REG_LINK: u32 = 6;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_QWORD: u32 = 11;

pub fn reg_kind_name(kind: u32) -> String {
    match kind {
        REG_NONE => "REG_NONE".into(),
        REG_SZ => "REG_SZ".into(),
        REG_EXPAND_SZ => "REG_EXPAND_SZ".into(),
        REG_BINARY => "REG_BINARY".into(),
        REG_DWORD => "REG_DWORD".into(),
        REG_DWORD_BIG_ENDIAN => "REG_DWORD_BIG_ENDIAN".into(),
        REG_LINK => "REG_LINK".into(),
        REG_MULTI_SZ => "REG_MULTI_SZ".into(),
        8 => "REG_RESOURCE_LIST".into(),
        9 => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
        10 => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
        REG_QWORD => "REG_QWORD".into(),
        other => format!("REG_TYPE_{other}"),
    }
}

/// UTF-16LE bytes to a string (an odd trailing byte is ignored, invalid
/// surrogates become U+FFFD).
pub fn utf16le(bytes: &[u8]) -> String {
    let words: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&words)
}

/// A registry value as text: strings up to their terminating NUL,
/// REG_MULTI_SZ joined by "\n", DWORD/QWORD in decimal, anything else in hex.
pub fn reg_value_text(kind: u32, bytes: &[u8]) -> String {
    match kind {
        REG_SZ | REG_EXPAND_SZ | REG_LINK => {
            let s = utf16le(bytes);
            s.split('\0').next().unwrap_or("").to_string()
        }
        REG_MULTI_SZ => utf16le(bytes).split('\0').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("\n"),
        REG_DWORD if bytes.len() >= 4 => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).to_string(),
        REG_DWORD_BIG_ENDIAN if bytes.len() >= 4 => u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).to_string(),
        REG_QWORD if bytes.len() >= 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[..8]);
            u64::from_le_bytes(b).to_string()
        }
        _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Longest text kept from one registry value of an Uninstall entry: a
/// 100 KB DisplayName is an installer's bug, not a name.
pub const MAX_TEXT_CHARS: usize = 1024;

/// The name of a registry value type, for notes.
pub fn reg_type_name(kind: u32) -> String {
    match kind {
        REG_SZ => "REG_SZ".into(),
        REG_EXPAND_SZ => "REG_EXPAND_SZ".into(),
        REG_MULTI_SZ => "REG_MULTI_SZ".into(),
        REG_DWORD => "REG_DWORD".into(),
        REG_QWORD => "REG_QWORD".into(),
        REG_BINARY => "REG_BINARY".into(),
        REG_NONE => "REG_NONE".into(),
        other => format!("type {other}"),
    }
}

/// An Uninstall entry's text value, judged: the usable text (if any) and
/// what was wrong with it (if anything), so that the collector keeps what
/// it can and says what it could not read.
pub fn checked_text(kind: u32, bytes: &[u8]) -> (Option<String>, Option<String>) {
    let mut problems = Vec::new();
    let text = match kind {
        REG_SZ | REG_EXPAND_SZ | REG_MULTI_SZ => {
            let t = reg_value_text(kind, bytes);
            if t.contains('\u{FFFD}') {
                problems.push("contains invalid UTF-16 (replaced with U+FFFD)".to_string());
            }
            t
        }
        REG_DWORD | REG_QWORD => reg_value_text(kind, bytes),
        other => return (None, Some(format!("has type {} instead of text; ignored", reg_type_name(other)))),
    };
    let cleaned: String = text.chars().filter(|c| !c.is_control() || *c == '\t').collect();
    if cleaned.len() != text.len() {
        problems.push("contains control characters (removed)".to_string());
    }
    let trimmed = cleaned.trim();
    let count = trimmed.chars().count();
    let kept: String = if count > MAX_TEXT_CHARS {
        problems.push(format!("is {count} characters long; cut to {MAX_TEXT_CHARS}"));
        trimmed.chars().take(MAX_TEXT_CHARS).collect()
    } else {
        trimmed.to_string()
    };
    ((!kept.is_empty()).then_some(kept), (!problems.is_empty()).then(|| problems.join("; ")))
}

/// A registry value as a number: DWORD/QWORD, or a string of digits
/// (some installers store numbers as REG_SZ).
pub fn reg_value_u64(kind: u32, bytes: &[u8]) -> Option<u64> {
    match kind {
        REG_DWORD | REG_DWORD_BIG_ENDIAN | REG_QWORD | REG_SZ | REG_EXPAND_SZ => reg_value_text(kind, bytes).trim().parse().ok(),
        _ => None,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Unix seconds as RFC 3339 in UTC, e.g. "2023-10-05T00:30:12Z".
pub fn unix_to_rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// FILETIME (100 ns since 1601) to Unix seconds.
pub fn filetime_to_unix(ft: u64) -> i64 {
    (ft / 10_000_000) as i64 - 11_644_473_600
}

fn valid_date(y: u32, m: u32, d: u32) -> bool {
    (1601..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// The fields of a CIM_DATETIME (`yyyymmddHHMMSS.mmmmmmsUUU`).
fn cim_fields(s: &str) -> Option<([u32; 6], Option<i32>)> {
    let s = s.trim();
    let digits = s.get(..14)?;
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| digits[a..b].parse::<u32>().ok();
    let f = [n(0, 4)?, n(4, 6)?, n(6, 8)?, n(8, 10)?, n(10, 12)?, n(12, 14)?];
    if !valid_date(f[0], f[1], f[2]) {
        return None;
    }
    // Offset in minutes after the sign at position 21; "***" means unknown.
    let offset = s.get(21..22).and_then(|sign| {
        let mins: i32 = s.get(22..25)?.parse().ok()?;
        match sign {
            "+" => Some(mins),
            "-" => Some(-mins),
            _ => None,
        }
    });
    Some((f, offset))
}

/// A CIM_DATETIME such as "20231005093012.000000+540" as RFC 3339
/// ("2023-10-05T09:30:12+09:00").
pub fn cim_datetime_to_rfc3339(s: &str) -> Option<String> {
    let (f, offset) = cim_fields(s)?;
    let tz = match offset {
        Some(0) | None => "Z".to_string(),
        Some(m) => format!("{}{:02}:{:02}", if m < 0 { '-' } else { '+' }, m.abs() / 60, m.abs() % 60),
    };
    Some(format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{tz}", f[0], f[1], f[2], f[3], f[4], f[5]))
}

/// Only the date of a CIM_DATETIME ("2023-05-15"), as for BIOS release dates.
pub fn cim_date(s: &str) -> Option<String> {
    let (f, _) = cim_fields(s)?;
    Some(format!("{:04}-{:02}-{:02}", f[0], f[1], f[2]))
}

/// Win32_QuickFixEngineering.InstalledOn as "YYYY-MM-DD". It is usually
/// "M/D/YYYY" (D/M/YYYY when the first number cannot be a month), sometimes
/// a hex FILETIME or "YYYYMMDD"; anything else is kept as reported.
pub fn hotfix_date(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let parts: Vec<&str> = s.split('/').collect();
    if let [m, d, y] = parts[..] {
        if let (Ok(m), Ok(d), Ok(y)) = (m.parse::<u32>(), d.parse::<u32>(), y.parse::<u32>()) {
            let (m, d) = if m > 12 { (d, m) } else { (m, d) };
            if valid_date(y, m, d) {
                return Some(format!("{y:04}-{m:02}-{d:02}"));
            }
        }
    }
    if s.len() == 8 && s.chars().all(|c| c.is_ascii_digit()) {
        if let Some(d) = cim_date(&format!("{s}000000")) {
            return Some(d);
        }
    }
    if s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        if let Ok(ft) = u64::from_str_radix(s, 16) {
            return Some(unix_to_rfc3339(filetime_to_unix(ft))[..10].to_string());
        }
    }
    Some(s.to_string())
}

#[cfg(test)]
mod checked_text_tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().chain([0]).flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn bad_uninstall_values_are_kept_where_possible_and_explained() {
        assert_eq!(checked_text(REG_SZ, &utf16("一太郎 2024")), (Some("一太郎 2024".into()), None));
        let (t, p) = checked_text(REG_BINARY, &[0xde, 0xad]);
        assert!(t.is_none() && p.unwrap().contains("REG_BINARY"));
        let (t, p) = checked_text(REG_SZ, &utf16(&"長".repeat(50_000)));
        assert_eq!(t.unwrap().chars().count(), MAX_TEXT_CHARS);
        assert!(p.unwrap().contains("50000 characters"));
        // "A", a lone high surrogate, "B".
        let (t, p) = checked_text(REG_SZ, &[0x41, 0, 0x00, 0xd8, 0x42, 0, 0, 0]);
        assert_eq!(t.unwrap(), "A\u{FFFD}B");
        assert!(p.unwrap().contains("invalid UTF-16"));
        let (t, p) = checked_text(REG_SZ, &utf16("Bad\u{7}Name"));
        assert_eq!((t.as_deref(), p.is_some()), (Some("BadName"), true));
        assert_eq!(checked_text(REG_SZ, &[]), (None, None));
        assert_eq!(checked_text(REG_SZ, &[0x41]), (None, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("{90160000-0011-0000-1000-0000000FF1CE}"));
        assert!(!is_guid("90160000-0011-0000-1000-0000000FF1CE"));
        assert!(!is_guid("{90160000-0011-0000-1000-0000000FF1C}"));
        assert!(!is_guid("{90160000x0011-0000-1000-0000000FF1CE}"));
        assert!(!is_guid("Mozilla Firefox 128.0 (x64 ja)"));
    }

    #[test]
    fn product_state() {
        assert_eq!(decode_product_state(397_568), (true, true)); // 0x61100 Defender on, current
        assert_eq!(decode_product_state(393_472), (false, true)); // 0x60100 off
        assert_eq!(decode_product_state(397_584), (true, false)); // 0x61110 out of date
    }

    #[test]
    fn trend_pattern() {
        assert_eq!(format_trend_pattern(1_964_500), "19.645.00");
        assert_eq!(format_trend_pattern(964_501), "9.645.01");
        assert_eq!(format_trend_pattern(645), "645");
        assert_eq!(trend_pattern_from_text("1964500").as_deref(), Some("19.645.00"));
        assert_eq!(trend_pattern_from_text("19.645.00").as_deref(), Some("19.645.00"));
        assert_eq!(trend_pattern_from_text("0"), None);
        assert_eq!(trend_product_version(Some("14.0"), Some("12737")).as_deref(), Some("14.0.12737"));
        assert_eq!(trend_product_version(Some("14.0.1.2"), Some("12737")).as_deref(), Some("14.0.1.2"));
        assert_eq!(trend_product_version(None, Some("12737")), None);
    }

    #[test]
    fn office_channels() {
        assert_eq!(
            office_channel("http://officecdn.microsoft.com/pr/5030841d-c919-4594-8d2d-84ae4f96e58e").as_deref(),
            Some("PerpetualVL2021")
        );
        assert_eq!(office_channel("HTTP://OFFICECDN.MICROSOFT.COM/PR/492350F6-3A01-4F97-B9C0-C7C6DDF67D60").as_deref(), Some("Current"));
        assert_eq!(
            office_channel("http://officecdn.microsoft.com/pr/00000000-1111-2222-3333-444444444444/").as_deref(),
            Some("00000000-1111-2222-3333-444444444444")
        );
        assert_eq!(office_channel("MonthlyEnterprise").as_deref(), Some("MonthlyEnterprise"));
        assert_eq!(office_channel("http://example.invalid/x"), None);
        assert_eq!(office_channel(" "), None);
    }

    #[test]
    fn product_names() {
        assert_eq!(
            windows_product_name(Some("Microsoft Windows 11 Pro "), Some("Windows 10 Pro"), Some(22631)),
            "Microsoft Windows 11 Pro"
        );
        assert_eq!(windows_product_name(None, Some("Windows 10 Pro"), Some(22631)), "Windows 11 Pro");
        assert_eq!(windows_product_name(Some(""), Some("Windows 10 Enterprise"), Some(19045)), "Windows 10 Enterprise");
        assert_eq!(windows_product_name(None, None, None), "Windows");
        assert_eq!(arch_name("AMD64"), "x86_64");
        assert_eq!(arch_name("ARM64"), "aarch64");
    }

    #[test]
    fn placeholders_and_network() {
        assert_eq!(clean(Some("  To be filled by O.E.M. ")), None);
        assert_eq!(clean(Some(" PF3ABCDE ")).as_deref(), Some("PF3ABCDE"));
        assert_eq!(speed_mbps(1_000_000_000), Some(1000));
        assert_eq!(speed_mbps(9_223_372_036_854_775_807), None);
        assert!(looks_wireless(&["Intel(R) Wi-Fi 6 AX201 160MHz"]));
        assert!(!looks_wireless(&["Intel(R) Ethernet Connection (13) I219-LM", "イーサネット"]));
        let (v4, v6) = split_ips(&["192.168.10.5", "fe80::1c2b:3a4d:5e6f:7a8b", "junk"]);
        assert_eq!(v4, ["192.168.10.5"]);
        assert_eq!(v6, ["fe80::1c2b:3a4d:5e6f:7a8b"]);
    }

    #[test]
    fn object_paths() {
        let dep = r#"\\PC-0123\root\cimv2:Win32_LogicalDisk.DeviceID="C:""#;
        assert_eq!(object_path_device_id(dep).as_deref(), Some("C:"));
        let ante = r#"\\PC-0123\root\cimv2:Win32_DiskPartition.DeviceID="Disk #1, Partition #0""#;
        let part = object_path_device_id(ante).unwrap();
        assert_eq!(part, "Disk #1, Partition #0");
        assert_eq!(partition_disk_index(&part), Some(1));
        let drive = r#"\\PC\root\cimv2:Win32_DiskDrive.DeviceID="\\\\.\\PHYSICALDRIVE0""#;
        assert_eq!(object_path_device_id(drive).as_deref(), Some(r"\\.\PHYSICALDRIVE0"));
        assert_eq!(object_path_device_id("Win32_LogicalDisk.DeviceID=\"C:"), None);
    }

    #[test]
    fn registry_paths() {
        let p = parse_registry_path(r"HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\WUServer").unwrap();
        assert_eq!(p.hive, Hive::LocalMachine);
        assert_eq!(p.subkey, r"SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate");
        assert_eq!(p.key, r"HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate");
        assert_eq!(p.value, "WUServer");
        let p = parse_registry_path(r"hkey_current_user\Software\X\").unwrap();
        assert_eq!((p.hive, p.subkey.as_str(), p.value.as_str()), (Hive::CurrentUser, r"Software\X", ""));
        let p = parse_registry_path(r"HKU:\S-1-5-18\Software\日本語キー\値").unwrap();
        assert_eq!((p.hive, p.subkey.as_str(), p.value.as_str()), (Hive::Users, r"S-1-5-18\Software\日本語キー", "値"));
        assert!(parse_registry_path("HKLM").is_err());
        assert!(parse_registry_path(r"HKXX\a\b").unwrap_err().contains("unknown hive"));
    }

    #[test]
    fn registry_values() {
        let sz: Vec<u8> = "日本語\0junk".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(reg_value_text(REG_SZ, &sz), "日本語");
        let multi: Vec<u8> = "a\0b\0\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(reg_value_text(REG_MULTI_SZ, &multi), "a\nb");
        assert_eq!(reg_value_text(REG_DWORD, &1u32.to_le_bytes()), "1");
        assert_eq!(reg_value_text(REG_QWORD, &u64::MAX.to_le_bytes()), u64::MAX.to_string());
        assert_eq!(reg_value_text(REG_BINARY, &[0x0a, 0xff]), "0aff");
        assert_eq!(reg_value_text(REG_DWORD, &[1, 2]), "0102");
        assert_eq!(reg_value_u64(REG_DWORD, &1_964_500u32.to_le_bytes()), Some(1_964_500));
        let num: Vec<u8> = "1964500\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(reg_value_u64(REG_SZ, &num), Some(1_964_500));
        assert_eq!(reg_kind_name(REG_EXPAND_SZ), "REG_EXPAND_SZ");
    }

    #[test]
    fn dates() {
        assert_eq!(unix_to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(unix_to_rfc3339(1_696_465_812), "2023-10-05T00:30:12Z");
        assert_eq!(unix_to_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(cim_datetime_to_rfc3339("20231005093012.000000+540").as_deref(), Some("2023-10-05T09:30:12+09:00"));
        assert_eq!(cim_datetime_to_rfc3339("20231005093012.000000+000").as_deref(), Some("2023-10-05T09:30:12Z"));
        assert_eq!(cim_datetime_to_rfc3339("20231005093012.000000-300").as_deref(), Some("2023-10-05T09:30:12-05:00"));
        assert_eq!(cim_date("20230515000000.000000+000").as_deref(), Some("2023-05-15"));
        assert_eq!(cim_date("garbage"), None);
        assert_eq!(hotfix_date("10/5/2024").as_deref(), Some("2024-10-05"));
        assert_eq!(hotfix_date("22/2/2022").as_deref(), Some("2022-02-22"));
        assert_eq!(hotfix_date("20241005").as_deref(), Some("2024-10-05"));
        assert_eq!(hotfix_date("01d7e5b6c2f3a000").as_deref(), Some("2021-11-30"));
        assert_eq!(hotfix_date("someday").as_deref(), Some("someday"));
        assert_eq!(hotfix_date(""), None);
    }
}
