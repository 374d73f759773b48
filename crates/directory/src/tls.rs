//! The rustls client configuration for ldaps:// and StartTLS: the CA file
//! from the configuration, or the system's CA store. Certificates are always
//! verified, host name included.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::error::DirectoryError;

pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, DirectoryError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| {
                DirectoryError::config(format!("cannot read ca_file {}: {e}", path.display()))
            })?;
            let mut reader = BufReader::new(file);
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert.map_err(|e| {
                    DirectoryError::config(format!("ca_file {}: bad PEM: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    DirectoryError::config(format!(
                        "ca_file {}: bad certificate: {e}",
                        path.display()
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(DirectoryError::config(format!(
                    "ca_file {} holds no PEM certificate",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system store may hold certificates rustls refuses; skip them.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(DirectoryError::tls(
                    "no CA certificate in the system store; set ca_file to the directory's CA",
                ));
            }
        }
    }
    // Name the provider explicitly: ClientConfig::builder() would panic if
    // another crate in the program enabled a second rustls provider.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::tls(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
