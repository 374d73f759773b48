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
            now_ms: now,
        })
        .unwrap()
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
            .list_assets(&AssetQuery { site: site.map(Into::into), hostname_contains: host.map(Into::into), limit, offset, with_sections: false })
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
    store.create_api_token(&NewApiToken { user_id: uid, name: "t".into(), token_hash: "abc".into(), created_at_ms: 1 }).unwrap();
    assert_eq!(store.api_token_user("abc").unwrap().unwrap().username, "admin");
    assert!(store.api_token_user("abd").unwrap().is_none());
    assert_eq!(store.user_by_name("admin").unwrap().unwrap().display_name, "管理者");
    let users = store.users().unwrap();
    assert_eq!(users.iter().map(|u| (u.username.as_str(), u.role.as_str())).collect::<Vec<_>>(), [("admin", "administrator")]);
    for i in 0..5 {
        store.append_audit(&NewAuditEntry { actor: "user:admin".into(), action: "agent.revoke".into(), target: format!("agent:{i}"), detail: "理由".into() }).unwrap();
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
