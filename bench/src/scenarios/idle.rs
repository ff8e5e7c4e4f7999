//! Scenario 4, idle cost: backend calls while many objects are Ready and nothing changes.

use std::time::{Duration, Instant};

use crate::controller::Controller;
use crate::env::WorldEnv;
use crate::simstats::Delta;

#[derive(Debug, Clone)]
pub struct IdleResult {
    pub ready_objects: usize,
    pub window: Duration,
    /// Calls per world during the window (every world's backends are watched by the same controller).
    pub per_world: Vec<(&'static str, Delta)>,
    pub reconciles: f64,
}

impl IdleResult {
    pub fn total_calls(&self) -> u64 {
        self.per_world.iter().map(|(_, d)| d.total()).sum()
    }

    pub fn calls_per_minute(&self) -> f64 {
        self.total_calls() as f64 * 60.0 / self.window.as_secs_f64().max(1e-9)
    }
}

pub async fn run(
    worlds: &[WorldEnv],
    controller: &Controller,
    ready_objects: usize,
    window: Duration,
) -> anyhow::Result<IdleResult> {
    let mut before = Vec::new();
    for w in worlds {
        before.push(w.stats().await?);
    }
    let metrics_before = controller.metrics().await?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let window = started.elapsed();
    let mut per_world = Vec::new();
    for (w, b) in worlds.iter().zip(&before) {
        per_world.push((w.spec.name, w.stats().await?.since(b)));
    }
    let reconciles = controller
        .metrics()
        .await?
        .sum("pveontap_reconciles_total", &[])
        - metrics_before.sum("pveontap_reconciles_total", &[]);
    Ok(IdleResult {
        ready_objects,
        window,
        per_world,
        reconciles,
    })
}
