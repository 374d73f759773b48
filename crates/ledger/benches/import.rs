//! Reading and planning a 5,000-row xlsx ledger against 5,000 existing
//! assets, and exporting them. Run with
//! `cargo bench -p lanward-ledger --bench import`.

use std::collections::BTreeMap;
use std::time::Instant;

use lanward_ledger::export::{export_csv, export_xlsx, CsvEncoding, ExportRow, Lang};
use lanward_ledger::import::{guess_mapping, plan, read_table, Existing, ExistingAsset};

const SITES: &[(&str, &str)] = &[
    ("HQ", "本庁舎"),
    ("KUN", "国見庁舎"),
    ("ORO", "卸町庁舎"),
    ("KJO", "国見浄水場"),
    ("NJO", "中原浄水場"),
    ("FJO", "福岡浄水場"),
    ("MJO", "茂庭浄水場"),
    ("LAB", "水質検査センター"),
    ("CCH", "市役所料金センター"),
    ("CCN", "北料金センター"),
];
const DEPTS: &[&str] = &["総務課", "経理課", "職員課", "経営企画課", "お客さまセンター", "料金課", "給水装置課", "計画課", "配水課", "浄水課", "水質検査課", "施設課", "危機管理室"];

fn existing_asset(i: usize) -> ExistingAsset {
    let mut fields = BTreeMap::new();
    fields.insert("department".to_string(), DEPTS[i % DEPTS.len()].to_string());
    fields.insert("user".to_string(), format!("職員{i:04}"));
    fields.insert("status".to_string(), "in_use".to_string());
    fields.insert("ip_addresses".to_string(), format!("10.{}.{}.{}", i % 10 + 1, 20 + i / 250 % 10, i % 250 + 1));
    fields.insert("warranty_end".to_string(), format!("20{:02}-03-31", 26 + i % 5));
    let mac = format!("00:1B:21:{:02X}:{:02X}:{:02X}", i >> 16 & 0xFF, i >> 8 & 0xFF, i & 0xFF);
    fields.insert("mac_addresses".to_string(), mac.clone());
    ExistingAsset {
        id: i as i64 + 1,
        hostname: format!("SUIDO-PC-{:04}", i + 1),
        kind: if matches!(i % 9, 0) { "printer" } else { "pc" }.to_string(),
        site: SITES[i % SITES.len()].0.to_string(),
        serial: Some(format!("JPX{:06}", i + 1)),
        macs: vec![mac],
        has_agent: !matches!(i % 9, 0),
        fields,
    }
}

/// 5,000 rows: 4,500 known assets (every tenth with a new user), 500 new ones.
fn ledger_xlsx(rows: usize) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let s = book.add_worksheet();
    s.set_name("資産台帳").unwrap();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy/mm/dd");
    let headers = ["ホスト名", "種別", "拠点", "シリアル番号", "所属", "使用者", "状態", "IPアドレス", "MACアドレス", "保証期限", "備考"];
    for (c, h) in headers.iter().enumerate() {
        s.write_string(0, c as u16, *h).unwrap();
    }
    for i in 0..rows {
        let r = i as u32 + 1;
        let n = if i < rows * 9 / 10 { i } else { i + rows };
        let a = existing_asset(n);
        s.write_string(r, 0, &a.hostname).unwrap();
        s.write_string(r, 1, if a.kind == "pc" { "PC" } else { "プリンター" }).unwrap();
        s.write_string(r, 2, SITES[n % SITES.len()].1).unwrap();
        s.write_string(r, 3, a.serial.as_deref().unwrap_or("")).unwrap();
        s.write_string(r, 4, &a.fields["department"]).unwrap();
        let user = if i % 10 == 0 { format!("異動{i}") } else { a.fields["user"].clone() };
        s.write_string(r, 5, &user).unwrap();
        s.write_string(r, 6, "使用中").unwrap();
        s.write_string(r, 7, &a.fields["ip_addresses"]).unwrap();
        s.write_string(r, 8, a.macs[0].replace(':', "-")).unwrap();
        let y = 2026 + (n % 5) as u16;
        s.write_datetime_with_format(r, 9, rust_xlsxwriter::ExcelDateTime::from_ymd(y, 3, 31).unwrap(), &date).unwrap();
        if i % 7 == 0 {
            s.write_string(r, 10, "リース満了時に更新").unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let sites: Vec<(String, String)> = SITES.iter().map(|(c, n)| (c.to_string(), n.to_string())).collect();
    println!("{:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}   result", "rows", "file KB", "read ms", "plan ms", "total ms", "export ms", "csv ms");
    for rows in [1_000, 5_000] {
        let existing = Existing { sites: sites.clone(), assets: (0..rows).map(existing_asset).collect() };
        let bytes = ledger_xlsx(rows);

        let t = Instant::now();
        let table = read_table("資産台帳.xlsx", &bytes).expect("read");
        let read = ms(t);
        let t = Instant::now();
        let mapping = guess_mapping(&table.headers);
        let p = plan(&table, &mapping, &existing).expect("plan");
        let planned = ms(t);

        let export: Vec<ExportRow> = existing
            .assets
            .iter()
            .map(|a| ExportRow {
                id: a.id,
                hostname: a.hostname.clone(),
                kind: a.kind.clone(),
                site: a.site.clone(),
                serial: a.serial.clone(),
                fields: a.fields.clone(),
                os: Some("Windows 11 23H2".into()),
                last_seen: Some("2026-11-20 09:15".into()),
            })
            .collect();
        let t = Instant::now();
        let xlsx = export_xlsx(&export, Lang::Ja).expect("export");
        let exported = ms(t);
        let t = Instant::now();
        let _csv = export_csv(&export, Lang::Ja, CsvEncoding::ShiftJis).expect("csv");
        let csv = ms(t);
        assert!(!xlsx.is_empty());

        println!(
            "{:>6} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>10.1}   {} create, {} update, {} unchanged, {} invalid",
            rows,
            bytes.len() / 1024,
            read,
            planned,
            read + planned,
            exported,
            csv,
            p.creates,
            p.updates,
            p.unchanged,
            p.invalid
        );
        assert_eq!(p.invalid, 0, "{:?}", p.rows.iter().find(|r| !r.problems.is_empty()));
    }
}
