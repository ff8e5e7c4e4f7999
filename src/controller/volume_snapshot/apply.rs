//! Create/update path of a VolumeSnapshot, one step per function: each either continues with what it found or
//! ends the reconcile with a requeue (a window or a job still in progress).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;

use super::plan::{full_comment, parse_time, spec_applied, work_open};
use super::target::target;
use super::window::{self, Outcome};
use super::{marker, snapshot_name, writer, Step, Target, Writer, JOB_POLL, SPEC_APPLIED};
use crate::api::scope;
use crate::api::volume_snapshot::{RecordedDisk, RecordedVmDisks, SnapshotConsistency, WindowVm};
use crate::controller::vm_disk_clone::plan as drives;
use kube::api::{Api, ListParams};
use kube::ResourceExt;

use crate::api::{Phase, VolumeSnapshot, VolumeSnapshotRestore};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::naming::OwnerMarker;
use crate::controller::ports::{Progress, SnapshotInfo};
use crate::controller::reconcile::apply_unless_settled;

pub async fn apply(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Action, Error> {
    let work_open = obj.status.as_ref().is_some_and(work_open);
    apply_unless_settled(obj, ctx, work_open, apply_inner).await
}

/// One reconcile's working state: the object, its status being written, the volume and the snapshot's names.
struct Run {
    obj: Arc<VolumeSnapshot>,
    ctx: Arc<Context>,
    w: Writer,
    t: Target,
    name: String,
    marker: OwnerMarker,
    comment: String,
    adopted: bool,
}

async fn apply_inner(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut r = observe(obj, ctx).await?;
    // An open window (or one a dead controller left) is advanced — or closed, every VM restored — first.
    step!(advance_window(&mut r).await);
    let mut found = find_snapshot(&mut r).await?;
    if found.is_none() {
        found = step!(follow_job(&mut r).await);
    }
    if found.is_none() {
        found = step!(create_snapshot(&mut r).await);
    }
    let snap = verify_ownership(&mut r, found)?;
    // Spec changes after creation: the comment is re-applied; what only matters at creation is reported.
    step!(reapply_comment(&mut r, &snap).await);
    ready(&mut r).await
}

/// The volume, the snapshot's name and the comment to write, recorded in status so the user sees where things
/// are.
async fn observe(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Run, Error> {
    let mut w = writer(&ctx, &obj);
    let t = target(&ctx, &obj).await?;
    w.status.ontap_cluster = Some(t.ontap_cluster.clone());
    w.status.svm = Some(t.svm.clone());
    w.status.volume_name = Some(t.volume.clone());
    w.status.volume_uuid = Some(t.volume_uuid.clone());
    let name = snapshot_name(&ctx, &obj);
    let marker = marker(&ctx, &obj);
    let comment = full_comment(obj.spec.comment.as_deref(), &marker)?;
    w.status.snapshot_name = Some(name.clone());
    Ok(Run {
        adopted: obj.spec.existing_snapshot_name.is_some(),
        obj,
        ctx,
        w,
        t,
        name,
        marker,
        comment,
    })
}

/// A reconcile waiting on the window: say what for, look again soon.
async fn waiting<T>(w: &mut Writer, msg: String, after: Duration) -> Step<T> {
    w.set(Phase::InProgress, "WaitingForWindow", msg);
    w.save().await?;
    Ok(ControlFlow::Break(Action::requeue(after)))
}

/// Moves the window on as far as it goes in this reconcile; continues once no window is open.
async fn advance_window(r: &mut Run) -> Step<()> {
    let request = window::Snapshot {
        name: &r.name,
        comment: &r.comment,
    };
    if let Outcome::Wait(msg, after) =
        window::advance(&r.ctx, &r.obj, &mut r.w, &r.t, &request).await?
    {
        return waiting(&mut r.w, msg, after).await;
    }
    Ok(ControlFlow::Continue(()))
}

/// The snapshot under our name, if any. Its absence is refused where taking one now would be wrong.
async fn find_snapshot(r: &mut Run) -> Result<Option<SnapshotInfo>, Error> {
    let snap = r.t.ontap.find_snapshot(&r.t.volume_uuid, &r.name).await?;
    if snap.is_none() && r.w.status.snapshot_uuid.is_some() {
        // Re-creating it would silently capture a different instant under the same name.
        r.w.status.ready_to_use = false;
        if let Some(restore) = destroyed_by_restore(r).await? {
            return Err(Error::DestroyedByRestore {
                snapshot: r.name.clone(),
                restore,
            });
        }
        return Err(Error::Precondition(format!(
            "snapshot {} was deleted outside Kubernetes; delete this object (and create a new one if needed)",
            r.name
        )));
    }
    if snap.is_none() && r.adopted {
        return Err(Error::Precondition(format!(
            "snapshot {:?} (existingSnapshotName) does not exist on volume {}",
            r.name, r.t.volume
        )));
    }
    Ok(snap)
}

/// The VolumeSnapshotRestore of this namespace whose restore destroyed this object's snapshot, if any.
async fn destroyed_by_restore(r: &Run) -> Result<Option<String>, Error> {
    let ns = r.obj.namespace().unwrap_or_default();
    let restores = Api::<VolumeSnapshotRestore>::namespaced(r.ctx.client.clone(), &ns)
        .list(&ListParams::default())
        .await?;
    Ok(restores
        .items
        .into_iter()
        .find(|vsr| {
            vsr.status.as_ref().is_some_and(|st| {
                st.volume_uuid.as_deref() == Some(r.t.volume_uuid.as_str())
                    && st.destroyed_snapshots.contains(&r.name)
            })
        })
        .map(|vsr| vsr.name_any()))
}

/// A creation job from an earlier reconcile: waited for, then the snapshot it made looked up. A failed job is
/// forgotten (and the error returned) so that the next reconcile tries again.
async fn follow_job(r: &mut Run) -> Step<Option<SnapshotInfo>> {
    let Some(job) = r.w.status.job_uuid.clone() else {
        return Ok(ControlFlow::Continue(None));
    };
    match r.t.ontap.job(&job).await {
        Ok(Progress::Running(_)) => Ok(ControlFlow::Break(Action::requeue(JOB_POLL))),
        Ok(Progress::Done) => {
            r.w.status.job_uuid = None;
            let snap = r.t.ontap.find_snapshot(&r.t.volume_uuid, &r.name).await?;
            Ok(ControlFlow::Continue(snap))
        }
        Err(e) => {
            r.w.status.job_uuid = None;
            r.w.save().await?;
            Err(e)
        }
    }
}

/// Takes the snapshot: inside a window when the storage's running VMs are to be frozen or paused, directly
/// (crash-consistent) otherwise.
async fn create_snapshot(r: &mut Run) -> Step<Option<SnapshotInfo>> {
    r.w.set(
        Phase::InProgress,
        "Creating",
        format!("creating snapshot {} of volume {}", r.name, r.t.volume),
    );
    r.w.save().await?;
    let taken = match (&r.t.pve, r.obj.spec.consistency) {
        (Some((pve, _, storage)), SnapshotConsistency::FsFreeze | SnapshotConsistency::Suspend) => {
            let vms = window::running_vms_on(pve, storage, r.t.grant.as_ref()).await?;
            take_in_window(r, vms).await?
        }
        _ => take_crash_consistent(r).await?,
    };
    if let ControlFlow::Break(action) = taken {
        return Ok(ControlFlow::Break(action));
    }
    let snap = r.t.ontap.find_snapshot(&r.t.volume_uuid, &r.name).await?;
    r.ctx
        .normal(
            r.obj.as_ref(),
            "Created",
            format!("created snapshot {} of volume {}", r.name, r.t.volume),
        )
        .await;
    Ok(ControlFlow::Continue(snap))
}

/// Opens a window on `vms` and advances it, which takes the snapshot once every VM is quiet.
async fn take_in_window(r: &mut Run, vms: Vec<WindowVm>) -> Step<()> {
    if let Some(Outcome::Wait(msg, after)) =
        window::open(&r.ctx, &r.obj, &mut r.w, &r.t, vms).await?
    {
        return waiting(&mut r.w, msg, after).await;
    }
    advance_window(r).await
}

async fn take_crash_consistent(r: &mut Run) -> Step<()> {
    r.w.status.consistency_applied = Some(SnapshotConsistency::None);
    r.w.status.requested_consistency = Some(r.obj.spec.consistency);
    if let Progress::Running(job) =
        r.t.ontap
            .create_snapshot(&r.t.volume_uuid, &r.name, &r.comment)
            .await?
    {
        r.w.status.job_uuid = Some(job);
        r.w.save().await?;
        return Ok(ControlFlow::Break(Action::requeue(JOB_POLL)));
    }
    Ok(ControlFlow::Continue(()))
}

/// The snapshot must be one this object created (its comment carries our marker) or adopted; then it is
/// recorded as ready to use.
fn verify_ownership(r: &mut Run, found: Option<SnapshotInfo>) -> Result<SnapshotInfo, Error> {
    let Some(snap) = found else {
        return Err(Error::Waiting(format!(
            "snapshot {} not visible yet",
            r.name
        )));
    };
    if !r.adopted && !r.marker.is_owner_of(snap.comment.as_deref()) {
        return Err(Error::Precondition(format!(
            "snapshot {:?} on volume {} exists but was not created by this object; choose another snapshotName \
             or adopt it with existingSnapshotName",
            r.name, r.t.volume
        )));
    }
    r.w.status.adopted = r.adopted;
    r.w.status.snapshot_uuid = Some(snap.uuid.clone());
    r.w.status.create_time = parse_time(&snap.create_time);
    r.w.status.ready_to_use = true;
    Ok(snap)
}

/// The spec's comment, written again when it changed (an adopted snapshot is never modified).
async fn reapply_comment(r: &mut Run, snap: &SnapshotInfo) -> Step<()> {
    if r.adopted || snap.comment.as_deref() == Some(r.comment.as_str()) {
        return Ok(ControlFlow::Continue(()));
    }
    if let Progress::Running(_) =
        r.t.ontap
            .set_snapshot_comment(&r.t.volume_uuid, &snap.uuid, &r.comment)
            .await?
    {
        r.w.set(
            Phase::InProgress,
            "Updating",
            format!("updating the comment of snapshot {}", r.name),
        );
        r.w.save().await?;
        return Ok(ControlFlow::Break(Action::requeue(JOB_POLL)));
    }
    r.ctx
        .normal(
            r.obj.as_ref(),
            "CommentUpdated",
            format!("updated the comment of snapshot {}", r.name),
        )
        .await;
    Ok(ControlFlow::Continue(()))
}

/// Records, once, the disk entries of the configs of the storage's VMs inside the scope, so a restore of one VM
/// can put its config back. Read when the snapshot first is ready (Proxmox has no config history of its own).
async fn record_vm_disks(r: &mut Run) -> Result<(), Error> {
    if r.adopted || r.w.status.vm_disks_recorded {
        return Ok(());
    }
    let Some((pve, _, storage)) = &r.t.pve else {
        return Ok(());
    };
    let prefix = format!("{storage}:");
    let mut recorded = Vec::new();
    for (vmid, node) in pve.vms().await? {
        let cfg = pve.vm_config_merged(&node, vmid).await?;
        let tags = scope::parse_tags(cfg.values.get("tags").map(String::as_str));
        if r.t
            .grant
            .as_ref()
            .is_some_and(|g| !g.covers_vm(vmid, &tags))
        {
            continue;
        }
        let disks: Vec<RecordedDisk> = cfg
            .values
            .iter()
            .filter(|(k, v)| {
                let d = drives::parse_drive(v);
                (drives::is_disk_key(k) || k.starts_with("unused"))
                    && !d.media_cdrom
                    && d.volume.starts_with(&prefix)
            })
            .map(|(k, v)| RecordedDisk {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        if !disks.is_empty() {
            recorded.push(RecordedVmDisks { vmid, disks });
        }
    }
    r.w.status.recorded_vm_disks = recorded;
    r.w.status.vm_disks_recorded = true;
    Ok(())
}

/// Records Ready, and which spec fields (those that only matter at creation) no longer reach the snapshot.
async fn ready(r: &mut Run) -> Result<Action, Error> {
    record_vm_disks(r).await?;
    if !r.adopted {
        r.w.status.applied_comment = Some(r.comment.clone());
    }
    let (ok, reason, note) = spec_applied(&r.obj.spec, r.w.status.requested_consistency);
    r.w.condition(SPEC_APPLIED, ok, reason, note);
    let first = r.w.status.phase != Phase::Ready;
    let t = &r.t;
    let msg = format!(
        "snapshot {} of {}:{}/{} is ready",
        r.name, t.ontap_cluster, t.svm, t.volume
    );
    r.w.set(Phase::Ready, "Ready", msg.clone());
    r.w.save().await?;
    if first {
        r.ctx.normal(r.obj.as_ref(), "Ready", msg).await;
    }
    r.ctx.facts.checked.put(r.w.uid.clone(), ());
    Ok(Action::requeue(r.ctx.settings.resync))
}
