//! What a VolumeSnapshotRestore restores: the Proxmox storage, the ONTAP volume behind it and the snapshot, each
//! checked against the backends' scopes. The volume always comes from resolving the storage afresh, never from
//! another object's status (which anyone with `*/status` rights can write).

use kube::api::Api;
use kube::ResourceExt;

use crate::api::{VolumeSnapshot, VolumeSnapshotRestore};
use crate::controller::backends::{self, OntapGrant, ProxmoxGrant};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::ports::{OntapClient, PveClient};
use crate::controller::resolve;

pub struct Target {
    pub pve: PveClient,
    pub pve_name: String,
    pub storage: String,
    pub pve_grant: ProxmoxGrant,
    pub ontap: OntapClient,
    pub ontap_cluster: String,
    pub ontap_grant: OntapGrant,
    pub svm: String,
    pub volume: String,
    pub volume_uuid: String,
    /// The snapshot to restore to.
    pub snapshot: String,
}

pub async fn target(ctx: &Context, obj: &VolumeSnapshotRestore) -> Result<Target, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let (pve_name, storage, snapshot) = match (&obj.spec.volume_snapshot_ref, &obj.spec.source) {
        (Some(r), _) => {
            let vs = Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &ns)
                .get_opt(&r.name)
                .await?
                .ok_or_else(|| {
                    Error::Waiting(format!("VolumeSnapshot {} does not exist (yet)", r.name))
                })?;
            if !vs.status.as_ref().is_some_and(|s| s.ready_to_use) {
                return Err(Error::Waiting(format!(
                    "VolumeSnapshot {} is not ready to use",
                    r.name
                )));
            }
            let (Some(pref), Some(storage)) = (&vs.spec.proxmox_cluster_ref, &vs.spec.storage)
            else {
                return Err(Error::Precondition(format!(
                    "VolumeSnapshot {} names an ONTAP volume directly; a restore needs one taken of a Proxmox \
                     storage (to find the VMs whose disks it reverts)",
                    r.name
                )));
            };
            let snapshot = crate::controller::volume_snapshot::snapshot_name(ctx, &vs);
            (pref.name.clone(), storage.clone(), snapshot)
        }
        (None, Some(src)) => (
            src.proxmox_cluster_ref.name.clone(),
            src.storage.clone(),
            src.snapshot_name.clone(),
        ),
        (None, None) => return Err(Error::InvalidSpec("set volumeSnapshotRef or source".into())),
    };
    let (pc, pve) = backends::proxmox_for(&ctx.backends, &ns, &pve_name).await?;
    let pve_grant = ProxmoxGrant::of(&pc, &ns);
    pve_grant.storage(&storage)?;
    let lookup = resolve::Lookup {
        backends: &ctx.backends,
        facts: &ctx.facts.storage,
        namespace: &ns,
        pve_name: &pve_name,
        pve: &pve,
        mappings: &pc.spec.storage_mappings,
        hosts: &ctx.settings.hosts,
    };
    let r = resolve::storage(&lookup, &storage).await?;
    r.grant.volume(&r.backing.svm, &r.backing.volume, || {
        format!("the ONTAP volume behind Proxmox storage {storage:?}")
    })?;
    Ok(Target {
        pve,
        pve_name,
        storage,
        pve_grant,
        ontap: r.ontap,
        ontap_cluster: r.backing.ontap_cluster,
        ontap_grant: r.grant,
        svm: r.backing.svm,
        volume: r.backing.volume,
        volume_uuid: r.backing.volume_uuid,
        snapshot,
    })
}
