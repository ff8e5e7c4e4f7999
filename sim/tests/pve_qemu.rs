//! Conformance of VM configuration in the simulated Proxmox VE API: VM lookup, config shape, digest and schema
//! checks, pending changes, attaching existing volumes, and unused volumes with their delete semantics.

mod pve_common;

use pve_common::{PveSim, TOKEN};
use serde_json::json;

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
