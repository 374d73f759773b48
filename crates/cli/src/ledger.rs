//! The ledger commands: sites, assets without agents, the asset list's
//! filters, and import and export of the bureau's Excel/CSV ledger. All of
//! them talk to a running server; the server reads, checks and plans the
//! files (`lanward-ledger`), the CLI only sends bytes and shows the answer.

use crate::api_client::ApiClient;
use crate::table::{self, urlencode};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `field=value` arguments as a JSON object; `field=` clears (null).
pub fn parse_fields(args: &[String]) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    for f in args {
        let (k, v) = f.split_once('=').with_context(|| format!("`{f}`: 項目=値 の形で指定してください (field=value)"))?;
        let k = k.trim();
        if k.is_empty() {
            bail!("`{f}`: 項目名がありません (field=value)");
        }
        if map.insert(k.to_string(), if v.trim().is_empty() { Value::Null } else { json!(v) }).is_some() {
            bail!("項目 {k} が二重に指定されています (field {k} given twice)");
        }
    }
    Ok(map)
}

// ---------------------------------------------------------------- sites

pub fn site_add(c: &ApiClient, code: &str, name: &str) -> Result<()> {
    let r = c.post("/api/v1/sites", &json!({"code": code, "name": name}))?;
    println!("拠点を登録しました: {} {}", r["code"].as_str().unwrap_or(code), r["name"].as_str().unwrap_or(name));
    Ok(())
}

pub fn site_list(c: &ApiClient) -> Result<()> {
    table::print_sites(&c.get("/api/v1/sites")?);
    Ok(())
}

// ---------------------------------------------------------------- assets

/// Creates an asset without an agent; prints its id on standard output.
pub fn asset_add(c: &ApiClient, hostname: &str, kind: &str, site: &str, fields: &[String]) -> Result<()> {
    let fields = parse_fields(fields)?;
    let r = c.post("/api/v1/assets", &json!({"hostname": hostname, "kind": kind, "site": site, "fields": fields}))?;
    let id = r["id"].as_i64().context("/api/v1/assets: 応答に資産 ID がありません")?;
    println!("{id}");
    eprintln!("資産を登録しました: ID {id} ({hostname}, {kind}, {site})");
    Ok(())
}

/// Filters of `assets list` (the server's `AssetParams`).
#[derive(Args, Default, Clone)]
pub struct ListFilter {
    /// ホスト名・シリアル番号・使用者・IP アドレス・備考の一部 (part of hostname, serial, user, IP, notes)
    #[arg(long = "q")]
    pub q: Option<String>,
    /// --q の旧名 (older name of --q)
    #[arg(long)]
    pub hostname: Option<String>,
    /// 種別コード (pc, server, router, printer, l2_switch, ...)
    #[arg(long)]
    pub kind: Option<String>,
    /// 拠点コード (site code)
    #[arg(long)]
    pub site: Option<String>,
    /// 所属 (department, exact)
    #[arg(long)]
    pub department: Option<String>,
    /// 状態コード (in_use, spare, repair, retired)
    #[arg(long)]
    pub status: Option<String>,
    /// OS 名・バージョンの一部 (part of the OS name or version)
    #[arg(long)]
    pub os: Option<String>,
    /// この日数以上チェックインのないエージェントの資産だけ (agents not seen for N days)
    #[arg(long)]
    pub not_seen_days: Option<u32>,
    /// 並べ替え: id, hostname, kind, site, department, os, last_seen (先頭に - で降順)
    #[arg(long, allow_hyphen_values = true)]
    pub sort: Option<String>,
}

impl ListFilter {
    /// The query string (without `?`, starting with `&` for each parameter).
    pub fn query(&self) -> String {
        let mut out = String::new();
        let text = [("q", &self.q), ("hostname", &self.hostname), ("kind", &self.kind), ("site", &self.site), ("department", &self.department), ("status", &self.status), ("os", &self.os), ("sort", &self.sort)];
        for (k, v) in text {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                out.push_str(&format!("&{k}={}", urlencode(v)));
            }
        }
        if let Some(d) = self.not_seen_days {
            out.push_str(&format!("&not_seen_days={d}"));
        }
        out
    }
}

/// Pages through `GET /api/v1/assets` until `limit` assets (or all) are read.
pub fn list_assets(c: &ApiClient, filter: &ListFilter, limit: u32) -> Result<(Vec<Value>, u64)> {
    let mut all = Vec::new();
    let mut offset = 0u64;
    let mut total = 0;
    let filter = filter.query();
    while (all.len() as u64) < limit as u64 {
        let page_size = (limit as u64 - all.len() as u64).min(1000);
        let page = c.get(&format!("/api/v1/assets?limit={page_size}&offset={offset}{filter}"))?;
        total = page["total"].as_u64().unwrap_or(0);
        all.extend(page["assets"].as_array().cloned().unwrap_or_default());
        match page["next_offset"].as_u64() {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    all.truncate(limit as usize);
    Ok((all, total))
}

// ---------------------------------------------------------------- import

/// Reads `--mapping`: JSON given inline or `@FILE`; either the whole
/// `{"columns": {...}}` or just the column object `{"C": "ip_addresses", "F": null}`.
pub fn parse_mapping(arg: &str) -> Result<Value> {
    let (text, source) = match arg.strip_prefix('@') {
        Some(file) => (std::fs::read_to_string(file).with_context(|| format!("--mapping: {file} を読めません"))?, file.to_string()),
        None => (arg.to_string(), "--mapping".to_string()),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{source}: JSON を解釈できません ({} 行 {} 列): {e}", e.line(), e.column()))?;
    let columns = match v {
        Value::Object(mut o) if o.contains_key("columns") => o.remove("columns").unwrap_or(Value::Null),
        other => other,
    };
    let Value::Object(columns) = columns else {
        bail!("{source}: {{\"columns\": {{\"C\": \"ip_addresses\", \"F\": null}}}} の形で指定してください");
    };
    let mut out = Map::new();
    for (letter, target) in columns {
        let key = letter.trim().to_ascii_uppercase();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_uppercase()) {
            bail!("{source}: 列 `{letter}` は列記号 (A, B, …, AA) ではありません");
        }
        match target {
            Value::String(_) | Value::Null => {
                out.insert(key, target);
            }
            other => bail!("{source}: 列 {key} の割り当て先 {other} は文字列か null で指定してください"),
        }
    }
    Ok(json!({ "columns": out }))
}

fn spinner(msg: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
    bar.set_message(msg);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn count(v: &Value, key: &str) -> u64 {
    v["plan"][key].as_u64().unwrap_or(0)
}

/// `assets import`: upload, (remap,) show the plan, and apply it when asked.
pub fn import(c: &ApiClient, file: &Path, mapping: Option<&str>, apply: bool) -> Result<()> {
    // Check the mapping before sending anything.
    let mapping = mapping.map(parse_mapping).transpose()?;
    let bytes = std::fs::read(file).with_context(|| format!("{} を読めません", file.display()))?;
    let max = lanward_proto::MAX_AGENT_BODY_BYTES;
    if bytes.len() > max {
        bail!("{}: ファイルが大きすぎます ({:.1} MB、上限 {} MB)", file.display(), bytes.len() as f64 / 1048576.0, max / 1024 / 1024);
    }
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "upload.csv".into());
    let bar = spinner(format!("{name} ({} KB) を送信して確認しています", bytes.len().div_ceil(1024)));
    let uploaded = c.post_bytes(&format!("/api/v1/imports?filename={}", urlencode(&name)), &bytes);
    bar.finish_and_clear();
    let mut view = uploaded?;
    let id = view["id"].as_str().context("/api/v1/imports: 応答に取り込み ID がありません")?.to_string();
    if let Some(given) = &mapping {
        // The given columns replace the server's guess; the others keep it.
        let mut columns = view["mapping"]["columns"].as_object().cloned().unwrap_or_default();
        for (letter, target) in given["columns"].as_object().into_iter().flatten() {
            columns.insert(letter.clone(), target.clone());
        }
        let bar = spinner("列の割り当てを変更して確認しています".into());
        let remapped = c.post(&format!("/api/v1/imports/{}/mapping", urlencode(&id)), &json!({ "columns": columns }));
        bar.finish_and_clear();
        view = remapped?;
    }
    table::print_import(&view);

    let (creates, updates, invalid) = (count(&view, "creates"), count(&view, "updates"), count(&view, "invalid"));
    println!();
    if !apply {
        if invalid > 0 {
            println!("エラーのある行を直してから、--apply を付けると取り込みます (エラーがある間は 1 行も取り込みません)。まだ何も書き込んでいません");
        } else if creates + updates == 0 {
            println!("台帳と同じです。取り込む変更はありません (何も書き込んでいません)");
        } else {
            println!("--apply を付けると取り込みます (まだ何も書き込んでいません)");
        }
        return Ok(());
    }
    if invalid == 0 && creates + updates == 0 {
        println!("台帳と同じです。取り込む変更はないため、何も書き込みませんでした");
        return Ok(());
    }
    // With errors the server refuses (422) and writes nothing; its message names the first bad row.
    let bar = spinner("取り込んでいます".into());
    let done = c.post(&format!("/api/v1/imports/{}/apply", urlencode(&id)), &json!({}));
    bar.finish_and_clear();
    let done = done?;
    println!(
        "取り込みました: 新規 {} 件 / 変更 {} 件 / 変更なし {} 件 (警告 {} 件)",
        done["created"].as_u64().unwrap_or(0),
        done["updated"].as_u64().unwrap_or(0),
        done["unchanged"].as_u64().unwrap_or(0),
        done["warnings"].as_u64().unwrap_or(0)
    );
    Ok(())
}

// ---------------------------------------------------------------- export

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Xlsx,
    Csv,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
pub enum CsvEncoding {
    /// UTF-8 (BOM 付き)
    Utf8,
    /// Shift_JIS (CP932)
    Sjis,
}

#[derive(Copy, Clone, ValueEnum, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

/// Largest export accepted (the bureau's ledger is well under 1 MB).
const MAX_EXPORT_BYTES: u64 = 512 * 1024 * 1024;

/// `assets export`: downloads the ledger and writes it to `out` (`-`: standard output).
pub fn export(c: &ApiClient, format: ExportFormat, encoding: Option<CsvEncoding>, lang: Lang, out: &Path) -> Result<()> {
    let mut path = format!("/api/v1/assets/export?format={}&lang={}", if format == ExportFormat::Xlsx { "xlsx" } else { "csv" }, if lang == Lang::En { "en" } else { "ja" });
    match (format, encoding) {
        (ExportFormat::Xlsx, Some(_)) => bail!("--encoding は --format csv のときだけ指定できます (xlsx has no encoding)"),
        (ExportFormat::Csv, Some(CsvEncoding::Sjis)) => path.push_str("&encoding=sjis"),
        (ExportFormat::Csv, _) => path.push_str("&encoding=utf8"),
        _ => {}
    }
    let bar = spinner("台帳を書き出しています".into());
    let bytes = c.get_bytes(&path, MAX_EXPORT_BYTES);
    bar.finish_and_clear();
    let bytes = bytes?;
    if out == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&bytes).and_then(|_| stdout.flush()).context("標準出力に書けません")?;
        return Ok(());
    }
    write_file(out, &bytes)?;
    eprintln!("{} に書き出しました ({} バイト)", out.display(), bytes.len());
    Ok(())
}

/// Writes beside the target and renames, so a failed write leaves no half file.
fn write_file(out: &Path, bytes: &[u8]) -> Result<()> {
    let name = out.file_name().with_context(|| format!("{}: ファイル名を指定してください", out.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".part");
    let tmp: PathBuf = out.with_file_name(tmp_name);
    let result = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = result.and_then(|_| std::fs::rename(&tmp, out)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("{} に書けません", out.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_forms() {
        let a = parse_mapping(r#"{"columns":{"c":"ip_addresses","F":null}}"#).unwrap();
        let b = parse_mapping(r#"{"C":"ip_addresses","F":null}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["columns"]["C"], "ip_addresses");
        assert!(parse_mapping(r#"{"C": 3}"#).unwrap_err().to_string().contains("列 C"));
        assert!(parse_mapping(r#"{"1": "x"}"#).is_err());
        let e = parse_mapping("{\n\"C\": }").unwrap_err().to_string();
        assert!(e.contains("2 行"), "{e}");
    }

    #[test]
    fn fields_and_filters() {
        let m = parse_fields(&["department=配水課".into(), "room=".into()]).unwrap();
        assert_eq!(m["department"], "配水課");
        assert!(m["room"].is_null());
        assert!(parse_fields(&["x".into()]).is_err());
        assert!(parse_fields(&["a=1".into(), "a=2".into()]).is_err());
        let f = ListFilter { q: Some("山田".into()), sort: Some("-last_seen".into()), not_seen_days: Some(30), ..Default::default() };
        assert_eq!(f.query(), "&q=%E5%B1%B1%E7%94%B0&sort=-last_seen&not_seen_days=30");
    }
}
