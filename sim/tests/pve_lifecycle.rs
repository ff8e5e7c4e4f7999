//! Conformance of VM lifecycle operations of the simulated Proxmox VE API: power tasks, pause/hibernate/resume,
//! VM locks, the guest agent's fsfreeze, create/destroy, and the one world shared with ONTAP.

mod pve_common;

use std::time::Duration;

use pve_common::PveSim;
use pve_ontap_sim::pve::scenario::VmScenario;
use pve_ontap_sim::Scenario;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn status_current_shape() {
    let pve = PveSim::start().await;
    let s = pve.vm_status("pve1", 100).await;
    assert_eq!(s["vmid"], 100);
    assert_eq!(s["status"], "running");
    assert_eq!(s["qmpstatus"], "running");
    assert_eq!(s["name"], "web01");
    assert_eq!(s["agent"], 1);
    assert_eq!(s["maxmem"], 4096u64 << 20);
    assert!(s["pid"].as_u64().is_some());
    assert!(s.get("lock").is_none());
    let s = pve.vm_status("pve2", 101).await;
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["qmpstatus"], "stopped");
    assert!(s.get("pid").is_none());
}

#[tokio::test]
async fn power_cycle_through_tasks() {
    let pve = PveSim::start().await;
    let upid = pve
        .post("/nodes/pve2/qemu/101/status/start", &[])
        .await
        .upid();
    // While the task runs, the VM has not started yet; afterwards it has.
    let st = pve.wait_task(&upid).await;
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["exitstatus"], "OK");
    assert_eq!(pve.vm_status("pve2", 101).await["status"], "running");

    pve.run_ok(
        "/nodes/pve2/qemu/101/status/shutdown",
        &[("timeout", "30"), ("forceStop", "1")],
    )
    .await;
    assert_eq!(pve.vm_status("pve2", 101).await["status"], "stopped");
    // Shutting down a stopped VM is a successful no-op, like PVE.
    pve.run_ok("/nodes/pve2/qemu/101/status/shutdown", &[])
        .await;
    for action in ["reboot", "suspend", "resume"] {
        pve.post(&format!("/nodes/pve2/qemu/101/status/{action}"), &[])
            .await
            .fails(500, "VM 101 not running");
    }
    pve.post("/nodes/pve2/qemu/101/status/start", &[("forceStop", "1")])
        .await
        .fails(400, "Parameter verification failed.");

    pve.assert_pve_events(&["start", "shutdown"]).await;
}

#[tokio::test]
async fn pause_and_resume() {
    let pve = PveSim::start().await;
    let exit = pve
        .run_task("/nodes/pve1/qemu/100/status/suspend", &[])
        .await;
    assert_eq!(exit, "OK");
    let s = pve.vm_status("pve1", 100).await;
    assert_eq!(
        s["status"], "running",
        "a paused VM still has its QEMU process"
    );
    assert_eq!(s["qmpstatus"], "paused");
    pve.post("/nodes/pve1/qemu/100/status/shutdown", &[])
        .await
        .fails(500, "VM is paused - cannot shutdown");
    pve.run_ok("/nodes/pve1/qemu/100/status/resume", &[]).await;
    assert_eq!(pve.vm_status("pve1", 100).await["qmpstatus"], "running");
}

#[tokio::test]
async fn hibernate_and_resume_from_disk() {
    let pve = PveSim::start().await;
    let upid = pve
        .post("/nodes/pve1/qemu/100/status/suspend", &[("todisk", "1")])
        .await
        .upid();
    assert!(upid.contains(":qmsuspend:100:"));
    // While the state is being written the VM carries the `suspending` lock and config changes are refused.
    let during = pve
        .put(
            "/nodes/pve1/qemu/100/config",
            &[("description", "x"), ("skiplock", "0")],
        )
        .await;
    let st = pve.wait_task(&upid).await;
    assert_eq!(st["exitstatus"], "OK");
    // The write waited for the worker's config lock, then found the `suspended` lock.
    during.fails(500, "VM is locked (suspend");

    let s = pve.vm_status("pve1", 100).await;
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["lock"], "suspended");
    let c = pve.config("pve1", 100).await;
    let vmstate = c["vmstate"].as_str().unwrap().to_string();
    let date = chrono::Local::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        vmstate,
        format!("ONTAP01:100/vm-100-state-suspend-{date}.raw")
    );
    assert_eq!(c["lock"], "suspended");
    assert!(c["runningmachine"].is_string());
    assert!(
        pve.images("ONTAP01", 100).await.contains(&vmstate),
        "the state volume lives on the shared storage"
    );
    pve.put("/nodes/pve1/qemu/100/config", &[("description", "y")])
        .await
        .fails(500, "VM is locked (suspended)");
    let vms = pve.get_q("/cluster/resources", &[("type", "vm")]).await;
    let web = vms
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vmid"] == 100)
        .unwrap()
        .clone();
    assert_eq!(web["status"], "stopped");
    assert_eq!(web["lock"], "suspended");

    // Resume starts from the saved state and removes it.
    pve.run_ok("/nodes/pve1/qemu/100/status/resume", &[]).await;
    let s = pve.vm_status("pve1", 100).await;
    assert_eq!(s["status"], "running");
    assert!(s.get("lock").is_none());
    let c = pve.config("pve1", 100).await;
    assert!(c.get("vmstate").is_none() && c.get("lock").is_none());
    assert!(!pve.images("ONTAP01", 100).await.contains(&vmstate));
}

#[tokio::test]
async fn start_resumes_a_hibernated_vm_and_vmstate_delete_discards_it() {
    let pve = PveSim::start().await;
    pve.run_ok("/nodes/pve1/qemu/100/status/suspend", &[("todisk", "1")])
        .await;
    // Pending changes are kept through a resume from hibernation.
    pve.run_ok("/nodes/pve1/qemu/100/status/start", &[]).await;
    assert_eq!(pve.vm_status("pve1", 100).await["status"], "running");
    assert!(pve.config("pve1", 100).await.get("lock").is_none());

    pve.run_ok("/nodes/pve1/qemu/100/status/suspend", &[("todisk", "1")])
        .await;
    let vmstate = pve.config("pve1", 100).await["vmstate"]
        .as_str()
        .unwrap()
        .to_string();
    pve.put("/nodes/pve1/qemu/100/config", &[("delete", "vmstate")])
        .await
        .ok();
    let c = pve.config("pve1", 100).await;
    assert!(c.get("lock").is_none() && c.get("vmstate").is_none());
    assert!(!pve.images("ONTAP01", 100).await.contains(&vmstate));
}

#[tokio::test]
async fn failed_hibernation_leaves_the_suspending_lock() {
    let pve = PveSim::start().await;
    pve.hook(Method::POST, "/_sim/faults", Some(json!({"api": "pve", "async_failure": {"operation": "qmsuspend", "message": "savevm failed"}})))
        .await;
    assert_eq!(
        pve.run_task("/nodes/pve1/qemu/100/status/suspend", &[("todisk", "1")])
            .await,
        "savevm failed"
    );
    let c = pve.config("pve1", 100).await;
    assert_eq!(c["lock"], "suspending");
    assert!(c.get("vmstate").is_none());
    assert!(pve
        .images("ONTAP01", 100)
        .await
        .iter()
        .all(|v| !v.contains("state")));
    // The lock blocks further work until root clears it.
    pve.post("/nodes/pve1/qemu/100/status/suspend", &[("todisk", "1")])
        .await
        .ok();
}

#[tokio::test]
async fn guest_agent_fsfreeze() {
    let mut scenario = Scenario::default_scenario();
    scenario.pve.vms.push(VmScenario {
        vmid: 102,
        node: "pve1".into(),
        status: pve_ontap_sim::pve::scenario::PowerState::Running,
        agent_running: false,
        freeze_error: None,
        config: [
            ("name".to_string(), json!("noagent")),
            (
                "agent".to_string(),
                json!("enabled=1,fstrim_cloned_disks=1"),
            ),
        ]
        .into(),
    });
    scenario.pve.vms.push(VmScenario {
        vmid: 103,
        node: "pve1".into(),
        status: pve_ontap_sim::pve::scenario::PowerState::Running,
        agent_running: true,
        freeze_error: Some("guest-fsfreeze-freeze timed out".into()),
        config: [("agent".to_string(), json!(1))].into(),
    });
    let pve = PveSim::start_with(scenario).await;
    let base = "/nodes/pve1/qemu/100/agent";
    assert_eq!(
        pve.post(&format!("{base}/fsfreeze-status"), &[]).await.ok(),
        &json!({"result": "thawed"})
    );
    assert_eq!(
        pve.post(&format!("{base}/fsfreeze-freeze"), &[]).await.ok(),
        &json!({"result": 2})
    );
    assert_eq!(
        pve.post(&format!("{base}/fsfreeze-status"), &[]).await.ok(),
        &json!({"result": "frozen"})
    );
    let inv = pve.inventory().await;
    assert_eq!(inv["pve"]["frozen_filesystems"], json!([100]));
    pve.post(&format!("{base}/fsfreeze-freeze"), &[])
        .await
        .fails(500, "frozen state");
    assert_eq!(
        pve.post(&format!("{base}/fsfreeze-thaw"), &[]).await.ok(),
        &json!({"result": 2})
    );
    assert_eq!(
        pve.post(&format!("{base}/fsfreeze-status"), &[]).await.ok(),
        &json!({"result": "thawed"})
    );
    // The legacy form with `command`.
    assert_eq!(
        pve.post(
            "/nodes/pve1/qemu/100/agent",
            &[("command", "fsfreeze-status")]
        )
        .await
        .ok()["result"],
        "thawed"
    );
    // fsfreeze-status is POST only.
    pve.get(&format!("{base}/fsfreeze-status"))
        .await
        .fails(501, "not implemented");

    for (vm, text) in [
        ("pve2/qemu/101", "VM 101 is not running"),
        ("pve1/qemu/102", "QEMU guest agent is not running"),
        ("pve1/qemu/103", "guest-fsfreeze-freeze timed out"),
    ] {
        pve.post(&format!("/nodes/{vm}/agent/fsfreeze-freeze"), &[])
            .await
            .fails(500, text);
    }
    pve.put("/nodes/pve1/qemu/102/config", &[("delete", "agent")])
        .await
        .ok();
    // `agent` is not hot-pluggable: still configured until the next cold start.
    pve.post("/nodes/pve1/qemu/102/agent/fsfreeze-freeze", &[])
        .await
        .fails(500, "QEMU guest agent is not running");
    pve.run_task("/nodes/pve1/qemu/102/status/stop", &[]).await;
    pve.run_task("/nodes/pve1/qemu/102/status/start", &[]).await;
    pve.post("/nodes/pve1/qemu/102/agent/fsfreeze-freeze", &[])
        .await
        .fails(500, "No QEMU guest agent configured");

    pve.assert_pve_events(&["freeze", "thaw"]).await;
}

#[tokio::test]
async fn create_attach_and_destroy() {
    let pve = PveSim::start().await;
    // VM 200 gets a new disk and an existing volume owned by VM 101.
    let upid = pve
        .post(
            "/nodes/pve2/qemu",
            &[
                ("vmid", "200"),
                ("name", "clone01"),
                ("memory", "2048"),
                ("cores", "2"),
                ("net0", "virtio,bridge=vmbr0"),
                ("scsi0", "ONTAP01:4,format=qcow2"),
                ("scsi1", "ONTAP01:101/vm-101-disk-0.raw"),
                ("ide2", "none,media=cdrom"),
            ],
        )
        .await
        .upid();
    assert!(upid.contains(":qmcreate:200:"));
    pve.post("/nodes/pve2/qemu", &[("vmid", "200")])
        .await
        .fails(500, "VM 200 already exists on node 'pve2'");
    assert_eq!(pve.wait_task(&upid).await["exitstatus"], "OK");
    let c = pve.config("pve2", 200).await;
    assert_eq!(c["scsi0"], "ONTAP01:200/vm-200-disk-0.qcow2,size=4G");
    assert_eq!(c["scsi1"], "ONTAP01:101/vm-101-disk-0.raw,size=16G");
    assert!(c["net0"].as_str().unwrap().starts_with("virtio=BC:24:11:"));
    assert!(c["smbios1"].as_str().unwrap().starts_with("uuid="));
    assert!(c.get("lock").is_none());

    // Create fails inside the task for a missing volume, and leaves nothing behind.
    let bad = pve
        .post(
            "/nodes/pve1/qemu",
            &[("vmid", "201"), ("scsi0", "ONTAP01:201/vm-201-disk-0.raw")],
        )
        .await
        .upid();
    let st = pve.wait_task(&bad).await;
    assert!(
        st["exitstatus"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{st}"
    );
    pve.get("/nodes/pve1/qemu/201/config")
        .await
        .fails(500, "does not exist");

    // Destroy: a running VM cannot be destroyed (in-task error); a stopped one loses its own disks only.
    pve.run_task("/nodes/pve2/qemu/200/status/start", &[]).await;
    assert_eq!(
        pve.run_task_delete("/nodes/pve2/qemu/200").await,
        "VM 200 is running - destroy failed"
    );
    pve.run_task("/nodes/pve2/qemu/200/status/stop", &[]).await;
    assert_eq!(pve.run_task_delete("/nodes/pve2/qemu/200").await, "OK");
    pve.get("/nodes/pve2/qemu/200/config")
        .await
        .fails(500, "does not exist");
    assert!(pve.images("ONTAP01", 200).await.is_empty());
    assert_eq!(
        pve.images("ONTAP01", 101).await,
        vec!["ONTAP01:101/vm-101-disk-0.raw".to_string()]
    );
}

#[tokio::test]
async fn destroy_unreferenced_disks() {
    let pve = PveSim::start().await;
    // An owned file that the config does not reference.
    let alloc = pve
        .post(
            "/nodes/pve2/storage/ONTAP01/content",
            &[
                ("vmid", "101"),
                ("filename", "vm-101-disk-5.raw"),
                ("size", "1G"),
            ],
        )
        .await;
    assert_eq!(alloc.ok(), "ONTAP01:101/vm-101-disk-5.raw");
    let upid = pve
        .delete(
            "/nodes/pve2/qemu/101",
            &[("destroy-unreferenced-disks", "1"), ("purge", "1")],
        )
        .await
        .upid();
    assert_eq!(pve.wait_task(&upid).await["exitstatus"], "OK");
    assert!(pve.images("ONTAP01", 101).await.is_empty());
}

#[tokio::test]
async fn config_changes_wait_for_a_running_task_and_async_config() {
    let pve = PveSim::start().await;
    // POST config runs as a qmconfig task.
    let upid = pve
        .post("/nodes/pve2/qemu/101/config", &[("description", "async")])
        .await
        .upid();
    assert!(upid.contains(":qmconfig:101:"));
    assert_eq!(pve.wait_task(&upid).await["exitstatus"], "OK");
    assert_eq!(pve.config("pve2", 101).await["description"], "async");
    // A stale digest fails inside the task.
    let upid = pve
        .post(
            "/nodes/pve2/qemu/101/config",
            &[("description", "x"), ("digest", "0000")],
        )
        .await
        .upid();
    assert_eq!(
        pve.wait_task(&upid).await["exitstatus"],
        "checksum mismatch (file change by other user?)"
    );
    // With background_delay the call waits and answers null.
    assert_eq!(
        pve.post(
            "/nodes/pve2/qemu/101/config",
            &[("description", "bg"), ("background_delay", "5")]
        )
        .await
        .ok(),
        &Value::Null
    );

    // A synchronous write during a start task waits for it and then succeeds.
    let upid = pve
        .post("/nodes/pve2/qemu/101/status/start", &[])
        .await
        .upid();
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[("description", "after start")],
    )
    .await
    .ok();
    let st = pve
        .get(&format!(
            "/nodes/pve2/tasks/{}/status",
            url::form_urlencoded::byte_serialize(upid.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(
        st.ok()["status"],
        "stopped",
        "the write ran after the task released the VM"
    );
}

#[tokio::test]
async fn config_lock_timeout_and_task_stop() {
    let mut scenario = Scenario::default_scenario();
    // Long enough that the write below always meets the running task.
    scenario.timings.pve.tasks.insert("qmstart".into(), 600_000);
    scenario.timings.pve.config_lock_wait_ms = 100;
    let pve = PveSim::start_with(scenario).await;
    let upid = pve
        .post("/nodes/pve2/qemu/101/status/start", &[])
        .await
        .upid();
    pve.put("/nodes/pve2/qemu/101/config", &[("description", "x")])
        .await
        .fails(
            500,
            "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout",
        );
    // Stopping the worker ends it with `unexpected status`; its work never happens.
    let path = format!(
        "/nodes/pve2/tasks/{}",
        url::form_urlencoded::byte_serialize(upid.as_bytes()).collect::<String>()
    );
    assert_eq!(pve.delete(&path, &[]).await.ok(), &Value::Null);
    assert_eq!(
        pve.wait_task(&upid).await["exitstatus"],
        "unexpected status"
    );
    assert_eq!(pve.vm_status("pve2", 101).await["status"], "stopped");
    pve.put("/nodes/pve2/qemu/101/config", &[("description", "x")])
        .await
        .ok();
}

#[tokio::test]
async fn tasks_on_one_vm_run_in_order() {
    let pve = PveSim::start().await;
    // The second start queues behind the first (the VM's lock) and then finds the VM running.
    let first = pve
        .post("/nodes/pve2/qemu/101/status/start", &[])
        .await
        .upid();
    let second = pve
        .post("/nodes/pve2/qemu/101/status/start", &[])
        .await
        .upid();
    let stop = pve
        .post("/nodes/pve2/qemu/101/status/stop", &[])
        .await
        .upid();
    assert_eq!(
        pve.wait_task(&second).await["exitstatus"],
        "VM 101 already running"
    );
    assert_eq!(pve.wait_task(&first).await["exitstatus"], "OK");
    assert_eq!(pve.wait_task(&stop).await["exitstatus"], "OK");
    assert_eq!(pve.vm_status("pve2", 101).await["status"], "stopped");
}

#[tokio::test]
async fn ontap_file_clone_shows_up_in_storage_content() {
    let pve = PveSim::start().await;
    let ontap = format!("https://localhost:{}", pve.running.ontap_addr().port());
    let c = &pve.client;
    let vols: Value = c
        .get(format!("{ontap}/api/storage/volumes?name=pve_images"))
        .basic_auth("admin", Some("netapp123"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uuid = vols["records"][0]["uuid"]
        .as_str()
        .expect("pve_images exists")
        .to_string();
    let mkdir = c
        .post(format!(
            "{ontap}/api/storage/volumes/{uuid}/files/images%2F300"
        ))
        .basic_auth("admin", Some("netapp123"))
        .json(&json!({"type": "directory", "unix_permissions": "755"}))
        .send()
        .await
        .unwrap();
    assert!(mkdir.status().is_success(), "{:?}", mkdir.text().await);
    let clone: Value = c
        .post(format!("{ontap}/api/storage/file/clone"))
        .basic_auth("admin", Some("netapp123"))
        .json(&json!({
            "volume": {"uuid": uuid},
            "source_path": "images/100/vm-100-disk-0.qcow2",
            "destination_path": "images/300/vm-300-disk-0.qcow2",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job = clone["job"]["uuid"].as_str().expect("a job").to_string();
    for _ in 0..200 {
        let j: Value = c
            .get(format!("{ontap}/api/cluster/jobs/{job}"))
            .basic_auth("admin", Some("netapp123"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if j["state"] == "success" {
            break;
        }
        assert_ne!(j["state"], "failure", "{j}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        pve.images("ONTAP01", 300).await,
        vec!["ONTAP01:300/vm-300-disk-0.qcow2".to_string()]
    );
    // And a new VM can use it.
    let upid = pve
        .post(
            "/nodes/pve1/qemu",
            &[
                ("vmid", "300"),
                ("scsi0", "ONTAP01:300/vm-300-disk-0.qcow2"),
            ],
        )
        .await
        .upid();
    assert_eq!(pve.wait_task(&upid).await["exitstatus"], "OK");
    assert_eq!(
        pve.config("pve1", 300).await["scsi0"],
        "ONTAP01:300/vm-300-disk-0.qcow2,size=32G"
    );
}

#[tokio::test]
async fn restart_with_state_keeps_vms_tasks_and_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (ticket, upid) = {
        let pve = PveSim::start_persistent(&state).await;
        pve.run_ok("/nodes/pve1/qemu/100/status/suspend", &[("todisk", "1")])
            .await;
        pve.put(
            "/nodes/pve2/qemu/101/config",
            &[("description", "persisted")],
        )
        .await
        .ok();
        let (ticket, _) = pve.login("root@pam", "proxmox123").await;
        // A task still running when the simulator stops finishes after the restart.
        let upid = pve
            .post("/nodes/pve2/qemu/101/status/start", &[])
            .await
            .upid();
        pve.running.shutdown().await;
        (ticket, upid)
    };
    let pve = PveSim::start_persistent(&state).await;
    let s = pve.vm_status("pve1", 100).await;
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["lock"], "suspended");
    assert_eq!(pve.config("pve2", 101).await["description"], "persisted");
    assert_eq!(pve.wait_task(&upid).await["exitstatus"], "OK");
    assert_eq!(pve.vm_status("pve2", 101).await["status"], "running");
    let auth = pve_common::Auth::Ticket { ticket, csrf: None };
    pve.call(Method::GET, "/nodes", &auth, &[]).await.ok();
}

#[tokio::test]
async fn special_drives_cloudinit_efidisk_and_stop_of_a_hibernated_vm() {
    let pve = PveSim::start().await;
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[
            ("ide0", "ONTAP01:cloudinit"),
            ("efidisk0", "ONTAP01:1,efitype=4m,pre-enrolled-keys=1"),
        ],
    )
    .await
    .ok();
    let c = pve.config("pve2", 101).await;
    assert_eq!(c["ide0"], "ONTAP01:101/vm-101-cloudinit.qcow2,media=cdrom");
    assert_eq!(
        c["efidisk0"],
        "ONTAP01:101/vm-101-disk-1.raw,efitype=4m,pre-enrolled-keys=1,size=528K"
    );
    let images = pve.images("ONTAP01", 101).await;
    assert!(
        images.contains(&"ONTAP01:101/vm-101-cloudinit.qcow2".to_string()),
        "{images:?}"
    );

    // Stopping a hibernated VM is a no-op: no QEMU process, so no lock check either.
    pve.run_ok("/nodes/pve1/qemu/100/status/suspend", &[("todisk", "1")])
        .await;
    pve.run_ok("/nodes/pve1/qemu/100/status/stop", &[]).await;
    assert_eq!(pve.vm_status("pve1", 100).await["lock"], "suspended");
    // Destroying it needs the lock gone.
    assert_eq!(
        pve.run_task_delete("/nodes/pve1/qemu/100").await,
        "VM is locked (suspended)"
    );
}

/// The uuid of the ONTAP volume `name`.
async fn volume_uuid(pve: &PveSim, name: &str) -> String {
    let vols = ontap(
        pve,
        Method::GET,
        &format!("/api/storage/volumes?name={name}"),
        None,
    )
    .await;
    vols["records"][0]["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("no volume {name}"))
        .to_string()
}

/// ONTAP REST call with basic auth; waits for the job when the answer carries one.
async fn ontap(pve: &PveSim, method: Method, path: &str, body: Option<Value>) -> Value {
    let url = format!(
        "https://localhost:{}{path}",
        pve.running.ontap_addr().port()
    );
    let mut req = pve
        .client
        .request(method, url)
        .basic_auth("admin", Some("netapp123"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if let Some(job) = answer["job"]["uuid"].as_str() {
        for _ in 0..300 {
            let j = Box::pin(ontap(
                pve,
                Method::GET,
                &format!("/api/cluster/jobs/{job}"),
                None,
            ))
            .await;
            match j["state"].as_str() {
                Some("success") => return answer,
                Some("failure") => panic!("job failed: {j}"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        panic!("job {job} did not finish");
    }
    answer
}

#[tokio::test]
async fn flexclone_added_as_storage_shows_snapshot_files() {
    let pve = PveSim::start().await;
    let uuid = volume_uuid(&pve, "pve_images").await;
    ontap(
        &pve,
        Method::POST,
        &format!("/api/storage/volumes/{uuid}/snapshots"),
        Some(json!({"name": "snap1"})),
    )
    .await;
    // A disk created after the snapshot is not in the clone.
    pve.put("/nodes/pve2/qemu/101/config", &[("scsi1", "ONTAP01:1")])
        .await
        .ok();
    ontap(
        &pve,
        Method::POST,
        "/api/storage/volumes",
        Some(json!({
            "name": "pve_images_clone",
            "svm": {"name": "svm1"},
            "clone": {"parent_volume": {"name": "pve_images"}, "parent_snapshot": {"name": "snap1"}, "is_flexclone": true},
            "nas": {"path": "/pve_images_clone"},
        })),
    )
    .await;
    pve.post(
        "/storage",
        &[
            ("storage", "CLONE01"),
            ("type", "nfs"),
            ("server", "192.0.2.10"),
            ("export", "/pve_images_clone"),
        ],
    )
    .await
    .ok();
    let content = pve.get("/nodes/pve1/storage/CLONE01/content").await;
    let volids = content.strings("volid");
    assert_eq!(
        volids,
        vec![
            "CLONE01:100/vm-100-disk-0.qcow2",
            "CLONE01:100/vm-100-disk-1.raw",
            "CLONE01:101/vm-101-disk-0.raw"
        ]
    );
    assert!(pve
        .images("ONTAP01", 101)
        .await
        .contains(&"ONTAP01:101/vm-101-disk-1.raw".to_string()));
    // Unmounting the clone's junction takes the storage offline.
    let clone_uuid = volume_uuid(&pve, "pve_images_clone").await;
    ontap(
        &pve,
        Method::PATCH,
        &format!("/api/storage/volumes/{clone_uuid}"),
        Some(json!({"nas": {"path": ""}})),
    )
    .await;
    pve.get("/nodes/pve1/storage/CLONE01/content")
        .await
        .fails(500, "storage 'CLONE01' is not online");
}
