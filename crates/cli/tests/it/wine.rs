//! The Windows agent for real: `lanward-agent.exe`, cross-built with mingw,
//! enrols with and reports to the real Linux server while running under
//! Wine in a fresh prefix seeded like a bureau PC (`tests/wine/seed.reg`).
//!
//! Needs wine64 and x86_64-w64-mingw32-gcc (`bash .ci/run` installs them).
//! Without them the test fails when `CI=true` and is skipped otherwise.

#[path = "../../../../tests/wine/harness.rs"]
mod harness;

use crate::support::*;
use harness::{windows_path, Tools, Wine};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEPARTMENT: &str = r"HKLM\SOFTWARE\Policies\Lanward\Test\Department";
const MISSING: &str = r"HKLM\SOFTWARE\Policies\Lanward\Test\Missing";

/// The target directory this test binary was built in
/// (`<target>/debug/deps/it-…`), so the nested build reuses it.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn step(start: Instant, what: &str) {
    eprintln!("[wine {:5.1} s] {what}", start.elapsed().as_secs_f64());
}

fn find<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array().expect("array").iter().find(|v| v["name"] == name)
}

/// The Wine tools, or `None` (test skipped) outside CI when they are
/// missing; in CI their absence fails the test.
fn tools_or_skip(test: &str, need_wixl: bool) -> Option<Tools> {
    let found = Tools::find().and_then(|t| {
        if need_wixl && !which("wixl") {
            Err("wixl not found (apt-get install wixl)".to_string())
        } else {
            Ok(t)
        }
    });
    match found {
        Ok(t) => Some(t),
        Err(e) if in_ci() => panic!("wine::{test} cannot run in CI: {e}"),
        Err(e) => {
            eprintln!("wine::{test} skipped: {e}");
            None
        }
    }
}

#[test]
fn windows_agent_under_wine_end_to_end() {
    let Some(tools) = tools_or_skip("windows_agent_under_wine_end_to_end", false) else { return };
    let start = Instant::now();
    let root = harness::workspace_root(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("scratch");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::create_dir_all(&bin).unwrap();

    // 1. The exe (a no-op when CI built it already) and the test-only shim.
    let built = harness::build_agent(&root, &target_dir(), false, &scratch).unwrap_or_else(|e| panic!("{e}"));
    let shim = harness::build_shim(&tools, &root, &bin).unwrap_or_else(|e| panic!("{e}"));
    let exe = harness::stage(&built, &shim, &bin).unwrap_or_else(|e| panic!("{e}"));
    let exe_arg = exe.to_str().expect("utf-8 temp path").to_string();
    step(start, "built lanward-agent.exe and bcryptprimitives.dll");

    // 2. A fresh prefix reporting Windows 10, seeded like a bureau PC.
    let wine = Wine::create(tools, tmp.path().join("prefix"), scratch.clone()).unwrap_or_else(|e| panic!("{e}"));
    step(start, "wineboot done");
    let seed = std::fs::read_to_string(harness::harness_dir(&root).join("seed.reg")).unwrap();
    wine.import_reg(&seed).unwrap_or_else(|e| panic!("{e}"));
    // Hostile Uninstall entries: a binary DisplayName, a 50,000-character
    // one, and one with a lone UTF-16 surrogate.
    let uninstall = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
    let hostile = format!(
        "Windows Registry Editor Version 5.00\n\n[{uninstall}\\LanwardBadType]\n\"DisplayName\"=hex:de,ad,be,ef\n\n\
         [{uninstall}\\LanwardHugeName]\n\"DisplayName\"=\"{}\"\n\"DisplayVersion\"=\"1.0\"\n\n\
         [{uninstall}\\LanwardGarbage]\n\"DisplayName\"=hex(1):41,00,00,d8,42,00,00,00\n",
        "長".repeat(50_000)
    );
    wine.import_reg(&hostile).unwrap_or_else(|e| panic!("{e}"));
    let sid = wine.user_sid().unwrap_or_else(|e| panic!("{e}"));
    step(start, &format!("registry seeded (user {sid})"));

    // 3. The real server, a token, and the agent's data directory with the
    //    administrator's collection config.
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HAISUI", "1h", 1);
    let data = tmp.path().join("agent-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("collect.json"), serde_json::json!({ "registry_values": [DEPARTMENT, MISSING] }).to_string()).unwrap();
    let data_arg = windows_path(&data);

    let agent = |args: &[&str], timeout_secs: u64| {
        let mut all = vec![exe_arg.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data", &data_arg]);
        let ran = wine.run(&all, Duration::from_secs(timeout_secs)).unwrap_or_else(|e| panic!("{e}"));
        assert!(ran.ok(), "lanward-agent.exe {args:?} under Wine: {}\n--- server log ---\n{}", ran.describe(), server_log(&server.data));
        assert!(!ran.stderr.contains("panicked"), "{}", ran.describe());
        ran
    };
    let enrolled = agent(&["enroll", "--server", &server.url, "--token", &token], 90);
    assert!(enrolled.stdout.contains("登録しました"), "{}", enrolled.describe());
    assert!(data.join("enrolment.json").is_file());
    step(start, "enrolled");
    agent(&["run", "--splay", "0", "--checkins", "1"], 120);
    step(start, "first check-in done");

    // 4. What the server stored, through its API.
    let assets = server.assets();
    assert_eq!(assets.len(), 1, "{assets:#?}");
    let a = &assets[0];
    let context = serde_json::to_string_pretty(a).unwrap();
    let ctx = |what: &str| format!("{what}\n--- asset ---\n{context}");
    assert_eq!(a["site"], "HAISUI");
    assert_eq!(a["kind"], "pc", "{}", ctx("a Windows 10 workstation is a pc"));
    // Wine's Tcpip\Parameters\Hostname is the Linux host name up to the first dot.
    let linux_host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let short = linux_host.trim().split('.').next().unwrap_or_default();
    assert!(a["hostname"].as_str().unwrap().eq_ignore_ascii_case(short), "{}", ctx("Wine reports the Linux host name"));

    // OS: WMI's caption, the registry's build numbers. Wine writes
    // CurrentBuild but no UBR; seed.reg adds one (1256) as real Windows has.
    let os = &a["os"];
    assert_eq!(os["family"], "windows", "{}", ctx("os.family"));
    assert_eq!(os["arch"], "x86_64", "{}", ctx("os.arch"));
    assert!(os["name"].as_str().unwrap().contains("Windows 10"), "{}", ctx("os.name"));
    let build = os["build"].as_str().unwrap();
    let (current_build, ubr) = build.split_once('.').unwrap_or_else(|| panic!("{}", ctx("os.build is CurrentBuild.UBR")));
    assert!(current_build.len() == 5 && current_build.bytes().all(|b| b.is_ascii_digit()), "{}", ctx("os.build"));
    assert_eq!(ubr, "1256", "{}", ctx("os.build's UBR"));
    assert_eq!(os["version"], format!("10.0.{current_build}").as_str(), "{}", ctx("os.version"));

    // Software from the three Uninstall sources, Japanese names intact.
    let software = &a["software"];
    let ichitaro = find(software, "一太郎 2024").unwrap_or_else(|| panic!("{}", ctx("一太郎 (HKLM)")));
    assert_eq!(ichitaro["source"], "hklm");
    assert_eq!(ichitaro["arch"], "x64");
    assert_eq!(ichitaro["version"], "34.0.1");
    assert_eq!(ichitaro["publisher"], "株式会社ジャストシステム");
    assert_eq!(ichitaro["product_code"], "{6D3F2A71-1C8B-4E0A-9B57-2A64F0C3D811}");
    let lhaplus = find(software, "Lhaplus").unwrap_or_else(|| panic!("{}", ctx("Lhaplus (WOW6432Node)")));
    assert_eq!(lhaplus["source"], "hklm-wow64");
    assert_eq!(lhaplus["arch"], "x86");
    let ime = find(software, "Google 日本語入力").unwrap_or_else(|| panic!("{}", ctx("Google 日本語入力 (HKCU)")));
    assert_eq!(ime["source"], format!("hku:{sid}").as_str());
    assert_eq!(ime["version"], "2.29.5370.100");
    // The hidden runtime is a system component, not an application; the
    // leftover key without DisplayName is nowhere.
    assert!(find(software, "Lanward テスト ランタイム").is_none(), "{}", ctx("system component listed as software"));
    let runtime = find(&a["system_components"], "Lanward テスト ランタイム").unwrap_or_else(|| panic!("{}", ctx("system_components")));
    assert_eq!(runtime["source"], "hklm");
    // Exactly what seed.reg holds (a fresh prefix without Mono and Gecko
    // has no Uninstall entries of its own).
    let names = |list: &Value| {
        let mut n: Vec<String> = list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap_or("").to_string()).collect();
        n.sort();
        n
    };
    let mut plain = names(software);
    plain.retain(|n| !n.starts_with('長') && n != "A\u{FFFD}B"); // the hostile entries, checked below
    assert_eq!(plain, ["Google 日本語入力", "Lhaplus", "一太郎 2024"], "{}", ctx("software"));
    assert_eq!(names(&a["system_components"]), ["Lanward テスト ランタイム"], "{}", ctx("system_components"));

    // Hotfixes from WMI: Wine's Win32_QuickFixEngineering has one row.
    let hotfixes = a["hotfixes"].as_array().unwrap();
    assert!(!hotfixes.is_empty(), "{}", ctx("hotfixes from Win32_QuickFixEngineering"));
    assert!(hotfixes.iter().all(|h| h["id"].as_str().is_some_and(|id| id.starts_with("KB"))), "{}", ctx("hotfix ids"));

    // Office Click-to-Run.
    let office = &a["office"];
    assert_eq!(office["version"], "16.0.14332.20763", "{}", ctx("office.version"));
    assert_eq!(office["channel"], "PerpetualVL2021", "{}", ctx("office.channel"));
    assert_eq!(office["platform"], "x64");
    assert_eq!(office["product_ids"], serde_json::json!(["Standard2021Volume"]));

    // Apex One from its registry keys (Smart Scan: the NonCrc pattern).
    let trend = a["antivirus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().is_some_and(|n| n.contains("Trend Micro")))
        .unwrap_or_else(|| panic!("{}", ctx("Trend Micro product")));
    assert_eq!(trend["source"], "registry");
    assert_eq!(trend["pattern_version"], "19.645.00", "{}", ctx("pattern"));
    assert_eq!(trend["product_version"], "14.0.12737");
    assert_eq!(trend["enabled"], true);

    // The registry values asked for in collect.json: one found, one not.
    let registry = a["registry"].as_array().unwrap();
    let dept = registry.iter().find(|r| r["name"] == "Department").unwrap_or_else(|| panic!("{}", ctx("registry Department")));
    assert_eq!(dept["key"], r"HKLM\SOFTWARE\Policies\Lanward\Test");
    assert_eq!(dept["value"], "配水課", "{}", ctx("registry value"));
    assert_eq!(dept["kind"], "REG_SZ");
    assert!(dept["error"].is_null());
    let missing = registry.iter().find(|r| r["name"] == "Missing").unwrap_or_else(|| panic!("{}", ctx("registry Missing")));
    assert!(missing["value"].is_null() && missing["error"].as_str().is_some_and(|e| e.contains("not found")), "{}", ctx("missing value"));

    // Wine has no Security Center: a note, not a failure.
    let notes = a["diagnostics"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n["collector"] == "antivirus" && n["message"].as_str().is_some_and(|m| m.contains("SecurityCenter2"))),
        "{}",
        ctx("diagnostics note about SecurityCenter2")
    );
    for section in ["os", "hardware", "storage", "network", "software", "hotfixes", "office", "antivirus", "registry", "diagnostics"] {
        assert!(a["sections"][section]["hash"].is_string(), "{}", ctx(&format!("section {section} was not received")));
    }
    // The hostile entries: kept where possible, each explained in a note.
    let note_about = |key: &str, what: &str| {
        notes.iter().any(|n| n["collector"] == "software" && n["message"].as_str().is_some_and(|m| m.contains(key) && m.contains(what)))
    };
    assert!(note_about("LanwardBadType", "REG_BINARY"), "{}", ctx("note about the binary DisplayName"));
    assert!(note_about("LanwardHugeName", "50000 characters"), "{}", ctx("note about the huge DisplayName"));
    assert!(note_about("LanwardGarbage", "invalid UTF-16"), "{}", ctx("note about the broken UTF-16"));
    let names: Vec<&str> = a["software"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with('長') && n.chars().count() == 1024), "{}", ctx("huge name cut to 1024 characters"));
    assert!(names.contains(&"A\u{FFFD}B"), "{}", ctx("broken UTF-16 kept with a replacement character"));
    assert!(a["hardware"]["cpu"]["cores"].as_u64().is_some_and(|c| c >= 1), "{}", ctx("hardware.cpu"));

    // 5. A second check-in (state.json and the queue on a Windows file
    //    system): nothing changed, so nothing is sent again.
    let id = a["id"].as_i64().unwrap();
    let before = server.get_json(&format!("/api/v1/assets/{id}"))["sections"]["software"]["received_at"].clone();
    agent(&["run", "--splay", "0", "--checkins", "1"], 120);
    let after = server.get_json(&format!("/api/v1/assets/{id}"));
    assert_eq!(after["sections"]["software"]["received_at"], before, "unchanged software was sent again");
    assert!(after["last_seen"].is_string());
    step(start, "second check-in done");
    drop(wine);
    step(start, "done");
}

fn server_log(data: &Path) -> String {
    std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
}

/// Builds the agent's MSI with wixl (as `packaging/windows/build-msi.sh`
/// does) around `exe`, as version `version`.
fn build_msi(root: &Path, exe: &Path, version: &str, out: &Path) {
    // wixl wants the source path relative to its working directory.
    let dir = exe.parent().expect("exe dir");
    let st = std::process::Command::new("wixl")
        .current_dir(dir)
        .args(["-a", "x64", "-D", &format!("Version={version}"), "-D", "AgentExe=lanward-agent.exe", "-o"])
        .arg(out)
        .arg(root.join("packaging/windows/lanward-agent.wxs"))
        .output()
        .expect("run wixl (apt-get install wixl)");
    assert!(st.status.success() && out.is_file(), "wixl failed: {}", String::from_utf8_lossy(&st.stderr));
}

/// The agent's MSI under Wine's msiexec: a silent install with SERVER and
/// TOKEN installs the agent and its enrolment preset and starts the
/// service, which enrols with the preset and reports; a newer MSI upgrades in place keeping the identity;
/// uninstall removes the program and keeps the data; PURGE=1 removes the
/// data too.
#[test]
fn agent_msi_installs_enrols_upgrades_and_uninstalls() {
    let Some(tools) = tools_or_skip("agent_msi_installs_enrols_upgrades_and_uninstalls", true) else { return };
    let start = Instant::now();
    let root = harness::workspace_root(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let (scratch, bin) = (tmp.path().join("scratch"), tmp.path().join("bin"));
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let built = harness::build_agent(&root, &target_dir(), false, &scratch).unwrap_or_else(|e| panic!("{e}"));
    let shim = harness::build_shim(&tools, &root, &scratch).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(&built, bin.join("lanward-agent.exe")).unwrap();
    let (msi1, msi2) = (tmp.path().join("lanward-agent-0.1.0.msi"), tmp.path().join("lanward-agent-0.1.1.msi"));
    build_msi(&root, &bin.join("lanward-agent.exe"), "0.1.0", &msi1);
    build_msi(&root, &bin.join("lanward-agent.exe"), "0.1.1", &msi2);
    step(start, "built two MSIs");

    let wine = Wine::create(tools, tmp.path().join("prefix"), scratch.clone()).unwrap_or_else(|e| panic!("{e}"));
    // The test-only shim goes to system32, where every Rust program finds
    // it; the MSI itself ships only the agent.
    std::fs::copy(&shim, tmp.path().join("prefix/drive_c/windows/system32/bcryptprimitives.dll")).unwrap();
    let mut keeper = wine.keep_alive().unwrap_or_else(|e| panic!("{e}"));
    step(start, "wineboot done");

    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 5);
    let install_dir = tmp.path().join("prefix/drive_c/Program Files/lanward");
    let data_dir = tmp.path().join("prefix/drive_c/ProgramData/lanward/agent");
    let msiexec = |args: &[&str]| {
        let ran = wine.run(&[&["msiexec"], args].concat(), Duration::from_secs(180)).unwrap_or_else(|e| panic!("{e}"));
        assert!(ran.ok(), "msiexec {args:?}: {}", ran.describe());
    };

    // 1. Silent install with the enrolment settings.
    let log = windows_path(&scratch.join("install.log"));
    msiexec(&["/i", &windows_path(&msi1), "/qn", &format!("SERVER={}", server.url), &format!("TOKEN={token}"), "/l*v", &log]);
    assert!(install_dir.join("lanward-agent.exe").is_file(), "installed to Program Files\\lanward");
    assert!(!install_dir.join("bcryptprimitives.dll").exists(), "the shim is not part of the product");
    // (MsiHiddenProperties keeps TOKEN out of the log on Windows; Wine's
    // msiexec ignores it, so that is not checked here.)
    step(start, "installed");

    // 2. The preset is in the registry; the service the MSI started enrols
    //    with it and reports at once.
    let preset = wine.run(&["reg", "query", r"HKLM\SOFTWARE\lanward\Agent"], Duration::from_secs(60)).unwrap();
    assert!(preset.ok() && preset.stdout.contains(&server.url), "MSI wrote the enrolment preset: {}", preset.describe());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.assets().iter().any(|a| a["os"]["family"] == "windows") {
        if Instant::now() > deadline {
            let agent_log = std::fs::read_to_string(data_dir.join("agent.log")).unwrap_or_else(|e| format!("(no agent.log: {e})"));
            panic!("the service did not enrol and report within 60 s\n--- agent.log ---\n{agent_log}\n--- server log ---\n{}", server_log(&server.data));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let assets = server.assets();
    let asset = assets.iter().find(|a| a["os"]["family"] == "windows").unwrap_or_else(|| panic!("no Windows asset: {assets:#?}"));
    assert_eq!(asset["site"], "HQ");
    assert!(data_dir.join("enrolment.json").is_file());
    let query = wine.run(&["reg", "query", r"HKLM\SOFTWARE\lanward\Agent", "/v", "EnrollToken"], Duration::from_secs(60)).unwrap();
    assert!(!query.ok() || !query.stdout.contains("lwt1."), "the agent deletes the token after enrolling: {}", query.describe());
    step(start, "the service enrolled from the preset and reported");

    // 3. A newer MSI upgrades in place: same agent, no second enrolment.
    msiexec(&["/i", &windows_path(&msi2), "/qn"]);
    assert!(install_dir.join("lanward-agent.exe").is_file());
    let agents = server.get_json("/api/v1/agents");
    assert_eq!(agents["agents"].as_array().unwrap().len(), 1, "the upgrade kept the agent's identity");
    step(start, "upgraded");

    // 4. Uninstall keeps the data; the service is gone.
    msiexec(&["/x", &windows_path(&msi2), "/qn"]);
    assert!(!install_dir.join("lanward-agent.exe").exists(), "program removed");
    let sc = wine.run(&["sc", "query", "lanward-agent"], Duration::from_secs(60)).unwrap();
    assert!(!sc.stdout.contains("SERVICE_NAME"), "the service is removed: {}", sc.describe());
    assert!(data_dir.join("enrolment.json").is_file(), "uninstall keeps the agent's data");
    step(start, "uninstalled, data kept");

    // 5. Reinstall (the kept identity is reused), then uninstall with PURGE=1.
    msiexec(&["/i", &windows_path(&msi1), "/qn"]);
    msiexec(&["/x", &windows_path(&msi1), "/qn", "PURGE=1"]);
    assert!(!data_dir.exists(), "PURGE=1 removes the agent's data");
    assert_eq!(server.get_json("/api/v1/agents")["agents"].as_array().unwrap().len(), 1);
    step(start, "purged");
    let _ = keeper.kill();
    let _ = keeper.wait();
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// The Windows service under Wine's service manager: install, start, the
/// service checks in by itself, stop (recorded in the local journal),
/// uninstall. Wine delivers no session, power or pre-shutdown
/// notifications, so those are not covered here.
#[test]
fn windows_service_under_wine_checks_in_and_stops() {
    let Some(tools) = tools_or_skip("windows_service_under_wine_checks_in_and_stops", false) else { return };
    let start = Instant::now();
    let root = harness::workspace_root(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let (scratch, bin) = (tmp.path().join("scratch"), tmp.path().join("bin"));
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let built = harness::build_agent(&root, &target_dir(), false, &scratch).unwrap_or_else(|e| panic!("{e}"));
    let shim = harness::build_shim(&tools, &root, &bin).unwrap_or_else(|e| panic!("{e}"));
    let exe = harness::stage(&built, &shim, &bin).unwrap_or_else(|e| panic!("{e}"));
    let exe_arg = windows_path(&exe);
    let wine = Wine::create(tools, tmp.path().join("prefix"), scratch.clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut keeper = wine.keep_alive().unwrap_or_else(|e| panic!("{e}"));
    step(start, "prefix ready");

    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("ORO", "1h", 2);
    let data = tmp.path().join("agent-data");
    let data_arg = windows_path(&data);
    let agent = |args: &[&str]| {
        let mut all = vec![exe_arg.as_str()];
        all.extend_from_slice(args);
        let ran = wine.run(&all, Duration::from_secs(90)).unwrap_or_else(|e| panic!("{e}"));
        assert!(ran.ok(), "lanward-agent.exe {args:?}: {}", ran.describe());
        ran
    };
    agent(&["enroll", "--server", &server.url, "--token", &token, "--data", &data_arg]);
    agent(&["service", "install", "--data", &data_arg]);
    agent(&["service", "start", "--data", &data_arg]);
    step(start, "service installed and started");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if server.assets().iter().any(|a| a["os"]["family"] == "windows" && a["last_seen"].is_string()) {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(data.join("agent.log")).unwrap_or_default();
            panic!("the service did not check in within 60 s\n--- agent.log ---\n{log}\n--- server log ---\n{}", server_log(&server.data));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    step(start, "service checked in");

    agent(&["service", "stop"]);
    let journal: String = std::fs::read_dir(data.join("events"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl")).map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect())
        .unwrap_or_default();
    assert!(journal.contains("service_start") && journal.contains("service_stop"), "journal: {journal}");
    agent(&["service", "uninstall"]);
    let sc = wine.run(&["sc", "query", "lanward-agent"], Duration::from_secs(30)).unwrap();
    assert!(!sc.stdout.contains("RUNNING"), "{}", sc.describe());
    let _ = keeper.kill();
    let _ = keeper.wait();
    step(start, "stopped, journaled and uninstalled");
}

/// The journal's events (every `DATA/events/*.jsonl` line).
fn journal_events(data: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("events"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().flat_map(|f| std::fs::read_to_string(f).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect::<Vec<Value>>()).collect()
}

/// The removable-drive watcher (`oplog/win_removable.rs`) for real: a
/// directory mapped as drive E: of Wine's removable type ("floppy" under
/// `HKLM\Software\Wine\Drives`, read when the prefix starts), files made,
/// written in bursts, renamed and deleted there from Linux (Wine's
/// ReadDirectoryChangesW sees them through inotify), and the journal of the
/// running agent holds one event per operation.
#[test]
fn removable_drive_file_operations_under_wine() {
    let Some(tools) = tools_or_skip("removable_drive_file_operations_under_wine", false) else { return };
    let start = Instant::now();
    let root = harness::workspace_root(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let (scratch, bin, stick) = (tmp.path().join("scratch"), tmp.path().join("bin"), tmp.path().join("stick"));
    for d in [&scratch, &bin, &stick] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(stick.join("古い資料.txt"), "old").unwrap();
    let built = harness::build_agent(&root, &target_dir(), false, &scratch).unwrap_or_else(|e| panic!("{e}"));
    let shim = harness::build_shim(&tools, &root, &bin).unwrap_or_else(|e| panic!("{e}"));
    let exe = harness::stage(&built, &shim, &bin).unwrap_or_else(|e| panic!("{e}"));
    let wine = Wine::create(tools, tmp.path().join("prefix"), scratch.clone()).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&stick, wine.prefix.join("dosdevices").join("e:")).unwrap();
    wine.import_reg("Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\Software\\Wine\\Drives]\n\"e:\"=\"floppy\"\n").unwrap_or_else(|e| panic!("{e}"));
    // keep_alive waits for the prefix to go idle: the drive type is read at the next start.
    let mut keeper = wine.keep_alive().unwrap_or_else(|e| panic!("{e}"));
    step(start, "prefix ready, E: is a removable drive");

    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("ORO", "1h", 1);
    let data = tmp.path().join("agent-data");
    let (exe_arg, data_arg) = (windows_path(&exe), windows_path(&data));
    let enrolled = wine.run(&[&exe_arg, "enroll", "--server", &server.url, "--token", &token, "--data", &data_arg], Duration::from_secs(90)).unwrap();
    assert!(enrolled.ok(), "{}", enrolled.describe());
    let log = scratch.join("agent-run.stderr");
    let mut agent = wine
        .command(&wine.tools.wine)
        .args([exe_arg.as_str(), "run", "--splay", "0", "--data", &data_arg])
        // Events stay in the journal to be read here (sent ones may be pruned).
        .env("LANWARD_AGENT_EVENTS_INTERVAL_SECS", "3600")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let wait_for = |what: &str, limit: Duration, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + limit;
        while !done() {
            if Instant::now() > deadline {
                panic!(
                    "{what} within {limit:?}\n--- agent stderr ---\n{}\n--- journal ---\n{:#?}",
                    std::fs::read_to_string(&log).unwrap_or_default(),
                    journal_events(&data)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for("the agent did not watch E:", Duration::from_secs(90), &|| std::fs::read_to_string(&log).is_ok_and(|l| l.contains("watching removable drive")));
    step(start, "agent watches E:");

    // A copy to the stick: created, then written in three chunks within the burst.
    std::fs::create_dir(stick.join("提出")).unwrap();
    // Wine adds its inotify watch for a new directory when it sees it.
    std::thread::sleep(Duration::from_secs(1));
    let copy = stick.join("提出").join("検針データ.xlsx");
    let mut f = std::fs::File::create(&copy).unwrap();
    for _ in 0..3 {
        std::io::Write::write_all(&mut f, &[7u8; 100_000]).unwrap();
        std::io::Write::flush(&mut f).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(f);
    std::fs::rename(stick.join("古い資料.txt"), stick.join("資料.txt")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(stick.join("資料.txt")).unwrap();

    let has = |kind: &str, path: &str| {
        journal_events(&data).into_iter().find(|e| e["kind"] == kind && e["detail"]["path"] == path)
    };
    wait_for("no file_create of the copied file", Duration::from_secs(30), &|| has("file_create", r"E:\提出\検針データ.xlsx").is_some());
    wait_for("no file_delete", Duration::from_secs(10), &|| has("file_delete", r"E:\資料.txt").is_some());
    let created = has("file_create", r"E:\提出\検針データ.xlsx").unwrap();
    assert_eq!(created["detail"]["size_bytes"], 300_000, "{created:#}");
    assert_eq!(created["detail"]["device_class"], "removable", "{created:#}");
    let events = journal_events(&data);
    let file_events: Vec<&Value> = events.iter().filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("file_"))).collect();
    // One create per copy: the three writes collapsed into it.
    assert!(!file_events.iter().any(|e| e["kind"] == "file_write" && e["detail"]["path"] == r"E:\提出\検針データ.xlsx"), "{file_events:#?}");
    assert!(file_events.iter().any(|e| e["kind"] == "file_create" && e["detail"]["path"] == r"E:\提出"), "the new directory: {file_events:#?}");
    let renamed = file_events.iter().find(|e| e["kind"] == "file_rename").unwrap_or_else(|| panic!("no file_rename: {file_events:#?}"));
    assert_eq!((renamed["detail"]["path"].as_str(), renamed["detail"]["target_path"].as_str()), (Some(r"E:\古い資料.txt"), Some(r"E:\資料.txt")), "{renamed:#}");
    step(start, "file operations on E: journalled");

    let _ = agent.kill();
    let _ = agent.wait();
    let _ = keeper.kill();
    let _ = keeper.wait();
    drop(wine);
}
