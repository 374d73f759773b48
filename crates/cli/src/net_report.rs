//! `lanward net report DIR --out OUT`: the diagrams and design documents
//! of issue §5 from a folder of configs, all into one output folder.

use anyhow::{bail, Context, Result};
use lanward_netconf::{analysis, render};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `HOST=SITE` pairs from `--site`; the map replaces the hostname guess.
fn site_map(pairs: &[String]) -> Result<Option<BTreeMap<String, String>>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut map = BTreeMap::new();
    for p in pairs {
        let Some((host, site)) = p.split_once('=').filter(|(h, s)| !h.trim().is_empty() && !s.trim().is_empty()) else {
            bail!("--site は 機器名=拠点名 の形で指定してください: {p}");
        };
        map.insert(host.trim().to_string(), site.trim().to_string());
    }
    Ok(Some(map))
}

/// OUT must be new or empty unless `force`: a report folder is replaced
/// as a whole, and writing into someone's other files would mix them.
fn prepare(out: &Path, force: bool) -> Result<()> {
    if out.exists() {
        if !out.is_dir() {
            bail!("{} はフォルダではありません", out.display());
        }
        let mut entries = std::fs::read_dir(out).with_context(|| format!("{} を読めません", out.display()))?;
        if entries.next().is_some() && !force {
            bail!("{} は空ではありません (上書きするには --force を付けてください)", out.display());
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("{} を作成できません", out.display()))
}

pub fn run(paths: Vec<PathBuf>, out: PathBuf, force: bool, sites: Vec<String>) -> Result<()> {
    let map = site_map(&sites)?;
    prepare(&out, force)?;
    let (devices, errors) = crate::net::load(&paths)?;
    let a = analysis::analyse(devices, errors);
    // Unparsable inputs are reported; the rest of the network is still drawn.
    for e in &a.errors {
        eprintln!("エラー: {}", e.message);
    }
    let outputs: Vec<(&str, Vec<u8>)> = vec![
        ("logical.svg", render::svg::logical(&a).into_bytes()),
        ("physical.svg", render::svg::physical(&a, map.as_ref()).into_bytes()),
        ("network.dot", render::dot(&a).into_bytes()),
        ("network.drawio", render::drawio(&a).into_bytes()),
        ("ネットワーク基本設計書.xlsx", render::xlsx::design_document(&a).context("設計書を作成できません")?),
        ("ポートマップ.xlsx", render::xlsx::port_map(&a).context("ポートマップを作成できません")?),
    ];
    println!("機器 {} 台, VLAN {} 個, L3 隣接 {} 本, 指摘 {} 件, 読めなかったファイル {} 件", a.devices.len(), a.vlans.len(), a.l3_edges.len(), a.checks.len(), a.errors.len());
    for (name, bytes) in outputs {
        let path = out.join(name);
        std::fs::write(&path, &bytes).with_context(|| format!("{} に書き込めません", path.display()))?;
        println!("  {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
