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

#[derive(Args)]
pub struct GenerateArgs {
    /// PC の台数 (SUIDO-PC-0001 から)
    #[arg(long, default_value_t = 700)]
    pub pcs: usize,
    /// 最初の日 (YYYY-MM-DD)。土日は勤務がないため出力されません
    #[arg(long)]
    pub from: String,
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// PC 1 台の 1 勤務日あたりのイベント数
    #[arg(long, default_value_t = 2800.0)]
    pub per_pc_day: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// 出力先 (JSON Lines)。省略時は標準出力
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
}

/// `lanward logs generate`: a realistic stream of the bureau's events as
/// JSON lines (`agent`, `seq`, `time`, `pc`, `user`, `kind`, fields), for
/// tests, demos and benchmarks.
pub fn generate(a: &GenerateArgs) -> Result<()> {
    let parts: Vec<&str> = a.from.split('-').collect();
    let date = match parts.as_slice() {
        [y, m, d] => (|| {
            let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
            time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
        })(),
        _ => None,
    };
    let Some(date) = date else {
        anyhow::bail!("--from は YYYY-MM-DD で指定してください ({})", a.from);
    };
    if a.pcs == 0 || a.pcs > 100_000 {
        anyhow::bail!("--pcs は 1〜100000 です");
    }
    let first_day = date.to_julian_day() as i64 - time::Date::from_calendar_date(1970, time::Month::January, 1).map(|d| d.to_julian_day() as i64).unwrap_or(2_440_588);
    let expected = (a.pcs as f64 * a.per_pc_day * a.days as f64 * 5.0 / 7.0) as u64;
    let bar = indicatif::ProgressBar::new(expected.max(1));
    bar.set_style(indicatif::ProgressStyle::with_template("イベントを生成中 {bar:40} {pos}/{len} ({per_sec})").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    let out: Box<dyn std::io::Write> = match &a.output {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(out);
    let mut n = 0u64;
    for (agent, e) in lanward_oplog::generate::Generator::new(a.seed, a.pcs, first_day, a.days, a.per_pc_day) {
        let mut v = serde_json::json!({
            "agent": agent,
            "seq": e.seq,
            "time": lanward_server::api::view::rfc3339(e.event.time_ms),
            "pc": e.event.pc,
            "user": e.event.user,
            "kind": e.event.kind.as_str(),
        });
        if let (Some(obj), Ok(Value::Object(detail))) = (v.as_object_mut(), serde_json::to_value(&e.event.detail)) {
            obj.extend(detail);
        }
        serde_json::to_writer(&mut out, &v)?;
        std::io::Write::write_all(&mut out, b"\n")?;
        n += 1;
        if n % 10_000 == 0 {
            bar.set_position(n);
        }
    }
    std::io::Write::flush(&mut out)?;
    bar.finish_and_clear();
    eprintln!("{n} 件のイベントを出力しました");
    Ok(())
}
