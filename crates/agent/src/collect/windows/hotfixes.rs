//! Installed updates (Win32_QuickFixEngineering).

use super::{decode, wmi};
use crate::collect::{CollectConfig, Notes};
use lanward_proto::Hotfix;
use serde::Deserialize;

#[derive(Deserialize)]
struct QuickFix {
    #[serde(rename = "HotFixID")]
    hot_fix_id: Option<String>,
    #[serde(rename = "Description")]
    description: Option<String>,
    #[serde(rename = "InstalledOn")]
    installed_on: Option<String>,
    #[serde(rename = "InstalledBy")]
    installed_by: Option<String>,
}

pub fn collect(config: &CollectConfig, _: &mut Notes) -> Result<Vec<Hotfix>, String> {
    let rows = wmi::query::<QuickFix>(
        config,
        wmi::CIMV2,
        "SELECT HotFixID, Description, InstalledOn, InstalledBy FROM Win32_QuickFixEngineering",
    )?;
    let text = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut list: Vec<Hotfix> = rows
        .into_iter()
        .filter_map(|r| {
            Some(Hotfix {
                // "File 1" rows (pre-Vista leftovers) have no usable id.
                id: text(r.hot_fix_id).filter(|id| !id.eq_ignore_ascii_case("File 1"))?,
                description: text(r.description),
                installed_on: r.installed_on.as_deref().and_then(decode::hotfix_date),
                installed_by: text(r.installed_by),
            })
        })
        .collect();
    // Stable order so that the section's hash changes only with the content.
    list.sort_by(|a, b| (&a.id, &a.installed_on).cmp(&(&b.id, &b.installed_on)));
    list.dedup();
    Ok(list)
}
