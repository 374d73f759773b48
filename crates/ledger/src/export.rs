//! Export of the asset ledger to Excel (`.xlsx`) or CSV, in the column order
//! of the bureau's ledger ([`crate::fields::LABELS`]), then `OS` and the last
//! check-in (which an import ignores).
//!
//! - [`Lang::Ja`] (the default) writes Japanese headers and kind/status
//!   names (`ルーター`, `使用中`); [`Lang::En`] writes the field names and
//!   codes. Sites are written as their codes in both.
//! - xlsx: bold, frozen header row, an autofilter over the data, column
//!   widths from the content; ids are numbers, dates are real Excel dates
//!   (`yyyy-mm-dd`), everything else is text (never a formula).
//! - CSV: CRLF lines, UTF-8 with BOM (Excel opens it correctly) or
//!   Shift_JIS (CP932). Text that Excel would take for a formula (starting
//!   with `=`, `+`, `-`, `@`) gets a leading `'`, which an import removes
//!   again. For Shift_JIS the usual JIS/CP932 look-alikes are converted
//!   (`〜` U+301C → `～` U+FF5E, `‖` → `∥`, `—` → `―`, `¢ £ ¬` → `￠ ￡ ￢`);
//!   any other character CP932 cannot hold is an error naming row and column.
//!
//! What is exported reads back through [`crate::import::read_table`],
//! [`crate::import::guess_mapping`] and [`crate::import::plan`] as unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fields;
use crate::import::column_letter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ja,
    En,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvEncoding {
    #[default]
    Utf8Bom,
    ShiftJis,
}

/// One asset to export.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportRow {
    pub id: i64,
    pub hostname: String,
    /// Kind code.
    pub kind: String,
    /// Site code.
    pub site: String,
    pub serial: Option<String>,
    /// Ledger field values as stored (normalised by [`fields::check`]).
    pub fields: BTreeMap<String, String>,
    pub os: Option<String>,
    /// Last check-in, as the server formats it.
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the xlsx file: {0}")]
    Xlsx(String),
    #[error("cannot write the CSV file: {0}")]
    Csv(String),
    /// `line` is the line in the CSV file (the header is line 1).
    #[error("row {line}, column {column}: {ch} (U+{code:04X}) cannot be written in Shift_JIS; choose UTF-8")]
    NotShiftJis { line: usize, column: String, ch: char, code: u32 },
}

impl ExportError {
    pub fn message_ja(&self) -> String {
        match self {
            ExportError::Xlsx(e) => format!("Excel ファイルを作れません: {e}"),
            ExportError::Csv(e) => format!("CSV ファイルを作れません: {e}"),
            ExportError::NotShiftJis { line, column, ch, code } => {
                format!("{line} 行目 {column}: 「{ch}」(U+{code:04X}) は Shift_JIS で書けません。UTF-8 を選んでください")
            }
        }
    }

    pub fn message_en(&self) -> String {
        self.to_string()
    }
}

/// Fields written as Excel dates.
const DATE_FIELDS: &[&str] = &["purchase_date", "lease_date", "warranty_end"];

/// Columns after the ledger's: (name, Japanese header). The import ignores them.
const EXTRA: &[(&str, &str)] = &[("os", "OS"), ("last_seen", "最終接続")];

fn columns() -> Vec<(&'static str, &'static str)> {
    fields::LABELS.iter().chain(EXTRA).copied().collect()
}

fn headers(lang: Lang) -> Vec<&'static str> {
    columns().into_iter().map(|(name, ja)| if lang == Lang::Ja { ja } else { name }).collect()
}

enum Value {
    Number(i64),
    Date(u16, u8, u8, String),
    Text(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Number(n) => n.to_string(),
            Value::Date(_, _, _, s) | Value::Text(s) => s.clone(),
        }
    }
}

fn status_label(code: &str) -> &str {
    fields::STATUSES.iter().find(|(c, _)| *c == code).map(|(_, l)| *l).unwrap_or(code)
}

fn parse_date(s: &str) -> Option<(u16, u8, u8)> {
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    (s.len() == 10 && (1900..=9999).contains(&y)).then_some((y, m, d))
}

fn values(row: &ExportRow, lang: Lang) -> Vec<Value> {
    columns()
        .into_iter()
        .map(|(name, _)| match name {
            "id" => Value::Number(row.id),
            "hostname" => Value::Text(row.hostname.clone()),
            "kind" => Value::Text(if lang == Lang::Ja { fields::kind_label(&row.kind) } else { &row.kind }.to_string()),
            "site" => Value::Text(row.site.clone()),
            "serial" => Value::Text(row.serial.clone().unwrap_or_default()),
            "os" => Value::Text(row.os.clone().unwrap_or_default()),
            "last_seen" => Value::Text(row.last_seen.clone().unwrap_or_default()),
            field => {
                let v = row.fields.get(field).map(String::as_str).unwrap_or("");
                match field {
                    "status" if lang == Lang::Ja => Value::Text(status_label(v).to_string()),
                    "vm_host" => v.parse().map(Value::Number).unwrap_or_else(|_| Value::Text(v.to_string())),
                    f if DATE_FIELDS.contains(&f) => match parse_date(v) {
                        Some((y, m, d)) => Value::Date(y, m, d, v.to_string()),
                        None => Value::Text(v.to_string()),
                    },
                    _ => Value::Text(v.to_string()),
                }
            }
        })
        .collect()
}

/// Display width in Excel's character units (CJK counts double).
fn width(s: &str) -> usize {
    s.lines().map(|l| l.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()).max().unwrap_or(0)
}

/// The ledger as an Excel workbook (one sheet).
pub fn export_xlsx(rows: &[ExportRow], lang: Lang) -> Result<Vec<u8>, ExportError> {
    use rust_xlsxwriter::{Color, ExcelDateTime, Format, FormatBorder, Workbook};
    let e = |e: rust_xlsxwriter::XlsxError| ExportError::Xlsx(e.to_string());
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(if lang == Lang::Ja { "資産台帳" } else { "Assets" }).map_err(e)?;
    let bold = Format::new().set_bold().set_background_color(Color::RGB(0xDDEBF7)).set_border_bottom(FormatBorder::Thin);
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let heads = headers(lang);
    let mut widths: Vec<usize> = heads.iter().map(|h| width(h)).collect();
    for (c, h) in heads.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(e)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| ExportError::Xlsx("too many rows".into()))?;
        for (c, v) in values(row, lang).into_iter().enumerate() {
            let col = c as u16;
            match &v {
                Value::Number(n) => {
                    sheet.write_number(r, col, *n as f64).map_err(e)?;
                }
                Value::Date(y, m, d, s) => match ExcelDateTime::from_ymd(*y, *m, *d) {
                    Ok(dt) => {
                        sheet.write_datetime_with_format(r, col, &dt, &date).map_err(e)?;
                    }
                    Err(_) => {
                        sheet.write_string(r, col, s).map_err(e)?;
                    }
                },
                Value::Text(s) if s.is_empty() => {}
                Value::Text(s) => {
                    sheet.write_string(r, col, s).map_err(e)?;
                }
            }
            if let Some(w) = widths.get_mut(c) {
                *w = (*w).max(width(&v.text()));
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, (*w).clamp(6, 50) as f64 + 2.0).map_err(e)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(e)?;
    let last_col = (heads.len().max(1) - 1) as u16;
    sheet.autofilter(0, 0, rows.len() as u32, last_col).map_err(e)?;
    book.save_to_buffer().map_err(e)
}

/// Text that Excel would run as a formula gets a leading `'`.
fn csv_guard(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s
    }
}

/// JIS code-point variants that CP932 holds under another code point.
fn to_cp932_variant(c: char) -> char {
    match c {
        '\u{301C}' => '\u{FF5E}', // 〜 → ～
        '\u{2016}' => '\u{2225}', // ‖ → ∥
        '\u{2014}' => '\u{2015}', // — → ―
        '\u{00A2}' => '\u{FFE0}', // ¢ → ￠
        '\u{00A3}' => '\u{FFE1}', // £ → ￡
        '\u{00AC}' => '\u{FFE2}', // ¬ → ￢
        _ => c,
    }
}

/// The ledger as CSV (CRLF), UTF-8 with BOM or Shift_JIS.
pub fn export_csv(rows: &[ExportRow], lang: Lang, encoding: CsvEncoding) -> Result<Vec<u8>, ExportError> {
    let heads = headers(lang);
    let mut records: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
    records.push(heads.iter().map(|h| h.to_string()).collect());
    for row in rows {
        records.push(values(row, lang).iter().map(|v| csv_guard(v.text())).collect());
    }
    if encoding == CsvEncoding::ShiftJis {
        for (r, rec) in records.iter_mut().enumerate() {
            for (c, cell) in rec.iter_mut().enumerate() {
                *cell = cell.chars().map(to_cp932_variant).collect();
                let (_, _, unmappable) = encoding_rs::SHIFT_JIS.encode(cell);
                if !unmappable {
                    continue;
                }
                let bad = cell.chars().find(|ch| encoding_rs::SHIFT_JIS.encode(ch.encode_utf8(&mut [0; 4])).2).unwrap_or('?');
                let column = match heads.get(c) {
                    Some(h) => format!("{} 列 ({h})", column_letter(c)),
                    None => format!("{} 列", column_letter(c)),
                };
                return Err(ExportError::NotShiftJis { line: r + 1, column, ch: bad, code: bad as u32 });
            }
        }
    }
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for rec in &records {
        writer.write_record(rec).map_err(|e| ExportError::Csv(e.to_string()))?;
    }
    let text = writer.into_inner().map_err(|e| ExportError::Csv(e.to_string()))?;
    let text = String::from_utf8(text).map_err(|e| ExportError::Csv(e.to_string()))?;
    Ok(match encoding {
        CsvEncoding::Utf8Bom => {
            let mut out = Vec::with_capacity(text.len() + 3);
            out.extend_from_slice(b"\xEF\xBB\xBF");
            out.extend_from_slice(text.as_bytes());
            out
        }
        CsvEncoding::ShiftJis => encoding_rs::SHIFT_JIS.encode(&text).0.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{self, Action, Existing, ExistingAsset};

    fn rows() -> Vec<ExportRow> {
        let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        vec![
            ExportRow {
                id: 1,
                hostname: "SUIDO-PC-0001".into(),
                kind: "pc".into(),
                site: "HQ".into(),
                serial: Some("00123".into()),
                fields: f(&[
                    ("building", "本庁舎"),
                    ("floor", "3"),
                    ("department", "配水課"),
                    ("user", "山田 太郎"),
                    ("purchase_date", "2021-04-01"),
                    ("warranty_end", "2027-03-31"),
                    ("status", "in_use"),
                    ("ip_addresses", "10.1.20.15"),
                    ("mac_addresses", "00:1B:21:AA:BB:CC"),
                    ("tags", "貸出,重要"),
                    ("notes", "=HYPERLINK(\"http://x\")\n2 行目"),
                ]),
                os: Some("Windows 11 23H2".into()),
                last_seen: Some("2026-11-20 09:15".into()),
            },
            ExportRow {
                id: 2,
                hostname: "SUIDO-L3-HQ01".into(),
                kind: "l3_switch".into(),
                site: "HQ".into(),
                serial: None,
                fields: f(&[("status", "spare"), ("vendor_contact", "022-000-0000 〜 内線 12"), ("lease_date", "2020-10-01")]),
                os: None,
                last_seen: None,
            },
            ExportRow {
                id: 3,
                hostname: "SUIDO-HV01".into(),
                kind: "vm_host".into(),
                site: "HQ".into(),
                serial: Some("CZ-99".into()),
                fields: BTreeMap::new(),
                os: None,
                last_seen: None,
            },
            ExportRow {
                id: 4,
                hostname: "SUIDO-FS01".into(),
                kind: "vm_guest".into(),
                site: "KUN".into(),
                serial: None,
                fields: f(&[("vm_host", "3"), ("status", "retired")]),
                os: None,
                last_seen: None,
            },
        ]
    }

    fn existing(rows: &[ExportRow]) -> Existing {
        Existing {
            sites: crate::import::tests::sites(),
            assets: rows
                .iter()
                .map(|r| ExistingAsset {
                    id: r.id,
                    hostname: r.hostname.clone(),
                    kind: r.kind.clone(),
                    site: r.site.clone(),
                    serial: r.serial.clone(),
                    macs: Vec::new(),
                    has_agent: r.id == 1,
                    fields: r.fields.clone(),
                })
                .collect(),
        }
    }

    fn assert_round_trip(name: &str, bytes: &[u8]) {
        let rows = rows();
        let table = import::read_table(name, bytes).unwrap();
        let mapping = import::guess_mapping(&table.headers);
        assert_eq!(mapping.column_of("os"), None);
        let plan = import::plan(&table, &mapping, &existing(&rows)).unwrap();
        assert_eq!(plan.rows.len(), rows.len());
        for (r, want) in plan.rows.iter().zip(&rows) {
            assert_eq!(r.action, Action::Unchanged { asset_id: want.id }, "{name}: {r:#?}");
            assert!(r.problems.is_empty(), "{name}: {r:#?}");
        }
        // A changed cell shows up as exactly that change.
        let mut changed = rows.clone();
        changed[0].fields.insert("department".into(), "施設課".into());
        // An empty cell leaves the stored value alone: no change.
        changed[1].fields.insert("department".into(), "施設課".into());
        let plan = import::plan(&table, &mapping, &existing(&changed)).unwrap();
        assert_eq!(plan.unchanged, 3, "{name}");
        let want = import::Change { field: "department".into(), old: Some("施設課".into()), new: Some("配水課".into()) };
        assert_eq!(plan.rows[0].action, Action::Update { asset_id: 1, changes: vec![want] }, "{name}");
    }

    #[test]
    fn xlsx_round_trip_in_both_languages() {
        let ja = export_xlsx(&rows(), Lang::Ja).unwrap();
        let t = import::read_table("assets.xlsx", &ja).unwrap();
        assert_eq!(t.sheet.as_deref(), Some("資産台帳"));
        assert_eq!(&t.headers[..5], ["資産ID", "ホスト名", "種別", "拠点", "シリアル番号"]);
        assert_eq!(t.headers.last().map(String::as_str), Some("最終接続"));
        assert_eq!(t.rows[1].cell(2), "L3 スイッチ");
        assert_eq!(t.rows[1].cell(15), "予備");
        assert_eq!(t.rows[0].cell(4), "00123", "serials stay text");
        assert_round_trip("assets.xlsx", &ja);

        let en = export_xlsx(&rows(), Lang::En).unwrap();
        let t = import::read_table("assets.xlsx", &en).unwrap();
        assert_eq!(&t.headers[..3], ["id", "hostname", "kind"]);
        assert_eq!((t.rows[1].cell(2), t.rows[1].cell(15)), ("l3_switch", "spare"));
        assert_round_trip("assets.xlsx", &en);
    }

    #[test]
    fn xlsx_has_bold_frozen_filtered_header() {
        let bytes = export_xlsx(&rows(), Lang::Ja).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut sheet).unwrap();
        assert!(sheet.contains(r#"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#), "{sheet}");
        assert!(sheet.contains(r#"<autoFilter ref="A1:W5"/>"#), "{sheet}");
        assert!(sheet.contains("<cols>"));
        let mut styles = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/styles.xml").unwrap(), &mut styles).unwrap();
        assert!(styles.contains("<b/>"));
    }

    #[test]
    fn csv_round_trip_utf8_and_shift_jis() {
        let utf8 = export_csv(&rows(), Lang::Ja, CsvEncoding::Utf8Bom).unwrap();
        assert!(utf8.starts_with(b"\xEF\xBB\xBF\xE8\xB3\x87"), "BOM, then 資");
        let text = std::str::from_utf8(&utf8[3..]).unwrap();
        assert!(text.contains("\r\n"));
        assert!(text.contains("\"'=HYPERLINK"), "formula-like text is guarded: {text}");
        assert_round_trip("assets.csv", &utf8);
        assert_eq!(import::read_table("a.csv", &utf8).unwrap().rows[0].cell(20), "=HYPERLINK(\"http://x\")\n2 行目");

        let sjis = export_csv(&rows(), Lang::Ja, CsvEncoding::ShiftJis).unwrap();
        assert!(std::str::from_utf8(&sjis).is_err());
        let t = import::read_table("assets.csv", &sjis).unwrap();
        assert_eq!(t.encoding, "Shift_JIS");
        assert_eq!(t.rows[1].cell(11), "022-000-0000 ～ 内線 12", "WAVE DASH written as CP932's ～");
        // The wave dash changed form, so that one value reads back as a change.
        let mut rows = rows();
        rows[1].fields.insert("vendor_contact".into(), "022-000-0000 ～ 内線 12".into());
        let plan = import::plan(&t, &import::guess_mapping(&t.headers), &existing(&rows)).unwrap();
        assert_eq!((plan.unchanged, plan.invalid), (4, 0), "{:#?}", plan.rows);

        let en = export_csv(&rows, Lang::En, CsvEncoding::Utf8Bom).unwrap();
        assert!(std::str::from_utf8(&en).unwrap().contains(",l3_switch,"));
    }

    #[test]
    fn shift_jis_refuses_what_it_cannot_hold() {
        let mut rows = rows();
        rows[2].fields.insert("notes".into(), "更新済み 🙂".into());
        let e = export_csv(&rows, Lang::Ja, CsvEncoding::ShiftJis).unwrap_err();
        assert_eq!(e, ExportError::NotShiftJis { line: 4, column: "U 列 (備考)".into(), ch: '🙂', code: 0x1F642 });
        assert!(e.message_ja().contains("4 行目 U 列 (備考)"), "{}", e.message_ja());
        assert!(export_csv(&rows, Lang::Ja, CsvEncoding::Utf8Bom).is_ok());
    }
}
