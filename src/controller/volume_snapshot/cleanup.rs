//! Run of a VolumeSnapshot: any open window is closed (every VM restored), a creation job is let finish,
//! then the snapshot is deleted — only while nothing depends on it, and only if ours (or adopted, where the
//! backend's owner opted in).

use std::ops::ControlFlow;
use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::plan::{full_comment, mount_dependents, nothing_to_clean, refusal_message};
use super::target::target;
use super::window::{self, Outcome};
use super::{marker, snapshot_name, writer, Step, Target, Writer, BLOCKED_POLL, JOB_POLL};
use crate::api::conditions::DELETION_BLOCKED;
use crate::api::{DeletionPolicy, FlexCloneMount, Phase, VolumeSnapshot};
use crate::controller::backends;
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::object::Managed;
use crate::controller::ports::{Progress, SnapshotInfo};
use crate::controller::reconcile::Cleanup;

/// One reconcile's working state while deleting: the object, its status being written, the volume and the
/// snapshot's name.
struct Run {
    obj: Arc<VolumeSnapshot>,
    ctx: Arc<Context>,
    w: Writer,
    t: Target,
    name: String,
}

pub async fn cleanup(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Cleanup, Error> {
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
    if nothing_to_clean(&st) {
        return Ok(Cleanup::Done);
    }
    let mut d = Run {
        w: writer(&ctx, &obj),
        t: target(&ctx, &obj).await?,
        name: snapshot_name(&ctx, &obj),
        obj,
        ctx,
    };
    step!(close_window(&mut d).await);
    step!(finish_job(&mut d).await);
    let dependents = dependents(&d).await?;
    if !dependents.is_empty() {
        let msg = format!("snapshot {} is in use by {}", d.name, dependents.join(", "));
        return blocked(&mut d, "InUse", msg).await;
    }
    let Some(snap) = d.t.ontap.find_snapshot(&d.t.volume_uuid, &d.name).await? else {
        return Ok(Cleanup::Done);
    };
    if !may_delete(&d, &snap).await? {
        return Ok(Cleanup::Done);
    }
    delete(&mut d, &snap).await
}

/// A window still open is closed first: no VM stays frozen or paused for an object being deleted.
async fn close_window(d: &mut Run) -> Step<(), Cleanup> {
    window::interrupt(&mut d.w, "the object is being deleted");
    // The comment only matters for a snapshot still to be taken; a bad one must not block the deletion.
    let comment =
        full_comment(d.obj.spec.comment.as_deref(), &marker(&d.ctx, &d.obj)).unwrap_or_default();
    let request = window::Snapshot {
        name: &d.name,
        comment: &comment,
    };
    if let Outcome::Wait(msg, after) =
        window::advance(&d.ctx, &d.obj, &mut d.w, &d.t, &request).await?
    {
        d.w.set(Phase::Deleting, "RestoringVms", msg);
        d.w.save().await?;
        return Ok(ControlFlow::Break(Cleanup::Wait(Action::requeue(after))));
    }
    Ok(ControlFlow::Continue(()))
}

/// A snapshot still being created would appear after the finalizer is gone: let its job finish first.
async fn finish_job(d: &mut Run) -> Step<(), Cleanup> {
    let Some(job) = d.w.status.job_uuid.clone() else {
        return Ok(ControlFlow::Continue(()));
    };
    match d.t.ontap.job(&job).await {
        Ok(Progress::Running(_)) => {
            return Ok(ControlFlow::Break(Cleanup::Wait(Action::requeue(JOB_POLL))))
        }
        // A failed creation left no snapshot; a finished one is found and deleted below.
        Ok(Progress::Done) => {
            d.w.status.job_uuid = None;
            d.w.save().await?;
        }
        Err(e) if matches!(e, Error::Ontap(_)) && e.is_permanent() => {
            d.w.status.job_uuid = None;
            d.w.save().await?;
        }
        Err(e) => return Err(e),
    }
    Ok(ControlFlow::Continue(()))
}

/// Dependents: FlexCloneMounts naming this object, and any FlexClone ONTAP knows of.
async fn dependents(d: &Run) -> Result<Vec<String>, Error> {
    let fcms: Api<FlexCloneMount> =
        Api::namespaced(d.ctx.client.clone(), &d.obj.namespace().unwrap_or_default());
    let mut dependents = mount_dependents(
        fcms.list(&ListParams::default()).await?.items,
        &d.obj.name_any(),
    );
    for c in d.t.ontap.clones_of(&d.t.volume_uuid, &d.name).await? {
        dependents.push(format!("FlexClone volume {}", c.name));
    }
    Ok(dependents)
}

/// Whether the snapshot found may be deleted; when not, a Warning says why it is kept.
async fn may_delete(d: &Run, snap: &SnapshotInfo) -> Result<bool, Error> {
    let (ctx, obj, name) = (&d.ctx, d.obj.as_ref(), &d.name);
    // Adoption is read from the spec (immutable), never from status, which anyone with `*/status` rights can
    // write. An adopted snapshot was made by someone else: it is deleted only where its backend's owner opted in.
    let adopted = obj.spec.existing_snapshot_name.is_some();
    if adopted {
        let ns = obj.namespace().unwrap_or_default();
        let (oc, _) = backends::ontap_for(&ctx.backends, &ns, &d.t.ontap_cluster).await?;
        if !oc.spec.allow_delete_adopted {
            ctx.warning(
                obj,
                "AdoptedKept",
                format!(
                    "snapshot {name} was adopted, not created by this object; it is kept (deleting adopted \
                     snapshots needs allowDeleteAdopted on OntapCluster {})",
                    d.t.ontap_cluster
                ),
            )
            .await;
            return Ok(false);
        }
    }
    if !adopted && !marker(ctx, obj).is_owner_of(snap.comment.as_deref()) {
        ctx.warning(
            obj,
            "NotOwner",
            format!("snapshot {name} is not ours; it is kept"),
        )
        .await;
        return Ok(false);
    }
    Ok(true)
}

async fn delete(d: &mut Run, snap: &SnapshotInfo) -> Result<Cleanup, Error> {
    let name = d.name.clone();
    d.w.set(
        Phase::Deleting,
        "Deleting",
        format!("deleting snapshot {name}"),
    );
    d.w.save().await?;
    match d
        .t
        .ontap
        .delete_snapshot(&d.t.volume_uuid, &snap.uuid)
        .await
    {
        Ok(Progress::Done) => {
            d.ctx
                .normal(
                    d.obj.as_ref(),
                    "Deleted",
                    format!("deleted snapshot {name}"),
                )
                .await;
            Ok(Cleanup::Done)
        }
        Ok(Progress::Running(_)) => Ok(Cleanup::Wait(Action::requeue(JOB_POLL))),
        Err(e) if e.is_busy() => {
            let queue = d.t.ontap.recovery_queue(&d.t.svm).await?;
            let msg = refusal_message(&name, queue, &e);
            blocked(d, "RecoveryQueue", msg).await
        }
        Err(e) => Err(e),
    }
}

async fn blocked(d: &mut Run, reason: &str, msg: String) -> Result<Cleanup, Error> {
    d.w.condition(DELETION_BLOCKED, true, reason, msg.clone());
    d.w.set(Phase::Deleting, reason, msg.clone());
    if d.w.save().await? {
        d.ctx.warning(d.obj.as_ref(), reason, msg).await;
    }
    Ok(Cleanup::Wait(Action::requeue(BLOCKED_POLL)))
}
