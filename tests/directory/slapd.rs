//! A throwaway OpenLDAP `slapd` for tests (Debian package `slapd`:
//! `/usr/sbin/slapd`, `slapadd`, `slappasswd`), with the bureau's test
//! directory: people `tanaka` (田中 太郎, cn only), `suzuki` (displayName
//! 鈴木 花子), `watanabe`, `sato`, the service account [`SVC_DN`], and the
//! groups `lanward-operators` (tanaka, suzuki), `lanward-admins` (suzuki),
//! `lanward-auditors` (groupOfUniqueNames: watanabe), `kyuusui-ka` (sato).
//! Each person's password is `<uid>-pass`.
//!
//! Test harness only: included with `#[path]` by
//! `crates/directory/tests/it/main.rs` and `crates/cli/tests/it/console.rs`.
//! It needs no certificate crate: a caller that wants `ldaps://` passes the
//! PEM files in ([`TlsFiles`]).

#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE: &str = "dc=suido,dc=local";
pub const SVC_DN: &str = "cn=lanward-svc,dc=suido,dc=local";
pub const SVC_PW: &str = "svc-pass-7";

/// A program from the usual system directories (slapd is in /usr/sbin,
/// often not on a user's PATH).
pub fn tool(name: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

pub fn free_port() -> u16 {
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

/// PEM texts for slapd's `ldaps://` listener and StartTLS.
pub struct TlsFiles {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A slapd child process, killed when dropped (also when a test panics).
pub struct Slapd {
    child: Child,
    pub ldap_port: u16,
    /// Only when started with [`TlsFiles`].
    pub ldaps_port: Option<u16>,
    /// The CA's PEM file, only when started with [`TlsFiles`].
    pub ca_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Slapd {
    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `slapd` with the test directory on free loopback ports (plain
/// LDAP, plus LDAPS when `tls` is given) and waits until it listens.
pub fn start_slapd(slapd: &Path, tls: Option<&TlsFiles>) -> Slapd {
    let slapadd = tool("slapadd").expect("slapadd comes with slapd");
    let slappasswd = tool("slappasswd").expect("slappasswd comes with slapd");
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let conf = d.join("slapd.d");
    let db = d.join("db");
    std::fs::create_dir_all(&conf).expect("mkdir slapd.d");
    std::fs::create_dir_all(&db).expect("mkdir db");

    let mut tls_config = String::new();
    let ca_file = tls.map(|t| {
        let ca_file = d.join("ca.pem");
        std::fs::write(&ca_file, &t.ca_pem).expect("write ca");
        std::fs::write(d.join("server.pem"), &t.cert_pem).expect("write cert");
        std::fs::write(d.join("server.key"), &t.key_pem).expect("write key");
        tls_config = format!(
            "olcTLSCACertificateFile: {d}/ca.pem\n\
             olcTLSCertificateFile: {d}/server.pem\n\
             olcTLSCertificateKeyFile: {d}/server.key\n",
            d = d.display()
        );
        ca_file
    });

    let config = format!(
        "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
{tls_config}
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
    let ldaps_port = tls.map(|_| free_port());
    let mut urls = format!("ldap://127.0.0.1:{ldap_port}/");
    if let Some(p) = ldaps_port {
        urls.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
    }
    let child = Command::new(slapd)
        .arg("-h")
        .arg(urls)
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
        if up(ldap_port) && ldaps_port.is_none_or(up) {
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
