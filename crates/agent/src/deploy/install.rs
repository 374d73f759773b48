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

/// Fills `{file}`, `{log}` and `{dir}`. Placeholders inside quotes in the
/// command (`"{file}"`) get the bare path; elsewhere a quoted one.
pub fn fill(command: &str, file: &Path, log: &Path, dir: &Path) -> String {
    let mut out = command.to_string();
    for (ph, p) in [("{file}", file), ("{log}", log), ("{dir}", dir)] {
        out = out.replace(&format!("\"{ph}\""), &format!("\"{}\"", p.display()));
        out = out.replace(ph, &quote(p));
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

/// Runs the installer and waits for it (at most `spec.timeout_secs`).
pub fn run(spec: &InstallSpec, file: &Path, work: &Path) -> Result<Finished, NotRun> {
    let log = work.join("installer.log");
    let output = work.join("output.log");
    let command = fill(&spec.command, file, &log, work);
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
        let cmd = fill("apt-get install -y \"{file}\" > {log}", f, Path::new("/d/l.log"), Path::new("/d"));
        if cfg!(windows) {
            return;
        }
        assert_eq!(cmd, "apt-get install -y \"/d/x y.deb\" > '/d/l.log'");
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
}
