//! FlexCloneMount: a FlexClone of a snapshot mounted at a unique junction and added to Proxmox as a new NFS
//! storage (same server and options as the parent's). Deletion refuses while a VM uses the storage.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::backends;
use super::backends::{OntapGrant, ProxmoxGrant};
use super::context::Context;
use super::error::Error;
use super::locks::KeyedLocks;
use super::naming::{self, OwnerMarker};
use super::ports::{
    NewFlexClone, NewNfsStorage, OntapClient, OntapVolume, Progress, PveClient, PveStorage,
};
use super::reconcile::{apply_unless_settled, reconcile_namespaced, Cleanup};
use super::resolve;
use super::status::StatusWriter;
use super::vm_disk_clone::plan;
use crate::api::common::{junction_allowed, nfs_options_allowed};
use crate::api::conditions::DELETION_BLOCKED;
use crate::api::{DeletionPolicy, FlexCloneMount, Phase, VolumeSnapshot};

const JOB_POLL: Duration = Duration::from_secs(3);
const BLOCKED_POLL: Duration = Duration::from_secs(15);
/// Condition saying whether the storage settings of the spec are in effect.
const SPEC_APPLIED: &str = "SpecApplied";
/// How many VM configs deletion reads at a time when looking for users of the storage.
const CONFIG_READS_IN_FLIGHT: usize = 8;

/// The Proxmox storage settings a FlexCloneMount asks for (defaults resolved).
struct StorageSettings {
    content: Vec<String>,
    nodes: Vec<String>,
    options: Option<String>,
}

impl StorageSettings {
    fn desired(obj: &FlexCloneMount, parent: &PveStorage) -> Self {
        Self {
            content: obj
                .spec
                .content
                .as_ref()
                .map(|c| c.iter().map(|x| x.as_str().to_owned()).collect())
                .unwrap_or_else(|| vec!["images".to_owned()]),
            nodes: obj.spec.nodes.clone().unwrap_or_default(),
            options: obj.spec.options.clone().or_else(|| parent.options.clone()),
        }
    }

    /// `(set, delete)` that turn `current` into these settings. Lists compare as sets (Proxmox may reorder).
    fn diff(&self, current: &PveStorage) -> (Vec<(String, String)>, Vec<String>) {
        let as_set = |v: Option<&str>| -> BTreeSet<String> {
            v.unwrap_or_default()
                .split([',', ';', ' '])
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut set = Vec::new();
        let mut delete = Vec::new();
        let content: BTreeSet<String> = self.content.iter().cloned().collect();
        if as_set(current.content.as_deref()) != content {
            set.push(("content".to_owned(), self.content.join(",")));
        }
        let nodes: BTreeSet<String> = self.nodes.iter().cloned().collect();
        if as_set(current.nodes.as_deref()) != nodes {
            if self.nodes.is_empty() {
                delete.push("nodes".to_owned());
            } else {
                set.push(("nodes".to_owned(), self.nodes.join(",")));
            }
        }
        if current.options.as_deref().filter(|o| !o.is_empty()) != self.options.as_deref() {
            match &self.options {
                Some(o) => set.push(("options".to_owned(), o.clone())),
                None => delete.push("options".to_owned()),
            }
        }
        (set, delete)
    }
}

#[instrument(skip_all, fields(kind = "FlexCloneMount", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_namespaced(obj, ctx, apply, cleanup).await
}

/// The snapshot to clone and the Proxmox storage it came from.
struct Source {
    ontap_cluster: String,
    ontap: OntapClient,
    svm: String,
    parent_volume: String,
    parent_volume_uuid: String,
    snapshot: String,
    pve_name: String,
    pve: PveClient,
    parent_storage: PveStorage,
}

async fn source(ctx: &Context, obj: &FlexCloneMount) -> Result<Source, Error> {
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
            snapshot: super::volume_snapshot::snapshot_name(ctx, &vs),
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

fn marker(ctx: &Context, obj: &FlexCloneMount) -> OwnerMarker {
    OwnerMarker {
        cluster_id: ctx.settings.cluster_id.clone(),
        kind: "FlexCloneMount".into(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
    }
}

type Writer = StatusWriter<FlexCloneMount>;

async fn apply(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let job_running = obj.status.as_ref().is_some_and(|s| s.job_uuid.is_some());
    apply_unless_settled(obj, ctx, job_running, apply_inner).await
}

/// The junction and Proxmox storage id of this object: from the spec (immutable) or derived from the UID, never
/// from status. The spec's values are checked again here (the CRD checks them at admission).
fn identity(ctx: &Context, obj: &FlexCloneMount) -> Result<(String, String), Error> {
    let hash = naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default());
    let junction = match &obj.spec.junction_path {
        Some(j) if !junction_allowed(j) => {
            return Err(Error::InvalidSpec(format!(
                "spec.junctionPath {j:?} must be one path component under /pveontap_fcm_ (e.g. /pveontap_fcm_web01)"
            )))
        }
        Some(j) => j.clone(),
        None => naming::clone_junction(&hash),
    };
    if let Some(o) = &obj.spec.options {
        if !nfs_options_allowed(o) {
            return Err(Error::InvalidSpec(format!(
                "spec.options {o:?} has an NFS mount option outside the allow-list (vers, nconnect, max_connect, \
                 rsize, wsize, proto, timeo, retrans, hard, soft, ...), or is not a comma-separated list"
            )));
        }
    }
    let storage_id = obj
        .spec
        .storage_id
        .clone()
        .unwrap_or_else(|| naming::storage_id(&hash));
    Ok((junction, storage_id))
}

/// Whether Proxmox storage `s` is the one this object added: an NFS storage on our server whose export is our
/// junction, where the volume mounted at that junction is our FlexClone (its comment carries our marker).
fn storage_is_ours(
    s: &PveStorage,
    server: &str,
    junction: &str,
    clone: Option<&OntapVolume>,
) -> bool {
    s.kind == "nfs"
        && s.export.as_deref() == Some(junction)
        && s.server.as_deref() == Some(server)
        && clone.is_some_and(|v| v.junction.as_deref() == Some(junction))
}

async fn apply_inner(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut w = Writer::new(&ctx, &obj);
    let (junction, storage_id) = identity(&ctx, &obj)?;
    let src = source(&ctx, &obj).await?;
    let hash = naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default());
    let clone_name = naming::clone_volume_name(&src.parent_volume, &hash);
    let server = src.parent_storage.server.clone().ok_or_else(|| {
        Error::Precondition(format!(
            "storage {} has no NFS server",
            src.parent_storage.id
        ))
    })?;
    let marker = marker(&ctx, &obj);
    w.status.clone_volume_name = Some(clone_name.clone());
    w.status.junction_path = Some(junction.clone());
    w.status.storage_id = Some(storage_id.clone());
    w.status.parent_volume = Some(src.parent_volume.clone());
    w.status.parent_volume_uuid = Some(src.parent_volume_uuid.clone());
    w.status.parent_snapshot = Some(src.snapshot.clone());
    w.status.svm = Some(src.svm.clone());
    w.status.ontap_cluster = Some(src.ontap_cluster.clone());
    w.status.proxmox_cluster = Some(src.pve_name.clone());
    w.status.server = Some(server.clone());

    // 1. The FlexClone (creation on one parent volume never interleaves). A storage id that is taken by a storage
    // not pointing at our clone is refused before anything is created.
    let mut vol = src.ontap.find_volume(&src.svm, &clone_name).await?;
    let ours_now = vol
        .as_ref()
        .filter(|v| marker.is_owner_of(v.comment.as_deref()));
    // Read once: nothing between here and step 4 adds a storage.
    let existing_storage = src.pve.storage(&storage_id).await?;
    if let Some(s) = &existing_storage {
        if !storage_is_ours(s, &server, &junction, ours_now) {
            return Err(Error::Precondition(format!(
                "Proxmox storage id {storage_id:?} is already in use by a storage this object did not add; choose \
                 another spec.storageId (or leave it out to derive one)"
            )));
        }
    }
    if vol.is_none() && w.status.clone_volume_uuid.is_some() {
        // A fresh clone would silently replace whatever was written to the old one.
        return Err(Error::Precondition(format!(
            "FlexClone {clone_name} was deleted outside Kubernetes; delete this object"
        )));
    }
    if vol.is_none() {
        let _guard = ctx
            .locks
            .lock(KeyedLocks::volume_key(
                &src.ontap_cluster,
                &src.svm,
                &src.parent_volume,
            ))
            .await;
        if let Some(job) = w.status.job_uuid.clone() {
            match src.ontap.job(&job).await {
                Ok(Progress::Running(_)) => return Ok(Action::requeue(JOB_POLL)),
                Ok(Progress::Done) => w.status.job_uuid = None,
                Err(e) => {
                    w.status.job_uuid = None;
                    w.save().await?;
                    return Err(e);
                }
            }
            vol = src.ontap.find_volume(&src.svm, &clone_name).await?;
        }
        if vol.is_none() {
            w.set(
                Phase::InProgress,
                "Cloning",
                format!(
                    "creating FlexClone {clone_name} of {}@{}",
                    src.parent_volume, src.snapshot
                ),
            );
            w.save().await?;
            let p = src
                .ontap
                .create_flexclone(NewFlexClone {
                    name: clone_name.clone(),
                    svm: src.svm.clone(),
                    parent_volume: src.parent_volume.clone(),
                    parent_snapshot: src.snapshot.clone(),
                    junction: junction.clone(),
                    comment: marker.to_comment(),
                })
                .await?;
            if let Progress::Running(job) = p {
                w.status.job_uuid = Some(job);
                w.save().await?;
                return Ok(Action::requeue(JOB_POLL));
            }
            ctx.normal(
                obj.as_ref(),
                "Cloned",
                format!("created FlexClone {clone_name}"),
            )
            .await;
            vol = src.ontap.find_volume(&src.svm, &clone_name).await?;
        }
    }
    let mut vol =
        vol.ok_or_else(|| Error::Waiting(format!("FlexClone {clone_name} not visible yet")))?;
    if !marker.is_owner_of(vol.comment.as_deref()) {
        return Err(Error::Precondition(format!(
            "volume {clone_name} exists in SVM {} but was not created by this object",
            src.svm
        )));
    }
    w.status.clone_volume_uuid = Some(vol.uuid.clone());

    // 2. Mounted at our junction.
    if vol.junction.as_deref() != Some(junction.as_str()) {
        if let Progress::Running(job) = src
            .ontap
            .patch_volume(&vol.uuid, Some(junction.clone()), false)
            .await?
        {
            w.status.job_uuid = Some(job);
            w.save().await?;
            return Ok(Action::requeue(JOB_POLL));
        }
        vol.junction = Some(junction.clone());
    }

    // 3. Split, when asked (cannot be undone).
    if obj.spec.split && vol.is_flexclone {
        match w.status.job_uuid.clone() {
            Some(job) => {
                if let Progress::Running(_) = src.ontap.job(&job).await? {
                    return Ok(Action::requeue(JOB_POLL));
                }
                w.status.job_uuid = None;
            }
            None => {
                if let Progress::Running(job) =
                    src.ontap.patch_volume(&vol.uuid, None, true).await?
                {
                    w.status.job_uuid = Some(job);
                }
                w.set(
                    Phase::InProgress,
                    "Splitting",
                    format!("splitting {clone_name} from its parent"),
                );
                w.save().await?;
                return Ok(Action::requeue(JOB_POLL));
            }
        }
    }
    w.status.split_complete = !vol.is_flexclone;

    // 4. The Proxmox storage (ids are never reused, so a stale mount of a removed storage cannot collide).
    let desired = StorageSettings::desired(&obj, &src.parent_storage);
    let mut notes = Vec::new();
    // `vol` is our clone, mounted at our junction (set above when it was just mounted).
    match existing_storage {
        Some(s) => {
            if !storage_is_ours(&s, &server, &junction, Some(&vol)) {
                return Err(Error::Precondition(format!(
                    "Proxmox storage id {storage_id:?} is already used by another storage; choose another storageId"
                )));
            }
            // Spec changes after creation: content, nodes and options are updatable (PUT /storage/{id}).
            let (set, delete) = desired.diff(&s);
            if !set.is_empty() || !delete.is_empty() {
                let changed: Vec<String> = set
                    .iter()
                    .map(|(k, _)| k.clone())
                    .chain(delete.iter().cloned())
                    .collect();
                src.pve.update_storage(&storage_id, set, delete).await?;
                ctx.normal(
                    obj.as_ref(),
                    "StorageUpdated",
                    format!(
                        "updated {} of Proxmox storage {storage_id}",
                        changed.join(", ")
                    ),
                )
                .await;
                if changed.iter().any(|k| k == "options") {
                    w.status.options_changed_while_mounted = true;
                }
            }
        }
        None => {
            src.pve
                .create_nfs_storage(NewNfsStorage {
                    id: storage_id.clone(),
                    server: server.clone(),
                    export: junction.clone(),
                    content: desired.content.clone(),
                    nodes: desired.nodes.clone(),
                    options: desired.options.clone(),
                })
                .await?;
            w.status.options_changed_while_mounted = false;
            ctx.normal(
                obj.as_ref(),
                "StorageAdded",
                format!("added Proxmox storage {storage_id} ({server}:{junction})"),
            )
            .await;
        }
    }
    w.status.content = desired.content.clone();
    w.status.nodes = desired.nodes.clone();
    w.status.options = desired.options.clone();
    if w.status.options_changed_while_mounted {
        notes.push(
            "the NFS mount options changed after the storage was mounted: Proxmox uses them at the next mount \
             (nodes that have it mounted keep the old options until it is unmounted or they reboot)",
        );
    }
    let (ok, reason, note) = match notes.first() {
        None => (
            true,
            "Applied",
            "content, nodes and options are in effect on the Proxmox storage".to_owned(),
        ),
        Some(n) => (false, "PendingRemount", (*n).to_owned()),
    };
    w.condition(SPEC_APPLIED, ok, reason, note);
    let first = w.status.phase != Phase::Ready;
    let msg = format!("FlexClone {clone_name} mounted at {junction}, Proxmox storage {storage_id}");
    w.set(Phase::Ready, "Ready", msg.clone());
    w.save().await?;
    if first {
        ctx.normal(obj.as_ref(), "Ready", msg).await;
    }
    ctx.facts.checked.put(obj.uid().unwrap_or_default(), ());
    Ok(Action::requeue(ctx.settings.resync))
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

async fn cleanup(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Cleanup, Error> {
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
    let (junction, sid) = identity(&ctx, &obj).unwrap_or_else(|_| {
        let hash = naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default());
        (naming::clone_junction(&hash), naming::storage_id(&hash))
    });
    let marker = marker(&ctx, &obj);
    let hash = naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default());
    // The clone's name in status is used only if it is a name this object would have made; otherwise (status
    // lost or rewritten) the clone is looked for by its name's hash and its marker.
    let clone_name = match w.status.clone_volume_name.clone() {
        Some(n) if naming::is_own_clone_name(&n, &hash) => Some(n),
        _ => ontap
            .volumes()
            .await?
            .into_iter()
            .find(|v| {
                v.svm == svm
                    && naming::is_own_clone_name(&v.name, &hash)
                    && marker.is_owner_of(v.comment.as_deref())
            })
            .map(|v| v.name),
    };
    let clone = match &clone_name {
        Some(n) => ontap
            .find_volume(&svm, n)
            .await?
            .filter(|v| marker.is_owner_of(v.comment.as_deref())),
        None => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn current(content: &str, nodes: Option<&str>, options: Option<&str>) -> PveStorage {
        PveStorage {
            id: "clone".into(),
            kind: "nfs".into(),
            server: Some("192.0.2.10".into()),
            export: Some("/pvo_x".into()),
            options: options.map(str::to_owned),
            content: Some(content.into()),
            nodes: nodes.map(str::to_owned),
        }
    }

    fn settings(content: &[&str], nodes: &[&str], options: Option<&str>) -> StorageSettings {
        StorageSettings {
            content: content.iter().map(|s| (*s).to_owned()).collect(),
            nodes: nodes.iter().map(|s| (*s).to_owned()).collect(),
            options: options.map(str::to_owned),
        }
    }

    #[test]
    fn equal_settings_need_no_update_whatever_the_order() {
        let s = settings(&["iso", "images"], &["pve2", "pve1"], Some("vers=3"));
        let (set, delete) = s.diff(&current("images,iso", Some("pve1,pve2"), Some("vers=3")));
        assert!(set.is_empty() && delete.is_empty(), "{set:?} {delete:?}");
    }

    #[test]
    fn changed_settings_are_set_and_dropped_ones_deleted() {
        let s = settings(&["images", "backup"], &[], None);
        let (set, delete) = s.diff(&current("images", Some("pve1"), Some("vers=4.2")));
        assert_eq!(set, [("content".to_owned(), "images,backup".to_owned())]);
        assert_eq!(delete, ["nodes", "options"]);
        let s = settings(&["images"], &["pve2"], Some("vers=3"));
        let (set, delete) = s.diff(&current("images", None, None));
        assert_eq!(
            set,
            [
                ("nodes".to_owned(), "pve2".to_owned()),
                ("options".to_owned(), "vers=3".to_owned())
            ]
        );
        assert!(delete.is_empty());
    }
}
