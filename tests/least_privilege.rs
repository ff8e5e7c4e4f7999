//! The least-privilege accounts the README documents, used as they are written there: the Proxmox role's
//! privileges and the ONTAP REST role's tuples are read from README.md, given to a Proxmox API token and an ONTAP
//! login in the simulator (whose permission checks follow the documented APIs), and every kind runs end to end
//! under them. A privilege the controller needs but the README forgets fails here, not at a customer.

mod controller_support;

use controller_support::*;
use pve_ontap_controller::api::{FlexCloneMount, Phase, VmDiskClone, VolumeSnapshot};

use controller_support::accounts::{
    readme_ontap_tuples, readme_pve_privileges, with_accounts, LP_ONTAP_LOGIN, LP_ONTAP_PASSWORD,
    LP_PVE_TOKEN_ID, LP_TOKEN_SECRET,
};

/// The default world with the README's accounts: `k8s@pve!controller` and ONTAP login `pveontap`.
fn world(privileges: &[String], tuples: &[(String, String)]) -> pve_ontap_sim::Scenario {
    with_accounts(
        pve_ontap_sim::Scenario::default_scenario(),
        privileges,
        tuples,
    )
}

async fn start(prefix: &str, privileges: &[String], tuples: &[(String, String)]) -> Harness {
    Harness::start_with(
        prefix,
        Options {
            scenario: Some(world(privileges, tuples)),
            pve_token: Some(format!("{LP_PVE_TOKEN_ID}={LP_TOKEN_SECRET}")),
            ontap_login: Some((LP_ONTAP_LOGIN.into(), LP_ONTAP_PASSWORD.into())),
            ..Default::default()
        },
    )
    .await
}

/// Every kind, in the modes that need the most rights, under exactly the README's accounts; afterwards the
/// world is as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_runs_under_the_documented_roles() {
    let privileges = readme_pve_privileges();
    let tuples = readme_ontap_tuples();
    assert!(
        privileges.len() >= 5 && tuples.len() >= 5,
        "{privileges:?} {tuples:?}"
    );
    let h = start("least-priv", &privileges, &tuples).await;
    let before = fingerprint(&h.inventory().await);

    let disk_clone = |name: &str| VmDiskCloneBuilder::new(&h.pve_name, name);
    for clone in [
        disk_clone("frozen").consistency("FsFreeze"),
        disk_clone("paused-copy")
            .consistency("Suspend")
            .attach("NewVm")
            .new_vm(150, "copy"),
        disk_clone("stopped")
            .vmid(101)
            .consistency("Shutdown")
            .attach("None"),
    ] {
        h.create::<VmDiskClone>(clone.build()).await;
    }
    h.create::<VolumeSnapshot>(
        VolumeSnapshotBuilder::new(&h.pve_name, "snap")
            .consistency("Suspend")
            .build(),
    )
    .await;
    for name in ["frozen", "paused-copy", "stopped"] {
        h.wait_ready::<VmDiskClone>(name).await;
    }
    h.wait_ready::<VolumeSnapshot>("snap").await;
    h.create_ready::<FlexCloneMount>(FlexCloneMountBuilder::of_snapshot("snap", "mnt").build())
        .await;

    h.delete_and_wait::<FlexCloneMount>("mnt").await;
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    for name in ["frozen", "paused-copy", "stopped"] {
        h.delete_and_wait::<VmDiskClone>(name).await;
    }
    let inv = h.inventory().await;
    assert_eq!(
        fingerprint(&inv),
        before,
        "everything made under the documented roles was removed under them"
    );
    assert!(
        inv["ontap"]["recovery_queue"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the FlexClone was purged from the recovery queue: {}",
        inv["ontap"]["recovery_queue"]
    );
    h.finish().await;
}

/// The roles are not wider than needed for the checks above to mean something: without one documented
/// privilege the operation that needs it fails with a message naming it, and nothing is left half-made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_privilege_fails_clearly() {
    let privileges: Vec<String> = readme_pve_privileges()
        .into_iter()
        .filter(|p| p != "Datastore.Allocate")
        .collect();
    let h = start("least-priv-minus", &privileges, &readme_ontap_tuples()).await;
    h.create_ready::<VolumeSnapshot>(VolumeSnapshotBuilder::new(&h.pve_name, "snap").build())
        .await;
    let before = fingerprint(&h.inventory().await);
    let obj = h
        .create_phase::<FlexCloneMount>(
            FlexCloneMountBuilder::of_snapshot("snap", "mnt").build(),
            Phase::Failed,
        )
        .await;
    let ready = condition(&conditions_of(&obj), "Ready").cloned().unwrap();
    assert_eq!(ready.reason, "ProxmoxForbidden", "{ready:?}");
    assert!(
        ready.message.contains("Datastore.Allocate"),
        "{}",
        ready.message
    );
    h.delete_and_wait::<FlexCloneMount>("mnt").await;
    assert_eq!(
        fingerprint(&h.inventory().await),
        before,
        "the FlexClone made before the refusal was removed with the object"
    );
    h.delete_and_wait::<VolumeSnapshot>("snap").await;
    h.finish().await;
}
