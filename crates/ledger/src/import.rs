//! Import of the bureau's asset ledger from Excel (`.xlsx`) or CSV.
//!
//! Three steps, none of which touches storage:
//!
//! 1. [`read_table`] reads the file into a [`Table`] of strings, or refuses
//!    the whole file with an [`ImportError`] (not a CSV/xlsx, unknown
//!    character encoding, empty, merged cells or formulas in the table, error
//!    values such as `#N/A`, too many rows).
//! 2. [`guess_mapping`] proposes which column holds which ledger field; the
//!    console shows it and may send an edited [`Mapping`] back.
//! 3. [`plan`] checks every row against the existing assets and says, row by
//!    row, what applying the file would do ([`Plan`]). The server applies it.
//!
//! # Reading
//!
//! - `.xlsx` is recognised by its zip signature (`PK`), whatever the file's
//!   name. The first sheet that has a host-name column header is read (the
//!   first sheet with any content when none has). Old `.xls` files are
//!   refused with a hint to save them as `.xlsx`.
//! - Anything else is read as CSV (comma, or tab when the first line has
//!   tabs and no commas). The encoding is UTF-8 (with or without BOM) or
//!   Shift_JIS/CP932; a file that is neither is refused, naming the line of
//!   the first byte that fits neither.
//! - Fully empty rows are skipped. The header row is the first non-empty row
//!   that has a host-name header (`ホスト名`, `コンピュータ名`, …) among the
//!   first 20 non-empty rows, else the first non-empty row; rows above it
//!   (a title such as `資産台帳 (令和7年度)`) are ignored.
//! - Row numbers ([`TableRow::line`]) and column letters are the ones the
//!   user sees in Excel (for CSV: the line in the file where the record
//!   starts). Cells are trimmed. In xlsx, date cells become `YYYY-MM-DD`
//!   (`YYYY-MM-DD HH:MM:SS` when they have a time of day), whole numbers have
//!   no `.0`. In CSV, a leading `'` before `=`, `+`, `-` or `@` (which
//!   [`crate::export::export_csv`] adds against formula injection) is removed.
//! - Merged cells or formulas at or below the header row refuse the file,
//!   naming the cell: the user unmerges or converts to values in Excel.
//!
//! # Mapping JSON
//!
//! A [`Mapping`] maps column letters (as in Excel: `A`, `B`, …, `AA`) to a
//! target, or to `null` to ignore the column; columns not listed are ignored:
//!
//! ```json
//! {"columns": {"A": "id", "B": "hostname", "C": "ip_addresses", "F": null}}
//! ```
//!
//! Targets are `id` (資産ID), `hostname`, `kind`, `site`, `serial` and the
//! ledger fields of [`crate::fields`] ([`targets`]). A target may be given to
//! one column only, and a `hostname` column is required
//! ("必須の列がありません: ホスト名").
//!
//! # Matching rows to existing assets
//!
//! The same rule agents use, first hit wins:
//!
//! 1. the 資産ID (`id`) column, when the row has one: it must be an existing
//!    asset's id;
//! 2. the serial number (trimmed, whitespace removed, case-insensitive);
//! 3. any MAC address of the row against the assets' MAC addresses (those
//!    discovered by agents and those in the ledger field `mac_addresses`);
//! 4. the host name, case-insensitive.
//!
//! A step that hits more than one asset makes the row invalid (ambiguous)
//! rather than falling through. Two rows that hit the same asset are both
//! invalid. A row that hits nothing creates an asset.
//!
//! # Rows
//!
//! Every mapped cell is checked ([`crate::fields::check`] for ledger
//! fields); all problems of a row are collected. Errors make the row
//! [`Action::Invalid`] (not applied); warnings do not. Empty cells leave a
//! field as it is (an import never clears a value). Host names are kept as
//! written and matched case-insensitively; for an asset that has an agent
//! the host name is discovered, so the file does not change it (a differing
//! name is a warning). Kind and status cells take the code (`router`,
//! `in_use`) or the Japanese name (`ルーター`, `使用中`); site cells take the
//! site's code or name. A new asset without a kind becomes `other` (with a
//! warning); a new asset needs a host name and a site.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::fields;

/// Data rows accepted in one file; the bureau's ledger has about 1,000.
pub const MAX_ROWS: usize = 100_000;

/// Non-empty rows searched for the header row.
const HEADER_SEARCH_ROWS: usize = 20;

// ---------------------------------------------------------------- table

/// A file's table, as strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// `"UTF-8"`, `"Shift_JIS"` or `"xlsx"`.
    pub encoding: &'static str,
    /// The sheet read (xlsx only).
    pub sheet: Option<String>,
    /// Header cells from column A on, trimmed (`""` for an empty header).
    pub headers: Vec<String>,
    /// 1-based row number of the header row.
    pub header_line: usize,
    pub rows: Vec<TableRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    /// 1-based row number as the user sees it in Excel or the file.
    pub line: usize,
    /// Cells from column A on, trimmed; may be shorter than the headers.
    pub cells: Vec<String>,
}

impl TableRow {
    pub fn cell(&self, col: usize) -> &str {
        self.cells.get(col).map(String::as_str).unwrap_or("")
    }
}

impl Table {
    /// A column as the user knows it: `"C (IPアドレス)"`, or `"C"`.
    pub fn column_name(&self, col: usize) -> String {
        column_name(&self.headers, col)
    }
}

fn column_name(headers: &[String], col: usize) -> String {
    match headers.get(col).filter(|h| !h.is_empty()) {
        Some(h) => format!("{} ({h})", column_letter(col)),
        None => column_letter(col),
    }
}

/// Excel's column letter of a 0-based column index: 0 → `A`, 26 → `AA`.
pub fn column_letter(col: usize) -> String {
    let mut n = col + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// The 0-based index of an Excel column letter (`"c"` works too).
pub fn column_index(letter: &str) -> Option<usize> {
    let letter = letter.trim();
    if letter.is_empty() || letter.len() > 3 || !letter.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut n = 0usize;
    for c in letter.chars() {
        n = n * 26 + (c.to_ascii_uppercase() as usize - 'A' as usize + 1);
    }
    Some(n - 1)
}

// ---------------------------------------------------------------- errors

/// What kind of problem refused the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportErrorKind {
    NotATable,
    Encoding,
    Empty,
    Xlsx,
    MergedCells,
    Formula,
    ErrorValue,
    TooManyRows,
    Mapping,
}

/// A problem with the file as a whole: nothing is planned. The messages name
/// the file, and the sheet, row and column where there is one.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message_en}")]
pub struct ImportError {
    pub kind: ImportErrorKind,
    pub sheet: Option<String>,
    /// 1-based row number.
    pub line: Option<usize>,
    /// `"C (IPアドレス)"`.
    pub column: Option<String>,
    message_ja: String,
    message_en: String,
}

impl ImportError {
    fn new(kind: ImportErrorKind, ja: String, en: String) -> Self {
        ImportError { kind, sheet: None, line: None, column: None, message_ja: ja, message_en: en }
    }

    pub fn message_ja(&self) -> &str {
        &self.message_ja
    }

    pub fn message_en(&self) -> &str {
        &self.message_en
    }

    fn not_a_table(file: &str, ja: &str, en: &str) -> Self {
        Self::new(
            ImportErrorKind::NotATable,
            format!("{file}: CSV でも Excel (xlsx) でもありません ({ja})"),
            format!("{file}: not a CSV or Excel (xlsx) file ({en})"),
        )
    }

    fn empty(file: &str) -> Self {
        Self::new(ImportErrorKind::Empty, format!("{file}: 空のファイルです"), format!("{file}: the file is empty"))
    }

    fn xlsx(file: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            ImportErrorKind::Xlsx,
            format!("{file}: Excel (xlsx) ファイルとして読めません: {detail}"),
            format!("{file}: cannot read as an Excel (xlsx) file: {detail}"),
        )
    }

    fn mapping(ja: String, en: String) -> Self {
        Self::new(ImportErrorKind::Mapping, ja, en)
    }
}

// ---------------------------------------------------------------- reading

/// Reads an uploaded ledger file (xlsx or CSV) into a [`Table`].
pub fn read_table(file_name: &str, bytes: &[u8]) -> Result<Table, ImportError> {
    let file = if file_name.is_empty() { "(ファイル)" } else { file_name };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) || bytes == b"\xEF\xBB\xBF" {
        return Err(ImportError::empty(file));
    }
    if bytes.starts_with(b"PK") {
        return read_xlsx(file, bytes);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(ImportError::not_a_table(
            file,
            "古い Excel 形式 (xls) です。Excel で「Excel ブック (*.xlsx)」として保存し直してください",
            "old Excel format (xls); save it as an Excel workbook (*.xlsx)",
        ));
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(ImportError::not_a_table(
            file,
            "UTF-16 のテキストです。「CSV UTF-8 (コンマ区切り)」で保存し直してください",
            "UTF-16 text; save it as CSV UTF-8 (comma delimited)",
        ));
    }
    if bytes.starts_with(b"%PDF") || bytes[..bytes.len().min(64 * 1024)].contains(&0) {
        return Err(ImportError::not_a_table(file, "テキストではありません", "binary data, not text"));
    }
    read_csv(file, bytes)
}

/// Rows before the header is chosen: (1-based line, cells from column A).
type RawRows = Vec<(usize, Vec<String>)>;

/// Picks the header row and builds the table; `None` when no row has content.
fn build_table(encoding: &'static str, sheet: Option<String>, mut rows: RawRows) -> Option<Table> {
    for (_, cells) in rows.iter_mut() {
        while cells.last().is_some_and(|c| c.is_empty()) {
            cells.pop();
        }
    }
    rows.retain(|(_, cells)| !cells.is_empty());
    let header_at = header_row(&rows)?;
    let mut rest = rows.split_off(header_at);
    let (header_line, mut headers) = rest.remove(0);
    let width = rest.iter().map(|(_, c)| c.len()).max().unwrap_or(0).max(headers.len());
    headers.resize(width, String::new());
    Some(Table {
        encoding,
        sheet,
        headers,
        header_line,
        rows: rest.into_iter().map(|(line, cells)| TableRow { line, cells }).collect(),
    })
}

/// Index (in the non-empty rows) of the header row.
fn header_row(rows: &RawRows) -> Option<usize> {
    if rows.is_empty() {
        return None;
    }
    let found = rows
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|(_, cells)| cells.iter().any(|c| target_for_header(c) == Some("hostname")));
    Some(found.unwrap_or(0))
}

fn has_hostname_header(rows: &RawRows) -> bool {
    rows.iter()
        .filter(|(_, c)| c.iter().any(|s| !s.is_empty()))
        .take(HEADER_SEARCH_ROWS)
        .any(|(_, cells)| cells.iter().any(|c| target_for_header(c) == Some("hostname")))
}

fn check_row_count(file: &str, table: &Table) -> Result<(), ImportError> {
    if table.rows.len() > MAX_ROWS {
        return Err(ImportError::new(
            ImportErrorKind::TooManyRows,
            format!("{file}: 行が多すぎます ({} 行; {MAX_ROWS} 行まで)", table.rows.len()),
            format!("{file}: too many rows ({}; at most {MAX_ROWS})", table.rows.len()),
        ));
    }
    Ok(())
}

// --- CSV

fn read_csv(file: &str, bytes: &[u8]) -> Result<Table, ImportError> {
    let (text, encoding) = decode(file, bytes)?;
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.contains('\t') && !first_line.contains(',') { b'\t' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    // The line a record starts on, from its byte offset: the csv crate's own
    // line count is off by one with CRLF line ends, which Excel writes (a
    // record's position may be on the line ends before it).
    let newlines: Vec<usize> = text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i).collect();
    let raw = text.as_bytes();
    let line_at = |byte: u64| {
        let mut b = byte as usize;
        while b < raw.len() && (raw[b] == b'\r' || raw[b] == b'\n') {
            b += 1;
        }
        newlines.partition_point(|&nl| nl < b) + 1
    };
    let mut rows = RawRows::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| line_at(p.byte())).unwrap_or(0);
            ImportError::not_a_table(file, &format!("{line} 行目: {e}"), &format!("line {line}: {e}"))
        })?;
        let line = record.position().map(|p| line_at(p.byte())).unwrap_or(i + 1);
        rows.push((line, record.iter().map(csv_cell).collect()));
    }
    let table = build_table(encoding, None, rows).ok_or_else(|| ImportError::empty(file))?;
    check_row_count(file, &table)?;
    Ok(table)
}

fn csv_cell(raw: &str) -> String {
    let t = raw.trim();
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest.to_string(),
        _ => t.to_string(),
    }
}

/// UTF-8 (BOM optional), else Shift_JIS (CP932), else an error naming the
/// line of the first byte that fits neither.
fn decode(file: &str, bytes: &[u8]) -> Result<(String, &'static str), ImportError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let utf8_bad = match std::str::from_utf8(body) {
        Ok(s) => return Ok((s.to_string(), "UTF-8")),
        Err(e) => e.valid_up_to() + (bytes.len() - body.len()),
    };
    let sjis_bad = match encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(s) => return Ok((s.into_owned(), "Shift_JIS")),
        None => first_bad_sjis_byte(bytes),
    };
    // The encoding that got further is the likelier one: report its error.
    let at = utf8_bad.max(sjis_bad).min(bytes.len().saturating_sub(1));
    let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let byte = bytes.get(at).copied().unwrap_or(0);
    let mut err = ImportError::new(
        ImportErrorKind::Encoding,
        format!("{file}: 文字コードを判別できません (UTF-8 でも Shift_JIS でもありません)。{line} 行目に読めないバイト 0x{byte:02X} があります"),
        format!("{file}: cannot tell the character encoding (neither UTF-8 nor Shift_JIS); unreadable byte 0x{byte:02X} on line {line}"),
    );
    err.line = Some(line);
    Err(err)
}

fn first_bad_sjis_byte(bytes: &[u8]) -> usize {
    let mut decoder = encoding_rs::SHIFT_JIS.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 3 + 16);
    let mut read_total = 0;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(&bytes[read_total..], &mut out, true);
        read_total += read;
        match result {
            encoding_rs::DecoderResult::InputEmpty => return bytes.len(),
            encoding_rs::DecoderResult::OutputFull => out.reserve(bytes.len()),
            encoding_rs::DecoderResult::Malformed(bad, after) => {
                return read_total.saturating_sub(after as usize + bad as usize);
            }
        }
    }
}

// --- xlsx

fn read_xlsx(file: &str, bytes: &[u8]) -> Result<Table, ImportError> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).map_err(|e| ImportError::xlsx(file, e))?;
    let names = book.sheet_names();
    if names.is_empty() {
        return Err(ImportError::empty(file));
    }
    // (sheet, rows, first error value at or after a row), for the sheet chosen.
    let mut chosen: Option<(String, RawRows, Vec<CellError>)> = None;
    for name in &names {
        let range = book.worksheet_range(name).map_err(|e| ImportError::xlsx(file, e))?;
        let (rows, errors) = sheet_rows(&range);
        let has_content = rows.iter().any(|(_, c)| c.iter().any(|s| !s.is_empty()));
        if has_content && has_hostname_header(&rows) {
            chosen = Some((name.clone(), rows, errors));
            break;
        }
        if has_content && chosen.is_none() {
            chosen = Some((name.clone(), rows, errors));
        }
    }
    let Some((sheet, rows, errors)) = chosen else {
        return Err(ImportError::empty(file));
    };
    let table = build_table("xlsx", Some(sheet.clone()), rows).ok_or_else(|| ImportError::empty(file))?;
    let header_row0 = (table.header_line - 1) as u32;
    let at = |row0: u32, col0: u32| {
        let col = col0 as usize;
        match table.headers.get(col).filter(|h| !h.is_empty()) {
            Some(h) => format!("{} 行目 {} 列 ({h})", row0 + 1, column_letter(col)),
            None => format!("{} 行目 {} 列", row0 + 1, column_letter(col)),
        }
    };
    let at_en = |row0: u32, col0: u32| format!("row {}, column {}", row0 + 1, column_name(&table.headers, col0 as usize));
    let located = |mut e: ImportError, row0: u32, col0: u32| {
        e.sheet = Some(sheet.clone());
        e.line = Some(row0 as usize + 1);
        e.column = Some(column_name(&table.headers, col0 as usize));
        e
    };

    // Merged cells in the table (title rows above the header may be merged).
    let merged = book.merge_cells_by_sheet_name(&sheet).map_err(|e| ImportError::xlsx(file, e))?;
    if let Some(d) = merged.iter().filter(|d| d.end.0 >= header_row0).min_by_key(|d| d.start) {
        let range = format!(
            "{}{}:{}{}",
            column_letter(d.start.1 as usize),
            d.start.0 + 1,
            column_letter(d.end.1 as usize),
            d.end.0 + 1
        );
        return Err(located(
            ImportError::new(
                ImportErrorKind::MergedCells,
                format!(
                    "{file}: シート「{sheet}」の {} に結合セル ({range}) があります。結合を解除してください",
                    at(d.start.0, d.start.1)
                ),
                format!("{file}: sheet {sheet}, {}: merged cells ({range}); unmerge them", at_en(d.start.0, d.start.1)),
            ),
            d.start.0,
            d.start.1,
        ));
    }

    // Formulas in the table.
    let formulas = book.worksheet_formula(&sheet).map_err(|e| ImportError::xlsx(file, e))?;
    if let Some((fr, fc)) = formulas.start() {
        let mut hits = formulas
            .used_cells()
            .filter(|(_, _, f)| !f.is_empty())
            .map(|(r, c, f)| (fr + r as u32, fc + c as u32, f))
            .filter(|(r, _, _)| *r >= header_row0);
        if let Some((r, c, f)) = hits.next() {
            let more = hits.count();
            let (more_ja, more_en) =
                if more > 0 { (format!(" (ほかに {more} セル)"), format!(" ({more} more cells)")) } else { Default::default() };
            return Err(located(
                ImportError::new(
                    ImportErrorKind::Formula,
                    format!(
                        "{file}: シート「{sheet}」の {} (={f}) は数式です{more_ja}。数式は取り込めません。値に変換してください",
                        at(r, c)
                    ),
                    format!(
                        "{file}: sheet {sheet}, {}: the cell holds a formula (={f}){more_en}; formulas cannot be imported, convert them to values",
                        at_en(r, c)
                    ),
                ),
                r,
                c,
            ));
        }
    }

    // Error values (#N/A, #REF!, …) in the table.
    if let Some(e) = errors.iter().find(|e| e.row0 >= header_row0) {
        return Err(located(
            ImportError::new(
                ImportErrorKind::ErrorValue,
                format!("{file}: シート「{sheet}」の {} がエラー値 ({}) です。値を直してください", at(e.row0, e.col0), e.value),
                format!("{file}: sheet {sheet}, {}: the cell is an error value ({})", at_en(e.row0, e.col0), e.value),
            ),
            e.row0,
            e.col0,
        ));
    }
    check_row_count(file, &table)?;
    Ok(table)
}

struct CellError {
    row0: u32,
    col0: u32,
    value: String,
}

/// A sheet's rows with absolute row numbers and cells from column A.
fn sheet_rows(range: &calamine::Range<calamine::Data>) -> (RawRows, Vec<CellError>) {
    let mut errors = Vec::new();
    let Some((r0, c0)) = range.start() else {
        return (Vec::new(), errors);
    };
    let mut rows = RawRows::new();
    for (i, row) in range.rows().enumerate() {
        let row_abs = r0 + i as u32;
        if row.iter().all(|d| matches!(d, calamine::Data::Empty)) {
            continue;
        }
        let mut cells = vec![String::new(); c0 as usize];
        for (j, d) in row.iter().enumerate() {
            match cell_text(d) {
                Ok(s) => cells.push(s),
                Err(value) => {
                    errors.push(CellError { row0: row_abs, col0: c0 + j as u32, value });
                    cells.push(String::new());
                }
            }
        }
        rows.push((row_abs as usize + 1, cells));
    }
    (rows, errors)
}

/// A cell as text; `Err` holds an error value such as `#N/A`.
fn cell_text(d: &calamine::Data) -> Result<String, String> {
    use calamine::Data;
    Ok(match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, hh, mm, ss, _) = dt.to_ymd_hms_milli();
            if (hh, mm, ss) == (0, 0, 0) {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
            }
        }
        Data::DateTime(dt) => number_text(dt.as_f64()),
        Data::DateTimeIso(s) => match s.split_once('T') {
            Some((date, "00:00:00")) => date.to_string(),
            Some((date, time)) => format!("{date} {time}"),
            None => s.clone(),
        },
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(e.to_string()),
    })
}

fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

// ---------------------------------------------------------------- mapping

/// Which column holds which target: column letter → target (`null`
/// ignores the column). See the module doc for the JSON form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub columns: BTreeMap<String, Option<String>>,
}

/// The core columns of an asset, before the ledger fields.
const CORE: &[&str] = &["id", "hostname", "kind", "site", "serial"];

/// All targets a column can map to: `id`, `hostname`, `kind`, `site`,
/// `serial`, then the ledger fields.
pub fn targets() -> Vec<&'static str> {
    CORE.iter().copied().chain(fields::field_names()).collect()
}

fn static_target(name: &str) -> Option<&'static str> {
    CORE.iter().copied().chain(fields::field_names()).find(|t| *t == name)
}

/// Header names that [`crate::export`] writes but that are not imported.
pub(crate) const IGNORED_HEADERS: &[&str] = &["OS", "os", "最終接続", "last_seen", "最終確認", "最終接続日時"];

/// Synonyms of each target besides its name and its label in [`fields::LABELS`].
const SYNONYMS: &[(&str, &[&str])] = &[
    ("id", &["資産ID", "asset id", "asset_id", "id"]),
    (
        "hostname",
        &[
            "ホスト名", "コンピュータ名", "コンピューター名", "PC名", "パソコン名", "機器名", "端末名", "hostname",
            "host name", "host", "computer name", "device name",
        ],
    ),
    ("kind", &["種別", "機器種別", "種類", "機器種類", "kind", "type", "device type", "category"]),
    ("site", &["拠点", "設置場所(拠点)", "事業所", "拠点名", "拠点コード", "site", "site code", "location"]),
    ("serial", &["シリアル番号", "シリアル", "シリアルNo", "シリアルNo.", "製造番号", "S/N", "SN", "serial", "serial number", "serial no"]),
    ("building", &["建物", "建物名", "棟", "building"]),
    ("floor", &["階", "フロア", "階数", "floor"]),
    ("room", &["部屋", "部屋名", "室名", "設置場所", "設置室", "room"]),
    ("department", &["所属", "部署", "課", "所属課", "部署名", "課名", "担当課", "所管課", "department", "dept", "section"]),
    ("user", &["使用者", "利用者", "使用者名", "利用者名", "使用職員", "user", "user name"]),
    ("vendor", &["保守業者", "保守会社", "業者", "業者名", "納入業者", "vendor", "maintenance vendor"]),
    ("vendor_contact", &["保守連絡先", "業者連絡先", "連絡先", "vendor contact"]),
    ("purchase_date", &["購入日", "購入年月日", "導入日", "取得日", "取得年月日", "purchase date", "purchased"]),
    ("lease_date", &["リース開始日", "リース開始", "リース日", "lease date", "lease start"]),
    ("warranty_end", &["保証期限", "保守期限", "保証期間", "保証終了日", "保守終了日", "warranty end", "warranty"]),
    ("status", &["状態", "ステータス", "稼働状況", "使用状況", "status", "state"]),
    ("ip_addresses", &["IPアドレス", "IP", "IPv4", "IPv4アドレス", "ip address", "ip addresses", "ip"]),
    ("mac_addresses", &["MACアドレス", "MAC", "物理アドレス", "mac address", "mac addresses"]),
    ("vm_host", &["仮想化ホスト", "VMホスト", "ホストサーバー", "vm host"]),
    ("tags", &["タグ", "tag", "tags"]),
    ("notes", &["備考", "メモ", "摘要", "notes", "note", "remarks", "comment", "comments"]),
];

/// Normalises a header or label for comparison: full-width ASCII to
/// half-width, no whitespace or `_`/`-`, lower case, `（）` as `()`.
fn norm(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-' && *c != '・')
        .flat_map(char::to_lowercase)
        .collect()
}

fn synonym_index() -> &'static HashMap<String, &'static str> {
    static INDEX: std::sync::OnceLock<HashMap<String, &'static str>> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for (target, words) in SYNONYMS {
            for w in words.iter() {
                m.entry(norm(w)).or_insert(*target);
            }
        }
        for t in targets() {
            m.entry(norm(t)).or_insert(t);
            m.entry(norm(fields::label(t))).or_insert(t);
        }
        m
    })
}

/// The target a header names, if any. `設置場所(拠点)` is matched whole;
/// otherwise a trailing parenthesis is dropped (`IPアドレス（有線）` → IP).
fn target_for_header(header: &str) -> Option<&'static str> {
    let n = norm(header);
    if n.is_empty() || IGNORED_HEADERS.iter().any(|h| norm(h) == n) {
        return None;
    }
    let index = synonym_index();
    if let Some(t) = index.get(&n) {
        return Some(t);
    }
    let base = n.split('(').next().unwrap_or("");
    if base.is_empty() {
        return None;
    }
    index.get(base).copied()
}

/// Guesses which column holds which target from the header names. When two
/// columns name the same target, the first wins and the other is ignored.
/// Every column with a header is listed (unknown ones as `null`).
pub fn guess_mapping(headers: &[String]) -> Mapping {
    let mut used = HashSet::new();
    let mut columns = BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.trim().is_empty() {
            continue;
        }
        let target = target_for_header(h).filter(|t| used.insert(*t));
        columns.insert(column_letter(i), target.map(str::to_string));
    }
    Mapping { columns }
}

/// A checked mapping: column index → target, in column order.
struct Resolved {
    cols: Vec<(usize, &'static str)>,
}

impl Resolved {
    fn col(&self, target: &str) -> Option<usize> {
        self.cols.iter().find(|(_, t)| *t == target).map(|(c, _)| *c)
    }
}

impl Mapping {
    /// The column letter mapped to a target.
    pub fn column_of(&self, target: &str) -> Option<&str> {
        self.columns.iter().find(|(_, t)| t.as_deref() == Some(target)).map(|(c, _)| c.as_str())
    }

    /// Checks the mapping against a table's headers: known columns and
    /// targets, each target once, a host-name column present.
    pub fn validate(&self, headers: &[String]) -> Result<(), ImportError> {
        self.resolve(headers).map(|_| ())
    }

    fn resolve(&self, headers: &[String]) -> Result<Resolved, ImportError> {
        let mut cols: Vec<(usize, &'static str)> = Vec::new();
        for (letter, target) in &self.columns {
            let Some(target) = target.as_deref().filter(|t| !t.is_empty()) else { continue };
            let col = column_index(letter).filter(|c| *c < headers.len().max(1)).ok_or_else(|| {
                ImportError::mapping(format!("列 {letter} はありません"), format!("there is no column {letter}"))
            })?;
            let t = static_target(target).ok_or_else(|| {
                ImportError::mapping(
                    format!("列 {} の割り当て先 {target} はありません ({})", column_name(headers, col), targets().join(", ")),
                    format!("column {}: no target {target} (one of {})", column_name(headers, col), targets().join(", ")),
                )
            })?;
            if let Some((other, _)) = cols.iter().find(|(c, x)| *x == t && *c != col) {
                let (a, b) = (column_name(headers, (*other).min(col)), column_name(headers, (*other).max(col)));
                return Err(ImportError::mapping(
                    format!("{a} と {b} が同じ項目 {} に割り当てられています", fields::label(t)),
                    format!("columns {a} and {b} are both mapped to {t}"),
                ));
            }
            cols.push((col, t));
        }
        if !cols.iter().any(|(_, t)| *t == "hostname") {
            return Err(ImportError::mapping(
                "必須の列がありません: ホスト名".into(),
                "a required column is missing: hostname".into(),
            ));
        }
        cols.sort();
        Ok(Resolved { cols })
    }
}

// ---------------------------------------------------------------- values

/// A kind code from a code or a Japanese name (`ルーター`, `router`, `ルータ`).
pub fn parse_kind(s: &str) -> Option<&'static str> {
    const EXTRA: &[(&str, &str)] = &[
        ("パソコン", "pc"),
        ("ノートPC", "pc"),
        ("デスクトップPC", "pc"),
        ("サーバ", "server"),
        ("ルータ", "router"),
        ("プリンタ", "printer"),
        ("複合機", "printer"),
        ("L3SW", "l3_switch"),
        ("L2SW", "l2_switch"),
        ("仮想サーバー", "vm_guest"),
        ("VM", "vm_guest"),
    ];
    let n = norm(s);
    fields::KINDS
        .iter()
        .find(|(code, label)| norm(code) == n || norm(label) == n)
        .map(|(code, _)| *code)
        .or_else(|| EXTRA.iter().find(|(w, _)| norm(w) == n).map(|(_, code)| *code))
}

/// A status code from a code or a Japanese name (`使用中`, `in_use`).
pub fn parse_status(s: &str) -> Option<&'static str> {
    const EXTRA: &[(&str, &str)] = &[("稼働中", "in_use"), ("使用", "in_use"), ("修理", "repair"), ("廃棄済", "retired"), ("廃棄済み", "retired")];
    let n = norm(s);
    fields::STATUSES
        .iter()
        .find(|(code, label)| norm(code) == n || norm(label) == n)
        .map(|(code, _)| *code)
        .or_else(|| EXTRA.iter().find(|(w, _)| norm(w) == n).map(|(_, code)| *code))
}

fn check_text(what_ja: &str, what_en: &str, v: &str, max: usize) -> Result<(), (String, String)> {
    if v.chars().count() > max {
        return Err((format!("{what_ja}は {max} 文字以内にしてください"), format!("{what_en} is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err((format!("{what_ja}に制御文字は使えません"), format!("{what_en} has control characters")));
    }
    Ok(())
}

fn host_key(s: &str) -> String {
    s.trim().to_lowercase()
}

fn serial_key(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_uppercase).collect()
}

// ---------------------------------------------------------------- plan

/// What the store holds, as far as the import needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Existing {
    /// (code, name).
    pub sites: Vec<(String, String)>,
    pub assets: Vec<ExistingAsset>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExistingAsset {
    pub id: i64,
    pub hostname: String,
    pub kind: String,
    /// Site code.
    pub site: String,
    pub serial: Option<String>,
    /// MAC addresses discovered by the agent, normalised (`AA:BB:CC:DD:EE:FF`).
    pub macs: Vec<String>,
    pub has_agent: bool,
    /// Current ledger field values, normalised by [`fields::check`].
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// A problem with one row (or one cell of it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub line: usize,
    /// `"C (IPアドレス)"`.
    pub column: Option<String>,
    /// The target of that column (`ip_addresses`).
    pub field: Option<String>,
    pub message_ja: String,
    pub message_en: String,
    pub severity: Severity,
}

/// One change to an existing asset; `field` is `hostname`, `kind`, `site`,
/// `serial` or a ledger field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What applying a row does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// A new asset from the row's `hostname`, `kind`, `site`, `serial`, `fields`.
    Create,
    Update { asset_id: i64, changes: Vec<Change> },
    Unchanged { asset_id: i64 },
    /// The row has errors and is not applied; `asset_id` is the asset it
    /// matched, if any.
    Invalid { asset_id: Option<i64> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowPlan {
    pub line: usize,
    pub action: Action,
    /// As written in the file (the asset's current one when the cell is empty).
    pub hostname: String,
    /// Kind code, site code and serial after applying; `None` only for
    /// invalid rows whose value is unknown.
    pub kind: Option<String>,
    pub site: Option<String>,
    pub serial: Option<String>,
    /// The row's non-empty ledger field values, normalised.
    pub fields: BTreeMap<String, String>,
    pub problems: Vec<Problem>,
}

impl RowPlan {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub rows: Vec<RowPlan>,
    pub creates: usize,
    pub updates: usize,
    pub unchanged: usize,
    pub invalid: usize,
    /// Warnings in rows that are applied.
    pub warnings: usize,
}

/// A row as read, before matching.
struct Parsed {
    line: usize,
    hostname: String,
    kind: Option<&'static str>,
    kind_given: bool,
    site: Option<String>,
    site_given: bool,
    serial: Option<String>,
    id: Option<i64>,
    id_given: bool,
    macs: Vec<String>,
    fields: BTreeMap<String, String>,
    problems: Vec<Problem>,
}

struct Index<'a> {
    existing: &'a Existing,
    by_id: HashMap<i64, usize>,
    by_serial: HashMap<String, Vec<usize>>,
    by_mac: HashMap<String, Vec<usize>>,
    by_host: HashMap<String, Vec<usize>>,
    site_by_code: HashMap<String, &'a str>,
    site_by_name: HashMap<String, &'a str>,
}

impl<'a> Index<'a> {
    fn new(existing: &'a Existing) -> Self {
        let mut ix = Index {
            existing,
            by_id: HashMap::with_capacity(existing.assets.len()),
            by_serial: HashMap::with_capacity(existing.assets.len()),
            by_mac: HashMap::with_capacity(existing.assets.len()),
            by_host: HashMap::with_capacity(existing.assets.len()),
            site_by_code: HashMap::new(),
            site_by_name: HashMap::new(),
        };
        for (i, a) in existing.assets.iter().enumerate() {
            ix.by_id.insert(a.id, i);
            if let Some(s) = a.serial.as_deref().map(serial_key).filter(|s| !s.is_empty()) {
                ix.by_serial.entry(s).or_default().push(i);
            }
            let ledger_macs = a.fields.get("mac_addresses").map(|m| m.split(',').collect::<Vec<_>>()).unwrap_or_default();
            let mut macs: Vec<String> = a
                .macs
                .iter()
                .map(String::as_str)
                .chain(ledger_macs)
                .filter_map(|m| fields::check("mac_addresses", m).ok())
                .filter(|m| !m.is_empty())
                .collect();
            macs.sort();
            macs.dedup();
            for m in macs {
                ix.by_mac.entry(m).or_default().push(i);
            }
            ix.by_host.entry(host_key(&a.hostname)).or_default().push(i);
        }
        for (code, name) in &existing.sites {
            ix.site_by_code.insert(code.to_uppercase(), code.as_str());
            ix.site_by_name.insert(norm(name), code.as_str());
        }
        ix
    }

    fn site(&self, s: &str) -> Option<&'a str> {
        self.site_by_code.get(&s.trim().to_uppercase()).or_else(|| self.site_by_name.get(&norm(s))).copied()
    }

    fn ids(&self, v: &[usize]) -> String {
        v.iter().map(|&i| self.existing.assets[i].id.to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// Plans the import of a table: what each row would do to the assets.
/// Fails only when the mapping itself is unusable (see [`Mapping::validate`]).
pub fn plan(table: &Table, mapping: &Mapping, existing: &Existing) -> Result<Plan, ImportError> {
    let resolved = mapping.resolve(&table.headers)?;
    let ix = Index::new(existing);
    let mut parsed: Vec<Parsed> = table.rows.iter().map(|row| parse_row(table, row, &resolved, &ix)).collect();

    flag_duplicates(&mut parsed, &resolved, table, "hostname", |p| Some(host_key(&p.hostname)).filter(|k| !k.is_empty()));
    flag_duplicates(&mut parsed, &resolved, table, "serial", |p| p.serial.as_deref().map(serial_key).filter(|k| !k.is_empty()));

    // Match, then flag rows that hit the same asset.
    let matches: Vec<Option<usize>> = parsed.iter_mut().map(|p| match_row(p, &ix, table, &resolved)).collect();
    let mut by_asset: HashMap<usize, Vec<usize>> = HashMap::new();
    for (row, m) in matches.iter().enumerate() {
        if let Some(a) = m {
            by_asset.entry(*a).or_default().push(row);
        }
    }
    for (asset, rows) in &by_asset {
        if rows.len() < 2 {
            continue;
        }
        let id = existing.assets[*asset].id;
        for &r in rows {
            let others: Vec<String> = rows.iter().filter(|&&o| o != r).map(|&o| parsed[o].line.to_string()).collect();
            let others = others.join(", ");
            let line = parsed[r].line;
            parsed[r].problems.push(problem(
                line,
                None,
                None,
                Severity::Error,
                format!("{others} 行目と同じ資産 (ID {id}) に当たります"),
                format!("matches the same asset (id {id}) as row {others}"),
            ));
        }
    }

    let mut plan = Plan { rows: Vec::with_capacity(parsed.len()), creates: 0, updates: 0, unchanged: 0, invalid: 0, warnings: 0 };
    for (p, m) in parsed.into_iter().zip(matches) {
        let row = decide(p, m.map(|i| &existing.assets[i]), &ix, table, &resolved);
        match row.action {
            Action::Create => plan.creates += 1,
            Action::Update { .. } => plan.updates += 1,
            Action::Unchanged { .. } => plan.unchanged += 1,
            Action::Invalid { .. } => plan.invalid += 1,
        }
        if !matches!(row.action, Action::Invalid { .. }) {
            plan.warnings += row.problems.iter().filter(|p| p.severity == Severity::Warning).count();
        }
        plan.rows.push(row);
    }
    Ok(plan)
}

fn problem(line: usize, column: Option<String>, field: Option<&str>, severity: Severity, ja: String, en: String) -> Problem {
    Problem { line, column, field: field.map(str::to_string), message_ja: ja, message_en: en, severity }
}

fn parse_row(table: &Table, row: &TableRow, resolved: &Resolved, ix: &Index) -> Parsed {
    let mut p = Parsed {
        line: row.line,
        hostname: String::new(),
        kind: None,
        kind_given: false,
        site: None,
        site_given: false,
        serial: None,
        id: None,
        id_given: false,
        macs: Vec::new(),
        fields: BTreeMap::new(),
        problems: Vec::new(),
    };
    for &(col, target) in &resolved.cols {
        let v = row.cell(col);
        if v.is_empty() {
            continue;
        }
        let column = table.column_name(col);
        let mut err = |ja: String, en: String| {
            p.problems.push(problem(row.line, Some(column.clone()), Some(target), Severity::Error, ja, en));
        };
        match target {
            "id" => {
                p.id_given = true;
                match v.parse::<i64>() {
                    Ok(n) if n > 0 => p.id = Some(n),
                    _ => err(format!("{v} は資産 ID ではありません"), format!("{v} is not an asset id")),
                }
            }
            "hostname" => match check_text("ホスト名", "hostname", v, 255) {
                Ok(()) => p.hostname = v.to_string(),
                Err((ja, en)) => err(ja, en),
            },
            "kind" => {
                p.kind_given = true;
                match parse_kind(v) {
                    Some(k) => p.kind = Some(k),
                    None => {
                        let names: Vec<&str> = fields::KINDS.iter().map(|(_, l)| *l).collect();
                        err(
                            format!("種別 {v} は使えません ({})", names.join(", ")),
                            format!("unknown kind {v} (one of {})", fields::KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")),
                        )
                    }
                }
            }
            "site" => {
                p.site_given = true;
                match ix.site(v) {
                    Some(code) => p.site = Some(code.to_string()),
                    None => {
                        let known: Vec<String> = ix.existing.sites.iter().map(|(c, n)| format!("{c} {n}")).collect();
                        err(
                            format!("拠点 {v} はありません ({})", known.join(", ")),
                            format!("unknown site {v} (one of {})", known.join(", ")),
                        )
                    }
                }
            }
            "serial" => match check_text("シリアル番号", "serial", v, 100) {
                Ok(()) => p.serial = Some(v.to_string()),
                Err((ja, en)) => err(ja, en),
            },
            "status" if parse_status(v).is_none() => {
                let names: Vec<&str> = fields::STATUSES.iter().map(|(_, l)| *l).collect();
                let codes: Vec<&str> = fields::STATUSES.iter().map(|(c, _)| *c).collect();
                err(format!("状態 {v} は使えません ({})", names.join(", ")), format!("unknown status {v} (one of {})", codes.join(", ")))
            }
            field => {
                let value = if field == "status" { parse_status(v).unwrap_or(v) } else { v };
                match fields::check(field, value) {
                    Ok(n) if n.is_empty() => {}
                    Ok(n) => {
                        if field == "mac_addresses" {
                            p.macs = n.split(',').map(str::to_string).collect();
                        }
                        if field == "vm_host" && n.parse::<i64>().is_ok_and(|id| !ix.by_id.contains_key(&id)) {
                            p.problems.push(problem(
                                row.line,
                                Some(column.clone()),
                                Some(field),
                                Severity::Warning,
                                format!("仮想化ホストの資産 ID {n} はありません"),
                                format!("no asset with id {n} for the VM host"),
                            ));
                        }
                        p.fields.insert(field.to_string(), n);
                    }
                    Err((ja, en)) => err(ja, en),
                }
            }
        }
    }
    p
}

/// Flags rows whose key (host name, serial) occurs twice in the file,
/// naming the other rows.
fn flag_duplicates(parsed: &mut [Parsed], resolved: &Resolved, table: &Table, target: &str, key: impl Fn(&Parsed) -> Option<String>) {
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in parsed.iter().enumerate() {
        if let Some(k) = key(p) {
            seen.entry(k).or_default().push(i);
        }
    }
    let column = resolved.col(target).map(|c| table.column_name(c));
    let (what_ja, what_en) = if target == "hostname" { ("ホスト名", "hostname") } else { ("シリアル番号", "serial") };
    let mut dups: Vec<&Vec<usize>> = seen.values().filter(|v| v.len() > 1).collect();
    dups.sort();
    for rows in dups {
        for &r in rows {
            let others: Vec<String> = rows.iter().filter(|&&o| o != r).map(|&o| parsed[o].line.to_string()).collect();
            let others = others.join(", ");
            let value = if target == "hostname" { parsed[r].hostname.clone() } else { parsed[r].serial.clone().unwrap_or_default() };
            let line = parsed[r].line;
            parsed[r].problems.push(problem(
                line,
                column.clone(),
                Some(target),
                Severity::Error,
                format!("{what_ja} {value} が重複しています ({others} 行目にもあります)"),
                format!("duplicate {what_en} {value} (also on row {others})"),
            ));
        }
    }
}

/// Finds the existing asset a row stands for (see the module doc).
fn match_row(p: &mut Parsed, ix: &Index, table: &Table, resolved: &Resolved) -> Option<usize> {
    let col = |t: &str| resolved.col(t).map(|c| table.column_name(c));
    let line = p.line;
    let ambiguous = |what_ja: &str, what_en: &str, target: &str, hits: &[usize], problems: &mut Vec<Problem>| {
        problems.push(problem(
            line,
            col(target),
            Some(target),
            Severity::Error,
            format!("{what_ja}が複数の資産 (ID {}) に当たります", ix.ids(hits)),
            format!("the {what_en} matches several assets (ids {})", ix.ids(hits)),
        ));
        None
    };
    if p.id_given {
        let id = p.id?;
        return match ix.by_id.get(&id) {
            Some(&i) => Some(i),
            None => {
                p.problems.push(problem(
                    line,
                    col("id"),
                    Some("id"),
                    Severity::Error,
                    format!("資産 ID {id} の資産はありません"),
                    format!("there is no asset with id {id}"),
                ));
                None
            }
        };
    }
    if let Some(hits) = p.serial.as_deref().and_then(|s| ix.by_serial.get(&serial_key(s))) {
        return match hits.as_slice() {
            [one] => Some(*one),
            _ => ambiguous("シリアル番号", "serial", "serial", hits, &mut p.problems),
        };
    }
    let mut mac_hits: Vec<usize> = p.macs.iter().filter_map(|m| ix.by_mac.get(m)).flatten().copied().collect();
    mac_hits.sort();
    mac_hits.dedup();
    match mac_hits.as_slice() {
        [] => {}
        [one] => return Some(*one),
        _ => return ambiguous("MAC アドレス", "MAC address", "mac_addresses", &mac_hits, &mut p.problems),
    }
    if p.hostname.is_empty() {
        return None;
    }
    match ix.by_host.get(&host_key(&p.hostname)).map(Vec::as_slice) {
        None | Some([]) => None,
        Some([one]) => Some(*one),
        Some(hits) => ambiguous("ホスト名", "hostname", "hostname", hits, &mut p.problems),
    }
}

/// The row's action, given the asset it matched.
fn decide(mut p: Parsed, asset: Option<&ExistingAsset>, ix: &Index, table: &Table, resolved: &Resolved) -> RowPlan {
    let col = |t: &str| resolved.col(t).map(|c| table.column_name(c));
    let line = p.line;
    let action;
    let (hostname, kind, site, serial);
    match asset {
        None => {
            if p.hostname.is_empty() && !p.problems.iter().any(|x| x.field.as_deref() == Some("hostname")) {
                p.problems.push(problem(
                    line,
                    col("hostname"),
                    Some("hostname"),
                    Severity::Error,
                    "ホスト名が空です (新しい資産にはホスト名が必要です)".into(),
                    "the hostname is empty (a new asset needs one)".into(),
                ));
            }
            if !p.site_given {
                p.problems.push(problem(
                    line,
                    col("site"),
                    Some("site"),
                    Severity::Error,
                    "拠点が空です (新しい資産には拠点が必要です)".into(),
                    "the site is empty (a new asset needs one)".into(),
                ));
            }
            if !p.kind_given {
                p.kind = Some("other");
                p.problems.push(problem(
                    line,
                    col("kind"),
                    Some("kind"),
                    Severity::Warning,
                    format!("種別がないので「{}」にします", fields::kind_label("other")),
                    "no kind given: the new asset becomes other".into(),
                ));
            }
            hostname = p.hostname.clone();
            kind = p.kind.map(str::to_string);
            site = p.site.clone();
            serial = p.serial.clone();
            action = if p.problems.iter().any(|x| x.severity == Severity::Error) { Action::Invalid { asset_id: None } } else { Action::Create };
        }
        Some(a) => {
            let mut changes = Vec::new();
            let mut change = |field: &str, old: Option<&str>, new: &str| {
                if old != Some(new) {
                    changes.push(Change { field: field.to_string(), old: old.map(str::to_string), new: Some(new.to_string()) });
                }
            };
            let mut host = a.hostname.clone();
            if !p.hostname.is_empty() && p.hostname != a.hostname {
                if a.has_agent {
                    if host_key(&p.hostname) != host_key(&a.hostname) {
                        p.problems.push(problem(
                            line,
                            col("hostname"),
                            Some("hostname"),
                            Severity::Warning,
                            format!(
                                "ホスト名 {} はエージェントが報告した {} と違います。ホスト名はエージェントの値のままにします",
                                p.hostname, a.hostname
                            ),
                            format!("hostname {} differs from {} reported by the agent; the agent's name is kept", p.hostname, a.hostname),
                        ));
                    }
                } else {
                    change("hostname", Some(&a.hostname), &p.hostname);
                    host = p.hostname.clone();
                    // Another asset already has that name: a warning, the
                    // matching rule put this row on this asset.
                    if let Some(others) = ix.by_host.get(&host_key(&p.hostname)) {
                        let others: Vec<usize> = others.iter().copied().filter(|&o| ix.existing.assets[o].id != a.id).collect();
                        if !others.is_empty() && host_key(&p.hostname) != host_key(&a.hostname) {
                            p.problems.push(problem(
                                line,
                                col("hostname"),
                                Some("hostname"),
                                Severity::Warning,
                                format!("ホスト名 {} は別の資産 (ID {}) も使っています", p.hostname, ix.ids(&others)),
                                format!("hostname {} is also used by another asset (id {})", p.hostname, ix.ids(&others)),
                            ));
                        }
                    }
                }
            }
            if let Some(k) = p.kind {
                change("kind", Some(&a.kind), k);
            }
            if let Some(s) = &p.site {
                change("site", Some(&a.site), s);
            }
            if let Some(s) = &p.serial {
                change("serial", a.serial.as_deref(), s);
            }
            for (f, v) in &p.fields {
                change(f, a.fields.get(f).map(String::as_str), v);
            }
            hostname = host;
            kind = Some(p.kind.unwrap_or(&a.kind).to_string()).filter(|_| !(p.kind_given && p.kind.is_none()));
            site = Some(p.site.clone().unwrap_or_else(|| a.site.clone())).filter(|_| !(p.site_given && p.site.is_none()));
            serial = p.serial.clone().or_else(|| a.serial.clone());
            action = if p.problems.iter().any(|x| x.severity == Severity::Error) {
                Action::Invalid { asset_id: Some(a.id) }
            } else if changes.is_empty() {
                Action::Unchanged { asset_id: a.id }
            } else {
                Action::Update { asset_id: a.id, changes }
            };
        }
    }
    RowPlan { line, action, hostname, kind, site, serial, fields: p.fields, problems: p.problems }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sites() -> Vec<(String, String)> {
        [("HQ", "本庁舎"), ("KUN", "国見庁舎"), ("MJO", "茂庭浄水場")].iter().map(|(c, n)| (c.to_string(), n.to_string())).collect()
    }

    fn asset(id: i64, hostname: &str, serial: Option<&str>) -> ExistingAsset {
        ExistingAsset {
            id,
            hostname: hostname.into(),
            kind: "pc".into(),
            site: "HQ".into(),
            serial: serial.map(Into::into),
            ..Default::default()
        }
    }

    fn csv_table(text: &str) -> Table {
        read_table("台帳.csv", text.as_bytes()).unwrap()
    }

    fn plan_csv(text: &str, existing: &Existing) -> Plan {
        let t = csv_table(text);
        plan(&t, &guess_mapping(&t.headers), existing).unwrap()
    }

    /// What the server does with a plan, on the in-memory picture.
    pub(crate) fn apply(plan: &Plan, existing: &mut Existing) {
        for row in &plan.rows {
            match &row.action {
                Action::Create => {
                    let id = existing.assets.iter().map(|a| a.id).max().unwrap_or(0) + 1;
                    existing.assets.push(ExistingAsset {
                        id,
                        hostname: row.hostname.clone(),
                        kind: row.kind.clone().unwrap(),
                        site: row.site.clone().unwrap(),
                        serial: row.serial.clone(),
                        macs: Vec::new(),
                        has_agent: false,
                        fields: row.fields.clone(),
                    });
                }
                Action::Update { asset_id, changes } => {
                    let a = existing.assets.iter_mut().find(|a| a.id == *asset_id).unwrap();
                    for c in changes {
                        let new = c.new.clone().unwrap();
                        match c.field.as_str() {
                            "hostname" => a.hostname = new,
                            "kind" => a.kind = new,
                            "site" => a.site = new,
                            "serial" => a.serial = Some(new),
                            f => {
                                a.fields.insert(f.to_string(), new);
                            }
                        }
                    }
                }
                Action::Unchanged { .. } | Action::Invalid { .. } => {}
            }
        }
    }

    fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("台帳").unwrap();
        build(sheet);
        book.save_to_buffer().unwrap()
    }

    fn write_row(sheet: &mut rust_xlsxwriter::Worksheet, row: u32, cells: &[&str]) {
        for (c, v) in cells.iter().enumerate() {
            sheet.write_string(row, c as u16, *v).unwrap();
        }
    }

    const LEDGER: &str = "ホスト名,種別,拠点,IPアドレス,状態\nSUIDO-PC-0001,PC,本庁舎,10.1.20.15,使用中\n";

    #[test]
    fn csv_encodings_are_detected() {
        let utf8 = read_table("a.csv", LEDGER.as_bytes()).unwrap();
        assert_eq!(utf8.encoding, "UTF-8");
        assert_eq!(utf8.headers, ["ホスト名", "種別", "拠点", "IPアドレス", "状態"]);
        assert_eq!(utf8.header_line, 1);
        assert_eq!(utf8.rows, [TableRow { line: 2, cells: ["SUIDO-PC-0001", "PC", "本庁舎", "10.1.20.15", "使用中"].map(String::from).to_vec() }]);

        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(LEDGER.as_bytes());
        let bom = read_table("a.csv", &bom).unwrap();
        assert_eq!(bom.encoding, "UTF-8");
        assert_eq!(bom.headers[0], "ホスト名", "the BOM is not part of the first header");

        let (sjis, _, bad) = encoding_rs::SHIFT_JIS.encode(LEDGER);
        assert!(!bad);
        assert!(std::str::from_utf8(&sjis).is_err(), "the test needs bytes that are not UTF-8");
        let sjis = read_table("a.csv", &sjis).unwrap();
        assert_eq!(sjis.encoding, "Shift_JIS");
        assert_eq!((sjis.headers.clone(), sjis.rows.clone()), (utf8.headers.clone(), utf8.rows.clone()));

        // Excel's "Unicode text": tab separated.
        let tsv = read_table("a.txt", LEDGER.replace(',', "\t").as_bytes()).unwrap();
        assert_eq!(tsv.rows, utf8.rows);
    }

    #[test]
    fn undecodable_bytes_name_the_file_and_line() {
        let mut bytes = b"hostname,kind\nPC-1,pc\n".to_vec();
        bytes.extend_from_slice(b"PC-2,\xFD\xFE\n");
        let e = read_table("ledger.csv", &bytes).unwrap_err();
        assert_eq!(e.kind, ImportErrorKind::Encoding);
        assert_eq!(e.line, Some(3));
        assert!(e.message_ja().contains("文字コードを判別できません (UTF-8 でも Shift_JIS でもありません)"), "{}", e.message_ja());
        assert!(e.message_ja().starts_with("ledger.csv"));
        assert!(e.message_ja().contains("3 行目"), "{}", e.message_ja());
        assert!(e.message_en().contains("line 3"));
    }

    #[test]
    fn files_that_are_no_table_are_refused() {
        assert_eq!(read_table("a.csv", b"").unwrap_err().kind, ImportErrorKind::Empty);
        assert_eq!(read_table("a.csv", b"\xEF\xBB\xBF\r\n,,,\r\n").unwrap_err().kind, ImportErrorKind::Empty);
        let xls = read_table("a.xls", &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0]).unwrap_err();
        assert_eq!(xls.kind, ImportErrorKind::NotATable);
        assert!(xls.message_ja().contains("xlsx"));
        assert_eq!(read_table("a.png", b"\x89PNG\r\n\x1a\n\0\0\0").unwrap_err().kind, ImportErrorKind::NotATable);
        assert_eq!(read_table("a.xlsx", b"PK\x03\x04 broken").unwrap_err().kind, ImportErrorKind::Xlsx);
    }

    #[test]
    fn xlsx_cells_become_text_and_title_rows_are_skipped() {
        let bytes = xlsx(|s| {
            let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy/mm/dd");
            s.merge_range(0, 0, 0, 3, "資産台帳 (令和7年度)", &rust_xlsxwriter::Format::new()).unwrap();
            write_row(s, 2, &["ホスト名", "保証期限", "階", "資産ID"]);
            s.write_string(3, 0, "SUIDO-PC-0001").unwrap();
            s.write_datetime_with_format(3, 1, rust_xlsxwriter::ExcelDateTime::from_ymd(2027, 3, 31).unwrap(), &fmt).unwrap();
            s.write_number(3, 2, 3.0).unwrap();
            s.write_number(3, 3, 12.5).unwrap();
            // Row 5 left empty, row 6 has data.
            s.write_string(5, 0, " SUIDO-PC-0002 ").unwrap();
        });
        let t = read_table("台帳.xlsx", &bytes).unwrap();
        assert_eq!(t.encoding, "xlsx");
        assert_eq!(t.sheet.as_deref(), Some("台帳"));
        assert_eq!(t.header_line, 3);
        assert_eq!(t.headers, ["ホスト名", "保証期限", "階", "資産ID"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!((t.rows[0].line, t.rows[0].cells.clone()), (4, vec!["SUIDO-PC-0001".into(), "2027-03-31".into(), "3".into(), "12.5".into()]));
        assert_eq!((t.rows[1].line, t.rows[1].cell(0)), (6, "SUIDO-PC-0002"));
    }

    #[test]
    fn xlsx_picks_the_sheet_with_a_header() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let notes = book.add_worksheet();
        notes.set_name("説明").unwrap();
        notes.write_string(0, 0, "この台帳は毎年4月に更新します").unwrap();
        let ledger = book.add_worksheet();
        ledger.set_name("機器一覧").unwrap();
        write_row(ledger, 0, &["コンピュータ名", "拠点"]);
        write_row(ledger, 1, &["SUIDO-PC-0001", "HQ"]);
        let t = read_table("a.xlsx", &book.save_to_buffer().unwrap()).unwrap();
        assert_eq!(t.sheet.as_deref(), Some("機器一覧"));
        assert_eq!(t.rows[0].cell(0), "SUIDO-PC-0001");
    }

    #[test]
    fn xlsx_formula_is_refused_naming_the_cell() {
        let bytes = xlsx(|s| {
            write_row(s, 0, &["ホスト名", "拠点", "IPアドレス"]);
            write_row(s, 1, &["SUIDO-PC-0001", "HQ", "10.1.20.15"]);
            write_row(s, 2, &["SUIDO-PC-0002", "HQ"]);
            s.write_formula(4, 2, "=\"10.1.20.\"&\"16\"").unwrap();
            s.write_string(4, 0, "SUIDO-PC-0003").unwrap();
        });
        let e = read_table("台帳.xlsx", &bytes).unwrap_err();
        assert_eq!(e.kind, ImportErrorKind::Formula);
        assert_eq!((e.sheet.as_deref(), e.line, e.column.as_deref()), (Some("台帳"), Some(5), Some("C (IPアドレス)")));
        assert!(e.message_ja().contains("5 行目 C 列 (IPアドレス)"), "{}", e.message_ja());
        assert!(e.message_ja().contains("数式は取り込めません。値に変換してください"));
        assert!(e.message_ja().starts_with("台帳.xlsx"));
    }

    #[test]
    fn xlsx_merged_cells_in_the_table_are_refused() {
        let bytes = xlsx(|s| {
            write_row(s, 0, &["ホスト名", "所属", "使用者"]);
            write_row(s, 1, &["SUIDO-PC-0001", "配水課", "山田"]);
            s.merge_range(2, 1, 3, 1, "浄水課", &rust_xlsxwriter::Format::new()).unwrap();
            s.write_string(2, 0, "SUIDO-PC-0002").unwrap();
            s.write_string(3, 0, "SUIDO-PC-0003").unwrap();
        });
        let e = read_table("台帳.xlsx", &bytes).unwrap_err();
        assert_eq!(e.kind, ImportErrorKind::MergedCells);
        assert!(e.message_ja().contains("B3:B4") && e.message_ja().contains("3 行目 B 列 (所属)"), "{}", e.message_ja());
        assert!(e.message_en().contains("B3:B4"));
    }

    #[test]
    fn mapping_is_guessed_from_japanese_and_english_headers() {
        let headers: Vec<String> = [
            "コンピュータ名", "機器種別", "設置場所(拠点)", "部署", "利用者", "ＩＰアドレス", "MAC", "S/N", "保守期限", "ステータス",
            "メモ", "Serial Number", "購入年月日", "", "謎の列", "IPアドレス（有線）",
        ]
        .map(String::from)
        .to_vec();
        let m = guess_mapping(&headers);
        let want = [
            ("A", Some("hostname")),
            ("B", Some("kind")),
            ("C", Some("site")),
            ("D", Some("department")),
            ("E", Some("user")),
            ("F", Some("ip_addresses")),
            ("G", Some("mac_addresses")),
            ("H", Some("serial")),
            ("I", Some("warranty_end")),
            ("J", Some("status")),
            ("K", Some("notes")),
            ("L", None), // second serial column: the first one wins
            ("M", Some("purchase_date")),
            ("O", None),
            ("P", None), // second IP column
        ];
        let want: BTreeMap<String, Option<String>> = want.iter().map(|(c, t)| (c.to_string(), t.map(String::from))).collect();
        assert_eq!(m.columns, want);
        assert!(!m.columns.contains_key("N"), "empty header");
        assert_eq!(m.column_of("serial"), Some("H"));
        let en: Vec<String> = ["hostname", "kind", "site", "ip_addresses", "warranty_end"].map(String::from).to_vec();
        assert_eq!(guess_mapping(&en).column_of("warranty_end"), Some("E"));
    }

    #[test]
    fn mapping_json_is_checked() {
        let t = csv_table("名前,IP,部署\nSUIDO-PC-0001,10.1.20.15,配水課\n");
        let guessed = guess_mapping(&t.headers);
        let e = plan(&t, &guessed, &Existing::default()).unwrap_err();
        assert_eq!(e.kind, ImportErrorKind::Mapping);
        assert_eq!(e.message_ja(), "必須の列がありません: ホスト名");

        let edited: Mapping = serde_json::from_str(r#"{"columns": {"a": "hostname", "B": "ip_addresses", "C": null}}"#).unwrap();
        let p = plan(&t, &edited, &Existing { sites: sites(), ..Default::default() }).unwrap();
        assert_eq!(p.rows[0].fields.get("ip_addresses").map(String::as_str), Some("10.1.20.15"));
        assert!(!p.rows[0].fields.contains_key("department"), "column C is ignored");
        assert_eq!(serde_json::to_value(&guessed).unwrap(), serde_json::json!({"columns": {"A": null, "B": "ip_addresses", "C": "department"}}));

        let twice: Mapping = serde_json::from_str(r#"{"columns": {"A": "hostname", "B": "notes", "C": "notes"}}"#).unwrap();
        let e = twice.validate(&t.headers).unwrap_err();
        assert!(e.message_ja().contains("B (IP)") && e.message_ja().contains("C (部署)"), "{}", e.message_ja());
        let unknown: Mapping = serde_json::from_str(r#"{"columns": {"A": "hostname", "B": "owner"}}"#).unwrap();
        assert!(unknown.validate(&t.headers).unwrap_err().message_en().contains("no target owner"));
        let beyond: Mapping = serde_json::from_str(r#"{"columns": {"A": "hostname", "Z": "notes"}}"#).unwrap();
        assert!(beyond.validate(&t.headers).unwrap_err().message_ja().contains("列 Z"));
    }

    #[test]
    fn row_problems_are_collected() {
        let existing = Existing { sites: sites(), assets: vec![] };
        let p = plan_csv(
            "ホスト名,種別,拠点,IPアドレス,MACアドレス,保証期限,状態\n\
             SUIDO-PC-0001,PC,本庁舎,10.1.20.15,,2027-03-31\n\
             SUIDO-PC-0002,パソコン,西庁舎,10.1.20.300,00:1b:21,2027-02-30\n\
             suido-pc-0001,ルーター,HQ,,,\n\
             SUIDO-PC-0004,冷蔵庫,KUN,,,,紛失\n\
             SUIDO-PC-0005,,MJO,,,\n",
            &existing,
        );
        let errors = |i: usize| -> Vec<(Option<String>, String)> {
            p.rows[i].problems.iter().filter(|x| x.severity == Severity::Error).map(|x| (x.column.clone(), x.message_ja.clone())).collect()
        };
        // Row 2 and row 4 share a host name (case-insensitively): both name the other.
        assert_eq!(p.rows[0].action, Action::Invalid { asset_id: None });
        assert_eq!(errors(0), [(Some("A (ホスト名)".to_string()), "ホスト名 SUIDO-PC-0001 が重複しています (4 行目にもあります)".to_string())]);
        assert_eq!(errors(2), [(Some("A (ホスト名)".to_string()), "ホスト名 suido-pc-0001 が重複しています (2 行目にもあります)".to_string())]);
        // Row 3: unknown site, bad IP, bad MAC, bad date, all reported.
        let e3 = errors(1);
        assert_eq!(e3.len(), 4, "{e3:?}");
        assert!(e3[0].0.as_deref() == Some("C (拠点)") && e3[0].1.contains("拠点 西庁舎 はありません"), "{e3:?}");
        assert!(e3[1].0.as_deref() == Some("D (IPアドレス)") && e3[1].1.contains("10.1.20.300"));
        assert!(e3[2].0.as_deref() == Some("E (MACアドレス)"));
        assert!(e3[3].0.as_deref() == Some("F (保証期限)") && e3[3].1.contains("2027-02-30"));
        assert_eq!(p.rows[1].problems[0].line, 3);
        // Row 5: unknown kind and status.
        assert!(errors(3)[0].1.contains("種別 冷蔵庫 は使えません"));
        assert_eq!(errors(3)[1].1, "状態 紛失 は使えません (使用中, 予備, 修理中, 廃棄)");
        // Row 6: no kind is a warning; the new asset becomes other.
        assert_eq!(p.rows[4].action, Action::Create);
        assert_eq!(p.rows[4].kind.as_deref(), Some("other"));
        assert_eq!(p.rows[4].problems[0].severity, Severity::Warning);
        assert_eq!((p.creates, p.updates, p.unchanged, p.invalid, p.warnings), (1, 0, 0, 4, 1));
    }

    #[test]
    fn duplicate_serial_and_missing_site_are_errors() {
        let existing = Existing { sites: sites(), assets: vec![] };
        let p = plan_csv("ホスト名,拠点,製造番号\nA,HQ,SN-1\nB,HQ, sn-1 \nC,,SN-3\n", &existing);
        assert!(p.rows[0].problems[0].message_ja.contains("3 行目にもあります"));
        assert!(p.rows[1].problems[0].message_en.contains("duplicate serial"));
        assert!(p.rows[2].problems.iter().any(|x| x.message_ja.contains("拠点が空です")));
        assert_eq!(p.invalid, 3);
    }

    #[test]
    fn serial_beats_mac_beats_hostname() {
        let mut with_mac = asset(3, "SUIDO-PC-0003", None);
        with_mac.macs = vec!["00:1B:21:AA:BB:CC".into()];
        let existing = Existing {
            sites: sites(),
            assets: vec![
                asset(1, "SUIDO-PC-0001", Some("JPX1234")),
                asset(2, "SUIDO-PC-0002", Some("JPX5678")),
                with_mac,
                asset(4, "SUIDO-PC-0004", Some("JPX0004")),
            ],
        };
        let p = plan_csv(
            "ホスト名,シリアル番号,MACアドレス\n\
             SUIDO-PC-0002,jpx1234,\n\
             suido-pc-0001,,00-1b-21-aa-bb-cc\n\
             SUIDO-PC-0004,,\n",
            &existing,
        );
        // Row 2 carries PC-0002's name but PC-0001's serial: the serial wins.
        // Row 3 carries PC-0001's name but PC-0003's MAC: the MAC wins.
        // Row 4 matches PC-0004 by name.
        let ids: Vec<Option<i64>> = p
            .rows
            .iter()
            .map(|r| match &r.action {
                Action::Update { asset_id, .. } | Action::Unchanged { asset_id } => Some(*asset_id),
                _ => None,
            })
            .collect();
        assert_eq!(ids, [Some(1), Some(3), Some(4)], "{:#?}", p.rows);
        let Action::Update { changes, .. } = &p.rows[0].action else { panic!() };
        assert_eq!(changes[0], Change { field: "hostname".into(), old: Some("SUIDO-PC-0001".into()), new: Some("SUIDO-PC-0002".into()) });
        assert!(p.rows[0].problems.iter().any(|x| x.severity == Severity::Warning && x.message_ja.contains("ID 2")));
    }

    #[test]
    fn id_column_wins_and_must_exist() {
        let existing = Existing { sites: sites(), assets: vec![asset(7, "SUIDO-PC-0007", Some("S7")), asset(8, "SUIDO-PC-0008", Some("S8"))] };
        let p = plan_csv("資産ID,ホスト名,シリアル番号\n8,SUIDO-PC-0008,S7\n99,SUIDO-PC-0099,\n", &existing);
        assert!(matches!(&p.rows[0].action, Action::Update { asset_id: 8, changes } if changes[0].field == "serial"));
        assert_eq!(p.rows[1].action, Action::Invalid { asset_id: None });
        assert!(p.rows[1].problems[0].message_ja.contains("資産 ID 99 の資産はありません"));
    }

    #[test]
    fn two_rows_on_one_asset_and_ambiguous_names_are_errors() {
        let existing = Existing {
            sites: sites(),
            assets: vec![asset(1, "SUIDO-PC-0001", Some("S1")), asset(2, "TWIN", None), asset(3, "twin", None)],
        };
        let p = plan_csv("ホスト名,シリアル番号\nSUIDO-PC-0001,\nOTHER-NAME,S1\nTwin,\n", &existing);
        assert!(p.rows[0].problems[0].message_ja.contains("3 行目と同じ資産 (ID 1)"), "{:?}", p.rows[0].problems);
        assert!(p.rows[1].problems[0].message_ja.contains("2 行目と同じ資産 (ID 1)"));
        assert!(p.rows[2].problems[0].message_ja.contains("複数の資産 (ID 2, 3)"));
        assert_eq!(p.invalid, 3);
    }

    #[test]
    fn agent_hostname_is_not_overridden_and_empty_cells_keep_values() {
        let mut a = asset(1, "SUIDO-PC-0001", Some("S1"));
        a.has_agent = true;
        a.fields.insert("department".into(), "配水課".into());
        a.fields.insert("user".into(), "山田".into());
        let mut b = asset(2, "SUIDO-PC-0002", Some("S2"));
        b.has_agent = true;
        let existing = Existing { sites: sites(), assets: vec![a, b] };
        let p = plan_csv("ホスト名,シリアル番号,所属,使用者\nSUIDO-PC-9999,S1,,佐藤\nsuido-pc-0002,S2,,\n", &existing);
        let Action::Update { changes, .. } = &p.rows[0].action else { panic!("{:?}", p.rows[0]) };
        assert_eq!(changes, &[Change { field: "user".into(), old: Some("山田".into()), new: Some("佐藤".into()) }]);
        assert_eq!(p.rows[0].hostname, "SUIDO-PC-0001");
        assert_eq!(p.rows[0].problems[0].severity, Severity::Warning);
        assert!(p.rows[0].problems[0].message_ja.contains("エージェント"));
        // Only the case differs: neither a change nor a warning.
        assert_eq!(p.rows[1].action, Action::Unchanged { asset_id: 2 });
        assert!(p.rows[1].problems.is_empty());
        assert_eq!(p.rows[1].hostname, "SUIDO-PC-0002");
    }

    #[test]
    fn reimport_after_apply_is_unchanged() {
        let mut existing = Existing {
            sites: sites(),
            assets: vec![asset(1, "SUIDO-PC-0001", Some("JPX1234")), asset(2, "SUIDO-RT-HQ01", None)],
        };
        let file = "資産ID,ホスト名,機器種別,事業所,S/N,部署,状態,IP,MAC,保証期限,タグ,備考\n\
                    ,SUIDO-PC-0001,PC,本庁舎,JPX1234,配水課,使用中,10.1.20.15,00-1b-21-aa-bb-cc,2027/3/31,\"重要, 貸出\",\n\
                    2,SUIDO-RT-HQ01,ルーター,HQ,,施設課,in_use,10.1.90.1 10.1.90.2,,,,\"WAN 回線\n保守: NTT\"\n\
                    ,SUIDO-PR-0001,プリンター,国見庁舎,CN-555,料金課,予備,10.2.50.11,,,,\n\
                    ,SUIDO-PC-0101,,MJO,,,,,,,,\n";
        let first = plan_csv(file, &existing);
        assert_eq!((first.creates, first.updates, first.unchanged, first.invalid), (2, 2, 0, 0), "{:#?}", first.rows);
        assert_eq!(first.rows[2].line, 5, "a quoted line break moves the next row's line");
        assert_eq!(first.rows[0].fields["warranty_end"], "2027-03-31");
        assert_eq!(first.rows[0].fields["tags"], "貸出,重要");
        assert_eq!(first.rows[0].fields["status"], "in_use");
        assert_eq!(first.rows[1].kind.as_deref(), Some("router"));
        assert_eq!(first.rows[2].site.as_deref(), Some("KUN"));
        apply(&first, &mut existing);
        assert_eq!(existing.assets.len(), 4);

        let again = plan_csv(file, &existing);
        assert_eq!((again.creates, again.updates, again.unchanged, again.invalid), (0, 0, 4, 0), "{:#?}", again.rows);
        // The new asset without kind got a warning the first time only.
        assert!(again.rows.iter().all(|r| r.problems.is_empty()), "{:#?}", again.rows);

        // The created assets are found again by serial, MAC and name.
        let changed = file.replace("料金課", "経理課");
        let third = plan_csv(&changed, &existing);
        assert_eq!((third.updates, third.unchanged), (1, 3));
        assert!(matches!(&third.rows[2].action, Action::Update { asset_id: 3, changes } if changes.len() == 1));
    }

    #[test]
    fn plan_serialises_for_the_console() {
        let p = plan_csv("ホスト名,拠点\nSUIDO-PC-0001,HQ\n", &Existing { sites: sites(), assets: vec![asset(5, "SUIDO-PC-0001", None)] });
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["rows"][0]["action"], serde_json::json!({"type": "unchanged", "asset_id": 5}));
        assert_eq!(v["unchanged"], 1);
    }

    #[test]
    fn column_letters() {
        assert_eq!([0, 25, 26, 27, 51, 52, 701, 702].map(column_letter), ["A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
        for i in [0, 25, 26, 700, 16383] {
            assert_eq!(column_index(&column_letter(i)), Some(i));
        }
        assert_eq!(column_index("c"), Some(2));
        assert_eq!(column_index("1"), None);
    }

    /// Damaged files of both kinds (bytes flipped, cut, duplicated) are
    /// refused or read, never a panic: the same parsers the fuzz target
    /// drives, in every `cargo test`.
    #[test]
    fn rows_are_numbered_as_excel_shows_them_with_crlf_too() {
        for text in ["ホスト名,拠点\r\nA1,HQ\r\nA2,XX\r\n", "ホスト名,拠点\nA1,HQ\nA2,XX\n", "\r\nホスト名,拠点\r\nA1,HQ\r\n\r\nA2,XX\r\n"] {
            let t = read_table("x.csv", text.as_bytes()).unwrap();
            let a2 = t.rows.iter().find(|r| r.cells[0] == "A2").unwrap();
            let expected = text.split('\n').position(|l| l.starts_with("A2")).unwrap() + 1;
            assert_eq!(a2.line, expected, "{text:?}");
        }
    }

    #[test]
    fn mangled_files_never_panic() {
        let csv = "ホスト名,種別,拠点,IPアドレス,MACアドレス,保証期限\nSUIDO-PC-0001,PC,HQ,10.1.20.15,00-1B-21-AA-BB-CC,2027-03-31\nSUIDO-RT-01,ルーター,本庁舎,10.1.90.1,,\n";
        let sjis = encoding_rs::SHIFT_JIS.encode(csv).0.into_owned();
        let book = xlsx(|sheet| {
            write_row(sheet, 0, &["ホスト名", "種別", "拠点", "IPアドレス"]);
            write_row(sheet, 1, &["SUIDO-PC-0001", "pc", "HQ", "10.1.20.15"]);
        });
        let existing = Existing { sites: sites(), assets: vec![asset(1, "SUIDO-PC-0001", Some("JP1"))] };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for original in [csv.as_bytes().to_vec(), sjis, book] {
            for _ in 0..700 {
                let mut bytes = original.clone();
                match next() % 3 {
                    0 => {
                        for _ in 0..(1 + next() % 4) {
                            let i = (next() as usize) % bytes.len();
                            bytes[i] = next() as u8;
                        }
                    }
                    1 => bytes.truncate((next() as usize) % bytes.len()),
                    _ => {
                        let i = (next() as usize) % bytes.len();
                        let piece = bytes[i..].to_vec();
                        bytes.extend_from_slice(&piece[..piece.len().min(64)]);
                    }
                }
                let name = if bytes.starts_with(b"PK") { "x.xlsx" } else { "x.csv" };
                if let Ok(table) = read_table(name, &bytes) {
                    let _ = plan(&table, &guess_mapping(&table.headers), &existing);
                }
            }
        }
    }
}
