//! Antivirus products: what Windows Security Center knows (WMI
//! `ROOT\SecurityCenter2`, workstations only), plus the versions of the Trend
//! Micro Apex One agent from its registry keys, which Security Center does
//! not report.

use super::{decode, note, reg, wmi};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::{Antivirus, AntivirusProduct};
use serde::Deserialize;
use winreg::RegKey;

#[derive(Deserialize)]
struct AntiVirusProduct {
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    #[serde(rename = "productState")]
    product_state: Option<u32>,
}

/// The agent is 32-bit, so on 64-bit Windows its keys are under WOW6432Node.
const TREND_BASES: &[&str] =
    &[r"SOFTWARE\WOW6432Node\TrendMicro\PC-cillinNTCorp\CurrentVersion", r"SOFTWARE\TrendMicro\PC-cillinNTCorp\CurrentVersion"];

pub fn collect(config: &CollectConfig, notes: &mut Notes) -> Result<Antivirus, String> {
    let mut products = Vec::new();
    // Security Center is absent on Windows Server (and Wine): a note, and the
    // registry part is still reported.
    match wmi::query::<AntiVirusProduct>(config, wmi::SECURITY_CENTER2, "SELECT displayName, productState FROM AntiVirusProduct") {
        Ok(rows) => {
            for r in rows {
                let Some(name) = decode::clean(r.display_name.as_deref()) else { continue };
                let decoded = r.product_state.map(decode::decode_product_state);
                products.push(AntivirusProduct {
                    name,
                    product_version: None,
                    pattern_version: None,
                    product_state: r.product_state,
                    enabled: decoded.map(|d| d.0),
                    up_to_date: decoded.map(|d| d.1),
                    source: "securitycenter2".into(),
                });
            }
        }
        Err(e) => note(notes, "antivirus", format!("Security Center unavailable: {e}")),
    }
    match trend_micro() {
        Ok(Some(p)) => products.push(p),
        Ok(None) => {}
        Err(e) => note(notes, "antivirus", e),
    }
    products.sort_by(|a, b| (&a.source, &a.name).cmp(&(&b.source, &b.name)));
    Ok(Antivirus { products })
}

/// The Apex One (formerly OfficeScan) agent, if installed: its `Misc.` key
/// holds the program version and the pattern numbers.
fn trend_micro() -> Result<Option<AntivirusProduct>, String> {
    let hklm = reg::hklm();
    let mut found: Option<(&str, RegKey)> = None;
    for base in TREND_BASES {
        if let Some(k) = reg::open(&hklm, "HKLM", &format!(r"{base}\Misc."))? {
            found = Some((base, k));
            break;
        }
    }
    let Some((base, misc)) = found else { return Ok(None) };
    let sub = |name: &str| reg::open(&hklm, "HKLM", &format!(r"{base}\{name}")).ok().flatten();
    let current = reg::open(&hklm, "HKLM", base).ok().flatten();

    let product_version =
        decode::trend_product_version(reg::string(&misc, "ProgramVer").as_deref(), reg::string(&misc, "BuildNum").as_deref())
            .or_else(|| reg::string(&misc, "TmListen_Ver"))
            .or_else(|| current.as_ref().and_then(|k| reg::string(k, "Version")));

    // Smart Scan agents are kept current through the "NonCrc" (Smart Scan
    // Agent) pattern, conventional scan through the virus pattern.
    let smart_scan = sub("iCRC Scan").and_then(|k| reg::number(&k, "ScanType")).is_some_and(|t| t != 0);
    let order: &[&str] = if smart_scan {
        &["InternalNonCrcPatternVer", "InternalPatternVer", "PatternVer"]
    } else {
        &["InternalPatternVer", "InternalNonCrcPatternVer", "PatternVer"]
    };
    let pattern_version = order.iter().find_map(|name| pattern(&misc, name));

    let enabled = sub("Real Time Scan Configuration").and_then(|k| reg::number(&k, "Enable")).map(|v| v == 1);
    Ok(Some(AntivirusProduct {
        name: reg::string(&misc, "ProductName").unwrap_or_else(|| "Trend Micro Apex One".to_string()),
        product_version,
        pattern_version,
        product_state: None,
        enabled,
        up_to_date: None,
        source: "registry".into(),
    }))
}

/// A pattern value, stored as a DWORD (1964500) or text; 0 means unused.
fn pattern(key: &RegKey, name: &str) -> Option<String> {
    match reg::number(key, name) {
        Some(0) => None,
        Some(n) => Some(decode::format_trend_pattern(n)),
        None => reg::string(key, name).as_deref().and_then(decode::trend_pattern_from_text),
    }
}
