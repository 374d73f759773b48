//! Software distribution end to end: `lanward package add` and `lanward
//! deploy create` through the real server, the real agent process
//! downloading, verifying and installing a real `.deb` and shell-script
//! packages on this machine, refusals (tampered manifest, failed installer,
//! installed-but-not-detected), and resume after the agent is killed
//! mid-download.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real agent process, enrolled at site HQ (the console tests use it too).
pub(crate) struct RunningAgent {
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl RunningAgent {
    pub(crate) fn enrol(server: &Server, dir: &Path) -> RunningAgent {
        let token = server.create_token("HQ", "1h", 5);
        let data = dir.join("agent");
        let out = agent(&["enroll", "--server", &server.url, "--token", &token], &data);
        assert!(out.status.success(), "enrol: {}", stderr(&out));
        let mut a = RunningAgent { data, log: dir.join("agent.log"), child: None };
        a.start();
        a
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("agent log");
        self.child = Some(
            Command::new(agent_bin())
                .args(["run", "--splay", "0", "--data"])
                .arg(&self.data)
                .env("LANWARD_LOG", "info")
                // Nothing on this test machine may look like a pending reboot.
                .env("LANWARD_AGENT_REBOOT_FLAG", self.data.join("no-reboot-flag"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start agent"),
        );
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn hostname_of_agent(server: &Server) -> String {
    let assets = server.assets();
    assets.iter().find(|a| a["agent_id"].is_string() || a["has_agent"] == true).or(assets.first()).and_then(|a| a["hostname"].as_str()).expect("the agent's asset").to_string()
}

fn create_deployment(server: &Server, package: &str, host: &str, extra: &[&str]) -> i64 {
    let mut args = vec!["deploy", "create", "--package", package, "--targets", host];
    args.extend_from_slice(extra);
    let out = server.cli_ok(&args);
    out.split_whitespace().nth(1).and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("deployment id in {out:?}"))
}

/// Waits until the only target settles; returns it.
fn settled_target(server: &Server, id: i64, agent: &RunningAgent, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let view = server.get_json(&format!("/api/v1/deployments/{id}"));
        let t = view["targets"][0].clone();
        let state = t["state"].as_str().unwrap_or("");
        if ["installed", "installed_pending_reboot", "failed", "not_applicable", "cancelled", "missed"].contains(&state) {
            return t;
        }
        assert!(Instant::now() < deadline, "deployment {id} stuck in {state}: {view}\nagent log:\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn write_package(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write package");
    p
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Builds a real Debian package with `dpkg-deb`: one data file of
/// `payload` random bytes (so the content spans several chunks).
fn build_deb(dir: &Path, name: &str, payload: usize) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    let share = root.join("usr/share").join(name);
    std::fs::create_dir_all(&share).unwrap();
    let data: Vec<u8> = (0..payload).map(|_| rand::random::<u8>()).collect();
    std::fs::write(share.join("payload.bin"), data).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: lanward tests <test@example.invalid>\nDescription: lanward distribution test package\n"),
    )
    .unwrap();
    let deb = dir.join(format!("{name}_1.0-1_all.deb"));
    // No compression: the random payload would not shrink, and gzip of 9 MB is slow in debug CI.
    let st = Command::new("dpkg-deb").args(["-Znone", "--root-owner-group", "--build"]).arg(&root).arg(&deb).stdout(Stdio::null()).status().expect("dpkg-deb");
    assert!(st.success());
    deb
}

#[test]
fn a_deb_is_installed_then_not_applicable_and_script_packages_report_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &["--deploy-poll", "1"]);
    let agent = RunningAgent::enrol(&server, tmp.path());
    let host = hostname_of_agent(&server);

    // A script package with its detection rule: installed, then detected.
    let mark = tmp.path().join("installed-mark");
    let ok = write_package(tmp.path(), "setup.sh", &format!("echo インストール中\necho done > '{}'\nexit 0\n", mark.display()));
    let out = server.cli_ok(&["package", "add", ok.to_str().unwrap(), "--name", "mark-tool", "--version", "1.0", "--detection", &format!("file:{}", mark.display())]);
    assert!(out.contains("shell") && out.contains("済み"), "recognised as a shell script and signed: {out}");
    let id = create_deployment(&server, "mark-tool", &host, &[]);
    let t = settled_target(&server, id, &agent, 90);
    assert_eq!(t["state"], "installed", "{t}\n{}", agent.log());
    assert!(mark.exists(), "the script ran on this machine");

    // The same package again: the detection rule finds it, nothing runs.
    std::fs::write(&mark, "before").unwrap();
    let id = create_deployment(&server, "mark-tool", &host, &[]);
    let t = settled_target(&server, id, &agent, 60);
    assert_eq!(t["state"], "not_applicable", "{t}");
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "before", "not run again");

    // An installer that fails: its exit code and the end of its output come back.
    let bad = write_package(tmp.path(), "broken.sh", "echo 'ディスクが足りません' >&2\nexit 7\n");
    server.cli_ok(&["package", "add", bad.to_str().unwrap(), "--name", "broken", "--version", "1.0", "--detection", "none"]);
    let id = create_deployment(&server, "broken", &host, &[]);
    let t = settled_target(&server, id, &agent, 60);
    assert_eq!((t["state"].as_str(), t["code"].as_i64()), (Some("failed"), Some(7)), "{t}");
    assert!(t["log_tail"].as_str().unwrap_or("").contains("ディスクが足りません"), "{t}");

    // Exit code 0 but the product is absent: a failure, not a success.
    let liar = write_package(tmp.path(), "liar.sh", "exit 0\n");
    let absent = tmp.path().join("never-created");
    server.cli_ok(&["package", "add", liar.to_str().unwrap(), "--name", "liar", "--version", "1.0", "--detection", &format!("file:{}", absent.display())]);
    let id = create_deployment(&server, "liar", &host, &[]);
    let t = settled_target(&server, id, &agent, 60);
    assert_eq!((t["state"].as_str(), t["code"].as_i64()), (Some("failed"), Some(lanward_proto::deploy::codes::NOT_DETECTED_AFTER_INSTALL as i64)), "{t}");

    // A manifest altered after signing (here: its command, in the server's
    // database) is refused by the agent, which says why.
    let evil = write_package(tmp.path(), "evil.sh", "exit 0\n");
    server.cli_ok(&["package", "add", evil.to_str().unwrap(), "--name", "evil", "--version", "1.0", "--detection", "none"]);
    let db = rusqlite::Connection::open(server.data.join("lanward.db")).unwrap();
    let changed = db
        .execute("UPDATE packages SET signed_manifest = replace(signed_manifest, '\"command\":\"/bin/sh', '\"command\":\"touch /tmp/pwned; /bin/sh') WHERE name = 'evil'", [])
        .unwrap();
    assert_eq!(changed, 1);
    let id = create_deployment(&server, "evil", &host, &[]);
    let t = settled_target(&server, id, &agent, 60);
    assert_eq!((t["state"].as_str(), t["code"].as_i64()), (Some("failed"), Some(lanward_proto::deploy::codes::MANIFEST_REFUSED as i64)), "{t}");
    assert!(t["reason"].as_str().unwrap_or("").contains("改ざん"), "{t}");

    // A replayed older manifest: once this PC has seen serial 2 of a
    // package, serial 1 (validly signed) is refused.
    let v2 = write_package(tmp.path(), "setup2.sh", &format!("echo v2 > '{}'\nexit 0\n", mark.display()));
    server.cli_ok(&["package", "add", v2.to_str().unwrap(), "--name", "mark-tool", "--version", "2.0", "--detection", "none"]);
    let id = create_deployment(&server, "mark-tool", &host, &["--version", "2.0"]);
    assert_eq!(settled_target(&server, id, &agent, 60)["state"], "installed");
    let id = create_deployment(&server, "mark-tool", &host, &["--version", "1.0"]);
    let t = settled_target(&server, id, &agent, 60);
    assert_eq!((t["state"].as_str(), t["code"].as_i64()), (Some("failed"), Some(lanward_proto::deploy::codes::MANIFEST_REFUSED as i64)), "{t}");
    assert!(t["reason"].as_str().unwrap_or("").contains("古い"), "rollback refused: {t}");

    // An exit code configured as "reboot" (Unix exit codes stop at 255, so
    // not 3010 here): installed, a reboot is needed. While a reboot is
    // pending, the next package downloads but does not start installing.
    let needs_reboot = write_package(tmp.path(), "kb.sh", "exit 100\n");
    server.cli_ok(&["package", "add", needs_reboot.to_str().unwrap(), "--name", "kb-update", "--version", "1.0", "--detection", "none", "--exit-codes", "100=reboot"]);
    let id = create_deployment(&server, "kb-update", &host, &[]);
    assert_eq!(settled_target(&server, id, &agent, 60)["state"], "installed_pending_reboot");
    let flag = agent.data.join("no-reboot-flag");
    std::fs::write(&flag, "").unwrap();
    let later = write_package(tmp.path(), "later.sh", "exit 0\n");
    server.cli_ok(&["package", "add", later.to_str().unwrap(), "--name", "later", "--version", "1.0", "--detection", "none"]);
    let id = create_deployment(&server, "later", &host, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.get_json(&format!("/api/v1/deployments/{id}"))["targets"][0]["state"] != "downloaded" {
        assert!(Instant::now() < deadline, "not downloaded: {}", agent.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(server.get_json(&format!("/api/v1/deployments/{id}"))["targets"][0]["state"], "downloaded", "waits for the reboot");
    std::fs::remove_file(&flag).unwrap();
    assert_eq!(settled_target(&server, id, &agent, 60)["state"], "installed");

    // Every administrative step is audited.
    let audit = server.get_json("/api/v1/audit?limit=1000");
    let actions: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"package.add") && actions.contains(&"deployment.create"), "{actions:?}");

    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root: installing a .deb needs it");
        eprintln!("skipped the .deb part: dpkg needs root");
        return;
    }
    // A real Debian package, installed by dpkg through the proposed command.
    let name = format!("lanward-test-{}", std::process::id());
    let deb = build_deb(tmp.path(), &name, 9 * 1024 * 1024);
    let out = server.cli_ok(&["package", "add", deb.to_str().unwrap(), "--name", &name, "--version", "1.0-1"]);
    assert!(out.contains(&format!("deb:{name}>=1.0-1")), "detection proposed from the control file: {out}");
    let id = create_deployment(&server, &name, &host, &[]);
    let t = settled_target(&server, id, &agent, 120);
    let installed = Command::new("dpkg-query").args(["-W", "-f", "${Status}", &name]).output().unwrap();
    let _ = Command::new("dpkg").args(["--purge", &name]).stdout(Stdio::null()).status();
    assert_eq!(t["state"], "installed", "{t}\n{}", agent.log());
    assert!(String::from_utf8_lossy(&installed.stdout).contains("install ok installed"));
    let size = std::fs::metadata(&deb).unwrap().len() as i64;
    assert!(t["server_bytes"].as_i64().unwrap_or(0) >= size, "WAN bytes recorded: {t}");
}

#[test]
fn a_download_killed_again_and_again_resumes_from_its_verified_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &["--deploy-poll", "1"]);
    let mut agent = RunningAgent::enrol(&server, tmp.path());
    let host = hostname_of_agent(&server);
    // 6 chunks of 4 MiB (the last one short), served at 8 MB/s to this site.
    let payload: Vec<u8> = (0..(22 * 1024 * 1024)).map(|_| rand::random::<u8>()).collect();
    let zip_dir = tmp.path().join("big");
    std::fs::create_dir_all(&zip_dir).unwrap();
    let mark = tmp.path().join("big-installed");
    let script = format!("#!/bin/sh\n# {}\necho ok > '{}'\n", "x".repeat(10), mark.display());
    let mut file = script.into_bytes();
    file.extend_from_slice(b"\nexit 0\n# ");
    // Binary tail after `exit`: the shell never reads it; it makes the package big.
    file.extend(payload.iter().map(|b| if *b == b'\n' || *b == 0 { b' ' } else { *b }));
    // Too big to be taken for a script: the operator says how to run it.
    let pkg = zip_dir.join("big.bin");
    std::fs::write(&pkg, &file).unwrap();
    let out = server.cli_ok(&["package", "add", pkg.to_str().unwrap(), "--name", "big", "--version", "1.0", "--command", "/bin/sh {file}", "--detection", &format!("file:{}", mark.display())]);
    assert!(out.contains("6 chunks") && out.contains("custom"), "{out}");
    let id = create_deployment(&server, "big", &host, &["--site-bandwidth", "8MB"]);

    // Kill the agent three times while it downloads.
    let mut interruptions = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while interruptions < 3 && Instant::now() < deadline {
        let view = server.get_json(&format!("/api/v1/deployments/{id}"));
        let t = &view["targets"][0];
        if t["state"] == "downloading" && t["percent"].as_u64().unwrap_or(0) > 0 {
            agent.kill();
            interruptions += 1;
            std::thread::sleep(Duration::from_millis(300));
            agent.start();
            // Let it fetch at least another chunk before the next kill.
            std::thread::sleep(Duration::from_millis(900));
        } else if t["state"] != "downloading" && t["state"] != "queued" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = settled_target(&server, id, &agent, 180);
    assert_eq!(t["state"], "installed", "{t}\n{}", agent.log());
    assert!(mark.exists());
    assert!(interruptions >= 1, "the download was interrupted at least once");
    // What crossed the "WAN": the package once, plus at most one chunk per
    // interruption (the one in flight when the agent died).
    let size = file.len() as i64;
    let wan = t["server_bytes"].as_i64().unwrap_or(0);
    let chunk = 4 * 1024 * 1024;
    eprintln!("WAN bytes {wan} for {size} bytes, {interruptions} interruptions");
    assert!(wan >= size && wan <= size + chunk * interruptions, "WAN bytes {wan} for a {size}-byte package and {interruptions} interruptions");
}

#[test]
fn an_office_ltsc_package_per_department_and_the_campaign_progress_from_reported_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    // Simulated bureau PCs report their Office LTSC 2021 builds.
    let token = server.create_token("HQ", "1h", 20);
    let out = Command::new(agent_bin())
        .args(["simulate", "--server", &server.url, "--token", &token, "--count", "6", "--interval", "1", "--duration", "3"])
        .env("LANWARD_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // ODT's setup.exe stands in as any file: lanward packs it, it does not run it here.
    let odt = write_package(tmp.path(), "setup.exe", "MZ stand-in for the Office Deployment Tool");
    let zip = tmp.path().join("somu.zip");
    server.cli_ok(&["package", "office", "--odt", odt.to_str().unwrap(), "--name", "office-ltsc-2024-somu", "--department", "総務課 & \"調達\"", "--target-version", "16.0.17932.20162", "--update-path", "\\\\kun-cache\\office", "--remove-ltsc2021", "--out", zip.to_str().unwrap()]);
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("configuration.xml").unwrap(), &mut xml).unwrap();
    assert!(xml.contains("PerpetualVL2024") && xml.contains("16.0.17932.20162") && xml.contains("ProPlus2021Volume"), "{xml}");
    assert!(xml.contains("総務課 &amp; &quot;調達&quot;"), "department escaped: {xml}");
    assert!(archive.by_name("install.cmd").is_ok() && archive.by_name("setup.exe").is_ok());

    let out = server.cli_ok(&["package", "office", "--odt", odt.to_str().unwrap(), "--name", "office-ltsc-2024-somu", "--department", "総務課", "--target-version", "16.0.17932.20162"]);
    assert!(out.contains("install.cmd") && out.contains("VersionToReport>=16.0.17932.20162"), "folder package with its entry script and detection: {out}");
    let bad = server.cli(&["package", "office", "--odt", odt.to_str().unwrap(), "--name", "x", "--department", "総務課", "--target-version", "16.0.latest"]);
    assert!(!bad.status.success() && stderr(&bad).contains("target_version"), "{}", stderr(&bad));

    // Progress of the upgrade campaign: every simulated PC is behind the LTSC 2024 target.
    let p = server.get_json("/api/v1/office/progress?target=16.0.17932.20162");
    assert_eq!(p["total"], 6, "{p}");
    assert_eq!((p["behind"].as_u64(), p["current"].as_u64()), (Some(6), Some(0)), "{p}");
    // Against the LTSC 2021 build most of them run, most are current.
    let p = server.get_json("/api/v1/office/progress?target=16.0.14332.20763");
    assert!(p["current"].as_u64().unwrap() >= 1 && p["current"].as_u64().unwrap() + p["behind"].as_u64().unwrap() == 6, "{p}");
    let out = server.cli_ok(&["deploy", "office-progress", "--target", "16.0.17932.20162"]);
    assert!(out.contains("古い版"), "{out}");
}

#[test]
fn bad_packages_and_plans_get_clear_errors_before_anything_reaches_a_pc() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let _agent = RunningAgent::enrol(&server, tmp.path());
    let host = hostname_of_agent(&server);
    let fails = |args: &[&str], needle: &str| {
        let out = server.cli(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    };
    // A truncated MSI (a compound file cut short) and a file of no known type.
    let msi = write_package(tmp.path(), "cut.msi", "\u{d0}\u{cf}\u{11}\u{e0}");
    std::fs::write(&msi, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0, 0]).unwrap();
    fails(&["package", "add", msi.to_str().unwrap(), "--name", "cut", "--version", "1"], "cut.msi");
    let blob = write_package(tmp.path(), "data.xyz", "no magic here");
    fails(&["package", "add", blob.to_str().unwrap(), "--name", "blob", "--version", "1"], "data.xyz");
    let empty = write_package(tmp.path(), "empty.sh", "");
    fails(&["package", "add", empty.to_str().unwrap(), "--name", "empty", "--version", "1"], "空");
    // A detection rule that does not parse names the character.
    let ok = write_package(tmp.path(), "ok.sh", "exit 0\n");
    fails(&["package", "add", ok.to_str().unwrap(), "--name", "ok", "--version", "1", "--detection", "msi:not-a-guid"], "detection");
    fails(&["package", "add", ok.to_str().unwrap(), "--name", "bad name!", "--version", "1"], "package");
    server.cli_ok(&["package", "add", ok.to_str().unwrap(), "--name", "ok", "--version", "1"]);
    fails(&["package", "add", ok.to_str().unwrap(), "--name", "ok", "--version", "1"], "409");
    // Windows that never open, unknown PCs, a deadline in the past.
    fails(&["deploy", "create", "--package", "ok", "--targets", &host, "--window", "0 12 31 2 * for 60"], "windows");
    fails(&["deploy", "create", "--package", "ok", "--targets", &host, "--window", "61 12 * * * for 60"], "windows");
    fails(&["deploy", "create", "--package", "ok", "--targets", &host, "--window", "mon-fri 25:00-26:00"], "windows");
    fails(&["deploy", "create", "--package", "ok", "--targets", "NO-SUCH-PC"], "NO-SUCH-PC");
    fails(&["deploy", "create", "--package", "ok", "--targets", &host, "--deadline", "2020-01-01 00:00"], "deadline");
    fails(&["deploy", "create", "--package", "nothing", "--targets", &host], "nothing");
    // None of it made a deployment.
    assert_eq!(server.get_json("/api/v1/deployments")["deployments"].as_array().map(Vec::len), Some(0));
}
