//! The volume a VolumeSnapshot names, through a Proxmox storage or directly, checked against the backends' scopes.

use kube::ResourceExt;

use super::Target;
use crate::api::VolumeSnapshot;
use crate::controller::backends::{self, OntapGrant, ProxmoxGrant};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::resolve;

pub async fn target(ctx: &Context, obj: &VolumeSnapshot) -> Result<Target, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let spec = &obj.spec;
    if let (Some(pref), Some(storage)) = (&spec.proxmox_cluster_ref, &spec.storage) {
        let (pc, pve) = backends::proxmox_for(&ctx.backends, &ns, &pref.name).await?;
        let grant = ProxmoxGrant::of(&pc, &ns);
        grant.storage(storage)?;
        let lookup = resolve::Lookup {
            backends: &ctx.backends,
            facts: &ctx.facts.storage,
            namespace: &ns,
            pve_name: &pref.name,
            pve: &pve,
            mappings: &pc.spec.storage_mappings,
            hosts: &ctx.settings.hosts,
        };
        let r = resolve::storage(&lookup, storage).await?;
        r.grant.volume(&r.backing.svm, &r.backing.volume, || {
            format!("the ONTAP volume behind Proxmox storage {storage:?}")
        })?;
        return Ok(Target {
            grant: Some(grant),
            ontap_cluster: r.backing.ontap_cluster,
            ontap: r.ontap,
            svm: r.backing.svm,
            volume: r.backing.volume,
            volume_uuid: r.backing.volume_uuid,
            pve: Some((pve, pref.name.clone(), storage.clone())),
        });
    }
    let vref = spec.ontap_volume.as_ref().ok_or_else(|| {
        Error::InvalidSpec("set storage (with proxmoxClusterRef) or ontapVolume".into())
    })?;
    let (oc, ontap) = backends::ontap_for(&ctx.backends, &ns, &vref.ontap_cluster_ref.name).await?;
    OntapGrant::of(&oc, &ns).volume(&vref.svm, &vref.name, || {
        format!("ONTAP volume {:?} of SVM {:?}", vref.name, vref.svm)
    })?;
    let vol = ontap
        .find_volume(&vref.svm, &vref.name)
        .await?
        .ok_or_else(|| {
            Error::Precondition(format!(
                "ONTAP volume {} does not exist in SVM {}",
                vref.name, vref.svm
            ))
        })?;
    Ok(Target {
        ontap_cluster: vref.ontap_cluster_ref.name.clone(),
        ontap,
        svm: vref.svm.clone(),
        volume: vol.name,
        volume_uuid: vol.uuid,
        pve: None,
        grant: None,
    })
}
