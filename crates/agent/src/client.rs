//! Talking to the server: TLS with the pinned CA, and signed requests.

use crate::identity::Identity;
use anyhow::{bail, Context, Result};
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use lanward_proto::auth::*;
use lanward_proto::ApiError;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub enum ClientError {
    /// No answer (network down, server stopped): queue and retry.
    Unreachable(String),
    /// 401/403: the agent is revoked or its key is not accepted.
    Unauthorized(String),
    /// 503 and other 5xx: the server is up but cannot store now; back off.
    Unavailable(String),
    /// Another 4xx: this request will never be accepted as it is.
    Rejected { status: u16, message: String },
    BadResponse(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(m) => write!(f, "サーバーに接続できません: {m}"),
            ClientError::Unauthorized(m) => write!(f, "認証されませんでした (401): {m}"),
            ClientError::Unavailable(m) => write!(f, "サーバーが一時的に利用できません: {m}"),
            ClientError::Rejected { status, message } => write!(f, "サーバーが要求を拒否しました ({status}): {message}"),
            ClientError::BadResponse(m) => write!(f, "サーバーの応答が不正です: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The body of a successful answer, or the error it means. `forbidden_is_auth`:
/// whether 403 means the agent itself is refused (most routes) or only
/// this request (chunk downloads).
fn answer(result: Result<ureq::Response, ureq::Error>, forbidden_is_auth: bool) -> Result<Vec<u8>, ClientError> {
    match result {
        Ok(resp) => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut resp.into_reader(), &mut out).map_err(|e| ClientError::Unreachable(e.to_string()))?;
            Ok(out)
        }
        Err(ureq::Error::Status(status, resp)) => {
            let text = resp.into_string().unwrap_or_default();
            let message = serde_json::from_str::<ApiError>(&text).map(|e| format!("{}: {}", e.code, e.message)).unwrap_or(text);
            Err(match status {
                401 => ClientError::Unauthorized(message),
                403 if forbidden_is_auth => ClientError::Unauthorized(message),
                500..=599 => ClientError::Unavailable(format!("{status} {message}")),
                _ => ClientError::Rejected { status, message },
            })
        }
        Err(e) => Err(ClientError::Unreachable(e.to_string())),
    }
}

/// An HTTP client for one server. `signer` is `None` only for enrolment.
#[derive(Clone)]
pub struct ServerClient {
    base: String,
    http: ureq::Agent,
    signer: Option<(String, Arc<SigningKey>)>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn http_agent(tls: Option<Arc<rustls::ClientConfig>>) -> ureq::Agent {
    let mut b = ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(10)).timeout(Duration::from_secs(60));
    if let Some(tls) = tls {
        b = b.tls_config(tls);
    }
    b.build()
}

/// TLS that trusts exactly one CA: the one pinned at enrolment.
pub fn pinned_tls(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let mut reader = std::io::BufReader::new(ca_pem.as_bytes());
    for cert in rustls_pemfile::certs(&mut reader) {
        roots.add(cert.context("pinned CA certificate is not valid PEM")?).context("pinned CA certificate rejected")?;
    }
    if roots.is_empty() {
        bail!("pinned CA certificate is missing");
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Accepts any certificate: used only to download the CA certificate,
/// whose fingerprint is then compared with the one in the token before
/// anything else is sent.
#[derive(Debug)]
struct AcceptAnyForFingerprintCheck(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyForFingerprintCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Downloads the server's CA certificate and checks it against the
/// fingerprint carried by the enrolment token. Returns the PEM.
pub fn fetch_pinned_ca(server_url: &str, fingerprint_hex: &str) -> Result<String> {
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyForFingerprintCheck(provider())))
        .with_no_client_auth();
    let agent = http_agent(Some(Arc::new(tls)));
    let url = format!("{}/api/v1/enroll/ca", server_url.trim_end_matches('/'));
    let pem = agent
        .get(&url)
        .call()
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?
        .into_string()
        .context("CA certificate download failed")?;
    let mut reader = std::io::BufReader::new(pem.as_bytes());
    let der = rustls_pemfile::certs(&mut reader).next().context("server sent no CA certificate")??;
    let actual = hex::encode(Sha256::digest(der.as_ref()));
    if actual != fingerprint_hex {
        bail!("サーバーの CA 証明書の指紋がトークンと一致しません (token pins {fingerprint_hex}, server presents {actual}); 登録を中止しました");
    }
    Ok(pem)
}

pub fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let host = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host.strip_prefix('[') { v6.split(']').next().unwrap_or("") } else { host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host) };
    host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// Milliseconds since the epoch, strictly increasing within this process:
/// the server takes a timestamp that does not increase as a replay.
fn monotonic_ms() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::now_ms();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

impl ServerClient {
    /// For enrolment: HTTPS pinned to `ca_pem`, or plain HTTP on loopback.
    pub fn unauthenticated(server_url: &str, ca_pem: Option<&str>) -> Result<Self> {
        let http = match ca_pem {
            Some(pem) => http_agent(Some(pinned_tls(pem)?)),
            None if is_loopback_http(server_url) => http_agent(None),
            None => bail!("{server_url}: HTTPS が必要です (plain HTTP is only allowed to a loopback address)"),
        };
        Ok(ServerClient { base: server_url.trim_end_matches('/').to_string(), http, signer: None })
    }

    pub fn for_identity(id: &Identity) -> Result<Self> {
        let mut c = Self::unauthenticated(&id.enrolment.server_url, id.enrolment.ca_pem.as_deref())?;
        c.signer = Some((id.enrolment.agent_id.clone(), Arc::new(id.key.clone())));
        Ok(c)
    }

    pub fn signer(&self) -> Option<&(String, Arc<SigningKey>)> {
        self.signer.as_ref()
    }

    pub fn with_signer(mut self, agent_id: String, key: Arc<SigningKey>) -> Self {
        self.signer = Some((agent_id, key));
        self
    }

    /// Headers that prove the request comes from this agent.
    pub fn sign(agent_id: &str, key: &SigningKey, method: &str, path: &str, body: &[u8]) -> [(&'static str, String); 4] {
        let ts = monotonic_ms();
        let nonce = hex::encode(rand::random::<[u8; 12]>());
        let sig = key.sign(&signing_payload(method, path, ts, &nonce, body));
        [
            (HDR_AGENT_ID, agent_id.to_string()),
            (HDR_TIMESTAMP, ts.to_string()),
            (HDR_NONCE, nonce),
            (HDR_SIGNATURE, base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())),
        ]
    }

    /// POSTs JSON bytes and returns the response body.
    pub fn post(&self, path: &str, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.post_bytes(path, body, &[])
    }

    /// POSTs a body as it is to go on the wire (e.g. compressed), with extra
    /// headers such as `content-encoding`; the signature covers exactly
    /// these bytes. Returns the response body.
    pub fn post_bytes(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> Result<Vec<u8>, ClientError> {
        let mut req = self.http.post(&format!("{}{}", self.base, path)).set("content-type", "application/json");
        for (name, value) in headers {
            req = req.set(name, value);
        }
        if let Some((id, key)) = &self.signer {
            for (name, value) in Self::sign(id, key, "POST", path, body) {
                req = req.set(name, &value);
            }
        }
        answer(req.send_bytes(body), true)
    }

    /// A signed GET; returns the body (package chunks).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let mut req = self.http.get(&format!("{}{}", self.base, path));
        if let Some((id, key)) = &self.signer {
            for (name, value) in Self::sign(id, key, "GET", path, b"") {
                req = req.set(name, &value);
            }
        }
        // 403 here is "not yours to fetch" (a chunk not assigned), not a revoked agent.
        answer(req.call(), false)
    }

    pub fn post_json<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(&self, path: &str, req: &Req) -> Result<Resp, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::BadResponse(e.to_string()))?;
        let bytes = self.post(path, &body)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse(e.to_string()))
    }
}

/// Enrols: pins the CA from the token, registers a new key, saves the identity.
/// `hints` are the serial number and MACs (see `collect::machine_hints`).
pub fn enroll(server_url: &str, token: &str, hostname: &str, os_family: &str, hints: (Option<String>, Vec<String>), key: SigningKey) -> Result<Identity> {
    let parsed = lanward_proto::token::EnrollmentToken::parse(token).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ca_pem = if server_url.starts_with("https://") {
        Some(fetch_pinned_ca(server_url, &parsed.ca_fingerprint)?)
    } else if is_loopback_http(server_url) {
        None
    } else {
        bail!("{server_url}: https:// で始まる URL を指定してください (plain HTTP only on loopback)");
    };
    let client = ServerClient::unauthenticated(server_url, ca_pem.as_deref())?;
    let req = lanward_proto::EnrollRequest {
        token: token.trim().to_string(),
        public_key: base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes()),
        hostname: hostname.to_string(),
        os_family: os_family.to_string(),
        agent_version: crate::AGENT_VERSION.to_string(),
        serial: hints.0,
        macs: hints.1,
    };
    let resp: lanward_proto::EnrollResponse = client.post_json("/api/v1/enroll", &req).map_err(|e| anyhow::anyhow!("登録に失敗しました: {e}"))?;
    Ok(Identity {
        enrolment: crate::identity::Enrolment {
            agent_id: resp.agent_id,
            server_url: server_url.trim_end_matches('/').to_string(),
            site: resp.site,
            ca_pem,
            enrolled_at_ms: crate::now_ms(),
            package_key: resp.package_signing_key,
        },
        key,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_detection() {
        assert!(super::is_loopback_http("http://127.0.0.1:8080"));
        assert!(super::is_loopback_http("http://localhost:1/x"));
        assert!(super::is_loopback_http("http://[::1]:80"));
        assert!(!super::is_loopback_http("http://10.1.1.1:8080"));
        assert!(!super::is_loopback_http("https://127.0.0.1:8080"));
    }
}
