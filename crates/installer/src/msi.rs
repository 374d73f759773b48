//! Windows Installer packages: an OLE compound file whose tables are streams
//! with encoded names. We read only the `Property` table: its stream holds the
//! rows column by column, each cell a reference into the string pool
//! (`_StringPool`: codepage, then (length, refcount) per string; `_StringData`:
//! the strings back to back). References are 2 bytes, or 3 when the pool's
//! codepage word has bit 31 set. Every length is checked against the real
//! stream size before anything is allocated.

use crate::error::Ctx;
use crate::RecogniseError;
use std::collections::HashMap;
use std::io::{Read, Seek};

/// Property values we care about.
#[derive(Debug, Default, Clone)]
pub struct MsiInfo {
    pub product_code: Option<String>,
    pub product_version: Option<String>,
    pub product_name: Option<String>,
    pub manufacturer: Option<String>,
    pub upgrade_code: Option<String>,
}

const MAX_STREAM: u64 = 64 << 20;

/// Encodes a table name as its stream name (MSI's base-64 packing into
/// U+3800..U+4840, prefixed with U+4840 for tables).
pub(crate) fn table_stream_name(name: &str) -> String {
    fn b64(c: char) -> Option<u32> {
        match c {
            '0'..='9' => Some(c as u32 - '0' as u32),
            'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
            'a'..='z' => Some(c as u32 - 'a' as u32 + 36),
            '.' => Some(62),
            '_' => Some(63),
            _ => None,
        }
    }
    let mut out = String::from('\u{4840}');
    let chars: Vec<char> = name.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match (b64(chars[i]), chars.get(i + 1).and_then(|&c| b64(c))) {
            (Some(a), Some(b)) => {
                out.extend(char::from_u32(0x3800 + (b << 6) + a));
                i += 2;
            }
            (Some(a), None) => {
                out.extend(char::from_u32(0x4800 + a));
                i += 1;
            }
            (None, _) => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

fn read_stream<R: Read + Seek>(
    ctx: &Ctx,
    cf: &mut cfb::CompoundFile<R>,
    file_len: u64,
    name: &str,
    shown: &str,
) -> Result<Vec<u8>, RecogniseError> {
    let path = format!("/{name}");
    let mut s = cf.open_stream(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ctx.corrupt(
                format!("MSIに{shown}ストリームがありません"),
                format!("the MSI has no {shown} stream"),
            )
        } else {
            ctx.corrupt(
                format!("MSIの{shown}ストリームを開けません: {e}"),
                format!("cannot open the MSI's {shown} stream: {e}"),
            )
        }
    })?;
    let len = s.len();
    if len > MAX_STREAM {
        return Err(ctx.corrupt(
            format!("MSIの{shown}ストリームが大きすぎます（{len}バイト）"),
            format!("the MSI's {shown} stream is too large ({len} bytes)"),
        ));
    }
    // The declared length is checked against the stream's real content
    // below; reserve no more than the file could hold.
    let mut buf = Vec::with_capacity(len.min(file_len) as usize);
    (&mut s).take(len).read_to_end(&mut buf).map_err(|e| {
        ctx.io(
            &format!("MSIの{shown}ストリーム"),
            &format!("the MSI's {shown} stream"),
            e,
        )
    })?;
    if (buf.len() as u64) < len {
        return Err(ctx.corrupt(
            format!("MSIの{shown}ストリームが途中で切れています"),
            format!("the MSI's {shown} stream is cut short"),
        ));
    }
    Ok(buf)
}

fn decode(codepage: u32, bytes: &[u8]) -> String {
    let enc = match codepage {
        65001 => encoding_rs::UTF_8,
        932 => encoding_rs::SHIFT_JIS,
        936 => encoding_rs::GBK,
        949 => encoding_rs::EUC_KR,
        950 => encoding_rs::BIG5,
        1250 => encoding_rs::WINDOWS_1250,
        1251 => encoding_rs::WINDOWS_1251,
        1253 => encoding_rs::WINDOWS_1253,
        1254 => encoding_rs::WINDOWS_1254,
        1255 => encoding_rs::WINDOWS_1255,
        1256 => encoding_rs::WINDOWS_1256,
        1257 => encoding_rs::WINDOWS_1257,
        1258 => encoding_rs::WINDOWS_1258,
        // 0 (neutral) and 1252: ASCII in practice; UTF-8 if it is valid UTF-8.
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => return s.to_string(),
            Err(_) => encoding_rs::WINDOWS_1252,
        },
    };
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

pub(crate) fn read<R: Read + Seek>(ctx: &Ctx, mut reader: R) -> Result<MsiInfo, RecogniseError> {
    let file_len = reader
        .seek(std::io::SeekFrom::End(0))
        .map_err(|e| ctx.io("MSI", "the MSI", e))?;
    reader
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| ctx.io("MSI", "the MSI", e))?;
    let mut cf = cfb::CompoundFile::open(reader).map_err(|e| {
        ctx.corrupt(
            format!("MSI（OLE複合ファイル）として開けません: {e}"),
            format!("cannot open as an MSI (OLE compound file): {e}"),
        )
    })?;
    let pool = read_stream(
        ctx,
        &mut cf,
        file_len,
        &table_stream_name("_StringPool"),
        "_StringPool",
    )?;
    let data = read_stream(
        ctx,
        &mut cf,
        file_len,
        &table_stream_name("_StringData"),
        "_StringData",
    )?;
    let props = read_stream(
        ctx,
        &mut cf,
        file_len,
        &table_stream_name("Property"),
        "Property",
    )?;

    if pool.len() < 4 {
        return Err(ctx.corrupt(
            "MSIの_StringPoolが短すぎます",
            "the MSI's _StringPool is too short",
        ));
    }
    let cp_word = u32::from_le_bytes([pool[0], pool[1], pool[2], pool[3]]);
    let long_refs = cp_word & 0x8000_0000 != 0;
    let codepage = cp_word & 0x7fff_ffff;
    // Offsets of each string in _StringData; string n (1-based) is strings[n-1].
    let mut strings: Vec<(usize, usize)> = Vec::new();
    let mut at = 4;
    let mut offset = 0usize;
    while at + 4 <= pool.len() {
        let mut len = u16::from_le_bytes([pool[at], pool[at + 1]]) as usize;
        let refs = u16::from_le_bytes([pool[at + 2], pool[at + 3]]);
        at += 4;
        if len == 0 && refs != 0 {
            // A long string: its length is in the next 4 bytes.
            let Some(b) = pool.get(at..at + 4) else {
                return Err(ctx.corrupt(
                    "MSIの_StringPoolの長い文字列の長さが途中で切れています",
                    "the MSI's _StringPool is cut inside a long string's length",
                ));
            };
            len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            at += 4;
        }
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| {
                ctx.corrupt(
                    format!(
                        "MSIの文字列{}が_StringData（{}バイト）の外を指しています",
                        strings.len() + 1,
                        data.len()
                    ),
                    format!(
                        "MSI string {} points outside _StringData ({} bytes)",
                        strings.len() + 1,
                        data.len()
                    ),
                )
            })?;
        strings.push((offset, end));
        offset = end;
    }
    let string = |r: usize| -> Option<String> {
        if r == 0 {
            return None;
        }
        strings
            .get(r - 1)
            .map(|&(s, e)| decode(codepage, &data[s..e]))
    };

    // Property table: two string columns (Property, Value), column-major.
    let width = if long_refs { 3 } else { 2 };
    if props.len() % (2 * width) != 0 {
        return Err(ctx.corrupt(
            format!(
                "MSIのPropertyテーブルの大きさ（{}バイト）が行の幅{}の倍数ではありません",
                props.len(),
                2 * width
            ),
            format!(
                "the MSI's Property table size ({} bytes) is not a multiple of its row width {}",
                props.len(),
                2 * width
            ),
        ));
    }
    let rows = props.len() / (2 * width);
    let cell = |col: usize, row: usize| -> usize {
        let p = (col * rows + row) * width;
        let mut v = u16::from_le_bytes([props[p], props[p + 1]]) as usize;
        if long_refs {
            v |= (props[p + 2] as usize) << 16;
        }
        v
    };
    let mut map = HashMap::new();
    for row in 0..rows {
        let (k, v) = (cell(0, row), cell(1, row));
        let key = string(k).ok_or_else(|| {
            ctx.corrupt(format!("MSIのPropertyテーブル{}行目の名前が文字列表にありません（{k}）", row + 1), format!("the name in row {} of the MSI's Property table is not in the string pool ({k})", row + 1))
        })?;
        if v != 0 {
            let value = string(v).ok_or_else(|| {
                ctx.corrupt(
                    format!("MSIのプロパティ{key}の値が文字列表にありません（{v}）"),
                    format!("the value of MSI property {key} is not in the string pool ({v})"),
                )
            })?;
            map.insert(key, value);
        }
    }
    let mut get = |k: &str| map.remove(k).filter(|s| !s.trim().is_empty());
    Ok(MsiInfo {
        product_code: get("ProductCode").map(|s| s.to_ascii_uppercase()),
        product_version: get("ProductVersion"),
        product_name: get("ProductName"),
        manufacturer: get("Manufacturer"),
        upgrade_code: get("UpgradeCode").map(|s| s.to_ascii_uppercase()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// An MSI-shaped compound file with just the string pool and the
    /// Property table, written the way Windows Installer lays them out.
    fn build(
        codepage: u32,
        long_refs: bool,
        strings: &[&[u8]],
        props: &[(usize, usize)],
    ) -> Vec<u8> {
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        let mut pool = (codepage | if long_refs { 0x8000_0000 } else { 0 })
            .to_le_bytes()
            .to_vec();
        let mut data = Vec::new();
        for s in strings {
            if s.len() > 0xffff {
                pool.extend_from_slice(&[0, 0, 1, 0]);
                pool.extend_from_slice(&(s.len() as u32).to_le_bytes());
            } else {
                pool.extend_from_slice(&(s.len() as u16).to_le_bytes());
                pool.extend_from_slice(&1u16.to_le_bytes());
            }
            data.extend_from_slice(s);
        }
        let mut table = Vec::new();
        for col in 0..2 {
            for row in props {
                let v = if col == 0 { row.0 } else { row.1 } as u32;
                table.extend_from_slice(&v.to_le_bytes()[..if long_refs { 3 } else { 2 }]);
            }
        }
        for (name, bytes) in [
            ("_StringPool", pool),
            ("_StringData", data),
            ("Property", table),
        ] {
            let mut s = cf
                .create_stream(format!("/{}", table_stream_name(name)))
                .unwrap();
            s.write_all(&bytes).unwrap();
        }
        cf.flush().unwrap();
        cf.into_inner().into_inner()
    }

    fn ctx() -> Ctx {
        Ctx {
            file: "t.msi".into(),
        }
    }

    #[test]
    fn stream_names_are_encoded_like_windows_installer() {
        // Known from real MSIs: "Property" is U+4840 U+3FFF U+3B6A ...
        let n: Vec<u32> = table_stream_name("Property")
            .chars()
            .map(|c| c as u32)
            .collect();
        assert_eq!(n[0], 0x4840);
        assert_eq!(n.len(), 5);
        assert_eq!(table_stream_name("_Tables").chars().count(), 5);
    }

    #[test]
    fn shift_jis_names_and_long_string_refs() {
        let (name, _, _) = encoding_rs::SHIFT_JIS.encode("水道局 資産管理ツール");
        let (maker, _, _) = encoding_rs::SHIFT_JIS.encode("株式会社テスト");
        for long in [false, true] {
            let strings: Vec<&[u8]> = vec![
                b"ProductName",
                &name,
                b"Manufacturer",
                &maker,
                b"ProductVersion",
                b"24.1.0",
                b"ProductCode",
                b"{0a1b2c3d-0000-0000-0000-000000000001}",
            ];
            let f = build(932, long, &strings, &[(1, 2), (3, 4), (5, 6), (7, 8)]);
            let i = read(&ctx(), Cursor::new(f)).unwrap();
            assert_eq!(i.product_name.as_deref(), Some("水道局 資産管理ツール"));
            assert_eq!(i.manufacturer.as_deref(), Some("株式会社テスト"));
            assert_eq!(i.product_version.as_deref(), Some("24.1.0"));
            assert_eq!(
                i.product_code.as_deref(),
                Some("{0A1B2C3D-0000-0000-0000-000000000001}")
            );
        }
    }

    #[test]
    fn a_string_longer_than_64k_uses_the_long_length() {
        let long = vec![b'x'; 70_000];
        let f = build(
            65001,
            false,
            &[b"ProductName", &long, b"ProductVersion", b"1.0"],
            &[(1, 2), (3, 4)],
        );
        let i = read(&ctx(), Cursor::new(f)).unwrap();
        assert_eq!(i.product_name.map(|s| s.len()), Some(70_000));
        assert_eq!(i.product_version.as_deref(), Some("1.0"));
    }

    #[test]
    fn bad_references_and_sizes_are_named() {
        let f = build(65001, false, &[b"ProductName", b"x"], &[(1, 9)]);
        let e = read(&ctx(), Cursor::new(f)).unwrap_err();
        assert!(
            e.message_en
                .contains("the value of MSI property ProductName is not in the string pool (9)"),
            "{e}"
        );
        let f = build(65001, false, &[b"ProductName", b"x"], &[(7, 2)]);
        let e = read(&ctx(), Cursor::new(f)).unwrap_err();
        assert!(
            e.message_en.contains("row 1 of the MSI's Property table"),
            "{e}"
        );
        // A pool that promises more string data than there is.
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        for (name, bytes) in [
            (
                "_StringPool",
                vec![0xE9, 0xFD, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0x7f],
            ),
            ("_StringData", vec![]),
            ("Property", vec![]),
        ] {
            cf.create_stream(format!("/{}", table_stream_name(name)))
                .unwrap()
                .write_all(&bytes)
                .unwrap();
        }
        cf.flush().unwrap();
        let e = read(&ctx(), Cursor::new(cf.into_inner().into_inner())).unwrap_err();
        assert!(
            e.message_en
                .contains("MSI string 1 points outside _StringData (0 bytes)"),
            "{e}"
        );
    }
}
