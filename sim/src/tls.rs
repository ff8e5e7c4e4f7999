//! TLS material: a CA and a server certificate for 127.0.0.1 and localhost, generated at start and written as PEM.
//!
//! An existing `ca.crt` + `ca.key` in the TLS directory is reused so clients configured with that CA keep trusting
//! a restarted simulator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

pub struct TlsMaterial {
    pub ca_pem: String,
    pub ca_path: PathBuf,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn write(path: &Path, contents: &str) -> Result<(), TlsError> {
    std::fs::write(path, contents).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The CA's parameters are fixed, so a reused key reproduces the same issuer (name and key identifier).
fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "pve-ontap-sim CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn load_ca(dir: &Path) -> Option<(KeyPair, String)> {
    let cert_pem = std::fs::read_to_string(dir.join("ca.crt")).ok()?;
    let key_pem = std::fs::read_to_string(dir.join("ca.key")).ok()?;
    let key = KeyPair::from_pem(&key_pem).ok()?;
    Some((key, cert_pem))
}

/// Creates (or reuses) the CA in `dir`, issues a fresh server certificate and writes `ca.crt`, `ca.key`,
/// `server.crt`, `server.key`.
pub fn prepare(dir: &Path) -> Result<TlsMaterial, TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (ca_key, ca_pem) = match load_ca(dir) {
        Some(found) => found,
        None => {
            let key = KeyPair::generate()?;
            let cert = ca_params()?.self_signed(&key)?;
            let pem = cert.pem();
            write(&dir.join("ca.crt"), &pem)?;
            write(&dir.join("ca.key"), &key.serialize_pem())?;
            (key, pem)
        }
    };
    // Re-create the issuer object from the (possibly loaded) parameters; the signature only needs name + key.
    let ca_cert = ca_params()?.self_signed(&ca_key)?;

    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "pve-ontap-sim");
    params.distinguished_name = dn;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca_cert, &ca_key)?;
    write(&dir.join("server.crt"), &cert.pem())?;
    write(&dir.join("server.key"), &key.serialize_pem())?;

    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        ca_path: dir.join("ca.crt"),
        server_config: Arc::new(config),
    })
}
