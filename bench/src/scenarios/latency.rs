//! Scenario 2, latency: create → Ready of one VmDiskClone at a time, with and without added backend latency.
//!
//! Each run creates a 1-disk VmDiskClone (consistency None, attach Unused) and stops the clock when the watch
//! sees Ready=True. Backend time is what the simulator spent answering the run's calls; the remainder is the
//! controller's own share (its work, its Kubernetes API round trips, queueing and the watch delivery delay).

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::controller::Controller;
use crate::env::WorldEnv;
use crate::objects::{vm_disk_clone, Kind, Tracker};

const RUN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct LatencyResult {
    pub added_latency_ms: u64,
    pub runs: usize,
    pub total: Percentiles,
    pub backend: Percentiles,
    pub controller_share: Percentiles,
    pub calls_per_run: f64,
    /// From the controller's metrics: reconciles per clone and mean reconcile duration.
    pub reconciles_per_run: f64,
    pub mean_reconcile: Duration,
    /// Deleting all runs' objects at once afterwards.
    pub cleanup: Duration,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles.
    pub fn of(samples: &[Duration]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        let mut s = samples.to_vec();
        s.sort();
        let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        let mean = s.iter().sum::<Duration>() / s.len() as u32;
        Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            mean,
        }
    }
}

pub async fn run(
    world: &WorldEnv,
    controller: &Controller,
    client: kube::Client,
    runs: usize,
    added_latency_ms: u64,
    vms: &[u32],
) -> anyhow::Result<LatencyResult> {
    anyhow::ensure!(!vms.is_empty(), "no VMs for the latency runs");
    let label = format!("latency-{added_latency_ms}ms");
    let tracker = Tracker::start(client, &world.namespace, Kind::VmDiskClone).await;
    world
        .set_latency((added_latency_ms > 0).then_some(added_latency_ms))
        .await?;
    let metrics_before = controller.metrics().await?;
    let calls_before = world.stats().await?;

    let (mut totals, mut backends, mut shares) = (Vec::new(), Vec::new(), Vec::new());
    let mut names = Vec::new();
    for i in 0..runs {
        let name = format!("lat{added_latency_ms}-{i:04}");
        let vmid = vms[i % vms.len()];
        let before = world.stats().await?;
        let started = Instant::now();
        world
            .objects
            .create(
                Kind::VmDiskClone,
                &name,
                &label,
                vm_disk_clone(&world.pve_name, vmid, "None"),
            )
            .await?;
        tracker
            .wait_ready(std::slice::from_ref(&name), RUN_TIMEOUT)
            .await
            .with_context(|| format!("run {i}"))?;
        let total = tracker
            .get(&name)
            .and_then(|s| s.ready_at)
            .map_or(started.elapsed(), |t| t - started);
        let backend = world
            .stats()
            .await?
            .since(&before)
            .backend_time()
            .min(total);
        totals.push(total);
        backends.push(backend);
        shares.push(total - backend);
        names.push(name);
        // Follow-up reconciles (triggered by the status write) finish before the next run starts.
        controller.wait_idle(Duration::from_secs(5)).await?;
    }
    let delta = world.stats().await?.since(&calls_before);
    let metrics_after = controller.metrics().await?;
    let kind = [("kind", "VmDiskClone")];
    let reconciles = metrics_after.sum("pveontap_reconciles_total", &kind)
        - metrics_before.sum("pveontap_reconciles_total", &kind);
    let seconds = metrics_after.sum("pveontap_reconcile_duration_seconds_sum", &kind)
        - metrics_before.sum("pveontap_reconcile_duration_seconds_sum", &kind);

    let cleanup_started = Instant::now();
    world
        .objects
        .delete_labelled(Kind::VmDiskClone, &label)
        .await?;
    tracker.wait_gone(&names, Duration::from_secs(300)).await?;
    let cleanup = cleanup_started.elapsed();
    world.set_latency(None).await?;
    world
        .settle(Duration::from_millis(500), Duration::from_secs(10))
        .await?;

    Ok(LatencyResult {
        added_latency_ms,
        runs,
        total: Percentiles::of(&totals),
        backend: Percentiles::of(&backends),
        controller_share: Percentiles::of(&shares),
        calls_per_run: delta.total() as f64 / runs.max(1) as f64,
        reconciles_per_run: reconciles / runs.max(1) as f64,
        mean_reconcile: if reconciles > 0.0 {
            Duration::from_secs_f64(seconds / reconciles)
        } else {
            Duration::ZERO
        },
        cleanup,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples);
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p95, Duration::from_millis(95));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.mean, Duration::from_micros(50_500));
        let one = Percentiles::of(&[Duration::from_millis(7)]);
        assert_eq!(one.p99, Duration::from_millis(7));
    }
}
