use lanward_store::*;

fn token(store: &dyn Store, id: &str, site: &str, expires_at_ms: i64, max_uses: u32) {
    store
        .create_enrollment_token(&NewEnrollmentToken {
            id: id.into(),
            secret_hash: format!("hash-{id}"),
            site: site.into(),
            created_at_ms: 1,
            expires_at_ms,
            max_uses,
            created_by: "admin".into(),
        })
        .unwrap();
}

fn enroll(store: &dyn Store, token_id: &str, secret: &str, agent: &str, now: i64) -> EnrollOutcome {
    store
        .enroll_agent(&EnrollAgent {
            token_id: token_id.into(),
            secret_hash: secret.into(),
            agent_id: agent.into(),
            public_key: vec![7; 32],
            hostname: format!("host-{agent}"),
            os_family: "windows".into(),
            serial: None,
            macs: vec![],
            now_ms: now,
        })
        .unwrap()
}

fn enroll_machine(store: &dyn Store, agent: &str, hostname: &str, serial: Option<&str>, macs: &[&str]) -> EnrollOutcome {
    store
        .enroll_agent(&EnrollAgent {
            token_id: "m".into(),
            secret_hash: "hash-m".into(),
            agent_id: agent.into(),
            public_key: vec![7; 32],
            hostname: hostname.into(),
            os_family: "windows".into(),
            serial: serial.map(Into::into),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            now_ms: 100,
        })
        .unwrap()
}

fn create(store: &dyn Store, hostname: &str, kind: &str, fields: &[(&str, &str)]) -> i64 {
    let fields = fields.iter().map(|(f, v)| FieldChange { field: f.to_string(), value: Some(v.to_string()) }).collect();
    store.apply_ledger(&[LedgerWrite::Create { hostname: hostname.into(), kind: kind.into(), site: "HQ".into(), fields }], "user:op", 50).unwrap()[0].0
}

fn section(name: &str, hash: &str, json: &str) -> SectionWrite {
    SectionWrite { name: name.into(), hash: hash.into(), json: json.into() }
}

fn checkin(agent: &str, collected: i64, sections: Vec<SectionWrite>) -> CheckinWrite {
    CheckinWrite {
        agent_id: agent.into(),
        received_at_ms: collected + 5,
        collected_at_ms: collected,
        hostname: Some(format!("NEW-{agent}")),
        kind: Some("pc".into()),
        os_name: None,
        os_version: None,
        serial: None,
        macs: None,
        ips: None,
        neighbors: None,
        sections,
        gaps: vec![],
    }
}

pub fn enrolment_rules(store: &dyn Store) {
    token(store, "t1", "HQ", 1_000, 2);
    assert_eq!(enroll(store, "nope", "hash-t1", "a0", 10), EnrollOutcome::UnknownToken);
    assert_eq!(enroll(store, "t1", "hash-forged", "a0", 10), EnrollOutcome::WrongSecret);
    assert_eq!(enroll(store, "t1", "hash-t1", "a0", 1_000), EnrollOutcome::Expired);
    assert!(matches!(enroll(store, "t1", "hash-t1", "a1", 10), EnrollOutcome::Enrolled { ref site, .. } if site == "HQ"));
    assert!(matches!(enroll(store, "t1", "hash-t1", "a2", 10), EnrollOutcome::Enrolled { .. }));
    assert_eq!(enroll(store, "t1", "hash-t1", "a3", 10), EnrollOutcome::UsedUp);
    // Refused enrolments wrote nothing.
    let agents = store.agents().unwrap();
    assert_eq!(agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    assert_eq!(store.list_assets(&AssetQuery { limit: 10, ..Default::default() }).unwrap().1, 2);
    assert_eq!(store.enrollment_tokens().unwrap()[0].uses, 2);
}

pub fn checkin_upsert_and_ordering(store: &dyn Store) {
    token(store, "t", "KUN", i64::MAX, 10);
    enroll(store, "t", "hash-t", "a", 1);
    let out = store.apply_checkins(&[checkin("a", 100, vec![section("os", "h1", r#"{"v":1}"#), section("software", "s1", "[]")])]).unwrap();
    assert_eq!(out, vec![CheckinOutcome::Stored]);
    // Newer content replaces; an older, late-arriving report does not.
    store.apply_checkins(&[checkin("a", 200, vec![section("os", "h2", r#"{"v":2}"#)])]).unwrap();
    store.apply_checkins(&[checkin("a", 150, vec![section("os", "hOld", r#"{"v":0}"#)])]).unwrap();
    let (assets, _) = store.list_assets(&AssetQuery { limit: 10, with_sections: true, ..Default::default() }).unwrap();
    let a = &assets[0];
    assert_eq!(a.hostname, "NEW-a");
    assert_eq!(a.last_seen_ms, Some(205));
    let os = a.sections.iter().find(|s| s.name == "os").unwrap();
    assert_eq!((os.hash.as_str(), os.json.as_str()), ("h2", r#"{"v":2}"#));
    let mut hashes = store.section_hashes().unwrap();
    hashes.sort();
    assert_eq!(hashes, vec![("a".into(), "os".into(), "h2".into()), ("a".into(), "software".into(), "s1".into())]);
    let got = store.get_asset(a.id).unwrap().unwrap();
    assert_eq!(got.sections.len(), 2);
    // Two check-ins of one agent in one batch: the later collection wins,
    // whatever the order in the batch.
    let out = store
        .apply_checkins(&[checkin("a", 260, vec![section("os", "h4", r#"{"v":4}"#)]), checkin("a", 250, vec![section("os", "h3", r#"{"v":3}"#)])])
        .unwrap();
    assert_eq!(out, vec![CheckinOutcome::Stored, CheckinOutcome::Stored]);
    let got = store.get_asset(a.id).unwrap().unwrap();
    assert_eq!(got.sections.iter().find(|s| s.name == "os").unwrap().hash, "h4");
    assert_eq!(got.last_seen_ms, Some(265));
    assert!(store.get_asset(a.id + 1000).unwrap().is_none());
    // Large content round-trips through compression.
    let big = format!("[{}]", (0..5000).map(|i| format!("{{\"name\":\"アプリ{i}\"}}")).collect::<Vec<_>>().join(","));
    store.apply_checkins(&[checkin("a", 300, vec![section("software", "s2", &big)])]).unwrap();
    let got = store.get_asset(a.id).unwrap().unwrap();
    assert_eq!(got.sections.iter().find(|s| s.name == "software").unwrap().json, big);
}

pub fn revoked_agent_writes_nothing(store: &dyn Store) {
    token(store, "t", "HQ", i64::MAX, 10);
    enroll(store, "t", "hash-t", "good", 1);
    enroll(store, "t", "hash-t", "bad", 1);
    assert!(store.revoke_agent("bad", 50).unwrap());
    assert!(!store.revoke_agent("missing", 50).unwrap());
    let out = store
        .apply_checkins(&[
            checkin("bad", 100, vec![section("os", "x", "{}")]),
            checkin("good", 100, vec![section("os", "y", "{}")]),
            checkin("unknown", 100, vec![section("os", "z", "{}")]),
        ])
        .unwrap();
    assert_eq!(out, vec![CheckinOutcome::Refused, CheckinOutcome::Stored, CheckinOutcome::Refused]);
    let hashes = store.section_hashes().unwrap();
    assert_eq!(hashes, vec![("good".into(), "os".into(), "y".into())]);
    store.touch_agents(&[("bad".into(), 999)]).unwrap();
    let bad = store.agents().unwrap().into_iter().find(|a| a.id == "bad").unwrap();
    assert_eq!((bad.revoked_at_ms, bad.last_seen_ms), (Some(50), None));
}

pub fn assets_listing_and_filters(store: &dyn Store) {
    token(store, "hq", "HQ", i64::MAX, 100);
    token(store, "kun", "KUN", i64::MAX, 100);
    for i in 0..7 {
        enroll(store, if i % 2 == 0 { "hq" } else { "kun" }, if i % 2 == 0 { "hash-hq" } else { "hash-kun" }, &format!("a{i}"), i);
    }
    let page = |site: Option<&str>, host: Option<&str>, limit, offset| {
        store
            .list_assets(&AssetQuery { site: site.map(Into::into), text: host.map(Into::into), limit, offset, ..Default::default() })
            .unwrap()
    };
    let (all, total) = page(None, None, 100, 0);
    assert_eq!((all.len(), total), (7, 7));
    let (p2, total) = page(None, None, 3, 3);
    assert_eq!((p2.len(), total), (3, 7));
    assert_eq!(p2[0].id, all[3].id);
    assert_eq!(page(Some("KUN"), None, 100, 0).1, 3);
    assert_eq!(page(None, Some("host-a6"), 100, 0).1, 1);
    // LIKE wildcards in the search text are literal.
    assert_eq!(page(None, Some("%"), 100, 0).1, 0);
    store.touch_agents(&[("a1".into(), 4242)]).unwrap();
    let a1 = page(None, Some("host-a1"), 100, 0).0.remove(0);
    assert_eq!((a1.last_seen_ms, a1.agent_id.as_deref(), a1.kind.as_str()), (Some(4242), Some("a1"), "pc"));
}

pub fn users_tokens_and_audit_chain(store: &dyn Store) {
    let uid = store
        .create_user(&NewUser { username: "admin".into(), display_name: "管理者".into(), password_hash: "$argon2id$x".into(), role: "administrator".into(), created_at_ms: 1 })
        .unwrap();
    assert!(matches!(
        store.create_user(&NewUser { username: "admin".into(), display_name: "x".into(), password_hash: "y".into(), role: "operator".into(), created_at_ms: 1 }),
        Err(StoreError::Conflict(_))
    ));
    store.create_api_token(&NewApiToken { user_id: uid, name: "t".into(), token_hash: "abc".into(), created_at_ms: 1, expires_at_ms: None }).unwrap();
    assert_eq!(store.api_token_user("abc").unwrap().unwrap().username, "admin");
    assert!(store.api_token_user("abd").unwrap().is_none());
    // Tokens people make expire and can be revoked.
    let hash = "0123456789abcdef0123456789abcdef";
    store.create_api_token(&NewApiToken { user_id: uid, name: "script".into(), token_hash: hash.into(), created_at_ms: 1, expires_at_ms: Some(now_ms() + 60_000) }).unwrap();
    store.create_api_token(&NewApiToken { user_id: uid, name: "old".into(), token_hash: "ffff".into(), created_at_ms: 1, expires_at_ms: Some(now_ms() - 1) }).unwrap();
    assert!(store.api_token_user(hash).unwrap().is_some());
    assert!(store.api_token_user("ffff").unwrap().is_none(), "expired");
    assert!(!store.revoke_api_token("0123456789ab", Some(uid + 1), 5).unwrap(), "not the owner's");
    assert!(store.revoke_api_token("0123456789AB", Some(uid), 5).unwrap());
    assert!(store.api_token_user(hash).unwrap().is_none(), "revoked");
    let mut listed = store.api_tokens(Some(uid)).unwrap();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed.iter().map(|t| (t.name.as_str(), t.revoked_at_ms)).collect::<Vec<_>>(), [("old", None), ("script", Some(5)), ("t", None)]);
    assert_eq!(store.user_by_name("admin").unwrap().unwrap().display_name, "管理者");
    let users = store.users().unwrap();
    assert_eq!(users.iter().map(|u| (u.username.as_str(), u.role.as_str())).collect::<Vec<_>>(), [("admin", "administrator")]);
    for i in 0..5 {
        store.append_audit(&NewAuditEntry { actor: "user:admin".into(), action: "agent.revoke".into(), target: format!("agent:{i}"), source: "10.1.90.5".into(), detail: "理由".into() }).unwrap();
    }
    let entries = store.audit_entries(100).unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert!(verify_audit_chain(&entries).is_ok());
    let mut tampered = entries.clone();
    tampered[2].target = "agent:other".into();
    assert_eq!(verify_audit_chain(&tampered), Err(3));
    let mut removed = entries.clone();
    removed.remove(1);
    assert_eq!(verify_audit_chain(&removed), Err(3));
    assert_eq!(store.audit_entries(2).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
}

pub fn gaps_are_recorded(store: &dyn Store) {
    token(store, "t", "HQ", i64::MAX, 10);
    enroll(store, "t", "hash-t", "a", 1);
    let mut w = checkin("a", 100, vec![]);
    w.gaps.push(GapWrite { dropped_items: 12, dropped_bytes: 3400, first_dropped_at_ms: 10, last_dropped_at_ms: 90 });
    store.apply_checkins(&[w]).unwrap();
    let gaps = store.queue_gaps("a").unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].dropped_items, gaps[0].dropped_bytes, gaps[0].received_at_ms), (12, 3400, 105));
}

/// Data written before a reopen is there after it, and reopening (which
/// runs the migrations again) changes nothing.
pub fn survives_reopen(store: &dyn Store, reopen: &dyn Fn() -> Box<dyn Store>) {
    token(store, "t", "HQ", i64::MAX, 10);
    enroll(store, "t", "hash-t", "a", 1);
    store.apply_checkins(&[checkin("a", 100, vec![section("os", "h", r#"{"x":"値"}"#)])]).unwrap();
    let again = reopen();
    assert_eq!(again.agents().unwrap().len(), 1);
    assert_eq!(again.section_hashes().unwrap(), vec![("a".into(), "os".into(), "h".into())]);
}

pub fn ledger_fields_and_history(store: &dyn Store) {
    token(store, "t", "HQ", i64::MAX, 10);
    enroll(store, "t", "hash-t", "a", 1);
    let id = store.agents().unwrap()[0].asset_id;
    let set = |field: &str, value: Option<&str>| FieldChange { field: field.into(), value: value.map(Into::into) };
    let done = store.set_asset_fields(id, &[set("department", Some("配水課")), set("room", Some("3F-301"))], "user:admin", 100).unwrap();
    assert_eq!(done.len(), 2);
    // Setting the same value again is not a change; clearing one is.
    let done = store.set_asset_fields(id, &[set("department", Some("配水課")), set("room", None), set("status", Some("repair"))], "user:hanako", 200).unwrap();
    assert_eq!(done.iter().map(|h| h.field.as_str()).collect::<Vec<_>>(), ["room", "status"]);
    let history = store.asset_history(id).unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(
        history[2],
        HistoryRecord { asset_id: id, field: "room".into(), old_value: Some("3F-301".into()), new_value: None, actor: "user:hanako".into(), at_ms: 200 }
    );
    let asset = store.get_asset(id).unwrap().unwrap();
    assert_eq!(asset.fields.get("department").map(String::as_str), Some("配水課"));
    assert!(!asset.fields.contains_key("room"));
    let (listed, _) = store.list_assets(&AssetQuery { limit: 10, with_sections: true, ..Default::default() }).unwrap();
    assert_eq!(listed[0].fields.get("status").map(String::as_str), Some("repair"));
    assert!(matches!(store.set_asset_fields(id + 99, &[set("room", Some("x"))], "user:admin", 1), Err(StoreError::NotFound(_))));
}

/// The matching rule: serial (taking over from a reinstalled PC's agent),
/// then MAC, then hostname, the last two only for assets without an agent.
pub fn agents_match_ledger_assets(store: &dyn Store) {
    token(store, "m", "HQ", i64::MAX, 100);
    let by_serial = create(store, "SUIDO-PC-0001", "pc", &[("department", "配水課")]);
    store.apply_ledger(&[LedgerWrite::Update { asset_id: by_serial, changes: vec![FieldChange { field: "serial".into(), value: Some("JP1234ABC".into()) }] }], "user:op", 60).unwrap();
    let by_mac = create(store, "SUIDO-PC-0002", "pc", &[("mac_addresses", "00:1B:21:AA:BB:02")]);
    let by_name = create(store, "SUIDO-PC-0003", "pc", &[]);
    let printer = create(store, "SUIDO-PRN-01", "printer", &[("mac_addresses", "00:1B:21:AA:BB:99")]);

    // Serial wins over a hostname that names another asset.
    let out = enroll_machine(store, "s1", "SUIDO-PC-0003", Some("JP1234ABC"), &[]);
    assert!(matches!(out, EnrollOutcome::Enrolled { asset_id, matched_by: Some("serial"), superseded_agent: None, .. } if asset_id == by_serial), "{out:?}");
    // MAC, case-insensitive hostname.
    let out = enroll_machine(store, "m1", "whatever", None, &["00:1B:21:AA:BB:02"]);
    assert!(matches!(out, EnrollOutcome::Enrolled { asset_id, matched_by: Some("mac"), .. } if asset_id == by_mac), "{out:?}");
    let out = enroll_machine(store, "h1", "suido-pc-0003", Some("To be filled by O.E.M."), &[]);
    assert!(matches!(out, EnrollOutcome::Enrolled { asset_id, matched_by: Some("hostname"), .. } if asset_id == by_name), "{out:?}");
    // A second agent with the same hostname does not take an asset that has one.
    let out = enroll_machine(store, "h2", "SUIDO-PC-0003", None, &[]);
    assert!(matches!(out, EnrollOutcome::Enrolled { asset_id, matched_by: None, .. } if asset_id != by_name), "{out:?}");
    // The reinstalled PC (same serial) supersedes its old agent.
    let out = enroll_machine(store, "s2", "SUIDO-PC-0001", Some("JP1234ABC"), &[]);
    assert!(matches!(out, EnrollOutcome::Enrolled { asset_id, matched_by: Some("serial"), superseded_agent: Some(ref old), .. } if asset_id == by_serial && old == "s1"), "{out:?}");
    let agents = store.agents().unwrap();
    assert!(agents.iter().find(|a| a.id == "s1").unwrap().revoked_at_ms.is_some());
    let a = store.get_asset(by_serial).unwrap().unwrap();
    assert_eq!((a.agent_id.as_deref(), a.agent_revoked, a.fields.get("department").map(String::as_str)), (Some("s2"), false, Some("配水課")));
    // The printer was never taken; the listing has no duplicate rows for
    // the asset with two agents.
    assert!(store.get_asset(printer).unwrap().unwrap().agent_id.is_none());
    assert_eq!(store.list_assets(&AssetQuery { limit: 100, ..Default::default() }).unwrap().1, 5);

    // Agent-discovered hostname and kind write history; a person's kind stays.
    store.apply_ledger(&[LedgerWrite::Update { asset_id: by_mac, changes: vec![FieldChange { field: "kind".into(), value: Some("vm_guest".into()) }] }], "user:op", 70).unwrap();
    let mut w = checkin("m1", 80, vec![]);
    w.kind = Some("pc".into());
    w.os_name = Some("Microsoft Windows 11 Pro".into());
    w.os_version = Some("23H2".into());
    w.macs = Some(vec!["00:1B:21:AA:BB:02".into()]);
    w.ips = Some(vec!["10.1.20.15".into()]);
    store.apply_checkins(&[w]).unwrap();
    let a = store.get_asset(by_mac).unwrap().unwrap();
    assert_eq!((a.hostname.as_str(), a.kind.as_str(), a.os_name.as_deref()), ("NEW-m1", "vm_guest", Some("Microsoft Windows 11 Pro")));
    let h = store.asset_history(by_mac).unwrap();
    assert!(h.iter().any(|h| h.field == "hostname" && h.actor == "agent:m1" && h.new_value.as_deref() == Some("NEW-m1")), "{h:?}");
    assert!(!h.iter().any(|h| h.field == "kind" && h.actor == "agent:m1"));
    // The agent's IP is searchable.
    let (found, n) = store.list_assets(&AssetQuery { text: Some("10.1.20.15".into()), limit: 10, ..Default::default() }).unwrap();
    assert_eq!((n, found[0].id), (1, by_mac));
}

pub fn ledger_writes_are_all_or_nothing(store: &dyn Store) {
    let a = create(store, "SUIDO-RT-HQ01", "router", &[("ip_addresses", "10.1.90.1")]);
    let h = store.asset_history(a).unwrap();
    assert_eq!(h.iter().map(|h| h.field.as_str()).collect::<Vec<_>>(), ["hostname", "kind", "site", "ip_addresses"]);
    let writes = [
        LedgerWrite::Create { hostname: "NEW-1".into(), kind: "printer".into(), site: "HQ".into(), fields: vec![] },
        LedgerWrite::Update { asset_id: 999_999, changes: vec![FieldChange { field: "notes".into(), value: Some("x".into()) }] },
    ];
    assert!(matches!(store.apply_ledger(&writes, "user:op", 60), Err(StoreError::NotFound(_))));
    assert_eq!(store.list_assets(&AssetQuery { limit: 100, ..Default::default() }).unwrap().1, 1, "the create before the failure was rolled back");
    // Setting the same values again changes nothing.
    let same = store.apply_ledger(&[LedgerWrite::Update { asset_id: a, changes: vec![FieldChange { field: "ip_addresses".into(), value: Some("10.1.90.1".into()) }, FieldChange { field: "kind".into(), value: Some("router".into()) }] }], "user:op", 70).unwrap();
    assert!(same[0].1.is_empty());
    let snap = store.ledger_snapshot().unwrap();
    assert_eq!((snap.len(), snap[0].fields.get("ip_addresses").map(String::as_str), snap[0].has_agent), (1, Some("10.1.90.1"), false));
}

pub fn asset_queries_filter_sort_and_count(store: &dyn Store) {
    for (i, (kind, dept, status)) in [("pc", "配水課", "in_use"), ("pc", "総務課", "spare"), ("printer", "配水課", "in_use"), ("router", "", "in_use")].iter().enumerate() {
        let mut fields = vec![("status", *status)];
        if !dept.is_empty() {
            fields.push(("department", *dept));
        }
        create(store, &format!("H-{i}"), kind, &fields);
    }
    let q = |q: AssetQuery| store.list_assets(&AssetQuery { limit: 100, ..q }).unwrap();
    assert_eq!(q(AssetQuery { kind: Some("pc".into()), ..Default::default() }).1, 2);
    assert_eq!(q(AssetQuery { department: Some("配水課".into()), status: Some("in_use".into()), ..Default::default() }).1, 2);
    let (rows, _) = q(AssetQuery { sort: AssetSort::Hostname, descending: true, ..Default::default() });
    assert_eq!(rows.iter().map(|a| a.hostname.as_str()).collect::<Vec<_>>(), ["H-3", "H-2", "H-1", "H-0"]);
    assert_eq!(rows[1].fields.get("department").map(String::as_str), Some("配水課"), "the listing carries ledger fields");
    let (rows, _) = q(AssetQuery { sort: AssetSort::Department, ..Default::default() });
    assert_eq!(rows.last().unwrap().hostname, "H-3", "assets without a department sort last");
    let sum = store.asset_summary(0).unwrap();
    assert_eq!((sum.total, sum.with_agent), (4, 0));
    assert_eq!(sum.by_kind[0], ("pc".to_string(), 2));
}

pub fn sessions_sites_and_directory_users(store: &dyn Store) {
    let uid = store.create_user(&NewUser { username: "op1".into(), display_name: "運用".into(), password_hash: "$argon2id$x".into(), role: "operator".into(), created_at_ms: 1 }).unwrap();
    store.create_session(&NewSession { id_hash: "s-1".into(), user_id: uid, csrf_token: "c-1".into(), created_at_ms: 10, expires_at_ms: 100, source: "10.1.90.5".into() }).unwrap();
    let (s, u) = store.session_user("s-1", 50).unwrap().unwrap();
    assert_eq!((s.csrf_token.as_str(), u.username.as_str(), u.source.as_str()), ("c-1", "op1", "local"));
    assert!(store.session_user("s-1", 100).unwrap().is_none(), "expired");
    assert!(store.session_user("s-2", 50).unwrap().is_none());
    store.delete_session("s-1").unwrap();
    assert!(store.session_user("s-1", 50).unwrap().is_none());

    let d = store.upsert_directory_user("tanaka", "田中 太郎", "approver", 5).unwrap();
    assert_eq!((d.source.as_str(), d.role.as_str(), d.password_hash.as_str()), ("directory", "approver", ""));
    let d = store.upsert_directory_user("tanaka", "田中 太郎", "auditor", 6).unwrap();
    assert_eq!(d.role, "auditor");
    assert!(matches!(store.upsert_directory_user("op1", "x", "administrator", 7), Err(StoreError::Conflict(_))), "a local account is never taken over");

    store.upsert_site(&SiteRecord { code: "HQ".into(), name: "本庁舎".into() }, 1).unwrap();
    store.upsert_site(&SiteRecord { code: "KUN".into(), name: "国見".into() }, 1).unwrap();
    store.upsert_site(&SiteRecord { code: "KUN".into(), name: "国見庁舎".into() }, 2).unwrap();
    assert_eq!(store.sites().unwrap(), vec![SiteRecord { code: "HQ".into(), name: "本庁舎".into() }, SiteRecord { code: "KUN".into(), name: "国見庁舎".into() }]);
}

/// Neighbours that match no asset's IP or MAC are listed until they do, or
/// until someone dismisses them.
pub fn unknown_devices_from_neighbours(store: &dyn Store) {
    token(store, "m", "HQ", i64::MAX, 100);
    create(store, "SUIDO-RT-HQ01", "router", &[("ip_addresses", "10.1.20.1")]);
    create(store, "SUIDO-PRN-HQ01", "printer", &[("mac_addresses", "00:00:5E:00:53:50")]);
    enroll_machine(store, "p1", "SUIDO-PC-0001", None, &[]);
    let mut w = checkin("p1", 80, vec![]);
    w.neighbors = Some(vec![
        ("10.1.20.1".into(), Some("00:00:5E:00:53:01".into())),
        ("10.1.50.11".into(), Some("00:00:5E:00:53:50".into())),
        ("10.1.20.230".into(), Some("B0:BE:76:00:00:01".into())),
        ("10.1.20.231".into(), None),
    ]);
    store.apply_checkins(&[w.clone()]).unwrap();
    w.received_at_ms += 100;
    store.apply_checkins(&[w]).unwrap();
    let unknown = store.unknown_devices().unwrap();
    assert_eq!(unknown.iter().map(|u| u.ip.as_str()).collect::<Vec<_>>(), ["10.1.20.230", "10.1.20.231"], "{unknown:?}");
    assert_eq!((unknown[0].sightings, unknown[0].seen_by_hostname.as_deref(), unknown[0].status.as_str()), (2, Some("NEW-p1"), "new"));
    // Registering the device (its IP in the ledger) takes it off the list.
    create(store, "SUIDO-WAP-01", "other", &[("ip_addresses", "10.1.20.230")]);
    assert!(store.dismiss_unknown_device("10.1.20.231", "user:op", 99).unwrap());
    assert!(!store.dismiss_unknown_device("10.9.9.9", "user:op", 99).unwrap());
    let unknown = store.unknown_devices().unwrap();
    assert_eq!(unknown.len(), 1);
    assert_eq!((unknown[0].ip.as_str(), unknown[0].status.as_str()), ("10.1.20.231", "dismissed"));
}

pub fn alert_rules_and_alerts(store: &dyn Store) {
    let rule = NewAlertRule {
        name: "配水課で USB メモリ".into(),
        kind: Some("device_connect".into()),
        site: None,
        department: Some("配水課".into()),
        process_contains: None,
        text_contains: None,
        device_class: Some("usb_storage".into()),
        created_by: "user:op".into(),
        created_at_ms: 5,
        recipients: vec!["haisui@suido.example.jp".into(), "joho@suido.example.jp".into()],
    };
    let id = store.create_alert_rule(&rule).unwrap();
    let quiet = store.create_alert_rule(&NewAlertRule { name: "メールなし".into(), recipients: vec![], ..rule.clone() }).unwrap();
    let rules = store.alert_rules().unwrap();
    assert_eq!((rules.len(), rules[0].id, rules[0].enabled, rules[0].department.as_deref()), (2, id, true, Some("配水課")));
    assert_eq!(rules[0].recipients, rule.recipients);
    assert_eq!((rules[1].id, rules[1].recipients.len()), (quiet, 0));
    let alert = |at: i64| NewAlert { rule_id: id, rule_name: rule.name.clone(), at_ms: at, pc: "SUIDO-PC-0001".into(), asset_id: None, user_name: Some("SUIDO\\tanaka".into()), kind: "device_connect".into(), summary: "BUFFALO RUF3".into() };
    let ids = store.record_alerts(&[alert(10), alert(20)]).unwrap();
    let all = store.alerts(10, false).unwrap();
    assert_eq!(all.iter().map(|a| a.at_ms).collect::<Vec<_>>(), [20, 10], "newest first");
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), [ids[1], ids[0]], "ids given back in order");
    assert!(store.acknowledge_alert(all[0].id, "user:op", 30).unwrap());
    assert!(!store.acknowledge_alert(all[0].id, "user:op", 31).unwrap(), "once");
    assert_eq!(store.alerts(10, true).unwrap().len(), 1);
    assert!(store.delete_alert_rule(id).unwrap());
    assert!(!store.delete_alert_rule(id).unwrap());
    assert!(store.delete_alert_rule(quiet).unwrap());
    let a = create(store, "SUIDO-PC-0009", "pc", &[("department", "配水課")]);
    assert_eq!(store.asset_location(a).unwrap(), Some(("HQ".to_string(), Some("配水課".to_string()))));
    assert_eq!(store.asset_location(a + 100).unwrap(), None);
}

pub fn packages_and_deployments(store: &dyn Store) {
    let pc1 = create(store, "WB-PC-0001", "pc", &[("department", "総務課")]);
    let pc2 = create(store, "WB-PC-0002", "pc", &[("department", "工務課")]);
    assert_eq!(store.asset_field(pc2, "department").unwrap().as_deref(), Some("工務課"));
    assert_eq!(store.asset_field(pc2, "tags").unwrap(), None);
    let pkg = |version: &str, serial: i64| NewPackage {
        name: "hello".into(),
        version: version.into(),
        serial,
        file_name: "hello.deb".into(),
        framework: "deb".into(),
        command: "dpkg -i {file}".into(),
        detection: Some("deb:hello".into()),
        size: 1234,
        sha256: "ab".repeat(32),
        unsigned_manifest: "{}".into(),
        signed_manifest: None,
        expires_at_ms: 9_000,
        created_at_ms: 100,
        created_by: "user:op".into(),
    };
    assert_eq!(store.max_package_serial("hello").unwrap(), 0);
    let id = store.create_package(&pkg("1.0", 1)).unwrap();
    assert!(matches!(store.create_package(&pkg("1.0", 2)), Err(StoreError::Conflict(_))), "same version twice");
    assert!(matches!(store.create_package(&pkg("1.1", 1)), Err(StoreError::Conflict(_))), "same serial twice");
    assert_eq!(store.max_package_serial("hello").unwrap(), 1);
    let p = store.package(id).unwrap().unwrap();
    assert!(!p.signed && p.signed_manifest.is_none());
    assert!(store.set_package_signature(id, "signed").unwrap());
    assert_eq!(store.package(id).unwrap().unwrap().signed_manifest.as_deref(), Some("signed"));
    assert!(!store.set_package_signature(id + 100, "x").unwrap());

    let d = NewDeployment {
        package_id: id,
        title: "hello 1.0".into(),
        plan: "{\"waves\":[]}".into(),
        targets: vec![
            NewDeploymentTarget { asset_id: pc2, wave: 1, site: "HQ".into(), department: "工務課".into() },
            NewDeploymentTarget { asset_id: pc1, wave: 0, site: "HQ".into(), department: "総務課".into() },
        ],
        created_at_ms: 200,
        created_by: "user:op".into(),
    };
    let dep = store.create_deployment(&d, "{\"state\":\"queued\"}").unwrap();
    let rec = store.deployment(dep).unwrap().unwrap();
    assert_eq!((rec.package_name.as_str(), rec.status.as_str(), rec.plan.as_str()), ("hello", "active", "{\"waves\":[]}"));
    let targets = store.deployment_targets(dep).unwrap();
    assert_eq!(targets.iter().map(|t| t.hostname.as_str()).collect::<Vec<_>>(), vec!["WB-PC-0001", "WB-PC-0002"], "by wave");
    store
        .update_targets(&[TargetUpdate { deployment_id: dep, asset_id: pc1, state: "{\"state\":\"installed\"}".into(), reason: None, add_server_bytes: 500, new_attempt: false, now_ms: 300 }])
        .unwrap();
    store
        .update_targets(&[TargetUpdate { deployment_id: dep, asset_id: pc1, state: "{\"state\":\"queued\"}".into(), reason: Some("retry".into()), add_server_bytes: 20, new_attempt: true, now_ms: 310 }])
        .unwrap();
    store.add_target_bytes(dep, pc1, 1000).unwrap();
    let mine = store.asset_deployments(pc1).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].0.id, mine[0].1.server_bytes - 1000, mine[0].1.attempts, mine[0].1.reason.as_deref()), (dep, 520, 2, Some("retry")));
    store.add_site_cache_bytes(dep, "KUN", 10).unwrap();
    store.add_site_cache_bytes(dep, "KUN", 5).unwrap();
    store.add_site_cache_bytes(dep, "HQ", 1).unwrap();
    assert_eq!(store.site_cache_bytes(dep).unwrap(), vec![("HQ".to_string(), 1), ("KUN".to_string(), 15)]);
    assert!(store.set_deployment_status(dep, "paused", 400).unwrap());
    store.save_deployment_memory(dep, "{\"opened_at\":[]}", 401).unwrap();
    let rec = store.deployment(dep).unwrap().unwrap();
    assert_eq!((rec.status.as_str(), rec.memory.as_str(), rec.updated_at_ms), ("paused", "{\"opened_at\":[]}", 401));
    assert_eq!(store.deployments().unwrap().len(), 1);
    assert!(store.asset_deployments(pc2 + 1000).unwrap().is_empty());
}
