//! Conformance of the simulated Proxmox VE API: authentication, discovery, storage configuration and content,
//! VM configuration (digest, pending changes, drives, unused volumes) and tasks.

mod pve_common;

use pve_common::{Auth, PveSim, TOKEN};
use pve_ontap_sim::pve::scenario::{AclEntry, TokenScenario, UserScenario};
use pve_ontap_sim::Scenario;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn login_ticket_cookie_and_csrf() {
    let pve = PveSim::start().await;
    let a = pve
        .call(
            Method::POST,
            "/access/ticket",
            &Auth::None,
            &[("username", "root@pam"), ("password", "proxmox123")],
        )
        .await;
    let d = a.ok();
    assert_eq!(d["username"], "root@pam");
    let ticket = d["ticket"].as_str().unwrap().to_string();
    assert!(ticket.starts_with("PVE:root@pam:"), "{ticket}");
    let csrf = d["CSRFPreventionToken"].as_str().unwrap().to_string();
    assert_eq!(csrf.split(':').next().unwrap().len(), 8);
    assert_eq!(d["clustername"], "sim-pve");
    assert_eq!(d["cap"]["vms"]["VM.PowerMgmt"], 1);

    // Username without realm plus `realm`.
    pve.call(
        Method::POST,
        "/access/ticket",
        &Auth::None,
        &[
            ("username", "root"),
            ("realm", "pam"),
            ("password", "proxmox123"),
        ],
    )
    .await
    .ok();
    // Wrong password: 401 "authentication failure".
    pve.call(
        Method::POST,
        "/access/ticket",
        &Auth::None,
        &[("username", "root@pam"), ("password", "nope")],
    )
    .await
    .fails(401, "authentication failure");

    // Reads with the cookie alone.
    let with_ticket = Auth::Ticket {
        ticket: ticket.clone(),
        csrf: None,
    };
    pve.call(Method::GET, "/version", &with_ticket, &[])
        .await
        .ok();
    // Writes need the CSRF header.
    pve.call(
        Method::PUT,
        "/nodes/pve2/qemu/101/config",
        &with_ticket,
        &[("description", "x")],
    )
    .await
    .fails(401, "Permission denied - invalid csrf token");
    let bad_csrf = Auth::Ticket {
        ticket: ticket.clone(),
        csrf: Some("00000000:garbage".into()),
    };
    pve.call(
        Method::PUT,
        "/nodes/pve2/qemu/101/config",
        &bad_csrf,
        &[("description", "x")],
    )
    .await
    .fails(401, "invalid csrf token");
    let full = Auth::Ticket {
        ticket: ticket.clone(),
        csrf: Some(csrf),
    };
    pve.call(
        Method::PUT,
        "/nodes/pve2/qemu/101/config",
        &full,
        &[("description", "x")],
    )
    .await
    .ok();

    // Renewal: the current ticket is accepted as password.
    let renewed = pve
        .call(
            Method::POST,
            "/access/ticket",
            &Auth::None,
            &[("username", "root@pam"), ("password", &ticket)],
        )
        .await;
    assert!(renewed.ok()["ticket"]
        .as_str()
        .unwrap()
        .starts_with("PVE:root@pam:"));

    // Forged ticket and no credentials at all.
    let forged = Auth::Ticket {
        ticket: ticket.replace("PVE:root@pam:", "PVE:admin@pve:"),
        csrf: None,
    };
    pve.call(Method::GET, "/version", &forged, &[])
        .await
        .fails(401, "invalid PVE ticket");
    pve.call(Method::GET, "/version", &Auth::None, &[])
        .await
        .fails(401, "No ticket");
}

#[tokio::test]
async fn api_tokens() {
    let pve = PveSim::start().await;
    // No CSRF token needed for writes with an API token.
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[("description", "by token")],
    )
    .await
    .ok();
    // Space instead of the first '='.
    let spaced = Auth::Token(TOKEN.replacen('=', " ", 1));
    pve.call(Method::GET, "/version", &spaced, &[]).await.ok();
    let wrong_secret =
        Auth::Token("PVEAPIToken=root@pam!ci=00000000-0000-0000-0000-000000000000".into());
    pve.call(Method::GET, "/version", &wrong_secret, &[])
        .await
        .fails(401, "invalid token value!");
    let unknown =
        Auth::Token("PVEAPIToken=root@pam!nope=d5e8c7a2-0b1f-4e3a-9c6d-2f4b8a1e7c90".into());
    pve.call(Method::GET, "/version", &unknown, &[])
        .await
        .fails(401, "no such token 'nope' for user 'root@pam'");
    // Tokens cannot log in.
    pve.call(
        Method::POST,
        "/access/ticket",
        &PveSim::token(),
        &[("username", "root@pam"), ("password", "proxmox123")],
    )
    .await
    .fails(403, "not available with API token");
    // Tasks started by a token carry the token id.
    let upid = pve
        .post("/nodes/pve1/qemu/100/status/suspend", &[])
        .await
        .upid();
    assert!(upid.ends_with(":root@pam!ci:"), "{upid}");
    let st = pve.wait_task(&upid).await;
    assert_eq!(st["user"], "root@pam");
    assert_eq!(st["tokenid"], "ci");
}

fn limited_scenario() -> Scenario {
    let mut s = Scenario::default_scenario();
    s.pve.users.push(UserScenario {
        userid: "ctl@pve".into(),
        password: Some("secret".into()),
        enabled: true,
        acl: Some(vec![
            AclEntry {
                path: "/vms".into(),
                privileges: vec!["VM.Audit".into(), "VM.PowerMgmt".into()],
                propagate: true,
            },
            AclEntry {
                path: "/storage/ONTAP01".into(),
                privileges: vec!["Datastore.Audit".into()],
                propagate: true,
            },
        ]),
        tokens: vec![
            TokenScenario {
                id: "ro".into(),
                secret: "11111111-2222-3333-4444-555555555555".into(),
                privsep: true,
                acl: vec![AclEntry {
                    path: "/vms/100".into(),
                    privileges: vec!["VM.Audit".into()],
                    propagate: true,
                }],
                expire: 0,
            },
            TokenScenario {
                id: "none".into(),
                secret: "66666666-2222-3333-4444-555555555555".into(),
                privsep: true,
                acl: vec![],
                expire: 0,
            },
        ],
    });
    s.pve.users.push(UserScenario {
        userid: "disk@pve".into(),
        password: Some("secret".into()),
        enabled: true,
        acl: Some(vec![
            AclEntry {
                path: "/vms".into(),
                privileges: vec!["VM.Audit".into(), "VM.Config.Disk".into()],
                propagate: true,
            },
            AclEntry {
                path: "/storage".into(),
                privileges: vec!["Datastore.Audit".into()],
                propagate: true,
            },
        ]),
        tokens: vec![],
    });
    s
}

#[tokio::test]
async fn disk_privileges_and_volume_ownership() {
    let pve = PveSim::start_with(limited_scenario()).await;
    let (ticket, csrf) = pve.login("disk@pve", "secret").await;
    let user = Auth::Ticket {
        ticket,
        csrf: Some(csrf),
    };
    let put = |form: Vec<(&'static str, &'static str)>| {
        let user = user.clone();
        let pve = &pve;
        async move {
            pve.call(Method::PUT, "/nodes/pve2/qemu/101/config", &user, &form)
                .await
        }
    };
    // New allocations need Datastore.AllocateSpace on the storage.
    put(vec![("scsi1", "ONTAP01:1")]).await.fails(
        403,
        "Permission check failed (/storage/ONTAP01, Datastore.AllocateSpace)",
    );
    // Another VM's volume: Datastore.Audit on the storage plus VM.Config.Disk on the owner is enough.
    put(vec![("scsi1", "ONTAP01:100/vm-100-disk-1.raw")])
        .await
        .ok();
    // Its own volume as unused: allowed; destroying it through delete=unusedN needs AllocateSpace.
    put(vec![("delete", "virtio0")]).await.ok();
    assert_eq!(
        pve.config("pve2", 101).await["unused0"],
        "ONTAP01:101/vm-101-disk-0.raw"
    );
    put(vec![("delete", "unused0")])
        .await
        .fails(403, "(/storage/ONTAP01, Datastore.AllocateSpace)");
    // Options need VM.Config.Options.
    put(vec![("name", "x")])
        .await
        .fails(403, "(/vms/101, VM.Config.Options)");
}

#[tokio::test]
async fn permissions_of_limited_users_and_tokens() {
    let pve = PveSim::start_with(limited_scenario()).await;
    let ro = Auth::Token("PVEAPIToken=ctl@pve!ro=11111111-2222-3333-4444-555555555555".into());
    let none = Auth::Token("PVEAPIToken=ctl@pve!none=66666666-2222-3333-4444-555555555555".into());

    pve.call(Method::GET, "/nodes/pve1/qemu/100/config", &ro, &[])
        .await
        .ok();
    pve.call(Method::GET, "/nodes/pve2/qemu/101/config", &ro, &[])
        .await
        .fails(403, "Permission check failed (/vms/101, VM.Audit)");
    // privsep: token ∩ user, so no power management through this token.
    pve.call(
        Method::POST,
        "/nodes/pve1/qemu/100/status/suspend",
        &ro,
        &[],
    )
    .await
    .fails(403, "Permission check failed (/vms/100, VM.PowerMgmt)");
    pve.call(
        Method::POST,
        "/storage",
        &ro,
        &[("storage", "X1"), ("type", "nfs")],
    )
    .await
    .fails(403, "(/storage, Datastore.Allocate)");

    // A token without ACLs sees empty lists rather than 403.
    let vms = pve
        .call(Method::GET, "/cluster/resources", &none, &[("type", "vm")])
        .await;
    assert_eq!(vms.ok(), &json!([]));
    let storages = pve.call(Method::GET, "/storage", &none, &[]).await;
    assert_eq!(storages.ok(), &json!([]));

    // The user itself (ticket) may power VMs but not configure them.
    let (ticket, csrf) = pve.login("ctl@pve", "secret").await;
    let user = Auth::Ticket {
        ticket,
        csrf: Some(csrf),
    };
    let upid = pve
        .call(
            Method::POST,
            "/nodes/pve1/qemu/100/status/suspend",
            &user,
            &[],
        )
        .await
        .upid();
    assert!(upid.ends_with(":ctl@pve:"));
    pve.call(
        Method::PUT,
        "/nodes/pve1/qemu/100/config",
        &user,
        &[("description", "x")],
    )
    .await
    .fails(403, "Permission check failed (/vms/100, VM.Config.");
    // The token cannot read the user's task; the user can.
    let path = format!("/nodes/pve1/tasks/{}/status", urlenc(&upid));
    pve.call(Method::GET, &path, &user, &[]).await.ok();
    pve.call(Method::GET, &path, &ro, &[])
        .await
        .fails(403, "Sys.Audit");
    // Only the visible storage is listed.
    let list = pve.call(Method::GET, "/storage", &user, &[]).await;
    let ids = list.strings("storage");
    assert_eq!(ids, vec!["ONTAP01"]);
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn discovery_endpoints() {
    let pve = PveSim::start().await;
    let v = pve.get("/version").await;
    assert_eq!(v.ok()["release"], "8.4");
    assert!(v.ok()["version"].as_str().unwrap().starts_with("8."));

    let nodes = pve.get("/nodes").await;
    let names = nodes.strings("node");
    assert_eq!(names, vec!["pve1", "pve2"]);
    assert_eq!(nodes.ok()[0]["status"], "online");
    assert_eq!(nodes.ok()[0]["type"], "node");

    let vms = pve.get_q("/cluster/resources", &[("type", "vm")]).await;
    let vms = vms.ok().as_array().unwrap().clone();
    assert_eq!(vms.len(), 2);
    let web = vms.iter().find(|v| v["vmid"] == 100).unwrap();
    assert_eq!(web["id"], "qemu/100");
    assert_eq!(web["type"], "qemu");
    assert_eq!(web["node"], "pve1");
    assert_eq!(web["status"], "running");
    assert_eq!(web["name"], "web01");
    assert_eq!(web["template"], 0);
    let db = vms.iter().find(|v| v["vmid"] == 101).unwrap();
    assert_eq!(db["status"], "stopped");
    assert_eq!(db["node"], "pve2");

    let st = pve
        .get_q("/cluster/resources", &[("type", "storage")])
        .await;
    let st = st.ok().as_array().unwrap().clone();
    let ontap = st
        .iter()
        .find(|s| s["id"] == "storage/pve1/ONTAP01")
        .unwrap();
    assert_eq!(ontap["plugintype"], "nfs");
    assert_eq!(ontap["shared"], 1);
    assert_eq!(ontap["status"], "available");
    assert!(ontap["maxdisk"].as_u64().unwrap() > 0);
    pve.get_q("/cluster/resources", &[("type", "bogus")])
        .await
        .fails(400, "Parameter verification failed.");

    let list = pve.get("/nodes/pve1/qemu").await;
    let list = list.ok().as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["vmid"], 100);
    assert_eq!(list[0]["status"], "running");

    assert_eq!(pve.get("/cluster/nextid").await.ok(), "102");
    pve.get_q("/cluster/nextid", &[("vmid", "100")])
        .await
        .fails(400, "Parameter verification failed.");

    // Unknown paths and methods: 501.
    pve.get("/nodes/pve1/bogus")
        .await
        .fails(501, "Method 'GET /nodes/pve1/bogus' not implemented");
    pve.call(Method::PATCH, "/version", &PveSim::token(), &[])
        .await
        .fails(501, "not implemented");
}

#[tokio::test]
async fn vm_lookup_on_the_wrong_node() {
    let pve = PveSim::start().await;
    pve.get("/nodes/pve2/qemu/100/config").await.fails(
        500,
        "Configuration file 'nodes/pve2/qemu-server/100.conf' does not exist",
    );
    pve.get("/nodes/pve1/qemu/999/status/current").await.fails(
        500,
        "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist",
    );
    pve.post("/nodes/pve2/qemu/100/status/stop", &[])
        .await
        .fails(500, "does not exist");
    pve.get("/nodes/pve9/qemu/100/config")
        .await
        .fails(500, "hostname lookup 'pve9' failed");
    pve.get("/nodes/pve1/qemu/abc/config")
        .await
        .fails(400, "Parameter verification failed.");
}

#[tokio::test]
async fn config_shape_digest_and_types() {
    let pve = PveSim::start().await;
    let c = pve.config("pve1", 100).await;
    assert_eq!(
        c["scsi0"],
        "ONTAP01:100/vm-100-disk-0.qcow2,iothread=1,size=32G"
    );
    assert_eq!(
        c["scsi1"],
        "ONTAP01:100/vm-100-disk-1.raw,iothread=1,size=8G"
    );
    assert_eq!(c["ide2"], "none,media=cdrom");
    assert_eq!(c["cores"], 2, "integers are numbers");
    assert_eq!(c["memory"], "4096", "memory is a property string");
    assert_eq!(c["agent"], "1");
    assert_eq!(c["onboot"], 1);
    let digest = c["digest"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 40, "SHA-1 hex");

    // Digest check: the right one works, a stale one fails.
    pve.put(
        "/nodes/pve1/qemu/100/config",
        &[("description", "first"), ("digest", &digest)],
    )
    .await
    .ok();
    pve.put(
        "/nodes/pve1/qemu/100/config",
        &[("description", "second"), ("digest", &digest)],
    )
    .await
    .fails(500, "checksum mismatch (file change by other user?)");
    let c2 = pve.config("pve1", 100).await;
    assert_ne!(c2["digest"], digest);
    assert_eq!(c2["description"], "first");

    // Schema errors.
    pve.put("/nodes/pve1/qemu/100/config", &[])
        .await
        .fails(500, "no options specified");
    let bad = pve
        .put("/nodes/pve1/qemu/100/config", &[("bogus", "1")])
        .await;
    bad.fails(400, "Parameter verification failed.");
    assert!(bad.body["errors"]["bogus"]
        .as_str()
        .unwrap()
        .contains("not defined in schema"));
    let bad = pve
        .put("/nodes/pve1/qemu/100/config", &[("onboot", "true")])
        .await;
    assert_eq!(
        bad.body["errors"]["onboot"],
        "type check ('boolean') failed - got 'true'"
    );
    let bad = pve
        .put(
            "/nodes/pve1/qemu/100/config",
            &[("name", "x"), ("delete", "name")],
        )
        .await;
    bad.fails(400, "Parameter verification failed.");
    let bad = pve
        .put(
            "/nodes/pve1/qemu/100/config",
            &[("skiplock", "1"), ("name", "y")],
        )
        .await;
    assert_eq!(
        bad.body["errors"]["skiplock"],
        "Only root may use this option."
    );
    // JSON bodies work as well, with JSON booleans.
    let url = format!("{}/nodes/pve1/qemu/100/config", pve.base);
    let r = pve
        .client
        .put(url)
        .header("Authorization", TOKEN)
        .json(&json!({"onboot": false, "tags": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c3 = pve.config("pve1", 100).await;
    assert_eq!(c3["onboot"], 0);
    assert_eq!(c3["tags"], "web");
}

#[tokio::test]
async fn pending_changes_on_a_running_vm() {
    let pve = PveSim::start().await;
    // memory and agent are not hot-pluggable: pending until the next cold start.
    pve.put(
        "/nodes/pve1/qemu/100/config",
        &[("memory", "8192"), ("name", "web01-renamed")],
    )
    .await
    .ok();
    let merged = pve.config("pve1", 100).await;
    assert_eq!(merged["memory"], "8192");
    assert_eq!(merged["name"], "web01-renamed");
    let current = pve
        .get_q("/nodes/pve1/qemu/100/config", &[("current", "1")])
        .await;
    assert_eq!(
        current.ok()["memory"],
        "4096",
        "memory stays pending on a running VM"
    );
    assert_eq!(
        current.ok()["name"],
        "web01-renamed",
        "name is applied at once"
    );
    let pending = pve.get("/nodes/pve1/qemu/100/pending").await;
    let mem = pending
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "memory")
        .unwrap()
        .clone();
    assert_eq!(mem["value"], "4096");
    assert_eq!(mem["pending"], "8192");

    // An ide disk cannot be hot-plugged; a scsi disk can.
    pve.put(
        "/nodes/pve1/qemu/100/config",
        &[("ide1", "ONTAP01:1"), ("scsi2", "ONTAP01:1")],
    )
    .await
    .ok();
    let current = pve
        .get_q("/nodes/pve1/qemu/100/config", &[("current", "1")])
        .await
        .ok()
        .clone();
    assert!(current.get("ide1").is_none());
    // Keys are processed in order, so ide1 got the lower disk number.
    assert_eq!(current["scsi2"], "ONTAP01:100/vm-100-disk-3.raw,size=1G");
    let merged = pve.config("pve1", 100).await;
    assert_eq!(merged["ide1"], "ONTAP01:100/vm-100-disk-2.raw,size=1G");

    // With disk hotplug switched off (and that applied by a stopped VM), even a scsi disk waits for a start.
    pve.put("/nodes/pve2/qemu/101/config", &[("hotplug", "network,usb")])
        .await
        .ok();
    pve.run_ok("/nodes/pve2/qemu/101/status/start", &[]).await;
    pve.put("/nodes/pve2/qemu/101/config", &[("scsi1", "ONTAP01:1")])
        .await
        .ok();
    let cur101 = pve
        .get_q("/nodes/pve2/qemu/101/config", &[("current", "1")])
        .await
        .ok()
        .clone();
    assert!(cur101.get("scsi1").is_none());
    assert_eq!(
        pve.config("pve2", 101).await["scsi1"],
        "ONTAP01:101/vm-101-disk-1.raw,size=1G"
    );

    // Deleting a pending-only value via revert.
    pve.put("/nodes/pve1/qemu/100/config", &[("revert", "memory")])
        .await
        .ok();
    assert_eq!(pve.config("pve1", 100).await["memory"], "4096");

    // A cold start applies what is pending.
    pve.run_ok("/nodes/pve1/qemu/100/status/stop", &[]).await;
    pve.run_ok("/nodes/pve1/qemu/100/status/start", &[]).await;
    let current = pve
        .get_q("/nodes/pve1/qemu/100/config", &[("current", "1")])
        .await
        .ok()
        .clone();
    assert_eq!(current["ide1"], "ONTAP01:100/vm-100-disk-2.raw,size=1G");
    assert!(pve
        .get("/nodes/pve1/qemu/100/pending")
        .await
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e.get("pending").is_none()));
}

#[tokio::test]
async fn attach_existing_volumes_and_naming_rules() {
    let pve = PveSim::start().await;
    // VM 101 is stopped: attaching its own volume as unused and as a drive applies at once.
    // Attach VM 100's disk to VM 101 (not owned by 101).
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[("scsi1", "ONTAP01:100/vm-100-disk-1.raw")],
    )
    .await
    .ok();
    let c = pve.config("pve2", 101).await;
    assert_eq!(
        c["scsi1"], "ONTAP01:100/vm-100-disk-1.raw,size=8G",
        "size is filled in"
    );

    // Naming rules.
    for (value, message) in [
        ("ONTAP01:101/vm-101-disk-9.img", "unable to parse"),
        ("ONTAP01:101/vm 101.raw", "unable to parse"),
        ("ONTAP01:vm-101-disk-0.raw", "unable to parse"),
        (
            "ONTAP01:101/vm-101-disk-7.raw",
            "volume ONTAP01:101/vm-101-disk-7.raw does not exist",
        ),
        (
            "NOPE01:101/vm-101-disk-0.raw",
            "storage 'NOPE01' does not exist",
        ),
        (
            "local:iso/debian-12.7.0-amd64-netinst.iso",
            "explicit 'media=cdrom' is required for iso images",
        ),
    ] {
        pve.put("/nodes/pve2/qemu/101/config", &[("scsi2", value)])
            .await
            .fails(500, message);
    }
    let bad = pve
        .put(
            "/nodes/pve2/qemu/101/config",
            &[("scsi2", "ONTAP01:101/vm-101-disk-0.raw,bogus=1")],
        )
        .await;
    bad.fails(400, "Parameter verification failed.");
    assert!(bad.body["errors"]["scsi2"]
        .as_str()
        .unwrap()
        .starts_with("invalid format"));
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[("scsi2", "ONTAP01:101/vm-101-disk-0.raw,format=qcow2")],
    )
    .await
    .fails(500, "option different from storage format 'raw'");

    // ISO as cdrom, cdrom alias and `none`.
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[(
            "ide2",
            "local:iso/debian-12.7.0-amd64-netinst.iso,media=cdrom",
        )],
    )
    .await
    .ok();
    assert_eq!(
        pve.config("pve2", 101).await["ide2"],
        "local:iso/debian-12.7.0-amd64-netinst.iso,media=cdrom,size=631M"
    );
    pve.put("/nodes/pve2/qemu/101/config", &[("cdrom", "none")])
        .await
        .ok();
    assert_eq!(pve.config("pve2", 101).await["ide2"], "none,media=cdrom");
}

#[tokio::test]
async fn unused_volumes_and_delete_semantics() {
    let pve = PveSim::start().await;
    // Detaching an owned disk from a stopped VM turns it into unused0; the file stays.
    pve.put("/nodes/pve2/qemu/101/config", &[("scsi1", "ONTAP01:2")])
        .await
        .ok();
    assert_eq!(
        pve.config("pve2", 101).await["scsi1"],
        "ONTAP01:101/vm-101-disk-1.raw,size=2G"
    );
    pve.put("/nodes/pve2/qemu/101/config", &[("delete", "scsi1")])
        .await
        .ok();
    let c = pve.config("pve2", 101).await;
    assert!(c.get("scsi1").is_none());
    assert_eq!(c["unused0"], "ONTAP01:101/vm-101-disk-1.raw");
    assert!(pve
        .images("ONTAP01", 101)
        .await
        .contains(&"ONTAP01:101/vm-101-disk-1.raw".to_string()));

    // delete=unusedN of an owned volume deletes the file itself.
    pve.put("/nodes/pve2/qemu/101/config", &[("delete", "unused0")])
        .await
        .ok();
    assert!(pve.config("pve2", 101).await.get("unused0").is_none());
    assert!(!pve
        .images("ONTAP01", 101)
        .await
        .contains(&"ONTAP01:101/vm-101-disk-1.raw".to_string()));

    // A volume owned by another VM registered as unused is only detached.
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[("unused3", "ONTAP01:100/vm-100-disk-1.raw")],
    )
    .await
    .ok();
    assert_eq!(
        pve.config("pve2", 101).await["unused3"],
        "ONTAP01:100/vm-100-disk-1.raw"
    );
    pve.put("/nodes/pve2/qemu/101/config", &[("delete", "unused3")])
        .await
        .ok();
    assert!(pve
        .images("ONTAP01", 100)
        .await
        .contains(&"ONTAP01:100/vm-100-disk-1.raw".to_string()));

    // Detaching a disk not owned by the VM drops the reference without an unusedN entry.
    pve.put(
        "/nodes/pve2/qemu/101/config",
        &[("scsi2", "ONTAP01:100/vm-100-disk-1.raw")],
    )
    .await
    .ok();
    pve.put("/nodes/pve2/qemu/101/config", &[("delete", "scsi2")])
        .await
        .ok();
    let c = pve.config("pve2", 101).await;
    assert!(
        c.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("unused")),
        "{c}"
    );

    // unusedN on a running VM stays pending.
    pve.put(
        "/nodes/pve1/qemu/100/config",
        &[("unused0", "ONTAP01:100/vm-100-disk-1.raw")],
    )
    .await
    .ok();
    let cur = pve
        .get_q("/nodes/pve1/qemu/100/config", &[("current", "1")])
        .await
        .ok()
        .clone();
    assert!(cur.get("unused0").is_none());
    assert_eq!(
        pve.config("pve1", 100).await["unused0"],
        "ONTAP01:100/vm-100-disk-1.raw"
    );
    pve.put("/nodes/pve1/qemu/100/config", &[("revert", "unused0")])
        .await
        .ok();

    // A pending-only unusedN of an owned volume: delete drops the entry and the file.
    let alloc = pve
        .post(
            "/nodes/pve1/storage/ONTAP01/content",
            &[
                ("vmid", "100"),
                ("filename", "vm-100-disk-9.raw"),
                ("size", "1G"),
            ],
        )
        .await;
    let volid = alloc.ok().as_str().unwrap().to_string();
    pve.put("/nodes/pve1/qemu/100/config", &[("unused1", &volid)])
        .await
        .ok();
    assert_eq!(pve.config("pve1", 100).await["unused1"], volid.as_str());
    pve.put("/nodes/pve1/qemu/100/config", &[("delete", "unused1")])
        .await
        .ok();
    assert!(pve.config("pve1", 100).await.get("unused1").is_none());
    assert!(!pve.images("ONTAP01", 100).await.contains(&volid));
}

#[tokio::test]
async fn storage_add_update_remove() {
    let pve = PveSim::start().await;
    let list = pve.get("/storage").await;
    let ontap = list
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["storage"] == "ONTAP01")
        .unwrap()
        .clone();
    assert_eq!(ontap["type"], "nfs");
    assert_eq!(ontap["server"], "192.0.2.10");
    assert_eq!(ontap["export"], "/pve_images");
    assert_eq!(ontap["path"], "/mnt/pve/ONTAP01");
    assert_eq!(ontap["content"], "images");
    assert_eq!(ontap["options"], "vers=4.2,nconnect=4");
    assert_eq!(ontap["shared"], 1);
    let local = pve.get("/storage/local").await;
    assert_eq!(local.ok()["content"], "backup,iso,vztmpl");

    // Validation.
    pve.post("/storage", &[("storage", "1bad"), ("type", "nfs")])
        .await
        .fails(400, "Parameter verification failed.");
    pve.post("/storage", &[("storage", "X1"), ("type", "weird")])
        .await
        .fails(400, "Parameter verification failed.");
    pve.post(
        "/storage",
        &[
            ("storage", "X1"),
            ("type", "nfs"),
            ("export", "/pve_backup"),
        ],
    )
    .await
    .fails(500, "missing value for required option 'server'");
    pve.post(
        "/storage",
        &[
            ("storage", "X1"),
            ("type", "nfs"),
            ("server", "192.0.2.10"),
            ("export", "/pve_backup"),
            ("shared", "1"),
        ],
    )
    .await
    .fails(500, "unexpected property 'shared'");
    pve.post(
        "/storage",
        &[
            ("storage", "ONTAP01"),
            ("type", "nfs"),
            ("server", "192.0.2.10"),
            ("export", "/pve_backup"),
        ],
    )
    .await
    .fails(
        500,
        "create storage failed: storage ID 'ONTAP01' already defined",
    );
    pve.post(
        "/storage",
        &[
            ("storage", "X1"),
            ("type", "nfs"),
            ("server", "192.0.2.10"),
            ("export", "/nowhere"),
        ],
    )
    .await
    .fails(500, "create storage failed: storage 'X1' is not online");

    let created = pve
        .post(
            "/storage",
            &[
                ("storage", "BACKUP1"),
                ("type", "nfs"),
                ("server", "192.0.2.10"),
                ("export", "/pve_backup"),
                ("content", "backup,images"),
                ("options", "vers=4.2"),
            ],
        )
        .await;
    assert_eq!(created.ok(), &json!({"storage": "BACKUP1", "type": "nfs"}));
    let one = pve.get("/storage/BACKUP1").await.ok().clone();
    assert_eq!(one["path"], "/mnt/pve/BACKUP1");
    assert_eq!(one["content"], "backup,images");
    let digest = one["digest"].as_str().unwrap().to_string();
    pve.put("/storage/BACKUP1", &[("server", "192.0.2.11")])
        .await
        .fails(500, "can't change value of fixed parameter 'server'");
    pve.put(
        "/storage/BACKUP1",
        &[("nodes", "pve1"), ("digest", &digest)],
    )
    .await
    .ok();
    pve.put("/storage/BACKUP1", &[("disable", "1"), ("digest", &digest)])
        .await
        .fails(500, "detected modified configuration");
    let st = pve
        .get_q("/cluster/resources", &[("type", "storage")])
        .await;
    let ids: Vec<String> = st
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.contains(&"storage/pve1/BACKUP1".to_string())
            && !ids.contains(&"storage/pve2/BACKUP1".to_string())
    );
    pve.get("/nodes/pve2/storage/BACKUP1/status")
        .await
        .fails(500, "is not available on node 'pve2'");
    let status = pve
        .get("/nodes/pve1/storage/BACKUP1/status")
        .await
        .ok()
        .clone();
    assert_eq!(status["active"], 1);
    assert_eq!(status["type"], "nfs");

    assert_eq!(pve.delete("/storage/BACKUP1", &[]).await.ok(), &Value::Null);
    pve.get("/storage/BACKUP1")
        .await
        .fails(500, "storage 'BACKUP1' does not exist");
    pve.delete("/storage/BACKUP1", &[])
        .await
        .fails(500, "does not exist");
    pve.assert_pve_events(&["storage_add", "storage_remove"])
        .await;
}

#[tokio::test]
async fn storage_content_listing() {
    let pve = PveSim::start().await;
    let content = pve.get("/nodes/pve1/storage/ONTAP01/content").await;
    let entries = content.ok().as_array().unwrap().clone();
    let volids: Vec<&str> = entries
        .iter()
        .map(|e| e["volid"].as_str().unwrap())
        .collect();
    assert_eq!(
        volids,
        vec![
            "ONTAP01:100/vm-100-disk-0.qcow2",
            "ONTAP01:100/vm-100-disk-1.raw",
            "ONTAP01:101/vm-101-disk-0.raw"
        ]
    );
    let first = &entries[0];
    assert_eq!(first["format"], "qcow2");
    assert_eq!(first["size"], 32u64 << 30);
    assert_eq!(first["vmid"], 100);
    assert_eq!(first["content"], "images");
    let only101 = pve
        .get_q("/nodes/pve2/storage/ONTAP01/content", &[("vmid", "101")])
        .await;
    assert_eq!(only101.ok().as_array().unwrap().len(), 1);

    let iso = pve
        .get_q("/nodes/pve1/storage/local/content", &[("content", "iso")])
        .await;
    assert_eq!(
        iso.ok()[0]["volid"],
        "local:iso/debian-12.7.0-amd64-netinst.iso"
    );
    assert_eq!(iso.ok()[0]["format"], "iso");

    let info = pve
        .get(&format!(
            "/nodes/pve1/storage/ONTAP01/content/{}",
            urlenc("ONTAP01:100/vm-100-disk-1.raw")
        ))
        .await;
    assert_eq!(
        info.ok()["path"],
        "/mnt/pve/ONTAP01/images/100/vm-100-disk-1.raw"
    );
    assert_eq!(info.ok()["format"], "raw");
}

#[tokio::test]
async fn task_status_log_and_errors() {
    let pve = PveSim::start().await;
    let upid = pve
        .post("/nodes/pve2/qemu/101/status/start", &[])
        .await
        .upid();
    let parts: Vec<&str> = upid.split(':').collect();
    assert_eq!(parts.len(), 9);
    assert_eq!(parts[0], "UPID");
    assert_eq!(parts[1], "pve2");
    assert!(
        parts[2].len() == 8
            && parts[2]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
    );
    assert!(parts[4].len() == 8);
    assert_eq!(parts[5], "qmstart");
    assert_eq!(parts[6], "101");
    assert_eq!(parts[8], "");
    let st = pve.wait_task(&upid).await;
    assert_eq!(st["exitstatus"], "OK");
    assert_eq!(st["type"], "qmstart");
    assert_eq!(st["node"], "pve2");
    let log = pve
        .get(&format!("/nodes/pve2/tasks/{}/log", urlenc(&upid)))
        .await;
    assert_eq!(log.body["total"], log.ok().as_array().unwrap().len());
    assert_eq!(log.ok().as_array().unwrap().last().unwrap()["t"], "TASK OK");

    // Starting it again fails inside the task.
    let again = pve.run_task("/nodes/pve2/qemu/101/status/start", &[]).await;
    assert_eq!(again, "VM 101 already running");

    // Bad UPIDs and tasks asked on the wrong node.
    let bad = pve.get("/nodes/pve1/tasks/garbage/status").await;
    bad.fails(400, "Parameter verification failed.");
    assert_eq!(bad.body["errors"]["upid"], "unable to parse worker upid");
    let wrong = pve
        .get(&format!("/nodes/pve1/tasks/{}/status", urlenc(&upid)))
        .await;
    assert_eq!(wrong.body["errors"]["upid"], "no such task");

    let list = pve.get("/nodes/pve2/tasks").await;
    assert!(list
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["upid"] == upid.as_str()));
}

#[tokio::test]
async fn injected_task_failure() {
    let pve = PveSim::start().await;
    pve.hook(Method::POST, "/_sim/faults", Some(json!({"api": "pve", "async_failure": {"operation": "qmstart", "message": "start failed: simulated"}})))
        .await;
    let exit = pve.run_task("/nodes/pve2/qemu/101/status/start", &[]).await;
    assert_eq!(exit, "start failed: simulated");
    let st = pve.get("/nodes/pve2/qemu/101/status/current").await;
    assert_eq!(st.ok()["status"], "stopped");
}

#[tokio::test]
async fn offline_node_and_node_storage_list() {
    let mut scenario = Scenario::default_scenario();
    scenario.pve.nodes[1].online = false;
    let pve = PveSim::start_with(scenario).await;
    let nodes = pve.get("/nodes").await;
    let pve2 = nodes
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "pve2")
        .unwrap()
        .clone();
    assert_eq!(pve2["status"], "offline");
    assert!(pve2.get("maxmem").is_none());
    // The API of an unreachable node cannot be proxied to.
    pve.get("/nodes/pve2/qemu/101/status/current")
        .await
        .fails(595, "No route to host");

    let list = pve.get("/nodes/pve1/storage").await;
    let list = list.ok().as_array().unwrap().clone();
    let ontap = list.iter().find(|s| s["storage"] == "ONTAP01").unwrap();
    assert_eq!(ontap["active"], 1);
    assert_eq!(ontap["enabled"], 1);
    assert_eq!(ontap["shared"], 1);
    assert_eq!(ontap["total"], 1u64 << 40);
    let used = ontap["used"].as_u64().unwrap();
    assert_eq!(
        used,
        (32u64 + 8 + 16) << 30,
        "logical use of the three disk files"
    );
    let images_only = pve
        .get_q("/nodes/pve1/storage", &[("content", "images")])
        .await;
    assert_eq!(images_only.ok().as_array().unwrap().len(), 1);
}

/// A user `ops@pve` who may power VMs (no Sys.Audit), with a token `k8s` holding the same rights; shutdowns
/// take ten minutes so one stays running.
fn task_list_scenario() -> Scenario {
    let mut s = Scenario::default_scenario();
    s.timings.pve.tasks.insert("qmshutdown".into(), 600_000);
    s.pve.users.push(UserScenario {
        userid: "ops@pve".into(),
        password: Some("secret".into()),
        enabled: true,
        acl: Some(vec![AclEntry {
            path: "/vms".into(),
            privileges: vec!["VM.Audit".into(), "VM.PowerMgmt".into()],
            propagate: true,
        }]),
        tokens: vec![TokenScenario {
            id: "k8s".into(),
            secret: "77777777-2222-3333-4444-555555555555".into(),
            privsep: false,
            acl: vec![],
            expire: 0,
        }],
    });
    s
}

/// `GET /nodes/{node}/tasks` as `node_tasks` answers: running tasks (`source=active`, status `RUNNING`, user as
/// written in the UPID) before finished ones (newest first, status = exit status, `tokenid` split off), every
/// filter, paging with `total`, and visibility — own tasks only without Sys.Audit on the node.
#[tokio::test]
async fn task_list_filters_pages_and_visibility() {
    let pve = PveSim::start_with(task_list_scenario()).await;
    let ops_token =
        Auth::Token("PVEAPIToken=ops@pve!k8s=77777777-2222-3333-4444-555555555555".into());
    let (ticket, csrf) = pve.login("ops@pve", "secret").await;
    let ops_user = Auth::Ticket {
        ticket,
        csrf: Some(csrf),
    };
    let run_as = |auth: Auth, action: &'static str| {
        let pve = &pve;
        async move {
            let path = format!("/nodes/pve2/qemu/101/status/{action}");
            let upid = pve.call(Method::POST, &path, &auth, &[]).await.upid();
            let exit = pve.wait_task(&upid).await["exitstatus"].clone();
            (upid, exit)
        }
    };
    let (start_root, _) = run_as(PveSim::token(), "start").await;
    let (pause_user, _) = run_as(ops_user.clone(), "suspend").await;
    let (resume_token, _) = run_as(ops_token.clone(), "resume").await;
    let (start_again, exit) = run_as(ops_token.clone(), "start").await;
    assert_eq!(exit, "VM 101 already running");
    let shutdown = pve
        .call(
            Method::POST,
            "/nodes/pve2/qemu/101/status/shutdown",
            &ops_token,
            &[],
        )
        .await
        .upid();
    // A task on another node is not in pve2's list.
    let other = pve
        .run_task("/nodes/pve1/qemu/100/status/suspend", &[])
        .await;
    assert_eq!(other, "OK");

    let list = |auth: Auth, query: Vec<(&'static str, &'static str)>| {
        let pve = &pve;
        async move {
            let a = pve
                .call(Method::GET, "/nodes/pve2/tasks", &auth, &query)
                .await;
            let upids: Vec<String> = a
                .ok()
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["upid"].as_str().unwrap().to_owned())
                .collect();
            (upids, a.body["total"].as_u64().unwrap(), a.ok().clone())
        }
    };
    let root = PveSim::token;
    let archive = vec![
        start_again.clone(),
        resume_token.clone(),
        pause_user.clone(),
        start_root.clone(),
    ];

    // Default source: the archive, newest first.
    let (upids, total, rows) = list(root(), vec![]).await;
    assert_eq!((upids, total), (archive.clone(), 4));
    let resumed = &rows[1];
    assert_eq!(resumed["type"], "qmresume");
    assert_eq!(resumed["id"], "101");
    assert_eq!(resumed["node"], "pve2");
    assert_eq!(resumed["user"], "ops@pve");
    assert_eq!(resumed["tokenid"], "k8s");
    assert_eq!(resumed["status"], "OK");
    assert!(resumed["pid"].is_u64() && resumed["pstart"].is_u64());
    assert!(resumed["endtime"].as_i64().unwrap() >= resumed["starttime"].as_i64().unwrap());
    assert!(resumed.get("saved").is_none());
    assert_eq!(rows[0]["status"], "VM 101 already running");

    // Active: the running shutdown, its user as the UPID has it.
    let (upids, total, rows) = list(root(), vec![("source", "active")]).await;
    assert_eq!((upids, total), (vec![shutdown.clone()], 1));
    let running = &rows[0];
    assert_eq!(running["status"], "RUNNING");
    assert_eq!(running["user"], "ops@pve!k8s");
    assert_eq!(running["saved"], "0");
    assert!(running.get("endtime").is_none() && running.get("tokenid").is_none());
    assert_eq!(running["type"], "qmshutdown");

    // All: active first, then the archive.
    let mut everything = vec![shutdown.clone()];
    everything.extend(archive.clone());
    let (upids, total, _) = list(root(), vec![("source", "all")]).await;
    assert_eq!((upids, total), (everything.clone(), 5));

    // Filters.
    let (upids, _, _) = list(root(), vec![("typefilter", "qmstart")]).await;
    assert_eq!(upids, vec![start_again.clone(), start_root.clone()]);
    let (upids, _, _) = list(root(), vec![("vmid", "101"), ("source", "all")]).await;
    assert_eq!(upids, everything);
    let (upids, total, _) = list(root(), vec![("vmid", "100")]).await;
    assert_eq!((upids.len(), total), (0, 0));
    let (upids, _, _) = list(root(), vec![("errors", "1"), ("source", "all")]).await;
    assert_eq!(
        upids,
        vec![shutdown.clone(), start_again.clone()],
        "running counts as unknown"
    );
    let (upids, _, _) = list(root(), vec![("statusfilter", "ok")]).await;
    assert_eq!(upids, archive[1..].to_vec());
    let (upids, _, _) = list(root(), vec![("statusfilter", "ERROR")]).await;
    assert_eq!(upids, vec![start_again.clone()]);
    let (upids, _, _) = list(
        root(),
        vec![("statusfilter", "ok,unknown"), ("source", "all")],
    )
    .await;
    assert_eq!(
        upids,
        vec![
            shutdown.clone(),
            resume_token.clone(),
            pause_user.clone(),
            start_root.clone()
        ]
    );
    // `errors` wins over `statusfilter`.
    let (upids, _, _) = list(root(), vec![("statusfilter", "ok"), ("errors", "1")]).await;
    assert_eq!(upids, vec![start_again.clone()]);
    let (upids, _, _) = list(root(), vec![("userfilter", "OPS")]).await;
    assert_eq!(upids, archive[..3].to_vec());
    // Archived entries match on the user alone, active ones on the UPID's user with the token.
    let (upids, _, _) = list(root(), vec![("userfilter", "k8s")]).await;
    assert!(upids.is_empty());
    let (upids, _, _) = list(root(), vec![("userfilter", "k8s"), ("source", "active")]).await;
    assert_eq!(upids, vec![shutdown.clone()]);
    let (upids, _, _) = list(root(), vec![("since", "4000000000")]).await;
    assert!(upids.is_empty());
    let (upids, _, _) = list(root(), vec![("until", "0")]).await;
    assert!(upids.is_empty());

    // Paging: `total` counts every match.
    let (upids, total, _) = list(root(), vec![("start", "1"), ("limit", "2")]).await;
    assert_eq!((upids, total), (archive[1..3].to_vec(), 4));
    let (upids, total, _) = list(root(), vec![("limit", "0")]).await;
    assert_eq!((upids.len(), total), (0, 4));

    // Visibility without Sys.Audit: a token sees its own tasks; the user its own and its token's archived ones.
    let (upids, _, _) = list(ops_token.clone(), vec![("source", "all")]).await;
    assert_eq!(
        upids,
        vec![shutdown.clone(), start_again.clone(), resume_token.clone()]
    );
    let (upids, _, _) = list(ops_user.clone(), vec![("source", "all")]).await;
    assert_eq!(upids, archive[..3].to_vec());

    // Parameter verification.
    for (query, key) in [
        (vec![("source", "recent")], "source"),
        (vec![("statusfilter", "ok,bad")], "statusfilter"),
        (vec![("vmid", "99")], "vmid"),
        (vec![("limit", "-1")], "limit"),
        (vec![("errors", "yes")], "errors"),
        (vec![("state", "running")], "state"),
    ] {
        let a = pve
            .call(Method::GET, "/nodes/pve2/tasks", &root(), &query)
            .await;
        a.fails(400, "Parameter verification failed.");
        assert!(a.body["errors"][key].is_string(), "{query:?}: {a:?}");
    }
    pve.get("/nodes/pve9/tasks")
        .await
        .fails(500, "hostname lookup 'pve9' failed");

    // The owning user may stop its token's running task.
    let path = format!("/nodes/pve2/tasks/{}", urlenc(&shutdown));
    pve.call(Method::DELETE, &path, &ops_user, &[]).await.ok();
    assert_eq!(
        pve.wait_task(&shutdown).await["exitstatus"],
        "unexpected status"
    );
    let (upids, _, _) = list(root(), vec![("source", "active")]).await;
    assert!(upids.is_empty());
}
