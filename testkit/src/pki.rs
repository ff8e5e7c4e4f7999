//! Certificates and keys for one control plane: a CA, the apiserver's serving certificate, an admin client
//! certificate in `system:masters`, and the service-account token signing key.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// PEM material written below the control plane's directory.
pub struct Pki {
    pub ca_cert_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_public_key: PathBuf,
}

/// Common name and group of the admin identity; the group is what grants it everything under RBAC.
pub const ADMIN_USER: &str = "testkit-admin";
pub const ADMIN_GROUP: &str = "system:masters";

impl Pki {
    pub fn generate(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;

        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = dn("pve-ontap testkit CA", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key)?;

        let serving_key = KeyPair::generate()?;
        let mut serving_params = CertificateParams::new(
            [
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                // First address of --service-cluster-ip-range: the in-cluster `kubernetes` Service.
                "10.0.0.1",
            ]
            .map(String::from)
            .to_vec(),
        )?;
        serving_params.distinguished_name = dn("kube-apiserver", None);
        serving_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving = serving_params.signed_by(&serving_key, &ca, &ca_key)?;

        let admin_key = KeyPair::generate()?;
        let admin = client_cert(ADMIN_USER, ADMIN_GROUP, &admin_key, &ca, &ca_key)?;

        let sa_key = KeyPair::generate()?;

        let pki = Pki {
            ca_cert_pem: ca.pem(),
            admin_cert_pem: admin.pem(),
            admin_key_pem: admin_key.serialize_pem(),
            ca_cert: dir.join("ca.crt"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            service_account_key: dir.join("service-account.key"),
            service_account_public_key: dir.join("service-account.pub"),
        };
        write_file(&pki.ca_cert, &pki.ca_cert_pem)?;
        write_file(&pki.serving_cert, &serving.pem())?;
        write_file(&pki.serving_key, &serving_key.serialize_pem())?;
        write_file(&pki.service_account_key, &sa_key.serialize_pem())?;
        // Separate file: kube-apiserver's --service-account-key-file does not derive keys from PKCS#8 private keys.
        write_file(&pki.service_account_public_key, &sa_key.public_key_pem())?;
        Ok(pki)
    }
}

fn dn(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

fn client_cert(
    user: &str,
    group: &str,
    key: &KeyPair,
    ca: &Certificate,
    ca_key: &KeyPair,
) -> Result<Certificate> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = dn(user, Some(group));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params.signed_by(key, ca, ca_key)?)
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(format!("writing {}", path.display())))?;
    file.write_all(contents.as_bytes())
        .map_err(Error::io(format!("writing {}", path.display())))
}
