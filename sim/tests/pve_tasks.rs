//! Conformance of tasks in the simulated Proxmox VE API: UPIDs, task status and log, failures inside tasks
//! (real and injected), and the node task list with its filters, paging and visibility.

mod pve_common;

use pve_common::{urlenc, Auth, PveSim};
use pve_ontap_sim::pve::scenario::{AclEntry, TokenScenario, UserScenario};
use pve_ontap_sim::Scenario;
use reqwest::Method;
use serde_json::json;

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
