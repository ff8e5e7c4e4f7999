//! OntapStorage (discovery, the old script's `storage list` / `storage show`) on the real path: the apiserver,
//! the chart's ServiceAccount, the simulator over HTTPS. Objects appear for the ONTAP-backed storages with
//! ONTAP's own figures; a snapshot made through ONTAP directly shows as unmanaged, a VolumeSnapshot's as managed
//! by it, a FlexCloneMount's clone as depending on it; changes show without waiting for the period; a storage
//! removed from Proxmox takes its object with it; and a period costs one volume GET and one snapshot listing
//! per storage.

mod controller_support;

use std::collections::BTreeMap;
use std::time::Duration;

use controller_support::*;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Resource, ResourceExt};
use pve_ontap_controller::api::ontap_storage::{SnapshotOrigin, PROXMOX_CLUSTER_LABEL};
use pve_ontap_controller::api::{FlexCloneMount, OntapStorage, ProxmoxCluster, VolumeSnapshot};
use serde_json::Value;

/// A period long enough that whatever shows within a test's waits came through a change trigger.
const LONG: Duration = Duration::from_secs(3600);

async fn start(prefix: &str, interval: Duration) -> Harness {
    Harness::start_with(
        prefix,
        Options {
            discovery_interval: Some(interval),
            ..Default::default()
        },
    )
    .await
}

fn osts(h: &Harness) -> Api<OntapStorage> {
    Api::all(h.admin.clone())
}

fn ost_name(h: &Harness, storage: &str) -> String {
    format!(
        "{}.{}",
        h.pve_name,
        storage.to_ascii_lowercase().replace('_', "-")
    )
}

/// Waits until the OntapStorage `name` exists and `pred` holds for it.
async fn wait_ost(
    h: &Harness,
    name: &str,
    what: &str,
    pred: impl Fn(&OntapStorage) -> bool,
) -> OntapStorage {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(o) = osts(h).get_opt(name).await.expect("get OntapStorage") {
            if pred(&o) {
                return o;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "OntapStorage {name} never showed {what}: {:#?}",
                o.status
            );
        } else {
            assert!(
                tokio::time::Instant::now() < deadline,
                "OntapStorage {name} never appeared ({what})"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_ost_gone(h: &Harness, name: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while osts(h).get_opt(name).await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "OntapStorage {name} was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The OntapStorages of this test's ProxmoxCluster.
async fn of_cluster(h: &Harness) -> Vec<OntapStorage> {
    let pc = Api::<ProxmoxCluster>::all(h.admin.clone())
        .get(&h.pve_name)
        .await
        .expect("ProxmoxCluster");
    let selector = format!("{PROXMOX_CLUSTER_LABEL}={}", pc.uid().unwrap());
    osts(h)
        .list(&ListParams::default().labels(&selector))
        .await
        .expect("list")
        .items
}

/// Removes this test's OntapStorages (the test control plane runs no garbage collector).
async fn cleanup(h: Harness) {
    for o in of_cluster(&h).await {
        let _ = osts(&h)
            .delete(&o.name_any(), &DeleteParams::default())
            .await;
    }
    h.finish().await;
}

fn snapshot<'a>(
    o: &'a OntapStorage,
    name: &str,
) -> Option<&'a pve_ontap_controller::api::ontap_storage::DiscoveredSnapshot> {
    o.status.as_ref()?.snapshots.iter().find(|s| s.name == name)
}

fn ready(o: &OntapStorage) -> bool {
    o.status
        .as_ref()
        .and_then(|s| condition(&s.conditions, "Ready"))
        .is_some_and(|c| c.status == "True")
}

#[tokio::test]
async fn storages_volumes_and_snapshots_with_who_manages_them() {
    let h = start("disc-show", LONG).await;
    let name = ost_name(&h, ONTAP_STORAGE);
    let o = wait_ost(&h, &name, "Ready", ready).await;
    let s = o.status.clone().unwrap();
    let inv = h.inventory().await;
    let vol_uuid = volume(&inv, "pve_images").unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        (
            s.proxmox_cluster.as_str(),
            s.storage.as_str(),
            s.ontap_cluster.as_str(),
            s.svm.as_str(),
            s.volume.name.as_str(),
            s.volume.uuid.as_str(),
        ),
        (
            h.pve_name.as_str(),
            ONTAP_STORAGE,
            h.ontap_name.as_str(),
            "svm1",
            "pve_images",
            vol_uuid.as_str()
        )
    );
    assert_eq!(s.server.as_deref(), Some("192.0.2.10"));
    assert_eq!(s.export.as_deref(), Some("/pve_images"));
    // The figures are ONTAP's own: the same fields read through the REST API directly.
    let direct = h
        .ontap_call(
            reqwest::Method::GET,
            &format!(
                "/api/storage/volumes/{vol_uuid}?fields=space.size,space.used,space.physical_used,\
                 space.logical_space.used,space.snapshot.used"
            ),
            None,
        )
        .await;
    let field = |p: &str| {
        p.split('.')
            .fold(&direct["space"], |v: &Value, k| &v[k])
            .as_u64()
    };
    let space = s.space.clone().expect("space");
    assert_eq!(space.size_bytes, field("size"));
    assert_eq!(space.used_bytes, field("used"));
    assert_eq!(space.logical_used_bytes, field("logical_space.used"));
    assert_eq!(space.snapshot_used_bytes, field("snapshot.used"));
    assert_eq!(
        space.saved_by_sharing_bytes,
        Some(field("logical_space.used").unwrap() - field("physical_used").unwrap())
    );
    assert_eq!(space.size.as_deref(), Some("1.0Ti"));
    assert_eq!(s.snapshot_count, 0);
    // `local` (a directory storage) has no object: only ONTAP-backed storages do.
    let all: Vec<String> = of_cluster(&h).await.iter().map(|o| o.name_any()).collect();
    assert_eq!(all, std::slice::from_ref(&name));

    // A snapshot made through ONTAP directly raises no Kubernetes event; the VolumeSnapshot below does, and
    // its refresh (the period is an hour) shows both: ours as managed, the other as not.
    h.foreign_snapshot("pve_images", "by_hand").await;
    let taken = h
        .take_snapshot(VolumeSnapshotBuilder::new(&h.pve_name, "nightly").build())
        .await;
    let ours = taken.snapshot_name.clone().unwrap();
    let o = wait_ost(&h, &name, "both snapshots", |o| {
        snapshot(o, "by_hand").is_some() && snapshot(o, &ours).is_some()
    })
    .await;
    let foreign = snapshot(&o, "by_hand").unwrap();
    assert_eq!(foreign.origin, SnapshotOrigin::Unmanaged);
    assert!(foreign.managed_by.is_none());
    assert!(foreign.create_time.is_some() && foreign.size_bytes.is_some());
    let mine = snapshot(&o, &ours).unwrap();
    assert_eq!(mine.origin, SnapshotOrigin::Managed);
    let by = mine.managed_by.clone().unwrap();
    assert_eq!(
        (by.kind.as_str(), by.namespace.as_str(), by.name.as_str()),
        ("VolumeSnapshot", h.ns.as_str(), "nightly")
    );
    assert_eq!(mine.uuid, taken.snapshot_uuid.clone().unwrap());
    let s = o.status.clone().unwrap();
    assert_eq!((s.snapshot_count, s.unmanaged_snapshot_count), (2, 1));

    // A FlexCloneMount of it: the snapshot shows the clone and its mount, and the mount's own storage gets an
    // object of its own, on the clone volume.
    let fcm = h
        .create_ready::<FlexCloneMount>(
            FlexCloneMountBuilder::of_snapshot("nightly", "mount").build(),
        )
        .await;
    let fs = fcm.status.clone().unwrap();
    let clone_volume = fs.clone_volume_name.clone().unwrap();
    let o = wait_ost(&h, &name, "the clone", |o| {
        snapshot(o, &ours).is_some_and(|s| !s.flex_clones.is_empty())
    })
    .await;
    let dep = &snapshot(&o, &ours).unwrap().flex_clones;
    assert_eq!(dep.len(), 1);
    assert_eq!(dep[0].volume, clone_volume);
    assert_eq!(
        dep[0].flex_clone_mount.as_deref(),
        Some(format!("{}/mount", h.ns).as_str())
    );
    assert!(snapshot(&o, &ours)
        .unwrap()
        .ontap_owners
        .iter()
        .any(|w| w == "volume_clone"));
    assert!(snapshot(&o, "by_hand").unwrap().flex_clones.is_empty());
    let mount_storage = fs.storage_id.clone().unwrap();
    let mount_ost = ost_name(&h, &mount_storage);
    let m = wait_ost(&h, &mount_ost, "the clone volume", ready).await;
    assert_eq!(m.status.unwrap().volume.name, clone_volume);

    // Deleting the mount removes its Proxmox storage: its object goes, and the dependency with it.
    h.delete_and_wait::<FlexCloneMount>("mount").await;
    wait_ost_gone(&h, &mount_ost).await;
    wait_ost(&h, &name, "no clone", |o| {
        snapshot(o, &ours).is_some_and(|s| s.flex_clones.is_empty())
    })
    .await;
    // Deleting the VolumeSnapshot deletes its snapshot; the other stays.
    h.delete_and_wait::<VolumeSnapshot>("nightly").await;
    let o = wait_ost(&h, &name, "only the foreign snapshot", |o| {
        snapshot(o, &ours).is_none()
    })
    .await;
    assert!(snapshot(&o, "by_hand").is_some());

    // An object someone deletes is made again at once.
    osts(&h)
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    wait_ost(&h, &name, "made again", |o| {
        o.meta().deletion_timestamp.is_none() && ready(o)
    })
    .await;
    cleanup(h).await;
}

#[tokio::test]
async fn a_storage_added_and_removed_in_proxmox_comes_and_goes() {
    let h = start("disc-storage", Duration::from_secs(2)).await;
    wait_ost(&h, &ost_name(&h, ONTAP_STORAGE), "Ready", ready).await;
    // Added by an administrator in Proxmox: no Kubernetes event, the period finds it.
    h.pve_call(
        reqwest::Method::POST,
        "/storage",
        &[
            ("storage", "backup_nfs"),
            ("type", "nfs"),
            ("server", "192.0.2.10"),
            ("export", "/pve_backup"),
            ("content", "backup"),
        ],
    )
    .await;
    let name = ost_name(&h, "backup_nfs");
    let o = wait_ost(&h, &name, "Ready", ready).await;
    let s = o.status.unwrap();
    assert_eq!(
        (s.storage.as_str(), s.volume.name.as_str()),
        ("backup_nfs", "pve_backup")
    );
    // A VmDiskClone's FileClones share blocks: what sharing saves on ONTAP01 grows by the disks copied.
    let before = wait_ost(&h, &ost_name(&h, ONTAP_STORAGE), "Ready", ready)
        .await
        .status
        .unwrap()
        .space
        .unwrap()
        .saved_by_sharing_bytes
        .unwrap();
    h.create_ready::<pve_ontap_controller::api::VmDiskClone>(vdc(
        "copy",
        &h.pve_name,
        serde_json::json!({ "vmid": 101 }),
    ))
    .await;
    wait_ost(
        &h,
        &ost_name(&h, ONTAP_STORAGE),
        "the copy's sharing",
        |o| {
            o.status
                .as_ref()
                .and_then(|s| s.space.as_ref())
                .and_then(|s| s.saved_by_sharing_bytes)
                .is_some_and(|saved| saved >= before + (16 << 30))
        },
    )
    .await;
    // Removed in Proxmox: the object goes.
    h.pve_call(reqwest::Method::DELETE, "/storage/backup_nfs", &[])
        .await;
    wait_ost_gone(&h, &name).await;
    assert!(osts(&h)
        .get_opt(&ost_name(&h, ONTAP_STORAGE))
        .await
        .unwrap()
        .is_some());
    cleanup(h).await;
}

/// Calls per `(api, method, route)` as the simulator counts them.
type Stats = BTreeMap<(String, String, String), u64>;

async fn stats(h: &Harness) -> Stats {
    h.sim_stats().await["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (
                (s("api"), s("method"), s("route")),
                r["count"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// `(refreshes started, refreshes running)` of discovery in the controller's metrics.
fn refreshes(h: &Harness) -> (u64, u64) {
    let text = h.metrics.encode().expect("metrics");
    let value = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix) && l.contains(r#"kind="OntapStorage""#))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    (
        value("pveontap_reconciles_total"),
        value("pveontap_reconciles_in_flight"),
    )
}

/// The simulator's counts with the number of refreshes that produced them: taken while no refresh runs, and
/// retried until no refresh started while the counts were read.
async fn counted(h: &Harness) -> (u64, Stats) {
    loop {
        let (before, running) = refreshes(h);
        if running == 0 {
            let s = stats(h).await;
            if refreshes(h) == (before, 0) {
                return (before, s);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls that change something (on either API) between two counts.
fn mutating(before: &Stats, after: &Stats) -> u64 {
    after
        .iter()
        .filter(|((_, m, r), _)| m != "GET" && !r.starts_with("/_sim"))
        .map(|(k, n)| n - before.get(k).copied().unwrap_or(0))
        .sum()
}

fn delta(before: &Stats, after: &Stats, api: &str, method: &str, route: &str) -> u64 {
    let key = (api.to_owned(), method.to_owned(), route.to_owned());
    after.get(&key).copied().unwrap_or(0) - before.get(&key).copied().unwrap_or(0)
}

#[tokio::test]
async fn a_period_costs_one_volume_get_and_one_snapshot_listing_per_storage() {
    let h = start("disc-economy", Duration::from_secs(1)).await;
    // Two ONTAP-backed storages, one with a FlexClone of a snapshot (listed through one more call).
    h.pve_call(
        reqwest::Method::POST,
        "/storage",
        &[
            ("storage", "backup_nfs"),
            ("type", "nfs"),
            ("server", "192.0.2.10"),
            ("export", "/pve_backup"),
            ("content", "backup"),
        ],
    )
    .await;
    wait_ost(&h, &ost_name(&h, ONTAP_STORAGE), "Ready", ready).await;
    wait_ost(&h, &ost_name(&h, "backup_nfs"), "Ready", ready).await;

    let (r0, s0) = counted(&h).await;
    let (r1, s1) = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (r, s) = counted(&h).await;
        if r >= r0 + 3 {
            break (r, s);
        }
    };
    let periods = r1 - r0;
    let storages = 2;
    let vol_gets = delta(&s0, &s1, "ontap", "GET", "/api/storage/volumes/{uuid}");
    let snap_lists = delta(
        &s0,
        &s1,
        "ontap",
        "GET",
        "/api/storage/volumes/{uuid}/snapshots",
    );
    let listings = delta(&s0, &s1, "ontap", "GET", "/api/storage/volumes");
    let storage_defs = delta(&s0, &s1, "pve", "GET", "/api2/json/storage");
    assert_eq!(
        vol_gets,
        periods * storages,
        "volume GETs over {periods} refreshes"
    );
    assert_eq!(
        snap_lists,
        periods * storages,
        "snapshot listings over {periods} refreshes"
    );
    // Resolution is per ProxmoxCluster and SVM, not per storage: each periodic refresh lists the storage
    // definitions once and makes one filtered volume query (both storages are on svm1); no clone listing
    // without clones.
    assert_eq!(
        storage_defs, periods,
        "storage listings in {periods} refreshes"
    );
    assert_eq!(listings, periods, "volume listings in {periods} refreshes");
    assert_eq!(mutating(&s0, &s1), 0, "discovery changed something");

    // With a FlexClone on ONTAP01's volume, its refreshes list the clones too: one call more per refresh, for
    // that storage only.
    let taken = h
        .take_snapshot(VolumeSnapshotBuilder::new(&h.pve_name, "base").build())
        .await;
    h.create_ready::<FlexCloneMount>(FlexCloneMountBuilder::of_snapshot("base", "mount").build())
        .await;
    let ours = taken.snapshot_name.unwrap();
    let mount_ost = ost_name(
        &h,
        &h.api::<FlexCloneMount>()
            .get("mount")
            .await
            .unwrap()
            .status
            .unwrap()
            .storage_id
            .unwrap(),
    );
    wait_ost(&h, &ost_name(&h, ONTAP_STORAGE), "the clone", |o| {
        snapshot(o, &ours).is_some_and(|s| !s.flex_clones.is_empty())
    })
    .await;
    wait_ost(&h, &mount_ost, "Ready", ready).await;
    let (r2, s2) = counted(&h).await;
    let (r3, s3) = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (r, s) = counted(&h).await;
        if r >= r2 + 3 {
            break (r, s);
        }
    };
    let periods = r3 - r2;
    let storages = 3;
    assert_eq!(
        delta(&s2, &s3, "ontap", "GET", "/api/storage/volumes/{uuid}"),
        periods * storages
    );
    assert_eq!(
        delta(
            &s2,
            &s3,
            "ontap",
            "GET",
            "/api/storage/volumes/{uuid}/snapshots"
        ),
        periods * storages
    );
    let listings = delta(&s2, &s3, "ontap", "GET", "/api/storage/volumes");
    assert_eq!(
        listings,
        2 * periods,
        "volume listings in {periods} refreshes: one resolution query and one clone listing each"
    );
    assert_eq!(mutating(&s2, &s3), 0, "discovery changed something");
    h.delete_and_wait::<FlexCloneMount>("mount").await;
    h.delete_and_wait::<VolumeSnapshot>("base").await;
    cleanup(h).await;
}
