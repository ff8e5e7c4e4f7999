//! The Proxmox VE client against the simulator over real HTTPS: every method, both auth methods, endpoint
//! failover, error classification, task polling judged by exitstatus, and CA trust.

use std::time::Duration;

use pve_ontap_controller::ontap::{OntapClient, OntapConfig};
use pve_ontap_controller::proxmox::drive::{DiskKey, DriveKind};
use pve_ontap_controller::proxmox::types::{FreezeState, NfsStorageSpec, PowerState, ResourceType};
use pve_ontap_controller::proxmox::{
    wait_for_task, ConfigUpdate, Credentials, PowerAction, ProxmoxClient, ProxmoxConfig,
    ProxmoxError, TaskWait,
};
use pve_ontap_sim::{RunningSim, Scenario, ScenarioSource, SimOptions};
use serde_json::{json, Value};

const TOKEN: &str = "root@pam!ci=d5e8c7a2-0b1f-4e3a-9c6d-2f4b8a1e7c90";
const TASK_BUDGET: Duration = Duration::from_secs(30);

struct Env {
    sim: RunningSim,
    _dir: tempfile::TempDir,
}

async fn start_with(scenario: Option<Scenario>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut o = SimOptions::ephemeral(dir.path().join("tls"));
    if let Some(s) = scenario {
        o.scenario = ScenarioSource::Value(Box::new(s));
    }
    let sim = pve_ontap_sim::start(o).await.expect("simulator");
    Env { sim, _dir: dir }
}

async fn start_default() -> Env {
    start_with(None).await
}

/// The default scenario with some values changed.
fn scenario_with(patch: impl FnOnce(&mut Value)) -> Scenario {
    let mut v = serde_json::to_value(Scenario::default_scenario()).unwrap();
    patch(&mut v);
    serde_json::from_value(v).unwrap()
}

impl Env {
    fn config(&self, credentials: Credentials) -> ProxmoxConfig {
        let mut c = ProxmoxConfig::new(vec![self.sim.pve_url()], credentials);
        c.ca_bundle_pem = Some(self.sim.ca_pem().as_bytes().to_vec());
        c
    }

    fn client(&self) -> ProxmoxClient {
        ProxmoxClient::new(self.config(Credentials::from_token(TOKEN).unwrap())).unwrap()
    }

    fn password_client(&self, password: &str) -> ProxmoxClient {
        let creds = Credentials::Password {
            username: "root@pam".into(),
            password: password.into(),
        };
        ProxmoxClient::new(self.config(creds)).unwrap()
    }

    fn ontap(&self) -> OntapClient {
        let mut c = OntapConfig::new(self.sim.ontap_url(), "admin", "netapp123");
        c.ca_bundle_pem = Some(self.sim.ca_pem().as_bytes().to_vec());
        OntapClient::new(c).unwrap()
    }

    async fn add_fault(&self, fault: Value) {
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.sim.ca_pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let resp = http
            .post(format!("{}/_sim/faults", self.sim.pve_url()))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "fault not accepted: {}",
            resp.text().await.unwrap()
        );
    }
}

async fn run(c: &ProxmoxClient, node: &str, vmid: u32, action: PowerAction) {
    let upid = c
        .vm_power(node, vmid, action)
        .await
        .unwrap_or_else(|e| panic!("{action:?}: {e}"));
    assert_eq!(upid.node, node);
    let done = wait_for_task(c, &upid, TASK_BUDGET)
        .await
        .unwrap_or_else(|e| panic!("{action:?}: {e}"));
    assert!(
        matches!(done, TaskWait::Done { .. }),
        "{action:?}: {done:?}"
    );
}

#[tokio::test]
async fn discovery() {
    let env = start_default().await;
    let c = env.client();
    assert_eq!(c.version().await.unwrap().version, "8.4.1");
    let nodes = c.nodes().await.unwrap();
    let mut names: Vec<_> = nodes
        .iter()
        .map(|n| (n.node.as_str(), n.status.as_str()))
        .collect();
    names.sort();
    assert_eq!(names, [("pve1", "online"), ("pve2", "online")]);

    let vms = c.cluster_resources(Some(ResourceType::Vm)).await.unwrap();
    let placed: Vec<_> = vms.iter().map(|r| (r.vmid, r.node.as_deref())).collect();
    assert!(placed.contains(&(Some(100), Some("pve1"))), "{placed:?}");
    assert!(placed.contains(&(Some(101), Some("pve2"))), "{placed:?}");
    let storages = c
        .cluster_resources(Some(ResourceType::Storage))
        .await
        .unwrap();
    assert!(storages
        .iter()
        .any(|r| r.storage.as_deref() == Some("ONTAP01")));
    assert!(c.cluster_resources(None).await.unwrap().len() >= vms.len() + storages.len());

    let all = c.storages().await.unwrap();
    let ontap01 = all
        .iter()
        .find(|s| s.storage == "ONTAP01")
        .expect("ONTAP01");
    assert!(ontap01.is_nfs());
    assert_eq!(ontap01.server.as_deref(), Some("192.0.2.10"));
    assert_eq!(ontap01.export.as_deref(), Some("/pve_images"));
    assert_eq!(ontap01.options.as_deref(), Some("vers=4.2,nconnect=4"));
    assert_eq!(
        c.storage("ONTAP01").await.unwrap().export.as_deref(),
        Some("/pve_images")
    );
    assert!(c.storage("nosuchstorage").await.unwrap_err().is_not_found());

    let content = c
        .storage_content("pve1", "ONTAP01", Some(100))
        .await
        .unwrap();
    let volids: Vec<_> = content.iter().map(|i| i.volid.as_str()).collect();
    assert!(
        volids.contains(&"ONTAP01:100/vm-100-disk-0.qcow2"),
        "{volids:?}"
    );
    assert!(content.iter().all(|i| i.vmid == Some(100)));
}

#[tokio::test]
async fn vm_config_disks_and_digest() {
    let env = start_default().await;
    let c = env.client();
    let cfg = c.vm_config("pve1", 100, false).await.unwrap();
    assert!(!cfg.digest.is_empty());
    assert_eq!(cfg.get("name").as_deref(), Some("web01"));
    let disks = cfg.disks();
    let scsi0 = disks
        .iter()
        .find(|(k, _)| k.to_string() == "scsi0")
        .unwrap()
        .1
        .as_ref()
        .unwrap();
    let DriveKind::Disk(volid) = scsi0.kind() else {
        panic!("scsi0 is a disk")
    };
    assert_eq!(volid.to_string(), "ONTAP01:100/vm-100-disk-0.qcow2");
    let ide2 = disks
        .iter()
        .find(|(k, _)| k.to_string() == "ide2")
        .unwrap()
        .1
        .as_ref()
        .unwrap();
    assert_eq!(ide2.kind(), DriveKind::Empty);

    c.update_vm_config(
        "pve1",
        100,
        &ConfigUpdate::new()
            .set("description", "touched")
            .digest(&cfg.digest),
    )
    .await
    .unwrap();
    assert_eq!(
        c.vm_config("pve1", 100, false)
            .await
            .unwrap()
            .get("description")
            .as_deref(),
        Some("touched")
    );
    // The digest now belongs to an older config: the change is refused as a retryable conflict.
    let stale = c
        .update_vm_config(
            "pve1",
            100,
            &ConfigUpdate::new()
                .set("description", "again")
                .digest(&cfg.digest),
        )
        .await
        .unwrap_err();
    assert!(matches!(stale, ProxmoxError::Conflict { .. }), "{stale:?}");
    assert!(stale.is_transient());

    let upid = c
        .update_vm_config_async("pve1", 100, &ConfigUpdate::new().delete("description"))
        .await
        .unwrap();
    assert!(matches!(
        wait_for_task(&c, &upid, TASK_BUDGET).await.unwrap(),
        TaskWait::Done { .. }
    ));
    assert_eq!(
        c.vm_config("pve1", 100, false)
            .await
            .unwrap()
            .get("description"),
        None
    );

    let bad = c
        .update_vm_config("pve1", 100, &ConfigUpdate::new().set("nosuchkey", "1"))
        .await
        .unwrap_err();
    assert!(matches!(bad, ProxmoxError::Invalid { .. }), "{bad:?}");
}

#[tokio::test]
async fn missing_vm_is_not_found() {
    let env = start_default().await;
    let c = env.client();
    let e = c.vm_config("pve1", 999, false).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    // VM 100 lives on pve1: asking pve2 is Proxmox's "Configuration file ... does not exist".
    assert!(c
        .vm_config("pve2", 100, false)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(c.vm_status("pve1", 999).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn unused_disk_on_running_vm_stays_pending() {
    let env = start_default().await;
    let c = env.client();
    let ontap = env.ontap();
    let vol = ontap
        .find_volume("svm1", "pve_images")
        .await
        .unwrap()
        .unwrap();
    let done = ontap
        .clone_file(
            &vol.uuid,
            &vol.name,
            "images/100/vm-100-disk-1.raw",
            "images/100/vm-100-disk-7.raw",
        )
        .await
        .unwrap();
    assert!(done.is_done());

    let cfg = c.vm_config("pve1", 100, false).await.unwrap();
    let key = DiskKey::first_free_unused(cfg.entries.keys().map(String::as_str))
        .unwrap()
        .to_string();
    c.update_vm_config(
        "pve1",
        100,
        &ConfigUpdate::new()
            .set(&key, "ONTAP01:100/vm-100-disk-7.raw")
            .digest(&cfg.digest),
    )
    .await
    .unwrap();
    let pending = c.vm_pending("pve1", 100).await.unwrap();
    let entry = pending
        .iter()
        .find(|p| p.key == key)
        .expect("pending entry");
    assert!(entry.is_pending());
    assert_eq!(
        entry.pending_text().as_deref(),
        Some("ONTAP01:100/vm-100-disk-7.raw")
    );
    assert_eq!(
        c.vm_config("pve1", 100, true).await.unwrap().get(&key),
        None,
        "not active while running"
    );
    assert!(
        c.vm_config("pve1", 100, false)
            .await
            .unwrap()
            .get(&key)
            .is_some(),
        "merged into the default view"
    );

    c.update_vm_config("pve1", 100, &ConfigUpdate::new().revert(&key))
        .await
        .unwrap();
    assert!(c
        .vm_pending("pve1", 100)
        .await
        .unwrap()
        .iter()
        .all(|p| p.key != key || !p.is_pending()));
}

#[tokio::test]
async fn power_cycle_judged_by_tasks() {
    let env = start_default().await;
    let c = env.client();
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Stopped
    );
    run(&c, "pve2", 101, PowerAction::Start).await;
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Running
    );
    run(&c, "pve2", 101, PowerAction::Suspend).await;
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Paused
    );
    run(&c, "pve2", 101, PowerAction::Resume).await;
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Running
    );
    run(&c, "pve2", 101, PowerAction::Hibernate).await;
    let hibernated = c.vm_status("pve2", 101).await.unwrap();
    assert_eq!(
        hibernated.power_state(),
        PowerState::Hibernated,
        "{hibernated:?}"
    );
    let cfg = c.vm_config("pve2", 101, false).await.unwrap();
    assert_eq!(cfg.lock().as_deref(), Some("suspended"));
    assert!(cfg.get("vmstate").is_some());
    // A hibernated VM refuses config changes until resumed.
    let locked = c
        .update_vm_config("pve2", 101, &ConfigUpdate::new().set("description", "x"))
        .await
        .unwrap_err();
    assert!(matches!(locked, ProxmoxError::Locked { .. }), "{locked:?}");
    run(&c, "pve2", 101, PowerAction::Resume).await;
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Running
    );
    run(
        &c,
        "pve2",
        101,
        PowerAction::Shutdown {
            timeout: Some(60),
            force_stop: true,
        },
    )
    .await;
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Stopped
    );
    run(&c, "pve2", 101, PowerAction::Start).await;
    run(&c, "pve2", 101, PowerAction::Stop).await;
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Stopped
    );

    // Resuming a stopped VM is refused before any task starts.
    let e = c
        .vm_power("pve2", 101, PowerAction::Resume)
        .await
        .unwrap_err();
    assert!(matches!(e, ProxmoxError::WrongState { .. }), "{e:?}");
}

#[tokio::test]
async fn failed_task_is_judged_by_exitstatus() {
    let env = start_default().await;
    env.add_fault(json!({"api": "pve", "async_failure": {"operation": "qmstart", "message": "start failed: injected"},
        "count": 1}))
        .await;
    let c = env.client();
    let upid = c.vm_power("pve2", 101, PowerAction::Start).await.unwrap();
    let e = wait_for_task(&c, &upid, TASK_BUDGET).await.unwrap_err();
    match &e {
        ProxmoxError::TaskFailed {
            upid: u,
            exitstatus,
        } => {
            assert_eq!(u, &upid.raw);
            assert!(
                exitstatus.contains("start failed: injected"),
                "{exitstatus}"
            );
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    let status = c.task_status(&upid).await.unwrap();
    assert_eq!(status.status, "stopped");
    assert_eq!(
        c.vm_status("pve2", 101).await.unwrap().power_state(),
        PowerState::Stopped
    );
}

#[tokio::test]
async fn bounded_task_wait_reports_running() {
    let scenario = scenario_with(|v| v["timings"]["pve"]["tasks"]["qmstart"] = json!(2000));
    let env = start_with(Some(scenario)).await;
    let c = env.client();
    let upid = c.vm_power("pve2", 101, PowerAction::Start).await.unwrap();
    let first = wait_for_task(&c, &upid, Duration::ZERO).await.unwrap();
    assert_eq!(first, TaskWait::Running(upid.clone()));
    assert_eq!(c.task_status(&upid).await.unwrap().status, "running");
    assert!(matches!(
        wait_for_task(&c, &upid, TASK_BUDGET).await.unwrap(),
        TaskWait::Done { .. }
    ));
}

#[tokio::test]
async fn guest_agent_freeze_and_thaw() {
    let env = start_default().await;
    let c = env.client();
    assert_eq!(
        c.agent_fsfreeze_status("pve1", 100).await.unwrap(),
        FreezeState::Thawed
    );
    c.agent_fsfreeze_freeze("pve1", 100).await.unwrap();
    assert_eq!(
        c.agent_fsfreeze_status("pve1", 100).await.unwrap(),
        FreezeState::Frozen
    );
    c.agent_fsfreeze_thaw("pve1", 100).await.unwrap();
    assert_eq!(
        c.agent_fsfreeze_status("pve1", 100).await.unwrap(),
        FreezeState::Thawed
    );
    // A stopped VM has no running agent.
    let e = c.agent_fsfreeze_freeze("pve2", 101).await.unwrap_err();
    assert!(matches!(e, ProxmoxError::WrongState { .. }), "{e:?}");
    assert!(!e.is_transient());
    // A VM without the `agent` option: Proxmox refuses before looking at the power state.
    let upid = c
        .create_vm("pve1", 301, &[("name".to_string(), "noagent".to_string())])
        .await
        .unwrap();
    wait_for_task(&c, &upid, TASK_BUDGET).await.unwrap();
    let e = c.agent_fsfreeze_status("pve1", 301).await.unwrap_err();
    assert!(matches!(e, ProxmoxError::AgentUnavailable { .. }), "{e:?}");
}

#[tokio::test]
async fn create_and_delete_vm() {
    let env = start_default().await;
    let c = env.client();
    let config = vec![
        ("name".to_string(), "copy300".to_string()),
        ("memory".to_string(), "512".to_string()),
        ("ide2".to_string(), "none,media=cdrom".to_string()),
    ];
    let upid = c.create_vm("pve1", 300, &config).await.unwrap();
    assert!(matches!(
        wait_for_task(&c, &upid, TASK_BUDGET).await.unwrap(),
        TaskWait::Done { .. }
    ));
    assert_eq!(
        c.vm_config("pve1", 300, false)
            .await
            .unwrap()
            .get("name")
            .as_deref(),
        Some("copy300")
    );
    let dup = c.create_vm("pve1", 300, &config).await.unwrap_err();
    assert!(matches!(dup, ProxmoxError::AlreadyExists { .. }), "{dup:?}");
    assert!(!dup.is_transient());

    let upid = c.delete_vm("pve1", 300, true, false).await.unwrap();
    assert!(matches!(
        wait_for_task(&c, &upid, TASK_BUDGET).await.unwrap(),
        TaskWait::Done { .. }
    ));
    assert!(c
        .vm_config("pve1", 300, false)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn nfs_storage_create_and_delete() {
    let env = start_default().await;
    let c = env.client();
    let spec = NfsStorageSpec {
        storage: "pveontap-t1".into(),
        server: "192.0.2.10".into(),
        export: "/pve_images".into(),
        content: vec!["images".into()],
        nodes: vec!["pve1".into()],
        options: Some("vers=4.2,nconnect=4".into()),
        path: None,
    };
    c.create_nfs_storage(&spec).await.unwrap();
    let s = c.storage("pveontap-t1").await.unwrap();
    assert_eq!(s.export.as_deref(), Some("/pve_images"));
    assert_eq!(s.node_list(), Some(vec!["pve1"]));
    assert_eq!(s.content_types(), ["images"]);
    let listed = c
        .storage_content("pve1", "pveontap-t1", None)
        .await
        .unwrap();
    assert!(
        listed
            .iter()
            .any(|i| i.volid == "pveontap-t1:100/vm-100-disk-0.qcow2"),
        "{listed:?}"
    );
    let dup = c.create_nfs_storage(&spec).await.unwrap_err();
    assert!(matches!(dup, ProxmoxError::AlreadyExists { .. }), "{dup:?}");
    c.delete_storage("pveontap-t1").await.unwrap();
    assert!(c.storage("pveontap-t1").await.unwrap_err().is_not_found());

    let unreachable = NfsStorageSpec {
        storage: "pveontap-t2".into(),
        export: "/no_such_export".into(),
        ..spec
    };
    let e = c.create_nfs_storage(&unreachable).await.unwrap_err();
    // Proxmox cannot reach the export: worth retrying (the junction may have just been created), never success.
    assert!(matches!(e, ProxmoxError::Transient { .. }), "{e:?}");
    assert!(e.to_string().contains("is not online"), "{e}");
    assert!(
        c.storage("pveontap-t2").await.unwrap_err().is_not_found(),
        "failed create leaves nothing behind"
    );
}

#[tokio::test]
async fn password_login_ticket_and_csrf() {
    let env = start_default().await;
    let c = env.password_client("proxmox123");
    assert_eq!(c.version().await.unwrap().version, "8.4.1");
    // A write needs the CSRF token next to the ticket cookie.
    c.update_vm_config(
        "pve1",
        100,
        &ConfigUpdate::new().set("description", "via ticket"),
    )
    .await
    .unwrap();
    let e = env.password_client("wrong").version().await.unwrap_err();
    assert!(matches!(e, ProxmoxError::Unauthorized { .. }), "{e:?}");
    assert!(!e.to_string().contains("wrong"));
    let bad_token =
        Credentials::from_token("root@pam!ci=00000000-0000-0000-0000-000000000000").unwrap();
    let e = ProxmoxClient::new(env.config(bad_token))
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(e, ProxmoxError::Unauthorized { .. }), "{e:?}");
    assert!(!e.to_string().contains("00000000-0000"), "{e}");
}

#[tokio::test]
async fn expired_ticket_is_renewed() {
    let scenario = scenario_with(|v| v["timings"]["pve"]["ticket_lifetime_secs"] = json!(1));
    let env = start_with(Some(scenario)).await;
    let c = env.password_client("proxmox123");
    c.version().await.unwrap();
    // Let the ticket expire; the next call gets a 401, logs in again and succeeds.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(c.version().await.unwrap().version, "8.4.1");
    c.update_vm_config(
        "pve1",
        100,
        &ConfigUpdate::new().set("description", "after renewal"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn endpoints_fail_over_in_order() {
    let env = start_default().await;
    let mut cfg = env.config(Credentials::from_token(TOKEN).unwrap());
    cfg.endpoints = vec!["https://127.0.0.1:1".into(), env.sim.pve_url()];
    let c = ProxmoxClient::new(cfg).unwrap();
    assert_eq!(c.version().await.unwrap().version, "8.4.1");
    assert_eq!(c.active_endpoint(), env.sim.pve_url());

    let mut dead = env.config(Credentials::from_token(TOKEN).unwrap());
    dead.endpoints = vec!["https://127.0.0.1:1".into(), "https://127.0.0.1:2".into()];
    assert!(ProxmoxClient::new(dead)
        .unwrap()
        .version()
        .await
        .unwrap_err()
        .is_transient());
}

#[tokio::test]
async fn http_faults_are_classified() {
    let env = start_default().await;
    let c = env.client();
    env.add_fault(
        json!({"api": "pve", "method": "GET", "route": "/api2/json/version",
        "error": {"status": 503, "message": "service unavailable"}, "count": 1}),
    )
    .await;
    assert!(c.version().await.unwrap_err().is_transient());
    assert!(c.version().await.is_ok(), "the fault fires once");

    env.add_fault(
        json!({"api": "pve", "method": "PUT", "route": "/api2/json/nodes/{node}/qemu/{vmid}/config",
        "error": {"status": 500, "message": "VM is locked (backup)"}, "count": 1}),
    )
    .await;
    let e = c
        .update_vm_config("pve1", 100, &ConfigUpdate::new().set("description", "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, ProxmoxError::Locked { .. }), "{e:?}");
    assert!(e.is_transient());

    env.add_fault(
        json!({"api": "pve", "route": "/api2/json/nodes", "drop_connection": true, "count": 1}),
    )
    .await;
    assert!(c.nodes().await.unwrap_err().is_transient());

    env.add_fault(json!({"api": "pve", "method": "GET", "route": "/api2/json/nodes",
        "error": {"status": 403, "message": "Permission check failed (/nodes, Sys.Audit)"}, "count": 1}))
        .await;
    assert!(matches!(
        c.nodes().await.unwrap_err(),
        ProxmoxError::Forbidden { .. }
    ));
}

#[tokio::test]
async fn tls_trust() {
    let env = start_default().await;
    let mut untrusted = env.config(Credentials::from_token(TOKEN).unwrap());
    untrusted.ca_bundle_pem = None;
    let e = ProxmoxClient::new(untrusted)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    let mut insecure = env.config(Credentials::from_token(TOKEN).unwrap());
    insecure.ca_bundle_pem = None;
    insecure.insecure_skip_tls_verify = true;
    assert_eq!(
        ProxmoxClient::new(insecure)
            .unwrap()
            .version()
            .await
            .unwrap()
            .version,
        "8.4.1"
    );
}

/// `vm_active_tasks` lists the VM's running tasks on its node — a slow shutdown while it runs, nothing after it
/// ended or for another VM — and a missing node is an error, never an empty list.
#[tokio::test]
async fn active_tasks_of_a_vm() {
    let scenario = scenario_with(|v| v["timings"]["pve"]["tasks"]["qmshutdown"] = json!(1500));
    let env = start_with(Some(scenario)).await;
    let c = env.client();
    assert!(c.vm_active_tasks("pve1", 100).await.unwrap().is_empty());
    let upid = c
        .vm_power(
            "pve1",
            100,
            PowerAction::Shutdown {
                timeout: Some(60),
                force_stop: false,
            },
        )
        .await
        .unwrap();
    let active = c.vm_active_tasks("pve1", 100).await.unwrap();
    assert_eq!(active.len(), 1, "{active:?}");
    let t = &active[0];
    assert_eq!(t.upid, upid.raw);
    assert_eq!(t.kind, "qmshutdown");
    assert_eq!(t.id.as_deref(), Some("100"));
    assert_eq!(t.status.as_deref(), Some("RUNNING"));
    assert!(t.is_running() && t.endtime.is_none());
    assert!(c.vm_active_tasks("pve2", 101).await.unwrap().is_empty());
    assert!(c.vm_active_tasks("pve2", 100).await.unwrap().is_empty());

    wait_for_task(&c, &upid, TASK_BUDGET).await.unwrap();
    assert!(c.vm_active_tasks("pve1", 100).await.unwrap().is_empty());
    let e = c.vm_active_tasks("pve9", 100).await.unwrap_err();
    assert!(
        matches!(e, ProxmoxError::Refused { status: 500, .. }),
        "{e:?}"
    );
}
