//! Office Click-to-Run: version, products and update channel from
//! `HKLM\SOFTWARE\Microsoft\Office\ClickToRun\Configuration`.
//! MSI-installed Office has no such key and shows up in the software list only.

use super::{decode, reg};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::Office;

/// Click-to-Run writes its configuration to the 64-bit view even for 32-bit
/// Office; the WOW6432Node path is a fallback for unusual installs.
const CONFIGURATION: &[&str] =
    &[r"SOFTWARE\Microsoft\Office\ClickToRun\Configuration", r"SOFTWARE\WOW6432Node\Microsoft\Office\ClickToRun\Configuration"];

pub fn collect(_: &CollectConfig, _: &mut Notes) -> Result<Option<Office>, String> {
    let hklm = reg::hklm();
    let mut key = None;
    for path in CONFIGURATION {
        if let Some(k) = reg::open(&hklm, "HKLM", path)? {
            key = Some(k);
            break;
        }
    }
    let Some(key) = key else { return Ok(None) };

    let version = reg::string(&key, "VersionToReport").or_else(|| reg::string(&key, "ClientVersionToReport"));
    let product_ids: Vec<String> = reg::string(&key, "ProductReleaseIds")
        .map(|ids| ids.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    if version.is_none() && product_ids.is_empty() {
        // Click-to-Run left behind after Office was removed.
        return Ok(None);
    }
    // UpdateChannel (set by policy or the deployment tool) is where the next
    // update comes from and wins over CDNBaseUrl, where the install came from.
    let channel = reg::string(&key, "UpdateChannel")
        .as_deref()
        .and_then(decode::office_channel)
        .or_else(|| reg::string(&key, "CDNBaseUrl").as_deref().and_then(decode::office_channel));
    Ok(Some(Office { version: version.unwrap_or_default(), product_ids, channel, platform: reg::string(&key, "Platform") }))
}
