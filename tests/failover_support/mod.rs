//! The failover scenario both HA tests share (in-process replicas and real processes): a Suspend clone of VM 100
//! whose FileClone is held so the leader can be killed while the VM is paused, and the checks that the successor
//! finished the work exactly once and left the VM as it was found.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube::Client;
use pve_ontap_controller::api::{Phase, VmDiskClone, VmDiskCloneStatus};
use serde_json::{json, Value};

use crate::controller_support::{sim_events, vm, Harness};

/// Name of the VmDiskClone the scenario creates.
pub const CLONE: &str = "ha";

/// Holder identity of the Lease `lease` in `namespace`, if held.
pub async fn lease_holder(admin: &Client, namespace: &str, lease: &str) -> Option<String> {
    Api::<Lease>::namespaced(admin.clone(), namespace)
        .get_opt(lease)
        .await
        .expect("get Lease")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Creates the Suspend clone of VM 100 with its FileClone held for `hold_ms`, so the VM stays paused meanwhile.
pub async fn create_held_suspend_clone(h: &Harness, hold_ms: u64) {
    h.add_fault(json!({
        "api": "ontap", "method": "POST", "route": "/api/storage/file/clone", "latency_ms": hold_ms, "count": 1
    }))
    .await;
    h.create::<VmDiskClone>(json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": "VmDiskClone",
        "metadata": { "name": CLONE },
        "spec": { "proxmoxClusterRef": { "name": h.pve_name }, "vmid": 100, "disks": ["scsi0"], "consistency": "Suspend" },
    }))
    .await;
}

pub async fn vm100_paused(h: &Harness) -> bool {
    vm(&h.inventory().await, 100).unwrap()["qmpstatus"] == "paused"
}

/// Waits until the clone is Ready, then checks that nothing was done twice and VM 100 runs again: pauses and
/// resumes paired (the successor first resumes what its predecessor left, then redoes the unfinished step as a
/// whole), one completed FileClone, one attach.
pub async fn assert_finished_once(h: &Harness) -> VmDiskCloneStatus {
    let done = h
        .wait_for::<VmDiskClone>(CLONE, |o| {
            o.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Ready && s.observed_generation == o.metadata.generation
            })
        })
        .await;
    let status = done.status.unwrap();
    assert!(status.disks[0].cloned);
    assert!(status.restore.is_empty(), "the VM state change was undone");

    let inv = h.inventory().await;
    let vm100 = vm(&inv, 100).unwrap();
    assert_eq!(
        (vm100["status"].as_str(), vm100["qmpstatus"].as_str()),
        (Some("running"), Some("running"))
    );
    let events = sim_events(&inv);
    let power: Vec<&str> = events
        .iter()
        .filter(|(k, d)| (k == "suspend" || k == "resume") && d.contains("VM 100"))
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(
        !power.is_empty() && power.chunks(2).all(|p| p == ["suspend", "resume"]),
        "suspend/resume unpaired: {power:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|(k, d)| k == "config" && d.contains("VM 100"))
            .count(),
        1,
        "the clone is attached once: {events:?}"
    );
    assert_eq!(ontap_file_clones(&inv), 1, "cloned once");
    status
}

fn ontap_file_clones(inv: &Value) -> usize {
    inv["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["api"] == "ontap" && e["kind"] == "file_clone")
        .count()
}
