//! Scenario 3, throughput: many VmDiskClones applied at once; time until all are Ready, and until all are gone
//! after one delete-collection request.

use std::time::{Duration, Instant};

use crate::controller::Controller;
use crate::env::WorldEnv;
use crate::objects::{create_many, parse_time, vm_disk_clone, Kind, Seen, Tracker};
use crate::simstats::Delta;

pub const LABEL: &str = "throughput";
/// Concurrent create requests of the driver ("applied at once" as `kubectl apply` of a big file would be).
const CREATE_PARALLELISM: usize = 32;

#[derive(Debug, Clone)]
pub struct CreateResult {
    pub clones: usize,
    pub vms: usize,
    /// Until every create request was answered.
    pub applied: Duration,
    /// From the first create request until the last object was Ready.
    pub all_ready: Duration,
    /// The same span from object timestamps: last Ready transition − first creationTimestamp (1 s resolution).
    pub all_ready_k8s: Option<Duration>,
    pub failed: usize,
    pub delta: Delta,
    /// From the controller's metrics over the run.
    pub reconciles: f64,
    pub reconcile_seconds: f64,
}

impl CreateResult {
    pub fn per_second(&self) -> f64 {
        self.clones as f64 / self.all_ready.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Clone)]
pub struct DeleteResult {
    pub clones: usize,
    pub all_gone: Duration,
    pub delta: Delta,
}

impl DeleteResult {
    pub fn per_second(&self) -> f64 {
        self.clones as f64 / self.all_gone.as_secs_f64().max(1e-9)
    }
}

pub fn names(clones: usize) -> Vec<String> {
    (0..clones).map(|i| format!("tp-{i:05}")).collect()
}

/// Creates `clones` VmDiskClones spread round-robin over `vms` and waits until all are Ready.
pub async fn create(
    world: &WorldEnv,
    controller: &Controller,
    tracker: &Tracker,
    clones: usize,
    vms: &[u32],
    timeout: Duration,
) -> anyhow::Result<CreateResult> {
    anyhow::ensure!(!vms.is_empty(), "no VMs for the throughput run");
    let names = names(clones);
    let items = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.clone(),
                vm_disk_clone(&world.pve_name, vms[i % vms.len()], "None"),
            )
        })
        .collect();
    let before = world.stats().await?;
    let metrics_before = controller.metrics().await?;
    let started = Instant::now();
    create_many(
        &world.objects,
        Kind::VmDiskClone,
        LABEL,
        items,
        CREATE_PARALLELISM,
    )
    .await?;
    let applied = started.elapsed();
    // Objects that fail are waited for too (they settle in phase Failed) so the run always ends; they are counted.
    tracker.wait_settled(&names, timeout).await?;
    let seen = tracker.get_all(&names);
    let failed = seen.iter().filter(|s| s.failed()).count();
    let last_ready = seen.iter().filter_map(|s| s.ready_at).max();
    let all_ready = last_ready.map_or(started.elapsed(), |t| t - started);
    let delta = world
        .settle(Duration::from_secs(1), Duration::from_secs(30))
        .await?
        .since(&before);
    let metrics_after = controller.metrics().await?;
    let kind = [("kind", "VmDiskClone")];
    let diff = |name: &str| metrics_after.sum(name, &kind) - metrics_before.sum(name, &kind);
    Ok(CreateResult {
        reconciles: diff("pveontap_reconciles_total"),
        reconcile_seconds: diff("pveontap_reconcile_duration_seconds_sum"),
        clones,
        vms: vms.len().min(clones),
        applied,
        all_ready,
        all_ready_k8s: k8s_span(&seen),
        failed,
        delta,
    })
}

/// Deletes all throughput objects with one request and waits until they are gone.
pub async fn delete(
    world: &WorldEnv,
    tracker: &Tracker,
    clones: usize,
    timeout: Duration,
) -> anyhow::Result<DeleteResult> {
    let names = names(clones);
    let before = world.stats().await?;
    let started = Instant::now();
    world
        .objects
        .delete_labelled(Kind::VmDiskClone, LABEL)
        .await?;
    tracker.wait_gone(&names, timeout).await?;
    let all_gone = started.elapsed();
    let delta = world
        .settle(Duration::from_secs(1), Duration::from_secs(30))
        .await?
        .since(&before);
    Ok(DeleteResult {
        clones,
        all_gone,
        delta,
    })
}

/// Last Ready transition minus first creation, from the objects' own timestamps.
fn k8s_span(seen: &[Seen]) -> Option<Duration> {
    let first = seen
        .iter()
        .filter_map(|s| s.created.as_deref().and_then(parse_time))
        .min()?;
    let last = seen
        .iter()
        .filter_map(|s| {
            s.ready_transition
                .as_deref()
                .or(s.completed.as_deref())
                .and_then(parse_time)
        })
        .max()?;
    (last - first).to_std().ok()
}
