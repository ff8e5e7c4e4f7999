//! VolumeSnapshot: an ONTAP snapshot of the volume behind a Proxmox storage (or a named volume), optionally with
//! the storage's running VMs frozen or paused for the instant; deletion waits for FlexClone dependents.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;
use tracing::instrument;

use super::backends;
use super::backends::{OntapGrant, ProxmoxGrant};
use super::context::Context;
use super::error::Error;
use super::naming::{self, OwnerMarker};
use super::object::Managed;
use super::ports::{OntapClient, Progress, PveClient};
use super::reconcile::{apply_unless_settled, reconcile_namespaced, Cleanup};
use super::resolve;
use super::status::StatusWriter;
use crate::api::common::{
    VmRestoreAction, ONTAP_SNAPSHOT_COMMENT_MAX, RESERVED_COMMENT_TEXT, USER_COMMENT_MAX,
};
use crate::api::conditions::DELETION_BLOCKED;
use crate::api::volume_snapshot::SnapshotConsistency;
use crate::api::{DeletionPolicy, FlexCloneMount, Phase, VolumeSnapshot};
use crate::metrics::{Metrics, VmDisturbance};

mod window;

use window::Outcome;

const JOB_POLL: Duration = Duration::from_secs(3);
const BLOCKED_POLL: Duration = Duration::from_secs(15);
/// Condition saying whether every spec field is in effect (some only matter when the snapshot is taken).
const SPEC_APPLIED: &str = "SpecApplied";

#[instrument(skip_all, fields(kind = "VolumeSnapshot", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())))]
pub async fn reconcile(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Action, Error> {
    reconcile_namespaced(obj, ctx, apply, cleanup).await
}

/// The volume a VolumeSnapshot is about.
struct Target {
    ontap_cluster: String,
    ontap: OntapClient,
    svm: String,
    volume: String,
    volume_uuid: String,
    /// Proxmox side, when named through a storage: (client, ProxmoxCluster name, storage id).
    pve: Option<(PveClient, String, String)>,
    /// What the ProxmoxCluster grants this namespace, when named through a storage.
    grant: Option<ProxmoxGrant>,
}

impl Target {
    fn pve_name(&self) -> &str {
        self.pve.as_ref().map(|p| p.1.as_str()).unwrap_or_default()
    }
}

async fn target(ctx: &Context, obj: &VolumeSnapshot) -> Result<Target, Error> {
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

fn marker(ctx: &Context, obj: &VolumeSnapshot) -> OwnerMarker {
    OwnerMarker {
        cluster_id: ctx.settings.cluster_id.clone(),
        kind: "VolumeSnapshot".into(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
    }
}

/// Name of the snapshot this object manages.
pub(crate) fn snapshot_name(ctx: &Context, obj: &VolumeSnapshot) -> String {
    if let Some(n) = obj
        .spec
        .existing_snapshot_name
        .clone()
        .or_else(|| obj.spec.snapshot_name.clone())
    {
        return n;
    }
    naming::snapshot_name(
        &obj.name_any(),
        &naming::object_hash(&ctx.settings.cluster_id, &obj.uid().unwrap_or_default()),
    )
}

/// The status writer, plus the disturbed-VM metric kept in step with the restore list: it is written before each
/// VM is frozen or paused and shrinks as each is restored.
struct Writer {
    inner: StatusWriter<VolumeSnapshot>,
    uid: String,
    metrics: Arc<Metrics>,
}

impl std::ops::Deref for Writer {
    type Target = StatusWriter<VolumeSnapshot>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl Writer {
    fn new(ctx: &Context, obj: &VolumeSnapshot) -> Self {
        Self {
            inner: StatusWriter::new(ctx, obj),
            uid: obj.uid().unwrap_or_default(),
            metrics: ctx.metrics.clone(),
        }
    }

    /// Writes the status if it changed; true when it wrote.
    async fn save(&mut self) -> Result<bool, Error> {
        let wrote = self.inner.save().await?;
        if wrote {
            let vms = self.status.restore.iter().map(|r| {
                let state = match r.action {
                    VmRestoreAction::Thaw => VmDisturbance::Frozen,
                    VmRestoreAction::Resume => VmDisturbance::Paused,
                    VmRestoreAction::Start => VmDisturbance::Stopped,
                };
                (r.vmid, state)
            });
            self.metrics.set_disturbed(&self.uid, vms);
        }
        Ok(wrote)
    }
}

fn parse_time(s: &Option<String>) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
    let t = chrono::DateTime::parse_from_rfc3339(s.as_deref()?).ok()?;
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp())
        .ok()
        .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time)
}

/// The comment written to a snapshot we create: the user's comment, then our ownership marker as the last
/// token. Text that could pass for a marker is refused (admission checks it too; an old CRD might not).
fn full_comment(obj: &VolumeSnapshot, marker: &OwnerMarker) -> Result<String, Error> {
    match &obj.spec.comment {
        Some(c) if c.contains(RESERVED_COMMENT_TEXT) => Err(Error::InvalidSpec(format!(
            "spec.comment may not contain {RESERVED_COMMENT_TEXT:?}: it is reserved for the controller's ownership marker"
        ))),
        Some(c) if c.chars().count() > USER_COMMENT_MAX => Err(Error::InvalidSpec(format!(
            "spec.comment is longer than {USER_COMMENT_MAX} characters (ONTAP keeps at most {ONTAP_SNAPSHOT_COMMENT_MAX}, \
             including the ownership marker)"
        ))),
        Some(c) if !c.trim().is_empty() => Ok(format!("{} {}", c.trim_end(), marker.to_comment())),
        _ => Ok(marker.to_comment()),
    }
}

/// A reconcile waiting on the window: say what for, look again soon.
async fn waiting(w: &mut Writer, msg: String, after: Duration) -> Result<Action, Error> {
    w.set(Phase::InProgress, "WaitingForWindow", msg);
    w.save().await?;
    Ok(Action::requeue(after))
}

async fn apply(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Action, Error> {
    let work_open = obj
        .status
        .as_ref()
        .is_some_and(|s| s.window.is_some() || !s.restore.is_empty() || s.job_uuid.is_some());
    apply_unless_settled(obj, ctx, work_open, apply_inner).await
}

async fn apply_inner(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut w = Writer::new(&ctx, &obj);
    let t = target(&ctx, &obj).await?;
    w.status.ontap_cluster = Some(t.ontap_cluster.clone());
    w.status.svm = Some(t.svm.clone());
    w.status.volume_name = Some(t.volume.clone());
    w.status.volume_uuid = Some(t.volume_uuid.clone());
    let name = snapshot_name(&ctx, &obj);
    let marker = marker(&ctx, &obj);
    let comment = full_comment(&obj, &marker)?;
    w.status.snapshot_name = Some(name.clone());
    let request = window::Snapshot {
        name: &name,
        comment: &comment,
    };
    // An open window (or one a dead controller left) is advanced — or closed, every VM restored — first.
    if let Outcome::Wait(msg, after) = window::advance(&ctx, &obj, &mut w, &t, &request).await? {
        return waiting(&mut w, msg, after).await;
    }

    let adopted = obj.spec.existing_snapshot_name.is_some();
    let mut snap = t.ontap.find_snapshot(&t.volume_uuid, &name).await?;
    if snap.is_none() && w.status.snapshot_uuid.is_some() {
        // Re-creating it would silently capture a different instant under the same name.
        w.status.ready_to_use = false;
        return Err(Error::Precondition(format!(
            "snapshot {name} was deleted outside Kubernetes; delete this object (and create a new one if needed)"
        )));
    }
    if snap.is_none() && adopted {
        return Err(Error::Precondition(format!(
            "snapshot {name:?} (existingSnapshotName) does not exist on volume {}",
            t.volume
        )));
    }
    if snap.is_none() {
        if let Some(job) = w.status.job_uuid.clone() {
            match t.ontap.job(&job).await {
                Ok(Progress::Running(_)) => return Ok(Action::requeue(JOB_POLL)),
                Ok(Progress::Done) => {
                    w.status.job_uuid = None;
                    snap = t.ontap.find_snapshot(&t.volume_uuid, &name).await?;
                }
                Err(e) => {
                    w.status.job_uuid = None;
                    w.save().await?;
                    return Err(e);
                }
            }
        }
    }
    if snap.is_none() {
        w.set(
            Phase::InProgress,
            "Creating",
            format!("creating snapshot {name} of volume {}", t.volume),
        );
        w.save().await?;
        let requested = obj.spec.consistency;
        match (&t.pve, requested) {
            (
                Some((pve, _, storage)),
                SnapshotConsistency::FsFreeze | SnapshotConsistency::Suspend,
            ) => {
                let vms = window::running_vms_on(pve, storage, t.grant.as_ref()).await?;
                if let Some(Outcome::Wait(msg, after)) =
                    window::open(&ctx, &obj, &mut w, &t, vms).await?
                {
                    return waiting(&mut w, msg, after).await;
                }
                if let Outcome::Wait(msg, after) =
                    window::advance(&ctx, &obj, &mut w, &t, &request).await?
                {
                    return waiting(&mut w, msg, after).await;
                }
            }
            _ => {
                w.status.consistency_applied = Some(SnapshotConsistency::None);
                w.status.requested_consistency = Some(requested);
                if let Progress::Running(job) = t
                    .ontap
                    .create_snapshot(&t.volume_uuid, &name, &comment)
                    .await?
                {
                    w.status.job_uuid = Some(job);
                    w.save().await?;
                    return Ok(Action::requeue(JOB_POLL));
                }
            }
        }
        snap = t.ontap.find_snapshot(&t.volume_uuid, &name).await?;
        ctx.normal(
            obj.as_ref(),
            "Created",
            format!("created snapshot {name} of volume {}", t.volume),
        )
        .await;
    }
    let Some(snap) = snap else {
        return Err(Error::Waiting(format!("snapshot {name} not visible yet")));
    };
    if !adopted && !marker.is_owner_of(snap.comment.as_deref()) {
        return Err(Error::Precondition(format!(
            "snapshot {name:?} on volume {} exists but was not created by this object; choose another snapshotName \
             or adopt it with existingSnapshotName",
            t.volume
        )));
    }
    w.status.adopted = adopted;
    w.status.snapshot_uuid = Some(snap.uuid.clone());
    w.status.create_time = parse_time(&snap.create_time);
    w.status.ready_to_use = true;

    // Spec changes after creation: the comment is re-applied; what only matters at creation is reported.
    if !adopted && snap.comment.as_deref() != Some(comment.as_str()) {
        if let Progress::Running(_) = t
            .ontap
            .set_snapshot_comment(&t.volume_uuid, &snap.uuid, &comment)
            .await?
        {
            w.set(
                Phase::InProgress,
                "Updating",
                format!("updating the comment of snapshot {name}"),
            );
            w.save().await?;
            return Ok(Action::requeue(JOB_POLL));
        }
        ctx.normal(
            obj.as_ref(),
            "CommentUpdated",
            format!("updated the comment of snapshot {name}"),
        )
        .await;
    }
    if !adopted {
        w.status.applied_comment = Some(comment.clone());
    }
    spec_applied(&obj, &mut w);

    let first = w.status.phase != Phase::Ready;
    let msg = format!(
        "snapshot {name} of {}:{}/{} is ready",
        t.ontap_cluster, t.svm, t.volume
    );
    w.set(Phase::Ready, "Ready", msg.clone());
    w.save().await?;
    if first {
        ctx.normal(obj.as_ref(), "Ready", msg).await;
    }
    ctx.facts.checked.put(w.uid.clone(), ());
    Ok(Action::requeue(ctx.settings.resync))
}

/// Sets `SpecApplied`: which spec changes made after the snapshot was taken have no effect on it.
fn spec_applied(obj: &VolumeSnapshot, w: &mut Writer) {
    let mut ignored = Vec::new();
    if let Some(taken) = w.status.requested_consistency {
        if taken != obj.spec.consistency {
            ignored.push(format!(
                "consistency {:?} (the snapshot was taken with {taken:?}; consistency applies only when a \
                 snapshot is taken)",
                obj.spec.consistency
            ));
        }
    }
    if obj.spec.existing_snapshot_name.is_some() && obj.spec.comment.is_some() {
        ignored.push("comment (an adopted snapshot is not modified)".to_owned());
    }
    if ignored.is_empty() {
        w.condition(
            SPEC_APPLIED,
            true,
            "Applied",
            "every spec field is in effect",
        );
    } else {
        w.condition(
            SPEC_APPLIED,
            false,
            "NotReapplied",
            format!(
                "not applied to the existing snapshot: {}",
                ignored.join("; ")
            ),
        );
    }
}

async fn cleanup(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Cleanup, Error> {
    let st = obj.status_cloned();
    if obj.spec.deletion_policy() == DeletionPolicy::Retain {
        ctx.normal(
            obj.as_ref(),
            "Retained",
            "deletionPolicy Retain: the snapshot is kept",
        )
        .await;
        return Ok(Cleanup::Done);
    }
    if st.snapshot_uuid.is_none()
        && st.job_uuid.is_none()
        && st.restore.is_empty()
        && st.window.is_none()
    {
        return Ok(Cleanup::Done);
    }
    let mut w = Writer::new(&ctx, &obj);
    let t = target(&ctx, &obj).await?;
    let name = snapshot_name(&ctx, &obj);
    // A window still open is closed first: no VM stays frozen or paused for an object being deleted.
    window::interrupt(&mut w, "the object is being deleted");
    // The comment only matters for a snapshot still to be taken; a bad one must not block the deletion.
    let comment = full_comment(&obj, &marker(&ctx, &obj)).unwrap_or_default();
    let request = window::Snapshot {
        name: &name,
        comment: &comment,
    };
    if let Outcome::Wait(msg, after) = window::advance(&ctx, &obj, &mut w, &t, &request).await? {
        w.set(Phase::Deleting, "RestoringVms", msg);
        w.save().await?;
        return Ok(Cleanup::Wait(Action::requeue(after)));
    }
    // A snapshot still being created would appear after the finalizer is gone: let its job finish first.
    if let Some(job) = w.status.job_uuid.clone() {
        match t.ontap.job(&job).await {
            Ok(Progress::Running(_)) => return Ok(Cleanup::Wait(Action::requeue(JOB_POLL))),
            // A failed creation left no snapshot; a finished one is found and deleted below.
            Ok(Progress::Done) => {
                w.status.job_uuid = None;
                w.save().await?;
            }
            Err(e) if matches!(e, Error::Ontap(_)) && e.is_permanent() => {
                w.status.job_uuid = None;
                w.save().await?;
            }
            Err(e) => return Err(e),
        }
    }

    // Dependents: FlexCloneMounts naming this object, and any FlexClone ONTAP knows of.
    let fcms: Api<FlexCloneMount> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let mut dependents: Vec<String> = fcms
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|f| {
            f.spec
                .volume_snapshot_ref
                .as_ref()
                .is_some_and(|r| r.name == obj.name_any())
        })
        // A split clone no longer depends on the snapshot.
        .filter(|f| !f.status.as_ref().is_some_and(|s| s.split_complete))
        .map(|f| format!("FlexCloneMount {}", f.name_any()))
        .collect();
    for c in t.ontap.clones_of(&t.volume_uuid, &name).await? {
        dependents.push(format!("FlexClone volume {}", c.name));
    }
    if !dependents.is_empty() {
        let msg = format!("snapshot {name} is in use by {}", dependents.join(", "));
        return blocked(&ctx, &obj, &mut w, "InUse", msg).await;
    }
    let Some(snap) = t.ontap.find_snapshot(&t.volume_uuid, &name).await? else {
        return Ok(Cleanup::Done);
    };
    // Adoption is read from the spec (immutable), never from status, which anyone with `*/status` rights can
    // write. An adopted snapshot was made by someone else: it is deleted only where its backend's owner opted in.
    let adopted = obj.spec.existing_snapshot_name.is_some();
    if adopted {
        let ns = obj.namespace().unwrap_or_default();
        let (oc, _) = backends::ontap_for(&ctx.backends, &ns, &t.ontap_cluster).await?;
        if !oc.spec.allow_delete_adopted {
            ctx.warning(
                obj.as_ref(),
                "AdoptedKept",
                format!(
                    "snapshot {name} was adopted, not created by this object; it is kept (deleting adopted \
                     snapshots needs allowDeleteAdopted on OntapCluster {})",
                    t.ontap_cluster
                ),
            )
            .await;
            return Ok(Cleanup::Done);
        }
    }
    if !adopted && !marker(&ctx, &obj).is_owner_of(snap.comment.as_deref()) {
        ctx.warning(
            obj.as_ref(),
            "NotOwner",
            format!("snapshot {name} is not ours; it is kept"),
        )
        .await;
        return Ok(Cleanup::Done);
    }
    w.set(
        Phase::Deleting,
        "Deleting",
        format!("deleting snapshot {name}"),
    );
    w.save().await?;
    match t.ontap.delete_snapshot(&t.volume_uuid, &snap.uuid).await {
        Ok(Progress::Done) => {
            ctx.normal(obj.as_ref(), "Deleted", format!("deleted snapshot {name}"))
                .await;
            Ok(Cleanup::Done)
        }
        Ok(Progress::Running(_)) => Ok(Cleanup::Wait(Action::requeue(JOB_POLL))),
        Err(e) if e.is_busy() => {
            // Deleted FlexClones wait in the recovery queue and still hold the snapshot.
            let queued: Vec<String> = t
                .ontap
                .recovery_queue(&t.svm)
                .await?
                .into_iter()
                .filter(|n| n.starts_with("pvo_"))
                .collect();
            let msg = if queued.is_empty() {
                format!("ONTAP refuses to delete snapshot {name}: {e}")
            } else {
                format!(
                    "snapshot {name} is held by deleted FlexClones in the volume recovery queue ({}); they expire \
                     after volume-delete-retention-hours or can be purged",
                    queued.join(", ")
                )
            };
            blocked(&ctx, &obj, &mut w, "RecoveryQueue", msg).await
        }
        Err(e) => Err(e),
    }
}

async fn blocked(
    ctx: &Context,
    obj: &VolumeSnapshot,
    w: &mut Writer,
    reason: &str,
    msg: String,
) -> Result<Cleanup, Error> {
    w.condition(DELETION_BLOCKED, true, reason, msg.clone());
    w.set(Phase::Deleting, reason, msg.clone());
    if w.save().await? {
        ctx.warning(obj, reason, msg).await;
    }
    Ok(Cleanup::Wait(Action::requeue(BLOCKED_POLL)))
}
