//! Proxmox tasks the controller must account for beyond the UPIDs it recorded: a power request sent right
//! before a crash (its UPID never saved), and the start task of a NewVm with `newVm.start: true`.

mod controller_support;

use controller_support::*;
use kube::api::{Patch, PatchParams};
use pve_ontap_controller::api::common::{VmTaskStep, FINALIZER};
use pve_ontap_controller::api::VmDiskClone;
use serde_json::{json, Value};

/// A VmDiskClone of VM 100 on the harness's Proxmox backend.
fn clone_of_vm100(h: &Harness, name: &str) -> VmDiskCloneBuilder {
    VmDiskCloneBuilder::new(&h.pve_name, name)
}

fn running_tasks_of(inv: &Value, vmid: u32) -> Vec<String> {
    inv["pve"]["running_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"].as_str().and_then(|id| id.parse().ok()) == Some(vmid))
        .map(|t| t["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The controller recorded "start VM 100 again" and sent the shutdown of a Shutdown window, then died before
/// saving the task's UPID; the object is deleted meanwhile. The shutdown is still running, so VM 100 reads
/// `running`: judged by its state alone, nothing would need restoring, the object would go and the VM would end
/// stopped. The next reconcile finds the shutdown in the node's task list, waits for it, then starts the VM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sent_before_a_crash_is_waited_for_then_undone() {
    let mut h = Harness::start_with("vmtask-gap", slow_pve(&[("qmshutdown", 6_000)])).await;
    // No controller runs until the scene is set.
    h.kill_controller();

    // What the crashed controller left behind: its finalizer, the recorded undo without a task, and the
    // shutdown it requested (with its own token).
    let gap = clone_of_vm100(&h, "gap")
        .consistency("Shutdown")
        .disks(&["scsi1"])
        .finalizer(FINALIZER);
    h.create::<VmDiskClone>(gap.build()).await;
    h.api::<VmDiskClone>()
        .patch_status(
            "gap",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": {
                "phase": "InProgress",
                "restore": [{ "vmid": 100, "node": "pve1", "action": "Start" }],
            }})),
        )
        .await
        .expect("status written");
    let upid = h
        .pve_call(
            reqwest::Method::POST,
            "/nodes/pve1/qemu/100/status/shutdown",
            &[("timeout", "180")],
        )
        .await;
    assert!(
        upid.as_str().unwrap().contains(":qmshutdown:100:"),
        "{upid}"
    );
    h.request_delete::<VmDiskClone>("gap").await;
    assert_eq!(
        power_of(&h.inventory().await, 100).0,
        "running",
        "still shutting down"
    );

    h.start_controller();
    h.wait_gone::<VmDiskClone>("gap").await;

    // Judged only once no power task of the VM is left running.
    let inv = h
        .wait_inventory("no task of VM 100 running", |inv| {
            running_tasks_of(inv, 100).is_empty()
        })
        .await;
    // The VM runs again.
    assert_running(&inv, 100);
    let events = pve_events_for(&inv, 100);
    let stop = events
        .iter()
        .position(|k| k == "shutdown")
        .unwrap_or_else(|| panic!("shutdown in {events:?}"));
    assert_eq!(events[stop + 1..], ["start".to_owned()], "{events:?}");
    h.finish().await;
}

/// NewVm with `newVm.start: true` and a start slower than a reconcile waits: the start task is followed in
/// status until the new VM runs, then Ready with the copies attached. Deletion waits while the new VM runs and
/// says why; once it is stopped through Proxmox, the VM and its disk files go and the inventory is as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_new_vm_runs_then_goes_once_stopped() {
    let h = Harness::start_with("vmtask-newvm", slow_pve(&[("qmstart", 5_000)])).await;
    let before = h.inventory().await;
    let boot = clone_of_vm100(&h, "boot")
        .attach("NewVm")
        .consistency("FsFreeze")
        .new_vm(310, "web01-boot")
        .start_new_vm();
    h.create::<VmDiskClone>(boot.build()).await;

    let starting = h
        .wait_for::<VmDiskClone>("boot", |o| {
            o.status
                .as_ref()
                .and_then(|s| s.vm_task.as_ref())
                .is_some_and(|t| t.step == VmTaskStep::StartVm)
        })
        .await;
    let task = starting.status.unwrap().vm_task.unwrap();
    assert!(task.upid.contains(":qmstart:310:"), "{task:?}");
    assert_eq!(task.vmid, 310);

    let st = h.wait_ready::<VmDiskClone>("boot").await.status.unwrap();
    assert_eq!(st.new_vmid, Some(310));
    assert!(st.vm_task.is_none() && st.restore.is_empty(), "{st:?}");
    let inv = h.inventory().await;
    assert_running(&inv, 310);
    assert_eq!(pve_events_for(&inv, 310), ["create", "start"]);
    let cfg = &vm(&inv, 310).unwrap()["config"];
    assert_eq!(cfg["name"], "web01-boot");
    let files = volume_files(&inv, "pve_images");
    assert_eq!(st.disks.len(), 2, "both ONTAP disks of VM 100");
    for d in &st.disks {
        let volid = cfg[d.drive.as_str()].as_str().unwrap_or_default();
        let file = d.clone_path.rsplit('/').next().unwrap();
        assert!(
            volid.starts_with(&format!("ONTAP01:310/{file}")),
            "{}: {volid}",
            d.drive
        );
        assert!(has_file(&inv, "pve_images", &d.clone_path), "{files:?}");
    }
    assert_eq!(power_of(&inv, 100).0, "running", "the source runs on");

    let blocked = h
        .delete_and_wait_blocked::<VmDiskClone>("boot", "VmRunning")
        .await;
    let message = blocked.status.unwrap().message.unwrap_or_default();
    assert!(message.contains("310"), "{message}");
    let inv = h.inventory().await;
    assert!(vm(&inv, 310).is_some(), "a running VM is never deleted");
    assert_eq!(
        volume_files(&inv, "pve_images"),
        files,
        "its disks stay while it runs"
    );

    h.pve_call(
        reqwest::Method::POST,
        "/nodes/pve1/qemu/310/status/stop",
        &[],
    )
    .await;
    h.wait_gone::<VmDiskClone>("boot").await;
    let after = h.inventory().await;
    assert!(vm(&after, 310).is_none(), "VM 310 removed");
    // Its disk files removed with it.
    assert_unchanged(
        &before,
        &after,
        &[Unchanged::Files("pve_images"), Unchanged::VmConfig(100)],
    );
    h.finish().await;
}
