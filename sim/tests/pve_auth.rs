//! Conformance of authentication and authorisation in the simulated Proxmox VE API: login tickets, cookies and
//! CSRF tokens, API tokens, privileges of limited users and tokens, and volume ownership.

mod pve_common;

use pve_common::{urlenc, Auth, PveSim, TOKEN};
use pve_ontap_sim::pve::scenario::{AclEntry, TokenScenario, UserScenario};
use pve_ontap_sim::Scenario;
use reqwest::Method;
use serde_json::json;

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
