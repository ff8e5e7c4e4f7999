//! One crash point for every disk of a running VM (consistency None, a failed freeze, a freeze deadline that
//! passed) and the hard freeze deadline, against the real apiserver and the simulator over HTTPS. The
//! simulator's guests write to their disks before every ONTAP job takes effect (`guestWrites`), so copies of
//! different instants have different write counts: equal counts are one crash point.

mod controller_support;

use std::time::Duration;

use controller_support::*;
use pve_ontap_controller::api::conditions::CONSISTENCY;
use pve_ontap_controller::api::vm_disk_clone::{CopyMechanism, VmConsistency};
use pve_ontap_controller::api::{VmDiskClone, VmDiskCloneStatus};
use serde_json::Value;

const VOLUME: &str = "pve_images";

/// The default world with writing guests and file clones taking `clone_ms`.
fn writing_guests(clone_ms: u64) -> pve_ontap_sim::Scenario {
    let mut sc = pve_ontap_sim::Scenario::default_scenario();
    sc.guest_writes = true;
    sc.timings.ontap.file_clone_ms = clone_ms;
    sc
}

fn file<'a>(inv: &'a Value, path: &str) -> &'a Value {
    volume(inv, VOLUME).expect("volume")["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no file {path}"))
}

fn writes(inv: &Value, path: &str) -> u64 {
    file(inv, path)["guest_writes"].as_u64().unwrap_or(0)
}

/// Asserts every copy holds the same instant of VM 100's disks: the difference of the copies' write counts is
/// the difference of the sources' (both sources are written in every round).
fn assert_one_instant(inv: &Value, st: &VmDiskCloneStatus) {
    let [a, b] = &st.disks[..] else {
        panic!("two disks copied: {:?}", st.disks)
    };
    let sources = writes(inv, &a.source_path) as i64 - writes(inv, &b.source_path) as i64;
    let copies = writes(inv, &a.clone_path) as i64 - writes(inv, &b.clone_path) as i64;
    assert!(
        writes(inv, &a.source_path) > 0,
        "the guest wrote during the test"
    );
    assert_eq!(
        copies, sources,
        "the copies of {} and {} are of one instant",
        a.drive, b.drive
    );
}

fn crash_point_snapshots(inv: &Value) -> Vec<String> {
    snapshot_names(inv, VOLUME)
        .into_iter()
        .filter(|n| n.starts_with("pveontap_crashpoint_"))
        .collect()
}

/// Consistency None on a running VM with two disks: one snapshot of the volume, both copies cloned from it,
/// the snapshot deleted; status names the mechanism.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_copies_every_disk_at_one_crash_point() {
    let h = Harness::start_with(
        "cp-none",
        Options {
            scenario: Some(writing_guests(120)),
            ..Default::default()
        },
    )
    .await;
    let obj = h
        .create_ready::<VmDiskClone>(
            VmDiskCloneBuilder::new(&h.pve_name, "both")
                .consistency("None")
                .attach("None")
                .build(),
        )
        .await;
    let st = obj.status.unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::None));
    let point = st.copy_point.clone().expect("copyPoint");
    assert_eq!(point.mechanism, CopyMechanism::VolumeSnapshot);
    assert!(point.one_point, "{point:?}");
    assert!(
        st.crash_point_snapshots.is_empty(),
        "the record is gone with the snapshot"
    );
    for d in &st.disks {
        assert!(
            d.from_snapshot
                .as_deref()
                .is_some_and(|s| s.starts_with("pveontap_crashpoint_")),
            "{} cloned from the crash-point snapshot: {:?}",
            d.drive,
            d.from_snapshot
        );
    }
    let inv = h.inventory().await;
    assert_one_instant(&inv, &st);
    assert!(
        crash_point_snapshots(&inv).is_empty(),
        "the short-lived snapshot was deleted"
    );
    h.assert_event("both", "Warning", "CrashConsistent").await;

    h.delete_and_wait::<VmDiskClone>("both").await;
    let inv = h.inventory().await;
    for d in &st.disks {
        assert!(!has_file(&inv, VOLUME, &d.clone_path), "copy removed");
    }
    h.finish().await;
}

/// One disk: nothing to line up, so no snapshot is taken (cloned from the live file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_disk_is_cloned_from_the_live_file() {
    let h = Harness::start("cp-one").await;
    let st = h
        .create_ready::<VmDiskClone>(
            VmDiskCloneBuilder::new(&h.pve_name, "one")
                .consistency("None")
                .attach("None")
                .disks(&["scsi0"])
                .build(),
        )
        .await
        .status
        .unwrap();
    let point = st.copy_point.expect("copyPoint");
    assert_eq!(point.mechanism, CopyMechanism::LiveFile);
    assert_eq!(st.disks[0].from_snapshot, None);
    let stats = h.sim_stats().await;
    assert_eq!(
        mutating_calls(&stats, "ontap"),
        1,
        "one file clone and nothing else: {stats}"
    );
    h.finish().await;
}

/// A deletion while copies are still cloned from the crash-point snapshot: the jobs finish, the copies and
/// the snapshot are removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_mid_copy_removes_the_crash_point_snapshot() {
    let h = Harness::start_with(
        "cp-delete",
        Options {
            scenario: Some(writing_guests(2500)),
            ..Default::default()
        },
    )
    .await;
    h.create::<VmDiskClone>(
        VmDiskCloneBuilder::new(&h.pve_name, "mid")
            .consistency("None")
            .attach("None")
            .build(),
    )
    .await;
    h.wait_for::<VmDiskClone>("mid", |o| {
        o.status.as_ref().is_some_and(|s| {
            s.crash_point_snapshots.iter().any(|c| c.taken) && s.disks.iter().any(|d| !d.cloned)
        })
    })
    .await;
    assert_eq!(crash_point_snapshots(&h.inventory().await).len(), 1);
    h.delete_and_wait::<VmDiskClone>("mid").await;
    let inv = h.inventory().await;
    assert!(crash_point_snapshots(&inv).is_empty(), "snapshot deleted");
    let copies: Vec<String> = volume_files(&inv, VOLUME)
        .into_iter()
        .filter(|f| f.contains("-pvo-"))
        .collect();
    assert!(copies.is_empty(), "copies deleted: {copies:?}");
    h.finish().await;
}

/// The freeze deadline passes while a file clone is still running: the guest is thawed at the deadline (before
/// that clone finishes), and the copies are made again at one crash point and recorded as crash-consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_deadline_thaws_while_a_clone_runs() {
    let h = Harness::start_with(
        "cp-deadline",
        Options {
            scenario: Some(writing_guests(2500)),
            fsfreeze_deadline: Some(Duration::from_secs(1)),
            ..Default::default()
        },
    )
    .await;
    let st = h
        .create_ready::<VmDiskClone>(
            VmDiskCloneBuilder::new(&h.pve_name, "late")
                .consistency("FsFreeze")
                .attach("None")
                .build(),
        )
        .await
        .status
        .unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::None));
    assert_eq!(
        st.copy_point.as_ref().map(|p| p.mechanism),
        Some(CopyMechanism::VolumeSnapshot)
    );
    let c = st
        .conditions
        .iter()
        .find(|c| c.type_ == CONSISTENCY)
        .expect("Consistency condition");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "QuiesceFailed")
    );
    assert!(c.message.contains("deadline"), "{}", c.message);

    let inv = h.inventory().await;
    let order: Vec<String> = inv["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "freeze" || e["kind"] == "thaw" || e["kind"] == "file_clone")
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        order.iter().take(3).map(String::as_str).collect::<Vec<_>>(),
        ["freeze", "thaw", "file_clone"],
        "thawed before the running clone finished: {order:?}"
    );
    assert_one_instant(&inv, &st);
    assert!(crash_point_snapshots(&inv).is_empty());
    let vm = vm(&inv, 100).expect("VM 100");
    assert_eq!(vm["frozen"], false, "never left frozen: {vm}");
    h.finish().await;
}

/// With requireConsistency, a deadline that passed fails the copy instead of calling it frozen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_deadline_with_require_consistency_fails() {
    let h = Harness::start_with(
        "cp-require",
        Options {
            scenario: Some(writing_guests(2500)),
            fsfreeze_deadline: Some(Duration::from_secs(1)),
            ..Default::default()
        },
    )
    .await;
    let obj = h
        .create_phase::<VmDiskClone>(
            VmDiskCloneBuilder::new(&h.pve_name, "strict")
                .consistency("FsFreeze")
                .require_consistency(true)
                .attach("None")
                .build(),
            pve_ontap_controller::api::Phase::Failed,
        )
        .await;
    let st = obj.status.unwrap();
    assert!(
        st.message
            .as_deref()
            .unwrap_or_default()
            .contains("deadline"),
        "{:?}",
        st.message
    );
    assert_ne!(st.consistency_applied, Some(VmConsistency::FsFreeze));
    // A permanent failure is tried again by an edit or the resync, not by the watch events of its own status
    // writes: the guest is frozen once, not every few seconds (the attempt takes the 1 s deadline plus copies).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let freezes = pve_events_for(&h.inventory().await, 100)
        .into_iter()
        .filter(|k| k == "freeze")
        .count();
    assert_eq!(freezes, 1, "the guest was frozen {freezes} times");
    // Once the object is gone the guest runs thawed.
    h.delete_and_wait::<VmDiskClone>("strict").await;
    let inv = h.inventory().await;
    let vm = vm(&inv, 100).expect("VM 100");
    assert_eq!(vm["frozen"], false, "never left frozen: {vm}");
    h.finish().await;
}
