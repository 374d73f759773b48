//! Running a silent installer as the agent's own account (LocalSystem on
//! Windows, root on Linux), so it works with nobody logged on; capturing
//! its log; and knowing whether a reboot is pending.

use lanward_package::InstallSpec;
use lanward_proto::deploy::codes;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

/// How much of the logs goes back with the result.
pub const LOG_TAIL_BYTES: u64 = 4096;

pub struct Finished {
    pub exit_code: i64,
    pub log_tail: String,
}

pub struct NotRun {
    pub code: i32,
    pub reason: String,
    pub log_tail: String,
}

/// Quotes a path for the shell the command runs in.
fn quote(path: &Path) -> String {
    let s = path.display().to_string();
    if cfg!(windows) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Fills `{file}`, `{log}` and `{dir}`. A placeholder inside double quotes
/// in the command (`"{dir}/app/setup.sh"`) gets the bare path; elsewhere a
/// quoted one, so paths with spaces stay one argument.
pub fn fill(command: &str, file: &Path, log: &Path, dir: &Path) -> String {
    let mut out = String::with_capacity(command.len() + 64);
    let mut in_quotes = false;
    let mut rest = command;
    'outer: while let Some(c) = rest.chars().next() {
        for (ph, p) in [("{file}", file), ("{log}", log), ("{dir}", dir)] {
            if let Some(after) = rest.strip_prefix(ph) {
                if in_quotes {
                    out.push_str(&p.display().to_string());
                } else {
                    out.push_str(&quote(p));
                }
                rest = after;
                continue 'outer;
            }
        }
        if c == '"' {
            in_quotes = !in_quotes;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The end of a file, as text.
pub fn tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
    let mut buf = Vec::new();
    let _ = f.take(LOG_TAIL_BYTES).read_to_end(&mut buf);
    // MSI logs are UTF-16LE.
    if buf.len() >= 2 && buf.iter().skip(1).step_by(2).take(64).all(|b| *b == 0) {
        let units: Vec<u16> = buf.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Most a folder package may unpack to: a bound against a zip bomb.
const MAX_UNPACKED_BYTES: u64 = 32 * 1024 * 1024 * 1024;

/// Extracts a folder package into `dir`. Entry names that would leave the
/// folder (`../`, absolute paths) are refused.
pub fn extract_zip(file: &Path, dir: &Path) -> Result<(), String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| format!("zip: {e}"))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| format!("zip: {e}"))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(format!("zip の項目名 {:?} はフォルダーの外を指しています (unsafe entry name)", entry.name()));
        };
        let out = dir.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut w = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let copied = std::io::copy(&mut (&mut entry).take(MAX_UNPACKED_BYTES - total + 1), &mut w).map_err(|e| format!("{}: {e}", out.display()))?;
        total += copied;
        if total > MAX_UNPACKED_BYTES {
            return Err("zip を展開すると大きすぎます (more than 32 GB unpacked)".into());
        }
    }
    Ok(())
}

/// Runs the installer and waits for it (at most `spec.timeout_secs`).
/// A folder package (`zip`) is extracted first; `{dir}` is that folder.
pub fn run(spec: &InstallSpec, file: &Path, work: &Path) -> Result<Finished, NotRun> {
    let log = work.join("installer.log");
    let output = work.join("output.log");
    let mut dir = work.to_path_buf();
    if spec.framework == "zip" {
        dir = work.join("package");
        let _ = std::fs::remove_dir_all(&dir);
        extract_zip(file, &dir).map_err(|reason| NotRun { code: codes::INSTALLER_NOT_RUN, reason, log_tail: String::new() })?;
    }
    let command = fill(&spec.command, file, &log, &dir);
    let out = std::fs::File::create(&output).map_err(|e| NotRun { code: codes::INSTALLER_NOT_RUN, reason: format!("{}: {e}", output.display()), log_tail: String::new() })?;
    let err = out.try_clone().map_err(|e| NotRun { code: codes::INSTALLER_NOT_RUN, reason: e.to_string(), log_tail: String::new() })?;
    let mut cmd = shell(&command);
    cmd.current_dir(work).stdin(std::process::Stdio::null()).stdout(out).stderr(err).env("DEBIAN_FRONTEND", "noninteractive");
    tracing::info!(%command, "running installer");
    let mut child = cmd.spawn().map_err(|e| NotRun { code: codes::INSTALLER_NOT_RUN, reason: format!("インストーラーを起動できません: {e}"), log_tail: String::new() })?;
    let deadline = Instant::now() + Duration::from_secs(spec.timeout_secs);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotRun {
                    code: codes::TIMED_OUT,
                    reason: format!("インストーラーが {} 秒で終わりませんでした (timed out)", spec.timeout_secs),
                    log_tail: both_tails(&log, &output),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(NotRun { code: codes::INSTALLER_NOT_RUN, reason: e.to_string(), log_tail: both_tails(&log, &output) }),
        }
    };
    let exit_code = match status.code() {
        Some(c) => i64::from(c),
        // Killed by a signal (Unix): a failure code of its own.
        None => -1,
    };
    Ok(Finished { exit_code, log_tail: both_tails(&log, &output) })
}

fn both_tails(log: &Path, output: &Path) -> String {
    let (a, b) = (tail(log), tail(output));
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, _) => b,
        (false, true) => a,
        (false, false) => format!("{a}\n--- output ---\n{b}"),
    }
}

#[cfg(windows)]
fn shell(command: &str) -> std::process::Command {
    use std::os::windows::process::CommandExt;
    let mut c = std::process::Command::new("cmd.exe");
    // /s /c "..." keeps the command's own quotes; no window on the desktop.
    c.raw_arg(format!("/d /s /c \"{command}\""));
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    c.creation_flags(CREATE_NO_WINDOW);
    c
}

#[cfg(not(windows))]
fn shell(command: &str) -> std::process::Command {
    let mut c = std::process::Command::new("/bin/sh");
    c.arg("-c").arg(command);
    c
}

/// When the machine last started (ms since the epoch).
pub fn boot_time_ms() -> Option<i64> {
    #[cfg(windows)]
    {
        // SAFETY: GetTickCount64 has no preconditions.
        let up = unsafe { windows_sys::Win32::System::SystemInformation::GetTickCount64() };
        Some(crate::now_ms() - up as i64)
    }
    #[cfg(not(windows))]
    {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let secs: i64 = stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
        Some(secs * 1000)
    }
}

/// Why a reboot is pending, if one is: no package starts then, because
/// installers refuse or half-apply on a machine waiting to reboot.
pub fn reboot_pending() -> Option<String> {
    #[cfg(windows)]
    {
        use winreg::enums::*;
        let hklm = winreg::RegKey::predef(HKEY_LOCAL_MACHINE);
        let flags = KEY_READ | KEY_WOW64_64KEY;
        for key in [
            r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
            r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
        ] {
            if hklm.open_subkey_with_flags(key, flags).is_ok() {
                return Some(key.to_string());
            }
        }
        if let Ok(k) = hklm.open_subkey_with_flags(r"SYSTEM\CurrentControlSet\Control\Session Manager", flags) {
            if k.get_raw_value("PendingFileRenameOperations").is_ok_and(|v| v.bytes.len() > 4) {
                return Some("PendingFileRenameOperations".into());
            }
        }
        None
    }
    #[cfg(not(windows))]
    {
        // Debian's update-notifier convention; tests point it elsewhere.
        let flag = std::env::var_os("LANWARD_AGENT_REBOOT_FLAG").map(std::path::PathBuf::from).unwrap_or_else(|| "/run/reboot-required".into());
        flag.exists().then(|| flag.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_quoted_once() {
        let f = Path::new("/d/x y.deb");
        let cmd = fill("apt-get install -y \"{file}\" > {log} && sh \"{dir}/a b.sh\"", f, Path::new("/d/l.log"), Path::new("/d"));
        if cfg!(windows) {
            return;
        }
        assert_eq!(cmd, "apt-get install -y \"/d/x y.deb\" > '/d/l.log' && sh \"/d/a b.sh\"");
    }

    #[cfg(unix)]
    #[test]
    fn runs_captures_and_times_out() {
        let dir = tempfile::tempdir().expect("tmp");
        let spec = |command: &str, timeout_secs| InstallSpec {
            file_name: "x.sh".into(),
            framework: "shell".into(),
            command: command.into(),
            detection: None,
            exit_codes: Default::default(),
            timeout_secs,
        };
        let f = dir.path().join("x.sh");
        std::fs::write(&f, "echo 導入ログ; echo detail > \"$1\"; exit 3\n").expect("write");
        let done = run(&spec("/bin/sh {file} {log}", 30), &f, dir.path()).ok().expect("ran");
        assert_eq!(done.exit_code, 3);
        assert!(done.log_tail.contains("detail") && done.log_tail.contains("導入ログ"), "{}", done.log_tail);
        let slow = run(&spec("sleep 30", 1), &f, dir.path()).err().expect("timed out");
        assert_eq!(slow.code, codes::TIMED_OUT);
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_package_is_extracted_and_its_entry_script_runs_and_escapes_are_refused() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tmp");
        let zip_path = dir.path().join("folder.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).expect("zip"));
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("app/install.sh", opts).expect("entry");
        z.write_all(b"cat \"$(dirname \"$0\")/data.txt\"\n").expect("write");
        z.start_file("app/data.txt", opts).expect("entry");
        z.write_all("中身".as_bytes()).expect("write");
        z.finish().expect("finish");
        let spec = InstallSpec {
            file_name: "folder.zip".into(),
            framework: "zip".into(),
            command: "/bin/sh \"{dir}/app/install.sh\"".into(),
            detection: None,
            exit_codes: Default::default(),
            timeout_secs: 30,
        };
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("work");
        let done = run(&spec, &zip_path, &work).ok().expect("ran");
        assert_eq!(done.exit_code, 0);
        assert!(done.log_tail.contains("中身"), "{}", done.log_tail);

        let evil = dir.path().join("evil.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&evil).expect("zip"));
        z.start_file("../../escaped.txt", opts).expect("entry");
        z.write_all(b"x").expect("write");
        z.finish().expect("finish");
        let err = extract_zip(&evil, &dir.path().join("out")).expect_err("refused");
        assert!(err.contains("外"), "{err}");
        assert!(!dir.path().join("escaped.txt").exists());
    }
}
