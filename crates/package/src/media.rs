//! Offline media (issue 6 §6, `lanward package export-media`): a folder to
//! copy onto a USB drive that installs a package on a PC the network cannot
//! reach, or at a site whose WAN is too thin for a 300 MB download.
//!
//! The folder holds the installer assembled from the chunk store (every
//! chunk and the total SHA-256 checked), the signed manifest as it was
//! signed (so an agent or a person can verify it with the bureau's public
//! key), a script that checks the SHA-256 and then runs the silent command
//! (`install.cmd` for Windows, `install.sh` for a `.deb` or `.sh`), and a
//! Japanese `README.txt`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::chunk::ChunkId;
use crate::fsutil::write_atomic;
use crate::sign::SignedManifest;
use crate::store::{assemble, ChunkStore};
use crate::time::format_utc;
use crate::Error;

/// Names the export writes besides the installer; the installer may not
/// take one of them (compared case-insensitively: USB drives are FAT).
pub const MANIFEST_FILE: &str = "manifest.signed.json";
pub const INSTALL_CMD: &str = "install.cmd";
pub const INSTALL_SH: &str = "install.sh";
pub const README_FILE: &str = "README.txt";

/// Exit code of the scripts when the installer on the media does not match
/// its SHA-256 (Windows ERROR_INVALID_DATA), distinct from installer codes
/// people already know (0, 1603, 3010).
pub const EXIT_HASH_MISMATCH: i32 = 13;

/// FAT32, what most USB drives ship with, cannot hold a file of 4 GiB or more.
const FAT32_MAX_FILE: u64 = u32::MAX as u64;

/// One file written to the media.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MediaFile {
    pub name: String,
    pub size: u64,
    pub sha256: ChunkId,
}

/// What `export_media` wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MediaReport {
    pub dir: PathBuf,
    pub package: String,
    pub version: String,
    /// The installer, whose SHA-256 is the manifest's `content.sha256`.
    pub installer: MediaFile,
    /// Every file written, the installer first.
    pub files: Vec<MediaFile>,
    pub total_bytes: u64,
    /// Things a person should know before copying (Japanese, English in
    /// parentheses), e.g. a file too large for FAT32.
    pub warnings: Vec<String>,
}

/// Write offline installation media for `signed` into `out_dir`.
///
/// `file_name` is the installer's name on the media (the manifest does not
/// carry one); `install_command` is the silent command with the placeholders
/// `{file}` (the installer), `{log}` (a log file) and `{dir}` (the media
/// folder), as proposed by lanward-installer. The installer JSON in the
/// manifest stays opaque here.
///
/// `out_dir` must not exist or must be empty: media are never merged with
/// older media. On failure, what this call wrote is removed again.
///
/// The signature is not checked here (this function has no key); the
/// signed manifest is copied as is, for whoever installs to check.
pub fn export_media(
    store: &ChunkStore,
    signed: &SignedManifest,
    file_name: &str,
    install_command: &str,
    out_dir: &Path,
) -> Result<MediaReport, Error> {
    let manifest = &signed.manifest;
    manifest.check().map_err(|(field, detail)| Error::Invalid { field: format!("manifest.{field}"), detail })?;
    check_file_name(file_name)?;
    let linux = is_linux_package(file_name);
    check_command(install_command, linux)?;
    let created = prepare_dir(out_dir)?;

    let mut written: Vec<PathBuf> = Vec::new();
    let result = write_all(store, signed, file_name, install_command, out_dir, linux, &mut written);
    if result.is_err() {
        // Leave the folder as it was found, so the export can simply be
        // run again (a non-empty folder would be refused).
        for p in &written {
            let _ = fs::remove_file(p);
        }
        if created {
            let _ = fs::remove_dir(out_dir);
        }
    }
    result
}

fn write_all(
    store: &ChunkStore,
    signed: &SignedManifest,
    file_name: &str,
    install_command: &str,
    out_dir: &Path,
    linux: bool,
    written: &mut Vec<PathBuf>,
) -> Result<MediaReport, Error> {
    let manifest = &signed.manifest;
    let mut warnings = Vec::new();

    // assemble reads every chunk through read_verified and checks the total
    // size and SHA-256 against the list before the file takes its name.
    let installer_path = out_dir.join(file_name);
    assemble(store, &manifest.content, &installer_path)?;
    written.push(installer_path);
    let installer = MediaFile { name: file_name.into(), size: manifest.content.total_size, sha256: manifest.content.sha256 };
    if installer.size > FAT32_MAX_FILE {
        warnings.push(format!(
            "{file_name} は 4 GiB 以上あるため FAT32 の USB メモリには入りません。exFAT か NTFS で初期化したものを使ってください (larger than FAT32 allows)"
        ));
    }
    let mut files = vec![installer.clone()];

    let mut put = |name: &str, bytes: Vec<u8>| -> Result<(), Error> {
        let path = out_dir.join(name);
        write_atomic(&path, &bytes, false)?;
        written.push(path);
        files.push(MediaFile { name: name.into(), size: bytes.len() as u64, sha256: ChunkId::of(&bytes) });
        Ok(())
    };
    put(MANIFEST_FILE, signed.to_bytes())?;
    if linux {
        put(INSTALL_SH, install_sh(signed, file_name, install_command).into_bytes())?;
    } else {
        put(INSTALL_CMD, install_cmd(signed, file_name, install_command).into_bytes())?;
    }
    put(README_FILE, readme(signed, file_name, install_command, linux))?;

    if linux {
        // Not fatal: FAT drives often refuse chmod, and the README says
        // `sudo sh install.sh`, which needs no execute bit.
        if let Err(e) = make_executable(&out_dir.join(INSTALL_SH)) {
            warnings.push(format!("{INSTALL_SH} に実行権限を付けられませんでした。sh {INSTALL_SH} で実行してください (chmod failed: {e})"));
        }
    }

    let total_bytes = files.iter().map(|f| f.size).sum();
    Ok(MediaReport {
        dir: out_dir.to_path_buf(),
        package: manifest.package.clone(),
        version: manifest.version.clone(),
        installer,
        files,
        total_bytes,
        warnings,
    })
}

/// Create `dir` if missing (returns true) or accept it if it is an empty
/// folder (false). Anything else is refused, naming the path.
fn prepare_dir(dir: &Path) -> Result<bool, Error> {
    let refuse = |detail: &str| Error::Invalid { field: format!("out_dir {}", dir.display()), detail: detail.into() };
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(refuse("フォルダーではありません (exists and is not a directory)")),
        Ok(_) => {
            let mut entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
            if entries.next().is_some() {
                return Err(refuse(
                    "空ではないフォルダーには書き出しません。新しいフォルダー名を指定してください (directory is not empty; media are never written over other files)",
                ));
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            Ok(true)
        }
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// The installer's name on the media: a plain ASCII file name, because it
/// is written into a batch file that cmd.exe reads in the OEM code page
/// (CP932 on Japanese Windows), and into a shell script.
fn check_file_name(name: &str) -> Result<(), Error> {
    let bad = |detail: String| Err(Error::Invalid { field: "file_name".into(), detail });
    if name.is_empty() || name.len() > 100 {
        return bad(format!("{name:?}: 1〜100 文字にしてください (must be 1..=100 characters)"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')) || name.starts_with(['.', '-']) {
        return bad(format!(
            "{name:?}: 英数字と . - _ + だけの、. や - で始まらない名前にしてください (only ASCII letters, digits, '.', '-', '_', '+'; not starting with '.' or '-')"
        ));
    }
    if [MANIFEST_FILE, INSTALL_CMD, INSTALL_SH, README_FILE].iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return bad(format!("{name:?}: メディアの他のファイルと同じ名前です (clashes with a file the media writes)"));
    }
    let stem = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT")) && stem.len() == 4 && stem.as_bytes()[3].is_ascii_digit());
    if device {
        return bad(format!("{name:?}: Windows の予約名です (reserved device name on Windows)"));
    }
    Ok(())
}

fn check_command(cmd: &str, linux: bool) -> Result<(), Error> {
    let bad = |detail: String| Err(Error::Invalid { field: "install_command".into(), detail });
    if cmd.trim().is_empty() {
        return bad("コマンドが空です (empty command)".into());
    }
    // A newline would start a second script line that runs outside the
    // exit-code handling.
    if cmd.chars().any(char::is_control) {
        return bad(format!("{cmd:?}: 改行や制御文字は使えません (no newlines or control characters)"));
    }
    // cmd.exe reads a batch file in the OEM code page, so UTF-8 text would
    // reach the installer garbled.
    if !linux && !cmd.is_ascii() {
        return bad(format!("{cmd:?}: install.cmd に書くため ASCII 文字だけにしてください (must be ASCII for a Windows batch file)"));
    }
    if !cmd.contains("{file}") && !cmd.contains("{dir}") {
        return bad(format!("{cmd:?}: {{file}} か {{dir}} でインストーラーを指してください (must refer to the installer through {{file}} or {{dir}})"));
    }
    Ok(())
}

fn is_linux_package(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".deb") || lower.ends_with(".sh")
}

/// Text from the manifest that goes into a script outside any command:
/// only characters that mean nothing to cmd.exe or sh.
fn script_label(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | ' ') { c } else { '_' }).collect()
}

/// The command as cmd.exe must see it to pass it on literally: `%` doubled
/// everywhere (even inside quotes cmd.exe expands variables), and outside
/// quotes the operators `& | < > ^` escaped with `^`. Placeholders are
/// substituted afterwards, so their `%~dp0` and `%TEMP%` stay live.
fn batch_command(cmd: &str, file_name: &str, package: &str) -> String {
    let mut out = String::with_capacity(cmd.len() + 16);
    let mut quoted = false;
    for c in cmd.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '&' | '|' | '<' | '>' | '^' if !quoted => {
                out.push('^');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    windows_placeholders(&out, file_name, package)
}

/// `{file}` `{log}` `{dir}` as install.cmd fills them in.
fn windows_placeholders(cmd: &str, file_name: &str, package: &str) -> String {
    cmd.replace("{file}", &format!("%~dp0{file_name}"))
        .replace("{log}", &format!("%TEMP%\\lanward-{package}.log"))
        // `%~dp0` ends in a backslash; `.` names the folder itself, even
        // at a drive's root, so `"{dir}\setup.iss"` stays a valid path.
        .replace("{dir}", "%~dp0.")
}

/// `{file}` `{log}` `{dir}` as install.sh fills them in.
fn sh_placeholders(cmd: &str, file_name: &str) -> String {
    cmd.replace("{file}", &format!("$DIR/{file_name}")).replace("{log}", "$LOG").replace("{dir}", "$DIR")
}

fn install_cmd(signed: &SignedManifest, file_name: &str, command: &str) -> String {
    let m = &signed.manifest;
    let label = format!("{} {}", script_label(&m.package), script_label(&m.version));
    let lines = [
        "@echo off".to_string(),
        format!("rem lanward offline media: {label} (serial {})", m.serial),
        "rem Run as administrator. Checks the installer's SHA-256, then installs silently".to_string(),
        "rem and exits with the installer's exit code.".to_string(),
        "setlocal".to_string(),
        // fltmc needs elevation and, unlike `net session`, does not depend on
        // the Server service running.
        "fltmc >nul 2>&1".to_string(),
        "if errorlevel 1 (".to_string(),
        "  echo Run this file as administrator: right-click, Run as administrator.".to_string(),
        "  exit /b 5".to_string(),
        ")".to_string(),
        format!("set \"EXPECTED={}\"", m.content.sha256),
        "set \"ACTUAL=\"".to_string(),
        format!("echo Checking SHA-256 of {file_name} ..."),
        // Line 2 of certutil's output is the hash; older Windows prints it
        // with spaces between bytes, hence the removal below.
        format!(
            "for /f \"skip=1 delims=\" %%H in ('certutil -hashfile \"%~dp0{file_name}\" SHA256') \
             do if not defined ACTUAL set \"ACTUAL=%%H\""
        ),
        "if defined ACTUAL set \"ACTUAL=%ACTUAL: =%\"".to_string(),
        "if /i not \"%ACTUAL%\"==\"%EXPECTED%\" (".to_string(),
        format!("  echo SHA-256 mismatch: {file_name} on this media is damaged. Nothing was installed."),
        "  echo expected %EXPECTED%".to_string(),
        "  echo actual   %ACTUAL%".to_string(),
        format!("  exit /b {EXIT_HASH_MISMATCH}"),
        ")".to_string(),
        format!("echo Installing {label} ..."),
        batch_command(command, file_name, &m.package),
        "set \"RC=%ERRORLEVEL%\"".to_string(),
        format!("echo Exit code %RC%. Log: %TEMP%\\lanward-{}.log", m.package),
        "exit /b %RC%".to_string(),
    ];
    // cmd.exe wants CRLF: with LF only, labels and long lines misbehave.
    let mut out = lines.join("\r\n");
    out.push_str("\r\n");
    out
}

fn install_sh(signed: &SignedManifest, file_name: &str, command: &str) -> String {
    let m = &signed.manifest;
    let label = format!("{} {}", script_label(&m.package), script_label(&m.version));
    let lines = [
        "#!/bin/sh".to_string(),
        format!("# lanward offline media: {label} (serial {})", m.serial),
        "# Run as root. Checks the installer's SHA-256, then installs and exits with the installer's exit code.".to_string(),
        "set -u".to_string(),
        "DIR=$(CDPATH= cd -- \"$(dirname -- \"$0\")\" && pwd) || exit 1".to_string(),
        format!("LOG=\"${{TMPDIR:-/tmp}}/lanward-{}.log\"", m.package),
        format!("EXPECTED={}", m.content.sha256),
        "if [ \"$(id -u)\" -ne 0 ]; then".to_string(),
        "  echo \"Run as root: sudo sh $0\" >&2".to_string(),
        "  exit 1".to_string(),
        "fi".to_string(),
        format!("ACTUAL=$(sha256sum -- \"$DIR/{file_name}\" | cut -d ' ' -f 1)"),
        "if [ \"$ACTUAL\" != \"$EXPECTED\" ]; then".to_string(),
        format!("  echo \"SHA-256 mismatch: {file_name} on this media is damaged. Nothing was installed.\" >&2"),
        "  echo \"expected $EXPECTED\" >&2".to_string(),
        "  echo \"actual   $ACTUAL\" >&2".to_string(),
        format!("  exit {EXIT_HASH_MISMATCH}"),
        "fi".to_string(),
        format!("echo \"Installing {label} ...\""),
        sh_placeholders(command, file_name),
        "rc=$?".to_string(),
        "echo \"Exit code $rc. Log: $LOG\"".to_string(),
        "exit $rc".to_string(),
    ];
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// README.txt: Japanese, UTF-8 with a BOM (Notepad on older Windows 10
/// guesses Shift_JIS without one), CRLF.
fn readme(signed: &SignedManifest, file_name: &str, command: &str, linux: bool) -> Vec<u8> {
    let m = &signed.manifest;
    let mut t: Vec<String> = vec![
        "lanward 配布メディア（オフライン インストール用）".into(),
        String::new(),
        "このフォルダーは、資産管理サーバー lanward から書き出したソフトウェアの配布メディアです。".into(),
        "ネットワークにつながっていない PC や、回線の細い拠点の PC に、USB メモリなどから直接インストールするために使います。".into(),
        String::new(),
        "■ 内容".into(),
        format!("  パッケージ         : {}", m.package),
        format!("  バージョン         : {}", m.version),
        format!("  通し番号 (serial)  : {}", m.serial),
        format!("  インストーラー     : {file_name}（{} バイト）", group_digits(m.content.total_size)),
        format!("  SHA-256            : {}", m.content.sha256),
        format!("  署名鍵 ID          : {}", m.key_id.to_hex()),
        format!("  マニフェスト作成   : {}（UTC）", format_utc(m.created_at)),
        format!("  マニフェスト期限   : {}（UTC）", format_utc(m.expires_at)),
        String::new(),
        "■ ファイル".into(),
        format!("  {file_name:<22}インストーラー本体"),
    ];
    if linux {
        t.push(format!("  {INSTALL_SH:<22}インストール用スクリプト（Linux）"));
    } else {
        t.push(format!("  {INSTALL_CMD:<22}インストール用バッチファイル（Windows）"));
    }
    t.push(format!("  {MANIFEST_FILE:<22}署名付きマニフェスト。内容が改ざんされていないことを、lanward エージェントや管理者が局の公開鍵で確かめるためのものです。"));
    t.push(format!("  {README_FILE:<22}このファイル"));
    t.push(String::new());
    t.push("■ インストールのしかた".into());
    if linux {
        t.push("  1. USB メモリを PC に挿し、このフォルダーを開いた端末で次を実行します。".into());
        t.push(format!("       sudo sh {INSTALL_SH}"));
        t.push(format!("  2. {INSTALL_SH} はまずインストーラーの SHA-256 を確かめます。一致しないとき（メディアの破損など）は、何もインストールせずに終了します（終了コード {EXIT_HASH_MISMATCH}）。"));
        t.push("  3. 一致すれば、次のコマンドでインストールします（$DIR はこのフォルダー）。".into());
        t.push(format!("       {}", sh_placeholders(command, file_name)));
        t.push(format!("     ログ: ${{TMPDIR:-/tmp}}/lanward-{}.log", m.package));
    } else {
        t.push(format!("  1. USB メモリを PC に挿し、{INSTALL_CMD} を右クリックして「管理者として実行」を選びます。"));
        t.push(format!("  2. {INSTALL_CMD} はまずインストーラーの SHA-256 を確かめます。一致しないとき（メディアの破損など）は、何もインストールせずに終了します（終了コード {EXIT_HASH_MISMATCH}）。"));
        t.push("  3. 一致すれば、次のコマンドで画面を出さずにインストールします（%~dp0 はこのフォルダー）。".into());
        t.push(format!("       {}", windows_placeholders(command, file_name, &m.package)));
        t.push(format!("     ログ: %TEMP%\\lanward-{}.log", m.package));
    }
    t.push("  4. 終了コードはインストーラーのものをそのまま返します。0 が成功です（MSI の場合、3010 は「成功・再起動が必要」）。".into());
    t.push("  lanward エージェントが入っている PC では、次の定期報告でインストール結果がサーバーのソフトウェア一覧に反映されます。".into());
    t.push(String::new());
    t.push("■ 手で確かめるには".into());
    t.push(format!("  Windows: certutil -hashfile {file_name} SHA256"));
    t.push(format!("  Linux  : sha256sum {file_name}"));
    t.push("  表示された値が上の SHA-256 と同じなら、ファイルは書き出したときのままです。".into());
    t.push(String::new());
    t.push("■ 注意".into());
    t.push(format!("  ・署名付きマニフェストの期限は {}（UTC）です。インストール用スクリプトは期限を確かめませんが、期限を過ぎたら新しいメディアを書き出してください。", format_utc(m.expires_at)));
    t.push("  ・このメディアには、局の署名付きのソフトウェアが入っています。USB メモリの持ち出しと消去は、局の規程に従ってください。".into());
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend_from_slice(t.join("\r\n").as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// 123456789 → "123,456,789", as people read sizes.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    // Leading group of 1-3 digits, then groups of exactly 3 (ASCII digits,
    // so byte slicing is safe).
    let head = match s.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = s[..head].to_string();
    let mut rest = &s[head..];
    while !rest.is_empty() {
        out.push(',');
        out.push_str(&rest[..3]);
        rest = &rest[3..];
    }
    out
}

#[cfg(unix)]
fn make_executable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SigningKey;
    use crate::manifest::Manifest;
    use crate::sign::sign;
    use crate::verify::verify;
    use std::time::{Duration, UNIX_EPOCH};

    const NOW: u64 = 1_795_910_400;

    fn data() -> Vec<u8> {
        (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// A store holding `data()` in 4 KiB chunks and a manifest over it.
    fn setup(dir: &Path, package: &str) -> (ChunkStore, SignedManifest, SigningKey) {
        let store = ChunkStore::open(dir.join("repo")).expect("open store");
        let content = store.add_reader(&data()[..], 4096, Path::new("test")).expect("add");
        let key = SigningKey::from_seed([3; 32]);
        let manifest = Manifest {
            package: package.into(),
            version: "16.0.17932.20162".into(),
            serial: 7,
            created_at: NOW - 3600,
            expires_at: NOW + 86_400,
            content,
            installer: serde_json::json!({"framework": "msi"}),
            key_id: key.id(),
        };
        let signed = sign(&manifest, &key).expect("sign");
        (store, signed, key)
    }

    const MSI_CMD: &str = r#"msiexec.exe /i "{file}" /qn /norestart /l*v "{log}" PROP=50% TAG=a&b"#;

    #[test]
    fn exports_a_windows_media_folder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, signed, key) = setup(tmp.path(), "office-ltsc-2024");
        let out = tmp.path().join("media");
        let report = export_media(&store, &signed, "setup.msi", MSI_CMD, &out).expect("export");

        // The installer is the original content, byte for byte.
        assert_eq!(fs::read(out.join("setup.msi")).expect("installer"), data());
        assert_eq!(report.installer.sha256, ChunkId::of(&data()));
        assert_eq!(report.installer.size, 10_000);
        let names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["setup.msi", MANIFEST_FILE, INSTALL_CMD, README_FILE]);
        let mut listed: Vec<String> =
            fs::read_dir(&out).expect("list").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        listed.sort();
        assert_eq!(listed, ["README.txt", "install.cmd", "manifest.signed.json", "setup.msi"], "no temp files left");
        for f in &report.files {
            let bytes = fs::read(out.join(&f.name)).expect("file");
            assert_eq!((bytes.len() as u64, ChunkId::of(&bytes)), (f.size, f.sha256), "{}", f.name);
        }
        assert_eq!(report.total_bytes, report.files.iter().map(|f| f.size).sum::<u64>());
        assert!(report.warnings.is_empty());

        // The signed manifest on the media verifies with the public key.
        let signed_bytes = fs::read(out.join(MANIFEST_FILE)).expect("manifest");
        assert_eq!(signed_bytes, signed.to_bytes());
        let m = verify(&signed_bytes, &key.public_key(), UNIX_EPOCH + Duration::from_secs(NOW), None).expect("verifies");
        assert_eq!(m.content.sha256, report.installer.sha256);

        let cmd = String::from_utf8(fs::read(out.join(INSTALL_CMD)).expect("cmd")).expect("ascii");
        assert!(cmd.ends_with("\r\n") && cmd.matches('\n').count() == cmd.matches("\r\n").count(), "CRLF only");
        assert!(cmd.is_ascii());
        assert!(
            cmd.contains(r#"msiexec.exe /i "%~dp0setup.msi" /qn /norestart /l*v "%TEMP%\lanward-office-ltsc-2024.log" PROP=50%% TAG=a^&b"#),
            "{cmd}"
        );
        assert!(cmd.contains(&format!("set \"EXPECTED={}\"", ChunkId::of(&data()))));
        assert!(cmd.contains("('certutil -hashfile \"%~dp0setup.msi\" SHA256') do if not defined ACTUAL set \"ACTUAL=%%H\"\r\n"));
        assert!(cmd.contains("set \"RC=%ERRORLEVEL%\"\r\n") && cmd.trim_end().ends_with("exit /b %RC%"));

        let readme = fs::read(out.join(README_FILE)).expect("readme");
        assert_eq!(&readme[..3], &[0xEF, 0xBB, 0xBF], "BOM for Notepad");
        let text = String::from_utf8(readme[3..].to_vec()).expect("utf-8");
        assert!(text.contains("配布メディア"));
        assert!(text.contains("パッケージ         : office-ltsc-2024"));
        assert!(text.contains("バージョン         : 16.0.17932.20162"));
        assert!(text.contains(&format!("SHA-256            : {}", ChunkId::of(&data()))));
        assert!(text.contains("setup.msi（10,000 バイト）"));
        assert!(text.contains("管理者として実行"));
        assert!(text.matches('\n').count() == text.matches("\r\n").count());
    }

    #[test]
    fn exports_install_sh_for_a_deb() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, signed, _) = setup(tmp.path(), "zabbix-agent");
        let out = tmp.path().join("media");
        // An existing empty folder (a freshly formatted USB drive) is fine.
        fs::create_dir(&out).expect("mkdir");
        let report = export_media(&store, &signed, "zabbix-agent_6.0_amd64.deb", r#"dpkg -i "{file}" >"{log}" 2>&1"#, &out)
            .expect("export");
        let names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["zabbix-agent_6.0_amd64.deb", MANIFEST_FILE, INSTALL_SH, README_FILE]);
        assert!(!out.join(INSTALL_CMD).exists());
        let sh = fs::read_to_string(out.join(INSTALL_SH)).expect("sh");
        assert!(sh.starts_with("#!/bin/sh\n") && !sh.contains('\r'));
        assert!(sh.contains(r#"dpkg -i "$DIR/zabbix-agent_6.0_amd64.deb" >"$LOG" 2>&1"#), "{sh}");
        assert!(sh.contains(&format!("EXPECTED={}", ChunkId::of(&data()))));
        assert!(sh.trim_end().ends_with("exit $rc"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(out.join(INSTALL_SH)).expect("meta").permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "executable");
        }
        let readme = String::from_utf8(fs::read(out.join(README_FILE)).expect("readme")[3..].to_vec()).expect("utf-8");
        assert!(readme.contains("sudo sh install.sh"));
    }

    #[test]
    fn a_non_empty_folder_is_refused_naming_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, signed, _) = setup(tmp.path(), "office-ltsc-2024");
        let out = tmp.path().join("old-media");
        fs::create_dir(&out).expect("mkdir");
        fs::write(out.join("setup.msi"), b"older").expect("write");
        let err = export_media(&store, &signed, "setup.msi", MSI_CMD, &out).unwrap_err().to_string();
        assert!(err.contains(&out.display().to_string()) && err.contains("空ではないフォルダー"), "{err}");
        assert_eq!(fs::read(out.join("setup.msi")).expect("untouched"), b"older");

        let file = tmp.path().join("a-file");
        fs::write(&file, b"x").expect("write");
        let err = export_media(&store, &signed, "setup.msi", MSI_CMD, &file).unwrap_err().to_string();
        assert!(err.contains("フォルダーではありません"), "{err}");
    }

    #[test]
    fn a_corrupted_chunk_fails_the_export_naming_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, signed, _) = setup(tmp.path(), "office-ltsc-2024");
        let bad = signed.manifest.content.chunks[1].id;
        let mut bytes = fs::read(store.path_of(&bad)).expect("chunk");
        bytes[100] ^= 0xFF;
        fs::write(store.path_of(&bad), &bytes).expect("corrupt");

        let out = tmp.path().join("media");
        let err = export_media(&store, &signed, "setup.msi", MSI_CMD, &out).unwrap_err();
        assert!(matches!(err, Error::Chunk(_)), "{err:?}");
        assert!(err.to_string().contains(&bad.to_hex()), "{err}");
        // Nothing half-written is left: the folder this call created is gone.
        assert!(!out.exists());

        // A missing chunk, into an existing empty folder: the folder stays, empty.
        store.remove(&bad).expect("remove");
        fs::create_dir(&out).expect("mkdir");
        let err = export_media(&store, &signed, "setup.msi", MSI_CMD, &out).unwrap_err();
        assert!(matches!(err, Error::MissingChunk(id) if id == bad), "{err:?}");
        assert_eq!(fs::read_dir(&out).expect("list").count(), 0);
    }

    #[test]
    fn bad_names_and_commands_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (store, signed, _) = setup(tmp.path(), "office-ltsc-2024");
        let out = tmp.path().join("media");
        for name in ["", "../setup.msi", "a\\b.msi", ".hidden", "セットアップ.msi", "install.CMD", "con.msi", "COM1", "a b.msi"] {
            let err = export_media(&store, &signed, name, MSI_CMD, &out).unwrap_err();
            assert!(matches!(&err, Error::Invalid { field, .. } if field == "file_name"), "{name:?}: {err:?}");
        }
        for cmd in ["", "setup.exe /s\r\ndel C:\\x", "msiexec /i \"{file}\" /qn TITLE=総務課", "setup.exe /s"] {
            let err = export_media(&store, &signed, "setup.msi", cmd, &out).unwrap_err();
            assert!(matches!(&err, Error::Invalid { field, .. } if field == "install_command"), "{cmd:?}: {err:?}");
        }
        assert!(!out.exists(), "nothing created for refused input");
        // Non-ASCII is fine in a shell script.
        export_media(&store, &signed, "tool.sh", "/bin/sh \"{file}\" 総務課", &out).expect("sh with Japanese");
    }

    #[test]
    fn helpers() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(300_123_456), "300,123,456");
        assert_eq!(script_label("1.0 (β) & x%"), "1.0 ___ _ x_");
        assert_eq!(
            batch_command(r#"setup.exe /s /f1"{dir}\setup.iss" /v"A&B" C>D ^"#, "setup.exe", "p"),
            r#"setup.exe /s /f1"%~dp0.\setup.iss" /v"A&B" C^>D ^^"#
        );
    }
}
