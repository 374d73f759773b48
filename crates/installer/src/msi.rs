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

fn read_stream<R: Read + Seek>(ctx: &Ctx, cf: &mut cfb::CompoundFile<R>, name: &str, shown: &str) -> Result<Vec<u8>, RecogniseError> {
    let path = format!("/{name}");
    let mut s = cf.open_stream(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ctx.corrupt(format!("MSIに{shown}ストリームがありません"), format!("the MSI has no {shown} stream"))
        } else {
            ctx.corrupt(format!("MSIの{shown}ストリームを開けません: {e}"), format!("cannot open the MSI's {shown} stream: {e}"))
        }
    })?;
    let len = s.len();
    if len > MAX_STREAM {
        return Err(ctx.corrupt(format!("MSIの{shown}ストリームが大きすぎます（{len}バイト）"), format!("the MSI's {shown} stream is too large ({len} bytes)")));
    }
    let mut buf = Vec::with_capacity(len as usize);
    (&mut s).take(len).read_to_end(&mut buf).map_err(|e| ctx.io(&format!("MSIの{shown}ストリーム"), &format!("the MSI's {shown} stream"), e))?;
    if (buf.len() as u64) < len {
        return Err(ctx.corrupt(format!("MSIの{shown}ストリームが途中で切れています"), format!("the MSI's {shown} stream is cut short")));
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

pub(crate) fn read<R: Read + Seek>(ctx: &Ctx, reader: R) -> Result<MsiInfo, RecogniseError> {
    let mut cf = cfb::CompoundFile::open(reader).map_err(|e| {
        ctx.corrupt(format!("MSI（OLE複合ファイル）として開けません: {e}"), format!("cannot open as an MSI (OLE compound file): {e}"))
    })?;
    let pool = read_stream(ctx, &mut cf, &table_stream_name("_StringPool"), "_StringPool")?;
    let data = read_stream(ctx, &mut cf, &table_stream_name("_StringData"), "_StringData")?;
    let props = read_stream(ctx, &mut cf, &table_stream_name("Property"), "Property")?;

    if pool.len() < 4 {
        return Err(ctx.corrupt("MSIの_StringPoolが短すぎます", "the MSI's _StringPool is too short"));
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
                return Err(ctx.corrupt("MSIの_StringPoolの長い文字列の長さが途中で切れています", "the MSI's _StringPool is cut inside a long string's length"));
            };
            len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            at += 4;
        }
        let end = offset.checked_add(len).filter(|&e| e <= data.len()).ok_or_else(|| {
            ctx.corrupt(
                format!("MSIの文字列{}が_StringData（{}バイト）の外を指しています", strings.len() + 1, data.len()),
                format!("MSI string {} points outside _StringData ({} bytes)", strings.len() + 1, data.len()),
            )
        })?;
        strings.push((offset, end));
        offset = end;
    }
    let string = |r: usize| -> Option<String> {
        if r == 0 {
            return None;
        }
        strings.get(r - 1).map(|&(s, e)| decode(codepage, &data[s..e]))
    };

    // Property table: two string columns (Property, Value), column-major.
    let width = if long_refs { 3 } else { 2 };
    if props.len() % (2 * width) != 0 {
        return Err(ctx.corrupt(
            format!("MSIのPropertyテーブルの大きさ（{}バイト）が行の幅{}の倍数ではありません", props.len(), 2 * width),
            format!("the MSI's Property table size ({} bytes) is not a multiple of its row width {}", props.len(), 2 * width),
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
                ctx.corrupt(format!("MSIのプロパティ{key}の値が文字列表にありません（{v}）"), format!("the value of MSI property {key} is not in the string pool ({v})"))
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
