//! Proxmox storage → ONTAP volume when the storage's `server` is a host name, when two OntapClusters answer on
//! the same LIF address (refused, both named), and when the ProxmoxCluster pins the storage explicitly.

mod controller_support;

use controller_support::*;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use pve_ontap_controller::api::{OntapCluster, Phase, ProxmoxCluster, VmDiskClone};
use serde_json::json;

/// The default world with storage ONTAP01 mounted by name: `server: filer1.example.test`.
fn by_name(declared: bool) -> pve_ontap_sim::Scenario {
    let mut sc = pve_ontap_sim::Scenario::default_scenario();
    let st = sc
        .pve
        .storages
        .iter_mut()
        .find(|s| s.storage == "ONTAP01")
        .expect("ONTAP01");
    st.server = Some("filer1.example.test".into());
    if declared {
        sc.hosts
            .insert("filer1.example.test".into(), "192.0.2.10".into());
    }
    sc
}

fn scsi0(h: &Harness, name: &str) -> serde_json::Value {
    VmDiskCloneBuilder::new(&h.pve_name, name)
        .disks(&["scsi0"])
        .attach("None")
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_server_resolves_through_the_resolver() {
    let h = Harness::start_with(
        "res-name",
        Options {
            scenario: Some(by_name(true)),
            ..Default::default()
        },
    )
    .await;
    let st = h
        .create_ready::<VmDiskClone>(scsi0(&h, "named"))
        .await
        .status
        .unwrap();
    assert_eq!(st.disks[0].ontap_volume.as_deref(), Some("pve_images"));
    assert!(has_file(
        &h.inventory().await,
        "pve_images",
        &st.disks[0].clone_path
    ));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_name_is_a_clear_error() {
    let h = Harness::start_with(
        "res-unknown",
        Options {
            scenario: Some(by_name(false)),
            ..Default::default()
        },
    )
    .await;
    let before = h.inventory().await;
    let obj = h
        .create_phase::<VmDiskClone>(scsi0(&h, "unknown"), Phase::Failed)
        .await;
    let msg = obj.status.unwrap().message.unwrap_or_default();
    assert!(msg.contains("ONTAP01"), "{msg}");
    let after = h.inventory().await;
    assert_eq!(
        fingerprint(&before),
        fingerprint(&after),
        "nothing changed on the backends"
    );
    h.finish().await;
}

/// Two OntapClusters on the same LIF address (here: the same simulator twice) both serve ONTAP01: no volume is
/// picked, the error names both; pinning the storage resolves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_lif_addresses_are_refused_until_the_storage_is_pinned() {
    let h = Harness::start("res-twin").await;
    let ocs: Api<OntapCluster> = Api::all(h.admin.clone());
    let mut twin = ocs.get(&h.ontap_name).await.expect("OntapCluster");
    let twin_name = format!("{}-twin", h.ontap_name);
    twin.metadata = kube::api::ObjectMeta {
        name: Some(twin_name.clone()),
        ..Default::default()
    };
    twin.status = None;
    ocs.create(&PostParams::default(), &twin)
        .await
        .expect("twin OntapCluster");
    // Both clusters must be usable before the storage is resolved, or only one of them would answer.
    let mut ready = false;
    for _ in 0..300 {
        let oc = ocs.get(&twin_name).await.expect("twin");
        ready = oc.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        if ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the twin OntapCluster became Ready");

    let before = h.inventory().await;
    let obj = h
        .create_phase::<VmDiskClone>(scsi0(&h, "twin"), Phase::Failed)
        .await;
    let msg = obj.status.unwrap().message.unwrap_or_default();
    assert!(
        msg.contains(&h.ontap_name) && msg.contains(&twin_name),
        "{msg}"
    );
    assert!(msg.contains("storageMappings"), "{msg}");
    assert_eq!(
        fingerprint(&before),
        fingerprint(&h.inventory().await),
        "nothing changed on the backends"
    );

    Api::<ProxmoxCluster>::all(h.admin.clone())
        .patch(
            &h.pve_name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "storageMappings": [{
                "storage": "ONTAP01",
                "ontapClusterRef": { "name": twin_name },
                "svm": "svm1",
                "volume": "pve_images",
            }]}})),
        )
        .await
        .expect("pin ONTAP01");
    // A fixed spec of the failed object is tried again.
    h.delete_and_wait::<VmDiskClone>("twin").await;
    let st = h
        .create_ready::<VmDiskClone>(scsi0(&h, "pinned"))
        .await
        .status
        .unwrap();
    assert_eq!(
        st.disks[0].ontap_cluster.as_deref(),
        Some(twin_name.as_str())
    );
    assert_eq!(st.disks[0].ontap_volume.as_deref(), Some("pve_images"));
    h.delete_and_wait::<VmDiskClone>("pinned").await;
    ocs.delete(&twin_name, &Default::default()).await.ok();
    h.finish().await;
}
