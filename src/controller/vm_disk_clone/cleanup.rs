//! Deletion path of a VmDiskClone: only what this object made, only while unchanged.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;

use crate::api::common::VmTaskStep;
use crate::api::conditions::DELETION_BLOCKED;
use crate::api::{DeletionPolicy, Phase, VmDiskClone};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::naming;
use crate::controller::reconcile::Cleanup;
use crate::controller::vm_power::TASK_POLL;
use crate::proxmox::ConfigUpdate;

use super::plan;
use super::run::Run;
use super::window::{self, Step};

const WAIT_RUNNING_VM: Duration = Duration::from_secs(15);

fn wait_for_task(what: String) -> Cleanup {
    tracing::debug!(waiting = %what, "deletion waits for a Proxmox task");
    Cleanup::Wait(kube::runtime::controller::Action::requeue(TASK_POLL))
}

pub async fn cleanup(obj: Arc<VmDiskClone>, ctx: Arc<Context>) -> Result<Cleanup, Error> {
    let uid = obj.uid().unwrap_or_default();
    if ctx.facts.cleaned.get(&uid).is_some() {
        return Ok(Cleanup::Done);
    }
    let done = clean(obj, ctx.clone()).await?;
    if matches!(done, Cleanup::Done) {
        ctx.facts.cleaned.put(uid, ());
    }
    Ok(done)
}

async fn clean(obj: Arc<VmDiskClone>, ctx: Arc<Context>) -> Result<Cleanup, Error> {
    // Whatever the policy, a VM this object paused, froze or stopped runs again before the object goes.
    let window_open = obj.status.as_ref().is_some_and(|s| {
        !s.restore.is_empty()
            || s.vm_task
                .as_ref()
                .is_some_and(|t| matches!(t.step, VmTaskStep::Quiesce | VmTaskStep::Restore))
    });
    if window_open && obj.spec.deletion_policy == DeletionPolicy::Retain {
        let mut run = Run::new(obj.clone(), ctx.clone()).await?;
        if let Step::Wait(w) = window::abort(&mut run).await? {
            return Ok(wait_for_task(w));
        }
    }
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.normal(
            obj.as_ref(),
            "Retained",
            "deletionPolicy Retain: copies and registrations are kept",
        )
        .await;
        return Ok(Cleanup::Done);
    }
    // Nothing was ever made (e.g. the object failed validation): no backend needs to be reachable to let go.
    let st = obj.status.clone().unwrap_or_default();
    if st.disks.is_empty()
        && st.restore.is_empty()
        && st.new_vmid.is_none()
        && st.vm_task.is_none()
        && st.crash_point_snapshots.is_empty()
    {
        return Ok(Cleanup::Done);
    }
    let mut run = Run::new(obj, ctx).await?;
    if let Step::Wait(w) = window::abort(&mut run).await? {
        return Ok(wait_for_task(w));
    }
    // A VM creation in flight finishes first: the VM it makes is ours to remove.
    match window::observe(&mut run, VmTaskStep::CreateVm).await {
        Ok(Some(Step::Wait(w))) => return Ok(wait_for_task(w)),
        Ok(Some(Step::Done)) => {
            if let Some(new_vmid) = run.planned_new_vmid() {
                super::apply::record_new_vm(&mut run, new_vmid).await?;
            }
        }
        Ok(None) => {}
        Err(e) => tracing::info!(error = %e, "VM creation failed; nothing to remove"),
    }
    // A start in flight is let finish: the VM is then running and deletion waits for it to be stopped.
    if let Ok(Some(Step::Wait(w))) = window::observe(&mut run, VmTaskStep::StartVm).await {
        return Ok(wait_for_task(w));
    }
    if run.w.status.disks.is_empty() {
        return Ok(Cleanup::Done);
    }
    // Jobs still running would recreate a file after we delete it.
    for i in 0..run.w.status.disks.len() {
        if run.w.status.disks[i].job_uuid.is_some() {
            window::follow_job(&mut run, i).await?;
            if run.w.status.disks[i].job_uuid.is_some() {
                return Ok(Cleanup::Wait(kube::runtime::controller::Action::requeue(
                    Duration::from_secs(3),
                )));
            }
        }
    }

    // What to undo follows what was recorded as made (and is verified against the backend), never the current
    // spec: `attach` and `newVm` may have been edited since.
    let mut kept: Vec<String> = Vec::new();
    if run.w.status.new_vmid.is_some() || run.planned_new_vmid().is_some() {
        if let Some(wait) = remove_new_vm(&mut run).await? {
            return Ok(wait);
        }
    } else if run.w.status.disks.iter().any(|d| d.config_key.is_some()) {
        deleting(&mut run).await?;
        kept = unregister_unused(&mut run).await?;
    }
    deleting(&mut run).await?;
    if let Step::Wait(w) = super::crash_point::release(&mut run).await? {
        return Ok(wait_for_task(w));
    }
    delete_copies(&mut run).await?;
    if !kept.is_empty() {
        run.warning(
            "CopiesKept",
            format!(
                "left {} in place: the VM config references them under other keys",
                kept.join(", ")
            ),
        )
        .await;
    }
    run.normal("Deleted", "removed the copies").await;
    Ok(Cleanup::Done)
}

/// Marks the object as being deleted (and no longer blocked). Set only once nothing blocks, so a blocked
/// deletion keeps one stable status instead of flipping between two and waking itself up.
async fn deleting(run: &mut Run) -> Result<(), Error> {
    crate::api::conditions::remove_condition(&mut run.w.status.conditions, DELETION_BLOCKED);
    run.set(Phase::Deleting, "Deleting", "removing the copies");
    run.save().await
}

/// Removes our `unusedN` entries that still point at our copies, all in ONE config change guarded by the digest
/// of the config it was computed from (re-read once if the config changed meanwhile). Deleting an `unusedN`
/// drops a pending entry and, for an applied one, lets Proxmox delete the file it owns. Returns the copies the
/// VM references in a way we did not make (e.g. a user attached one as a drive): those files must stay.
async fn unregister_unused(run: &mut Run) -> Result<Vec<String>, Error> {
    let vmid = run.vmid();
    let hash = run.hash();
    let ours: Vec<(usize, String, String)> = run
        .w
        .status
        .disks
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i, d.config_key.clone()?, d.clone_volume_id.clone()?)))
        // Status says where to look; only an entry naming one of our copies (by its hashed name) is removed.
        .filter(|(_, key, volid)| key.starts_with("unused") && naming::is_own_copy(volid, &hash))
        .collect();
    if ours.is_empty() {
        return Ok(Vec::new());
    }
    let Some(node) = run.try_node().await? else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::new();
    let _config_lock = run.lock_config().await;
    for attempt in 0..2 {
        let cfg = match run.config_for_change().await {
            Err(Error::Precondition(_)) => return Ok(Vec::new()),
            other => other?,
        };
        let delete: Vec<String> = ours
            .iter()
            .filter(|(_, key, volid)| {
                cfg.values.get(key).map(|v| plan::parse_drive(v).volume) == Some(volid.clone())
            })
            .map(|(_, key, _)| key.clone())
            .collect();
        kept.clear();
        let mut keep_files = Vec::new();
        for (i, _, volid) in &ours {
            // The merged config leaves out keys about to be deleted, as before.
            let referenced: Vec<_> = cfg
                .values
                .iter()
                .filter(|(k, v)| !delete.contains(k) && plan::parse_drive(v).volume == *volid)
                .map(|(k, _)| k.clone())
                .collect();
            if !referenced.is_empty() {
                kept.push(format!("{volid} ({})", referenced.join(", ")));
                keep_files.push(*i);
            }
        }
        if !delete.is_empty() {
            let node = run.node().await.unwrap_or(node.clone());
            match run
                .pve
                .update_config(
                    &node,
                    vmid,
                    ConfigUpdate {
                        delete: delete.clone(),
                        digest: cfg.digest.clone(),
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(()) => run.config_written(),
                Err(e) if e.is_conflict() && attempt == 0 => {
                    run.config_changed();
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        for (i, key, _) in &ours {
            if delete.contains(key) {
                run.w.status.disks[*i].config_key = None;
            }
        }
        for i in keep_files {
            run.w.status.disks[i].cloned = false;
            run.w.status.disks[i].clone_path.clear();
        }
        run.save().await?;
        break;
    }
    Ok(kept)
}

/// Destroys the VM we created once it is stopped; while it runs, waits with a condition saying why.
async fn remove_new_vm(run: &mut Run) -> Result<Option<Cleanup>, Error> {
    match window::observe(run, VmTaskStep::DestroyVm).await? {
        Some(Step::Wait(w)) => return Ok(Some(wait_for_task(w))),
        Some(Step::Done) => {
            run.normal("VmDeleted", "deleted the VM this object created")
                .await;
            return Ok(None);
        }
        None => {}
    }
    // The VM the copies were made for (from their hash-named files) and the one status records: usually the
    // same; each is removed only once proven ours.
    let mut candidates: Vec<u32> = run.planned_new_vmid().into_iter().collect();
    if let Some(v) = run.w.status.new_vmid.filter(|v| !candidates.contains(v)) {
        candidates.push(v);
    }
    for new_vmid in candidates {
        if let Some(wait) = remove_vm_if_ours(run, new_vmid).await? {
            return Ok(Some(wait));
        }
    }
    Ok(None)
}

/// Removes VM `new_vmid` if this object created it: its description ends with our marker, or its config
/// references one of our copies (named with this object's hash). Anything else is kept with a Warning.
async fn remove_vm_if_ours(run: &mut Run, new_vmid: u32) -> Result<Option<Cleanup>, Error> {
    let hash = run.hash();
    let Some(loc) = run.pve.find_vm(new_vmid).await? else {
        return Ok(None);
    };
    let cfg = run.pve.vm_config_merged(&loc.node, new_vmid).await?;
    let marked = plan::description_marked(
        cfg.values.get("description").map(String::as_str),
        &run.marker().to_comment(),
    );
    let holds_our_copy = cfg
        .values
        .iter()
        .filter(|(k, _)| plan::is_disk_key(k) || k.starts_with("unused"))
        .any(|(_, v)| naming::is_own_copy(&plan::parse_drive(v).volume, &hash));
    if !(marked || holds_our_copy) {
        // Someone replaced the VM under that id, or status was rewritten: never delete what we did not create.
        run.warning(
            "VmKept",
            format!("VM {new_vmid} was not created by this object (or no longer carries its copies); it is not deleted"),
        )
        .await;
        return Ok(None);
    }
    let state = run.pve.vm_state(&loc.node, new_vmid).await?;
    if !state.is_stopped() {
        let msg = format!(
            "VM {} created by this object is running; stop it to let the deletion finish",
            new_vmid
        );
        run.set_condition(DELETION_BLOCKED, true, "VmRunning", msg.clone());
        run.set(Phase::Deleting, "VmRunning", msg.clone());
        run.save().await?;
        run.warning("VmRunning", msg).await;
        return Ok(Some(Cleanup::Wait(
            kube::runtime::controller::Action::requeue(WAIT_RUNNING_VM),
        )));
    }
    deleting(run).await?;
    let upid = run.pve.destroy_vm(&loc.node, new_vmid).await?;
    if let Step::Wait(w) =
        window::track(run, new_vmid, &loc.node, upid, VmTaskStep::DestroyVm).await?
    {
        return Ok(Some(wait_for_task(w)));
    }
    run.normal("VmDeleted", format!("deleted VM {}", new_vmid))
        .await;
    Ok(None)
}

/// Deletes the copy files on ONTAP (a missing file is done) and a new VM's now empty directory.
async fn delete_copies(run: &mut Run) -> Result<(), Error> {
    let disks = run.w.status.disks.clone();
    let hash = run.hash();
    let mut dirs = Vec::new();
    for d in &disks {
        if d.clone_path.is_empty() {
            continue;
        }
        // Only a file named with this object's hash is one of its copies; anything else in status was not
        // made here (a tampered or stale record) and is left alone.
        if !naming::is_own_copy(&d.clone_path, &hash) {
            run.warning(
                "FileKept",
                format!(
                    "{} is not a copy made by this object; it is kept",
                    d.clone_path
                ),
            )
            .await;
            continue;
        }
        let client = run
            .ontap(d.ontap_cluster.as_deref().unwrap_or_default())
            .await?;
        let uuid = d.ontap_volume_uuid.clone().unwrap_or_default();
        client.delete_file(&uuid, &d.clone_path).await?;
        if run.w.status.new_vmid.is_some() || run.planned_new_vmid().is_some() {
            if let Some((dir, _)) = d.clone_path.rsplit_once('/') {
                dirs.push((client.clone(), uuid.clone(), dir.to_owned()));
            }
        }
    }
    // The new VM's directory was created through ONTAP for the copies; remove it when nothing else is inside.
    for (client, uuid, dir) in dirs {
        if let Err(e) = client.delete_file(&uuid, &dir).await {
            tracing::debug!(error = %e, dir, "directory not removed (not empty?)");
        }
    }
    Ok(())
}
