//! Plain-text tables for the terminal (Japanese headers; widths count
//! full-width characters as two columns).

use serde_json::Value;

fn width(s: &str) -> usize {
    s.chars().map(|c| if (c as u32) >= 0x1100 && !('\u{ff61}'..='\u{ff9f}').contains(&c) { 2 } else { 1 }).sum()
}

pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
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

pub fn s(v: &Value) -> String {
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
                s(&a["ledger"]["department"]),
                s(&a["ledger"]["status"]),
                format!("{} {}", s(&a["os"]["name"]), a["os"]["build"].as_str().unwrap_or("")),
                s(&a["hardware"]["cpu"]["model"]),
                mem,
                apps,
                jst(&a["last_seen"]),
            ]
        })
        .collect();
    print_table(&["ID", "ホスト名", "種別", "拠点", "所属", "状態", "OS", "CPU", "メモリ", "ソフト数", "最終確認 (JST)"], &rows);
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

pub fn print_sites(r: &Value) {
    let rows: Vec<Vec<String>> = r["sites"].as_array().map(|v| v.iter().map(|x| vec![s(&x["code"]), s(&x["name"])]).collect()).unwrap_or_default();
    print_table(&["拠点コード", "拠点名"], &rows);
    eprintln!("{} 件", rows.len());
}

/// Excel's column letter of a 0-based index (`A`, …, `Z`, `AA`).
pub fn column_letter(mut i: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    out.iter().rev().map(|&b| b as char).collect()
}

/// Rows of a planned import that change the ledger, shown in the preview.
const MAX_CHANGE_ROWS: usize = 100;

/// The preview of an import (`POST /api/v1/imports`): file, counts, column
/// mapping, every problem, and the rows that would change.
pub fn print_import(v: &Value) {
    let plan = &v["plan"];
    let n = |k: &str| plan[k].as_u64().unwrap_or(0);
    let mut file = format!("ファイル: {} ({})", s(&v["file_name"]), s(&v["encoding"]));
    if let Some(sheet) = v["sheet"].as_str() {
        file.push_str(&format!(" シート: {sheet}"));
    }
    println!("{file}");
    println!("取り込み ID: {}", s(&v["id"]));
    let rows = plan["rows"].as_array().map(Vec::as_slice).unwrap_or_default();
    println!(
        "確認結果 ({} 行): 新規 {} 件 / 変更 {} 件 / 変更なし {} 件 / エラーのある行 {} 件 / 警告 {} 件",
        rows.len(),
        n("creates"),
        n("updates"),
        n("unchanged"),
        n("invalid"),
        n("warnings")
    );

    println!("\n列の割り当て:");
    let headers = v["headers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mapping = &v["mapping"]["columns"];
    let map_rows: Vec<Vec<String>> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let letter = column_letter(i);
            let target = mapping[&letter].as_str().map(String::from).unwrap_or_else(|| "(取り込まない)".into());
            vec![letter, s(h), target]
        })
        .collect();
    print_table(&["列", "見出し", "取り込み先"], &map_rows);

    let problems: Vec<Vec<String>> = rows
        .iter()
        .flat_map(|r| r["problems"].as_array().map(Vec::as_slice).unwrap_or_default())
        .map(|p| {
            let severity = if p["severity"] == "error" { "エラー" } else { "警告" };
            vec![s(&p["line"]), s(&p["column"]), severity.to_string(), s(&p["message_ja"])]
        })
        .collect();
    if problems.is_empty() {
        println!("\n問題はありません");
    } else {
        println!("\n問題 ({} 件):", problems.len());
        print_table(&["行", "列", "重大度", "内容"], &problems);
    }

    let changes: Vec<Vec<String>> = rows
        .iter()
        .filter_map(|r| {
            let action = &r["action"];
            match action["type"].as_str() {
                Some("create") => {
                    let mut what = vec![format!("種別={}", s(&r["kind"])), format!("拠点={}", s(&r["site"]))];
                    if let Some(serial) = r["serial"].as_str() {
                        what.push(format!("serial={serial}"));
                    }
                    if let Some(f) = r["fields"].as_object() {
                        what.extend(f.iter().map(|(k, v)| format!("{k}={}", s(v))));
                    }
                    Some(vec![s(&r["line"]), "新規".into(), s(&r["hostname"]), "-".into(), what.join(" ")])
                }
                Some("update") => {
                    let what: Vec<String> = action["changes"]
                        .as_array()
                        .map(|c| c.iter().map(|c| format!("{}: {} → {}", s(&c["field"]), s(&c["old"]), s(&c["new"]))).collect())
                        .unwrap_or_default();
                    Some(vec![s(&r["line"]), "変更".into(), s(&r["hostname"]), s(&action["asset_id"]), what.join(", ")])
                }
                _ => None,
            }
        })
        .collect();
    if !changes.is_empty() {
        println!("\n取り込むと変わる行 ({} 行):", changes.len());
        print_table(&["行", "処理", "ホスト名", "資産ID", "内容"], &changes[..changes.len().min(MAX_CHANGE_ROWS)]);
        if changes.len() > MAX_CHANGE_ROWS {
            println!("… 他 {} 行", changes.len() - MAX_CHANGE_ROWS);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_letters() {
        let l: Vec<String> = [0, 2, 25, 26, 27, 51, 52, 701, 702].iter().map(|&i| super::column_letter(i)).collect();
        assert_eq!(l, ["A", "C", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    }
}

/// Operation-log events: time (JST), PC, user, kind (Japanese), what happened.
pub fn print_events(events: &[Value], summary: &dyn Fn(&Value) -> String) {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let kind = e["kind"].as_str().and_then(lanward_proto::oplog::EventKind::parse).map(|k| k.label_ja().to_string()).unwrap_or_else(|| s(&e["kind"]));
            vec![jst(&e["time"]), s(&e["pc"]), s(&e["user"]), kind, summary(e)]
        })
        .collect();
    print_table(&["日時", "PC", "ユーザー", "種類", "内容"], &rows);
}
