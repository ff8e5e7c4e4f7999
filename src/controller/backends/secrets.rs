//! Credentials and CA bundles from Kubernetes Secrets (the controller only ever `get`s them, by name).

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::ResourceExt;

use super::clients::Backends;
use crate::api::common::{SecretKeyRef, SecretRef};
use crate::controller::error::Error;

pub(super) async fn read_secret(
    b: &Backends,
    namespace: &str,
    name: &str,
) -> Result<Secret, Error> {
    let api: Api<Secret> = Api::namespaced(b.client.clone(), namespace);
    let reason = match api.get_opt(name).await {
        Ok(Some(s)) => return Ok(s),
        Ok(None) => "not found".to_owned(),
        // The chart grants `get` only in rbac.secretNamespaces: say so instead of a bare 403.
        Err(kube::Error::Api(e)) if e.code == 403 => {
            "the controller may not read it: list its namespace in the chart's rbac.secretNamespaces".to_owned()
        }
        Err(e) => return Err(e.into()),
    };
    Err(Error::Secret {
        namespace: namespace.into(),
        name: name.into(),
        reason,
    })
}

pub(super) fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone())
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

pub(super) fn secret_error(r: &SecretRef, reason: impl Into<String>) -> Error {
    Error::Secret {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        reason: reason.into(),
    }
}

/// Reads a CA bundle; returns it and the Secret's resourceVersion.
pub(super) async fn read_ca(
    b: &Backends,
    r: &Option<SecretKeyRef>,
) -> Result<(Option<String>, String), Error> {
    let Some(r) = r else {
        return Ok((None, String::new()));
    };
    let secret = read_secret(b, &r.namespace, &r.name).await?;
    let pem = secret_value(&secret, &r.key).ok_or_else(|| Error::Secret {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        reason: format!("key {:?} is missing or empty", r.key),
    })?;
    Ok((Some(pem), secret.resource_version().unwrap_or_default()))
}
