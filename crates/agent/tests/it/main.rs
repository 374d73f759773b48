//! The agent binary on this machine.

use std::process::Command;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lanward-agent"))
}

#[test]
fn collect_prints_a_valid_inventory_of_this_machine() {
    let out = agent().arg("collect").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in ["os", "hardware", "storage", "network", "software", "diagnostics"] {
        let json = serde_json::to_string(&inv[name]).unwrap();
        lanward_proto::validate_section(name, &json).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(inv["os"]["family"], "linux");
    assert!(inv["hardware"]["cpu"]["threads"].as_u64().unwrap() >= 1);
    assert!(!inv["storage"]["volumes"].as_array().unwrap().is_empty(), "at least the root filesystem");
    assert!(inv["software"].as_array().unwrap().len() > 10);
}

#[test]
fn service_unit_runs_the_agent() {
    let out = agent().args(["service-unit", "--data", "/var/lib/lanward-agent"]).output().unwrap();
    let unit = String::from_utf8(out.stdout).unwrap();
    assert!(unit.contains("ExecStart=") && unit.contains(" run --data /var/lib/lanward-agent"), "{unit}");
    assert!(unit.contains("Restart=always"));
}

#[test]
fn run_without_enrolment_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent().args(["run", "--data"]).arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("enroll"), "{}", String::from_utf8_lossy(&out.stderr));
}
