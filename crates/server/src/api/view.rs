//! How an asset looks in the API: stable English snake_case fields built
//! from the stored inventory sections.

use lanward_proto::*;
use lanward_store::AssetRecord;
use serde_json::{json, Value};

pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn jst(ms: i64, format: &[time::format_description::FormatItem<'_>]) -> String {
    let offset = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map(|t| t.to_offset(offset))
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// `2026-11-29 17:05` in Japan time: how people read times in the console
/// and exported files.
pub fn jst_minutes(ms: i64) -> String {
    jst(ms, time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]"))
}

/// One CSV field, quoted; text that starts like a formula gets a `'` so a
/// spreadsheet shows it rather than running it.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `2026-11-29 17:05:09` in Japan time.
pub fn jst_seconds(ms: i64) -> String {
    jst(ms, time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
}

fn section<T: serde::de::DeserializeOwned>(a: &AssetRecord, name: &str) -> Option<T> {
    let s = a.sections.iter().find(|s| s.name == name)?;
    match serde_json::from_str(&s.json) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(asset = a.id, section = name, error = %e, "stored section does not parse");
            None
        }
    }
}

pub fn asset_view(a: &AssetRecord, full: bool) -> Value {
    let mut v = json!({
        "id": a.id,
        "hostname": a.hostname,
        "kind": a.kind,
        "site": a.site,
        "agent_id": a.agent_id,
        "agent_revoked": a.agent_revoked,
        "first_seen": rfc3339(a.first_seen_ms),
        "last_seen": a.last_seen_ms.map(rfc3339),
        "ledger": a.fields,
    });
    if !full {
        return v;
    }
    let os: Option<OsInfo> = section(a, "os");
    let hw: Option<Hardware> = section(a, "hardware");
    let storage: Storage = section(a, "storage").unwrap_or_default();
    let nics: Vec<Nic> = section(a, "network").unwrap_or_default();
    let software: Vec<Software> = section(a, "software").unwrap_or_default();
    let (apps, components): (Vec<&Software>, Vec<&Software>) = software.iter().partition(|s| !s.system_component);
    let hotfixes: Vec<Hotfix> = section(a, "hotfixes").unwrap_or_default();
    let office: Option<Office> = section::<Option<Office>>(a, "office").flatten();
    let antivirus: Antivirus = section(a, "antivirus").unwrap_or_default();
    let registry: Vec<RegistryValue> = section(a, "registry").unwrap_or_default();
    let diagnostics: Vec<CollectorNote> = section(a, "diagnostics").unwrap_or_default();
    let obj = v.as_object_mut().expect("json! object literal");
    obj.insert("os".into(), json!(os.as_ref().map(|o| json!({
        "family": o.family, "name": o.name, "version": o.version, "build": o.build,
        "display_version": o.display_version, "edition": o.edition, "kernel": o.kernel, "arch": o.arch,
        "domain": o.domain, "install_date": o.install_date,
    }))));
    obj.insert("hardware".into(), json!(hw.as_ref().map(|h| json!({
        "vendor": h.vendor, "model": h.model, "serial": h.serial, "uuid": h.uuid,
        "bios": { "vendor": h.bios_vendor, "version": h.bios_version, "date": h.bios_date },
        "cpu": { "model": h.cpu.model, "sockets": h.cpu.sockets, "cores": h.cpu.cores, "threads": h.cpu.threads },
        "memory_bytes": h.memory_bytes,
        "disks": storage.disks, "volumes": storage.volumes, "nics": nics,
    }))));
    obj.insert("software".into(), json!(apps));
    obj.insert("system_components".into(), json!(components));
    obj.insert("hotfixes".into(), json!(hotfixes));
    obj.insert("office".into(), json!(office));
    obj.insert("antivirus".into(), json!(antivirus.products));
    obj.insert("registry".into(), json!(registry));
    obj.insert("diagnostics".into(), json!(diagnostics));
    obj.insert(
        "sections".into(),
        json!(a.sections.iter().map(|s| (s.name.clone(), json!({"hash": s.hash, "collected_at": rfc3339(s.collected_at_ms), "received_at": rfc3339(s.received_at_ms)}))).collect::<serde_json::Map<_, _>>()),
    );
    v
}
