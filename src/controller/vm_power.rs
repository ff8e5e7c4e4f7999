//! VM power and freeze changes made for a consistency window, their undo, and the bounded waits for the Proxmox
//! tasks behind them. A reconcile waits for a task only [`TASK_BUDGET`]; a longer one is recorded in status as a
//! [`VmTask`] and observed again after [`TASK_POLL`].
//!
//! A change is recorded (`status.restore`) before it is requested, and its task's UPID only after Proxmox
//! answered. A controller that dies in between leaves a request whose task nobody follows; until that task ends
//! the VM's state says nothing final (a VM shutting down still reads `running`). So before judging a recorded
//! change by the VM's state, [`undo`] looks for the VM's power tasks still running on its node and waits for
//! them ([`settle`]).

use std::time::{Duration, Instant};

use crate::api::common::{VmRestore, VmRestoreAction, VmTask, VmTaskStep};
use crate::api::conditions;

use super::error::Error;
use super::ports::{PowerOp, Progress, PveClient};

/// How long one reconcile waits for a Proxmox task before recording it and looking again on requeue.
pub const TASK_BUDGET: Duration = Duration::from_secs(3);
/// How soon a reconcile looks again at a recorded task.
pub const TASK_POLL: Duration = Duration::from_secs(2);

/// Budget of the VolumeSnapshot quiesce (pause/resume across a storage's VMs), which still waits inside one
/// reconcile: pausing is a QMP `stop`, which takes moments.
const SNAPSHOT_POWER_BUDGET: Duration = Duration::from_secs(30);

/// Runs a power operation and waits for its task; still running after the budget is a (transient) timeout.
pub async fn power(pve: &PveClient, node: &str, vmid: u32, op: PowerOp) -> Result<(), Error> {
    let upid = pve.power(node, vmid, op).await?;
    match pve.wait_task(&upid, SNAPSHOT_POWER_BUDGET).await? {
        Progress::Done => Ok(()),
        Progress::Running(_) => Err(Error::Timeout {
            what: format!("{op:?} of VM {vmid}"),
            after: SNAPSHOT_POWER_BUDGET,
        }),
    }
}

/// Starts a power operation and waits up to [`TASK_BUDGET`]; `Running(upid)` when it is still going.
pub async fn start(pve: &PveClient, node: &str, vmid: u32, op: PowerOp) -> Result<Progress, Error> {
    let upid = pve.power(node, vmid, op).await?;
    pve.wait_task(&upid, TASK_BUDGET).await
}

/// Looks at a recorded task, waiting at most [`TASK_BUDGET`]. A task that ended with an error exit status is an
/// error (Proxmox tasks are judged by `exitstatus`).
pub async fn observe(pve: &PveClient, task: &VmTask) -> Result<Progress, Error> {
    pve.wait_task(&task.upid, TASK_BUDGET).await
}

pub fn task_entry(vmid: u32, node: &str, upid: String, step: VmTaskStep) -> VmTask {
    VmTask {
        vmid,
        node: node.to_owned(),
        upid,
        step,
        since: Some(conditions::now()),
    }
}

pub fn restore_entry(vmid: u32, node: &str, action: VmRestoreAction) -> VmRestore {
    VmRestore {
        vmid,
        node: node.to_owned(),
        action,
        since: Some(conditions::now()),
    }
}

/// Proxmox task types that change a VM's run state (qemu-server's power calls and their HA counterparts).
pub const POWER_TASK_TYPES: &[&str] = &[
    "qmstart",
    "qmstop",
    "qmshutdown",
    "qmreboot",
    "qmreset",
    "qmpause",
    "qmsuspend",
    "qmresume",
    "hastart",
    "hastop",
];

/// Waits up to `budget` until no power task of the VM runs on `node` any more; `Some(upid)` names the one still
/// running when the budget is spent. Tasks on one VM run one after another (its config lock), so waiting for the
/// newest covers those queued before it. How such a task ended is not judged here: the VM's state afterwards
/// is what counts. A task list that cannot be read is an error, never "none running".
pub async fn settle(
    pve: &PveClient,
    node: &str,
    vmid: u32,
    budget: Duration,
) -> Result<Option<String>, Error> {
    let deadline = Instant::now() + budget;
    loop {
        let running = pve.active_vm_tasks(node, vmid).await?;
        let Some(task) = running
            .into_iter()
            .rfind(|t| POWER_TASK_TYPES.contains(&t.kind.as_str()))
        else {
            return Ok(None);
        };
        tracing::info!(vmid, upid = %task.upid, kind = %task.kind, "waiting for a power task of the VM");
        let left = deadline.saturating_duration_since(Instant::now());
        match pve.wait_task(&task.upid, left).await {
            Ok(Progress::Running(upid)) => return Ok(Some(upid)),
            Ok(Progress::Done) => {}
            Err(e) if e.is_task_failed() => {}
            Err(e) => return Err(e),
        }
    }
}

/// Undoes one recorded change if it is still in effect, waiting up to [`TASK_BUDGET`] for the power task.
/// `Running(upid)`: a power task of the VM (the resume/start, or an earlier request whose UPID was never
/// recorded) is under way. Errors are transient: the VM must come back.
pub async fn undo(pve: &PveClient, r: &VmRestore) -> Result<Progress, Error> {
    let node = match pve.find_vm(r.vmid).await? {
        Some(loc) => loc.node,
        None => return Ok(Progress::Done),
    };
    if matches!(r.action, VmRestoreAction::Resume | VmRestoreAction::Start) {
        let pending = settle(pve, &node, r.vmid, TASK_BUDGET)
            .await
            .map_err(|e| restore_failed(r, e))?;
        if let Some(upid) = pending {
            return Ok(Progress::Running(upid));
        }
    }
    let state = pve.vm_state(&node, r.vmid).await?;
    let result = match r.action {
        VmRestoreAction::Thaw => {
            if state.is_running() && pve.fsfreeze_status(&node, r.vmid).await? == "frozen" {
                pve.fsthaw(&node, r.vmid).await.map(|_| Progress::Done)
            } else {
                Ok(Progress::Done)
            }
        }
        VmRestoreAction::Resume if state.is_paused() => {
            start(pve, &node, r.vmid, PowerOp::Resume).await
        }
        VmRestoreAction::Start if state.is_stopped() => {
            start(pve, &node, r.vmid, PowerOp::Start).await
        }
        _ => Ok(Progress::Done),
    };
    result.map_err(|e| restore_failed(r, e))
}

/// Undoes one recorded change, waiting for it within one reconcile (a short pause window). The task awaited may
/// be an earlier request rather than the undo itself, so the VM is looked at again after each one.
pub async fn undo_now(pve: &PveClient, r: &VmRestore) -> Result<(), Error> {
    let deadline = Instant::now() + SNAPSHOT_POWER_BUDGET;
    loop {
        let upid = match undo(pve, r).await? {
            Progress::Done => return Ok(()),
            Progress::Running(upid) => upid,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match pve.wait_task(&upid, left).await {
            // Ended in time: the next pass looks at the VM again.
            Ok(Progress::Done) if Instant::now() < deadline => {}
            Ok(_) => {
                return Err(Error::Waiting(format!(
                    "restoring VM {} ({:?}) is not confirmed yet (task {upid})",
                    r.vmid, r.action
                )))
            }
            Err(e) => return Err(restore_failed(r, e)),
        }
    }
}

pub fn restore_failed(r: &VmRestore, e: Error) -> Error {
    Error::Waiting(format!(
        "restoring VM {} ({:?}) failed: {e}",
        r.vmid, r.action
    ))
}
