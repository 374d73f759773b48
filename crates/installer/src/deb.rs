//! Debian packages: an `ar` archive (`!<arch>\n`, then 60-byte member
//! headers) holding `debian-binary`, `control.tar[.gz|.xz|.zst]` and
//! `data.tar.*`. We seek past members to the control archive, decompress it
//! as a stream (bounded) and read `Package` and `Version` from `control`.

use crate::error::Ctx;
use crate::RecogniseError;
use std::io::{Read, Seek, SeekFrom, Write};

pub struct DebInfo {
    pub package: String,
    pub version: String,
    pub maintainer: Option<String>,
    pub description: Option<String>,
}

const MAX_CONTROL_TAR: u64 = 16 << 20;

pub(crate) fn read<R: Read + Seek>(
    ctx: &Ctx,
    r: &mut R,
    len: u64,
) -> Result<DebInfo, RecogniseError> {
    let mut pos = 8u64;
    loop {
        if pos + 60 > len {
            return Err(ctx.corrupt(
                ".debにcontrol.tarがありません（途中で切れたファイルか壊れたファイル）",
                "the .deb has no control.tar (truncated or damaged file)",
            ));
        }
        let mut h = [0u8; 60];
        r.seek(SeekFrom::Start(pos))
            .map_err(|e| ctx.io(".debのメンバーヘッダー", "a .deb member header", e))?;
        r.read_exact(&mut h)
            .map_err(|e| ctx.io(".debのメンバーヘッダー", "a .deb member header", e))?;
        if &h[58..60] != b"`\n" {
            return Err(ctx.corrupt(
                format!(".debのメンバーヘッダー（{pos}バイト目）が壊れています"),
                format!("damaged .deb member header at byte {pos}"),
            ));
        }
        let name = String::from_utf8_lossy(&h[0..16])
            .trim_end()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = std::str::from_utf8(&h[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                ctx.corrupt(
                    format!(".debのメンバー「{name}」の大きさが読めません"),
                    format!("cannot read the size of .deb member '{name}'"),
                )
            })?;
        let data = pos + 60;
        if data + size > len {
            return Err(ctx.corrupt(format!(".debのメンバー「{name}」がファイルの終わりを越えています（途中で切れたファイル）"), format!(".deb member '{name}' runs past the end of the file (truncated file)")));
        }
        if let Some(comp) = name.strip_prefix("control.tar") {
            if size > MAX_CONTROL_TAR {
                return Err(ctx.corrupt(
                    format!(".debの{name}が大きすぎます（{size}バイト）"),
                    format!(".deb {name} is too large ({size} bytes)"),
                ));
            }
            let mut raw = vec![0u8; size as usize];
            r.read_exact(&mut raw)
                .map_err(|e| ctx.io(&format!(".debの{name}"), &format!("the .deb's {name}"), e))?;
            let tar = decompress(ctx, &name, comp, &raw)?;
            let control = find_control(ctx, &name, &tar)?;
            return parse_control(ctx, &control);
        }
        pos = data + size + (size & 1);
    }
}

/// A writer that refuses more than `cap` bytes.
struct Capped(Vec<u8>, usize);
impl Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + b.len() > self.1 {
            return Err(std::io::Error::other("control archive too large"));
        }
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn decompress(ctx: &Ctx, name: &str, comp: &str, raw: &[u8]) -> Result<Vec<u8>, RecogniseError> {
    let cap = MAX_CONTROL_TAR as usize;
    let mut out = Capped(Vec::new(), cap);
    let res: std::io::Result<()> = match comp {
        "" => out.write_all(raw),
        ".gz" => std::io::copy(&mut flate2::read::GzDecoder::new(raw), &mut out).map(|_| ()),
        ".xz" => lzma_rs::xz_decompress(&mut std::io::BufReader::new(raw), &mut out)
            .map_err(|e| std::io::Error::other(e.to_string())),
        ".zst" => zstd::stream::read::Decoder::new(raw)
            .and_then(|mut d| std::io::copy(&mut d, &mut out))
            .map(|_| ()),
        _ => {
            return Err(ctx.corrupt(
                format!(".debの{name}の圧縮形式を知りません"),
                format!("unknown compression of the .deb's {name}"),
            ));
        }
    };
    res.map_err(|e| {
        ctx.corrupt(
            format!(".debの{name}を展開できません: {e}"),
            format!("cannot decompress the .deb's {name}: {e}"),
        )
    })?;
    Ok(out.0)
}

fn find_control(ctx: &Ctx, name: &str, tar: &[u8]) -> Result<String, RecogniseError> {
    let mut at = 0usize;
    while at + 512 <= tar.len() {
        let h = &tar[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |a: usize, b: usize| {
            String::from_utf8_lossy(&h[a..b])
                .trim_end_matches('\0')
                .to_string()
        };
        let path = field(0, 100);
        let size =
            u64::from_str_radix(field(124, 136).trim().trim_end_matches(' '), 8).map_err(|_| {
                ctx.corrupt(
                    format!(".debの{name}の「{path}」の大きさが読めません"),
                    format!("cannot read the size of '{path}' in the .deb's {name}"),
                )
            })?;
        let start = at + 512;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= tar.len())
            .ok_or_else(|| {
                ctx.corrupt(
                    format!(".debの{name}の「{path}」が途中で切れています"),
                    format!("'{path}' in the .deb's {name} is cut short"),
                )
            })?;
        if path == "./control" || path == "control" {
            return String::from_utf8(tar[start..end].to_vec()).map_err(|_| {
                ctx.corrupt(
                    ".debのcontrolファイルがUTF-8ではありません",
                    "the .deb's control file is not UTF-8",
                )
            });
        }
        at = start + (end - start).div_ceil(512) * 512;
    }
    Err(ctx.corrupt(
        format!(".debの{name}にcontrolファイルがありません"),
        format!("the .deb's {name} has no control file"),
    ))
}

fn parse_control(ctx: &Ctx, text: &str) -> Result<DebInfo, RecogniseError> {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.trim().to_string())
            })
            .filter(|v| !v.is_empty())
    };
    let package = field("Package").ok_or_else(|| {
        ctx.corrupt(
            ".debのcontrolにPackageがありません",
            "the .deb's control has no Package field",
        )
    })?;
    let version = field("Version").ok_or_else(|| {
        ctx.corrupt(
            ".debのcontrolにVersionがありません",
            "the .deb's control has no Version field",
        )
    })?;
    Ok(DebInfo {
        package,
        version,
        maintainer: field("Maintainer"),
        description: field("Description"),
    })
}
