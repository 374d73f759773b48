//! Sign-in against a real OpenLDAP `slapd` started by the test (Debian
//! package `slapd`: `/usr/sbin/slapd`, `slapadd`, `slappasswd`), plus the
//! failure cases that need no directory (server down, server that never
//! answers, nothing sent for an empty password).
//!
//! Without slapd the directory test prints "skipped: slapd not installed",
//! unless the environment has `CI` set, where it fails.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lanward_directory::{
    authenticate, CredentialFailure, DirectoryConfig, DirectoryError, DirectoryUser,
};

const BASE: &str = "dc=suido,dc=local";
const SVC_DN: &str = "cn=lanward-svc,dc=suido,dc=local";
const SVC_PW: &str = "svc-pass-7";

fn tool(name: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A slapd child process, killed when dropped (also when a test panics).
struct Slapd {
    child: Child,
    ldap_port: u16,
    ldaps_port: u16,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TestCa {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA and a server certificate for 127.0.0.1 only (so `localhost` is a
/// name mismatch).
fn make_ca() -> TestCa {
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
    TestCa {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn start_slapd(slapd: &Path) -> Slapd {
    let slapadd = tool("slapadd").expect("slapadd comes with slapd");
    let slappasswd = tool("slappasswd").expect("slappasswd comes with slapd");
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let conf = d.join("slapd.d");
    let db = d.join("db");
    std::fs::create_dir_all(&conf).expect("mkdir slapd.d");
    std::fs::create_dir_all(&db).expect("mkdir db");

    let ca = make_ca();
    let ca_file = d.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write ca");
    std::fs::write(d.join("server.pem"), &ca.cert_pem).expect("write cert");
    std::fs::write(d.join("server.key"), &ca.key_pem).expect("write key");

    let config = format!(
        "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcTLSCACertificateFile: {d}/ca.pem
olcTLSCertificateFile: {d}/server.pem
olcTLSCertificateKeyFile: {d}/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE}
olcDbDirectory: {db}
olcDbMaxSize: 16777216
olcRootDN: cn=admin,{BASE}
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by anonymous auth
",
        d = d.display(),
        db = db.display(),
    );
    std::fs::write(d.join("config.ldif"), config).expect("write config.ldif");
    run(Command::new(&slapadd)
        .arg("-n0")
        .arg("-F")
        .arg(&conf)
        .arg("-l")
        .arg(d.join("config.ldif")));

    let hash = |pw: &str| run(Command::new(&slappasswd).arg("-s").arg(pw));
    let person = |uid: &str, cn: &str, sn: &str, display: Option<&str>, pw: &str| {
        let mut s = format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {sn}\nuserPassword: {}\n",
            hash(pw)
        );
        if let Some(dname) = display {
            s.push_str(&format!("displayName: {dname}\n"));
        }
        s.push('\n');
        s
    };
    let mut data = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: suido\ndc: suido\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: {SVC_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: lanward-svc\nuserPassword: {}\n\n",
        hash(SVC_PW)
    );
    data.push_str(&person("tanaka", "田中 太郎", "田中", None, "tanaka-pass"));
    data.push_str(&person(
        "suzuki",
        "Suzuki Hanako",
        "Suzuki",
        Some("鈴木 花子"),
        "suzuki-pass",
    ));
    data.push_str(&person(
        "watanabe",
        "Watanabe Ken",
        "Watanabe",
        None,
        "watanabe-pass",
    ));
    data.push_str(&person("sato", "佐藤 次郎", "佐藤", None, "sato-pass"));
    data.push_str(&format!(
        "dn: cn=lanward-operators,ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: lanward-operators\n\
         member: uid=tanaka,ou=people,{BASE}\nmember: uid=suzuki,ou=people,{BASE}\n\n\
         dn: cn=lanward-admins,ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: lanward-admins\n\
         member: uid=suzuki,ou=people,{BASE}\n\n\
         dn: cn=lanward-auditors,ou=groups,{BASE}\nobjectClass: groupOfUniqueNames\ncn: lanward-auditors\n\
         uniqueMember: uid=watanabe,ou=people,{BASE}\n\n\
         dn: cn=kyuusui-ka,ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: kyuusui-ka\n\
         member: uid=sato,ou=people,{BASE}\n\n"
    ));
    std::fs::write(d.join("data.ldif"), data).expect("write data.ldif");
    run(Command::new(&slapadd)
        .arg("-n1")
        .arg("-F")
        .arg(&conf)
        .arg("-l")
        .arg(d.join("data.ldif")));

    let ldap_port = free_port();
    let ldaps_port = free_port();
    let child = Command::new(slapd)
        .arg("-h")
        .arg(format!(
            "ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/"
        ))
        .arg("-F")
        .arg(&conf)
        .arg("-d")
        .arg("0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start slapd");
    let mut server = Slapd {
        child,
        ldap_port,
        ldaps_port,
        ca_file,
        _dir: dir,
    };

    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = server.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("slapd exited at start ({status}): {err}");
        }
        let up = |p: u16| {
            TcpStream::connect_timeout(&([127, 0, 0, 1], p).into(), Duration::from_millis(200))
                .is_ok()
        };
        if up(ldap_port) && up(ldaps_port) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "slapd did not listen within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
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
        format!("ldap://127.0.0.1:{}", s.ldap_port),
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
    let server = start_slapd(&slapd);
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
    ldaps.url = format!("ldaps://127.0.0.1:{}", s.ldaps_port);
    ldaps.ca_file = Some(s.ca_file.clone());
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
    starttls.ca_file = Some(s.ca_file.clone());
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
    wrong_name.url = format!("ldaps://localhost:{}", s.ldaps_port);
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
