//! Detection rules on this PC: is the product there (at least that version)?
//! Run before a download (already installed: not applicable) and after the
//! installer (a zero exit code with the product absent is a failure).

use lanward_installer::DetectionRule;

/// Compares dotted versions part by part as numbers (`16.0.10` > `16.0.9`);
/// a part that is not a number compares as text.
pub fn version_at_least(have: &str, min: &str) -> bool {
    let parts = |v: &str| v.split(['.', '-', '+', '~']).map(str::to_string).collect::<Vec<_>>();
    let (a, b) = (parts(have.trim()), parts(min.trim()));
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).map(String::as_str).unwrap_or("0");
        let y = b.get(i).map(String::as_str).unwrap_or("0");
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord == std::cmp::Ordering::Greater;
        }
    }
    true
}

/// `Ok(true)` when the rule finds the product; `Err` when the rule cannot
/// be evaluated here (a registry rule on Linux, a script that cannot start).
pub fn is_installed(rule: &DetectionRule) -> Result<bool, String> {
    match rule {
        DetectionRule::DebPackage { name, min_version } => deb_installed(name, min_version.as_deref()),
        DetectionRule::Script { path } => script(path),
        DetectionRule::FileVersion { path, min } => {
            let p = std::path::Path::new(path);
            if !p.is_file() {
                return Ok(false);
            }
            match min {
                None => Ok(true),
                Some(min) => match file_version(p) {
                    Some(v) => Ok(version_at_least(&v, min)),
                    None => Err(format!("{path}: ファイルバージョンを読めません (no version resource)")),
                },
            }
        }
        DetectionRule::RegistryValue { key, value, test } => registry(key, value, test),
        DetectionRule::MsiProductCode { code, min_version } => msi(code, min_version.as_deref()),
    }
}

fn deb_installed(name: &str, min: Option<&str>) -> Result<bool, String> {
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}\t${Version}", "--", name])
        .output()
        .map_err(|e| format!("dpkg-query: {e}"))?;
    if !out.status.success() {
        // Unknown to dpkg: not installed.
        return Ok(false);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (status, version) = text.split_once('\t').unwrap_or((&text, ""));
    if !status.ends_with("installed") || status.contains("not-installed") || status.contains("config-files") {
        return Ok(false);
    }
    match min {
        None => Ok(true),
        Some(min) => {
            let st = std::process::Command::new("dpkg").args(["--compare-versions", version, "ge", min]).status().map_err(|e| format!("dpkg: {e}"))?;
            Ok(st.success())
        }
    }
}

fn script(path: &str) -> Result<bool, String> {
    let mut cmd = if cfg!(windows) {
        let mut c = if path.to_ascii_lowercase().ends_with(".ps1") {
            let mut c = std::process::Command::new("powershell.exe");
            c.args(["-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", path]);
            c
        } else {
            let mut c = std::process::Command::new("cmd.exe");
            c.args(["/d", "/c", path]);
            c
        };
        c.stdin(std::process::Stdio::null());
        c
    } else {
        let mut c = std::process::Command::new("/bin/sh");
        c.arg(path);
        c
    };
    let status = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().map_err(|e| format!("{path}: {e}"))?;
    Ok(status.success())
}

#[cfg(not(windows))]
fn file_version(_path: &std::path::Path) -> Option<String> {
    None
}

#[cfg(not(windows))]
fn registry(key: &str, _value: &str, _test: &lanward_installer::RegistryTest) -> Result<bool, String> {
    Err(format!("{key}: レジストリのルールは Windows でだけ使えます (registry rule on a non-Windows PC)"))
}

#[cfg(not(windows))]
fn msi(code: &str, _min: Option<&str>) -> Result<bool, String> {
    Err(format!("{code}: MSI のルールは Windows でだけ使えます (MSI rule on a non-Windows PC)"))
}

#[cfg(windows)]
fn open_key(path: &str) -> Option<(winreg::RegKey, String)> {
    use winreg::enums::*;
    let (hive, rest) = path.split_once('\\')?;
    let root = match hive.to_ascii_uppercase().as_str() {
        "HKLM" | "HKEY_LOCAL_MACHINE" => HKEY_LOCAL_MACHINE,
        "HKCU" | "HKEY_CURRENT_USER" => HKEY_CURRENT_USER,
        "HKCR" | "HKEY_CLASSES_ROOT" => HKEY_CLASSES_ROOT,
        "HKU" | "HKEY_USERS" => HKEY_USERS,
        _ => return None,
    };
    // The 64-bit view, as everywhere in the agent.
    let key = winreg::RegKey::predef(root).open_subkey_with_flags(rest, KEY_READ | KEY_WOW64_64KEY).ok()?;
    Some((key, rest.to_string()))
}

#[cfg(windows)]
fn registry(key: &str, value: &str, test: &lanward_installer::RegistryTest) -> Result<bool, String> {
    use lanward_installer::RegistryTest;
    let Some((k, _)) = open_key(key) else { return Ok(false) };
    let v: Result<String, _> = k.get_value(value);
    let v = match v {
        Ok(v) => v,
        Err(_) => match k.get_value::<u32, _>(value) {
            Ok(n) => n.to_string(),
            Err(_) => return Ok(false),
        },
    };
    Ok(match test {
        RegistryTest::Exists => true,
        RegistryTest::Equals(x) => v.trim() == x.trim(),
        RegistryTest::MinVersion(m) => version_at_least(&v, m),
    })
}

#[cfg(windows)]
fn msi(code: &str, min: Option<&str>) -> Result<bool, String> {
    for base in [r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall", r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"] {
        if let Some((k, _)) = open_key(&format!("{base}\\{code}")) {
            return Ok(match min {
                None => true,
                Some(m) => k.get_value::<String, _>("DisplayVersion").map(|v| version_at_least(&v, m)).unwrap_or(false),
            });
        }
    }
    Ok(false)
}

#[cfg(windows)]
fn file_version(path: &std::path::Path) -> Option<String> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Storage::FileSystem::{GetFileVersionInfoSizeW, GetFileVersionInfoW, VerQueryValueW, VS_FIXEDFILEINFO};
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
    // SAFETY: `wide` is NUL-terminated; the buffer has the size Windows asked for,
    // and VerQueryValueW returns a pointer into that buffer, read before it is dropped.
    unsafe {
        let size = GetFileVersionInfoSizeW(wide.as_ptr(), std::ptr::null_mut());
        if size == 0 {
            return None;
        }
        let mut buf = vec![0u8; size as usize];
        if GetFileVersionInfoW(wide.as_ptr(), 0, size, buf.as_mut_ptr().cast()) == 0 {
            return None;
        }
        let mut info: *mut core::ffi::c_void = std::ptr::null_mut();
        let mut len = 0u32;
        let root: Vec<u16> = "\\".encode_utf16().chain(Some(0)).collect();
        if VerQueryValueW(buf.as_ptr().cast(), root.as_ptr(), &mut info, &mut len) == 0 || info.is_null() || (len as usize) < std::mem::size_of::<VS_FIXEDFILEINFO>() {
            return None;
        }
        let f = &*(info as *const VS_FIXEDFILEINFO);
        Some(format!("{}.{}.{}.{}", f.dwFileVersionMS >> 16, f.dwFileVersionMS & 0xffff, f.dwFileVersionLS >> 16, f.dwFileVersionLS & 0xffff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version_at_least("16.0.10", "16.0.9"));
        assert!(!version_at_least("16.0.9", "16.0.10"));
        assert!(version_at_least("2.10", "2.10.0"));
        assert!(!version_at_least("1.0", "1.0.1"));
    }

    #[test]
    fn file_and_script_rules() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("app.bin");
        let rule = |text: &str| lanward_installer::rule::parse(text).expect("rule parses");
        assert_eq!(is_installed(&rule(&format!("file:{}", f.display()))), Ok(false));
        std::fs::write(&f, b"x").expect("write");
        assert_eq!(is_installed(&rule(&format!("file:{}", f.display()))), Ok(true));
        #[cfg(unix)]
        {
            let s = dir.path().join("detect.sh");
            std::fs::write(&s, "test -f \"$(dirname \"$0\")/app.bin\"\n").expect("write");
            assert_eq!(is_installed(&rule(&format!("script:{}", s.display()))), Ok(true));
            std::fs::remove_file(&f).expect("rm");
            assert_eq!(is_installed(&rule(&format!("script:{}", s.display()))), Ok(false));
            assert_eq!(is_installed(&rule("deb:lanward-surely-not-a-package")), Ok(false));
            assert!(is_installed(&rule(r"reg:HKLM\SOFTWARE\X!V")).is_err(), "registry rules are Windows-only");
        }
    }
}
