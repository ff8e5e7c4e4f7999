//! VolumeSnapshot: an ONTAP snapshot of the volume behind a Proxmox storage (or a named volume), optionally with
//! the storage's running VMs frozen or paused for the instant; deletion waits for FlexClone dependents.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::instrument;

use super::backends;
use super::context::Context;
use super::error::Error;
use super::locks::KeyedLocks;
use super::naming::{self, OwnerMarker};
use super::object::Managed;
use super::ports::{OntapClient, PowerOp, Progress, PveClient};
use super::reconcile::{api_for, reconcile_namespaced, Cleanup};
use super::resolve;
use super::status::apply_status;
use super::vm_disk_clone::plan;
use super::vm_power;
use crate::api::common::VmRestoreAction;
use crate::api::conditions::{self, CONSISTENCY, DELETION_BLOCKED};
use crate::api::volume_snapshot::SnapshotConsistency;
use crate::api::{DeletionPolicy, FlexCloneMount, Phase, VolumeSnapshot, VolumeSnapshotStatus};
use crate::metrics::{Metrics, VmDisturbance};

const JOB_POLL: Duration = Duration::from_secs(3);
const BLOCKED_POLL: Duration = Duration::from_secs(15);

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
}

async fn target(ctx: &Context, obj: &VolumeSnapshot) -> Result<Target, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let spec = &obj.spec;
    if let (Some(pref), Some(storage)) = (&spec.proxmox_cluster_ref, &spec.storage) {
        let (_, pve) = backends::proxmox_for(ctx, &ns, &pref.name).await?;
        let r = resolve::storage(ctx, &ns, &pve, storage).await?;
        return Ok(Target {
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
    let (_, ontap) = backends::ontap_for(ctx, &ns, &vref.ontap_cluster_ref.name).await?;
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
fn snapshot_name(ctx: &Context, obj: &VolumeSnapshot) -> String {
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

struct Writer {
    api: Api<VolumeSnapshot>,
    name: String,
    written: VolumeSnapshotStatus,
    status: VolumeSnapshotStatus,
    generation: Option<i64>,
    uid: String,
    metrics: Arc<Metrics>,
}

impl Writer {
    fn new(ctx: &Context, obj: &VolumeSnapshot) -> Self {
        let status = obj.status_cloned();
        Self {
            api: api_for(ctx, obj),
            name: obj.name_any(),
            written: status.clone(),
            status,
            generation: obj.meta().generation,
            uid: obj.uid().unwrap_or_default(),
            metrics: ctx.metrics.clone(),
        }
    }

    fn set(&mut self, phase: Phase, reason: &str, msg: impl Into<String>) {
        VolumeSnapshot::common(&mut self.status).set(
            phase,
            phase == Phase::Ready,
            reason,
            msg,
            self.generation,
        );
    }

    fn condition(&mut self, type_: &str, ok: bool, reason: &str, msg: impl Into<String>) {
        conditions::set_condition(
            &mut self.status.conditions,
            conditions::new_condition(type_, ok, reason, msg, self.generation, conditions::now()),
        );
    }

    async fn save(&mut self) -> Result<(), Error> {
        if self.status != self.written {
            apply_status(&self.api, &self.name, &self.status).await?;
            self.written = self.status.clone();
            // The restore list is written before each VM is frozen or paused and shrinks as each is restored.
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
        Ok(())
    }
}

async fn restore_vms(w: &mut Writer, pve: Option<&PveClient>) -> Result<(), Error> {
    if w.status.restore.is_empty() {
        return Ok(());
    }
    let pve =
        pve.ok_or_else(|| Error::Precondition("VM state to restore but no ProxmoxCluster".into()))?;
    for r in w.status.restore.clone() {
        vm_power::undo_now(pve, &r).await?;
        w.status.restore.retain(|x| x != &r);
        w.save().await?;
    }
    Ok(())
}

fn parse_time(s: &Option<String>) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
    let t = chrono::DateTime::parse_from_rfc3339(s.as_deref()?).ok()?;
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp())
        .ok()
        .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time)
}

async fn apply(obj: Arc<VolumeSnapshot>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut w = Writer::new(&ctx, &obj);
    let t = target(&ctx, &obj).await?;
    restore_vms(&mut w, t.pve.as_ref().map(|p| &p.0)).await?;
    w.status.ontap_cluster = Some(t.ontap_cluster.clone());
    w.status.svm = Some(t.svm.clone());
    w.status.volume_name = Some(t.volume.clone());
    w.status.volume_uuid = Some(t.volume_uuid.clone());
    let name = snapshot_name(&ctx, &obj);
    let marker = marker(&ctx, &obj);
    w.status.snapshot_name = Some(name.clone());

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
        let comment = match &obj.spec.comment {
            Some(c) => format!("{c} {}", marker.to_comment()),
            None => marker.to_comment(),
        };
        let progress = create_consistent(&ctx, &obj, &mut w, &t, &name, &comment).await?;
        if let Progress::Running(job) = progress {
            w.status.job_uuid = Some(job);
            w.save().await?;
            return Ok(Action::requeue(JOB_POLL));
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
    Ok(Action::requeue(ctx.settings.resync))
}

/// Running VMs with a disk on `storage`.
async fn running_vms_on(pve: &PveClient, storage: &str) -> Result<Vec<(u32, String)>, Error> {
    let prefix = format!("{storage}:");
    let mut out = Vec::new();
    for (vmid, node) in pve.vms().await? {
        let cfg = pve.vm_config(&node, vmid).await?;
        let uses = cfg.values.iter().any(|(k, v)| {
            (plan::is_disk_key(k) || k.starts_with("unused") || k == "vmstate")
                && plan::parse_drive(v).volume.starts_with(&prefix)
        });
        if uses && pve.vm_state(&node, vmid).await?.is_running() {
            out.push((vmid, node));
        }
    }
    out.sort();
    Ok(out)
}

/// Creates the snapshot inside the requested window over every running VM of the storage.
async fn create_consistent(
    ctx: &Context,
    obj: &VolumeSnapshot,
    w: &mut Writer,
    t: &Target,
    name: &str,
    comment: &str,
) -> Result<Progress, Error> {
    let requested = obj.spec.consistency;
    let (pve, pve_name, storage) = match (&t.pve, requested) {
        (Some(p), SnapshotConsistency::FsFreeze | SnapshotConsistency::Suspend) => p,
        _ => {
            w.status.consistency_applied = Some(SnapshotConsistency::None);
            return t.ontap.create_snapshot(&t.volume_uuid, name, comment).await;
        }
    };
    let vms = running_vms_on(pve, storage).await?;
    // Locks in vmid order, so two snapshots over overlapping VM sets cannot deadlock.
    let mut guards = Vec::new();
    for (vmid, _) in &vms {
        guards.push(ctx.locks.lock(KeyedLocks::vm_key(pve_name, *vmid)).await);
    }
    let action = match requested {
        SnapshotConsistency::FsFreeze => VmRestoreAction::Thaw,
        _ => VmRestoreAction::Resume,
    };
    for (vmid, node) in &vms {
        w.status
            .restore
            .push(vm_power::restore_entry(*vmid, node, action));
    }
    w.save().await?;
    let mut applied = requested;
    let mut quiesce_errors = Vec::new();
    for (vmid, node) in &vms {
        let r = match requested {
            SnapshotConsistency::FsFreeze => pve.fsfreeze(node, *vmid).await,
            _ => vm_power::power(pve, node, *vmid, PowerOp::Suspend).await,
        };
        if let Err(e) = r {
            quiesce_errors.push(format!("VM {vmid}: {e}"));
        }
    }
    let created = if !quiesce_errors.is_empty() && obj.spec.require_consistency {
        None
    } else {
        Some(t.ontap.create_snapshot(&t.volume_uuid, name, comment).await)
    };
    // Always restore every VM, whatever happened above.
    for r in w.status.restore.clone() {
        vm_power::undo_now(pve, &r).await?;
        w.status.restore.retain(|x| x != &r);
        w.save().await?;
    }
    drop(guards);
    if !quiesce_errors.is_empty() {
        let msg = format!("could not quiesce: {}", quiesce_errors.join("; "));
        if obj.spec.require_consistency {
            return Err(Error::Precondition(format!(
                "{msg}; no snapshot was taken because requireConsistency is set"
            )));
        }
        applied = SnapshotConsistency::None;
        w.condition(CONSISTENCY, false, "QuiesceFailed", msg.clone());
        ctx.warning(obj, "QuiesceFailed", msg).await;
    } else if !vms.is_empty() {
        let ids: Vec<String> = vms.iter().map(|(v, _)| v.to_string()).collect();
        ctx.normal(
            obj,
            "Quiesced",
            format!(
                "{requested:?} applied to VM(s) {} for the snapshot",
                ids.join(", ")
            ),
        )
        .await;
    }
    w.status.consistency_applied = Some(applied);
    created.unwrap_or_else(|| Err(Error::Precondition("snapshot refused".into())))
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
    if st.snapshot_uuid.is_none() && st.job_uuid.is_none() && st.restore.is_empty() {
        return Ok(Cleanup::Done);
    }
    let mut w = Writer::new(&ctx, &obj);
    let t = target(&ctx, &obj).await?;
    restore_vms(&mut w, t.pve.as_ref().map(|p| &p.0)).await?;
    let name = snapshot_name(&ctx, &obj);

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
    if !st.adopted && !marker(&ctx, &obj).is_owner_of(snap.comment.as_deref()) {
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
        Err(Error::Ontap(e)) if e.is_busy() => {
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
    let changed = w.status != w.written;
    w.save().await?;
    if changed {
        ctx.warning(obj, reason, msg).await;
    }
    Ok(Cleanup::Wait(Action::requeue(BLOCKED_POLL)))
}
