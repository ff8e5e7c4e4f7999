//! Create/update path of a VolumeSnapshotRestore: plan on every reconcile until the plan is accepted (confirmed,
//! unblocked, within the VM policy), then the stages run to the end.

use std::ops::ControlFlow;
use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;

use super::plan::{self, confirmation, split_at_target};
use super::stages::{self, Flow};
use super::vms::{self, VmOnStorage};
use super::{Run, BLOCKED_POLL};
use crate::api::common::VmRestoreAction;
use crate::api::volume_snapshot_restore::{
    PlannedSnapshot, PlannedVm, RestorePlan, RestoreScope, RestoreStage, RestoreVmPolicy,
};
use crate::api::{FlexCloneMount, Phase, VolumeSnapshot, VolumeSnapshotRestore};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::ports::SnapshotInfo;
use crate::controller::reconcile::apply_unless_settled;
use crate::controller::vm_disk_clone::plan as drives;
use crate::controller::vm_power;
use crate::controller::volume_snapshot::plan::parse_time;

pub async fn apply(obj: Arc<VolumeSnapshotRestore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let st = obj.status.clone().unwrap_or_default();
    // One-shot: a finished restore never touches a backend again. An aborted one waits for a spec change.
    let this_generation = st.observed_generation == obj.metadata.generation;
    match st.stage {
        RestoreStage::Completed => return Ok(Action::await_change()),
        RestoreStage::Aborted if this_generation => return Ok(Action::await_change()),
        _ => {}
    }
    apply_unless_settled(obj, ctx, st.work_open(), apply_inner).await
}

async fn apply_inner(obj: Arc<VolumeSnapshotRestore>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut r = Run::observe(obj, ctx).await?;
    if matches!(
        r.w.status.stage,
        RestoreStage::Planning | RestoreStage::Aborted
    ) {
        r.w.status.stage = RestoreStage::Planning;
        r.w.status.aborted = None;
        if let ControlFlow::Break(action) = plan(&mut r).await? {
            return Ok(action);
        }
    }
    match stages::drive(&mut r).await? {
        Flow::Break(action) => Ok(action),
        Flow::Continue(()) => Ok(Action::await_change()),
    }
}

/// Computes the plan and writes it to status; continues (stage Stopping or Restoring recorded) only when it may
/// be carried out. Every refusal changes nothing and is looked at again shortly (VMs stop, clones go).
async fn plan(r: &mut Run) -> Result<Flow, Error> {
    let list = r.t.ontap.snapshots(&r.t.volume_uuid).await?;
    let Some((target, newer)) = split_at_target(list, &r.t.snapshot) else {
        r.w.status.plan = None;
        return Err(Error::Precondition(format!(
            "snapshot {} does not exist on volume {} (storage {}); nothing was changed",
            r.t.snapshot, r.t.volume, r.t.storage
        )));
    };
    r.w.status.snapshot_uuid = Some(target.uuid.clone());
    if r.obj.spec.scope == RestoreScope::Vm {
        return plan_vm(r).await;
    }
    let vms = vms::on_storage(&r.t.pve, &r.t.storage, &r.t.pve_grant).await?;
    let running: Vec<&VmOnStorage> = vms.iter().filter(|v| !v.state.is_stopped()).collect();
    r.w.status.plan = Some(RestorePlan {
        destroys: planned_snapshots(r, &newer).await?,
        stops: planned_vms(&running),
        ..RestorePlan::default()
    });

    let in_use: Vec<&SnapshotInfo> = newer.iter().filter(|s| !s.owners.is_empty()).collect();
    if !in_use.is_empty() {
        let msg = in_use_message(r, &in_use).await?;
        return blocked(r, "NewerSnapshotInUse", msg).await;
    }
    let destroys =
        r.w.status
            .plan
            .as_ref()
            .map(|p| p.destroys.clone())
            .unwrap_or_default();
    if let Err(msg) = confirmation(&r.obj.spec.confirm_destroy, &destroys) {
        return blocked(r, "ConfirmationRequired", msg).await;
    }
    if let Some(flow) = policy_gate(r, &running).await? {
        return Ok(flow);
    }
    accept(r, &running).await
}

/// A `scope: Vm` plan: the VM's disk files the snapshot holds are put back; nothing else is touched, so no
/// snapshot is destroyed and no other VM is looked at.
async fn plan_vm(r: &mut Run) -> Result<Flow, Error> {
    let vmid = r
        .obj
        .spec
        .vmid
        .ok_or_else(|| Error::InvalidSpec("scope Vm needs vmid".into()))?;
    let vm = vms::one_vm(&r.t.pve, &r.t.storage, vmid, &r.t.pve_grant).await?;
    let (mut files, not_in_snapshot) =
        vms::files_in_snapshot(&r.t.ontap, &r.t.volume_uuid, &r.t.snapshot, &vm).await?;
    let (config_set, config_detach) = if r.obj.spec.restore_config {
        recorded_config(r, &vm, &mut files).await?
    } else {
        (Vec::new(), Vec::new())
    };
    let running: Vec<&VmOnStorage> = [&vm]
        .into_iter()
        .filter(|v| !v.state.is_stopped())
        .collect();
    r.w.status.plan = Some(RestorePlan {
        destroys: Vec::new(),
        stops: planned_vms(&running),
        files: files.clone(),
        not_in_snapshot,
        config_set,
        config_detach,
    });
    if files.is_empty() {
        return Err(Error::Precondition(format!(
            "snapshot {} holds none of VM {vmid}'s disk files on storage {}; nothing was changed",
            r.t.snapshot, r.t.storage
        )));
    }
    if let Some(flow) = policy_gate(r, &running).await? {
        return Ok(flow);
    }
    r.w.status.files_restored.clear();
    r.w.status.config_restored = false;
    accept(r, &running).await
}

/// The disk entries the VolumeSnapshot recorded for the VM, checked, as `key=value` to set and keys to detach;
/// recorded files the VM no longer references are added to `files` (they come back too).
async fn recorded_config(
    r: &Run,
    vm: &VmOnStorage,
    files: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let name = r
        .obj
        .spec
        .volume_snapshot_ref
        .as_ref()
        .map(|v| v.name.clone())
        .unwrap_or_default();
    let vs = Api::<VolumeSnapshot>::namespaced(
        r.ctx.client.clone(),
        &r.obj.namespace().unwrap_or_default(),
    )
    .get(&name)
    .await?;
    let recorded = vs
        .status
        .and_then(|s| s.recorded_vm_disks.into_iter().find(|d| d.vmid == vm.vmid))
        .map(|d| {
            d.disks
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect::<std::collections::BTreeMap<String, String>>()
        })
        .ok_or_else(|| {
            Error::Precondition(format!(
                "VolumeSnapshot {name} recorded no disks of VM {} (taken by an older controller, or the VM had \
                 none on the storage); restore without restoreConfig",
                vm.vmid
            ))
        })?;
    let mut held = files.clone();
    for value in recorded.values() {
        if let Some(path) = plan::file_path(&drives::parse_drive(value).volume) {
            if !held.contains(&path)
                && r.t
                    .ontap
                    .file_exists(
                        &r.t.volume_uuid,
                        &format!(".snapshot/{}/{path}", r.t.snapshot),
                    )
                    .await?
            {
                held.push(path);
            }
        }
    }
    let (set, detach) = plan::config_changes(&recorded, &vm.disks, &r.t.storage, vm.vmid, &held)
        .map_err(Error::Precondition)?;
    *files = held;
    Ok((
        set.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        detach,
    ))
}

/// The VM policy: `Some` (a refusal) when the running VMs may not be shut down, or cannot be cleanly.
async fn policy_gate(r: &mut Run, running: &[&VmOnStorage]) -> Result<Option<Flow>, Error> {
    let ids = |vs: &[&VmOnStorage]| {
        vs.iter()
            .map(|v| v.vmid.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match r.obj.spec.vm_policy {
        RestoreVmPolicy::RequireStopped if !running.is_empty() => {
            let msg = format!(
                "VM(s) {} with disks on storage {} are running; stop them, or set vmPolicy ShutdownAndRestart",
                ids(running),
                r.t.storage
            );
            return blocked(r, "VmsRunning", msg).await.map(Some);
        }
        RestoreVmPolicy::ShutdownAndRestart => {
            let paused: Vec<&VmOnStorage> = running
                .iter()
                .copied()
                .filter(|v| !v.state.is_running())
                .collect();
            if !paused.is_empty() {
                let msg = format!(
                    "VM(s) {} with disks on storage {} are paused, so they cannot be shut down cleanly; resume or \
                     stop them",
                    ids(&paused),
                    r.t.storage
                );
                return blocked(r, "VmPolicyUnmet", msg).await.map(Some);
            }
        }
        RestoreVmPolicy::RequireStopped => {}
    }
    Ok(None)
}

/// The plan is accepted: the VMs to start again are recorded before the first shutdown.
async fn accept(r: &mut Run, running: &[&VmOnStorage]) -> Result<Flow, Error> {
    let ids = running
        .iter()
        .map(|v| v.vmid.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    r.w.status.restore = running
        .iter()
        .map(|v| vm_power::restore_entry(v.vmid, &v.node, VmRestoreAction::Start))
        .collect();
    r.w.status.vm_tasks.clear();
    let what = r.what();
    let (stage, reason, msg) = if running.is_empty() {
        (
            RestoreStage::Restoring,
            "Restoring",
            format!("restoring {what} to snapshot {}", r.t.snapshot),
        )
    } else {
        (
            RestoreStage::Stopping,
            "Stopping",
            format!(
                "shutting down VM(s) {ids}, then restoring {what} to snapshot {}",
                r.t.snapshot
            ),
        )
    };
    r.w.status.stage = stage;
    r.w.set(Phase::InProgress, reason, msg.clone());
    r.w.save().await?;
    r.normal("Started", msg).await;
    Ok(ControlFlow::Continue(()))
}

fn planned_vms(running: &[&VmOnStorage]) -> Vec<PlannedVm> {
    running
        .iter()
        .map(|v| PlannedVm {
            vmid: v.vmid,
            node: v.node.clone(),
        })
        .collect()
}

/// The newer snapshots as the plan lists them, each with the VolumeSnapshot of this namespace managing it.
async fn planned_snapshots(r: &Run, newer: &[SnapshotInfo]) -> Result<Vec<PlannedSnapshot>, Error> {
    let managing = if newer.is_empty() {
        Vec::new()
    } else {
        Api::<VolumeSnapshot>::namespaced(
            r.ctx.client.clone(),
            &r.obj.namespace().unwrap_or_default(),
        )
        .list(&ListParams::default())
        .await?
        .items
    };
    Ok(newer
        .iter()
        .map(|s| PlannedSnapshot {
            name: s.name.clone(),
            create_time: parse_time(&s.create_time),
            volume_snapshot: managing
                .iter()
                .find(|vs| {
                    vs.status.as_ref().is_some_and(|st| {
                        st.volume_uuid.as_deref() == Some(r.t.volume_uuid.as_str())
                            && st.snapshot_name.as_deref() == Some(s.name.as_str())
                    })
                })
                .map(|vs| vs.name_any()),
        })
        .collect())
}

/// Names what holds the newer snapshots: FlexCloneMounts of this namespace, FlexClone volumes inside the scope
/// (others are counted, never named), and deleted clones still in the recovery queue.
async fn in_use_message(r: &Run, in_use: &[&SnapshotInfo]) -> Result<String, Error> {
    let fcms = Api::<FlexCloneMount>::namespaced(
        r.ctx.client.clone(),
        &r.obj.namespace().unwrap_or_default(),
    )
    .list(&ListParams::default())
    .await?
    .items;
    let mut parts = Vec::new();
    for s in in_use {
        let mut holders: Vec<String> = fcms
            .iter()
            .filter(|f| {
                f.status.as_ref().is_some_and(|st| {
                    st.parent_volume_uuid.as_deref() == Some(r.t.volume_uuid.as_str())
                        && st.parent_snapshot.as_deref() == Some(s.name.as_str())
                })
            })
            .map(|f| format!("FlexCloneMount {}", f.name_any()))
            .collect();
        let mut outside = 0;
        let clones = r.t.ontap.clones_of(&r.t.volume_uuid, &s.name).await?;
        for c in &clones {
            if r.t.ontap_grant.volume(&c.svm, &c.name, String::new).is_ok() {
                holders.push(format!("FlexClone volume {}", c.name));
            } else {
                outside += 1;
            }
        }
        if outside > 0 {
            holders.push(format!(
                "{outside} FlexClone volume(s) outside this namespace's scope"
            ));
        }
        if clones.is_empty() {
            holders.push("a deleted FlexClone in the volume recovery queue".to_owned());
        }
        parts.push(format!("{} (by {})", s.name, holders.join(", ")));
    }
    Ok(format!(
        "the restore would destroy snapshot(s) that FlexClones depend on, which ONTAP refuses: {}; delete or split \
         those clones first",
        parts.join("; ")
    ))
}

async fn blocked(r: &mut Run, reason: &str, msg: String) -> Result<Flow, Error> {
    r.w.set(Phase::Pending, reason, msg.clone());
    if r.w.save().await? {
        r.ctx.warning(r.obj.as_ref(), reason, msg).await;
    }
    Ok(ControlFlow::Break(Action::requeue(BLOCKED_POLL)))
}
