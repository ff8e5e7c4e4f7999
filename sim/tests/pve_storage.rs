//! Conformance of storage in the simulated Proxmox VE API: the cluster-wide storage configuration (add, update,
//! remove) and a node's storage status and content.

mod pve_common;

use pve_common::{urlenc, PveSim};
use serde_json::{json, Value};

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
