//! Windows edition, version and build, hostname and domain.
//!
//! The registry (`HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`) gives
//! the build numbers; WMI gives the product name, because the registry's
//! ProductName still says "Windows 10" on Windows 11.

use super::{decode, note, reg, wmi};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::OsInfo;
use serde::Deserialize;

const CURRENT_VERSION: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";

#[derive(Deserialize)]
struct OperatingSystem {
    #[serde(rename = "Caption")]
    caption: Option<String>,
    #[serde(rename = "InstallDate")]
    install_date: Option<String>,
}

#[derive(Deserialize)]
struct ComputerSystem {
    #[serde(rename = "Domain")]
    domain: Option<String>,
    #[serde(rename = "PartOfDomain")]
    part_of_domain: Option<bool>,
}

/// The DNS host name (what `hostname` prints), else the NetBIOS name.
pub fn hostname() -> String {
    let hklm = reg::hklm();
    let from = |path: &str, value: &str| reg::open(&hklm, "HKLM", path).ok().flatten().and_then(|k| reg::string(&k, value));
    from(r"SYSTEM\CurrentControlSet\Services\Tcpip\Parameters", "Hostname")
        .or_else(|| from(r"SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName", "ComputerName"))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|h| !h.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The machine's architecture. The system-wide environment in the registry
/// is used rather than the process's, which says "x86" in a 32-bit process.
fn arch() -> String {
    let env_key = reg::open(&reg::hklm(), "HKLM", r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment").ok().flatten();
    env_key
        .and_then(|k| reg::string(&k, "PROCESSOR_ARCHITECTURE"))
        .or_else(|| std::env::var("PROCESSOR_ARCHITEW6432").ok())
        .or_else(|| std::env::var("PROCESSOR_ARCHITECTURE").ok())
        .map(|a| decode::arch_name(&a))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Whether Windows is 64-bit (the software collector labels the hives with it).
pub fn is_64bit() -> bool {
    matches!(arch().as_str(), "x86_64" | "aarch64" | "ia64")
}

pub fn collect(config: &CollectConfig, notes: &mut Notes) -> Result<OsInfo, String> {
    let cv = match reg::open(&reg::hklm(), "HKLM", CURRENT_VERSION) {
        Ok(Some(k)) => Some(k),
        Ok(None) => {
            note(notes, "os", format!(r"HKLM\{CURRENT_VERSION} does not exist"));
            None
        }
        Err(e) => {
            note(notes, "os", e);
            None
        }
    };
    let value = |name: &str| cv.as_ref().and_then(|k| reg::string(k, name));
    let number = |name: &str| cv.as_ref().and_then(|k| reg::number(k, name));

    let os = match wmi::query::<OperatingSystem>(config, wmi::CIMV2, "SELECT Caption, InstallDate FROM Win32_OperatingSystem") {
        Ok(rows) => rows.into_iter().next(),
        Err(e) => {
            note(notes, "os", e);
            None
        }
    };
    if cv.is_none() && os.is_none() {
        return Err("neither the registry nor WMI could be read (see the other notes)".into());
    }

    let build_text = value("CurrentBuild").or_else(|| value("CurrentBuildNumber"));
    let build_no = build_text.as_deref().and_then(|b| b.parse::<u32>().ok());
    // Windows 10 and later have the DWORDs; CurrentVersion says "6.3" there
    // for compatibility, so it is only a fallback.
    let major_minor = match (number("CurrentMajorVersionNumber"), number("CurrentMinorVersionNumber")) {
        (Some(major), minor) => format!("{major}.{}", minor.unwrap_or(0)),
        (None, _) => value("CurrentVersion").unwrap_or_else(|| "10.0".to_string()),
    };
    let (version, build) = match &build_text {
        Some(b) => (
            format!("{major_minor}.{b}"),
            match number("UBR") {
                Some(ubr) => format!("{b}.{ubr}"),
                None => b.clone(),
            },
        ),
        None => (String::new(), String::new()),
    };

    let product_name = value("ProductName");
    let name = decode::windows_product_name(os.as_ref().and_then(|o| o.caption.as_deref()), product_name.as_deref(), build_no);

    // InstallDate in the registry is Unix seconds; WMI's is a CIM datetime.
    let install_date = number("InstallDate")
        .filter(|s| *s > 0)
        .map(|s| decode::unix_to_rfc3339(s as i64))
        .or_else(|| os.as_ref().and_then(|o| o.install_date.as_deref()).and_then(decode::cim_datetime_to_rfc3339));

    Ok(OsInfo {
        hostname: hostname(),
        domain: domain(config, notes),
        family: "windows".into(),
        name,
        version,
        build,
        display_version: value("DisplayVersion").or_else(|| value("ReleaseId")),
        edition: value("EditionID"),
        kernel: None,
        arch: arch(),
        install_date,
    })
}

/// The Active Directory domain; `None` in a workgroup (WMI then reports the
/// workgroup name, which is not a domain).
fn domain(config: &CollectConfig, notes: &mut Notes) -> Option<String> {
    match wmi::query::<ComputerSystem>(config, wmi::CIMV2, "SELECT Domain, PartOfDomain FROM Win32_ComputerSystem") {
        Ok(rows) => {
            let cs = rows.into_iter().next()?;
            if cs.part_of_domain == Some(true) {
                decode::clean(cs.domain.as_deref())
            } else {
                None
            }
        }
        Err(e) => {
            note(notes, "os", e);
            // The primary DNS suffix is normally the AD domain's name.
            let tcpip = reg::open(&reg::hklm(), "HKLM", r"SYSTEM\CurrentControlSet\Services\Tcpip\Parameters").ok().flatten();
            tcpip.and_then(|k| reg::string(&k, "Domain")).or_else(|| std::env::var("USERDNSDOMAIN").ok().filter(|d| !d.is_empty()))
        }
    }
}
