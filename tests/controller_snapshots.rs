//! VolumeSnapshot and FlexCloneMount against the real apiserver and the simulator over HTTPS.

mod controller_support;

use controller_support::*;
use pve_ontap_controller::api::volume_snapshot::SnapshotConsistency;
use pve_ontap_controller::api::{FlexCloneMount, Phase, VolumeSnapshot};
use serde_json::{json, Value};

fn vs(name: &str, pve: &str, extra: Value) -> Value {
    let mut spec = json!({ "proxmoxClusterRef": { "name": pve }, "storage": "ONTAP01" });
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({ "apiVersion": "pveontap.io/v1alpha1", "kind": "VolumeSnapshot", "metadata": { "name": name }, "spec": spec })
}

fn fcm(name: &str, snapshot: &str) -> Value {
    json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": "FlexCloneMount",
        "metadata": { "name": name },
        "spec": { "volumeSnapshotRef": { "name": snapshot } }
    })
}

fn vs_ready(o: &VolumeSnapshot) -> bool {
    o.status
        .as_ref()
        .is_some_and(|s| s.phase == Phase::Ready && s.ready_to_use)
}

fn fcm_ready(o: &FlexCloneMount) -> bool {
    o.status.as_ref().is_some_and(|s| s.phase == Phase::Ready)
}

fn volume<'a>(inv: &'a Value, name: &str) -> Option<&'a Value> {
    inv["ontap"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
}

fn storage<'a>(inv: &'a Value, id: &str) -> Option<&'a Value> {
    inv["pve"]["storages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["storage"] == id)
}

fn snapshots(inv: &Value, vol: &str) -> Vec<Value> {
    volume(inv, vol).unwrap()["snapshots"]
        .as_array()
        .unwrap()
        .clone()
}

/// Snapshot (with FsFreeze of the running VM) → FlexClone mount → the snapshot cannot go while the mount exists
/// → deleting the mount removes storage, clone and its recovery-queue entry → the snapshot goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_mount_lifecycle() {
    let h = Harness::start("ovs-fcm").await;
    let before = h.inventory().await;

    h.create::<VolumeSnapshot>(vs(
        "snap",
        &h.pve_name,
        json!({ "consistency": "FsFreeze", "comment": "demo" }),
    ))
    .await;
    let snap = h.wait_for::<VolumeSnapshot>("snap", vs_ready).await;
    let st = snap.status.unwrap();
    assert_eq!(st.volume_name.as_deref(), Some("pve_images"));
    assert_eq!(st.svm.as_deref(), Some("svm1"));
    assert_eq!(st.consistency_applied, Some(SnapshotConsistency::FsFreeze));
    assert!(st.create_time.is_some());
    let snap_name = st.snapshot_name.clone().unwrap();
    let inv = h.inventory().await;
    let found = snapshots(&inv, "pve_images")
        .into_iter()
        .find(|s| s["name"] == snap_name.as_str())
        .expect("snapshot on ONTAP");
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

    h.create::<FlexCloneMount>(fcm("mnt", "snap")).await;
    let mnt = h.wait_for::<FlexCloneMount>("mnt", fcm_ready).await;
    let ms = mnt.status.unwrap();
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
    h.api::<VolumeSnapshot>()
        .delete("snap", &Default::default())
        .await
        .unwrap();
    let blocked = h
        .wait_for::<VolumeSnapshot>("snap", |o| {
            o.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "DeletionBlocked" && c.reason == "InUse")
            })
        })
        .await;
    let msg = blocked.status.unwrap().message.unwrap_or_default();
    assert!(msg.contains("FlexCloneMount mnt"), "{msg}");
    assert!(snapshots(&h.inventory().await, "pve_images")
        .iter()
        .any(|s| s["name"] == snap_name.as_str()));

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
    let deadline = tokio::time::Instant::now() + WAIT;
    while h
        .api::<VolumeSnapshot>()
        .get_opt("snap")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "VolumeSnapshot not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let after = h.inventory().await;
    assert_eq!(
        snapshots(&after, "pve_images"),
        snapshots(&before, "pve_images")
    );
    assert_eq!(after["pve"]["storages"], before["pve"]["storages"]);
    h.finish().await;
}

/// A mount whose storage a VM uses cannot be deleted; it names the VM, and goes once the VM lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_in_use_by_a_vm_blocks_deletion() {
    let h = Harness::start("fcm-inuse").await;
    h.create::<VolumeSnapshot>(vs("snap", &h.pve_name, json!({})))
        .await;
    h.wait_for::<VolumeSnapshot>("snap", vs_ready).await;
    h.create::<FlexCloneMount>(fcm("mnt", "snap")).await;
    let ms = h
        .wait_for::<FlexCloneMount>("mnt", fcm_ready)
        .await
        .status
        .unwrap();
    let sid = ms.storage_id.unwrap();

    // VM 101 (stopped) gets a disk from the clone's storage, as a user restoring data would do.
    let pve = format!("{}/api2/json/nodes/pve2/qemu/101/config", h.sim.pve_url());
    let auth = format!("PVEAPIToken={PVE_TOKEN}");
    let volid = format!("{sid}:101/vm-101-disk-0.raw");
    let resp = h
        .http
        .put(&pve)
        .header("Authorization", &auth)
        .form(&[("scsi5", volid.as_str())])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());

    h.api::<FlexCloneMount>()
        .delete("mnt", &Default::default())
        .await
        .unwrap();
    let blocked = h
        .wait_for::<FlexCloneMount>("mnt", |o| {
            o.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "DeletionBlocked" && c.reason == "InUse")
            })
        })
        .await;
    let msg = blocked.status.unwrap().message.unwrap_or_default();
    assert!(msg.contains("101"), "{msg}");
    assert!(
        storage(&h.inventory().await, &sid).is_some(),
        "storage kept while in use"
    );

    // The volume is owned by VM 101 (its directory), so a plain delete would only turn it into unusedN: force.
    let resp = h
        .http
        .put(&pve)
        .header("Authorization", &auth)
        .form(&[("delete", "scsi5"), ("force", "1")])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let deadline = tokio::time::Instant::now() + WAIT;
    while h
        .api::<FlexCloneMount>()
        .get_opt("mnt")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "FlexCloneMount not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(storage(&h.inventory().await, &sid).is_none());
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    h.finish().await;
}

/// Retain keeps the snapshot on ONTAP when the object goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_snapshot_stays() {
    let h = Harness::start("ovs-retain").await;
    h.create::<VolumeSnapshot>(vs(
        "keep",
        &h.pve_name,
        json!({ "deletionPolicy": "Retain", "snapshotName": "keep_me" }),
    ))
    .await;
    h.wait_for::<VolumeSnapshot>("keep", vs_ready).await;
    h.delete_and_wait::<VolumeSnapshot>("keep").await;
    assert!(snapshots(&h.inventory().await, "pve_images")
        .iter()
        .any(|s| s["name"] == "keep_me"));
    h.finish().await;
}

/// A FlexCloneMount of a snapshot not managed here (`source`), with its own storage id and junction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_from_unmanaged_snapshot_with_explicit_names() {
    let h = Harness::start("fcm-source").await;
    h.create::<VolumeSnapshot>(vs(
        "base",
        &h.pve_name,
        json!({ "deletionPolicy": "Retain", "snapshotName": "base_snap" }),
    ))
    .await;
    h.wait_for::<VolumeSnapshot>("base", vs_ready).await;
    h.create::<FlexCloneMount>(json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": "FlexCloneMount",
        "metadata": { "name": "direct" },
        "spec": {
            "source": { "proxmoxClusterRef": { "name": h.pve_name }, "storage": "ONTAP01", "snapshotName": "base_snap" },
            "storageId": "restore-base",
            "junctionPath": "/restore_base",
            "options": "vers=3",
        }
    }))
    .await;
    let st = h
        .wait_for::<FlexCloneMount>("direct", fcm_ready)
        .await
        .status
        .unwrap();
    assert_eq!(st.storage_id.as_deref(), Some("restore-base"));
    assert_eq!(st.junction_path.as_deref(), Some("/restore_base"));
    let inv = h.inventory().await;
    let s = storage(&inv, "restore-base").expect("storage");
    assert_eq!(s["export"], "/restore_base");
    assert_eq!(s["options"], "vers=3");
    let clone = st.clone_volume_name.unwrap();
    assert_eq!(volume(&inv, &clone).unwrap()["nas_path"], "/restore_base");
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
    h.create::<VolumeSnapshot>(vs("snap", &h.pve_name, json!({})))
        .await;
    h.wait_for::<VolumeSnapshot>("snap", vs_ready).await;
    let mut mount = fcm("mnt", "snap");
    mount["spec"]["deletionPolicy"] = json!("Retain");
    h.create::<FlexCloneMount>(mount).await;
    let ms = h
        .wait_for::<FlexCloneMount>("mnt", fcm_ready)
        .await
        .status
        .unwrap();
    h.delete_and_wait::<FlexCloneMount>("mnt").await;

    // Someone deletes the retained clone by hand: it lands in the recovery queue.
    let uuid = ms.clone_volume_uuid.unwrap();
    let clone = ms.clone_volume_name.unwrap();
    let resp = h
        .http
        .delete(format!(
            "{}/api/storage/volumes/{uuid}?return_timeout=30",
            h.sim.ontap_url()
        ))
        .basic_auth("admin", Some("netapp123"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
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

    h.api::<VolumeSnapshot>()
        .delete("snap", &Default::default())
        .await
        .unwrap();
    let blocked = h
        .wait_for::<VolumeSnapshot>("snap", |o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "DeletionBlocked"))
        })
        .await;
    let st = blocked.status.unwrap();
    let c = st
        .conditions
        .iter()
        .find(|c| c.type_ == "DeletionBlocked")
        .unwrap();
    assert_eq!(c.reason, "RecoveryQueue", "{}", c.message);
    assert!(c.message.contains(&clone), "{}", c.message);
    h.finish().await;
}
