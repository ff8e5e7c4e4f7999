//! What a FlexCloneMount clones: the snapshot (of a VolumeSnapshot here, or named by storage and snapshot name),
//! the volume it is on and the Proxmox storage it came from, each checked against the backends' scopes.

use kube::api::Api;
use kube::ResourceExt;

use crate::api::{FlexCloneMount, VolumeSnapshot};
use crate::controller::backends::{self, OntapGrant, ProxmoxGrant};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::ports::{OntapClient, PveClient, PveStorage};
use crate::controller::resolve;

/// The snapshot to clone and the Proxmox storage it came from.
pub struct Source {
    pub ontap_cluster: String,
    pub ontap: OntapClient,
    pub svm: String,
    pub parent_volume: String,
    pub parent_volume_uuid: String,
    pub snapshot: String,
    pub pve_name: String,
    pub pve: PveClient,
    pub parent_storage: PveStorage,
}

pub async fn source(ctx: &Context, obj: &FlexCloneMount) -> Result<Source, Error> {
    let ns = obj.namespace().unwrap_or_default();
    if let Some(r) = &obj.spec.volume_snapshot_ref {
        let vs = Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&r.name)
            .await?
            .ok_or_else(|| {
                Error::Waiting(format!("VolumeSnapshot {} does not exist (yet)", r.name))
            })?;
        let st = vs.status.clone().unwrap_or_default();
        if !st.ready_to_use {
            return Err(Error::Waiting(format!(
                "VolumeSnapshot {} is not ready to use yet",
                r.name
            )));
        }
        let (Some(pref), Some(storage)) = (&vs.spec.proxmox_cluster_ref, &vs.spec.storage) else {
            return Err(Error::Precondition(format!(
                "VolumeSnapshot {} names an ONTAP volume directly; a FlexCloneMount needs one taken of a Proxmox \
                 storage (to know the NFS server and options)",
                r.name
            )));
        };
        let (pc, pve) = backends::proxmox_for(&ctx.backends, &ns, &pref.name).await?;
        ProxmoxGrant::of(&pc, &ns).storage(storage)?;
        let cluster = st.ontap_cluster.clone().unwrap_or_default();
        let (oc, ontap) = backends::ontap_for(&ctx.backends, &ns, &cluster).await?;
        // The volume comes from the VolumeSnapshot's status, which its writers can aim anywhere: the scope
        // bounds where, and the snapshot's name is derived from the VolumeSnapshot itself.
        let (svm, volume) = (
            st.svm.unwrap_or_default(),
            st.volume_name.unwrap_or_default(),
        );
        OntapGrant::of(&oc, &ns).volume(&svm, &volume, || {
            format!("the ONTAP volume of VolumeSnapshot {:?}", r.name)
        })?;
        let parent_storage = pve.storage(storage).await?.ok_or_else(|| {
            Error::Precondition(format!("Proxmox storage {storage:?} does not exist"))
        })?;
        return Ok(Source {
            ontap_cluster: cluster,
            ontap,
            svm,
            parent_volume: volume,
            parent_volume_uuid: st.volume_uuid.unwrap_or_default(),
            snapshot: crate::controller::volume_snapshot::snapshot_name(ctx, &vs),
            pve_name: pref.name.clone(),
            pve,
            parent_storage,
        });
    }
    let src = obj
        .spec
        .source
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("set volumeSnapshotRef or source".into()))?;
    let (pc, pve) =
        backends::proxmox_for(&ctx.backends, &ns, &src.proxmox_cluster_ref.name).await?;
    ProxmoxGrant::of(&pc, &ns).storage(&src.storage)?;
    let lookup = resolve::Lookup {
        backends: &ctx.backends,
        facts: &ctx.facts.storage,
        namespace: &ns,
        pve_name: &src.proxmox_cluster_ref.name,
        pve: &pve,
        mappings: &pc.spec.storage_mappings,
        hosts: &ctx.settings.hosts,
    };
    let r = resolve::storage(&lookup, &src.storage).await?;
    r.grant.volume(&r.backing.svm, &r.backing.volume, || {
        format!("the ONTAP volume behind Proxmox storage {:?}", src.storage)
    })?;
    if r.ontap
        .find_snapshot(&r.backing.volume_uuid, &src.snapshot_name)
        .await?
        .is_none()
    {
        return Err(Error::Precondition(format!(
            "snapshot {:?} does not exist on volume {}",
            src.snapshot_name, r.backing.volume
        )));
    }
    Ok(Source {
        ontap_cluster: r.backing.ontap_cluster,
        ontap: r.ontap,
        svm: r.backing.svm,
        parent_volume: r.backing.volume,
        parent_volume_uuid: r.backing.volume_uuid,
        snapshot: src.snapshot_name.clone(),
        pve_name: src.proxmox_cluster_ref.name.clone(),
        pve,
        parent_storage: r.storage,
    })
}
