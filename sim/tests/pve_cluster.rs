//! Conformance of the cluster-wide discovery endpoints of the simulated Proxmox VE API: version, nodes (online and
//! offline), cluster resources, next free VM id, a node's storage list, and unknown paths and methods.

mod pve_common;

use pve_common::PveSim;
use pve_ontap_sim::Scenario;
use reqwest::Method;

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
