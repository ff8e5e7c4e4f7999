//! Create/update path of a FlexCloneMount, one step per function: each either continues with what it made or
//! ends the reconcile with a requeue (a job still running).

use std::ops::ControlFlow;
use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::plan::{identity, storage_is_ours, StorageSettings};
use super::source::{source, Source};
use super::{marker, Writer, JOB_POLL, SPEC_APPLIED};
use crate::api::{FlexCloneMount, Phase};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::locks::KeyedLocks;
use crate::controller::naming::{self, OwnerMarker};
use crate::controller::ports::{NewFlexClone, NewNfsStorage, OntapVolume, Progress, PveStorage};
use crate::controller::reconcile::apply_unless_settled;

/// A step's outcome: go on with `T`, or end this reconcile with the action.
type Step<T> = Result<ControlFlow<Action, T>, Error>;

/// Unwraps a step, returning its action from the caller when it ended the reconcile.
macro_rules! step {
    ($e:expr) => {
        match $e? {
            ControlFlow::Continue(v) => v,
            ControlFlow::Break(action) => return Ok(action),
        }
    };
}

pub async fn apply(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let job_running = obj.status.as_ref().is_some_and(|s| s.job_uuid.is_some());
    apply_unless_settled(obj, ctx, job_running, apply_inner).await
}

/// One reconcile's working state: the object, its status being written, and the names it works with.
struct Run {
    obj: Arc<FlexCloneMount>,
    ctx: Arc<Context>,
    w: Writer,
    src: Source,
    marker: OwnerMarker,
    junction: String,
    storage_id: String,
    clone_name: String,
    server: String,
}

async fn apply_inner(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut m = observe(obj, ctx).await?;
    // Both read once: nothing between here and the storage step adds a storage.
    let (found, existing) = refuse_taken_storage_id(&m).await?;
    let vol = step!(ensure_clone(&mut m, found).await);
    let vol = step!(ensure_mounted(&mut m, vol).await);
    step!(ensure_split(&mut m, &vol).await);
    ensure_storage(&mut m, existing, &vol).await?;
    ready(&mut m).await
}

/// Identity (from the spec or the UID), the source snapshot, and the names derived from them, recorded in status
/// so the user sees where things are (deletion verifies whatever it finds there).
async fn observe(obj: Arc<FlexCloneMount>, ctx: Arc<Context>) -> Result<Run, Error> {
    let hash = naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default());
    let (junction, storage_id) = identity(&obj, &hash)?;
    let src = source(&ctx, &obj).await?;
    let clone_name = naming::clone_volume_name(&src.parent_volume, &hash);
    let server = src.parent_storage.server.clone().ok_or_else(|| {
        Error::Precondition(format!(
            "storage {} has no NFS server",
            src.parent_storage.id
        ))
    })?;
    let mut w = Writer::new(&ctx, &obj);
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
    Ok(Run {
        marker: marker(&ctx, &obj),
        obj,
        ctx,
        w,
        src,
        junction,
        storage_id,
        clone_name,
        server,
    })
}

/// The storage id, if a storage has it, must be the one this object added; otherwise nothing is created.
/// Returns the volume found under the clone's name and the storage found under the id.
async fn refuse_taken_storage_id(
    m: &Run,
) -> Result<(Option<OntapVolume>, Option<PveStorage>), Error> {
    let found = m.src.ontap.find_volume(&m.src.svm, &m.clone_name).await?;
    let ours_now = found
        .as_ref()
        .filter(|v| m.marker.is_owner_of(v.comment.as_deref()));
    let existing = m.src.pve.storage(&m.storage_id).await?;
    if let Some(s) = &existing {
        if !storage_is_ours(s, &m.server, &m.junction, ours_now) {
            return Err(Error::Precondition(format!(
                "Proxmox storage id {:?} is already in use by a storage this object did not add; choose \
                 another spec.storageId (or leave it out to derive one)",
                m.storage_id
            )));
        }
    }
    Ok((found, existing))
}

/// The FlexClone, created once (creation on one parent volume never interleaves) and verified by its marker.
async fn ensure_clone(m: &mut Run, found: Option<OntapVolume>) -> Step<OntapVolume> {
    let (src, name) = (&m.src, m.clone_name.clone());
    let mut vol = found;
    if vol.is_none() && m.w.status.clone_volume_uuid.is_some() {
        // A fresh clone would silently replace whatever was written to the old one.
        return Err(Error::Precondition(format!(
            "FlexClone {name} was deleted outside Kubernetes; delete this object"
        )));
    }
    if vol.is_none() {
        let key = KeyedLocks::volume_key(&src.ontap_cluster, &src.svm, &src.parent_volume);
        let _guard = m.ctx.locks.lock(key).await;
        if let Some(job) = m.w.status.job_uuid.clone() {
            match m.src.ontap.job(&job).await {
                Ok(Progress::Running(_)) => {
                    return Ok(ControlFlow::Break(Action::requeue(JOB_POLL)))
                }
                Ok(Progress::Done) => m.w.status.job_uuid = None,
                Err(e) => {
                    m.w.status.job_uuid = None;
                    m.w.save().await?;
                    return Err(e);
                }
            }
            vol = m.src.ontap.find_volume(&m.src.svm, &name).await?;
        }
        if vol.is_none() {
            if let ControlFlow::Break(a) = create_clone(m).await? {
                return Ok(ControlFlow::Break(a));
            }
            vol = m.src.ontap.find_volume(&m.src.svm, &name).await?;
        }
    }
    let vol = vol.ok_or_else(|| Error::Waiting(format!("FlexClone {name} not visible yet")))?;
    if !m.marker.is_owner_of(vol.comment.as_deref()) {
        return Err(Error::Precondition(format!(
            "volume {name} exists in SVM {} but was not created by this object",
            m.src.svm
        )));
    }
    m.w.status.clone_volume_uuid = Some(vol.uuid.clone());
    Ok(ControlFlow::Continue(vol))
}

async fn create_clone(m: &mut Run) -> Step<()> {
    let src = &m.src;
    m.w.set(
        Phase::InProgress,
        "Cloning",
        format!(
            "creating FlexClone {} of {}@{}",
            m.clone_name, src.parent_volume, src.snapshot
        ),
    );
    m.w.save().await?;
    let p = src
        .ontap
        .create_flexclone(NewFlexClone {
            name: m.clone_name.clone(),
            svm: src.svm.clone(),
            parent_volume: src.parent_volume.clone(),
            parent_snapshot: src.snapshot.clone(),
            junction: m.junction.clone(),
            comment: m.marker.to_comment(),
        })
        .await?;
    if let Progress::Running(job) = p {
        m.w.status.job_uuid = Some(job);
        m.w.save().await?;
        return Ok(ControlFlow::Break(Action::requeue(JOB_POLL)));
    }
    m.ctx
        .normal(
            m.obj.as_ref(),
            "Cloned",
            format!("created FlexClone {}", m.clone_name),
        )
        .await;
    Ok(ControlFlow::Continue(()))
}

/// Mounted at our junction.
async fn ensure_mounted(m: &mut Run, mut vol: OntapVolume) -> Step<OntapVolume> {
    if vol.junction.as_deref() != Some(m.junction.as_str()) {
        if let Progress::Running(job) = m
            .src
            .ontap
            .patch_volume(&vol.uuid, Some(m.junction.clone()), false)
            .await?
        {
            m.w.status.job_uuid = Some(job);
            m.w.save().await?;
            return Ok(ControlFlow::Break(Action::requeue(JOB_POLL)));
        }
        vol.junction = Some(m.junction.clone());
    }
    Ok(ControlFlow::Continue(vol))
}

/// Split from the parent when asked (cannot be undone).
async fn ensure_split(m: &mut Run, vol: &OntapVolume) -> Step<()> {
    if m.obj.spec.split && vol.is_flexclone {
        match m.w.status.job_uuid.clone() {
            Some(job) => {
                if let Progress::Running(_) = m.src.ontap.job(&job).await? {
                    return Ok(ControlFlow::Break(Action::requeue(JOB_POLL)));
                }
                m.w.status.job_uuid = None;
            }
            None => {
                if let Progress::Running(job) =
                    m.src.ontap.patch_volume(&vol.uuid, None, true).await?
                {
                    m.w.status.job_uuid = Some(job);
                }
                m.w.set(
                    Phase::InProgress,
                    "Splitting",
                    format!("splitting {} from its parent", m.clone_name),
                );
                m.w.save().await?;
                return Ok(ControlFlow::Break(Action::requeue(JOB_POLL)));
            }
        }
    }
    m.w.status.split_complete = !vol.is_flexclone;
    Ok(ControlFlow::Continue(()))
}

/// The Proxmox storage: added, or (when it is ours) brought to the spec's content, nodes and options. Ids are
/// never reused, so a stale mount of a removed storage cannot collide.
async fn ensure_storage(
    m: &mut Run,
    existing: Option<PveStorage>,
    vol: &OntapVolume,
) -> Result<(), Error> {
    let desired = StorageSettings::desired(&m.obj, &m.src.parent_storage);
    let sid = m.storage_id.clone();
    match existing {
        Some(s) => {
            // `vol` is our clone, mounted at our junction (set above when it was just mounted).
            if !storage_is_ours(&s, &m.server, &m.junction, Some(vol)) {
                return Err(Error::Precondition(format!(
                    "Proxmox storage id {sid:?} is already used by another storage; choose another storageId"
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
                m.src.pve.update_storage(&sid, set, delete).await?;
                let note = format!("updated {} of Proxmox storage {sid}", changed.join(", "));
                m.ctx.normal(m.obj.as_ref(), "StorageUpdated", note).await;
                if changed.iter().any(|k| k == "options") {
                    m.w.status.options_changed_while_mounted = true;
                }
            }
        }
        None => {
            m.src
                .pve
                .create_nfs_storage(NewNfsStorage {
                    id: sid.clone(),
                    server: m.server.clone(),
                    export: m.junction.clone(),
                    content: desired.content.clone(),
                    nodes: desired.nodes.clone(),
                    options: desired.options.clone(),
                })
                .await?;
            m.w.status.options_changed_while_mounted = false;
            let note = format!("added Proxmox storage {sid} ({}:{})", m.server, m.junction);
            m.ctx.normal(m.obj.as_ref(), "StorageAdded", note).await;
        }
    }
    m.w.status.content = desired.content;
    m.w.status.nodes = desired.nodes;
    m.w.status.options = desired.options;
    Ok(())
}

/// Records Ready, and whether every storage setting is in effect.
async fn ready(m: &mut Run) -> Result<Action, Error> {
    let (ok, reason, note) = if m.w.status.options_changed_while_mounted {
        (
            false,
            "PendingRemount",
            "the NFS mount options changed after the storage was mounted: Proxmox uses them at the next mount \
             (nodes that have it mounted keep the old options until it is unmounted or they reboot)",
        )
    } else {
        (
            true,
            "Applied",
            "content, nodes and options are in effect on the Proxmox storage",
        )
    };
    m.w.condition(SPEC_APPLIED, ok, reason, note.to_owned());
    let first = m.w.status.phase != Phase::Ready;
    let msg = format!(
        "FlexClone {} mounted at {}, Proxmox storage {}",
        m.clone_name, m.junction, m.storage_id
    );
    m.w.set(Phase::Ready, "Ready", msg.clone());
    m.w.save().await?;
    if first {
        m.ctx.normal(m.obj.as_ref(), "Ready", msg).await;
    }
    m.ctx.facts.checked.put(m.obj.uid().unwrap_or_default(), ());
    Ok(Action::requeue(m.ctx.settings.resync))
}
