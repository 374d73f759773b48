//! `lanward net ...`: network configuration analysis on files (no server
//! needed): `analyze DIR [--json]` and `coverage DIR`.

use anyhow::{Context, Result};
use clap::Subcommand;
use lanward_netconf::analysis::{self, FileError};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum NetCmd {
    /// 設定ファイル群を解析する (a folder of running configs, or files)
    Analyze {
        paths: Vec<PathBuf>,
        /// 機械可読の JSON で出力する
        #[arg(long)]
        json: bool,
    },
    /// 2 つの版の差分 (secrets redacted; text diff and the changes in words)
    Diff {
        old: PathBuf,
        new: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// ポートを別の VLAN に移すコマンドを作る (e.g. --move "SW-HQ-3F Gi1/0/5 120")
    Move {
        paths: Vec<PathBuf>,
        #[arg(long = "move")]
        moves: Vec<String>,
        /// 1 行に 1 件 (機器 ポート VLAN) のファイル
        #[arg(long = "moves")]
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// 到達性: SRC から DST に届くか (routes and ACLs from the configs)
    Reach {
        /// The config files or folder.
        #[arg(long = "configs", required = true)]
        paths: Vec<PathBuf>,
        src: std::net::Ipv4Addr,
        dst: std::net::Ipv4Addr,
        #[arg(long, default_value = "tcp")]
        proto: String,
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        json: bool,
    },
    /// 行ごとの解釈状況 (modelled / ignored / not yet modelled / unrecognised, with line numbers)
    Coverage {
        paths: Vec<PathBuf>,
        /// 解釈できなかった行も表示する
        #[arg(long)]
        lines: bool,
    },
    /// 構成図と設計書を出力する (logical/physical SVG, DOT, draw.io, xlsx)
    Report {
        paths: Vec<PathBuf>,
        /// 出力先フォルダ (新規または空)
        #[arg(long)]
        out: PathBuf,
        /// 空でない出力先にも書き込む
        #[arg(long)]
        force: bool,
        /// 拠点の指定 機器名=拠点名 (複数可; 省略時はホスト名から推定)
        #[arg(long = "site")]
        sites: Vec<String>,
    },
}

/// Every file under the paths (folders recursively, hidden files skipped), sorted.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).with_context(|| format!("{} を読めません", p.display()))?;
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).with_context(|| format!("{} を読めません", p.display()))?.flatten() {
                if !e.file_name().to_string_lossy().starts_with('.') {
                    stack.push(e.path());
                }
            }
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn display(base: &[PathBuf], p: &Path) -> String {
    base.iter().find_map(|b| p.strip_prefix(b).ok().filter(|r| !r.as_os_str().is_empty())).unwrap_or(p).display().to_string()
}

/// Parses every file; a file that cannot be parsed is reported and the rest go on.
pub fn load(paths: &[PathBuf]) -> Result<(Vec<lanward_netconf::Device>, Vec<FileError>)> {
    load_with_links(paths).map(|(d, e, _)| (d, e))
}

/// [`load`], and the links the folder supplies: `cabling.csv` (device,
/// port, peer, peer_port) and `DEVICE.lldp` / `DEVICE.cdp` neighbour tables.
pub fn load_with_links(paths: &[PathBuf]) -> Result<(Vec<lanward_netconf::Device>, Vec<FileError>, Vec<lanward_netconf::links::Link>)> {
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    let mut tables: Vec<(String, String)> = Vec::new();
    let mut links = Vec::new();
    for f in files(paths)? {
        let name = display(paths, &f);
        let file_name = f.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
        if file_name == "cabling.csv" || file_name == "配線表.csv" {
            let text = std::fs::read(&f).ok().and_then(|b| lanward_netconf::decode(&name, &b).ok()).unwrap_or_default();
            match lanward_netconf::links::parse_cabling(&text) {
                Ok(l) => links.extend(l),
                Err(e) => errors.push(FileError { message: format!("{name}: {e}"), file: name }),
            }
            continue;
        }
        if file_name.ends_with(".lldp") || file_name.ends_with(".cdp") {
            let text = std::fs::read(&f).ok().and_then(|b| lanward_netconf::decode(&name, &b).ok()).unwrap_or_default();
            let device = f.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
            tables.push((device, text));
            continue;
        }
        match std::fs::read(&f) {
            Ok(bytes) => match lanward_netconf::parse_config(&name, &bytes) {
                Ok(d) => devices.push(d),
                Err(e) => errors.push(FileError { file: name, message: e.to_string() }),
            },
            Err(e) => errors.push(FileError { message: format!("{name}: 読めません ({e})"), file: name }),
        }
    }
    for (device, text) in tables {
        match devices.iter().find(|d| d.hostname.eq_ignore_ascii_case(&device)) {
            Some(d) => links.extend(lanward_netconf::links::parse_neighbors(d, &text)),
            None => errors.push(FileError { file: format!("{device}.lldp"), message: format!("{device}.lldp: 機器 {device} の設定がありません (neighbour table of an unknown device)") }),
        }
    }
    Ok((devices, errors, links))
}

pub fn run(cmd: NetCmd) -> Result<()> {
    match cmd {
        NetCmd::Analyze { paths, json } => {
            let (devices, errors, links) = load_with_links(&paths)?;
            let a = analysis::analyse_with_links(devices, errors, links);
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
                return Ok(());
            }
            println!("機器 {} 台, L3 隣接 {} 本, VLAN {} 個, 指摘 {} 件", a.devices.len(), a.l3_edges.len(), a.vlans.len(), a.checks.len());
            for d in &a.devices {
                let c = d.device.coverage;
                println!("  {} ({}, {}): インターフェース {}, 経路 {}, 未解釈 {} 行", d.device.hostname, d.device.vendor.label(), d.device.file, d.device.interfaces.len(), d.routes.len(), c.unrecognised);
            }
            for e in &a.l3_edges {
                println!("  隣接 {} {} — {} {} ({})", e.a.device, e.a.interface, e.b.device, e.b.interface, e.subnet);
            }
            for c in &a.checks {
                println!("  [{}] {}{}: {}", c.severity, c.device, c.line.map(|l| format!(" {l} 行")).unwrap_or_default(), c.message);
            }
            for e in &a.errors {
                eprintln!("  エラー: {}", e.message);
            }
            Ok(())
        }
        NetCmd::Reach { paths, src, dst, proto, port, json } => crate::net_change::reach(&paths, src, dst, &proto, port, json),
        NetCmd::Diff { old, new, json } => crate::net_change::diff(&old, &new, json),
        NetCmd::Move { paths, moves, file, json } => crate::net_change::moves(&paths, &moves, file.as_deref(), json),
        NetCmd::Report { paths, out, force, sites } => crate::net_report::run(paths, out, force, sites),
        NetCmd::Coverage { paths, lines } => {
            let (devices, errors) = load(&paths)?;
            println!("{:<24} {:<28} {:>8} {:>8} {:>8} {:>8}", "機器", "種類", "解釈", "無視", "未対応", "不明");
            for d in &devices {
                let c = d.coverage;
                println!("{:<24} {:<28} {:>8} {:>8} {:>8} {:>8}", d.hostname, d.vendor.label(), c.modelled, c.ignored, c.unmodelled, c.unrecognised);
                if lines {
                    for n in d.line_notes.iter().filter(|n| n.class == lanward_netconf::LineClass::Unrecognised) {
                        println!("    {}:{}: {}", d.file, n.line, n.text);
                    }
                }
            }
            for e in &errors {
                eprintln!("エラー: {}", e.message);
            }
            Ok(())
        }
    }
}
