//! Kubeconfig documents for the control plane's identities; the same text is handed to `kube` and written to
//! `.dev/kubeconfig` for kubectl.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::Result;

pub enum Credentials<'a> {
    ClientCert { cert_pem: &'a str, key_pem: &'a str },
    Token(&'a str),
}

pub fn render(
    server: &str,
    ca_pem: &str,
    user: &str,
    credentials: Credentials<'_>,
    namespace: &str,
) -> String {
    let user_entry = match credentials {
        Credentials::ClientCert { cert_pem, key_pem } => serde_json::json!({
            "client-certificate-data": STANDARD.encode(cert_pem),
            "client-key-data": STANDARD.encode(key_pem),
        }),
        Credentials::Token(token) => serde_json::json!({ "token": token }),
    };
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "pve-ontap-testkit",
            "cluster": { "server": server, "certificate-authority-data": STANDARD.encode(ca_pem) },
        }],
        "users": [{ "name": user, "user": user_entry }],
        "contexts": [{
            "name": user,
            "context": { "cluster": "pve-ontap-testkit", "user": user, "namespace": namespace },
        }],
        "current-context": user,
    });
    serde_yaml::to_string(&doc).expect("a JSON value always serializes to YAML")
}

pub async fn client_from(yaml: &str) -> Result<kube::Client> {
    let kubeconfig = Kubeconfig::from_yaml(yaml)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}
