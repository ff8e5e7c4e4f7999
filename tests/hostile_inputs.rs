//! Hostile inputs, sent as a tenant would: through the real apiserver, with the token of a ServiceAccount that
//! may create, edit, delete and even write the status of our objects in its own namespace, and nothing else.
//! The backends give the tenant a scope (VM 100 and 300–399 or tag `team-a`, storages ONTAP01 and ONTAP03,
//! volume `pve_images`); the world also holds another tenant's VM 200 (running on ONTAP01), VMs outside the
//! scope, a storage and volumes outside it, and snapshots made by others.
//!
//! Every case must end in one of: rejected at admission with a message naming the field; refused by RBAC; or
//! `Failed` with the expected reason and a clear message naming nothing outside the scope — and in every case
//! zero mutating backend calls and an unchanged simulator inventory (the simulator is the judge, not the
//! controller). The sequences at the end attack deletes after something was made; what must survive survives
//! and what was made is gone. A table of cases and outcomes is printed and written to the target directory.

mod controller_support;

use std::fmt::Write as _;

use controller_support::*;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::Client;
use pve_ontap_controller::api::{
    FlexCloneMount, Phase, ProxmoxCluster, VmDiskClone, VolumeSnapshot, VolumeSnapshotRestore,
};
use serde_json::{json, Value};

const TENANT: &str = "tenant";

/// The default world plus what the scope cases need (see the module comment).
fn world() -> pve_ontap_sim::Scenario {
    let mut s = serde_json::to_value(pve_ontap_sim::Scenario::default_scenario()).unwrap();
    let vols = s["ontap"]["svms"][0]["volumes"].as_array_mut().unwrap();
    for v in vols.iter_mut() {
        let files = v["files"].as_array().cloned().unwrap_or_default();
        let dirs = v["directories"].as_array().cloned().unwrap_or_default();
        let (more_dirs, more_files): (Vec<&str>, Vec<&str>) = match v["name"].as_str().unwrap() {
            "pve_images" => (
                vec!["images/200", "images/300"],
                vec![
                    "images/200/vm-200-disk-0.raw",
                    "images/300/vm-300-disk-0.raw",
                ],
            ),
            "pve_backup" => (vec!["images/103"], vec!["images/103/vm-103-disk-0.raw"]),
            "data01" => {
                v["nas_path"] = json!("/data01");
                (vec!["images/102"], vec!["images/102/vm-102-disk-0.raw"])
            }
            _ => (vec![], vec![]),
        };
        let mut dirs = dirs;
        dirs.extend(more_dirs.into_iter().map(|d| json!(d)));
        let mut files = files;
        files.extend(
            more_files
                .into_iter()
                .map(|f| json!({ "path": f, "size": "4G" })),
        );
        v["directories"] = json!(dirs);
        v["files"] = json!(files);
    }
    let storages = s["pve"]["storages"].as_array_mut().unwrap();
    for (id, export) in [("ONTAP02", "/pve_backup"), ("ONTAP03", "/data01")] {
        storages.push(json!({
            "storage": id, "type": "nfs", "server": "192.0.2.10", "export": export,
            "path": format!("/mnt/pve/{id}"), "content": "images", "options": "vers=4.2",
        }));
    }
    let vms = s["pve"]["vms"].as_array_mut().unwrap();
    let template = vms[1].clone();
    for (vmid, status, storage, tags) in [
        (102, "stopped", "ONTAP03", Some("team-a")),
        (103, "stopped", "ONTAP02", Some("team-a")),
        (200, "running", "ONTAP01", Some("team-b")),
        (300, "stopped", "ONTAP01", None),
    ] {
        let mut vm = template.clone();
        vm["vmid"] = json!(vmid);
        vm["status"] = json!(status);
        let cfg = vm["config"].as_object_mut().unwrap();
        cfg.insert("name".into(), json!(format!("vm{vmid}")));
        cfg.insert(
            "virtio0".into(),
            json!(format!("{storage}:{vmid}/vm-{vmid}-disk-0.raw,size=4G")),
        );
        cfg.insert(
            "smbios1".into(),
            json!(format!("uuid=00000000-0000-4000-8000-000000000{vmid}")),
        );
        if let Some(t) = tags {
            cfg.insert("tags".into(), json!(t));
        }
        vms.push(vm);
    }
    serde_json::from_value(s).expect("scenario")
}

struct Row {
    id: String,
    item: &'static str,
    attack: String,
    outcome: String,
}

struct Suite {
    h: Harness,
    tenant: Client,
    rows: Vec<Row>,
    failures: Vec<String>,
}

impl Suite {
    fn record(
        &mut self,
        item: &'static str,
        attack: impl Into<String>,
        outcome: Result<String, String>,
    ) {
        let id = format!("H{:02}", self.rows.len() + 1);
        let attack = attack.into();
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.failures.push(format!("{id} {attack}: {e}"));
                format!("FAILED: {e}")
            }
        };
        self.rows.push(Row {
            id,
            item,
            attack,
            outcome,
        });
    }

    fn dynamic(&self, kind: &str) -> Api<DynamicObject> {
        let ar = match kind {
            "VmDiskClone" => ApiResource::erase::<VmDiskClone>(&()),
            "VolumeSnapshot" => ApiResource::erase::<VolumeSnapshot>(&()),
            "FlexCloneMount" => ApiResource::erase::<FlexCloneMount>(&()),
            "VolumeSnapshotRestore" => ApiResource::erase::<VolumeSnapshotRestore>(&()),
            other => panic!("kind {other}"),
        };
        Api::namespaced_with(self.tenant.clone(), &self.h.ns, &ar)
    }

    /// Creates `manifest` as the tenant.
    async fn tenant_create(&self, manifest: &Value) -> Result<DynamicObject, kube::Error> {
        let kind = manifest["kind"].as_str().unwrap();
        let obj: DynamicObject = serde_json::from_value(manifest.clone()).unwrap();
        self.dynamic(kind)
            .create(&PostParams::default(), &obj)
            .await
    }

    /// An admission case: the apiserver must refuse `manifest` with a message naming `field`.
    async fn rejected(&mut self, item: &'static str, attack: &str, manifest: Value, field: &str) {
        let outcome = match self.tenant_create(&manifest).await {
            Ok(_) => Err("admitted".to_string()),
            Err(kube::Error::Api(e))
                if (e.code == 422 || e.code == 400) && e.message.contains(field) =>
            {
                Ok(format!("rejected at admission ({}): names {field}", e.code))
            }
            Err(e) => Err(format!("refused without naming {field}: {e}")),
        };
        self.record(item, attack, outcome);
    }

    /// An RBAC case: the apiserver must answer 403.
    fn forbidden_by_rbac<T>(
        &mut self,
        item: &'static str,
        attack: &str,
        r: Result<T, kube::Error>,
    ) {
        let outcome = match r {
            Err(kube::Error::Api(e)) if e.code == 403 => Ok("403 Forbidden (RBAC)".to_string()),
            Ok(_) => Err("allowed".into()),
            Err(e) => Err(format!("unexpected: {e}")),
        };
        self.record(item, attack, outcome);
    }
}

/// A controller case: admitted, then refused by the controller.
struct Refusal {
    item: &'static str,
    attack: &'static str,
    manifest: Value,
    /// Reason of the Ready condition.
    reason: &'static str,
    /// Text the message must hold (what failed and what to do).
    says: &'static str,
}

fn vs(name: &str, spec: Value) -> Value {
    manifest("VolumeSnapshot", name, spec)
}

fn fcm(name: &str, spec: Value) -> Value {
    manifest("FlexCloneMount", name, spec)
}

fn vsr(name: &str, spec: Value) -> Value {
    manifest("VolumeSnapshotRestore", name, spec)
}

async fn setup() -> Suite {
    // The tenant's scope on both backends (`*`: every namespace the backend allows, i.e. the test's).
    let h = Harness::start_with(
        "hostile",
        Options {
            scenario: Some(world()),
            pve_spec: Some(json!({ "scopes": [{
                "namespaces": ["*"], "vmids": ["100", "300-399"], "tags": ["team-a"],
                "storages": ["ONTAP01", "ONTAP03"],
            }] })),
            ontap_spec: Some(json!({ "scopes": [{
                "namespaces": ["*"], "svms": ["svm1"], "volumes": ["pve_images"],
            }] })),
            ..Default::default()
        },
    )
    .await;
    let pcs: Api<ProxmoxCluster> = Api::all(h.admin.clone());
    // A backend of someone else, on the same simulator and Secrets, that does not let the tenant in.
    let mut other = pcs.get(&h.pve_name).await.unwrap();
    other.metadata = kube::api::ObjectMeta {
        name: Some(format!("{}-other", h.pve_name)),
        ..Default::default()
    };
    other.spec.allowed_namespaces = vec!["somewhere-else".into()];
    other.spec.scopes.clear();
    other.status = None;
    pcs.create(&PostParams::default(), &other)
        .await
        .expect("other ProxmoxCluster");
    // One that lets the tenant in but whose credentials Secret does not exist.
    let mut broken = pcs.get(&h.pve_name).await.unwrap();
    broken.metadata = kube::api::ObjectMeta {
        name: Some(format!("{}-nosecret", h.pve_name)),
        ..Default::default()
    };
    broken.spec.credentials_secret_ref.name = format!("{}-missing-credentials", h.ns);
    broken.status = None;
    pcs.create(&PostParams::default(), &broken)
        .await
        .expect("broken ProxmoxCluster");

    // The tenant: every verb on our kinds and their status in its namespace, nothing else.
    let cp = testkit::shared().await.expect("control plane");
    let sa: ServiceAccount =
        serde_json::from_value(json!({ "metadata": { "name": TENANT } })).unwrap();
    Api::<ServiceAccount>::namespaced(h.admin.clone(), &h.ns)
        .create(&PostParams::default(), &sa)
        .await
        .unwrap();
    let role: Role = serde_json::from_value(json!({
        "metadata": { "name": TENANT },
        "rules": [{
            "apiGroups": ["pveontap.io"],
            "resources": ["vmdiskclones", "volumesnapshots", "flexclonemounts", "volumesnapshotrestores",
                          "vmdiskclones/status", "volumesnapshots/status", "flexclonemounts/status",
                          "volumesnapshotrestores/status"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        }],
    }))
    .unwrap();
    Api::<Role>::namespaced(h.admin.clone(), &h.ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": TENANT },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TENANT },
        "subjects": [{ "kind": "ServiceAccount", "name": TENANT, "namespace": h.ns }],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(h.admin.clone(), &h.ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let tenant = cp
        .client_as_service_account(&h.ns, TENANT)
        .await
        .expect("tenant client");
    Suite {
        h,
        tenant,
        rows: Vec::new(),
        failures: Vec::new(),
    }
}

/// Strings a field must never accept, with their names in the table.
fn bad_strings() -> Vec<(&'static str, String)> {
    vec![
        ("a slash", "a/b".into()),
        ("'..'", "..".into()),
        ("a NUL", "a\u{0}b".into()),
        ("a Unicode space (U+2003)", "a\u{2003}b".into()),
        ("an RTL override (U+202E)", "a\u{202e}b".into()),
        ("64 KiB", "a".repeat(64 * 1024)),
    ]
}

async fn admission_cases(s: &mut Suite) {
    let pve = s.h.pve_name.clone();
    let pref = json!({ "name": pve });
    // Item 9 / bounds: numbers outside what Proxmox accepts.
    for (what, vmid) in [
        ("vmid 0", json!(0)),
        ("vmid 99", json!(99)),
        ("vmid -1", json!(-1)),
        ("vmid 2^32", json!(4_294_967_296u64)),
        ("vmid 1e9", json!(1_000_000_000u64)),
        ("vmid as text", json!("100")),
    ] {
        s.rejected(
            "bounds",
            &format!("VmDiskClone {what}"),
            vdc("h", &pve, json!({ "vmid": vmid })),
            "vmid",
        )
        .await;
    }
    s.rejected(
        "bounds",
        "VmDiskClone newVm.vmid 2^32",
        vdc(
            "h",
            &pve,
            json!({ "attach": "NewVm", "newVm": { "vmid": 4_294_967_296u64, "name": "x" } }),
        ),
        "vmid",
    )
    .await;
    // Disk keys outside PVE's set.
    for key in [
        "scsi31",
        "unused0",
        "virtio16",
        "efidisk1",
        "scsi0/../x",
        "SCSI0",
        "vmstate",
    ] {
        s.rejected(
            "bounds",
            &format!("VmDiskClone disk key {key:?}"),
            vdc("h", &pve, json!({ "disks": [key] })),
            "disks",
        )
        .await;
    }
    // Names and strings: every free-text field the controller passes on.
    for (what, bad) in bad_strings() {
        s.rejected(
            "strings",
            &format!("VmDiskClone newVm.name with {what}"),
            vdc(
                "h",
                &pve,
                json!({ "attach": "NewVm", "newVm": { "vmid": 301, "name": bad } }),
            ),
            "newVm.name",
        )
        .await;
        s.rejected(
            "strings",
            &format!("VolumeSnapshot snapshotName with {what}"),
            vs(
                "h",
                json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": bad }),
            ),
            "snapshotName",
        )
        .await;
        s.rejected(
            "strings",
            &format!("VolumeSnapshot storage with {what}"),
            vs("h", json!({ "proxmoxClusterRef": pref, "storage": bad })),
            "storage",
        )
        .await;
        s.rejected(
            "strings",
            &format!("FlexCloneMount storageId with {what}"),
            fcm(
                "h",
                json!({ "volumeSnapshotRef": { "name": "x" }, "storageId": bad }),
            ),
            "storageId",
        )
        .await;
    }
    for (what, bad) in [
        ("a slash", "a/b".to_string()),
        ("64 KiB", "a".repeat(64 * 1024)),
        ("a NUL", "a\u{0}".into()),
    ] {
        s.rejected(
            "strings",
            &format!("VmDiskClone proxmoxClusterRef.name with {what}"),
            vdc("h", &bad, json!({})),
            "proxmoxClusterRef",
        )
        .await;
    }
    s.rejected(
        "strings",
        "VmDiskClone newVm.node with a space",
        vdc("h", &pve, json!({ "attach": "NewVm", "newVm": { "vmid": 301, "name": "x", "node": "pve1 pve2" } })),
        "newVm.node",
    )
    .await;
    s.rejected(
        "strings",
        "VolumeSnapshot ontapVolume.name with a slash",
        vs("h", json!({ "ontapVolume": { "ontapClusterRef": { "name": s.h.ontap_name }, "svm": "svm1", "name": "../pve_backup" } })),
        "ontapVolume.name",
    )
    .await;
    s.rejected(
        "strings",
        "VolumeSnapshot existingSnapshotName with '..'",
        vs("h", json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01", "existingSnapshotName": "../x" })),
        "existingSnapshotName",
    )
    .await;
    // Item 5: a forged or oversized marker.
    for (what, comment) in [
        (
            "holding the owner marker",
            "pveontap.io/owner=0123456789ab/someone-else".to_string(),
        ),
        (
            "holding the reserved prefix mid-text",
            "before pveontap.io/x after".into(),
        ),
        ("of 188 characters", "c".repeat(188)),
        ("of 64 KiB", "c".repeat(64 * 1024)),
    ] {
        s.rejected(
            "5 marker",
            &format!("VolumeSnapshot comment {what}"),
            vs(
                "h",
                json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01", "comment": comment }),
            ),
            "comment",
        )
        .await;
    }
    // Item 8: junctions and mount options.
    for j in [
        "/pveontap_fcm_a/../../pve_images",
        "/pve_images",
        "/pveontap_fcm_a/b",
        "/pveontap_fcm_",
        "pveontap_fcm_a",
    ] {
        s.rejected(
            "8 junction",
            &format!("FlexCloneMount junctionPath {j:?}"),
            fcm(
                "h",
                json!({ "volumeSnapshotRef": { "name": "x" }, "junctionPath": j }),
            ),
            "junctionPath",
        )
        .await;
    }
    for (what, o) in [
        ("a NUL", "vers=3\u{0},hard"),
        ("a Unicode space", "vers=3,\u{2003}hard"),
        ("a vertical tab", "vers=3,\u{b}hard"),
        ("suid (not in the allow-list)", "vers=4.2,suid"),
        ("exec (not in the allow-list)", "exec"),
        ("remount", "remount"),
        ("nconnect=64 (over the limit)", "nconnect=64"),
        ("a shell fragment", "vers=3;reboot"),
    ] {
        s.rejected(
            "8 options",
            &format!("FlexCloneMount options with {what}"),
            fcm(
                "h",
                json!({ "volumeSnapshotRef": { "name": "x" }, "options": o }),
            ),
            "options",
        )
        .await;
    }
    s.rejected(
        "8 options",
        "FlexCloneMount options of 64 KiB",
        fcm("h", json!({ "volumeSnapshotRef": { "name": "x" }, "options": "hard,".repeat(13_000) + "hard" })),
        "options",
    )
    .await;
    s.rejected(
        "strings",
        "FlexCloneMount nodes entry with a slash",
        fcm(
            "h",
            json!({ "volumeSnapshotRef": { "name": "x" }, "nodes": ["pve1/../pve2"] }),
        ),
        "nodes",
    )
    .await;
    s.rejected(
        "strings",
        "FlexCloneMount source.snapshotName with '..'",
        fcm("h", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": ".." } })),
        "snapshotName",
    )
    .await;
    s.rejected(
        "strings",
        "object name with '..'",
        vs(
            "a..b",
            json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01" }),
        ),
        "metadata.name",
    )
    .await;
}

async fn rbac_cases(s: &mut Suite) {
    // Item 7: a tenant can neither make a backend aim credentials somewhere nor read them.
    let pcs: Api<ProxmoxCluster> = Api::all(s.tenant.clone());
    let mut forged = Api::<ProxmoxCluster>::all(s.h.admin.clone())
        .get(&s.h.pve_name)
        .await
        .unwrap();
    forged.metadata = kube::api::ObjectMeta {
        name: Some(format!("{}-forged", s.h.ns)),
        ..Default::default()
    };
    forged.spec.endpoints = vec!["https://127.0.0.1:1".into()];
    forged.spec.credentials_secret_ref.namespace = "kube-system".into();
    forged.spec.insecure_skip_tls_verify = true;
    forged.status = None;
    let r = pcs.create(&PostParams::default(), &forged).await;
    s.forbidden_by_rbac(
        "7 secrets",
        "create a ProxmoxCluster reading a kube-system Secret, TLS off",
        r,
    );
    let r = pcs
        .patch(
            &s.h.pve_name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "allowedNamespaces": ["*"], "scopes": [] } })),
        )
        .await;
    s.forbidden_by_rbac(
        "9 tenancy",
        "widen the ProxmoxCluster's allowedNamespaces and scopes",
        r,
    );
    let secrets: Api<Secret> = Api::namespaced(s.tenant.clone(), &s.h.secrets_ns);
    let r = secrets.get(&s.h.pve_secret).await;
    s.forbidden_by_rbac(
        "7 secrets",
        "read the ProxmoxCluster's credentials Secret",
        r,
    );
    let own: Api<Secret> = Api::namespaced(s.tenant.clone(), &s.h.ns);
    let r = own.list(&Default::default()).await;
    s.forbidden_by_rbac("7 secrets", "list Secrets in its own namespace", r);
}

fn refusals(s: &Suite) -> Vec<Refusal> {
    let pve = s.h.pve_name.clone();
    let pref = json!({ "name": pve });
    let oref = json!({ "name": s.h.ontap_name });
    vec![
        Refusal {
            item: "9 tenancy",
            attack: "VmDiskClone (Suspend) of VM 101, outside the vmid scope",
            manifest: vdc("r-vm101", &pve, json!({ "vmid": 101, "consistency": "Suspend" })),
            reason: "Forbidden",
            says: "VM 101 is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VmDiskClone (Shutdown) of the other tenant's VM 200 (tag team-b)",
            manifest: vdc("r-vm200", &pve, json!({ "vmid": 200, "consistency": "Shutdown" })),
            reason: "Forbidden",
            says: "VM 200 is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VmDiskClone of VM 103 (tag team-a) whose disk is on ONTAP02, outside the storage scope",
            manifest: vdc("r-vm103", &pve, json!({ "vmid": 103 })),
            reason: "Forbidden",
            says: "Proxmox storage \\\"ONTAP02\\\" is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VmDiskClone of VM 102 (tag team-a) on ONTAP03, whose volume is outside the ONTAP scope",
            manifest: vdc("r-vm102", &pve, json!({ "vmid": 102, "attach": "None" })),
            reason: "Forbidden",
            says: "the ONTAP volume behind Proxmox storage \\\"ONTAP03\\\" is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VmDiskClone NewVm with id 150, outside the vmid scope",
            manifest: vdc("r-new150", &pve, json!({ "attach": "NewVm", "newVm": { "vmid": 150, "name": "x" } })),
            reason: "Forbidden",
            says: "new VM id 150",
        },
        Refusal {
            item: "3 new VM",
            attack: "VmDiskClone NewVm with id 300, which exists",
            manifest: vdc("r-new300", &pve, json!({ "attach": "NewVm", "newVm": { "vmid": 300, "name": "x" } })),
            reason: "PreconditionFailed",
            says: "already in use",
        },
        Refusal {
            item: "bounds",
            attack: "VmDiskClone of VM 399, which does not exist",
            manifest: vdc("r-vm399", &pve, json!({ "vmid": 399 })),
            reason: "PreconditionFailed",
            says: "does not exist",
        },
        Refusal {
            item: "bounds",
            attack: "VmDiskClone of disk scsi5, which VM 100 does not have",
            manifest: vdc("r-scsi5", &pve, json!({ "disks": ["scsi5"] })),
            reason: "PreconditionFailed",
            says: "scsi5",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VmDiskClone through another tenant's ProxmoxCluster",
            manifest: vdc("r-otherpve", &format!("{pve}-other"), json!({})),
            reason: "NamespaceForbidden",
            says: "add it to spec.allowedNamespaces",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VmDiskClone through a ProxmoxCluster whose credentials Secret is missing",
            manifest: vdc("r-nosecret", &format!("{pve}-nosecret"), json!({})),
            reason: "BackendNotReady",
            says: "its credentials cannot be used",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VolumeSnapshot of ONTAP02, outside the storage scope",
            manifest: vs("r-st02", json!({ "proxmoxClusterRef": pref, "storage": "ONTAP02" })),
            reason: "Forbidden",
            says: "Proxmox storage \\\"ONTAP02\\\" is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VolumeSnapshot of ONTAP03, whose volume is outside the ONTAP scope",
            manifest: vs("r-st03", json!({ "proxmoxClusterRef": pref, "storage": "ONTAP03" })),
            reason: "Forbidden",
            says: "the ONTAP volume behind Proxmox storage \\\"ONTAP03\\\" is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VolumeSnapshot (Suspend) of ONTAP01, pausing the other tenant's running VM 200 too",
            manifest: vs("r-pauseall", json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01", "consistency": "Suspend" })),
            reason: "Forbidden",
            says: "1 running VM(s) with disks on Proxmox storage",
        },
        Refusal {
            item: "2 adopt",
            attack: "VolumeSnapshot adopting another tenant's snapshot on volume pve_backup (ontapVolume)",
            manifest: vs("r-adopt", json!({ "ontapVolume": { "ontapClusterRef": oref, "svm": "svm1", "name": "pve_backup" },
                                        "existingSnapshotName": "other-tenant", "deletionPolicy": "Delete" })),
            reason: "Forbidden",
            says: "ONTAP volume \\\"pve_backup\\\" of SVM \\\"svm1\\\" is outside",
        },
        Refusal {
            item: "2 adopt",
            attack: "VolumeSnapshot adopting a snapshot that does not exist",
            manifest: vs("r-adoptnone", json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01", "existingSnapshotName": "nosuch" })),
            reason: "PreconditionFailed",
            says: "does not exist",
        },
        Refusal {
            item: "5 marker",
            attack: "VolumeSnapshot whose snapshotName is a foreign snapshot's (claiming it)",
            manifest: vs("r-claim", json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": "storage-team" })),
            reason: "PreconditionFailed",
            says: "was not created by this object",
        },
        Refusal {
            item: "1 storage",
            attack: "FlexCloneMount with storageId ONTAP01 (the parent storage)",
            manifest: fcm("r-st", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": "storage-team" },
                                         "storageId": "ONTAP01" })),
            reason: "PreconditionFailed",
            says: "ONTAP01",
        },
        Refusal {
            item: "1 storage",
            attack: "FlexCloneMount with storageId local (a dir storage)",
            manifest: fcm("r-local", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": "storage-team" },
                                            "storageId": "local" })),
            reason: "PreconditionFailed",
            says: "local",
        },
        Refusal {
            item: "9 tenancy",
            attack: "FlexCloneMount of a snapshot on ONTAP02 (reading another tenant's disks)",
            manifest: fcm("r-read02", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP02", "snapshotName": "other-tenant" } })),
            reason: "Forbidden",
            says: "Proxmox storage \\\"ONTAP02\\\" is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "FlexCloneMount of a snapshot on ONTAP03, whose volume is outside the ONTAP scope",
            manifest: fcm("r-read03", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP03", "snapshotName": "x" } })),
            reason: "Forbidden",
            says: "the ONTAP volume behind Proxmox storage \\\"ONTAP03\\\" is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VolumeSnapshotRestore of ONTAP01, which also holds VMs outside the scope (VM 200 of another tenant)",
            manifest: vsr("r-restore01", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": "storage-team" },
                                                "vmPolicy": "ShutdownAndRestart", "confirmDestroy": ["x"] })),
            reason: "Forbidden",
            says: "VM(s) with disks on Proxmox storage \\\"ONTAP01\\\" (restoring the storage would revert",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VolumeSnapshotRestore (scope Vm) of the other tenant's VM 200",
            manifest: vsr("r-restore200", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": "storage-team" },
                                                 "scope": "Vm", "vmid": 200, "vmPolicy": "ShutdownAndRestart" })),
            reason: "Forbidden",
            says: "VM 200 is outside",
        },
        Refusal {
            item: "9 tenancy",
            attack: "VolumeSnapshotRestore of a snapshot on ONTAP02 (another tenant's disks)",
            manifest: vsr("r-restore02", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP02", "snapshotName": "other-tenant" } })),
            reason: "Forbidden",
            says: "Proxmox storage \\\"ONTAP02\\\" is outside",
        },
        Refusal {
            item: "bounds",
            attack: "FlexCloneMount of a snapshot that does not exist",
            manifest: fcm("r-nosnap", json!({ "source": { "proxmoxClusterRef": pref, "storage": "ONTAP01", "snapshotName": "nosuch" } })),
            reason: "PreconditionFailed",
            says: "does not exist",
        },
    ]
}

/// Things the tenant must never learn from a refusal: other backends, Secrets, VMs and tags outside its scope
/// (unless the object named them itself, in `manifest`).
fn leaks(s: &Suite, manifest: &Value, text: &str) -> Option<String> {
    let named = manifest.to_string();
    let secret_ns = s.h.secrets_ns.as_str();
    let missing = format!("{}-missing-credentials", s.h.ns);
    let needles = [
        s.h.pve_secret.as_str(),
        missing.as_str(),
        secret_ns,
        "team-b",
        "somewhere-else",
        "pve_backup",
        "data01",
    ];
    needles
        .iter()
        .find(|n| text.contains(**n) && !named.contains(**n))
        .or_else(|| {
            // VM 200 is the other tenant's: no message may mention it unless the object named it. Names made from
            // the (random) namespace name are taken out first.
            let rest = text.replace(&s.h.ns, "");
            let mentions = rest
                .split(|c: char| !c.is_ascii_digit())
                .any(|t| t == "200");
            (manifest["spec"]["vmid"] != 200 && mentions).then_some(&"VM 200")
        })
        .map(|n| n.to_string())
}

async fn refusal_cases(s: &mut Suite) {
    let cases = refusals(s);
    for c in &cases {
        if let Err(e) = s.tenant_create(&c.manifest).await {
            panic!("{}: not admitted: {e}", c.attack);
        }
    }
    let mut deleted = Vec::new();
    for c in cases {
        let name = c.manifest["metadata"]["name"].as_str().unwrap().to_owned();
        let kind = c.manifest["kind"].as_str().unwrap();
        let (reason, message) = match kind {
            "VmDiskClone" => refused::<VmDiskClone>(&s.h, &name, c.reason).await,
            "VolumeSnapshot" => refused::<VolumeSnapshot>(&s.h, &name, c.reason).await,
            "VolumeSnapshotRestore" => {
                refused::<VolumeSnapshotRestore>(&s.h, &name, c.reason).await
            }
            _ => refused::<FlexCloneMount>(&s.h, &name, c.reason).await,
        };
        // Messages are compared as JSON text, where quotes are escaped.
        let shown = serde_json::to_string(&message).unwrap();
        let outcome = if reason != c.reason {
            Err(format!("reason {reason}, expected {}: {message}", c.reason))
        } else if !shown.contains(c.says) {
            Err(format!("message does not say {:?}: {message}", c.says))
        } else if let Some(l) = leaks(s, &c.manifest, &message) {
            Err(format!(
                "message names {l:?}, outside the tenant's scope: {message}"
            ))
        } else {
            Ok(format!("Failed/{reason}: {}", truncate(&message, 90)))
        };
        s.record(c.item, c.attack, outcome);
        s.dynamic(kind)
            .delete(&name, &DeleteParams::default())
            .await
            .expect("tenant deletes");
        deleted.push((kind.to_owned(), name));
    }
    for (kind, name) in &deleted {
        match kind.as_str() {
            "VmDiskClone" => s.h.wait_gone::<VmDiskClone>(name).await,
            "VolumeSnapshot" => s.h.wait_gone::<VolumeSnapshot>(name).await,
            "VolumeSnapshotRestore" => s.h.wait_gone::<VolumeSnapshotRestore>(name).await,
            _ => s.h.wait_gone::<FlexCloneMount>(name).await,
        }
    }
}

/// Waits until the object is Failed or not Ready for `reason` (a refusal that may pass, like a backend not ready,
/// is retried rather than Failed) and returns the Ready condition's reason and message.
async fn refused<K>(h: &Harness, name: &str, reason: &str) -> (String, String)
where
    K: pve_ontap_controller::controller::object::Managed + Namespaced,
{
    let ready = |o: &K| conditions_of(o).into_iter().find(|c| c.type_ == "Ready");
    let obj = h
        .wait_for::<K>(name, |o| {
            phase_of(o) == Phase::Failed
                || ready(o).is_some_and(|c| c.status == "False" && c.reason == reason)
        })
        .await;
    let ready = ready(&obj).expect("Ready condition");
    (ready.reason, ready.message)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Writes `status` into the object's status as the tenant (the `*/status` rights item 6 is about).
async fn tamper(s: &Suite, kind: &str, name: &str, status: Value) -> Result<(), String> {
    s.dynamic(kind)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("status write refused: {e}"))
}

async fn sequence_cases(s: &mut Suite, foreign_uuid: &str) {
    let pve = s.h.pve_name.clone();
    let pref = json!({ "name": pve });

    // Item 2: adopt someone's snapshot inside the scope, then delete with deletionPolicy Delete.
    let stats = s.h.sim_stats().await;
    s.tenant_create(&vs(
        "q-adopt",
        json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01",
        "existingSnapshotName": "storage-team", "deletionPolicy": "Delete" }),
    ))
    .await
    .unwrap();
    s.h.wait_ready::<VolumeSnapshot>("q-adopt").await;
    s.h.delete_and_wait::<VolumeSnapshot>("q-adopt").await;
    let after = s.h.sim_stats().await;
    let inv = s.h.inventory().await;
    let kept = snapshot_names(&inv, "pve_images").contains(&"storage-team".to_string());
    let deletes =
        route_calls(&after, "ontap", "DELETE", "") - route_calls(&stats, "ontap", "DELETE", "");
    s.record(
        "2 adopt",
        "adopt a foreign snapshot with deletionPolicy Delete, then delete the object",
        if kept && deletes == 0 {
            Ok("snapshot kept, 0 ONTAP DELETE calls".into())
        } else {
            Err(format!("kept={kept}, ONTAP DELETE calls {deletes}"))
        },
    );

    // Item 6: a Ready snapshot whose status is aimed at a foreign snapshot before the delete.
    s.tenant_create(&vs(
        "q-tamper",
        json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01" }),
    ))
    .await
    .unwrap();
    let obj = s.h.wait_ready::<VolumeSnapshot>("q-tamper").await;
    let own = obj.status.unwrap().snapshot_name.unwrap();
    let outcome = match tamper(
        s,
        "VolumeSnapshot",
        "q-tamper",
        json!({ "snapshotName": "storage-team", "snapshotUuid": foreign_uuid }),
    )
    .await
    {
        Err(e) => Err(e),
        Ok(()) => {
            s.h.delete_and_wait::<VolumeSnapshot>("q-tamper").await;
            let names = snapshot_names(&s.h.inventory().await, "pve_images");
            match (
                names.contains(&"storage-team".to_string()),
                names.contains(&own),
            ) {
                (true, false) => Ok("foreign snapshot kept, own snapshot deleted".into()),
                (k, o) => Err(format!("foreign kept={k}, own still there={o}")),
            }
        }
    };
    s.record(
        "6 status",
        "aim a VolumeSnapshot's status at a foreign snapshot, then delete",
        outcome,
    );

    // Items 1 and 6: a Ready mount whose status is aimed at the parent storage before the delete.
    s.tenant_create(&vs(
        "q-snap",
        json!({ "proxmoxClusterRef": pref, "storage": "ONTAP01" }),
    ))
    .await
    .unwrap();
    s.h.wait_ready::<VolumeSnapshot>("q-snap").await;
    s.tenant_create(&fcm(
        "q-mnt",
        json!({ "volumeSnapshotRef": { "name": "q-snap" } }),
    ))
    .await
    .unwrap();
    let obj = s.h.wait_ready::<FlexCloneMount>("q-mnt").await;
    let st = obj.status.unwrap();
    let (own_storage, own_volume) = (st.storage_id.unwrap(), st.clone_volume_name.unwrap());
    let outcome = match tamper(
        s,
        "FlexCloneMount",
        "q-mnt",
        json!({ "storageId": "ONTAP01", "junctionPath": "/pve_images", "cloneVolumeName": "pve_images" }),
    )
    .await
    {
        Err(e) => Err(e),
        Ok(()) => {
            s.h.delete_and_wait::<FlexCloneMount>("q-mnt").await;
            let inv = s.h.inventory().await;
            let parent_ok = storage(&inv, "ONTAP01").is_some() && volume(&inv, "pve_images").is_some();
            let own_gone = storage(&inv, &own_storage).is_none() && volume(&inv, &own_volume).is_none();
            if parent_ok && own_gone {
                Ok("ONTAP01 and pve_images kept, own storage and clone removed".into())
            } else {
                Err(format!("parent kept={parent_ok}, own removed={own_gone}"))
            }
        }
    };
    s.record(
        "1 storage",
        "aim a FlexCloneMount's status at ONTAP01 and its volume, then delete",
        outcome,
    );
    s.h.delete_and_wait::<VolumeSnapshot>("q-snap").await;

    // Item 4: edit what cleanup would depend on before the delete.
    let before = fingerprint(&s.h.inventory().await);
    s.tenant_create(&vdc("q-edit", &pve, json!({ "attach": "Unused" })))
        .await
        .unwrap();
    s.h.wait_ready::<VmDiskClone>("q-edit").await;
    let edit = s
        .dynamic("VmDiskClone")
        .patch(
            "q-edit",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "attach": "NewVm", "newVm": { "vmid": 300, "name": "victim" } } })),
        )
        .await;
    let edited = match &edit {
        Ok(_) => "edit admitted".to_string(),
        Err(e) => format!("edit refused ({e})"),
    };
    s.h.delete_and_wait::<VmDiskClone>("q-edit").await;
    let after = fingerprint(&s.h.inventory().await);
    s.record(
        "4 spec edits",
        "VmDiskClone attach Unused, Ready, edited to NewVm with VM 300 (exists), then deleted",
        if before == after {
            Ok(format!(
                "{edited}; VM 300 kept, unusedN and copies removed: inventory as before"
            ))
        } else {
            Err(format!(
                "{edited}; inventory differs: {}",
                diff(&before, &after)
            ))
        },
    );

    // Item 3: a Ready NewVm copy whose status is aimed at VM 300 before the delete.
    s.tenant_create(&vdc(
        "q-newvm",
        &pve,
        json!({ "attach": "NewVm", "newVm": { "vmid": 301, "name": "copy" } }),
    ))
    .await
    .unwrap();
    s.h.wait_ready::<VmDiskClone>("q-newvm").await;
    let outcome = match tamper(s, "VmDiskClone", "q-newvm", json!({ "newVmid": 300 })).await {
        Err(e) => Err(e),
        Ok(()) => {
            s.h.delete_and_wait::<VmDiskClone>("q-newvm").await;
            let inv = s.h.inventory().await;
            let victim = vm(&inv, 300).is_some()
                && volume_files(&inv, "pve_images")
                    .contains(&"file:images/300/vm-300-disk-0.raw".to_string());
            match (victim, vm(&inv, 301).is_none()) {
                (true, true) => Ok("VM 300 and its disk kept, VM 301 removed".into()),
                (v, gone) => Err(format!("VM 300 intact={v}, VM 301 removed={gone}")),
            }
        }
    };
    s.record(
        "3 new VM",
        "aim a NewVm copy's status at VM 300, then delete",
        outcome,
    );
}

fn diff(a: &Value, b: &Value) -> String {
    let (a, b) = (a.to_string(), b.to_string());
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(0);
    let from = at.saturating_sub(80);
    format!(
        "…{}… vs …{}…",
        &a[from..(at + 80).min(a.len())],
        &b[from..(at + 80).min(b.len())]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_change_nothing() {
    let mut s = setup().await;
    s.h.foreign_snapshot("pve_backup", "other-tenant").await;
    let foreign_uuid = s.h.foreign_snapshot("pve_images", "storage-team").await;

    let inv_before = fingerprint(&s.h.inventory().await);
    let stats_before = s.h.sim_stats().await;
    admission_cases(&mut s).await;
    rbac_cases(&mut s).await;
    refusal_cases(&mut s).await;
    let stats_after = s.h.sim_stats().await;
    let inv_after = fingerprint(&s.h.inventory().await);
    let mutating = (mutating_calls(&stats_after, "pve") - mutating_calls(&stats_before, "pve"))
        + (mutating_calls(&stats_after, "ontap") - mutating_calls(&stats_before, "ontap"));
    let single = s.rows.len();
    if mutating != 0 {
        s.failures.push(format!(
            "{mutating} mutating backend calls during the {single} single-step cases"
        ));
    }
    if inv_before != inv_after {
        s.failures.push(format!(
            "the inventory changed: {}",
            diff(&inv_before, &inv_after)
        ));
    }

    sequence_cases(&mut s, &foreign_uuid).await;

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| case | item | attack | outcome |\n|---|---|---|---|"
    );
    for r in &s.rows {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} |",
            r.id,
            r.item,
            r.attack,
            r.outcome.replace('|', "\\|")
        );
    }
    let _ = writeln!(
        table,
        "\n{} cases; {single} single-step cases made {mutating} mutating backend calls, inventory {}",
        s.rows.len(),
        if inv_before == inv_after { "unchanged" } else { "CHANGED" },
    );
    println!("{table}");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-inputs.md");
    let _ = std::fs::write(&out, &table);
    assert!(s.rows.len() >= 60, "at least 60 cases ({})", s.rows.len());
    assert!(
        s.failures.is_empty(),
        "{} failures:\n{}\n\n{table}",
        s.failures.len(),
        s.failures.join("\n")
    );
    s.h.finish().await;
}
