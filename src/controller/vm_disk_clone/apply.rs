//! Create/update path of a VmDiskClone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use crate::api::common::VmTaskStep;
use crate::api::vm_disk_clone::{Attach, DiskCloneStatus, NewVmSpec};
use crate::api::{conditions, Phase, VmDiskClone, VmDiskCloneStatus};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::ports::PowerOp;
use crate::controller::vm_power::TASK_POLL;
use crate::proxmox::ConfigUpdate;

use super::crash_point;
use super::plan::{self, PlanError};
use super::run::Run;
use super::window::{self, Step};
use crate::controller::resolve;

/// How soon to look again while ONTAP jobs run.
const JOB_POLL: Duration = Duration::from_secs(3);

/// Condition saying whether the spec in force is the one the copies were made from.
pub const SPEC_APPLIED: &str = "SpecApplied";
const SPEC_FROZEN_NOTE: &str =
    "spec changed after the copies were made; changes other than deletionPolicy are \
     not applied (a VmDiskClone is a point-in-time copy) — create a new VmDiskClone";

/// Whether anything was made from the recorded plan (copies, a window, a new VM).
fn copies_exist(st: &VmDiskCloneStatus) -> bool {
    st.new_vmid.is_some()
        || !st.restore.is_empty()
        || !st.crash_point_snapshots.is_empty()
        || st.vm_task.is_some()
        || st
            .disks
            .iter()
            .any(|d| d.cloned || d.job_uuid.is_some() || d.config_key.is_some())
}

/// A Ready object whose current spec was handled and on whose VM nothing of ours is open needs no backend call
/// when a watch event wakes it (our own status write, a label or annotation change). Only pending `unusedN`
/// registrations are looked at again, once per resync period (a cold start of the VM applies them).
fn settled(obj: &VmDiskClone, ctx: &Context) -> Option<Action> {
    let resync = Action::requeue(ctx.settings.resync);
    let generation = obj.meta().generation.unwrap_or_default();
    // Finished by this process at this generation: the watch cache may still hand out the copy from before
    // the Ready write.
    if ctx.facts.finished.get(&obj.uid()?) == Some(generation) {
        return Some(resync);
    }
    let st = obj.status.as_ref()?;
    // A permanent failure this process recorded is retried by the resync or a spec change, not by the watch
    // event of its own status write: with `requireConsistency` each retry would freeze the guest again.
    let failed_here = st.phase == Phase::Failed && ctx.facts.checked.get(&obj.uid()?).is_some();
    let settled = (st.phase == Phase::Ready || failed_here)
        && st.observed_generation == obj.meta().generation
        && st.restore.is_empty()
        && st.vm_task.is_none();
    let pending = obj.spec.attach == Attach::Unused && st.disks.iter().any(|d| d.pending);
    (settled && !pending).then_some(resync)
}

pub async fn apply(obj: Arc<VmDiskClone>, ctx: Arc<Context>) -> Result<Action, Error> {
    if let Some(action) = settled(&obj, &ctx) {
        return Ok(action);
    }
    let uid = obj.uid().unwrap_or_default();
    let result = apply_inner(obj, ctx.clone()).await;
    match &result {
        Err(e) if e.is_permanent() => ctx.facts.checked.put(uid, ()),
        _ => ctx.facts.checked.forget(&uid),
    }
    result
}

async fn apply_inner(obj: Arc<VmDiskClone>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut run = Run::new(obj, ctx).await?;
    // A VmDiskClone is a point-in-time copy: once something was made, the recorded plan stands. Noticed before
    // any status write records the new generation as observed.
    if copies_exist(&run.w.status)
        && run.w.status.observed_generation.is_some()
        && run.w.status.observed_generation != run.generation()
    {
        run.set_condition(SPEC_APPLIED, false, "PointInTimeCopy", SPEC_FROZEN_NOTE);
        run.warning("SpecNotApplied", SPEC_FROZEN_NOTE).await;
    }
    // A window interrupted by a crash or a failure is closed before anything else happens; one waiting for its
    // quiesce task continues below.
    let quiescing = run
        .w
        .status
        .vm_task
        .as_ref()
        .is_some_and(|t| t.step == VmTaskStep::Quiesce);
    if !quiescing {
        if let Step::Wait(w) =
            window::restore_vm(&mut run, "closing the consistency window").await?
        {
            return waiting(&mut run, w).await;
        }
    }

    if run.w.status.phase == Phase::Ready {
        return resync(&mut run).await;
    }
    // A changed spec re-plans as long as nothing was made from the old plan yet (e.g. after fixing a Failed
    // object); once copies exist, the recorded plan is finished as it is.
    let untouched = run.w.status.new_vmid.is_none()
        && run.w.status.restore.is_empty()
        && run.w.status.crash_point_snapshots.is_empty()
        && run.w.status.vm_task.is_none()
        && run
            .w
            .status
            .disks
            .iter()
            .all(|d| !d.cloned && d.job_uuid.is_none() && d.config_key.is_none());
    if untouched && run.w.status.observed_generation != run.generation() {
        run.w.status.disks.clear();
    }
    let planned_now = run.w.status.disks.is_empty();
    if planned_now {
        plan_and_record(&mut run).await?;
    }
    let node = run.node().await?;
    if run.w.status.disks.iter().any(|d| !d.cloned) {
        // While jobs run, the "still running" message below stays; rewriting it each pass would wake us up. A
        // plan recorded moments ago already says what is being copied.
        if !planned_now
            && run.w.status.disks.iter().all(|d| d.job_uuid.is_none())
            && run.w.status.vm_task.is_none()
        {
            run.set(Phase::InProgress, "Cloning", "copying disks");
            run.save().await?;
        }
        if let Step::Wait(w) = window::clone_in_window(&mut run, &node).await? {
            return waiting(&mut run, w).await;
        }
        if run.w.status.disks.iter().any(|d| !d.cloned) {
            let running: Vec<_> = run
                .w
                .status
                .disks
                .iter()
                .filter(|d| !d.cloned)
                .map(|d| d.drive.clone())
                .collect();
            run.set(
                Phase::InProgress,
                "Cloning",
                format!("ONTAP file clones still running for {}", running.join(", ")),
            );
            run.save().await?;
            return Ok(Action::requeue(JOB_POLL));
        }
        let drives: Vec<_> = run.w.status.disks.iter().map(|d| d.drive.clone()).collect();
        run.normal("Cloned", format!("copied {}", drives.join(", ")))
            .await;
    }
    if let Step::Wait(w) = crash_point::release(&mut run).await? {
        return waiting(&mut run, w).await;
    }
    // The copies' names say whether they were planned for a new VM; an `attach` edited since cannot turn copies
    // of one kind into the other.
    match (run.obj.spec.attach, run.planned_new_vmid()) {
        (_, Some(new_vmid)) => {
            if let Step::Wait(w) = attach_new_vm(&mut run, &node, new_vmid).await? {
                return waiting(&mut run, w).await;
            }
        }
        (Attach::NewVm, None) => {
            return Err(Error::Precondition(
                "attach was changed to NewVm after the copies were made for the source VM: create a new \
                 VmDiskClone"
                    .into(),
            ))
        }
        (Attach::Unused, None) => attach_unused(&mut run).await?,
        (Attach::None, None) => {}
    }
    finish(&mut run).await?;
    Ok(Action::requeue(run.ctx.settings.resync))
}

/// A Proxmox task recorded in status is still running: say so and look again shortly. The message names the
/// task and nothing that changes per pass, so the status write does not wake the object up again.
async fn waiting(run: &mut Run, what: String) -> Result<Action, Error> {
    run.set(Phase::InProgress, "WaitingForTask", what);
    run.save().await?;
    Ok(Action::requeue(TASK_POLL))
}

/// Proxmox volume ids of the copies as attached to the new VM `new_vmid`, per drive key.
fn new_vm_volids(run: &Run, new_vmid: u32) -> Vec<(String, String)> {
    run.w
        .status
        .disks
        .iter()
        .map(|d| {
            let file = d.clone_path.rsplit('/').next().unwrap_or_default();
            (
                d.drive.clone(),
                format!(
                    "{}:{}/{file}",
                    d.storage.clone().unwrap_or_default(),
                    new_vmid
                ),
            )
        })
        .collect()
}

/// Records the new VM as ours, with the config key of every copy, so deletion finds and removes it.
pub(super) async fn record_new_vm(run: &mut Run, new_vmid: u32) -> Result<(), Error> {
    let volids = new_vm_volids(run, new_vmid);
    run.w.status.new_vmid = Some(new_vmid);
    for (i, (drive, volid)) in volids.into_iter().enumerate() {
        run.w.status.disks[i].config_key = Some(drive);
        run.w.status.disks[i].clone_volume_id = Some(volid);
    }
    run.save().await
}

/// Observe the VM, its storages and the ONTAP volumes behind them; plan; record the plan before acting.
async fn plan_and_record(run: &mut Run) -> Result<(), Error> {
    let vmid = run.vmid();
    let config = run.config().await?;
    // Scope first: nothing below changes anything, but a VM outside the scope is not even planned for.
    run.grant
        .vm(vmid, config.values.get("tags").map(String::as_str))?;
    let node = run.node().await?;
    let wanted = storages_of(&config.values, run.obj.spec.disks.as_deref());
    let mut found = resolve::backings(&run.lookup(), &wanted, false).await?;
    let mut disks = plan::select_disks(vmid, &config.values, run.obj.spec.disks.as_deref(), |s| {
        found.by_storage.contains_key(s)
    });
    if disks.is_err() && found.remembered {
        // Remembered answers may be out of date: ask the backends before reporting anything.
        found = resolve::backings(&run.lookup(), &wanted, true).await?;
        disks = plan::select_disks(vmid, &config.values, run.obj.spec.disks.as_deref(), |s| {
            found.by_storage.contains_key(s)
        });
    }
    let disks = disks.map_err(|e| plan_error(e, &found.broken))?;
    let backings = found.by_storage;
    let new_vmid = match run.obj.spec.attach {
        Attach::NewVm => {
            let new = run
                .obj
                .spec
                .new_vm
                .as_ref()
                .ok_or_else(|| Error::InvalidSpec("attach NewVm needs newVm".into()))?;
            run.grant.new_vm(new.vmid)?;
            if run.pve.find_vm(new.vmid).await?.is_some() {
                return Err(Error::Precondition(format!(
                    "VM id {} (newVm.vmid) is already in use: choose a free id",
                    new.vmid
                )));
            }
            Some(new.vmid)
        }
        _ => None,
    };
    let copies = plan::plan_copies(vmid, &run.hash(), &disks, new_vmid);
    // Every storage and volume the copies touch is checked before the first change (a directory for a new VM).
    for c in &copies {
        let b = &backings[&c.source.storage];
        run.grant.storage(&c.source.storage)?;
        let (_, grant) = run.ontap_granted(&b.ontap_cluster).await?;
        grant.volume(&b.svm, &b.volume, || {
            format!(
                "the ONTAP volume behind Proxmox storage {:?}",
                c.source.storage
            )
        })?;
    }
    let mut planned = Vec::new();
    for c in &copies {
        let b = &backings[&c.source.storage];
        let clone_path = b.path_in_volume(&c.rel_path());
        // Copies for a new VM use Proxmox's names, which carry no hash: refuse to plan over a file that exists.
        if new_vmid.is_some() {
            let client = run.ontap(&b.ontap_cluster).await?;
            if client.file_exists(&b.volume_uuid, &clone_path).await? {
                return Err(Error::Precondition(format!(
                    "{clone_path} already exists on ONTAP volume {}: remove it or choose another newVm.vmid",
                    b.volume
                )));
            }
        }
        planned.push(DiskCloneStatus {
            drive: c.source.drive.clone(),
            source_volume_id: c.source.volid.clone(),
            source_path: b.path_in_volume(&c.source.rel_path()),
            clone_path,
            clone_volume_id: None,
            ontap_volume: Some(b.volume.clone()),
            ontap_volume_uuid: Some(b.volume_uuid.clone()),
            svm: Some(b.svm.clone()),
            ontap_cluster: Some(b.ontap_cluster.clone()),
            storage: Some(c.source.storage.clone()),
            job_uuid: None,
            cloned: false,
            from_snapshot: None,
            replace: false,
            config_key: None,
            pending: false,
        });
    }
    // The directory of a new VM's copies is created through ONTAP; PVE would create it only for its own disks.
    if new_vmid.is_some() {
        for c in &planned {
            let client = run
                .ontap(c.ontap_cluster.as_deref().unwrap_or_default())
                .await?;
            let uuid = c.ontap_volume_uuid.clone().unwrap_or_default();
            let dir = c
                .clone_path
                .rsplit_once('/')
                .map(|(d, _)| d.to_owned())
                .unwrap_or_default();
            let mut prefix = String::new();
            for part in dir.split('/') {
                prefix = if prefix.is_empty() {
                    part.to_owned()
                } else {
                    format!("{prefix}/{part}")
                };
                client.mkdir(&uuid, &prefix).await?;
            }
        }
    }
    run.w.status.node = Some(node);
    run.w.status.disks = planned;
    run.w.status.new_vmid = None;
    let summary: Vec<_> = run
        .w
        .status
        .disks
        .iter()
        .map(|d| format!("{} → {}", d.drive, d.clone_path))
        .collect();
    if run.w.status.started_at.is_none() {
        run.w.status.started_at = Some(conditions::now());
    }
    run.set(
        Phase::InProgress,
        "Planned",
        format!("planned and copying: {}", summary.join(", ")),
    );
    // The plan is recorded before anything is made, so a retry after a crash finds the same names.
    run.save().await?;
    run.normal("Planned", summary.join(", ")).await;
    Ok(())
}

/// Storages the disks to plan live on (`storage:volname` values of disk keys), so only those are resolved.
fn storages_of(config: &BTreeMap<String, String>, wanted: Option<&[String]>) -> BTreeSet<String> {
    config
        .iter()
        .filter(|(k, _)| match wanted {
            Some(list) => list.iter().any(|w| w == *k),
            None => plan::is_disk_key(k),
        })
        .map(|(_, v)| plan::parse_drive(v))
        .filter(|d| !d.media_cdrom)
        .filter_map(|d| d.volume.split_once(':').map(|(s, _)| s.to_owned()))
        .collect()
}

fn plan_error(e: PlanError, broken: &[String]) -> Error {
    let mut msg = e.to_string();
    if matches!(
        e,
        PlanError::NotOnOntap { .. } | PlanError::NothingToClone { .. }
    ) && !broken.is_empty()
    {
        msg.push_str(&format!(
            " ({} OntapCluster(s) this namespace may use could not be used: see their status)",
            broken.len()
        ));
    }
    Error::Precondition(msg)
}

fn volume_of(drive_value: &str) -> String {
    plan::parse_drive(drive_value).volume
}

/// Registers every copy as `unusedN` of the source VM in ONE config change, computed from the config read at
/// planning and guarded by its digest (re-read once if the VM config changed meanwhile). Adopts an entry that
/// already points at the copy (a retry after a crash between the config write and the status write).
async fn attach_unused(run: &mut Run) -> Result<(), Error> {
    let vmid = run.vmid();
    let volid_of = |d: &DiskCloneStatus| {
        let file = d.clone_path.rsplit('/').next().unwrap_or_default();
        format!("{}:{vmid}/{file}", d.storage.clone().unwrap_or_default())
    };
    let todo: Vec<usize> = (0..run.w.status.disks.len())
        .filter(|&i| run.w.status.disks[i].config_key.is_none())
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let mut adopted = false;
    let mut keys: Vec<(usize, String, String)> = Vec::new();
    let _config_lock = run.lock_config().await;
    for attempt in 0..2 {
        let cfg = run.config_for_change().await?;
        keys.clear();
        adopted = false;
        let mut set = Vec::new();
        let mut taken = Vec::new();
        for &i in &todo {
            let volid = volid_of(&run.w.status.disks[i]);
            let existing = cfg
                .values
                .iter()
                .find(|(k, v)| k.starts_with("unused") && volume_of(v) == volid)
                .map(|(k, _)| k.clone());
            let key = match existing {
                Some(k) => {
                    adopted = true;
                    k
                }
                None => {
                    let key = plan::free_unused_key(&cfg.values, &taken).ok_or_else(|| {
                        Error::Precondition(format!("VM {vmid} has no free unusedN slot"))
                    })?;
                    taken.push(key.clone());
                    set.push((key.clone(), volid.clone()));
                    key
                }
            };
            keys.push((i, key, volid));
        }
        if set.is_empty() {
            break;
        }
        let node = run.node().await?;
        match run
            .pve
            .update_config(
                &node,
                vmid,
                ConfigUpdate {
                    set,
                    digest: cfg.digest.clone(),
                    ..Default::default()
                },
            )
            .await
        {
            Ok(()) => {
                run.config_written();
                break;
            }
            Err(e) if e.is_conflict() && attempt == 0 => {
                run.config_changed();
            }
            Err(e) => return Err(e),
        }
    }
    drop(_config_lock);
    // Proxmox keeps a change to a running VM pending until its next cold start. The window left the VM as it
    // was found moments ago, so that observation answers; an adopted entry or a VM not looked at in this
    // reconcile is asked about.
    let pending = match run.found_running.filter(|_| !adopted) {
        Some(running) => keys.iter().map(|(_, k, _)| (k.clone(), running)).collect(),
        None => {
            let node = run.node().await?;
            let now = run.pve.vm_config_pending(&node, vmid).await?;
            keys.iter()
                .map(|(_, k, _)| (k.clone(), now.pending.contains(k)))
                .collect::<BTreeMap<_, _>>()
        }
    };
    for (i, key, volid) in &keys {
        let d = &mut run.w.status.disks[*i];
        d.pending = pending.get(key).copied().unwrap_or(false);
        d.config_key = Some(key.clone());
        d.clone_volume_id = Some(volid.clone());
    }
    let names: Vec<_> = keys.iter().map(|(_, k, _)| k.clone()).collect();
    run.normal(
        "Attached",
        format!("registered the copies as {} of VM {vmid}", names.join(", ")),
    )
    .await;
    Ok(())
}

/// Marks entries Proxmox still holds as pending changes (running VM: applied at the next cold start); one call.
async fn refresh_pending(run: &mut Run) -> Result<(), Error> {
    let Some(node) = run.try_node().await? else {
        return Ok(());
    };
    let cfg = match run.pve.vm_config_pending(&node, run.vmid()).await {
        Err(e) if e.is_not_found() => return Ok(()),
        other => other?,
    };
    for d in run.w.status.disks.iter_mut() {
        if let Some(k) = &d.config_key {
            d.pending = cfg.pending.contains(k);
        }
    }
    Ok(())
}

/// Creates the new VM with the source's config (fresh MACs, own name) and the copies attached, and starts it if
/// asked. The create and start tasks are awaited only briefly; a longer one is recorded and observed on requeue.
async fn attach_new_vm(run: &mut Run, node: &str, new_vmid: u32) -> Result<Step, Error> {
    // The id is the planned one; name, node and start come from the spec (an edit there is harmless).
    let new = match run.obj.spec.new_vm.clone() {
        Some(n) => NewVmSpec {
            vmid: new_vmid,
            ..n
        },
        None => NewVmSpec {
            vmid: new_vmid,
            name: format!("copy-of-{}", run.vmid()),
            node: None,
            start: false,
        },
    };
    let target_node = new.node.clone().unwrap_or_else(|| node.to_owned());
    let volids = new_vm_volids(run, new.vmid);
    if run.w.status.new_vmid != Some(new.vmid) {
        match window::observe(run, VmTaskStep::CreateVm).await? {
            Some(Step::Wait(w)) => return Ok(Step::Wait(w)),
            Some(Step::Done) => created(run, &new).await,
            None => {}
        }
        match run.pve.find_vm(new.vmid).await? {
            Some(loc) => {
                // Created by us before a crash? Ours if it carries our name and our copies.
                let cfg = run.pve.vm_config_merged(&loc.node, new.vmid).await?;
                let marked = plan::description_marked(
                    cfg.values.get("description").map(String::as_str),
                    &run.marker().to_comment(),
                );
                let ours = marked
                    && volids
                        .iter()
                        .all(|(k, v)| cfg.values.get(k).map(|x| volume_of(x)) == Some(v.clone()));
                if !ours {
                    return Err(Error::Precondition(format!(
                        "VM id {} (newVm.vmid) is in use by a VM this object did not create",
                        new.vmid
                    )));
                }
            }
            None => {
                let source = run.config().await?;
                let mut params: BTreeMap<String, String> =
                    plan::new_vm_config(&source.values, &new.name);
                for (drive, volid) in &volids {
                    let src = source.values.get(drive).cloned().unwrap_or_default();
                    params.insert(drive.clone(), plan::attached_drive_value(&src, volid));
                }
                plan::fix_boot_order(&mut params);
                let description = plan::marked_description(
                    source.values.get("description").map(String::as_str),
                    &run.marker().to_comment(),
                );
                params.insert("description".into(), description);
                let upid = run
                    .pve
                    .create_vm(&target_node, new.vmid, params.into_iter().collect())
                    .await?;
                let step =
                    window::track(run, new.vmid, &target_node, upid, VmTaskStep::CreateVm).await?;
                if let Step::Wait(w) = step {
                    return Ok(Step::Wait(w));
                }
                created(run, &new).await;
            }
        }
        record_new_vm(run, new.vmid).await?;
    }
    if new.start {
        match window::observe(run, VmTaskStep::StartVm).await? {
            Some(Step::Wait(w)) => return Ok(Step::Wait(w)),
            Some(Step::Done) => {
                run.normal("Started", format!("started VM {}", new.vmid))
                    .await;
                return Ok(Step::Done);
            }
            None => {}
        }
        let loc = run.pve.find_vm(new.vmid).await?.ok_or_else(|| {
            Error::Precondition(format!(
                "VM {} created by this object disappeared",
                new.vmid
            ))
        })?;
        let state = run.pve.vm_state(&loc.node, new.vmid).await?;
        if state.is_stopped() && run.w.status.completed_at.is_none() {
            let upid = run.pve.power(&loc.node, new.vmid, PowerOp::Start).await?;
            let step = window::track(run, new.vmid, &loc.node, upid, VmTaskStep::StartVm).await?;
            if let Step::Wait(w) = step {
                return Ok(Step::Wait(w));
            }
            run.normal("Started", format!("started VM {}", new.vmid))
                .await;
        }
    }
    Ok(Step::Done)
}

async fn created(run: &Run, new: &NewVmSpec) {
    run.normal(
        "VmCreated",
        format!("created VM {} ({}) with the copies", new.vmid, new.name),
    )
    .await;
}

async fn finish(run: &mut Run) -> Result<(), Error> {
    let pending = run.w.status.disks.iter().any(|d| d.pending);
    let mut msg = match run.obj.spec.attach {
        Attach::None => format!("{} disk(s) copied", run.w.status.disks.len()),
        Attach::Unused => {
            let keys: Vec<_> = run
                .w
                .status
                .disks
                .iter()
                .filter_map(|d| d.config_key.clone())
                .collect();
            format!(
                "{} disk(s) copied and registered as {}",
                run.w.status.disks.len(),
                keys.join(", ")
            )
        }
        Attach::NewVm => format!(
            "{} disk(s) copied and attached to new VM {}",
            run.w.status.disks.len(),
            run.w.status.new_vmid.unwrap_or_default()
        ),
    };
    if pending {
        msg.push_str("; the VM is running, so Proxmox keeps the unused entries as pending changes until its next cold start");
    }
    let frozen = run
        .w
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == SPEC_APPLIED && c.status == "False");
    if frozen {
        msg.push_str("; ");
        msg.push_str(SPEC_FROZEN_NOTE);
    }
    let first = run.w.status.completed_at.is_none();
    if first {
        run.w.status.completed_at = Some(conditions::now());
    }
    run.set(Phase::Ready, "Ready", msg.clone());
    run.save().await?;
    // The pending flags were just observed: the watch event of this very write needs no second look.
    if let Some(uid) = run.obj.uid() {
        run.ctx
            .facts
            .finished
            .put(uid, run.generation().unwrap_or_default());
    }
    if first {
        run.normal("Ready", msg).await;
    }
    Ok(())
}

/// A Ready object woken by a spec change or by the periodic check (see [`settled`]): pending registrations may
/// have been applied by a cold start meanwhile.
async fn resync(run: &mut Run) -> Result<Action, Error> {
    if run.obj.spec.attach == Attach::Unused && run.w.status.disks.iter().any(|d| d.pending) {
        refresh_pending(run).await?;
    }
    finish(run).await?;
    Ok(Action::requeue(run.ctx.settings.resync))
}
