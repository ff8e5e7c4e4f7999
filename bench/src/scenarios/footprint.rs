//! Scenario 5, footprint: a controller restart with many objects present — time to first reconcile, time until
//! every object has been reconciled once, peak RSS, and the backend calls the restart costs.
//!
//! The objects present are the throughput run's Ready VmDiskClones plus filler VmDiskClones in a namespace no
//! backend allows. Making thousands more real clones would not fit the time budget; the filler objects are still
//! cached, queued and reconciled by the controller (each one ends in phase Failed with a NamespaceForbidden
//! condition and an Event) but never reach a backend.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use kube::Client;

use crate::controller::StartTimes;
use crate::env::{Env, FORBIDDEN_NS};
use crate::objects::{create_many, vm_disk_clone, Kind, Objects, Tracker};
use crate::simstats::Delta;

const FILLER_LABEL: &str = "filler";
const CREATE_PARALLELISM: usize = 32;

#[derive(Debug, Clone)]
pub struct FootprintResult {
    pub objects: usize,
    pub ready_objects: usize,
    pub filler_objects: usize,
    /// Peak RSS of the controller process that ran every earlier scenario.
    pub first_process_peak_kib: u64,
    pub filler_created_in: Duration,
    pub start: StartTimes,
    /// From process start until every object was reconciled once and nothing was in flight.
    pub converged: Duration,
    pub rss_kib: u64,
    pub peak_kib: u64,
    /// Backend calls of the perf world during the restart (the Ready objects' re-checks).
    pub restart_delta: Delta,
}

pub async fn run(
    env: &mut Env,
    client: Client,
    total_objects: usize,
    ready_objects: usize,
) -> anyhow::Result<FootprintResult> {
    let world_idx = env
        .worlds
        .iter()
        .position(|w| w.spec.name == "perf")
        .context("perf world")?;
    let first_process_peak_kib = env.controller().memory_kib()?.1;
    env.stop_controller().await;

    let filler_objects = total_objects.saturating_sub(ready_objects);
    let objects = Objects::new(client.clone(), FORBIDDEN_NS);
    let pve = env.worlds[world_idx].pve_name.clone();
    let vmid = env.worlds[world_idx].spec.one_disk_vms()[0];
    let items = (0..filler_objects)
        .map(|i| (format!("filler-{i:05}"), vm_disk_clone(&pve, vmid, "None")))
        .collect();
    let started = Instant::now();
    create_many(
        &objects,
        Kind::VmDiskClone,
        FILLER_LABEL,
        items,
        CREATE_PARALLELISM,
    )
    .await?;
    let filler_created_in = started.elapsed();
    let filler_names: Vec<String> = (0..filler_objects)
        .map(|i| format!("filler-{i:05}"))
        .collect();
    let filler = Tracker::start(client, FORBIDDEN_NS, Kind::VmDiskClone).await;

    let before = env.worlds[world_idx].stats().await?;
    let spawned = Instant::now();
    let start = env.start_controller().await?;
    // Convergence: every filler object has its Failed status, and the controller has reconciled as many
    // VmDiskClones as exist and gone idle.
    filler
        .wait_settled(&filler_names, Duration::from_secs(600))
        .await?;
    let kind = [("kind", "VmDiskClone")];
    loop {
        let m = env.controller().metrics().await?;
        if m.sum("pveontap_reconciles_total", &kind) >= total_objects as f64
            && m.sum("pveontap_reconciles_in_flight", &[]) <= 0.0
        {
            break;
        }
        anyhow::ensure!(
            spawned.elapsed() < Duration::from_secs(600),
            "controller did not converge after restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converged = spawned.elapsed();
    let restart_delta = env.worlds[world_idx]
        .settle(Duration::from_secs(1), Duration::from_secs(30))
        .await?
        .since(&before);
    let (rss_kib, peak_kib) = env.controller().memory_kib()?;
    Ok(FootprintResult {
        objects: total_objects,
        ready_objects,
        filler_objects,
        first_process_peak_kib,
        filler_created_in,
        start,
        converged,
        rss_kib,
        peak_kib,
        restart_delta,
    })
}
