//! The server's own CA and certificate.
//!
//! On first start the server creates a CA (`ca.pem`, `ca.key`) and a server
//! certificate signed by it (`server.pem`, `server.key`) in the data
//! directory; keys are written readable by the owner only. Agents pin the
//! CA by the SHA-256 fingerprint carried in every enrolment token, so no
//! public CA is needed on an isolated LAN. An operator who has certificates
//! from the bureau's own CA replaces `server.pem`/`server.key` (and
//! `ca.pem`) and they are used as they are.

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

pub struct TlsSetup {
    pub server_config: Arc<rustls::ServerConfig>,
    pub ca_pem: String,
    /// Lower-case hex SHA-256 of the CA certificate (DER).
    pub ca_fingerprint: String,
}

fn ca_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "lanward local CA");
    dn.push(DnType::OrganizationName, "lanward");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2045, 1, 1);
    Ok(p)
}

pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn default_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_string());
        }
    }
    names
}

/// Creates what is missing and loads the rustls configuration.
pub fn ensure(dir: &Path, extra_names: &[String]) -> Result<TlsSetup> {
    let (ca_pem_path, ca_key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (srv_pem_path, srv_key_path, names_path) = (dir.join("server.pem"), dir.join("server.key"), dir.join("server.names"));

    if !ca_pem_path.exists() {
        let key = KeyPair::generate().context("cannot generate the CA key")?;
        let cert = ca_params()?.self_signed(&key)?;
        write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&ca_pem_path, cert.pem())?;
        tracing::info!(path = %ca_pem_path.display(), "created the server CA");
    }

    let mut names = default_names();
    names.extend(extra_names.iter().cloned());
    names.sort();
    names.dedup();
    let wanted = names.join("\n");
    let have = std::fs::read_to_string(&names_path).unwrap_or_default();
    // Reissue the server certificate when new names are asked for, as long
    // as we hold the CA key (an operator-supplied certificate is kept).
    if !srv_pem_path.exists() || (have.trim() != wanted && ca_key_path.exists()) {
        let ca_key_pem = std::fs::read_to_string(&ca_key_path).with_context(|| format!("cannot read {}", ca_key_path.display()))?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).with_context(|| format!("{}: not a valid key", ca_key_path.display()))?;
        // Rebuilding the CA certificate from the same parameters and key
        // yields the same issuer name and key identifier, which is all a
        // signature by it needs.
        let issuer = ca_params()?.self_signed(&ca_key)?;
        let mut p = CertificateParams::new(names.clone())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names.iter().find(|n| n.parse::<std::net::IpAddr>().is_err()).cloned().unwrap_or_default());
        p.distinguished_name = dn;
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer, &ca_key)?;
        write_private(&srv_key_path, key.serialize_pem().as_bytes())?;
        std::fs::write(&srv_pem_path, cert.pem())?;
        std::fs::write(&names_path, &wanted)?;
        tracing::info!(names = %names.join(", "), "issued the server certificate");
    }

    let ca_pem = std::fs::read_to_string(&ca_pem_path)?;
    let ca_der = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .next()
        .with_context(|| format!("{}: no certificate", ca_pem_path.display()))??;
    let ca_fingerprint = hex::encode(Sha256::digest(ca_der.as_ref()));

    let srv_pem = std::fs::read(&srv_pem_path)?;
    let mut chain: Vec<_> = rustls_pemfile::certs(&mut srv_pem.as_slice()).collect::<Result<_, _>>()?;
    // Send the CA too, so that clients see the whole chain.
    if !chain.iter().any(|c| c.as_ref() == ca_der.as_ref()) {
        chain.push(ca_der.clone());
    }
    let key_pem = std::fs::read(&srv_key_path)?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())?
        .with_context(|| format!("{}: no private key", srv_key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("server certificate and key do not match")?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup { server_config: Arc::new(server_config), ca_pem, ca_fingerprint })
}
