//! VolumeSnapshotRestore against the real apiserver and the simulator over HTTPS: the plan as a dry run, every
//! refusal changing nothing, the restore's result seen through ONTAP's and Proxmox's APIs, and VMs that end
//! running across controller crashes.

mod controller_support;

use controller_support::*;
use pve_ontap_controller::api::volume_snapshot_restore::RestoreStage;
use pve_ontap_controller::api::{
    FlexCloneMount, Phase, VolumeSnapshot, VolumeSnapshotRestore, VolumeSnapshotRestoreStatus,
};
use reqwest::Method;
use serde_json::{json, Value};

const NEW_DISK: &str = "images/101/vm-101-disk-9.raw";

fn vs(h: &Harness, name: &str) -> VolumeSnapshotBuilder {
    VolumeSnapshotBuilder::new(&h.pve_name, name)
}

fn vsr(name: &str, spec: Value) -> Value {
    manifest("VolumeSnapshotRestore", name, spec)
}

fn status(o: &VolumeSnapshotRestore) -> VolumeSnapshotRestoreStatus {
    o.status.clone().unwrap_or_default()
}

fn reason(o: &VolumeSnapshotRestore) -> String {
    condition(&conditions_of(o), "Ready")
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

async fn wait_reason(h: &Harness, name: &str, want: &str) -> VolumeSnapshotRestore {
    h.wait_for::<VolumeSnapshotRestore>(name, |o| reason(o) == want)
        .await
}

fn pve_images_uuid(inv: &Value) -> String {
    volume(inv, "pve_images").unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A disk added to VM 101 after a snapshot: a file clone through ONTAP and a config entry through Proxmox.
async fn add_disk_to_vm101(h: &Harness) {
    let uuid = pve_images_uuid(&h.inventory().await);
    h.ontap_call(
        Method::POST,
        "/api/storage/file/clone?return_timeout=30",
        Some(json!({
            "volume": { "uuid": uuid },
            "source_path": "images/101/vm-101-disk-0.raw",
            "destination_path": NEW_DISK,
        })),
    )
    .await;
    h.wait_inventory("the new disk file", |inv| {
        has_file(inv, "pve_images", NEW_DISK)
    })
    .await;
    h.pve_call(
        Method::PUT,
        "/nodes/pve2/qemu/101/config",
        &[("scsi1", "ONTAP01:101/vm-101-disk-9.raw,size=16G")],
    )
    .await;
}

/// Restore with newer snapshots: the plan is a dry run (ConfirmationRequired, then VmsRunning under
/// RequireStopped), nothing changes until confirmed and allowed; then the volume is back, the newer snapshots
/// are gone, the running VM runs again, the VM whose new disk vanished is reported, and the VolumeSnapshot of a
/// destroyed snapshot says so and is deleted without touching anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_plans_asks_and_restores() {
    let h = Harness::start("vsr-main").await;
    let before = h.take_snapshot(vs(&h, "before").build()).await;
    let target = before.snapshot_name.clone().unwrap();
    add_disk_to_vm101(&h).await;
    let after = h.take_snapshot(vs(&h, "after").build()).await;
    let after_snap = after.snapshot_name.clone().unwrap();
    h.foreign_snapshot("pve_images", "manual.0").await;
    let inv = h.inventory().await;
    let unchanged = fingerprint(&inv);

    // Unconfirmed: a plan, and nothing else.
    h.create::<VolumeSnapshotRestore>(vsr(
        "undo",
        json!({ "volumeSnapshotRef": { "name": "before" } }),
    ))
    .await;
    let o = wait_reason(&h, "undo", "ConfirmationRequired").await;
    let st = status(&o);
    assert_eq!(phase_of(&o), Phase::Pending);
    assert_eq!(st.stage, RestoreStage::Planning);
    assert_eq!(st.snapshot_name.as_deref(), Some(target.as_str()));
    let plan = st.plan.clone().expect("plan");
    let destroys: std::collections::BTreeSet<(String, Option<String>)> = plan
        .destroys
        .iter()
        .map(|s| (s.name.clone(), s.volume_snapshot.clone()))
        .collect();
    assert_eq!(
        destroys,
        [
            (after_snap.clone(), Some("after".to_owned())),
            ("manual.0".to_owned(), None)
        ]
        .into()
    );
    assert!(plan.destroys.iter().all(|s| s.create_time.is_some()));
    assert_eq!(plan.stops.iter().map(|v| v.vmid).collect::<Vec<_>>(), [100]);
    let msg = message_of(&o);
    assert!(
        msg.contains(&after_snap) && msg.contains("manual.0"),
        "{msg}"
    );
    assert_eq!(fingerprint(&h.inventory().await), unchanged);

    // Confirming only part of it is no confirmation.
    h.patch_spec::<VolumeSnapshotRestore>("undo", json!({ "confirmDestroy": [after_snap] }))
        .await;
    let o = h
        .wait_for::<VolumeSnapshotRestore>("undo", |o| {
            reason(o) == "ConfirmationRequired" && message_of(o).contains("(it lists")
        })
        .await;
    assert!(message_of(&o).contains(&format!("(it lists {after_snap})")));

    // Confirmed, but VM 100 runs and the policy is RequireStopped: refused, naming it.
    h.patch_spec::<VolumeSnapshotRestore>(
        "undo",
        json!({ "confirmDestroy": [after_snap, "manual.0"] }),
    )
    .await;
    let o = wait_reason(&h, "undo", "VmsRunning").await;
    assert!(message_of(&o).contains("VM(s) 100 "), "{}", message_of(&o));
    assert_eq!(fingerprint(&h.inventory().await), unchanged);

    // Allowed to stop it: restored.
    h.patch_spec::<VolumeSnapshotRestore>("undo", json!({ "vmPolicy": "ShutdownAndRestart" }))
        .await;
    let o = h.wait_ready::<VolumeSnapshotRestore>("undo").await;
    let st = status(&o);
    assert_eq!(st.stage, RestoreStage::Completed);
    let mut destroyed = st.destroyed_snapshots.clone();
    destroyed.sort();
    let mut want = vec![after_snap.clone(), "manual.0".to_owned()];
    want.sort();
    assert_eq!(destroyed, want);
    assert!(st.restore.is_empty() && st.vm_tasks.is_empty());
    assert_eq!(st.vms_with_missing_disks.len(), 1, "{st:?}");
    assert_eq!(st.vms_with_missing_disks[0].vmid, 101);
    assert_eq!(
        st.vms_with_missing_disks[0].disks,
        ["scsi1=ONTAP01:101/vm-101-disk-9.raw"]
    );

    // Through the backends' own APIs: ONTAP's files and snapshots, Proxmox's VM state and task log.
    let uuid = pve_images_uuid(&h.inventory().await);
    let snaps = h
        .ontap_call(
            Method::GET,
            &format!("/api/storage/volumes/{uuid}/snapshots?fields=name"),
            None,
        )
        .await;
    let names: Vec<&str> = snaps["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [target.as_str()]);
    let inv = h.inventory().await;
    assert!(!has_file(&inv, "pve_images", NEW_DISK));
    assert!(has_file(&inv, "pve_images", "images/101/vm-101-disk-0.raw"));
    assert_running(&inv, 100);
    assert_eq!(
        power_of(&inv, 101).0,
        "stopped",
        "VM 101 was stopped and stays so"
    );
    let current = h
        .pve_call(Method::GET, "/nodes/pve1/qemu/100/status/current", &[])
        .await;
    assert_eq!(current["status"], "running");
    let tasks = pve_events_for(&inv, 100);
    assert!(
        tasks.iter().any(|t| t.contains("shutdown")) && tasks.iter().any(|t| t.contains("start")),
        "{tasks:?}"
    );

    // The VolumeSnapshot of a destroyed snapshot says so; deleting it only removes the object.
    let (gone, c) = h
        .wait_condition::<VolumeSnapshot>("after", "Ready", Some("DestroyedByRestore"))
        .await;
    assert_eq!(phase_of(&gone), Phase::Failed);
    assert!(c.message.contains("undo"), "{}", c.message);
    let inv = h.inventory().await;
    h.delete_and_assert_unchanged::<VolumeSnapshot>(
        "after",
        &inv,
        &[
            Unchanged::Snapshots("pve_images"),
            Unchanged::Files("pve_images"),
        ],
    )
    .await;
    assert!(is_ready(
        &h.api::<VolumeSnapshot>().get("before").await.unwrap()
    ));

    // A restore cannot be undone: deleting the object changes nothing, and a finished one never acts again.
    let inv = h.inventory().await;
    h.delete_and_assert_unchanged::<VolumeSnapshotRestore>(
        "undo",
        &inv,
        &[
            Unchanged::Snapshots("pve_images"),
            Unchanged::Files("pve_images"),
            Unchanged::PveEvents,
        ],
    )
    .await;
    h.finish().await;
}

/// A FlexClone on a newer snapshot blocks the restore (ONTAP would refuse it): named, nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flexclone_on_a_newer_snapshot_blocks_the_restore() {
    let h = Harness::start("vsr-fcm").await;
    h.take_snapshot(vs(&h, "before").build()).await;
    let after = h.take_snapshot(vs(&h, "after").build()).await;
    let mounted = h
        .create_ready::<FlexCloneMount>(FlexCloneMountBuilder::of_snapshot("after", "mnt").build())
        .await;
    let clone = mounted.status.unwrap().clone_volume_name.unwrap();
    let unchanged = fingerprint(&h.inventory().await);

    h.create::<VolumeSnapshotRestore>(vsr(
        "undo",
        json!({
            "volumeSnapshotRef": { "name": "before" },
            "vmPolicy": "ShutdownAndRestart",
            "confirmDestroy": [after.snapshot_name.unwrap()],
        }),
    ))
    .await;
    let o = wait_reason(&h, "undo", "NewerSnapshotInUse").await;
    let msg = message_of(&o);
    assert!(msg.contains("FlexCloneMount mnt"), "{msg}");
    assert!(msg.contains(&format!("FlexClone volume {clone}")), "{msg}");
    assert_eq!(status(&o).stage, RestoreStage::Planning);
    assert_eq!(fingerprint(&h.inventory().await), unchanged);
    h.delete_and_wait::<VolumeSnapshotRestore>("undo").await;
    assert_eq!(fingerprint(&h.inventory().await), unchanged);
    h.finish().await;
}

/// A snapshot no object here manages, named by `source`; the target gone is a clear failure changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_snapshot_by_source_and_a_missing_one() {
    let h = Harness::start("vsr-src").await;
    h.foreign_snapshot("pve_images", "nightly").await;
    let source = |snap: &str| {
        json!({ "source": { "proxmoxClusterRef": { "name": h.pve_name }, "storage": "ONTAP01", "snapshotName": snap },
                "vmPolicy": "ShutdownAndRestart" })
    };
    let unchanged = fingerprint(&h.inventory().await);
    let o = h
        .create_phase::<VolumeSnapshotRestore>(vsr("nosuch", source("nosuch")), Phase::Failed)
        .await;
    assert!(
        message_of(&o).contains("snapshot nosuch does not exist on volume pve_images"),
        "{}",
        message_of(&o)
    );
    assert_eq!(fingerprint(&h.inventory().await), unchanged);

    add_disk_to_vm101(&h).await;
    let o = h
        .create_ready::<VolumeSnapshotRestore>(vsr("nightly", source("nightly")))
        .await;
    assert!(status(&o).destroyed_snapshots.is_empty());
    let inv = h.inventory().await;
    assert!(!has_file(&inv, "pve_images", NEW_DISK));
    assert_running(&inv, 100);
    h.finish().await;
}

/// ShutdownAndRestart with the controller killed while VM 100 shuts down, and again after the restore before
/// the VM was started: each time the next controller resumes from status, and VM 100 ends running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_restart_survives_controller_crashes() {
    let mut h = Harness::start_with("vsr-crash", slow_pve(&[("qmshutdown", 5_000)])).await;
    h.take_snapshot(vs(&h, "before").build()).await;
    add_disk_to_vm101(&h).await;

    // Killed between the shutdown and the restore.
    h.create::<VolumeSnapshotRestore>(vsr(
        "undo",
        json!({ "volumeSnapshotRef": { "name": "before" }, "vmPolicy": "ShutdownAndRestart" }),
    ))
    .await;
    let o = h
        .wait_for::<VolumeSnapshotRestore>("undo", |o| !status(o).vm_tasks.is_empty())
        .await;
    assert_eq!(status(&o).stage, RestoreStage::Stopping);
    assert_eq!(
        status(&o).restore[0].vmid,
        100,
        "recorded before the shutdown"
    );
    h.kill_controller();
    assert!(
        has_file(&h.inventory().await, "pve_images", NEW_DISK),
        "not restored yet"
    );

    // Killed after the restore, before VM 100 was started (its start fails while the fault lasts).
    h.add_fault(json!({
        "api": "pve", "method": "POST", "route": "*/status/start",
        "error": { "status": 503, "message": "injected start failure" }
    }))
    .await;
    h.start_controller();
    let o = h
        .wait_for::<VolumeSnapshotRestore>("undo", |o| {
            status(o).stage == RestoreStage::Starting
                && message_of(o).contains("injected start failure")
        })
        .await;
    assert!(status(&o).restored_at.is_some());
    let inv = h.inventory().await;
    assert!(!has_file(&inv, "pve_images", NEW_DISK), "restored");
    assert_eq!(power_of(&inv, 100).0, "stopped");
    h.kill_controller();
    h.clear_faults().await;

    h.start_controller();
    let o = h.wait_ready::<VolumeSnapshotRestore>("undo").await;
    assert_eq!(status(&o).stage, RestoreStage::Completed);
    assert_running(&h.inventory().await, 100);
    h.finish().await;
}

/// A shutdown that fails aborts the restore: VM 100 is started again, nothing is restored, and the object stays
/// Failed (it does not retry shutting VMs down on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_shutdown_aborts_and_restores_the_vm() {
    let h = Harness::start("vsr-abort").await;
    h.take_snapshot(vs(&h, "before").build()).await;
    add_disk_to_vm101(&h).await;
    h.add_fault(json!({
        "api": "pve", "async_failure": { "operation": "qmshutdown", "message": "guest did not shut down: injected" },
        "count": 1
    }))
    .await;
    h.create::<VolumeSnapshotRestore>(vsr(
        "undo",
        json!({ "volumeSnapshotRef": { "name": "before" }, "vmPolicy": "ShutdownAndRestart" }),
    ))
    .await;
    let o = wait_reason(&h, "undo", "Aborted").await;
    assert_eq!(phase_of(&o), Phase::Failed);
    assert_eq!(status(&o).stage, RestoreStage::Aborted);
    assert!(message_of(&o).contains("injected"), "{}", message_of(&o));
    let inv = h.inventory().await;
    assert!(has_file(&inv, "pve_images", NEW_DISK), "nothing restored");
    assert_running(&inv, 100);
    h.finish().await;
}

/// The size ONTAP reports for a file of pve_images.
async fn file_size(h: &Harness, path: &str) -> u64 {
    let uuid = pve_images_uuid(&h.inventory().await);
    let encoded = path.replace('/', "%2F");
    let v = h
        .ontap_call(
            Method::GET,
            &format!(
                "/api/storage/volumes/{uuid}/files/{encoded}?return_metadata=true&fields=size"
            ),
            None,
        )
        .await;
    let record = v["records"].get(0).cloned().unwrap_or(v);
    record["size"]
        .as_u64()
        .unwrap_or_else(|| panic!("size of {path}: {record}"))
}

/// `scope: Vm`: only VM 100's disk files are put back from the snapshot (one was overwritten since); the newer
/// snapshot, VM 101 and its new disk stay as they are, and VM 100 ends running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_vm_is_restored_and_nothing_else() {
    let h = Harness::start("vsr-vm").await;
    h.take_snapshot(vs(&h, "before").build()).await;
    let disk1 = "images/100/vm-100-disk-1.raw";
    let size_then = file_size(&h, disk1).await;
    // VM 100's second disk overwritten since (a 16 GiB file cloned over the 8 GiB one), VM 101 given a new disk,
    // and a newer snapshot taken by someone else.
    let uuid = pve_images_uuid(&h.inventory().await);
    h.ontap_call(
        Method::POST,
        "/api/storage/file/clone?return_timeout=30",
        Some(json!({
            "volume": { "uuid": uuid },
            "source_path": "images/101/vm-101-disk-0.raw",
            "destination_path": disk1,
            "overwrite_destination": true,
        })),
    )
    .await;
    assert_ne!(file_size(&h, disk1).await, size_then);
    add_disk_to_vm101(&h).await;
    h.foreign_snapshot("pve_images", "later").await;

    let o = h
        .create_ready::<VolumeSnapshotRestore>(vsr(
            "vm100",
            json!({
                "volumeSnapshotRef": { "name": "before" },
                "scope": "Vm", "vmid": 100, "vmPolicy": "ShutdownAndRestart",
            }),
        ))
        .await;
    let st = status(&o);
    let plan = st.plan.clone().unwrap();
    assert_eq!(
        plan.files,
        [
            "images/100/vm-100-disk-0.qcow2",
            "images/100/vm-100-disk-1.raw"
        ]
    );
    assert!(plan.destroys.is_empty() && st.destroyed_snapshots.is_empty());
    assert_eq!(st.files_restored, plan.files);
    assert_eq!(
        file_size(&h, disk1).await,
        size_then,
        "put back from the snapshot"
    );
    let inv = h.inventory().await;
    assert!(
        snapshot(&inv, "pve_images", "later").is_some(),
        "no snapshot destroyed"
    );
    assert!(
        has_file(&inv, "pve_images", NEW_DISK),
        "another VM's files untouched"
    );
    assert_running(&inv, 100);
    assert!(
        !pve_events_for(&inv, 101)
            .iter()
            .any(|e| e == "shutdown" || e == "start"),
        "VM 101 not touched"
    );
    h.finish().await;
}

/// `restoreConfig`: VM 101's disk entries as the VolumeSnapshot recorded them come back; the disk added since is
/// detached (Proxmox keeps it as an unused disk) and its file is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_vm_with_its_recorded_config() {
    let h = Harness::start("vsr-cfg").await;
    let before = h.take_snapshot(vs(&h, "before").build()).await;
    assert!(before.vm_disks_recorded);
    let vm101 = before
        .recorded_vm_disks
        .iter()
        .find(|d| d.vmid == 101)
        .expect("VM 101 recorded");
    let keys: Vec<&str> = vm101.disks.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["virtio0"]);
    add_disk_to_vm101(&h).await;

    let o = h
        .create_ready::<VolumeSnapshotRestore>(vsr(
            "cfg101",
            json!({
                "volumeSnapshotRef": { "name": "before" },
                "scope": "Vm", "vmid": 101, "restoreConfig": true,
            }),
        ))
        .await;
    let st = status(&o);
    let plan = st.plan.clone().unwrap();
    assert_eq!(plan.config_detach, ["scsi1"]);
    assert_eq!(plan.not_in_snapshot, [NEW_DISK]);
    assert!(st.config_restored);
    let cfg = h
        .pve_call(Method::GET, "/nodes/pve2/qemu/101/config", &[])
        .await;
    assert!(cfg.get("scsi1").is_none(), "{cfg}");
    assert!(
        cfg["virtio0"]
            .as_str()
            .unwrap()
            .starts_with("ONTAP01:101/vm-101-disk-0.raw"),
        "{cfg}"
    );
    assert!(
        has_file(&h.inventory().await, "pve_images", NEW_DISK),
        "its file is kept"
    );
    assert_eq!(power_of(&h.inventory().await, 101).0, "stopped");
    h.finish().await;
}
