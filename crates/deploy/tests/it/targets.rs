use std::collections::HashMap;

use lanward_deploy::{Candidate, TargetError, TargetSpec};

fn c(id: i64, host: &str, site: &str, dept: &str, tags: &[&str], status: &str) -> Candidate {
    Candidate {
        asset_id: id,
        hostname: host.into(),
        site: site.into(),
        department: dept.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        kind: "pc".into(),
        status: status.into(),
    }
}

fn ledger() -> Vec<Candidate> {
    vec![
        c(1, "SUIDO-PC-0001", "HQ", "総務課", &["pilot"], "in_use"),
        c(2, "SUIDO-PC-0002", "HQ", "経理課", &[], "in_use"),
        c(3, "SUIDO-PC-0003", "KUN", "総務課", &[], "in_use"),
        c(4, "SUIDO-PC-0004", "KUN", "料金課", &["cad"], "spare"),
        c(5, "SUIDO-PC-0005", "ORO", "料金課", &["cad"], "retired"),
        c(6, "SUIDO-PC-0006", "ORO", "総務課", &[], "disposed"),
        c(7, "SUIDO-PC-0007", "ORO", "料金課", &["pilot"], "in_use"),
    ]
}

fn ids(r: &lanward_deploy::Resolved) -> Vec<i64> {
    r.targets.iter().map(|t| t.asset_id).collect()
}

#[test]
fn filters_narrow_each_other_and_hostnames_add() {
    let spec = TargetSpec {
        sites: vec!["HQ".into(), "KUN".into()],
        departments: vec!["総務課".into()],
        hostnames: vec!["suido-pc-0007".into()],
        ..Default::default()
    };
    let r = spec.resolve(&ledger(), &HashMap::new()).expect("resolves");
    // HQ∪KUN ∩ 総務課 = 1, 3; plus 7 named (case-insensitively).
    assert_eq!(ids(&r), vec![1, 3, 7]);
    assert!(r.unknown_hostnames.is_empty());
}

#[test]
fn retired_and_disposed_are_excluded_even_when_named() {
    let spec = TargetSpec {
        sites: vec!["ORO".into()],
        hostnames: vec!["SUIDO-PC-0005".into()],
        ..Default::default()
    };
    let r = spec.resolve(&ledger(), &HashMap::new()).expect("resolves");
    assert_eq!(ids(&r), vec![7]);
    assert_eq!(r.inactive_hostnames, vec!["SUIDO-PC-0005".to_string()]);
    assert!(
        r.unknown_hostnames.is_empty(),
        "a retired PC is known, not unknown"
    );
}

#[test]
fn duplicates_removed_and_unknown_hostnames_reported() {
    let spec = TargetSpec {
        tags: vec!["pilot".into()],
        hostnames: vec![
            "SUIDO-PC-0001".into(),
            "suido-pc-0001".into(),
            " SUIDO-PC-0999 ".into(),
            "SUIDO-PC-0002".into(),
            "SUIDO-PX-0003".into(),
        ],
        ..Default::default()
    };
    let r = spec.resolve(&ledger(), &HashMap::new()).expect("resolves");
    assert_eq!(
        ids(&r),
        vec![1, 2, 7],
        "PC-0001 tagged and named twice appears once"
    );
    assert_eq!(
        r.unknown_hostnames,
        vec!["SUIDO-PC-0999".to_string(), "SUIDO-PX-0003".to_string()]
    );
}

#[test]
fn saved_query_and_tags() {
    let mut q = HashMap::new();
    q.insert("Office2021が入っているPC".to_string(), vec![2, 3, 4, 5]);
    let spec = TargetSpec {
        query: Some("Office2021が入っているPC".into()),
        ..Default::default()
    };
    let r = spec.resolve(&ledger(), &q).expect("resolves");
    assert_eq!(ids(&r), vec![2, 3, 4], "5 is retired");
    let spec = TargetSpec {
        query: Some("Office2021が入っているPC".into()),
        tags: vec!["cad".into()],
        ..Default::default()
    };
    assert_eq!(
        ids(&spec.resolve(&ledger(), &q).expect("resolves")),
        vec![4]
    );
}

#[test]
fn empty_spec_and_unknown_query_are_errors() {
    assert_eq!(
        TargetSpec::default().resolve(&ledger(), &HashMap::new()),
        Err(TargetError::Empty)
    );
    let spec = TargetSpec {
        query: Some("なし".into()),
        ..Default::default()
    };
    let err = spec
        .resolve(&ledger(), &HashMap::new())
        .expect_err("unknown query");
    assert!(
        err.to_string().starts_with("保存済み検索 \"なし\""),
        "{err}"
    );
}
