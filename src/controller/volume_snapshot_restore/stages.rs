//! The stages after the plan was accepted, shared by apply and cleanup: stop the VMs, restore, start the VMs
//! again (or, on abort, start them without restoring). Each stage is recorded before its first change and every
//! step is idempotent, so a controller that dies anywhere resumes from status: a VM is never left down.

use std::ops::ControlFlow;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;

use super::plan::{split_at_target, unconfirmed};
use super::vms::{self, VmOnStorage};
use super::{Run, JOB_POLL};
use crate::api::common::{VmRestore, VmTaskStep};
use crate::api::conditions;
use crate::api::volume_snapshot_restore::{RestoreScope, RestoreStage};
use crate::api::{Phase, VolumeSnapshot};
use crate::controller::context::vm_fact_key;
use crate::controller::error::Error;
use crate::controller::ports::{PowerOp, Progress, SnapshotInfo};
use crate::controller::vm_power::{self, TASK_BUDGET, TASK_POLL};
use crate::proxmox::ConfigUpdate;

/// A stage's outcome: on to the next stage, or end this reconcile with the action.
pub type Flow = ControlFlow<Action>;

/// Annotation that wakes a VolumeSnapshot whose snapshot a restore destroyed (its value: this object's name).
pub const DESTROYED_BY_ANNOTATION: &str = "pveontap.io/destroyed-by-restore";

/// Runs the stages from the recorded one until the restore completed or aborted (`Continue`) or something is
/// still under way (`Break`).
pub async fn drive(r: &mut Run) -> Result<Flow, Error> {
    loop {
        let stage = r.w.status.stage;
        let flow = match stage {
            RestoreStage::Planning | RestoreStage::Completed | RestoreStage::Aborted => {
                return Ok(Flow::Continue(()))
            }
            RestoreStage::Stopping => stop_vms(r).await?,
            RestoreStage::Restoring => restore(r).await?,
            RestoreStage::Starting | RestoreStage::Aborting => start_vms(r).await?,
        };
        if let Flow::Break(action) = flow {
            r.w.save().await?;
            return Ok(Flow::Break(action));
        }
        // A step that moved the stage itself (an abort, the restore done) has said where to go on.
        if r.w.status.stage == stage {
            match stage {
                RestoreStage::Stopping => {
                    r.w.status.stage = RestoreStage::Restoring;
                    let msg = format!(
                        "every VM is stopped; restoring {} to snapshot {}",
                        r.what(),
                        r.t.snapshot
                    );
                    r.w.set(Phase::InProgress, "Restoring", msg);
                }
                RestoreStage::Starting => completed(r).await?,
                RestoreStage::Aborting => aborted(r).await?,
                _ => {}
            }
        }
        r.w.save().await?;
    }
}

/// Stops everything and starts the stopped VMs again without restoring: the plan no longer holds.
pub async fn abort(r: &mut Run, reason: String) -> Result<(), Error> {
    r.w.status.stage = RestoreStage::Aborting;
    r.w.status.aborted = Some(reason.clone());
    r.w.status
        .vm_tasks
        .retain(|t| t.step == VmTaskStep::Restore);
    r.w.set(
        Phase::InProgress,
        "Aborting",
        format!("aborting, nothing was restored: {reason}; starting the VMs stopped for it again"),
    );
    r.w.save().await?;
    r.warning("Aborting", reason).await;
    Ok(())
}

/// Claims every VM this object holds down, so no consistency window of another object starts on them; a claim
/// another object holds is waited for. Claims live in the process: after a restart they are taken again here.
fn claim_all(r: &Run) -> Option<u32> {
    let vms = &r.w.status.restore;
    let keys: Vec<String> = vms.iter().map(|vm| r.vm_key(vm.vmid)).collect();
    r.ctx
        .locks
        .claim_all(&keys, &r.uid())
        .err()
        .map(|i| vms[i].vmid)
}

fn release(r: &Run, vmid: u32) {
    r.ctx.locks.release(&r.vm_key(vmid), &r.uid());
}

fn claims_busy(r: &mut Run, vmid: u32) -> Flow {
    let msg = format!("waiting for another object's consistency window on VM {vmid} to close");
    r.w.set(Phase::InProgress, "WaitingForVm", msg);
    Flow::Break(Action::requeue(TASK_POLL))
}

fn shutdown_timeout(r: &Run) -> Duration {
    r.obj
        .spec
        .shutdown_timeout_seconds
        .map(|s| Duration::from_secs(s.into()))
        .unwrap_or(r.ctx.settings.shutdown_timeout)
}

/// Stage Stopping: a clean shutdown of every VM in `restore` (recorded before this stage began), each task
/// followed across reconciles. A shutdown that fails aborts the restore.
async fn stop_vms(r: &mut Run) -> Result<Flow, Error> {
    if let Some(vmid) = claim_all(r) {
        return Ok(claims_busy(r, vmid));
    }
    let mut pending = Vec::new();
    for vm in r.w.status.restore.clone() {
        match follow_task(r, vm.vmid).await? {
            Seen::Running => {
                pending.push(vm.vmid);
                continue;
            }
            Seen::Failed(e) => {
                abort(
                    r,
                    format!("the clean shutdown of VM {} failed: {e}", vm.vmid),
                )
                .await?;
                return Ok(Flow::Continue(()));
            }
            Seen::Settled => {}
        }
        // A shutdown sent by a process that died before recording its task is waited for, not sent twice.
        if let Some(upid) = vm_power::settle(&r.t.pve, &vm.node, vm.vmid, TASK_BUDGET).await? {
            track(r, &vm, upid);
            pending.push(vm.vmid);
            continue;
        }
        let state = r.t.pve.vm_state(&vm.node, vm.vmid).await?;
        if state.is_stopped() {
            continue;
        }
        if !state.is_running() {
            abort(
                r,
                format!(
                    "VM {} is {} (not running): a clean shutdown is not possible; resume or stop it",
                    vm.vmid, state.qmpstatus
                ),
            )
            .await?;
            return Ok(Flow::Continue(()));
        }
        let _guard = r.ctx.locks.lock(r.vm_key(vm.vmid)).await;
        let timeout = shutdown_timeout(r);
        let upid =
            r.t.pve
                .power(&vm.node, vm.vmid, PowerOp::Shutdown { timeout })
                .await?;
        track(r, &vm, upid);
        r.w.save().await?;
        r.normal(
            "ShuttingDown",
            format!("shutting down VM {} for the restore", vm.vmid),
        )
        .await;
        pending.push(vm.vmid);
    }
    if pending.is_empty() {
        return Ok(Flow::Continue(()));
    }
    let msg = format!(
        "shutting down VM(s) {} before the restore",
        join(pending.iter())
    );
    r.w.set(Phase::InProgress, "Stopping", msg);
    Ok(Flow::Break(Action::requeue(TASK_POLL)))
}

/// What became of the task recorded for a VM.
enum Seen {
    /// None is recorded (any more): the VM's state tells the rest.
    Settled,
    Running,
    Failed(Error),
}

/// Looks at the task recorded for `vmid` (if any); a finished or failed one is no longer recorded.
async fn follow_task(r: &mut Run, vmid: u32) -> Result<Seen, Error> {
    let Some(task) = r.w.status.vm_tasks.iter().find(|t| t.vmid == vmid).cloned() else {
        return Ok(Seen::Settled);
    };
    let seen = match vm_power::observe(&r.t.pve, &task).await {
        Ok(Progress::Running(_)) => return Ok(Seen::Running),
        Ok(Progress::Done) => Seen::Settled,
        Err(e) if e.is_task_failed() => Seen::Failed(e),
        Err(e) => return Err(e),
    };
    r.w.status.vm_tasks.retain(|t| t.upid != task.upid);
    Ok(seen)
}

fn track(r: &mut Run, vm: &VmRestore, upid: String) {
    let step = match r.w.status.stage {
        RestoreStage::Stopping => VmTaskStep::Quiesce,
        _ => VmTaskStep::Restore,
    };
    if !r.w.status.vm_tasks.iter().any(|t| t.upid == upid) {
        r.w.status
            .vm_tasks
            .push(vm_power::task_entry(vm.vmid, &vm.node, upid, step));
    }
}

/// Stage Restoring: the plan checked once more (nothing may have changed that the user did not confirm), then
/// ONTAP's restore requested and its job followed. Before the request anything unexpected aborts; after it the
/// only way is on.
async fn restore(r: &mut Run) -> Result<Flow, Error> {
    if r.obj.spec.scope == RestoreScope::Vm {
        return restore_vm_files(r).await;
    }
    if let Some(job) = r.w.status.job_uuid.clone() {
        return match r.t.ontap.job(&job).await {
            Ok(Progress::Running(_)) => Ok(Flow::Break(Action::requeue(JOB_POLL))),
            Ok(Progress::Done) => {
                r.w.status.job_uuid = None;
                restored(r).await.map(Flow::Continue)
            }
            Err(e) if e.is_permanent() => {
                // ONTAP's restore is all or nothing: a failed job left the volume as it was.
                r.w.status.job_uuid = None;
                abort(r, format!("ONTAP's restore job failed: {e}")).await?;
                Ok(Flow::Continue(()))
            }
            Err(e) => Err(e),
        };
    }
    let (target, newer) = match current_snapshots(r).await? {
        Ok(found) => found,
        Err(reason) => {
            abort(r, reason).await?;
            return Ok(Flow::Continue(()));
        }
    };
    if let Err(reason) = recheck(r, &newer).await? {
        abort(r, reason).await?;
        return Ok(Flow::Continue(()));
    }
    match r
        .t
        .ontap
        .restore_volume(&r.t.volume_uuid, &target.uuid)
        .await
    {
        Ok(Progress::Done) => restored(r).await.map(Flow::Continue),
        Ok(Progress::Running(job)) => {
            r.w.status.job_uuid = Some(job);
            r.w.set(
                Phase::InProgress,
                "Restoring",
                format!(
                    "ONTAP is restoring volume {} to snapshot {}",
                    r.t.volume, r.t.snapshot
                ),
            );
            Ok(Flow::Break(Action::requeue(JOB_POLL)))
        }
        // Not started (busy, a transient failure): asked again on retry, VMs still down.
        Err(e) if !e.is_permanent() => Err(e),
        Err(e) => {
            abort(r, format!("ONTAP refused the restore: {e}")).await?;
            Ok(Flow::Continue(()))
        }
    }
}

/// Stage Restoring of a `scope: Vm` restore: each of the VM's files cloned from the snapshot over the live file,
/// one after another, each recorded once done. A failure before the first file aborts (nothing changed); after
/// it the rest is retried (putting a file back twice is harmless while the VM is stopped).
async fn restore_vm_files(r: &mut Run) -> Result<Flow, Error> {
    let files =
        r.w.status
            .plan
            .as_ref()
            .map(|p| p.files.clone())
            .unwrap_or_default();
    let next = |r: &Run| {
        files
            .iter()
            .find(|f| !r.w.status.files_restored.contains(f))
            .cloned()
    };
    if let Some(job) = r.w.status.job_uuid.clone() {
        match r.t.ontap.job(&job).await {
            Ok(Progress::Running(_)) => return Ok(Flow::Break(Action::requeue(JOB_POLL))),
            Ok(Progress::Done) => {
                r.w.status.job_uuid = None;
                if let Some(f) = next(r) {
                    r.w.status.files_restored.push(f);
                }
                r.w.save().await?;
            }
            // Like a refused request: before the first file is back nothing has changed, so abort (the VM
            // starts again) rather than retry with the VM held down.
            Err(e) if e.is_permanent() && r.w.status.files_restored.is_empty() => {
                r.w.status.job_uuid = None;
                abort(r, format!("ONTAP failed to put back a file: {e}")).await?;
                return Ok(Flow::Continue(()));
            }
            Err(e) => {
                r.w.status.job_uuid = None;
                r.w.save().await?;
                return Err(e);
            }
        }
    }
    if r.w.status.files_restored.is_empty() {
        if let Err(reason) = current_snapshots(r).await?.map(|_| ()) {
            abort(r, reason).await?;
            return Ok(Flow::Continue(()));
        }
        let vmid = r.obj.spec.vmid.unwrap_or_default();
        let vm = vms::one_vm(&r.t.pve, &r.t.storage, vmid, &r.t.pve_grant).await?;
        if !vm.state.is_stopped() {
            abort(r, format!("VM {vmid} started while the restore waited")).await?;
            return Ok(Flow::Continue(()));
        }
    }
    while let Some(path) = next(r) {
        let put =
            r.t.ontap
                .restore_file(&r.t.volume_uuid, &r.t.volume, &r.t.snapshot, &path)
                .await;
        match put {
            Ok(Progress::Done) => {
                r.w.status.files_restored.push(path);
                r.w.save().await?;
            }
            Ok(Progress::Running(job)) => {
                r.w.status.job_uuid = Some(job);
                r.w.set(
                    Phase::InProgress,
                    "Restoring",
                    format!("putting back {path} from snapshot {}", r.t.snapshot),
                );
                return Ok(Flow::Break(Action::requeue(JOB_POLL)));
            }
            Err(e) if e.is_permanent() && r.w.status.files_restored.is_empty() => {
                abort(r, format!("ONTAP refused to put back {path}: {e}")).await?;
                return Ok(Flow::Continue(()));
            }
            Err(e) => return Err(e),
        }
    }
    if r.obj.spec.restore_config && !r.w.status.config_restored {
        put_config_back(r).await?;
    }
    r.w.status.stage = RestoreStage::Starting;
    r.w.status.restored_at = Some(conditions::now());
    r.w.set(
        Phase::InProgress,
        "Starting",
        format!(
            "put back {} file(s) of VM {} from snapshot {}; starting it again",
            files.len(),
            r.obj.spec.vmid.unwrap_or_default(),
            r.t.snapshot
        ),
    );
    r.w.save().await?;
    r.normal(
        "Restored",
        format!(
            "put back the disk files of VM {} ({}) from snapshot {}",
            r.obj.spec.vmid.unwrap_or_default(),
            files.join(", "),
            r.t.snapshot
        ),
    )
    .await;
    Ok(Flow::Continue(()))
}

/// `restoreConfig`: the recorded drive entries set, the drives added since detached (checked against the VM's
/// config as it is now, so a second pass after a crash changes nothing more).
async fn put_config_back(r: &mut Run) -> Result<(), Error> {
    let plan = r.w.status.plan.clone().unwrap_or_default();
    let vmid = r.obj.spec.vmid.unwrap_or_default();
    let vm = vms::one_vm(&r.t.pve, &r.t.storage, vmid, &r.t.pve_grant).await?;
    let set: Vec<(String, String)> = plan
        .config_set
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let delete: Vec<String> = plan
        .config_detach
        .iter()
        .filter(|k| vm.disks.iter().any(|(dk, _)| dk == *k))
        .cloned()
        .collect();
    let key = r.vm_key(vmid);
    {
        let _guard = r.ctx.locks.lock(key.clone()).await;
        let update = ConfigUpdate {
            set,
            delete,
            ..ConfigUpdate::default()
        };
        r.t.pve.update_config(&vm.node, vmid, update).await?;
    }
    r.ctx
        .facts
        .config_written(&vm_fact_key(&r.t.pve_name, vmid));
    r.w.status.config_restored = true;
    r.w.save().await?;
    r.normal(
        "ConfigRestored",
        format!(
            "put back VM {vmid}'s recorded disk entries ({}){}",
            plan.config_set.join(", "),
            if plan.config_detach.is_empty() {
                String::new()
            } else {
                format!(
                    "; detached {} (kept as unused disks)",
                    plan.config_detach.join(", ")
                )
            }
        ),
    )
    .await;
    Ok(())
}

/// The target and the snapshots newer than it now, or why the restore cannot go on.
async fn current_snapshots(
    r: &Run,
) -> Result<Result<(SnapshotInfo, Vec<SnapshotInfo>), String>, Error> {
    let list = r.t.ontap.snapshots(&r.t.volume_uuid).await?;
    let Some((target, newer)) = split_at_target(list, &r.t.snapshot) else {
        return Ok(Err(format!(
            "snapshot {} no longer exists on volume {}",
            r.t.snapshot, r.t.volume
        )));
    };
    if r.w
        .status
        .snapshot_uuid
        .as_deref()
        .is_some_and(|u| u != target.uuid)
    {
        return Ok(Err(format!(
            "snapshot {} was replaced by another of the same name since the plan was made",
            r.t.snapshot
        )));
    }
    Ok(Ok((target, newer)))
}

/// Right before the request: only confirmed snapshots are newer, none backs a FlexClone, and no VM with a disk
/// on the storage runs (someone may have started one while the others were shutting down).
async fn recheck(r: &Run, newer: &[SnapshotInfo]) -> Result<Result<(), String>, Error> {
    let late = unconfirmed(&r.obj.spec.confirm_destroy, newer);
    if !late.is_empty() {
        return Ok(Err(format!(
            "snapshot(s) {} appeared after the plan was confirmed; the restore would destroy them too, so it \
             needs a new confirmation",
            late.join(", ")
        )));
    }
    if let Some(s) = newer.iter().find(|s| !s.owners.is_empty()) {
        return Ok(Err(format!(
            "snapshot {} is now in use by a FlexClone ({})",
            s.name,
            s.owners.join(", ")
        )));
    }
    let running: Vec<u32> = vms::on_storage(&r.t.pve, &r.t.storage, &r.t.pve_grant)
        .await?
        .into_iter()
        .filter(|v| !v.state.is_stopped())
        .map(|v| v.vmid)
        .collect();
    if !running.is_empty() {
        return Ok(Err(format!(
            "VM(s) {} with disks on storage {} started while the restore waited",
            join(running.iter()),
            r.t.storage
        )));
    }
    Ok(Ok(()))
}

/// ONTAP finished: recorded (stage Starting) before anything else, then what the restore left behind.
async fn restored(r: &mut Run) -> Result<(), Error> {
    // What is really gone (a snapshot of the target's second may have been older and stayed).
    let left = r.t.ontap.snapshots(&r.t.volume_uuid).await?;
    let destroyed: Vec<String> =
        r.w.status
            .plan
            .as_ref()
            .map(|p| {
                p.destroys
                    .iter()
                    .filter(|s| !left.iter().any(|l| l.name == s.name))
                    .map(|s| s.name.clone())
                    .collect()
            })
            .unwrap_or_default();
    r.w.status.stage = RestoreStage::Starting;
    r.w.status.restored_at = Some(conditions::now());
    r.w.status.destroyed_snapshots = destroyed;
    r.w.set(
        Phase::InProgress,
        "Starting",
        format!(
            "volume {} restored to snapshot {}; starting the VMs again",
            r.t.volume, r.t.snapshot
        ),
    );
    r.w.save().await?;
    r.normal(
        "Restored",
        format!(
            "restored volume {} (storage {}) to snapshot {}",
            r.t.volume, r.t.storage, r.t.snapshot
        ),
    )
    .await;
    let on_storage: Vec<VmOnStorage> =
        vms::on_storage(&r.t.pve, &r.t.storage, &r.t.pve_grant).await?;
    r.w.status.vms_with_missing_disks =
        vms::missing_disks(&r.t.ontap, &r.t.volume_uuid, &on_storage).await?;
    r.w.save().await?;
    wake_destroyed_volume_snapshots(r).await;
    Ok(())
}

/// VolumeSnapshots whose snapshot is gone learn it on their next reconcile; the annotation brings that about now
/// (and this process forgets that it had checked them).
async fn wake_destroyed_volume_snapshots(r: &Run) {
    let Some(plan) = &r.w.status.plan else { return };
    let api: Api<VolumeSnapshot> =
        Api::namespaced(r.ctx.client.clone(), &r.obj.namespace().unwrap_or_default());
    let destroyed = &r.w.status.destroyed_snapshots;
    for name in plan
        .destroys
        .iter()
        .filter(|s| destroyed.contains(&s.name))
        .filter_map(|s| s.volume_snapshot.as_ref())
    {
        let patch = serde_json::json!({ "metadata": { "annotations": {
            DESTROYED_BY_ANNOTATION: r.obj.name_any(),
        }}});
        // Forgotten before the patch wakes it, so that reconcile does not take it for checked and settled.
        if let Ok(Some(vs)) = api.get_opt(name).await {
            r.ctx.facts.checked.forget(&vs.uid().unwrap_or_default());
        }
        if let Err(e) = api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            tracing::info!(volume_snapshot = %name, error = %e, "could not annotate a destroyed VolumeSnapshot");
        }
    }
}

/// Stages Starting and Aborting: every VM in `restore` started again (each task followed across reconciles).
/// A VM that cannot start because the restore took its disk files away is reported and let go; any other
/// failure is retried.
async fn start_vms(r: &mut Run) -> Result<Flow, Error> {
    if let Some(vmid) = claim_all(r) {
        return Ok(claims_busy(r, vmid));
    }
    let mut pending = Vec::new();
    for vm in r.w.status.restore.clone() {
        match follow_task(r, vm.vmid).await? {
            Seen::Running => {
                pending.push(vm.vmid);
                continue;
            }
            Seen::Failed(e) => {
                if !start_failed(r, &vm, &e).await? {
                    return Err(e);
                }
                continue;
            }
            Seen::Settled => {}
        }
        let _guard = r.ctx.locks.lock(r.vm_key(vm.vmid)).await;
        match vm_power::undo(&r.t.pve, &vm).await {
            Ok(Progress::Done) => {
                r.w.status.restore.retain(|x| x.vmid != vm.vmid);
                r.w.save().await?;
                release(r, vm.vmid);
                r.normal("VmStarted", format!("started VM {} again", vm.vmid))
                    .await;
            }
            Ok(Progress::Running(upid)) => {
                track(r, &vm, upid);
                pending.push(vm.vmid);
            }
            Err(e) => {
                if !start_failed(r, &vm, &e).await? {
                    return Err(e);
                }
            }
        }
    }
    if pending.is_empty() {
        return Ok(Flow::Continue(()));
    }
    r.w.set(
        Phase::InProgress,
        "Starting",
        format!("starting VM(s) {} again", join(pending.iter())),
    );
    Ok(Flow::Break(Action::requeue(TASK_POLL)))
}

/// A start that failed: when the restore took the VM's disk files away, retrying cannot help, so the VM is let
/// go with a Warning (true); otherwise false and the error is retried.
async fn start_failed(r: &mut Run, vm: &VmRestore, e: &Error) -> Result<bool, Error> {
    let Some(missing) =
        r.w.status
            .vms_with_missing_disks
            .iter()
            .find(|m| m.vmid == vm.vmid)
            .cloned()
    else {
        r.w.save().await?;
        return Ok(false);
    };
    r.w.status.restore.retain(|x| x.vmid != vm.vmid);
    r.w.save().await?;
    release(r, vm.vmid);
    r.warning(
        "VmNotStarted",
        format!(
            "VM {} was running before the restore but cannot start: its config references disk files the \
             restore removed ({}); fix its config, then start it ({e})",
            vm.vmid,
            missing.disks.join(", ")
        ),
    )
    .await;
    Ok(true)
}

async fn completed(r: &mut Run) -> Result<(), Error> {
    r.w.status.stage = RestoreStage::Completed;
    let st = &r.w.status;
    let mut msg = match r.obj.spec.scope {
        RestoreScope::Storage => format!(
            "volume {} (storage {}) restored to snapshot {}",
            r.t.volume, r.t.storage, r.t.snapshot
        ),
        RestoreScope::Vm => format!(
            "the disk files of VM {} on storage {} restored from snapshot {}",
            r.obj.spec.vmid.unwrap_or_default(),
            r.t.storage,
            r.t.snapshot
        ),
    };
    if !st.destroyed_snapshots.is_empty() {
        msg.push_str(&format!(
            "; destroyed {}",
            st.destroyed_snapshots.join(", ")
        ));
    }
    if !st.vms_with_missing_disks.is_empty() {
        msg.push_str(&format!(
            "; VM(s) {} reference disk files that no longer exist (status.vmsWithMissingDisks)",
            join(st.vms_with_missing_disks.iter().map(|m| m.vmid))
        ));
    }
    r.w.set(Phase::Ready, "Restored", msg.clone());
    r.w.save().await?;
    r.normal("Completed", msg).await;
    Ok(())
}

async fn aborted(r: &mut Run) -> Result<(), Error> {
    r.w.status.stage = RestoreStage::Aborted;
    let reason = r.w.status.aborted.clone().unwrap_or_default();
    let msg = format!(
        "aborted, nothing was restored and every VM stopped for it runs again: {reason}; change the spec (or \
         delete and recreate the object) to try again"
    );
    r.w.set(Phase::Failed, "Aborted", msg);
    r.w.save().await?;
    Ok(())
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

use kube::ResourceExt;
