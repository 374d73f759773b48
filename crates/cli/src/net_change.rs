//! `lanward net diff` and `lanward net move`: what changed between two
//! versions, and the commands for moving ports to other VLANs.

use anyhow::{bail, Context, Result};
use lanward_netconf::{changes, history};
use std::path::{Path, PathBuf};

/// Text diff (secrets redacted, volatile lines dropped) and the changes in words.
pub fn diff(old: &Path, new: &Path, json: bool) -> Result<()> {
    let read = |p: &Path| -> Result<(lanward_netconf::Device, String)> {
        let bytes = std::fs::read(p).with_context(|| format!("{} を読めません", p.display()))?;
        let name = p.display().to_string();
        let device = lanward_netconf::parse_config(&name, &bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let text = lanward_netconf::decode(&name, &bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((history::normalize(device.vendor, &text), device)).map(|(t, d)| (d, t))
    };
    let (a, at) = read(old)?;
    let (b, bt) = read(new)?;
    let changes = history::semantic_diff(&a, &b);
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"changes": changes, "text_diff": history::text_diff(&old.display().to_string(), &at, &new.display().to_string(), &bt)}))?);
        return Ok(());
    }
    print!("{}", history::text_diff(&old.display().to_string(), &at, &new.display().to_string(), &bt));
    println!();
    if changes.is_empty() {
        println!("意味上の変更はありません (no changes to the model)");
    }
    for c in &changes {
        println!("* {}", c.message);
    }
    Ok(())
}

/// Commands, rollback, the updated port map and the checks that would fail.
pub fn moves(paths: &[PathBuf], moves: &[String], file: Option<&Path>, json: bool) -> Result<()> {
    let mut text = moves.join("\n");
    if let Some(f) = file {
        let bytes = std::fs::read(f).with_context(|| format!("{} を読めません", f.display()))?;
        text.push('\n');
        text.push_str(&lanward_netconf::decode(&f.display().to_string(), &bytes).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let list = changes::parse_moves(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if list.is_empty() {
        bail!("移動するポートを --move か --moves で指定してください (e.g. --move \"SW-HQ-3F Gi1/0/5 120\")");
    }
    let (devices, errors) = crate::net::load(paths)?;
    for e in &errors {
        eprintln!("エラー: {}", e.message);
    }
    let plan = changes::plan(&devices, &list);
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(());
    }
    for d in &plan.devices {
        println!("## {} ({})\n# 投入コマンド", d.device, d.vendor.label());
        for c in &d.commands {
            println!("{c}");
        }
        println!("# 切り戻しコマンド");
        for c in &d.rollback {
            println!("{c}");
        }
        println!();
    }
    println!("# ポートマップ (変更後)");
    for r in &plan.port_map {
        println!("{}\t{}\tVLAN {} → {}\t{}", r.device, r.port, r.vlan_before.map(|v| v.to_string()).unwrap_or("-".into()), r.vlan_after.map(|v| v.to_string()).unwrap_or("-".into()), r.description.as_deref().unwrap_or(""));
    }
    if !plan.new_checks.is_empty() {
        println!("\n# 変更後に出る指摘");
        for c in &plan.new_checks {
            println!("[{}] {}: {}", c.severity, c.device, c.message);
        }
    }
    for e in &plan.errors {
        eprintln!("できない移動: {e}");
    }
    if !plan.errors.is_empty() {
        bail!("{} 件の移動は作れませんでした", plan.errors.len());
    }
    Ok(())
}

/// Walks routes and ACLs from SRC to DST and says where it goes or stops.
pub fn reach(paths: &[PathBuf], src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr, proto: &str, port: Option<u16>, json: bool) -> Result<()> {
    let proto: &'static str = match proto {
        "tcp" => "tcp",
        "udp" => "udp",
        "icmp" => "icmp",
        "ip" | "any" => "ip",
        other => bail!("--proto {other}: tcp, udp, icmp, ip のどれかです"),
    };
    let (devices, errors) = crate::net::load(paths)?;
    for e in &errors {
        eprintln!("エラー: {}", e.message);
    }
    let r = lanward_netconf::reach::reach(&devices, &lanward_netconf::reach::Flow { src, dst, proto, port });
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    for h in &r.hops {
        println!("{} [{} → {}] {}", h.device, h.ingress.as_deref().unwrap_or("-"), h.egress.as_deref().unwrap_or("-"), h.note);
    }
    match &r.reason {
        None => println!("到達します ({src} → {dst} {proto}{})", port.map(|p| format!("/{p}")).unwrap_or_default()),
        Some(why) => println!("到達しません: {why}"),
    }
    Ok(())
}
