//! The consistency window of a VolumeSnapshot: every running VM with a disk on the storage is frozen
//! (`FsFreeze`) or paused (`Suspend`), the snapshot is taken, and every VM is brought back — across as many
//! reconciles as the Proxmox tasks need, never waiting for them at length inside one.
//!
//! State lives in status (see [`SnapshotWindow`]):
//! - each change is recorded in `restore` before it is made; its pause task is recorded in `window.tasks`;
//! - the window's VMs are claimed ([`KeyedLocks::claim`]) for as long as it is open, so no VmDiskClone window and
//!   no other snapshot window starts on them meanwhile. Claims live in the controller process: an open window
//!   whose claims this process does not hold was opened by one that died, and is closed (every VM restored)
//!   before anything else happens; a fresh window follows.
//! - `closing`: quiescing is over (snapshot taken, refused or aborted); only the undo is left, followed the same
//!   way (resume tasks recorded and observed on requeue) until `restore` is empty.

use std::collections::HashMap;
use std::time::Duration;

use kube::ResourceExt;

use crate::api::common::{VmRestore, VmRestoreAction, VmTask, VmTaskStep};
use crate::api::conditions::{self, CONSISTENCY};
use crate::api::scope;
use crate::api::volume_snapshot::{SnapshotConsistency, SnapshotWindow, WindowAbort, WindowVm};
use crate::api::VolumeSnapshot;
use crate::controller::backends::ProxmoxGrant;
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::locks::KeyedLocks;
use crate::controller::ports::{PowerOp, Progress, PveClient};
use crate::controller::vm_disk_clone::plan;
use crate::controller::vm_power::{self, TASK_POLL};

use super::{Target, Writer, JOB_POLL};

/// How long a Suspend window may take to pause every VM before the stragglers count as failed. The paused VMs
/// stay paused meanwhile, so this is kept short; FsFreeze uses `Settings::fsfreeze_deadline`.
const SUSPEND_DEADLINE: Duration = Duration::from_secs(60);
/// How long one pass waits for a freshly started pause/resume task before recording it and moving on.
const FIRST_LOOK: Duration = Duration::from_millis(500);

/// Abort reasons (see [`WindowAbort`]).
const INTERRUPTED: &str = "Interrupted";
const QUIESCE_REQUIRED: &str = "QuiesceRequired";
const SNAPSHOT_FAILED: &str = "SnapshotFailed";

/// What the window achieved within this reconcile.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No window is open (any earlier one is closed and every VM restored).
    Closed,
    /// Waiting for Proxmox tasks, an ONTAP job or another window: say `.0` and look again after `.1`.
    Wait(String, Duration),
}

/// The snapshot to take inside the window.
pub struct Snapshot<'a> {
    pub name: &'a str,
    pub comment: &'a str,
}

fn key(t: &Target, vmid: u32) -> String {
    KeyedLocks::vm_key(t.pve_name(), vmid)
}

fn owner(obj: &VolumeSnapshot) -> String {
    obj.uid().unwrap_or_default()
}

/// VMs with a disk (or a pending disk, an unused volume, a state file) on `storage` whose QEMU process runs
/// (running or paused: a VM paused by another object's window is claimed too, so it is not resumed while the
/// snapshot is taken), in vmid order. One `/pending` read per VM gives both current and pending values.
/// Refused (nothing touched) when any of them lies outside the scope `grant` gives the namespace.
pub async fn running_vms_on(
    pve: &PveClient,
    storage: &str,
    grant: Option<&ProxmoxGrant>,
) -> Result<Vec<WindowVm>, Error> {
    let prefix = format!("{storage}:");
    let mut out = Vec::new();
    let mut outside = 0;
    for (vmid, node) in pve.vms().await? {
        let values = pve.vm_all_values(&node, vmid).await?;
        let uses = values.iter().any(|(k, v)| {
            (plan::is_disk_key(k) || k.starts_with("unused") || k == "vmstate")
                && plan::parse_drive(v).volume.starts_with(&prefix)
        });
        if uses && pve.vm_state(&node, vmid).await?.status == "running" {
            let tags = scope::parse_tags(
                values
                    .iter()
                    .find(|(k, _)| k == "tags")
                    .map(|(_, v)| v.as_str()),
            );
            if grant.is_some_and(|g| !g.covers_vm(vmid, &tags)) {
                outside += 1;
                continue;
            }
            out.push(WindowVm {
                vmid,
                node,
                already_quiet: false,
            });
        }
    }
    if let Some(g) = grant {
        g.window(storage, outside)?;
    }
    out.sort_by_key(|v| v.vmid);
    Ok(out)
}

/// Opens a window over `vms`: claims every VM (all or none) and records the window before any VM is touched.
pub async fn open(
    ctx: &Context,
    obj: &VolumeSnapshot,
    w: &mut Writer,
    t: &Target,
    vms: Vec<WindowVm>,
) -> Result<Option<Outcome>, Error> {
    let keys: Vec<String> = vms.iter().map(|vm| key(t, vm.vmid)).collect();
    if let Err(i) = ctx.locks.claim_all(&keys, &owner(obj)) {
        return Ok(Some(Outcome::Wait(
            format!(
                "waiting for another consistency window on VM {} to close",
                vms[i].vmid
            ),
            TASK_POLL,
        )));
    }
    w.status.window = Some(SnapshotWindow {
        vms,
        opened_at: Some(conditions::now()),
        ..SnapshotWindow::default()
    });
    w.save().await?;
    Ok(None)
}

/// Advances the open window (or the undo of changes left in `restore`) as far as this reconcile can.
pub async fn advance(
    ctx: &Context,
    obj: &VolumeSnapshot,
    w: &mut Writer,
    t: &Target,
    snap: &Snapshot<'_>,
) -> Result<Outcome, Error> {
    if w.status.window.is_none() {
        if w.status.restore.is_empty() {
            return Ok(Outcome::Closed);
        }
        // Changes recorded without a window (an older controller version): undo them.
        w.status.window = Some(SnapshotWindow {
            closing: true,
            ..SnapshotWindow::default()
        });
    }
    let pve =
        t.pve.as_ref().map(|p| p.0.clone()).ok_or_else(|| {
            Error::Precondition("VM state to restore but no ProxmoxCluster".into())
        })?;
    let uid = owner(obj);
    let vmids: Vec<u32> = window(w)
        .vms
        .iter()
        .map(|v| v.vmid)
        .chain(w.status.restore.iter().map(|r| r.vmid))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Power and freeze operations on one VM never interleave with another object's (vmid order: no deadlock).
    let mut guards = Vec::new();
    for vmid in &vmids {
        guards.push(ctx.locks.lock(key(t, *vmid)).await);
    }

    if !window(w).closing {
        let lost = window(w)
            .vms
            .iter()
            .find(|v| !ctx.locks.is_claimed_by(&key(t, v.vmid), &uid))
            .map(|v| v.vmid);
        if let Some(vmid) = lost {
            tracing::info!(
                vmid,
                "consistency window opened by an earlier controller process; restoring every VM first"
            );
            abort(
                w,
                INTERRUPTED,
                "the controller restarted inside the consistency window",
            );
            w.save().await?;
        }
    }
    // While VMs may be quiesced, every error is retried soon (never after a long permanent-error requeue).
    if !window(w).closing {
        if let Some(wait) = quiesce(ctx, obj, w, t, &pve, snap)
            .await
            .map_err(retry_soon)?
        {
            return Ok(wait);
        }
    }
    if let Some(wait) = undo(w, &pve).await.map_err(retry_soon)? {
        return Ok(wait);
    }
    drop(guards);
    close(ctx, obj, w, t, &vmids).await
}

fn retry_soon(e: Error) -> Error {
    if e.is_permanent() {
        Error::Waiting(format!("consistency window: {e}"))
    } else {
        e
    }
}

/// Closes the window on deletion: stops quiescing and restores every VM (the snapshot may or may not exist).
pub fn interrupt(w: &mut Writer, why: &str) {
    if w.status.window.as_ref().is_some_and(|win| !win.closing) {
        abort(w, INTERRUPTED, why);
    }
}

fn window(w: &Writer) -> &SnapshotWindow {
    w.status.window.as_ref().expect("window checked by caller")
}

fn window_mut(w: &mut Writer) -> &mut SnapshotWindow {
    w.status.window.as_mut().expect("window checked by caller")
}

fn abort(w: &mut Writer, reason: &str, message: impl Into<String>) {
    let win = window_mut(w);
    win.closing = true;
    win.aborted = Some(WindowAbort {
        reason: reason.to_owned(),
        message: message.into(),
    });
}

fn deadline(ctx: &Context, obj: &VolumeSnapshot) -> Duration {
    match obj.spec.consistency {
        SnapshotConsistency::FsFreeze => ctx.settings.fsfreeze_deadline,
        _ => SUSPEND_DEADLINE,
    }
}

fn past_deadline(ctx: &Context, obj: &VolumeSnapshot, win: &SnapshotWindow) -> bool {
    let Some(opened) = win.opened_at.as_ref() else {
        return false;
    };
    let elapsed = k8s_openapi::jiff::Timestamp::now().duration_since(opened.0);
    elapsed.as_secs() >= deadline(ctx, obj).as_secs() as i64
}

fn ids(vmids: impl IntoIterator<Item = u32>) -> String {
    vmids
        .into_iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Observes recorded tasks of `step` once, after `settle` (tasks on different VMs run side by side, so one pause
/// serves them all): finished ones are dropped, failed ones are dropped and returned with Proxmox's exit
/// status; transport errors leave the task recorded (looked at again next time).
async fn observe_tasks(
    pve: &PveClient,
    w: &mut Writer,
    step: VmTaskStep,
    settle: Duration,
) -> Result<Vec<(u32, String)>, Error> {
    let tasks: Vec<VmTask> = window(w)
        .tasks
        .iter()
        .filter(|t| t.step == step)
        .cloned()
        .collect();
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    if !settle.is_zero() {
        tokio::time::sleep(settle).await;
    }
    let mut failed = Vec::new();
    for task in tasks {
        let finished = match pve.wait_task(&task.upid, Duration::ZERO).await {
            Ok(Progress::Running(_)) => false,
            Ok(Progress::Done) => true,
            Err(e) if e.is_task_failed() => {
                failed.push((task.vmid, e.to_string()));
                true
            }
            Err(e) => return Err(e),
        };
        if finished {
            window_mut(w).tasks.retain(|t| t.upid != task.upid);
        }
    }
    Ok(failed)
}

fn waiting_for(tasks: &[VmTask], step: VmTaskStep) -> String {
    let (verb, list): (&str, Vec<&VmTask>) = match step {
        VmTaskStep::Quiesce => ("pausing", tasks.iter().filter(|t| t.step == step).collect()),
        _ => (
            "resuming",
            tasks.iter().filter(|t| t.step == step).collect(),
        ),
    };
    format!(
        "waiting for Proxmox task(s) {verb} VM(s) {}",
        ids(list.iter().map(|t| t.vmid))
    )
}

/// Quiesces every VM not yet quiesced, then takes the snapshot; `Some(wait)` while tasks or the job run.
async fn quiesce(
    ctx: &Context,
    obj: &VolumeSnapshot,
    w: &mut Writer,
    t: &Target,
    pve: &PveClient,
    snap: &Snapshot<'_>,
) -> Result<Option<Outcome>, Error> {
    let requested = obj.spec.consistency;
    for (vmid, e) in observe_tasks(pve, w, VmTaskStep::Quiesce, Duration::ZERO).await? {
        window_mut(w).failures.push(format!("VM {vmid}: {e}"));
    }
    let late = past_deadline(ctx, obj, window(w));
    let todo: Vec<WindowVm> = window(w)
        .vms
        .iter()
        .filter(|v| !v.already_quiet && !w.status.restore.iter().any(|r| r.vmid == v.vmid))
        .cloned()
        .collect();
    if late {
        let stragglers: Vec<u32> = todo
            .iter()
            .map(|v| v.vmid)
            .chain(window(w).tasks.iter().map(|t| t.vmid))
            .collect();
        let noted = window(w)
            .failures
            .iter()
            .any(|f| f.contains("not quiesced within"));
        if !stragglers.is_empty() && !noted {
            let msg = format!(
                "VM(s) {} not quiesced within {:?}",
                ids(stragglers),
                deadline(ctx, obj)
            );
            window_mut(w).failures.push(msg);
        }
    } else {
        let mut started = false;
        for vm in &todo {
            // Observed now that the VM is claimed: a paused (or meanwhile stopped) VM is already quiet.
            if !pve.vm_state(&vm.node, vm.vmid).await?.is_running() {
                if let Some(v) = window_mut(w).vms.iter_mut().find(|v| v.vmid == vm.vmid) {
                    v.already_quiet = true;
                }
                w.save().await?;
                continue;
            }
            let action = match requested {
                SnapshotConsistency::FsFreeze => VmRestoreAction::Thaw,
                _ => VmRestoreAction::Resume,
            };
            // Recorded before the change: a crash right after it still restores the VM.
            w.status
                .restore
                .push(vm_power::restore_entry(vm.vmid, &vm.node, action));
            w.save().await?;
            match requested {
                SnapshotConsistency::FsFreeze => {
                    if let Err(e) = pve.fsfreeze(&vm.node, vm.vmid).await {
                        window_mut(w).failures.push(format!("VM {}: {e}", vm.vmid));
                    }
                }
                _ => match pve.power(&vm.node, vm.vmid, PowerOp::Suspend).await {
                    Ok(upid) => {
                        let task =
                            vm_power::task_entry(vm.vmid, &vm.node, upid, VmTaskStep::Quiesce);
                        window_mut(w).tasks.push(task);
                        w.save().await?;
                        started = true;
                    }
                    Err(e) => window_mut(w).failures.push(format!("VM {}: {e}", vm.vmid)),
                },
            }
        }
        if started {
            for (vmid, e) in observe_tasks(pve, w, VmTaskStep::Quiesce, FIRST_LOOK).await? {
                window_mut(w).failures.push(format!("VM {vmid}: {e}"));
            }
        }
        if window(w)
            .tasks
            .iter()
            .any(|t| t.step == VmTaskStep::Quiesce)
        {
            w.save().await?;
            let msg = waiting_for(&window(w).tasks, VmTaskStep::Quiesce);
            return Ok(Some(Outcome::Wait(msg, TASK_POLL)));
        }
    }

    let failures = window(w).failures.clone();
    if !failures.is_empty() && obj.spec.require_consistency {
        abort(
            w,
            QUIESCE_REQUIRED,
            format!(
                "could not quiesce: {}; no snapshot was taken because requireConsistency is set",
                failures.join("; ")
            ),
        );
        w.save().await?;
        return Ok(None);
    }
    // Every VM is quiesced (or counted as failed): the snapshot, inside the window.
    let progress = match w.status.job_uuid.clone() {
        Some(job) => t.ontap.job(&job).await,
        None => {
            let quiesced: Vec<u32> = window(w)
                .vms
                .iter()
                .filter(|v| !v.already_quiet)
                .map(|v| v.vmid)
                .filter(|v| !failures.iter().any(|f| f.starts_with(&format!("VM {v}:"))))
                .collect();
            if !quiesced.is_empty() {
                ctx.normal(
                    obj,
                    "Quiesced",
                    format!(
                        "{requested:?} applied to VM(s) {} for the snapshot",
                        ids(quiesced)
                    ),
                )
                .await;
            }
            t.ontap
                .create_snapshot(&t.volume_uuid, snap.name, snap.comment)
                .await
        }
    };
    match progress {
        Ok(Progress::Running(job)) => {
            w.status.job_uuid = Some(job);
            w.save().await?;
            return Ok(Some(Outcome::Wait(
                format!(
                    "ONTAP is creating snapshot {} inside the consistency window",
                    snap.name
                ),
                JOB_POLL,
            )));
        }
        Ok(Progress::Done) => {
            w.status.job_uuid = None;
            let win = window_mut(w);
            win.snapshot_taken = true;
            win.closing = true;
        }
        Err(e) => {
            w.status.job_uuid = None;
            abort(w, SNAPSHOT_FAILED, e.to_string());
        }
    }
    w.save().await?;
    Ok(None)
}

/// Undoes every recorded change: thaws synchronously, starts resumes and follows them on requeue. A few
/// passes within one reconcile let a quick resume be seen through to the running VM.
async fn undo(w: &mut Writer, pve: &PveClient) -> Result<Option<Outcome>, Error> {
    for pass in 0..3 {
        // A failed resume leaves its entry: the VM is observed again and resumed anew.
        let budget = if pass == 0 {
            Duration::ZERO
        } else {
            FIRST_LOOK
        };
        for (vmid, e) in observe_tasks(pve, w, VmTaskStep::Restore, budget).await? {
            tracing::warn!(vmid, error = %e, "resume task failed; trying again");
        }
        // A pause still under way (deadline, deletion) finishes before its VM can be resumed.
        for (vmid, e) in observe_tasks(pve, w, VmTaskStep::Quiesce, Duration::ZERO).await? {
            tracing::info!(vmid, error = %e, "pause task failed while closing the window");
        }
        let busy = |w: &Writer, vmid: u32| window(w).tasks.iter().any(|t| t.vmid == vmid);
        let idle: Vec<VmRestore> = w
            .status
            .restore
            .iter()
            .filter(|r| !busy(w, r.vmid))
            .cloned()
            .collect();
        if idle.is_empty() {
            break;
        }
        // One listing locates every VM (a VM gone meanwhile has nothing left to restore).
        let nodes: HashMap<u32, String> = pve.vms().await?.into_iter().collect();
        // After a crash or a failed request a pause may be under way that was never recorded (its UPID was not
        // saved): the VM is judged only once Proxmox runs no task on it.
        let unsure = window(w).aborted.is_some() || !window(w).failures.is_empty();
        let mut waiting_for_unrecorded = false;
        for r in idle {
            let Some(node) = nodes.get(&r.vmid) else {
                forget(w, &r).await?;
                continue;
            };
            if unsure {
                // Only the kinds a snapshot window starts (a backup running on the VM is not waited for).
                let active = pve.active_vm_tasks(node, r.vmid).await?;
                if let Some(task) = active
                    .into_iter()
                    .find(|t| t.kind == "qmpause" || t.kind == "qmresume")
                {
                    tracing::info!(vmid = r.vmid, upid = %task.upid, "waiting for an unrecorded task");
                    let task = vm_power::task_entry(r.vmid, node, task.upid, VmTaskStep::Quiesce);
                    window_mut(w).tasks.push(task);
                    waiting_for_unrecorded = true;
                    continue;
                }
            }
            let state = pve.vm_state(node, r.vmid).await?;
            match r.action {
                VmRestoreAction::Thaw => {
                    if state.is_running() && pve.fsfreeze_status(node, r.vmid).await? == "frozen" {
                        pve.fsthaw(node, r.vmid)
                            .await
                            .map_err(|e| vm_power::restore_failed(&r, e))?;
                    }
                    forget(w, &r).await?;
                }
                VmRestoreAction::Resume if state.is_paused() => {
                    let upid = pve
                        .power(node, r.vmid, PowerOp::Resume)
                        .await
                        .map_err(|e| vm_power::restore_failed(&r, e))?;
                    let task = vm_power::task_entry(r.vmid, node, upid, VmTaskStep::Restore);
                    window_mut(w).tasks.push(task);
                    w.save().await?;
                }
                // Running again (or stopped by someone else: a snapshot window never stops a VM).
                _ => forget(w, &r).await?,
            }
        }
        if waiting_for_unrecorded {
            w.save().await?;
        }
    }
    if w.status.restore.is_empty() && window(w).tasks.is_empty() {
        return Ok(None);
    }
    w.save().await?;
    let step = if window(w)
        .tasks
        .iter()
        .any(|t| t.step == VmTaskStep::Quiesce)
    {
        VmTaskStep::Quiesce
    } else {
        VmTaskStep::Restore
    };
    let msg = if window(w).tasks.is_empty() {
        format!(
            "restoring VM(s) {}",
            ids(w.status.restore.iter().map(|r| r.vmid))
        )
    } else {
        waiting_for(&window(w).tasks, step)
    };
    Ok(Some(Outcome::Wait(msg, TASK_POLL)))
}

async fn forget(w: &mut Writer, r: &VmRestore) -> Result<(), Error> {
    w.status
        .restore
        .retain(|x| x.vmid != r.vmid || x.action != r.action);
    w.save().await.map(drop)
}

/// Every VM is restored: report, release the claims, drop the window.
async fn close(
    ctx: &Context,
    obj: &VolumeSnapshot,
    w: &mut Writer,
    t: &Target,
    vmids: &[u32],
) -> Result<Outcome, Error> {
    let uid = owner(obj);
    let win = w.status.window.take().unwrap_or_default();
    let touched: Vec<u32> = win
        .vms
        .iter()
        .filter(|v| !v.already_quiet)
        .map(|v| v.vmid)
        .collect();
    let requested = obj.spec.consistency;
    if !touched.is_empty() {
        ctx.normal(
            obj,
            "Restored",
            format!(
                "VM(s) {} restored after the snapshot window",
                ids(touched.iter().copied())
            ),
        )
        .await;
    }
    if win.snapshot_taken {
        w.status.requested_consistency = Some(requested);
        if win.failures.is_empty() {
            w.status.consistency_applied = Some(requested);
            if !touched.is_empty() {
                w.condition(
                    CONSISTENCY,
                    true,
                    "Quiesced",
                    format!(
                        "{requested:?} applied to VM(s) {}",
                        ids(touched.iter().copied())
                    ),
                );
            }
        } else {
            let msg = format!(
                "could not quiesce: {}; the snapshot is crash-consistent",
                win.failures.join("; ")
            );
            w.status.consistency_applied = Some(SnapshotConsistency::None);
            w.condition(CONSISTENCY, false, "QuiesceFailed", msg.clone());
            ctx.warning(obj, "QuiesceFailed", msg).await;
        }
    }
    w.save().await?;
    for vmid in vmids {
        ctx.locks.release(&key(t, *vmid), &uid);
    }
    match win.aborted {
        None => Ok(Outcome::Closed),
        // A fresh window follows in this same reconcile.
        Some(a) if a.reason == INTERRUPTED => {
            ctx.normal(
                obj,
                "WindowRestarted",
                format!("{}; every VM was restored", a.message),
            )
            .await;
            Ok(Outcome::Closed)
        }
        Some(a) if a.reason == QUIESCE_REQUIRED => Err(Error::Precondition(a.message)),
        Some(a) => Err(Error::Waiting(format!(
            "taking the snapshot failed ({}); every VM was restored and it is retried",
            a.message
        ))),
    }
}
