//! Proxmox NFS storage → ONTAP volume, through the data LIFs and junction paths of the OntapClusters the
//! namespace may use.

use super::backends;
use super::context::Context;
use super::error::Error;
use super::ports::{OntapClient, PveClient, PveStorage};
use super::scope::OntapGrant;
use super::vm_disk_clone::plan::{self, Backing, DataLif, StorageInfo, VolumeInfo};

/// A storage with the ONTAP volume behind it.
pub struct Resolved {
    pub storage: PveStorage,
    pub backing: Backing,
    pub ontap: OntapClient,
    /// What the backing volume's OntapCluster grants the namespace.
    pub grant: OntapGrant,
}

/// Resolves one Proxmox storage. A storage that does not exist, is not NFS, or matches no volume is a clear
/// permanent error (naming the OntapClusters that were not considered because of their allow-list).
pub async fn storage(
    ctx: &Context,
    namespace: &str,
    pve: &PveClient,
    storage_id: &str,
) -> Result<Resolved, Error> {
    let storage = pve.storage(storage_id).await?.ok_or_else(|| {
        Error::Precondition(format!("Proxmox storage {storage_id:?} does not exist"))
    })?;
    if storage.kind != "nfs" {
        return Err(Error::Precondition(format!(
            "Proxmox storage {storage_id:?} is of type {:?}; only NFS storages served by ONTAP can be used",
            storage.kind
        )));
    }
    let (ontaps, broken) = backends::ontaps_for(ctx, namespace).await?;
    let mut lifs = Vec::new();
    let mut volumes = Vec::new();
    for (oc, client) in &ontaps {
        let name = kube::ResourceExt::name_any(oc);
        for (address, svm) in client.data_lifs().await? {
            lifs.push(DataLif {
                ontap_cluster: name.clone(),
                address,
                svm,
            });
        }
        for v in client.volumes().await? {
            if let Some(junction) = v.junction {
                volumes.push(VolumeInfo {
                    ontap_cluster: name.clone(),
                    svm: v.svm,
                    name: v.name,
                    uuid: v.uuid,
                    junction,
                });
            }
        }
    }
    let info = StorageInfo {
        id: storage.id.clone(),
        kind: storage.kind.clone(),
        server: storage.server.clone(),
        export: storage.export.clone(),
    };
    let Some(backing) = plan::resolve_storage(&info, &lifs, &volumes) else {
        let mut msg = format!(
            "Proxmox storage {storage_id:?} ({}:{}) matches no data LIF and junction path of an OntapCluster",
            storage.server.as_deref().unwrap_or("?"),
            storage.export.as_deref().unwrap_or("?")
        );
        if !broken.is_empty() {
            msg.push_str(&format!(
                " this namespace may use ({} of them could not be used: see their status)",
                broken.len()
            ));
        }
        return Err(Error::Precondition(msg));
    };
    let (grant, ontap) = ontaps
        .iter()
        .find(|(oc, _)| kube::ResourceExt::name_any(oc) == backing.ontap_cluster)
        .map(|(oc, c)| (OntapGrant::of(oc, namespace), c.clone()))
        .ok_or_else(|| Error::Precondition("resolved OntapCluster vanished".into()))?;
    Ok(Resolved {
        storage,
        backing,
        ontap,
        grant,
    })
}
