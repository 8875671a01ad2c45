//! Built-in TLS (`--tls-cert`, `--tls-key`): rustls with the ring provider, wrapped around the
//! accepted TCP stream before hyper sees it, so `POST /api` and the `/pubsub` WebSocket upgrade
//! are both served over it.
//!
//! Signed envelopes carry no nonce: anyone who sees the traffic can replay a request
//! (SECURITY.md). TLS closes that gap on networks the operator does not control.
//!
//! Certificates are read once at start-up from PEM files: the certificate file holds the
//! server certificate followed by any intermediates; the key file holds one PKCS#8, PKCS#1 or
//! SEC1 private key. Only TLS 1.2 and 1.3 with rustls's default (safe) cipher suites are
//! offered; ALPN advertises `http/1.1`, the only protocol served.

use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::{self, ServerConfig};
use futures_rustls::TlsAcceptor;
use std::path::Path;
use std::sync::Arc;

/// Builds the acceptor from PEM files; every failure names the file and what was wrong.
pub fn acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("--tls-cert {}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--tls-cert {}: no CERTIFICATE section found (expected PEM)",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        format!(
            "--tls-key {}: {e} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)",
            key_path.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "--tls-cert/--tls-key ({}, {}): {e}",
                cert_path.display(),
                key_path.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_malformed_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = acceptor(&missing, &missing).err().unwrap();
        assert!(e.starts_with("--tls-cert"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem at all").unwrap();
        let e = acceptor(&junk, &junk).err().unwrap();
        assert!(e.contains("no CERTIFICATE"), "{e}");
    }
}
