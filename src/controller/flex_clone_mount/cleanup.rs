//! Deletion of a FlexCloneMount: the storage (only while it is the one this object added and no VM uses it),
//! then the clone (only while it carries our marker), then the clone's entry in the volume recovery queue.

use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::plan::{identity, storage_is_ours};
use super::{marker, Writer, BLOCKED_POLL, JOB_POLL};
use crate::api::conditions::DELETION_BLOCKED;
use crate::api::{DeletionPolicy, FlexCloneMount, Phase};
use crate::controller::backends;
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::naming;
use crate::controller::ports::{Progress, PveClient};
use crate::controller::reconcile::Cleanup;
use crate::controller::vm_disk_clone::plan;

/// How many VM configs deletion reads at a time when looking for users of the storage.
const CONFIG_READS_IN_FLIGHT: usize = 8;

pub async fn cleanup(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Cleanup, Error> {
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.normal(
            obj.as_ref(),
            "Retained",
            "deletionPolicy Retain: clone and storage are kept",
        )
        .await;
        return Ok(Cleanup::Done);
    }
    let mut w = Writer::new(&ctx, &obj);
    let (Some(cluster), Some(svm), Some(pve_name)) = (
        w.status.ontap_cluster.clone(),
        w.status.svm.clone(),
        w.status.proxmox_cluster.clone(),
    ) else {
        return Ok(Cleanup::Done);
    };
    let ns = obj.namespace().unwrap_or_default();
    let (_, pve) = backends::proxmox_for(&ctx.backends, &ns, &pve_name).await?;
    let (_, ontap) = backends::ontap_for(&ctx.backends, &ns, &cluster).await?;
    // Junction and storage id come from the object's identity; status only says where to look, and everything
    // found there is verified: the clone by its marker, the storage by pointing at that clone.
    let hash = naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default());
    let (junction, sid) = identity(&obj, &hash)
        .unwrap_or_else(|_| (naming::clone_junction(&hash), naming::storage_id(&hash)));
    let marker = marker(&ctx, &obj);
    // The clone's name in status is used only if it is a name this object would have made; otherwise (status
    // lost or rewritten) the clone is looked for by its name's hash and its marker.
    let (clone_name, clone) = match w.status.clone_volume_name.clone() {
        Some(n) if naming::is_own_clone_name(&n, &hash) => {
            let clone = ontap
                .find_volume(&svm, &n)
                .await?
                .filter(|v| marker.is_owner_of(v.comment.as_deref()));
            (Some(n), clone)
        }
        _ => {
            let clone = ontap.volumes().await?.into_iter().find(|v| {
                v.svm == svm
                    && naming::is_own_clone_name(&v.name, &hash)
                    && marker.is_owner_of(v.comment.as_deref())
            });
            (clone.as_ref().map(|v| v.name.clone()), clone)
        }
    };

    if let Some(s) = pve.storage(&sid).await? {
        let server = s.server.clone().unwrap_or_default();
        if !storage_is_ours(&s, &server, &junction, clone.as_ref()) {
            ctx.warning(
                obj.as_ref(),
                "StorageKept",
                format!("Proxmox storage {sid} was not added by this object; it is kept"),
            )
            .await;
        } else {
            let users = vms_using(&pve, &sid).await?;
            if !users.is_empty() {
                let ids: Vec<String> = users.iter().map(u32::to_string).collect();
                let msg = format!(
                    "Proxmox storage {sid} is used by VM(s) {}; detach their disks first",
                    ids.join(", ")
                );
                w.condition(DELETION_BLOCKED, true, "InUse", msg.clone());
                w.set(Phase::Deleting, "InUse", msg.clone());
                if w.save().await? {
                    ctx.warning(obj.as_ref(), "InUse", msg).await;
                }
                return Ok(Cleanup::Wait(Action::requeue(BLOCKED_POLL)));
            }
            w.set(
                Phase::Deleting,
                "Deleting",
                format!(
                    "removing storage {sid} and FlexClone {}",
                    clone_name.as_deref().unwrap_or_default()
                ),
            );
            w.save().await?;
            pve.delete_storage(&sid).await?;
            ctx.normal(
                obj.as_ref(),
                "StorageRemoved",
                format!("removed Proxmox storage {sid}"),
            )
            .await;
        }
    }

    let Some(clone_name) = clone_name else {
        return Ok(Cleanup::Done);
    };
    if let Some(vol) = ontap.find_volume(&svm, &clone_name).await? {
        if !marker.is_owner_of(vol.comment.as_deref()) {
            ctx.warning(
                obj.as_ref(),
                "NotOwner",
                format!("volume {clone_name} is not ours; it is kept"),
            )
            .await;
            return Ok(Cleanup::Done);
        }
        if vol.junction.is_some() {
            if let Progress::Running(_) = ontap
                .patch_volume(&vol.uuid, Some(String::new()), false)
                .await?
            {
                return Ok(Cleanup::Wait(Action::requeue(JOB_POLL)));
            }
        }
        if let Progress::Running(_) = ontap.delete_volume(&vol.uuid).await? {
            return Ok(Cleanup::Wait(Action::requeue(JOB_POLL)));
        }
        ctx.normal(
            obj.as_ref(),
            "CloneDeleted",
            format!("deleted FlexClone {clone_name}"),
        )
        .await;
    }
    // The deleted clone waits in the recovery queue and keeps its parent snapshot locked; the queued name is
    // ours (our clone name plus ONTAP's suffix), so purge it.
    let prefix = format!("{clone_name}_");
    for queued in ontap.recovery_queue(&svm).await? {
        if queued.starts_with(&prefix) {
            ontap.purge_recovery_queue(&svm, &queued).await?;
            ctx.normal(
                obj.as_ref(),
                "Purged",
                format!("purged {queued} from the volume recovery queue"),
            )
            .await;
        }
    }
    Ok(Cleanup::Done)
}

/// VMs whose config references a volume on `storage_id`, now or after their next cold start. Proxmox has no
/// index from volume to VM, so every VM's config is read — once (`/pending` carries current and pending values),
/// a few at a time. Fails closed: any read error is an error, never "no users".
async fn vms_using(pve: &PveClient, storage_id: &str) -> Result<Vec<u32>, Error> {
    let prefix = format!("{storage_id}:");
    let prefix = prefix.as_str();
    let mut out: Vec<u32> = stream::iter(pve.vms().await?)
        .map(|(vmid, node)| async move {
            let values = pve.vm_all_values(&node, vmid).await?;
            let uses = values
                .iter()
                .any(|(_, v)| plan::parse_drive(v).volume.starts_with(prefix));
            Ok::<_, Error>(uses.then_some(vmid))
        })
        .buffer_unordered(CONFIG_READS_IN_FLIGHT)
        .try_filter_map(|v| async move { Ok(v) })
        .try_collect()
        .await?;
    out.sort_unstable();
    Ok(out)
}
