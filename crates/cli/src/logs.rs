//! `lanward logs search`: operation logs from the running server (the
//! search is audited there).

use crate::api_client::ApiClient;
use crate::table::urlencode;
use anyhow::Result;
use clap::Args;
use serde_json::Value;

#[derive(Args)]
pub struct SearchArgs {
    /// 開始 (RFC 3339 または YYYY-MM-DD、日本時間の 0 時)。省略時は 24 時間前
    #[arg(long)]
    pub from: Option<String>,
    /// 終了 (日付ならその日の終わりまで)。省略時は現在
    #[arg(long)]
    pub to: Option<String>,
    /// PC のホスト名 (カンマ区切りで複数)
    #[arg(long)]
    pub pc: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    /// 種類 (logon, process_start, file_copy, device_connect, print_job ... カンマ区切り)
    #[arg(long)]
    pub kind: Option<String>,
    /// キーワード (ウィンドウ名・パス・コマンドライン・文書名など。空白区切りで AND)
    #[arg(long)]
    pub text: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// 古い順に表示する (1 台の 1 日を追うとき)
    #[arg(long)]
    pub oldest_first: bool,
    /// table, json, csv
    #[arg(long, default_value = "table")]
    pub format: String,
}

fn query(a: &SearchArgs) -> String {
    let mut q = vec![format!("limit={}", a.limit)];
    for (k, v) in [("from", &a.from), ("to", &a.to), ("pc", &a.pc), ("user", &a.user), ("kind", &a.kind), ("text", &a.text)] {
        if let Some(v) = v {
            q.push(format!("{k}={}", urlencode(v)));
        }
    }
    if a.oldest_first {
        q.push("order=asc".into());
    }
    q.join("&")
}

/// What an event says besides time, PC, user and kind, in one line.
fn summary(e: &Value) -> String {
    let Some(obj) = e.as_object() else { return String::new() };
    let mut parts = Vec::new();
    for key in ["title", "process", "command_line", "path", "target_path", "document", "printer", "pages", "vendor", "product", "serial", "device_class", "dwell_ms", "via", "reason"] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            let text = v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
            parts.push(if key == "title" || key == "process" { text } else { format!("{key}={text}") });
        }
    }
    parts.join("  ")
}

pub fn search(c: &ApiClient, a: &SearchArgs) -> Result<()> {
    let path = if a.format == "csv" { format!("/api/v1/logs/export?format=csv&{}", query(a)) } else { format!("/api/v1/logs?{}", query(a)) };
    if a.format == "csv" {
        let bytes = c.get_bytes(&path, 512 * 1024 * 1024)?;
        std::io::Write::write_all(&mut std::io::stdout(), &bytes)?;
        return Ok(());
    }
    let r = c.get(&path)?;
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let events = r["events"].as_array().cloned().unwrap_or_default();
    crate::table::print_events(&events, &summary);
    let total = r["total"].as_u64().unwrap_or(0);
    eprintln!("該当 {total} 件{} (この検索は監査ログに記録されます)", if total > events.len() as u64 { format!("のうち {} 件を表示", events.len()) } else { String::new() });
    Ok(())
}
