//! VmDiskClone against the real apiserver and the simulator over HTTPS, with the controller running as the
//! chart's ServiceAccount.

mod controller_support;

use controller_support::Unchanged::{Files, VmConfig, VmEvents, VmPending};
use controller_support::*;
use pve_ontap_controller::api::common::{VmRestoreAction, VmTaskStep};
use pve_ontap_controller::api::vm_disk_clone::VmConsistency;
use pve_ontap_controller::api::{Phase, VmDiskClone};
use serde_json::{json, Value};
use std::time::Duration;

fn vm100(inv: &Value) -> Value {
    vm(inv, 100).expect("VM 100").clone()
}

/// A VmDiskClone of VM 100 on the harness's Proxmox backend.
fn disk_clone(h: &Harness, name: &str) -> VmDiskCloneBuilder {
    VmDiskCloneBuilder::new(&h.pve_name, name)
}

/// A Suspend clone of VM 100's scsi0.
fn suspend_scsi0(h: &Harness, name: &str) -> Value {
    disk_clone(h, name)
        .consistency("Suspend")
        .disks(&["scsi0"])
        .build()
}

/// Whether the copy at `path` is among the files of `pve_images`.
fn copied(inv: &Value, path: &str) -> bool {
    has_file(inv, "pve_images", path)
}

/// The default path: FsFreeze, copies registered as unusedN (pending on the running VM), deletion restores the
/// starting inventory exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_with_fsfreeze_then_delete_restores_inventory() {
    let h = Harness::start("vdc-freeze").await;
    let before = h.inventory().await;

    let st = h
        .create_ready::<VmDiskClone>(disk_clone(&h, "web").consistency("FsFreeze").build())
        .await
        .status
        .unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::FsFreeze));
    assert_eq!(st.node.as_deref(), Some("pve1"));
    let drives: Vec<_> = st.disks.iter().map(|d| d.drive.as_str()).collect();
    assert_eq!(
        drives,
        ["scsi0", "scsi1"],
        "cdrom skipped, both ONTAP disks copied"
    );
    assert!(st.restore.is_empty(), "no VM state left to restore");

    let inv = h.inventory().await;
    let files = volume_files(&inv, "pve_images");
    for d in &st.disks {
        assert_eq!(d.ontap_volume.as_deref(), Some("pve_images"));
        assert!(
            d.clone_path.starts_with("images/100/vm-100-"),
            "{}",
            d.clone_path
        );
        assert!(
            copied(&inv, &d.clone_path),
            "{} missing in {files:?}",
            d.clone_path
        );
        let key = d.config_key.clone().expect("registered");
        assert!(key.starts_with("unused"));
        // The VM runs, so Proxmox keeps the new unusedN as a pending change.
        assert!(d.pending, "{key} should be pending on a running VM");
        let vm = vm100(&inv);
        let pending = vm["pending"][&key]
            .as_str()
            .or(vm["config"][&key].as_str())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(Some(pending.as_str()), d.clone_volume_id.as_deref());
    }
    let vm = vm100(&inv);
    assert_eq!(vm["status"], "running");
    assert_eq!(vm["qmpstatus"], "running");
    assert_eq!(vm["frozen"], false);
    let events = pve_events_for(&inv, 100);
    let freeze = events
        .iter()
        .position(|k| k == "freeze")
        .expect("freeze seen");
    let thaw = events.iter().position(|k| k == "thaw").expect("thaw seen");
    assert!(freeze < thaw, "{events:?}");
    assert!(
        st.message
            .as_deref()
            .unwrap_or_default()
            .contains("pending"),
        "{:?}",
        st.message
    );

    let after = h
        .delete_and_assert_unchanged::<VmDiskClone>(
            "web",
            &before,
            &[Files("pve_images"), VmConfig(100), VmPending(100)],
        )
        .await;
    assert_eq!(vm100(&after)["status"], "running");
    h.finish().await;
}

/// Suspend pauses and always resumes; the simulator's log shows both, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_pauses_and_resumes() {
    let h = Harness::start("vdc-suspend").await;
    let st = h
        .create_ready::<VmDiskClone>(
            disk_clone(&h, "s")
                .consistency("Suspend")
                .disks(&["scsi1"])
                .build(),
        )
        .await
        .status
        .unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::Suspend));
    assert_eq!(st.disks.len(), 1);
    let inv = h.inventory().await;
    let events = pve_events_for(&inv, 100);
    let s = events
        .iter()
        .position(|k| k == "suspend")
        .expect("suspend seen");
    let r = events
        .iter()
        .position(|k| k == "resume")
        .expect("resume seen");
    assert!(s < r, "{events:?}");
    assert_running(&inv, 100);
    // Backend calls are counted by route template; the VM paused for the window counts as restored again.
    let text = h.metrics.encode().expect("metrics");
    assert!(
        text.contains(r#"pveontap_backend_requests_total{backend="ontap",method="POST",endpoint="/api/storage/file/clone",outcome="ok"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"pveontap_backend_requests_total{backend="proxmox",method="POST",endpoint="/api2/json/nodes/{node}/qemu/{vmid}/status/suspend",outcome="ok"}"#),
        "{text}"
    );
    assert!(
        !text.contains("/qemu/100/"),
        "concrete paths must not become labels: {text}"
    );
    h.delete_and_wait::<VmDiskClone>("s").await;
    // Written after the resume's status write, which precedes the deletion.
    let text = h.metrics.encode().expect("metrics");
    assert!(
        text.contains(r#"pveontap_vms_disturbed{state="paused"} 0"#),
        "{text}"
    );
    h.finish().await;
}

/// Retain keeps the copies and their registration when the object goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_keeps_copies() {
    let h = Harness::start("vdc-retain").await;
    let st = h
        .create_ready::<VmDiskClone>(
            disk_clone(&h, "keep")
                .deletion_policy("Retain")
                .disks(&["scsi0"])
                .build(),
        )
        .await
        .status
        .unwrap();
    h.delete_and_wait::<VmDiskClone>("keep").await;
    let inv = h.inventory().await;
    assert!(
        copied(&inv, &st.disks[0].clone_path),
        "{:?}",
        volume_files(&inv, "pve_images")
    );
    let key = st.disks[0].config_key.clone().unwrap();
    let vm = vm100(&inv);
    assert!(
        vm["pending"][&key].is_string() || vm["config"][&key].is_string(),
        "{vm}"
    );
    h.finish().await;
}

/// A backend that does not allow the namespace: Failed with a clear reason, nothing touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_namespace_fails_without_touching_anything() {
    let h = Harness::start_with(
        "vdc-forbidden",
        Options {
            allowed_namespaces: Some(vec!["somewhere-else".into()]),
            ..Default::default()
        },
    )
    .await;
    let before = h.inventory().await;
    let obj = h
        .create_phase::<VmDiskClone>(
            disk_clone(&h, "nope").consistency("Suspend").build(),
            Phase::Failed,
        )
        .await;
    let st = obj.status.unwrap();
    let ready = condition(&st.conditions, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "NamespaceForbidden");
    assert!(
        ready.message.contains("allowedNamespaces"),
        "{}",
        ready.message
    );
    assert_unchanged(
        &before,
        &h.inventory().await,
        &[Files("pve_images"), VmEvents(100)],
    );
    // Deletion of a Failed object that never made anything is not blocked.
    h.delete_and_wait::<VmDiskClone>("nope").await;
    h.finish().await;
}

/// A listed disk that is not on ONTAP is a clear, permanent error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdrom_listed_is_a_clear_error() {
    let h = Harness::start("vdc-cdrom").await;
    let msg = message_of(
        &h.create_phase::<VmDiskClone>(
            disk_clone(&h, "cd").disks(&["ide2"]).build(),
            Phase::Failed,
        )
        .await,
    );
    assert!(msg.contains("ide2") && msg.contains("CD-ROM"), "{msg}");
    h.delete_and_wait::<VmDiskClone>("cd").await;
    h.finish().await;
}

/// NewVm: a new VM with the copies, fresh MAC, own name; deletion removes it (stopped) and its files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_vm_is_created_and_removed() {
    let h = Harness::start("vdc-newvm").await;
    let before = h.inventory().await;
    let copy = disk_clone(&h, "copy")
        .attach("NewVm")
        .new_vm(200, "web01-copy")
        .consistency("Suspend");
    let st = h
        .create_ready::<VmDiskClone>(copy.build())
        .await
        .status
        .unwrap();
    assert_eq!(st.new_vmid, Some(200));
    let inv = h.inventory().await;
    let vm200 = vm(&inv, 200).expect("VM 200 created").clone();
    assert_eq!(vm200["status"], "stopped");
    let cfg = &vm200["config"];
    assert_eq!(cfg["name"], "web01-copy");
    assert!(
        cfg["scsi0"]
            .as_str()
            .unwrap()
            .starts_with("ONTAP01:200/vm-200-pvo-"),
        "{cfg}"
    );
    assert!(
        cfg["scsi1"]
            .as_str()
            .unwrap()
            .starts_with("ONTAP01:200/vm-200-pvo-"),
        "{cfg}"
    );
    let src_net = vm100(&inv)["config"]["net0"].as_str().unwrap().to_owned();
    let new_net = cfg["net0"].as_str().unwrap().to_owned();
    assert_ne!(src_net, new_net, "fresh MAC");
    assert!(new_net.contains("bridge=vmbr0"));
    for d in &st.disks {
        assert!(
            d.clone_path.starts_with("images/200/vm-200-pvo-"),
            "{}",
            d.clone_path
        );
        assert!(
            copied(&inv, &d.clone_path),
            "{:?}",
            volume_files(&inv, "pve_images")
        );
    }
    assert_eq!(vm100(&inv)["status"], "running");

    let after = h
        .delete_and_assert_unchanged::<VmDiskClone>("copy", &before, &[Files("pve_images")])
        .await;
    assert!(vm(&after, 200).is_none(), "VM 200 removed");
    h.finish().await;
}

/// Hibernate and Shutdown leave the VM running again; the simulator's log shows the power cycle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hibernate_and_shutdown_leave_the_vm_running() {
    let h = Harness::start("vdc-power").await;
    for (name, mode, stop_event) in [
        ("hib", "Hibernate", "hibernate"),
        ("shut", "Shutdown", "shutdown"),
    ] {
        let obj = h
            .create_ready::<VmDiskClone>(
                disk_clone(&h, name)
                    .consistency(mode)
                    .disks(&["scsi1"])
                    .build(),
            )
            .await;
        let applied = obj.status.unwrap().consistency_applied.unwrap();
        assert_eq!(format!("{applied:?}"), mode);
        let inv = h.inventory().await;
        let events = pve_events_for(&inv, 100);
        let stop = events
            .iter()
            .rposition(|k| k == stop_event)
            .unwrap_or_else(|| panic!("{stop_event} in {events:?}"));
        assert!(
            events[stop..].iter().any(|k| k == "start" || k == "resume"),
            "{events:?}"
        );
        assert_running(&inv, 100);
        let vm = vm100(&inv);
        assert!(vm["lock"].is_null(), "{vm}");
        assert!(vm["config"]["vmstate"].is_null(), "{vm}");
        h.delete_and_wait::<VmDiskClone>(name).await;
    }
    h.finish().await;
}

/// None on a running VM copies anyway and says so with a Warning event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn none_on_running_vm_warns() {
    let h = Harness::start("vdc-none").await;
    let st = h
        .create_ready::<VmDiskClone>(
            disk_clone(&h, "raw")
                .attach("None")
                .disks(&["scsi1"])
                .build(),
        )
        .await
        .status
        .unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::None));
    assert!(
        st.disks[0].config_key.is_none(),
        "attach None registers nothing"
    );
    h.assert_event("raw", "Warning", "CrashConsistent").await;
    let inv = h.inventory().await;
    assert!(pve_events_for(&inv, 100)
        .iter()
        .all(|k| k != "freeze" && k != "suspend"));
    h.delete_and_wait::<VmDiskClone>("raw").await;
    assert!(!copied(&h.inventory().await, &st.disks[0].clone_path));
    h.finish().await;
}

/// Transient 5xx answers to the file clone are retried with backoff until the clone is Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_file_clone_errors_are_retried() {
    let h = Harness::start("vdc-5xx").await;
    h.add_fault(json!({
        "api": "ontap", "method": "POST", "route": "/api/storage/file/clone",
        "error": { "status": 503, "message": "service temporarily unavailable" },
        "count": 2
    }))
    .await;
    let obj = h
        .create_ready::<VmDiskClone>(suspend_scsi0(&h, "retry"))
        .await;
    assert!(obj.status.unwrap().disks[0].cloned);
    h.assert_event("retry", "Warning", "OntapTransient").await;
    let vm = vm100(&h.inventory().await);
    assert_eq!(
        vm["qmpstatus"], "running",
        "VM resumed after every failed attempt"
    );
    h.delete_and_wait::<VmDiskClone>("retry").await;
    h.finish().await;
}

/// A file-clone job that fails ends Failed with ONTAP's message, and the VM is running again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_clone_job_is_failed_with_ontaps_message() {
    let h = Harness::start("vdc-jobfail").await;
    h.add_fault(json!({
        "api": "ontap",
        "async_failure": { "operation": "file_clone", "code": "13565952", "message": "Clone start failed: no space" }
    }))
    .await;
    let msg = message_of(
        &h.create_phase::<VmDiskClone>(suspend_scsi0(&h, "bad"), Phase::Failed)
            .await,
    );
    assert!(msg.contains("Clone start failed: no space"), "{msg}");
    let vm = vm100(&h.inventory().await);
    assert_eq!(vm["qmpstatus"], "running");
    h.delete_and_wait::<VmDiskClone>("bad").await;
    h.finish().await;
}

/// The controller dies while the VM is paused: after a restart the VM runs again and the clone completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_suspend_and_resume_is_repaired() {
    let mut h = Harness::start("vdc-crash").await;
    // Hold the file clone long enough to kill the controller inside the window.
    h.add_fault(json!({
        "api": "ontap", "method": "POST", "route": "/api/storage/file/clone", "latency_ms": 4000, "count": 1
    }))
    .await;
    h.create_wait_for::<VmDiskClone>(suspend_scsi0(&h, "crash"), |o| {
        o.status.as_ref().is_some_and(|s| !s.restore.is_empty())
    })
    .await;
    // Wait until the VM is actually paused, then kill the controller.
    h.wait_inventory("VM 100 paused", |inv| vm100(inv)["qmpstatus"] == "paused")
        .await;
    h.kill_controller();
    assert_eq!(
        vm100(&h.inventory().await)["qmpstatus"],
        "paused",
        "the crash left the VM paused"
    );

    h.start_controller();
    let obj = h.wait_ready::<VmDiskClone>("crash").await;
    let st = obj.status.unwrap();
    assert!(st.restore.is_empty());
    assert!(st.disks[0].cloned);
    let inv = h.inventory().await;
    assert_running(&inv, 100);
    assert!(copied(&inv, &st.disks[0].clone_path));
    h.delete_and_wait::<VmDiskClone>("crash").await;
    h.finish().await;
}

/// On a stopped VM the unusedN entries apply at once (not pending); deletion removes them through Proxmox,
/// which deletes the owned copy files itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_on_stopped_vm_applies_immediately() {
    let h = Harness::start("vdc-stopped").await;
    let before = h.inventory().await;
    let st = h
        .create_ready::<VmDiskClone>(
            disk_clone(&h, "db")
                .vmid(101)
                .consistency("Shutdown")
                .build(),
        )
        .await
        .status
        .unwrap();
    assert_eq!(st.node.as_deref(), Some("pve2"));
    assert_eq!(st.disks.len(), 1);
    let d = &st.disks[0];
    assert!(!d.pending, "a stopped VM applies unusedN right away");
    let inv = h.inventory().await;
    let vm101 = vm(&inv, 101).unwrap();
    assert_eq!(
        vm101["config"][d.config_key.as_deref().unwrap()].as_str(),
        d.clone_volume_id.as_deref()
    );
    assert_eq!(vm101["status"], "stopped", "a stopped VM is not started");
    assert!(pve_events_for(&inv, 101)
        .iter()
        .all(|k| k != "shutdown" && k != "start"));

    h.delete_and_assert_unchanged::<VmDiskClone>(
        "db",
        &before,
        &[VmConfig(101), Files("pve_images")],
    )
    .await;
    h.finish().await;
}

/// A started NewVm blocks deletion with a condition until it is stopped; then it goes with its disks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_new_vm_blocks_deletion_until_stopped() {
    let h = Harness::start("vdc-newvm-run").await;
    let before = h.inventory().await;
    let run = disk_clone(&h, "run")
        .attach("NewVm")
        .new_vm(300, "copy-running")
        .start_new_vm()
        .disks(&["scsi0"]);
    h.create_ready::<VmDiskClone>(run.build()).await;
    assert_eq!(vm(&h.inventory().await, 300).unwrap()["status"], "running");

    let blocked = h
        .delete_and_wait_blocked::<VmDiskClone>("run", "VmRunning")
        .await;
    assert!(blocked
        .status
        .unwrap()
        .message
        .unwrap_or_default()
        .contains("300"));
    assert!(
        vm(&h.inventory().await, 300).is_some(),
        "a running VM is never deleted"
    );

    h.pve_call(
        reqwest::Method::POST,
        "/nodes/pve1/qemu/300/status/stop",
        &[],
    )
    .await;
    h.wait_gone::<VmDiskClone>("run").await;
    let after = h.inventory().await;
    assert!(vm(&after, 300).is_none());
    assert_unchanged(&before, &after, &[Files("pve_images")]);
    h.finish().await;
}

/// The guest agent cannot freeze: the copy is made crash-consistent and says so, unless consistency is required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_freeze_copies_crash_consistent_unless_required() {
    let h = Harness::start("vdc-quiesce").await;
    h.add_fault(json!({
        "api": "pve", "method": "POST", "route": "*/agent/fsfreeze-freeze",
        "error": { "status": 500, "message": "QEMU guest agent is not running" }
    }))
    .await;
    let before = h.inventory().await;

    let freeze_scsi1 = |name: &str| {
        disk_clone(&h, name)
            .consistency("FsFreeze")
            .disks(&["scsi1"])
    };
    let st = h
        .create_phase::<VmDiskClone>(
            freeze_scsi1("strict").require_consistency(true).build(),
            Phase::Failed,
        )
        .await
        .status
        .unwrap();
    assert!(
        st.message
            .as_deref()
            .unwrap_or_default()
            .contains("requireConsistency"),
        "{:?}",
        st.message
    );
    assert!(!st.disks[0].cloned);
    // Nothing copied.
    assert_unchanged(&before, &h.inventory().await, &[Files("pve_images")]);

    let st = h
        .create_ready::<VmDiskClone>(freeze_scsi1("lenient").build())
        .await
        .status
        .unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::None));
    let c = condition(&st.conditions, "Consistency").expect("Consistency condition");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "QuiesceFailed")
    );
    let inv = h.inventory().await;
    assert!(copied(&inv, &st.disks[0].clone_path));
    assert_eq!(vm100(&inv)["frozen"], false);
    h.delete_and_wait::<VmDiskClone>("strict").await;
    h.delete_and_wait::<VmDiskClone>("lenient").await;
    h.finish().await;
}

/// Two objects pausing the same VM at once: the per-VM lock keeps their windows apart (suspend/resume pairs
/// never interleave), and both complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_on_one_vm_never_interleave() {
    let h = Harness::start("vdc-parallel").await;
    for (name, disk) in [("a", "scsi0"), ("b", "scsi1")] {
        h.create::<VmDiskClone>(
            disk_clone(&h, name)
                .consistency("Suspend")
                .disks(&[disk])
                .build(),
        )
        .await;
    }
    h.wait_ready::<VmDiskClone>("a").await;
    h.wait_ready::<VmDiskClone>("b").await;
    let inv = h.inventory().await;
    let power = pause_events(&inv, 100);
    assert_eq!(
        power,
        ["suspend", "resume", "suspend", "resume"],
        "{power:?}"
    );
    assert_eq!(vm100(&inv)["qmpstatus"], "running");
    h.finish().await;
}

fn task_step(o: &VmDiskClone) -> Option<VmTaskStep> {
    o.status.as_ref()?.vm_task.as_ref().map(|t| t.step)
}

/// A clean shutdown (and the start after it) taking longer than a reconcile waits for a task: the reconcile
/// records the task in status and returns; later reconciles observe it, copy, start the VM again and finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_shutdown_is_followed_across_reconciles() {
    let h = Harness::start_with(
        "vdc-slow",
        slow_pve(&[("qmshutdown", 10_000), ("qmstart", 7_000)]),
    )
    .await;
    h.create::<VmDiskClone>(
        disk_clone(&h, "slow")
            .consistency("Shutdown")
            .disks(&["scsi1"])
            .build(),
    )
    .await;

    // The message is written only when a reconcile returns with the task still running.
    let obj = h
        .wait_for::<VmDiskClone>("slow", |o| {
            task_step(o) == Some(VmTaskStep::Quiesce)
                && o.status.as_ref().is_some_and(|s| {
                    s.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("waiting for Proxmox task"))
                })
        })
        .await;
    let st = obj.status.unwrap();
    assert_eq!(st.phase, Phase::InProgress);
    let task = st.vm_task.clone().unwrap();
    assert!(task.upid.contains(":qmshutdown:100:"), "{task:?}");
    // The undo was recorded before the shutdown was started.
    assert_eq!(st.restore.len(), 1, "{:?}", st.restore);
    assert_eq!(st.restore[0].action, VmRestoreAction::Start);
    // Counted since the undo's status write, which came before the write of this message.
    let text = h.metrics.encode().expect("metrics");
    assert!(
        text.contains(r#"pveontap_vms_disturbed{state="stopped"} 1"#),
        "{text}"
    );
    assert!(
        !st.disks[0].cloned,
        "nothing is copied before the VM is down"
    );

    // The start after the copy is followed the same way.
    let obj = h
        .wait_for::<VmDiskClone>("slow", |o| task_step(o) == Some(VmTaskStep::Restore))
        .await;
    let st = obj.status.unwrap();
    assert!(st.vm_task.unwrap().upid.contains(":qmstart:100:"));
    assert!(st.disks[0].cloned, "copied while the VM was down");
    assert_eq!(
        st.restore.len(),
        1,
        "the undo stays recorded until the VM runs"
    );

    let obj = h.wait_ready::<VmDiskClone>("slow").await;
    let st = obj.status.unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::Shutdown));
    assert!(st.restore.is_empty() && st.vm_task.is_none(), "{st:?}");
    let inv = h.inventory().await;
    assert_running(&inv, 100);
    let events = pve_events_for(&inv, 100);
    let stop = events
        .iter()
        .rposition(|k| k == "shutdown")
        .unwrap_or_else(|| panic!("shutdown in {events:?}"));
    assert!(events[stop..].iter().any(|k| k == "start"), "{events:?}");
    assert!(copied(&inv, &st.disks[0].clone_path));
    h.delete_and_wait::<VmDiskClone>("slow").await;
    h.finish().await;
}

/// A pause that keeps failing is tried again with growing delays, not at once by the watch event of the status
/// write that reported the last failure: the VM is disturbed a few times, not continuously, and stays running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_suspend_backs_off() {
    let h = Harness::start("vdc-pauseloop").await;
    h.add_fault(json!({
        "api": "pve", "async_failure": { "operation": "qmpause", "message": "pause failed: injected" }
    }))
    .await;
    let obj = h
        .create_wait_for::<VmDiskClone>(suspend_scsi0(&h, "pauseloop"), |o| {
            o.status.as_ref().is_some_and(|s| {
                s.message
                    .as_deref()
                    .is_some_and(|m| m.contains("pause failed: injected"))
            })
        })
        .await;
    assert_eq!(
        obj.status.unwrap().phase,
        Phase::InProgress,
        "a failed task is retried"
    );
    // The harness backs off from 200 ms doubling to 3 s (±20 %): after the first failure, retries at about
    // 0.2, 0.6, 1.4, 3 and 6 s, so at most 6 pauses by then, 8 allowing for slack. Without the hold each
    // failure's status write starts the next pause at once (23 in a measured run).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let inv = h.inventory().await;
    let pauses = inv["pve"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "qmpause")
        .count();
    assert!((2..=8).contains(&pauses), "{pauses} pause attempts");
    assert_running(&inv, 100);
    h.assert_event("pauseloop", "Warning", "ProxmoxTaskFailed")
        .await;
    h.delete_and_wait::<VmDiskClone>("pauseloop").await;
    assert_running(&h.inventory().await, 100);
    h.finish().await;
}

/// A slow suspend that fails in the end: the failure is reported with Proxmox's exit status, the VM is left
/// running, and the retry (the fault fires once) completes the copy in a fresh window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_failing_suspend_restores_and_reports() {
    let h = Harness::start_with("vdc-slowfail", slow_pve(&[("qmpause", 6_000)])).await;
    h.add_fault(json!({
        "api": "pve", "async_failure": { "operation": "qmpause", "message": "pause failed: injected" }, "count": 1
    }))
    .await;
    h.create_wait_for::<VmDiskClone>(suspend_scsi0(&h, "slowfail"), |o| {
        task_step(o) == Some(VmTaskStep::Quiesce)
    })
    .await;
    let obj = h.wait_ready::<VmDiskClone>("slowfail").await;
    let st = obj.status.unwrap();
    assert_eq!(st.consistency_applied, Some(VmConsistency::Suspend));
    assert!(st.restore.is_empty() && st.vm_task.is_none(), "{st:?}");
    h.assert_event("slowfail", "Warning", "ProxmoxTaskFailed")
        .await;
    let inv = h.inventory().await;
    let failed: Vec<_> = inv["pve"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "qmpause" && t["exitstatus"] == "pause failed: injected")
        .collect();
    assert_eq!(failed.len(), 1, "{}", inv["pve"]["tasks"]);
    assert_eq!(vm100(&inv)["qmpstatus"], "running");
    assert!(copied(&inv, &st.disks[0].clone_path));
    h.delete_and_wait::<VmDiskClone>("slowfail").await;
    h.finish().await;
}
