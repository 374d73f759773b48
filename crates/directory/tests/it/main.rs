//! Sign-in against a real OpenLDAP `slapd` started by the test (Debian
//! package `slapd`: `/usr/sbin/slapd`, `slapadd`, `slappasswd`), plus the
//! failure cases that need no directory (server down, server that never
//! answers, nothing sent for an empty password).
//!
//! Without slapd the directory test prints "skipped: slapd not installed",
//! unless the environment has `CI` set, where it fails.

#[path = "../../../../tests/directory/slapd.rs"]
mod slapd;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use lanward_directory::{
    authenticate, CredentialFailure, DirectoryConfig, DirectoryError, DirectoryUser,
};
use slapd::{free_port, start_slapd, tool, Slapd, TlsFiles, BASE, SVC_DN, SVC_PW};

/// A CA and a server certificate for 127.0.0.1 only (so `localhost` is a
/// name mismatch).
fn make_ca() -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "lanward test directory CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA cert");
    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
    TlsFiles {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn roles() -> Vec<(String, String)> {
    vec![
        (
            format!("cn=lanward-admins,ou=groups,{BASE}"),
            "administrator".to_owned(),
        ),
        ("lanward-operators".to_owned(), "operator".to_owned()),
        ("LANWARD-AUDITORS".to_owned(), "auditor".to_owned()),
    ]
}

fn search_then_bind(s: &Slapd) -> DirectoryConfig {
    let mut cfg = DirectoryConfig::new(
        s.ldap_url(),
        BASE,
        "(&(objectClass=inetOrgPerson)(uid={username}))",
    );
    cfg.service_bind = Some((SVC_DN.to_owned(), SVC_PW.to_owned()));
    cfg.group_roles = roles();
    cfg.timeout = Duration::from_secs(5);
    cfg
}

fn reason(r: Result<DirectoryUser, DirectoryError>) -> CredentialFailure {
    match r {
        Err(DirectoryError::BadCredentials { reason, detail }) => {
            eprintln!("  bad_credentials: {reason}: {detail}");
            reason
        }
        other => panic!("expected BadCredentials, got {other:?}"),
    }
}

fn kind(r: Result<DirectoryUser, DirectoryError>) -> &'static str {
    match r {
        Err(e) => {
            eprintln!("  {}: {}", e.kind(), e.audit_detail());
            e.kind()
        }
        Ok(u) => panic!("expected an error, got {u:?}"),
    }
}

#[test]
fn directory_sign_in_against_slapd() {
    let Some(slapd) = tool("slapd") else {
        if std::env::var_os("CI").is_some() {
            panic!("slapd not installed: the CI needs Debian's `slapd` package for this test");
        }
        println!("skipped: slapd not installed");
        return;
    };
    let server = start_slapd(&slapd, Some(&make_ca()));
    let s = &server;
    let cfg = search_then_bind(s);

    // Right password: role from the groupOfNames, Japanese name from cn.
    let tanaka = authenticate(&cfg, "tanaka", "tanaka-pass").expect("tanaka signs in");
    assert_eq!(tanaka.dn, format!("uid=tanaka,ou=people,{BASE}"));
    assert_eq!(tanaka.username, "tanaka");
    assert_eq!(tanaka.display_name, "田中 太郎");
    assert_eq!(tanaka.role, "operator");
    assert_eq!(
        tanaka.groups,
        vec![format!("cn=lanward-operators,ou=groups,{BASE}")]
    );

    // Two mapped groups: the first line of group_roles wins; displayName
    // before cn.
    let suzuki = authenticate(&cfg, "suzuki", "suzuki-pass").expect("suzuki signs in");
    assert_eq!(suzuki.role, "administrator");
    assert_eq!(suzuki.display_name, "鈴木 花子");
    assert_eq!(suzuki.groups.len(), 2);

    // groupOfUniqueNames, matched by CN case-insensitively.
    let watanabe = authenticate(&cfg, "watanabe", "watanabe-pass").expect("watanabe signs in");
    assert_eq!(watanabe.role, "auditor");

    // The user name as the directory spells it.
    assert_eq!(
        authenticate(&cfg, "TANAKA", "tanaka-pass")
            .expect("case-insensitive uid")
            .username,
        "tanaka"
    );

    // Wrong password and unknown user: both BadCredentials, same message.
    let wrong = authenticate(&cfg, "tanaka", "nope");
    let unknown = authenticate(&cfg, "yamada", "tanaka-pass");
    let (wrong_msg, unknown_msg) = (
        wrong
            .as_ref()
            .err()
            .map(|e| (e.message_ja(), e.message_en())),
        unknown
            .as_ref()
            .err()
            .map(|e| (e.message_ja(), e.message_en())),
    );
    assert_eq!(reason(wrong), CredentialFailure::WrongPassword);
    assert_eq!(reason(unknown), CredentialFailure::UnknownUser);
    assert_eq!(wrong_msg, unknown_msg);

    // Empty password: refused before contacting the server.
    assert_eq!(
        reason(authenticate(&cfg, "tanaka", "")),
        CredentialFailure::EmptyPassword
    );

    // Right password, no mapped group: no access by default.
    match authenticate(&cfg, "sato", "sato-pass") {
        Err(DirectoryError::NoRole { dn, groups }) => {
            assert_eq!(dn, format!("uid=sato,ou=people,{BASE}"));
            assert_eq!(groups, vec![format!("cn=kyuusui-ka,ou=groups,{BASE}")]);
        }
        other => panic!("expected NoRole, got {other:?}"),
    }

    // Filter metacharacters never reach the directory as a filter.
    for evil in [
        "*",
        "*)(uid=*",
        "tanaka)(|(uid=*",
        "tanaka*",
        "uid=tanaka,ou=people,dc=suido,dc=local",
    ] {
        assert_eq!(
            reason(authenticate(&cfg, evil, "tanaka-pass")),
            CredentialFailure::InvalidUsername,
            "{evil}"
        );
    }
    // Service account refused: misconfiguration, not the user's fault.
    let mut bad_svc = cfg.clone();
    bad_svc.service_bind = Some((SVC_DN.to_owned(), "wrong".to_owned()));
    assert_eq!(
        kind(authenticate(&bad_svc, "tanaka", "tanaka-pass")),
        "misconfiguration"
    );

    // Missing search base: misconfiguration.
    let mut bad_base = cfg.clone();
    bad_base.search_base = "ou=nowhere,dc=suido,dc=local".to_owned();
    assert_eq!(
        kind(authenticate(&bad_base, "tanaka", "tanaka-pass")),
        "misconfiguration"
    );

    // Anonymous search where the ACL gives anonymous no search right (as
    // in AD): the configuration needs a service account.
    let mut anon = cfg.clone();
    anon.service_bind = None;
    assert_eq!(
        kind(authenticate(&anon, "tanaka", "tanaka-pass")),
        "misconfiguration"
    );

    // Direct bind with a DN template (no service account).
    let mut direct = cfg.clone();
    direct.service_bind = None;
    direct.bind_dn_template = Some(format!("uid={{username}},ou=people,{BASE}"));
    let t = authenticate(&direct, "tanaka", "tanaka-pass").expect("direct bind");
    assert_eq!(
        (t.role.as_str(), t.display_name.as_str()),
        ("operator", "田中 太郎")
    );
    assert_eq!(
        reason(authenticate(&direct, "tanaka", "nope")),
        CredentialFailure::WrongPassword
    );
    assert_eq!(
        reason(authenticate(&direct, "yamada", "x")),
        CredentialFailure::WrongPassword
    );
    assert_eq!(kind(authenticate(&direct, "sato", "sato-pass")), "no_role");
    // A user_filter that finds somebody else is caught, not trusted.
    let mut loose = direct.clone();
    loose.user_filter = "(&(uid=suzuki)(!(uid={username})))".to_owned();
    assert_eq!(
        kind(authenticate(&loose, "tanaka", "tanaka-pass")),
        "misconfiguration"
    );

    // ldaps:// with the CA file.
    let mut ldaps = cfg.clone();
    let ldaps_port = s.ldaps_port.expect("started with TLS");
    ldaps.url = format!("ldaps://127.0.0.1:{ldaps_port}");
    ldaps.ca_file = s.ca_file.clone();
    assert_eq!(
        authenticate(&ldaps, "tanaka", "tanaka-pass")
            .expect("ldaps")
            .role,
        "operator"
    );
    assert_eq!(
        reason(authenticate(&ldaps, "tanaka", "nope")),
        CredentialFailure::WrongPassword
    );

    // StartTLS with the CA file.
    let mut starttls = cfg.clone();
    starttls.starttls = true;
    starttls.ca_file = s.ca_file.clone();
    assert_eq!(
        authenticate(&starttls, "tanaka", "tanaka-pass")
            .expect("starttls")
            .role,
        "operator"
    );

    // Certificate not from a trusted CA (system store only): TLS error.
    let mut untrusted = ldaps.clone();
    untrusted.ca_file = None;
    assert_eq!(
        kind(authenticate(&untrusted, "tanaka", "tanaka-pass")),
        "tls"
    );
    let mut untrusted_starttls = starttls.clone();
    untrusted_starttls.ca_file = None;
    assert_eq!(
        kind(authenticate(&untrusted_starttls, "tanaka", "tanaka-pass")),
        "tls"
    );

    // Right CA, wrong host name (certificate is for 127.0.0.1 only).
    let mut wrong_name = ldaps.clone();
    wrong_name.url = format!("ldaps://localhost:{ldaps_port}");
    assert_eq!(
        kind(authenticate(&wrong_name, "tanaka", "tanaka-pass")),
        "tls"
    );

    // TLS client against the plain port: a TLS failure, quickly.
    let mut tls_to_plain = ldaps.clone();
    tls_to_plain.url = format!("ldaps://127.0.0.1:{}", s.ldap_port);
    let started = Instant::now();
    assert_eq!(
        kind(authenticate(&tls_to_plain, "tanaka", "tanaka-pass")),
        "tls"
    );
    assert!(started.elapsed() < Duration::from_secs(6));

    // The directory stops: unreachable.
    drop(server);
    let started = Instant::now();
    assert_eq!(
        kind(authenticate(&cfg, "tanaka", "tanaka-pass")),
        "unreachable"
    );
    assert!(started.elapsed() < cfg.timeout);
}

fn loopback_cfg(port: u16, timeout: Duration) -> DirectoryConfig {
    let mut cfg =
        DirectoryConfig::new(format!("ldap://127.0.0.1:{port}"), BASE, "(uid={username})");
    cfg.group_roles = roles();
    cfg.timeout = timeout;
    cfg
}

#[test]
fn nothing_listening_is_unreachable_at_once() {
    let port = free_port();
    let cfg = loopback_cfg(port, Duration::from_secs(3));
    let started = Instant::now();
    let err = authenticate(&cfg, "tanaka", "pw").expect_err("refused");
    assert_eq!(err.kind(), "unreachable", "{err}");
    assert!(!err.message_ja().is_empty() && !err.message_en().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn silent_server_times_out() {
    // Accepts the connection, then never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).expect("nonblocking");
        let until = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < until {
            if let Ok((c, _)) = listener.accept() {
                held.push(c);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        held.len()
    });
    let cfg = loopback_cfg(port, Duration::from_secs(1));
    let started = Instant::now();
    let err = authenticate(&cfg, "tanaka", "pw").expect_err("refused");
    let took = started.elapsed();
    assert_eq!(err.kind(), "unreachable", "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1800),
        "{took:?}"
    );
    assert!(
        holder.join().expect("holder") >= 1,
        "the client did connect"
    );
}

#[test]
fn refused_input_never_contacts_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let cfg = loopback_cfg(port, Duration::from_secs(2));
    for (user, pw) in [
        ("tanaka", ""),
        ("*)(uid=*", "pw"),
        ("", "pw"),
        ("a".repeat(65).as_str(), "pw"),
    ] {
        match authenticate(&cfg, user, pw) {
            Err(DirectoryError::BadCredentials { .. }) => {}
            other => panic!("{user:?}: expected BadCredentials, got {other:?}"),
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("a connection was made from {from}"),
        Err(e) => panic!("accept: {e}"),
    }
}
