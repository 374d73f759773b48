//! Windows executables: which installer framework built them, from markers
//! taken from each framework's own source:
//!
//! - WiX Burn: a PE section named `.wixburn` (burn/stub/StubSection.cpp),
//!   starting with the magic 0x00f14300, a format version and the bundle id.
//! - NSIS: the "first header" after the stub, at a 512-byte boundary:
//!   flags, then `EF BE AD DE` `NullsoftInst` (Source/exehead/fileform.h).
//! - Inno Setup: the setup loader's offset table (RCDATA resource 11111 since
//!   5.1.5, at 0x30 of the file before) begins `rDlPtS` (Projects/Struct.pas
//!   `SetupLdrOffsetTableID`, as read by innoextract); the setup data in
//!   the overlay starts `Inno Setup Setup Data (x.y.z)`.
//! - InstallShield: the data appended after the PE image begins
//!   `InstallShield` or `ISSetupStream` (the signatures that unpackers of
//!   InstallShield setup.exe look for, possibly after a short `NB10` block).
//!
//! We read the headers, the PE image (capped) and the start of the overlay
//! in chunks; a 300 MB installer is never read whole.

use crate::error::Ctx;
use crate::RecogniseError;
use std::io::{Read, Seek, SeekFrom};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeKind {
    Burn { bundle_id: Option<String> },
    Nsis,
    Inno { data_version: Option<String> },
    InstallShield,
    Unknown,
}

#[derive(Debug, Clone, Default)]
pub struct VersionInfo {
    pub product_name: Option<String>,
    pub product_version: Option<String>,
    pub company_name: Option<String>,
    pub file_version: Option<String>,
}

#[derive(Debug)]
pub struct PeInfo {
    pub kind: PeKind,
    pub version: VersionInfo,
}

struct Section {
    name: [u8; 8],
    raw_ptr: u32,
    raw_size: u32,
}

const IMAGE_SCAN_CAP: u64 = 64 << 20;
const OVERLAY_SCAN: u64 = 4 << 20;
const CHUNK: usize = 1 << 20;

fn read_at<R: Read + Seek>(
    r: &mut R,
    ctx: &Ctx,
    at: u64,
    buf: &mut [u8],
    what_ja: &str,
    what_en: &str,
) -> Result<(), RecogniseError> {
    r.seek(SeekFrom::Start(at))
        .map_err(|e| ctx.io(what_ja, what_en, e))?;
    r.read_exact(buf).map_err(|e| ctx.io(what_ja, what_en, e))
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Reads `[start, end)` in chunks (with overlap) and calls `f(absolute
/// offset of chunk, chunk)` until it returns true.
fn scan<R: Read + Seek>(
    r: &mut R,
    ctx: &Ctx,
    start: u64,
    end: u64,
    overlap: usize,
    mut f: impl FnMut(u64, &[u8]) -> bool,
) -> Result<(), RecogniseError> {
    let mut pos = start;
    let mut buf = vec![0u8; CHUNK + overlap];
    while pos < end {
        let n = ((end - pos) as usize).min(buf.len());
        read_at(
            r,
            ctx,
            pos,
            &mut buf[..n],
            "実行ファイルの内容",
            "the executable's content",
        )?;
        if f(pos, &buf[..n]) {
            return Ok(());
        }
        if pos + n as u64 >= end {
            break;
        }
        pos += CHUNK as u64;
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn guid_string(b: &[u8]) -> String {
    format!(
        "{{{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}}}",
        u32_at(b, 0),
        u16_at(b, 4),
        u16_at(b, 6),
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

const NSIS_SIG: &[u8] = b"\xEF\xBE\xAD\xDENullsoftInst";
const INNO_LDR_ID: &[u8] = b"rDlPtS";
const INNO_DATA: &[u8] = b"Inno Setup Setup Data (";

pub(crate) fn read<R: Read + Seek>(
    ctx: &Ctx,
    r: &mut R,
    len: u64,
) -> Result<PeInfo, RecogniseError> {
    let mut dos = [0u8; 64];
    read_at(r, ctx, 0, &mut dos, "DOSヘッダー", "the DOS header")?;
    let pe_off = u32_at(&dos, 0x3c) as u64;
    if pe_off < 64 || pe_off + 24 > len {
        return Err(ctx.corrupt(
            format!("PEヘッダーの位置（{pe_off}）がファイルの外です"),
            format!("the PE header offset ({pe_off}) is outside the file"),
        ));
    }
    let mut coff = [0u8; 24];
    read_at(r, ctx, pe_off, &mut coff, "PEヘッダー", "the PE header")?;
    if &coff[0..4] != b"PE\0\0" {
        return Err(ctx.corrupt(
            "PEの署名「PE\\0\\0」がありません（MS-DOSの実行ファイルか壊れたファイル）",
            "no PE signature 'PE\\0\\0' (an MS-DOS program or a damaged file)",
        ));
    }
    let nsections = u16_at(&coff, 6) as u64;
    let opt_size = u16_at(&coff, 20) as u64;
    if nsections == 0 || nsections > 96 {
        return Err(ctx.corrupt(
            format!("PEのセクション数（{nsections}）が不正です"),
            format!("invalid PE section count ({nsections})"),
        ));
    }
    let table = pe_off + 24 + opt_size;
    let mut raw = vec![0u8; (nsections * 40) as usize];
    read_at(
        r,
        ctx,
        table,
        &mut raw,
        "PEのセクション表",
        "the PE section table",
    )?;
    let sections: Vec<Section> = raw
        .chunks_exact(40)
        .map(|s| {
            let mut name = [0u8; 8];
            name.copy_from_slice(&s[0..8]);
            Section {
                name,
                raw_ptr: u32_at(s, 20),
                raw_size: u32_at(s, 16),
            }
        })
        .collect();
    let mut image_end = table + nsections * 40;
    for s in &sections {
        let end = s.raw_ptr as u64 + s.raw_size as u64;
        if s.raw_size > 0 && end > len {
            return Err(ctx.corrupt(
                format!(
                    "PEのセクション「{}」がファイルの終わりを越えています（途中で切れたファイル）",
                    String::from_utf8_lossy(&s.name).trim_end_matches('\0')
                ),
                format!(
                    "PE section '{}' runs past the end of the file (truncated file)",
                    String::from_utf8_lossy(&s.name).trim_end_matches('\0')
                ),
            ));
        }
        image_end = image_end.max(end);
    }
    let overlay = image_end.min(len);

    let version = version_info(ctx, r, overlay.min(IMAGE_SCAN_CAP))?;

    // WiX Burn: the .wixburn section.
    if let Some(s) = sections.iter().find(|s| &s.name == b".wixburn") {
        let mut b = [0u8; 24];
        let bundle_id = if s.raw_size >= 24 {
            read_at(
                r,
                ctx,
                s.raw_ptr as u64,
                &mut b,
                ".wixburnセクション",
                "the .wixburn section",
            )?;
            (u32_at(&b, 0) == 0x00f1_4300).then(|| guid_string(&b[8..24]))
        } else {
            None
        };
        return Ok(PeInfo {
            kind: PeKind::Burn { bundle_id },
            version,
        });
    }

    // The start of the overlay: InstallShield, NSIS, Inno's setup data.
    let ov_end = len.min(overlay.saturating_add(OVERLAY_SCAN));
    let aligned = overlay / 512 * 512;
    let mut kind = PeKind::Unknown;
    let mut inno_data: Option<String> = None;
    if overlay < len {
        let mut head = vec![0u8; (len - overlay).min(64) as usize];
        read_at(
            r,
            ctx,
            overlay,
            &mut head,
            "実行ファイルの付加データ",
            "the executable's appended data",
        )?;
        if find(&head, b"InstallShield\0").is_some() || find(&head, b"ISSetupStream\0").is_some() {
            return Ok(PeInfo {
                kind: PeKind::InstallShield,
                version,
            });
        }
        scan(
            r,
            ctx,
            aligned,
            ov_end,
            INNO_DATA.len() + 16,
            |at, chunk| {
                let mut i = ((512 - (at % 512)) % 512) as usize;
                while i + 4 + NSIS_SIG.len() <= chunk.len() {
                    if &chunk[i + 4..i + 4 + NSIS_SIG.len()] == NSIS_SIG {
                        kind = PeKind::Nsis;
                        return true;
                    }
                    i += 512;
                }
                if let Some(p) = find(chunk, INNO_DATA) {
                    let rest = &chunk[p + INNO_DATA.len()..];
                    let v: String = rest
                        .iter()
                        .take_while(|&&c| c != b')' && c != 0)
                        .take(16)
                        .map(|&c| c as char)
                        .collect();
                    inno_data = Some(v);
                    return true;
                }
                false
            },
        )?;
    }
    if kind == PeKind::Nsis {
        return Ok(PeInfo { kind, version });
    }
    // Inno's loader offset table: in the image (resource) or at 0x30.
    let mut loader = false;
    scan(
        r,
        ctx,
        0,
        overlay.min(IMAGE_SCAN_CAP),
        INNO_LDR_ID.len() + 8,
        |_, chunk| {
            // The ID is followed by version digits and 0x87 'eVx' (before 5.1.5)
            // or by CD E6 D7 7B 0B 2A (5.1.5 and later).
            let mut from = 0;
            while let Some(p) = find(&chunk[from..], INNO_LDR_ID) {
                let q = from + p + INNO_LDR_ID.len();
                let tail = &chunk[q..(q + 6).min(chunk.len())];
                if tail == b"\xCD\xE6\xD7\x7B\x0B\x2A"
                    || (tail.len() == 6 && tail[2] == 0x87 && &tail[3..6] == b"eVx")
                {
                    loader = true;
                    return true;
                }
                from = q;
            }
            false
        },
    )?;
    if loader || inno_data.is_some() || &dos[0x30..0x34] == b"Inno" {
        kind = PeKind::Inno {
            data_version: inno_data,
        };
    }
    Ok(PeInfo { kind, version })
}

/// VS_VERSIONINFO, found by its UTF-16 key in the image: the fixed file
/// version and the StringFileInfo values we show to the operator. Best
/// effort: an executable without it is still recognised.
fn version_info<R: Read + Seek>(
    ctx: &Ctx,
    r: &mut R,
    end: u64,
) -> Result<VersionInfo, RecogniseError> {
    let key: Vec<u8> = "VS_VERSION_INFO\0"
        .encode_utf16()
        .flat_map(|c| c.to_le_bytes())
        .collect();
    let mut found: Option<Vec<u8>> = None;
    let mut hits = Vec::new();
    scan(r, ctx, 0, end, key.len(), |at, chunk| {
        if let Some(p) = find(chunk, &key) {
            if p >= 6 {
                hits.push(at + p as u64 - 6);
                return true;
            }
        }
        false
    })?;
    if let Some(&start) = hits.first() {
        let mut head = [0u8; 2];
        read_at(
            r,
            ctx,
            start,
            &mut head,
            "バージョン情報",
            "the version information",
        )?;
        let total = u16_at(&head, 0) as u64;
        if total > 6 && start + total <= end {
            let mut b = vec![0u8; total as usize];
            read_at(
                r,
                ctx,
                start,
                &mut b,
                "バージョン情報",
                "the version information",
            )?;
            found = Some(b);
        }
    }
    let Some(b) = found else {
        return Ok(VersionInfo::default());
    };
    let mut v = VersionInfo::default();
    if let Some(p) = find(&b, &0xFEEF_04BDu32.to_le_bytes()) {
        if p + 16 <= b.len() {
            let (ms, ls) = (u32_at(&b, p + 8), u32_at(&b, p + 12));
            v.file_version = Some(format!(
                "{}.{}.{}.{}",
                ms >> 16,
                ms & 0xffff,
                ls >> 16,
                ls & 0xffff
            ));
        }
    }
    let string = |name: &str| -> Option<String> {
        let k: Vec<u8> = name
            .encode_utf16()
            .chain([0])
            .flat_map(|c| c.to_le_bytes())
            .collect();
        let p = find(&b, &k)?;
        // String { wLength, wValueLength (in characters), wType, szKey, pad, Value }
        if p < 6 {
            return None;
        }
        let value_len = u16_at(&b, p - 4) as usize;
        let mut q = p + k.len();
        q = q.div_ceil(4) * 4;
        let end = (q + value_len * 2).min(b.len());
        let units: Vec<u16> = b
            .get(q..end)?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        let s = String::from_utf16_lossy(&units).trim().to_string();
        (!s.is_empty()).then_some(s)
    };
    v.product_name = string("ProductName");
    v.product_version = string("ProductVersion");
    v.company_name = string("CompanyName");
    Ok(v)
}
