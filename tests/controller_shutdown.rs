//! Graceful shutdown of the controller runtime: a stop requested before the first list of the watched objects
//! arrived ends at once (kube-runtime would otherwise hold the never-started reconciles forever), and a stop
//! after work was done waits for in-flight reconciles and ends too.

mod controller_support;

use controller_support::{Harness, WAIT};
use pve_ontap_controller::api::VmDiskClone;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_before_and_after_the_first_sync_ends_the_runtime() {
    let mut h = Harness::start("shutdown").await;
    // Right after the start: the watches have not listed yet.
    tokio::time::timeout(WAIT, h.stop_controller())
        .await
        .expect("a stop before the first sync ends the runtime");

    // The runtime starts again and works; a stop after that ends it too.
    h.start_controller();
    h.create::<VmDiskClone>(json!({
        "apiVersion": "pveontap.io/v1alpha1", "kind": "VmDiskClone",
        "metadata": { "name": "after-restart" },
        "spec": { "proxmoxClusterRef": { "name": h.pve_name }, "vmid": 100, "disks": ["scsi0"] },
    }))
    .await;
    h.wait_ready::<VmDiskClone>("after-restart").await;
    tokio::time::timeout(WAIT, h.stop_controller())
        .await
        .expect("a stop after work ends the runtime");

    h.start_controller();
    h.delete_and_wait::<VmDiskClone>("after-restart").await;
    h.finish().await;
}
