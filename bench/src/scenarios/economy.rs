//! Scenario 1, API economy: backend calls per operation, on a small and a large world.
//!
//! Operations run one at a time; each is measured from just before the request to the moment the simulator
//! has been quiet for a while after the object became Ready (or disappeared), so follow-up reconciles that the
//! controller's own status writes trigger are counted too.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use crate::env::WorldEnv;
use crate::objects::{vm_disk_clone, Kind, Tracker};
use crate::simstats::Delta;

const QUIET: Duration = Duration::from_millis(1000);
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
const OP_TIMEOUT: Duration = Duration::from_secs(60);

/// One measured operation.
#[derive(Debug, Clone)]
pub struct OpResult {
    pub world: &'static str,
    pub operation: String,
    /// Disks copied (VmDiskClone creation only): the target is `disks + 4` calls plus polls.
    pub disks: Option<usize>,
    pub outcome: Outcome,
    pub delta: Delta,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Done,
    /// The controller did not finish the operation (e.g. not implemented yet, or an error).
    NotDone(String),
}

impl OpResult {
    pub fn target(&self) -> Option<u64> {
        self.disks.map(|d| d as u64 + 4)
    }

    pub fn meets_target(&self) -> Option<bool> {
        self.target().map(|t| self.delta.non_poll() <= t)
    }
}

struct Runner<'a> {
    world: &'a WorldEnv,
    results: Vec<OpResult>,
}

impl Runner<'_> {
    async fn measure<F>(
        &mut self,
        operation: String,
        disks: Option<usize>,
        op: F,
    ) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = anyhow::Result<Outcome>>,
    {
        let before = self
            .world
            .settle(Duration::from_millis(300), SETTLE_LIMIT)
            .await?;
        let started = Instant::now();
        let outcome = op.await?;
        let elapsed = started.elapsed();
        let after = self.world.settle(QUIET, SETTLE_LIMIT).await?;
        let delta = after.since(&before);
        tracing::info!(world = self.world.spec.name, %operation, calls = delta.total(), ?elapsed, ?outcome, "measured");
        self.results.push(OpResult {
            world: self.world.spec.name,
            operation,
            disks,
            outcome,
            delta,
            elapsed,
        });
        Ok(())
    }
}

async fn until_ready(tracker: &Tracker, name: &str) -> Outcome {
    match tracker.wait_ready(&[name.to_owned()], OP_TIMEOUT).await {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::NotDone(e.to_string()),
    }
}

async fn until_gone(tracker: &Tracker, name: &str) -> Outcome {
    match tracker.wait_gone(&[name.to_owned()], OP_TIMEOUT).await {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::NotDone(e.to_string()),
    }
}

/// Runs every operation on `world` and returns one row per operation.
pub async fn run(world: &WorldEnv, client: kube::Client) -> anyhow::Result<Vec<OpResult>> {
    let ns = world.namespace.as_str();
    let vdcs = Tracker::start(client.clone(), ns, Kind::VmDiskClone).await;
    let snaps = Tracker::start(client.clone(), ns, Kind::VolumeSnapshot).await;
    let mounts = Tracker::start(client, ns, Kind::FlexCloneMount).await;
    let objects = &world.objects;
    let mut r = Runner {
        world,
        results: Vec::new(),
    };
    let one = world
        .spec
        .vm_with_disks(1)
        .context("world has a 1-disk VM")?;
    let four = world
        .spec
        .vm_with_disks(4)
        .context("world has a 4-disk VM")?;

    // The first clone pays for cold caches (backend discovery, sessions); it is reported separately.
    let cases: [(&str, u32, usize, &str); 5] = [
        ("cold", one, 1, "None"),
        ("1d-none", one, 1, "None"),
        ("1d-suspend", one, 1, "Suspend"),
        ("4d-none", four, 4, "None"),
        ("4d-suspend", four, 4, "Suspend"),
    ];
    for (tag, vmid, disks, consistency) in cases {
        let name = format!("econ-{tag}");
        let label = if tag == "cold" {
            " (first, cold caches)".to_string()
        } else {
            String::new()
        };
        let title = format!(
            "VmDiskClone {disks} disk{}, {consistency}{label}",
            if disks > 1 { "s" } else { "" }
        );
        r.measure(format!("create {title}"), Some(disks), async {
            objects
                .create(
                    Kind::VmDiskClone,
                    &name,
                    "economy",
                    vm_disk_clone(&world.pve_name, vmid, consistency),
                )
                .await?;
            Ok(until_ready(&vdcs, &name).await)
        })
        .await?;
        r.measure(format!("delete {title}"), None, async {
            objects.delete(Kind::VmDiskClone, &name).await?;
            Ok(until_gone(&vdcs, &name).await)
        })
        .await?;
    }

    let storage = crate::world::storage_id(0);
    r.measure("create VolumeSnapshot".into(), None, async {
        let spec = json!({ "proxmoxClusterRef": { "name": world.pve_name }, "storage": storage });
        objects
            .create(Kind::VolumeSnapshot, "econ-snap", "economy", spec)
            .await?;
        Ok(until_ready(&snaps, "econ-snap").await)
    })
    .await?;
    let snapshot_ready = snaps.get("econ-snap").is_some_and(|s| s.ready_at.is_some());
    if snapshot_ready {
        r.measure("create FlexCloneMount".into(), None, async {
            let spec =
                json!({ "volumeSnapshotRef": { "name": "econ-snap" }, "content": ["images"] });
            objects
                .create(Kind::FlexCloneMount, "econ-mount", "economy", spec)
                .await?;
            Ok(until_ready(&mounts, "econ-mount").await)
        })
        .await?;
        r.measure("delete FlexCloneMount".into(), None, async {
            objects.delete(Kind::FlexCloneMount, "econ-mount").await?;
            Ok(until_gone(&mounts, "econ-mount").await)
        })
        .await?;
    }
    r.measure("delete VolumeSnapshot".into(), None, async {
        objects.delete(Kind::VolumeSnapshot, "econ-snap").await?;
        Ok(until_gone(&snaps, "econ-snap").await)
    })
    .await?;
    Ok(r.results)
}
