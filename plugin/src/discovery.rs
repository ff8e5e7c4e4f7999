//! What the controller's discovery found behind a storage (the cluster-scoped OntapStorage objects): every ONTAP
//! snapshot of the volume, with sizes, including ones no object here made. Reading them needs access to a
//! cluster-scoped kind a tenant usually lacks, and discovery can be off; both leave the commands working on the
//! namespace's own objects, with a note saying why the rest is missing.

use kube::api::{Api, ListParams};
use pve_ontap_controller::api::ontap_storage::{DiscoveredSnapshot, SnapshotOrigin};
use pve_ontap_controller::api::OntapStorage;
use pve_ontap_controller::controller::ontap_storage::plan::human;

use crate::context::Ctx;

/// Every OntapStorage the user may read, or why there are none to read.
pub enum Discovery {
    Readable(Vec<OntapStorage>),
    /// The user may not read OntapStorages (or the CRD is missing); the text says which.
    Unreadable(String),
}

/// One listing of every OntapStorage (a handful of objects per Proxmox cluster).
pub async fn load(ctx: &Ctx) -> Discovery {
    let api: Api<OntapStorage> = Api::all(ctx.client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => Discovery::Readable(list.items),
        Err(kube::Error::Api(s)) if s.code == 403 => Discovery::Unreadable(
            "you may not read OntapStorages (cluster-scoped; the chart's <release>-storage-viewer ClusterRole \
             grants it)"
                .into(),
        ),
        Err(kube::Error::Api(s)) if s.code == 404 => Discovery::Unreadable(
            "the OntapStorage CRD is not installed (a controller older than discovery)".into(),
        ),
        Err(e) => Discovery::Unreadable(format!("listing OntapStorages failed: {e}")),
    }
}

impl Discovery {
    /// The OntapStorage of storage `storage` (Proxmox ids compare case-insensitively) of ProxmoxCluster `pve`.
    pub fn storage(&self, pve: &str, storage: &str) -> Option<&OntapStorage> {
        let Discovery::Readable(all) = self else {
            return None;
        };
        all.iter().find(|o| {
            o.status.as_ref().is_some_and(|s| {
                s.proxmox_cluster == pve && s.storage.eq_ignore_ascii_case(storage)
            })
        })
    }

    /// The snapshot with ONTAP UUID `uuid`, wherever discovery found it.
    pub fn snapshot(&self, uuid: &str) -> Option<&DiscoveredSnapshot> {
        let Discovery::Readable(all) = self else {
            return None;
        };
        all.iter().find_map(|o| snapshot(o, uuid))
    }

    /// The note printed (on stderr) when discovery has nothing for `storage`.
    pub fn missing_note(&self, pve: &str, storage: &str) -> Option<String> {
        match self {
            Discovery::Readable(_) if self.storage(pve, storage).is_some() => None,
            Discovery::Readable(_) => Some(format!(
                "note: no OntapStorage for storage {storage} of ProxmoxCluster {pve} (discovery off, not \
                 refreshed yet, or the storage is not on ONTAP): sizes and snapshots made outside this namespace \
                 are not shown"
            )),
            Discovery::Unreadable(why) => Some(format!(
                "note: {why}: sizes and snapshots made outside this namespace are not shown"
            )),
        }
    }
}

/// The discovered snapshot with ONTAP UUID `uuid`.
pub fn snapshot<'a>(o: &'a OntapStorage, uuid: &str) -> Option<&'a DiscoveredSnapshot> {
    o.status.as_ref()?.snapshots.iter().find(|s| s.uuid == uuid)
}

pub fn size(s: &DiscoveredSnapshot) -> String {
    s.size_bytes.map_or_else(|| "-".into(), human)
}

pub fn origin(s: &DiscoveredSnapshot) -> &'static str {
    match s.origin {
        SnapshotOrigin::Managed => "Managed",
        SnapshotOrigin::Adopted => "Adopted",
        SnapshotOrigin::Orphaned => "Orphaned",
        SnapshotOrigin::OtherCluster => "OtherCluster",
        SnapshotOrigin::Unmanaged => "Unmanaged",
    }
}

/// `Kind namespace/name` of the object managing the snapshot, `-` when none does.
pub fn managed_by(s: &DiscoveredSnapshot) -> String {
    s.managed_by.as_ref().map_or_else(
        || "-".into(),
        |m| format!("{} {}/{}", m.kind, m.namespace, m.name),
    )
}

/// The FlexClone volumes made from the snapshot (with their FlexCloneMount when one here made them).
pub fn clones(s: &DiscoveredSnapshot) -> String {
    if s.flex_clones.is_empty() {
        return "-".into();
    }
    s.flex_clones
        .iter()
        .map(|c| match &c.flex_clone_mount {
            Some(m) => format!("{} ({m})", c.volume),
            None => c.volume.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
