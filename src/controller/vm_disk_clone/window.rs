//! The consistency window: VM state changes recorded in status before they happen, every file clone inside,
//! the VM always restored afterwards (or by the next reconcile when this one dies or fails half-way).
//!
//! Proxmox tasks (suspend, hibernate, shutdown, resume, start) are awaited only [`vm_power::TASK_BUDGET`]; a
//! longer one is recorded in `status.vmTask` and the reconcile returns [`Step::Wait`], so a window may span
//! several reconciles. While it does, the VM stays claimed ([`KeyedLocks::claim`]) so no other object's window
//! starts on it. The status invariants:
//! - `restore` non-empty and no `vmTask` of step `Quiesce`: the window was interrupted (crash, failure) — the next
//!   reconcile restores the VM before anything else and opens a fresh window.
//! - `vmTask` of step `Quiesce`: the quiesce is under way — the next reconcile observes it and continues the
//!   window (finished) or restores the VM and reports (failed).
//! - `vmTask` of step `Restore`: the resume/start is under way — observed until done, then `restore` is cleared.

use std::time::{Duration, Instant};

use kube::ResourceExt;

use crate::api::common::{VmRestore, VmRestoreAction, VmTaskStep};
use crate::api::conditions::CONSISTENCY;
use crate::api::vm_disk_clone::{CopyMechanism, VmConsistency};
use crate::controller::error::{Error, RetryClass};
use crate::controller::locks::KeyedLocks;
use crate::controller::ports::{PowerOp, Progress};
use crate::controller::vm_power;

use super::crash_point;
use super::run::Run;

/// What a step achieved within this reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Done,
    /// Waiting (for a recorded Proxmox task, or for another object's window on the VM): requeue after
    /// [`vm_power::TASK_POLL`]. The text says what is awaited.
    Wait(String),
}

/// Records a state change to undo, before making it.
async fn record(run: &mut Run, node: &str, action: VmRestoreAction) -> Result<(), Error> {
    run.w.status.restore.retain(|r| r.action != action);
    run.w.status.restore.push(VmRestore {
        vmid: run.vmid(),
        node: node.to_owned(),
        action,
        since: Some(crate::api::conditions::now()),
    });
    run.save().await
}

async fn forget(run: &mut Run, action: VmRestoreAction) -> Result<(), Error> {
    run.w.status.restore.retain(|r| r.action != action);
    run.save().await
}

fn vm_key(run: &Run) -> String {
    KeyedLocks::vm_key(&run.pve_name, run.vmid())
}

fn owner(run: &Run) -> String {
    run.obj.uid().unwrap_or_default()
}

/// Lets other objects' windows on the VM start again, once nothing of ours is left open on it.
fn release_if_closed(run: &Run) {
    let open = !run.w.status.restore.is_empty()
        || run
            .w
            .status
            .vm_task
            .as_ref()
            .is_some_and(|t| matches!(t.step, VmTaskStep::Quiesce | VmTaskStep::Restore));
    if !open {
        run.ctx.locks.release(&vm_key(run), &owner(run));
    }
}

fn waiting_for(t: &crate::api::common::VmTask) -> String {
    let what = match t.step {
        VmTaskStep::Quiesce => "quiescing",
        VmTaskStep::Restore => "restoring",
        VmTaskStep::CreateVm => "creating",
        VmTaskStep::StartVm => "starting",
        VmTaskStep::DestroyVm => "destroying",
    };
    format!("waiting for Proxmox task {} ({what} VM {})", t.upid, t.vmid)
}

/// Records a task as in flight, then waits for it up to the budget (see [`observe`]).
pub async fn track(
    run: &mut Run,
    vmid: u32,
    node: &str,
    upid: String,
    step: VmTaskStep,
) -> Result<Step, Error> {
    let task = vm_power::task_entry(vmid, node, upid, step);
    run.w.status.vm_task = Some(task);
    run.save().await?;
    Ok(observe(run, step).await?.unwrap_or(Step::Done))
}

/// Observes the recorded task of `step`; `None` when there is none. A finished task is cleared; so is a failed
/// one, whose error (Proxmox's exit status) is returned. Any other error leaves the task recorded.
pub async fn observe(run: &mut Run, step: VmTaskStep) -> Result<Option<Step>, Error> {
    let Some(task) = run.w.status.vm_task.clone().filter(|t| t.step == step) else {
        return Ok(None);
    };
    match vm_power::observe(&run.pve, &task).await {
        Ok(Progress::Running(_)) => Ok(Some(Step::Wait(waiting_for(&task)))),
        Ok(Progress::Done) => {
            run.w.status.vm_task = None;
            run.save().await?;
            Ok(Some(Step::Done))
        }
        Err(e) if e.is_task_failed() => {
            run.w.status.vm_task = None;
            run.save().await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Brings the VM back to the state it was found in, for every change recorded in status. Idempotent: each
/// action first observes whether it is still needed; a resume/start that takes longer than the budget is
/// recorded and observed on the next reconcile.
pub async fn restore_vm(run: &mut Run, why: &str) -> Result<Step, Error> {
    let restoring = run.w.status.vm_task.clone();
    match observe(run, VmTaskStep::Restore).await {
        Ok(Some(Step::Wait(w))) => return Ok(Step::Wait(w)),
        Ok(_) => {}
        // The entry stays in `restore`; the next reconcile observes the VM and tries again.
        Err(e) => {
            return Err(
                match restoring.and_then(|t| {
                    run.w
                        .status
                        .restore
                        .iter()
                        .find(|r| r.vmid == t.vmid)
                        .cloned()
                }) {
                    Some(r) => vm_power::restore_failed(&r, e),
                    None => e,
                },
            )
        }
    }
    if run.w.status.restore.is_empty() {
        release_if_closed(run);
        return Ok(Step::Done);
    }
    let _guard = run.ctx.locks.lock(vm_key(run)).await;
    undo_recorded(run, why).await
}

/// The undo loop of [`restore_vm`], for callers already holding the VM's lock.
async fn undo_recorded(run: &mut Run, why: &str) -> Result<Step, Error> {
    for r in run.w.status.restore.clone() {
        if let Progress::Running(upid) = vm_power::undo(&run.pve, &r).await? {
            let task = vm_power::task_entry(r.vmid, &r.node, upid, VmTaskStep::Restore);
            let wait = waiting_for(&task);
            run.w.status.vm_task = Some(task);
            run.save().await?;
            return Ok(Step::Wait(wait));
        }
        run.normal(
            "Restored",
            format!("VM {} restored ({:?}) {why}", r.vmid, r.action),
        )
        .await;
        forget(run, r.action).await?;
    }
    release_if_closed(run);
    Ok(Step::Done)
}

/// Closes whatever is open before a deletion: waits for a quiesce in flight, then restores the VM.
pub async fn abort(run: &mut Run) -> Result<Step, Error> {
    match observe(run, VmTaskStep::Quiesce).await {
        Ok(Some(Step::Wait(w))) => return Ok(Step::Wait(w)),
        Ok(_) => {}
        // A failed quiesce changed nothing that `restore` does not cover.
        Err(e) => tracing::info!(error = %e, "quiesce task failed; restoring the VM"),
    }
    restore_vm(run, "before deletion").await
}

/// Issues the file clones of every disk not cloned yet. Returns whether all were issued before `deadline`.
pub async fn clone_all(run: &mut Run, deadline: Option<Instant>) -> Result<bool, Error> {
    for i in 0..run.w.status.disks.len() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        clone_one(run, i).await?;
    }
    Ok(true)
}

/// Follows the recorded ONTAP job of disk `i`, if any: a finished one is cleared (the copy counts as made
/// unless it is being replaced); a failed one is cleared and its error returned.
pub async fn follow_job(run: &mut Run, i: usize) -> Result<(), Error> {
    let d = run.w.status.disks[i].clone();
    let Some(job) = &d.job_uuid else {
        return Ok(());
    };
    let vol_uuid = d.ontap_volume_uuid.clone().unwrap_or_default();
    let ontap = run
        .ontap(d.ontap_cluster.as_deref().unwrap_or_default())
        .await?;
    match ontap.job(job).await {
        Ok(Progress::Done) => {
            // A job ONTAP already forgot also reads as done: the file itself decides. A copy from an
            // interrupted window is replaced by this window's, whatever its job made.
            run.w.status.disks[i].cloned =
                !d.replace && ontap.file_exists(&vol_uuid, &d.clone_path).await?;
            run.w.status.disks[i].job_uuid = None;
            run.save().await
        }
        Ok(Progress::Running(_)) => Ok(()),
        Err(e) => {
            run.w.status.disks[i].job_uuid = None;
            run.save().await?;
            Err(e)
        }
    }
}

/// One disk: finish a job in flight, or start the file clone. The status is written only when a job must be
/// followed; the caller writes the rest once every disk was issued.
pub async fn clone_one(run: &mut Run, i: usize) -> Result<(), Error> {
    if run.w.status.disks[i].job_uuid.is_some() {
        follow_job(run, i).await?;
    }
    let d = run.w.status.disks[i].clone();
    if d.cloned || d.job_uuid.is_some() {
        return Ok(());
    }
    let vol_uuid = d.ontap_volume_uuid.clone().unwrap_or_default();
    let vol_name = d.ontap_volume.clone().unwrap_or_default();
    let ontap = run
        .ontap(d.ontap_cluster.as_deref().unwrap_or_default())
        .await?;
    let source = match &d.from_snapshot {
        Some(snap) => format!(".snapshot/{snap}/{}", d.source_path),
        None => d.source_path.clone(),
    };
    match ontap
        .file_clone(&vol_uuid, &vol_name, &source, &d.clone_path, d.replace)
        .await
    {
        Ok(Progress::Done) => {
            run.w.status.disks[i].cloned = true;
            run.w.status.disks[i].replace = false;
        }
        Ok(Progress::Running(job)) => {
            run.w.status.disks[i].job_uuid = Some(job);
            run.w.status.disks[i].replace = false;
            run.save().await?;
        }
        Err(e) if e.retry_class() == RetryClass::Transient => return Err(e),
        // A copy being replaced may still be written by its own job: look again later, never take the file
        // there for this window's copy.
        Err(e) if d.replace => return Err(e),
        Err(e) => {
            // ONTAP refuses a destination that exists (a generic "Clone start failed"; the code of that case is not
            // documented), so a refusal is followed by one look at the destination instead of a look before
            // every clone. The planned name was recorded in status before the first attempt and carries this
            // object's hash (a new VM's names were checked free at planning): a file there is our earlier copy
            // whose status write was lost. Nothing is overwritten or deleted on that reading.
            if ontap.file_exists(&vol_uuid, &d.clone_path).await? {
                run.w.status.disks[i].cloned = true;
            } else {
                if let Some(storage) = &d.storage {
                    crate::controller::resolve::forget(&run.lookup(), storage);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Runs the clones inside the requested consistency window, possibly across several reconciles.
pub async fn clone_in_window(run: &mut Run, node: &str) -> Result<Step, Error> {
    let requested = run.obj.spec.consistency;
    let quiescing = run
        .w
        .status
        .vm_task
        .as_ref()
        .is_some_and(|t| t.step == VmTaskStep::Quiesce);
    // Every copy was started inside an earlier window (the file clone is a point-in-time copy from the moment
    // it starts): only the ONTAP jobs are left to follow, without touching the VM again.
    let all_issued = run
        .w
        .status
        .disks
        .iter()
        .all(|d| d.cloned || d.job_uuid.is_some());
    if all_issued && !quiescing && run.w.status.consistency_applied.is_some() {
        clone_all(run, None).await?;
        return Ok(Step::Done);
    }
    // Consistency None changes nothing on the VM, so it opens no window others must wait for (and waits for
    // none: a copy taken while another object's window pauses or freezes the VM is only more consistent).
    if requested == VmConsistency::None && !quiescing {
        return window(run, node, requested, false).await;
    }
    if !quiescing && !run.ctx.locks.claim(&vm_key(run), &owner(run)) {
        return Ok(Step::Wait(format!(
            "waiting for another consistency window on VM {} to close",
            run.vmid()
        )));
    }
    let _guard = run.ctx.locks.lock(vm_key(run)).await;
    let result = window(run, node, requested, quiescing).await;
    release_if_closed(run);
    result
}

async fn window(
    run: &mut Run,
    node: &str,
    requested: VmConsistency,
    quiescing: bool,
) -> Result<Step, Error> {
    let vmid = run.vmid();
    let mut node = node.to_owned();
    // Copies from a crash-point snapshot already taken are finished from it, whatever the VM does now.
    if !quiescing && !run.w.status.crash_point_snapshots.is_empty() {
        return finish_at_crash_point(run).await;
    }
    if !quiescing {
        if let Some(wait) = fresh_window(run).await? {
            return Ok(wait);
        }
        let state = run.vm_state().await?;
        // The state read may have found the VM on another node than remembered.
        node = run.node().await?;
        run.found_running = Some(state.status == "running");
        if let Some(lock) = state.lock.as_deref().filter(|_| !state.is_hibernated()) {
            return Err(Error::Waiting(format!("VM {vmid} is locked ({lock})")));
        }
        // A stopped or paused VM is already quiet: nothing to freeze or pause.
        if !state.is_running() {
            clone_all(run, None).await?;
            run.w.status.consistency_applied = Some(requested);
            run.w.status.copy_point = Some(crash_point::quiet_point(CopyMechanism::NotRunning));
            run.save().await?;
            return Ok(Step::Done);
        }
    }
    let applied = match requested {
        VmConsistency::None => {
            run.warning(
                "CrashConsistent",
                format!(
                    "VM {vmid} is running and consistency is None: the copies are crash-consistent"
                ),
            )
            .await;
            return finish_at_crash_point(run).await;
        }
        VmConsistency::FsFreeze => match fsfreeze_window(run, &node).await? {
            Frozen::Yes => VmConsistency::FsFreeze,
            Frozen::No => return finish_at_crash_point(run).await,
        },
        VmConsistency::Suspend => {
            let op = PowerOp::Suspend;
            let verbs = ("Suspended", "paused");
            match power_window(run, &node, op, VmRestoreAction::Resume, verbs, quiescing).await? {
                Step::Done => VmConsistency::Suspend,
                wait => return Ok(wait),
            }
        }
        VmConsistency::Hibernate => {
            let op = PowerOp::Hibernate;
            let verbs = ("Hibernated", "suspended to disk");
            match power_window(run, &node, op, VmRestoreAction::Start, verbs, quiescing).await? {
                Step::Done => VmConsistency::Hibernate,
                wait => return Ok(wait),
            }
        }
        VmConsistency::Shutdown => {
            let timeout = run
                .obj
                .spec
                .shutdown_timeout_seconds
                .map(|s| Duration::from_secs(s.into()))
                .unwrap_or(run.ctx.settings.shutdown_timeout);
            let op = PowerOp::Shutdown { timeout };
            let verbs = ("ShutDown", "shut down");
            match power_window(run, &node, op, VmRestoreAction::Start, verbs, quiescing).await? {
                Step::Done => VmConsistency::Shutdown,
                wait => return Ok(wait),
            }
        }
    };
    run.w.status.consistency_applied = Some(applied);
    run.save().await?;
    Ok(Step::Done)
}

/// Suspend, Hibernate or Shutdown: record the undo, start the power task, and continue once it finished (in this
/// reconcile or a later one); clone; start the undo. A failed quiesce restores the VM and reports the failure; a
/// failed clone restores the VM too (the copies are redone in a fresh window on retry).
async fn power_window(
    run: &mut Run,
    node: &str,
    op: PowerOp,
    undo: VmRestoreAction,
    (done_reason, done_verb): (&str, &str),
    quiescing: bool,
) -> Result<Step, Error> {
    let vmid = run.vmid();
    let quiesced = if quiescing {
        observe(run, VmTaskStep::Quiesce).await
    } else {
        record(run, node, undo).await?;
        match run.pve.power(node, vmid, op).await {
            Ok(upid) => track(run, vmid, node, upid, VmTaskStep::Quiesce)
                .await
                .map(Some),
            Err(e) => Err(e),
        }
    };
    match quiesced {
        Ok(Some(Step::Wait(w))) => {
            if !quiescing {
                run.normal(
                    "Quiescing",
                    format!("{op:?} of VM {vmid} is under way; looking again shortly"),
                )
                .await;
            }
            return Ok(Step::Wait(w));
        }
        Ok(_) => {}
        Err(e) => {
            // Whatever the task managed before failing is undone by observation.
            if let Step::Wait(w) = undo_recorded(run, "after a failed quiesce").await? {
                tracing::info!(waiting = %w, "restoring the VM after a failed quiesce");
            }
            return Err(e);
        }
    }
    run.normal(done_reason, format!("{done_verb} VM {vmid} for the copy"))
        .await;
    let cloned = clone_all(run, None).await;
    if cloned.is_ok() {
        // Recorded before the VM comes back, so a restore that spans reconciles does not reopen the window.
        run.w.status.consistency_applied = Some(run.obj.spec.consistency);
        run.w.status.copy_point = Some(crash_point::quiet_point(CopyMechanism::Quiesced));
        run.save().await?;
    }
    let restored = undo_fresh(run, node, undo).await;
    cloned?;
    restored
}

/// Undoes the change this window just made and saw finish, without looking the VM up again first (the quiesce
/// task's success is that observation). Anything unexpected falls back to the observing undo.
async fn undo_fresh(run: &mut Run, node: &str, undo: VmRestoreAction) -> Result<Step, Error> {
    let op = match undo {
        VmRestoreAction::Resume => PowerOp::Resume,
        VmRestoreAction::Start => PowerOp::Start,
        VmRestoreAction::Thaw => return undo_recorded(run, "after the copy").await,
    };
    let vmid = run.vmid();
    match vm_power::start(&run.pve, node, vmid, op).await {
        Ok(Progress::Done) => {
            run.normal(
                "Restored",
                format!("VM {vmid} restored ({undo:?}) after the copy"),
            )
            .await;
            forget(run, undo).await?;
            release_if_closed(run);
            Ok(Step::Done)
        }
        Ok(Progress::Running(upid)) => {
            let task = vm_power::task_entry(vmid, node, upid, VmTaskStep::Restore);
            let wait = waiting_for(&task);
            run.w.status.vm_task = Some(task);
            run.save().await?;
            Ok(Step::Wait(wait))
        }
        Err(e) => {
            tracing::info!(error = %e, "restoring the VM directly failed; restoring by observation");
            undo_recorded(run, "after the copy").await
        }
    }
}

/// Whether the FsFreeze window froze the guest for every copy.
enum Frozen {
    Yes,
    /// The freeze failed or ran out of time; the copies are (re)made at a crash point.
    No,
}

/// Freeze, clone, always thaw — at the deadline at the latest, even while a clone is still running. A freeze
/// that failed or a deadline that passed leaves the copies to a crash point ([`Frozen::No`], recorded as
/// crash-consistent), or fails with `requireConsistency`. Freeze and thaw are synchronous guest-agent calls, so
/// the window fits in one reconcile.
async fn fsfreeze_window(run: &mut Run, node: &str) -> Result<Frozen, Error> {
    let vmid = run.vmid();
    record(run, node, VmRestoreAction::Thaw).await?;
    let freeze = run.pve.fsfreeze(node, vmid).await;
    if let Err(e) = freeze {
        // A freeze that timed out on the proxy may still have frozen the guest: thaw whenever it says frozen.
        if matches!(
            run.pve.fsfreeze_status(node, vmid).await.as_deref(),
            Ok("frozen")
        ) {
            run.pve.fsthaw(node, vmid).await?;
        }
        forget(run, VmRestoreAction::Thaw).await?;
        if run.obj.spec.require_consistency {
            return Err(Error::Precondition(format!(
                "the guest agent of VM {vmid} could not freeze the file systems ({e}); nothing was copied because \
                 requireConsistency is set: fix the guest agent or unset requireConsistency"
            )));
        }
        let msg = format!("guest agent could not freeze VM {vmid} ({e}); copying crash-consistent");
        run.set_condition(CONSISTENCY, false, "QuiesceFailed", msg.clone());
        run.warning("QuiesceFailed", msg).await;
        return Ok(Frozen::No);
    }
    run.normal("Frozen", format!("froze the file systems of VM {vmid}"))
        .await;
    let limit = run.ctx.settings.fsfreeze_deadline;
    let pve = run.pve.clone();
    let (cloned, thawed, late) = {
        // The deadline thaws the guest even while a clone request is still being answered; that request is
        // then let finish (its job is recorded, so nothing of ours runs unobserved) and no further one starts.
        let clones = clone_all(run, Some(Instant::now() + limit));
        tokio::pin!(clones);
        tokio::select! {
            cloned = &mut clones => (cloned, None, false),
            _ = tokio::time::sleep(limit) => {
                let thawed = pve.fsthaw(node, vmid).await;
                (clones.await, Some(thawed), true)
            }
        }
    };
    match thawed {
        Some(thawed) => thawed?,
        None => run.pve.fsthaw(node, vmid).await?,
    }
    forget(run, VmRestoreAction::Thaw).await?;
    run.normal("Thawed", format!("thawed the file systems of VM {vmid}"))
        .await;
    let cloned = cloned?;
    match cloned && !late {
        true => {}
        false => {
            // Copies of the frozen instant and of later ones would be mixed: every copy is made again at one
            // crash point, replacing what is there (once its own job, if any, has finished).
            for d in run.w.status.disks.iter_mut() {
                d.cloned = false;
                d.replace = true;
            }
            run.save().await?;
            if run.obj.spec.require_consistency {
                return Err(Error::Precondition(format!(
                    "the freeze deadline of {limit:?} passed before every copy of VM {vmid} was made; the guest \
                     was thawed and, because requireConsistency is set, the copies are made again in the next \
                     freeze: raise the controller's fsfreeze deadline or unset requireConsistency"
                )));
            }
            let msg = format!(
                "the freeze deadline of {limit:?} passed before every copy of VM {vmid} was made; the guest was \
                 thawed and the copies are made crash-consistent"
            );
            run.set_condition(CONSISTENCY, false, "QuiesceFailed", msg.clone());
            run.warning("QuiesceFailed", msg).await;
            return Ok(Frozen::No);
        }
    }
    run.set_condition(
        CONSISTENCY,
        true,
        "FsFrozen",
        "file systems were frozen for the copy",
    );
    run.w.status.copy_point = Some(crash_point::quiet_point(CopyMechanism::Quiesced));
    Ok(Frozen::Yes)
}

/// Copies (what is left) at one crash point and records the copy as crash-consistent.
async fn finish_at_crash_point(run: &mut Run) -> Result<Step, Error> {
    if let Step::Wait(w) = crash_point::clone_at_crash_point(run).await? {
        return Ok(Step::Wait(w));
    }
    run.w.status.consistency_applied = Some(VmConsistency::None);
    run.save().await?;
    Ok(Step::Done)
}

/// Before a fresh window: copies left from an interrupted one are of another instant, so they are replaced
/// in this one. Their jobs finish first (a job still writing the file would race the replacement).
async fn fresh_window(run: &mut Run) -> Result<Option<Step>, Error> {
    for i in 0..run.w.status.disks.len() {
        follow_job(run, i).await?;
    }
    if run.w.status.disks.iter().any(|d| d.job_uuid.is_some()) {
        return Ok(Some(Step::Wait(
            "waiting for ONTAP file clones of an interrupted consistency window to finish".into(),
        )));
    }
    let mut changed = false;
    for d in run.w.status.disks.iter_mut() {
        if d.cloned {
            d.cloned = false;
            d.replace = true;
            changed = true;
        }
    }
    if changed {
        run.save().await?;
    }
    Ok(None)
}
