//! VolumeSnapshot and FlexCloneMount against the real apiserver and the simulator over HTTPS.

mod controller_support;

use controller_support::Unchanged::{Power, Snapshots, Storages};
use controller_support::*;
use pve_ontap_controller::api::common::{VmRestoreAction, VmTaskStep};
use pve_ontap_controller::api::volume_snapshot::SnapshotConsistency;
use pve_ontap_controller::api::{
    FlexCloneMount, FlexCloneMountStatus, Phase, VmDiskClone, VolumeSnapshot, VolumeSnapshotStatus,
};
use reqwest::Method;
use serde_json::{json, Value};

/// A VolumeSnapshot of storage ONTAP01 of the harness's Proxmox backend.
fn vs(h: &Harness, name: &str) -> VolumeSnapshotBuilder {
    VolumeSnapshotBuilder::new(&h.pve_name, name)
}

/// Whether the inventory shows snapshot `name` on `pve_images`.
fn on_pve_images(inv: &Value, name: &str) -> bool {
    snapshot(inv, "pve_images", name).is_some()
}

/// The FlexCloneMount `mnt` of VolumeSnapshot `snap`.
fn mnt() -> FlexCloneMountBuilder {
    FlexCloneMountBuilder::of_snapshot("snap", "mnt")
}

/// Takes the snapshot, mounts it, and returns both statuses once the mount is Ready.
async fn snapshot_and_mount(
    h: &Harness,
    snapshot: VolumeSnapshotBuilder,
    mount: FlexCloneMountBuilder,
) -> (VolumeSnapshotStatus, FlexCloneMountStatus) {
    let st = h.take_snapshot(snapshot.build()).await;
    let mount = h.create_ready::<FlexCloneMount>(mount.build()).await;
    (st, mount.status.unwrap())
}

/// Snapshot (with FsFreeze of the running VM) → FlexClone mount → the snapshot cannot go while the mount exists
/// → deleting the mount removes storage, clone and its recovery-queue entry → the snapshot goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_mount_lifecycle() {
    let h = Harness::start("ovs-fcm").await;
    let before = h.inventory().await;

    let st = h
        .take_snapshot(
            vs(&h, "snap")
                .consistency("FsFreeze")
                .comment("demo")
                .build(),
        )
        .await;
    assert_eq!(st.volume_name.as_deref(), Some("pve_images"));
    assert_eq!(st.svm.as_deref(), Some("svm1"));
    assert_eq!(st.consistency_applied, Some(SnapshotConsistency::FsFreeze));
    assert!(st.create_time.is_some());
    let snap_name = st.snapshot_name.clone().unwrap();
    let inv = h.inventory().await;
    let found = snapshot(&inv, "pve_images", &snap_name).expect("snapshot on ONTAP");
    assert_eq!(found["uuid"].as_str(), st.snapshot_uuid.as_deref());
    let comment = found["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("demo ") && comment.contains("pveontap.io/owner"),
        "{comment}"
    );
    let events: Vec<_> = sim_events(&inv)
        .into_iter()
        .filter(|(k, _)| k == "freeze" || k == "thaw")
        .collect();
    assert_eq!(
        events.len(),
        2,
        "VM 100 (the only running VM on ONTAP01) frozen and thawed: {events:?}"
    );
    assert_eq!(vm(&inv, 100).unwrap()["frozen"], false);

    let ms = h
        .create_ready::<FlexCloneMount>(mnt().build())
        .await
        .status
        .unwrap();
    let clone = ms.clone_volume_name.clone().unwrap();
    let junction = ms.junction_path.clone().unwrap();
    let sid = ms.storage_id.clone().unwrap();
    let inv = h.inventory().await;
    let cv = volume(&inv, &clone).expect("clone volume");
    assert_eq!(cv["nas_path"].as_str(), Some(junction.as_str()));
    assert_eq!(cv["clone"]["parent_volume"], "pve_images");
    assert_eq!(
        cv["clone"]["parent_snapshot"].as_str(),
        Some(snap_name.as_str())
    );
    let s = storage(&inv, &sid).expect("Proxmox storage");
    assert_eq!(s["type"], "nfs");
    assert_eq!(s["server"], "192.0.2.10");
    assert_eq!(s["export"].as_str(), Some(junction.as_str()));
    assert_eq!(
        s["options"], "vers=4.2,nconnect=4",
        "parent's mount options"
    );

    // The snapshot cannot go while the mount depends on it.
    let blocked = h
        .delete_and_wait_blocked::<VolumeSnapshot>("snap", "InUse")
        .await;
    let msg = blocked.status.unwrap().message.unwrap_or_default();
    assert!(msg.contains("FlexCloneMount mnt"), "{msg}");
    assert!(on_pve_images(&h.inventory().await, &snap_name));

    h.delete_and_wait::<FlexCloneMount>("mnt").await;
    let inv = h.inventory().await;
    assert!(volume(&inv, &clone).is_none(), "clone deleted");
    assert!(storage(&inv, &sid).is_none(), "storage removed");
    let queue = inv["ontap"]["recovery_queue"].as_array().unwrap();
    assert!(
        queue.iter().all(|e| e["original_name"] != clone.as_str()),
        "our queue entry purged: {queue:?}"
    );

    // With the dependent gone, the snapshot deletion completes.
    h.wait_gone::<VolumeSnapshot>("snap").await;
    assert_unchanged(
        &before,
        &h.inventory().await,
        &[Snapshots("pve_images"), Storages],
    );
    h.finish().await;
}

/// A mount whose storage a VM uses cannot be deleted; it names the VM, and goes once the VM lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_in_use_by_a_vm_blocks_deletion() {
    let h = Harness::start("fcm-inuse").await;
    let (_, ms) = snapshot_and_mount(&h, vs(&h, "snap"), mnt()).await;
    let sid = ms.storage_id.unwrap();

    // VM 101 (stopped) gets a disk from the clone's storage, as a user restoring data would do.
    let config = "/nodes/pve2/qemu/101/config";
    let volid = format!("{sid}:101/vm-101-disk-0.raw");
    h.pve_call(reqwest::Method::PUT, config, &[("scsi5", volid.as_str())])
        .await;

    let blocked = h
        .delete_and_wait_blocked::<FlexCloneMount>("mnt", "InUse")
        .await;
    let msg = blocked.status.unwrap().message.unwrap_or_default();
    assert!(msg.contains("101"), "{msg}");
    assert!(
        storage(&h.inventory().await, &sid).is_some(),
        "storage kept while in use"
    );

    // The volume is owned by VM 101 (its directory), so a plain delete would only turn it into unusedN: force.
    h.pve_call(
        reqwest::Method::PUT,
        config,
        &[("delete", "scsi5"), ("force", "1")],
    )
    .await;
    h.wait_gone::<FlexCloneMount>("mnt").await;
    assert!(storage(&h.inventory().await, &sid).is_none());
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    h.finish().await;
}

/// Retain keeps the snapshot on ONTAP when the object goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_snapshot_stays() {
    let h = Harness::start("ovs-retain").await;
    h.take_snapshot(
        vs(&h, "keep")
            .deletion_policy("Retain")
            .snapshot_name("keep_me")
            .build(),
    )
    .await;
    h.delete_and_wait::<VolumeSnapshot>("keep").await;
    assert!(on_pve_images(&h.inventory().await, "keep_me"));
    h.finish().await;
}

/// A FlexCloneMount of a snapshot not managed here (`source`), with its own storage id and junction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_from_unmanaged_snapshot_with_explicit_names() {
    let h = Harness::start("fcm-source").await;
    h.take_snapshot(
        vs(&h, "base")
            .deletion_policy("Retain")
            .snapshot_name("base_snap")
            .build(),
    )
    .await;
    let mount = FlexCloneMountBuilder::of_source(&h.pve_name, ONTAP_STORAGE, "base_snap", "direct")
        .storage_id("restore-base")
        .junction_path("/pveontap_fcm_restore_base")
        .options("vers=3");
    let st = h
        .create_ready::<FlexCloneMount>(mount.build())
        .await
        .status
        .unwrap();
    assert_eq!(st.storage_id.as_deref(), Some("restore-base"));
    assert_eq!(
        st.junction_path.as_deref(),
        Some("/pveontap_fcm_restore_base")
    );
    let inv = h.inventory().await;
    let s = storage(&inv, "restore-base").expect("storage");
    assert_eq!(s["export"], "/pveontap_fcm_restore_base");
    assert_eq!(s["options"], "vers=3");
    let clone = st.clone_volume_name.unwrap();
    assert_eq!(
        volume(&inv, &clone).unwrap()["nas_path"],
        "/pveontap_fcm_restore_base"
    );
    h.delete_and_wait::<FlexCloneMount>("direct").await;
    let inv = h.inventory().await;
    assert!(storage(&inv, "restore-base").is_none());
    assert!(volume(&inv, &clone).is_none());
    h.finish().await;
}

/// A FlexClone deleted outside Kubernetes waits in ONTAP's recovery queue and still holds the snapshot: the
/// deletion of the VolumeSnapshot says so instead of hanging silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_queue_blockage_is_reported() {
    let h = Harness::start("ovs-queue").await;
    let (_, ms) = snapshot_and_mount(&h, vs(&h, "snap"), mnt().deletion_policy("Retain")).await;
    h.delete_and_wait::<FlexCloneMount>("mnt").await;

    // Someone deletes the retained clone by hand: it lands in the recovery queue.
    let uuid = ms.clone_volume_uuid.unwrap();
    let clone = ms.clone_volume_name.unwrap();
    h.ontap_call(
        Method::DELETE,
        &format!("/api/storage/volumes/{uuid}?return_timeout=30"),
        None,
    )
    .await;
    let inv = h.inventory().await;
    assert!(
        inv["ontap"]["recovery_queue"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["original_name"] == clone.as_str()),
        "clone queued: {}",
        inv["ontap"]["recovery_queue"]
    );

    h.request_delete::<VolumeSnapshot>("snap").await;
    let (_, c) = h
        .wait_condition::<VolumeSnapshot>("snap", "DeletionBlocked", None)
        .await;
    assert_eq!(c.reason, "RecoveryQueue", "{}", c.message);
    assert!(c.message.contains(&clone), "{}", c.message);
    h.finish().await;
}

fn vs_status(o: &VolumeSnapshot) -> VolumeSnapshotStatus {
    o.status.clone().unwrap_or_default()
}

/// Both VMs with disks on ONTAP01 run (VM 101 is started here), so a window spans two VMs.
async fn start_vm_101(h: &Harness) {
    h.pve_call(Method::POST, "/nodes/pve2/qemu/101/status/start", &[])
        .await;
    h.wait_inventory("VM 101 running", |inv| {
        power_of(inv, 101) == ("running".to_owned(), "running".to_owned())
    })
    .await;
}

/// Every suspend of the VM is followed by a resume, and the VM runs at the end.
fn paused_and_resumed(inv: &Value, vmid: u32) {
    let power = pause_events(inv, vmid);
    assert!(!power.is_empty(), "VM {vmid} was never paused");
    for pair in power.chunks(2) {
        assert_eq!(pair, ["suspend", "resume"], "VM {vmid}: {power:?}");
    }
    assert_running(inv, vmid.into());
}

/// Suspend pauses every running VM of the storage for the snapshot and resumes them all; deletion removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_snapshot_pauses_every_running_vm() {
    let h = Harness::start("ovs-suspend").await;
    start_vm_101(&h).await;
    let before = h.inventory().await;
    let st = h
        .take_snapshot(vs(&h, "paused").consistency("Suspend").build())
        .await;
    assert_eq!(st.consistency_applied, Some(SnapshotConsistency::Suspend));
    assert!(st.restore.is_empty() && st.window.is_none(), "{st:?}");
    let inv = h.inventory().await;
    for vmid in [100, 101] {
        paused_and_resumed(&inv, vmid);
    }
    // The snapshot was taken while both VMs were paused: its job lies between the last suspend and first resume.
    let order: Vec<String> = inv["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .filter(|k| k == "suspend" || k == "resume" || k == "snapshot_create")
        .collect();
    let snap_at = order
        .iter()
        .position(|k| k == "snapshot_create")
        .expect("snapshot_create event");
    assert_eq!(
        order[..snap_at].iter().filter(|k| *k == "suspend").count(),
        2,
        "{order:?}"
    );
    assert!(order[..snap_at].iter().all(|k| k != "resume"), "{order:?}");
    assert!(on_pve_images(&inv, &st.snapshot_name.unwrap()));

    h.delete_and_assert_unchanged::<VolumeSnapshot>(
        "paused",
        &before,
        &[Snapshots("pve_images"), Power(100), Power(101)],
    )
    .await;
    h.finish().await;
}

/// A pause task slower than a reconcile waits: the window is recorded in status (undo before each pause, the
/// running tasks) and followed on requeue. The controller is killed inside the window: the restarted one
/// restores every VM first, then takes the snapshot in a fresh window; every VM ends as found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_suspend_window_survives_a_controller_kill() {
    let mut h = Harness::start_with("ovs-slow", slow_pve(&[("qmpause", 4_000)])).await;
    start_vm_101(&h).await;
    h.create::<VolumeSnapshot>(vs(&h, "slow").consistency("Suspend").build())
        .await;
    // Written only when a reconcile returns with the pause tasks still running.
    let obj = h
        .wait_for::<VolumeSnapshot>("slow", |o| {
            message_of(o).starts_with("waiting for Proxmox task(s) pausing")
        })
        .await;
    let st = vs_status(&obj);
    assert_eq!(st.phase, Phase::InProgress);
    let win = st.window.clone().expect("window recorded");
    let vms: Vec<u32> = win.vms.iter().map(|v| v.vmid).collect();
    assert_eq!(vms, [100, 101]);
    assert!(
        win.tasks
            .iter()
            .all(|t| t.step == VmTaskStep::Quiesce && t.upid.contains(":qmpause:")),
        "{win:?}"
    );
    let recorded: Vec<(u32, VmRestoreAction)> =
        st.restore.iter().map(|r| (r.vmid, r.action)).collect();
    assert_eq!(
        recorded,
        [
            (100, VmRestoreAction::Resume),
            (101, VmRestoreAction::Resume)
        ],
        "every undo recorded before its pause"
    );
    assert!(!st.ready_to_use, "no snapshot before every VM is paused");

    // Killed inside the window: the pauses complete and nothing resumes the VMs.
    h.kill_controller();
    h.wait_inventory("both VMs paused", |inv| {
        [100, 101].iter().all(|v| power_of(inv, *v).1 == "paused")
    })
    .await;

    h.start_controller();
    let st = vs_status(&h.wait_for::<VolumeSnapshot>("slow", ready_to_use).await);
    assert_eq!(st.consistency_applied, Some(SnapshotConsistency::Suspend));
    assert!(st.restore.is_empty() && st.window.is_none(), "{st:?}");
    let inv = h.inventory().await;
    for vmid in [100, 101] {
        paused_and_resumed(&inv, vmid);
        let pauses = pve_events_for(&inv, vmid)
            .iter()
            .filter(|k| *k == "suspend")
            .count();
        assert_eq!(pauses, 2, "the interrupted window, then a fresh one");
    }
    h.assert_event("slow", "Normal", "WindowRestarted").await;
    h.delete_and_wait::<VolumeSnapshot>("slow").await;
    h.finish().await;
}

/// A snapshot of an ONTAP volume named directly: no Proxmox involved, nothing happens to any VM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_an_ontap_volume_named_directly() {
    let h = Harness::start("ovs-direct").await;
    let before = h.inventory().await;
    let st = h
        .take_snapshot(
            VolumeSnapshotBuilder::of_ontap_volume(&h.ontap_name, "svm1", "pve_backup", "direct")
                .snapshot_name("direct_snap")
                .build(),
        )
        .await;
    assert_eq!(st.volume_name.as_deref(), Some("pve_backup"));
    assert_eq!(st.svm.as_deref(), Some("svm1"));
    assert_eq!(st.ontap_cluster.as_deref(), Some(h.ontap_name.as_str()));
    assert_eq!(st.consistency_applied, Some(SnapshotConsistency::None));
    let inv = h.inventory().await;
    let found = snapshot(&inv, "pve_backup", "direct_snap").expect("snapshot on ONTAP");
    assert_eq!(found["uuid"].as_str(), st.snapshot_uuid.as_deref());
    assert_unchanged(&before, &inv, &[Unchanged::PveEvents]);

    h.delete_and_assert_unchanged::<VolumeSnapshot>("direct", &before, &[Snapshots("pve_backup")])
        .await;
    h.finish().await;
}

/// `split: true`: the clone no longer depends on the snapshot, which can then be deleted while the mount stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_mount_frees_its_snapshot() {
    let h = Harness::start("fcm-split").await;
    let before = h.inventory().await;
    let (st, ms) = snapshot_and_mount(&h, vs(&h, "snap"), mnt().split(true)).await;
    let snap_name = st.snapshot_name.unwrap();
    assert!(ms.split_complete, "{ms:?}");
    let clone = ms.clone_volume_name.clone().unwrap();
    let sid = ms.storage_id.clone().unwrap();
    let inv = h.inventory().await;
    let owners = snapshot(&inv, "pve_images", &snap_name).unwrap()["clone_owners"].clone();
    assert!(
        owners.as_array().is_none_or(|o| o.is_empty()),
        "no clone depends on the snapshot after the split: {owners}"
    );

    // The snapshot goes although the mount exists.
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    let inv = h.inventory().await;
    assert!(!on_pve_images(&inv, &snap_name));
    assert!(volume(&inv, &clone).is_some(), "the split clone stays");
    assert!(storage(&inv, &sid).is_some(), "its storage stays");

    let after = h
        .delete_and_assert_unchanged::<FlexCloneMount>("mnt", &before, &[Storages])
        .await;
    assert!(volume(&after, &clone).is_none());
    assert!(storage(&after, &sid).is_none());
    h.finish().await;
}

/// Spec changes after creation: the snapshot comment is re-applied on ONTAP; a consistency change cannot be
/// and says so; the mount's content, nodes and options are re-applied to the Proxmox storage, and the
/// options caveat (used at the next mount) is stated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_changes_are_reapplied_or_reported() {
    let h = Harness::start("ovs-fcm-edit").await;
    let snap_name = h
        .take_snapshot(vs(&h, "snap").comment("first").build())
        .await
        .snapshot_name
        .unwrap();
    let comment_of = |inv: &Value| {
        snapshot(inv, "pve_images", &snap_name)
            .and_then(|s| s["comment"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(comment_of(&h.inventory().await).starts_with("first "));

    h.patch_spec::<VolumeSnapshot>("snap", json!({ "comment": "second" }))
        .await;
    let obj = h
        .wait_for::<VolumeSnapshot>("snap", |o| {
            ready_to_use(o) && o.metadata.generation == Some(2)
        })
        .await;
    let comment = comment_of(&h.inventory().await);
    assert!(
        comment.starts_with("second ") && comment.contains("pveontap.io/owner"),
        "{comment}"
    );
    assert_eq!(
        vs_status(&obj).applied_comment.as_deref(),
        Some(comment.as_str())
    );
    let c = condition(&vs_status(&obj).conditions, "SpecApplied")
        .cloned()
        .unwrap();
    assert_eq!(c.status, "True", "{c:?}");

    h.patch_spec::<VolumeSnapshot>("snap", json!({ "consistency": "Suspend" }))
        .await;
    let obj = h
        .wait_for::<VolumeSnapshot>("snap", |o| {
            ready_to_use(o) && o.metadata.generation == Some(3)
        })
        .await;
    let c = condition(&vs_status(&obj).conditions, "SpecApplied")
        .cloned()
        .unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "NotReapplied")
    );
    assert!(c.message.contains("consistency"), "{}", c.message);

    let ms = h
        .create_ready::<FlexCloneMount>(mnt().build())
        .await
        .status
        .unwrap();
    let sid = ms.storage_id.unwrap();
    h.patch_spec::<FlexCloneMount>(
        "mnt",
        json!({ "content": ["images", "iso"], "nodes": ["pve1"], "options": "vers=3" }),
    )
    .await;
    let obj = h
        .wait_for::<FlexCloneMount>("mnt", |o| is_ready(o) && o.metadata.generation == Some(2))
        .await;
    let inv = h.inventory().await;
    let s = storage(&inv, &sid).unwrap();
    let content: std::collections::BTreeSet<&str> =
        s["content"].as_str().unwrap().split(',').collect();
    assert_eq!(content, ["images", "iso"].into(), "{s}");
    assert_eq!(s["nodes"], "pve1", "{s}");
    assert_eq!(s["options"], "vers=3", "{s}");
    let st = obj.status.unwrap();
    assert_eq!(st.nodes, ["pve1"]);
    assert_eq!(st.options.as_deref(), Some("vers=3"));
    let c = condition(&st.conditions, "SpecApplied").cloned().unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "PendingRemount")
    );
    h.assert_event("mnt", "Normal", "StorageUpdated").await;

    // Dropping `nodes` enables the storage on every node again.
    h.api::<FlexCloneMount>()
        .patch(
            "mnt",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "spec": { "nodes": null } })),
        )
        .await
        .unwrap();
    h.wait_for::<FlexCloneMount>("mnt", |o| is_ready(o) && o.metadata.generation == Some(3))
        .await;
    let inv = h.inventory().await;
    assert!(
        storage(&inv, &sid).unwrap()["nodes"].is_null(),
        "{}",
        storage(&inv, &sid).unwrap()
    );

    h.delete_and_wait::<FlexCloneMount>("mnt").await;
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    h.finish().await;
}

/// Looking for users of a mount's storage reads each VM's config once (`/pending`, never `/config`), and a
/// read that fails is never taken as "no users": the storage stays until the reads succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_deletion_reads_each_vm_once_and_fails_closed() {
    let h = Harness::start("fcm-reads").await;
    let (_, ms) = snapshot_and_mount(&h, vs(&h, "snap"), mnt()).await;
    let sid = ms.storage_id.unwrap();

    h.add_fault(json!({
        "api": "pve", "method": "GET", "route": "*/pending",
        "error": { "status": 503, "message": "injected read failure" }
    }))
    .await;
    let stats_before = h.sim_stats().await;
    h.request_delete::<FlexCloneMount>("mnt").await;
    h.wait_for::<FlexCloneMount>("mnt", |o| message_of(o).contains("injected read failure"))
        .await;
    assert!(
        storage(&h.inventory().await, &sid).is_some(),
        "a failed read is never 'no users'"
    );
    h.clear_faults().await;
    h.wait_gone::<FlexCloneMount>("mnt").await;
    let stats = h.sim_stats().await;
    let delta = |method: &str, suffix: &str| {
        route_calls(&stats, "pve", method, suffix)
            - route_calls(&stats_before, "pve", method, suffix)
    };
    assert_eq!(delta("GET", "/qemu/{vmid}/config"), 0, "no /config reads");
    assert!(delta("GET", "/qemu/{vmid}/pending") >= 2, "each VM read");
    assert!(storage(&h.inventory().await, &sid).is_none());
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    h.finish().await;
}

/// A VmDiskClone window and a VolumeSnapshot window wanting VM 100 at once: the per-VM claims keep them apart
/// (its suspend/resume pairs never interleave), both complete and the VM runs at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_clone_and_snapshot_windows_never_overlap_on_a_vm() {
    let h = Harness::start_with("ovs-vdc", slow_pve(&[("qmpause", 1_500)])).await;
    h.create::<VmDiskClone>(
        VmDiskCloneBuilder::new(&h.pve_name, "copy")
            .consistency("Suspend")
            .disks(&["scsi1"])
            .build(),
    )
    .await;
    h.create::<VolumeSnapshot>(vs(&h, "snap").consistency("Suspend").build())
        .await;
    h.wait_ready::<VmDiskClone>("copy").await;
    let st = vs_status(&h.wait_for::<VolumeSnapshot>("snap", ready_to_use).await);
    assert_eq!(st.consistency_applied, Some(SnapshotConsistency::Suspend));
    let inv = h.inventory().await;
    let power = pause_events(&inv, 100);
    assert_eq!(
        power,
        ["suspend", "resume", "suspend", "resume"],
        "{power:?}"
    );
    assert_running(&inv, 100);
    h.delete_and_wait::<VmDiskClone>("copy").await;
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    h.finish().await;
}

/// A pause that fails: with `requireConsistency` no snapshot is taken and the object fails; without it the
/// snapshot is taken crash-consistent and says so. Either way every VM runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_pause_is_reported_and_every_vm_resumed() {
    let h = Harness::start("ovs-pausefail").await;
    start_vm_101(&h).await;
    let fail_one_pause = json!({
        "api": "pve", "async_failure": { "operation": "qmpause", "message": "pause failed: injected" }, "count": 1
    });
    h.add_fault(fail_one_pause.clone()).await;
    let strict = vs(&h, "strict")
        .consistency("Suspend")
        .require_consistency(true)
        .snapshot_name("strict_snap");
    let obj = h
        .create_phase::<VolumeSnapshot>(strict.build(), Phase::Failed)
        .await;
    let st = vs_status(&obj);
    assert!(
        st.message
            .as_deref()
            .unwrap_or_default()
            .contains("requireConsistency"),
        "{:?}",
        st.message
    );
    assert!(st.window.is_none() && st.restore.is_empty(), "{st:?}");
    let inv = h.inventory().await;
    assert!(!on_pve_images(&inv, "strict_snap"));
    for vmid in [100, 101] {
        assert_running(&inv, vmid);
    }

    h.add_fault(fail_one_pause).await;
    let st = h
        .take_snapshot(vs(&h, "lenient").consistency("Suspend").build())
        .await;
    assert_eq!(st.consistency_applied, Some(SnapshotConsistency::None));
    let c = condition(&st.conditions, "Consistency").cloned().unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "QuiesceFailed")
    );
    assert!(
        c.message.contains("pause failed: injected"),
        "{}",
        c.message
    );
    let inv = h.inventory().await;
    for vmid in [100, 101] {
        assert_running(&inv, vmid);
    }
    h.delete_and_wait::<VolumeSnapshot>("strict").await;
    h.delete_and_wait::<VolumeSnapshot>("lenient").await;
    h.finish().await;
}
