//! The backends an object may use: the allow-list is checked before any client is built, so a forbidden
//! namespace never causes a backend call, and what a tenant is told names only what it referenced.

use kube::ResourceExt;

use super::clients::Backends;
use super::clients::{ontap_client, proxmox_client, SECRET_RECHECK};
use super::watch::WatchedBackend;
use crate::api::{OntapCluster, ProxmoxCluster};
use crate::controller::error::Error;
use crate::controller::ports::{OntapClient, PveClient};

/// The backend object `name` of kind `K`, if it lets objects in `namespace` use it. The allow-list is checked
/// here, before any client is built, so a forbidden namespace never causes a backend call.
async fn allowed_backend<K: WatchedBackend>(
    b: &Backends,
    kind: &'static str,
    namespace: &str,
    name: &str,
    allows: impl Fn(&K, &str) -> bool,
) -> Result<K, Error> {
    let backend =
        b.watch
            .get::<K>(&b.client, name)
            .await?
            .ok_or_else(|| Error::BackendNotFound {
                kind,
                name: name.into(),
            })?;
    if !allows(&backend, namespace) {
        return Err(Error::NamespaceForbidden {
            kind,
            name: name.into(),
            namespace: namespace.into(),
        });
    }
    Ok(backend)
}

/// What a tenant's object is told when its backend's client cannot be built: the backend is not ready, and its own
/// status (which only backend owners read) says why. Where its Secrets live is not the tenant's business.
fn behind_backend(e: Error, kind: &'static str, name: &str) -> Error {
    match e {
        Error::Secret { .. } => Error::BackendNotReady {
            kind,
            name: name.into(),
            message: format!(
                "its credentials cannot be used; the {kind}'s status says why (ask its owner)"
            ),
        },
        other => other,
    }
}

/// The ProxmoxCluster `name` for an object in `namespace`, with its client.
pub async fn proxmox_for(
    b: &Backends,
    namespace: &str,
    name: &str,
) -> Result<(ProxmoxCluster, PveClient), Error> {
    let pc = allowed_backend(
        b,
        "ProxmoxCluster",
        namespace,
        name,
        |pc: &ProxmoxCluster, ns| pc.spec.allows_namespace(ns),
    )
    .await?;
    let client = proxmox_client(b, &pc, SECRET_RECHECK)
        .await
        .map_err(|e| behind_backend(e, "ProxmoxCluster", name))?;
    Ok((pc, client))
}

/// The OntapCluster `name` for an object in `namespace`, with its client.
pub async fn ontap_for(
    b: &Backends,
    namespace: &str,
    name: &str,
) -> Result<(OntapCluster, OntapClient), Error> {
    let oc = allowed_backend(
        b,
        "OntapCluster",
        namespace,
        name,
        |oc: &OntapCluster, ns| oc.spec.allows_namespace(ns),
    )
    .await?;
    let client = ontap_client(b, &oc, SECRET_RECHECK)
        .await
        .map_err(|e| behind_backend(e, "OntapCluster", name))?;
    Ok((oc, client))
}

/// Every OntapCluster objects in `namespace` may use, with clients. Clusters that do not allow the namespace are
/// never contacted and never named (a tenant learns nothing of backends outside its scope); one whose client
/// cannot be built (e.g. a missing Secret) is left out with a log line, so one broken backend does not break
/// resolution for the objects that do not use it. The second value counts what was left out that way.
pub async fn ontaps_for(
    b: &Backends,
    namespace: &str,
) -> Result<(Vec<(OntapCluster, OntapClient)>, Vec<String>), Error> {
    let mut allowed = Vec::new();
    let mut broken = Vec::new();
    for oc in b.watch.list::<OntapCluster>(&b.client).await? {
        if !oc.spec.allows_namespace(namespace) {
            continue;
        }
        match ontap_client(b, &oc, SECRET_RECHECK).await {
            Ok(client) => allowed.push((oc, client)),
            Err(e) => {
                tracing::warn!(ontap_cluster = %oc.name_any(), error = %e, "OntapCluster left out of storage resolution");
                broken.push(oc.name_any());
            }
        }
    }
    Ok((allowed, broken))
}
