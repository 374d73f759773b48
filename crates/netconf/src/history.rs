//! Config versions as they are stored and compared: secrets redacted and
//! volatile lines (timestamps, byte counts, build stamps) dropped per
//! vendor, so two captures of an unchanged device are equal; a text diff
//! and a semantic diff (VLAN added, port moved to another VLAN, ACL line
//! changed) between any two versions.

use crate::model::*;
use serde::Serialize;

/// What replaces a secret in stored text.
pub const REDACTED: &str = "<redacted>";

/// Lines that change on every capture without the config changing.
fn volatile(vendor: Vendor, line: &str) -> bool {
    let l = line.trim();
    match vendor {
        Vendor::YamahaRtx => l.starts_with("# Reporting Date") || l.starts_with("# Memory") || l.starts_with("# main:") || l.starts_with("# RTX") && l.contains("Rev.") || l.starts_with("# Exec. Time"),
        Vendor::FortiOs => l.starts_with("#config-version=") || l.starts_with("#conf_file_ver=") || l.starts_with("#buildno=") || l.starts_with("#global_vdom="),
        _ => {
            l.starts_with("! Last configuration change")
                || l.starts_with("! NVRAM config last updated")
                || l.starts_with("! No configuration change since last restart")
                || l.starts_with("Current configuration :")
                || l.starts_with("Building configuration")
                || l.starts_with("ntp clock-period")
                || l.starts_with("!Time:")
        }
    }
}

/// The line with its secret replaced, or `None` when it holds none.
fn redact_line(vendor: Vendor, line: &str) -> Option<String> {
    let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
    let t: Vec<&str> = line.split_whitespace().collect();
    // Keep everything up to and including `keyword`, then the marker.
    let after = |keyword: &str, skip_type: bool| -> Option<String> {
        let p = t.iter().position(|w| w.eq_ignore_ascii_case(keyword))?;
        let mut keep = p + 1;
        // `password 7 XXXX`, `secret 9 $...`: keep the type digit.
        if skip_type && t.get(keep).is_some_and(|w| w.len() <= 2 && w.chars().all(|c| c.is_ascii_digit())) && t.len() > keep + 1 {
            keep += 1;
        }
        if t.len() <= keep {
            return None;
        }
        Some(format!("{indent}{} {REDACTED}", t[..keep].join(" ")))
    };
    match vendor {
        Vendor::YamahaRtx => {
            let l = line.trim_start();
            if l.starts_with("login password") || l.starts_with("administrator password") {
                return Some(format!("{indent}{} {} {REDACTED}", t.first()?, t.get(1)?));
            }
            if l.starts_with("login user ") && t.len() >= 4 {
                return Some(format!("{indent}login user {} {REDACTED}", t[2]));
            }
            if l.starts_with("pp auth myname ") && t.len() >= 5 {
                return Some(format!("{indent}pp auth myname {} {REDACTED}", t[3]));
            }
            if l.starts_with("pp auth username ") && t.len() >= 5 {
                return Some(format!("{indent}pp auth username {} {REDACTED}", t[3]));
            }
            if l.contains("pre-shared-key") {
                let p = t.iter().position(|w| *w == "text" || *w == "hex")?;
                return Some(format!("{indent}{} {REDACTED}", t[..=p].join(" ")));
            }
            if l.starts_with("snmp community") || l.starts_with("snmpv2c community") {
                return after("community", false).or_else(|| after("read-only", false)).or_else(|| after("read-write", false));
            }
            None
        }
        Vendor::FortiOs => {
            let key = t.get(1).copied().unwrap_or("");
            if t.first() == Some(&"set") && (t.get(2) == Some(&"ENC") || matches!(key, "password" | "passwd" | "psksecret" | "secret" | "private-key" | "key" | "auth-pwd" | "community")) && t.len() > 2 {
                return Some(format!("{indent}set {key} {REDACTED}"));
            }
            None
        }
        _ => {
            let l = line.trim_start().to_ascii_lowercase();
            if l.starts_with("username ") {
                return after("secret", true).or_else(|| after("password", true));
            }
            if l.starts_with("enable secret") || l.starts_with("enable password") {
                return after(t.get(1)?, true);
            }
            if l.starts_with("snmp-server community ") {
                return Some(format!("{indent}snmp-server community {REDACTED}{}", if t.len() > 3 { format!(" {}", t[3..].join(" ")) } else { String::new() }));
            }
            if l.starts_with("password ") || l.starts_with("secret ") {
                return after(t.first()?, true);
            }
            if l.contains(" key ") && (l.starts_with("crypto isakmp key") || l.starts_with("tacacs-server") || l.starts_with("radius-server") || l.starts_with("key ") || l.starts_with("ip ospf authentication-key") || l.starts_with("ip ospf message-digest-key")) {
                return after("key", true);
            }
            if l.starts_with("key-string ") || l.starts_with("pre-shared-key ") || l.starts_with("ip ospf authentication-key") {
                return after(t.first()?, true);
            }
            None
        }
    }
}

/// The text to store: secrets replaced by [`REDACTED`], volatile lines left out.
pub fn normalize(vendor: Vendor, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_private_block = false;
    for line in text.lines() {
        // FortiOS private keys and certificates run over many lines inside quotes.
        if in_private_block {
            if line.contains("-----END") {
                in_private_block = false;
            }
            continue;
        }
        if vendor == Vendor::FortiOs && line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
            in_private_block = !line.contains("-----END");
            let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            out.push_str(&format!("{indent}set private-key {REDACTED}\n"));
            continue;
        }
        if volatile(vendor, line) {
            continue;
        }
        match redact_line(vendor, line) {
            Some(r) => out.push_str(&r),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A unified diff of two stored versions (3 lines of context).
pub fn text_diff(old_name: &str, old: &str, new_name: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(old_name, new_name).to_string()
}

/// One change between two versions of a device, in the operators' words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `port_vlan`, `port_mode`, `trunk_vlans`, `interface_added`, ...
    pub kind: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub message: String,
}

fn change(kind: &str, subject: &str, before: Option<String>, after: Option<String>, message: String) -> Change {
    Change { kind: kind.into(), subject: subject.into(), before, after, message }
}

fn list(v: &[u16]) -> String {
    v.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

/// What changed between two versions of one device, in model terms.
pub fn semantic_diff(old: &Device, new: &Device) -> Vec<Change> {
    let mut out = Vec::new();
    if old.hostname != new.hostname {
        out.push(change("hostname", &new.hostname, Some(old.hostname.clone()), Some(new.hostname.clone()), format!("ホスト名が {} から {} に変わりました", old.hostname, new.hostname)));
    }
    for v in &new.vlans {
        match old.vlans.iter().find(|o| o.id == v.id) {
            None => out.push(change("vlan_added", &v.id.to_string(), None, v.name.clone(), format!("VLAN {} ({}) が追加されました", v.id, v.name.as_deref().unwrap_or("-")))),
            Some(o) if o.name != v.name => out.push(change("vlan_renamed", &v.id.to_string(), o.name.clone(), v.name.clone(), format!("VLAN {} の名前が {} から {} に変わりました", v.id, o.name.as_deref().unwrap_or("-"), v.name.as_deref().unwrap_or("-")))),
            _ => {}
        }
    }
    for o in old.vlans.iter().filter(|o| !new.vlans.iter().any(|v| v.id == o.id)) {
        out.push(change("vlan_removed", &o.id.to_string(), o.name.clone(), None, format!("VLAN {} が削除されました", o.id)));
    }
    for i in &new.interfaces {
        let Some(o) = old.interfaces.iter().find(|o| o.name == i.name) else {
            out.push(change("interface_added", &i.name, None, None, format!("インターフェース {} が追加されました", i.name)));
            continue;
        };
        let n = &i.name;
        if o.access_vlan != i.access_vlan && i.mode != Some(SwitchportMode::Trunk) {
            let (b, a) = (o.access_vlan.map(|v| v.to_string()), i.access_vlan.map(|v| v.to_string()));
            out.push(change("port_vlan", n, b.clone(), a.clone(), format!("ポート {n} が VLAN {} から VLAN {} に移りました", b.as_deref().unwrap_or("-"), a.as_deref().unwrap_or("-"))));
        }
        if o.mode != i.mode {
            out.push(change("port_mode", n, o.mode.map(|m| format!("{m:?}").to_lowercase()), i.mode.map(|m| format!("{m:?}").to_lowercase()), format!("ポート {n} のモードが変わりました")));
        }
        if (o.trunk_vlans != i.trunk_vlans || o.trunk_all != i.trunk_all) && i.mode == Some(SwitchportMode::Trunk) {
            let show = |x: &Interface| if x.trunk_all { "all".to_string() } else { list(&x.trunk_vlans) };
            out.push(change("trunk_vlans", n, Some(show(o)), Some(show(i)), format!("トランク {n} の許可 VLAN が {} から {} に変わりました", show(o), show(i))));
        }
        if o.native_vlan != i.native_vlan {
            out.push(change("native_vlan", n, o.native_vlan.map(|v| v.to_string()), i.native_vlan.map(|v| v.to_string()), format!("{n} のネイティブ VLAN が変わりました")));
        }
        if o.addresses != i.addresses {
            out.push(change("addresses", n, Some(o.addresses.join(",")), Some(i.addresses.join(",")), format!("{n} のアドレスが {} から {} に変わりました", o.addresses.join(","), i.addresses.join(","))));
        }
        if o.shutdown != i.shutdown {
            out.push(change("shutdown", n, Some(o.shutdown.to_string()), Some(i.shutdown.to_string()), format!("{n} が{}", if i.shutdown { "停止 (shutdown) されました" } else { "有効になりました" })));
        }
        if o.description != i.description {
            out.push(change("description", n, o.description.clone(), i.description.clone(), format!("{n} の説明が変わりました")));
        }
        if o.acls != i.acls {
            let show = |x: &Interface| x.acls.iter().map(|(a, d)| format!("{a} {d}")).collect::<Vec<_>>().join(",");
            out.push(change("interface_acls", n, Some(show(o)), Some(show(i)), format!("{n} に適用された ACL が変わりました")));
        }
    }
    for o in old.interfaces.iter().filter(|o| !new.interfaces.iter().any(|i| i.name == o.name)) {
        out.push(change("interface_removed", &o.name, None, None, format!("インターフェース {} が削除されました", o.name)));
    }
    let route = |r: &StaticRoute| format!("{} via {}", r.prefix, r.next_hop.as_deref().or(r.interface.as_deref()).unwrap_or("-"));
    let old_routes: Vec<String> = old.static_routes.iter().map(route).collect();
    let new_routes: Vec<String> = new.static_routes.iter().map(route).collect();
    for r in new_routes.iter().filter(|r| !old_routes.contains(r)) {
        out.push(change("route_added", r, None, Some(r.clone()), format!("静的経路 {r} が追加されました")));
    }
    for r in old_routes.iter().filter(|r| !new_routes.contains(r)) {
        out.push(change("route_removed", r, Some(r.clone()), None, format!("静的経路 {r} が削除されました")));
    }
    for acl in &new.acls {
        let before: Vec<String> = old.acls.iter().find(|a| a.name == acl.name).map(|a| a.entries.iter().map(|e| e.text.trim().to_string()).collect()).unwrap_or_default();
        let after: Vec<String> = acl.entries.iter().map(|e| e.text.trim().to_string()).collect();
        for e in after.iter().filter(|e| !before.contains(e)) {
            out.push(change("acl_line_added", &acl.name, None, Some(e.clone()), format!("ACL {} に「{e}」が追加されました", acl.name)));
        }
        for e in before.iter().filter(|e| !after.contains(e)) {
            out.push(change("acl_line_removed", &acl.name, Some(e.clone()), None, format!("ACL {} から「{e}」が削除されました", acl.name)));
        }
    }
    for a in old.acls.iter().filter(|a| !new.acls.iter().any(|n| n.name == a.name)) {
        out.push(change("acl_removed", &a.name, None, None, format!("ACL {} が削除されました", a.name)));
    }
    out
}
