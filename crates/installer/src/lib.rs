//! Recognise an uploaded installer and propose how to install it silently.
//!
//! [`recognise`] looks at the file's content (its extension only for
//! scripts, which have no magic) and returns a [`Recognised`]: the
//! framework, what the package says about itself, the proposed silent
//! command line and a proposed [`DetectionRule`]. The operator may override
//! both. Commands use placeholders that the agent fills in on the PC:
//! [`FILE`] (the downloaded file's full path), [`LOG`] (where the install log
//! goes) and [`DIR`] (the folder a zip was extracted to, or the file's
//! folder).
//!
//! Nothing here panics on a hostile or damaged file: every length is checked
//! against the real size, every allocation is bounded, and errors name the
//! file and what is wrong in Japanese with English beside it.

#[cfg(feature = "recognise")]
mod deb;
mod error;
#[cfg(feature = "recognise")]
mod msi;
#[cfg(feature = "recognise")]
mod pe;
pub mod rule;

pub use error::{ErrorKind, RecogniseError};
pub use rule::{DetectionRule, RegistryTest, RuleParseError};

#[cfg(feature = "recognise")]
use error::Ctx;
use serde::{Deserialize, Serialize};
#[cfg(feature = "recognise")]
use std::io::{Read, Seek, SeekFrom};
#[cfg(feature = "recognise")]
use std::path::Path;

/// Placeholder for the installer's full path on the PC.
pub const FILE: &str = "{file}";
/// Placeholder for the install log's full path.
pub const LOG: &str = "{log}";
/// Placeholder for the working folder (zip extracted here).
pub const DIR: &str = "{dir}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    Msi,
    InnoSetup,
    Nsis,
    WixBurn,
    InstallShield,
    PowerShell,
    Cmd,
    Shell,
    /// A zip of a folder with an entry script.
    Zip,
    Deb,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recognised {
    pub framework: Framework,
    pub product_name: Option<String>,
    pub version: Option<String>,
    pub publisher: Option<String>,
    /// MSI ProductCode, or a Burn bundle's id.
    pub product_code: Option<String>,
    pub upgrade_code: Option<String>,
    /// With [`FILE`], [`LOG`], [`DIR`] placeholders.
    pub silent_command: String,
    /// The part of `silent_command` that names the log, if the framework
    /// has a log switch.
    pub log_arg: Option<String>,
    /// InstallShield: a response file recorded with `setup.exe /r` must be
    /// uploaded beside the installer.
    pub response_file_required: bool,
    /// For a zip: the entry script's path inside the archive.
    pub entry_script: Option<String>,
    pub detection_rule_proposal: Option<DetectionRule>,
    /// Notes for the operator, Japanese first with English in parentheses.
    pub notes: Vec<String>,
}

impl Recognised {
    #[cfg(feature = "recognise")]
    fn new(framework: Framework, silent_command: String) -> Self {
        Recognised {
            framework,
            product_name: None,
            version: None,
            publisher: None,
            product_code: None,
            upgrade_code: None,
            silent_command,
            log_arg: None,
            response_file_required: false,
            entry_script: None,
            detection_rule_proposal: None,
            notes: Vec::new(),
        }
    }

    /// The command with the placeholders filled in.
    pub fn command_for(&self, file: &str, log: &str, dir: &str) -> String {
        self.silent_command
            .replace(FILE, file)
            .replace(LOG, log)
            .replace(DIR, dir)
    }

    #[cfg(feature = "recognise")]
    fn note(&mut self, ja: &str, en: &str) {
        self.notes.push(format!("{ja} ({en})"));
    }
}

#[cfg(feature = "recognise")]
/// Opens `path` and recognises it; the file name in errors is `path`'s.
pub fn recognise_path(path: &Path) -> Result<Recognised, RecogniseError> {
    let ctx = Ctx {
        file: path.display().to_string(),
    };
    let f = std::fs::File::open(path).map_err(|e| {
        ctx.err(
            ErrorKind::Io,
            format!("開けません: {e}"),
            format!("cannot open: {e}"),
        )
    })?;
    recognise(&ctx.file, std::io::BufReader::new(f))
}

#[cfg(feature = "recognise")]
/// Recognises an installer read through `reader`; `file_name` is the name
/// it was uploaded under (used for scripts' extension and in errors).
pub fn recognise<R: Read + Seek>(
    file_name: &str,
    mut reader: R,
) -> Result<Recognised, RecogniseError> {
    let ctx = Ctx {
        file: file_name.to_string(),
    };
    let len = reader
        .seek(SeekFrom::End(0))
        .map_err(|e| ctx.io("ファイルの大きさ", "the file size", e))?;
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| ctx.io("ファイルの先頭", "the start of the file", e))?;
    let mut magic = [0u8; 8];
    let n = (len as usize).min(8);
    reader
        .read_exact(&mut magic[..n])
        .map_err(|e| ctx.io("ファイルの先頭", "the start of the file", e))?;
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| ctx.io("ファイルの先頭", "the start of the file", e))?;
    let magic = &magic[..n];
    let ext = Path::new(file_name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();

    if len == 0 {
        return Err(ctx.corrupt("ファイルが空です", "the file is empty"));
    }
    if magic == b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" {
        if ext == "msp" || ext == "msm" {
            return Err(ctx.err(
                ErrorKind::UnknownType,
                format!(".{ext}（MSIのパッチ/マージモジュール）は単独では配布できません。コマンドラインを指定してください"),
                format!("a .{ext} (MSI patch / merge module) is not recognised for distribution on its own; give the command line"),
            ));
        }
        return from_msi(&ctx, reader);
    }
    if magic.starts_with(b"MZ") {
        if len < 64 {
            return Err(ctx.corrupt(
                "実行ファイルが短すぎます（途中で切れたファイル）",
                "the executable is too short (truncated file)",
            ));
        }
        return from_pe(&ctx, &mut reader, len);
    }
    if magic == b"!<arch>\n" {
        return from_deb(&ctx, &mut reader, len);
    }
    if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        return from_zip(&ctx, reader);
    }
    let expected = match ext.as_str() {
        "msi" => Some((
            "MSI（OLE複合ファイル）の先頭",
            "the MSI (OLE compound file) header",
        )),
        "exe" => Some(("実行ファイルの先頭「MZ」", "the executable's 'MZ' header")),
        "deb" => Some((
            ".debのar形式の先頭「!<arch>」",
            "the .deb's ar header '!<arch>'",
        )),
        "zip" => Some(("zipの先頭「PK」", "the zip's 'PK' header")),
        _ => None,
    };
    if let Some((ja, en)) = expected {
        return Err(ctx.corrupt(
            format!("拡張子は.{ext}ですが、{ja}がありません"),
            format!("the extension is .{ext} but {en} is missing"),
        ));
    }
    if let Some(r) = script(&ext, FILE) {
        if len > 4 << 20 {
            return Err(ctx.corrupt(
                format!("スクリプトが大きすぎます（{len}バイト）"),
                format!("the script is too large ({len} bytes)"),
            ));
        }
        let mut head = Vec::new();
        (&mut reader)
            .take(len)
            .read_to_end(&mut head)
            .map_err(|e| ctx.io("スクリプト", "the script", e))?;
        if head.contains(&0) {
            return Err(ctx.corrupt(
                "スクリプトにNULバイトがあります（テキストではありません）",
                "the script contains NUL bytes (not text)",
            ));
        }
        return Ok(r);
    }
    Err(ctx.err(
        ErrorKind::UnknownType,
        "インストーラーの種類が分かりません（MSI, EXE, .deb, .zip, .ps1, .cmd, .bat, .sh のどれでもありません）。コマンドラインを指定してください",
        "unknown installer type (not MSI, EXE, .deb, .zip, .ps1, .cmd, .bat or .sh); give the command line",
    ))
}

#[cfg(feature = "recognise")]
fn script(ext: &str, path: &str) -> Option<Recognised> {
    let (fw, cmd) = match ext {
        "ps1" => (Framework::PowerShell, format!("powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File \"{path}\"")),
        "cmd" | "bat" => (Framework::Cmd, format!("cmd.exe /d /c \"{path}\"")),
        "sh" => (Framework::Shell, format!("/bin/sh \"{path}\"")),
        _ => return None,
    };
    let mut r = Recognised::new(fw, cmd);
    r.note(
        "スクリプトの出力が実行ログとして記録されます。検出ルールは自動では提案できません。指定してください",
        "the script's output is captured as the install log; no detection rule can be proposed, give one",
    );
    Some(r)
}

#[cfg(feature = "recognise")]
fn from_msi<R: Read + Seek>(ctx: &Ctx, reader: R) -> Result<Recognised, RecogniseError> {
    let info = msi::read(ctx, reader)?;
    let log_arg = format!("/l*v \"{LOG}\"");
    let mut r = Recognised::new(
        Framework::Msi,
        format!("msiexec /i \"{FILE}\" /qn REBOOT=ReallySuppress {log_arg}"),
    );
    r.log_arg = Some(log_arg);
    r.product_name = info.product_name;
    r.version = info.product_version;
    r.publisher = info.manufacturer;
    r.upgrade_code = info.upgrade_code;
    match &info.product_code {
        Some(code) if rule::parse(&format!("msi:{code}")).is_ok() => {
            r.detection_rule_proposal = Some(DetectionRule::MsiProductCode {
                code: code.clone(),
                min_version: r
                    .version
                    .clone()
                    .filter(|v| rule::parse(&format!("msi:{code}>={v}")).is_ok()),
            });
        }
        _ => r.note(
            "ProductCodeがないか形式が正しくないため検出ルールを提案できません",
            "no valid ProductCode, so no detection rule is proposed",
        ),
    }
    r.product_code = info.product_code;
    r.note(
        "終了コード3010と1641は再起動が必要な成功です",
        "exit codes 3010 and 1641 mean success with a reboot required",
    );
    Ok(r)
}

#[cfg(feature = "recognise")]
fn from_pe<R: Read + Seek>(
    ctx: &Ctx,
    reader: &mut R,
    len: u64,
) -> Result<Recognised, RecogniseError> {
    let info = pe::read(ctx, reader, len)?;
    let mut r = match info.kind {
        pe::PeKind::Unknown => {
            return Err(ctx.err(
                ErrorKind::UnknownExe,
                "このEXEのインストーラーの種類が分かりません（MSI, Inno Setup, NSIS, WiX Burn, InstallShield の印がありません）。サイレントインストールのコマンドラインを指定してください",
                "unknown EXE installer type (no MSI, Inno Setup, NSIS, WiX Burn or InstallShield marker); give the silent command line",
            ));
        }
        pe::PeKind::Inno { data_version } => {
            let log_arg = format!("/LOG=\"{LOG}\"");
            let mut r = Recognised::new(
                Framework::InnoSetup,
                format!("\"{FILE}\" /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /SP- {log_arg}"),
            );
            r.log_arg = Some(log_arg);
            if let Some(v) = data_version {
                r.note(
                    &format!("Inno Setupのセットアップデータ形式 {v}"),
                    &format!("Inno Setup setup data format {v}"),
                );
            }
            r.note(
                "検出ルールの候補: HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{AppId}_is1 の DisplayVersion（32ビット版はWOW6432Node）",
                "detection rule candidate: DisplayVersion under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{AppId}_is1 (WOW6432Node for 32-bit)",
            );
            r
        }
        pe::PeKind::Nsis => {
            let mut r = Recognised::new(Framework::Nsis, format!("\"{FILE}\" /S"));
            r.note(
                "NSISには標準のログ出力オプションがありません。インストール先を変えるときは /D=パス を最後に引用符なしで付けます",
                "NSIS has no standard log switch; to change the folder, add /D=path last and unquoted",
            );
            r
        }
        pe::PeKind::Burn { bundle_id } => {
            let log_arg = format!("/log \"{LOG}\"");
            let mut r = Recognised::new(
                Framework::WixBurn,
                format!("\"{FILE}\" /quiet /norestart {log_arg}"),
            );
            r.log_arg = Some(log_arg);
            if let Some(id) = &bundle_id {
                r.detection_rule_proposal = Some(DetectionRule::RegistryValue {
                    key: format!("HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{id}"),
                    value: "BundleVersion".to_string(),
                    test: match &info.version.product_version {
                        Some(v) if rule::parse(&format!("file:C:\\x>={v}")).is_ok() => RegistryTest::MinVersion(v.clone()),
                        _ => RegistryTest::Exists,
                    },
                });
                r.note(
                    "バンドルIDはビルドごとに変わることがあります（WiX v3の既定）。新しい版では検出ルールを見直してください",
                    "the bundle id may change with every build (WiX v3 default); review the rule for each new version",
                );
            }
            r.product_code = bundle_id;
            r
        }
        pe::PeKind::InstallShield => {
            let log_arg = format!("/f2\"{LOG}\"");
            let mut r = Recognised::new(
                Framework::InstallShield,
                format!("\"{FILE}\" /s /f1\"{DIR}\\setup.iss\" {log_arg}"),
            );
            r.log_arg = Some(log_arg);
            r.response_file_required = true;
            r.note(
                "応答ファイル setup.iss が必要です。検証用PCで setup.exe /r /f1\"C:\\setup.iss\" を実行して記録し、インストーラーと一緒にアップロードしてください（Basic MSI形式なら /s /v\"/qn\" でも可）",
                "a response file setup.iss is required: record it on a test PC with setup.exe /r /f1\"C:\\setup.iss\" and upload it with the installer (Basic MSI projects also accept /s /v\"/qn\")",
            );
            r
        }
    };
    r.product_name = info.version.product_name;
    r.version = info.version.product_version.or(info.version.file_version);
    r.publisher = info.version.company_name;
    if r.detection_rule_proposal.is_none() {
        r.note("検出ルールを指定してください", "give a detection rule");
    }
    Ok(r)
}

#[cfg(feature = "recognise")]
fn from_deb<R: Read + Seek>(
    ctx: &Ctx,
    reader: &mut R,
    len: u64,
) -> Result<Recognised, RecogniseError> {
    let info = deb::read(ctx, reader, len)?;
    let mut r = Recognised::new(
        Framework::Deb,
        format!("apt-get install -y --no-install-recommends \"{FILE}\""),
    );
    r.product_name = Some(info.package.clone());
    r.publisher = info.maintainer;
    let valid = rule::parse(&format!("deb:{}>={}", info.package, info.version)).is_ok();
    if valid {
        r.detection_rule_proposal = Some(DetectionRule::DebPackage {
            name: info.package.clone(),
            min_version: Some(info.version.clone()),
        });
    } else {
        r.note(
            "パッケージ名かバージョンの形式が正しくないため検出ルールを提案できません",
            "the package name or version is malformed, so no detection rule is proposed",
        );
    }
    r.version = Some(info.version);
    r.note(
        "DEBIAN_FRONTEND=noninteractive で実行します。apt-getにはファイルの絶対パスを渡します（依存パッケージも入ります）。依存を入れない場合は dpkg -i",
        "run with DEBIAN_FRONTEND=noninteractive; apt-get takes the file's absolute path (and installs dependencies); dpkg -i installs without them",
    );
    if let Some(d) = info.description {
        r.note(&format!("説明: {d}"), &format!("description: {d}"));
    }
    Ok(r)
}

/// Entry scripts we look for at the top of a zip (or inside its one
/// top-level folder), in this order.
#[cfg(feature = "recognise")]
const ENTRY_NAMES: &[&str] = &[
    "install.ps1",
    "install.cmd",
    "install.bat",
    "install.sh",
    "setup.ps1",
    "setup.cmd",
    "setup.bat",
    "setup.sh",
];
#[cfg(feature = "recognise")]
const MAX_ZIP_ENTRIES: usize = 100_000;

#[cfg(feature = "recognise")]
fn from_zip<R: Read + Seek>(ctx: &Ctx, reader: R) -> Result<Recognised, RecogniseError> {
    let archive = zip::ZipArchive::new(reader).map_err(|e| {
        ctx.corrupt(
            format!("zipとして読めません: {e}"),
            format!("cannot read as a zip: {e}"),
        )
    })?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(ctx.corrupt(
            format!("zipの項目が多すぎます（{}）", archive.len()),
            format!("too many zip entries ({})", archive.len()),
        ));
    }
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            ctx.corrupt(
                format!("zipの項目名が読めません: {e}"),
                format!("cannot read a zip entry name: {e}"),
            )
        })?;
    let tops: std::collections::BTreeSet<&str> =
        names.iter().filter_map(|n| n.split('/').next()).collect();
    let prefix = if tops.len() == 1 && names.iter().all(|n| n.contains('/')) {
        tops.iter().next().map(|t| format!("{t}/"))
    } else {
        None
    };
    let prefix = prefix.unwrap_or_default();
    // The entry's name as it is in the archive (case matters on Linux).
    let found: Vec<&str> = ENTRY_NAMES
        .iter()
        .filter_map(|e| {
            names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(&format!("{prefix}{e}")))
        })
        .map(|n| n.as_str())
        .collect();
    let Some(&inner) = found.first() else {
        return Err(ctx.err(
            ErrorKind::NoEntryScript,
            format!(
                "zipに入口のスクリプト（{}）がありません。実行するコマンドを指定してください",
                ENTRY_NAMES.join(", ")
            ),
            format!(
                "the zip has no entry script ({}); give the command to run",
                ENTRY_NAMES.join(", ")
            ),
        ));
    };
    let inner = inner.to_string();
    let ext = inner.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let sep = if ext == "sh" { "/" } else { "\\" };
    let path = format!("{DIR}{sep}{}", inner.replace('/', sep));
    let Some(mut r) = script(&ext, &path) else {
        return Err(ctx.err(
            ErrorKind::NoEntryScript,
            "zipの入口スクリプトの種類が分かりません",
            "unknown entry script type in the zip",
        ));
    };
    r.framework = Framework::Zip;
    r.entry_script = Some(inner.clone());
    r.notes.insert(0, format!("zipを{DIR}に展開して{inner}を実行します (the zip is extracted to {DIR} and {inner} is run)"));
    if found.len() > 1 {
        r.note(
            &format!(
                "入口の候補が複数あります（{}）。{inner}を選びました",
                found.join(", ")
            ),
            &format!(
                "several entry scripts ({}); chose {inner}",
                found.join(", ")
            ),
        );
    }
    Ok(r)
}
