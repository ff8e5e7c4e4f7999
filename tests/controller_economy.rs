//! API economy of VmDiskClone on the real path (apiserver, the chart's ServiceAccount, the simulator over HTTPS):
//! backend calls per operation counted by the simulator (`/_sim/stats`), against issue 5's bound of d + 4 calls
//! (plus ONTAP job and Proxmox task polls) for a d-disk VM, and 0 calls when a Ready object is woken without a
//! change. Counts are exact; the waits only make sure every follow-up reconcile has run.

mod controller_support;

use std::collections::BTreeMap;
use std::time::Duration;

use controller_support::*;
use kube::api::{Patch, PatchParams};
use pve_ontap_controller::api::{Phase, VmDiskClone};
use serde_json::json;

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

/// Backend calls between two snapshots, polls (ONTAP job and Proxmox task status GETs) apart.
#[derive(Debug, Default)]
struct Calls {
    /// Every call but polls.
    calls: u64,
    polls: u64,
    routes: BTreeMap<String, u64>,
}

fn is_poll(api: &str, method: &str, route: &str) -> bool {
    method == "GET"
        && ((api == "ontap" && route.starts_with("/api/cluster/jobs/"))
            || (api == "pve" && route.contains("/tasks/") && route.ends_with("/status")))
}

fn calls_between(before: &Stats, after: &Stats) -> Calls {
    let mut out = Calls::default();
    for (key @ (api, method, route), n) in after {
        let d = n - before.get(key).copied().unwrap_or(0);
        if d == 0 || route.starts_with("/_sim") {
            continue;
        }
        if is_poll(api, method, route) {
            out.polls += d;
        } else {
            out.calls += d;
        }
        out.routes.insert(format!("{api} {method} {route}"), d);
    }
    out
}

/// `(reconciles started, reconciles running)` of VmDiskClone in the controller's metrics.
fn reconciles(h: &Harness) -> (u64, u64) {
    let text = h.metrics.encode().expect("metrics");
    let value = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix) && l.contains(r#"kind="VmDiskClone""#))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64
    };
    (
        value("pveontap_reconciles_total"),
        value("pveontap_reconciles_in_flight"),
    )
}

/// Waits until no VmDiskClone reconcile runs and none started for a while, so the follow-up reconciles (woken
/// by the controller's own writes) are part of what is counted.
async fn quiet(h: &Harness) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = reconciles(h);
    let mut calm = 0;
    while calm < 3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = reconciles(h);
        calm = if now == last && now.1 == 0 {
            calm + 1
        } else {
            0
        };
        last = now;
        assert!(
            tokio::time::Instant::now() < deadline,
            "controller never went quiet"
        );
    }
}

/// Waits until the simulator saw no call for a while: the ProxmoxCluster and OntapCluster reconcilers probe
/// their backends once they exist, which is not what is counted here.
async fn backends_settled(h: &Harness) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = stats(h).await;
    let mut calm = 0;
    while calm < 4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = stats(h).await;
        let probed = now.keys().any(|(_, _, r)| r == "/api2/json/version")
            && now.keys().any(|(_, _, r)| r == "/api/cluster");
        calm = if probed && now == last { calm + 1 } else { 0 };
        last = now;
        assert!(
            tokio::time::Instant::now() < deadline,
            "backends never settled"
        );
    }
}

/// Touches an annotation (no spec change) and waits until the controller reconciled the object after it.
async fn wake(h: &Harness, name: &str, n: u32) {
    let before = reconciles(h).0;
    h.api::<VmDiskClone>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "metadata": { "annotations": { "economy.test/touch": n.to_string() } } }),
            ),
        )
        .await
        .expect("annotate");
    let deadline = tokio::time::Instant::now() + WAIT;
    while reconciles(h).0 <= before || reconciles(h).1 > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconcile after the touch"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A VmDiskClone of VM 100 registering its copies as unusedN.
fn unused(h: &Harness, name: &str) -> VmDiskCloneBuilder {
    VmDiskCloneBuilder::new(&h.pve_name, name).attach("Unused")
}

/// The default world with VM 100 given four disks (scsi0..scsi3 on ONTAP01).
fn four_disk_world() -> pve_ontap_sim::Scenario {
    let mut v =
        serde_json::to_value(pve_ontap_sim::Scenario::default_scenario()).expect("scenario");
    let volume = v["ontap"]["svms"][0]["volumes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|vol| vol["name"] == "pve_images")
        .expect("pve_images");
    let files = volume["files"].as_array_mut().unwrap();
    let template = files
        .iter()
        .find(|f| f["path"] == "images/100/vm-100-disk-1.raw")
        .expect("disk 1")
        .clone();
    for n in [2, 3] {
        let mut f = template.clone();
        f["path"] = json!(format!("images/100/vm-100-disk-{n}.raw"));
        files.push(f);
    }
    let vm = v["pve"]["vms"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|vm| vm["vmid"] == 100)
        .expect("VM 100");
    for n in [2, 3] {
        vm["config"][format!("scsi{n}")] = json!(format!(
            "ONTAP01:100/vm-100-disk-{n}.raw,iothread=1,size=8G"
        ));
    }
    serde_json::from_value(v).expect("scenario with four disks")
}

/// Creates a VmDiskClone, waits for Ready and the follow-up reconciles; returns what it cost.
async fn create_counted(h: &Harness, clone: VmDiskCloneBuilder) -> (VmDiskClone, Calls) {
    let before = stats(h).await;
    let obj = h.create_ready::<VmDiskClone>(clone.build()).await;
    quiet(h).await;
    (obj, calls_between(&before, &stats(h).await))
}

async fn delete_counted(h: &Harness, name: &str) -> Calls {
    let before = stats(h).await;
    h.delete_and_wait::<VmDiskClone>(name).await;
    quiet(h).await;
    calls_between(&before, &stats(h).await)
}

/// Create and delete of 1- and 4-disk clones with consistency None and Suspend, each within its bound, and a
/// Ready object woken twice without a change costs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_disk_clone_costs_d_plus_4_calls_and_nothing_when_idle() {
    let h = Harness::start_with(
        "economy",
        Options {
            scenario: Some(four_disk_world()),
            ..Options::default()
        },
    )
    .await;
    backends_settled(&h).await;

    // First clone: the controller knows nothing yet about nodes, storages, LIFs and volumes. It learns them
    // with one call each (no listing of every volume).
    let (_, cold) = create_counted(&h, unused(&h, "cold").disks(&["scsi0"])).await;
    println!("create 1 disk, None, cold: {cold:?}");
    assert!(cold.calls <= 1 + 4 + 3, "cold create: {cold:?}");
    assert!(
        !cold.routes.contains_key("ontap GET /api/storage/volumes")
            || cold.routes["ontap GET /api/storage/volumes"] == 1,
        "one filtered volume query: {cold:?}"
    );
    let gone = delete_counted(&h, "cold").await;
    println!("delete 1 disk, None: {gone:?}");
    assert!(gone.calls <= 1 + 3, "delete: {gone:?}");

    for (consistency, extra) in [("None", 0), ("Suspend", 2)] {
        for (disks, d) in [(Some(["scsi0"]), 1u64), (None, 4)] {
            // Several disks of a running VM without a quiesce share one crash point: the volume's short-lived
            // snapshot is taken, looked up (uuid and marker) and deleted.
            let extra = if consistency == "None" && d > 1 {
                3
            } else {
                extra
            };
            let name = format!("{}-{d}", consistency.to_lowercase());
            let mut clone = unused(&h, &name).consistency(consistency);
            if let Some(disks) = disks {
                clone = clone.disks(&disks);
            }
            let (obj, made) = create_counted(&h, clone).await;
            let st = obj.status.clone().unwrap();
            assert_eq!(st.disks.len() as u64, d, "{st:?}");
            assert!(
                st.disks.iter().all(|x| x.cloned && x.config_key.is_some()),
                "{st:?}"
            );
            println!("create {d} disk(s), {consistency}: {made:?}");
            // d clone POSTs + node + config + run state + one config PUT; Suspend adds the pause and the resume
            // themselves (two power requests, not reads); None on several disks adds the crash-point snapshot.
            assert!(
                made.calls <= d + 4 + extra,
                "create {d} disk(s) with {consistency}: {} calls > {} — {made:?}",
                made.calls,
                d + 4 + extra
            );
            assert_eq!(
                made.routes
                    .get("pve PUT /api2/json/nodes/{node}/qemu/{vmid}/config")
                    .copied(),
                Some(1),
                "every copy registered in one config change: {made:?}"
            );

            // Woken without a change (our own status write already was one such wake-up): no backend call.
            let before = stats(&h).await;
            wake(&h, &name, 1).await;
            wake(&h, &name, 2).await;
            let idle = calls_between(&before, &stats(&h).await);
            assert_eq!(idle.calls + idle.polls, 0, "idle Ready object: {idle:?}");

            let gone = delete_counted(&h, &name).await;
            println!("delete {d} disk(s), {consistency}: {gone:?}");
            // Node + config + one PUT deleting every unusedN + one file DELETE per copy.
            assert!(gone.calls <= d + 3, "delete {d} disk(s): {gone:?}");
            assert_eq!(
                gone.routes
                    .get("pve PUT /api2/json/nodes/{node}/qemu/{vmid}/config")
                    .copied(),
                Some(1),
                "every registration removed in one config change: {gone:?}"
            );
        }
    }
    let inv = h.inventory().await;
    let files = volume_files(&inv, "pve_images");
    assert!(
        files.iter().all(|f| !f.contains("pvo-")),
        "no copy left behind: {files:?}"
    );
    h.finish().await;
}

/// A VmDiskClone is a point-in-time copy: a spec change after the copies exist keeps the recorded plan, says so,
/// and deletionPolicy changes still count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_change_after_copies_keeps_the_plan_and_says_so() {
    let h = Harness::start("economy-spec").await;
    let first = h
        .create_ready::<VmDiskClone>(unused(&h, "pit").disks(&["scsi0"]).build())
        .await;
    let planned = first.status.clone().unwrap().disks;
    let files_before = volume_files(&h.inventory().await, "pve_images");

    let api = h.api::<VmDiskClone>();
    api.patch(
        "pit",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "disks": ["scsi1"], "consistency": "Suspend" } })),
    )
    .await
    .expect("spec change");
    let (_, cond) = h
        .wait_condition::<VmDiskClone>("pit", "SpecApplied", Some("PointInTimeCopy"))
        .await;
    assert_eq!(cond.status, "False");
    assert!(
        cond.message.contains("create a new VmDiskClone"),
        "{}",
        cond.message
    );
    let obj = h
        .wait_for::<VmDiskClone>("pit", |o| {
            o.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Ready && s.observed_generation == o.metadata.generation
            })
        })
        .await;
    let st = obj.status.clone().unwrap();
    assert_eq!(st.disks, planned, "the recorded plan stands");
    assert!(
        st.message
            .as_deref()
            .unwrap_or_default()
            .contains("not applied"),
        "{:?}",
        st.message
    );
    assert_eq!(
        volume_files(&h.inventory().await, "pve_images"),
        files_before,
        "nothing copied for the changed spec"
    );
    let inv = h.inventory().await;
    assert!(
        !pve_events_for(&inv, 100).iter().any(|k| k == "suspend"),
        "the VM was not paused for the changed consistency"
    );

    // deletionPolicy is honoured: Retain keeps the copy and its registration.
    api.patch(
        "pit",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "deletionPolicy": "Retain" } })),
    )
    .await
    .expect("deletionPolicy change");
    h.delete_and_wait::<VmDiskClone>("pit").await;
    let inv = h.inventory().await;
    assert!(
        has_file(&inv, "pve_images", &planned[0].clone_path),
        "Retain keeps the copy: {:?}",
        volume_files(&inv, "pve_images")
    );
    let vm = vm(&inv, 100).unwrap();
    let key = planned[0].config_key.clone().unwrap();
    let registered = vm["pending"][&key]
        .as_str()
        .or(vm["config"][&key].as_str())
        .unwrap_or_default();
    assert_eq!(Some(registered), planned[0].clone_volume_id.as_deref());
    h.finish().await;
}

/// Clones of one VM made in parallel register their copies one after the other, each computed from a config
/// no other object of this controller changed meanwhile: one config change per clone, none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_clones_of_one_vm_never_collide_on_the_config() {
    let h = Harness::start("economy-parallel").await;
    backends_settled(&h).await;
    let before = stats(&h).await;
    let names = ["p0", "p1", "p2", "p3"];
    for name in names {
        h.create::<VmDiskClone>(unused(&h, name).disks(&["scsi0"]).build())
            .await;
    }
    let mut keys = Vec::new();
    for name in names {
        let obj = h.wait_ready::<VmDiskClone>(name).await;
        keys.push(
            obj.status.unwrap().disks[0]
                .config_key
                .clone()
                .expect("registered"),
        );
    }
    quiet(&h).await;
    let made = calls_between(&before, &stats(&h).await);
    println!("4 parallel clones of one VM: {made:?}");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), names.len(), "one unusedN per copy: {keys:?}");
    assert_eq!(
        made.routes
            .get("pve PUT /api2/json/nodes/{node}/qemu/{vmid}/config")
            .copied(),
        Some(names.len() as u64),
        "one accepted config change per clone, none refused: {made:?}"
    );
    let reads = made
        .routes
        .get("pve GET /api2/json/nodes/{node}/qemu/{vmid}/config")
        .copied()
        .unwrap_or(0);
    assert!(reads <= 2 * names.len() as u64, "{made:?}");
    h.finish().await;
}
