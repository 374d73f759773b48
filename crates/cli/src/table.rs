//! Plain-text tables for the terminal (Japanese headers; widths count
//! full-width characters as two columns).

use serde_json::Value;

fn width(s: &str) -> usize {
    s.chars().map(|c| if (c as u32) >= 0x1100 && !('\u{ff61}'..='\u{ff9f}').contains(&c) { 2 } else { 1 }).sum()
}

fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(width(c));
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(w[i] - width(c) + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    line(w.iter().map(|n| "-".repeat(*n)).collect());
    for r in rows {
        line(r.clone());
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Times are shown in Japan Standard Time, as the bureau reads them.
fn jst(v: &Value) -> String {
    let parsed = match v {
        Value::String(s) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok(),
        Value::Number(n) => n.as_i64().and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()),
        _ => None,
    };
    let Some(t) = parsed else { return s(v) };
    let offset = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let t = t.to_offset(offset);
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

pub fn print_assets(assets: &[Value]) {
    let rows: Vec<Vec<String>> = assets
        .iter()
        .map(|a| {
            let mem = a["hardware"]["memory_bytes"].as_u64().map(|b| format!("{} GB", (b + (1 << 29)) >> 30)).unwrap_or("-".into());
            let apps = a["software"].as_array().map(|v| v.len().to_string()).unwrap_or("-".into());
            vec![
                s(&a["id"]),
                s(&a["hostname"]),
                s(&a["kind"]),
                s(&a["site"]),
                format!("{} {}", s(&a["os"]["name"]), a["os"]["build"].as_str().unwrap_or("")),
                s(&a["hardware"]["cpu"]["model"]),
                mem,
                apps,
                jst(&a["last_seen"]),
            ]
        })
        .collect();
    print_table(&["ID", "ホスト名", "種別", "拠点", "OS", "CPU", "メモリ", "ソフト数", "最終確認 (JST)"], &rows);
    eprintln!("{} 件", assets.len());
}

pub fn print_agents(r: &Value) {
    let rows: Vec<Vec<String>> = r["agents"]
        .as_array()
        .map(|v| v.iter().map(|a| vec![s(&a["id"]), s(&a["hostname"]), s(&a["site"]), jst(&a["last_seen"]), jst(&a["revoked_at"])]).collect())
        .unwrap_or_default();
    print_table(&["エージェント ID", "ホスト名", "拠点", "最終確認", "失効"], &rows);
}

pub fn print_tokens(r: &Value) {
    let rows: Vec<Vec<String>> = r["tokens"]
        .as_array()
        .map(|v| v.iter().map(|t| vec![s(&t["id"]), s(&t["site"]), format!("{}/{}", s(&t["uses"]), s(&t["max_uses"])), s(&t["created_by"])]).collect())
        .unwrap_or_default();
    print_table(&["トークン ID", "拠点", "使用/上限", "作成者"], &rows);
}

pub fn print_audit(r: &Value) {
    let rows: Vec<Vec<String>> = r["entries"]
        .as_array()
        .map(|v| v.iter().map(|e| vec![s(&e["seq"]), jst(&e["at_ms"]), s(&e["actor"]), s(&e["action"]), s(&e["target"]), s(&e["detail"])]).collect())
        .unwrap_or_default();
    print_table(&["#", "時刻 (JST)", "実行者", "操作", "対象", "詳細"], &rows);
    println!("ハッシュ連鎖: {}", if r["chain_intact"].as_bool() == Some(true) { "正常" } else { "改ざんの疑いあり" });
}

pub fn print_users(r: &Value) {
    let rows: Vec<Vec<String>> = r["users"]
        .as_array()
        .map(|v| v.iter().map(|u| vec![s(&u["id"]), s(&u["username"]), s(&u["display_name"]), s(&u["role"])]).collect())
        .unwrap_or_default();
    print_table(&["ID", "ユーザー名", "表示名", "役割"], &rows);
}

pub fn print_history(r: &Value) {
    let rows: Vec<Vec<String>> = r["history"]
        .as_array()
        .map(|v| v.iter().map(|h| vec![jst(&h["at"]), s(&h["actor"]), s(&h["field"]), s(&h["old_value"]), s(&h["new_value"])]).collect())
        .unwrap_or_default();
    print_table(&["日時 (JST)", "変更者", "項目", "変更前", "変更後"], &rows);
}
