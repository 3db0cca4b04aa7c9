//! Trust roots for every outbound TLS connection (OFAuth through reqwest, AWS
//! through the SDK), compiled in rather than read from the system.
//!
//! Reading and parsing the system's certificate store costs 3-5 ms each time a
//! client is built (reqwest's platform verifier and the SDK's default client each
//! do it), which is most of a Rust function's Init. The Mozilla roots from
//! `webpki-roots` are already in the binary as trust anchors. A PEM bundle named by
//! `EXTRA_CA_CERTS` is trusted in addition (a local TLS stand-in such as the
//! benchmark's, a corporate proxy). `SSL_CERT_FILE` is deliberately not read: many
//! machines set it to the whole system bundle, which is the cost being avoided.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::ConfigError;

const EXTRA_ROOTS_VAR: &str = crate::config::vars::EXTRA_CA_CERTS;

/// The extra trusted roots, read once at Init.
#[derive(Debug, Clone, Default)]
pub struct ExtraRoots {
    pem: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
}

impl ExtraRoots {
    /// The roots in the bundle `EXTRA_CA_CERTS` names ([`crate::config::RuntimeSettings::extra_ca_certs`]),
    /// if any. A file that cannot be read or holds no certificate is a configuration
    /// error: trusting less than asked is not silent.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    ConfigError::new(EXTRA_ROOTS_VAR, format!("cannot be read: {e}"))
                })?;
                Self::from_pem(pem)
            }
            None => Ok(Self::default()),
        }
    }

    /// Roots from a PEM bundle.
    pub(crate) fn from_pem(pem: Vec<u8>) -> Result<Self, ConfigError> {
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::new(EXTRA_ROOTS_VAR, format!("is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ConfigError::new(
                EXTRA_ROOTS_VAR,
                "holds no certificate".to_string(),
            ));
        }
        Ok(Self { pem, certs })
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// The rustls client configuration for reqwest: the compiled-in roots plus the
/// extra ones, aws-lc-rs, HTTP/1.1.
pub fn client_config(extra: &ExtraRoots) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in &extra.certs {
        roots.add(cert.clone()).map_err(|e| {
            ConfigError::new(EXTRA_ROOTS_VAR, format!("has an unusable certificate: {e}"))
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new(EXTRA_ROOTS_VAR, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The AWS SDK's HTTPS client with the same roots. The SDK takes custom roots
/// only as PEM, so the compiled-in certificates are handed over PEM-encoded
/// (cheaper than reading and parsing the system store, which the default does).
pub fn aws_http_client(extra: &ExtraRoots) -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::TrustStore;
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext};
    let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem_encode(der, &mut pem);
    }
    let mut store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem);
    if !extra.is_empty() {
        store = store.with_pem_certificate(extra.pem.clone());
    }
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("a trust store without additional server names always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

fn pem_encode(der: &[u8], out: &mut Vec<u8>) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_roots_round_trip_through_pem() {
        let mut pem = Vec::new();
        for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().take(3) {
            pem_encode(der, &mut pem);
        }
        let back: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(
            back[0].as_ref(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS[0].as_ref()
        );
    }

    #[test]
    fn extra_roots_must_hold_a_certificate() {
        assert!(ExtraRoots::from_pem(b"not a certificate".to_vec()).is_err());
        let mut pem = Vec::new();
        pem_encode(&webpki_root_certs::TLS_SERVER_ROOT_CERTS[0], &mut pem);
        let extra = ExtraRoots::from_pem(pem).unwrap();
        assert!(!extra.is_empty());
        let config = client_config(&extra).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
