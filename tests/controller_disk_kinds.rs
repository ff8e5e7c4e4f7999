//! Every kind of disk a Proxmox VM has, copied in one clone (EFI vars, TPM state, SATA, IDE next to SCSI), and
//! many FlexCloneMounts of one snapshot at once — against the real apiserver and the simulator over HTTPS.

mod controller_support;

use std::collections::BTreeSet;

use controller_support::*;
use pve_ontap_controller::api::{FlexCloneMount, VmDiskClone};

/// The default world with VM 100 also holding efidisk0, tpmstate0, sata0 and ide0 on storage ONTAP01.
fn every_disk_kind() -> pve_ontap_sim::Scenario {
    let files = "            - { path: images/100/vm-100-disk-1.raw, size: 8G }\n";
    let config = "        scsi1: ONTAP01:100/vm-100-disk-1.raw,iothread=1,size=8G\n";
    let yaml = pve_ontap_sim::scenario::DEFAULT_SCENARIO_YAML;
    assert!(
        yaml.contains(files) && yaml.contains(config),
        "default scenario layout"
    );
    let yaml = yaml
        .replace(
            files,
            &format!(
                "{files}            - {{ path: images/100/vm-100-disk-2.raw, size: 528K }}\n            \
                 - {{ path: images/100/vm-100-disk-3.raw, size: 4M }}\n            \
                 - {{ path: images/100/vm-100-disk-4.qcow2, size: 2G }}\n            \
                 - {{ path: images/100/vm-100-disk-5.raw, size: 1G }}\n"
            ),
        )
        .replace(
            config,
            &format!(
                "{config}        efidisk0: ONTAP01:100/vm-100-disk-2.raw,efitype=4m,pre-enrolled-keys=1,size=528K\n        \
                 tpmstate0: ONTAP01:100/vm-100-disk-3.raw,size=4M,version=v2.0\n        \
                 sata0: ONTAP01:100/vm-100-disk-4.qcow2,size=2G\n        \
                 ide0: ONTAP01:100/vm-100-disk-5.raw,size=1G\n"
            ),
        );
    pve_ontap_sim::Scenario::parse(&yaml, "every disk kind").expect("scenario")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn efidisk_tpmstate_sata_and_ide_are_copied_into_a_new_vm() {
    let h = Harness::start_with(
        "kinds",
        Options {
            scenario: Some(every_disk_kind()),
            ..Default::default()
        },
    )
    .await;
    let before = h.inventory().await;
    let st = h
        .create_ready::<VmDiskClone>(
            VmDiskCloneBuilder::new(&h.pve_name, "all")
                .consistency("Suspend")
                .attach("NewVm")
                .new_vm(300, "web01-copy")
                .build(),
        )
        .await
        .status
        .unwrap();
    let drives: BTreeSet<&str> = st.disks.iter().map(|d| d.drive.as_str()).collect();
    assert_eq!(
        drives,
        BTreeSet::from(["efidisk0", "ide0", "sata0", "scsi0", "scsi1", "tpmstate0"]),
        "every disk on ONTAP copied, the CD-ROM skipped"
    );
    let inv = h.inventory().await;
    let new_vm = vm(&inv, 300).expect("VM 300");
    let config = &new_vm["config"];
    for d in &st.disks {
        assert!(has_file(&inv, "pve_images", &d.clone_path), "{d:?}");
        let value = config[&d.drive].as_str().unwrap_or_default();
        let file = d.clone_path.rsplit('/').next().unwrap();
        assert!(
            value.starts_with(&format!("ONTAP01:300/{file}")),
            "{} of VM 300 is the copy: {value}",
            d.drive
        );
    }
    // The drive options that make them what they are travel with the copies.
    let efi = config["efidisk0"].as_str().unwrap();
    assert!(
        efi.contains("efitype=4m") && efi.contains("pre-enrolled-keys=1"),
        "{efi}"
    );
    let tpm = config["tpmstate0"].as_str().unwrap();
    assert!(tpm.contains("version=v2.0"), "{tpm}");
    let src = vm(&inv, 100).unwrap();
    assert_eq!(src["status"], "running", "VM 100 resumed: {src}");

    h.delete_and_wait::<VmDiskClone>("all").await;
    let after = h.inventory().await;
    assert!(vm(&after, 300).is_none(), "the new VM is gone");
    assert_eq!(
        volume_files(&after, "pve_images"),
        volume_files(&before, "pve_images"),
        "every copy removed, nothing else touched"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_mounts_of_one_snapshot_at_once() {
    let h = Harness::start("many-fcm").await;
    h.take_snapshot(VolumeSnapshotBuilder::new(&h.pve_name, "base").build())
        .await;
    let before = h.inventory().await;
    const N: usize = 6;
    let names: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    futures::future::join_all(names.iter().map(|n| {
        h.create::<FlexCloneMount>(FlexCloneMountBuilder::of_snapshot("base", n).build())
    }))
    .await;
    let mut storages = BTreeSet::new();
    let mut volumes = BTreeSet::new();
    let mut junctions = BTreeSet::new();
    for n in &names {
        let st = h.wait_ready::<FlexCloneMount>(n).await.status.unwrap();
        storages.insert(st.storage_id.unwrap());
        volumes.insert(st.clone_volume_name.unwrap());
        junctions.insert(st.junction_path.unwrap());
    }
    assert_eq!(
        (storages.len(), volumes.len(), junctions.len()),
        (N, N, N),
        "unique names"
    );
    let inv = h.inventory().await;
    for id in &storages {
        assert!(storage(&inv, id).is_some(), "storage {id} exists");
    }
    futures::future::join_all(names.iter().map(|n| h.delete_and_wait::<FlexCloneMount>(n))).await;
    let after = h.inventory().await;
    for id in &storages {
        assert!(storage(&after, id).is_none(), "storage {id} removed");
    }
    let left: Vec<&str> = after["ontap"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .filter(|n| volumes.contains(*n))
        .collect();
    assert!(left.is_empty(), "clone volumes removed: {left:?}");
    let (b, a) = (fingerprint(&before), fingerprint(&after));
    assert_eq!(
        (&b["storages"], &b["vms"]),
        (&a["storages"], &a["vms"]),
        "Proxmox as before"
    );
    h.finish().await;
}
