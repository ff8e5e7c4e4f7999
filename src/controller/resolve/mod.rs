//! Proxmox NFS storage → ONTAP volume, for every kind: through the data LIFs and junction paths of the
//! OntapClusters the namespace may use. `backing` is the pure matching, `storages` asks the backends as narrowly
//! as their APIs allow and remembers the answers for a short while.

mod backing;
mod hosts;
mod storages;

use std::collections::BTreeSet;

pub use backing::{resolve_storage, Ambiguous, Backing, DataLif, StorageInfo, VolumeInfo};
pub use hosts::{HostResolver, HostsFileError};
pub use storages::{export_and_parents, forget, resolve as backings, resolve_all, Backings};

use std::time::Duration;

use super::backends::{self, Backends, FactCache, OntapGrant};
use super::error::Error;
use super::ports::{OntapClient, PveClient, PveStorage};

/// What resolution learned and keeps for a short while (see [`FactCache`]); keys name the backend object first.
pub struct StorageFacts {
    /// Storage definitions of a ProxmoxCluster (`GET /storage`), key `<ProxmoxCluster>`.
    pub storages: FactCache<Vec<PveStorage>>,
    /// `(address, svm)` of the NFS data LIFs of an OntapCluster, key `<OntapCluster>`.
    pub data_lifs: FactCache<Vec<(String, String)>>,
    /// The ONTAP volume behind a Proxmox storage, key `<ProxmoxCluster>/<storage>`.
    pub backings: FactCache<Backing>,
}

impl StorageFacts {
    pub fn new(ttl: Duration) -> Self {
        Self {
            storages: FactCache::new(ttl),
            data_lifs: FactCache::new(ttl),
            backings: FactCache::new(ttl),
        }
    }
}

/// Where storages are looked up: the ProxmoxCluster (by name, for remembered answers, and its client) an object
/// in `namespace` uses, the backends and what was learned from them.
pub struct Lookup<'a> {
    pub backends: &'a Backends,
    pub facts: &'a StorageFacts,
    pub namespace: &'a str,
    pub pve_name: &'a str,
    pub pve: &'a PveClient,
    /// The ProxmoxCluster's pinned storages (`spec.storageMappings`).
    pub mappings: &'a [crate::api::proxmox_cluster::StorageMapping],
    /// How NFS server names become addresses.
    pub hosts: &'a HostResolver,
}

/// A storage with the ONTAP volume behind it.
pub struct Resolved {
    pub storage: PveStorage,
    pub backing: Backing,
    pub ontap: OntapClient,
    /// What the backing volume's OntapCluster grants the namespace.
    pub grant: OntapGrant,
}

/// Resolves one Proxmox storage, asking the backends afresh. A storage that does not exist, is not NFS, or
/// matches no volume is a clear permanent error (counting the OntapClusters that could not be used, never naming
/// them).
pub async fn storage(lookup: &Lookup<'_>, storage_id: &str) -> Result<Resolved, Error> {
    let found = storages::resolve(lookup, &BTreeSet::from([storage_id.to_owned()]), true).await?;
    let storage = found
        .listed
        .iter()
        .find(|s| s.id == storage_id)
        .cloned()
        .ok_or_else(|| {
            Error::Precondition(format!("Proxmox storage {storage_id:?} does not exist"))
        })?;
    if storage.kind != "nfs" {
        return Err(Error::Precondition(format!(
            "Proxmox storage {storage_id:?} is of type {:?}; only NFS storages served by ONTAP can be used",
            storage.kind
        )));
    }
    let Some(backing) = found.by_storage.get(storage_id).cloned() else {
        let server = storage.server.as_deref().unwrap_or("?");
        let mut msg = format!(
            "Proxmox storage {storage_id:?} ({server}:{}) matches no data LIF and junction path of an OntapCluster",
            storage.export.as_deref().unwrap_or("?")
        );
        if !found.broken.is_empty() {
            msg.push_str(&format!(
                " this namespace may use ({} of them could not be used: see their status)",
                found.broken.len()
            ));
        }
        if server.parse::<std::net::IpAddr>().is_err()
            && lookup.hosts.addresses(server).await.is_empty()
        {
            msg.push_str(&format!(
                " (the controller cannot resolve the host name {server:?}: add it to its DNS or NFS hosts file, or \
                 pin the storage in spec.storageMappings of ProxmoxCluster {:?})",
                lookup.pve_name
            ));
        }
        return Err(Error::Precondition(msg));
    };
    let (oc, ontap) =
        backends::ontap_for(lookup.backends, lookup.namespace, &backing.ontap_cluster).await?;
    Ok(Resolved {
        grant: OntapGrant::of(&oc, lookup.namespace),
        storage,
        backing,
        ontap,
    })
}
