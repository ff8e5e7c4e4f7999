//! VolumeSnapshotSchedule against the real apiserver and the simulator over HTTPS, on a clock the test moves: one
//! VolumeSnapshot per slot across a controller crash, only the latest of missed slots, retention that keeps a
//! mounted snapshot, and snapshots that outlive their schedule.

mod controller_support;

use chrono::{DateTime, Duration, DurationRound, Utc};
use controller_support::*;
use kube::api::{ListParams, Patch, PatchParams};
use kube::ResourceExt;
use pve_ontap_controller::api::common::FINALIZER;
use pve_ontap_controller::api::{
    FlexCloneMount, VolumeSnapshot, VolumeSnapshotSchedule, VolumeSnapshotScheduleStatus,
};
use pve_ontap_controller::controller::volume_snapshot_schedule::owned;
use serde_json::{json, Value};

fn schedule(h: &Harness, name: &str, cron: &str, extra: Value) -> Value {
    let mut spec = json!({
        "snapshotTemplate": { "proxmoxClusterRef": { "name": h.pve_name }, "storage": "ONTAP01" },
        "schedule": cron,
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    manifest("VolumeSnapshotSchedule", name, spec)
}

fn status(o: &VolumeSnapshotSchedule) -> VolumeSnapshotScheduleStatus {
    o.status.clone().unwrap_or_default()
}

/// The schedule's VolumeSnapshots (by its label), sorted by name (= by slot).
async fn snapshots_of(h: &Harness, name: &str) -> Vec<VolumeSnapshot> {
    let mut items = h
        .api::<VolumeSnapshot>()
        .list(&ListParams::default().labels(&format!("{}={name}", owned::SCHEDULE_LABEL)))
        .await
        .unwrap()
        .items;
    items.sort_by_key(|v| v.name_any());
    items
}

/// Wakes the schedule now (the controller's requeue runs on wall-clock time, the schedule on the test's clock).
async fn poke(h: &Harness, name: &str, n: u32) {
    h.api::<VolumeSnapshotSchedule>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": { "test/poke": n.to_string() } } })),
        )
        .await
        .unwrap();
}

fn at(t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<i64> {
    t.as_ref().map(|t| t.0.as_second())
}

/// The next whole hour after the real now: slots of `0 * * * *` the test reaches by moving the clock.
fn next_hour() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(1)
}

/// A controller that died after creating a slot's VolumeSnapshot but before recording the slot: the next one
/// finds it under the same name and makes no second. Then three slots pass while nothing runs: only the latest
/// is taken, the two before it are counted as skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_snapshot_per_slot_across_a_crash_and_after_downtime() {
    let clock = Clock::manual(Utc::now());
    let mut h = Harness::start_with(
        "vss-crash",
        Options {
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    h.kill_controller();
    let obj = h
        .create::<VolumeSnapshotSchedule>(schedule(&h, "hourly", "0 * * * *", json!({})))
        .await;
    let slot1 = next_hour();
    clock.set(slot1 + Duration::seconds(20));

    // What the crashed controller left: its finalizer and the slot's VolumeSnapshot, the slot not recorded.
    h.api::<VolumeSnapshotSchedule>()
        .patch(
            "hourly",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": [FINALIZER] } })),
        )
        .await
        .unwrap();
    let name = owned::slot_name("test-cluster", "hourly", &obj.uid().unwrap(), slot1);
    h.create::<VolumeSnapshot>(json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": "VolumeSnapshot",
        "metadata": {
            "name": name,
            "labels": { owned::SCHEDULE_LABEL: "hourly" },
            "annotations": { owned::SLOT_ANNOTATION: slot1.to_rfc3339() },
        },
        "spec": { "proxmoxClusterRef": { "name": h.pve_name }, "storage": "ONTAP01" },
    }))
    .await;

    h.start_controller();
    let o = h
        .wait_for::<VolumeSnapshotSchedule>("hourly", |o| {
            at(&status(o).last_schedule_time) == Some(slot1.timestamp())
                && status(o).kept == 1
                && status(o).active.is_empty()
        })
        .await;
    let st = status(&o);
    assert_eq!(st.skipped_slots, 0);
    assert_eq!(at(&st.last_successful_time), Some(slot1.timestamp()));
    assert_eq!(
        at(&st.next_schedule_time),
        Some((slot1 + Duration::hours(1)).timestamp())
    );
    let made = snapshots_of(&h, "hourly").await;
    assert_eq!(
        made.iter().map(|v| v.name_any()).collect::<Vec<_>>(),
        vec![name]
    );

    // Down for three slots: only the latest is taken.
    h.stop_controller().await;
    let slot4 = slot1 + Duration::hours(3);
    clock.set(slot4 + Duration::minutes(2));
    h.start_controller();
    let o = h
        .wait_for::<VolumeSnapshotSchedule>("hourly", |o| {
            at(&status(o).last_schedule_time) == Some(slot4.timestamp())
                && status(o).active.is_empty()
        })
        .await;
    assert_eq!(status(&o).skipped_slots, 2);
    assert_eq!(status(&o).kept, 2);
    let made = snapshots_of(&h, "hourly").await;
    assert_eq!(made.len(), 2, "one per slot taken");
    assert!(made.iter().all(ready_to_use));
    let inv = h.inventory().await;
    for vs in &made {
        let snap = vs.status.as_ref().unwrap().snapshot_name.clone().unwrap();
        assert!(
            snapshot(&inv, "pve_images", &snap).is_some(),
            "{snap} on ONTAP"
        );
    }

    // Deleting the schedule keeps its snapshots (they are data).
    h.delete_and_wait::<VolumeSnapshotSchedule>("hourly").await;
    assert_eq!(snapshots_of(&h, "hourly").await.len(), 2);
    h.finish().await;
}

/// keepLast 1: each new slot expires the one before, except the snapshot a FlexCloneMount uses, which is kept
/// and listed; the expired VolumeSnapshot takes its ONTAP snapshot with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_and_the_mounted() {
    let clock = Clock::manual(Utc::now());
    let h = Harness::start_with(
        "vss-keep",
        Options {
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    h.create::<VolumeSnapshotSchedule>(schedule(
        &h,
        "keep",
        "0 * * * *",
        json!({ "retention": { "keepLast": 1 } }),
    ))
    .await;
    let first = next_hour();
    let mut names = Vec::new();
    for (i, slot) in [
        first,
        first + Duration::hours(1),
        first + Duration::hours(2),
    ]
    .into_iter()
    .enumerate()
    {
        clock.set(slot + Duration::seconds(5));
        poke(&h, "keep", i as u32).await;
        let o = h
            .wait_for::<VolumeSnapshotSchedule>("keep", |o| {
                at(&status(o).last_successful_time) == Some(slot.timestamp())
                    && status(o).active.is_empty()
            })
            .await;
        let made = snapshots_of(&h, "keep").await;
        let newest = made.last().unwrap().clone();
        names.push((
            newest.name_any(),
            newest.status.unwrap().snapshot_name.unwrap(),
        ));
        if i == 0 {
            h.create_ready::<FlexCloneMount>(
                FlexCloneMountBuilder::of_snapshot(&names[0].0, "mnt").build(),
            )
            .await;
        }
        let _ = o;
    }
    // Retention runs after the slot's snapshot became ready: poke once more and wait for it.
    poke(&h, "keep", 99).await;
    let o = h
        .wait_for::<VolumeSnapshotSchedule>("keep", |o| status(o).kept == 2)
        .await;
    assert_eq!(status(&o).retained_by_mounts, [names[0].0.clone()]);
    h.wait_gone::<VolumeSnapshot>(&names[1].0).await;
    let left: Vec<String> = snapshots_of(&h, "keep")
        .await
        .iter()
        .map(|v| v.name_any())
        .collect();
    assert_eq!(left, [names[0].0.clone(), names[2].0.clone()]);
    let inv = h
        .wait_inventory("the expired snapshot gone from ONTAP", |inv| {
            snapshot(inv, "pve_images", &names[1].1).is_none()
        })
        .await;
    assert!(
        snapshot(&inv, "pve_images", &names[0].1).is_some(),
        "mounted: kept"
    );
    assert!(
        snapshot(&inv, "pve_images", &names[2].1).is_some(),
        "newest: kept"
    );
    h.finish().await;
}
