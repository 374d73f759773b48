//! `lanward package ...` and `lanward deploy ...`: software distribution
//! from the command line, through the server's API (except the offline
//! signing commands, which need no server, and `export-media`, which reads
//! the server's data folder).

use crate::api_client::ApiClient;
use crate::table::{print_table, s};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PackageCmd {
    /// インストーラーを追加する (recognised, chunked and signed by the server)
    Add(AddArgs),
    /// パッケージ一覧
    List,
    /// 署名前のマニフェストを取り出す (for signing on another machine)
    Manifest {
        id: i64,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// オフライン署名: 署名鍵のあるマシンでマニフェストに署名する (no server needed)
    Sign {
        unsigned: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// オフラインで署名したマニフェストをサーバーに登録する
    Signature { id: i64, signed: PathBuf },
    /// 署名鍵を作る (offline; put only the .pub in the server's data folder)
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Office LTSC の課ごとのパッケージを作って登録する (ODT の setup.exe と configuration.xml)
    Office(OfficeArgs),
    /// USB メモリ用のオフライン導入媒体を書き出す (reads the server's data folder)
    ExportMedia {
        /// The server's data folder.
        #[arg(long)]
        data: PathBuf,
        /// postgres://... (default: DATA/lanward.db)
        #[arg(long, env = "LANWARD_DATABASE")]
        database: Option<String>,
        #[arg(long)]
        package: String,
        #[arg(long)]
        version: Option<String>,
        /// A new or empty folder.
        out: PathBuf,
    },
}

#[derive(Args)]
pub struct AddArgs {
    file: PathBuf,
    #[arg(long)]
    name: String,
    #[arg(long)]
    version: String,
    /// サイレントインストールのコマンド ({file} {log} {dir}); 省略時は提案どおり
    #[arg(long)]
    command: Option<String>,
    /// 検出ルール (msi:{GUID}>=1.0, reg:HKLM\Key!Value, file:PATH>=1.0, deb:NAME>=1.0, script:PATH, none)
    #[arg(long)]
    detection: Option<String>,
    #[arg(long)]
    timeout_secs: Option<u64>,
    #[arg(long)]
    valid_days: Option<u32>,
    /// 追加の終了コード: CODE=success|reboot|retry|failure,...
    #[arg(long)]
    exit_codes: Option<String>,
}

#[derive(Args)]
pub struct OfficeArgs {
    /// Office 展開ツール (ODT) の setup.exe
    #[arg(long)]
    odt: PathBuf,
    /// パッケージ名 (ASCII), e.g. office-ltsc-2024-somu
    #[arg(long)]
    name: String,
    /// 課 (configuration.xml の説明に入る)
    #[arg(long)]
    department: String,
    /// 固定する Click-to-Run の版 (e.g. 16.0.17932.20162); the package version and detection rule follow it
    #[arg(long)]
    target_version: String,
    /// 導入元 (拠点キャッシュの共有フォルダーなど, SourcePath)
    #[arg(long)]
    source_path: Option<String>,
    /// 更新の取得元 (UpdatePath, e.g. the site's share)
    #[arg(long)]
    update_path: Option<String>,
    /// LTSC 2021 から LTSC 2024 への移行 (ProPlus2021Volume を削除)
    #[arg(long)]
    remove_ltsc2021: bool,
    /// 書き出すだけで登録しない: この zip に書く
    #[arg(long)]
    out: Option<PathBuf>,
}

impl OfficeArgs {
    pub fn writes_file_only(&self) -> bool {
        self.out.is_some()
    }
}

/// The folder package for one department: setup.exe, configuration.xml and
/// the entry script the agent runs (`install.cmd`).
fn office_package(a: &OfficeArgs, zip_path: &Path) -> Result<()> {
    use std::io::Write;
    let recipe = lanward_deploy::office::OfficeRecipe {
        target_version: Some(a.target_version.clone()),
        source_path: a.source_path.clone(),
        update_path: a.update_path.clone(),
        remove_ltsc2021: a.remove_ltsc2021,
        ..Default::default()
    };
    if let Err(errors) = recipe.check() {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        bail!("Office のレシピが正しくありません: {}", list.join("; "));
    }
    let xml = recipe.configuration_xml(&a.department, None);
    let setup = std::fs::read(&a.odt).with_context(|| format!("{} を読めません", a.odt.display()))?;
    let f = std::fs::File::create(zip_path).with_context(|| format!("{} に書けません", zip_path.display()))?;
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("setup.exe", opts)?;
    z.write_all(&setup)?;
    z.start_file("configuration.xml", opts)?;
    z.write_all(xml.as_bytes())?;
    z.start_file("install.cmd", opts)?;
    // ODT exits 0 on success; its log goes to %TEMP% (named in the log tail).
    z.write_all(b"@echo off\r\ncd /d \"%~dp0\"\r\n\"%~dp0setup.exe\" /configure \"%~dp0configuration.xml\"\r\nexit /b %ERRORLEVEL%\r\n")?;
    z.finish()?;
    Ok(())
}

#[derive(Subcommand)]
pub enum DeployCmd {
    /// 配布を作る
    Create(Box<CreateArgs>),
    /// 配布の一覧
    List,
    /// 配布の状況 (waves, sites, every PC)
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Office の版の進み具合 (each PC's reported Click-to-Run version against the target)
    OfficeProgress {
        #[arg(long)]
        target: String,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        department: Option<String>,
    },
    Pause { id: i64 },
    Resume { id: i64 },
    Cancel { id: i64 },
    /// 失敗した端末を再試行する
    Retry { id: i64 },
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long)]
    package: String,
    #[arg(long)]
    version: Option<String>,
    /// 端末名 (comma-separated)
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    sites: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    departments: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// パイロット端末 (comma-separated): the first wave
    #[arg(long, value_delimiter = ',')]
    pilot: Vec<String>,
    /// パイロットの後、課ごとに段階配布する
    #[arg(long)]
    by_department: bool,
    /// 前の段の成功率がこの % 以上なら次へ
    #[arg(long)]
    gate: Option<u8>,
    /// 開始日時 (RFC 3339, or `YYYY-MM-DD HH:MM` in JST)
    #[arg(long)]
    at: Option<String>,
    /// 時間帯 (`mon-fri 12:00-13:00`, or cron and minutes: `30 17 * * 1-5 for 270`), repeatable
    #[arg(long = "window")]
    windows: Vec<String>,
    #[arg(long)]
    deadline: Option<String>,
    #[arg(long)]
    site_concurrency: Option<usize>,
    /// 拠点ごとの WAN 上限 (e.g. 10Mbit, 2MB, or bytes per second)
    #[arg(long)]
    site_bandwidth: Option<String>,
    /// 開始をこの分数に分散する
    #[arg(long)]
    spread_minutes: Option<u32>,
    #[arg(long)]
    title: Option<String>,
}

/// RFC 3339, or `YYYY-MM-DD HH:MM` read as JST (the bureau's clock).
pub fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M")
        .with_context(|| format!("日時 `{text}` を解釈できません (RFC 3339 か `2026-12-01 12:00` の形で)"))?;
    let jst = chrono::FixedOffset::east_opt(9 * 3600).context("JST")?;
    naive.and_local_timezone(jst).single().map(|t| t.with_timezone(&chrono::Utc)).context("日時が曖昧です")
}

/// `10Mbit`, `2MB`, `500k` (bytes), or plain bytes per second.
pub fn parse_rate(text: &str) -> Result<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("帯域 `{text}` を解釈できません (e.g. 10Mbit)"))?;
    let bytes = match unit.trim_end_matches("/s").trim_end_matches("ps") {
        "" | "b" => n,
        "k" | "kb" => n * 1e3,
        "m" | "mb" => n * 1e6,
        "kbit" => n * 1e3 / 8.0,
        "mbit" => n * 1e6 / 8.0,
        "gbit" => n * 1e9 / 8.0,
        other => bail!("帯域 `{text}` の単位 `{other}` は使えません (b, kb, mb, kbit, mbit, gbit)"),
    };
    if bytes < 1.0 {
        bail!("帯域 `{text}` が小さすぎます");
    }
    Ok(bytes as u64)
}

pub fn package(c: Option<&ApiClient>, cmd: PackageCmd) -> Result<()> {
    let need = || c.context("--server と --token-file を指定してください");
    match cmd {
        PackageCmd::Add(a) => {
            let file_name = a.file.file_name().and_then(|n| n.to_str()).context("ファイル名がありません")?.to_string();
            let mut q: Vec<(&str, String)> = vec![("name", a.name), ("version", a.version), ("file_name", file_name)];
            for (k, v) in [("command", a.command), ("detection", a.detection), ("exit_codes", a.exit_codes)] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            if let Some(t) = a.timeout_secs {
                q.push(("timeout_secs", t.to_string()));
            }
            if let Some(d) = a.valid_days {
                q.push(("valid_days", d.to_string()));
            }
            let query = serde_urlencoded::to_string(&q)?;
            let r = need()?.post_file(&format!("/api/v1/packages?{query}"), &a.file)?;
            let p = &r["package"];
            println!("パッケージ {} を追加しました: {} {} (serial {}, {} bytes, {} chunks)", s(&p["id"]), s(&p["name"]), s(&p["version"]), s(&p["serial"]), s(&p["size"]), s(&r["chunks"]));
            println!("  種類: {}  コマンド: {}", s(&p["framework"]), s(&p["command"]));
            println!("  検出ルール: {}", s(&p["detection"]));
            println!("  SHA-256: {}", s(&p["sha256"]));
            println!("  署名: {}", if p["signed"] == json!(true) { "済み (signed)" } else { "未署名: lanward package manifest / sign / signature で署名してください" });
            for n in r["notes"].as_array().into_iter().flatten() {
                println!("  注: {}", s(n));
            }
            Ok(())
        }
        PackageCmd::List => {
            let r = need()?.get("/api/v1/packages")?;
            let rows: Vec<Vec<String>> = r["packages"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| vec![s(&p["id"]), s(&p["name"]), s(&p["version"]), s(&p["serial"]), s(&p["framework"]), s(&p["size"]), if p["signed"] == json!(true) { "済".into() } else { "未".into() }, s(&p["detection"])])
                .collect();
            print_table(&["ID", "名前", "版", "連番", "種類", "サイズ", "署名", "検出ルール"], &rows);
            println!("署名鍵: {} ({})", s(&r["signing_key_id"]), if r["signs_online"] == json!(true) { "サーバーで署名" } else { "オフライン署名" });
            Ok(())
        }
        PackageCmd::Manifest { id, out } => {
            let bytes = need()?.get_bytes(&format!("/api/v1/packages/{id}/manifest"), 64 * 1024 * 1024)?;
            std::fs::write(&out, bytes).with_context(|| format!("{} に書けません", out.display()))?;
            println!("{} に書きました。署名鍵のあるマシンで: lanward package sign {} --key KEY -o signed.json", out.display(), out.display());
            Ok(())
        }
        PackageCmd::Sign { unsigned, key, out } => {
            let signed = lanward_package::sign_file(&unsigned, &key, &out).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("署名しました: {} {} (serial {}) → {}", signed.manifest.package, signed.manifest.version, signed.manifest.serial, out.display());
            Ok(())
        }
        PackageCmd::Signature { id, signed } => {
            let bytes = std::fs::read(&signed).with_context(|| format!("{} を読めません", signed.display()))?;
            need()?.post_bytes(&format!("/api/v1/packages/{id}/signature"), &bytes)?;
            println!("パッケージ {id} の署名を登録しました");
            Ok(())
        }
        PackageCmd::Keygen { out } => {
            if out.exists() {
                bail!("{} は既にあります (will not overwrite a key)", out.display());
            }
            let key = lanward_package::SigningKey::generate();
            key.save(&out).map_err(|e| anyhow::anyhow!("{e}"))?;
            let public = out.with_extension("pub");
            key.public_key().save(&public).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("署名鍵 {} (key id {}) と公開鍵 {} を作りました。", out.display(), key.id(), public.display());
            println!("サーバーのデータフォルダに公開鍵だけを package-signing.pub として置いてから初めて起動してください。");
            Ok(())
        }
        PackageCmd::Office(a) => {
            let tmp = tempfile::tempdir()?;
            let zip_path = a.out.clone().unwrap_or_else(|| tmp.path().join(format!("{}.zip", a.name)));
            office_package(&a, &zip_path)?;
            if a.out.is_some() {
                println!("{} に書きました", zip_path.display());
                return Ok(());
            }
            let detection = format!("reg:HKLM\\SOFTWARE\\Microsoft\\Office\\ClickToRun\\Configuration!VersionToReport>={}", a.target_version);
            let q = serde_urlencoded::to_string([
                ("name", a.name.as_str()),
                ("version", a.target_version.as_str()),
                ("file_name", &format!("{}.zip", a.name)),
                ("detection", detection.as_str()),
                ("timeout_secs", "7200"),
            ])?;
            let r = need()?.post_file(&format!("/api/v1/packages?{q}"), &zip_path)?;
            let p = &r["package"];
            println!("Office パッケージ {} を追加しました: {} {} ({}) コマンド: {}", s(&p["id"]), s(&p["name"]), s(&p["version"]), a.department, s(&p["command"]));
            println!("  検出ルール: {}", s(&p["detection"]));
            Ok(())
        }
        PackageCmd::ExportMedia { data, database, package, version, out } => export_media(&data, database, &package, version.as_deref(), &out),
    }
}

fn export_media(data: &Path, database: Option<String>, package: &str, version: Option<&str>, out: &Path) -> Result<()> {
    let url = database.unwrap_or_else(|| data.join("lanward.db").display().to_string());
    let store = lanward_store::open(&url).map_err(|e| anyhow::anyhow!("データベースを開けません: {e}"))?;
    let p = store
        .packages()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .find(|p| p.name == package && version.is_none_or(|v| v == p.version))
        .with_context(|| format!("パッケージ {package} {} がありません", version.unwrap_or("")))?;
    let signed_text = p.signed_manifest.clone().with_context(|| format!("パッケージ {} {} はまだ署名されていません", p.name, p.version))?;
    let signed: lanward_package::SignedManifest = serde_json::from_str(&signed_text).context("保存された署名済みマニフェストを読めません")?;
    let chunks = lanward_package::ChunkStore::open(data.join("chunks")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = lanward_package::export_media(&chunks, &signed, &p.file_name, &p.command, out).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{} に {} {} の導入媒体を書きました ({} bytes)", report.dir.display(), report.package, report.version, report.total_bytes);
    for f in &report.files {
        println!("  {}  {} bytes  {}", f.name, f.size, f.sha256);
    }
    for w in &report.warnings {
        println!("  注意: {w}");
    }
    Ok(())
}

pub fn deploy(c: &ApiClient, cmd: DeployCmd) -> Result<()> {
    match cmd {
        DeployCmd::Create(a) => {
            // `mon-fri 12:00-13:00`, or a cron expression and minutes: `30 17 * * 1-5 for 270`.
            let windows: Vec<Value> = a
                .windows
                .iter()
                .map(|w| match w.split_once(" for ") {
                    Some((cron, minutes)) => Ok(json!({"cron": cron.trim(), "minutes": minutes.trim().trim_end_matches('m').parse::<u32>().with_context(|| format!("--window {w:?}: 分数が数値ではありません"))?})),
                    None => Ok(json!(w)),
                })
                .collect::<Result<_>>()?;
            let body = json!({
                "package": a.package,
                "version": a.version,
                "title": a.title,
                "targets": {"hostnames": a.targets, "sites": a.sites, "departments": a.departments, "tags": a.tags},
                "pilot": a.pilot,
                "by_department": a.by_department,
                "gate_percent": a.gate,
                "at": a.at.as_deref().map(parse_time).transpose()?,
                "windows": windows,
                "deadline": a.deadline.as_deref().map(parse_time).transpose()?,
                "per_site_concurrency": a.site_concurrency,
                "per_site_bytes_per_sec": a.site_bandwidth.as_deref().map(parse_rate).transpose()?,
                "spread_minutes": a.spread_minutes,
            });
            let r = c.post("/api/v1/deployments", &body)?;
            println!("配布 {} を作りました: {} 台", s(&r["id"]), s(&r["targets"]));
            for w in r["waves"].as_array().into_iter().flatten() {
                println!("  段: {} ({} 台)", s(&w[0]), s(&w[1]));
            }
            Ok(())
        }
        DeployCmd::List => {
            let r = c.get("/api/v1/deployments")?;
            let rows: Vec<Vec<String>> = r["deployments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    let (dep, n) = (&d["deployment"], &d["counts"]);
                    vec![s(&dep["id"]), s(&dep["title"]), s(&dep["status"]), s(&n["total"]), s(&n["succeeded"]), s(&n["failed"]), s(&n["active"])]
                })
                .collect();
            print_table(&["ID", "配布", "状態", "台数", "成功", "失敗", "進行中"], &rows);
            Ok(())
        }
        DeployCmd::Show { id, json } => {
            let r = c.get(&format!("/api/v1/deployments/{id}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            let d = &r["deployment"];
            println!("配布 {}: {} ({}) — {}", s(&d["id"]), s(&d["title"]), s(&d["status"]), bar(&r["counts"]));
            for w in r["waves"].as_array().into_iter().flatten() {
                println!("  段 {} {}{}: {}", s(&w["index"]), s(&w["name"]), if w["opened"] == json!(true) { "" } else { " (未開始)" }, bar(&w["counts"]));
            }
            for site in r["sites"].as_array().into_iter().flatten() {
                println!("  拠点 {}: {}  WAN {} bytes", s(&site["site"]), bar(&site["counts"]), s(&site["server_bytes"]));
            }
            let rows: Vec<Vec<String>> = r["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let state = match t["percent"].as_u64() {
                        Some(p) => format!("{} {p}%", s(&t["label_ja"])),
                        None => s(&t["label_ja"]),
                    };
                    vec![s(&t["hostname"]), s(&t["site"]), s(&t["department"]), s(&t["wave"]), state, s(&t["code"]), s(&t["reason"])]
                })
                .collect();
            print_table(&["端末", "拠点", "課", "段", "状態", "コード", "理由"], &rows);
            Ok(())
        }
        DeployCmd::OfficeProgress { target, site, department } => {
            let mut q = vec![("target", target)];
            q.extend(site.map(|v| ("site", v)));
            q.extend(department.map(|v| ("department", v)));
            let r = c.get(&format!("/api/v1/office/progress?{}", serde_urlencoded::to_string(&q)?))?;
            println!(
                "目標 {}: {} 台中 目標の版 {} ({:.1}%), 古い版 {}, 新しい版 {}, 不明 {}",
                s(&r["target_version"]), s(&r["total"]), s(&r["current"]), r["percent_current"].as_f64().unwrap_or(0.0), s(&r["behind"]), s(&r["ahead"]), s(&r["unknown"])
            );
            let rows: Vec<Vec<String>> = r["pcs"].as_array().into_iter().flatten().filter(|p| p["status"] != "current").map(|p| vec![s(&p["hostname"]), s(&p["version"]), s(&p["label_ja"])]).collect();
            if !rows.is_empty() {
                print_table(&["端末", "Office の版", "状態"], &rows);
            }
            Ok(())
        }
        DeployCmd::Pause { id } => control(c, id, "pause", "一時停止しました"),
        DeployCmd::Resume { id } => control(c, id, "resume", "再開しました"),
        DeployCmd::Cancel { id } => control(c, id, "cancel", "取り消しました"),
        DeployCmd::Retry { id } => control(c, id, "retry", "再試行します"),
    }
}

fn control(c: &ApiClient, id: i64, what: &str, done: &str) -> Result<()> {
    let r = c.post(&format!("/api/v1/deployments/{id}/{what}"), &json!({}))?;
    println!("配布 {id} を{done} ({} 台)", s(&r["targets_changed"]));
    Ok(())
}

/// `[#####-----] 5/10 成功 1 失敗`
fn bar(counts: &Value) -> String {
    let total = counts["total"].as_u64().unwrap_or(0);
    let ok = counts["succeeded"].as_u64().unwrap_or(0);
    let failed = counts["failed"].as_u64().unwrap_or(0);
    let filled = (ok * 20).checked_div(total).unwrap_or(0).min(20) as usize;
    format!("[{}{}] {ok}/{total} 成功, {failed} 失敗", "#".repeat(filled), "-".repeat(20 - filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_times() {
        assert_eq!(parse_rate("10Mbit").unwrap(), 1_250_000);
        assert_eq!(parse_rate("2MB").unwrap(), 2_000_000);
        assert_eq!(parse_rate("1500").unwrap(), 1500);
        assert!(parse_rate("10 furlongs").is_err());
        assert_eq!(parse_time("2026-12-01 12:00").unwrap().to_rfc3339(), "2026-12-01T03:00:00+00:00");
        assert!(parse_time("tomorrow").is_err());
    }
}
